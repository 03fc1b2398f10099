/* loopfsctl exec: the device numbers the sandbox shows for the
 * instance's loopN (see loop-numbers.h). */

#include <pthread.h>
#include <stdio.h>
#include <sys/sysmacros.h>

#include "loopfs-interface.h"
#include "loop-numbers.h"
#include "vector.h"

/* A device N shown as 7:MINOR. */
struct remap {
  int number;
  unsigned minor;
};

DEFINE_VECTOR_TYPE (remap_vector, struct remap)
DEFINE_VECTOR_TYPE (minor_vector, unsigned)

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static bool mounts_read;
static minor_vector held;          /* minors of mounted host loop devices */
static remap_vector remaps;

/* Is MINOR in HELD? */
static bool
is_held (unsigned minor)
{
  size_t i;

  for (i = 0; i < held.len; i++)
    if (held.ptr[i] == minor)
      return true;
  return false;
}

/* Note the minors of the loop devices that hold a mounted filesystem
 * (field 3 of mountinfo is the filesystem's st_dev). */
static void
read_mounts (void)
{
  FILE *fp = fopen ("/proc/self/mountinfo", "re");
  unsigned major, minor;
  char line[4096];

  mounts_read = true;
  if (fp == NULL)
    return;
  while (fgets (line, sizeof line, fp))
    if (sscanf (line, "%*u %*u %u:%u", &major, &minor) == 2
        && major == LOOP_MAJOR && !is_held (minor))
      minor_vector_append (&held, minor);
  fclose (fp);
}

/* Give every device number a held minor stands for a minor of its
 * own, from the top down, so that lookups by minor find it before any
 * device was asked for by number. */
static void
remap_held (void)
{
  unsigned minor = LOOPFS_MAX_INDEX;
  size_t i;

  for (i = 0; i < held.len; i++) {
    while (minor > 0 && is_held (minor))
      minor--;
    remap_vector_append (&remaps, (struct remap) { held.ptr[i], minor });
    minor--;
  }
}

/* Read the mounts and remap, once. */
static void
prepare (void)
{
  if (mounts_read)
    return;
  read_mounts ();
  remap_held ();
}

dev_t
sandbox_loop_devno (int number)
{
  unsigned minor = number;
  size_t i;

  pthread_mutex_lock (&lock);
  prepare ();
  for (i = 0; i < remaps.len; i++)
    if (remaps.ptr[i].number == number)
      minor = remaps.ptr[i].minor;
  pthread_mutex_unlock (&lock);
  return makedev (LOOP_MAJOR, minor);
}

bool
sandbox_loop_of_minor (unsigned minor, int *number)
{
  bool found = true;
  size_t i;

  pthread_mutex_lock (&lock);
  prepare ();
  *number = minor;
  for (i = 0; i < remaps.len; i++)
    if (remaps.ptr[i].minor == minor)
      *number = remaps.ptr[i].number;
  if (*number == (int) minor && is_held (minor))
    found = false;
  pthread_mutex_unlock (&lock);
  return found;
}
