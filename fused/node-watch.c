/* loopfsd: node watchers (see node-watch.h). */

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "caller.h"
#include "loopfs-interface.h"
#include "log.h"
#include "node-watch.h"
#include "offload.h"
#include "partition-table.h"

/* Messages one exchange carries at most; the rest wait for the next. */
#define BATCH_MAX 256

/* One message: node NAME made or removed, number SEQ. */
struct note {
  struct note *next;
  uint64_t seq;
  char text[NODE_WATCH_MESSAGE_MAX];
  size_t len;
};

/* A DONE (OPAQUE, RESULT) waiting for every message up to SEQ to be
 * answered. */
struct barrier {
  struct barrier *next;
  uint64_t seq;
  node_watch_done_cb done;
  void *opaque;
  int result;
};

/* The partition nodes of device NUMBER the watchers were told of: bit
 * M of PARTS for loopNUMBERpM. */
struct announced {
  int number;
  uint64_t parts[(PARTITION_MAX_NUMBER + 64) / 64];
};

DEFINE_VECTOR_TYPE (announced_vector, struct announced)

/* One exchange with the watchers, on an offload thread.  It owns its
 * notes and a copy of the watchers' descriptors as they were when it
 * started; the loop changes neither while it runs. */
struct exchange {
  struct offload job;            /* first: the job is the exchange */
  struct node_watch *w;
  struct note *notes;
  uint64_t last_seq;
  unsigned n;
  int fds[NODE_WATCH_MAX];
  bool dropped[NODE_WATCH_MAX];  /* out: hung up or did not answer */
  unsigned stalled;              /* out: how many did not answer */
};

struct node_watch {
  int fds[NODE_WATCH_MAX];
  unsigned n;
  struct note *notes, **notes_tail;        /* queued, oldest first */
  struct barrier *barriers, **barriers_tail;
  uint64_t last_seq;             /* of the newest message queued */
  uint64_t answered_seq;         /* every message up to it is answered */
  struct exchange *running;      /* or NULL */
  announced_vector announced;    /* devices that have partition nodes */
};

struct node_watch *
node_watch_new (void)
{
  struct node_watch *w = calloc (1, sizeof *w);

  if (w) {
    w->notes_tail = &w->notes;
    w->barriers_tail = &w->barriers;
  }
  return w;
}

/* Close the watchers that have hung up, unless an exchange (which
 * uses their descriptors) is under way: otherwise they would hold
 * their places until the next message. */
static void
prune_hung_up (struct node_watch *w)
{
  unsigned i = 0;

  if (w->running)
    return;
  while (i < w->n) {
    struct pollfd p = { .fd = w->fds[i], .events = POLLIN };

    if (poll (&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR))) {
      close (w->fds[i]);
      w->fds[i] = w->fds[--w->n];
    }
    else
      i++;
  }
}

/* Take descriptor FD of TID and keep it if it is a SOCK_SEQPACKET
 * socket of AF_UNIX (so that every message arrives whole and alone). */
