/* Unit tests for tools/loopfsctl/mount-drivers.c: the FUSE driver table
 * of loopfsctl exec's mount interception, --mount-driver TYPE=PROGRAM,
 * the -o option string a driver gets for mount(2)'s flags and data
 * (mapped, left out, or refused with EINVAL as the kernel refuses an
 * option it does not know), and which types need a device.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include "capture-stderr.h"
#include "mount-drivers.h"
#include "test-main.h"

static driver_vector drivers;

static void
setup (void)
{
  memset (&drivers, 0, sizeof drivers);
  ck_assert_int_eq (mount_drivers_init (&drivers), 0);
}

static void
teardown (void)
{
  mount_drivers_free (&drivers);
}

/* The options DRIVER gets for SOURCE, TYPE, FLAGS and DATA are
 * EXPECTED, silently. */
static void
check_options (const char *type, unsigned long flags, const char *data,
               const char *source, const char *expected)
{
  const struct mount_driver *drv = mount_drivers_find (&drivers, type);
  char *options = NULL;
  const char *text;
  int r;

  ck_assert_ptr_nonnull (drv);
  capture_stderr_begin ();
  r = mount_driver_options (drv, source, type, flags, data, &options);
  text = capture_stderr_end ();
  ck_assert_int_eq (r, 0);
  ck_assert_str_eq (options, expected);
  ck_assert_str_eq (text, "");
  free (options);
}

/* DATA is refused for TYPE with EINVAL and a message naming OPTION. */
static void
check_refused (const char *type, const char *data, const char *option)
{
  const struct mount_driver *drv = mount_drivers_find (&drivers, type);
  char *options = NULL;
  const char *text;
  int r;

  capture_stderr_begin ();
  r = mount_driver_options (drv, "/dev/loop0", type, 0, data, &options);
  text = capture_stderr_end ();
  ck_assert_int_eq (r, -EINVAL);
  ck_assert_ptr_null (options);
  ck_assert_msg (strstr (text, option) != NULL, "message: %s", text);
}

/* The built-in table: Debian's drivers; squashfs and iso9660 are
 * read-only; no driver for other types. */
START_TEST (test_table)
{
  ck_assert_str_eq (mount_drivers_find (&drivers, "ext2")->program,
                    "fuse2fs");
  ck_assert_str_eq (mount_drivers_find (&drivers, "ext4")->program,
                    "fuse2fs");
  ck_assert_str_eq (mount_drivers_find (&drivers, "vfat")->program,
                    "fusefat");
  ck_assert_str_eq (mount_drivers_find (&drivers, "ntfs3")->program,
                    "ntfs-3g");
  ck_assert (mount_drivers_find (&drivers, "squashfs")->read_only);
  ck_assert (mount_drivers_find (&drivers, "iso9660")->read_only);
  ck_assert (!mount_drivers_find (&drivers, "ext4")->read_only);
  ck_assert_ptr_null (mount_drivers_find (&drivers, "xfs"));
  ck_assert_ptr_null (mount_drivers_find (&drivers, "ext"));
}
END_TEST

/* --mount-driver adds or replaces; a malformed one is refused. */
START_TEST (test_set)
{
  ck_assert_int_eq (mount_drivers_set (&drivers, "ext4=/opt/my-ext4"), 0);
  ck_assert_str_eq (mount_drivers_find (&drivers, "ext4")->program,
                    "/opt/my-ext4");
  ck_assert_str_eq (mount_drivers_find (&drivers, "ext3")->program,
                    "fuse2fs");
  ck_assert_int_eq (mount_drivers_set (&drivers, "btrfs=btrfs-fuse"), 0);
  ck_assert_str_eq (mount_drivers_find (&drivers, "btrfs")->program,
                    "btrfs-fuse");
  ck_assert_int_eq (mount_drivers_set (&drivers, "btrfs"), -EINVAL);
  ck_assert_int_eq (mount_drivers_set (&drivers, "=prog"), -EINVAL);
  ck_assert_int_eq (mount_drivers_set (&drivers, "btrfs="), -EINVAL);
  ck_assert_int_eq (mount_drivers_set (&drivers, "a,b=prog"), -EINVAL);
}
END_TEST

/* The flags become libfuse's options, each stated (libfuse would make
 * a mount nosuid and nodev by default); fuse2fs gets its defaults
 * without the device path; fusefat writes only with "rw+"; ntfs-3g
 * takes no fsname or subtype. */
