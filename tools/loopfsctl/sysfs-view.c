/* loopfsctl exec: the sandbox's sysfs view, its FUSE requests (see
 * sysfs-view.h).
 *
 * Inode numbers say what a node is, so the filesystem keeps no state:
 * 1 is /sys/block, 2 to 4 the directories bound over /sys/dev/block,
 * /sys/class/block and /sys/devices/virtual/block (hidden from
 * /sys/block's listing), device N's nodes are FIRST_DEVICE_INO + N *
 * SYSFS_DISK_NODES + the node's index in sysfs_disk_nodes, and
 * partitions and the host's entries have ranges of their own
 * (sysfs-partitions.h, sysfs-host.h).
 */

#define FUSE_USE_VERSION 35

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <fuse_lowlevel.h>

#include "cleanup.h"
#include "device-status.h"
#include "loopfs-interface.h"
#include "loop-numbers.h"
#include "loopfsctl.h"
#include "sysfs-disk.h"
#include "sysfs-partitions.h"
#include "sysfs-view-private.h"
#include "sysfs-view.h"

#define FIRST_DEVICE_INO 16


static fuse_ino_t
device_ino (int number, int index)
{
  return FIRST_DEVICE_INO + (fuse_ino_t) number * SYSFS_DISK_NODES + index;
}

/* Read the status of device NUMBER of the view's instance. */
static int
read_device (struct sysfs_view *sv, int number, struct device_status *st)
{
  char path[PATH_MAX];

  snprintf (path, sizeof path, "%s/loop%d", sv->instance, number);
  return device_status_read (path, st);
}

/* Split device inode INO into device number and node index, and read
 * the device's status: 0, or -ENOENT when the node does not exist
 * (now). */
static int
resolve (struct sysfs_view *sv, fuse_ino_t ino, int *number, int *index,
         struct device_status *st)
{
  if (ino < FIRST_DEVICE_INO || sysfs_part_ino (ino) || sysfs_host_ino (ino))
    return -ENOENT;
  *number = (ino - FIRST_DEVICE_INO) / SYSFS_DISK_NODES;
  *index = (ino - FIRST_DEVICE_INO) % SYSFS_DISK_NODES;
  if (*index < N_CLASS_LINK && *index != N_DEVICE
      && sysfs_disk_nodes[*index].name == NULL)
    return -ENOENT;
  if (read_device (sv, *number, st) < 0)
    return -ENOENT;
  if (sysfs_disk_nodes[*index].bound_only && !st->bound)
    return -ENOENT;
  return 0;
}

/* Fill ATTR for inode INO (a view directory, or node INDEX of a
 * device), which exists. */
static void
fill_attr (fuse_ino_t ino, int index, struct stat *attr)
{
  memset (attr, 0, sizeof *attr);
  attr->st_ino = ino;
  if (ino < FIRST_DEVICE_INO || sysfs_disk_is_dir (index)) {
    attr->st_mode = S_IFDIR | 0755;
    attr->st_nlink = 2;
  }
  else if (index >= N_CLASS_LINK) {
    attr->st_mode = S_IFLNK | 0777;
    attr->st_nlink = 1;
  }
  else {
    attr->st_mode = S_IFREG | 0444;
    attr->st_nlink = 1;
    attr->st_size = SYSFS_ATTRIBUTE_SIZE;
  }
}

/* Parse "loopN" (PREFIX "loop") or "7:N" (PREFIX "7:") into *NUMBER. */
static bool
parse_name (const char *name, const char *prefix, int *number)
{
  size_t len = strlen (prefix);
  char *end;
  long n;

  if (strncmp (name, prefix, len) != 0 || name[len] < '0' || name[len] > '9')
    return false;
  n = strtol (name + len, &end, 10);
  if (*end || n < 0 || n > LOOPFS_MAX_INDEX)
    return false;
  *number = n;
  return true;
}

