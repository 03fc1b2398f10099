/* loopfs nbd-backend: one asynchronous libnbd connection on libuv. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <libnbd.h>

#include "backend-log.h"
#include "cleanup.h"
#include "connection.h"

struct connection {
  uv_poll_t poll;               /* on the socket; data points back here */
  struct nbd_handle *nbd;       /* NULL once closed */
  char *name;                   /* for log messages */
  struct request_list in_flight;
  size_t n_in_flight;
  int events;                   /* what the poll handle waits for now */
  struct completion_queue *done;
  const struct connection_ops *ops;
  void *opaque;
  bool ready;                   /* READY was reported */
  bool shutting_down;           /* disconnect once idle */
  bool failed;                  /* the poll handle reported an error */
  bool down;                    /* DOWN was reported */
};

/* Log libnbd's last error (which names the failed call) on C; WHAT
 * stands in when libnbd has no message. */
static void
log_nbd_error (const struct connection *c, const char *what)
{
  const char *msg = nbd_get_error ();

  if (msg)
    backend_log (c->name, "%s", msg);
  else
    backend_log (c->name, "%s failed", what);
}

/* Take REQ off C's in-flight list and queue its result. */
static void
finish_request (struct connection *c, struct request *req, int err)
{
  request_list_remove (&c->in_flight, req);
  c->n_in_flight--;
  completion_queue_push (c->done, req, err);
}

/* libnbd completion callback, called with the handle lock held: only
 * record the result.  ENOTCONN is libnbd's way of saying the
 * connection died under the command, which callers see as EIO.
 * Returning 1 retires the command. */
static int
on_command_complete (void *user_data, int *error)
{
  struct request *req = user_data;
  int err = *error == ENOTCONN ? EIO : *error;

  finish_request (req->conn, req, err);
  return 1;
}

static void on_poll (uv_poll_t *poll, int status, int events);

/* Make the poll handle wait for what libnbd wants next. */
static void
update_poll (struct connection *c)
{
  unsigned dir = nbd_aio_get_direction (c->nbd);
  int events = 0;

  if (dir & LIBNBD_AIO_DIRECTION_READ)
    events |= UV_READABLE;
  if (dir & LIBNBD_AIO_DIRECTION_WRITE)
    events |= UV_WRITABLE;
  if (events == c->events)
    return;
  c->events = events;
  if (events == 0)
    uv_poll_stop (&c->poll);
  else
    uv_poll_start (&c->poll, events, on_poll);
}

/* Report C as down with ERR.  This is the last thing a call into the
 * connection does, because the owner may close C from inside. */
static void
report_down (struct connection *c, int err)
{
  c->down = true;
  uv_poll_stop (&c->poll);
  c->ops->down (c, err, c->opaque);
}

/* After every libnbd call: finish a shutdown once C is idle, report
 * death or readiness, and re-arm the poll handle.  Reporting is the
 * last step because the owner may close C from inside the callback. */
static void
progress (struct connection *c)
{
  if (c->nbd == NULL || c->down)
    return;

  if (c->failed || nbd_aio_is_dead (c->nbd) || nbd_aio_is_closed (c->nbd)) {
    report_down (c, EIO);
    return;
  }

  if (c->shutting_down && c->n_in_flight == 0) {
    /* Say goodbye (NBD_CMD_DISC is one small write that normally
     * leaves at once) but do not wait for nbdkit to close its end: a
     * hung nbdkit must not hold up the stop. */
    if (nbd_aio_is_ready (c->nbd) && nbd_aio_disconnect (c->nbd, 0) == -1)
      log_nbd_error (c, "nbd_aio_disconnect");
    report_down (c, 0);
    return;
  }

  update_poll (c);

  if (!c->ready && nbd_aio_is_ready (c->nbd)) {
    c->ready = true;
    c->ops->ready (c, c->opaque);
  }
}

/* The socket is readable or writable: let libnbd make progress.  When
 * both are set only the read is notified, as libnbd recommends, since
 * the reply may change what it wants to write. */
