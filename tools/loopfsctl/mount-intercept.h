/* loopfsctl exec: mount(2) of the instance's devices in the sandbox.
 *
 * The instance's nodes are FUSE regular files, which the kernel refuses
 * as the source of a block filesystem (ENOTBLK).  With mount
 * interception (loopfsctl exec --mount=fuse, the default, or
 * --mount=kernel) the seccomp filter (seccomp-notify.h) also hands
 * mount, umount2, fsconfig and fsmount to loopfsctl.  A new mount whose
 * source, looked up as the caller would, is an instance node (loopN or
 * loopNpM) is taken over:
 *
 *  - fuse: a FUSE driver for the type (mount-drivers.h; "auto" is
 *    probed with libblkid) mounts the node at the caller's target in
 *    the caller's mount namespace, with the caller's source shown as the
 *    mount's source and the type as its subtype ("fuse.ext4").  umount2
 *    of such a mount (any flags) is done for the caller and answered only
 *    when the driver has exited, so its data is on the device and the
 *    device closed (AUTOCLEAR detaches it then).  When the sandbox ends
 *    (mount_intercept_finish) every driver is told to unmount and
 *    waited for.
 *  - kernel: the device's kernel NBD device (user.loopfs.nbd) is mounted
 *    instead, with the caller's type, flags and data.
 *
 * Every other call, and every call whose source is something else,
 * runs in the kernel unchanged.  The new mount API reaches the kernel
 * unchanged too, and fails there as it does without the sandbox: its
 * source is only parsed when the context is created.
 */
#ifndef LOOPFSCTL_MOUNT_INTERCEPT_H
#define LOOPFSCTL_MOUNT_INTERCEPT_H

#include <poll.h>
#include <stddef.h>

#include "notify-call.h"

enum mount_mode {
  MOUNT_MODE_FUSE,
  MOUNT_MODE_KERNEL,
  MOUNT_MODE_OFF,
};

struct mount_intercept;

/* Make the interception state for MODE (not MOUNT_MODE_OFF) with the
 * built-in drivers.  Returns 0 or -ENOMEM. */
int mount_intercept_new (enum mount_mode mode, struct mount_intercept **out);

/* Add or replace a driver: "TYPE=PROGRAM".  Returns 0, -EINVAL or
 * -ENOMEM. */
int mount_intercept_set_driver (struct mount_intercept *mi, const char *spec);

/* Answer the mount-call notification NC: NOTIFY_DONE, NOTIFY_CONTINUE,
 * NOTIFY_LATER (an umount waiting for its driver) or -errno. */
int mount_intercept_answer (struct mount_intercept *mi,
                            const struct notify_call *nc);

/* Put the descriptors to poll for MI's drivers into FDS (at most MAX);
 * returns how many. */
size_t mount_intercept_pollfds (struct mount_intercept *mi,
                                struct pollfd *fds, size_t max);

/* Handle what poll said of the N descriptors FDS of
 * mount_intercept_pollfds: reap drivers that exited, answering on
 * LISTENER the umounts that waited for them. */
void mount_intercept_events (struct mount_intercept *mi, int listener,
                             const struct pollfd *fds, size_t n);

/* End every taken-over mount: tell its driver to unmount and flush, and
 * wait for it (killing it after a while).  Waiting umounts are
 * answered on LISTENER. */
void mount_intercept_finish (struct mount_intercept *mi, int listener);

/* Free MI (after mount_intercept_finish); NULL is allowed. */
void mount_intercept_free (struct mount_intercept *mi);

#endif /* LOOPFSCTL_MOUNT_INTERCEPT_H */
