/* loopfs nbd-backend: attaching /dev/nbdX through generic netlink.
 *
 * Design notes.
 *
 * Who negotiates.  The kernel's nbd driver only does the transmission
 * phase, with simple replies: it wants sockets somebody else took
 * through the handshake.  libnbd (1.14) offers no supported way to
 * give a negotiated socket away: by default it asks for structured
 * replies and meta contexts, which the kernel cannot parse, and
 * nothing promises that its handle leaves the socket's byte stream
 * untouched while it owns it and after it is closed.  nbd-client
 * (Debian's nbd-client 3.24 does speak netlink) would be a second
 * privileged program per device: exec'd from a daemon that keeps only
 * a few capabilities it would need CAP_SYS_ADMIN passed on as an
 * ambient capability, it reports failures as text and an exit status
 * rather than an errno the daemon can hand back to LOOP_SET_FD, and
 * replacing connections (a resize needs that, below) only happens in
 * its own long-running -persist mode.  Fixed newstyle with
 * NBD_OPT_GO is a few hundred lines (nbd-handshake.c), tested
 * against nbdkit itself, so loopfs negotiates and the kernel gets the
 * sockets.
 *
 * How many connections.  With NBD_FLAG_CAN_MULTI_CONN (nbdkit's file
 * plugin sets it: flushes reach the same file whichever connection
 * they come on) the kernel gives every connection its own hardware
 * queue and receive worker, so requests from different CPUs go out in
 * parallel; min(number of CPUs, 4) connections is a sensible choice.
 * Without the flag the driver refuses more than one, and so does
 * kernel_nbd_connect.
 *
 * Backend identifier: "loopfs:<pidns>:<pid>:<start>:<instance>:loop<N>"
 * (kernel-nbd-identifier.c).  <pid> alone cannot tell a restarted
 * daemon whether the owner of a device still runs: pids are recycled,
 * so the owner's start time (field 22 of /proc/PID/stat) goes with
 * it, and both only mean something inside the owner's pid namespace
 * (<pidns>, the inode of /proc/self/ns/pid), so a daemon never judges
 * an owner it cannot see.  <instance> names the loopfs mount, loop<N>
 * the device in it; the whole string shows as /sys/block/nbdX/backend.
 *
 * Client flags: none.  NBD_CFLAG_DESTROY_ON_DISCONNECT would remove
 * the device node at disconnect, and when the kernel hands us one of
 * the devices it made at module load (nbd0..nbd15, usually) that is a
 * node other tools expect to stay; a disconnected device is simply
 * reused by the next connect (the kernel prefers unused devices to new
 * ones), so keeping nodes costs at most as many as were ever attached
 * at once.  NBD_CFLAG_DISCONNECT_ON_CLOSE ties the connection to
 * whoever opens /dev/nbdX last, while it must follow the loop
 * binding.
 *
 * Timeouts.  NBD_ATTR_DEAD_CONN_TIMEOUT is how long requests wait for
 * RECONFIGURE to replace dead connections before they fail with EIO.
 * NBD_ATTR_TIMEOUT matters for requests already sent when nbdkit dies:
 * with one connection and no timeout the kernel only logs them as
 * "possible stuck request" forever, so a killed daemon would leave
 * hung tasks; with a timeout (or with several connections, where the
 * block layer's 30 s default applies) a request older than it marks
 * its connection dead and is requeued, to fail once the dead-
 * connection timeout has also run out.  The flip side is that a
 * request the backing file takes longer than the timeout to serve
 * kills a healthy connection, so it should be generous (tens of
 * seconds).  Worst case for I/O after SIGKILL: timeout +
 * dead_conn_timeout.
 *
 * Resizing.  Since 5.3 NBD_CMD_RECONFIGURE takes NBD_ATTR_SIZE_BYTES,
 * so the device can grow in place; kernel_nbd_reconfigure checks in
 * sysfs that it did.  But an nbdkit connection's size is fixed at its
 * handshake, so the sockets must be replaced too, and the kernel only
 * takes new sockets in place of connections it has found dead.  The
 * order that keeps /dev/nbdX alive with no request failing
 * (dead_conn_timeout > 0; kernel_attach_resize): kernel_nbd_monitor_open,
 * start the new nbdkit and negotiate N new sockets, lower the request
 * timeout to 1 s and give requests already under way 200 ms to finish,
 * shut both directions of the N old sockets (through descriptors of
 * them kept since the connect), and on each NBD_CMD_LINK_DEAD for the
 * device kernel_nbd_reconfigure with the new size, the old timeout and
 * one new socket.  Three quirks decide that order, all seen on 6.1:
 * the kernel marks a connection dead only when a send or receive on it
 * fails, and then shuts it both ways itself, so nbdkit's answers to
 * requests still under way on it are lost; such a request is sent again
 * only when it times out, with the timeout it started with (30 s
 * unless lowered before it started); and shutting only the write side
 * lets nbdkit (1.32, several workers per connection) read the end of
 * the stream while another worker holds a request it read before,
 * which it then answers ESHUTDOWN, an I/O error for the kernel.  With
 * both sides shut the kernel reads only answers written before, and
 * the requests it loses are sent again within about 2 s.  On a kernel
 * older than 5.3 the only way is a disconnect and a new connect, which
 * a mounted file system does not survive.
 *
 * Disconnect while /dev/nbdX is open (mounted, or udev probing it):
 * the sockets go and I/O fails at once, but the configuration, and
 * with it /sys/block/nbdX/backend, stays until the last close.
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/nbd-netlink.h>
#include <linux/nbd.h>

#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>

#include "cleanup.h"
#include "kernel-nbd.h"
#include "kernel-nbd-sysfs.h"
#include "monotonic-time.h"
#include "nbd-handshake.h"
#include "userns.h"
#include "vector.h"

/* How long we wait for the kernel to answer one command.  Connect and
 * disconnect wait for the driver's workers, never for the server. */
