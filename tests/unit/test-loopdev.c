/* Unit tests for control/loopdev.c: the loop device state machine and
 * the errno of every loop ioctl in every state, against the behaviour
 * of drivers/block/loop.c in Linux 6.18.
 */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <linux/falloc.h>
#include <linux/fs.h>

#include "block-range.h"
#include "loopdev.h"
#include "loopdev-bind.h"
#include "test-main.h"

#define MiB (1024u * 1024u)

/* Every state a device can be in, for the state x operation tests. */
static const enum loopdev_state all_states[] = {
  LOOPDEV_UNBOUND, LOOPDEV_BINDING, LOOPDEV_BOUND, LOOPDEV_RUNDOWN,
  LOOPDEV_DELETING,
};
#define N_STATES (sizeof all_states / sizeof all_states[0])

/* A writable regular file of SIZE bytes that can do 512-byte direct I/O. */
static struct loop_backing
file_backing (uint64_t size)
{
  struct loop_backing b = {
    .kind = LOOP_BACKING_FILE,
    .dev = makedev (8, 1),
    .ino = 1234,
    .rdev = 0,
    .size = size,
    .writable = true,
    .o_direct = false,
    .dio_align = 512,
    .can_discard = true,
  };
  return b;
}

/* Bind LO to BACKING with an all-zero config, as LOOP_SET_FD does. */
static int
bind_plain (struct loopdev *lo, const struct loop_backing *backing,
            bool dev_writable)
{
  struct loop_config config;

  memset (&config, 0, sizeof config);
  return bind_config (lo, &config, backing, dev_writable);
}

/* An opened device bound read-only to a 1 MiB file, one opener. */
static void
make_bound (struct loopdev *lo)
{
  struct loop_backing backing = file_backing (MiB);

  loopdev_init (lo, 3);
  ck_assert_int_eq (loopdev_open (lo), 0);
  ck_assert_int_eq (bind_plain (lo, &backing, false), 0);
  ck_assert_int_eq (lo->state, LOOPDEV_BOUND);
}

/* Bring a device numbered 3 into STATE by the operations that lead
 * there (DELETING is set by the daemon, so it is set directly). */
static void
make_state (struct loopdev *lo, enum loopdev_state state)
{
  switch (state) {
  case LOOPDEV_UNBOUND:
    loopdev_init (lo, 3);
    break;
  case LOOPDEV_BINDING:
    loopdev_init (lo, 3);
    loopdev_configure_begin (lo);
    break;
  case LOOPDEV_BOUND:
    make_bound (lo);
    break;
  case LOOPDEV_RUNDOWN:
    make_bound (lo);
    ck_assert_int_eq (loopdev_clr_fd (lo), 0);
    break;
  case LOOPDEV_DELETING:
    loopdev_init (lo, 3);
    lo->state = LOOPDEV_DELETING;
    break;
  }
  ck_assert_int_eq (lo->state, state);
}

/* A binding filled with a pattern, to see that failures leave *out alone. */
static void
poison (struct loopdev_binding *b)
{
  memset (b, 0xa5, sizeof *b);
}

/* True when B still holds the pattern of poison(). */
static bool
is_poisoned (const struct loopdev_binding *b)
{
  struct loopdev_binding p;

  poison (&p);
  return memcmp (&p, b, sizeof p) == 0;
}

/* ---- state x operation ---- */

/* open(2): allowed unless the device is running down or deleted. */
START_TEST (test_state_open)
{
  static const int expect[] = { 0, 0, 0, -ENXIO, -ENXIO };
  struct loopdev lo;
  unsigned before;

  make_state (&lo, all_states[_i]);
  before = lo.openers;
  ck_assert_int_eq (loopdev_open (&lo), expect[_i]);
  ck_assert_uint_eq (lo.openers, before + (expect[_i] == 0));
}
END_TEST

/* LOOP_CLR_FD: only a bound device can be cleared. */
START_TEST (test_state_clr_fd)
{
  struct loopdev lo, before;

  make_state (&lo, all_states[_i]);
  before = lo;
  if (all_states[_i] == LOOPDEV_BOUND)
    ck_assert_int_eq (loopdev_clr_fd (&lo), 0);
  else {
    ck_assert_int_eq (loopdev_clr_fd (&lo), -ENXIO);
    ck_assert_mem_eq (&lo, &before, sizeof lo);
  }
}
END_TEST

/* LOOP_SET_FD / LOOP_CONFIGURE: only an unbound device can be bound. */
START_TEST (test_state_configure)
{
  struct loopdev lo;
  struct loop_backing backing = file_backing (MiB);
  struct loop_config config;
  struct loopdev_binding out;

  memset (&config, 0, sizeof config);
  make_state (&lo, all_states[_i]);
  poison (&out);
  if (all_states[_i] == LOOPDEV_UNBOUND)
    ck_assert_int_eq (loopdev_configure_check (&lo, &config, &backing, true,
                                               &out), 0);
  else {
    ck_assert_int_eq (loopdev_configure_check (&lo, &config, &backing, true,
                                               &out), -EBUSY);
    ck_assert (is_poisoned (&out));
  }
}
END_TEST

/* Every ioctl that needs a bound device fails with ENXIO otherwise, and
 * leaves *out untouched. */
START_TEST (test_state_bound_only)
{
  struct loopdev lo;
  struct loop_info64 info64;
  struct loop_info info;
  struct loop_backing backing = file_backing (MiB);
  struct loopdev_binding out;
  bool resized = false;
  int expect;

  make_state (&lo, all_states[_i]);
  expect = all_states[_i] == LOOPDEV_BOUND ? 0 : -ENXIO;

  memset (&info64, 0, sizeof info64);
  poison (&out);
  ck_assert_int_eq (loopdev_set_status_check (&lo, &info64, &out, &resized),
                    expect);
  ck_assert (expect == 0 || is_poisoned (&out));

  ck_assert_int_eq (loopdev_get_status64 (&lo, &info64), expect);
  ck_assert_int_eq (loopdev_get_status (&lo, &info), expect);

  poison (&out);
  ck_assert_int_eq (loopdev_change_fd_check (&lo, &backing, &out), expect);
  ck_assert (expect == 0 || is_poisoned (&out));

  poison (&out);
  ck_assert_int_eq (loopdev_set_capacity_check (&lo, 2 * MiB, &out), expect);
  ck_assert (expect == 0 || is_poisoned (&out));

  poison (&out);
  ck_assert_int_eq (loopdev_set_direct_io_check (&lo, 0, &out), expect);
  ck_assert (expect == 0 || is_poisoned (&out));

  poison (&out);
  ck_assert_int_eq (loopdev_set_block_size_check (&lo, 4096, &out), expect);
  ck_assert (expect == 0 || is_poisoned (&out));
}
END_TEST

/* Size and block sizes exist only while a backing file does. */
START_TEST (test_state_geometry)
{
  struct loopdev lo;
  bool has_file;

  make_state (&lo, all_states[_i]);
  has_file = all_states[_i] == LOOPDEV_BOUND ||
    all_states[_i] == LOOPDEV_RUNDOWN;
  if (has_file) {
    lo.b.block_size = 4096;
    ck_assert_uint_eq (loopdev_size (&lo), MiB);
    ck_assert_uint_eq (loopdev_logical_block_size (&lo), 4096);
    ck_assert_uint_eq (loopdev_physical_block_size (&lo), 4096);
  }
  else {
    lo.b.size = MiB;
    lo.b.block_size = 4096;
    ck_assert_uint_eq (loopdev_size (&lo), 0);
    ck_assert_uint_eq (loopdev_logical_block_size (&lo), 512);
    ck_assert_uint_eq (loopdev_physical_block_size (&lo), 512);
  }
}
END_TEST

/* ---- open, release, clear ---- */

/* A fresh device is unbound, unopened, with the default block size. */
START_TEST (test_init)
{
  struct loopdev lo;

  memset (&lo, 0xff, sizeof lo);
  loopdev_init (&lo, 7);
  ck_assert_int_eq (lo.number, 7);
  ck_assert_int_eq (lo.state, LOOPDEV_UNBOUND);
  ck_assert_uint_eq (lo.openers, 0);
  ck_assert (!lo.disk_ro);
  ck_assert_ptr_null (lo.priv);
  ck_assert_uint_eq (lo.b.block_size, 512);
  ck_assert_uint_eq (lo.b.flags, 0);
  ck_assert_uint_eq (lo.soft_block_size, 4096);
  ck_assert_uint_eq (loopdev_size (&lo), 0);
}
END_TEST

/* Openers are counted and only the last release may clear. */
START_TEST (test_open_release_count)
{
  struct loopdev lo;

  loopdev_init (&lo, 0);
  ck_assert_int_eq (loopdev_open (&lo), 0);
  ck_assert_int_eq (loopdev_open (&lo), 0);
  ck_assert_uint_eq (lo.openers, 2);
  ck_assert (!loopdev_release (&lo));
  ck_assert_uint_eq (lo.openers, 1);
  ck_assert (!loopdev_release (&lo));
  ck_assert_uint_eq (lo.openers, 0);
  ck_assert_int_eq (lo.state, LOOPDEV_UNBOUND);
}
END_TEST

/* A release without an opener is ignored instead of wrapping around. */
START_TEST (test_release_without_open)
{
  struct loopdev lo;

  loopdev_init (&lo, 0);
  ck_assert (!loopdev_release (&lo));
  ck_assert_uint_eq (lo.openers, 0);
}
END_TEST

/* A bound device without AUTOCLEAR survives its last close. */
START_TEST (test_last_close_keeps_binding)
{
  struct loopdev lo;

  make_bound (&lo);
  ck_assert (!loopdev_release (&lo));
  ck_assert_int_eq (lo.state, LOOPDEV_BOUND);
  ck_assert_uint_eq (loopdev_size (&lo), MiB);
}
END_TEST

