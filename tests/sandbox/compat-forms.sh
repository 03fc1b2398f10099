#!/bin/bash
# Run inside `loopfsctl exec` by test-compat.sh: every form of the
# unmodified losetup on the sandbox's /dev/loopN, each checked against
# what LOOP_GET_STATUS64 (loop-helper) or the image says, writing one
# table row per form to TABLE.  A form that fails writes FAILS and the
# reason, so the table differs from the expected one.
#
# compat-forms.sh TABLE DIR   (DIR: a scratch directory for images)
set -u
export LC_ALL=C
table=$1 dir=$2
img=$dir/disk.img
img2=$dir/other.img
log=$dir/form.log
: "${LOOP_HELPER:=loop-helper}"

truncate -s 16M "$img"
truncate -s 8M "$img2"

# Field KEY of LOOP_GET_STATUS64 and the block ioctls on DEV.
field ()
{
  "$LOOP_HELPER" status "$1" | sed -n "s/^$2=//p"
}

# Fail the current form with a message.
bad ()
{
  echo "$*" >>"$log"
  return 1
}

# Expect field KEY of DEV to be WANT.
expect ()
{
  local got
  got=$(field "$1" "$2")
  [ "$got" = "$3" ] || bad "$1 $2: expected '$3', got '$got'"
}

# Detach DEV with the loop driver's own ioctl, whatever losetup does.
clear_dev ()
{
  "$LOOP_HELPER" clr "$1" >/dev/null 2>&1 || true
}

# Run check function CHECK for FORM; write its row with HOW.
form ()
{
  local form=$1 how=$2 check=$3 reason
  : >"$log"
  if "$check" >>"$log" 2>&1; then
    printf '| `%s` | works | %s |\n' "$form" "$how" >>"$table"
  else
    reason=$(grep -v '^$' "$log" | tail -n 1)
    printf '| `%s` | FAILS | %s |\n' "$form" "$reason" >>"$table"
  fi
}

attach_f ()
{
  losetup -f "$img" || return 1
  expect /dev/loop0 file_name "$img" && expect /dev/loop0 size 16777216
}

attach_show ()
{
  local out
  out=$(losetup -f --show "$img") || return 1
  [ "$out" = /dev/loop1 ] || bad "printed '$out'"
  expect /dev/loop1 file_name "$img"
}

attach_explicit ()
{
  losetup /dev/loop5 "$img2" || return 1
  expect /dev/loop5 file_name "$img2" && expect /dev/loop5 size 8388608
}

# Attach with losetup -f --show OPTIONS, check fields (KEY=VALUE...)
# of the printed device, detach it.
attach_option ()
{
  local out opts=() kv
  while [ "$1" != -- ]; do opts+=("$1"); shift; done
  shift
  out=$(losetup -f --show "${opts[@]}" "$img") || return 1
  for kv in "$@"; do
    expect "$out" "${kv%%=*}" "${kv#*=}" || { clear_dev "$out"; return 1; }
  done
  clear_dev "$out"
}

attach_offset () { attach_option -o 1M -- offset=1048576 size=15728640; }
attach_sizelimit () { attach_option --sizelimit 2M -- sizelimit=2097152 size=2097152; }
attach_ro () { attach_option -r -- ro=1 flags=1; }
attach_partscan () { attach_option -P -- flags=8; }
attach_blocksize () { attach_option -b 4096 -- ssz=4096; }
attach_dio () { attach_option --direct-io -- flags=16; }

list_all ()
{
  local out
  out=$(losetup -a) || return 1
  [ "$(grep -c "^/dev/loop[01]: \[[0-9]*\]:$(stat -c %i "$img") ($img)\$" <<<"$out")" = 2 ] \
    && [ "$(grep -c "^/dev/loop5: \[[0-9]*\]:$(stat -c %i "$img2") ($img2)\$" <<<"$out")" = 1 ] \
    && [ "$(wc -l <<<"$out")" = 3 ] \
    || bad "unexpected: $out"
}

