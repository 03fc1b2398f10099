/* loopfsd: the bind transaction (see binding.h).
 *
 * A transaction goes through these steps, each ending in a callback on
 * the loop; any step may fail, and then the transaction finishes with
 * that errno and changes nothing (a configure's model binding is
 * aborted, a backend already started is stopped):
 *
 *   PROBE    the backing file is inspected off the loop
 *            (backing.c): what it is, its size, its owner
 *   CHECK    the model decides (control/loopdev.c); a configure marks
 *            the model device as binding
 *   START    nbdkit is started for the new binding (nbd-backend/)
 *   ATTACH   with kernel NBD, the backend becomes /dev/nbdX on the
 *            job's thread (nbd-backend/kernel-attach.c): a bound
 *            device's /dev/nbdX is moved over in place
 *   COMMIT   the backend is installed (device.c) and the model changed
 *   FINISH   a descriptor still held is closed off the loop, then
 *            DONE is called
 *
 * Walk of one LOOP_CONFIGURE through the files: fuse-loop.c receives
 * the request, open-files.c (file_ioctl) hands it to ioctl.c, which
 * reads the caller's struct loop_config and takes its descriptor
 * (caller.c), marks the device busy and calls binding_configure.
 * Here: backing.c (probe), control/loopdev.c (check, begin),
 * nbd-backend/backend.c, nbdkit-process.c and connection.c (start),
 * with kernel NBD nbd-backend/kernel-attach.c, nbd-handshake.c and
 * kernel-nbd.c (attach), then device.c and control/loopdev.c (commit)
 * and backing.c (close); last, ioctl.c's DONE callback answers the
 * request and runs the ioctls that waited.  ioctl.c and this file cross
 * twice (the call and DONE; nine times between ioctl.c and device.c
 * before this file existed); 11 files in all, 14 with kernel NBD.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "backing.h"
#include "binding.h"
#include "cleanup.h"
#include "handles.h"
#include "kernel-attach.h"
#include "kernel-nbd.h"
#include "log.h"
#include "offload.h"
#include "reaper.h"
#include "stacking.h"

/* What the transaction does to the device. */
enum binding_kind {
  BIND_CONFIGURE,           /* LOOP_SET_FD, LOOP_CONFIGURE: bind */
  BIND_CHANGE_FD,           /* LOOP_CHANGE_FD: a new backing file */
  BIND_CAPACITY,            /* LOOP_SET_CAPACITY: the file's size again */
  BIND_REBIND,              /* LOOP_SET_STATUS(64): offset or size limit */
};

struct transaction {
  struct daemon *d;
  struct device *dev;
  enum binding_kind kind;
  bool dev_writable;             /* the loopN handle was opened for write */
  bool begun;                    /* a configure marked the model binding */
  struct loop_config config;     /* BIND_CONFIGURE's argument */
  struct loopdev_binding binding;  /* the binding being made */
  int fd;                        /* a new backing descriptor, owned, or -1 */
  int data_fd;                   /* its open file for direct I/O, owned,
                                    or -1 (backing_probe) */
  uid_t backing_uid;             /* owner of the backing file: nbdkit's */
  gid_t backing_gid;             /* credentials when the daemon is root */
  struct backing_probe probe;
  struct device *lower;          /* the device the binding is stacked
                                    on (stacking.c), or NULL */
  struct handle *lower_handle;   /* the caller's open file of LOWER,
                                    held: the device's from COMMIT on
                                    (stacking.c), or NULL */
  struct backend *b;             /* the new backend, once started */
  struct kernel_attach_link link;  /* our descriptors of its /dev/nbdX's
                                    sockets, once attached */
  int result;
  binding_done_cb done;
  void *opaque;
};

/* FINISH, second half: the descriptor is closed; report. */
static void
report (void *opaque)
{
  struct transaction *t = opaque;
  binding_done_cb done = t->done;
  void *done_opaque = t->opaque;
  int result = t->result;

  kernel_attach_link_close (&t->link);
  free (t);
  done (done_opaque, result);
}

/* FINISH with result R: a descriptor the transaction still holds is
 * closed first, as the kernel's fput() of a refused backing file
 * happens before the ioctl returns. */
static void
finish (struct transaction *t, int r)
{
  t->result = r;
  backing_close (TAKE_FD (t->data_fd));
  t->dev->binding_lower = NULL;
  if (t->probe.hold_cookie)
    handles_unhold (t->d, handles_take_hold (t->probe.hold_cookie));
  backing_close_then (TAKE_FD (t->fd), report, t);
}

