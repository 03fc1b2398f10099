/* loopfsd: where loop and block ioctls are decoded.
 *
 * Each ioctl's argument is fetched from the caller in the order the
 * kernel fetches it (so a bad pointer gives EFAULT at the same point),
 * its meaning is asked of the model (control/), and changes that need
 * a new backend run as a bind transaction (binding.c) that answers
 * through a callback.  While a transaction is under way on a device,
 * its later ioctls wait in the device's queue and run in order once it
 * is over, as the kernel's lo_mutex serialises them.
 *
 * FUSE forwards these ioctls "restricted": LOOP_* and most BLK* numbers
 * encode no size, so the raw argument arrives here and caller.c reads or
 * writes the caller's memory.  BLKGETSIZE64, BLKBSZGET, BLKBSZSET,
 * BLKGETDISKSEQ, BLKGETZONESZ, BLKGETNRZONES and the zone ioctls do
 * encode a size: for them the kernel copies the argument in, or our
 * reply out, itself (a bad pointer fails there: DIFFERENCES.md D5).
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

#include "binding.h"
#include "block-attrs.h"
#include "block-range.h"
#include "caller.h"
#include "io.h"
#include "log.h"
#include "ioctl.h"
#include "node-watch.h"
#include "partition-ioctl.h"
#include "partition-scan.h"

/* An ioctl waiting for its device's transaction to end. */
struct pending_ioctl {
  struct pending_ioctl *next;
  fuse_req_t req;
  struct handle *h;
  unsigned int cmd;
  void *arg;
  bool compat;                   /* from a 32-bit caller */
};

/* The request of a bind transaction, answered when it is over (none
 * for a transaction the daemon starts itself: ioctl_restack). */
struct transaction_req {
  fuse_req_t req;
  struct device *dev;
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

/* LOOP_CTL_* on loop-control, and LOOPFS_CTL_WATCH.  The answer waits
 * until the node watchers have made or removed the /dev entries of the
 * nodes the call made or removed (node-watch.h), as the kernel's
 * devtmpfs has the node before LOOP_CTL_ADD returns. */
void
ioctl_control (fuse_req_t req, unsigned int cmd, void *arg)
{
  struct daemon *d = fuse_req_userdata (req);
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
    r = instance_remove (&d->inst, parm);
    break;
  case LOOPFS_CTL_WATCH:
    r = node_watch_add (d->watch, req_caller (req), (int) parm);
    break;
  default:
    /* loop_control_ioctl() answers ENOSYS. */
    r = -ENOSYS;
    break;
  }
  node_watch_reply (d->watch, req, true, r);
}

/* Mark DEV busy for a bind transaction answering REQ.  Returns what to
 * hand the transaction as its DONE argument, or NULL with REQ answered
 * (ENOMEM). */
static struct transaction_req *
transaction_begin (fuse_req_t req, struct device *dev)
{
  struct transaction_req *t = malloc (sizeof *t);

  if (t == NULL) {
    reply_result (req, -ENOMEM);
    return NULL;
  }
  *t = (struct transaction_req) { .req = req, .dev = dev };
  dev->busy = true;
  return t;
}

/* A bind transaction is over: scan the partitions if it calls for it
 * (partitions.h), answer its request, then run the ioctls that waited,
 * in order, until one of them starts another one. */
static void
transaction_done (void *opaque, int result)
{
  struct transaction_req *t = opaque;
  struct device *dev = t->dev;

  if (result == 0 && t->req
      && partitions_scan_if_due (fuse_req_userdata (t->req), dev,
                                 transaction_done, t))
    return;
  if (t->req)
    reply_result (t->req, result);
  else if (result < 0)
    log_error ("loop%d: following the device below it: %s",
               dev->lo->number, strerror (-result));
  free (t);
  dev->busy = false;
  if (dev->restack.due) {
    dev->restack.due = false;
    if (!ioctl_restack (dev->restack.d, dev, dev->restack.done,
                        dev->restack.opaque))
      dev->restack.done (dev->restack.opaque);
  }
  while (!dev->busy && dev->queue) {
    struct pending_ioctl *p = dev->queue;
    dev->queue = p->next;
    if (p->compat)
      ioctl_compat_dispatch (p->req, p->h, p->cmd, p->arg);
    else
      ioctl_dispatch (p->req, p->h, p->cmd, p->arg);
    free (p);
  }
}

/* An ioctl waiting for a copy from or to its caller's memory. */
struct ioctl_call {
  struct caller_copy copy;       /* first: the copy is the call */
  fuse_req_t req;
  struct handle *h;
  unsigned int cmd;
  struct transaction_req *t;     /* LOOP_CONFIGURE's transaction */
  union {
    struct loop_config config;
    struct loop_info info;
    struct loop_info64 info64;
    uint64_t range[2];
    unsigned long ulong;
    int i;
  } data;
};

