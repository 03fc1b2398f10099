/* loopfs nbd-backend: making nbdkit processes without the daemon's
 * descriptors (see nbdkit-spawner.h): the daemon's side, which starts
 * the spawner, sends it requests (spawner-protocol.h), and reaps it and
 * the spare it did not use.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/close_range.h>

#include "cleanup.h"
#include "nbdkit-spawner.h"
#include "spawner-protocol.h"

/* How long the daemon waits for the spawner's answer.  It only hands
 * the request to its spare, so it answers at once unless it is gone or
 * stuck. */
#define SPAWN_REPLY_TIMEOUT_MS 5000

/* The spawner's control socket. */
#define SPAWNER_CTL_FD 3

static int ctl = -1;            /* the daemon's end of the control socket */
static pid_t spawner = -1;
static pid_t spare = -1;        /* the spawner's spare, as last told */

/* End and reap the spare the daemon knows of, if any. */
static void
spare_end (void)
{
  if (spare > 0) {
    kill (spare, SIGKILL);
    waitpid (spare, NULL, 0);
  }
  spare = -1;
}

/* Take note of message M from the spawner.  A spare is our child until
 * it is handed a request (an answer names it): one replaced without
 * that (the spawner found it dead and used another) is reaped here. */
static void
note_message (const struct spawn_reply *m)
{
  if (m->kind == SPAWN_SPARE) {
    if (spare != m->pid)
      spare_end ();
    spare = m->pid;
  }
  else if (m->err == 0) {
    if (spare != m->pid)
      spare_end ();
    spare = -1;
  }
}

/* Read the spawner's messages until it has hung up (it exits once the
 * daemon shuts down its end), and end the last spare. */
static void
drain_until_exit (void)
{
  struct pollfd p = { .fd = ctl, .events = POLLIN };
  struct spawn_reply m;
  int got;

  while (poll (&p, 1, SPAWN_REPLY_TIMEOUT_MS) == 1 &&
         recv_with_fds (ctl, &m, sizeof m, &got, 1) == sizeof m) {
    if (got >= 0)
      close (got);
    note_message (&m);
    /* A late answer (after a reset): nobody waits for that child. */
    if (m.kind == SPAWN_ANSWER && m.err == 0 && m.pid > 0) {
      kill (m.pid, SIGKILL);
      waitpid (m.pid, NULL, 0);
    }
  }
  spare_end ();
}

/* The spawner did not answer as it should: end it, so that a late
 * answer can never be taken for the next request's; the next start
 * forks a new one. */
static void
spawner_reset (void)
{
  kill (spawner, SIGKILL);
  waitpid (spawner, NULL, 0);
  drain_until_exit ();
  close (ctl);
  ctl = -1;
  spawner = -1;
}

/* Append string S to BUF at *USED; -E2BIG when it does not fit. */
static int
put_string (char *buf, size_t size, size_t *used, const char *s)
{
  size_t len = strlen (s) + 1;

  if (len > size - *used)
    return -E2BIG;
  memcpy (buf + *used, s, len);
  *used += len;
  return 0;
}

/* Write PLAN's request into BUF; its length, or a negative errno. */
static ssize_t
serialize (const struct child_plan *plan, char *buf, size_t size)
{
  struct spawn_header h = {
    .uid = plan->uid, .gid = plan->gid, .parent = plan->parent,
    .open_check = plan->open_check, .change_ids = plan->change_ids,
    .runs_as_root = plan->runs_as_root,
  };
  size_t used = sizeof h;
  int r = put_string (buf, size, &used, plan->exe);

  for (; r == 0 && plan->argv[h.argc]; h.argc++)
    r = put_string (buf, size, &used, plan->argv[h.argc]);
  for (; r == 0 && plan->envp[h.envc]; h.envc++)
    r = put_string (buf, size, &used, plan->envp[h.envc]);
  if (r < 0)
    return r;
  memcpy (buf, &h, sizeof h);
  return used;
}

