/* loopfsd: a loop device whose backing file is another loop device of
 * this instance.
 *
 * The kernel lets a loop device be backed by another one and refuses
 * only cycles and unbound devices (loop_validate_file).  loopfsd must
 * never read through its own FUSE mount (it would wait on itself), so
 * an upper device is served by an nbdkit of its own whose nbd plugin
 * is a client of the lower device's nbdkit, with the upper binding's
 * offset and size as filters (binding.c, nbd-backend/nbdkit-process.c).
 * The lower device counts the upper one as an opener while it is
 * bound, as the kernel's upper device holds the lower block device
 * open, so a LOOP_CLR_FD of the lower one only marks it for clearing
 * until the upper one lets go (device.c).
 *
 * A node of another instance is an ordinary FUSE file for this daemon,
 * as it is for the kernel.  A node of this instance can also be reached
 * through a filesystem stacked on the instance (overlayfs hands the
 * node's user.* attributes down): its nbdkit pid, which only a bound
 * device of ours reports, names it.
 */

#include <errno.h>
#include <stdlib.h>

#include "stacking.h"

/* The device of this instance that probe P names, or NULL. */
static struct device *
own_device (struct daemon *d, const struct backing_probe *p)
{
  size_t i;

  if (p->backing.dev == d->mount_dev) {
    struct loopdev *lo;

    if (p->backing.ino < DEVICE_INO_BASE)
      return NULL;
    lo = instance_lookup (&d->inst, (int) (p->backing.ino - DEVICE_INO_BASE));
    return lo && lo->priv ? lo->priv : NULL;
  }
  if (p->nbdkit_pid <= 0)
    return NULL;
  for (i = 0; i < d->inst.devs.len; i++) {
    struct device *dev = d->inst.devs.ptr[i]->priv;

    if (dev && dev->backend && backend_pid (dev->backend) == p->nbdkit_pid)
      return dev;
  }
  return NULL;
}

/* See stacking.h. */
bool
stacking_has_uppers (struct daemon *d, struct device *lower)
{
  size_t i;

  for (i = 0; i < d->inst.devs.len; i++) {
    struct device *up = d->inst.devs.ptr[i]->priv;

    if (up && (up->lower == lower || up->binding_lower == lower))
      return true;
  }
  return false;
}

/* See stacking.h. */
int
stacking_resolve (struct daemon *d, struct device *dev,
                  struct backing_probe *p, struct device **lower)
{
  struct loop_backing *b = &p->backing;
  struct device *own, *cur;

  *lower = NULL;
  if (b->kind != LOOP_BACKING_LOOPFS)
    return 0;
  own = own_device (d, p);
  if (own == NULL) {
    /* Another instance's node is a file like any other (an unbound
     * node of ours seen through an overlay is an empty one); a node of
     * ours that is no device (a partition) stays refused. */
    if (b->dev != d->mount_dev)
      b->kind = LOOP_BACKING_FILE;
    return 0;
  }
  if (own == dev) {
    b->kind = LOOP_BACKING_SELF;
    return 0;
  }
  /* loop_validate_file: the device itself anywhere down the chain is
   * EBADF, an unbound device in it EINVAL. */
  for (cur = own; cur; cur = cur->lower) {
    if (cur == dev)
      return -EBADF;
    if (cur->lo->state != LOOPDEV_BOUND)
      return -EINVAL;
  }
  b->kind = LOOP_BACKING_BLOCK;
  b->size = loopdev_size (own->lo);
  b->nonrot = true;
  b->can_discard = true;
  *lower = own;
  return 0;
}
