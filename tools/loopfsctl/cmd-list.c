/* loopfsctl list: the devices of an instance, as a table like
 * "losetup -l" with each device's nbdkit and kernel NBD device, or as
 * JSON.  Partitions are listed under their device, as lsblk -i draws
 * them. */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "device-status.h"
#include "json-print.h"
#include "loopfsctl.h"
#include "partition-status.h"

DEFINE_VECTOR_TYPE (status_vector, struct device_status);

/* What is listed: the devices, and their partitions, those of
 * devs.ptr[i] being parts.ptr[first[i]] to parts.ptr[first[i + 1] - 1]. */
struct listing {
  status_vector devs;
  partition_status_vector parts;
  size_t *first;
};

static const char list_usage[] =
  "Usage: loopfsctl list [--all] [--json] DIR\n"
  "List the bound loop devices of the loopfs instance at DIR.\n"
  "  -a, --all    also list the devices that are not bound\n"
  "  -J, --json   print JSON (every device, with its state)\n"
  "  -h, --help   show this help\n";

/* The table's columns, as "losetup -l" names them, then loopfs's. */
enum column {
  COL_NAME, COL_SIZELIMIT, COL_OFFSET, COL_AUTOCLEAR, COL_RO, COL_BACK_FILE,
  COL_DIO, COL_LOG_SEC, COL_NBDKIT, COL_NBD, N_COLUMNS
};

static const char *const column_names[N_COLUMNS] = {
  "NAME", "SIZELIMIT", "OFFSET", "AUTOCLEAR", "RO", "BACK-FILE", "DIO",
  "LOG-SEC", "NBDKIT", "NBD",
};

/* Which columns are left-aligned (text); the others are numbers. */
static const bool column_left[N_COLUMNS] = {
  [COL_NAME] = true, [COL_BACK_FILE] = true, [COL_NBD] = true,
};

/* Format column COL of device ST in DIR into BUF. */
static void
format_cell (const char *dir, const struct device_status *st,
             enum column col, char *buf, size_t size)
{
  switch (col) {
  case COL_NAME: snprintf (buf, size, "%s/loop%d", dir, st->number); break;
  case COL_SIZELIMIT: snprintf (buf, size, "%" PRIu64, st->sizelimit); break;
  case COL_OFFSET: snprintf (buf, size, "%" PRIu64, st->offset); break;
  case COL_AUTOCLEAR: snprintf (buf, size, "%d", st->autoclear); break;
  case COL_RO: snprintf (buf, size, "%d", st->ro); break;
  case COL_BACK_FILE: snprintf (buf, size, "%s", st->backing_file); break;
  case COL_DIO: snprintf (buf, size, "%d", st->dio); break;
  case COL_LOG_SEC:
    snprintf (buf, size, "%" PRIu32, st->logical_block_size);
    break;
  case COL_NBDKIT:
    if (st->nbdkit_pid > 0)
      snprintf (buf, size, "%d", st->nbdkit_pid);
    else
      snprintf (buf, size, "-");
    break;
  case COL_NBD: snprintf (buf, size, "%s", st->nbd[0] ? st->nbd : "-"); break;
  case N_COLUMNS: break;
  }
}

/* Format column COL of partition P of device ST in DIR, the LAST of
 * its device, into BUF: a partition is a window of its device at
 * OFFSET of SIZELIMIT bytes, like a loop device on it. */
static void
format_partition_cell (const char *dir, const struct device_status *st,
                       const struct partition_status *p, bool last,
                       enum column col, char *buf, size_t size)
{
  switch (col) {
  case COL_NAME:
    snprintf (buf, size, "%s%s/loop%dp%d", last ? "`-" : "|-", dir,
              p->parent, p->number);
    break;
  case COL_SIZELIMIT: snprintf (buf, size, "%" PRIu64, p->size); break;
  case COL_OFFSET: snprintf (buf, size, "%" PRIu64, p->start * 512); break;
  case COL_RO: snprintf (buf, size, "%d", p->ro); break;
  case COL_LOG_SEC:
    snprintf (buf, size, "%" PRIu32, st->logical_block_size);
    break;
  case COL_NBD: snprintf (buf, size, "%s", p->nbd[0] ? p->nbd : "-"); break;
  default: snprintf (buf, size, "-"); break;
  }
}

