/* loopfs: unit test of one nbd-backend connection against a scripted
 * server.
 *
 * The server's side of the handshake is written into one end of a
 * socketpair before or after the connection opens on the other end,
 * so the test decides exactly how far libnbd gets inside
 * connection_open: a server that has answered everything in advance
 * lets the whole handshake finish within nbd_aio_connect_socket, as a
 * fast nbdkit sometimes does (once it left a LOOP_SET_FD unanswered).
 */

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <endian.h>

#include <check.h>
#include <uv.h>

#include "completion-queue.h"
#include "connection.h"
#include "test-loop.h"

#define EXPORT_SIZE (4u << 20)

/* NBD protocol numbers (doc/proto.md of the NBD project). */
#define NBD_MAGIC 0x4e42444d41474943ull          /* "NBDMAGIC" */
#define NBD_OPT_MAGIC 0x49484156454F5054ull      /* "IHAVEOPT" */
#define NBD_REP_MAGIC 0x0003e889045565a9ull
#define NBD_FLAG_FIXED_NEWSTYLE 1
#define NBD_FLAG_NO_ZEROES 2
#define NBD_OPT_GO 7
#define NBD_OPT_STRUCTURED_REPLY 8
#define NBD_REP_ACK 1
#define NBD_REP_INFO 3
#define NBD_INFO_EXPORT 0
#define NBD_FLAG_HAS_FLAGS 1
#define NBD_FLAG_SEND_FLUSH 4
#define NBD_FLAG_CAN_MULTI_CONN 256

static uv_loop_t loop_storage;
static uv_loop_t *loop;
static uv_timer_t tick;
static struct completion_queue done;

/* What the connection reported. */
static struct {
  bool in_open;             /* inside connection_open_socket */
  bool ready, ready_in_open;
  bool down;
  int down_err;
  bool closed;
} seen;

static void
on_ready (struct connection *c, void *opaque)
{
  (void) c;
  (void) opaque;
  seen.ready = true;
  seen.ready_in_open = seen.in_open;
}

static void
on_down (struct connection *c, int err, void *opaque)
{
  (void) c;
  (void) opaque;
  seen.down = true;
  seen.down_err = err;
}

static void
on_closed (void *opaque)
{
  (void) opaque;
  seen.closed = true;
}

static const struct connection_ops ops = {
  .ready = on_ready,
  .down = on_down,
  .closed = on_closed,
};

/* Per-test setup: a fresh loop with a tick timer and a queue. */
static void
setup (void)
{
  memset (&seen, 0, sizeof seen);
  loop = &loop_storage;
  test_loop_init (loop, &tick);
  ck_assert_int_eq (completion_queue_init (loop, &done), 0);
}

/* Per-test teardown: every handle must close. */
static void
teardown (void)
{
  completion_queue_close (&done, NULL);
  test_loop_close (loop, &tick);
}

/* Append big-endian integers of 2, 4 or 8 bytes to BUF at *LEN. */
static void
put (uint8_t *buf, size_t *len, uint64_t v, unsigned bytes)
{
  for (unsigned i = 0; i < bytes; i++)
    buf[(*len)++] = v >> (8 * (bytes - 1 - i));
}

/* Append an option reply header to BUF. */
static void
put_reply (uint8_t *buf, size_t *len, uint32_t opt, uint32_t type,
           uint32_t length)
{
  put (buf, len, NBD_REP_MAGIC, 8);
  put (buf, len, opt, 4);
  put (buf, len, type, 4);
  put (buf, len, length, 4);
}

/* Write everything the server says in a whole handshake with libnbd's
 * default options (structured replies, then NBD_OPT_GO) to FD,
 * without waiting for what the client sends. */
static void
write_server_handshake (int fd)
{
  uint8_t buf[256];
  size_t len = 0;

  put (buf, &len, NBD_MAGIC, 8);
  put (buf, &len, NBD_OPT_MAGIC, 8);
  put (buf, &len, NBD_FLAG_FIXED_NEWSTYLE | NBD_FLAG_NO_ZEROES, 2);
  put_reply (buf, &len, NBD_OPT_STRUCTURED_REPLY, NBD_REP_ACK, 0);
  put_reply (buf, &len, NBD_OPT_GO, NBD_REP_INFO, 12);
  put (buf, &len, NBD_INFO_EXPORT, 2);
  put (buf, &len, EXPORT_SIZE, 8);
  put (buf, &len, NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH
       | NBD_FLAG_CAN_MULTI_CONN, 2);
  put_reply (buf, &len, NBD_OPT_GO, NBD_REP_ACK, 0);
  ck_assert_int_eq (write (fd, buf, len), (ssize_t) len);
}

