/* loopfs nbd-backend: reads and writes of a local backing file done by
 * the daemon itself.
 *
 * Every request through nbdkit costs a Unix-socket round trip, two
 * wake-ups of nbdkit's threads and two more copies of the data
 * (bench/README.md has the breakdown).  When the backing file is a
 * regular file on a local filesystem, the daemon holds the caller's own
 * open file (its access mode, as the kernel's loop driver does) and
 * the backend reads and writes it here instead: a read that the page
 * cache can serve without waiting (RWF_NOWAIT) is done at once on the
 * loop, anything else on libuv's thread pool (small writes as batches,
 * one job writing all that queued meanwhile).  nbdkit still runs and
 * serves flush, trim, zeroing and the kernel NBD device; all of them
 * reach the same file, so every path sees the same data.
 *
 * Results go through the backend's completion queue, like nbdkit's.
 */
#ifndef LOOPFS_NBD_BACKEND_DIRECT_IO_H
#define LOOPFS_NBD_BACKEND_DIRECT_IO_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "completion-queue.h"
#include "request.h"

struct direct_io {
  uv_loop_t *loop;
  int fd;                         /* our duplicate, or -1: none */
  bool writable;                  /* FD was opened for writing */
  bool nowait_read;               /* RWF_NOWAIT is supported for reads */
  bool nowait_write;              /* and for writes (not by ext4's
                                     buffered writes on 6.18) */
  uint64_t offset;                /* where the export starts in the file */
  unsigned in_flight;             /* requests on the thread pool or
                                     waiting for it */
  struct request_list queue;      /* small writes waiting for a batch */
  struct request_list batch;      /* the batch on the pool, if busy */
  bool batch_busy;
  uv_work_t batch_work;
  struct completion_queue *done;
  void (*drained) (void *opaque); /* IN_FLIGHT went back to 0 */
  void *opaque;
};

/* Set up D to serve the export at OFFSET of FD (duplicated; -1 for no
 * direct I/O), reads only when READ_ONLY; results go to DONE, and
 * DRAINED (OPAQUE) is called whenever the last request on the thread
 * pool has finished.  Returns 0 or a negative errno (then D serves
 * nothing). */
int direct_io_init (struct direct_io *d, uv_loop_t *loop, int fd,
                    bool read_only, uint64_t offset,
                    struct completion_queue *done,
                    void (*drained) (void *opaque), void *opaque);

/* True when D serves requests of TYPE itself. */
bool direct_io_serves (const struct direct_io *d, enum request_type type);

/* Start REQ (a read or write D serves); its result is pushed on the
 * completion queue. */
void direct_io_submit (struct direct_io *d, struct request *req);

/* Close D's descriptor; nothing may be in flight. */
void direct_io_close (struct direct_io *d);

/* True when a descriptor may serve as direct-I/O descriptor: a regular
 * file, opened for reading, without O_APPEND or O_DIRECT, on a local
 * filesystem whose close never waits for anyone (no FUSE, no network).
 * FD must be an open file, not O_PATH. */
bool direct_io_eligible (int fd);

#endif /* LOOPFS_NBD_BACKEND_DIRECT_IO_H */
