/* loopfs nbd-backend: the NBD fixed-newstyle handshake, client side.
 *
 * The conversation, all integers big-endian:
 *
 *   S: "NBDMAGIC", "IHAVEOPT", 16-bit handshake flags
 *   C: 32-bit client flags
 *   C: "IHAVEOPT", NBD_OPT_GO, length, name length, name,
 *      1 information request: NBD_INFO_BLOCK_SIZE
 *   S: option replies (magic, option, type, length, data):
 *      NBD_REP_INFO (NBD_INFO_EXPORT, NBD_INFO_BLOCK_SIZE, others
 *      ignored) ... then NBD_REP_ACK, or one NBD_REP_ERR_* instead
 *
 * after which the transmission phase starts on the very next byte.
 * Structured replies are never asked for, so the server answers every
 * command with a simple reply, the only kind the kernel understands.
 *
 * The socket is used as it is: every read and write first polls with
 * what is left of one deadline and then moves data with MSG_DONTWAIT,
 * so a blocking socket cannot make us wait past the deadline and a
 * non-blocking one needs no special case.  Reads take exactly the
 * bytes of the message being read, so nothing of the transmission
 * phase is consumed.
 */

#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "cleanup.h"
#include "monotonic-time.h"
#include "nbd-handshake.h"

/* Magic numbers. */
#define NBD_MAGIC 0x4e42444d41474943ull         /* "NBDMAGIC" */
#define NBD_OPTS_MAGIC 0x49484156454f5054ull    /* "IHAVEOPT" */
#define NBD_OLDSTYLE_MAGIC 0x0000420281861253ull
#define NBD_REP_MAGIC 0x0003e889045565a9ull

/* Handshake flags (server) and client flags. */
#define NBD_FLAG_FIXED_NEWSTYLE (1 << 0)
#define NBD_FLAG_NO_ZEROES (1 << 1)
#define NBD_FLAG_C_FIXED_NEWSTYLE (1 << 0)
#define NBD_FLAG_C_NO_ZEROES (1 << 1)

/* Options. */
#define NBD_OPT_ABORT 2
#define NBD_OPT_GO 7

/* Option reply types. */
#define NBD_REP_ACK 1
#define NBD_REP_INFO 3
#define NBD_REP_FLAG_ERROR (1u << 31)
#define NBD_REP_ERR_UNSUP (NBD_REP_FLAG_ERROR | 1)
#define NBD_REP_ERR_POLICY (NBD_REP_FLAG_ERROR | 2)
#define NBD_REP_ERR_INVALID (NBD_REP_FLAG_ERROR | 3)
#define NBD_REP_ERR_PLATFORM (NBD_REP_FLAG_ERROR | 4)
#define NBD_REP_ERR_TLS_REQD (NBD_REP_FLAG_ERROR | 5)
#define NBD_REP_ERR_UNKNOWN (NBD_REP_FLAG_ERROR | 6)
#define NBD_REP_ERR_SHUTDOWN (NBD_REP_FLAG_ERROR | 7)
#define NBD_REP_ERR_BLOCK_SIZE_REQD (NBD_REP_FLAG_ERROR | 8)
#define NBD_REP_ERR_TOO_BIG (NBD_REP_FLAG_ERROR | 9)

/* Information types in NBD_REP_INFO, with their fixed lengths. */
#define NBD_INFO_EXPORT 0
#define NBD_INFO_EXPORT_LEN 12          /* type, size, flags */
#define NBD_INFO_BLOCK_SIZE 3
#define NBD_INFO_BLOCK_SIZE_LEN 14      /* type, min, preferred, max */

/* The longest option reply we read.  Every reply we can get to
 * NBD_OPT_GO is far shorter (strings are at most 4096 bytes); a
 * longer one means we are not talking to an NBD server. */
#define MAX_REPLY_LENGTH (16 * 1024)

/* Block size defaults when the server advertises none (protocol). */
#define DEFAULT_MIN_BLOCK_SIZE 1
#define DEFAULT_PREFERRED_BLOCK_SIZE 4096
#define DEFAULT_MAX_BLOCK_SIZE 0xffffffffu

/* The largest minimum block size the protocol allows. */
#define MAX_MIN_BLOCK_SIZE (64 * 1024)

