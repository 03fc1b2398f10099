/* Unit tests for tools/loopfsctl/error.c: the error printer of loopfsctl
 * and loopfs-oci says "PROGRAM: MESSAGE" and leaves errno as it found it, also when
 * writing to stderr fails, so that its callers' "%m" and "return
 * -errno" report the failure they mean.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture-stderr.h"
#include "loopfsctl.h"
#include "test-main.h"

/* The message gets the program's name (here the test's) in front and a
 * newline, and %m names the caller's errno. */
START_TEST (test_message)
{
  const char *text;

  capture_stderr_begin ();
  errno = EACCES;
  ctl_error ("exec: %s: %m", "/dev");
  text = capture_stderr_end ();
  ck_assert_ptr_nonnull (strstr (text, ": exec: /dev: Permission denied\n"));
  ck_assert_int_eq (strncmp (text, program_invocation_short_name,
                             strlen (program_invocation_short_name)), 0);
}
END_TEST

/* A successful print leaves errno as it was. */
START_TEST (test_errno_kept)
{
  capture_stderr_begin ();
  errno = ENOSPC;
  ctl_error ("plain message");
  ck_assert_int_eq (errno, ENOSPC);
  capture_stderr_end ();
}
END_TEST

/* stderr unbuffered, as a program starts with it, whatever the test
 * framework made of it: every write reaches the descriptor and can fail
 * there. */
static void
unbuffer_stderr (void)
{
  ck_assert_int_eq (setvbuf (stderr, NULL, _IONBF, 0), 0);
}

/* When stderr is full (writing fails with ENOSPC), errno is still the
 * caller's afterwards. */
START_TEST (test_errno_kept_stderr_full)
{
  int full = open ("/dev/full", O_WRONLY | O_CLOEXEC);
  int saved = dup (2);

  ck_assert_int_ge (full, 0);
  ck_assert_int_ge (saved, 0);
  ck_assert_int_eq (dup2 (full, 2), 2);
  errno = EPERM;
  ctl_error ("exec: unshare (CLONE_NEWNS): %m");
  ck_assert_int_eq (errno, EPERM);
  dup2 (saved, 2);
}
END_TEST

/* When stderr is closed (writing fails with EBADF), errno is kept. */
START_TEST (test_errno_kept_stderr_closed)
{
  int saved = dup (2);

  ck_assert_int_ge (saved, 0);
  close (2);
  errno = ENOENT;
  ctl_error ("exec: %s: %m", "missing");
  ck_assert_int_eq (errno, ENOENT);
  dup2 (saved, 2);
}
END_TEST

static Suite *
ctl_error_suite (void)
{
  Suite *s = suite_create ("ctl-error");
  TCase *tc = tcase_create ("ctl_error");

  tcase_add_checked_fixture (tc, unbuffer_stderr, NULL);
  tcase_add_test (tc, test_message);
  tcase_add_test (tc, test_errno_kept);
  tcase_add_test (tc, test_errno_kept_stderr_full);
  tcase_add_test (tc, test_errno_kept_stderr_closed);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  return test_main (ctl_error_suite (), NULL);
}
