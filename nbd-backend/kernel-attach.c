/* loopfs nbd-backend: attaching a device's nbdkit to a kernel /dev/nbdX. */

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/nbd.h>

#include "kernel-attach.h"
#include "kernel-nbd.h"
#include "nbd-handshake.h"

/* Most connections a kernel device gets, however many are asked for. */
#define MAX_CONNECTIONS 8

/* How long one handshake may take. */
#define HANDSHAKE_TIMEOUT_MS 5000

/* Open a blocking Unix socket connected to PATH. */
static int
connect_unix (const char *path)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd;

  if (strlen (path) >= sizeof addr.sun_path)
    return -ENAMETOOLONG;
  strcpy (addr.sun_path, path);
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  if (connect (fd, (struct sockaddr *) &addr, sizeof addr) < 0) {
    int r = -errno;
    close (fd);
    return r;
  }
  return fd;
}

/* Attach the export at CONFIG->socket_path to a kernel NBD device.  The
 * first connection's handshake says whether more are allowed; the
 * kernel keeps its own references to the sockets, ours are closed. */
int
kernel_attach (const struct kernel_attach_config *config, uint32_t *index,
               char *err, size_t err_size)
{
  int socks[MAX_CONNECTIONS];
  struct nbd_export_info info;
  size_t n = 0, want = config->connections;
  int r = 0;

  if (want < 1)
    want = 1;
  if (want > MAX_CONNECTIONS)
    want = MAX_CONNECTIONS;
  for (; n < want; n++) {
    r = connect_unix (config->socket_path);
    if (r < 0) {
      snprintf (err, err_size, "connecting to %s: %s", config->socket_path,
                strerror (-r));
      goto out;
    }
    socks[n] = r;
    r = nbd_handshake (socks[n], "", HANDSHAKE_TIMEOUT_MS, &info, err,
                       err_size);
    if (r < 0) {
      n++;
      goto out;
    }
    if (n == 0 && !(info.transmission_flags & NBD_FLAG_CAN_MULTI_CONN))
      want = 1;
  }
  r = nbd_export_check_requests (&info, config->block_size,
                                 KERNEL_NBD_MAX_REQUEST, err, err_size);
  if (r < 0)
    goto out;
  r = kernel_nbd_connect (&(struct kernel_nbd_config) {
      .sockets = socks,
      .n_sockets = n,
      .size = info.size,
      .block_size = config->block_size,
      .server_flags = info.transmission_flags,
      .read_only = config->read_only,
      .timeout = KERNEL_ATTACH_TIMEOUT,
      .dead_conn_timeout = KERNEL_ATTACH_DEAD_CONN_TIMEOUT,
      .identifier = config->identifier,
    }, index);
  if (r < 0)
    snprintf (err, err_size, "NBD_CMD_CONNECT: %s", strerror (-r));
 out:
  while (n > 0)
    close (socks[--n]);
  return r;
}
