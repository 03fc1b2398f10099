/* loopfsctl: read what a loopfs instance says of its devices (see
 * device-status.h). */

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "cleanup.h"
#include "device-status.h"

#define XATTR_NODE "user.loopfs.node"
#define XATTR_STATUS "user.loopfs.status"
#define XATTR_NBD "user.loopfs.nbd"
#define XATTR_NBDKIT_PID "user.loopfs.nbdkit-pid"
#define XATTR_INSTANCE "user.loopfs.instance"

/* loopfsd's per-user limit file and its default. */
#define USER_LIMIT_FILE "/etc/loopfs/max_loop_devices"
#define USER_LIMIT_DEFAULT 255u

/* Read extended attribute NAME of PATH into BUF (SIZE bytes) as a
 * NUL-terminated string.  Returns its length or -errno. */
static int
read_xattr (const char *path, const char *name, char *buf, size_t size)
{
  ssize_t n = getxattr (path, name, buf, size - 1);

  if (n < 0)
    return -errno;
  buf[n] = '\0';
  return n;
}

/* Copy string VALUE into DST of SIZE bytes; -EOVERFLOW if it does not
 * fit. */
static int
copy_string (char *dst, size_t size, const char *value)
{
  if (strlen (value) >= size)
    return -EOVERFLOW;
  strcpy (dst, value);
  return 0;
}

/* Parse VALUE as an unsigned decimal number into *N. */
static int
parse_u64 (const char *value, uint64_t *n)
{
  char *end;

  errno = 0;
  *n = strtoull (value, &end, 10);
  if (errno || end == value || *end)
    return -EINVAL;
  return 0;
}

/* Store one "KEY=VALUE" line of user.loopfs.status in ST.  Unknown keys
 * are skipped: a newer loopfsd may say more. */
static int
store_field (struct device_status *st, const char *key, const char *value)
{
  uint64_t n = 0;
  int r = 0;

  if (strcmp (key, "state") == 0)
    return copy_string (st->state, sizeof st->state, value);
  if (strcmp (key, "backing_file") == 0)
    return copy_string (st->backing_file, sizeof st->backing_file, value);
  if (strcmp (key, "file_name") == 0)
    return copy_string (st->file_name, sizeof st->file_name, value);
  if (strcmp (key, "backing_dev") == 0)
    return sscanf (value, "%u:%u", &st->backing_major,
                   &st->backing_minor) == 2 ? 0 : -EINVAL;
  if (strcmp (key, "size") == 0) r = parse_u64 (value, &st->size);
  else if (strcmp (key, "offset") == 0) r = parse_u64 (value, &st->offset);
  else if (strcmp (key, "sizelimit") == 0) r = parse_u64 (value, &st->sizelimit);
  else if (strcmp (key, "backing_inode") == 0)
    r = parse_u64 (value, &st->backing_inode);
  else {
    r = parse_u64 (value, &n);
    if (strcmp (key, "ro") == 0) st->ro = n;
    else if (strcmp (key, "logical_block_size") == 0) st->logical_block_size = n;
    else if (strcmp (key, "physical_block_size") == 0) st->physical_block_size = n;
    else if (strcmp (key, "autoclear") == 0) st->autoclear = n;
    else if (strcmp (key, "partscan") == 0) st->partscan = n;
    else if (strcmp (key, "dio") == 0) st->dio = n;
    else if (strcmp (key, "read_only") == 0) st->read_only = n;
    else r = 0;
  }
  return r;
}

