/* loopfsctl detach: unbind devices of an instance (LOOP_CLR_FD), as
 * "losetup -d" does on the host. */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/loop.h>

#include "cleanup.h"
#include "device-status.h"
#include "loopfsctl.h"

static const char detach_usage[] =
  "Usage: loopfsctl detach DIR/loopN...\n"
  "Unbind each loop device of a loopfs instance.  A device still open\n"
  "elsewhere is unbound when its last user closes it (autoclear), as on\n"
  "the host.\n"
  "  -h, --help   show this help\n";

/* Unbind device PATH.  Returns 0 or -errno (-ENODATA: not a loopfs
 * device). */
static int
detach_one (const char *path)
{
  struct device_status st;
  CLEANUP_CLOSE int fd = -1;
  int r;

  /* Refuse anything but a loopfs device: the same ioctl would detach a
   * host loop device given by mistake. */
  r = device_status_read (path, &st);
  if (r < 0)
    return r;
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -errno;
  if (ioctl (fd, LOOP_CLR_FD) < 0)
    return -errno;
  return 0;
}

int
cmd_detach (int argc, char **argv)
{
  static const struct option options[] = {
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  int c, i, status = 0;

  while ((c = getopt_long (argc, argv, "+h", options, NULL)) != -1) {
    if (c == 'h') {
      fputs (detach_usage, stdout);
      return 0;
    }
    fputs (detach_usage, stderr);
    return EXIT_USAGE;
  }
  if (optind == argc) {
    fputs (detach_usage, stderr);
    return EXIT_USAGE;
  }
  for (i = optind; i < argc; i++) {
    int r = detach_one (argv[i]);

    if (r < 0) {
      ctl_error ("%s: %s", argv[i],
                 r == -ENODATA ? "not a loopfs loop device"
                 : r == -ENXIO ? "not bound" : strerror (-r));
      status = 1;
    }
  }
  return status;
}
