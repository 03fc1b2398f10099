/* loopfs: tests of the NBD client handshake (nbd-backend/nbd-handshake.c).
 *
 * Against real nbdkit processes (started by the test, killed by pid,
 * and tied to the test by --exit-with-parent and PR_SET_PDEATHSIG):
 * read-write and read-only exports, the shape loopfs really runs
 * (file plugin on an inherited descriptor, exportname and offset
 * filters), a refused export name, and a check that the socket is left
 * exactly at the transmission phase with simple replies.  Against
 * scripted peers on a socketpair: early close, garbage, old or
 * non-fixed newstyle servers, silence (timeout), error replies and
 * malformed option replies.  The temporary directory is removed by the
 * main process after all tests.
 */

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "nbd-handshake.h"
#include "monotonic-time.h"
#include "nbd-script.h"
#include "test-main.h"

#define TIMEOUT_MS 5000

/* Transmission-phase values (the test's own copies, as in
 * nbd-script.h). */
#define SIMPLE_REQUEST_MAGIC 0x25609513u
#define SIMPLE_REPLY_MAGIC 0x67446698u
#define CMD_READ 0
#define CMD_WRITE 1
#define CMD_DISC 2

static char tmpdir[] = "/tmp/loopfs-test-nbd-handshake-XXXXXX";

/* nbdkit processes the running test started and has not stopped. */
static pid_t live_pids[4];
static unsigned n_live_pids;

/* Kill what the test left running (also on failure, via atexit). */
static void
kill_live_nbdkits (void)
{
  for (unsigned i = 0; i < n_live_pids; i++)
    if (live_pids[i] > 0) {
      kill (live_pids[i], SIGKILL);
      waitpid (live_pids[i], NULL, 0);
      live_pids[i] = 0;
    }
  n_live_pids = 0;
}

/* Stop nbdkit PID and forget it. */
static void
stop_nbdkit (pid_t pid)
{
  int status;

  ck_assert_int_eq (kill (pid, SIGTERM), 0);
  ck_assert_int_eq (waitpid (pid, &status, 0), pid);
  for (unsigned i = 0; i < n_live_pids; i++)
    if (live_pids[i] == pid)
      live_pids[i] = 0;
}

/* Start nbdkit serving on Unix socket SOCK with the arguments ARGS
 * (NULL-terminated, after the common ones).  When BACKING_FD >= 0 it is
 * passed to nbdkit as fd 3. */
static pid_t
start_nbdkit (const char *sock, int backing_fd, const char *const *args)
{
  const char *argv[32] = {
    "nbdkit", "--foreground", "--exit-with-parent", "-U", sock,
  };
  size_t n = 5;
  pid_t parent = getpid ();
  pid_t pid;

  for (; *args; args++) {
    ck_assert_uint_lt (n, 31);
    argv[n++] = *args;
  }
  argv[n] = NULL;

  pid = fork ();
  ck_assert_int_ge (pid, 0);
  if (pid == 0) {
    prctl (PR_SET_PDEATHSIG, SIGKILL);
    if (getppid () != parent)
      _exit (127);
    if (backing_fd >= 0 &&
        (backing_fd == 3 ? fcntl (3, F_SETFD, 0) : dup2 (backing_fd, 3)) == -1)
      _exit (127);
    execvp ("nbdkit", (char **) argv);
    _exit (127);
  }
  ck_assert_uint_lt (n_live_pids, 4);
  live_pids[n_live_pids++] = pid;
  return pid;
}

/* Connect to the Unix socket PATH, retrying while nbdkit (PID) starts. */
static int
connect_nbdkit (const char *path, pid_t pid)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };

  snprintf (addr.sun_path, sizeof addr.sun_path, "%s", path);
  for (int tries = 0; tries < 1000; tries++) {
    int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    ck_assert_int_ge (fd, 0);
    if (connect (fd, (struct sockaddr *) &addr, sizeof addr) == 0)
      return fd;
    close (fd);
    ck_assert_msg (waitpid (pid, NULL, WNOHANG) == 0, "nbdkit exited");
    usleep (10000);
  }
  ck_abort_msg ("nbdkit did not start listening on %s", path);
  return -1;
}

/* A socket path in the temporary directory. */
static void
socket_path (char *buf, size_t size, const char *name)
{
  snprintf (buf, size, "%s/%s.sock", tmpdir, name);
}

