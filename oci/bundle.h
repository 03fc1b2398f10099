/* loopfs-oci: reading and editing an OCI bundle's config.json.
 *
 * The container opts in with annotations (see loopfs-oci(8)); for one
 * that does, the config gains bind mounts of the instance, its
 * loop-control and the sysfs view, and seccomp rules added to the
 * container's own profile: the stat family goes to the supervisor
 * (SCMP_ACT_NOTIFY, listenerPath) and mknod/mknodat of block devices
 * fail with EPERM.  The edit is idempotent: a config edited before
 * (a second create of the same bundle) gets the same result.
 */
#ifndef LOOPFS_OCI_BUNDLE_H
#define LOOPFS_OCI_BUNDLE_H

#include <stdbool.h>

struct json_object;

/* What the annotations ask for. */
struct loopfs_request {
  bool enable;              /* io.loopfs.enable (or "always" configured) */
  unsigned max;             /* io.loopfs.max, 0 for none */
  long long uid, gid;       /* the container's root as the host sees it
                               (its user namespace mapping), or -1 */
};

/* Where the supervisor serves the container, on the host. */
struct loopfs_paths {
  const char *instance;     /* the loopfsd mount */
  const char *sysfs;        /* the sysfs view's mount */
  const char *listener;     /* the seccomp listener socket */
};

/* Read BUNDLE/config.json into *CONFIG.  Returns 0 or -errno after a
 * message. */
int bundle_load (const char *bundle, struct json_object **config);

/* Read the io.loopfs.* annotations of CONFIG, and the host ids of the
 * container's root, into REQ (REQ->enable preset when always
 * configured).  Returns 0 or -EINVAL after a message
 * for an unknown io.loopfs.* annotation or a bad value. */
int bundle_request (struct json_object *config, struct loopfs_request *req);

/* Add the mounts and seccomp rules for PATHS to CONFIG.  Returns 0 or
 * -errno after a message. */
int bundle_edit (struct json_object *config, const struct loopfs_paths *paths);

/* Write CONFIG to BUNDLE/config.json (through a temporary file and a
 * rename).  Returns 0 or -errno after a message. */
int bundle_save (const char *bundle, struct json_object *config);

#endif /* LOOPFS_OCI_BUNDLE_H */
