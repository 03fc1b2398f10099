/* loopfsctl exec: the sandbox's sysfs view (see sysfs-view.h).
 *
 * Inode numbers say what a node is, so the filesystem keeps no state:
 * 1 is /sys/block, 2 the directory bound over /sys/dev/block (hidden
 * from /sys/block's listing), and device N's nodes are
 * FIRST_DEVICE_INO + N * SYSFS_DISK_NODES + the node's index in
 * "nodes" below.
 */

#define FUSE_USE_VERSION 35

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <fuse_lowlevel.h>

#include "cleanup.h"
#include "device-status.h"
#include "loopfs-interface.h"
#include "loopfsctl.h"
#include "sysfs-disk.h"
#include "sysfs-partitions.h"
#include "sysfs-view.h"

#define SYS_BLOCK "/sys/block"
#define SYS_DEV_BLOCK "/sys/dev/block"

#define ROOT_INO FUSE_ROOT_ID
#define DEV_BLOCK_INO 2
#define FIRST_DEVICE_INO 16
#define LOOP_MAJOR 7

struct sysfs_view {
  const char *instance;
  struct fuse_session *se;
  int stop;                 /* eventfd: stop the thread */
  pthread_t thread;
  bool thread_started;
  bool dev_block_bound;
};

static fuse_ino_t
device_ino (int number, int index)
{
  return FIRST_DEVICE_INO + (fuse_ino_t) number * SYSFS_DISK_NODES + index;
}

/* Read the status of device NUMBER of the view's instance. */
static int
read_device (struct sysfs_view *sv, int number, struct device_status *st)
{
  char path[PATH_MAX];

  snprintf (path, sizeof path, "%s/loop%d", sv->instance, number);
  return device_status_read (path, st);
}

/* Split device inode INO into device number and node index, and read
 * the device's status: 0, or -ENOENT when the node does not exist
 * (now). */
static int
resolve (struct sysfs_view *sv, fuse_ino_t ino, int *number, int *index,
         struct device_status *st)
{
  if (ino < FIRST_DEVICE_INO)
    return -ENOENT;
  *number = (ino - FIRST_DEVICE_INO) / SYSFS_DISK_NODES;
  *index = (ino - FIRST_DEVICE_INO) % SYSFS_DISK_NODES;
  if (*index != N_DEVICE && *index != N_DEV_LINK && sysfs_disk_nodes[*index].name == NULL)
    return -ENOENT;
  if (read_device (sv, *number, st) < 0)
    return -ENOENT;
  if (sysfs_disk_nodes[*index].bound_only && !st->bound)
    return -ENOENT;
  return 0;
}

/* Fill ATTR for inode INO, which exists. */
static void
fill_attr (fuse_ino_t ino, int index, struct stat *attr)
{
  memset (attr, 0, sizeof *attr);
  attr->st_ino = ino;
  if (ino < FIRST_DEVICE_INO || sysfs_disk_is_dir (index)) {
    attr->st_mode = S_IFDIR | 0755;
    attr->st_nlink = 2;
  }
  else if (index == N_DEV_LINK) {
    attr->st_mode = S_IFLNK | 0777;
    attr->st_nlink = 1;
  }
  else {
    attr->st_mode = S_IFREG | 0444;
    attr->st_nlink = 1;
    attr->st_size = SYSFS_ATTRIBUTE_SIZE;
  }
}

/* Parse "loopN" (PREFIX "loop") or "7:N" (PREFIX "7:") into *NUMBER. */
static bool
parse_name (const char *name, const char *prefix, int *number)
{
  size_t len = strlen (prefix);
  char *end;
  long n;

  if (strncmp (name, prefix, len) != 0 || name[len] < '0' || name[len] > '9')
    return false;
  n = strtol (name + len, &end, 10);
  if (*end || n < 0 || n > LOOPFS_MAX_INDEX)
    return false;
  *number = n;
  return true;
}

/* Look NAME up in directory PARENT: 0 with *ATTR, or -ENOENT. */
static int
lookup_node (struct sysfs_view *sv, fuse_ino_t parent, const char *name,
             struct stat *attr)
{
  struct device_status st;
  int number, index, i;

