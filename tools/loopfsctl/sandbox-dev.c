/* loopfsctl exec: the sandbox's /dev (see sandbox-dev.h). */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "cleanup.h"
#include "device-status.h"
#include "loopfs-interface.h"
#include "loopfsctl.h"
#include "sandbox-dev.h"

/* The kernel loop driver's block major and loop-control's numbers. */
#define LOOP_MAJOR 7
#define MISC_MAJOR 10
#define LOOP_CTRL_MINOR 237

/* Is NAME a loop device's name ("loop-control", "loop", "loopN",
 * "loopNpM") or the host's own loopfs instance ("loopfs")?  Such
 * entries, and symlinks leading to them, are left out of the view. */
static bool
is_loop_name (const char *name)
{
  return strncmp (name, "loop", 4) == 0;
}

/* Is the last component of symlink target TARGET a loop name? */
static bool
leads_to_loop (const char *target)
{
  const char *base = strrchr (target, '/');

  return is_loop_name (base ? base + 1 : target);
}

/* Bind OLD_DIR/NAME over NEW_DIR/NAME (an empty file or directory made
 * for it), recursively when RECURSIVE. */
static int
bind_entry (int old_dir, int new_dir, const char *name, bool recursive)
{
  char source[64 + NAME_MAX], target[64 + NAME_MAX];

  snprintf (source, sizeof source, "/proc/self/fd/%d/%s", old_dir, name);
  snprintf (target, sizeof target, "/proc/self/fd/%d/%s", new_dir, name);
  if (mount (source, target, NULL, MS_BIND | (recursive ? MS_REC : 0),
             NULL) < 0)
    return -errno;
  return 0;
}

/* Copy directory OLD_DIR of the host's /dev into NEW_DIR of the view;
 * PATH ("/dev/...") is for messages, DEV the device of the host's
 * /dev (a directory on another is a mount point). */
static int
copy_dir (int old_dir, int new_dir, const char *path, dev_t dev)
{
  CLEANUP_CLOSE int list_fd = dup (old_dir);
  DIR *d;
  struct dirent *e;
  int r = 0;

  if (list_fd < 0)
    return -errno;
  d = fdopendir (list_fd);
  if (d == NULL)
    return -errno;
  list_fd = -1;
  while (r == 0 && (e = readdir (d)) != NULL) {
    const char *name = e->d_name;
    char target[4096];
    struct stat st;
    ssize_t n;

    if (strcmp (name, ".") == 0 || strcmp (name, "..") == 0
        || is_loop_name (name))
      continue;
    /* An entry that vanished meanwhile, or a dead FUSE mount, is
     * simply not in the view. */
    if (fstatat (old_dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
      continue;
    if (S_ISLNK (st.st_mode)) {
      n = readlinkat (old_dir, name, target, sizeof target - 1);
      if (n < 0)
        continue;
      target[n] = '\0';
      if (!leads_to_loop (target) && symlinkat (target, new_dir, name) < 0)
        r = -errno;
    }
    else if (S_ISDIR (st.st_mode)) {
      CLEANUP_CLOSE int old_sub = -1, new_sub = -1;
      CLEANUP_FREE char *sub_path = NULL;

      if (mkdirat (new_dir, name, st.st_mode & 07777) < 0
          || fchownat (new_dir, name, st.st_uid, st.st_gid, 0) < 0) {
        r = -errno;
        break;
      }
      if (st.st_dev != dev) {
        /* A mount point (pts, shm, mqueue, hugepages); another loopfs
         * instance stays out. */
        if (asprintf (&sub_path, "/proc/self/fd/%d/%s", old_dir, name) < 0)
          r = -ENOMEM;
        else if (instance_check (sub_path) != 0)
          r = bind_entry (old_dir, new_dir, name, true);
      }
      else if ((old_sub = openat (old_dir, name, O_RDONLY | O_DIRECTORY
                                  | O_CLOEXEC)) < 0
               || (new_sub = openat (new_dir, name, O_RDONLY | O_DIRECTORY
                                     | O_CLOEXEC)) < 0)
        r = -errno;
      else if (asprintf (&sub_path, "%s/%s", path, name) < 0)
        r = -ENOMEM;
      else
        r = copy_dir (old_sub, new_sub, sub_path, dev);
    }
    else {
      int fd;

      /* Host loop devices stay out whatever their name. */
      if ((S_ISBLK (st.st_mode) && major (st.st_rdev) == LOOP_MAJOR)
          || (S_ISCHR (st.st_mode) && major (st.st_rdev) == MISC_MAJOR
              && minor (st.st_rdev) == LOOP_CTRL_MINOR))
        continue;
      fd = openat (new_dir, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
                   0600);
      if (fd < 0) {
        r = -errno;
        break;
      }
      close (fd);
      r = bind_entry (old_dir, new_dir, name, false);
    }
    if (r < 0)
      ctl_error ("exec: %s/%s: %s", path, name, strerror (-r));
  }
  closedir (d);
  return r;
}

int
sandbox_dev_build (void)
{
  CLEANUP_CLOSE int old_dev = -1, new_dev = -1;
  struct stat st;
  int r, fd;

  old_dev = open ("/dev", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (old_dev < 0 || fstat (old_dev, &st) < 0) {
    ctl_error ("exec: /dev: %m");
    return -errno;
  }
  if (mount ("loopfs-dev", "/dev", "tmpfs", MS_NOSUID,
             "mode=0755,size=4m") < 0) {
    ctl_error ("exec: mounting a tmpfs on /dev: %m");
    return -errno;
  }
  /* Shared with the copy the sandbox's init makes of this namespace,
   * so that the device entries bound here later (dev-watch.h) appear
   * there too.  The peer group is the sandbox's own: the tmpfs is. */
  if (mount (NULL, "/dev", NULL, MS_SHARED, NULL) < 0) {
    ctl_error ("exec: making /dev shared: %m");
    return -errno;
  }
  new_dev = open ("/dev", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (new_dev < 0) {
    ctl_error ("exec: the new /dev: %m");
    return -errno;
  }
  r = copy_dir (old_dev, new_dev, "/dev", st.st_dev);
  if (r < 0)
    return r;

  if (mkdirat (new_dev, "loopfs", 0755) < 0) {
    ctl_error ("exec: mkdir %s: %m", SANDBOX_INSTANCE);
    return -errno;
  }
  fd = openat (new_dev, "loop-control", O_WRONLY | O_CREAT | O_EXCL
               | O_CLOEXEC, 0600);
  if (fd < 0) {
    ctl_error ("exec: /dev/loop-control: %m");
    return -errno;
  }
  close (fd);
  return 0;
}

int
sandbox_dev_bind_control (void)
{
  if (mount (SANDBOX_INSTANCE "/" CONTROL_NAME, "/dev/loop-control", NULL,
             MS_BIND, NULL) < 0) {
    ctl_error ("exec: binding %s/" CONTROL_NAME " to /dev/loop-control: %m",
               SANDBOX_INSTANCE);
    return -errno;
  }
  return 0;
}

int
sandbox_blkid_cache_private (void)
{
  if (mkdir (BLKID_CACHE_DIR, 0755) < 0 && errno != EEXIST) {
    ctl_error ("exec: mkdir %s: %m", BLKID_CACHE_DIR);
    return -errno;
  }
  if (mount ("loopfs-blkid", BLKID_CACHE_DIR, "tmpfs", MS_NOSUID | MS_NODEV
             | MS_NOEXEC, "mode=0755,size=1m") < 0) {
    ctl_error ("exec: mounting a tmpfs on %s: %m", BLKID_CACHE_DIR);
    return -errno;
  }
  return 0;
}
