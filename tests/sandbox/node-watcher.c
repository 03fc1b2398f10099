/* node-watcher: registers with an instance as a node watcher
 * (LOOPFS_CTL_WATCH, loopfs-interface.h) the way a well-behaved or a
 * hostile caller would, for test-dev-entries.
 *
 *   node-watcher CONTROL follow    answer every message at once and
 *                                  print it; runs until killed
 *   node-watcher CONTROL stall     register, print "registered", never
 *                                  read or answer; runs until killed
 *   node-watcher CONTROL hang-up   register, close our end, exit
 *   node-watcher CONTROL fill      register until refused; print how
 *                                  many were taken and the errno name,
 *                                  then wait until killed
 *   node-watcher CONTROL bad KIND  register a descriptor of KIND
 *                                  (file, stream, closed); print the
 *                                  errno name
 *
 * A failure prints the errno name alone and exits 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "loopfs-interface.h"

/* The name of errno value E. */
static const char *
errno_name (int e)
{
  switch (e) {
  case EBADF: return "EBADF";
  case EINVAL: return "EINVAL";
  case ENOSPC: return "ENOSPC";
  case ENOTTY: return "ENOTTY";
  case ENOSYS: return "ENOSYS";
  case EPERM: return "EPERM";
  case EACCES: return "EACCES";
  default: return strerror (e);
  }
}

/* Register a new socket pair's far end with CONTROL (open descriptor):
 * returns our end, or -errno. */
static int
register_pair (int control)
{
  int sv[2];

  if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
    return -errno;
  if (ioctl (control, LOOPFS_CTL_WATCH, sv[1]) < 0) {
    int r = -errno;

    close (sv[0]);
    close (sv[1]);
    return r;
  }
  close (sv[1]);
  return sv[0];
}

/* Answer and print every message on S. */
static int
follow (int s)
{
  char buf[NODE_WATCH_MESSAGE_MAX + 1], answer[32];
  unsigned long long seq;
  ssize_t n;

  printf ("registered\n");
  fflush (stdout);
  while ((n = recv (s, buf, sizeof buf - 1, 0)) > 0) {
    buf[n] = '\0';
    printf ("%s\n", buf);
    fflush (stdout);
    if (sscanf (buf, "%llu", &seq) == 1) {
      n = snprintf (answer, sizeof answer, "%llu", seq);
      send (s, answer, n, MSG_NOSIGNAL);
    }
  }
  return 0;
}

/* Register a descriptor of KIND; print the errno name or "ok". */
static int
bad (int control, const char *kind)
{
  int fd, sv[2];

  if (strcmp (kind, "file") == 0)
    fd = open ("/dev/null", O_RDONLY);
  else if (strcmp (kind, "stream") == 0) {
    if (socketpair (AF_UNIX, SOCK_STREAM, 0, sv) < 0)
      return -errno;
    fd = sv[1];
  }
  else
    fd = 1000;
  if (ioctl (control, LOOPFS_CTL_WATCH, fd) < 0)
    return -errno;
  printf ("ok\n");
  return 0;
}

int
main (int argc, char *argv[])
{
  int control, s, r = 0, count = 0;

  if (argc < 3) {
    fprintf (stderr, "usage: node-watcher CONTROL follow|stall|hang-up"
             "|fill|bad KIND\n");
    return 2;
  }
  control = open (argv[1], O_RDWR);
  if (control < 0) {
    printf ("%s\n", errno_name (errno));
    return 1;
  }
  if (strcmp (argv[2], "bad") == 0 && argc == 4)
    r = bad (control, argv[3]);
  else if (strcmp (argv[2], "fill") == 0) {
    while ((s = register_pair (control)) >= 0)
      count++;
    printf ("%d %s\n", count, errno_name (-s));
    fflush (stdout);
    pause ();
  }
  else {
    s = register_pair (control);
    if (s < 0)
      r = s;
    else if (strcmp (argv[2], "follow") == 0)
      r = follow (s);
    else if (strcmp (argv[2], "stall") == 0) {
      printf ("registered\n");
      fflush (stdout);
      pause ();
    }
    else if (strcmp (argv[2], "hang-up") == 0)
      close (s);
  }
  if (r < 0) {
    printf ("%s\n", errno_name (-r));
    return 1;
  }
  return 0;
}
