/* loopfsd: what a backing file is.
 *
 * Inspecting a caller's backing descriptor may block: it can live on
 * another FUSE filesystem (even fuse2fs mounted on one of our own
 * devices), so fstat or getxattr on it wait for that filesystem's
 * daemon.  The inspection therefore runs on a thread of its own
 * (offload.h) and reports back on the loop.
 *
 * The daemon keeps a backing file only as an O_PATH descriptor: nbdkit
 * opens the file through it (/proc/self/fd/4, with its own
 * credentials), and closing an O_PATH descriptor sends no flush.  Every
 * other close does, and waits for it: at the daemon's exit, even after
 * SIGKILL, the kernel closes every descriptor in turn, and a flush to a
 * filesystem that itself waits for this daemon (another FUSE filesystem
 * serving a file of one of our devices) would never end, leaving the
 * daemon, its mount and every caller stuck.
 */
#ifndef LOOPFSD_BACKING_H
#define LOOPFSD_BACKING_H

#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/types.h>
#include <uv.h>

#include "loopdev.h"
#include "offload.h"

/* The daemon's own ioctl on a node, from the thread probing a backing
 * file: "the open file this arrives on is the one with cookie ARG"
 * (handles.c).  A number the loop driver does not know, so any other
 * caller (no cookie of ours) gets the loop driver's answer for it. */
#define LOOPFS_IOC_HOLD _IO ('L', 0xE7)

struct backing_probe {
  int fd;                        /* in: the descriptor to inspect, owned:
                                    a caller's open file (a new backing
                                    file), or a device's O_PATH one (its
                                    size again); out: O_PATH, once a
                                    caller's file was probed */
  bool want_data_fd;             /* in: keep DATA_FD when eligible */
  int data_fd;                   /* out: a duplicate of a caller's open
                                    file that the backend may read and
                                    write itself (direct-io.h), or -1 */
  int err;                       /* out: 0 or a negative errno */
  struct loop_backing backing;   /* out */
  uid_t uid;                     /* out: owner of the file */
  gid_t gid;
  char node[32];                 /* out: loopfs node name ("loopN",
                                    "loop-control") or "" */
  pid_t nbdkit_pid;              /* out: the nbdkit pid such a node
                                    reports (bound devices), or 0 */
  uint64_t hold_cookie;          /* in: nonzero to have a loopfs node's
                                    open file held (handles.c) */
  struct offload job;
  void (*done) (struct backing_probe *probe);
};

/* Inspect PROBE->fd off the loop, then call PROBE->done on the loop.
 * Returns 0 or a negative errno (then DONE is not called). */
int backing_probe_start (struct backing_probe *probe);

/* Close backing descriptor FD off the loop.  close(2) of a file
 * on a FUSE filesystem waits for that filesystem's FLUSH, and the
 * filesystem may be this very daemon (a node offered as backing file)
 * or need this daemon to answer (fuse2fs on one of our devices), so the
 * loop thread must never close a caller's descriptor itself. */
void backing_close (int fd);

/* The same, then call DONE (OPAQUE) on the loop once the descriptor is
 * closed: the kernel drops a refused backing file before the ioctl
 * returns, so the RELEASE of a loopfs node offered as backing must be
 * handled before the ioctl is answered. */
void backing_close_then (int fd, void (*done) (void *opaque), void *opaque);

#endif /* LOOPFSD_BACKING_H */
