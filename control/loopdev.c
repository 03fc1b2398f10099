/* loopfs control: the state and meaning of one loop device.
 *
 * Every decision here mirrors drivers/block/loop.c (Linux 6.18) and the
 * parts of block/ioctl.c and block/bdev.c a loop device exposes.  The
 * functions named *_check compute a new binding without touching the
 * device, so a failing ioctl leaves it exactly as it was, and the daemon
 * commits the result only once its backend agrees.
 */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "loopdev.h"

/* The lowest direct-I/O alignment the kernel assumes for a backing file
 * (lo_min_dio_size).  A file that cannot do O_DIRECT reports 0 here,
 * which the block layer turns into SECTOR_SIZE when it is used as a
 * default block size. */
static uint32_t
min_dio_size (const struct loop_backing *backing)
{
  return backing->dio_align ? backing->dio_align : LOOPDEV_SECTOR_SIZE;
}

/* True when BINDING may do direct I/O (lo_can_use_dio): the file can
 * do O_DIRECT, the block size covers its alignment and the offset is
 * aligned.  The mask test matches the kernel's, which assumes the
 * alignment is a power of two. */
static bool
can_use_dio (const struct loopdev_binding *binding)
{
  uint32_t align = binding->backing.dio_align;

  if (align == 0)
    return false;
  if (binding->block_size < align)
    return false;
  if (binding->offset & (align - 1))
    return false;
  return true;
}

/* Silently drop LO_FLAGS_DIRECT_IO when BINDING can no longer do direct
 * I/O (loop_update_dio), as the kernel does after every change of
 * offset, block size or backing file. */
static void
update_dio (struct loopdev_binding *binding)
{
  if ((binding->flags & LO_FLAGS_DIRECT_IO) && !can_use_dio (binding))
    binding->flags &= ~LO_FLAGS_DIRECT_IO;
}

/* The block size used when the caller asks for 0
 * (loop_default_blocksize): the direct-I/O alignment of the backing file
 * while direct I/O is requested, else one sector. */
static uint32_t
default_block_size (const struct loopdev_binding *binding)
{
  if (binding->flags & LO_FLAGS_DIRECT_IO)
    return min_dio_size (&binding->backing);
  return LOOPDEV_SECTOR_SIZE;
}

/* A logical block size the block layer accepts (blk_validate_block_size):
 * a power of two from 512 to LOOPDEV_MAX_BLOCK_SIZE. */
static bool
valid_block_size (uint32_t bsize)
{
  if (bsize < LOOPDEV_SECTOR_SIZE || bsize > LOOPDEV_MAX_BLOCK_SIZE)
    return false;
  return (bsize & (bsize - 1)) == 0;
}

/* Resolve a requested block size (0 = default) for BINDING into *BSIZE
 * and check it the way queue_limits_commit_update() does after
 * loop_update_limits(): 0 or -EINVAL. */
static int
resolve_block_size (const struct loopdev_binding *binding, uint32_t requested,
                    uint32_t *bsize)
{
  uint32_t size = requested ? requested : default_block_size (binding);

  if (!valid_block_size (size))
    return -EINVAL;
  *bsize = size;
  return 0;
}

/* loop_validate_file(): only regular files and block devices may back a
 * loop device, never the device itself, and (in loopfs) never another
 * loopfs device, so no chain and no cycle of loop devices can form.
 *
 * loopfs also wants a descriptor it may read (EBADF, as read(2) says on
 * an O_WRONLY one) and one without O_APPEND (EPERM, as open(2) says to
 * a writer of an append-only file without it).  The kernel serves both
 * (a device of such a file reads it, and writes it anywhere), but its
 * devices are root's; a loopfs device belongs to whoever bound it, who
 * could otherwise read a file it may only write, or overwrite the start
 * of a log it may only append to (tests/conformance/DIFFERENCES.md). */
static int
validate_backing (const struct loop_backing *backing)
{
  switch (backing->kind) {
  case LOOP_BACKING_FILE:
  case LOOP_BACKING_BLOCK:
    if (backing->write_only)
      return -EBADF;
    return backing->append ? -EPERM : 0;
  case LOOP_BACKING_SELF:
    return -EBADF;
  case LOOP_BACKING_LOOPFS:
  case LOOP_BACKING_OTHER:
  default:
    return -EINVAL;
  }
}

/* The checks of loop_set_status_from_info(): no key longer than
 * LO_KEY_SIZE, no encryption at all (the kernel removed it), and offset
 * and size limit must fit a loff_t. */
