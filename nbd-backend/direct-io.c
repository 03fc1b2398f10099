/* loopfs nbd-backend: direct reads and writes of a local backing file
 * (see direct-io.h). */

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/magic.h>

#include "direct-io.h"

#ifndef XFS_SUPER_MAGIC
#define XFS_SUPER_MAGIC 0x58465342
#endif

/* Requests up to this size first try the page cache on the loop; larger
 * ones go to the thread pool at once, where the copy of a 1 MiB request
 * (a fifth of a millisecond) overlaps with the loop's other work. */
#define INLINE_MAX (128 * 1024)

/* Filesystems whose files may be served directly: local, with no
 * ->flush on close (so closing our descriptor never waits, see
 * fused/backing.h), and no daemon behind them that could be this
 * very process. */
static const long local_filesystems[] = {
  EXT4_SUPER_MAGIC,             /* also ext2 and ext3 */
  XFS_SUPER_MAGIC,
  BTRFS_SUPER_MAGIC,
  TMPFS_MAGIC,
};

/* Is FD a file direct I/O may serve? */
bool
direct_io_eligible (int fd)
{
  struct statfs sfs;
  struct stat st;
  int flags = fcntl (fd, F_GETFL);

  if (flags < 0 || (flags & (O_PATH | O_APPEND | O_DIRECT))
      || (flags & O_ACCMODE) == O_WRONLY)
    return false;
  if (fstat (fd, &st) < 0 || !S_ISREG (st.st_mode) || fstatfs (fd, &sfs) < 0)
    return false;
  for (size_t i = 0;
       i < sizeof local_filesystems / sizeof local_filesystems[0]; i++)
    if ((long) sfs.f_type == local_filesystems[i])
      return true;
  return false;
}

/* Set up D on a duplicate of FD. */
int
direct_io_init (struct direct_io *d, uv_loop_t *loop, int fd,
                bool read_only, uint64_t offset,
                struct completion_queue *done,
                void (*drained) (void *opaque), void *opaque)
{
  int flags;

  *d = (struct direct_io) {
    .loop = loop, .fd = -1, .nowait_read = true, .nowait_write = true,
    .offset = offset, .done = done, .drained = drained, .opaque = opaque,
  };
  if (fd < 0)
    return 0;
  flags = fcntl (fd, F_GETFL);
  if (flags < 0)
    return -errno;
  d->fd = fcntl (fd, F_DUPFD_CLOEXEC, 3);
  if (d->fd < 0)
    return -errno;
  d->writable = !read_only && (flags & O_ACCMODE) == O_RDWR;
  return 0;
}

/* Does D serve TYPE? */
bool
direct_io_serves (const struct direct_io *d, enum request_type type)
{
  return d->fd >= 0
    && (type == REQUEST_PREAD || (type == REQUEST_PWRITE && d->writable));
}

/* One read or write of what is left of REQ (DONE bytes of it are
 * done), with FLAGS for preadv2/pwritev2.  Returns the bytes moved or
 * -errno; 0 means the file ended, which nbdkit's file plugin reports
 * as an error too. */
static ssize_t
transfer (const struct direct_io *d, struct request *req, uint64_t done,
          int flags)
{
  struct iovec iov = {
    .iov_base = (char *) req->buf + done,
    .iov_len = req->count - done,
  };
  off_t pos = d->offset + req->offset + done;
  ssize_t n;

  if (req->type == REQUEST_PREAD)
    n = preadv2 (d->fd, &iov, 1, pos, flags);
  else
    n = pwritev2 (d->fd, &iov, 1, pos, flags);
  return n < 0 ? -errno : n;
}

/* Move the rest of REQ, waiting as long as it takes (on a pool
 * thread); the result goes into REQ->err. */
static void
finish_transfer (const struct direct_io *d, struct request *req)
{
  ssize_t n;

  while (req->done_bytes < req->count) {
    n = transfer (d, req, req->done_bytes, 0);
    if (n == -EINTR)
      continue;
    if (n <= 0) {
      req->err = n < 0 ? (int) -n : EIO;
      return;
    }
    req->done_bytes += n;
  }
  req->err = 0;
}

