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
#include <linux/blkpg.h>
#include <linux/capability.h>
#include <linux/fs.h>
#include <blkid.h>

#include "caller.h"
#include "device.h"
#include "log.h"
#include "offload.h"
#include "node-watch.h"
#include "partition-scan.h"

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

/* The scan is over (on the loop): its partitions replace the old ones
 * (none when the table could not be read: bdev_disk_changed() drops
 * the old ones first), unless the device was cleared meanwhile or, for
 * BLKRRPART, a partition was opened. */
static void
scan_done (struct offload *job)
{
  struct scan_work *w = (struct scan_work *) job;
  struct device *dev = w->dev;
  struct loopdev *lo = dev->lo;
  int r = w->err, replaced;

  if (lo->state == LOOPDEV_BOUND) {
    if (partition_table_open_count (&dev->parts.table) > 0)
      r = -EBUSY;
    else {
      replaced = partition_table_replace (&dev->parts.table, lo,
                                          r == 0 ? w->entries : NULL,
                                          r == 0 ? w->n : 0);
      if (r == 0)
        r = replaced;
      number_new_nodes (w->d, dev);
      partitions_mirror_to_nbd (dev, 0, NULL);
      node_watch_partitions (w->d->watch, lo->number, &dev->parts.table);
    }
  }
  if (r < 0)
    log_error ("loop%d: partition scan failed: %s", lo->number,
               strerror (-r));
  /* Answered once the node watchers have the /dev entries. */
  node_watch_sync (w->d->watch, w->done, w->opaque, w->rescan ? r : 0);
  device_handle_release (w->d, dev);
  free (w->entries);
  free (w);
}

/* Start a scan of DEV; false when it could not start (*ERR says why).
 * Like disk_scan_partitions(), the scan opens the device for its
 * length: the device cannot be cleared or removed under it. */
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
  *err = loopdev_open (lo);
  if (*err < 0) {
    free (w);
    return false;
  }
  *w = (struct scan_work) {
    .d = d, .dev = dev, .offset = lo->b.offset, .size = loopdev_size (lo),
    .sector_size = loopdev_logical_block_size (lo), .rescan = rescan,
    .done = done, .opaque = opaque,
  };
  /* A descriptor of the scan's own: the job's thread must not use a
   * number that the loop may close meanwhile. */
  w->path_fd = fcntl (dev->backing_fd, F_DUPFD_CLOEXEC, 3);
  *err = w->path_fd < 0 ? -errno : offload_run (&w->job, scan_run, scan_done);
  if (*err < 0) {
    if (w->path_fd >= 0)
      close (w->path_fd);
    free (w);
    device_handle_release (d, dev);
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

/* A change of the partitions of a kernel NBD device, mirroring one of
 * its loop device's.  They run one at a time, in the order they were
 * made, so that an add and a delete in a row arrive in that order. */
struct mirror_work {
  struct offload job;            /* first: the job is the request */
  struct mirror_work *next;
  int fd;                        /* our duplicate of /dev/nbdX */
  int op;                        /* a BLKPG op, or 0 for BLKRRPART */
  struct blkpg_partition part;
};

/* The changes not done yet, the first one running. */
static struct mirror_work *mirror_head, *mirror_tail;

/* Change the kernel device's partitions (on the job's thread: the
 * kernel reads the table through this daemon's nbdkit). */
static void
mirror_run (struct offload *job)
{
  struct mirror_work *w = (struct mirror_work *) job;
  struct blkpg_ioctl_arg arg = {
    .op = w->op, .data = &w->part, .datalen = sizeof w->part,
  };
  int r = w->op ? ioctl (w->fd, BLKPG, &arg) : ioctl (w->fd, BLKRRPART);

  if (r < 0)
    log_error ("mirroring partitions on the kernel NBD device: %s",
               strerror (errno));
  close (w->fd);
}

static void mirror_done (struct offload *job);

/* Start the first change waiting; drop those that cannot start. */
static void
mirror_next (void)
{
  while (mirror_head
         && offload_run (&mirror_head->job, mirror_run, mirror_done) < 0) {
    struct mirror_work *w = mirror_head;
    mirror_head = w->next;
    close (w->fd);
    free (w);
  }
  if (mirror_head == NULL)
    mirror_tail = NULL;
}

/* A change is over: the next one may start. */
static void
mirror_done (struct offload *job)
{
  struct mirror_work *w = (struct mirror_work *) job;

  mirror_head = w->next;
  free (w);
  mirror_next ();
}

/* Change the partitions of DEV's /dev/nbdX as OP (0: reread) with P. */
void
partitions_mirror_to_nbd (struct device *dev, int op,
                          const struct blkpg_partition *p)
{
  struct mirror_work *w;
  bool idle = mirror_head == NULL;

  if (dev->nbd_fd < 0 || (w = calloc (1, sizeof *w)) == NULL)
    return;
  w->fd = fcntl (dev->nbd_fd, F_DUPFD_CLOEXEC, 3);
  if (w->fd < 0) {
    free (w);
    return;
  }
  w->op = op;
  if (p)
    w->part = *p;
  if (mirror_tail)
    mirror_tail->next = w;
  else
    mirror_head = w;
  mirror_tail = w;
  if (idle)
    mirror_next ();
}
