/* loopfsctl exec: mount(2) of the instance's devices in the sandbox
 * (see mount-intercept.h). */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>

#include "caller-lookup.h"
#include "cleanup.h"
#include "loopfs-interface.h"
#include "loopfsctl.h"
#include "mount-caller.h"
#include "mount-context.h"
#include "mount-drivers.h"
#include "mount-intercept.h"

/* mount(2)'s data is at most a page. */
#define DATA_MAX 4096
#define TYPE_MAX 64

/* How long a driver may take to flush and exit at the sandbox's end. */
#define FINISH_TIMEOUT_MS 30000

/* mount(2) flags that change an existing mount instead of making one. */
#define NOT_NEW (MS_REMOUNT | MS_BIND | MS_MOVE | MS_SHARED | MS_PRIVATE \
                 | MS_SLAVE | MS_UNBINDABLE)

/* A taken-over mount and its driver. */
struct taken_mount {
  struct driver_process dp;     /* pid 0 and pidfd -1 for a kernel one */
  int hold;                     /* for a kernel mount (--mount=kernel):
                                   our descriptor of the node, which keeps
                                   an AUTOCLEAR device bound while the
                                   kernel's filesystem uses its NBD
                                   device; else -1 */
  char node[NODE_MAX];          /* loopN or loopNpM */
  char *mountpoint;             /* in the caller's namespace */
  bool umount_waits;            /* an umount2 waits for the driver */
  uint64_t umount_id;           /* its notification */
};

DEFINE_VECTOR_TYPE (mount_vector, struct taken_mount);

struct mount_intercept {
  enum mount_mode mode;
  driver_vector drivers;
  mount_vector mounts;
  context_vector contexts;      /* of the new mount API */
};

int
mount_intercept_new (enum mount_mode mode, struct mount_intercept **out)
{
  struct mount_intercept *mi = calloc (1, sizeof *mi);

  if (mi == NULL)
    return -ENOMEM;
  mi->mode = mode;
  if (mount_drivers_init (&mi->drivers) < 0) {
    mount_intercept_free (mi);
    return -ENOMEM;
  }
  *out = mi;
  return 0;
}

int
mount_intercept_set_driver (struct mount_intercept *mi, const char *spec)
{
  return mount_drivers_set (&mi->drivers, spec);
}

/* What a child in another mount namespace does (see
 * caller_in_namespace). */
struct ns_work {
  const char *path;         /* the mount point (or target) */
  uint64_t mnt_id;          /* the mount that must be there */
  unsigned long flags;      /* umount2's, or mount(2)'s */
  const char *source, *type, *data;   /* kernel mount */
};

/* Unmount W->path with W->flags if it is still mount W->mnt_id. */
static int
unmount_work (void *arg)
{
  const struct ns_work *w = arg;
  struct statx stx;

  if (statx (AT_FDCWD, w->path, AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &stx) < 0)
    return -errno;
  if (stx.stx_mnt_id != w->mnt_id)
    return -EINVAL;
  return umount2 (w->path, (int) w->flags) < 0 ? -errno : 0;
}

/* Give mount W->mnt_id at W->path the per-mount flags W->flags. */
static int
remount_work (void *arg)
{
  const struct ns_work *w = arg;
  struct statx stx;

  if (statx (AT_FDCWD, w->path, AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &stx) < 0)
    return -errno;
  if (stx.stx_mnt_id != w->mnt_id)
    return -EBUSY;
  return mount (NULL, w->path, NULL, MS_REMOUNT | MS_BIND | w->flags, NULL)
    < 0 ? -errno : 0;
}

/* Mount W->source at W->path as the caller asked. */
static int
kernel_mount_work (void *arg)
{
  const struct ns_work *w = arg;

  return mount (w->source, w->path, w->type, w->flags, w->data) < 0
    ? -errno : 0;
}

/* The arguments of one mount(2). */
struct mount_call {
  char source[PATH_MAX];
  char target[PATH_MAX];
  char type[TYPE_MAX];
  bool has_type, has_data;
  unsigned long flags;
  char data[DATA_MAX];
};

/* Read the strings of mount(2) notification REQ into MC.  Returns 0 or
 * -errno (the kernel's for an unreadable argument). */
