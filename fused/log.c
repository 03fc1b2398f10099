/* loopfsd: messages for people (see log.h). */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "log.h"

/* Report an error to stderr with the program name in front. */
void
log_error (const char *fmt, ...)
{
  int saved_errno = errno;
  va_list ap;

  fprintf (stderr, "loopfsd: ");
  va_start (ap, fmt);
  errno = saved_errno;
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fprintf (stderr, "\n");
  errno = saved_errno;
}
