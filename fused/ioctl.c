/* loopfsd: where loop and block ioctls are decoded.
 *
 * Each ioctl's argument is fetched from the caller in the order the
 * kernel fetches it (so a bad pointer gives EFAULT at the same point),
 * its meaning is asked of the model (control/), and transitions that
 * need a new backend run asynchronously: the FUSE request is answered
 * from the backend's ready callback.
 *
 * FUSE forwards these ioctls "restricted": LOOP_* and most BLK* numbers
 * encode no size, so the raw argument arrives here and caller.c reads or
 * writes the caller's memory.  BLKGETSIZE64 and BLKBSZGET do encode a
 * size: for them the kernel copies our reply out itself.
 */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/capability.h>
#include <linux/fs.h>
#include <linux/loop.h>

#include "backing.h"
#include "caller.h"
#include "cleanup.h"
#include "daemon.h"
#include "device.h"

/* An ioctl that outlives its handler: a configure, change of backing
 * file, or resize waiting for a backing probe and a backend. */
struct op {
  fuse_req_t req;
  struct device *dev;
  unsigned int cmd;
  bool dev_writable;             /* the loopN handle was opened for write */
  struct loop_config config;     /* LOOP_SET_FD / LOOP_CONFIGURE */
  struct loop_info64 info;       /* LOOP_SET_STATUS(64) */
  struct loopdev_binding binding;
  int fd;                        /* backing descriptor, owned */
  int result;                    /* the answer, once known */
  struct backing_probe probe;
};

/* Answer an ioctl with a result R >= 0 or an error R < 0.
 *
 * Errors go as a negative ioctl result rather than fuse_reply_err so the
 * caller sees exactly R; FUSE still rewrites -ENOSYS to -ENOTTY (see
 * tests/conformance/DIFFERENCES.md). */
static void
reply_result (fuse_req_t req, int r)
{
  fuse_reply_ioctl (req, r, NULL, 0);
}

/* Answer OP with its result, free it, and let waiting ioctls run. */
static void
op_complete (void *opaque)
{
  struct op *op = opaque;
  struct device *dev = op->dev;

  reply_result (op->req, op->result);
  free (op);
  device_end (dev);
}

/* Finish OP with result R.  A descriptor OP still holds is closed first,
 * as the kernel's fput() of a refused backing file happens before the
 * ioctl returns. */
static void
op_finish (struct op *op, int r)
{
  op->result = r;
  backing_close_then (daemon_state.loop, TAKE_FD (op->fd), op_complete, op);
}

/* The caller's thread id, as FUSE reports it. */
static pid_t
req_caller (fuse_req_t req)
{
  return fuse_req_ctx (req)->pid;
}

/* What the model needs to know about the caller of REQ on handle H. */
static struct loop_caller
caller_of (fuse_req_t req, const struct handle *h)
{
  return (struct loop_caller) {
    .opened_for_write = h->writable,
    .sys_admin = caller_capable (req_caller (req), CAP_SYS_ADMIN),
  };
}

/* LOOP_CTL_* on loop-control. */
void
ioctl_control (fuse_req_t req, unsigned int cmd, void *arg)
{
  struct daemon *d = &daemon_state;
  unsigned long parm = (unsigned long) arg;
  int r;

  switch (cmd) {
  case LOOP_CTL_GET_FREE:
    r = instance_get_free (&d->inst);
    break;
  case LOOP_CTL_ADD:
    r = instance_add (&d->inst, parm);
    break;
  case LOOP_CTL_REMOVE:
    reply_result (req, instance_remove (&d->inst, parm));
    return;
  default:
    /* loop_control_ioctl() answers ENOSYS. */
    r = -ENOSYS;
    break;
  }
  reply_result (req, r);
}