  if (parent == ROOT_INO && strcmp (name, SYSFS_VIEW_DEV_BLOCK) == 0) {
    fill_attr (DEV_BLOCK_INO, 0, attr);
    return 0;
  }
  if (parent == DEV_BLOCK_INO
      && sysfs_part_lookup_dev_link (sv->instance, name, attr) == 0)
    return 0;
  if (parent == ROOT_INO || parent == DEV_BLOCK_INO) {
    index = parent == ROOT_INO ? N_DEVICE : N_DEV_LINK;
    if (!parse_name (name, parent == ROOT_INO ? "loop" : "7:", &number)
        || read_device (sv, number, &st) < 0)
      return -ENOENT;
    fill_attr (device_ino (number, index), index, attr);
    return 0;
  }
  if (sysfs_part_ino (parent))
    return sysfs_part_lookup (sv->instance, parent, name, attr);
  if (resolve (sv, parent, &number, &index, &st) < 0
      || !sysfs_disk_is_dir (index))
    return -ENOENT;
  if (index == N_DEVICE
      && sysfs_part_lookup_in_disk (sv->instance, number, name, attr) == 0)
    return 0;
  for (i = 1; i < SYSFS_DISK_NODES; i++)
    if (sysfs_disk_nodes[i].name && sysfs_disk_nodes[i].parent == index
        && strcmp (sysfs_disk_nodes[i].name, name) == 0
        && (!sysfs_disk_nodes[i].bound_only || st.bound)) {
      fill_attr (device_ino (number, i), i, attr);
      return 0;
    }
  return -ENOENT;
}

static void
view_lookup (fuse_req_t req, fuse_ino_t parent, const char *name)
{
  struct fuse_entry_param e = { .ino = 0 };
  int r = lookup_node (fuse_req_userdata (req), parent, name, &e.attr);

  if (r < 0) {
    fuse_reply_err (req, -r);
    return;
  }
  e.ino = e.attr.st_ino;
  fuse_reply_entry (req, &e);
}

static void
view_getattr (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
  struct sysfs_view *sv = fuse_req_userdata (req);
  struct device_status st;
  struct stat attr;
  int number, index = 0;

  (void) fi;
  if (sysfs_part_ino (ino)) {
    if (sysfs_part_getattr (sv->instance, ino, &attr) < 0) {
      fuse_reply_err (req, ENOENT);
      return;
    }
  }
  else if (ino != ROOT_INO && ino != DEV_BLOCK_INO
           && resolve (sv, ino, &number, &index, &st) < 0) {
    fuse_reply_err (req, ENOENT);
    return;
  }
  else
    fill_attr (ino, index, &attr);
  fuse_reply_attr (req, &attr, 0);
}

static void
view_readlink (fuse_req_t req, fuse_ino_t ino)
{
  struct sysfs_view *sv = fuse_req_userdata (req);
  struct device_status st;
  char target[128];
  int number, index;

  if (sysfs_part_ino (ino)) {
    if (sysfs_part_readlink (sv->instance, ino, target, sizeof target) < 0)
      fuse_reply_err (req, EINVAL);
    else
      fuse_reply_readlink (req, target);
    return;
  }
  if (resolve (sv, ino, &number, &index, &st) < 0 || index != N_DEV_LINK) {
    fuse_reply_err (req, EINVAL);
    return;
  }
  snprintf (target, sizeof target, "../../block/loop%d", number);
  fuse_reply_readlink (req, target);
}

/* A directory listing being filled for one READDIR: entries before
 * OFF are skipped, those that do not fit are left for the next one. */
struct listing {
  fuse_req_t req;
  char *buf;
  size_t size, used;
  off_t off, pos;
};

/* Add entry NAME with attributes ATTR to listing CTX. */
static void
add_entry (void *ctx, const char *name, const struct stat *attr)
{
  struct listing *l = ctx;
  size_t len;

  l->pos++;
  if (l->pos <= l->off || l->used >= l->size)
    return;
  len = fuse_add_direntry (l->req, l->buf + l->used, l->size - l->used, name,
                           attr, l->pos);
  l->used = len > l->size - l->used ? l->size : l->used + len;
}

/* Add the entry NAME for inode INO (node INDEX) to listing L. */
static void
add_node (struct listing *l, const char *name, fuse_ino_t ino, int index)
{
  struct stat attr;

  fill_attr (ino, index, &attr);
  add_entry (l, name, &attr);
}

