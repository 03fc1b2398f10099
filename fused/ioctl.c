/* loopfsd: where loop ioctls are decoded.
 *
 * Each ioctl's argument is fetched from the caller in the order the
 * kernel fetches it (so a bad pointer gives EFAULT at the same point),
 * its meaning is asked of the model (control/), and changes that need
 * a new backend run as a bind transaction (binding.c) that answers
 * through a callback.  While a transaction is under way on a device,
 * its later ioctls wait in the device's queue and run in order once it
 * is over, as the kernel's lo_mutex serialises them.
 *
 * FUSE forwards these ioctls "restricted": LOOP_* numbers encode no
 * size, so the raw argument arrives here and is read from or written
 * to the caller's memory through an ioctl call (ioctl-call.h).  The
 * generic block ioctls are answered in ioctl-block.c, BLKPG and a
 * partition's own in partition-ioctl.c; a 32-bit caller's are
 * translated in ioctl-compat.c on their way here.
 */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <linux/loop.h>

#include "binding.h"
#include "caller.h"
#include "ioctl-block.h"
#include "ioctl-call.h"
#include "ioctl.h"
#include "log.h"
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
    r = node_watch_add (d->watch, ioctl_caller_pid (req), (int) parm);
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
    ioctl_reply_result (req, -ENOMEM);
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
    ioctl_reply_result (t->req, result);
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

/* Bind with the caller's descriptor FD_NUMBER and CONFIG. */
static void
bind_with (struct transaction_req *t, fuse_req_t req, struct handle *h,
           unsigned int cmd, const struct loop_config *config)
{
  int fd = caller_take_fd (ioctl_caller_pid (req), (int) config->fd);

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
  struct transaction_req *t = call->owner;

  if (copy->result < 0)
    transaction_done (t, copy->result);
  else
    bind_with (t, call->req, call->h, call->cmd, &call->data.config);
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
  int r;

  if (t == NULL)
    return;
  if (cmd != LOOP_CONFIGURE) {
    bind_with (t, req, h, cmd, &config);
    return;
  }
  /* Not ioctl_call_new: a failure ends the transaction, which answers. */
  call = calloc (1, sizeof *call);
  if (call == NULL) {
    transaction_done (t, -ENOMEM);
    return;
  }
  *call = (struct ioctl_call) { .req = req, .h = h, .cmd = cmd, .owner = t };
  r = ioctl_call_start (call, arg, sizeof call->data.config, false,
                        config_read);
  if (r < 0) {
    transaction_done (t, r);
    free (call);
  }
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
    ioctl_reply_result (req, r);
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
    ioctl_reply_result (req, r);
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
  struct ioctl_call *call = ioctl_call_new (req, h, cmd);

  if (call)
    ioctl_call_copy (call, arg, cmd == LOOP_SET_STATUS
                     ? sizeof call->data.info : sizeof call->data.info64,
                     false, status_read);
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
    ioctl_reply_result (req, r < 0 ? r : -ENXIO);
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
      ioctl_reply_by_writing (req, arg, &info, sizeof info);
      return;
    }
  }
  else {
    r = loopdev_get_status64 (dev->lo, &info64);
    if (r == 0) {
      ioctl_reply_by_writing (req, arg, &info64, sizeof info64);
      return;
    }
  }
  ioctl_reply_result (req, r);
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
    caller = ioctl_caller_of (req, h);
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
    if (ioctl_block (req, h, cmd, arg))
      return;
    /* lo_simple_ioctl() answers any other number with EINVAL. */
    r = -EINVAL;
    break;
  }
  ioctl_reply_result (req, r);
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
    ioctl_reply_result (req, -ENOMEM);
    return;
  }
  *p = (struct pending_ioctl) { .req = req, .h = h, .cmd = cmd, .arg = arg,
                                .compat = compat };
  for (tail = &dev->queue; *tail; tail = &(*tail)->next)
    ;
  *tail = p;
}
