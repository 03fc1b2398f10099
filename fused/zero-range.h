/* loopfsd: zeroing a range as the kernel's loop driver does (see
 * zero-range.c). */
#ifndef LOOPFSD_ZERO_RANGE_H
#define LOOPFSD_ZERO_RANGE_H

#include <stdint.h>

#include "backend.h"
#include "device.h"

/* Zero LEN bytes at START of bound device DEV (a write-zeroes request
 * without unmap: fallocate ZERO_RANGE, BLKZEROOUT), then call DONE
 * (OPAQUE, 0 or an errno) on the loop. */
void zero_range (struct device *dev, uint64_t start, uint64_t len,
                 backend_io_cb done, void *opaque);

#endif /* LOOPFSD_ZERO_RANGE_H */
