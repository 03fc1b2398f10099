/* loopfs nbd-backend: a backend's requests (see backend.h): each read,
 * write, flush, trim or zero goes to direct I/O when that serves it,
 * else to nbdkit over one connection, split and spread over several
 * when it is large. */

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "backend-state.h"
#include "request.h"

/* Allocate a request; a few dozen bytes, so running out of memory here
 * means the daemon cannot go on anyway. */
static struct request *
new_request (enum request_type type, void *buf, uint64_t count,
             uint64_t offset, backend_io_cb cb, void *opaque)
{
  struct request *req = calloc (1, sizeof *req);

  if (req == NULL) {
    fprintf (stderr, "loopfs: nbd-backend: out of memory\n");
    abort ();
  }
  req->type = type;
  req->buf = buf;
  req->count = count;
  req->offset = offset;
  req->cb = cb;
  req->opaque = opaque;
  return req;
}

/* Gather the result of one piece of a split request into its parent,
 * and complete the parent with the first error once all are done. */
static void
on_split_piece_done (void *opaque, int err)
{
  struct request *parent = opaque;

  if (err && !parent->err)
    parent->err = err;
  if (--parent->pending == 0) {
    parent->cb (parent->opaque, parent->err);
    free (parent);
  }
}

/* Requests of at least this many bytes are spread over the
 * connections. */
#define SPREAD_MIN_BYTES (64 * 1024)

/* The connection for a request of COUNT bytes.  Large transfers go
 * round-robin, so that nbdkit copies on several connections at once;
 * small ones stay on the first connection, where one wake-up of nbdkit's
 * reader serves many of them (spreading 4 KiB requests over four
 * connections cost a quarter of the IOPS in bench/run-bench). */
static struct connection *
next_connection (struct backend *b, uint64_t count)
{
  if (count < SPREAD_MIN_BYTES)
    return b->conns[0];
  return b->conns[b->next_conn++ % b->n_conns];
}

/* Send REQ on its way: fail it when the backend cannot serve, hold it
 * while an answered start still waits for nbdkit (backend.c), send it
 * as one command when it fits, else split it into pieces spread over
 * the connections. */
static void
dispatch (struct backend *b, struct request *req)
{
  bool early = b->state == BACKEND_STARTING && b->answered;
  uint64_t max, count = req->count;

  if (b->state != BACKEND_RUNNING && !early) {
    completion_queue_push (&b->done, req, EIO);
    return;
  }
  if (req->type != REQUEST_FLUSH) {
    if (count == 0) {
      completion_queue_push (&b->done, req, 0);
      return;
    }
    if (direct_io_serves (&b->direct, req->type)) {
      direct_io_submit (&b->direct, req);
      return;
    }
  }
  if (early) {
    request_list_append (&b->held, req);
    return;
  }
  if (req->type == REQUEST_FLUSH) {
    connection_submit (next_connection (b, 0), req);
    return;
  }

  max = req->type == REQUEST_PREAD || req->type == REQUEST_PWRITE ?
    b->max_rw : MAX_TRIM_REQUEST;
  if (count <= max) {
    connection_submit (next_connection (b, count), req);
    return;
  }

  req->pending = (count + max - 1) / max;
  for (uint64_t done = 0; done < count; ) {
    uint64_t n = count - done < max ? count - done : max;
    struct request *piece =
      new_request (req->type, req->buf ? (char *) req->buf + done : NULL, n,
                   req->offset + done, on_split_piece_done, req);

    /* A piece may kill the backend; the rest then fail. */
    if (b->state == BACKEND_RUNNING)
      connection_submit (next_connection (b, n), piece);
    else
      completion_queue_push (&b->done, piece, EIO);
    done += n;
  }
}

/* Queue one request. */
static void
submit (struct backend *b, enum request_type type, void *buf, uint64_t count,
        uint64_t offset, backend_io_cb cb, void *opaque)
{
  dispatch (b, new_request (type, buf, count, offset, cb, opaque));
}

/* Send on what waited for the handshake, in order (the backend runs
 * now), or fail it all with EIO (it never will). */
void
backend_release_held (struct backend *b)
{
  struct request *req;

  while ((req = request_list_pop (&b->held)) != NULL)
    dispatch (b, req);
}

/* Read COUNT bytes at OFFSET of the export into BUF. */
void
backend_pread (struct backend *b, void *buf, size_t count, uint64_t offset,
               backend_io_cb cb, void *opaque)
{
  submit (b, REQUEST_PREAD, buf, count, offset, cb, opaque);
}

/* Write COUNT bytes from BUF at OFFSET of the export. */
void
backend_pwrite (struct backend *b, const void *buf, size_t count,
                uint64_t offset, backend_io_cb cb, void *opaque)
{
  submit (b, REQUEST_PWRITE, (void *) buf, count, offset, cb, opaque);
}

/* Flush the backing file to stable storage. */
void
backend_flush (struct backend *b, backend_io_cb cb, void *opaque)
{
  submit (b, REQUEST_FLUSH, NULL, 0, 0, cb, opaque);
}

/* Discard COUNT bytes at OFFSET (the file plugin punches a hole). */
void
backend_trim (struct backend *b, uint64_t count, uint64_t offset,
              backend_io_cb cb, void *opaque)
{
  submit (b, REQUEST_TRIM, NULL, count, offset, cb, opaque);
}

/* Write zeroes over COUNT bytes at OFFSET. */
void
backend_zero (struct backend *b, uint64_t count, uint64_t offset,
              backend_io_cb cb, void *opaque)
{
  submit (b, REQUEST_ZERO, NULL, count, offset, cb, opaque);
}

/* Whether nbdkit advertised trim. */
bool
backend_can_trim (const struct backend *b)
{
  return b->export.can_trim;
}

/* Whether nbdkit advertised write zeroes. */
bool
backend_can_zero (const struct backend *b)
{
  return b->export.can_zero;
}

/* Whether nbdkit advertised flush.  Before the handshake of an
 * answered start, a flush is held for it: the file plugin always
 * advertises flush, and saying no here would let an fsync succeed with
 * nothing flushed. */
bool
backend_can_flush (const struct backend *b)
{
  return b->have_export ? b->export.can_flush : b->answered;
}

