/* loopfsd: partition nodes, loopNpM (see partitions.h).
 *
 * A partition is a regular file in the instance's root, beside its
 * device, sized like the partition.  Its data is a window onto the
 * device: every request is checked against the partition's bounds as
 * the block layer checks it against a partition bdev, moved by the
 * partition's start, and then handed to the device's data path (io.c),
 * so it goes through the same backend and connection as loopN.
 */

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <linux/falloc.h>

#include "device.h"
#include "io.h"
#include "partition-nodes.h"
#include "status.h"

/* Is INO a partition node's number? */
bool
partition_ino (fuse_ino_t ino)
{
  return ino >= PARTITION_INO_BASE
    && ino - PARTITION_INO_BASE < (fuse_ino_t) LOOPFS_MAX_DEVICES
                                  * PARTITION_NUMBERS;
}

/* The partition behind INO and its device, or NULL. */
struct partition *
partition_node (struct daemon *d, fuse_ino_t ino, struct device **dev)
{
  struct loopdev *lo;

  if (!partition_ino (ino))
    return NULL;
  lo = instance_lookup (&d->inst,
                        (ino - PARTITION_INO_BASE) / PARTITION_NUMBERS);
  if (lo == NULL || lo->priv == NULL)
    return NULL;
  if (dev)
    *dev = lo->priv;
  return partition_table_lookup (&device_of (lo)->parts.table,
                                 (ino - PARTITION_INO_BASE)
                                 % PARTITION_NUMBERS);
}

/* Inode number of partition M of loopN. */
static fuse_ino_t
ino_of (int n, int m)
{
  return PARTITION_INO_BASE + (fuse_ino_t) n * PARTITION_NUMBERS + m;
}

/* Look "loopNpM" up (N and M in canonical decimal form: the name must
 * be what the numbers print as). */
int
partition_lookup (struct daemon *d, const char *name, fuse_ino_t *ino,
                  uint64_t *generation)
{
  char canonical[32];
  struct partition *part;
  int n, m;

  if (sscanf (name, "loop%9dp%3d", &n, &m) != 2 || n < 0
      || n >= LOOPFS_MAX_DEVICES || m < 1 || m > PARTITION_MAX_NUMBER)
    return -ENOENT;
  snprintf (canonical, sizeof canonical, "loop%dp%d", n, m);
  if (strcmp (canonical, name) != 0)
    return -ENOENT;
  part = partition_node (d, ino_of (n, m), NULL);
  if (part == NULL)
    return -ENOENT;
  if (ino)
    *ino = ino_of (n, m);
  if (generation)
    *generation = part->generation;
  return 0;
}

/* The size of partition node INO. */
int64_t
partition_node_size (struct daemon *d, fuse_ino_t ino)
{
  struct partition *part = partition_node (d, ino, NULL);

  return part ? (int64_t) partition_size (part) : -ENOENT;
}

/* Extended attribute NAME of partition node INO. */
int
partition_xattr_value (struct daemon *d, fuse_ino_t ino, const char *name,
                       char *buf, size_t size)
{
  struct device *dev;
  struct partition *part = partition_node (d, ino, &dev);
  int n;

  if (part == NULL)
    return -ENODATA;
  n = dev->lo->number;
  if (strcmp (name, XATTR_NODE) == 0)
    return snprintf (buf, size, "loop%dp%d", n, part->number);
  if (strcmp (name, XATTR_NBD) == 0 && dev->nbd_index >= 0)
    return snprintf (buf, size, "/dev/nbd%dp%d", dev->nbd_index,
                     part->number);
  if (strcmp (name, XATTR_STATUS) == 0)
    return partition_status_value (part, dev->lo, buf, size);
  return -ENODATA;
}

/* The INDEX-th device or partition entry of the root directory. */
bool
partition_dir_entry (struct daemon *d, size_t index, char *name, size_t size,
                     fuse_ino_t *ino)
{
  size_t i;

  for (i = 0; i < d->inst.devs.len; i++) {
    struct loopdev *lo = d->inst.devs.ptr[i];
    struct device *dev = lo->priv;
    size_t parts = dev ? dev->parts.table.parts.len : 0;

    if (index == 0) {
      snprintf (name, size, "loop%d", lo->number);
      *ino = DEVICE_INO_BASE + lo->number;
      return true;
    }
    index--;
    if (index < parts) {
      int m = dev->parts.table.parts.ptr[index]->number;
      snprintf (name, size, "loop%dp%d", lo->number, m);
      *ino = ino_of (lo->number, m);
      return true;
    }
    index -= parts;
  }
  return false;
}

