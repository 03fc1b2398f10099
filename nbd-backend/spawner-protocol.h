/* loopfs nbd-backend: what the daemon and its spawner say to each
 * other (nbdkit-spawner.h says why there is a spawner).
 *
 * On a SOCK_SEQPACKET socketpair between the daemon and the spawner,
 * the daemon sends one message per start: a struct spawn_header and
 * the strings (exe, argv, envp, each NUL-terminated), with one
 * descriptor attached, its end of a new socketpair (the child's
 * channel), on which the daemon has already queued the child's three
 * descriptors.  The spawner hands the request to its spare child
 * (spawner-process.c), which reads them and execs nbdkit, and answers
 * with a struct spawn_reply (SPAWN_ANSWER) and, on success, the
 * child's pidfd attached.  Each new spare is announced with a
 * SPAWN_SPARE message.  When the plan asks for an open check, the
 * daemon keeps its end of the child's channel and the child sends the
 * answer (an int32_t errno, 0 for success) back on it before the exec.
 */
#ifndef LOOPFS_NBD_BACKEND_SPAWNER_PROTOCOL_H
#define LOOPFS_NBD_BACKEND_SPAWNER_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The largest start request: nbdkit's arguments and environment. */
#define SPAWN_MSG_MAX (128 * 1024)

/* The child's descriptors, in the order they are sent. */
#define CHILD_FDS 3

struct spawn_header {
  uint32_t argc;
  uint32_t envc;
  uint32_t uid;
  uint32_t gid;
  int32_t parent;
  int32_t open_check;
  uint8_t change_ids;
  uint8_t runs_as_root;
};

/* What the spawner sends the daemon: the answer to a request, or
 * news of a new spare (the daemon's child, which the daemon must reap
 * if the spawner ends before using it). */
enum spawn_message {
  SPAWN_ANSWER,                 /* ERR, or PID started (pidfd attached) */
  SPAWN_SPARE,                  /* PID is the spare now */
};

struct spawn_reply {
  int32_t kind;                 /* enum spawn_message */
  int32_t err;                  /* 0 or an errno */
  int32_t pid;
};

/* Send LEN bytes of DATA on SOCK with the N descriptors FDS attached
 * (at most CHILD_FDS).  Returns 0 or a negative errno. */
int send_with_fds (int sock, const void *data, size_t len, const int *fds,
                   size_t n);

/* Receive one message of at most LEN bytes into DATA on SOCK, and up to
 * N descriptors into FDS (the others are set to -1).  Returns the
 * message's length (0 at end of file) or a negative errno. */
ssize_t recv_with_fds (int sock, void *data, size_t len, int *fds, size_t n);

/* The spawner's life: serve the requests of the daemon (DAEMON, our
 * parent) on SOCK until it hangs up. */
void spawner_main (int sock, pid_t daemon) __attribute__ ((noreturn));

#endif /* LOOPFS_NBD_BACKEND_SPAWNER_PROTOCOL_H */
