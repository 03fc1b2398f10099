/* loopfsd: the filesystem of one instance.
 *
 * Like binderfs and the kernel loopfs patch, the tree is one directory
 * holding a control node and the nodes it created: loop-control always,
 * loopN while device N exists.  Nothing else can be created; the
 * control node cannot be removed or renamed; "rm loopN" removes an
 * unbound, unopened device.  Device nodes are regular files (FUSE cannot
 * make a working block node), sized like the device.
 *
 * Entries and attributes are never cached by the kernel (timeouts of 0):
 * devices come and go through ioctls on another node, so every lookup
 * and stat asks the daemon, and no invalidation from inside a request
 * (which could deadlock against the kernel's directory lock) is needed.
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "daemon.h"
#include "device.h"
#include "status.h"

static struct timespec mount_time;

/* The model device behind inode INO, or NULL. */
static struct loopdev *
ino_device (fuse_ino_t ino)
{
  if (ino < DEVICE_INO_BASE || ino - DEVICE_INO_BASE >= INSTANCE_MAX_INDEX)
    return NULL;
  return instance_lookup (&daemon_state.inst, (int) (ino - DEVICE_INO_BASE));
}

/* Parse "loopN" (N in canonical decimal form) into *NUMBER. */
static bool
parse_device_name (const char *name, int *number)
{
  const char *p = name + 4;
  long n = 0;

  if (strncmp (name, "loop", 4) != 0 || *p == '\0'
      || (p[0] == '0' && p[1] != '\0'))
    return false;
  for (; *p; p++) {
    if (*p < '0' || *p > '9')
      return false;
    n = n * 10 + (*p - '0');
    if (n >= INSTANCE_MAX_INDEX)
      return false;
  }
  *number = n;
  return true;
}

/* Fill *ST for inode INO; -ENOENT when it does not exist. */
static int
fill_attr (fuse_ino_t ino, struct stat *st)
{
  struct daemon *d = &daemon_state;
  struct loopdev *lo = NULL;

  memset (st, 0, sizeof *st);
  if (ino == ROOT_INO) {
    st->st_mode = S_IFDIR | 0755;
    st->st_nlink = 2;
  }
  else if (ino == CONTROL_INO) {
    st->st_mode = S_IFREG | 0600;
    st->st_nlink = 1;
  }
  else if ((lo = ino_device (ino)) != NULL) {
    st->st_mode = S_IFREG | 0600;
    st->st_nlink = 1;
    st->st_size = loopdev_size (lo);
  }
  else
    return -ENOENT;
  st->st_ino = ino;
  st->st_uid = d->owner_uid;
  st->st_gid = d->owner_gid;
  st->st_blksize = LOOPDEV_PAGE_SIZE;
  st->st_atim = st->st_mtim = st->st_ctim = mount_time;
  return 0;
}

/* Reply to a lookup of inode INO with generation GEN. */
static void
reply_entry (fuse_req_t req, fuse_ino_t ino, uint64_t gen)
{
  struct fuse_entry_param e = { .ino = ino, .generation = gen };

  if (fill_attr (ino, &e.attr) < 0) {
    fuse_reply_err (req, ENOENT);
    return;
  }
  fuse_reply_entry (req, &e);
}

/* Negotiate the connection: asynchronous direct I/O so one descriptor
 * can have many requests in flight (fio iodepth), no splice (requests
 * are copied once into our buffers), O_TRUNC handled at open (a block
 * device ignores it), and enough background requests for deep queues. */
static void
fs_init (void *userdata, struct fuse_conn_info *conn)
{
  (void) userdata;
  clock_gettime (CLOCK_REALTIME, &mount_time);
  if (conn->capable & FUSE_CAP_ASYNC_DIO)
    conn->want |= FUSE_CAP_ASYNC_DIO;
  if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
    conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
  conn->want &= ~(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE
                  | FUSE_CAP_SPLICE_MOVE | FUSE_CAP_WRITEBACK_CACHE);
  conn->max_background = 256;
  conn->congestion_threshold = 192;
}

