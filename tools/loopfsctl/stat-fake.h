/* loopfsctl exec: the sandbox's stat(2) of loop nodes.
 *
 * Stock losetup (util-linux 2.38 is_loopdev) accepts a device only if
 * stat says S_ISBLK with major 7, but loopfs nodes are FUSE regular
 * files.  COMMAND therefore runs under a seccomp filter that hands
 * every stat-family call (stat, lstat, fstat, newfstatat, statx) to
 * loopfsctl as a user notification.  loopfsctl repeats the lookup the
 * caller asked for as the caller would make it (caller-lookup.h: its
 * root, directory, credentials and /proc/self) and, only when it
 * lands on a node of the sandbox's instance, answers with that node's
 * real attributes made to look like a kernel loop device's (S_IFBLK
 * 7:N for loopN, loop-numbers.h; S_IFBLK 259:X for a partition loopNpM,
 * partition-info.h; S_IFCHR 10:237 for loop-control; size 0); every other
 * call goes on to the kernel unchanged (SECCOMP_USER_NOTIF_FLAG_CONTINUE),
 * so a lookup loopfsctl gets wrong can only ever fall back to the truth.
 *
 * The same filter refuses mknod and mknodat of block devices and of
 * the character device 10:237 (EPERM), so that root in the sandbox
 * cannot make a node for a host loop device or the host's
 * loop-control.
 */
#ifndef LOOPFSCTL_STAT_FAKE_H
#define LOOPFSCTL_STAT_FAKE_H

#include <stdbool.h>

struct stat_fake;

/* In COMMAND's process, between fork and exec: install the filter and
 * send its listener over unix socket SOCKET (closed afterwards).
 * Returns 0 or -errno after a message. */
int stat_fake_install (int socket);

/* In loopfsctl: start a thread that receives the listener from SOCKET
 * (taking ownership of it) and answers the notifications for the
 * instance mounted at INSTANCE.  Returns 0 or -errno after a message. */
int stat_fake_start (int socket, const char *instance,
                     struct stat_fake **out);

/* For a listener received by other means (loopfs-oci's supervisor gets
 * it from the OCI runtime): start a thread that answers the
 * notifications of LISTENER (taking ownership of it) for the instance
 * mounted at INSTANCE.  Returns 0 or -errno after a message. */
int stat_fake_serve (int listener, const char *instance,
                     struct stat_fake **out);

/* Has SF's thread finished (every process under its listener is
 * gone)?  Then stat_fake_stop frees it at once. */
bool stat_fake_finished (struct stat_fake *sf);

/* Stop answering (once COMMAND and its descendants are gone) and free
 * SF; NULL is allowed. */
void stat_fake_stop (struct stat_fake *sf);

#endif /* LOOPFSCTL_STAT_FAKE_H */
