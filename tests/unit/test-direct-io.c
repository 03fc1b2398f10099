/* loopfs: the backend's direct reads and writes of a local backing file
 * (nbd-backend/direct-io.h), against a real nbdkit that still serves
 * flush, trim and zeroing of the same file.
 *
 * Each test checks what reaches the file with pread(2) and what comes
 * back from it, at an offset window, on both the loop's page-cache path
 * (4 KiB) and the thread pool's (1 MiB and more); that a read-only
 * backend never writes; that a dead nbdkit fails direct requests too;
 * and that a stop waits for requests still on the thread pool, single
 * ones and batches of small writes.  The
 * nbdkit processes a test started die with it (PR_SET_PDEATHSIG).
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <check.h>
#include <uv.h>

#include "backend-harness.h"
#include "direct-io.h"
#include "test-main.h"

#define KiB 1024ull
#define MiB (1024ull * KiB)

static char tmpdir[] = "/tmp/loopfs-test-direct-io-XXXXXX";
static char runtime_dir[sizeof tmpdir + 16];

/* Per-test setup: a runtime directory and a loop with a tick timer. */
static void
setup (void)
{
  harness_setup (tmpdir, runtime_dir, sizeof runtime_dir);
}

/* Per-test teardown: the backends closed every handle. */
static void
teardown (void)
{
  test_loop_close (loop, &tick);
}

/* A file NAME of SIZE bytes holding pattern SEED, opened with FLAGS. */
static int
create_file (const char *name, uint64_t size, unsigned seed, int flags)
{
  char path[256];
  int fd = harness_pattern_file (tmpdir, name, size, seed, 0600, path,
                                 sizeof path);

  if (flags != O_RDWR) {
    int fd2 = open (path, flags | O_CLOEXEC);

    ck_assert_int_ge (fd2, 0);
    close (fd);
    fd = fd2;
  }
  return fd;
}

/* Start a backend on FD serving [OFFSET, OFFSET + LENGTH) with direct
 * I/O on FD. */
static struct backend *
start_direct (int fd, uint64_t offset, uint64_t length, bool read_only)
{
  struct backend_config config = {
    .fd = fd,
    .direct_io = true,
    .data_fd = fd,
    .offset = offset,
    .length = length,
    .read_only = read_only,
    .connections = 1,
    .uid = (uid_t) -1,
    .gid = (gid_t) -1,
    .runtime_dir = runtime_dir,
    .name = "direct",
  };
  struct backend *b;
  int err = harness_start (&config, &b);

  ck_assert_msg (err == 0, "backend_start: %s", strerror (err));
  return b;
}

/* Stop B and wait until it is freed. */
static void
stop_ok (struct backend *b)
{
  bool stopped = false;

  backend_stop (b, on_stopped, &stopped);
  RUN_UNTIL (loop, stopped, 10000);
}

/* Which descriptors direct I/O accepts. */
START_TEST (test_eligible)
{
  int fd = create_file ("elig.img", 64 * KiB, 1, O_RDWR);
  int ro = create_file ("elig-ro.img", 64 * KiB, 1, O_RDONLY);
  int wo = create_file ("elig-wo.img", 64 * KiB, 1, O_WRONLY);
  int ap = create_file ("elig-ap.img", 64 * KiB, 1, O_RDWR | O_APPEND);
  int path = create_file ("elig-path.img", 64 * KiB, 1, O_PATH);
  int pipefd[2];
  struct statfs sfs;

  ck_assert_int_eq (pipe (pipefd), 0);
  ck_assert_int_eq (fstatfs (fd, &sfs), 0);
  /* The temporary directory must be on a filesystem direct I/O serves
   * (ext4, xfs, btrfs or tmpfs) for the positive cases to mean anything. */
  if (!direct_io_eligible (fd))
    ck_abort_msg ("%s (filesystem type 0x%lx) is not served directly",
                  tmpdir, (long) sfs.f_type);
  ck_assert (direct_io_eligible (ro));
  ck_assert (!direct_io_eligible (wo));
  ck_assert (!direct_io_eligible (ap));
  ck_assert (!direct_io_eligible (path));
  ck_assert (!direct_io_eligible (pipefd[0]));
  close (fd);
  close (ro);
  close (wo);
  close (ap);
  close (path);
  close (pipefd[0]);
  close (pipefd[1]);
}
END_TEST

/* Reads and writes at an offset window, small (loop) and large (pool),
 * land where nbdkit would put them, and nbdkit's trim of the same file
 * is seen by the next direct read. */
