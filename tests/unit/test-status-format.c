/* Unit tests of the loopfsd-loopfsctl contract in user.loopfs.status
 * and user.loopfs.instance: texts formatted with the daemon's code
 * (fused/status.c) and parsed with loopfsctl's (tools/loopfsctl/
 * device-status.c) give back every field, for every state, every flag
 * and the longest names; and the per-user limit file is read by the
 * one strict reader both programs use (include/loopfs-interface.h).
 */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "device-status.h"
#include "loopfs-interface.h"
#include "status-escape.h"
#include "status.h"
#include "test-main.h"

/* A device in STATE with a binding that differs from the defaults in
 * every field. */
static void
make_device (struct loopdev *lo, enum loopdev_state state, uint32_t flags)
{
  loopdev_init (lo, 7);
  lo->state = state;
  lo->disk_ro = (flags & LO_FLAGS_READ_ONLY) != 0;
  lo->b.backing.dev = makedev (259, 123456);
  lo->b.backing.ino = 0xfedcba9876543210ull;
  lo->b.offset = 1ull << 40;
  lo->b.sizelimit = (1ull << 50) + 512;
  lo->b.flags = flags;
  lo->b.block_size = 4096;
  lo->b.size = 0x7ffffffffffffe00ull;
  strcpy (lo->b.file_name, "/var/lib/images/disk.img");
}

/* Format LO's status with BACKING_FILE and parse it back into *ST. */
static void
round_trip (const struct loopdev *lo, const char *backing_file,
            struct device_status *st)
{
  char text[XATTR_VALUE_MAX];
  int len = status_value (lo, backing_file, text, sizeof text);

  ck_assert_int_gt (len, 0);
  ck_assert_uint_eq (strlen (text), (size_t) len);
  memset (st, 0xa5, sizeof *st);
  memset (st->state, 0, sizeof st->state);
  st->bound = true;
  ck_assert_int_eq (device_status_parse (text, st), 0);
}

/* An unbound device says its state, size 0, 512-byte blocks and the
 * read-only flag it kept, and nothing of a binding. */
START_TEST (test_unbound)
{
  struct loopdev lo;
  struct device_status st;
  char text[XATTR_VALUE_MAX];

  make_device (&lo, LOOPDEV_UNBOUND, 0);
  lo.disk_ro = true;
  ck_assert_int_gt (status_value (&lo, "/ignored", text, sizeof text), 0);
  ck_assert_ptr_null (strstr (text, STATUS_KEY_BACKING_FILE "="));
  ck_assert_ptr_null (strstr (text, "/ignored"));
  round_trip (&lo, "/ignored", &st);
  ck_assert_str_eq (st.state, "unbound");
  ck_assert (!st.bound);
  ck_assert_uint_eq (st.size, 0);
  ck_assert (st.ro);
  ck_assert_uint_eq (st.logical_block_size, 512);
  ck_assert_uint_eq (st.physical_block_size, 512);
}
END_TEST

/* Every state the model has reads back by its name, and only bound and
 * rundown count as bound. */
START_TEST (test_states)
{
  static const struct {
    enum loopdev_state state;
    const char *name;
    bool bound;
  } states[] = {
    { LOOPDEV_UNBOUND, "unbound", false },
    { LOOPDEV_BINDING, "binding", false },
    { LOOPDEV_BOUND, "bound", true },
    { LOOPDEV_RUNDOWN, "rundown", true },
    { LOOPDEV_DELETING, "deleting", false },
  };
  size_t i;

  for (i = 0; i < sizeof states / sizeof states[0]; i++) {
    struct loopdev lo;
    struct device_status st;

    make_device (&lo, states[i].state, 0);
    round_trip (&lo, "/img", &st);
    ck_assert_str_eq (st.state, states[i].name);
    ck_assert_int_eq (st.bound, states[i].bound);
    ck_assert_uint_eq (st.size, states[i].bound ? lo.b.size : 0);
    if (states[i].bound)
      ck_assert_str_eq (st.backing_file, "/img");
  }
}
END_TEST

