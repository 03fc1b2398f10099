/* loopfsctl exec: the sandbox's stat(2) of loop nodes.
 *
 * Stock losetup (util-linux 2.38 is_loopdev) accepts a device only if
 * stat says S_ISBLK with major 7, but loopfs nodes are FUSE regular
 * files.  COMMAND therefore runs under a seccomp filter
 * (seccomp-notify.h) that hands every stat-family call (stat, lstat,
 * fstat, newfstatat, statx) to loopfsctl as a user notification.
 * loopfsctl repeats the lookup the caller asked for as the caller would
 * make it (caller-lookup.h: its root, directory, credentials and
 * /proc/self) and, only when it lands on a node of the sandbox's
 * instance, answers with that node's real attributes made to look like
 * a kernel loop device's (S_IFBLK 7:N for loopN, loop-numbers.h;
 * S_IFBLK 259:X for a partition loopNpM, partition-info.h; S_IFCHR
 * 10:237 for loop-control; size 0); every other call goes on to the
 * kernel unchanged (SECCOMP_USER_NOTIF_FLAG_CONTINUE), so a lookup loopfsctl
 * gets wrong can only ever fall back to the truth.
 *
 * The same filter refuses mknod and mknodat of block devices and of
 * the character device 10:237 (EPERM), so that root in the sandbox
 * cannot make a node for a host loop device or the host's
 * loop-control.
 */
#ifndef LOOPFSCTL_STAT_FAKE_H
#define LOOPFSCTL_STAT_FAKE_H

#include "notify-call.h"

/* Answer the stat-family notification NC: NOTIFY_DONE with the faked
 * result written into the caller's buffer, NOTIFY_CONTINUE to let the
 * kernel run the call, or -errno for the call to fail with. */
int stat_fake_answer (const struct notify_call *nc);

#endif /* LOOPFSCTL_STAT_FAKE_H */
