/* loopfs control: the partitions of one loop device (see partition-table.h). */

#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "partition-table.h"

/* Sectors of the device: get_capacity(). */
static uint64_t
capacity (const struct loopdev *lo)
{
  return loopdev_size (lo) / LOOPDEV_SECTOR_SIZE;
}

/* Drop every partition and free the table's memory. */
void
partition_table_free (struct partition_table *t)
{
  size_t i;

  for (i = 0; i < t->parts.len; i++)
    free (t->parts.ptr[i]);
  partition_vector_reset (&t->parts);
}

/* Partition NUMBER, or NULL. */
struct partition *
partition_table_lookup (const struct partition_table *t, int number)
{
  size_t i;

  for (i = 0; i < t->parts.len; i++)
    if (t->parts.ptr[i]->number == number)
      return t->parts.ptr[i];
  return NULL;
}

/* How many partitions are open. */
unsigned
partition_table_open_count (const struct partition_table *t)
{
  unsigned n = 0;
  size_t i;

  for (i = 0; i < t->parts.len; i++)
    n += t->parts.ptr[i]->openers > 0;
  return n;
}

/* Size in bytes of P. */
uint64_t
partition_size (const struct partition *p)
{
  return p->length * LOOPDEV_SECTOR_SIZE;
}

/* Writes to P fail when it or its device is read-only. */
bool
partition_read_only (const struct partition *p, const struct loopdev *lo)
{
  return p->bdev_ro || loopdev_read_only (lo);
}

/* BLKALIGNOFF of P (queue_limit_alignment_offset). */
uint32_t
partition_alignment_offset (const struct partition *p,
                            const struct loopdev *lo)
{
  uint32_t granularity = loopdev_physical_block_size (lo);
  uint32_t io_min = loopdev_logical_block_size (lo);
  uint32_t alignment;

  if (io_min > granularity)
    granularity = io_min;
  alignment = (p->start * LOOPDEV_SECTOR_SIZE) % granularity;
  return (granularity - alignment) % granularity;
}

/* BLKRRPART's refusals (disk_scan_partitions). */
int
partition_table_rescan_check (const struct partition_table *t,
                              const struct loopdev *lo)
{
  /* A loop disk without max_part has GD_SUPPRESS_PART_SCAN until a
   * bind with LO_FLAGS_PARTSCAN clears it; __loop_clr_fd sets it
   * again. */
  if (lo->state != LOOPDEV_BOUND || !(lo->b.flags & LO_FLAGS_PARTSCAN))
    return -EINVAL;
  if (partition_table_open_count (t) > 0)
    return -EBUSY;
  return 0;
}

/* Does [START, START + LENGTH) overlap a partition other than SKIP
 * (partition_overlaps)? */
static bool
overlaps (const struct partition_table *t, uint64_t start, uint64_t length,
          int skip)
{
  size_t i;

  for (i = 0; i < t->parts.len; i++) {
    const struct partition *p = t->parts.ptr[i];
    if (p->number != skip && start < p->start + p->length
        && start + length > p->start)
      return true;
  }
  return false;
}

/* Insert a new partition into V (sorted by number, NUMBER absent). */
static int
insert (partition_vector *v, int number, uint64_t start, uint64_t length)
{
  struct partition *p = calloc (1, sizeof *p);
  size_t i;

  if (p == NULL || partition_vector_append (v, p) < 0) {
    free (p);
    return -ENOMEM;
  }
  p->number = number;
  p->start = start;
  p->length = length;
  for (i = v->len - 1; i > 0 && v->ptr[i - 1]->number > number; i--)
    v->ptr[i] = v->ptr[i - 1];
  v->ptr[i] = p;
  return 0;
}

/* Replace every partition by what a scan found (blk_add_partitions). */
int
partition_table_replace (struct partition_table *t, const struct loopdev *lo,
                         const struct partition_entry *entries, size_t n)
{
  struct partition_table fresh = { 0 };
  uint64_t cap = capacity (lo);
  uint64_t block = loopdev_logical_block_size (lo) / LOOPDEV_SECTOR_SIZE;
  size_t i;

  for (i = 0; i < n; i++) {
    const struct partition_entry *e = &entries[i];
    uint64_t length = e->length;

    if (length == 0 || e->number < 1 || e->number > PARTITION_MAX_NUMBER
        || e->start >= cap || partition_table_lookup (&fresh, e->number))
      continue;
    if (e->extended) {
      uint64_t keep = block > 2 ? block : 2;
      length = length < keep ? length : keep;
    }
    if (length > cap - e->start)
      length = cap - e->start;
    if (insert (&fresh.parts, e->number, e->start, length) < 0) {
      partition_table_free (&fresh);
      return -ENOMEM;
    }
  }
  partition_table_free (t);
  *t = fresh;
  return 0;
}

/* BLKPG_DEL_PARTITION (bdev_del_partition). */
static int
delete (struct partition_table *t, int number)
{
  size_t i;

  for (i = 0; i < t->parts.len; i++) {
    struct partition *p = t->parts.ptr[i];
    if (p->number != number)
      continue;
    if (p->openers > 0)
      return -EBUSY;
    free (p);
    partition_vector_remove (&t->parts, i);
    return 0;
  }
  return -ENXIO;
}

/* BLKPG on LO (blkpg_do_ioctl, then the bdev_*_partition functions). */
int
partition_table_blkpg (struct partition_table *t, const struct loopdev *lo,
                       int op, const struct blkpg_partition *p)
{
  uint64_t start, length, end;
  struct partition *old;

  if (p->pno <= 0)
    return -EINVAL;
  if (op == BLKPG_DEL_PARTITION)
    return delete (t, p->pno);

  if (p->start < 0 || p->length <= 0 || LLONG_MAX - p->length < p->start)
    return -EINVAL;
  if ((p->start | p->length) & (loopdev_logical_block_size (lo) - 1))
    return -EINVAL;
  start = (uint64_t) p->start / LOOPDEV_SECTOR_SIZE;
  length = (uint64_t) p->length / LOOPDEV_SECTOR_SIZE;
  end = start + length;    /* no overflow: both below LLONG_MAX / 512 */
  if (start >= capacity (lo) || end > capacity (lo))
    return -EINVAL;

  switch (op) {
  case BLKPG_ADD_PARTITION:
    if (overlaps (t, start, length, -1))
      return -EBUSY;
    if (p->pno > PARTITION_MAX_NUMBER)
      return -EINVAL;
    if (partition_table_lookup (t, p->pno))
      return -EBUSY;
    return insert (&t->parts, p->pno, start, length);
  case BLKPG_RESIZE_PARTITION:
    old = partition_table_lookup (t, p->pno);
    if (old == NULL)
      return -ENXIO;
    if (start != old->start)
      return -EINVAL;
    if (overlaps (t, start, length, p->pno))
      return -EBUSY;
    old->length = length;
    return 0;
  default:
    return -EINVAL;
  }
}