/* Look NAME up in the root directory. */
static void
fs_lookup (fuse_req_t req, fuse_ino_t parent, const char *name)
{
  struct loopdev *lo;
  int number;

  if (parent != ROOT_INO) {
    fuse_reply_err (req, ENOTDIR);
    return;
  }
  if (strcmp (name, CONTROL_NAME) == 0) {
    reply_entry (req, CONTROL_INO, 0);
    return;
  }
  if (!parse_device_name (name, &number)
      || (lo = instance_lookup (&daemon_state.inst, number)) == NULL) {
    fuse_reply_err (req, ENOENT);
    return;
  }
  reply_entry (req, DEVICE_INO_BASE + number, device_generation (lo));
}

/* stat(2). */
static void
fs_getattr (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
  struct stat st;

  (void) fi;
  if (fill_attr (ino, &st) < 0)
    fuse_reply_err (req, ENOENT);
  else
    fuse_reply_attr (req, &st, 0);
}

/* Attribute changes.  truncate(2) of a block device is EINVAL
 * (vfs_truncate wants a regular file); timestamps are accepted and
 * forgotten; mode and ownership are fixed by the instance. */
static void
fs_setattr (fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
            struct fuse_file_info *fi)
{
  struct stat st;

  (void) attr;
  (void) fi;
  if (fill_attr (ino, &st) < 0) {
    fuse_reply_err (req, ENOENT);
    return;
  }
  if (to_set & FUSE_SET_ATTR_SIZE) {
    fuse_reply_err (req, ino == ROOT_INO ? EISDIR : EINVAL);
    return;
  }
  if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
    fuse_reply_err (req, EPERM);
    return;
  }
  fuse_reply_attr (req, &st, 0);
}

/* List the root directory: ".", "..", loop-control and every loopN. */
static void
fs_readdir (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
            struct fuse_file_info *fi)
{
  struct instance *inst = &daemon_state.inst;
  size_t total = 3 + inst->devs.len, used = 0, i;
  char *buf;

  (void) fi;
  if (ino != ROOT_INO) {
    fuse_reply_err (req, ENOTDIR);
    return;
  }
  buf = malloc (size);
  if (buf == NULL) {
    fuse_reply_err (req, ENOMEM);
    return;
  }
  for (i = off; i < total; i++) {
    char name[32];
    struct stat st = { .st_mode = S_IFREG };
    size_t len;

    if (i == 0 || i == 1) {
      snprintf (name, sizeof name, i == 0 ? "." : "..");
      st.st_ino = ROOT_INO;
      st.st_mode = S_IFDIR;
    }
    else if (i == 2) {
      snprintf (name, sizeof name, CONTROL_NAME);
      st.st_ino = CONTROL_INO;
    }
    else {
      int n = inst->devs.ptr[i - 3]->number;
      snprintf (name, sizeof name, "loop%d", n);
      st.st_ino = DEVICE_INO_BASE + n;
    }
    len = fuse_add_direntry (req, buf + used, size - used, name, &st, i + 1);
    if (len > size - used)
      break;
    used += len;
  }
  fuse_reply_buf (req, buf, used);
  free (buf);
}

/* Allocate a handle for a file opened on DEV (NULL: loop-control). */
static struct handle *
handle_new (struct daemon *d, struct device *dev, bool writable)
{
  struct handle *h = calloc (1, sizeof *h);

  if (h == NULL)
    return NULL;
  h->dev = dev;
  h->writable = writable;
  h->next = d->handles;
  if (d->handles)
    d->handles->prev = h;
  d->handles = h;
  return h;
}

/* Free handle H. */
static void
handle_free (struct daemon *d, struct handle *h)
{
  if (h->prev)
    h->prev->next = h->next;
  else
    d->handles = h->next;
  if (h->next)
    h->next->prev = h->prev;
  free (h);
}

/* Free the handles whose RELEASE never came, at exit. */
void
fs_free_handles (struct daemon *d)
{
  while (d->handles)
    handle_free (d, d->handles);
}

/* open(2): loop-control always; loopN unless it is being cleared or
 * deleted (lo_open answers ENXIO then).  Data is never cached. */
