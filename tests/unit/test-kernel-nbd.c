/* loopfs: host tests of the kernel NBD attach module
 * (nbd-backend/kernel-nbd*.c).
 *
 * What can be checked without an nbd driver: argument checks (done
 * before the kernel is asked), the privilege checks of
 * kernel_nbd_available, every netlink call failing cleanly with
 * -ENOENT when the "nbd" family does not resolve, backend identifiers
 * and owner liveness, and the sysfs side (listing by identifier, the
 * ownership check before a disconnect) on a fake sysfs tree.  Real
 * attaches are tested in the VM suite.  The temporary directory is
 * removed by the main process after all tests.
 */

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cap-ng.h>
#include <check.h>

#include "kernel-nbd.h"
#include "nbd-handshake.h"
#include "test-main.h"

static char tmpdir[] = "/tmp/loopfs-test-kernel-nbd-XXXXXX";
static char sysfs[sizeof tmpdir + 16];

/* Create DIR/block/NAME, and NAME/backend holding CONTENT unless NULL. */
static void
fake_device (const char *name, const char *content)
{
  char path[512];
  int fd;

  snprintf (path, sizeof path, "%s/block/%s", sysfs, name);
  ck_assert_int_eq (mkdir (path, 0755), 0);
  snprintf (path, sizeof path, "%s/block/%s/size", sysfs, name);
  fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  ck_assert_int_ge (fd, 0);
  ck_assert_int_eq (write (fd, "2048\n", 5), 5);
  close (fd);
  if (content == NULL)
    return;
  snprintf (path, sizeof path, "%s/block/%s/backend", sysfs, name);
  fd = open (path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  ck_assert_int_ge (fd, 0);
  ck_assert_int_eq (write (fd, content, strlen (content)),
                    (ssize_t) strlen (content));
  close (fd);
}

/* Per-test fixture: a fresh fake sysfs with an empty block directory. */
static void
setup (void)
{
  char path[512];

  snprintf (sysfs, sizeof sysfs, "%s/sys-XXXXXX", tmpdir);
  ck_assert_ptr_nonnull (mkdtemp (sysfs));
  snprintf (path, sizeof path, "%s/block", sysfs);
  ck_assert_int_eq (mkdir (path, 0755), 0);
  kernel_nbd_set_sysfs_root (sysfs);
}

/* Per-test teardown: back to the real sysfs. */
static void
teardown (void)
{
  kernel_nbd_set_sysfs_root (NULL);
}

/* True when this host has no nbd driver and we may ask netlink: the
 * case where every netlink call must come back -ENOENT. */
static bool
driver_absent (void)
{
  int r = kernel_nbd_available ();

  if (r != -ENOENT)
    fprintf (stderr, "test-kernel-nbd: kernel_nbd_available () = %d (%s): "
             "skipping the no-driver checks\n", r, strerror (-r));
  return r == -ENOENT;
}

/* A valid configuration on the two ends of a socketpair. */
static struct kernel_nbd_config
make_config (const int *fds, size_t n)
{
  struct kernel_nbd_config config = {
    .sockets = fds,
    .n_sockets = n,
    .size = 1 << 20,
    .block_size = 512,
    .server_flags = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH |
                    NBD_FLAG_CAN_MULTI_CONN,
    .timeout = 30,
    .dead_conn_timeout = 10,
    .identifier = "loopfs:1:2:3:test:loop0",
  };

  return config;
}

/* Configurations the module refuses itself, driver or not. */
START_TEST (test_connect_argument_checks)
{
  struct kernel_nbd_config config;
  uint32_t index = 12345;
  int fds[2], bad[1] = { -1 };

  ck_assert_int_eq (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds),
                    0);

  config = make_config (fds, 0);
  ck_assert_int_eq (kernel_nbd_connect (&config, &index), -EINVAL);
  config = make_config (bad, 1);
  ck_assert_int_eq (kernel_nbd_connect (&config, &index), -EBADF);
  config = make_config (fds, 2);
  config.server_flags &= ~NBD_FLAG_CAN_MULTI_CONN;
  ck_assert_int_eq (kernel_nbd_connect (&config, &index), -EINVAL);
  config = make_config (fds, 1);
  config.block_size = 1000;
  ck_assert_int_eq (kernel_nbd_connect (&config, &index), -EINVAL);
  config.block_size = 256;
  ck_assert_int_eq (kernel_nbd_connect (&config, &index), -EINVAL);
  config = make_config (fds, 1);
  config.size = (uint64_t) INT64_MAX + 1;
  ck_assert_int_eq (kernel_nbd_connect (&config, &index), -EFBIG);
  config = make_config (fds, 1);
  config.identifier = NULL;
  ck_assert_int_eq (kernel_nbd_connect (&config, &index), -EINVAL);
  config.identifier = "";
  ck_assert_int_eq (kernel_nbd_connect (&config, &index), -EINVAL);
  config.identifier = "has space";
  ck_assert_int_eq (kernel_nbd_connect (&config, &index), -EINVAL);
  ck_assert_uint_eq (index, 12345);

  ck_assert_int_eq (kernel_nbd_reconfigure (0, NULL,
                                            &(struct kernel_nbd_reconfig) {
                                              .size = 4096 }), -EINVAL);
  ck_assert_int_eq (kernel_nbd_reconfigure (0, "loopfs:x",
                                            &(struct kernel_nbd_reconfig) {
                                              .size = 4096,
                                              .block_size = 100 }), -EINVAL);
  ck_assert_int_eq (kernel_nbd_reconfigure (0, "loopfs:x",
                                            &(struct kernel_nbd_reconfig) {
                                              .size = 4096,
                                              .n_sockets = 1 }), -EINVAL);
  ck_assert_int_eq (kernel_nbd_reconfigure (0, "loopfs:x",
                                            &(struct kernel_nbd_reconfig) {
                                              .size = (uint64_t) INT64_MAX + 1
                                            }), -EFBIG);
  ck_assert_int_eq (kernel_nbd_set_timeout (0, "loopfs:x", 0), -EINVAL);
  ck_assert_int_eq (kernel_nbd_set_timeout (0, "has space", 30), -EINVAL);
  close (fds[0]);
  close (fds[1]);
}
END_TEST