START_TEST (test_flags)
{
  check_options ("ext4", 0, NULL, "/dev/loop0",
                 "allow_other,default_permissions,fsname=/dev/loop0,"
                 "subtype=ext4,no_default_opts,use_ino,kernel_cache,"
                 "attr_timeout=0,nonempty,rw,suid,dev,exec");
  check_options ("ext4", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC
                 | MS_SYNCHRONOUS | MS_NOATIME, NULL, "/dev/loop1",
                 "allow_other,default_permissions,fsname=/dev/loop1,"
                 "subtype=ext4,no_default_opts,use_ino,kernel_cache,"
                 "attr_timeout=0,nonempty,ro,nosuid,nodev,noexec,sync,"
                 "noatime");
  check_options ("vfat", 0, NULL, "/dev/loop0",
                 "allow_other,default_permissions,fsname=/dev/loop0,"
                 "subtype=vfat,nonempty,rw+,suid,dev,exec");
  check_options ("vfat", MS_RDONLY, NULL, "/dev/loop0",
                 "allow_other,default_permissions,fsname=/dev/loop0,"
                 "subtype=vfat,nonempty,ro,suid,dev,exec");
  check_options ("ntfs", 0, "uid=1000", "/dev/loop0",
                 "allow_other,default_permissions,rw,suid,dev,exec,uid=1000");
  check_options ("squashfs", MS_RDONLY, NULL, "/dev/loop2p1",
                 "allow_other,default_permissions,fsname=/dev/loop2p1,"
                 "subtype=squashfs,ro,suid,dev,exec");
}
END_TEST

/* A source with ',' or '\' is escaped as libfuse's parser reads it. */
START_TEST (test_escape)
{
  check_options ("squashfs", MS_RDONLY, NULL, "/dev/a,b\\c",
                 "allow_other,default_permissions,fsname=/dev/a\\,b\\\\c,"
                 "subtype=squashfs,ro,suid,dev,exec");
}
END_TEST

/* Data options: passed on, translated, left out, or refused. */
START_TEST (test_data)
{
  check_options ("ext4", 0, "errors=remount-ro,acl,user_xattr,noload",
                 "/dev/loop0",
                 "allow_other,default_permissions,fsname=/dev/loop0,"
                 "subtype=ext4,no_default_opts,use_ino,kernel_cache,"
                 "attr_timeout=0,nonempty,rw,suid,dev,exec,norecovery");
  check_options ("ext4", 0, "errors=panic", "/dev/loop0",
                 "allow_other,default_permissions,fsname=/dev/loop0,"
                 "subtype=ext4,no_default_opts,use_ino,kernel_cache,"
                 "attr_timeout=0,nonempty,rw,suid,dev,exec,errors=panic");
  check_options ("vfat", MS_RDONLY, "uid=1000,gid=100,umask=022,utf8",
                 "/dev/loop0",
                 "allow_other,default_permissions,fsname=/dev/loop0,"
                 "subtype=vfat,nonempty,ro,suid,dev,exec,uid=1000,gid=100,"
                 "umask=022");
  check_refused ("ext4", "acl,journal_async_commit", "journal_async_commit");
  check_refused ("vfat", "fmask=0133", "fmask=0133");
  check_refused ("squashfs", "uid=0", "uid=0");
  ck_assert_int_eq (mount_drivers_set (&drivers, "squashfs=my-squash"), 0);
  check_options ("squashfs", MS_RDONLY, "uid=0,anything=1", "/dev/loop0",
                 "allow_other,default_permissions,fsname=/dev/loop0,"
                 "subtype=squashfs,ro,suid,dev,exec,uid=0,anything=1");
}
END_TEST

/* Types /proc/filesystems marks nodev (and fuse.SUBTYPE) need no
 * device; others (and types the kernel does not know) do. */
START_TEST (test_needs_device)
{
  ck_assert (!mount_type_needs_device ("tmpfs"));
  ck_assert (!mount_type_needs_device ("proc"));
  ck_assert (!mount_type_needs_device ("fuse"));
  ck_assert (!mount_type_needs_device ("fuse.ext4"));
  ck_assert (mount_type_needs_device ("ext4"));
  ck_assert (mount_type_needs_device ("no-such-type"));
}
END_TEST

static Suite *
mount_options_suite (void)
{
  Suite *s = suite_create ("mount-options");
  TCase *tc = tcase_create ("mount-drivers");

  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_add_test (tc, test_table);
  tcase_add_test (tc, test_set);
  tcase_add_test (tc, test_flags);
  tcase_add_test (tc, test_escape);
  tcase_add_test (tc, test_data);
  tcase_add_test (tc, test_needs_device);
  suite_add_tcase (s, tc);
  return s;
}

int
main (void)
{
  return test_main (mount_options_suite (), NULL);
}
