/* loopfs tests: binding a model device the way loopfsd's bind
 * transaction does, for the unit tests of control/. */
#ifndef LOOPFS_TESTS_LOOPDEV_BIND_H
#define LOOPFS_TESTS_LOOPDEV_BIND_H

#include <stdbool.h>

#include "loopdev.h"

/* Run the whole configure sequence (check, begin, commit) on LO.
 * Returns what the check returned; on failure LO is left alone. */
static inline int
bind_config (struct loopdev *lo, const struct loop_config *config,
             const struct loop_backing *backing, bool dev_writable)
{
  struct loopdev_binding b;
  int r;

  r = loopdev_configure_check (lo, config, backing, dev_writable, &b);
  if (r < 0)
    return r;
  loopdev_configure_begin (lo);
  loopdev_configure_commit (lo, &b);
  return 0;
}

#endif /* LOOPFS_TESTS_LOOPDEV_BIND_H */
