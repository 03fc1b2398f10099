#!/bin/bash
# Guest test of -o nbd=: with nbd=off a binding works through the FUSE
# path alone (no user.loopfs.nbd, no nbd device connected) even though
# the kernel has nbd; nbd=on attaches like the default; a bad value is
# refused at mount time.  Not here: nbd=on on a kernel without nbd (this
# VM has it), and nbd=auto or on in a daemon without CAP_SYS_ADMIN, i.e.
# a rootless one in a user namespace, which the VM cannot make: its
# tests run in a chroot, where unshare(CLONE_NEWUSER) fails with EPERM.
#
# Runs inside the VM only: tests/vm/run-vm tests/vm/test-nbd-off.sh
# [BUILDDIR].
set -euo pipefail
# shellcheck source=../functions.sh
source "$(dirname "$0")/../functions.sh"
# shellcheck source=../integration/leftovers.sh
source "$(dirname "$0")/../integration/leftovers.sh"
# shellcheck source=nbd-functions.sh
source "$(dirname "$0")/nbd-functions.sh"

nbd_test_setup "$@"

MiB=1048576
size=$((16 * MiB))
tmp=$(make_tmpdir)
mnt=$tmp/mnt
img=$tmp/disk.img
mkdir "$mnt"
head -c $size /dev/urandom > "$img"
head -c $MiB /dev/urandom > "$tmp/pat"

# --- nbd=off ------------------------------------------------------------------------
start_loopfsd_log "$tmp/off.log" "$mnt" -o nbd=off
losetup_bind "$mnt" /dev/loop0 "$img"
assert_no_nbd "$mnt/loop0"
assert_no_nbd_connected "nbd=off, bound"
[ -n "$(children_nbdkit "$LOOPFSD_PID")" ] || fail "nbd=off: loop0 has no nbdkit"
# The FUSE path works on its own.
dd if="$tmp/pat" of="$mnt/loop0" bs=1M seek=2 conv=notrunc,fsync status=none \
  || fail "nbd=off: write through loop0"
dd if="$img" bs=1M skip=2 count=1 status=none | cmp -s - "$tmp/pat" \
  || fail "nbd=off: the write through loop0 is not in the image"
cmp -s "$mnt/loop0" "$img" || fail "nbd=off: loop0 does not read the image"
losetup_bind "$mnt" /dev/loop1 -r "$img"
assert_no_nbd "$mnt/loop1"
assert_no_nbd_connected "nbd=off, two bound"
loop_clr "$mnt/loop1"
loop_clr "$mnt/loop0"
umount "$mnt"
wait_gone "$LOOPFSD_PID" || fail "nbd=off: loopfsd did not exit after umount"
echo "nbd=off: bound and served loop0 and loop1 without an nbd device"

# --- nbd=on -------------------------------------------------------------------------
start_loopfsd_log "$tmp/on.log" "$mnt" -o nbd=on
losetup_bind "$mnt" /dev/loop0 "$img"
nbd=$(nbd_of "$mnt/loop0")
assert_nbd_connected "nbd=on" "$nbd" $size
dd if="$nbd" bs=1M skip=2 count=1 iflag=direct status=none \
  | cmp -s - "$tmp/pat" \
  || fail "nbd=on: $nbd does not read the image"
loop_clr "$mnt/loop0"
wait_nbd_disconnected "nbd=on, after LOOP_CLR_FD" "$nbd"
umount "$mnt"
wait_gone "$LOOPFSD_PID" || fail "nbd=on: loopfsd did not exit after umount"
echo "nbd=on: loop0 was attached to $nbd"

# --- A bad value --------------------------------------------------------------------
if out=$("$LOOPFSD" -o nbd=maybe,log="$tmp/bad.log" "$mnt" 2>&1); then
  pid=$(loopfsd_pid "$mnt") || pid=
  cleanup_fn _stop_loopfsd "$mnt" "$pid"
  fail "-o nbd=maybe was accepted"
fi
! is_mounted "$mnt" || fail "-o nbd=maybe left $mnt mounted"
grep -q "nbd" <<<"$out$(cat "$tmp/bad.log" 2>/dev/null)" \
  || fail "-o nbd=maybe: the error does not name the option: $out"
echo "-o nbd=maybe refused: $out"

assert_no_nbd_connected "at the end"
echo "PASS"
