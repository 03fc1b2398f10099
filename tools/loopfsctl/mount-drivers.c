/* loopfsctl exec: the FUSE drivers that serve taken-over mounts (see
 * mount-drivers.h). */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <blkid.h>
#include <sys/mount.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "cleanup.h"
#include "loopfsctl.h"
#include "monotonic-time.h"
#include "mount-caller.h"
#include "mount-drivers.h"

/* How long a driver may take to mount (it reads the image first). */
#define MOUNT_TIMEOUT_MS 30000
#define MOUNT_POLL_MS 10

/* The exit status of the driver's child when exec failed. */
#define EXIT_NOT_RUN 127

struct builtin_driver {
  const char *types;          /* ","-separated */
  const char *program;
  enum driver_style style;
  enum driver_options options;
  bool libfuse2;
  bool read_only;
  bool output_trace;
  bool names_itself;
};

/* exfat-fuse run as root always asks for a "fuseblk" mount, which the
 * kernel makes only on a kernel block device: it fails on an instance
 * node (its message is in the log), but stays the driver of exfat, the
 * one Debian has. */
static const struct builtin_driver builtin[] = {
  { "ext2,ext3,ext4", "fuse2fs", DRIVER_LIBFUSE, OPTIONS_EXT,
    true, false, false, false },
  { "vfat", "fusefat", DRIVER_LIBFUSE, OPTIONS_FAT,
    true, false, true, false },
  { "exfat", "mount.exfat-fuse", DRIVER_NTFS3G, OPTIONS_FAT,
    true, false, false, false },
  { "ntfs,ntfs3", "ntfs-3g", DRIVER_NTFS3G, OPTIONS_FAT,
    false, false, false, true },
  { "squashfs", "squashfuse", DRIVER_LIBFUSE, OPTIONS_NONE,
    false, true, false, false },
  { "iso9660", "fuseiso", DRIVER_FUSEISO, OPTIONS_NONE,
    true, true, false, false },
};

/* Data options a kernel filesystem takes that change nothing a FUSE
 * driver could do differently: accepted and left out. */
static const char *const ignored_ext[] = {
  "acl", "noacl", "user_xattr", "nouser_xattr", "errors=continue",
  "errors=remount-ro", "barrier", "nobarrier", "barrier=0", "barrier=1",
  "discard", "nodiscard", "data=ordered", "delalloc", "auto_da_alloc",
  NULL,
};
static const char *const ignored_fat[] = {
  "utf8", "utf8=1", "iocharset=utf8", "codepage=437", "shortname=mixed",
  "shortname=lower", "shortname=winnt", "shortname=win95", "flush",
  "errors=remount-ro", "quiet", NULL,
};
static const char *const ignored_none[] = {
  "utf8", "iocharset=utf8", "errors=continue", NULL,
};

/* Data options passed on unchanged (those ending in '=' as prefixes). */
static const char *const passed_ext[] = { "errors=panic", NULL };
static const char *const passed_fat[] = { "uid=", "gid=", "umask=", NULL };

/* Add driver TYPE=PROGRAM to DRIVERS, replacing one of the same type;
 * its particulars are those of built-in B, or none. */
static int
set_driver (driver_vector *drivers, const char *type, size_t type_len,
            const char *program, enum driver_style style,
            enum driver_options options, const struct builtin_driver *b)
{
  struct mount_driver d = { .style = style, .options = options };


  if (b) {
    d.libfuse2 = b->libfuse2;
    d.read_only = b->read_only;
    d.output_trace = b->output_trace;
    d.names_itself = b->names_itself;
  }
  d.type = strndup (type, type_len);
  d.program = strdup (program);
  if (d.type == NULL || d.program == NULL) {
    free (d.type);
    free (d.program);
    return -ENOMEM;
  }
  for (size_t i = 0; i < drivers->len; i++)
    if (strcmp (drivers->ptr[i].type, d.type) == 0) {
      free (drivers->ptr[i].type);
      free (drivers->ptr[i].program);
      drivers->ptr[i] = d;
      return 0;
    }
  if (driver_vector_append (drivers, d) < 0) {
    free (d.type);
    free (d.program);
    return -ENOMEM;
  }
  return 0;
}

