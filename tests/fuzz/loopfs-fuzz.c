/* loopfs-fuzz: attack a running loopfs instance with random ioctls,
 * descriptors, pointers and concurrent I/O, and report what broke.
 *
 *   loopfs-fuzz --instance DIR --pid PID [--other DIR] [--overlay DIR]
 *               [--log FILE] [--backing FILE] [--seconds N | --minutes N]
 *               [--seed S] [--threads N] [--processes N]
 *
 * Several processes (--processes) of several threads (--threads) each
 * pick, at random and for the whole run: an ioctl (LOOP_*, LOOP_CTL_*,
 * BLK*, random numbers) with a random argument from the table of
 * pointer kinds on a random descriptor of their own table (the
 * instance's nodes, the same nodes through the overlay, the other
 * instance's nodes, closed numbers, O_PATH descriptors, directories,
 * sockets, pipes); an open or close of such a descriptor; a read,
 * write or fallocate; a LOOP_CTL_ADD/REMOVE storm; or an unlink of a
 * node.  The other instance's nodes are only ever used as arguments,
 * never as the target, so any change of its devices is a finding.
 *
 * Findings: a call that takes more than 5 s (the daemon hung: the
 * report names the call and the run stops), the daemon (--pid) gone, a
 * sanitizer report in its log (--log), a device of the other instance
 * (--other) changed.  The exit status is 0 without findings, 1 with,
 * 2 for a usage error.  Counts of calls per kind are printed at the
 * end.
 *
 * The calls that take hostile pointers are raw system calls: in the
 * sanitizer build, ASan's wrappers of ioctl, pread and pwrite would
 * touch those pointers themselves and crash the fuzzer, not the
 * daemon.
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "fuzz-worker.h"
#include "monotonic-time.h"

#define SLOW_CALL_MS 5000
#define MAX_THREADS 64
#define NODE_RANGE 8            /* loop0..loop7 are attacked */

/* What a worker does, for the counters. */
enum call_kind {
  CALL_IOCTL, CALL_OPEN, CALL_CLOSE, CALL_READ, CALL_WRITE, CALL_FALLOCATE,
  CALL_CTL_ADD, CALL_CTL_REMOVE, CALL_UNLINK, N_CALL_KINDS,
};

static const char *const call_names[N_CALL_KINDS] = {
  "ioctl", "open", "close", "read", "write", "fallocate",
  "ctl-add", "ctl-remove", "unlink",
};

/* One worker's current call, watched for slowness. */
struct call_slot {
  _Atomic uint64_t started_ms;  /* 0 when not in a call */
  _Atomic unsigned kind;
  _Atomic unsigned long cmd;
  _Atomic int pid;
};

/* Shared between the processes (MAP_SHARED). */
struct shared {
  _Atomic uint64_t calls[N_CALL_KINDS];
  _Atomic uint64_t failed[N_CALL_KINDS];
  _Atomic uint64_t binds;       /* LOOP_SET_FD / LOOP_CONFIGURE that worked */
  _Atomic bool stop;
  struct call_slot slots[MAX_THREADS * 8];
};

static struct shared *shared;
static const char *instance, *other, *overlay, *daemon_log, *backing;
static pid_t daemon_pid;
static uint64_t deadline_ms;
static unsigned n_threads = 3, n_processes = 2;
static unsigned long seed;


/* The ioctls tried; a random number is added at run time. */
static const unsigned long ioctls[] = {
  LOOP_SET_FD, LOOP_CLR_FD, LOOP_SET_STATUS, LOOP_GET_STATUS,
  LOOP_SET_STATUS64, LOOP_GET_STATUS64, LOOP_CHANGE_FD, LOOP_SET_CAPACITY,
  LOOP_SET_DIRECT_IO, LOOP_SET_BLOCK_SIZE, LOOP_CONFIGURE,
  LOOP_CTL_ADD, LOOP_CTL_REMOVE, LOOP_CTL_GET_FREE,
  BLKGETSIZE, BLKGETSIZE64, BLKSSZGET, BLKBSZGET, BLKBSZSET, BLKPBSZGET,
  BLKIOMIN, BLKIOOPT, BLKROGET, BLKROSET, BLKFLSBUF, BLKDISCARD,
  BLKZEROOUT, BLKSECDISCARD, BLKRRPART, BLKRAGET, BLKRASET,
  BLKALIGNOFF, BLKDISCARDZEROES,
};
#define N_IOCTLS (sizeof ioctls / sizeof ioctls[0])

