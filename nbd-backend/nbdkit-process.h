/* loopfs nbd-backend: the nbdkit process serving one backend.
 *
 * nbdkit runs its file plugin on the backing descriptor, inherited as
 * fd 4 and reopened through /proc/self/fd/4 (see nbdkit-process.c for
 * why not file=/dev/fd/4), with the offset filter cutting out
 * [offset, offset+length).
 * It gets its listening Unix socket as fd 3 by systemd socket
 * activation, so it can be connected to as soon as it is forked.  The
 * child drops every capability, sets no_new_privs and, when the
 * daemon is root and asked to, takes the credentials of the backing
 * file's owner before exec.  The process is tracked by a pidfd, so
 * signalling and reaping it can never hit a recycled pid.
 */
#ifndef LOOPFS_NBD_BACKEND_NBDKIT_PROCESS_H
#define LOOPFS_NBD_BACKEND_NBDKIT_PROCESS_H

#include <stdbool.h>
#include <sys/types.h>

#include "backend.h"

struct nbdkit_process {
  pid_t pid;
  int pidfd;            /* readable once nbdkit has exited */
  char *socket_path;    /* nbdkit's listening socket, unlinked on release */
  int report_fd;        /* the answer of the open check, or -1 (see
                           nbdkit-spawner.h); the owner closes it */
};

/* Start PROGRAM (a path, or a name looked up in $PATH) for CONFIG.  On
 * success *PROC describes the running child.  For a file served by
 * direct I/O the child first checks, with nbdkit's credentials, that
 * the file opens as nbdkit will open it, and answers on REPORT_FD. */
int nbdkit_process_spawn (const char *program,
                          const struct backend_config *config,
                          struct nbdkit_process *proc);

/* Send SIG to nbdkit through its pidfd. */
int nbdkit_process_kill (const struct nbdkit_process *proc, int sig);

/* Reap nbdkit if it has exited: returns 1 and stores a description of
 * how it ended in DESC, 0 if it is still running, or a negative errno. */
int nbdkit_process_reap (const struct nbdkit_process *proc,
                         char *desc, size_t desc_size);

/* Close the pidfd and the report descriptor, unlink the socket and
 * free the path. */
void nbdkit_process_release (struct nbdkit_process *proc);

#endif /* LOOPFS_NBD_BACKEND_NBDKIT_PROCESS_H */
