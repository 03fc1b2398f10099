/* loopfsd: scanning a device's partition table (see partition-scan.c). */
#ifndef LOOPFSD_PARTITION_SCAN_H
#define LOOPFSD_PARTITION_SCAN_H

#include <stdbool.h>
#include <linux/blkpg.h>

#include "partitions.h"

struct device;

/* Called once a scan is over with 0 or a negative errno. */
typedef void (*partitions_done_cb) (void *opaque, int result);

/* After an ioctl that may have given DEV a new medium or set
 * LO_FLAGS_PARTSCAN: scan its partition table when the kernel would
 * (loop_configure, loop_change_fd and loop_set_status of a partscan
 * device reread the partitions).  Returns false when no scan is due;
 * else true, and DONE (OPAQUE, 0) runs once the nodes are there: a
 * failed scan is logged, not the ioctl's failure, as
 * loop_reread_partitions() only logs it. */
bool partitions_scan_if_due (struct daemon *d, struct device *dev,
                             partitions_done_cb done, void *opaque);

/* BLKRRPART, its checks passed (partitions_rescan_check): scan again
 * and replace every partition; DONE (OPAQUE, R) with R = 0, -EBUSY
 * when a partition was opened meanwhile, -EIO when the table could not
 * be read, -ENOMEM. */
void partitions_rescan (struct daemon *d, struct device *dev,
                        partitions_done_cb done, void *opaque);

/* BLKRRPART's refusals on loopN through REQ: EACCES without
 * CAP_SYS_ADMIN, then the model's (EINVAL, EBUSY). */
int partitions_rescan_check (fuse_req_t req, struct device *dev);

/* The partition table of DEV changed through BLKPG operation OP with
 * P, or through a scan (OP 0, P NULL): when DEV also has a kernel NBD
 * device, make the same change there (a reread for a scan), so that
 * /dev/nbdXpM stay what loopNpM are.  In the background, in order. */
void partitions_mirror_to_nbd (struct device *dev, int op,
                               const struct blkpg_partition *p);

#endif /* LOOPFSD_PARTITION_SCAN_H */
