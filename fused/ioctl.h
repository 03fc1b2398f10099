/* loopfsd: where loop and block ioctls are decoded (see ioctl.c). */
#ifndef LOOPFSD_IOCTL_H
#define LOOPFSD_IOCTL_H

#include <stdbool.h>
#include <linux/loop.h>

#include "daemon.h"

/* LOOP_CTL_* on loop-control. */
void ioctl_control (fuse_req_t req, unsigned int cmd, void *arg);

/* An ioctl on loopN through handle H: run it now, or after the bind
 * transaction under way on the device.  COMPAT: from a 32-bit caller
 * (FUSE_IOCTL_COMPAT), answered as the kernel's compat path does. */
void ioctl_device (fuse_req_t req, struct handle *h, unsigned int cmd,
                   void *arg, bool compat);

/* Run one ioctl of a 64-bit caller on loopN, whose device is not busy
 * (for ioctl-compat.c, which passes the commands it shares on). */
void ioctl_dispatch (fuse_req_t req, struct handle *h, unsigned int cmd,
                     void *arg);

/* Run one ioctl of a 32-bit caller on loopN, whose device is not busy
 * (ioctl-compat.c). */
void ioctl_compat_dispatch (fuse_req_t req, struct handle *h,
                            unsigned int cmd, void *arg);

/* The device UPPER is stacked on got a new backend: give UPPER one on
 * it (stacking.c), after the transaction under way on UPPER if any,
 * then call DONE (OPAQUE).  False (DONE never called) only when a move
 * of UPPER is already due. */
bool ioctl_restack (struct daemon *d, struct device *upper,
                    void (*done) (void *opaque), void *opaque);

/* Set DEV's status to INFO64 as loop_set_status() does, answering REQ
 * (a new offset or size limit runs as a bind transaction). */
void ioctl_apply_status (fuse_req_t req, struct device *dev,
                         const struct loop_info64 *info64);

#endif /* LOOPFSD_IOCTL_H */