static int
validate_status_info (const struct loop_info64 *info)
{
  if ((unsigned int) info->lo_encrypt_key_size > LO_KEY_SIZE)
    return -EINVAL;
  if (info->lo_encrypt_type != LO_CRYPT_NONE)
    return -EINVAL;
  if (info->lo_offset > LLONG_MAX || info->lo_sizelimit > LLONG_MAX)
    return -EOVERFLOW;
  return 0;
}

/* Copy the fields loop_set_status_from_info() takes from INFO, after
 * validate_status_info() accepted it. */
static void
apply_status_info (struct loopdev_binding *binding,
                   const struct loop_info64 *info)
{
  binding->offset = info->lo_offset;
  binding->sizelimit = info->lo_sizelimit;
  memcpy (binding->file_name, info->lo_file_name, LO_NAME_SIZE);
  binding->file_name[LO_NAME_SIZE - 1] = '\0';
}

/* Reset the binding to what an unbound loop device holds. */
static void
reset_binding (struct loopdev_binding *binding)
{
  memset (binding, 0, sizeof *binding);
  binding->block_size = LOOPDEV_SECTOR_SIZE;
}

/* Initialise an unbound device numbered NUMBER. */
void
loopdev_init (struct loopdev *lo, int number)
{
  memset (lo, 0, sizeof *lo);
  lo->number = number;
  lo->state = LOOPDEV_UNBOUND;
  lo->soft_block_size = LOOPDEV_PAGE_SIZE;
  reset_binding (&lo->b);
  loopdev_media_changed (lo);
  loopdev_limits_changed (lo);
}

/* Count a new opener (lo_open).  The first opener fixes the soft block
 * size as set_init_blocksize() does: the largest power of two, from the
 * logical block size up to a page, that divides the device size.  It
 * then stays until everyone has closed the device, even when the block
 * size changes meanwhile: Linux 6.18 reports a BLKBSZGET of 4096 on a
 * device opened unbound and then bound with 65536-byte blocks. */
int
loopdev_open (struct loopdev *lo)
{
  if (lo->state == LOOPDEV_RUNDOWN || lo->state == LOOPDEV_DELETING)
    return -ENXIO;

  if (lo->openers == 0) {
    uint64_t size = loopdev_size (lo);
    uint32_t bsize = loopdev_logical_block_size (lo);

    while (bsize < LOOPDEV_PAGE_SIZE && (size & bsize) == 0)
      bsize <<= 1;
    lo->soft_block_size = bsize;
  }
  lo->openers++;
  return 0;
}

/* Drop one opener (lo_release).  At the last close a bound device with
 * LO_FLAGS_AUTOCLEAR enters RUNDOWN, and a RUNDOWN device must now be
 * cleared by the caller.  A release without an opener changes nothing. */
bool
loopdev_release (struct loopdev *lo)
{
  if (lo->openers == 0)
    return false;
  lo->openers--;
  if (lo->openers > 0)
    return false;

  if (lo->state == LOOPDEV_BOUND && (lo->b.flags & LO_FLAGS_AUTOCLEAR))
    lo->state = LOOPDEV_RUNDOWN;
  return lo->state == LOOPDEV_RUNDOWN;
}

/* Finish the clearing of a RUNDOWN device (__loop_clr_fd): offset, size
 * limit, file name, flags and block size go back to their defaults.
 * disk_ro is left alone because the kernel never resets it there. */
void
loopdev_cleared (struct loopdev *lo)
{
  assert (lo->state == LOOPDEV_RUNDOWN);
  reset_binding (&lo->b);
  lo->state = LOOPDEV_UNBOUND;
  loopdev_media_changed (lo);
  loopdev_limits_changed (lo);
}

/* The permission check lo_ioctl() makes before reading any argument. */
int
loopdev_check_permission (unsigned int cmd, const struct loop_caller *caller)
{
  switch (cmd) {
  case LOOP_SET_STATUS:
  case LOOP_SET_STATUS64:
  case LOOP_SET_CAPACITY:
  case LOOP_SET_DIRECT_IO:
  case LOOP_SET_BLOCK_SIZE:
    if (!caller->opened_for_write && !caller->sys_admin)
      return -EPERM;
    return 0;
  default:
    return 0;
  }
}

/* LOOP_SET_FD / LOOP_CONFIGURE, in the order loop_configure() checks:
 * state, backing file, flags, status fields, block size. */