/* List directory INO into L: 0, or -ENOTDIR. */
static int
list_node (struct sysfs_view *sv, fuse_ino_t ino, struct listing *l)
{
  struct device_status st;
  int number, index, i;

  add_node (l, ".", ino, 0);
  add_node (l, "..", ROOT_INO, 0);
  if (sysfs_part_ino (ino))
    return sysfs_part_list (sv->instance, ino, add_entry, l);
  if (ino == ROOT_INO || ino == DEV_BLOCK_INO) {
    int_vector numbers = { 0 };
    size_t j;

    if (instance_device_numbers (sv->instance, &numbers) == 0)
      for (j = 0; j < numbers.len; j++) {
        char name[32];

        if (ino == ROOT_INO) {
          snprintf (name, sizeof name, "loop%d", numbers.ptr[j]);
          index = N_DEVICE;
        }
        else {
          snprintf (name, sizeof name, "%d:%d", LOOP_MAJOR, numbers.ptr[j]);
          index = N_DEV_LINK;
        }
        add_node (l, name, device_ino (numbers.ptr[j], index), index);
      }
    int_vector_reset (&numbers);
    if (ino == DEV_BLOCK_INO)
      sysfs_part_list_dev_links (sv->instance, add_entry, l);
    return 0;
  }
  if (resolve (sv, ino, &number, &index, &st) < 0
      || !sysfs_disk_is_dir (index))
    return -ENOTDIR;
  for (i = 1; i < SYSFS_DISK_NODES; i++)
    if (sysfs_disk_nodes[i].name && sysfs_disk_nodes[i].parent == index
        && (!sysfs_disk_nodes[i].bound_only || st.bound))
      add_node (l, sysfs_disk_nodes[i].name, device_ino (number, i), i);
  if (index == N_DEVICE)
    sysfs_part_list_disk (sv->instance, number, add_entry, l);
  return 0;
}

static void
view_readdir (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
              struct fuse_file_info *fi)
{
  CLEANUP_FREE char *buf = malloc (size);
  struct listing l = { .req = req, .buf = buf, .size = size, .off = off };
  int r;

  (void) fi;
  if (buf == NULL) {
    fuse_reply_err (req, ENOMEM);
    return;
  }
  r = list_node (fuse_req_userdata (req), ino, &l);
  if (r < 0) {
    fuse_reply_err (req, -r);
    return;
  }
  fuse_reply_buf (req, buf, l.used > size ? size : l.used);
}

/* The text of attribute INO into TEXT (SIZE bytes): 0, -ENOENT, or
 * -EISDIR for a directory or link. */
static int
read_node (struct sysfs_view *sv, fuse_ino_t ino, char *text, size_t size)
{
  struct device_status st;
  int number, index;

  if (sysfs_part_ino (ino))
    return sysfs_part_read (sv->instance, ino, text, size);
  if (resolve (sv, ino, &number, &index, &st) < 0)
    return -ENOENT;
  if (sysfs_disk_is_dir (index) || index == N_DEV_LINK)
    return -EISDIR;
  sysfs_disk_nodes[index].show (&st, text, size);
  return 0;
}

static void
view_open (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
  char text[PATH_MAX + 64];
  int r = read_node (fuse_req_userdata (req), ino, text, sizeof text);

  if (r < 0) {
    fuse_reply_err (req, -r);
    return;
  }
  if ((fi->flags & O_ACCMODE) != O_RDONLY) {
    fuse_reply_err (req, EACCES);
    return;
  }
  /* Every read asks us, so every read is current. */
  fi->direct_io = 1;
  fi->keep_cache = 0;
  fuse_reply_open (req, fi);
}

static void
view_read (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
           struct fuse_file_info *fi)
{
  char text[PATH_MAX + 64];
  size_t len;

  (void) fi;
  if (read_node (fuse_req_userdata (req), ino, text, sizeof text) < 0) {
    fuse_reply_err (req, ENODEV);
    return;
  }
  len = strlen (text);
  if ((size_t) off >= len)
    fuse_reply_buf (req, NULL, 0);
  else
    fuse_reply_buf (req, text + off, len - off < size ? len - off : size);
}

static const struct fuse_lowlevel_ops view_ops = {
  .lookup = view_lookup,
  .getattr = view_getattr,
  .readlink = view_readlink,
  .open = view_open,
  .read = view_read,
  .readdir = view_readdir,
};

/* The thread serving the view until it is unmounted or told to stop.
 * Not fuse_session_loop: a bind of the view in a namespace that
 * outlives us (a running container's /sys/block) keeps the connection
 * open after our unmount, and the loop's read would never return. */
