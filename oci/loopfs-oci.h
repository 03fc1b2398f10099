/* loopfs-oci: what its files share.
 *
 * A container's files on the host live in one state directory,
 * RUN_DIR/ID (RUN_DIR is /run/loopfs-oci for root, else, rootless podman's
 * runtime included, $XDG_RUNTIME_DIR/loopfs-oci): the instance's mountpoint, the sysfs
 * view's, the seccomp listener socket, the supervisor's log, its pid
 * file and a lock file the supervisor holds while it lives (so that a
 * pid file left by a dead supervisor is never trusted).
 */
#ifndef LOOPFS_OCI_H
#define LOOPFS_OCI_H

#include <sys/types.h>

#include "error.h"

/* The supervisor says "set up" and then "container seen" with these
 * bytes on its ready pipe. */
#define READY_SET_UP 'R'
#define READY_CONTAINER 'C'

struct oci_state {
  char *dir;
  char *instance;           /* DIR/instance: the loopfsd mount */
  char *sysfs;              /* DIR/sysfs: the sysfs view's mount */
  char *listener;           /* DIR/seccomp.sock */
  char *log;                /* DIR/supervisor.log */
  char *pid_file;           /* DIR/supervisor.pid */
  char *lock;               /* DIR/lock */
};


/* Fill ST with the paths of container ID's state directory.  Returns 0,
 * or -EINVAL after a message when ID cannot be a directory name. */
int state_init (const char *id, struct oci_state *st);

/* Free the paths of ST. */
void state_free (struct oci_state *st);

/* Make the state directory and its mountpoints.  Returns 0 or -errno
 * after a message. */
int state_create (const struct oci_state *st);

/* Remove the files and directories of ST, mountpoints included (not
 * what is mounted on them).  Returns rmdir's result for the state
 * directory itself (0, or -1 with errno set). */
int state_remove_files (const struct oci_state *st);

/* End container ST's supervisor if one runs (SIGTERM, then SIGKILL
 * after a while) and remove whatever of the state directory is left,
 * mounts included.  Quiet when there is nothing.  Returns 0, or -EIO
 * after a message when something stayed. */
int state_remove (const struct oci_state *st);

#endif /* LOOPFS_OCI_H */
