/* loopfsd: the data path of loopN.
 *
 * read, write, fsync and fallocate on loopN go to the device's backend
 * as asynchronous NBD requests; the FUSE request is answered from the
 * completion callback.  Every check before that mirrors what the kernel
 * does for a block device (blkdev_read_iter, blkdev_write_iter,
 * blkdev_fallocate), so a short read at the end, ENOSPC past it and
 * EPERM on a read-only device look the same as with /dev/loopN.
 * Nothing is cached here: files are opened with direct_io, so a second
 * opener always sees what the backend holds.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <linux/falloc.h>

#include "block-range.h"
#include "fuse-loop.h"
#include "io.h"

/* Writes up to this size are copied out of the FUSE receive buffer;
 * larger ones take the buffer over instead of copying it. */
#define WRITE_COPY_MAX (64 * 1024)

/* Read replies of at least this size are written to /dev/fuse from
 * the thread pool. */
#define REPLY_OFFLOAD_MIN (128 * 1024)

/* One data request in flight. */
struct io_req {
  fuse_req_t req;
  struct daemon *d;
  struct device *dev;
  uint64_t offset;
  void *mem;         /* owned memory to free when done */
  char *data;        /* where the data is (inside MEM) */
  size_t count;
  uv_work_t work;
};

/* Free a finished request. */
static void
io_req_free (struct io_req *io)
{
  free (io->mem);
  free (io);
}

/* Answer a read with its data (thread pool side for large replies). */
static void
reply_read (uv_work_t *work)
{
  struct io_req *io = work->data;

  fuse_reply_buf (io->req, io->data, io->count);
}

/* A large read reply has been written. */
static void
reply_read_done (uv_work_t *work, int status)
{
  (void) status;
  io_req_free (work->data);
}

/* A read finished in the backend.  Writing a large reply into the
 * reader's pages is the biggest copy of the read path; done from the
 * thread pool it overlaps with the loop receiving the next data from
 * nbdkit (libfuse's reply functions are thread-safe). */
static void
read_done (void *opaque, int err)
{
  struct io_req *io = opaque;

  if (err)
    fuse_reply_err (io->req, EIO);
  else if (io->count >= REPLY_OFFLOAD_MIN) {
    io->work.data = io;
    if (uv_queue_work (io->d->loop, &io->work, reply_read,
                       reply_read_done) == 0)
      return;
    fuse_reply_buf (io->req, io->data, io->count);
  }
  else
    fuse_reply_buf (io->req, io->data, io->count);
  io_req_free (io);
}

/* The end of the data of LO that I/O can reach: the size rounded down
 * to the logical block size.  A partial last block (a 4608-byte device
 * with 4096-byte blocks) is inside the device but cannot be read or
 * written: the block layer fails it with EIO, and I/O that runs into it
 * stops short before it. */
static uint64_t
io_end (const struct loopdev *lo)
{
  uint64_t lbs = loopdev_logical_block_size (lo);
  return loopdev_size (lo) & ~(lbs - 1);
}

/* True when requests on LO must fail with EIO: a device cleared while
 * open still reports its size, but loop_queue_rq() fails its I/O. */
static bool
io_dead (const struct device *dev)
{
  return dev->lo->state != LOOPDEV_BOUND || dev->backend == NULL;
}

/* How many of SIZE bytes at OFF (inside the device) a request on DEV
 * moves, or -EIO when the device is cleared or OFF lies in the partial
 * last block. */
static ssize_t
io_count (const struct device *dev, size_t size, off_t off)
{
  uint64_t end = io_end (dev->lo);

  if (io_dead (dev) || (uint64_t) off >= end)
    return -EIO;
  return end - off < size ? (ssize_t) (end - off) : (ssize_t) size;
}

/* A new request for REQ moving COUNT bytes, its memory still unset. */
static struct io_req *
io_req_new (fuse_req_t req, ssize_t count)
{
  struct io_req *io;

  if (count < 0) {
    fuse_reply_err (req, -count);
    return NULL;
  }
  io = calloc (1, sizeof *io);
  if (io == NULL) {
    fuse_reply_err (req, ENOMEM);
    return NULL;
  }
  io->req = req;
  io->count = count;
  return io;
}

/* read(2) on loopN. */
void
io_read (fuse_req_t req, struct device *dev, size_t size, off_t off)
{
  struct io_req *io;

  if (off < 0) {
    fuse_reply_err (req, EINVAL);
    return;
  }
  if (size == 0 || (uint64_t) off >= loopdev_size (dev->lo)) {
    fuse_reply_buf (req, NULL, 0);
    return;
  }
  io = io_req_new (req, io_count (dev, size, off));
  if (io == NULL)
    return;
  io->d = fuse_req_userdata (req);
  io->mem = io->data = malloc (io->count);
  if (io->mem == NULL) {
    free (io);
    fuse_reply_err (req, ENOMEM);
    return;
  }
  backend_pread (dev->backend, io->data, io->count, off, read_done, io);
}

