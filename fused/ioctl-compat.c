/* loopfsd: ioctls of 32-bit callers (FUSE_IOCTL_COMPAT).
 *
 * A 32-bit process reaches a kernel loop device through compat_ioctl:
 * block/ioctl.c compat_blkdev_ioctl() answers the numbers whose layout
 * or number differs (a long is 4 bytes, BLKBSZGET/BLKBSZSET/BLKGETSIZE64
 * encode a 4-byte size_t), then the common block ioctls run as for a
 * 64-bit caller, then drivers/block/loop.c lo_compat_ioctl() translates
 * struct compat_loop_info for LOOP_SET_STATUS / LOOP_GET_STATUS and
 * passes the 64-bit-clean LOOP_* on.  Every other number ends as
 * ENOIOCTLCMD, which the compat ioctl syscall turns into ENOTTY (where
 * a 64-bit caller gets lo_simple_ioctl()'s EINVAL).
 *
 * FUSE forwards a 32-bit caller's number unchanged and flags the
 * request, so the same translation happens here; what is common runs
 * through ioctl.c's dispatch.
 */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/fs.h>
#include <linux/hdreg.h>
#include <linux/loop.h>
#include <linux/pr.h>
#include <linux/blktrace_api.h>
#include <linux/blkpg.h>

#include "block-attrs.h"
#include "compat-loop-info.h"
#include "device.h"
#include "ioctl-call.h"
#include "ioctl.h"

/* The command numbers a 32-bit caller's size_t gives (block/ioctl.c). */
#define BLKBSZGET_32     _IOR (0x12, 112, int)
#define BLKBSZSET_32     _IOW (0x12, 113, int)
#define BLKGETSIZE64_32  _IOR (0x12, 114, int)
#define BLKTRACESETUP_32 _IOC (_IOC_READ | _IOC_WRITE, 0x12, 115, 64)

/* Answer REQ by writing VALUE to the caller's ARG as a 4-byte
 * compat_ulong_t, as compat_put_ulong() does: the kernel has copied
 * nothing for these numbers. */
static void
reply_u32 (fuse_req_t req, void *arg, uint32_t value)
{
  ioctl_reply_by_writing (req, arg, &value, sizeof value);
}

/* loop_info64_from_compat() is loop_info64_from_old() of the same
 * values: the native old struct holds every i386 field unchanged. */
static void
info64_from_compat (const struct compat_loop_info *info,
                    struct loop_info64 *info64)
{
  struct loop_info old = {
    .lo_number = info->lo_number, .lo_device = info->lo_device,
    .lo_inode = info->lo_inode, .lo_rdevice = info->lo_rdevice,
    .lo_offset = info->lo_offset, .lo_flags = info->lo_flags,
  };

  memcpy (old.lo_name, info->lo_name, LO_NAME_SIZE);
  loopdev_info64_from_old (&old, info64);
}

/* loop_get_status_compat(): LOOP_GET_STATUS's native old struct, whose
 * narrowing already fails for an offset beyond an int (EOVERFLOW), then
 * EOVERFLOW too when a device number or the inode does not fit i386's
 * 16 and 32 bits (loop_info64_to_compat). */
static int
get_status_compat (const struct loopdev *lo, struct compat_loop_info *info)
{
  struct loop_info old;
  int r = loopdev_get_status (lo, &old);

  if (r < 0)
    return r;
  *info = (struct compat_loop_info) {
    .lo_number = old.lo_number, .lo_device = old.lo_device,
    .lo_inode = old.lo_inode, .lo_rdevice = old.lo_rdevice,
    .lo_offset = old.lo_offset, .lo_flags = old.lo_flags,
  };
  memcpy (info->lo_name, old.lo_name, LO_NAME_SIZE);
  if (info->lo_device != old.lo_device || info->lo_rdevice != old.lo_rdevice
      || info->lo_inode != old.lo_inode)
    return -EOVERFLOW;
  return 0;
}

/* LOOP_SET_STATUS's compat struct has been read: set it as
 * loop_set_status() does.  lo_compat_ioctl() checks no permission here,
 * unlike the 64-bit path (FMODE_WRITE or CAP_SYS_ADMIN). */
static void
compat_status_read (struct caller_copy *copy)
{
  struct ioctl_call *call = (struct ioctl_call *) copy;
  struct loop_info64 info64;
  fuse_req_t req = call->req;
  struct handle *h = call->h;
  int r = copy->result;

  if (r == 0)
    info64_from_compat (&call->data.compat_info, &info64);
  free (call);
  if (r < 0)
    ioctl_reply_result (req, r);
  else
    ioctl_apply_status (req, h->dev, &info64);
}

