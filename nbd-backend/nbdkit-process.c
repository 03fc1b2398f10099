/* loopfs nbd-backend: building, starting, signalling and reaping nbdkit.
 *
 * How nbdkit reaches the backing file: nbdkit 1.32's file plugin
 * passes file= through realpath(3), which turns /dev/fd/4 into the
 * textual path of the file as the daemon's mount namespace spells it.
 * That path may not be searchable by the file's owner (a 0700 parent
 * directory), may not exist (a deleted file), or may name a different
 * file (the caller lives in another mount namespace).  So the plugin
 * serves dir=/proc/self/fd instead: realpath only resolves "self",
 * and the export "4" is opened with openat(2) relative to that
 * directory, which follows the magic link to the very file behind fd
 * 4, checked against nbdkit's own credentials.  The exportname filter
 * maps the default export "" to "4" and refuses every other name, so
 * a client can reach nothing but the backing file.
 *
 * The daemon closes its copy of the listening socket right after the
 * fork: nbdkit's copy keeps it listening, and once nbdkit is gone a
 * later connect (a kernel NBD attach) fails with ECONNREFUSED instead
 * of sitting forever in a backlog nobody accepts from.
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cap-ng.h>

#include "cleanup.h"
#include "nbdkit-process.h"
#include "vector.h"

DEFINE_VECTOR_TYPE (string_vector, char *)

/* Worker threads per connection (nbdkit's --threads; its default is
 * 16).  nbdkit runs one thread per connection that reads requests and,
 * with --threads=N above 1, N workers besides, so a device costs
 * 1 + connections * (1 + N) threads: 69 with the old 4 connections and
 * 16 workers, which at 255 devices is 17,000 threads.  Measured with
 * bench/run-bench on 2 CPUs: 1 worker (no worker thread at all, every
 * request served in turn by the reading thread) lost a third of the
 * 1 MiB sequential writes, because receiving the next request then
 * waits for the pwrite of the last; 2 workers on 2 connections kept
 * every row (see bench/README.md), for 7 threads a device. */
#define NBDKIT_THREADS 2

/* Descriptors nbdkit finds at exec. */
#define CHILD_LISTEN_FD 3       /* SD_LISTEN_FDS_START */
#define CHILD_BACKING_FD 4
#define CHILD_FIRST_FREE_FD 5

/* Everything the forked child needs, prepared by the parent so that
 * the child only makes system calls (the daemon may have threads, so
 * nothing that allocates or locks is safe between fork and exec). */
struct child_plan {
  const char *exe;
  char **argv;
  char **envp;
  char *listen_pid;             /* LISTEN_PID digits, written by the child */
  size_t listen_pid_size;
  int listen_fd;
  int backing_fd;
  int devnull_fd;
  pid_t parent;
  bool change_ids;              /* setgroups/setresgid/setresuid */
  uid_t uid;
  gid_t gid;
  bool runs_as_root;            /* nbdkit's uid will be 0 */
};

/* Free every string of V and its storage. */
static void
string_vector_free (string_vector *v)
{
  for (size_t i = 0; i < v->len; i++)
    free (v->ptr[i]);
  string_vector_reset (v);
}

/* Append a copy of S to V. */
static int
append_copy (string_vector *v, const char *s)
{
  char *copy = strdup (s);

  if (copy == NULL)
    return -ENOMEM;
  if (string_vector_append (v, copy) < 0) {
    free (copy);
    return -ENOMEM;
  }
  return 0;
}

/* Append a printf-formatted string to V. */
static int __attribute__ ((format (printf, 2, 3)))
append_format (string_vector *v, const char *fmt, ...)
{
  va_list args;
  char *s;
  int r;

  va_start (args, fmt);
  r = vasprintf (&s, fmt, args);
  va_end (args);
  if (r < 0)
    return -ENOMEM;
  if (string_vector_append (v, s) < 0) {
    free (s);
    return -ENOMEM;
  }
  return 0;
}

/* Resolve PROGRAM to an executable path: as given when it contains a
 * slash, else the first match in $PATH.  Done before fork because
 * execvp may allocate. */
