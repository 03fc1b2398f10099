/* Starting and stopping a private loopfsd: shared by loopfs-private
 * and "loopfsctl exec".
 *
 * Both enter a mount namespace of their own, run "loopfsd -f" there as
 * their own child, killed by the kernel when they die
 * (PR_SET_PDEATHSIG), and wait until the instance answers before using
 * it.  -f keeps the daemon in the foreground, so it stays the caller's
 * direct child (a daemonizing fork would cut the parent-death link).
 * At the end they unmount the instance, which makes loopfsd detach
 * everything and exit, and give it a bounded time to do so.
 *
 * Nothing here prints: the callers say what failed in their own words.
 */
#ifndef LOOPFS_LOOPFSD_START_H
#define LOOPFS_LOOPFSD_START_H

#include <signal.h>
#include <sys/types.h>

/* Enter a mount namespace of our own in which no mount event propagates
 * to or from the namespace we came from (unshare, then every mount made
 * private).  Returns 0 or -errno; on failure *FAILED names the call that
 * failed: "unshare" (which needs CAP_SYS_ADMIN) or "mount". */
int private_mount_namespace (const char **failed);

/* Choose the loopfsd to run: $LOOPFSD, else BUILD_RELATIVE (a path
 * relative to the directory of the running executable, the build
 * tree's layout) if it is executable there, else "loopfsd" for a $PATH
 * lookup.  Returns a string owned by the caller, or NULL. */
char *loopfsd_find (const char *build_relative);

/* Start "LOOPFSD -f [OPTIONS...] MOUNTPOINT" as a child of the calling
 * thread that gets SIGKILL when that thread ends, in a process group of
 * its own (a ^C on the terminal reaches only the caller, which tears
 * the instance down in order), with signal mask CHILD_MASK.  OPTIONS is
 * NULL or a NULL-terminated list.  Returns the pid or -errno. */
pid_t loopfsd_spawn (const char *loopfsd, const char *mountpoint,
                     char *const *options, const sigset_t *child_mask);

/* Wait up to TIMEOUT_MS until MOUNTPOINT/loop-control exists (the mount
 * is made and the daemon answers).  Returns 0; -ECHILD when daemon PID
 * exited first (it is reaped, its wait status in *STATUS); or
 * -ETIMEDOUT. */
int loopfsd_wait_mounted (pid_t pid, const char *mountpoint, long timeout_ms,
                          int *status);

/* Wait up to TIMEOUT_MS for loopfsd PID, our child, to exit after its
 * instance was unmounted; kill it with SIGKILL if it has not by then.
 * It is reaped either way, its wait status in *STATUS.  Returns 0, or
 * -ETIMEDOUT when it had to be killed. */
int loopfsd_stop (pid_t pid, long timeout_ms, int *status);

/* In a child between fork and exec: die with parent PARENT (SIGKILL
 * when it ends) and exit at once if it is already gone. */
void loopfsd_child_link_to_parent (pid_t parent);

#endif /* LOOPFS_LOOPFSD_START_H */