/* open(2) of a partition node. */
int
partition_open (struct daemon *d, fuse_ino_t ino, struct device **dev,
                int *number)
{
  struct partition *part = partition_node (d, ino, dev);
  int r;

  if (part == NULL)
    return -ENOENT;
  r = loopdev_open ((*dev)->lo);
  if (r < 0)
    return r;
  part->openers++;
  *number = part->number;
  return 0;
}

/* The last reference to an open partition went away: it and its
 * device have one opener less. */
void
partition_release (struct daemon *d, struct device *dev, int number)
{
  struct partition *part = partition_table_lookup (&dev->parts.table, number);

  if (part && part->openers > 0)
    part->openers--;
  device_handle_release (d, dev);
}

/* The partition of handle H, or NULL with REQ answered EIO: it cannot
 * go while open (BLKPG and BLKRRPART refuse), but the instance may be
 * going away. */
static struct partition *
handle_partition (fuse_req_t req, struct handle *h)
{
  struct partition *part = partition_table_lookup (&h->dev->parts.table,
                                                   h->partition);

  if (part == NULL)
    fuse_reply_err (req, EIO);
  return part;
}

/* read(2) of a partition: a short read at its end. */
void
partition_read (fuse_req_t req, struct handle *h, size_t size, off_t off)
{
  struct partition *part = handle_partition (req, h);
  uint64_t psize;

  if (part == NULL)
    return;
  psize = partition_size (part);
  if (off < 0) {
    fuse_reply_err (req, EINVAL);
    return;
  }
  if (size == 0 || (uint64_t) off >= psize) {
    fuse_reply_buf (req, NULL, 0);
    return;
  }
  if (size > psize - off)
    size = psize - off;
  io_read (req, h->dev, size, off + part->start * LOOPDEV_SECTOR_SIZE);
}

/* write(2) of a partition: EPERM when read-only, ENOSPC at its end, a
 * short write across it. */
void
partition_write (fuse_req_t req, struct handle *h, const char *buf,
                 size_t size, off_t off)
{
  struct partition *part = handle_partition (req, h);
  uint64_t psize;

  if (part == NULL)
    return;
  psize = partition_size (part);
  if (partition_read_only (part, h->dev->lo)) {
    fuse_reply_err (req, EPERM);
    return;
  }
  if (size == 0) {
    fuse_reply_write (req, 0);
    return;
  }
  if (off < 0 || (uint64_t) off >= psize) {
    fuse_reply_err (req, off < 0 ? EINVAL : ENOSPC);
    return;
  }
  if (size > psize - off)
    size = psize - off;
  io_write (req, h->dev, buf, size, off + part->start * LOOPDEV_SECTOR_SIZE);
}

/* fsync(2) of a partition flushes its device. */
void
partition_fsync (fuse_req_t req, struct handle *h)
{
  io_fsync (req, h->dev);
}

/* The fallocate(2) modes blkdev_fallocate() knows. */
#define KNOWN_MODES (FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE \
                     | FALLOC_FL_ZERO_RANGE | FALLOC_FL_NO_HIDE_STALE)

/* fallocate(2) of a partition: the range is checked against the
 * partition (EINVAL outside it, cut at its end with KEEP_SIZE), then
 * the device's rules apply to the moved range. */
void
partition_fallocate (fuse_req_t req, struct handle *h, int mode, off_t off,
                     off_t len)
{
  struct partition *part = handle_partition (req, h);
  uint64_t psize;

  if (part == NULL)
    return;
  psize = partition_size (part);
  /* Unknown modes and negative ranges: the device answers as for
   * itself (EOPNOTSUPP, EINVAL). */
  if ((mode & ~KNOWN_MODES) || off < 0 || len <= 0) {
    io_fallocate (req, h->dev, mode, off, len);
    return;
  }
  if ((uint64_t) off >= psize) {
    fuse_reply_err (req, EINVAL);
    return;
  }
  if ((uint64_t) len > psize - off) {
    if (!(mode & FALLOC_FL_KEEP_SIZE)) {
      fuse_reply_err (req, EINVAL);
      return;
    }
    len = psize - off;
  }
  if (partition_read_only (part, h->dev->lo)
      && (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE))) {
    fuse_reply_err (req, EPERM);
    return;
  }
  io_fallocate (req, h->dev, mode, off + part->start * LOOPDEV_SECTOR_SIZE,
                len);
}
