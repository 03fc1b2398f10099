/* loopfsctl exec: the sandbox's sysfs view (see sysfs-view.h).
 *
 * Inode numbers say what a node is, so the filesystem keeps no state:
 * 1 is /sys/block, 2 the directory bound over /sys/dev/block (hidden
 * from /sys/block's listing), and device N's nodes are
 * FIRST_DEVICE_INO + N * INOS_PER_DEVICE + the node's index in
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
#include "sysfs-view.h"

#define SYS_BLOCK "/sys/block"
#define SYS_DEV_BLOCK "/sys/dev/block"

#define ROOT_INO FUSE_ROOT_ID
#define DEV_BLOCK_INO 2
#define FIRST_DEVICE_INO 16
#define INOS_PER_DEVICE 64
#define LOOP_MAJOR 7

/* What the kernel shows as a sysfs attribute's size. */
#define ATTRIBUTE_SIZE 4096

struct sysfs_view {
  const char *instance;
  struct fuse_session *se;
  int stop;                 /* eventfd: stop the thread */
  pthread_t thread;
  bool thread_started;
  bool dev_block_bound;
};

/* Print one attribute of device ST into BUF (SIZE bytes). */
typedef void show_fn (const struct device_status *st, char *buf, size_t size);

static void
show_dev (const struct device_status *st, char *buf, size_t size)
{
  snprintf (buf, size, "%d:%d\n", LOOP_MAJOR, st->number);
}

static void
show_size (const struct device_status *st, char *buf, size_t size)
{
  snprintf (buf, size, "%llu\n", (unsigned long long) st->size / 512);
}

static void
show_ro (const struct device_status *st, char *buf, size_t size)
{
  snprintf (buf, size, "%d\n", st->ro);
}

static void
show_zero (const struct device_status *st, char *buf, size_t size)
{
  (void) st;
  snprintf (buf, size, "0\n");
}

static void
show_one (const struct device_status *st, char *buf, size_t size)
{
  (void) st;
  snprintf (buf, size, "1\n");
}

static void
show_ext_range (const struct device_status *st, char *buf, size_t size)
{
  (void) st;
  snprintf (buf, size, "256\n");
}

static void
show_uevent (const struct device_status *st, char *buf, size_t size)
{
  snprintf (buf, size, "MAJOR=%d\nMINOR=%d\nDEVNAME=loop%d\nDEVTYPE=disk\n",
            LOOP_MAJOR, st->number, st->number);
}

static void
show_logical_block_size (const struct device_status *st, char *buf,
                         size_t size)
{
  snprintf (buf, size, "%u\n", st->logical_block_size);
}

static void
show_physical_block_size (const struct device_status *st, char *buf,
                          size_t size)
{
  snprintf (buf, size, "%u\n", st->physical_block_size);
}

static void
show_zoned (const struct device_status *st, char *buf, size_t size)
{
  (void) st;
  snprintf (buf, size, "none\n");
}

static void
show_backing_file (const struct device_status *st, char *buf, size_t size)
{
  snprintf (buf, size, "%s\n", st->backing_file);
}

static void
show_offset (const struct device_status *st, char *buf, size_t size)
{
  snprintf (buf, size, "%llu\n", (unsigned long long) st->offset);
}

static void
show_sizelimit (const struct device_status *st, char *buf, size_t size)
{
  snprintf (buf, size, "%llu\n", (unsigned long long) st->sizelimit);
}

static void
show_autoclear (const struct device_status *st, char *buf, size_t size)
{
  snprintf (buf, size, "%d\n", st->autoclear);
}

static void
show_partscan (const struct device_status *st, char *buf, size_t size)
{
  snprintf (buf, size, "%d\n", st->partscan);
}

static void
show_dio (const struct device_status *st, char *buf, size_t size)
{
  snprintf (buf, size, "%d\n", st->dio);
}

/* The nodes of one device, /sys/block/loopN and below.  Index 0 is
 * loopN itself; a node with a NULL show is a directory. */
enum { N_DEVICE = 0, N_QUEUE = 16, N_LOOP = 32, N_HOLDERS = 48,
       N_SLAVES = 49, N_DEV_LINK = 63 };

