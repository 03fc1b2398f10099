/* Unit tests for control/instance.c: LOOP_CTL_GET_FREE, LOOP_CTL_ADD,
 * LOOP_CTL_REMOVE and unlink of loopN inside one instance, with the
 * numbering of the kernel's loop_index_idr and the per-instance limit.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>

#include "instance.h"
#include "test-main.h"

/* Put device NUMBER of INST into STATE, as the daemon would have. */
static void
set_state (struct instance *inst, int number, enum loopdev_state state)
{
  struct loopdev *lo = instance_lookup (inst, number);

  ck_assert_ptr_nonnull (lo);
  lo->state = state;
}

/* True when the devices of INST are in strictly increasing order. */
static bool
sorted (const struct instance *inst)
{
  size_t i;

  for (i = 1; i < inst->devs.len; i++) {
    if (inst->devs.ptr[i - 1]->number >= inst->devs.ptr[i]->number)
      return false;
  }
  return true;
}

/* An empty instance holds nothing and finds nothing. */
START_TEST (test_empty)
{
  struct instance inst;

  instance_init (&inst, 8);
  ck_assert_uint_eq (instance_count (&inst), 0);
  ck_assert_uint_eq (inst.max_devices, 8);
  ck_assert_ptr_null (instance_lookup (&inst, 0));
  ck_assert_ptr_null (instance_lookup (&inst, -1));
  instance_free (&inst);
  ck_assert_uint_eq (instance_count (&inst), 0);
}
END_TEST

/* GET_FREE creates loop0, then keeps returning it while it is unbound. */
START_TEST (test_get_free_reuses_unbound)
{
  struct instance inst;
  struct loopdev *lo;

  instance_init (&inst, 8);
  ck_assert_int_eq (instance_get_free (&inst), 0);
  ck_assert_uint_eq (instance_count (&inst), 1);
  lo = instance_lookup (&inst, 0);
  ck_assert_ptr_nonnull (lo);
  ck_assert_int_eq (lo->number, 0);
  ck_assert_int_eq (lo->state, LOOPDEV_UNBOUND);
  ck_assert_int_eq (instance_get_free (&inst), 0);
  ck_assert_uint_eq (instance_count (&inst), 1);

  /* An opened but unbound device is still free. */
  ck_assert_int_eq (loopdev_open (lo), 0);
  ck_assert_int_eq (instance_get_free (&inst), 0);
  instance_free (&inst);
}
END_TEST

/* GET_FREE skips devices that are bound, binding, running down or
 * being deleted, and picks the lowest unbound one. */
START_TEST (test_get_free_skips_busy)
{
  static const enum loopdev_state busy[] = {
    LOOPDEV_BINDING, LOOPDEV_BOUND, LOOPDEV_RUNDOWN, LOOPDEV_DELETING,
  };
  struct instance inst;
  size_t i;

  instance_init (&inst, 8);
  for (i = 0; i < sizeof busy / sizeof busy[0]; i++) {
    ck_assert_int_eq (instance_get_free (&inst), (int) i);
    set_state (&inst, i, busy[i]);
  }
  ck_assert_int_eq (instance_get_free (&inst), 4);
  ck_assert_int_eq (instance_add (&inst, 6), 6);
  /* 4 and 6 unbound: the lowest wins. */
  ck_assert_int_eq (instance_get_free (&inst), 4);
  set_state (&inst, 4, LOOPDEV_BOUND);
  ck_assert_int_eq (instance_get_free (&inst), 6);
  set_state (&inst, 6, LOOPDEV_BOUND);
  /* Nothing free: a new device fills the gap at 5. */
  ck_assert_int_eq (instance_get_free (&inst), 5);
  ck_assert_uint_eq (instance_count (&inst), 7);
  ck_assert (sorted (&inst));
  instance_free (&inst);
}
END_TEST

/* ADD of a given number, EEXIST for an existing one, any number for a
 * negative argument. */
START_TEST (test_add)
{
  struct instance inst;

  instance_init (&inst, 16);
  ck_assert_int_eq (instance_add (&inst, 5), 5);
  ck_assert_ptr_nonnull (instance_lookup (&inst, 5));
  ck_assert_ptr_null (instance_lookup (&inst, 4));
  ck_assert_int_eq (instance_add (&inst, 5), -EEXIST);
  ck_assert_uint_eq (instance_count (&inst), 1);
  ck_assert_int_eq (instance_add (&inst, (unsigned long) -1), 0);
  ck_assert_int_eq (instance_add (&inst, (unsigned long) -1), 1);
  ck_assert_int_eq (instance_add (&inst, (unsigned long) -42), 2);
  /* Bound or unbound makes no difference to EEXIST. */
  set_state (&inst, 0, LOOPDEV_BOUND);
  ck_assert_int_eq (instance_add (&inst, 0), -EEXIST);
  ck_assert_int_eq (instance_add (&inst, 1), -EEXIST);
  ck_assert_uint_eq (instance_count (&inst), 4);
  ck_assert (sorted (&inst));
  instance_free (&inst);
}
END_TEST

