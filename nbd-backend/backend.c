/* loopfs nbd-backend: one nbdkit process and its libnbd connections.
 *
 * Life of a backend:
 *
 *   STARTING  nbdkit forked, connection 0 doing the handshake; once it
 *             is ready, the server allows multi-conn and reads and
 *             writes go to nbdkit (no direct I/O, direct-io.h), the
 *             other connections are opened.  When all are ready: RUNNING and
 *             READY (0).  Any failure, or no READY within the start
 *             timeout: STOPPING, then READY (EIO).
 *   RUNNING   reads and writes that direct I/O serves are done by
 *             the daemon itself; other transfers of 64 KiB or more go
 *             round-robin over the connections, smaller requests use
 *             the first one.
 *   DEAD      nbdkit exited or a connection broke: every connection is
 *             closed (requests in flight fail with EIO) and every new
 *             request fails with EIO.
 *   STOPPING  connections say goodbye once idle, then nbdkit gets
 *             SIGTERM (SIGKILL after a grace period) and is reaped,
 *             then the libuv handles are closed and the backend freed.
 *
 * Answering before the handshake: with direct I/O the daemon itself
 * reads and writes the file, so a bind need not wait for nbdkit to
 * start (several milliseconds, most of an attach: bench/README.md).
 * What nbdkit decides at its start is whether the file opens with its
 * credentials (nbdkit runs as the file's owner, who may not open what
 * the caller could).  So the child checks exactly that before its exec
 * (nbdkit-child.c), and when the answer is yes READY is called with 0
 * at once: the backend is "answered" while still STARTING.  Reads and
 * writes go to direct I/O; flushes, trims and zeroing are held until
 * the handshake and sent then.  A start that fails after the answer
 * (nbdkit died, refused the window, timed out) makes the backend DEAD
 * like a later death, and what was held fails with EIO.  When the
 * check says no, or without direct I/O, READY waits for the handshake
 * as before, so nbdkit's own refusal stays the answer.
 *
 * Every result reaches its caller through the completion queue, so no
 * callback ever runs inside the caller's own call.
 */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend-log.h"
#include "backend-state.h"
#include "nbdkit-spawner.h"

/* How long nbdkit may take to exit after SIGTERM. */
#define KILL_TIMEOUT_MS 1000

/* How long a start may take, from the fork to the last connection's
 * handshake, unless the config says otherwise.  Starting takes well
 * under a second, a few seconds in a loaded TCG guest; a start that
 * has not finished by then never will (an nbdkit stuck before its
 * greeting), and the ioctl waiting for it must not wait for ever. */
#define START_TIMEOUT_MS 30000

static char *nbdkit_program;

static void continue_stop (struct backend *b);

/* Fork the process that starts nbdkit, now. */
int
backend_prepare (void)
{
  return nbdkit_spawner_start ();
}

/* End the process that starts nbdkit. */
void
backend_unprepare (void)
{
  nbdkit_spawner_stop ();
}

/* Choose the nbdkit binary for later backends. */
void
backend_set_nbdkit_path (const char *path)
{
  char *copy = path ? strdup (path) : NULL;

  if (path && copy == NULL)
    return;
  free (nbdkit_program);
  nbdkit_program = copy;
}

/* Free B once every libuv handle is closed: deliver what is still
 * queued, release nbdkit's pidfd and socket, then tell the owner. */
static void
finish_free (struct backend *b)
{
  backend_ready_cb ready = b->start_err ? b->ready : NULL;
  void *ready_opaque = b->ready_opaque;
  backend_stopped_cb stopped = b->stopped;
  void *stopped_opaque = b->stopped_opaque;
  int start_err = b->start_err;

  while (!completion_queue_empty (&b->done))
    completion_queue_run (&b->done);
  direct_io_close (&b->direct);
  nbdkit_process_release (&b->proc);
  free (b->conns);
  free (b->name);
  free (b);

  if (ready)
    ready (NULL, start_err, ready_opaque);
  else if (stopped)
    stopped (stopped_opaque);
}

/* One libuv handle (or connection) of B has closed. */
static void
handle_closed (struct backend *b)
{
  if (--b->open_handles == 0)
    finish_free (b);
}

/* Close callback of the backend's own handles. */
static void
on_handle_closed (uv_handle_t *handle)
{
  handle_closed (handle->data);
}

/* Stop waiting for the open check's answer.  Once backend_start has
 * returned, the report descriptor is open exactly while REPORT_POLL
 * watches it. */