static const struct node {
  const char *name;
  int parent;
  show_fn *show;
  bool bound_only;          /* exists only while the device is bound */
} nodes[INOS_PER_DEVICE] = {
  [1] = { "dev", N_DEVICE, show_dev },
  [2] = { "size", N_DEVICE, show_size },
  [3] = { "ro", N_DEVICE, show_ro },
  [4] = { "removable", N_DEVICE, show_zero },
  [5] = { "range", N_DEVICE, show_one },
  [6] = { "ext_range", N_DEVICE, show_ext_range },
  [7] = { "capability", N_DEVICE, show_zero },
  [8] = { "uevent", N_DEVICE, show_uevent },
  [9] = { "alignment_offset", N_DEVICE, show_zero },
  [10] = { "discard_alignment", N_DEVICE, show_zero },
  [11] = { "hidden", N_DEVICE, show_zero },
  [12] = { "partscan", N_DEVICE, show_partscan },
  [N_QUEUE] = { "queue", N_DEVICE, NULL },
  [17] = { "logical_block_size", N_QUEUE, show_logical_block_size },
  [18] = { "physical_block_size", N_QUEUE, show_physical_block_size },
  [19] = { "hw_sector_size", N_QUEUE, show_logical_block_size },
  [20] = { "minimum_io_size", N_QUEUE, show_physical_block_size },
  [21] = { "optimal_io_size", N_QUEUE, show_zero },
  [22] = { "rotational", N_QUEUE, show_one },
  [23] = { "dax", N_QUEUE, show_zero },
  [24] = { "zoned", N_QUEUE, show_zoned },
  [N_LOOP] = { "loop", N_DEVICE, NULL, true },
  [33] = { "backing_file", N_LOOP, show_backing_file, true },
  [34] = { "offset", N_LOOP, show_offset, true },
  [35] = { "sizelimit", N_LOOP, show_sizelimit, true },
  [36] = { "autoclear", N_LOOP, show_autoclear, true },
  [37] = { "partscan", N_LOOP, show_partscan, true },
  [38] = { "dio", N_LOOP, show_dio, true },
  [N_HOLDERS] = { "holders", N_DEVICE, NULL },
  [N_SLAVES] = { "slaves", N_DEVICE, NULL },
};

/* Is node index I a directory (loopN, queue, loop, holders, slaves)? */
static bool
is_dir (int i)
{
  return i == N_DEVICE || (i != N_DEV_LINK && nodes[i].name
                           && nodes[i].show == NULL);
}

static fuse_ino_t
device_ino (int number, int index)
{
  return FIRST_DEVICE_INO + (fuse_ino_t) number * INOS_PER_DEVICE + index;
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
  *number = (ino - FIRST_DEVICE_INO) / INOS_PER_DEVICE;
  *index = (ino - FIRST_DEVICE_INO) % INOS_PER_DEVICE;
  if (*index != N_DEVICE && *index != N_DEV_LINK && nodes[*index].name == NULL)
    return -ENOENT;
  if (read_device (sv, *number, st) < 0)
    return -ENOENT;
  if (nodes[*index].bound_only && !st->bound)
    return -ENOENT;
  return 0;
}

/* Fill ATTR for inode INO, which exists. */
static void
fill_attr (fuse_ino_t ino, int index, struct stat *attr)
{
  memset (attr, 0, sizeof *attr);
  attr->st_ino = ino;
  if (ino < FIRST_DEVICE_INO || is_dir (index)) {
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
    attr->st_size = ATTRIBUTE_SIZE;
  }
}

