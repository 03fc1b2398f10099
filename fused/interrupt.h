/* loopfsd: answering a request early when its caller is killed.
 *
 * FUSE waits for the daemon's answer to a request it has handed over
 * even when the caller is killed: the caller stays in D state until the
 * answer comes.  A data request whose backend never answers (a backing
 * filesystem that hangs, a cycle of devices through another FUSE
 * filesystem) would thus leave its caller unkillable.  The kernel tells
 * the daemon of the signal with a FUSE_INTERRUPT; when the caller is
 * dying (SIGKILL pending) the request is answered EINTR at once, and
 * the backend's late answer is dropped.  A caller interrupted by any
 * other signal is left waiting, as a block device's reader is (its
 * I/O is never interrupted), but checked again every second, since a
 * SIGKILL after that first signal brings no new FUSE_INTERRUPT.
 */
#ifndef LOOPFSD_INTERRUPT_H
#define LOOPFSD_INTERRUPT_H

#include <stdbool.h>

#include "daemon.h"

/* A request that may be answered early; embed it in the request. */
struct interruptible {
  fuse_req_t req;
  struct daemon *d;
  bool as_ioctl;                /* answer as an ioctl result */
  bool answered;                /* answered already, or being answered */
  bool watched;                 /* in D's list of interrupted requests */
  struct interruptible *prev, *next;
};

/* Watch REQ of D for the death of its caller from now on. */
void interruptible_start (struct interruptible *it, struct daemon *d,
                          fuse_req_t req, bool as_ioctl);

/* The backend has answered: returns true when the request is still to
 * be answered (by the caller of this function), false when it was
 * answered EINTR already.  The watch ends either way. */
bool interruptible_finish (struct interruptible *it);

#endif /* LOOPFSD_INTERRUPT_H */