/* Copy LEN bytes of CALL->data to or from the caller's ARG off the loop,
 * then run THEN (CALL) on the loop.  If the copy cannot start, CALL is
 * freed and its request answered with the error. */
static void
call_copy (struct ioctl_call *call, void *arg, size_t len, bool to_caller,
           void (*then) (struct caller_copy *copy))
{
  int r;

  call->copy = (struct caller_copy) {
    .pid = req_caller (call->req), .addr = (uintptr_t) arg,
    .buf = &call->data, .len = len, .to_caller = to_caller, .done = then,
  };
  r = caller_copy_start (&call->copy);
  if (r < 0) {
    if (call->t)
      transaction_done (call->t, r);
    else
      reply_result (call->req, r);
    free (call);
  }
}

/* A new call for REQ on handle H, or NULL with REQ answered (ENOMEM). */
static struct ioctl_call *
call_new (fuse_req_t req, struct handle *h, unsigned int cmd)
{
  struct ioctl_call *call = calloc (1, sizeof *call);

  if (call == NULL)
    reply_result (req, -ENOMEM);
  else {
    call->req = req;
    call->h = h;
    call->cmd = cmd;
  }
  return call;
}

/* A result has been written to the caller: answer. */
static void
result_written (struct caller_copy *copy)
{
  struct ioctl_call *call = (struct ioctl_call *) copy;

  reply_result (call->req, copy->result);
  free (call);
}

/* Answer REQ by writing LEN bytes of DATA to the caller's ARG. */
static void
reply_by_writing (fuse_req_t req, void *arg, const void *data, size_t len)
{
  struct ioctl_call *call = call_new (req, NULL, 0);

  if (call == NULL)
    return;
  memcpy (&call->data, data, len);
  call_copy (call, arg, len, true, result_written);
}

/* Bind with the caller's descriptor FD_NUMBER and CONFIG. */
static void
bind_with (struct transaction_req *t, fuse_req_t req, struct handle *h,
           unsigned int cmd, const struct loop_config *config)
{
  int fd = caller_take_fd (req_caller (req), (int) config->fd);

  if (fd < 0) {
    transaction_done (t, fd);
    return;
  }
  if (cmd == LOOP_CHANGE_FD)
    binding_change_fd (fuse_req_userdata (req), t->dev, fd, transaction_done,
                       t);
  else
    binding_configure (fuse_req_userdata (req), t->dev, config, fd,
                       h->writable, transaction_done, t);
}

/* LOOP_CONFIGURE's struct loop_config has been read. */
static void
config_read (struct caller_copy *copy)
{
  struct ioctl_call *call = (struct ioctl_call *) copy;

  if (copy->result < 0)
    transaction_done (call->t, copy->result);
  else
    bind_with (call->t, call->req, call->h, call->cmd, &call->data.config);
  free (call);
}

/* LOOP_SET_FD, LOOP_CONFIGURE and LOOP_CHANGE_FD: fetch the argument
 * (EFAULT first) and the caller's descriptor (EBADF), then bind.  The
 * device is busy from here on, so later ioctls wait for the answer. */
static void
ioctl_bind (fuse_req_t req, struct handle *h, unsigned int cmd, void *arg)
{
  struct transaction_req *t = transaction_begin (req, h->dev);
  struct loop_config config = { .fd = (uint32_t) (uintptr_t) arg };
  struct ioctl_call *call;

  if (t == NULL)
    return;
  if (cmd != LOOP_CONFIGURE) {
    bind_with (t, req, h, cmd, &config);
    return;
  }
  call = calloc (1, sizeof *call);
  if (call == NULL) {
    transaction_done (t, -ENOMEM);
    return;
  }
  *call = (struct ioctl_call) { .req = req, .h = h, .cmd = cmd, .t = t };
  call_copy (call, arg, sizeof call->data.config, false, config_read);
}

/* LOOP_SET_STATUS(64)'s struct loop_info(64) has been read: a new offset
 * or size limit needs a new backend. */
static void
status_read (struct caller_copy *copy)
{
  struct ioctl_call *call = (struct ioctl_call *) copy;
  struct device *dev = call->h->dev;
  fuse_req_t req = call->req;
  struct loop_info64 info64 = call->data.info64;
  int r = copy->result;

  if (r == 0 && call->cmd == LOOP_SET_STATUS)
    loopdev_info64_from_old (&call->data.info, &info64);
  free (call);
  if (r < 0)
    reply_result (req, r);
  else
    ioctl_apply_status (req, dev, &info64);
}

