/* loopfs-oci: the per-container supervisor (see supervisor.h). */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <json-c/json.h>
#include <sys/file.h>
#include <sys/fsuid.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "cleanup.h"
#include "device-status.h"
#include "loopfsd-start.h"
#include "monotonic-time.h"
#include "seccomp-notify.h"
#include "supervisor.h"
#include "sysfs-view.h"

#define START_TIMEOUT_MS 10000
#define STOP_TIMEOUT_MS 10000
/* The runtime connects during "create"; a wrapper killed before it ran
 * the runtime leaves a supervisor that nobody will ever connect to. */
#define FIRST_CONNECTION_TIMEOUT_MS 60000
/* The container's state message (runc sends about 1 KiB). */
#define STATE_MAX 65536
#define FDS_MAX 16
/* At most this many /dev/loopN symlinks, whatever the limits say (as
 * loopfsctl exec). */
#define MAX_LINKS 65536u

struct supervisor {
  const struct supervisor_config *config;
  const struct oci_state *st;
  pid_t loopfsd;
  int loopfsd_pidfd;
  pid_t init;               /* the container's init, 0 until known */
  int init_pidfd;
  struct sysfs_view *view;
  struct notify_server **fakes; /* one per process the runtime started */
  size_t n_fakes;
  int server;               /* the listenerPath socket */
  int signals;              /* signalfd: SIGTERM, SIGINT, SIGHUP */
  int ready;                /* the wrapper's pipe, -1 once done */
};

/* pidfd_open(2) has no glibc wrapper in Debian 12. */
static int
pidfd_open (pid_t pid)
{
  return syscall (SYS_pidfd_open, pid, 0);
}

/* Tell the wrapper BYTE; a wrapper gone meanwhile is no error. */
static void
tell_wrapper (struct supervisor *s, char byte)
{
  if (s->ready >= 0 && write (s->ready, &byte, 1) < 0)
    ctl_error ("telling the wrapper: %m");
}

/* Detach from the wrapper's session and terminal, log to the state
 * directory, hold its lock and write our pid. */
