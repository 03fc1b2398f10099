/* loopfs nbd-backend: the child that becomes nbdkit.
 *
 * Between its creation and the exec of nbdkit the child arranges its
 * descriptors (listening socket at 3, backing file at 4, /dev/null at
 * 0), takes the backing file owner's credentials when asked, drops
 * every privilege, and ties its life to the daemon's.  When asked, it
 * then checks that its final credentials can open the backing file as
 * nbdkit's file plugin will, and reports the answer on the report
 * descriptor before the exec (backend.c says why).  It only makes
 * system calls: it is a copy of a process whose other threads, or
 * whose locks, it must not depend on.
 */
#ifndef LOOPFS_NBD_BACKEND_NBDKIT_CHILD_H
#define LOOPFS_NBD_BACKEND_NBDKIT_CHILD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Descriptors nbdkit finds at exec. */
#define CHILD_LISTEN_FD 3       /* SD_LISTEN_FDS_START */
#define CHILD_BACKING_FD 4
#define CHILD_FIRST_FREE_FD 5
/* Until the exec only: where the open check's answer goes. */
#define CHILD_REPORT_FD 5

/* Everything the child needs, prepared before it exists. */
struct child_plan {
  const char *exe;
  char **argv;
  char **envp;
  char *listen_pid;             /* LISTEN_PID digits, written by the child */
  size_t listen_pid_size;
  int listen_fd;
  int backing_fd;
  int devnull_fd;
  int open_check;               /* O_RDONLY or O_RDWR: check that the
                                   backing file opens so and report on
                                   REPORT_FD; -1: no check */
  int report_fd;                /* the child's channel (spawner) */
  pid_t parent;                 /* the daemon: nbdkit dies with it */
  bool change_ids;              /* setgroups/setresgid/setresuid */
  uid_t uid;
  gid_t gid;
  bool runs_as_root;            /* nbdkit's uid will be 0 */
};

/* Become nbdkit as PLAN says; on failure, report on stderr which step
 * failed and exit with status 127. */
void child_exec (const struct child_plan *plan) __attribute__ ((noreturn));

#endif /* LOOPFS_NBD_BACKEND_NBDKIT_CHILD_H */
