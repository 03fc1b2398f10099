/* loopfs: integration test of the nbd-backend against a real nbdkit.
 *
 * Every test starts real nbdkit processes on real temporary files and
 * checks what reaches the file with pread(2).  The nbdkit processes a
 * test started are killed by pid when it exits early (atexit), and die
 * with it anyway through PR_SET_PDEATHSIG; the temporary directory is
 * removed by the main process after all tests.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <uv.h>

#include "backend.h"
#include "backend-harness.h"
#include "test-main.h"

#define KiB 1024ull
#define MiB (1024ull * KiB)
#define GiB (1024ull * MiB)

static char tmpdir[] = "/tmp/loopfs-test-backend-XXXXXX";
static char runtime_dir[sizeof tmpdir + 16];   /* one per test */

/* nbdkit processes started by the running test and not yet stopped. */
static pid_t live_pids[16];
static unsigned n_live_pids;

/* Kill the nbdkit processes the test left behind (on failure). */
static void
kill_live_nbdkits (void)
{
  for (unsigned i = 0; i < n_live_pids; i++)
    if (live_pids[i] > 0)
      kill (live_pids[i], SIGKILL);
  n_live_pids = 0;
}

/* Remember PID for kill_live_nbdkits. */
static void
track_pid (pid_t pid)
{
  ck_assert_uint_lt (n_live_pids, 16);
  live_pids[n_live_pids++] = pid;
}

/* Forget PID once its backend has stopped. */
static void
untrack_pid (pid_t pid)
{
  for (unsigned i = 0; i < n_live_pids; i++)
    if (live_pids[i] == pid)
      live_pids[i] = 0;
}

/* Per-test setup: a fresh runtime directory, and a fresh loop with a
 * tick timer. */
static void
setup (void)
{
  harness_setup (tmpdir, runtime_dir, sizeof runtime_dir);
  n_live_pids = 0;
}

/* Per-test teardown: the loop must close, i.e. the backends closed
 * every handle they opened. */
static void
teardown (void)
{
  test_loop_close (loop, &tick);
}

/* The byte at position I of pattern SEED. */
/* Create a file NAME of SIZE bytes in the temporary directory filled
 * with pattern SEED (or sparse when SEED is 0), store its path in
 * PATH, and return an O_RDWR descriptor. */
static int
create_file (const char *name, uint64_t size, unsigned seed, char *path,
             size_t path_size)
{
  return harness_pattern_file (tmpdir, name, size, seed, 0600, path,
                               path_size);
}

/* A configuration for FD with the given window. */
static struct backend_config
make_config (int fd, uint64_t offset, uint64_t length, unsigned connections)
{
  struct backend_config config = {
    .fd = fd,
    .offset = offset,
    .length = length,
    .read_only = false,
    .connections = connections,
    .uid = (uid_t) -1,
    .gid = (gid_t) -1,
    .runtime_dir = runtime_dir,
    .name = "test",
  };

  return config;
}

/* Start a backend for CONFIG and wait for it; returns the errno that
 * READY reported and stores the backend in *B_RET on success. */
static int
start_backend (const struct backend_config *config, struct backend **b_ret)
{
  struct backend *b;
  int err = harness_start (config, &b);

  if (err == 0) {
    track_pid (backend_pid (b));
    *b_ret = b;
  }
  return err;
}

/* Start a backend that must come up. */
static struct backend *
start_ok (const struct backend_config *config)
{
  struct backend *b = NULL;
  int err = start_backend (config, &b);

  ck_assert_msg (err == 0, "backend_start: %s", strerror (err));
  return b;
}