int
loopdev_configure_check (const struct loopdev *lo,
                         const struct loop_config *config,
                         const struct loop_backing *backing,
                         bool dev_writable,
                         struct loopdev_binding *out)
{
  struct loopdev_binding b;
  int r;

  if (lo->state != LOOPDEV_UNBOUND)
    return -EBUSY;

  r = validate_backing (backing);
  if (r < 0)
    return r;

  if (config->info.lo_flags & ~LOOP_CONFIGURE_SETTABLE_FLAGS)
    return -EINVAL;

  r = validate_status_info (&config->info);
  if (r < 0)
    return r;

  memset (&b, 0, sizeof b);
  b.backing = *backing;
  apply_status_info (&b, &config->info);
  b.flags = config->info.lo_flags;
  if (!backing->writable || !dev_writable)
    b.flags |= LO_FLAGS_READ_ONLY;
  if (backing->o_direct)
    b.flags |= LO_FLAGS_DIRECT_IO;

  r = resolve_block_size (&b, config->block_size, &b.block_size);
  if (r < 0)
    return r;

  update_dio (&b);
  b.size = loopdev_compute_size (backing->size, b.offset, b.sizelimit);

  *out = b;
  return 0;
}

/* Mark the device as waiting for its backend. */
void
loopdev_configure_begin (struct loopdev *lo)
{
  assert (lo->state == LOOPDEV_UNBOUND);
  lo->state = LOOPDEV_BINDING;
}

/* Bind the device to BINDING once its backend runs.  BLKROGET now
 * follows the read-only flag, as set_disk_ro() in loop_configure(). */
void
loopdev_configure_commit (struct loopdev *lo,
                          const struct loopdev_binding *binding)
{
  assert (lo->state == LOOPDEV_BINDING);
  lo->b = *binding;
  lo->disk_ro = (binding->flags & LO_FLAGS_READ_ONLY) != 0;
  lo->state = LOOPDEV_BOUND;
  loopdev_media_changed (lo);
  loopdev_limits_changed (lo);
}

/* The backend could not start: the device stays unbound. */
void
loopdev_configure_abort (struct loopdev *lo)
{
  assert (lo->state == LOOPDEV_BINDING);
  lo->state = LOOPDEV_UNBOUND;
}

/* LOOP_CLR_FD (loop_clr_fd): mark the device for clearing at the last
 * close, and start the rundown now if the caller is the only opener. */
int
loopdev_clr_fd (struct loopdev *lo)
{
  if (lo->state != LOOPDEV_BOUND)
    return -ENXIO;

  lo->b.flags |= LO_FLAGS_AUTOCLEAR;
  if (lo->openers == 1)
    lo->state = LOOPDEV_RUNDOWN;
  return 0;
}

/* LOOP_SET_STATUS64 (loop_set_status): new offset, size limit and file
 * name; AUTOCLEAR may be set or cleared, PARTSCAN only set, every other
 * flag bit in INFO is ignored. */
int
loopdev_set_status_check (const struct loopdev *lo,
                          const struct loop_info64 *info,
                          struct loopdev_binding *out, bool *resized)
{
  struct loopdev_binding b;
  bool size_changed;
  int r;

  if (lo->state != LOOPDEV_BOUND)
    return -ENXIO;

  r = validate_status_info (info);
  if (r < 0)
    return r;

  b = lo->b;
  size_changed = b.offset != info->lo_offset ||
    b.sizelimit != info->lo_sizelimit;
  apply_status_info (&b, info);

  b.flags &= ~LOOP_SET_STATUS_CLEARABLE_FLAGS;
  b.flags |= info->lo_flags & LOOP_SET_STATUS_SETTABLE_FLAGS;

  if (size_changed)
    b.size = loopdev_compute_size (b.backing.size, b.offset, b.sizelimit);

  update_dio (&b);

  *out = b;
  *resized = size_changed;
  return 0;
}

/* Install a binding computed by one of the *_check functions. */
void
loopdev_set_binding (struct loopdev *lo,
                     const struct loopdev_binding *binding)
{
  bool new_limits = binding->block_size != lo->b.block_size;

  assert (lo->state == LOOPDEV_BOUND || lo->state == LOOPDEV_RUNDOWN);
  lo->b = *binding;
  if (new_limits)
    loopdev_limits_changed (lo);
}

/* loop_change_fd() forces a media change but keeps the queue limits. */
void
loopdev_change_fd_commit (struct loopdev *lo,
                          const struct loopdev_binding *binding)
{
  loopdev_set_binding (lo, binding);
  loopdev_media_changed (lo);
}

