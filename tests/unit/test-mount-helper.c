/* Unit tests for fused/mount-helper.c: as /sbin/mount.fuse.loopfs,
 * loopfsd takes mount(8)'s helper arguments ("SOURCE TARGET [-sfnvw]
 * [-o OPTIONS] [-t TYPE]", flags anywhere, values attached or not) and
 * turns them into its own ("[-o OPTIONS] TARGET"), dropping what only
 * mount(8) and fstab understand; -f (a fake mount) does nothing.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture-stderr.h"
#include "mount-helper.h"
#include "test-main.h"

#define MAX_ARGS 16

/* Run mount_helper_args on the NULL-terminated ARGS (after argv[0])
 * and return its result; the rewritten arguments, joined by spaces
 * after argv[0], go to OUT, and the messages to *MESSAGES. */
static int
rewrite (const char *const *args, char *out, size_t size,
         const char **messages)
{
  char *argv_in[MAX_ARGS + 2] = { (char *) "/sbin/mount.fuse.loopfs" };
  char **argv = argv_in;
  int argc = 1, r, i;

  for (; *args; args++)
    argv_in[argc++] = (char *) *args;
  capture_stderr_begin ();
  r = mount_helper_args (&argc, &argv);
  *messages = capture_stderr_end ();
  out[0] = '\0';
  if (r == 0) {
    ck_assert_ptr_ne (argv, argv_in);
    ck_assert_str_eq (argv[0], "/sbin/mount.fuse.loopfs");
    ck_assert_ptr_null (argv[argc]);
    for (i = 1; i < argc; i++)
      snprintf (out + strlen (out), size - strlen (out), "%s%s",
                i > 1 ? " " : "", argv[i]);
    /* The options string is the helper's; the rest are ours. */
    if (argc == 4)
      free (argv[2]);
    free (argv);
  }
  else
    ck_assert_ptr_eq (argv, argv_in);
  return r;
}

/* ARGS become EXPECTED, silently. */
#define CHECK_ARGS(expected, ...)                                       \
  do {                                                                  \
    const char *const args_[] = { __VA_ARGS__, NULL };                  \
    const char *messages_;                                              \
    char out_[512];                                                     \
    ck_assert_int_eq (rewrite (args_, out_, sizeof out_, &messages_), 0); \
    ck_assert_str_eq (out_, expected);                                  \
    ck_assert_str_eq (messages_, "");                                   \
  } while (0)

/* ARGS are refused with -EINVAL and MESSAGE. */
#define CHECK_BAD(message, ...)                                         \
  do {                                                                  \
    const char *const args_[] = { __VA_ARGS__, NULL };                  \
    const char *messages_;                                              \
    char out_[512];                                                     \
    ck_assert_int_eq (rewrite (args_, out_, sizeof out_, &messages_),   \
                      -EINVAL);                                         \
    ck_assert_str_eq (messages_, "loopfsd: " message "\n");             \
  } while (0)

/* The helper is recognised by its name, with or without a directory. */
START_TEST (test_invoked)
{
  ck_assert (mount_helper_invoked ("mount.fuse.loopfs"));
  ck_assert (mount_helper_invoked ("/sbin/mount.fuse.loopfs"));
  ck_assert (!mount_helper_invoked ("loopfsd"));
  ck_assert (!mount_helper_invoked ("/usr/sbin/loopfsd"));
  ck_assert (!mount_helper_invoked ("mount.fuse.loopfs2"));
}
END_TEST

/* The source names nothing; the target is loopfsd's mount point. */
START_TEST (test_plain)
{
  CHECK_ARGS ("/mnt", "loopfs", "/mnt");
  CHECK_ARGS ("/mnt", "anything", "/mnt", "-t", "fuse.loopfs");
}
END_TEST

/* -o and -t take their value attached or as the next argument, and
 * may come before, between or after the two paths. */
