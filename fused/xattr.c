/* loopfsd: the extended attributes of an instance's nodes.
 *
 * They are how loopfsctl, the sandbox's sysfs view and loopfsd itself
 * (a node offered as backing file) learn about nodes without opening
 * them: an open and close of loopN would run AUTOCLEAR, as on a kernel
 * loop device.  Names and formats are the contract with loopfsctl, in
 * loopfsd(8).  They are read-only.
 */

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "device.h"
#include "nodes.h"
#include "xattr.h"

/* Write the status of device LO into BUF as "key=value" lines: what
 * sysfs shows of a kernel loop device (/sys/block/loopN and its loop/
 * directory) and LOOP_GET_STATUS64 tells, readable without opening the
 * device, because an open and close would run AUTOCLEAR as it does on
 * the kernel's devices.  loopfsctl's list and its sandbox's sysfs view
 * read it.  Returns the length, or -ERANGE if BUF is too small. */
static int
status_value (const struct loopdev *lo, char *buf, size_t size)
{
  const struct device *dev = lo->priv;
  bool bound = lo->state == LOOPDEV_BOUND || lo->state == LOOPDEV_RUNDOWN;
  char path[PATH_MAX] = "";
  int len;

  /* sysfs's loop/backing_file is the file's path (d_path), not
   * lo_file_name: read it from our copy of the descriptor. */
  if (bound && dev && dev->backing_fd >= 0) {
    char link[64];
    ssize_t n;

    snprintf (link, sizeof link, "/proc/self/fd/%d", dev->backing_fd);
    n = readlink (link, path, sizeof path - 1);
    path[n > 0 ? n : 0] = '\0';
  }
  len = snprintf (buf, size,
                  "state=%s\n"
                  "size=%" PRIu64 "\n"
                  "ro=%d\n"
                  "logical_block_size=%" PRIu32 "\n"
                  "physical_block_size=%" PRIu32 "\n",
                  loopdev_state_name (lo->state),
                  bound ? loopdev_size (lo) : 0,
                  loopdev_read_only (lo),
                  loopdev_logical_block_size (lo),
                  loopdev_physical_block_size (lo));
  if (bound && len >= 0 && (size_t) len < size)
    len += snprintf (buf + len, size - len,
                     "backing_file=%s\n"
                     "file_name=%s\n"
                     "offset=%" PRIu64 "\n"
                     "sizelimit=%" PRIu64 "\n"
                     "autoclear=%d\n"
                     "partscan=%d\n"
                     "dio=%d\n"
                     "read_only=%d\n"
                     "backing_dev=%u:%u\n"
                     "backing_inode=%" PRIu64 "\n",
                     path, lo->b.file_name, lo->b.offset, lo->b.sizelimit,
                     !!(lo->b.flags & LO_FLAGS_AUTOCLEAR),
                     !!(lo->b.flags & LO_FLAGS_PARTSCAN),
                     !!(lo->b.flags & LO_FLAGS_DIRECT_IO),
                     !!(lo->b.flags & LO_FLAGS_READ_ONLY),
                     major (lo->b.backing.dev), minor (lo->b.backing.dev),
                     (uint64_t) lo->b.backing.ino);
  if (len < 0 || (size_t) len >= size)
    return -ERANGE;
  return len;
}

/* Write what loop-control's user.loopfs.instance tells into BUF as
 * "key=value" lines: the daemon, the instance's limit and use, and
 * whether bound devices also get a kernel NBD device.  Returns the
 * length, or -ERANGE if BUF is too small. */
static int
instance_value (const struct daemon *d, char *buf, size_t size)
{
  const struct instance *inst = &d->inst;
  size_t i, bound = 0;
  int len;

  for (i = 0; i < inst->devs.len; i++)
    bound += inst->devs.ptr[i]->state == LOOPDEV_BOUND
             || inst->devs.ptr[i]->state == LOOPDEV_RUNDOWN;
  len = snprintf (buf, size,
                  "pid=%d\n"
                  "max=%u\n"
                  "devices=%zu\n"
                  "bound=%zu\n"
                  "nbd=%s\n"
                  "connections=%u\n",
                  (int) getpid (), inst->max_devices, instance_count (inst),
                  bound, d->nbd ? "on" : "off", d->opts.connections);
  if (len < 0 || (size_t) len >= size)
    return -ERANGE;
  return len;
}

/* Compute the value of extended attribute NAME of INO into BUF. */
static int
xattr_value (struct daemon *d, fuse_ino_t ino, const char *name, char *buf,
             size_t size)
{
  struct loopdev *lo = node_device (d, ino);

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
    return status_value (lo, buf, size);
  if (strcmp (name, XATTR_INSTANCE) == 0 && ino == CONTROL_INO)
    return instance_value (d, buf, size);
  return -ENODATA;
}

/* getxattr(2): the node name (how loopfsd recognises its own nodes
 * offered as backing files), the nbdkit and kernel NBD device serving
 * a device, and its status. */
void
xattr_get (fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
  char value[PATH_MAX + 2 * LO_NAME_SIZE + 512];
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
  char list[128], value[PATH_MAX + 2 * LO_NAME_SIZE + 512];
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
