/* loopfsd: what open nodes do (see open-files.c).  The file_* functions
 * are FUSE low-level handlers, named in fs.c's operations table. */
#ifndef LOOPFSD_OPEN_FILES_H
#define LOOPFSD_OPEN_FILES_H

#include "daemon.h"

void file_open (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void file_release (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void file_read (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                struct fuse_file_info *fi);
void file_write (fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
                 off_t off, struct fuse_file_info *fi);
void file_fsync (fuse_req_t req, fuse_ino_t ino, int datasync,
                 struct fuse_file_info *fi);
void file_fallocate (fuse_req_t req, fuse_ino_t ino, int mode, off_t off,
                     off_t len, struct fuse_file_info *fi);
void file_ioctl (fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *arg,
                 struct fuse_file_info *fi, unsigned flags,
                 const void *in_buf, size_t in_bufsz, size_t out_bufsz);

/* Free the handles whose RELEASE never came: the kernel drops the
 * RELEASE of files closed while the mount is torn down. */
void open_files_free (struct daemon *d);

#endif /* LOOPFSD_OPEN_FILES_H */
