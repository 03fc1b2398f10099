/* loopfsctl exec: the sandbox's stat(2) of loop nodes (see
 * stat-fake.h). */

#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/xattr.h>

#include "caller-lookup.h"
#include "cleanup.h"
#include "loopfs-interface.h"
#include "loop-numbers.h"
#include "loopfsctl.h"
#include "partition-info.h"
#include "stat-fake.h"

#define MISC_MAJOR 10
#define LOOP_CTRL_MINOR 237

/* Block devices report the page size as their I/O block size. */
#define BLOCK_DEVICE_BLKSIZE 4096

/* Numbers of mknod and mknodat outside the x86_64 ABI, so that 32-bit
 * and x32 programs cannot make block nodes either. */
#define I386_MKNOD 14
#define I386_MKNODAT 297
#define X32_BIT 0x40000000u

struct stat_fake {
  int socket;               /* where the listener comes from */
  int listener;             /* the seccomp listener, or -1 */
  int stop;                 /* eventfd: stop the thread */
  dev_t instance_dev;       /* st_dev of the instance's nodes */
  char *instance;           /* where the instance is mounted */
  struct caller_lookup *lookup;   /* the thread's lookups as the caller */
  pthread_t thread;
  atomic_bool finished;     /* the thread has returned */
};

/* The host's loop-control, 10:237, as mknod's dev argument carries it
 * (the kernel's new_encode_dev; the kernel reads only the low 32 bits,
 * and this is the one value among them that decodes to 10:237). */
#define LOOP_CTRL_DEV_ARG ((MISC_MAJOR << 8) | LOOP_CTRL_MINOR)

/* The filter.  Offsets into struct seccomp_data; the mode and dev
 * arguments of mknod are 32 bits wide, so their low words (little
 * endian) are enough.  Jump offsets count the instructions skipped;
 * the numbers on the left are there to check them. */
#define ARG_LO(n) (offsetof (struct seccomp_data, args) + 8 * (n))
#define LOAD(off) BPF_STMT (BPF_LD | BPF_W | BPF_ABS, (off))
#define RET(v) BPF_STMT (BPF_RET | BPF_K, (v))
#define JEQ(v, t, f) BPF_JUMP (BPF_JMP | BPF_JEQ | BPF_K, (v), (t), (f))
#define JA(k) BPF_JUMP (BPF_JMP | BPF_JA, (k), 0, 0)

static struct sock_filter filter[] = {
  /* 0 */ LOAD (offsetof (struct seccomp_data, arch)),
  /* 1 */ JEQ (AUDIT_ARCH_X86_64, 2, 0),
  /* 2 */ JEQ (AUDIT_ARCH_I386, 13, 0),
  /* 3 */ RET (SECCOMP_RET_ALLOW),
  /* x86_64 and x32 */
  /* 4 */ LOAD (offsetof (struct seccomp_data, nr)),
  /* 5 */ JEQ (__NR_mknod, 14, 0),                /* 20 */
  /* 6 */ JEQ (__NR_mknodat, 19, 0),              /* 26 */
  /* 7 */ JEQ (X32_BIT | __NR_mknod, 12, 0),      /* 20 */
  /* 8 */ JEQ (X32_BIT | __NR_mknodat, 17, 0),    /* 26 */
  /* 9 */ JEQ (__NR_stat, 5, 0),
  /* 10 */ JEQ (__NR_lstat, 4, 0),
  /* 11 */ JEQ (__NR_fstat, 3, 0),
  /* 12 */ JEQ (__NR_newfstatat, 2, 0),
  /* 13 */ JEQ (__NR_statx, 1, 0),
  /* 14 */ RET (SECCOMP_RET_ALLOW),
  /* 15 */ RET (SECCOMP_RET_USER_NOTIF),
  /* i386 */
  /* 16 */ LOAD (offsetof (struct seccomp_data, nr)),
  /* 17 */ JEQ (I386_MKNOD, 2, 0),                /* 20 */
  /* 18 */ JEQ (I386_MKNODAT, 7, 0),              /* 26 */
  /* 19 */ RET (SECCOMP_RET_ALLOW),
  /* mknod: the mode is argument 1, dev argument 2 */
  /* 20 */ LOAD (ARG_LO (1)),
  /* 21 */ BPF_STMT (BPF_ALU | BPF_AND | BPF_K, S_IFMT),
  /* 22 */ JEQ (S_IFBLK, 9, 0),                   /* 32 */
  /* 23 */ JEQ (S_IFCHR, 0, 9),                   /* 33 */
  /* 24 */ LOAD (ARG_LO (2)),
  /* 25 */ JA (5),                                /* 31 */
  /* mknodat: the mode is argument 2, dev argument 3 */
  /* 26 */ LOAD (ARG_LO (2)),
  /* 27 */ BPF_STMT (BPF_ALU | BPF_AND | BPF_K, S_IFMT),
  /* 28 */ JEQ (S_IFBLK, 3, 0),                   /* 32 */
  /* 29 */ JEQ (S_IFCHR, 0, 3),                   /* 33 */
  /* 30 */ LOAD (ARG_LO (3)),
  /* a character device: only loop-control is refused */
  /* 31 */ JEQ (LOOP_CTRL_DEV_ARG, 0, 1),         /* 32, 33 */
  /* 32 */ RET (SECCOMP_RET_ERRNO | EPERM),
  /* 33 */ RET (SECCOMP_RET_ALLOW),
};

