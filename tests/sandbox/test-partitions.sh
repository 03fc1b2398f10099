#!/bin/bash
# Partitions in loopfsctl exec (issue 11, "Sandbox"): losetup -P makes
# /dev/loopNpM at once, block devices 259:X that no host device of major
# 259 has; the sysfs view lists them under /sys/block/loopN/ and in
# /sys/dev/block; stock lsblk, blkid, partx --show, findfs and losetup
# -l print what they print for the same image on a kernel loop device
# (partitions added with partx -a: this host's kernel has no partition
# parsers, BLKPG needs none); BLKPG (delpart, addpart) and the detach
# make and remove the entries; the host's blkid cache is not touched.
set -euo pipefail
# shellcheck source=../functions.sh
source "$(dirname "$0")/../functions.sh"

requires_root
isolate_mounts "$@"
requires losetup --version
requires sfdisk --version
requires partx --version
requires mkfs.vfat --help

report=$(dirname "$(readlink -f "$0")")/partition-report.sh
tmp=$(make_tmpdir)
img=$tmp/disk.img

# A GPT with partitions 1, 2 and 4 (3 deleted: a hole) and a FAT on 1.
truncate -s 64M "$img"
printf 'label: gpt\nsize=10M\nsize=20M\nsize=3M\nsize=5M\n' \
  | sfdisk -q "$img" >/dev/null
sfdisk -q --delete "$img" 3 >/dev/null
start1=$(sfdisk -d "$img" | awk -F'[=,]' '/img1 :/ { print $2 + 0 }')
mkfs.vfat -n PARTONE --offset "$start1" "$img" 10240 >/dev/null 2>&1

blkid_cache=$(cat /run/blkid/blkid.tab 2>/dev/null || true)

# Normalise a report from device number N: loopN -> loopK, 7:N -> 7:K
# (the kernel device's number is whatever was free), 259:X minors
# (given in order of creation, by the kernel and by the sandbox, from
# different sets of free numbers).
normalise ()
{
  sed -E -e "s/loop$1/loopK/g" -e "s/\\b7:$1\\b/7:K/g" -e 's/259:[0-9]+/259:X/g'
}

# The kernel's answer.  The device stays until the end, so that the host
# has 259:X numbers of its own while the sandbox gives its own.
kdev=$(losetup -f --show -P "$img") || fail "losetup -P on the kernel"
cleanup_fn losetup -d "$kdev"
partx -a "$kdev" || fail "partx -a $kdev"
cleanup_fn partx -d "$kdev"
BLKID_FILE=$tmp/host-blkid.tab "$report" "$kdev" > "$tmp/kernel.raw" 2>&1
normalise "${kdev#/dev/loop}" < "$tmp/kernel.raw" > "$tmp/kernel.out"
host_minors=$(awk '$1 == 259 { print $2 }' /proc/partitions | tr '\n' ' ')
echo "host 259 minors: $host_minors"
[ -n "$host_minors" ] || fail "partx -a made no host partitions"

