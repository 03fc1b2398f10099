/* loopfs-private: a loop device that nobody else can see and that goes
 * away with the program, even when the program is killed with SIGKILL.
 *
 * loopfs-private IMAGE [-- COMMAND [ARG...]]
 *
 * This is the "hidden loop device" use case of the kernel loopfs patches
 * (Christian Brauner, 2020): a program that builds or inspects an image
 * wants a loop device of its own, invisible to the rest of the system,
 * that cannot leak when the program crashes.  With loopfs it needs no
 * help from anyone:
 *
 *  1. unshare (CLONE_NEWNS) and make every mount private, so nothing we
 *     mount from now on propagates back to the namespace we came from;
 *  2. mount a small tmpfs on a fresh temporary directory: outside our
 *     namespace the directory stays empty, inside it holds the
 *     mountpoint of the instance, a dentry no other process can reach;
 *  3. start "loopfsd -f" on it as our own child, with
 *     PR_SET_PDEATHSIG (SIGKILL) set between fork and exec.  -f keeps the
 *     daemon in the foreground, so it stays our direct child (a
 *     daemonizing fork would cut the parent-death link);
 *  4. wait until loop-control appears, then do what any loop user does:
 *     LOOP_CTL_GET_FREE, open loopN, LOOP_CONFIGURE with IMAGE, and a
 *     write and read through the device to show that it works;
 *  5. print the device path and the daemon's pid, then run COMMAND with
 *     the device's path in $LOOPFS_DEVICE (or wait for SIGTERM, SIGINT
 *     or SIGHUP);
 *  6. tear down: clear the device, unmount the instance, wait for the
 *     daemon, unmount the tmpfs, remove the directory.
 *
 * Why nothing is left when we are killed: the kernel sends SIGKILL to
 * loopfsd when we die (parent-death signal), and loopfsd's nbdkit
 * processes have the same link to loopfsd, so every process of the
 * instance dies within moments.  COMMAND gets the same parent-death
 * signal.  Once the last process in our mount namespace is gone, the
 * namespace and every mount in it (the tmpfs and the dead FUSE mount)
 * are freed by the kernel.  The only trace is the empty temporary
 * directory in $TMPDIR (default /tmp), which nothing is mounted on
 * anywhere.  Processes that COMMAND leaves running in the background
 * keep the namespace (and the dead mount, invisible to everyone else)
 * until they end.
 *
 * loopfsd is $LOOPFSD, else ../fused/loopfsd next to this program (the
 * build tree), else "loopfsd" from $PATH.
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "cleanup.h"
#include "exit-status.h"
#include "loopfsd-start.h"

/* How long loopfsd may take to mount, and to exit after the unmount. */
#define START_TIMEOUT_MS 10000
#define STOP_TIMEOUT_MS 10000

/* The size of the block written and read back to check the device. */
#define CHECK_BLOCK 4096

/* Everything the program set up, so that one function can undo it on
 * every path; a field is -1 (or NULL, false) until its step is done. */
struct private_instance {
  char *tmpdir;             /* the temporary directory, once made */
  bool tmpfs_mounted;       /* the tmpfs is mounted on tmpdir */
  char *mountpoint;         /* tmpdir/instance */
  pid_t daemon;             /* loopfsd, or -1 */
  int daemon_status;        /* its wait status once reaped */
  int control;              /* loop-control, or -1 */
  int device;               /* loopN, or -1 */
  bool bound;               /* LOOP_CONFIGURE succeeded on device */
  char *device_path;        /* mountpoint/loopN */
};

/* The signals we wait for with sigwaitinfo; blocked from the start so
 * none is lost, and unblocked again in every child before exec. */
static sigset_t waited_signals, original_mask;

/* Print an error message with the program name in front.  errno is
 * kept, so "%m" works and callers can return -errno afterwards. */
static void
log_error (const char *fmt, ...)
  __attribute__ ((format (printf, 1, 2)));