/* One handshake in progress. */
struct handshake {
  int fd;
  uint64_t deadline_ns;         /* CLOCK_MONOTONIC */
  char *err;
  size_t err_size;
};

/* Describe a failure in H's error buffer (the first one wins, since
 * later failures are consequences) and return R. */
static int __attribute__ ((format (printf, 3, 4)))
fail (struct handshake *h, int r, const char *fmt, ...)
{
  va_list args;

  if (h->err && h->err_size && h->err[0] == '\0') {
    va_start (args, fmt);
    vsnprintf (h->err, h->err_size, fmt, args);
    va_end (args);
  }
  return r;
}

/* Wait until H's socket is ready for EVENTS, or fail with ETIMEDOUT
 * once the deadline has passed.  Readiness also covers hang-up and
 * error, which the following recv or send then reports. */
static int
wait_ready (struct handshake *h, short events, const char *what)
{
  struct pollfd pfd = { .fd = h->fd, .events = events };

  for (;;) {
    uint64_t now = monotonic_ns ();
    uint64_t left_ms;
    int r;

    if (now >= h->deadline_ns)
      return fail (h, -ETIMEDOUT, "timed out %s", what);
    left_ms = (h->deadline_ns - now + 999999) / 1000000;
    r = poll (&pfd, 1, left_ms > INT_MAX ? INT_MAX : (int) left_ms);
    if (r == -1) {
      if (errno == EINTR)
        continue;
      return fail (h, -errno, "poll %s: %m", what);
    }
    if (r > 0)
      return 0;
  }
}

/* Read exactly LEN bytes of the message described by WHAT. */
static int
recv_exact (struct handshake *h, void *buf, size_t len, const char *what)
{
  char *p = buf;

  while (len > 0) {
    ssize_t n;
    int r = wait_ready (h, POLLIN, what);

    if (r < 0)
      return r;
    n = recv (h->fd, p, len, MSG_DONTWAIT);
    if (n == 0)
      return fail (h, -ECONNRESET,
                   "the server closed the connection %s", what);
    if (n == -1) {
      if (errno == EAGAIN || errno == EINTR)
        continue;
      return fail (h, -errno, "recv %s: %m", what);
    }
    p += n;
    len -= n;
  }
  return 0;
}

/* Write all LEN bytes of the message described by WHAT.  MSG_NOSIGNAL:
 * a server that went away is an error return, not a SIGPIPE. */
static int
send_all (struct handshake *h, const void *buf, size_t len, const char *what)
{
  const char *p = buf;

  while (len > 0) {
    ssize_t n;
    int r = wait_ready (h, POLLOUT, what);

    if (r < 0)
      return r;
    n = send (h->fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n == -1) {
      if (errno == EAGAIN || errno == EINTR)
        continue;
      if (errno == EPIPE || errno == ECONNRESET)
        return fail (h, -ECONNRESET,
                     "the server closed the connection %s", what);
      return fail (h, -errno, "send %s: %m", what);
    }
    p += n;
    len -= n;
  }
  return 0;
}

/* Read a big-endian 16-bit field at P. */
static uint16_t
get_be16 (const unsigned char *p)
{
  uint16_t v;

  memcpy (&v, p, sizeof v);
  return be16toh (v);
}

/* Read a big-endian 32-bit field at P. */
static uint32_t
get_be32 (const unsigned char *p)
{
  uint32_t v;

  memcpy (&v, p, sizeof v);
  return be32toh (v);
}

/* Read a big-endian 64-bit field at P. */
static uint64_t
get_be64 (const unsigned char *p)
{
  uint64_t v;

  memcpy (&v, p, sizeof v);
  return be64toh (v);
}

/* Write V big-endian at P; returns the byte after it. */
static unsigned char *
put_be16 (unsigned char *p, uint16_t v)
{
  v = htobe16 (v);
  memcpy (p, &v, sizeof v);
  return p + sizeof v;
}

/* Write V big-endian at P; returns the byte after it. */
static unsigned char *
put_be32 (unsigned char *p, uint32_t v)
{
  v = htobe32 (v);
  memcpy (p, &v, sizeof v);
  return p + sizeof v;
}

/* Write V big-endian at P; returns the byte after it. */
static unsigned char *
put_be64 (unsigned char *p, uint64_t v)
{
  v = htobe64 (v);
  memcpy (p, &v, sizeof v);
  return p + sizeof v;
}

