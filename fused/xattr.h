/* loopfsd: the extended attributes of an instance's nodes (see
 * xattr.c).  FUSE low-level handlers, named in fs.c's operations
 * table. */
#ifndef LOOPFSD_XATTR_H
#define LOOPFSD_XATTR_H

#include "daemon.h"

void xattr_get (fuse_req_t req, fuse_ino_t ino, const char *name,
                size_t size);
void xattr_list (fuse_req_t req, fuse_ino_t ino, size_t size);
void xattr_set (fuse_req_t req, fuse_ino_t ino, const char *name,
                const char *value, size_t size, int flags);
void xattr_remove (fuse_req_t req, fuse_ino_t ino, const char *name);

#endif /* LOOPFSD_XATTR_H */