/* NBD_REP_INFO with NBD_INFO_BLOCK_SIZE. */
static void
put_info_block_size (struct bytes *b, uint32_t min, uint32_t pref,
                     uint32_t max)
{
  put_reply (b, OPT_GO, REP_INFO, 14);
  put16 (b, INFO_BLOCK_SIZE);
  put32 (b, min);
  put32 (b, pref);
  put32 (b, max);
}

/* Read whatever the client sent to the server end of SV. */
static void
read_client_bytes (int sv[2], struct bytes *out)
{
  ssize_t n;

  out->len = 0;
  n = recv (sv[1], out->buf, sizeof out->buf, MSG_DONTWAIT);
  if (n > 0)
    out->len = n;
}

/* Close whichever ends of SV are still open. */
static void
close_pair (int sv[2])
{
  if (sv[0] >= 0)
    close (sv[0]);
  if (sv[1] >= 0)
    close (sv[1]);
}

/* Send a simple-reply NBD request and check the simple reply: proves
 * the handshake stopped exactly at the transmission phase and did not
 * turn on structured replies. */
static uint32_t
simple_request (int fd, uint16_t cmd, uint64_t offset, uint32_t len,
                const void *write_data, void *read_data, uint64_t cookie)
{
  struct bytes req = { .len = 0 };
  unsigned char reply[16];
  uint32_t magic, error;
  uint64_t reply_cookie;
  size_t got = 0;

  put32 (&req, SIMPLE_REQUEST_MAGIC);
  put16 (&req, 0);
  put16 (&req, cmd);
  put64 (&req, cookie);
  put64 (&req, offset);
  put32 (&req, len);
  if (write_data)
    put (&req, write_data, len);
  ck_assert_int_eq (send (fd, req.buf, req.len, MSG_NOSIGNAL),
                    (ssize_t) req.len);
  if (cmd == CMD_DISC)
    return 0;

  while (got < sizeof reply) {
    ssize_t n = recv (fd, reply + got, sizeof reply - got, 0);

    ck_assert_int_gt (n, 0);
    got += n;
  }
  memcpy (&magic, reply, 4);
  memcpy (&error, reply + 4, 4);
  memcpy (&reply_cookie, reply + 8, 8);
  ck_assert_uint_eq (be32toh (magic), SIMPLE_REPLY_MAGIC);
  ck_assert_uint_eq (be64toh (reply_cookie), cookie);
  error = be32toh (error);
  if (error == 0 && read_data) {
    got = 0;
    while (got < len) {
      ssize_t n = recv (fd, (char *) read_data + got, len - got, 0);

      ck_assert_int_gt (n, 0);
      got += n;
    }
  }
  return error;
}

/* A read-write memory export: size and every write-side flag, and a
 * write and read in the transmission phase with simple replies. */
START_TEST (test_nbdkit_read_write)
{
  const char *args[] = { "memory", "1M", NULL };
  struct nbd_export_info info;
  char path[256], err[256];
  unsigned char out[512], in[512];
  pid_t pid;
  int fd, r;

  socket_path (path, sizeof path, "rw");
  pid = start_nbdkit (path, -1, args);
  fd = connect_nbdkit (path, pid);

  r = nbd_handshake (fd, "", TIMEOUT_MS, &info, err, sizeof err);
  ck_assert_msg (r == 0, "nbd_handshake: %s", err);
  ck_assert_str_eq (err, "");
  ck_assert_uint_eq (info.size, 1024 * 1024);
  ck_assert (info.transmission_flags & NBD_FLAG_HAS_FLAGS);
  ck_assert (!(info.transmission_flags & NBD_FLAG_READ_ONLY));
  ck_assert (info.transmission_flags & NBD_FLAG_SEND_FLUSH);
  ck_assert (info.transmission_flags & NBD_FLAG_SEND_FUA);
  ck_assert (info.transmission_flags & NBD_FLAG_SEND_TRIM);
  ck_assert (info.transmission_flags & NBD_FLAG_SEND_WRITE_ZEROES);
  ck_assert (info.transmission_flags & NBD_FLAG_CAN_MULTI_CONN);
  /* NBD_FLAG_SEND_DF only comes with structured replies. */
  ck_assert (!(info.transmission_flags & (1 << 7)));
  ck_assert_uint_ge (info.min_block_size, 1);
  ck_assert_uint_ge (info.max_block_size, 32 * 1024 * 1024);

  for (size_t i = 0; i < sizeof out; i++)
    out[i] = i * 7 + 3;
  ck_assert_uint_eq (simple_request (fd, CMD_WRITE, 4096, sizeof out, out,
                                     NULL, 1), 0);
  ck_assert_uint_eq (simple_request (fd, CMD_READ, 4096, sizeof in, NULL,
                                     in, 2), 0);
  ck_assert_mem_eq (in, out, sizeof out);
  simple_request (fd, CMD_DISC, 0, 0, NULL, NULL, 3);
  close (fd);
  stop_nbdkit (pid);
}
END_TEST

