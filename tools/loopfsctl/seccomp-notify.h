/* loopfsctl exec: the seccomp user-notification supervisor.
 *
 * COMMAND runs under a seccomp filter that refuses mknod of block
 * devices and of the host's loop-control (EPERM) and hands some calls
 * to loopfsctl as user notifications: the stat family (stat-fake.h)
 * and, when mounts are intercepted, mount, umount2 and the new mount
 * API's fsopen, fsconfig, fsmount, mount_setattr and move_mount
 * (mount-intercept.h).  A thread of loopfsctl receives them,
 * asks the handler of the call, and answers: a result of its own, an
 * errno, or "continue", which lets the kernel run the call unchanged
 * (SECCOMP_USER_NOTIF_FLAG_CONTINUE), so that whatever the handlers do
 * not recognize behaves as without the sandbox.
 *
 * The handlers look paths up as the caller would (caller-lookup.h) and
 * answer only after SECCOMP_IOCTL_NOTIF_ID_VALID says the caller is
 * still waiting: only then were the pid, its memory and its /proc
 * directory the caller's (the TOCTOU re-check).
 */
#ifndef LOOPFSCTL_SECCOMP_NOTIFY_H
#define LOOPFSCTL_SECCOMP_NOTIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/seccomp.h>

struct notify_server;
struct mount_intercept;

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
};

/* In COMMAND's process, between fork and exec: install the filter
 * (with the mount calls when MOUNTS) and send its listener over unix
 * socket SOCKET (closed afterwards).  Returns 0 or -errno after a
 * message. */
int notify_install (int socket, bool mounts);

/* In loopfsctl: start a thread that receives the listener from SOCKET
 * (taking ownership of it) and answers the notifications for the
 * instance mounted at INSTANCE, the mount calls with MOUNTS (taking
 * ownership of it; NULL: they continue).  Returns 0 or -errno after a
 * message. */
int notify_start (int socket, const char *instance,
                  struct mount_intercept *mounts, struct notify_server **out);

/* For a listener received by other means (loopfs-oci's supervisor gets
 * it from the OCI runtime): start a thread that answers the stat
 * notifications of LISTENER (taking ownership of it) for the instance
 * mounted at INSTANCE.  Returns 0 or -errno after a message. */
int notify_serve (int listener, const char *instance,
                  struct notify_server **out);

/* Has NS's thread finished (every process under its listener is
 * gone)?  Then notify_stop frees it at once. */
bool notify_finished (struct notify_server *ns);

/* Stop answering (once COMMAND and its descendants are gone): the
 * taken-over mounts are unmounted and their drivers waited for first.
 * Frees NS; NULL is allowed. */
void notify_stop (struct notify_server *ns);

/* For the handlers: read the NUL-terminated string at ADDR in process
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

#endif /* LOOPFSCTL_SECCOMP_NOTIFY_H */
