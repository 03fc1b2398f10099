/* loopfs-oci: reading and editing an OCI bundle's config.json (see
 * bundle.h). */

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <json-c/json.h>

#include "bundle.h"
#include "cleanup.h"
#include "loopfs-oci.h"
#include "sysfs-view.h"

#define ANNOTATION_PREFIX "io.loopfs."
#define MAX_DEVICES 1048576ul

/* Where the container sees the instance (as loopfsctl exec's sandbox). */
#define CONTAINER_INSTANCE "/dev/loopfs"

/* The calls the supervisor answers (its stat fake decodes these). */
static const char *const notified[] = {
  "stat", "lstat", "fstat", "newfstatat", "statx", NULL,
};

/* mknod's and mknodat's mode argument. */
static const struct {
  const char *name;
  int mode_arg;
} mknods[] = { { "mknod", 1 }, { "mknodat", 2 } };

/* File types mknod may still make when the profile allowed it. */
static const unsigned allowed_types[] = {
  S_IFREG, S_IFCHR, S_IFIFO, S_IFSOCK,
};

int
bundle_load (const char *bundle, struct json_object **config)
{
  CLEANUP_FREE char *path = NULL;

  if (asprintf (&path, "%s/config.json", bundle) < 0)
    return -ENOMEM;
  if (access (path, R_OK) < 0) {
    ctl_error ("%s: %m", path);
    return -errno;
  }
  *config = json_object_from_file (path);
  if (*config == NULL || !json_object_is_type (*config, json_type_object)) {
    ctl_error ("%s: not a valid OCI config (%s)", path,
               *config ? "not a JSON object" : "not valid JSON");
    json_object_put (*config);
    *config = NULL;
    return -EINVAL;
  }
  return 0;
}

/* Parse annotation value VALUE of io.loopfs.max into *MAX. */
static int
parse_max (const char *value, unsigned *max)
{
  unsigned long n;
  char *end;

  errno = 0;
  n = strtoul (value, &end, 10);
  if (errno || *end || end == value || value[0] == '-' || n < 1
      || n > MAX_DEVICES) {
    ctl_error ("annotation io.loopfs.max: '%s' is not a number from 1 to %lu",
               value, MAX_DEVICES);
    return -EINVAL;
  }
  *max = n;
  return 0;
}

/* The host id that MAPPINGS (linux.uidMappings or gidMappings) give
 * the container's id 0, or -1 when none does. */
static long long
host_id_of_root (struct json_object *mappings)
{
  struct json_object *m, *container, *host;
  size_t i;

  if (mappings == NULL || !json_object_is_type (mappings, json_type_array))
    return -1;
  for (i = 0; i < json_object_array_length (mappings); i++) {
    m = json_object_array_get_idx (mappings, i);
    if (json_object_object_get_ex (m, "containerID", &container)
        && json_object_object_get_ex (m, "hostID", &host)
        && json_object_get_int64 (container) == 0)
      return json_object_get_int64 (host);
  }
  return -1;
}

int
bundle_request (struct json_object *config, struct loopfs_request *req)
{
  struct json_object *annotations, *linux_, *uids = NULL, *gids = NULL;

  if (json_object_object_get_ex (config, "linux", &linux_)) {
    json_object_object_get_ex (linux_, "uidMappings", &uids);
    json_object_object_get_ex (linux_, "gidMappings", &gids);
  }
  req->uid = host_id_of_root (uids);
  req->gid = host_id_of_root (gids);
  if (!json_object_object_get_ex (config, "annotations", &annotations))
    return 0;
  if (!json_object_is_type (annotations, json_type_object)) {
    ctl_error ("config.json: \"annotations\" is not an object");
    return -EINVAL;
  }
  json_object_object_foreach (annotations, key, val) {
    const char *value = json_object_get_string (val);

    if (strncmp (key, ANNOTATION_PREFIX, strlen (ANNOTATION_PREFIX)) != 0)
      continue;
    if (!json_object_is_type (val, json_type_string)) {
      ctl_error ("annotation %s: not a string", key);
      return -EINVAL;
    }
    if (strcmp (key, "io.loopfs.enable") == 0) {
      if (strcmp (value, "true") == 0)
        req->enable = true;
      else if (strcmp (value, "false") == 0)
        req->enable = false;
      else {
        ctl_error ("annotation io.loopfs.enable: '%s' is neither true nor false",
                   value);
        return -EINVAL;
      }
    }
    else if (strcmp (key, "io.loopfs.max") == 0) {
      if (parse_max (value, &req->max) < 0)
        return -EINVAL;
    }
    else {
      ctl_error ("unknown annotation %s (known: io.loopfs.enable, "
                 "io.loopfs.max)", key);
      return -EINVAL;
    }
  }
  return 0;
}

/* Get member KEY of OBJ, made an empty object or array (TYPE) when it
 * is missing.  NULL when it exists with another type. */