/* A read-only export: NBD_FLAG_READ_ONLY, no trim or zeroing, and the
 * server refuses a write. */
START_TEST (test_nbdkit_read_only)
{
  const char *args[] = { "-r", "memory", "1M", NULL };
  struct nbd_export_info info;
  char path[256], err[256];
  unsigned char buf[512] = { 0 };
  pid_t pid;
  int fd, r;

  socket_path (path, sizeof path, "ro");
  pid = start_nbdkit (path, -1, args);
  fd = connect_nbdkit (path, pid);

  r = nbd_handshake (fd, "", TIMEOUT_MS, &info, err, sizeof err);
  ck_assert_msg (r == 0, "nbd_handshake: %s", err);
  ck_assert_uint_eq (info.size, 1024 * 1024);
  ck_assert (info.transmission_flags & NBD_FLAG_HAS_FLAGS);
  ck_assert (info.transmission_flags & NBD_FLAG_READ_ONLY);
  ck_assert (!(info.transmission_flags & NBD_FLAG_SEND_TRIM));
  ck_assert (!(info.transmission_flags & NBD_FLAG_SEND_WRITE_ZEROES));
  ck_assert_uint_ne (simple_request (fd, CMD_WRITE, 0, sizeof buf, buf,
                                     NULL, 1), 0);
  ck_assert_uint_eq (simple_request (fd, CMD_READ, 0, sizeof buf, NULL,
                                     buf, 2), 0);
  simple_request (fd, CMD_DISC, 0, 0, NULL, NULL, 3);
  close (fd);
  stop_nbdkit (pid);
}
END_TEST

/* The command line nbdkit-process.c builds: file plugin on fd 3 through
 * /proc/self/fd, the exportname filter mapping "" to it and refusing
 * everything else, the offset filter cutting a window.  The size is the
 * window's; a wrong export name is "no such export". */
