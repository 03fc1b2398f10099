/* loopfsctl exec: the mount interception's work in a caller's mount
 * namespace (see mount-ns.h). */

#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "mount-caller.h"
#include "mount-ns.h"

/* What the child does in the caller's namespace. */
struct ns_work {
  const char *path;         /* the mount point (or target) */
  uint64_t mnt_id;          /* the mount that must be there */
  int moved;                /* the error when another one is */
  unsigned long flags;      /* umount2's, or mount(2)'s */
  const char *source, *type, *data;   /* ns_mount's */
};

/* 0 if W->path is still the mount W->mnt_id, else W->moved or the
 * lookup's -errno. */
static int
still_mounted (const struct ns_work *w)
{
  struct statx stx;

  if (statx (AT_FDCWD, w->path, AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &stx) < 0)
    return -errno;
  return stx.stx_mnt_id == w->mnt_id ? 0 : w->moved;
}

/* mount(2) as W says. */
static int
mount_work (void *arg)
{
  const struct ns_work *w = arg;

  return mount (w->source, w->path, w->type, w->flags, w->data) < 0
    ? -errno : 0;
}

/* A bind remount of W->path with W->flags, if it is still the mount. */
static int
remount_work (void *arg)
{
  const struct ns_work *w = arg;
  int r = still_mounted (w);

  if (r < 0)
    return r;
  return mount (NULL, w->path, NULL, MS_REMOUNT | MS_BIND | w->flags, NULL)
    < 0 ? -errno : 0;
}

/* umount2 of W->path with W->flags, if it is still the mount. */
static int
unmount_work (void *arg)
{
  const struct ns_work *w = arg;
  int r = still_mounted (w);

  if (r < 0)
    return r;
  return umount2 (w->path, (int) w->flags) < 0 ? -errno : 0;
}

/* A plain mount(2): nothing to check, the caller asked for it. */
int
ns_mount (int mntns, const char *source, const char *path, const char *type,
          unsigned long flags, const char *data)
{
  struct ns_work w = {
    .path = path, .flags = flags, .source = source, .type = type,
    .data = data,
  };

  return caller_in_namespace (mntns, mount_work, &w);
}

/* EBUSY: the mount point is covered by another mount. */
int
ns_remount (int mntns, const char *path, uint64_t mnt_id,
            unsigned long flags)
{
  struct ns_work w = {
    .path = path, .mnt_id = mnt_id, .moved = -EBUSY, .flags = flags,
  };

  return caller_in_namespace (mntns, remount_work, &w);
}

/* EINVAL, as umount2 of a path that is no mount point answers. */
int
ns_unmount (int mntns, const char *path, uint64_t mnt_id, int flags)
{
  struct ns_work w = {
    .path = path, .mnt_id = mnt_id, .moved = -EINVAL,
    .flags = (unsigned long) flags,
  };

  return caller_in_namespace (mntns, unmount_work, &w);
}
