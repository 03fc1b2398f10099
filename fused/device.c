/* loopfsd: backends, descriptors and ioctl queues of loop devices. */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>

#include "backing.h"
#include "device.h"
#include "kernel-attach.h"
#include "kernel-nbd.h"
#include "log.h"
#include "reaper.h"

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
  dev->nbd_index = -1;
  dev->nbd_fd = -1;
  kernel_attach_link_init (&dev->nbd_link);
  kernel_attach_link_init (&dev->next_nbd_link);
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
  kernel_attach_link_close (&dev->nbd_link);
  kernel_attach_link_close (&dev->next_nbd_link);
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

/* Stop backend B that never served its device. */
void
device_discard_backend (struct daemon *d, struct backend *b)
{
  stop_backend (d, b);
}

/* The identifier of DEV's kernel NBD device: it names the instance and
 * the device, so a later daemon can find devices whose owner died. */
static void
nbd_identifier (const struct daemon *d, const struct device *dev, char *buf,
                size_t size)
{
  if (kernel_nbd_make_identifier (d->instance_id, dev->lo->number, buf,
                                  size) < 0)
    snprintf (buf, size, KERNEL_NBD_IDENTIFIER_PREFIX "?");
}

/* A backend being retired together with its kernel NBD device. */
/* How long nbdkit keeps serving after its kernel device is
 * disconnected. */
#define RETIRE_GRACE_MS 250

struct retire_work {
  uv_work_t work;
  uv_timer_t grace;
  struct daemon *d;
  struct backend *b;
  uint32_t nbd_index;
  int nbd_fd;
  struct kernel_attach_link link;
  char identifier[KERNEL_NBD_IDENTIFIER_MAX];
};

/* Disconnect the kernel device (thread pool side): the kernel flushes
 * and fails what is queued while nbdkit still answers. */
static void
retire_disconnect (uv_work_t *work)
{
  struct retire_work *w = work->data;
  int r;

  /* The kernel keeps a device's configuration until its last close. */
  if (w->nbd_fd >= 0)
    close (w->nbd_fd);
  r = kernel_nbd_disconnect (w->nbd_index, w->identifier);
  kernel_attach_link_close (&w->link);

  if (r < 0)
    log_error ("disconnecting /dev/nbd%u: %s", w->nbd_index, strerror (-r));
}

/* Free a retire request once its timer is closed. */
static void
retire_free (uv_handle_t *timer)
{
  free (timer->data);
}

/* The grace period is over: nbdkit may go. */
static void
retire_grace_over (uv_timer_t *timer)
{
  struct retire_work *w = timer->data;

  backend_stop (w->b, backend_stopped, w->d);
  uv_close ((uv_handle_t *) timer, retire_free);
}

/* The kernel device is disconnected.  Requests it sent before its
 * NBD_CMD_DISC may still be on their way through nbdkit, which would
 * answer them ESHUTDOWN once told to stop; give them a moment. */
static void
retire_stop (uv_work_t *work, int status)
{
  struct retire_work *w = work->data;

  (void) status;
  uv_timer_init (w->d->loop, &w->grace);
  w->grace.data = w;
  uv_timer_start (&w->grace, retire_grace_over, RETIRE_GRACE_MS, 0);
}

/* Retire backend B of DEV, which kernel device NBD_INDEX (or -1) also
 * uses: the kernel device must be disconnected before nbdkit ends, or
 * its I/O would wait for the dead-connection timeout.  Our descriptors
 * of its sockets (LINK, emptied) are closed after the disconnect. */
