/* loopfsd: zeroing a range as the kernel's loop driver does.
 *
 * A write-zeroes request without unmap (fallocate ZERO_RANGE on the
 * device, BLKZEROOUT) reaches the kernel's loop driver as
 * fallocate(FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE) on the backing
 * file (lo_fallocate).  A filesystem without zero ranges (tmpfs)
 * refuses it: the driver then turns write-zeroes off for the device
 * (loop_clear_limits) and the block layer writes zero pages instead.
 * From then on, until a new bind or block size recomputes the limits,
 * fallocate(PUNCH_HOLE) on the device fails with EOPNOTSUPP, because
 * blkdev_fallocate() punches with a write-zeroes request that may not
 * fall back (measured on Linux 6.18, conformance scenario zero_tmpfs).
 *
 * loopfsd does the same: while write-zeroes is on, it asks the backing
 * file itself for the zero range, off the loop (the file may be on a
 * hung filesystem); when the file refuses, the model's binding
 * remembers it (control/block-range.c refuses the punch) and the range
 * is zeroed through the backend, which writes zeroes.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <linux/falloc.h>

#include "offload.h"
#include "zero-range.h"

/* One zero range asked of the backing file. */
struct zero_job {
  struct offload job;            /* first: the job is the request */
  struct device *dev;
  uint64_t diskseq;              /* the binding it was asked for */
  int path_fd;                   /* our duplicate of the device's O_PATH
                                    descriptor of the backing file */
  uint64_t start, len;           /* on the device */
  uint64_t file_offset;          /* START in the backing file */
  int err;                       /* fallocate's errno, 0 on success */
  bool opened;                   /* the file could be opened for writing */
  backend_io_cb done;
  void *opaque;
};

/* fallocate(ZERO_RANGE) on the backing file (on the job's thread).
 * The daemon keeps only an O_PATH descriptor (backing.h), so the file
 * is opened for writing here, as nbdkit opens it, and closed at once. */
static void
zero_work (struct offload *job)
{
  struct zero_job *z = (struct zero_job *) job;
  char path[64];
  int fd;

  snprintf (path, sizeof path, "/proc/self/fd/%d", z->path_fd);
  fd = open (path, O_WRONLY | O_CLOEXEC);
  close (z->path_fd);
  if (fd < 0)
    return;
  z->opened = true;
  if (fallocate (fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
                 (off_t) z->file_offset, (off_t) z->len) < 0)
    z->err = errno;
  close (fd);
}

/* The backing file answered: done, or refused (write-zeroes goes off
 * and the backend writes the zeroes), or failed (EIO for the caller).
 * A file the daemon cannot open for writing is left to the backend.
 * A device cleared or rebound meanwhile fails the request, as its I/O
 * would. */
static void
zero_done (struct offload *job)
{
  struct zero_job *z = (struct zero_job *) job;
  struct device *dev = z->dev;
  struct loopdev *lo = dev->lo;

  if (lo->diskseq != z->diskseq || lo->state != LOOPDEV_BOUND
      || dev->backend == NULL)
    z->done (z->opaque, EIO);
  else if (!z->opened || z->err == EOPNOTSUPP) {
    if (z->opened)
      lo->b.write_zeroes_off = true;
    backend_zero (dev->backend, z->len, z->start, z->done, z->opaque);
  }
  else
    z->done (z->opaque, z->err);
  free (z);
}

/* Zero a range of DEV: through its backing file while write-zeroes is
 * on and the backing is a regular file, else through the backend. */
void
zero_range (struct device *dev, uint64_t start, uint64_t len,
            backend_io_cb done, void *opaque)
{
  struct loopdev *lo = dev->lo;
  struct zero_job *z;

  if (lo->b.write_zeroes_off || dev->backing_fd < 0
      || lo->b.backing.kind != LOOP_BACKING_FILE
      || (z = calloc (1, sizeof *z)) == NULL) {
    backend_zero (dev->backend, len, start, done, opaque);
    return;
  }
  *z = (struct zero_job) {
    .dev = dev, .diskseq = lo->diskseq, .start = start, .len = len,
    .file_offset = lo->b.offset + start, .done = done, .opaque = opaque,
    .path_fd = fcntl (dev->backing_fd, F_DUPFD_CLOEXEC, 0),
  };
  if (z->path_fd < 0 || offload_run (&z->job, zero_work, zero_done) < 0) {
    if (z->path_fd >= 0)
      close (z->path_fd);
    free (z);
    backend_zero (dev->backend, len, start, done, opaque);
  }
}