int
mount_drivers_init (driver_vector *drivers)
{
  for (size_t i = 0; i < sizeof builtin / sizeof builtin[0]; i++) {
    const char *t = builtin[i].types;

    while (*t) {
      size_t n = strcspn (t, ",");
      int r = set_driver (drivers, t, n, builtin[i].program,
                          builtin[i].style, builtin[i].options, &builtin[i]);

      if (r < 0)
        return r;
      t += n + (t[n] == ',');
    }
  }
  return 0;
}

int
mount_drivers_set (driver_vector *drivers, const char *spec)
{
  const char *eq = strchr (spec, '=');

  if (eq == NULL || eq == spec || eq[1] == '\0'
      || strcspn (spec, ", \t\n") < (size_t) (eq - spec))
    return -EINVAL;
  return set_driver (drivers, spec, eq - spec, eq + 1, DRIVER_LIBFUSE,
                     OPTIONS_ALL, NULL);
}

const struct mount_driver *
mount_drivers_find (const driver_vector *drivers, const char *type)
{
  for (size_t i = 0; i < drivers->len; i++)
    if (strcmp (drivers->ptr[i].type, type) == 0)
      return &drivers->ptr[i];
  return NULL;
}

void
mount_drivers_free (driver_vector *drivers)
{
  for (size_t i = 0; i < drivers->len; i++) {
    free (drivers->ptr[i].type);
    free (drivers->ptr[i].program);
  }
  driver_vector_reset (drivers);
}

bool
mount_type_needs_device (const char *type)
{
  CLEANUP_FREE char *line = NULL;
  size_t size = 0, len = strcspn (type, ".");
  bool needs = true;
  FILE *fp = fopen ("/proc/filesystems", "re");

  if (fp == NULL)
    return true;
  /* Lines are "nodev\tNAME" or "\tNAME". */
  while (getline (&line, &size, fp) > 0) {
    char *name = strchr (line, '\t');

    if (name && strncmp (name + 1, type, len) == 0
        && (name[1 + len] == '\n' || name[1 + len] == '\0')) {
      needs = strncmp (line, "nodev", 5) != 0;
      break;
    }
  }
  fclose (fp);
  return needs;
}

int
mount_probe_type (int fd, char *type, size_t size)
{
  blkid_probe pr = blkid_new_probe ();
  const char *value;
  int r = -EINVAL;

  if (pr == NULL)
    return -ENOMEM;
  if (blkid_probe_set_device (pr, fd, 0, 0) == 0
      && blkid_probe_enable_superblocks (pr, 1) == 0
      && blkid_probe_set_superblocks_flags (pr, BLKID_SUBLKS_TYPE) == 0
      && blkid_do_safeprobe (pr) == 0
      && blkid_probe_lookup_value (pr, "TYPE", &value, NULL) == 0
      && strlen (value) < size) {
    strcpy (type, value);
    r = 0;
  }
  blkid_free_probe (pr);
  return r;
}

/* Is OPTION in LIST (entries ending in '=' match as prefixes)? */
static bool
in_list (const char *const *list, const char *option)
{
  for (; *list; list++) {
    size_t n = strlen (*list);

    if ((*list)[n - 1] == '=' ? strncmp (option, *list, n) == 0
        : strcmp (option, *list) == 0)
      return true;
  }
  return false;
}

/* Append ",NAME" to the option string in FP, or ",NAME=VALUE" with
 * ',' and '\' of VALUE escaped as libfuse's option parser reads them. */
static void
add_option (FILE *fp, const char *name, const char *value)
{
  fprintf (fp, ",%s", name);
  if (value == NULL)
    return;
  fputc ('=', fp);
  for (; *value; value++) {
    if (*value == ',' || *value == '\\')
      fputc ('\\', fp);
    fputc (*value, fp);
  }
}

/* Append the data option OPTION to FP as DRV takes it: passed on,
 * translated, left out, or refused with -EINVAL. */
