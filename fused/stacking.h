/* loopfsd: a loop device whose backing file is another loop device of
 * this instance (see stacking.c). */
#ifndef LOOPFSD_STACKING_H
#define LOOPFSD_STACKING_H

#include "backing.h"
#include "device.h"

/* Decide what probed backing file P means for binding DEV.  A node of
 * this instance (by the mount's st_dev, or seen through a filesystem
 * stacked on the instance, by the nbdkit pid it reports) becomes a
 * block device backing served by that device, returned in *LOWER
 * (else NULL): -EBADF when the chain of lower devices leads back to
 * DEV, -EINVAL when a device in it is not bound, as loop_validate_file
 * walks it.  A node of another instance is an ordinary file.  Returns
 * 0 or a negative errno. */
int stacking_resolve (struct daemon *d, struct device *dev,
                      struct backing_probe *p, struct device **lower);

/* Are devices stacked on LOWER? */
bool stacking_has_uppers (struct daemon *d, struct device *lower);

#endif /* LOOPFSD_STACKING_H */
