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

struct kernel_attach_config {
  const char *socket_path;  /* the device's nbdkit (backend_socket_path) */
  unsigned connections;     /* wanted; 1 unless nbdkit allows multi-conn */
  uint32_t block_size;      /* the loop device's logical block size */
  bool read_only;
  const char *identifier;   /* backend identifier (kernel-nbd.h) */
};

/* Attach; on success *INDEX is N of /dev/nbdN.  Returns 0 or a negative
 * errno, with a message in ERR. */
int kernel_attach (const struct kernel_attach_config *config, uint32_t *index,
                   char *err, size_t err_size);

#endif /* LOOPFS_NBD_BACKEND_KERNEL_ATTACH_H */