static int
detach (struct supervisor *s)
{
  int null, log, lock;
  FILE *fp;

  /* No descriptor the runtime's caller passed down (its sync pipes,
   * the console socket) stays open here: only our pipe to the wrapper. */
  if (s->ready > STDERR_FILENO + 1)
    close_range (STDERR_FILENO + 1, s->ready - 1, 0);
  close_range (s->ready + 1, ~0u, 0);
  null = open ("/dev/null", O_RDWR | O_CLOEXEC);
  log = open (s->st->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (null < 0 || log < 0) {
    ctl_error ("%s: %m", null < 0 ? "/dev/null" : s->st->log);
    return -errno;
  }
  setsid ();
  /* The runtime's caller (conmon) reads our inherited stdout and
   * stderr until they close: keep neither. */
  dup2 (null, STDIN_FILENO);
  dup2 (log, STDOUT_FILENO);
  dup2 (log, STDERR_FILENO);
  close (null);
  close (log);
  lock = open (s->st->lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock < 0 || flock (lock, LOCK_EX) < 0) {
    ctl_error ("%s: %m", s->st->lock);
    return -errno;
  }
  /* The lock descriptor stays open (close-on-exec) until we exit. */
  fp = fopen (s->st->pid_file, "we");
  if (fp == NULL || fprintf (fp, "%d\n", (int) getpid ()) < 0
      || fclose (fp) != 0) {
    ctl_error ("%s: %m", s->st->pid_file);
    return -EIO;
  }
  return 0;
}

/* OPTIONS with ",NAME=VALUE" appended (OPTIONS freed), or NULL. */
static char *
append_option (char *options, const char *name, long long value)
{
  char *longer;

  if (asprintf (&longer, "%s,%s=%lld", options, name, value) < 0)
    longer = NULL;
  free (options);
  return longer;
}

/* Start the container's loopfsd on the state directory's mountpoint. */
static int
start_loopfsd (struct supervisor *s, const sigset_t *child_mask)
{
  CLEANUP_FREE char *options = NULL;
  char *argv[3] = { (char *) "-o", NULL, NULL };
  int status, r;

  /* allow_other: the container's processes are not necessarily us;
   * auto_unmount: no mount stays on the host if loopfsd is killed;
   * uid, gid: the nodes belong to the container's root. */
  options = strdup ("allow_other,auto_unmount");
  if (options && s->config->max)
    options = append_option (options, "max", s->config->max);
  if (options && s->config->uid >= 0)
    options = append_option (options, "uid", s->config->uid);
  if (options && s->config->gid >= 0)
    options = append_option (options, "gid", s->config->gid);
  if (options == NULL)
    return -ENOMEM;
  argv[1] = options;
  s->loopfsd = loopfsd_spawn (s->config->loopfsd, s->st->instance, argv,
                              child_mask);
  if (s->loopfsd < 0) {
    ctl_error ("starting %s: %s", s->config->loopfsd, strerror (-s->loopfsd));
    return s->loopfsd;
  }
  s->loopfsd_pidfd = pidfd_open (s->loopfsd);
  r = loopfsd_wait_mounted (s->loopfsd, s->st->instance, START_TIMEOUT_MS,
                            &status);
  if (r == -ECHILD) {
    s->loopfsd = -1;
    ctl_error ("loopfsd exited before mounting (wait status %#x)", status);
  }
  else if (r < 0)
    ctl_error ("loopfsd did not mount %s within %d ms", s->st->instance,
               START_TIMEOUT_MS);
  else if (s->loopfsd_pidfd < 0) {
    ctl_error ("pidfd_open: %m");
    r = -errno;
  }
  return r;
}

/* Listen on the config's listenerPath. */
static int
listen_for_runtime (struct supervisor *s)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };

  if (strlen (s->st->listener) >= sizeof addr.sun_path) {
    ctl_error ("%s: path too long for a socket", s->st->listener);
    return -ENAMETOOLONG;
  }
  strcpy (addr.sun_path, s->st->listener);
  s->server = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s->server < 0
      || bind (s->server, (struct sockaddr *) &addr, sizeof addr) < 0
      || listen (s->server, 16) < 0) {
    ctl_error ("listening on %s: %m", s->st->listener);
    return -errno;
  }
  return 0;
}

/* Make /dev/loopN -> loopfs/loopN in the container's /dev (as loopfsctl
 * exec's sandbox-dev), as whoever owns that /dev: the container's root.
 * (A tmpfs of a user namespace refuses files of an id it cannot map,
 * host root's included.) */
static void
make_links (struct supervisor *s)
{
  unsigned links = s->config->max ? s->config->max : user_device_limit ();
  char path[64], name[32], target[48];
  CLEANUP_CLOSE int dev = -1;
  uid_t fsuid = getuid ();
  gid_t fsgid = getgid ();
  struct stat st;
  unsigned n;

  if (links > MAX_LINKS)
    links = MAX_LINKS;
  snprintf (path, sizeof path, "/proc/%d/root/dev", (int) s->init);
  dev = open (path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dev < 0 || fstat (dev, &st) < 0) {
    ctl_error ("%s: %m", path);
    return;
  }
  /* setfsuid and setfsgid change the calling thread only. */
  setfsgid (st.st_gid);
  setfsuid (st.st_uid);
  for (n = 0; n < links; n++) {
    snprintf (name, sizeof name, "loop%u", n);
    snprintf (target, sizeof target, "loopfs/loop%u", n);
    if (symlinkat (target, dev, name) < 0 && errno != EEXIST) {
      ctl_error ("%s/%s: %m", path, name);
      break;
    }
  }
  setfsuid (fsuid);
  setfsgid (fsgid);
}

/* From runc's state message JSON (an OCI ContainerProcessState), the
 * index of the seccomp listener among the descriptors sent, and the pid
 * of the container's init.  Returns 0 or -EINVAL. */
