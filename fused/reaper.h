/* loopfsd: the reaper, which ends what the daemon started if the daemon
 * is killed.
 *
 * nbdkit replaces the parent-death signal it is started with by its own
 * SIGTERM, on which it shuts down only once its clients hang up; the
 * kernel's NBD client never does, so after a SIGKILL of the daemon an
 * nbdkit serving /dev/nbdX would live on, and so would the /dev/nbdX.
 * The reaper is a small child forked at start-up that waits on a pipe
 * from the daemon, which writes into it the pid of every nbdkit it
 * starts and, right before a normal exit (every device detached), a
 * clean-exit record.  When the pipe closes without that record the
 * daemon died: the reaper disconnects the kernel NBD devices whose
 * backend identifiers name the daemon (their I/O fails with EIO at
 * once), then kills every nbdkit it was told about.  After a clean
 * exit it touches no nbd device: one may still be held open by a
 * reader after the daemon's own disconnect, and must be left alone.
 */
#ifndef LOOPFSD_REAPER_H
#define LOOPFSD_REAPER_H

#include <sys/types.h>

/* Fork the reaper.  NBD_INSTANCE_ID is the instance id in the backend
 * identifiers of the daemon's kernel NBD devices, or NULL when the
 * daemon does not use kernel NBD (the reaper then never uses netlink).
 * Returns 0 or a negative errno. */
int reaper_start (const char *nbd_instance_id);

/* Tell the reaper about nbdkit PID. */
void reaper_watch (pid_t pid);

/* Tell the reaper that the daemon exits normally, having detached every
 * device and stopped every nbdkit itself. */
void reaper_clean_exit (void);

#endif /* LOOPFSD_REAPER_H */