/* The kernel attach of a configure's backend is done (or off). */
static void
configure_attached (struct device *dev, struct backend *b, int nbd_index,
                    int nbd_fd, int err, void *opaque)
{
  struct op *op = opaque;
  struct daemon *d = &daemon_state;

  if (err) {
    device_discard_backend (d, b);
    loopdev_configure_abort (dev->lo);
    op_finish (op, -err);
    return;
  }
  device_install_backend (d, dev, b, TAKE_FD (op->fd), nbd_index, nbd_fd);
  loopdev_configure_commit (dev->lo, &op->binding);
  op_finish (op, 0);
}

/* The backend of a configure is ready (or failed). */
static void
configure_backend_ready (struct device *dev, struct backend *b, int err,
                         void *opaque)
{
  struct op *op = opaque;

  if (err) {
    loopdev_configure_abort (dev->lo);
    op_finish (op, -err);
    return;
  }
  device_kernel_attach (&daemon_state, dev, b, &op->binding,
                        configure_attached, op);
}

/* The kernel attach of a backend replacing the current one is done. */
static void
rebind_attached (struct device *dev, struct backend *b, int nbd_index,
                 int nbd_fd, int err, void *opaque)
{
  struct op *op = opaque;
  struct daemon *d = &daemon_state;

  if (err) {
    device_discard_backend (d, b);
    op_finish (op, -err);
    return;
  }
  /* LOOP_CHANGE_FD brings a new descriptor; a resize keeps the old. */
  device_install_backend (d, dev, b,
                          op->fd >= 0 ? TAKE_FD (op->fd) : dev->backing_fd,
                          nbd_index, nbd_fd);
  loopdev_set_binding (dev->lo, &op->binding);
  op_finish (op, 0);
}

/* A new backend replacing the current one is ready (or failed). */
static void
rebind_backend_ready (struct device *dev, struct backend *b, int err,
                      void *opaque)
{
  struct op *op = opaque;

  if (err) {
    op_finish (op, -err);
    return;
  }
  device_kernel_attach (&daemon_state, dev, b, &op->binding,
                        rebind_attached, op);
}

/* Start the backend for OP's binding. */
static void
op_start_backend (struct op *op, int fd, device_backend_cb cb)
{
  int r = device_start_backend (&daemon_state, op->dev, &op->binding, fd,
                                cb, op);
  if (r < 0) {
    if (cb == configure_backend_ready)
      loopdev_configure_abort (op->dev->lo);
    op_finish (op, r);
  }
}

/* Classify a probed backing file relative to device DEV: a node of our
 * own instance is recognised by the mount's st_dev, the device itself
 * by its inode number (EBADF, as loop_validate_file says). */
static void
classify_self (struct device *dev, struct backing_probe *p)
{
  if (p->backing.kind == LOOP_BACKING_LOOPFS
      && p->backing.dev == daemon_state.mount_dev
      && p->backing.ino == (ino_t) (DEVICE_INO_BASE + dev->lo->number))
    p->backing.kind = LOOP_BACKING_SELF;
}

/* The backing file of LOOP_SET_FD / LOOP_CONFIGURE / LOOP_CHANGE_FD has
 * been probed: decide and start the backend. */
static void
bind_probed (struct backing_probe *probe)
{
  struct op *op = (struct op *) ((char *) probe - offsetof (struct op, probe));
  struct device *dev = op->dev;
  int r = probe->err;

  if (r < 0) {
    op_finish (op, r);
    return;
  }
  classify_self (dev, probe);
  dev->backing_uid = probe->uid;
  dev->backing_gid = probe->gid;

  if (op->cmd == LOOP_CHANGE_FD) {
    r = loopdev_change_fd_check (dev->lo, &probe->backing, &op->binding);
    if (r < 0) {
      op_finish (op, r);
      return;
    }
    op_start_backend (op, op->fd, rebind_backend_ready);
    return;
  }

  r = loopdev_configure_check (dev->lo, &op->config, &probe->backing,
                               op->dev_writable, &op->binding);
  if (r < 0) {
    op_finish (op, r);
    return;
  }
  loopdev_configure_begin (dev->lo);
  op_start_backend (op, op->fd, configure_backend_ready);
}