/* Fail with R < 0, undoing what the transaction did so far. */
static void
fail (struct transaction *t, int r)
{
  if (t->begun)
    loopdev_configure_abort (t->dev->lo);
  if (t->b)
    device_discard_backend (t->d, TAKE_PTR (t->b));
  handles_unhold (t->d, TAKE_PTR (t->lower_handle));
  finish (t, r);
}

/* A new transaction of KIND on DEV, or NULL (then DONE has been called
 * with -ENOMEM and FD closed). */
static struct transaction *
transaction_new (struct daemon *d, struct device *dev, enum binding_kind kind,
                 int fd, binding_done_cb done, void *opaque)
{
  struct transaction *t = calloc (1, sizeof *t);

  if (t == NULL) {
    backing_close (fd);
    done (opaque, -ENOMEM);
    return NULL;
  }
  t->d = d;
  t->dev = dev;
  t->kind = kind;
  t->fd = fd;
  t->data_fd = -1;
  t->backing_uid = dev->backing_uid;
  t->backing_gid = dev->backing_gid;
  t->lower = dev->lower;
  t->done = done;
  t->opaque = opaque;
  kernel_attach_link_init (&t->link);
  return t;
}

/* The devices stacked on the transaction's device have moved to its
 * new backend: the ioctl may be answered. */
static void
lower_moved (void *opaque)
{
  finish (opaque, 0);
}

/* COMMIT: the new backend, attached to NBD_INDEX (or -1) opened as
 * NBD_FD, serves the device from now on. */
static void
commit (struct transaction *t, int nbd_index, int nbd_fd)
{
  struct device *dev = t->dev;
  int fd = t->fd >= 0 ? TAKE_FD (t->fd) : dev->backing_fd;
  struct backend *old = NULL;

  /* Devices stacked on this one are clients of its nbdkit: it serves
   * them until they have moved to the new one (stacking.c).  With
   * kernel NBD the old backend goes with its /dev/nbdX at once. */
  if (t->kind != BIND_CONFIGURE && !t->d->nbd
      && stacking_has_uppers (t->d, dev))
    old = TAKE_PTR (dev->backend);
  dev->backing_uid = t->backing_uid;
  dev->backing_gid = t->backing_gid;
  device_install_backend (t->d, dev, TAKE_PTR (t->b), fd, nbd_index, nbd_fd,
                          &t->link);
  if (t->kind == BIND_CONFIGURE)
    loopdev_configure_commit (dev->lo, &t->binding);
  else if (t->kind == BIND_CHANGE_FD)
    loopdev_change_fd_commit (dev->lo, &t->binding);
  else
    loopdev_set_binding (dev->lo, &t->binding);
  /* The device now holds the open file of the lower device it is
   * stacked on, and lets go of the one a LOOP_CHANGE_FD left (a
   * rebind keeps it). */
  if (t->kind == BIND_CONFIGURE || t->kind == BIND_CHANGE_FD) {
    handles_unhold (t->d, dev->lower_handle);
    dev->lower = t->lower;
    dev->lower_handle = TAKE_PTR (t->lower_handle);
  }
  if (t->kind != BIND_CONFIGURE && stacking_has_uppers (t->d, dev))
    t->d->lower_changed (t->d, dev, old, lower_moved, t);
  else
    finish (t, 0);
}

/* A kernel attach in progress (ATTACH). */
struct attach_work {
  struct offload job;       /* first: the job is the request */
  struct transaction *t;
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
};

/* Attach (on the job's thread): move the device in place if there is
 * one to move, else (or if that fails) attach a new one. */
