/* The error reporter (see error.h). */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "error.h"

void
error (const char *fmt, ...)
{
  va_list ap;

  fprintf (stderr, "%s: ", program_invocation_short_name);
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fputc ('\n', stderr);
}
