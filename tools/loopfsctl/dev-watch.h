/* loopfsctl exec: the sandbox's /dev/loopN and /dev/loopNpM, kept in
 * step with the instance.
 *
 * The kernel's devtmpfs has /dev/loopN before LOOP_CTL_ADD returns, for
 * any N; the devtmpfs-in-user-namespaces RFC (Forshee 2014) gave each
 * namespace's devtmpfs the devices that namespace owns.  The sandbox's
 * /dev is a tmpfs of loopfsctl's, so loopfsctl registers with the
 * instance as a node watcher (LOOPFS_CTL_WATCH, loopfs-interface.h): a
 * thread makes the symlink /dev/NAME -> loopfs/NAME when loopfsd says
 * node NAME was made, removes it when it says the node was removed, and
 * answers each message once the entry is there or gone; loopfsd answers
 * the call that made or removed the node only then.  An entry exists
 * exactly while its node does, whatever its number, at a cost of one
 * message per change instead of one link per possible number.
 *
 * At the start, and again whenever loopfsd has dropped us (we did not
 * answer within its bound, or it restarted its watchers), the entries
 * are made again from a listing of the instance and links to nodes that
 * are gone are removed, after registering, so that no change falls
 * between the listing and the messages.
 */
#ifndef LOOPFSCTL_DEV_WATCH_H
#define LOOPFSCTL_DEV_WATCH_H

struct dev_watch;

/* Register with the instance mounted at INSTANCE (whose nodes are
 * INSTANCE_LINK/NAME as seen from DEV, e.g. "loopfs"), make the entries
 * of its nodes in directory DEV and keep them in step from a thread.
 * Returns 0 or -errno after a message. */
int dev_watch_start (const char *instance, const char *instance_link,
                     const char *dev, struct dev_watch **out);

/* Stop the thread, unregister (loopfsd sees the socket close) and free
 * DW; NULL is allowed.  The entries stay. */
void dev_watch_stop (struct dev_watch *dw);

#endif /* LOOPFSCTL_DEV_WATCH_H */
