#!/bin/bash
# Guest test: the kernel NBD device and the fast path see the same data.
# The image lives on a tmpfs of its own, so loopfsd reads and writes it
# itself (fast path) while the kernel's /dev/nbdX goes through nbdkit:
# with nbdkit stopped loop0 still reads, which shows the fast path is
# in use; what is written through loop0 reads back through the nbd
# device (from its page cache, which loopfsd invalidates, and with
# O_DIRECT), and what is written through the nbd device (O_DIRECT, and
# buffered then synced) reads back through loop0 and is in the file.
#
# Runs inside the VM only: tests/vm/run-vm tests/vm/test-nbd-fastpath.sh
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
size=$((64 * MiB))
tmp=$(make_tmpdir)
mnt=$tmp/mnt
mkdir "$mnt"
shm=$tmp/shm
mkdir "$shm"
mount -t tmpfs -o size=128m tmpfs "$shm" || fail "mount tmpfs on $shm"
cleanup_fn unmount_if_mounted "$shm"
img=$shm/disk.img
assert_eq "filesystem of $shm" tmpfs "$(stat -f -c %T "$shm")"
head -c $size /dev/urandom > "$img"
start_loopfsd_log "$tmp/loopfsd.log" "$mnt"

losetup_bind "$mnt" /dev/loop0 "$img"
nbd=$(nbd_of "$mnt/loop0")
assert_nbd_connected "after losetup" "$nbd" $size

# --- loop0 reads without nbdkit: the fast path is in use --------------------------
pid=$("$LOOP_HELPER" xattr "$mnt/loop0" user.loopfs.nbdkit-pid) || fail "xattr: $pid"
cleanup_fn sh -c "kill -CONT $pid 2>/dev/null || true"
kill -STOP "$pid"
rc=0
sum=$(timeout 30 dd if="$mnt/loop0" bs=1M count=4 status=none | sha256sum | cut -d' ' -f1) \
  || rc=$?
kill -CONT "$pid"
assert_eq "reading loop0 with nbdkit stopped" 0 "$rc"
assert_eq "first 4 MiB of loop0 with nbdkit stopped" \
  "$(region_sum "$img" 0 $((4 * MiB)))" "$sum"

# --- Written through loop0, read through the nbd device -------------------------
off=$((16 * MiB))
region_sum "$nbd" $off $MiB >/dev/null          # fill the nbd page cache
head -c $MiB /dev/urandom > "$tmp/p1"
dd if="$tmp/p1" of="$mnt/loop0" bs=1M seek=$((off / MiB)) conv=notrunc,fsync \
  status=none || fail "write through loop0"
want=$(sha256sum < "$tmp/p1" | cut -d' ' -f1)
assert_eq "written through loop0, read from $nbd (page cache)" "$want" \
  "$(region_sum "$nbd" $off $MiB)"
assert_eq "written through loop0, read from $nbd (O_DIRECT)" "$want" \
  "$(region_sum "$nbd" $off $MiB direct)"
assert_eq "written through loop0, in the image" "$want" "$(region_sum "$img" $off $MiB)"
# 4 KiB writes take the loop's own path for small requests.  With
# readahead off the nbd device caches exactly the page read: readahead
# still in flight when loop0 writes would fill the cache with what
# nbdkit read before the write (the invalidation skips pages under
# I/O), a race of the two caches that the nbdkit path has too.
blockdev --setra 0 "$nbd"
blk=$((24 * MiB / 4096 + 3))
dd if="$nbd" bs=4096 skip=$blk count=1 status=none > /dev/null
head -c 4096 /dev/urandom > "$tmp/p2"
dd if="$tmp/p2" of="$mnt/loop0" bs=4096 seek=$blk conv=notrunc,fsync status=none \
  || fail "4 KiB write through loop0"
for how in "$nbd page cache:$nbd:" "$nbd O_DIRECT:$nbd:iflag=direct" \
           "the image:$img:" "loop0:$mnt/loop0:"; do
  IFS=: read -r name file flag <<<"$how"
  # shellcheck disable=SC2086 # FLAG is one word or none
  dd if="$file" bs=4096 skip=$blk count=1 $flag status=none > "$tmp/got"
  cmp -s "$tmp/p2" "$tmp/got" || fail "4 KiB written through loop0 differ in $name"
done

# --- Written through the nbd device, read through loop0 -------------------------
off=$((32 * MiB))
region_sum "$mnt/loop0" $off $MiB >/dev/null
head -c $MiB /dev/urandom > "$tmp/p3"
dd if="$tmp/p3" of="$nbd" bs=1M seek=$((off / MiB)) oflag=direct conv=notrunc,fsync \
  status=none || fail "O_DIRECT write through $nbd"
want=$(sha256sum < "$tmp/p3" | cut -d' ' -f1)
assert_eq "written through $nbd (O_DIRECT), read from loop0" "$want" \
  "$(region_sum "$mnt/loop0" $off $MiB)"
off=$((40 * MiB))
head -c $MiB /dev/urandom > "$tmp/p4"
dd if="$tmp/p4" of="$nbd" bs=64k seek=$((off / 65536)) conv=notrunc status=none \
  || fail "buffered write through $nbd"
sync "$nbd" 2>/dev/null || blockdev --flushbufs "$nbd"
want=$(sha256sum < "$tmp/p4" | cut -d' ' -f1)
assert_eq "written through $nbd (buffered, synced), read from loop0" "$want" \
  "$(region_sum "$mnt/loop0" $off $MiB)"
assert_eq "written through $nbd (buffered, synced), in the image" "$want" \
  "$(region_sum "$img" $off $MiB)"

loop_clr "$mnt/loop0"
wait_nbd_disconnected "after LOOP_CLR_FD" "$nbd"
umount "$mnt"
wait_gone "$LOOPFSD_PID" || fail "loopfsd $LOOPFSD_PID did not exit after umount"
assert_no_nbd_connected "after umount"
echo "PASS"
