/* loopfs control: one instance, the set of loop devices of one mount.
 *
 * The userspace twin of a loopfs superblock plus the kernel's
 * loop_index_idr restricted to that superblock: it answers
 * LOOP_CTL_GET_FREE, LOOP_CTL_ADD and LOOP_CTL_REMOVE, unlink of loopN,
 * and enforces the per-instance device limit.  Device numbers are
 * private to the instance (every instance starts at loop0): two
 * instances never see or reach each other's devices.
 */
#ifndef LOOPFS_CONTROL_INSTANCE_H
#define LOOPFS_CONTROL_INSTANCE_H

#include "loopdev.h"
#include "loopfs-interface.h"
#include "vector.h"

/* Device numbers are below this (see loopfs-interface.h): LOOP_CTL_ADD
 * of a higher one is EINVAL, as the kernel's add_disk refuses the
 * minor. */
#define INSTANCE_MAX_INDEX (LOOPFS_MAX_INDEX + 1)

DEFINE_VECTOR_TYPE (loopdev_vector, struct loopdev *)

/* What the owner of an instance is told as devices come and go.
 * CREATED runs before a new device is added and may refuse it with a
 * negative errno (the per-user limit across instances answers ENOSPC);
 * it may set lo->priv.  DESTROYED runs before a device is freed and
 * must leave lo->priv NULL. */
struct instance_hooks {
  int (*created) (void *opaque, struct loopdev *lo);
  void (*destroyed) (void *opaque, struct loopdev *lo);
};

struct instance {
  loopdev_vector devs;     /* sorted by number */
  unsigned max_devices;    /* per-instance limit (-o max=N) */
  const struct instance_hooks *hooks;   /* may be NULL */
  void *hooks_opaque;
};

/* Initialise an empty instance allowing MAX_DEVICES devices. */
void instance_init (struct instance *inst, unsigned max_devices);

/* Have HOOKS called with OPAQUE as devices are created and destroyed. */
void instance_set_hooks (struct instance *inst,
                         const struct instance_hooks *hooks, void *opaque);

/* Destroy every device; the caller has already stopped their backends. */
void instance_free (struct instance *inst);

/* The device numbered N, or NULL (also for devices being deleted). */
struct loopdev *instance_lookup (const struct instance *inst, int number);

/* LOOP_CTL_GET_FREE: the lowest unbound device, else a new device with
 * the lowest free number.  Returns the number, or -ENOSPC at the limit
 * (or whatever the CREATED hook refused with), -ENOMEM. */
int instance_get_free (struct instance *inst);

/* LOOP_CTL_ADD: ARG is the raw ioctl argument.  A negative number (as an
 * int) means any free number, as loop_add(-1) does.  Returns the number,
 * -EEXIST when it exists, -EINVAL at or above INSTANCE_MAX_INDEX,
 * -ENOSPC at the limit, -ENOMEM. */
int instance_add (struct instance *inst, unsigned long arg);

/* LOOP_CTL_REMOVE: -EINVAL for a negative number, -ENODEV when there is
 * no such device, -EBUSY when it is bound or open; else the device is
 * removed and freed and 0 returned. */
int instance_remove (struct instance *inst, unsigned long arg);

/* unlink(2) of loopN: -ENOENT when there is no such device, -EBUSY when
 * it is not unbound or still open (loopfs_rundown_locked); else the
 * device is removed and freed. */
int instance_unlink (struct instance *inst, int number);

/* Number of devices that exist. */
size_t instance_count (const struct instance *inst);

#endif /* LOOPFS_CONTROL_INSTANCE_H */
