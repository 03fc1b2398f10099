/* loopfsctl: sizes given on the command line (see size-arg.h). */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "loopfsctl.h"
#include "size-arg.h"

int
parse_size_arg (const char *name, const char *value, uint64_t *bytes)
{
  static const char suffixes[] = "KMGT";
  unsigned long long n;
  const char *s;
  char *end;
  int shift = 0;

  errno = 0;
  n = strtoull (value, &end, 10);
  if (errno || end == value || *value == '-')
    goto bad;
  if (*end && (s = strchr (suffixes, *end)) != NULL) {
    shift = 10 * (int) (s - suffixes + 1);
    end++;
    if (strcmp (end, "iB") == 0 || strcmp (end, "B") == 0)
      end += strlen (end);
  }
  if (*end || (shift && n > (UINT64_MAX >> shift)))
    goto bad;
  *bytes = (uint64_t) n << shift;
  return 0;

 bad:
  ctl_error ("%s %s: not a size (a number of bytes, or with K, M, G, T)",
             name, value);
  return -EINVAL;
}
