/* loopfsctl: what a loopfs instance says of its partition nodes (see
 * partition-status.h). */

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include "loopfs-interface.h"
#include "partition-status.h"

/* Parse decimal VALUE into *N. */
static int
parse_u64 (const char *value, uint64_t *n)
{
  char *end;

  errno = 0;
  *n = strtoull (value, &end, 10);
  return *value == '\0' || *end != '\0' || errno ? -EINVAL : 0;
}

/* Parse the status lines of a partition node. */
int
partition_status_parse (char *text, struct partition_status *st)
{
  char *line, *save = NULL;

  for (line = strtok_r (text, "\n", &save); line;
       line = strtok_r (NULL, "\n", &save)) {
    char *value = strchr (line, '=');
    uint64_t n;

    if (value == NULL)
      return -EINVAL;
    *value++ = '\0';
    if (strcmp (line, PARTITION_KEY_PARENT) == 0) {
      if (sscanf (value, "loop%d", &st->parent) != 1)
        return -EINVAL;
      continue;
    }
    if (strcmp (line, PARTITION_KEY_PARTITION) != 0
        && strcmp (line, PARTITION_KEY_START) != 0
        && strcmp (line, PARTITION_KEY_SIZE) != 0
        && strcmp (line, PARTITION_KEY_RO) != 0)
      continue;
    if (parse_u64 (value, &n) < 0)
      return -EINVAL;
    if (strcmp (line, PARTITION_KEY_PARTITION) == 0)
      st->number = n;
    else if (strcmp (line, PARTITION_KEY_START) == 0)
      st->start = n;
    else if (strcmp (line, PARTITION_KEY_SIZE) == 0)
      st->size = n;
    else
      st->ro = n != 0;
  }
  return 0;
}

/* Read the status of partition node PATH into ST. */
int
partition_status_read (const char *path, struct partition_status *st)
{
  char text[1024];
  ssize_t n = getxattr (path, XATTR_STATUS, text, sizeof text - 1);

  if (n < 0)
    return -errno;
  text[n] = '\0';
  memset (st, 0, sizeof *st);
  n = getxattr (path, XATTR_NBD, st->nbd, sizeof st->nbd - 1);
  st->nbd[n > 0 ? n : 0] = '\0';
  return partition_status_parse (text, st);
}

/* Order partitions by number. */
static int
compare_number (const void *a, const void *b)
{
  const struct partition_status *x = a, *y = b;
  return (x->number > y->number) - (x->number < y->number);
}

/* The partitions of loopNUMBER in DIR. */
int
instance_partitions (const char *dir, int number,
                     partition_status_vector *parts)
{
  DIR *d = opendir (dir);
  size_t first = parts->len;
  struct dirent *e;
  int r = 0;

  if (d == NULL)
    return -errno;
  while (r == 0 && (e = readdir (d)) != NULL) {
    struct partition_status st;
    char path[4096], rest;
    int n, m;

    if (sscanf (e->d_name, "loop%dp%d%c", &n, &m, &rest) != 2
        || n != number)
      continue;
    snprintf (path, sizeof path, "%s/%s", dir, e->d_name);
    r = partition_status_read (path, &st);
    if (r == -ENOENT || r == -ENODATA) {
      r = 0;
      continue;
    }
    if (r == 0)
      r = partition_status_vector_append (parts, st);
  }
  closedir (d);
  if (r == 0 && parts->len > first)
    qsort (parts->ptr + first, parts->len - first, sizeof *parts->ptr,
           compare_number);
  return r;
}
