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
#include "device.h"
#include "caller.h"
#include "ioctl.h"

/* The command numbers a 32-bit caller's size_t gives (block/ioctl.c). */
#define BLKBSZGET_32     _IOR (0x12, 112, int)
#define BLKBSZSET_32     _IOW (0x12, 113, int)
#define BLKGETSIZE64_32  _IOR (0x12, 114, int)
#define BLKTRACESETUP_32 _IOC (_IOC_READ | _IOC_WRITE, 0x12, 115, 64)

/* struct loop_info as an i386 process lays it out (struct
 * compat_loop_info in drivers/block/loop.c): compat_dev_t is 16 bits
 * and compat_ulong_t 32. */
struct compat_loop_info {
  int32_t lo_number;
  uint16_t lo_device;
  uint32_t lo_inode;
  uint16_t lo_rdevice;
  int32_t lo_offset;
  int32_t lo_encrypt_type;
  int32_t lo_encrypt_key_size;
  int32_t lo_flags;
  char lo_name[LO_NAME_SIZE];
  unsigned char lo_encrypt_key[LO_KEY_SIZE];
  uint32_t lo_init[2];
  char reserved[4];
} __attribute__ ((aligned (4)));

_Static_assert (sizeof (struct compat_loop_info) == 140,
                "struct compat_loop_info is 140 bytes on i386");

/* A compat ioctl waiting for a copy from or to its caller. */
struct compat_call {
  struct caller_copy copy;       /* first: the copy is the call */
  fuse_req_t req;
  struct handle *h;
  union {
    struct compat_loop_info info;
    uint64_t u64;
    uint32_t u32;
  } data;
};

/* Answer REQ with the result R (>= 0) or error (< 0); see ioctl.c. */
static void
reply_result (fuse_req_t req, int r)
{
  fuse_reply_ioctl (req, r, NULL, 0);
}

/* A reply has been written to the caller: answer with the copy's
 * result. */
static void
written (struct caller_copy *copy)
{
  struct compat_call *call = (struct compat_call *) copy;

  reply_result (call->req, copy->result);
  free (call);
}

/* Copy LEN bytes of CALL->data to or from the caller's ARG off the loop,
 * then run THEN; if the copy cannot start, answer with its error. */
static void
compat_copy (struct compat_call *call, void *arg, size_t len, bool to_caller,
             void (*then) (struct caller_copy *copy))
{
  int r;

  call->copy = (struct caller_copy) {
    .pid = fuse_req_ctx (call->req)->pid, .addr = (uintptr_t) arg,
    .buf = &call->data, .len = len, .to_caller = to_caller, .done = then,
  };
  r = caller_copy_start (&call->copy);
  if (r < 0) {
    reply_result (call->req, r);
    free (call);
  }
}

/* A new call for REQ on H, or NULL with REQ answered (ENOMEM). */
static struct compat_call *
compat_call_new (fuse_req_t req, struct handle *h)
{
  struct compat_call *call = calloc (1, sizeof *call);

  if (call == NULL)
    reply_result (req, -ENOMEM);
  else {
    call->req = req;
    call->h = h;
  }
  return call;
}

/* Answer REQ by writing LEN bytes of VALUE (a u32 or u64) to ARG, as
 * put_user() does: the kernel has copied nothing for these numbers. */
static void
reply_by_writing (fuse_req_t req, void *arg, uint64_t value, size_t len)
{
  struct compat_call *call = compat_call_new (req, NULL);

  if (call == NULL)
    return;
  if (len == sizeof call->data.u32)
    call->data.u32 = (uint32_t) value;
  else
    call->data.u64 = value;
  compat_copy (call, arg, len, true, written);
}

/* loop_info64_from_compat(): lo_offset is sign-extended, the size limit
 * and the encryption fields are dropped. */
static void
info64_from_compat (const struct compat_loop_info *info,
                    struct loop_info64 *info64)
{
  memset (info64, 0, sizeof *info64);
  info64->lo_number = info->lo_number;
  info64->lo_device = info->lo_device;
  info64->lo_inode = info->lo_inode;
  info64->lo_rdevice = info->lo_rdevice;
  info64->lo_offset = (int64_t) info->lo_offset;
  info64->lo_flags = info->lo_flags;
  memcpy (info64->lo_file_name, info->lo_name, LO_NAME_SIZE);
}

/* loop_info64_to_compat(): EOVERFLOW when a device number, the inode or
 * the offset does not survive the narrowing. */
static int
info64_to_compat (const struct loop_info64 *info64,
                  struct compat_loop_info *info)
{
  memset (info, 0, sizeof *info);
  info->lo_number = info64->lo_number;
  info->lo_device = info64->lo_device;
  info->lo_inode = info64->lo_inode;
  info->lo_rdevice = info64->lo_rdevice;
  info->lo_offset = (int32_t) info64->lo_offset;
  info->lo_flags = info64->lo_flags;
  memcpy (info->lo_name, info64->lo_file_name, LO_NAME_SIZE);
  if (info->lo_device != info64->lo_device
      || info->lo_rdevice != info64->lo_rdevice
      || info->lo_inode != info64->lo_inode
      || (uint64_t) (int64_t) info->lo_offset != info64->lo_offset)
    return -EOVERFLOW;
  return 0;
}

/* LOOP_SET_STATUS's compat struct has been read: set it as
 * loop_set_status() does.  lo_compat_ioctl() checks no permission here,
 * unlike the 64-bit path (FMODE_WRITE or CAP_SYS_ADMIN). */
static void
compat_status_read (struct caller_copy *copy)
{
  struct compat_call *call = (struct compat_call *) copy;
  struct loop_info64 info64;
  fuse_req_t req = call->req;
  struct handle *h = call->h;
  int r = copy->result;

  if (r == 0)
    info64_from_compat (&call->data.info, &info64);
  free (call);
  if (r < 0)
    reply_result (req, r);
  else
    ioctl_apply_status (req, h->dev, &info64);
}

/* LOOP_GET_STATUS for a 32-bit caller (loop_get_status_compat). */
static void
compat_get_status (fuse_req_t req, struct handle *h, void *arg)
{
  struct loop_info64 info64;
  struct compat_call *call;
  int r = arg == NULL ? -EINVAL : loopdev_get_status64 (h->dev->lo, &info64);

  if (r < 0) {
    reply_result (req, r);
    return;
  }
  call = compat_call_new (req, h);
  if (call == NULL)
    return;
  r = info64_to_compat (&info64, &call->data.info);
  if (r < 0) {
    reply_result (req, r);
    free (call);
    return;
  }
  compat_copy (call, arg, sizeof call->data.info, true, written);
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
  struct compat_call *call;
  uint64_t sectors;

  switch (cmd) {
  case LOOP_SET_STATUS:
    if ((call = compat_call_new (req, h)) != NULL)
      compat_copy (call, arg, sizeof call->data.info, false,
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
      reply_result (req, r);
    else
      reply_by_writing (req, arg, value, sizeof (uint32_t));
    return;
  }
  case BLKGETSIZE:
    sectors = loopdev_size (lo) >> 9;
    if (sectors > UINT32_MAX)
      reply_result (req, -EFBIG);
    else
      reply_by_writing (req, arg, sectors, sizeof (uint32_t));
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
    reply_by_writing (req, arg, loopdev_size (lo), sizeof (uint64_t));
    return;
  case BLKTRACESETUP_32:
    ioctl_dispatch (req, h, BLKTRACESETUP, arg);
    return;
  default:
    if (same_as_native (cmd))
      ioctl_dispatch (req, h, cmd, arg);
    else
      reply_result (req, -ENOTTY);
    return;
  }
}
