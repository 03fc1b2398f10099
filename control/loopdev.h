/* loopfs control: the state and meaning of one loop device.
 *
 * This is the userspace twin of struct loop_device in the kernel's
 * drivers/block/loop.c.  It holds what the kernel holds (state, flags,
 * offset, size limit, file name, block size, size) and decides, for
 * every loop ioctl, the errno the kernel driver returns for the same
 * call in the same state.  It never touches a descriptor, a FUSE
 * request or an NBD connection: the daemon describes the caller and the
 * backing file in plain structs, asks this module what an operation
 * means, does the I/O, and then commits the result here.
 *
 * Every function returns 0 (or a non-negative value) on success and a
 * negative errno on failure, and leaves the device unchanged when it
 * fails.
 */
#ifndef LOOPFS_CONTROL_LOOPDEV_H
#define LOOPFS_CONTROL_LOOPDEV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/loop.h>

/* Largest logical block size the block layer accepts
 * (blk_validate_block_size: a power of two in [512, BLK_MAX_BLOCK_SIZE]). */
#define LOOPDEV_MAX_BLOCK_SIZE 65536u
#define LOOPDEV_SECTOR_SIZE 512u
#define LOOPDEV_PAGE_SIZE 4096u

enum loopdev_state {
  LOOPDEV_UNBOUND,     /* Lo_unbound: no backing file */
  LOOPDEV_BINDING,     /* a configure is waiting for its backend (no kernel twin:
                          the kernel holds lo_mutex for this time) */
  LOOPDEV_BOUND,       /* Lo_bound */
  LOOPDEV_RUNDOWN,     /* Lo_rundown: cleared, waiting for the backend to go */
  LOOPDEV_DELETING,    /* Lo_deleting: removed, waiting for the last reference */
};

/* What kind of file a caller offered as backing store. */
enum loop_backing_kind {
  LOOP_BACKING_FILE,     /* regular file */
  LOOP_BACKING_BLOCK,    /* block device */
  LOOP_BACKING_OTHER,    /* anything else: the kernel refuses it (EINVAL) */
  LOOP_BACKING_SELF,     /* this very loop device (kernel: EBADF) */
  LOOP_BACKING_LOOPFS,   /* another loopfs device node, of any instance:
                            refused (EINVAL) so no cycle can ever form */
};

/* Facts about a backing file, gathered by the daemon from the caller's
 * descriptor (fstat, fcntl, statx).  */
struct loop_backing {
  enum loop_backing_kind kind;
  dev_t dev;               /* st_dev: reported as lo_device */
  ino_t ino;               /* st_ino: reported as lo_inode */
  dev_t rdev;              /* st_rdev: reported as lo_rdevice */
  uint64_t size;           /* bytes: st_size, or BLKGETSIZE64 for a block device */
  bool writable;           /* the descriptor was opened for writing */
  bool write_only;         /* ... and not for reading (O_WRONLY) */
  bool append;             /* the descriptor has O_APPEND */
  bool o_direct;           /* the descriptor has O_DIRECT */
  uint32_t dio_align;      /* minimum direct-I/O alignment, 0 if the file
                              cannot do O_DIRECT (no FMODE_CAN_ODIRECT) */
  bool can_discard;        /* the file supports hole punching */
  bool nonrot;             /* the file's filesystem has no disk or a
                              non-rotational one (BLKROTATIONAL 0) */
};

/* What the caller of an ioctl is allowed to do. */
struct loop_caller {
  bool opened_for_write;   /* its descriptor on loopN has FMODE_WRITE */
  bool sys_admin;          /* it has CAP_SYS_ADMIN over the instance */
};

/* Everything a bound device is configured with.  The daemon starts a
 * backend from this, and commits it once the backend is ready. */
struct loopdev_binding {
  struct loop_backing backing;
  uint64_t offset;                  /* lo_offset */
  uint64_t sizelimit;               /* lo_sizelimit, 0 = to end of file */
  uint32_t flags;                   /* LO_FLAGS_* */
  uint32_t block_size;              /* logical = physical block size */
  uint64_t size;                    /* device size in bytes, a multiple of 512 */
  char file_name[LO_NAME_SIZE];     /* lo_file_name, NUL-terminated */
  bool write_zeroes_off;            /* the backing file refused a zero
                                       range (loop_clear_limits): until a
                                       new bind or block size, a punch
                                       through fallocate fails */
};

