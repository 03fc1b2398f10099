/* loopfsd: the partitions of a loop device, loopNpM.
 *
 * The model (control/partition-table.h) says which partitions a device has
 * and what BLKPG and BLKRRPART may do to them; the daemon keeps one
 * table per device (struct device_partitions), fills it from a scan of
 * the device's partition table (partition-scan.c), and serves each
 * partition as a node of the instance (partition-nodes.c) whose data
 * is a window onto its device, through the device's own backend.
 * Ioctls on loopN that concern partitions and every ioctl on loopNpM
 * are decoded in partition-ioctl.c.  This header holds the shared
 * types; each of those files declares its functions in its own.
 */
#ifndef LOOPFSD_PARTITIONS_H
#define LOOPFSD_PARTITIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "daemon.h"
#include "partition-table.h"

/* What the daemon keeps of a device's partitions. */
struct device_partitions {
  struct partition_table table;
  uint64_t seen_diskseq;      /* the medium (BLKGETDISKSEQ) and ... */
  bool seen_partscan;         /* ... LO_FLAGS_PARTSCAN at the last check:
                                 a scan is due when either changes */
};

/* The device was cleared: its partitions go, as __loop_clr_fd()
 * drops them; DISKSEQ is the new medium's. */
static inline void
device_partitions_drop (struct device_partitions *parts, uint64_t diskseq)
{
  partition_table_free (&parts->table);
  parts->seen_partscan = false;
  parts->seen_diskseq = diskseq;
}

/* Inode numbers of partition nodes: above every loopN's
 * (DEVICE_INO_BASE + N), PARTITION_NUMBERS per device. */
#define PARTITION_NUMBERS (PARTITION_MAX_NUMBER + 1)
#define PARTITION_INO_BASE ((fuse_ino_t) DEVICE_INO_BASE + LOOPFS_MAX_DEVICES)

#endif /* LOOPFSD_PARTITIONS_H */
