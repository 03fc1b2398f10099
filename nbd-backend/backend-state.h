/* loopfs nbd-backend: what a backend is made of, shared by backend.c
 * (its life: start, death, stop) and backend-io.c (its requests).
 * Nothing outside nbd-backend/ includes this; callers see backend.h. */
#ifndef LOOPFS_BACKEND_STATE_H
#define LOOPFS_BACKEND_STATE_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "backend.h"
#include "completion-queue.h"
#include "connection.h"
#include "direct-io.h"
#include "nbdkit-process.h"
#include "request.h"

/* Largest pread/pwrite sent as one NBD command: nbdkit and libnbd
 * refuse payloads above 64 MiB. */
#define MAX_RW_REQUEST (32u << 20)

/* Largest trim/zero sent as one NBD command: the protocol's length
 * field has 32 bits. */
#define MAX_TRIM_REQUEST (1u << 30)

enum backend_state {
  BACKEND_STARTING,
  BACKEND_RUNNING,
  BACKEND_DEAD,
  BACKEND_STOPPING,
};

struct backend {
  uv_loop_t *loop;
  enum backend_state state;
  char *name;
  uint64_t length;                /* the export length asked for */
  struct nbdkit_process proc;
  uv_poll_t exit_poll;            /* readable when nbdkit exits */
  uv_poll_t report_poll;          /* the open check's answer, while
                                     proc.report_fd is open (backend.c) */
  uv_timer_t timer;               /* STARTING: the start deadline;
                                     STOPPING: SIGKILL when SIGTERM was
                                     not enough */
  struct completion_queue done;
  struct direct_io direct;        /* reads and writes done by ourselves */
  struct connection **conns;      /* NULL once closed */
  unsigned max_conns;             /* config->connections */
  unsigned n_conns;               /* slots opened so far */
  unsigned wanted_conns;          /* max_conns, or 1 without multi-conn */
  unsigned n_ready;
  unsigned next_conn;             /* round-robin cursor */
  unsigned open_handles;          /* libuv handles not closed yet */
  unsigned start_timeout_ms;      /* the start deadline */
  bool exited;                    /* nbdkit has been reaped */
  bool terminating;               /* SIGTERM was sent */
  bool closing;                   /* the final handle close has begun */
  bool answered;                  /* READY called with 0 before the
                                     handshake: STARTING then serves
                                     direct I/O and holds the rest */
  struct request_list held;       /* what waits for the handshake */
  bool have_export;               /* the handshake told EXPORT */
  struct connection_export export;
  uint64_t max_rw;                /* split preads/pwrites above this */
  int start_err;                  /* why the start failed, or 0 */
  backend_ready_cb ready;
  void *ready_opaque;
  backend_stopped_cb stopped;
  void *stopped_opaque;
};

/* Send on the requests held for the handshake (backend-io.c): to
 * nbdkit once RUNNING, else each fails with EIO. */
void backend_release_held (struct backend *b);

#endif /* LOOPFS_BACKEND_STATE_H */
