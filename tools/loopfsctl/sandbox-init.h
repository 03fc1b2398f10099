/* loopfsctl exec: pid 1 of the sandbox.
 *
 * COMMAND runs in a PID namespace of its own under a tiny init (this
 * process): it mounts a /proc for the namespace, starts COMMAND, reaps
 * every process that ends in the namespace, passes SIGTERM, SIGINT,
 * SIGHUP and SIGQUIT sent to it on to COMMAND, and exits with
 * COMMAND's status as a shell reports it (128+N after signal N).  Its
 * exit ends every process left in the namespace (the kernel kills them
 * when a PID namespace's init dies), and its parent-death signal ends it
 * when loopfsctl dies.
 */
#ifndef LOOPFSCTL_SANDBOX_INIT_H
#define LOOPFSCTL_SANDBOX_INIT_H

#include <signal.h>
#include <stdbool.h>

struct sandbox_init {
  int lifeline;             /* read end of a pipe whose write end only
                               loopfsctl holds: hang-up = loopfsctl died */
  const sigset_t *waited;   /* the signals blocked for sigwaitinfo */
  const sigset_t *child_mask; /* the mask COMMAND starts with */
  char **command;
  int notify_socket;        /* where COMMAND sends its seccomp listener
                               (see seccomp-notify.h), or -1 */
  bool intercept_mounts;    /* the filter sends the mount calls too */
};

/* Be the init described above; never returns.  Runs in the child of
 * fork right after unshare (CLONE_NEWPID). */
void sandbox_init_run (const struct sandbox_init *si)
  __attribute__ ((noreturn));

#endif /* LOOPFSCTL_SANDBOX_INIT_H */
