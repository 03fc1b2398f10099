/* loopfsd: finding libfuse's auto_unmount socket (see
 * fusermount-socket.h). */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fusermount-socket.h"

/* Whether FD is that socket.  libfuse does not say which descriptor it
 * keeps, so it is recognised by what only it has at start-up: a Unix
 * stream socket from a socketpair(2) made by this process (its peer's
 * credentials are ours) and without close-on-exec (every descriptor
 * loopfsd makes has it). */
static int
is_fusermount_socket (int fd)
{
  struct ucred cred;
  socklen_t len = sizeof cred;
  int domain, type, flags;
  socklen_t ilen = sizeof domain;
  struct stat st;

  if (fstat (fd, &st) < 0 || !S_ISSOCK (st.st_mode))
    return 0;
  flags = fcntl (fd, F_GETFD);
  if (flags < 0 || (flags & FD_CLOEXEC))
    return 0;
  if (getsockopt (fd, SOL_SOCKET, SO_DOMAIN, &domain, &ilen) < 0
      || domain != AF_UNIX)
    return 0;
  ilen = sizeof type;
  if (getsockopt (fd, SOL_SOCKET, SO_TYPE, &type, &ilen) < 0
      || type != SOCK_STREAM)
    return 0;
  return getsockopt (fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0
    && cred.pid == getpid ();
}

int
fusermount_socket_find (void)
{
  DIR *dir = opendir ("/proc/self/fd");
  struct dirent *e;
  int found = -ENOENT;

  if (dir == NULL)
    return -errno;
  while ((e = readdir (dir)) != NULL) {
    char *end;
    long fd = strtol (e->d_name, &end, 10);

    if (*end != '\0' || end == e->d_name || fd == dirfd (dir))
      continue;
    if (is_fusermount_socket (fd)) {
      found = fd;
      break;
    }
  }
  closedir (dir);
  return found;
}
