/* Unit tests for tools/loopfsctl/size-arg.c: the sizes loopfsctl attach
 * takes for --offset and --sizelimit, as losetup takes them: decimal
 * bytes with an optional binary suffix K, M, G, T (also KiB, KB ...),
 * and a message naming the option for anything else.
 */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "capture-stderr.h"
#include "size-arg.h"
#include "test-main.h"

/* VALUE parses to BYTES, silently. */
static void
check_size (const char *value, uint64_t bytes)
{
  uint64_t got = 12345;
  const char *text;
  int r;

  capture_stderr_begin ();
  r = parse_size_arg ("--offset", value, &got);
  text = capture_stderr_end ();
  ck_assert_msg (r == 0, "'%s' refused", value);
  ck_assert_msg (got == bytes, "'%s' gave %ju, not %ju", value,
                 (uintmax_t) got, (uintmax_t) bytes);
  ck_assert_str_eq (text, "");
}

/* VALUE is refused with -EINVAL and a message naming the option and
 * the value; the output is left alone. */
static void
check_bad (const char *value)
{
  uint64_t got = 12345;
  char expected[256];
  const char *text;
  int r;

  capture_stderr_begin ();
  r = parse_size_arg ("--sizelimit", value, &got);
  text = capture_stderr_end ();
  ck_assert_msg (r == -EINVAL, "'%s' gave %d", value, r);
  ck_assert_msg (got == 12345, "'%s' changed the output", value);
  snprintf (expected, sizeof expected,
            "%s: --sizelimit %s: not a size (a number of bytes, or with K, "
            "M, G, T)\n", program_invocation_short_name, value);
  ck_assert_str_eq (text, expected);
}

/* Plain decimal numbers are bytes. */
START_TEST (test_bytes)
{
  check_size ("0", 0);
  check_size ("512", 512);
  check_size ("18446744073709551615", UINT64_MAX);
}
END_TEST

/* K, M, G and T are powers of 1024, alone or as KiB or KB. */
START_TEST (test_suffixes)
{
  check_size ("1K", 1024);
  check_size ("2M", 2ull << 20);
  check_size ("3G", 3ull << 30);
  check_size ("4T", 4ull << 40);
  check_size ("1KiB", 1024);
  check_size ("1MB", 1ull << 20);
  check_size ("16777215T", 16777215ull << 40);
}
END_TEST

/* Anything else is refused: no number, signs, other suffixes, junk
 * after the suffix, and sizes beyond 64 bits. */
START_TEST (test_bad)
{
  check_bad ("");
  check_bad ("K");
  check_bad ("-1");
  check_bad ("1k");
  check_bad ("1P");
  check_bad ("1Kx");
  check_bad ("1KiBB");
  check_bad ("1 K");
  check_bad ("12abc");
  check_bad ("18446744073709551616");
  check_bad ("16777216T");
}
END_TEST

static Suite *
size_arg_suite (void)
{
  Suite *s = suite_create ("size-arg");
  TCase *tc = tcase_create ("parse_size_arg");

  tcase_add_test (tc, test_bytes);
  tcase_add_test (tc, test_suffixes);
  tcase_add_test (tc, test_bad);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  return test_main (size_arg_suite (), NULL);
}