/* LO_FLAGS_AUTOCLEAR clears the device at its last close. */
START_TEST (test_autoclear_on_last_close)
{
  struct loopdev lo;
  struct loop_backing backing = file_backing (MiB);
  struct loop_config config;

  memset (&config, 0, sizeof config);
  config.info.lo_flags = LO_FLAGS_AUTOCLEAR;
  loopdev_init (&lo, 0);
  ck_assert_int_eq (loopdev_open (&lo), 0);
  ck_assert_int_eq (loopdev_open (&lo), 0);
  ck_assert_int_eq (bind_config (&lo, &config, &backing, true), 0);
  ck_assert (!loopdev_release (&lo));
  ck_assert_int_eq (lo.state, LOOPDEV_BOUND);
  ck_assert (loopdev_release (&lo));
  ck_assert_int_eq (lo.state, LOOPDEV_RUNDOWN);
  ck_assert_int_eq (loopdev_open (&lo), -ENXIO);
  loopdev_cleared (&lo);
  ck_assert_int_eq (lo.state, LOOPDEV_UNBOUND);
  ck_assert_int_eq (loopdev_open (&lo), 0);
}
END_TEST

/* AUTOCLEAR set by LOOP_SET_STATUS64 also clears at the last close. */
START_TEST (test_autoclear_from_set_status)
{
  struct loopdev lo;
  struct loop_info64 info;
  struct loopdev_binding out;
  bool resized;

  make_bound (&lo);
  ck_assert_int_eq (loopdev_get_status64 (&lo, &info), 0);
  info.lo_flags = LO_FLAGS_AUTOCLEAR;
  ck_assert_int_eq (loopdev_set_status_check (&lo, &info, &out, &resized), 0);
  loopdev_set_binding (&lo, &out);
  ck_assert (loopdev_release (&lo));
  ck_assert_int_eq (lo.state, LOOPDEV_RUNDOWN);
}
END_TEST

/* LOOP_CLR_FD by the only opener starts the rundown at once. */
START_TEST (test_clr_fd_single_opener)
{
  struct loopdev lo;

  make_bound (&lo);
  ck_assert_int_eq (loopdev_clr_fd (&lo), 0);
  ck_assert_int_eq (lo.state, LOOPDEV_RUNDOWN);
  ck_assert (lo.b.flags & LO_FLAGS_AUTOCLEAR);
  ck_assert_int_eq (loopdev_open (&lo), -ENXIO);
  ck_assert_int_eq (loopdev_clr_fd (&lo), -ENXIO);
  ck_assert_uint_eq (loopdev_size (&lo), MiB);
  ck_assert (loopdev_release (&lo));
  ck_assert_int_eq (lo.state, LOOPDEV_RUNDOWN);
  loopdev_cleared (&lo);
  ck_assert_int_eq (lo.state, LOOPDEV_UNBOUND);
  ck_assert_uint_eq (loopdev_size (&lo), 0);
}
END_TEST

/* LOOP_CLR_FD with other openers only arms AUTOCLEAR; new opens still
 * work and the last close does the clearing. */
START_TEST (test_clr_fd_other_openers)
{
  struct loopdev lo;

  make_bound (&lo);
  ck_assert_int_eq (loopdev_open (&lo), 0);
  ck_assert_int_eq (loopdev_clr_fd (&lo), 0);
  ck_assert_int_eq (lo.state, LOOPDEV_BOUND);
  ck_assert (lo.b.flags & LO_FLAGS_AUTOCLEAR);
  ck_assert_int_eq (loopdev_clr_fd (&lo), 0);
  ck_assert_int_eq (loopdev_open (&lo), 0);
  ck_assert (!loopdev_release (&lo));
  ck_assert (!loopdev_release (&lo));
  ck_assert_int_eq (lo.state, LOOPDEV_BOUND);
  ck_assert (loopdev_release (&lo));
  ck_assert_int_eq (lo.state, LOOPDEV_RUNDOWN);
}
END_TEST

/* Clearing resets what __loop_clr_fd() resets, but not disk_ro. */
START_TEST (test_cleared_resets)
{
  struct loopdev lo;
  struct loop_backing backing = file_backing (MiB);
  struct loop_config config;

  memset (&config, 0, sizeof config);
  config.info.lo_offset = 4096;
  config.info.lo_sizelimit = 8192;
  config.info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_PARTSCAN;
  strcpy ((char *) config.info.lo_file_name, "/tmp/img");
  config.block_size = 4096;
  loopdev_init (&lo, 0);
  ck_assert_int_eq (loopdev_open (&lo), 0);
  ck_assert_int_eq (bind_config (&lo, &config, &backing, true), 0);
  ck_assert (lo.disk_ro);
  ck_assert_int_eq (loopdev_clr_fd (&lo), 0);
  ck_assert (loopdev_release (&lo));
  loopdev_cleared (&lo);
  ck_assert_int_eq (lo.state, LOOPDEV_UNBOUND);
  ck_assert_uint_eq (lo.b.offset, 0);
  ck_assert_uint_eq (lo.b.sizelimit, 0);
  ck_assert_uint_eq (lo.b.flags, 0);
  ck_assert_uint_eq (lo.b.block_size, 512);
  ck_assert_uint_eq (lo.b.size, 0);
  ck_assert_str_eq (lo.b.file_name, "");
  ck_assert_uint_eq (loopdev_logical_block_size (&lo), 512);
  ck_assert (lo.disk_ro);
  ck_assert (loopdev_read_only (&lo));
}
END_TEST

/* A device waiting for its backend can be opened; its last close does
 * not clear anything; an aborted bind returns it to unbound. */
START_TEST (test_binding_state)
{
  struct loopdev lo;

  loopdev_init (&lo, 0);
  loopdev_configure_begin (&lo);
  ck_assert_int_eq (lo.state, LOOPDEV_BINDING);
  ck_assert_int_eq (loopdev_open (&lo), 0);
  ck_assert (!loopdev_release (&lo));
  ck_assert_int_eq (lo.state, LOOPDEV_BINDING);
  loopdev_configure_abort (&lo);
  ck_assert_int_eq (lo.state, LOOPDEV_UNBOUND);
  ck_assert_uint_eq (loopdev_size (&lo), 0);
}
END_TEST

/* ---- soft block size (BLKBSZGET) ---- */

/* Soft block size of a device of SIZE bytes and block size BSIZE at its
 * first open. */
static uint32_t
soft_size_at_open (uint64_t size, uint32_t bsize)
{
  struct loopdev lo;
  struct loop_backing backing = file_backing (size);
  struct loop_config config;

  memset (&config, 0, sizeof config);
  config.block_size = bsize;
  loopdev_init (&lo, 0);
  ck_assert_int_eq (bind_config (&lo, &config, &backing, true), 0);
  ck_assert_uint_eq (lo.b.block_size, bsize);
  ck_assert_int_eq (loopdev_open (&lo), 0);
  return lo.soft_block_size;
}

/* set_init_blocksize(): the largest power of two up to 4096 dividing
 * the size, starting from the logical block size. */
START_TEST (test_soft_block_size_values)
{
  struct loopdev lo;

  loopdev_init (&lo, 0);
  lo.soft_block_size = 0;
  ck_assert_int_eq (loopdev_open (&lo), 0);
  ck_assert_uint_eq (lo.soft_block_size, 4096);

  ck_assert_uint_eq (soft_size_at_open (MiB, 512), 4096);
  ck_assert_uint_eq (soft_size_at_open (1536, 512), 512);
  ck_assert_uint_eq (soft_size_at_open (1024, 512), 1024);
  ck_assert_uint_eq (soft_size_at_open (2048, 512), 2048);
  ck_assert_uint_eq (soft_size_at_open (6144, 512), 2048);
  ck_assert_uint_eq (soft_size_at_open (3072, 1024), 1024);
  ck_assert_uint_eq (soft_size_at_open (MiB, 8192), 8192);
  ck_assert_uint_eq (soft_size_at_open (MiB, 65536), 65536);
  ck_assert_uint_eq (soft_size_at_open (0, 512), 4096);
}
END_TEST

/* The soft block size is fixed by the first opener only, and set
 * again when the device is opened after everyone closed it. */
START_TEST (test_soft_block_size_first_open_only)
{
  struct loopdev lo;
  struct loopdev_binding out;

  make_bound (&lo);
  ck_assert_uint_eq (lo.soft_block_size, 4096);
  ck_assert_int_eq (loopdev_set_capacity_check (&lo, 1536, &out), 0);
  loopdev_set_binding (&lo, &out);
  ck_assert_int_eq (loopdev_open (&lo), 0);
  ck_assert_uint_eq (lo.soft_block_size, 4096);
  ck_assert (!loopdev_release (&lo));
  ck_assert (!loopdev_release (&lo));
  ck_assert_int_eq (loopdev_open (&lo), 0);
  ck_assert_uint_eq (lo.soft_block_size, 512);
}
END_TEST

/* Like the kernel, a later block size change does not move the soft
 * block size of an open device, not even above the logical block size;
 * the next first open picks the new block size up. */
START_TEST (test_soft_block_size_kept_across_block_size)
{
  struct loopdev lo;
  struct loopdev_binding out;
  struct loop_backing backing = file_backing (1536);
  struct loop_config config;

  loopdev_init (&lo, 0);
  ck_assert_int_eq (bind_plain (&lo, &backing, true), 0);
  ck_assert_int_eq (loopdev_open (&lo), 0);
  ck_assert_uint_eq (lo.soft_block_size, 512);
  ck_assert_int_eq (loopdev_set_block_size_check (&lo, 8192, &out), 0);
  loopdev_set_binding (&lo, &out);
  ck_assert_uint_eq (lo.soft_block_size, 512);
  ck_assert (!loopdev_release (&lo));
  ck_assert_int_eq (loopdev_open (&lo), 0);
  ck_assert_uint_eq (lo.soft_block_size, 8192);

  /* Opened while unbound, then bound with 64 KiB blocks: still 4096. */
  memset (&config, 0, sizeof config);
  config.block_size = 65536;
  backing = file_backing (MiB);
  loopdev_init (&lo, 1);
  ck_assert_int_eq (loopdev_open (&lo), 0);
  ck_assert_uint_eq (lo.soft_block_size, 4096);
  ck_assert_int_eq (bind_config (&lo, &config, &backing, true), 0);
  ck_assert_uint_eq (lo.soft_block_size, 4096);
  ck_assert (!loopdev_release (&lo));
  ck_assert_int_eq (loopdev_open (&lo), 0);
  ck_assert_uint_eq (lo.soft_block_size, 65536);
  ck_assert_int_eq (loopdev_set_block_size_check (&lo, 512, &out), 0);
  loopdev_set_binding (&lo, &out);
  ck_assert_uint_eq (lo.soft_block_size, 65536);
}
END_TEST

/* ---- permissions ---- */

/* The five ioctls that change a device need a writable open or
 * CAP_SYS_ADMIN; everything else passes this check. */