list_l ()
{
  local out
  out=$(losetup -l -n -O NAME,SIZELIMIT,OFFSET,AUTOCLEAR,RO,BACK-FILE,DIO,LOG-SEC) \
    || return 1
  out=$(tr -s ' ' <<<"$out")
  [ "$out" = "/dev/loop0 0 0 0 0 $img 0 512
/dev/loop1 0 0 0 0 $img 0 512
/dev/loop5 0 0 0 0 $img2 0 512" ] || bad "unexpected: $out"
}

list_json ()
{
  local out
  out=$(losetup -l -J | jq -c '[.loopdevices[] | [.name, ."back-file", .offset, .sizelimit, .ro, ."log-sec"]]') \
    || return 1
  [ "$out" = "[[\"/dev/loop0\",\"$img\",0,0,false,512],[\"/dev/loop1\",\"$img\",0,0,false,512],[\"/dev/loop5\",\"$img2\",0,0,false,512]]" ] \
    || bad "unexpected: $out"
}

list_json_long ()
{
  local out
  out=$(losetup --list --json | jq -r '.loopdevices[].name' | tr '\n' ' ') \
    || return 1
  [ "$out" = "/dev/loop0 /dev/loop1 /dev/loop5 " ] || bad "unexpected: $out"
}

list_j ()
{
  local out
  out=$(losetup -j "$img2") || return 1
  [ "$(cut -d: -f1 <<<"$out")" = /dev/loop5 ] || bad "unexpected: $out"
}

nooverlap ()
{
  local out
  out=$(losetup -f --show --nooverlap "$img2") || return 1
  [ "$out" = /dev/loop5 ] || bad "printed '$out', expected the existing /dev/loop5"
}

show_one ()
{
  local out
  out=$(losetup /dev/loop5) || return 1
  [[ "$out" == "/dev/loop5: ["*"]:$(stat -c %i "$img2") ($img2)" ]] \
    || bad "unexpected: $out"
}

capacity ()
{
  truncate -s 12M "$img2"
  losetup -c /dev/loop5 || return 1
  expect /dev/loop5 size 12582912
}

detach_d ()
{
  losetup -d /dev/loop5 || return 1
  "$LOOP_HELPER" status /dev/loop5 >/dev/null 2>&1 && bad "loop5 still bound"
  return 0
}

detach_all ()
{
  losetup -D || return 1
  [ -z "$(losetup -a)" ] || bad "still bound: $(losetup -a)"
}

mkfs_fsck ()
{
  local out
  losetup -f "$img" || return 1
  mkfs.ext4 -q -F /dev/loop0 || return 1
  e2fsck -fn /dev/loop0 >/dev/null || bad "e2fsck found errors"
}

fuse2fs_mount ()
{
  local mnt=$dir/mnt
  mkdir -p "$mnt"
  fuse2fs /dev/loop0 "$mnt" -o fakeroot >/dev/null || return 1
  echo hello >"$mnt/file" && sync
  [ "$(cat "$mnt/file")" = hello ] || bad "read back failed"
  umount "$mnt"
  e2fsck -fn /dev/loop0 >/dev/null || bad "e2fsck after fuse2fs found errors"
  losetup -d /dev/loop0
}

blockdev_report ()
{
  local out
  losetup -f "$img" || return 1
  out=$(blockdev --report /dev/loop0) || return 1
  [ "$(tail -n 1 <<<"$out" | tr -s ' ')" = "rw 5120 512 4096 0 16777216 /dev/loop0" ] \
    || bad "unexpected report: $out"
  [ "$(blockdev --getiomin --getmaxsect /dev/loop0 | tr '\n' ' ')" = "512 2560 " ] \
    || bad "unexpected --getiomin --getmaxsect"
}

blockdev_setro ()
{
  blockdev --setro /dev/loop0 || return 1
  [ "$(blockdev --getro /dev/loop0)" = 1 ] || bad "--getro after --setro"
  ! dd if=/dev/zero of=/dev/loop0 bs=4096 count=1 conv=notrunc status=none 2>/dev/null \
    || bad "a write to a --setro device succeeded"
  blockdev --setrw /dev/loop0 || return 1
  dd if=/dev/zero of=/dev/loop0 bs=4096 count=1 conv=notrunc status=none \
    || bad "a write after --setrw failed"
  losetup -d /dev/loop0
}

# A 16 MiB image with an MBR of two partitions and a FAT labelled
# COMPATFAT on the first, bound with -P as /dev/loop0.
attach_parted ()
{
  local part=$dir/parted.img
  if [ ! -e "$part" ]; then
    truncate -s 16M "$part"
    printf 'label: dos\nsize=6M\nsize=6M\n' | sfdisk -q "$part" >/dev/null \
      || return 1
    mkfs.vfat -n COMPATFAT --offset 2048 "$part" 6144 >/dev/null 2>&1 \
      || return 1
  fi
  [ -b /dev/loop0p1 ] || losetup -P /dev/loop0 "$part" || return 1
}

lsblk_parts ()
{
  local out
  attach_parted || return 1
  out=$(lsblk -n -r -o NAME,MAJ:MIN,TYPE,START /dev/loop0) || return 1
  [ "$(cut -d' ' -f1,3,4 <<<"$out" | tr '\n' ' ')" \
      = "loop0 loop  loop0p1 part 2048 loop0p2 part 14336 " ] \
    || bad "unexpected lsblk: $out"
  grep -Eq '^loop0p1 259:[0-9]+ ' <<<"$out" || bad "loop0p1 not 259:X: $out"
}

lsblk_host ()
{
  local name
  # Every loop device lsblk lists is the instance's.
  for name in $(lsblk -n -r -o NAME | grep '^loop'); do
    [ -e "/dev/loopfs/$name" ] || bad "a host loop device: $name"
  done
  [ -n "$(lsblk -n -r -o NAME | grep -v '^loop')" ] || bad "no host disk"
}

blkid_part ()
{
  local out
  attach_parted || return 1
  out=$(blkid /dev/loop0p1) || return 1
  grep -q 'LABEL="COMPATFAT"' <<<"$out" || bad "no label: $out"
  grep -q 'PARTUUID=' <<<"$out" || bad "no PARTUUID: $out"
  out=$(blkid -p -o value -s PART_ENTRY_NUMBER /dev/loop0p2) || return 1
  [ "$out" = 2 ] || bad "PART_ENTRY_NUMBER of loop0p2: $out"
}

partx_show ()
{
  local out
  attach_parted || return 1
  out=$(partx -g -o NR,START,SECTORS --show /dev/loop0) || return 1
  [ "$(tr -s ' ' <<<"$out" | tr '\n' '/')" = " 1 2048 12288/ 2 14336 12288/" ] \
    || bad "unexpected partx: $out"
}

findfs_label ()
{
  attach_parted || return 1
  [ "$(findfs LABEL=COMPATFAT)" = /dev/loop0p1 ] \
    || bad "findfs: $(findfs LABEL=COMPATFAT 2>&1)"
  losetup -d /dev/loop0
}

form "losetup -f FILE" "LOOP_CTL_GET_FREE on /dev/loop-control, LOOP_CONFIGURE on /dev/loop0, the instance's node bound there" attach_f
form "losetup -f --show FILE" "as -f; prints /dev/loopN" attach_show
form "losetup /dev/loop5 FILE" "explicit device, allocated through loop-control" attach_explicit
form "losetup -f --show -o 1M FILE" "offset in LOOP_CONFIGURE" attach_offset
form "losetup -f --show --sizelimit 2M FILE" "size limit in LOOP_CONFIGURE" attach_sizelimit
form "losetup -f --show -r FILE" "LO_FLAGS_READ_ONLY" attach_ro
form "losetup -f --show -P FILE" "LO_FLAGS_PARTSCAN; the scan's loopNpM appear as /dev/loopNpM (test-partitions)" attach_partscan
form "losetup -f --show -b 4096 FILE" "LOOP_SET_BLOCK_SIZE" attach_blocksize
form "losetup -f --show --direct-io FILE" "LO_FLAGS_DIRECT_IO" attach_dio
form "losetup -a" "iterates the sysfs view (/sys/block/loop*)" list_all
form "losetup -l" "columns from the sysfs view" list_l
form "losetup -l -J" "JSON from the sysfs view" list_json
form "losetup --list --json" "as -l -J" list_json_long
form "losetup -j FILE" "sysfs view, backing inode from LOOP_GET_STATUS64" list_j
form "losetup -f --show --nooverlap FILE" "finds the existing device in the sysfs view" nooverlap
form "losetup /dev/loop5" "faked stat: block device 7:5" show_one
form "losetup -c /dev/loop5" "faked stat; LOOP_SET_CAPACITY" capacity
form "losetup -d /dev/loop5" "faked stat; LOOP_CLR_FD" detach_d
form "losetup -D" "detaches every device the sysfs view lists: only the instance's" detach_all
form "mkfs.ext4 /dev/loop0; e2fsck -fn /dev/loop0" "faked stat: a block device; BLKGETSIZE64, reads and writes" mkfs_fsck
form "fuse2fs /dev/loop0 DIR" "reads and writes through the device" fuse2fs_mount
form "blockdev --report /dev/loop0" "BLKROGET, BLKRAGET, BLKSSZGET, BLKBSZGET, BLKGETSIZE64; every --getX as on a kernel loop device (test-blockdev)" blockdev_report
form "blockdev --setro /dev/loop0; --setrw" "BLKROSET: writes fail with EPERM until --setrw, as on the kernel" blockdev_setro
form "lsblk /dev/loop0" "the sysfs view: loop0 and its loop0pM (259:X) as on a kernel loop device (test-partitions)" lsblk_parts
form "lsblk" "the instance's devices and the host's other disks; no host loop device (test-sysfs-host)" lsblk_host
form "blkid /dev/loop0p1" "faked stat: block device 259:X; the disk found through /sys/dev/block" blkid_part
form "partx --show /dev/loop0" "reads the table through the device, as on the kernel" partx_show
form "findfs LABEL=..." "libblkid lists the sysfs view; /dev/loopNpM are the nodes themselves, not symlinks" findfs_label
