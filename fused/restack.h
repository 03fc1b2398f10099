/* loopfsd: devices stacked on a device that gets a new backend (see
 * restack.c). */
#ifndef LOOPFSD_RESTACK_H
#define LOOPFSD_RESTACK_H

#include "daemon.h"

/* LOWER got a new backend (LOOP_CHANGE_FD, a new offset, size limit or
 * capacity): the devices stacked on it, clients of its old nbdkit OLD
 * (kept serving until then; NULL if already stopped), move to the new
 * one, as the kernel's upper device simply sees what its lower device
 * now serves.  Then OLD is stopped and DONE (OPAQUE) called.  The
 * daemon's lower_changed hook (binding.c calls it). */
void restack_lower_changed (struct daemon *d, struct device *lower,
                            struct backend *old,
                            void (*done) (void *opaque), void *opaque);

#endif /* LOOPFSD_RESTACK_H */
