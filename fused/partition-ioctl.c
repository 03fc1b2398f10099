/* loopfsd: ioctls about partitions (see partitions.h).
 *
 * BLKPG on loopN adds, deletes and resizes partitions with the model's
 * rules (control/partition-table.h).  On loopNpM the block layer
 * answers size and read-only ioctls for the partition itself
 * (block/ioctl.c: bdev_nr_sectors, bdev_read_only of the partition
 * bdev), refuses BLKPG and BLKRRPART (EINVAL: bdev_is_partition), and
 * hands everything else to the disk's driver: lo_ioctl() takes the
 * loop device from the disk, so a loop ioctl on a partition acts on its
 * device, and so does it here (the caller hands it to ioctl.c with the
 * partition's handle, which counts as an opener of the device).
 *
 * BLKPG, BLKGETSIZE, BLKROGET, BLKROSET, BLKALIGNOFF, BLKDISCARD and
 * BLKZEROOUT encode no size: their arguments are read from or written to the
 * caller (caller.h); BLKGETSIZE64 and BLKBSZGET encode theirs, so FUSE
 * copies our reply out itself.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/blkpg.h>
#include <linux/capability.h>
#include <linux/fs.h>

#include "block-range.h"
#include "caller.h"
#include "device.h"
#include "io.h"
#include "node-watch.h"
#include "partition-ioctl.h"
#include "partition-scan.h"

/* An ioctl waiting for a copy from or to its caller. */
struct partition_call {
  struct caller_copy copy;        /* first: the copy is the call */
  fuse_req_t req;
  struct handle *h;
  unsigned int cmd;
  union {
    struct blkpg_ioctl_arg blkpg;
    struct blkpg_partition part;
    uint64_t range[2];
    unsigned long ulong;
    int i;
  } data;
};

/* Answer REQ with R: the result, or a negative errno. */
static void
reply_result (fuse_req_t req, int r)
{
  fuse_reply_ioctl (req, r, NULL, 0);
}

/* Copy LEN bytes between CALL->data and the caller's ADDR, then run
 * THEN on the loop; if the copy cannot start, answer its error. */
static void
call_copy (struct partition_call *call, uintptr_t addr, size_t len,
           bool to_caller, void (*then) (struct caller_copy *copy))
{
  int r;

  call->copy = (struct caller_copy) {
    .pid = fuse_req_ctx (call->req)->pid, .addr = addr, .buf = &call->data,
    .len = len, .to_caller = to_caller, .done = then,
  };
  r = caller_copy_start (&call->copy);
  if (r < 0) {
    reply_result (call->req, r);
    free (call);
  }
}

/* A new call for REQ, or NULL with REQ answered ENOMEM. */
static struct partition_call *
call_new (fuse_req_t req, struct handle *h, unsigned int cmd)
{
  struct partition_call *call = calloc (1, sizeof *call);

  if (call == NULL)
    reply_result (req, -ENOMEM);
  else
    *call = (struct partition_call) { .req = req, .h = h, .cmd = cmd };
  return call;
}

/* A value has been written to the caller: answer. */
static void
written (struct caller_copy *copy)
{
  struct partition_call *call = (struct partition_call *) copy;

  reply_result (call->req, copy->result);
  free (call);
}

/* Answer REQ by writing LEN bytes of DATA to the caller's ARG. */
static void
reply_by_writing (fuse_req_t req, void *arg, const void *data, size_t len)
{
  struct partition_call *call = call_new (req, NULL, 0);

  if (call) {
    memcpy (&call->data, data, len);
    call_copy (call, (uintptr_t) arg, len, true, written);
  }
}

/* BLKPG's struct blkpg_partition has been read: on a partition the
 * answer is EINVAL; on loopN the model decides. */
static void
blkpg_partition_read (struct caller_copy *copy)
{
  struct partition_call *call = (struct partition_call *) copy;
  struct device *dev = call->h->dev;
  struct daemon *d = fuse_req_userdata (call->req);
  int r = copy->result;

  if (r == 0 && call->h->partition)
    r = -EINVAL;
  if (r == 0)
    r = partition_table_blkpg (&dev->parts.table, dev->lo, call->cmd,
                               &call->data.part);
  if (r == 0) {
    struct partition *part = partition_table_lookup (&dev->parts.table,
                                                     call->data.part.pno);
    if (part && part->generation == 0)
      part->generation = ++d->generation;
    partitions_mirror_to_nbd (dev, call->cmd, &call->data.part);
    node_watch_partitions (d->watch, dev->lo->number, &dev->parts.table);
  }
  node_watch_reply (d->watch, call->req, true, r);
  free (call);
}

/* BLKPG's struct blkpg_ioctl_arg has been read: fetch the partition it
 * points to. */
static void
blkpg_arg_read (struct caller_copy *copy)
{
  struct partition_call *call = (struct partition_call *) copy;

  if (copy->result < 0) {
    reply_result (call->req, copy->result);
    free (call);
    return;
  }
  /* The op travels in CMD: DATA is overwritten by the partition. */
  call->cmd = call->data.blkpg.op;
  call_copy (call, (uintptr_t) call->data.blkpg.data,
             sizeof call->data.part, false, blkpg_partition_read);
}

