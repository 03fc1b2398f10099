/* loopfs: the contract between loopfsd and the tools that read it.
 *
 * loopfsd describes its nodes in extended attributes and reads the
 * host's per-user device limit from a file; loopfsctl reads the same
 * attributes and the same file.  Every name, key and bound that both
 * sides must agree on is written here once, and loopfsd(8) documents
 * them for everybody else.
 *
 * Like the rest of include/, this is a header only: the per-user limit
 * reader is small enough to be static inline, and both programs get it
 * without a library of their own.
 */
#ifndef LOOPFS_INTERFACE_H
#define LOOPFS_INTERFACE_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>
#include <linux/loop.h>

/* The node of an instance that makes and removes devices. */
#define CONTROL_NAME "loop-control"

/* Extended attributes loopfsd answers on its nodes (see loopfsd(8)). */
#define XATTR_NODE "user.loopfs.node"        /* "loop-control", "loopN",
                                                "loopNpM" */
#define XATTR_NBDKIT_PID "user.loopfs.nbdkit-pid"
#define XATTR_NBD "user.loopfs.nbd"            /* "/dev/nbdX" when attached */
#define XATTR_STATUS "user.loopfs.status"      /* STATUS_KEY_* lines */
#define XATTR_INSTANCE "user.loopfs.instance"  /* on loop-control:
                                                  INSTANCE_KEY_* lines */

/* No value is longer than this: a status holds a path and a name of at
 * most LO_NAME_SIZE, both escaped (status-escape.h: up to four bytes
 * each), and numbers, with room to spare. */
#define XATTR_VALUE_MAX (4 * PATH_MAX + 4 * LO_NAME_SIZE + 512)

/* The keys of user.loopfs.status, one "key=value" line each, in this
 * order.  The first five are always there; the rest only while the
 * device is bound (state "bound" or "rundown").  Readers skip keys they
 * do not know: a newer loopfsd may say more. */
#define STATUS_KEY_STATE "state"          /* unbound, binding, bound,
                                             rundown, deleting */
#define STATUS_KEY_SIZE "size"            /* bytes */
#define STATUS_KEY_RO "ro"                /* 0 or 1, as BLKROGET */
#define STATUS_KEY_LOGICAL_BLOCK_SIZE "logical_block_size"
#define STATUS_KEY_PHYSICAL_BLOCK_SIZE "physical_block_size"
#define STATUS_KEY_BACKING_FILE "backing_file"  /* path, as sysfs has it */
#define STATUS_KEY_FILE_NAME "file_name"  /* lo_file_name */
#define STATUS_KEY_OFFSET "offset"
#define STATUS_KEY_SIZELIMIT "sizelimit"
#define STATUS_KEY_AUTOCLEAR "autoclear"  /* the LO_FLAGS_*, 0 or 1 */
#define STATUS_KEY_PARTSCAN "partscan"
#define STATUS_KEY_DIO "dio"
#define STATUS_KEY_READ_ONLY "read_only"
#define STATUS_KEY_BACKING_DEV "backing_dev"    /* major:minor */
#define STATUS_KEY_BACKING_INODE "backing_inode"

/* Partition nodes.  A partition M of loopN is the regular file
 * "loopNpM" in the instance's root, beside its device, whose st_size is
 * the partition's size.  XATTR_NODE on it answers "loopNpM", XATTR_NBD
 * "/dev/nbdXpM" when the device has a kernel NBD device, and
 * XATTR_STATUS these lines, in this order (readers skip keys they do not
 * know).  The node exists from the scan or BLKPG that made the
 * partition until the partition is deleted or its device detached. */
#define PARTITION_KEY_PARENT "parent"     /* "loopN" */
#define PARTITION_KEY_PARTITION "partition" /* M, as sysfs "partition" */
#define PARTITION_KEY_START "start"       /* in 512-byte sectors, as
                                             sysfs "start" */
#define PARTITION_KEY_SIZE "size"         /* bytes */
#define PARTITION_KEY_RO "ro"             /* 0 or 1, as BLKROGET */