static void
close_report (struct backend *b)
{
  if (b->proc.report_fd < 0)
    return;
  uv_poll_stop (&b->report_poll);
  close (b->proc.report_fd);
  b->proc.report_fd = -1;
  uv_close ((uv_handle_t *) &b->report_poll, on_handle_closed);
}

/* The child answered the open check (or died before it could): when
 * the file opens as nbdkit will open it, answer the start now. */
static void
on_report (uv_poll_t *poll, int status, int events)
{
  struct backend *b = poll->data;
  int32_t answer = -1;
  ssize_t n;

  (void) status;
  (void) events;
  n = recv (b->proc.report_fd, &answer, sizeof answer, MSG_DONTWAIT);
  if (n == -1 && (errno == EAGAIN || errno == EINTR))
    return;
  close_report (b);
  if (n == (ssize_t) sizeof answer && answer == 0 &&
      b->state == BACKEND_STARTING && !b->answered) {
    b->answered = true;
    b->ready (b, 0, b->ready_opaque);
  }
}

/* Wait for the open check's answer, when nbdkit was asked for one and
 * direct I/O will serve reads and writes; else never answer early. */
static void
watch_report (struct backend *b)
{
  if (b->proc.report_fd < 0)
    return;
  if (b->direct.fd < 0 ||
      uv_poll_init (b->loop, &b->report_poll, b->proc.report_fd) < 0) {
    close (b->proc.report_fd);
    b->proc.report_fd = -1;
    return;
  }
  b->report_poll.data = b;
  b->open_handles++;
  uv_poll_start (&b->report_poll, UV_READABLE, on_report);
}

/* Close every connection of B at once; requests in flight fail. */
static void
close_connections (struct backend *b)
{
  for (unsigned i = 0; i < b->n_conns; i++) {
    struct connection *c = b->conns[i];

    if (c) {
      b->conns[i] = NULL;
      connection_close (c);
    }
  }
}

/* The backend can no longer serve: fail everything from now on. */
static void
mark_dead (struct backend *b)
{
  b->state = BACKEND_DEAD;
  close_connections (b);
}

/* Starting failed with ERR: tear down, and report ERR through READY
 * once everything is gone; after an early answer, go DEAD instead. */
static void
start_failed (struct backend *b, int err)
{
  if (b->state != BACKEND_STARTING)
    return;
  if (b->answered) {
    backend_log (b->name, "nbdkit (pid %ld) did not start; the device "
                 "fails every request from now on", (long) b->proc.pid);
    uv_timer_stop (&b->timer);
    mark_dead (b);
    backend_release_held (b);
    return;
  }
  b->start_err = err;
  b->state = BACKEND_STOPPING;
  uv_timer_stop (&b->timer);
  close_connections (b);
  continue_stop (b);
}

/* Nbdkit did not exit within the grace period after SIGTERM. */
static void
on_kill_timer (uv_timer_t *timer)
{
  struct backend *b = timer->data;
  int r;

  backend_log (b->name, "nbdkit (pid %ld) ignored SIGTERM, sending SIGKILL",
               (long) b->proc.pid);
  r = nbdkit_process_kill (&b->proc, SIGKILL);
  if (r < 0 && r != -ESRCH)
    backend_log (b->name, "pidfd_send_signal: %s", strerror (-r));
}

/* Drive STOPPING forward: wait for the connections to go, then for
 * nbdkit to exit and the direct I/O on the thread pool to finish, then
 * close the handles. */
static void
continue_stop (struct backend *b)
{
  int r;

  if (b->state != BACKEND_STOPPING || b->closing)
    return;

  for (unsigned i = 0; i < b->n_conns; i++)
    if (b->conns[i])
      return;

  if (!b->exited) {
    if (!b->terminating) {
      b->terminating = true;
      r = nbdkit_process_kill (&b->proc, SIGTERM);
      if (r < 0 && r != -ESRCH)
        backend_log (b->name, "pidfd_send_signal: %s", strerror (-r));
      uv_timer_start (&b->timer, on_kill_timer, KILL_TIMEOUT_MS, 0);
    }
    return;
  }
  if (b->direct.in_flight)
    return;

  b->closing = true;
  close_report (b);
  uv_timer_stop (&b->timer);
  uv_close ((uv_handle_t *) &b->timer, on_handle_closed);
  uv_close ((uv_handle_t *) &b->exit_poll, on_handle_closed);
  completion_queue_close (&b->done, on_handle_closed);
}

/* Nbdkit's pidfd is readable: it has exited.  Reap it and react
 * according to the state. */
