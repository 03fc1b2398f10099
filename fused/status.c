/* loopfsd: the text of user.loopfs.status and user.loopfs.instance
 * (see status.h). */

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <sys/sysmacros.h>

#include "loopfs-interface.h"
#include "status-escape.h"
#include "status.h"

/* Whether LO has a backing file: the fields from backing_file on are
 * written only then. */
static bool
is_bound (const struct loopdev *lo)
{
  return lo->state == LOOPDEV_BOUND || lo->state == LOOPDEV_RUNDOWN;
}

/* Write the status of LO, with BACKING_FILE, into BUF.  It is read
 * without opening the device, because an open and close would run
 * AUTOCLEAR as it does on the kernel's devices; loopfsctl's list and
 * its sandbox's sysfs view read it. */
int
status_value (const struct loopdev *lo, const char *backing_file,
              char *buf, size_t size)
{
  bool bound = is_bound (lo);
  char path[STATUS_ESCAPED_SIZE (PATH_MAX)];
  char name[STATUS_ESCAPED_SIZE (LO_NAME_SIZE)];
  int len;

  /* The caller chose the name's bytes and perhaps the path's: escaped,
   * neither can end its line or add one (status-escape.h). */
  if (bound && (status_escape (backing_file, path, sizeof path) < 0
                || status_escape ((const char *) lo->b.file_name, name,
                                  sizeof name) < 0))
    return -ERANGE;
  len = snprintf (buf, size,
                  STATUS_KEY_STATE "=%s\n"
                  STATUS_KEY_SIZE "=%" PRIu64 "\n"
                  STATUS_KEY_RO "=%d\n"
                  STATUS_KEY_LOGICAL_BLOCK_SIZE "=%" PRIu32 "\n"
                  STATUS_KEY_PHYSICAL_BLOCK_SIZE "=%" PRIu32 "\n",
                  loopdev_state_name (lo->state),
                  bound ? loopdev_size (lo) : 0,
                  loopdev_read_only (lo),
                  loopdev_logical_block_size (lo),
                  loopdev_physical_block_size (lo));
  if (bound && len >= 0 && (size_t) len < size)
    len += snprintf (buf + len, size - len,
                     STATUS_KEY_BACKING_FILE "=%s\n"
                     STATUS_KEY_FILE_NAME "=%s\n"
                     STATUS_KEY_OFFSET "=%" PRIu64 "\n"
                     STATUS_KEY_SIZELIMIT "=%" PRIu64 "\n"
                     STATUS_KEY_AUTOCLEAR "=%d\n"
                     STATUS_KEY_PARTSCAN "=%d\n"
                     STATUS_KEY_DIO "=%d\n"
                     STATUS_KEY_READ_ONLY "=%d\n"
                     STATUS_KEY_BACKING_DEV "=%u:%u\n"
                     STATUS_KEY_BACKING_INODE "=%" PRIu64 "\n",
                     path, name, lo->b.offset,
                     lo->b.sizelimit,
                     !!(lo->b.flags & LO_FLAGS_AUTOCLEAR),
                     !!(lo->b.flags & LO_FLAGS_PARTSCAN),
                     !!(lo->b.flags & LO_FLAGS_DIRECT_IO),
                     !!(lo->b.flags & LO_FLAGS_READ_ONLY),
                     major (lo->b.backing.dev), minor (lo->b.backing.dev),
                     (uint64_t) lo->b.backing.ino);
  if (len < 0 || (size_t) len >= size)
    return -ERANGE;
  return len;
}

/* Count INST's devices into SUMMARY. */
void
instance_summary_count (const struct instance *inst,
                        struct instance_summary *summary)
{
  size_t i;

  summary->max = inst->max_devices;
  summary->devices = instance_count (inst);
  summary->bound = 0;
  for (i = 0; i < inst->devs.len; i++)
    summary->bound += is_bound (inst->devs.ptr[i]);
}

/* Write the status of partition P of LO into BUF: what sysfs shows of
 * a kernel loop partition (its partition, start and ro files) and its
 * size in bytes. */
int
partition_status_value (const struct partition *p, const struct loopdev *lo,
                        char *buf, size_t size)
{
  int len = snprintf (buf, size,
                      PARTITION_KEY_PARENT "=loop%d\n"
                      PARTITION_KEY_PARTITION "=%d\n"
                      PARTITION_KEY_START "=%" PRIu64 "\n"
                      PARTITION_KEY_SIZE "=%" PRIu64 "\n"
                      PARTITION_KEY_RO "=%d\n",
                      lo->number, p->number, p->start, partition_size (p),
                      partition_read_only (p, lo) ? 1 : 0);

  if (len < 0 || (size_t) len >= size)
    return -ERANGE;
  return len;
}

/* Write SUMMARY into BUF: what loop-control's user.loopfs.instance
 * tells of the daemon, the instance's limit and use, and whether bound
 * devices also get a kernel NBD device. */
int
instance_value (const struct instance_summary *summary, char *buf,
                size_t size)
{
  int len = snprintf (buf, size,
                      INSTANCE_KEY_PID "=%d\n"
                      INSTANCE_KEY_MAX "=%u\n"
                      INSTANCE_KEY_DEVICES "=%zu\n"
                      INSTANCE_KEY_BOUND "=%zu\n"
                      INSTANCE_KEY_NBD "=%s\n"
                      INSTANCE_KEY_CONNECTIONS "=%u\n",
                      (int) summary->pid, summary->max, summary->devices,
                      summary->bound, summary->nbd ? "on" : "off",
                      summary->connections);

  if (len < 0 || (size_t) len >= size)
    return -ERANGE;
  return len;
}
