/* loopfs nbd-backend: the child that becomes nbdkit (see
 * nbdkit-child.h). */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cap-ng.h>

#include "nbdkit-child.h"

/* Write S to descriptor FD, ignoring errors (the child's last words). */
static void
write_str (int fd, const char *s)
{
  ssize_t r = write (fd, s, strlen (s));

  (void) r;
}

/* Write the decimal digits of N into BUF (async-signal-safe). */
static void
format_unsigned (char *buf, size_t size, unsigned long n)
{
  char tmp[24];
  size_t len = 0, i;

  do {
    tmp[len++] = '0' + n % 10;
    n /= 10;
  } while (n && len < sizeof tmp);
  for (i = 0; i < len && i < size - 1; i++)
    buf[i] = tmp[len - 1 - i];
  buf[i] = '\0';
}

/* Report which step of the child setup failed, and exit. */
static void __attribute__ ((noreturn))
child_fail (const char *what)
{
  const char *desc = strerrordesc_np (errno);

  write_str (STDERR_FILENO, "loopfs: nbd-backend: starting nbdkit: ");
  write_str (STDERR_FILENO, what);
  write_str (STDERR_FILENO, ": ");
  write_str (STDERR_FILENO, desc ? desc : "unknown error");
  write_str (STDERR_FILENO, "\n");
  _exit (127);
}

/* Put the listening socket at fd 3, the backing file at fd 4 and
 * /dev/null at fd 0 (and, for an open check, the report channel at
 * fd 5), and close everything else above stderr.  They are first
 * copied above fd 5 so that no dup2 can overwrite a descriptor still
 * to be moved. */
static void
child_setup_fds (const struct child_plan *plan)
{
  int first_free = CHILD_REPORT_FD + 1;
  int listen_fd = fcntl (plan->listen_fd, F_DUPFD, first_free);
  int backing_fd = fcntl (plan->backing_fd, F_DUPFD, first_free);
  int devnull_fd = fcntl (plan->devnull_fd, F_DUPFD, first_free);
  int report_fd = plan->open_check >= 0
    ? fcntl (plan->report_fd, F_DUPFD, first_free) : -1;

  if (listen_fd == -1 || backing_fd == -1 || devnull_fd == -1 ||
      (plan->open_check >= 0 && report_fd == -1))
    child_fail ("fcntl F_DUPFD");
  if (dup2 (devnull_fd, STDIN_FILENO) == -1 ||
      dup2 (listen_fd, CHILD_LISTEN_FD) == -1 ||
      dup2 (backing_fd, CHILD_BACKING_FD) == -1 ||
      (report_fd >= 0 && dup2 (report_fd, CHILD_REPORT_FD) == -1))
    child_fail ("dup2");
  if (close_range (report_fd >= 0 ? first_free : CHILD_FIRST_FREE_FD,
                   ~0U, 0) == -1)
    child_fail ("close_range");
}

/* Open the backing file the way nbdkit's file plugin will (the export
 * "4" of dir=/proc/self/fd, opened with openat), with the credentials
 * nbdkit will run with, and send 0 or the errno on the report channel;
 * then close it, so that nbdkit never sees it. */
static void
child_report_open_check (const struct child_plan *plan)
{
  _Static_assert (CHILD_BACKING_FD == 4, "the path below names fd 4");
  int fd = open ("/proc/self/fd/4", plan->open_check | O_CLOEXEC | O_NOCTTY);
  int32_t answer = fd >= 0 ? 0 : errno;
  ssize_t r;

  if (fd >= 0)
    close (fd);
  r = write (CHILD_REPORT_FD, &answer, sizeof answer);
  (void) r;
  close (CHILD_REPORT_FD);
}

/* Empty the capability bounding set, so that exec cannot grant
 * capabilities back (a uid-0 exec gets the whole bounding set).
 * Without CAP_SETPCAP this is only acceptable when nbdkit will not run
 * as root, because then exec grants nothing anyway. */
static void
child_drop_bounding_set (const struct child_plan *plan)
{
  /* One prctl a capability in the common case (a bind waits for this
   * child); PR_CAPBSET_READ only to tell "not in the set" from "not
   * allowed" when a drop fails. */
  for (unsigned long cap = 0; ; cap++) {
    if (prctl (PR_CAPBSET_DROP, cap, 0, 0, 0) == 0)
      continue;
    if (errno == EINVAL)
      break;                    /* past the last capability */
    if (errno == EPERM && prctl (PR_CAPBSET_READ, cap, 0, 0, 0) == 0)
      continue;                 /* not in the set: nothing to drop */
    if (errno == EPERM && !plan->runs_as_root)
      return;
    child_fail ("PR_CAPBSET_DROP");
  }
}

/* The child: reset signals, arrange descriptors, take the owner's
 * credentials, drop every privilege, tie our life to the daemon's,
 * report the open check and exec nbdkit.  Only system calls from here
 * on; the credential changes use raw syscalls because this
 * single-threaded copy must not run glibc's all-threads setxid
 * machinery.  The spawner set every signal to its default when it
 * started and ignores only SIGPIPE, so that is the one to reset (an
 * ignored signal stays ignored across exec); resetting all 64 here
 * took 0.45 ms of the 3 ms a bind waited for the child. */
void
child_exec (const struct child_plan *plan)
{
  struct sigaction dfl = { .sa_handler = SIG_DFL };
  sigset_t none;

  sigaction (SIGPIPE, &dfl, NULL);
  sigemptyset (&none);
  sigprocmask (SIG_SETMASK, &none, NULL);

  child_setup_fds (plan);

  if (plan->change_ids) {
    if (syscall (SYS_setgroups, 0, NULL) == -1)
      child_fail ("setgroups");
    if (syscall (SYS_setresgid, plan->gid, plan->gid, plan->gid) == -1)
      child_fail ("setresgid");
  }
  /* Needs CAP_SETPCAP, which the uid change below takes away. */
  child_drop_bounding_set (plan);
  if (plan->change_ids &&
      syscall (SYS_setresuid, plan->uid, plan->uid, plan->uid) == -1)
    child_fail ("setresuid");

  capng_clear (CAPNG_SELECT_BOTH);
  if (capng_apply (CAPNG_SELECT_CAPS) == -1)
    child_fail ("capng_apply");
  if (prctl (PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) == -1 &&
      errno != EINVAL)
    child_fail ("PR_CAP_AMBIENT_CLEAR_ALL");
  if (prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1)
    child_fail ("PR_SET_NO_NEW_PRIVS");

  /* A credential change clears the parent-death signal, so set it
   * last; then make sure the daemon did not die before it was set. */
  if (prctl (PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == -1)
    child_fail ("PR_SET_PDEATHSIG");
  if (getppid () != plan->parent)
    _exit (127);
  if (plan->open_check >= 0)
    child_report_open_check (plan);

  format_unsigned (plan->listen_pid, plan->listen_pid_size,
                   (unsigned long) getpid ());
  execve (plan->exe, plan->argv, plan->envp);
  child_fail ("execve");
}
