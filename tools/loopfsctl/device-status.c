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
#include "status-escape.h"
#include "loopfs-interface.h"

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

  if (strcmp (key, STATUS_KEY_STATE) == 0)
    return copy_string (st->state, sizeof st->state, value);
  if (strcmp (key, STATUS_KEY_BACKING_FILE) == 0)
    return status_unescape (value, st->backing_file,
                            sizeof st->backing_file) < 0 ? -EINVAL : 0;
  if (strcmp (key, STATUS_KEY_FILE_NAME) == 0)
    return status_unescape (value, st->file_name,
                            sizeof st->file_name) < 0 ? -EINVAL : 0;
  if (strcmp (key, STATUS_KEY_BACKING_DEV) == 0)
    return sscanf (value, "%u:%u", &st->backing_major,
                   &st->backing_minor) == 2 ? 0 : -EINVAL;
  if (strcmp (key, STATUS_KEY_SIZE) == 0) r = parse_u64 (value, &st->size);
  else if (strcmp (key, STATUS_KEY_OFFSET) == 0)
    r = parse_u64 (value, &st->offset);
  else if (strcmp (key, STATUS_KEY_SIZELIMIT) == 0)
    r = parse_u64 (value, &st->sizelimit);
  else if (strcmp (key, STATUS_KEY_BACKING_INODE) == 0)
    r = parse_u64 (value, &st->backing_inode);
  else {
    r = parse_u64 (value, &n);
    if (strcmp (key, STATUS_KEY_RO) == 0) st->ro = n;
    else if (strcmp (key, STATUS_KEY_LOGICAL_BLOCK_SIZE) == 0)
      st->logical_block_size = n;
    else if (strcmp (key, STATUS_KEY_PHYSICAL_BLOCK_SIZE) == 0)
      st->physical_block_size = n;
    else if (strcmp (key, STATUS_KEY_AUTOCLEAR) == 0) st->autoclear = n;
    else if (strcmp (key, STATUS_KEY_PARTSCAN) == 0) st->partscan = n;
    else if (strcmp (key, STATUS_KEY_DIO) == 0) st->dio = n;
    else if (strcmp (key, STATUS_KEY_READ_ONLY) == 0) st->read_only = n;
    else r = 0;
  }
  return r;
}

int
device_status_parse (char *text, struct device_status *st)
{
  char *line, *next;
  int r;

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
  return 0;
}

int
device_status_read (const char *path, struct device_status *st)
{
  char node[32], pid[32], text[XATTR_VALUE_MAX];
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
  r = device_status_parse (text, st);
  if (r < 0)
    return r;
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

  if (asprintf (&path, "%s/" CONTROL_NAME, dir) < 0)
    return -ENOMEM;
  r = read_xattr (path, XATTR_NODE, node, sizeof node);
  if (r == -EOPNOTSUPP || r == -ENOENT || r == -ENOTDIR
      || (r >= 0 && strcmp (node, CONTROL_NAME) != 0))
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
instance_info_parse (char *text, struct instance_info *info)
{
  char *line, *next;

  for (line = text; *line; line = next) {
    char key[32], value[32];

    next = strchrnul (line, '\n');
    if (*next)
      *next++ = '\0';
    if (sscanf (line, "%31[^=]=%31s", key, value) != 2)
      return -EINVAL;
    if (strcmp (key, INSTANCE_KEY_PID) == 0) info->pid = atoi (value);
    else if (strcmp (key, INSTANCE_KEY_MAX) == 0)
      info->max = strtoul (value, NULL, 10);
    else if (strcmp (key, INSTANCE_KEY_DEVICES) == 0)
      info->devices = strtoul (value, NULL, 10);
    else if (strcmp (key, INSTANCE_KEY_BOUND) == 0)
      info->bound = strtoul (value, NULL, 10);
    else if (strcmp (key, INSTANCE_KEY_NBD) == 0)
      info->nbd = strcmp (value, "on") == 0;
    else if (strcmp (key, INSTANCE_KEY_CONNECTIONS) == 0)
      info->connections = strtoul (value, NULL, 10);
  }
  return 0;
}

int
instance_info_read (const char *dir, struct instance_info *info)
{
  CLEANUP_FREE char *path = NULL;
  char text[512];
  int r;

  memset (info, 0, sizeof *info);
  r = instance_check (dir);
  if (r < 0)
    return r;
  if (asprintf (&path, "%s/" CONTROL_NAME, dir) < 0)
    return -ENOMEM;
  r = read_xattr (path, XATTR_INSTANCE, text, sizeof text);
  if (r < 0)
    return r;
  return instance_info_parse (text, info);
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
  /* qsort wants a valid pointer even for no element. */
  if (r == 0 && numbers->len > 1)
    qsort (numbers->ptr, numbers->len, sizeof (int), compare_int);
  return r;
}

/* The per-user limit with loopfsd's reader.  A file loopfsd would
 * refuse counts as the default here: a fresh loopfsd then fails to
 * start and says why, and an existing instance has its own max. */
unsigned
user_device_limit (void)
{
  unsigned n = USER_LIMIT_DEFAULT;

  if (user_limit_file_read (&n) < 0)
    n = USER_LIMIT_DEFAULT;
  return n;
}
