/* loopfsctl exec: the partitions in the sandbox's sysfs view (see
 * sysfs-partitions.h). */

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "device-status.h"
#include "partition-info.h"
#include "partition-status.h"
#include "sysfs-partitions.h"

/* A partition's nodes: its directory, its files, the link to it. */
enum { P_DIR = 0, P_HOLDERS = 11, P_CLASS_LINK = 14, P_DEV_LINK = 15 };

/* Print one attribute of partition ST (device number DEVNO). */
typedef void part_show_fn (const struct partition_status *st, dev_t devno,
                           char *buf, size_t size);

static void
show_dev (const struct partition_status *st, dev_t devno, char *buf,
          size_t size)
{
  (void) st;
  snprintf (buf, size, "%u:%u\n", major (devno), minor (devno));
}

static void
show_partition (const struct partition_status *st, dev_t devno, char *buf,
                size_t size)
{
  (void) devno;
  snprintf (buf, size, "%d\n", st->number);
}

static void
show_start (const struct partition_status *st, dev_t devno, char *buf,
            size_t size)
{
  (void) devno;
  snprintf (buf, size, "%llu\n", (unsigned long long) st->start);
}

static void
show_size (const struct partition_status *st, dev_t devno, char *buf,
           size_t size)
{
  (void) devno;
  snprintf (buf, size, "%llu\n", (unsigned long long) st->size / 512);
}

static void
show_ro (const struct partition_status *st, dev_t devno, char *buf,
         size_t size)
{
  (void) devno;
  snprintf (buf, size, "%d\n", st->ro);
}

static void
show_zero (const struct partition_status *st, dev_t devno, char *buf,
           size_t size)
{
  (void) st;
  (void) devno;
  snprintf (buf, size, "0\n");
}

/* As part_inflight_show prints it. */
static void
show_inflight (const struct partition_status *st, dev_t devno, char *buf,
               size_t size)
{
  (void) st;
  (void) devno;
  snprintf (buf, size, "%8u %8u\n", 0, 0);
}

/* As part_stat_show prints it: 17 counters, none counted here. */
static void
show_stat (const struct partition_status *st, dev_t devno, char *buf,
           size_t size)
{
  size_t used = 0;
  int i;

  (void) st;
  (void) devno;
  for (i = 0; i < 17 && used < size; i++)
    used += snprintf (buf + used, size - used, "%s%8u", i ? " " : "", 0);
  if (used < size)
    snprintf (buf + used, size - used, "\n");
}

/* As part_uevent and the device core print it. */
static void
show_uevent (const struct partition_status *st, dev_t devno, char *buf,
             size_t size)
{
  snprintf (buf, size, "MAJOR=%u\nMINOR=%u\nDEVNAME=loop%dp%d\n"
            "DEVTYPE=partition\nPARTN=%d\n", major (devno), minor (devno),
            st->parent, st->number, st->number);
}

static const struct {
  const char *name;
  part_show_fn *show;
} files[SYSFS_PART_NODES] = {
  [1] = { "dev", show_dev },
  [2] = { "partition", show_partition },
  [3] = { "start", show_start },
  [4] = { "size", show_size },
  [5] = { "ro", show_ro },
  [6] = { "alignment_offset", show_zero },
  [7] = { "discard_alignment", show_zero },
  [8] = { "inflight", show_inflight },
  [9] = { "stat", show_stat },
  [10] = { "uevent", show_uevent },
  [P_HOLDERS] = { "holders", NULL },
};

/* The inode of node INDEX of partition M of device N. */
static fuse_ino_t
part_ino (int device, int partition, int index)
{
  return SYSFS_PART_INO_BASE
    + ((((fuse_ino_t) device << 8) | partition) * SYSFS_PART_NODES) + index;
}

bool
sysfs_part_ino (fuse_ino_t ino)
{
  return ino >= SYSFS_PART_INO_BASE;
}

/* Read the status of partition M of device N of INSTANCE into ST. */
static int
read_partition (const char *instance, int device, int partition,
                struct partition_status *st)
{
  char path[PATH_MAX];

  snprintf (path, sizeof path, "%s/loop%dp%d", instance, device, partition);
  return partition_status_read (path, st);
}

/* Split INO into device, partition and index, and read the
 * partition's status: 0 or -ENOENT. */
static int
resolve (const char *instance, fuse_ino_t ino, int *index,
         struct partition_status *st)
{
  fuse_ino_t rel;
  int device, partition;

  if (!sysfs_part_ino (ino))
    return -ENOENT;
  rel = (ino - SYSFS_PART_INO_BASE) / SYSFS_PART_NODES;
  *index = (ino - SYSFS_PART_INO_BASE) % SYSFS_PART_NODES;
  device = rel >> 8;
  partition = rel & 0xff;
  if (*index != P_DIR && *index < P_CLASS_LINK && files[*index].name == NULL)
    return -ENOENT;
  return read_partition (instance, device, partition, st) < 0
         ? -ENOENT : 0;
}

/* Fill ATTR for node INDEX of partition ST. */
static void
fill_attr (const struct partition_status *st, int index, struct stat *attr)
{
  memset (attr, 0, sizeof *attr);
  attr->st_ino = part_ino (st->parent, st->number, index);
  if (index == P_DIR || index == P_HOLDERS) {
    attr->st_mode = S_IFDIR | 0755;
    attr->st_nlink = 2;
  }
  else if (index >= P_CLASS_LINK) {
    attr->st_mode = S_IFLNK | 0777;
    attr->st_nlink = 1;
  }
  else {
    attr->st_mode = S_IFREG | 0444;
    attr->st_nlink = 1;
    attr->st_size = SYSFS_ATTRIBUTE_SIZE;
  }
}

