/* loopfs nbd-backend: one nbdkit process serving one bound loop device.
 *
 * backend_start() runs nbdkit's file plugin on the device's backing
 * descriptor (offset filter for lo_offset and the device size, -r for a
 * read-only device), hands it a listening socket by systemd socket
 * activation, and connects one or more libnbd handles to it.  All
 * libnbd traffic is asynchronous (nbd_aio_*) and driven by the caller's
 * libuv loop; completion callbacks run on that loop.
 *
 * A backend is immutable: a device whose offset, size or backing file
 * changes gets a new backend, and the old one is stopped once the new
 * one is ready.
 *
 * nbdkit never outlives the daemon (PR_SET_PDEATHSIG and
 * --exit-with-parent), runs with no capabilities and no_new_privs, and
 * when the daemon is root it runs as the owner of the backing file so
 * that it can reopen /dev/fd/N with the owner's rights and no more.
 *
 * If nbdkit dies, every request in flight and every later request on
 * that backend completes with EIO at once; other backends are
 * unaffected.
 */
#ifndef LOOPFS_NBD_BACKEND_H
#define LOOPFS_NBD_BACKEND_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

struct backend;

struct backend_config {
  int fd;                   /* backing descriptor; the backend dups it */
  bool direct_io;           /* read and write DATA_FD ourselves
                               (direct-io.h); false: nbdkit serves all */
  int data_fd;              /* with DIRECT_IO: the backing file opened
                               for reading (and writing); the backend
                               dups it */
  uint64_t offset;          /* byte offset of the export in the file */
  uint64_t length;          /* export length in bytes (may be 0) */
  bool read_only;           /* serve read-only (nbdkit -r) */
  unsigned connections;     /* libnbd handles to open, >= 1 */
  uid_t uid;                /* credentials for nbdkit; (uid_t)-1 keeps ours */
  gid_t gid;
  const char *runtime_dir;  /* private 0700 directory for the socket */
  const char *name;         /* short name for logs, e.g. "loop3" */
  unsigned start_timeout_ms;  /* a start not finished by then fails with
                               EIO; 0 for the default, 30 s */
  const char *lower_socket; /* NULL, or serve the export of another
                               backend, at this socket (a lower loop
                               device: stacking), through nbdkit's nbd
                               plugin; FD is then only kept open */
};

/* Called once when the backend is connected (ERR == 0) or failed to
 * start (ERR is an errno; the backend is already freed). */
typedef void (*backend_ready_cb) (struct backend *b, int err, void *opaque);

/* Called once per request with 0 or an errno. */
typedef void (*backend_io_cb) (void *opaque, int err);

/* Called once the backend is stopped and freed. */
typedef void (*backend_stopped_cb) (void *opaque);

/* Start nbdkit for CONFIG and connect to it.  Returns 0 and calls READY
 * later from the loop, or returns a negative errno without calling it. */
int backend_start (uv_loop_t *loop, const struct backend_config *config,
                   backend_ready_cb ready, void *opaque);

/* Queue a request.  BUF must stay valid until CB runs.  Requests are
 * bounds-checked by the caller against the export length.  These never
 * fail synchronously: errors are reported through CB (from the loop,
 * never from inside the call). */
void backend_pread (struct backend *b, void *buf, size_t count,
                    uint64_t offset, backend_io_cb cb, void *opaque);
void backend_pwrite (struct backend *b, const void *buf, size_t count,
                     uint64_t offset, backend_io_cb cb, void *opaque);
void backend_flush (struct backend *b, backend_io_cb cb, void *opaque);
void backend_trim (struct backend *b, uint64_t count, uint64_t offset,
                   backend_io_cb cb, void *opaque);
void backend_zero (struct backend *b, uint64_t count, uint64_t offset,
                   backend_io_cb cb, void *opaque);

/* What the export supports, as nbdkit advertised it. */
bool backend_can_trim (const struct backend *b);
bool backend_can_zero (const struct backend *b);
bool backend_can_flush (const struct backend *b);

/* The export size nbdkit reported. */
uint64_t backend_size (const struct backend *b);

/* The descriptor B reads and writes itself (direct-io.h), or -1; B
 * keeps it open until it is freed. */
int backend_direct_fd (const struct backend *b);

/* nbdkit's pid (for loopfsctl list and tests). */
pid_t backend_pid (const struct backend *b);

/* The path of the backend's Unix socket (for a kernel NBD attach). */
const char *backend_socket_path (const struct backend *b);

/* Stop: new requests fail with EIO, requests in flight complete (or
 * fail if nbdkit is gone), the handles are closed, nbdkit gets SIGTERM
 * (SIGKILL if it has not exited within a second), is reaped, and the
 * backend is freed; then STOPPED is called. */
void backend_stop (struct backend *b, backend_stopped_cb stopped, void *opaque);

/* Prepare to start nbdkit processes in a process that will hold other
 * descriptors later (the daemon, before it serves anything): the
 * process that starts them is forked now, while nothing it would copy
 * can make it wait (nbdkit-spawner.h).  Without this call the first
 * backend_start does it.  Returns 0 or a negative errno. */
int backend_prepare (void);

/* Undo backend_prepare, once no backend is left. */
void backend_unprepare (void);

/* The nbdkit binary to run; "nbdkit" (from PATH) unless set, e.g. by
 * tests through $LOOPFS_NBDKIT. */
void backend_set_nbdkit_path (const char *path);

#endif /* LOOPFS_NBD_BACKEND_H */
