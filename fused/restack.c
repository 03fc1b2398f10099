/* loopfsd: devices stacked on a device that gets a new backend.
 *
 * A device stacked on another is served by an nbdkit that is a client
 * of the lower device's nbdkit (stacking.c).  When the lower device
 * gets a new nbdkit, each device stacked on it gets one on the new
 * one, through a rebind transaction of its own (ioctl.c ioctl_restack:
 * its ioctls wait meanwhile, and one already under way is followed by
 * the move); the lower device's old nbdkit serves them until all have
 * moved, and only then does the lower device's ioctl return.
 */

#include <stdlib.h>

#include "device.h"
#include "ioctl.h"
#include "restack.h"

/* The devices stacked on a device being moved to a new backend. */
struct lower_move {
  struct daemon *d;
  struct backend *old;           /* the lower device's old backend */
  unsigned pending;              /* restacks not over yet, plus one
                                    while they are being started */
  void (*done) (void *opaque);
  void *opaque;
};

/* How long the lower device's old nbdkit keeps serving after the last
 * device stacked on it moved: each of those retires its own old nbdkit,
 * which first finishes the requests it has under way, and those read
 * the old lower nbdkit.  Stopped at once, it failed some of them (EIO
 * through the upper device in test-stacking's race); 250 ms is the
 * grace device.c gives a retired nbdkit, this is four times that. */
#define OLD_LOWER_GRACE_MS 1000

/* A lower device's old backend, stopped after the grace period. */
struct old_lower {
  uv_timer_t timer;
  struct daemon *d;
  struct backend *b;
};

/* Free an old-lower record once its timer is closed. */
static void
old_lower_free (uv_handle_t *timer)
{
  free (timer->data);
}

/* The grace period is over: the old backend goes. */
static void
old_lower_stop (uv_timer_t *timer)
{
  struct old_lower *o = timer->data;

  device_discard_backend (o->d, o->b);
  /* Counted as stopping from the start, so that an instance going
   * away meanwhile waits for it (device.c). */
  o->d->stopping_backends--;
  uv_close ((uv_handle_t *) timer, old_lower_free);
}

/* Stop the lower device's old backend B after the grace period (at
 * once if no timer can be had). */
static void
stop_old_lower (struct daemon *d, struct backend *b)
{
  struct old_lower *o = malloc (sizeof *o);

  if (o == NULL || uv_timer_init (d->loop, &o->timer) < 0) {
    free (o);
    device_discard_backend (d, b);
    return;
  }
  o->d = d;
  o->b = b;
  o->timer.data = o;
  d->stopping_backends++;
  uv_timer_start (&o->timer, old_lower_stop, OLD_LOWER_GRACE_MS, 0);
}

/* One restack is over (or, at last, the starting of them): once none
 * is left, the old backend may go. */
static void
restacked (void *opaque)
{
  struct lower_move *m = opaque;

  if (--m->pending > 0)
    return;
  if (m->old)
    stop_old_lower (m->d, m->old);
  m->done (m->opaque);
  free (m);
}

/* See restack.h. */
void
restack_lower_changed (struct daemon *d, struct device *lower,
                       struct backend *old, void (*done) (void *opaque),
                       void *opaque)
{
  struct lower_move *m = malloc (sizeof *m);
  size_t i;

  if (m == NULL) {
    if (old)
      device_discard_backend (d, old);
    done (opaque);
    return;
  }
  *m = (struct lower_move) { .d = d, .old = old, .pending = 1,
                             .done = done, .opaque = opaque };
  for (i = 0; i < d->inst.devs.len; i++) {
    struct device *up = d->inst.devs.ptr[i]->priv;

    if (up && (up->lower == lower || up->binding_lower == lower)) {
      m->pending++;
      if (!ioctl_restack (d, up, restacked, m))
        m->pending--;
    }
  }
  restacked (m);
}