/* Read the server's greeting, insist on fixed newstyle, and answer
 * with our client flags: fixed newstyle, and no zeroes when offered
 * (they only matter to NBD_OPT_EXPORT_NAME, but the flag is harmless
 * and asks for the least). */
static int
greet (struct handshake *h)
{
  unsigned char greeting[18], reply[4];
  uint64_t magic, opts_magic;
  uint16_t flags;
  uint32_t client_flags = NBD_FLAG_C_FIXED_NEWSTYLE;
  int r;

  r = recv_exact (h, greeting, sizeof greeting,
                  "while reading the greeting");
  if (r < 0)
    return r;
  magic = get_be64 (greeting);
  opts_magic = get_be64 (greeting + 8);
  flags = get_be16 (greeting + 16);

  if (magic != NBD_MAGIC)
    return fail (h, -EPROTO, "not an NBD server (greeting magic 0x%016llx)",
                 (unsigned long long) magic);
  if (opts_magic == NBD_OLDSTYLE_MAGIC)
    return fail (h, -EPROTO, "the server speaks the oldstyle protocol, "
                 "which has no export negotiation");
  if (opts_magic != NBD_OPTS_MAGIC)
    return fail (h, -EPROTO, "not an NBD server (option magic 0x%016llx)",
                 (unsigned long long) opts_magic);
  if (!(flags & NBD_FLAG_FIXED_NEWSTYLE))
    return fail (h, -EPROTO, "the server does not speak fixed newstyle "
                 "(handshake flags 0x%04x)", flags);

  if (flags & NBD_FLAG_NO_ZEROES)
    client_flags |= NBD_FLAG_C_NO_ZEROES;
  put_be32 (reply, client_flags);
  return send_all (h, reply, sizeof reply, "while sending the client flags");
}

/* Send NBD_OPT_GO for EXPORT_NAME (NAME_LEN bytes), asking for the
 * block size constraints: a client that asks promises to honour them,
 * which is what nbd_export_check_requests lets the caller make sure of
 * before the kernel starts sending. */
static int
send_opt_go (struct handshake *h, const char *export_name, size_t name_len)
{
  unsigned char buf[16 + 4 + NBD_MAX_STRING + 2 + 2];
  unsigned char *p = buf;
  uint32_t data_len = 4 + name_len + 2 + 2;

  p = put_be64 (p, NBD_OPTS_MAGIC);
  p = put_be32 (p, NBD_OPT_GO);
  p = put_be32 (p, data_len);
  p = put_be32 (p, name_len);
  memcpy (p, export_name, name_len);
  p += name_len;
  p = put_be16 (p, 1);
  p = put_be16 (p, NBD_INFO_BLOCK_SIZE);
  return send_all (h, buf, p - buf, "while sending NBD_OPT_GO");
}

/* Tell a server that refused NBD_OPT_GO that we are leaving, so that it
 * does not log an abrupt disconnect.  Best effort: the protocol lets us
 * close without waiting for its acknowledgement. */
static void
send_opt_abort (struct handshake *h)
{
  unsigned char buf[16], *p = buf;
  ssize_t n;

  p = put_be64 (p, NBD_OPTS_MAGIC);
  p = put_be32 (p, NBD_OPT_ABORT);
  p = put_be32 (p, 0);
  n = send (h->fd, buf, p - buf, MSG_DONTWAIT | MSG_NOSIGNAL);
  (void) n;
}

/* Copy the server's error message DATA (LEN bytes, UTF-8 by the
 * protocol) into OUT for a log line: printable ASCII kept, anything
 * else (control characters included) shown as '?'. */
static void
printable_message (const unsigned char *data, size_t len,
                   char *out, size_t size)
{
  size_t i;

  for (i = 0; i < len && i < size - 1; i++)
    out[i] = data[i] >= 0x20 && data[i] < 0x7f ? (char) data[i] : '?';
  out[i] = '\0';
}

/* Turn the error reply TYPE with message DATA into an errno and a
 * description. */