/* loop_info64_from_old(): lo_offset is an int in the old struct and is
 * sign-extended, so a negative one later fails with EOVERFLOW; the
 * encryption fields and the size limit are dropped. */
void
loopdev_info64_from_old (const struct loop_info *info,
                         struct loop_info64 *info64)
{
  memset (info64, 0, sizeof *info64);
  info64->lo_number = info->lo_number;
  info64->lo_device = info->lo_device;
  info64->lo_inode = info->lo_inode;
  info64->lo_rdevice = info->lo_rdevice;
  info64->lo_offset = (int64_t) info->lo_offset;
  info64->lo_sizelimit = 0;
  info64->lo_flags = info->lo_flags;
  memcpy (info64->lo_file_name, info->lo_name, LO_NAME_SIZE);
}

/* LOOP_GET_STATUS64 (loop_get_status). */
int
loopdev_get_status64 (const struct loopdev *lo, struct loop_info64 *info)
{
  if (lo->state != LOOPDEV_BOUND)
    return -ENXIO;

  memset (info, 0, sizeof *info);
  info->lo_number = lo->number;
  info->lo_offset = lo->b.offset;
  info->lo_sizelimit = lo->b.sizelimit;
  info->lo_flags = lo->b.flags;
  memcpy (info->lo_file_name, lo->b.file_name, LO_NAME_SIZE);
  info->lo_device = lo->b.backing.dev;
  info->lo_inode = lo->b.backing.ino;
  info->lo_rdevice = lo->b.backing.rdev;
  return 0;
}

/* LOOP_GET_STATUS: loop_get_status() then loop_info64_to_old(), which
 * fails when a value does not survive the narrowing.  On LP64 only the
 * int lo_offset can be too small; lo_device and lo_inode are longs. */
int
loopdev_get_status (const struct loopdev *lo, struct loop_info *info)
{
  struct loop_info64 info64;
  int r;

  r = loopdev_get_status64 (lo, &info64);
  if (r < 0)
    return r;

  memset (info, 0, sizeof *info);
  info->lo_number = info64.lo_number;
  info->lo_device = (__kernel_old_dev_t) info64.lo_device;
  info->lo_inode = (unsigned long) info64.lo_inode;
  info->lo_rdevice = (__kernel_old_dev_t) info64.lo_rdevice;
  info->lo_offset = (int) info64.lo_offset;
  info->lo_flags = info64.lo_flags;
  memcpy (info->lo_name, info64.lo_file_name, LO_NAME_SIZE);

  if (info->lo_device != info64.lo_device ||
      info->lo_rdevice != info64.lo_rdevice ||
      info->lo_inode != info64.lo_inode ||
      (uint64_t) (int64_t) info->lo_offset != info64.lo_offset)
    return -EOVERFLOW;
  return 0;
}

/* LOOP_CHANGE_FD (loop_change_fd): only a read-only device may swap its
 * backing file, and only for one giving the same size.  The direct-I/O
 * flag follows O_DIRECT of the new file and what it can do. */
int
loopdev_change_fd_check (const struct loopdev *lo,
                         const struct loop_backing *backing,
                         struct loopdev_binding *out)
{
  struct loopdev_binding b;
  uint64_t old_size, new_size;
  int r;

  if (lo->state != LOOPDEV_BOUND)
    return -ENXIO;
  if (!(lo->b.flags & LO_FLAGS_READ_ONLY))
    return -EINVAL;

  r = validate_backing (backing);
  if (r < 0)
    return r;

  /* The kernel compares what the old and the new file give now, not
   * the capacity; the two agree here because LOOP_SET_CAPACITY records
   * the backing size it used. */
  old_size = loopdev_compute_size (lo->b.backing.size,
                                   lo->b.offset, lo->b.sizelimit);
  new_size = loopdev_compute_size (backing->size,
                                   lo->b.offset, lo->b.sizelimit);
  if (new_size != old_size)
    return -EINVAL;

  b = lo->b;
  b.backing = *backing;
  if (backing->o_direct)
    b.flags |= LO_FLAGS_DIRECT_IO;
  update_dio (&b);

  *out = b;
  return 0;
}

/* LOOP_SET_CAPACITY (loop_set_capacity): take the backing file's size
 * again. */
int
loopdev_set_capacity_check (const struct loopdev *lo,
                            uint64_t new_backing_size,
                            struct loopdev_binding *out)
{
  struct loopdev_binding b;

