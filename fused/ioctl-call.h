/* loopfsd: an ioctl that copies from or to its caller's memory.
 *
 * FUSE forwards most loop and block ioctls "restricted" (ioctl.c): the
 * raw argument arrives here, and the daemon reads or writes the
 * caller's memory itself, off the loop (caller.h).  Meanwhile the
 * request waits in a struct ioctl_call, which the copy's continuation
 * gets back.  The loop ioctls (ioctl.c), the generic block ones
 * (ioctl-block.c), a 32-bit caller's (ioctl-compat.c) and a
 * partition's (partition-ioctl.c) all go through it.
 */
#ifndef LOOPFSD_IOCTL_CALL_H
#define LOOPFSD_IOCTL_CALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/blkpg.h>
#include <linux/loop.h>

#include "caller.h"
#include "compat-loop-info.h"
#include "daemon.h"
#include "loopdev.h"

/* An ioctl waiting for a copy from or to its caller's memory. */
struct ioctl_call {
  struct caller_copy copy;       /* first: the copy is the call */
  fuse_req_t req;
  struct handle *h;              /* NULL for ioctl_reply_by_writing */
  unsigned int cmd;
  void *owner;                   /* the user's own state (ioctl.c: the
                                    bind transaction of LOOP_CONFIGURE) */
  union {                        /* what is copied: one member per kind */
    struct loop_config config;
    struct loop_info info;
    struct loop_info64 info64;
    struct compat_loop_info compat_info;
    struct blkpg_ioctl_arg blkpg;
    struct blkpg_partition part;
    uint64_t range[2];
    int i;
  } data;
};

/* A new call for REQ on handle H about CMD, or NULL with REQ answered
 * (ENOMEM). */
struct ioctl_call *ioctl_call_new (fuse_req_t req, struct handle *h,
                                   unsigned int cmd);

/* Start copying LEN bytes between CALL->data and the caller's ARG, to
 * the caller when TO_CALLER, off the loop; THEN (&CALL->copy) runs on
 * the loop once it is over, with the copy's result.  Returns 0, or a
 * negative errno with CALL left to its owner (THEN never runs). */
int ioctl_call_start (struct ioctl_call *call, void *arg, size_t len,
                      bool to_caller, void (*then) (struct caller_copy *copy));

/* As ioctl_call_start, but a copy that cannot start answers CALL's
 * request with its error and frees CALL. */
void ioctl_call_copy (struct ioctl_call *call, void *arg, size_t len,
                      bool to_caller, void (*then) (struct caller_copy *copy));

/* Answer CALL's request with R and free CALL. */
void ioctl_call_answer (struct ioctl_call *call, int r);

/* Answer an ioctl with a result R >= 0 or an error R < 0. */
void ioctl_reply_result (fuse_req_t req, int r);

/* Answer REQ by writing LEN bytes of DATA (at most the size of an
 * ioctl call's data) to the caller's ARG, as put_user() or
 * copy_to_user() do for a number whose size FUSE does not know. */
void ioctl_reply_by_writing (fuse_req_t req, void *arg, const void *data,
                             size_t len);

/* The caller's thread id, as FUSE reports it. */
pid_t ioctl_caller_pid (fuse_req_t req);

/* Whether the caller of REQ has CAP_SYS_ADMIN over the instance. */
bool ioctl_caller_admin (fuse_req_t req);

/* What the model needs to know about the caller of REQ on handle H. */
struct loop_caller ioctl_caller_of (fuse_req_t req, const struct handle *h);

#endif /* LOOPFSD_IOCTL_CALL_H */