/* Stop B and check that nbdkit and its socket are gone. */
static void
stop_ok (struct backend *b)
{
  char socket_path[256], proc_path[64];
  pid_t pid = backend_pid (b);
  bool stopped = false;
  struct stat st;

  snprintf (socket_path, sizeof socket_path, "%s", backend_socket_path (b));
  backend_stop (b, on_stopped, &stopped);
  RUN_UNTIL (loop, stopped, 10000);
  untrack_pid (pid);

  snprintf (proc_path, sizeof proc_path, "/proc/%ld", (long) pid);
  ck_assert_msg (stat (proc_path, &st) == -1 && errno == ENOENT,
                 "nbdkit %ld still exists after backend_stop", (long) pid);
  ck_assert_msg (stat (socket_path, &st) == -1 && errno == ENOENT,
                 "socket %s still exists after backend_stop", socket_path);
}

/* Check that the file behind FD holds pattern SEED in [START, END). */
static void
check_file_pattern (int fd, uint64_t start, uint64_t end, unsigned seed)
{
  size_t len = end - start;
  uint8_t *got = malloc (len), *want = malloc (len);

  ck_assert (got && want);
  ck_assert_int_eq (pread (fd, got, len, start), (ssize_t) len);
  fill_pattern (want, len, start, seed);
  ck_assert_msg (memcmp (got, want, len) == 0,
                 "file differs from pattern %u in [%llu, %llu)", seed,
                 (unsigned long long) start, (unsigned long long) end);
  free (got);
  free (want);
}

/* True when LEN bytes of the file at OFFSET are all zero. */
static bool
file_is_zero (int fd, uint64_t offset, size_t len)
{
  uint8_t *buf = malloc (len);
  bool zero = true;

  ck_assert_ptr_nonnull (buf);
  ck_assert_int_eq (pread (fd, buf, len, offset), (ssize_t) len);
  for (size_t i = 0; i < len; i++)
    if (buf[i])
      zero = false;
  free (buf);
  return zero;
}

/* The value of FIELD (e.g. "CapEff:") in /proc/PID/status. */
static void
proc_status_field (pid_t pid, const char *field, char *out, size_t size)
{
  char path[64], line[256];
  FILE *f;

  snprintf (path, sizeof path, "/proc/%ld/status", (long) pid);
  f = fopen (path, "re");
  ck_assert_ptr_nonnull (f);
  out[0] = '\0';
  while (fgets (line, sizeof line, f)) {
    if (strncmp (line, field, strlen (field)) == 0) {
      char *v = line + strlen (field);

      v += strspn (v, " \t");
      v[strcspn (v, "\n")] = '\0';
      snprintf (out, size, "%s", v);
      break;
    }
  }
  fclose (f);
}

/* Check nbdkit PID runs with no capability at all and no_new_privs. */
static void
check_no_capabilities (pid_t pid)
{
  static const char *const fields[] = {
    "CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:",
  };
  char value[64];

  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
    proc_status_field (pid, fields[i], value, sizeof value);
    ck_assert_msg (strcmp (value, "0000000000000000") == 0,
                   "nbdkit %s %s", fields[i], value);
  }
  proc_status_field (pid, "NoNewPrivs:", value, sizeof value);
  ck_assert_str_eq (value, "1");
}

/* Number of sockets nbdkit PID holds open. */
static unsigned
count_sockets (pid_t pid)
{
  char path[64], target[64], link[320];
  struct dirent *d;
  unsigned n = 0;
  DIR *dir;

  snprintf (path, sizeof path, "/proc/%ld/fd", (long) pid);
  dir = opendir (path);
  ck_assert_ptr_nonnull (dir);
  while ((d = readdir (dir)) != NULL) {
    ssize_t r;

    if (d->d_name[0] == '.')
      continue;
    snprintf (link, sizeof link, "%s/%s", path, d->d_name);
    r = readlink (link, target, sizeof target - 1);
    if (r > 0) {
      target[r] = '\0';
      if (strncmp (target, "socket:", 7) == 0)
        n++;
    }
  }
  closedir (dir);
  return n;
}

/* Number of .sock files left in the test's runtime directory. */
static unsigned
count_socket_files (void)
{
  struct dirent *d;
  unsigned n = 0;
  DIR *dir = opendir (runtime_dir);

  ck_assert_ptr_nonnull (dir);
  while ((d = readdir (dir)) != NULL) {
    size_t len = strlen (d->d_name);

    if (len > 5 && strcmp (d->d_name + len - 5, ".sock") == 0)
      n++;
  }
  closedir (dir);
  return n;
}