static void
fs_open (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
  struct handle *h;
  struct loopdev *lo = NULL;
  int r;

  if (ino == ROOT_INO) {
    fuse_reply_err (req, EISDIR);
    return;
  }
  if (ino != CONTROL_INO) {
    lo = ino_device (ino);
    if (lo == NULL) {
      fuse_reply_err (req, ENOENT);
      return;
    }
    r = loopdev_open (lo);
    if (r < 0) {
      fuse_reply_err (req, -r);
      return;
    }
  }
  h = handle_new (&daemon_state, lo ? device_of (lo) : NULL,
                  (fi->flags & O_ACCMODE) != O_RDONLY);
  if (h == NULL) {
    if (lo)
      device_handle_release (&daemon_state, device_of (lo));
    fuse_reply_err (req, ENOMEM);
    return;
  }
  fi->fh = (uintptr_t) h;
  fi->direct_io = 1;
  fi->keep_cache = 0;
  fi->nonseekable = lo == NULL;
  fuse_reply_open (req, fi);
}

/* The last reference to an open file went away. */
static void
fs_release (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
  struct handle *h = (struct handle *) (uintptr_t) fi->fh;

  (void) ino;
  if (h->dev)
    device_handle_release (&daemon_state, h->dev);
  handle_free (&daemon_state, h);
  fuse_reply_err (req, 0);
}

