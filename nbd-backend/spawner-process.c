/* loopfs nbd-backend: the spawner process (nbdkit-spawner.h says why
 * it exists, spawner-protocol.h what it is told).
 *
 * The spare: the spawner clones each child ahead of the request it
 * will serve, and the clone of the next one follows the answer.  A
 * clone took 0.35-0.9 ms here and a newborn child another 0.2-0.6 ms
 * before it ran, all of it inside the LOOP_CONFIGURE that waits for
 * the child's open check (backend.c); the spare is already waiting in
 * recvmsg.  A spare is a child of the daemon (CLONE_PARENT), so the
 * daemon is told each one's pid, to reap it should the spawner end
 * before using it.
 */

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/sched.h>

#include "nbdkit-child.h"
#include "spawner-protocol.h"

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
    .parent = h.parent, .open_check = h.open_check,
    .change_ids = h.change_ids, .uid = h.uid,
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
  plan->report_fd = chan;
  child_exec (plan);
}

/* How long the spawner leaves the CPU to the child it just woke before
 * it clones the next spare: cloned at once, the clone held the CPU on
 * which the woken child was queued, and the child's open check came
 * 0.45-0.6 ms later than with this pause (1.36 ms against 1.86 ms for a
 * whole LOOP_CONFIGURE, medians of 20).  A request that comes sooner
 * is served by a clone of its own. */
#define SPARE_DELAY_MS 2

/* The spare: a child cloned ahead of the next request, waiting for it
 * on SOCK (see the top of this file). */
struct spare {
  pid_t pid;
  int pidfd;
  int sock;
};

/* The spare's life: wait for a request (BUF, as the spawner received
 * it, with the channel attached) and become nbdkit for it; end quietly
 * when the spawner goes first.  The daemon (our parent) ending ends us
 * as it ends nbdkit. */
static void __attribute__ ((noreturn))
spare_main (int sock, char *buf, pid_t daemon)
{
  struct child_plan plan;
  ssize_t n;
  int chan;

  if (prctl (PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) == -1 ||
      getppid () != daemon)
    _exit (127);
  n = recv_with_fds (sock, buf, SPAWN_MSG_MAX, &chan, 1);
  if (n <= 0 || chan < 0 || parse (buf, n, &plan) < 0)
    _exit (127);
  close (sock);
  clone_child (chan, &plan);
}

/* Clone a spare into *SPARE, as a child of our parent DAEMON. */
static int
spare_clone (struct spare *spare, char *buf, pid_t daemon)
{
  int sv[2];
  struct clone_args args = {
    .flags = CLONE_PARENT | CLONE_PIDFD,
    .pidfd = (uintptr_t) &spare->pidfd,
  };
  long pid;

  if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
    return -errno;
  pid = syscall (SYS_clone3, &args, sizeof args);
  if (pid == 0) {
    close (sv[0]);
    spare_main (sv[1], buf, daemon);
  }
  close (sv[1]);
  if (pid < 0) {
    close (sv[0]);
    return -errno;
  }
  spare->pid = pid;
  spare->sock = sv[0];
  return 0;
}

/* Clone the next spare and tell the daemon (on SOCK) its pid. */
static void
spare_make (int sock, struct spare *spare, char *buf, pid_t daemon)
{
  struct spawn_reply news = { .kind = SPAWN_SPARE };

  if (spare_clone (spare, buf, daemon) < 0)
    return;
  news.pid = spare->pid;
  send_with_fds (sock, &news, sizeof news, NULL, 0);
}

/* End a spare that died before its request (the daemon reaps it). */
static void
spare_drop (struct spare *spare)
{
  syscall (SYS_pidfd_send_signal, spare->pidfd, SIGKILL, NULL, 0);
  close (spare->pidfd);
  close (spare->sock);
  spare->pid = spare->pidfd = spare->sock = -1;
}

/* Serve one start request in BUF (LEN bytes, channel CHAN): check it,
 * answer with the spare's pid, then hand the request to the spare; the
 * next spare is cloned last, unless the next request comes first.  The
 * answer goes first because the woken spare may take this CPU for the
 * rest of its start and the exec of nbdkit (the answer then came 3 ms
 * late). */
static void
serve (int sock, char *buf, size_t len, int chan, struct spare *spare,
       pid_t daemon)
{
  struct child_plan plan = { 0 };
  struct spawn_reply reply = { .kind = SPAWN_ANSWER };
  struct pollfd exited = { .fd = spare->pidfd, .events = POLLIN };
  struct pollfd next = { .fd = sock, .events = POLLIN };
  int r;

  r = chan < 0 ? -EINVAL : parse (buf, len, &plan);
  free (plan.argv);
  free (plan.envp);
  if (r == 0 && spare->pid >= 0 && poll (&exited, 1, 0) != 0)
    spare_drop (spare);
  if (r == 0 && spare->pid < 0)
    r = spare_clone (spare, buf, daemon);
  reply.err = -r;
  reply.pid = r == 0 ? spare->pid : 0;
  send_with_fds (sock, &reply, sizeof reply, &spare->pidfd, r == 0);
  if (r == 0) {
    /* Should the spare die right now, the daemon sees it exit. */
    send_with_fds (spare->sock, buf, len, &chan, 1);
    close (spare->sock);
    close (spare->pidfd);
    spare->pid = spare->pidfd = spare->sock = -1;
  }
  if (chan >= 0)
    close (chan);
  if (spare->pid < 0 && poll (&next, 1, SPARE_DELAY_MS) == 0)
    spare_make (sock, spare, buf, daemon);
}

/* The spawner's life (spawner-protocol.h). */
void
spawner_main (int sock, pid_t daemon)
{
  char *buf = malloc (SPAWN_MSG_MAX);
  struct spare spare = { .pid = -1, .pidfd = -1, .sock = -1 };

  prctl (PR_SET_NAME, "loopfs-spawner");
  if (buf == NULL)
    _exit (1);
  spare_make (sock, &spare, buf, daemon);
  for (;;) {
    int chan;
    ssize_t n = recv_with_fds (sock, buf, SPAWN_MSG_MAX, &chan, 1);

    if (n <= 0)
      _exit (0);
    serve (sock, buf, n, chan, &spare, daemon);
  }
}