/* Reads and writes reach exactly [offset, offset+length) of the file. */
START_TEST (test_read_write)
{
  const uint64_t file_size = 1 * MiB, offset = 64 * KiB, length = 256 * KiB;
  char path[256];
  int fd = create_file ("rw.img", file_size, 1, path, sizeof path);
  struct backend_config config = make_config (fd, offset, length, 1);
  struct backend *b = start_ok (&config);
  uint8_t *buf = malloc (length), *want = malloc (length);

  ck_assert (buf && want);
  ck_assert_uint_eq (backend_size (b), length);

  /* The whole export reads as the file's window. */
  ck_assert_int_eq (do_io (b, OP_PREAD, buf, length, 0), 0);
  ck_assert_int_eq (pread (fd, want, length, offset), (ssize_t) length);
  ck_assert (memcmp (buf, want, length) == 0);

  /* An unaligned write lands at offset + position, nowhere else. */
  fill_pattern (buf, 8 * KiB, offset + 4196, 2);
  ck_assert_int_eq (do_io (b, OP_PWRITE, buf, 8 * KiB, 4196), 0);
  check_file_pattern (fd, offset + 4196, offset + 4196 + 8 * KiB, 2);
  check_file_pattern (fd, 0, offset + 4196, 1);
  check_file_pattern (fd, offset + 4196 + 8 * KiB, file_size, 1);

  /* Writes at both ends of the export stay inside the window. */
  fill_pattern (buf, 512, offset, 3);
  ck_assert_int_eq (do_io (b, OP_PWRITE, buf, 512, 0), 0);
  fill_pattern (buf, 512, offset + length - 512, 3);
  ck_assert_int_eq (do_io (b, OP_PWRITE, buf, 512, length - 512), 0);
  check_file_pattern (fd, 0, offset, 1);
  check_file_pattern (fd, offset, offset + 512, 3);
  check_file_pattern (fd, offset + length - 512, offset + length, 3);
  check_file_pattern (fd, offset + length, file_size, 1);

  /* And read back through the backend. */
  ck_assert_int_eq (do_io (b, OP_PREAD, buf, 512, length - 512), 0);
  fill_pattern (want, 512, offset + length - 512, 3);
  ck_assert (memcmp (buf, want, 512) == 0);

  stop_ok (b);
  free (buf);
  free (want);
  close (fd);
}
END_TEST

/* Requests larger than one NBD command are split and reassembled. */
START_TEST (test_split_requests)
{
  const uint64_t file_size = 3 * GiB, offset = 4 * KiB;
  const uint64_t length = file_size - offset, big = 72 * MiB;
  char path[256];
  int fd = create_file ("big.img", file_size, 0, path, sizeof path);
  struct backend_config config = make_config (fd, offset, length, 2);
  struct backend *b = start_ok (&config);
  uint8_t *buf = malloc (big), *got = malloc (big);

  ck_assert (buf && got);

  /* 72 MiB write and read: three pieces each. */
  fill_pattern (buf, big, offset + 1 * MiB, 4);
  ck_assert_int_eq (do_io (b, OP_PWRITE, buf, big, 1 * MiB), 0);
  check_file_pattern (fd, offset + 1 * MiB, offset + 1 * MiB + big, 4);
  ck_assert_int_eq (do_io (b, OP_PREAD, got, big, 1 * MiB), 0);
  ck_assert (memcmp (buf, got, big) == 0);

  /* A 2.5 GiB zero: three pieces of at most 1 GiB. */
  ck_assert_int_eq (pwrite (fd, buf, 4096, offset + 2 * GiB), 4096);
  ck_assert_int_eq (do_io (b, OP_ZERO, NULL, 2 * GiB + 512 * MiB, 0), 0);
  ck_assert (file_is_zero (fd, offset + 1 * MiB, 64 * KiB));
  ck_assert (file_is_zero (fd, offset + 2 * GiB, 4096));

  stop_ok (b);
  free (buf);
  free (got);
  close (fd);
  unlink (path);
}
END_TEST

