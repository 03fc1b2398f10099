/* loopfsctl exec: looking a path up as another process would (see
 * caller-lookup.h). */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/capability.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "caller-lookup.h"
#include "cleanup.h"
#include "loopfsctl.h"

/* What a path lookup depends on besides root and working directory. */
struct lookup_creds {
  uid_t fsuid;
  gid_t fsgid;
  gid_t *groups;
  size_t n_groups;
  struct __user_cap_data_struct caps[_LINUX_CAPABILITY_U32S_3];
};

struct caller_lookup {
  int root;                     /* our own root and working directory */
  int cwd;
  struct lookup_creds own;
};

/* The caller as its own PID namespace numbers it, for "/proc/self". */
struct caller_ids {
  long tgid;                    /* 0 when unknown */
  long tid;
};

/* Read this thread's capability sets into CAPS. */
static int
get_caps (struct __user_cap_data_struct *caps)
{
  struct __user_cap_header_struct header = {
    .version = _LINUX_CAPABILITY_VERSION_3,
  };

  return syscall (SYS_capget, &header, caps) < 0 ? -errno : 0;
}

/* Set this thread's capability sets to CAPS. */
static int
set_caps (const struct __user_cap_data_struct *caps)
{
  struct __user_cap_header_struct header = {
    .version = _LINUX_CAPABILITY_VERSION_3,
  };

  return syscall (SYS_capset, &header, caps) < 0 ? -errno : 0;
}

/* Give this thread the filesystem credentials C: groups, fsgid and
 * fsuid while we may still change them, then the effective
 * capabilities.  setfsuid and setfsgid report failure only by leaving
 * the value unchanged, so that is checked. */
static int
set_creds (const struct lookup_creds *c)
{
  if (syscall (SYS_setgroups, c->n_groups, c->groups) < 0)
    return -errno;
  syscall (SYS_setfsgid, c->fsgid);
  syscall (SYS_setfsuid, c->fsuid);
  if ((gid_t) syscall (SYS_setfsgid, -1) != c->fsgid ||
      (uid_t) syscall (SYS_setfsuid, -1) != c->fsuid)
    return -EPERM;
  return set_caps (c->caps);
}

/* Parse the numbers after a "Key:" of /proc/PID/status in LINE into
 * *V (allocated) and *N. */
static int
parse_numbers (const char *line, long **v, size_t *n)
{
  const char *p = strchr (line, ':') + 1;
  char *end;

  *v = NULL;
  *n = 0;
  for (;;) {
    long x = strtol (p, &end, 10);
    long *grown;

    if (end == p)
      return 0;
    grown = realloc (*v, (*n + 1) * sizeof **v);
    if (grown == NULL) {
      free (*v);
      return -ENOMEM;
    }
    *v = grown;
    (*v)[(*n)++] = x;
    p = end;
  }
}

/* Parse /proc/PID/status F into C (see read_caller) and IDS. */
static int
parse_status (FILE *f, const struct lookup_creds *own,
              struct lookup_creds *c, struct caller_ids *ids)
{
  CLEANUP_FREE char *line = NULL;
  size_t size = 0;
  int found = 0;

  while (getline (&line, &size, f) > 0) {
    CLEANUP_FREE long *v = NULL;
    size_t n;
    bool uid = strncmp (line, "Uid:", 4) == 0;
    bool gid = strncmp (line, "Gid:", 4) == 0;

    if (strncmp (line, "CapEff:", 7) == 0) {
      unsigned long long eff = strtoull (line + 7, NULL, 16);

      c->caps[0].effective = (__u32) eff & own->caps[0].permitted;
      c->caps[1].effective = (__u32) (eff >> 32) & own->caps[1].permitted;
      found |= 1;
      continue;
    }
    if (!uid && !gid && strncmp (line, "Groups:", 7) != 0 &&
        strncmp (line, "NStgid:", 7) != 0 && strncmp (line, "NSpid:", 6) != 0)
      continue;
    if (parse_numbers (line, &v, &n) < 0)
      return -ENOMEM;
    if ((uid || gid) && n == 4) {
      if (uid)
        c->fsuid = v[3], found |= 2;
      else
        c->fsgid = v[3], found |= 4;
    }
    else if (line[0] == 'G' && line[1] == 'r') {
      c->groups = calloc (n ? n : 1, sizeof *c->groups);
      if (c->groups == NULL)
        return -ENOMEM;
      for (size_t i = 0; i < n; i++)
        c->groups[i] = v[i];
      c->n_groups = n;
    }
    else if (n > 0 && line[2] == 't')
      ids->tgid = v[n - 1];
    else if (n > 0 && line[0] == 'N')
      ids->tid = v[n - 1];
  }
  return found == 7 ? 0 : -EIO;
}