START_TEST (test_nbdkit_loopfs_shape)
{
  const char *args[] = {
    "--filter=exportname", "--filter=offset", "file", "dir=/proc/self/fd",
    "default-export=3", "exportname-strict=true", "exportname=",
    "exportname=3", "exportname-list=explicit", "offset=4096",
    "range=65536", NULL,
  };
  struct nbd_export_info info;
  char path[256], file[256], err[256];
  pid_t pid;
  int backing, fd, r;

  snprintf (file, sizeof file, "%s/backing", tmpdir);
  backing = open (file, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  ck_assert_int_ge (backing, 0);
  ck_assert_int_eq (ftruncate (backing, 1024 * 1024), 0);
  socket_path (path, sizeof path, "shape");
  pid = start_nbdkit (path, backing, args);
  close (backing);

  fd = connect_nbdkit (path, pid);
  r = nbd_handshake (fd, "", TIMEOUT_MS, &info, err, sizeof err);
  ck_assert_msg (r == 0, "nbd_handshake: %s", err);
  ck_assert_uint_eq (info.size, 65536);
  ck_assert (!(info.transmission_flags & NBD_FLAG_READ_ONLY));
  ck_assert (info.transmission_flags & NBD_FLAG_SEND_FLUSH);
  ck_assert (info.transmission_flags & NBD_FLAG_CAN_MULTI_CONN);
  ck_assert_int_eq (nbd_export_check_requests (&info, 512, 32 * 1024 * 1024,
                                               err, sizeof err), 0);
  simple_request (fd, CMD_DISC, 0, 0, NULL, NULL, 1);
  close (fd);

  fd = connect_nbdkit (path, pid);
  r = nbd_handshake (fd, "4", TIMEOUT_MS, &info, err, sizeof err);
  ck_assert_int_eq (r, -ENOENT);
  ck_assert_msg (strstr (err, "no such export") && strstr (err, "\"4\""),
                 "message: %s", err);
  close (fd);
  stop_nbdkit (pid);
}
END_TEST

/* A name the server does not export: -ENOENT with the server's words,
 * and the client says NBD_OPT_ABORT rather than just hanging up (the
 * connection stays usable for nbdkit's next client). */
START_TEST (test_nbdkit_bad_export_name)
{
  const char *args[] = {
    "--filter=exportname", "memory", "1M", "exportname-strict=true",
    "exportname=", NULL,
  };
  struct nbd_export_info info;
  char path[256], err[256];
  pid_t pid;
  int fd, r;

  socket_path (path, sizeof path, "badname");
  pid = start_nbdkit (path, -1, args);
  fd = connect_nbdkit (path, pid);
  r = nbd_handshake (fd, "nosuch", TIMEOUT_MS, &info, err, sizeof err);
  ck_assert_int_eq (r, -ENOENT);
  ck_assert_msg (strstr (err, "nosuch") && strstr (err, "no such export"),
                 "message: %s", err);
  close (fd);

  fd = connect_nbdkit (path, pid);
  r = nbd_handshake (fd, "", TIMEOUT_MS, &info, err, sizeof err);
  ck_assert_msg (r == 0, "nbd_handshake: %s", err);
  close (fd);
  stop_nbdkit (pid);
}
END_TEST

/* The peer closes in the middle of the greeting. */
START_TEST (test_eof_in_greeting)
{
  struct bytes script = { .len = 0 };
  struct nbd_export_info info;
  char err[256];
  int sv[2];

  make_pair (sv, 0);
  put (&script, "NBDMAG", 6);
  serve_script (sv, &script, true);
  ck_assert_int_eq (nbd_handshake (sv[0], "", TIMEOUT_MS, &info,
                                   err, sizeof err), -ECONNRESET);
  ck_assert_msg (strstr (err, "closed the connection") &&
                 strstr (err, "greeting"), "message: %s", err);
  close_pair (sv);
}
END_TEST

/* The peer closes after the greeting, before any option reply. */
START_TEST (test_eof_before_reply)
{
  struct bytes script = { .len = 0 };
  struct nbd_export_info info;
  char err[256];
  int sv[2];
  int r;

  make_pair (sv, 0);
  put_greeting (&script, 3);
  serve_script (sv, &script, true);
  r = nbd_handshake (sv[0], "", TIMEOUT_MS, &info, err, sizeof err);
  ck_assert_int_eq (r, -ECONNRESET);
  ck_assert_msg (strstr (err, "closed the connection"), "message: %s", err);
  close_pair (sv);
}
END_TEST

/* The peer closes in the middle of an option reply's data. */
START_TEST (test_eof_in_reply_data)
{
  struct bytes script = { .len = 0 };
  struct nbd_export_info info;
  char err[256];
  int sv[2];

  make_pair (sv, 0);
  put_greeting (&script, 3);
  put_reply (&script, OPT_GO, REP_INFO, 12);
  put16 (&script, INFO_EXPORT);
  serve_script (sv, &script, true);
  ck_assert_int_eq (nbd_handshake (sv[0], "", TIMEOUT_MS, &info,
                                   err, sizeof err), -ECONNRESET);
  close_pair (sv);
}
END_TEST

/* Something that is not an NBD server at all. */
START_TEST (test_garbage)
{
  struct bytes script = { .len = 0 };
  struct nbd_export_info info;
  char err[256];
  int sv[2];

  make_pair (sv, 0);
  put (&script, "HTTP/1.1 400 Bad Request\r\n", 26);
  serve_script (sv, &script, false);
  ck_assert_int_eq (nbd_handshake (sv[0], "", TIMEOUT_MS, &info,
                                   err, sizeof err), -EPROTO);
  ck_assert_msg (strstr (err, "not an NBD server"), "message: %s", err);
  close_pair (sv);
}
END_TEST

/* An oldstyle server, and a newstyle one without the fixed flag. */
START_TEST (test_old_protocols)
{
  struct bytes script = { .len = 0 };
  struct nbd_export_info info;
  char err[256];
  int sv[2];

  make_pair (sv, 0);
  put64 (&script, NBDMAGIC);
  put64 (&script, OLDSTYLE);
  put64 (&script, 1024 * 1024);
  serve_script (sv, &script, false);
  ck_assert_int_eq (nbd_handshake (sv[0], "", TIMEOUT_MS, &info,
                                   err, sizeof err), -EPROTO);
  ck_assert_msg (strstr (err, "oldstyle"), "message: %s", err);
  close_pair (sv);

  make_pair (sv, 0);
  script.len = 0;
  put_greeting (&script, 0);
  serve_script (sv, &script, false);
  ck_assert_int_eq (nbd_handshake (sv[0], "", TIMEOUT_MS, &info,
                                   err, sizeof err), -EPROTO);
  ck_assert_msg (strstr (err, "fixed newstyle"), "message: %s", err);
  close_pair (sv);
}
END_TEST

/* A peer that says nothing: -ETIMEDOUT close to the timeout. */
START_TEST (test_silent_peer)
{
  struct nbd_export_info info;
  char err[256];
  int sv[2];
  int64_t start, elapsed;

  make_pair (sv, 0);
  start = monotonic_ms ();
  ck_assert_int_eq (nbd_handshake (sv[0], "", 300, &info, err, sizeof err),
                    -ETIMEDOUT);
  elapsed = monotonic_ms () - start;
  ck_assert_int_ge (elapsed, 290);
  ck_assert_int_lt (elapsed, 2000);
  ck_assert_msg (strstr (err, "timed out"), "message: %s", err);
  close_pair (sv);
}
END_TEST

/* A peer that stops in the middle of the replies also times out. */
START_TEST (test_stalled_peer)
{
  struct bytes script = { .len = 0 };
  struct nbd_export_info info;
  char err[256];
  int sv[2];

  make_pair (sv, 0);
  put_greeting (&script, 3);
  put_info_export (&script, 4096, 1);
  serve_script (sv, &script, false);
  ck_assert_int_eq (nbd_handshake (sv[0], "", 300, &info, err, sizeof err),
                    -ETIMEDOUT);
  close_pair (sv);
}
END_TEST

/* A well-behaved scripted server: the fields are decoded, unknown
 * information is skipped, the client sends exactly what the protocol
 * says, and the bytes after NBD_REP_ACK are left for the kernel. */
START_TEST (test_scripted_success)
{
  struct bytes script = { .len = 0 }, sent, expect = { .len = 0 };
  struct nbd_export_info info;
  char err[256], tail[8];
  int sv[2];
  int r;

  make_pair (sv, 0);
  put_greeting (&script, 3);             /* fixed newstyle, no zeroes */
  put_reply (&script, OPT_GO, REP_INFO, 2 + 5);
  put16 (&script, INFO_DESCRIPTION);
  put (&script, "hello", 5);
  put_info_export (&script, 12345 * 512ull, 1 | 2 | 4 | 256);
  put_info_block_size (&script, 512, 4096, 1024 * 1024);
  put_reply (&script, OPT_GO, REP_ACK, 0);
  put (&script, "TAIL1234", 8);
  serve_script (sv, &script, false);

  r = nbd_handshake (sv[0], "disk", TIMEOUT_MS, &info, err, sizeof err);
  ck_assert_msg (r == 0, "nbd_handshake: %s", err);
  ck_assert_uint_eq (info.size, 12345 * 512ull);
  ck_assert_uint_eq (info.transmission_flags, 1 | 2 | 4 | 256);
  ck_assert (info.block_size_advertised);
  ck_assert_uint_eq (info.min_block_size, 512);
  ck_assert_uint_eq (info.preferred_block_size, 4096);
  ck_assert_uint_eq (info.max_block_size, 1024 * 1024);

  ck_assert_int_eq (recv (sv[0], tail, sizeof tail, MSG_DONTWAIT), 8);
  ck_assert_mem_eq (tail, "TAIL1234", 8);

  put32 (&expect, 3);                    /* C_FIXED_NEWSTYLE | C_NO_ZEROES */
  put64 (&expect, IHAVEOPT);
  put32 (&expect, OPT_GO);
  put32 (&expect, 4 + 4 + 2 + 2);
  put32 (&expect, 4);
  put (&expect, "disk", 4);
  put16 (&expect, 1);
  put16 (&expect, INFO_BLOCK_SIZE);
  read_client_bytes (sv, &sent);
  ck_assert_uint_eq (sent.len, expect.len);
  ck_assert_mem_eq (sent.buf, expect.buf, expect.len);
  close_pair (sv);
}
END_TEST

/* Without NBD_FLAG_NO_ZEROES offered, the client must not ask for it;
 * without NBD_INFO_BLOCK_SIZE the protocol's defaults apply. */
START_TEST (test_scripted_defaults)
{
  struct bytes script = { .len = 0 }, sent;
  struct nbd_export_info info;
  char err[256];
  uint32_t client_flags;
  int sv[2];
  int r;

  make_pair (sv, 0);
  put_greeting (&script, 1);
  put_info_export (&script, 1024 * 1024, 1);
  put_reply (&script, OPT_GO, REP_ACK, 0);
  serve_script (sv, &script, false);

  r = nbd_handshake (sv[0], "", TIMEOUT_MS, &info, err, sizeof err);
  ck_assert_msg (r == 0, "nbd_handshake: %s", err);
  ck_assert (!info.block_size_advertised);
  ck_assert_uint_eq (info.min_block_size, 1);
  ck_assert_uint_eq (info.preferred_block_size, 4096);
  ck_assert_uint_eq (info.max_block_size, 0xffffffffu);
  read_client_bytes (sv, &sent);
  ck_assert_uint_ge (sent.len, 4);
  memcpy (&client_flags, sent.buf, 4);
  ck_assert_uint_eq (be32toh (client_flags), 1);
  close_pair (sv);
}
END_TEST

/* An error reply: mapped errno, the server's message (made printable),
 * and NBD_OPT_ABORT sent after NBD_OPT_GO. */
START_TEST (test_scripted_error_reply)
{
  struct bytes script = { .len = 0 }, sent, abort_opt = { .len = 0 };
  struct nbd_export_info info;
  char err[256];
  int sv[2];

  make_pair (sv, 0);
  put_greeting (&script, 3);
  put_reply (&script, OPT_GO, REP_ERR_POLICY, 8);
  put (&script, "go away\n", 8);
  serve_script (sv, &script, false);

  ck_assert_int_eq (nbd_handshake (sv[0], "x", TIMEOUT_MS, &info,
                                   err, sizeof err), -EACCES);
  ck_assert_msg (strstr (err, "policy") && strstr (err, "go away?"),
                 "message: %s", err);

  put64 (&abort_opt, IHAVEOPT);
  put32 (&abort_opt, OPT_ABORT);
  put32 (&abort_opt, 0);
  read_client_bytes (sv, &sent);
  ck_assert_uint_ge (sent.len, abort_opt.len);
  ck_assert_mem_eq (sent.buf + sent.len - abort_opt.len, abort_opt.buf,
                    abort_opt.len);
  close_pair (sv);
}
END_TEST

/* Malformed replies are protocol errors, each with its own message. */
START_TEST (test_scripted_malformed)
{
  static const struct {
    const char *expect;
    int kind;
  } cases[] = {
    { "without NBD_INFO_EXPORT", 0 },
    { "NBD_INFO_EXPORT of 10 bytes", 1 },
    { "option reply of", 2 },
    { "bad option reply magic", 3 },
    { "expected NBD_OPT_GO", 4 },
    { "invalid block size", 5 },
    { "NBD_FLAG_HAS_FLAGS", 6 },
    { "unexpected reply type", 7 },
    { "NBD_REP_ACK with", 8 },
  };

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct bytes script = { .len = 0 };
    struct nbd_export_info info;
    char err[256];
    int sv[2];

    make_pair (sv, 0);
    put_greeting (&script, 3);
    switch (cases[i].kind) {
    case 0:
      put_reply (&script, OPT_GO, REP_ACK, 0);
      break;
    case 1:
      put_reply (&script, OPT_GO, REP_INFO, 10);
      put16 (&script, INFO_EXPORT);
      put64 (&script, 4096);
      break;
    case 2:
      put_reply (&script, OPT_GO, REP_INFO, 1 << 30);
      break;
    case 3:
      put64 (&script, 0x1122334455667788ull);
      put32 (&script, OPT_GO);
      put32 (&script, REP_ACK);
      put32 (&script, 0);
      break;
    case 4:
      put64 (&script, REPLY_MAGIC);
      put32 (&script, 8);
      put32 (&script, REP_ACK);
      put32 (&script, 0);
      break;
    case 5:
      put_info_export (&script, 4096, 1);
      put_info_block_size (&script, 3, 4096, 65536);
      put_reply (&script, OPT_GO, REP_ACK, 0);
      break;
    case 6:
      put_info_export (&script, 4096, 2);
      break;
    case 7:
      put_reply (&script, OPT_GO, 2, 0);
      break;
    case 8:
      put_info_export (&script, 4096, 1);
      put_reply (&script, OPT_GO, REP_ACK, 4);
      put32 (&script, 0);
      break;
    }
    serve_script (sv, &script, false);
    ck_assert_int_eq (nbd_handshake (sv[0], "", TIMEOUT_MS, &info,
                                     err, sizeof err), -EPROTO);
    ck_assert_msg (strstr (err, cases[i].expect),
                   "case %zu: message: %s", i, err);
    close_pair (sv);
  }
}
END_TEST