/* A read-only backend serves reads and refuses every change. */
START_TEST (test_read_only)
{
  const uint64_t offset = 128 * KiB, length = 64 * KiB;
  char path[256];
  int fd = create_file ("ro.img", 1 * MiB, 5, path, sizeof path);
  struct backend_config config = make_config (fd, offset, length, 1);
  struct backend *b;
  uint8_t buf[4096];
  int err;

  config.read_only = true;
  b = start_ok (&config);
  ck_assert (!backend_can_trim (b));
  ck_assert (!backend_can_zero (b));

  ck_assert_int_eq (do_io (b, OP_PREAD, buf, sizeof buf, 0), 0);
  fill_pattern (buf, sizeof buf, 0, 6);
  err = do_io (b, OP_PWRITE, buf, sizeof buf, 0);
  ck_assert_msg (err == EPERM, "pwrite on read-only: %s", strerror (err));
  err = do_io (b, OP_ZERO, NULL, 4096, 0);
  ck_assert_msg (err == EPERM || err == EINVAL, "zero on read-only: %s",
                 strerror (err));
  err = do_io (b, OP_TRIM, NULL, 4096, 0);
  ck_assert_msg (err == EPERM || err == EINVAL, "trim on read-only: %s",
                 strerror (err));
  check_file_pattern (fd, 0, 1 * MiB, 5);

  stop_ok (b);
  close (fd);
}
END_TEST

/* Trim punches holes, zero writes zeroes, flush succeeds. */
START_TEST (test_trim_zero_flush)
{
  const uint64_t offset = 256 * KiB, length = 512 * KiB;
  char path[256];
  int fd = create_file ("tz.img", 1 * MiB, 7, path, sizeof path);
  struct backend_config config = make_config (fd, offset, length, 1);
  struct backend *b = start_ok (&config);

  ck_assert (backend_can_trim (b));
  ck_assert (backend_can_zero (b));
  ck_assert (backend_can_flush (b));

  ck_assert_int_eq (do_io (b, OP_ZERO, NULL, 8 * KiB + 100, 1000), 0);
  ck_assert (file_is_zero (fd, offset + 1000, 8 * KiB + 100));
  check_file_pattern (fd, offset, offset + 1000, 7);
  check_file_pattern (fd, offset + 1000 + 8 * KiB + 100, 1 * MiB, 7);

  ck_assert_int_eq (do_io (b, OP_TRIM, NULL, 64 * KiB, 128 * KiB), 0);
  ck_assert (file_is_zero (fd, offset + 128 * KiB, 64 * KiB));
  check_file_pattern (fd, offset + 192 * KiB, 1 * MiB, 7);

  ck_assert_int_eq (do_io (b, OP_FLUSH, NULL, 0, 0), 0);

  /* Zero-length requests succeed without reaching nbdkit. */
  ck_assert_int_eq (do_io (b, OP_PREAD, NULL, 0, 0), 0);
  ck_assert_int_eq (do_io (b, OP_TRIM, NULL, 0, 0), 0);

  stop_ok (b);
  close (fd);
}
END_TEST

