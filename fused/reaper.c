/* loopfsd: ending nbdkit and kernel NBD devices after the daemon dies. */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <unistd.h>
#include <linux/close_range.h>

#include "daemon.h"
#include "reaper.h"
#include "vector.h"

DEFINE_VECTOR_TYPE (pidfd_vector, int)

static int reaper_fd = -1;      /* the daemon's end of the pipe */

/* Close the pidfds of processes that have exited already. */
static void
prune (pidfd_vector *pidfds)
{
  size_t i = 0;

  while (i < pidfds->len) {
    struct pollfd p = { .fd = pidfds->ptr[i], .events = POLLIN };
    if (poll (&p, 1, 0) == 1) {
      close (pidfds->ptr[i]);
      pidfd_vector_remove (pidfds, i);
    }
    else
      i++;
  }
}

/* The reaper's life: collect nbdkit pids until the pipe closes, then
 * kill every nbdkit still running and exit.  With nbdkit gone the
 * kernel's connections break, so I/O on a /dev/nbdX the daemon left
 * fails after the dead-connection timeout instead of waiting; the next
 * loopfsd disconnects such devices by their identifiers.  (Disconnecting
 * them here instead left a reader in flight waiting forever on 6.1.) */
static void __attribute__ ((noreturn))
reaper_main (int fd)
{
  pidfd_vector pidfds = { 0 };
  pid_t pid;
  size_t i;

  prctl (PR_SET_NAME, "loopfsd-reaper");
  while (read (fd, &pid, sizeof pid) == sizeof pid) {
    int pidfd = pidfd_open (pid, 0);

    prune (&pidfds);
    if (pidfd >= 0 && pidfd_vector_append (&pidfds, pidfd) < 0)
      close (pidfd);
  }
  for (i = 0; i < pidfds.len; i++)
    pidfd_send_signal (pidfds.ptr[i], SIGKILL, NULL, 0);
  _exit (0);
}

/* Fork the reaper.  It keeps nothing of the daemon's but its end of
 * the pipe: holding the FUSE descriptor would keep a dead daemon's
 * mount alive. */
int
reaper_start (void)
{
  int pipefd[2];
  pid_t pid;

  if (pipe2 (pipefd, O_CLOEXEC) < 0)
    return -errno;
  pid = fork ();
  if (pid < 0) {
    int r = -errno;
    close (pipefd[0]);
    close (pipefd[1]);
    return r;
  }
  if (pid == 0) {
    int fd = dup2 (pipefd[0], 3);
    if (fd < 0)
      _exit (1);
    close_range (4, ~0U, 0);
    signal (SIGTERM, SIG_IGN);
    signal (SIGINT, SIG_IGN);
    reaper_main (fd);
  }
  close (pipefd[0]);
  reaper_fd = pipefd[1];
  return 0;
}

/* Tell the reaper about nbdkit PID.  A pid is written in one write(2),
 * which a pipe delivers whole. */
void
reaper_watch (pid_t pid)
{
  if (reaper_fd >= 0 && write (reaper_fd, &pid, sizeof pid) != sizeof pid)
    log_error ("telling the reaper about nbdkit %d: %m", (int) pid);
}
