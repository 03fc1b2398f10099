/* loopfs tests: what a function under test printed on stderr.
 *
 * The programs' error printers (loopfsd's log_error, loopfsctl's
 * ctl_error) write to stderr; a test checks the message by pointing
 * descriptor 2 at a temporary file for the duration of the call.  Tests
 * run in check's fork mode, so nothing leaks into the next test.
 */
#ifndef LOOPFS_TESTS_CAPTURE_STDERR_H
#define LOOPFS_TESTS_CAPTURE_STDERR_H

#include <check.h>
#include <stdio.h>
#include <unistd.h>

/* Descriptor 2 as it was before capture_stderr_begin. */
static int captured_saved_fd = -1;
static FILE *captured_file;

/* Send stderr to a fresh temporary file. */
static inline void
capture_stderr_begin (void)
{
  fflush (stderr);
  captured_file = tmpfile ();
  ck_assert_ptr_nonnull (captured_file);
  captured_saved_fd = dup (2);
  ck_assert_int_ge (captured_saved_fd, 0);
  ck_assert_int_eq (dup2 (fileno (captured_file), 2), 2);
}

/* Put stderr back and return what was written to it (static storage,
 * valid until the next capture). */
static inline const char *
capture_stderr_end (void)
{
  static char text[4096];
  size_t n;

  fflush (stderr);
  ck_assert_int_eq (dup2 (captured_saved_fd, 2), 2);
  close (captured_saved_fd);
  rewind (captured_file);
  n = fread (text, 1, sizeof text - 1, captured_file);
  text[n] = '\0';
  fclose (captured_file);
  return text;
}

#endif /* LOOPFS_TESTS_CAPTURE_STDERR_H */