START_TEST (test_permission)
{
  static const unsigned int guarded[] = {
    LOOP_SET_STATUS, LOOP_SET_STATUS64, LOOP_SET_CAPACITY,
    LOOP_SET_DIRECT_IO, LOOP_SET_BLOCK_SIZE,
  };
  static const unsigned int open_to_all[] = {
    LOOP_SET_FD, LOOP_CLR_FD, LOOP_GET_STATUS, LOOP_GET_STATUS64,
    LOOP_CHANGE_FD, LOOP_CONFIGURE, BLKGETSIZE64, 0,
  };
  const struct loop_caller nobody = { false, false };
  const struct loop_caller writer = { true, false };
  const struct loop_caller admin = { false, true };
  const struct loop_caller both = { true, true };
  size_t i;

  for (i = 0; i < sizeof guarded / sizeof guarded[0]; i++) {
    ck_assert_int_eq (loopdev_check_permission (guarded[i], &nobody), -EPERM);
    ck_assert_int_eq (loopdev_check_permission (guarded[i], &writer), 0);
    ck_assert_int_eq (loopdev_check_permission (guarded[i], &admin), 0);
    ck_assert_int_eq (loopdev_check_permission (guarded[i], &both), 0);
  }
  for (i = 0; i < sizeof open_to_all / sizeof open_to_all[0]; i++)
    ck_assert_int_eq (loopdev_check_permission (open_to_all[i], &nobody), 0);
}
END_TEST

/* ---- size arithmetic ---- */

/* get_size(): offset, size limit and the rounding down to sectors. */
START_TEST (test_compute_size)
{
  ck_assert_uint_eq (loopdev_compute_size (MiB, 0, 0), MiB);
  ck_assert_uint_eq (loopdev_compute_size (1000, 0, 0), 512);
  ck_assert_uint_eq (loopdev_compute_size (511, 0, 0), 0);
  ck_assert_uint_eq (loopdev_compute_size (0, 0, 0), 0);
  ck_assert_uint_eq (loopdev_compute_size (MiB, 512, 0), MiB - 512);
  ck_assert_uint_eq (loopdev_compute_size (MiB, 100, 0), MiB - 512);
  ck_assert_uint_eq (loopdev_compute_size (MiB, 600, 0), MiB - 1024);
  /* Offset at or past the end of the file. */
  ck_assert_uint_eq (loopdev_compute_size (4096, 4096, 0), 0);
  ck_assert_uint_eq (loopdev_compute_size (4096, 8192, 0), 0);
  ck_assert_uint_eq (loopdev_compute_size (4096, LLONG_MAX, 0), 0);
  /* Size limit larger and smaller than what the file gives. */
  ck_assert_uint_eq (loopdev_compute_size (MiB, 0, 2 * MiB), MiB);
  ck_assert_uint_eq (loopdev_compute_size (MiB, 0, MiB), MiB);
  ck_assert_uint_eq (loopdev_compute_size (MiB, 0, 4096), 4096);
  ck_assert_uint_eq (loopdev_compute_size (MiB, 0, 1000), 512);
  ck_assert_uint_eq (loopdev_compute_size (MiB, 0, 100), 0);
  ck_assert_uint_eq (loopdev_compute_size (MiB, 4096, 8192), 8192);
  ck_assert_uint_eq (loopdev_compute_size (10000, 9000, 4096), 512);
  ck_assert_uint_eq (loopdev_compute_size (MiB, MiB - 4096, MiB), 4096);
  /* Values no validated config can hold act as negative loff_t. */
  ck_assert_uint_eq (loopdev_compute_size (4096, 1ull << 63, 0), 4096);
  ck_assert_uint_eq (loopdev_compute_size (4096, 0, 1ull << 63), 4096);
}
END_TEST

/* ---- LOOP_SET_FD / LOOP_CONFIGURE ---- */

/* LOOP_SET_FD: a zero config gives the kernel defaults. */
START_TEST (test_configure_defaults)
{
  struct loopdev lo;
  struct loop_backing backing = file_backing (MiB + 1000);
  struct loop_config config;
  struct loopdev_binding out;

  memset (&config, 0, sizeof config);
  loopdev_init (&lo, 0);
  ck_assert_int_eq (loopdev_configure_check (&lo, &config, &backing, true,
                                             &out), 0);
  ck_assert_int_eq (lo.state, LOOPDEV_UNBOUND);
  ck_assert_uint_eq (out.flags, 0);
  ck_assert_uint_eq (out.offset, 0);
  ck_assert_uint_eq (out.sizelimit, 0);
  ck_assert_uint_eq (out.block_size, 512);
  ck_assert_uint_eq (out.size, MiB + 512);
  ck_assert_str_eq (out.file_name, "");
  ck_assert_uint_eq (out.backing.ino, 1234);

  loopdev_configure_begin (&lo);
  loopdev_configure_commit (&lo, &out);
  ck_assert_int_eq (lo.state, LOOPDEV_BOUND);
  ck_assert (!lo.disk_ro);
  ck_assert (!loopdev_read_only (&lo));
  ck_assert_uint_eq (loopdev_size (&lo), MiB + 512);
}
END_TEST

/* Offset, size limit and file name come from the config; the name's
 * last byte is always NUL. */
START_TEST (test_configure_fields)
{
  struct loopdev lo;
  struct loop_backing backing = file_backing (MiB);
  struct loop_config config;
  struct loopdev_binding out;
  char expect[LO_NAME_SIZE];

  memset (&config, 0, sizeof config);
  config.info.lo_offset = 4096;
  config.info.lo_sizelimit = 65536;
  memset (config.info.lo_file_name, 'a', LO_NAME_SIZE);
  memset (expect, 'a', LO_NAME_SIZE - 1);
  expect[LO_NAME_SIZE - 1] = '\0';
  loopdev_init (&lo, 0);
  ck_assert_int_eq (loopdev_configure_check (&lo, &config, &backing, true,
                                             &out), 0);
  ck_assert_uint_eq (out.offset, 4096);
  ck_assert_uint_eq (out.sizelimit, 65536);
  ck_assert_uint_eq (out.size, 65536);
  ck_assert_str_eq (out.file_name, expect);
}
END_TEST

/* Kinds of backing file: regular files and block devices only. */
START_TEST (test_configure_backing_kind)
{
  static const struct {
    enum loop_backing_kind kind;
    int expect;
  } cases[] = {
    { LOOP_BACKING_FILE, 0 },
    { LOOP_BACKING_BLOCK, 0 },
    { LOOP_BACKING_OTHER, -EINVAL },
    { LOOP_BACKING_SELF, -EBADF },
    { LOOP_BACKING_LOOPFS, -EINVAL },
  };
  struct loopdev lo;
  struct loop_backing backing = file_backing (MiB);
  struct loop_config config;
  struct loopdev_binding out;
  size_t i;

  memset (&config, 0, sizeof config);
  loopdev_init (&lo, 0);
  for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    backing.kind = cases[i].kind;
    poison (&out);
    ck_assert_int_eq (loopdev_configure_check (&lo, &config, &backing, true,
                                               &out), cases[i].expect);
    ck_assert (cases[i].expect == 0 || is_poisoned (&out));
  }
}
END_TEST

/* loopfs's own rule (DIFFERENCES D4): a descriptor not open for
 * reading is refused with EBADF, one with O_APPEND with EPERM, for a
 * bind and for LOOP_CHANGE_FD alike; an unsuitable kind is refused
 * first, as the kernel does. */
START_TEST (test_backing_write_only_append)
{
  struct loopdev lo, ro;
  struct loop_backing backing = file_backing (MiB);
  struct loop_config config;
  struct loopdev_binding out;

  memset (&config, 0, sizeof config);
  loopdev_init (&lo, 0);
  make_bound (&ro);
  backing.write_only = true;
  ck_assert_int_eq (loopdev_configure_check (&lo, &config, &backing, true,
                                             &out), -EBADF);
  ck_assert_int_eq (loopdev_change_fd_check (&ro, &backing, &out), -EBADF);
  backing.kind = LOOP_BACKING_OTHER;
  ck_assert_int_eq (loopdev_configure_check (&lo, &config, &backing, true,
                                             &out), -EINVAL);
  backing = file_backing (MiB);
  backing.append = true;
  ck_assert_int_eq (loopdev_configure_check (&lo, &config, &backing, true,
                                             &out), -EPERM);
  ck_assert_int_eq (loopdev_change_fd_check (&ro, &backing, &out), -EPERM);
  backing.append = false;
  ck_assert_int_eq (loopdev_configure_check (&lo, &config, &backing, true,
                                             &out), 0);
}
END_TEST

/* Only the four LOOP_CONFIGURE_SETTABLE_FLAGS may be passed. */
START_TEST (test_configure_flags)
{
  static const struct {
    uint32_t flags;
    int expect;
  } cases[] = {
    { LO_FLAGS_READ_ONLY, 0 },
    { LO_FLAGS_AUTOCLEAR, 0 },
    { LO_FLAGS_PARTSCAN, 0 },
    { LO_FLAGS_DIRECT_IO, 0 },
    { LOOP_CONFIGURE_SETTABLE_FLAGS, 0 },
    { 2, -EINVAL },
    { 32, -EINVAL },
    { LO_FLAGS_AUTOCLEAR | 64, -EINVAL },
    { 0x80000000u, -EINVAL },
  };
  struct loopdev lo;
  struct loop_backing backing = file_backing (MiB);
  struct loop_config config;
  struct loopdev_binding out;
  size_t i;

  loopdev_init (&lo, 0);
  for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    memset (&config, 0, sizeof config);
    config.info.lo_flags = cases[i].flags;
    ck_assert_int_eq (loopdev_configure_check (&lo, &config, &backing, true,
                                               &out), cases[i].expect);
    if (cases[i].expect == 0)
      ck_assert_uint_eq (out.flags, cases[i].flags);
  }
}
END_TEST

