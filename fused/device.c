/* loopfsd: backends, descriptors and ioctl queues of loop devices. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "backing.h"
#include "device.h"

struct pending_ioctl {
  struct pending_ioctl *next;
  fuse_req_t req;
  struct handle *h;
  unsigned int cmd;
  void *arg;
};

/* A backend being started for a transition. */
struct start_ctx {
  struct daemon *d;
  struct device *dev;
  device_backend_cb cb;
  void *opaque;
};

/* The daemon's state of model device LO. */
struct device *
device_of (struct loopdev *lo)
{
  return lo->priv;
}

/* The backend serving DEV, or NULL. */
struct backend *
device_backend (const struct device *dev)
{
  return dev->backend;
}

/* True while a transition of DEV is in progress. */
bool
device_busy (const struct device *dev)
{
  return dev->busy;
}

/* FUSE generation of the node of LO. */
uint64_t
device_generation (const struct loopdev *lo)
{
  const struct device *dev = lo->priv;
  return dev ? dev->generation : 0;
}

/* A device is being created: it takes a share of the mounter's limit
 * across instances (ENOSPC when none is left) and gets its daemon
 * state. */
static int
device_created (void *opaque, struct loopdev *lo)
{
  struct daemon *d = opaque;
  struct device *dev = calloc (1, sizeof *dev);
  int r;

  if (dev == NULL)
    return -ENOMEM;
  r = user_limit_take (&d->user_limit, &dev->slot);
  if (r < 0) {
    free (dev);
    return r;
  }
  dev->lo = lo;
  dev->generation = ++d->generation;
  dev->backing_fd = -1;
  dev->queue_tail = &dev->queue;
  lo->priv = dev;
  return 0;
}

/* A device is being destroyed (removed, unlinked, or the instance is
 * going away): its share of the limit and its daemon state go. */
static void
device_destroyed (void *opaque, struct loopdev *lo)
{
  struct daemon *d = opaque;
  struct device *dev = lo->priv;

  backing_close (d->loop, dev->backing_fd);
  user_limit_give_back (&d->user_limit, &dev->slot);
  free (dev);
  lo->priv = NULL;
}

const struct instance_hooks device_hooks = {
  .created = device_created,
  .destroyed = device_destroyed,
};

/* One backend finished stopping. */
static void
backend_stopped (void *opaque)
{
  struct daemon *d = opaque;

  d->stopping_backends--;
  if (d->exiting && d->stopping_backends == 0)
    fuse_loop_stop (d);
}

/* Stop backend B in the background. */
static void
stop_backend (struct daemon *d, struct backend *b)
{
  d->stopping_backends++;
  backend_stop (b, backend_stopped, d);
}

/* The backend for a transition is ready or failed. */
static void
start_ready (struct backend *b, int err, void *opaque)
{
  struct start_ctx *ctx = opaque;

  ctx->cb (ctx->dev, err ? NULL : b, err, ctx->opaque);
  free (ctx);
}

/* Start a backend serving BINDING from FD on DEV. */
int
device_start_backend (struct daemon *d, struct device *dev,
                      const struct loopdev_binding *binding, int fd,
                      device_backend_cb cb, void *opaque)
{
  struct start_ctx *ctx;
  char name[32];
  struct backend_config config = {
    .fd = fd,
    .offset = binding->offset,
    .length = binding->size,
    .read_only = (binding->flags & LO_FLAGS_READ_ONLY) != 0,
    .connections = d->opts.connections,
    .uid = d->switch_ids ? dev->backing_uid : (uid_t) -1,
    .gid = d->switch_ids ? dev->backing_gid : (gid_t) -1,
    .runtime_dir = d->runtime_dir,
    .name = name,
  };
  int r;

  snprintf (name, sizeof name, "loop%d", dev->lo->number);
  ctx = malloc (sizeof *ctx);
  if (ctx == NULL)
    return -ENOMEM;
  *ctx = (struct start_ctx) { .d = d, .dev = dev, .cb = cb, .opaque = opaque };
  r = backend_start (d->loop, &config, start_ready, ctx);
  if (r < 0)
    free (ctx);
  return r;
}

/* Make B the backend of DEV; the previous one is stopped. */
void
device_install_backend (struct daemon *d, struct device *dev,
                        struct backend *b, int fd)
{
  if (dev->backend)
    stop_backend (d, dev->backend);
  if (dev->backing_fd != fd)
    backing_close (d->loop, dev->backing_fd);
  dev->backend = b;
  dev->backing_fd = fd;
}

/* An open handle of DEV went away: the last close of a device marked
 * for clearing (AUTOCLEAR or an earlier LOOP_CLR_FD) clears it now, as
 * lo_release() does.  The backend stops in the background, so the
 * device is unbound, and free for LOOP_CTL_GET_FREE, at once. */
void
device_handle_release (struct daemon *d, struct device *dev)
{
  if (!loopdev_release (dev->lo))
    return;
  device_install_backend (d, dev, NULL, -1);
  loopdev_cleared (dev->lo);
}

/* Stop the backend of every device: the instance is going away. */
void
device_stop_all (struct daemon *d)
{
  size_t i;

  for (i = 0; i < d->inst.devs.len; i++) {
    struct device *dev = d->inst.devs.ptr[i]->priv;
    if (dev && dev->backend)
      device_install_backend (d, dev, NULL, -1);
  }
}

/* Queue an ioctl on a busy device. */
int
device_queue_ioctl (struct device *dev, fuse_req_t req, struct handle *h,
                    unsigned int cmd, void *arg)
{
  struct pending_ioctl *p = malloc (sizeof *p);

  if (p == NULL)
    return -ENOMEM;
  *p = (struct pending_ioctl) { .req = req, .h = h, .cmd = cmd, .arg = arg };
  *dev->queue_tail = p;
  dev->queue_tail = &p->next;
  return 0;
}

/* Mark DEV busy: later ioctls wait. */
void
device_begin (struct device *dev)
{
  dev->busy = true;
}

/* The transition of DEV is over: run the ioctls that waited, in order,
 * until one of them starts another transition. */
void
device_end (struct device *dev)
{
  dev->busy = false;
  while (!dev->busy && dev->queue) {
    struct pending_ioctl *p = dev->queue;
    dev->queue = p->next;
    if (dev->queue == NULL)
      dev->queue_tail = &dev->queue;
    ioctl_device (p->req, p->h, p->cmd, p->arg);
    free (p);
  }
}
