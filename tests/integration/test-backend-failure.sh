#!/bin/bash
# A backend dies: with two devices bound, SIGKILL to one device's nbdkit
# makes I/O on that device fail with EIO within 2 s, while the other
# device, the daemon and the teardown on umount keep working.
set -euo pipefail
# shellcheck source=../functions.sh
source "$(dirname "$0")/../functions.sh"

requires_root
isolate_mounts "$@"

new_instance -
head -c 4M /dev/urandom > "$tmp/a.img"
head -c 4M /dev/urandom > "$tmp/b.img"
head -c 64k /dev/urandom > "$tmp/pat"

for n in 0 1; do
  img=$tmp/$([ $n = 0 ] && echo a || echo b).img
  out=$("$LOOP_HELPER" add "$mnt/loop-control" $n) || fail "add $n: $out"
  out=$("$LOOP_HELPER" set-fd "$mnt/loop$n" "$img" rw) || fail "set-fd $n: $out"
done
victim=$("$LOOP_HELPER" xattr "$mnt/loop0" user.loopfs.nbdkit-pid) \
  || fail "xattr: $victim"
survivor=$("$LOOP_HELPER" xattr "$mnt/loop1" user.loopfs.nbdkit-pid) \
  || fail "xattr: $survivor"
children=$(children_nbdkit "$LOOPFSD_PID" | tr '\n' ' ')
grep -qw "$victim" <<<"$children" || fail "nbdkit $victim is not loopfsd's child"
grep -qw "$survivor" <<<"$children" || fail "nbdkit $survivor is not loopfsd's child"
cmp -s "$mnt/loop0" "$tmp/a.img" || fail "loop0 does not read a.img"

kill -KILL "$victim"
start=$(date +%s%N)
while :; do
  if out=$(timeout 5 "$LOOP_HELPER" pread "$mnt/loop0" 0 4096 direct | tail -c 16); then
    [ $(($(date +%s%N) - start)) -lt 2000000000 ] \
      || fail "loop0 still reads 2 s after its nbdkit was killed"
    sleep 0.1
    continue
  fi
  break
done
elapsed_ms=$((($(date +%s%N) - start) / 1000000))
assert_eq "read after the backend died" EIO "$out"
[ "$elapsed_ms" -le 2000 ] || fail "EIO came after $elapsed_ms ms"
expect_errno EIO timeout 5 "$LOOP_HELPER" pread "$mnt/loop0" 65536 4096
expect_errno EIO timeout 5 sh -c "head -c 4096 '$tmp/pat' | '$LOOP_HELPER' pwrite '$mnt/loop0' 0 4096"

# The other device is untouched.
cmp -s "$mnt/loop1" "$tmp/b.img" || fail "loop1 does not read b.img any more"
dd if="$tmp/pat" of="$mnt/loop1" bs=64k seek=3 conv=notrunc,fsync status=none \
  || fail "writing loop1 failed"
cmp -s -n 65536 -i $((3 * 65536)):0 "$tmp/b.img" "$tmp/pat" \
  || fail "the write to loop1 did not reach b.img"
kill -0 "$LOOPFSD_PID" || fail "loopfsd died with its backend"
kill -0 "$survivor" || fail "loop1's nbdkit died too"

# The dead device can still be detached and reused.
out=$("$LOOP_HELPER" clr "$mnt/loop0") || fail "clr of the dead device: $out"
expect_errno ENXIO "$LOOP_HELPER" status "$mnt/loop0"
out=$("$LOOP_HELPER" set-fd "$mnt/loop0" "$tmp/a.img" rw) || fail "rebind: $out"
cmp -s "$mnt/loop0" "$tmp/a.img" || fail "loop0 does not read a.img after rebinding"

# umount still tears everything down.
pids="$survivor $(children_nbdkit "$LOOPFSD_PID" | tr '\n' ' ')"
umount "$mnt"
wait_gone "$LOOPFSD_PID" || fail "loopfsd did not exit after umount"
for pid in $pids; do
  wait_gone "$pid" || fail "nbdkit $pid outlived loopfsd"
done
! is_mounted "$mnt" || fail "$mnt still mounted"
echo "PASS"
