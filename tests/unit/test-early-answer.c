/* loopfs: a backend with direct I/O answers its start before nbdkit's
 * handshake, once nbdkit's child has checked that the backing file
 * opens with nbdkit's credentials (nbd-backend/backend.c), and the
 * spawner's spare child (nbd-backend/spawner-process.c).
 *
 * nbdkit's start is held at a gate: a stand-in script that waits on a
 * FIFO, then execs the real nbdkit (or exits, for a start that fails).
 * So each test knows that the start was answered, and a request
 * handled, while nbdkit had not started, without timing anything.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

#include "backend-harness.h"
#include "test-main.h"

#define KiB 1024ull
#define MiB (1024ull * KiB)

static char tmpdir[] = "/tmp/loopfs-test-early-answer-XXXXXX";
static char runtime_dir[sizeof tmpdir + 16];
static char gate[sizeof runtime_dir + 8];
static char script[sizeof runtime_dir + 8];

/* Per-test setup: a runtime directory, the gate FIFO, and a loop. */
static void
setup (void)
{
  harness_setup (tmpdir, runtime_dir, sizeof runtime_dir);
  snprintf (gate, sizeof gate, "%s/gate", runtime_dir);
  ck_assert_int_eq (mkfifo (gate, 0600), 0);
  snprintf (script, sizeof script, "%s/nbdkit", runtime_dir);
}

/* Per-test teardown: the backends closed every handle. */
static void
teardown (void)
{
  test_loop_close (loop, &tick);
  backend_set_nbdkit_path (getenv ("LOOPFS_NBDKIT"));
}

/* Use as nbdkit a script that waits for the gate to open, then runs
 * THEN (the real nbdkit with the same arguments, or "exit 1"). */
static void
gated_nbdkit (const char *then)
{
  FILE *f = fopen (script, "w");

  ck_assert_ptr_nonnull (f);
  fprintf (f, "#!/bin/sh\nread go < %s\n%s\n", gate, then);
  ck_assert_int_eq (fclose (f), 0);
  ck_assert_int_eq (chmod (script, 0755), 0);
  backend_set_nbdkit_path (script);
}

/* The real nbdkit, run by the gated script with its arguments. */
static const char *
real_nbdkit (void)
{
  static char line[512];
  const char *nbdkit = getenv ("LOOPFS_NBDKIT");

  snprintf (line, sizeof line, "exec %s \"$@\"", nbdkit ? nbdkit : "nbdkit");
  return line;
}

/* Let the gated script go on: opening the FIFO for writing waits for
 * the script to open it for reading, so the line cannot be lost. */
static void
open_gate (void)
{
  int fd = open (gate, O_WRONLY | O_CLOEXEC);

  ck_assert_int_ge (fd, 0);
  ck_assert_int_eq (write (fd, "go\n", 3), 3);
  close (fd);
}

/* A file NAME of SIZE bytes holding pattern SEED, mode MODE. */
static int
create_file (const char *name, uint64_t size, unsigned seed, mode_t mode)
{
  return harness_pattern_file (tmpdir, name, size, seed, mode, NULL, 0);
}

/* A configuration serving all LENGTH bytes of FD with direct I/O. */
static struct backend_config
direct_config (int fd, uint64_t length)
{
  return (struct backend_config) {
    .fd = fd,
    .direct_io = true,
    .data_fd = fd,
    .length = length,
    .connections = 1,
    .uid = (uid_t) -1,
    .gid = (gid_t) -1,
    .runtime_dir = runtime_dir,
    .name = "early",
  };
}

/* Run the loop for MS milliseconds. */
static void
run_for (unsigned ms)
{
  uint64_t end = uv_hrtime () + ms * 1000000ull;

  while (uv_hrtime () < end)
    uv_run (loop, UV_RUN_ONCE);
}

/* Stop B and wait until it is freed; its nbdkit (or script) is gone. */
static void
stop_ok (struct backend *b)
{
  pid_t pid = backend_pid (b);
  bool stopped = false;

  backend_stop (b, on_stopped, &stopped);
  RUN_UNTIL (loop, stopped, 10000);
  ck_assert_int_eq (kill (pid, 0), -1);
  ck_assert_int_eq (errno, ESRCH);
}

/* The start is answered while nbdkit waits at the gate: reads and
 * writes are served at once, a flush waits for nbdkit and then
 * succeeds. */