static int
add_data_option (FILE *fp, const struct mount_driver *drv, const char *option)
{
  const char *const *ignored = ignored_none, *const *passed = NULL;

  switch (drv->options) {
  case OPTIONS_ALL:
    add_option (fp, option, NULL);
    return 0;
  case OPTIONS_EXT:
    if (strcmp (option, "noload") == 0 || strcmp (option, "norecovery") == 0) {
      add_option (fp, "norecovery", NULL);
      return 0;
    }
    ignored = ignored_ext, passed = passed_ext;
    break;
  case OPTIONS_FAT:
    ignored = ignored_fat, passed = passed_fat;
    break;
  case OPTIONS_NONE:
    break;
  }
  if (passed && in_list (passed, option)) {
    add_option (fp, option, NULL);
    return 0;
  }
  if (in_list (ignored, option))
    return 0;
  ctl_error ("exec: mount: %s does not take the option '%s' (EINVAL)",
             drv->program, option);
  return -EINVAL;
}

int
mount_driver_options (const struct mount_driver *drv, const char *source,
                      const char *type, unsigned long flags,
                      const char *data, char **out)
{
  CLEANUP_FREE char *copy = data ? strdup (data) : NULL;
  CLEANUP_FREE char *text = NULL;
  size_t size;
  FILE *fp;
  char *save, *option;
  int r = 0;

  if (data && copy == NULL)
    return -ENOMEM;
  fp = open_memstream (&text, &size);
  if (fp == NULL)
    return -ENOMEM;
  /* Everyone may use the mount, as that of a kernel filesystem, with
   * the kernel checking permissions from the attributes. */
  fputs ("allow_other,default_permissions", fp);
  if (!drv->names_itself) {
    add_option (fp, "fsname", source);
    add_option (fp, "subtype", type);
  }
  /* fuse2fs's defaults would name the device by our path of it. */
  if (strcmp (drv->program, "fuse2fs") == 0)
    add_option (fp, "no_default_opts,use_ino,kernel_cache,attr_timeout=0",
                NULL);
  if (drv->libfuse2)
    add_option (fp, "nonempty", NULL);
  /* fusefat writes only when told "rw+", and refuses a plain "rw". */
  if (!(flags & MS_RDONLY) && strcmp (drv->program, "fusefat") == 0)
    add_option (fp, "rw+", NULL);
  else
    add_option (fp, flags & MS_RDONLY ? "ro" : "rw", NULL);
  /* libfuse makes a mount nosuid and nodev unless told otherwise. */
  add_option (fp, flags & MS_NOSUID ? "nosuid" : "suid", NULL);
  add_option (fp, flags & MS_NODEV ? "nodev" : "dev", NULL);
  add_option (fp, flags & MS_NOEXEC ? "noexec" : "exec", NULL);
  if (flags & MS_SYNCHRONOUS)
    add_option (fp, "sync", NULL);
  if (flags & MS_DIRSYNC)
    add_option (fp, "dirsync", NULL);
  if (flags & MS_NOATIME)
    add_option (fp, "noatime", NULL);
  for (option = copy ? strtok_r (copy, ",", &save) : NULL; option && r == 0;
       option = strtok_r (NULL, ",", &save))
    r = add_data_option (fp, drv, option);
  if (fclose (fp) != 0)
    return -ENOMEM;
  if (r < 0)
    return r;
  *out = TAKE_PTR (text);
  return 0;
}

/* In the child: run ARGV in mount namespace MNTNS with STDOUT as its
 * stdout, and as its stderr too when QUIET. */
