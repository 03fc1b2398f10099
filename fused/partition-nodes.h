/* loopfsd: partition nodes, loopNpM (see partition-nodes.c). */
#ifndef LOOPFSD_PARTITION_NODES_H
#define LOOPFSD_PARTITION_NODES_H

#include <stdbool.h>
#include <stdint.h>

#include "partitions.h"

struct device;

/* Is INO a partition node's number (whether it exists or not)? */
bool partition_ino (fuse_ino_t ino);

/* The partition behind INO and its device (into *DEV), or NULL. */
struct partition *partition_node (struct daemon *d, fuse_ino_t ino,
                                  struct device **dev);

/* Look NAME ("loopNpM") up: 0 with its inode number and generation,
 * or -ENOENT. */
int partition_lookup (struct daemon *d, const char *name, fuse_ino_t *ino,
                      uint64_t *generation);

/* The size of partition node INO, or -ENOENT. */
int64_t partition_node_size (struct daemon *d, fuse_ino_t ino);

/* Extended attribute NAME of partition node INO into BUF (see
 * loopfs-interface.h): its length, or -ENODATA. */
int partition_xattr_value (struct daemon *d, fuse_ino_t ino,
                           const char *name, char *buf, size_t size);

/* The INDEX-th entry of the root directory after ".", ".." and
 * loop-control: every loopN, each followed by its partitions.  Writes
 * its name and inode number; false past the last entry. */
bool partition_dir_entry (struct daemon *d, size_t index, char *name,
                          size_t size, fuse_ino_t *ino);

/* open(2) of partition node INO: its device is opened too (a partition
 * open counts as an opener of its disk, so a LOOP_CLR_FD waits for it).
 * Returns 0 with *DEV and *NUMBER set, -ENOENT, or -ENXIO while the
 * device is being cleared. */
int partition_open (struct daemon *d, fuse_ino_t ino, struct device **dev,
                    int *number);

/* The last reference to an open partition NUMBER of DEV went away. */
void partition_release (struct daemon *d, struct device *dev, int number);

/* read(2), write(2), fsync(2) and fallocate(2) through handle H on a
 * partition: the same requests on its device, bounded by the
 * partition (the checks of blkdev_read_iter, blkdev_write_iter and
 * blkdev_fallocate with the partition's size). */
void partition_read (fuse_req_t req, struct handle *h, size_t size,
                     off_t off);
void partition_write (fuse_req_t req, struct handle *h, const char *buf,
                      size_t size, off_t off);
void partition_fsync (fuse_req_t req, struct handle *h);
void partition_fallocate (fuse_req_t req, struct handle *h, int mode,
                          off_t off, off_t len);

#endif /* LOOPFSD_PARTITION_NODES_H */
