#!/bin/bash
# Guest test proving the VM harness: the stock kernel's nbd module loads
# and makes /dev/nbd0, the host's nbdkit runs, and loopfsd from this
# build mounts an instance through which unmodified losetup attaches an
# image that mkfs.ext4 then formats.
#
# Runs inside the VM only: tests/vm/run-vm tests/vm/smoke.sh [BUILDDIR].
# loopfsd is $LOOPFSD, else BUILDDIR/fused/loopfsd.
set -euo pipefail
# shellcheck source=../functions.sh
source "$(dirname "$0")/../functions.sh"

if [ -z "${LOOPFS_VM:-}" ]; then
  echo "SKIP: runs in the test VM: tests/vm/run-vm $0 BUILDDIR" >&2
  exit 77
fi
requires_root
if [ -z "${LOOPFSD:-}" ] || [ "$LOOPFSD" = loopfsd ]; then
  [ $# -ge 1 ] || fail "give BUILDDIR or set LOOPFSD"
  LOOPFSD=$1/fused/loopfsd
fi
[ -x "$LOOPFSD" ] || fail "no loopfsd at $LOOPFSD"

# Each symbolic link in_sandbox makes is one exec, which costs tens of
# milliseconds under TCG: the test needs loop0 only.
LOOPFS_SANDBOX_DEVICES=4

echo "guest kernel $(uname -r)"

# The kernel's nbd driver, as a module of the stock kernel.
modprobe nbd || fail "modprobe nbd"
[ -b /dev/nbd0 ] || fail "/dev/nbd0 is not a block device after modprobe nbd"
[ -d /sys/block/nbd0 ] || fail "/sys/block/nbd0 is missing"
echo "nbd: /dev/nbd0 and /sys/block/nbd0 present"

# The host's nbdkit runs in the guest.
nbdkit --version || fail "nbdkit --version"

# loopfsd from the build tree, driven by unmodified losetup and mkfs.
tmp=$(make_tmpdir)
mnt=$tmp/mnt
img=$tmp/disk.img
mkdir "$mnt"
truncate -s 64M "$img"
start_loopfsd_log "$tmp/loopfsd.log" "$mnt"
echo "loopfsd $LOOPFSD mounted at $mnt (pid $LOOPFSD_PID)"

out=$(in_sandbox "$mnt" losetup -f --show "$img") ||
  fail "losetup -f --show failed: $out"
assert_eq "losetup -f --show" /dev/loop0 "$out"
echo "losetup -f --show: $out"

out=$(in_sandbox "$mnt" mkfs.ext4 -q -F /dev/loop0 2>&1) ||
  fail "mkfs.ext4 /dev/loop0 failed: $out"
# What mkfs wrote through the instance is a clean filesystem in the
# image.
out=$(e2fsck -fn "$img" 2>&1) || fail "e2fsck -fn on the image: $out"
echo "mkfs.ext4 through loop0: image checks clean"

# Unmount the instance, which unbinds loop0 and ends the daemon.
umount "$mnt" || fail "umount $mnt"
wait_gone "$LOOPFSD_PID" || fail "loopfsd $LOOPFSD_PID did not exit after umount"
echo "smoke: ok"
