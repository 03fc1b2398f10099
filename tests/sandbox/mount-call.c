/* mount-call: make one mount system call and print its errno name, so
 * that a test can compare what the sandbox answers with the kernel's.
 *
 *   mount-call mount SOURCE TARGET TYPE [ro]
 *   mount-call newapi SOURCE TARGET TYPE [ro]
 *   mount-call umount TARGET [detach]
 *
 * "mount" is mount(2); "newapi" is the new mount API as util-linux
 * 2.39 uses it: fsopen (TYPE), fsconfig "source" = SOURCE (and the flag
 * "ro"), FSCONFIG_CMD_CREATE, fsmount, move_mount onto TARGET.  Prints
 * "ok", or the failing step and the errno name ("create: EINVAL").
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/mount.h>
#include <sys/mount.h>
#include <sys/syscall.h>

/* Print STEP's failure as "STEP: ENAME" and return 1. */
static int
failed (const char *step)
{
  printf ("%s: %s\n", step, strerrorname_np (errno));
  return 1;
}

/* The new mount API, through syscall(2) (glibc 2.36 has no wrappers
 * for all of it). */
static int
new_api (const char *source, const char *target, const char *type, int ro)
{
  int fs, mnt;

  fs = syscall (SYS_fsopen, type, FSOPEN_CLOEXEC);
  if (fs < 0)
    return failed ("fsopen");
  if (syscall (SYS_fsconfig, fs, FSCONFIG_SET_STRING, "source", source, 0) < 0)
    return failed ("source");
  if (ro && syscall (SYS_fsconfig, fs, FSCONFIG_SET_FLAG, "ro", NULL, 0) < 0)
    return failed ("ro");
  if (syscall (SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
    return failed ("create");
  mnt = syscall (SYS_fsmount, fs, FSMOUNT_CLOEXEC,
                 ro ? MOUNT_ATTR_RDONLY : 0);
  if (mnt < 0)
    return failed ("fsmount");
  close (fs);
  if (syscall (SYS_move_mount, mnt, "", AT_FDCWD, target,
               MOVE_MOUNT_F_EMPTY_PATH) < 0)
    return failed ("move_mount");
  close (mnt);
  puts ("ok");
  return 0;
}

int
main (int argc, char **argv)
{
  int ro = argc > 5 && strcmp (argv[5], "ro") == 0;

  if (argc >= 5 && strcmp (argv[1], "mount") == 0) {
    if (mount (argv[2], argv[3], argv[4], ro ? MS_RDONLY : 0, NULL) < 0)
      return failed ("mount");
    puts ("ok");
    return 0;
  }
  if (argc >= 5 && strcmp (argv[1], "newapi") == 0)
    return new_api (argv[2], argv[3], argv[4], ro);
  if (argc >= 3 && strcmp (argv[1], "umount") == 0) {
    int flags = argc > 3 && strcmp (argv[3], "detach") == 0 ? MNT_DETACH : 0;

    if (umount2 (argv[2], flags) < 0)
      return failed ("umount");
    puts ("ok");
    return 0;
  }
  fputs ("usage: mount-call mount|newapi SOURCE TARGET TYPE [ro]\n"
         "       mount-call umount TARGET [detach]\n", stderr);
  return 2;
}