/* Several connections, 64 requests in flight at once. */
START_TEST (test_multi_conn_in_flight)
{
  enum { N = 64, BLOCK = 4096, CONNS = 4 };
  const uint64_t offset = 1 * MiB, length = N * BLOCK * 2;
  char path[256];
  int fd = create_file ("mc.img", 4 * MiB, 8, path, sizeof path);
  struct backend_config config = make_config (fd, offset, length, CONNS);
  struct backend *b = start_ok (&config);
  static uint8_t bufs[N][BLOCK], want[BLOCK];
  struct io io[N];

  /* The listening socket plus one accepted socket per connection. */
  ck_assert_uint_eq (count_sockets (backend_pid (b)), 1 + CONNS);

  for (unsigned i = 0; i < N; i++) {
    fill_pattern (bufs[i], BLOCK, offset + i * 2 * BLOCK, 10 + i);
    issue (b, OP_PWRITE, bufs[i], BLOCK, i * 2 * BLOCK, &io[i]);
  }
  for (unsigned i = 0; i < N; i++) {
    RUN_UNTIL (loop, io[i].done, 10000);
    ck_assert_int_eq (io[i].err, 0);
    check_file_pattern (fd, offset + i * 2 * BLOCK,
                        offset + i * 2 * BLOCK + BLOCK, 10 + i);
    check_file_pattern (fd, offset + i * 2 * BLOCK + BLOCK,
                        offset + (i + 1) * 2 * BLOCK, 8);
  }

  memset (bufs, 0, sizeof bufs);
  for (unsigned i = 0; i < N; i++)
    issue (b, OP_PREAD, bufs[i], BLOCK, i * 2 * BLOCK, &io[i]);
  for (unsigned i = 0; i < N; i++) {
    RUN_UNTIL (loop, io[i].done, 10000);
    ck_assert_int_eq (io[i].err, 0);
    fill_pattern (want, BLOCK, offset + i * 2 * BLOCK, 10 + i);
    ck_assert (memcmp (bufs[i], want, BLOCK) == 0);
  }

  stop_ok (b);
  close (fd);
}
END_TEST

/* Killing nbdkit fails requests in flight and later ones with EIO at
 * once, and leaves another backend working. */
START_TEST (test_nbdkit_killed)
{
  enum { N = 64, BLOCK = 4096 };
  char path_a[256], path_b[256];
  int fd_a = create_file ("kill-a.img", 1 * MiB, 11, path_a, sizeof path_a);
  int fd_b = create_file ("kill-b.img", 1 * MiB, 12, path_b, sizeof path_b);
  struct backend_config config_a = make_config (fd_a, 0, 1 * MiB, 2);
  struct backend_config config_b = make_config (fd_b, 0, 1 * MiB, 2);
  struct backend *a = start_ok (&config_a);
  struct backend *b = start_ok (&config_b);
  static uint8_t bufs[N][BLOCK];
  uint8_t buf[BLOCK];
  struct io io[N], later;
  pid_t pid_a = backend_pid (a);
  uint64_t t0;

  /* Freeze nbdkit so that every request is surely in flight.  nbdkit
   * is our child: waitid reports the stop once every thread stopped. */
  ck_assert_int_eq (kill (pid_a, SIGSTOP), 0);
  ck_assert_int_eq (waitid (P_PID, pid_a, &(siginfo_t) { 0 }, WSTOPPED), 0);
  for (unsigned i = 0; i < N; i++)
    issue (a, OP_PREAD, bufs[i], BLOCK, i * BLOCK, &io[i]);
  for (unsigned i = 0; i < 10; i++)
    uv_run (loop, UV_RUN_NOWAIT);
  for (unsigned i = 0; i < N; i++)
    ck_assert_msg (!io[i].done, "request %u finished while nbdkit was "
                   "stopped: %s", i, strerror (io[i].err));

  t0 = uv_hrtime ();
  ck_assert_int_eq (kill (pid_a, SIGKILL), 0);
  for (unsigned i = 0; i < N; i++) {
    RUN_UNTIL (loop, io[i].done, 5000);
    ck_assert_msg (io[i].err == EIO, "request %u: %s", i,
                   strerror (io[i].err));
  }
  ck_assert_msg (uv_hrtime () - t0 < 2000000000ull,
                 "in-flight requests took %llu ms to fail",
                 (unsigned long long) (uv_hrtime () - t0) / 1000000);

  /* Later requests fail too, from the loop, never inside the call. */
  issue (a, OP_PREAD, buf, BLOCK, 0, &later);
  ck_assert (!later.done);
  RUN_UNTIL (loop, later.done, 1000);
  ck_assert_int_eq (later.err, EIO);
  issue (a, OP_FLUSH, NULL, 0, 0, &later);
  RUN_UNTIL (loop, later.done, 1000);
  ck_assert_int_eq (later.err, EIO);

  /* The other backend is unaffected. */
  ck_assert_int_eq (do_io (b, OP_PREAD, buf, BLOCK, 8192), 0);
  {
    uint8_t want[BLOCK];

    fill_pattern (want, BLOCK, 8192, 12);
    ck_assert (memcmp (buf, want, BLOCK) == 0);
  }

  stop_ok (a);
  stop_ok (b);
  close (fd_a);
  close (fd_b);
}
END_TEST