/* Set DEV's status to INFO64 as loop_set_status() does, answering REQ. */
void
ioctl_apply_status (fuse_req_t req, struct device *dev,
                    const struct loop_info64 *info64)
{
  struct loopdev_binding binding;
  struct transaction_req *t;
  bool resized = false;
  int r;

  r = loopdev_set_status_check (dev->lo, info64, &binding, &resized);
  if (r < 0) {
    reply_result (req, r);
    return;
  }
  /* Without a new backend the change is done, but a newly set
   * LO_FLAGS_PARTSCAN still scans (transaction_done). */
  if (!resized)
    loopdev_set_binding (dev->lo, &binding);
  t = transaction_begin (req, dev);
  if (t && !resized)
    transaction_done (t, 0);
  else if (t)
    binding_rebind (fuse_req_userdata (req), dev, &binding, transaction_done,
                    t);
}

/* LOOP_SET_STATUS and LOOP_SET_STATUS64. */
static void
ioctl_set_status (fuse_req_t req, struct handle *h, unsigned int cmd,
                  void *arg)
{
  struct ioctl_call *call = call_new (req, h, cmd);

  if (call)
    call_copy (call, arg, cmd == LOOP_SET_STATUS ? sizeof (struct loop_info)
               : sizeof (struct loop_info64), false, status_read);
}

/* LOOP_SET_CAPACITY: the backing file's size is probed off the loop. */
static void
ioctl_set_capacity (fuse_req_t req, struct handle *h)
{
  struct device *dev = h->dev;
  struct loopdev_binding binding;
  struct transaction_req *t;
  int r;

  if (dev->backing_fd < 0 || dev->lo->state != LOOPDEV_BOUND) {
    r = loopdev_set_capacity_check (dev->lo, 0, &binding);
    reply_result (req, r < 0 ? r : -ENXIO);
    return;
  }
  t = transaction_begin (req, dev);
  if (t)
    binding_set_capacity (fuse_req_userdata (req), dev, transaction_done, t);
}

/* LOOP_GET_STATUS and LOOP_GET_STATUS64. */
static void
ioctl_get_status (fuse_req_t req, struct device *dev, unsigned int cmd,
                  void *arg)
{
  struct loop_info info;
  struct loop_info64 info64;
  int r;

  if (arg == NULL)
    r = -EINVAL;
  else if (cmd == LOOP_GET_STATUS) {
    r = loopdev_get_status (dev->lo, &info);
    if (r == 0) {
      reply_by_writing (req, arg, &info, sizeof info);
      return;
    }
  }
  else {
    r = loopdev_get_status64 (dev->lo, &info64);
    if (r == 0) {
      reply_by_writing (req, arg, &info64, sizeof info64);
      return;
    }
  }
  reply_result (req, r);
}

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
    reply_result (req, r);
    return;
  }
  io_discard_range (req, dev, start, len, cmd == BLKZEROOUT);
}

/* BLKDISCARD and BLKZEROOUT: the range is copied in first (EFAULT). */
static void
ioctl_range (fuse_req_t req, struct handle *h, unsigned int cmd, void *arg)
{
  struct ioctl_call *call = call_new (req, h, cmd);

  if (call)
    call_copy (call, arg, sizeof call->data.range, false, range_read);
}

/* Answer a block ioctl that returns an int in the caller's memory. */
static void
reply_int (fuse_req_t req, void *arg, int value)
{
  reply_by_writing (req, arg, &value, sizeof value);
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
  reply_result (call->req, r);
  free (call);
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
    reply_by_writing (req, arg, &v, width);
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
    reply_result (req, r);
    return;
  }
  switch (cmd) {
  case BLKRASET:
  case BLKFRASET:
  case BLKROSET:
  case BLKBSZSET:
    caller = caller_of (req, h);
    r = loopdev_block_attr_permission (cmd, &caller);
    if (r < 0)
      reply_result (req, r);
    else if (cmd == BLKRASET || cmd == BLKFRASET) {
      loopdev_set_read_ahead (lo, (unsigned long) arg);
      reply_result (req, 0);
    }
    else if ((call = call_new (req, h, cmd)) != NULL)
      /* BLKBSZSET encodes a size_t, so FUSE has checked the memory,
       * but the kernel reads an int (get_user) from the caller. */
      call_copy (call, arg, sizeof call->data.i, false, int_setting_read);
    return;
  default:
    r = loopdev_block_attr_get (lo, cmd, arg == NULL, &value);
    if (r < 0)
      reply_result (req, r);
    else
      reply_width (req, cmd, arg, value, r);
    return;
  }
}