static void
log_error (const char *fmt, ...)
{
  int saved = errno;
  va_list ap;

  fprintf (stderr, "loopfs-private: ");
  errno = saved;
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fprintf (stderr, "\n");
  errno = saved;
}

/* Print the usage text to F. */
static void
usage (FILE *f)
{
  fprintf (f,
"Usage: loopfs-private IMAGE [-- COMMAND [ARG...]]\n"
"Bind IMAGE to a loop device of a private loopfs instance that is visible\n"
"only in this program's mount namespace and disappears when the program\n"
"ends, even by SIGKILL.  Prints LOOPFS_DEVICE=PATH and LOOPFSD_PID=PID,\n"
"then runs COMMAND with $LOOPFS_DEVICE set (its exit status is ours), or\n"
"without COMMAND waits for SIGTERM, SIGINT or SIGHUP.\n"
"\n"
"  -h, --help   show this help\n"
"\n"
"loopfsd is $LOOPFSD, else ../fused/loopfsd next to this program, else\n"
"loopfsd from $PATH.\n");
}

/* Describe wait status STATUS for a message ("exit status 1",
 * "signal 9"). */
static const char *
describe_status (int status)
{
  static char text[32];

  if (WIFSIGNALED (status))
    snprintf (text, sizeof text, "signal %d", WTERMSIG (status));
  else
    snprintf (text, sizeof text, "exit status %d", WEXITSTATUS (status));
  return text;
}

/* In a child between fork and exec: die with the parent PARENT, and
 * restore the signal mask the program started with. */
static void
child_link_to_parent (pid_t parent)
{
  loopfsd_child_link_to_parent (parent);
  if (sigprocmask (SIG_SETMASK, &original_mask, NULL) < 0)
    _exit (127);
}

/* Enter a mount namespace of our own in which no mount event propagates
 * to or from the namespace we came from. */
static int
enter_private_namespace (void)
{
  const char *failed;
  int r = private_mount_namespace (&failed);

  errno = -r;
  if (r < 0 && strcmp (failed, "unshare") == 0)
    log_error ("unshare(CLONE_NEWNS): %m (needs CAP_SYS_ADMIN, e.g. root "
               "or unshare -Ur)");
  else if (r < 0)
    log_error ("making mounts private: %m");
  return r;
}

/* Make the temporary directory and mount a small tmpfs on it (in our
 * namespace only), holding the directory loopfsd will mount on. */