/* Encryption fields and the loff_t range of offset and size limit. */
START_TEST (test_configure_status_fields)
{
  struct loopdev lo;
  struct loop_backing backing = file_backing (MiB);
  struct loop_config config;
  struct loopdev_binding out;

  loopdev_init (&lo, 0);

  memset (&config, 0, sizeof config);
  config.info.lo_encrypt_key_size = LO_KEY_SIZE;
  ck_assert_int_eq (loopdev_configure_check (&lo, &config, &backing, true,
                                             &out), 0);
  config.info.lo_encrypt_key_size = LO_KEY_SIZE + 1;
  ck_assert_int_eq (loopdev_configure_check (&lo, &config, &backing, true,
                                             &out), -EINVAL);
  config.info.lo_encrypt_key_size = 0xffffffffu;
  ck_assert_int_eq (loopdev_configure_check (&lo, &config, &backing, true,
                                             &out), -EINVAL);

  memset (&config, 0, sizeof config);
  config.info.lo_encrypt_type = LO_CRYPT_XOR;
  ck_assert_int_eq (loopdev_configure_check (&lo, &config, &backing, true,
                                             &out), -EINVAL);
  config.info.lo_encrypt_type = LO_CRYPT_CRYPTOAPI;
  ck_assert_int_eq (loopdev_configure_check (&lo, &config, &backing, true,
                                             &out), -EINVAL);
  config.info.lo_encrypt_type = 7;
  ck_assert_int_eq (loopdev_configure_check (&lo, &config, &backing, true,
                                             &out), -EINVAL);

  memset (&config, 0, sizeof config);
  config.info.lo_offset = LLONG_MAX;
  config.info.lo_sizelimit = LLONG_MAX;
  ck_assert_int_eq (loopdev_configure_check (&lo, &config, &backing, true,
                                             &out), 0);
  ck_assert_uint_eq (out.size, 0);
  config.info.lo_offset = (uint64_t) LLONG_MAX + 1;
  ck_assert_int_eq (loopdev_configure_check (&lo, &config, &backing, true,
                                             &out), -EOVERFLOW);
  config.info.lo_offset = 0;
  config.info.lo_sizelimit = UINT64_MAX;
  ck_assert_int_eq (loopdev_configure_check (&lo, &config, &backing, true,
                                             &out), -EOVERFLOW);
}
END_TEST

/* When several things are wrong, the kernel's order decides. */
START_TEST (test_configure_error_order)
{
  struct loopdev lo;
  struct loop_backing backing = file_backing (MiB);
  struct loop_config config;
  struct loopdev_binding out;

  memset (&config, 0, sizeof config);
  config.info.lo_flags = 2;
  config.info.lo_encrypt_key_size = 99;
  config.info.lo_offset = UINT64_MAX;
  config.block_size = 513;

  /* EBUSY before everything. */
  make_bound (&lo);
  backing.kind = LOOP_BACKING_SELF;
  ck_assert_int_eq (loopdev_configure_check (&lo, &config, &backing, true,
                                             &out), -EBUSY);
  /* Backing file before flags. */
  loopdev_init (&lo, 0);
  ck_assert_int_eq (loopdev_configure_check (&lo, &config, &backing, true,
                                             &out), -EBADF);
  backing.kind = LOOP_BACKING_FILE;
  /* Flags (EINVAL) before offset (EOVERFLOW): */
  ck_assert_int_eq (loopdev_configure_check (&lo, &config, &backing, true,
                                             &out), -EINVAL);
  config.info.lo_flags = 0;
  /* key size (EINVAL) before offset (EOVERFLOW): */
  ck_assert_int_eq (loopdev_configure_check (&lo, &config, &backing, true,
                                             &out), -EINVAL);
  config.info.lo_encrypt_key_size = 0;
  /* offset (EOVERFLOW) before block size (EINVAL): */
  ck_assert_int_eq (loopdev_configure_check (&lo, &config, &backing, true,
                                             &out), -EOVERFLOW);
  config.info.lo_offset = 0;
  ck_assert_int_eq (loopdev_configure_check (&lo, &config, &backing, true,
                                             &out), -EINVAL);
  config.block_size = 0;
  ck_assert_int_eq (loopdev_configure_check (&lo, &config, &backing, true,
                                             &out), 0);
}
END_TEST

/* The device is read-only when the flag asks for it, or when either
 * the backing descriptor or the loopN descriptor is not writable. */
START_TEST (test_configure_read_only)
{
  struct loopdev lo;
  struct loop_backing backing = file_backing (MiB);
  struct loop_config config;
  struct loopdev_binding out;

  memset (&config, 0, sizeof config);
  loopdev_init (&lo, 0);

  ck_assert_int_eq (loopdev_configure_check (&lo, &config, &backing, true,
                                             &out), 0);
  ck_assert (!(out.flags & LO_FLAGS_READ_ONLY));
  ck_assert_int_eq (loopdev_configure_check (&lo, &config, &backing, false,
                                             &out), 0);
  ck_assert (out.flags & LO_FLAGS_READ_ONLY);
  backing.writable = false;
  ck_assert_int_eq (loopdev_configure_check (&lo, &config, &backing, true,
                                             &out), 0);
  ck_assert (out.flags & LO_FLAGS_READ_ONLY);
  backing.writable = true;
  config.info.lo_flags = LO_FLAGS_READ_ONLY;
  ck_assert_int_eq (loopdev_configure_check (&lo, &config, &backing, true,
                                             &out), 0);
  ck_assert (out.flags & LO_FLAGS_READ_ONLY);

  loopdev_configure_begin (&lo);
  loopdev_configure_commit (&lo, &out);
  ck_assert (lo.disk_ro);
  ck_assert (loopdev_read_only (&lo));
}
END_TEST

/* Block sizes the block layer accepts: powers of two, 512 to 64 KiB. */
START_TEST (test_configure_block_size)
{
  static const struct {
    uint32_t bsize;
    int expect;
    uint32_t result;
  } cases[] = {
    { 0, 0, 512 },
    { 256, -EINVAL, 0 },
    { 511, -EINVAL, 0 },
    { 512, 0, 512 },
    { 513, -EINVAL, 0 },
    { 1000, -EINVAL, 0 },
    { 1024, 0, 1024 },
    { 3072, -EINVAL, 0 },
    { 4096, 0, 4096 },
    { 65536, 0, 65536 },
    { 131072, -EINVAL, 0 },
    { 0x80000000u, -EINVAL, 0 },
  };
  struct loopdev lo;
  struct loop_backing backing = file_backing (MiB);
  struct loop_config config;
  struct loopdev_binding out;
  size_t i;

  loopdev_init (&lo, 0);
  for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    memset (&config, 0, sizeof config);
    config.block_size = cases[i].bsize;
    poison (&out);
    ck_assert_int_eq (loopdev_configure_check (&lo, &config, &backing, true,
                                               &out), cases[i].expect);
    if (cases[i].expect == 0)
      ck_assert_uint_eq (out.block_size, cases[i].result);
    else
      ck_assert (is_poisoned (&out));
  }
}
END_TEST

/* Direct I/O at configure: asked for by flag or by O_DIRECT, dropped
 * silently when the file, the block size or the offset forbid it; the
 * default block size is then the file's direct-I/O alignment. */
START_TEST (test_configure_direct_io)
{
  struct loopdev lo;
  struct loop_backing backing = file_backing (MiB);
  struct loop_config config;
  struct loopdev_binding out;

  loopdev_init (&lo, 0);
  memset (&config, 0, sizeof config);

  /* O_DIRECT on the backing descriptor turns it on. */
  backing.o_direct = true;
  ck_assert_int_eq (loopdev_configure_check (&lo, &config, &backing, true,
                                             &out), 0);
  ck_assert (out.flags & LO_FLAGS_DIRECT_IO);
  ck_assert_uint_eq (out.block_size, 512);
  backing.o_direct = false;

  /* The flag with a 4 KiB alignment: default block size 4096. */
  backing.dio_align = 4096;
  config.info.lo_flags = LO_FLAGS_DIRECT_IO;
  ck_assert_int_eq (loopdev_configure_check (&lo, &config, &backing, true,
                                             &out), 0);
  ck_assert (out.flags & LO_FLAGS_DIRECT_IO);
  ck_assert_uint_eq (out.block_size, 4096);

  /* An explicit block size below the alignment drops it. */
  config.block_size = 512;
  ck_assert_int_eq (loopdev_configure_check (&lo, &config, &backing, true,
                                             &out), 0);
  ck_assert (!(out.flags & LO_FLAGS_DIRECT_IO));
  ck_assert_uint_eq (out.block_size, 512);

  /* An unaligned offset drops it but keeps the default block size. */
  config.block_size = 0;
  config.info.lo_offset = 512;
  ck_assert_int_eq (loopdev_configure_check (&lo, &config, &backing, true,
                                             &out), 0);
  ck_assert (!(out.flags & LO_FLAGS_DIRECT_IO));
  ck_assert_uint_eq (out.block_size, 4096);
  config.info.lo_offset = 8192;
  ck_assert_int_eq (loopdev_configure_check (&lo, &config, &backing, true,
                                             &out), 0);
  ck_assert (out.flags & LO_FLAGS_DIRECT_IO);

  /* A file that cannot do O_DIRECT: dropped, block size 512. */
  config.info.lo_offset = 0;
  backing.dio_align = 0;
  backing.o_direct = true;
  ck_assert_int_eq (loopdev_configure_check (&lo, &config, &backing, true,
                                             &out), 0);
  ck_assert (!(out.flags & LO_FLAGS_DIRECT_IO));
  ck_assert_uint_eq (out.block_size, 512);

  /* Without the flag nothing asks for direct I/O. */
  backing.dio_align = 512;
  backing.o_direct = false;
  config.info.lo_flags = 0;
  ck_assert_int_eq (loopdev_configure_check (&lo, &config, &backing, true,
                                             &out), 0);
  ck_assert (!(out.flags & LO_FLAGS_DIRECT_IO));
}
END_TEST

/* A block device backing reports its own identity and size. */
START_TEST (test_configure_block_backing)
{
  struct loopdev lo;
  struct loop_backing backing = file_backing (8 * MiB);
  struct loop_info64 info;

  backing.kind = LOOP_BACKING_BLOCK;
  backing.rdev = makedev (259, 3);
  loopdev_init (&lo, 2);
  ck_assert_int_eq (bind_plain (&lo, &backing, true), 0);
  ck_assert_uint_eq (loopdev_size (&lo), 8 * MiB);
  ck_assert_int_eq (loopdev_get_status64 (&lo, &info), 0);
  ck_assert_uint_eq (info.lo_rdevice, makedev (259, 3));
}
END_TEST

/* ---- LOOP_SET_STATUS64 / LOOP_SET_STATUS ---- */

