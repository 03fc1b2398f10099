/* loopfs-oci: an OCI runtime wrapper that gives each container that
 * asks for it its own loopfs instance (see loopfs-oci(8)).
 *
 * Every command goes to the real runtime (runc unless configured)
 * unchanged, except two.  "create" of a container with the annotation
 * io.loopfs.enable=true (or of every container, when configured) first
 * starts the container's supervisor (supervisor.c) and edits the
 * bundle's config.json (bundle.c), then runs the runtime's create and
 * waits until the supervisor has the container's seccomp listener.
 * "delete" runs the runtime's delete and then ends the supervisor,
 * which tears the instance down.  Everything that can be checked (the
 * runtime, the config file, the bundle, the annotations) is checked
 * before anything starts.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <json-c/json.h>

#include "bundle.h"
#include "cleanup.h"
#include "exit-status.h"
#include "loopfs-oci.h"
#include "loopfsd-start.h"
#include "supervisor.h"

#define DEFAULT_CONFIG "/etc/loopfs/oci.conf"
#define DEFAULT_RUNTIME "runc"
/* Where to look for a runtime named without a slash, after $PATH (the
 * engines' own search path may lack the sbin directories). */
#define FALLBACK_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"
#define READY_TIMEOUT_MS 20000
#define EXIT_FAILURE_OCI 1

/* The wrapper's settings, from the config file and the command line. */
struct settings {
  char *runtime;            /* the real runtime, as given */
  char *runtime_path;       /* ... and found */
  char *loopfsd;
  bool always;              /* every container gets an instance */
};

/* The global options of runc and crun that take a value (the command
 * is the first word that is neither an option nor such a value). */
static const char *const valued_options[] = {
  "--root", "--log", "--log-format", "--log-level", "--criu",
  "--rootless", "--cgroup-manager", NULL,
};

/* Find program NAME (a path, or a name to look up in $PATH and
 * FALLBACK_PATH).  Returns the path, or NULL. */
static char *
find_program (const char *name)
{
  const char *env = getenv ("PATH");
  CLEANUP_FREE char *search = NULL;
  char *dir, *save = NULL, *path;

  if (strchr (name, '/'))
    return access (name, X_OK) == 0 ? strdup (name) : NULL;
  if (asprintf (&search, "%s:%s", env ? env : "", FALLBACK_PATH) < 0)
    return NULL;
  for (dir = strtok_r (search, ":", &save); dir;
       dir = strtok_r (NULL, ":", &save)) {
    if (asprintf (&path, "%s/%s", dir, name) < 0)
      return NULL;
    if (access (path, X_OK) == 0)
      return path;
    free (path);
  }
  return NULL;
}

/* Replace string *FIELD with a copy of VALUE. */
static int
set_string (char **field, const char *value)
{
  free (*field);
  *field = strdup (value);
  return *field ? 0 : -ENOMEM;
}

/* Read the config file FILE ("key = value" lines, # comments) into S.
 * A missing default file is no error. */
static int
read_config (const char *file, bool given, struct settings *s)
{
  FILE *fp = fopen (file, "re");
  char line[4096], key[64], value[4000];
  int lineno = 0;

  if (fp == NULL) {
    if (!given && errno == ENOENT)
      return 0;
    ctl_error ("%s: %m", file);
    return -errno;
  }
  while (fgets (line, sizeof line, fp)) {
    lineno++;
    if (line[strspn (line, " \t")] == '#' || line[strspn (line, " \t\n")] == 0)
      continue;
    if (sscanf (line, " %63[a-z] = %3999s", key, value) != 2) {
      ctl_error ("%s:%d: not a \"key = value\" line", file, lineno);
      goto fail;
    }
    if (strcmp (key, "runtime") == 0 || strcmp (key, "loopfsd") == 0) {
      if (set_string (key[0] == 'r' ? &s->runtime : &s->loopfsd, value) < 0)
        goto fail;
    }
    else if (strcmp (key, "always") == 0
             && (strcmp (value, "true") == 0 || strcmp (value, "false") == 0))
      s->always = value[0] == 't';
    else {
      ctl_error ("%s:%d: unknown setting or bad value: %s = %s", file, lineno,
                 key, value);
      goto fail;
    }
  }
  fclose (fp);
  return 0;
 fail:
  fclose (fp);
  return -EINVAL;
}

/* Take the wrapper's own options (--runtime-path, --loopfs-config) out
 * of ARGV (ARGC words), leaving the runtime's.  Returns the new ARGC,
 * or -1 after a message. */
