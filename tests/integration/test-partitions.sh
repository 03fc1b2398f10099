#!/bin/bash
# Partitions (issue 11): `losetup -P` inside `loopfsctl exec` makes a
# loopNpM node in the instance for every partition, numbered as the
# kernel numbers them (MBR primary 1-4 and logical from 5, GPT in entry
# order with holes), sized like the partition; their data is a window
# onto the device; parted, addpart and delpart change them through
# BLKPG on a device attached without -P; BLKRRPART and BLKPG fail with
# the kernel's errnos; a detach removes every node, and waits for an
# open partition to be closed.
set -euo pipefail
# shellcheck source=../functions.sh
source "$(dirname "$0")/../functions.sh"

requires_root
isolate_mounts "$@"
requires losetup --version
requires sfdisk --version
requires parted --version
requires jq --version
requires command -v mkfs.vfat fsck.vfat mkfs.ext4 e2fsck addpart delpart

new_instance 64M
MIB=1048576

# Run the bash script SCRIPT with ARGS inside `loopfsctl exec` on the
# instance, which the sandbox shows as /dev/loopfs.
sbx ()
{
  local script=$1
  shift
  timeout -k 5 60 "$LOOPFSCTL" exec --instance "$mnt" -- bash -c "$script" _ "$@"
}

# The partition nodes in the instance, in order.
nodes ()
{
  (cd "$mnt" && ls -d loop*p* 2>/dev/null | sort -V | tr '\n' ' ')
}

# Fail unless partition node NODE has SIZE bytes, as stat and
# BLKGETSIZE64 see it.
assert_size ()
{
  assert_eq "$1 st_size" "$2" "$(stat -c %s "$mnt/$1")"
  assert_eq "$1 BLKGETSIZE64" "$2" "$(blockdev --getsize64 "$mnt/$1")"
}

# Print the value of KEY in the status attribute of node NODE.
part_status ()
{
  "$LOOP_HELPER" xattr "$mnt/$1" user.loopfs.status | sed -n "s/^$2=//p"
}

# Run CMD..., which must fail with MESSAGE (strerror) in its output.
expect_message ()
{
  local want=$1 out rc=0
  shift
  out=$("$@" 2>&1) || rc=$?
  [ "$rc" -ne 0 ] || fail "$* succeeded, expected '$want'"
  grep -q "$want" <<<"$out" || fail "$*: expected '$want', got: $out"
}

# Wait until no partition node of the instance is left.
wait_no_nodes ()
{
  local i
  for ((i = 0; i < 100; i++)); do
    [ -n "$(nodes)" ] || return 0
    sleep 0.1
  done
  fail "partition nodes left: $(nodes)"
}

# --- MBR: primary, extended, two logical partitions; losetup -P.
sfdisk -q "$img" <<'S'
label: dos
start=2048, size=16M, type=83
start=34816, size=40M, type=5
start=36864, size=8M, type=83
start=55296, size=8M, type=83
S
out=$(sbx 'losetup -f --show -P "$1"' "$img") || fail "losetup -P: $out"
assert_eq "losetup -f --show -P" /dev/loop0 "$out"
assert_eq "MBR nodes" "loop0p1 loop0p2 loop0p5 loop0p6 " "$(nodes)"
assert_size loop0p1 $((16 * MIB))
# The kernel keeps 2 sectors of an extended partition (msdos.c).
assert_size loop0p2 1024
assert_size loop0p5 $((8 * MIB))
assert_size loop0p6 $((8 * MIB))
assert_eq "loop0p5 node" loop0p5 \
  "$("$LOOP_HELPER" xattr "$mnt/loop0p5" user.loopfs.node)"
assert_eq "loop0p5 parent" loop0 "$(part_status loop0p5 parent)"
assert_eq "loop0p5 partition" 5 "$(part_status loop0p5 partition)"
assert_eq "loop0p5 start" 36864 "$(part_status loop0p5 start)"
assert_eq "loop0p5 size" $((8 * MIB)) "$(part_status loop0p5 size)"
assert_eq "loop0p5 ro" 0 "$(part_status loop0p5 ro)"
expect_message "Operation not permitted" rm -f "$mnt/loop0p5"

# loopfsctl list shows the partitions under their device, as lsblk -i
# draws them; --json has them in the device's "partitions".
list=$("$LOOPFSCTL" list "$mnt") || fail "loopfsctl list: $list"
assert_eq "list: names" "$mnt/loop0 |-$mnt/loop0p1 |-$mnt/loop0p2 |-$mnt/loop0p5 \`-$mnt/loop0p6" \
  "$(awk 'NR > 1 { print $1 }' <<<"$list" | tr '\n' ' ' | sed 's/ $//')"
