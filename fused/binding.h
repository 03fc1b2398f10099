/* loopfsd: the bind transaction of a loop device.
 *
 * Giving a device a backend, or a new one, is one transaction: inspect
 * the backing file (off the loop), ask the model whether the change is
 * allowed, start nbdkit, attach it to a kernel /dev/nbdX when the
 * instance uses kernel NBD, and only then commit: install the backend
 * and change the model.  LOOP_SET_FD and LOOP_CONFIGURE bind an unbound
 * device; LOOP_CHANGE_FD, LOOP_SET_CAPACITY and a LOOP_SET_STATUS(64)
 * that changes the offset or size limit rebind a bound one.  Each step
 * may take time, so the transaction runs on the loop through callbacks
 * and reports its result once, through the DONE callback its caller
 * passes: this file never answers a FUSE request itself.
 */
#ifndef LOOPFSD_BINDING_H
#define LOOPFSD_BINDING_H

#include <stdbool.h>
#include <linux/loop.h>

#include "daemon.h"
#include "device.h"

/* Called once when the transaction is over, with 0 or a negative errno
 * (the ioctl's answer).  By then the model and the device are in their
 * final state, and a backing descriptor the transaction refused is
 * closed (the kernel drops a refused file before the ioctl returns). */
typedef void (*binding_done_cb) (void *opaque, int result);

/* LOOP_SET_FD / LOOP_CONFIGURE of DEV with CONFIG and backing
 * descriptor FD (owned by the transaction from here on).  DEV_WRITABLE:
 * the loopN handle was opened for write. */
void binding_configure (struct daemon *d, struct device *dev,
                        const struct loop_config *config, int fd,
                        bool dev_writable, binding_done_cb done,
                        void *opaque);

/* LOOP_CHANGE_FD of DEV to backing descriptor FD (owned). */
void binding_change_fd (struct daemon *d, struct device *dev, int fd,
                        binding_done_cb done, void *opaque);

/* LOOP_SET_CAPACITY of DEV: the backing file's size is read again. */
void binding_set_capacity (struct daemon *d, struct device *dev,
                           binding_done_cb done, void *opaque);

/* Serve DEV with BINDING (a new offset or size limit from
 * LOOP_SET_STATUS(64), already checked by the model) from its current
 * backing file. */
void binding_rebind (struct daemon *d, struct device *dev,
                     const struct loopdev_binding *binding,
                     binding_done_cb done, void *opaque);

#endif /* LOOPFSD_BINDING_H */
