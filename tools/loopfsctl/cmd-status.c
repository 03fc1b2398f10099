/* loopfsctl status: what an instance is: its daemon, its limit, how many
 * devices it has and whether they also become kernel NBD devices. */

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "device-status.h"
#include "json-print.h"
#include "loopfsctl.h"

static const char status_usage[] =
  "Usage: loopfsctl status [--json] DIR\n"
  "Describe the loopfs instance mounted at DIR.\n"
  "  -J, --json   print JSON\n"
  "  -h, --help   show this help\n";

int
cmd_status (int argc, char **argv)
{
  static const struct option options[] = {
    { "json", no_argument, NULL, 'J' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  struct instance_info info;
  bool json = false;
  char dir[PATH_MAX];
  int c, r;

  while ((c = getopt_long (argc, argv, "+Jh", options, NULL)) != -1) {
    switch (c) {
    case 'J': json = true; break;
    case 'h': fputs (status_usage, stdout); return 0;
    default: fputs (status_usage, stderr); return EXIT_USAGE;
    }
  }
  if (argc - optind != 1) {
    fputs (status_usage, stderr);
    return EXIT_USAGE;
  }
  r = instance_resolve (argv[optind], dir);
  if (r == 0)
    r = instance_info_read (dir, &info);
  if (r < 0) {
    ctl_error ("%s: %s", argv[optind],
               r == -ENODATA ? "not a loopfs instance" : strerror (-r));
    return 1;
  }
  if (json) {
    fputs ("{\"instance\": ", stdout);
    json_string (stdout, dir);
    printf (", \"loopfsd-pid\": %d, \"max\": %u, \"devices\": %u"
            ", \"bound\": %u, \"kernel-nbd\": %s, \"connections\": %u}\n",
            info.pid, info.max, info.devices, info.bound,
            info.nbd ? "true" : "false", info.connections);
  }
  else
    printf ("instance:    %s\n"
            "loopfsd:     pid %d\n"
            "devices:     %u of at most %u, %u bound\n"
            "kernel NBD:  %s\n"
            "connections: %u per device\n",
            dir, info.pid, info.devices, info.max, info.bound,
            info.nbd ? "on (bound devices are also /dev/nbdX)" : "off",
            info.connections);
  return 0;
}
