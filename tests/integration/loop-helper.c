/* loop-helper: single loop-device operations for the integration tests.
 *
 * Stock losetup 2.38 refuses a loop device that is not a block node for
 * everything but attaching, so the shell tests detach, inspect and
 * remove devices with this helper instead.  Each subcommand does one
 * system call (or one read of state) and prints its result; a failure
 * prints the errno name alone (e.g. "ENXIO") on stdout and exits 1, so
 * a test can compare it exactly.
 *
 *   loop-helper status DEV            GET_STATUS64 and block sizes
 *   loop-helper clr DEV               LOOP_CLR_FD
 *   loop-helper capacity DEV ro|rw    LOOP_SET_CAPACITY through a
 *                                     read-only or read-write descriptor
 *   loop-helper set-fd DEV FILE ro|rw|wo|append
 *                                     LOOP_SET_FD with FILE opened so
 *   loop-helper change-fd DEV FILE    LOOP_CHANGE_FD to FILE (read-only)
 *   loop-helper set-name DEV NAME     LOOP_SET_STATUS64 with lo_file_name
 *                                     NAME, the rest as it is
 *   loop-helper add CONTROL N         LOOP_CTL_ADD, prints the number
 *   loop-helper remove CONTROL N      LOOP_CTL_REMOVE
 *   loop-helper get-free CONTROL      LOOP_CTL_GET_FREE, prints the number
 *   loop-helper xattr FILE NAME       prints extended attribute NAME
 *   loop-helper pread DEV OFF LEN [direct]
 *                                     one pread, the data to stdout
 *   loop-helper pwrite DEV OFF LEN [direct]
 *                                     one pwrite of LEN bytes read from
 *                                     stdin, prints the count written
 *   loop-helper blkpg DEV add|del|resize PNO START LEN
 *                                     BLKPG on DEV (START, LEN in bytes,
 *                                     may be negative)
 *   loop-helper rereadpt DEV          BLKRRPART
 *   loop-helper partscan DEV          LOOP_SET_STATUS64 adding
 *                                     LO_FLAGS_PARTSCAN
 *   loop-helper size64 DEV            prints BLKGETSIZE64
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/blkpg.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/xattr.h>

#include "cleanup.h"

/* Buffers for O_DIRECT must be aligned to the logical block size; a
 * page covers every block size a loop device can have in these tests. */
#define IO_ALIGN 4096

/* Parse a non-negative decimal number into *OUT. */
static int
parse_number (const char *s, uint64_t *out)
{
  char *end;

  errno = 0;
  *out = strtoull (s, &end, 10);
  if (*s == '\0' || *s == '-' || *end != '\0' || errno != 0)
    return -EINVAL;
  return 0;
}

/* Open PATH with FLAGS; the descriptor, or a negative errno. */
static int
open_path (const char *path, int flags)
{
  int fd = open (path, flags | O_CLOEXEC);

  return fd < 0 ? -errno : fd;
}

/* Print the GET_STATUS64 fields and the block-layer sizes of DEV. */
static int
cmd_status (char **argv)
{
  CLEANUP_CLOSE int fd = open_path (argv[0], O_RDONLY);
  struct loop_info64 info;
  uint64_t size;
  int ssz, ro;

  if (fd < 0)
    return fd;
  if (ioctl (fd, LOOP_GET_STATUS64, &info) < 0
      || ioctl (fd, BLKGETSIZE64, &size) < 0
      || ioctl (fd, BLKSSZGET, &ssz) < 0
      || ioctl (fd, BLKROGET, &ro) < 0)
    return -errno;
  printf ("number=%" PRIu32 "\n", info.lo_number);
  printf ("offset=%" PRIu64 "\n", (uint64_t) info.lo_offset);
  printf ("sizelimit=%" PRIu64 "\n", (uint64_t) info.lo_sizelimit);
  printf ("flags=%" PRIu32 "\n", info.lo_flags);
  printf ("file_name=%.*s\n", LO_NAME_SIZE, (const char *) info.lo_file_name);
  printf ("device=%" PRIu64 "\n", (uint64_t) info.lo_device);
  printf ("inode=%" PRIu64 "\n", (uint64_t) info.lo_inode);
  printf ("size=%" PRIu64 "\n", size);
  printf ("ssz=%d\n", ssz);
  printf ("ro=%d\n", ro);
  return 0;
}

/* Detach DEV (LOOP_CLR_FD), as losetup -d does. */
static int
cmd_clr (char **argv)
{
  CLEANUP_CLOSE int fd = open_path (argv[0], O_RDONLY);

  if (fd < 0)
    return fd;
  return ioctl (fd, LOOP_CLR_FD, 0) < 0 ? -errno : 0;
}