/* The argument is taken as an int, as loop_add (int) receives it. */
START_TEST (test_add_int_argument)
{
  struct instance inst;

  instance_init (&inst, 16);
  if (sizeof (unsigned long) >= 8) {
    ck_assert_int_eq (instance_add (&inst, (1ul << 32) | 3), 3);
    ck_assert_int_eq (instance_add (&inst, 3), -EEXIST);
  }
  /* 0x80000000 is a negative int: any number. */
  ck_assert_int_eq (instance_add (&inst, 0x80000000ul), 0);
  ck_assert_int_eq (instance_add (&inst, 0xffffffffUL), 1);
  instance_free (&inst);
}
END_TEST

/* Numbers without a minor are refused with EINVAL. */
START_TEST (test_add_max_index)
{
  struct instance inst;

  instance_init (&inst, 16);
  ck_assert_int_eq (instance_add (&inst, INSTANCE_MAX_INDEX), -EINVAL);
  ck_assert_int_eq (instance_add (&inst, INSTANCE_MAX_INDEX + 5), -EINVAL);
  ck_assert_int_eq (instance_add (&inst, 0x7fffffff), -EINVAL);
  ck_assert_uint_eq (instance_count (&inst), 0);
  ck_assert_int_eq (instance_add (&inst, INSTANCE_MAX_INDEX - 1),
                    INSTANCE_MAX_INDEX - 1);
  ck_assert_ptr_nonnull (instance_lookup (&inst, INSTANCE_MAX_INDEX - 1));
  instance_free (&inst);
}
END_TEST

/* Devices kept in number order whatever order they were added in. */
START_TEST (test_order)
{
  static const int numbers[] = { 7, 3, 5, 0, 12, 1 };
  struct instance inst;
  size_t i;

  instance_init (&inst, 16);
  for (i = 0; i < sizeof numbers / sizeof numbers[0]; i++)
    ck_assert_int_eq (instance_add (&inst, numbers[i]), numbers[i]);
  ck_assert (sorted (&inst));
  for (i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
    struct loopdev *lo = instance_lookup (&inst, numbers[i]);

    ck_assert_ptr_nonnull (lo);
    ck_assert_int_eq (lo->number, numbers[i]);
  }
  ck_assert_ptr_null (instance_lookup (&inst, 2));
  ck_assert_ptr_null (instance_lookup (&inst, 13));
  ck_assert_int_eq (instance_add (&inst, (unsigned long) -1), 2);
  ck_assert_int_eq (instance_add (&inst, (unsigned long) -1), 4);
  ck_assert (sorted (&inst));
  instance_free (&inst);
}
END_TEST

/* Many devices: the vector grows and stays sorted. */
START_TEST (test_many)
{
  struct instance inst;
  int i;

  instance_init (&inst, 100);
  for (i = 99; i >= 50; i--) {
    ck_assert_int_eq (instance_add (&inst, i), i);
    set_state (&inst, i, LOOPDEV_BOUND);
  }
  for (i = 0; i < 50; i++) {
    ck_assert_int_eq (instance_get_free (&inst), i);
    set_state (&inst, i, LOOPDEV_BOUND);
  }
  ck_assert_uint_eq (instance_count (&inst), 100);
  ck_assert (sorted (&inst));
  ck_assert_int_eq (instance_get_free (&inst), -ENOSPC);
  set_state (&inst, 73, LOOPDEV_UNBOUND);
  ck_assert_int_eq (instance_get_free (&inst), 73);
  instance_free (&inst);
}
END_TEST

/* At the limit every creation is ENOSPC, but a free device is still
 * handed out and the argument errors still come first. */