static void
on_exit_poll (uv_poll_t *poll, int status, int events)
{
  struct backend *b = poll->data;
  char desc[64] = "exited";
  int r;

  (void) status;
  (void) events;
  r = nbdkit_process_reap (&b->proc, desc, sizeof desc);
  if (r == 0)
    return;
  if (r < 0)
    backend_log (b->name, "waitid: %s", strerror (-r));

  b->exited = true;
  uv_poll_stop (&b->exit_poll);
  uv_timer_stop (&b->timer);
  if (!b->terminating)
    backend_log (b->name, "nbdkit (pid %ld) %s", (long) b->proc.pid, desc);

  switch (b->state) {
  case BACKEND_STARTING:
    start_failed (b, EIO);
    break;
  case BACKEND_RUNNING:
    mark_dead (b);
    break;
  case BACKEND_DEAD:
    break;
  case BACKEND_STOPPING:
    close_connections (b);
    continue_stop (b);
    break;
  }
}

/* The start took too long. */
static void
on_start_timeout (uv_timer_t *timer)
{
  struct backend *b = timer->data;

  if (b->state != BACKEND_STARTING)
    return;
  backend_log (b->name, "nbdkit (pid %ld) has not answered within %u ms; "
               "giving up", (long) b->proc.pid, b->start_timeout_ms);
  start_failed (b, EIO);
}

static int open_connection (struct backend *b, unsigned i);

/* The last direct request on the thread pool finished: a stop may
 * have been waiting for it. */
static void
direct_drained (void *opaque)
{
  continue_stop (opaque);
}

/* A connection finished its handshake.  The first one tells what the
 * export is and how many connections it allows; when all are ready the
 * backend runs. */
static void
on_connection_ready (struct connection *c, void *opaque)
{
  struct backend *b = opaque;
  int r;

  if (b->state != BACKEND_STARTING)
    return;

  if (b->n_ready++ == 0) {
    r = connection_get_export (c, &b->export);
    if (r < 0) {
      start_failed (b, EIO);
      return;
    }
    b->have_export = true;
    if (b->export.size != b->length) {
      backend_log (b->name, "nbdkit serves %llu bytes, expected %llu",
                   (unsigned long long) b->export.size,
                   (unsigned long long) b->length);
      start_failed (b, EIO);
      return;
    }
    b->max_rw = MAX_RW_REQUEST;
    if (b->export.max_payload && b->export.max_payload < b->max_rw)
      b->max_rw = b->export.max_payload;
    /* With direct I/O nbdkit sees only flushes, trims and zeroing:
     * one connection serves them, and each more would cost nbdkit
     * three threads and a handshake on every attach. */
    b->wanted_conns = b->export.can_multi_conn && b->direct.fd < 0
      ? b->max_conns : 1;
    for (unsigned i = 1; i < b->wanted_conns; i++) {
      r = open_connection (b, i);
      if (r < 0) {
        backend_log (b->name, "connecting to nbdkit: %s", strerror (-r));
        start_failed (b, EIO);
        return;
      }
    }
  }

  if (b->n_ready == b->wanted_conns) {
    b->state = BACKEND_RUNNING;
    uv_timer_stop (&b->timer);
    if (b->answered)
      backend_release_held (b);
    else
      b->ready (b, 0, b->ready_opaque);
  }
}

/* A connection died, or closed after a clean disconnect. */
static void
on_connection_down (struct connection *c, int err, void *opaque)
{
  struct backend *b = opaque;

  switch (b->state) {
  case BACKEND_STARTING:
    start_failed (b, EIO);
    break;
  case BACKEND_RUNNING:
    backend_log (b->name, "lost a connection to nbdkit: %s", strerror (err));
    mark_dead (b);
    break;
  case BACKEND_DEAD:
    break;
  case BACKEND_STOPPING:
    for (unsigned i = 0; i < b->n_conns; i++)
      if (b->conns[i] == c)
        b->conns[i] = NULL;
    connection_close (c);
    continue_stop (b);
    break;
  }
}

/* A connection was freed. */
static void
on_connection_closed (void *opaque)
{
  handle_closed (opaque);
}

static const struct connection_ops connection_ops = {
  .ready = on_connection_ready,
  .down = on_connection_down,
  .closed = on_connection_closed,
};

