/* loopfsctl: passing a descriptor over a Unix socket (SCM_RIGHTS), as
 * COMMAND hands its seccomp listener to loopfsctl and a child in another
 * mount namespace hands over a mount it cloned there.
 */
#ifndef LOOPFSCTL_FD_PASS_H
#define LOOPFSCTL_FD_PASS_H

/* Send descriptor FD over Unix socket SOCKET.  Returns 0 or -errno. */
int fd_send (int socket, int fd);

/* Receive a descriptor sent with fd_send on SOCKET (close-on-exec); -1
 * if none came. */
int fd_receive (int socket);

#endif /* LOOPFSCTL_FD_PASS_H */