/* Node watchers (loopfsd(8), NODE WATCHERS): how a sandbox keeps a
 * /dev of its own in step with the instance, as devtmpfs is kept in step
 * with the kernel's devices.  ioctl (loop-control, LOOPFS_CTL_WATCH, S),
 * S a descriptor of the caller: one end of an AF_UNIX SOCK_SEQPACKET
 * pair.  loopfsd keeps a duplicate of it and, before it answers a call
 * that made or removed nodes (LOOP_CTL_ADD, LOOP_CTL_GET_FREE,
 * LOOP_CTL_REMOVE, unlink, and partition changes), sends one message per
 * node, "SEQ add NAME" or "SEQ remove NAME" (SEQ a decimal number that
 * grows by one per message of the instance, NAME "loopN" or "loopNpM"),
 * and waits until every watcher has sent back a message "SEQ" for the
 * last of them, at most NODE_WATCH_TIMEOUT_MS for all watchers
 * together.  A watcher that hangs up, or does not answer in time, is
 * dropped: its socket is closed, and nothing waits for it again.
 * Errors: EBADF (S is no descriptor), EINVAL (not such a socket),
 * ENOSPC (NODE_WATCH_MAX watchers already). */
#define LOOPFS_CTL_WATCH 0x4CF0   /* _IO ('L', 0xF0), no loop number */
#define NODE_WATCH_MAX 64
#define NODE_WATCH_TIMEOUT_MS 2000
#define NODE_WATCH_MESSAGE_MAX 64 /* bytes, with NAME of up to 31 */

/* The keys of user.loopfs.instance on loop-control, in this order. */
#define INSTANCE_KEY_PID "pid"            /* the daemon */
#define INSTANCE_KEY_MAX "max"            /* -o max=N */
#define INSTANCE_KEY_DEVICES "devices"    /* loopN allocated */
#define INSTANCE_KEY_BOUND "bound"        /* of which bound or rundown */
#define INSTANCE_KEY_NBD "nbd"            /* "on" or "off" */
#define INSTANCE_KEY_CONNECTIONS "connections"  /* per bound device */

/* The kernel cannot number a loop device at or above 1 << MINORBITS
 * (add_disk refuses the minor), so devices are loop0 to
 * loop<LOOPFS_MAX_INDEX>, and no instance (max=) and no user (the
 * per-user limit) can have more than LOOPFS_MAX_DEVICES of them. */
#define LOOPFS_MAX_DEVICES (1 << 20)
#define LOOPFS_MAX_INDEX (LOOPFS_MAX_DEVICES - 1)

/* The per-user limit on devices across all instances, the userspace
 * counterpart of the loopfs patch's /proc/sys/user/max_loop_devices:
 * one number from 0 to USER_LIMIT_MAX in USER_LIMIT_FILE, or
 * USER_LIMIT_DEFAULT when the file does not exist. */
#define USER_LIMIT_FILE "/etc/loopfs/max_loop_devices"
#define USER_LIMIT_DEFAULT 255u
#define USER_LIMIT_MAX ((unsigned) LOOPFS_MAX_DEVICES)

/* Parse TEXT, the contents of USER_LIMIT_FILE, into *LIMIT: one decimal
 * number from 0 to USER_LIMIT_MAX (as strtoul reads it), optionally
 * followed by spaces and newlines.  Returns 0 or -EINVAL; *LIMIT is
 * unchanged on failure. */
static inline int
user_limit_parse (const char *text, unsigned *limit)
{
  unsigned long v;
  char *end;

  errno = 0;
  v = strtoul (text, &end, 10);
  /* No digits at all (also a file of blanks only) is no number. */
  if (end == text)
    return -EINVAL;
  while (*end == '\n' || *end == ' ')
    end++;
  if (*end != '\0' || errno != 0 || v > USER_LIMIT_MAX)
    return -EINVAL;
  *limit = v;
  return 0;
}

/* Read the per-user limit from USER_LIMIT_FILE into *LIMIT
 * (USER_LIMIT_DEFAULT when the file does not exist).  Prints nothing:
 * returns 0, -EINVAL when the file does not hold a number from 0 to
 * USER_LIMIT_MAX, or another -errno when it cannot be read. */
static inline int
user_limit_file_read (unsigned *limit)
{
  char buf[32];
  ssize_t n;
  int fd = open (USER_LIMIT_FILE, O_RDONLY | O_CLOEXEC);

  if (fd < 0) {
    if (errno != ENOENT)
      return -errno;
    *limit = USER_LIMIT_DEFAULT;
    return 0;
  }
  n = read (fd, buf, sizeof buf - 1);
  if (n < 0) {
    int r = -errno;

    close (fd);
    return r;
  }
  close (fd);
  buf[n] = '\0';
  return user_limit_parse (buf, limit);
}

#endif /* LOOPFS_INTERFACE_H */