#define REQUEST_TIMEOUT_MS 30000

/* Free the libnl socket held in *SOCK, closing it. */
static inline void
cleanup_nl_sock (struct nl_sock **sock)
{
  if (*sock)
    nl_socket_free (*sock);
}

/* Free the libnl message held in *MSG. */
static inline void
cleanup_nl_msg (struct nl_msg **msg)
{
  if (*msg)
    nlmsg_free (*msg);
}

/* Drop our reference to the libnl callback set held in *CB. */
static inline void
cleanup_nl_cb (struct nl_cb **cb)
{
  if (*cb)
    nl_cb_put (*cb);
}

/* libnl objects released at the end of their scope. */
#define CLEANUP_NL_SOCK __attribute__ ((cleanup (cleanup_nl_sock)))
#define CLEANUP_NL_MSG __attribute__ ((cleanup (cleanup_nl_msg)))
#define CLEANUP_NL_CB __attribute__ ((cleanup (cleanup_nl_cb)))

/* Translate a libnl error code (negative NLE_*) into a negative errno.
 * Errors the kernel sent are caught raw in on_error; these are libnl's
 * own (allocation, socket calls, parsing). */
static int
nl_errno (int nle)
{
  switch (-nle) {
  case NLE_SUCCESS: return 0;
  case NLE_INTR: return -EINTR;
  case NLE_BAD_SOCK: return -EBADF;
  case NLE_AGAIN: return -EAGAIN;
  case NLE_NOMEM: return -ENOMEM;
  case NLE_EXIST: return -EEXIST;
  case NLE_INVAL: return -EINVAL;
  case NLE_RANGE: return -ERANGE;
  case NLE_MSGSIZE: return -EMSGSIZE;
  case NLE_OPNOTSUPP: return -EOPNOTSUPP;
  case NLE_AF_NOSUPPORT: return -EAFNOSUPPORT;
  case NLE_OBJ_NOTFOUND: return -ENOENT;
  case NLE_BUSY: return -EBUSY;
  case NLE_PROTO_MISMATCH: return -EPROTONOSUPPORT;
  case NLE_NOACCESS: return -EACCES;
  case NLE_PERM: return -EPERM;
  case NLE_NODEV: return -ENODEV;
  default: return -EPROTO;
  }
}

