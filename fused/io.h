/* loopfsd: the data path of loopN (see io.c).  Each function answers
 * REQ itself, once the backend has done the work. */
#ifndef LOOPFSD_IO_H
#define LOOPFSD_IO_H

#include "daemon.h"
#include "device.h"

/* read(2) and write(2) of SIZE bytes at OFF. */
void io_read (fuse_req_t req, struct device *dev, size_t size, off_t off);
void io_write (fuse_req_t req, struct device *dev, const char *buf,
               size_t size, off_t off);

/* fsync(2) and fdatasync(2). */
void io_fsync (fuse_req_t req, struct device *dev);

/* fallocate(2) with MODE, as blkdev_fallocate() takes it. */
void io_fallocate (fuse_req_t req, struct device *dev, int mode,
                   off_t off, off_t len);

/* Discard (ZERO false) or zero (ZERO true) LEN bytes at START, a range
 * the caller has checked (BLKDISCARD, BLKZEROOUT).  Answers with an
 * ioctl result: 0, or -EIO when the backend fails or the device has
 * been cleared. */
void io_discard_range (fuse_req_t req, struct device *dev, uint64_t start,
                       uint64_t len, bool zero);

#endif /* LOOPFSD_IO_H */