/* Fork the spawner. */
int
nbdkit_spawner_start (void)
{
  int sv[2];
  pid_t parent = getpid (), pid;

  if (ctl >= 0)
    return 0;
  if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
    return -errno;
  pid = fork ();
  if (pid < 0) {
    int r = -errno;
    close (sv[0]);
    close (sv[1]);
    return r;
  }
  if (pid == 0) {
    struct sigaction dfl = { .sa_handler = SIG_DFL };
    sigset_t none;

    for (int sig = 1; sig < NSIG; sig++)
      sigaction (sig, &dfl, NULL);
    signal (SIGPIPE, SIG_IGN);
    sigemptyset (&none);
    sigprocmask (SIG_SETMASK, &none, NULL);
    if (prctl (PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0
        || getppid () != parent
        || dup2 (sv[1], SPAWNER_CTL_FD) < 0)
      _exit (1);
    close_range (SPAWNER_CTL_FD + 1, ~0U, 0);
    spawner_main (SPAWNER_CTL_FD, parent);
  }
  close (sv[1]);
  ctl = sv[0];
  spawner = pid;
  return 0;
}

/* Start a child as PLAN says; with an open check, *REPORT_FD is where
 * its answer will arrive (non-blocking), else -1. */
int
nbdkit_spawner_spawn (const struct child_plan *plan, pid_t *pid, int *pidfd,
                      int *report_fd)
{
  CLEANUP_FREE char *buf = malloc (SPAWN_MSG_MAX);
  const int fds[CHILD_FDS] = {
    plan->listen_fd, plan->backing_fd, plan->devnull_fd,
  };
  struct pollfd p = { .events = POLLIN };
  struct spawn_reply reply;
  int chan[2], got;
  ssize_t len;
  int r;

  if (buf == NULL)
    return -ENOMEM;
  r = nbdkit_spawner_start ();
  if (r < 0)
    return r;
  len = serialize (plan, buf, SPAWN_MSG_MAX);
  if (len < 0)
    return len;
  if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, chan) < 0)
    return -errno;
  r = send_with_fds (chan[0], "", 1, fds, CHILD_FDS);
  if (r == 0)
    r = send_with_fds (ctl, buf, len, &chan[1], 1);
  close (chan[1]);
  if (r == 0 && plan->open_check >= 0 &&
      fcntl (chan[0], F_SETFL, O_NONBLOCK) == -1)
    r = -errno;
  if (r < 0 || plan->open_check < 0) {
    close (chan[0]);
    chan[0] = -1;
  }
  if (r < 0) {
    spawner_reset ();
    return -EIO;
  }

  p.fd = ctl;
  do {
    r = poll (&p, 1, SPAWN_REPLY_TIMEOUT_MS);
    len = r == 1 ? recv_with_fds (ctl, &reply, sizeof reply, &got, 1) : -EIO;
    if (len == sizeof reply)
      note_message (&reply);
  } while (len == sizeof reply && reply.kind == SPAWN_SPARE);
  if (len != sizeof reply) {
    if (len >= 0 && got >= 0)
      close (got);
    spawner_reset ();
    r = -EIO;
  }
  else if (reply.err || got < 0) {
    if (got >= 0)
      close (got);
    r = reply.err ? -reply.err : -EIO;
  }
  if (r < 0) {
    if (chan[0] >= 0)
      close (chan[0]);
    return r;
  }
  *pid = reply.pid;
  *pidfd = got;
  *report_fd = chan[0];
  return 0;
}

/* End the spawner and its spare, and reap both. */
void
nbdkit_spawner_stop (void)
{
  if (ctl < 0)
    return;
  shutdown (ctl, SHUT_WR);
  drain_until_exit ();
  close (ctl);
  ctl = -1;
  waitpid (spawner, NULL, 0);
  spawner = -1;
}