/* The backing file of LOOP_SET_CAPACITY has been probed for its size. */
static void
capacity_probed (struct backing_probe *probe)
{
  struct op *op = (struct op *) ((char *) probe - offsetof (struct op, probe));
  struct device *dev = op->dev;
  int r = probe->err;

  op->fd = -1;              /* the probe looked at the device's own fd */
  if (r == 0)
    r = loopdev_set_capacity_check (dev->lo, probe->backing.size,
                                    &op->binding);
  if (r < 0 || op->binding.size == dev->lo->b.size) {
    if (r == 0)
      loopdev_set_binding (dev->lo, &op->binding);
    op_finish (op, r);
    return;
  }
  op_start_backend (op, dev->backing_fd, rebind_backend_ready);
}

/* Allocate an operation for REQ on DEV and mark the device busy. */
static struct op *
op_new (fuse_req_t req, struct device *dev, unsigned int cmd,
        const struct handle *h)
{
  struct op *op = calloc (1, sizeof *op);

  if (op == NULL)
    return NULL;
  op->req = req;
  op->dev = dev;
  op->cmd = cmd;
  op->dev_writable = h->writable;
  op->fd = -1;
  device_begin (dev);
  return op;
}

/* LOOP_SET_FD, LOOP_CONFIGURE and LOOP_CHANGE_FD: fetch the argument
 * and the caller's descriptor, then probe the file off the loop. */
static void
ioctl_bind (fuse_req_t req, struct handle *h, unsigned int cmd, void *arg)
{
  struct device *dev = h->dev;
  pid_t pid = req_caller (req);
  struct op *op = op_new (req, dev, cmd, h);
  int r;

  if (op == NULL) {
    reply_result (req, -ENOMEM);
    return;
  }
  if (cmd == LOOP_CONFIGURE) {
    r = caller_read (pid, (uintptr_t) arg, &op->config, sizeof op->config);
    if (r < 0) {
      op_finish (op, r);
      return;
    }
  }
  else
    op->config.fd = (uint32_t) (uintptr_t) arg;

  r = caller_take_fd (pid, (int) op->config.fd);
  if (r < 0) {
    op_finish (op, r);
    return;
  }
  op->fd = r;
  op->probe.fd = op->fd;
  op->probe.done = bind_probed;
  r = backing_probe_start (daemon_state.loop, &op->probe);
  if (r < 0)
    op_finish (op, r);
}

/* LOOP_SET_STATUS and LOOP_SET_STATUS64. */
static void
ioctl_set_status (fuse_req_t req, struct handle *h, unsigned int cmd,
                  void *arg)
{
  struct device *dev = h->dev;
  pid_t pid = req_caller (req);
  struct loop_info64 info64;
  struct loopdev_binding binding;
  bool resized;
  struct op *op;
  int r;

  if (cmd == LOOP_SET_STATUS) {
    struct loop_info info;
    r = caller_read (pid, (uintptr_t) arg, &info, sizeof info);
    if (r == 0)
      loopdev_info64_from_old (&info, &info64);
  }
  else
    r = caller_read (pid, (uintptr_t) arg, &info64, sizeof info64);
  if (r == 0)
    r = loopdev_set_status_check (dev->lo, &info64, &binding, &resized);
  if (r < 0 || !resized) {
    if (r == 0)
      loopdev_set_binding (dev->lo, &binding);
    reply_result (req, r);
    return;
  }
  op = op_new (req, dev, cmd, h);
  if (op == NULL) {
    reply_result (req, -ENOMEM);
    return;
  }
  op->binding = binding;
  op_start_backend (op, dev->backing_fd, rebind_backend_ready);
}

