#!/bin/bash
# The image builder, end to end in loopfsctl exec with unmodified
# tools: attach the disks, make an ext4 root and a vfat ESP, mount the
# root, mount the ESP on root/boot, copy a tree of a few thousand files
# into both, unmount both, detach; then outside the sandbox both
# filesystems are clean and every file is there with its checksum.
#
# Until partition nodes exist the root and the ESP are two whole-device
# images (ROOT_DEV and ESP_DEV); with partitions, one GPT image made by
# sfdisk and attached with losetup -P gives /dev/loop0p2 and
# /dev/loop0p1 instead, and only attach () and the outside checks'
# extraction of the two filesystems change.
set -euo pipefail
# shellcheck source=../functions.sh
source "$(dirname "$0")/../functions.sh"

requires_root
isolate_mounts "$@"
for tool in mount fuse2fs fusefat mkfs.ext4 mkfs.vfat fsck.vfat debugfs; do
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
truncate -s 128M "$tmp/root.img"
truncate -s 64M "$tmp/esp.img"

out=$("$LOOPFSCTL" exec -- bash -c '
  set -e
  t=$1
  root_dev=$(losetup -f --show "$t/root.img")
  esp_dev=$(losetup -f --show "$t/esp.img")
  mkfs.ext4 -q "$root_dev"
  mkfs.vfat -n ESP "$esp_dev" >/dev/null
  mkdir -p "$t/target"
  mount "$root_dev" "$t/target"
  mkdir "$t/target/boot"
  mount "$esp_dev" "$t/target/boot"
  findmnt -n -l -o SOURCE,TARGET,FSTYPE -R "$t/target" | tr -s " "
  cp -r "$t/root-tree/." "$t/target/"
  cp -r "$t/boot-tree/." "$t/target/boot/"
  umount "$t/target/boot"
  umount "$t/target"
  losetup -d "$root_dev" "$esp_dev"
  echo "devices left: $(losetup -a | wc -l)"
' sandbox "$tmp" 2>"$tmp/log") || fail "image builder: $out $(cat "$tmp/log")"
echo "$out"
grep -qx "/dev/loop0 $tmp/target fuse.ext4" <<<"$out" || fail "root: $out"
grep -qx "/dev/loop1 $tmp/target/boot fuse.vfat" <<<"$out" \
  || fail "ESP: $out"
grep -qx 'devices left: 0' <<<"$out" || fail "devices: $out"

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
