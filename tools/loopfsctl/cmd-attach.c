/* loopfsctl attach: bind a file to the first free device of an instance
 * and print the device's path, as "losetup -f --show" does on the
 * host. */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/loop.h>

#include "cleanup.h"
#include "device-status.h"
#include "loopfs-interface.h"
#include "loopfsctl.h"
#include "partition-status.h"
#include "size-arg.h"

/* How many times a device that another process bound between our
 * LOOP_CTL_GET_FREE and LOOP_CONFIGURE is skipped before giving up. */
#define ATTACH_RETRIES 16

static const char attach_usage[] =
  "Usage: loopfsctl attach [OPTIONS] DIR FILE\n"
  "Bind FILE to the first free loop device of the loopfs instance at DIR\n"
  "and print the device's path.\n"
  "  -r, --read-only      bind read-only (also when FILE is not writable)\n"
  "  -o, --offset N       start at byte N of FILE (suffixes K, M, G, T)\n"
  "      --sizelimit N    use at most N bytes of FILE\n"
  "  -b, --block-size N   logical block size (512 .. 4096, a power of two)\n"
  "  -P, --partscan       set LO_FLAGS_PARTSCAN, and print the partition\n"
  "                       nodes the scan made\n"
  "      --direct-io      set LO_FLAGS_DIRECT_IO\n"
  "  -h, --help           show this help\n";

/* Open FILE for the binding: read-write unless READ_ONLY, falling back
 * to read-only (and saying so) when FILE cannot be written, as losetup
 * does.  Returns the descriptor or -errno. */
static int
open_backing (const char *file, bool *read_only)
{
  int fd;

  if (!*read_only) {
    fd = open (file, O_RDWR | O_CLOEXEC);
    if (fd >= 0)
      return fd;
    if (errno != EROFS && errno != EACCES && errno != EPERM)
      return -errno;
    fprintf (stderr, "loopfsctl: %s: write-protected, binding read-only\n",
             file);
    *read_only = true;
  }
  fd = open (file, O_RDONLY | O_CLOEXEC);
  return fd >= 0 ? fd : -errno;
}

/* Print the partition nodes of device N of instance DIR, one a line
 * after the device: the scan of a LO_FLAGS_PARTSCAN bind is over when
 * LOOP_CONFIGURE returns, as with the kernel's loop driver. */
static void
print_partitions (const char *dir, int n)
{
  partition_status_vector parts = { 0 };
  size_t i;

  if (instance_partitions (dir, n, &parts) == 0)
    for (i = 0; i < parts.len; i++)
      printf ("%s/loop%dp%d\n", dir, n, parts.ptr[i].number);
  partition_status_vector_reset (&parts);
}

/* Ask loop-control of instance DIR for a free device and configure it
 * with CONFIG; print its path, and its partitions' with PARTSCAN.
 * Returns 0 or -errno. */
static int
attach_free_device (const char *dir, struct loop_config *config)
{
  CLEANUP_FREE char *ctl_path = NULL;
  CLEANUP_CLOSE int ctl = -1;
  int tries;

  if (asprintf (&ctl_path, "%s/" CONTROL_NAME, dir) < 0)
    return -ENOMEM;
  ctl = open (ctl_path, O_RDWR | O_CLOEXEC);
  if (ctl < 0)
    return -errno;
  for (tries = 0; tries < ATTACH_RETRIES; tries++) {
    CLEANUP_FREE char *dev_path = NULL;
    CLEANUP_CLOSE int dev = -1;
    int n = ioctl (ctl, LOOP_CTL_GET_FREE);

    if (n < 0)
      return -errno;
    if (asprintf (&dev_path, "%s/loop%d", dir, n) < 0)
      return -ENOMEM;
    dev = open (dev_path, O_RDWR | O_CLOEXEC);
    if (dev < 0)
      return -errno;
    if (ioctl (dev, LOOP_CONFIGURE, config) == 0) {
      printf ("%s\n", dev_path);
      if (config->info.lo_flags & LO_FLAGS_PARTSCAN)
        print_partitions (dir, n);
      return 0;
    }
    /* EBUSY: another process bound it since GET_FREE; take the next. */
    if (errno != EBUSY)
      return -errno;
  }
  return -EBUSY;
}

int
cmd_attach (int argc, char **argv)
{
  enum { OPT_SIZELIMIT = 256, OPT_DIRECT_IO };
  static const struct option options[] = {
    { "read-only", no_argument, NULL, 'r' },
    { "offset", required_argument, NULL, 'o' },
    { "sizelimit", required_argument, NULL, OPT_SIZELIMIT },
    { "block-size", required_argument, NULL, 'b' },
    { "partscan", no_argument, NULL, 'P' },
    { "direct-io", no_argument, NULL, OPT_DIRECT_IO },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  struct loop_config config = { .fd = -1 };
  CLEANUP_CLOSE int fd = -1;
  bool read_only = false;
  uint64_t offset = 0, sizelimit = 0, block_size = 0;
  char resolved[PATH_MAX];
  char dir[PATH_MAX];
  const char *file;
  int c, r;

  while ((c = getopt_long (argc, argv, "+ro:b:Ph", options, NULL)) != -1) {
    switch (c) {
    case 'r':
      read_only = true;
      break;
    case 'o':
      if (parse_size_arg ("--offset", optarg, &offset) < 0)
        return EXIT_USAGE;
      break;
    case OPT_SIZELIMIT:
      if (parse_size_arg ("--sizelimit", optarg, &sizelimit) < 0)
        return EXIT_USAGE;
      break;
    case 'b':
      if (parse_size_arg ("--block-size", optarg, &block_size) < 0)
        return EXIT_USAGE;
      if (block_size > UINT32_MAX) {
        ctl_error ("--block-size %s: too large", optarg);
        return EXIT_USAGE;
      }
      break;
    case 'P':
      config.info.lo_flags |= LO_FLAGS_PARTSCAN;
      break;
    case OPT_DIRECT_IO:
      config.info.lo_flags |= LO_FLAGS_DIRECT_IO;
      break;
    case 'h':
      fputs (attach_usage, stdout);
      return 0;
    default:
      fputs (attach_usage, stderr);
      return EXIT_USAGE;
    }
  }
  if (argc - optind != 2) {
    fputs (attach_usage, stderr);
    return EXIT_USAGE;
  }
  file = argv[optind + 1];

  r = instance_resolve (argv[optind], dir);
  if (r < 0) {
    ctl_error ("%s: %s", argv[optind],
               r == -ENODATA ? "not a loopfs instance" : strerror (-r));
    return 1;
  }
  fd = open_backing (file, &read_only);
  if (fd < 0) {
    ctl_error ("%s: %s", file, strerror (-fd));
    return 1;
  }
  if (realpath (file, resolved) == NULL) {
    ctl_error ("%s: %m", file);
    return 1;
  }
  config.fd = fd;
  config.block_size = block_size;
  config.info.lo_offset = offset;
  config.info.lo_sizelimit = sizelimit;
  if (read_only)
    config.info.lo_flags |= LO_FLAGS_READ_ONLY;
  /* lo_file_name keeps the first 63 bytes, as losetup stores it. */
  memcpy (config.info.lo_file_name, resolved,
          strnlen (resolved, LO_NAME_SIZE - 1));

  r = attach_free_device (dir, &config);
  if (r < 0) {
    ctl_error ("%s: cannot bind %s: %s", dir, file,
               r == -ENOSPC ? "no free loop device (the instance or user "
                              "limit is reached)" : strerror (-r));
    return 1;
  }
  return 0;
}
