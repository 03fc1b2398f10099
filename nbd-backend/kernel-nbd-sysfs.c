/* loopfs nbd-backend: finding nbd devices and their backend
 * identifiers in sysfs.
 *
 * /sys/block/nbdN/backend exists from NBD_CMD_CONNECT until the
 * device's configuration is dropped (disconnect and last close), and
 * holds the identifier given at connect and a newline.  Devices set up
 * with the old ioctls have no such attribute and are never ours.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup.h"
#include "kernel-nbd-sysfs.h"
#include "kernel-nbd.h"

/* Where sysfs is mounted; tests point this at a fake tree. */
static const char *sysfs_root = "/sys";

/* Read sysfs from ROOT instead of /sys. */
void
kernel_nbd_set_sysfs_root (const char *root)
{
  sysfs_root = root ? root : "/sys";
}

/* Read the attribute NAME of nbd device INDEX into BUF as a string
 * without its trailing newline.  -ENODEV without the device, -ENOENT
 * without the attribute, -ENAMETOOLONG if it does not fit. */
static int
read_attribute (uint32_t index, const char *name, char *buf, size_t size)
{
  CLEANUP_CLOSE int dir = -1;
  CLEANUP_CLOSE int fd = -1;
  char path[PATH_MAX];
  size_t len = 0;

  snprintf (path, sizeof path, "%s/block/nbd%" PRIu32, sysfs_root, index);
  dir = open (path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir == -1)
    return errno == ENOENT ? -ENODEV : -errno;
  fd = openat (dir, name, O_RDONLY | O_CLOEXEC);
  if (fd == -1)
    return -errno;

  for (;;) {
    ssize_t n = read (fd, buf + len, size - len);

    if (n == -1) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    if (n == 0)
      break;
    len += n;
    if (len == size) {
      /* Full: fine only if the last byte is the newline we drop. */
      if (buf[len - 1] != '\n')
        return -ENAMETOOLONG;
      break;
    }
  }
  if (len > 0 && buf[len - 1] == '\n')
    len--;
  if (len == size)
    return -ENAMETOOLONG;
  buf[len] = '\0';
  return 0;
}

/* The backend identifier of device INDEX (see kernel-nbd-sysfs.h). */
int
kernel_nbd_sysfs_identifier (uint32_t index, char *buf, size_t size)
{
  int r = read_attribute (index, "backend", buf, size);

  return r == -ENOENT ? -ENOTCONN : r;
}

/* The size of device INDEX in sectors. */
int
kernel_nbd_sysfs_sectors (uint32_t index, uint64_t *sectors)
{
  char buf[32], *end;
  int r = read_attribute (index, "size", buf, sizeof buf);

  if (r < 0)
    return r;
  errno = 0;
  *sectors = strtoull (buf, &end, 10);
  if (errno || end == buf || *end != '\0')
    return -EPROTO;
  return 0;
}

/* Parse "nbdN" into N; false for any other name. */
static bool
parse_device_name (const char *name, uint32_t *index)
{
  unsigned long n;
  char *end;

  if (strncmp (name, "nbd", 3) != 0 || name[3] < '0' || name[3] > '9')
    return false;
  errno = 0;
  n = strtoul (name + 3, &end, 10);
  if (errno || *end != '\0' || n > UINT32_MAX)
    return false;
  *index = n;
  return true;
}

/* Order devices by number. */
static int
compare_index (const void *a, const void *b)
{
  const struct kernel_nbd_device *x = a, *y = b;

  return (x->index > y->index) - (x->index < y->index);
}

/* Scan <sysfs>/block for nbd devices whose identifier starts with
 * PREFIX.  Devices that come or go during the scan are taken as they
 * are found; the caller acts on each with the identifier it read, and
 * kernel_nbd_disconnect checks it again. */
int
kernel_nbd_list_by_identifier (const char *prefix,
                               kernel_nbd_device_vector *devices)
{
  char path[PATH_MAX];
  DIR *dir;
  struct dirent *d;
  size_t first = devices->len;
  size_t prefix_len = strlen (prefix);
  int r = 0;

  snprintf (path, sizeof path, "%s/block", sysfs_root);
  dir = opendir (path);
  if (dir == NULL)
    return -errno;

  while ((errno = 0, d = readdir (dir)) != NULL) {
    char identifier[KERNEL_NBD_IDENTIFIER_MAX];
    struct kernel_nbd_device dev;
    uint32_t index;

    if (!parse_device_name (d->d_name, &index))
      continue;
    r = kernel_nbd_sysfs_identifier (index, identifier, sizeof identifier);
    if (r == -ENODEV || r == -ENOTCONN || r == -ENAMETOOLONG) {
      r = 0;
      continue;
    }
    if (r < 0)
      break;
    if (strncmp (identifier, prefix, prefix_len) != 0)
      continue;
    dev.index = index;
    dev.identifier = strdup (identifier);
    if (dev.identifier == NULL) {
      r = -ENOMEM;
      break;
    }
    r = kernel_nbd_device_vector_append (devices, dev);
    if (r < 0) {
      free (dev.identifier);
      break;
    }
  }
  if (r == 0 && errno)
    r = -errno;
  closedir (dir);

  if (r < 0) {
    while (devices->len > first)
      free (devices->ptr[--devices->len].identifier);
    return r;
  }
  if (devices->len > first)
    qsort (devices->ptr + first, devices->len - first, sizeof *devices->ptr,
           compare_index);
  return devices->len - first;
}

/* Free the identifiers and the storage of DEVICES. */
void
kernel_nbd_device_vector_free (kernel_nbd_device_vector *devices)
{
  for (size_t i = 0; i < devices->len; i++)
    free (devices->ptr[i].identifier);
  kernel_nbd_device_vector_reset (devices);
}
