/* loopfsd: what open nodes do.
 *
 * open(2) of loop-control or loopN makes a handle (fi->fh) that says
 * which device it is on and whether it may write; reads, writes, fsync
 * and fallocate of loopN go to the data path (io.c), ioctls to their
 * decoder (ioctl.c).  The last close of a device may clear it
 * (AUTOCLEAR, or LOOP_CLR_FD while open), as lo_release() does.
 * Device files are opened with direct I/O: nothing is cached, so a
 * second opener always sees what the backend holds.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>

#include "backing.h"
#include "device.h"
#include "handles.h"
#include "io.h"
#include "ioctl.h"
#include "nodes.h"
#include "open-files.h"
#include "partition-ioctl.h"
#include "partition-nodes.h"

/* Free the handles whose RELEASE never came, at exit. */
void
open_files_free (struct daemon *d)
{
  while (d->handles)
    handle_free (d, d->handles);
}

/* open(2): loop-control always; loopN and loopNpM unless the device is
 * being cleared or deleted (lo_open answers ENXIO then).  Data is never
 * cached. */
void
file_open (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
  struct daemon *d = fuse_req_userdata (req);
  struct handle *h;
  struct loopdev *lo = NULL;
  struct device *part_dev = NULL;
  int partition = 0;
  int r;

  if (ino == ROOT_INO) {
    fuse_reply_err (req, EISDIR);
    return;
  }
  if (ino != CONTROL_INO) {
    lo = node_device (d, ino);
    if (lo)
      r = loopdev_open (lo);
    else if ((r = partition_open (d, ino, &part_dev, &partition)) == 0)
      lo = part_dev->lo;
    if (r < 0) {
      fuse_reply_err (req, -r);
      return;
    }
  }
  h = handle_new (d, lo ? device_of (lo) : NULL,
                  (fi->flags & O_ACCMODE) != O_RDONLY);
  if (h == NULL) {
    if (partition)
      partition_release (d, device_of (lo), partition);
    else if (lo)
      device_handle_release (d, device_of (lo));
    fuse_reply_err (req, ENOMEM);
    return;
  }
  h->partition = partition;
  fi->fh = (uintptr_t) h;
  fi->direct_io = 1;
  fi->keep_cache = 0;
  fi->nonseekable = lo == NULL;
  fuse_reply_open (req, fi);
}

/* The last reference to an open file went away. */
void
file_release (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
  struct daemon *d = fuse_req_userdata (req);
  struct handle *h = (struct handle *) (uintptr_t) fi->fh;

  (void) ino;
  handles_release (d, h);
  fuse_reply_err (req, 0);
}

/* The handle behind FI, or NULL with the request answered EINVAL for
 * loop-control, which has no data (a misc device without read/write). */
static struct handle *
data_handle (fuse_req_t req, struct fuse_file_info *fi)
{
  struct handle *h = (struct handle *) (uintptr_t) fi->fh;

  if (h->dev == NULL) {
    fuse_reply_err (req, EINVAL);
    return NULL;
  }
  return h;
}

/* read(2). */
void
file_read (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
         struct fuse_file_info *fi)
{
  struct handle *h = data_handle (req, fi);

  (void) ino;
  if (h && h->partition)
    partition_read (req, h, size, off);
  else if (h)
    io_read (req, h->dev, size, off);
}

/* write(2). */
void
file_write (fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
          off_t off, struct fuse_file_info *fi)
{
  struct handle *h = data_handle (req, fi);

  (void) ino;
  if (h && h->partition)
    partition_write (req, h, buf, size, off);
  else if (h)
    io_write (req, h->dev, buf, size, off);
}

/* fsync(2) and fdatasync(2). */
void
file_fsync (fuse_req_t req, fuse_ino_t ino, int datasync,
          struct fuse_file_info *fi)
{
  struct handle *h = (struct handle *) (uintptr_t) fi->fh;

  (void) ino;
  (void) datasync;
  if (h->dev == NULL)
    fuse_reply_err (req, EINVAL);
  else if (h->partition)
    partition_fsync (req, h);
  else
    io_fsync (req, h->dev);
}

/* fallocate(2). */
void
file_fallocate (fuse_req_t req, fuse_ino_t ino, int mode, off_t off,
              off_t len, struct fuse_file_info *fi)
{
  struct handle *h = (struct handle *) (uintptr_t) fi->fh;

  (void) ino;
  if (h->dev == NULL)
    fuse_reply_err (req, ENODEV);
  else if (h->partition)
    partition_fallocate (req, h, mode, off, len);
  else
    io_fallocate (req, h->dev, mode, off, len);
}

/* ioctl(2): decoded in ioctl.c, for 32-bit callers (FUSE_IOCTL_COMPAT)
 * through ioctl-compat.c.  loop-control's numbers and argument are the
 * same for both (the kernel's compat_ptr_ioctl). */
void
file_ioctl (fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
          struct fuse_file_info *fi, unsigned flags, const void *in_buf,
          size_t in_bufsz, size_t out_bufsz)
{
  struct handle *h = (struct handle *) (uintptr_t) fi->fh;
  bool compat = flags & FUSE_IOCTL_COMPAT;

  (void) in_buf;
  (void) in_bufsz;
  (void) out_bufsz;
  if (ino == ROOT_INO || (flags & FUSE_IOCTL_DIR)) {
    fuse_reply_err (req, ENOTTY);
    return;
  }
  if (h->dev == NULL)
    ioctl_control (req, cmd, arg);
  else if (h->partition && compat)
    /* The 32-bit layouts of a partition's answers (BLKGETSIZE's long,
     * BLKPG's pointer) are not translated: refused, not misread. */
    fuse_reply_err (req, ENOTTY);
  else if (h->partition && partition_ioctl (req, h, cmd, arg))
    ;
  else if (cmd == LOOPFS_IOC_HOLD
           && handles_hold (h, (uint64_t) (uintptr_t) arg))
    fuse_reply_ioctl (req, 0, NULL, 0);
  else
    ioctl_device (req, h, cmd, arg, compat);
}