/* Open a random descriptor into slot I of W's table: a node of the
 * instance (directly or through the overlay), one of the other
 * instance (only ever an argument), the backing file, or something
 * hostile.  A closed number stays when the open fails. */
static void
open_random (struct worker *w, unsigned i)
{
  static const int modes[] = { O_RDONLY, O_RDWR, O_WRONLY, O_PATH,
                               O_RDWR | O_APPEND, O_RDONLY | O_DIRECT };
  char path[4096];
  const char *dir = instance;
  int fd = -1, sv[2];
  unsigned what = below (w, 10);

  if (w->fds[i] >= 0) {
    close (w->fds[i]);
    w->fds[i] = -1;
  }
  w->is_other[i] = what == 0 && other;
  if (what == 0 && other)
    dir = other;
  else if (what == 1 && overlay)
    dir = overlay;
  switch (what) {
  case 6:
    fd = open (backing, O_RDWR | O_CLOEXEC);
    break;
  case 7:
    fd = open (instance, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    break;
  case 8:
    if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0) {
      close (sv[1]);
      fd = sv[0];
    }
    break;
  case 9:
    if (pipe2 (sv, O_CLOEXEC) == 0) {
      /* One end, its other end closed.  (Telling afterwards which end
       * is still open raced with the other threads: a number just
       * closed could already be another thread's new descriptor, one
       * of the other instance's nodes, which then became a target.) */
      unsigned keep = below (w, 2);
      close (sv[1 - keep]);
      fd = sv[keep];
    }
    break;
  default:
    if (below (w, 4) == 0)
      snprintf (path, sizeof path, "%s/loop-control", dir);
    else
      snprintf (path, sizeof path, "%s/loop%u", dir, below (w, NODE_RANGE));
    fd = open (path, modes[below (w, sizeof modes / sizeof modes[0])]
               | O_CLOEXEC | O_NONBLOCK);
    break;
  }
  w->fds[i] = fd;
}

/* Mark the start of a call of KIND (CMD for ioctls) in W's slot. */
static void
call_begin (struct worker *w, enum call_kind kind, unsigned long cmd)
{
  atomic_store (&w->slot->kind, kind);
  atomic_store (&w->slot->cmd, cmd);
  atomic_store (&w->slot->started_ms, monotonic_ms ());
}

/* Mark its end, counting it and whether it failed. */
static void
call_end (struct worker *w, enum call_kind kind, long r)
{
  atomic_store (&w->slot->started_ms, 0);
  atomic_fetch_add (&shared->calls[kind], 1);
  if (r < 0)
    atomic_fetch_add (&shared->failed[kind], 1);
}

/* A random descriptor of W's table to call on: anything but the other
 * instance's nodes (-1, a closed number, in their place). */
static int
random_target (struct worker *w)
{
  unsigned i = below (w, FDS_PER_THREAD);

  return w->is_other[i] ? -1 : w->fds[i];
}

/* Bind a random device of the instance with a valid LOOP_CONFIGURE
 * (random offset, size limit, block size and flags) and keep its
 * descriptor in a random slot, so that the other actions meet bound
 * devices too: random arguments alone almost never bind one. */
