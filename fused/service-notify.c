/* loopfsd: telling a service manager that the instance is ready (see
 * service-notify.h).  The protocol is one datagram on a Unix socket;
 * it is spoken here directly rather than through libsystemd, so the
 * daemon does not depend on systemd. */

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "cleanup.h"
#include "service-notify.h"

int
service_notify_ready (void)
{
  const char *path = getenv ("NOTIFY_SOCKET");
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  CLEANUP_CLOSE int fd = -1;
  char msg[64];
  size_t len;
  int n;

  if (path == NULL || *path == '\0')
    return 0;
  len = strlen (path);
  if ((path[0] != '/' && path[0] != '@') || len >= sizeof addr.sun_path)
    return -EINVAL;
  memcpy (addr.sun_path, path, len);
  /* "@name" is a socket in the abstract namespace. */
  if (path[0] == '@')
    addr.sun_path[0] = '\0';
  fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  n = snprintf (msg, sizeof msg, "READY=1\nMAINPID=%d", (int) getpid ());
  if (sendto (fd, msg, n, MSG_NOSIGNAL, (struct sockaddr *) &addr,
              offsetof (struct sockaddr_un, sun_path) + len) < 0)
    return -errno;
  return 0;
}