static void
on_poll (uv_poll_t *poll, int status, int events)
{
  struct connection *c = poll->data;

  if (status < 0) {
    /* libuv reports POLLERR (e.g. a reset by a killed nbdkit) as
     * UV_EBADF and stops the handle.  Let libnbd read the real error;
     * if that does not kill the handle, give up on it ourselves. */
    if (nbd_aio_notify_read (c->nbd) == -1)
      log_nbd_error (c, "nbd_aio_notify_read");
    if (!nbd_aio_is_dead (c->nbd) && !nbd_aio_is_closed (c->nbd)) {
      backend_log (c->name, "poll: %s", uv_strerror (status));
      c->failed = true;
    }
  }
  else if (events & UV_READABLE) {
    if (nbd_aio_notify_read (c->nbd) == -1)
      log_nbd_error (c, "nbd_aio_notify_read");
  }
  else if (events & UV_WRITABLE) {
    /* The first event after connection_open may be a writable socket
     * that libnbd did not ask for (see connection_open_socket). */
    if ((nbd_aio_get_direction (c->nbd) & LIBNBD_AIO_DIRECTION_WRITE)
        && nbd_aio_notify_write (c->nbd) == -1)
      log_nbd_error (c, "nbd_aio_notify_write");
  }
  progress (c);
}

/* Create a non-blocking Unix socket connected to PATH.  Connecting to
 * a listening socket succeeds as soon as the connection is queued in
 * its backlog, even before nbdkit calls accept. */
static int
connect_unix (const char *path)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  CLEANUP_CLOSE int fd = -1;

  if (strlen (path) >= sizeof addr.sun_path)
    return -ENAMETOOLONG;
  strcpy (addr.sun_path, path);

  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd == -1)
    return -errno;
  if (connect (fd, (struct sockaddr *) &addr, sizeof addr) == -1)
    return -errno;
  return TAKE_FD (fd);
}

/* Free a connection that never got a poll handle. */
static void
free_unpolled (struct connection *c)
{
  if (c->nbd)
    nbd_close (c->nbd);
  free (c->name);
  free (c);
}

/* Hand socket FD to a new libnbd handle and start polling. */
int
connection_open_socket (uv_loop_t *loop, int fd, const char *name,
                        struct completion_queue *done,
                        const struct connection_ops *ops, void *opaque,
                        struct connection **conn_ret)
{
  struct connection *c;
  int r;

  c = calloc (1, sizeof *c);
  if (c == NULL) {
    close (fd);
    return -ENOMEM;
  }
  c->done = done;
  c->ops = ops;
  c->opaque = opaque;
  c->name = strdup (name);
  c->nbd = nbd_create ();
  if (c->name == NULL || c->nbd == NULL) {
    close (fd);
    free_unpolled (c);
    return -ENOMEM;
  }
  /* libnbd zeroes every read buffer first unless told not to (3.7% of
   * the CPU time of 1 MiB reads); a failed read is answered EIO, so
   * its buffer is never looked at. */
  if (nbd_set_handle_name (c->nbd, name) == -1 ||
      nbd_set_pread_initialize (c->nbd, false) == -1 ||
      nbd_aio_connect_socket (c->nbd, fd) == -1) {
    r = nbd_get_errno () ? nbd_get_errno () : EIO;
    log_nbd_error (c, "nbd_aio_connect_socket");
    /* A handshake that failed inside the call has already closed the
     * socket (libnbd owns it once the handle has left the created
     * state); closing it again could close a descriptor another thread
     * has just opened. */
    if (nbd_aio_is_created (c->nbd))
      close (fd);
    free_unpolled (c);
    return -r;
  }

  r = uv_poll_init (loop, &c->poll, nbd_aio_get_fd (c->nbd));
  if (r < 0) {
    free_unpolled (c);
    return r;
  }
  c->poll.data = c;
  /* nbd_aio_connect_socket runs the handshake as far as it can without
   * waiting, and when nbdkit answers as fast as libnbd asks, that is to
   * the end: the handle is then ready (or dead) and waits for nothing
   * it would be woken for.  Readiness is reported from the loop, never
   * from inside this call, so wait once for the socket to be writable,
   * which it is at once, and let on_poll report it. */
  c->events = UV_WRITABLE;
  uv_poll_start (&c->poll, c->events, on_poll);