/* Stop lets requests in flight finish, fails later ones, and leaves
 * no process and no socket behind. */
START_TEST (test_stop)
{
  enum { N = 16, BLOCK = 4096 };
  char path[256], socket_path[256], proc_path[64];
  int fd = create_file ("stop.img", 1 * MiB, 13, path, sizeof path);
  struct backend_config config = make_config (fd, 0, 1 * MiB, 2);
  struct backend *b = start_ok (&config);
  static uint8_t bufs[N][BLOCK];
  struct io io[N], late;
  pid_t pid = backend_pid (b);
  bool stopped = false;
  struct stat st;

  snprintf (socket_path, sizeof socket_path, "%s", backend_socket_path (b));
  ck_assert_int_eq (stat (socket_path, &st), 0);
  ck_assert (S_ISSOCK (st.st_mode));

  for (unsigned i = 0; i < N; i++) {
    fill_pattern (bufs[i], BLOCK, i * BLOCK, 14);
    issue (b, OP_PWRITE, bufs[i], BLOCK, i * BLOCK, &io[i]);
  }
  backend_stop (b, on_stopped, &stopped);
  issue (b, OP_PREAD, bufs[0], BLOCK, 0, &late);
  ck_assert (!late.done);
  RUN_UNTIL (loop, stopped, 10000);
  untrack_pid (pid);

  for (unsigned i = 0; i < N; i++) {
    ck_assert (io[i].done);
    ck_assert_int_eq (io[i].err, 0);
  }
  ck_assert (late.done);
  ck_assert_int_eq (late.err, EIO);
  check_file_pattern (fd, 0, N * BLOCK, 14);

  snprintf (proc_path, sizeof proc_path, "/proc/%ld", (long) pid);
  ck_assert (stat (proc_path, &st) == -1 && errno == ENOENT);
  ck_assert (stat (socket_path, &st) == -1 && errno == ENOENT);
  close (fd);
}
END_TEST

/* An nbdkit that does not react to SIGTERM (here: a stopped one) gets
 * SIGKILL after a second, and the stop still completes. */
START_TEST (test_stop_escalates)
{
  char path[256];
  int fd = create_file ("hung.img", 1 * MiB, 22, path, sizeof path);
  struct backend_config config = make_config (fd, 0, 1 * MiB, 2);
  struct backend *b = start_ok (&config);
  pid_t pid = backend_pid (b);
  uint64_t t0, ms;

  ck_assert_int_eq (kill (pid, SIGSTOP), 0);
  ck_assert_int_eq (waitid (P_PID, pid, &(siginfo_t) { 0 }, WSTOPPED), 0);
  t0 = uv_hrtime ();
  stop_ok (b);
  ms = (uv_hrtime () - t0) / 1000000;
  ck_assert_msg (ms >= 900 && ms < 5000, "stop took %llu ms",
                 (unsigned long long) ms);
  close (fd);
}
END_TEST

/* A zero-length export works wherever it starts, even past the end of
 * the file; a window past the end of the file fails to start and
 * leaves nothing behind. */