"$LOOPFSCTL" exec -- bash -c '
  report=$1 out=$2
  dev=$(losetup -f --show -P "$3") || exit 1
  echo "attached $dev"
  for p in 1 2 3 4; do
    if [ -b ${dev}p$p ]; then
      echo "${dev}p$p $(stat -L -c "%t:%T" ${dev}p$p)"
    else
      echo "${dev}p$p none"
    fi
  done
  "$report" "$dev" > "$out" 2>&1
  n=${dev#/dev/loop}
  for f in partition start size ro; do
    echo "sysfs p4 $f $(cat /sys/block/loop$n/loop${n}p4/$f)"
  done
  d=$(cat /sys/block/loop$n/loop${n}p4/dev)
  echo "dev link $(readlink /sys/dev/block/$d) $(readlink -f /sys/dev/block/$d)"
  grep -E "^(MAJOR|MINOR|DEVTYPE|PARTN|DEVNAME)=" /sys/block/loop$n/loop${n}p4/uevent \
    | tr "\n" " "; echo
  delpart "$dev" 2
  [ -e ${dev}p2 ] || echo "delpart: p2 gone"
  ls /sys/block/loop$n | grep "^loop${n}p" | tr "\n" " "; echo
  addpart "$dev" 2 $(partx -g -o START,SECTORS -n 2 "$dev" 2>/dev/null || echo 22528 40960)
  [ -b ${dev}p2 ] && echo "addpart: p2 back"
  losetup -d "$dev"
  # The partitions go at the last close (RELEASE, which FUSE sends
  # without waiting), as the kernel drops them in lo_release.
  for i in $(seq 50); do
    ls /dev | grep -q "^loop${n}p" || break
    sleep 0.1
  done
  ls /dev | grep "^loop${n}p" | tr "\n" " "; echo "(entries after detach)"
  ls /sys/block/loop$n | grep "^loop${n}p" | tr "\n" " "; echo "(sysfs after detach)"
' sandbox "$report" "$tmp/sandbox.raw" "$img" > "$tmp/sandbox.log" 2>&1 \
  || fail "sandbox: $(cat "$tmp/sandbox.log")"
cat "$tmp/sandbox.log"
log=$(cat "$tmp/sandbox.log")

grep -qx 'attached /dev/loop0' <<<"$log" || fail "losetup -P: $log"
grep -qx '/dev/loop0p3 none' <<<"$log" || fail "the hole has an entry: $log"
for p in 1 2 4; do
  line=$(grep "^/dev/loop0p$p " <<<"$log") || fail "no /dev/loop0p$p: $log"
  [[ $line =~ ^/dev/loop0p$p\ 103:([0-9a-f]+)$ ]] \
    || fail "loop0p$p is no block device 259:X: $line"
  minor=$((16#${BASH_REMATCH[1]}))
  for h in $host_minors; do
    [ "$minor" -ne "$h" ] || fail "loop0p$p has the host's 259:$h"
  done
done
grep -qx 'sysfs p4 partition 4' <<<"$log" || fail "sysfs partition: $log"
grep -qx "sysfs p4 start $(partx -g -o START -n 4 "$img" | tr -d ' ')" \
  <<<"$log" || fail "sysfs start: $log"
grep -qx "sysfs p4 size $(partx -g -o SECTORS -n 4 "$img" | tr -d ' ')" \
  <<<"$log" \
  || fail "sysfs size: $log"
grep -qx 'sysfs p4 ro 0' <<<"$log" || fail "sysfs ro: $log"
grep -qx 'dev link ../../block/loop0/loop0p4 /sys/block/loop0/loop0p4' \
  <<<"$log" || fail "/sys/dev/block link: $log"
grep -Eqx 'MAJOR=259 MINOR=[0-9]+ DEVNAME=loop0p4 DEVTYPE=partition PARTN=4 ' \
  <<<"$log" || fail "uevent: $log"
grep -qx 'delpart: p2 gone' <<<"$log" || fail "delpart: $log"
grep -qx 'loop0p1 loop0p4 ' <<<"$log" || fail "sysfs after delpart: $log"
grep -qx 'addpart: p2 back' <<<"$log" || fail "addpart: $log"
grep -qx '(entries after detach)' <<<"$log" || fail "entries after detach: $log"
grep -qx '(sysfs after detach)' <<<"$log" || fail "sysfs after detach: $log"

normalise 0 < "$tmp/sandbox.raw" > "$tmp/sandbox.out"
diff -u "$tmp/kernel.out" "$tmp/sandbox.out" \
  || fail "util-linux prints something else in the sandbox than for the kernel"
echo "--- util-linux on a kernel loop device and in the sandbox (normalised):"
cat "$tmp/sandbox.out"
grep -q '^/dev/loopKp1: .*LABEL="PARTONE"' "$tmp/sandbox.out" \
  || fail "blkid found no label"
grep -qx '/dev/loopKp1' "$tmp/sandbox.out" || fail "findfs"

assert_eq "the host's blkid cache" "$blkid_cache" \
  "$(cat /run/blkid/blkid.tab 2>/dev/null || true)"
