/* loopfs control: the generic block ioctls of a loop device.
 * See block-attrs.h. */

#include <errno.h>
#include <linux/blkzoned.h>
#include <linux/fs.h>
#include <linux/hdreg.h>

#include "block-attrs.h"

/* The last disk sequence number handed out.  The kernel's counter is
 * global (diskseq in block/genhd.c): numbers never repeat in this
 * process, whichever instance or device takes them. */
static uint64_t last_diskseq;

/* New queue limits give bdi->ra_pages twice the largest request
 * (blk_apply_bdi_limits): 5120 sectors for a loop disk. */
#define DEFAULT_READ_AHEAD_PAGES \
  (2 * LOOPDEV_MAX_SECTORS * LOOPDEV_SECTOR_SIZE / LOOPDEV_PAGE_SIZE)

/* disk_force_media_change() takes the next global number (inc_diskseq). */
void
loopdev_media_changed (struct loopdev *lo)
{
  lo->diskseq = __atomic_add_fetch (&last_diskseq, 1, __ATOMIC_RELAXED);
}

/* queue_limits_commit_update() recomputes bdi->ra_pages, forgetting
 * what BLKRASET set. */
void
loopdev_limits_changed (struct loopdev *lo)
{
  lo->read_ahead_pages = DEFAULT_READ_AHEAD_PAGES;
}

/* The commands this module answers. */
bool
loopdev_is_block_attr (unsigned int cmd)
{
  switch (cmd) {
  case BLKRAGET: case BLKFRAGET: case BLKRASET: case BLKFRASET:
  case BLKSECTGET: case BLKIOMIN: case BLKIOOPT: case BLKALIGNOFF:
  case BLKDISCARDZEROES: case BLKROTATIONAL: case BLKGETZONESZ:
  case BLKGETNRZONES: case BLKGETDISKSEQ: case BLKROGET: case BLKROSET:
  case BLKREPORTZONE: case BLKRESETZONE: case BLKOPENZONE:
  case BLKCLOSEZONE: case BLKFINISHZONE: case BLKSECDISCARD:
  case HDIO_GETGEO: case BLKBSZSET:
    return true;
  default:
    return false;
  }
}

/* blkdev_common_ioctl() checks capable(CAP_SYS_ADMIN) first; loopfs asks
 * it over the instance's user namespace. */
int
loopdev_block_attr_permission (unsigned int cmd,
                               const struct loop_caller *caller)
{
  switch (cmd) {
  case BLKRASET:
  case BLKFRASET:
  case BLKROSET:
  case BLKBSZSET:
    return caller->sys_admin ? 0 : -EACCES;
  default:
    return 0;
  }
}

/* Values as put_long/put_uint/put_int/put_ushort/put_u64 write them. */
int
loopdev_block_attr_get (const struct loopdev *lo, unsigned int cmd,
                        bool arg_null, uint64_t *value)
{
  switch (cmd) {
  case BLKRAGET:
  case BLKFRAGET:
    if (arg_null)
      return -EINVAL;
    *value = (uint64_t) lo->read_ahead_pages * LOOPDEV_PAGE_SIZE
      / LOOPDEV_SECTOR_SIZE;
    return sizeof (long);
  case BLKSECTGET:
    *value = LOOPDEV_MAX_SECTORS;
    return sizeof (unsigned short);
  case BLKIOMIN:
    /* loop_update_limits(): io_min is the logical block size. */
    *value = loopdev_logical_block_size (lo);
    return sizeof (unsigned int);
  case BLKIOOPT:
  case BLKALIGNOFF:
  case BLKDISCARDZEROES:
  case BLKGETZONESZ:
  case BLKGETNRZONES:
    *value = 0;
    return sizeof (unsigned int);
  case BLKROTATIONAL:
    /* loop_update_rotational(): non-rotational when the backing file's
     * filesystem has no disk or a non-rotational one; a new loop disk
     * is rotational. */
    *value = lo->state == LOOPDEV_BOUND || lo->state == LOOPDEV_RUNDOWN
      ? !lo->b.backing.nonrot : 1;
    return sizeof (unsigned short);
  case BLKGETDISKSEQ:
    *value = lo->diskseq;
    return sizeof (uint64_t);
  case BLKROGET:
    *value = loopdev_read_only (lo);
    return sizeof (int);
  default:
    return -EINVAL;
  }
}

/* Checks in blkdev_zone_mgmt_ioctl(), blkdev_report_zones_ioctl(),
 * blk_ioctl_secure_erase() and blkdev_getgeo(), in their order. */
int
loopdev_block_attr_refuse (unsigned int cmd, bool opened_for_write,
                           bool arg_null)
{
  switch (cmd) {
  case BLKREPORTZONE:
  case BLKRESETZONE:
  case BLKOPENZONE:
  case BLKCLOSEZONE:
  case BLKFINISHZONE:
    /* Not zoned: answered before the argument is looked at.  FUSE
     * copies the struct in before we see the call, so a bad pointer
     * fails there (DIFFERENCES.md D5). */
    return -ENOTTY;
  case BLKSECDISCARD:
    return opened_for_write ? -EOPNOTSUPP : -EBADF;
  case HDIO_GETGEO:
    return arg_null ? -EINVAL : -ENOTTY;
  default:
    return 0;
  }
}

/* bdi->ra_pages = (arg * 512) / PAGE_SIZE. */
void
loopdev_set_read_ahead (struct loopdev *lo, unsigned long sectors)
{
  lo->read_ahead_pages = sectors * LOOPDEV_SECTOR_SIZE / LOOPDEV_PAGE_SIZE;
}

/* BD_READ_ONLY on the whole-disk block device. */
void
loopdev_set_bdev_read_only (struct loopdev *lo, int value)
{
  lo->bdev_ro = value != 0;
}

/* set_blocksize(): blk_validate_block_size(), then not below the
 * logical block size. */
int
loopdev_set_soft_block_size (struct loopdev *lo, int size)
{
  uint32_t logical = loopdev_logical_block_size (lo);

  if (size < (int) LOOPDEV_SECTOR_SIZE || size > (int) LOOPDEV_MAX_BLOCK_SIZE
      || (size & (size - 1)) != 0 || (uint32_t) size < logical)
    return -EINVAL;
  lo->soft_block_size = size;
  return 0;
}
