/* loop-scenarios: drive the loop driver through named scenarios and
 * print one normalized line per step.
 *
 * The same binary runs once against the kernel's loop driver and once
 * against a loopfs instance whose loop-control and loopN files are made
 * to appear as /dev/loop-control and /dev/loopN in a private mount
 * namespace (see run-conformance.sh).  The two outputs must be equal,
 * so every value that legitimately differs between two runs is printed
 * in a normalized form: device numbers as letters in the order a
 * scenario first met them (A, B, ...), lo_number as "self", lo_device /
 * lo_inode / lo_rdevice as the name of the scenario file they belong
 * to, data as "match" / "zeros" against the pattern that should be
 * there.
 *
 * Every scenario takes loop devices only through LOOP_CTL_GET_FREE and
 * LOOP_CTL_ADD and gives back exactly what it took: it clears what it
 * bound, and removes only devices that did not exist before it ran,
 * also when a step fails midway.
 *
 * Line format:  SCENARIO.LABEL OPERATION -> RESULT [DETAILS]
 * where RESULT is the return value, or "-1 ERRNO-NAME".
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/blkzoned.h>
#include <linux/capability.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <linux/hdreg.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/sysmacros.h>

#include "cleanup.h"
#include "vector.h"

/* One file a scenario owns, as fstat saw it: matched against the
 * lo_device / lo_inode of GET_STATUS answers to name the backing. */
struct owned_file {
  char name[64];
  dev_t dev;
  ino_t ino;
  dev_t rdev;
};

DEFINE_VECTOR_TYPE (int_vector, int)
DEFINE_VECTOR_TYPE (owned_vector, struct owned_file)
DEFINE_VECTOR_TYPE (path_vector, char *)

/* What one scenario took, released by scen_cleanup whatever happened. */
struct scen {
  const char *name;
  int ctl;                  /* /dev/loop-control */
  int_vector fds;           /* open descriptors */
  int_vector bound;         /* devices this scenario bound */
  int_vector created;       /* devices that did not exist before */
  int_vector seen;          /* device numbers, in first-seen order */
  owned_vector owned;       /* files and device nodes it opened */
  path_vector files;        /* backing files it created */
};

/* Marks an expected-data argument as "all bytes zero". */
#define ZEROS (-1)

/* Sentinel that ioctl output buffers are filled with, so that bytes a
 * driver did not write show up in the output. */
#define SENTINEL64 UINT64_C (0xaaaaaaaaaaaaaaaa)

static bool kernel_mode;        /* /dev/loop-control is a character device */
static char tmpdir[256];       /* holds every backing file */
static void *bad_page;          /* PROT_NONE: any access faults */

/* The errno's symbolic name, for printing. */
static const char *
errname (int err)
{
  const char *n = strerrorname_np (err);

  return n ? n : "E?";
}

/* Format a syscall result: the value, or "-1 ENAME".  Uses a small ring
 * of static buffers so that several results fit in one printf. */
static const char *
result (long r, int err)
{
  static char bufs[8][64];
  static unsigned next;
  char *b = bufs[next++ % 8];

  if (r < 0)
    snprintf (b, 64, "-1 %s", errname (err));
  else
    snprintf (b, 64, "%ld", r);
  return b;
}

/* Print one step line: "SCENARIO.LABEL " followed by FMT. */
static void __attribute__ ((format (printf, 3, 4)))
say (struct scen *s, const char *label, const char *fmt, ...)
{
  va_list ap;

  printf ("%s.%s ", s->name, label);
  va_start (ap, fmt);
  vprintf (fmt, ap);
  va_end (ap);
  putchar ('\n');
}

/* Return true when V holds X. */
static bool
int_vector_contains (const int_vector *v, int x)
{
  for (size_t i = 0; i < v->len; i++)
    if (v->ptr[i] == x)
      return true;
  return false;
}

/* Forget X in V if it is there. */
static void
int_vector_drop (int_vector *v, int x)
{
  for (size_t i = 0; i < v->len; i++)
    if (v->ptr[i] == x) {
      int_vector_remove (v, i);
      return;
    }
}

/* The letter naming device N in this scenario: device numbers differ
 * between the kernel and a fresh loopfs instance, but the order in
 * which a scenario meets them does not. */
static const char *
dev_sym (struct scen *s, int n)
{
  static const char *const letters[] = { "A", "B", "C", "D", "E", "F", "G", "H" };
  size_t i;

  for (i = 0; i < s->seen.len; i++)
    if (s->seen.ptr[i] == n)
      break;
  if (i == s->seen.len && int_vector_append (&s->seen, n) < 0)
    return "?";
  return i < sizeof letters / sizeof letters[0] ? letters[i] : "?";
}

/* The directory listing the loop devices: /sys/block for the kernel;
 * for loopfs the directory /dev/loop-control leads to (the mount
 * itself when /dev/loop-control is a link into it), else /dev.  Set
 * once by main. */
static char device_dir[PATH_MAX];

/* Find device_dir for this run. */
static void
find_device_dir (void)
{
  char real[PATH_MAX];

  snprintf (device_dir, sizeof device_dir, "%s", kernel_mode ? "/sys/block" : "/dev");
  if (!kernel_mode && realpath ("/dev/loop-control", real) != NULL
      && strrchr (real, '/') != real) {
    *strrchr (real, '/') = '\0';
    snprintf (device_dir, sizeof device_dir, "%s", real);
  }
}

/* Does loop device N exist?  The kernel's devices are listed in
 * /sys/block, a loopfs instance's in its mount. */
static bool
dev_exists (int n)
{
  char path[PATH_MAX + 32];

  snprintf (path, sizeof path, "%s/loop%d", device_dir, n);
  return access (path, F_OK) == 0;
}

/* Collect the numbers of all existing loop devices into V. */
static void
existing_devices (int_vector *v)
{
  DIR *d = opendir (device_dir);
  struct dirent *de;

  if (d == NULL)
    return;
  while ((de = readdir (d)) != NULL) {
    int n;
    char extra;

    if (sscanf (de->d_name, "loop%d%c", &n, &extra) == 1 && n >= 0 && dev_exists (n))
      int_vector_append (v, n);
  }
  closedir (d);
}

/* Encode a dev_t the way the kernel reports it in loop_info64
 * (huge_encode_dev, i.e. new_encode_dev). */
static uint64_t
kernel_encode_dev (dev_t dev)
{
  uint64_t ma = major (dev), mi = minor (dev);

  return (mi & 0xff) | (ma << 8) | ((mi & ~UINT64_C (0xff)) << 12);
}

/* Remember the file behind FD under NAME, so status answers naming it
 * can be printed as NAME. */
static void
own_fd (struct scen *s, int fd, const char *name)
{
  struct owned_file o;
  struct stat st;

  if (fstat (fd, &st) < 0)
    return;
  snprintf (o.name, sizeof o.name, "%s", name);
  o.dev = st.st_dev;
  o.ino = st.st_ino;
  o.rdev = st.st_rdev;
  owned_vector_append (&s->owned, o);
}

/* Start tracking FD so that scen_cleanup closes it. */
static int
track_fd (struct scen *s, int fd)
{
  if (fd >= 0)
    int_vector_append (&s->fds, fd);
  return fd;
}

/* Close a tracked descriptor now. */
static void
close_fd (struct scen *s, int fd)
{
  if (fd < 0)
    return;
  int_vector_drop (&s->fds, fd);
  close (fd);
}

/* A printable name for open(2) access flags. */
static const char *
open_mode (int flags)
{
  switch (flags & O_ACCMODE) {
  case O_RDONLY: return "O_RDONLY";
  case O_WRONLY: return "O_WRONLY";
  default: return "O_RDWR";
  }
}

/* Open /dev/loopN with FLAGS and track the descriptor.  The open is
 * printed when LABEL is given, and always when it fails (a failed open
 * changes every later line, so it must show). */
static int
open_dev (struct scen *s, const char *label, int n, int flags)
{
  char path[64], name[16];
  int fd, err;

  snprintf (path, sizeof path, "/dev/loop%d", n);
  fd = open (path, flags | O_CLOEXEC);
  err = errno;
  if (label != NULL || fd < 0)
    say (s, label ? label : "open", "open(%s, %s) -> %s", dev_sym (s, n),
         open_mode (flags), fd < 0 ? result (-1, err) : "ok");
  if (fd >= 0) {
    snprintf (name, sizeof name, "loop%s", dev_sym (s, n));
    own_fd (s, fd, name);
  }
  errno = err;
  return track_fd (s, fd);
}

/* The absolute path of this scenario's file NAME. */
static void
file_path (struct scen *s, const char *name, char *path, size_t len)
{
  if ((size_t) snprintf (path, len, "%s/%s-%s", tmpdir, s->name, name) >= len)
    abort ();
}

/* The pattern byte at position POS for SEED: not periodic at sector or
 * page size, so misplaced data never matches by accident. */
static uint8_t
pattern (int seed, uint64_t pos)
{
  return (uint8_t) (pos * 7 + (pos >> 9) * 3 + (uint64_t) seed * 101 + 1);
}

/* Fill BUF with LEN pattern bytes for SEED starting at position POS. */
static void
fill (uint8_t *buf, size_t len, int seed, uint64_t pos)
{
  for (size_t i = 0; i < len; i++)
    buf[i] = seed == ZEROS ? 0 : pattern (seed, pos + i);
}

/* Create this scenario's file NAME of SIZE bytes filled with the
 * pattern for SEED (a sparse file of zeros for ZEROS).  Returns 0 or a
 * negative errno. */
