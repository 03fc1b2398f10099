#include "loopfsctl.h"
int cmd_list (int argc, char **argv) { (void) argc; (void) argv; error ("list: not implemented yet"); return 1; }
