/* loopfsctl exec: what every node of the sandbox's sysfs view shares
 * (see sysfs-node.h). */

#include <string.h>

#include "sysfs-node.h"

/* One place for the modes, so that the disks' and the partitions'
 * nodes look alike. */
void
sysfs_node_attr (fuse_ino_t ino, enum sysfs_node_kind kind,
                 struct stat *attr)
{
  memset (attr, 0, sizeof *attr);
  attr->st_ino = ino;
  attr->st_nlink = 1;
  switch (kind) {
  case SYSFS_NODE_DIR:
    attr->st_mode = S_IFDIR | 0755;
    attr->st_nlink = 2;
    break;
  case SYSFS_NODE_LINK:
    attr->st_mode = S_IFLNK | 0777;
    break;
  case SYSFS_NODE_FILE:
    attr->st_mode = S_IFREG | 0444;
    attr->st_size = SYSFS_ATTRIBUTE_SIZE;
    break;
  }
}
