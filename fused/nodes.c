/* loopfsd: the nodes of an instance, by name and inode number (see
 * nodes.h).  Device nodes are regular files (FUSE cannot make a
 * working block node), sized like the device. */

#include <errno.h>
#include <string.h>

#include "nodes.h"
#include "partition-nodes.h"

/* The model device behind inode INO, or NULL. */
struct loopdev *
node_device (struct daemon *d, fuse_ino_t ino)
{
  if (ino < DEVICE_INO_BASE || ino - DEVICE_INO_BASE >= INSTANCE_MAX_INDEX)
    return NULL;
  return instance_lookup (&d->inst, (int) (ino - DEVICE_INO_BASE));
}

/* Parse "loopN" (N in canonical decimal form) into *NUMBER. */
bool
node_parse_name (const char *name, int *number)
{
  const char *p = name + 4;
  long n = 0;

  if (strncmp (name, "loop", 4) != 0 || *p == '\0'
      || (p[0] == '0' && p[1] != '\0'))
    return false;
  for (; *p; p++) {
    if (*p < '0' || *p > '9')
      return false;
    n = n * 10 + (*p - '0');
    if (n >= INSTANCE_MAX_INDEX)
      return false;
  }
  *number = n;
  return true;
}

/* Fill *ST for inode INO; -ENOENT when it does not exist. */
int
node_attr (struct daemon *d, fuse_ino_t ino, struct stat *st)
{
  struct loopdev *lo = NULL;
  int64_t size;

  memset (st, 0, sizeof *st);
  if (ino == ROOT_INO) {
    st->st_mode = S_IFDIR | 0755;
    st->st_nlink = 2;
  }
  else if (ino == CONTROL_INO) {
    st->st_mode = S_IFREG | 0600;
    st->st_nlink = 1;
  }
  else if ((lo = node_device (d, ino)) != NULL) {
    st->st_mode = S_IFREG | 0600;
    st->st_nlink = 1;
    st->st_size = loopdev_size (lo);
  }
  else if ((size = partition_node_size (d, ino)) >= 0) {
    st->st_mode = S_IFREG | 0600;
    st->st_nlink = 1;
    st->st_size = size;
  }
  else
    return -ENOENT;
  st->st_ino = ino;
  st->st_uid = d->owner_uid;
  st->st_gid = d->owner_gid;
  st->st_blksize = LOOPDEV_PAGE_SIZE;
  st->st_atim = st->st_mtim = st->st_ctim = d->mount_time;
  return 0;
}
