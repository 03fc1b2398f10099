/* loopfs: values of the "key=value" lines loopfsd and loopfsctl share.
 *
 * A value may hold any bytes a caller gave the kernel: lo_file_name is
 * 64 bytes of the caller's choosing, and a backing file's path may hold
 * a newline.  Written raw, a newline would end the line and start a
 * line of the caller's making ("backing_file=/etc/shadow"), and a line
 * without '=' would make the whole text unreadable.  So a value is
 * written escaped: a backslash as "\\", a newline as "\n", any other
 * control byte (and DEL) as "\xHH"; every other byte as it is.
 * Unescaping gives back exactly the bytes that were escaped.
 */
#ifndef LOOPFS_STATUS_ESCAPE_H
#define LOOPFS_STATUS_ESCAPE_H

#include <errno.h>
#include <stddef.h>

/* The most bytes the escaped form of an N-byte value takes, with its
 * NUL. */
#define STATUS_ESCAPED_SIZE(n) (4 * (n) + 1)

/* Write VALUE escaped into OUT (SIZE bytes, NUL-terminated).  Returns
 * the length, or -ERANGE when OUT is too small. */
static inline int
status_escape (const char *value, char *out, size_t size)
{
  static const char hex[] = "0123456789abcdef";
  size_t used = 0;

  for (; *value; value++) {
    unsigned char c = (unsigned char) *value;
    char seq[4];
    size_t n = 0;

    if (c == '\\' || c == '\n') {
      seq[n++] = '\\';
      seq[n++] = c == '\n' ? 'n' : '\\';
    }
    else if (c < 0x20 || c == 0x7f) {
      seq[n++] = '\\';
      seq[n++] = 'x';
      seq[n++] = hex[c >> 4];
      seq[n++] = hex[c & 15];
    }
    else
      seq[n++] = c;
    if (size - used <= n)
      return -ERANGE;
    for (size_t i = 0; i < n; i++)
      out[used++] = seq[i];
  }
  if (used >= size)
    return -ERANGE;
  out[used] = '\0';
  return used;
}

/* The value of hex digit C, or -1. */
static inline int
status_hex_digit (char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Unescape TEXT into OUT (SIZE bytes, NUL-terminated).  Returns the
 * length, -EINVAL for a malformed escape (or one that stands for NUL),
 * or -EOVERFLOW when OUT is too small. */
static inline int
status_unescape (const char *text, char *out, size_t size)
{
  size_t used = 0;

  while (*text) {
    char c = *text++;

    if (c == '\\') {
      char e = *text;
      int hi, lo;

      if (e == '\0')
        return -EINVAL;
      text++;
      if (e == '\\' || e == 'n')
        c = e == 'n' ? '\n' : '\\';
      else if (e == 'x' && (hi = status_hex_digit (text[0])) >= 0
               && (lo = status_hex_digit (text[1])) >= 0
               && (hi | lo) != 0) {
        c = (char) (hi << 4 | lo);
        text += 2;
      }
      else
        return -EINVAL;
    }
    if (used + 1 >= size)
      return -EOVERFLOW;
    out[used++] = c;
  }
  if (used >= size)
    return -EOVERFLOW;
  out[used] = '\0';
  return used;
}

#endif /* LOOPFS_STATUS_ESCAPE_H */
