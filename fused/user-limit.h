/* loopfsd: the per-user limit on loop devices across all instances.
 *
 * The userspace counterpart of the loopfs patch's
 * /proc/sys/user/max_loop_devices: one user (the mounter, counted by its
 * uid on the host) may hold at most N loop devices however many
 * instances it mounts.  N is read from USER_LIMIT_FILE (default 255).
 *
 * Daemons share the count through the filesystem: every device holds a
 * file in the user's accounting directory, locked with flock(2) for as
 * long as the device exists.  A file whose lock can be taken belongs to
 * a daemon that died (even by SIGKILL: the kernel drops its locks), so
 * it is removed instead of counted, and no count ever goes stale.
 */
#ifndef LOOPFSD_USER_LIMIT_H
#define LOOPFSD_USER_LIMIT_H

#include <sys/types.h>

#include "loopfs-interface.h"

struct user_limit {
  int dirfd;                /* the user's accounting directory */
  char *dir;
  unsigned long next;       /* sequence number of the next file */
};

/* One device's share of the limit. */
struct user_slot {
  int fd;                   /* holds the lock; -1 when not taken */
  char name[64];
};

/* Read the limit from USER_LIMIT_FILE into *LIMIT (the default when the
 * file does not exist) with user_limit_file_read.  Returns 0, or -EINVAL
 * after a message when the file does not hold a number from 0 to
 * USER_LIMIT_MAX, or another -errno when it cannot be read. */
int user_limit_read (unsigned *limit);

/* Open (creating it if needed) the accounting directory of the user
 * running the daemon.  Returns 0 or a negative errno after a message. */
int user_limit_open (struct user_limit *ul);

/* Count the user's live devices and take a slot for one more.  Returns
 * 0, -ENOSPC at the limit, or another negative errno. */
int user_limit_take (struct user_limit *ul, struct user_slot *slot);

/* Give SLOT back (no-op when it was never taken). */
void user_limit_give_back (struct user_limit *ul, struct user_slot *slot);

/* Close the accounting directory. */
void user_limit_close (struct user_limit *ul);

#endif /* LOOPFSD_USER_LIMIT_H */
