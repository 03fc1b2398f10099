/* loopfsctl exec: run a command where unmodified loop tools use private
 * loop devices (see loopfsctl(8), sections EXEC and SANDBOX).
 *
 * This process (the supervisor) makes a private mount namespace with
 * the sandbox's /dev (sandbox-dev.c) and the instance at /dev/loopfs,
 * either a fresh loopfsd it starts as its child or an existing instance
 * bound there; keeps /dev/loopN and /dev/loopNpM in step with the
 * instance's nodes (dev-watch.c); mounts the sysfs view (sysfs-view.c)
 * over /sys/block, /sys/dev/block, /sys/class/block and
 * /sys/devices/virtual/block; starts the sandbox's init in a new PID namespace
 * (sandbox-init.c), which runs COMMAND under a seccomp filter; answers
 * that filter's notifications (seccomp-notify.c: stat in stat-fake.c,
 * mount in mount-intercept.c); and when COMMAND is done, tears
 * everything down (the taken-over mounts first) and exits with
 * COMMAND's status.
 *
 * Everything dies with the supervisor: init and loopfsd have it as
 * their parent-death signal (and loopfsd's nbdkit processes die with
 * loopfsd), and the mount namespaces go with their last process.
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "cleanup.h"
#include "dev-watch.h"
#include "device-status.h"
#include "exit-status.h"
#include "loopfs-interface.h"
#include "loopfsctl.h"
#include "loopfsd-start.h"
#include "sandbox-dev.h"
#include "sandbox-init.h"
#include "mount-intercept.h"
#include "seccomp-notify.h"
#include "sysfs-view.h"

#define START_TIMEOUT_MS 10000
#define STOP_TIMEOUT_MS 10000

struct sandbox {
  const char *instance_dir;       /* --instance, or NULL: a fresh one */
  int instance_fd;                /* O_PATH of --instance */
  unsigned max;                   /* --max, or 0 */
  pid_t loopfsd;                  /* our loopfsd, or -1 */
  int loopfsd_status;
  bool instance_mounted;          /* /dev/loopfs is mounted */
  bool control_bound;             /* /dev/loop-control is bound */
  struct dev_watch *dev_watch;    /* keeps /dev/loopN in step */
  struct sysfs_view *sysfs;
  enum mount_mode mount_mode;     /* --mount */
  struct mount_intercept *mounts; /* until the server takes it */
  struct notify_server *notify;
  pid_t init;                     /* the sandbox's init, or -1 */
  int init_status;
};

static sigset_t waited, original_mask;

/* Print the usage of exec to FP. */
static void
usage (FILE *fp)
{
  fputs ("Usage: loopfsctl exec [--instance DIR] [--max N] "
         "[--mount=fuse|kernel|off]\n"
         "                      [--mount-driver TYPE=PROGRAM] -- COMMAND "
         "[ARG...]\n"
         "Run COMMAND where /dev/loop-control and /dev/loopN are those of a\n"
         "private loopfs instance (a fresh one, or DIR) and unmodified\n"
         "losetup works on them as on the host.  Exits with COMMAND's\n"
         "status; 125 if the sandbox could not be set up.\n"
         "\n"
         "  --instance DIR  use the instance mounted at DIR\n"
         "  --max N         a fresh instance has at most N devices\n"
         "  --mount=MODE    serve mount(2) of the devices with a FUSE "
         "driver (fuse,\n"
         "                  the default), their kernel NBD device (kernel)"
         " or not (off)\n"
         "  --mount-driver TYPE=PROGRAM\n"
         "                  the FUSE driver for filesystem TYPE\n"
         "  -h, --help      show this help\n", fp);
}

/* Put the instance at SANDBOX_INSTANCE: start a fresh loopfsd there,
 * or bind --instance DIR. */