START_TEST (test_answer_before_handshake)
{
  int fd = create_file ("early.img", 1 * MiB, 1, 0600);
  struct backend_config config = direct_config (fd, 1 * MiB);
  uint8_t buf[4096], want[4096];
  struct backend *b;
  struct io flush;

  gated_nbdkit (real_nbdkit ());
  ck_assert_int_eq (harness_start (&config, &b), 0);
  ck_assert_uint_eq (backend_size (b), 1 * MiB);

  ck_assert_int_eq (do_io (b, OP_PREAD, buf, sizeof buf, 8192), 0);
  fill_pattern (want, sizeof want, 8192, 1);
  ck_assert (memcmp (buf, want, sizeof buf) == 0);
  fill_pattern (buf, sizeof buf, 0, 2);
  ck_assert_int_eq (do_io (b, OP_PWRITE, buf, sizeof buf, 0), 0);
  ck_assert_int_eq (pread (fd, want, sizeof want, 0), (ssize_t) sizeof want);
  ck_assert (memcmp (buf, want, sizeof buf) == 0);

  ck_assert (backend_can_flush (b));
  issue (b, OP_FLUSH, NULL, 0, 0, &flush);
  run_for (200);
  ck_assert_msg (!flush.done, "a flush finished before nbdkit started");
  open_gate ();
  RUN_UNTIL (loop, flush.done, 30000);
  ck_assert_int_eq (flush.err, 0);
  ck_assert_int_eq (do_io (b, OP_ZERO, NULL, 4096, 4096), 0);
  ck_assert_int_eq (pread (fd, buf, 4096, 4096), 4096);
  for (unsigned i = 0; i < 4096; i++)
    ck_assert_uint_eq (buf[i], 0);
  stop_ok (b);
  close (fd);
}
END_TEST

/* nbdkit fails after the answer: what waited for it fails with EIO,
 * and so does everything after, as when nbdkit dies later. */
START_TEST (test_start_fails_after_answer)
{
  int fd = create_file ("dies.img", 1 * MiB, 3, 0600);
  struct backend_config config = direct_config (fd, 1 * MiB);
  uint8_t buf[4096];
  struct backend *b;
  struct io flush;

  gated_nbdkit ("exit 1");
  ck_assert_int_eq (harness_start (&config, &b), 0);
  issue (b, OP_FLUSH, NULL, 0, 0, &flush);
  open_gate ();
  RUN_UNTIL (loop, flush.done, 30000);
  ck_assert_int_eq (flush.err, EIO);
  ck_assert_int_eq (do_io (b, OP_PREAD, buf, sizeof buf, 0), EIO);
  ck_assert_int_eq (do_io (b, OP_TRIM, NULL, 4096, 0), EIO);
  stop_ok (b);
  close (fd);
}
END_TEST

/* A stop right after the answer, nbdkit still at the gate: what was
 * held fails with EIO, the stop ends the script, and the backend is
 * freed. */
START_TEST (test_stop_while_starting)
{
  int fd = create_file ("stop.img", 1 * MiB, 4, 0600);
  struct backend_config config = direct_config (fd, 1 * MiB);
  struct backend *b;
  struct io trim;

  gated_nbdkit (real_nbdkit ());
  ck_assert_int_eq (harness_start (&config, &b), 0);
  issue (b, OP_TRIM, NULL, 4096, 0, &trim);
  stop_ok (b);
  ck_assert (trim.done);
  ck_assert_int_eq (trim.err, EIO);
  close (fd);
}
END_TEST

/* As root, nbdkit running as 65534: a file that 65534 may not open as
 * the device needs gets no early answer, and nbdkit's own answer is the
 * answer; one it may open is answered early. */
START_TEST (test_open_check)
{
  int fd = create_file ("owned.img", 1 * MiB, 5, 0400);
  int root_fd = create_file ("root.img", 1 * MiB, 6, 0600);
  struct backend_config config;
  struct started s = { 0 };
  struct backend *b;

  if (geteuid () != 0) {
    fprintf (stderr, "test_open_check: skipped, not root\n");
    close (fd);
    close (root_fd);
    return;
  }
  ck_assert_int_eq (fchown (fd, 65534, 65534), 0);
  /* The gated script and its FIFO, for an nbdkit running as 65534. */
  ck_assert_int_eq (chmod (tmpdir, 0711), 0);
  ck_assert_int_eq (chmod (runtime_dir, 0711), 0);
  ck_assert_int_eq (chmod (gate, 0666), 0);

  /* Read-write on a 0400 file: the check says no, so the start waits
   * for nbdkit, which serves it read-only (nbdkit 1.32's file plugin
   * falls back to O_RDONLY). */
  config = direct_config (fd, 1 * MiB);
  config.uid = config.gid = 65534;
  gated_nbdkit (real_nbdkit ());
  ck_assert_int_eq (backend_start (loop, &config, on_ready, &s), 0);
  run_for (300);
  ck_assert_msg (!s.done, "answered before nbdkit started");
  open_gate ();
  RUN_UNTIL (loop, s.done, 30000);
  ck_assert_int_eq (s.err, 0);
  stop_ok (s.b);

  /* Read-only: the check says yes; answered with nbdkit at the gate. */
  config.read_only = true;
  ck_assert_int_eq (harness_start (&config, &b), 0);
  open_gate ();
  ck_assert_int_eq (do_io (b, OP_FLUSH, NULL, 0, 0), 0);
  stop_ok (b);

  /* Root's 0600 file: 65534 cannot even read it, and nbdkit refuses. */
  backend_set_nbdkit_path (getenv ("LOOPFS_NBDKIT"));
  config = direct_config (root_fd, 1 * MiB);
  config.uid = config.gid = 65534;
  config.read_only = true;
  ck_assert_int_eq (harness_start (&config, &b), EIO);
  close (fd);
  close (root_fd);
}
END_TEST