/* Validation errors leave the device and *out alone. */
START_TEST (test_set_status_errors)
{
  struct loopdev lo, before;
  struct loop_info64 info;
  struct loopdev_binding out;
  bool resized = false;

  make_bound (&lo);
  before = lo;

  memset (&info, 0, sizeof info);
  info.lo_encrypt_key_size = LO_KEY_SIZE + 1;
  poison (&out);
  ck_assert_int_eq (loopdev_set_status_check (&lo, &info, &out, &resized),
                    -EINVAL);
  ck_assert (is_poisoned (&out));

  memset (&info, 0, sizeof info);
  info.lo_encrypt_type = LO_CRYPT_XOR;
  ck_assert_int_eq (loopdev_set_status_check (&lo, &info, &out, &resized),
                    -EINVAL);

  memset (&info, 0, sizeof info);
  info.lo_encrypt_key_size = 40;
  info.lo_offset = UINT64_MAX;
  ck_assert_int_eq (loopdev_set_status_check (&lo, &info, &out, &resized),
                    -EINVAL);

  memset (&info, 0, sizeof info);
  info.lo_offset = (uint64_t) LLONG_MAX + 1;
  ck_assert_int_eq (loopdev_set_status_check (&lo, &info, &out, &resized),
                    -EOVERFLOW);
  info.lo_offset = 0;
  info.lo_sizelimit = (uint64_t) LLONG_MAX + 1;
  ck_assert_int_eq (loopdev_set_status_check (&lo, &info, &out, &resized),
                    -EOVERFLOW);
  ck_assert (is_poisoned (&out));
  ck_assert (!resized);
  ck_assert_mem_eq (&lo, &before, sizeof lo);
}
END_TEST

/* Flag rules: AUTOCLEAR set and cleared, PARTSCAN set but never
 * cleared, anything else (READ_ONLY, DIRECT_IO, unknown) ignored. */
START_TEST (test_set_status_flags)
{
  struct loopdev lo;
  struct loop_info64 info;
  struct loopdev_binding out;
  bool resized;

  make_bound (&lo);
  ck_assert_uint_eq (lo.b.flags, LO_FLAGS_READ_ONLY);
  memset (&info, 0, sizeof info);

  info.lo_flags = LO_FLAGS_AUTOCLEAR | LO_FLAGS_PARTSCAN;
  ck_assert_int_eq (loopdev_set_status_check (&lo, &info, &out, &resized), 0);
  ck_assert_uint_eq (out.flags, LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR |
                     LO_FLAGS_PARTSCAN);
  ck_assert (!resized);
  loopdev_set_binding (&lo, &out);

  info.lo_flags = 0;
  ck_assert_int_eq (loopdev_set_status_check (&lo, &info, &out, &resized), 0);
  ck_assert_uint_eq (out.flags, LO_FLAGS_READ_ONLY | LO_FLAGS_PARTSCAN);
  loopdev_set_binding (&lo, &out);

  /* READ_ONLY can be neither cleared nor set. */
  info.lo_flags = 0;
  ck_assert_int_eq (loopdev_set_status_check (&lo, &info, &out, &resized), 0);
  ck_assert (out.flags & LO_FLAGS_READ_ONLY);
  lo.b.flags = 0;
  info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_DIRECT_IO | 0xffff0002u;
  ck_assert_int_eq (loopdev_set_status_check (&lo, &info, &out, &resized), 0);
  ck_assert_uint_eq (out.flags, 0);
}
END_TEST

/* DIRECT_IO survives a LOOP_SET_STATUS64 that does not mention it. */
START_TEST (test_set_status_keeps_dio)
{
  struct loopdev lo;
  struct loop_backing backing = file_backing (MiB);
  struct loop_info64 info;
  struct loopdev_binding out;
  bool resized;

  backing.o_direct = true;
  loopdev_init (&lo, 0);
  ck_assert_int_eq (bind_plain (&lo, &backing, true), 0);
  ck_assert (lo.b.flags & LO_FLAGS_DIRECT_IO);
  memset (&info, 0, sizeof info);
  ck_assert_int_eq (loopdev_set_status_check (&lo, &info, &out, &resized), 0);
  ck_assert (out.flags & LO_FLAGS_DIRECT_IO);

  /* An unaligned offset drops it silently. */
  lo.b.backing.dio_align = 4096;
  lo.b.block_size = 4096;
  info.lo_offset = 2048;
  ck_assert_int_eq (loopdev_set_status_check (&lo, &info, &out, &resized), 0);
  ck_assert (!(out.flags & LO_FLAGS_DIRECT_IO));
  info.lo_offset = 8192;
  ck_assert_int_eq (loopdev_set_status_check (&lo, &info, &out, &resized), 0);
  ck_assert (out.flags & LO_FLAGS_DIRECT_IO);
}
END_TEST

/* A new offset or size limit resizes; the same ones do not, even if
 * the backing file changed size meanwhile. */
START_TEST (test_set_status_resize)
{
  struct loopdev lo;
  struct loop_info64 info;
  struct loopdev_binding out;
  bool resized;

  make_bound (&lo);
  memset (&info, 0, sizeof info);

  info.lo_offset = 4096;
  ck_assert_int_eq (loopdev_set_status_check (&lo, &info, &out, &resized), 0);
  ck_assert (resized);
  ck_assert_uint_eq (out.offset, 4096);
  ck_assert_uint_eq (out.size, MiB - 4096);

  info.lo_offset = 0;
  info.lo_sizelimit = 1000;
  ck_assert_int_eq (loopdev_set_status_check (&lo, &info, &out, &resized), 0);
  ck_assert (resized);
  ck_assert_uint_eq (out.size, 512);

  info.lo_offset = 2 * MiB;
  info.lo_sizelimit = 0;
  ck_assert_int_eq (loopdev_set_status_check (&lo, &info, &out, &resized), 0);
  ck_assert (resized);
  ck_assert_uint_eq (out.size, 0);

  info.lo_offset = 0;
  info.lo_sizelimit = 4 * MiB;
  ck_assert_int_eq (loopdev_set_status_check (&lo, &info, &out, &resized), 0);
  ck_assert (resized);
  ck_assert_uint_eq (out.size, MiB);

  lo.b.backing.size = 2 * MiB;
  info.lo_sizelimit = 0;
  ck_assert_int_eq (loopdev_set_status_check (&lo, &info, &out, &resized), 0);
  ck_assert (!resized);
  ck_assert_uint_eq (out.size, MiB);
}
END_TEST

/* The file name is replaced and always NUL-terminated. */
START_TEST (test_set_status_file_name)
{
  struct loopdev lo;
  struct loop_info64 info;
  struct loopdev_binding out;
  bool resized;

  make_bound (&lo);
  memset (&info, 0, sizeof info);
  memset (info.lo_file_name, 'z', LO_NAME_SIZE);
  ck_assert_int_eq (loopdev_set_status_check (&lo, &info, &out, &resized), 0);
  ck_assert_uint_eq (strlen (out.file_name), LO_NAME_SIZE - 1);
  ck_assert_int_eq (out.file_name[0], 'z');
}
END_TEST

/* loop_info64_from_old(): copies what the old struct has, sign-extends
 * the offset, drops the size limit and the encryption fields. */
START_TEST (test_info64_from_old)
{
  struct loop_info old;
  struct loop_info64 info64;

  memset (&old, 0, sizeof old);
  old.lo_number = 5;
  old.lo_device = 0x801;
  old.lo_inode = 77;
  old.lo_rdevice = 0x702;
  old.lo_offset = 4096;
  old.lo_encrypt_type = LO_CRYPT_XOR;
  old.lo_encrypt_key_size = 99;
  old.lo_flags = LO_FLAGS_AUTOCLEAR;
  strcpy (old.lo_name, "old-name");
  old.lo_init[0] = 1;

  memset (&info64, 0xff, sizeof info64);
  loopdev_info64_from_old (&old, &info64);
  ck_assert_uint_eq (info64.lo_number, 5);
  ck_assert_uint_eq (info64.lo_device, 0x801);
  ck_assert_uint_eq (info64.lo_inode, 77);
  ck_assert_uint_eq (info64.lo_rdevice, 0x702);
  ck_assert_uint_eq (info64.lo_offset, 4096);
  ck_assert_uint_eq (info64.lo_sizelimit, 0);
  ck_assert_uint_eq (info64.lo_flags, LO_FLAGS_AUTOCLEAR);
  ck_assert_uint_eq (info64.lo_encrypt_type, 0);
  ck_assert_uint_eq (info64.lo_encrypt_key_size, 0);
  ck_assert_uint_eq (info64.lo_init[0], 0);
  ck_assert_str_eq ((char *) info64.lo_file_name, "old-name");

  old.lo_offset = -512;
  loopdev_info64_from_old (&old, &info64);
  ck_assert_uint_eq (info64.lo_offset, UINT64_MAX - 511);
}
END_TEST

/* LOOP_SET_STATUS through the old struct: the size limit goes away
 * (a resize) and a negative offset is EOVERFLOW. */
START_TEST (test_set_status_old)
{
  struct loopdev lo;
  struct loop_info old;
  struct loop_info64 info64;
  struct loopdev_binding out;
  bool resized;

  make_bound (&lo);
  lo.b.sizelimit = 4096;
  lo.b.size = 4096;
  memset (&old, 0, sizeof old);
  old.lo_encrypt_type = LO_CRYPT_XOR;
  loopdev_info64_from_old (&old, &info64);
  ck_assert_int_eq (loopdev_set_status_check (&lo, &info64, &out, &resized),
                    0);
  ck_assert (resized);
  ck_assert_uint_eq (out.sizelimit, 0);
  ck_assert_uint_eq (out.size, MiB);

  old.lo_offset = -1;
  loopdev_info64_from_old (&old, &info64);
  ck_assert_int_eq (loopdev_set_status_check (&lo, &info64, &out, &resized),
                    -EOVERFLOW);
}
END_TEST

/* ---- LOOP_GET_STATUS64 / LOOP_GET_STATUS ---- */

/* A bound device with every reported field set to something. */
static void
make_status_device (struct loopdev *lo)
{
  struct loop_backing backing = file_backing (MiB);
  struct loop_config config;

  memset (&config, 0, sizeof config);
  config.info.lo_offset = 4096;
  config.info.lo_sizelimit = 8192;
  config.info.lo_flags = LO_FLAGS_AUTOCLEAR;
  config.info.lo_encrypt_key_size = 16;
  config.info.lo_init[1] = 9;
  strcpy ((char *) config.info.lo_file_name, "/srv/disk.img");
  backing.dev = makedev (254, 7);
  backing.ino = 424242;
  backing.rdev = makedev (1, 2);
  loopdev_init (lo, 9);
  ck_assert_int_eq (bind_config (lo, &config, &backing, true), 0);
}

