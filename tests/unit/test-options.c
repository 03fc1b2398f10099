/* Unit tests for fused/options.c: loopfsd's -o options are parsed
 * strictly.  Its own options take their values within bounds, the
 * generic mount flags are passed on to libfuse, and anything else is
 * refused with -EINVAL and one message naming it, never ignored.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture-stderr.h"
#include "options.h"
#include "test-main.h"

/* Parse ARG into freshly initialised OPTS, expecting success and no
 * message. */
static void
parse_ok (struct options *opts, const char *arg)
{
  const char *text;
  int r;

  options_init (opts);
  capture_stderr_begin ();
  r = options_parse (opts, arg);
  text = capture_stderr_end ();
  ck_assert_msg (r == 0, "-o %s: %d (%s)", arg, r, text);
  ck_assert_str_eq (text, "");
}

/* Parsing ARG fails with -EINVAL and prints MESSAGE (after "loopfsd: ")
 * and nothing else. */
static void
parse_bad (const char *arg, const char *message)
{
  struct options opts;
  char expected[512];
  const char *text;
  int r;

  options_init (&opts);
  capture_stderr_begin ();
  r = options_parse (&opts, arg);
  text = capture_stderr_end ();
  options_free (&opts);
  ck_assert_msg (r == -EINVAL, "-o %s: %d", arg, r);
  snprintf (expected, sizeof expected, "loopfsd: %s\n", message);
  ck_assert_str_eq (text, expected);
}

/* Without options: the kernel's bound on devices, 2 connections, kernel
 * NBD when possible, no owner given, nothing for libfuse. */
START_TEST (test_defaults)
{
  struct options opts;

  options_init (&opts);
  ck_assert_uint_eq (opts.max_devices, 1u << 20);
  ck_assert (!opts.max_given);
  ck_assert_uint_eq (opts.connections, 2);
  ck_assert (!opts.uid_given);
  ck_assert (!opts.gid_given);
  ck_assert (!opts.allow_other);
  ck_assert_int_eq (opts.nbd, NBD_MODE_AUTO);
  ck_assert_ptr_null (opts.log_file);
  ck_assert_ptr_null (opts.fuse_opts);
  options_free (&opts);
}
END_TEST

/* max=N from 1 to 1 << 20, and it is remembered as given. */
START_TEST (test_max)
{
  struct options opts;

  parse_ok (&opts, "max=1");
  ck_assert_uint_eq (opts.max_devices, 1);
  ck_assert (opts.max_given);
  options_free (&opts);
  parse_ok (&opts, "max=1048576");
  ck_assert_uint_eq (opts.max_devices, 1048576);
  options_free (&opts);
}
END_TEST

/* connections=N from 1 to 16. */
START_TEST (test_connections)
{
  struct options opts;

  parse_ok (&opts, "connections=1");
  ck_assert_uint_eq (opts.connections, 1);
  options_free (&opts);
  parse_ok (&opts, "connections=16");
  ck_assert_uint_eq (opts.connections, 16);
  ck_assert (!opts.max_given);
  options_free (&opts);
}
END_TEST

/* uid=N and gid=N from 0 to 2^32 - 2 (-1 is no id), each remembered as
 * given on its own. */
START_TEST (test_owner)
{
  struct options opts;

  parse_ok (&opts, "uid=0");
  ck_assert_uint_eq (opts.uid, 0);
  ck_assert (opts.uid_given);
  ck_assert (!opts.gid_given);
  options_free (&opts);
  parse_ok (&opts, "uid=100000,gid=4294967294");
  ck_assert_uint_eq (opts.uid, 100000);
  ck_assert_uint_eq (opts.gid, 4294967294u);
  ck_assert (opts.uid_given);
  ck_assert (opts.gid_given);
  ck_assert_ptr_null (opts.fuse_opts);
  options_free (&opts);
}
END_TEST

/* nbd=auto|on|off. */
START_TEST (test_nbd)
{
  struct options opts;

  parse_ok (&opts, "nbd=on");
  ck_assert_int_eq (opts.nbd, NBD_MODE_ON);
  options_free (&opts);
  parse_ok (&opts, "nbd=off");
  ck_assert_int_eq (opts.nbd, NBD_MODE_OFF);
  options_free (&opts);
  parse_ok (&opts, "nbd=off,nbd=auto");
  ck_assert_int_eq (opts.nbd, NBD_MODE_AUTO);
  options_free (&opts);
}
END_TEST

/* log=FILE; the last one counts. */
START_TEST (test_log)
{
  struct options opts;

  parse_ok (&opts, "log=/tmp/a,log=/var/log/loopfsd.log");
  ck_assert_str_eq (opts.log_file, "/var/log/loopfsd.log");
  ck_assert_ptr_null (opts.fuse_opts);
  options_free (&opts);
  ck_assert_ptr_null (opts.log_file);
}
END_TEST