/* LOOP_GET_STATUS for a 32-bit caller. */
static void
compat_get_status (fuse_req_t req, struct handle *h, void *arg)
{
  struct compat_loop_info info;
  int r = arg == NULL ? -EINVAL : get_status_compat (h->dev->lo, &info);

  if (r < 0)
    ioctl_reply_result (req, r);
  else
    ioctl_reply_by_writing (req, arg, &info, sizeof info);
}

/* Is CMD one the compat path runs as a 64-bit caller's: the
 * 64-bit-clean LOOP_* that lo_compat_ioctl() passes to lo_ioctl(), and
 * the block layer's common ioctls (blkdev_common_ioctl) and those with a
 * separate compat handler that loopfs answers the same way. */
static bool
same_as_native (unsigned int cmd)
{
  switch (cmd) {
  case LOOP_SET_FD: case LOOP_CHANGE_FD: case LOOP_CLR_FD:
  case LOOP_CONFIGURE: case LOOP_SET_STATUS64: case LOOP_GET_STATUS64:
  case LOOP_SET_CAPACITY: case LOOP_SET_DIRECT_IO: case LOOP_SET_BLOCK_SIZE:
  case BLKFLSBUF: case BLKDISCARD: case BLKZEROOUT: case BLKSSZGET:
  case BLKPBSZGET: case BLKRRPART: case BLKPG:
  case BLKTRACESTART: case BLKTRACESTOP: case BLKTRACETEARDOWN:
  case IOC_PR_REGISTER: case IOC_PR_RESERVE: case IOC_PR_RELEASE:
  case IOC_PR_PREEMPT: case IOC_PR_PREEMPT_ABORT: case IOC_PR_CLEAR:
    return true;
  default:
    /* BLKRAGET/BLKFRAGET are in the attributes but answered below. */
    return loopdev_is_block_attr (cmd) && cmd != BLKBSZSET;
  }
}

/* Run one ioctl of a 32-bit caller on loopN (the device is not busy). */
void
ioctl_compat_dispatch (fuse_req_t req, struct handle *h, unsigned int cmd,
                       void *arg)
{
  struct loopdev *lo = h->dev->lo;
  struct ioctl_call *call;
  uint64_t sectors, size64;

  switch (cmd) {
  case LOOP_SET_STATUS:
    if ((call = ioctl_call_new (req, h, cmd)) != NULL)
      ioctl_call_copy (call, arg, sizeof call->data.compat_info, false,
                       compat_status_read);
    return;
  case LOOP_GET_STATUS:
    compat_get_status (req, h, arg);
    return;
  case BLKRAGET:
  case BLKFRAGET: {
    /* compat_put_long: the same value, 4 bytes. */
    uint64_t value;
    int r = loopdev_block_attr_get (lo, cmd, arg == NULL, &value);

    if (r < 0)
      ioctl_reply_result (req, r);
    else
      reply_u32 (req, arg, value);
    return;
  }
  case BLKGETSIZE:
    sectors = loopdev_size (lo) >> 9;
    if (sectors > UINT32_MAX)
      ioctl_reply_result (req, -EFBIG);
    else
      reply_u32 (req, arg, sectors);
    return;
  case BLKBSZGET_32: {
    /* Not the soft block size a 64-bit caller gets: compat_blkdev_ioctl
     * answers the logical block size.  FUSE copies the int out. */
    int bsize = loopdev_logical_block_size (lo);

    fuse_reply_ioctl (req, 0, &bsize, sizeof bsize);
    return;
  }
  case BLKBSZSET_32:
    ioctl_dispatch (req, h, BLKBSZSET, arg);
    return;
  case BLKGETSIZE64_32:
    /* The number encodes 4 bytes, so FUSE would copy out only half of
     * the u64 put_u64() writes: write it to the caller here. */
    size64 = loopdev_size (lo);
    ioctl_reply_by_writing (req, arg, &size64, sizeof size64);
    return;
  case BLKTRACESETUP_32:
    ioctl_dispatch (req, h, BLKTRACESETUP, arg);
    return;
  default:
    if (same_as_native (cmd))
      ioctl_dispatch (req, h, cmd, arg);
    else
      ioctl_reply_result (req, -ENOTTY);
    return;
  }
}
