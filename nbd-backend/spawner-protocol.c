/* loopfs nbd-backend: sending messages with descriptors between the
 * daemon, the spawner and nbdkit's child (spawner-protocol.h). */

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "spawner-protocol.h"

/* Send one message with descriptors (spawner-protocol.h). */
int
send_with_fds (int sock, const void *data, size_t len, const int *fds,
               size_t n)
{
  union {
    char buf[CMSG_SPACE (CHILD_FDS * sizeof (int))];
    struct cmsghdr align;
  } control = { 0 };
  struct iovec iov = { .iov_base = (void *) data, .iov_len = len };
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

  if (n > 0) {
    struct cmsghdr *c;

    msg.msg_control = control.buf;
    msg.msg_controllen = CMSG_SPACE (n * sizeof (int));
    c = CMSG_FIRSTHDR (&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN (n * sizeof (int));
    memcpy (CMSG_DATA (c), fds, n * sizeof (int));
  }
  if (sendmsg (sock, &msg, MSG_NOSIGNAL) != (ssize_t) len)
    return errno ? -errno : -EIO;
  return 0;
}

/* Receive one message and its descriptors (spawner-protocol.h). */
ssize_t
recv_with_fds (int sock, void *data, size_t len, int *fds, size_t n)
{
  union {
    char buf[CMSG_SPACE (CHILD_FDS * sizeof (int))];
    struct cmsghdr align;
  } control;
  struct iovec iov = { .iov_base = data, .iov_len = len };
  struct msghdr msg = {
    .msg_iov = &iov, .msg_iovlen = 1,
    .msg_control = control.buf, .msg_controllen = sizeof control.buf,
  };
  struct cmsghdr *c;
  ssize_t r;
  size_t i;

  for (i = 0; i < n; i++)
    fds[i] = -1;
  do
    r = recvmsg (sock, &msg, MSG_CMSG_CLOEXEC);
  while (r < 0 && errno == EINTR);
  if (r < 0)
    return -errno;
  for (c = CMSG_FIRSTHDR (&msg); c; c = CMSG_NXTHDR (&msg, c)) {
    size_t got;

    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
      continue;
    got = (c->cmsg_len - CMSG_LEN (0)) / sizeof (int);
    for (i = 0; i < got; i++) {
      int fd;

      memcpy (&fd, CMSG_DATA (c) + i * sizeof (int), sizeof fd);
      if (i < n)
        fds[i] = fd;
      else
        close (fd);
    }
  }
  if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
    return -EMSGSIZE;
  return r;
}
