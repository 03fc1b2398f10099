#!/bin/bash
# Guest test: loopfsctl exec --mount=kernel.  A mount of an instance
# device, by unmodified mount(8), is the kernel's own filesystem on the
# device's NBD device (user.loopfs.nbd): `mount /dev/loop0 DIR` and
# `mount -o loop IMG DIR` show /dev/nbdX with type ext4 in findmnt, the
# data written is in a clean image afterwards, and no NBD device stays
# connected.
#
# Runs inside the VM only: tests/vm/run-vm tests/vm/test-mount-kernel.sh
# [BUILDDIR].
set -euo pipefail
# shellcheck source=../functions.sh
source "$(dirname "$0")/../functions.sh"
# shellcheck source=../integration/leftovers.sh
source "$(dirname "$0")/../integration/leftovers.sh"
# shellcheck source=nbd-functions.sh
source "$(dirname "$0")/nbd-functions.sh"

nbd_test_setup "$@"
: "${LOOPFSCTL:=$1/tools/loopfsctl/loopfsctl}"
[ -x "$LOOPFSCTL" ] || fail "no loopfsctl at $LOOPFSCTL"
requires mkfs.ext4 -V
requires command -v debugfs

tmp=$(make_tmpdir)
img=$tmp/ext.img
mkdir "$tmp/m"
truncate -s 64M "$img"
mkfs.ext4 -q -F "$img"
head -c 3M /dev/urandom > "$tmp/data"

out=$(LOOPFSD=$LOOPFSD "$LOOPFSCTL" exec --mount=kernel -- bash -c '
  dev=$(losetup -f --show "$1/ext.img") || exit 1
  mount "$dev" "$1/m" || exit 2
  findmnt -n -o SOURCE,FSTYPE "$1/m" | tr -s " "
  cp "$1/data" "$1/m/data" || exit 3
  umount "$1/m" || exit 4
  losetup -d "$dev" || exit 5
  mount -o loop "$1/ext.img" "$1/m" || exit 6
  findmnt -n -o SOURCE,FSTYPE "$1/m" | tr -s " "
  cmp "$1/data" "$1/m/data" && echo "read back"
  umount "$1/m" || exit 7
  # The AUTOCLEAR device goes once the kernel has let the NBD device go.
  for i in $(seq 50); do
    [ -z "$(losetup -a)" ] && break
    sleep 0.1
  done
  echo "devices after umount: $(losetup -a | wc -l)"
' sandbox "$tmp" 2>"$tmp/log") || fail "--mount=kernel: $out $(cat "$tmp/log")"
echo "$out"
[ "$(grep -cxE '/dev/nbd[0-9]+ ext4' <<<"$out")" -eq 2 ] \
  || fail "findmnt: $out"
grep -qx 'read back' <<<"$out" || fail "data through mount -o loop: $out"
grep -qx 'devices after umount: 0' <<<"$out" || fail "AUTOCLEAR: $out $(cat "$tmp/log")"
e2fsck -fn "$img" >"$tmp/fsck" 2>&1 || fail "not clean: $(cat "$tmp/fsck")"
debugfs -R "cat /data" "$img" 2>/dev/null | cmp - "$tmp/data" \
  || fail "the data in the image"
echo "loopfsctl's and loopfsd's messages: $(cat "$tmp/log")"
for nbd in $(awk '{ print $1 }' <<<"$out" | grep '^/dev/nbd' | sort -u); do
  wait_nbd_disconnected "after the sandbox" "$nbd"
done
assert_no_nbd_connected "after the sandbox"