static void
bind_random (struct worker *w)
{
  static const uint32_t flags[] = {
    0, LO_FLAGS_READ_ONLY, LO_FLAGS_AUTOCLEAR, LO_FLAGS_PARTSCAN,
    LO_FLAGS_DIRECT_IO,
  };
  static const uint32_t block_sizes[] = { 0, 512, 1024, 4096 };
  struct loop_config config = { 0 };
  unsigned n = below (w, NODE_RANGE), slot = below (w, FDS_PER_THREAD);
  char path[4096];
  int ctl, fd, backing_fd;
  long r;

  snprintf (path, sizeof path, "%s/loop-control", instance);
  if ((ctl = open (path, O_RDWR | O_CLOEXEC)) >= 0) {
    ioctl (ctl, LOOP_CTL_ADD, (long) n);
    close (ctl);
  }
  snprintf (path, sizeof path, "%s/loop%u", instance, n);
  fd = open (path, O_RDWR | O_CLOEXEC);
  backing_fd = open (backing, O_RDWR | O_CLOEXEC);
  config.fd = backing_fd;
  config.block_size = block_sizes[below (w, 4)];
  config.info.lo_offset = below (w, 2) ? 0 : below (w, 64) * 4096;
  config.info.lo_sizelimit = below (w, 2) ? 0 : below (w, 256) * 4096;
  config.info.lo_flags = flags[below (w, 5)];
  call_begin (w, CALL_IOCTL, LOOP_CONFIGURE);
  r = ioctl (fd, LOOP_CONFIGURE, &config);
  call_end (w, CALL_IOCTL, r);
  if (r == 0)
    atomic_fetch_add (&shared->binds, 1);
  else if (errno == EBUSY) {
    /* Bound already: unbind it, for the next bind's sake. */
    call_begin (w, CALL_IOCTL, LOOP_CLR_FD);
    r = ioctl (fd, LOOP_CLR_FD, 0);
    call_end (w, CALL_IOCTL, r);
  }
  if (backing_fd >= 0)
    close (backing_fd);
  if (w->fds[slot] >= 0)
    close (w->fds[slot]);
  w->fds[slot] = fd;
  w->is_other[slot] = false;
}

/* One random action. */
static void
act (struct worker *w)
{
  unsigned action = below (w, 100);
  int fd = random_target (w);
  char path[4096];
  long r;

  if (action < 5)
    bind_random (w);
  else if (action < 50) {
    unsigned long cmd = below (w, 8) == 0 ? (unsigned long) rnd (w)
      : ioctls[below (w, N_IOCTLS)];
    void *arg = pointer_kinds[below (w, n_pointer_kinds)].make (w);

    call_begin (w, CALL_IOCTL, cmd);
    r = syscall (SYS_ioctl, fd, cmd, arg);
    call_end (w, CALL_IOCTL, r);
    /* Whether the bound-device paths were reached at all. */
    if (r == 0 && (cmd == LOOP_SET_FD || cmd == LOOP_CONFIGURE))
      atomic_fetch_add (&shared->binds, 1);
  }
  else if (action < 65) {
    unsigned i = below (w, FDS_PER_THREAD);

    call_begin (w, CALL_OPEN, 0);
    open_random (w, i);
    call_end (w, CALL_OPEN, w->fds[i]);
  }
  else if (action < 70) {
    unsigned i = below (w, FDS_PER_THREAD);

    call_begin (w, CALL_CLOSE, 0);
    r = w->fds[i] >= 0 ? close (w->fds[i]) : -1;
    w->fds[i] = -1;
    call_end (w, CALL_CLOSE, r);
  }
  else if (action < 90) {
    static const size_t sizes[] = { 1, 512, 4096, 65536, 1 << 20 };
    size_t size = sizes[below (w, sizeof sizes / sizeof sizes[0])];
    off_t offset = below (w, 2) ? (off_t) below (w, 1 << 14) * 4096
      : (off_t) (rnd (w) >> 1);
    void *buf = pointer_kinds[below (w, n_pointer_kinds)].make (w);
    void *big = NULL;

    /* A large transfer needs a real buffer half the time. */
    if (size > PAGE && below (w, 2)) {
      big = malloc (size);
      buf = big;
    }
    else if (size > PAGE)
      size = PAGE;
    if (action < 78) {
      call_begin (w, CALL_READ, 0);
      r = syscall (SYS_pread64, fd, buf, size, offset);
      call_end (w, CALL_READ, r);
    }
    else if (action < 86) {
      if (big)
        fill_random (w, big, size);
      call_begin (w, CALL_WRITE, 0);
      r = syscall (SYS_pwrite64, fd, buf, size, offset);
      call_end (w, CALL_WRITE, r);
    }
    else {
      static const int modes[] = {
        0, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE,
      };
      call_begin (w, CALL_FALLOCATE, 0);
      r = syscall (SYS_fallocate, fd, modes[below (w, 3)], offset, size);
      call_end (w, CALL_FALLOCATE, r);
    }
    free (big);
  }
  else if (action < 98) {
    /* An ADD/REMOVE storm on loop-control. */
    int ctl;

    snprintf (path, sizeof path, "%s/loop-control", instance);
    ctl = open (path, O_RDWR | O_CLOEXEC);
    for (unsigned n = 0; n < 16; n++) {
      bool add = below (w, 2);
      enum call_kind kind = add ? CALL_CTL_ADD : CALL_CTL_REMOVE;

      call_begin (w, kind, add ? LOOP_CTL_ADD : LOOP_CTL_REMOVE);
      r = ioctl (ctl, add ? LOOP_CTL_ADD : LOOP_CTL_REMOVE,
                 (long) below (w, NODE_RANGE * 2));
      call_end (w, kind, r);
    }
    if (ctl >= 0)
      close (ctl);
  }
  else {
    snprintf (path, sizeof path, "%s/loop%u", instance, below (w, NODE_RANGE));
    call_begin (w, CALL_UNLINK, 0);
    r = unlink (path);
    call_end (w, CALL_UNLINK, r);
  }
}