static int
find_program (const char *program, char **path_ret)
{
  const char *path = getenv ("PATH");
  CLEANUP_FREE char *copy = NULL;
  char *dir, *save = NULL;

  if (strchr (program, '/')) {
    if (access (program, X_OK) == -1)
      return -errno;
    *path_ret = strdup (program);
    return *path_ret ? 0 : -ENOMEM;
  }

  copy = strdup (path && *path ? path : "/usr/local/bin:/usr/bin:/bin");
  if (copy == NULL)
    return -ENOMEM;
  for (dir = strtok_r (copy, ":", &save); dir;
       dir = strtok_r (NULL, ":", &save)) {
    char *candidate;

    if (asprintf (&candidate, "%s/%s", dir, program) < 0)
      return -ENOMEM;
    if (access (candidate, X_OK) == 0) {
      *path_ret = candidate;
      return 0;
    }
    free (candidate);
  }
  return -ENOENT;
}

/* Build nbdkit's command line for CONFIG (see the top of this file for
 * why the file plugin serves a directory).  A zero-length export is
 * cut at offset 0: it is empty wherever it starts, and the offset
 * filter refuses an offset beyond the end of the file. */
static int
build_argv (const char *exe, const struct backend_config *config,
            string_vector *argv)
{
  uint64_t offset = config->length ? config->offset : 0;

  if (append_copy (argv, exe) < 0 ||
      append_copy (argv, "--foreground") < 0 ||
      append_copy (argv, "--exit-with-parent") < 0 ||
      append_format (argv, "--threads=%d", NBDKIT_THREADS) < 0 ||
      (config->read_only && append_copy (argv, "--readonly") < 0) ||
      append_copy (argv, "--filter=exportname") < 0 ||
      append_copy (argv, "--filter=offset") < 0 ||
      append_copy (argv, "file") < 0 ||
      append_copy (argv, "dir=/proc/self/fd") < 0 ||
      append_format (argv, "default-export=%d", CHILD_BACKING_FD) < 0 ||
      append_copy (argv, "exportname-strict=true") < 0 ||
      append_copy (argv, "exportname=") < 0 ||
      append_format (argv, "exportname=%d", CHILD_BACKING_FD) < 0 ||
      append_copy (argv, "exportname-list=explicit") < 0 ||
      append_format (argv, "offset=%" PRIu64, offset) < 0 ||
      append_format (argv, "range=%" PRIu64, config->length) < 0 ||
      string_vector_append (argv, NULL) < 0)
    return -ENOMEM;
  return 0;
}

/* nbdkit's whole environment.  The daemon's own may hold anything
 * (secrets, LD_PRELOAD, MALLOC_* and GLIBC_TUNABLES that change how
 * nbdkit runs, the sanitizer build's ASAN_OPTIONS, which mean nothing
 * to an uninstrumented nbdkit), and nbdkit runs as the backing file's
 * owner, who can read it in /proc/PID/environ; so nothing is inherited.
 * The file plugin needs no variable at all; PATH is a fixed standard
 * one only so that a program nbdkit might start (none with the file
 * plugin; a test's stand-in script) finds the usual tools.  No LANG:
 * nbdkit's messages are not translated, and the C locale is what
 * it gets.  Socket activation adds LISTEN_FDS and LISTEN_PID. */
static const char *const child_environment[] = {
  "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  "LISTEN_FDS=1",
};

/* Build the child's environment: child_environment plus a LISTEN_PID=
 * entry whose digits the child writes once it knows its pid. */
static int
build_envp (string_vector *envp, struct child_plan *plan)
{
  static const char listen_pid[] = "LISTEN_PID=";
  char *entry;

  for (size_t i = 0;
       i < sizeof child_environment / sizeof child_environment[0]; i++)
    if (append_copy (envp, child_environment[i]) < 0)
      return -ENOMEM;

  entry = calloc (1, sizeof listen_pid + 3 * sizeof (pid_t));
  if (entry == NULL)
    return -ENOMEM;
  memcpy (entry, listen_pid, sizeof listen_pid);
  if (string_vector_append (envp, entry) < 0) {
    free (entry);
    return -ENOMEM;
  }
  plan->listen_pid = entry + sizeof listen_pid - 1;
  plan->listen_pid_size = 3 * sizeof (pid_t) + 1;

  if (string_vector_append (envp, NULL) < 0)
    return -ENOMEM;
  return 0;
}

