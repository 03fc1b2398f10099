/* loopfsd: counting a user's loop devices across instances. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "options.h"
#include "log.h"
#include "user-limit.h"
#include "userns.h"

/* Read the limit from USER_LIMIT_FILE into *LIMIT, saying what is wrong
 * with the file when it holds no valid number. */
int
user_limit_read (unsigned *limit)
{
  int r = user_limit_file_read (limit);

  if (r == -EINVAL)
    log_error ("%s: expected a number from 0 to %u", USER_LIMIT_FILE,
               USER_LIMIT_MAX);
  return r;
}

/* Make directory PATH with MODE unless it exists. */
static int
make_dir (const char *path, mode_t mode)
{
  if (mkdir (path, mode) < 0 && errno != EEXIST)
    return -errno;
  return 0;
}

/* Open BASE/users/UID, making the levels that are missing. */
static int
open_under (struct user_limit *ul, const char *base, uid_t uid)
{
  CLEANUP_FREE char *users = NULL;
  char *dir;
  int r;

  if (asprintf (&users, "%s/users", base) < 0)
    return -ENOMEM;
  if (asprintf (&dir, "%s/%u", users, (unsigned) uid) < 0)
    return -ENOMEM;
  if ((r = make_dir (base, 0755)) < 0 || (r = make_dir (users, 0755)) < 0
      || (r = make_dir (dir, 0700)) < 0) {
    free (dir);
    return r;
  }
  ul->dirfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (ul->dirfd < 0) {
    r = -errno;
    free (dir);
    return r;
  }
  ul->dir = dir;
  return 0;
}

/* Open the accounting directory: /run/loopfs for daemons that can write
 * there (root on the host), else the user's runtime directory, else a
 * directory in /tmp named after the user. */
int
user_limit_open (struct user_limit *ul)
{
  uid_t uid = host_uid ();
  const char *xdg = getenv ("XDG_RUNTIME_DIR");
  char base[256];
  int r;

  *ul = (struct user_limit) { .dirfd = -1 };
  r = open_under (ul, "/run/loopfs", uid);
  if (r < 0 && xdg && *xdg) {
    snprintf (base, sizeof base, "%s/loopfs", xdg);
    r = open_under (ul, base, uid);
  }
  if (r < 0) {
    snprintf (base, sizeof base, "/tmp/loopfs-%u", (unsigned) uid);
    r = open_under (ul, base, uid);
  }
  if (r < 0)
    log_error ("cannot open a directory to count loop devices in: %s",
               strerror (-r));
  return r;
}

/* Count the files of live devices in the accounting directory, removing
 * those whose daemon is gone (their lock can be taken). */
static int
count_live (struct user_limit *ul, unsigned *count)
{
  int fd = dup (ul->dirfd);
  struct dirent *e;
  DIR *dir;

  if (fd < 0)
    return -errno;
  dir = fdopendir (fd);
  if (dir == NULL) {
    close (fd);
    return -errno;
  }
  rewinddir (dir);
  *count = 0;
  while ((e = readdir (dir)) != NULL) {
    int f;

    if (strncmp (e->d_name, "dev-", 4) != 0)
      continue;
    f = openat (ul->dirfd, e->d_name, O_RDONLY | O_CLOEXEC);
    if (f < 0)
      continue;
    if (flock (f, LOCK_EX | LOCK_NB) == 0)
      unlinkat (ul->dirfd, e->d_name, 0);
    else
      (*count)++;
    close (f);
  }
  closedir (dir);
  return 0;
}

/* Count the user's live devices and take a slot for one more.  The
 * directory's lock file serialises daemons counting at the same time. */
int
user_limit_take (struct user_limit *ul, struct user_slot *slot)
{
  CLEANUP_CLOSE int lock = -1;
  unsigned limit, count = 0;
  int r, fd;

  slot->fd = -1;
  r = user_limit_read (&limit);
  if (r < 0)
    return r;
  lock = openat (ul->dirfd, ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock < 0 || flock (lock, LOCK_EX) < 0)
    return -errno;
  r = count_live (ul, &count);
  if (r < 0)
    return r;
  if (count >= limit)
    return -ENOSPC;

  snprintf (slot->name, sizeof slot->name, "dev-%d-%lu", (int) getpid (),
            ul->next++);
  fd = openat (ul->dirfd, slot->name, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC,
               0600);
  if (fd < 0)
    return -errno;
  if (flock (fd, LOCK_EX | LOCK_NB) < 0) {
    r = -errno;
    unlinkat (ul->dirfd, slot->name, 0);
    close (fd);
    return r;
  }
  slot->fd = fd;
  return 0;
}

/* Give SLOT back. */
void
user_limit_give_back (struct user_limit *ul, struct user_slot *slot)
{
  if (slot->fd < 0)
    return;
  unlinkat (ul->dirfd, slot->name, 0);
  close (slot->fd);
  slot->fd = -1;
}

/* Close the accounting directory. */
void
user_limit_close (struct user_limit *ul)
{
  if (ul->dirfd >= 0)
    close (ul->dirfd);
  free (ul->dir);
  ul->dirfd = -1;
  ul->dir = NULL;
}
