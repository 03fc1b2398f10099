/* loopfsd: inspecting a backing descriptor off the loop. */

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <linux/fs.h>

#include "backing.h"
#include "daemon.h"
#include "direct-io.h"
#include "log.h"

/* Is the disk holding a filesystem of device number DEV rotational?
 * loop_update_rotational() asks the filesystem's s_bdev: a filesystem
 * without one (tmpfs, st_dev 0:N) counts as non-rotational; a partition
 * has its disk's queue one directory up. */
static bool
disk_rotational (dev_t dev)
{
  static const char *const queues[] = { "queue", "../queue" };
  char path[96];

  for (size_t i = 0; i < sizeof queues / sizeof queues[0]; i++) {
    FILE *fp;
    int rotational;

    snprintf (path, sizeof path, "/sys/dev/block/%u:%u/%s/rotational",
              major (dev), minor (dev), queues[i]);
    fp = fopen (path, "re");
    if (fp == NULL)
      continue;
    if (fscanf (fp, "%d", &rotational) != 1)
      rotational = 0;
    fclose (fp);
    return rotational != 0;
  }
  return false;
}

/* Find the direct-I/O alignment of FD, 0 when it cannot do O_DIRECT.
 *
 * The kernel's lo_can_use_dio() asks for FMODE_CAN_ODIRECT and the
 * STATX_DIOALIGN offset alignment.  Without STATX_DIOALIGN from the
 * filesystem, reopening the file with O_DIRECT tells whether it can. */