static int
take_own_options (int argc, char **argv, struct settings *s)
{
  const char *config = DEFAULT_CONFIG, *runtime = NULL;
  bool config_given = false;
  int i, j;

  for (i = j = 1; i < argc; i++) {
    const char *opt = argv[i], **dest = NULL;
    size_t len;

    if (strncmp (opt, "--runtime-path", len = 14) == 0)
      dest = &runtime;
    else if (strncmp (opt, "--loopfs-config", len = 15) == 0)
      dest = &config;
    if (dest && opt[len] == '=')
      *dest = opt + len + 1;
    else if (dest && opt[len] == '\0' && i + 1 < argc)
      *dest = argv[++i];
    else if (dest && opt[len] == '\0') {
      ctl_error ("%s needs a value", opt);
      return -1;
    }
    else {
      argv[j++] = argv[i];
      continue;
    }
    config_given |= dest == &config;
  }
  argv[j] = NULL;
  if (read_config (config, config_given, s) < 0
      || (runtime && set_string (&s->runtime, runtime) < 0)
      || (s->runtime == NULL && set_string (&s->runtime, DEFAULT_RUNTIME) < 0))
    return -1;
  s->runtime_path = find_program (s->runtime);
  if (s->runtime_path == NULL) {
    ctl_error ("runtime %s: not found or not executable", s->runtime);
    return -1;
  }
  return j;
}

/* The index of the runtime's command in ARGV, or -1. */
static int
find_command (int argc, char **argv)
{
  int i, k;

  for (i = 1; i < argc; i++) {
    if (argv[i][0] != '-')
      return i;
    for (k = 0; valued_options[k]; k++)
      if (strcmp (argv[i], valued_options[k]) == 0)
        i++;
  }
  return -1;
}

/* The container ID among the command's arguments ARGV[FIRST..ARGC-1]:
 * the first word that is not an option or an option's value (VALUED:
 * the command's options taking one); its --bundle in *BUNDLE. */
static const char *
command_id (int argc, char **argv, int first, const char *const *valued,
            const char **bundle)
{
  int i, k;

  for (i = first; i < argc; i++) {
    if (argv[i][0] != '-')
      return argv[i];
    if (strncmp (argv[i], "--bundle=", 9) == 0)
      *bundle = argv[i] + 9;
    for (k = 0; valued[k]; k++)
      if (strcmp (argv[i], valued[k]) == 0 && i + 1 < argc) {
        if (strcmp (valued[k], "--bundle") == 0 || strcmp (valued[k], "-b") == 0)
          *bundle = argv[i + 1];
        i++;
      }
  }
  return NULL;
}

/* Run the runtime with ARGV (argv[0] replaced) and return its exit
 * status. */
static int
run_runtime (const struct settings *s, char **argv)
{
  int status;
  pid_t pid = fork ();

  if (pid < 0) {
    ctl_error ("fork: %m");
    return EXIT_FAILURE_OCI;
  }
  if (pid == 0) {
    argv[0] = s->runtime_path;
    execv (s->runtime_path, argv);
    ctl_error ("exec %s: %m", s->runtime_path);
    _exit (127);
  }
  while (waitpid (pid, &status, 0) < 0)
    if (errno != EINTR)
      return EXIT_FAILURE_OCI;
  return exit_status_of (status, EXIT_FAILURE_OCI);
}

/* Wait up to READY_TIMEOUT_MS for byte WANTED on the supervisor's pipe
 * FD.  Returns 0 or -1. */
static int
wait_ready (int fd, char wanted)
{
  struct pollfd pfd = { .fd = fd, .events = POLLIN };
  char byte;

  if (poll (&pfd, 1, READY_TIMEOUT_MS) <= 0 || read (fd, &byte, 1) != 1
      || byte != wanted)
    return -1;
  return 0;
}

/* Copy the supervisor's log LOG to stderr: it goes with the state
 * directory, and says why the supervisor failed. */
static void
show_log (const char *log)
{
  FILE *fp = fopen (log, "re");
  char line[1024];

  if (fp == NULL)
    return;
  while (fgets (line, sizeof line, fp))
    fputs (line, stderr);
  fclose (fp);
}

/* "create" of container ID from BUNDLE with an instance, as REQ asks.
 * Returns the exit status. */
