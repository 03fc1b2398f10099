/* loopfsd: the daemon's side of one loop device.
 *
 * The model (struct loopdev in control/) says what a device is; this
 * file holds what the daemon needs besides: the backend serving it, the
 * backing descriptor, the kernel NBD device, the FUSE generation of its
 * node, and its share of the per-user limit.  A device changes backend
 * only through a bind transaction (binding.c), which ends in
 * device_install_backend; the old backend is retired in the background.
 */
#ifndef LOOPFSD_DEVICE_H
#define LOOPFSD_DEVICE_H

#include "daemon.h"
#include "kernel-attach.h"
#include "partitions.h"
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
  int backing_fd;                 /* our copy of the backing file, or -1 */
  uid_t backing_uid;              /* owner of the backing file: nbdkit's */
  gid_t backing_gid;              /* credentials when the daemon is root */
  struct user_slot slot;          /* the device's share of the per-user
                                     limit across instances */
  struct device *lower;           /* the device of this instance this one
                                     is stacked on (stacking.c), or NULL */
  struct handle *lower_handle;    /* the caller's open file of LOWER, held
                                     (an opener of LOWER) while this
                                     device is bound on it, as the
                                     kernel holds its backing file */
  struct device *binding_lower;   /* the device a bind transaction under
                                     way stacks this one on, or NULL */
  struct {                        /* a move to the lower device's new
                                     backend, due once the transaction
                                     under way ends (ioctl.c) */
    bool due;
    struct daemon *d;
    void (*done) (void *opaque);
    void *opaque;
  } restack;
  bool busy;                      /* a bind transaction is under way:
                                     ioctls wait in QUEUE (ioctl.c) */
  struct pending_ioctl *queue;
  struct device_partitions parts;  /* loopNpM (partitions.h) */
};

/* The daemon's state of model device LO. */
struct device *device_of (struct loopdev *lo);

/* The model's hooks: a device's daemon state comes and goes with it. */
extern const struct instance_hooks device_hooks;

/* FUSE generation of the node of LO (0 when it has no daemon state). */
uint64_t device_generation (const struct loopdev *lo);

/* The backend serving DEV, or NULL. */
struct backend *device_backend (const struct device *dev);

/* Write the backend identifier of DEV's kernel NBD device into BUF: it
 * names the daemon, the instance and the device, so a later daemon can
 * find devices whose owner died. */
void device_nbd_identifier (const struct daemon *d, const struct device *dev,
                            char *buf, size_t size);

/* Make B (serving backing descriptor FD, now owned by the device, and
 * kernel device NBD_INDEX or -1, opened as NBD_FD, reached through the
 * sockets of LINK, which is emptied; LINK may be NULL without kernel
 * device) the device's backend; the previous one, if any, is retired
 * in the background: its kernel NBD device disconnected first (unless
 * it is NBD_INDEX, moved over to B), then its nbdkit stopped and its
 * descriptor closed. */
void device_install_backend (struct daemon *d, struct device *dev,
                             struct backend *b, int fd, int nbd_index,
                             int nbd_fd, struct kernel_attach_link *link);

/* Stop backend B that never served a device (its attach failed). */
void device_discard_backend (struct daemon *d, struct backend *b);

/* Data changed through loopN at OFFSET for LENGTH bytes: drop what the
 * kernel NBD device caches of it, so a reader there sees it at once. */
void device_invalidate_kernel_cache (struct device *dev, uint64_t offset,
                                     uint64_t length);

/* An open handle of DEV went away: run a pending clear (AUTOCLEAR, or
 * LOOP_CLR_FD while open) if it was the last. */
void device_handle_release (struct daemon *d, struct device *dev);

/* Stop the backend of every device; call ALL_STOPPED (D) once none is
 * left. */
void device_stop_all (struct daemon *d, void (*all_stopped) (struct daemon *d));

#endif /* LOOPFSD_DEVICE_H */
