/* loopfs: time for deadlines.
 *
 * Deadlines are measured on CLOCK_MONOTONIC, which no clock setting
 * moves.
 */
#ifndef LOOPFS_MONOTONIC_TIME_H
#define LOOPFS_MONOTONIC_TIME_H

#include <stdint.h>
#include <time.h>

/* The current CLOCK_MONOTONIC time in nanoseconds. */
static inline uint64_t
monotonic_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The current CLOCK_MONOTONIC time in milliseconds. */
static inline int64_t
monotonic_ms (void)
{
  return monotonic_ns () / 1000000;
}

#endif /* LOOPFS_MONOTONIC_TIME_H */
