/* The error reporter (see error.h). */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "error.h"

/* Print "PROGRAM: MESSAGE" on stderr.  Writing to stderr may set errno
 * (a closed or full stderr), and callers return -errno after the
 * message: errno is restored before "%m" is formatted and again at the
 * end, as fused/log.c's log_error does. */
void
ctl_error (const char *fmt, ...)
{
  int saved_errno = errno;
  va_list ap;

  fprintf (stderr, "%s: ", program_invocation_short_name);
  va_start (ap, fmt);
  errno = saved_errno;
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fputc ('\n', stderr);
  errno = saved_errno;
}