/* allow_other is loopfsd's and libfuse's; the generic mount flags go to
 * libfuse in their order; empty items between commas are nothing. */
START_TEST (test_passthrough)
{
  struct options opts;

  parse_ok (&opts, "allow_other");
  ck_assert (opts.allow_other);
  ck_assert_str_eq (opts.fuse_opts, "allow_other");
  options_free (&opts);
  parse_ok (&opts, "rw,,dev,nodev,suid,nosuid,exec,noexec,atime,noatime,"
            "relatime,default_permissions,auto_unmount,max=3");
  ck_assert_str_eq (opts.fuse_opts,
                    "rw,dev,nodev,suid,nosuid,exec,noexec,atime,noatime,"
                    "relatime,default_permissions,auto_unmount");
  ck_assert_uint_eq (opts.max_devices, 3);
  ck_assert (!opts.allow_other);
  options_free (&opts);
}
END_TEST

/* Several -o arguments add up. */
START_TEST (test_several)
{
  struct options opts;

  parse_ok (&opts, "max=8,rw");
  ck_assert_int_eq (options_parse (&opts, "connections=2,noatime"), 0);
  ck_assert_uint_eq (opts.max_devices, 8);
  ck_assert_uint_eq (opts.connections, 2);
  ck_assert_str_eq (opts.fuse_opts, "rw,noatime");
  options_free (&opts);
}
END_TEST

/* Values out of range or not numbers are refused with the range. */
START_TEST (test_bad_values)
{
  parse_bad ("max=0",
             "bad value for 'max': '0' (expected a number from 1 to 1048576)");
  parse_bad ("max=1048577", "bad value for 'max': '1048577' (expected a "
             "number from 1 to 1048576)");
  parse_bad ("max=-1", "bad value for 'max': '-1' (expected a number from "
             "1 to 1048576)");
  parse_bad ("max=",
             "bad value for 'max': '' (expected a number from 1 to 1048576)");
  parse_bad ("max=8x", "bad value for 'max': '8x' (expected a number from "
             "1 to 1048576)");
  parse_bad ("max=99999999999999999999", "bad value for 'max': "
             "'99999999999999999999' (expected a number from 1 to 1048576)");
  parse_bad ("connections=0", "bad value for 'connections': '0' (expected "
             "a number from 1 to 16)");
  parse_bad ("connections=17", "bad value for 'connections': '17' (expected "
             "a number from 1 to 16)");
  parse_bad ("uid=4294967295", "bad value for 'uid': '4294967295' "
             "(expected a number from 0 to 4294967294)");
  parse_bad ("gid=-1", "bad value for 'gid': '-1' (expected a number from "
             "0 to 4294967294)");
  parse_bad ("nbd=yes",
             "bad value for 'nbd': 'yes' (expected auto, on or off)");
  parse_bad ("nbd=", "bad value for 'nbd': '' (expected auto, on or off)");
}
END_TEST

/* Unknown options, flags given a value and options missing theirs are
 * refused by name; a bad option stops the parse. */
START_TEST (test_unknown)
{
  parse_bad ("foo", "unknown mount option 'foo'");
  parse_bad ("foo=bar", "unknown mount option 'foo=bar'");
  parse_bad ("max", "unknown mount option 'max'");
  parse_bad ("nbd", "unknown mount option 'nbd'");
  parse_bad ("uid", "unknown mount option 'uid'");
  parse_bad ("log", "unknown mount option 'log'");
  parse_bad ("log=", "unknown mount option 'log='");
  parse_bad ("allow_other=1", "unknown mount option 'allow_other=1'");
  parse_bad ("rw=1", "unknown mount option 'rw=1'");
  parse_bad ("defaults", "unknown mount option 'defaults'");
  parse_bad ("max=4,ro", "unknown mount option 'ro'");
}
END_TEST

static Suite *
options_suite (void)
{
  Suite *s = suite_create ("options");
  TCase *tc = tcase_create ("options_parse");

  tcase_add_test (tc, test_defaults);
  tcase_add_test (tc, test_max);
  tcase_add_test (tc, test_connections);
  tcase_add_test (tc, test_owner);
  tcase_add_test (tc, test_nbd);
  tcase_add_test (tc, test_log);
  tcase_add_test (tc, test_passthrough);
  tcase_add_test (tc, test_several);
  tcase_add_test (tc, test_bad_values);
  tcase_add_test (tc, test_unknown);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  return test_main (options_suite (), NULL);
}
