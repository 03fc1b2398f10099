/* loopfsctl exec: the device numbers the sandbox gives the instance's
 * partition nodes (loopNpM), which its stat and sysfs view show.
 *
 * Why major 259: with the loop driver's default max_part=0 (Debian's,
 * and this project's test machines': /sys/module/loop/parameters/
 * max_part) a loop disk has one minor, so the kernel numbers its
 * partitions in the extended range, BLOCK_EXT_MAJOR 259, with the
 * lowest free minor (blk_alloc_ext_minor).  The alternative,
 * 7:(N << shift) + M with max_part set, would change every loopN's own
 * number to N << shift, which util-linux and scripts that name
 * /dev/loopN after 7:N do not expect.  util-linux finds a partition's
 * disk through sysfs (/sys/dev/block/259:X -> .../loopN/loopNpM), not
 * through the major, so lsblk, blkid, partx and findfs work with 259
 * as they do on the host.  Minors are given as the kernel gives them,
 * lowest free first, except those the host's own 259:X devices hold
 * (NVMe namespaces, other hosts' partitions: /proc/partitions), so that
 * /sys/dev/block never has two meanings for one number; a partition
 * keeps its minor for the life of the process.
 */
#ifndef LOOPFSCTL_PARTITION_INFO_H
#define LOOPFSCTL_PARTITION_INFO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>


/* The kernel's major for extended device numbers. */
#define BLOCK_EXT_MAJOR 259

/* Parse "loopNpM" into *DEVICE and *PARTITION. */
bool partition_parse_name (const char *name, int *device, int *partition);

/* The device number the sandbox gives partition M of loopN of the
 * instance mounted at DIR (259:X), given at its first use (with the
 * device's lower-numbered partitions first, as a scan makes them); 0
 * when no minor is left. */
dev_t partition_devno (const char *dir, int device, int partition);

/* The partition that has minor MINOR of major 259 in the sandbox:
 * true with *DEVICE and *PARTITION set, false if none was given it. */
bool partition_of_minor (unsigned minor, int *device, int *partition);

#endif /* LOOPFSCTL_PARTITION_INFO_H */