static int
set_up_instance (struct sandbox *sb)
{
  CLEANUP_FREE char *loopfsd = NULL, *max_option = NULL;
  char *options[3] = { NULL };
  char source[64];
  pid_t pid;
  int r;

  if (sb->instance_dir) {
    snprintf (source, sizeof source, "/proc/self/fd/%d", sb->instance_fd);
    if (mount (source, SANDBOX_INSTANCE, NULL, MS_BIND, NULL) < 0) {
      ctl_error ("exec: binding %s to %s: %m", sb->instance_dir,
                 SANDBOX_INSTANCE);
      return -errno;
    }
    sb->instance_mounted = true;
    return 0;
  }

  loopfsd = loopfsd_find ("../../fused/loopfsd");
  if (loopfsd == NULL)
    return -ENOMEM;
  if (sb->max) {
    if (asprintf (&max_option, "max=%u", sb->max) < 0)
      return -ENOMEM;
    options[0] = (char *) "-o";
    options[1] = max_option;
  }
  pid = loopfsd_spawn (loopfsd, SANDBOX_INSTANCE, options, &original_mask);
  if (pid < 0) {
    ctl_error ("exec: starting %s: %s", loopfsd, strerror (-pid));
    return pid;
  }
  sb->loopfsd = pid;
  r = loopfsd_wait_mounted (pid, SANDBOX_INSTANCE, START_TIMEOUT_MS,
                            &sb->loopfsd_status);
  if (r == -ECHILD) {
    sb->loopfsd = -1;
    ctl_error ("exec: loopfsd exited before mounting (exit status %d)",
               exit_status_of (sb->loopfsd_status, EXIT_EXEC_FAILED));
    return r;
  }
  sb->instance_mounted = true;
  if (r < 0) {
    ctl_error ("exec: loopfsd did not mount %s within %d ms", SANDBOX_INSTANCE,
               START_TIMEOUT_MS);
    return r;
  }
  return 0;
}

/* Enter a private mount namespace and set up everything the sandbox
 * shows, up to (not including) its init. */
static int
set_up (struct sandbox *sb, int *notify_socket)
{
  const char *failed;
  int sv[2];
  int r;

  r = private_mount_namespace (&failed);
  if (r < 0) {
    errno = -r;
    if (strcmp (failed, "unshare") == 0)
      ctl_error ("exec: unshare (CLONE_NEWNS): %m (needs CAP_SYS_ADMIN)");
    else
      ctl_error ("exec: making mounts private: %m");
    return r;
  }
  /* Opened in the new namespace (a bind takes mounts of the caller's
   * namespace only) and before /dev changes, which may hide DIR. */
  if (sb->instance_dir) {
    sb->instance_fd = open (sb->instance_dir,
                            O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (sb->instance_fd < 0) {
      ctl_error ("exec: %s: %m", sb->instance_dir);
      return -errno;
    }
  }
  r = sandbox_dev_build ();
  if (r == 0)
    r = sandbox_blkid_cache_private ();
  if (r < 0)
    return r;
  r = set_up_instance (sb);
  if (r < 0)
    return r;
  r = sandbox_dev_bind_control ();
  if (r < 0)
    return r;
  sb->control_bound = true;
  r = dev_watch_start (SANDBOX_INSTANCE, "loopfs", "/dev", &sb->dev_watch);
  if (r < 0)
    return r;
  r = sysfs_view_mount (SANDBOX_INSTANCE, &sb->sysfs);
  if (r < 0)
    return r;
  if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
    ctl_error ("exec: socketpair: %m");
    return -errno;
  }
  r = notify_start (sv[0], SANDBOX_INSTANCE, TAKE_PTR (sb->mounts),
                    &sb->notify);
  if (r < 0) {
    close (sv[1]);
    return r;
  }
  *notify_socket = sv[1];
  return 0;
}

