/* loopfsctl exec: what the sysfs view's two files share (see
 * sysfs-view.h): sysfs-view.c answers the FUSE requests, sysfs-mount.c
 * mounts the view, binds its hidden directories and serves it from a
 * thread. */
#ifndef LOOPFSCTL_SYSFS_VIEW_PRIVATE_H
#define LOOPFSCTL_SYSFS_VIEW_PRIVATE_H

#define FUSE_USE_VERSION 35

#include <pthread.h>
#include <stdbool.h>
#include <fuse_lowlevel.h>

#include "sysfs-host.h"

/* Inode numbers of the view's directories: the root (over /sys/block)
 * and the hidden ones bound elsewhere. */
#define ROOT_INO FUSE_ROOT_ID
#define DEV_BLOCK_INO 2
#define CLASS_BLOCK_INO 3
#define VIRTUAL_BLOCK_INO 4

struct sysfs_view {
  const char *instance;
  struct sysfs_host *host;  /* the host's other disks, or NULL */
  struct fuse_session *se;
  int stop;                 /* eventfd: stop the thread */
  pthread_t thread;
  bool thread_started;
  bool dev_block_bound;
  bool class_block_bound;
  bool virtual_block_bound;
};

/* The view's FUSE operations. */
extern const struct fuse_lowlevel_ops sysfs_view_ops;

#endif /* LOOPFSCTL_SYSFS_VIEW_PRIVATE_H */