/* Without the driver every netlink call says -ENOENT, and nothing
 * hangs. */
START_TEST (test_no_driver)
{
  struct kernel_nbd_config config;
  struct kernel_nbd_monitor *monitor = NULL;
  uint32_t index = 777;
  bool connected = true;
  int fds[2];

  if (!driver_absent ())
    return;
  ck_assert_int_eq (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds),
                    0);
  config = make_config (fds, 2);
  ck_assert_int_eq (kernel_nbd_connect (&config, &index), -ENOENT);
  ck_assert_uint_eq (index, 777);
  ck_assert_int_eq (kernel_nbd_disconnect (0, NULL), -ENOENT);
  ck_assert_int_eq (kernel_nbd_status (0, &connected), -ENOENT);
  ck_assert (connected);
  ck_assert_int_eq (kernel_nbd_reconfigure (0, "loopfs:x",
                                            &(struct kernel_nbd_reconfig) {
                                              .size = 4096,
                                              .block_size = 512,
                                              .timeout = 30,
                                              .sockets = fds,
                                              .n_sockets = 1 }), -ENOENT);
  ck_assert_int_eq (kernel_nbd_set_timeout (0, "loopfs:x", 1), -ENOENT);
  ck_assert_int_eq (kernel_nbd_monitor_open (&monitor), -ENOENT);
  ck_assert_ptr_null (monitor);
  kernel_nbd_monitor_close (NULL);
  close (fds[0]);
  close (fds[1]);
}
END_TEST

/* Run FN in a child process and return what it returned (as an exit
 * status offset by 128, errnos being negative). */