static void *
serve (void *arg)
{
  struct sysfs_view *sv = arg;
  struct fuse_buf buf = { .mem = NULL };
  struct pollfd fds[2] = {
    { .fd = fuse_session_fd (sv->se), .events = POLLIN },
    { .fd = sv->stop, .events = POLLIN },
  };
  int r;

  while (!fuse_session_exited (sv->se)) {
    if (poll (fds, 2, -1) < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    if (fds[1].revents || (fds[0].revents & (POLLERR | POLLHUP | POLLNVAL)))
      break;
    r = fuse_session_receive_buf (sv->se, &buf);
    if (r == -EINTR || r == -EAGAIN)
      continue;
    if (r <= 0)
      break;
    fuse_session_process_buf (sv->se, &buf);
  }
  free (buf.mem);
  return NULL;
}

/* Mount a view of the instance at INSTANCE on MOUNTPOINT with the FUSE
 * options OPTIONS and serve it from a thread; *OUT is set (for
 * sysfs_view_unmount) as soon as the mount exists. */
static int
view_start (const char *instance, const char *mountpoint, const char *options,
            struct sysfs_view **out)
{
  char *argv[] = {
    (char *) "loopfsctl", (char *) "-o", (char *) options, NULL,
  };
  struct fuse_args args = FUSE_ARGS_INIT (3, argv);
  struct sysfs_view *sv;
  int r;

  sv = calloc (1, sizeof *sv);
  if (sv == NULL)
    return -ENOMEM;
  sv->instance = instance;
  sv->stop = eventfd (0, EFD_CLOEXEC);
  if (sv->stop < 0) {
    ctl_error ("exec: eventfd: %m");
    free (sv);
    return -EIO;
  }
  sv->se = fuse_session_new (&args, &view_ops, sizeof view_ops, sv);
  fuse_opt_free_args (&args);
  if (sv->se == NULL) {
    ctl_error ("exec: the sysfs view: fuse_session_new failed");
    close (sv->stop);
    free (sv);
    return -EIO;
  }
  if (fuse_session_mount (sv->se, mountpoint) != 0) {
    ctl_error ("exec: mounting the sysfs view on %s failed", mountpoint);
    fuse_session_destroy (sv->se);
    close (sv->stop);
    free (sv);
    return -EIO;
  }
  *out = sv;
  r = -pthread_create (&sv->thread, NULL, serve, sv);
  if (r < 0) {
    ctl_error ("exec: pthread_create: %s", strerror (-r));
    return r;
  }
  sv->thread_started = true;
  return 0;
}

int
sysfs_view_mount (const char *instance, struct sysfs_view **out)
{
  struct sysfs_view *sv = NULL;
  int r;

  r = view_start (instance, SYS_BLOCK,
                  "ro,allow_other,fsname=loopfs-sysfs,subtype=loopfs-sysfs",
                  &sv);
  *out = sv;
  if (r < 0)
    return r;
  if (mount (SYS_BLOCK "/" SYSFS_VIEW_DEV_BLOCK, SYS_DEV_BLOCK, NULL, MS_BIND,
             NULL) < 0) {
    ctl_error ("exec: binding the sysfs view over %s: %m", SYS_DEV_BLOCK);
    return -errno;
  }
  sv->dev_block_bound = true;
  return 0;
}

int
sysfs_view_mount_at (const char *instance, const char *dir,
                     struct sysfs_view **out)
{
  /* auto_unmount: nothing stays mounted on the host if we are killed. */
  return view_start (instance, dir,
                     "ro,allow_other,auto_unmount,fsname=loopfs-sysfs,"
                     "subtype=loopfs-sysfs", out);
}

void
sysfs_view_unmount (struct sysfs_view *sv)
{
  uint64_t one = 1;

  if (sv == NULL)
    return;
  if (sv->dev_block_bound && umount2 (SYS_DEV_BLOCK, MNT_DETACH) < 0)
    ctl_error ("exec: unmounting %s: %m", SYS_DEV_BLOCK);
  fuse_session_exit (sv->se);
  fuse_session_unmount (sv->se);
  if (sv->thread_started) {
    if (write (sv->stop, &one, sizeof one) < 0)
      ctl_error ("exec: stopping the sysfs view: %m");
    pthread_join (sv->thread, NULL);
  }
  fuse_session_destroy (sv->se);
  close (sv->stop);
  free (sv);
}
