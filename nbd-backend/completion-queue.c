/* loopfs nbd-backend: deferred delivery of request results. */

#include <stdlib.h>

#include "completion-queue.h"

/* Idle callback: deliver what is queued, and stop idling once the
 * queue is empty so the loop can block again. */
static void
on_idle (uv_idle_t *idle)
{
  struct completion_queue *q = (struct completion_queue *) idle;

  completion_queue_run (q);
  if (completion_queue_empty (q))
    uv_idle_stop (idle);
}

/* Initialise the queue and its (inactive) idle handle. */
int
completion_queue_init (uv_loop_t *loop, struct completion_queue *q)
{
  q->ready.head = q->ready.tail = NULL;
  return uv_idle_init (loop, &q->idle);
}

/* Queue REQ with result ERR and make sure the idle handle runs. */
void
completion_queue_push (struct completion_queue *q, struct request *req,
                       int err)
{
  req->err = err;
  request_list_append (&q->ready, req);
  if (!uv_is_closing ((uv_handle_t *) &q->idle))
    uv_idle_start (&q->idle, on_idle);
}

/* Deliver a snapshot of the queue: each callback runs once, then the
 * request is freed. */
void
completion_queue_run (struct completion_queue *q)
{
  struct request_list batch = q->ready;
  struct request *req;

  q->ready.head = q->ready.tail = NULL;
  while ((req = request_list_pop (&batch)) != NULL) {
    req->cb (req->opaque, req->err);
    free (req);
  }
}

/* True when nothing waits for delivery. */
bool
completion_queue_empty (const struct completion_queue *q)
{
  return q->ready.head == NULL;
}

/* Close the idle handle. */
void
completion_queue_close (struct completion_queue *q, uv_close_cb cb)
{
  uv_close ((uv_handle_t *) &q->idle, cb);
}
