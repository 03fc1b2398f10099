/* loopfs-fuzz: the pointer kinds, the arguments and buffers the workers
 * pass (see fuzz-worker.h). */

#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <linux/loop.h>

#include "fuzz-worker.h"

/* NULL. */
static void *
ptr_null (struct worker *w)
{
  (void) w;
  return NULL;
}

/* An address of ours where nothing can be read or written (a PROT_NONE
 * reservation, so that no later mapping of ours, such as the sanitizer
 * allocator's, can land there and be overwritten by a read). */
static void *
ptr_unmapped (struct worker *w)
{
  return w->unmapped;
}

/* An address in the kernel's half, never a user mapping. */
static void *
ptr_kernel_address (struct worker *w)
{
  (void) w;
  return (void *) 0xffff888000000000ul;
}

/* Random contents in a writable page. */
static void *
ptr_random_struct (struct worker *w)
{
  fill_random (w, w->pages, PAGE);
  return w->pages;
}

/* A read-only page: reads succeed, write-backs fault. */
static void *
ptr_read_only (struct worker *w)
{
  return w->pages + 3 * PAGE;
}

/* A struct whose first 16 bytes are readable and the rest is an
 * inaccessible page. */
static void *
ptr_straddling (struct worker *w)
{
  fill_random (w, w->pages + 2 * PAGE - 16, 16);
  return w->pages + 2 * PAGE - 16;
}

/* A small number: an fd, a size or a flag word for ioctls taking an
 * integer argument. */
static void *
ptr_small_number (struct worker *w)
{
  static const uintptr_t numbers[] = { 0, 1, 2, 3, 512, 4096, 65536, ~0ul };

  if (below (w, 2))
    return (void *) (uintptr_t) w->fds[below (w, FDS_PER_THREAD)];
  return (void *) numbers[below (w, sizeof numbers / sizeof numbers[0])];
}

/* A struct loop_config / loop_info64 with a plausible descriptor. */
static void *
ptr_plausible_config (struct worker *w)
{
  struct loop_config *c = (struct loop_config *) w->pages;

  fill_random (w, c, sizeof *c);
  c->fd = w->fds[below (w, FDS_PER_THREAD)];
  c->block_size = below (w, 2) ? 512 : (uint32_t) rnd (w);
  c->info.lo_offset = below (w, 2) ? 0 : rnd (w);
  c->info.lo_sizelimit = below (w, 2) ? 0 : rnd (w);
  c->info.lo_flags = (uint32_t) rnd (w);
  return c;
}

/* A page of a MAP_PRIVATE mapping of one of the worker's regular files
 * (a node of the attacked instance, also through the overlay): to copy
 * the argument the daemon must first serve a read of that very node.
 * The previous mapping is dropped first; a random page without one. */
static void *
ptr_loop_mapping (struct worker *w)
{
  int fd = w->fds[below (w, FDS_PER_THREAD)];
  struct stat st;
  void *map;

  if (w->mapped) {
    munmap (w->mapped, PAGE);
    w->mapped = NULL;
  }
  if (fd < 0 || fstat (fd, &st) < 0 || !S_ISREG (st.st_mode)
      || st.st_size < PAGE)
    return ptr_random_struct (w);
  map = mmap (NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  if (map == MAP_FAILED)
    return ptr_random_struct (w);
  w->mapped = map;
  return map;
}

const struct pointer_kind pointer_kinds[] = {
  { "null", ptr_null },
  { "unmapped", ptr_unmapped },
  { "kernel-address", ptr_kernel_address },
  { "random-struct", ptr_random_struct },
  { "read-only", ptr_read_only },
  { "straddling", ptr_straddling },
  { "small-number", ptr_small_number },
  { "plausible-config", ptr_plausible_config },
  { "loop-mapping", ptr_loop_mapping },
};
const size_t n_pointer_kinds = sizeof pointer_kinds / sizeof pointer_kinds[0];