/* Open a generic netlink socket and resolve the nbd family.  -ENOENT
 * when the kernel has no nbd driver (the resolve asks the kernel to
 * load the module first).  A receive timeout keeps libnl's own
 * blocking reads (the resolve) from waiting forever. */
static int
open_nbd_family (struct nl_sock **sock_ret, int *family_ret)
{
  CLEANUP_NL_SOCK struct nl_sock *sock = NULL;
  struct timeval tv = { .tv_sec = REQUEST_TIMEOUT_MS / 1000 };
  int r, family;

  sock = nl_socket_alloc ();
  if (sock == NULL)
    return -ENOMEM;
  r = genl_connect (sock);
  if (r < 0)
    return nl_errno (r);
  if (setsockopt (nl_socket_get_fd (sock), SOL_SOCKET, SO_RCVTIMEO,
                  &tv, sizeof tv) == -1)
    return -errno;
  family = genl_ctrl_resolve (sock, NBD_GENL_FAMILY_NAME);
  if (family < 0)
    return nl_errno (family);

  *family_ret = family;
  *sock_ret = TAKE_PTR (sock);
  return 0;
}

/* A command in flight: how its replies are parsed and how it ended. */
struct request {
  int (*parse) (struct nl_msg *msg, void *opaque);   /* may be NULL */
  void *opaque;
  int parse_error;          /* first error PARSE returned */
  int kernel_error;         /* negative errno from the kernel, or 0 */
  bool done;                /* acknowledged or refused */
};

/* A reply message: hand it to the request's parser. */
static int
on_valid (struct nl_msg *msg, void *arg)
{
  struct request *req = arg;

  if (req->parse) {
    int r = req->parse (msg, req->opaque);

    if (r < 0 && req->parse_error == 0)
      req->parse_error = r;
  }
  return NL_OK;
}

/* The kernel acknowledged the command. */
static int
on_ack (struct nl_msg *msg, void *arg)
{
  struct request *req = arg;

  (void) msg;
  req->done = true;
  return NL_STOP;
}

/* The kernel refused the command: keep its errno as it is (libnl's own
 * translation would squash it into an NLE_* code). */
static int
on_error (struct sockaddr_nl *nla, struct nlmsgerr *err, void *arg)
{
  struct request *req = arg;

  (void) nla;
  req->kernel_error = err->error < 0 ? err->error : -EPROTO;
  req->done = true;
  return NL_STOP;
}

/* Send MSG on SOCK and collect replies until the kernel acknowledges
 * or refuses it, polling so that a silent kernel gives -ETIMEDOUT
 * rather than a hang.  Returns the kernel's errno, else PARSE's. */
static int
run_request (struct nl_sock *sock, struct nl_msg *msg, struct request *req)
{
  CLEANUP_NL_CB struct nl_cb *cb = NULL;
  int64_t deadline = monotonic_ms () + REQUEST_TIMEOUT_MS;
  struct pollfd pfd = { .fd = nl_socket_get_fd (sock), .events = POLLIN };
  int r;

  cb = nl_cb_alloc (NL_CB_DEFAULT);
  if (cb == NULL)
    return -ENOMEM;
  nl_cb_set (cb, NL_CB_VALID, NL_CB_CUSTOM, on_valid, req);
  nl_cb_set (cb, NL_CB_ACK, NL_CB_CUSTOM, on_ack, req);
  nl_cb_err (cb, NL_CB_CUSTOM, on_error, req);

  r = nl_send_auto (sock, msg);
  if (r < 0)
    return nl_errno (r);

  while (!req->done) {
    int64_t left = deadline - monotonic_ms ();

    if (left <= 0)
      return -ETIMEDOUT;
    r = poll (&pfd, 1, left > INT_MAX ? INT_MAX : (int) left);
    if (r == -1 && errno != EINTR)
      return -errno;
    if (r <= 0)
      continue;
    r = nl_recvmsgs (sock, cb);
    if (r < 0 && !req->done)
      return nl_errno (r);
  }
  if (req->kernel_error)
    return req->kernel_error;
  return req->parse_error;
}