  *conn_ret = c;
  return 0;
}

/* Connect to SOCKET_PATH and open a connection on the socket. */
int
connection_open (uv_loop_t *loop, const char *socket_path, const char *name,
                 struct completion_queue *done,
                 const struct connection_ops *ops, void *opaque,
                 struct connection **conn_ret)
{
  int fd = connect_unix (socket_path);

  if (fd < 0)
    return fd;
  return connection_open_socket (loop, fd, name, done, ops, opaque, conn_ret);
}

/* Fill EXPORT from what the server advertised. */
int
connection_get_export (struct connection *c, struct connection_export *export)
{
  int64_t size = nbd_get_size (c->nbd);
  int64_t max = nbd_get_block_size (c->nbd, LIBNBD_SIZE_MAXIMUM);
  int ro = nbd_is_read_only (c->nbd);
  int trim = nbd_can_trim (c->nbd);
  int zero = nbd_can_zero (c->nbd);
  int flush = nbd_can_flush (c->nbd);
  int multi = nbd_can_multi_conn (c->nbd);

  if (size < 0 || max < 0 || ro < 0 || trim < 0 || zero < 0 || flush < 0 ||
      multi < 0) {
    log_nbd_error (c, "reading export flags");
    return -EIO;
  }
  export->size = size;
  export->max_payload = max;
  export->read_only = ro;
  export->can_trim = trim;
  export->can_zero = zero;
  export->can_flush = flush;
  export->can_multi_conn = multi;
  return 0;
}

/* Issue REQ with a completion callback that retires it. */
void
connection_submit (struct connection *c, struct request *req)
{
  nbd_completion_callback cb = {
    .callback = on_command_complete,
    .user_data = req,
  };
  int64_t r = -1;

  req->conn = c;
  request_list_append (&c->in_flight, req);
  c->n_in_flight++;

  switch (req->type) {
  case REQUEST_PREAD:
    r = nbd_aio_pread (c->nbd, req->buf, req->count, req->offset, cb, 0);
    break;
  case REQUEST_PWRITE:
    r = nbd_aio_pwrite (c->nbd, req->buf, req->count, req->offset, cb, 0);
    break;
  case REQUEST_FLUSH:
    r = nbd_aio_flush (c->nbd, cb, 0);
    break;
  case REQUEST_TRIM:
    r = nbd_aio_trim (c->nbd, req->count, req->offset, cb, 0);
    break;
  case REQUEST_ZERO:
    r = nbd_aio_zero (c->nbd, req->count, req->offset, cb, 0);
    break;
  }
  if (r == -1) {
    /* libnbd refused the command (strict mode, dead handle): the
     * completion callback will not run, so the result is ours. */
    int err = nbd_get_errno ();

    log_nbd_error (c, "submitting a request");
    finish_request (c, req, err > 0 ? err : EIO);
  }
  progress (c);
}

/* Requests issued and not finished. */
size_t
connection_in_flight (const struct connection *c)
{
  return c->n_in_flight;
}

/* Ask for a clean disconnect as soon as C is idle. */
void
connection_shutdown (struct connection *c)
{
  c->shutting_down = true;
  progress (c);
}

/* Close callback of the poll handle: the connection can go now. */
static void
on_poll_closed (uv_handle_t *handle)
{
  struct connection *c = handle->data;
  const struct connection_ops *ops = c->ops;
  void *opaque = c->opaque;

  free (c->name);
  free (c);
  ops->closed (opaque);
}

/* Stop polling, close the handle (which closes the socket) and fail
 * whatever libnbd still held. */
void
connection_close (struct connection *c)
{
  struct nbd_handle *nbd = c->nbd;
  struct request *req;

  c->down = true;
  uv_close ((uv_handle_t *) &c->poll, on_poll_closed);
  c->nbd = NULL;
  nbd_close (nbd);
  while ((req = c->in_flight.head) != NULL)
    finish_request (c, req, EIO);
}
