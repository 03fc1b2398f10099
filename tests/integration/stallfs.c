/* stallfs: a FUSE filesystem that stops answering on request, standing
 * in for a hung NFS or sshfs mount in tests/integration/test-hung-backing.sh.
 *
 *   stallfs FILE MOUNTPOINT
 *
 * Serves one file, MOUNTPOINT/disk.img, whose data is FILE's (opened
 * read-only if it cannot be written).  It hands down no extended
 * attribute, so a loopfs node as FILE is hidden from loopfsd's check.  After
 * SIGUSR1 every request but LOOKUP and OPEN waits (so a file can still
 * be opened, and then hangs whoever asks anything of it) until SIGUSR2.
 * Runs in the foreground with one thread, and exits when unmounted.
 * Attributes are never cached, so every fstat(2) reaches it.
 */
#define FUSE_USE_VERSION 35

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <fuse_lowlevel.h>

#define FILE_INO 2
#define FILE_NAME "disk.img"

static int backing = -1;
static volatile sig_atomic_t stalled;

/* SIGUSR1 stalls, SIGUSR2 resumes. */
static void
on_signal (int sig)
{
  stalled = sig == SIGUSR1;
}

/* Wait while stalled. */
static void
maybe_stall (void)
{
  while (stalled)
    pause ();
}

/* Fill *ST for INO; -1 when there is no such inode. */
static int
fill (fuse_ino_t ino, struct stat *st)
{
  struct stat b;

  memset (st, 0, sizeof *st);
  st->st_ino = ino;
  if (ino == FUSE_ROOT_ID) {
    st->st_mode = S_IFDIR | 0755;
    st->st_nlink = 2;
    return 0;
  }
  if (ino != FILE_INO || fstat (backing, &b) < 0)
    return -1;
  st->st_mode = S_IFREG | 0666;
  st->st_nlink = 1;
  st->st_size = b.st_size;
  return 0;
}

static void
sf_lookup (fuse_req_t req, fuse_ino_t parent, const char *name)
{
  struct fuse_entry_param e = { .ino = FILE_INO };

  if (parent != FUSE_ROOT_ID || strcmp (name, FILE_NAME) != 0) {
    fuse_reply_err (req, ENOENT);
    return;
  }
  fill (FILE_INO, &e.attr);
  fuse_reply_entry (req, &e);
}

static void
sf_getattr (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
  struct stat st;

  (void) fi;
  maybe_stall ();
  if (fill (ino, &st) < 0)
    fuse_reply_err (req, ENOENT);
  else
    fuse_reply_attr (req, &st, 0);
}

static void
sf_open (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
  if (ino != FILE_INO) {
    fuse_reply_err (req, EISDIR);
    return;
  }
  fi->direct_io = 1;
  fuse_reply_open (req, fi);
}

static void
sf_read (fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
         struct fuse_file_info *fi)
{
  char *buf = malloc (size ? size : 1);
  ssize_t n;

  (void) ino;
  (void) fi;
  maybe_stall ();
  n = buf ? pread (backing, buf, size, off) : -1;
  if (n < 0)
    fuse_reply_err (req, buf ? errno : ENOMEM);
  else
    fuse_reply_buf (req, buf, n);
  free (buf);
}

static void
sf_write (fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
          off_t off, struct fuse_file_info *fi)
{
  ssize_t n;

  (void) ino;
  (void) fi;
  maybe_stall ();
  n = pwrite (backing, buf, size, off);
  if (n < 0)
    fuse_reply_err (req, errno);
  else
    fuse_reply_write (req, n);
}

/* Every other request that reaches a file waits while stalled too. */
static void
sf_flush (fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
  (void) ino;
  (void) fi;
  maybe_stall ();
  fuse_reply_err (req, 0);
}

static void
sf_getxattr (fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
  (void) ino;
  (void) name;
  (void) size;
  maybe_stall ();
  fuse_reply_err (req, ENODATA);
}

static const struct fuse_lowlevel_ops ops = {
  .lookup = sf_lookup,
  .getattr = sf_getattr,
  .open = sf_open,
  .read = sf_read,
  .write = sf_write,
  .flush = sf_flush,
  .getxattr = sf_getxattr,
};

int
main (int argc, char **argv)
{
  char *fargv[] = { argv[0], (char *) "-o", (char *) "allow_other", NULL };
  struct fuse_args args = FUSE_ARGS_INIT (3, fargv);
  struct sigaction sa = { .sa_handler = on_signal };
  struct fuse_session *se;
  int r;

  if (argc != 3) {
    fprintf (stderr, "usage: stallfs FILE MOUNTPOINT\n");
    return 2;
  }
  backing = open (argv[1], O_RDWR | O_CLOEXEC);
  if (backing < 0 && (errno == EROFS || errno == EPERM || errno == EACCES))
    backing = open (argv[1], O_RDONLY | O_CLOEXEC);
  if (backing < 0) {
    perror (argv[1]);
    return 1;
  }
  /* No SA_RESTART: the signal must interrupt pause(). */
  sigaction (SIGUSR1, &sa, NULL);
  sigaction (SIGUSR2, &sa, NULL);
  se = fuse_session_new (&args, &ops, sizeof ops, NULL);
  if (se == NULL || fuse_session_mount (se, argv[2]) != 0)
    return 1;
  r = fuse_session_loop (se);
  fuse_session_unmount (se);
  fuse_session_destroy (se);
  return r ? 1 : 0;
}