START_TEST (test_lengths)
{
  char path[256];
  int fd = create_file ("len.img", 1 * MiB, 15, path, sizeof path);
  struct backend_config config = make_config (fd, 2 * MiB, 0, 2);
  struct backend *b = start_ok (&config);
  int err;

  ck_assert_uint_eq (backend_size (b), 0);
  ck_assert_int_eq (do_io (b, OP_PREAD, NULL, 0, 0), 0);
  ck_assert_int_eq (do_io (b, OP_FLUSH, NULL, 0, 0), 0);
  stop_ok (b);

  config = make_config (fd, 1 * MiB, 0, 1);
  b = start_ok (&config);
  ck_assert_uint_eq (backend_size (b), 0);
  stop_ok (b);

  config = make_config (fd, 512 * KiB, 1 * MiB, 1);
  err = start_backend (&config, &b);
  ck_assert_int_eq (err, EIO);
  ck_assert_uint_eq (count_socket_files (), 0);
  /* No nbdkit is left: once the spawner is gone, no child at all. */
  backend_unprepare ();
  ck_assert (waitpid (-1, NULL, WNOHANG) == -1 && errno == ECHILD);
  close (fd);
}
END_TEST

/* Start errors that can be told at once are returned at once. */
START_TEST (test_start_errors)
{
  char path[256];
  int fd = create_file ("err.img", 1 * MiB, 16, path, sizeof path);
  struct backend_config config = make_config (fd, 0, 1 * MiB, 1);
  struct started s = { 0 };

  backend_set_nbdkit_path ("/nonexistent/nbdkit");
  ck_assert_int_eq (backend_start (loop, &config, on_ready, &s), -ENOENT);
  backend_set_nbdkit_path (getenv ("LOOPFS_NBDKIT"));

  config.connections = 0;
  ck_assert_int_eq (backend_start (loop, &config, on_ready, &s), -EINVAL);
  config.connections = 1;
  config.uid = 65534;
  ck_assert_int_eq (backend_start (loop, &config, on_ready, &s), -EINVAL);
  ck_assert (!s.done);
  ck_assert_uint_eq (count_socket_files (), 0);
  close (fd);
}
END_TEST

/* An nbdkit that keeps its listening socket but never answers (here a
 * script that only sleeps): the start fails with EIO at the start
 * timeout instead of waiting for ever, and the process and its socket
 * are gone afterwards. */
START_TEST (test_start_timeout)
{
  char path[256], script[256];
  int fd = create_file ("silent.img", 1 * MiB, 17, path, sizeof path);
  struct backend_config config = make_config (fd, 0, 1 * MiB, 1);
  struct started s = { 0 };
  uint64_t t0;
  FILE *f;

  snprintf (script, sizeof script, "%s/silent-nbdkit", runtime_dir);
  f = fopen (script, "w");
  ck_assert_ptr_nonnull (f);
  fputs ("#!/bin/sh\nexec sleep 60\n", f);
  ck_assert_int_eq (fclose (f), 0);
  ck_assert_int_eq (chmod (script, 0755), 0);

  backend_set_nbdkit_path (script);
  config.start_timeout_ms = 300;
  t0 = uv_hrtime ();
  ck_assert_int_eq (backend_start (loop, &config, on_ready, &s), 0);
  backend_set_nbdkit_path (getenv ("LOOPFS_NBDKIT"));
  RUN_UNTIL (loop, s.done, 10000);
  ck_assert_int_eq (s.err, EIO);
  ck_assert_ptr_null (s.b);
  ck_assert_uint_ge (uv_hrtime () - t0, 250 * 1000000ull);
  ck_assert_uint_eq (count_socket_files (), 0);
  unlink (script);
  close (fd);
}
END_TEST

/* As root: a file owned by 65534 with mode 0600, in a directory only
 * root can search, is served by an nbdkit running as 65534 with no
 * capabilities; the same uid cannot open a root-owned 0600 file. */
