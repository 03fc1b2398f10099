#!/bin/bash
# Unmodified losetup attaches images to a loopfs instance: the device
# gets the next free number and the image's size, and each attach option
# shows up in LOOP_GET_STATUS64 and the block ioctls as with the kernel
# loop driver.  Devices are detached with loop-helper (losetup 2.38
# cannot detach a node that is not a block device).
set -euo pipefail
# shellcheck source=../functions.sh
source "$(dirname "$0")/../functions.sh"

requires_root
isolate_mounts "$@"
requires losetup --version

new_instance 16M

# Attach IMG with losetup OPTIONS... in the sandbox; must print /dev/loop0.
attach0 ()
{
  local out
  out=$(in_sandbox "$mnt" losetup -f --show "$@" "$img") \
    || fail "losetup -f --show $* failed: $out"
  assert_eq "losetup -f --show $*" /dev/loop0 "$out"
}

# Detach DEV and check that it is unbound afterwards.
detach ()
{
  local out
  out=$("$LOOP_HELPER" clr "$1") || fail "clr $1: $out"
  expect_errno ENXIO "$LOOP_HELPER" status "$1"
}

# Plain attach: first device, the image's size, nothing set.
attach0
assert_eq "loop0 file size" 16777216 "$(stat -c %s "$mnt/loop0")"
assert_eq size 16777216 "$(status_field "$mnt/loop0" size)"
assert_eq number 0 "$(status_field "$mnt/loop0" number)"
assert_eq offset 0 "$(status_field "$mnt/loop0" offset)"
assert_eq sizelimit 0 "$(status_field "$mnt/loop0" sizelimit)"
assert_eq flags 0 "$(status_field "$mnt/loop0" flags)"
assert_eq ssz 512 "$(status_field "$mnt/loop0" ssz)"
assert_eq ro 0 "$(status_field "$mnt/loop0" ro)"
assert_eq file_name "$img" "$(status_field "$mnt/loop0" file_name)"
assert_eq inode "$(stat -c %i "$img")" "$(status_field "$mnt/loop0" inode)"

# A second attach takes the next number.
out=$(in_sandbox "$mnt" losetup -f --show "$img") || fail "second losetup: $out"
assert_eq "second losetup -f --show" /dev/loop1 "$out"
assert_eq "loop1 size" 16777216 "$(status_field "$mnt/loop1" size)"
assert_eq "loop1 number" 1 "$(status_field "$mnt/loop1" number)"

detach "$mnt/loop0"
detach "$mnt/loop1"
assert_eq "loop0 size after detach" 0 "$(stat -c %s "$mnt/loop0")"

# Each option, on a fresh attach of loop0 (the lowest free device).
attach0 -o 1M
assert_eq "-o 1M offset" 1048576 "$(status_field "$mnt/loop0" offset)"
assert_eq "-o 1M size" $((15 * 1048576)) "$(status_field "$mnt/loop0" size)"
detach "$mnt/loop0"

attach0 --sizelimit 2M
assert_eq "--sizelimit 2M sizelimit" 2097152 "$(status_field "$mnt/loop0" sizelimit)"
assert_eq "--sizelimit 2M size" 2097152 "$(status_field "$mnt/loop0" size)"
assert_eq "--sizelimit 2M offset" 0 "$(status_field "$mnt/loop0" offset)"
detach "$mnt/loop0"

attach0 -o 1M --sizelimit 2M
assert_eq "-o 1M --sizelimit 2M size" 2097152 "$(status_field "$mnt/loop0" size)"
# The status attribute says the same without opening the device.
status=$("$LOOP_HELPER" xattr "$mnt/loop0" user.loopfs.status) \
  || fail "user.loopfs.status: $status"
for line in state=bound size=2097152 offset=1048576 sizelimit=2097152 \
            autoclear=0 ro=0 logical_block_size=512 "backing_file=$img" \
            "file_name=$img" "backing_inode=$(stat -c %i "$img")"; do
  grep -qxF "$line" <<<"$status" || fail "user.loopfs.status lacks $line: $status"
done
detach "$mnt/loop0"
status=$("$LOOP_HELPER" xattr "$mnt/loop0" user.loopfs.status) \
  || fail "user.loopfs.status after detach: $status"
assert_eq "user.loopfs.status after detach" "state=unbound
size=0
ro=0
logical_block_size=512
physical_block_size=512" "$status"

attach0 -r
assert_eq "-r flags (LO_FLAGS_READ_ONLY)" 1 "$(status_field "$mnt/loop0" flags)"
assert_eq "-r BLKROGET" 1 "$(status_field "$mnt/loop0" ro)"
detach "$mnt/loop0"

attach0 -P
assert_eq "-P flags (LO_FLAGS_PARTSCAN)" 8 "$(status_field "$mnt/loop0" flags)"
detach "$mnt/loop0"

attach0 -b 4096
assert_eq "-b 4096 BLKSSZGET" 4096 "$(status_field "$mnt/loop0" ssz)"
assert_eq "-b 4096 flags" 0 "$(status_field "$mnt/loop0" flags)"
detach "$mnt/loop0"

attach0 --direct-io=on
assert_eq "--direct-io=on flags (LO_FLAGS_DIRECT_IO)" 16 \
  "$(status_field "$mnt/loop0" flags)"
detach "$mnt/loop0"

# Detached devices stay allocated and unbound, and no backend is left.
[ -z "$(children_nbdkit "$LOOPFSD_PID")" ] \
  || fail "nbdkit still running after every device was detached"
echo "PASS"
