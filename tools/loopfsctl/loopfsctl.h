/* loopfsctl: the subcommands and what they share.
 *
 * Every subcommand gets its own argv (argv[0] is the subcommand's name)
 * and returns the process exit status: 0 on success, 1 when the work
 * failed (one line on stderr says why), 2 for a usage error.  exec
 * returns the status of the command it ran, or 125 when it could not
 * run it at all (the convention of env(1) and timeout(1)).
 */
#ifndef LOOPFSCTL_H
#define LOOPFSCTL_H

#include "error.h"

#define EXIT_USAGE 2
#define EXIT_EXEC_FAILED 125

int cmd_attach (int argc, char **argv);
int cmd_detach (int argc, char **argv);
int cmd_list (int argc, char **argv);
int cmd_status (int argc, char **argv);
int cmd_exec (int argc, char **argv);


#endif /* LOOPFSCTL_H */