START_TEST (test_uid_switch)
{
  char path[256], root_path[256], value[64];
  int fd, root_fd;
  struct backend_config config;
  struct backend *b;
  uint8_t buf[4096];

  if (geteuid () != 0) {
    fprintf (stderr, "test_uid_switch: skipped, not root\n");
    return;
  }

  fd = create_file ("nobody.img", 1 * MiB, 17, path, sizeof path);
  ck_assert_int_eq (fchown (fd, 65534, 65534), 0);
  config = make_config (fd, 4096, 64 * KiB, 2);
  config.uid = 65534;
  config.gid = 65534;
  b = start_ok (&config);

  proc_status_field (backend_pid (b), "Uid:", value, sizeof value);
  ck_assert_str_eq (value, "65534\t65534\t65534\t65534");
  proc_status_field (backend_pid (b), "Gid:", value, sizeof value);
  ck_assert_str_eq (value, "65534\t65534\t65534\t65534");
  proc_status_field (backend_pid (b), "Groups:", value, sizeof value);
  ck_assert_str_eq (value, "");
  check_no_capabilities (backend_pid (b));

  fill_pattern (buf, sizeof buf, 4096 + 8192, 18);
  ck_assert_int_eq (do_io (b, OP_PWRITE, buf, sizeof buf, 8192), 0);
  check_file_pattern (fd, 4096 + 8192, 4096 + 8192 + sizeof buf, 18);
  ck_assert_int_eq (do_io (b, OP_PREAD, buf, sizeof buf, 0), 0);
  check_file_pattern (fd, 0, 4096 + 8192, 17);
  stop_ok (b);

  /* Reopening /proc/self/fd/4 checks nbdkit's own rights. */
  root_fd = create_file ("root-only.img", 1 * MiB, 19, root_path,
                         sizeof root_path);
  config = make_config (root_fd, 0, 64 * KiB, 1);
  config.uid = 65534;
  config.gid = 65534;
  ck_assert_int_eq (start_backend (&config, &b), EIO);

  close (fd);
  close (root_fd);
}
END_TEST

/* As root without a uid change: nbdkit stays uid 0 but has no
 * capabilities, and still serves a root-owned 0600 file. */
START_TEST (test_root_no_capabilities)
{
  char path[256], value[64];
  int fd;
  struct backend_config config;
  struct backend *b;
  uint8_t buf[4096];

  if (geteuid () != 0) {
    fprintf (stderr, "test_root_no_capabilities: skipped, not root\n");
    return;
  }

  fd = create_file ("root.img", 1 * MiB, 20, path, sizeof path);
  config = make_config (fd, 0, 1 * MiB, 1);
  b = start_ok (&config);

  proc_status_field (backend_pid (b), "Uid:", value, sizeof value);
  ck_assert_str_eq (value, "0\t0\t0\t0");
  check_no_capabilities (backend_pid (b));

  fill_pattern (buf, sizeof buf, 65536, 21);
  ck_assert_int_eq (do_io (b, OP_PWRITE, buf, sizeof buf, 65536), 0);
  check_file_pattern (fd, 65536, 65536 + sizeof buf, 21);
  stop_ok (b);
  close (fd);
}
END_TEST

/* Assemble the suite. */
static Suite *
backend_suite (void)
{
  Suite *s = suite_create ("backend");
  TCase *tc = tcase_create ("nbdkit");

  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_set_timeout (tc, 120);
  tcase_add_test (tc, test_read_write);
  tcase_add_test (tc, test_split_requests);
  tcase_add_test (tc, test_read_only);
  tcase_add_test (tc, test_trim_zero_flush);
  tcase_add_test (tc, test_multi_conn_in_flight);
  tcase_add_test (tc, test_nbdkit_killed);
  tcase_add_test (tc, test_stop);
  tcase_add_test (tc, test_stop_escalates);
  tcase_add_test (tc, test_lengths);
  tcase_add_test (tc, test_start_errors);
  tcase_add_test (tc, test_start_timeout);
  tcase_add_test (tc, test_uid_switch);
  tcase_add_test (tc, test_root_no_capabilities);
  suite_add_tcase (s, tc);
  return s;
}

/* Run the suite in a private temporary directory, removed at the end
 * whatever the outcome. */
int
main (void)
{
  int status;

  atexit (kill_live_nbdkits);
  if (getenv ("LOOPFS_NBDKIT"))
    backend_set_nbdkit_path (getenv ("LOOPFS_NBDKIT"));
  status = test_main (backend_suite (), tmpdir);
  backend_set_nbdkit_path (NULL);
  return status;
}
