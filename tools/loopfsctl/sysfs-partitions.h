/* loopfsctl exec: the partitions in the sandbox's sysfs view (see
 * sysfs-view.h).
 *
 * As the kernel shows a partition M of loopN: a directory
 * /sys/block/loopN/loopNpM with dev (259:X, partition-info.h),
 * partition, start, size, ro, alignment_offset, discard_alignment,
 * inflight, stat, uevent (DEVTYPE=partition, PARTN) and an empty
 * holders/, and links /sys/dev/block/259:X and /sys/class/block/loopNpM
 * to it.  lsblk finds
 * partitions as subdirectories of their disk that have a "partition"
 * file, and a partition's disk as the directory its /sys/dev/block link
 * leads into.  Values come from the partition node's status on every
 * read.  Inode numbers say which partition and which file: from
 * SYSFS_PART_INO_BASE up, SYSFS_PART_NODES per partition.
 */
#ifndef LOOPFSCTL_SYSFS_PARTITIONS_H
#define LOOPFSCTL_SYSFS_PARTITIONS_H

#define FUSE_USE_VERSION 35

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <fuse_lowlevel.h>

#define SYSFS_PART_INO_BASE ((fuse_ino_t) 1 << 40)
#define SYSFS_PART_NODES 16

/* What the kernel shows as a sysfs attribute's size. */
#define SYSFS_ATTRIBUTE_SIZE 4096

/* Add entry NAME with attributes ATTR to a directory listing CTX. */
typedef void sysfs_add_fn (void *ctx, const char *name,
                           const struct stat *attr);

/* Is INO a partition's node? */
bool sysfs_part_ino (fuse_ino_t ino);

/* Look NAME up in /sys/block/loopN (a partition directory "loopNpM"
 * of device N) of the instance at INSTANCE: 0 with *ATTR filled, or
 * -ENOENT. */
int sysfs_part_lookup_in_disk (const char *instance, int device,
                               const char *name, struct stat *attr);

/* Look NAME ("259:X") up in /sys/dev/block. */
int sysfs_part_lookup_dev_link (const char *instance, const char *name,
                                struct stat *attr);

/* Look NAME ("loopNpM") up in /sys/class/block. */
int sysfs_part_lookup_class_link (const char *instance, const char *name,
                                  struct stat *attr);

/* Look NAME up in partition directory PARENT. */
int sysfs_part_lookup (const char *instance, fuse_ino_t parent,
                       const char *name, struct stat *attr);

/* The attributes of partition node INO: 0, or -ENOENT. */
int sysfs_part_getattr (const char *instance, fuse_ino_t ino,
                        struct stat *attr);

/* Add the partition directories of device N to a listing of
 * /sys/block/loopN. */
void sysfs_part_list_disk (const char *instance, int device,
                           sysfs_add_fn *add, void *ctx);

/* Add a "259:X" link for every partition to a listing of
 * /sys/dev/block. */
void sysfs_part_list_dev_links (const char *instance, sysfs_add_fn *add,
                                void *ctx);

/* Add a "loopNpM" link for every partition to a listing of
 * /sys/class/block. */
void sysfs_part_list_class_links (const char *instance, sysfs_add_fn *add,
                                  void *ctx);

/* List the partition directory INO ("." and ".." are the caller's):
 * 0, -ENOENT, or -ENOTDIR. */
int sysfs_part_list (const char *instance, fuse_ino_t ino,
                     sysfs_add_fn *add, void *ctx);

/* The text of partition attribute INO into BUF (SIZE bytes): 0,
 * -ENOENT, or -EISDIR. */
int sysfs_part_read (const char *instance, fuse_ino_t ino, char *buf,
                     size_t size);

/* The target of link INO (/sys/dev/block/259:X, /sys/class/block/
 * loopNpM) into BUF: 0 or -EINVAL. */
int sysfs_part_readlink (const char *instance, fuse_ino_t ino, char *buf,
                         size_t size);

#endif /* LOOPFSCTL_SYSFS_PARTITIONS_H */