static int
read_mount_call (const struct seccomp_notif *req, struct mount_call *mc)
{
  const __u64 *a = req->data.args;
  int r;

  mc->flags = a[3];
  r = notify_read_string (req->pid, a[1], mc->target, sizeof mc->target);
  if (r < 0)
    return r;
  mc->has_type = a[2] != 0;
  if (mc->has_type) {
    r = notify_read_string (req->pid, a[2], mc->type, sizeof mc->type);
    /* No filesystem type is that long. */
    if (r == -ENAMETOOLONG)
      return -ENODEV;
    if (r < 0)
      return r;
  }
  mc->has_data = a[4] != 0;
  if (mc->has_data) {
    r = notify_read_string (req->pid, a[4], mc->data, sizeof mc->data);
    if (r == -ENAMETOOLONG)
      return -EINVAL;
    if (r < 0)
      return r;
  }
  return 0;
}

/* Serve mount MC of NODE (SOURCE_FD) at TARGET_FD in the namespace
 * MNTNS of the caller of NC with the kernel's filesystem on the node's
 * NBD device, and remember it. */
static int
mount_kernel (struct mount_intercept *mi, const struct notify_call *nc,
              const struct mount_call *mc, const char *node, int source_fd,
              int target_fd, int mntns)
{
  char path[64], nbd[64], mountpoint[PATH_MAX];
  struct ns_work w = {
    .path = mountpoint, .flags = mc->flags, .source = nbd,
    .type = mc->has_type ? mc->type : NULL,
    .data = mc->has_data ? mc->data : NULL,
  };
  struct taken_mount tm = { .dp = { .pidfd = -1 }, .hold = -1 };
  ssize_t n;
  int r, mounted;

  snprintf (path, sizeof path, "/proc/self/fd/%d", source_fd);
  n = getxattr (path, XATTR_NBD, nbd, sizeof nbd - 1);
  if (n <= 0) {
    ctl_error ("exec: mount: %s has no kernel NBD device (ENOTBLK)",
               mc->source);
    return -ENOTBLK;
  }
  nbd[n] = '\0';
  r = caller_fd_path (target_fd, mountpoint);
  if (r < 0)
    return r;
  /* Opened before the caller (mount -o loop) closes its own. */
  tm.hold = open (path, O_RDONLY | O_CLOEXEC);
  if (tm.hold < 0)
    return -errno;
  r = caller_in_namespace (mntns, kernel_mount_work, &w);
  if (r < 0) {
    close (tm.hold);
    return r;
  }
  snprintf (tm.node, sizeof tm.node, "%s", node);
  /* The mount now at the target, as the caller finds it (its mountinfo
   * names paths from its root, which may not be its namespace's). */
  mounted = caller_lookup_open (nc->lookup, nc->req->pid, AT_FDCWD,
                                mc->target, 0);
  if (mounted >= 0) {
    tm.dp.mnt_id = caller_mount_id (mounted, NULL);
    close (mounted);
  }
  tm.mountpoint = strdup (mountpoint);
  if (tm.mountpoint == NULL || mount_vector_append (&mi->mounts, tm) < 0) {
    /* Only an AUTOCLEAR device is lost early: the mount stays. */
    free (tm.mountpoint);
    close (tm.hold);
  }
  return 0;
}

/* A mount to serve with a FUSE driver at a target in the caller's
 * namespace (mount(2), or the new mount API's move_mount). */
struct fuse_request {
  const char *node;           /* loopN or loopNpM */
  int source_fd;              /* O_PATH of the node */
  const char *type;           /* "auto": probed */
  unsigned long flags;        /* MS_RDONLY, MS_NOSUID... */
  const char *data;           /* data options, or NULL */
  int mntns;                  /* the caller's namespace */
  int target_fd;              /* O_PATH of the target */
};

/* Whether RQ's device may be mounted: bound, writable unless RQ is
 * read-only, and not mounted already
 * (the kernel would share the superblock; a second driver on the same
 * device would corrupt it).  Returns 0 or -errno after a message. */
