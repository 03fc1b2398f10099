/* loopfsctl exec: looking a path up as another process would.
 *
 * The stat fake must answer only where the kernel would find the same
 * node for the caller, so the lookup has to be the caller's: from its
 * root (a chroot inside the sandbox stays closed: no "../.." or
 * absolute symlink leads out), from its working directory or
 * descriptor, with its filesystem uid and gid, supplementary groups
 * and effective capabilities (a directory it may not search gives
 * EACCES), and with its view of the magic links "/proc/self",
 * "/proc/thread-self" and the "/dev/fd", "/dev/stdin"... symlinks into
 * them, which in our own lookup would name our process instead.
 *
 * The lookup runs in the calling thread, which must be one that does
 * nothing else meanwhile (the stat fake's thread): caller_lookup_init
 * gives it a root and working directory of its own (unshare
 * CLONE_FS), and each lookup takes on the caller's root, working
 * directory and credentials for the one openat and then restores ours.
 * Credentials are per thread in Linux; the raw system calls change only
 * this thread's (glibc's wrappers would change every thread's).
 */
#ifndef LOOPFSCTL_CALLER_LOOKUP_H
#define LOOPFSCTL_CALLER_LOOKUP_H

#include <sys/types.h>

struct caller_lookup;

/* In the thread that will do the lookups: unshare its filesystem
 * attributes and remember its own root, working directory and
 * credentials.  Returns 0 or -errno. */
int caller_lookup_init (struct caller_lookup **out);

/* Open (O_PATH, O_NOFOLLOW when FLAGS has AT_SYMLINK_NOFOLLOW) PATH as
 * thread PID would look it up relative to DIRFD (AT_FDCWD or one of
 * its descriptors), with AT_EMPTY_PATH meaning DIRFD itself.  Returns
 * the descriptor or -errno (then the caller's own call would most
 * likely fail, or find something else). */
int caller_lookup_open (struct caller_lookup *cl, pid_t pid, int dirfd,
                        const char *path, int flags);

/* Free what caller_lookup_init made. */
void caller_lookup_free (struct caller_lookup *cl);

#endif /* LOOPFSCTL_CALLER_LOOKUP_H */
