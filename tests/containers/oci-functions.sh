# Helpers of the containers suite (loopfs-oci with real podman and
# runc), sourced by its tests after ../functions.sh.
#
# Every container a test makes is named loopfs-test-<pid>-<what> and
# removed by name at exit.  The supervisor's mounts are made in the
# mount namespace the runtime runs in: ours, or for a container with a
# user namespace a private one of podman's.  So the tests do not isolate
# their mounts, reach the instance through /proc/SUPERVISOR/root and
# look for leftover mounts in every mount namespace.

# shellcheck source=../integration/leftovers.sh
source "$(dirname "$0")/../integration/leftovers.sh"

: "${LOOPFS_OCI:=loopfs-oci}"
OCI_IMAGE=localhost/loopfs-test:2
OCI_STATE=/run/loopfs-oci
# The image's util-linux and e2fsprogs: busybox's shell would run its
# own applet for a bare "losetup".
S=/usr/sbin

# Skip unless root with a podman that runs containers here; build the
# test image.
oci_requires ()
{
  requires_root
  requires podman --version
  requires runc --version
  podman info >/dev/null 2>&1 \
    || { echo "SKIP: podman info fails: $(podman info 2>&1 | tail -1)" >&2
         exit 77; }
  "$(dirname "$0")/make-image" "$OCI_IMAGE" || fail "building $OCI_IMAGE"
}

# The name of this test's container WHAT.
ctr_name ()
{
  echo "loopfs-test-$$-$1"
}

# podman rm -f of container NAME, quietly (a cleanup).
oci_remove ()
{
  podman rm -f -t 0 "$1" >/dev/null 2>&1
}

# podman run of this test's container WHAT through loopfs-oci with the
# options this machine needs (see README, Containers), loopfs enabled
# unless the arguments say otherwise; removed at exit.
oci_run ()
{
  local name
  name=$(ctr_name "$1")
  shift
  cleanup_fn oci_remove "$name"
  podman run --name "$name" --runtime "$LOOPFS_OCI" \
    --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 --network none \
    --annotation io.loopfs.enable=true "$@"
}

# podman exec in this test's container WHAT.
oci_exec ()
{
  local name
  name=$(ctr_name "$1")
  shift
  podman exec "$name" "$@"
}

# A field of podman inspect of this test's container WHAT.
ctr_field ()
{
  podman inspect -f "{{$2}}" "$(ctr_name "$1")"
}

# Print "ID SUPERVISOR LOOPFSD NBDKIT..." of the running container
# WHAT's instance, to hand to check_gone later.
instance_of ()
{
  local id dir sup loopfsd nbdkit
  id=$(ctr_field "$1" .Id) || fail "inspect $1"
  dir=$OCI_STATE/$id
  [ -d "$dir" ] || fail "$1: no state directory $dir"
  sup=$(cat "$dir/supervisor.pid") || fail "$1: no supervisor pid"
  loopfsd=$(loopfsd_pid "$dir/instance") || fail "$1: no loopfsd"
  nbdkit=$(children_nbdkit "$loopfsd" | tr '\n' ' ')
  echo "$id $sup $loopfsd $nbdkit"
}

# The instance of the running container WHAT, as a path that reaches it
# from any mount namespace.
instance_dir ()
{
  local id
  id=$(ctr_field "$1" .Id) || fail "inspect $1"
  echo "/proc/$(cat "$OCI_STATE/$id/supervisor.pid")/root$OCI_STATE/$id/instance"
}

# Fail (saying WHAT) unless everything of the instance INSTANCE
# (instance_of's words) is gone within 20 s: supervisor, loopfsd,
# nbdkit processes, mounts, the state directory, loopfsd's files.
check_gone ()
{
  local what=$1 id=$2 sup=$3 loopfsd=$4
  shift 4
  wait_all_gone 20000 "$sup" "$loopfsd" "$@" >/dev/null \
    || fail "$what: processes of $id left"
  local left
  left=$(_one_process_per_namespace | while read -r pid _; do
    grep -s " $OCI_STATE/$id/" "/proc/$pid/mountinfo" || true
  done)
  [ -z "$left" ] || fail "$what: mounts left: $left"
  [ ! -e "$OCI_STATE/$id" ] \
    || fail "$what: $OCI_STATE/$id left: $(ls -la "$OCI_STATE/$id")"
  check_daemon_leftovers "$what" "$loopfsd"
}

# Fail (saying WHAT) if a host loop device is bound to a file below DIR:
# what the containers did must not have reached the host's devices.
# (Comparing all host devices before and after would see other jobs on
# the machine.)
no_host_loops_on ()
{
  local what=$1 dir=$2 out
  out=$(losetup -l -n -O NAME,BACK-FILE 2>/dev/null | grep -F " $dir/" || true)
  [ -z "$out" ] || fail "$what: host loop devices on $dir: $out"
}
