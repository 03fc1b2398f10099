#!/bin/bash
# mount(8) and umount(8), unmodified, in loopfsctl exec: mounts of the
# instance's devices are served by FUSE drivers (fuse2fs, fusefat,
# squashfuse).  mount -o loop for ext4, vfat and squashfs with files
# written and checked outside afterwards (fsck clean, every checksum
# right); -o loop,ro; -o loop=/dev/loop3; an fstab with loop, offset=
# and sizelimit= and mount -a; what the mount looks like in findmnt;
# and the kernel's errnos: a bad image (EINVAL, the driver's message in
# loopfsctl's log), an unknown type (ENODEV), an option the driver
# cannot honour (EINVAL), a busy device (EBUSY), a missing target
# (ENOENT), a detached device (EIO), a caller without CAP_SYS_ADMIN
# (EPERM), a read-only device mounted rw (EACCES: mount(8) mounts it
# read-only with its warning).  Other mounts still reach the kernel unchanged.
set -euo pipefail
# shellcheck source=../functions.sh
source "$(dirname "$0")/../functions.sh"

requires_root
isolate_mounts "$@"
requires mount --version
for tool in fuse2fs fusefat squashfuse ntfs-3g mkfs.vfat fsck.vfat mksquashfs \
  mkntfs ntfscat debugfs setpriv; do
  requires command -v "$tool"
done

tmp=$(make_tmpdir)
log=$tmp/loopfsctl.log

# Run SCRIPT (bash) in a fresh sandbox; its stdout is printed, the
# sandbox's stderr (mount's and loopfsctl's) goes to $log.
sandbox ()
{
  "$LOOPFSCTL" exec -- bash -c "$1" sandbox "$tmp" 2>"$log"
}

# A tree of files of random sizes, and their checksums.
mkdir -p "$tmp/tree/sub/deeper" "$tmp/m" "$tmp/m2" "$tmp/m3"
for i in $(seq 1 40); do
  head -c $((RANDOM * 7 % 200000)) /dev/urandom > "$tmp/tree/f$i"
  head -c $((RANDOM % 5000)) /dev/urandom > "$tmp/tree/sub/deeper/g$i"
done
(cd "$tmp/tree" && find . -type f -print0 | sort -z | xargs -0 sha256sum) \
  > "$tmp/tree.sums"

# Check the tree copied to DIR against the checksums.
check_tree ()
{
  (cd "$1" && sha256sum --quiet -c "$tmp/tree.sums") \
    || fail "$2: checksums differ"
}

truncate -s 64M "$tmp/ext.img"
mkfs.ext4 -q -F "$tmp/ext.img"
truncate -s 64M "$tmp/fat.img"
mkfs.vfat "$tmp/fat.img" >/dev/null
mksquashfs "$tmp/tree" "$tmp/sq.img" -quiet -no-progress >/dev/null

