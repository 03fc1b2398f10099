/* loopfs nbd-backend: a real /dev/nbdX for a bound loop device.
 *
 * The kernel's nbd driver is driven through its generic netlink family
 * "nbd" (NBD_CMD_CONNECT, _DISCONNECT, _RECONFIGURE, _STATUS and the
 * NBD_CMD_LINK_DEAD multicast) with sockets that nbd_handshake() has
 * already taken to the transmission phase.  Every device carries a
 * backend identifier naming the daemon, instance and loop device it
 * belongs to (see kernel-nbd.c for the format and why), visible as
 * /sys/block/nbdX/backend, so that a restarted daemon can find and
 * disconnect what a killed one left behind, and leave everybody else's
 * devices alone.
 *
 * Every function returns 0 (or a count) on success and a negative
 * errno on failure.  Without the nbd driver every netlink call fails
 * with -ENOENT (the family cannot be resolved).
 */
#ifndef LOOPFS_NBD_BACKEND_KERNEL_NBD_H
#define LOOPFS_NBD_BACKEND_KERNEL_NBD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vector.h"

/* The largest data transfer the kernel's nbd driver puts in one
 * request (max_hw_sectors of 65536 sectors); pass it as MAX_PAYLOAD to
 * nbd_export_check_requests. */
#define KERNEL_NBD_MAX_REQUEST (32u * 1024 * 1024)

/* Every loopfs backend identifier starts with this. */
#define KERNEL_NBD_IDENTIFIER_PREFIX "loopfs:"

/* The longest backend identifier we write or accept, with its NUL. */
#define KERNEL_NBD_IDENTIFIER_MAX 128

/* The longest instance id, with its NUL. */
#define KERNEL_NBD_INSTANCE_ID_MAX 48

struct kernel_nbd_config {
  const int *sockets;       /* negotiated sockets, one per connection */
  size_t n_sockets;         /* >= 1; > 1 needs NBD_FLAG_CAN_MULTI_CONN */
  uint64_t size;            /* device size in bytes (the kernel uses
                             * whole 512-byte sectors of it) */
  uint64_t block_size;      /* logical block size: power of 2, >= 512 */
  uint64_t server_flags;    /* transmission flags from the handshake */
  bool read_only;           /* force NBD_FLAG_READ_ONLY */
  uint64_t timeout;         /* seconds before a request counts as stuck
                             * and its connection as dead; 0 leaves the
                             * kernel's default (see kernel-nbd.c) */
  uint64_t dead_conn_timeout; /* seconds requests wait for a replacement
                               * of dead connections before failing */
  const char *identifier;   /* backend identifier, required */
};

/* 0 when this process can attach nbd devices: it has CAP_SYS_ADMIN in
 * the initial user namespace and the "nbd" family resolves (which may
 * make the kernel load nbd.ko).  Otherwise -EPERM (no CAP_SYS_ADMIN, or
 * a user namespace, where the driver refuses us), -ENOENT (no nbd
 * driver), or another negative errno. */
int kernel_nbd_available (void);

/* Connect a free nbd device (the kernel picks it, or makes a new one)
 * to CONFIG's sockets, and store its number in *INDEX.  The kernel
 * takes its own references to the sockets: the caller closes its
 * descriptors afterwards, whether this succeeded or not.  -EINVAL for
 * a bad CONFIG (also when the kernel refuses it), -EFBIG for a size
 * beyond the kernel's loff_t, -EPERM without the privilege. */
int kernel_nbd_connect (const struct kernel_nbd_config *config,
                        uint32_t *index);

/* Disconnect nbd device INDEX.  With IDENTIFIER, only if the device
 * still carries it: -ESTALE if it carries another one (it is no longer
 * ours), 0 without doing anything if it is not connected at all.
 * -ENODEV if there is no such device. */
int kernel_nbd_disconnect (uint32_t index, const char *identifier);

/* What NBD_CMD_RECONFIGURE changes on a connected device. */
struct kernel_nbd_reconfig {
  uint64_t size;            /* device size in bytes */
  uint64_t block_size;      /* logical block size; 0 keeps it */
  uint64_t timeout;         /* request timeout in seconds; 0 keeps it */
  const int *sockets;       /* new sockets, used in place of connections
                             * the kernel has found dead; those beyond
                             * their number are ignored */
  size_t n_sockets;
};

/* Reconfigure the connected device INDEX as RC says.  IDENTIFIER must
 * be the device's (the kernel insists).  -EOPNOTSUPP if the kernel
 * ignored the size (older than 5.3). */
int kernel_nbd_reconfigure (uint32_t index, const char *identifier,
                            const struct kernel_nbd_reconfig *rc);

/* Set how many seconds (>= 1) a request of connected device INDEX may
 * take before the kernel counts its connection as dead and sends the
 * request again over another one, leaving the size as it is.  It
 * applies to requests the kernel starts from then on; those already
 * started keep the timeout they started with. */