/* Open a socket to the nbd family in *SOCK and start a message of
 * command CMD for it in *MSG_RET. */
static int
new_command (uint8_t cmd, struct nl_sock **sock, struct nl_msg **msg_ret)
{
  struct nl_msg *msg;
  int family, r;

  r = open_nbd_family (sock, &family);
  if (r < 0)
    return r;
  msg = nlmsg_alloc ();
  if (msg == NULL)
    return -ENOMEM;
  if (genlmsg_put (msg, NL_AUTO_PORT, NL_AUTO_SEQ, family, 0, 0, cmd,
                   NBD_GENL_VERSION) == NULL) {
    nlmsg_free (msg);
    return -ENOMEM;
  }
  *msg_ret = msg;
  return 0;
}

/* new_command for a command about one device: with NBD_ATTR_INDEX
 * INDEX already in *MSG. */
static int
index_command (uint8_t cmd, uint32_t index, struct nl_sock **sock,
               struct nl_msg **msg)
{
  int r = new_command (cmd, sock, msg);

  if (r < 0)
    return r;
  if (nla_put_u32 (*msg, NBD_ATTR_INDEX, index) < 0)
    return -EMSGSIZE;
  return 0;
}

/* Add NBD_ATTR_SOCKETS with one NBD_SOCK_ITEM { NBD_SOCK_FD } per
 * descriptor: the kernel looks the numbers up in our descriptor table
 * while it handles the message. */
static int
put_sockets (struct nl_msg *msg, const int *sockets, size_t n)
{
  struct nlattr *list = nla_nest_start (msg, NBD_ATTR_SOCKETS);

  if (list == NULL)
    return -EMSGSIZE;
  for (size_t i = 0; i < n; i++) {
    struct nlattr *item = nla_nest_start (msg, NBD_SOCK_ITEM);

    if (item == NULL || nla_put_u32 (msg, NBD_SOCK_FD, sockets[i]) < 0)
      return -EMSGSIZE;
    nla_nest_end (msg, item);
  }
  nla_nest_end (msg, list);
  return 0;
}

/* True if S is a usable backend identifier: printable, no spaces (it is
 * shown in sysfs, one line) and not too long. */
static bool
valid_identifier (const char *s)
{
  size_t len;

  if (s == NULL)
    return false;
  len = strlen (s);
  if (len == 0 || len >= KERNEL_NBD_IDENTIFIER_MAX)
    return false;
  for (size_t i = 0; i < len; i++)
    if (s[i] <= 0x20 || s[i] >= 0x7f)
      return false;
  return true;
}

/* Check CONFIG before the kernel sees it, so that a caller mistake is
 * -EINVAL here rather than a line in the kernel log. */
static int
check_config (const struct kernel_nbd_config *config)
{
  if (config->sockets == NULL || config->n_sockets == 0)
    return -EINVAL;
  for (size_t i = 0; i < config->n_sockets; i++)
    if (config->sockets[i] < 0)
      return -EBADF;
  if (config->n_sockets > 1 &&
      !(config->server_flags & NBD_FLAG_CAN_MULTI_CONN))
    return -EINVAL;
  if (config->block_size < 512 ||
      (config->block_size & (config->block_size - 1)))
    return -EINVAL;
  if (config->size > INT64_MAX)
    return -EFBIG;
  if (!valid_identifier (config->identifier))
    return -EINVAL;
  return 0;
}