/* glibc has no wrapper for seccomp(2). */
static int
seccomp (unsigned op, unsigned flags, void *arg)
{
  return syscall (SYS_seccomp, op, flags, arg);
}

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
static int
send_fd (int socket, int fd)
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

/* Receive a descriptor sent with send_fd on SOCKET; -1 if none came. */
static int
recv_fd (int socket)
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

int
stat_fake_install (int socket)
{
  struct sock_fprog prog = {
    .len = sizeof filter / sizeof filter[0],
    .filter = filter,
  };
  int listener, r;

  listener = seccomp (SECCOMP_SET_MODE_FILTER,
                      SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
  /* Without CAP_SYS_ADMIN a filter needs no_new_privs. */
  if (listener < 0 && errno == EACCES
      && prctl (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0)
    listener = seccomp (SECCOMP_SET_MODE_FILTER,
                        SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
  if (listener < 0) {
    ctl_error ("exec: installing the seccomp filter: %m");
    return -errno;
  }
  r = send_fd (socket, listener);
  close (listener);
  if (r < 0) {
    ctl_error ("exec: passing the seccomp listener: %s", strerror (-r));
    return r;
  }
  close (socket);
  return 0;
}

/* Receive the listener from SF->socket, or -1 if COMMAND ended (or we
 * are told to stop) before sending it. */
static int
receive_listener (struct stat_fake *sf)
{
  struct pollfd fds[2] = {
    { .fd = sf->socket, .events = POLLIN },
    { .fd = sf->stop, .events = POLLIN },
  };

  while (poll (fds, 2, -1) < 0)
    if (errno != EINTR)
      return -1;
  if (fds[1].revents)
    return -1;
  return recv_fd (sf->socket);
}

/* Read the NUL-terminated string at ADDR in process PID into BUF (SIZE
 * bytes), a page at a time, so that a string ending just before an
 * unmapped page is read.  Returns 0 or -errno. */
static int
read_string (pid_t pid, uint64_t addr, char *buf, size_t size)
{
  size_t got = 0;

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

/* Write SIZE bytes from DATA to ADDR in process PID. */
static int
write_memory (pid_t pid, uint64_t addr, const void *data, size_t size)
{
  struct iovec local = { .iov_base = (void *) data, .iov_len = size };
  struct iovec remote = { .iov_base = (void *) (uintptr_t) addr,
                          .iov_len = size };
  ssize_t n = process_vm_writev (pid, &local, 1, &remote, 1, 0);

  if (n < 0)
    return -errno;
  return (size_t) n == size ? 0 : -EFAULT;
}

/* The arguments of one stat-family call, whatever its form. */
struct stat_call {
  int dirfd;                /* AT_FDCWD or a descriptor of the caller */
  uint64_t path;            /* address of the path, 0 for none */
  int flags;                /* AT_* flags */
  unsigned mask;            /* statx mask */
  uint64_t buf;             /* where the result goes */
  bool is_statx;
};

/* Decode the notification REQ into CALL. */
static void
decode_call (const struct seccomp_notif *req, struct stat_call *call)
{
  const __u64 *a = req->data.args;

  memset (call, 0, sizeof *call);
  call->dirfd = AT_FDCWD;
  switch (req->data.nr) {
  case __NR_stat:
    call->path = a[0], call->buf = a[1];
    break;
  case __NR_lstat:
    call->path = a[0], call->buf = a[1];
    call->flags = AT_SYMLINK_NOFOLLOW;
    break;
  case __NR_fstat:
    call->dirfd = (int) a[0], call->buf = a[1];
    call->flags = AT_EMPTY_PATH;
    break;
  case __NR_newfstatat:
    call->dirfd = (int) a[0], call->path = a[1], call->buf = a[2];
    call->flags = (int) a[3];
    break;
  default:                  /* __NR_statx */
    call->dirfd = (int) a[0], call->path = a[1];
    call->flags = (int) a[2], call->mask = (unsigned) a[3];
    call->buf = a[4];
    call->is_statx = true;
    break;
  }
}

/* Which node of the instance FD is: its device number as a kernel loop
 * device or partition would have it (partition-info.h), or 0 if FD is
 * not one of the instance's nodes. */
static dev_t
node_device (struct stat_fake *sf, int fd, const struct stat *st)
{
  char path[64], node[32], rest;
  ssize_t n;
  int number, partition;

  if (st->st_dev != sf->instance_dev || !S_ISREG (st->st_mode))
    return 0;
  snprintf (path, sizeof path, "/proc/self/fd/%d", fd);
  n = getxattr (path, XATTR_NODE, node, sizeof node - 1);
  if (n <= 0)
    return 0;
  node[n] = '\0';
  if (strcmp (node, CONTROL_NAME) == 0)
    return makedev (MISC_MAJOR, LOOP_CTRL_MINOR);
  if (sscanf (node, "loop%d%c", &number, &rest) == 1 && number >= 0)
    return sandbox_loop_devno (number);
  if (partition_parse_name (node, &number, &partition))
    return partition_devno (sf->instance, number, partition);
  return 0;
}

/* The file type a faked node shows for device number RDEV. */
static mode_t
node_type (dev_t rdev)
{
  return major (rdev) == MISC_MAJOR ? S_IFCHR : S_IFBLK;
}

/* ID (a uid or gid as we see it) as process PID sees it through MAP
 * ("uid_map" or "gid_map"), as the kernel's stat would show it to a
 * caller in another user namespace (a container's); the overflow id
 * 65534 when unmapped.  The map shows our ids only when we are in
 * another namespace than PID (else it shows the parent's). */
static unsigned
id_for_caller (pid_t pid, const char *map, unsigned id)
{
  unsigned long long inside, outside, count;
  unsigned result = 65534;
  struct stat ours, theirs;
  char path[64];
  FILE *fp;

  snprintf (path, sizeof path, "/proc/%d/ns/user", (int) pid);
  if (stat ("/proc/self/ns/user", &ours) < 0 || stat (path, &theirs) < 0
      || (ours.st_ino == theirs.st_ino && ours.st_dev == theirs.st_dev))
    return id;
  snprintf (path, sizeof path, "/proc/%d/%s", (int) pid, map);
  fp = fopen (path, "re");
  if (fp == NULL)
    return id;
  while (fscanf (fp, "%llu %llu %llu", &inside, &outside, &count) == 3)
    if (id >= outside && id - outside < count) {
      result = inside + (id - outside);
      break;
    }
  fclose (fp);
  return result;
}

/* Work out the answer to notification REQ: 0 with the faked result
 * written into the caller's buffer, 1 to let the kernel run the call,
 * or -errno for the call to fail with. */
static int
answer (struct stat_fake *sf, const struct seccomp_notif *req)
{
  struct stat_call call;
  char path[PATH_MAX];
  CLEANUP_CLOSE int fd = -1;
  struct stat st;
  dev_t rdev;

  /* decode_call knows the x86_64 numbers only; an OCI profile's rules
   * also send i386 and x32 calls here, which run unchanged. */
  if (req->data.arch != AUDIT_ARCH_X86_64 || (req->data.nr & X32_BIT))
    return 1;
  decode_call (req, &call);
  if (call.path == 0)
    path[0] = '\0';
  else if (read_string (req->pid, call.path, path, sizeof path) < 0)
    return 1;
  fd = caller_lookup_open (sf->lookup, req->pid, call.dirfd, path,
                           call.flags);
  /* The pid, the memory read and what /proc/PID showed were the
   * caller's only if the notification is still pending. */
  if (ioctl (sf->listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &req->id) < 0)
    return 1;
  if (fd < 0 || fstat (fd, &st) < 0)
    return 1;
  rdev = node_device (sf, fd, &st);
  if (rdev == 0)
    return 1;

  if (call.is_statx) {
    struct statx stx;
    int sync = call.flags & AT_STATX_SYNC_TYPE;

    if (statx (fd, "", AT_EMPTY_PATH | sync, call.mask, &stx) < 0)
      return 1;
    stx.stx_mode = node_type (rdev) | (stx.stx_mode & 07777);
    stx.stx_uid = id_for_caller (req->pid, "uid_map", stx.stx_uid);
    stx.stx_gid = id_for_caller (req->pid, "gid_map", stx.stx_gid);
    stx.stx_rdev_major = major (rdev);
    stx.stx_rdev_minor = minor (rdev);
    stx.stx_size = 0;
    stx.stx_blocks = 0;
    stx.stx_blksize = BLOCK_DEVICE_BLKSIZE;
    return write_memory (req->pid, call.buf, &stx, sizeof stx);
  }
  st.st_mode = node_type (rdev) | (st.st_mode & 07777);
  st.st_uid = id_for_caller (req->pid, "uid_map", st.st_uid);
  st.st_gid = id_for_caller (req->pid, "gid_map", st.st_gid);
  st.st_rdev = rdev;
  st.st_size = 0;
  st.st_blocks = 0;
  st.st_blksize = BLOCK_DEVICE_BLKSIZE;
  return write_memory (req->pid, call.buf, &st, sizeof st);
}

/* Receive and answer one notification.  A caller that died or was
 * interrupted meanwhile makes the receive or the response fail with
 * ENOENT, which is nobody's error. */
static void
serve_one (struct stat_fake *sf, struct seccomp_notif *req,
           struct seccomp_notif_resp *resp, size_t req_size, size_t resp_size)
{
  int r;

  memset (req, 0, req_size);
  if (ioctl (sf->listener, SECCOMP_IOCTL_NOTIF_RECV, req) < 0)
    return;
  r = answer (sf, req);
  memset (resp, 0, resp_size);
  resp->id = req->id;
  if (r == 1)
    resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
  else
    resp->error = r;
  while (ioctl (sf->listener, SECCOMP_IOCTL_NOTIF_SEND, resp) < 0
         && errno == EINTR)
    ;
}

/* The thread: receive the listener, then answer notifications until
 * every process under the filter is gone (the listener hangs up) or we
 * are told to stop. */
static void *
serve (void *arg)
{
  struct stat_fake *sf = arg;
  struct seccomp_notif_sizes sizes;
  CLEANUP_FREE struct seccomp_notif *req = NULL;
  CLEANUP_FREE struct seccomp_notif_resp *resp = NULL;
  struct pollfd fds[2];
  int r;

  if (sf->listener < 0)
    sf->listener = receive_listener (sf);
  if (sf->listener < 0)
    return NULL;
  r = caller_lookup_init (&sf->lookup);
  if (r < 0) {
    /* Nothing can be answered as the caller: let every call through
     * (stock losetup then refuses the nodes, as outside a sandbox). */
    ctl_error ("exec: stat fake: %s", strerror (-r));
    return NULL;
  }
  if (seccomp (SECCOMP_GET_NOTIF_SIZES, 0, &sizes) < 0)
    return NULL;
  /* The kernel's structures may be larger than our headers'. */
  req = calloc (1, sizes.seccomp_notif > sizeof *req
                   ? sizes.seccomp_notif : sizeof *req);
  resp = calloc (1, sizes.seccomp_notif_resp > sizeof *resp
                    ? sizes.seccomp_notif_resp : sizeof *resp);
  if (req == NULL || resp == NULL)
    return NULL;
  fds[0] = (struct pollfd) { .fd = sf->listener, .events = POLLIN };
  fds[1] = (struct pollfd) { .fd = sf->stop, .events = POLLIN };
  for (;;) {
    if (poll (fds, 2, -1) < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    if (fds[1].revents)
      break;
    if (fds[0].revents & POLLIN)
      serve_one (sf, req, resp,
                 sizes.seccomp_notif > sizeof *req
                 ? sizes.seccomp_notif : sizeof *req,
                 sizes.seccomp_notif_resp > sizeof *resp
                 ? sizes.seccomp_notif_resp : sizeof *resp);
    else if (fds[0].revents & (POLLHUP | POLLERR | POLLNVAL))
      break;
  }
  return NULL;
}

/* The thread's function: serve, then say so. */
static void *
serve_and_finish (void *arg)
{
  struct stat_fake *sf = arg;

  serve (sf);
  atomic_store (&sf->finished, true);
  return NULL;
}

/* Make a stat_fake for INSTANCE that gets its listener from SOCKET
 * (or -1) or already has LISTENER (or -1), and start its thread.  Takes
 * ownership of both descriptors. */
static int
start (int socket, int listener, const char *instance, struct stat_fake **out)
{
  struct stat_fake *sf;
  struct stat st;
  int r;

  if (stat (instance, &st) < 0) {
    r = -errno;
    ctl_error ("%s: %m", instance);
    goto fail_fds;
  }
  sf = calloc (1, sizeof *sf);
  if (sf == NULL) {
    r = -ENOMEM;
    goto fail_fds;
  }
  sf->socket = socket;
  sf->listener = listener;
  sf->instance_dev = st.st_dev;
  sf->instance = strdup (instance);
  sf->stop = eventfd (0, EFD_CLOEXEC);
  if (sf->stop < 0 || sf->instance == NULL) {
    r = -errno;
    ctl_error ("eventfd: %m");
    goto fail;
  }
  r = -pthread_create (&sf->thread, NULL, serve_and_finish, sf);
  if (r < 0) {
    ctl_error ("pthread_create: %s", strerror (-r));
    goto fail;
  }
  *out = sf;
  return 0;

 fail:
  if (sf->stop >= 0)
    close (sf->stop);
  free (sf->instance);
  free (sf);
 fail_fds:
  if (socket >= 0)
    close (socket);
  if (listener >= 0)
    close (listener);
  return r;
}

int
stat_fake_start (int socket, const char *instance, struct stat_fake **out)
{
  return start (socket, -1, instance, out);
}

int
stat_fake_serve (int listener, const char *instance, struct stat_fake **out)
{
  return start (-1, listener, instance, out);
}

bool
stat_fake_finished (struct stat_fake *sf)
{
  return atomic_load (&sf->finished);
}

void
stat_fake_stop (struct stat_fake *sf)
{
  uint64_t one = 1;

  if (sf == NULL)
    return;
  if (write (sf->stop, &one, sizeof one) < 0)
    ctl_error ("exec: stopping the stat server: %m");
  pthread_join (sf->thread, NULL);
  caller_lookup_free (sf->lookup);
  if (sf->listener >= 0)
    close (sf->listener);
  close (sf->stop);
  if (sf->socket >= 0)
    close (sf->socket);
  free (sf->instance);
  free (sf);
}