/* Format column COL of row ROW of L (devices and partitions in listing
 * order) into BUF; false past the last row. */
static bool
format_row_cell (const char *dir, const struct listing *l, size_t row,
                 enum column col, char *buf, size_t size)
{
  size_t i;

  for (i = 0; i < l->devs.len; i++) {
    size_t n = l->first[i + 1] - l->first[i];

    if (row == 0) {
      format_cell (dir, &l->devs.ptr[i], col, buf, size);
      return true;
    }
    if (row <= n) {
      format_partition_cell (dir, &l->devs.ptr[i],
                             &l->parts.ptr[l->first[i] + row - 1], row == n,
                             col, buf, size);
      return true;
    }
    row -= n + 1;
  }
  return false;
}

/* Print TEXT as column COL of a row, WIDTH wide: numbers right-aligned,
 * text left-aligned, and no padding after the last column. */
static void
print_cell (int col, size_t width, const char *text)
{
  if (col == N_COLUMNS - 1)
    printf (" %s\n", text);
  else if (col == 0)
    printf ("%-*s", (int) width, text);
  else
    printf (" %*s", column_left[col] ? -(int) width : (int) width, text);
}

/* Print the devices and partitions of L (of instance DIR) as an
 * aligned table. */
static void
print_table (const char *dir, const struct listing *l)
{
  size_t width[N_COLUMNS], i;
  char cell[PATH_MAX + 64];
  int col;

  for (col = 0; col < N_COLUMNS; col++)
    width[col] = strlen (column_names[col]);
  for (i = 0; format_row_cell (dir, l, i, 0, cell, sizeof cell); i++)
    for (col = 0; col < N_COLUMNS; col++) {
      format_row_cell (dir, l, i, col, cell, sizeof cell);
      if (strlen (cell) > width[col])
        width[col] = strlen (cell);
    }
  for (col = 0; col < N_COLUMNS; col++)
    print_cell (col, width[col], column_names[col]);
  for (i = 0; format_row_cell (dir, l, i, 0, cell, sizeof cell); i++)
    for (col = 0; col < N_COLUMNS; col++) {
      format_row_cell (dir, l, i, col, cell, sizeof cell);
      print_cell (col, width[col], cell);
    }
}

/* Print the partitions of device I of L as the JSON array
 * "partitions". */
static void
print_json_partitions (const char *dir, const struct listing *l, size_t i)
{
  size_t j;

  fputs (", \"partitions\": [", stdout);
  for (j = l->first[i]; j < l->first[i + 1]; j++) {
    const struct partition_status *p = &l->parts.ptr[j];
    char name[PATH_MAX + 32];

    snprintf (name, sizeof name, "%s/loop%dp%d", dir, p->parent, p->number);
    printf ("%s{\"name\": ", j > l->first[i] ? ", " : "");
    json_string (stdout, name);
    printf (", \"partition\": %d, \"start\": %" PRIu64 ", \"size\": %"
            PRIu64 ", \"ro\": %s, \"nbd\": ", p->number, p->start, p->size,
            p->ro ? "true" : "false");
    json_string (stdout, p->nbd[0] ? p->nbd : NULL);
    putchar ('}');
  }
  putchar (']');
}

/* Print the devices of L (of instance DIR) as JSON, each with its
 * partitions.  The keys shared with "losetup -J" have its names; the
 * keys are stable. */