/* LOOP_SET_CAPACITY: the backing file's size is probed off the loop. */
static void
ioctl_set_capacity (fuse_req_t req, struct handle *h)
{
  struct device *dev = h->dev;
  struct loopdev_binding binding;
  struct op *op;
  int r;

  if (dev->backing_fd < 0 || dev->lo->state != LOOPDEV_BOUND) {
    r = loopdev_set_capacity_check (dev->lo, 0, &binding);
    reply_result (req, r < 0 ? r : -ENXIO);
    return;
  }
  op = op_new (req, dev, LOOP_SET_CAPACITY, h);
  if (op == NULL) {
    reply_result (req, -ENOMEM);
    return;
  }
  op->probe.fd = dev->backing_fd;
  op->probe.done = capacity_probed;
  r = backing_probe_start (daemon_state.loop, &op->probe);
  if (r < 0)
    op_finish (op, r);
}

/* LOOP_GET_STATUS and LOOP_GET_STATUS64. */
static int
ioctl_get_status (fuse_req_t req, struct device *dev, unsigned int cmd,
                  void *arg)
{
  pid_t pid = req_caller (req);
  int r;

  if (arg == NULL)
    return -EINVAL;
  if (cmd == LOOP_GET_STATUS) {
    struct loop_info info;
    r = loopdev_get_status (dev->lo, &info);
    return r < 0 ? r : caller_write (pid, (uintptr_t) arg, &info, sizeof info);
  }
  else {
    struct loop_info64 info;
    r = loopdev_get_status64 (dev->lo, &info);
    return r < 0 ? r : caller_write (pid, (uintptr_t) arg, &info, sizeof info);
  }
}

/* Write an int result of a block ioctl to the caller. */
static int
put_int (fuse_req_t req, void *arg, int value)
{
  return caller_write (req_caller (req), (uintptr_t) arg, &value,
                       sizeof value);
}

/* A BLKDISCARD or BLKZEROOUT request in flight. */
struct range_req {
  fuse_req_t req;
  struct device *dev;
  uint64_t start, len;
};

/* A BLKDISCARD or BLKZEROOUT request finished in the backend. */
static void
range_done (void *opaque, int err)
{
  struct range_req *rr = opaque;

  if (!err)
    device_invalidate_kernel_cache (rr->dev, rr->start, rr->len);
  reply_result (rr->req, err ? -EIO : 0);
  free (rr);
}

/* BLKDISCARD and BLKZEROOUT, in the order the kernel checks: the range
 * is copied in first (EFAULT), then the descriptor must be writable
 * (EBADF); a read-only device fails BLKDISCARD before the range is
 * validated and BLKZEROOUT after; a cleared device fails the I/O. */
static void
ioctl_range (fuse_req_t req, struct handle *h, unsigned int cmd, void *arg)
{
  struct loopdev *lo = h->dev->lo;
  struct backend *b = h->dev->backend;
  struct range_req *rr;
  uint64_t range[2];
  int r;

  r = caller_read (req_caller (req), (uintptr_t) arg, range, sizeof range);
  if (r == 0 && !h->writable)
    r = -EBADF;
  if (r == 0 && cmd == BLKDISCARD && loopdev_read_only (lo))
    r = -EPERM;
  if (r == 0)
    r = cmd == BLKDISCARD
      ? loopdev_check_discard_range (lo, range[0], range[1])
      : loopdev_check_zeroout_range (lo, range[0], range[1]);
  if (r == 0 && loopdev_read_only (lo))
    r = -EPERM;
  if (r == 0 && (lo->state != LOOPDEV_BOUND || b == NULL))
    r = -EIO;
  if (r < 0) {
    reply_result (req, r);
    return;
  }
  rr = malloc (sizeof *rr);
  if (rr == NULL) {
    reply_result (req, -ENOMEM);
    return;
  }
  *rr = (struct range_req) { .req = req, .dev = h->dev, .start = range[0],
                             .len = range[1] };
  if (cmd == BLKDISCARD)
    backend_trim (b, range[1], range[0], range_done, rr);
  else
    backend_zero (b, range[1], range[0], range_done, rr);
}