static int
make_mountpoint (struct private_instance *pi)
{
  const char *base = getenv ("TMPDIR");
  CLEANUP_FREE char *tmpl = NULL;

  if (base == NULL || *base == '\0')
    base = "/tmp";
  if (asprintf (&tmpl, "%s/loopfs-private.XXXXXX", base) < 0)
    return -ENOMEM;
  if (mkdtemp (tmpl) == NULL) {
    log_error ("mkdtemp %s: %m", tmpl);
    return -errno;
  }
  pi->tmpdir = TAKE_PTR (tmpl);
  if (mount ("loopfs-private", pi->tmpdir, "tmpfs",
             MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0700,size=64k") < 0) {
    log_error ("mounting a tmpfs on %s: %m", pi->tmpdir);
    return -errno;
  }
  pi->tmpfs_mounted = true;
  if (asprintf (&pi->mountpoint, "%s/instance", pi->tmpdir) < 0) {
    pi->mountpoint = NULL;
    return -ENOMEM;
  }
  if (mkdir (pi->mountpoint, 0700) < 0) {
    log_error ("mkdir %s: %m", pi->mountpoint);
    return -errno;
  }
  return 0;
}

/* Start "loopfsd -f MOUNTPOINT" as our child, killed by the kernel if we
 * die, and wait until loop-control exists in the instance; then open
 * it.  Fails if the daemon exits or takes too long. */
static int
start_daemon (struct private_instance *pi)
{
  CLEANUP_FREE char *loopfsd = loopfsd_find ("../fused/loopfsd");
  CLEANUP_FREE char *control = NULL;
  pid_t pid;
  int r;

  if (loopfsd == NULL)
    return -ENOMEM;
  pid = loopfsd_spawn (loopfsd, pi->mountpoint, NULL, &original_mask);
  if (pid < 0) {
    errno = -pid;
    log_error ("fork: %m");
    return pid;
  }
  pi->daemon = pid;
  r = loopfsd_wait_mounted (pid, pi->mountpoint, START_TIMEOUT_MS,
                            &pi->daemon_status);
  if (r == -ECHILD) {
    pi->daemon = -1;
    log_error ("loopfsd exited before mounting (%s)",
               describe_status (pi->daemon_status));
    return r;
  }
  if (r < 0) {
    log_error ("loopfsd did not mount %s within %d ms", pi->mountpoint,
               START_TIMEOUT_MS);
    return r;
  }
  if (asprintf (&control, "%s/loop-control", pi->mountpoint) < 0)
    return -ENOMEM;
  pi->control = open (control, O_RDWR | O_CLOEXEC);
  if (pi->control < 0) {
    log_error ("open %s: %m", control);
    return -errno;
  }
  return 0;
}

/* Reap the daemon if it has exited; true if it has. */
static bool
daemon_exited (struct private_instance *pi)
{
  if (pi->daemon < 0)
    return true;
  if (waitpid (pi->daemon, &pi->daemon_status, WNOHANG) == pi->daemon) {
    pi->daemon = -1;
    return true;
  }
  return false;
}

/* Take a free device from loop-control and bind IMAGE_FD to it with
 * LOOP_CONFIGURE, read-only if READ_ONLY. */
static int
bind_device (struct private_instance *pi, int image_fd, const char *image,
             bool read_only)
{
  struct loop_config config = { .fd = image_fd };
  int n;

  n = ioctl (pi->control, LOOP_CTL_GET_FREE);
  if (n < 0) {
    log_error ("LOOP_CTL_GET_FREE: %m");
    return -errno;
  }
  if (asprintf (&pi->device_path, "%s/loop%d", pi->mountpoint, n) < 0) {
    pi->device_path = NULL;
    return -ENOMEM;
  }
  pi->device = open (pi->device_path, O_RDWR | O_CLOEXEC);
  if (pi->device < 0) {
    log_error ("open %s: %m", pi->device_path);
    return -errno;
  }
  if (read_only)
    config.info.lo_flags |= LO_FLAGS_READ_ONLY;
  strncpy ((char *) config.info.lo_file_name, image, LO_NAME_SIZE - 1);
  if (ioctl (pi->device, LOOP_CONFIGURE, &config) < 0) {
    log_error ("LOOP_CONFIGURE %s on %s: %m", image, pi->device_path);
    return -errno;
  }
  pi->bound = true;
  return 0;
}

/* Show that the device works: read its first block, write the same
 * bytes back (the image is unchanged) unless it is read-only, and read
 * the block again. */
static int
check_device (struct private_instance *pi, bool read_only)
{
  char first[CHECK_BLOCK], again[CHECK_BLOCK];
  uint64_t size;
  size_t len;

  if (ioctl (pi->device, BLKGETSIZE64, &size) < 0) {
    log_error ("BLKGETSIZE64 on %s: %m", pi->device_path);
    return -errno;
  }
  len = size < CHECK_BLOCK ? size : CHECK_BLOCK;
  if (pread (pi->device, first, len, 0) != (ssize_t) len) {
    log_error ("reading %s: %m", pi->device_path);
    return -EIO;
  }
  if (!read_only && pwrite (pi->device, first, len, 0) != (ssize_t) len) {
    log_error ("writing %s: %m", pi->device_path);
    return -EIO;
  }
  if (pread (pi->device, again, len, 0) != (ssize_t) len
      || memcmp (first, again, len) != 0) {
    log_error ("%s does not read back what it holds", pi->device_path);
    return -EIO;
  }
  return 0;
}

/* Run COMMAND with $LOOPFS_DEVICE set, as a child that dies with us.
 * Returns its pid or a negative errno. */
static pid_t
start_command (struct private_instance *pi, char **command)
{
  pid_t parent = getpid ();
  pid_t pid = fork ();

  if (pid < 0) {
    log_error ("fork: %m");
    return -errno;
  }
  if (pid == 0) {
    child_link_to_parent (parent);
    if (setenv ("LOOPFS_DEVICE", pi->device_path, 1) < 0)
      _exit (127);
    execvp (command[0], command);
    fprintf (stderr, "loopfs-private: %s: %m\n", command[0]);
    _exit (127);
  }
  return pid;
}

/* Wait until COMMAND (pid CMD, or -1 for none) exits, or without one
 * until SIGTERM, SIGINT or SIGHUP arrives; such a signal is passed on
 * to COMMAND.  If loopfsd dies meanwhile, the device is gone: without a
 * command we stop at once, with one we let it finish (its I/O fails).
 * Returns the exit status for the program. */
static int
wait_for_end (struct private_instance *pi, pid_t cmd)
{
  siginfo_t info;
  int status, result = EXIT_SUCCESS;
  bool daemon_lost = false;

  for (;;) {
    if (sigwaitinfo (&waited_signals, &info) < 0) {
      if (errno == EINTR)
        continue;
      log_error ("sigwaitinfo: %m");
      return EXIT_FAILURE;
    }
    if (info.si_signo != SIGCHLD) {
      if (cmd < 0)
        return result;
      kill (cmd, info.si_signo);
      continue;
    }
    if (!daemon_lost && daemon_exited (pi)) {
      log_error ("loopfsd exited unexpectedly (%s)",
                 describe_status (pi->daemon_status));
      daemon_lost = true;
      result = EXIT_FAILURE;
      if (cmd < 0)
        return result;
    }
    if (cmd >= 0 && waitpid (cmd, &status, WNOHANG) == cmd)
      return daemon_lost ? result : exit_status_of (status, EXIT_FAILURE);
  }
}

/* Undo everything PI records, in reverse order.  Returns 0, or -EIO if
 * the daemon had to be killed or did not exit cleanly. */
static int
teardown (struct private_instance *pi)
{
  int r = 0;

  /* Detach our device (LOOP_CLR_FD, as losetup -d does) and close the
   * nodes, so that nothing holds the instance open.  A dead daemon has
   * nothing left to detach. */
  if (pi->bound && pi->daemon >= 0 && ioctl (pi->device, LOOP_CLR_FD, 0) < 0)
    log_error ("LOOP_CLR_FD on %s: %m", pi->device_path);
  if (pi->device >= 0)
    close (TAKE_FD (pi->device));
  if (pi->control >= 0)
    close (TAKE_FD (pi->control));

  /* Unmounting ends the FUSE session: loopfsd stops every nbdkit and
   * exits.  If something COMMAND left behind still has a node open, the
   * unmount is EBUSY; detach lazily, and give the holder STOP_TIMEOUT_MS
   * to close it before the daemon is killed. */
  if (pi->daemon >= 0) {
    if (umount2 (pi->mountpoint, 0) < 0 && errno != EINVAL) {
      if (errno == EBUSY)
        umount2 (pi->mountpoint, MNT_DETACH);
      else
        log_error ("unmounting %s: %m", pi->mountpoint);
    }
    if (loopfsd_stop (pi->daemon, STOP_TIMEOUT_MS,
                      &pi->daemon_status) < 0) {
      log_error ("loopfsd %d did not exit after the unmount; killing it",
                 (int) pi->daemon);
      r = -EIO;
    }
    else if (exit_status_of (pi->daemon_status, EXIT_FAILURE) != 0) {
      log_error ("loopfsd exited with %s",
                 describe_status (pi->daemon_status));
      r = -EIO;
    }
    pi->daemon = -1;
  }

  if (pi->tmpfs_mounted && umount2 (pi->tmpdir, MNT_DETACH) < 0)
    log_error ("unmounting %s: %m", pi->tmpdir);
  pi->tmpfs_mounted = false;
  if (pi->tmpdir && rmdir (pi->tmpdir) < 0)
    log_error ("rmdir %s: %m", pi->tmpdir);
  free (pi->tmpdir);
  free (pi->mountpoint);
  free (pi->device_path);
  pi->tmpdir = pi->mountpoint = pi->device_path = NULL;
  return r;
}

/* Open IMAGE for reading and writing, or read-only if that is all we
 * may do (as losetup does); sets *READ_ONLY accordingly. */
static int
open_image (const char *image, bool *read_only)
{
  struct stat st;
  int fd;

  *read_only = false;
  fd = open (image, O_RDWR | O_CLOEXEC);
  if (fd < 0 && (errno == EROFS || errno == EACCES || errno == EPERM)) {
    *read_only = true;
    fd = open (image, O_RDONLY | O_CLOEXEC);
  }
  if (fd < 0) {
    log_error ("%s: %m", image);
    return -errno;
  }
  if (fstat (fd, &st) < 0 || !(S_ISREG (st.st_mode) || S_ISBLK (st.st_mode))) {
    log_error ("%s: not a regular file or block device", image);
    close (fd);
    return -EINVAL;
  }
  return fd;
}

/* Parse the command line, set the instance up, run COMMAND or wait for
 * a signal, and tear everything down again on every path. */
int
main (int argc, char *argv[])
{
  static const struct option long_options[] = {
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  struct private_instance pi = { .daemon = -1, .control = -1, .device = -1 };
  CLEANUP_CLOSE int image_fd = -1;
  char **command = NULL;
  const char *image;
  bool read_only;
  pid_t cmd = -1;
  int c, status = EXIT_FAILURE;

  while ((c = getopt_long (argc, argv, "+h", long_options, NULL)) != -1) {
    switch (c) {
    case 'h':
      usage (stdout);
      exit (EXIT_SUCCESS);
    default:
      usage (stderr);
      exit (EXIT_FAILURE);
    }
  }
  if (optind >= argc) {
    log_error ("missing IMAGE");
    usage (stderr);
    exit (EXIT_FAILURE);
  }
  image = argv[optind++];
  if (optind < argc) {
    if (strcmp (argv[optind], "--") != 0 || optind + 1 >= argc) {
      log_error ("expected -- COMMAND after IMAGE");
      usage (stderr);
      exit (EXIT_FAILURE);
    }
    command = &argv[optind + 1];
  }

  /* SIGCHLD tells us that loopfsd or COMMAND ended; the others end the
   * program (or are passed on to COMMAND).  Blocked before any child
   * exists, so that none can be missed. */
  sigemptyset (&waited_signals);
  sigaddset (&waited_signals, SIGCHLD);
  sigaddset (&waited_signals, SIGTERM);
  sigaddset (&waited_signals, SIGINT);
  sigaddset (&waited_signals, SIGHUP);
  if (sigprocmask (SIG_BLOCK, &waited_signals, &original_mask) < 0) {
    log_error ("sigprocmask: %m");
    exit (EXIT_FAILURE);
  }

  image_fd = open_image (image, &read_only);
  if (image_fd < 0)
    exit (EXIT_FAILURE);

  if (enter_private_namespace () < 0
      || make_mountpoint (&pi) < 0
      || start_daemon (&pi) < 0
      || bind_device (&pi, image_fd, image, read_only) < 0
      || check_device (&pi, read_only) < 0)
    goto out;
  /* The device holds its own reference to the image now. */
  close (TAKE_FD (image_fd));

  printf ("LOOPFS_DEVICE=%s\nLOOPFSD_PID=%d\n", pi.device_path,
          (int) pi.daemon);
  if (fflush (stdout) != 0) {
    log_error ("writing to stdout: %m");
    goto out;
  }
  if (command) {
    cmd = start_command (&pi, command);
    if (cmd < 0)
      goto out;
  }
  status = wait_for_end (&pi, cmd);

 out:
  if (teardown (&pi) < 0 && status == EXIT_SUCCESS)
    status = EXIT_FAILURE;
  return status;
}
