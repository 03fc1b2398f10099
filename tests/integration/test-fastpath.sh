#!/bin/bash
# The fast path (loopfsd -o fastpath, on by default): a device whose
# backing file is on a local filesystem is read and written by loopfsd
# itself.  Seen from outside: with the device's nbdkit stopped
# (SIGSTOP), reads and writes still complete and reach the file, also at
# an offset and after LOOP_SET_CAPACITY gave the device a new backend,
# while a flush waits for nbdkit, which still serves it; a read-only
# device reads the same way and still refuses writes (EPERM); and with
# -o fastpath=off a read waits for the stopped nbdkit.
set -euo pipefail
# shellcheck source=../functions.sh
source "$(dirname "$0")/../functions.sh"
requires_root
isolate_mounts "$@"

new_instance -
case $(stat -f -c %T "$tmp") in
  ext2/ext3|xfs|btrfs|tmpfs) ;;
  *) echo "SKIP: $tmp is on $(stat -f -c %T "$tmp"), which the fast path does not serve" >&2
     exit 77 ;;
esac
head -c 4M /dev/urandom > "$tmp/a.img"
head -c 64k /dev/urandom > "$tmp/pat"

# Stop nbdkit PID until the test ends (cleanup resumes it, whatever
# happens, before the instance is unmounted).
freeze ()
{
  cleanup_fn sh -c "kill -CONT $1 2>/dev/null || true"
  kill -STOP "$1"
}

# --- Reads and writes with nbdkit stopped, at an offset ------------------------
out=$(in_sandbox "$mnt" losetup -f --show --offset 1048576 "$tmp/a.img") \
  || fail "losetup -f --show --offset: $out"
assert_eq "losetup -f --show --offset" /dev/loop0 "$out"
pid=$("$LOOP_HELPER" xattr "$mnt/loop0" user.loopfs.nbdkit-pid) || fail "xattr: $pid"
freeze "$pid"
timeout 5 "$LOOP_HELPER" pread "$mnt/loop0" 65536 65536 > "$tmp/got" \
  || fail "a read waited for the stopped nbdkit"
cmp -s "$tmp/got" <(tail -c +$((1048576 + 65536 + 1)) "$tmp/a.img" | head -c 65536) \
  || fail "loop0 at 64 KiB does not read a.img at 1 MiB + 64 KiB"
timeout 5 "$LOOP_HELPER" pread "$mnt/loop0" 0 1048576 > "$tmp/got" \
  || fail "a 1 MiB read waited for the stopped nbdkit"
cmp -s "$tmp/got" <(tail -c +$((1048576 + 1)) "$tmp/a.img" | head -c 1048576) \
  || fail "a 1 MiB read of loop0 does not read a.img at 1 MiB"
out=$(timeout 5 "$LOOP_HELPER" pwrite "$mnt/loop0" 131072 65536 < "$tmp/pat") \
  || fail "a write waited for the stopped nbdkit: $out"
cmp -s -n 65536 -i $((1048576 + 131072)):0 "$tmp/a.img" "$tmp/pat" \
  || fail "the write to loop0 at 128 KiB did not reach a.img at 1 MiB + 128 KiB"
# A flush goes to nbdkit, which still serves it.
! timeout 1 python3 -c 'import os, sys; os.fsync(os.open(sys.argv[1], os.O_WRONLY))' \
    "$mnt/loop0" || fail "fsync of loop0 did not wait for the stopped nbdkit"
kill -CONT "$pid"
python3 -c 'import os, sys; os.fsync(os.open(sys.argv[1], os.O_WRONLY))' "$mnt/loop0" \
  || fail "fsync of loop0 failed once nbdkit runs again"

# --- A new backend (LOOP_SET_CAPACITY) keeps the fast path --------------------
truncate -s 8M "$tmp/a.img"
head -c 65536 "$tmp/pat" | dd of="$tmp/a.img" bs=64k seek=100 conv=notrunc status=none
out=$("$LOOP_HELPER" capacity "$mnt/loop0" rw) || fail "capacity: $out"
assert_eq "size after LOOP_SET_CAPACITY" $((7 * 1048576)) "$(stat -c %s "$mnt/loop0")"
pid2=$("$LOOP_HELPER" xattr "$mnt/loop0" user.loopfs.nbdkit-pid) || fail "xattr: $pid2"
[ "$pid2" != "$pid" ] || fail "LOOP_SET_CAPACITY kept nbdkit $pid"
freeze "$pid2"
timeout 5 "$LOOP_HELPER" pread "$mnt/loop0" $((100 * 65536 - 1048576)) 65536 > "$tmp/got" \
  || fail "after LOOP_SET_CAPACITY a read waited for the stopped nbdkit"
cmp -s "$tmp/got" "$tmp/pat" || fail "the grown part of loop0 does not read a.img"
kill -CONT "$pid2"
out=$("$LOOP_HELPER" clr "$mnt/loop0") || fail "clr: $out"

# --- A read-only device --------------------------------------------------------
out=$("$LOOP_HELPER" set-fd "$mnt/loop0" "$tmp/a.img" ro) || fail "set-fd ro: $out"
pid=$("$LOOP_HELPER" xattr "$mnt/loop0" user.loopfs.nbdkit-pid) || fail "xattr: $pid"
freeze "$pid"
timeout 5 "$LOOP_HELPER" pread "$mnt/loop0" 0 65536 > "$tmp/got" \
  || fail "a read of the read-only device waited for the stopped nbdkit"
cmp -s "$tmp/got" <(head -c 65536 "$tmp/a.img") || fail "read-only loop0 reads wrong data"
expect_errno EPERM timeout 5 sh -c "'$LOOP_HELPER' pwrite '$mnt/loop0' 0 4096 < '$tmp/pat'"
kill -CONT "$pid"
out=$("$LOOP_HELPER" clr "$mnt/loop0") || fail "clr: $out"
umount "$mnt"
wait_gone "$LOOPFSD_PID" || fail "loopfsd did not exit after umount"

# --- -o fastpath=off: every read goes to nbdkit --------------------------------
start_loopfsd_log "$tmp/loopfsd-off.log" "$mnt" -o fastpath=off
out=$("$LOOP_HELPER" add "$mnt/loop-control" 0) || fail "add: $out"
out=$("$LOOP_HELPER" set-fd "$mnt/loop0" "$tmp/a.img" rw) || fail "set-fd: $out"
pid=$("$LOOP_HELPER" xattr "$mnt/loop0" user.loopfs.nbdkit-pid) || fail "xattr: $pid"
cmp -s -n 65536 "$mnt/loop0" "$tmp/a.img" || fail "fastpath=off: loop0 reads wrong data"
freeze "$pid"
rc=0
timeout 1 "$LOOP_HELPER" pread "$mnt/loop0" 0 4096 > /dev/null || rc=$?
assert_eq "exit status of a read with nbdkit stopped and fastpath=off" 124 "$rc"
kill -CONT "$pid"
timeout 5 "$LOOP_HELPER" pread "$mnt/loop0" 0 4096 > "$tmp/got" \
  || fail "fastpath=off: a read failed once nbdkit runs again"
cmp -s "$tmp/got" <(head -c 4096 "$tmp/a.img") || fail "fastpath=off: wrong data"
echo "PASS"