/* loop_get_status(): every field, and zeros where the kernel has none. */
START_TEST (test_get_status64)
{
  struct loopdev lo;
  struct loop_info64 info;

  make_status_device (&lo);
  memset (&info, 0xff, sizeof info);
  ck_assert_int_eq (loopdev_get_status64 (&lo, &info), 0);
  ck_assert_uint_eq (info.lo_number, 9);
  ck_assert_uint_eq (info.lo_device, makedev (254, 7));
  ck_assert_uint_eq (info.lo_inode, 424242);
  ck_assert_uint_eq (info.lo_rdevice, makedev (1, 2));
  ck_assert_uint_eq (info.lo_offset, 4096);
  ck_assert_uint_eq (info.lo_sizelimit, 8192);
  ck_assert_uint_eq (info.lo_flags, LO_FLAGS_AUTOCLEAR);
  ck_assert_uint_eq (info.lo_encrypt_type, 0);
  ck_assert_uint_eq (info.lo_encrypt_key_size, 0);
  ck_assert_uint_eq (info.lo_init[1], 0);
  ck_assert_str_eq ((char *) info.lo_file_name, "/srv/disk.img");
  ck_assert_str_eq ((char *) info.lo_crypt_name, "");
}
END_TEST

/* loop_get_status_old(): the same, narrowed. */
START_TEST (test_get_status_old)
{
  struct loopdev lo;
  struct loop_info info;

  make_status_device (&lo);
  memset (&info, 0xff, sizeof info);
  ck_assert_int_eq (loopdev_get_status (&lo, &info), 0);
  ck_assert_int_eq (info.lo_number, 9);
  ck_assert_uint_eq (info.lo_device, makedev (254, 7));
  ck_assert_uint_eq (info.lo_inode, 424242);
  ck_assert_uint_eq (info.lo_rdevice, makedev (1, 2));
  ck_assert_int_eq (info.lo_offset, 4096);
  ck_assert_int_eq (info.lo_flags, LO_FLAGS_AUTOCLEAR);
  ck_assert_int_eq (info.lo_encrypt_key_size, 0);
  ck_assert_str_eq (info.lo_name, "/srv/disk.img");
}
END_TEST

/* The old struct's int lo_offset overflows above INT_MAX. */
START_TEST (test_get_status_old_overflow)
{
  struct loopdev lo;
  struct loop_info info;
  struct loop_info64 info64;

  make_bound (&lo);
  lo.b.offset = INT_MAX;
  ck_assert_int_eq (loopdev_get_status (&lo, &info), 0);
  ck_assert_int_eq (info.lo_offset, INT_MAX);
  lo.b.offset = (uint64_t) INT_MAX + 1;
  ck_assert_int_eq (loopdev_get_status (&lo, &info), -EOVERFLOW);
  lo.b.offset = 1ull << 32;
  ck_assert_int_eq (loopdev_get_status (&lo, &info), -EOVERFLOW);
  ck_assert_int_eq (loopdev_get_status64 (&lo, &info64), 0);
  ck_assert_uint_eq (info64.lo_offset, 1ull << 32);
}
END_TEST

/* Device and inode numbers overflow only where the old struct's fields
 * are narrower than 64 bits (not on LP64, where they are longs). */
START_TEST (test_get_status_old_device_inode)
{
  struct loopdev lo;
  struct loop_info info;
  const int expect = sizeof (unsigned long) >= 8 ? 0 : -EOVERFLOW;

  make_bound (&lo);
  lo.b.backing.ino = (ino_t) 1 << 40;
  ck_assert_int_eq (loopdev_get_status (&lo, &info), expect);
  lo.b.backing.ino = 1;
  lo.b.backing.dev = makedev (0x12345, 0x67890);
  ck_assert_int_eq (loopdev_get_status (&lo, &info),
                    sizeof (__kernel_old_dev_t) >= 8 ? 0 : -EOVERFLOW);
  lo.b.backing.dev = 1;
  lo.b.backing.rdev = makedev (0x12345, 0x67890);
  ck_assert_int_eq (loopdev_get_status (&lo, &info),
                    sizeof (__kernel_old_dev_t) >= 8 ? 0 : -EOVERFLOW);
  if (expect == 0)
    ck_assert_uint_eq (info.lo_rdevice, makedev (0x12345, 0x67890));
}
END_TEST

/* ---- LOOP_CHANGE_FD ---- */

/* Only a read-only device may change its file. */
START_TEST (test_change_fd_needs_read_only)
{
  struct loopdev lo;
  struct loop_backing backing = file_backing (MiB);
  struct loopdev_binding out;

  loopdev_init (&lo, 0);
  ck_assert_int_eq (bind_plain (&lo, &backing, true), 0);
  poison (&out);
  ck_assert_int_eq (loopdev_change_fd_check (&lo, &backing, &out), -EINVAL);
  ck_assert (is_poisoned (&out));
  /* Read-only comes before the backing checks. */
  backing.kind = LOOP_BACKING_SELF;
  ck_assert_int_eq (loopdev_change_fd_check (&lo, &backing, &out), -EINVAL);
}
END_TEST

/* Backing kinds and sizes for the new file. */
START_TEST (test_change_fd_checks)
{
  struct loopdev lo;
  struct loop_backing backing = file_backing (MiB);
  struct loopdev_binding out;

  make_bound (&lo);

  backing.kind = LOOP_BACKING_SELF;
  backing.size = 5;
  ck_assert_int_eq (loopdev_change_fd_check (&lo, &backing, &out), -EBADF);
  backing.kind = LOOP_BACKING_LOOPFS;
  backing.size = MiB;
  ck_assert_int_eq (loopdev_change_fd_check (&lo, &backing, &out), -EINVAL);
  backing.kind = LOOP_BACKING_OTHER;
  backing.size = MiB;
  ck_assert_int_eq (loopdev_change_fd_check (&lo, &backing, &out), -EINVAL);

  backing.kind = LOOP_BACKING_FILE;
  backing.size = MiB + 512;
  ck_assert_int_eq (loopdev_change_fd_check (&lo, &backing, &out), -EINVAL);
  backing.size = MiB - 512;
  ck_assert_int_eq (loopdev_change_fd_check (&lo, &backing, &out), -EINVAL);
  /* Sizes that round to the same sector count are the same size. */
  backing.size = MiB + 511;
  ck_assert_int_eq (loopdev_change_fd_check (&lo, &backing, &out), 0);

  backing.kind = LOOP_BACKING_BLOCK;
  backing.size = MiB;
  ck_assert_int_eq (loopdev_change_fd_check (&lo, &backing, &out), 0);
}
END_TEST

/* The new file replaces the old one; offset, limit, name, flags stay,
 * and the size is compared after offset and size limit. */
START_TEST (test_change_fd_result)
{
  struct loopdev lo;
  struct loop_backing backing = file_backing (MiB);
  struct loop_config config;
  struct loopdev_binding out;

  memset (&config, 0, sizeof config);
  config.info.lo_offset = 4096;
  config.info.lo_sizelimit = 8192;
  config.info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR;
  strcpy ((char *) config.info.lo_file_name, "first");
  loopdev_init (&lo, 0);
  ck_assert_int_eq (bind_config (&lo, &config, &backing, true), 0);

  backing = file_backing (4096 + 8192 + 100);
  backing.ino = 999;
  ck_assert_int_eq (loopdev_change_fd_check (&lo, &backing, &out), 0);
  ck_assert_uint_eq (out.backing.ino, 999);
  ck_assert_uint_eq (out.backing.size, 4096 + 8192 + 100);
  ck_assert_uint_eq (out.offset, 4096);
  ck_assert_uint_eq (out.sizelimit, 8192);
  ck_assert_uint_eq (out.size, 8192);
  ck_assert_uint_eq (out.flags, LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR);
  ck_assert_str_eq (out.file_name, "first");
  loopdev_set_binding (&lo, &out);

  backing.size = 4096 + 4096;
  ck_assert_int_eq (loopdev_change_fd_check (&lo, &backing, &out), -EINVAL);
}
END_TEST

/* Direct I/O follows O_DIRECT of the new file and what it can do. */
START_TEST (test_change_fd_direct_io)
{
  struct loopdev lo;
  struct loop_backing backing = file_backing (MiB);
  struct loopdev_binding out;

  make_bound (&lo);
  ck_assert (!(lo.b.flags & LO_FLAGS_DIRECT_IO));
  backing.o_direct = true;
  ck_assert_int_eq (loopdev_change_fd_check (&lo, &backing, &out), 0);
  ck_assert (out.flags & LO_FLAGS_DIRECT_IO);
  loopdev_set_binding (&lo, &out);

  /* Without O_DIRECT the flag stays if the new file can do it... */
  backing.o_direct = false;
  ck_assert_int_eq (loopdev_change_fd_check (&lo, &backing, &out), 0);
  ck_assert (out.flags & LO_FLAGS_DIRECT_IO);
  /* ...and goes when it cannot. */
  backing.dio_align = 0;
  ck_assert_int_eq (loopdev_change_fd_check (&lo, &backing, &out), 0);
  ck_assert (!(out.flags & LO_FLAGS_DIRECT_IO));
  backing.dio_align = 4096;
  ck_assert_int_eq (loopdev_change_fd_check (&lo, &backing, &out), 0);
  ck_assert (!(out.flags & LO_FLAGS_DIRECT_IO));
}
END_TEST

/* ---- LOOP_SET_CAPACITY ---- */

/* The size follows the backing file's new size through offset and
 * size limit. */