START_TEST (test_limit)
{
  struct instance inst;

  instance_init (&inst, 2);
  ck_assert_int_eq (instance_add (&inst, 0), 0);
  ck_assert_int_eq (instance_get_free (&inst), 0);
  set_state (&inst, 0, LOOPDEV_BOUND);
  ck_assert_int_eq (instance_get_free (&inst), 1);
  ck_assert_uint_eq (instance_count (&inst), 2);

  ck_assert_int_eq (instance_add (&inst, 5), -ENOSPC);
  ck_assert_int_eq (instance_add (&inst, (unsigned long) -1), -ENOSPC);
  ck_assert_int_eq (instance_add (&inst, 1), -EEXIST);
  ck_assert_int_eq (instance_add (&inst, INSTANCE_MAX_INDEX), -EINVAL);
  ck_assert_int_eq (instance_get_free (&inst), 1);
  set_state (&inst, 1, LOOPDEV_BOUND);
  ck_assert_int_eq (instance_get_free (&inst), -ENOSPC);
  ck_assert_uint_eq (instance_count (&inst), 2);

  /* Room again after a removal. */
  set_state (&inst, 1, LOOPDEV_UNBOUND);
  ck_assert_int_eq (instance_remove (&inst, 1), 0);
  ck_assert_int_eq (instance_add (&inst, 9), 9);
  ck_assert_int_eq (instance_add (&inst, 10), -ENOSPC);
  instance_free (&inst);
}
END_TEST

/* An instance allowed no devices creates none. */
START_TEST (test_limit_zero)
{
  struct instance inst;

  instance_init (&inst, 0);
  ck_assert_int_eq (instance_get_free (&inst), -ENOSPC);
  ck_assert_int_eq (instance_add (&inst, 0), -ENOSPC);
  ck_assert_int_eq (instance_add (&inst, (unsigned long) -1), -ENOSPC);
  ck_assert_uint_eq (instance_count (&inst), 0);
  instance_free (&inst);
}
END_TEST

/* REMOVE: EINVAL, ENODEV, EBUSY in each busy state and when open. */
START_TEST (test_remove_errors)
{
  static const enum loopdev_state busy[] = {
    LOOPDEV_BINDING, LOOPDEV_BOUND, LOOPDEV_RUNDOWN,
  };
  struct instance inst;
  struct loopdev *lo;
  size_t i;

  instance_init (&inst, 8);
  ck_assert_int_eq (instance_remove (&inst, (unsigned long) -1), -EINVAL);
  ck_assert_int_eq (instance_remove (&inst, 0x80000000ul), -EINVAL);
  ck_assert_int_eq (instance_remove (&inst, 0), -ENODEV);
  ck_assert_int_eq (instance_add (&inst, 0), 0);
  ck_assert_int_eq (instance_remove (&inst, 1), -ENODEV);

  for (i = 0; i < sizeof busy / sizeof busy[0]; i++) {
    set_state (&inst, 0, busy[i]);
    ck_assert_int_eq (instance_remove (&inst, 0), -EBUSY);
  }
  set_state (&inst, 0, LOOPDEV_UNBOUND);
  lo = instance_lookup (&inst, 0);
  ck_assert_int_eq (loopdev_open (lo), 0);
  ck_assert_int_eq (instance_remove (&inst, 0), -EBUSY);
  ck_assert (!loopdev_release (lo));

  set_state (&inst, 0, LOOPDEV_DELETING);
  ck_assert_int_eq (instance_remove (&inst, 0), -ENODEV);
  ck_assert_uint_eq (instance_count (&inst), 1);
  instance_free (&inst);
}
END_TEST

/* REMOVE of an unbound, closed device frees its number for reuse. */
START_TEST (test_remove_and_reuse)
{
  struct instance inst;

  instance_init (&inst, 8);
  ck_assert_int_eq (instance_add (&inst, 0), 0);
  ck_assert_int_eq (instance_add (&inst, 1), 1);
  ck_assert_int_eq (instance_add (&inst, 2), 2);
  set_state (&inst, 0, LOOPDEV_BOUND);
  set_state (&inst, 2, LOOPDEV_BOUND);
  ck_assert_int_eq (instance_remove (&inst, 1), 0);
  ck_assert_uint_eq (instance_count (&inst), 2);
  ck_assert_ptr_null (instance_lookup (&inst, 1));
  ck_assert_int_eq (instance_remove (&inst, 1), -ENODEV);
  ck_assert_int_eq (instance_get_free (&inst), 1);
  ck_assert_uint_eq (instance_count (&inst), 3);
  ck_assert (sorted (&inst));

  if (sizeof (unsigned long) >= 8) {
    ck_assert_int_eq (instance_remove (&inst, (1ul << 32) | 1), 0);
    ck_assert_ptr_null (instance_lookup (&inst, 1));
  }
  instance_free (&inst);
}
END_TEST