/* Arguments refused before a byte is sent. */
START_TEST (test_bad_arguments)
{
  struct nbd_export_info info;
  char err[256];
  char *long_name = malloc (NBD_MAX_STRING + 2);
  int sv[2];

  ck_assert_ptr_nonnull (long_name);
  memset (long_name, 'a', NBD_MAX_STRING + 1);
  long_name[NBD_MAX_STRING + 1] = '\0';
  make_pair (sv, 0);
  ck_assert_int_eq (nbd_handshake (sv[0], long_name, TIMEOUT_MS, &info,
                                   err, sizeof err), -ENAMETOOLONG);
  ck_assert_int_eq (nbd_handshake (sv[0], "", 0, &info, NULL, 0), -EINVAL);
  ck_assert_int_eq (recv (sv[1], err, sizeof err, MSG_DONTWAIT), -1);
  ck_assert_int_eq (errno, EAGAIN);
  close_pair (sv);
  free (long_name);
}
END_TEST

/* nbd_export_check_requests against the constraints. */
START_TEST (test_check_requests)
{
  struct nbd_export_info info = {
    .size = 1 << 20,
    .transmission_flags = 1,
    .block_size_advertised = true,
    .min_block_size = 4096,
    .preferred_block_size = 4096,
    .max_block_size = 1 << 20,
  };
  char err[256];

  ck_assert_int_eq (nbd_export_check_requests (&info, 512, 1 << 20,
                                               err, sizeof err), -EINVAL);
  ck_assert_msg (strstr (err, "aligned to 4096"), "message: %s", err);
  ck_assert_int_eq (nbd_export_check_requests (&info, 4096, 32 << 20,
                                               err, sizeof err), -EINVAL);
  ck_assert_msg (strstr (err, "at most 1048576"), "message: %s", err);
  ck_assert_int_eq (nbd_export_check_requests (&info, 4096, 1 << 20,
                                               err, sizeof err), 0);
  ck_assert_str_eq (err, "");
}
END_TEST

