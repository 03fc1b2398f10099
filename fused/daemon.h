/* loopfsd: the state of the daemon, shared by its files.
 *
 * One daemon serves one mount, i.e. one loopfs instance.  Everything
 * runs on a single libuv loop: FUSE requests are read from the session
 * descriptor (fuse-loop.c) and handled by the filesystem (fs.c for the
 * directory, open-files.c for open nodes, xattr.c for attributes);
 * ioctls are decoded in ioctl.c, their meaning is decided by the model
 * (control/), bind transactions run in binding.c, device data flows
 * through io.c, and device.c holds each device's backend, all through
 * nbd-backend/.  Work that may block on someone else (a backing file's
 * filesystem, a caller's memory, the kernel's NBD driver) runs on a
 * thread of its own (offload.h), so the loop never waits on anything.
 *
 * This header holds only the shared types; each file declares its own
 * functions in a header of its own.  Handlers reach the daemon through
 * the FUSE session's userdata (fuse_req_userdata), never a global.
 */
#ifndef LOOPFSD_DAEMON_H
#define LOOPFSD_DAEMON_H

#define FUSE_USE_VERSION 35

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
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

struct backend;
struct device;
struct interruptible;
struct node_watch;

/* One open file handle (fi->fh) on loop-control or on loopN. */
struct handle {
  struct device *dev;       /* NULL for loop-control */
  bool writable;            /* opened with O_WRONLY or O_RDWR */
  int partition;            /* M when opened as loopNpM, else 0 */
  unsigned holds;           /* devices stacked on this open file, which
                               keep it (and its opener) alive past its
                               RELEASE, as the kernel's upper device
                               holds its backing file (stacking.c) */
  bool released;            /* its RELEASE came while held */
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
  struct timespec mount_time;  /* the nodes' timestamps */
  struct interruptible *interrupted;  /* requests whose caller got a
                               signal, checked again by INTERRUPT_TIMER
                               (interrupt.c) */
  uv_timer_t interrupt_timer;
  unsigned stopping_backends;  /* backends still shutting down */
  void (*all_stopped) (struct daemon *d);  /* once the instance is going
                               away: called when no backend is left */
  bool exiting;             /* the mount is gone: finish and exit */
  struct node_watch *watch; /* node watchers (node-watch.h); NULL once
                               the daemon is exiting */
  void (*lower_changed) (struct daemon *d, struct device *lower,
                         struct backend *old, void (*done) (void *opaque),
                         void *opaque);
                            /* restack.c's, for binding.c, which cannot
                               call up into ioctl.c */
};

#endif /* LOOPFSD_DAEMON_H */