assert_eq "list: loop0p5 window" "$((8 * MIB)) $((36864 * 512))" \
  "$(awk -v n="|-$mnt/loop0p5" '$1 == n { print $2, $3 }' <<<"$list")"
json=$("$LOOPFSCTL" list --json "$mnt") || fail "loopfsctl list --json"
assert_eq "list --json: partition numbers" "1 2 5 6" \
  "$(jq -r '[.devices[0].partitions[].partition] | join(" ")' <<<"$json")"
assert_eq "list --json: loop0p6" "$mnt/loop0p6 55296 $((8 * MIB)) false null" \
  "$(jq -r '.devices[0].partitions[3] | "\(.name) \(.start) \(.size) \(.ro) \(.nbd)"' <<<"$json")"

# BLKRRPART: EINVAL on a partition, EBUSY while one is open, else a
# rescan that finds the same partitions.
expect_message "Invalid argument" blockdev --rereadpt "$mnt/loop0p1"
exec 3<"$mnt/loop0p1"
expect_message "Device or resource busy" blockdev --rereadpt "$mnt/loop0"
exec 3<&-
blockdev --rereadpt "$mnt/loop0" || fail "BLKRRPART with no partition open"
assert_eq "nodes after BLKRRPART" "loop0p1 loop0p2 loop0p5 loop0p6 " "$(nodes)"

# A random pattern written through loop0p5, up to its end, lands in the
# image at exactly loop0p5's offset and nowhere else; nothing passes
# its end.
p5_start=$((36864 * 512)) p5_size=$((8 * MIB))
head -c "$MIB" /dev/urandom >"$tmp/pattern"
cp "$img" "$tmp/before.img"
dd if="$tmp/pattern" of="$mnt/loop0p5" bs=64k seek=$(((p5_size - MIB) / 65536)) \
   conv=notrunc status=none || fail "write through loop0p5"
expect_message "No space left on device" \
  dd if="$tmp/pattern" of="$mnt/loop0p5" bs=64k count=1 \
     seek=$((p5_size / 65536)) conv=notrunc status=none
# A write across the end is cut short there (the same bytes as before
# up to the end), then fails.
{ tail -c 65536 "$tmp/pattern"; head -c 65536 /dev/urandom; } >"$tmp/across"
expect_message "No space left on device" \
  dd if="$tmp/across" of="$mnt/loop0p5" bs=128k oflag=seek_bytes \
     seek=$((p5_size - 65536)) conv=notrunc status=none
cmp -n "$MIB" "$tmp/pattern" "$mnt/loop0p5" --ignore-initial=0:$((p5_size - MIB)) \
  || fail "loop0p5 does not read back the pattern"
cmp -n "$MIB" "$tmp/pattern" "$img" --ignore-initial=0:$((p5_start + p5_size - MIB)) \
  || fail "the pattern is not at loop0p5's offset in the image"
cmp -n $((p5_start + p5_size - MIB)) "$img" "$tmp/before.img" \
  || fail "the image changed before loop0p5's window"
cmp "$img" "$tmp/before.img" --ignore-initial=$((p5_start + p5_size)) \
  || fail "the image changed after loop0p5's end"
rm "$tmp/before.img"

# Only what makes the kernel read the table makes loopfs read it:
# LOOP_SET_CAPACITY keeps the partitions, BLKRRPART reads the new table.
cp "$img" "$tmp/mbr.img"
sfdisk -q "$img" <<'S'
label: dos
start=2048, size=4M, type=83
S
"$LOOP_HELPER" capacity "$mnt/loop0" rw >/dev/null || fail "LOOP_SET_CAPACITY"
assert_eq "nodes after LOOP_SET_CAPACITY" "loop0p1 loop0p2 loop0p5 loop0p6 " "$(nodes)"
"$LOOP_HELPER" rereadpt "$mnt/loop0" >/dev/null || fail "BLKRRPART"
assert_eq "nodes after BLKRRPART of a new table" "loop0p1 " "$(nodes)"
assert_size loop0p1 $((4 * MIB))
cp "$tmp/mbr.img" "$img"
"$LOOP_HELPER" rereadpt "$mnt/loop0" >/dev/null || fail "BLKRRPART"
rm "$tmp/mbr.img"

