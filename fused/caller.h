/* loopfsd: reaching into the process that made a FUSE request.
 *
 * FUSE forwards loop ioctls "restricted": LOOP_* numbers encode no size,
 * so the daemon only gets the raw argument and the caller's thread id.
 * These helpers read and write the caller's memory (process_vm_readv /
 * process_vm_writev), take a descriptor from its table (pidfd_getfd),
 * and tell whether it holds a capability.  All need ptrace-attach rights
 * over the caller, which root has (CAP_SYS_PTRACE) and a rootless daemon
 * has over its own user's processes.
 */
#ifndef LOOPFSD_CALLER_H
#define LOOPFSD_CALLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "offload.h"

/* A copy between a caller's memory and ours.  It runs off the loop
 * (offload.h): the caller's page may be a mapping that FUSE fills by
 * asking a daemon, this one included, whose loop must stay free to
 * answer, or the copy would never end. */
struct caller_copy {
  struct offload job;            /* private */
  pid_t pid;                     /* in: the caller (a thread id) */
  uintptr_t addr;                /* in: where in its memory */
  void *buf;                     /* in: our buffer */
  size_t len;                    /* in */
  bool to_caller;                /* in: write BUF there, else read into it */
  int result;                    /* out: 0 or -EFAULT */
  void (*done) (struct caller_copy *copy);   /* in: then, on the loop */
};

/* Start COPY; its DONE runs on the loop once it is over.  Returns 0,
 * or a negative errno without calling DONE. */
int caller_copy_start (struct caller_copy *copy);

/* Duplicate descriptor FD of thread TID (from its own descriptor table,
 * which may not be its process's) into this process.  Returns the new
 * descriptor (close-on-exec) or -EBADF when FD is not an open
 * descriptor there (also for O_PATH descriptors, which fget()
 * refuses), or another negative errno. */
int caller_take_fd (pid_t tid, int fd);

/* True when thread TID is being killed (SIGKILL pending). */
bool caller_dying (pid_t tid);

/* True when thread TID has capability CAP over the instance: CAP in its
 * effective set, in the daemon's user namespace or an ancestor of it
 * (ns_capable() on the instance's namespace, as the loopfs patch asks). */
bool caller_capable (pid_t tid, int cap);

#endif /* LOOPFSD_CALLER_H */
