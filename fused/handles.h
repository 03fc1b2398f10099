/* loopfsd: open files (struct handle) and the ones stacked devices hold
 * (see handles.c). */
#ifndef LOOPFSD_HANDLES_H
#define LOOPFSD_HANDLES_H

#include <stdbool.h>
#include <stdint.h>

#include "daemon.h"

/* A handle for a file opened on DEV (NULL: loop-control), or NULL. */
struct handle *handle_new (struct daemon *d, struct device *dev,
                           bool writable);

/* Free handle H. */
void handle_free (struct daemon *d, struct handle *h);

/* The last reference to open file H went away (its RELEASE, or the
 * device stacked on it let go after that): its device loses an opener,
 * which may clear it; a stacked device cleared so lets go of the open
 * file it holds in turn. */
void handles_release (struct daemon *d, struct handle *h);

/* A new cookie for the probe of a backing file (never 0; 0 if none
 * could be made): a node of ours probed with it gets LOOPFS_IOC_HOLD. */
uint64_t handles_expect_hold (void);

/* LOOPFS_IOC_HOLD with COOKIE arrived on open file H: true when the
 * cookie is one we expect (H is now held), false otherwise. */
bool handles_hold (struct handle *h, uint64_t cookie);

/* The open file the probe with COOKIE held, or NULL (not a node of
 * ours); the cookie is forgotten. */
struct handle *handles_take_hold (uint64_t cookie);

/* Let go of held open file H (NULL: nothing): after its RELEASE, this
 * is its last close. */
void handles_unhold (struct daemon *d, struct handle *h);

#endif /* LOOPFSD_HANDLES_H */
