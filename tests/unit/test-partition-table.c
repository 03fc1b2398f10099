/* Unit tests for control/partition-table.c: the partitions of a loop device,
 * against block/ioctl.c (blkpg_do_ioctl, BLKRRPART) and
 * block/partitions/core.c (bdev_add_partition, bdev_del_partition,
 * bdev_resize_partition, blk_add_partitions).
 */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/sysmacros.h>

#include "loopdev.h"
#include "loopdev-bind.h"
#include "partition-table.h"
#include "test-main.h"

#define MIB (1024 * 1024)

/* Bind LO (loop0) to a writable file of SIZE bytes with FLAGS. */
static void
make_bound (struct loopdev *lo, uint64_t size, uint32_t flags)
{
  struct loop_backing backing = {
    .kind = LOOP_BACKING_FILE, .dev = makedev (8, 1), .ino = 1,
    .size = size, .writable = true, .dio_align = 512,
  };
  struct loop_config config = { .info = { .lo_flags = flags } };

  loopdev_init (lo, 0);
  ck_assert_int_eq (bind_config (lo, &config, &backing, true), 0);
}

/* BLKPG operation OP of partition PNO at START for LENGTH bytes. */
static int
blkpg (struct partition_table *t, const struct loopdev *lo, int op, int pno,
       long long start, long long length)
{
  struct blkpg_partition p = { .start = start, .length = length, .pno = pno };

  return partition_table_blkpg (t, lo, op, &p);
}

START_TEST (test_scan_numbering)
{
  struct loopdev lo;
  struct partition_table t = { 0 };
  /* MBR: primary 1, extended 2 holding logical 5 and 6; GPT-like hole
   * at 3 and 4. */
  struct partition_entry e[] = {
    { .number = 1, .start = 2048, .length = 2048 },
    { .number = 2, .start = 4096, .length = 8192, .extended = true },
    { .number = 5, .start = 6144, .length = 2048 },
    { .number = 6, .start = 10240, .length = 2048 },
  };

  make_bound (&lo, 8 * MIB, LO_FLAGS_PARTSCAN);
  ck_assert_int_eq (partition_table_replace (&t, &lo, e, 4), 0);
  ck_assert_uint_eq (t.parts.len, 4);
  ck_assert_int_eq (t.parts.ptr[0]->number, 1);
  ck_assert_int_eq (t.parts.ptr[1]->number, 2);
  /* The extended partition keeps 2 sectors (msdos.c). */
  ck_assert_uint_eq (partition_size (t.parts.ptr[1]), 1024);
  ck_assert_int_eq (t.parts.ptr[2]->number, 5);
  ck_assert_uint_eq (t.parts.ptr[2]->start, 6144);
  ck_assert_uint_eq (partition_size (t.parts.ptr[3]), MIB);
  ck_assert_ptr_null (partition_table_lookup (&t, 3));
  partition_table_free (&t);
}
END_TEST

START_TEST (test_scan_bounds)
{
  struct loopdev lo;
  struct partition_table t = { 0 };
  struct partition_entry e[] = {
    { .number = 3, .start = 2048, .length = 4096 },   /* cut at the end */
    { .number = 1, .start = 100, .length = 0 },       /* empty: skipped */
    { .number = 2, .start = 4096, .length = 10 },     /* past the end */
    { .number = 256, .start = 40, .length = 8 },      /* bad number */
    { .number = 4, .start = 8, .length = 8 },
  };

  make_bound (&lo, 2 * MIB, LO_FLAGS_PARTSCAN);
  ck_assert_int_eq (partition_table_replace (&t, &lo, e, 5), 0);
  ck_assert_uint_eq (t.parts.len, 2);
  /* Sorted by number whatever the scan's order. */
  ck_assert_int_eq (t.parts.ptr[0]->number, 3);
  ck_assert_uint_eq (t.parts.ptr[0]->length, 2048);
  ck_assert_int_eq (t.parts.ptr[1]->number, 4);
  /* A new scan replaces everything. */
  ck_assert_int_eq (partition_table_replace (&t, &lo, e + 4, 1), 0);
  ck_assert_uint_eq (t.parts.len, 1);
  ck_assert_int_eq (partition_table_replace (&t, &lo, NULL, 0), 0);
  ck_assert_uint_eq (t.parts.len, 0);
  partition_table_free (&t);
}
END_TEST

