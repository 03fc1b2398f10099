/* loopfs control: the block layer's rules for ranges (see
 * block-range.h). */

#include <errno.h>
#include <linux/falloc.h>

#include "block-range.h"

/* BLKDISCARD range (blk_validate_byte_range in block/ioctl.c): a
 * non-empty range aligned to the logical block size, inside the
 * device, without overflow. */
int
loopdev_check_discard_range (const struct loopdev *lo,
                             uint64_t start, uint64_t len)
{
  uint64_t mask = loopdev_logical_block_size (lo) - 1;
  uint64_t end;

  if ((start | len) & mask)
    return -EINVAL;
  if (len == 0)
    return -EINVAL;
  if (__builtin_add_overflow (start, len, &end) || end > loopdev_size (lo))
    return -EINVAL;
  return 0;
}

/* BLKZEROOUT range (blk_ioctl_zeroout): last byte inside the device
 * and no wrap-around, which also refuses an empty range.  The kernel
 * first wants 512-byte alignment and then, in blkdev_issue_zeroout(),
 * alignment to the logical block size; both fail with EINVAL, so the
 * stricter test covers the two. */
int
loopdev_check_zeroout_range (const struct loopdev *lo,
                             uint64_t start, uint64_t len)
{
  uint64_t mask = loopdev_logical_block_size (lo) - 1;
  uint64_t end = start + len - 1;

  if ((start | len) & mask)
    return -EINVAL;
  if (end >= loopdev_size (lo))
    return -EINVAL;
  if (end < start)
    return -EINVAL;
  return 0;
}

/* fallocate(2) of a loop device (blkdev_fallocate in block/fops.c). */
int
loopdev_check_fallocate (const struct loopdev *lo, int mode, int64_t off,
                         int64_t len, uint64_t *start, uint64_t *length)
{
  uint64_t isize = loopdev_size (lo);
  uint64_t lbs = loopdev_logical_block_size (lo);
  uint64_t s = off, l = len;

  if (mode & ~(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE
               | FALLOC_FL_ZERO_RANGE))
    return -EOPNOTSUPP;
  if (off < 0 || len <= 0 || s >= isize)
    return -EINVAL;
  if (s + l - 1 >= isize) {
    if (!(mode & FALLOC_FL_KEEP_SIZE))
      return -EINVAL;
    l = isize - s;
  }
  if ((s | l) & (lbs - 1))
    return -EINVAL;
  if (loopdev_read_only (lo))
    return -EPERM;
  /* blkdev_fallocate() punches with a write-zeroes request that may not
   * fall back to writing zeroes: none is sent once the backing file
   * refused a zero range (zero-range.c). */
  if (mode == (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)
      && (lo->state == LOOPDEV_BOUND || lo->state == LOOPDEV_RUNDOWN)
      && lo->b.write_zeroes_off)
    return -EOPNOTSUPP;
  /* A device cleared while open still has a size, but its I/O fails
   * (loop_queue_rq). */
  if (lo->state != LOOPDEV_BOUND)
    return -EIO;
  if (mode != FALLOC_FL_ZERO_RANGE
      && mode != (FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE)
      && mode != (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE))
    return -EOPNOTSUPP;
  *start = s;
  *length = l;
  return 0;
}