int
node_watch_add (struct node_watch *w, pid_t tid, int fd)
{
  int domain = 0, type = 0, own;
  socklen_t len = sizeof domain;
  struct stat st;

  if (w->n >= NODE_WATCH_MAX)
    prune_hung_up (w);
  if (w->n >= NODE_WATCH_MAX)
    return -ENOSPC;
  own = caller_take_fd (tid, fd);
  if (own < 0)
    return own;
  if (fstat (own, &st) < 0 || !S_ISSOCK (st.st_mode)
      || getsockopt (own, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0
      || domain != AF_UNIX
      || (len = sizeof type,
          getsockopt (own, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
      || type != SOCK_SEQPACKET) {
    close (own);
    return -EINVAL;
  }
  w->fds[w->n++] = own;
  return 0;
}

/* Milliseconds on the monotonic clock. */
static int64_t
now_ms (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Send watcher I of X the messages from *NEXT on, as many as its socket
 * takes now.  Returns false when the watcher is gone. */
static bool
send_some (struct exchange *x, unsigned i, struct note **next)
{
  while (*next) {
    if (send (x->fds[i], (*next)->text, (*next)->len,
              MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
      return errno == EAGAIN || errno == EINTR;
    *next = (*next)->next;
  }
  return true;
}

/* Read the answers waiting on watcher I of X into *ANSWERED (the
 * highest number answered).  Returns false when the watcher is gone.
 * Answers that are no number count as nothing. */
static bool
read_answers (struct exchange *x, unsigned i, uint64_t *answered)
{
  char buf[NODE_WATCH_MESSAGE_MAX];

  for (;;) {
    ssize_t n = recv (x->fds[i], buf, sizeof buf - 1, MSG_DONTWAIT);
    unsigned long long seq;
    char *end;

    if (n == 0)
      return false;
    if (n < 0)
      return errno == EAGAIN || errno == EINTR;
    buf[n] = '\0';
    errno = 0;
    seq = strtoull (buf, &end, 10);
    if (errno == 0 && end != buf && *end == '\0' && seq > *answered)
      *answered = seq;
  }
}

/* On the job's thread: send every watcher X's messages and wait until
 * each has answered the last one, is gone, or the time is up. */
static void
exchange_work (struct offload *job)
{
  struct exchange *x = (struct exchange *) job;
  struct note *next[NODE_WATCH_MAX];
  uint64_t answered[NODE_WATCH_MAX];
  int64_t deadline = now_ms () + NODE_WATCH_TIMEOUT_MS;
  unsigned i;

  for (i = 0; i < x->n; i++) {
    next[i] = x->notes;
    answered[i] = 0;
  }
  for (;;) {
    struct pollfd fds[NODE_WATCH_MAX];
    unsigned map[NODE_WATCH_MAX], k = 0;
    int64_t left = deadline - now_ms ();

    for (i = 0; i < x->n; i++)
      if (!x->dropped[i] && answered[i] < x->last_seq) {
        fds[k] = (struct pollfd) {
          .fd = x->fds[i], .events = POLLIN | (next[i] ? POLLOUT : 0),
        };
        map[k++] = i;
      }
    if (k == 0)
      return;
    if (left <= 0) {
      /* Stalled: whoever has not answered yet is dropped. */
      x->stalled = k;
      while (k > 0)
        x->dropped[map[--k]] = true;
      return;
    }
    if (poll (fds, k, left) < 0) {
      if (errno == EINTR)
        continue;
      while (k > 0)
        x->dropped[map[--k]] = true;
      return;
    }
    while (k > 0) {
      k--;
      i = map[k];
      if ((fds[k].revents & POLLOUT) && !send_some (x, i, &next[i]))
        x->dropped[i] = true;
      else if ((fds[k].revents & POLLIN)
               && !read_answers (x, i, &answered[i]))
        x->dropped[i] = true;
      else if (fds[k].revents & (POLLERR | POLLHUP | POLLNVAL))
        x->dropped[i] = true;
    }
  }
}

static void start_exchange (struct node_watch *w);

/* Free a list of notes. */
static void
free_notes (struct note *n)
{
  while (n) {
    struct note *next = n->next;
    free (n);
    n = next;
  }
}

/* Run, in order, the DONE of every barrier up to W->answered_seq. */
static void
release_barriers (struct node_watch *w)
{
  while (w->barriers && w->barriers->seq <= w->answered_seq) {
    struct barrier *b = w->barriers;

    w->barriers = b->next;
    if (w->barriers == NULL)
      w->barriers_tail = &w->barriers;
    b->done (b->opaque, b->result);
    free (b);
  }
}

/* On the loop: an exchange is over.  Close the watchers it dropped,
 * release the barriers it answered, start the next one. */
static void
exchange_done (struct offload *job)
{
  struct exchange *x = (struct exchange *) job;
  struct node_watch *w = x->w;
  unsigned i, j;

  for (i = 0; i < x->n; i++) {
    if (!x->dropped[i])
      continue;
    for (j = 0; j < w->n; j++)
      if (w->fds[j] == x->fds[i]) {
        close (w->fds[j]);
        w->fds[j] = w->fds[--w->n];
        break;
      }
  }
  /* One that hung up is simply done watching; one that stalled is
   * worth a line. */
  if (x->stalled)
    log_error ("%u node watcher(s) dropped: no answer within %d ms",
               x->stalled, NODE_WATCH_TIMEOUT_MS);
  w->answered_seq = x->last_seq;
  w->running = NULL;
  free_notes (x->notes);
  free (x);
  release_barriers (w);
  start_exchange (w);
}

/* Start an exchange for the messages queued, if there are any and none
 * is under way. */
static void
start_exchange (struct node_watch *w)
{
  struct exchange *x;
  struct note **tail;
  unsigned count = 0;
  int r;

  if (w->running || w->notes == NULL)
    return;
  x = calloc (1, sizeof *x);
  if (x == NULL) {
    /* Nothing can be sent: the messages are lost, and nobody waits. */
    log_error ("node watchers: out of memory; messages lost");
    w->answered_seq = w->last_seq;
    free_notes (w->notes);
    w->notes = NULL;
    w->notes_tail = &w->notes;
    release_barriers (w);
    return;
  }
  x->w = w;
  x->n = w->n;
  memcpy (x->fds, w->fds, sizeof x->fds);
  /* Take up to BATCH_MAX messages off the queue. */
  x->notes = w->notes;
  tail = &x->notes;
  while (*tail && count < BATCH_MAX) {
    x->last_seq = (*tail)->seq;
    tail = &(*tail)->next;
    count++;
  }
  w->notes = *tail;
  if (w->notes == NULL)
    w->notes_tail = &w->notes;
  *tail = NULL;
  w->running = x;
  r = offload_run (&x->job, exchange_work, exchange_done);
  if (r < 0) {
    /* No thread to wait on: answer as if every watcher had. */
    log_error ("node watchers: %s; messages lost", strerror (-r));
    w->running = NULL;
    w->answered_seq = x->last_seq;
    free_notes (x->notes);
    free (x);
    release_barriers (w);
    start_exchange (w);
  }
}

void
node_watch_note (struct node_watch *w, bool added, const char *name)
{
  struct note *n;
  int len;

  if (w == NULL || w->n == 0)
    return;
  n = calloc (1, sizeof *n);
  if (n == NULL) {
    log_error ("node watchers: out of memory; a message lost");
    return;
  }
  n->seq = ++w->last_seq;
  len = snprintf (n->text, sizeof n->text, "%" PRIu64 " %s %s", n->seq,
                  added ? "add" : "remove", name);
  n->len = len < (int) sizeof n->text ? (size_t) len : sizeof n->text - 1;
  *w->notes_tail = n;
  w->notes_tail = &n->next;
  start_exchange (w);
}

/* The announced set of device NUMBER, made when MAKE; NULL when there
 * is none (or no memory for it). */
static struct announced *
announced_of (struct node_watch *w, int number, bool make)
{
  struct announced fresh = { .number = number };
  size_t i;

  for (i = 0; i < w->announced.len; i++)
    if (w->announced.ptr[i].number == number)
      return &w->announced.ptr[i];
  if (!make || announced_vector_append (&w->announced, fresh) < 0)
    return NULL;
  return &w->announced.ptr[w->announced.len - 1];
}

void
node_watch_partitions (struct node_watch *w, int number,
                       const struct partition_table *t)
{
  struct announced now = { .number = number }, *was;
  size_t i;
  int m;

  if (w == NULL)
    return;
  for (i = 0; t && i < t->parts.len; i++) {
    m = t->parts.ptr[i]->number;
    now.parts[m / 64] |= UINT64_C (1) << (m % 64);
  }
  was = announced_of (w, number, t && t->parts.len > 0);
  if (was == NULL)
    return;
  for (m = 1; m <= PARTITION_MAX_NUMBER; m++) {
    uint64_t bit = UINT64_C (1) << (m % 64);
    bool before = was->parts[m / 64] & bit, after = now.parts[m / 64] & bit;
    char name[32];

    if (before == after)
      continue;
    snprintf (name, sizeof name, "loop%dp%d", number, m);
    node_watch_note (w, after, name);
  }
  *was = now;
  if (t == NULL || t->parts.len == 0) {
    /* Nothing left to remember of this device. */
    i = was - w->announced.ptr;
    w->announced.ptr[i] = w->announced.ptr[w->announced.len - 1];
    w->announced.len--;
  }
}

void
node_watch_sync (struct node_watch *w, node_watch_done_cb done, void *opaque,
                 int result)
{
  struct barrier *b;

  if (w == NULL || w->answered_seq >= w->last_seq) {
    done (opaque, result);
    return;
  }
  b = malloc (sizeof *b);
  if (b == NULL) {
    done (opaque, result);
    return;
  }
  *b = (struct barrier) { .seq = w->last_seq, .done = done,
                          .opaque = opaque, .result = result };
  *w->barriers_tail = b;
  w->barriers_tail = &b->next;
  start_exchange (w);
}

/* A FUSE answer waiting for the watchers. */
struct answer {
  fuse_req_t req;
  bool ioctl;
};

/* Answer REQ with R as node_watch_reply says. */
static void
answer_send (fuse_req_t req, bool ioctl, int r)
{
  if (ioctl)
    fuse_reply_ioctl (req, r, NULL, 0);
  else
    fuse_reply_err (req, -r);
}

/* The watchers have every message: send answer OPAQUE with R. */
static void
answer_now (void *opaque, int r)
{
  struct answer *a = opaque;

  answer_send (a->req, a->ioctl, r);
  free (a);
}

void
node_watch_reply (struct node_watch *w, fuse_req_t req, bool ioctl, int r)
{
  struct answer *a = malloc (sizeof *a);

  if (a == NULL) {
    /* Rather at once than never. */
    answer_send (req, ioctl, r);
    return;
  }
  *a = (struct answer) { .req = req, .ioctl = ioctl };
  node_watch_sync (w, answer_now, a, r);
}

void
node_watch_close (struct node_watch *w)
{
  unsigned i;

  if (w == NULL)
    return;
  w->answered_seq = w->last_seq;
  release_barriers (w);
  free_notes (w->notes);
  announced_vector_reset (&w->announced);
  /* A running exchange may still be polling these: it owns them then,
   * and the process's exit closes them. */
  if (w->running == NULL)
    for (i = 0; i < w->n; i++)
      close (w->fds[i]);
  else
    w->running->w = NULL;
  free (w);
}
