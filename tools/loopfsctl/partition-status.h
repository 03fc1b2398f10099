/* loopfsctl: what a loopfs instance says of its partition nodes.
 *
 * loopfsd describes each partition loopNpM in the extended attributes
 * of its node (loopfs-interface.h, "Partition nodes"): the partition's
 * parent, number, start and size in user.loopfs.status, and its kernel
 * NBD twin in user.loopfs.nbd.  Reading them never opens anything.
 */
#ifndef LOOPFSCTL_PARTITION_STATUS_H
#define LOOPFSCTL_PARTITION_STATUS_H

#include <stdbool.h>
#include <stdint.h>

#include "vector.h"

struct partition_status {
  int parent;                       /* N of loopN */
  int number;                       /* M of loopNpM */
  uint64_t start;                   /* in 512-byte sectors */
  uint64_t size;                    /* bytes */
  bool ro;
  char nbd[48];                     /* "/dev/nbdXpM", or "" */
};

DEFINE_VECTOR_TYPE (partition_status_vector, struct partition_status);

/* Parse TEXT, the "key=value" lines of a partition node's
 * user.loopfs.status, into ST (keys it does not know are skipped).
 * TEXT is cut up in place.  Returns 0 or -EINVAL. */
int partition_status_parse (char *text, struct partition_status *st);

/* Read the status of partition node PATH (DIR/loopNpM) into ST.
 * Returns 0 or -errno (-ENOENT, -ENODATA: no such partition). */
int partition_status_read (const char *path, struct partition_status *st);

/* Append the partitions of device NUMBER in instance DIR to PARTS, in
 * ascending order of partition number.  A node that goes while we look
 * is skipped.  Returns 0 or -errno. */
int instance_partitions (const char *dir, int number,
                         partition_status_vector *parts);

#endif /* LOOPFSCTL_PARTITION_STATUS_H */
