/* loopfs nbd-backend: making nbdkit processes without the daemon's
 * descriptors (see nbdkit-spawner.h).
 *
 * The protocol, on a SOCK_SEQPACKET socketpair between the daemon and
 * the spawner: the daemon sends one message per start, a struct
 * spawn_header and the strings (exe, argv, envp, each NUL-terminated),
 * with one descriptor attached: its end of a new socketpair (the
 * child's channel), on which the daemon has already queued the child's
 * three descriptors.  The spawner clones the child, which reads them
 * and execs nbdkit, and answers with a struct spawn_reply and, on
 * success, the child's pidfd attached.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/close_range.h>
#include <linux/sched.h>

#include "cleanup.h"
#include "nbdkit-spawner.h"

/* The largest start request: nbdkit's arguments and environment. */
#define SPAWN_MSG_MAX (128 * 1024)

/* How long the daemon waits for the spawner's answer.  It only clones,
 * so it answers at once unless it is gone or stuck. */
#define SPAWN_REPLY_TIMEOUT_MS 5000

/* The spawner's control socket. */
#define SPAWNER_CTL_FD 3

/* The child's descriptors, in the order they are sent. */
#define CHILD_FDS 3

struct spawn_header {
  uint32_t argc;
  uint32_t envc;
  uint32_t uid;
  uint32_t gid;
  int32_t parent;
  uint8_t change_ids;
  uint8_t runs_as_root;
};

struct spawn_reply {
  int32_t err;                  /* 0 or an errno */
  int32_t pid;
};

static int ctl = -1;            /* the daemon's end of the control socket */
static pid_t spawner = -1;

/* The spawner did not answer as it should: end it, so that a late
 * answer can never be taken for the next request's; the next start
 * forks a new one. */
static void
spawner_reset (void)
{
  close (ctl);
  ctl = -1;
  kill (spawner, SIGKILL);
  waitpid (spawner, NULL, 0);
  spawner = -1;
}

