/* loopfs control: the generic block ioctls of a loop device.
 *
 * block/ioctl.c answers these for every block device before the loop
 * driver sees them: read-ahead, queue limits, zones, the disk sequence
 * number and the block device's own read-only flag (BLKROSET).  The
 * values here are what Linux 6.18's loop driver reports on this kind of
 * machine, checked by the conformance scenario block_attrs.  0/-errno,
 * like loopdev.h.
 */
#ifndef LOOPFS_CONTROL_BLOCK_ATTRS_H
#define LOOPFS_CONTROL_BLOCK_ATTRS_H

#include <stdbool.h>
#include <stdint.h>

#include "loopdev.h"

/* queue_max_sectors() of a loop disk: BLK_DEF_MAX_SECTORS_CAP. */
#define LOOPDEV_MAX_SECTORS 2560u

/* Is CMD one of the generic block ioctls answered here? */
bool loopdev_is_block_attr (unsigned int cmd);

/* The permission check of a setter before its argument is read:
 * BLKRASET, BLKFRASET, BLKROSET and BLKBSZSET want CAP_SYS_ADMIN
 * (EACCES); 0 otherwise.  No refusal below applies to them. */
int loopdev_block_attr_permission (unsigned int cmd,
                                   const struct loop_caller *caller);

/* A getter CMD (BLKRAGET, BLKFRAGET, BLKSECTGET, BLKIOMIN, BLKIOOPT,
 * BLKALIGNOFF, BLKDISCARDZEROES, BLKROTATIONAL, BLKGETZONESZ,
 * BLKGETNRZONES, BLKGETDISKSEQ, BLKROGET): its value into *VALUE and
 * the number of bytes the kernel writes (put_long, put_uint, ...) as
 * the result; -EINVAL for BLKRAGET/BLKFRAGET with a NULL ARG_NULL. */
int loopdev_block_attr_get (const struct loopdev *lo, unsigned int cmd,
                            bool arg_null, uint64_t *value);

/* The block ioctls a loop device refuses: the zone ioctls (ENOTTY: not
 * zoned), BLKSECDISCARD (EBADF without FMODE_WRITE, else EOPNOTSUPP)
 * and HDIO_GETGEO (EINVAL for NULL, else ENOTTY: loop has no getgeo).
 * Returns the negative errno, or 0 when CMD is not one of them. */
int loopdev_block_attr_refuse (unsigned int cmd, bool opened_for_write,
                               bool arg_null);

/* BLKRASET and BLKFRASET: read-ahead of SECTORS 512-byte sectors,
 * kept in whole pages as bdi->ra_pages. */
void loopdev_set_read_ahead (struct loopdev *lo, unsigned long sectors);

/* BLKROSET with the int the caller passed: the block device's own
 * read-only flag, which outlives binds (it is not the disk's). */
void loopdev_set_bdev_read_only (struct loopdev *lo, int value);

/* BLKBSZSET with the int the caller passed: the soft block size
 * (BLKBSZGET) until the last opener closes the device.  -EINVAL unless
 * a power of two from the logical block size up to 64 KiB
 * (set_blocksize). */
int loopdev_set_soft_block_size (struct loopdev *lo, int size);

#endif /* LOOPFS_CONTROL_BLOCK_ATTRS_H */