/* The hidden directories of the root, bound elsewhere. */
static const struct {
  const char *name;
  fuse_ino_t ino;
  enum sysfs_host_dir host;    /* the host directory it shows too */
} view_dirs[] = {
  { NULL, ROOT_INO, HOST_BLOCK },
  { SYSFS_VIEW_DEV_BLOCK, DEV_BLOCK_INO, HOST_DEV_BLOCK },
  { SYSFS_VIEW_CLASS_BLOCK, CLASS_BLOCK_INO, HOST_CLASS_BLOCK },
  { SYSFS_VIEW_VIRTUAL_BLOCK, VIRTUAL_BLOCK_INO, HOST_VIRTUAL_BLOCK },
};

/* Look NAME up in view directory DIR (ROOT_INO ... VIRTUAL_BLOCK_INO):
 * the instance's entries first, then the host's. */
static int
lookup_in_view_dir (struct sysfs_view *sv, fuse_ino_t dir, const char *name,
                    struct stat *attr)
{
  struct device_status st;
  int number, index;
  size_t i;

  if (dir == ROOT_INO)
    for (i = 1; i < sizeof view_dirs / sizeof view_dirs[0]; i++)
      if (strcmp (name, view_dirs[i].name) == 0) {
        fill_attr (view_dirs[i].ino, 0, attr);
        return 0;
      }
  if (dir == DEV_BLOCK_INO
      && sysfs_part_lookup_dev_link (sv->instance, name, attr) == 0)
    return 0;
  if (dir == CLASS_BLOCK_INO
      && sysfs_part_lookup_class_link (sv->instance, name, attr) == 0)
    return 0;
  index = dir == DEV_BLOCK_INO ? N_DEV_LINK
          : dir == CLASS_BLOCK_INO ? N_CLASS_LINK : N_DEVICE;
  if (parse_name (name, dir == DEV_BLOCK_INO ? "7:" : "loop", &number)
      && (dir != DEV_BLOCK_INO
          || sandbox_loop_of_minor (number, &number))
      && read_device (sv, number, &st) == 0) {
    fill_attr (device_ino (number, index), index, attr);
    return 0;
  }
  for (i = 0; i < sizeof view_dirs / sizeof view_dirs[0]; i++)
    if (view_dirs[i].ino == dir)
      return sysfs_host_lookup (sv->host, view_dirs[i].host, name, attr);
  return -ENOENT;
}

/* Look NAME up in directory PARENT: 0 with *ATTR, or -ENOENT. */
static int
lookup_node (struct sysfs_view *sv, fuse_ino_t parent, const char *name,
             struct stat *attr)
{
  struct device_status st;
  int number, index, i;

  if (parent < FIRST_DEVICE_INO)
    return lookup_in_view_dir (sv, parent, name, attr);
  if (sysfs_part_ino (parent))
    return sysfs_part_lookup (sv->instance, parent, name, attr);
  if (resolve (sv, parent, &number, &index, &st) < 0
      || !sysfs_disk_is_dir (index))
    return -ENOENT;
  if (index == N_DEVICE
      && sysfs_part_lookup_in_disk (sv->instance, number, name, attr) == 0)
    return 0;
  for (i = 1; i < N_DEV_LINK; i++)
    if (sysfs_disk_nodes[i].name && sysfs_disk_nodes[i].parent == index
        && strcmp (sysfs_disk_nodes[i].name, name) == 0
        && (!sysfs_disk_nodes[i].bound_only || st.bound)) {
      fill_attr (device_ino (number, i), i, attr);
      return 0;
    }
  return -ENOENT;
}

static void
view_lookup (fuse_req_t req, fuse_ino_t parent, const char *name)
{
  struct fuse_entry_param e = { .ino = 0 };
  int r = lookup_node (fuse_req_userdata (req), parent, name, &e.attr);

  if (r < 0) {
    fuse_reply_err (req, -r);
    return;
  }
  e.ino = e.attr.st_ino;
  fuse_reply_entry (req, &e);
}