START_TEST (test_window)
{
  enum { OFF = 192 * 1024, LEN = 3 * 1024 * 1024 };
  int fd = create_file ("window.img", 4 * MiB, 3, O_RDWR);
  struct backend *b = start_direct (fd, OFF, LEN, false);
  uint8_t *buf = malloc (2 * MiB), *want = malloc (2 * MiB);

  ck_assert (buf && want);
  ck_assert_int_eq (do_io (b, OP_PREAD, buf, 4096, 8192), 0);
  fill_pattern (want, 4096, OFF + 8192, 3);
  ck_assert (memcmp (buf, want, 4096) == 0);
  ck_assert_int_eq (do_io (b, OP_PREAD, buf, 2 * MiB, 1 * MiB), 0);
  fill_pattern (want, 2 * MiB, OFF + 1 * MiB, 3);
  ck_assert (memcmp (buf, want, 2 * MiB) == 0);

  fill_pattern (buf, 4096, 0, 9);
  ck_assert_int_eq (do_io (b, OP_PWRITE, buf, 4096, 4096), 0);
  ck_assert_int_eq (pread (fd, want, 4096, OFF + 4096), 4096);
  ck_assert (memcmp (buf, want, 4096) == 0);
  fill_pattern (buf, 1 * MiB, 0, 10);
  ck_assert_int_eq (do_io (b, OP_PWRITE, buf, 1 * MiB, 2 * MiB), 0);
  ck_assert_int_eq (pread (fd, want, 1 * MiB, OFF + 2 * MiB),
                    (ssize_t) (1 * MiB));
  ck_assert (memcmp (buf, want, 1 * MiB) == 0);
  ck_assert_int_eq (do_io (b, OP_FLUSH, NULL, 0, 0), 0);

  ck_assert_int_eq (do_io (b, OP_TRIM, NULL, 64 * KiB, 2 * MiB), 0);
  ck_assert_int_eq (do_io (b, OP_PREAD, buf, 64 * KiB, 2 * MiB), 0);
  memset (want, 0, 64 * KiB);
  ck_assert (memcmp (buf, want, 64 * KiB) == 0);

  stop_ok (b);
  free (buf);
  free (want);
  close (fd);
}
END_TEST

/* A read-only backend reads directly but never writes the file, even
 * through a descriptor open for writing. */
START_TEST (test_read_only)
{
  int fd = create_file ("ro.img", 1 * MiB, 4, O_RDWR);
  struct backend *b = start_direct (fd, 0, 1 * MiB, true);
  uint8_t buf[4096], want[4096];

  ck_assert_int_eq (do_io (b, OP_PREAD, buf, sizeof buf, 0), 0);
  fill_pattern (want, sizeof want, 0, 4);
  ck_assert (memcmp (buf, want, sizeof buf) == 0);
  memset (buf, 0xaa, sizeof buf);
  ck_assert_int_ne (do_io (b, OP_PWRITE, buf, sizeof buf, 0), 0);
  ck_assert_int_eq (pread (fd, buf, sizeof buf, 0), (ssize_t) sizeof buf);
  ck_assert (memcmp (buf, want, sizeof buf) == 0);
  stop_ok (b);
  close (fd);
}
END_TEST

/* A file cut short under the backend: a read past its end fails, as
 * nbdkit's file plugin fails it. */
START_TEST (test_file_shrunk)
{
  int fd = create_file ("short.img", 1 * MiB, 5, O_RDWR);
  struct backend *b = start_direct (fd, 0, 1 * MiB, false);
  uint8_t buf[8192];

  ck_assert_int_eq (ftruncate (fd, 512 * KiB), 0);
  ck_assert_int_eq (do_io (b, OP_PREAD, buf, 4096, 1 * MiB - 4096), EIO);
  ck_assert_int_eq (do_io (b, OP_PREAD, buf, 8192, 512 * KiB - 4096), EIO);
  ck_assert_int_eq (do_io (b, OP_PREAD, buf, 4096, 0), 0);
  stop_ok (b);
  close (fd);
}
END_TEST

/* Once nbdkit is dead the backend fails every request, direct ones
 * included, as the integration tests expect of a device. */