struct loopdev {
  int number;                       /* N of loopN */
  enum loopdev_state state;
  unsigned openers;                 /* open file handles on loopN */
  bool disk_ro;                     /* the disk's read-only flag: set by
                                       configure, sticky across LOOP_CLR_FD
                                       as in the kernel */
  bool bdev_ro;                     /* BLKROSET's flag on the block device:
                                       outlives binds, as BD_READ_ONLY */
  uint64_t diskseq;                 /* BLKGETDISKSEQ: new on every bind
                                       and clear (block-attrs.h) */
  unsigned long read_ahead_pages;   /* BLKRAGET / BLKRASET, in pages */
  uint32_t soft_block_size;         /* BLKBSZGET, fixed at first open
                                       (kept even if the logical block
                                       size later grows past it) */
  struct loopdev_binding b;         /* valid while BOUND or RUNDOWN */
  void *priv;                       /* the daemon's per-device state */
};

/* Initialise an unbound device numbered N. */
void loopdev_init (struct loopdev *lo, int number);

/* An open(2) of loopN: -ENXIO while rundown or deleting (lo_open).
 * On success the opener is counted; the first opener fixes the soft
 * block size as set_init_blocksize() does. */
int loopdev_open (struct loopdev *lo);

/* The last reference of one open file handle went away.  Returns true
 * when this was the last opener of a device that must now be cleared
 * (AUTOCLEAR, or LOOP_CLR_FD earlier): the state is then RUNDOWN and
 * the daemon stops the backend and calls loopdev_cleared. */
bool loopdev_release (struct loopdev *lo);

/* The backend of a RUNDOWN device is gone: back to UNBOUND, with the
 * fields __loop_clr_fd() resets. */
void loopdev_cleared (struct loopdev *lo);

/* -EPERM when CMD needs a writable open or CAP_SYS_ADMIN and the caller
 * has neither (LOOP_SET_STATUS, LOOP_SET_STATUS64, LOOP_SET_CAPACITY,
 * LOOP_SET_DIRECT_IO, LOOP_SET_BLOCK_SIZE); 0 otherwise.  Checked before
 * any argument is read, as lo_ioctl() does. */
int loopdev_check_permission (unsigned int cmd, const struct loop_caller *caller);

/* LOOP_SET_FD and LOOP_CONFIGURE: validate CONFIG against the state and
 * the backing file, and compute the binding into *OUT.  CONFIG->fd is
 * ignored (the daemon resolved it into BACKING).  LOOP_SET_FD passes a
 * zeroed config.  DEV_WRITABLE says whether the loopN descriptor the
 * ioctl came through was opened for writing (if not, the device is
 * read-only).  Errors in kernel order: EBUSY (not unbound), EBADF/EINVAL
 * (backing kind), EINVAL (flags), EINVAL/EOVERFLOW (status fields),
 * EINVAL (block size). */
int loopdev_configure_check (const struct loopdev *lo,
                             const struct loop_config *config,
                             const struct loop_backing *backing,
                             bool dev_writable,
                             struct loopdev_binding *out);

/* Mark the device as waiting for its backend (UNBOUND -> BINDING). */
void loopdev_configure_begin (struct loopdev *lo);

/* The backend is ready: BINDING -> BOUND with BINDING's parameters. */
void loopdev_configure_commit (struct loopdev *lo,
                               const struct loopdev_binding *binding);

/* The backend failed to start: BINDING -> UNBOUND. */
void loopdev_configure_abort (struct loopdev *lo);

/* LOOP_CLR_FD: -ENXIO unless bound; sets AUTOCLEAR, and RUNDOWN when the
 * caller is the only opener (loop_clr_fd).  The clearing itself happens
 * at the last release. */
int loopdev_clr_fd (struct loopdev *lo);

/* LOOP_SET_STATUS64 (and LOOP_SET_STATUS after conversion): validate
 * INFO and compute the new binding into *OUT without changing LO.
 * Errors: ENXIO (not bound), EINVAL (key size, encryption type),
 * EOVERFLOW (offset or size limit above LLONG_MAX).  *RESIZED is set
 * when offset or size limit changed, so the daemon must re-create the
 * backend before committing with loopdev_set_binding.  The new size is
 * computed from lo->b.backing.size, which the daemon may refresh first
 * (the kernel uses the file's size at that moment). */
