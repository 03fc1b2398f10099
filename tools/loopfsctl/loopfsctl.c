/* loopfsctl: use loopfs instances from the command line and give
 * programs private loop devices (see loopfsctl(8)).
 *
 * This file only dispatches to the subcommands; each lives in its own
 * cmd-*.c file.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loopfsctl.h"

static const struct subcommand {
  const char *name;
  int (*run) (int argc, char **argv);
  const char *synopsis;
} subcommands[] = {
  { "exec", cmd_exec,
    "exec [--instance DIR] [--max N] -- COMMAND [ARG...]" },
  { "attach", cmd_attach,
    "attach [--read-only] [--offset N] [--sizelimit N] [--block-size N]\n"
    "                   [--partscan] [--direct-io] DIR FILE" },
  { "detach", cmd_detach, "detach DIR/loopN..." },
  { "list", cmd_list, "list [--all] [--json] DIR" },
  { "status", cmd_status, "status [--json] DIR" },
};

#define N_SUBCOMMANDS (sizeof subcommands / sizeof subcommands[0])

/* Print the usage of every subcommand to FP. */
static void
usage (FILE *fp)
{
  size_t i;

  fputs ("Usage:\n", fp);
  for (i = 0; i < N_SUBCOMMANDS; i++)
    fprintf (fp, "  loopfsctl %s\n", subcommands[i].synopsis);
  fputs ("  loopfsctl --help | --version\n"
         "Run 'loopfsctl SUBCOMMAND --help' for a subcommand's options;\n"
         "see loopfsctl(8).\n", fp);
}

int
main (int argc, char **argv)
{
  size_t i;

  if (argc < 2) {
    usage (stderr);
    return EXIT_USAGE;
  }
  if (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0) {
    usage (stdout);
    return 0;
  }
  if (strcmp (argv[1], "--version") == 0) {
    printf ("loopfsctl %s\n", LOOPFS_VERSION);
    return 0;
  }
  for (i = 0; i < N_SUBCOMMANDS; i++)
    if (strcmp (argv[1], subcommands[i].name) == 0)
      return subcommands[i].run (argc - 1, argv + 1);
  error ("unknown subcommand '%s' (see loopfsctl --help)", argv[1]);
  return EXIT_USAGE;
}
