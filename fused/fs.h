/* loopfsd: the FUSE operations of an instance (see fs.c). */
#ifndef LOOPFSD_FS_H
#define LOOPFSD_FS_H

#include "daemon.h"

/* The operations table; the session's userdata is the struct daemon. */
extern const struct fuse_lowlevel_ops loopfs_ops;

#endif /* LOOPFSD_FS_H */
