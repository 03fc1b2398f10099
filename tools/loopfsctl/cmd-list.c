/* loopfsctl list: the devices of an instance, as a table like
 * "losetup -l" with each device's nbdkit and kernel NBD device, or as
 * JSON. */

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

DEFINE_VECTOR_TYPE (status_vector, struct device_status);

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

/* Print the devices in DEVS (of instance DIR) as an aligned table. */
static void
print_table (const char *dir, const status_vector *devs)
{
  size_t width[N_COLUMNS], i;
  char cell[PATH_MAX + 64];
  int col;

  for (col = 0; col < N_COLUMNS; col++)
    width[col] = strlen (column_names[col]);
  for (i = 0; i < devs->len; i++)
    for (col = 0; col < N_COLUMNS; col++) {
      format_cell (dir, &devs->ptr[i], col, cell, sizeof cell);
      if (strlen (cell) > width[col])
        width[col] = strlen (cell);
    }
  for (col = 0; col < N_COLUMNS; col++)
    print_cell (col, width[col], column_names[col]);
  for (i = 0; i < devs->len; i++)
    for (col = 0; col < N_COLUMNS; col++) {
      format_cell (dir, &devs->ptr[i], col, cell, sizeof cell);
      print_cell (col, width[col], cell);
    }
}

/* Print the devices in DEVS (of instance DIR) as JSON.  The keys shared
 * with "losetup -J" have its names; the keys are stable. */
static void
print_json (const char *dir, const status_vector *devs)
{
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
    putchar ('}');
  }
  fputs (devs->len ? "\n  ]\n}\n" : "]\n}\n", stdout);
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
  status_vector devs = { 0 };
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
    r = read_devices (dir, all || json, &devs);
  if (r < 0) {
    ctl_error ("%s: %s", argv[optind],
               r == -ENODATA ? "not a loopfs instance" : strerror (-r));
    status_vector_reset (&devs);
    return 1;
  }
  if (json)
    print_json (dir, &devs);
  else
    print_table (dir, &devs);
  status_vector_reset (&devs);
  return 0;
}
