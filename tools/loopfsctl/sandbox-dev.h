/* loopfsctl exec: the sandbox's /dev.
 *
 * A tmpfs mounted over /dev in the sandbox's (private) mount namespace,
 * holding what the host's /dev holds except its loop devices: character
 * and other block devices bound from the host, symlinks recreated,
 * mounts below /dev (pts, shm, mqueue, hugepages) bound recursively.
 * In their place: /dev/loopfs, where the instance is mounted, and
 * /dev/loop-control, the instance's.  The /dev/loopN and /dev/loopNpM
 * symlinks to loopfs/loopN... come and go with the nodes (dev-watch.h).
 */
#ifndef LOOPFSCTL_SANDBOX_DEV_H
#define LOOPFSCTL_SANDBOX_DEV_H

/* Where the instance is in the sandbox. */
#define SANDBOX_INSTANCE "/dev/loopfs"

/* Mount the tmpfs over /dev of the current mount namespace (which must
 * be private) and fill it.  Returns 0 or -errno after a message. */
int sandbox_dev_build (void);

/* Bind the instance's loop-control (SANDBOX_INSTANCE/loop-control) over
 * /dev/loop-control, once the instance is there.  Returns 0 or -errno
 * after a message. */
int sandbox_dev_bind_control (void);

/* libblkid's cache (blkid, findfs) as root writes it. */
#define BLKID_CACHE_DIR "/run/blkid"

/* Mount an empty tmpfs over BLKID_CACHE_DIR (made on the host first if
 * it is missing, as libblkid would make it): blkid and findfs in the
 * sandbox, run as root, would otherwise record the sandbox's devices
 * (/dev/loop0p1 of the instance, under a number the host may use for
 * something else) in the host's cache.  Returns 0 or -errno after a
 * message. */
int sandbox_blkid_cache_private (void);

#endif /* LOOPFSCTL_SANDBOX_DEV_H */
