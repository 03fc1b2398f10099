/* loopfsd: running as mount(8)'s helper for "fuse.loopfs".
 *
 * "mount -t fuse.loopfs loopfs DIR -o max=8" and the fstab line
 * "loopfs DIR fuse.loopfs max=8 0 0" make mount(8) run
 * /sbin/mount.fuse.loopfs (a link to loopfsd, installed beside it) as
 * "mount.fuse.loopfs loopfs DIR -o OPTIONS".  The helper must return
 * once the mount is usable, which is what loopfsd does without -f.
 */

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "cleanup.h"
#include "log.h"
#include "mount-helper.h"

#define HELPER_NAME "mount.fuse.loopfs"

/* Options that mean something to mount(8) or fstab only: loopfsd never
 * sees them.  Prefixes end with '=' or '-'. */
static const char *const mount_only[] = {
  "defaults", "auto", "noauto", "nofail", "_netdev", "user", "nouser",
  "users", "owner", "group", "x-", "comment=", NULL,
};

int
mount_helper_invoked (const char *argv0)
{
  const char *base = strrchr (argv0, '/');

  return strcmp (base ? base + 1 : argv0, HELPER_NAME) == 0;
}

/* Is OPT one of mount_only? */
static bool
is_mount_only (const char *opt)
{
  size_t i;

  for (i = 0; mount_only[i]; i++) {
    size_t n = strlen (mount_only[i]);
    char last = mount_only[i][n - 1];

    if ((last == '=' || last == '-') ? strncmp (opt, mount_only[i], n) == 0
                                     : strcmp (opt, mount_only[i]) == 0)
      return true;
  }
  return false;
}

/* Append the options of comma-separated LIST that loopfsd should see to
 * *KEPT. */
static int
keep_options (char **kept, const char *list)
{
  CLEANUP_FREE char *copy = strdup (list);
  char *save = NULL, *opt;

  if (copy == NULL)
    return -ENOMEM;
  for (opt = strtok_r (copy, ",", &save); opt;
       opt = strtok_r (NULL, ",", &save)) {
    char *n;

    if (is_mount_only (opt))
      continue;
    if (asprintf (&n, "%s%s%s", *kept ? *kept : "", *kept ? "," : "",
                  opt) < 0)
      return -ENOMEM;
    free (*kept);
    *kept = n;
  }
  return 0;
}

int
mount_helper_args (int *argc, char ***argv)
{
  char **in = *argv, **out;
  const char *positional[2];
  CLEANUP_FREE char *options = NULL;
  int i, n = 0, r;
  bool fake = false;

  for (i = 1; i < *argc; i++) {
    const char *arg = in[i];

    if (arg[0] == '-' && arg[1] != '\0') {
      /* -o and -t take a value, attached or as the next argument. */
      const char *flags = arg + 1;

      for (; *flags; flags++) {
        if (*flags == 'o' || *flags == 't') {
          const char *value = flags[1] ? flags + 1 : in[++i];

          if (value == NULL) {
            log_error ("%s: -%c needs a value", HELPER_NAME, *flags);
            return -EINVAL;
          }
          if (*flags == 'o' && (r = keep_options (&options, value)) < 0)
            return r;
          break;
        }
        if (*flags == 'f')
          fake = true;
        else if (strchr ("snvw", *flags) == NULL) {
          log_error ("%s: unknown flag -%c", HELPER_NAME, *flags);
          return -EINVAL;
        }
      }
      continue;
    }
    if (n == 2) {
      log_error ("%s: too many arguments", HELPER_NAME);
      return -EINVAL;
    }
    positional[n++] = arg;
  }
  if (n != 2) {
    log_error ("usage: %s SOURCE MOUNTPOINT [-o OPTIONS]", HELPER_NAME);
    return -EINVAL;
  }
  if (fake)
    return 1;
  /* Show up as loopfsd in ps and /proc/PID/comm, not as the helper. */
  prctl (PR_SET_NAME, "loopfsd");

  /* "loopfsd [-o OPTIONS] MOUNTPOINT": the source names nothing. */
  out = calloc (5, sizeof *out);
  if (out == NULL)
    return -ENOMEM;
  n = 0;
  out[n++] = in[0];
  if (options) {
    out[n++] = (char *) "-o";
    out[n++] = TAKE_PTR (options);
  }
  out[n++] = (char *) positional[1];
  *argc = n;
  *argv = out;
  return 0;
}
