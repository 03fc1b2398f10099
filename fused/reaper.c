/* loopfsd: ending kernel NBD devices and nbdkit after the daemon dies. */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/close_range.h>
#include <cap-ng.h>

#include "daemon.h"
#include "fusermount-socket.h"
#include "kernel-nbd.h"
#include "log.h"
#include "reaper.h"
#include "vector.h"

DEFINE_VECTOR_TYPE (pidfd_vector, int)

/* The record that says "clean exit" in place of an nbdkit pid: no
 * process has pid 0.  A whole pid-sized record rather than one byte, so
 * that every record the reaper reads has the same size. */
#define CLEAN_EXIT_RECORD 0

/* How long the reaper lets the disconnects of a dead daemon's devices
 * take before it kills the nbdkits anyway.  A disconnect normally takes
 * milliseconds; it waits only when NBD_CMD_DISC cannot be sent to an
 * nbdkit that is alive but not reading (stopped), for at most the
 * socket's send timeout (the request timeout, 30 s). */
#define DISCONNECT_DEADLINE_MS 10000

/* How long the reaper waits for a killed daemon to finish exiting
 * before it lets fusermount3 go (see fusermount-socket.h).  Exiting
 * takes microseconds unless a thread is stuck in the kernel. */
#define DAEMON_EXIT_DEADLINE_MS 5000

/* The reaper's descriptors: the pipe from the daemon, and the copy of
 * fusermount3's socket, if any. */
#define REAPER_PIPE_FD 3
#define REAPER_FUSERMOUNT_FD 4

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

/* Say what became of the dead daemon's device DEV (R from
 * kernel_nbd_disconnect). */
static void
device_disconnected (const struct kernel_nbd_device *dev, int r,
                     void *opaque)
{
  (void) opaque;
  if (r < 0)
    log_error ("reaper: disconnecting /dev/nbd%u (%s): %s",
               dev->index, dev->identifier, strerror (-r));
  else
    log_error ("reaper: loopfsd died; disconnected /dev/nbd%u (%s)",
               dev->index, dev->identifier);
}

/* Disconnect every kernel NBD device whose backend identifier starts
 * with PREFIX, the dead daemon's: while its nbdkit still answers, the
 * kernel sends NBD_CMD_DISC, fails what is queued or in flight with
 * EIO at once and frees the device (once nobody has it open). */
static void
disconnect_devices (const char *prefix)
{
  int r = kernel_nbd_disconnect_by_prefix (prefix, false,
                                           device_disconnected, NULL);

  if (r < 0)
    log_error ("reaper: listing nbd devices: %s", strerror (-r));
}

/* Run disconnect_devices (PREFIX) in a child and wait for it at most
 * DISCONNECT_DEADLINE_MS: the kernel disconnects in the context of the
 * netlink sender, where no timeout of ours can interrupt it, and the
 * reaper itself must go on to kill the nbdkits whatever happens.  A
 * child still stuck at the deadline is left to finish on its own. */
static void
disconnect_devices_bounded (const char *prefix)
{
  struct pollfd p = { .events = POLLIN };
  pid_t pid = fork ();

  if (pid < 0) {
    log_error ("reaper: fork: %m");
    return;
  }
  if (pid == 0) {
    disconnect_devices (prefix);
    _exit (0);
  }
  p.fd = pidfd_open (pid, 0);
  if (p.fd < 0 || poll (&p, 1, DISCONNECT_DEADLINE_MS) == 1)
    waitpid (pid, NULL, 0);
  else
    log_error ("reaper: disconnecting nbd devices takes over %d ms; "
               "killing nbdkit anyway", DISCONNECT_DEADLINE_MS);
  if (p.fd >= 0)
    close (p.fd);
}

/* Keep only what the reaper may need: CAP_KILL for nbdkits running as
 * another user and, when the daemon uses kernel NBD, CAP_SYS_ADMIN for
 * its netlink interface (which it inherits from the daemon). */
static void
reaper_drop_capabilities (bool nbd)
{
  if (geteuid () != 0)
    return;
  capng_clear (CAPNG_SELECT_BOTH);
  capng_update (CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED, CAP_KILL);
  if (nbd)
    capng_update (CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED,
                  CAP_SYS_ADMIN);
  if (capng_apply (CAPNG_SELECT_CAPS) < 0)
    log_error ("reaper: dropping capabilities failed (continuing)");
}