static int
check_device (struct mount_intercept *mi, const struct fuse_request *rq)
{
  if (!caller_node_bound (rq->source_fd, rq->node)) {
    ctl_error ("exec: mount: /dev/%s is not bound (EIO)", rq->node);
    return -EIO;
  }
  /* As the kernel refuses to open a read-only device for writing;
   * mount(8) then tries again read-only. */
  if (!(rq->flags & MS_RDONLY) && caller_node_read_only (rq->source_fd))
    return -EACCES;
  for (size_t i = 0; i < mi->mounts.len; i++)
    if (strcmp (mi->mounts.ptr[i].node, rq->node) == 0) {
      ctl_error ("exec: mount: /dev/%s is already mounted on %s (EBUSY)",
                 rq->node, mi->mounts.ptr[i].mountpoint);
      return -EBUSY;
    }
  return 0;
}

/* Serve RQ with a FUSE driver and remember the mount.  Returns 0 or
 * -errno (after a message when the cause is not the caller's errno
 * alone). */
static int
serve_fuse (struct mount_intercept *mi, const struct fuse_request *rq)
{
  char path[64], type[TYPE_MAX], device[PATH_MAX], mountpoint[PATH_MAX];
  char shown[NODE_MAX + 8];
  CLEANUP_FREE char *options = NULL;
  CLEANUP_CLOSE int hold = -1;
  const struct mount_driver *drv;
  struct taken_mount tm = { .hold = -1 };
  unsigned long flags = rq->flags;
  struct ns_work w;
  int r;

  r = check_device (mi, rq);
  if (r < 0)
    return r;
  /* Our descriptor keeps an AUTOCLEAR device until the driver has it
   * open (our close would otherwise be the last). */
  snprintf (path, sizeof path, "/proc/self/fd/%d", rq->source_fd);
  hold = open (path, O_RDONLY | O_CLOEXEC);
  if (hold < 0)
    return -errno;
  snprintf (type, sizeof type, "%s", rq->type);
  if (strcmp (type, "auto") == 0
      && mount_probe_type (hold, type, sizeof type) < 0) {
    ctl_error ("exec: mount: no filesystem recognized on /dev/%s (ENODEV)",
               rq->node);
    return -ENODEV;
  }
  drv = mount_drivers_find (&mi->drivers, type);
  if (drv == NULL) {
    ctl_error ("exec: mount: no FUSE driver for type '%s' (ENODEV)", type);
    return -ENODEV;
  }
  if (drv->read_only)
    flags |= MS_RDONLY;
  /* mount(8) passes the canonical path, /dev/loopfs/loopN; shown is the
   * device's name in /dev, as a kernel mount of it shows. */
  snprintf (shown, sizeof shown, "/dev/%s", rq->node);
  r = mount_driver_options (drv, shown, type, flags, rq->data, &options);
  if (r < 0)
    return r;
  if ((r = caller_fd_path (rq->source_fd, device)) < 0
      || (r = caller_fd_path (rq->target_fd, mountpoint)) < 0)
    return r;
  r = mount_driver_start (drv, rq->mntns, device, mountpoint, options,
                          caller_mount_id (rq->target_fd, NULL), &tm.dp);
  if (r < 0)
    return r;
  /* The per-mount flags exactly as asked, whatever options the driver
   * kept for itself (fuse2fs takes "ro" as its own). */
  w = (struct ns_work) {
    .path = mountpoint, .mnt_id = tm.dp.mnt_id,
    .flags = flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC),
  };
  r = caller_in_namespace (rq->mntns, remount_work, &w);
  snprintf (tm.node, sizeof tm.node, "%s", rq->node);
  tm.mountpoint = strdup (mountpoint);
  if (r == 0 && tm.mountpoint == NULL)
    r = -ENOMEM;
  if (r == 0)
    r = mount_vector_append (&mi->mounts, tm);
  if (r < 0) {
    /* Not kept: undone (the driver unmounts on SIGTERM). */
    ctl_error ("exec: mount: %s on %s: %s; unmounted", shown, mountpoint,
               strerror (-r));
    kill (tm.dp.pid, SIGTERM);
    mount_driver_reap (&tm.dp, FINISH_TIMEOUT_MS);
    free (tm.mountpoint);
  }
  return r;
}

