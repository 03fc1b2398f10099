/* loopfsctl exec: the sandbox's stat(2) of loop nodes (see
 * stat-fake.h). */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include "caller-lookup.h"
#include "cleanup.h"
#include "loopfs-interface.h"
#include "loop-numbers.h"
#include "notify-call.h"
#include "partition-info.h"
#include "stat-fake.h"

#define MISC_MAJOR 10
#define LOOP_CTRL_MINOR 237

/* Block devices report the page size as their I/O block size. */
#define BLOCK_DEVICE_BLKSIZE 4096

/* The arguments of one stat-family call, whatever its form. */
struct stat_call {
  int dirfd;                /* AT_FDCWD or a descriptor of the caller */
  uint64_t path;            /* address of the path, 0 for none */
  int flags;                /* AT_* flags */
  unsigned mask;            /* statx mask */
  uint64_t buf;             /* where the result goes */
  bool is_statx;
};

/* Decode the notification REQ into CALL. */
static void
decode_call (const struct seccomp_notif *req, struct stat_call *call)
{
  const __u64 *a = req->data.args;

  memset (call, 0, sizeof *call);
  call->dirfd = AT_FDCWD;
  switch (req->data.nr) {
  case __NR_stat:
    call->path = a[0], call->buf = a[1];
    break;
  case __NR_lstat:
    call->path = a[0], call->buf = a[1];
    call->flags = AT_SYMLINK_NOFOLLOW;
    break;
  case __NR_fstat:
    call->dirfd = (int) a[0], call->buf = a[1];
    call->flags = AT_EMPTY_PATH;
    break;
  case __NR_newfstatat:
    call->dirfd = (int) a[0], call->path = a[1], call->buf = a[2];
    call->flags = (int) a[3];
    break;
  default:                  /* __NR_statx */
    call->dirfd = (int) a[0], call->path = a[1];
    call->flags = (int) a[2], call->mask = (unsigned) a[3];
    call->buf = a[4];
    call->is_statx = true;
    break;
  }
}

/* Which node of the instance FD is: its device number as a kernel loop
 * device or partition would have it (partition-info.h), or 0 if FD is
 * not one of the instance's nodes. */
static dev_t
node_device (const struct notify_call *nc, int fd, const struct stat *st)
{
  char path[64], node[32], rest;
  ssize_t n;
  int number, partition;

  if (st->st_dev != nc->instance_dev || !S_ISREG (st->st_mode))
    return 0;
  snprintf (path, sizeof path, "/proc/self/fd/%d", fd);
  n = getxattr (path, XATTR_NODE, node, sizeof node - 1);
  if (n <= 0)
    return 0;
  node[n] = '\0';
  if (strcmp (node, CONTROL_NAME) == 0)
    return makedev (MISC_MAJOR, LOOP_CTRL_MINOR);
  if (sscanf (node, "loop%d%c", &number, &rest) == 1 && number >= 0)
    return sandbox_loop_devno (number);
  if (partition_parse_name (node, &number, &partition))
    return partition_devno (nc->instance, number, partition);
  return 0;
}

/* The file type a faked node shows for device number RDEV. */
static mode_t
node_type (dev_t rdev)
{
  return major (rdev) == MISC_MAJOR ? S_IFCHR : S_IFBLK;
}

/* ID (a uid or gid as we see it) as process PID sees it through MAP
 * ("uid_map" or "gid_map"), as the kernel's stat would show it to a
 * caller in another user namespace (a container's); the overflow id
 * 65534 when unmapped.  The map shows our ids only when we are in
 * another namespace than PID (else it shows the parent's). */
static unsigned
id_for_caller (pid_t pid, const char *map, unsigned id)
{
  unsigned long long inside, outside, count;
  unsigned result = 65534;
  struct stat ours, theirs;
  char path[64];
  FILE *fp;

  snprintf (path, sizeof path, "/proc/%d/ns/user", (int) pid);
  if (stat ("/proc/self/ns/user", &ours) < 0 || stat (path, &theirs) < 0
      || (ours.st_ino == theirs.st_ino && ours.st_dev == theirs.st_dev))
    return id;
  snprintf (path, sizeof path, "/proc/%d/%s", (int) pid, map);
  fp = fopen (path, "re");
  if (fp == NULL)
    return id;
  while (fscanf (fp, "%llu %llu %llu", &inside, &outside, &count) == 3)
    if (id >= outside && id - outside < count) {
      result = inside + (id - outside);
      break;
    }
  fclose (fp);
  return result;
}

int
stat_fake_answer (const struct notify_call *nc)
{
  const struct seccomp_notif *req = nc->req;
  struct stat_call call;
  char path[PATH_MAX];
  CLEANUP_CLOSE int fd = -1;
  struct stat st;
  dev_t rdev;

  decode_call (req, &call);
  if (call.path == 0)
    path[0] = '\0';
  else if (notify_read_string (req->pid, call.path, path, sizeof path) < 0)
    return 1;
  fd = caller_lookup_open (nc->lookup, req->pid, call.dirfd, path,
                           call.flags);
  /* The pid, the memory read and what /proc/PID showed were the
   * caller's only if the notification is still pending. */
  if (!notify_still_valid (nc))
    return 1;
  if (fd < 0 || fstat (fd, &st) < 0)
    return 1;
  rdev = node_device (nc, fd, &st);
  if (rdev == 0)
    return 1;

  if (call.is_statx) {
    struct statx stx;
    int sync = call.flags & AT_STATX_SYNC_TYPE;

    if (statx (fd, "", AT_EMPTY_PATH | sync, call.mask, &stx) < 0)
      return 1;
    stx.stx_mode = node_type (rdev) | (stx.stx_mode & 07777);
    stx.stx_uid = id_for_caller (req->pid, "uid_map", stx.stx_uid);
    stx.stx_gid = id_for_caller (req->pid, "gid_map", stx.stx_gid);
    stx.stx_rdev_major = major (rdev);
    stx.stx_rdev_minor = minor (rdev);
    stx.stx_size = 0;
    stx.stx_blocks = 0;
    stx.stx_blksize = BLOCK_DEVICE_BLKSIZE;
    return notify_write_memory (req->pid, call.buf, &stx, sizeof stx);
  }
  st.st_mode = node_type (rdev) | (st.st_mode & 07777);
  st.st_uid = id_for_caller (req->pid, "uid_map", st.st_uid);
  st.st_gid = id_for_caller (req->pid, "gid_map", st.st_gid);
  st.st_rdev = rdev;
  st.st_size = 0;
  st.st_blocks = 0;
  st.st_blksize = BLOCK_DEVICE_BLKSIZE;
  return notify_write_memory (req->pid, call.buf, &st, sizeof st);
}
