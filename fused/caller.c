/* loopfsd: the caller's memory, descriptors and capabilities. */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <linux/nsfs.h>
#include <unistd.h>

#include "caller.h"
#include "cleanup.h"

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif

/* Make the copy (on the job's thread). */
static void
copy_work (struct offload *job)
{
  struct caller_copy *c = (struct caller_copy *) job;
  struct iovec local = { .iov_base = c->buf, .iov_len = c->len };
  struct iovec remote = { .iov_base = (void *) c->addr, .iov_len = c->len };
  ssize_t n = c->to_caller
    ? process_vm_writev (c->pid, &local, 1, &remote, 1, 0)
    : process_vm_readv (c->pid, &local, 1, &remote, 1, 0);

  c->result = n == (ssize_t) c->len ? 0 : -EFAULT;
}

/* Report the copy on the loop. */
static void
copy_done (struct offload *job)
{
  struct caller_copy *c = (struct caller_copy *) job;

  c->done (c);
}

/* Start COPY off the loop. */
int
caller_copy_start (struct caller_copy *copy)
{
  return offload_run (&copy->job, copy_work, copy_done);
}

/* Read one "Key:\tvalue" line of /proc/TID/status into VALUE. */
static int
read_status_field (pid_t tid, const char *key, char *value, size_t size)
{
  char path[64], line[256];
  size_t klen = strlen (key);
  FILE *f;
  int r = -ENOENT;

  snprintf (path, sizeof path, "/proc/%d/status", (int) tid);
  f = fopen (path, "re");
  if (f == NULL)
    return -errno;
  while (fgets (line, sizeof line, f)) {
    if (strncmp (line, key, klen) == 0 && line[klen] == ':') {
      const char *v = line + klen + 1;
      v += strspn (v, " \t");
      snprintf (value, size, "%.*s", (int) strcspn (v, "\n"), v);
      r = 0;
      break;
    }
  }
  fclose (f);
  return r;
}

/* A pidfd for thread TID, through which pidfd_getfd() reads that
 * thread's descriptor table: a thread made without CLONE_FILES (or
 * after unshare(CLONE_FILES)) has a table of its own, and LOOP_SET_FD
 * takes the descriptor from the caller's table, not its leader's.
 * PIDFD_THREAD exists since Linux 6.9; before it, pidfd_open() wants a
 * thread-group leader, so the Tgid is looked up and its (shared) table
 * used. */
static int
thread_pidfd (pid_t tid)
{
  char tgid[32];
  int pidfd = pidfd_open (tid, PIDFD_THREAD);

  if (pidfd >= 0 || errno != EINVAL)
    return pidfd < 0 ? -errno : pidfd;
  if (read_status_field (tid, "Tgid", tgid, sizeof tgid) < 0)
    return -ESRCH;
  pidfd = pidfd_open (atoi (tgid), 0);
  return pidfd < 0 ? -errno : pidfd;
}

/* Duplicate descriptor FD of the caller into this process. */
int
caller_take_fd (pid_t tid, int fd)
{
  CLEANUP_CLOSE int pidfd = -1;
  int newfd, flags;

  if (fd < 0)
    return -EBADF;
  pidfd = thread_pidfd (tid);
  if (pidfd < 0)
    return pidfd;
  newfd = pidfd_getfd (pidfd, fd, 0);
  if (newfd < 0)
    return errno == EBADF ? -EBADF : -errno;
  /* fget() in the kernel does not return O_PATH files: LOOP_SET_FD on
   * one fails with EBADF. */
  flags = fcntl (newfd, F_GETFL);
  if (flags < 0 || (flags & O_PATH)) {
    close (newfd);
    return -EBADF;
  }
  return newfd;
}

/* True when TID is being killed: SIGKILL pending for the thread or its
 * process ("SigPnd" / "ShdPnd" of /proc/TID/status, hex masks whose bit
 * N-1 stands for signal N). */
bool
caller_dying (pid_t tid)
{
  static const char *const keys[] = { "SigPnd", "ShdPnd" };
  char value[64];

  for (size_t i = 0; i < 2; i++)
    if (read_status_field (tid, keys[i], value, sizeof value) == 0
        && (strtoull (value, NULL, 16) & (1ULL << (SIGKILL - 1))))
      return true;
  return false;
}

/* True when user namespace NS (a descriptor) is the one at PATH or has
 * it among its ancestors, as far as NS_GET_PARENT lets us walk (it stops
 * at the root of the daemon's own namespace scope). */
static bool
ns_is_or_below (int ns, const struct stat *target)
{
  CLEANUP_CLOSE int cur = dup (ns);
  struct stat st;

  while (cur >= 0 && fstat (cur, &st) == 0) {
    int parent;

    if (st.st_ino == target->st_ino && st.st_dev == target->st_dev)
      return true;
    parent = ioctl (cur, NS_GET_PARENT);
    close (cur);
    cur = parent;
  }
  return false;
}

/* True when TID has CAP over the instance: ns_capable() on the
 * instance's user namespace (the daemon's), i.e. TID has CAP in its
 * effective set and lives in that namespace or in one of its
 * ancestors.  A process in a child namespace (a container's root) is
 * not capable over an instance mounted outside it. */
bool
caller_capable (pid_t tid, int cap)
{
  char value[64], path[64];
  CLEANUP_CLOSE int ours = -1;
  struct stat theirs;
  unsigned long long eff;

  if (read_status_field (tid, "CapEff", value, sizeof value) < 0)
    return false;
  eff = strtoull (value, NULL, 16);
  if (!(eff & (1ULL << cap)))
    return false;
  snprintf (path, sizeof path, "/proc/%d/ns/user", (int) tid);
  ours = open ("/proc/self/ns/user", O_RDONLY | O_CLOEXEC);
  if (ours < 0 || stat (path, &theirs) < 0)
    return false;
  return ns_is_or_below (ours, &theirs);
}
