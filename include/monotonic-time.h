/* loopfs: time for deadlines.
 *
 * Deadlines are measured on CLOCK_MONOTONIC, which no clock setting
 * moves; sleep_ms waits out a relative time.
 */
#ifndef LOOPFS_MONOTONIC_TIME_H
#define LOOPFS_MONOTONIC_TIME_H

#include <errno.h>
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

/* Sleep for MS milliseconds, also if signals interrupt. */
static inline void
sleep_ms (long ms)
{
  struct timespec ts = {
    .tv_sec = ms / 1000,
    .tv_nsec = (ms % 1000) * 1000000,
  };

  while (nanosleep (&ts, &ts) < 0 && errno == EINTR)
    ;
}

#endif /* LOOPFS_MONOTONIC_TIME_H */