/* Pool side of one request. */
static void
work (uv_work_t *w)
{
  struct request *req = w->data;

  finish_transfer (req->direct, req);
}

/* REQ is finished (on the loop): hand the result over, and tell the
 * owner when nothing is left on the pool. */
static void
retire (struct direct_io *d, struct request *req, int err)
{
  completion_queue_push (d->done, req, err);
  if (--d->in_flight == 0 && d->drained)
    d->drained (d->opaque);
}

/* Back on the loop after one request. */
static void
after_work (uv_work_t *w, int status)
{
  struct request *req = w->data;

  retire (req->direct, req, status < 0 ? EIO : req->err);
}

static void start_batch (struct direct_io *d);

/* Pool side of a batch of small writes: one after the other, on one
 * thread (they copy into the page cache under the file's lock anyway). */
static void
batch_run (uv_work_t *w)
{
  struct direct_io *d = w->data;

  for (struct request *req = d->batch.head; req; req = req->next)
    finish_transfer (d, req);
}

/* Back on the loop after a batch: hand the results over and start the
 * writes that queued meanwhile. */
static void
batch_done (uv_work_t *w, int status)
{
  struct direct_io *d = w->data;
  struct request_list done = d->batch;
  struct request *req;

  d->batch.head = d->batch.tail = NULL;
  d->batch_busy = false;
  if (d->queue.head)
    start_batch (d);
  while ((req = request_list_pop (&done)) != NULL)
    retire (d, req, status < 0 ? EIO : req->err);
}

/* Send every queued small write to the pool as one job. */
static void
start_batch (struct direct_io *d)
{
  struct request *req;

  d->batch = d->queue;
  d->queue.head = d->queue.tail = NULL;
  d->batch_work.data = d;
  if (uv_queue_work (d->loop, &d->batch_work, batch_run, batch_done) == 0) {
    d->batch_busy = true;
    return;
  }
  while ((req = request_list_pop (&d->batch)) != NULL)
    retire (d, req, EIO);
}

/* Try REQ at once without waiting; finish it on the pool when the
 * page cache cannot serve it all. */
void
direct_io_submit (struct direct_io *d, struct request *req)
{
  bool *nowait = req->type == REQUEST_PREAD ? &d->nowait_read
    : &d->nowait_write;
  ssize_t n;

  req->direct = d;
  req->done_bytes = 0;
  if (*nowait && req->count <= INLINE_MAX) {
    do
      n = transfer (d, req, req->done_bytes, RWF_NOWAIT);
    while (n > 0 && (req->done_bytes += n) < req->count);
    if (req->done_bytes == req->count) {
      completion_queue_push (d->done, req, 0);
      return;
    }
    if (n == -EOPNOTSUPP)
      *nowait = false;
    else if (n < 0 && n != -EAGAIN && n != -EINTR) {
      completion_queue_push (d->done, req, (int) -n);
      return;
    }
  }
  /* A write per pool job costs a wake-up of a pool thread and of the
   * loop each; queued small writes go as one job (1.5 context switches
   * a 4 KiB write at depth 32 otherwise). */
  if (req->type == REQUEST_PWRITE && req->count <= INLINE_MAX) {
    request_list_append (&d->queue, req);
    d->in_flight++;
    if (!d->batch_busy)
      start_batch (d);
    return;
  }
  req->work.data = req;
  if (uv_queue_work (d->loop, &req->work, work, after_work) < 0) {
    completion_queue_push (d->done, req, EIO);
    return;
  }
  d->in_flight++;
}

/* Close D's descriptor.  The file is on a filesystem whose close does
 * not wait (direct_io_eligible), so this may run on the loop. */
void
direct_io_close (struct direct_io *d)
{
  if (d->fd >= 0)
    close (d->fd);
  d->fd = -1;
}
