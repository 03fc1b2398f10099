/* loopfs-fuzz: a worker's state and the table of pointer kinds (see
 * loopfs-fuzz.c). */
#ifndef LOOPFS_FUZZ_WORKER_H
#define LOOPFS_FUZZ_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define FDS_PER_THREAD 24
#define PAGE 4096

struct call_slot;

/* A worker's state: its random generator, descriptors and pages. */
struct worker {
  uint64_t rng;
  int fds[FDS_PER_THREAD];
  bool is_other[FDS_PER_THREAD];  /* a node of --other: never a target */
  char *pages;                  /* RW, RW, PROT_NONE, RO pages */
  char *unmapped;               /* a PROT_NONE page, never reused */
  void *mapped;                 /* the last mapping of a node, or NULL */
  struct call_slot *slot;
};

/* xorshift64*: fast, and reproducible for a seed. */
static inline uint64_t
rnd (struct worker *w)
{
  w->rng ^= w->rng >> 12;
  w->rng ^= w->rng << 25;
  w->rng ^= w->rng >> 27;
  return w->rng * 2685821657736338717ull;
}

/* A random number below N. */
static inline unsigned
below (struct worker *w, unsigned n)
{
  return rnd (w) % n;
}

/* Fill BUF with random bytes. */
static inline void
fill_random (struct worker *w, void *buf, size_t size)
{
  for (size_t i = 0; i < size; i += 8) {
    uint64_t v = rnd (w);

    memcpy ((char *) buf + i, &v, size - i < 8 ? size - i : 8);
  }
}

/* Pointer kinds for ioctl arguments and I/O buffers.  Each returns a
 * pointer (or a small number disguised as one) for a call that may
 * read or write up to a page there. */
struct pointer_kind {
  const char *name;
  void *(*make) (struct worker *w);
};

extern const struct pointer_kind pointer_kinds[];
extern const size_t n_pointer_kinds;

#endif /* LOOPFS_FUZZ_WORKER_H */