START_TEST (test_option_forms)
{
  CHECK_ARGS ("-o max=8 /mnt", "loopfs", "/mnt", "-o", "max=8");
  CHECK_ARGS ("-o max=8 /mnt", "loopfs", "/mnt", "-omax=8");
  CHECK_ARGS ("-o max=8 /mnt", "-o", "max=8", "loopfs", "/mnt");
  CHECK_ARGS ("-o max=8 /mnt", "loopfs", "-tfuse.loopfs", "/mnt",
              "-o", "max=8");
  CHECK_ARGS ("-o max=8,rw /mnt", "loopfs", "/mnt", "-o", "max=8",
              "-o", "rw");
}
END_TEST

/* -s, -n, -v and -w mean nothing to loopfsd, alone or grouped, also in
 * front of -o. */
START_TEST (test_flags)
{
  CHECK_ARGS ("/mnt", "loopfs", "/mnt", "-s", "-n", "-v", "-w");
  CHECK_ARGS ("-o max=2 /mnt", "loopfs", "/mnt", "-snv", "-vo", "max=2");
  CHECK_ARGS ("-o max=2 /mnt", "loopfs", "/mnt", "-nomax=2");
}
END_TEST

/* What only mount(8) and fstab mean is dropped; the rest is kept in
 * order; nothing left means no -o. */
START_TEST (test_dropped_options)
{
  CHECK_ARGS ("-o max=8,rw,allow_other /mnt", "loopfs", "/mnt", "-o",
              "defaults,max=8,auto,noauto,nofail,_netdev,rw,user,nouser,"
              "users,owner,group,x-systemd.automount,x-gvfs-show,"
              "comment=systemd.foo,allow_other");
  CHECK_ARGS ("/mnt", "loopfs", "/mnt", "-o", "defaults,noauto");
  /* Only the listed names and prefixes are dropped. */
  CHECK_ARGS ("-o users2,x,comment /mnt", "loopfs", "/mnt", "-o",
              "users2,x,comment");
}
END_TEST

/* -f, alone or grouped, is a fake mount: nothing to do, and the
 * arguments are left as they were. */
START_TEST (test_fake)
{
  const char *const fake[] = { "loopfs", "/mnt", "-f", "-o", "max=8", NULL };
  const char *const grouped[] = { "loopfs", "/mnt", "-vf", NULL };
  const char *messages;
  char out[512];

  ck_assert_int_eq (rewrite (fake, out, sizeof out, &messages), 1);
  ck_assert_str_eq (messages, "");
  ck_assert_int_eq (rewrite (grouped, out, sizeof out, &messages), 1);
  ck_assert_str_eq (messages, "");
}
END_TEST

/* Wrong arguments are refused with a message. */
START_TEST (test_bad)
{
  CHECK_BAD ("mount.fuse.loopfs: -o needs a value", "loopfs", "/mnt", "-o");
  CHECK_BAD ("mount.fuse.loopfs: -t needs a value", "loopfs", "/mnt", "-t");
  CHECK_BAD ("mount.fuse.loopfs: unknown flag -x", "loopfs", "/mnt", "-x");
  CHECK_BAD ("mount.fuse.loopfs: unknown flag -r", "loopfs", "/mnt", "-vr");
  CHECK_BAD ("mount.fuse.loopfs: too many arguments", "loopfs", "/mnt",
             "/other");
  CHECK_BAD ("usage: mount.fuse.loopfs SOURCE MOUNTPOINT [-o OPTIONS]",
             "/mnt");
  CHECK_BAD ("usage: mount.fuse.loopfs SOURCE MOUNTPOINT [-o OPTIONS]",
             "-o", "max=1");
}
END_TEST

static Suite *
mount_helper_suite (void)
{
  Suite *s = suite_create ("mount-helper");
  TCase *tc = tcase_create ("mount_helper_args");

  tcase_add_test (tc, test_invoked);
  tcase_add_test (tc, test_plain);
  tcase_add_test (tc, test_option_forms);
  tcase_add_test (tc, test_flags);
  tcase_add_test (tc, test_dropped_options);
  tcase_add_test (tc, test_fake);
  tcase_add_test (tc, test_bad);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  return test_main (mount_helper_suite (), NULL);
}
