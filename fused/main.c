/* loopfsd: mount a private loop-device instance.
 *
 * loopfsd [-f] [-o OPT,...] MOUNTPOINT
 *
 * Without -f the command returns only once the mount answers requests,
 * so a script can use it on its next line.  The daemon exits when the
 * mount goes away (umount, fusermount3 -u) and, on SIGTERM or SIGINT,
 * unmounts itself first; in every case it detaches every device and
 * ends every nbdkit it started before exiting.
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>
#include <cap-ng.h>

#include "cleanup.h"
#include "daemon.h"
#include "device.h"
#include "fs.h"
#include "fuse-loop.h"
#include "kernel-nbd.h"
#include "log.h"
#include "mount-helper.h"
#include "node-watch.h"
#include "offload.h"
#include "open-files.h"
#include "reaper.h"
#include "restack.h"
#include "service-notify.h"
#include "userns.h"

#ifndef PR_SET_IO_FLUSHER
#define PR_SET_IO_FLUSHER 57
#endif

static int ready_fd = -1;        /* pipe to the waiting parent, or -1 */
static uv_signal_t sig_term, sig_int;
static uv_work_t ready_work;
static int ready_err;

/* Print the usage text. */
static void
usage (FILE *f)
{
  fprintf (f,
"Usage: loopfsd [-f] [-o OPT,...] MOUNTPOINT\n"
"Mount a private loop-device instance (loop-control and loopN) at MOUNTPOINT.\n"
"\n"
"  -f, --foreground   stay in the foreground\n"
"  -o OPT,...         mount options:\n"
"       max=N             at most N devices in this instance (default %u)\n"
"       connections=N     NBD connections per bound device, 1-16 (default 2)\n"
"       fastpath=on|off   read and write a backing file on a local filesystem\n"
"                         without nbdkit (default on)\n"
"       allow_other       let every user reach the nodes (modes still apply)\n"
"       uid=N,gid=N       owner of the nodes (default: loopfsd's own ids)\n"
"       nbd=auto|on|off   also attach bound devices as kernel /dev/nbdX\n"
"                         (auto: when the kernel has nbd and we may; default)\n"
"       auto_unmount      unmount the instance if loopfsd dies (fusermount3)\n"
"       log=FILE          append messages to FILE\n"
"       rw,nosuid,nodev,noexec,suid,dev,exec,atime,noatime,relatime,\n"
"       default_permissions   generic mount flags, passed to the mount\n"
"  -h, --help         show this help\n"
"  -V, --version      show the version\n",
           OPTIONS_MAX_DEVICES_LIMIT);
}

/* Tell the waiting parent that the mount is ready (ERR == 0) or not. */
static void
signal_parent (int err)
{
  if (ready_fd < 0)
    return;
  if (write (ready_fd, &err, sizeof err) < 0)
    log_error ("telling the parent: %m");
  close (ready_fd);
  ready_fd = -1;
}

/* Fork: the parent waits until the child reports the mount ready, then
 * exits with its verdict; the child goes on as the daemon. */