static struct json_object *
member (struct json_object *obj, const char *key, json_type type)
{
  struct json_object *m;

  if (json_object_object_get_ex (obj, key, &m))
    return json_object_is_type (m, type) ? m : NULL;
  m = type == json_type_array ? json_object_new_array ()
                              : json_object_new_object ();
  json_object_object_add (obj, key, m);
  return m;
}

/* A JSON array of the strings in the NULL-terminated list S. */
static struct json_object *
string_array (const char *const *s)
{
  struct json_object *a = json_object_new_array ();

  for (; *s; s++)
    json_object_array_add (a, json_object_new_string (*s));
  return a;
}

/* Append a bind mount of host path SOURCE on DESTINATION to MOUNTS,
 * replacing one there from an earlier edit.  The flags repeat those of
 * the mounts on the host (nosuid, nodev, and ro for the sysfs view,
 * RO): in a user namespace they are locked, and runc's remount of the
 * bind fails with EPERM if it would clear one. */
static void
add_bind (struct json_object *mounts, const char *source,
          const char *destination, bool ro)
{
  static const char *const options[] = {
    "bind", "nosuid", "nodev", "ro", NULL,
  };
  static const char *const rw_options[] = {
    "bind", "nosuid", "nodev", NULL,
  };
  struct json_object *m, *dest;
  size_t i;

  for (i = json_object_array_length (mounts); i-- > 0;) {
    m = json_object_array_get_idx (mounts, i);
    if (json_object_object_get_ex (m, "destination", &dest)
        && strcmp (json_object_get_string (dest), destination) == 0)
      json_object_array_del_idx (mounts, i, 1);
  }
  m = json_object_new_object ();
  json_object_object_add (m, "destination",
                          json_object_new_string (destination));
  json_object_object_add (m, "type", json_object_new_string ("bind"));
  json_object_object_add (m, "source", json_object_new_string (source));
  json_object_object_add (m, "options",
                          string_array (ro ? options : rw_options));
  json_object_array_add (mounts, m);
}

/* Is NAME one of the calls whose rules we own? */
static bool
is_ours (const char *name)
{
  size_t i;

  for (i = 0; notified[i]; i++)
    if (strcmp (name, notified[i]) == 0)
      return true;
  for (i = 0; i < sizeof mknods / sizeof mknods[0]; i++)
    if (strcmp (name, mknods[i].name) == 0)
      return true;
  return false;
}

/* Take the calls we own out of every rule of SYSCALLS (dropping rules
 * left without a call), noting in *MKNOD_ALLOWED whether an
 * unconditional SCMP_ACT_ALLOW rule had mknod or mknodat. */
static void
remove_our_calls (struct json_object *syscalls, bool *mknod_allowed)
{
  struct json_object *rule, *names, *action, *args;
  size_t i, j;

  for (i = json_object_array_length (syscalls); i-- > 0;) {
    bool allow, conditional;

    rule = json_object_array_get_idx (syscalls, i);
    if (!json_object_object_get_ex (rule, "names", &names)
        || !json_object_is_type (names, json_type_array))
      continue;
    allow = json_object_object_get_ex (rule, "action", &action)
            && strcmp (json_object_get_string (action), "SCMP_ACT_ALLOW") == 0;
    conditional = json_object_object_get_ex (rule, "args", &args)
                  && json_object_array_length (args) > 0;
    for (j = json_object_array_length (names); j-- > 0;) {
      const char *name =
        json_object_get_string (json_object_array_get_idx (names, j));

      if (name == NULL || !is_ours (name))
        continue;
      if (allow && !conditional && strncmp (name, "mknod", 5) == 0)
        *mknod_allowed = true;
      json_object_array_del_idx (names, j, 1);
    }
    if (json_object_array_length (names) == 0)
      json_object_array_del_idx (syscalls, i, 1);
  }
}

/* A rule for call NAME with ACTION when argument ARG masked with S_IFMT
 * is TYPE. */
static struct json_object *
mknod_rule (const char *name, const char *action, int arg, unsigned type)
{
  const char *const names[] = { name, NULL };
  struct json_object *rule = json_object_new_object ();
  struct json_object *args = json_object_new_array ();
  struct json_object *cond = json_object_new_object ();

  json_object_object_add (rule, "names", string_array (names));
  json_object_object_add (rule, "action", json_object_new_string (action));
  if (strcmp (action, "SCMP_ACT_ERRNO") == 0)
    json_object_object_add (rule, "errnoRet", json_object_new_int (EPERM));
  /* For SCMP_CMP_MASKED_EQ, value is the mask and valueTwo the datum. */
  json_object_object_add (cond, "index", json_object_new_int (arg));
  json_object_object_add (cond, "value", json_object_new_int64 (S_IFMT));
  json_object_object_add (cond, "valueTwo", json_object_new_int64 (type));
  json_object_object_add (cond, "op",
                          json_object_new_string ("SCMP_CMP_MASKED_EQ"));
  json_object_array_add (args, cond);
  json_object_object_add (rule, "args", args);
  return rule;
}