# ext4: write, umount, and the device is gone (AUTOCLEAR) once umount
# returned, so the bytes are all in the image.
out=$(sandbox '
  mount -o loop "$1/ext.img" "$1/m" || exit 1
  findmnt -n -o SOURCE,FSTYPE "$1/m"
  mount | grep -F " on $1/m " | sed "s/ (.*//"
  cp -r "$1/tree/." "$1/m/" && sync
  umount "$1/m" || exit 2
  echo "devices after umount: $(losetup -a | wc -l)"
  ! findmnt "$1/m" >/dev/null && echo "gone from mountinfo"
') || fail "ext4 mount -o loop: $out $(cat "$log")"
echo "$out"
grep -qx '/dev/loop0 fuse.ext4' <<<"$out" || fail "findmnt: $out"
grep -qx "$tmp/ext.img on $tmp/m type fuse.ext4" <<<"$out" \
  || fail "mount's listing: $out"
grep -qx 'devices after umount: 0' <<<"$out" || fail "AUTOCLEAR: $out"
grep -qx 'gone from mountinfo' <<<"$out" || fail "still mounted: $out"
e2fsck -fn "$tmp/ext.img" >"$tmp/fsck.out" 2>&1 \
  || fail "e2fsck after the sandbox: $(cat "$tmp/fsck.out")"
mkdir "$tmp/ext-out"
debugfs -R "rdump / $tmp/ext-out" "$tmp/ext.img" >/dev/null 2>&1 \
  || fail "debugfs rdump"
check_tree "$tmp/ext-out" "ext4"

# umount -l, and umount naming the device: both return after the
# driver closed the device (the AUTOCLEAR device is gone at once), and
# the data is in the image.
out=$(sandbox '
  mount -o loop "$1/ext.img" "$1/m" || exit 1
  head -c 1M /dev/zero > "$1/m/lazy" || exit 2
  umount -l "$1/m" || exit 3
  echo "after umount -l: $(losetup -a | wc -l)"
  mount -o loop "$1/ext.img" "$1/m" || exit 4
  umount /dev/loop0 || exit 5
  echo "after umount /dev/loop0: $(losetup -a | wc -l)"
') || fail "umount -l: $out $(cat "$log")"
grep -qx 'after umount -l: 0' <<<"$out" || fail "umount -l: $out"
grep -qx 'after umount /dev/loop0: 0' <<<"$out" \
  || fail "umount /dev/loop0: $out"
# With no mount of it, umount of the device is refused as on the host
# (EINVAL: not mounted), and its /dev entry stays.
out=$(sandbox '
  dev=$(losetup -f --show "$1/ext.img") || exit 1
  umount "$dev" 2>/dev/null; echo "umount of an unmounted device: $?"
  [ -b "$dev" ] && echo "entry kept"
  losetup -d "$dev"
') || fail "umount of an unmounted device: $out"
grep -qx 'umount of an unmounted device: 32' <<<"$out" \
  || fail "umount of an unmounted device: $out"
grep -qx 'entry kept' <<<"$out" || fail "the /dev entry went: $out"

assert_eq "the file written before umount -l" 1048576 \
  "$(debugfs -R "stat /lazy" "$tmp/ext.img" 2>/dev/null \
     | sed -n 's/.*Size: \([0-9]*\).*/\1/p' | head -n 1)"

# vfat, with the files read back outside through fusefat read-only.
out=$(sandbox '
  mount -o loop "$1/fat.img" "$1/m" || exit 1
  findmnt -n -o SOURCE,FSTYPE "$1/m"
  cp -r "$1/tree/." "$1/m/" || exit 3
  umount "$1/m" || exit 2
  echo "devices after umount: $(losetup -a | wc -l)"
') || fail "vfat mount -o loop: $out $(cat "$log")"
grep -qx '/dev/loop0 fuse.vfat' <<<"$out" || fail "findmnt vfat: $out"
grep -qx 'devices after umount: 0' <<<"$out" || fail "vfat AUTOCLEAR: $out"
fsck.vfat -n "$tmp/fat.img" >"$tmp/fsck.out" 2>&1 \
  || fail "fsck.vfat after the sandbox: $(cat "$tmp/fsck.out")"
fusefat -o ro "$tmp/fat.img" "$tmp/m3" >/dev/null 2>&1 || fail "fusefat -o ro"
cleanup_fn umount -l "$tmp/m3"
check_tree "$tmp/m3" "vfat"
umount "$tmp/m3"

# ntfs through ntfs-3g, as loopfsctl's driver when mount(8) runs no
# helper (-i); the helper mount.ntfs, run in the sandbox, sees a block
# device and asks the kernel for a fuseblk mount, which it refuses.
truncate -s 32M "$tmp/ntfs.img"
mkntfs -q -F -f "$tmp/ntfs.img" >/dev/null 2>&1 || fail "mkntfs"
out=$(sandbox '
  mount -i -t ntfs -o loop "$1/ntfs.img" "$1/m" || exit 1
  findmnt -n -o SOURCE,FSTYPE "$1/m" | tr -s " "
  echo "through ntfs-3g" > "$1/m/file" || exit 2
  umount "$1/m" || exit 3
  echo "devices after umount: $(losetup -a | wc -l)"
  mount -o loop "$1/ntfs.img" "$1/m" >/dev/null 2>&1; echo "helper: $?"
') || fail "ntfs: $out $(cat "$log")"
grep -qx '/dev/loop0 fuse' <<<"$out" || fail "ntfs findmnt: $out"
grep -qx 'devices after umount: 0' <<<"$out" || fail "ntfs AUTOCLEAR: $out"
! grep -qx 'helper: 0' <<<"$out" || fail "mount.ntfs worked: $out"
assert_eq "the file written through ntfs-3g" "through ntfs-3g" \
  "$(ntfscat "$tmp/ntfs.img" file 2>/dev/null)"

# squashfs: read-only as the kernel's, whatever the flags; and -o
# loop,ro of ext4 refuses writes.
out=$(sandbox '
  mount -o loop "$1/sq.img" "$1/m" || exit 1
  findmnt -n -o SOURCE,FSTYPE,OPTIONS "$1/m" | cut -d, -f1
  (cd "$1/m" && sha256sum --quiet -c "$1/tree.sums") && echo "squashfs sums ok"
  touch "$1/m/new" 2>/dev/null || echo "squashfs write refused"
  umount "$1/m" || exit 2
  mount -o loop,ro "$1/ext.img" "$1/m" || exit 3
  findmnt -n -o OPTIONS "$1/m" | cut -d, -f1
  touch "$1/m/new" 2>&1 | sed "s/.*: //"
  umount "$1/m" || exit 4
  dev=$(losetup -r -f --show "$1/ext.img") || exit 5
  mount "$dev" "$1/m" 2>&1 | sed "s/.*: //"
  findmnt -n -o OPTIONS "$1/m" | cut -d, -f1 | sed "s/^/read-only device: /"
  umount "$1/m" || exit 6
  losetup -d "$dev"
') || fail "squashfs, ro: $out $(cat "$log")"
grep -qx '/dev/loop0 fuse.squashfs ro' <<<"$out" || fail "squashfs: $out"
grep -qx 'squashfs sums ok' <<<"$out" || fail "squashfs contents: $out"
grep -qx 'squashfs write refused' <<<"$out" || fail "squashfs wrote: $out"
grep -qx 'ro' <<<"$out" || fail "-o loop,ro not ro: $out"
grep -qx 'Read-only file system' <<<"$out" || fail "ro write: $out"
grep -qx 'source write-protected, mounted read-only.' <<<"$out" \
  || fail "read-only device, mount(8)'s retry: $out"
grep -qx 'read-only device: ro' <<<"$out" || fail "read-only device: $out"

# -o loop=/dev/loop3 (made first, as a host has it); nosuid, nodev,
# noexec; other mounts untouched.
out=$(sandbox '
  "$LOOP_HELPER" add /dev/loop-control 3 || exit 5
  mount -o loop=/dev/loop3,nosuid,nodev,noexec "$1/ext.img" "$1/m" || exit 1
  findmnt -n -o SOURCE,OPTIONS "$1/m" | cut -d, -f1-4
  umount "$1/m" || exit 2
  mount -t tmpfs -o size=1m tmpfs "$1/m" || exit 3
  findmnt -n -o SOURCE,FSTYPE "$1/m" | tr -s " "
  umount "$1/m" || exit 4
  # fuse2fs run by hand names the device as its FUSE mount'"'"'s source:
  # the kernel'"'"'s fuse never looks it up, and it is not taken over.
  # (In the foreground, so that its flush is waited for: the kernel'"'"'s
  # umount of a plain FUSE mount does not wait.)
  dev=$(losetup -f --show "$1/ext.img") || exit 5
  fuse2fs -f "$dev" "$1/m" >/dev/null 2>&1 &
  fpid=$!
  for i in $(seq 200); do
    findmnt "$1/m" >/dev/null && break
    sleep 0.05
  done
  findmnt -n -o SOURCE,FSTYPE "$1/m" | sed "s/^/by hand: /"
  umount "$1/m" || exit 7
  wait "$fpid"
  losetup -d "$dev"
') || fail "loop=/dev/loop3: $out $(cat "$log")"
grep -qx '/dev/loop3 rw,nosuid,nodev,noexec' <<<"$out" \
  || fail "loop=/dev/loop3: $out"
grep -qx 'tmpfs tmpfs' <<<"$out" || fail "tmpfs: $out"
grep -qxE 'by hand: /dev/loop[0-9]+ fuse.ext4' <<<"$out" \
  || fail "fuse2fs by hand: $out"

# fstab: loop=/dev/loop5 with ro (first: a plain "loop" would get the
# free loop5, as LOOP_CTL_GET_FREE answers on the kernel), loop, loop
# with offset= and sizelimit= (an ext4 at 1 MiB in a bigger file);
# mount -a twice (the second finds them mounted).
truncate -s 16M "$tmp/part.img"
mkfs.ext4 -q -F "$tmp/part.img"
{ head -c 1M /dev/zero; cat "$tmp/part.img"; head -c 3M /dev/zero; } \
  > "$tmp/off.img"
cat > "$tmp/fstab" <<FSTAB
$tmp/fat.img $tmp/m3 vfat loop=/dev/loop5,ro 0 0
$tmp/ext.img $tmp/m ext4 loop 0 0
$tmp/off.img $tmp/m2 ext4 loop,offset=1048576,sizelimit=16777216 0 0
FSTAB
out=$(sandbox '
  "$LOOP_HELPER" add /dev/loop-control 5 || exit 5
  mount -a -T "$1/fstab" || exit 1
  mount -a -T "$1/fstab" || exit 2
  findmnt -n -o TARGET,FSTYPE "$1/m" | tr -s " "
  findmnt -n -o TARGET,FSTYPE "$1/m2" | tr -s " "
  findmnt -n -o SOURCE,TARGET,FSTYPE,OPTIONS "$1/m3" | tr -s " " | cut -d, -f1
  losetup -n -O NAME,OFFSET,SIZELIMIT,AUTOCLEAR -l | tr -s " "
  echo data > "$1/m2/file" || exit 3
  umount "$1/m" "$1/m2" "$1/m3" || exit 4
  echo "devices after umount: $(losetup -a | wc -l)"
') || fail "fstab: $out $(cat "$log")"
grep -qx "$tmp/m fuse.ext4" <<<"$out" || fail "fstab loop: $out"
grep -qx "$tmp/m2 fuse.ext4" <<<"$out" || fail "fstab offset: $out"
grep -q ' 1048576 16777216 1$' <<<"$out" || fail "offset device: $out"
grep -qx "/dev/loop5 $tmp/m3 fuse.vfat ro" <<<"$out" || fail "loop=: $out"
grep -qx 'devices after umount: 0' <<<"$out" || fail "fstab AUTOCLEAR: $out"
dd if="$tmp/off.img" of="$tmp/part.img" bs=1M skip=1 count=16 status=none
e2fsck -fn "$tmp/part.img" >/dev/null 2>&1 || fail "offset fs not clean"
assert_eq "file in the offset fs" data \
  "$(debugfs -R "cat /file" "$tmp/part.img" 2>/dev/null)"

# The new mount API (fsopen, fsconfig, fsmount, move_mount) gives what
# mount(2) gives: the same mount, read-only with "ro", data written.
out=$(sandbox '
  [ "$(losetup -f --show "$1/ext.img")" = /dev/loop0 ] || exit 1
  "$MOUNT_CALL" newapi /dev/loop0 "$1/m" ext4
  findmnt -n -o SOURCE,FSTYPE,OPTIONS "$1/m" | cut -d, -f1
  echo "through the new API" > "$1/m/newapi"
  umount "$1/m" || exit 2
  "$MOUNT_CALL" mount /dev/loop0 "$1/m" ext4
  findmnt -n -o SOURCE,FSTYPE,OPTIONS "$1/m" | cut -d, -f1
  umount "$1/m" || exit 3
  "$MOUNT_CALL" newapi /dev/loop0 "$1/m" ext4 ro
  findmnt -n -o SOURCE,FSTYPE,OPTIONS "$1/m" | cut -d, -f1
  "$MOUNT_CALL" umount "$1/m"
  "$MOUNT_CALL" newapi /dev/loop0 "$1/missing" ext4
  losetup -d /dev/loop0
') || fail "new mount API: $out $(cat "$log")"
echo "$out"
assert_eq "new mount API against mount(2)" \
  "ok
/dev/loop0 fuse.ext4 rw
ok
/dev/loop0 fuse.ext4 rw
ok
/dev/loop0 fuse.ext4 ro
ok
move_mount: ENOENT" "$out"
assert_eq "file written through the new API" "through the new API" \
  "$(debugfs -R "cat /newapi" "$tmp/ext.img" 2>/dev/null)"

# The errnos, through mount(8)'s own messages and through mount(2).
head -c 8M /dev/urandom > "$tmp/bad.img"
out=$(sandbox '
  mount -t ext4 -o loop "$1/bad.img" "$1/m"; echo "bad image: $?"
  echo "devices: $(losetup -a | wc -l)"
  mount -t xfs -o loop "$1/ext.img" "$1/m"; echo "unknown type: $?"
  mount -o loop,journal_async_commit "$1/ext.img" "$1/m"; echo "option: $?"
  [ "$(losetup -f --show "$1/ext.img")" = /dev/loop0 ] || exit 1
  mount /dev/loop0 "$1/m" || exit 1
  "$MOUNT_CALL" mount /dev/loop0 "$1/m2" ext4
  "$MOUNT_CALL" mount /dev/loop0 "$1/missing" ext4
  setpriv --reuid 1000 --regid 1000 --clear-groups --inh-caps=-all \
    "$MOUNT_CALL" mount /dev/loop0 "$1/m2" ext4
  umount "$1/m" || exit 2
  [ "$(losetup -f --show "$1/ext.img")" = /dev/loop1 ] || exit 3
  losetup -d /dev/loop1
  "$MOUNT_CALL" mount /dev/loop1 "$1/m2" ext4
  losetup -d /dev/loop0
') || fail "errnos: $out $(cat "$log")"
echo "$out"
grep -qx 'bad image: 32' <<<"$out" || fail "bad image: $out"
grep -q 'wrong fs type, bad option, bad superblock' "$log" \
  || fail "bad image message: $(cat "$log")"
grep -q 'Bad magic number in super-block' "$log" \
  || fail "fuse2fs's message not in the log: $(cat "$log")"
grep -qx 'devices: 0' <<<"$out" || fail "device left by a failed mount: $out"
grep -qx 'unknown type: 32' <<<"$out" || fail "unknown type: $out"
grep -q "unknown filesystem type 'xfs'" "$log" || fail "xfs: $(cat "$log")"
grep -qx 'option: 32' <<<"$out" || fail "refused option: $out"
grep -q "does not take the option 'journal_async_commit'" "$log" \
  || fail "option message: $(cat "$log")"
grep -qx 'mount: EBUSY' <<<"$out" || fail "busy device: $out"
grep -qx 'mount: ENOENT' <<<"$out" || fail "missing target: $out"
grep -qx 'mount: EPERM' <<<"$out" || fail "without CAP_SYS_ADMIN: $out"
grep -qx 'mount: EIO' <<<"$out" || fail "detached device: $out"
# The same calls with --mount=off reach the kernel, which refuses the
# nodes as it did before mount interception.
out=$("$LOOPFSCTL" exec --mount=off -- bash -c '
  losetup -f "$1/ext.img"
  "$MOUNT_CALL" mount /dev/loop0 "$1/m" ext4
  losetup -d /dev/loop0' sandbox "$tmp" 2>&1) || fail "--mount=off: $out"
grep -qx 'mount: ENOTBLK' <<<"$out" || fail "--mount=off: $out"
e2fsck -fn "$tmp/ext.img" >/dev/null 2>&1 || fail "ext4 not clean at the end"
