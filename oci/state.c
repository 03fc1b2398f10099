/* loopfs-oci: a container's state directory (see loopfs-oci.h). */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "cleanup.h"
#include "loopfs-oci.h"
#include "monotonic-time.h"
#include "userns.h"

/* How long a supervisor gets to tear down after SIGTERM (loopfsd may
 * need a while to detach devices and stop its nbdkit processes), and
 * after SIGKILL. */
#define TERM_TIMEOUT_MS 15000
#define KILL_TIMEOUT_MS 5000

/* Are we root of the initial user namespace (not rootless podman's
 * root, which is a user's uid mapped to 0)? */
static bool
real_root (void)
{
  return geteuid () == 0 && uid_map_is_identity ();
}

/* The directory holding every container's state directory. */
static char *
run_dir (void)
{
  const char *xdg = getenv ("XDG_RUNTIME_DIR");
  char *dir;

  if (real_root () || xdg == NULL || xdg[0] == '\0')
    return strdup ("/run/loopfs-oci");
  return asprintf (&dir, "%s/loopfs-oci", xdg) < 0 ? NULL : dir;
}

int
state_init (const char *id, struct oci_state *st)
{
  CLEANUP_FREE char *base = run_dir ();

  memset (st, 0, sizeof *st);
  if (id[0] == '\0' || id[0] == '.' || strlen (id) > 200
      || strspn (id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                 "0123456789_.-") != strlen (id)) {
    ctl_error ("'%s' is not a container ID loopfs-oci accepts "
               "(letters, digits, '_', '.', '-')", id);
    return -EINVAL;
  }
  if (base == NULL
      || asprintf (&st->dir, "%s/%s", base, id) < 0
      || asprintf (&st->instance, "%s/instance", st->dir) < 0
      || asprintf (&st->sysfs, "%s/sysfs", st->dir) < 0
      || asprintf (&st->listener, "%s/seccomp.sock", st->dir) < 0
      || asprintf (&st->log, "%s/supervisor.log", st->dir) < 0
      || asprintf (&st->pid_file, "%s/supervisor.pid", st->dir) < 0
      || asprintf (&st->lock, "%s/lock", st->dir) < 0) {
    state_free (st);
    return -ENOMEM;
  }
  return 0;
}

void
state_free (struct oci_state *st)
{
  free (st->dir);
  free (st->instance);
  free (st->sysfs);
  free (st->listener);
  free (st->log);
  free (st->pid_file);
  free (st->lock);
  memset (st, 0, sizeof *st);
}

int
state_create (const struct oci_state *st)
{
  CLEANUP_FREE char *base = run_dir ();

  /* 0711: a container's root in a user namespace makes the binds, and
   * must be able to reach the mountpoints. */
  if ((mkdir (base, 0711) < 0 && errno != EEXIST)
      || mkdir (st->dir, 0711) < 0
      || mkdir (st->instance, 0755) < 0
      || mkdir (st->sysfs, 0755) < 0) {
    ctl_error ("making %s: %m", st->dir);
    return -errno;
  }
  return 0;
}

int
state_remove_files (const struct oci_state *st)
{
  unlink (st->listener);
  unlink (st->pid_file);
  unlink (st->log);
  rmdir (st->instance);
  rmdir (st->sysfs);
  /* The lock last: whoever waits for it finds nothing else left. */
  unlink (st->lock);
  return rmdir (st->dir);
}

/* Wait up to MS milliseconds until nobody holds lock file FD. */
static bool
wait_unlocked (int fd, long ms)
{
  long waited;

  for (waited = 0; waited <= ms; waited += 10) {
    if (flock (fd, LOCK_EX | LOCK_NB) == 0)
      return true;
    sleep_ms (10);
  }
  return false;
}

/* Stop the supervisor holding lock file LOCK_FD, whose pid is in
 * ST->pid_file.  Returns 0 or -EIO after a message. */
static int
stop_supervisor (const struct oci_state *st, int lock_fd)
{
  FILE *fp = fopen (st->pid_file, "re");
  int pid = 0;

  if (fp) {
    if (fscanf (fp, "%d", &pid) != 1)
      pid = 0;
    fclose (fp);
  }
  if (pid <= 1) {
    /* Started but not yet written: give it a moment. */
    if (wait_unlocked (lock_fd, TERM_TIMEOUT_MS))
      return 0;
    ctl_error ("%s: a supervisor holds the lock but wrote no pid", st->dir);
    return -EIO;
  }
  kill (pid, SIGTERM);
  if (wait_unlocked (lock_fd, TERM_TIMEOUT_MS))
    return 0;
  ctl_error ("supervisor %d did not end within %d ms; killing it", pid,
             TERM_TIMEOUT_MS);
  kill (pid, SIGKILL);
  if (wait_unlocked (lock_fd, KILL_TIMEOUT_MS))
    return 0;
  ctl_error ("supervisor %d survived SIGKILL", pid);
  return -EIO;
}

/* Unmount PATH if something is mounted there (a supervisor that was
 * killed leaves its mounts to auto_unmount, which may lag). */
static void
unmount_leftover (const char *path)
{
  if (umount2 (path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
    ctl_error ("unmounting %s: %m", path);
}

int
state_remove (const struct oci_state *st)
{
  CLEANUP_CLOSE int lock_fd = open (st->lock, O_RDONLY | O_CLOEXEC);
  int r = 0;

  if (lock_fd >= 0 && flock (lock_fd, LOCK_EX | LOCK_NB) < 0)
    r = stop_supervisor (st, lock_fd);
  unmount_leftover (st->instance);
  unmount_leftover (st->sysfs);
  if (state_remove_files (st) < 0 && errno != ENOENT) {
    ctl_error ("removing %s: %m", st->dir);
    r = -EIO;
  }
  return r;
}
