/* loopfs nbd-backend: results waiting to be handed to their callers.
 *
 * libnbd runs completion callbacks with its handle lock held, and a
 * request that fails before reaching libnbd must not call back from
 * inside the caller's own call.  Either way the finished request is
 * pushed here, and the queue calls the caller's callback later from
 * an idle handle on the loop, where the caller may do anything
 * (including issuing new requests or stopping the backend).
 */
#ifndef LOOPFS_NBD_BACKEND_COMPLETION_QUEUE_H
#define LOOPFS_NBD_BACKEND_COMPLETION_QUEUE_H

#include <stdbool.h>
#include <uv.h>

#include "request.h"

struct completion_queue {
  uv_idle_t idle;              /* runs the queue while it is not empty */
  struct request_list ready;   /* finished, callback not yet called */
};

/* Initialise Q on LOOP.  The idle handle's data field is left to the
 * owner (for its close callback). */
int completion_queue_init (uv_loop_t *loop, struct completion_queue *q);

/* Record ERR as the result of REQ and schedule its callback. */
void completion_queue_push (struct completion_queue *q, struct request *req,
                            int err);

/* Call the callbacks of every request queued so far and free them.
 * Requests queued by those callbacks wait for the next run, so a
 * caller that retries on error cannot starve the loop. */
void completion_queue_run (struct completion_queue *q);

/* True when no callback is pending. */
bool completion_queue_empty (const struct completion_queue *q);

/* Close the idle handle; CB runs when it is closed.  Requests pushed
 * after this are only delivered by an explicit completion_queue_run. */
void completion_queue_close (struct completion_queue *q, uv_close_cb cb);

#endif /* LOOPFS_NBD_BACKEND_COMPLETION_QUEUE_H */