static int
error_reply (struct handshake *h, uint32_t type, const char *export_name,
             const unsigned char *data, uint32_t len)
{
  char message[256];
  const char *what;
  int r;

  switch (type) {
  case NBD_REP_ERR_UNKNOWN:
    r = -ENOENT;
    what = "no such export";
    break;
  case NBD_REP_ERR_POLICY:
    r = -EACCES;
    what = "refused by the server's policy";
    break;
  case NBD_REP_ERR_TLS_REQD:
    r = -EACCES;
    what = "the server requires TLS";
    break;
  case NBD_REP_ERR_UNSUP:
    r = -EOPNOTSUPP;
    what = "the server does not support NBD_OPT_GO";
    break;
  case NBD_REP_ERR_PLATFORM:
    r = -EOPNOTSUPP;
    what = "not supported on the server's platform";
    break;
  case NBD_REP_ERR_INVALID:
    r = -EINVAL;
    what = "the server found the request invalid";
    break;
  case NBD_REP_ERR_BLOCK_SIZE_REQD:
    r = -EINVAL;
    what = "the server requires block size negotiation";
    break;
  case NBD_REP_ERR_SHUTDOWN:
    r = -ESHUTDOWN;
    what = "the server is shutting down";
    break;
  case NBD_REP_ERR_TOO_BIG:
    r = -E2BIG;
    what = "the request is too big for the server";
    break;
  default:
    r = -EPROTO;
    what = "unknown error reply";
    break;
  }

  printable_message (data, len, message, sizeof message);
  return fail (h, r, "export \"%.64s\": %s (NBD_REP_ERR 0x%08x)%s%s",
               export_name, what, type, message[0] ? ": " : "", message);
}

/* True if X is a power of two. */
static bool
is_power_of_2 (uint32_t x)
{
  return x && !(x & (x - 1));
}

/* Check the block size constraints against the protocol's rules: a
 * minimum that is a power of two up to 64 KiB, a preferred size that
 * is a power of two no smaller than the minimum or 512, and a maximum
 * that is a multiple of the minimum (or the "unlimited" 0xffffffff)
 * no smaller than the preferred size or the export. */
static int
check_block_sizes (struct handshake *h, const struct nbd_export_info *info)
{
  uint32_t min = info->min_block_size;
  uint32_t pref = info->preferred_block_size;
  uint32_t max = info->max_block_size;
  uint64_t max_floor = info->size < pref ? info->size : pref;

  if (!is_power_of_2 (min) || min > MAX_MIN_BLOCK_SIZE ||
      !is_power_of_2 (pref) || pref < min || pref < 512 ||
      (max != DEFAULT_MAX_BLOCK_SIZE && max % min != 0) || max < max_floor)
    return fail (h, -EPROTO, "the server sent invalid block size "
                 "constraints (minimum %u, preferred %u, maximum %u)",
                 min, pref, max);
  return 0;
}

/* Interpret one NBD_REP_INFO payload, DATA of LEN bytes. */
static int
parse_info (struct handshake *h, const unsigned char *data, uint32_t len,
            struct nbd_export_info *info, bool *have_export)
{
  uint16_t type;

  if (len < 2)
    return fail (h, -EPROTO, "NBD_REP_INFO of %u bytes", len);
  type = get_be16 (data);

  switch (type) {
  case NBD_INFO_EXPORT:
    if (len != NBD_INFO_EXPORT_LEN)
      return fail (h, -EPROTO, "NBD_INFO_EXPORT of %u bytes", len);
    info->size = get_be64 (data + 2);
    info->transmission_flags = get_be16 (data + 10);
    if (!(info->transmission_flags & NBD_FLAG_HAS_FLAGS))
      return fail (h, -EPROTO, "transmission flags 0x%04x lack "
                   "NBD_FLAG_HAS_FLAGS", info->transmission_flags);
    *have_export = true;
    return 0;

  case NBD_INFO_BLOCK_SIZE:
    if (len != NBD_INFO_BLOCK_SIZE_LEN)
      return fail (h, -EPROTO, "NBD_INFO_BLOCK_SIZE of %u bytes", len);
    info->block_size_advertised = true;
    info->min_block_size = get_be32 (data + 2);
    info->preferred_block_size = get_be32 (data + 6);
    info->max_block_size = get_be32 (data + 10);
    return 0;

  default:
    /* Names and descriptions we did not ask for: the protocol says a
     * client ignores information it does not want. */
    return 0;
  }
}