/* Run one ioctl on loopN (not busy). */
void
ioctl_dispatch (fuse_req_t req, struct handle *h, unsigned int cmd,
                void *arg)
{
  struct loopdev *lo = h->dev->lo;
  struct loopdev_binding binding;
  struct loop_caller caller;
  struct transaction_req *t;
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
    ioctl_get_status (req, h->dev, cmd, arg);
    return;
  case BLKGETSIZE: {
    unsigned long sectors = loopdev_size (lo) >> 9;
    reply_by_writing (req, arg, &sectors, sizeof sectors);
    return;
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
    reply_int (req, arg, loopdev_logical_block_size (lo));
    return;
  case BLKPBSZGET:
    reply_int (req, arg, loopdev_physical_block_size (lo));
    return;
  case BLKFLSBUF:
    /* blkdev_flushbuf() wants CAP_SYS_ADMIN; loopfs keeps no cache. */
    r = caller_capable (req_caller (req), CAP_SYS_ADMIN) ? 0 : -EACCES;
    break;
  case BLKDISCARD:
  case BLKZEROOUT:
    ioctl_range (req, h, cmd, arg);
    return;
  case BLKPG:
    partition_ioctl_blkpg (req, h, arg);
    return;
  case BLKRRPART:
    r = partitions_rescan_check (req, h->dev);
    if (r == 0 && (t = transaction_begin (req, h->dev)) != NULL)
      partitions_rescan (fuse_req_userdata (req), h->dev, transaction_done, t);
    if (r == 0)
      return;
    break;
  default:
    if (loopdev_is_block_attr (cmd)) {
      ioctl_block_attr (req, h, cmd, arg);
      return;
    }
    /* lo_simple_ioctl() answers any other number with EINVAL. */
    r = -EINVAL;
    break;
  }
  reply_result (req, r);
}

/* The device UPPER is stacked on got a new backend: UPPER's nbdkit, a
 * client of the old one, is replaced by one on the new one, through a
 * transaction of its own (its ioctls wait meanwhile).  A transaction
 * already under way on UPPER started its nbdkit on the lower device's
 * backend of then, which may be the old one: logged, not followed. */
struct restack {
  struct transaction_req *t;
  void (*done) (void *opaque);
  void *opaque;
};

/* A restack is over: end its transaction (the ioctls that waited run),
 * then tell whoever asked. */
static void
restack_done (void *opaque, int result)
{
  struct restack *r = opaque;
  void (*done) (void *) = r->done;
  void *done_opaque = r->opaque;

  transaction_done (r->t, result);
  free (r);
  done (done_opaque);
}

bool
ioctl_restack (struct daemon *d, struct device *upper,
               void (*done) (void *opaque), void *opaque)
{
  struct transaction_req *t;
  struct restack *r;

  /* A transaction under way (its nbdkit may be a client of the old
   * backend) is followed by the move. */
  if (upper->busy) {
    if (upper->restack.due)
      return false;
    upper->restack.due = true;
    upper->restack.d = d;
    upper->restack.done = done;
    upper->restack.opaque = opaque;
    return true;
  }
  /* Nothing to move: the transaction that was under way failed or
   * bound the device on something else. */
  if (upper->lo->state != LOOPDEV_BOUND || upper->backend == NULL
      || upper->lower == NULL) {
    done (opaque);
    return true;
  }
  t = malloc (sizeof *t);
  r = malloc (sizeof *r);
  if (t == NULL || r == NULL) {
    free (t);
    free (r);
    log_error ("loop%d: cannot follow the device below it: %s",
               upper->lo->number, strerror (ENOMEM));
    done (opaque);
    return true;
  }
  *t = (struct transaction_req) { .req = NULL, .dev = upper };
  *r = (struct restack) { .t = t, .done = done, .opaque = opaque };
  upper->busy = true;
  binding_rebind (d, upper, &upper->lo->b, restack_done, r);
  return true;
}

/* An ioctl on loopN: run it, or queue it behind a bind transaction. */
void
ioctl_device (fuse_req_t req, struct handle *h, unsigned int cmd, void *arg,
              bool compat)
{
  struct device *dev = h->dev;
  struct pending_ioctl *p, **tail;

  if (!dev->busy) {
    if (compat)
      ioctl_compat_dispatch (req, h, cmd, arg);
    else
      ioctl_dispatch (req, h, cmd, arg);
    return;
  }

  p = malloc (sizeof *p);
  if (p == NULL) {
    reply_result (req, -ENOMEM);
    return;
  }
  *p = (struct pending_ioctl) { .req = req, .h = h, .cmd = cmd, .arg = arg,
                                .compat = compat };
  for (tail = &dev->queue; *tail; tail = &(*tail)->next)
    ;
  *tail = p;
}