# A detach while a partition is open waits for its last close
# (LOOP_CLR_FD's deferred detach); then every node goes.
exec 3<"$mnt/loop0p6"
"$LOOP_HELPER" clr "$mnt/loop0" >/dev/null || fail "LOOP_CLR_FD"
sleep 0.5
assert_eq "nodes while loop0p6 is open" "loop0p1 loop0p2 loop0p5 loop0p6 " "$(nodes)"
assert_eq "loop0 size while loop0p6 is open" $((64 * MIB)) "$(stat -c %s "$mnt/loop0")"
exec 3<&-
wait_no_nodes
assert_eq "loop0 size after the last close" 0 "$(stat -c %s "$mnt/loop0")"

# --- GPT with three entries and a hole; a file system on two of them.
truncate -s 0 "$img"
truncate -s 64M "$img"
sfdisk -q "$img" <<'S'
label: gpt
disk.img1 : start=2048, size=16M, name=a
disk.img3 : start=34816, size=16M, name=b
disk.img4 : start=67584, size=8M, name=c
S
# loopfsctl attach --partscan prints the device and its partitions.
out=$("$LOOPFSCTL" attach --partscan "$mnt" "$img") \
  || fail "loopfsctl attach --partscan: $out"
assert_eq "loopfsctl attach --partscan (GPT)" \
  "$mnt/loop0 $mnt/loop0p1 $mnt/loop0p3 $mnt/loop0p4" "$(tr '\n' ' ' <<<"$out" | sed 's/ $//')"
assert_eq "GPT nodes" "loop0p1 loop0p3 loop0p4 " "$(nodes)"
assert_size loop0p3 $((16 * MIB))
assert_eq "loop0p3 start" 34816 "$(part_status loop0p3 start)"
mkfs.vfat "$mnt/loop0p1" >/dev/null || fail "mkfs.vfat on loop0p1"
mkfs.ext4 -q -F "$mnt/loop0p3" || fail "mkfs.ext4 on loop0p3"
fsck.vfat -n "$mnt/loop0p1" >/dev/null || fail "fsck.vfat on loop0p1"
e2fsck -fn "$mnt/loop0p3" >/dev/null 2>&1 || fail "e2fsck on loop0p3"
# The file systems are where the table says, in the image itself.
assert_eq "vfat in the image" vfat \
  "$(blkid -p -o value -s TYPE --offset $((2048 * 512)) "$img")"
assert_eq "ext4 in the image" ext4 \
  "$(blkid -p -o value -s TYPE --offset $((34816 * 512)) "$img")"