/* Add our rules to the container's seccomp profile LINUX.seccomp (made
 * when it has none: everything else allowed). */
static int
edit_seccomp (struct json_object *linux_, const char *listener)
{
  static const char *const arches[] = {
    "SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", NULL,
  };
  struct json_object *seccomp, *syscalls, *rule, *action;
  bool mknod_allowed = false, default_allow;
  size_t i, t;

  if (!json_object_object_get_ex (linux_, "seccomp", &seccomp)) {
    seccomp = json_object_new_object ();
    json_object_object_add (seccomp, "defaultAction",
                            json_object_new_string ("SCMP_ACT_ALLOW"));
    json_object_object_add (seccomp, "architectures", string_array (arches));
    json_object_object_add (linux_, "seccomp", seccomp);
  }
  if (!json_object_is_type (seccomp, json_type_object)
      || (syscalls = member (seccomp, "syscalls", json_type_array)) == NULL) {
    ctl_error ("config.json: linux.seccomp is not a valid seccomp profile");
    return -EINVAL;
  }
  default_allow = json_object_object_get_ex (seccomp, "defaultAction", &action)
    && strcmp (json_object_get_string (action), "SCMP_ACT_ALLOW") == 0;
  remove_our_calls (syscalls, &mknod_allowed);

  rule = json_object_new_object ();
  json_object_object_add (rule, "names", string_array (notified));
  json_object_object_add (rule, "action",
                          json_object_new_string ("SCMP_ACT_NOTIFY"));
  json_object_array_add (syscalls, rule);
  for (i = 0; i < sizeof mknods / sizeof mknods[0]; i++) {
    json_object_array_add (syscalls,
                           mknod_rule (mknods[i].name, "SCMP_ACT_ERRNO",
                                       mknods[i].mode_arg, S_IFBLK));
    if (!mknod_allowed || default_allow)
      continue;
    for (t = 0; t < sizeof allowed_types / sizeof allowed_types[0]; t++)
      json_object_array_add (syscalls,
                             mknod_rule (mknods[i].name, "SCMP_ACT_ALLOW",
                                         mknods[i].mode_arg,
                                         allowed_types[t]));
  }
  json_object_object_add (seccomp, "listenerPath",
                          json_object_new_string (listener));
  return 0;
}

/* Drop DESTINATION from the runtime's masked paths: podman masks
 * /sys/dev/block with an empty tmpfs, which would cover our view. */
static void
unmask (struct json_object *linux_, const char *destination)
{
  struct json_object *masked, *path;
  size_t i;

  if (!json_object_object_get_ex (linux_, "maskedPaths", &masked)
      || !json_object_is_type (masked, json_type_array))
    return;
  for (i = json_object_array_length (masked); i-- > 0;) {
    path = json_object_array_get_idx (masked, i);
    if (strcmp (json_object_get_string (path), destination) == 0)
      json_object_array_del_idx (masked, i, 1);
  }
}

int
bundle_edit (struct json_object *config, const struct loopfs_paths *paths)
{
  CLEANUP_FREE char *control = NULL, *dev_block = NULL;
  struct json_object *mounts, *linux_;

  mounts = member (config, "mounts", json_type_array);
  linux_ = member (config, "linux", json_type_object);
  if (mounts == NULL || linux_ == NULL) {
    ctl_error ("config.json: \"mounts\" or \"linux\" has the wrong type");
    return -EINVAL;
  }
  if (asprintf (&control, "%s/loop-control", paths->instance) < 0
      || asprintf (&dev_block, "%s/" SYSFS_VIEW_DEV_BLOCK, paths->sysfs) < 0)
    return -ENOMEM;
  add_bind (mounts, paths->instance, CONTAINER_INSTANCE, false);
  add_bind (mounts, control, "/dev/loop-control", false);
  add_bind (mounts, paths->sysfs, "/sys/block", true);
  add_bind (mounts, dev_block, "/sys/dev/block", true);
  unmask (linux_, "/sys/block");
  unmask (linux_, "/sys/dev/block");
  return edit_seccomp (linux_, paths->listener);
}

int
bundle_save (const char *bundle, struct json_object *config)
{
  CLEANUP_FREE char *path = NULL, *tmp = NULL;

  if (asprintf (&path, "%s/config.json", bundle) < 0
      || asprintf (&tmp, "%s/.config.json.loopfs-oci", bundle) < 0)
    return -ENOMEM;
  if (json_object_to_file_ext (tmp, config, JSON_C_TO_STRING_PLAIN) < 0) {
    ctl_error ("writing %s: %s", tmp, json_util_get_last_err ());
    unlink (tmp);
    return -EIO;
  }
  if (rename (tmp, path) < 0) {
    ctl_error ("renaming %s to %s: %m", tmp, path);
    unlink (tmp);
    return -errno;
  }
  return 0;
}
