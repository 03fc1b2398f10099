/* loopfsctl exec: what every node of the sandbox's sysfs view shares
 * (see sysfs-view.h): the attributes sysfs gives a directory, a link
 * and an attribute file, and the callback that lists nodes. */
#ifndef LOOPFSCTL_SYSFS_NODE_H
#define LOOPFSCTL_SYSFS_NODE_H

#define FUSE_USE_VERSION 35

#include <sys/stat.h>
#include <fuse_lowlevel.h>

/* What the kernel shows as a sysfs attribute's size. */
#define SYSFS_ATTRIBUTE_SIZE 4096

/* Add entry NAME with attributes ATTR to a directory listing CTX. */
typedef void sysfs_add_fn (void *ctx, const char *name,
                           const struct stat *attr);

enum sysfs_node_kind { SYSFS_NODE_DIR, SYSFS_NODE_LINK, SYSFS_NODE_FILE };

/* Fill ATTR for node INO of kind KIND as sysfs shows it: a directory
 * 0755 with two links, a link 0777, a read-only attribute file of
 * SYSFS_ATTRIBUTE_SIZE bytes. */
void sysfs_node_attr (fuse_ino_t ino, enum sysfs_node_kind kind,
                      struct stat *attr);

#endif /* LOOPFSCTL_SYSFS_NODE_H */
