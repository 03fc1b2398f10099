/* loopfs nbd-backend: attaching a device's nbdkit to a kernel /dev/nbdX. */

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <linux/nbd.h>

#include "kernel-attach.h"
#include "kernel-nbd.h"
#include "monotonic-time.h"
#include "nbd-handshake.h"

/* How long one handshake may take. */
#define HANDSHAKE_TIMEOUT_MS 5000

/* How long a resize waits for the kernel to report the old connections
 * dead once they are shut: it notices at once, so this only bounds a
 * kernel that never says.  Below the dead-connection timeout, which is
 * how long requests wait for a replacement. */
#define RESIZE_DRAIN_MS 2000

/* The request timeout (seconds) while a resize ends the old connections,
 * and how long the requests started before it was set may take to
 * finish.  Linux 6.1 resends a request that was under way on a
 * connection it found dead only when the request times out, and it
 * keeps the timeout a request started with: requests started with the
 * short one and lost with an old connection are sent again within a
 * second rather than after KERNEL_ATTACH_TIMEOUT. */
#define RESIZE_REQUEST_TIMEOUT 1
#define RESIZE_SETTLE_MS 200

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

/* An empty LINK. */
void
kernel_attach_link_init (struct kernel_attach_link *link)
{
  *link = (struct kernel_attach_link) { .n_sockets = 0 };
}

/* Close LINK's descriptors. */
void
kernel_attach_link_close (struct kernel_attach_link *link)
{
  while (link->n_sockets > 0)
    close (link->sockets[--link->n_sockets]);
}

/* Open WANT connections (at most KERNEL_ATTACH_MAX_CONNECTIONS) to the
 * export at CONFIG->socket_path and take them through the handshake
 * into LINK, which must be empty.  The first handshake says whether
 * more are allowed: without multi-conn LINK gets one, unless EXACT, when
 * that is -EOPNOTSUPP.  Checks that the kernel's requests fit the
 * export.  On failure LINK is empty again. */
static int
open_connections (const struct kernel_attach_config *config, size_t want,
                  bool exact, struct kernel_attach_link *link,
                  struct nbd_export_info *info, char *err, size_t err_size)
{
  int r;

  if (want < 1)
    want = 1;
  if (want > KERNEL_ATTACH_MAX_CONNECTIONS)
    want = KERNEL_ATTACH_MAX_CONNECTIONS;
  while (link->n_sockets < want) {
    r = connect_unix (config->socket_path);
    if (r < 0) {
      snprintf (err, err_size, "connecting to %s: %s", config->socket_path,
                strerror (-r));
      goto fail;
    }
    link->sockets[link->n_sockets++] = r;
    r = nbd_handshake (r, "", HANDSHAKE_TIMEOUT_MS, info, err, err_size);
    if (r < 0)
      goto fail;
    if (link->n_sockets == 1
        && !(info->transmission_flags & NBD_FLAG_CAN_MULTI_CONN)
        && want > 1) {
      if (exact) {
        snprintf (err, err_size, "the export does not allow %zu connections",
                  want);
        r = -EOPNOTSUPP;
        goto fail;
      }
      want = 1;
    }
  }
  link->transmission_flags = info->transmission_flags;
  r = nbd_export_check_requests (info, config->block_size,
                                 KERNEL_NBD_MAX_REQUEST, err, err_size);
  if (r == 0)
    return 0;
 fail:
  kernel_attach_link_close (link);
  return r;
}

/* Attach the export at CONFIG->socket_path to a kernel NBD device.  The
 * kernel keeps its own references to the sockets; ours go to LINK, or
 * are closed. */
