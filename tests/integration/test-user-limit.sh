#!/bin/bash
# The per-user limit across instances: one uid holds at most N devices
# however many instances it mounts (N from /etc/loopfs/max_loop_devices,
# 255 when absent), creating more fails with ENOSPC, a daemon killed by
# SIGKILL leaves no stale count behind, and max= above N is refused at
# mount time.  The test runs in its own mount namespace with a private
# /run/loopfs and a private limit file, so the host's own instances
# neither count nor change.
set -euo pipefail
# shellcheck source=../functions.sh
source "$(dirname "$0")/../functions.sh"

requires_root
isolate_mounts "$@"

tmp=$(make_tmpdir)
mkdir "$tmp/a" "$tmp/b" "$tmp/c" "$tmp/etc"

# A private /run/loopfs: counting starts from zero here.
mkdir -p /run/loopfs
mount -t tmpfs -o mode=0755 loopfs-test-run /run/loopfs
cleanup_fn umount -l /run/loopfs
# A private /etc/loopfs holding the limit file.
if [ ! -d /etc/loopfs ]; then
  mkdir /etc/loopfs
  cleanup_fn rmdir /etc/loopfs
fi
mount -t tmpfs -o mode=0755 loopfs-test-etc /etc/loopfs
cleanup_fn umount -l /etc/loopfs

# Without the file the limit is 255: max=255 mounts, max=256 does not.
start_loopfsd "$tmp/a" -o max=255
umount "$tmp/a"
wait_gone "$LOOPFSD_PID" || fail "loopfsd did not exit"
out=$("$LOOPFSD" -o max=256 "$tmp/a" 2>&1) && fail "max=256 accepted"
grep -q "max=256 is above this host's limit of 255" <<<"$out" \
  || fail "no clear message for max=256: $out"

echo 3 > /etc/loopfs/max_loop_devices
out=$("$LOOPFSD" -o max=4 "$tmp/a" 2>&1) && fail "max=4 accepted with limit 3"
grep -q "limit of 3" <<<"$out" || fail "unexpected message: $out"
is_mounted "$tmp/a" && fail "a refused mount left $tmp/a mounted"

start_loopfsd_log "$tmp/a.log" "$tmp/a"
pid_a=$LOOPFSD_PID
start_loopfsd_log "$tmp/b.log" "$tmp/b"

# Three devices across two instances, then ENOSPC in either.
assert_eq "add a0" 0 "$("$LOOP_HELPER" add "$tmp/a/loop-control" 0)"
assert_eq "add a1" 1 "$("$LOOP_HELPER" add "$tmp/a/loop-control" 1)"
assert_eq "add b0" 0 "$("$LOOP_HELPER" add "$tmp/b/loop-control" 0)"
expect_errno ENOSPC "$LOOP_HELPER" add "$tmp/b/loop-control" 1
expect_errno ENOSPC "$LOOP_HELPER" add "$tmp/a/loop-control" 5
# GET_FREE still hands out an existing unbound device...
assert_eq "get-free b" 0 "$("$LOOP_HELPER" get-free "$tmp/b/loop-control")"
# ...but cannot make a new one once that is bound.
truncate -s 1M "$tmp/disk.img"
"$LOOP_HELPER" set-fd "$tmp/b/loop0" "$tmp/disk.img" rw >/dev/null
expect_errno ENOSPC "$LOOP_HELPER" get-free "$tmp/b/loop-control"
[ "$(ls /run/loopfs/users/0 | grep -c '^dev-')" -eq 3 ] \
  || fail "expected 3 accounting files: $(ls /run/loopfs/users/0)"

# Removing a device gives its share back.
"$LOOP_HELPER" remove "$tmp/a/loop-control" 1 >/dev/null
assert_eq "get-free b after remove" 1 \
  "$("$LOOP_HELPER" get-free "$tmp/b/loop-control")"
expect_errno ENOSPC "$LOOP_HELPER" add "$tmp/a/loop-control" 1

# A daemon killed by SIGKILL holds no count: its files are stale.
kill -KILL "$pid_a"
wait_gone "$pid_a" || fail "loopfsd $pid_a survived SIGKILL"
umount -l "$tmp/a"
assert_eq "add b2 after SIGKILL" 2 "$("$LOOP_HELPER" add "$tmp/b/loop-control" 2)"
[ "$(ls /run/loopfs/users/0 | grep -c '^dev-')" -eq 3 ] \
  || fail "stale accounting files left: $(ls /run/loopfs/users/0)"

# A third instance of the same user is bound by the same count.
start_loopfsd_log "$tmp/c.log" "$tmp/c"
expect_errno ENOSPC "$LOOP_HELPER" get-free "$tmp/c/loop-control"
"$LOOP_HELPER" clr "$tmp/b/loop0" >/dev/null
echo "ok"
