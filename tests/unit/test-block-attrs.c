/* Unit tests for control/block-attrs.c: the generic block ioctls of a
 * loop device, against block/ioctl.c and drivers/block/loop.c in
 * Linux 6.18 (values as the conformance scenario block_attrs saw them
 * on the kernel's loop driver).
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <linux/blkzoned.h>
#include <linux/fs.h>
#include <linux/hdreg.h>

#include "block-attrs.h"
#include "loopdev.h"
#include "loopdev-bind.h"
#include "test-main.h"

/* Bind LO (freshly initialised as loop0) to a writable 1 MiB file on a
 * filesystem whose disk is rotational unless NONROT, read-only when
 * FLAGS has LO_FLAGS_READ_ONLY. */
static void
make_bound (struct loopdev *lo, bool nonrot, uint32_t flags)
{
  struct loop_backing backing = {
    .kind = LOOP_BACKING_FILE, .dev = makedev (8, 1), .ino = 1,
    .size = 1024 * 1024, .writable = true, .dio_align = 512,
    .can_discard = true, .nonrot = nonrot,
  };
  struct loop_config config = { .info = { .lo_flags = flags } };

  loopdev_init (lo, 0);
  ck_assert_int_eq (bind_config (lo, &config, &backing, true), 0);
}

/* Clear a bound LO as LOOP_CLR_FD by its only opener, then the last
 * close, do. */
static void
clear (struct loopdev *lo)
{
  ck_assert_int_eq (loopdev_open (lo), 0);
  ck_assert_int_eq (loopdev_clr_fd (lo), 0);
  ck_assert (loopdev_release (lo));
  loopdev_cleared (lo);
}

/* The value of getter CMD, which must write WIDTH bytes. */
static uint64_t
get (const struct loopdev *lo, unsigned int cmd, int width)
{
  uint64_t value = 0xaaaa;

  ck_assert_int_eq (loopdev_block_attr_get (lo, cmd, false, &value), width);
  return value;
}

START_TEST (test_getters)
{
  struct loopdev lo;

  loopdev_init (&lo, 0);
  ck_assert_uint_eq (get (&lo, BLKRAGET, sizeof (long)), 5120);
  ck_assert_uint_eq (get (&lo, BLKFRAGET, sizeof (long)), 5120);
  ck_assert_uint_eq (get (&lo, BLKSECTGET, 2), 2560);
  ck_assert_uint_eq (get (&lo, BLKIOMIN, 4), 512);
  ck_assert_uint_eq (get (&lo, BLKIOOPT, 4), 0);
  ck_assert_uint_eq (get (&lo, BLKALIGNOFF, 4), 0);
  ck_assert_uint_eq (get (&lo, BLKDISCARDZEROES, 4), 0);
  ck_assert_uint_eq (get (&lo, BLKROTATIONAL, 2), 1);
  ck_assert_uint_eq (get (&lo, BLKGETZONESZ, 4), 0);
  ck_assert_uint_eq (get (&lo, BLKGETNRZONES, 4), 0);
  ck_assert_uint_eq (get (&lo, BLKROGET, 4), 0);
  ck_assert_uint_ne (get (&lo, BLKGETDISKSEQ, 8), 0);

  make_bound (&lo, false, 0);
  ck_assert_uint_eq (get (&lo, BLKROTATIONAL, 2), 1);
  lo.b.block_size = 4096;
  ck_assert_uint_eq (get (&lo, BLKIOMIN, 4), 4096);
  make_bound (&lo, true, 0);
  ck_assert_uint_eq (get (&lo, BLKROTATIONAL, 2), 0);
}
END_TEST

START_TEST (test_null_and_unknown)
{
  struct loopdev lo;
  uint64_t value = 7;

  loopdev_init (&lo, 0);
  ck_assert_int_eq (loopdev_block_attr_get (&lo, BLKRAGET, true, &value), -EINVAL);
  ck_assert_int_eq (loopdev_block_attr_get (&lo, BLKFRAGET, true, &value), -EINVAL);
  ck_assert_int_eq (loopdev_block_attr_get (&lo, BLKROSET, false, &value), -EINVAL);
  ck_assert_uint_eq (value, 7);
  ck_assert (loopdev_is_block_attr (BLKGETDISKSEQ));
  ck_assert (loopdev_is_block_attr (HDIO_GETGEO));
  ck_assert (!loopdev_is_block_attr (BLKGETSIZE64));
  ck_assert (!loopdev_is_block_attr (_IO (0x12, 200)));
}
END_TEST