/* A bound device gives back every field of its binding, with each flag
 * alone and all of them together. */
START_TEST (test_bound_flags)
{
  static const uint32_t flag_sets[] = {
    0,
    LO_FLAGS_AUTOCLEAR,
    LO_FLAGS_PARTSCAN,
    LO_FLAGS_DIRECT_IO,
    LO_FLAGS_READ_ONLY,
    LO_FLAGS_AUTOCLEAR | LO_FLAGS_PARTSCAN | LO_FLAGS_DIRECT_IO
    | LO_FLAGS_READ_ONLY,
  };
  size_t i;

  for (i = 0; i < sizeof flag_sets / sizeof flag_sets[0]; i++) {
    uint32_t flags = flag_sets[i];
    struct loopdev lo;
    struct device_status st;

    make_device (&lo, LOOPDEV_BOUND, flags);
    round_trip (&lo, "/srv/backing file.img", &st);
    ck_assert_str_eq (st.state, "bound");
    ck_assert (st.bound);
    ck_assert_uint_eq (st.size, lo.b.size);
    ck_assert_int_eq (st.ro, (flags & LO_FLAGS_READ_ONLY) != 0);
    ck_assert_uint_eq (st.logical_block_size, 4096);
    ck_assert_uint_eq (st.physical_block_size, 4096);
    ck_assert_str_eq (st.backing_file, "/srv/backing file.img");
    ck_assert_str_eq (st.file_name, lo.b.file_name);
    ck_assert_uint_eq (st.offset, lo.b.offset);
    ck_assert_uint_eq (st.sizelimit, lo.b.sizelimit);
    ck_assert_int_eq (st.autoclear, (flags & LO_FLAGS_AUTOCLEAR) != 0);
    ck_assert_int_eq (st.partscan, (flags & LO_FLAGS_PARTSCAN) != 0);
    ck_assert_int_eq (st.dio, (flags & LO_FLAGS_DIRECT_IO) != 0);
    ck_assert_int_eq (st.read_only, (flags & LO_FLAGS_READ_ONLY) != 0);
    ck_assert_uint_eq (st.backing_major, 259);
    ck_assert_uint_eq (st.backing_minor, 123456);
    ck_assert_uint_eq (st.backing_inode, lo.b.backing.ino);
  }
}
END_TEST

/* The longest path and file name fit in the value and come back whole,
 * with '=' and spaces in them. */
START_TEST (test_long_names)
{
  static char path[PATH_MAX];
  struct loopdev lo;
  struct device_status st;
  size_t i;

  path[0] = '/';
  for (i = 1; i < PATH_MAX - 1; i++)
    path[i] = "ab=c d/"[i % 7];
  path[PATH_MAX - 1] = '\0';
  make_device (&lo, LOOPDEV_RUNDOWN, LO_FLAGS_AUTOCLEAR);
  memset (lo.b.file_name, 'n', LO_NAME_SIZE - 1);
  lo.b.file_name[3] = '=';
  lo.b.file_name[LO_NAME_SIZE - 1] = '\0';
  round_trip (&lo, path, &st);
  ck_assert_str_eq (st.backing_file, path);
  ck_assert_str_eq (st.file_name, lo.b.file_name);
  ck_assert_str_eq (st.state, "rundown");
  ck_assert (st.autoclear);
}
END_TEST

/* Every byte a caller may put in lo_file_name, and a path with
 * newlines, come back exactly and add no line: a name that spells
 * "\nbacking_file=/etc/shadow" does not change the backing file, and a
 * name with a line without '=' does not make the text unreadable.  The
 * longest path of escapes still fits. */
