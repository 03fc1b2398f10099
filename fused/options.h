/* loopfsd: mount options.
 *
 * Options are parsed strictly: loopfsd's own options are consumed, the
 * generic mount flags that FUSE understands are passed through to the
 * mount, and anything else is an error with a message, never ignored.
 */
#ifndef LOOPFSD_OPTIONS_H
#define LOOPFSD_OPTIONS_H

#include <stdbool.h>

#include "loopfs-interface.h"

/* The kernel's own bound on loop devices (1 << MINORBITS). */
#define OPTIONS_MAX_DEVICES_LIMIT ((unsigned) LOOPFS_MAX_DEVICES)

/* Whether bound devices also become kernel /dev/nbdX (-o nbd=). */
enum nbd_mode {
  NBD_MODE_AUTO,            /* when the kernel and our privileges allow */
  NBD_MODE_ON,              /* always; a bind fails if the attach does */
  NBD_MODE_OFF,
};

struct options {
  unsigned max_devices;     /* max=N */
  bool max_given;           /* max= was on the command line */
  unsigned connections;     /* connections=N: libnbd connections per device */
  bool allow_other;         /* allow_other */
  unsigned uid, gid;        /* uid=N, gid=N: owner of the nodes */
  bool uid_given, gid_given;
  enum nbd_mode nbd;        /* nbd=auto|on|off */
  bool direct_io;           /* fastpath=on|off: read and write local
                               backing files without nbdkit */
  char *log_file;           /* log=FILE: where messages go once daemonized */
  char *fuse_opts;          /* comma-separated options handed to libfuse */
};

/* Parse one -o argument (a comma-separated list) into *OPTS.  Returns 0,
 * or -EINVAL after printing what is wrong. */
int options_parse (struct options *opts, const char *arg);

/* Set the defaults before any -o is parsed. */
void options_init (struct options *opts);

/* Free what options_parse allocated. */
void options_free (struct options *opts);

#endif /* LOOPFSD_OPTIONS_H */