START_TEST (test_set_capacity)
{
  struct loopdev lo;
  struct loop_backing backing = file_backing (MiB);
  struct loop_config config;
  struct loopdev_binding out;

  make_bound (&lo);
  ck_assert_int_eq (loopdev_set_capacity_check (&lo, 2 * MiB + 100, &out), 0);
  ck_assert_uint_eq (out.size, 2 * MiB);
  ck_assert_uint_eq (out.backing.size, 2 * MiB + 100);
  ck_assert_uint_eq (loopdev_size (&lo), MiB);
  loopdev_set_binding (&lo, &out);
  ck_assert_uint_eq (loopdev_size (&lo), 2 * MiB);
  ck_assert_int_eq (loopdev_set_capacity_check (&lo, 100, &out), 0);
  ck_assert_uint_eq (out.size, 0);

  memset (&config, 0, sizeof config);
  config.info.lo_offset = 4096;
  config.info.lo_sizelimit = 65536;
  loopdev_init (&lo, 0);
  ck_assert_int_eq (bind_config (&lo, &config, &backing, true), 0);
  ck_assert_int_eq (loopdev_set_capacity_check (&lo, 8192, &out), 0);
  ck_assert_uint_eq (out.size, 4096);
  ck_assert_int_eq (loopdev_set_capacity_check (&lo, 4 * MiB, &out), 0);
  ck_assert_uint_eq (out.size, 65536);
}
END_TEST

/* ---- LOOP_SET_DIRECT_IO ---- */

/* Turning direct I/O on needs lo_can_use_dio; off always works; asking
 * for the current mode does nothing. */
START_TEST (test_set_direct_io)
{
  struct loopdev lo;
  struct loopdev_binding out;

  make_bound (&lo);
  ck_assert_int_eq (loopdev_set_direct_io_check (&lo, 0, &out), 0);
  ck_assert (!(out.flags & LO_FLAGS_DIRECT_IO));
  ck_assert_int_eq (loopdev_set_direct_io_check (&lo, 1, &out), 0);
  ck_assert (out.flags & LO_FLAGS_DIRECT_IO);
  ck_assert_int_eq (loopdev_set_direct_io_check (&lo, 2, &out), 0);
  ck_assert (out.flags & LO_FLAGS_DIRECT_IO);
  loopdev_set_binding (&lo, &out);
  ck_assert_int_eq (loopdev_set_direct_io_check (&lo, 1, &out), 0);
  ck_assert (out.flags & LO_FLAGS_DIRECT_IO);
  ck_assert_int_eq (loopdev_set_direct_io_check (&lo, 0, &out), 0);
  ck_assert (!(out.flags & LO_FLAGS_DIRECT_IO));
  loopdev_set_binding (&lo, &out);

  /* File cannot do O_DIRECT. */
  lo.b.backing.dio_align = 0;
  poison (&out);
  ck_assert_int_eq (loopdev_set_direct_io_check (&lo, 1, &out), -EINVAL);
  ck_assert (is_poisoned (&out));
  ck_assert_int_eq (loopdev_set_direct_io_check (&lo, 0, &out), 0);

  /* Block size below the alignment. */
  lo.b.backing.dio_align = 4096;
  ck_assert_int_eq (loopdev_set_direct_io_check (&lo, 1, &out), -EINVAL);
  lo.b.block_size = 4096;
  ck_assert_int_eq (loopdev_set_direct_io_check (&lo, 1, &out), 0);

  /* Offset not aligned. */
  lo.b.offset = 512;
  ck_assert_int_eq (loopdev_set_direct_io_check (&lo, 1, &out), -EINVAL);
  lo.b.offset = 8192;
  ck_assert_int_eq (loopdev_set_direct_io_check (&lo, 1, &out), 0);
}
END_TEST

/* ---- LOOP_SET_BLOCK_SIZE ---- */

/* Accepted and refused block sizes. */
START_TEST (test_set_block_size_values)
{
  static const struct {
    unsigned long arg;
    int expect;
    uint32_t result;
  } cases[] = {
    { 0, 0, 512 },
    { 256, -EINVAL, 0 },
    { 511, -EINVAL, 0 },
    { 512, 0, 512 },
    { 513, -EINVAL, 0 },
    { 1000, -EINVAL, 0 },
    { 1024, 0, 1024 },
    { 4096, 0, 4096 },
    { 65536, 0, 65536 },
    { 131072, -EINVAL, 0 },
    { 1ul << 31, -EINVAL, 0 },
  };
  struct loopdev lo;
  struct loopdev_binding out;
  size_t i;

  make_bound (&lo);
  lo.b.block_size = 2048;
  for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    poison (&out);
    ck_assert_int_eq (loopdev_set_block_size_check (&lo, cases[i].arg, &out),
                      cases[i].expect);
    if (cases[i].expect == 0)
      ck_assert_uint_eq (out.block_size, cases[i].result);
    else
      ck_assert (is_poisoned (&out));
  }
}
END_TEST

/* The current block size is a no-op; 0 is the default, which is the
 * direct-I/O alignment while direct I/O is on. */
START_TEST (test_set_block_size_default_and_same)
{
  struct loopdev lo;
  struct loopdev_binding out;

  make_bound (&lo);
  lo.b.block_size = 8192;
  lo.b.backing.dio_align = 4096;
  lo.b.flags |= LO_FLAGS_DIRECT_IO;
  ck_assert_int_eq (loopdev_set_block_size_check (&lo, 8192, &out), 0);
  ck_assert_mem_eq (&out, &lo.b, sizeof out);
  ck_assert_int_eq (loopdev_set_block_size_check (&lo, 0, &out), 0);
  ck_assert_uint_eq (out.block_size, 4096);
  ck_assert (out.flags & LO_FLAGS_DIRECT_IO);

  lo.b.flags &= ~LO_FLAGS_DIRECT_IO;
  ck_assert_int_eq (loopdev_set_block_size_check (&lo, 0, &out), 0);
  ck_assert_uint_eq (out.block_size, 512);
}
END_TEST

/* A block size below the direct-I/O alignment drops direct I/O. */
START_TEST (test_set_block_size_drops_dio)
{
  struct loopdev lo;
  struct loopdev_binding out;

  make_bound (&lo);
  lo.b.block_size = 4096;
  lo.b.backing.dio_align = 4096;
  lo.b.flags |= LO_FLAGS_DIRECT_IO;
  ck_assert_int_eq (loopdev_set_block_size_check (&lo, 512, &out), 0);
  ck_assert_uint_eq (out.block_size, 512);
  ck_assert (!(out.flags & LO_FLAGS_DIRECT_IO));
  ck_assert_int_eq (loopdev_set_block_size_check (&lo, 16384, &out), 0);
  ck_assert (out.flags & LO_FLAGS_DIRECT_IO);
}
END_TEST

/* The kernel compares the full unsigned long but uses only its low 32
 * bits as the block size. */
START_TEST (test_set_block_size_truncation)
{
  struct loopdev lo;
  struct loopdev_binding out;

  if (sizeof (unsigned long) < 8)
    return;
  make_bound (&lo);
  ck_assert_int_eq (loopdev_set_block_size_check (&lo, (1ul << 32) | 1024,
                                                  &out), 0);
  ck_assert_uint_eq (out.block_size, 1024);
  ck_assert_int_eq (loopdev_set_block_size_check (&lo, 1ul << 32, &out), 0);
  ck_assert_uint_eq (out.block_size, 512);
  ck_assert_int_eq (loopdev_set_block_size_check (&lo, (1ul << 32) | 513,
                                                  &out), -EINVAL);
}
END_TEST

/* Block sizes are visible through the getters once committed. */
START_TEST (test_block_size_getters)
{
  struct loopdev lo;
  struct loopdev_binding out;

  make_bound (&lo);
  ck_assert_uint_eq (loopdev_logical_block_size (&lo), 512);
  ck_assert_int_eq (loopdev_set_block_size_check (&lo, 4096, &out), 0);
  loopdev_set_binding (&lo, &out);
  ck_assert_uint_eq (loopdev_logical_block_size (&lo), 4096);
  ck_assert_uint_eq (loopdev_physical_block_size (&lo), 4096);
}
END_TEST

/* ---- BLKDISCARD / BLKZEROOUT ranges ---- */

/* Discard: non-empty, aligned to the logical block size, in range. */
START_TEST (test_discard_range)
{
  struct loopdev lo;

  make_bound (&lo);
  ck_assert_int_eq (loopdev_check_discard_range (&lo, 0, 512), 0);
  ck_assert_int_eq (loopdev_check_discard_range (&lo, 0, MiB), 0);
  ck_assert_int_eq (loopdev_check_discard_range (&lo, MiB - 512, 512), 0);
  ck_assert_int_eq (loopdev_check_discard_range (&lo, 0, 0), -EINVAL);
  ck_assert_int_eq (loopdev_check_discard_range (&lo, 512, 0), -EINVAL);
  ck_assert_int_eq (loopdev_check_discard_range (&lo, 1, 512), -EINVAL);
  ck_assert_int_eq (loopdev_check_discard_range (&lo, 0, 100), -EINVAL);
  ck_assert_int_eq (loopdev_check_discard_range (&lo, MiB, 512), -EINVAL);
  ck_assert_int_eq (loopdev_check_discard_range (&lo, 0, MiB + 512), -EINVAL);
  ck_assert_int_eq (loopdev_check_discard_range (&lo, UINT64_MAX - 511, 1024),
                    -EINVAL);

  lo.b.block_size = 4096;
  ck_assert_int_eq (loopdev_check_discard_range (&lo, 512, 512), -EINVAL);
  ck_assert_int_eq (loopdev_check_discard_range (&lo, 0, 512), -EINVAL);
  ck_assert_int_eq (loopdev_check_discard_range (&lo, 4096, 4096), 0);

  loopdev_init (&lo, 0);
  ck_assert_int_eq (loopdev_check_discard_range (&lo, 0, 512), -EINVAL);
}
END_TEST

/* Zeroout: 512-byte alignment, last byte in range, no wrap-around,
 * then alignment to the logical block size. */