/* A device being deleted is invisible but still holds its number. */
START_TEST (test_deleting_holds_number)
{
  struct instance inst;

  instance_init (&inst, 8);
  ck_assert_int_eq (instance_add (&inst, 0), 0);
  set_state (&inst, 0, LOOPDEV_DELETING);
  ck_assert_ptr_null (instance_lookup (&inst, 0));
  ck_assert_int_eq (instance_add (&inst, 0), -EEXIST);
  ck_assert_int_eq (instance_get_free (&inst), 1);
  ck_assert_int_eq (instance_add (&inst, (unsigned long) -1), 2);
  ck_assert_uint_eq (instance_count (&inst), 3);
  instance_free (&inst);
}
END_TEST

/* unlink: ENOENT when absent or being deleted, EBUSY when bound, busy
 * or open, else the device goes away. */
START_TEST (test_unlink)
{
  static const enum loopdev_state busy[] = {
    LOOPDEV_BINDING, LOOPDEV_BOUND, LOOPDEV_RUNDOWN,
  };
  struct instance inst;
  struct loopdev *lo;
  size_t i;

  instance_init (&inst, 8);
  ck_assert_int_eq (instance_unlink (&inst, 0), -ENOENT);
  ck_assert_int_eq (instance_add (&inst, 3), 3);
  ck_assert_int_eq (instance_unlink (&inst, 2), -ENOENT);
  ck_assert_int_eq (instance_unlink (&inst, -1), -ENOENT);

  for (i = 0; i < sizeof busy / sizeof busy[0]; i++) {
    set_state (&inst, 3, busy[i]);
    ck_assert_int_eq (instance_unlink (&inst, 3), -EBUSY);
  }
  set_state (&inst, 3, LOOPDEV_UNBOUND);
  lo = instance_lookup (&inst, 3);
  ck_assert_int_eq (loopdev_open (lo), 0);
  ck_assert_int_eq (instance_unlink (&inst, 3), -EBUSY);
  ck_assert (!loopdev_release (lo));

  lo->state = LOOPDEV_DELETING;
  ck_assert_int_eq (instance_unlink (&inst, 3), -ENOENT);
  lo->state = LOOPDEV_UNBOUND;

  ck_assert_int_eq (instance_unlink (&inst, 3), 0);
  ck_assert_uint_eq (instance_count (&inst), 0);
  ck_assert_ptr_null (instance_lookup (&inst, 3));
  ck_assert_int_eq (instance_unlink (&inst, 3), -ENOENT);
  instance_free (&inst);
}
END_TEST

/* Two instances number their devices independently. */
START_TEST (test_instances_independent)
{
  struct instance a, b;

  instance_init (&a, 4);
  instance_init (&b, 4);
  ck_assert_int_eq (instance_get_free (&a), 0);
  set_state (&a, 0, LOOPDEV_BOUND);
  ck_assert_int_eq (instance_get_free (&a), 1);
  ck_assert_int_eq (instance_get_free (&b), 0);
  ck_assert_ptr_null (instance_lookup (&b, 1));
  ck_assert_ptr_ne (instance_lookup (&a, 0), instance_lookup (&b, 0));
  instance_free (&a);
  instance_free (&b);
}
END_TEST

/* Collect every test case of this file. */
static Suite *
instance_suite (void)
{
  Suite *s = suite_create ("instance");
  TCase *tc;

  tc = tcase_create ("numbering");
  tcase_add_test (tc, test_empty);
  tcase_add_test (tc, test_get_free_reuses_unbound);
  tcase_add_test (tc, test_get_free_skips_busy);
  tcase_add_test (tc, test_add);
  tcase_add_test (tc, test_add_int_argument);
  tcase_add_test (tc, test_add_max_index);
  tcase_add_test (tc, test_order);
  tcase_add_test (tc, test_many);
  tcase_add_test (tc, test_instances_independent);
  suite_add_tcase (s, tc);

  tc = tcase_create ("limits");
  tcase_add_test (tc, test_limit);
  tcase_add_test (tc, test_limit_zero);
  suite_add_tcase (s, tc);

  tc = tcase_create ("removal");
  tcase_add_test (tc, test_remove_errors);
  tcase_add_test (tc, test_remove_and_reuse);
  tcase_add_test (tc, test_deleting_holds_number);
  tcase_add_test (tc, test_unlink);
  suite_add_tcase (s, tc);

  return s;
}

int
main (void)
{
  return test_main (instance_suite (), NULL);
}
