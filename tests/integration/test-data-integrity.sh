#!/bin/bash
# Data written through loopN lands in the backing file at the device's
# offset and nowhere else, data written to the backing file reads back
# through loopN, the device end behaves as the kernel's (short read,
# short write, ENOSPC), a read-only device refuses writes with EPERM,
# and two openers see each other's writes at once.
set -euo pipefail
# shellcheck source=../functions.sh
source "$(dirname "$0")/../functions.sh"

requires_root
isolate_mounts "$@"
requires losetup --version
requires python3 -c ""

new_instance -
head -c 8M /dev/urandom > "$img"
for p in 1 2 3 4 5 6; do
  head -c 1M /dev/urandom > "$tmp/pat$p"
done

MiB=1048576

# Attach the image with losetup OPTIONS...; print the node's path.
attach ()
{
  local out
  out=$(in_sandbox "$mnt" losetup -f --show "$@" "$img") \
    || fail "losetup -f --show $*: $out"
  echo "$mnt/${out#/dev/}"
}

# Detach DEV.
detach ()
{
  local out
  out=$("$LOOP_HELPER" clr "$1") || fail "clr $1: $out"
}

# Fail unless LEN bytes of A at offset OA equal those of B at offset OB.
same_bytes ()
{
  local what=$1 a=$2 oa=$3 b=$4 ob=$5 len=$6
  cmp -s -n "$len" -i "$oa:$ob" "$a" "$b" \
    || fail "$what: $a@$oa differs from $b@$ob over $len bytes"
}

# --- Whole image, no offset ----------------------------------------------
dev=$(attach)
assert_eq "device" "$mnt/loop0" "$dev"

# Buffered and O_DIRECT writes through loopN reach the file.
dd if="$tmp/pat1" of="$dev" bs=64k seek=16 conv=notrunc status=none
same_bytes "buffered write" "$img" $MiB "$tmp/pat1" 0 $MiB
dd if="$tmp/pat2" of="$dev" bs=64k seek=48 conv=notrunc,fsync oflag=direct \
  status=none
same_bytes "O_DIRECT write" "$img" $((3 * MiB)) "$tmp/pat2" 0 $MiB
# An unaligned small write (not a whole sector) through the helper.
head -c 100 "$tmp/pat6" | "$LOOP_HELPER" pwrite "$dev" 12345 100 >/dev/null
same_bytes "unaligned write" "$img" 12345 "$tmp/pat6" 0 100

# Writes to the file read back through loopN, buffered and O_DIRECT.
dd if="$tmp/pat3" of="$img" bs=64k seek=80 conv=notrunc status=none
same_bytes "buffered read" "$dev" $((5 * MiB)) "$tmp/pat3" 0 $MiB
dd if="$dev" bs=64k skip=80 count=16 iflag=direct status=none \
  > "$tmp/read-direct"
same_bytes "O_DIRECT read" "$tmp/read-direct" 0 "$tmp/pat3" 0 $MiB
same_bytes "whole device" "$dev" 0 "$img" 0 $((8 * MiB))

# Two openers of loopN and the file itself: each sees the others' writes
# at once, also in a block it read before (nothing is cached stale).
python3 - "$dev" "$img" <<'PY' || fail "two openers disagree"
import os, sys
dev, img = sys.argv[1], sys.argv[2]
a = os.open(dev, os.O_RDWR)
b = os.open(dev, os.O_RDWR)
f = os.open(img, os.O_RDWR)
for off in (400 * 4096, 401 * 4096 + 100):
    before = os.pread(a, 4096, off)
    assert os.pread(b, 4096, off) == before, "openers differ before"
    data = os.urandom(4096)
    assert os.pwrite(b, data, off) == 4096
    assert os.pread(a, 4096, off) == data, "a did not see b's write"
    assert os.pread(f, 4096, off) == data, "file did not get b's write"
    data = os.urandom(4096)
    assert os.pwrite(a, data, off) == 4096
    assert os.pread(b, 4096, off) == data, "b did not see a's write"
    data = os.urandom(4096)
    assert os.pwrite(f, data, off) == 4096
    assert os.pread(a, 4096, off) == data, "a did not see the file's write"
    assert os.pread(b, 4096, off) == data, "b did not see the file's write"
PY
detach "$dev"