/* A worker thread: act until the deadline or a stop. */
static void *
work (void *arg)
{
  struct worker *w = arg;

  while (!atomic_load (&shared->stop) && (uint64_t) monotonic_ms () < deadline_ms)
    act (w);
  return NULL;
}

/* Set up worker number INDEX (its slot, seed, descriptors, pages). */
static int
worker_init (struct worker *w, unsigned index)
{
  w->rng = seed * 0x9E3779B97F4A7C15ull + index + 1;
  w->mapped = NULL;
  w->slot = &shared->slots[index];
  atomic_store (&w->slot->pid, getpid ());
  w->pages = mmap (NULL, 4 * PAGE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  w->unmapped = mmap (NULL, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
                      -1, 0);
  if (w->pages == MAP_FAILED || w->unmapped == MAP_FAILED)
    return -1;
  if (mprotect (w->pages + 2 * PAGE, PAGE, PROT_NONE) < 0 ||
      mprotect (w->pages + 3 * PAGE, PAGE, PROT_READ) < 0)
    return -1;
  for (unsigned i = 0; i < FDS_PER_THREAD; i++) {
    w->fds[i] = -1;
    open_random (w, i);
  }
  return 0;
}

/* A worker process: N_THREADS threads numbered from FIRST. */
static void __attribute__ ((noreturn))
run_process (unsigned first)
{
  pthread_t threads[MAX_THREADS];
  struct worker workers[MAX_THREADS];

  signal (SIGPIPE, SIG_IGN);
  for (unsigned t = 0; t < n_threads; t++) {
    if (worker_init (&workers[t], first + t) < 0 ||
        pthread_create (&threads[t], NULL, work, &workers[t]) != 0) {
      perror ("loopfs-fuzz: worker");
      _exit (2);
    }
  }
  for (unsigned t = 0; t < n_threads; t++)
    pthread_join (threads[t], NULL);
  _exit (0);
}

/* A snapshot of the other instance's devices: GET_STATUS64 of each
 * node, or the errno. */
struct other_state {
  int err[NODE_RANGE];
  struct loop_info64 info[NODE_RANGE];
};

/* Take the snapshot of the other instance into S. */
static void
snapshot_other (struct other_state *s)
{
  memset (s, 0, sizeof *s);
  for (unsigned i = 0; i < NODE_RANGE; i++) {
    char path[4096];
    int fd;

    snprintf (path, sizeof path, "%s/loop%u", other, i);
    fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      s->err[i] = errno;
      continue;
    }
    if (ioctl (fd, LOOP_GET_STATUS64, &s->info[i]) < 0)
      s->err[i] = errno;
    close (fd);
  }
}

/* True when the log holds a sanitizer report. */
static bool
sanitizer_report (void)
{
  char line[4096];
  bool found = false;
  FILE *f;

  if (daemon_log == NULL || (f = fopen (daemon_log, "re")) == NULL)
    return false;
  while (!found && fgets (line, sizeof line, f))
    found = strstr (line, "Sanitizer") || strstr (line, "runtime error:");
  fclose (f);
  return found;
}

