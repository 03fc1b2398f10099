/* loopfsd: an ioctl that copies from or to its caller's memory (see
 * ioctl-call.h). */

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>

#include "ioctl-call.h"

/* Calls are zeroed so that an unused owner reads as none. */
struct ioctl_call *
ioctl_call_new (fuse_req_t req, struct handle *h, unsigned int cmd)
{
  struct ioctl_call *call = calloc (1, sizeof *call);

  if (call == NULL)
    ioctl_reply_result (req, -ENOMEM);
  else
    *call = (struct ioctl_call) { .req = req, .h = h, .cmd = cmd };
  return call;
}

/* The copy is the call's first member, so THEN gets the call back by a
 * cast. */
int
ioctl_call_start (struct ioctl_call *call, void *arg, size_t len,
                  bool to_caller, void (*then) (struct caller_copy *copy))
{
  assert (len <= sizeof call->data);
  call->copy = (struct caller_copy) {
    .pid = ioctl_caller_pid (call->req), .addr = (uintptr_t) arg,
    .buf = &call->data, .len = len, .to_caller = to_caller, .done = then,
  };
  return caller_copy_start (&call->copy);
}

/* Start a copy whose failure is answered at once. */
void
ioctl_call_copy (struct ioctl_call *call, void *arg, size_t len,
                 bool to_caller, void (*then) (struct caller_copy *copy))
{
  int r = ioctl_call_start (call, arg, len, to_caller, then);

  if (r < 0)
    ioctl_call_answer (call, r);
}

/* Answer and free a call. */
void
ioctl_call_answer (struct ioctl_call *call, int r)
{
  ioctl_reply_result (call->req, r);
  free (call);
}

/* A reply has been written to the caller: answer with the copy's
 * result. */
static void
call_written (struct caller_copy *copy)
{
  ioctl_call_answer ((struct ioctl_call *) copy, copy->result);
}

/* Errors go as a negative ioctl result rather than fuse_reply_err so
 * the caller sees exactly R; FUSE still rewrites -ENOSYS to -ENOTTY
 * (see tests/conformance/DIFFERENCES.md). */
void
ioctl_reply_result (fuse_req_t req, int r)
{
  fuse_reply_ioctl (req, r, NULL, 0);
}

/* Answer by writing DATA to the caller, off the loop. */
void
ioctl_reply_by_writing (fuse_req_t req, void *arg, const void *data,
                        size_t len)
{
  struct ioctl_call *call = ioctl_call_new (req, NULL, 0);

  if (call == NULL)
    return;
  assert (len <= sizeof call->data);
  memcpy (&call->data, data, len);
  ioctl_call_copy (call, arg, len, true, call_written);
}

/* The caller's thread id, which caller.h's functions need. */
pid_t
ioctl_caller_pid (fuse_req_t req)
{
  return fuse_req_ctx (req)->pid;
}

/* CAP_SYS_ADMIN as the kernel checks it for the instance. */
bool
ioctl_caller_admin (fuse_req_t req)
{
  return caller_capable (ioctl_caller_pid (req), CAP_SYS_ADMIN);
}

/* The caller's credentials as the model's permission checks take
 * them. */
struct loop_caller
ioctl_caller_of (fuse_req_t req, const struct handle *h)
{
  return (struct loop_caller) {
    .opened_for_write = h->writable,
    .sys_admin = ioctl_caller_admin (req),
  };
}