static int
make_file (struct scen *s, const char *name, uint64_t size, int seed)
{
  char path[PATH_MAX];
  uint8_t buf[65536];
  CLEANUP_CLOSE int fd = -1;
  char *copy;

  file_path (s, name, path, sizeof path);
  fd = open (path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return -errno;
  copy = strdup (path);
  if (copy == NULL || path_vector_append (&s->files, copy) < 0) {
    free (copy);
    unlink (path);
    return -ENOMEM;
  }
  if (ftruncate (fd, size) < 0)
    return -errno;
  if (seed == ZEROS)
    return 0;
  for (uint64_t pos = 0; pos < size; pos += sizeof buf) {
    size_t n = size - pos < sizeof buf ? size - pos : sizeof buf;

    fill (buf, n, seed, pos);
    if (pwrite (fd, buf, n, pos) != (ssize_t) n)
      return -EIO;
  }
  return 0;
}

/* Open this scenario's file NAME with FLAGS, tracked and owned. */
static int
open_file (struct scen *s, const char *name, int flags)
{
  char path[PATH_MAX];
  int fd;

  file_path (s, name, path, sizeof path);
  fd = open (path, flags | O_CLOEXEC);
  if (fd < 0) {
    say (s, "open_file", "open(%s) -> %s", name, result (-1, errno));
    return -1;
  }
  own_fd (s, fd, name);
  return track_fd (s, fd);
}

/* Make file NAME (SIZE bytes of SEED) and open it with FLAGS. */
static int
new_file (struct scen *s, const char *name, uint64_t size, int seed, int flags)
{
  int r = make_file (s, name, size, seed);

  if (r < 0) {
    say (s, "make_file", "create(%s) -> %s", name, result (-1, -r));
    return -1;
  }
  return open_file (s, name, flags);
}

/* Issue ioctl CMD (printed as NAME) with ARG on FD and print the
 * result.  Returns the ioctl's return value with errno preserved. */
static int
do_ioctl (struct scen *s, const char *label, int fd, const char *name,
          unsigned long cmd, unsigned long arg)
{
  int r, err;

  errno = 0;
  r = ioctl (fd, cmd, arg);
  err = errno;
  say (s, label, "%s -> %s", name, result (r, err));
  errno = err;
  return r;
}

#define IOC(s, label, fd, cmd, arg) \
  do_ioctl ((s), (label), (fd), #cmd, (cmd), (unsigned long) (arg))

/* LOOP_CTL_GET_FREE, printing the number as a letter.  A device that
 * did not exist before is recorded so that cleanup removes it. */
static int
get_free (struct scen *s, const char *label)
{
  int_vector before = { 0 };
  int r, err;

  existing_devices (&before);
  r = ioctl (s->ctl, LOOP_CTL_GET_FREE);
  err = errno;
  if (r >= 0 && !int_vector_contains (&before, r) && !int_vector_contains (&s->created, r))
    int_vector_append (&s->created, r);
  int_vector_reset (&before);
  say (s, label, "LOOP_CTL_GET_FREE -> %s", r >= 0 ? dev_sym (s, r) : result (r, err));
  return r < 0 ? -err : r;
}

/* LOOP_CTL_ADD with ARG (described as DESC), recording a created
 * device for cleanup. */
static int
ctl_add (struct scen *s, const char *label, unsigned long arg, const char *desc)
{
  int_vector before = { 0 };
  int r, err;

  existing_devices (&before);
  r = ioctl (s->ctl, LOOP_CTL_ADD, arg);
  err = errno;
  if (r >= 0 && !int_vector_contains (&before, r) && !int_vector_contains (&s->created, r))
    int_vector_append (&s->created, r);
  int_vector_reset (&before);
  say (s, label, "LOOP_CTL_ADD(%s) -> %s", desc, r >= 0 ? dev_sym (s, r) : result (r, err));
  return r < 0 ? -err : r;
}

/* LOOP_CTL_REMOVE with ARG (described as DESC).  Callers pass only
 * numbers this scenario created, or numbers that cannot be removed. */
static int
ctl_remove (struct scen *s, const char *label, unsigned long arg, const char *desc)
{
  int r, err;

  r = ioctl (s->ctl, LOOP_CTL_REMOVE, arg);
  err = errno;
  if (r == 0)
    int_vector_drop (&s->created, (int) arg);
  say (s, label, "LOOP_CTL_REMOVE(%s) -> %s", desc, result (r, err));
  return r < 0 ? -err : r;
}

/* The lowest number >= 512 that no loop device has: a number nobody
 * uses, for LOOP_CTL_ADD of a fresh number. */
static int
fresh_number (struct scen *s)
{
  for (int n = 512; n < 1024; n++)
    if (!dev_exists (n)) {
      dev_sym (s, n);
      return n;
    }
  return -1;
}

/* LO_FLAGS_* as names. */
static const char *
flag_names (uint32_t f)
{
  static char buf[128];
  static const struct { uint32_t bit; const char *name; } names[] = {
    { LO_FLAGS_READ_ONLY, "READ_ONLY" }, { LO_FLAGS_AUTOCLEAR, "AUTOCLEAR" },
    { LO_FLAGS_PARTSCAN, "PARTSCAN" }, { LO_FLAGS_DIRECT_IO, "DIRECT_IO" },
  };
  size_t len = 0;

  buf[0] = '\0';
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (f & names[i].bit) {
      len += snprintf (buf + len, sizeof buf - len, "%s%s", len ? "|" : "", names[i].name);
      f &= ~names[i].bit;
    }
  if (f || len == 0)
    snprintf (buf + len, sizeof buf - len, "%s0x%" PRIx32, len ? "|" : "", f);
  return buf;
}

/* A fixed-size name field, quoted and escaped, with a note when it is
 * not NUL-terminated. */
static const char *
quote_name (const void *field, size_t size)
{
  static char bufs[2][4 * 64 + 32];
  static unsigned next;
  char *b = bufs[next++ % 2];
  const unsigned char *p = field;
  size_t len = 0, i;

  b[len++] = '"';
  for (i = 0; i < size && p[i]; i++) {
    if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"' && p[i] != '\\')
      b[len++] = p[i];
    else
      len += sprintf (b + len, "\\x%02x", p[i]);
  }
  b[len++] = '"';
  if (i == size)
    len += sprintf (b + len, "(unterminated)");
  b[len] = '\0';
  return b;
}

/* The key bytes as "zero" or hex. */
static const char *
key_text (const unsigned char *key)
{
  static char buf[2 * LO_KEY_SIZE + 1];
  bool zero = true;

  for (int i = 0; i < LO_KEY_SIZE; i++)
    zero &= key[i] == 0;
  if (zero)
    return "zero";
  for (int i = 0; i < LO_KEY_SIZE; i++)
    sprintf (buf + 2 * i, "%02x", key[i]);
  return buf;
}

/* Print lo_device / lo_inode / lo_rdevice normalized: the name of the
 * owned file whose inode they give, "raw" values otherwise. */
static const char *
backing_text (struct scen *s, uint64_t device, uint64_t inode, uint64_t rdevice)
{
  static char buf[256];

  for (size_t i = 0; i < s->owned.len; i++) {
    const struct owned_file *o = &s->owned.ptr[i];

    if (o->ino != inode || kernel_encode_dev (o->dev) != device)
      continue;
    if (kernel_encode_dev (o->rdev) == rdevice)
      snprintf (buf, sizeof buf, "backing=%s", o->name);
    else
      snprintf (buf, sizeof buf, "backing=%s rdevice=0x%" PRIx64, o->name, rdevice);
    return buf;
  }
  snprintf (buf, sizeof buf, "device=0x%" PRIx64 " inode=%" PRIu64 " rdevice=0x%" PRIx64,
            device, inode, rdevice);
  return buf;
}

/* lo_number as "self" when it is device N's own number. */
static const char *
number_text (int lo_number, int n)
{
  static char buf[32];

  if (lo_number == n)
    return "self";
  snprintf (buf, sizeof buf, "%d", lo_number);
  return buf;
}

/* LOOP_GET_STATUS64 on FD (device N) and print every field. */
static int
get_status64 (struct scen *s, const char *label, int fd, int n)
{
  struct loop_info64 i;
  int r, err;

  memset (&i, 0xa5, sizeof i);
  r = ioctl (fd, LOOP_GET_STATUS64, &i);
  err = errno;
  if (r < 0) {
    say (s, label, "LOOP_GET_STATUS64 -> %s", result (r, err));
    return r;
  }
  say (s, label, "LOOP_GET_STATUS64 -> %d number=%s offset=%" PRIu64 " sizelimit=%" PRIu64
       " flags=%s file_name=%s crypt_name=%s encrypt_type=%" PRIu32
       " encrypt_key_size=%" PRIu32 " key=%s init=%" PRIu64 ",%" PRIu64 " %s",
       r, number_text (i.lo_number, n), (uint64_t) i.lo_offset, (uint64_t) i.lo_sizelimit,
       flag_names (i.lo_flags), quote_name (i.lo_file_name, LO_NAME_SIZE),
       quote_name (i.lo_crypt_name, LO_NAME_SIZE), i.lo_encrypt_type,
       i.lo_encrypt_key_size, key_text (i.lo_encrypt_key),
       (uint64_t) i.lo_init[0], (uint64_t) i.lo_init[1],
       backing_text (s, i.lo_device, i.lo_inode, i.lo_rdevice));
  return r;
}

/* LOOP_GET_STATUS (the old struct) on FD (device N) and print it. */
static int
get_status (struct scen *s, const char *label, int fd, int n)
{
  struct loop_info i;
  int r, err;

  memset (&i, 0xa5, sizeof i);
  r = ioctl (fd, LOOP_GET_STATUS, &i);
  err = errno;
  if (r < 0) {
    say (s, label, "LOOP_GET_STATUS -> %s", result (r, err));
    return r;
  }
  say (s, label, "LOOP_GET_STATUS -> %d number=%s offset=%d flags=%s name=%s"
       " encrypt_type=%d encrypt_key_size=%d key=%s init=%lu,%lu reserved=%02x%02x%02x%02x %s",
       r, number_text (i.lo_number, n), i.lo_offset, flag_names ((uint32_t) i.lo_flags),
       quote_name (i.lo_name, LO_NAME_SIZE), i.lo_encrypt_type, i.lo_encrypt_key_size,
       key_text (i.lo_encrypt_key), i.lo_init[0], i.lo_init[1],
       (unsigned char) i.reserved[0], (unsigned char) i.reserved[1],
       (unsigned char) i.reserved[2], (unsigned char) i.reserved[3],
       backing_text (s, i.lo_device, i.lo_inode, i.lo_rdevice));
  return r;
}

/* A getter block ioctl CMD (printed as NAME) that writes WIDTH bytes:
 * prints the value and the whole 8-byte buffer, so that a driver
 * writing more or fewer bytes than the kernel shows. */
static void
blk_get (struct scen *s, const char *label, int fd, const char *name,
         unsigned long cmd, int width)
{
  uint64_t buf = SENTINEL64;
  int r, err;

  r = ioctl (fd, cmd, &buf);
  err = errno;
  if (r < 0)
    say (s, label, "%s -> %s", name, result (r, err));
  else
    say (s, label, "%s -> %d %" PRIu64 " (buf 0x%016" PRIx64 ")", name, r,
         width == 8 ? buf : buf & ((UINT64_C (1) << (8 * width)) - 1), buf);
}

#define BLK_GET(s, label, fd, cmd, width) blk_get ((s), (label), (fd), #cmd, (cmd), (width))

/* All read-only block ioctls on FD. */
static void
blk_all (struct scen *s, const char *label, int fd)
{
  BLK_GET (s, label, fd, BLKGETSIZE, 8);
  BLK_GET (s, label, fd, BLKGETSIZE64, 8);
  BLK_GET (s, label, fd, BLKSSZGET, 4);
  BLK_GET (s, label, fd, BLKBSZGET, 4);
  BLK_GET (s, label, fd, BLKPBSZGET, 4);
  BLK_GET (s, label, fd, BLKROGET, 4);
}

/* BLKDISCARD or BLKZEROOUT (CMD, printed as NAME) over [START, START+LEN). */
static int
blk_range (struct scen *s, const char *label, int fd, const char *name,
           unsigned long cmd, uint64_t start, uint64_t len)
{
  uint64_t range[2] = { start, len };
  int r, err;

  r = ioctl (fd, cmd, range);
  err = errno;
  say (s, label, "%s(%" PRIu64 ", %" PRIu64 ") -> %s", name, start, len, result (r, err));
  errno = err;
  return r;
}

#define BLK_RANGE(s, label, fd, cmd, start, len) \
  blk_range ((s), (label), (fd), #cmd, (cmd), (start), (len))

/* Does BUF hold LEN bytes of SEED's pattern from position POS? */
static bool
matches (const uint8_t *buf, size_t len, int seed, uint64_t pos)
{
  for (size_t i = 0; i < len; i++)
    if (buf[i] != (seed == ZEROS ? 0 : pattern (seed, pos + i)))
      return false;
  return true;
}

/* 64-bit FNV-1a of BUF, to tell two unexpected contents apart. */
static uint64_t
fnv (const uint8_t *buf, size_t len)
{
  uint64_t h = UINT64_C (0xcbf29ce484222325);

  for (size_t i = 0; i < len; i++)
    h = (h ^ buf[i]) * UINT64_C (0x100000001b3);
  return h;
}

/* pread LEN bytes at OFF from FD and print the count and whether the
 * bytes are SEED's pattern from position POS (or zeros). */
static ssize_t
rd (struct scen *s, const char *label, int fd, uint64_t off, size_t len, int seed, uint64_t pos)
{
  CLEANUP_FREE uint8_t *buf = malloc (len + 1);
  ssize_t r;
  int err;

  if (buf == NULL)
    return -1;
  r = pread (fd, buf, len, off);
  err = errno;
  if (r <= 0)
    say (s, label, "pread(%" PRIu64 ", %zu) -> %s", off, len, result (r, err));
  else if (matches (buf, r, seed, pos))
    say (s, label, "pread(%" PRIu64 ", %zu) -> %zd %s", off, len, r,
         seed == ZEROS ? "zeros" : "match");
  else
    say (s, label, "pread(%" PRIu64 ", %zu) -> %zd mismatch fnv=%016" PRIx64,
         off, len, r, fnv (buf, r));
  errno = err;
  return r;
}

/* pwrite LEN bytes of SEED's pattern (from position POS) at OFF. */
static ssize_t
wr (struct scen *s, const char *label, int fd, uint64_t off, size_t len, int seed, uint64_t pos)
{
  CLEANUP_FREE uint8_t *buf = malloc (len + 1);
  ssize_t r;
  int err;

  if (buf == NULL)
    return -1;
  fill (buf, len, seed, pos);
  r = pwrite (fd, buf, len, off);
  err = errno;
  say (s, label, "pwrite(%" PRIu64 ", %zu) -> %s", off, len, result (r, err));
  errno = err;
  return r;
}

/* fallocate MODE names. */
static const char *
falloc_names (int mode)
{
  static char buf[128];
  static const struct { int bit; const char *name; } names[] = {
    { FALLOC_FL_KEEP_SIZE, "KEEP_SIZE" }, { FALLOC_FL_PUNCH_HOLE, "PUNCH_HOLE" },
    { FALLOC_FL_NO_HIDE_STALE, "NO_HIDE_STALE" }, { FALLOC_FL_COLLAPSE_RANGE, "COLLAPSE_RANGE" },
    { FALLOC_FL_ZERO_RANGE, "ZERO_RANGE" }, { FALLOC_FL_INSERT_RANGE, "INSERT_RANGE" },
    { FALLOC_FL_UNSHARE_RANGE, "UNSHARE_RANGE" },
  };
  size_t len = 0;

  buf[0] = '\0';
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (mode & names[i].bit)
      len += snprintf (buf + len, sizeof buf - len, "%s%s", len ? "|" : "", names[i].name);
  if (len == 0)
    snprintf (buf, sizeof buf, "0");
  return buf;
}

/* fallocate(FD, MODE, OFF, LEN) and print the result. */
static int
falloc (struct scen *s, const char *label, int fd, int mode, uint64_t off, uint64_t len)
{
  int r = fallocate (fd, mode, off, len);
  int err = errno;

  say (s, label, "fallocate(%s, %" PRIu64 ", %" PRIu64 ") -> %s",
       falloc_names (mode), off, len, result (r, err));
  errno = err;
  return r;
}

/* fsync or fdatasync FD and print the result. */
static int
sync_fd (struct scen *s, const char *label, int fd, bool data_only)
{
  int r = data_only ? fdatasync (fd) : fsync (fd);
  int err = errno;

  say (s, label, "%s -> %s", data_only ? "fdatasync" : "fsync", result (r, err));
  errno = err;
  return r;
}

/* Copy NAME into a zeroed LO_NAME_SIZE field, unterminated if it is
 * that long. */
static void
copy_name (uint8_t *field, const char *name)
{
  memcpy (field, name, strnlen (name, LO_NAME_SIZE));
}

/* A loop_config for backing descriptor FD. */
static struct loop_config
config (int fd, uint32_t flags, uint64_t offset, uint64_t sizelimit, const char *name)
{
  struct loop_config c;

  memset (&c, 0, sizeof c);
  c.fd = (uint32_t) fd;
  c.info.lo_flags = flags;
  c.info.lo_offset = offset;
  c.info.lo_sizelimit = sizelimit;
  if (name)
    copy_name (c.info.lo_file_name, name);
  return c;
}

/* A loop_info64 with the given offset, size limit, flags and name. */
static struct loop_info64
info64 (uint64_t offset, uint64_t sizelimit, uint32_t flags, const char *name)
{
  struct loop_info64 i;

  memset (&i, 0, sizeof i);
  i.lo_offset = offset;
  i.lo_sizelimit = sizelimit;
  i.lo_flags = flags;
  if (name)
    copy_name (i.lo_file_name, name);
  return i;
}

/* Note that device N was bound by this scenario. */
static void
note_bound (struct scen *s, int n)
{
  if (!int_vector_contains (&s->bound, n))
    int_vector_append (&s->bound, n);
}

/* LOOP_SET_FD of backing descriptor FILE on device FD (number N). */
static int
set_fd (struct scen *s, const char *label, int fd, int n, int file)
{
  int r = IOC (s, label, fd, LOOP_SET_FD, file);

  if (r == 0)
    note_bound (s, n);
  return r;
}

/* LOOP_CONFIGURE of device FD (number N) with C. */
static int
configure (struct scen *s, const char *label, int fd, int n, const struct loop_config *c)
{
  int r = IOC (s, label, fd, LOOP_CONFIGURE, c);

  if (r == 0)
    note_bound (s, n);
  return r;
}

/* LOOP_SET_STATUS64 with I. */
static int
set_status64 (struct scen *s, const char *label, int fd, const struct loop_info64 *i)
{
  return IOC (s, label, fd, LOOP_SET_STATUS64, i);
}

/* Return device N (opened through *FD) to unbound without printing:
 * clear, close the descriptor (the last close finishes the clear) and
 * reopen with FLAGS.  Used between steps that each need a fresh
 * unbound device. */
static int
reset_dev (struct scen *s, int *fd, int n, int flags)
{
  ioctl (*fd, LOOP_CLR_FD, 0);
  close_fd (s, *fd);
  *fd = open_dev (s, NULL, n, flags);
  return *fd;
}

/* Is device N bound to a file this scenario owns?  Cleanup clears only
 * such bindings, so it can never detach someone else's device that
 * took a number this scenario gave back. */
static bool
bound_to_owned (struct scen *s, int fd)
{
  struct loop_info64 i;

  if (ioctl (fd, LOOP_GET_STATUS64, &i) < 0)
    return false;
  for (size_t k = 0; k < s->owned.len; k++)
    if (s->owned.ptr[k].ino == i.lo_inode
        && kernel_encode_dev (s->owned.ptr[k].dev) == i.lo_device)
      return true;
  return false;
}

/* Give back everything scenario S took: close its descriptors, clear
 * its bindings (newest first, so stacked devices unwind), remove the
 * devices it created and delete its files. */
static void
scen_cleanup (struct scen *s)
{
  while (s->fds.len > 0)
    close_fd (s, s->fds.ptr[s->fds.len - 1]);

  for (size_t k = s->bound.len; k-- > 0;) {
    char path[64];
    CLEANUP_CLOSE int fd = -1;

    snprintf (path, sizeof path, "/dev/loop%d", s->bound.ptr[k]);
    fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0 && bound_to_owned (s, fd) && ioctl (fd, LOOP_CLR_FD, 0) < 0)
      fprintf (stderr, "%s: cleanup: LOOP_CLR_FD loop%d: %m\n", s->name, s->bound.ptr[k]);
  }

  for (size_t k = 0; k < s->created.len; k++) {
    int n = s->created.ptr[k], r = -1;

    /* The last close of a cleared device can finish asynchronously. */
    for (int tries = 0; tries < 100; tries++) {
      r = ioctl (s->ctl, LOOP_CTL_REMOVE, n);
      if (r == 0 || errno != EBUSY)
        break;
      usleep (10000);
    }
    if (r < 0 && errno != ENODEV)
      fprintf (stderr, "%s: cleanup: LOOP_CTL_REMOVE loop%d: %m\n", s->name, n);
  }

  for (size_t k = 0; k < s->files.len; k++) {
    unlink (s->files.ptr[k]);
    free (s->files.ptr[k]);
  }
  if (s->ctl >= 0)
    close (s->ctl);
  int_vector_reset (&s->fds);
  int_vector_reset (&s->bound);
  int_vector_reset (&s->created);
  int_vector_reset (&s->seen);
  owned_vector_reset (&s->owned);
  path_vector_reset (&s->files);
}

/* Get an unbound device (LOOP_CTL_GET_FREE) and open it with FLAGS.
 * Returns the descriptor and stores the number in *N. */
static int
take_device (struct scen *s, int *n, int flags)
{
  *n = get_free (s, "get_free");
  if (*n < 0)
    return -1;
  return open_dev (s, NULL, *n, flags);
}

/* ---------------------------------------------------------------------
 * Scenarios.  Each returns nothing: every outcome is in its output.
 */

/* LOOP_CTL_GET_FREE: the lowest unbound device, stable until bound. */
static void
sc_ctl_get_free (struct scen *s)
{
  int n, d, f;

  n = get_free (s, "first");
  if (n < 0)
    return;
  get_free (s, "again");
  d = open_dev (s, NULL, n, O_RDWR);
  if (d < 0)
    return;
  get_status64 (s, "unbound", d, n);
  f = new_file (s, "f", 65536, 1, O_RDWR);
  if (f < 0 || set_fd (s, "bind", d, n, f) < 0)
    return;
  get_free (s, "after_bind");
  IOC (s, "clr", d, LOOP_CLR_FD, 0);
  close_fd (s, d);
  get_free (s, "after_clear");
}

/* LOOP_CTL_ADD: existing, fresh, any-free (negative), and numbers the
 * kernel cannot represent. */
static void
sc_ctl_add (struct scen *s)
{
  int n, fresh, d, r;

  n = get_free (s, "get_free");
  if (n < 0)
    return;
  ctl_add (s, "existing", n, "A");
  fresh = fresh_number (s);
  if (fresh < 0)
    return;
  ctl_add (s, "fresh", fresh, dev_sym (s, fresh));
  ctl_add (s, "fresh_again", fresh, dev_sym (s, fresh));
  d = open_dev (s, "fresh_open", fresh, O_RDWR);
  if (d >= 0) {
    get_status64 (s, "fresh_status", d, fresh);
    BLK_GET (s, "fresh_size", d, BLKGETSIZE64, 8);
    close_fd (s, d);
  }
  ctl_remove (s, "fresh_remove", fresh, dev_sym (s, fresh));
  ctl_remove (s, "fresh_remove_again", fresh, dev_sym (s, fresh));
  d = open_dev (s, "removed_open", fresh, O_RDWR);
  close_fd (s, d);

  r = ctl_add (s, "minus_one", (unsigned long) -1L, "-1");
  if (r >= 0)
    ctl_remove (s, "minus_one_remove", r, dev_sym (s, r));
  r = ctl_add (s, "minus_two", (unsigned long) -2L, "-2");
  if (r >= 0)
    ctl_remove (s, "minus_two_remove", r, dev_sym (s, r));
  r = ctl_add (s, "int_min", (unsigned long) (long) INT_MIN, "INT_MIN");
  if (r >= 0)
    ctl_remove (s, "int_min_remove", r, dev_sym (s, r));

  r = ctl_add (s, "max_minor", (1UL << 20) - 1, "(1<<20)-1");
  if (r >= 0)
    ctl_remove (s, "max_minor_remove", r, "(1<<20)-1");
  r = ctl_add (s, "too_big", 1UL << 20, "1<<20");
  if (r >= 0)
    ctl_remove (s, "too_big_remove", r, "1<<20");
  r = ctl_add (s, "int_max", INT_MAX, "INT_MAX");
  if (r >= 0)
    ctl_remove (s, "int_max_remove", r, "INT_MAX");

  /* The argument is an unsigned long that the kernel narrows to int. */
  r = ctl_add (s, "high_bits", (unsigned long) ((1ULL << 32) | (unsigned) fresh),
               "(1<<32)|fresh");
  if (r >= 0)
    ctl_remove (s, "high_bits_remove", r, dev_sym (s, r));
}

/* LOOP_CTL_REMOVE: negative, nonexistent, open, bound, unbound. */
static void
sc_ctl_remove (struct scen *s)
{
  int fresh, d, f;

  ctl_remove (s, "negative", (unsigned long) -1L, "-1");
  ctl_remove (s, "int_min", (unsigned long) (long) INT_MIN, "INT_MIN");
  fresh = fresh_number (s);
  if (fresh < 0)
    return;
  ctl_remove (s, "nonexistent", fresh, dev_sym (s, fresh));
  ctl_remove (s, "too_big", 1UL << 20, "1<<20");
  ctl_remove (s, "int_max", INT_MAX, "INT_MAX");

  if (ctl_add (s, "add", fresh, dev_sym (s, fresh)) < 0)
    return;
  d = open_dev (s, NULL, fresh, O_RDWR);
  if (d < 0)
    return;
  ctl_remove (s, "open", fresh, dev_sym (s, fresh));
  f = new_file (s, "f", 65536, 1, O_RDWR);
  if (f < 0 || set_fd (s, "bind", d, fresh, f) < 0)
    return;
  ctl_remove (s, "bound_open", fresh, dev_sym (s, fresh));
  close_fd (s, d);
  ctl_remove (s, "bound_closed", fresh, dev_sym (s, fresh));
  d = open_dev (s, NULL, fresh, O_RDWR);
  if (d < 0)
    return;
  IOC (s, "clr", d, LOOP_CLR_FD, 0);
  ctl_remove (s, "rundown_open", fresh, dev_sym (s, fresh));
  close_fd (s, d);
  ctl_remove (s, "unbound", fresh, dev_sym (s, fresh));
  d = open_dev (s, "open_removed", fresh, O_RDWR);
  close_fd (s, d);
  ctl_remove (s, "again", fresh, dev_sym (s, fresh));
}

/* Unknown ioctls on loop-control, including loopN and block ioctls. */
static void
sc_ctl_unknown (struct scen *s)
{
  uint64_t buf = SENTINEL64;
  struct loop_info64 i;

  memset (&i, 0, sizeof i);
  do_ioctl (s, "next_ctl", s->ctl, "0x4C83", 0x4C83, 0);
  do_ioctl (s, "below_ctl", s->ctl, "0x4C7F", 0x4C7F, 0);
  do_ioctl (s, "foreign", s->ctl, "_IO('X',1)", _IO ('X', 1), 0);
  IOC (s, "set_fd", s->ctl, LOOP_SET_FD, 0);
  IOC (s, "clr_fd", s->ctl, LOOP_CLR_FD, 0);
  IOC (s, "get_status64", s->ctl, LOOP_GET_STATUS64, &i);
  IOC (s, "blkgetsize64", s->ctl, BLKGETSIZE64, &buf);
  IOC (s, "blkflsbuf", s->ctl, BLKFLSBUF, 0);
}

/* Unknown ioctls on loopN, unbound and bound. */
static void
sc_dev_unknown (struct scen *s)
{
  int n, d, f;

  d = take_device (s, &n, O_RDWR);
  if (d < 0)
    return;
  for (int bound = 0; bound < 2; bound++) {
    const char *p = bound ? "bound_" : "unbound_";
    char l[64];

#define L(x) (snprintf (l, sizeof l, "%s%s", p, (x)), l)
    do_ioctl (s, L ("next_loop"), d, "0x4C0B", 0x4C0B, 0);
    do_ioctl (s, L ("loop_ff"), d, "0x4CFF", 0x4CFF, 0);
    IOC (s, L ("ctl_get_free"), d, LOOP_CTL_GET_FREE, 0);
    IOC (s, L ("ctl_add"), d, LOOP_CTL_ADD, 1000);
    do_ioctl (s, L ("foreign"), d, "_IO('X',1)", _IO ('X', 1), 0);
    do_ioctl (s, L ("block_unknown"), d, "_IO(0x12,200)", _IO (0x12, 200), 0);
#undef L
    if (!bound) {
      f = new_file (s, "f", 65536, 1, O_RDWR);
      if (f < 0 || set_fd (s, "bind", d, n, f) < 0)
        return;
    }
  }
}

/* Every state-changing loop ioctl on a device that is not bound
 * (unbound, or rundown): PREFIX names the state.  FILE is a usable
 * backing descriptor. */
static void
not_bound_ioctls (struct scen *s, const char *prefix, int d, int n, int file)
{
  struct loop_info64 i = info64 (0, 0, 0, "x");
  struct loop_info old;
  char l[64];

  memset (&old, 0, sizeof old);
#define L(x) (snprintf (l, sizeof l, "%s_%s", prefix, (x)), l)
  get_status64 (s, L ("get_status64"), d, n);
  get_status (s, L ("get_status"), d, n);
  IOC (s, L ("get_status64_null"), d, LOOP_GET_STATUS64, NULL);
  IOC (s, L ("get_status_null"), d, LOOP_GET_STATUS, NULL);
  IOC (s, L ("set_status64"), d, LOOP_SET_STATUS64, &i);
  IOC (s, L ("set_status"), d, LOOP_SET_STATUS, &old);
  IOC (s, L ("set_status64_bad"), d, LOOP_SET_STATUS64, 1);
  IOC (s, L ("clr_fd"), d, LOOP_CLR_FD, 0);
  IOC (s, L ("change_fd"), d, LOOP_CHANGE_FD, file);
  IOC (s, L ("change_fd_badf"), d, LOOP_CHANGE_FD, -1);
  IOC (s, L ("change_fd_self"), d, LOOP_CHANGE_FD, d);
  IOC (s, L ("set_capacity"), d, LOOP_SET_CAPACITY, 0);
  IOC (s, L ("set_direct_io_on"), d, LOOP_SET_DIRECT_IO, 1);
  IOC (s, L ("set_direct_io_off"), d, LOOP_SET_DIRECT_IO, 0);
  IOC (s, L ("set_block_size_4096"), d, LOOP_SET_BLOCK_SIZE, 4096);
  IOC (s, L ("set_block_size_511"), d, LOOP_SET_BLOCK_SIZE, 511);
  blk_all (s, L ("blk"), d);
  IOC (s, L ("flsbuf"), d, BLKFLSBUF, 0);
  BLK_RANGE (s, L ("discard"), d, BLKDISCARD, 0, 4096);
  BLK_RANGE (s, L ("zeroout"), d, BLKZEROOUT, 0, 4096);
  BLK_RANGE (s, L ("zeroout_empty"), d, BLKZEROOUT, 0, 0);
  BLK_RANGE (s, L ("discard_empty"), d, BLKDISCARD, 0, 0);
  rd (s, L ("read"), d, 0, 4096, ZEROS, 0);
  wr (s, L ("write"), d, 0, 512, 1, 0);
  wr (s, L ("write_empty"), d, 0, 0, 1, 0);
  sync_fd (s, L ("fsync"), d, false);
  falloc (s, L ("punch"), d, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096);
  falloc (s, L ("zero_range"), d, FALLOC_FL_ZERO_RANGE, 0, 4096);
#undef L
}

/* Every ioctl, block ioctl and data operation on an unbound device. */
static void
sc_unbound (struct scen *s)
{
  int n, d, f, ro;

  d = take_device (s, &n, O_RDWR);
  f = new_file (s, "f", 65536, 1, O_RDWR);
  if (d < 0 || f < 0)
    return;
  not_bound_ioctls (s, "unbound", d, n, f);
  ro = open_dev (s, "open_ro", n, O_RDONLY);
  if (ro >= 0)
    blk_all (s, "ro_blk", ro);
}

/* LOOP_SET_FD, the device bound, set again, then cleared with a single
 * opener (straight to rundown). */
static void
sc_set_fd (struct scen *s)
{
  int n, d, f, g, d2, null;
  struct loop_config c;

  d = take_device (s, &n, O_RDWR);
  f = new_file (s, "f", 65536, 1, O_RDWR);
  g = new_file (s, "g", 65536, 2, O_RDWR);
  if (d < 0 || f < 0 || g < 0)
    return;
  if (set_fd (s, "bind", d, n, f) < 0)
    return;
  get_status64 (s, "status64", d, n);
  get_status (s, "status", d, n);
  blk_all (s, "blk", d);
  rd (s, "read", d, 0, 65536, 1, 0);
  set_fd (s, "again_same", d, n, f);
  set_fd (s, "again_other", d, n, g);
  set_fd (s, "again_badf", d, n, -1);
  null = track_fd (s, open ("/dev/null", O_RDWR | O_CLOEXEC));
  set_fd (s, "again_dev_null", d, n, null);
  set_fd (s, "again_self", d, n, d);
  c = config (g, 0, 0, 0, "g");
  configure (s, "configure", d, n, &c);
  c = config (g, 64, 0, 0, "g");
  configure (s, "configure_bad_flags", d, n, &c);
  c = config (g, 0, 0, 0, "g");
  c.block_size = 511;
  configure (s, "configure_bad_block_size", d, n, &c);
  c = config (-1, 0, 0, 0, "g");
  configure (s, "configure_badf", d, n, &c);
  IOC (s, "configure_null", d, LOOP_CONFIGURE, NULL);
  get_status64 (s, "still", d, n);
  IOC (s, "clr", d, LOOP_CLR_FD, 0);
  get_status64 (s, "after_clr", d, n);
  blk_all (s, "after_clr_blk", d);
  rd (s, "after_clr_read", d, 0, 4096, 1, 0);
  d2 = open_dev (s, "after_clr_open", n, O_RDWR);
  close_fd (s, d2);
  set_fd (s, "after_clr_set_fd", d, n, g);
  IOC (s, "after_clr_clr", d, LOOP_CLR_FD, 0);
  close_fd (s, d);
  d = open_dev (s, "reopen", n, O_RDWR);
  if (d < 0)
    return;
  get_status64 (s, "cleared", d, n);
  blk_all (s, "cleared_blk", d);
  IOC (s, "cleared_clr", d, LOOP_CLR_FD, 0);
}

/* LOOP_SET_FD with descriptors the kernel refuses. */
static void
sc_set_fd_errors (struct scen *s)
{
  int n, d, closed, p[2], null, dir, opath, self_ro, f;
  char path[PATH_MAX];

  d = take_device (s, &n, O_RDWR);
  if (d < 0)
    return;
  set_fd (s, "minus_one", d, n, -1);
  closed = open ("/", O_RDONLY | O_CLOEXEC);
  close (closed);
  set_fd (s, "closed", d, n, closed);
  set_fd (s, "huge", d, n, 1 << 20);
  if (pipe2 (p, O_CLOEXEC) == 0) {
    track_fd (s, p[0]);
    track_fd (s, p[1]);
    set_fd (s, "pipe_read", d, n, p[0]);
    set_fd (s, "pipe_write", d, n, p[1]);
  }
  null = track_fd (s, open ("/dev/null", O_RDWR | O_CLOEXEC));
  set_fd (s, "dev_null", d, n, null);
  dir = track_fd (s, open (tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  set_fd (s, "directory", d, n, dir);
  if (make_file (s, "f", 65536, 1) == 0) {
    file_path (s, "f", path, sizeof path);
    opath = track_fd (s, open (path, O_PATH | O_CLOEXEC));
    set_fd (s, "o_path", d, n, opath);
  }
  set_fd (s, "self", d, n, d);
  self_ro = open_dev (s, NULL, n, O_RDONLY);
  set_fd (s, "self_other_fd", d, n, self_ro);
  get_status64 (s, "still_unbound", d, n);
  f = open_file (s, "f", O_RDWR);
  set_fd (s, "valid", d, n, f);
  get_status64 (s, "bound", d, n);
}

/* A loop device as backing store: bound (the kernel stacks; loopfs
 * refuses, see DIFFERENCES.md), and unbound (refused by both). */
static void
sc_backing_loop (struct scen *s)
{
  int a, b, c, da, db, dc, f, g, ro;

  da = take_device (s, &a, O_RDWR);
  f = new_file (s, "f", 65536, 1, O_RDWR);
  if (da < 0 || f < 0 || set_fd (s, "bind_a", da, a, f) < 0)
    return;
  db = take_device (s, &b, O_RDWR);
  if (db < 0)
    return;
  /* Stacked: data through two levels, both ways. */
  if (set_fd (s, "bound_loop", db, b, da) < 0)
    return;
  get_status64 (s, "stacked", db, b);
  BLK_GET (s, "stacked", db, BLKGETSIZE64, 8);
  rd (s, "stacked_read", db, 4096, 8192, 1, 4096);
  wr (s, "stacked_write", db, 16384, 4096, 2, 0);
  sync_fd (s, "stacked_fsync", db, false);
  rd (s, "stacked_write_lower", da, 16384, 4096, 2, 0);
  rd (s, "stacked_write_file", f, 16384, 4096, 2, 0);
  /* A third level, then a cycle: refused where it would close. */
  dc = take_device (s, &c, O_RDWR);
  if (dc < 0 || set_fd (s, "third_level", dc, c, db) < 0)
    return;
  rd (s, "third_read", dc, 16384, 4096, 2, 0);
  IOC (s, "third_clr", dc, LOOP_CLR_FD, 0);
  close_fd (s, dc);
  dc = open_dev (s, NULL, c, O_RDWR);
  if (dc < 0)
    return;
  /* The lower device stays bound while the upper one uses it: its
   * LOOP_CLR_FD only sets autoclear. */
  IOC (s, "clr_lower", da, LOOP_CLR_FD, 0);
  get_status64 (s, "lower_after_clr", da, a);
  rd (s, "stacked_after_lower_clr", db, 4096, 4096, 1, 4096);
  close_fd (s, da);
  get_status64 (s, "lower_closed", db, b);
  rd (s, "stacked_after_lower_close", db, 4096, 4096, 1, 4096);
  IOC (s, "clr_upper", db, LOOP_CLR_FD, 0);
  close_fd (s, db);
  da = open_dev (s, NULL, a, O_RDWR);
  db = open_dev (s, NULL, b, O_RDWR);
  if (da < 0 || db < 0)
    return;
  get_status64 (s, "lower_after_upper_clr", da, a);
  set_fd (s, "unbound_loop", db, b, da);
  get_status64 (s, "b_unbound", db, b);

  /* LOOP_CHANGE_FD of a read-only upper device onto a stacked file, and
   * a cycle through LOOP_CHANGE_FD. */
  ro = open_file (s, "f", O_RDONLY);
  if (ro < 0 || set_fd (s, "bind_a_ro", da, a, ro) < 0)
    return;
  if (set_fd (s, "bind_b_ro", db, b, ro) < 0)
    return;
  IOC (s, "change_fd_stacked", db, LOOP_CHANGE_FD, da);
  get_status64 (s, "changed", db, b);
  rd (s, "changed_read", db, 16384, 4096, 2, 0);
  /* The lower device changes its file: the upper one reads the new. */
  g = new_file (s, "g", 65536, 3, O_RDONLY);
  if (g < 0)
    return;
  IOC (s, "change_fd_lower", da, LOOP_CHANGE_FD, g);
  rd (s, "upper_after_lower_change", db, 0, 4096, 3, 0);
  IOC (s, "change_fd_cycle", da, LOOP_CHANGE_FD, db);
  IOC (s, "change_fd_self", db, LOOP_CHANGE_FD, db);
  IOC (s, "change_fd_back", db, LOOP_CHANGE_FD, ro);
  get_status64 (s, "changed_back", db, b);
  IOC (s, "change_fd_back_clr", db, LOOP_CLR_FD, 0);
  IOC (s, "unstacked_clr_lower", da, LOOP_CLR_FD, 0);
}

/* Backing descriptors loopfs refuses and the kernel takes (DIFFERENCES
 * D4): one open only for writing, one with O_APPEND.  A kernel binding
 * is undone quietly, so both drivers print the same lines after it. */
static void
sc_backing_modes (struct scen *s)
{
  static const struct {
    const char *label;
    int flags;
  } modes[] = {
    { "write_only", O_WRONLY },
    { "append", O_RDWR | O_APPEND },
    { "read_write", O_RDWR },
  };
  int n, d, f;
  size_t i;

  d = take_device (s, &n, O_RDWR);
  if (d < 0 || make_file (s, "f", 65536, 4) < 0)
    return;
  for (i = 0; i < sizeof modes / sizeof modes[0]; i++) {
    f = open_file (s, "f", modes[i].flags);
    if (f < 0)
      return;
    if (set_fd (s, modes[i].label, d, n, f) == 0
        && reset_dev (s, &d, n, O_RDWR) < 0)
      return;
    close_fd (s, f);
  }
}

/* LOOP_CONFIGURE: a full configuration, then every field the kernel
 * validates, each on a fresh unbound device. */
static void
sc_configure (struct scen *s)
{
  int n, d, f;
  struct loop_config c;
  char name64[LO_NAME_SIZE];
  static const uint32_t bad_flags[] = { 2, 32, 64, 0x80000000u };
  static const uint32_t block_sizes[] = { 256, 511, 512, 513, 1024, 4096, 65536, 131072 };

  d = take_device (s, &n, O_RDWR);
  f = new_file (s, "f", 65536, 2, O_RDWR);
  if (d < 0 || f < 0)
    return;

  c = config (f, 0, 0, 0, "configured-name");
  if (configure (s, "plain", d, n, &c) == 0) {
    get_status64 (s, "plain_status", d, n);
    blk_all (s, "plain_blk", d);
    rd (s, "plain_read", d, 0, 65536, 2, 0);
  }
  if (reset_dev (s, &d, n, O_RDWR) < 0)
    return;

  c = config (f, LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR | LO_FLAGS_PARTSCAN, 4096, 8192, "all");
  if (configure (s, "flags", d, n, &c) == 0) {
    get_status64 (s, "flags_status", d, n);
    blk_all (s, "flags_blk", d);
  }
  if (reset_dev (s, &d, n, O_RDWR) < 0)
    return;

  for (size_t k = 0; k < sizeof bad_flags / sizeof bad_flags[0]; k++) {
    char l[32];

    c = config (f, bad_flags[k], 0, 0, NULL);
    snprintf (l, sizeof l, "flag_0x%" PRIx32, bad_flags[k]);
    if (configure (s, l, d, n, &c) == 0) {
      get_status64 (s, l, d, n);
      if (reset_dev (s, &d, n, O_RDWR) < 0)
        return;
    }
  }

  for (size_t k = 0; k < sizeof block_sizes / sizeof block_sizes[0]; k++) {
    char l[32];

    c = config (f, 0, 0, 0, NULL);
    c.block_size = block_sizes[k];
    snprintf (l, sizeof l, "block_size_%" PRIu32, block_sizes[k]);
    if (configure (s, l, d, n, &c) == 0) {
      blk_all (s, l, d);
      if (reset_dev (s, &d, n, O_RDWR) < 0)
        return;
    }
  }

  c = config (f, 0, 0, 0, NULL);
  c.info.lo_encrypt_type = LO_CRYPT_XOR;
  configure (s, "crypt_xor", d, n, &c);
  c.info.lo_encrypt_type = LO_CRYPT_CRYPTOAPI;
  configure (s, "crypt_cryptoapi", d, n, &c);
  c = config (f, 0, 0, 0, NULL);
  c.info.lo_encrypt_key_size = LO_KEY_SIZE + 1;
  configure (s, "key_size_33", d, n, &c);
  c = config (f, 0, UINT64_C (1) << 63, 0, NULL);
  configure (s, "offset_overflow", d, n, &c);
  c = config (f, 0, 0, UINT64_C (1) << 63, NULL);
  configure (s, "sizelimit_overflow", d, n, &c);
  c = config (-1, 0, 0, 0, NULL);
  configure (s, "fd_minus_one", d, n, &c);
  c = config (d, 0, 0, 0, NULL);
  configure (s, "fd_self", d, n, &c);
  IOC (s, "null", d, LOOP_CONFIGURE, NULL);
  IOC (s, "ptr_one", d, LOOP_CONFIGURE, 1);
  IOC (s, "prot_none", d, LOOP_CONFIGURE, bad_page);
  get_status64 (s, "still_unbound", d, n);

  c = config (f, 0, 0, 0, NULL);
  c.__reserved[0] = 1;
  if (configure (s, "reserved", d, n, &c) == 0 && reset_dev (s, &d, n, O_RDWR) < 0)
    return;

  c = config (f, 0, 0, 0, NULL);
  c.info.lo_encrypt_key_size = LO_KEY_SIZE;
  memset (c.info.lo_encrypt_key, 0x5a, LO_KEY_SIZE);
  strcpy ((char *) c.info.lo_crypt_name, "crypt-name");
  c.info.lo_init[0] = 7;
  c.info.lo_init[1] = 9;
  c.info.lo_number = 12345;
  c.info.lo_device = 1;
  c.info.lo_inode = 2;
  c.info.lo_rdevice = 3;
  if (configure (s, "crypt_fields", d, n, &c) == 0) {
    get_status64 (s, "crypt_fields_status", d, n);
    if (reset_dev (s, &d, n, O_RDWR) < 0)
      return;
  }

  memset (name64, 'n', sizeof name64);
  c = config (f, 0, 0, 0, NULL);
  memcpy (c.info.lo_file_name, name64, LO_NAME_SIZE);
  if (configure (s, "name_64", d, n, &c) == 0) {
    get_status64 (s, "name_64_status", d, n);
    get_status (s, "name_64_old", d, n);
  }
}

/* LOOP_SET_STATUS64 on a bound device: offset and size limit
 * arithmetic, flags, encryption fields, overflow, bad pointers. */
static void
sc_status64 (struct scen *s)
{
  int n, d, f;
  struct loop_config c;
  struct loop_info64 i;
  static const struct { const char *label; uint64_t offset, sizelimit; } geo[] = {
    { "offset_4096", 4096, 0 },
    { "sizelimit_8192", 0, 8192 },
    { "both", 4096, 8192 },
    { "offset_at_end", 65536, 0 },
    { "offset_beyond", 100000, 0 },
    { "sizelimit_beyond", 0, 100000 },
    { "offset_1000", 1000, 0 },
    { "sizelimit_1000", 0, 1000 },
    { "sizelimit_100", 0, 100 },
    { "offset_2g", UINT64_C (1) << 31, 0 },
    { "offset_max", INT64_MAX, 0 },
    { "sizelimit_max", 0, INT64_MAX },
  };
  static const uint32_t flag_sets[] = {
    LO_FLAGS_AUTOCLEAR, 0, LO_FLAGS_PARTSCAN, 0, LO_FLAGS_READ_ONLY,
    LO_FLAGS_DIRECT_IO, 0x100, 0xffffffffu, 0,
  };

  d = take_device (s, &n, O_RDWR);
  f = new_file (s, "f", 65536, 3, O_RDWR);
  if (d < 0 || f < 0)
    return;
  c = config (f, 0, 0, 0, "start");
  if (configure (s, "bind", d, n, &c) < 0)
    return;

  for (size_t k = 0; k < sizeof geo / sizeof geo[0]; k++) {
    char l[64];

    i = info64 (geo[k].offset, geo[k].sizelimit, 0, geo[k].label);
    set_status64 (s, geo[k].label, d, &i);
    snprintf (l, sizeof l, "%s_status", geo[k].label);
    get_status64 (s, l, d, n);
    snprintf (l, sizeof l, "%s_size", geo[k].label);
    BLK_GET (s, l, d, BLKGETSIZE64, 8);
  }

  i = info64 (4096, 8192, 0, "data");
  set_status64 (s, "data_geometry", d, &i);
  IOC (s, "data_flush", d, BLKFLSBUF, 0);
  rd (s, "data_read", d, 0, 16384, 3, 4096);

  for (size_t k = 0; k < sizeof flag_sets / sizeof flag_sets[0]; k++) {
    char l[64];

    i = info64 (0, 0, flag_sets[k], "flags");
    snprintf (l, sizeof l, "flags%zu_0x%" PRIx32, k, flag_sets[k]);
    set_status64 (s, l, d, &i);
    get_status64 (s, l, d, n);
  }

  i = info64 (0, 0, 0, NULL);
  i.lo_encrypt_type = LO_CRYPT_XOR;
  set_status64 (s, "crypt_xor", d, &i);
  i.lo_encrypt_type = 42;
  set_status64 (s, "crypt_42", d, &i);
  i = info64 (0, 0, 0, NULL);
  i.lo_encrypt_key_size = LO_KEY_SIZE + 1;
  set_status64 (s, "key_size_33", d, &i);
  i = info64 (0, 0, 0, "keyed");
  i.lo_encrypt_key_size = LO_KEY_SIZE;
  memset (i.lo_encrypt_key, 0x5a, LO_KEY_SIZE);
  strcpy ((char *) i.lo_crypt_name, "crypt-name");
  i.lo_init[0] = 7;
  i.lo_number = 12345;
  i.lo_inode = 99;
  set_status64 (s, "key_size_32", d, &i);
  get_status64 (s, "key_size_32_status", d, n);

  i = info64 (UINT64_C (1) << 63, 0, 0, NULL);
  set_status64 (s, "offset_overflow", d, &i);
  i = info64 (0, UINT64_MAX, 0, NULL);
  set_status64 (s, "sizelimit_overflow", d, &i);
  get_status64 (s, "after_errors", d, n);

  IOC (s, "set_null", d, LOOP_SET_STATUS64, NULL);
  IOC (s, "set_ptr_one", d, LOOP_SET_STATUS64, 1);
  IOC (s, "set_prot_none", d, LOOP_SET_STATUS64, bad_page);
  IOC (s, "get_null", d, LOOP_GET_STATUS64, NULL);
  IOC (s, "get_ptr_one", d, LOOP_GET_STATUS64, 1);
  IOC (s, "get_prot_none", d, LOOP_GET_STATUS64, bad_page);
}

/* The old LOOP_SET_STATUS / LOOP_GET_STATUS and their conversions. */
static void
sc_status_old (struct scen *s)
{
  int n, d, f;
  struct loop_config c;
  struct loop_info old;
  struct loop_info64 i;

  d = take_device (s, &n, O_RDWR);
  f = new_file (s, "f", 65536, 4, O_RDWR);
  if (d < 0 || f < 0)
    return;
  c = config (f, 0, 0, 8192, "start");
  if (configure (s, "bind", d, n, &c) < 0)
    return;
  get_status (s, "initial", d, n);

  memset (&old, 0, sizeof old);
  old.lo_offset = 512;
  old.lo_flags = LO_FLAGS_AUTOCLEAR;
  old.lo_number = 777;
  strcpy (old.lo_name, "old-name");
  IOC (s, "set", d, LOOP_SET_STATUS, &old);
  get_status64 (s, "set_status64", d, n);
  get_status (s, "set_status", d, n);
  BLK_GET (s, "set_size", d, BLKGETSIZE64, 8);

  old.lo_offset = -512;
  IOC (s, "negative_offset", d, LOOP_SET_STATUS, &old);
  old.lo_offset = 0;
  old.lo_encrypt_type = LO_CRYPT_XOR;
  IOC (s, "crypt_xor", d, LOOP_SET_STATUS, &old);
  old.lo_encrypt_type = 0;
  old.lo_encrypt_key_size = LO_KEY_SIZE + 1;
  IOC (s, "key_size_33", d, LOOP_SET_STATUS, &old);
  old.lo_encrypt_key_size = -1;
  IOC (s, "key_size_minus_one", d, LOOP_SET_STATUS, &old);

  i = info64 (UINT64_C (1) << 31, 0, 0, "2g");
  set_status64 (s, "offset_2g", d, &i);
  get_status (s, "offset_2g_old", d, n);
  get_status64 (s, "offset_2g_64", d, n);
  i = info64 ((UINT64_C (1) << 31) - 512, 0, 0, "below2g");
  set_status64 (s, "offset_below_2g", d, &i);
  get_status (s, "offset_below_2g_old", d, n);

  IOC (s, "set_null", d, LOOP_SET_STATUS, NULL);
  IOC (s, "set_ptr_one", d, LOOP_SET_STATUS, 1);
  IOC (s, "get_null", d, LOOP_GET_STATUS, NULL);
  IOC (s, "get_ptr_one", d, LOOP_GET_STATUS, 1);
  IOC (s, "get_prot_none", d, LOOP_GET_STATUS, bad_page);
}

/* LOOP_CHANGE_FD: refused unless read-only and of the same size. */
static void
sc_change_fd (struct scen *s)
{
  int n, d, f, same, other, ro_same, p[2], null;
  struct loop_config c;

  d = take_device (s, &n, O_RDWR);
  f = new_file (s, "f", 65536, 5, O_RDWR);
  same = new_file (s, "same", 65536, 6, O_RDWR);
  other = new_file (s, "other", 32768, 7, O_RDWR);
  ro_same = new_file (s, "ro_same", 65536, 8, O_RDONLY);
  if (d < 0 || f < 0 || same < 0 || other < 0 || ro_same < 0)
    return;
  IOC (s, "unbound", d, LOOP_CHANGE_FD, same);

  c = config (f, 0, 0, 0, "rw");
  if (configure (s, "bind_rw", d, n, &c) < 0)
    return;
  IOC (s, "rw_same", d, LOOP_CHANGE_FD, same);
  IOC (s, "rw_badf", d, LOOP_CHANGE_FD, -1);
  get_status64 (s, "rw_status", d, n);
  if (reset_dev (s, &d, n, O_RDWR) < 0)
    return;

  c = config (f, LO_FLAGS_READ_ONLY, 0, 0, "ro");
  if (configure (s, "bind_ro", d, n, &c) < 0)
    return;
  IOC (s, "badf", d, LOOP_CHANGE_FD, -1);
  if (pipe2 (p, O_CLOEXEC) == 0) {
    track_fd (s, p[0]);
    track_fd (s, p[1]);
    IOC (s, "pipe", d, LOOP_CHANGE_FD, p[0]);
  }
  null = track_fd (s, open ("/dev/null", O_RDWR | O_CLOEXEC));
  IOC (s, "dev_null", d, LOOP_CHANGE_FD, null);
  IOC (s, "self", d, LOOP_CHANGE_FD, d);
  IOC (s, "other_size", d, LOOP_CHANGE_FD, other);
  get_status64 (s, "unchanged", d, n);
  IOC (s, "same_size", d, LOOP_CHANGE_FD, same);
  get_status64 (s, "changed", d, n);
  blk_all (s, "changed_blk", d);
  rd (s, "changed_read", d, 0, 65536, 6, 0);
  IOC (s, "ro_file", d, LOOP_CHANGE_FD, ro_same);
  get_status64 (s, "changed_ro", d, n);
  IOC (s, "back_to_f", d, LOOP_CHANGE_FD, f);
  get_status64 (s, "back", d, n);

  /* The size compared is the device size, so offset and size limit
   * count: a smaller file that still covers them is accepted. */
  if (reset_dev (s, &d, n, O_RDWR) < 0)
    return;
  c = config (f, LO_FLAGS_READ_ONLY, 0, 16384, "limited");
  if (configure (s, "bind_limited", d, n, &c) < 0)
    return;
  IOC (s, "limited_other_size", d, LOOP_CHANGE_FD, other);
  get_status64 (s, "limited_status", d, n);
}

/* LOOP_SET_CAPACITY after the backing file grew and shrank. */
static void
sc_capacity (struct scen *s)
{
  int n, d, f;
  struct loop_config c;
  struct loop_info64 i;

  d = take_device (s, &n, O_RDWR);
  f = new_file (s, "f", 65536, 9, O_RDWR);
  if (d < 0 || f < 0)
    return;
  c = config (f, 0, 0, 0, "cap");
  if (configure (s, "bind", d, n, &c) < 0)
    return;
  if (ftruncate (f, 131072) < 0)
    return;
  BLK_GET (s, "grown_before", d, BLKGETSIZE64, 8);
  IOC (s, "grow", d, LOOP_SET_CAPACITY, 0);
  BLK_GET (s, "grown_after", d, BLKGETSIZE64, 8);
  rd (s, "grown_read", d, 65536, 4096, ZEROS, 0);
  if (ftruncate (f, 10000) < 0)
    return;
  IOC (s, "shrink", d, LOOP_SET_CAPACITY, 0);
  BLK_GET (s, "shrunk", d, BLKGETSIZE64, 8);
  rd (s, "shrunk_read_end", d, 9216, 4096, 9, 9216);
  i = info64 (0, 4096, 0, "cap");
  set_status64 (s, "limit", d, &i);
  if (ftruncate (f, 65536) < 0)
    return;
  IOC (s, "limited_grow", d, LOOP_SET_CAPACITY, 0);
  BLK_GET (s, "limited", d, BLKGETSIZE64, 8);
  IOC (s, "arg_ignored", d, LOOP_SET_CAPACITY, 12345);
  get_status64 (s, "status", d, n);
}

/* LOOP_SET_BLOCK_SIZE values and what the block ioctls report. */
static void
sc_block_size (struct scen *s)
{
  int n, d, f, g;
  struct loop_config c;
  static const unsigned long sizes[] = {
    0, 511, 513, 1024, 4096, 65536, 131072, 256, 2048, 3072, 0, 512,
  };

  d = take_device (s, &n, O_RDWR);
  f = new_file (s, "f", 65536, 10, O_RDWR);
  g = new_file (s, "g", 5000, 11, O_RDWR);
  if (d < 0 || f < 0 || g < 0)
    return;
  c = config (f, 0, 0, 0, "bs");
  if (configure (s, "bind", d, n, &c) < 0)
    return;
  blk_all (s, "initial", d);
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
    char l[64];

    snprintf (l, sizeof l, "bs%zu_%lu", k, sizes[k]);
    IOC (s, l, d, LOOP_SET_BLOCK_SIZE, sizes[k]);
    blk_all (s, l, d);
  }
  IOC (s, "to_4096", d, LOOP_SET_BLOCK_SIZE, 4096);
  BLK_RANGE (s, "discard_512_at_4096", d, BLKDISCARD, 512, 512);
  BLK_RANGE (s, "zeroout_512_at_4096", d, BLKZEROOUT, 512, 512);
  rd (s, "read_4096", d, 512, 512, 10, 512);
  falloc (s, "punch_512_at_4096", d, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 512, 512);

  /* A size that is no multiple of the block size. */
  if (reset_dev (s, &d, n, O_RDWR) < 0)
    return;
  c = config (g, 0, 0, 0, "odd");
  c.block_size = 4096;
  if (configure (s, "odd_bind", d, n, &c) < 0)
    return;
  blk_all (s, "odd", d);
  rd (s, "odd_read", d, 0, 8192, 11, 0);
  rd (s, "odd_read_partial_block", d, 4096, 512, 11, 4096);
  wr (s, "odd_write_partial_block", d, 4096, 512, 31, 4096);
  wr (s, "odd_write_across_partial_block", d, 3584, 1024, 31, 3584);
  IOC (s, "odd_to_512", d, LOOP_SET_BLOCK_SIZE, 512);
  blk_all (s, "odd_512", d);

  /* Through a read-only descriptor (the caller has CAP_SYS_ADMIN). */
  close_fd (s, d);
  d = open_dev (s, NULL, n, O_RDONLY);
  if (d >= 0)
    IOC (s, "ro_fd", d, LOOP_SET_BLOCK_SIZE, 1024);
}

/* LOOP_SET_DIRECT_IO and LO_FLAGS_DIRECT_IO with a backing file in the
 * temporary directory. */
static void
sc_direct_io (struct scen *s)
{
  int n, d, f, fd_direct;
  struct loop_config c;
  struct loop_info64 i;
  struct statx stx;
  char path[PATH_MAX];

  d = take_device (s, &n, O_RDWR);
  f = new_file (s, "f", 65536, 12, O_RDWR);
  if (d < 0 || f < 0)
    return;
  file_path (s, "f", path, sizeof path);
  if (statx (AT_FDCWD, path, 0, STATX_DIOALIGN, &stx) == 0)
    say (s, "dioalign", "statx -> mem=%" PRIu32 " offset=%" PRIu32 " (%s)",
         stx.stx_dio_mem_align, stx.stx_dio_offset_align,
         stx.stx_mask & STATX_DIOALIGN ? "reported" : "not reported");

  c = config (f, 0, 0, 0, "dio");
  if (configure (s, "bind", d, n, &c) < 0)
    return;
  IOC (s, "on", d, LOOP_SET_DIRECT_IO, 1);
  get_status64 (s, "on_status", d, n);
  blk_all (s, "on_blk", d);
  wr (s, "on_write", d, 512, 512, 13, 512);
  rd (s, "on_read", d, 512, 512, 13, 512);
  sync_fd (s, "on_fsync", d, false);
  rd (s, "on_file", f, 512, 512, 13, 512);
  IOC (s, "on_again", d, LOOP_SET_DIRECT_IO, 1);
  IOC (s, "off", d, LOOP_SET_DIRECT_IO, 0);
  get_status64 (s, "off_status", d, n);
  IOC (s, "two", d, LOOP_SET_DIRECT_IO, 2);
  get_status64 (s, "two_status", d, n);
  IOC (s, "off_again", d, LOOP_SET_DIRECT_IO, 0);

  i = info64 (100, 0, 0, "dio");
  set_status64 (s, "unaligned_offset", d, &i);
  IOC (s, "unaligned_on", d, LOOP_SET_DIRECT_IO, 1);
  get_status64 (s, "unaligned_status", d, n);
  i = info64 (4096, 0, 0, "dio");
  set_status64 (s, "aligned_offset", d, &i);
  IOC (s, "aligned_on", d, LOOP_SET_DIRECT_IO, 1);
  get_status64 (s, "aligned_status", d, n);
  i = info64 (100, 0, 0, "dio");
  set_status64 (s, "unaligned_while_on", d, &i);
  get_status64 (s, "unaligned_while_on_status", d, n);
  IOC (s, "bs_1024_while_on", d, LOOP_SET_BLOCK_SIZE, 1024);
  get_status64 (s, "bs_1024_status", d, n);

  if (reset_dev (s, &d, n, O_RDWR) < 0)
    return;
  c = config (f, LO_FLAGS_DIRECT_IO, 0, 0, "dio-flag");
  if (configure (s, "configure_flag", d, n, &c) == 0)
    get_status64 (s, "configure_flag_status", d, n);
  if (reset_dev (s, &d, n, O_RDWR) < 0)
    return;
  c = config (f, LO_FLAGS_DIRECT_IO, 100, 0, "dio-unaligned");
  if (configure (s, "configure_flag_unaligned", d, n, &c) == 0)
    get_status64 (s, "configure_flag_unaligned_status", d, n);
  if (reset_dev (s, &d, n, O_RDWR) < 0)
    return;
  fd_direct = open_file (s, "f", O_RDWR | O_DIRECT);
  if (fd_direct >= 0 && set_fd (s, "o_direct_fd", d, n, fd_direct) == 0)
    get_status64 (s, "o_direct_fd_status", d, n);
}

/* LOOP_CLR_FD with other openers (autoclear pending: still bound), and
 * the real rundown state (cleared with a single opener, not yet
 * closed), on a device added for the purpose so it can be removed. */
static void
sc_rundown (struct scen *s)
{
  int n, d1, d2, d3, f, g;
  struct loop_config c;
  struct loop_info64 i;

  n = fresh_number (s);
  if (n < 0 || ctl_add (s, "add", n, dev_sym (s, n)) < 0)
    return;
  d1 = open_dev (s, NULL, n, O_RDWR);
  f = new_file (s, "f", 65536, 14, O_RDWR);
  g = new_file (s, "g", 65536, 15, O_RDWR);
  if (d1 < 0 || f < 0 || g < 0)
    return;
  c = config (f, 0, 0, 0, "rundown");
  if (configure (s, "bind", d1, n, &c) < 0)
    return;
  d2 = open_dev (s, NULL, n, O_RDWR);
  if (d2 < 0)
    return;
  IOC (s, "pending_clr", d1, LOOP_CLR_FD, 0);
  get_status64 (s, "pending_status", d1, n);
  get_status64 (s, "pending_status_other_fd", d2, n);
  d3 = open_dev (s, "pending_open", n, O_RDWR);
  set_fd (s, "pending_set_fd", d1, n, g);
  c = config (g, 0, 0, 0, NULL);
  configure (s, "pending_configure", d1, n, &c);
  blk_all (s, "pending_blk", d1);
  rd (s, "pending_read", d2, 0, 4096, 14, 0);
  get_status (s, "pending_status_old", d1, n);
  IOC (s, "pending_set_capacity", d1, LOOP_SET_CAPACITY, 0);
  IOC (s, "pending_set_direct_io", d1, LOOP_SET_DIRECT_IO, 0);
  IOC (s, "pending_set_block_size", d1, LOOP_SET_BLOCK_SIZE, 512);
  IOC (s, "pending_change_fd", d1, LOOP_CHANGE_FD, g);
  get_status64 (s, "pending_status_after", d1, n);
  IOC (s, "pending_clr_again", d2, LOOP_CLR_FD, 0);
  ctl_remove (s, "pending_remove", n, dev_sym (s, n));
  i = info64 (0, 0, 0, "rundown");
  set_status64 (s, "pending_cancel", d1, &i);
  get_status64 (s, "pending_cancelled", d1, n);
  close_fd (s, d3);
  close_fd (s, d2);
  close_fd (s, d1);
  d1 = open_dev (s, NULL, n, O_RDWR);
  if (d1 < 0)
    return;
  get_status64 (s, "survived", d1, n);

  /* Single opener: straight to rundown. */
  IOC (s, "clr", d1, LOOP_CLR_FD, 0);
  not_bound_ioctls (s, "rundown", d1, n, g);
  set_fd (s, "rundown_set_fd", d1, n, g);
  c = config (g, 0, 0, 0, NULL);
  configure (s, "rundown_configure", d1, n, &c);
  d2 = open_dev (s, "rundown_open", n, O_RDWR);
  close_fd (s, d2);
  ctl_remove (s, "rundown_remove", n, dev_sym (s, n));
  close_fd (s, d1);
  d1 = open_dev (s, "after_close_open", n, O_RDWR);
  if (d1 < 0)
    return;
  get_status64 (s, "after_close", d1, n);
  blk_all (s, "after_close_blk", d1);
  close_fd (s, d1);
  ctl_remove (s, "remove", n, dev_sym (s, n));
}

/* LO_FLAGS_AUTOCLEAR: cleared at the last close, not before. */
static void
sc_autoclear (struct scen *s)
{
  int n, d1, d2, f;
  struct loop_config c;
  struct loop_info64 i;

  d1 = take_device (s, &n, O_RDWR);
  f = new_file (s, "f", 65536, 16, O_RDWR);
  if (d1 < 0 || f < 0)
    return;
  c = config (f, LO_FLAGS_AUTOCLEAR, 0, 0, "auto");
  if (configure (s, "bind", d1, n, &c) < 0)
    return;
  d2 = open_dev (s, NULL, n, O_RDONLY);
  if (d2 < 0)
    return;
  close_fd (s, d1);
  get_status64 (s, "one_closed", d2, n);
  close_fd (s, d2);
  d1 = open_dev (s, "reopen", n, O_RDWR);
  if (d1 < 0)
    return;
  get_status64 (s, "cleared", d1, n);
  blk_all (s, "cleared_blk", d1);

  /* Set through LOOP_SET_STATUS64 after LOOP_SET_FD. */
  if (set_fd (s, "bind2", d1, n, f) < 0)
    return;
  i = info64 (0, 0, LO_FLAGS_AUTOCLEAR, "auto2");
  set_status64 (s, "set_autoclear", d1, &i);
  get_status64 (s, "set_autoclear_status", d1, n);
  close_fd (s, d1);
  d1 = open_dev (s, NULL, n, O_RDWR);
  if (d1 < 0)
    return;
  get_status64 (s, "cleared2", d1, n);

  /* Autoclear also ends a binding whose only opener never closed
   * before: bind with AUTOCLEAR and close right away. */
  c = config (f, LO_FLAGS_AUTOCLEAR, 0, 0, "auto3");
  if (configure (s, "bind3", d1, n, &c) < 0)
    return;
  close_fd (s, d1);
  d1 = open_dev (s, NULL, n, O_RDWR);
  if (d1 >= 0)
    get_status64 (s, "cleared3", d1, n);
}

/* Writes and block ioctls on a read-only device, for the three ways a
 * device becomes read-only. */
static void
ro_checks (struct scen *s, const char *prefix, int d, int n)
{
  char l[64];
  int rw, wo;

#define L(x) (snprintf (l, sizeof l, "%s_%s", prefix, (x)), l)
  get_status64 (s, L ("status"), d, n);
  BLK_GET (s, L ("roget"), d, BLKROGET, 4);
  rd (s, L ("read"), d, 0, 4096, 17, 0);
  wr (s, L ("write"), d, 0, 512, 18, 0);
  wr (s, L ("write_end"), d, 65536, 512, 18, 0);
  BLK_RANGE (s, L ("discard"), d, BLKDISCARD, 0, 4096);
  BLK_RANGE (s, L ("zeroout"), d, BLKZEROOUT, 0, 4096);
  BLK_RANGE (s, L ("zeroout_unaligned"), d, BLKZEROOUT, 1, 4096);
  BLK_RANGE (s, L ("discard_unaligned"), d, BLKDISCARD, 1, 4096);
  BLK_RANGE (s, L ("discard_beyond"), d, BLKDISCARD, 65536, 4096);
  falloc (s, L ("punch"), d, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096);
  falloc (s, L ("zero_range"), d, FALLOC_FL_ZERO_RANGE, 0, 4096);
  sync_fd (s, L ("fsync"), d, false);
  rw = open_dev (s, L ("open_rdwr"), n, O_RDWR);
  if (rw >= 0) {
    wr (s, L ("rdwr_write"), rw, 0, 512, 18, 0);
    BLK_RANGE (s, L ("rdwr_discard"), rw, BLKDISCARD, 0, 4096);
    BLK_RANGE (s, L ("rdwr_zeroout"), rw, BLKZEROOUT, 0, 4096);
    falloc (s, L ("rdwr_punch"), rw, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096);
    close_fd (s, rw);
  }
  wo = open_dev (s, L ("open_wronly"), n, O_WRONLY);
  close_fd (s, wo);
  rd (s, L ("unchanged"), d, 0, 4096, 17, 0);
#undef L
}

/* Read-only devices: O_RDONLY backing, LO_FLAGS_READ_ONLY, O_RDONLY
 * device descriptor; and BLKROGET after clearing. */
static void
sc_readonly (struct scen *s)
{
  int n, d, fro, frw, dro;
  struct loop_config c;
  struct loop_info64 i;

  d = take_device (s, &n, O_RDWR);
  if (make_file (s, "f", 65536, 17) < 0)
    return;
  fro = open_file (s, "f", O_RDONLY);
  frw = open_file (s, "f", O_RDWR);
  if (d < 0 || fro < 0 || frw < 0)
    return;
  BLK_GET (s, "unbound_roget", d, BLKROGET, 4);

  if (set_fd (s, "ro_file", d, n, fro) < 0)
    return;
  ro_checks (s, "ro_file", d, n);
  i = info64 (0, 0, 0, "try-rw");
  set_status64 (s, "ro_file_clear_flag", d, &i);
  get_status64 (s, "ro_file_still", d, n);
  IOC (s, "ro_file_clr", d, LOOP_CLR_FD, 0);
  BLK_GET (s, "ro_file_rundown_roget", d, BLKROGET, 4);
  close_fd (s, d);
  d = open_dev (s, NULL, n, O_RDWR);
  if (d < 0)
    return;
  BLK_GET (s, "ro_file_cleared_roget", d, BLKROGET, 4);
  wr (s, "ro_file_cleared_write", d, 0, 512, 18, 0);

  c = config (frw, LO_FLAGS_READ_ONLY, 0, 0, "ro-flag");
  if (configure (s, "ro_flag", d, n, &c) < 0)
    return;
  ro_checks (s, "ro_flag", d, n);
  if (reset_dev (s, &d, n, O_RDWR) < 0)
    return;
  BLK_GET (s, "ro_flag_cleared_roget", d, BLKROGET, 4);

  if (set_fd (s, "rw", d, n, frw) < 0)
    return;
  BLK_GET (s, "rw_roget", d, BLKROGET, 4);
  i = info64 (0, 0, LO_FLAGS_READ_ONLY, "set-ro");
  set_status64 (s, "rw_set_ro_flag", d, &i);
  get_status64 (s, "rw_set_ro_flag_status", d, n);
  BLK_GET (s, "rw_set_ro_flag_roget", d, BLKROGET, 4);
  close_fd (s, d);
  d = open_dev (s, NULL, n, O_RDWR);
  if (d < 0)
    return;
  IOC (s, "rw_clr", d, LOOP_CLR_FD, 0);
  close_fd (s, d);

  dro = open_dev (s, NULL, n, O_RDONLY);
  if (dro < 0)
    return;
  if (set_fd (s, "ro_dev_fd", dro, n, frw) < 0)
    return;
  ro_checks (s, "ro_dev_fd", dro, n);
  BLK_RANGE (s, "ro_dev_fd_discard_rw_dev", dro, BLKDISCARD, 0, 4096);
  IOC (s, "ro_dev_fd_clr", dro, LOOP_CLR_FD, 0);
  close_fd (s, dro);

  dro = open_dev (s, NULL, n, O_RDONLY);
  if (dro < 0)
    return;
  c = config (frw, 0, 0, 0, "ro-dev-configure");
  if (configure (s, "ro_dev_configure", dro, n, &c) == 0)
    get_status64 (s, "ro_dev_configure_status", dro, n);
}

/* BLKDISCARD and BLKZEROOUT ranges on a writable bound device. */
static void
sc_discard (struct scen *s)
{
  int n, d, f, ro;
  struct loop_config c;
  static const struct { const char *label; uint64_t start, len; } ranges[] = {
    { "aligned", 4096, 4096 },
    { "sector", 512, 512 },
    { "start_unaligned", 1, 4096 },
    { "len_unaligned", 0, 100 },
    { "len_zero", 0, 0 },
    { "len_zero_at_end", 65536, 0 },
    { "across_end", 61440, 8192 },
    { "at_end", 65536, 512 },
    { "beyond_end", 131072, 512 },
    { "overflow", UINT64_MAX - 511, 1024 },
    { "whole_tail", 32768, 32768 },
  };

  d = take_device (s, &n, O_RDWR);
  f = new_file (s, "f", 65536, 19, O_RDWR);
  if (d < 0 || f < 0)
    return;
  c = config (f, 0, 0, 0, "discard");
  if (configure (s, "bind", d, n, &c) < 0)
    return;

  for (size_t k = 0; k < sizeof ranges / sizeof ranges[0]; k++) {
    char l[64];

    snprintf (l, sizeof l, "discard_%s", ranges[k].label);
    BLK_RANGE (s, l, d, BLKDISCARD, ranges[k].start, ranges[k].len);
  }
  rd (s, "discarded_dev", d, 4096, 4096, ZEROS, 0);
  sync_fd (s, "discarded_sync", d, false);
  rd (s, "discarded_file", f, 4096, 4096, ZEROS, 0);
  rd (s, "kept_file", f, 8192, 4096, 19, 8192);

  for (size_t k = 0; k < sizeof ranges / sizeof ranges[0]; k++) {
    char l[64];

    snprintf (l, sizeof l, "zeroout_%s", ranges[k].label);
    BLK_RANGE (s, l, d, BLKZEROOUT, ranges[k].start, ranges[k].len);
  }
  rd (s, "zeroed_dev", d, 32768, 32768, ZEROS, 0);
  sync_fd (s, "zeroed_sync", d, false);
  rd (s, "zeroed_file", f, 32768, 32768, ZEROS, 0);
  rd (s, "kept_file2", f, 16384, 4096, 19, 16384);

  IOC (s, "discard_null", d, BLKDISCARD, NULL);
  IOC (s, "discard_ptr_one", d, BLKDISCARD, 1);
  IOC (s, "zeroout_null", d, BLKZEROOUT, NULL);
  IOC (s, "zeroout_prot_none", d, BLKZEROOUT, bad_page);

  ro = open_dev (s, NULL, n, O_RDONLY);
  if (ro < 0)
    return;
  BLK_RANGE (s, "ro_fd_discard", ro, BLKDISCARD, 0, 4096);
  BLK_RANGE (s, "ro_fd_zeroout", ro, BLKZEROOUT, 0, 4096);
  BLK_RANGE (s, "ro_fd_discard_unaligned", ro, BLKDISCARD, 1, 4096);
  IOC (s, "ro_fd_discard_null", ro, BLKDISCARD, NULL);
  IOC (s, "ro_fd_flsbuf", ro, BLKFLSBUF, 0);
}

/* Data through loopN and the backing file, with offset and size limit,
 * at and across the device end, unaligned, and odd sizes. */
static void
sc_data (struct scen *s)
{
  int n, d, f, g;
  struct loop_config c;

  d = take_device (s, &n, O_RDWR);
  f = new_file (s, "f", 65536, 20, O_RDWR);
  g = new_file (s, "g", 5000, 21, O_RDWR);
  if (d < 0 || f < 0 || g < 0)
    return;
  c = config (f, 0, 1024, 8192, "data");
  if (configure (s, "bind", d, n, &c) < 0)
    return;
  blk_all (s, "bound", d);

  /* Backing file -> loopN, before anything of it was read. */
  wr (s, "file_write", f, 1024 + 6144, 1024, 22, 6144);
  rd (s, "file_write_dev", d, 6144, 1024, 22, 6144);

  rd (s, "read_head", d, 0, 6144, 20, 1024);
  rd (s, "read_unaligned", d, 10, 100, 20, 1034);
  rd (s, "read_at_end", d, 8192, 4096, 20, 0);
  rd (s, "read_across_end", d, 7680, 1024, 20, 1024 + 7680);
  rd (s, "read_far", d, 1 << 20, 512, 20, 0);

  /* loopN -> backing file. */
  wr (s, "dev_write", d, 512, 1024, 23, 512);
  sync_fd (s, "dev_write_fsync", d, false);
  rd (s, "dev_write_file", f, 1024 + 512, 1024, 23, 512);
  rd (s, "dev_write_dev", d, 512, 1024, 23, 512);
  wr (s, "dev_write_unaligned", d, 4000, 10, 24, 4000);
  sync_fd (s, "dev_write_unaligned_fdatasync", d, true);
  rd (s, "dev_write_unaligned_file", f, 1024 + 4000, 10, 24, 4000);
  rd (s, "neighbours_file", f, 1024 + 3990, 10, 20, 1024 + 3990);

  /* Backing file -> loopN after the device cached it: BLKFLSBUF. */
  wr (s, "file_rewrite", f, 1024 + 2048, 1024, 25, 2048);
  IOC (s, "flsbuf", d, BLKFLSBUF, 0);
  rd (s, "file_rewrite_dev", d, 2048, 1024, 25, 2048);

  wr (s, "write_at_end", d, 8192, 512, 26, 0);
  wr (s, "write_across_end", d, 7680, 1024, 26, 7680);
  wr (s, "write_last_byte", d, 8191, 1, 26, 8191);
  wr (s, "write_far", d, 1 << 20, 512, 26, 0);
  wr (s, "write_empty_at_end", d, 8192, 0, 26, 0);
  sync_fd (s, "end_fsync", d, false);
  rd (s, "end_file", f, 1024 + 7680, 512, 26, 7680);
  rd (s, "beyond_limit_file", f, 1024 + 8192, 4096, 20, 1024 + 8192);
  rd (s, "before_offset_file", f, 0, 1024, 20, 0);

  /* A file whose size is no multiple of 512, and an odd offset. */
  if (reset_dev (s, &d, n, O_RDWR) < 0)
    return;
  if (set_fd (s, "odd_bind", d, n, g) < 0)
    return;
  BLK_GET (s, "odd_size", d, BLKGETSIZE64, 8);
  rd (s, "odd_read_tail", d, 4096, 1000, 21, 4096);
  rd (s, "odd_read_at_end", d, 4608, 512, 21, 0);
  wr (s, "odd_write_at_end", d, 4608, 100, 27, 0);
  if (reset_dev (s, &d, n, O_RDWR) < 0)
    return;
  c = config (g, 0, 100, 0, "odd-offset");
  if (configure (s, "odd_offset_bind", d, n, &c) < 0)
    return;
  BLK_GET (s, "odd_offset_size", d, BLKGETSIZE64, 8);
  rd (s, "odd_offset_read", d, 0, 4608, 21, 100);
  wr (s, "odd_offset_write", d, 0, 512, 28, 0);
  sync_fd (s, "odd_offset_fsync", d, false);
  rd (s, "odd_offset_file", g, 100, 512, 28, 0);
  rd (s, "odd_offset_file_head", g, 0, 100, 21, 0);
}

/* fsync and fallocate on a writable bound device. */
static void
sc_fallocate (struct scen *s)
{
  int n, d, f, ro;
  struct loop_config c;
  static const struct { const char *label; int mode; uint64_t off, len; } ops[] = {
    { "punch", FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096 },
    { "zero_range", FALLOC_FL_ZERO_RANGE, 8192, 4096 },
    { "zero_range_keep", FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 16384, 4096 },
    { "allocate", 0, 0, 4096 },
    { "keep_size", FALLOC_FL_KEEP_SIZE, 0, 4096 },
    { "punch_no_keep", FALLOC_FL_PUNCH_HOLE, 0, 4096 },
    { "punch_no_hide_stale", FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE | FALLOC_FL_NO_HIDE_STALE, 0, 4096 },
    { "punch_unaligned", FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 1, 4096 },
    { "punch_len_unaligned", FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 100 },
    { "punch_sector", FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 24576, 512 },
    { "punch_across_end", FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 61440, 8192 },
    { "punch_at_end", FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 65536, 512 },
    { "zero_range_across_end", FALLOC_FL_ZERO_RANGE, 57344, 8192 },
    { "zero_range_keep_across_end", FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 53248, 16384 },
    { "zero_range_at_end", FALLOC_FL_ZERO_RANGE, 65536, 512 },
    { "zero_range_past_end", FALLOC_FL_ZERO_RANGE, 61440, 8192 },
    { "len_zero", FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 0 },
    { "collapse", FALLOC_FL_COLLAPSE_RANGE, 0, 4096 },
    { "insert", FALLOC_FL_INSERT_RANGE, 0, 4096 },
    { "unshare", FALLOC_FL_UNSHARE_RANGE, 0, 4096 },
  };

  d = take_device (s, &n, O_RDWR);
  f = new_file (s, "f", 65536, 29, O_RDWR);
  if (d < 0 || f < 0)
    return;
  c = config (f, 0, 0, 0, "falloc");
  if (configure (s, "bind", d, n, &c) < 0)
    return;
  sync_fd (s, "fsync", d, false);
  sync_fd (s, "fdatasync", d, true);
  for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++)
    falloc (s, ops[k].label, d, ops[k].mode, ops[k].off, ops[k].len);
  sync_fd (s, "after_fsync", d, false);
  rd (s, "punched_dev", d, 0, 4096, ZEROS, 0);
  rd (s, "punched_file", f, 0, 4096, ZEROS, 0);
  rd (s, "zeroed_dev", d, 8192, 4096, ZEROS, 0);
  rd (s, "zeroed_file", f, 8192, 4096, ZEROS, 0);
  rd (s, "zeroed_keep_file", f, 16384, 4096, ZEROS, 0);
  rd (s, "sector_file", f, 24576, 512, ZEROS, 0);
  rd (s, "sector_next_file", f, 25088, 512, 29, 25088);
  rd (s, "kept_file", f, 4096, 4096, 29, 4096);
  rd (s, "tail_file", f, 53248, 12288, ZEROS, 0);
  BLK_GET (s, "size", d, BLKGETSIZE64, 8);
  rd (s, "read_past_end", d, 65536, 4096, ZEROS, 0);
  wr (s, "write_past_end", d, 65536, 512, 29, 0);
  {
    struct stat st;

    if (fstat (f, &st) == 0)
      say (s, "file_size", "fstat -> size=%jd", (intmax_t) st.st_size);
  }
  ro = open_dev (s, NULL, n, O_RDONLY);
  if (ro >= 0) {
    falloc (s, "ro_fd_punch", ro, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4096);
    sync_fd (s, "ro_fd_fsync", ro, false);
  }
}

/* EFAULT: pointers that cannot be read or written, for every pointer
 * ioctl, unbound and bound. */
static void
sc_bad_pointers (struct scen *s)
{
  int n, d, f;
  static const struct { const char *label; unsigned long cmd; } cmds[] = {
    { "LOOP_GET_STATUS64", LOOP_GET_STATUS64 }, { "LOOP_SET_STATUS64", LOOP_SET_STATUS64 },
    { "LOOP_GET_STATUS", LOOP_GET_STATUS }, { "LOOP_SET_STATUS", LOOP_SET_STATUS },
    { "BLKGETSIZE", BLKGETSIZE }, { "BLKGETSIZE64", BLKGETSIZE64 },
    { "BLKSSZGET", BLKSSZGET }, { "BLKBSZGET", BLKBSZGET },
    { "BLKPBSZGET", BLKPBSZGET }, { "BLKROGET", BLKROGET },
    { "BLKDISCARD", BLKDISCARD }, { "BLKZEROOUT", BLKZEROOUT },
  };
  static const struct { const char *label; uintptr_t ptr; } ptrs[] = {
    { "null", 0 }, { "one", 1 }, { "prot_none", 0 }, { "kernel", UINTPTR_MAX - 4095 },
  };

  d = take_device (s, &n, O_RDWR);
  f = new_file (s, "f", 65536, 30, O_RDWR);
  if (d < 0 || f < 0)
    return;
  for (int bound = 0; bound < 2; bound++) {
    if (bound) {
      IOC (s, "configure_ptr_one", d, LOOP_CONFIGURE, 1);
      if (set_fd (s, "bind", d, n, f) < 0)
        return;
    }
    for (size_t k = 0; k < sizeof cmds / sizeof cmds[0]; k++)
      for (size_t p = 0; p < sizeof ptrs / sizeof ptrs[0]; p++) {
        char l[64];
        uintptr_t ptr = strcmp (ptrs[p].label, "prot_none") == 0
          ? (uintptr_t) bad_page : ptrs[p].ptr;

        snprintf (l, sizeof l, "%s_%s", bound ? "bound" : "unbound", ptrs[p].label);
        do_ioctl (s, l, d, cmds[k].label, cmds[k].cmd, ptr);
      }
  }
  get_status64 (s, "intact", d, n);
}

/* The generic block ioctls (block/ioctl.c) on FD, prefixed by P. */
static void
blk_attrs (struct scen *s, const char *p, int fd)
{
  struct blk_zone_report report = { .sector = 0, .nr_zones = 0 };
  struct blk_zone_range zrange = { .sector = 0, .nr_sectors = 8 };
  struct hd_geometry geo;
  char l[64];

#define L(x) (snprintf (l, sizeof l, "%s%s", p, (x)), l)
  BLK_GET (s, L ("get"), fd, BLKRAGET, 8);
  BLK_GET (s, L ("get"), fd, BLKFRAGET, 8);
  BLK_GET (s, L ("get"), fd, BLKSECTGET, 2);
  BLK_GET (s, L ("get"), fd, BLKIOMIN, 4);
  BLK_GET (s, L ("get"), fd, BLKIOOPT, 4);
  BLK_GET (s, L ("get"), fd, BLKALIGNOFF, 4);
  BLK_GET (s, L ("get"), fd, BLKDISCARDZEROES, 4);
  BLK_GET (s, L ("get"), fd, BLKROTATIONAL, 2);
  BLK_GET (s, L ("get"), fd, BLKGETZONESZ, 4);
  BLK_GET (s, L ("get"), fd, BLKGETNRZONES, 4);
  BLK_GET (s, L ("get"), fd, BLKROGET, 4);
  IOC (s, L ("null"), fd, BLKRAGET, 0);
  IOC (s, L ("null"), fd, BLKFRAGET, 0);
  IOC (s, L ("zone"), fd, BLKREPORTZONE, &report);
  IOC (s, L ("zone"), fd, BLKRESETZONE, &zrange);
  IOC (s, L ("zone"), fd, BLKOPENZONE, &zrange);
  IOC (s, L ("zone"), fd, BLKCLOSEZONE, &zrange);
  IOC (s, L ("zone"), fd, BLKFINISHZONE, &zrange);
  IOC (s, L ("secdiscard"), fd, BLKSECDISCARD, &zrange);
  IOC (s, L ("geo"), fd, HDIO_GETGEO, &geo);
  IOC (s, L ("geo_null"), fd, HDIO_GETGEO, 0);
  IOC (s, L ("null"), fd, BLKGETDISKSEQ, 0);
  IOC (s, L ("null"), fd, BLKGETZONESZ, 0);
  IOC (s, L ("null"), fd, BLKSECTGET, 0);
  IOC (s, L ("null"), fd, BLKREPORTZONE, 0);
  IOC (s, L ("null"), fd, BLKRESETZONE, 0);
  IOC (s, L ("null"), fd, BLKBSZSET, 0);
#undef L
}

/* BLKGETDISKSEQ on FD compared with *SEQ: "changed" or "same" (the
 * absolute numbers differ between drivers), then remembered. */
static void
diskseq (struct scen *s, const char *label, int fd, uint64_t *seq)
{
  uint64_t now = 0;
  int r = ioctl (fd, BLKGETDISKSEQ, &now);

  if (r < 0)
    say (s, label, "BLKGETDISKSEQ -> %s", result (r, errno));
  else
    say (s, label, "BLKGETDISKSEQ -> %d %s", r,
         now == 0 ? "zero" : now == *seq ? "same" : "changed");
  *seq = now;
}

/* The setters of the block layer without CAP_SYS_ADMIN: a child drops
 * it from its effective set and tries each on the inherited FD. */
static void
blk_setters_unprivileged (struct scen *s, int fd)
{
  struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
  struct __user_cap_data_struct data[2];
  int zero = 0, status;
  pid_t pid;

  fflush (stdout);
  pid = fork ();
  if (pid < 0) {
    say (s, "unprivileged", "fork -> %s", result (-1, errno));
    return;
  }
  if (pid == 0) {
    if (syscall (SYS_capget, &hdr, data) == 0) {
      data[0].effective &= ~(1u << CAP_SYS_ADMIN);
      if (syscall (SYS_capset, &hdr, data) < 0)
        say (s, "unprivileged", "capset -> %s", result (-1, errno));
    }
    IOC (s, "unprivileged", fd, BLKRASET, 256);
    IOC (s, "unprivileged", fd, BLKFRASET, 256);
    IOC (s, "unprivileged", fd, BLKROSET, &zero);
    IOC (s, "unprivileged_bad", fd, BLKROSET, 1);
    IOC (s, "unprivileged", fd, BLKBSZSET, &(int) { 1024 });
    BLK_GET (s, "unprivileged", fd, BLKRAGET, 8);
    BLK_GET (s, "unprivileged", fd, BLKROGET, 4);
    fflush (stdout);
    _exit (0);
  }
  waitpid (pid, &status, 0);
}

/* Generic block ioctls, unbound and bound; read-ahead and BLKROSET
 * across binds; the disk sequence across LOOP_CLR_FD and LOOP_SET_FD. */
static void
sc_block_attrs (struct scen *s)
{
  int n, d, f, fro, dro, one = 1, zero = 0;
  struct blk_zone_range zrange = { .sector = 0, .nr_sectors = 8 };
  uint64_t seq = 0;

  d = take_device (s, &n, O_RDWR);
  f = new_file (s, "f", 65536, 41, O_RDWR);
  if (d < 0 || f < 0)
    return;
  blk_attrs (s, "unbound_", d);
  diskseq (s, "unbound_seq", d, &seq);
  diskseq (s, "unbound_seq_again", d, &seq);
  IOC (s, "unbound_raset", d, BLKRASET, 100);
  BLK_GET (s, "unbound_raset", d, BLKRAGET, 8);
  IOC (s, "unbound_roset", d, BLKROSET, &one);
  BLK_GET (s, "unbound_roset", d, BLKROGET, 4);
  IOC (s, "unbound_roset_bad", d, BLKROSET, 1);
  if (set_fd (s, "bind", d, n, f) < 0)
    return;
  diskseq (s, "bound_seq", d, &seq);
  BLK_GET (s, "bound_after_roset", d, BLKROGET, 4);
  wr (s, "bound_after_roset_write", d, 0, 4096, 42, 0);
  IOC (s, "bound_rwset", d, BLKROSET, &zero);
  blk_attrs (s, "bound_", d);
  wr (s, "bound_write", d, 0, 4096, 42, 0);
  IOC (s, "bound_raset", d, BLKRASET, 1024);
  BLK_GET (s, "bound_raset", d, BLKRAGET, 8);
  IOC (s, "bound_fraset", d, BLKFRASET, 4096);
  BLK_GET (s, "bound_fraset", d, BLKFRAGET, 8);
  BLK_GET (s, "bound_fraset", d, BLKRAGET, 8);
  IOC (s, "bound_bszset", d, BLKBSZSET, &(int) { 1024 });
  BLK_GET (s, "bound_bszset", d, BLKBSZGET, 4);
  IOC (s, "bound_bszset_odd", d, BLKBSZSET, &(int) { 1000 });
  IOC (s, "bound_bszset_big", d, BLKBSZSET, &(int) { 131072 });
  IOC (s, "bound_bszset_small", d, BLKBSZSET, &(int) { 256 });
  BLK_GET (s, "bound_bszset_kept", d, BLKBSZGET, 4);
  IOC (s, "bound_roset", d, BLKROSET, &one);
  BLK_GET (s, "bound_roset", d, BLKROGET, 4);
  wr (s, "bound_roset_write", d, 0, 4096, 43, 0);
  rd (s, "bound_roset_read", d, 0, 4096, 42, 0);
  BLK_RANGE (s, "bound_roset_discard", d, BLKDISCARD, 0, 4096);
  BLK_RANGE (s, "bound_roset_zeroout", d, BLKZEROOUT, 0, 4096);
  dro = open_dev (s, "bound_roset_open_rw", n, O_RDWR);
  close_fd (s, dro);
  dro = open_dev (s, NULL, n, O_RDONLY);
  if (dro >= 0) {
    IOC (s, "ro_fd_secdiscard", dro, BLKSECDISCARD, 0);
    IOC (s, "ro_fd_zone", dro, BLKRESETZONE, &zrange);
    IOC (s, "ro_fd_roset", dro, BLKROSET, &zero);
    BLK_GET (s, "ro_fd_roset", dro, BLKROGET, 4);
    IOC (s, "ro_fd_roset_again", dro, BLKROSET, &one);
    close_fd (s, dro);
  }
  blk_setters_unprivileged (s, d);
  diskseq (s, "bound_seq_again", d, &seq);

  /* Clear and rebind: which attributes the kernel resets. */
  IOC (s, "clr", d, LOOP_CLR_FD, 0);
  diskseq (s, "rundown_seq", d, &seq);
  close_fd (s, d);
  d = open_dev (s, NULL, n, O_RDWR);
  if (d < 0)
    return;
  diskseq (s, "cleared_seq", d, &seq);
  BLK_GET (s, "cleared", d, BLKROGET, 4);
  BLK_GET (s, "cleared", d, BLKRAGET, 8);
  fro = open_file (s, "f", O_RDONLY);
  if (fro < 0 || set_fd (s, "rebind_ro_file", d, n, fro) < 0)
    return;
  diskseq (s, "rebind_seq", d, &seq);
  BLK_GET (s, "rebind", d, BLKROGET, 4);
  BLK_GET (s, "rebind", d, BLKRAGET, 8);
  BLK_GET (s, "rebind", d, BLKROTATIONAL, 2);
  IOC (s, "rebind_raset", d, BLKRASET, 1024);
  IOC (s, "change_fd", d, LOOP_CHANGE_FD, open_file (s, "f", O_RDONLY));
  diskseq (s, "change_fd_seq", d, &seq);
  BLK_GET (s, "change_fd", d, BLKRAGET, 8);
  IOC (s, "rebind_rwset", d, BLKROSET, &zero);
  BLK_GET (s, "rebind_rwset", d, BLKROGET, 4);
  wr (s, "rebind_rwset_write", d, 0, 4096, 44, 0);
  if (reset_dev (s, &d, n, O_RDWR) < 0)
    return;
  diskseq (s, "reset_seq", d, &seq);
  if (set_fd (s, "rebind_rw", d, n, f) < 0)
    return;
  diskseq (s, "rebind_rw_seq", d, &seq);
  BLK_GET (s, "rebind_rw", d, BLKROGET, 4);
  wr (s, "rebind_rw_write", d, 0, 4096, 44, 0);
  rd (s, "rebind_rw_read", d, 0, 4096, 44, 0);
  IOC (s, "rebind_rw_raset", d, BLKRASET, 1024);
  IOC (s, "capacity", d, LOOP_SET_CAPACITY, 0);
  diskseq (s, "capacity_seq", d, &seq);
  BLK_GET (s, "capacity", d, BLKRAGET, 8);
  IOC (s, "same_block_size", d, LOOP_SET_BLOCK_SIZE, 512);
  BLK_GET (s, "same_block_size", d, BLKRAGET, 8);
  IOC (s, "block_size", d, LOOP_SET_BLOCK_SIZE, 4096);
  diskseq (s, "block_size_seq", d, &seq);
  BLK_GET (s, "block_size", d, BLKRAGET, 8);
  BLK_GET (s, "block_size", d, BLKIOMIN, 4);
  BLK_GET (s, "block_size", d, BLKSECTGET, 2);
}

/* Write-zeroes on a backing file without zero ranges (tmpfs, under
 * $LOOP_SCENARIOS_TMPFS): the first zero range turns write-zeroes off
 * for the device, so a punch through fallocate fails until a new bind
 * or block size; zero ranges and discards still work. */
static void
sc_zero_tmpfs (struct scen *s)
{
  const int punch = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
  const char *dir = getenv ("LOOP_SCENARIOS_TMPFS");
  char saved[sizeof tmpdir];
  struct loop_config c;
  int n, d, f;

  if (dir == NULL || strlen (dir) >= sizeof tmpdir) {
    say (s, "skipped", "no tmpfs given -> 0");
    return;
  }
  d = take_device (s, &n, O_RDWR);
  memcpy (saved, tmpdir, sizeof tmpdir);
  strcpy (tmpdir, dir);
  f = new_file (s, "f", 65536, 51, O_RDWR);
  memcpy (tmpdir, saved, sizeof tmpdir);
  if (d < 0 || f < 0)
    return;
  c = config (f, 0, 0, 0, "tmpfs");
  if (configure (s, "bind", d, n, &c) < 0)
    return;
  falloc (s, "punch_first", d, punch, 0, 4096);
  falloc (s, "zero_range", d, FALLOC_FL_ZERO_RANGE, 8192, 4096);
  falloc (s, "punch_after_zero_range", d, punch, 4096, 4096);
  falloc (s, "zero_range_again", d, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, 16384, 4096);
  BLK_RANGE (s, "zeroout", d, BLKZEROOUT, 24576, 4096);
  BLK_RANGE (s, "discard", d, BLKDISCARD, 32768, 4096);
  rd (s, "punched", d, 0, 4096, ZEROS, 0);
  rd (s, "kept", d, 4096, 4096, 51, 4096);
  rd (s, "zeroed", d, 8192, 4096, ZEROS, 0);
  rd (s, "zeroed_file", f, 8192, 4096, ZEROS, 0);
  rd (s, "zeroed_keep", d, 16384, 4096, ZEROS, 0);
  rd (s, "zeroout", d, 24576, 4096, ZEROS, 0);
  rd (s, "discarded_file", f, 32768, 4096, ZEROS, 0);
  rd (s, "tail", d, 36864, 4096, 51, 36864);
  IOC (s, "capacity", d, LOOP_SET_CAPACITY, 0);
  falloc (s, "punch_after_capacity", d, punch, 4096, 4096);
  IOC (s, "same_block_size", d, LOOP_SET_BLOCK_SIZE, 512);
  falloc (s, "punch_after_same_block_size", d, punch, 4096, 4096);
  IOC (s, "dio", d, LOOP_SET_DIRECT_IO, 0);
  falloc (s, "punch_after_dio", d, punch, 4096, 4096);
  IOC (s, "block_size", d, LOOP_SET_BLOCK_SIZE, 4096);
  falloc (s, "punch_after_block_size", d, punch, 4096, 4096);
  BLK_RANGE (s, "zeroout_again", d, BLKZEROOUT, 40960, 4096);
  falloc (s, "punch_after_zeroout", d, punch, 4096, 4096);
  if (reset_dev (s, &d, n, O_RDWR) < 0 || set_fd (s, "rebind", d, n, f) < 0)
    return;
  falloc (s, "punch_after_rebind", d, punch, 4096, 4096);
  falloc (s, "zero_range_after_rebind", d, FALLOC_FL_ZERO_RANGE, 8192, 4096);
  falloc (s, "punch_after_second_zero_range", d, punch, 4096, 4096);
  rd (s, "punched_after_rebind", d, 4096, 4096, ZEROS, 0);
}

/* What differs for 32-bit callers (run by both builds; the conformance
 * test compares each build with the kernel): the old struct's
 * LOOP_SET_STATUS without permission, the block size and size numbers
 * of either width, and BLKGETSIZE past 2^32 sectors. */
static void
sc_compat (struct scen *s)
{
  struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
  struct __user_cap_data_struct data[2];
  struct loop_info info;
  int n, d, f, big, status;
  pid_t pid;

  d = take_device (s, &n, O_RDWR);
  f = new_file (s, "f", 65536, 61, O_RDWR);
  if (d < 0 || f < 0 || set_fd (s, "bind", d, n, f) < 0)
    return;
  IOC (s, "bsz", d, BLKBSZSET, &(int) { 1024 });
  BLK_GET (s, "bsz", d, _IOR (0x12, 112, uint32_t), 8);
  BLK_GET (s, "bsz", d, _IOR (0x12, 112, uint64_t), 8);
  BLK_GET (s, "size64", d, _IOR (0x12, 114, uint32_t), 8);
  BLK_GET (s, "size64", d, _IOR (0x12, 114, uint64_t), 8);
  IOC (s, "bszset32", d, _IOW (0x12, 113, uint32_t), &(int) { 2048 });
  IOC (s, "bszset64", d, _IOW (0x12, 113, uint64_t), &(int) { 2048 });
  BLK_GET (s, "bszset", d, BLKBSZGET, 8);
  BLK_GET (s, "ssz", d, BLKSSZGET, 8);
  memset (&info, 0, sizeof info);
  if (ioctl (d, LOOP_GET_STATUS, &info) < 0)
    say (s, "get_status", "LOOP_GET_STATUS -> %s", result (-1, errno));
  info.lo_offset = 512;
  fflush (stdout);
  pid = fork ();
  if (pid < 0) {
    say (s, "unprivileged", "fork -> %s", result (-1, errno));
    return;
  }
  if (pid == 0) {
    /* A read-only descriptor without CAP_SYS_ADMIN. */
    int ro = open_dev (s, NULL, n, O_RDONLY);

    if (syscall (SYS_capget, &hdr, data) == 0) {
      data[0].effective &= ~(1u << CAP_SYS_ADMIN);
      if (syscall (SYS_capset, &hdr, data) < 0)
        say (s, "unprivileged", "capset -> %s", result (-1, errno));
    }
    IOC (s, "unprivileged", ro, LOOP_SET_STATUS, &info);
    IOC (s, "unprivileged", ro, LOOP_SET_STATUS64, &(struct loop_info64) { 0 });
    IOC (s, "unprivileged", ro, LOOP_SET_CAPACITY, 0);
    fflush (stdout);
    _exit (0);
  }
  waitpid (pid, &status, 0);
  get_status (s, "after_unprivileged", d, n);

  /* 2^32 sectors and one more: BLKGETSIZE's long is too small for a
   * 32-bit caller. */
  big = new_file (s, "big", (UINT64_C (1) << 41) + 4096, ZEROS, O_RDWR);
  if (big < 0 || reset_dev (s, &d, n, O_RDWR) < 0 || set_fd (s, "bind_big", d, n, big) < 0)
    return;
  BLK_GET (s, "big", d, BLKGETSIZE, 8);
  BLK_GET (s, "big", d, BLKGETSIZE64, 8);
}

typedef void (*scenario_fn) (struct scen *);

static const struct {
  const char *name;
  scenario_fn fn;
} scenarios[] = {
  { "ctl_get_free", sc_ctl_get_free },
  { "ctl_add", sc_ctl_add },
  { "ctl_remove", sc_ctl_remove },
  { "ctl_unknown", sc_ctl_unknown },
  { "dev_unknown", sc_dev_unknown },
  { "unbound", sc_unbound },
  { "set_fd", sc_set_fd },
  { "set_fd_errors", sc_set_fd_errors },
  { "backing_loop", sc_backing_loop },
  { "backing_modes", sc_backing_modes },
  { "configure", sc_configure },
  { "status64", sc_status64 },
  { "status_old", sc_status_old },
  { "change_fd", sc_change_fd },
  { "capacity", sc_capacity },
  { "block_size", sc_block_size },
  { "direct_io", sc_direct_io },
  { "rundown", sc_rundown },
  { "autoclear", sc_autoclear },
  { "readonly", sc_readonly },
  { "discard", sc_discard },
  { "data", sc_data },
  { "fallocate", sc_fallocate },
  { "bad_pointers", sc_bad_pointers },
  { "block_attrs", sc_block_attrs },
  { "zero_tmpfs", sc_zero_tmpfs },
  { "compat", sc_compat },
};

/* Run scenario K with fresh bookkeeping and give everything back. */
static void
run_scenario (size_t k)
{
  struct scen s = { .name = scenarios[k].name, .ctl = -1 };

  s.ctl = open ("/dev/loop-control", O_RDWR | O_CLOEXEC);
  if (s.ctl < 0) {
    say (&s, "setup", "open(loop-control) -> %s", result (-1, errno));
    return;
  }
  scenarios[k].fn (&s);
  fflush (stdout);
  scen_cleanup (&s);
}

/* nftw callback removing one entry of the temporary directory. */
static int
remove_entry (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void) st;
  (void) flag;
  (void) ftw;
  return remove (path);
}

/* Print the usage message to FP. */
static void
usage (FILE *fp)
{
  fprintf (fp, "usage: loop-scenarios [--only NAME] [--list]\n");
}

/* Parse the options, find out which driver /dev/loop-control belongs
 * to, and run the scenarios in order inside one temporary directory. */
int
main (int argc, char *argv[])
{
  static const struct option long_options[] = {
    { "only", required_argument, NULL, 'o' },
    { "list", no_argument, NULL, 'l' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  const char *only = NULL, *base;
  struct stat st;
  bool found = false;
  int c;

  while ((c = getopt_long (argc, argv, "o:lh", long_options, NULL)) != -1) {
    switch (c) {
    case 'o':
      only = optarg;
      break;
    case 'l':
      for (size_t k = 0; k < sizeof scenarios / sizeof scenarios[0]; k++)
        printf ("%s\n", scenarios[k].name);
      return EXIT_SUCCESS;
    case 'h':
      usage (stdout);
      return EXIT_SUCCESS;
    default:
      usage (stderr);
      return EXIT_FAILURE;
    }
  }
  if (optind != argc) {
    usage (stderr);
    return EXIT_FAILURE;
  }

  if (stat ("/dev/loop-control", &st) < 0) {
    perror ("/dev/loop-control");
    return EXIT_FAILURE;
  }
  kernel_mode = S_ISCHR (st.st_mode);
  find_device_dir ();
  fprintf (stderr, "loop-scenarios: %s loop driver, devices in %s\n",
           kernel_mode ? "kernel" : "loopfs", device_dir);

  bad_page = mmap (NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (bad_page == MAP_FAILED) {
    perror ("mmap");
    return EXIT_FAILURE;
  }
  base = getenv ("TMPDIR");
  if (base && strlen (base) > 200) {
    fprintf (stderr, "loop-scenarios: TMPDIR is too long\n");
    return EXIT_FAILURE;
  }
  snprintf (tmpdir, sizeof tmpdir, "%s/loop-scenarios.XXXXXX", base && *base ? base : "/tmp");
  if (mkdtemp (tmpdir) == NULL) {
    perror ("mkdtemp");
    return EXIT_FAILURE;
  }
  setvbuf (stdout, NULL, _IOLBF, 0);

  for (size_t k = 0; k < sizeof scenarios / sizeof scenarios[0]; k++) {
    if (only && strcmp (only, scenarios[k].name) != 0)
      continue;
    found = true;
    run_scenario (k);
  }

  nftw (tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  if (!found) {
    fprintf (stderr, "loop-scenarios: no scenario named %s\n", only);
    return EXIT_FAILURE;
  }
  return EXIT_SUCCESS;
}
