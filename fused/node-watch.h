/* loopfsd: node watchers, the processes that keep a /dev of their own in
 * step with the instance (a sandbox's /dev/loopN and /dev/loopNpM).
 *
 * The devtmpfs-in-user-namespaces RFC made a device node appear in the
 * owning namespace's devtmpfs before LOOP_CTL_ADD returned; a loopfs
 * instance has no devtmpfs, so whoever builds a /dev for it (loopfsctl
 * exec) registers a socket here (LOOPFS_CTL_WATCH, loopfs-interface.h)
 * and is told of every node made or removed before the call that made
 * or removed it is answered.  The protocol and its bounds are in
 * loopfs-interface.h.
 *
 * Callers are assumed hostile: anybody who can open loop-control may
 * register.  The daemon therefore creates no file for anybody (the
 * watcher makes its own entries, with its own rights), never waits on
 * the loop (the exchange runs as an offload job, one at a time, so the
 * messages keep their order), never waits without a bound, and drops a
 * watcher at its first hang-up or missed answer, so a dead or stalled
 * watcher delays at most one answer by NODE_WATCH_TIMEOUT_MS.
 */
#ifndef LOOPFSD_NODE_WATCH_H
#define LOOPFSD_NODE_WATCH_H

#include <stdbool.h>
#include <sys/types.h>

#include "daemon.h"
#include "partition-table.h"

struct node_watch;

/* A new set of watchers, empty.  Returns NULL when out of memory. */
struct node_watch *node_watch_new (void);

/* LOOPFS_CTL_WATCH: register descriptor FD of thread TID.  Returns 0,
 * -EBADF, -EINVAL (not an AF_UNIX SOCK_SEQPACKET socket), -ENOSPC
 * (NODE_WATCH_MAX watchers) or another -errno. */
int node_watch_add (struct node_watch *w, pid_t tid, int fd);

/* Node NAME was made (ADDED) or removed: queue the message for every
 * watcher.  Nothing is queued while there is no watcher. */
void node_watch_note (struct node_watch *w, bool added, const char *name);

/* The partitions of device NUMBER are now those of T (NULL: it has
 * none): queue a message for each partition node made or removed since
 * the last call for NUMBER.  Called after every change of a device's
 * partition table (scan, BLKPG, clear). */
void node_watch_partitions (struct node_watch *w, int number,
                            const struct partition_table *t);

typedef void (*node_watch_done_cb) (void *opaque, int result);

/* Call DONE (OPAQUE, RESULT) on the loop once every message queued so
 * far has been answered (or its watcher dropped): at once when none is
 * pending. */
void node_watch_sync (struct node_watch *w, node_watch_done_cb done,
                      void *opaque, int result);

/* Answer REQ with R (0 or -errno) once every message queued so far has
 * been answered: with fuse_reply_ioctl when IOCTL, else with
 * fuse_reply_err (unlink). */
void node_watch_reply (struct node_watch *w, fuse_req_t req, bool ioctl,
                       int r);

/* The daemon is exiting: run the waiting DONE callbacks, queue nothing
 * more, close the watchers and free W (an exchange under way finishes
 * on its own thread, and its report is dropped with offload_close). */
void node_watch_close (struct node_watch *w);

#endif /* LOOPFSD_NODE_WATCH_H */
