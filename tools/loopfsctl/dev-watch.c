/* loopfsctl exec: the sandbox's /dev/loopN and /dev/loopNpM (see
 * dev-watch.h). */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "cleanup.h"
#include "dev-watch.h"
#include "loopfs-interface.h"
#include "loopfsctl.h"

struct dev_watch {
  const char *instance;
  const char *instance_link;
  int dev;                  /* the directory the entries are made in */
  int socket;               /* our end of the registered pair, or -1 */
  int stop;                 /* eventfd: stop the thread */
  pthread_t thread;
  bool thread_started;
};

/* Is NAME a node name loopfsd may announce, "loopN" or "loopNpM"
 * (decimal numbers without leading zeros)?  Anything else is no name
 * of ours to make in /dev. */
static bool
valid_node_name (const char *name)
{
  const char *p = name + 4;
  bool partition = false;

  if (strncmp (name, "loop", 4) != 0 || strlen (name) > 31)
    return false;
  for (;;) {
    if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] >= '0' && p[1] <= '9'))
      return false;
    while (*p >= '0' && *p <= '9')
      p++;
    if (*p == '\0')
      return true;
    if (*p != 'p' || partition)
      return false;
    partition = true;
    p++;
  }
}

/* Make the entry DW->dev/NAME: the node INSTANCE/NAME bound over an
 * empty file, so that the entry is no symlink (libblkid, and so blkid
 * and findfs, print a device by its path with symlinks resolved, which
 * would be /dev/loopfs/NAME); a symlink to INSTANCE_LINK/NAME when the
 * bind fails (the namespace's mount limit, fs.mount-max).  An entry
 * already there (ours, or one COMMAND made) is left as it is. */
static int
make_entry (struct dev_watch *dw, const char *name)
{
  char source[PATH_MAX], target[PATH_MAX];
  int fd;

  fd = openat (dw->dev, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0)
    return errno == EEXIST ? 0 : -errno;
  close (fd);
  snprintf (source, sizeof source, "%s/%s", dw->instance, name);
  snprintf (target, sizeof target, "/proc/self/fd/%d/%s", dw->dev, name);
  if (mount (source, target, NULL, MS_BIND, NULL) == 0)
    return 0;
  unlinkat (dw->dev, name, 0);
  snprintf (target, sizeof target, "%s/%s", dw->instance_link, name);
  if (symlinkat (target, dw->dev, name) < 0 && errno != EEXIST)
    return -errno;
  return 0;
}

/* Remove the entry DW->dev/NAME if it is one make_entry made: a bind
 * (unmounted, then its empty file removed) or our symlink. */
static int
remove_entry (struct dev_watch *dw, const char *name)
{
  char path[PATH_MAX], target[PATH_MAX], expected[PATH_MAX];
  struct stat st;
  ssize_t n;

  snprintf (path, sizeof path, "/proc/self/fd/%d/%s", dw->dev, name);
  if (umount2 (path, MNT_DETACH | UMOUNT_NOFOLLOW) == 0) {
    if (unlinkat (dw->dev, name, 0) < 0 && errno != ENOENT)
      return -errno;
    return 0;
  }
  if (fstatat (dw->dev, name, &st, AT_SYMLINK_NOFOLLOW) < 0
      || !S_ISLNK (st.st_mode))
    return 0;
  n = readlinkat (dw->dev, name, target, sizeof target - 1);
  if (n < 0)
    return errno == ENOENT ? 0 : -errno;
  target[n] = '\0';
  snprintf (expected, sizeof expected, "%s/%s", dw->instance_link, name);
  if (strcmp (target, expected) != 0)
    return 0;
  if (unlinkat (dw->dev, name, 0) < 0 && errno != ENOENT)
    return -errno;
  return 0;
}

/* Make the entries of every node of the instance, and remove our links
 * to nodes that no longer exist. */