/* Change the status of DEV with CHANGE (INFO, ARG) between
 * LOOP_GET_STATUS64 and LOOP_SET_STATUS64. */
static int
change_status (const char *dev, void (*change) (struct loop_info64 *info,
                                                const char *arg),
               const char *arg)
{
  CLEANUP_CLOSE int fd = open_path (dev, O_RDWR);
  struct loop_info64 info;

  if (fd < 0)
    return fd;
  if (ioctl (fd, LOOP_GET_STATUS64, &info) < 0)
    return -errno;
  change (&info, arg);
  return ioctl (fd, LOOP_SET_STATUS64, &info) < 0 ? -errno : 0;
}

/* Add LO_FLAGS_AUTOCLEAR. */
static void
add_autoclear (struct loop_info64 *info, const char *arg)
{
  (void) arg;
  info->lo_flags |= LO_FLAGS_AUTOCLEAR;
}

/* Set LO_FLAGS_AUTOCLEAR on DEV; the close that follows may clear it
 * at once. */
static int
cmd_autoclear (char **argv)
{
  return change_status (argv[0], add_autoclear, NULL);
}

/* Add LO_FLAGS_PARTSCAN. */
static void
add_partscan (struct loop_info64 *info, const char *arg)
{
  (void) arg;
  info->lo_flags |= LO_FLAGS_PARTSCAN;
}

/* Set LO_FLAGS_PARTSCAN on DEV: the partitions are read. */
static int
cmd_partscan (char **argv)
{
  return change_status (argv[0], add_partscan, NULL);
}

/* LOOP_SET_CAPACITY on DEV opened read-only ("ro") or read-write ("rw"):
 * through a read-only descriptor it needs CAP_SYS_ADMIN over the
 * instance. */
static int
cmd_capacity (char **argv)
{
  CLEANUP_CLOSE int fd =
    open_path (argv[0], strcmp (argv[1], "rw") == 0 ? O_RDWR : O_RDONLY);

  if (fd < 0)
    return fd;
  return ioctl (fd, LOOP_SET_CAPACITY, 0) < 0 ? -errno : 0;
}

/* Bind FILE, opened read-only ("ro"), read-write ("rw"), write-only
 * ("wo") or read-write with O_APPEND ("append"), to DEV with
 * LOOP_SET_FD.  DEV is opened read-write, so only the backing
 * descriptor decides whether the device is read-only. */
static int
cmd_set_fd (char **argv)
{
  CLEANUP_CLOSE int dev = -1;
  CLEANUP_CLOSE int file = -1;
  int mode;

  if (strcmp (argv[2], "ro") == 0)
    mode = O_RDONLY;
  else if (strcmp (argv[2], "rw") == 0)
    mode = O_RDWR;
  else if (strcmp (argv[2], "wo") == 0)
    mode = O_WRONLY;
  else if (strcmp (argv[2], "append") == 0)
    mode = O_RDWR | O_APPEND;
  else
    return -EINVAL;
  dev = open_path (argv[0], O_RDWR);
  if (dev < 0)
    return dev;
  file = open_path (argv[1], mode);
  if (file < 0)
    return file;
  return ioctl (dev, LOOP_SET_FD, file) < 0 ? -errno : 0;
}

/* Make NAME (any bytes but NUL, cut at LO_NAME_SIZE - 1 as the kernel
 * does) the lo_file_name. */
static void
set_file_name (struct loop_info64 *info, const char *name)
{
  memset (info->lo_file_name, 0, sizeof info->lo_file_name);
  strncpy ((char *) info->lo_file_name, name, LO_NAME_SIZE - 1);
}

/* LOOP_SET_STATUS64 of DEV with its current status but lo_file_name
 * NAME. */
static int
cmd_set_name (char **argv)
{
  return change_status (argv[0], set_file_name, argv[1]);
}

/* LOOP_CHANGE_FD of DEV to FILE, opened read-only (a read-only device
 * is the only kind that may change its file). */
static int
cmd_change_fd (char **argv)
{
  CLEANUP_CLOSE int dev = open_path (argv[0], O_RDONLY);
  CLEANUP_CLOSE int file = open_path (argv[1], O_RDONLY);

  if (dev < 0)
    return dev;
  if (file < 0)
    return file;
  return ioctl (dev, LOOP_CHANGE_FD, file) < 0 ? -errno : 0;
}