START_TEST (test_rescan_rules)
{
  struct loopdev lo;
  struct partition_table t = { 0 };
  struct partition_entry e = { .number = 1, .start = 2048, .length = 2048 };

  loopdev_init (&lo, 0);
  ck_assert_int_eq (partition_table_rescan_check (&t, &lo), -EINVAL);
  make_bound (&lo, 4 * MIB, 0);
  ck_assert_int_eq (partition_table_rescan_check (&t, &lo), -EINVAL);
  make_bound (&lo, 4 * MIB, LO_FLAGS_PARTSCAN);
  ck_assert_int_eq (partition_table_rescan_check (&t, &lo), 0);
  ck_assert_int_eq (partition_table_replace (&t, &lo, &e, 1), 0);
  t.parts.ptr[0]->openers = 1;
  ck_assert_uint_eq (partition_table_open_count (&t), 1);
  ck_assert_int_eq (partition_table_rescan_check (&t, &lo), -EBUSY);
  t.parts.ptr[0]->openers = 0;
  ck_assert_int_eq (partition_table_rescan_check (&t, &lo), 0);
  partition_table_free (&t);
}
END_TEST

START_TEST (test_blkpg_add)
{
  struct loopdev lo;
  struct partition_table t = { 0 };

  /* BLKPG works without PARTSCAN: a loop disk only suppresses scans. */
  make_bound (&lo, 4 * MIB, 0);
  ck_assert_int_eq (blkpg (&t, &lo, BLKPG_ADD_PARTITION, 0, 0, 512), -EINVAL);
  ck_assert_int_eq (blkpg (&t, &lo, BLKPG_ADD_PARTITION, -1, 0, 512), -EINVAL);
  ck_assert_int_eq (blkpg (&t, &lo, BLKPG_ADD_PARTITION, 1, -512, 512), -EINVAL);
  ck_assert_int_eq (blkpg (&t, &lo, BLKPG_ADD_PARTITION, 1, 0, 0), -EINVAL);
  ck_assert_int_eq (blkpg (&t, &lo, BLKPG_ADD_PARTITION, 1, 1, 512), -EINVAL);
  ck_assert_int_eq (blkpg (&t, &lo, BLKPG_ADD_PARTITION, 1, 0, 100), -EINVAL);
  ck_assert_int_eq (blkpg (&t, &lo, BLKPG_ADD_PARTITION, 1, 4 * MIB, 512),
                    -EINVAL);
  ck_assert_int_eq (blkpg (&t, &lo, BLKPG_ADD_PARTITION, 1, MIB, 4 * MIB),
                    -EINVAL);
  ck_assert_int_eq (blkpg (&t, &lo, BLKPG_ADD_PARTITION, 1, LLONG_MAX - 511,
                           1024), -EINVAL);
  ck_assert_int_eq (blkpg (&t, &lo, BLKPG_ADD_PARTITION, 1, MIB, MIB), 0);
  /* Overlap first, then the number. */
  ck_assert_int_eq (blkpg (&t, &lo, BLKPG_ADD_PARTITION, 2, MIB + 512, 512),
                    -EBUSY);
  ck_assert_int_eq (blkpg (&t, &lo, BLKPG_ADD_PARTITION, 256, 0, 512),
                    -EINVAL);
  ck_assert_int_eq (blkpg (&t, &lo, BLKPG_ADD_PARTITION, 1, 0, 512), -EBUSY);
  ck_assert_int_eq (blkpg (&t, &lo, BLKPG_ADD_PARTITION, 255, 0, MIB), 0);
  ck_assert_int_eq (blkpg (&t, &lo, BLKPG_ADD_PARTITION, 7, 2 * MIB, MIB), 0);
  ck_assert_uint_eq (t.parts.len, 3);
  ck_assert_int_eq (t.parts.ptr[1]->number, 7);
  ck_assert_uint_eq (t.parts.ptr[1]->start, 4096);
  ck_assert_int_eq (blkpg (&t, &lo, 99, 8, 3 * MIB, MIB), -EINVAL);
  partition_table_free (&t);
}
END_TEST

START_TEST (test_blkpg_block_size)
{
  struct loopdev lo;
  struct partition_table t = { 0 };
  struct loopdev_binding b;

  make_bound (&lo, 4 * MIB, 0);
  ck_assert_int_eq (loopdev_set_block_size_check (&lo, 4096, &b), 0);
  loopdev_set_binding (&lo, &b);
  ck_assert_int_eq (blkpg (&t, &lo, BLKPG_ADD_PARTITION, 1, 512, 4096),
                    -EINVAL);
  ck_assert_int_eq (blkpg (&t, &lo, BLKPG_ADD_PARTITION, 1, 4096, 512),
                    -EINVAL);
  ck_assert_int_eq (blkpg (&t, &lo, BLKPG_ADD_PARTITION, 1, 4096, 4096), 0);
  partition_table_free (&t);
}
END_TEST

