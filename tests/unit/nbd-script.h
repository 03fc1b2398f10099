/* loopfs tests: scripted NBD servers on a socketpair.
 *
 * A test writes what the server says into the server's end of a
 * socketpair before the client under test reads it; everything fits in
 * the socket buffers, so no server process is needed.  The protocol
 * values are the test's own copies (doc/proto.md of the NBD project):
 * agreeing with the code under test would prove nothing.
 */
#ifndef LOOPFS_TESTS_NBD_SCRIPT_H
#define LOOPFS_TESTS_NBD_SCRIPT_H

#include <endian.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <check.h>

#define NBDMAGIC 0x4e42444d41474943ull
#define IHAVEOPT 0x49484156454f5054ull
#define OLDSTYLE 0x0000420281861253ull
#define REPLY_MAGIC 0x0003e889045565a9ull
#define FLAG_FIXED_NEWSTYLE 1
#define FLAG_NO_ZEROES 2
#define OPT_ABORT 2
#define OPT_GO 7
#define OPT_STRUCTURED_REPLY 8
#define REP_ACK 1
#define REP_INFO 3
#define REP_ERR_POLICY 0x80000002u
#define REP_ERR_UNKNOWN 0x80000006u
#define INFO_EXPORT 0
#define INFO_DESCRIPTION 2
#define INFO_BLOCK_SIZE 3
#define TFLAG_HAS_FLAGS 1
#define TFLAG_SEND_FLUSH 4
#define TFLAG_CAN_MULTI_CONN 256

/* Bytes for a scripted server to send, or that the client sent. */
struct bytes {
  unsigned char buf[16384];
  size_t len;
};

/* Append N bytes at P to B. */
static inline void
put (struct bytes *b, const void *p, size_t n)
{
  ck_assert_uint_le (b->len + n, sizeof b->buf);
  memcpy (b->buf + b->len, p, n);
  b->len += n;
}

/* Append V to B, big-endian. */
static inline void
put16 (struct bytes *b, uint16_t v)
{
  v = htobe16 (v);
  put (b, &v, sizeof v);
}

/* Append V to B, big-endian. */
static inline void
put32 (struct bytes *b, uint32_t v)
{
  v = htobe32 (v);
  put (b, &v, sizeof v);
}

/* Append V to B, big-endian. */
static inline void
put64 (struct bytes *b, uint64_t v)
{
  v = htobe64 (v);
  put (b, &v, sizeof v);
}

/* A fixed-newstyle greeting offering FLAGS. */
static inline void
put_greeting (struct bytes *b, uint16_t flags)
{
  put64 (b, NBDMAGIC);
  put64 (b, IHAVEOPT);
  put16 (b, flags);
}

/* An option reply header for option OPT. */
static inline void
put_reply (struct bytes *b, uint32_t opt, uint32_t type, uint32_t len)
{
  put64 (b, REPLY_MAGIC);
  put32 (b, opt);
  put32 (b, type);
  put32 (b, len);
}

/* NBD_REP_INFO for NBD_OPT_GO with NBD_INFO_EXPORT. */
static inline void
put_info_export (struct bytes *b, uint64_t size, uint16_t flags)
{
  put_reply (b, OPT_GO, REP_INFO, 12);
  put16 (b, INFO_EXPORT);
  put64 (b, size);
  put16 (b, flags);
}

/* A socketpair: [0] for the client under test, [1] for the script;
 * FLAGS (SOCK_NONBLOCK) are added to the socket type. */
static inline void
make_pair (int sv[2], int flags)
{
  ck_assert_int_eq (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | flags,
                                0, sv), 0);
}

/* Queue SCRIPT on the server end of SV; with CLOSE_AFTER, hang up
 * after it. */
static inline void
serve_script (int sv[2], const struct bytes *script, bool close_after)
{
  ck_assert_int_eq (write (sv[1], script->buf, script->len),
                    (ssize_t) script->len);
  if (close_after) {
    close (sv[1]);
    sv[1] = -1;
  }
}

#endif /* LOOPFS_TESTS_NBD_SCRIPT_H */
