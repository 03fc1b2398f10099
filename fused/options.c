/* loopfsd: strict parsing of -o options. */

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "log.h"
#include "options.h"

/* Generic mount flags that are passed to the FUSE mount unchanged: what
 * mount(8) and fstab may hand to any filesystem. */
static const char *const passthrough[] = {
  "rw", "dev", "nodev", "suid", "nosuid", "exec", "noexec",
  "atime", "noatime", "relatime", "default_permissions", "auto_unmount",
  NULL,
};

/* Set the defaults before any -o is parsed. */
void
options_init (struct options *opts)
{
  *opts = (struct options) {
    .max_devices = OPTIONS_MAX_DEVICES_LIMIT,
    .connections = 2,
    .direct_io = true,
  };
}

/* Free what options_parse allocated. */
void
options_free (struct options *opts)
{
  free (opts->log_file);
  free (opts->fuse_opts);
  opts->log_file = opts->fuse_opts = NULL;
}

/* Parse an unsigned decimal number in [MIN, MAX] for option NAME. */
static int
parse_unsigned (const char *name, const char *value, unsigned min,
                unsigned max, unsigned *out)
{
  char *end;
  unsigned long long v;

  errno = 0;
  v = strtoull (value, &end, 10);
  if (*value == '\0' || *value == '-' || *end != '\0' || errno != 0
      || v < min || v > max) {
    log_error ("bad value for '%s': '%s' (expected a number from %u to %u)",
               name, value, min, max);
    return -EINVAL;
  }
  *out = v;
  return 0;
}

/* Append OPT to the comma-separated list handed to libfuse. */
static int
append_fuse_opt (struct options *opts, const char *opt)
{
  char *n;

  if (asprintf (&n, "%s%s%s", opts->fuse_opts ? opts->fuse_opts : "",
                opts->fuse_opts ? "," : "", opt) < 0)
    return -ENOMEM;
  free (opts->fuse_opts);
  opts->fuse_opts = n;
  return 0;
}

/* Parse a single option NAME[=VALUE]. */
static int
parse_one (struct options *opts, char *opt)
{
  char *value = strchr (opt, '=');
  size_t i;

  if (value)
    *value++ = '\0';

  if (strcmp (opt, "max") == 0 && value) {
    opts->max_given = true;
    return parse_unsigned ("max", value, 1, OPTIONS_MAX_DEVICES_LIMIT,
                           &opts->max_devices);
  }
  if (strcmp (opt, "connections") == 0 && value)
    return parse_unsigned ("connections", value, 1, 16, &opts->connections);
  /* The nodes' owner, e.g. a container's root as the host sees it
   * (loopfs-oci).  Only the modes and ownership shown change. */
  if ((strcmp (opt, "uid") == 0 || strcmp (opt, "gid") == 0) && value) {
    bool is_uid = opt[0] == 'u';

    *(is_uid ? &opts->uid_given : &opts->gid_given) = true;
    return parse_unsigned (opt, value, 0, UINT32_MAX - 1,
                           is_uid ? &opts->uid : &opts->gid);
  }
  if (strcmp (opt, "nbd") == 0 && value) {
    if (strcmp (value, "auto") == 0)
      opts->nbd = NBD_MODE_AUTO;
    else if (strcmp (value, "on") == 0)
      opts->nbd = NBD_MODE_ON;
    else if (strcmp (value, "off") == 0)
      opts->nbd = NBD_MODE_OFF;
    else {
      log_error ("bad value for 'nbd': '%s' (expected auto, on or off)",
                 value);
      return -EINVAL;
    }
    return 0;
  }
  if (strcmp (opt, "fastpath") == 0 && value) {
    if (strcmp (value, "on") != 0 && strcmp (value, "off") != 0) {
      log_error ("bad value for 'fastpath': '%s' (expected on or off)",
                 value);
      return -EINVAL;
    }
    opts->direct_io = strcmp (value, "on") == 0;
    return 0;
  }
  if (strcmp (opt, "log") == 0 && value && *value) {
    free (opts->log_file);
    opts->log_file = strdup (value);
    return opts->log_file ? 0 : -ENOMEM;
  }
  if (strcmp (opt, "allow_other") == 0 && !value) {
    opts->allow_other = true;
    return append_fuse_opt (opts, "allow_other");
  }
  for (i = 0; passthrough[i]; i++)
    if (strcmp (opt, passthrough[i]) == 0 && !value)
      return append_fuse_opt (opts, opt);

  if (value)
    log_error ("unknown mount option '%s=%s'", opt, value);
  else
    log_error ("unknown mount option '%s'", opt);
  return -EINVAL;
}

/* Parse one -o argument (a comma-separated list) into *OPTS. */
int
options_parse (struct options *opts, const char *arg)
{
  CLEANUP_FREE char *copy = strdup (arg);
  char *save = NULL, *opt;
  int r;

  if (copy == NULL)
    return -ENOMEM;
  for (opt = strtok_r (copy, ",", &save); opt;
       opt = strtok_r (NULL, ",", &save)) {
    r = parse_one (opts, opt);
    if (r < 0)
      return r;
  }
  return 0;
}
