/* loopfsctl exec: what the mount interception asks of a caller and its
 * namespace.
 *
 * The decisions of mount-intercept.c rest on these: is the source the
 * caller looked up a device node of the instance, may the caller mount
 * at all (the kernel's check, which runs before anything else), and
 * where its namespace has a path; and the one way into its mount
 * namespace: a child process that enters it, since a thread of a
 * process with several cannot.
 */
#ifndef LOOPFSCTL_MOUNT_CALLER_H
#define LOOPFSCTL_MOUNT_CALLER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Room for "loopN" and "loopNpM". */
#define NODE_MAX 32

/* Whether FD (O_PATH, from a lookup as the caller) is a device node of
 * the instance whose nodes are on INSTANCE_DEV: then its name, "loopN"
 * or "loopNpM", is in NODE (NODE_MAX bytes). */
bool caller_instance_node (dev_t instance_dev, int fd, char *node);

/* Whether the device behind node FD, named NODE, is bound. */
bool caller_node_bound (int fd, const char *node);

/* Whether the device behind node FD is read-only (BLKROGET's answer,
 * losetup -r or blockdev --setro). */
bool caller_node_read_only (int fd);

/* Whether process PID may mount as the kernel decides it for us: in our
 * user namespace with CAP_SYS_ADMIN effective. */
bool caller_may_mount (pid_t pid);

/* The mount id of FD's place (0 if unknown); *IS_ROOT (if not NULL)
 * says whether FD is the root of that mount. */
uint64_t caller_mount_id (int fd, bool *is_root);

/* FD's absolute path in its own mount namespace (our /proc shows it so)
 * into OUT (PATH_MAX bytes).  Returns 0 or -ENOENT for a path that
 * cannot be named again (deleted, unreachable). */
int caller_fd_path (int fd, char *out);

/* The id of the topmost mount at MOUNTPOINT whose type begins with
 * FSTYPE in the mount namespace of process PID (its mountinfo), or 0. */
uint64_t caller_mount_at (pid_t pid, const char *mountpoint,
                          const char *fstype);

/* Open the mount namespace of process PID.  Returns the descriptor or
 * -errno. */
int caller_open_mntns (pid_t pid);

/* Run FN (ARG) in a child process in mount namespace MNTNS.  FN returns
 * 0 or -errno, which is returned. */
int caller_in_namespace (int mntns, int (*fn) (void *), void *arg);

#endif /* LOOPFSCTL_MOUNT_CALLER_H */
