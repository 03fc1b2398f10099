/* loopfsd: scanning a device's partition table (see partitions.h).
 *
 * The table is parsed by libblkid's partition prober, which knows the
 * same formats as the kernel's parsers and numbers partitions the same
 * way (MBR primary 1-4 and logical from 5, GPT in entry order, unused
 * entries leaving holes).  It reads on a thread of its own (offload.h):
 * the backing file may be on a hung filesystem.
 *
 * It reads the backing file, at lo_offset for the device's size, not
 * the device through its NBD connection.  The two hold the same data:
 * the backend is nbdkit's file plugin on this very file, every write
 * through loopN or loopNpM is acknowledged only once nbdkit has written
 * it to the file, and loopfsd caches nothing (direct_io), so a read of
 * the file after an acknowledged write sees it.  Reading the file keeps
 * the scan out of the device's request queue and needs no NBD client on
 * the scanning thread.  It never reads through this daemon's own mount,
 * which would deadlock: a node of any loopfs instance is refused as a
 * backing file (LOOP_BACKING_SELF, LOOP_BACKING_LOOPFS).
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/capability.h>
#include <linux/fs.h>
#include <blkid.h>

#include "caller.h"
#include "device.h"
#include "log.h"
#include "offload.h"
#include "node-watch.h"
#include "partitions.h"

/* A scan under way. */
struct scan_work {
  struct offload job;            /* first: the job is the request */
  struct daemon *d;
  struct device *dev;
  int path_fd;                   /* our O_PATH duplicate of the backing
                                    descriptor */
  uint64_t offset, size;         /* the device's extent in it */
  uint32_t sector_size;          /* the device's logical block size */
  bool rescan;                   /* BLKRRPART: its errors are the answer */
  struct partition_entry *entries;
  size_t n;
  int err;
  partitions_done_cb done;
  void *opaque;
};

/* Read the partition table (on the job's thread). */
static void
scan_run (struct offload *job)
{
  struct scan_work *w = (struct scan_work *) job;
  blkid_probe pr = NULL;
  blkid_partlist list;
  char path[64];
  int fd, i, count, r;

  /* The daemon keeps backing files as O_PATH descriptors: reading
   * needs a descriptor of our own, with its own file position. */
  snprintf (path, sizeof path, "/proc/self/fd/%d", w->path_fd);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    w->err = -errno;
    goto out;
  }
  pr = blkid_new_probe ();
  if (pr == NULL) {
    w->err = -ENOMEM;
    goto out;
  }
  if (blkid_probe_set_device (pr, fd, w->offset, w->size) < 0
      || blkid_probe_set_sectorsize (pr, w->sector_size) < 0) {
    w->err = -EIO;
    goto out;
  }
  blkid_probe_enable_superblocks (pr, 0);
  blkid_probe_enable_partitions (pr, 1);
  r = blkid_do_fullprobe (pr);
  if (r < 0) {
    w->err = -EIO;
    goto out;
  }
  list = r == 0 ? blkid_probe_get_partitions (pr) : NULL;
  count = list ? blkid_partlist_numof_partitions (list) : 0;
  if (count <= 0)
    goto out;
  w->entries = calloc (count, sizeof *w->entries);
  if (w->entries == NULL) {
    w->err = -ENOMEM;
    goto out;
  }
  for (i = 0; i < count; i++) {
    blkid_partition par = blkid_partlist_get_partition (list, i);
    blkid_loff_t start, size;

    if (par == NULL)
      continue;
    start = blkid_partition_get_start (par);
    size = blkid_partition_get_size (par);
    if (start < 0 || size <= 0)
      continue;
    w->entries[w->n++] = (struct partition_entry) {
      .number = blkid_partition_get_partno (par),
      .start = start, .length = size,
      .extended = blkid_partition_is_extended (par) != 0,
    };
  }
out:
  if (pr)
    blkid_free_probe (pr);
  if (fd >= 0)
    close (fd);
  close (w->path_fd);
}

/* Give the partitions of DEV that have no FUSE generation one: they
 * are new nodes. */
static void
number_new_nodes (struct daemon *d, struct device *dev)
{
  partition_vector *v = &dev->parts.table.parts;
  size_t i;

  for (i = 0; i < v->len; i++)
    if (v->ptr[i]->generation == 0)
      v->ptr[i]->generation = ++d->generation;
}

/* The scan is over (on the loop): its partitions replace the old ones,
 * unless the device was cleared meanwhile or, for BLKRRPART, a
 * partition was opened. */