  if (lo->state != LOOPDEV_BOUND)
    return -ENXIO;

  b = lo->b;
  b.backing.size = new_backing_size;
  b.size = loopdev_compute_size (new_backing_size, b.offset, b.sizelimit);
  *out = b;
  return 0;
}

/* LOOP_SET_DIRECT_IO (loop_set_dio): any non-zero ARG asks for direct
 * I/O; asking for the current mode is a successful no-op. */
int
loopdev_set_direct_io_check (const struct loopdev *lo, unsigned long arg,
                             struct loopdev_binding *out)
{
  struct loopdev_binding b;
  bool use_dio = arg != 0;

  if (lo->state != LOOPDEV_BOUND)
    return -ENXIO;

  b = lo->b;
  if (use_dio != ((b.flags & LO_FLAGS_DIRECT_IO) != 0)) {
    if (use_dio && !can_use_dio (&b))
      return -EINVAL;
    if (use_dio)
      b.flags |= LO_FLAGS_DIRECT_IO;
    else
      b.flags &= ~LO_FLAGS_DIRECT_IO;
  }
  *out = b;
  return 0;
}

/* LOOP_SET_BLOCK_SIZE (loop_set_block_size).  ARG is compared with the
 * current block size as an unsigned long but then truncated to 32 bits,
 * exactly as the kernel passes it to loop_update_limits(). */
int
loopdev_set_block_size_check (const struct loopdev *lo, unsigned long arg,
                              struct loopdev_binding *out)
{
  struct loopdev_binding b;
  int r;

  if (lo->state != LOOPDEV_BOUND)
    return -ENXIO;

  b = lo->b;
  if (arg != b.block_size) {
    r = resolve_block_size (&b, (uint32_t) arg, &b.block_size);
    if (r < 0)
      return r;
    update_dio (&b);
    /* loop_update_limits() sets write-zeroes up again. */
    b.write_zeroes_off = false;
  }
  *out = b;
  return 0;
}

/* get_size() with the result in bytes rounded down to whole sectors.
 * The kernel works on signed loff_t values, so the arithmetic is done
 * the same way: an offset past the end gives 0, and only a positive
 * size limit smaller than what is left applies. */
uint64_t
loopdev_compute_size (uint64_t backing_size, uint64_t offset,
                      uint64_t sizelimit)
{
  int64_t size = backing_size > INT64_MAX ? INT64_MAX : (int64_t) backing_size;
  int64_t off = (int64_t) offset;
  int64_t limit = (int64_t) sizelimit;

  if (off > 0)
    size -= off;
  if (size < 0)
    return 0;
  if (limit > 0 && limit < size)
    size = limit;
  return (uint64_t) size & ~(uint64_t) (LOOPDEV_SECTOR_SIZE - 1);
}

/* BLKGETSIZE64: the capacity exists only while a backing file does. */
uint64_t
loopdev_size (const struct loopdev *lo)
{
  if (lo->state == LOOPDEV_BOUND || lo->state == LOOPDEV_RUNDOWN)
    return lo->b.size;
  return 0;
}

/* BLKSSZGET: the configured block size while bound, one sector
 * otherwise (__loop_clr_fd resets it). */
uint32_t
loopdev_logical_block_size (const struct loopdev *lo)
{
  if (lo->state == LOOPDEV_BOUND || lo->state == LOOPDEV_RUNDOWN)
    return lo->b.block_size;
  return LOOPDEV_SECTOR_SIZE;
}

/* BLKPBSZGET: loop_update_limits() sets it equal to the logical size. */
uint32_t
loopdev_physical_block_size (const struct loopdev *lo)
{
  return loopdev_logical_block_size (lo);
}

/* Writes through the block device fail while the disk is read-only
 * (bdev_read_only); loop sets that from LO_FLAGS_READ_ONLY at bind
 * time and keeps it after LOOP_CLR_FD. */
bool
loopdev_read_only (const struct loopdev *lo)
{
  return lo->disk_ro || lo->bdev_ro;
}

/* A short lower-case name for STATE. */
const char *
loopdev_state_name (enum loopdev_state state)
{
  switch (state) {
  case LOOPDEV_UNBOUND: return "unbound";
  case LOOPDEV_BINDING: return "binding";
  case LOOPDEV_BOUND: return "bound";
  case LOOPDEV_RUNDOWN: return "rundown";
  case LOOPDEV_DELETING: return "deleting";
  }
  return "unknown";
}
