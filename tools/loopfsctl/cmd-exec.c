/* loopfsctl exec: placeholder until the sandbox lands. */

#include "loopfsctl.h"

int
cmd_exec (int argc, char **argv)
{
  (void) argc;
  (void) argv;
  error ("exec: not implemented yet");
  return EXIT_EXEC_FAILED;
}
