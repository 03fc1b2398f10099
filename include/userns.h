/* loopfs: which user namespace we run in, from /proc/self/uid_map.
 *
 * The uid map of a process lists "inside outside count" ranges that map
 * the uids of its user namespace onto those of the parent namespace.
 * The initial namespace has no parent: its map is the identity over
 * the whole 32-bit range, on one line.
 */
#ifndef LOOPFS_USERNS_H
#define LOOPFS_USERNS_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>
#include <unistd.h>

/* Whether this process's uid map is the identity, i.e. whether it runs
 * in the initial user namespace.  The whole map is checked, not only
 * its first line: it must be exactly the one line "0 0 4294967295".
 * (A second line could not overlap that range, so a first-line check
 * would give the same answer on any map the kernel accepts; reading the
 * whole map makes the answer not depend on that.)  It remains a
 * heuristic: a namespace made by root may copy the identity map, and
 * the kernel's own checks then refuse what only the initial namespace
 * may do.  An unreadable map counts as not the identity. */
static inline bool
uid_map_is_identity (void)
{
  unsigned long inside, outside, count;
  char buf[128], extra;
  size_t n;
  FILE *f = fopen ("/proc/self/uid_map", "re");

  if (f == NULL)
    return false;
  n = fread (buf, 1, sizeof buf - 1, f);
  fclose (f);
  buf[n] = '\0';
  /* Three numbers and nothing after them but white space. */
  return sscanf (buf, "%lu %lu %lu %c", &inside, &outside, &count,
                 &extra) == 3
    && inside == 0 && outside == 0 && count == 4294967295UL;
}

/* The uid that this process's real uid is in the parent user namespace
 * (the host, for a namespace made from it): the mounter of a rootless
 * instance (root inside "unshare -Ur") is the user who made the
 * namespace.  The uid itself when it is not mapped or the map cannot be
 * read. */
static inline uid_t
host_uid (void)
{
  uid_t uid = getuid ();
  unsigned long inside, outside, count;
  FILE *f = fopen ("/proc/self/uid_map", "re");

  if (f == NULL)
    return uid;
  while (fscanf (f, "%lu %lu %lu", &inside, &outside, &count) == 3) {
    if (uid >= inside && uid - inside < count) {
      uid = outside + (uid - inside);
      break;
    }
  }
  fclose (f);
  return uid;
}

#endif /* LOOPFS_USERNS_H */
