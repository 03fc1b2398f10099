/* loopfsctl exec: the sandbox's sysfs view of the instance's devices.
 *
 * losetup -a, -l, -j and --nooverlap list loop devices by reading
 * /sys/block/loop* and /sys/dev/block/7:N/...; lsblk, blkid, partx and
 * findfs find partitions and their disks there too.  In the sandbox a
 * small read-only FUSE filesystem, served by a thread of loopfsctl, is
 * mounted over /sys/block and its hidden directories are bound over
 * /sys/dev/block, /sys/class/block and /sys/devices/virtual/block: of
 * loop devices it shows exactly the instance's, and their partitions
 * (sysfs-partitions.h), in the kernel's file formats (sysfs-disk.h),
 * with every value computed on each read from the node's
 * user.loopfs.status attribute (which never opens the device), so it is
 * always current and loop/ exists only while a device is bound, as
 * with the kernel.  /sys/dev/block/7:N is a symlink to
 * ../../block/loopN, /sys/class/block/loopN one to
 * ../../devices/virtual/block/loopN, the same directory as
 * /sys/block/loopN.  Beside them, the host's other disks
 * (sysfs-host.h).  loopfs-oci mounts the view and binds only
 * /sys/block and /sys/dev/block (sysfs_view_mount_at: without the
 * host's disks, as before).
 */
#ifndef LOOPFSCTL_SYSFS_VIEW_H
#define LOOPFSCTL_SYSFS_VIEW_H

struct sysfs_view;

/* The view's directories that belong over /sys/dev/block,
 * /sys/class/block and /sys/devices/virtual/block. */
#define SYSFS_VIEW_DEV_BLOCK ".dev-block"
#define SYSFS_VIEW_CLASS_BLOCK ".class-block"
#define SYSFS_VIEW_VIRTUAL_BLOCK ".virtual-block"

/* Mount the view of the instance mounted at INSTANCE over /sys/block
 * and /sys/dev/block of the current mount namespace and serve it from a
 * thread.  Returns 0 or -errno after a message. */
int sysfs_view_mount (const char *instance, struct sysfs_view **out);

/* Mount the view of the instance mounted at INSTANCE on directory DIR
 * of the host (for loopfs-oci, which binds DIR over the container's
 * /sys/block and DIR/SYSFS_VIEW_DEV_BLOCK over its /sys/dev/block) and
 * serve it from a thread.  The mount goes away if the process dies.
 * Returns 0 or -errno after a message. */
int sysfs_view_mount_at (const char *instance, const char *dir,
                         struct sysfs_view **out);

/* Unmount the view, stop its thread and free SV; NULL is allowed. */
void sysfs_view_unmount (struct sysfs_view *sv);

#endif /* LOOPFSCTL_SYSFS_VIEW_H */
