/* loopfsd: the generic block ioctls on loopN (see ioctl-block.c). */
#ifndef LOOPFSD_IOCTL_BLOCK_H
#define LOOPFSD_IOCTL_BLOCK_H

#include <stdbool.h>

#include "daemon.h"

/* A block-layer ioctl CMD through handle H on loopN, whose device is
 * not busy: answered, and true; false for a number block/ioctl.c does
 * not answer for every disk (the loop driver's own, or unknown). */
bool ioctl_block (fuse_req_t req, struct handle *h, unsigned int cmd,
                  void *arg);

#endif /* LOOPFSD_IOCTL_BLOCK_H */