/* Answer a mount(2) notification. */
static int
answer_mount (struct mount_intercept *mi, const struct notify_call *nc)
{
  const struct seccomp_notif *req = nc->req;
  CLEANUP_FREE struct mount_call *mc = NULL;
  CLEANUP_CLOSE int source_fd = -1, target_fd = -1, mntns = -1;
  char node[NODE_MAX];
  struct fuse_request rq;
  struct stat st;
  int r;

  if ((req->data.args[3] & NOT_NEW) || req->data.args[0] == 0)
    return NOTIFY_CONTINUE;
  mc = calloc (1, sizeof *mc);
  if (mc == NULL
      || notify_read_string (req->pid, req->data.args[0], mc->source,
                             sizeof mc->source) < 0)
    return NOTIFY_CONTINUE;
  source_fd = caller_lookup_open (nc->lookup, req->pid, AT_FDCWD, mc->source,
                                  0);
  if (source_fd < 0
      || !caller_instance_node (nc->instance_dev, source_fd, node))
    return NOTIFY_CONTINUE;
  r = read_mount_call (req, mc);
  /* A FUSE program's own mount (fuseblk too: a mount helper such as
   * mount.ntfs sees a block device through the stat fake) is left to
   * the kernel, whose answer it expects. */
  if (r == 0 && mc->has_type && (!mount_type_needs_device (mc->type)
                                 || strncmp (mc->type, "fuse", 4) == 0))
    return NOTIFY_CONTINUE;
  mntns = caller_open_mntns (req->pid);
  /* Everything read so far was the caller's only if it still waits. */
  if (!notify_still_valid (nc) || mntns < 0)
    return NOTIFY_CONTINUE;
  if (!caller_may_mount (req->pid))
    return -EPERM;
  if (r < 0)
    return r;
  if (!mc->has_type)
    return -EINVAL;
  target_fd = caller_lookup_open (nc->lookup, req->pid, AT_FDCWD,
                                  mc->target, 0);
  if (target_fd < 0)
    return target_fd;
  if (fstat (target_fd, &st) < 0)
    return -errno;
  if (!S_ISDIR (st.st_mode))
    return -ENOTDIR;
  if (mi->mode == MOUNT_MODE_KERNEL)
    return mount_kernel (mi, nc, mc, node, source_fd, target_fd, mntns);
  rq = (struct fuse_request) {
    .node = node, .source_fd = source_fd, .type = mc->type,
    .flags = mc->flags, .data = mc->has_data ? mc->data : NULL,
    .mntns = mntns, .target_fd = target_fd,
  };
  return serve_fuse (mi, &rq);
}

/* Reap the driver of mount I, which has exited or is told to (waiting
 * up to TIMEOUT_MS), answer the umount that waited for it, and forget
 * the mount; a kernel mount lets its device go. */
static void
end_mount (struct mount_intercept *mi, size_t i, int listener, int timeout_ms)
{
  struct taken_mount *tm = &mi->mounts.ptr[i];
  int status;

  if (tm->dp.pid > 0) {
    status = mount_driver_reap (&tm->dp, timeout_ms);
    if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
      ctl_error ("exec: mount: the driver of %s on %s ended with status %d",
                 tm->node, tm->mountpoint, WIFEXITED (status)
                 ? WEXITSTATUS (status) : 128 + WTERMSIG (status));
  }
  if (tm->hold >= 0)
    close (tm->hold);
  if (tm->umount_waits)
    notify_respond (listener, tm->umount_id, 0, false);
  free (tm->mountpoint);
  mount_vector_remove (&mi->mounts, i);
}

/* Answer an umount2(2) notification: a taken-over mount is unmounted
 * here and answered when its driver has gone (NOTIFY_LATER). */
