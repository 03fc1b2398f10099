/* loopfsctl exec: one seccomp user notification (see notify-call.h). */

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>

#include "notify-call.h"

int
notify_read_string (pid_t pid, uint64_t addr, char *buf, size_t size)
{
  size_t got = 0;

  /* A page at a time, so that a string ending just before an unmapped
   * page is read. */
  while (got < size) {
    size_t chunk = 4096 - ((addr + got) & 4095);
    struct iovec local, remote;
    ssize_t n;

    if (chunk > size - got)
      chunk = size - got;
    local.iov_base = buf + got;
    local.iov_len = chunk;
    remote.iov_base = (void *) (uintptr_t) (addr + got);
    remote.iov_len = chunk;
    n = process_vm_readv (pid, &local, 1, &remote, 1, 0);
    if (n <= 0)
      return n < 0 ? -errno : -EFAULT;
    if (memchr (buf + got, '\0', n))
      return 0;
    got += n;
  }
  return -ENAMETOOLONG;
}

int
notify_read_memory (pid_t pid, uint64_t addr, void *buf, size_t size)
{
  struct iovec local = { .iov_base = buf, .iov_len = size };
  struct iovec remote = { .iov_base = (void *) (uintptr_t) addr,
                          .iov_len = size };
  ssize_t n = process_vm_readv (pid, &local, 1, &remote, 1, 0);

  if (n < 0)
    return -errno;
  return (size_t) n == size ? 0 : -EFAULT;
}

int
notify_write_memory (pid_t pid, uint64_t addr, const void *data, size_t size)
{
  struct iovec local = { .iov_base = (void *) data, .iov_len = size };
  struct iovec remote = { .iov_base = (void *) (uintptr_t) addr,
                          .iov_len = size };
  ssize_t n = process_vm_writev (pid, &local, 1, &remote, 1, 0);

  if (n < 0)
    return -errno;
  return (size_t) n == size ? 0 : -EFAULT;
}

bool
notify_still_valid (const struct notify_call *call)
{
  return ioctl (call->listener, SECCOMP_IOCTL_NOTIF_ID_VALID,
                &call->req->id) == 0;
}

void
notify_respond (int listener, uint64_t id, int error, bool cont)
{
  /* Room for a larger structure of a newer kernel, zeroed. */
  union {
    struct seccomp_notif_resp resp;
    char room[256];
  } u = { .room = { 0 } };

  u.resp.id = id;
  if (cont)
    u.resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
  else
    u.resp.error = error;
  /* A caller that died or was interrupted meanwhile makes this fail
   * with ENOENT, which is nobody's error. */
  while (ioctl (listener, SECCOMP_IOCTL_NOTIF_SEND, &u.resp) < 0
         && errno == EINTR)
    ;
}

int
notify_respond_fd (int listener, uint64_t id, int fd, bool cloexec)
{
  struct seccomp_notif_addfd addfd = {
    .id = id, .flags = SECCOMP_ADDFD_FLAG_SEND, .srcfd = fd,
    .newfd_flags = cloexec ? O_CLOEXEC : 0,
  };
  int r = ioctl (listener, SECCOMP_IOCTL_NOTIF_ADDFD, &addfd);

  return r < 0 ? -errno : r;
}