static void
retire_backend (struct daemon *d, struct device *dev, struct backend *b,
                int nbd_index, int nbd_fd, struct kernel_attach_link *link)
{
  struct retire_work *w;

  if (nbd_index < 0 || (w = calloc (1, sizeof *w)) == NULL) {
    kernel_attach_link_close (link);
    backing_close (d->loop, nbd_fd);
    stop_backend (d, b);
    return;
  }
  d->stopping_backends++;
  w->d = d;
  w->b = b;
  w->nbd_index = nbd_index;
  w->nbd_fd = nbd_fd;
  w->link = *link;
  kernel_attach_link_init (link);
  nbd_identifier (d, dev, w->identifier, sizeof w->identifier);
  w->work.data = w;
  if (uv_queue_work (d->loop, &w->work, retire_disconnect, retire_stop) < 0) {
    d->stopping_backends--;
    kernel_attach_link_close (&w->link);
    free (w);
    backing_close (d->loop, nbd_fd);
    stop_backend (d, b);
  }
}

/* A kernel attach in progress. */
struct attach_work {
  uv_work_t work;
  struct daemon *d;
  struct device *dev;
  struct backend *b;
  struct kernel_attach_config config;
  char socket_path[108];
  char identifier[KERNEL_NBD_IDENTIFIER_MAX];
  int resize_index;         /* the device to move to B in place, or -1 */
  int resize_fd;            /* its descriptor (the device's), or -1 */
  struct kernel_attach_link link;  /* its sockets, then the new device's */
  bool resized;             /* resize_index was moved to B */
  uint32_t index;
  int nbd_fd;
  int err;
  char msg[256];
  char resize_msg[256];     /* why the move failed */
  device_attach_cb cb;
  void *opaque;
};

/* Attach (thread pool side): move the device in place if there is one
 * to move, else (or if that fails) attach a new one. */
static void
attach_run (uv_work_t *work)
{
  struct attach_work *w = work->data;

  char path[32];

  w->nbd_fd = -1;
  if (w->resize_index >= 0) {
    int r;

    /* Pages written through /dev/nbdX but still in its cache go to the
     * old backend, as a loop device syncs before a change of its
     * binding. */
    if (w->resize_fd >= 0)
      fsync (w->resize_fd);
    r = kernel_attach_resize (&w->config, w->resize_index, &w->link,
                                  w->resize_msg, sizeof w->resize_msg);
    if (r == 0) {
      w->index = w->resize_index;
      w->resized = true;
      w->err = 0;
      return;
    }
    kernel_attach_link_close (&w->link);
  }
  w->err = kernel_attach (&w->config, &w->index, &w->link, w->msg,
                          sizeof w->msg);
  if (w->err == 0) {
    snprintf (path, sizeof path, "/dev/nbd%u", w->index);
    w->nbd_fd = open (path, O_RDONLY | O_CLOEXEC);
  }
}

/* Report the attach.  In auto mode a failure only loses the kernel
 * device; with nbd=on it fails the bind.  A device moved in place keeps
 * its descriptor, whose cached pages may be of another backing file or
 * offset (LOOP_CHANGE_FD, LOOP_SET_STATUS64): they are dropped. */
static void
attach_done (uv_work_t *work, int status)
{
  struct attach_work *w = work->data;
  struct device *dev = w->dev;
  int index = -1, nbd_fd = -1, err = 0;

  if (status < 0 && w->err == 0)
    w->err = -ECANCELED;
  if (w->resize_index >= 0 && !w->resized)
    log_error ("loop%d: resizing /dev/nbd%d in place: %s; attaching anew",
               dev->lo->number, w->resize_index, w->resize_msg);
  if (w->err == 0) {
    index = w->index;
    kernel_attach_link_close (&dev->next_nbd_link);
    dev->next_nbd_link = w->link;
    if (w->resized) {
      nbd_fd = dev->nbd_fd;
      if (nbd_fd >= 0)
        posix_fadvise (nbd_fd, 0, 0, POSIX_FADV_DONTNEED);
    }
    else
      nbd_fd = w->nbd_fd;
  }
  else {
    kernel_attach_link_close (&w->link);
    log_error ("loop%d: attaching /dev/nbd: %s", dev->lo->number, w->msg);
    if (w->d->opts.nbd == NBD_MODE_ON)
      err = -w->err;
  }
  w->cb (dev, w->b, index, nbd_fd, err, w->opaque);
  free (w);
}

