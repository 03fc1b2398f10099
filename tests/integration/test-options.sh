#!/bin/bash
# Command line and mount options: --help and --version, strict rejection
# of unknown or out-of-range options and of a bad MOUNTPOINT (with a
# message, and nothing mounted), the max=N device limit, and -f (the
# daemon stays in the foreground and exits after umount).
set -euo pipefail
# shellcheck source=../functions.sh
source "$(dirname "$0")/../functions.sh"

requires_root
isolate_mounts "$@"

tmp=$(make_tmpdir)
mnt=$tmp/mnt
mkdir "$mnt"
touch "$tmp/file"
truncate -s 1M "$tmp/disk.img"

# Run loopfsd ARGS..., which must fail with a message matching PATTERN
# and leave nothing mounted or running.
expect_rejected ()
{
  local pattern=$1 out rc=0 pid
  shift
  out=$(timeout 10 "$LOOPFSD" "$@" 2>&1) || rc=$?
  if is_mounted "$mnt"; then
    pid=$(loopfsd_pid "$mnt") && cleanup_fn _stop_loopfsd "$mnt" "$pid"
    fail "loopfsd $* mounted $mnt"
  fi
  [ "$rc" -ne 0 ] || fail "loopfsd $* succeeded"
  [ "$rc" -ne 124 ] || fail "loopfsd $* hung"
  ! grep -qE 'Sanitizer|runtime error:' <<<"$out" \
    || fail "loopfsd $*: sanitizer report: $out"
  grep -qE -- "$pattern" <<<"$out" \
    || fail "loopfsd $*: message does not match '$pattern': $out"
  ! loopfsd_pid "$mnt" >/dev/null || fail "loopfsd $* left a daemon running"
}

out=$("$LOOPFSD" --help) || fail "--help failed"
grep -q "max=" <<<"$out" || fail "--help does not mention max=: $out"
out=$("$LOOPFSD" -h) || fail "-h failed"
grep -q "MOUNTPOINT" <<<"$out" || fail "-h does not show the usage: $out"
out=$("$LOOPFSD" --version) || fail "--version failed"
grep -qE '^loopfsd [0-9]+\.[0-9]+' <<<"$out" || fail "--version: $out"

expect_rejected "bogus" -o bogus "$mnt"
expect_rejected "bogus" -o max=4,bogus=1 "$mnt"
expect_rejected "max" -o max=0 "$mnt"
expect_rejected "max" -o max=99999999 "$mnt"
expect_rejected "max" -o max=-1 "$mnt"
expect_rejected "max" -o max=two "$mnt"
expect_rejected "max" -o max "$mnt"
expect_rejected "connections" -o connections=0 "$mnt"
expect_rejected "connections" -o connections=17 "$mnt"
expect_rejected "log" -o log= "$mnt"
expect_rejected "uid" -o uid=-1 "$mnt"
expect_rejected "uid" -o uid=4294967295 "$mnt"
expect_rejected "gid" -o gid=x "$mnt"
expect_rejected "uid" -o uid "$mnt"
expect_rejected "--frobnicate|unrecognized" --frobnicate "$mnt"
expect_rejected "MOUNTPOINT"
expect_rejected "too many arguments" "$mnt" "$tmp"
expect_rejected "not a directory" "$tmp/file"
expect_rejected "No such file or directory" "$tmp/missing"

# max=2: a third device is refused.
start_loopfsd_log "$tmp/loopfsd.log" "$mnt" -o max=2
for n in 0 1; do
  out=$("$LOOP_HELPER" get-free "$mnt/loop-control") || fail "get-free: $out"
  assert_eq "GET_FREE with max=2" "$n" "$out"
  out=$("$LOOP_HELPER" set-fd "$mnt/loop$n" "$tmp/disk.img" rw) || fail "set-fd: $out"
done
expect_errno ENOSPC "$LOOP_HELPER" get-free "$mnt/loop-control"
expect_errno ENOSPC "$LOOP_HELPER" add "$mnt/loop-control" 5
assert_eq "entries at the limit" "loop-control loop0 loop1 " \
  "$(ls -A "$mnt" | tr '\n' ' ')"
out=$("$LOOP_HELPER" clr "$mnt/loop1") || fail "clr: $out"
assert_eq "GET_FREE after a detach" 1 \
  "$("$LOOP_HELPER" get-free "$mnt/loop-control")"
out=$("$LOOP_HELPER" clr "$mnt/loop0") || fail "clr: $out"
umount "$mnt"
wait_gone "$LOOPFSD_PID" || fail "loopfsd did not exit after umount"

# uid=, gid=: the owner of every node, loop-control and devices made
# later alike (loopfs-oci gives a container's root its nodes).
start_loopfsd_log "$tmp/loopfsd-uid.log" "$mnt" -o uid=100000,gid=100007
out=$("$LOOP_HELPER" get-free "$mnt/loop-control") || fail "get-free: $out"
assert_eq "owner of loop-control" "100000:100007" \
  "$(stat -c %u:%g "$mnt/loop-control")"
assert_eq "owner of loop0" "100000:100007" "$(stat -c %u:%g "$mnt/loop0")"
umount "$mnt"
wait_gone "$LOOPFSD_PID" || fail "loopfsd -o uid= did not exit after umount"

# -f: the command itself is the daemon, and it exits after umount.
cleanup_fn _check_loopfsd_log "$tmp/loopfsd-f.log"
"$LOOPFSD" -f -o "log=$tmp/loopfsd-f.log" "$mnt" &
fg_pid=$!
cleanup_fn _stop_loopfsd "$mnt" "$fg_pid"
for ((i = 0; i < 100; i++)); do
  is_mounted "$mnt" && [ -e "$mnt/loop-control" ] && break
  kill -0 "$fg_pid" 2>/dev/null || fail "loopfsd -f exited early"
  sleep 0.1
done
is_mounted "$mnt" || fail "loopfsd -f did not mount"
assert_eq "daemon pid with -f" "$fg_pid" "$(loopfsd_pid "$mnt")"
out=$("$LOOP_HELPER" get-free "$mnt/loop-control") || fail "get-free with -f: $out"
out=$("$LOOP_HELPER" set-fd "$mnt/loop0" "$tmp/disk.img" rw) || fail "set-fd: $out"
sleep 0.5
kill -0 "$fg_pid" || fail "loopfsd -f did not stay running"
umount "$mnt"
wait_gone "$fg_pid" || fail "loopfsd -f did not exit after umount"
rc=0
wait "$fg_pid" || rc=$?
assert_eq "loopfsd -f exit status after umount" 0 "$rc"
! is_mounted "$mnt" || fail "$mnt still mounted"
echo "PASS"
