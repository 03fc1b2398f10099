/* loopfs control: the partitions of one loop device.
 *
 * The userspace twin of a gendisk's part_tbl for a loop disk: which
 * partitions exist (their numbers, starts and lengths in 512-byte
 * sectors), which are open, and what BLKPG and BLKRRPART may do to
 * them.  The rules and errnos are block/ioctl.c's blkpg_do_ioctl and
 * disk_scan_partitions and block/partitions/core.c's
 * bdev_add_partition, bdev_del_partition, bdev_resize_partition and
 * blk_add_partitions.  Parsing a partition table is not done here: the
 * daemon probes the device with libblkid and hands the entries it found
 * to partition_table_replace.  0/-errno, like loopdev.h.
 */
#ifndef LOOPFS_CONTROL_PARTITION_TABLE_H
#define LOOPFS_CONTROL_PARTITION_TABLE_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/blkpg.h>

#include "loopdev.h"
#include "vector.h"

/* Partition numbers are below DISK_MAX_PARTS (add_partition refuses
 * more): a loop disk without max_part gets its partitions' numbers
 * from the extended dev_t range, up to 255 of them. */
#define PARTITION_MAX_NUMBER 255

/* One partition, loopNpM. */
struct partition {
  int number;                /* M */
  uint64_t start;            /* first sector (512 bytes) on the device */
  uint64_t length;           /* sectors */
  unsigned openers;          /* open handles (part->bd_openers) */
  bool bdev_ro;              /* BLKROSET on the partition itself */
  uint64_t generation;       /* the daemon's: FUSE generation of the node,
                                0 until the daemon gives it one */
};

DEFINE_VECTOR_TYPE (partition_vector, struct partition *)

struct partition_table {
  partition_vector parts;    /* sorted by number */
};

/* A partition found by a scan of the device's partition table, in the
 * kernel's numbering (MBR primary 1-4, logical from 5, GPT entry
 * order), in 512-byte sectors.  An MBR extended partition is passed
 * with its whole extent and EXTENDED set. */
struct partition_entry {
  int number;
  uint64_t start;
  uint64_t length;
  bool extended;
};

/* Drop every partition and free the table's memory. */
void partition_table_free (struct partition_table *t);

/* Partition NUMBER, or NULL. */
struct partition *partition_table_lookup (const struct partition_table *t,
                                          int number);

/* How many partitions are open (disk->open_partitions). */
unsigned partition_table_open_count (const struct partition_table *t);

/* Size in bytes of partition P. */
uint64_t partition_size (const struct partition *p);

/* True when writes to P must fail: its own BLKROSET flag or its
 * device's read-only state (bdev_read_only of a partition). */
bool partition_read_only (const struct partition *p,
                          const struct loopdev *lo);

/* BLKALIGNOFF of P (bdev_alignment_offset of a partition): how far
 * its start lies before the next boundary of the device's granularity,
 * the larger of the physical block size and io_min (the logical block
 * size), the device itself having no alignment offset. */
uint32_t partition_alignment_offset (const struct partition *p,
                                     const struct loopdev *lo);

/* BLKRRPART on LO after the CAP_SYS_ADMIN and is-a-partition checks
 * (disk_scan_partitions): -EINVAL unless the device scans partitions
 * (bound with LO_FLAGS_PARTSCAN), -EBUSY while a partition is open. */
int partition_table_rescan_check (const struct partition_table *t,
                                  const struct loopdev *lo);

/* A scan of LO found the N ENTRIES: they replace every partition, as
 * bdev_disk_changed() drops the old ones and blk_add_partitions() adds
 * the new: entries of length 0, numbered outside 1..PARTITION_MAX_NUMBER
 * or starting at or past the end of the device are skipped, those
 * running past it are cut at the end, an extended partition is kept as
 * its first 2 sectors (at least one logical block: msdos.c leaves it
 * only room for a boot loader).  Returns 0, or -ENOMEM with T
 * unchanged. */
int partition_table_replace (struct partition_table *t,
                             const struct loopdev *lo,
                             const struct partition_entry *entries,
                             size_t n);

/* BLKPG operation OP (BLKPG_ADD_PARTITION, BLKPG_DEL_PARTITION,
 * BLKPG_RESIZE_PARTITION) with argument P on LO, after the
 * CAP_SYS_ADMIN, copy and is-a-partition checks of blkpg_do_ioctl.
 * Errors in kernel order: EINVAL (number <= 0; for add and resize a
 * bad start or length, not aligned to the logical block size, or
 * outside the device; another op), ENXIO (delete or resize of a
 * partition that does not exist), EBUSY (delete of an open partition;
 * add or resize overlapping another partition; add of an existing
 * number), EINVAL (add of a number above PARTITION_MAX_NUMBER,
 * resize that moves the start), ENOMEM. */
int partition_table_blkpg (struct partition_table *t,
                           const struct loopdev *lo, int op,
                           const struct blkpg_partition *p);

#endif /* LOOPFS_CONTROL_PARTITION_TABLE_H */