/* Take the device number out of NBD_CMD_CONNECT's reply. */
static int
parse_connect_reply (struct nl_msg *msg, void *opaque)
{
  struct nlattr *attrs[NBD_ATTR_MAX + 1];
  int64_t *index = opaque;
  int r;

  r = genlmsg_parse (nlmsg_hdr (msg), 0, attrs, NBD_ATTR_MAX, NULL);
  if (r < 0)
    return nl_errno (r);
  if (attrs[NBD_ATTR_INDEX])
    *index = nla_get_u32 (attrs[NBD_ATTR_INDEX]);
  return 0;
}

/* Find the device that carries IDENTIFIER, for a connect whose reply
 * got lost (the kernel skips the reply when it cannot allocate it, but
 * the device is connected all the same). */
static int
find_by_identifier (const char *identifier, uint32_t *index)
{
  kernel_nbd_device_vector devices = { 0 };
  int r, found = 0;

  r = kernel_nbd_list_by_identifier (identifier, &devices);
  for (size_t i = 0; r >= 0 && i < devices.len; i++)
    if (strcmp (devices.ptr[i].identifier, identifier) == 0) {
      *index = devices.ptr[i].index;
      found++;
    }
  kernel_nbd_device_vector_free (&devices);
  if (r < 0)
    return r;
  return found == 1 ? 0 : -EPROTO;
}

/* Whether this process has CAP_SYS_ADMIN in its effective set.  Read
 * with capget(2) itself: libcap-ng keeps process-wide state that the
 * daemon's own capability handling owns. */
static bool
have_cap_sys_admin (void)
{
  struct __user_cap_header_struct header = {
    .version = _LINUX_CAPABILITY_VERSION_3,
  };
  struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

  if (syscall (SYS_capget, &header, data) == -1)
    return false;
  return data[CAP_TO_INDEX (CAP_SYS_ADMIN)].effective &
         CAP_TO_MASK (CAP_SYS_ADMIN);
}

/* Whether this process can attach nbd devices (see kernel-nbd.h).  The
 * privilege is checked first: it needs no kernel driver to answer.  The
 * driver accepts CAP_SYS_ADMIN of the initial user namespace only
 * (netlink_capable); where root copied the identity map into another
 * namespace, the driver's own check turns the connect down with
 * -EPERM. */
int
kernel_nbd_available (void)
{
  CLEANUP_NL_SOCK struct nl_sock *sock = NULL;
  int family;

  if (!have_cap_sys_admin () || !uid_map_is_identity ())
    return -EPERM;
  return open_nbd_family (&sock, &family);
}

/* NBD_CMD_CONNECT without NBD_ATTR_INDEX: the kernel picks the device
 * and says which in its reply. */
