#!/bin/bash
# Guest test: partitions of loopfs devices against the kernel's loop
# driver, whose MBR and GPT parsers this VM's stock kernel has.  The
# same images attached with -P on both give the same partitions
# (numbers, starts, sizes); the same sequence of partition ioctls
# (BLKRRPART, BLKPG add/del/resize, BLKGETSIZE64 and loop ioctls on
# partitions) gives the same answers; a detach waits for an open
# partition on both; LOOP_SET_CAPACITY keeps the partitions on both
# (only BLKRRPART reads a changed table).  With kernel NBD, each loopNpM names /dev/nbdXpM,
# which the kernel has with the same size, also after BLKPG.
#
# Cases where this kernel (6.1) and mainline disagree are left out:
# 6.1 lets BLKPG add a partition past the end of the device and with a
# length not aligned to the block size; mainline refuses both (EINVAL),
# and so does loopfs (tests/unit/test-partition-table.c).
#
# Runs inside the VM only: tests/vm/run-vm tests/vm/test-partitions.sh
# [BUILDDIR].
set -euo pipefail
# shellcheck source=../functions.sh
source "$(dirname "$0")/../functions.sh"
# shellcheck source=../integration/leftovers.sh
source "$(dirname "$0")/../integration/leftovers.sh"
# shellcheck source=nbd-functions.sh
source "$(dirname "$0")/nbd-functions.sh"

nbd_test_setup "$@"
requires sfdisk --version
modprobe loop || fail "modprobe loop"

MiB=1048576
tmp=$(make_tmpdir)
mnt=$tmp/mnt
mkdir "$mnt"
start_loopfsd_log "$tmp/loopfsd.log" "$mnt"

# The images: MBR with a primary, an extended and two logical
# partitions; GPT with entries 1, 3 and 4 (a hole at 2).
truncate -s 64M "$tmp/mbr.img" "$tmp/gpt.img"
sfdisk -q "$tmp/mbr.img" <<'S'
label: dos
start=2048, size=16M, type=83
start=34816, size=40M, type=5
start=36864, size=8M, type=83
start=55296, size=8M, type=83
S
sfdisk -q "$tmp/gpt.img" <<'S'
label: gpt
gpt.img1 : start=2048, size=16M, name=a
gpt.img3 : start=34816, size=16M, name=b
gpt.img4 : start=67584, size=8M, name=c
S

kdev=
# Detach the kernel device, if any.
give_back ()
{
  [ -z "$kdev" ] || losetup -d "$kdev"
  kdev=
}
cleanup_fn give_back

