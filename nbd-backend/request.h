/* loopfs nbd-backend: one I/O request and the lists that hold it.
 *
 * A request is allocated by the backend for every backend_pread/...
 * call.  While libnbd owns it, it sits on the in-flight list of the
 * connection that issued it; once it has a result it moves to the
 * backend's completion queue, which calls the caller's callback from
 * the loop.  A request larger than one NBD command allows is split
 * into children whose results are gathered in the parent.
 */
#ifndef LOOPFS_NBD_BACKEND_REQUEST_H
#define LOOPFS_NBD_BACKEND_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backend.h"

enum request_type {
  REQUEST_PREAD,
  REQUEST_PWRITE,
  REQUEST_FLUSH,
  REQUEST_TRIM,
  REQUEST_ZERO,
};

struct connection;
struct direct_io;

struct request {
  struct request *prev, *next;  /* links on an in-flight list or a queue */
  enum request_type type;
  void *buf;                    /* data for pread and pwrite */
  uint64_t count;
  uint64_t offset;
  struct connection *conn;      /* the connection it was issued on */
  int err;                      /* result: 0 or an errno */
  unsigned pending;             /* children not yet finished (split parent) */
  backend_io_cb cb;             /* called once with the result */
  void *opaque;
  struct direct_io *direct;     /* served directly (direct-io.h) by this */
  uint64_t done_bytes;          /* direct I/O: bytes moved so far */
  uv_work_t work;               /* direct I/O on libuv's thread pool */
};

struct request_list {
  struct request *head, *tail;
};

/* Append REQ at the tail of L. */
static inline void
request_list_append (struct request_list *l, struct request *req)
{
  req->next = NULL;
  req->prev = l->tail;
  if (l->tail)
    l->tail->next = req;
  else
    l->head = req;
  l->tail = req;
}

/* Unlink REQ, which must be on L. */
static inline void
request_list_remove (struct request_list *l, struct request *req)
{
  if (req->prev)
    req->prev->next = req->next;
  else
    l->head = req->next;
  if (req->next)
    req->next->prev = req->prev;
  else
    l->tail = req->prev;
  req->prev = req->next = NULL;
}

/* Unlink and return the head of L, or NULL when L is empty. */
static inline struct request *
request_list_pop (struct request_list *l)
{
  struct request *req = l->head;

  if (req)
    request_list_remove (l, req);
  return req;
}

#endif /* LOOPFS_NBD_BACKEND_REQUEST_H */