/* Real nbdkit first, then the scripted peers. */
static Suite *
handshake_suite (void)
{
  Suite *s = suite_create ("nbd-handshake");
  TCase *real = tcase_create ("nbdkit");
  TCase *scripted = tcase_create ("scripted");

  tcase_set_timeout (real, 60);
  tcase_add_test (real, test_nbdkit_read_write);
  tcase_add_test (real, test_nbdkit_read_only);
  tcase_add_test (real, test_nbdkit_loopfs_shape);
  tcase_add_test (real, test_nbdkit_bad_export_name);
  suite_add_tcase (s, real);

  tcase_set_timeout (scripted, 30);
  tcase_add_test (scripted, test_eof_in_greeting);
  tcase_add_test (scripted, test_eof_before_reply);
  tcase_add_test (scripted, test_eof_in_reply_data);
  tcase_add_test (scripted, test_garbage);
  tcase_add_test (scripted, test_old_protocols);
  tcase_add_test (scripted, test_silent_peer);
  tcase_add_test (scripted, test_stalled_peer);
  tcase_add_test (scripted, test_scripted_success);
  tcase_add_test (scripted, test_scripted_defaults);
  tcase_add_test (scripted, test_scripted_error_reply);
  tcase_add_test (scripted, test_scripted_malformed);
  tcase_add_test (scripted, test_bad_arguments);
  tcase_add_test (scripted, test_check_requests);
  suite_add_tcase (s, scripted);
  return s;
}

/* Run the suite in a fresh temporary directory, then remove it. */
int
main (void)
{
  signal (SIGPIPE, SIG_IGN);
  atexit (kill_live_nbdkits);
  return test_main (handshake_suite (), tmpdir);
}
