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
 * The process is started by the spawner (nbdkit-spawner.h says why)
 * and becomes nbdkit in nbdkit-child.c.
 *
 * The daemon closes its copy of the listening socket right after the
 * start: nbdkit's copy keeps it listening, and once nbdkit is gone a
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cleanup.h"
#include "nbdkit-process.h"
#include "nbdkit-spawner.h"
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

  /* A stacked device: the lower device's export is all there is to
   * reach, so no export name needs mapping. */
  if (config->lower_socket) {
    if (append_copy (argv, exe) < 0 ||
        append_copy (argv, "--foreground") < 0 ||
        append_copy (argv, "--exit-with-parent") < 0 ||
        append_format (argv, "--threads=%d", NBDKIT_THREADS) < 0 ||
        (config->read_only && append_copy (argv, "--readonly") < 0) ||
        append_copy (argv, "--filter=offset") < 0 ||
        append_copy (argv, "nbd") < 0 ||
        append_format (argv, "socket=%s", config->lower_socket) < 0 ||
        append_format (argv, "offset=%" PRIu64, offset) < 0 ||
        append_format (argv, "range=%" PRIu64, config->length) < 0 ||
        string_vector_append (argv, NULL) < 0)
      return -ENOMEM;
    return 0;
  }
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

/* Build the child's environment: child_environment plus an empty
 * LISTEN_PID= entry, whose digits the child writes once it knows its
 * pid (nbdkit-spawner.c makes room for them). */
static int
build_envp (string_vector *envp)
{
  for (size_t i = 0;
       i < sizeof child_environment / sizeof child_environment[0]; i++)
    if (append_copy (envp, child_environment[i]) < 0)
      return -ENOMEM;
  if (append_copy (envp, "LISTEN_PID=") < 0
      || string_vector_append (envp, NULL) < 0)
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

/* Start nbdkit: prepare everything and have the spawner start it. */
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
  int pidfd, report_fd, r;

  if (config->uid != (uid_t) -1 && config->gid == (gid_t) -1)
    return -EINVAL;

  r = find_program (program, &exe);
  if (r < 0)
    return r;
  r = build_argv (exe, config, &argv);
  if (r == 0)
    r = build_envp (&envp);
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
  plan.open_check = !config->direct_io || config->lower_socket ? -1
    : config->read_only ? O_RDONLY : O_RDWR;

  r = nbdkit_spawner_spawn (&plan, &pid, &pidfd, &report_fd);
  if (r < 0) {
    unlink (socket_path);
    goto out;
  }

  proc->pid = pid;
  proc->pidfd = pidfd;
  proc->report_fd = report_fd;
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
  if (proc->report_fd >= 0)
    close (proc->report_fd);
  proc->report_fd = -1;
  if (proc->socket_path) {
    unlink (proc->socket_path);
    free (proc->socket_path);
    proc->socket_path = NULL;
  }
}