START_TEST (test_zeroout_range)
{
  struct loopdev lo;

  make_bound (&lo);
  ck_assert_int_eq (loopdev_check_zeroout_range (&lo, 0, 512), 0);
  ck_assert_int_eq (loopdev_check_zeroout_range (&lo, 0, MiB), 0);
  ck_assert_int_eq (loopdev_check_zeroout_range (&lo, MiB - 512, 512), 0);
  ck_assert_int_eq (loopdev_check_zeroout_range (&lo, 0, 0), -EINVAL);
  ck_assert_int_eq (loopdev_check_zeroout_range (&lo, 4096, 0), -EINVAL);
  ck_assert_int_eq (loopdev_check_zeroout_range (&lo, 1, 512), -EINVAL);
  ck_assert_int_eq (loopdev_check_zeroout_range (&lo, 0, 100), -EINVAL);
  ck_assert_int_eq (loopdev_check_zeroout_range (&lo, MiB, 512), -EINVAL);
  ck_assert_int_eq (loopdev_check_zeroout_range (&lo, 0, MiB + 512), -EINVAL);
  /* Wraps around to an end below the start and inside the device. */
  ck_assert_int_eq (loopdev_check_zeroout_range (&lo, MiB - 512,
                                                 UINT64_MAX - 511), -EINVAL);

  lo.b.block_size = 4096;
  ck_assert_int_eq (loopdev_check_zeroout_range (&lo, 512, 512), -EINVAL);
  ck_assert_int_eq (loopdev_check_zeroout_range (&lo, 4096, 4096), 0);

  loopdev_init (&lo, 0);
  ck_assert_int_eq (loopdev_check_zeroout_range (&lo, 0, 512), -EINVAL);
}
END_TEST

/* fallocate (blkdev_fallocate): only zeroing and punching with
 * KEEP_SIZE, inside the device (cut short with KEEP_SIZE), aligned to
 * the logical block size, on a writable bound device; errors in the
 * kernel's order. */
START_TEST (test_fallocate_range)
{
  const int zero = FALLOC_FL_ZERO_RANGE;
  const int zero_keep = FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
  const int punch = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
  struct loop_backing backing = file_backing (MiB);
  struct loopdev lo;
  uint64_t start = 7, len = 7;

  loopdev_init (&lo, 3);
  ck_assert_int_eq (loopdev_open (&lo), 0);
  ck_assert_int_eq (bind_plain (&lo, &backing, true), 0);

  ck_assert_int_eq (loopdev_check_fallocate (&lo, zero, 4096, 512, &start,
                                             &len), 0);
  ck_assert_uint_eq (start, 4096);
  ck_assert_uint_eq (len, 512);
  ck_assert_int_eq (loopdev_check_fallocate (&lo, punch, 0, MiB, &start,
                                             &len), 0);
  /* Past the end: cut short with KEEP_SIZE, refused without. */
  ck_assert_int_eq (loopdev_check_fallocate (&lo, zero_keep, MiB - 512, 4096,
                                             &start, &len), 0);
  ck_assert_uint_eq (len, 512);
  ck_assert_int_eq (loopdev_check_fallocate (&lo, zero, MiB - 512, 4096,
                                             &start, &len), -EINVAL);
  /* Bad ranges. */
  ck_assert_int_eq (loopdev_check_fallocate (&lo, zero, -512, 512, &start,
                                             &len), -EINVAL);
  ck_assert_int_eq (loopdev_check_fallocate (&lo, zero, 0, 0, &start, &len),
                    -EINVAL);
  ck_assert_int_eq (loopdev_check_fallocate (&lo, zero, MiB, 512, &start,
                                             &len), -EINVAL);
  ck_assert_int_eq (loopdev_check_fallocate (&lo, zero, 1, 512, &start,
                                             &len), -EINVAL);
  /* Unknown bits fail first; known but unsupported modes last. */
  ck_assert_int_eq (loopdev_check_fallocate (&lo, FALLOC_FL_COLLAPSE_RANGE,
                                             1, 1, &start, &len),
                    -EOPNOTSUPP);
  ck_assert_int_eq (loopdev_check_fallocate (&lo, 0, 0, 512, &start, &len),
                    -EOPNOTSUPP);
  ck_assert_int_eq (loopdev_check_fallocate (&lo, FALLOC_FL_PUNCH_HOLE, 0,
                                             512, &start, &len), -EOPNOTSUPP);
  /* Write-zeroes turned off (a tmpfs file refused a zero range): the
   * punch fails after the range checks, zeroing still works, and only a
   * new block size turns it on again. */
  {
    struct loopdev_binding out;

    lo.b.write_zeroes_off = true;
    ck_assert_int_eq (loopdev_check_fallocate (&lo, punch, 0, 512, &start,
                                               &len), -EOPNOTSUPP);
    ck_assert_int_eq (loopdev_check_fallocate (&lo, punch, 1, 512, &start,
                                               &len), -EINVAL);
    ck_assert_int_eq (loopdev_check_fallocate (&lo, zero, 0, 512, &start,
                                               &len), 0);
    ck_assert_int_eq (loopdev_set_block_size_check (&lo, 512, &out), 0);
    ck_assert (out.write_zeroes_off);
    ck_assert_int_eq (loopdev_set_block_size_check (&lo, 4096, &out), 0);
    ck_assert (!out.write_zeroes_off);
    lo.b.write_zeroes_off = false;
  }
  /* A refused range leaves the outputs alone. */
  start = len = 7;
  ck_assert_int_eq (loopdev_check_fallocate (&lo, 0, 1, 512, &start, &len),
                    -EINVAL);
  ck_assert_uint_eq (start, 7);
  ck_assert_uint_eq (len, 7);

  /* Cleared while open: the size stays, the I/O fails. */
  ck_assert_int_eq (loopdev_clr_fd (&lo), 0);
  ck_assert_int_eq (loopdev_check_fallocate (&lo, zero, 0, 512, &start,
                                             &len), -EIO);

  /* Read-only: EPERM after the range checks. */
  make_bound (&lo);
  ck_assert_int_eq (loopdev_check_fallocate (&lo, zero, 0, 512, &start,
                                             &len), -EPERM);
  ck_assert_int_eq (loopdev_check_fallocate (&lo, zero, 1, 512, &start,
                                             &len), -EINVAL);
}
END_TEST

/* ---- names ---- */

/* Every state has its own name. */
START_TEST (test_state_names)
{
  ck_assert_str_eq (loopdev_state_name (LOOPDEV_UNBOUND), "unbound");
  ck_assert_str_eq (loopdev_state_name (LOOPDEV_BINDING), "binding");
  ck_assert_str_eq (loopdev_state_name (LOOPDEV_BOUND), "bound");
  ck_assert_str_eq (loopdev_state_name (LOOPDEV_RUNDOWN), "rundown");
  ck_assert_str_eq (loopdev_state_name (LOOPDEV_DELETING), "deleting");
  ck_assert_str_eq (loopdev_state_name ((enum loopdev_state) 42), "unknown");
}
END_TEST

/* Collect every test case of this file. */
static Suite *
loopdev_suite (void)
{
  Suite *s = suite_create ("loopdev");
  TCase *tc;

  tc = tcase_create ("states");
  tcase_add_loop_test (tc, test_state_open, 0, N_STATES);
  tcase_add_loop_test (tc, test_state_clr_fd, 0, N_STATES);
  tcase_add_loop_test (tc, test_state_configure, 0, N_STATES);
  tcase_add_loop_test (tc, test_state_bound_only, 0, N_STATES);
  tcase_add_loop_test (tc, test_state_geometry, 0, N_STATES);
  suite_add_tcase (s, tc);

  tc = tcase_create ("lifecycle");
  tcase_add_test (tc, test_init);
  tcase_add_test (tc, test_open_release_count);
  tcase_add_test (tc, test_release_without_open);
  tcase_add_test (tc, test_last_close_keeps_binding);
  tcase_add_test (tc, test_autoclear_on_last_close);
  tcase_add_test (tc, test_autoclear_from_set_status);
  tcase_add_test (tc, test_clr_fd_single_opener);
  tcase_add_test (tc, test_clr_fd_other_openers);
  tcase_add_test (tc, test_cleared_resets);
  tcase_add_test (tc, test_binding_state);
  suite_add_tcase (s, tc);

  tc = tcase_create ("soft-block-size");
  tcase_add_test (tc, test_soft_block_size_values);
  tcase_add_test (tc, test_soft_block_size_first_open_only);
  tcase_add_test (tc, test_soft_block_size_kept_across_block_size);
  suite_add_tcase (s, tc);

  tc = tcase_create ("permission");
  tcase_add_test (tc, test_permission);
  suite_add_tcase (s, tc);

  tc = tcase_create ("configure");
  tcase_add_test (tc, test_compute_size);
  tcase_add_test (tc, test_configure_defaults);
  tcase_add_test (tc, test_configure_fields);
  tcase_add_test (tc, test_configure_backing_kind);
  tcase_add_test (tc, test_backing_write_only_append);
  tcase_add_test (tc, test_configure_flags);
  tcase_add_test (tc, test_configure_status_fields);
  tcase_add_test (tc, test_configure_error_order);
  tcase_add_test (tc, test_configure_read_only);
  tcase_add_test (tc, test_configure_block_size);
  tcase_add_test (tc, test_configure_direct_io);
  tcase_add_test (tc, test_configure_block_backing);
  suite_add_tcase (s, tc);

  tc = tcase_create ("status");
  tcase_add_test (tc, test_set_status_errors);
  tcase_add_test (tc, test_set_status_flags);
  tcase_add_test (tc, test_set_status_keeps_dio);
  tcase_add_test (tc, test_set_status_resize);
  tcase_add_test (tc, test_set_status_file_name);
  tcase_add_test (tc, test_info64_from_old);
  tcase_add_test (tc, test_set_status_old);
  tcase_add_test (tc, test_get_status64);
  tcase_add_test (tc, test_get_status_old);
  tcase_add_test (tc, test_get_status_old_overflow);
  tcase_add_test (tc, test_get_status_old_device_inode);
  suite_add_tcase (s, tc);

  tc = tcase_create ("reconfigure");
  tcase_add_test (tc, test_change_fd_needs_read_only);
  tcase_add_test (tc, test_change_fd_checks);
  tcase_add_test (tc, test_change_fd_result);
  tcase_add_test (tc, test_change_fd_direct_io);
  tcase_add_test (tc, test_set_capacity);
  tcase_add_test (tc, test_set_direct_io);
  tcase_add_test (tc, test_set_block_size_values);
  tcase_add_test (tc, test_set_block_size_default_and_same);
  tcase_add_test (tc, test_set_block_size_drops_dio);
  tcase_add_test (tc, test_set_block_size_truncation);
  tcase_add_test (tc, test_block_size_getters);
  suite_add_tcase (s, tc);

  tc = tcase_create ("ranges");
  tcase_add_test (tc, test_discard_range);
  tcase_add_test (tc, test_zeroout_range);
  tcase_add_test (tc, test_fallocate_range);
  tcase_add_test (tc, test_state_names);
  suite_add_tcase (s, tc);

  return s;
}

int
main (void)
{
  return test_main (loopdev_suite (), NULL);
}