static int
in_child (int (*fn) (void))
{
  int status;
  pid_t pid = fork ();

  ck_assert_int_ge (pid, 0);
  if (pid == 0)
    _exit (128 + fn ());
  ck_assert_int_eq (waitpid (pid, &status, 0), pid);
  ck_assert (WIFEXITED (status));
  return WEXITSTATUS (status) - 128;
}

/* kernel_nbd_available without CAP_SYS_ADMIN in the effective set. */
static int
available_without_cap (void)
{
  capng_get_caps_process ();
  capng_update (CAPNG_DROP, CAPNG_EFFECTIVE, CAP_SYS_ADMIN);
  if (capng_apply (CAPNG_SELECT_CAPS) == -1)
    return -ECHILD;
  return kernel_nbd_available ();
}

/* kernel_nbd_available in a new user namespace, where we have every
 * capability but the driver would refuse us all the same. */
static int
available_in_user_ns (void)
{
  if (unshare (CLONE_NEWUSER) == -1)
    return -ECHILD;
  return kernel_nbd_available ();
}

/* Without CAP_SYS_ADMIN, or in a user namespace, we are told -EPERM
 * before the kernel is asked anything. */
START_TEST (test_available_privilege)
{
  int r;

  ck_assert_int_eq (in_child (available_without_cap), -EPERM);
  r = in_child (available_in_user_ns);
  if (r == -ECHILD)
    fprintf (stderr, "test-kernel-nbd: no user namespaces here, "
             "skipping that check\n");
  else
    ck_assert_int_eq (r, -EPERM);
}
END_TEST

/* An identifier names us, the instance and the device, and parses
 * back; we are alive. */
START_TEST (test_identifier_round_trip)
{
  struct kernel_nbd_owner owner;
  char id[KERNEL_NBD_IDENTIFIER_MAX];

  ck_assert_int_eq (kernel_nbd_make_identifier ("inst-1.a_B", 7, id,
                                                sizeof id), 0);
  ck_assert_msg (strncmp (id, KERNEL_NBD_IDENTIFIER_PREFIX,
                          strlen (KERNEL_NBD_IDENTIFIER_PREFIX)) == 0,
                 "%s", id);
  ck_assert_msg (strstr (id, ":inst-1.a_B:loop7") != NULL, "%s", id);
  ck_assert_int_eq (kernel_nbd_parse_identifier (id, &owner), 0);
  ck_assert_int_eq (owner.pid, getpid ());
  ck_assert_str_eq (owner.instance_id, "inst-1.a_B");
  ck_assert_uint_eq (owner.loop_index, 7);
  ck_assert_int_eq (kernel_nbd_owner_alive (&owner), 1);

  /* Our pid with another start time is a dead namesake. */
  owner.start_time++;
  ck_assert_int_eq (kernel_nbd_owner_alive (&owner), 0);
  owner.start_time--;
  /* An owner in another pid namespace is not ours to judge. */
  owner.pid_ns ^= 1;
  ck_assert_int_eq (kernel_nbd_owner_alive (&owner), -EXDEV);
}
END_TEST

/* Instance ids that could not be parsed back are refused, and so is
 * a buffer too small for the identifier. */
START_TEST (test_identifier_bad_instance)
{
  char id[KERNEL_NBD_IDENTIFIER_MAX], long_id[KERNEL_NBD_INSTANCE_ID_MAX + 1];

  memset (long_id, 'a', KERNEL_NBD_INSTANCE_ID_MAX);
  long_id[KERNEL_NBD_INSTANCE_ID_MAX] = '\0';
  ck_assert_int_eq (kernel_nbd_make_identifier ("", 0, id, sizeof id),
                    -EINVAL);
  ck_assert_int_eq (kernel_nbd_make_identifier ("a:b", 0, id, sizeof id),
                    -EINVAL);
  ck_assert_int_eq (kernel_nbd_make_identifier ("a b", 0, id, sizeof id),
                    -EINVAL);
  ck_assert_int_eq (kernel_nbd_make_identifier (long_id, 0, id, sizeof id),
                    -EINVAL);
  long_id[KERNEL_NBD_INSTANCE_ID_MAX - 1] = '\0';
  ck_assert_int_eq (kernel_nbd_make_identifier (long_id, 4294967295u, id,
                                                sizeof id), 0);
  ck_assert_int_eq (kernel_nbd_make_identifier ("x", 0, id, 16),
                    -ENAMETOOLONG);
}
END_TEST