int
kernel_nbd_connect (const struct kernel_nbd_config *config, uint32_t *index)
{
  CLEANUP_NL_SOCK struct nl_sock *sock = NULL;
  CLEANUP_NL_MSG struct nl_msg *msg = NULL;
  uint64_t server_flags = config->server_flags | NBD_FLAG_HAS_FLAGS;
  int64_t reply_index = -1;
  struct request req = {
    .parse = parse_connect_reply,
    .opaque = &reply_index,
  };
  int r;

  r = check_config (config);
  if (r < 0)
    return r;
  if (config->read_only)
    server_flags |= NBD_FLAG_READ_ONLY;

  r = new_command (NBD_CMD_CONNECT, &sock, &msg);
  if (r < 0)
    return r;
  if (nla_put_u64 (msg, NBD_ATTR_SIZE_BYTES, config->size) < 0 ||
      nla_put_u64 (msg, NBD_ATTR_BLOCK_SIZE_BYTES, config->block_size) < 0 ||
      nla_put_u64 (msg, NBD_ATTR_SERVER_FLAGS, server_flags) < 0 ||
      nla_put_u64 (msg, NBD_ATTR_CLIENT_FLAGS, 0) < 0 ||
      nla_put_u64 (msg, NBD_ATTR_DEAD_CONN_TIMEOUT,
                   config->dead_conn_timeout) < 0 ||
      (config->timeout &&
       nla_put_u64 (msg, NBD_ATTR_TIMEOUT, config->timeout) < 0) ||
      nla_put_string (msg, NBD_ATTR_BACKEND_IDENTIFIER,
                      config->identifier) < 0)
    return -EMSGSIZE;
  r = put_sockets (msg, config->sockets, config->n_sockets);
  if (r < 0)
    return r;

  r = run_request (sock, msg, &req);
  if (r < 0)
    return r;
  if (reply_index >= 0) {
    *index = reply_index;
    return 0;
  }
  return find_by_identifier (config->identifier, index);
}

/* NBD_CMD_DISCONNECT, after making sure the device is still ours. */
int
kernel_nbd_disconnect (uint32_t index, const char *identifier)
{
  CLEANUP_NL_SOCK struct nl_sock *sock = NULL;
  CLEANUP_NL_MSG struct nl_msg *msg = NULL;
  struct request req = { 0 };
  int r;

  if (identifier) {
    char current[KERNEL_NBD_IDENTIFIER_MAX];

    r = kernel_nbd_sysfs_identifier (index, current, sizeof current);
    if (r == -ENOTCONN)
      return 0;
    if (r == -ENAMETOOLONG || (r == 0 && strcmp (current, identifier) != 0))
      return -ESTALE;
    if (r < 0)
      return r;
  }

  r = index_command (NBD_CMD_DISCONNECT, index, &sock, &msg);
  if (r < 0)
    return r;
  r = run_request (sock, msg, &req);
  /* The driver says EINVAL for "couldn't find device at index". */
  return r == -EINVAL ? -ENODEV : r;
}

/* Begin an NBD_CMD_RECONFIGURE of device INDEX, whose backend
 * identifier is IDENTIFIER: the socket to send it on in *SOCK and the
 * message with those two attributes in *MSG. */
static int
new_reconfigure (uint32_t index, const char *identifier,
                 struct nl_sock **sock, struct nl_msg **msg)
{
  int r;

  if (!valid_identifier (identifier))
    return -EINVAL;
  r = index_command (NBD_CMD_RECONFIGURE, index, sock, msg);
  if (r < 0)
    return r;
  if (nla_put_string (*msg, NBD_ATTR_BACKEND_IDENTIFIER, identifier) < 0)
    return -EMSGSIZE;
  return 0;
}

/* NBD_CMD_RECONFIGURE with a new size and replacement sockets. */
int
kernel_nbd_reconfigure (uint32_t index, const char *identifier,
                        const struct kernel_nbd_reconfig *rc)
{
  CLEANUP_NL_SOCK struct nl_sock *sock = NULL;
  CLEANUP_NL_MSG struct nl_msg *msg = NULL;
  struct request req = { 0 };
  uint64_t sectors;
  int r;

  if ((rc->n_sockets && rc->sockets == NULL) ||
      (rc->block_size &&
       (rc->block_size < 512 || (rc->block_size & (rc->block_size - 1)))))
    return -EINVAL;
  if (rc->size > INT64_MAX)
    return -EFBIG;

  r = new_reconfigure (index, identifier, &sock, &msg);
  if (r < 0)
    return r;
  if (nla_put_u64 (msg, NBD_ATTR_SIZE_BYTES, rc->size) < 0 ||
      (rc->block_size &&
       nla_put_u64 (msg, NBD_ATTR_BLOCK_SIZE_BYTES, rc->block_size) < 0) ||
      (rc->timeout && nla_put_u64 (msg, NBD_ATTR_TIMEOUT, rc->timeout) < 0))
    return -EMSGSIZE;
  if (rc->n_sockets) {
    r = put_sockets (msg, rc->sockets, rc->n_sockets);
    if (r < 0)
      return r;
  }
  r = run_request (sock, msg, &req);
  if (r < 0)
    return r;

  /* A kernel before 5.3 accepts the message and ignores the size. */
  r = kernel_nbd_sysfs_sectors (index, &sectors);
  if (r < 0)
    return r;
  return sectors == rc->size >> 9 ? 0 : -EOPNOTSUPP;
}

