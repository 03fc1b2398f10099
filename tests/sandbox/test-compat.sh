#!/bin/bash
# The losetup compatibility table: every form of the unmodified
# losetup (and mkfs.ext4, e2fsck, fuse2fs on its device) run for real
# inside `loopfsctl exec`, each checked against LOOP_GET_STATUS64.  The
# table it writes must equal the committed compat-table.md (which the
# README quotes), so a form that stops working fails the test.
set -euo pipefail
# shellcheck source=../functions.sh
source "$(dirname "$0")/../functions.sh"

requires_root
isolate_mounts "$@"
requires losetup --version
requires jq --version
requires which fuse2fs
requires sfdisk --version
requires which mkfs.vfat

here=$(cd "$(dirname "$0")" && pwd)
tmp=$(make_tmpdir)
table=$tmp/table.md
{
  echo '| form | result | how |'
  echo '|---|---|---|'
} >"$table"

rc=0
LOOP_HELPER=$LOOP_HELPER timeout -k 5 120 "$LOOPFSCTL" exec -- \
  "$here/compat-forms.sh" "$table" "$tmp" || rc=$?
[ "$rc" -eq 0 ] || fail "loopfsctl exec compat-forms.sh exited with $rc"

# With LOOPFS_UPDATE_TABLE set, refresh the committed table instead.
if [ -n "${LOOPFS_UPDATE_TABLE:-}" ]; then
  cp "$table" "$here/compat-table.md"
fi
if ! diff -u "$here/compat-table.md" "$table"; then
  fail "the compatibility table differs from compat-table.md"
fi
echo "compatibility table: $(grep -c '| works |' "$table") forms work"