static int
answer_umount (struct mount_intercept *mi, const struct notify_call *nc)
{
  const struct seccomp_notif *req = nc->req;
  int flags = (int) req->data.args[1];
  CLEANUP_CLOSE int fd = -1, mntns = -1;
  char target[PATH_MAX], path[PATH_MAX], node[NODE_MAX];
  struct taken_mount *tm = NULL;
  struct ns_work w;
  bool is_root = false, by_device = false;
  uint64_t id;
  int r;

  if (notify_read_string (req->pid, req->data.args[0], target,
                          sizeof target) < 0)
    return NOTIFY_CONTINUE;
  fd = caller_lookup_open (nc->lookup, req->pid, AT_FDCWD, target,
                           flags & UMOUNT_NOFOLLOW ? AT_SYMLINK_NOFOLLOW : 0);
  if (fd < 0)
    return NOTIFY_CONTINUE;
  id = caller_mount_id (fd, &is_root);
  for (size_t i = 0; i < mi->mounts.len && is_root; i++)
    if (mi->mounts.ptr[i].dp.mnt_id == id && !mi->mounts.ptr[i].umount_waits)
      tm = &mi->mounts.ptr[i];
  /* The sandbox's /dev/loopN is its node bind-mounted there
   * (dev-watch.h), so umount(8) given the device finds it as a mount
   * target and unmounts that: on the host this means the mount of the
   * device; with none, the entry is no mount point there (EINVAL). */
  if (tm == NULL && is_root
      && caller_instance_node (nc->instance_dev, fd, node)) {
    for (size_t i = 0; i < mi->mounts.len; i++)
      if (strcmp (mi->mounts.ptr[i].node, node) == 0
          && !mi->mounts.ptr[i].umount_waits)
        tm = &mi->mounts.ptr[i];
    if (tm == NULL)
      return notify_still_valid (nc) ? -EINVAL : NOTIFY_CONTINUE;
    by_device = true;
    id = tm->dp.mnt_id;
  }
  mntns = caller_open_mntns (req->pid);
  /* Where the mount is now in the caller's namespace (a detached one
   * went wherever the caller moved it). */
  if (tm == NULL || mntns < 0 || !notify_still_valid (nc))
    return NOTIFY_CONTINUE;
  if (by_device)
    r = snprintf (path, sizeof path, "%s", tm->mountpoint) < (int) sizeof path
      ? 0 : -ENAMETOOLONG;
  else
    r = caller_fd_path (fd, path);
  if (r < 0)
    return NOTIFY_CONTINUE;
  if (!caller_may_mount (req->pid))
    return -EPERM;
  /* Our descriptor of the mount would keep it busy. */
  close (TAKE_FD (fd));
  w = (struct ns_work) {
    .path = path, .mnt_id = id, .flags = flags & ~UMOUNT_NOFOLLOW,
  };
  r = caller_in_namespace (mntns, unmount_work, &w);
  if (r < 0)
    return r;
  if (tm->dp.pid == 0) {
    /* A kernel mount: the device is free now (for a lazy unmount of a
     * busy one, it is let go at once). */
    end_mount (mi, tm - mi->mounts.ptr, nc->listener, 0);
    return NOTIFY_DONE;
  }
  tm->umount_waits = true;
  tm->umount_id = req->id;
  return NOTIFY_LATER;
}

/* Answer a move_mount notification of a stand-in: the driver mounts
 * at the target. */
static int
answer_move_mount (struct mount_intercept *mi, const struct notify_call *nc)
{
  const struct seccomp_notif *req = nc->req;
  const __u64 *a = req->data.args;
  unsigned flags = a[4];
  CLEANUP_CLOSE int target_fd = -1, mntns = -1;
  char target[PATH_MAX];
  struct fuse_request rq;
  struct fs_context *c;
  struct stat st;
  int r;

  c = fs_context_stand_in (&mi->contexts, nc, (int) a[0], a[1], flags,
                           MOVE_MOUNT_F_EMPTY_PATH);
  if (c == NULL
      || notify_read_string (req->pid, a[3], target, sizeof target) < 0)
    return NOTIFY_CONTINUE;
  target_fd = caller_lookup_open (nc->lookup, req->pid, (int) a[2], target,
                                  (flags & MOVE_MOUNT_T_EMPTY_PATH
                                   ? AT_EMPTY_PATH : 0)
                                  | (flags & MOVE_MOUNT_T_SYMLINKS
                                     ? 0 : AT_SYMLINK_NOFOLLOW));
  mntns = caller_open_mntns (req->pid);
  if (!notify_still_valid (nc) || mntns < 0)
    return NOTIFY_CONTINUE;
  if (!caller_may_mount (req->pid))
    return -EPERM;
  if (target_fd < 0)
    return target_fd;
  if (fstat (target_fd, &st) < 0)
    return -errno;
  if (!S_ISDIR (st.st_mode))
    return -ENOTDIR;
  rq = (struct fuse_request) {
    .node = c->node, .source_fd = c->source_fd, .type = c->type,
    .flags = (c->ro || (c->attrs & MOUNT_ATTR_RDONLY) ? MS_RDONLY : 0)
      | (c->attrs & MOUNT_ATTR_NOSUID ? MS_NOSUID : 0)
      | (c->attrs & MOUNT_ATTR_NODEV ? MS_NODEV : 0)
      | (c->attrs & MOUNT_ATTR_NOEXEC ? MS_NOEXEC : 0),
    .data = c->data, .mntns = mntns, .target_fd = target_fd,
  };
  r = serve_fuse (mi, &rq);
  if (r == 0)
    fs_context_forget (&mi->contexts, c);
  return r;
}