/* Anything but the exact format is not a loopfs identifier; the
 * largest values still parse. */
START_TEST (test_identifier_parse_rejects)
{
  static const char *const bad[] = {
    "", "loopfs:", "nbd:1:2:3:x:loop0", "loopfs:1:2:3:x:loop",
    "loopfs:1:2:3:x:loop4x", "loopfs:1:0:3:x:loop1", "loopfs:1:2:3::loop1",
    "loopfs:1:2:3:x y:loop1", "loopfs:a:2:3:x:loop1", "loopfs:1:-2:3:x:loop1",
    "loopfs:1:2:3:x:disk1", "loopfs:18446744073709551616:2:3:x:loop1",
    "loopfs:1:2147483648:3:x:loop1", "loopfs:1:2:3:x:loop4294967296",
    "loopfs:1:2:3:x:loop1:", "loopfs:1: 2:3:x:loop1", "loopfs:1:2:3:x",
  };
  struct kernel_nbd_owner owner;

  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    ck_assert_msg (kernel_nbd_parse_identifier (bad[i], &owner) == -EINVAL,
                   "accepted \"%s\"", bad[i]);
  static const char largest[] =
    "loopfs:18446744073709551615:2147483647:0:x:loop4294967295";

  ck_assert_int_eq (kernel_nbd_parse_identifier (largest, &owner), 0);
  ck_assert_uint_eq (owner.pid_ns, UINT64_MAX);
  ck_assert_int_eq (owner.pid, 2147483647);
  ck_assert_uint_eq (owner.loop_index, 4294967295u);
}
END_TEST

/* Write into ID (KERNEL_NBD_IDENTIFIER_MAX bytes) the identifier of
 * loop device 3 of instance "gone" made by a child that has exited
 * since; its pid goes to *PID. */
static void
identifier_of_exited_child (char *id, pid_t *pid)
{
  int pipefd[2], status;

  memset (id, 0, KERNEL_NBD_IDENTIFIER_MAX);
  ck_assert_int_eq (pipe (pipefd), 0);
  *pid = fork ();
  ck_assert_int_ge (*pid, 0);
  if (*pid == 0) {
    char child_id[KERNEL_NBD_IDENTIFIER_MAX];

    if (kernel_nbd_make_identifier ("gone", 3, child_id,
                                    sizeof child_id) < 0 ||
        write (pipefd[1], child_id, strlen (child_id)) < 0)
      _exit (1);
    _exit (0);
  }
  close (pipefd[1]);
  ck_assert_int_gt (read (pipefd[0], id, KERNEL_NBD_IDENTIFIER_MAX - 1), 0);
  close (pipefd[0]);
  ck_assert_int_eq (waitpid (*pid, &status, 0), *pid);
}

/* The owner of a device made by a process that has exited is dead. */
START_TEST (test_owner_gone)
{
  struct kernel_nbd_owner owner;
  char id[KERNEL_NBD_IDENTIFIER_MAX];
  pid_t pid;

  identifier_of_exited_child (id, &pid);
  ck_assert_int_eq (kernel_nbd_parse_identifier (id, &owner), 0);
  ck_assert_int_eq (owner.pid, pid);
  ck_assert_int_eq (kernel_nbd_owner_alive (&owner), 0);
}
END_TEST

/* Listing by identifier prefix in a fake sysfs: only connected nbd
 * devices (with a backend attribute), in index order, names other
 * than nbdN ignored, an oversized identifier skipped. */