/* Set device INDEX's request timeout (see kernel-nbd.h). */
int
kernel_nbd_set_timeout (uint32_t index, const char *identifier,
                        uint64_t timeout)
{
  CLEANUP_NL_SOCK struct nl_sock *sock = NULL;
  CLEANUP_NL_MSG struct nl_msg *msg = NULL;
  struct request req = { 0 };
  int r;

  /* 0 would not keep the timeout: the kernel takes it as 30 s. */
  if (timeout == 0)
    return -EINVAL;
  r = new_reconfigure (index, identifier, &sock, &msg);
  if (r < 0)
    return r;
  if (nla_put_u64 (msg, NBD_ATTR_TIMEOUT, timeout) < 0)
    return -EMSGSIZE;
  return run_request (sock, msg, &req);
}

/* What NBD_CMD_STATUS said about one device. */
struct status {
  uint32_t index;
  bool found;
  bool connected;
};

/* Find our device in NBD_ATTR_DEVICE_LIST. */
static int
parse_status_reply (struct nl_msg *msg, void *opaque)
{
  struct nlattr *attrs[NBD_ATTR_MAX + 1];
  struct status *status = opaque;
  struct nlattr *item;
  int r, rem;

  r = genlmsg_parse (nlmsg_hdr (msg), 0, attrs, NBD_ATTR_MAX, NULL);
  if (r < 0)
    return nl_errno (r);
  if (attrs[NBD_ATTR_DEVICE_LIST] == NULL)
    return -EPROTO;
  nla_for_each_nested (item, attrs[NBD_ATTR_DEVICE_LIST], rem) {
    struct nlattr *dev[NBD_DEVICE_ATTR_MAX + 1];

    if (nla_type (item) != NBD_DEVICE_ITEM)
      continue;
    r = nla_parse_nested (dev, NBD_DEVICE_ATTR_MAX, item, NULL);
    if (r < 0)
      return nl_errno (r);
    if (dev[NBD_DEVICE_INDEX] == NULL || dev[NBD_DEVICE_CONNECTED] == NULL)
      return -EPROTO;
    if (nla_get_u32 (dev[NBD_DEVICE_INDEX]) == status->index) {
      status->found = true;
      status->connected = nla_get_u8 (dev[NBD_DEVICE_CONNECTED]) != 0;
    }
  }
  return 0;
}

/* NBD_CMD_STATUS for one device. */
int
kernel_nbd_status (uint32_t index, bool *connected)
{
  CLEANUP_NL_SOCK struct nl_sock *sock = NULL;
  CLEANUP_NL_MSG struct nl_msg *msg = NULL;
  struct status status = { .index = index };
  struct request req = { .parse = parse_status_reply, .opaque = &status };
  int r;

  r = index_command (NBD_CMD_STATUS, index, &sock, &msg);
  if (r < 0)
    return r;
  r = run_request (sock, msg, &req);
  if (r < 0)
    return r;
  if (!status.found)
    return -ENODEV;
  *connected = status.connected;
  return 0;
}

DEFINE_VECTOR_TYPE (index_vector, uint32_t)

struct kernel_nbd_monitor {
  struct nl_sock *sock;
  struct nl_cb *cb;
  index_vector pending;     /* devices of events received, not yet read */
  int error;                /* an allocation failed while queueing */
};