/* The attributes of inode INO: 0, or -ENOENT. */
static int
getattr_node (struct sysfs_view *sv, fuse_ino_t ino, struct stat *attr)
{
  struct device_status st;
  int number, index;

  if (sysfs_host_ino (ino))
    return sysfs_host_getattr (sv->host, ino, attr);
  if (sysfs_part_ino (ino))
    return sysfs_part_getattr (sv->instance, ino, attr);
  if (ino <= VIRTUAL_BLOCK_INO) {
    fill_attr (ino, 0, attr);
    return 0;
  }
  if (resolve (sv, ino, &number, &index, &st) < 0)
    return -ENOENT;
  fill_attr (ino, index, attr);
  return 0;
}

static void
view_getattr (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
  struct stat attr;
  int r = getattr_node (fuse_req_userdata (req), ino, &attr);

  (void) fi;
  if (r < 0)
    fuse_reply_err (req, -r);
  else
    fuse_reply_attr (req, &attr, 0);
}

/* The target of link INO into BUF (SIZE bytes): 0 or -EINVAL. */
static int
readlink_node (struct sysfs_view *sv, fuse_ino_t ino, char *buf, size_t size)
{
  struct device_status st;
  int number, index;

  if (sysfs_host_ino (ino))
    return sysfs_host_readlink (sv->host, ino, buf, size);
  if (sysfs_part_ino (ino))
    return sysfs_part_readlink (sv->instance, ino, buf, size);
  if (resolve (sv, ino, &number, &index, &st) < 0 || index < N_CLASS_LINK)
    return -EINVAL;
  if (index == N_DEV_LINK)
    snprintf (buf, size, "../../block/loop%d", number);
  else
    snprintf (buf, size, "../../devices/virtual/block/loop%d", number);
  return 0;
}

static void
view_readlink (fuse_req_t req, fuse_ino_t ino)
{
  char target[PATH_MAX];

  if (readlink_node (fuse_req_userdata (req), ino, target, sizeof target) < 0)
    fuse_reply_err (req, EINVAL);
  else
    fuse_reply_readlink (req, target);
}

/* A directory listing being filled for one READDIR: entries before
 * OFF are skipped, those that do not fit are left for the next one. */
struct listing {
  fuse_req_t req;
  char *buf;
  size_t size, used;
  off_t off, pos;
};

/* Add entry NAME with attributes ATTR to listing CTX. */
static void
add_entry (void *ctx, const char *name, const struct stat *attr)
{
  struct listing *l = ctx;
  size_t len;

  l->pos++;
  if (l->pos <= l->off || l->used >= l->size)
    return;
  len = fuse_add_direntry (l->req, l->buf + l->used, l->size - l->used, name,
                           attr, l->pos);
  l->used = len > l->size - l->used ? l->size : l->used + len;
}

/* Add the entry NAME for inode INO (node INDEX) to listing L. */
static void
add_node (struct listing *l, const char *name, fuse_ino_t ino, int index)
{
  struct stat attr;

  fill_attr (ino, index, &attr);
  add_entry (l, name, &attr);
}

/* List view directory DIR (ROOT_INO ... VIRTUAL_BLOCK_INO) into L: the
 * instance's devices (and partitions), then the host's entries. */
static void
list_view_dir (struct sysfs_view *sv, fuse_ino_t dir, struct listing *l)
{
  int_vector numbers = { 0 };
  int index = dir == DEV_BLOCK_INO ? N_DEV_LINK
              : dir == CLASS_BLOCK_INO ? N_CLASS_LINK : N_DEVICE;
  size_t i;

  if (instance_device_numbers (sv->instance, &numbers) == 0)
    for (i = 0; i < numbers.len; i++) {
      char name[32];

      if (dir == DEV_BLOCK_INO) {
        dev_t devno = sandbox_loop_devno (numbers.ptr[i]);

        snprintf (name, sizeof name, "%u:%u", major (devno), minor (devno));
      }
      else
        snprintf (name, sizeof name, "loop%d", numbers.ptr[i]);
      add_node (l, name, device_ino (numbers.ptr[i], index), index);
    }
  int_vector_reset (&numbers);
  if (dir == DEV_BLOCK_INO)
    sysfs_part_list_dev_links (sv->instance, add_entry, l);
  if (dir == CLASS_BLOCK_INO)
    sysfs_part_list_class_links (sv->instance, add_entry, l);
  for (i = 0; i < sizeof view_dirs / sizeof view_dirs[0]; i++)
    if (view_dirs[i].ino == dir)
      sysfs_host_list (sv->host, view_dirs[i].host, add_entry, l);
}

