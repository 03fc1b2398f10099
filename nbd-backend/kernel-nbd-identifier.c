/* loopfs nbd-backend: backend identifiers of the nbd devices we attach.
 *
 *   loopfs:<pidns>:<pid>:<start>:<instance>:loop<N>
 *
 * <pidns> is the inode of the daemon's /proc/self/ns/pid, <pid> its pid
 * there, <start> its start time (clock ticks after boot, field 22 of
 * /proc/PID/stat), <instance> the loopfs instance and N the loop
 * device.  Pid and start time together name one process for the whole
 * uptime; nbd devices do not outlive a boot, so nothing more is
 * needed.  A daemon judges only owners in its own pid namespace: there
 * the pid means what it says.
 *
 * The identifiers are how devices are found again: this file also
 * disconnects the devices of one prefix, those of a dead daemon or of
 * every dead owner (kernel_nbd_disconnect_by_prefix).
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "kernel-nbd.h"

/* The field of /proc/PID/stat that holds the start time. */
#define STAT_FIELD_STARTTIME 22

/* The inode of this process's pid namespace. */
static int
own_pid_namespace (uint64_t *ino)
{
  struct stat st;

  if (stat ("/proc/self/ns/pid", &st) == -1)
    return -errno;
  *ino = st.st_ino;
  return 0;
}

/* The start time of process PID: -ESRCH if there is none. */
static int
process_start_time (pid_t pid, uint64_t *start)
{
  CLEANUP_CLOSE int fd = -1;
  char path[64], buf[1024];
  const char *p;
  ssize_t n;
  int field;

  snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd == -1)
    return errno == ENOENT ? -ESRCH : -errno;
  n = read (fd, buf, sizeof buf - 1);
  if (n == -1)
    return errno == ESRCH ? -ESRCH : -errno;
  buf[n] = '\0';

  /* Field 2 is the command name in parentheses, which may itself hold
   * spaces and parentheses: count fields from the last ')'. */
  p = strrchr (buf, ')');
  if (p == NULL)
    return -EPROTO;
  p++;
  for (field = 3; field < STAT_FIELD_STARTTIME && p; field++)
    p = strchr (p + 1, ' ');
  if (p == NULL)
    return -EPROTO;
  if (sscanf (p, " %" SCNu64, start) != 1)
    return -EPROTO;
  return 0;
}

/* True for a valid instance id: 1 to KERNEL_NBD_INSTANCE_ID_MAX - 1
 * characters of [A-Za-z0-9._-] (no ':', the field separator). */
static bool
valid_instance_id (const char *s, size_t len)
{
  if (len == 0 || len >= KERNEL_NBD_INSTANCE_ID_MAX)
    return false;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];

    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
      return false;
  }
  return true;
}

/* Write the part of the identifiers of INSTANCE_ID owned by us that
 * all its devices share: everything before "loop<N>". */
int
kernel_nbd_make_owner_prefix (const char *instance_id, char *buf, size_t size)
{
  uint64_t pid_ns, start;
  pid_t pid = getpid ();
  int r, n;

  if (!valid_instance_id (instance_id, strlen (instance_id)))
    return -EINVAL;
  r = own_pid_namespace (&pid_ns);
  if (r < 0)
    return r;
  r = process_start_time (pid, &start);
  if (r < 0)
    return r;
  n = snprintf (buf, size, "%s%" PRIu64 ":%d:%" PRIu64 ":%s:",
                KERNEL_NBD_IDENTIFIER_PREFIX, pid_ns, (int) pid, start,
                instance_id);
  if (n < 0 || (size_t) n >= size || n >= KERNEL_NBD_IDENTIFIER_MAX)
    return -ENAMETOOLONG;
  return 0;
}

/* Write the identifier for LOOP_INDEX of INSTANCE_ID owned by us. */
int
kernel_nbd_make_identifier (const char *instance_id, unsigned loop_index,
                            char *buf, size_t size)
{
  size_t len;
  int r, n;

  r = kernel_nbd_make_owner_prefix (instance_id, buf, size);
  if (r < 0)
    return r;
  len = strlen (buf);
  n = snprintf (buf + len, size - len, "loop%u", loop_index);
  if (n < 0 || (size_t) n >= size - len
      || len + n >= KERNEL_NBD_IDENTIFIER_MAX)
    return -ENAMETOOLONG;
  return 0;
}

