/* loopfsd: the socket that keeps fusermount3's auto_unmount watcher
 * waiting.
 *
 * With -o auto_unmount libfuse mounts through fusermount3, which stays
 * behind and waits for its socket to the daemon to close.  It then
 * unmounts only when opening the mountpoint fails with ENOTCONN, that
 * is, when the FUSE connection has already been aborted.  A killed
 * daemon's descriptors are released one by one, the socket (opened
 * first, so a lower number) normally before /dev/fuse: fusermount3 may
 * then open the mountpoint while the connection is still alive, its
 * open is ended by the abort with ECONNABORTED instead, and the dead
 * mount stays (seen about once in a hundred SIGKILLs).  So the reaper
 * holds a copy of the socket and closes it only once the daemon has
 * wholly exited, which is after the connection was aborted.
 */
#ifndef LOOPFSD_FUSERMOUNT_SOCKET_H
#define LOOPFSD_FUSERMOUNT_SOCKET_H

/* Find the descriptor of libfuse's socket to a fusermount3 that waits
 * to auto-unmount.  Returns it, or -ENOENT when there is none (no
 * auto_unmount, or mounted without fusermount3). */
int fusermount_socket_find (void);

#endif /* LOOPFSD_FUSERMOUNT_SOCKET_H */
