/* loopfs control: the block layer's rules for ranges of a loop device.
 *
 * BLKDISCARD, BLKZEROOUT and fallocate(2) of a block device reach the
 * loop driver only after block/ioctl.c and block/fops.c have checked
 * their range; these functions are those checks, with the same errnos
 * in the same order, so the daemon asks the model and only then touches
 * the backend.  0/-errno, like loopdev.h.
 */
#ifndef LOOPFS_CONTROL_BLOCK_RANGE_H
#define LOOPFS_CONTROL_BLOCK_RANGE_H

#include <stdint.h>

#include "loopdev.h"

/* Validate a BLKDISCARD / BLKZEROOUT range the way block/ioctl.c does,
 * after the write-mode and support checks the caller made: returns 0
 * or -EINVAL.  Both want alignment to the logical block size (discard
 * in blk_validate_byte_range, zeroout in blkdev_issue_zeroout). */
int loopdev_check_discard_range (const struct loopdev *lo,
                                 uint64_t start, uint64_t len);
int loopdev_check_zeroout_range (const struct loopdev *lo,
                                 uint64_t start, uint64_t len);

/* Validate fallocate(2) of LEN bytes at OFF with MODE the way
 * blkdev_fallocate() does: only zeroing and punching with KEEP_SIZE,
 * within the device (a range past its end is cut short with KEEP_SIZE),
 * aligned to the logical block size, on a writable bound device.  On
 * success *START and *LENGTH are the range to zero (MODE has
 * FALLOC_FL_ZERO_RANGE) or punch.  Errors in kernel order: EOPNOTSUPP
 * for unknown mode bits, EINVAL for a bad range, EPERM when read-only,
 * EIO when not bound, EOPNOTSUPP for a mode it does not support. */
int loopdev_check_fallocate (const struct loopdev *lo, int mode, int64_t off,
                             int64_t len, uint64_t *start, uint64_t *length);

#endif /* LOOPFS_CONTROL_BLOCK_RANGE_H */
