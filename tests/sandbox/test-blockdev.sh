#!/bin/bash
# The stock blockdev(8) inside `loopfsctl exec` prints what it prints
# for a kernel loop device in the same state: --report, every --getX,
# and every --setX with its effect (blockdev-table.sh).  The kernel
# device is taken with `losetup -f` and given back.
set -euo pipefail
# shellcheck source=../functions.sh
source "$(dirname "$0")/../functions.sh"

requires_root
isolate_mounts "$@"
requires losetup --version
requires blockdev --version
[ -c /dev/loop-control ] || { echo "SKIP: no kernel loop driver" >&2; exit 77; }

here=$(cd "$(dirname "$0")" && pwd)
tmp=$(make_tmpdir)
truncate -s 16M "$tmp/kernel.img" "$tmp/loopfs.img"

# Give the kernel device back once: after that its number may be
# another program's.
kdev=
give_back ()
{
  [ -z "$kdev" ] || losetup -d "$kdev"
  kdev=
}
cleanup_fn give_back
kdev=$(losetup -f --show "$tmp/kernel.img") || fail "losetup -f on the host"
"$here/blockdev-table.sh" "$kdev" >"$tmp/kernel.txt"
give_back

rc=0
LOOP_HELPER=$LOOP_HELPER timeout -k 5 60 "$LOOPFSCTL" exec -- bash -c '
  dev=$(losetup -f --show "$1") || exit 1
  "$2" "$dev"
  rc=$?
  losetup -d "$dev"
  exit $rc' _ "$tmp/loopfs.img" "$here/blockdev-table.sh" >"$tmp/loopfs.txt" || rc=$?
[ "$rc" -eq 0 ] || fail "loopfsctl exec blockdev-table.sh exited with $rc"

cat "$tmp/loopfs.txt"
if ! diff -u "$tmp/kernel.txt" "$tmp/loopfs.txt"; then
  fail "blockdev in the sandbox differs from the kernel's loop device"
fi
grep -q '^\$ dd of=DEV -> 1$' "$tmp/loopfs.txt" \
  || fail "a write to a --setro device did not fail"
echo "blockdev: $(grep -c '^\$ ' "$tmp/loopfs.txt") commands print as on the kernel"
