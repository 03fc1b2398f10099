/* loopfsd: state shared by the files of the FUSE daemon.
 *
 * One daemon serves one mount, i.e. one loopfs instance.  Everything
 * runs on a single libuv loop: FUSE requests are read from the session
 * descriptor, ioctls are decoded (ioctl.c), their meaning is decided by
 * the model (control/), and device data and backends are handled in
 * device.c and io.c through nbd-backend/.  Work that may block on
 * another filesystem (inspecting a backing file) runs on libuv's thread
 * pool, so the loop never waits on anything.
 */
#ifndef LOOPFSD_DAEMON_H
#define LOOPFSD_DAEMON_H

#define FUSE_USE_VERSION 35

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <fuse_lowlevel.h>
#include <uv.h>

#include "instance.h"
#include "backend.h"
#include "options.h"
#include "user-limit.h"

/* Inode numbers, as in the kernel patch: root 1, loop-control 2,
 * loopN N + 3. */
#define ROOT_INO 1
#define CONTROL_INO 2
#define DEVICE_INO_BASE 3

/* The node names and extended attributes loopfsd answers with. */
#include "loopfs-interface.h"

struct device;

/* One open file handle (fi->fh) on loop-control or on loopN. */
struct handle {
  struct device *dev;       /* NULL for loop-control */
  bool writable;            /* opened with O_WRONLY or O_RDWR */
  struct handle *prev, *next;  /* in daemon.handles */
};

struct daemon {
  uv_loop_t *loop;
  struct fuse_session *se;
  struct options opts;
  struct instance inst;
  struct user_limit user_limit;  /* the mounter's devices across instances */
  char *mountpoint;
  char *runtime_dir;        /* private directory for backend sockets */
  dev_t mount_dev;          /* st_dev of the mount, to recognise our nodes */
  bool nbd;                 /* bound devices also become /dev/nbdX */
  char instance_id[16];     /* names this instance in nbd identifiers */
  bool switch_ids;          /* may run nbdkit as the backing file's owner:
                               root in the initial user namespace */
  uid_t owner_uid;          /* owner of the nodes */
  gid_t owner_gid;
  uint64_t generation;      /* FUSE generation of the next new node */
  struct handle *handles;   /* open file handles: the kernel drops the
                               RELEASE of files closed while the mount is
                               torn down, so these are freed at exit */
  unsigned stopping_backends;  /* backends still shutting down */
  bool exiting;             /* the mount is gone: finish and exit */
};

extern struct daemon daemon_state;

/* fs.c: the FUSE operations table. */
extern const struct fuse_lowlevel_ops loopfs_ops;
void fs_free_handles (struct daemon *d);

/* fuse-loop.c: run the session on the loop until the mount is gone. */
int fuse_loop_start (struct daemon *d);
void fuse_loop_stop (struct daemon *d);

/* device.c */
struct device *device_of (struct loopdev *lo);
extern const struct instance_hooks device_hooks;
uint64_t device_generation (const struct loopdev *lo);
struct backend *device_backend (const struct device *dev);
bool device_busy (const struct device *dev);
void device_handle_release (struct daemon *d, struct device *dev);
void device_stop_all (struct daemon *d);

/* ioctl.c */
void ioctl_control (fuse_req_t req, unsigned int cmd, void *arg);
void ioctl_device (fuse_req_t req, struct handle *h, unsigned int cmd,
                   void *arg);

/* io.c */
void io_read (fuse_req_t req, struct device *dev, size_t size, off_t off);
void io_write (fuse_req_t req, struct device *dev, const char *buf,
               size_t size, off_t off);
void io_fsync (fuse_req_t req, struct device *dev);
void io_fallocate (fuse_req_t req, struct device *dev, int mode,
                   off_t off, off_t len);

#endif /* LOOPFSD_DAEMON_H */
