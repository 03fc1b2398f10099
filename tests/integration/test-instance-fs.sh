#!/bin/bash
# The filesystem of an instance: only loop-control at first, fixed modes
# and owner, nothing can be created, linked, renamed or re-moded, the
# control node cannot be removed, `rm loopN` removes an unbound unopened
# device and is EBUSY while the device is bound or open, and two
# instances never see each other's devices.
set -euo pipefail
# shellcheck source=../functions.sh
source "$(dirname "$0")/../functions.sh"

requires_root
isolate_mounts "$@"

tmp=$(make_tmpdir)
a=$tmp/a
b=$tmp/b
mkdir "$a" "$b"
truncate -s 4M "$tmp/disk.img"
start_loopfsd_log "$tmp/loopfsd-a.log" "$a"
pid_a=$LOOPFSD_PID

# The names in directory DIR, on one line.
names ()
{
  ls -A "$1" | tr '\n' ' '
}

# Run CMD..., which must fail with MESSAGE (strerror text) on stderr.
expect_fail ()
{
  local msg=$1 out
  shift
  if out=$("$@" 2>&1); then
    fail "$* succeeded, expected \"$msg\""
  fi
  grep -qF "$msg" <<<"$out" || fail "$*: expected \"$msg\", got: $out"
}

# Print one number from loop-control ioctl CMD of instance DIR.
ctl ()
{
  local out
  out=$("$LOOP_HELPER" "$1" "$2/loop-control" "${@:3}") || fail "$1 $2: $out"
  echo "$out"
}

assert_eq "initial entries" "loop-control " "$(names "$a")"
assert_eq "root mode" "755 directory" "$(stat -c '%a %F' "$a")"
assert_eq "loop-control mode" "600 regular empty file" \
  "$(stat -c '%a %F' "$a/loop-control")"
assert_eq "root owner" "$(id -u):$(id -g)" "$(stat -c '%u:%g' "$a")"
assert_eq "loop-control owner" "$(id -u):$(id -g)" \
  "$(stat -c '%u:%g' "$a/loop-control")"

assert_eq "GET_FREE" 0 "$(ctl get-free "$a")"
assert_eq "entries after GET_FREE" "loop-control loop0 " "$(names "$a")"
assert_eq "loop0 mode" 600 "$(stat -c '%a' "$a/loop0")"
assert_eq "loop0 owner" "$(id -u):$(id -g)" "$(stat -c '%u:%g' "$a/loop0")"

# Nothing can be made, linked, renamed or changed.
eperm="Operation not permitted"
expect_fail "$eperm" mknod "$a/null" c 1 3
expect_fail "$eperm" mknod "$a/loop7" b 7 7
expect_fail "$eperm" mkdir "$a/dir"
expect_fail "$eperm" touch "$a/file"
expect_fail "$eperm" ln -s loop-control "$a/symlink"
expect_fail "$eperm" ln "$a/loop-control" "$a/hardlink"
expect_fail "$eperm" rm "$a/loop-control"
expect_fail "$eperm" mv "$a/loop-control" "$a/renamed"
expect_fail "$eperm" mv "$a/loop0" "$a/loop5"
expect_fail "$eperm" chmod 0666 "$a/loop-control"
expect_fail "$eperm" chmod 0644 "$a/loop0"
expect_fail "$eperm" chown 65534 "$a/loop0"
assert_eq "entries after refused changes" "loop-control loop0 " "$(names "$a")"
assert_eq "loop0 mode after chmod" 600 "$(stat -c '%a' "$a/loop0")"

# rm loopN: removes an unbound, unopened device.
rm "$a/loop0"
assert_eq "entries after rm loop0" "loop-control " "$(names "$a")"
[ ! -e "$a/loop0" ] || fail "loop0 still exists after rm"
expect_errno ENODEV "$LOOP_HELPER" remove "$a/loop-control" 0

# ... but not a bound one,
assert_eq "GET_FREE after rm" 0 "$(ctl get-free "$a")"
out=$("$LOOP_HELPER" set-fd "$a/loop0" "$tmp/disk.img" rw) || fail "set-fd: $out"
expect_fail "Device or resource busy" rm "$a/loop0"
assert_eq "loop0 size after refused rm" 4194304 "$(status_field "$a/loop0" size)"
out=$("$LOOP_HELPER" clr "$a/loop0") || fail "clr: $out"
rm "$a/loop0" || fail "rm of loop0 after clr failed"

# ... nor an open one.
assert_eq "ADD 3" 3 "$(ctl add "$a" 3)"
exec {held}<"$a/loop3"
cleanup_fn eval "exec $held<&-"
expect_fail "Device or resource busy" rm "$a/loop3"
exec {held}<&-
rm "$a/loop3" || fail "rm of loop3 after close failed"
assert_eq "entries after removing everything" "loop-control " "$(names "$a")"

# Two instances: B sees nothing of A's devices.
assert_eq "GET_FREE in A" 0 "$(ctl get-free "$a")"
assert_eq "ADD 5 in A" 5 "$(ctl add "$a" 5)"
out=$("$LOOP_HELPER" set-fd "$a/loop0" "$tmp/disk.img" rw) || fail "set-fd: $out"
start_loopfsd_log "$tmp/loopfsd-b.log" "$b"
[ "$LOOPFSD_PID" != "$pid_a" ] || fail "both instances have the same daemon"
assert_eq "B's initial entries" "loop-control " "$(names "$b")"
[ ! -e "$b/loop0" ] || fail "A's loop0 is visible in B"
expect_errno ENODEV "$LOOP_HELPER" remove "$b/loop-control" 5
assert_eq "GET_FREE in B" 0 "$(ctl get-free "$b")"
assert_eq "B's entries" "loop-control loop0 " "$(names "$b")"
expect_errno ENXIO "$LOOP_HELPER" status "$b/loop0"
assert_eq "A's loop0 still bound" 4194304 "$(status_field "$a/loop0" size)"
assert_eq "A's entries" "loop-control loop0 loop5 " "$(names "$a")"
out=$("$LOOP_HELPER" remove "$b/loop-control" 0) || fail "remove in B: $out"
assert_eq "A's loop0 after B removed its loop0" 4194304 \
  "$(status_field "$a/loop0" size)"
out=$("$LOOP_HELPER" clr "$a/loop0") || fail "clr: $out"

echo "PASS"
