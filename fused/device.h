/* loopfsd: the daemon's side of one loop device.
 *
 * The model (struct loopdev in control/) says what a device is; this
 * file holds what the daemon needs besides: the backend serving it, the
 * backing descriptor, the FUSE generation of its node, and a queue of
 * ioctls waiting while a backend is being started.  The kernel holds
 * lo_mutex across a configure; loopfsd instead marks the device busy and
 * runs the waiting ioctls in order once the transition is over.
 */
#ifndef LOOPFSD_DEVICE_H
#define LOOPFSD_DEVICE_H

#include "daemon.h"
#include "kernel-attach.h"
#include "user-limit.h"

struct pending_ioctl;

struct device {
  struct loopdev *lo;             /* the model; lo->priv points back here */
  uint64_t generation;            /* FUSE generation of loopN's inode */
  struct backend *backend;        /* serving the device, NULL unless bound */
  int nbd_index;                  /* N of the kernel's /dev/nbdN serving
                                     the same backend, or -1 */
  int nbd_fd;                     /* /dev/nbdN opened to drop its page
                                     cache after writes through loopN */
  struct kernel_attach_link nbd_link;  /* our descriptors of /dev/nbdN's
                                     sockets, to resize it in place */
  struct kernel_attach_link next_nbd_link;  /* those of the kernel device
                                     an attach has just made or resized,
                                     until its backend is installed */
  int backing_fd;                 /* our copy of the backing file, or -1 */
  uid_t backing_uid;              /* owner of the backing file: nbdkit's */
  gid_t backing_gid;              /* credentials when the daemon is root */
  struct user_slot slot;          /* the device's share of the per-user
                                     limit across instances */
  bool busy;                      /* a transition is in progress */
  struct pending_ioctl *queue;    /* ioctls waiting for the transition */
  struct pending_ioctl **queue_tail;
};

/* Called when a backend for a transition is ready (ERR == 0, B set) or
 * failed (ERR is an errno). */
typedef void (*device_backend_cb) (struct device *dev, struct backend *b,
                                   int err, void *opaque);

/* Start a backend serving BINDING from descriptor FD on DEV; call CB
 * from the loop.  The device is not changed. */
int device_start_backend (struct daemon *d, struct device *dev,
                          const struct loopdev_binding *binding, int fd,
                          device_backend_cb cb, void *opaque);

/* Called when the kernel attach of a new backend is done: NBD_INDEX is
 * N of /dev/nbdN, or -1 when the device has none (kernel NBD off, or a
 * failed attach in auto mode); ERR is an errno when nbd=on and the
 * attach failed. */
typedef void (*device_attach_cb) (struct device *dev, struct backend *b,
                                  int nbd_index, int nbd_fd, int err,
                                  void *opaque);

/* Attach new backend B of DEV (for BINDING) to a kernel NBD device when
 * the instance uses kernel NBD, on the thread pool, then call CB.  When
 * B replaces a backend whose kernel device is attached (LOOP_SET_CAPACITY,
 * LOOP_CHANGE_FD, a new offset or size limit), that device is moved over
 * to B in place, keeping its number and taking B's size; only if that
 * fails is a new one attached (and the old one disconnected when B is
 * installed). */
void device_kernel_attach (struct daemon *d, struct device *dev,
                           struct backend *b,
                           const struct loopdev_binding *binding,
                           device_attach_cb cb, void *opaque);

/* Make B (serving backing descriptor FD, now owned by the device, and
 * kernel device NBD_INDEX or -1) the device's backend; the previous one,
 * if any, is retired in the background: its kernel NBD device
 * disconnected first (unless it is NBD_INDEX, moved over to B), then
 * its nbdkit stopped and its descriptor closed. */
void device_install_backend (struct daemon *d, struct device *dev,
                             struct backend *b, int fd, int nbd_index,
                             int nbd_fd);

/* Data changed through loopN at OFFSET for LENGTH bytes: drop what the
 * kernel NBD device caches of it, so a reader there sees it at once. */
void device_invalidate_kernel_cache (struct device *dev, uint64_t offset,
                                     uint64_t length);

/* Stop backend B that never served DEV (its attach failed). */
void device_discard_backend (struct daemon *d, struct backend *b);

/* Queue an ioctl on a busy device. */
int device_queue_ioctl (struct device *dev, fuse_req_t req,
                        struct handle *h, unsigned int cmd, void *arg);

/* Mark the device busy / not busy; the latter runs queued ioctls. */
void device_begin (struct device *dev);
void device_end (struct device *dev);

#endif /* LOOPFSD_DEVICE_H */