/* Copy NAME into OUT keeping only characters that are safe in a file
 * name, so a strange device name cannot escape the runtime directory. */
static void
sanitize_name (const char *name, char *out, size_t size)
{
  size_t i;

  if (name == NULL || *name == '\0')
    name = "nbd";
  for (i = 0; name[i] && i < size - 1; i++) {
    char ch = name[i];
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.';

    out[i] = ok ? ch : '_';
  }
  out[i] = '\0';
}

/* Create, bind and listen on a new Unix socket in RUNTIME_DIR.  The
 * name carries the device name, our pid and a counter; a name that is
 * taken (a stale socket from an earlier daemon) is skipped. */
static int
create_listener (const char *runtime_dir, const char *name,
                 int *fd_ret, char **path_ret)
{
  static unsigned counter;
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  CLEANUP_CLOSE int fd = -1;
  char safe[32];
  int attempt;

  sanitize_name (name, safe, sizeof safe);
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd == -1)
    return -errno;

  for (attempt = 0; attempt < 100; attempt++) {
    int n = snprintf (addr.sun_path, sizeof addr.sun_path, "%s/%s-%ld-%u.sock",
                      runtime_dir, safe, (long) getpid (), counter++);

    if (n < 0 || (size_t) n >= sizeof addr.sun_path)
      return -ENAMETOOLONG;
    if (bind (fd, (struct sockaddr *) &addr, sizeof addr) == 0)
      break;
    if (errno != EADDRINUSE)
      return -errno;
  }
  if (attempt == 100)
    return -EADDRINUSE;

  if (listen (fd, SOMAXCONN) == -1) {
    int r = -errno;

    unlink (addr.sun_path);
    return r;
  }
  *path_ret = strdup (addr.sun_path);
  if (*path_ret == NULL) {
    unlink (addr.sun_path);
    return -ENOMEM;
  }
  *fd_ret = TAKE_FD (fd);
  return 0;
}

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
 * /dev/null at fd 0, and close everything else above stderr.  The
 * three are first copied above fd 4 so that no dup2 can overwrite a
 * descriptor still to be moved. */
static void
child_setup_fds (const struct child_plan *plan)
{
  int listen_fd = fcntl (plan->listen_fd, F_DUPFD, CHILD_FIRST_FREE_FD);
  int backing_fd = fcntl (plan->backing_fd, F_DUPFD, CHILD_FIRST_FREE_FD);
  int devnull_fd = fcntl (plan->devnull_fd, F_DUPFD, CHILD_FIRST_FREE_FD);

  if (listen_fd == -1 || backing_fd == -1 || devnull_fd == -1)
    child_fail ("fcntl F_DUPFD");
  if (dup2 (devnull_fd, STDIN_FILENO) == -1 ||
      dup2 (listen_fd, CHILD_LISTEN_FD) == -1 ||
      dup2 (backing_fd, CHILD_BACKING_FD) == -1)
    child_fail ("dup2");
  if (close_range (CHILD_FIRST_FREE_FD, ~0U, 0) == -1)
    child_fail ("close_range");
}

/* Empty the capability bounding set, so that exec cannot grant
 * capabilities back (a uid-0 exec gets the whole bounding set).
 * Without CAP_SETPCAP this is only acceptable when nbdkit will not run
 * as root, because then exec grants nothing anyway. */
static void
child_drop_bounding_set (const struct child_plan *plan)
{
  for (unsigned long cap = 0; ; cap++) {
    int r = prctl (PR_CAPBSET_READ, cap, 0, 0, 0);

    if (r == -1)
      break;                    /* EINVAL: past the last capability */
    if (r == 1 && prctl (PR_CAPBSET_DROP, cap, 0, 0, 0) == -1) {
      if (errno == EPERM && !plan->runs_as_root)
        return;
      child_fail ("PR_CAPBSET_DROP");
    }
  }
}

/* The forked child: reset signals, arrange descriptors, take the
 * owner's credentials, drop every privilege, tie our life to the
 * daemon's and exec nbdkit.  Only system calls from here on; the
 * credential changes use raw syscalls because this single-threaded
 * copy must not run glibc's all-threads setxid machinery. */
