/* loopfsctl exec: the device numbers the sandbox shows for the
 * instance's loopN.
 *
 * A kernel loop device N is 7:N, and so is the instance's loopN in the
 * sandbox (util-linux and scripts name /dev/loopN after 7:N), with one
 * exception.  The sandbox hides the host's loop devices, but not the
 * files on filesystems they hold: a job whose working directory is on a
 * host loop device 7:3 sees st_dev 7:3 for its files.  Were the
 * instance's loop3 7:3 too, the job would take it for the disk under
 * its own files (mkfs.ext4 /dev/loop3 refusing "is mounted", a lookup
 * of /sys/dev/block/7:3 finding the wrong disk).  So a device N whose
 * 7:N holds a filesystem mounted where the sandbox starts
 * (/proc/self/mountinfo, read once) gets another minor, the highest
 * below 1 << 20 that no such filesystem and no other remapped device
 * has; /sys/dev/block/7:N then shows nothing (the host's device stays
 * hidden), and st_dev of the job's files names no disk of the view.
 */
#ifndef LOOPFSCTL_LOOP_NUMBERS_H
#define LOOPFSCTL_LOOP_NUMBERS_H

#include <stdbool.h>
#include <sys/types.h>

#define LOOP_MAJOR 7

/* The device number of the instance's loopN in the sandbox. */
dev_t sandbox_loop_devno (int number);

/* The instance device that has minor MINOR of major 7 in the sandbox:
 * true with *NUMBER set; false for a minor the host's mounted loop
 * devices hold. */
bool sandbox_loop_of_minor (unsigned minor, int *number);

#endif /* LOOPFSCTL_LOOP_NUMBERS_H */