static void
print_json (const char *dir, const struct listing *l)
{
  const status_vector *devs = &l->devs;
  size_t i;

  fputs ("{\n  \"instance\": ", stdout);
  json_string (stdout, dir);
  fputs (",\n  \"devices\": [", stdout);
  for (i = 0; i < devs->len; i++) {
    const struct device_status *st = &devs->ptr[i];
    char name[PATH_MAX + 32];

    snprintf (name, sizeof name, "%s/loop%d", dir, st->number);
    printf ("%s\n    {\"name\": ", i ? "," : "");
    json_string (stdout, name);
    printf (", \"number\": %d, \"state\": ", st->number);
    json_string (stdout, st->state);
    printf (", \"size\": %" PRIu64 ", \"ro\": %s, \"log-sec\": %" PRIu32
            ", \"phy-sec\": %" PRIu32,
            st->size, st->ro ? "true" : "false", st->logical_block_size,
            st->physical_block_size);
    if (st->bound) {
      fputs (", \"back-file\": ", stdout);
      json_string (stdout, st->backing_file);
      fputs (", \"file-name\": ", stdout);
      json_string (stdout, st->file_name);
      printf (", \"offset\": %" PRIu64 ", \"sizelimit\": %" PRIu64
              ", \"autoclear\": %s, \"partscan\": %s, \"dio\": %s"
              ", \"read-only\": %s, \"back-maj:min\": \"%u:%u\""
              ", \"back-ino\": %" PRIu64,
              st->offset, st->sizelimit, st->autoclear ? "true" : "false",
              st->partscan ? "true" : "false", st->dio ? "true" : "false",
              st->read_only ? "true" : "false", st->backing_major,
              st->backing_minor, st->backing_inode);
    }
    if (st->nbdkit_pid > 0)
      printf (", \"nbdkit-pid\": %d", st->nbdkit_pid);
    else
      fputs (", \"nbdkit-pid\": null", stdout);
    fputs (", \"nbd\": ", stdout);
    json_string (stdout, st->nbd[0] ? st->nbd : NULL);
    print_json_partitions (dir, l, i);
    putchar ('}');
  }
  fputs (devs->len ? "\n  ]\n}\n" : "]\n}\n", stdout);
}

/* Read the partitions of every device of L, in the order of L->devs. */
static int
read_partitions (const char *dir, struct listing *l)
{
  size_t i;
  int r = 0;

  l->first = calloc (l->devs.len + 1, sizeof *l->first);
  if (l->first == NULL)
    return -ENOMEM;
  for (i = 0; r == 0 && i < l->devs.len; i++) {
    l->first[i] = l->parts.len;
    r = instance_partitions (dir, l->devs.ptr[i].number, &l->parts);
  }
  l->first[i] = l->parts.len;
  return r;
}

/* Free what L holds. */
static void
listing_free (struct listing *l)
{
  status_vector_reset (&l->devs);
  partition_status_vector_reset (&l->parts);
  free (l->first);
}

/* Read the status of every device of instance DIR into DEVS: the bound
 * ones, or all when ALL.  A device removed while we look is skipped. */
static int
read_devices (const char *dir, bool all, status_vector *devs)
{
  int_vector numbers = { 0 };
  size_t i;
  int r;

  r = instance_device_numbers (dir, &numbers);
  for (i = 0; r == 0 && i < numbers.len; i++) {
    CLEANUP_FREE char *path = NULL;
    struct device_status st;

    if (asprintf (&path, "%s/loop%d", dir, numbers.ptr[i]) < 0) {
      r = -ENOMEM;
      break;
    }
    r = device_status_read (path, &st);
    if (r == -ENOENT) {
      r = 0;
      continue;
    }
    if (r == 0 && (all || st.bound))
      r = status_vector_append (devs, st);
  }
  int_vector_reset (&numbers);
  return r;
}

int
cmd_list (int argc, char **argv)
{
  static const struct option options[] = {
    { "all", no_argument, NULL, 'a' },
    { "json", no_argument, NULL, 'J' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  struct listing l = { 0 };
  bool all = false, json = false;
  char dir[PATH_MAX];
  int c, r;

  while ((c = getopt_long (argc, argv, "+aJh", options, NULL)) != -1) {
    switch (c) {
    case 'a': all = true; break;
    case 'J': json = true; break;
    case 'h': fputs (list_usage, stdout); return 0;
    default: fputs (list_usage, stderr); return EXIT_USAGE;
    }
  }
  if (argc - optind != 1) {
    fputs (list_usage, stderr);
    return EXIT_USAGE;
  }
  r = instance_resolve (argv[optind], dir);
  if (r == 0)
    r = read_devices (dir, all || json, &l.devs);
  if (r == 0)
    r = read_partitions (dir, &l);
  if (r < 0) {
    ctl_error ("%s: %s", argv[optind],
               r == -ENODATA ? "not a loopfs instance" : strerror (-r));
    listing_free (&l);
    return 1;
  }
  if (json)
    print_json (dir, &l);
  else
    print_table (dir, &l);
  listing_free (&l);
  return 0;
}