/* BLKPG (blkpg_ioctl): CAP_SYS_ADMIN (EACCES), then the argument and
 * the partition it points to (EFAULT). */
void
partition_ioctl_blkpg (fuse_req_t req, struct handle *h, void *arg)
{
  struct partition_call *call;

  if (!caller_capable (fuse_req_ctx (req)->pid, CAP_SYS_ADMIN)) {
    reply_result (req, -EACCES);
    return;
  }
  call = call_new (req, h, 0);
  if (call)
    call_copy (call, (uintptr_t) arg, sizeof call->data.blkpg, false,
               blkpg_arg_read);
}

/* BLKROSET's int has been read: the partition's own read-only flag. */
static void
roset_read (struct caller_copy *copy)
{
  struct partition_call *call = (struct partition_call *) copy;
  struct partition *part = partition_table_lookup (&call->h->dev->parts.table,
                                                   call->h->partition);

  if (copy->result == 0 && part)
    part->bdev_ro = call->data.i != 0;
  reply_result (call->req, copy->result);
  free (call);
}

/* BLKDISCARD's or BLKZEROOUT's range has been read: the checks of the
 * device's (ioctl.c range_read) with the partition's bounds, then the
 * range moved onto the device. */
static void
range_read (struct caller_copy *copy)
{
  struct partition_call *call = (struct partition_call *) copy;
  struct device *dev = call->h->dev;
  struct partition *part = partition_table_lookup (&dev->parts.table,
                                                   call->h->partition);
  uint64_t start = call->data.range[0], len = call->data.range[1], end;
  bool zero = call->cmd == BLKZEROOUT;
  fuse_req_t req = call->req;
  int r = copy->result;

  if (r == 0 && !call->h->writable)
    r = -EBADF;
  free (call);
  if (r == 0 && part == NULL)
    r = -EIO;
  if (r == 0 && !zero && partition_read_only (part, dev->lo))
    r = -EPERM;
  if (r == 0 && (__builtin_add_overflow (start, len, &end)
                 || end > partition_size (part)))
    r = -EINVAL;
  if (r == 0) {
    start += part->start * LOOPDEV_SECTOR_SIZE;
    r = zero ? loopdev_check_zeroout_range (dev->lo, start, len)
      : loopdev_check_discard_range (dev->lo, start, len);
  }
  if (r == 0 && partition_read_only (part, dev->lo))
    r = -EPERM;
  if (r < 0)
    reply_result (req, r);
  else
    io_discard_range (req, dev, start, len, zero);
}

/* BLKBSZGET of a partition: set_init_blocksize() at its first open,
 * the largest power of two from the logical block size up to a page
 * that divides its size. */
static int
soft_block_size (const struct partition *part, const struct loopdev *lo)
{
  uint64_t size = partition_size (part);
  uint32_t bsize = loopdev_logical_block_size (lo);

  while (bsize < LOOPDEV_PAGE_SIZE && (size & bsize) == 0)
    bsize <<= 1;
  return bsize;
}

/* An ioctl on a partition node, if it is the partition's own. */
bool
partition_ioctl (fuse_req_t req, struct handle *h, unsigned int cmd,
                 void *arg)
{
  struct partition *part = partition_table_lookup (&h->dev->parts.table,
                                                   h->partition);
  bool admin;
  struct partition_call *call;
  unsigned long sectors;
  uint64_t size64;
  int value;

  if (part == NULL) {
    reply_result (req, -EIO);
    return true;
  }
  switch (cmd) {
  case BLKPG:
    partition_ioctl_blkpg (req, h, arg);
    return true;
  case BLKRRPART:
    admin = caller_capable (fuse_req_ctx (req)->pid, CAP_SYS_ADMIN);
    reply_result (req, admin ? -EINVAL : -EACCES);
    return true;
  case BLKGETSIZE64:
    size64 = partition_size (part);
    fuse_reply_ioctl (req, 0, &size64, sizeof size64);
    return true;
  case BLKGETSIZE:
    sectors = part->length;
    reply_by_writing (req, arg, &sectors, sizeof sectors);
    return true;
  case BLKBSZGET:
    value = soft_block_size (part, h->dev->lo);
    fuse_reply_ioctl (req, 0, &value, sizeof value);
    return true;
  case BLKROGET:
    value = partition_read_only (part, h->dev->lo);
    reply_by_writing (req, arg, &value, sizeof value);
    return true;
  case BLKALIGNOFF:
    value = partition_alignment_offset (part, h->dev->lo);
    reply_by_writing (req, arg, &value, sizeof value);
    return true;
  case BLKROSET:
    if (!caller_capable (fuse_req_ctx (req)->pid, CAP_SYS_ADMIN)) {
      reply_result (req, -EACCES);
      return true;
    }
    if ((call = call_new (req, h, cmd)) != NULL)
      call_copy (call, (uintptr_t) arg, sizeof call->data.i, false,
                 roset_read);
    return true;
  case BLKDISCARD:
  case BLKZEROOUT:
    if ((call = call_new (req, h, cmd)) != NULL)
      call_copy (call, (uintptr_t) arg, sizeof call->data.range, false,
                 range_read);
    return true;
  default:
    return false;
  }
}
