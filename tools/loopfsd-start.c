/* Starting a private loopfsd (see loopfsd-start.h). */

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "cleanup.h"
#include "loopfs-interface.h"
#include "loopfsd-start.h"
#include "monotonic-time.h"

int
private_mount_namespace (const char **failed)
{
  if (unshare (CLONE_NEWNS) < 0) {
    *failed = "unshare";
    return -errno;
  }
  if (mount (NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
    *failed = "mount";
    return -errno;
  }
  return 0;
}

char *
loopfsd_find (const char *build_relative)
{
  const char *env = getenv ("LOOPFSD");
  char self[PATH_MAX], *slash, *path;
  ssize_t n;

  if (env && *env)
    return strdup (env);
  n = readlink ("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    self[n] = '\0';
    slash = strrchr (self, '/');
    if (slash) {
      *slash = '\0';
      if (asprintf (&path, "%s/%s", self, build_relative) < 0)
        return NULL;
      if (access (path, X_OK) == 0)
        return path;
      free (path);
    }
  }
  return strdup ("loopfsd");
}

void
loopfsd_child_link_to_parent (pid_t parent)
{
  if (prctl (PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
    _exit (127);
  if (getppid () != parent)
    _exit (127);
}

pid_t
loopfsd_spawn (const char *loopfsd, const char *mountpoint,
               char *const *options, const sigset_t *child_mask)
{
  pid_t parent = getpid ();
  size_t n_options = 0, i, j;
  pid_t pid;

  while (options && options[n_options])
    n_options++;

  pid = fork ();
  if (pid < 0)
    return -errno;
  if (pid == 0) {
    char *argv[n_options + 4];

    loopfsd_child_link_to_parent (parent);
    setpgid (0, 0);
    if (sigprocmask (SIG_SETMASK, child_mask, NULL) < 0)
      _exit (127);
    j = 0;
    argv[j++] = (char *) "loopfsd";
    argv[j++] = (char *) "-f";
    for (i = 0; i < n_options; i++)
      argv[j++] = options[i];
    argv[j++] = (char *) mountpoint;
    argv[j] = NULL;
    execvp (loopfsd, argv);
    fprintf (stderr, "exec %s: %m\n", loopfsd);
    _exit (127);
  }
  return pid;
}

int
loopfsd_wait_mounted (pid_t pid, const char *mountpoint, long timeout_ms,
                      int *status)
{
  CLEANUP_FREE char *control = NULL;
  struct stat st;
  long waited;

  if (asprintf (&control, "%s/" CONTROL_NAME, mountpoint) < 0)
    return -ENOMEM;
  for (waited = 0; waited < timeout_ms; waited += 10) {
    if (waitpid (pid, status, WNOHANG) == pid)
      return -ECHILD;
    if (stat (control, &st) == 0)
      return 0;
    sleep_ms (10);
  }
  return -ETIMEDOUT;
}

/* Wait for PID to exit: a pidfd becomes readable when the process
 * exits.  The wait is measured on the monotonic clock, so that signals
 * that interrupt the poll do not extend it. */
int
loopfsd_stop (pid_t pid, long timeout_ms, int *status)
{
  CLEANUP_CLOSE int pidfd = syscall (SYS_pidfd_open, pid, 0);
  int64_t deadline = monotonic_ms () + timeout_ms;

  while (waitpid (pid, status, WNOHANG) != pid) {
    int64_t left = deadline - monotonic_ms ();
    struct pollfd pfd = { .fd = pidfd, .events = POLLIN };

    if (left <= 0) {
      kill (pid, SIGKILL);
      waitpid (pid, status, 0);
      return -ETIMEDOUT;
    }
    /* Without a pidfd (a kernel before 5.3), look again every 10 ms. */
    if (pidfd < 0)
      sleep_ms (left < 10 ? left : 10);
    else
      poll (&pfd, 1, left);
  }
  return 0;
}
