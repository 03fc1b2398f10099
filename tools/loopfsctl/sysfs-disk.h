/* loopfsctl exec: the files of /sys/block/loopN in the sandbox's sysfs
 * view (see sysfs-view.h).
 *
 * One table of the nodes of a device's directory, /sys/block/loopN and
 * below, indexed by their place in the device's range of inode
 * numbers; each file prints its value from the device's status.
 */
#ifndef LOOPFSCTL_SYSFS_DISK_H
#define LOOPFSCTL_SYSFS_DISK_H

#include <stdbool.h>
#include <stddef.h>

#include "device-status.h"

/* Inode numbers each device has in the view. */
#define SYSFS_DISK_NODES 64

/* Print one attribute of device ST into BUF (SIZE bytes). */
typedef void show_fn (const struct device_status *st, char *buf, size_t size);

/* Index 0 is loopN itself; a node with a NULL show is a directory.
 * N_CLASS_LINK and above are not in loopN's tree: the links that point
 * to it from elsewhere (/sys/class/block/loopN, /sys/dev/block/7:N). */
enum { N_DEVICE = 0, N_QUEUE = 16, N_LOOP = 32, N_HOLDERS = 48,
       N_SLAVES = 49, N_CLASS_LINK = 62, N_DEV_LINK = 63 };

struct sysfs_disk_node {
  const char *name;
  int parent;
  show_fn *show;
  bool bound_only;          /* exists only while the device is bound */
};

extern const struct sysfs_disk_node sysfs_disk_nodes[SYSFS_DISK_NODES];

/* Is node index I a directory (loopN, queue, loop, holders, slaves)? */
bool sysfs_disk_is_dir (int i);

#endif /* LOOPFSCTL_SYSFS_DISK_H */