/* Name of ioctl CMD for reports. */
static const char *
ioctl_name (unsigned long cmd)
{
  static const struct { unsigned long cmd; const char *name; } names[] = {
    { LOOP_SET_FD, "LOOP_SET_FD" }, { LOOP_CLR_FD, "LOOP_CLR_FD" },
    { LOOP_SET_STATUS, "LOOP_SET_STATUS" },
    { LOOP_GET_STATUS, "LOOP_GET_STATUS" },
    { LOOP_SET_STATUS64, "LOOP_SET_STATUS64" },
    { LOOP_GET_STATUS64, "LOOP_GET_STATUS64" },
    { LOOP_CHANGE_FD, "LOOP_CHANGE_FD" },
    { LOOP_SET_CAPACITY, "LOOP_SET_CAPACITY" },
    { LOOP_CONFIGURE, "LOOP_CONFIGURE" },
    { LOOP_CTL_ADD, "LOOP_CTL_ADD" }, { LOOP_CTL_REMOVE, "LOOP_CTL_REMOVE" },
    { LOOP_CTL_GET_FREE, "LOOP_CTL_GET_FREE" },
  };

  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (names[i].cmd == cmd)
      return names[i].name;
  return "another";
}

/* Watch the workers until they are done: report a slow call, a dead
 * daemon, a sanitizer report.  Returns the number of findings. */
static int
monitor (unsigned n_workers, pid_t *children)
{
  unsigned running = n_processes;
  int findings = 0;
  bool hung = false;

  while (running > 0) {
    int status;
    uint64_t now = monotonic_ms ();

    for (unsigned p = 0; p < n_processes; p++)
      if (children[p] > 0 && waitpid (children[p], &status, WNOHANG) > 0) {
        if (!WIFEXITED (status) || WEXITSTATUS (status) != 0) {
          fprintf (stderr, "loopfs-fuzz: FOUND: worker process %d ended "
                   "with status %#x\n", (int) children[p], status);
          findings++;
        }
        children[p] = 0;
        running--;
      }
    for (unsigned i = 0; i < n_workers && !hung; i++) {
      struct call_slot *slot = &shared->slots[i];
      uint64_t started = atomic_load (&slot->started_ms);

      if (started && started < now && now - started > SLOW_CALL_MS) {
        unsigned kind = atomic_load (&slot->kind);

        fprintf (stderr, "loopfs-fuzz: FOUND: a %s call (%s, cmd %#lx) of "
                 "process %d has not returned for %" PRIu64 " ms: the "
                 "daemon hangs\n", call_names[kind],
                 kind == CALL_IOCTL ? ioctl_name (atomic_load (&slot->cmd))
                 : "-", atomic_load (&slot->cmd), atomic_load (&slot->pid),
                 now - started);
        hung = true;
        findings++;
      }
    }
    if (hung) {
      /* A worker stuck in the kernel cannot be waited for. */
      atomic_store (&shared->stop, true);
      return findings;
    }
    if (daemon_pid > 0 && kill (daemon_pid, 0) < 0 && errno == ESRCH) {
      fprintf (stderr, "loopfs-fuzz: FOUND: the daemon (pid %d) died\n",
               (int) daemon_pid);
      atomic_store (&shared->stop, true);
      return findings + 1;
    }
    usleep (100 * 1000);
  }
  return findings;
}

/* Print usage on FP. */
static void
usage (FILE *fp)
{
  fputs ("Usage: loopfs-fuzz --instance DIR [--pid PID] [--other DIR]\n"
         "         [--overlay DIR] [--log FILE] [--backing FILE]\n"
         "         [--seconds N | --minutes N] [--seed S] [--threads N]\n"
         "         [--processes N]\n", fp);
}

