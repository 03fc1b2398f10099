/* loopfsctl exec: the mount interception's work in a caller's mount
 * namespace.
 *
 * Each call is one mount(2) or umount2(2) done in a child process that
 * enters the caller's namespace (caller_in_namespace, mount-caller.h).
 * A path the caller named is looked up again there, so a remount or an
 * unmount first checks that it still leads to the mount meant: the
 * caller may have changed its namespace since.
 */
#ifndef LOOPFSCTL_MOUNT_NS_H
#define LOOPFSCTL_MOUNT_NS_H

#include <stdint.h>

/* Mount SOURCE at PATH with TYPE, FLAGS and DATA (mount(2)'s arguments)
 * in mount namespace MNTNS.  Returns 0 or -errno. */
int ns_mount (int mntns, const char *source, const char *path,
              const char *type, unsigned long flags, const char *data);

/* Give mount MNT_ID at PATH in MNTNS the per-mount flags FLAGS (a bind
 * remount).  Returns 0, -EBUSY when PATH is another mount now, or
 * -errno. */
int ns_remount (int mntns, const char *path, uint64_t mnt_id,
                unsigned long flags);

/* Unmount PATH in MNTNS with umount2's FLAGS if it is still mount
 * MNT_ID.  Returns 0, -EINVAL when it is another mount now, or
 * -errno. */
int ns_unmount (int mntns, const char *path, uint64_t mnt_id, int flags);

#endif /* LOOPFSCTL_MOUNT_NS_H */