START_TEST (test_list_by_identifier)
{
  kernel_nbd_device_vector devices = { 0 };
  char huge[KERNEL_NBD_IDENTIFIER_MAX + 16];

  memset (huge, 'x', sizeof huge - 2);
  memcpy (huge, "loopfs:", 7);
  huge[sizeof huge - 2] = '\n';
  huge[sizeof huge - 1] = '\0';
  fake_device ("nbd12", "other-tool\n");
  fake_device ("nbd3", "loopfs:1:2:3:b:loop3\n");
  fake_device ("nbd0", "loopfs:1:2:3:a:loop0\n");
  fake_device ("nbd1", NULL);
  fake_device ("nbd5", huge);
  fake_device ("nbd7", "");
  fake_device ("loop0", "loopfs:1:2:3:a:loop9\n");
  fake_device ("nbdx", "loopfs:1:2:3:a:loop8\n");
  fake_device ("nbd007x", "loopfs:1:2:3:a:loop8\n");

  ck_assert_int_eq (kernel_nbd_list_by_identifier ("loopfs:", &devices), 2);
  ck_assert_uint_eq (devices.len, 2);
  ck_assert_uint_eq (devices.ptr[0].index, 0);
  ck_assert_str_eq (devices.ptr[0].identifier, "loopfs:1:2:3:a:loop0");
  ck_assert_uint_eq (devices.ptr[1].index, 3);
  ck_assert_str_eq (devices.ptr[1].identifier, "loopfs:1:2:3:b:loop3");

  /* Appends; the empty prefix takes every connected device. */
  ck_assert_int_eq (kernel_nbd_list_by_identifier ("", &devices), 4);
  ck_assert_uint_eq (devices.len, 6);
  ck_assert_uint_eq (devices.ptr[2].index, 0);
  ck_assert_uint_eq (devices.ptr[3].index, 3);
  ck_assert_uint_eq (devices.ptr[4].index, 7);
  ck_assert_str_eq (devices.ptr[4].identifier, "");
  ck_assert_uint_eq (devices.ptr[5].index, 12);
  kernel_nbd_device_vector_free (&devices);
  ck_assert_uint_eq (devices.len, 0);

  ck_assert_int_eq (kernel_nbd_list_by_identifier ("loopfs:9:", &devices), 0);
  kernel_nbd_device_vector_free (&devices);
}
END_TEST

/* A disconnect with an identifier only goes to the kernel for a device
 * that carries that identifier. */
START_TEST (test_disconnect_checks_owner)
{
  fake_device ("nbd0", "loopfs:1:2:3:a:loop0\n");
  fake_device ("nbd1", NULL);
  fake_device ("nbd2", "loopfs:1:2:3:a:loop00\n");

  ck_assert_int_eq (kernel_nbd_disconnect (1, "loopfs:1:2:3:a:loop0"), 0);
  ck_assert_int_eq (kernel_nbd_disconnect (2, "loopfs:1:2:3:a:loop0"),
                    -ESTALE);
  ck_assert_int_eq (kernel_nbd_disconnect (0, "loopfs:1:2:3:a:loop"),
                    -ESTALE);
  ck_assert_int_eq (kernel_nbd_disconnect (9, "loopfs:1:2:3:a:loop0"),
                    -ENODEV);
  if (driver_absent ())
    ck_assert_int_eq (kernel_nbd_disconnect (0, "loopfs:1:2:3:a:loop0"),
                      -ENOENT);
}
END_TEST

/* What kernel_nbd_disconnect_by_prefix reported, device by device. */
struct disconnected {
  unsigned n;
  uint32_t index[8];
  int r[8];
};

/* Record one device that kernel_nbd_disconnect_by_prefix tried. */
static void
record_disconnect (const struct kernel_nbd_device *dev, int r, void *opaque)
{
  struct disconnected *d = opaque;

  ck_assert_uint_lt (d->n, 8);
  d->index[d->n] = dev->index;
  d->r[d->n++] = r;
}

/* The sweep of dead owners touches only loopfs devices whose owner is
 * gone; the disconnect of a prefix touches every device it finds; both
 * report each device tried, and a listing that fails is an error. */
