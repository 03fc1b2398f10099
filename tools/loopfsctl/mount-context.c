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
#include <sys/syscall.h>

#include "caller-lookup.h"
#include "mount-context.h"

/* At most this many contexts are remembered: a context whose caller
 * closed it without mounting stays open here until it is the oldest
 * beyond this (then fsconfig of it, if any came, would reach the kernel
 * unchanged). */
#define MAX_CONTEXTS 64

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

int
fs_context_open (context_vector *contexts, const struct notify_call *nc,
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