static int
parse_state (const char *json, int *index, pid_t *init)
{
  struct json_object *msg = json_tokener_parse (json);
  struct json_object *fds, *state, *pid;
  size_t i;
  int r = -EINVAL;

  *index = -1;
  if (msg == NULL)
    return -EINVAL;
  if (json_object_object_get_ex (msg, "fds", &fds)
      && json_object_is_type (fds, json_type_array))
    for (i = 0; i < json_object_array_length (fds); i++)
      if (strcmp (json_object_get_string (json_object_array_get_idx (fds, i)),
                  "seccompFd") == 0)
        *index = i;
  if (*index >= 0
      && json_object_object_get_ex (msg, "state", &state)
      && json_object_object_get_ex (state, "pid", &pid)
      && json_object_get_int (pid) > 0) {
    *init = json_object_get_int (pid);
    r = 0;
  }
  json_object_put (msg);
  return r;
}

/* Receive one message of the runtime on CONN: its descriptors into FDS
 * (*N_FDS of them), and from the state JSON that comes with them (read
 * until it is complete: runc keeps the connection open), the listener's
 * index and the container's init (see parse_state). */
static int
receive_state (int conn, char *buf, size_t size, int *fds, int *n_fds,
               int *index, pid_t *init)
{
  union {
    char buf[CMSG_SPACE (FDS_MAX * sizeof (int))];
    struct cmsghdr align;
  } control;
  struct iovec iov = { .iov_base = buf, .iov_len = size - 1 };
  struct msghdr msg = {
    .msg_iov = &iov, .msg_iovlen = 1,
    .msg_control = control.buf, .msg_controllen = sizeof control.buf,
  };
  struct pollfd pfd = { .fd = conn, .events = POLLIN };
  struct cmsghdr *cmsg;
  size_t got;
  ssize_t n;

  *n_fds = 0;
  n = recvmsg (conn, &msg, MSG_CMSG_CLOEXEC);
  if (n < 0)
    return -errno;
  for (cmsg = CMSG_FIRSTHDR (&msg); cmsg; cmsg = CMSG_NXTHDR (&msg, cmsg))
    if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS) {
      *n_fds = (cmsg->cmsg_len - CMSG_LEN (0)) / sizeof (int);
      memcpy (fds, CMSG_DATA (cmsg), *n_fds * sizeof (int));
    }
  for (got = n; ; got += n) {
    buf[got] = '\0';
    if (parse_state (buf, index, init) == 0)
      return 0;
    if (n <= 0 || got >= size - 1 || poll (&pfd, 1, 5000) <= 0)
      break;
    n = read (conn, buf + got, size - 1 - got);
  }
  ctl_error ("the runtime's message has no seccompFd or no pid: %s", buf);
  return -EINVAL;
}

/* Take one connection of the runtime: serve the listener it sends, and
 * the first time learn the container's init. */
static void
accept_runtime (struct supervisor *s)
{
  CLEANUP_FREE char *buf = malloc (STATE_MAX);
  CLEANUP_CLOSE int conn = accept4 (s->server, NULL, NULL, SOCK_CLOEXEC);
  struct notify_server **fakes;
  int fds[FDS_MAX], n_fds = 0, index = -1, i, listener = -1;
  pid_t init = 0;

  if (conn < 0 || buf == NULL)
    return;
  if (receive_state (conn, buf, STATE_MAX, fds, &n_fds, &index, &init) == 0
      && index < n_fds)
    listener = fds[index];
  for (i = 0; i < n_fds; i++)
    if (fds[i] != listener)
      close (fds[i]);
  if (listener < 0)
    return;
  /* The fakes of processes gone (each podman exec makes one) go first. */
  for (i = s->n_fakes; i-- > 0;)
    if (notify_finished (s->fakes[i])) {
      notify_stop (s->fakes[i]);
      s->fakes[i] = s->fakes[--s->n_fakes];
    }
  fakes = realloc (s->fakes, (s->n_fakes + 1) * sizeof *fakes);
  if (fakes == NULL) {
    close (listener);
    return;
  }
  s->fakes = fakes;
  if (notify_serve (listener, s->st->instance, &s->fakes[s->n_fakes]) == 0)
    s->n_fakes++;
  if (s->init == 0) {
    s->init = init;
    s->init_pidfd = pidfd_open (init);
    if (s->init_pidfd < 0)
      ctl_error ("pidfd_open of the container's init %d: %m", (int) init);
    else
      make_links (s);
    tell_wrapper (s, READY_CONTAINER);
    close (TAKE_FD (s->ready));
  }
}