static void __attribute__ ((noreturn))
exec_driver (int mntns, int stdout_fd, bool quiet, char **argv)
{
  sigset_t none;

  /* Our thread blocks the signals the supervisor waits for; the driver
   * must see SIGTERM (its clean exit). */
  sigemptyset (&none);
  if (sigprocmask (SIG_SETMASK, &none, NULL) < 0
      || prctl (PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0
      || setns (mntns, CLONE_NEWNS) < 0
      || stdout_fd < 0 || dup2 (stdout_fd, STDOUT_FILENO) < 0
      || (quiet && dup2 (stdout_fd, STDERR_FILENO) < 0))
    _exit (EXIT_NOT_RUN);
  execvp (argv[0], argv);
  _exit (EXIT_NOT_RUN);
}

int
mount_driver_start (const struct mount_driver *drv, int mntns,
                    const char *device, const char *mountpoint,
                    const char *options, uint64_t below,
                    struct driver_process *out)
{
  char *argv[10];
  size_t n = 0;
  int64_t deadline = monotonic_ms () + MOUNT_TIMEOUT_MS;
  struct pollfd exited;
  pid_t pid;
  int pidfd, status, stdout_fd, fork_errno;
  CLEANUP_FREE char *ntfs_options = NULL;

  argv[n++] = drv->program;
  switch (drv->style) {
  case DRIVER_FUSEISO:
    argv[n++] = (char *) "-n";
    /* fall through */
  case DRIVER_LIBFUSE:
    argv[n++] = (char *) device;
    argv[n++] = (char *) mountpoint;
    argv[n++] = (char *) "-f";
    argv[n++] = (char *) "-o";
    argv[n++] = (char *) options;
    break;
  case DRIVER_NTFS3G:
    if (asprintf (&ntfs_options, "no_detach,%s", options) < 0)
      return -ENOMEM;
    argv[n++] = (char *) "-o";
    argv[n++] = ntfs_options;
    argv[n++] = (char *) device;
    argv[n++] = (char *) mountpoint;
    break;
  }
  argv[n] = NULL;

  /* What a driver says of a bad image goes to our log (fuse2fs says it
   * on stdout), unless its output is a trace, which would drown the
   * sandbox's own messages: that driver says nothing (a bad image is
   * still EINVAL). */
  stdout_fd = drv->output_trace ? open ("/dev/null", O_WRONLY | O_CLOEXEC)
    : dup (STDERR_FILENO);
  pid = fork ();
  if (pid == 0)
    exec_driver (mntns, stdout_fd, drv->output_trace, argv);
  fork_errno = errno;
  if (stdout_fd >= 0)
    close (stdout_fd);
  if (pid < 0)
    return -fork_errno;
  pidfd = pidfd_open (pid, 0);
  if (pidfd < 0) {
    int r = -errno;

    kill (pid, SIGKILL);
    waitpid (pid, NULL, 0);
    return r;
  }
  exited = (struct pollfd) { .fd = pidfd, .events = POLLIN };
  for (;;) {
    uint64_t id = caller_mount_at (pid, mountpoint, "fuse");

    if (id != 0 && id != below) {
      *out = (struct driver_process) {
        .pid = pid, .pidfd = pidfd, .mnt_id = id,
      };
      return 0;
    }
    if (poll (&exited, 1, MOUNT_POLL_MS) > 0)
      break;
    if (monotonic_ms () > deadline) {
      ctl_error ("exec: mount: %s did not mount %s within %d ms; killed",
                 drv->program, mountpoint, MOUNT_TIMEOUT_MS);
      kill (pid, SIGKILL);
      waitpid (pid, NULL, 0);
      close (pidfd);
      return -ETIMEDOUT;
    }
  }
  while (waitpid (pid, &status, 0) < 0 && errno == EINTR)
    ;
  close (pidfd);
  if (WIFEXITED (status) && WEXITSTATUS (status) == EXIT_NOT_RUN) {
    ctl_error ("exec: mount: could not run %s (ENODEV)", drv->program);
    return -ENODEV;
  }
  ctl_error ("exec: mount: %s exited with status %d before mounting %s on "
             "%s (EINVAL)", drv->program,
             WIFEXITED (status) ? WEXITSTATUS (status)
             : 128 + WTERMSIG (status), device, mountpoint);
  return -EINVAL;
}

int
mount_driver_reap (struct driver_process *dp, int timeout_ms)
{
  struct pollfd exited = { .fd = dp->pidfd, .events = POLLIN };
  int status = 0;

  if (poll (&exited, 1, timeout_ms) <= 0) {
    ctl_error ("exec: mount: driver %d did not exit within %d ms; killing "
               "it", (int) dp->pid, timeout_ms);
    kill (dp->pid, SIGKILL);
  }
  while (waitpid (dp->pid, &status, 0) < 0 && errno == EINTR)
    ;
  close (dp->pidfd);
  dp->pidfd = -1;
  return status;
}

