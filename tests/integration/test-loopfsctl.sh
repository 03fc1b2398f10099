#!/bin/bash
# loopfsctl attach, detach, list and status against a real instance:
# every attach option shows up in LOOP_GET_STATUS64, `list --json`
# agrees with LOOP_GET_STATUS64 device by device, listing never opens a
# device (an autoclear device stays bound), and every misuse gives one
# clear line and a non-zero status.
set -euo pipefail
# shellcheck source=../functions.sh
source "$(dirname "$0")/../functions.sh"

requires_root
isolate_mounts "$@"
requires jq --version

ctl=$LOOPFSCTL
new_instance 16M -o max=4

# Run loopfsctl ARGS..., which must fail with status WANT and print one
# line on stderr containing TEXT.
expect_failure ()
{
  local want=$1 text=$2 rc=0 err
  shift 2
  "$ctl" "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
  err=$(cat "$tmp/err")
  assert_eq "exit status of loopfsctl $*" "$want" "$rc"
  assert_eq "lines on stderr of loopfsctl $*" 1 "$(wc -l <"$tmp/err")"
  grep -qF "$text" <<<"$err" || fail "loopfsctl $*: expected '$text', got: $err"
}

# --help on every subcommand succeeds and names it.
for sub in attach detach list status exec; do
  "$ctl" "$sub" --help >"$tmp/help" || fail "loopfsctl $sub --help failed"
  grep -q "loopfsctl $sub" "$tmp/help" || fail "loopfsctl $sub --help: $(cat "$tmp/help")"
done
"$ctl" --help | grep -q "loopfsctl attach" || fail "loopfsctl --help"

# status of a fresh instance.
status=$("$ctl" status --json "$mnt")
assert_eq "status: instance" "$mnt" "$(jq -r .instance <<<"$status")"
assert_eq "status: loopfsd-pid" "$LOOPFSD_PID" "$(jq -r '."loopfsd-pid"' <<<"$status")"
assert_eq "status: max" 4 "$(jq -r .max <<<"$status")"
assert_eq "status: devices" 0 "$(jq -r .devices <<<"$status")"

# attach prints the device path; each option lands in GET_STATUS64.
dev=$("$ctl" attach "$mnt" "$img")
assert_eq "attach" "$mnt/loop0" "$dev"
assert_eq "attach: size" 16777216 "$(status_field "$dev" size)"
assert_eq "attach: file_name" "$img" "$(status_field "$dev" file_name)"
dev=$("$ctl" attach --read-only --offset 1M --sizelimit 2MiB --block-size 4096 \
        --partscan --direct-io "$mnt" "$img")
assert_eq "attach with options" "$mnt/loop1" "$dev"
assert_eq "--offset 1M" 1048576 "$(status_field "$dev" offset)"
assert_eq "--sizelimit 2MiB" 2097152 "$(status_field "$dev" sizelimit)"
assert_eq "--block-size 4096" 4096 "$(status_field "$dev" ssz)"
assert_eq "-r -P --direct-io flags (READ_ONLY|PARTSCAN|DIRECT_IO)" 25 \
  "$(status_field "$dev" flags)"
assert_eq "--read-only BLKROGET" 1 "$(status_field "$dev" ro)"

# A file that cannot be written is bound read-only, with a warning (as
# losetup does): here on a read-only bind mount.
mkdir "$tmp/ro"
cp "$img" "$tmp/ro/disk.img"
mount --bind "$tmp/ro" "$tmp/ro"
cleanup_fn umount -l "$tmp/ro"
mount -o remount,bind,ro "$tmp/ro"
dev=$("$ctl" attach "$mnt" "$tmp/ro/disk.img" 2>"$tmp/err") \
  || fail "attach of a read-only file: $(cat "$tmp/err")"
grep -q "binding read-only" "$tmp/err" || fail "no read-only warning: $(cat "$tmp/err")"
assert_eq "read-only file: flags (LO_FLAGS_READ_ONLY)" 1 "$(status_field "$dev" flags)"
"$ctl" detach "$dev"