static int
create (const struct settings *s, char **argv, const char *id,
        const char *bundle, struct json_object *config,
        const struct loopfs_request *req)
{
  struct oci_state st;
  CLEANUP_FREE char *loopfsd = NULL;
  int ready[2], status;
  pid_t pid;

  if (state_init (id, &st) < 0)
    return EXIT_FAILURE_OCI;
  loopfsd = s->loopfsd ? strdup (s->loopfsd) : loopfsd_find ("../fused/loopfsd");
  /* A directory left by an earlier container of this ID (podman
   * restart) goes first. */
  if (loopfsd == NULL || state_remove (&st) < 0 || state_create (&st) < 0
      || pipe2 (ready, O_CLOEXEC) < 0)
    goto fail;
  pid = fork ();
  if (pid == 0) {
    struct supervisor_config sc = {
      .state = &st, .loopfsd = loopfsd, .max = req->max,
      .uid = req->uid, .gid = req->gid, .ready = ready[1],
    };

    close (ready[0]);
    supervisor_run (&sc);
  }
  close (ready[1]);
  if (pid < 0 || wait_ready (ready[0], READY_SET_UP) < 0) {
    ctl_error ("the supervisor of %s did not start:", id);
    show_log (st.log);
    goto fail_pipe;
  }
  if (bundle_edit (config, &(struct loopfs_paths) {
        .instance = st.instance, .sysfs = st.sysfs, .listener = st.listener,
      }) < 0
      || bundle_save (bundle, config) < 0)
    goto fail_pipe;
  status = run_runtime (s, argv);
  if (status != 0) {
    close (ready[0]);
    state_remove (&st);
    state_free (&st);
    return status;
  }
  if (wait_ready (ready[0], READY_CONTAINER) < 0) {
    ctl_error ("the runtime did not hand the seccomp listener of %s to the "
               "supervisor:", id);
    show_log (st.log);
    goto fail_pipe;
  }
  close (ready[0]);
  state_free (&st);
  return 0;

 fail_pipe:
  close (ready[0]);
 fail:
  state_remove (&st);
  state_free (&st);
  return EXIT_FAILURE_OCI;
}

/* "create": set up an instance if the container asks for one. */
static int
cmd_create (const struct settings *s, int argc, char **argv, int command)
{
  static const char *const valued[] = {
    "--bundle", "-b", "--console-socket", "--pid-file", "--preserve-fds",
    NULL,
  };
  struct loopfs_request req = { .enable = s->always };
  struct json_object *config = NULL;
  const char *bundle = ".", *id;
  int status;

  id = command_id (argc, argv, command + 1, valued, &bundle);
  if (id == NULL) {
    ctl_error ("create: no container ID");
    return EXIT_FAILURE_OCI;
  }
  if (bundle_load (bundle, &config) < 0 || bundle_request (config, &req) < 0) {
    json_object_put (config);
    return EXIT_FAILURE_OCI;
  }
  if (!req.enable) {
    json_object_put (config);
    return run_runtime (s, argv);
  }
  status = create (s, argv, id, bundle, config, &req);
  json_object_put (config);
  return status;
}

/* "delete": the runtime's delete, then the instance's teardown. */
static int
cmd_delete (const struct settings *s, int argc, char **argv, int command)
{
  static const char *const valued[] = { NULL };
  const char *bundle = NULL, *id;
  struct oci_state st;
  int status;

  id = command_id (argc, argv, command + 1, valued, &bundle);
  status = run_runtime (s, argv);
  /* A delete that failed leaves the container, and its instance, be. */
  if (status != 0 || id == NULL || state_init (id, &st) < 0)
    return status;
  if (state_remove (&st) < 0)
    status = EXIT_FAILURE_OCI;
  state_free (&st);
  return status;
}

int
main (int argc, char **argv)
{
  struct settings s = { 0 };
  int command, status;

  argc = take_own_options (argc, argv, &s);
  if (argc < 0)
    return EXIT_FAILURE_OCI;
  command = find_command (argc, argv);
  if (command > 0 && strcmp (argv[command], "create") == 0)
    status = cmd_create (&s, argc, argv, command);
  else if (command > 0 && strcmp (argv[command], "delete") == 0)
    status = cmd_delete (&s, argc, argv, command);
  else {
    argv[0] = s.runtime_path;
    execv (s.runtime_path, argv);
    ctl_error ("exec %s: %m", s.runtime_path);
    status = 127;
  }
  free (s.runtime);
  free (s.runtime_path);
  free (s.loopfsd);
  return status;
}
