/* loopfsctl exec: the files of /sys/block/loopN in the sandbox's sysfs
 * view (see sysfs-view.h), in the kernel's formats, each computed from
 * the device's status. */

#include <stdio.h>
#include <sys/sysmacros.h>

#include "loop-numbers.h"
#include "sysfs-disk.h"


static void
show_dev (const struct device_status *st, char *buf, size_t size)
{
  dev_t devno = sandbox_loop_devno (st->number);

  snprintf (buf, size, "%u:%u\n", major (devno), minor (devno));
}

static void
show_size (const struct device_status *st, char *buf, size_t size)
{
  snprintf (buf, size, "%llu\n", (unsigned long long) st->size / 512);
}

static void
show_ro (const struct device_status *st, char *buf, size_t size)
{
  snprintf (buf, size, "%d\n", st->ro);
}

static void
show_zero (const struct device_status *st, char *buf, size_t size)
{
  (void) st;
  snprintf (buf, size, "0\n");
}

static void
show_one (const struct device_status *st, char *buf, size_t size)
{
  (void) st;
  snprintf (buf, size, "1\n");
}

static void
show_ext_range (const struct device_status *st, char *buf, size_t size)
{
  (void) st;
  snprintf (buf, size, "256\n");
}

static void
show_uevent (const struct device_status *st, char *buf, size_t size)
{
  dev_t devno = sandbox_loop_devno (st->number);

  snprintf (buf, size, "MAJOR=%u\nMINOR=%u\nDEVNAME=loop%d\nDEVTYPE=disk\n",
            major (devno), minor (devno), st->number);
}

static void
show_logical_block_size (const struct device_status *st, char *buf,
                         size_t size)
{
  snprintf (buf, size, "%u\n", st->logical_block_size);
}

static void
show_physical_block_size (const struct device_status *st, char *buf,
                          size_t size)
{
  snprintf (buf, size, "%u\n", st->physical_block_size);
}

static void
show_zoned (const struct device_status *st, char *buf, size_t size)
{
  (void) st;
  snprintf (buf, size, "none\n");
}

static void
show_backing_file (const struct device_status *st, char *buf, size_t size)
{
  snprintf (buf, size, "%s\n", st->backing_file);
}

static void
show_offset (const struct device_status *st, char *buf, size_t size)
{
  snprintf (buf, size, "%llu\n", (unsigned long long) st->offset);
}

static void
show_sizelimit (const struct device_status *st, char *buf, size_t size)
{
  snprintf (buf, size, "%llu\n", (unsigned long long) st->sizelimit);
}

static void
show_autoclear (const struct device_status *st, char *buf, size_t size)
{
  snprintf (buf, size, "%d\n", st->autoclear);
}

static void
show_partscan (const struct device_status *st, char *buf, size_t size)
{
  snprintf (buf, size, "%d\n", st->partscan);
}

static void
show_dio (const struct device_status *st, char *buf, size_t size)
{
  snprintf (buf, size, "%d\n", st->dio);
}

const struct sysfs_disk_node sysfs_disk_nodes[SYSFS_DISK_NODES] = {
  [1] = { "dev", N_DEVICE, show_dev },
  [2] = { "size", N_DEVICE, show_size },
  [3] = { "ro", N_DEVICE, show_ro },
  [4] = { "removable", N_DEVICE, show_zero },
  [5] = { "range", N_DEVICE, show_one },
  [6] = { "ext_range", N_DEVICE, show_ext_range },
  [7] = { "capability", N_DEVICE, show_zero },
  [8] = { "uevent", N_DEVICE, show_uevent },
  [9] = { "alignment_offset", N_DEVICE, show_zero },
  [10] = { "discard_alignment", N_DEVICE, show_zero },
  [11] = { "hidden", N_DEVICE, show_zero },
  [12] = { "partscan", N_DEVICE, show_partscan },
  [N_QUEUE] = { "queue", N_DEVICE, NULL },
  [17] = { "logical_block_size", N_QUEUE, show_logical_block_size },
  [18] = { "physical_block_size", N_QUEUE, show_physical_block_size },
  [19] = { "hw_sector_size", N_QUEUE, show_logical_block_size },
  [20] = { "minimum_io_size", N_QUEUE, show_physical_block_size },
  [21] = { "optimal_io_size", N_QUEUE, show_zero },
  [22] = { "rotational", N_QUEUE, show_one },
  [23] = { "dax", N_QUEUE, show_zero },
  [24] = { "zoned", N_QUEUE, show_zoned },
  [N_LOOP] = { "loop", N_DEVICE, NULL, true },
  [33] = { "backing_file", N_LOOP, show_backing_file, true },
  [34] = { "offset", N_LOOP, show_offset, true },
  [35] = { "sizelimit", N_LOOP, show_sizelimit, true },
  [36] = { "autoclear", N_LOOP, show_autoclear, true },
  [37] = { "partscan", N_LOOP, show_partscan, true },
  [38] = { "dio", N_LOOP, show_dio, true },
  [N_HOLDERS] = { "holders", N_DEVICE, NULL },
  [N_SLAVES] = { "slaves", N_DEVICE, NULL },
};

bool
sysfs_disk_is_dir (int i)
{
  return i == N_DEVICE || (i < N_CLASS_LINK && sysfs_disk_nodes[i].name
                           && sysfs_disk_nodes[i].show == NULL);
}