/* Make the socketpair SV: SV[0] is the client's end, SV[1] the
 * server's; non-blocking, as connection_open's socket is. */
static void
make_pair (int sv[2])
{
  ck_assert_int_eq (socketpair (AF_UNIX,
                                SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
                                0, sv), 0);
}

/* Open the connection on CLIENT, noting whether READY came from
 * inside the call. */
static struct connection *
open_on (int client)
{
  struct connection *c = NULL;

  seen.in_open = true;
  ck_assert_int_eq (connection_open_socket (loop, client, "test", &done,
                                            &ops, NULL, &c), 0);
  seen.in_open = false;
  ck_assert_ptr_nonnull (c);
  return c;
}

/* Close C and wait until it is freed. */
static void
close_and_wait (struct connection *c)
{
  connection_close (c);
  RUN_UNTIL (loop, seen.closed, 2000);
}

/* The server has answered the whole handshake before the client
 * starts: libnbd finishes it inside connection_open_socket, and READY
 * still comes, from the loop. */
START_TEST (test_handshake_done_in_open)
{
  struct connection_export e;
  struct connection *c;
  int sv[2];

  make_pair (sv);
  write_server_handshake (sv[1]);
  c = open_on (sv[0]);
  ck_assert (!seen.ready);
  RUN_UNTIL (loop, seen.ready, 2000);
  ck_assert (!seen.ready_in_open);
  ck_assert (!seen.down);
  ck_assert_int_eq (connection_get_export (c, &e), 0);
  ck_assert_uint_eq (e.size, EXPORT_SIZE);
  ck_assert (e.can_multi_conn);
  ck_assert (e.can_flush);
  ck_assert (!e.read_only);
  close_and_wait (c);
  close (sv[1]);
}
END_TEST

/* The server answers only once the client waits: READY comes from the
 * poll handle. */
START_TEST (test_handshake_done_later)
{
  struct connection *c;
  int sv[2];

  make_pair (sv);
  c = open_on (sv[0]);
  for (int i = 0; i < 5; i++)
    uv_run (loop, UV_RUN_ONCE);
  ck_assert (!seen.ready);
  ck_assert (!seen.down);
  write_server_handshake (sv[1]);
  RUN_UNTIL (loop, seen.ready, 2000);
  ck_assert (!seen.down);
  close_and_wait (c);
  close (sv[1]);
}
END_TEST

/* The server sent garbage and hung up before the client started: the
 * handshake fails inside connection_open_socket, which says so, calls
 * nothing back, and leaves the socket closed (its number is free). */
START_TEST (test_fails_in_open)
{
  struct connection *c = NULL;
  int sv[2], reused;

  make_pair (sv);
  ck_assert_int_eq (write (sv[1], "NOT NBD AT ALL!!", 16), 16);
  close (sv[1]);
  seen.in_open = true;
  ck_assert_int_lt (connection_open_socket (loop, sv[0], "test", &done, &ops,
                                            NULL, &c), 0);
  ck_assert_ptr_null (c);
  reused = dup (STDERR_FILENO);
  ck_assert_int_eq (reused, sv[0]);
  for (int i = 0; i < 5; i++)
    uv_run (loop, UV_RUN_ONCE);
  ck_assert (!seen.ready && !seen.down && !seen.closed);
  ck_assert_int_ge (fcntl (reused, F_GETFD), 0);
  close (reused);
}
END_TEST

static Suite *
connection_suite (void)
{
  Suite *s = suite_create ("connection");
  TCase *tc = tcase_create ("handshake");

  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_add_test (tc, test_handshake_done_in_open);
  tcase_add_test (tc, test_handshake_done_later);
  tcase_add_test (tc, test_fails_in_open);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  SRunner *runner = srunner_create (connection_suite ());
  int failed;

  srunner_run_all (runner, CK_NORMAL);
  failed = srunner_ntests_failed (runner);
  srunner_free (runner);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
