/* loopfsd: the partitions of a loop device, loopNpM.
 *
 * The model (control/partitions.h) says which partitions a device has
 * and what BLKPG and BLKRRPART may do to them; the daemon keeps one
 * table per device (struct device_partitions), fills it from a scan of
 * the device's partition table (partition-scan.c), and serves each
 * partition as a node of the instance (partition-nodes.c) whose data
 * is a window onto its device, through the device's own backend.
 * Ioctls on loopN that concern partitions and every ioctl on loopNpM
 * are decoded in partition-ioctl.c.
 */
#ifndef LOOPFSD_PARTITIONS_H
#define LOOPFSD_PARTITIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "daemon.h"
#include "partition-table.h"

struct device;

/* What the daemon keeps of a device's partitions. */
struct device_partitions {
  struct partition_table table;
  uint64_t seen_diskseq;      /* the medium (BLKGETDISKSEQ) and ... */
  bool seen_partscan;         /* ... LO_FLAGS_PARTSCAN at the last check:
                                 a scan is due when either changes */
};

/* Inode numbers of partition nodes: above every loopN's
 * (DEVICE_INO_BASE + N), PARTITION_NUMBERS per device. */
#define PARTITION_NUMBERS (PARTITION_MAX_NUMBER + 1)
#define PARTITION_INO_BASE ((fuse_ino_t) DEVICE_INO_BASE + LOOPFS_MAX_DEVICES)

/* --- partition-scan.c --- */

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

/* DEV was cleared: its partitions go, as __loop_clr_fd() drops them. */
void partitions_drop (struct device *dev);

/* The partition table changed through BLKPG or a scan: when DEV also
 * has a kernel NBD device, have the kernel reread its partitions too,
 * so /dev/nbdXpM match loopNpM (in the background). */
void partitions_mirror_to_nbd (struct device *dev);

/* --- partition-nodes.c --- */

/* Is INO a partition node's number (whether it exists or not)? */
bool partition_ino (fuse_ino_t ino);

/* The partition behind INO and its device (into *DEV), or NULL. */
struct partition *partition_node (struct daemon *d, fuse_ino_t ino,
                                  struct device **dev);

/* Look NAME ("loopNpM") up: 0 with its inode number and generation,
 * or -ENOENT. */
int partition_lookup (struct daemon *d, const char *name, fuse_ino_t *ino,
                      uint64_t *generation);

/* The size of partition node INO, or -ENOENT. */
int64_t partition_node_size (struct daemon *d, fuse_ino_t ino);

/* Extended attribute NAME of partition node INO into BUF (see
 * loopfs-interface.h): its length, or -ENODATA. */
int partition_xattr_value (struct daemon *d, fuse_ino_t ino,
                           const char *name, char *buf, size_t size);

/* The INDEX-th entry of the root directory after ".", ".." and
 * loop-control: every loopN, each followed by its partitions.  Writes
 * its name and inode number; false past the last entry. */
bool partition_dir_entry (struct daemon *d, size_t index, char *name,
                          size_t size, fuse_ino_t *ino);

/* open(2) of partition node INO: its device is opened too (a partition
 * open counts as an opener of its disk, so a LOOP_CLR_FD waits for it).
 * Returns 0 with *DEV and *NUMBER set, -ENOENT, or -ENXIO while the
 * device is being cleared. */
int partition_open (struct daemon *d, fuse_ino_t ino, struct device **dev,
                    int *number);

/* The last reference to an open partition NUMBER of DEV went away. */
void partition_release (struct daemon *d, struct device *dev, int number);

/* read(2), write(2), fsync(2) and fallocate(2) through handle H on a
 * partition: the same requests on its device, bounded by the
 * partition (the checks of blkdev_read_iter, blkdev_write_iter and
 * blkdev_fallocate with the partition's size). */
void partition_read (fuse_req_t req, struct handle *h, size_t size,
                     off_t off);
void partition_write (fuse_req_t req, struct handle *h, const char *buf,
                      size_t size, off_t off);
void partition_fsync (fuse_req_t req, struct handle *h);
void partition_fallocate (fuse_req_t req, struct handle *h, int mode,
                          off_t off, off_t len);

/* --- partition-ioctl.c --- */

/* BLKPG on loopN (ON_PARTITION false) or loopNpM through handle H. */
void partition_ioctl_blkpg (fuse_req_t req, struct handle *h, void *arg);

/* An ioctl on partition node handle H: answered for the partition
 * (sizes, BLKROSET, BLKDISCARD, ...), or for its device as lo_ioctl()
 * does for every loop ioctl on a partition. */
void partition_ioctl (fuse_req_t req, struct handle *h, unsigned int cmd,
                      void *arg);

#endif /* LOOPFSD_PARTITIONS_H */
