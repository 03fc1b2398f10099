/* loopfsctl: the little JSON that --json output needs. */
#ifndef LOOPFSCTL_JSON_PRINT_H
#define LOOPFSCTL_JSON_PRINT_H

#include <stdio.h>

/* Print S to FP as a JSON string, quoted and escaped; NULL prints
 * null. */
void json_string (FILE *fp, const char *s);

#endif /* LOOPFSCTL_JSON_PRINT_H */
