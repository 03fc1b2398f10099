/* loopfsctl: the little JSON that --json output needs (see
 * json-print.h). */

#include "json-print.h"

void
json_string (FILE *fp, const char *s)
{
  if (s == NULL) {
    fputs ("null", fp);
    return;
  }
  fputc ('"', fp);
  for (; *s; s++) {
    unsigned char c = *s;

    if (c == '"' || c == '\\')
      fprintf (fp, "\\%c", c);
    else if (c == '\n')
      fputs ("\\n", fp);
    else if (c < 0x20)
      fprintf (fp, "\\u%04x", c);
    else
      fputc (c, fp);
  }
  fputc ('"', fp);
}