static void __attribute__ ((noreturn))
child_exec (const struct child_plan *plan)
{
  struct sigaction dfl = { .sa_handler = SIG_DFL };
  sigset_t none;

  for (int sig = 1; sig < NSIG; sig++)
    sigaction (sig, &dfl, NULL);
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

  format_unsigned (plan->listen_pid, plan->listen_pid_size,
                   (unsigned long) getpid ());
  execve (plan->exe, plan->argv, plan->envp);
  child_fail ("execve");
}

/* Start nbdkit: prepare everything, fork, and take a pidfd for it. */
int
nbdkit_process_spawn (const char *program, const struct backend_config *config,
                      struct nbdkit_process *proc)
{
  CLEANUP_FREE char *exe = NULL;
  CLEANUP_FREE char *socket_path = NULL;
  CLEANUP_CLOSE int listen_fd = -1;
  CLEANUP_CLOSE int devnull_fd = -1;
  string_vector argv = { 0 }, envp = { 0 };
  struct child_plan plan = { 0 };
  pid_t pid;
  int pidfd, r;

  if (config->uid != (uid_t) -1 && config->gid == (gid_t) -1)
    return -EINVAL;

  r = find_program (program, &exe);
  if (r < 0)
    return r;
  r = build_argv (exe, config, &argv);
  if (r == 0)
    r = build_envp (&envp, &plan);
  if (r < 0)
    goto out;

  devnull_fd = open ("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull_fd == -1) {
    r = -errno;
    goto out;
  }
  r = create_listener (config->runtime_dir, config->name,
                       &listen_fd, &socket_path);
  if (r < 0)
    goto out;

  plan.exe = exe;
  plan.argv = argv.ptr;
  plan.envp = envp.ptr;
  plan.listen_fd = listen_fd;
  plan.backing_fd = config->fd;
  plan.devnull_fd = devnull_fd;
  plan.parent = getpid ();
  plan.change_ids = geteuid () == 0 && config->uid != (uid_t) -1;
  plan.uid = config->uid;
  plan.gid = config->gid;
  plan.runs_as_root = plan.change_ids ? config->uid == 0 : geteuid () == 0;

  pid = fork ();
  if (pid == -1) {
    r = -errno;
    unlink (socket_path);
    goto out;
  }
  if (pid == 0)
    child_exec (&plan);

  pidfd = pidfd_open (pid, 0);
  if (pidfd == -1) {
    /* Without a pidfd the child cannot be tracked: end it now.  It has
     * not started serving yet, so waiting for it is short. */
    r = -errno;
    kill (pid, SIGKILL);
    waitpid (pid, NULL, 0);
    unlink (socket_path);
    goto out;
  }

  proc->pid = pid;
  proc->pidfd = pidfd;
  proc->socket_path = TAKE_PTR (socket_path);
  r = 0;

 out:
  string_vector_free (&argv);
  string_vector_free (&envp);
  return r;
}

/* Signal nbdkit; ESRCH once it has exited. */
int
nbdkit_process_kill (const struct nbdkit_process *proc, int sig)
{
  if (pidfd_send_signal (proc->pidfd, sig, NULL, 0) == -1)
    return -errno;
  return 0;
}

/* Reap nbdkit if it is a zombie, describing its end in DESC. */
int
nbdkit_process_reap (const struct nbdkit_process *proc,
                     char *desc, size_t desc_size)
{
  siginfo_t info = { 0 };

  if (waitid (P_PIDFD, proc->pidfd, &info, WEXITED | WNOHANG) == -1)
    return -errno;
  if (info.si_pid == 0)
    return 0;
  if (info.si_code == CLD_EXITED)
    snprintf (desc, desc_size, "exited with status %d", info.si_status);
  else
    snprintf (desc, desc_size, "killed by signal %d (%s)", info.si_status,
              strsignal (info.si_status));
  return 1;
}

/* Release what the parent holds for the process. */
void
nbdkit_process_release (struct nbdkit_process *proc)
{
  if (proc->pidfd >= 0)
    close (proc->pidfd);
  proc->pidfd = -1;
  if (proc->socket_path) {
    unlink (proc->socket_path);
    free (proc->socket_path);
    proc->socket_path = NULL;
  }
}
