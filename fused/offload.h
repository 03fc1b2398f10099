/* loopfsd: blocking work on threads of its own.
 *
 * Some work waits on another party for as long as that party likes:
 * inspecting or closing a backing file (on another filesystem, maybe a
 * hung NFS or FUSE mount), reading or writing a caller's memory (a page
 * of it may be a mapping that FUSE, even this very daemon, must serve
 * before the copy can finish), attaching a kernel NBD device.  Such a
 * job must neither stop the loop, which serves every FUSE request, nor
 * hold a thread that other devices need: libuv's pool has four threads
 * for the whole daemon (and answers its large reads), so four hung
 * backing files would stop every device.  Each job therefore runs on a
 * thread of its own and reports back on the loop; a job that never
 * returns holds up only the request it belongs to.  Jobs are rare (a
 * bind, a close, one ioctl's argument), so a thread each costs little.
 */
#ifndef LOOPFSD_OFFLOAD_H
#define LOOPFSD_OFFLOAD_H

#include <uv.h>

/* Most jobs under way at once; more fail with -EAGAIN, as a fork beyond
 * a limit does.  Only callers that keep jobs blocked on purpose (a hung
 * filesystem, or many threads of one hostile process) reach it. */
#define OFFLOAD_MAX_JOBS 1024

/* One job: embed it in the request it belongs to. */
struct offload {
  void (*work) (struct offload *job);   /* on the job's thread */
  void (*done) (struct offload *job);   /* then on the loop */
  void (*drop) (struct offload *job);   /* or this, at exit */
  struct offload *next;
};

/* Start delivering finished jobs on LOOP.  Returns 0 or -errno. */
int offload_init (uv_loop_t *loop);

/* Run WORK (JOB) on a new thread, then DONE (JOB) on the loop.  Returns
 * 0, or -EAGAIN / -ENOMEM without calling either. */
int offload_run (struct offload *job, void (*work) (struct offload *job),
                 void (*done) (struct offload *job));

/* As offload_run, and if the daemon exits before DONE (JOB) can run
 * (offload_close), DROP (JOB) frees what the job owns instead, on
 * whichever thread sees that.  Without it such a job is simply lost. */
int offload_run_or_drop (struct offload *job,
                         void (*work) (struct offload *job),
                         void (*done) (struct offload *job),
                         void (*drop) (struct offload *job));

/* Stop delivering: jobs finished but not yet delivered, and jobs that
 * finish later, are dropped (the daemon is exiting; the loop's handles
 * are being closed). */
void offload_close (void);

#endif /* LOOPFSD_OFFLOAD_H */
