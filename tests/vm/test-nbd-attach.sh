#!/bin/bash
# Guest test: binding loopN also attaches /dev/nbdX.  Unmodified
# `losetup -f --show` binds an image in an instance; user.loopfs.nbd
# names the nbd device, which the kernel's own mkfs.ext4, mount and
# e2fsck use; what was written through it is the same through loopN
# (the FUSE path, whose cache must not serve stale data) and in the
# backing file, and what is written through loopN reads back through
# the nbd device.  LOOP_CLR_FD disconnects it (sysfs), and binding
# again (LOOP_SET_FD this time) attaches again.
#
# Runs inside the VM only: tests/vm/run-vm tests/vm/test-nbd-attach.sh
# [BUILDDIR].
set -euo pipefail
# shellcheck source=../functions.sh
source "$(dirname "$0")/../functions.sh"
# shellcheck source=../integration/leftovers.sh
source "$(dirname "$0")/../integration/leftovers.sh"
# shellcheck source=nbd-functions.sh
source "$(dirname "$0")/nbd-functions.sh"

nbd_test_setup "$@"
requires mkfs.ext4 -V
requires command -v debugfs

MiB=1048576
size=$((64 * MiB))
tmp=$(make_tmpdir)
mnt=$tmp/mnt
fs=$tmp/fs
img=$tmp/disk.img
mkdir "$mnt" "$fs"
truncate -s $size "$img"
head -c $((3 * MiB + 12345)) /dev/urandom > "$tmp/random"
start_loopfsd_log "$tmp/loopfsd.log" "$mnt"

# --- Bind with losetup (LOOP_CONFIGURE) ---------------------------------------
losetup_bind "$mnt" /dev/loop0 "$img"
nbd=$(nbd_of "$mnt/loop0")
echo "loop0 is attached to $nbd: backend $(nbd_backend "$nbd")"
assert_nbd_connected "after losetup" "$nbd" $size
assert_eq "blockdev --getro $nbd" 0 "$(blockdev --getro "$nbd")"
assert_eq "logical block size of $nbd" 512 "$(blockdev --getss "$nbd")"
[[ $(nbd_backend "$nbd") == *:loop0 ]] \
  || fail "backend of $nbd does not name loop0: $(nbd_backend "$nbd")"

# Read loop0 through the FUSE path before the nbd device writes, so
# that a page cache kept on loop0 would show stale zeros afterwards.
zeros=$(head -c $((16 * MiB)) /dev/zero | sha256sum | cut -d' ' -f1)
assert_eq "first 16 MiB of loop0 before mkfs" "$zeros" \
  "$(region_sum "$mnt/loop0" 0 $((16 * MiB)))"

# --- The kernel's own tools on the nbd device ------------------------------------
out=$(mkfs.ext4 -q -F -L loopfs-nbd "$nbd" 2>&1) || fail "mkfs.ext4 $nbd: $out"
mount -t ext4 "$nbd" "$fs" || fail "mount $nbd"
cleanup_fn unmount_if_mounted "$fs"
echo hello > "$fs/hello"
mkdir "$fs/dir"
cp "$tmp/random" "$fs/dir/random"
sync
cmp "$tmp/random" "$fs/dir/random" || fail "the file reads back wrong from $fs"
umount "$fs"
out=$(e2fsck -fn "$nbd" 2>&1) || fail "e2fsck -fn $nbd: $out"
echo "mkfs.ext4, mount, write, umount on $nbd: e2fsck clean"

# --- The same bytes through loop0 (FUSE) and in the backing file ----------------
# Whole-region sums of the first 16 MiB (superblock, group descriptors,
# inode tables and the start of the data) through the three paths.
want=$(region_sum "$nbd" 0 $((16 * MiB)) direct)
[ "$want" != "$zeros" ] || fail "the first 16 MiB of $nbd are still zeros"
assert_eq "first 16 MiB of loop0 (FUSE, read before)" "$want" \
  "$(region_sum "$mnt/loop0" 0 $((16 * MiB)))"
assert_eq "first 16 MiB of the image" "$want" \
  "$(region_sum "$img" 0 $((16 * MiB)))"
# The files, read by libext2fs through loop0 and from the image.
for src in "$mnt/loop0" "$img"; do
  debugfs -R "dump /dir/random $tmp/random.out" "$src" >/dev/null 2>&1 \
    || fail "debugfs dump /dir/random from $src"
  cmp "$tmp/random" "$tmp/random.out" || fail "/dir/random differs in $src"
  out=$(debugfs -R "cat /hello" "$src" 2>/dev/null)
  assert_eq "/hello in $src" hello "$out"
done
out=$(e2fsck -fn "$mnt/loop0" 2>&1) || fail "e2fsck -fn $mnt/loop0: $out"
echo "the file system is the same through loop0 and in the image"

# --- Written through loop0, read through the nbd device ---------------------------
# Past the end of the file system's first groups, read through the nbd
# device first so that a stale page cache there would show.
off=$((48 * MiB))
region_sum "$nbd" $off $MiB >/dev/null
head -c $MiB /dev/urandom > "$tmp/pattern"
dd if="$tmp/pattern" of="$mnt/loop0" bs=1M seek=$((off / MiB)) conv=notrunc,fsync \
  status=none || fail "write through loop0"
want=$(sha256sum < "$tmp/pattern" | cut -d' ' -f1)
assert_eq "1 MiB written through loop0, read from $nbd (O_DIRECT)" "$want" \
  "$(region_sum "$nbd" $off $MiB direct)"
assert_eq "1 MiB written through loop0, read from $nbd (page cache)" "$want" \
  "$(region_sum "$nbd" $off $MiB)"
assert_eq "1 MiB written through loop0, in the image" "$want" \
  "$(region_sum "$img" $off $MiB)"

# --- LOOP_CLR_FD disconnects -------------------------------------------------------
loop_clr "$mnt/loop0"
wait_nbd_disconnected "after LOOP_CLR_FD" "$nbd"
assert_no_nbd "$mnt/loop0"
assert_no_nbd_connected "after LOOP_CLR_FD"

# --- Binding again (LOOP_SET_FD) attaches again -------------------------------------
out=$("$LOOP_HELPER" set-fd "$mnt/loop0" "$img" rw) || fail "set-fd: $out"
nbd2=$(nbd_of "$mnt/loop0")
echo "bound again: loop0 is attached to $nbd2"
assert_nbd_connected "after LOOP_SET_FD" "$nbd2" $size
out=$(e2fsck -fn "$nbd2" 2>&1) || fail "e2fsck -fn $nbd2 after binding again: $out"
mount -t ext4 -o ro "$nbd2" "$fs" || fail "mount -o ro $nbd2"
cmp "$tmp/random" "$fs/dir/random" || fail "/dir/random differs after binding again"
umount "$fs"
loop_clr "$mnt/loop0"
wait_nbd_disconnected "after the second LOOP_CLR_FD" "$nbd2"

umount "$mnt"
wait_gone "$LOOPFSD_PID" || fail "loopfsd $LOOPFSD_PID did not exit after umount"
assert_no_nbd_connected "after umount"
echo "PASS"