/* Parse an unsigned decimal number at *P (digits only, no sign or
 * space) no larger than MAX, followed by the character END; advance
 * *P past END. */
static bool
parse_number (const char **p, uint64_t max, char end, uint64_t *value)
{
  const char *s = *p;
  uint64_t v = 0;

  if (*s < '0' || *s > '9')
    return false;
  for (; *s >= '0' && *s <= '9'; s++) {
    if (v > (max - (*s - '0')) / 10)
      return false;
    v = v * 10 + (*s - '0');
  }
  if (*s != end)
    return false;
  *value = v;
  *p = end ? s + 1 : s;
  return true;
}

/* Decode IDENTIFIER into OWNER. */
int
kernel_nbd_parse_identifier (const char *identifier,
                             struct kernel_nbd_owner *owner)
{
  const char *p = identifier, *colon;
  uint64_t pid_ns, pid, start, loop;
  size_t len;

  if (strncmp (p, KERNEL_NBD_IDENTIFIER_PREFIX,
               strlen (KERNEL_NBD_IDENTIFIER_PREFIX)) != 0)
    return -EINVAL;
  p += strlen (KERNEL_NBD_IDENTIFIER_PREFIX);
  if (!parse_number (&p, UINT64_MAX, ':', &pid_ns) ||
      !parse_number (&p, INT32_MAX, ':', &pid) || pid == 0 ||
      !parse_number (&p, UINT64_MAX, ':', &start))
    return -EINVAL;
  colon = strchr (p, ':');
  if (colon == NULL)
    return -EINVAL;
  len = colon - p;
  if (!valid_instance_id (p, len))
    return -EINVAL;
  memcpy (owner->instance_id, p, len);
  owner->instance_id[len] = '\0';
  p = colon + 1;
  if (strncmp (p, "loop", 4) != 0)
    return -EINVAL;
  p += 4;
  if (!parse_number (&p, UINT32_MAX, '\0', &loop))
    return -EINVAL;

  owner->pid_ns = pid_ns;
  owner->pid = pid;
  owner->start_time = start;
  owner->loop_index = loop;
  return 0;
}

/* Whether OWNER still runs (see kernel-nbd.h). */
int
kernel_nbd_owner_alive (const struct kernel_nbd_owner *owner)
{
  uint64_t pid_ns, start;
  int r;

  r = own_pid_namespace (&pid_ns);
  if (r < 0)
    return r;
  if (pid_ns != owner->pid_ns)
    return -EXDEV;
  r = process_start_time (owner->pid, &start);
  if (r == -ESRCH)
    return 0;
  if (r < 0)
    return r;
  return start == owner->start_time;
}

/* Disconnect the devices PREFIX finds (see kernel-nbd.h).  Devices are
 * listed first and disconnected one by one: each disconnect checks that
 * the device still carries the identifier it was listed with. */
int
kernel_nbd_disconnect_by_prefix (const char *prefix, bool only_dead_owners,
                                 kernel_nbd_disconnected_fn *done,
                                 void *opaque)
{
  kernel_nbd_device_vector devs = { 0 };
  int r, tried = 0;
  size_t i;

  r = kernel_nbd_list_by_identifier (prefix, &devs);
  if (r < 0)
    return r;
  for (i = 0; i < devs.len; i++) {
    struct kernel_nbd_owner owner;

    if (only_dead_owners
        && (kernel_nbd_parse_identifier (devs.ptr[i].identifier, &owner) < 0
            || kernel_nbd_owner_alive (&owner) != 0))
      continue;
    r = kernel_nbd_disconnect (devs.ptr[i].index, devs.ptr[i].identifier);
    tried++;
    if (done)
      done (&devs.ptr[i], r, opaque);
  }
  kernel_nbd_device_vector_free (&devs);
  return tried;
}