/* Run one ioctl on loopN. */
static void
ioctl_dispatch (fuse_req_t req, struct handle *h, unsigned int cmd,
                void *arg)
{
  struct loopdev *lo = h->dev->lo;
  struct loopdev_binding binding;
  struct loop_caller caller;
  uint64_t size64;
  int r;

  switch (cmd) {
  case LOOP_SET_FD:
  case LOOP_CONFIGURE:
  case LOOP_CHANGE_FD:
    ioctl_bind (req, h, cmd, arg);
    return;
  case LOOP_CLR_FD:
    r = loopdev_clr_fd (lo);
    break;
  case LOOP_SET_STATUS:
  case LOOP_SET_STATUS64:
  case LOOP_SET_CAPACITY:
  case LOOP_SET_DIRECT_IO:
  case LOOP_SET_BLOCK_SIZE:
    caller = caller_of (req, h);
    r = loopdev_check_permission (cmd, &caller);
    if (r < 0)
      break;
    if (cmd == LOOP_SET_STATUS || cmd == LOOP_SET_STATUS64) {
      ioctl_set_status (req, h, cmd, arg);
      return;
    }
    if (cmd == LOOP_SET_CAPACITY) {
      ioctl_set_capacity (req, h);
      return;
    }
    r = cmd == LOOP_SET_DIRECT_IO
      ? loopdev_set_direct_io_check (lo, (unsigned long) arg, &binding)
      : loopdev_set_block_size_check (lo, (unsigned long) arg, &binding);
    if (r == 0)
      loopdev_set_binding (lo, &binding);
    break;
  case LOOP_GET_STATUS:
  case LOOP_GET_STATUS64:
    r = ioctl_get_status (req, h->dev, cmd, arg);
    break;
  case BLKGETSIZE: {
    unsigned long sectors = loopdev_size (lo) >> 9;
    r = caller_write (req_caller (req), (uintptr_t) arg, &sectors,
                      sizeof sectors);
    break;
  }
  case BLKGETSIZE64:
    size64 = loopdev_size (lo);
    fuse_reply_ioctl (req, 0, &size64, sizeof size64);
    return;
  case BLKBSZGET: {
    /* Encoded as size_t, but the kernel writes an int (put_int). */
    int bsize = lo->soft_block_size;
    fuse_reply_ioctl (req, 0, &bsize, sizeof bsize);
    return;
  }
  case BLKSSZGET:
    r = put_int (req, arg, loopdev_logical_block_size (lo));
    break;
  case BLKPBSZGET:
    r = put_int (req, arg, loopdev_physical_block_size (lo));
    break;
  case BLKROGET:
    r = put_int (req, arg, loopdev_read_only (lo));
    break;
  case BLKFLSBUF:
    /* blkdev_flushbuf() wants CAP_SYS_ADMIN; loopfs keeps no cache. */
    r = caller_capable (req_caller (req), CAP_SYS_ADMIN) ? 0 : -EACCES;
    break;
  case BLKDISCARD:
  case BLKZEROOUT:
    ioctl_range (req, h, cmd, arg);
    return;
  default:
    /* lo_simple_ioctl() answers any other number with EINVAL. */
    r = -EINVAL;
    break;
  }
  reply_result (req, r);
}

/* An ioctl on loopN: run it, or queue it behind a transition. */
void
ioctl_device (fuse_req_t req, struct handle *h, unsigned int cmd, void *arg)
{
  if (device_busy (h->dev)) {
    int r = device_queue_ioctl (h->dev, req, h, cmd, arg);
    if (r < 0)
      reply_result (req, r);
    return;
  }
  ioctl_dispatch (req, h, cmd, arg);
}
