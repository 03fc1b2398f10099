/* loopfsctl: sizes given on the command line. */
#ifndef LOOPFSCTL_SIZE_ARG_H
#define LOOPFSCTL_SIZE_ARG_H

#include <stdint.h>

/* Parse VALUE of option NAME: a decimal number of bytes with an optional
 * binary suffix K, M, G or T (also KiB, MiB ...), as losetup accepts.
 * Prints an error and returns -EINVAL when VALUE is not such a size. */
int parse_size_arg (const char *name, const char *value, uint64_t *bytes);

#endif /* LOOPFSCTL_SIZE_ARG_H */
