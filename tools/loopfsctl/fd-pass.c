/* loopfsctl: passing a descriptor over a Unix socket (see fd-pass.h). */

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "fd-pass.h"

/* The buffer for one descriptor in an SCM_RIGHTS message, aligned as
 * a cmsghdr. */
union fd_control {
  char buf[CMSG_SPACE (sizeof (int))];
  struct cmsghdr align;
};

/* Point MSG at a one-byte payload BYTE and at CONTROL, the message shape
 * both ends of the descriptor passing use. */
static void
fd_message_init (struct msghdr *msg, struct iovec *iov, char *byte,
                 union fd_control *control)
{
  memset (control, 0, sizeof *control);
  *iov = (struct iovec) { .iov_base = byte, .iov_len = 1 };
  *msg = (struct msghdr) {
    .msg_iov = iov, .msg_iovlen = 1,
    .msg_control = control->buf, .msg_controllen = sizeof control->buf,
  };
}

/* Send descriptor FD over Unix socket SOCKET.  Returns 0 or -errno. */
int
fd_send (int socket, int fd)
{
  union fd_control control;
  struct msghdr msg;
  struct iovec iov;
  struct cmsghdr *cmsg;
  char byte = 0;

  fd_message_init (&msg, &iov, &byte, &control);
  cmsg = CMSG_FIRSTHDR (&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN (sizeof (int));
  memcpy (CMSG_DATA (cmsg), &fd, sizeof (int));
  return sendmsg (socket, &msg, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

/* Receive a descriptor sent with fd_send on SOCKET; -1 if none came. */
int
fd_receive (int socket)
{
  union fd_control control;
  struct msghdr msg;
  struct iovec iov;
  struct cmsghdr *cmsg;
  char byte;
  int fd;

  fd_message_init (&msg, &iov, &byte, &control);
  if (recvmsg (socket, &msg, MSG_CMSG_CLOEXEC) <= 0)
    return -1;
  cmsg = CMSG_FIRSTHDR (&msg);
  if (cmsg == NULL || cmsg->cmsg_type != SCM_RIGHTS)
    return -1;
  memcpy (&fd, CMSG_DATA (cmsg), sizeof fd);
  return fd;
}