int
kernel_attach (const struct kernel_attach_config *config, uint32_t *index,
               struct kernel_attach_link *link_ret, char *err,
               size_t err_size)
{
  struct kernel_attach_link link;
  struct nbd_export_info info;
  int r;

  kernel_attach_link_init (&link);
  r = open_connections (config, config->connections, false, &link, &info,
                        err, err_size);
  if (r < 0)
    return r;
  r = kernel_nbd_connect (&(struct kernel_nbd_config) {
      .sockets = link.sockets,
      .n_sockets = link.n_sockets,
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
  if (r < 0 || link_ret == NULL)
    kernel_attach_link_close (&link);
  else
    *link_ret = link;
  return r;
}

/* Hand the kernel new sockets for device INDEX's old connections as
 * MONITOR reports them dead, one NBD_CMD_RECONFIGURE each (which also
 * sets SIZE and puts the request timeout back), until all of NEW's are
 * in or the deadline passes.  Then the rest are offered together: a
 * connection that was dead before the resize (one whose request timed
 * out) is not reported again, and takes one; the kernel ignores sockets
 * it has no dead connection for.  Returns how many the kernel took for
 * reported connections, or a negative errno. */
static int
replace_dead_connections (struct kernel_nbd_monitor *monitor, uint32_t index,
                          const char *identifier, uint64_t size,
                          const struct kernel_attach_link *new,
                          char *err, size_t err_size)
{
  int64_t deadline = monotonic_ms () + RESIZE_DRAIN_MS;
  struct pollfd pfd = { .fd = kernel_nbd_monitor_fd (monitor),
                        .events = POLLIN };
  size_t replaced = 0;
  int r;

  while (replaced < new->n_sockets) {
    int64_t left = deadline - monotonic_ms ();
    uint32_t dead;

    if (left <= 0)
      break;
    r = poll (&pfd, 1, (int) left);
    if (r < 0 && errno != EINTR) {
      r = -errno;
      snprintf (err, err_size, "poll: %s", strerror (-r));
      return r;
    }
    while (replaced < new->n_sockets
           && (r = kernel_nbd_monitor_read (monitor, &dead)) != 0) {
      if (r == -ENOMEM)
        continue;           /* events dropped: the deadline catches up */
      if (r < 0) {
        snprintf (err, err_size, "reading NBD_CMD_LINK_DEAD: %s",
                  strerror (-r));
        return r;
      }
      if (dead != index)
        continue;
      r = kernel_nbd_reconfigure (index, identifier,
                                  &(struct kernel_nbd_reconfig) {
                                    .size = size,
                                    .timeout = KERNEL_ATTACH_TIMEOUT,
                                    .sockets = &new->sockets[replaced],
                                    .n_sockets = 1,
                                  });
      if (r < 0) {
        snprintf (err, err_size, "NBD_CMD_RECONFIGURE: %s", strerror (-r));
        return r;
      }
      replaced++;
    }
  }
  if (replaced > 0 && replaced < new->n_sockets) {
    r = kernel_nbd_reconfigure (index, identifier,
                                &(struct kernel_nbd_reconfig) {
                                  .size = size,
                                  .timeout = KERNEL_ATTACH_TIMEOUT,
                                  .sockets = &new->sockets[replaced],
                                  .n_sockets = new->n_sockets - replaced,
                                });
    if (r < 0) {
      snprintf (err, err_size, "NBD_CMD_RECONFIGURE: %s", strerror (-r));
      return r;
    }
  }
  return replaced;
}

/* Resize device INDEX in place (see kernel-attach.h). */
int
kernel_attach_resize (const struct kernel_attach_config *config,
                      uint32_t index, struct kernel_attach_link *link,
                      char *err, size_t err_size)
{
  struct kernel_nbd_monitor *monitor = NULL;
  struct kernel_attach_link new;
  struct nbd_export_info info;
  int r;

  if (link->n_sockets == 0) {
    snprintf (err, err_size, "no sockets of /dev/nbd%u to replace", index);
    return -EOPNOTSUPP;
  }
  kernel_attach_link_init (&new);
  r = kernel_nbd_monitor_open (&monitor);
  if (r < 0) {
    snprintf (err, err_size, "subscribing to NBD_CMD_LINK_DEAD: %s",
              strerror (-r));
    return -EOPNOTSUPP;
  }
  r = open_connections (config, link->n_sockets, true, &new, &info, err,
                        err_size);
  if (r < 0) {
    r = -EOPNOTSUPP;
    goto out;
  }
  if (info.transmission_flags != link->transmission_flags) {
    snprintf (err, err_size, "the export's flags changed (%#x, were %#x)",
              info.transmission_flags, link->transmission_flags);
    r = -EOPNOTSUPP;
    goto out;
  }

  /* From here on the old connections end.  Requests started from now
   * on time out soon; those started before get a moment to finish. */
  r = kernel_nbd_set_timeout (index, config->identifier,
                              RESIZE_REQUEST_TIMEOUT);
  if (r < 0) {
    snprintf (err, err_size, "NBD_CMD_RECONFIGURE (timeout): %s",
              strerror (-r));
    r = -EOPNOTSUPP;
    goto out;
  }
  sleep_ms (RESIZE_SETTLE_MS);
  for (size_t i = 0; i < link->n_sockets; i++)
    shutdown (link->sockets[i], SHUT_RDWR);
  r = replace_dead_connections (monitor, index, config->identifier,
                                info.size, &new, err, err_size);
  if (r == 0) {
    snprintf (err, err_size, "no connection of /dev/nbd%u ended within %d ms",
              index, RESIZE_DRAIN_MS);
    r = -ETIMEDOUT;
  }
  if (r > 0) {
    /* Connections that ended late have no replacement: the kernel
     * sends their requests over the others. */
    kernel_attach_link_close (link);
    *link = new;
    kernel_attach_link_init (&new);
    r = 0;
  }
 out:
  kernel_attach_link_close (&new);
  kernel_nbd_monitor_close (monitor);
  return r;
}
