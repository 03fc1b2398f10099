/* loopfsctl: what a loopfs instance says of its devices.
 *
 * loopfsd describes each loopN in its extended attributes (see
 * loopfsd(8)): user.loopfs.status ("key=value" lines), user.loopfs.nbd
 * and user.loopfs.nbdkit-pid.  Reading them never opens the device: an
 * open and close would run AUTOCLEAR, as on a kernel loop device, so a
 * listing could otherwise change what it lists.
 */
#ifndef LOOPFSCTL_DEVICE_STATUS_H
#define LOOPFSCTL_DEVICE_STATUS_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <linux/loop.h>

#include "vector.h"

struct device_status {
  int number;                       /* N of loopN */
  char state[16];                   /* unbound, binding, bound, rundown,
                                       deleting */
  bool bound;                       /* bound or rundown: the fields from
                                       backing_file on are valid */
  uint64_t size;                    /* bytes */
  bool ro;                          /* BLKROGET */
  uint32_t logical_block_size;
  uint32_t physical_block_size;
  char backing_file[PATH_MAX];      /* the file's path, as sysfs shows it */
  char file_name[LO_NAME_SIZE];     /* lo_file_name */
  uint64_t offset;
  uint64_t sizelimit;
  bool autoclear, partscan, dio, read_only;
  unsigned backing_major, backing_minor;
  uint64_t backing_inode;
  int nbdkit_pid;                   /* -1 when no nbdkit serves it */
  char nbd[32];                     /* "/dev/nbdX", or "" */
};

/* What loop-control's user.loopfs.instance says of the instance. */
struct instance_info {
  int pid;                          /* the loopfsd serving it */
  unsigned max;                     /* -o max=N */
  unsigned devices;                 /* loopN present */
  unsigned bound;                   /* of which bound */
  bool nbd;                         /* bound devices get /dev/nbdX */
  unsigned connections;             /* NBD connections per device */
};

DEFINE_VECTOR_TYPE (int_vector, int);

/* Parse TEXT, the "key=value" lines of user.loopfs.status, into the
 * fields of ST that it describes (from state to backing_inode, and
 * bound); the others are left as they are.  TEXT is cut up in place.
 * Returns 0, -EINVAL for a line without '=' or a bad number, or
 * -EOVERFLOW for a string too long for ST. */
int device_status_parse (char *text, struct device_status *st);

/* Parse TEXT, the "key=value" lines of user.loopfs.instance, into INFO
 * (keys it does not know are skipped).  TEXT is cut up in place.
 * Returns 0 or -EINVAL for a line that is not "key=value". */
int instance_info_parse (char *text, struct instance_info *info);

/* Read the status of instance node PATH (DIR/loopN) into ST.  Returns
 * 0, -ENODATA when PATH is not a loopfs device node, or another
 * -errno. */
int device_status_read (const char *path, struct device_status *st);

/* Is DIR a loopfs instance (its loop-control answers user.loopfs.node)?
 * Returns 0 or -errno (-ENODATA: not a loopfs instance). */
int instance_check (const char *dir);

/* Resolve DIR to the absolute path of the loopfs instance mounted
 * there, in RESOLVED (PATH_MAX bytes).  Returns 0 or -errno (-ENODATA:
 * not a loopfs instance). */
int instance_resolve (const char *dir, char *resolved);

/* Read what instance DIR says of itself into INFO.  Returns 0 or
 * -errno (-ENODATA: not a loopfs instance). */
int instance_info_read (const char *dir, struct instance_info *info);

/* Append the numbers of the devices present in instance DIR to
 * NUMBERS, in ascending order.  Returns 0 or -errno. */
int instance_device_numbers (const char *dir, int_vector *numbers);

/* The per-user device limit loopfsd applies (see loopfsd(8), FILES),
 * which bounds the device numbers of an instance without -o max. */
unsigned user_device_limit (void);

#endif /* LOOPFSCTL_DEVICE_STATUS_H */
