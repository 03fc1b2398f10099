/* loopfsd: the extended attributes of an instance's nodes.
 *
 * They are how loopfsctl, the sandbox's sysfs view and loopfsd itself
 * (a node offered as backing file) learn about nodes without opening
 * them: an open and close of loopN would run AUTOCLEAR, as on a kernel
 * loop device.  Names and formats are the contract with loopfsctl, in
 * loopfs-interface.h and loopfsd(8); status.c writes the texts.  They
 * are read-only.
 */

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "device.h"
#include "nodes.h"
#include "partition-nodes.h"
#include "status.h"
#include "xattr.h"

/* Write the status of device LO into BUF (see status.h).  sysfs's
 * loop/backing_file is the file's path (d_path), not lo_file_name: it
 * is read from our copy of the descriptor.  A device stacked on another
 * of the instance names it /dev/loopN, as the kernel's does for a loop
 * device opened there (and as it is seen in the sandbox), not as the
 * node in our mount. */
static int
device_status_value (const struct loopdev *lo, char *buf, size_t size)
{
  const struct device *dev = lo->priv;
  char path[PATH_MAX] = "";

  if ((lo->state == LOOPDEV_BOUND || lo->state == LOOPDEV_RUNDOWN)
      && dev && dev->lower)
    snprintf (path, sizeof path, "/dev/loop%d", dev->lower->lo->number);
  else if ((lo->state == LOOPDEV_BOUND || lo->state == LOOPDEV_RUNDOWN)
           && dev && dev->backing_fd >= 0) {
    char link[64];
    ssize_t n;

    snprintf (link, sizeof link, "/proc/self/fd/%d", dev->backing_fd);
    n = readlink (link, path, sizeof path - 1);
    path[n > 0 ? n : 0] = '\0';
  }
  return status_value (lo, path, buf, size);
}

/* Write what D's loop-control tells in user.loopfs.instance into BUF
 * (see status.h). */
static int
daemon_instance_value (const struct daemon *d, char *buf, size_t size)
{
  struct instance_summary summary = {
    .pid = getpid (),
    .nbd = d->nbd,
    .connections = d->opts.connections,
  };

  instance_summary_count (&d->inst, &summary);
  return instance_value (&summary, buf, size);
}

/* Compute the value of extended attribute NAME of INO into BUF. */
static int
xattr_value (struct daemon *d, fuse_ino_t ino, const char *name, char *buf,
             size_t size)
{
  struct loopdev *lo = node_device (d, ino);

  if (partition_ino (ino))
    return partition_xattr_value (d, ino, name, buf, size);
  if (strcmp (name, XATTR_NODE) == 0) {
    if (ino == CONTROL_INO)
      return snprintf (buf, size, CONTROL_NAME);
    if (lo)
      return snprintf (buf, size, "loop%d", lo->number);
  }
  if (strcmp (name, XATTR_NBDKIT_PID) == 0 && lo && lo->priv
      && device_backend (lo->priv))
    return snprintf (buf, size, "%d",
                     (int) backend_pid (device_backend (lo->priv)));
  if (strcmp (name, XATTR_NBD) == 0 && lo && lo->priv
      && ((struct device *) lo->priv)->nbd_index >= 0)
    return snprintf (buf, size, "/dev/nbd%d",
                     ((struct device *) lo->priv)->nbd_index);
  if (strcmp (name, XATTR_STATUS) == 0 && lo)
    return device_status_value (lo, buf, size);
  if (strcmp (name, XATTR_INSTANCE) == 0 && ino == CONTROL_INO)
    return daemon_instance_value (d, buf, size);
  return -ENODATA;
}

/* getxattr(2): the node name (how loopfsd recognises its own nodes
 * offered as backing files), the nbdkit and kernel NBD device serving
 * a device, and its status. */
void
xattr_get (fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
  char value[XATTR_VALUE_MAX];
  int len = xattr_value (fuse_req_userdata (req), ino, name, value,
                         sizeof value);

  if (len < 0)
    fuse_reply_err (req, -len);
  else if (size == 0)
    fuse_reply_xattr (req, len);
  else if ((size_t) len > size)
    fuse_reply_err (req, ERANGE);
  else
    fuse_reply_buf (req, value, len);
}

/* listxattr(2). */
void
xattr_list (fuse_req_t req, fuse_ino_t ino, size_t size)
{
  struct daemon *d = fuse_req_userdata (req);
  static const char *const names[] = { XATTR_NODE, XATTR_NBDKIT_PID,
                                       XATTR_NBD, XATTR_STATUS,
                                       XATTR_INSTANCE };
  char list[128], value[XATTR_VALUE_MAX];
  size_t used = 0, i;

  for (i = 0; i < sizeof names / sizeof names[0]; i++)
    if (xattr_value (d, ino, names[i], value, sizeof value) >= 0) {
      size_t n = strlen (names[i]) + 1;
      memcpy (list + used, names[i], n);
      used += n;
    }
  if (size == 0)
    fuse_reply_xattr (req, used);
  else if (used > size)
    fuse_reply_err (req, ERANGE);
  else
    fuse_reply_buf (req, list, used);
}

/* setxattr(2) and removexattr(2): the attributes are read-only. */
void
xattr_set (fuse_req_t req, fuse_ino_t ino, const char *name,
             const char *value, size_t size, int flags)
{
  (void) ino;
  (void) name;
  (void) value;
  (void) size;
  (void) flags;
  fuse_reply_err (req, EPERM);
}

/* removexattr(2): see xattr_set. */
void
xattr_remove (fuse_req_t req, fuse_ino_t ino, const char *name)
{
  (void) ino;
  (void) name;
  fuse_reply_err (req, EPERM);
}
