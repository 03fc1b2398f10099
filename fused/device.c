/* loopfsd: the daemon's state of each loop device (see device.h):
 * creation and destruction with the model's hooks, installing a backend
 * and retiring the one it replaces, and stopping them all at the end. */

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
#include "node-watch.h"
#include "offload.h"

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

/* FUSE generation of the node of LO. */
uint64_t
device_generation (const struct loopdev *lo)
{
  const struct device *dev = lo->priv;
  return dev ? dev->generation : 0;
}

/* Tell the node watchers that LO's node was made (ADDED) or removed. */
static void
device_note_node (struct daemon *d, const struct loopdev *lo, bool added)
{
  char name[32];

  snprintf (name, sizeof name, "loop%d", lo->number);
  node_watch_note (d->watch, added, name);
}

/* A device is being created: it takes a share of the mounter's limit
 * across instances (ENOSPC when none is left) and gets its daemon
 * state; node watchers are told of its node. */
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
  lo->priv = dev;
  device_note_node (d, lo, true);
  return 0;
}

/* A device is being destroyed (removed, unlinked, or the instance is
 * going away): its share of the limit and its daemon state go, and node
 * watchers are told. */
static void
device_destroyed (void *opaque, struct loopdev *lo)
{
  struct daemon *d = opaque;
  struct device *dev = lo->priv;

  device_note_node (d, lo, false);
  backing_close (dev->backing_fd);
  kernel_attach_link_close (&dev->nbd_link);
  partition_table_free (&dev->parts.table);
  user_limit_give_back (&d->user_limit, &dev->slot);
  free (dev);
  lo->priv = NULL;
}

const struct instance_hooks device_hooks = {
  .created = device_created,
  .destroyed = device_destroyed,
};

/* One backend finished stopping: once the instance is going away and
 * none is left, the daemon may end (device_stop_all). */
static void
backend_stopped (void *opaque)
{
  struct daemon *d = opaque;

  d->stopping_backends--;
  if (d->all_stopped && d->stopping_backends == 0)
    d->all_stopped (d);
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
void
device_nbd_identifier (const struct daemon *d, const struct device *dev,
                       char *buf, size_t size)
{
  if (kernel_nbd_make_identifier (d->instance_id, dev->lo->number, buf,
                                  size) < 0)
    snprintf (buf, size, KERNEL_NBD_IDENTIFIER_PREFIX "?");
}

/* How long nbdkit keeps serving after its kernel device is
 * disconnected. */
#define RETIRE_GRACE_MS 250

/* A backend being retired together with its kernel NBD device. */
struct retire_work {
  struct offload job;       /* first: the job is the request */
  uv_timer_t grace;
  struct daemon *d;
  struct backend *b;
  uint32_t nbd_index;
  int nbd_fd;
  struct kernel_attach_link link;
  char identifier[KERNEL_NBD_IDENTIFIER_MAX];
};

/* Disconnect the kernel device (on the job's thread): the kernel
 * flushes and fails what is queued while nbdkit still answers. */
static void
retire_disconnect (struct offload *job)
{
  struct retire_work *w = (struct retire_work *) job;
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
retire_stop (struct offload *job)
{
  struct retire_work *w = (struct retire_work *) job;

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
    backing_close (nbd_fd);
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
  device_nbd_identifier (d, dev, w->identifier, sizeof w->identifier);
  if (offload_run (&w->job, retire_disconnect, retire_stop) < 0) {
    d->stopping_backends--;
    kernel_attach_link_close (&w->link);
    free (w);
    backing_close (nbd_fd);
    stop_backend (d, b);
  }
}

/* Make B the backend of DEV; the previous one is retired. */
void
device_install_backend (struct daemon *d, struct device *dev,
                        struct backend *b, int fd, int nbd_index, int nbd_fd,
                        struct kernel_attach_link *link)
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
    backing_close (dev->backing_fd);
  kernel_attach_link_close (&dev->nbd_link);
  if (link) {
    if (nbd_index >= 0)
      dev->nbd_link = *link;
    else
      kernel_attach_link_close (link);
    kernel_attach_link_init (link);
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
  device_install_backend (d, dev, NULL, -1, -1, -1, NULL);
  loopdev_cleared (dev->lo);
  device_partitions_drop (&dev->parts, dev->lo->diskseq);
  node_watch_partitions (d->watch, dev->lo->number, NULL);
}

/* Stop the backend of every device: the instance is going away.
 * ALL_STOPPED (D) is called once no backend is left, at once if none
 * was running. */
void
device_stop_all (struct daemon *d, void (*all_stopped) (struct daemon *d))
{
  size_t i;

  d->all_stopped = all_stopped;
  for (i = 0; i < d->inst.devs.len; i++) {
    struct device *dev = d->inst.devs.ptr[i]->priv;
    if (dev && dev->backend)
      device_install_backend (d, dev, NULL, -1, -1, -1, NULL);
  }
  if (d->stopping_backends == 0)
    all_stopped (d);
}
