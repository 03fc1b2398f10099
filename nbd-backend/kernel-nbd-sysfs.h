/* loopfs nbd-backend: what sysfs says about nbd devices (internal to
 * kernel-nbd.c; the public side is in kernel-nbd.h).
 */
#ifndef LOOPFS_NBD_BACKEND_KERNEL_NBD_SYSFS_H
#define LOOPFS_NBD_BACKEND_KERNEL_NBD_SYSFS_H

#include <stddef.h>
#include <stdint.h>

/* Read the backend identifier of nbd device INDEX into BUF (without the
 * newline).  -ENODEV if there is no such device, -ENOTCONN if it is not
 * configured through netlink (no backend attribute), -ENAMETOOLONG if
 * the identifier does not fit. */
int kernel_nbd_sysfs_identifier (uint32_t index, char *buf, size_t size);

/* Read the size of nbd device INDEX in 512-byte sectors. */
int kernel_nbd_sysfs_sectors (uint32_t index, uint64_t *sectors);

#endif /* LOOPFS_NBD_BACKEND_KERNEL_NBD_SYSFS_H */
