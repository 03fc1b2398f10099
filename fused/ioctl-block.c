/* loopfsd: the generic block ioctls on loopN.
 *
 * block/ioctl.c answers these for every disk before a driver sees
 * them: sizes, block sizes, read-only and read-ahead settings
 * (the model's block attributes, control/block-attrs.h), BLKFLSBUF,
 * BLKDISCARD and BLKZEROOUT.  Most encode no size, so their argument
 * is read from or their answer written to the caller (ioctl-call.h);
 * BLKGETSIZE64, BLKBSZGET, BLKBSZSET, BLKGETDISKSEQ, BLKGETZONESZ,
 * BLKGETNRZONES and the zone ioctls do: for them the kernel copies the
 * argument in, or our reply out, itself (a bad pointer fails there:
 * DIFFERENCES.md D5).
 */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <linux/fs.h>

#include "block-attrs.h"
#include "block-range.h"
#include "device.h"
#include "io.h"
#include "ioctl-block.h"
#include "ioctl-call.h"

/* BLKDISCARD and BLKZEROOUT's range has been read: the descriptor must
 * be writable (EBADF); a read-only device fails BLKDISCARD before the
 * range is validated and BLKZEROOUT after; a cleared device fails the
 * I/O (io.c). */
static void
range_read (struct caller_copy *copy)
{
  struct ioctl_call *call = (struct ioctl_call *) copy;
  struct device *dev = call->h->dev;
  struct loopdev *lo = dev->lo;
  fuse_req_t req = call->req;
  unsigned int cmd = call->cmd;
  uint64_t start = call->data.range[0], len = call->data.range[1];
  int r = copy->result;

  if (r == 0 && !call->h->writable)
    r = -EBADF;
  free (call);
  if (r == 0 && cmd == BLKDISCARD && loopdev_read_only (lo))
    r = -EPERM;
  if (r == 0)
    r = cmd == BLKDISCARD
      ? loopdev_check_discard_range (lo, start, len)
      : loopdev_check_zeroout_range (lo, start, len);
  if (r == 0 && loopdev_read_only (lo))
    r = -EPERM;
  if (r < 0) {
    ioctl_reply_result (req, r);
    return;
  }
  io_discard_range (req, dev, start, len, cmd == BLKZEROOUT);
}

/* BLKDISCARD and BLKZEROOUT: the range is copied in first (EFAULT). */
static void
ioctl_range (fuse_req_t req, struct handle *h, unsigned int cmd, void *arg)
{
  struct ioctl_call *call = ioctl_call_new (req, h, cmd);

  if (call)
    ioctl_call_copy (call, arg, sizeof call->data.range, false, range_read);
}

/* Answer a block ioctl that returns an int in the caller's memory. */
static void
reply_int (fuse_req_t req, void *arg, int value)
{
  ioctl_reply_by_writing (req, arg, &value, sizeof value);
}

/* BLKROSET's or BLKBSZSET's int has been read: set the block device's
 * read-only flag or soft block size. */
static void
int_setting_read (struct caller_copy *copy)
{
  struct ioctl_call *call = (struct ioctl_call *) copy;
  struct loopdev *lo = call->h->dev->lo;
  int r = copy->result;

  if (r == 0 && call->cmd == BLKROSET)
    loopdev_set_bdev_read_only (lo, call->data.i);
  else if (r == 0)
    r = loopdev_set_soft_block_size (lo, call->data.i);
  ioctl_call_answer (call, r);
}

/* Answer REQ with VALUE as the WIDTH-byte integer the kernel writes:
 * copied out by FUSE for a command that encodes its size, else written
 * to the caller's ARG. */
static void
reply_width (fuse_req_t req, unsigned int cmd, void *arg, uint64_t value,
             int width)
{
  union { uint16_t u16; uint32_t u32; uint64_t u64; } v;

  if (width == 2)
    v.u16 = value;
  else if (width == 4)
    v.u32 = value;
  else
    v.u64 = value;
  if (_IOC_SIZE (cmd) != 0)
    fuse_reply_ioctl (req, 0, &v, width);
  else
    ioctl_reply_by_writing (req, arg, &v, width);
}

/* The generic block ioctls block/ioctl.c answers for every disk: the
 * refusals, then the value, or for a setter the permission and then the
 * change.  The caller's credentials are read only for the setters. */
static void
ioctl_block_attr (fuse_req_t req, struct handle *h, unsigned int cmd,
                  void *arg)
{
  struct loopdev *lo = h->dev->lo;
  struct loop_caller caller;
  struct ioctl_call *call;
  uint64_t value;
  int r;

  r = loopdev_block_attr_refuse (cmd, h->writable, arg == NULL);
  if (r < 0) {
    ioctl_reply_result (req, r);
    return;
  }
  switch (cmd) {
  case BLKRASET:
  case BLKFRASET:
  case BLKROSET:
  case BLKBSZSET:
    caller = ioctl_caller_of (req, h);
    r = loopdev_block_attr_permission (cmd, &caller);
    if (r < 0)
      ioctl_reply_result (req, r);
    else if (cmd == BLKRASET || cmd == BLKFRASET) {
      loopdev_set_read_ahead (lo, (unsigned long) arg);
      ioctl_reply_result (req, 0);
    }
    else if ((call = ioctl_call_new (req, h, cmd)) != NULL)
      /* BLKBSZSET encodes a size_t, so FUSE has checked the memory,
       * but the kernel reads an int (get_user) from the caller. */
      ioctl_call_copy (call, arg, sizeof call->data.i, false,
                       int_setting_read);
    return;
  default:
    r = loopdev_block_attr_get (lo, cmd, arg == NULL, &value);
    if (r < 0)
      ioctl_reply_result (req, r);
    else
      reply_width (req, cmd, arg, value, r);
    return;
  }
}

/* The sizes are answered here; the rest by the functions above. */
bool
ioctl_block (fuse_req_t req, struct handle *h, unsigned int cmd, void *arg)
{
  struct loopdev *lo = h->dev->lo;
  uint64_t size64;

  switch (cmd) {
  case BLKGETSIZE: {
    unsigned long sectors = loopdev_size (lo) >> 9;
    ioctl_reply_by_writing (req, arg, &sectors, sizeof sectors);
    return true;
  }
  case BLKGETSIZE64:
    size64 = loopdev_size (lo);
    fuse_reply_ioctl (req, 0, &size64, sizeof size64);
    return true;
  case BLKBSZGET: {
    /* Encoded as size_t, but the kernel writes an int (put_int). */
    int bsize = lo->soft_block_size;
    fuse_reply_ioctl (req, 0, &bsize, sizeof bsize);
    return true;
  }
  case BLKSSZGET:
    reply_int (req, arg, loopdev_logical_block_size (lo));
    return true;
  case BLKPBSZGET:
    reply_int (req, arg, loopdev_physical_block_size (lo));
    return true;
  case BLKFLSBUF:
    /* blkdev_flushbuf() wants CAP_SYS_ADMIN; loopfs keeps no cache. */
    ioctl_reply_result (req, ioctl_caller_admin (req) ? 0 : -EACCES);
    return true;
  case BLKDISCARD:
  case BLKZEROOUT:
    ioctl_range (req, h, cmd, arg);
    return true;
  default:
    if (!loopdev_is_block_attr (cmd))
      return false;
    ioctl_block_attr (req, h, cmd, arg);
    return true;
  }
}
