/* loopfsd: reading FUSE requests from the libuv loop.
 *
 * The session descriptor is non-blocking and polled by libuv; each
 * wake-up reads requests until none is left (bounded, to stay fair to
 * NBD completions) and hands them to libfuse, whose handlers start
 * asynchronous work and return.  When the kernel reports ENODEV the
 * mount is gone for good (unmounted and no file left open): backends
 * are stopped and the loop ends once they are all gone.
 */

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <stdlib.h>

#include "device.h"
#include "fuse-loop.h"
#include "log.h"

/* Requests handled per wake-up before giving other events a turn. */
#define REQUESTS_PER_WAKEUP 64

static uv_poll_t fuse_poll;
static struct fuse_buf fbuf;

/* Take over the receive buffer DATA points into. */
void *
fuse_loop_take_buffer (const void *data)
{
  char *base = fbuf.mem;

  if (base == NULL || (const char *) data < base
      || (const char *) data >= base + fbuf.size)
    return NULL;
  fbuf.mem = NULL;          /* libfuse allocates a fresh one next time */
  return base;
}

/* Every backend is gone after the session ended: let the loop finish. */
static void
fuse_loop_stop (struct daemon *d)
{
  uv_close ((uv_handle_t *) &fuse_poll, NULL);
  free (fbuf.mem);
  fbuf.mem = NULL;
  uv_stop (d->loop);
}

/* The mount is gone: stop every backend, then end the loop. */
static void
session_ended (struct daemon *d)
{
  if (d->exiting)
    return;
  d->exiting = true;
  uv_poll_stop (&fuse_poll);
  device_stop_all (d, fuse_loop_stop);
}

/* Read and dispatch the requests waiting on the session descriptor. */
static void
on_fuse_readable (uv_poll_t *poll, int status, int events)
{
  struct daemon *d = poll->data;
  int i, r;

  (void) events;
  if (status < 0) {
    session_ended (d);
    return;
  }
  for (i = 0; i < REQUESTS_PER_WAKEUP; i++) {
    r = fuse_session_receive_buf (d->se, &fbuf);
    if (r == -EAGAIN)
      break;
    if (r == -EINTR)
      continue;
    if (r <= 0 || fuse_session_exited (d->se)) {
      if (r < 0)
        log_error ("reading /dev/fuse: %s", strerror (-r));
      session_ended (d);
      return;
    }
    fuse_session_process_buf (d->se, &fbuf);
    if (fuse_session_exited (d->se)) {
      session_ended (d);
      return;
    }
  }
}

/* Start polling the session descriptor. */
int
fuse_loop_start (struct daemon *d)
{
  int fd = fuse_session_fd (d->se);
  int flags = fcntl (fd, F_GETFL);

  if (flags < 0 || fcntl (fd, F_SETFL, flags | O_NONBLOCK) < 0)
    return -errno;
  if (uv_poll_init (d->loop, &fuse_poll, fd) < 0)
    return -ENOMEM;
  fuse_poll.data = d;
  return uv_poll_start (&fuse_poll, UV_READABLE, on_fuse_readable) < 0
    ? -EIO : 0;
}
