/* loopfs-oci: the per-container supervisor.
 *
 * One process per container that uses loopfs, started by "create"
 * before the real runtime runs and living exactly as long as the
 * container's init: it runs the container's loopfsd (its child, which
 * dies with it), serves the sysfs view, receives the seccomp listener
 * of every process the runtime starts in the container (runc connects
 * to the config's listenerPath and sends it with the container's state)
 * and answers its stat notifications with loopfsctl exec's stat fake.
 * It makes the container's /dev/loopN symlinks once it knows the
 * container's init, and tears everything down when that init ends (a
 * pidfd), when loopfsd ends, or on SIGTERM (the runtime's "delete").
 */
#ifndef LOOPFS_OCI_SUPERVISOR_H
#define LOOPFS_OCI_SUPERVISOR_H

#include "loopfs-oci.h"

struct supervisor_config {
  const struct oci_state *state;
  const char *loopfsd;      /* the loopfsd program to run */
  unsigned max;             /* -o max=, 0 for none */
  long long uid, gid;       /* -o uid=, gid=, or -1 for none */
  int ready;                /* pipe to the wrapper (READY_* bytes) */
};

/* Run the supervisor in this (freshly forked) process; never returns. */
void supervisor_run (const struct supervisor_config *config)
  __attribute__ ((noreturn));

#endif /* LOOPFS_OCI_SUPERVISOR_H */
