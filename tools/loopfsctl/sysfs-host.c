/* loopfsctl exec: the host's other block devices in the sandbox's sysfs
 * view (see sysfs-host.h). */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>

#include "cleanup.h"
#include "loop-numbers.h"
#include "loopfsctl.h"
#include "sysfs-host.h"
#include "vector.h"


static const char *const host_paths[HOST_DIRS] = {
  "/sys/block", "/sys/dev/block", "/sys/class/block",
  "/sys/devices/virtual/block",
};

DEFINE_VECTOR_TYPE (name_vector, char *)

struct sysfs_host {
  int fds[HOST_DIRS];
  /* Every name an inode was given for, in the order given: the inode
   * of a host entry is SYSFS_HOST_INO_BASE + its place here * HOST_DIRS
   * + its directory.  Only the view's one thread uses it. */
  name_vector names;
  name_vector virtual;       /* the virtual disks bound into the view */
};

int
sysfs_host_open (struct sysfs_host **out)
{
  struct sysfs_host *h = calloc (1, sizeof *h);
  DIR *d;
  struct dirent *e;
  int i, fd;

  if (h == NULL)
    return -ENOMEM;
  for (i = 0; i < HOST_DIRS; i++)
    h->fds[i] = -1;
  for (i = 0; i < HOST_DIRS; i++) {
    h->fds[i] = open (host_paths[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (h->fds[i] < 0) {
      int r = -errno;

      ctl_error ("exec: %s: %m", host_paths[i]);
      sysfs_host_close (h);
      return r;
    }
  }
  fd = openat (h->fds[HOST_VIRTUAL_BLOCK], ".", O_RDONLY | O_DIRECTORY
               | O_CLOEXEC);
  d = fd < 0 ? NULL : fdopendir (fd);
  while (d && (e = readdir (d)) != NULL) {
    char *name;

    if (e->d_name[0] == '.' || strncmp (e->d_name, "loop", 4) == 0)
      continue;
    name = strdup (e->d_name);
    if (name == NULL || name_vector_append (&h->virtual, name) < 0)
      free (name);
  }
  if (d)
    closedir (d);
  *out = h;
  return 0;
}

void
sysfs_host_close (struct sysfs_host *h)
{
  size_t i;

  if (h == NULL)
    return;
  for (i = 0; i < HOST_DIRS; i++)
    if (h->fds[i] >= 0)
      close (h->fds[i]);
  for (i = 0; i < h->names.len; i++)
    free (h->names.ptr[i]);
  for (i = 0; i < h->virtual.len; i++)
    free (h->virtual.ptr[i]);
  name_vector_reset (&h->names);
  name_vector_reset (&h->virtual);
  free (h);
}

bool
sysfs_host_ino (fuse_ino_t ino)
{
  return ino >= SYSFS_HOST_INO_BASE;
}

/* The inode of entry NAME of DIR, given now if it has none yet; 0 when
 * out of memory. */
static fuse_ino_t
name_ino (struct sysfs_host *h, enum sysfs_host_dir dir, const char *name)
{
  char *copy;
  size_t i;

  for (i = 0; i < h->names.len; i++)
    if (strcmp (h->names.ptr[i], name) == 0)
      break;
  if (i == h->names.len) {
    copy = strdup (name);
    if (copy == NULL || name_vector_append (&h->names, copy) < 0) {
      free (copy);
      return 0;
    }
  }
  return SYSFS_HOST_INO_BASE + (fuse_ino_t) i * HOST_DIRS + dir;
}

/* Is a host entry NAME with link target TARGET one of the host's loop
 * devices or partitions of one?  Those stay out of the view. */
static bool
is_host_loop (enum sysfs_host_dir dir, const char *name, const char *target)
{
  const char *base = strrchr (target, '/');
  unsigned major;

  base = base ? base + 1 : target;
  if (strncmp (name, "loop", 4) == 0 || strncmp (base, "loop", 4) == 0
      || strstr (target, "/loop") != NULL)
    return true;
  return dir == HOST_DEV_BLOCK && sscanf (name, "%u:", &major) == 1
         && major == LOOP_MAJOR;
}

/* Is NAME one of the virtual disks bound into the view? */
static bool
is_bound_virtual (struct sysfs_host *h, const char *name)
{
  size_t i;

  for (i = 0; i < h->virtual.len; i++)
    if (strcmp (h->virtual.ptr[i], name) == 0)
      return true;
  return false;
}

/* Fill ATTR for entry NAME of DIR: a directory (a bound virtual disk)
 * or a symlink.  Returns 0 or -ENOENT. */
static int
fill_attr (struct sysfs_host *h, enum sysfs_host_dir dir, const char *name,
           struct stat *attr)
{
  char target[PATH_MAX];
  ssize_t n;

  memset (attr, 0, sizeof *attr);
  if (dir == HOST_VIRTUAL_BLOCK) {
    if (!is_bound_virtual (h, name))
      return -ENOENT;
    attr->st_mode = S_IFDIR | 0755;
    attr->st_nlink = 2;
  }
  else {
    n = readlinkat (h->fds[dir], name, target, sizeof target - 1);
    if (n < 0)
      return -ENOENT;
    target[n] = '\0';
    if (is_host_loop (dir, name, target))
      return -ENOENT;
    attr->st_mode = S_IFLNK | 0777;
    attr->st_nlink = 1;
    attr->st_size = n;
  }
  attr->st_ino = name_ino (h, dir, name);
  return attr->st_ino ? 0 : -ENOENT;
}

int
sysfs_host_lookup (struct sysfs_host *h, enum sysfs_host_dir dir,
                   const char *name, struct stat *attr)
{
  if (h == NULL)
    return -ENOENT;
  return fill_attr (h, dir, name, attr);
}

/* The directory and name of host inode INO, or false. */
static bool
resolve (struct sysfs_host *h, fuse_ino_t ino, enum sysfs_host_dir *dir,
         const char **name)
{
  fuse_ino_t rel;

  if (h == NULL || !sysfs_host_ino (ino))
    return false;
  rel = ino - SYSFS_HOST_INO_BASE;
  if (rel / HOST_DIRS >= h->names.len)
    return false;
  *dir = rel % HOST_DIRS;
  *name = h->names.ptr[rel / HOST_DIRS];
  return true;
}

int
sysfs_host_getattr (struct sysfs_host *h, fuse_ino_t ino, struct stat *attr)
{
  enum sysfs_host_dir dir;
  const char *name;

  if (!resolve (h, ino, &dir, &name))
    return -ENOENT;
  return fill_attr (h, dir, name, attr);
}

int
sysfs_host_readlink (struct sysfs_host *h, fuse_ino_t ino, char *buf,
                     size_t size)
{
  enum sysfs_host_dir dir;
  const char *name;
  ssize_t n;

  if (!resolve (h, ino, &dir, &name) || dir == HOST_VIRTUAL_BLOCK)
    return -EINVAL;
  n = readlinkat (h->fds[dir], name, buf, size - 1);
  if (n < 0 || is_host_loop (dir, name, (buf[n] = '\0', buf)))
    return -EINVAL;
  return 0;
}

void
sysfs_host_list (struct sysfs_host *h, enum sysfs_host_dir dir,
                 sysfs_add_fn *add, void *ctx)
{
  DIR *d;
  struct dirent *e;
  int fd;

  if (h == NULL)
    return;
  fd = openat (h->fds[dir], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  d = fd < 0 ? NULL : fdopendir (fd);
  if (d == NULL) {
    if (fd >= 0)
      close (fd);
    return;
  }
  while ((e = readdir (d)) != NULL) {
    struct stat attr;

    if (e->d_name[0] != '.' && fill_attr (h, dir, e->d_name, &attr) == 0)
      add (ctx, e->d_name, &attr);
  }
  closedir (d);
}

int
sysfs_host_bind_virtual (struct sysfs_host *h, const char *view_dir)
{
  size_t i = 0;

  while (i < h->virtual.len) {
    char source[64 + NAME_MAX], target[PATH_MAX];

    snprintf (source, sizeof source, "/proc/self/fd/%d/%s",
              h->fds[HOST_VIRTUAL_BLOCK], h->virtual.ptr[i]);
    snprintf (target, sizeof target, "%s/%s", view_dir, h->virtual.ptr[i]);
    if (mount (source, target, NULL, MS_BIND | MS_REC, NULL) == 0) {
      i++;
      continue;
    }
    ctl_error ("exec: binding %s/%s into the sysfs view: %m",
               host_paths[HOST_VIRTUAL_BLOCK], h->virtual.ptr[i]);
    free (h->virtual.ptr[i]);
    name_vector_remove (&h->virtual, i);
  }
  return 0;
}