/* Serve until the container's init or loopfsd ends, or we are told to
 * stop. */
static void
serve (struct supervisor *s)
{
  long start = monotonic_ms ();

  for (;;) {
    struct pollfd fds[4] = {
      { .fd = s->signals, .events = POLLIN },
      { .fd = s->loopfsd_pidfd, .events = POLLIN },
      { .fd = s->init_pidfd, .events = POLLIN },
      { .fd = s->server, .events = POLLIN },
    };
    int timeout = -1;

    if (s->init == 0) {
      timeout = FIRST_CONNECTION_TIMEOUT_MS - (monotonic_ms () - start);
      if (timeout <= 0) {
        ctl_error ("no runtime connected within %d ms", FIRST_CONNECTION_TIMEOUT_MS);
        return;
      }
    }
    if (poll (fds, 4, timeout) < 0 && errno != EINTR) {
      ctl_error ("poll: %m");
      return;
    }
    if (fds[0].revents) {
      struct signalfd_siginfo info;

      if (read (s->signals, &info, sizeof info) > 0)
        ctl_error ("signal %u: tearing down", info.ssi_signo);
      return;
    }
    if (fds[1].revents) {
      ctl_error ("loopfsd %d ended: tearing down", (int) s->loopfsd);
      return;
    }
    if (fds[2].revents)
      return;
    if (fds[3].revents)
      accept_runtime (s);
  }
}

/* Stop serving, unmount the instance (loopfsd then detaches every
 * device, stops its nbdkit processes and exits) and remove the state
 * directory; but when the set-up failed (SET_UP false), leave the
 * directory with our log to the wrapper, which shows the log and
 * removes it. */
static void
tear_down (struct supervisor *s, bool set_up)
{
  struct pollfd pfd = { .fd = s->loopfsd_pidfd, .events = POLLIN };
  size_t i;

  for (i = 0; i < s->n_fakes; i++)
    notify_stop (s->fakes[i]);
  free (s->fakes);
  sysfs_view_unmount (s->view);
  if (umount2 (s->st->instance, 0) < 0 && errno != EINVAL
      && umount2 (s->st->instance, MNT_DETACH) < 0)
    ctl_error ("unmounting %s: %m", s->st->instance);
  if (s->loopfsd > 0) {
    if (s->loopfsd_pidfd < 0 || poll (&pfd, 1, STOP_TIMEOUT_MS) <= 0) {
      ctl_error ("loopfsd %d did not exit after the unmount; killing it",
                 (int) s->loopfsd);
      kill (s->loopfsd, SIGKILL);
    }
    waitpid (s->loopfsd, NULL, 0);
  }
  if (set_up)
    state_remove_files (s->st);
}

void
supervisor_run (const struct supervisor_config *config)
{
  struct supervisor s = {
    .config = config, .st = config->state, .loopfsd = -1,
    .loopfsd_pidfd = -1, .init_pidfd = -1, .server = -1, .signals = -1,
    .ready = config->ready,
  };
  sigset_t stop, original;
  bool set_up = false;

  sigemptyset (&stop);
  sigaddset (&stop, SIGTERM);
  sigaddset (&stop, SIGINT);
  sigaddset (&stop, SIGHUP);
  sigprocmask (SIG_BLOCK, &stop, &original);
  signal (SIGPIPE, SIG_IGN);
  if (detach (&s) == 0
      && (s.signals = signalfd (-1, &stop, SFD_CLOEXEC)) >= 0
      && start_loopfsd (&s, &original) == 0
      && sysfs_view_mount_at (s.st->instance, s.st->sysfs, &s.view) == 0
      && listen_for_runtime (&s) == 0) {
    set_up = true;
    tell_wrapper (&s, READY_SET_UP);
    serve (&s);
  }
  tear_down (&s, set_up);
  _exit (0);
}
