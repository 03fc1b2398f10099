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

struct notify_server;
struct mount_intercept;

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

#endif /* LOOPFSCTL_SECCOMP_NOTIFY_H */