/* A multicast message: queue the device of an NBD_CMD_LINK_DEAD. */
static int
on_multicast (struct nl_msg *msg, void *arg)
{
  struct kernel_nbd_monitor *monitor = arg;
  struct genlmsghdr *gnlh = genlmsg_hdr (nlmsg_hdr (msg));
  struct nlattr *attrs[NBD_ATTR_MAX + 1];

  if (gnlh->cmd != NBD_CMD_LINK_DEAD ||
      genlmsg_parse (nlmsg_hdr (msg), 0, attrs, NBD_ATTR_MAX, NULL) < 0 ||
      attrs[NBD_ATTR_INDEX] == NULL)
    return NL_OK;
  if (index_vector_append (&monitor->pending,
                           nla_get_u32 (attrs[NBD_ATTR_INDEX])) < 0)
    monitor->error = -ENOMEM;
  return NL_OK;
}

/* Accept a message whatever its sequence number: multicasts carry
 * none. */
static int
accept_any_sequence (struct nl_msg *msg, void *arg)
{
  (void) msg;
  (void) arg;
  return NL_OK;
}

/* Join the driver's multicast group on a non-blocking socket. */
int
kernel_nbd_monitor_open (struct kernel_nbd_monitor **monitor_ret)
{
  CLEANUP_NL_SOCK struct nl_sock *sock = NULL;
  CLEANUP_NL_CB struct nl_cb *cb = NULL;
  struct kernel_nbd_monitor *monitor;
  int family, group, r;

  r = open_nbd_family (&sock, &family);
  if (r < 0)
    return r;
  group = genl_ctrl_resolve_grp (sock, NBD_GENL_FAMILY_NAME,
                                 NBD_GENL_MCAST_GROUP_NAME);
  if (group < 0)
    return nl_errno (group);
  r = nl_socket_add_membership (sock, group);
  if (r < 0)
    return nl_errno (r);
  r = nl_socket_set_nonblocking (sock);
  if (r < 0)
    return nl_errno (r);
  cb = nl_cb_alloc (NL_CB_DEFAULT);
  if (cb == NULL)
    return -ENOMEM;
  nl_cb_set (cb, NL_CB_SEQ_CHECK, NL_CB_CUSTOM, accept_any_sequence, NULL);

  monitor = calloc (1, sizeof *monitor);
  if (monitor == NULL)
    return -ENOMEM;
  nl_cb_set (cb, NL_CB_VALID, NL_CB_CUSTOM, on_multicast, monitor);
  monitor->sock = TAKE_PTR (sock);
  monitor->cb = TAKE_PTR (cb);
  *monitor_ret = monitor;
  return 0;
}

/* The monitor's netlink descriptor. */
int
kernel_nbd_monitor_fd (const struct kernel_nbd_monitor *monitor)
{
  return nl_socket_get_fd (monitor->sock);
}

/* Hand out one queued event, receiving more first if none is queued. */
int
kernel_nbd_monitor_read (struct kernel_nbd_monitor *monitor, uint32_t *index)
{
  if (monitor->pending.len == 0) {
    int r = nl_recvmsgs (monitor->sock, monitor->cb);

    if (r < 0 && r != -NLE_AGAIN)
      return nl_errno (r);
  }
  if (monitor->error) {
    int r = monitor->error;

    monitor->error = 0;
    return r;
  }
  if (monitor->pending.len == 0)
    return 0;
  *index = monitor->pending.ptr[0];
  index_vector_remove (&monitor->pending, 0);
  return 1;
}

/* Leave the group and free everything. */
void
kernel_nbd_monitor_close (struct kernel_nbd_monitor *monitor)
{
  if (monitor == NULL)
    return;
  nl_cb_put (monitor->cb);
  nl_socket_free (monitor->sock);
  index_vector_reset (&monitor->pending);
  free (monitor);
}
