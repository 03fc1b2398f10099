/* loopfs: small typed vectors.
 *
 * DEFINE_VECTOR_TYPE (name, type) declares "name" with ptr/len/cap and
 * static inline helpers name_append, name_remove, name_reset.  The
 * append helper returns 0 or -ENOMEM, like every fallible function in
 * the project.
 */
#ifndef LOOPFS_VECTOR_H
#define LOOPFS_VECTOR_H

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define DEFINE_VECTOR_TYPE(name, type)                                  \
  typedef struct {                                                      \
    type *ptr;                                                          \
    size_t len;                                                         \
    size_t cap;                                                         \
  } name;                                                               \
                                                                        \
  /* Append one element, growing the storage geometrically. */          \
  static inline __attribute__ ((__unused__)) int                        \
  name##_append (name *v, type elem)                                    \
  {                                                                     \
    if (v->len == v->cap) {                                             \
      size_t ncap = v->cap ? v->cap * 2 : 8;                            \
      type *n = realloc (v->ptr, ncap * sizeof (type));                 \
      if (n == NULL)                                                    \
        return -ENOMEM;                                                 \
      v->ptr = n;                                                       \
      v->cap = ncap;                                                    \
    }                                                                   \
    v->ptr[v->len++] = elem;                                            \
    return 0;                                                           \
  }                                                                     \
                                                                        \
  /* Remove the element at index i, keeping the order of the rest. */   \
  static inline __attribute__ ((__unused__)) void                       \
  name##_remove (name *v, size_t i)                                     \
  {                                                                     \
    memmove (&v->ptr[i], &v->ptr[i + 1],                                \
             (v->len - i - 1) * sizeof (type));                         \
    v->len--;                                                           \
  }                                                                     \
                                                                        \
  /* Free the storage; the elements themselves are the caller's. */     \
  static inline __attribute__ ((__unused__)) void                       \
  name##_reset (name *v)                                                \
  {                                                                     \
    free (v->ptr);                                                      \
    v->ptr = NULL;                                                      \
    v->len = v->cap = 0;                                                \
  }

#endif /* LOOPFS_VECTOR_H */
