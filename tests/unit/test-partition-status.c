/* Unit tests of the loopfsd-loopfsctl contract in user.loopfs.status of
 * partition nodes: texts formatted with the daemon's code (fused/
 * status.c) and parsed with loopfsctl's (tools/loopfsctl/
 * partition-status.c) give back every field; unknown keys are skipped
 * and malformed lines refused.
 */
#include <check.h>
#include <errno.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "loopdev.h"
#include "loopdev-bind.h"
#include "partition-status.h"
#include "partition-table.h"
#include "status.h"
#include "test-main.h"

START_TEST (test_round_trip)
{
  struct loop_backing backing = {
    .kind = LOOP_BACKING_FILE, .dev = makedev (8, 1), .ino = 1,
    .size = 1ull << 40, .writable = true,
  };
  struct loop_config config = { .info = { .lo_flags = LO_FLAGS_READ_ONLY } };
  struct partition p = { .number = 255, .start = (1ull << 31) + 7,
                         .length = 1ull << 30 };
  struct partition_status st;
  struct loopdev lo;
  char buf[512];

  loopdev_init (&lo, 1048575);
  ck_assert_int_eq (bind_config (&lo, &config, &backing, true), 0);
  ck_assert_int_gt (partition_status_value (&p, &lo, buf, sizeof buf), 0);
  memset (&st, 0xaa, sizeof st);
  ck_assert_int_eq (partition_status_parse (buf, &st), 0);
  ck_assert_int_eq (st.parent, 1048575);
  ck_assert_int_eq (st.number, 255);
  ck_assert_uint_eq (st.start, (1ull << 31) + 7);
  ck_assert_uint_eq (st.size, (1ull << 30) * 512);
  ck_assert (st.ro);
  ck_assert_int_eq (partition_status_value (&p, &lo, buf, 20), -ERANGE);
}
END_TEST

START_TEST (test_parse)
{
  struct partition_status st = { 0 };
  char later[] = "parent=loop3\npartition=2\nnew_key=x\nstart=34\nsize=512\n"
                 "ro=0\n";
  char no_equals[] = "parent=loop3\npartition\n";
  char bad_number[] = "start=12x\n";
  char bad_parent[] = "parent=sda\n";

  ck_assert_int_eq (partition_status_parse (later, &st), 0);
  ck_assert_int_eq (st.parent, 3);
  ck_assert_int_eq (st.number, 2);
  ck_assert_uint_eq (st.start, 34);
  ck_assert_uint_eq (st.size, 512);
  ck_assert (!st.ro);
  ck_assert_int_eq (partition_status_parse (no_equals, &st), -EINVAL);
  ck_assert_int_eq (partition_status_parse (bad_number, &st), -EINVAL);
  ck_assert_int_eq (partition_status_parse (bad_parent, &st), -EINVAL);
}
END_TEST

static Suite *
partition_status_suite (void)
{
  Suite *s = suite_create ("partition-status");
  TCase *tc = tcase_create ("core");

  tcase_add_test (tc, test_round_trip);
  tcase_add_test (tc, test_parse);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  return test_main (partition_status_suite (), NULL);
}
