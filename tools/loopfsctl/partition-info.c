/* loopfsctl exec: the device numbers of partition nodes (see
 * partition-info.h). */

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "cleanup.h"
#include "loopfs-interface.h"
#include "partition-info.h"
#include "partition-status.h"

/* Minors of major 259 are 20 bits wide (MINORBITS). */
#define EXT_MINORS (1u << 20)

/* One partition's minor. */
struct given_minor {
  int device, partition;
  unsigned minor;
};

DEFINE_VECTOR_TYPE (given_minor_vector, struct given_minor)

/* The minors given so far, for the life of the process: the stat fake
 * and the sysfs view, threads of their own, must agree. */
static pthread_mutex_t minors_lock = PTHREAD_MUTEX_INITIALIZER;
static given_minor_vector minors;

bool
partition_parse_name (const char *name, int *device, int *partition)
{
  char rest;

  return sscanf (name, "loop%dp%d%c", device, partition, &rest) == 2
         && *device >= 0 && *partition > 0;
}

/* Mark in HOST (EXT_MINORS entries) the minors of major 259 that the
 * host's block devices hold. */
static void
read_host_minors (bool *host)
{
  FILE *fp = fopen ("/proc/partitions", "re");
  char line[256];
  unsigned major, minor;

  if (fp == NULL)
    return;
  while (fgets (line, sizeof line, fp))
    if (sscanf (line, "%u %u", &major, &minor) == 2
        && major == BLOCK_EXT_MAJOR && minor < EXT_MINORS)
      host[minor] = true;
  fclose (fp);
}

/* The lowest minor neither given nor the host's; EXT_MINORS if none. */
static unsigned
lowest_free_minor (void)
{
  CLEANUP_FREE bool *taken = calloc (EXT_MINORS, sizeof *taken);
  unsigned m;
  size_t i;

  if (taken == NULL)
    return EXT_MINORS;
  read_host_minors (taken);
  for (i = 0; i < minors.len; i++)
    taken[minors.ptr[i].minor] = true;
  for (m = 0; m < EXT_MINORS && taken[m]; m++)
    ;
  return m;
}

/* The minor given to partition M of device N, or EXT_MINORS. */
static unsigned
given (int device, int partition)
{
  size_t i;

  for (i = 0; i < minors.len; i++)
    if (minors.ptr[i].device == device
        && minors.ptr[i].partition == partition)
      return minors.ptr[i].minor;
  return EXT_MINORS;
}

/* Give partition M of device N the lowest free minor.  Returns it, or
 * EXT_MINORS when none is left. */
static unsigned
give (int device, int partition)
{
  struct given_minor g = { device, partition, lowest_free_minor () };

  if (g.minor >= EXT_MINORS || given_minor_vector_append (&minors, g) < 0)
    return EXT_MINORS;
  return g.minor;
}

dev_t
partition_devno (const char *dir, int device, int partition)
{
  partition_status_vector others = { 0 };
  unsigned minor;
  size_t i;

  pthread_mutex_lock (&minors_lock);
  minor = given (device, partition);
  if (minor == EXT_MINORS) {
    /* The kernel numbers a scan's partitions in order: so do we, for
     * the device's partitions not seen yet, whichever is asked first. */
    if (instance_partitions (dir, device, &others) == 0)
      for (i = 0; i < others.len && others.ptr[i].number < partition; i++)
        if (given (device, others.ptr[i].number) == EXT_MINORS)
          give (device, others.ptr[i].number);
    partition_status_vector_reset (&others);
    minor = give (device, partition);
  }
  pthread_mutex_unlock (&minors_lock);
  return minor < EXT_MINORS ? makedev (BLOCK_EXT_MAJOR, minor) : 0;
}

bool
partition_of_minor (unsigned minor, int *device, int *partition)
{
  bool found = false;
  size_t i;

  pthread_mutex_lock (&minors_lock);
  for (i = 0; i < minors.len; i++)
    if (minors.ptr[i].minor == minor) {
      *device = minors.ptr[i].device;
      *partition = minors.ptr[i].partition;
      found = true;
      break;
    }
  pthread_mutex_unlock (&minors_lock);
  return found;
}
