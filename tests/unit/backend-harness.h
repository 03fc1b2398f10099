/* loopfs tests: driving a backend (nbd-backend/backend.h) from a test's
 * own loop: the file pattern the tests write and check, the callbacks of
 * a start and a stop, and one request issued or waited for.  A test file
 * includes it once; LOOP (set up with test_loop_init and TICK) is the
 * loop every helper here runs. */
#ifndef LOOPFS_TESTS_BACKEND_HARNESS_H
#define LOOPFS_TESTS_BACKEND_HARNESS_H

#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <check.h>
#include <uv.h>

#include "backend.h"
#include "test-loop.h"

static uv_loop_t loop_storage;
static uv_loop_t *loop;
static uv_timer_t tick;

/* Byte I of pattern SEED: differs from byte to byte and from sector to
 * sector, so a shifted or misplaced block shows. */
static inline uint8_t
pattern_byte (uint64_t i, unsigned seed)
{
  return (uint8_t) (seed * 131 + i * 31 + (i >> 9) * 7);
}

/* Fill BUF with pattern SEED as if it started at file offset START. */
static inline void
fill_pattern (void *buf, size_t len, uint64_t start, unsigned seed)
{
  uint8_t *p = buf;

  for (size_t i = 0; i < len; i++)
    p[i] = pattern_byte (start + i, seed);
}

/* Per-test setup: a fresh runtime directory under TMPDIR in
 * RUNTIME_DIR (SIZE bytes), and LOOP with its tick timer. */
static inline void
harness_setup (const char *tmpdir, char *runtime_dir, size_t size)
{
  snprintf (runtime_dir, size, "%s/run-XXXXXX", tmpdir);
  ck_assert_ptr_nonnull (mkdtemp (runtime_dir));
  loop = &loop_storage;
  test_loop_init (loop, &tick);
}

/* Create a file NAME of SIZE bytes and mode MODE in DIR filled with
 * pattern SEED (or sparse when SEED is 0), store its path in PATH
 * unless it is NULL, and return an O_RDWR descriptor. */
static inline int
harness_pattern_file (const char *dir, const char *name, uint64_t size,
                      unsigned seed, mode_t mode, char *path,
                      size_t path_size)
{
  char own[256];
  int fd;

  if (path == NULL) {
    path = own;
    path_size = sizeof own;
  }
  snprintf (path, path_size, "%s/%s", dir, name);
  fd = open (path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  ck_assert_int_ge (fd, 0);
  ck_assert_int_eq (ftruncate (fd, size), 0);
  if (seed) {
    size_t chunk = 1024 * 1024;
    uint8_t *buf = malloc (chunk);

    ck_assert_ptr_nonnull (buf);
    for (uint64_t off = 0; off < size; off += chunk) {
      size_t n = size - off < chunk ? size - off : chunk;

      fill_pattern (buf, n, off, seed);
      ck_assert_int_eq (pwrite (fd, buf, n, off), (ssize_t) n);
    }
    free (buf);
  }
  return fd;
}

/* What backend_start reported. */
struct started {
  bool done;
  int err;
  struct backend *b;
};

/* Ready callback: record the outcome (once). */
static inline void
on_ready (struct backend *b, int err, void *opaque)
{
  struct started *s = opaque;

  ck_assert (!s->done);
  s->done = true;
  s->err = err;
  s->b = b;
}

/* Start a backend for CONFIG and wait for READY; returns the errno it
 * reported, with the backend in *B on success. */
static inline int
harness_start (const struct backend_config *config, struct backend **b)
{
  struct started s = { 0 };

  ck_assert_int_eq (backend_start (loop, config, on_ready, &s), 0);
  RUN_UNTIL (loop, s.done, 30000);
  *b = s.b;
  return s.err;
}

/* Stopped callback. */
static inline void
on_stopped (void *opaque)
{
  *(bool *) opaque = true;
}

enum op { OP_PREAD, OP_PWRITE, OP_FLUSH, OP_TRIM, OP_ZERO };

/* One request of a test. */
struct io {
  bool in_call;         /* set while the backend_* call runs */
  bool done;
  int err;
};

/* I/O callback: must never run inside the backend_* call. */
static inline void
on_io (void *opaque, int err)
{
  struct io *io = opaque;

  ck_assert_msg (!io->in_call, "callback ran inside the call");
  ck_assert (!io->done);
  io->done = true;
  io->err = err;
}

/* Issue one request without waiting for it. */
static inline void
issue (struct backend *b, enum op op, void *buf, uint64_t count,
       uint64_t offset, struct io *io)
{
  io->in_call = true;
  io->done = false;
  switch (op) {
  case OP_PREAD: backend_pread (b, buf, count, offset, on_io, io); break;
  case OP_PWRITE: backend_pwrite (b, buf, count, offset, on_io, io); break;
  case OP_FLUSH: backend_flush (b, on_io, io); break;
  case OP_TRIM: backend_trim (b, count, offset, on_io, io); break;
  case OP_ZERO: backend_zero (b, count, offset, on_io, io); break;
  }
  io->in_call = false;
}

/* Issue one request and wait for its result. */
static inline int
do_io (struct backend *b, enum op op, void *buf, uint64_t count,
       uint64_t offset)
{
  struct io io;

  issue (b, op, buf, count, offset, &io);
  RUN_UNTIL (loop, io.done, 30000);
  return io.err;
}

#endif /* LOOPFS_TESTS_BACKEND_HARNESS_H */
