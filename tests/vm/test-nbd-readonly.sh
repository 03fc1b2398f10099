#!/bin/bash
# Guest test: a read-only binding gives a read-only nbd device, through
# `losetup -r` (LOOP_CONFIGURE with LO_FLAGS_READ_ONLY) and through
# LOOP_SET_FD with a backing file opened read-only.  The kernel marks
# the device read-only, writes to it fail, the image does not change,
# and reads (and a read-only ext4 mount) serve the image's bytes.
#
# Runs inside the VM only: tests/vm/run-vm tests/vm/test-nbd-readonly.sh
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

MiB=1048576
size=$((32 * MiB))
tmp=$(make_tmpdir)
mnt=$tmp/mnt
fs=$tmp/fs
img=$tmp/disk.img
mkdir "$mnt" "$fs" "$tmp/src"
head -c $((2 * MiB)) /dev/urandom > "$tmp/src/random"
truncate -s $size "$img"
out=$(mkfs.ext4 -q -F -d "$tmp/src" "$img" 2>&1) || fail "mkfs.ext4 -d: $out"
want=$(sha256sum < "$img" | cut -d' ' -f1)
head -c 4096 /dev/urandom > "$tmp/pat"
start_loopfsd_log "$tmp/loopfsd.log" "$mnt"
cleanup_fn unmount_if_mounted "$fs"

# Check that DEV, attached to a read-only binding, is read-only in
# every way that shows, and serves the image.  WHAT names the case.
check_read_only_nbd ()
{
  local what=$1 dev=$2 out
  assert_nbd_connected "$what" "$dev" $size
  assert_eq "$what: blockdev --getro $dev" 1 "$(blockdev --getro "$dev")"
  assert_eq "$what: sysfs ro of $dev" 1 "$(cat "$(nbd_sysfs "$dev")/ro")"
  # The block layer refuses writes to a read-only disk with EPERM.
  if out=$(dd if="$tmp/pat" of="$dev" bs=4k count=1 oflag=direct \
             conv=notrunc status=none 2>&1); then
    fail "$what: a write to $dev succeeded"
  fi
  grep -q "Operation not permitted" <<<"$out" \
    || fail "$what: a write to $dev: expected EPERM, got: $out"
  expect_errno EPERM sh -c "'$LOOP_HELPER' pwrite '$dev' 0 4096 < '$tmp/pat'"
  expect_errno EPERM sh -c \
    "'$LOOP_HELPER' pwrite '$dev' 8192 4096 direct < '$tmp/pat'"
  assert_eq "$what: whole $dev (O_DIRECT)" "$want" \
    "$(region_sum "$dev" 0 $size direct)"
  mount -t ext4 -o ro "$dev" "$fs" || fail "$what: mount -o ro $dev"
  cmp "$tmp/src/random" "$fs/random" || fail "$what: /random differs on $dev"
  umount "$fs"
  assert_eq "$what: the image after" "$want" "$(sha256sum < "$img" | cut -d' ' -f1)"
}

# --- losetup -r -----------------------------------------------------------------
losetup_bind "$mnt" /dev/loop0 -r "$img"
assert_eq "losetup -r: BLKROGET of loop0" 1 "$(status_field "$mnt/loop0" ro)"
nbd=$(nbd_of "$mnt/loop0")
echo "losetup -r: loop0 is attached to $nbd"
check_read_only_nbd "losetup -r" "$nbd"
loop_clr "$mnt/loop0"
wait_nbd_disconnected "losetup -r, after LOOP_CLR_FD" "$nbd"

# --- LOOP_SET_FD with a read-only descriptor ------------------------------------------
out=$("$LOOP_HELPER" set-fd "$mnt/loop0" "$img" ro) || fail "set-fd ro: $out"
nbd=$(nbd_of "$mnt/loop0")
echo "LOOP_SET_FD read-only: loop0 is attached to $nbd"
check_read_only_nbd "LOOP_SET_FD read-only" "$nbd"
loop_clr "$mnt/loop0"
wait_nbd_disconnected "LOOP_SET_FD read-only, after LOOP_CLR_FD" "$nbd"

# --- A read-write binding after them is writable again --------------------------------
losetup_bind "$mnt" /dev/loop0 "$img"
nbd=$(nbd_of "$mnt/loop0")
assert_eq "read-write again: blockdev --getro $nbd" 0 "$(blockdev --getro "$nbd")"
out=$("$LOOP_HELPER" pwrite "$nbd" $((size - 4096)) 4096 direct < "$tmp/pat") \
  || fail "read-write again: pwrite to $nbd: $out"
tail -c 4096 "$img" | cmp -s - "$tmp/pat" \
  || fail "read-write again: the write to $nbd is not in the image"
loop_clr "$mnt/loop0"
wait_nbd_disconnected "read-write again, after LOOP_CLR_FD" "$nbd"
assert_no_nbd_connected "at the end"
echo "PASS"