int
mount_intercept_answer (struct mount_intercept *mi,
                        const struct notify_call *nc)
{
  struct fs_context *c;

  switch (nc->req->data.nr) {
  case __NR_mount:
    return answer_mount (mi, nc);
  case __NR_umount2:
    return answer_umount (mi, nc);
  case __NR_fsopen:
    if (mi->mode != MOUNT_MODE_FUSE)
      return NOTIFY_CONTINUE;
    return fs_context_answer_fsopen (&mi->contexts, &mi->drivers, nc);
  case __NR_fsconfig:
    c = fs_context_find (&mi->contexts, nc->req->pid,
                         (int) nc->req->data.args[0]);
    return c ? fs_context_config (c, nc) : NOTIFY_CONTINUE;
  case __NR_fsmount:
    return fs_context_answer_fsmount (&mi->contexts, nc);
  case __NR_mount_setattr:
    return fs_context_answer_mount_setattr (&mi->contexts, nc);
  case __NR_move_mount:
    return answer_move_mount (mi, nc);
  default:
    return NOTIFY_CONTINUE;
  }
}

size_t
mount_intercept_pollfds (struct mount_intercept *mi, struct pollfd *fds,
                         size_t max)
{
  size_t n;

  for (n = 0; n < mi->mounts.len && n < max; n++)
    fds[n] = (struct pollfd) { .fd = mi->mounts.ptr[n].dp.pidfd,
                               .events = POLLIN };
  return n;
}

void
mount_intercept_events (struct mount_intercept *mi, int listener,
                        const struct pollfd *fds, size_t n)
{
  /* From the end, so that removing one keeps the others' indexes. */
  for (size_t i = n; i-- > 0;)
    if (fds[i].revents)
      end_mount (mi, i, listener, 0);
}

void
mount_intercept_finish (struct mount_intercept *mi, int listener)
{
  /* libfuse's drivers unmount and flush on SIGTERM.  Kernel mounts went
   * with the sandbox's mount namespace. */
  for (size_t i = 0; i < mi->mounts.len; i++)
    if (mi->mounts.ptr[i].dp.pid > 0)
      kill (mi->mounts.ptr[i].dp.pid, SIGTERM);
  while (mi->mounts.len)
    end_mount (mi, mi->mounts.len - 1, listener, FINISH_TIMEOUT_MS);
}

void
mount_intercept_free (struct mount_intercept *mi)
{
  if (mi == NULL)
    return;
  for (size_t i = 0; i < mi->mounts.len; i++) {
    if (mi->mounts.ptr[i].dp.pid > 0) {
      kill (mi->mounts.ptr[i].dp.pid, SIGKILL);
      mount_driver_reap (&mi->mounts.ptr[i].dp, 0);
    }
    if (mi->mounts.ptr[i].hold >= 0)
      close (mi->mounts.ptr[i].hold);
    free (mi->mounts.ptr[i].mountpoint);
  }
  mount_vector_reset (&mi->mounts);
  fs_contexts_free (&mi->contexts);
  mount_drivers_free (&mi->drivers);
  free (mi);
}