START_TEST (test_disconnect_by_prefix)
{
  char dead[KERNEL_NBD_IDENTIFIER_MAX], live[KERNEL_NBD_IDENTIFIER_MAX];
  char live_prefix[KERNEL_NBD_IDENTIFIER_MAX], content[160];
  struct disconnected d = { 0 };
  char missing[600];
  pid_t pid;
  int absent = driver_absent ();

  identifier_of_exited_child (dead, &pid);
  ck_assert_int_eq (kernel_nbd_make_identifier ("live", 0, live, sizeof live),
                    0);
  ck_assert_int_eq (kernel_nbd_make_owner_prefix ("live", live_prefix,
                                                  sizeof live_prefix), 0);
  snprintf (content, sizeof content, "%s\n", live);
  fake_device ("nbd0", content);
  snprintf (content, sizeof content, "%s\n", dead);
  fake_device ("nbd1", content);
  fake_device ("nbd2", "other-tool\n");
  fake_device ("nbd3", "loopfs:not-an-identifier\n");

  ck_assert_int_eq (kernel_nbd_disconnect_by_prefix (
                      KERNEL_NBD_IDENTIFIER_PREFIX, true, record_disconnect,
                      &d), 1);
  ck_assert_uint_eq (d.n, 1);
  ck_assert_uint_eq (d.index[0], 1);
  if (absent)
    ck_assert_int_eq (d.r[0], -ENOENT);

  d = (struct disconnected) { 0 };
  ck_assert_int_eq (kernel_nbd_disconnect_by_prefix (live_prefix, false,
                                                     record_disconnect, &d),
                    1);
  ck_assert_uint_eq (d.n, 1);
  ck_assert_uint_eq (d.index[0], 0);
  if (absent)
    ck_assert_int_eq (d.r[0], -ENOENT);

  ck_assert_int_eq (kernel_nbd_disconnect_by_prefix ("loopfs:9:", false,
                                                     NULL, NULL), 0);
  snprintf (missing, sizeof missing, "%s/nonexistent", sysfs);
  kernel_nbd_set_sysfs_root (missing);
  ck_assert_int_eq (kernel_nbd_disconnect_by_prefix ("", false,
                                                     record_disconnect, &d),
                    -ENOENT);
}
END_TEST

/* Without a sysfs block directory the listing fails cleanly. */
START_TEST (test_list_without_sysfs)
{
  kernel_nbd_device_vector devices = { 0 };
  char missing[600];

  snprintf (missing, sizeof missing, "%s/nonexistent", sysfs);
  kernel_nbd_set_sysfs_root (missing);
  ck_assert_int_eq (kernel_nbd_list_by_identifier ("loopfs:", &devices),
                    -ENOENT);
  ck_assert_uint_eq (devices.len, 0);
}
END_TEST

/* Every test runs with its own fake sysfs. */
static Suite *
kernel_nbd_suite (void)
{
  Suite *s = suite_create ("kernel-nbd");
  TCase *tc = tcase_create ("host");

  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_set_timeout (tc, 30);
  tcase_add_test (tc, test_connect_argument_checks);
  tcase_add_test (tc, test_no_driver);
  tcase_add_test (tc, test_available_privilege);
  tcase_add_test (tc, test_identifier_round_trip);
  tcase_add_test (tc, test_identifier_bad_instance);
  tcase_add_test (tc, test_identifier_parse_rejects);
  tcase_add_test (tc, test_owner_gone);
  tcase_add_test (tc, test_list_by_identifier);
  tcase_add_test (tc, test_disconnect_checks_owner);
  tcase_add_test (tc, test_list_without_sysfs);
  tcase_add_test (tc, test_disconnect_by_prefix);
  suite_add_tcase (s, tc);
  return s;
}

/* Run the suite in a fresh temporary directory, then remove it. */
int
main (void)
{
  return test_main (kernel_nbd_suite (), tmpdir);
}
