/* loopfs nbd-backend: the client side of the NBD fixed-newstyle
 * handshake, for sockets that are handed to the kernel's nbd driver.
 *
 * The kernel's nbd client only speaks the transmission phase, with
 * simple replies: whoever hands it a socket must have negotiated the
 * export first, and must not have negotiated anything the kernel
 * cannot parse (structured or extended replies, meta contexts).
 * nbd_handshake() does exactly that and nothing more: fixed newstyle,
 * NBD_OPT_GO with an NBD_INFO_BLOCK_SIZE request, and it stops at the
 * first byte of the transmission phase, so the socket can be passed on
 * as it is.
 */
#ifndef LOOPFS_NBD_BACKEND_NBD_HANDSHAKE_H
#define LOOPFS_NBD_BACKEND_NBD_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/nbd.h>

/* Transmission flags newer than the installed uapi header (linux-libc-dev
 * 6.1 lacks them; the values are the protocol's and the kernel's). */
#ifndef NBD_FLAG_ROTATIONAL
#define NBD_FLAG_ROTATIONAL (1 << 4)
#endif
#ifndef NBD_FLAG_SEND_WRITE_ZEROES
#define NBD_FLAG_SEND_WRITE_ZEROES (1 << 6)
#endif

/* The protocol limit on an export name, in bytes. */
#define NBD_MAX_STRING 4096

/* What the server told us about the export. */
struct nbd_export_info {
  uint64_t size;                  /* export size in bytes */
  uint16_t transmission_flags;    /* NBD_FLAG_* as sent by the server */
  bool block_size_advertised;     /* the server sent NBD_INFO_BLOCK_SIZE */
  /* The server's block size constraints, or the protocol's defaults
   * (1, 4096, 0xffffffff) when it sent none. */
  uint32_t min_block_size;
  uint32_t preferred_block_size;
  uint32_t max_block_size;
};

/* Negotiate EXPORT_NAME on FD, a connected stream socket fresh from
 * connect(2), within TIMEOUT_MS milliseconds.  On success returns 0,
 * fills *INFO and leaves FD at the start of the transmission phase
 * (simple replies only).  On failure returns a negative errno and, if
 * ERR is not NULL, writes a one-line description to ERR:
 *   -ETIMEDOUT     the server did not answer in time
 *   -ECONNRESET    the server closed the connection
 *   -EPROTO        the server broke the protocol (or is not fixed newstyle)
 *   -ENOENT        NBD_REP_ERR_UNKNOWN: no such export
 *   -EACCES        NBD_REP_ERR_POLICY or NBD_REP_ERR_TLS_REQD
 *   -EOPNOTSUPP    NBD_REP_ERR_UNSUP (no NBD_OPT_GO) or _PLATFORM
 *   -EINVAL        NBD_REP_ERR_INVALID or _BLOCK_SIZE_REQD
 *   -ESHUTDOWN     NBD_REP_ERR_SHUTDOWN
 *   -E2BIG         NBD_REP_ERR_TOO_BIG
 *   -ENAMETOOLONG  EXPORT_NAME is longer than NBD_MAX_STRING
 *   or the errno of a failed poll/send/recv.
 * FD's file status flags are left as they were.  After a failure the
 * socket is of no further use: close it. */
int nbd_handshake (int fd, const char *export_name, int timeout_ms,
                   struct nbd_export_info *info, char *err, size_t err_size);

/* Whether a client that sends requests aligned to BLOCK_SIZE bytes and
 * carrying at most MAX_PAYLOAD bytes of data honours INFO's
 * constraints: returns 0, or -EINVAL with a description in ERR. */
int nbd_export_check_requests (const struct nbd_export_info *info,
                               uint32_t block_size, uint32_t max_payload,
                               char *err, size_t err_size);

#endif /* LOOPFS_NBD_BACKEND_NBD_HANDSHAKE_H */