/* close(2) of one descriptor: nothing is buffered here. */
static void
fs_flush (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
  (void) ino;
  (void) fi;
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
static void
fs_read (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
         struct fuse_file_info *fi)
{
  struct handle *h = data_handle (req, fi);

  (void) ino;
  if (h)
    io_read (req, h->dev, size, off);
}

/* write(2). */
static void
fs_write (fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
          off_t off, struct fuse_file_info *fi)
{
  struct handle *h = data_handle (req, fi);

  (void) ino;
  if (h)
    io_write (req, h->dev, buf, size, off);
}

/* fsync(2) and fdatasync(2). */
static void
fs_fsync (fuse_req_t req, fuse_ino_t ino, int datasync,
          struct fuse_file_info *fi)
{
  struct handle *h = (struct handle *) (uintptr_t) fi->fh;

  (void) ino;
  (void) datasync;
  if (h->dev == NULL)
    fuse_reply_err (req, EINVAL);
  else
    io_fsync (req, h->dev);
}

/* fallocate(2). */
static void
fs_fallocate (fuse_req_t req, fuse_ino_t ino, int mode, off_t off,
              off_t len, struct fuse_file_info *fi)
{
  struct handle *h = (struct handle *) (uintptr_t) fi->fh;

  (void) ino;
  if (h->dev == NULL)
    fuse_reply_err (req, ENODEV);
  else
    io_fallocate (req, h->dev, mode, off, len);
}

/* ioctl(2): decoded in ioctl.c.  32-bit callers would hand over
 * compat-layout structs, which loopfsd does not translate. */
static void
fs_ioctl (fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
          struct fuse_file_info *fi, unsigned flags, const void *in_buf,
          size_t in_bufsz, size_t out_bufsz)
{
  struct handle *h = (struct handle *) (uintptr_t) fi->fh;

  (void) in_buf;
  (void) in_bufsz;
  (void) out_bufsz;
  if (ino == ROOT_INO || (flags & FUSE_IOCTL_DIR)) {
    fuse_reply_err (req, ENOTTY);
    return;
  }
  if (flags & FUSE_IOCTL_COMPAT) {
    fuse_reply_err (req, EINVAL);
    return;
  }
  if (h->dev == NULL)
    ioctl_control (req, cmd, arg);
  else
    ioctl_device (req, h, cmd, arg);
}

/* unlink(2): loop-control is permanent; loopN goes if it is unbound and
 * unopened (loopfs_rundown_locked). */
static void
fs_unlink (fuse_req_t req, fuse_ino_t parent, const char *name)
{
  int number, r;

  if (parent != ROOT_INO) {
    fuse_reply_err (req, ENOTDIR);
    return;
  }
  if (strcmp (name, CONTROL_NAME) == 0) {
    fuse_reply_err (req, EPERM);
    return;
  }
  if (!parse_device_name (name, &number)) {
    fuse_reply_err (req, ENOENT);
    return;
  }
  r = instance_unlink (&daemon_state.inst, number);
  fuse_reply_err (req, -r);
}

/* Node names are the devices' numbers, so nothing can be renamed. */
static void
fs_rename (fuse_req_t req, fuse_ino_t parent, const char *name,
           fuse_ino_t newparent, const char *newname, unsigned int flags)
{
  (void) parent;
  (void) name;
  (void) newparent;
  (void) newname;
  (void) flags;
  fuse_reply_err (req, EPERM);
}

/* Nodes come only from loop-control: no mknod, mkdir, create, symlink
 * or link. */
static void
fs_mknod (fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
          dev_t rdev)
{
  (void) parent;
  (void) name;
  (void) mode;
  (void) rdev;
  fuse_reply_err (req, EPERM);
}

/* mkdir(2) is refused: see fs_mknod. */
static void
fs_mkdir (fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
  (void) parent;
  (void) name;
  (void) mode;
  fuse_reply_err (req, EPERM);
}

/* open(O_CREAT) of a new name is refused: see fs_mknod. */
static void
fs_create (fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
           struct fuse_file_info *fi)
{
  (void) parent;
  (void) name;
  (void) mode;
  (void) fi;
  fuse_reply_err (req, EPERM);
}

/* symlink(2) is refused: see fs_mknod. */
static void
fs_symlink (fuse_req_t req, const char *link, fuse_ino_t parent,
            const char *name)
{
  (void) link;
  (void) parent;
  (void) name;
  fuse_reply_err (req, EPERM);
}

/* link(2) is refused: see fs_mknod. */
static void
fs_link (fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
         const char *newname)
{
  (void) ino;
  (void) newparent;
  (void) newname;
  fuse_reply_err (req, EPERM);
}

/* rmdir(2): the root has no subdirectories. */
static void
fs_rmdir (fuse_req_t req, fuse_ino_t parent, const char *name)
{
  (void) parent;
  (void) name;
  fuse_reply_err (req, ENOTDIR);
}

/* Write the status of device LO into BUF (see status.h).  sysfs's
 * loop/backing_file is the file's path (d_path), not lo_file_name: it
 * is read from our copy of the descriptor. */
static int
device_status_value (const struct loopdev *lo, char *buf, size_t size)
{
  const struct device *dev = lo->priv;
  char path[PATH_MAX] = "";

  if ((lo->state == LOOPDEV_BOUND || lo->state == LOOPDEV_RUNDOWN)
      && dev && dev->backing_fd >= 0) {
    char link[64];
    ssize_t n;

    snprintf (link, sizeof link, "/proc/self/fd/%d", dev->backing_fd);
    n = readlink (link, path, sizeof path - 1);
    path[n > 0 ? n : 0] = '\0';
  }
  return status_value (lo, path, buf, size);
}

/* Write what loop-control's user.loopfs.instance tells into BUF (see
 * status.h). */
static int
daemon_instance_value (char *buf, size_t size)
{
  struct instance_summary summary = {
    .pid = getpid (),
    .nbd = daemon_state.nbd,
    .connections = daemon_state.opts.connections,
  };

  instance_summary_count (&daemon_state.inst, &summary);
  return instance_value (&summary, buf, size);
}

/* Compute the value of extended attribute NAME of INO into BUF. */
static int
xattr_value (fuse_ino_t ino, const char *name, char *buf, size_t size)
{
  struct loopdev *lo = ino_device (ino);

  if (strcmp (name, XATTR_NODE) == 0) {
    if (ino == CONTROL_INO)
      return snprintf (buf, size, CONTROL_NAME);
    if (lo)
      return snprintf (buf, size, "loop%d", lo->number);
  }
  if (strcmp (name, XATTR_NBDKIT_PID) == 0 && lo && lo->priv
      && device_backend (lo->priv))
    return snprintf (buf, size, "%d",
                     (int) backend_pid (device_backend (lo->priv)));
  if (strcmp (name, XATTR_NBD) == 0 && lo && lo->priv
      && ((struct device *) lo->priv)->nbd_index >= 0)
    return snprintf (buf, size, "/dev/nbd%d",
                     ((struct device *) lo->priv)->nbd_index);
  if (strcmp (name, XATTR_STATUS) == 0 && lo)
    return device_status_value (lo, buf, size);
  if (strcmp (name, XATTR_INSTANCE) == 0 && ino == CONTROL_INO)
    return daemon_instance_value (buf, size);
  return -ENODATA;
}

/* getxattr(2): the node name (how loopfsd recognises its own nodes
 * offered as backing files), the nbdkit and kernel NBD device serving
 * a device, and its status. */
static void
fs_getxattr (fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
  char value[XATTR_VALUE_MAX];
  int len = xattr_value (ino, name, value, sizeof value);

  if (len < 0)
    fuse_reply_err (req, -len);
  else if (size == 0)
    fuse_reply_xattr (req, len);
  else if ((size_t) len > size)
    fuse_reply_err (req, ERANGE);
  else
    fuse_reply_buf (req, value, len);
}

/* listxattr(2). */
static void
fs_listxattr (fuse_req_t req, fuse_ino_t ino, size_t size)
{
  static const char *const names[] = { XATTR_NODE, XATTR_NBDKIT_PID,
                                       XATTR_NBD, XATTR_STATUS,
                                       XATTR_INSTANCE };
  char list[128], value[PATH_MAX + 2 * LO_NAME_SIZE + 512];
  size_t used = 0, i;

  for (i = 0; i < sizeof names / sizeof names[0]; i++)
    if (xattr_value (ino, names[i], value, sizeof value) >= 0) {
      size_t n = strlen (names[i]) + 1;
      memcpy (list + used, names[i], n);
      used += n;
    }
  if (size == 0)
    fuse_reply_xattr (req, used);
  else if (used > size)
    fuse_reply_err (req, ERANGE);
  else
    fuse_reply_buf (req, list, used);
}

/* setxattr(2) and removexattr(2): the attributes are read-only. */
static void
fs_setxattr (fuse_req_t req, fuse_ino_t ino, const char *name,
             const char *value, size_t size, int flags)
{
  (void) ino;
  (void) name;
  (void) value;
  (void) size;
  (void) flags;
  fuse_reply_err (req, EPERM);
}

/* removexattr(2): see fs_setxattr. */
static void
fs_removexattr (fuse_req_t req, fuse_ino_t ino, const char *name)
{
  (void) ino;
  (void) name;
  fuse_reply_err (req, EPERM);
}

/* statfs(2): an instance holds no blocks of its own. */
static void
fs_statfs (fuse_req_t req, fuse_ino_t ino)
{
  struct statvfs sv = {
    .f_bsize = LOOPDEV_PAGE_SIZE,
    .f_frsize = LOOPDEV_PAGE_SIZE,
    .f_files = 2 + daemon_state.inst.devs.len,
    .f_namemax = 255,
  };

  (void) ino;
  fuse_reply_statfs (req, &sv);
}

const struct fuse_lowlevel_ops loopfs_ops = {
  .init        = fs_init,
  .lookup      = fs_lookup,
  .getattr     = fs_getattr,
  .setattr     = fs_setattr,
  .readdir     = fs_readdir,
  .open        = fs_open,
  .release     = fs_release,
  .flush       = fs_flush,
  .read        = fs_read,
  .write       = fs_write,
  .fsync       = fs_fsync,
  .fallocate   = fs_fallocate,
  .ioctl       = fs_ioctl,
  .unlink      = fs_unlink,
  .rename      = fs_rename,
  .mknod       = fs_mknod,
  .mkdir       = fs_mkdir,
  .create      = fs_create,
  .symlink     = fs_symlink,
  .link        = fs_link,
  .rmdir       = fs_rmdir,
  .getxattr    = fs_getxattr,
  .listxattr   = fs_listxattr,
  .setxattr    = fs_setxattr,
  .removexattr = fs_removexattr,
  .statfs      = fs_statfs,
};