/* Run loop-control ioctl CMD with ARG on CONTROL and print the result. */
static int
control_ioctl (const char *control, unsigned long cmd, unsigned long arg)
{
  CLEANUP_CLOSE int fd = open_path (control, O_RDWR);
  int r;

  if (fd < 0)
    return fd;
  r = ioctl (fd, cmd, arg);
  if (r < 0)
    return -errno;
  printf ("%d\n", r);
  return 0;
}

/* LOOP_CTL_ADD N. */
static int
cmd_add (char **argv)
{
  uint64_t n;

  if (parse_number (argv[1], &n) < 0)
    return -EINVAL;
  return control_ioctl (argv[0], LOOP_CTL_ADD, n);
}

/* LOOP_CTL_REMOVE N. */
static int
cmd_remove (char **argv)
{
  uint64_t n;

  if (parse_number (argv[1], &n) < 0)
    return -EINVAL;
  return control_ioctl (argv[0], LOOP_CTL_REMOVE, n);
}

/* LOOP_CTL_GET_FREE. */
static int
cmd_get_free (char **argv)
{
  return control_ioctl (argv[0], LOOP_CTL_GET_FREE, 0);
}

/* Print extended attribute NAME of FILE followed by a newline. */
static int
cmd_xattr (char **argv)
{
  char value[8192];
  ssize_t n = getxattr (argv[0], argv[1], value, sizeof value);

  if (n < 0)
    return -errno;
  printf ("%.*s\n", (int) n, value);
  return 0;
}

/* Parse the OFF LEN [direct] arguments of pread / pwrite and open DEV
 * with FLAGS (plus O_DIRECT when asked).  Returns the descriptor. */
static int
open_for_io (char **argv, int argc, int flags, uint64_t *off, uint64_t *len)
{
  if (parse_number (argv[1], off) < 0 || parse_number (argv[2], len) < 0
      || *len > SSIZE_MAX)
    return -EINVAL;
  if (argc == 4) {
    if (strcmp (argv[3], "direct") != 0)
      return -EINVAL;
    flags |= O_DIRECT;
  }
  return open_path (argv[0], flags);
}

/* Read LEN bytes at OFF from DEV with one pread; the bytes it returned
 * go to stdout, so a short read shows as a shorter output. */
static int
cmd_pread (char **argv, int argc)
{
  CLEANUP_CLOSE int fd = -1;
  CLEANUP_FREE void *buf = NULL;
  uint64_t off, len;
  ssize_t n;

  fd = open_for_io (argv, argc, O_RDONLY, &off, &len);
  if (fd < 0)
    return fd;
  if (posix_memalign (&buf, IO_ALIGN, len ? len : 1) != 0)
    return -ENOMEM;
  n = pread (fd, buf, len, off);
  if (n < 0)
    return -errno;
  if (fwrite (buf, 1, n, stdout) != (size_t) n)
    return -EIO;
  return 0;
}

