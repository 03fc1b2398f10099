/* loopfs nbd-backend: making nbdkit processes without the daemon's
 * descriptors.
 *
 * A child forked by the daemon gets a copy of every descriptor the
 * daemon holds, among them the backing files of other devices, and
 * closes them before (or, for close-on-exec ones, at) exec.  Closing a
 * file sends its filesystem a flush (FUSE FLUSH, an NFS commit of a
 * file open for writing), and a filesystem that has stopped answering
 * never answers it: one hung backing file would stop every later
 * nbdkit start, and with it every bind and resize of healthy devices.
 *
 * So the daemon forks, before it holds any backing file, a small
 * spawner process that holds nothing but its control socket.  Asked to
 * start nbdkit, the spawner hands the request to a child it cloned
 * ahead (a spare) with CLONE_PARENT (so
 * nbdkit is the daemon's child: the daemon reaps it, and nbdkit's
 * parent-death signal and --exit-with-parent follow the daemon); the
 * child receives its three descriptors from the daemon over a socket
 * of its own and execs nbdkit (nbdkit-child.c).  The spawner never
 * touches a backing file, so nothing it does can wait on one.
 */
#ifndef LOOPFS_NBD_BACKEND_NBDKIT_SPAWNER_H
#define LOOPFS_NBD_BACKEND_NBDKIT_SPAWNER_H

#include <sys/types.h>

#include "nbdkit-child.h"

/* Fork the spawner now, while this process holds no descriptor whose
 * close could wait (a daemon calls this before it serves anything;
 * otherwise the first spawn starts it).  Returns 0 or a negative
 * errno. */
int nbdkit_spawner_start (void);

/* Start a child as PLAN says (its listen_fd, backing_fd and devnull_fd
 * are sent to the child, and stay ours).  On success *PID and *PIDFD
 * are the child's, and *REPORT_FD is, when PLAN asks for an open
 * check, a non-blocking descriptor on which the child's answer (an
 * int32_t: 0 or an errno) arrives, or end of file if it died first;
 * else -1.  Returns 0 or a negative errno. */
int nbdkit_spawner_spawn (const struct child_plan *plan, pid_t *pid,
                          int *pidfd, int *report_fd);

/* End the spawner and reap it. */
void nbdkit_spawner_stop (void);

#endif /* LOOPFS_NBD_BACKEND_NBDKIT_SPAWNER_H */
