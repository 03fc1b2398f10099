#include "loopfsctl.h"
int cmd_attach (int argc, char **argv) { (void) argc; (void) argv; error ("attach: not implemented yet"); return 1; }
