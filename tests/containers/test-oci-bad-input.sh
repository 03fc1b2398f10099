#!/bin/bash
# Bad input to loopfs-oci gets a clear message on stderr and a non-zero
# exit before anything starts, and leaves nothing behind: an unknown
# io.loopfs.* annotation, bad values, a runtime that does not exist, a
# bundle that is not valid JSON, a bad config file.  Also: commands and
# options pass through to the runtime unchanged, a container that does
# not opt in has its bundle untouched, a runtime whose create fails
# leaves no instance, and after a wrapper killed during create the
# runtime's delete removes what it started.  Driven directly with a stub runtime, and the
# annotation cases once through podman.
set -euo pipefail
# shellcheck source=../functions.sh
source "$(dirname "$0")/../functions.sh"
# shellcheck source=oci-functions.sh
source "$(dirname "$0")/oci-functions.sh"

oci_requires
tmp=$(make_tmpdir)
stub=$tmp/runtime
cat >"$stub" <<'STUB'
#!/bin/sh
echo "$*" >>"${0%/*}/calls"
[ ! -e "${0%/*}/hang" ] || { echo $$ >"${0%/*}/hang"; exec sleep 600; }
exit "$(cat "${0%/*}/status" 2>/dev/null || echo 0)"
STUB
chmod +x "$stub"
bundle=$tmp/bundle
mkdir "$bundle"
id=loopfs-test-$$-direct

# Write a config.json with annotations ANNOTATIONS (a JSON object body).
config ()
{
  printf '{"ociVersion":"1.0.2","process":{"args":["sh"]},"root":{"path":"rootfs"},"annotations":{%s}}\n' \
    "$1" >"$bundle/config.json"
}

# Run loopfs-oci with ARGS and expect failure with MESSAGE on stderr,
# the runtime never called and no state directory.
expect_refusal ()
{
  local what=$1 message=$2 err
  shift 2
  rm -f "$tmp/calls"
  if err=$("$LOOPFS_OCI" "$@" 2>&1 >/dev/null); then
    fail "$what: accepted"
  fi
  grep -qF "$message" <<<"$err" || fail "$what: message '$err', not '$message'"
  [ ! -e "$tmp/calls" ] || fail "$what: the runtime ran: $(cat "$tmp/calls")"
  [ ! -e "$OCI_STATE/$id" ] || fail "$what: $OCI_STATE/$id left"
  echo "$what: $err"
}

create=(--runtime-path "$stub" --root /x create --bundle "$bundle" "$id")
config '"io.loopfs.enable":"true","io.loopfs.size":"3"'
expect_refusal "unknown annotation" "unknown annotation io.loopfs.size" "${create[@]}"
config '"io.loopfs.enable":"yes"'
expect_refusal "bad enable" "io.loopfs.enable: 'yes' is neither" "${create[@]}"
for max in 0 -1 12x 99999999999; do
  config '"io.loopfs.enable":"true","io.loopfs.max":"'"$max"'"'
  expect_refusal "max=$max" "io.loopfs.max: '$max' is not a number" "${create[@]}"
done
config '"io.loopfs.enable":"true"'
expect_refusal "missing runtime" "runtime $tmp/none: not found" \
  --runtime-path "$tmp/none" create --bundle "$bundle" "$id"
expect_refusal "missing runtime, other command" "runtime $tmp/none: not found" \
  --runtime-path "$tmp/none" state "$id"
expect_refusal "bad container ID" "is not a container ID" \
  --runtime-path "$stub" create --bundle "$bundle" ../x
echo '{"ociVersion": "1.0.2", "process": ' >"$bundle/config.json"
expect_refusal "invalid JSON" "not a valid OCI config" "${create[@]}"
rm "$bundle/config.json"
expect_refusal "no config.json" "config.json: No such file" "${create[@]}"
echo 'runtime /bin/true' >"$tmp/oci.conf"
expect_refusal "bad config file" "not a \"key = value\" line" \
  --loopfs-config "$tmp/oci.conf" state "$id"
expect_refusal "missing config file" "$tmp/nothing.conf" \
  --loopfs-config "$tmp/nothing.conf" state "$id"

# Pass-through: other commands and a create without the annotation go
# to the runtime unchanged (options included), the bundle untouched.
rm -f "$tmp/calls"
"$LOOPFS_OCI" --runtime-path="$stub" --root /x --log /y kill "$id" KILL \
  || fail "kill passed through"
assert_eq "kill passed through" "--root /x --log /y kill $id KILL" "$(cat "$tmp/calls")"
printf 'runtime = %s\nalways = false\n' "$stub" >"$tmp/oci.conf"
config '"io.loopfs.enable":"false"'
cp "$bundle/config.json" "$tmp/config.before"
rm -f "$tmp/calls"
"$LOOPFS_OCI" --loopfs-config "$tmp/oci.conf" create --bundle "$bundle" "$id" \
  || fail "create without loopfs"
assert_eq "create passed through" "create --bundle $bundle $id" "$(cat "$tmp/calls")"
cmp -s "$tmp/config.before" "$bundle/config.json" || fail "bundle edited"
[ ! -e "$OCI_STATE/$id" ] || fail "state made for a container without loopfs"

# A runtime whose create fails: the instance started for it goes again.
config '"io.loopfs.enable":"true"'
echo 3 >"$tmp/status"
rm -f "$tmp/calls"
set +e
"$LOOPFS_OCI" --runtime-path "$stub" create --bundle "$bundle" "$id" 2>"$tmp/err"
status=$?
set -e
assert_eq "exit status of a failed create" 3 "$status"
[ -s "$tmp/calls" ] || fail "the runtime did not run"
grep -q '"listenerPath"' "$bundle/config.json" || fail "bundle not edited"
[ ! -e "$OCI_STATE/$id" ] || fail "failed create left $OCI_STATE/$id"
! grep -q " $OCI_STATE/$id/" /proc/self/mountinfo || fail "failed create left mounts"
rm "$tmp/status"

# The wrapper killed while the runtime's create runs: the supervisor
# it started stays (the runtime may still connect) until the engine's
# delete, which ends it and removes everything.
config '"io.loopfs.enable":"true"'
touch "$tmp/hang"
"$LOOPFS_OCI" --runtime-path "$stub" create --bundle "$bundle" "$id" &
wrapper=$!
cleanup_fn kill -KILL "$wrapper"
rm -f "$tmp/calls"
for ((i = 0; i < 100; i++)); do
  [ -s "$tmp/hang" ] && break
  sleep 0.1
done
[ -s "$tmp/hang" ] || fail "the runtime's create did not start"
sup=$(cat "$OCI_STATE/$id/supervisor.pid") || fail "no supervisor"
loopfsd=$(loopfsd_pid "$OCI_STATE/$id/instance") || fail "no loopfsd"
kill -KILL "$wrapper"
wait "$wrapper" 2>/dev/null || true
kill -KILL "$(cat "$tmp/hang")"
rm "$tmp/hang"
kill -0 "$sup" || fail "the supervisor died with the wrapper"
"$LOOPFS_OCI" --runtime-path "$stub" delete --force "$id" || fail "delete"
check_gone "delete after the wrapper was killed" "$id" "$sup" "$loopfsd"

# Through podman: the message reaches the user, nothing is left.
# (oci_run in $(...) cannot register the removal itself.)
cleanup_fn oci_remove "$(ctr_name bad)"
for bad in io.loopfs.bogus=1 io.loopfs.max=0; do
  if out=$(oci_run bad --annotation "$bad" "$OCI_IMAGE" true 2>&1); then
    fail "podman run with $bad worked"
  fi
  grep -q 'loopfs-oci: .*io.loopfs' <<<"$out" || fail "podman run with $bad: $out"
  echo "podman run with $bad: $(grep -o 'loopfs-oci: [^"]*' <<<"$out" | head -1)"
  if id=$(podman inspect -f '{{.Id}}' "$(ctr_name bad)" 2>/dev/null); then
    [ ! -e "$OCI_STATE/$id" ] || fail "podman run with $bad left $OCI_STATE/$id"
  fi
  podman rm -f -t 0 "$(ctr_name bad)" >/dev/null 2>&1 || true
done