static int
resync (struct dev_watch *dw)
{
  CLEANUP_CLOSE int inst = open (dw->instance, O_RDONLY | O_DIRECTORY
                                 | O_CLOEXEC);
  CLEANUP_CLOSE int dev_list = -1;
  DIR *d;
  struct dirent *e;
  int r = 0;

  if (inst < 0)
    return -errno;
  d = fdopendir (dup (inst));
  if (d == NULL)
    return -errno;
  while (r == 0 && (e = readdir (d)) != NULL)
    if (valid_node_name (e->d_name))
      r = make_entry (dw, e->d_name);
  closedir (d);
  if (r < 0)
    return r;

  dev_list = openat (dw->dev, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dev_list < 0 || (d = fdopendir (dev_list)) == NULL)
    return -errno;
  dev_list = -1;
  while (r == 0 && (e = readdir (d)) != NULL) {
    struct stat st;

    if (valid_node_name (e->d_name)
        && fstatat (inst, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0
        && errno == ENOENT)
      r = remove_entry (dw, e->d_name);
  }
  closedir (d);
  return r;
}

/* Register a new socket with the instance's loop-control. */
static int
register_watcher (struct dev_watch *dw)
{
  CLEANUP_FREE char *control = NULL;
  CLEANUP_CLOSE int fd = -1, theirs = -1;
  int sv[2];

  if (asprintf (&control, "%s/" CONTROL_NAME, dw->instance) < 0)
    return -ENOMEM;
  fd = open (control, O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
    return -errno;
  theirs = sv[1];
  if (ioctl (fd, LOOPFS_CTL_WATCH, theirs) < 0) {
    int r = -errno;

    close (sv[0]);
    return r;
  }
  if (dw->socket >= 0)
    close (dw->socket);
  dw->socket = sv[0];
  return 0;
}

/* Carry out message TEXT, "SEQ add NAME" or "SEQ remove NAME", and
 * answer it.  Returns 0, or -errno when the answer cannot be sent. */
static int
handle_message (struct dev_watch *dw, char *text)
{
  char verb[8], name[NODE_WATCH_MESSAGE_MAX], answer[32];
  uint64_t seq;
  int r = 0, len;

  if (sscanf (text, "%" SCNu64 " %7s %63s", &seq, verb, name) != 3)
    return 0;
  if (valid_node_name (name)) {
    if (strcmp (verb, "add") == 0)
      r = make_entry (dw, name);
    else if (strcmp (verb, "remove") == 0)
      r = remove_entry (dw, name);
    if (r < 0)
      ctl_error ("exec: /dev/%s: %s", name, strerror (-r));
  }
  /* Answered also when the entry failed: loopfsd waits for the answer,
   * not for the entry. */
  len = snprintf (answer, sizeof answer, "%" PRIu64, seq);
  if (send (dw->socket, answer, len, MSG_NOSIGNAL) < 0)
    return -errno;
  return 0;
}

/* The thread: carry out messages until told to stop. */
static void *
serve (void *arg)
{
  struct dev_watch *dw = arg;

  for (;;) {
    struct pollfd fds[2] = {
      { .fd = dw->socket, .events = POLLIN },
      { .fd = dw->stop, .events = POLLIN },
    };
    char text[NODE_WATCH_MESSAGE_MAX + 1];
    ssize_t n;
    int r;

    if (poll (fds, 2, -1) < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    if (fds[1].revents)
      break;
    n = recv (dw->socket, text, sizeof text - 1, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
      continue;
    if (n > 0) {
      text[n] = '\0';
      if (handle_message (dw, text) == 0)
        continue;
    }
    /* loopfsd dropped us (or is gone): register again and catch up. */
    r = register_watcher (dw);
    if (r == 0)
      r = resync (dw);
    if (r < 0) {
      ctl_error ("exec: /dev entries no longer follow the instance: %s",
                 strerror (-r));
      break;
    }
    ctl_error ("exec: loopfsd had dropped the /dev watcher; registered "
               "again");
  }
  return NULL;
}

/* Free DW and close what it holds. */
static void
dev_watch_free (struct dev_watch *dw)
{
  if (dw->socket >= 0)
    close (dw->socket);
  if (dw->stop >= 0)
    close (dw->stop);
  if (dw->dev >= 0)
    close (dw->dev);
  free (dw);
}

int
dev_watch_start (const char *instance, const char *instance_link,
                 const char *dev, struct dev_watch **out)
{
  struct dev_watch *dw = calloc (1, sizeof *dw);
  int r;

  if (dw == NULL)
    return -ENOMEM;
  dw->instance = instance;
  dw->instance_link = instance_link;
  dw->socket = -1;
  dw->stop = eventfd (0, EFD_CLOEXEC);
  dw->dev = open (dev, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dw->stop < 0 || dw->dev < 0) {
    r = -errno;
    ctl_error ("exec: %s: %m", dev);
    goto fail;
  }
  r = register_watcher (dw);
  if (r < 0) {
    ctl_error ("exec: registering with %s/" CONTROL_NAME " for /dev "
               "entries: %s", instance, strerror (-r));
    goto fail;
  }
  r = resync (dw);
  if (r < 0) {
    ctl_error ("exec: making the /dev entries of %s: %s", instance,
               strerror (-r));
    goto fail;
  }
  r = -pthread_create (&dw->thread, NULL, serve, dw);
  if (r < 0) {
    ctl_error ("exec: pthread_create: %s", strerror (-r));
    goto fail;
  }
  dw->thread_started = true;
  *out = dw;
  return 0;

 fail:
  dev_watch_free (dw);
  return r;
}

/* Remove every entry make_entry made: a bind of a node keeps the
 * instance's FUSE connection, and with it loopfsd, alive after the
 * instance's unmount. */
static void
remove_all (struct dev_watch *dw)
{
  int fd = openat (dw->dev, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *d = fd < 0 ? NULL : fdopendir (fd);
  struct dirent *e;

  if (d == NULL) {
    if (fd >= 0)
      close (fd);
    return;
  }
  while ((e = readdir (d)) != NULL)
    if (valid_node_name (e->d_name))
      remove_entry (dw, e->d_name);
  closedir (d);
}

void
dev_watch_stop (struct dev_watch *dw)
{
  uint64_t one = 1;

  if (dw == NULL)
    return;
  if (dw->thread_started) {
    if (write (dw->stop, &one, sizeof one) < 0)
      ctl_error ("exec: stopping the /dev watcher: %m");
    pthread_join (dw->thread, NULL);
  }
  remove_all (dw);
  dev_watch_free (dw);
}
