/* loopfsctl exec: what the mount interception asks of a caller and its
 * namespace (see mount-caller.h). */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>

#include "cleanup.h"
#include "loopfs-interface.h"
#include "mount-caller.h"

#define CAP_SYS_ADMIN_BIT 21

/* Whether FD (O_PATH, of the caller's lookup) is a device node of the
 * instance on INSTANCE_DEV: "loopN" or "loopNpM" into NODE. */
bool
caller_instance_node (dev_t instance_dev, int fd, char *node)
{
  char path[64], rest;
  struct stat st;
  ssize_t n;
  int number, partition;

  if (fstat (fd, &st) < 0 || st.st_dev != instance_dev
      || !S_ISREG (st.st_mode))
    return false;
  snprintf (path, sizeof path, "/proc/self/fd/%d", fd);
  n = getxattr (path, XATTR_NODE, node, NODE_MAX - 1);
  if (n <= 0)
    return false;
  node[n] = '\0';
  return sscanf (node, "loop%d%c", &number, &rest) == 1
    || sscanf (node, "loop%dp%d%c", &number, &partition, &rest) == 2;
}

/* Whether the status of node FD has the line "KEY=VALUE". */
static bool
status_has (int fd, const char *key, const char *value)
{
  char path[64], status[XATTR_VALUE_MAX], line[64];
  ssize_t n;

  snprintf (path, sizeof path, "/proc/self/fd/%d", fd);
  n = getxattr (path, XATTR_STATUS, status + 1, sizeof status - 2);
  if (n <= 0)
    return false;
  /* Every line between newlines, the first too. */
  status[0] = '\n';
  status[n + 1] = '\0';
  snprintf (line, sizeof line, "\n%s=%s\n", key, value);
  return strstr (status, line) != NULL;
}

bool
caller_node_bound (int fd, const char *node)
{
  /* A partition node exists only while its device is bound. */
  if (strchr (node + 4, 'p'))
    return true;
  return status_has (fd, STATUS_KEY_STATE, "bound");
}

bool
caller_node_read_only (int fd)
{
  /* The partition key is the same word. */
  return status_has (fd, STATUS_KEY_RO, "1");
}

/* Whether process PID may mount as the kernel decides it for us: in our
 * user namespace with CAP_SYS_ADMIN effective. */
bool
caller_may_mount (pid_t pid)
{
  CLEANUP_FREE char *line = NULL;
  unsigned long long eff = 0;
  struct stat ours, theirs;
  char path[64];
  size_t size = 0;
  FILE *fp;

  snprintf (path, sizeof path, "/proc/%d/ns/user", (int) pid);
  if (stat ("/proc/self/ns/user", &ours) < 0 || stat (path, &theirs) < 0
      || ours.st_ino != theirs.st_ino || ours.st_dev != theirs.st_dev)
    return false;
  snprintf (path, sizeof path, "/proc/%d/status", (int) pid);
  fp = fopen (path, "re");
  if (fp == NULL)
    return false;
  while (getline (&line, &size, fp) > 0)
    if (strncmp (line, "CapEff:", 7) == 0)
      eff = strtoull (line + 7, NULL, 16);
  fclose (fp);
  return eff & (1ull << CAP_SYS_ADMIN_BIT);
}

/* The mount id of FD's place, or 0. */
uint64_t
caller_mount_id (int fd, bool *is_root)
{
  struct statx stx;

  if (statx (fd, "", AT_EMPTY_PATH, STATX_MNT_ID, &stx) < 0
      || !(stx.stx_mask & STATX_MNT_ID))
    return 0;
  if (is_root)
    *is_root = stx.stx_attributes & STATX_ATTR_MOUNT_ROOT;
  return stx.stx_mnt_id;
}

/* FD's path in its own mount namespace (our /proc shows it so), in OUT
 * (PATH_MAX bytes). */
int
caller_fd_path (int fd, char *out)
{
  char link[64];
  ssize_t n;

  snprintf (link, sizeof link, "/proc/self/fd/%d", fd);
  n = readlink (link, out, PATH_MAX - 1);
  if (n < 0)
    return -errno;
  out[n] = '\0';
  /* A path that cannot be named again (deleted, or outside the
   * namespace's root) is not one to mount on. */
  if (out[0] != '/' || strstr (out, " (deleted)"))
    return -ENOENT;
  return 0;
}

/* Open the mount namespace of process PID. */
int
caller_open_mntns (pid_t pid)
{
  char path[64];
  int fd;

  snprintf (path, sizeof path, "/proc/%d/ns/mnt", (int) pid);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  return fd < 0 ? -errno : fd;
}

/* Run FN (ARG) in a child process in mount namespace MNTNS (a thread of
 * ours cannot enter it: we are many threads).  Returns FN's answer. */
int
caller_in_namespace (int mntns, int (*fn) (void *), void *arg)
{
  pid_t pid = fork ();
  int status;

  if (pid < 0)
    return -errno;
  if (pid == 0) {
    if (setns (mntns, CLONE_NEWNS) < 0)
      _exit (errno);
    _exit (-fn (arg));
  }
  while (waitpid (pid, &status, 0) < 0)
    if (errno != EINTR)
      return -errno;
  return WIFEXITED (status) ? -WEXITSTATUS (status) : -EIO;
}

/* Undo the kernel's octal escapes (\040 for a space...) of a
 * mountinfo field, in place. */
static void
unescape (char *s)
{
  char *out = s;

  for (; *s; s++) {
    if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0'
        && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
      *out++ = (s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0');
      s += 3;
    }
    else
      *out++ = *s;
  }
  *out = '\0';
}

uint64_t
caller_mount_at (pid_t pid, const char *mountpoint, const char *fstype)
{
  CLEANUP_FREE char *line = NULL;
  char path[64];
  size_t size = 0;
  uint64_t found = 0;
  FILE *fp;

  snprintf (path, sizeof path, "/proc/%d/mountinfo", (int) pid);
  fp = fopen (path, "re");
  if (fp == NULL)
    return 0;
  while (getline (&line, &size, fp) > 0) {
    char *fields[5], *save, *sep, *type;
    unsigned long long id;
    size_t i;

    sep = strstr (line, " - ");
    if (sep == NULL)
      continue;
    type = sep + 3;
    *sep = '\0';
    fields[0] = strtok_r (line, " ", &save);
    for (i = 1; i < 5 && fields[i - 1]; i++)
      fields[i] = strtok_r (NULL, " ", &save);
    if (i < 5 || fields[4] == NULL
        || strncmp (type, fstype, strlen (fstype)) != 0)
      continue;
    unescape (fields[4]);
    if (strcmp (fields[4], mountpoint) == 0
        && sscanf (fields[0], "%llu", &id) == 1)
      found = id;
  }
  fclose (fp);
  return found;
}
