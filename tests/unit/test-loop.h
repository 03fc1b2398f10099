/* loopfs tests: a libuv loop that the test drives until a condition
 * holds. */
#ifndef LOOPFS_TESTS_TEST_LOOP_H
#define LOOPFS_TESTS_TEST_LOOP_H

#include <stdint.h>

#include <check.h>
#include <uv.h>

/* Run LOOP until COND holds, failing the test after MS ms.  The tick
 * timer of test_loop_init keeps uv_run from blocking longer than a
 * tick, so the deadline is checked. */
#define RUN_UNTIL(loop, cond, ms)                                       \
  do {                                                                  \
    uint64_t deadline_ = uv_hrtime () + (uint64_t) (ms) * 1000000;      \
    while (!(cond)) {                                                   \
      ck_assert_msg (uv_hrtime () < deadline_,                          \
                     "timed out waiting for " #cond);                   \
      uv_run ((loop), UV_RUN_ONCE);                                     \
    }                                                                   \
  } while (0)

/* Tick callback: nothing to do, waking the loop is the point. */
static inline void
test_loop_on_tick (uv_timer_t *timer)
{
  (void) timer;
}

/* Initialise LOOP with TICK, a timer firing every 20 ms. */
static inline void
test_loop_init (uv_loop_t *loop, uv_timer_t *tick)
{
  ck_assert_int_eq (uv_loop_init (loop), 0);
  uv_timer_init (loop, tick);
  uv_timer_start (tick, test_loop_on_tick, 20, 20);
}

/* Close TICK and LOOP; the loop must close, i.e. the code under test
 * closed every handle it opened. */
static inline void
test_loop_close (uv_loop_t *loop, uv_timer_t *tick)
{
  uv_close ((uv_handle_t *) tick, NULL);
  uv_run (loop, UV_RUN_DEFAULT);
  ck_assert_int_eq (uv_loop_close (loop), 0);
}

#endif /* LOOPFS_TESTS_TEST_LOOP_H */