/* Reply to REQ with the entry for inode INO (node INDEX). */
static void
reply_entry (fuse_req_t req, fuse_ino_t ino, int index)
{
  struct fuse_entry_param e = { .ino = ino };

  fill_attr (ino, index, &e.attr);
  fuse_reply_entry (req, &e);
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

static void
view_lookup (fuse_req_t req, fuse_ino_t parent, const char *name)
{
  struct sysfs_view *sv = fuse_req_userdata (req);
  struct device_status st;
  int number, index, i;

  if (parent == ROOT_INO && strcmp (name, SYSFS_VIEW_DEV_BLOCK) == 0) {
    reply_entry (req, DEV_BLOCK_INO, 0);
    return;
  }
  if (parent == ROOT_INO || parent == DEV_BLOCK_INO) {
    index = parent == ROOT_INO ? N_DEVICE : N_DEV_LINK;
    if (!parse_name (name, parent == ROOT_INO ? "loop" : "7:", &number)
        || read_device (sv, number, &st) < 0) {
      fuse_reply_err (req, ENOENT);
      return;
    }
    reply_entry (req, device_ino (number, index), index);
    return;
  }
  if (resolve (sv, parent, &number, &index, &st) < 0 || !is_dir (index)) {
    fuse_reply_err (req, ENOENT);
    return;
  }
  for (i = 1; i < INOS_PER_DEVICE; i++)
    if (nodes[i].name && nodes[i].parent == index
        && strcmp (nodes[i].name, name) == 0
        && (!nodes[i].bound_only || st.bound)) {
      reply_entry (req, device_ino (number, i), i);
      return;
    }
  fuse_reply_err (req, ENOENT);
}

static void
view_getattr (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
  struct sysfs_view *sv = fuse_req_userdata (req);
  struct device_status st;
  struct stat attr;
  int number, index = 0;

  (void) fi;
  if (ino != ROOT_INO && ino != DEV_BLOCK_INO
      && resolve (sv, ino, &number, &index, &st) < 0) {
    fuse_reply_err (req, ENOENT);
    return;
  }
  fill_attr (ino, index, &attr);
  fuse_reply_attr (req, &attr, 0);
}

static void
view_readlink (fuse_req_t req, fuse_ino_t ino)
{
  struct sysfs_view *sv = fuse_req_userdata (req);
  struct device_status st;
  char target[64];
  int number, index;

  if (resolve (sv, ino, &number, &index, &st) < 0 || index != N_DEV_LINK) {
    fuse_reply_err (req, EINVAL);
    return;
  }
  snprintf (target, sizeof target, "../../block/loop%d", number);
  fuse_reply_readlink (req, target);
}

/* Add directory entry NAME (inode INO, node INDEX) to BUF of SIZE
 * bytes at *USED if entry number *POS is at or after OFF. */
static void
add_entry (fuse_req_t req, char *buf, size_t size, size_t *used, off_t off,
           off_t *pos, const char *name, fuse_ino_t ino, int index)
{
  struct stat attr;
  size_t len;

  (*pos)++;
  if (*pos <= off || *used >= size)
    return;
  fill_attr (ino, index, &attr);
  len = fuse_add_direntry (req, buf + *used, size - *used, name, &attr, *pos);
  /* An entry that does not fit is left for the next call. */
  *used = len > size - *used ? size : *used + len;
}

static void
view_readdir (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
              struct fuse_file_info *fi)
{
  struct sysfs_view *sv = fuse_req_userdata (req);
  CLEANUP_FREE char *buf = malloc (size);
  struct device_status st;
  int number, index, i;
  size_t used = 0;
  off_t pos = 0;

  (void) fi;
  if (buf == NULL) {
    fuse_reply_err (req, ENOMEM);
    return;
  }
  if (ino == ROOT_INO || ino == DEV_BLOCK_INO) {
    int_vector numbers = { 0 };
    size_t j;

    add_entry (req, buf, size, &used, off, &pos, ".", ino, 0);
    add_entry (req, buf, size, &used, off, &pos, "..", ROOT_INO, 0);
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
        add_entry (req, buf, size, &used, off, &pos, name,
                   device_ino (numbers.ptr[j], index), index);
      }
    int_vector_reset (&numbers);
  }
  else if (resolve (sv, ino, &number, &index, &st) == 0 && is_dir (index)) {
    add_entry (req, buf, size, &used, off, &pos, ".", ino, index);
    add_entry (req, buf, size, &used, off, &pos, "..", ROOT_INO, 0);
    for (i = 1; i < INOS_PER_DEVICE; i++)
      if (nodes[i].name && nodes[i].parent == index
          && (!nodes[i].bound_only || st.bound))
        add_entry (req, buf, size, &used, off, &pos, nodes[i].name,
                   device_ino (number, i), i);
  }
  else {
    fuse_reply_err (req, ENOTDIR);
    return;
  }
  if (used > size)
    used = size;
  fuse_reply_buf (req, buf, used);
}

static void
view_open (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
  struct sysfs_view *sv = fuse_req_userdata (req);
  struct device_status st;
  int number, index;

  if (resolve (sv, ino, &number, &index, &st) < 0) {
    fuse_reply_err (req, ENOENT);
    return;
  }
  if (is_dir (index) || index == N_DEV_LINK) {
    fuse_reply_err (req, EISDIR);
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
  struct sysfs_view *sv = fuse_req_userdata (req);
  struct device_status st;
  char text[PATH_MAX + 64];
  int number, index;
  size_t len;

  (void) fi;
  if (resolve (sv, ino, &number, &index, &st) < 0) {
    fuse_reply_err (req, ENODEV);
    return;
  }
  nodes[index].show (&st, text, sizeof text);
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
