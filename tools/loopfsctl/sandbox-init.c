/* loopfsctl exec: pid 1 of the sandbox (see sandbox-init.h). */

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "exit-status.h"
#include "loopfsctl.h"
#include "sandbox-init.h"
#include "seccomp-notify.h"

/* Exit statuses of COMMAND's child when exec fails (those of env(1)). */
#define EXIT_CANNOT_RUN 126
#define EXIT_NOT_FOUND 127

/* In COMMAND's process: install the stat filter, then exec COMMAND. */
static void __attribute__ ((noreturn))
run_command (const struct sandbox_init *si)
{
  if (prctl (PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
    _exit (EXIT_EXEC_FAILED);
  if (si->notify_socket >= 0 && notify_install (si->notify_socket,
                                                    si->intercept_mounts) < 0)
    _exit (EXIT_EXEC_FAILED);
  if (sigprocmask (SIG_SETMASK, si->child_mask, NULL) < 0)
    _exit (EXIT_EXEC_FAILED);
  execvp (si->command[0], si->command);
  ctl_error ("exec: %s: %m", si->command[0]);
  _exit (errno == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_RUN);
}

void
sandbox_init_run (const struct sandbox_init *si)
{
  struct pollfd lifeline = { .fd = si->lifeline, .events = POLLIN };
  siginfo_t info;
  pid_t command;
  int status;

  /* Die with loopfsctl; if it is already gone, the pipe says so. */
  if (prctl (PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0
      || poll (&lifeline, 1, 0) != 0)
    _exit (EXIT_EXEC_FAILED);

  /* A mount namespace of our own, so that the namespace's /proc does
   * not hide the host's from loopfsctl, which reads /proc/PID of the
   * processes it serves. */
  if (unshare (CLONE_NEWNS) < 0
      || mount ("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                NULL) < 0) {
    ctl_error ("exec: mounting /proc in the sandbox: %m");
    _exit (EXIT_EXEC_FAILED);
  }

  command = fork ();
  if (command < 0) {
    ctl_error ("exec: fork: %m");
    _exit (EXIT_EXEC_FAILED);
  }
  if (command == 0)
    run_command (si);
  if (si->notify_socket >= 0)
    close (si->notify_socket);

  for (;;) {
    pid_t pid;

    if (sigwaitinfo (si->waited, &info) < 0)
      continue;
    if (info.si_signo != SIGCHLD) {
      /* A terminal's signal reached COMMAND's process group already. */
      if (info.si_code != SI_KERNEL)
        kill (command, info.si_signo);
      continue;
    }
    while ((pid = waitpid (-1, &status, WNOHANG)) > 0)
      if (pid == command)
        _exit (exit_status_of (status, EXIT_EXEC_FAILED));
  }
}
