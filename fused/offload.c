/* loopfsd: blocking work on threads of its own (see offload.h). */

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>

#include "offload.h"

/* A job's thread does little besides one system call or a libnl
 * exchange: a small stack keeps hundreds of them cheap. */
#define OFFLOAD_STACK_SIZE (256 * 1024)

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uv_async_t finished_async;
static bool open_for_delivery;      /* under LOCK */
static struct offload *finished;    /* under LOCK, newest first */
static unsigned running;            /* under LOCK */

/* A job's thread. */
static void *
job_thread (void *arg)
{
  struct offload *job = arg;

  bool delivered;

  job->work (job);
  pthread_mutex_lock (&lock);
  running--;
  delivered = open_for_delivery;
  if (delivered) {
    job->next = finished;
    finished = job;
    uv_async_send (&finished_async);
  }
  pthread_mutex_unlock (&lock);
  if (!delivered && job->drop)
    job->drop (job);
  return NULL;
}

/* On the loop: run the DONE callbacks of finished jobs, oldest first. */
static void
deliver (uv_async_t *async)
{
  struct offload *list, *reversed = NULL;

  (void) async;
  pthread_mutex_lock (&lock);
  list = finished;
  finished = NULL;
  pthread_mutex_unlock (&lock);
  while (list) {
    struct offload *next = list->next;
    list->next = reversed;
    reversed = list;
    list = next;
  }
  while (reversed) {
    struct offload *job = reversed;
    reversed = job->next;
    job->done (job);
  }
}

/* Start delivering finished jobs on LOOP. */
int
offload_init (uv_loop_t *loop)
{
  if (uv_async_init (loop, &finished_async, deliver) < 0)
    return -ENOMEM;
  pthread_mutex_lock (&lock);
  open_for_delivery = true;
  pthread_mutex_unlock (&lock);
  return 0;
}

/* Run WORK on a new thread, then DONE on the loop, or DROP at exit. */
int
offload_run_or_drop (struct offload *job, void (*work) (struct offload *job),
                     void (*done) (struct offload *job),
                     void (*drop) (struct offload *job))
{
  pthread_attr_t attr;
  pthread_t thread;
  int r;

  job->work = work;
  job->done = done;
  job->drop = drop;
  job->next = NULL;
  pthread_mutex_lock (&lock);
  if (running >= OFFLOAD_MAX_JOBS) {
    pthread_mutex_unlock (&lock);
    return -EAGAIN;
  }
  running++;
  pthread_mutex_unlock (&lock);

  pthread_attr_init (&attr);
  pthread_attr_setdetachstate (&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize (&attr, OFFLOAD_STACK_SIZE);
  r = pthread_create (&thread, &attr, job_thread, job);
  pthread_attr_destroy (&attr);
  if (r != 0) {
    pthread_mutex_lock (&lock);
    running--;
    pthread_mutex_unlock (&lock);
    return r == EAGAIN ? -EAGAIN : -ENOMEM;
  }
  return 0;
}

/* Run WORK on a new thread, then DONE on the loop. */
int
offload_run (struct offload *job, void (*work) (struct offload *job),
             void (*done) (struct offload *job))
{
  return offload_run_or_drop (job, work, done, NULL);
}

/* Stop delivering finished jobs. */
void
offload_close (void)
{
  struct offload *list;

  pthread_mutex_lock (&lock);
  open_for_delivery = false;
  list = finished;
  finished = NULL;
  pthread_mutex_unlock (&lock);
  while (list) {
    struct offload *job = list;
    list = job->next;
    if (job->drop)
      job->drop (job);
  }
  if (!uv_is_closing ((uv_handle_t *) &finished_async))
    uv_close ((uv_handle_t *) &finished_async, NULL);
}
