/* loopfsctl exec: the FUSE drivers that serve taken-over mounts.
 *
 * A mount of an instance node (mount-intercept.h) is served by a FUSE
 * filesystem program, so that the image, which the sandbox may have
 * written anything into, is parsed in a process of its own and never by
 * a kernel filesystem driver.  The table maps mount(2)'s filesystem
 * types to Debian's FUSE drivers (fuse2fs for ext2/3/4, fusefat for
 * vfat, exfat-fuse, ntfs-3g, squashfuse, fuseiso for iso9660);
 * --mount-driver TYPE=PROGRAM adds or replaces one, run like a libfuse
 * program: PROGRAM DEVICE MOUNTPOINT -f -o OPTIONS.
 *
 * A driver runs as a child of loopfsctl's supervisor thread (its
 * parent-death signal is SIGKILL) in the caller's mount namespace, where
 * it mounts itself at the caller's target with the caller's source as
 * fsname and the type as subtype (mountinfo: "/dev/loop0 ... fuse.ext4").
 * It stays in loopfsctl's PID namespace, so that it outlives the
 * sandbox's processes long enough to flush when they are gone.
 */
#ifndef LOOPFSCTL_MOUNT_DRIVERS_H
#define LOOPFSCTL_MOUNT_DRIVERS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "vector.h"

/* How a driver takes its arguments. */
enum driver_style {
  DRIVER_LIBFUSE,     /* PROGRAM DEVICE MOUNTPOINT -f -o OPTIONS */
  DRIVER_FUSEISO,     /* PROGRAM -n DEVICE MOUNTPOINT -f -o OPTIONS */
  DRIVER_NTFS3G,      /* PROGRAM -o no_detach,OPTIONS DEVICE MOUNTPOINT */
};

/* Which data options of mount(2) a driver gets (see driver_options). */
enum driver_options {
  OPTIONS_EXT,        /* fuse2fs */
  OPTIONS_FAT,        /* fusefat, exfat-fuse, ntfs-3g: uid=, gid=... */
  OPTIONS_NONE,       /* squashfuse, fuseiso: none */
  OPTIONS_ALL,        /* --mount-driver: every option, unchanged */
};

struct mount_driver {
  char *type;                 /* as mount(2) names it: "ext4" */
  char *program;              /* a name in PATH or a path */
  enum driver_style style;
  enum driver_options options;
  bool libfuse2;              /* refuses a non-empty mount point unless
                                 told "nonempty" (the kernel does not) */
  bool read_only;             /* the filesystem is never writable: its
                                 mounts are read-only, as the kernel's */
  bool output_trace;          /* stdout and stderr are a trace of every
                                 operation (fusefat), not messages for
                                 the log */
  bool names_itself;          /* refuses fsname= and subtype= (ntfs-3g:
                                 its mount shows its device path and the
                                 type "fuse") */
};

DEFINE_VECTOR_TYPE (driver_vector, struct mount_driver);

/* A driver that has mounted. */
struct driver_process {
  pid_t pid;
  int pidfd;                  /* readable when it has exited */
  uint64_t mnt_id;            /* its mount, as statx STATX_MNT_ID says */
};

/* Fill DRIVERS with the built-in table.  Returns 0 or -ENOMEM. */
int mount_drivers_init (driver_vector *drivers);

/* Add or replace the driver of "TYPE=PROGRAM" SPEC.  Returns 0, -EINVAL
 * for a malformed SPEC or -ENOMEM. */
int mount_drivers_set (driver_vector *drivers, const char *spec);

/* The driver for filesystem TYPE, or NULL. */
const struct mount_driver *mount_drivers_find (const driver_vector *drivers,
                                               const char *type);

/* Free what DRIVERS holds. */
void mount_drivers_free (driver_vector *drivers);

/* Whether a mount of filesystem TYPE looks its source up as a block
 * device: false for the types /proc/filesystems marks "nodev" (tmpfs,
 * fuse and its "fuse.SUBTYPE"s...), whose source is any string (fuse2fs
 * run by hand names its device so); true for every other. */
bool mount_type_needs_device (const char *type);

/* Probe the filesystem type of device FD (libblkid, as mount(8) does)
 * into TYPE (SIZE bytes).  Returns 0 or -EINVAL when nothing is
 * recognized. */
int mount_probe_type (int fd, char *type, size_t size);

/* The -o option string for DRV (allocated in *OUT) serving a mount of
 * SOURCE (shown as fsname) with filesystem TYPE, mount(2) FLAGS (with
 * MS_RDONLY already added for a read_only driver) and
 * data options DATA (may be NULL).  Returns 0, -EINVAL (after a
 * message) for a data option the driver cannot honour, or -ENOMEM. */
int mount_driver_options (const struct mount_driver *drv, const char *source,
                          const char *type, unsigned long flags,
                          const char *data, char **out);

/* Start DRV on DEVICE (a path in mount namespace MNTNS, an open
 * descriptor of the caller's) with OPTIONS, mounting at MOUNTPOINT in
 * that namespace, and wait until a FUSE mount there covers mount BELOW
 * (the one MOUNTPOINT is on before).  Returns 0 with
 * *OUT filled, or -errno: -EINVAL when the driver exited first (its
 * own message is on our stderr), -ETIMEDOUT when it did not mount in
 * time (it is killed), another -errno when it could not be run. */
int mount_driver_start (const struct mount_driver *drv, int mntns,
                        const char *device, const char *mountpoint,
                        const char *options, uint64_t below,
                        struct driver_process *out);

/* Wait up to TIMEOUT_MS for driver DP to exit, then kill it; reap it
 * and close its pidfd.  Returns its wait status. */
int mount_driver_reap (struct driver_process *dp, int timeout_ms);

#endif /* LOOPFSCTL_MOUNT_DRIVERS_H */