/* A write finished in the backend. */
static void
write_done (void *opaque, int err)
{
  struct io_req *io = opaque;

  if (err)
    fuse_reply_err (io->req, EIO);
  else {
    device_invalidate_kernel_cache (io->dev, io->offset, io->count);
    fuse_reply_write (io->req, io->count);
  }
  io_req_free (io);
}

/* write(2) on loopN. */
void
io_write (fuse_req_t req, struct device *dev, const char *buf, size_t size,
          off_t off)
{
  struct loopdev *lo = dev->lo;
  struct io_req *io;

  if (loopdev_read_only (lo)) {
    fuse_reply_err (req, EPERM);
    return;
  }
  if (size == 0) {
    fuse_reply_write (req, 0);
    return;
  }
  if (off < 0 || (uint64_t) off >= loopdev_size (lo)) {
    fuse_reply_err (req, off < 0 ? EINVAL : ENOSPC);
    return;
  }
  io = io_req_new (req, io_count (dev, size, off));
  if (io == NULL)
    return;
  io->dev = dev;
  io->offset = off;
  if (io->count <= WRITE_COPY_MAX) {
    io->mem = io->data = malloc (io->count);
    if (io->mem)
      memcpy (io->data, buf, io->count);
  }
  else {
    io->mem = fuse_loop_take_buffer (buf);
    io->data = (char *) buf;
  }
  if (io->mem == NULL) {
    free (io);
    fuse_reply_err (req, ENOMEM);
    return;
  }
  backend_pwrite (dev->backend, io->data, io->count, off, write_done, io);
}

/* A flush, trim or zero finished in the backend. */
static void
simple_done (void *opaque, int err)
{
  fuse_reply_err (opaque, err ? EIO : 0);
}

/* fsync(2) on loopN.  An unbound or cleared loop device fails the
 * flush with EIO (loop_queue_rq); a bound one flushes its backing file
 * when it has a write cache, i.e. when writable (loop_update_limits). */
void
io_fsync (fuse_req_t req, struct device *dev)
{
  struct loopdev *lo = dev->lo;

  if (io_dead (dev)) {
    fuse_reply_err (req, EIO);
    return;
  }
  if ((lo->b.flags & LO_FLAGS_READ_ONLY) || !backend_can_flush (dev->backend)) {
    fuse_reply_err (req, 0);
    return;
  }
  backend_flush (dev->backend, simple_done, req);
}

/* A discard or zeroing (fallocate, BLKDISCARD, BLKZEROOUT) finished in
 * the backend: answered as an ioctl when AS_IOCTL, else as fallocate. */
struct range_req {
  fuse_req_t req;
  struct device *dev;
  uint64_t start, len;
  bool as_ioctl;
};

/* A range request finished in the backend. */
static void
range_done (void *opaque, int err)
{
  struct range_req *rr = opaque;

  if (!err)
    device_invalidate_kernel_cache (rr->dev, rr->start, rr->len);
  if (rr->as_ioctl)
    fuse_reply_ioctl (rr->req, err ? -EIO : 0, NULL, 0);
  else
    fuse_reply_err (rr->req, err ? EIO : 0);
  free (rr);
}

/* Zero (ZERO) or discard LEN bytes at START of bound device DEV. */
static void
start_range (fuse_req_t req, struct device *dev, uint64_t start,
             uint64_t len, bool zero, bool as_ioctl)
{
  struct range_req *rr = malloc (sizeof *rr);

  if (rr == NULL) {
    if (as_ioctl)
      fuse_reply_ioctl (req, -ENOMEM, NULL, 0);
    else
      fuse_reply_err (req, ENOMEM);
    return;
  }
  *rr = (struct range_req) { .req = req, .dev = dev, .start = start,
                             .len = len, .as_ioctl = as_ioctl };
  if (zero)
    backend_zero (dev->backend, len, start, range_done, rr);
  else
    backend_trim (dev->backend, len, start, range_done, rr);
}

/* fallocate(2) on loopN, with blkdev_fallocate()'s rules (the model's
 * loopdev_check_fallocate). */
void
io_fallocate (fuse_req_t req, struct device *dev, int mode, off_t off,
              off_t len)
{
  uint64_t start, length;
  int r = loopdev_check_fallocate (dev->lo, mode, off, len, &start, &length);

  if (r == 0 && io_dead (dev))
    r = -EIO;
  if (r < 0) {
    fuse_reply_err (req, -r);
    return;
  }
  start_range (req, dev, start, length, (mode & FALLOC_FL_ZERO_RANGE) != 0,
               false);
}

/* BLKDISCARD and BLKZEROOUT of a checked range: a cleared device fails
 * the I/O. */
void
io_discard_range (fuse_req_t req, struct device *dev, uint64_t start,
                  uint64_t len, bool zero)
{
  if (io_dead (dev)) {
    fuse_reply_ioctl (req, -EIO, NULL, 0);
    return;
  }
  start_range (req, dev, start, len, zero, true);
}