int
device_status_read (const char *path, struct device_status *st)
{
  char node[32], pid[32], text[PATH_MAX + 2 * LO_NAME_SIZE + 512];
  char *line, *next;
  int r;

  memset (st, 0, sizeof *st);
  st->nbdkit_pid = -1;
  r = read_xattr (path, XATTR_NODE, node, sizeof node);
  if (r < 0)
    return r == -EOPNOTSUPP ? -ENODATA : r;
  if (sscanf (node, "loop%d", &st->number) != 1)
    return -ENODATA;
  r = read_xattr (path, XATTR_STATUS, text, sizeof text);
  if (r < 0)
    return r;
  for (line = text; *line; line = next) {
    char *eq;

    next = strchrnul (line, '\n');
    if (*next)
      *next++ = '\0';
    eq = strchr (line, '=');
    if (eq == NULL)
      return -EINVAL;
    *eq = '\0';
    r = store_field (st, line, eq + 1);
    if (r < 0)
      return r;
  }
  st->bound = strcmp (st->state, "bound") == 0
              || strcmp (st->state, "rundown") == 0;
  if (read_xattr (path, XATTR_NBDKIT_PID, pid, sizeof pid) >= 0)
    st->nbdkit_pid = atoi (pid);
  if (read_xattr (path, XATTR_NBD, st->nbd, sizeof st->nbd) < 0)
    st->nbd[0] = '\0';
  return 0;
}

int
instance_check (const char *dir)
{
  CLEANUP_FREE char *path = NULL;
  char node[32];
  int r;

  if (asprintf (&path, "%s/loop-control", dir) < 0)
    return -ENOMEM;
  r = read_xattr (path, XATTR_NODE, node, sizeof node);
  if (r == -EOPNOTSUPP || r == -ENOENT || r == -ENOTDIR
      || (r >= 0 && strcmp (node, "loop-control") != 0))
    return -ENODATA;
  return r < 0 ? r : 0;
}

int
instance_resolve (const char *dir, char *resolved)
{
  if (realpath (dir, resolved) == NULL)
    return errno == ENOENT || errno == ENOTDIR ? -ENODATA : -errno;
  return instance_check (resolved);
}

int
instance_info_read (const char *dir, struct instance_info *info)
{
  CLEANUP_FREE char *path = NULL;
  char text[512], *line, *next;
  int r;

  memset (info, 0, sizeof *info);
  r = instance_check (dir);
  if (r < 0)
    return r;
  if (asprintf (&path, "%s/loop-control", dir) < 0)
    return -ENOMEM;
  r = read_xattr (path, XATTR_INSTANCE, text, sizeof text);
  if (r < 0)
    return r;
  for (line = text; *line; line = next) {
    char key[32], value[32];

    next = strchrnul (line, '\n');
    if (*next)
      *next++ = '\0';
    if (sscanf (line, "%31[^=]=%31s", key, value) != 2)
      return -EINVAL;
    if (strcmp (key, "pid") == 0) info->pid = atoi (value);
    else if (strcmp (key, "max") == 0) info->max = strtoul (value, NULL, 10);
    else if (strcmp (key, "devices") == 0)
      info->devices = strtoul (value, NULL, 10);
    else if (strcmp (key, "bound") == 0)
      info->bound = strtoul (value, NULL, 10);
    else if (strcmp (key, "nbd") == 0) info->nbd = strcmp (value, "on") == 0;
    else if (strcmp (key, "connections") == 0)
      info->connections = strtoul (value, NULL, 10);
  }
  return 0;
}

/* qsort comparison of two ints. */
static int
compare_int (const void *a, const void *b)
{
  int x = *(const int *) a, y = *(const int *) b;

  return (x > y) - (x < y);
}

int
instance_device_numbers (const char *dir, int_vector *numbers)
{
  DIR *d = opendir (dir);
  struct dirent *e;
  int r = 0;

  if (d == NULL)
    return -errno;
  while ((e = readdir (d)) != NULL) {
    char rest;
    int n;

    if (sscanf (e->d_name, "loop%d%c", &n, &rest) == 1 && n >= 0) {
      r = int_vector_append (numbers, n);
      if (r < 0)
        break;
    }
  }
  closedir (d);
  if (r == 0)
    qsort (numbers->ptr, numbers->len, sizeof (int), compare_int);
  return r;
}

unsigned
user_device_limit (void)
{
  FILE *fp = fopen (USER_LIMIT_FILE, "re");
  unsigned n = USER_LIMIT_DEFAULT;

  if (fp) {
    if (fscanf (fp, "%u", &n) != 1)
      n = USER_LIMIT_DEFAULT;
    fclose (fp);
  }
  return n;
}
