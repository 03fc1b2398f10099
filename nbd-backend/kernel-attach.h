/* loopfs nbd-backend: a bound device's nbdkit as a kernel /dev/nbdX.
 *
 * The whole attach in one call: open connections to the device's
 * nbdkit, take each through the NBD handshake (nbd-handshake.c), check
 * that the kernel's requests fit the export, and hand the sockets to
 * the kernel (kernel-nbd.c).  Every step blocks, so the daemon runs it
 * on its thread pool.
 */
#ifndef LOOPFS_NBD_BACKEND_KERNEL_ATTACH_H
#define LOOPFS_NBD_BACKEND_KERNEL_ATTACH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Seconds a kernel request may take before its connection counts as
 * dead, and seconds requests wait for dead connections to be replaced
 * before failing with EIO (a killed daemon never replaces them). */
#define KERNEL_ATTACH_TIMEOUT 30
#define KERNEL_ATTACH_DEAD_CONN_TIMEOUT 5

/* Most connections a kernel device gets, however many are asked for. */
#define KERNEL_ATTACH_MAX_CONNECTIONS 8

struct kernel_attach_config {
  const char *socket_path;  /* the device's nbdkit (backend_socket_path) */
  unsigned connections;     /* wanted; 1 unless nbdkit allows multi-conn */
  uint32_t block_size;      /* the loop device's logical block size */
  bool read_only;
  const char *identifier;   /* backend identifier (kernel-nbd.h) */
};

/* What the caller keeps of an attached device to resize it in place
 * later: its own descriptors of the sockets the kernel uses (the
 * kernel holds references of its own) and the export's transmission
 * flags, which a resize cannot change. */
struct kernel_attach_link {
  int sockets[KERNEL_ATTACH_MAX_CONNECTIONS];
  size_t n_sockets;
  uint16_t transmission_flags;
};

/* An empty LINK. */
void kernel_attach_link_init (struct kernel_attach_link *link);

/* Close LINK's descriptors and empty it.  The kernel's connections are
 * not affected. */
void kernel_attach_link_close (struct kernel_attach_link *link);

/* Attach; on success *INDEX is N of /dev/nbdN and, when LINK is not
 * NULL, it holds our descriptors of the device's sockets.  Returns 0 or
 * a negative errno, with a message in ERR. */
int kernel_attach (const struct kernel_attach_config *config, uint32_t *index,
                   struct kernel_attach_link *link, char *err,
                   size_t err_size);

/* Move connected device INDEX, attached with LINK, to the nbdkit at
 * CONFIG->socket_path and give it that export's size, in place: the
 * device keeps its number and stays usable (a mounted file system
 * need not be unmounted), requests meanwhile waiting in the kernel.
 *
 * NBD_CMD_RECONFIGURE (Linux >= 5.3) changes the size, but takes new
 * sockets only in place of connections the kernel has found dead, and
 * an nbdkit connection keeps the size of its handshake.  So: subscribe
 * to NBD_CMD_LINK_DEAD, negotiate as many new connections as the
 * device has, lower the request timeout for a moment, shut the old
 * connections (the kernel finds them dead at once and sends requests
 * that were under way on them again when those time out), and hand
 * the kernel one new socket, with the new size and the old timeout,
 * for each dead connection as it is reported (kernel-nbd.c says why
 * in this order).  On success LINK holds the new sockets (the old ones
 * are closed).
 *
 * -EOPNOTSUPP, device untouched: LINK is empty or the new export
 * differs in connections or flags.  Any other error: the device may be
 * left with dead connections, the caller disconnects it.  A message is
 * in ERR either way. */
int kernel_attach_resize (const struct kernel_attach_config *config,
                          uint32_t index, struct kernel_attach_link *link,
                          char *err, size_t err_size);

#endif /* LOOPFS_NBD_BACKEND_KERNEL_ATTACH_H */
