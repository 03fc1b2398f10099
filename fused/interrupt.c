/* loopfsd: answering a request early when its caller is killed (see
 * interrupt.h). */

#include <errno.h>

#include "caller.h"
#include "interrupt.h"

/* How often callers interrupted by a signal that was not fatal are
 * checked again. */
#define RECHECK_MS 1000

/* Stop watching IT. */
static void
unwatch (struct interruptible *it)
{
  struct daemon *d = it->d;

  if (!it->watched)
    return;
  if (it->prev)
    it->prev->next = it->next;
  else
    d->interrupted = it->next;
  if (it->next)
    it->next->prev = it->prev;
  it->watched = false;
  if (d->interrupted == NULL)
    uv_timer_stop (&d->interrupt_timer);
}

/* Answer IT with EINTR if its caller is dying; true when it did. */
static bool
answer_if_dying (struct interruptible *it)
{
  if (!caller_dying (fuse_req_ctx (it->req)->pid))
    return false;
  it->answered = true;
  unwatch (it);
  if (it->as_ioctl)
    fuse_reply_ioctl (it->req, -EINTR, NULL, 0);
  else
    fuse_reply_err (it->req, EINTR);
  return true;
}

/* Check the interrupted callers again. */
static void
recheck (uv_timer_t *timer)
{
  struct daemon *d = timer->data;
  struct interruptible *it = d->interrupted;

  while (it) {
    struct interruptible *next = it->next;
    answer_if_dying (it);
    it = next;
  }
}

/* FUSE_INTERRUPT for IT's request (called by libfuse on the loop). */
static void
on_interrupt (fuse_req_t req, void *data)
{
  struct interruptible *it = data;
  struct daemon *d = it->d;

  (void) req;
  if (it->answered || it->watched || answer_if_dying (it))
    return;
  if (!uv_is_active ((uv_handle_t *) &d->interrupt_timer)) {
    if (d->interrupt_timer.loop == NULL) {
      uv_timer_init (d->loop, &d->interrupt_timer);
      d->interrupt_timer.data = d;
    }
    uv_timer_start (&d->interrupt_timer, recheck, RECHECK_MS, RECHECK_MS);
  }
  it->prev = NULL;
  it->next = d->interrupted;
  if (d->interrupted)
    d->interrupted->prev = it;
  d->interrupted = it;
  it->watched = true;
}

/* Watch REQ for the death of its caller. */
void
interruptible_start (struct interruptible *it, struct daemon *d,
                     fuse_req_t req, bool as_ioctl)
{
  *it = (struct interruptible) { .req = req, .d = d, .as_ioctl = as_ioctl };
  fuse_req_interrupt_func (req, on_interrupt, it);
}

/* The backend has answered. */
bool
interruptible_finish (struct interruptible *it)
{
  bool pending = !it->answered;

  unwatch (it);
  it->answered = true;
  return pending;
}