/* Read thread PID's filesystem credentials, effective capabilities
 * (as its effective set with our permitted and inheritable ones: the
 * permitted set must stay ours so that we can come back) and
 * PID-namespace ids. */
static int
read_caller (pid_t pid, const struct lookup_creds *own,
             struct lookup_creds *c, struct caller_ids *ids)
{
  char path[64];
  FILE *f;
  int r;

  snprintf (path, sizeof path, "/proc/%d/status", (int) pid);
  f = fopen (path, "re");
  if (f == NULL)
    return -errno;
  memset (c, 0, sizeof *c);
  memcpy (c->caps, own->caps, sizeof c->caps);
  *ids = (struct caller_ids) { 0 };
  r = parse_status (f, own, c, ids);
  fclose (f);
  return r;
}

int
caller_lookup_init (struct caller_lookup **out)
{
  struct caller_lookup *cl;
  int n, r;

  if (unshare (CLONE_FS) < 0)
    return -errno;
  cl = calloc (1, sizeof *cl);
  if (cl == NULL)
    return -ENOMEM;
  cl->root = open ("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  cl->cwd = open (".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (cl->root < 0 || cl->cwd < 0) {
    r = -errno;
    goto fail;
  }
  cl->own.fsuid = syscall (SYS_setfsuid, -1);
  cl->own.fsgid = syscall (SYS_setfsgid, -1);
  n = getgroups (0, NULL);
  cl->own.groups = calloc (n > 0 ? n : 1, sizeof *cl->own.groups);
  if (n < 0 || cl->own.groups == NULL ||
      (n = getgroups (n, cl->own.groups)) < 0) {
    r = n < 0 ? -errno : -ENOMEM;
    goto fail;
  }
  cl->own.n_groups = n;
  r = get_caps (cl->own.caps);
  if (r < 0)
    goto fail;
  *out = cl;
  return 0;

 fail:
  caller_lookup_free (cl);
  return r;
}

void
caller_lookup_free (struct caller_lookup *cl)
{
  if (cl == NULL)
    return;
  if (cl->root >= 0)
    close (cl->root);
  if (cl->cwd >= 0)
    close (cl->cwd);
  free (cl->own.groups);
  free (cl);
}

/* If PATH starts with PREFIX followed by '/' or its end, the rest
 * (possibly ""); else NULL. */
static const char *
after_prefix (const char *path, const char *prefix)
{
  size_t n = strlen (prefix);

  if (strncmp (path, prefix, n) != 0 || (path[n] != '/' && path[n] != '\0'))
    return NULL;
  return path + n;
}

/* Format into OUT (PATH_MAX bytes); -ENAMETOOLONG if it does not
 * fit. */
static int __attribute__ ((format (printf, 2, 3)))
format_path (char *out, const char *fmt, ...)
{
  va_list args;
  int n;

  va_start (args, fmt);
  n = vsnprintf (out, PATH_MAX, fmt, args);
  va_end (args);
  return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

/* The length of the part of a rewritten "/proc/self" path (whose first
 * LEN bytes name the caller's /proc directory, followed by REST) that
 * leads to one of the caller's descriptors: "/proc/N/fd/M".  The
 * kernel lets a process follow its own descriptors' links even where
 * others may not (a process that changed its uid is not dumpable, and
 * its /proc/N/fd belongs to root), so that part is opened with our
 * credentials; 0 when REST is no "/fd/M". */
static size_t
own_fd_prefix (size_t len, const char *rest)
{
  size_t n;

  if (strncmp (rest, "/fd/", 4) != 0)
    return 0;
  n = strspn (rest + 4, "0123456789");
  if (n == 0 || (rest[4 + n] != '\0' && rest[4 + n] != '/'))
    return 0;
  return len + 4 + n;
}

/* Rewrite PATH into OUT (PATH_MAX bytes) where the caller's lookup
 * would go through its own "/proc/self": the /dev symlinks into it
 * (read now, in the caller's root and as the caller), then
 * "/proc/self" and "/proc/thread-self" themselves, which become the
 * caller's numbers in its PID namespace.  A path that names the link
 * itself under AT_SYMLINK_NOFOLLOW stays.  Paths reaching them
 * relatively (from a working directory of /proc) are not rewritten.
 * *OWN_LEN is set to own_fd_prefix's answer. */
static int
rewrite_self (const char *path, bool nofollow, const struct caller_ids *ids,
              char *out, size_t *own_len)
{
  static const char *const dev_links[] = {
    "/dev/fd", "/dev/stdin", "/dev/stdout", "/dev/stderr",
  };
  char target[PATH_MAX], tmp[PATH_MAX];
  const char *rest;

  *own_len = 0;
  if (format_path (out, "%s", path) < 0)
    return -ENAMETOOLONG;
  if (ids->tgid <= 0)
    return 0;
  for (size_t i = 0; i < sizeof dev_links / sizeof dev_links[0]; i++) {
    ssize_t n;

    rest = after_prefix (out, dev_links[i]);
    if (rest == NULL || (*rest == '\0' && nofollow))
      continue;
    n = readlink (dev_links[i], target, sizeof target - 1);
    if (n <= 0)
      break;
    target[n] = '\0';
    if (after_prefix (target, "/proc/self") == NULL)
      break;
    if (format_path (tmp, "%s%s", target, rest) < 0)
      return -ENAMETOOLONG;
    memcpy (out, tmp, PATH_MAX);
    break;
  }
  if ((rest = after_prefix (out, "/proc/self")) != NULL) {
    if (*rest == '\0' && nofollow)
      return 0;
    if (format_path (tmp, "/proc/%ld%s", ids->tgid, rest) < 0)
      return -ENAMETOOLONG;
  }
  else if ((rest = after_prefix (out, "/proc/thread-self")) != NULL) {
    if (*rest == '\0' && nofollow)
      return 0;
    if (format_path (tmp, "/proc/%ld/task/%ld%s", ids->tgid, ids->tid,
                     rest) < 0)
      return -ENAMETOOLONG;
  }
  else
    return 0;
  *own_len = own_fd_prefix (strlen (tmp) - strlen (rest),
                            tmp + strlen (tmp) - strlen (rest));
  memcpy (out, tmp, PATH_MAX);
  return 0;
}

/* Leave the caller's context: our capabilities first (changing the
 * rest needs them) and our credentials if AS_CALLER, our root if
 * CHROOTED, and our directory.  This thread must never go on with a
 * caller's root or credentials, so a failure here (which needs a kernel
 * that forgot what we had) ends the process. */
static void
restore_own (const struct caller_lookup *cl, bool chrooted, bool as_caller)
{
  if ((as_caller && (set_caps (cl->own.caps) < 0 ||
                     set_creds (&cl->own) < 0)) ||
      (chrooted && (fchdir (cl->root) < 0 || chroot (".") < 0)) ||
      fchdir (cl->cwd) < 0) {
    ctl_error ("exec: stat fake: cannot restore its own credentials: %m");
    abort ();
  }
}

/* Whether descriptors A and B name the same place: the same mount and
 * the same inode (a bind mount of a directory has the same inode under
 * other mounts). */
static bool
same_place (int a, int b)
{
  struct statx x, y;
  unsigned want = STATX_INO | STATX_MNT_ID;

  return statx (a, "", AT_EMPTY_PATH, want, &x) == 0 &&
    statx (b, "", AT_EMPTY_PATH, want, &y) == 0 &&
    (x.stx_mask & y.stx_mask & want) == want &&
    x.stx_mnt_id == y.stx_mnt_id && x.stx_ino == y.stx_ino &&
    x.stx_dev_major == y.stx_dev_major && x.stx_dev_minor == y.stx_dev_minor;
}

/* Whether a lookup with credentials A is one with B. */
static bool
same_creds (const struct lookup_creds *a, const struct lookup_creds *b)
{
  return a->fsuid == b->fsuid && a->fsgid == b->fsgid &&
    a->n_groups == b->n_groups &&
    memcmp (a->groups, b->groups, a->n_groups * sizeof *a->groups) == 0 &&
    a->caps[0].effective == b->caps[0].effective &&
    a->caps[1].effective == b->caps[1].effective;
}

/* In the caller's root and with its credentials (ours unless
 * AS_CALLER): open PATH, of which the first OWN_LEN bytes (a
 * descriptor of the caller's own, see own_fd_prefix) are opened with
 * ours. */
static int
open_rewritten (const struct caller_lookup *cl,
                const struct lookup_creds *creds, bool as_caller, char *path,
                size_t own_len, bool nofollow)
{
  int last = O_PATH | O_CLOEXEC | (nofollow ? O_NOFOLLOW : 0);
  CLEANUP_CLOSE int own = -1;
  bool more = own_len > 0 && path[own_len] == '/';
  int fd, r;

  if (own_len == 0) {
    fd = openat (AT_FDCWD, path, last);
    return fd < 0 ? -errno : fd;
  }
  path[own_len] = '\0';
  if (as_caller &&
      ((r = set_caps (cl->own.caps)) < 0 || (r = set_creds (&cl->own)) < 0))
    return r;
  own = openat (AT_FDCWD, path, more ? O_PATH | O_CLOEXEC : last);
  if (own < 0)
    return -errno;
  if (as_caller && (r = set_creds (creds)) < 0)
    return r;
  if (!more)
    return TAKE_FD (own);
  fd = openat (own, path + own_len + 1, last);
  return fd < 0 ? -errno : fd;
}

/* Open "/proc/PID/WHAT" (O_PATH). */
static int
open_proc (pid_t pid, const char *what)
{
  char path[64];
  int fd;

  snprintf (path, sizeof path, "/proc/%d/%s", (int) pid, what);
  fd = open (path, O_PATH | O_CLOEXEC);
  return fd < 0 ? -errno : fd;
}

int
caller_lookup_open (struct caller_lookup *cl, pid_t pid, int dirfd,
                    const char *path, int flags)
{
  bool nofollow = flags & AT_SYMLINK_NOFOLLOW;
  struct lookup_creds creds = { 0 };
  struct caller_ids ids = { 0 };
  CLEANUP_CLOSE int root = -1, base = -1;
  char fd_name[32], rewritten[PATH_MAX];
  bool chrooted = false, as_caller = false;
  size_t own_len;
  int r;

  /* The caller's starting point: its working directory or DIRFD. */
  if (dirfd == AT_FDCWD)
    snprintf (fd_name, sizeof fd_name, "cwd");
  else
    snprintf (fd_name, sizeof fd_name, "fd/%d", dirfd);
  if (path[0] == '\0')
    return (flags & AT_EMPTY_PATH) ? open_proc (pid, fd_name) : -ENOENT;

  root = open_proc (pid, "root");
  if (root < 0)
    return root;
  if (path[0] != '/') {
    base = open_proc (pid, fd_name);
    if (base < 0)
      return base;
  }
  r = read_caller (pid, &cl->own, &creds, &ids);
  if (r < 0)
    goto out;

  /* Most calls come from a caller with our root and credentials (root
   * in the sandbox's mount namespace): then only the directory
   * changes. */
  if (!same_place (root, cl->root)) {
    chrooted = true;
    if (fchdir (root) < 0 || chroot (".") < 0)
      r = -errno;
  }
  if (r == 0 && base >= 0 && fchdir (base) < 0)
    r = -errno;
  if (r == 0 && !same_creds (&creds, &cl->own)) {
    as_caller = true;
    r = set_creds (&creds);
  }
  if (r == 0)
    r = rewrite_self (path, nofollow, &ids, rewritten, &own_len);
  if (r == 0)
    r = open_rewritten (cl, &creds, as_caller, rewritten, own_len, nofollow);
  restore_own (cl, chrooted, as_caller);

 out:
  free (creds.groups);
  return r;
}
