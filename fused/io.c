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
#include "interrupt.h"
#include "io.h"
#include "zero-range.h"

/* Writes up to this size are copied out of the FUSE receive buffer;
 * larger ones take the buffer over instead of copying it. */
#define WRITE_COPY_MAX (64 * 1024)

/* Read replies of at least this size are written to /dev/fuse from
 * the thread pool. */
#define REPLY_OFFLOAD_MIN (128 * 1024)

/* One request in flight: a read or write, a flush, or the discard or
 * zeroing of a range (fallocate, BLKDISCARD, BLKZEROOUT). */
struct io_req {
  struct interruptible it;       /* REQ, answered early if its caller dies */
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

  fuse_reply_buf (io->it.req, io->data, io->count);
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

  if (!interruptible_finish (&io->it))
    ;
  else if (err)
    fuse_reply_err (io->it.req, EIO);
  else if (io->count >= REPLY_OFFLOAD_MIN) {
    io->work.data = io;
    if (uv_queue_work (io->it.d->loop, &io->work, reply_read,
                       reply_read_done) == 0)
      return;
    fuse_reply_buf (io->it.req, io->data, io->count);
  }
  else
    fuse_reply_buf (io->it.req, io->data, io->count);
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

/* A new request for REQ on DEV moving COUNT bytes at OFFSET, its
 * memory still unset (answered as an ioctl when AS_IOCTL). */
static struct io_req *
io_req_new (fuse_req_t req, struct device *dev, ssize_t count,
            uint64_t offset, bool as_ioctl)
{
  struct io_req *io;

  if (count < 0) {
    fuse_reply_err (req, -count);
    return NULL;
  }
  io = calloc (1, sizeof *io);
  if (io == NULL) {
    if (as_ioctl)
      fuse_reply_ioctl (req, -ENOMEM, NULL, 0);
    else
      fuse_reply_err (req, ENOMEM);
    return NULL;
  }
  interruptible_start (&io->it, fuse_req_userdata (req), req, as_ioctl);
  io->dev = dev;
  io->offset = offset;
  io->count = count;
  return io;
}

/* Free IO, which found no memory, and answer ENOMEM (unless its caller
 * was answered already). */
static void
io_req_no_memory (struct io_req *io)
{
  if (interruptible_finish (&io->it))
    fuse_reply_err (io->it.req, ENOMEM);
  free (io);
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
  io = io_req_new (req, dev, io_count (dev, size, off), off, false);
  if (io == NULL)
    return;
  io->mem = io->data = malloc (io->count);
  if (io->mem == NULL) {
    io_req_no_memory (io);
    return;
  }
  backend_pread (dev->backend, io->data, io->count, off, read_done, io);
}

/* A write finished in the backend. */
static void
write_done (void *opaque, int err)
{
  struct io_req *io = opaque;

  if (!err)
    device_invalidate_kernel_cache (io->dev, io->offset, io->count);
  if (!interruptible_finish (&io->it))
    ;
  else if (err)
    fuse_reply_err (io->it.req, EIO);
  else
    fuse_reply_write (io->it.req, io->count);
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
  io = io_req_new (req, dev, io_count (dev, size, off), off, false);
  if (io == NULL)
    return;
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
    io_req_no_memory (io);
    return;
  }
  backend_pwrite (dev->backend, io->data, io->count, off, write_done, io);
}

/* A flush, or a discard or zeroing of a range, finished in the
 * backend; a changed range is dropped from the kernel NBD device's
 * cache. */
static void
simple_done (void *opaque, int err)
{
  struct io_req *io = opaque;

  if (!err && io->count)
    device_invalidate_kernel_cache (io->dev, io->offset, io->count);
  if (!interruptible_finish (&io->it))
    ;
  else if (io->it.as_ioctl)
    fuse_reply_ioctl (io->it.req, err ? -EIO : 0, NULL, 0);
  else
    fuse_reply_err (io->it.req, err ? EIO : 0);
  io_req_free (io);
}

/* fsync(2) on loopN.  An unbound or cleared loop device fails the
 * flush with EIO (loop_queue_rq); a bound one flushes its backing file
 * when it has a write cache, i.e. when writable (loop_update_limits). */
void
io_fsync (fuse_req_t req, struct device *dev)
{
  struct loopdev *lo = dev->lo;
  struct io_req *io;

  if (io_dead (dev)) {
    fuse_reply_err (req, EIO);
    return;
  }
  if ((lo->b.flags & LO_FLAGS_READ_ONLY) || !backend_can_flush (dev->backend)) {
    fuse_reply_err (req, 0);
    return;
  }
  io = io_req_new (req, dev, 0, 0, false);
  if (io)
    backend_flush (dev->backend, simple_done, io);
}

/* Zero (ZERO) or discard LEN bytes at START of bound device DEV. */
static void
start_range (fuse_req_t req, struct device *dev, uint64_t start,
             uint64_t len, bool zero, bool as_ioctl)
{
  struct io_req *io = io_req_new (req, dev, len, start, as_ioctl);

  if (io == NULL)
    return;
  if (zero)
    zero_range (dev, start, len, simple_done, io);
  else
    backend_trim (dev->backend, len, start, simple_done, io);
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
