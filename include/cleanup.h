/* loopfs: scope-bound ownership helpers.
 *
 * Resources are released when the variable holding them goes out of
 * scope, so every early return of a function is also its unwind path.
 * Ownership leaves the scope explicitly with TAKE_PTR / TAKE_FD.
 */
#ifndef LOOPFS_CLEANUP_H
#define LOOPFS_CLEANUP_H

#include <stdlib.h>
#include <unistd.h>
#include <errno.h>

/* Free a heap pointer held in *p. */
static inline void
cleanup_free (void *p)
{
  free (*(void **) p);
}

/* Close a descriptor held in *fd, keeping errno as the caller left it. */
static inline void
cleanup_close (int *fd)
{
  if (*fd >= 0) {
    int saved = errno;
    close (*fd);
    errno = saved;
  }
}

#define CLEANUP_FREE __attribute__ ((cleanup (cleanup_free)))
#define CLEANUP_CLOSE __attribute__ ((cleanup (cleanup_close)))

/* Move a pointer out of a cleanup-owned variable. */
#define TAKE_PTR(p) ({ __typeof__ (p) _p = (p); (p) = NULL; _p; })

/* Move a descriptor out of a cleanup-owned variable. */
#define TAKE_FD(fd) ({ int _fd = (fd); (fd) = -1; _fd; })

#endif /* LOOPFS_CLEANUP_H */