# Print "M start size" (512-byte sectors) for each partition of kernel
# loop device DEV, from sysfs.
kernel_parts ()
{
  local name=${1#/dev/} p
  for p in /sys/block/"$name"/"$name"p*; do
    [ -e "$p" ] || continue
    echo "$(cat "$p/partition") $(cat "$p/start") $(cat "$p/size")"
  done | sort -n
}

# The same for loopfs device MNT/loopN, from its partition nodes.
loopfs_parts ()
{
  local dev=$1 p st
  for p in "$dev"p*; do
    [ -e "$p" ] || continue
    st=$("$LOOP_HELPER" xattr "$p" user.loopfs.status)
    echo "$(sed -n 's/^partition=//p' <<<"$st") $(sed -n 's/^start=//p' <<<"$st")" \
         "$(( $(sed -n 's/^size=//p' <<<"$st") / 512 ))"
  done | sort -n
}

# Attach IMG with -P on the kernel (kdev) and on loopfs (loop0).
attach_both ()
{
  kdev=$(losetup -f --show -P "$1") || fail "losetup -P on the kernel"
  losetup_bind "$mnt" /dev/loop0 -P "$1"
}

# Detach both.
detach_both ()
{
  give_back
  "$LOOP_HELPER" clr "$mnt/loop0" >/dev/null || fail "clr loop0"
}

# --- The same partitions from the same images -------------------------------
for label in mbr gpt; do
  attach_both "$tmp/$label.img"
  want=$(kernel_parts "$kdev")
  got=$(loopfs_parts "$mnt/loop0")
  echo "$label: kernel partitions (M start size):" $want
  [ -n "$want" ] || fail "$label: the kernel found no partitions"
  assert_eq "$label partitions" "$want" "$got"
  detach_both
done

# --- The same answers to the same partition ioctls ---------------------------
# Run the sequence on whole device DEV whose partitions are DEVpM (the
# kernel's) or DEV pM (loopfs), printing each step and its result.
ioctl_sequence ()
{
  local dev=$1 sep=$2
  step () { echo "$* -> $("$LOOP_HELPER" "$@" 2>&1)" | sed "s|$dev|DEV|g"; }
  step size64 "$dev${sep}1"
  step size64 "$dev${sep}2"
  step size64 "$dev${sep}5"
  step rereadpt "$dev${sep}1"
  step rereadpt "$dev"
  exec 3<"$dev${sep}1"
  step rereadpt "$dev"
  step blkpg "$dev" del 1 0 0
  exec 3<&-
  step blkpg "$dev${sep}1" add 7 $((60 * MiB)) $MiB
  step blkpg "$dev" add 0 $((60 * MiB)) $MiB
  step blkpg "$dev" add -1 $((60 * MiB)) $MiB
  step blkpg "$dev" add 7 -512 $MiB
  step blkpg "$dev" add 7 $((60 * MiB)) 0
  step blkpg "$dev" add 1 $((60 * MiB)) $MiB
  step blkpg "$dev" add 7 $((2 * MiB)) $MiB
  step blkpg "$dev" add 256 $((60 * MiB)) $MiB
  step blkpg "$dev" add 7 $((60 * MiB)) $MiB
  step size64 "$dev${sep}7"
  step blkpg "$dev" resize 7 $((60 * MiB)) $((2 * MiB))
  step size64 "$dev${sep}7"
  step blkpg "$dev" resize 7 $((61 * MiB)) $MiB
  step blkpg "$dev" resize 9 $((61 * MiB)) $MiB
  step blkpg "$dev" resize 5 $((36864 * 512)) $((10 * MiB))
  step blkpg "$dev" resize 6 $((55296 * 512)) $((16 * MiB))
  step blkpg "$dev" del 7 0 0
  step blkpg "$dev" del 7 0 0
  step blkpg "$dev" del 300 0 0
  # The block layer's answers for a partition, and the device's (not
  # the read-ahead: 6.1 gives a loop disk 128 KiB, mainline more, which
  # loopfs models, partitions or not).
  echo "blockdev p5 -> $(blockdev --getsz --getss --getpbsz --getbsz --getro \
    --getalignoff --getiomin --getioopt "$dev${sep}5" 2>&1 | tr '\n' ' ')"
  # Loop ioctls on a partition act on its device.
  "$LOOP_HELPER" status "$dev${sep}5" | grep -E '^(offset|sizelimit|flags|size|ssz|ro)='
  step rereadpt "$dev"
}
attach_both "$tmp/mbr.img"
ioctl_sequence "$kdev" p >"$tmp/kernel.txt"
ioctl_sequence "$mnt/loop0" p >"$tmp/loopfs.txt"
cat "$tmp/loopfs.txt"
diff -u "$tmp/kernel.txt" "$tmp/loopfs.txt" \
  || fail "partition ioctls on loopfs differ from the kernel's loop driver"
assert_eq "partitions after the sequence" "$(kernel_parts "$kdev")" \
  "$(loopfs_parts "$mnt/loop0")"

# --- Kernel NBD: /dev/nbdXpM beside loopNpM ----------------------------------
nbd=$(nbd_of "$mnt/loop0")
assert_eq "user.loopfs.nbd of loop0p5" "${nbd}p5" \
  "$("$LOOP_HELPER" xattr "$mnt/loop0p5" user.loopfs.nbd)"
assert_eq "size of ${nbd}p5" $((8 * MiB)) "$(blockdev --getsize64 "${nbd}p5")"
"$LOOP_HELPER" blkpg "$mnt/loop0" add 7 $((60 * MiB)) $MiB >/dev/null \
  || fail "BLKPG add on loop0"
for ((i = 0; i < 50; i++)); do
  [ -b "${nbd}p7" ] && break
  sleep 0.2
done
assert_eq "size of ${nbd}p7 after BLKPG on loop0" $MiB \
  "$(blockdev --getsize64 "${nbd}p7")"

# --- A detach waits for an open partition, on both ---------------------------
"$LOOP_HELPER" blkpg "$kdev" add 7 $((60 * MiB)) $MiB >/dev/null
for dev in "$kdev" "$mnt/loop0"; do
  exec 3<"${dev}p6"
  "$LOOP_HELPER" clr "$dev" >/dev/null || fail "clr $dev"
  [ -e "${dev}p6" ] || fail "${dev}p6 went before its last close"
  exec 3<&-
  for ((i = 0; i < 50; i++)); do
    [ -e "${dev}p6" ] || break
    sleep 0.2
  done
  [ ! -e "${dev}p6" ] || fail "${dev}p6 is left after the detach"
  [ ! -e "${dev}p7" ] || fail "${dev}p7 is left after the detach"
done
kdev=

# --- LOOP_SET_CAPACITY keeps the partitions; BLKRRPART reads the new table
cp "$tmp/mbr.img" "$tmp/capacity.img"
attach_both "$tmp/capacity.img"
sfdisk -q "$tmp/capacity.img" <<'S'
label: dos
start=2048, size=4M, type=83
S
for dev in "$kdev" "$mnt/loop0"; do
  "$LOOP_HELPER" capacity "$dev" rw >/dev/null || fail "LOOP_SET_CAPACITY on $dev"
done
assert_eq "partitions after LOOP_SET_CAPACITY" "$(kernel_parts "$kdev")" \
  "$(loopfs_parts "$mnt/loop0")"
assert_eq "loopfs partitions after LOOP_SET_CAPACITY" 4 \
  "$(loopfs_parts "$mnt/loop0" | wc -l)"
for dev in "$kdev" "$mnt/loop0"; do
  "$LOOP_HELPER" rereadpt "$dev" >/dev/null || fail "BLKRRPART on $dev"
done
assert_eq "partitions after BLKRRPART" "$(kernel_parts "$kdev")" \
  "$(loopfs_parts "$mnt/loop0")"
assert_eq "loopfs partitions after BLKRRPART" "1 2048 8192" \
  "$(loopfs_parts "$mnt/loop0")"
detach_both
echo "partitions: the same as the kernel's loop driver"
