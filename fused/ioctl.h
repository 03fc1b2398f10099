/* loopfsd: where loop and block ioctls are decoded (see ioctl.c). */
#ifndef LOOPFSD_IOCTL_H
#define LOOPFSD_IOCTL_H

#include "daemon.h"

/* LOOP_CTL_* on loop-control. */
void ioctl_control (fuse_req_t req, unsigned int cmd, void *arg);

/* An ioctl on loopN through handle H: run it now, or after the bind
 * transaction under way on the device. */
void ioctl_device (fuse_req_t req, struct handle *h, unsigned int cmd,
                   void *arg);

#endif /* LOOPFSD_IOCTL_H */
