/* loopfsd: ioctls about partitions (see partition-ioctl.c). */
#ifndef LOOPFSD_PARTITION_IOCTL_H
#define LOOPFSD_PARTITION_IOCTL_H

#include <stdbool.h>

#include "partitions.h"

struct device;

/* BLKPG through handle H on loopN, or on loopNpM (EINVAL). */
void partition_ioctl_blkpg (fuse_req_t req, struct handle *h, void *arg);

/* An ioctl on partition node handle H: answered for the partition
 * (sizes, BLKROSET, BLKDISCARD, ...), and true; false for the ioctls
 * the device answers (ioctl_device with H), as lo_ioctl() does for
 * every loop ioctl on a partition. */
bool partition_ioctl (fuse_req_t req, struct handle *h, unsigned int cmd,
                      void *arg);

#endif /* LOOPFSD_PARTITION_IOCTL_H */