static int
daemonize (void)
{
  int pipefd[2], err = -1;
  pid_t pid;

  if (pipe2 (pipefd, O_CLOEXEC) < 0)
    return -errno;
  pid = fork ();
  if (pid < 0)
    return -errno;
  if (pid > 0) {
    close (pipefd[1]);
    if (read (pipefd[0], &err, sizeof err) != sizeof err)
      err = -EIO;
    _exit (err == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
  }
  close (pipefd[0]);
  ready_fd = pipefd[1];
  setsid ();
  return 0;
}

/* Detach the standard descriptors from the parent's terminal or pipes,
 * so a caller reading our output is not kept waiting; messages go to
 * LOG_FILE when given. */
static int
detach_stdio (const char *log_file)
{
  CLEANUP_CLOSE int null = open ("/dev/null", O_RDWR | O_CLOEXEC);
  CLEANUP_CLOSE int log = -1;

  if (null < 0)
    return -errno;
  if (log_file) {
    log = open (log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (log < 0)
      return -errno;
  }
  if (dup2 (null, STDIN_FILENO) < 0 || dup2 (null, STDOUT_FILENO) < 0
      || dup2 (log >= 0 ? log : null, STDERR_FILENO) < 0)
    return -errno;
  return 0;
}

/* Remove the runtime directories under BASE left by daemons that were
 * killed (their names carry the daemon's pid): the sockets in them are
 * dead, and nothing else would ever remove them. */
static void
sweep_runtime_dirs (const char *base)
{
  DIR *dir = opendir (base);
  struct dirent *e;

  if (dir == NULL)
    return;
  while ((e = readdir (dir)) != NULL) {
    int pid;
    char path[PATH_MAX];
    DIR *sub;
    struct dirent *f;

    if (sscanf (e->d_name, "loopfsd-%d-", &pid) != 1 || pid <= 0
        || kill (pid, 0) == 0 || errno != ESRCH)
      continue;
    snprintf (path, sizeof path, "%s/%s", base, e->d_name);
    sub = opendir (path);
    if (sub) {
      while ((f = readdir (sub)) != NULL)
        if (f->d_name[0] != '.')
          unlinkat (dirfd (sub), f->d_name, 0);
      closedir (sub);
    }
    rmdir (path);
  }
  closedir (dir);
}

/* Make a private directory for backend sockets under BASE. */
static int
make_runtime_dir_in (struct daemon *d, const char *base)
{
  char *tmpl;

  sweep_runtime_dirs (base);
  if (asprintf (&tmpl, "%s/loopfsd-%d-XXXXXX", base, (int) getpid ()) < 0)
    return -ENOMEM;
  if (mkdtemp (tmpl) == NULL) {
    int r = -errno;
    free (tmpl);
    return r;
  }
  d->runtime_dir = tmpl;
  return 0;
}

/* Make the private directory for backend sockets: under /run/loopfsd
 * when the daemon may create it (root on the host), else in the user's
 * runtime directory, else in /tmp (a rootless daemon, also root inside
 * "unshare -Ur", cannot write /run). */
static int
make_runtime_dir (struct daemon *d)
{
  const char *xdg = getenv ("XDG_RUNTIME_DIR");
  int r = -EACCES;

  if (geteuid () == 0 && (mkdir ("/run/loopfsd", 0700) == 0 || errno == EEXIST))
    r = make_runtime_dir_in (d, "/run/loopfsd");
  if (r < 0 && xdg && *xdg)
    r = make_runtime_dir_in (d, xdg);
  if (r < 0)
    r = make_runtime_dir_in (d, "/tmp");
  return r;
}

/* Keep only the capabilities the daemon uses after mounting:
 * CAP_SYS_ADMIN to unmount itself (and, later, kernel NBD netlink),
 * CAP_SYS_PTRACE for pidfd_getfd and process_vm_readv/writev on callers,
 * CAP_SETUID and CAP_SETGID to run nbdkit as the backing file's owner,
 * CAP_KILL to end such an nbdkit, CAP_SETPCAP so nbdkit's bounding set
 * can be emptied.  Without root there is nothing to drop. */
static int
drop_capabilities (void)
{
  if (geteuid () != 0)
    return 0;
  capng_clear (CAPNG_SELECT_BOTH);
  if (capng_updatev (CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED,
                     CAP_SYS_ADMIN, CAP_SYS_PTRACE, CAP_SETUID, CAP_SETGID,
                     CAP_KILL, CAP_SETPCAP, -1) < 0
      || capng_updatev (CAPNG_ADD, CAPNG_BOUNDING_SET,
                        CAP_SYS_ADMIN, CAP_SYS_PTRACE, CAP_SETUID, CAP_SETGID,
                        CAP_KILL, CAP_SETPCAP, -1) < 0
      || capng_apply (CAPNG_SELECT_BOTH) < 0)
    return -EPERM;
  return 0;
}

/* Stat the mountpoint from the thread pool: the first request through
 * the new mount, served by the loop like any other. */
static void
ready_probe (uv_work_t *work)
{
  struct daemon *d = work->data;
  struct stat st;

  if (stat (d->mountpoint, &st) < 0)
    ready_err = -errno;
  else {
    d->mount_dev = st.st_dev;
    ready_err = 0;
  }
}

/* The mount answered: the parent may return. */
static void
ready_done (uv_work_t *work, int status)
{
  struct daemon *d = work->data;
  int r;

  if (status < 0 && ready_err == 0)
    ready_err = -EIO;
  if (ready_err < 0) {
    log_error ("%s does not answer: %s", d->mountpoint, strerror (-ready_err));
    signal_parent (ready_err);
    fuse_session_exit (d->se);
    return;
  }
  signal_parent (0);
  r = service_notify_ready ();
  if (r < 0)
    log_error ("telling the service manager: %s", strerror (-r));
}

/* fusermount3 -u -z finished. */
static void
fusermount_exited (uv_process_t *proc, int64_t status, int signum)
{
  (void) signum;
  if (status != 0)
    log_error ("fusermount3 -u -z failed with status %d", (int) status);
  uv_close ((uv_handle_t *) proc, (uv_close_cb) free);
}

/* SIGTERM / SIGINT: unmount.  The detach is lazy, so files still open
 * keep working, and the session ends once the last one closes. */
static void
on_signal (uv_signal_t *sig, int signum)
{
  struct daemon *d = sig->data;
  uv_process_options_t po = { 0 };
  uv_process_t *proc;
  char *args[] = { (char *) "fusermount3", (char *) "-u", (char *) "-z",
                   d->mountpoint, NULL };

  (void) signum;
  uv_signal_stop (&sig_term);
  uv_signal_stop (&sig_int);
  if (geteuid () == 0) {
    if (umount2 (d->mountpoint, MNT_DETACH) < 0)
      log_error ("unmounting %s: %m", d->mountpoint);
    return;
  }
  proc = calloc (1, sizeof *proc);
  if (proc == NULL)
    return;
  po.file = args[0];
  po.args = args;
  po.exit_cb = fusermount_exited;
  if (uv_spawn (d->loop, proc, &po) < 0) {
    log_error ("running fusermount3 -u -z %s failed", d->mountpoint);
    free (proc);
  }
}

/* True in the initial user namespace, whose uid map is the identity.
 * Root of any other namespace (a rootless "unshare -Urm" instance) may
 * not setgroups(2), and most owners of files are not mapped there, so
 * nbdkit then keeps the daemon's (unprivileged) credentials. */
static bool
in_initial_user_ns (void)
{
  return uid_map_is_identity ();
}

/* Say that stale device DEV was disconnected (R == 0). */
static void
stale_nbd_disconnected (const struct kernel_nbd_device *dev, int r,
                        void *opaque)
{
  (void) opaque;
  if (r == 0)
    log_error ("disconnected stale /dev/nbd%u of a dead loopfsd (%s)",
               dev->index, dev->identifier);
}

/* Disconnect the kernel NBD devices whose loopfsd died (killed before it
 * could disconnect them): their backend identifiers name the owner, and
 * an owner that no longer runs will never come back for them.  A sweep
 * that cannot list the devices finds nothing to do. */
static void
sweep_stale_nbd_devices (void)
{
  kernel_nbd_disconnect_by_prefix (KERNEL_NBD_IDENTIFIER_PREFIX, true,
                                   stale_nbd_disconnected, NULL);
}

/* Decide whether bound devices also become kernel /dev/nbdX: nbd=auto
 * uses it when the kernel has nbd and the daemon may use its netlink
 * interface (CAP_SYS_ADMIN in the initial user namespace), nbd=on
 * insists.  Also names this instance for the devices' identifiers. */
static int
setup_kernel_nbd (struct daemon *d)
{
  unsigned char rnd[4] = { 0 };
  int r;

  if (getrandom (rnd, sizeof rnd, 0) < 0)
    memcpy (rnd, &(pid_t) { getpid () }, sizeof rnd);
  snprintf (d->instance_id, sizeof d->instance_id, "%02x%02x%02x%02x",
            rnd[0], rnd[1], rnd[2], rnd[3]);
  if (d->opts.nbd == NBD_MODE_OFF)
    return 0;
  r = kernel_nbd_available ();
  if (r < 0) {
    if (d->opts.nbd == NBD_MODE_ON) {
      log_error ("nbd=on, but kernel NBD cannot be used: %s",
                 r == -ENOENT ? "the kernel has no nbd driver"
                 : r == -EPERM ? "it needs CAP_SYS_ADMIN on the host"
                 : strerror (-r));
      return r;
    }
    return 0;
  }
  d->nbd = true;
  sweep_stale_nbd_devices ();
  return 0;
}

/* Refuse a per-instance limit above the per-user limit of the host: such
 * an instance could never hold that many devices (the kernel patch
 * refuses a max= above what the host allows the same way). */
static int
check_max (const struct options *opts)
{
  unsigned limit;

  if (user_limit_read (&limit) < 0)
    return -EINVAL;
  if (opts->max_given && opts->max_devices > limit) {
    log_error ("max=%u is above this host's limit of %u loop devices per "
               "user (%s)", opts->max_devices, limit, USER_LIMIT_FILE);
    return -EINVAL;
  }
  return 0;
}

/* Close every handle still open on the loop at exit. */
static void
close_walk (uv_handle_t *h, void *arg)
{
  (void) arg;
  if (!uv_is_closing (h))
    uv_close (h, NULL);
}

/* Mount, serve until the mount is gone, clean up. */
static int
run (struct daemon *d, bool foreground)
{
  char *fuse_argv[4];
  struct fuse_args args;
  int r;

  fuse_argv[0] = (char *) "loopfsd";
  fuse_argv[1] = (char *) "-o";
  if (asprintf (&fuse_argv[2], "fsname=loopfs,subtype=loopfs,"
                "default_permissions%s%s",
                d->opts.fuse_opts ? "," : "",
                d->opts.fuse_opts ? d->opts.fuse_opts : "") < 0)
    return -ENOMEM;
  fuse_argv[3] = NULL;
  args = (struct fuse_args) FUSE_ARGS_INIT (3, fuse_argv);

  d->se = fuse_session_new (&args, &loopfs_ops, sizeof loopfs_ops, d);
  free (fuse_argv[2]);
  fuse_opt_free_args (&args);
  if (d->se == NULL) {
    log_error ("cannot create the FUSE session");
    return -EINVAL;
  }
  if (fuse_session_mount (d->se, d->mountpoint) != 0) {
    log_error ("cannot mount %s", d->mountpoint);
    fuse_session_destroy (d->se);
    return -EIO;
  }
  /* Memory reclaim must not wait on I/O that this daemon itself serves
   * (nbdfuse's "may sometimes deadlock"); children inherit the flag.  It
   * needs CAP_SYS_RESOURCE, which containers often withhold. */
  if (prctl (PR_SET_IO_FLUSHER, 1, 0, 0, 0) < 0 && errno != EPERM)
    log_error ("PR_SET_IO_FLUSHER: %m (continuing)");
  r = drop_capabilities ();
  if (r < 0)
    log_error ("dropping capabilities failed (continuing)");
  if (!foreground) {
    r = detach_stdio (d->opts.log_file);
    if (r < 0)
      goto out;
  }

  r = reaper_start (d->nbd ? d->instance_id : NULL);
  if (r < 0) {
    log_error ("cannot start the reaper: %s", strerror (-r));
    goto out;
  }
  r = backend_prepare ();
  if (r < 0) {
    log_error ("cannot start the nbdkit spawner: %s", strerror (-r));
    goto out;
  }

  d->loop = uv_default_loop ();
  d->watch = node_watch_new ();
  d->lower_changed = restack_lower_changed;
  r = d->watch ? offload_init (d->loop) : -ENOMEM;
  if (r == 0)
    r = fuse_loop_start (d);
  if (r < 0)
    goto out;
  uv_signal_init (d->loop, &sig_term);
  uv_signal_init (d->loop, &sig_int);
  sig_term.data = sig_int.data = d;
  uv_signal_start (&sig_term, on_signal, SIGTERM);
  uv_signal_start (&sig_int, on_signal, SIGINT);
  ready_work.data = d;
  uv_queue_work (d->loop, &ready_work, ready_probe, ready_done);

  uv_run (d->loop, UV_RUN_DEFAULT);

  /* A job still blocked now (a backing file's close on a hung
   * filesystem) finishes, if ever, after the state it reports to is
   * gone: its report is dropped. */
  offload_close ();
  node_watch_close (d->watch);
  d->watch = NULL;
  /* Daemon state goes while the loop can still run the closes it queues. */
  open_files_free (d);
  instance_free (&d->inst);
  uv_walk (d->loop, close_walk, NULL);
  uv_run (d->loop, UV_RUN_DEFAULT);
  r = ready_err;
  backend_unprepare ();
 out:
  signal_parent (r < 0 ? r : 0);
  fuse_session_unmount (d->se);
  fuse_session_destroy (d->se);
  return r;
}

int
main (int argc, char *argv[])
{
  static const struct option long_options[] = {
    { "foreground", no_argument, NULL, 'f' },
    { "help", no_argument, NULL, 'h' },
    { "version", no_argument, NULL, 'V' },
    { NULL, 0, NULL, 0 },
  };
  struct daemon daemon = { 0 };
  struct daemon *d = &daemon;
  bool foreground = false;
  char resolved[PATH_MAX];
  struct stat st;
  int c, r;

  /* Every read and write moves up to 1 MiB through a buffer of its own.
   * Keep such buffers on the heap and the heap untrimmed, so they are
   * reused rather than mapped, faulted in and unmapped per request. */
  mallopt (M_MMAP_THRESHOLD, 4 << 20);
  mallopt (M_TRIM_THRESHOLD, 64 << 20);

  if (mount_helper_invoked (argv[0])) {
    r = mount_helper_args (&argc, &argv);
    if (r != 0)
      exit (r < 0 ? EXIT_FAILURE : EXIT_SUCCESS);
  }
  options_init (&d->opts);
  while ((c = getopt_long (argc, argv, "fo:hV", long_options, NULL)) != -1) {
    switch (c) {
    case 'f':
      foreground = true;
      break;
    case 'o':
      if (options_parse (&d->opts, optarg) < 0)
        exit (EXIT_FAILURE);
      break;
    case 'h':
      usage (stdout);
      exit (EXIT_SUCCESS);
    case 'V':
      printf ("loopfsd %s\n", LOOPFS_VERSION);
      exit (EXIT_SUCCESS);
    default:
      usage (stderr);
      exit (EXIT_FAILURE);
    }
  }
  if (optind != argc - 1) {
    log_error (optind == argc ? "missing MOUNTPOINT" : "too many arguments");
    usage (stderr);
    exit (EXIT_FAILURE);
  }
  if (realpath (argv[optind], resolved) == NULL
      || stat (resolved, &st) < 0) {
    log_error ("%s: %m", argv[optind]);
    exit (EXIT_FAILURE);
  }
  if (!S_ISDIR (st.st_mode)) {
    log_error ("%s: not a directory", argv[optind]);
    exit (EXIT_FAILURE);
  }
  d->mountpoint = resolved;
  d->owner_uid = d->opts.uid_given ? d->opts.uid : getuid ();
  d->owner_gid = d->opts.gid_given ? d->opts.gid : getgid ();
  d->switch_ids = geteuid () == 0 && in_initial_user_ns ();
  if (check_max (&d->opts) < 0 || user_limit_open (&d->user_limit) < 0
      || setup_kernel_nbd (d) < 0)
    exit (EXIT_FAILURE);
  instance_init (&d->inst, d->opts.max_devices);
  instance_set_hooks (&d->inst, &device_hooks, d);
  signal (SIGPIPE, SIG_IGN);

  if (!foreground && daemonize () < 0) {
    log_error ("fork: %m");
    exit (EXIT_FAILURE);
  }
  r = make_runtime_dir (d);
  if (r < 0) {
    log_error ("cannot create a runtime directory: %s", strerror (-r));
    signal_parent (r);
    exit (EXIT_FAILURE);
  }
  if (d->opts.log_file && foreground) {
    int fd = open (d->opts.log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                   0600);
    if (fd < 0 || dup2 (fd, STDERR_FILENO) < 0) {
      log_error ("%s: %m", d->opts.log_file);
      exit (EXIT_FAILURE);
    }
    close (fd);
  }

  r = run (d, foreground);
  /* Every device is detached and every nbdkit stopped by now: the
   * reaper must not disconnect anything. */
  reaper_clean_exit ();

  user_limit_close (&d->user_limit);
  rmdir (d->runtime_dir);
  free (d->runtime_dir);
  options_free (&d->opts);
  return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
