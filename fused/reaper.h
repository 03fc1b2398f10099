/* loopfsd: the reaper, which ends what the daemon started if the daemon
 * is killed.
 *
 * nbdkit replaces the parent-death signal it is started with by its own
 * SIGTERM, on which it shuts down only once its clients hang up; the
 * kernel's NBD client never does, so after a SIGKILL of the daemon an
 * nbdkit serving /dev/nbdX would live on.  The reaper is a small child
 * forked at start-up that waits on a pipe from the daemon: when the
 * daemon dies the pipe closes, and the reaper kills every nbdkit it was
 * told about.
 */
#ifndef LOOPFSD_REAPER_H
#define LOOPFSD_REAPER_H

#include <sys/types.h>

/* Fork the reaper.  Returns 0 or a negative errno. */
int reaper_start (void);

/* Tell the reaper about nbdkit PID. */
void reaper_watch (pid_t pid);

#endif /* LOOPFSD_REAPER_H */
