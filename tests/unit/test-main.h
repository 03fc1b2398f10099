/* loopfs tests: the main() of a check-based test program.
 *
 * Every unit test program runs one suite in check's default fork mode
 * and exits with EXIT_SUCCESS only when every test passed.  Programs
 * whose tests make files get a private temporary directory, made before
 * the tests and removed after them whatever the outcome.  What else a
 * program needs at exit (killing the processes its tests started) it
 * registers with atexit itself, before calling test_main.
 */
#ifndef LOOPFS_TESTS_TEST_MAIN_H
#define LOOPFS_TESTS_TEST_MAIN_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "remove-tree.h"

/* Run SUITE; with TMPDIR (a mkdtemp template, "...XXXXXX"), in a
 * directory made from it.  Returns the exit status for main. */
static inline int
test_main (Suite *suite, char *tmpdir)
{
  SRunner *runner = srunner_create (suite);
  int failed;

  if (tmpdir && mkdtemp (tmpdir) == NULL) {
    perror ("mkdtemp");
    srunner_free (runner);
    return EXIT_FAILURE;
  }
  srunner_run_all (runner, CK_NORMAL);
  failed = srunner_ntests_failed (runner);
  srunner_free (runner);
  if (tmpdir)
    remove_tree (tmpdir);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif /* LOOPFS_TESTS_TEST_MAIN_H */
