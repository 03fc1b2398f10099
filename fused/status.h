/* loopfsd: the text of user.loopfs.status and user.loopfs.instance.
 *
 * These are the "key=value" lines that loopfsctl parses (its
 * device-status.c and partition-status.c); the keys are in
 * loopfs-interface.h.  The functions
 * are pure: they format what they are given, so that a unit test can
 * format with the daemon's code and parse with loopfsctl's.
 */
#ifndef LOOPFSD_STATUS_H
#define LOOPFSD_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "instance.h"
#include "loopdev.h"
#include "partition-table.h"

/* What user.loopfs.instance says of an instance. */
struct instance_summary {
  pid_t pid;                /* the daemon */
  unsigned max;             /* max=N */
  size_t devices;           /* devices allocated */
  size_t bound;             /* of which bound or rundown */
  bool nbd;                 /* bound devices also become /dev/nbdX */
  unsigned connections;     /* NBD connections per bound device */
};

/* Write the status of device LO into BUF as "key=value" lines: what
 * sysfs shows of a kernel loop device (/sys/block/loopN and its loop/
 * directory) and LOOP_GET_STATUS64 tells.  BACKING_FILE is the backing
 * file's path as sysfs's loop/backing_file has it (d_path, not
 * lo_file_name), used while LO is bound.  Returns the length, or
 * -ERANGE if BUF is too small. */
int status_value (const struct loopdev *lo, const char *backing_file,
                  char *buf, size_t size);

/* Write the status of partition P of device LO into BUF as the
 * "key=value" lines of a partition node (loopfs-interface.h, "Partition
 * nodes").  Returns the length, or -ERANGE if BUF is too small. */
int partition_status_value (const struct partition *p,
                            const struct loopdev *lo, char *buf,
                            size_t size);

/* Count the devices of INST and those of them bound into SUMMARY's
 * max, devices and bound. */
void instance_summary_count (const struct instance *inst,
                             struct instance_summary *summary);

/* Write SUMMARY into BUF as "key=value" lines.  Returns the length, or
 * -ERANGE if BUF is too small. */
int instance_value (const struct instance_summary *summary, char *buf,
                    size_t size);

#endif /* LOOPFSD_STATUS_H */
