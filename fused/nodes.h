/* loopfsd: the nodes of an instance, by name and inode number.
 *
 * The root directory (ROOT_INO), loop-control (CONTROL_INO) and one
 * loopN per device (DEVICE_INO_BASE + N), as in the kernel patch.  The
 * handlers of fs.c, open-files.c and xattr.c find devices and
 * attributes here.
 */
#ifndef LOOPFSD_NODES_H
#define LOOPFSD_NODES_H

#include <stdbool.h>
#include <sys/stat.h>

#include "daemon.h"

/* The model device behind inode INO of D's instance, or NULL. */
struct loopdev *node_device (struct daemon *d, fuse_ino_t ino);

/* Parse "loopN" (N in canonical decimal form, below the highest device
 * number) into *NUMBER. */
bool node_parse_name (const char *name, int *number);

/* Fill *ST for inode INO; -ENOENT when it does not exist. */
int node_attr (struct daemon *d, fuse_ino_t ino, struct stat *st);

#endif /* LOOPFSD_NODES_H */
