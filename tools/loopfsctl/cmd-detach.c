#include "loopfsctl.h"
int cmd_detach (int argc, char **argv) { (void) argc; (void) argv; error ("detach: not implemented yet"); return 1; }