/* Start the sandbox's init running COMMAND in a new PID namespace. */
static int
start_init (struct sandbox *sb, char **command, int notify_socket)
{
  CLEANUP_CLOSE int own_pidns = open ("/proc/self/ns/pid",
                                      O_RDONLY | O_CLOEXEC);
  int lifeline[2];
  pid_t pid;

  if (own_pidns < 0 || pipe2 (lifeline, O_CLOEXEC) < 0) {
    ctl_error ("exec: %m");
    return -errno;
  }
  if (unshare (CLONE_NEWPID) < 0) {
    int r = -errno;

    ctl_error ("exec: unshare (CLONE_NEWPID): %m");
    close (lifeline[0]);
    close (lifeline[1]);
    return r;
  }
  pid = fork ();
  if (pid == 0) {
    struct sandbox_init si = {
      .lifeline = lifeline[0],
      .waited = &waited,
      .child_mask = &original_mask,
      .command = command,
      .notify_socket = notify_socket,
      .intercept_mounts = sb->mount_mode != MOUNT_MODE_OFF,
    };

    close (lifeline[1]);
    sandbox_init_run (&si);
  }
  close (lifeline[0]);
  /* The write end stays open (close-on-exec) until we exit. */
  if (pid < 0) {
    int r = -errno;

    ctl_error ("exec: fork: %m");
    close (lifeline[1]);
    return r;
  }
  sb->init = pid;
  /* Our own later children (none) and threads stay in our namespace:
   * threads cannot be made while children would go elsewhere. */
  if (setns (own_pidns, CLONE_NEWPID) < 0) {
    ctl_error ("exec: setns: %m");
    return -errno;
  }
  return 0;
}

/* Wait until init exits, passing signals sent to us on to it. */
static void
wait_for_init (struct sandbox *sb)
{
  siginfo_t info;

  for (;;) {
    if (sigwaitinfo (&waited, &info) < 0)
      continue;
    if (info.si_signo != SIGCHLD) {
      /* A terminal's signal reached COMMAND's process group already. */
      if (info.si_code != SI_KERNEL)
        kill (sb->init, info.si_signo);
      continue;
    }
    if (sb->loopfsd >= 0
        && waitpid (sb->loopfsd, &sb->loopfsd_status, WNOHANG) == sb->loopfsd) {
      ctl_error ("exec: loopfsd exited unexpectedly (exit status %d)",
                 exit_status_of (sb->loopfsd_status, EXIT_EXEC_FAILED));
      sb->loopfsd = -1;
    }
    if (waitpid (sb->init, &sb->init_status, WNOHANG) == sb->init) {
      sb->init = -1;
      return;
    }
  }
}

/* Undo everything: stop serving, unmount the instance (a fresh loopfsd
 * then detaches every device, ends its nbdkit processes and exits) and
 * wait for loopfsd.  Returns 0 or -EIO when loopfsd had to be killed. */
static int
tear_down (struct sandbox *sb)
{
  int r = 0;

  if (sb->init >= 0) {
    kill (sb->init, SIGKILL);
    waitpid (sb->init, &sb->init_status, 0);
    sb->init = -1;
  }
  /* Before the instance goes: the drivers flush into its devices. */
  notify_stop (sb->notify);
  sb->notify = NULL;
  sysfs_view_unmount (sb->sysfs);
  sb->sysfs = NULL;
  dev_watch_stop (sb->dev_watch);
  sb->dev_watch = NULL;
  if (sb->control_bound && umount2 ("/dev/loop-control", MNT_DETACH) < 0)
    ctl_error ("exec: unmounting /dev/loop-control: %m");
  if (sb->instance_mounted && umount2 (SANDBOX_INSTANCE, 0) < 0
      && umount2 (SANDBOX_INSTANCE, MNT_DETACH) < 0)
    ctl_error ("exec: unmounting %s: %m", SANDBOX_INSTANCE);
  if (sb->loopfsd >= 0) {
    if (loopfsd_stop (sb->loopfsd, STOP_TIMEOUT_MS, &sb->loopfsd_status) < 0) {
      ctl_error ("exec: loopfsd %d did not exit after the unmount; "
                 "killing it", (int) sb->loopfsd);
      r = -EIO;
    }
    sb->loopfsd = -1;
  }
  return r;
}

