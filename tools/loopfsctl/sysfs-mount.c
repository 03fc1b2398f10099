/* loopfsctl exec: mounting and serving the sandbox's sysfs view (see
 * sysfs-view.h and sysfs-view-private.h). */

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/mount.h>

#include "loopfsctl.h"
#include "sysfs-view-private.h"
#include "sysfs-view.h"

#define SYS_BLOCK "/sys/block"
#define SYS_DEV_BLOCK "/sys/dev/block"
#define SYS_CLASS_BLOCK "/sys/class/block"
#define SYS_VIRTUAL_BLOCK "/sys/devices/virtual/block"

/* The thread serving the view until it is unmounted or told to stop.
 * Not fuse_session_loop: a bind of the view in a namespace that
 * outlives us (a running container's /sys/block) keeps the connection
 * open after our unmount, and the loop's read would never return. */
static void *
serve (void *arg)
{
  struct sysfs_view *sv = arg;
  struct fuse_buf buf = { .mem = NULL };
  struct pollfd fds[2] = {
    { .fd = fuse_session_fd (sv->se), .events = POLLIN },
    { .fd = sv->stop, .events = POLLIN },
  };
  int r;

  while (!fuse_session_exited (sv->se)) {
    if (poll (fds, 2, -1) < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    if (fds[1].revents || (fds[0].revents & (POLLERR | POLLHUP | POLLNVAL)))
      break;
    r = fuse_session_receive_buf (sv->se, &buf);
    if (r == -EINTR || r == -EAGAIN)
      continue;
    if (r <= 0)
      break;
    fuse_session_process_buf (sv->se, &buf);
  }
  free (buf.mem);
  return NULL;
}

/* Mount a view of the instance at INSTANCE on MOUNTPOINT with the FUSE
 * options OPTIONS and serve it from a thread; *OUT is set (for
 * sysfs_view_unmount) as soon as the mount exists. */
static int
view_start (const char *instance, const char *mountpoint, const char *options,
            struct sysfs_view **out)
{
  char *argv[] = {
    (char *) "loopfsctl", (char *) "-o", (char *) options, NULL,
  };
  struct fuse_args args = FUSE_ARGS_INIT (3, argv);
  struct sysfs_view *sv;
  int r;

  sv = calloc (1, sizeof *sv);
  if (sv == NULL)
    return -ENOMEM;
  sv->instance = instance;
  sv->stop = eventfd (0, EFD_CLOEXEC);
  if (sv->stop < 0) {
    ctl_error ("exec: eventfd: %m");
    free (sv);
    return -EIO;
  }
  sv->se = fuse_session_new (&args, &sysfs_view_ops, sizeof sysfs_view_ops, sv);
  fuse_opt_free_args (&args);
  if (sv->se == NULL) {
    ctl_error ("exec: the sysfs view: fuse_session_new failed");
    close (sv->stop);
    free (sv);
    return -EIO;
  }
  if (fuse_session_mount (sv->se, mountpoint) != 0) {
    ctl_error ("exec: mounting the sysfs view on %s failed", mountpoint);
    fuse_session_destroy (sv->se);
    close (sv->stop);
    free (sv);
    return -EIO;
  }
  *out = sv;
  r = -pthread_create (&sv->thread, NULL, serve, sv);
  if (r < 0) {
    ctl_error ("exec: pthread_create: %s", strerror (-r));
    return r;
  }
  sv->thread_started = true;
  return 0;
}

/* Bind the view's directory SUB over TARGET and note it in *BOUND. */
static int
bind_view_dir (const char *sub, const char *target, bool *bound)
{
  if (mount (sub, target, NULL, MS_BIND, NULL) < 0) {
    ctl_error ("exec: binding the sysfs view over %s: %m", target);
    return -errno;
  }
  *bound = true;
  return 0;
}

int
sysfs_view_mount (const char *instance, struct sysfs_view **out)
{
  struct sysfs_view *sv = NULL;
  struct sysfs_host *host = NULL;
  int r;

  /* Opened while the host's directories are still in sight. */
  r = sysfs_host_open (&host);
  if (r < 0)
    return r;
  r = view_start (instance, SYS_BLOCK,
                  "ro,allow_other,fsname=loopfs-sysfs,subtype=loopfs-sysfs",
                  &sv);
  *out = sv;
  if (sv)
    sv->host = host;
  else
    sysfs_host_close (host);
  if (r < 0)
    return r;
  r = bind_view_dir (SYS_BLOCK "/" SYSFS_VIEW_DEV_BLOCK, SYS_DEV_BLOCK,
                     &sv->dev_block_bound);
  if (r == 0)
    r = bind_view_dir (SYS_BLOCK "/" SYSFS_VIEW_CLASS_BLOCK, SYS_CLASS_BLOCK,
                       &sv->class_block_bound);
  if (r == 0)
    r = bind_view_dir (SYS_BLOCK "/" SYSFS_VIEW_VIRTUAL_BLOCK,
                       SYS_VIRTUAL_BLOCK, &sv->virtual_block_bound);
  if (r == 0)
    r = sysfs_host_bind_virtual (host, SYS_VIRTUAL_BLOCK);
  return r;
}

int
sysfs_view_mount_at (const char *instance, const char *dir,
                     struct sysfs_view **out)
{
  /* auto_unmount: nothing stays mounted on the host if we are killed. */
  return view_start (instance, dir,
                     "ro,allow_other,auto_unmount,fsname=loopfs-sysfs,"
                     "subtype=loopfs-sysfs", out);
}

void
sysfs_view_unmount (struct sysfs_view *sv)
{
  uint64_t one = 1;

  if (sv == NULL)
    return;
  if (sv->dev_block_bound && umount2 (SYS_DEV_BLOCK, MNT_DETACH) < 0)
    ctl_error ("exec: unmounting %s: %m", SYS_DEV_BLOCK);
  if (sv->class_block_bound && umount2 (SYS_CLASS_BLOCK, MNT_DETACH) < 0)
    ctl_error ("exec: unmounting %s: %m", SYS_CLASS_BLOCK);
  /* With the host's virtual disks bound below it. */
  if (sv->virtual_block_bound && umount2 (SYS_VIRTUAL_BLOCK, MNT_DETACH) < 0)
    ctl_error ("exec: unmounting %s: %m", SYS_VIRTUAL_BLOCK);
  fuse_session_exit (sv->se);
  fuse_session_unmount (sv->se);
  if (sv->thread_started) {
    if (write (sv->stop, &one, sizeof one) < 0)
      ctl_error ("exec: stopping the sysfs view: %m");
    pthread_join (sv->thread, NULL);
  }
  fuse_session_destroy (sv->se);
  close (sv->stop);
  sysfs_host_close (sv->host);
  free (sv);
}