int
main (int argc, char *argv[])
{
  static const struct option options[] = {
    { "instance", required_argument, NULL, 'i' },
    { "pid", required_argument, NULL, 'p' },
    { "other", required_argument, NULL, 'o' },
    { "overlay", required_argument, NULL, 'v' },
    { "log", required_argument, NULL, 'l' },
    { "backing", required_argument, NULL, 'b' },
    { "seconds", required_argument, NULL, 's' },
    { "minutes", required_argument, NULL, 'm' },
    { "seed", required_argument, NULL, 'S' },
    { "threads", required_argument, NULL, 't' },
    { "processes", required_argument, NULL, 'P' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  struct other_state before, after;
  pid_t children[MAX_THREADS];
  unsigned long seconds = 30;
  int c, findings;

  seed = (unsigned long) time (NULL);
  while ((c = getopt_long (argc, argv, "h", options, NULL)) != -1) {
    switch (c) {
    case 'i': instance = optarg; break;
    case 'p': daemon_pid = atoi (optarg); break;
    case 'o': other = optarg; break;
    case 'v': overlay = optarg; break;
    case 'l': daemon_log = optarg; break;
    case 'b': backing = optarg; break;
    case 's': seconds = strtoul (optarg, NULL, 10); break;
    case 'm': seconds = 60 * strtoul (optarg, NULL, 10); break;
    case 'S': seed = strtoul (optarg, NULL, 0); break;
    case 't': n_threads = atoi (optarg); break;
    case 'P': n_processes = atoi (optarg); break;
    case 'h': usage (stdout); return 0;
    default: usage (stderr); return 2;
    }
  }
  if (instance == NULL || n_threads < 1 || n_threads > MAX_THREADS ||
      n_processes < 1 || n_processes > 8 || optind != argc) {
    usage (stderr);
    return 2;
  }
  if (backing == NULL)
    backing = "/dev/null";
  printf ("loopfs-fuzz: seed %lu, %lu s, %u processes of %u threads\n",
          seed, seconds, n_processes, n_threads);
  fflush (stdout);

  shared = mmap (NULL, sizeof *shared, PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (shared == MAP_FAILED) {
    perror ("loopfs-fuzz: mmap");
    return 2;
  }
  if (other)
    snapshot_other (&before);
  deadline_ms = monotonic_ms () + seconds * 1000;
  for (unsigned p = 0; p < n_processes; p++) {
    children[p] = fork ();
    if (children[p] < 0) {
      perror ("loopfs-fuzz: fork");
      return 2;
    }
    if (children[p] == 0)
      run_process (p * n_threads);
  }
  findings = monitor (n_processes * n_threads, children);

  if (other) {
    snapshot_other (&after);
    for (unsigned i = 0; i < NODE_RANGE; i++)
      if (before.err[i] != after.err[i]
          || memcmp (&before.info[i], &after.info[i],
                     sizeof before.info[i]) != 0) {
        fprintf (stderr, "loopfs-fuzz: FOUND: %s/loop%u of the other "
                 "instance changed: errno %d -> %d, flags %#x -> %#x, "
                 "offset %llu -> %llu, sizelimit %llu -> %llu\n", other, i,
                 before.err[i], after.err[i], before.info[i].lo_flags,
                 after.info[i].lo_flags,
                 (unsigned long long) before.info[i].lo_offset,
                 (unsigned long long) after.info[i].lo_offset,
                 (unsigned long long) before.info[i].lo_sizelimit,
                 (unsigned long long) after.info[i].lo_sizelimit);
        findings++;
      }
  }
  if (sanitizer_report ()) {
    fprintf (stderr, "loopfs-fuzz: FOUND: a sanitizer report in %s\n",
             daemon_log);
    findings++;
  }
  for (unsigned k = 0; k < N_CALL_KINDS; k++)
    printf ("%-12s %10" PRIu64 " calls, %10" PRIu64 " failed\n",
            call_names[k], atomic_load (&shared->calls[k]),
            atomic_load (&shared->failed[k]));
  printf ("%-12s %10" PRIu64 " (LOOP_SET_FD and LOOP_CONFIGURE that "
          "bound a device)\n", "binds", atomic_load (&shared->binds));
  printf ("loopfs-fuzz: %d finding%s (seed %lu)\n", findings,
          findings == 1 ? "" : "s", seed);
  return findings ? 1 : 0;
}