START_TEST (test_hostile_names)
{
  static const char *const names[] = {
    "x\nbacking_file=/etc/shadow",
    "no equals sign\nat all",
    "\\n\\x0a\\\\",
    "\x01\x1f\x7f\t\r\xff\xfe=",
  };
  static char path[PATH_MAX];
  struct loopdev lo;
  struct device_status st;
  char all[LO_NAME_SIZE];
  size_t i;

  make_device (&lo, LOOPDEV_BOUND, 0);
  for (i = 0; i < sizeof names / sizeof names[0]; i++) {
    snprintf (lo.b.file_name, LO_NAME_SIZE, "%s", names[i]);
    round_trip (&lo, "/img\nstate=deleting", &st);
    ck_assert_str_eq (st.file_name, names[i]);
    ck_assert_str_eq (st.backing_file, "/img\nstate=deleting");
    ck_assert_str_eq (st.state, "bound");
  }
  for (i = 0; i < LO_NAME_SIZE - 1; i++)
    all[i] = (char) (i % 255 + 1);
  all[LO_NAME_SIZE - 1] = '\0';
  memcpy (lo.b.file_name, all, LO_NAME_SIZE);
  memset (path, '\n', PATH_MAX - 1);
  path[PATH_MAX - 1] = '\0';
  round_trip (&lo, path, &st);
  ck_assert_str_eq (st.file_name, all);
  ck_assert_str_eq (st.backing_file, path);
}
END_TEST

/* The escapes: what unescaping refuses. */
START_TEST (test_bad_escapes)
{
  char out[16];

  ck_assert_int_eq (status_unescape ("a\\", out, sizeof out), -EINVAL);
  ck_assert_int_eq (status_unescape ("\\q", out, sizeof out), -EINVAL);
  ck_assert_int_eq (status_unescape ("\\x0", out, sizeof out), -EINVAL);
  ck_assert_int_eq (status_unescape ("\\x00", out, sizeof out), -EINVAL);
  ck_assert_int_eq (status_unescape ("\\x4g", out, sizeof out), -EINVAL);
  ck_assert_int_eq (status_unescape ("0123456789abcdef", out, sizeof out),
                    -EOVERFLOW);
  ck_assert_int_eq (status_unescape ("\\x41\\n\\\\", out, sizeof out), 3);
  ck_assert_str_eq (out, "A\n\\");
  ck_assert_int_eq (status_escape ("\n", out, 2), -ERANGE);
  ck_assert_int_eq (status_escape ("\n", out, 3), 2);
}
END_TEST

/* A buffer too small is -ERANGE, never a cut text. */
START_TEST (test_too_small)
{
  struct loopdev lo;
  char text[64];

  make_device (&lo, LOOPDEV_BOUND, 0);
  ck_assert_int_eq (status_value (&lo, "/img", text, sizeof text), -ERANGE);
  ck_assert_int_eq (status_value (&lo, "/img", text, 1), -ERANGE);
}
END_TEST

/* The parser refuses a line without '=' and a bad number, and skips
 * keys it does not know. */
START_TEST (test_parse_rules)
{
  struct device_status st;
  char no_eq[] = "state=bound\ngarbage\n";
  char bad_number[] = "size=12x\n";
  char unknown[] = "state=unbound\nfuture_key=whatever\nsize=0\n";

  memset (&st, 0, sizeof st);
  ck_assert_int_eq (device_status_parse (no_eq, &st), -EINVAL);
  ck_assert_int_eq (device_status_parse (bad_number, &st), -EINVAL);
  ck_assert_int_eq (device_status_parse (unknown, &st), 0);
  ck_assert_str_eq (st.state, "unbound");
}
END_TEST

/* Format SUMMARY and parse it back into *INFO. */
static void
instance_round_trip (const struct instance_summary *summary,
                     struct instance_info *info)
{
  char text[512];
  int len = instance_value (summary, text, sizeof text);

  ck_assert_int_gt (len, 0);
  memset (info, 0xa5, sizeof *info);
  ck_assert_int_eq (instance_info_parse (text, info), 0);
}

/* Every field of user.loopfs.instance comes back, with nbd on and
 * off. */