static void
scan_done (struct offload *job)
{
  struct scan_work *w = (struct scan_work *) job;
  struct device *dev = w->dev;
  struct loopdev *lo = dev->lo;
  int r = w->err;

  if (r == 0 && lo->state == LOOPDEV_BOUND) {
    if (partition_table_open_count (&dev->parts.table) > 0)
      r = -EBUSY;
    else
      r = partition_table_replace (&dev->parts.table, lo, w->entries, w->n);
    if (r == 0) {
      number_new_nodes (w->d, dev);
      partitions_mirror_to_nbd (dev);
      node_watch_partitions (w->d->watch, lo->number, &dev->parts.table);
    }
  }
  if (r < 0)
    log_error ("loop%d: partition scan failed: %s", lo->number,
               strerror (-r));
  /* Answered once the node watchers have the /dev entries. */
  node_watch_sync (w->d->watch, w->done, w->opaque, w->rescan ? r : 0);
  free (w->entries);
  free (w);
}

/* Start a scan of DEV; false when it could not start (*ERR says why). */
static bool
scan_start (struct daemon *d, struct device *dev, bool rescan,
            partitions_done_cb done, void *opaque, int *err)
{
  struct loopdev *lo = dev->lo;
  struct scan_work *w;

  *err = -EIO;
  if (dev->backing_fd < 0)
    return false;
  w = calloc (1, sizeof *w);
  if (w == NULL) {
    *err = -ENOMEM;
    return false;
  }
  *w = (struct scan_work) {
    .d = d, .dev = dev, .offset = lo->b.offset, .size = loopdev_size (lo),
    .sector_size = loopdev_logical_block_size (lo), .rescan = rescan,
    .done = done, .opaque = opaque,
  };
  /* A duplicate of our descriptor: the device may be cleared, and its
   * descriptor closed, while the scan reads. */
  w->path_fd = fcntl (dev->backing_fd, F_DUPFD_CLOEXEC, 3);
  if (w->path_fd < 0) {
    *err = -errno;
    free (w);
    return false;
  }
  *err = offload_run (&w->job, scan_run, scan_done);
  if (*err < 0) {
    close (w->path_fd);
    free (w);
    return false;
  }
  return true;
}

/* Scan DEV when a new medium or LO_FLAGS_PARTSCAN calls for it. */
bool
partitions_scan_if_due (struct daemon *d, struct device *dev,
                        partitions_done_cb done, void *opaque)
{
  struct loopdev *lo = dev->lo;
  bool partscan = lo->state == LOOPDEV_BOUND
    && (lo->b.flags & LO_FLAGS_PARTSCAN);
  bool due = partscan && (!dev->parts.seen_partscan
                          || dev->parts.seen_diskseq != lo->diskseq);
  int err;

  dev->parts.seen_partscan = partscan;
  dev->parts.seen_diskseq = lo->diskseq;
  if (!due)
    return false;
  /* bdev_disk_changed() refuses while a partition is open; the loop
   * driver only logs that. */
  if (partition_table_open_count (&dev->parts.table) > 0)
    return false;
  if (!scan_start (d, dev, false, done, opaque, &err)) {
    log_error ("loop%d: partition scan: %s", lo->number, strerror (-err));
    return false;
  }
  return true;
}

/* BLKRRPART's refusals. */
int
partitions_rescan_check (fuse_req_t req, struct device *dev)
{
  if (!caller_capable (fuse_req_ctx (req)->pid, CAP_SYS_ADMIN))
    return -EACCES;
  return partition_table_rescan_check (&dev->parts.table, dev->lo);
}

/* BLKRRPART: scan again. */
void
partitions_rescan (struct daemon *d, struct device *dev,
                   partitions_done_cb done, void *opaque)
{
  int err;

  if (!scan_start (d, dev, true, done, opaque, &err))
    done (opaque, err);
}

/* DEV was cleared: drop its partitions. */
void
partitions_drop (struct device *dev)
{
  partition_table_free (&dev->parts.table);
  dev->parts.seen_partscan = false;
  dev->parts.seen_diskseq = dev->lo->diskseq;
  partitions_mirror_to_nbd (dev);
}

/* A kernel NBD device's reread, in the background. */
struct mirror_work {
  struct offload job;
  int fd;
};

/* Ask the kernel to reread /dev/nbdX's partitions (on the job's
 * thread: the kernel reads the table through this daemon's nbdkit). */
static void
mirror_run (struct offload *job)
{
  struct mirror_work *w = (struct mirror_work *) job;

  if (ioctl (w->fd, BLKRRPART) < 0 && errno != EBUSY)
    log_error ("BLKRRPART on the kernel NBD device: %s", strerror (errno));
  close (w->fd);
}

/* The reread is over. */
static void
mirror_done (struct offload *job)
{
  free (job);
}

/* Have the kernel reread the partitions of DEV's /dev/nbdX. */
void
partitions_mirror_to_nbd (struct device *dev)
{
  struct mirror_work *w;

  if (dev->nbd_fd < 0 || (w = calloc (1, sizeof *w)) == NULL)
    return;
  w->fd = fcntl (dev->nbd_fd, F_DUPFD_CLOEXEC, 3);
  if (w->fd < 0 || offload_run (&w->job, mirror_run, mirror_done) < 0) {
    if (w->fd >= 0)
      close (w->fd);
    free (w);
  }
}
