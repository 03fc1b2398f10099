/* loopfsd: open files (struct handle) and the ones stacked devices hold.
 *
 * The kernel's upper loop device holds a reference to its backing file,
 * the caller's open file of the lower device: that file's last close,
 * and with it the lower device's autoclear or deferred LOOP_CLR_FD,
 * waits for the upper device to let go.  loopfsd must not hold an open
 * file of its own mount (its unmount would wait on itself), so it holds
 * the handle instead: the thread probing the backing file sends
 * LOOPFS_IOC_HOLD with a cookie on its copy of the caller's descriptor
 * (backing.c), which tells the loop which handle it is, before that
 * copy is closed.  A RELEASE of a held handle is kept until the last
 * device holding it lets go (stacking.c says when).
 */

#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>

#include "device.h"
#include "handles.h"
#include "partition-nodes.h"

/* See handles.h. */
struct handle *
handle_new (struct daemon *d, struct device *dev, bool writable)
{
  struct handle *h = calloc (1, sizeof *h);

  if (h == NULL)
    return NULL;
  h->dev = dev;
  h->writable = writable;
  h->next = d->handles;
  if (d->handles)
    d->handles->prev = h;
  d->handles = h;
  return h;
}

/* See handles.h. */
void
handle_free (struct daemon *d, struct handle *h)
{
  if (h->prev)
    h->prev->next = h->next;
  else
    d->handles = h->next;
  if (h->next)
    h->next->prev = h->prev;
  free (h);
}

/* See handles.h. */
void
handles_release (struct daemon *d, struct handle *h)
{
  struct device *dev = h->dev;

  if (h->holds > 0) {
    h->released = true;
    return;
  }
  if (h->partition)
    partition_release (d, dev, h->partition);
  else if (dev)
    device_handle_release (d, dev);
  handle_free (d, h);
  if (dev && dev->lower_handle && dev->lo->state == LOOPDEV_UNBOUND) {
    struct handle *lower = dev->lower_handle;

    dev->lower = NULL;
    dev->lower_handle = NULL;
    handles_unhold (d, lower);
  }
}

/* Cookies of probes under way, and the open file each one held. */
struct hold {
  struct hold *next;
  uint64_t cookie;
  struct handle *h;
};
static struct hold *holds;

/* See handles.h. */
uint64_t
handles_expect_hold (void)
{
  struct hold *x = calloc (1, sizeof *x);

  if (x == NULL
      || getrandom (&x->cookie, sizeof x->cookie, 0) != sizeof x->cookie
      || x->cookie == 0) {
    free (x);
    return 0;
  }
  x->next = holds;
  holds = x;
  return x->cookie;
}

/* See handles.h. */
bool
handles_hold (struct handle *h, uint64_t cookie)
{
  struct hold *x;

  for (x = holds; x; x = x->next)
    if (x->cookie == cookie && x->h == NULL) {
      x->h = h;
      h->holds++;
      return true;
    }
  return false;
}

/* See handles.h. */
struct handle *
handles_take_hold (uint64_t cookie)
{
  struct hold **p, *x;
  struct handle *h;

  for (p = &holds; *p; p = &(*p)->next)
    if ((*p)->cookie == cookie) {
      x = *p;
      *p = x->next;
      h = x->h;
      free (x);
      return h;
    }
  return NULL;
}

/* See handles.h. */
void
handles_unhold (struct daemon *d, struct handle *h)
{
  if (h == NULL || --h->holds > 0 || !h->released)
    return;
  handles_release (d, h);
}
