/* loopfs tests: removing a test's temporary directory tree. */
#ifndef LOOPFS_TESTS_REMOVE_TREE_H
#define LOOPFS_TESTS_REMOVE_TREE_H

#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>

/* Remove one entry; nftw visits children first (FTW_DEPTH). */
static inline int
remove_tree_entry (const char *path, const struct stat *st, int flag,
                   struct FTW *ftw)
{
  (void) st;
  (void) flag;
  (void) ftw;
  return remove (path);
}

/* Remove the directory tree at PATH, not following symbolic links. */
static inline int
remove_tree (const char *path)
{
  return nftw (path, remove_tree_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif /* LOOPFS_TESTS_REMOVE_TREE_H */
