#!/bin/bash
# The sysfs view and the host's disks (issue 13): in loopfsctl exec,
# /sys/block, /sys/dev/block and /sys/class/block show the host's other
# block devices as the host does (a program reads the uevent of the disk
# under its working directory; lsblk DISK works), the host's loop
# devices stay hidden, /sys/class/block and /sys/devices/virtual/block/
# loopN agree with /sys/block; and a host loop device holding the
# filesystem the job works on never has the number of an instance
# device: the instance's loopN is then shown under another minor.
set -euo pipefail
# shellcheck source=../functions.sh
source "$(dirname "$0")/../functions.sh"

requires_root
isolate_mounts "$@"
requires losetup --version
requires mkfs.ext4 -V

tmp=$(make_tmpdir)

# The disk under the test's directory, as the host sees it.
dev=$(stat -c %d "$tmp")
disk="$((dev >> 8)):$((dev & 255))"
[ -e "/sys/dev/block/$disk" ] \
  || { echo "SKIP: $tmp is on no block device ($disk)" >&2; exit 77; }
host_uevent=$(cat "/sys/dev/block/$disk/uevent")
host_name=$(sed -n 's/^DEVNAME=//p' <<<"$host_uevent")
host_block=$(ls /sys/block | grep -v '^loop' | tr '\n' ' ')
host_lsblk=$(lsblk -n -o NAME,MAJ:MIN,SIZE,TYPE "/dev/$host_name")

out=$(cd "$tmp" && "$LOOPFSCTL" exec -- bash -c '
  d=$(stat -c %d .)
  echo "uevent: $(cat /sys/dev/block/$((d >> 8)):$((d & 255))/uevent | tr "\n" " ")"
  echo "block: $(ls /sys/block | grep -v "^loop" | tr "\n" " ")"
  echo "lsblk: $(lsblk -n -o NAME,MAJ:MIN,SIZE,TYPE /dev/$1)"
  truncate -s 8M img
  dev=$(losetup -f --show -P img)
  n=${dev#/dev/loop}
  echo "loop entries: $(ls /sys/block /sys/class/block /sys/devices/virtual/block \
    | grep "^loop" | sort | tr "\n" " ")"
  echo "dev/block 7: $(ls /sys/dev/block | grep "^7:" | tr "\n" " ")"
  echo "class link: $(readlink -f /sys/class/block/loop$n)"
  a=$(cd /sys/block/loop$n && ls | tr "\n" " ")
  b=$(cd /sys/devices/virtual/block/loop$n && ls | tr "\n" " ")
  [ "$a" = "$b" ] && echo "virtual agrees: $a"
  [ "$(cat /sys/devices/virtual/block/loop$n/size)" = 16384 ] && echo "virtual size"
  losetup -d "$dev"
' sandbox "$host_name" 2>&1) || fail "sandbox: $out"
echo "$out"
assert_eq "uevent of the disk under the working directory" \
  "uevent: $(tr '\n' ' ' <<<"$host_uevent")" "$(grep '^uevent:' <<<"$out")"
assert_eq "the host's other disks in /sys/block" "block: $host_block" \
  "$(grep '^block:' <<<"$out")"
assert_eq "lsblk /dev/$host_name" "lsblk: $host_lsblk" \
  "$(grep '^lsblk:' <<<"$out")"
assert_eq "loop entries: only the instance's" \
  "loop entries: loop0 loop0 loop0 " "$(grep '^loop entries:' <<<"$out")"
assert_eq "7:N in /sys/dev/block" "dev/block 7: 7:0 " \
  "$(grep '^dev/block 7:' <<<"$out")"
grep -qx 'class link: /sys/devices/virtual/block/loop0' <<<"$out" \
  || fail "/sys/class/block/loop0: $out"
grep -q '^virtual agrees: ' <<<"$out" || fail "/sys/devices/virtual/block: $out"
grep -qx 'virtual size' <<<"$out" || fail "/sys/devices/virtual/block size: $out"

# A host loop device holding the job's filesystem, mounted in this
# test's own mount namespace, and an instance device of the same number.
truncate -s 16M "$tmp/host.img"
mkfs.ext4 -q -F "$tmp/host.img"
kdev=$(losetup -f --show "$tmp/host.img") || fail "losetup on the kernel"
cleanup_fn losetup -d "$kdev"
mkdir "$tmp/hostfs"
mount "$kdev" "$tmp/hostfs" || fail "mount $kdev"
cleanup_fn umount "$tmp/hostfs"
k=${kdev#/dev/loop}
out=$(cd "$tmp/hostfs" && "$LOOPFSCTL" exec -- bash -c '
  k=$1
  d=$(stat -c %d .)
  echo "cwd: $((d >> 8)):$((d & 255))"
  truncate -s 8M /tmp/loopfs-sysfs-host.$$
  losetup /dev/loop$k /tmp/loopfs-sysfs-host.$$ || echo "losetup failed"
  rm -f /tmp/loopfs-sysfs-host.$$
  echo "rdev: $(stat -L -c "%t:%T" /dev/loop$k)"
  echo "sysfs dev: $(cat /sys/block/loop$k/dev)"
  [ -e /sys/dev/block/7:$k ] && echo "7:$k shown"
  m=$(cat /sys/block/loop$k/dev)
  echo "link: $(readlink /sys/dev/block/$m)"
  mkfs.ext4 -q /dev/loop$k && echo "mkfs: ok"
  losetup -d /dev/loop$k
' sandbox "$k" 2>&1) || fail "sandbox on a host loop device: $out"
echo "$out"
grep -qx "cwd: 7:$k" <<<"$out" || fail "the job's files are not on $kdev: $out"
rdev=$(sed -n 's/^rdev: //p' <<<"$out")
[ -n "$rdev" ] && [ "$rdev" != "7:$(printf %x "$k")" ] \
  || fail "/dev/loop$k has the host device's number: $out"
minor=$((16#${rdev#7:}))
assert_eq "sysfs dev of loop$k" "sysfs dev: 7:$minor" \
  "$(grep '^sysfs dev:' <<<"$out")"
! grep -qx "7:$k shown" <<<"$out" || fail "/sys/dev/block/7:$k shown: $out"
assert_eq "/sys/dev/block/7:$minor" "link: ../../block/loop$k" \
  "$(grep '^link:' <<<"$out")"
grep -qx 'mkfs: ok' <<<"$out" || fail "mkfs.ext4 /dev/loop$k: $out"
