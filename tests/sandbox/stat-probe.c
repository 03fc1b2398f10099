/* stat-probe: ask stat(2) and statx(2) about paths the way a program in
 * a chroot, under another uid, or through /proc/self/fd would, and
 * print what the kernel (or the sandbox's stat fake) answered, one
 * line per path, so that two runs can be compared.
 *
 *   stat-probe [--open FD=PATH]... [--chroot DIR] [--cd DIR] [--uid N]
 *              SPEC...
 *
 * The --open descriptors are opened (O_RDONLY) first, then the chroot,
 * the chdir (default "/" after a chroot) and the uid change (groups
 * dropped, gid and uid N) happen in that order.  A SPEC is a path for
 * stat, "l:PATH" for lstat, or "fd:N" for fstat; each prints
 * "SPEC stat=KIND statx=KIND" where KIND is blk, chr, reg, dir, lnk,
 * other or the errno name (statx with AT_SYMLINK_NOFOLLOW for "l:").
 */

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The kind of file MODE is. */
static const char *
kind (mode_t mode)
{
  switch (mode & S_IFMT) {
  case S_IFBLK: return "blk";
  case S_IFCHR: return "chr";
  case S_IFREG: return "reg";
  case S_IFDIR: return "dir";
  case S_IFLNK: return "lnk";
  default: return "other";
  }
}

/* Print the result of one SPEC. */
static void
probe (const char *spec)
{
  const char *path = spec;
  int flags = 0, fd = AT_FDCWD, r;
  struct stat st;
  struct statx stx;
  const char *a, *b;

  if (strncmp (spec, "l:", 2) == 0) {
    path = spec + 2;
    flags = AT_SYMLINK_NOFOLLOW;
  }
  else if (strncmp (spec, "fd:", 3) == 0) {
    fd = atoi (spec + 3);
    path = "";
    flags = AT_EMPTY_PATH;
  }

  if (fd != AT_FDCWD)
    r = fstat (fd, &st);
  else if (flags)
    r = lstat (path, &st);
  else
    r = stat (path, &st);
  a = r == 0 ? kind (st.st_mode) : strerrorname_np (errno);
  r = statx (fd, path, flags, STATX_TYPE, &stx);
  b = r == 0 ? kind (stx.stx_mode) : strerrorname_np (errno);
  printf ("%s stat=%s statx=%s\n", spec, a, b);
}

int
main (int argc, char *argv[])
{
  const char *root = NULL, *dir = NULL;
  long uid = -1;
  int i;

  for (i = 1; i < argc && strncmp (argv[i], "--", 2) == 0; i++) {
    const char *opt = argv[i], *value = argv[i + 1];

    if (value == NULL) {
      fprintf (stderr, "stat-probe: %s needs a value\n", opt);
      return 2;
    }
    i++;
    if (strcmp (opt, "--open") == 0) {
      int want = atoi (value), fd;
      const char *eq = strchr (value, '=');

      if (eq == NULL || (fd = open (eq + 1, O_RDONLY)) < 0 ||
          (fd != want && (dup2 (fd, want) < 0 || close (fd) < 0))) {
        perror (value);
        return 2;
      }
    }
    else if (strcmp (opt, "--chroot") == 0)
      root = value;
    else if (strcmp (opt, "--cd") == 0)
      dir = value;
    else if (strcmp (opt, "--uid") == 0)
      uid = atol (value);
    else {
      fprintf (stderr, "stat-probe: unknown option %s\n", opt);
      return 2;
    }
  }
  if (root && chroot (root) < 0) {
    perror ("chroot");
    return 2;
  }
  if (root && dir == NULL)
    dir = "/";
  if (dir && chdir (dir) < 0) {
    perror ("chdir");
    return 2;
  }
  if (uid >= 0 && (setgroups (0, NULL) < 0 || setgid (uid) < 0 ||
                   setuid (uid) < 0)) {
    perror ("setuid");
    return 2;
  }
  for (; i < argc; i++)
    probe (argv[i]);
  /* No exit handlers: in the sanitizer build, LeakSanitizer's would
   * look for /proc in the chroot and fail. */
  fflush (stdout);
  _exit (0);
}
