/* loopfsctl exec: one seccomp user notification, as its handlers see
 * it (stat-fake.h, mount-intercept.h), and what they may do with it:
 * read and write the caller's memory, check that the caller still
 * waits, and answer.  The server that receives them is
 * seccomp-notify.h.
 */
#ifndef LOOPFSCTL_NOTIFY_CALL_H
#define LOOPFSCTL_NOTIFY_CALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/seccomp.h>

/* What a handler answers besides -errno: */
#define NOTIFY_DONE 0       /* the call succeeded with result 0 (or
                               the handler answered it already) */
#define NOTIFY_CONTINUE 1   /* the kernel runs the call */
#define NOTIFY_LATER 2      /* the handler answers it later itself */

/* One notification as the handlers see it. */
struct notify_call {
  int listener;                     /* for answers and ID_VALID */
  const struct seccomp_notif *req;
  struct caller_lookup *lookup;     /* lookups as the caller */
  dev_t instance_dev;               /* st_dev of the instance's nodes */
  const char *instance;             /* where the instance is mounted */
};

/* Read the NUL-terminated string at ADDR in process
 * PID into BUF (SIZE bytes).  Returns 0 or -errno (-ENAMETOOLONG when
 * it does not fit). */
int notify_read_string (pid_t pid, uint64_t addr, char *buf, size_t size);

/* Read SIZE bytes at ADDR in process PID into BUF.  Returns 0 or
 * -errno (-EFAULT when not all of it could be read). */
int notify_read_memory (pid_t pid, uint64_t addr, void *buf, size_t size);

/* Write SIZE bytes from DATA to ADDR in process PID.  Returns 0 or
 * -errno. */
int notify_write_memory (pid_t pid, uint64_t addr, const void *data,
                         size_t size);

/* Is the notification CALL still pending (the re-check above)? */
bool notify_still_valid (const struct notify_call *call);

/* Answer notification ID on LISTENER: the kernel runs the call when
 * CONT, else it returns ERROR (-errno, or 0 for success). */
void notify_respond (int listener, uint64_t id, int error, bool cont);

/* Answer notification ID on LISTENER with a copy of our descriptor FD
 * (close-on-exec when CLOEXEC), which becomes the call's result.
 * Returns the caller's descriptor number or -errno (-ENOENT: the caller
 * is no longer waiting). */
int notify_respond_fd (int listener, uint64_t id, int fd, bool cloexec);

#endif /* LOOPFSCTL_NOTIFY_CALL_H */