# list --json agrees with LOOP_GET_STATUS64 for every device.
json=$("$ctl" list --json "$mnt")
assert_eq "list --json: devices" 3 "$(jq '.devices | length' <<<"$json")"
assert_eq "list --json: loop2 (detached)" unbound "$(jq -r '.devices[2].state' <<<"$json")"
for n in 0 1; do
  d=$(jq ".devices[$n]" <<<"$json")
  path=$(jq -r .name <<<"$d")
  assert_eq "list --json: name" "$mnt/loop$n" "$path"
  for pair in offset:offset sizelimit:sizelimit size:size file-name:file_name \
              back-ino:inode log-sec:ssz; do
    key=${pair%%:*} field=${pair#*:}
    assert_eq "list --json loop$n $key" "$(status_field "$path" "$field")" \
      "$(jq -r ".\"$key\"" <<<"$d")"
  done
  flags=$(status_field "$path" flags)
  assert_eq "list --json loop$n read-only" "$(( (flags & 1) != 0 ))" \
    "$(jq -r '."read-only" | if . then 1 else 0 end' <<<"$d")"
  assert_eq "list --json loop$n partscan" "$(( (flags & 8) != 0 ))" \
    "$(jq -r '.partscan | if . then 1 else 0 end' <<<"$d")"
  assert_eq "list --json loop$n dio" "$(( (flags & 16) != 0 ))" \
    "$(jq -r '.dio | if . then 1 else 0 end' <<<"$d")"
  assert_eq "list --json loop$n back-file" "$img" "$(jq -r '."back-file"' <<<"$d")"
  assert_eq "list --json loop$n state" bound "$(jq -r .state <<<"$d")"
  pid=$(jq -r '."nbdkit-pid"' <<<"$d")
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = nbdkit ] \
    || fail "list --json loop$n: nbdkit-pid $pid is not an nbdkit"
  assert_eq "list --json loop$n nbd (no kernel nbd here)" null "$(jq -r .nbd <<<"$d")"
done

# The table has losetup -l's columns and one row per bound device.
"$ctl" list "$mnt" >"$tmp/table"
assert_eq "list header" "NAME SIZELIMIT OFFSET AUTOCLEAR RO BACK-FILE DIO LOG-SEC NBDKIT NBD" \
  "$(head -n 1 "$tmp/table" | tr -s ' ')"
assert_eq "list rows" 3 "$(wc -l <"$tmp/table")"
read -r name sizelimit offset autoclear ro back dio logsec nbdkit nbd \
  < <(sed -n 3p "$tmp/table")
assert_eq "list row 2" "$mnt/loop1 2097152 1048576 0 1 $img 1 4096 -" \
  "$name $sizelimit $offset $autoclear $ro $back $dio $logsec $nbd"

# AUTOCLEAR shows in the listing while a holder keeps the device; the
# holder's close then clears it.
exec {held}<"$mnt/loop0"
cleanup_fn eval "exec $held<&- 2>/dev/null"
"$LOOP_HELPER" autoclear "$mnt/loop0" || fail "set LO_FLAGS_AUTOCLEAR on loop0"
assert_eq "list --json: autoclear" true \
  "$("$ctl" list --json "$mnt" | jq -r '.devices[] | select(.number == 0) | .autoclear')"
assert_eq "list: AUTOCLEAR column" 1 "$("$ctl" list "$mnt" | awk 'NR == 2 { print $4 }')"
exec {held}<&-
assert_eq "loop0 after the holder's close" unbound \
  "$("$ctl" list --json "$mnt" | jq -r '.devices[] | select(.number == 0) | .state')"

# detach unbinds; list -a still shows the unbound device.
"$ctl" detach "$mnt/loop1"
expect_errno ENXIO "$LOOP_HELPER" status "$mnt/loop1"
assert_eq "list -a: rows" 4 "$("$ctl" list -a "$mnt" | wc -l)"
json=$("$ctl" list --json "$mnt")
assert_eq "list --json after detach: loop1 state" unbound \
  "$(jq -r '.devices[] | select(.number == 1) | .state' <<<"$json")"

# Misuse: one line, non-zero status.
expect_failure 1 "not bound" detach "$mnt/loop1"
expect_failure 1 "not bound" detach "$mnt/loop0"
expect_failure 1 "not a loopfs loop device" detach "$img"
expect_failure 1 "not a loopfs instance" list /tmp
expect_failure 1 "not a loopfs instance" status "$tmp"
expect_failure 1 "No such file or directory" attach "$mnt" "$tmp/missing.img"
expect_failure 2 "not a size" attach --offset 1x "$mnt" "$img"
expect_failure 2 "unknown subcommand" frobnicate
for n in 0 1 2 3; do
  assert_eq "attach up to max=4" "$mnt/loop$n" "$("$ctl" attach "$mnt" "$img")"
done
expect_failure 1 "no free loop device" attach "$mnt" "$img"

for n in 0 1 2 3; do
  "$ctl" detach "$mnt/loop$n" 2>/dev/null || true
done
for ((i = 0; i < 50; i++)); do
  [ -z "$(children_nbdkit "$LOOPFSD_PID")" ] && break
  sleep 0.1
done
[ -z "$(children_nbdkit "$LOOPFSD_PID")" ] \
  || fail "nbdkit still running 5 s after every device was detached"
echo "PASS"