int kernel_nbd_set_timeout (uint32_t index, const char *identifier,
                            uint64_t timeout);

/* Whether nbd device INDEX is connected (NBD_CMD_STATUS); -ENODEV if
 * there is no such device. */
int kernel_nbd_status (uint32_t index, bool *connected);

/* A connected nbd device and its backend identifier. */
struct kernel_nbd_device {
  uint32_t index;
  char *identifier;
};
DEFINE_VECTOR_TYPE (kernel_nbd_device_vector, struct kernel_nbd_device)

/* Append to DEVICES, in index order, every connected nbd device whose
 * backend identifier starts with PREFIX (from /sys/block/nbdN/backend,
 * which exists only while a device is configured).  Returns the number
 * appended.  Free with kernel_nbd_device_vector_free. */
int kernel_nbd_list_by_identifier (const char *prefix,
                                   kernel_nbd_device_vector *devices);

/* Free the identifiers in DEVICES and its storage. */
void kernel_nbd_device_vector_free (kernel_nbd_device_vector *devices);

/* Read sysfs from ROOT instead of /sys (tests); NULL restores /sys. */
void kernel_nbd_set_sysfs_root (const char *root);

/* The owner of a device, decoded from its backend identifier. */
struct kernel_nbd_owner {
  uint64_t pid_ns;          /* inode of the daemon's pid namespace */
  pid_t pid;                /* the daemon's pid in that namespace */
  uint64_t start_time;      /* its start time, clock ticks after boot */
  char instance_id[KERNEL_NBD_INSTANCE_ID_MAX];
  unsigned loop_index;      /* loopN within the instance */
};

/* Write the backend identifier for loop device LOOP_INDEX of instance
 * INSTANCE_ID (1 to 47 characters of [A-Za-z0-9._-]) owned by this
 * process into BUF.  -EINVAL for a bad instance id, -ENAMETOOLONG if
 * BUF is too small. */
int kernel_nbd_make_identifier (const char *instance_id, unsigned loop_index,
                                char *buf, size_t size);

/* Write into BUF what every identifier kernel_nbd_make_identifier
 * makes for INSTANCE_ID in this process starts with (up to the ':'
 * before "loop<N>"), to find all of them with
 * kernel_nbd_list_by_identifier.  Errors as there. */
int kernel_nbd_make_owner_prefix (const char *instance_id, char *buf,
                                  size_t size);

/* Decode IDENTIFIER; -EINVAL if it is not a loopfs identifier. */
int kernel_nbd_parse_identifier (const char *identifier,
                                 struct kernel_nbd_owner *owner);

/* 1 if OWNER is still running, 0 if it is gone (its devices are stale
 * and may be disconnected), -EXDEV if it lives in another pid
 * namespace, where we cannot tell (leave its devices alone). */
int kernel_nbd_owner_alive (const struct kernel_nbd_owner *owner);

/* What kernel_nbd_disconnect_by_prefix did with device DEV: R is what
 * kernel_nbd_disconnect returned for it.  The caller says it to people;
 * this layer does not log. */
typedef void kernel_nbd_disconnected_fn (const struct kernel_nbd_device *dev,
                                         int r, void *opaque);

/* Disconnect every connected nbd device whose backend identifier starts
 * with PREFIX (kernel_nbd_list_by_identifier), and call DONE (if not
 * NULL) with OPAQUE for each.  With ONLY_DEAD_OWNERS, only devices
 * whose identifier is a loopfs one and whose owner is known to be gone
 * (kernel_nbd_owner_alive returns 0) are touched: a restarted daemon's
 * sweep of what killed daemons left behind.  Returns the number of
 * devices it tried to disconnect, or the listing's negative errno. */
int kernel_nbd_disconnect_by_prefix (const char *prefix,
                                     bool only_dead_owners,
                                     kernel_nbd_disconnected_fn *done,
                                     void *opaque);

/* A subscription to the driver's NBD_CMD_LINK_DEAD multicasts: one per
 * connection the kernel finds dead, naming the device. */
struct kernel_nbd_monitor;

/* Subscribe.  Do it before whatever may kill connections (stopping an
 * nbdkit whose sockets are to be replaced), or events are missed. */
int kernel_nbd_monitor_open (struct kernel_nbd_monitor **monitor);

/* The descriptor to poll for readability. */
int kernel_nbd_monitor_fd (const struct kernel_nbd_monitor *monitor);

/* Never blocks: 1 and *INDEX for a dead connection of device *INDEX, 0
 * when nothing is pending, or a negative errno (-ENOMEM also when the
 * kernel dropped events for want of buffer space: rescan). */
int kernel_nbd_monitor_read (struct kernel_nbd_monitor *monitor,
                             uint32_t *index);

/* Unsubscribe and free MONITOR (NULL is fine). */
void kernel_nbd_monitor_close (struct kernel_nbd_monitor *monitor);

#endif /* LOOPFS_NBD_BACKEND_KERNEL_NBD_H */
