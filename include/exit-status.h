/* loopfs: turning a child's wait status into an exit status. */
#ifndef LOOPFS_EXIT_STATUS_H
#define LOOPFS_EXIT_STATUS_H

#include <sys/wait.h>

/* Turn wait status STATUS into an exit status, as shells do: the
 * child's own status, or 128+N after signal N.  OTHERWISE is for a
 * status that is neither (stopped or continued, which only a waiter
 * that asked for them gets). */
static inline int
exit_status_of (int status, int otherwise)
{
  if (WIFEXITED (status))
    return WEXITSTATUS (status);
  if (WIFSIGNALED (status))
    return 128 + WTERMSIG (status);
  return otherwise;
}

#endif /* LOOPFS_EXIT_STATUS_H */
