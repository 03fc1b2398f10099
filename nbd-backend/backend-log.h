/* loopfs nbd-backend: messages for people.
 *
 * Every message of the backend layer goes to stderr (the daemon's log
 * once it is daemonized) as "loopfs: nbd-backend: NAME: MESSAGE",
 * where NAME is the backend's name, also given to its connections.
 * The layer does not use loopfsd's log_error: it does not know the
 * program it is linked into.
 */
#ifndef LOOPFS_NBD_BACKEND_LOG_H
#define LOOPFS_NBD_BACKEND_LOG_H

#include <stdarg.h>
#include <stdio.h>

/* Log a message about the backend or connection called NAME. */
static inline void __attribute__ ((format (printf, 2, 3)))
backend_log (const char *name, const char *fmt, ...)
{
  va_list args;

  fprintf (stderr, "loopfs: nbd-backend: %s: ", name);
  va_start (args, fmt);
  vfprintf (stderr, fmt, args);
  va_end (args);
  fputc ('\n', stderr);
}

#endif /* LOOPFS_NBD_BACKEND_LOG_H */