START_TEST (test_refusals)
{
  static const unsigned int zone[] = {
    BLKREPORTZONE, BLKRESETZONE, BLKOPENZONE, BLKCLOSEZONE, BLKFINISHZONE,
  };

  for (size_t i = 0; i < sizeof zone / sizeof zone[0]; i++) {
    ck_assert_int_eq (loopdev_block_attr_refuse (zone[i], true, false), -ENOTTY);
    ck_assert_int_eq (loopdev_block_attr_refuse (zone[i], false, false), -ENOTTY);
  }
  ck_assert_int_eq (loopdev_block_attr_refuse (BLKSECDISCARD, true, false), -EOPNOTSUPP);
  ck_assert_int_eq (loopdev_block_attr_refuse (BLKSECDISCARD, false, false), -EBADF);
  ck_assert_int_eq (loopdev_block_attr_refuse (HDIO_GETGEO, true, false), -ENOTTY);
  ck_assert_int_eq (loopdev_block_attr_refuse (HDIO_GETGEO, true, true), -EINVAL);
  ck_assert_int_eq (loopdev_block_attr_refuse (BLKROGET, true, false), 0);
}
END_TEST

START_TEST (test_permission)
{
  struct loop_caller admin = { .opened_for_write = false, .sys_admin = true };
  struct loop_caller user = { .opened_for_write = true, .sys_admin = false };

  ck_assert_int_eq (loopdev_block_attr_permission (BLKRASET, &user), -EACCES);
  ck_assert_int_eq (loopdev_block_attr_permission (BLKFRASET, &user), -EACCES);
  ck_assert_int_eq (loopdev_block_attr_permission (BLKROSET, &user), -EACCES);
  ck_assert_int_eq (loopdev_block_attr_permission (BLKROSET, &admin), 0);
  ck_assert_int_eq (loopdev_block_attr_permission (BLKBSZSET, &user), -EACCES);
  ck_assert_int_eq (loopdev_block_attr_permission (BLKBSZSET, &admin), 0);
  ck_assert_int_eq (loopdev_block_attr_permission (BLKRAGET, &user), 0);
  ck_assert_int_eq (loopdev_block_attr_permission (BLKROGET, &user), 0);
}
END_TEST

START_TEST (test_read_ahead)
{
  struct loopdev lo;

  loopdev_init (&lo, 0);
  loopdev_set_read_ahead (&lo, 100);     /* 12 whole pages */
  ck_assert_uint_eq (get (&lo, BLKRAGET, sizeof (long)), 96);
  make_bound (&lo, false, 0);
  ck_assert_uint_eq (get (&lo, BLKRAGET, sizeof (long)), 5120);
  loopdev_set_read_ahead (&lo, 4096);
  ck_assert_uint_eq (get (&lo, BLKFRAGET, sizeof (long)), 4096);
  clear (&lo);
  ck_assert_uint_eq (get (&lo, BLKRAGET, sizeof (long)), 5120);
}
END_TEST

START_TEST (test_bdev_read_only)
{
  struct loopdev lo;

  loopdev_init (&lo, 0);
  loopdev_set_bdev_read_only (&lo, 5);
  ck_assert_uint_eq (get (&lo, BLKROGET, 4), 1);
  ck_assert (loopdev_read_only (&lo));

  /* BD_READ_ONLY outlives a bind and a clear... */
  make_bound (&lo, false, 0);
  lo.bdev_ro = true;
  ck_assert (loopdev_read_only (&lo));
  clear (&lo);
  ck_assert_uint_eq (get (&lo, BLKROGET, 4), 1);

  /* ... and clearing it leaves the disk's own flag. */
  make_bound (&lo, false, LO_FLAGS_READ_ONLY);
  loopdev_set_bdev_read_only (&lo, 0);
  ck_assert_uint_eq (get (&lo, BLKROGET, 4), 1);
  make_bound (&lo, false, 0);
  ck_assert_uint_eq (get (&lo, BLKROGET, 4), 0);
  ck_assert (!loopdev_read_only (&lo));
}
END_TEST