START_TEST (test_blkpg_unbound)
{
  struct loopdev lo;
  struct partition_table t = { 0 };

  loopdev_init (&lo, 0);
  ck_assert_int_eq (blkpg (&t, &lo, BLKPG_ADD_PARTITION, 1, 0, 512), -EINVAL);
  ck_assert_int_eq (blkpg (&t, &lo, BLKPG_DEL_PARTITION, 1, 0, 0), -ENXIO);
  ck_assert_int_eq (blkpg (&t, &lo, BLKPG_RESIZE_PARTITION, 1, 0, 512),
                    -EINVAL);
}
END_TEST

START_TEST (test_blkpg_del_resize)
{
  struct loopdev lo;
  struct partition_table t = { 0 };

  make_bound (&lo, 4 * MIB, 0);
  ck_assert_int_eq (blkpg (&t, &lo, BLKPG_ADD_PARTITION, 1, MIB, MIB), 0);
  ck_assert_int_eq (blkpg (&t, &lo, BLKPG_ADD_PARTITION, 2, 3 * MIB, MIB), 0);
  ck_assert_int_eq (blkpg (&t, &lo, BLKPG_RESIZE_PARTITION, 3, MIB, MIB),
                    -ENXIO);
  ck_assert_int_eq (blkpg (&t, &lo, BLKPG_RESIZE_PARTITION, 1, 0, MIB),
                    -EINVAL);
  ck_assert_int_eq (blkpg (&t, &lo, BLKPG_RESIZE_PARTITION, 1, MIB,
                           2 * MIB + 512), -EBUSY);
  ck_assert_int_eq (blkpg (&t, &lo, BLKPG_RESIZE_PARTITION, 1, MIB, 2 * MIB),
                    0);
  ck_assert_uint_eq (partition_size (partition_table_lookup (&t, 1)),
                     2 * MIB);
  ck_assert_int_eq (blkpg (&t, &lo, BLKPG_RESIZE_PARTITION, 1, MIB, 512), 0);
  ck_assert_int_eq (blkpg (&t, &lo, BLKPG_DEL_PARTITION, 0, 0, 0), -EINVAL);
  ck_assert_int_eq (blkpg (&t, &lo, BLKPG_DEL_PARTITION, 9, 0, 0), -ENXIO);
  partition_table_lookup (&t, 2)->openers = 1;
  ck_assert_int_eq (blkpg (&t, &lo, BLKPG_DEL_PARTITION, 2, 0, 0), -EBUSY);
  partition_table_lookup (&t, 2)->openers = 0;
  /* Delete looks at the number only. */
  ck_assert_int_eq (blkpg (&t, &lo, BLKPG_DEL_PARTITION, 2, -1, -1), 0);
  ck_assert_ptr_null (partition_table_lookup (&t, 2));
  ck_assert_uint_eq (t.parts.len, 1);
  partition_table_free (&t);
}
END_TEST

START_TEST (test_read_only)
{
  struct loopdev lo;
  struct partition_table t = { 0 };

  make_bound (&lo, 4 * MIB, LO_FLAGS_READ_ONLY);
  ck_assert_int_eq (blkpg (&t, &lo, BLKPG_ADD_PARTITION, 1, MIB, MIB), 0);
  ck_assert (partition_read_only (t.parts.ptr[0], &lo));
  make_bound (&lo, 4 * MIB, 0);
  ck_assert (!partition_read_only (t.parts.ptr[0], &lo));
  t.parts.ptr[0]->bdev_ro = true;
  ck_assert (partition_read_only (t.parts.ptr[0], &lo));
  partition_table_free (&t);
}
END_TEST

START_TEST (test_alignment_offset)
{
  struct loopdev lo;
  struct partition p = { .number = 1, .start = 2048, .length = 8 };

  make_bound (&lo, 4 * MIB, 0);
  ck_assert_uint_eq (partition_alignment_offset (&p, &lo), 0);
  p.start = 2049;
  ck_assert_uint_eq (partition_alignment_offset (&p, &lo), 0);
  lo.b.block_size = 4096;
  p.start = 2048;
  ck_assert_uint_eq (partition_alignment_offset (&p, &lo), 0);
  p.start = 2049;
  ck_assert_uint_eq (partition_alignment_offset (&p, &lo), 3584);
}
END_TEST

static Suite *
partitions_suite (void)
{
  Suite *s = suite_create ("partitions");
  TCase *tc = tcase_create ("core");

  tcase_add_test (tc, test_scan_numbering);
  tcase_add_test (tc, test_scan_bounds);
  tcase_add_test (tc, test_rescan_rules);
  tcase_add_test (tc, test_blkpg_add);
  tcase_add_test (tc, test_blkpg_block_size);
  tcase_add_test (tc, test_blkpg_unbound);
  tcase_add_test (tc, test_blkpg_del_resize);
  tcase_add_test (tc, test_read_only);
  tcase_add_test (tc, test_alignment_offset);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  return test_main (partitions_suite (), NULL);
}
