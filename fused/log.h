/* loopfsd: messages for people.
 *
 * Every file of the daemon reports through log_error, which goes to
 * stderr (the log file once daemonized).  It lives apart from main.c so
 * that the daemon's lower files, and the unit tests that link them,
 * need nothing from the top of the program.
 */
#ifndef LOOPFSD_LOG_H
#define LOOPFSD_LOG_H

/* Report an error to stderr with the program name in front.  errno is
 * kept, so "%m" works and a caller may return -errno afterwards. */
void log_error (const char *fmt, ...)
  __attribute__ ((format (printf, 1, 2)));

#endif /* LOOPFSD_LOG_H */
