/* loopfsctl exec: the host's other block devices in the sandbox's sysfs
 * view (see sysfs-view.h).
 *
 * A program that finds the disk under its working directory (stat(".")
 * gives st_dev, then /sys/dev/block/MAJ:MIN/...) or runs lsblk /dev/vda
 * needs the host's disks in the view.  Before the view covers them,
 * the host's /sys/block, /sys/dev/block, /sys/class/block and
 * /sys/devices/virtual/block are opened; the view then lists, beside
 * the instance's devices, every entry of the first three as the host
 * has it now (a symlink into /sys/devices, read on each lookup, so
 * disks that come and go do too), except the host's loop devices and
 * their partitions (an entry named loop*, or whose link leads to one,
 * or of major 7).  /sys/devices/virtual/block is a directory of the
 * view too (the instance's loopN, the same directories as
 * /sys/block/loopN): the host's other virtual disks there (zram, nbd,
 * dm, md) are bound onto it once, when the view is mounted, so one made
 * later is missing there, though listed in the other three.
 */
#ifndef LOOPFSCTL_SYSFS_HOST_H
#define LOOPFSCTL_SYSFS_HOST_H

#define FUSE_USE_VERSION 35

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <fuse_lowlevel.h>

#include "sysfs-partitions.h"

/* The host directories the view shows entries of. */
enum sysfs_host_dir {
  HOST_BLOCK,                /* /sys/block */
  HOST_DEV_BLOCK,            /* /sys/dev/block */
  HOST_CLASS_BLOCK,          /* /sys/class/block */
  HOST_VIRTUAL_BLOCK,        /* /sys/devices/virtual/block */
  HOST_DIRS
};

#define SYSFS_HOST_INO_BASE ((fuse_ino_t) 1 << 50)

struct sysfs_host;

/* Open the host's directories (before the view covers them) and note
 * the virtual disks to bind.  Returns 0 or -errno. */
int sysfs_host_open (struct sysfs_host **out);

/* Close what sysfs_host_open opened; NULL is allowed. */
void sysfs_host_close (struct sysfs_host *h);

/* Is INO one of the host entries' inode numbers? */
bool sysfs_host_ino (fuse_ino_t ino);

/* Look NAME up among the host's entries of DIR: 0 with *ATTR, or
 * -ENOENT (also for the host's loop devices). */
int sysfs_host_lookup (struct sysfs_host *h, enum sysfs_host_dir dir,
                       const char *name, struct stat *attr);

/* The attributes of host entry INO: 0 or -ENOENT. */
int sysfs_host_getattr (struct sysfs_host *h, fuse_ino_t ino,
                        struct stat *attr);

/* The target of host link INO into BUF: 0 or -EINVAL. */
int sysfs_host_readlink (struct sysfs_host *h, fuse_ino_t ino, char *buf,
                         size_t size);

/* Add the host's entries of DIR to a listing. */
void sysfs_host_list (struct sysfs_host *h, enum sysfs_host_dir dir,
                      sysfs_add_fn *add, void *ctx);

/* Bind the host's virtual disks onto their places in VIEW_DIR (the
 * view's directory that goes over /sys/devices/virtual/block); those
 * that cannot be bound are left out of the view.  Returns 0. */
int sysfs_host_bind_virtual (struct sysfs_host *h, const char *view_dir);

#endif /* LOOPFSCTL_SYSFS_HOST_H */
