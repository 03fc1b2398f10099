/* loopfs nbd-backend: one libnbd handle driven by a libuv loop.
 *
 * The connection owns a Unix socket connected to nbdkit's listening
 * socket and an nbd_handle doing the handshake and the requests on it
 * with nbd_aio_* calls.  A uv_poll handle on the socket follows
 * nbd_aio_get_direction after every libnbd call, so the loop never
 * blocks and many requests can be in flight at once.
 */
#ifndef LOOPFS_NBD_BACKEND_CONNECTION_H
#define LOOPFS_NBD_BACKEND_CONNECTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "completion-queue.h"
#include "request.h"

struct connection;

/* What the server advertised during the handshake. */
struct connection_export {
  uint64_t size;
  bool read_only;
  bool can_trim;
  bool can_zero;
  bool can_flush;
  bool can_multi_conn;
  uint64_t max_payload;     /* largest pread/pwrite, 0 if not advertised */
};

/* Events reported to the connection's owner.  READY and DOWN are
 * called from the loop, as the last thing the connection does in that
 * call, so the owner may close the connection from inside them. */
struct connection_ops {
  /* The handshake completed. */
  void (*ready) (struct connection *c, void *opaque);
  /* The connection died (ERR is an errno; requests in flight have
   * already been handed to the completion queue), or, after
   * connection_shutdown, it is idle and said goodbye (ERR is 0). */
  void (*down) (struct connection *c, int err, void *opaque);
  /* The connection was freed after connection_close. */
  void (*closed) (void *opaque);
};

/* Connect to the Unix socket SOCKET_PATH and start the NBD handshake.
 * NAME labels log messages.  Finished requests go to DONE. */
int connection_open (uv_loop_t *loop, const char *socket_path,
                     const char *name, struct completion_queue *done,
                     const struct connection_ops *ops, void *opaque,
                     struct connection **conn_ret);

/* The same on FD, a socket already connected to the server, which the
 * connection owns from now on (it is closed if this fails). */
int connection_open_socket (uv_loop_t *loop, int fd, const char *name,
                            struct completion_queue *done,
                            const struct connection_ops *ops, void *opaque,
                            struct connection **conn_ret);

/* Read the export's size and flags; valid once READY was called. */
int connection_get_export (struct connection *c,
                           struct connection_export *export);

/* Issue REQ on C.  Its result always goes through the completion
 * queue, including when libnbd refuses it at once. */
void connection_submit (struct connection *c, struct request *req);

/* Number of requests issued on C and not finished yet. */
size_t connection_in_flight (const struct connection *c);

/* Once no request is in flight, send NBD_CMD_DISC and report DOWN
 * (without waiting for the server to close its end). */
void connection_shutdown (struct connection *c);

/* Close at once: requests still in flight fail with EIO.  C is freed
 * later from the loop, then CLOSED is called. */
void connection_close (struct connection *c);

#endif /* LOOPFS_NBD_BACKEND_CONNECTION_H */