static void
attach_run (struct offload *job)
{
  struct attach_work *w = (struct attach_work *) job;
  char path[32];

  w->nbd_fd = -1;
  if (w->resize_index >= 0) {
    /* Pages written through /dev/nbdX but still in its cache go to the
     * old backend, as a loop device syncs before a change of its
     * binding. */
    if (w->resize_fd >= 0)
      fsync (w->resize_fd);
    if (kernel_attach_resize (&w->config, w->resize_index, &w->link,
                              w->resize_msg, sizeof w->resize_msg) == 0) {
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

/* The attach is done.  In auto mode a failure only loses the kernel
 * device; with nbd=on it fails the transaction.  A device moved in
 * place keeps its descriptor, whose cached pages may be of another
 * backing file or offset (LOOP_CHANGE_FD, LOOP_SET_STATUS64): they are
 * dropped. */
static void
attach_done (struct offload *job)
{
  struct attach_work *w = (struct attach_work *) job;
  struct transaction *t = w->t;
  struct device *dev = t->dev;
  int index = -1, nbd_fd = -1, err = 0;

  if (w->resize_index >= 0 && !w->resized)
    log_error ("loop%d: resizing /dev/nbd%d in place: %s; attaching anew",
               dev->lo->number, w->resize_index, w->resize_msg);
  if (w->err == 0) {
    index = w->index;
    t->link = w->link;
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
    if (t->d->opts.nbd == NBD_MODE_ON)
      err = w->err;
  }
  free (w);
  if (err < 0)
    fail (t, err);
  else
    commit (t, index, nbd_fd);
}

/* ATTACH the new backend to a kernel NBD device when the instance uses
 * kernel NBD, else COMMIT at once.  The device's current /dev/nbdX, if
 * any, moves to the new backend: the attach takes our descriptors of
 * its sockets along. */
static void
attach (struct transaction *t)
{
  struct daemon *d = t->d;
  struct device *dev = t->dev;
  struct attach_work *w;

  if (!d->nbd) {
    commit (t, -1, -1);
    return;
  }
  w = calloc (1, sizeof *w);
  if (w == NULL) {
    if (d->opts.nbd == NBD_MODE_ON)
      fail (t, -ENOMEM);
    else
      commit (t, -1, -1);
    return;
  }
  *w = (struct attach_work) { .t = t, .resize_index = -1, .resize_fd = -1 };
  kernel_attach_link_init (&w->link);
  if (dev->backend && dev->nbd_index >= 0 && dev->nbd_link.n_sockets > 0) {
    w->resize_index = dev->nbd_index;
    w->resize_fd = dev->nbd_fd;
    w->link = dev->nbd_link;
    kernel_attach_link_init (&dev->nbd_link);
  }
  snprintf (w->socket_path, sizeof w->socket_path, "%s",
            backend_socket_path (t->b));
  device_nbd_identifier (d, dev, w->identifier, sizeof w->identifier);
  w->config = (struct kernel_attach_config) {
    .socket_path = w->socket_path,
    .connections = d->opts.connections,
    .block_size = t->binding.block_size,
    .read_only = (t->binding.flags & LO_FLAGS_READ_ONLY) != 0,
    .identifier = w->identifier,
  };
  if (offload_run (&w->job, attach_run, attach_done) < 0) {
    kernel_attach_link_close (&w->link);
    free (w);
    if (d->opts.nbd == NBD_MODE_ON)
      fail (t, -ENOMEM);
    else
      commit (t, -1, -1);
  }
}

/* The new backend is ready (ERR == 0) or failed to start. */
static void
backend_ready (struct backend *b, int err, void *opaque)
{
  struct transaction *t = opaque;

  if (err) {
    fail (t, -err);
    return;
  }
  reaper_watch (backend_pid (b));
  t->b = b;
  attach (t);
}

/* The open backing file DEV's backend reads and writes, or -1. */
static int
current_direct_fd (const struct device *dev)
{
  return dev->backend ? backend_direct_fd (dev->backend) : -1;
}

/* START nbdkit for the transaction's binding, serving descriptor FD;
 * the backend reads and writes DATA_FD itself unless it is -1 (a new
 * backing file's open file from the probe, or the file the device's
 * current backend reads and writes, for a new offset or size). */
static void
start (struct transaction *t, int fd, int data_fd)
{
  struct daemon *d = t->d;
  char name[32];
  struct backend_config config = {
    .fd = fd,
    .direct_io = data_fd >= 0,
    .data_fd = data_fd,
    .offset = t->binding.offset,
    .length = t->binding.size,
    .read_only = (t->binding.flags & LO_FLAGS_READ_ONLY) != 0,
    .connections = d->opts.connections,
    .uid = d->switch_ids ? t->backing_uid : (uid_t) -1,
    .gid = d->switch_ids ? t->backing_gid : (gid_t) -1,
    .runtime_dir = d->runtime_dir,
    .name = name,
  };
  int r;

  /* Stacked: a client of the lower device's nbdkit, whose socket only
   * the daemon's own credentials reach. */
  if (t->lower) {
    if (t->lower->backend == NULL) {
      fail (t, -EIO);
      return;
    }
    config.lower_socket = backend_socket_path (t->lower->backend);
    config.direct_io = false;     /* a loopfs node is never served directly */
    config.uid = (uid_t) -1;
    config.gid = (gid_t) -1;
  }

  snprintf (name, sizeof name, "loop%d", t->dev->lo->number);
  r = backend_start (d->loop, &config, backend_ready, t);
  if (r < 0)
    fail (t, r);
}

/* CHECK a probed new backing file (configure, change of file).  The
 * file's owner is kept in the transaction only: a refused request
 * changes nothing, not even whose credentials the device's next nbdkit
 * gets. */
static void
new_file_probed (struct backing_probe *probe)
{
  struct transaction *t = (struct transaction *)
    ((char *) probe - offsetof (struct transaction, probe));
  struct loopdev *lo = t->dev->lo;
  int r = probe->err;

  t->fd = probe->fd;        /* now an O_PATH descriptor (backing.h) */
  t->data_fd = probe->data_fd;
  t->lower_handle = handles_take_hold (probe->hold_cookie);
  probe->hold_cookie = 0;
  if (r < 0) {
    fail (t, r);
    return;
  }
  /* A loopfs node: this device (EBADF), another one of this instance
   * to stack on, or another instance's file (stacking.c). */
  r = stacking_resolve (t->d, t->dev, probe, &t->lower);
  if (r < 0 || t->lower == NULL)
    handles_unhold (t->d, TAKE_PTR (t->lower_handle));
  if (r < 0) {
    fail (t, r);
    return;
  }
  t->backing_uid = probe->uid;
  t->backing_gid = probe->gid;
  if (t->kind == BIND_CHANGE_FD)
    r = loopdev_change_fd_check (lo, &probe->backing, &t->binding);
  else
    r = loopdev_configure_check (lo, &t->config, &probe->backing,
                                 t->dev_writable, &t->binding);
  if (r < 0) {
    fail (t, r);
    return;
  }
  /* From here a move of the lower device reaches this one too. */
  t->dev->binding_lower = t->lower;
  if (t->kind == BIND_CONFIGURE) {
    loopdev_configure_begin (lo);
    t->begun = true;
  }
  start (t, t->fd, t->data_fd);
}

/* CHECK the size of the device's own backing file, probed again for
 * LOOP_SET_CAPACITY: an unchanged size needs no new backend. */
static void
capacity_probed (struct backing_probe *probe)
{
  struct transaction *t = (struct transaction *)
    ((char *) probe - offsetof (struct transaction, probe));
  struct device *dev = t->dev;
  int r = probe->err;

  if (r == 0)
    r = loopdev_set_capacity_check (dev->lo, probe->backing.size,
                                    &t->binding);
  if (r < 0) {
    fail (t, r);
    return;
  }
  if (t->binding.size == dev->lo->b.size) {
    loopdev_set_binding (dev->lo, &t->binding);
    finish (t, 0);
    return;
  }
  start (t, dev->backing_fd, current_direct_fd (dev));
}

/* PROBE descriptor FD, then continue in DONE. */
static void
probe (struct transaction *t, int fd, void (*done) (struct backing_probe *))
{
  int r;

  t->probe.fd = fd;
  t->probe.done = done;
  t->probe.want_data_fd = t->d->opts.direct_io;
  r = backing_probe_start (&t->probe);
  if (r < 0)
    fail (t, r);
}

/* LOOP_SET_FD / LOOP_CONFIGURE. */
void
binding_configure (struct daemon *d, struct device *dev,
                   const struct loop_config *config, int fd,
                   bool dev_writable, binding_done_cb done, void *opaque)
{
  struct transaction *t = transaction_new (d, dev, BIND_CONFIGURE, fd, done,
                                           opaque);

  if (t == NULL)
    return;
  t->config = *config;
  t->dev_writable = dev_writable;
  t->probe.hold_cookie = handles_expect_hold ();
  probe (t, t->fd, new_file_probed);
}

/* LOOP_CHANGE_FD. */
void
binding_change_fd (struct daemon *d, struct device *dev, int fd,
                   binding_done_cb done, void *opaque)
{
  struct transaction *t = transaction_new (d, dev, BIND_CHANGE_FD, fd, done,
                                           opaque);

  if (t == NULL)
    return;
  t->probe.hold_cookie = handles_expect_hold ();
  probe (t, t->fd, new_file_probed);
}

/* LOOP_SET_CAPACITY. */
void
binding_set_capacity (struct daemon *d, struct device *dev,
                      binding_done_cb done, void *opaque)
{
  struct transaction *t = transaction_new (d, dev, BIND_CAPACITY, -1, done,
                                           opaque);

  if (t)
    probe (t, dev->backing_fd, capacity_probed);
}

/* A new offset or size limit from LOOP_SET_STATUS(64). */
void
binding_rebind (struct daemon *d, struct device *dev,
                const struct loopdev_binding *binding,
                binding_done_cb done, void *opaque)
{
  struct transaction *t = transaction_new (d, dev, BIND_REBIND, -1, done,
                                           opaque);

  if (t == NULL)
    return;
  t->binding = *binding;
  start (t, dev->backing_fd, current_direct_fd (dev));
}