/* Send LEN bytes of DATA on SOCK with the N descriptors FDS attached. */
static int
send_with_fds (int sock, const void *data, size_t len, const int *fds,
               size_t n)
{
  union {
    char buf[CMSG_SPACE (CHILD_FDS * sizeof (int))];
    struct cmsghdr align;
  } control = { 0 };
  struct iovec iov = { .iov_base = (void *) data, .iov_len = len };
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

  if (n > 0) {
    struct cmsghdr *c;

    msg.msg_control = control.buf;
    msg.msg_controllen = CMSG_SPACE (n * sizeof (int));
    c = CMSG_FIRSTHDR (&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN (n * sizeof (int));
    memcpy (CMSG_DATA (c), fds, n * sizeof (int));
  }
  if (sendmsg (sock, &msg, MSG_NOSIGNAL) != (ssize_t) len)
    return errno ? -errno : -EIO;
  return 0;
}

/* Receive one message of at most LEN bytes into DATA on SOCK, and up to
 * N descriptors into FDS (the others are set to -1).  Returns the
 * message's length (0 at end of file) or a negative errno. */
static ssize_t
recv_with_fds (int sock, void *data, size_t len, int *fds, size_t n)
{
  union {
    char buf[CMSG_SPACE (CHILD_FDS * sizeof (int))];
    struct cmsghdr align;
  } control;
  struct iovec iov = { .iov_base = data, .iov_len = len };
  struct msghdr msg = {
    .msg_iov = &iov, .msg_iovlen = 1,
    .msg_control = control.buf, .msg_controllen = sizeof control.buf,
  };
  struct cmsghdr *c;
  ssize_t r;
  size_t i;

  for (i = 0; i < n; i++)
    fds[i] = -1;
  do
    r = recvmsg (sock, &msg, MSG_CMSG_CLOEXEC);
  while (r < 0 && errno == EINTR);
  if (r < 0)
    return -errno;
  for (c = CMSG_FIRSTHDR (&msg); c; c = CMSG_NXTHDR (&msg, c)) {
    size_t got;

    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
      continue;
    got = (c->cmsg_len - CMSG_LEN (0)) / sizeof (int);
    for (i = 0; i < got; i++) {
      int fd;

      memcpy (&fd, CMSG_DATA (c) + i * sizeof (int), sizeof fd);
      if (i < n)
        fds[i] = fd;
      else
        close (fd);
    }
  }
  if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
    return -EMSGSIZE;
  return r;
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
    .change_ids = plan->change_ids, .runs_as_root = plan->runs_as_root,
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

/* In the spawner: read the request of LEN bytes in BUF into PLAN; the
 * strings stay in BUF, the arrays are allocated, and the LISTEN_PID=
 * entry gets room for the digits the child writes. */
static int
parse (char *buf, size_t len, struct child_plan *plan)
{
  static char listen_pid[] = "LISTEN_PID=" "\0\0\0\0\0\0\0\0\0\0\0\0\0";
  struct spawn_header h;
  char *p = buf + sizeof h, *end = buf + len;
  uint32_t i;

  if (len < sizeof h || buf[len - 1] != '\0')
    return -EINVAL;
  memcpy (&h, buf, sizeof h);
  if (h.argc > SPAWN_MSG_MAX / 2 || h.envc > SPAWN_MSG_MAX / 2)
    return -EINVAL;
  *plan = (struct child_plan) {
    .parent = h.parent, .change_ids = h.change_ids, .uid = h.uid,
    .gid = h.gid, .runs_as_root = h.runs_as_root,
    .argv = calloc (h.argc + 1, sizeof (char *)),
    .envp = calloc (h.envc + 1, sizeof (char *)),
  };
  if (plan->argv == NULL || plan->envp == NULL)
    return -ENOMEM;
  plan->exe = p;
  p += strlen (p) + 1;
  for (i = 0; i < h.argc + h.envc; i++) {
    if (p >= end)
      return -EINVAL;
    if (i < h.argc)
      plan->argv[i] = p;
    else if (strcmp (p, "LISTEN_PID=") == 0) {
      plan->envp[i - h.argc] = listen_pid;
      plan->listen_pid = listen_pid + strlen ("LISTEN_PID=");
      plan->listen_pid_size = sizeof listen_pid - strlen ("LISTEN_PID=");
    }
    else
      plan->envp[i - h.argc] = p;
    p += strlen (p) + 1;
  }
  return plan->listen_pid ? 0 : -EINVAL;
}

/* The cloned child: take the descriptors from CHAN and become nbdkit. */
static void __attribute__ ((noreturn))
clone_child (int chan, struct child_plan *plan)
{
  int fds[CHILD_FDS];
  char byte;

  if (recv_with_fds (chan, &byte, 1, fds, CHILD_FDS) != 1 || fds[2] < 0) {
    static const char msg[] =
      "loopfs: nbd-backend: starting nbdkit: no descriptors came\n";
    ssize_t r = write (STDERR_FILENO, msg, sizeof msg - 1);
    (void) r;
    _exit (127);
  }
  plan->listen_fd = fds[0];
  plan->backing_fd = fds[1];
  plan->devnull_fd = fds[2];
  child_exec (plan);
}

/* Clone a child for PLAN that reads its descriptors from CHAN, as a
 * child of our parent.  Returns its pid, with its pidfd in *PIDFD, or a
 * negative errno. */
static pid_t
clone_for (struct child_plan *plan, int chan, int *pidfd)
{
  struct clone_args args = {
    .flags = CLONE_PARENT | CLONE_PIDFD,
    .pidfd = (uintptr_t) pidfd,
  };
  long pid = syscall (SYS_clone3, &args, sizeof args);

  if (pid < 0)
    return -errno;
  if (pid == 0)
    clone_child (chan, plan);
  return pid;
}

/* Serve one start request in BUF (LEN bytes, channel CHAN). */
static void
serve (int sock, char *buf, size_t len, int chan)
{
  struct child_plan plan = { 0 };
  struct spawn_reply reply = { 0 };
  int pidfd = -1, r;

  r = chan < 0 ? -EINVAL : parse (buf, len, &plan);
  if (r == 0) {
    pid_t pid = clone_for (&plan, chan, &pidfd);
    if (pid < 0)
      r = pid;
    else
      reply.pid = pid;
  }
  free (plan.argv);
  free (plan.envp);
  if (chan >= 0)
    close (chan);
  reply.err = -r;
  send_with_fds (sock, &reply, sizeof reply, &pidfd, pidfd >= 0);
  if (pidfd >= 0)
    close (pidfd);
}

/* The spawner's life: serve requests until the daemon hangs up. */
static void __attribute__ ((noreturn))
spawner_main (int sock)
{
  char *buf = malloc (SPAWN_MSG_MAX);

  prctl (PR_SET_NAME, "loopfs-spawner");
  if (buf == NULL)
    _exit (1);
  for (;;) {
    int chan;
    ssize_t n = recv_with_fds (sock, buf, SPAWN_MSG_MAX, &chan, 1);

    if (n <= 0)
      _exit (0);
    serve (sock, buf, n, chan);
  }
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
    spawner_main (SPAWNER_CTL_FD);
  }
  close (sv[1]);
  ctl = sv[0];
  spawner = pid;
  return 0;
}

/* Start a child as PLAN says. */
int
nbdkit_spawner_spawn (const struct child_plan *plan, pid_t *pid, int *pidfd)
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
  close (chan[0]);
  if (r == 0)
    r = send_with_fds (ctl, buf, len, &chan[1], 1);
  close (chan[1]);
  if (r < 0) {
    spawner_reset ();
    return -EIO;
  }

  p.fd = ctl;
  r = poll (&p, 1, SPAWN_REPLY_TIMEOUT_MS);
  len = r == 1 ? recv_with_fds (ctl, &reply, sizeof reply, &got, 1) : -EIO;
  if (len != sizeof reply) {
    if (len >= 0 && got >= 0)
      close (got);
    spawner_reset ();
    return -EIO;
  }
  if (reply.err) {
    if (got >= 0)
      close (got);
    return -reply.err;
  }
  if (got < 0)
    return -EIO;
  *pid = reply.pid;
  *pidfd = got;
  return 0;
}

/* End the spawner and reap it. */
void
nbdkit_spawner_stop (void)
{
  if (ctl < 0)
    return;
  close (ctl);
  ctl = -1;
  waitpid (spawner, NULL, 0);
  spawner = -1;
}
