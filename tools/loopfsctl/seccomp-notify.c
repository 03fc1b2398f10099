/* loopfsctl exec: the seccomp user-notification supervisor (see
 * seccomp-notify.h). */

#include <errno.h>
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
#include <sys/stat.h>
#include <sys/syscall.h>

#include "caller-lookup.h"
#include "cleanup.h"
#include "fd-pass.h"
#include "loopfsctl.h"
#include "mount-intercept.h"
#include "notify-call.h"
#include "seccomp-notify.h"
#include "stat-fake.h"

#define MISC_MAJOR 10
#define LOOP_CTRL_MINOR 237

/* Numbers of mknod and mknodat outside the x86_64 ABI, so that 32-bit
 * and x32 programs cannot make block nodes either. */
#define I386_MKNOD 14
#define I386_MKNODAT 297
#define X32_BIT 0x40000000u

/* At most this many descriptors besides the listener and the stop
 * event are polled for the mount handler (its drivers). */
#define MAX_EXTRA_FDS 256

struct notify_server {
  int socket;               /* where the listener comes from */
  int listener;             /* the seccomp listener, or -1 */
  int stop;                 /* eventfd: stop the thread */
  dev_t instance_dev;       /* st_dev of the instance's nodes */
  char *instance;           /* where the instance is mounted */
  struct caller_lookup *lookup;   /* the thread's lookups as the caller */
  struct mount_intercept *mounts; /* or NULL: mount calls continue */
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
 * the numbers on the left are there to check them.  Instructions 14
 * to 20 send the mount calls; without mount interception they become
 * jumps to the next instruction (see notify_install). */
#define ARG_LO(n) (offsetof (struct seccomp_data, args) + 8 * (n))
#define LOAD(off) BPF_STMT (BPF_LD | BPF_W | BPF_ABS, (off))
#define RET(v) BPF_STMT (BPF_RET | BPF_K, (v))
#define JEQ(v, t, f) BPF_JUMP (BPF_JMP | BPF_JEQ | BPF_K, (v), (t), (f))
#define JA(k) BPF_JUMP (BPF_JMP | BPF_JA, (k), 0, 0)
#define FIRST_MOUNT_INSN 14
#define N_MOUNT_INSNS 7

static const struct sock_filter filter[] = {
  /* 0 */ LOAD (offsetof (struct seccomp_data, arch)),
  /* 1 */ JEQ (AUDIT_ARCH_X86_64, 2, 0),
  /* 2 */ JEQ (AUDIT_ARCH_I386, 20, 0),           /* 23 */
  /* 3 */ RET (SECCOMP_RET_ALLOW),
  /* x86_64 and x32 */
  /* 4 */ LOAD (offsetof (struct seccomp_data, nr)),
  /* 5 */ JEQ (__NR_mknod, 21, 0),                /* 27 */
  /* 6 */ JEQ (__NR_mknodat, 26, 0),              /* 33 */
  /* 7 */ JEQ (X32_BIT | __NR_mknod, 19, 0),      /* 27 */
  /* 8 */ JEQ (X32_BIT | __NR_mknodat, 24, 0),    /* 33 */
  /* 9 */ JEQ (__NR_stat, 12, 0),                 /* 22 */
  /* 10 */ JEQ (__NR_lstat, 11, 0),
  /* 11 */ JEQ (__NR_fstat, 10, 0),
  /* 12 */ JEQ (__NR_newfstatat, 9, 0),
  /* 13 */ JEQ (__NR_statx, 8, 0),
  /* 14 */ JEQ (__NR_mount, 7, 0),
  /* 15 */ JEQ (__NR_umount2, 6, 0),
  /* 16 */ JEQ (__NR_fsopen, 5, 0),
  /* 17 */ JEQ (__NR_fsconfig, 4, 0),
  /* 18 */ JEQ (__NR_fsmount, 3, 0),
  /* 19 */ JEQ (__NR_mount_setattr, 2, 0),
  /* 20 */ JEQ (__NR_move_mount, 1, 0),
  /* 21 */ RET (SECCOMP_RET_ALLOW),
  /* 22 */ RET (SECCOMP_RET_USER_NOTIF),
  /* i386 */
  /* 23 */ LOAD (offsetof (struct seccomp_data, nr)),
  /* 24 */ JEQ (I386_MKNOD, 2, 0),                /* 27 */
  /* 25 */ JEQ (I386_MKNODAT, 7, 0),              /* 33 */
  /* 26 */ RET (SECCOMP_RET_ALLOW),
  /* mknod: the mode is argument 1, dev argument 2 */
  /* 27 */ LOAD (ARG_LO (1)),
  /* 28 */ BPF_STMT (BPF_ALU | BPF_AND | BPF_K, S_IFMT),
  /* 29 */ JEQ (S_IFBLK, 9, 0),                   /* 39 */
  /* 30 */ JEQ (S_IFCHR, 0, 9),                   /* 40 */
  /* 31 */ LOAD (ARG_LO (2)),
  /* 32 */ JA (5),                                /* 38 */
  /* mknodat: the mode is argument 2, dev argument 3 */
  /* 33 */ LOAD (ARG_LO (2)),
  /* 34 */ BPF_STMT (BPF_ALU | BPF_AND | BPF_K, S_IFMT),
  /* 35 */ JEQ (S_IFBLK, 3, 0),                   /* 39 */
  /* 36 */ JEQ (S_IFCHR, 0, 3),                   /* 40 */
  /* 37 */ LOAD (ARG_LO (3)),
  /* a character device: only loop-control is refused */
  /* 38 */ JEQ (LOOP_CTRL_DEV_ARG, 0, 1),         /* 39, 40 */
  /* 39 */ RET (SECCOMP_RET_ERRNO | EPERM),
  /* 40 */ RET (SECCOMP_RET_ALLOW),
};

/* glibc has no wrapper for seccomp(2). */
static int
seccomp (unsigned op, unsigned flags, void *arg)
{
  return syscall (SYS_seccomp, op, flags, arg);
}

int
notify_install (int socket, bool mounts)
{
  struct sock_filter insns[sizeof filter / sizeof filter[0]];
  struct sock_fprog prog = {
    .len = sizeof filter / sizeof filter[0],
    .filter = insns,
  };
  int listener, r;

  memcpy (insns, filter, sizeof filter);
  /* Without mount interception the mount calls run as they would
   * without the sandbox: their tests jump to the next instruction
   * either way. */
  if (!mounts)
    for (int i = FIRST_MOUNT_INSN; i < FIRST_MOUNT_INSN + N_MOUNT_INSNS; i++)
      insns[i].jt = 0;
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
  r = fd_send (socket, listener);
  close (listener);
  if (r < 0) {
    ctl_error ("exec: passing the seccomp listener: %s", strerror (-r));
    return r;
  }
  close (socket);
  return 0;
}

/* Receive the listener from NS->socket, or -1 if COMMAND ended (or we
 * are told to stop) before sending it. */
static int
receive_listener (struct notify_server *ns)
{
  struct pollfd fds[2] = {
    { .fd = ns->socket, .events = POLLIN },
    { .fd = ns->stop, .events = POLLIN },
  };

  while (poll (fds, 2, -1) < 0)
    if (errno != EINTR)
      return -1;
  if (fds[1].revents)
    return -1;
  return fd_receive (ns->socket);
}

/* Is REQ one of the mount calls? */
static bool
is_mount_call (const struct seccomp_notif *req)
{
  switch (req->data.nr) {
  case __NR_mount: case __NR_umount2: case __NR_fsopen: case __NR_fsconfig:
  case __NR_fsmount: case __NR_mount_setattr: case __NR_move_mount:
    return true;
  default:
    return false;
  }
}

/* Receive one notification and have its handler answer it.  The
 * handlers know the x86_64 numbers only; an OCI profile's rules also
 * send i386 and x32 calls here, which run unchanged. */
static void
serve_one (struct notify_server *ns, struct seccomp_notif *req,
           size_t req_size)
{
  struct notify_call call = {
    .listener = ns->listener, .req = req, .lookup = ns->lookup,
    .instance_dev = ns->instance_dev,
    .instance = ns->instance,
  };
  int r = NOTIFY_CONTINUE;

  memset (req, 0, req_size);
  if (ioctl (ns->listener, SECCOMP_IOCTL_NOTIF_RECV, req) < 0)
    return;
  if (req->data.arch == AUDIT_ARCH_X86_64 && !(req->data.nr & X32_BIT)) {
    if (!is_mount_call (req))
      r = stat_fake_answer (&call);
    else if (ns->mounts)
      r = mount_intercept_answer (ns->mounts, &call);
  }
  if (r != NOTIFY_LATER)
    notify_respond (ns->listener, req->id, r < 0 ? r : 0,
                    r == NOTIFY_CONTINUE);
}

/* The thread: receive the listener, then answer notifications until
 * every process under the filter is gone (the listener hangs up) or we
 * are told to stop; then end the taken-over mounts. */
static void *
serve (void *arg)
{
  struct notify_server *ns = arg;
  struct seccomp_notif_sizes sizes;
  CLEANUP_FREE struct seccomp_notif *req = NULL;
  struct pollfd fds[2 + MAX_EXTRA_FDS];
  size_t req_size, n_extra;
  int r;

  if (ns->listener < 0)
    ns->listener = receive_listener (ns);
  if (ns->listener < 0)
    return NULL;
  r = caller_lookup_init (&ns->lookup);
  if (r < 0) {
    /* Nothing can be answered as the caller: let every call through
     * (stock losetup then refuses the nodes, as outside a sandbox). */
    ctl_error ("exec: stat fake: %s", strerror (-r));
    return NULL;
  }
  if (seccomp (SECCOMP_GET_NOTIF_SIZES, 0, &sizes) < 0)
    return NULL;
  /* The kernel's structure may be larger than our headers'. */
  req_size = sizes.seccomp_notif > sizeof *req
    ? sizes.seccomp_notif : sizeof *req;
  req = calloc (1, req_size);
  if (req == NULL)
    return NULL;
  fds[0] = (struct pollfd) { .fd = ns->listener, .events = POLLIN };
  fds[1] = (struct pollfd) { .fd = ns->stop, .events = POLLIN };
  for (;;) {
    n_extra = ns->mounts
      ? mount_intercept_pollfds (ns->mounts, fds + 2, MAX_EXTRA_FDS) : 0;
    if (poll (fds, 2 + n_extra, -1) < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    if (fds[1].revents)
      break;
    if (n_extra)
      mount_intercept_events (ns->mounts, ns->listener, fds + 2, n_extra);
    if (fds[0].revents & POLLIN)
      serve_one (ns, req, req_size);
    else if (fds[0].revents & (POLLHUP | POLLERR | POLLNVAL))
      break;
  }
  /* The drivers die with this thread (their parent-death signal), so
   * they are ended cleanly first. */
  if (ns->mounts)
    mount_intercept_finish (ns->mounts, ns->listener);
  return NULL;
}

/* The thread's function: serve, then say so. */
static void *
serve_and_finish (void *arg)
{
  struct notify_server *ns = arg;

  serve (ns);
  atomic_store (&ns->finished, true);
  return NULL;
}

/* Make a notify_server for INSTANCE that gets its listener from SOCKET
 * (or -1) or already has LISTENER (or -1), and start its thread.  Takes
 * ownership of both descriptors and of MOUNTS. */
static int
start (int socket, int listener, const char *instance,
       struct mount_intercept *mounts, struct notify_server **out)
{
  struct notify_server *ns;
  struct stat st;
  int r;

  if (stat (instance, &st) < 0) {
    r = -errno;
    ctl_error ("%s: %m", instance);
    goto fail_fds;
  }
  ns = calloc (1, sizeof *ns);
  if (ns == NULL) {
    r = -ENOMEM;
    goto fail_fds;
  }
  ns->socket = socket;
  ns->listener = listener;
  ns->instance_dev = st.st_dev;
  ns->instance = strdup (instance);
  ns->mounts = mounts;
  ns->stop = eventfd (0, EFD_CLOEXEC);
  if (ns->stop < 0 || ns->instance == NULL) {
    r = -errno;
    ctl_error ("eventfd: %m");
    goto fail;
  }
  r = -pthread_create (&ns->thread, NULL, serve_and_finish, ns);
  if (r < 0) {
    ctl_error ("pthread_create: %s", strerror (-r));
    goto fail;
  }
  *out = ns;
  return 0;

 fail:
  if (ns->stop >= 0)
    close (ns->stop);
  free (ns->instance);
  free (ns);
 fail_fds:
  mount_intercept_free (mounts);
  if (socket >= 0)
    close (socket);
  if (listener >= 0)
    close (listener);
  return r;
}

int
notify_start (int socket, const char *instance,
              struct mount_intercept *mounts, struct notify_server **out)
{
  return start (socket, -1, instance, mounts, out);
}

int
notify_serve (int listener, const char *instance, struct notify_server **out)
{
  return start (-1, listener, instance, NULL, out);
}

bool
notify_finished (struct notify_server *ns)
{
  return atomic_load (&ns->finished);
}

void
notify_stop (struct notify_server *ns)
{
  uint64_t one = 1;

  if (ns == NULL)
    return;
  if (write (ns->stop, &one, sizeof one) < 0)
    ctl_error ("exec: stopping the seccomp supervisor: %m");
  pthread_join (ns->thread, NULL);
  mount_intercept_free (ns->mounts);
  caller_lookup_free (ns->lookup);
  if (ns->listener >= 0)
    close (ns->listener);
  close (ns->stop);
  if (ns->socket >= 0)
    close (ns->socket);
  free (ns->instance);
  free (ns);
}