START_TEST (test_instance)
{
  struct instance_summary summary = {
    .pid = 4194303, .max = 1u << 20, .devices = 1048575, .bound = 1000,
    .nbd = true, .connections = 16,
  };
  struct instance_info info;

  instance_round_trip (&summary, &info);
  ck_assert_int_eq (info.pid, 4194303);
  ck_assert_uint_eq (info.max, 1u << 20);
  ck_assert_uint_eq (info.devices, 1048575);
  ck_assert_uint_eq (info.bound, 1000);
  ck_assert (info.nbd);
  ck_assert_uint_eq (info.connections, 16);

  summary = (struct instance_summary) { .pid = 1, .max = 1 };
  instance_round_trip (&summary, &info);
  ck_assert_int_eq (info.pid, 1);
  ck_assert_uint_eq (info.max, 1);
  ck_assert_uint_eq (info.devices, 0);
  ck_assert_uint_eq (info.bound, 0);
  ck_assert (!info.nbd);
  ck_assert_uint_eq (info.connections, 0);
}
END_TEST

/* The daemon counts an instance's devices, and those bound or rundown
 * as bound. */
START_TEST (test_instance_count)
{
  struct instance inst;
  struct instance_summary summary = { 0 };
  int i;

  instance_init (&inst, 9);
  for (i = 0; i < 5; i++)
    ck_assert_int_eq (instance_add (&inst, i), i);
  instance_lookup (&inst, 1)->state = LOOPDEV_BOUND;
  instance_lookup (&inst, 2)->state = LOOPDEV_RUNDOWN;
  instance_lookup (&inst, 3)->state = LOOPDEV_BINDING;
  instance_summary_count (&inst, &summary);
  ck_assert_uint_eq (summary.max, 9);
  ck_assert_uint_eq (summary.devices, 5);
  ck_assert_uint_eq (summary.bound, 2);
  for (i = 0; i < 5; i++)
    instance_lookup (&inst, i)->state = LOOPDEV_UNBOUND;
  instance_free (&inst);
}
END_TEST

/* The per-user limit file holds one number from 0 to 1 << 20, with
 * trailing spaces and newlines; anything else is -EINVAL and leaves
 * the limit alone. */
START_TEST (test_user_limit_parse)
{
  static const char *const bad[] = {
    "", "\n", " \n", "abc", "12abc", "1 2", "1048577", "-1",
    "99999999999999999999", "0x10",
  };
  unsigned limit = 0;
  size_t i;

  ck_assert_int_eq (user_limit_parse ("0", &limit), 0);
  ck_assert_uint_eq (limit, 0);
  ck_assert_int_eq (user_limit_parse ("255\n", &limit), 0);
  ck_assert_uint_eq (limit, 255);
  ck_assert_int_eq (user_limit_parse ("1048576 \n\n", &limit), 0);
  ck_assert_uint_eq (limit, USER_LIMIT_MAX);
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    limit = 77;
    ck_assert_msg (user_limit_parse (bad[i], &limit) == -EINVAL,
                   "'%s' accepted", bad[i]);
    ck_assert_uint_eq (limit, 77);
  }
}
END_TEST

static Suite *
status_format_suite (void)
{
  Suite *s = suite_create ("status-format");
  TCase *status = tcase_create ("status");
  TCase *instance = tcase_create ("instance");
  TCase *limit = tcase_create ("user limit");

  tcase_add_test (status, test_unbound);
  tcase_add_test (status, test_states);
  tcase_add_test (status, test_bound_flags);
  tcase_add_test (status, test_long_names);
  tcase_add_test (status, test_hostile_names);
  tcase_add_test (status, test_bad_escapes);
  tcase_add_test (status, test_too_small);
  tcase_add_test (status, test_parse_rules);
  suite_add_tcase (s, status);
  tcase_add_test (instance, test_instance);
  tcase_add_test (instance, test_instance_count);
  suite_add_tcase (s, instance);
  tcase_add_test (limit, test_user_limit_parse);
  suite_add_tcase (s, limit);
  return s;
}

int
main (void)
{
  return test_main (status_format_suite (), NULL);
}