int
cmd_exec (int argc, char **argv)
{
  static const struct option long_options[] = {
    { "instance", required_argument, NULL, 'i' },
    { "max", required_argument, NULL, 'm' },
    { "mount", required_argument, NULL, 'M' },
    { "mount-driver", required_argument, NULL, 'D' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  struct sandbox sb = { .instance_fd = -1, .loopfsd = -1, .init = -1 };
  CLEANUP_FREE const char **driver_specs = NULL;
  size_t n_driver_specs = 0;
  int c, r, status, notify_socket = -1;
  unsigned long max;
  char *end;

  optind = 1;
  while ((c = getopt_long (argc, argv, "+h", long_options, NULL)) != -1) {
    switch (c) {
    case 'i':
      sb.instance_dir = optarg;
      break;
    case 'm':
      errno = 0;
      max = strtoul (optarg, &end, 10);
      if (errno || *end || end == optarg || max < 1
          || max > LOOPFS_MAX_DEVICES) {
        ctl_error ("exec: --max: '%s' is not a number from 1 to %d",
                   optarg, LOOPFS_MAX_DEVICES);
        return EXIT_USAGE;
      }
      sb.max = max;
      break;
    case 'M':
      if (strcmp (optarg, "fuse") == 0)
        sb.mount_mode = MOUNT_MODE_FUSE;
      else if (strcmp (optarg, "kernel") == 0)
        sb.mount_mode = MOUNT_MODE_KERNEL;
      else if (strcmp (optarg, "off") == 0)
        sb.mount_mode = MOUNT_MODE_OFF;
      else {
        ctl_error ("exec: --mount: '%s' is not fuse, kernel or off", optarg);
        return EXIT_USAGE;
      }
      break;
    case 'D': {
      const char **grown = realloc (driver_specs, (n_driver_specs + 1)
                                    * sizeof *driver_specs);

      if (grown == NULL) {
        ctl_error ("exec: %s", strerror (ENOMEM));
        return EXIT_EXEC_FAILED;
      }
      driver_specs = grown;
      driver_specs[n_driver_specs++] = optarg;
      break;
    }
    case 'h':
      usage (stdout);
      return 0;
    default:
      usage (stderr);
      return EXIT_USAGE;
    }
  }
  if (optind >= argc) {
    ctl_error ("exec: no command given");
    usage (stderr);
    return EXIT_USAGE;
  }
  if (sb.instance_dir && sb.max) {
    ctl_error ("exec: --max applies to a fresh instance, not to --instance");
    return EXIT_USAGE;
  }
  if (sb.instance_dir) {
    r = instance_check (sb.instance_dir);
    if (r < 0) {
      ctl_error ("exec: %s: %s", sb.instance_dir,
                 r == -ENODATA ? "not a loopfs instance" : strerror (-r));
      return EXIT_EXEC_FAILED;
    }
  }

  if (sb.mount_mode != MOUNT_MODE_OFF) {
    if (mount_intercept_new (sb.mount_mode, &sb.mounts) < 0) {
      ctl_error ("exec: %s", strerror (ENOMEM));
      return EXIT_EXEC_FAILED;
    }
    for (size_t i = 0; i < n_driver_specs; i++)
      if (mount_intercept_set_driver (sb.mounts, driver_specs[i]) < 0) {
        ctl_error ("exec: --mount-driver: '%s' is not TYPE=PROGRAM",
                   driver_specs[i]);
        mount_intercept_free (sb.mounts);
        return EXIT_USAGE;
      }
  }

  /* SIGCHLD tells us that init or loopfsd ended; the others are passed
   * on.  Blocked before any child exists, so that none is missed. */
  sigemptyset (&waited);
  sigaddset (&waited, SIGCHLD);
  sigaddset (&waited, SIGTERM);
  sigaddset (&waited, SIGINT);
  sigaddset (&waited, SIGHUP);
  sigaddset (&waited, SIGQUIT);
  sigprocmask (SIG_BLOCK, &waited, &original_mask);

  status = EXIT_EXEC_FAILED;
  if (set_up (&sb, &notify_socket) == 0
      && start_init (&sb, argv + optind, notify_socket) == 0) {
    close (TAKE_FD (notify_socket));
    wait_for_init (&sb);
    status = exit_status_of (sb.init_status, EXIT_EXEC_FAILED);
  }
  if (notify_socket >= 0)
    close (notify_socket);
  if (tear_down (&sb) < 0 && status == 0)
    status = 1;
  if (sb.instance_fd >= 0)
    close (sb.instance_fd);
  mount_intercept_free (sb.mounts);
  return status;
}
