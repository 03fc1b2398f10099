/* One error reporter for loopfsctl and loopfs-oci, which share the
 * sandbox's code (stat fake, sysfs view, device status). */
#ifndef LOOPFS_ERROR_H
#define LOOPFS_ERROR_H

/* Print "PROGRAM: MESSAGE" and a newline on stderr, PROGRAM being the
 * name the program runs under (loopfsctl, loopfs-oci).  errno is kept,
 * so "%m" works and a caller may return -errno afterwards.  (Not
 * error(): that is glibc's error(3).) */
void ctl_error (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

#endif /* LOOPFS_ERROR_H */
