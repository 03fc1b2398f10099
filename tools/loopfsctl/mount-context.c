/* loopfsctl exec: the new mount API's filesystem contexts in the
 * sandbox (see mount-context.h). */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/kcmp.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "caller-lookup.h"
#include "mount-context.h"

/* At most this many contexts are remembered: a context whose caller
 * closed it without mounting stays open here until it is the oldest
 * beyond this (then fsconfig of it, if any came, would reach the kernel
 * unchanged). */
#define MAX_CONTEXTS 64

/* The mount attributes of the new mount API that a taken-over mount
 * honours. */
#define ATTRS_KEPT (MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV \
                    | MOUNT_ATTR_NOEXEC)

/* An option value is at most a page, as mount(2)'s data. */
#define VALUE_MAX 4096

/* Free context C. */
static void
context_free (struct fs_context *c)
{
  close (c->fd);
  if (c->source_fd >= 0)
    close (c->source_fd);
  free (c->data);
  free (c);
}

/* Answer fsopen notification NC of TYPE (FLAGS as fsopen's) with a
 * context opened here and remembered in CONTEXTS. */
static int
context_open (context_vector *contexts, const struct notify_call *nc,
              const char *type, unsigned flags)
{
  struct fs_context *c;
  int r;

  if (contexts->len >= MAX_CONTEXTS) {
    context_free (contexts->ptr[0]);
    context_vector_remove (contexts, 0);
  }
  c = calloc (1, sizeof *c);
  if (c == NULL)
    return -ENOMEM;
  c->source_fd = -1;
  snprintf (c->type, sizeof c->type, "%s", type);
  c->fd = fsopen (type, FSOPEN_CLOEXEC);
  if (c->fd < 0) {
    r = -errno;
    free (c);
    return r;
  }
  if (context_vector_append (contexts, c) < 0) {
    context_free (c);
    return -ENOMEM;
  }
  r = notify_respond_fd (nc->listener, nc->req->id, c->fd,
                         flags & FSOPEN_CLOEXEC);
  if (r < 0) {
    /* The caller is gone, or cannot take another descriptor (then
     * it gets the error). */
    context_vector_remove (contexts, contexts->len - 1);
    context_free (c);
    return r == -ENOENT ? NOTIFY_LATER : r;
  }
  return NOTIFY_LATER;
}

struct fs_context *
fs_context_find (const context_vector *contexts, pid_t pid, int fd)
{
  for (size_t i = 0; i < contexts->len; i++)
    if (syscall (SYS_kcmp, getpid (), pid, KCMP_FILE, contexts->ptr[i]->fd,
                 fd) == 0)
      return contexts->ptr[i];
  return NULL;
}

/* Add "KEY" or "KEY=VALUE" to C's options. */
static int
record_option (struct fs_context *c, const char *key, const char *value)
{
  char *more;

  if (asprintf (&more, "%s%s%s%s%s", c->data ? c->data : "",
                c->data ? "," : "", key, value ? "=" : "",
                value ? value : "") < 0)
    return -ENOMEM;
  free (c->data);
  c->data = more;
  return 0;
}

/* Take the string "source" VALUE of context C if it is an instance
 * node as the caller of NC looks it up: NOTIFY_DONE, else
 * NOTIFY_CONTINUE. */
static int
take_source (struct fs_context *c, const struct notify_call *nc,
             const char *value)
{
  int fd = caller_lookup_open (nc->lookup, nc->req->pid, AT_FDCWD, value, 0);

  if (fd < 0)
    return NOTIFY_CONTINUE;
  if (!caller_instance_node (nc->instance_dev, fd, c->node)
      || !notify_still_valid (nc)) {
    close (fd);
    return NOTIFY_CONTINUE;
  }
  if (c->source_fd >= 0)
    close (c->source_fd);
  c->source_fd = fd;
  c->ours = true;
  return NOTIFY_DONE;
}