int
sysfs_part_lookup_in_disk (const char *instance, int device,
                           const char *name, struct stat *attr)
{
  struct partition_status st;
  int n, m;

  if (!partition_parse_name (name, &n, &m) || n != device
      || read_partition (instance, n, m, &st) < 0)
    return -ENOENT;
  fill_attr (&st, P_DIR, attr);
  return 0;
}

int
sysfs_part_lookup_dev_link (const char *instance, const char *name,
                            struct stat *attr)
{
  struct partition_status st;
  unsigned major, minor;
  int n, m;
  char rest;

  if (sscanf (name, "%u:%u%c", &major, &minor, &rest) != 2
      || major != BLOCK_EXT_MAJOR || !partition_of_minor (minor, &n, &m)
      || read_partition (instance, n, m, &st) < 0)
    return -ENOENT;
  fill_attr (&st, P_DEV_LINK, attr);
  return 0;
}

int
sysfs_part_lookup_class_link (const char *instance, const char *name,
                              struct stat *attr)
{
  struct partition_status st;
  int n, m;

  if (!partition_parse_name (name, &n, &m)
      || read_partition (instance, n, m, &st) < 0)
    return -ENOENT;
  fill_attr (&st, P_CLASS_LINK, attr);
  return 0;
}

int
sysfs_part_lookup (const char *instance, fuse_ino_t parent,
                   const char *name, struct stat *attr)
{
  struct partition_status st;
  int index, i;

  if (resolve (instance, parent, &index, &st) < 0 || index != P_DIR)
    return -ENOENT;
  for (i = 1; i < SYSFS_PART_NODES; i++)
    if (files[i].name && strcmp (files[i].name, name) == 0) {
      fill_attr (&st, i, attr);
      return 0;
    }
  return -ENOENT;
}

int
sysfs_part_getattr (const char *instance, fuse_ino_t ino, struct stat *attr)
{
  struct partition_status st;
  int index;

  if (resolve (instance, ino, &index, &st) < 0)
    return -ENOENT;
  fill_attr (&st, index, attr);
  return 0;
}

void
sysfs_part_list_disk (const char *instance, int device, sysfs_add_fn *add,
                      void *ctx)
{
  partition_status_vector parts = { 0 };
  size_t i;

  if (instance_partitions (instance, device, &parts) == 0)
    for (i = 0; i < parts.len; i++) {
      struct stat attr;
      char name[48];

      snprintf (name, sizeof name, "loop%dp%d", device, parts.ptr[i].number);
      fill_attr (&parts.ptr[i], P_DIR, &attr);
      add (ctx, name, &attr);
    }
  partition_status_vector_reset (&parts);
}

/* Add a link of kind INDEX (P_DEV_LINK: "259:X", P_CLASS_LINK:
 * "loopNpM") for every partition of the instance to a listing. */
static void
list_links (const char *instance, int index, sysfs_add_fn *add, void *ctx)
{
  int_vector devices = { 0 };
  size_t i, j;

  if (instance_device_numbers (instance, &devices) == 0)
    for (i = 0; i < devices.len; i++) {
      partition_status_vector parts = { 0 };

      if (instance_partitions (instance, devices.ptr[i], &parts) == 0)
        for (j = 0; j < parts.len; j++) {
          struct partition_status st = parts.ptr[j];
          dev_t devno = partition_devno (instance, st.parent, st.number);
          struct stat attr;
          char name[48];

          if (index == P_CLASS_LINK)
            snprintf (name, sizeof name, "loop%dp%d", st.parent,
                      st.number);
          else if (devno != 0)
            snprintf (name, sizeof name, "%u:%u", major (devno),
                      minor (devno));
          else
            continue;
          fill_attr (&st, index, &attr);
          add (ctx, name, &attr);
        }
      partition_status_vector_reset (&parts);
    }
  int_vector_reset (&devices);
}

void
sysfs_part_list_dev_links (const char *instance, sysfs_add_fn *add,
                           void *ctx)
{
  list_links (instance, P_DEV_LINK, add, ctx);
}

void
sysfs_part_list_class_links (const char *instance, sysfs_add_fn *add,
                             void *ctx)
{
  list_links (instance, P_CLASS_LINK, add, ctx);
}

int
sysfs_part_list (const char *instance, fuse_ino_t ino, sysfs_add_fn *add,
                 void *ctx)
{
  struct partition_status st;
  struct stat attr;
  int index, i;

  if (resolve (instance, ino, &index, &st) < 0)
    return -ENOENT;
  if (index == P_HOLDERS)
    return 0;
  if (index != P_DIR)
    return -ENOTDIR;
  for (i = 1; i < SYSFS_PART_NODES; i++)
    if (files[i].name) {
      fill_attr (&st, i, &attr);
      add (ctx, files[i].name, &attr);
    }
  return 0;
}

int
sysfs_part_read (const char *instance, fuse_ino_t ino, char *buf,
                 size_t size)
{
  struct partition_status st;
  int index;

  if (resolve (instance, ino, &index, &st) < 0)
    return -ENOENT;
  if (index >= P_CLASS_LINK || files[index].show == NULL)
    return -EISDIR;
  files[index].show (&st, partition_devno (instance, st.parent,
                                           st.number), buf, size);
  return 0;
}

int
sysfs_part_readlink (const char *instance, fuse_ino_t ino, char *buf,
                     size_t size)
{
  struct partition_status st;
  int index;

  if (resolve (instance, ino, &index, &st) < 0 || index < P_CLASS_LINK)
    return -EINVAL;
  snprintf (buf, size, "../../%s/loop%d/loop%dp%d",
            index == P_DEV_LINK ? "block" : "devices/virtual/block",
            st.parent, st.parent, st.number);
  return 0;
}