/* The reaper's life: collect nbdkit pids until the pipe closes.  After
 * a clean exit (the daemon wrote CLEAN_EXIT_RECORD last, having
 * disconnected and stopped everything itself) it only kills an nbdkit
 * that might still run.  When the daemon died, it first disconnects the
 * daemon's kernel NBD devices (NBD_PREFIX, or "" without kernel NBD),
 * so that I/O on them fails with EIO at once instead of waiting for the
 * request and dead-connection timeouts, and then kills the nbdkits:
 * the other way round, requests in flight would wait for those
 * timeouts.  Last it waits for the daemon (DAEMON_PIDFD) to have wholly
 * exited before its own exit closes fusermount3's socket. */
static void __attribute__ ((noreturn))
reaper_main (int fd, const char *nbd_prefix, int daemon_pidfd)
{
  pidfd_vector pidfds = { 0 };
  bool clean = false;
  pid_t pid;
  ssize_t n;
  size_t i;

  prctl (PR_SET_NAME, "loopfsd-reaper");
  reaper_drop_capabilities (*nbd_prefix != '\0');
  while ((n = read (fd, &pid, sizeof pid)) == sizeof pid
         || (n < 0 && errno == EINTR)) {
    int pidfd;

    if (n < 0)
      continue;
    if (pid == CLEAN_EXIT_RECORD) {
      clean = true;
      continue;
    }
    pidfd = pidfd_open (pid, 0);
    prune (&pidfds);
    if (pidfd >= 0 && pidfd_vector_append (&pidfds, pidfd) < 0)
      close (pidfd);
  }
  if (!clean && *nbd_prefix)
    disconnect_devices_bounded (nbd_prefix);
  for (i = 0; i < pidfds.len; i++)
    pidfd_send_signal (pidfds.ptr[i], SIGKILL, NULL, 0);
  if (!clean && daemon_pidfd >= 0) {
    struct pollfd p = { .fd = daemon_pidfd, .events = POLLIN };

    while (poll (&p, 1, DAEMON_EXIT_DEADLINE_MS) < 0 && errno == EINTR)
      ;
  }
  _exit (0);
}

/* Fork the reaper.  It keeps nothing of the daemon's but its end of
 * the pipe, a pidfd for the daemon and fusermount3's socket: holding
 * the FUSE descriptor would keep a dead daemon's mount alive.  The
 * daemon's identifier prefix is worked out here, while the daemon is
 * the caller. */
int
reaper_start (const char *nbd_instance_id)
{
  char prefix[KERNEL_NBD_IDENTIFIER_MAX] = "";
  int pipefd[2], fusermount_fd;
  pid_t daemon_pid = getpid (), pid;
  int r;

  if (nbd_instance_id) {
    r = kernel_nbd_make_owner_prefix (nbd_instance_id, prefix, sizeof prefix);
    if (r < 0)
      return r;
  }
  fusermount_fd = fusermount_socket_find ();
  if (pipe2 (pipefd, O_CLOEXEC) < 0)
    return -errno;
  pid = fork ();
  if (pid < 0) {
    r = -errno;
    close (pipefd[0]);
    close (pipefd[1]);
    return r;
  }
  if (pid == 0) {
    /* Move both above the fixed numbers first, so that neither dup2
     * below overwrites the other's source. */
    int in = fcntl (pipefd[0], F_DUPFD, REAPER_FUSERMOUNT_FD + 1);
    int fm = fusermount_fd >= 0
      ? fcntl (fusermount_fd, F_DUPFD, REAPER_FUSERMOUNT_FD + 1) : -1;
    int daemon_pidfd = -1;

    if (in < 0 || dup2 (in, REAPER_PIPE_FD) < 0)
      _exit (1);
    if (fm >= 0 && dup2 (fm, REAPER_FUSERMOUNT_FD) < 0)
      _exit (1);
    close_range (fm >= 0 ? REAPER_FUSERMOUNT_FD + 1 : REAPER_PIPE_FD + 1,
                 ~0U, 0);
    /* The daemon may have died already: then its pid is not our parent
     * and its descriptors are all released. */
    if (fm >= 0 && getppid () == daemon_pid)
      daemon_pidfd = pidfd_open (daemon_pid, 0);
    signal (SIGTERM, SIG_IGN);
    signal (SIGINT, SIG_IGN);
    reaper_main (REAPER_PIPE_FD, prefix, daemon_pidfd);
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

/* Tell the reaper that the daemon exits cleanly, and let it go. */
void
reaper_clean_exit (void)
{
  pid_t record = CLEAN_EXIT_RECORD;

  if (reaper_fd < 0)
    return;
  if (write (reaper_fd, &record, sizeof record) != sizeof record)
    log_error ("telling the reaper about the clean exit: %m");
  close (reaper_fd);
  reaper_fd = -1;
}
