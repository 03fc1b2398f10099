/* loopfs control: one instance, the set of loop devices of one mount.
 *
 * Numbering follows the kernel's loop_index_idr: a new device without a
 * requested number gets the lowest number not in use (idr_alloc from 0),
 * and a device being deleted keeps its number until it is freed.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>

#include "cleanup.h"
#include "instance.h"

/* Initialise an empty instance allowing MAX_DEVICES devices. */
void
instance_init (struct instance *inst, unsigned max_devices)
{
  *inst = (struct instance) { .max_devices = max_devices };
}

/* Have HOOKS called with OPAQUE as devices are created and destroyed. */
void
instance_set_hooks (struct instance *inst, const struct instance_hooks *hooks,
                    void *opaque)
{
  inst->hooks = hooks;
  inst->hooks_opaque = opaque;
}

/* Tell the owner that LO is going away. */
static void
notify_destroyed (struct instance *inst, struct loopdev *lo)
{
  if (inst->hooks && inst->hooks->destroyed)
    inst->hooks->destroyed (inst->hooks_opaque, lo);
  assert (lo->priv == NULL);
}

/* Destroy every device and free the vector holding them. */
void
instance_free (struct instance *inst)
{
  size_t i;

  for (i = 0; i < inst->devs.len; i++) {
    notify_destroyed (inst, inst->devs.ptr[i]);
    free (inst->devs.ptr[i]);
  }
  loopdev_vector_reset (&inst->devs);
}

/* Index in the sorted vector of the device numbered NUMBER, or -1.
 * Devices being deleted are found too: they still hold their number. */
static ssize_t
find_index (const struct instance *inst, int number)
{
  size_t lo = 0, hi = inst->devs.len;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int n = inst->devs.ptr[mid]->number;

    if (n == number)
      return mid;
    if (n < number)
      lo = mid + 1;
    else
      hi = mid;
  }
  return -1;
}

/* The device numbered NUMBER, unless it does not exist or is being
 * deleted (the kernel hides those: idr_visible is false). */
struct loopdev *
instance_lookup (const struct instance *inst, int number)
{
  ssize_t i = find_index (inst, number);

  if (i < 0 || inst->devs.ptr[i]->state == LOOPDEV_DELETING)
    return NULL;
  return inst->devs.ptr[i];
}

/* The lowest number no device holds, as idr_alloc (idr, p, 0, 0) picks
 * it.  The vector is sorted, so this is the first gap. */
static int
lowest_free_number (const struct instance *inst)
{
  int expected = 0;
  size_t i;

  for (i = 0; i < inst->devs.len; i++) {
    if (inst->devs.ptr[i]->number != expected)
      break;
    expected++;
  }
  return expected;
}

/* Create the unbound device NUMBER (which must be free) and insert it
 * in number order.  Returns NUMBER, -ENOSPC at the instance limit or
 * -ENOMEM. */
static int
create_device (struct instance *inst, int number)
{
  CLEANUP_FREE struct loopdev *lo = NULL;
  size_t pos;
  int r;

  if (inst->devs.len >= inst->max_devices)
    return -ENOSPC;

  lo = malloc (sizeof *lo);
  if (lo == NULL)
    return -ENOMEM;
  loopdev_init (lo, number);
  if (inst->hooks && inst->hooks->created) {
    r = inst->hooks->created (inst->hooks_opaque, lo);
    if (r < 0)
      return r;
  }

  r = loopdev_vector_append (&inst->devs, lo);
  if (r < 0) {
    notify_destroyed (inst, lo);
    return r;
  }

  /* Move the new device from the end down to its place. */
  pos = inst->devs.len - 1;
  while (pos > 0 && inst->devs.ptr[pos - 1]->number > number) {
    inst->devs.ptr[pos] = inst->devs.ptr[pos - 1];
    pos--;
  }
  inst->devs.ptr[pos] = TAKE_PTR (lo);
  return number;
}

/* Take the device at index I out of the instance and free it. */
static void
destroy_device (struct instance *inst, size_t i)
{
  struct loopdev *lo = inst->devs.ptr[i];

  notify_destroyed (inst, lo);
  loopdev_vector_remove (&inst->devs, i);
  free (lo);
}

/* Add a device with the lowest free number (loop_add (-1)).  A number
 * the kernel could not give a minor to is refused as add_disk() does. */
static int
add_any (struct instance *inst)
{
  int number = lowest_free_number (inst);

  if (number >= INSTANCE_MAX_INDEX)
    return -EINVAL;
  return create_device (inst, number);
}

/* LOOP_CTL_GET_FREE (loop_control_get_free): reuse the lowest unbound
 * device, else add one.  A device waiting for its backend is not free,
 * nor is one being deleted. */
int
instance_get_free (struct instance *inst)
{
  size_t i;

  for (i = 0; i < inst->devs.len; i++) {
    if (inst->devs.ptr[i]->state == LOOPDEV_UNBOUND)
      return inst->devs.ptr[i]->number;
  }
  return add_any (inst);
}

/* LOOP_CTL_ADD (loop_add): the kernel takes the argument as an int.
 * The checks come in the kernel's order, idr_alloc (EEXIST) before
 * add_disk (EINVAL), and the loopfs limit (ENOSPC) last. */
int
instance_add (struct instance *inst, unsigned long arg)
{
  int number = (int) arg;

  if (number < 0)
    return add_any (inst);
  if (find_index (inst, number) >= 0)
    return -EEXIST;
  if (number >= INSTANCE_MAX_INDEX)
    return -EINVAL;
  return create_device (inst, number);
}

/* The rule LOOP_CTL_REMOVE and unlink share: find device NUMBER and
 * return its index if it may go away now, -ENODEV if it does not exist
 * (or is being deleted already), -EBUSY if it is bound or open.  The
 * callers differ only in how they report a missing device. */
static ssize_t
removable (struct instance *inst, int number)
{
  ssize_t i = find_index (inst, number);
  struct loopdev *lo;

  if (i < 0)
    return -ENODEV;
  lo = inst->devs.ptr[i];
  if (lo->state == LOOPDEV_DELETING)
    return -ENODEV;
  if (lo->state != LOOPDEV_UNBOUND || lo->openers > 0)
    return -EBUSY;
  return i;
}

/* LOOP_CTL_REMOVE (loop_control_remove): the argument is an int too. */
int
instance_remove (struct instance *inst, unsigned long arg)
{
  int number = (int) arg;
  ssize_t i;

  if (number < 0)
    return -EINVAL;
  i = removable (inst, number);
  if (i < 0)
    return i;
  destroy_device (inst, i);
  return 0;
}

/* unlink(2) of loopN (loopfs_rundown_locked): the same rule as
 * LOOP_CTL_REMOVE, reported the way a file system reports it. */
int
instance_unlink (struct instance *inst, int number)
{
  ssize_t i = removable (inst, number);

  if (i < 0)
    return i == -ENODEV ? -ENOENT : i;
  destroy_device (inst, i);
  return 0;
}

/* Number of devices that exist, including any still being deleted. */
size_t
instance_count (const struct instance *inst)
{
  return inst->devs.len;
}
