/* hostile-caller: ioctl callers that once confused or hung loopfsd, for
 * tests/integration/test-hostile-callers.sh.
 *
 *   hostile-caller mmap-arg DEV MAPPED
 *       Every ioctl on DEV that reads or writes a struct in the
 *       caller's memory, with the struct inside a fresh MAP_PRIVATE
 *       mapping of MAPPED (a bound device of the same instance: loopfsd
 *       itself must serve the page before the copy can end), then
 *       again with a heap copy of the same bytes.  Prints a line per
 *       ioctl, "NAME RESULT same" when both calls gave the same result
 *       (and wrote the same bytes), else "NAME RESULT differ HEAP".
 *   hostile-caller thread-fd DEV FILE1 FILE2
 *       LOOP_SET_FD on DEV from a thread with a descriptor table of its
 *       own, in which the number that is FILE1 in the process's table
 *       is FILE2; prints the lo_inode the device got and FILE2's inode.
 *
 * A failure prints the errno name and exits 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/fs.h>
#include <linux/loop.h>

#define PAGE 4096

/* A result as the tests print it: "0" or the errno's name. */
static const char *
result_name (int r, int err)
{
  static char buf[32];

  if (r >= 0) {
    snprintf (buf, sizeof buf, "%d", r);
    return buf;
  }
  snprintf (buf, sizeof buf, "%s", strerrorname_np (err));
  return buf;
}

/* One ioctl to try: its struct's size and whether the kernel writes it
 * (else reads it). */
static const struct {
  const char *name;
  unsigned long cmd;
  size_t size;
  bool out;
} calls[] = {
  { "LOOP_SET_STATUS64", LOOP_SET_STATUS64, sizeof (struct loop_info64), false },
  { "LOOP_SET_STATUS", LOOP_SET_STATUS, sizeof (struct loop_info), false },
  { "LOOP_CONFIGURE", LOOP_CONFIGURE, sizeof (struct loop_config), false },
  { "BLKDISCARD", BLKDISCARD, 2 * sizeof (uint64_t), false },
  { "BLKZEROOUT", BLKZEROOUT, 2 * sizeof (uint64_t), false },
  { "LOOP_GET_STATUS64", LOOP_GET_STATUS64, sizeof (struct loop_info64), true },
  { "LOOP_GET_STATUS", LOOP_GET_STATUS, sizeof (struct loop_info), true },
  { "BLKGETSIZE", BLKGETSIZE, sizeof (unsigned long), true },
  { "BLKSSZGET", BLKSSZGET, sizeof (int), true },
  { "BLKPBSZGET", BLKPBSZGET, sizeof (int), true },
  { "BLKROGET", BLKROGET, sizeof (int), true },
};

#define N_CALLS (sizeof calls / sizeof calls[0])

/* mmap-arg DEV MAPPED. */
static int
cmd_mmap_arg (char **argv)
{
  int dev = open (argv[0], O_RDWR | O_CLOEXEC);
  int mapped = open (argv[1], O_RDONLY | O_CLOEXEC);
  char *map;
  size_t i;

  if (dev < 0 || mapped < 0)
    return -errno;
  /* One untouched page per call, so that every call faults. */
  map = mmap (NULL, N_CALLS * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE,
              mapped, 0);
  if (map == MAP_FAILED)
    return -errno;
  for (i = 0; i < N_CALLS; i++) {
    char *arg = map + i * PAGE;
    char heap[PAGE], written[PAGE];
    int r1, e1, r2, e2;
    char name1[32];

    r1 = ioctl (dev, calls[i].cmd, arg);
    e1 = errno;
    memcpy (written, arg, calls[i].size);
    memcpy (heap, arg, calls[i].size);
    if (calls[i].out)
      memset (heap, 0xa5, calls[i].size);
    r2 = ioctl (dev, calls[i].cmd, heap);
    e2 = errno;
    snprintf (name1, sizeof name1, "%s", result_name (r1, e1));
    if (strcmp (name1, result_name (r2, e2)) == 0
        && (!calls[i].out || r1 < 0
            || memcmp (written, heap, calls[i].size) == 0))
      printf ("%s %s same\n", calls[i].name, name1);
    else
      printf ("%s %s differ %s\n", calls[i].name, name1,
              result_name (r2, e2));
  }
  munmap (map, N_CALLS * PAGE);
  close (mapped);
  close (dev);
  return 0;
}

struct thread_fd_args {
  int dev;
  int number;                   /* FILE1 in the process's table */
  const char *file2;
  int result;
};

/* The thread: a table of its own, where NUMBER becomes FILE2. */
static void *
thread_fd_main (void *opaque)
{
  struct thread_fd_args *a = opaque;
  int fd;

  if (unshare (CLONE_FILES) < 0) {
    a->result = -errno;
    return NULL;
  }
  close (a->number);
  fd = open (a->file2, O_RDWR | O_CLOEXEC);
  if (fd != a->number) {
    a->result = fd < 0 ? -errno : -EBADFD;
    return NULL;
  }
  a->result = ioctl (a->dev, LOOP_SET_FD, fd) < 0 ? -errno : 0;
  return NULL;
}

/* thread-fd DEV FILE1 FILE2. */
static int
cmd_thread_fd (char **argv)
{
  struct thread_fd_args a = { .file2 = argv[2] };
  struct loop_info64 info;
  struct stat st;
  pthread_t thread;

  a.dev = open (argv[0], O_RDWR | O_CLOEXEC);
  a.number = open (argv[1], O_RDWR | O_CLOEXEC);
  if (a.dev < 0 || a.number < 0 || stat (argv[2], &st) < 0)
    return -errno;
  if (pthread_create (&thread, NULL, thread_fd_main, &a) != 0)
    return -EAGAIN;
  pthread_join (thread, NULL);
  if (a.result < 0)
    return a.result;
  if (ioctl (a.dev, LOOP_GET_STATUS64, &info) < 0)
    return -errno;
  printf ("bound=%" PRIu64 " file2=%" PRIu64 "\n", (uint64_t) info.lo_inode,
          (uint64_t) st.st_ino);
  return 0;
}

int
main (int argc, char **argv)
{
  int r;

  if (argc == 4 && strcmp (argv[1], "mmap-arg") == 0)
    r = cmd_mmap_arg (argv + 2);
  else if (argc == 5 && strcmp (argv[1], "thread-fd") == 0)
    r = cmd_thread_fd (argv + 2);
  else {
    fprintf (stderr, "usage: hostile-caller mmap-arg DEV MAPPED\n"
             "       hostile-caller thread-fd DEV FILE1 FILE2\n");
    return 2;
  }
  if (r < 0) {
    printf ("%s\n", strerrorname_np (-r));
    return 1;
  }
  return 0;
}