/* Open connection number I to nbdkit. */
static int
open_connection (struct backend *b, unsigned i)
{
  char label[64];
  int r;

  snprintf (label, sizeof label, "%s/%u", b->name, i);
  r = connection_open (b->loop, b->proc.socket_path, label, &b->done,
                       &connection_ops, b, &b->conns[i]);
  if (r < 0)
    return r;
  b->open_handles++;
  b->n_conns = i + 1;
  return 0;
}

/* Start nbdkit and the first connection.  Failures before the fork
 * are returned; later ones are logged and reported through READY as
 * EIO (nbdkit refused the window, could not open the file, died...). */
int
backend_start (uv_loop_t *loop, const struct backend_config *config,
               backend_ready_cb ready, void *opaque)
{
  struct backend *b;
  int r;

  if (loop == NULL || config == NULL || ready == NULL || config->fd < 0 ||
      config->connections == 0 || config->runtime_dir == NULL)
    return -EINVAL;

  b = calloc (1, sizeof *b);
  if (b == NULL)
    return -ENOMEM;
  b->loop = loop;
  b->state = BACKEND_STARTING;
  b->length = config->length;
  b->max_conns = config->connections;
  b->wanted_conns = 1;
  b->ready = ready;
  b->ready_opaque = opaque;
  b->proc.pidfd = -1;
  b->proc.report_fd = -1;
  b->direct.fd = -1;
  b->name = strdup (config->name ? config->name : "nbd");
  b->conns = calloc (config->connections, sizeof *b->conns);
  if (b->name == NULL || b->conns == NULL) {
    r = -ENOMEM;
    goto err;
  }

  r = nbdkit_process_spawn (nbdkit_program ? nbdkit_program : "nbdkit",
                            config, &b->proc);
  if (r < 0)
    goto err;

  r = uv_poll_init (loop, &b->exit_poll, b->proc.pidfd);
  if (r < 0) {
    /* Nothing can watch the child: end it before failing. */
    nbdkit_process_kill (&b->proc, SIGKILL);
    waitpid (b->proc.pid, NULL, 0);
    nbdkit_process_release (&b->proc);
    goto err;
  }
  b->exit_poll.data = b;
  uv_poll_start (&b->exit_poll, UV_READABLE, on_exit_poll);
  uv_timer_init (loop, &b->timer);
  b->timer.data = b;
  b->start_timeout_ms = config->start_timeout_ms ? config->start_timeout_ms
    : START_TIMEOUT_MS;
  uv_timer_start (&b->timer, on_start_timeout, b->start_timeout_ms, 0);
  completion_queue_init (loop, &b->done);
  b->done.idle.data = b;
  b->open_handles = 3;
  r = direct_io_init (&b->direct, loop,
                      config->direct_io ? config->data_fd : -1,
                      config->read_only, config->offset, &b->done,
                      direct_drained, b);
  if (r < 0)
    backend_log (b->name, "direct I/O: %s; serving through nbdkit only",
                 strerror (-r));

  watch_report (b);

  r = open_connection (b, 0);
  if (r < 0) {
    backend_log (b->name, "connecting to nbdkit: %s", strerror (-r));
    start_failed (b, EIO);
  }
  return 0;

 err:
  free (b->conns);
  free (b->name);
  free (b);
  return r;
}

/* The export size from the handshake (the size asked for, before it). */
uint64_t
backend_size (const struct backend *b)
{
  return b->have_export ? b->export.size : b->length;
}

/* The descriptor of direct I/O, or -1. */
int
backend_direct_fd (const struct backend *b)
{
  return b->direct.fd;
}

/* Nbdkit's pid (it stays valid as a number after nbdkit exits). */
pid_t
backend_pid (const struct backend *b)
{
  return b->proc.pid;
}

/* Nbdkit's listening socket. */
const char *
backend_socket_path (const struct backend *b)
{
  return b->proc.socket_path;
}

/* Begin stopping: disconnect each connection once idle; continue_stop
 * does the rest as events arrive. */
void
backend_stop (struct backend *b, backend_stopped_cb stopped, void *opaque)
{
  enum backend_state prev = b->state;

  if (prev == BACKEND_STOPPING)
    return;
  b->stopped = stopped;
  b->stopped_opaque = opaque;
  b->state = BACKEND_STOPPING;
  if (prev == BACKEND_RUNNING)
    for (unsigned i = 0; i < b->n_conns; i++)
      if (b->conns[i])
        connection_shutdown (b->conns[i]);
  if (prev == BACKEND_STARTING) {
    /* Nothing was sent yet: abandon the handshakes. */
    uv_timer_stop (&b->timer);
    close_connections (b);
  }
  backend_release_held (b);
  continue_stop (b);
}
