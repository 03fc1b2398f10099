/* loopfsd: running as mount(8)'s helper for "fuse.loopfs". */
#ifndef LOOPFSD_MOUNT_HELPER_H
#define LOOPFSD_MOUNT_HELPER_H

/* Is the program running as mount.fuse.loopfs (ARGV0)? */
int mount_helper_invoked (const char *argv0);

/* Rewrite mount(8)'s helper arguments in *ARGC / *ARGV ("SOURCE TARGET
 * [-sfnv] [-o OPTIONS] [-t TYPE]") into loopfsd's ("[-o OPTIONS]
 * TARGET"), dropping the options that only mount(8) and fstab give
 * meaning to.  Returns 0, 1 when mount(8) asked for a fake mount (-f:
 * nothing to do), or -errno after printing why the arguments are
 * wrong. */
int mount_helper_args (int *argc, char ***argv);

#endif /* LOOPFSD_MOUNT_HELPER_H */
