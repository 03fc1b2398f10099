#include "loopfsctl.h"
int cmd_status (int argc, char **argv) { (void) argc; (void) argv; error ("status: not implemented yet"); return 1; }