/* List directory INO into L: 0, or -ENOTDIR. */
static int
list_node (struct sysfs_view *sv, fuse_ino_t ino, struct listing *l)
{
  struct device_status st;
  int number, index, i;

  add_node (l, ".", ino, 0);
  add_node (l, "..", ROOT_INO, 0);
  if (sysfs_host_ino (ino))
    return -ENOTDIR;
  if (sysfs_part_ino (ino))
    return sysfs_part_list (sv->instance, ino, add_entry, l);
  if (ino <= VIRTUAL_BLOCK_INO) {
    list_view_dir (sv, ino, l);
    return 0;
  }
  if (resolve (sv, ino, &number, &index, &st) < 0
      || !sysfs_disk_is_dir (index))
    return -ENOTDIR;
  for (i = 1; i < N_DEV_LINK; i++)
    if (sysfs_disk_nodes[i].name && sysfs_disk_nodes[i].parent == index
        && (!sysfs_disk_nodes[i].bound_only || st.bound))
      add_node (l, sysfs_disk_nodes[i].name, device_ino (number, i), i);
  if (index == N_DEVICE)
    sysfs_part_list_disk (sv->instance, number, add_entry, l);
  return 0;
}

static void
view_readdir (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
              struct fuse_file_info *fi)
{
  CLEANUP_FREE char *buf = malloc (size);
  struct listing l = { .req = req, .buf = buf, .size = size, .off = off };
  int r;

  (void) fi;
  if (buf == NULL) {
    fuse_reply_err (req, ENOMEM);
    return;
  }
  r = list_node (fuse_req_userdata (req), ino, &l);
  if (r < 0) {
    fuse_reply_err (req, -r);
    return;
  }
  fuse_reply_buf (req, buf, l.used > size ? size : l.used);
}

/* The text of attribute INO into TEXT (SIZE bytes): 0, -ENOENT, or
 * -EISDIR for a directory or link. */
static int
read_node (struct sysfs_view *sv, fuse_ino_t ino, char *text, size_t size)
{
  struct device_status st;
  int number, index;

  if (sysfs_host_ino (ino))
    return -EISDIR;
  if (sysfs_part_ino (ino))
    return sysfs_part_read (sv->instance, ino, text, size);
  if (resolve (sv, ino, &number, &index, &st) < 0)
    return -ENOENT;
  if (sysfs_disk_is_dir (index) || index >= N_CLASS_LINK)
    return -EISDIR;
  sysfs_disk_nodes[index].show (&st, text, size);
  return 0;
}

static void
view_open (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
  char text[PATH_MAX + 64];
  int r = read_node (fuse_req_userdata (req), ino, text, sizeof text);

  if (r < 0) {
    fuse_reply_err (req, -r);
    return;
  }
  if ((fi->flags & O_ACCMODE) != O_RDONLY) {
    fuse_reply_err (req, EACCES);
    return;
  }
  /* Every read asks us, so every read is current. */
  fi->direct_io = 1;
  fi->keep_cache = 0;
  fuse_reply_open (req, fi);
}

static void
view_read (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
           struct fuse_file_info *fi)
{
  char text[PATH_MAX + 64];
  size_t len;

  (void) fi;
  if (read_node (fuse_req_userdata (req), ino, text, sizeof text) < 0) {
    fuse_reply_err (req, ENODEV);
    return;
  }
  len = strlen (text);
  if ((size_t) off >= len)
    fuse_reply_buf (req, NULL, 0);
  else
    fuse_reply_buf (req, text + off, len - off < size ? len - off : size);
}

const struct fuse_lowlevel_ops sysfs_view_ops = {
  .lookup = view_lookup,
  .getattr = view_getattr,
  .readlink = view_readlink,
  .open = view_open,
  .read = view_read,
  .readdir = view_readdir,
};