# sfdisk writing a new table on the -P device: its BLKRRPART makes the
# new nodes.
out=$(sbx 'sfdisk -q /dev/loop0 <<EOF
label: dos
start=2048, size=8M, type=c
start=18432, size=4M, type=83
EOF') || fail "sfdisk on the attached device: $out"
assert_eq "nodes after sfdisk" "loop0p1 loop0p2 " "$(nodes)"
assert_size loop0p2 $((4 * MIB))
"$LOOP_HELPER" clr "$mnt/loop0" >/dev/null || fail "LOOP_CLR_FD (GPT)"
wait_no_nodes

# --- The table is read at the device's offset: losetup -P -o 1M.
head -c "$MIB" /dev/zero >"$tmp/offset.img"
truncate -s 8M "$tmp/inner.img"
sfdisk -q "$tmp/inner.img" <<'S'
label: dos
start=2048, size=4M, type=83
S
cat "$tmp/inner.img" >>"$tmp/offset.img"
out=$(sbx 'losetup -f --show -P -o 1M "$1"' "$tmp/offset.img") \
  || fail "losetup -P -o 1M: $out"
assert_eq "nodes at an offset" "loop0p1 " "$(nodes)"
assert_size loop0p1 $((4 * MIB))
head -c 4096 /dev/urandom >"$tmp/block"
dd if="$tmp/block" of="$mnt/loop0p1" bs=4096 conv=notrunc status=none \
  || fail "write to loop0p1 at an offset"
cmp -n 4096 "$tmp/block" "$tmp/offset.img" --ignore-initial=0:$((2 * MIB)) \
  || fail "loop0p1 of a device at 1 MiB does not start at 2 MiB in the file"
"$LOOP_HELPER" clr "$mnt/loop0" >/dev/null || fail "LOOP_CLR_FD (offset)"
wait_no_nodes

# --- Setting LO_FLAGS_PARTSCAN later (LOOP_SET_STATUS64) reads the
# table; LOOP_CHANGE_FD of a -P device reads the new file's.
out=$(sbx 'losetup -f --show -r "$1"' "$img") || fail "losetup -r: $out"
assert_eq "nodes without -P" "" "$(nodes)"
"$LOOP_HELPER" partscan "$mnt/loop0" >/dev/null || fail "set LO_FLAGS_PARTSCAN"
# (The image holds the table sfdisk wrote above.)
assert_eq "nodes after setting PARTSCAN" "loop0p1 loop0p2 " "$(nodes)"
assert_eq "loop0p1 ro on a read-only device" 1 "$(part_status loop0p1 ro)"
expect_message "Operation not permitted" \
  dd if=/dev/zero of="$mnt/loop0p1" bs=4k count=1 conv=notrunc status=none
truncate -s 64M "$tmp/other.img"
sfdisk -q "$tmp/other.img" <<'S'
label: dos
start=2048, size=2M, type=83
start=6144, size=2M, type=83
start=10240, size=2M, type=83
S
"$LOOP_HELPER" change-fd "$mnt/loop0" "$tmp/other.img" >/dev/null \
  || fail "LOOP_CHANGE_FD"
assert_eq "nodes after LOOP_CHANGE_FD" "loop0p1 loop0p2 loop0p3 " "$(nodes)"
assert_size loop0p3 $((2 * MIB))
"$LOOP_HELPER" clr "$mnt/loop0" >/dev/null || fail "LOOP_CLR_FD (CHANGE_FD)"
wait_no_nodes

# --- BLKPG on a device attached without -P: parted makes the nodes
# without a detach; addpart and delpart change them, with the kernel's
# errnos; BLKRRPART is EINVAL without LO_FLAGS_PARTSCAN.
truncate -s 32M "$tmp/b.img"
out=$(sbx 'losetup -f --show "$1" && parted -s /dev/loop0 mklabel gpt \
             mkpart a 1MiB 9MiB mkpart b 9MiB 17MiB' "$tmp/b.img") \
  || fail "parted on an attached device: $out"
assert_eq "nodes made by parted" "loop0p1 loop0p2 " "$(nodes)"
assert_size loop0p1 $((8 * MIB))
assert_eq "loop0p2 start" $((9 * 2048)) "$(part_status loop0p2 start)"
# partx: --show reads the table, -d removes the nodes of a range
# (BLKPG_DEL_PARTITION), -a adds them back from the table.
out=$(sbx 'partx -g -o NR,START,SECTORS --show /dev/loop0') \
  || fail "partx --show: $out"
assert_eq "partx --show" "1 2048 16384 2 18432 16384" "$(tr -s ' \n' ' ' <<<"$out" | sed 's/^ //; s/ $//')"
sbx 'partx -d --nr 1:2 /dev/loop0' || fail "partx -d"
assert_eq "nodes after partx -d" "" "$(nodes)"
sbx 'partx -a /dev/loop0' || fail "partx -a"
assert_eq "nodes after partx -a" "loop0p1 loop0p2 " "$(nodes)"
out=$(sbx '
  blockdev --rereadpt /dev/loop0 2>&1; echo "rereadpt=$?"
  addpart /dev/loop0 3 2048 2048 2>&1; echo "overlap=$?"
  addpart /dev/loop0 3 65536 8 2>&1; echo "past-end=$?"
  addpart /dev/loop0 0 40000 8 2>&1; echo "number-0=$?"
  delpart /dev/loop0 9 2>&1; echo "missing=$?"
  addpart /dev/loop0 3 40960 2048 && echo added
  exec 3</dev/loopfs/loop0p3
  delpart /dev/loop0 3 2>&1; echo "open=$?"
  exec 3<&-
  ') || fail "BLKPG errnos: $out"
for want in "BLKRRPART: Invalid argument" "rereadpt=1" \
            "add partition: Device or resource busy" "overlap=1" \
            "past-end=1" "number-0=1" \
            "remove partition: No such device or address" "missing=1" \
            added "remove partition: Device or resource busy" "open=1"; do
  grep -q "$want" <<<"$out" || fail "BLKPG: no '$want' in: $out"
done
assert_eq "nodes after addpart" "loop0p1 loop0p2 loop0p3 " "$(nodes)"
assert_size loop0p3 $MIB
sbx 'delpart /dev/loop0 3' || fail "delpart of a closed partition"
assert_eq "nodes after delpart" "loop0p1 loop0p2 " "$(nodes)"
"$LOOP_HELPER" clr "$mnt/loop0" >/dev/null || fail "LOOP_CLR_FD (BLKPG)"
wait_no_nodes
echo "partitions: MBR, GPT, BLKPG and detach all as the kernel does"
