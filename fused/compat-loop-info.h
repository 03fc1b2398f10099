/* loopfsd: struct loop_info as a 32-bit (i386) caller lays it out.
 *
 * struct compat_loop_info in drivers/block/loop.c: compat_dev_t is 16
 * bits and compat_ulong_t 32.  A 32-bit caller's LOOP_SET_STATUS and
 * LOOP_GET_STATUS carry it (ioctl-compat.c), and the copy of it waits
 * in an ioctl call (ioctl-call.h), hence a header of its own.
 */
#ifndef LOOPFSD_COMPAT_LOOP_INFO_H
#define LOOPFSD_COMPAT_LOOP_INFO_H

#include <stdint.h>
#include <linux/loop.h>

struct compat_loop_info {
  int32_t lo_number;
  uint16_t lo_device;
  uint32_t lo_inode;
  uint16_t lo_rdevice;
  int32_t lo_offset;
  int32_t lo_encrypt_type;
  int32_t lo_encrypt_key_size;
  int32_t lo_flags;
  char lo_name[LO_NAME_SIZE];
  unsigned char lo_encrypt_key[LO_KEY_SIZE];
  uint32_t lo_init[2];
  char reserved[4];
} __attribute__ ((aligned (4)));

_Static_assert (sizeof (struct compat_loop_info) == 140,
                "struct compat_loop_info is 140 bytes on i386");

#endif /* LOOPFSD_COMPAT_LOOP_INFO_H */
