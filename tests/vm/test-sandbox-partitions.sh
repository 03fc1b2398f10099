#!/bin/bash
# Guest test: what stock util-linux prints of a partitioned loopfs
# device inside loopfsctl exec against what it prints of the same image
# on the kernel's loop driver, whose MBR and GPT parsers this VM's stock
# kernel has (the host's kernel has none: tests/sandbox/test-partitions
# adds the kernel's partitions with partx -a there).  An MBR with a
# primary, an extended and two logical partitions (1, 2, 5, 6) and a GPT
# with a hole (1, 2, 4), a FAT labelled PARTONE on partition 1 of each:
# lsblk, blkid, partx --show, findfs and losetup -l
# (tests/sandbox/partition-report.sh) must print the same, up to the
# loop device's number and the minors of major 259.
#
# Runs inside the VM only: tests/vm/run-vm tests/vm/test-sandbox-partitions.sh
# BUILDDIR.
set -euo pipefail
# shellcheck source=../functions.sh
source "$(dirname "$0")/../functions.sh"

if [ -z "${LOOPFS_VM:-}" ]; then
  echo "SKIP: runs in the test VM: tests/vm/run-vm $0 BUILDDIR" >&2
  exit 77
fi
requires_root
[ $# -ge 1 ] || fail "give BUILDDIR"
LOOPFSD=${LOOPFSD:-$1/fused/loopfsd}
[ "$LOOPFSD" != loopfsd ] || LOOPFSD=$1/fused/loopfsd
LOOPFSCTL=$1/tools/loopfsctl/loopfsctl
export LOOPFSD
[ -x "$LOOPFSCTL" ] || fail "no loopfsctl at $LOOPFSCTL"
requires sfdisk --version
requires partx --version
requires mkfs.vfat --help
modprobe loop || fail "modprobe loop"

report=$(cd "$(dirname "$0")/../sandbox" && pwd)/partition-report.sh
tmp=$(make_tmpdir)

# Normalise a report of device number N (see tests/sandbox/test-partitions).
normalise ()
{
  sed -E -e "s/loop$1/loopK/g" -e "s/\\b7:$1\\b/7:K/g" -e 's/259:[0-9]+/259:X/g'
}

truncate -s 64M "$tmp/mbr.img" "$tmp/gpt.img"
sfdisk -q "$tmp/mbr.img" >/dev/null <<'S'
label: dos
start=2048, size=16M, type=83
start=34816, size=40M, type=5
start=36864, size=8M, type=83
start=55296, size=8M, type=83
S
printf 'label: gpt\nsize=10M\nsize=20M\nsize=3M\nsize=5M\n' \
  | sfdisk -q "$tmp/gpt.img" >/dev/null
sfdisk -q --delete "$tmp/gpt.img" 3 >/dev/null
for img in mbr gpt; do
  mkfs.vfat -n PARTONE --offset 2048 "$tmp/$img.img" 10240 >/dev/null 2>&1 \
    || fail "mkfs.vfat on $img"
done

for img in mbr gpt; do
  kdev=$(losetup -f --show -P "$tmp/$img.img") || fail "losetup -P $img"
  cleanup_fn losetup -d "$kdev"
  BLKID_FILE=$tmp/blkid.tab "$report" "$kdev" > "$tmp/$img.kernel.raw" 2>&1
  losetup -d "$kdev"
  normalise "${kdev#/dev/loop}" < "$tmp/$img.kernel.raw" > "$tmp/$img.kernel"

  "$LOOPFSCTL" exec -- bash -c '
    dev=$(losetup -f --show -P "$1") || exit 1
    "$2" "$dev"
    losetup -d "$dev"' sandbox "$tmp/$img.img" "$report" \
    > "$tmp/$img.sandbox.raw" 2>&1 || fail "sandbox $img: $(cat "$tmp/$img.sandbox.raw")"
  # loopfsd, started in loopfsctl's own mount namespace, sees the
  # backing file from outside run-vm's chroot (/newroot).
  normalise 0 < "$tmp/$img.sandbox.raw" | sed 's|/newroot/|/|' \
    > "$tmp/$img.sandbox"

  echo "--- $img: the kernel's loop driver and loopfsctl exec (normalised)"
  cat "$tmp/$img.sandbox"
  diff -u "$tmp/$img.kernel" "$tmp/$img.sandbox" \
    || fail "$img: util-linux prints something else in the sandbox"
  grep -q 'loopKp1 259:X ' "$tmp/$img.sandbox" \
    || fail "$img: no partition in lsblk"
  grep -qx '/dev/loopKp1' "$tmp/$img.sandbox" || fail "$img: findfs"
done
