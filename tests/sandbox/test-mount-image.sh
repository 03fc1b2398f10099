#!/bin/bash
# The image builder, end to end in loopfsctl exec with unmodified
# tools: attach a disk image with losetup -P, partition it with sfdisk
# (GPT: an ESP and a root; sfdisk's BLKRRPART makes /dev/loop0p1 and
# /dev/loop0p2), make a vfat ESP and an ext4 root, mount the root, mount
# the ESP on root/boot, copy a tree of a few thousand files into both,
# unmount both, detach; then outside the sandbox both filesystems, cut
# from the image at the offsets the partition table gives, are clean
# and every file is there with its checksum.
set -euo pipefail
# shellcheck source=../functions.sh
source "$(dirname "$0")/../functions.sh"

requires_root
isolate_mounts "$@"
for tool in mount fuse2fs fusefat mkfs.ext4 mkfs.vfat fsck.vfat debugfs sfdisk partx; do
  requires command -v "$tool"
done

tmp=$(make_tmpdir)
mkdir -p "$tmp/root-tree" "$tmp/boot-tree" "$tmp/esp-check"

# A root tree of 2000 small files in 40 directories, and a boot tree.
for d in $(seq 1 40); do
  mkdir "$tmp/root-tree/d$d"
  for f in $(seq 1 50); do
    echo "file $d/$f $RANDOM$RANDOM" > "$tmp/root-tree/d$d/f$f"
  done
done
head -c 2M /dev/urandom > "$tmp/root-tree/big"
mkdir -p "$tmp/boot-tree/EFI/BOOT"
head -c 300K /dev/urandom > "$tmp/boot-tree/EFI/BOOT/BOOTX64.EFI"
head -c 5M /dev/urandom > "$tmp/boot-tree/vmlinuz"
(cd "$tmp/root-tree" && find . -type f -print0 | sort -z | xargs -0 sha256sum) \
  > "$tmp/root.sums"
(cd "$tmp/boot-tree" && find . -type f -print0 | sort -z | xargs -0 sha256sum) \
  > "$tmp/boot.sums"
truncate -s 200M "$tmp/disk.img"

out=$("$LOOPFSCTL" exec -- bash -c '
  set -e
  t=$1
  dev=$(losetup -f --show -P "$t/disk.img")
  printf "label: gpt\n,64M,U\n,,L\n" | sfdisk -q "$dev"
  mkfs.vfat -n ESP "${dev}p1" >/dev/null
  mkfs.ext4 -q "${dev}p2"
  mkdir -p "$t/target"
  mount "${dev}p2" "$t/target"
  mkdir "$t/target/boot"
  mount "${dev}p1" "$t/target/boot"
  findmnt -n -l -o SOURCE,TARGET,FSTYPE -R "$t/target" | tr -s " "
  cp -r "$t/root-tree/." "$t/target/"
  cp -r "$t/boot-tree/." "$t/target/boot/"
  umount "$t/target/boot"
  umount "$t/target"
  losetup -d "$dev"
  echo "devices left: $(losetup -a | wc -l)"
  echo "entries left: $(ls /dev | grep "^loop[0-9]" | tr "\n" " ")"
' sandbox "$tmp" 2>"$tmp/log") || fail "image builder: $out $(cat "$tmp/log")"
echo "$out"
grep -qx "/dev/loop0p2 $tmp/target fuse.ext4" <<<"$out" || fail "root: $out"
grep -qx "/dev/loop0p1 $tmp/target/boot fuse.vfat" <<<"$out" \
  || fail "ESP: $out"
grep -qx 'devices left: 0' <<<"$out" || fail "devices: $out"
# The device stays (unbound, as after the kernel's detach); its
# partitions' entries went with the detach.
grep -qx 'entries left: loop0 ' <<<"$out" || fail "/dev entries: $out"

# The two filesystems where the partition table says they are.
read -r esp_start esp_sectors < <(partx -g -n 1 -o START,SECTORS "$tmp/disk.img")
read -r root_start root_sectors < <(partx -g -n 2 -o START,SECTORS "$tmp/disk.img")
dd if="$tmp/disk.img" of="$tmp/esp.img" bs=512 skip="$esp_start" \
   count="$esp_sectors" status=none || fail "cutting the ESP out"
dd if="$tmp/disk.img" of="$tmp/root.img" bs=512 skip="$root_start" \
   count="$root_sectors" status=none || fail "cutting the root out"
e2fsck -fn "$tmp/root.img" >"$tmp/fsck" 2>&1 \
  || fail "root not clean: $(cat "$tmp/fsck")"
fsck.vfat -n "$tmp/esp.img" >"$tmp/fsck" 2>&1 \
  || fail "ESP not clean: $(cat "$tmp/fsck")"
mkdir "$tmp/root-check"
debugfs -R "rdump / $tmp/root-check" "$tmp/root.img" >/dev/null 2>&1 \
  || fail "debugfs rdump"
(cd "$tmp/root-check" && sha256sum --quiet -c "$tmp/root.sums") \
  || fail "root: checksums differ"
[ "$(find "$tmp/root-check" -type f | wc -l)" -eq 2001 ] \
  || fail "root: $(find "$tmp/root-check" -type f | wc -l) files, not 2001"
fusefat -o ro "$tmp/esp.img" "$tmp/esp-check" >/dev/null 2>&1 \
  || fail "fusefat -o ro"
cleanup_fn umount -l "$tmp/esp-check"
(cd "$tmp/esp-check" && sha256sum --quiet -c "$tmp/boot.sums") \
  || fail "ESP: checksums differ"
