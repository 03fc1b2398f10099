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

/* Copy LEN bytes at ADDR in process PID into BUF: 0 or -EFAULT. */
int caller_read (pid_t pid, uintptr_t addr, void *buf, size_t len);

/* Copy LEN bytes from BUF to ADDR in process PID: 0 or -EFAULT. */
int caller_write (pid_t pid, uintptr_t addr, const void *buf, size_t len);

/* Duplicate descriptor FD of the process that thread TID belongs to into
 * this process.  Returns the new descriptor (close-on-exec) or -EBADF
 * when FD is not an open descriptor there (also for O_PATH descriptors,
 * which fget() refuses), or another negative errno. */
int caller_take_fd (pid_t tid, int fd);

/* True when thread TID has capability CAP over the instance: CAP in its
 * effective set, in the daemon's user namespace or an ancestor of it
 * (ns_capable() on the instance's namespace, as the loopfs patch asks). */
bool caller_capable (pid_t tid, int cap);

#endif /* LOOPFSD_CALLER_H */
