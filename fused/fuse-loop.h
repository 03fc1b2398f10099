/* loopfsd: the FUSE session driven by the libuv loop. */
#ifndef LOOPFSD_FUSE_LOOP_H
#define LOOPFSD_FUSE_LOOP_H

#include "daemon.h"

/* Start reading the session's requests on D's loop.  When the mount is
 * gone, every backend is stopped and the loop ends once they are all
 * gone.  Returns 0 or a negative errno. */
int fuse_loop_start (struct daemon *d);

/* Take over the receive buffer that DATA (a write payload handed to the
 * write handler) points into, so the payload needs no copy.  Returns
 * the buffer's base address, to free() when the write is done, or NULL
 * when DATA is not in the current buffer. */
void *fuse_loop_take_buffer (const void *data);

#endif /* LOOPFSD_FUSE_LOOP_H */