static uint32_t
probe_dio_align (int fd, const struct stat *st)
{
  struct statx stx;
  char path[64];
  int fd2;

  if (statx (fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0
      && (stx.stx_mask & STATX_DIOALIGN))
    return stx.stx_dio_offset_align;

  if (S_ISBLK (st->st_mode)) {
    int lbs;
    if (ioctl (fd, BLKSSZGET, &lbs) == 0)
      return lbs;
    return 0;
  }
  snprintf (path, sizeof path, "/proc/self/fd/%d", fd);
  fd2 = open (path, O_RDONLY | O_DIRECT | O_CLOEXEC);
  if (fd2 < 0)
    return 0;
  close (fd2);
  return LOOPDEV_SECTOR_SIZE;
}

/* The size of block device FD, which may be an O_PATH descriptor (an
 * ioctl needs an open one, made through the magic link). */
static int
block_size_of (int fd, bool path_only, uint64_t *size)
{
  char path[64];
  int r, dev = fd;

  if (path_only) {
    snprintf (path, sizeof path, "/proc/self/fd/%d", fd);
    dev = open (path, O_RDONLY | O_CLOEXEC);
    if (dev < 0)
      return -errno;
  }
  r = ioctl (dev, BLKGETSIZE64, size) < 0 ? -errno : 0;
  if (path_only)
    close (dev);
  return r;
}

/* Replace P's descriptor, a caller's open file, by an O_PATH descriptor
 * of the same file (see backing.h). */
static int
keep_path_only (struct backing_probe *p)
{
  char path[64];
  int fd;

  snprintf (path, sizeof path, "/proc/self/fd/%d", p->fd);
  fd = open (path, O_PATH | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  close (p->fd);
  p->fd = fd;
  return 0;
}

/* Fill PROBE from its descriptor (on the job's thread). */
static void
probe_work (struct offload *job)
{
  struct backing_probe *p = (struct backing_probe *)
    ((char *) job - offsetof (struct backing_probe, job));
  struct loop_backing *b = &p->backing;
  bool path_only;
  struct stat st;
  ssize_t n;
  int flags;

  memset (b, 0, sizeof *b);
  p->node[0] = '\0';
  p->data_fd = -1;
  p->nbdkit_pid = 0;
  if (fstat (p->fd, &st) < 0 || (flags = fcntl (p->fd, F_GETFL)) < 0) {
    p->err = -errno;
    return;
  }
  path_only = (flags & O_PATH) != 0;
  p->uid = st.st_uid;
  p->gid = st.st_gid;
  b->dev = st.st_dev;
  b->ino = st.st_ino;
  b->rdev = st.st_rdev;
  b->writable = (flags & O_ACCMODE) != O_RDONLY;
  b->write_only = (flags & O_ACCMODE) == O_WRONLY;
  b->append = (flags & O_APPEND) != 0;
  b->o_direct = (flags & O_DIRECT) != 0;

  if (S_ISREG (st.st_mode)) {
    b->kind = LOOP_BACKING_FILE;
    b->size = st.st_size;
    b->can_discard = true;
    b->nonrot = !disk_rotational (st.st_dev);
  }
  else if (S_ISBLK (st.st_mode)) {
    uint64_t size;
    b->kind = LOOP_BACKING_BLOCK;
    p->err = block_size_of (p->fd, path_only, &size);
    if (p->err < 0)
      return;
    b->size = size;
    b->can_discard = true;
    /* The kernel asks the superblock of the device's inode (bdevfs),
     * which has no disk. */
    b->nonrot = true;
  }
  else {
    b->kind = LOOP_BACKING_OTHER;
    p->err = 0;
    return;
  }
  p->err = 0;
  /* A device's own descriptor, probed again for its size. */
  if (path_only)
    return;
  b->dio_align = probe_dio_align (p->fd, &st);

  /* A loopfs node, of this instance or another, answers XATTR_NODE,
   * also when it is reached through a filesystem stacked on the
   * instance: overlayfs (a layer on the instance) and passthrough
   * filesystems hand user.* attributes down to the node, and such a
   * path would otherwise close a cycle that the filesystem type cannot
   * show.  So every backing file is asked, not only FUSE files; on any
   * other file the query costs one getxattr that finds nothing. */
  n = fgetxattr (p->fd, XATTR_NODE, p->node, sizeof p->node - 1);
  if (n > 0) {
    char pid[16];

    p->node[n] = '\0';
    b->kind = strcmp (p->node, CONTROL_NAME) == 0
      ? LOOP_BACKING_OTHER : LOOP_BACKING_LOOPFS;
    /* Which device of which instance it is (stacking.c). */
    n = fgetxattr (p->fd, XATTR_NBDKIT_PID, pid, sizeof pid - 1);
    if (n > 0) {
      pid[n] = '\0';
      p->nbdkit_pid = (pid_t) strtol (pid, NULL, 10);
    }
    /* If it is a node of ours, let the daemon know which open file it
     * is, before closing our copy of it (handles.c). */
    if (p->hold_cookie && b->kind == LOOP_BACKING_LOOPFS)
      ioctl (p->fd, LOOPFS_IOC_HOLD, (unsigned long) p->hold_cookie);
  }
  else
    p->node[0] = '\0';
  /* The caller's own open file, with its access mode, is what the
   * kernel's loop driver reads and writes; on a local filesystem its
   * close never waits, unlike the files backing.h is careful about. */
  if (p->want_data_fd && b->kind == LOOP_BACKING_FILE
      && direct_io_eligible (p->fd))
    p->data_fd = fcntl (p->fd, F_DUPFD_CLOEXEC, 3);
  p->err = keep_path_only (p);
  if (p->err < 0 && p->data_fd >= 0) {
    close (p->data_fd);
    p->data_fd = -1;
  }
}

/* Hand the result back on the loop. */
static void
probe_after (struct offload *job)
{
  struct backing_probe *p = (struct backing_probe *)
    ((char *) job - offsetof (struct backing_probe, job));

  p->done (p);
}

/* Inspect PROBE->fd off the loop, then call PROBE->done. */
int
backing_probe_start (struct backing_probe *probe)
{
  probe->err = 0;
  return offload_run (&probe->job, probe_work, probe_after);
}

/* A descriptor being closed off the loop. */
struct close_job {
  struct offload job;             /* first: the job is the request */
  int fd;
  void (*done) (void *opaque);
  void *opaque;
};

/* Close the descriptor (on the job's thread). */
static void
close_work (struct offload *job)
{
  struct close_job *c = (struct close_job *) job;

  close (c->fd);
}

/* The descriptor is closed: tell the caller, free the request. */
static void
close_after (struct offload *job)
{
  struct close_job *c = (struct close_job *) job;

  if (c->done)
    c->done (c->opaque);
  free (c);
}

/* The daemon exits before the close is reported: only free the
 * request (DONE's state is going away). */
static void
close_drop (struct offload *job)
{
  free ((struct close_job *) job);
}

/* Close FD off the loop, then call DONE (OPAQUE). */
void
backing_close_then (int fd, void (*done) (void *opaque), void *opaque)
{
  struct close_job *c = fd >= 0 ? malloc (sizeof *c) : NULL;

  if (c) {
    *c = (struct close_job) { .fd = fd, .done = done, .opaque = opaque };
    if (offload_run_or_drop (&c->job, close_work, close_after,
                             close_drop) == 0)
      return;
    free (c);
  }
  /* Leaking one descriptor is better than risking a deadlock. */
  if (fd >= 0)
    log_error ("cannot close backing descriptor %d off the loop", fd);
  if (done)
    done (opaque);
}

/* Close backing descriptor FD off the loop. */
void
backing_close (int fd)
{
  backing_close_then (fd, NULL, NULL);
}