/* Attach new backend B of DEV to a kernel NBD device, then call CB.  A
 * device DEV's current backend has attached moves to B: the attach takes
 * our descriptors of its sockets along. */
void
device_kernel_attach (struct daemon *d, struct device *dev, struct backend *b,
                      const struct loopdev_binding *binding,
                      device_attach_cb cb, void *opaque)
{
  struct attach_work *w = d->nbd ? calloc (1, sizeof *w) : NULL;

  if (w == NULL) {
    cb (dev, b, -1, -1, d->nbd && d->opts.nbd == NBD_MODE_ON ? ENOMEM : 0,
        opaque);
    return;
  }
  *w = (struct attach_work) { .d = d, .dev = dev, .b = b, .cb = cb,
                              .opaque = opaque, .resize_index = -1,
                              .resize_fd = -1 };
  kernel_attach_link_init (&w->link);
  if (dev->backend && dev->nbd_index >= 0 && dev->nbd_link.n_sockets > 0) {
    w->resize_index = dev->nbd_index;
    w->resize_fd = dev->nbd_fd;
    w->link = dev->nbd_link;
    kernel_attach_link_init (&dev->nbd_link);
  }
  snprintf (w->socket_path, sizeof w->socket_path, "%s",
            backend_socket_path (b));
  nbd_identifier (d, dev, w->identifier, sizeof w->identifier);
  w->config = (struct kernel_attach_config) {
    .socket_path = w->socket_path,
    .connections = d->opts.connections,
    .block_size = binding->block_size,
    .read_only = (binding->flags & LO_FLAGS_READ_ONLY) != 0,
    .identifier = w->identifier,
  };
  w->work.data = w;
  if (uv_queue_work (d->loop, &w->work, attach_run, attach_done) < 0) {
    kernel_attach_link_close (&w->link);
    free (w);
    cb (dev, b, -1, -1, d->opts.nbd == NBD_MODE_ON ? ENOMEM : 0, opaque);
  }
}

/* The backend for a transition is ready or failed. */
static void
start_ready (struct backend *b, int err, void *opaque)
{
  struct start_ctx *ctx = opaque;

  if (err == 0)
    reaper_watch (backend_pid (b));
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
                        struct backend *b, int fd, int nbd_index, int nbd_fd)
{
  if (dev->backend) {
    if (nbd_index >= 0 && nbd_index == dev->nbd_index)
      /* Resized in place: the kernel device is B's now. */
      stop_backend (d, dev->backend);
    else
      retire_backend (d, dev, dev->backend, dev->nbd_index, dev->nbd_fd,
                      &dev->nbd_link);
  }
  if (dev->backing_fd != fd)
    backing_close (d->loop, dev->backing_fd);
  kernel_attach_link_close (&dev->nbd_link);
  if (nbd_index >= 0) {
    dev->nbd_link = dev->next_nbd_link;
    kernel_attach_link_init (&dev->next_nbd_link);
  }
  dev->backend = b;
  dev->backing_fd = fd;
  dev->nbd_index = nbd_index;
  dev->nbd_fd = nbd_fd;
}

/* Drop what /dev/nbdN caches of a range just changed through loopN.
 * POSIX_FADV_DONTNEED invalidates clean cached pages without waiting
 * for anything this daemon would have to answer, but only pages wholly
 * inside the range: so the range is widened to whole pages (dropping a
 * clean page costs at most a re-read). */
void
device_invalidate_kernel_cache (struct device *dev, uint64_t offset,
                                uint64_t length)
{
  uint64_t page = LOOPDEV_PAGE_SIZE;
  uint64_t start = offset & ~(page - 1);
  uint64_t end = (offset + length + page - 1) & ~(page - 1);

  if (dev->nbd_fd >= 0)
    posix_fadvise (dev->nbd_fd, start, end - start, POSIX_FADV_DONTNEED);
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
  device_install_backend (d, dev, NULL, -1, -1, -1);
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
      device_install_backend (d, dev, NULL, -1, -1, -1);
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