/* Read exactly LEN bytes from stdin into BUF. */
static int
read_stdin (char *buf, size_t len)
{
  size_t got = 0;

  while (got < len) {
    ssize_t n = read (STDIN_FILENO, buf + got, len - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -errno;
    if (n == 0)
      return -ENODATA;
    got += n;
  }
  return 0;
}

/* Write LEN bytes from stdin at OFF to DEV with one pwrite and print
 * how many it wrote. */
static int
cmd_pwrite (char **argv, int argc)
{
  CLEANUP_CLOSE int fd = -1;
  CLEANUP_FREE void *buf = NULL;
  uint64_t off, len;
  ssize_t n;
  int r;

  fd = open_for_io (argv, argc, O_WRONLY, &off, &len);
  if (fd < 0)
    return fd;
  if (posix_memalign (&buf, IO_ALIGN, len ? len : 1) != 0)
    return -ENOMEM;
  r = read_stdin (buf, len);
  if (r < 0)
    return r;
  n = pwrite (fd, buf, len, off);
  if (n < 0)
    return -errno;
  printf ("%zd\n", n);
  return 0;
}

/* BLKPG operation argv[1] (add, del, resize) of partition argv[2] at
 * argv[3] for argv[4] bytes on DEV argv[0]. */
static int
cmd_blkpg (char **argv)
{
  CLEANUP_CLOSE int fd = open_path (argv[0], O_RDONLY);
  struct blkpg_partition part = { 0 };
  struct blkpg_ioctl_arg arg = { .data = &part, .datalen = sizeof part };
  char *end1, *end2, *end3;

  if (fd < 0)
    return fd;
  if (strcmp (argv[1], "add") == 0)
    arg.op = BLKPG_ADD_PARTITION;
  else if (strcmp (argv[1], "del") == 0)
    arg.op = BLKPG_DEL_PARTITION;
  else if (strcmp (argv[1], "resize") == 0)
    arg.op = BLKPG_RESIZE_PARTITION;
  else
    return -EINVAL;
  part.pno = strtol (argv[2], &end1, 10);
  part.start = strtoll (argv[3], &end2, 10);
  part.length = strtoll (argv[4], &end3, 10);
  if (*end1 || *end2 || *end3)
    return -EINVAL;
  return ioctl (fd, BLKPG, &arg) < 0 ? -errno : 0;
}

/* BLKRRPART on DEV. */
static int
cmd_rereadpt (char **argv)
{
  CLEANUP_CLOSE int fd = open_path (argv[0], O_RDONLY);

  if (fd < 0)
    return fd;
  return ioctl (fd, BLKRRPART) < 0 ? -errno : 0;
}

/* Print BLKGETSIZE64 of DEV. */
static int
cmd_size64 (char **argv)
{
  CLEANUP_CLOSE int fd = open_path (argv[0], O_RDONLY);
  uint64_t size;

  if (fd < 0)
    return fd;
  if (ioctl (fd, BLKGETSIZE64, &size) < 0)
    return -errno;
  printf ("%" PRIu64 "\n", size);
  return 0;
}

/* Print the usage text to stderr. */
static void
usage (void)
{
  fprintf (stderr,
"usage: loop-helper status DEV | clr DEV | autoclear DEV | capacity DEV ro|rw\n"
"       | set-fd DEV FILE ro|rw|wo|append | change-fd DEV FILE\n"
"       | set-name DEV NAME\n"
"       | add CONTROL N | remove CONTROL N | get-free CONTROL\n"
"       | xattr FILE NAME | pread DEV OFF LEN [direct]\n"
"       | pwrite DEV OFF LEN [direct]\n"
"       | blkpg DEV add|del|resize PNO START LEN | rereadpt DEV | size64 DEV\n"
"       | partscan DEV\n");
}

/* Run the subcommand named by argv[1]; on failure print the errno name
 * and exit 1 (2 for a usage error). */
int
main (int argc, char *argv[])
{
  const char *cmd;
  int n, r;

  if (argc < 3) {
    usage ();
    return 2;
  }
  cmd = argv[1];
  n = argc - 2;
  argv += 2;
  if (strcmp (cmd, "status") == 0 && n == 1)
    r = cmd_status (argv);
  else if (strcmp (cmd, "clr") == 0 && n == 1)
    r = cmd_clr (argv);
  else if (strcmp (cmd, "autoclear") == 0 && n == 1)
    r = cmd_autoclear (argv);
  else if (strcmp (cmd, "capacity") == 0 && n == 2)
    r = cmd_capacity (argv);
  else if (strcmp (cmd, "set-fd") == 0 && n == 3)
    r = cmd_set_fd (argv);
  else if (strcmp (cmd, "change-fd") == 0 && n == 2)
    r = cmd_change_fd (argv);
  else if (strcmp (cmd, "set-name") == 0 && n == 2)
    r = cmd_set_name (argv);
  else if (strcmp (cmd, "add") == 0 && n == 2)
    r = cmd_add (argv);
  else if (strcmp (cmd, "remove") == 0 && n == 2)
    r = cmd_remove (argv);
  else if (strcmp (cmd, "get-free") == 0 && n == 1)
    r = cmd_get_free (argv);
  else if (strcmp (cmd, "xattr") == 0 && n == 2)
    r = cmd_xattr (argv);
  else if (strcmp (cmd, "pread") == 0 && (n == 3 || n == 4))
    r = cmd_pread (argv, n);
  else if (strcmp (cmd, "pwrite") == 0 && (n == 3 || n == 4))
    r = cmd_pwrite (argv, n);
  else if (strcmp (cmd, "blkpg") == 0 && n == 5)
    r = cmd_blkpg (argv);
  else if (strcmp (cmd, "partscan") == 0 && n == 1)
    r = cmd_partscan (argv);
  else if (strcmp (cmd, "rereadpt") == 0 && n == 1)
    r = cmd_rereadpt (argv);
  else if (strcmp (cmd, "size64") == 0 && n == 1)
    r = cmd_size64 (argv);
  else {
    usage ();
    return 2;
  }
  if (fflush (stdout) != 0 && r == 0)
    r = -errno;
  if (r < 0) {
    const char *name = strerrorname_np (-r);
    if (name)
      printf ("%s\n", name);
    else
      printf ("E%d\n", -r);
    return 1;
  }
  return 0;
}
