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

#include <check.h>
#include <uv.h>

#include "completion-queue.h"
#include "connection.h"
#include "nbd-script.h"
#include "test-loop.h"
#include "test-main.h"

#define EXPORT_SIZE (4u << 20)

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

/* Write everything the server says in a whole handshake with libnbd's
 * default options (structured replies, then NBD_OPT_GO) to the server
 * end of SV, without waiting for what the client sends. */
static void
serve_whole_handshake (int sv[2])
{
  struct bytes script = { .len = 0 };

  put_greeting (&script, FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES);
  put_reply (&script, OPT_STRUCTURED_REPLY, REP_ACK, 0);
  put_info_export (&script, EXPORT_SIZE,
                   TFLAG_HAS_FLAGS | TFLAG_SEND_FLUSH | TFLAG_CAN_MULTI_CONN);
  put_reply (&script, OPT_GO, REP_ACK, 0);
  serve_script (sv, &script, false);
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

  make_pair (sv, SOCK_NONBLOCK);
  serve_whole_handshake (sv);
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

  make_pair (sv, SOCK_NONBLOCK);
  c = open_on (sv[0]);
  for (int i = 0; i < 5; i++)
    uv_run (loop, UV_RUN_ONCE);
  ck_assert (!seen.ready);
  ck_assert (!seen.down);
  serve_whole_handshake (sv);
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

  make_pair (sv, SOCK_NONBLOCK);
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
  return test_main (connection_suite (), NULL);
}
