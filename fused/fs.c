/* loopfsd: the filesystem of one instance: its directory, and the
 * operations table that also names the handlers of open nodes
 * (open-files.c) and of extended attributes (xattr.c).
 *
 * Like binderfs and the kernel loopfs patch, the tree is one directory
 * holding a control node and the nodes it created: loop-control always,
 * loopN while device N exists.  Nothing else can be created; the
 * control node cannot be removed or renamed; "rm loopN" removes an
 * unbound, unopened device.
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

#include "device.h"
#include "fs.h"
#include "node-watch.h"
#include "nodes.h"
#include "open-files.h"
#include "partition-nodes.h"
#include "xattr.h"

/* Reply to a lookup of inode INO with generation GEN. */
static void
reply_entry (fuse_req_t req, fuse_ino_t ino, uint64_t gen)
{
  struct fuse_entry_param e = { .ino = ino, .generation = gen };

  if (node_attr (fuse_req_userdata (req), ino, &e.attr) < 0) {
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
  struct daemon *d = userdata;

  clock_gettime (CLOCK_REALTIME, &d->mount_time);
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
  struct daemon *d = fuse_req_userdata (req);
  struct loopdev *lo;
  fuse_ino_t ino;
  uint64_t gen;
  int number;

  if (parent != ROOT_INO) {
    fuse_reply_err (req, ENOTDIR);
    return;
  }
  if (strcmp (name, CONTROL_NAME) == 0) {
    reply_entry (req, CONTROL_INO, 0);
    return;
  }
  if (partition_lookup (d, name, &ino, &gen) == 0) {
    reply_entry (req, ino, gen);
    return;
  }
  if (!node_parse_name (name, &number)
      || (lo = instance_lookup (&d->inst, number)) == NULL) {
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
  if (node_attr (fuse_req_userdata (req), ino, &st) < 0)
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
  if (node_attr (fuse_req_userdata (req), ino, &st) < 0) {
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

/* List the root directory: ".", "..", loop-control and every loopN,
 * each followed by its partitions. */
static void
fs_readdir (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
            struct fuse_file_info *fi)
{
  struct daemon *d = fuse_req_userdata (req);
  size_t used = 0, i;
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
  for (i = off;; i++) {
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
    else if (!partition_dir_entry (d, i - 3, name, sizeof name, &st.st_ino))
      break;
    len = fuse_add_direntry (req, buf + used, size - used, name, &st, i + 1);
    if (len > size - used)
      break;
    used += len;
  }
  fuse_reply_buf (req, buf, used);
  free (buf);
}

/* unlink(2): loop-control is permanent; loopN goes if it is unbound and
 * unopened (loopfs_rundown_locked); loopNpM only goes with its
 * partition (BLKPG, BLKRRPART, the device's detach). */
static void
fs_unlink (fuse_req_t req, fuse_ino_t parent, const char *name)
{
  struct daemon *d = fuse_req_userdata (req);
  int number, r;

  if (parent != ROOT_INO) {
    fuse_reply_err (req, ENOTDIR);
    return;
  }
  if (strcmp (name, CONTROL_NAME) == 0
      || partition_lookup (d, name, NULL, NULL) == 0) {
    fuse_reply_err (req, EPERM);
    return;
  }
  if (!node_parse_name (name, &number)) {
    fuse_reply_err (req, ENOENT);
    return;
  }
  r = instance_unlink (&d->inst, number);
  /* Answered once the node watchers have removed their entry. */
  node_watch_reply (d->watch, req, false, r);
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

/* statfs(2): an instance holds no blocks of its own. */
static void
fs_statfs (fuse_req_t req, fuse_ino_t ino)
{
  struct daemon *d = fuse_req_userdata (req);
  struct statvfs sv = {
    .f_bsize = LOOPDEV_PAGE_SIZE,
    .f_frsize = LOOPDEV_PAGE_SIZE,
    .f_files = 2 + d->inst.devs.len,
    .f_namemax = 255,
  };

  (void) ino;
  fuse_reply_statfs (req, &sv);
}

/* No .flush: nothing is buffered, and libfuse's ENOSYS for the first
 * FLUSH makes the kernel send no FLUSH at all afterwards.  A FLUSH is
 * waited for uninterruptibly at every close(2), so a process closing a
 * node (also while being killed) would otherwise hang in D state for as
 * long as the daemon does not answer: stopped, stuck in a cycle of
 * filesystems, or closing one of its own nodes itself when killed. */
const struct fuse_lowlevel_ops loopfs_ops = {
  .init        = fs_init,
  .lookup      = fs_lookup,
  .getattr     = fs_getattr,
  .setattr     = fs_setattr,
  .readdir     = fs_readdir,
  .open        = file_open,
  .release     = file_release,
  .read        = file_read,
  .write       = file_write,
  .fsync       = file_fsync,
  .fallocate   = file_fallocate,
  .ioctl       = file_ioctl,
  .unlink      = fs_unlink,
  .rename      = fs_rename,
  .mknod       = fs_mknod,
  .mkdir       = fs_mkdir,
  .create      = fs_create,
  .symlink     = fs_symlink,
  .link        = fs_link,
  .rmdir       = fs_rmdir,
  .getxattr    = xattr_get,
  .listxattr   = xattr_list,
  .setxattr    = xattr_set,
  .removexattr = xattr_remove,
  .statfs      = fs_statfs,
};
