#!/bin/bash
# The instance lives exactly as long as its container: after a SIGKILL
# of the container's init, of its supervisor or of its loopfsd, and
# after podman restart (which gets a fresh instance), nothing of the old
# instance is left (processes, mounts, state directory, loopfsd's
# files), and a bystander container's instance is untouched throughout.
set -euo pipefail
# shellcheck source=../functions.sh
source "$(dirname "$0")/../functions.sh"
# shellcheck source=oci-functions.sh
source "$(dirname "$0")/oci-functions.sh"

oci_requires
tmp=$(make_tmpdir)
truncate -s 8M "$tmp/disk.img"

# Start container WHAT with a device bound in its instance.
start_with_device ()
{
  oci_run "$1" -d -v "$tmp:/data" "$OCI_IMAGE" sleep 600 >/dev/null \
    || fail "podman run $1"
  out=$(oci_exec "$1" $S/losetup -f --show /data/disk.img) \
    || fail "losetup in $1: $out"
}

start_with_device bystander
read -r -a bystander <<<"$(instance_of bystander)"

bystander_ok ()
{
  kill -0 "${bystander[1]}" "${bystander[2]}" \
    || fail "$1: the bystander's instance ended"
  out=$(oci_exec bystander $S/losetup -l -n -O NAME) || fail "$1: $out"
  assert_eq "$1: bystander's devices" /dev/loop0 "$(tr -d ' ' <<<"$out")"
}

# SIGKILL of the container's init.
start_with_device init
read -r -a inst <<<"$(instance_of init)"
kill -KILL "$(ctr_field init .State.Pid)"
check_gone "SIGKILL of init" "${inst[@]}"
bystander_ok "SIGKILL of init"

# SIGKILL of the supervisor: loopfsd dies with it, auto_unmount takes
# the mounts; the runtime's delete (podman rm) removes the rest.
start_with_device supervisor
read -r -a inst <<<"$(instance_of supervisor)"
kill -KILL "${inst[1]}"
wait_all_gone 20000 "${inst[@]:2}" >/dev/null \
  || fail "loopfsd or nbdkit outlived the supervisor"
podman rm -f -t 0 "$(ctr_name supervisor)" >/dev/null || fail "podman rm -f"
check_gone "SIGKILL of the supervisor" "${inst[@]}"
bystander_ok "SIGKILL of the supervisor"

# SIGKILL of loopfsd: the supervisor tears down and ends.
start_with_device loopfsd
read -r -a inst <<<"$(instance_of loopfsd)"
kill -KILL "${inst[2]}"
check_gone "SIGKILL of loopfsd" "${inst[@]}"
podman rm -f -t 0 "$(ctr_name loopfsd)" >/dev/null || fail "podman rm -f"
bystander_ok "SIGKILL of loopfsd"

# podman restart: the old instance goes, a fresh one (no devices) comes.
start_with_device restart
read -r -a inst <<<"$(instance_of restart)"
podman restart -t 0 "$(ctr_name restart)" >/dev/null || fail "podman restart"
# The same container ID, so the same state directory: the old
# instance's processes must be gone and the new ones different.
wait_all_gone 20000 "${inst[@]:1}" >/dev/null \
  || fail "podman restart: processes of the old instance left"
check_daemon_leftovers "podman restart" "${inst[2]}"
read -r -a fresh <<<"$(instance_of restart)"
[ "${fresh[2]}" != "${inst[2]}" ] || fail "restart kept loopfsd ${inst[2]}"
[ "$(grep -c " $OCI_STATE/${fresh[0]}/" "/proc/${fresh[1]}/mountinfo")" = 2 ] \
  || fail "podman restart: not one instance and one view mounted"
out=$(oci_exec restart $S/losetup -l -n) || fail "losetup -l: $out"
assert_eq "devices after restart" "" "$out"
out=$(oci_exec restart $S/losetup -f --show /data/disk.img) \
  || fail "losetup after restart: $out"
assert_eq "first device after restart" /dev/loop0 "$out"
podman rm -f -t 0 "$(ctr_name restart)" >/dev/null || fail "podman rm -f"
check_gone "podman rm -f after restart" "${fresh[@]}"
bystander_ok "podman restart"

podman rm -f -t 0 "$(ctr_name bystander)" >/dev/null || fail "podman rm -f"
check_gone "podman rm -f" "${bystander[@]}"