/* Our children named loopfs-spawner (the spawner and its spare),
 * newest first in PIDS; returns how many. */
static int
spawner_children (pid_t *pids, unsigned long long *starts, int max)
{
  DIR *dir = opendir ("/proc");
  struct dirent *e;
  int n = 0;

  ck_assert_ptr_nonnull (dir);
  while ((e = readdir (dir)) != NULL && n < max) {
    char path[300], stat[512], *p;
    unsigned long long start;
    int ppid, fd;
    ssize_t len;

    if (e->d_name[0] < '0' || e->d_name[0] > '9')
      continue;
    snprintf (path, sizeof path, "/proc/%s/stat", e->d_name);
    fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      continue;
    len = read (fd, stat, sizeof stat - 1);
    close (fd);
    if (len <= 0)
      continue;
    stat[len] = '\0';
    if (strstr (stat, "(loopfs-spawner) S ") == NULL)
      continue;
    p = strrchr (stat, ')') + 4;
    if (sscanf (p, "%d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d "
                "%*d %*d %*d %*d %llu", &ppid, &start) != 2 ||
        ppid != getpid ())
      continue;
    pids[n] = atoi (e->d_name);
    starts[n++] = start;
  }
  closedir (dir);
  if (n == 2 && (starts[1] > starts[0] ||
                 (starts[1] == starts[0] && pids[1] > pids[0]))) {
    pid_t t = pids[0];

    pids[0] = pids[1];
    pids[1] = t;
  }
  return n;
}

/* A spare killed before its request: the next start still works, on a
 * child cloned for it, and once the spawner is gone no child at all is
 * left (the daemon reaped the dead spare too). */
START_TEST (test_spare_killed)
{
  int fd = create_file ("spare.img", 1 * MiB, 7, 0600);
  struct backend_config config = direct_config (fd, 1 * MiB);
  uint64_t deadline = uv_hrtime () + 10000000000ull;
  unsigned long long starts[4];
  pid_t pids[4];
  struct backend *b;

  ck_assert_int_eq (backend_prepare (), 0);
  while (spawner_children (pids, starts, 4) != 2) {
    ck_assert_msg (uv_hrtime () < deadline, "no spawner and spare");
    usleep (10000);
  }
  ck_assert_int_eq (kill (pids[0], SIGKILL), 0);
  /* Wait until it is dead (a zombie nobody reaped yet): one dying while
   * it is handed a request makes that start fail, like an nbdkit dying
   * at its start. */
  ck_assert_int_eq (waitid (P_PID, pids[0], &(siginfo_t) { 0 },
                            WEXITED | WNOWAIT), 0);

  ck_assert_int_eq (harness_start (&config, &b), 0);
  ck_assert_int_eq (do_io (b, OP_FLUSH, NULL, 0, 0), 0);
  stop_ok (b);
  backend_unprepare ();
  ck_assert (waitpid (-1, NULL, WNOHANG) == -1 && errno == ECHILD);
  close (fd);
}
END_TEST

/* Assemble the suite. */
static Suite *
early_answer_suite (void)
{
  Suite *s = suite_create ("early-answer");
  TCase *tc = tcase_create ("early-answer");

  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_set_timeout (tc, 60);
  tcase_add_test (tc, test_answer_before_handshake);
  tcase_add_test (tc, test_start_fails_after_answer);
  tcase_add_test (tc, test_stop_while_starting);
  tcase_add_test (tc, test_open_check);
  tcase_add_test (tc, test_spare_killed);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  if (getenv ("LOOPFS_NBDKIT"))
    backend_set_nbdkit_path (getenv ("LOOPFS_NBDKIT"));
  return test_main (early_answer_suite (), tmpdir);
}