int loopdev_set_status_check (const struct loopdev *lo,
                              const struct loop_info64 *info,
                              struct loopdev_binding *out, bool *resized);

/* Replace the binding of a bound device (after SET_STATUS, CHANGE_FD,
 * SET_CAPACITY, SET_DIRECT_IO or SET_BLOCK_SIZE).  A new block size is
 * new queue limits. */
void loopdev_set_binding (struct loopdev *lo,
                          const struct loopdev_binding *binding);

/* Convert the old struct loop_info to loop_info64 as
 * loop_info64_from_old() does. */
void loopdev_info64_from_old (const struct loop_info *info,
                              struct loop_info64 *info64);

/* LOOP_GET_STATUS64: -ENXIO unless bound; fills *INFO as
 * loop_get_status() does (lo_device/lo_inode/lo_rdevice from the
 * backing file). */
int loopdev_get_status64 (const struct loopdev *lo, struct loop_info64 *info);

/* LOOP_GET_STATUS: as above, then narrowed to struct loop_info, with
 * -EOVERFLOW when a field does not fit (loop_info64_to_old). */
int loopdev_get_status (const struct loopdev *lo, struct loop_info *info);

/* LOOP_CHANGE_FD's backend is ready: install BINDING, a media change. */
void loopdev_change_fd_commit (struct loopdev *lo,
                               const struct loopdev_binding *binding);

/* LOOP_CHANGE_FD: -ENXIO unless bound, -EINVAL unless read-only,
 * backing kind checks, -EINVAL when the new file gives another size.
 * On success *OUT is the binding with the new backing file. */
int loopdev_change_fd_check (const struct loopdev *lo,
                             const struct loop_backing *backing,
                             struct loopdev_binding *out);

/* LOOP_SET_CAPACITY: -ENXIO unless bound; *OUT gets the size recomputed
 * from NEW_BACKING_SIZE (the backing file's size now). */
int loopdev_set_capacity_check (const struct loopdev *lo,
                                uint64_t new_backing_size,
                                struct loopdev_binding *out);

/* LOOP_SET_DIRECT_IO: -ENXIO unless bound, -EINVAL when direct I/O is
 * asked for and the backing file cannot do it (lo_can_use_dio). */
int loopdev_set_direct_io_check (const struct loopdev *lo, unsigned long arg,
                                 struct loopdev_binding *out);

/* LOOP_SET_BLOCK_SIZE: -ENXIO unless bound, -EINVAL for a block size the
 * block layer refuses; 0 means the default block size. */
int loopdev_set_block_size_check (const struct loopdev *lo, unsigned long arg,
                                  struct loopdev_binding *out);

/* Device size in bytes for a backing file of BACKING_SIZE bytes:
 * get_size() in the kernel, rounded down to whole 512-byte sectors. */
uint64_t loopdev_compute_size (uint64_t backing_size, uint64_t offset,
                               uint64_t sizelimit);

/* Size in bytes as BLKGETSIZE64 sees it: 0 unless bound or rundown. */
uint64_t loopdev_size (const struct loopdev *lo);

/* Logical block size (BLKSSZGET) and physical block size (BLKPBSZGET):
 * 512 when unbound. */
uint32_t loopdev_logical_block_size (const struct loopdev *lo);
uint32_t loopdev_physical_block_size (const struct loopdev *lo);

/* True when writes must fail because the device is read-only: the
 * disk's flag or BLKROSET's (bdev_read_only), as BLKROGET reports. */
bool loopdev_read_only (const struct loopdev *lo);

/* What the block layer does to a disk, implemented in block-attrs.c
 * with the other generic block attributes.  A media change gives a new
 * disk sequence number (disk_force_media_change(): on bind, on clear and
 * on LOOP_CHANGE_FD); new queue limits reset the read-ahead to its
 * default (on bind, on clear, and when the logical block size changes).
 * A new disk (loop_add) has both. */
void loopdev_media_changed (struct loopdev *lo);
void loopdev_limits_changed (struct loopdev *lo);

/* A human-readable name for STATE, for logs and loopfsctl. */
const char *loopdev_state_name (enum loopdev_state state);

#endif /* LOOPFS_CONTROL_LOOPDEV_H */