/* Read option replies to NBD_OPT_GO until NBD_REP_ACK or an error. */
static int
read_go_replies (struct handshake *h, const char *export_name,
                 struct nbd_export_info *info)
{
  bool have_export = false;

  for (;;) {
    unsigned char header[20];
    CLEANUP_FREE unsigned char *data = NULL;
    uint64_t magic;
    uint32_t option, type, len;
    int r;

    r = recv_exact (h, header, sizeof header,
                    "while reading the reply to NBD_OPT_GO");
    if (r < 0)
      return r;
    magic = get_be64 (header);
    option = get_be32 (header + 8);
    type = get_be32 (header + 12);
    len = get_be32 (header + 16);

    if (magic != NBD_REP_MAGIC)
      return fail (h, -EPROTO, "bad option reply magic 0x%016llx",
                   (unsigned long long) magic);
    if (option != NBD_OPT_GO)
      return fail (h, -EPROTO, "reply to option %u, expected NBD_OPT_GO",
                   option);
    if (len > MAX_REPLY_LENGTH)
      return fail (h, -EPROTO, "option reply of %u bytes", len);
    if (len > 0) {
      data = malloc (len);
      if (data == NULL)
        return fail (h, -ENOMEM, "out of memory");
      r = recv_exact (h, data, len, "while reading the reply to NBD_OPT_GO");
      if (r < 0)
        return r;
    }

    if (type & NBD_REP_FLAG_ERROR) {
      r = error_reply (h, type, export_name, data, len);
      send_opt_abort (h);
      return r;
    }
    switch (type) {
    case NBD_REP_INFO:
      r = parse_info (h, data, len, info, &have_export);
      if (r < 0)
        return r;
      break;
    case NBD_REP_ACK:
      if (len != 0)
        return fail (h, -EPROTO, "NBD_REP_ACK with %u bytes of data", len);
      if (!have_export)
        return fail (h, -EPROTO, "NBD_REP_ACK without NBD_INFO_EXPORT");
      return 0;
    default:
      return fail (h, -EPROTO, "unexpected reply type %u to NBD_OPT_GO",
                   type);
    }
  }
}

/* Negotiate EXPORT_NAME on FD (see nbd-handshake.h). */
int
nbd_handshake (int fd, const char *export_name, int timeout_ms,
               struct nbd_export_info *info, char *err, size_t err_size)
{
  struct handshake h = { .fd = fd, .err = err, .err_size = err_size };
  struct nbd_export_info result = {
    .min_block_size = DEFAULT_MIN_BLOCK_SIZE,
    .preferred_block_size = DEFAULT_PREFERRED_BLOCK_SIZE,
    .max_block_size = DEFAULT_MAX_BLOCK_SIZE,
  };
  size_t name_len = strlen (export_name);
  int r;

  if (err && err_size)
    err[0] = '\0';
  if (timeout_ms <= 0)
    return fail (&h, -EINVAL, "the handshake timeout must be positive");
  if (name_len > NBD_MAX_STRING)
    return fail (&h, -ENAMETOOLONG, "export name of %zu bytes", name_len);
  h.deadline_ns = monotonic_ns () + (uint64_t) timeout_ms * 1000000;

  r = greet (&h);
  if (r == 0)
    r = send_opt_go (&h, export_name, name_len);
  if (r == 0)
    r = read_go_replies (&h, export_name, &result);
  if (r == 0)
    r = check_block_sizes (&h, &result);
  if (r < 0)
    return r;
  *info = result;
  return 0;
}

/* Whether requests aligned to BLOCK_SIZE and at most MAX_PAYLOAD bytes
 * long honour INFO's constraints (see nbd-handshake.h). */
int
nbd_export_check_requests (const struct nbd_export_info *info,
                           uint32_t block_size, uint32_t max_payload,
                           char *err, size_t err_size)
{
  struct handshake h = { .fd = -1, .err = err, .err_size = err_size };

  if (err && err_size)
    err[0] = '\0';
  if (block_size == 0 || block_size % info->min_block_size != 0)
    return fail (&h, -EINVAL, "the server needs requests aligned to %u "
                 "bytes, the device's block size is %u",
                 info->min_block_size, block_size);
  if (max_payload > info->max_block_size)
    return fail (&h, -EINVAL, "the server takes at most %u bytes per "
                 "request, the client may send %u",
                 info->max_block_size, max_payload);
  return 0;
}