# --- Offset 1 MiB, sizelimit 2 MiB -----------------------------------------
cp "$img" "$tmp/orig.img"
dev=$(attach -o 1M --sizelimit 2M)
assert_eq "size with offset and sizelimit" $((2 * MiB)) \
  "$(status_field "$dev" size)"
cat "$tmp/pat1" "$tmp/pat2" > "$tmp/pat12"
dd if="$tmp/pat12" of="$dev" bs=1M conv=notrunc,fsync status=none
same_bytes "write at offset" "$img" $MiB "$tmp/pat12" 0 $((2 * MiB))
same_bytes "bytes before the offset" "$img" 0 "$tmp/orig.img" 0 $MiB
same_bytes "bytes after the sizelimit" "$img" $((3 * MiB)) "$tmp/orig.img" \
  $((3 * MiB)) $((5 * MiB))
dd if="$tmp/pat3" of="$img" bs=64k seek=24 conv=notrunc status=none
same_bytes "read at offset" "$dev" $((MiB / 2)) "$tmp/pat3" 0 $MiB

# Reads at and across the end: short read, then nothing.
end=$((2 * MiB))
n=$("$LOOP_HELPER" pread "$dev" $((end - 512)) 1024 | wc -c)
assert_eq "pread across the end" 512 "$n"
"$LOOP_HELPER" pread "$dev" $((end - 512)) 1024 > "$tmp/tail"
same_bytes "short read data" "$tmp/tail" 0 "$img" $((3 * MiB - 512)) 512
n=$("$LOOP_HELPER" pread "$dev" $((end - 512)) 1024 direct | wc -c)
assert_eq "O_DIRECT pread across the end" 512 "$n"
n=$("$LOOP_HELPER" pread "$dev" "$end" 512 | wc -c)
assert_eq "pread at the end" 0 "$n"
n=$(dd if="$dev" bs=4096 skip=511 count=4 status=none | wc -c)
assert_eq "dd read past the end" 4096 "$n"

# Writes at and across the end: short write, then ENOSPC.
n=$(head -c 1024 "$tmp/pat4" | "$LOOP_HELPER" pwrite "$dev" $((end - 512)) 1024)
assert_eq "pwrite across the end" 512 "$n"
same_bytes "short write data" "$img" $((3 * MiB - 512)) "$tmp/pat4" 0 512
same_bytes "short write stops at the sizelimit" "$img" $((3 * MiB)) \
  "$tmp/orig.img" $((3 * MiB)) 512
expect_errno ENOSPC sh -c "head -c 512 '$tmp/pat4' | '$LOOP_HELPER' pwrite '$dev' $end 512"
expect_errno ENOSPC sh -c "head -c 4096 '$tmp/pat4' | '$LOOP_HELPER' pwrite '$dev' $end 4096 direct"
if out=$(dd if="$tmp/pat4" of="$dev" bs=512 seek=$((end / 512)) count=1 \
           conv=notrunc 2>&1); then
  fail "dd write at the end succeeded"
fi
grep -q "No space left on device" <<<"$out" || fail "dd write at the end: $out"
same_bytes "nothing written past the end" "$img" $((3 * MiB)) \
  "$tmp/orig.img" $((3 * MiB)) $((5 * MiB))
detach "$dev"

# --- Read-only device ----------------------------------------------------
cp "$img" "$tmp/orig.img"
dev=$(attach -r)
assert_eq "read-only flags" 1 "$(status_field "$dev" flags)"
expect_errno EPERM sh -c "head -c 512 '$tmp/pat4' | '$LOOP_HELPER' pwrite '$dev' 0 512"
expect_errno EPERM sh -c "head -c 4096 '$tmp/pat4' | '$LOOP_HELPER' pwrite '$dev' 4096 4096 direct"
if out=$(dd if="$tmp/pat4" of="$dev" bs=4096 count=1 conv=notrunc 2>&1); then
  fail "dd write to a read-only device succeeded"
fi
grep -q "Operation not permitted" <<<"$out" \
  || fail "dd write to a read-only device: $out"
same_bytes "read-only device still reads" "$dev" 0 "$img" 0 $((8 * MiB))
cmp -s "$img" "$tmp/orig.img" || fail "a write to a read-only device changed the file"
detach "$dev"

echo "PASS"