START_TEST (test_soft_block_size)
{
  struct loopdev lo;

  make_bound (&lo, false, 0);
  ck_assert_int_eq (loopdev_open (&lo), 0);
  ck_assert_int_eq (loopdev_set_soft_block_size (&lo, 1024), 0);
  ck_assert_uint_eq (lo.soft_block_size, 1024);
  ck_assert_int_eq (loopdev_set_soft_block_size (&lo, 65536), 0);
  ck_assert_int_eq (loopdev_set_soft_block_size (&lo, 131072), -EINVAL);
  ck_assert_int_eq (loopdev_set_soft_block_size (&lo, 1000), -EINVAL);
  ck_assert_int_eq (loopdev_set_soft_block_size (&lo, 256), -EINVAL);
  ck_assert_int_eq (loopdev_set_soft_block_size (&lo, -512), -EINVAL);
  ck_assert_uint_eq (lo.soft_block_size, 65536);
  lo.b.block_size = 4096;
  ck_assert_int_eq (loopdev_set_soft_block_size (&lo, 2048), -EINVAL);
  /* The next first opener gets the size set_init_blocksize() picks. */
  ck_assert (!loopdev_release (&lo));
  ck_assert_int_eq (loopdev_open (&lo), 0);
  ck_assert_uint_eq (lo.soft_block_size, 4096);
}
END_TEST

START_TEST (test_diskseq)
{
  struct loopdev lo, other;
  uint64_t unbound, bound, cleared;

  loopdev_init (&lo, 0);
  unbound = get (&lo, BLKGETDISKSEQ, 8);
  ck_assert_uint_eq (get (&lo, BLKGETDISKSEQ, 8), unbound);
  loopdev_init (&other, 1);
  ck_assert_uint_ne (get (&other, BLKGETDISKSEQ, 8), unbound);

  make_bound (&lo, false, 0);
  bound = get (&lo, BLKGETDISKSEQ, 8);
  ck_assert_uint_gt (bound, unbound);
  ck_assert_int_eq (loopdev_open (&lo), 0);
  ck_assert_int_eq (loopdev_clr_fd (&lo), 0);
  /* Rundown keeps the number; the clear gives a new one. */
  ck_assert_uint_eq (get (&lo, BLKGETDISKSEQ, 8), bound);
  ck_assert (loopdev_release (&lo));
  loopdev_cleared (&lo);
  cleared = get (&lo, BLKGETDISKSEQ, 8);
  ck_assert_uint_gt (cleared, bound);
}
END_TEST

START_TEST (test_change_fd_and_block_size)
{
  struct loopdev lo;
  struct loopdev_binding b;
  uint64_t seq;

  make_bound (&lo, false, LO_FLAGS_READ_ONLY);
  seq = get (&lo, BLKGETDISKSEQ, 8);
  loopdev_set_read_ahead (&lo, 1024);
  /* LOOP_CHANGE_FD: a media change, the read-ahead stays. */
  loopdev_change_fd_commit (&lo, &lo.b);
  ck_assert_uint_gt (get (&lo, BLKGETDISKSEQ, 8), seq);
  ck_assert_uint_eq (get (&lo, BLKRAGET, sizeof (long)), 1024);
  seq = get (&lo, BLKGETDISKSEQ, 8);

  /* The same block size again commits no limits; a new one does. */
  ck_assert_int_eq (loopdev_set_block_size_check (&lo, 512, &b), 0);
  loopdev_set_binding (&lo, &b);
  ck_assert_uint_eq (get (&lo, BLKRAGET, sizeof (long)), 1024);
  ck_assert_int_eq (loopdev_set_block_size_check (&lo, 4096, &b), 0);
  loopdev_set_binding (&lo, &b);
  ck_assert_uint_eq (get (&lo, BLKRAGET, sizeof (long)), 5120);
  ck_assert_uint_eq (get (&lo, BLKIOMIN, 4), 4096);
  ck_assert_uint_eq (get (&lo, BLKGETDISKSEQ, 8), seq);
}
END_TEST

static Suite *
block_attrs_suite (void)
{
  Suite *s = suite_create ("block-attrs");
  TCase *tc = tcase_create ("block-attrs");

  tcase_add_test (tc, test_getters);
  tcase_add_test (tc, test_null_and_unknown);
  tcase_add_test (tc, test_refusals);
  tcase_add_test (tc, test_permission);
  tcase_add_test (tc, test_read_ahead);
  tcase_add_test (tc, test_bdev_read_only);
  tcase_add_test (tc, test_soft_block_size);
  tcase_add_test (tc, test_diskseq);
  tcase_add_test (tc, test_change_fd_and_block_size);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  return test_main (block_attrs_suite (), NULL);
}