START_TEST (test_nbdkit_killed)
{
  int fd = create_file ("kill.img", 1 * MiB, 6, O_RDWR);
  struct backend *b = start_direct (fd, 0, 1 * MiB, false);
  uint8_t buf[4096];
  uint64_t deadline = uv_hrtime () + 5000000000ull;
  struct io io;

  ck_assert_int_eq (do_io (b, OP_PREAD, buf, sizeof buf, 0), 0);
  ck_assert_int_eq (kill (backend_pid (b), SIGKILL), 0);
  /* Reads may succeed until the backend has seen nbdkit's exit. */
  do {
    ck_assert_msg (uv_hrtime () < deadline, "reads still work 5 s after "
                   "nbdkit was killed");
    issue (b, OP_PREAD, buf, sizeof buf, 0, &io);
    RUN_UNTIL (loop, io.done, 5000);
  } while (io.err == 0);
  ck_assert_int_eq (io.err, EIO);
  ck_assert_int_eq (do_io (b, OP_PWRITE, buf, sizeof buf, 0), EIO);
  stop_ok (b);
  close (fd);
}
END_TEST

/* A stop right after many large requests waits for the thread pool:
 * every callback runs, with success, before STOPPED. */
START_TEST (test_stop_waits)
{
  enum { N = 16 };
  int fd = create_file ("stop.img", 16 * MiB, 7, O_RDWR);
  struct backend *b = start_direct (fd, 0, 16 * MiB, false);
  uint8_t *bufs = malloc (N * MiB), *want = malloc (MiB);
  struct io io[N];
  bool stopped = false;

  ck_assert (bufs && want);
  for (unsigned i = 0; i < N; i++)
    issue (b, OP_PREAD, bufs + i * MiB, MiB, i * MiB, &io[i]);
  backend_stop (b, on_stopped, &stopped);
  RUN_UNTIL (loop, stopped, 10000);
  for (unsigned i = 0; i < N; i++) {
    ck_assert_msg (io[i].done && io[i].err == 0, "request %u: %s", i,
                   io[i].done ? strerror (io[i].err) : "not finished");
    fill_pattern (want, MiB, i * MiB, 7);
    ck_assert (memcmp (bufs + i * MiB, want, MiB) == 0);
  }
  free (bufs);
  free (want);
  close (fd);
}
END_TEST

/* Many small writes in flight at once (batched on the pool when the
 * page cache cannot take them without waiting) all land, and a stop
 * issued right after them waits for every one. */
START_TEST (test_small_writes)
{
  enum { N = 96, BLOCK = 4096 };
  int fd = create_file ("small.img", 1 * MiB, 8, O_RDWR);
  struct backend *b = start_direct (fd, 64 * KiB, 512 * KiB, false);
  static uint8_t bufs[N][BLOCK];
  uint8_t got[BLOCK];
  struct io io[N];
  bool stopped = false;

  for (unsigned i = 0; i < N; i++) {
    fill_pattern (bufs[i], BLOCK, i * BLOCK, 100 + i);
    issue (b, OP_PWRITE, bufs[i], BLOCK, (uint64_t) i * BLOCK, &io[i]);
  }
  for (unsigned i = 0; i < N / 2; i++) {
    RUN_UNTIL (loop, io[i].done, 10000);
    ck_assert_msg (io[i].err == 0, "write %u: %s", i, strerror (io[i].err));
  }
  backend_stop (b, on_stopped, &stopped);
  RUN_UNTIL (loop, stopped, 10000);
  for (unsigned i = 0; i < N; i++) {
    ck_assert_msg (io[i].done && io[i].err == 0, "write %u: %s", i,
                   io[i].done ? strerror (io[i].err) : "not finished");
    ck_assert_int_eq (pread (fd, got, BLOCK, 64 * KiB + i * BLOCK), BLOCK);
    ck_assert_msg (memcmp (got, bufs[i], BLOCK) == 0,
                   "write %u did not reach the file", i);
  }
  close (fd);
}
END_TEST

/* Assemble the suite. */
static Suite *
direct_io_suite (void)
{
  Suite *s = suite_create ("direct-io");
  TCase *tc = tcase_create ("direct-io");

  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_set_timeout (tc, 60);
  tcase_add_test (tc, test_eligible);
  tcase_add_test (tc, test_window);
  tcase_add_test (tc, test_read_only);
  tcase_add_test (tc, test_file_shrunk);
  tcase_add_test (tc, test_nbdkit_killed);
  tcase_add_test (tc, test_stop_waits);
  tcase_add_test (tc, test_small_writes);
  suite_add_tcase (s, tc);
  return s;
}

/* Run the suite in a private temporary directory. */
int
main (void)
{
  if (getenv ("LOOPFS_NBDKIT"))
    backend_set_nbdkit_path (getenv ("LOOPFS_NBDKIT"));
  return test_main (direct_io_suite (), tmpdir);
}
