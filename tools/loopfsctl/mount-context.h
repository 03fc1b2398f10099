/* loopfsctl exec: the new mount API's filesystem contexts in the
 * sandbox.
 *
 * util-linux 2.39 and later mount through fsopen (TYPE), fsconfig
 * ("source" and the options, then FSCONFIG_CMD_CREATE), fsmount and
 * move_mount.  The kernel looks the source up only when the context
 * creates its superblock, and refuses an instance node then (ENOTBLK);
 * and nothing can be read back from a context, not even its type.  So
 * with mount interception, fsopen of a type that has a FUSE driver is
 * answered by loopfsctl: it opens the context itself, hands the caller
 * a copy of the descriptor (SECCOMP_IOCTL_NOTIF_ADDFD) and remembers
 * the type.  fsconfig of such a context (recognized with kcmp) is
 * recorded here and still runs in the kernel, which checks the options,
 * except a "source" that is an instance node: that is kept here, and
 * the context's FSCONFIG_CMD_CREATE then succeeds without the kernel.
 * fsmount of such a context gives the caller a stand-in for the
 * detached mount (another descriptor of the context: a mount's own is
 * O_PATH, which seccomp cannot hand over); mount_setattr of the
 * stand-in records its attributes, and move_mount of it starts the
 * driver at the target (mount-intercept.c).  Other uses of the stand-in
 * (openat into it, open_tree of it) fail.  A context with any other
 * source is the kernel's throughout.
 */
#ifndef LOOPFSCTL_MOUNT_CONTEXT_H
#define LOOPFSCTL_MOUNT_CONTEXT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "mount-caller.h"
#include "mount-drivers.h"
#include "notify-call.h"
#include "vector.h"

struct fs_context {
  int fd;                   /* our descriptor of it */
  char type[64];            /* fsopen's */
  bool ours;                /* the source is an instance node: */
  char node[NODE_MAX];      /* its name */
  int source_fd;            /* O_PATH of it, or -1 */
  bool created;             /* FSCONFIG_CMD_CREATE came */
  bool mounted;             /* fsmount gave the caller a stand-in */
  unsigned attrs;           /* MOUNT_ATTR_* of fsmount, mount_setattr */
  bool ro;                  /* the flag "ro" was set last */
  char *data;               /* the other options, "a,b=c", or NULL */
};

DEFINE_VECTOR_TYPE (context_vector, struct fs_context *);

/* Answer fsopen notification NC: a type with a driver in DRIVERS gets
 * a context opened here and remembered in CONTEXTS (NOTIFY_LATER: it is
 * answered); others continue. */
int fs_context_answer_fsopen (context_vector *contexts,
                              const driver_vector *drivers,
                              const struct notify_call *nc);

/* Answer fsmount notification NC: a context whose source is an
 * instance node gives the caller its stand-in. */
int fs_context_answer_fsmount (context_vector *contexts,
                               const struct notify_call *nc);

/* Answer mount_setattr notification NC: the attributes of a stand-in
 * are kept for its move_mount. */
int fs_context_answer_mount_setattr (const context_vector *contexts,
                                     const struct notify_call *nc);

/* The context whose stand-in is descriptor FD of the caller of NC,
 * named by the string at PATH_ADDR ("") with EMPTY_FLAG in FLAGS, or
 * NULL. */
struct fs_context *fs_context_stand_in (const context_vector *contexts,
                                        const struct notify_call *nc, int fd,
                                        uint64_t path_addr, unsigned flags,
                                        unsigned empty_flag);

/* The remembered context that descriptor FD of process PID is, or
 * NULL. */
struct fs_context *fs_context_find (const context_vector *contexts, pid_t pid,
                                    int fd);

/* Answer fsconfig notification NC on context C: NOTIFY_DONE,
 * NOTIFY_CONTINUE or -errno. */
int fs_context_config (struct fs_context *c, const struct notify_call *nc);

/* Forget context C (after its fsmount). */
void fs_context_forget (context_vector *contexts, struct fs_context *c);

/* Forget every context. */
void fs_contexts_free (context_vector *contexts);

#endif /* LOOPFSCTL_MOUNT_CONTEXT_H */