int
fs_context_config (struct fs_context *c, const struct notify_call *nc)
{
  const __u64 *a = nc->req->data.args;
  unsigned cmd = a[1];
  char key[256], value[VALUE_MAX];

  if (cmd == FSCONFIG_CMD_CREATE) {
    if (!c->ours)
      return NOTIFY_CONTINUE;
    c->created = true;
    return NOTIFY_DONE;
  }
  if (cmd != FSCONFIG_SET_FLAG && cmd != FSCONFIG_SET_STRING)
    return NOTIFY_CONTINUE;
  if (notify_read_string (nc->req->pid, a[2], key, sizeof key) < 0)
    return NOTIFY_CONTINUE;
  if (cmd == FSCONFIG_SET_STRING
      && notify_read_string (nc->req->pid, a[3], value, sizeof value) < 0)
    return NOTIFY_CONTINUE;
  if (cmd == FSCONFIG_SET_STRING && strcmp (key, "source") == 0)
    return take_source (c, nc, value);
  /* The kernel checks the option (and refuses it for the caller when
   * the type does not know it); what mount(2) would get as flags is not
   * a data option. */
  if (strcmp (key, "ro") == 0 || strcmp (key, "rw") == 0)
    c->ro = key[1] == 'o';
  else if (record_option (c, key, cmd == FSCONFIG_SET_STRING ? value : NULL)
           < 0)
    return -ENOMEM;
  return NOTIFY_CONTINUE;
}

int
fs_context_answer_fsopen (context_vector *contexts,
                          const driver_vector *drivers,
                          const struct notify_call *nc)
{
  const struct seccomp_notif *req = nc->req;
  char type[sizeof ((struct fs_context *) 0)->type];

  if (notify_read_string (req->pid, req->data.args[0], type,
                          sizeof type) < 0
      || mount_drivers_find (drivers, type) == NULL
      || !caller_may_mount (req->pid) || !notify_still_valid (nc))
    return NOTIFY_CONTINUE;
  return context_open (contexts, nc, type, req->data.args[1]);
}

int
fs_context_answer_fsmount (context_vector *contexts,
                           const struct notify_call *nc)
{
  const struct seccomp_notif *req = nc->req;
  struct fs_context *c;
  int r;

  c = fs_context_find (contexts, req->pid, (int) req->data.args[0]);
  if (c == NULL || !c->ours || !notify_still_valid (nc))
    return NOTIFY_CONTINUE;
  if (!caller_may_mount (req->pid))
    return -EPERM;
  /* The kernel's answer to fsmount of a context not yet created, or
   * mounted already. */
  if (!c->created || c->mounted)
    return -EBUSY;
  c->mounted = true;
  c->attrs = req->data.args[2] & ATTRS_KEPT;
  r = notify_respond_fd (nc->listener, req->id, c->fd,
                         req->data.args[1] & FSMOUNT_CLOEXEC);
  return r == -ENOENT || r >= 0 ? NOTIFY_LATER : r;
}

struct fs_context *
fs_context_stand_in (const context_vector *contexts,
                     const struct notify_call *nc, int fd,
                     uint64_t path_addr, unsigned flags, unsigned empty_flag)
{
  struct fs_context *c;
  char path[2];

  if (!(flags & empty_flag)
      || notify_read_string (nc->req->pid, path_addr, path, sizeof path) < 0
      || path[0] != '\0')
    return NULL;
  c = fs_context_find (contexts, nc->req->pid, fd);
  return c && c->mounted ? c : NULL;
}

int
fs_context_answer_mount_setattr (const context_vector *contexts,
                                 const struct notify_call *nc)
{
  const __u64 *a = nc->req->data.args;
  struct mount_attr attr = { 0 };
  struct fs_context *c;
  int r;

  c = fs_context_stand_in (contexts, nc, (int) a[0], a[1], a[2],
                           AT_EMPTY_PATH);
  if (c == NULL)
    return NOTIFY_CONTINUE;
  r = notify_read_memory (nc->req->pid, a[3], &attr,
                          a[4] < sizeof attr ? a[4] : sizeof attr);
  if (!notify_still_valid (nc))
    return NOTIFY_CONTINUE;
  if (r < 0)
    return r;
  /* An idmapped mount is more than a FUSE driver's mount can be. */
  if (attr.attr_set & MOUNT_ATTR_IDMAP)
    return -EINVAL;
  c->attrs = (c->attrs & ~attr.attr_clr) | (attr.attr_set & ATTRS_KEPT);
  return NOTIFY_DONE;
}

void
fs_context_forget (context_vector *contexts, struct fs_context *c)
{
  for (size_t i = 0; i < contexts->len; i++)
    if (contexts->ptr[i] == c) {
      context_vector_remove (contexts, i);
      context_free (c);
      return;
    }
}

void
fs_contexts_free (context_vector *contexts)
{
  for (size_t i = 0; i < contexts->len; i++)
    context_free (contexts->ptr[i]);
  context_vector_reset (contexts);
}
