#!/bin/bash
# One container with its own instance: stock losetup -f --show, -l, -j,
# -d, mkfs.ext4 and fuse2fs on /dev/loop0, the data landing in the image
# on the host (a bind-mounted volume); the container sees its nodes as
# kernel loop devices, cannot mknod a block device, and sees none of the
# host's loop devices, which stay untouched.  After --rm at exit
# nothing of the instance is left.
set -euo pipefail
# shellcheck source=../functions.sh
source "$(dirname "$0")/../functions.sh"
# shellcheck source=oci-functions.sh
source "$(dirname "$0")/oci-functions.sh"

oci_requires
tmp=$(make_tmpdir)
truncate -s 32M "$tmp/disk.img"

# Detached, so that the instance can be looked at from the host.
oci_run one -d --rm --device /dev/fuse --cap-add SYS_ADMIN \
  -v "$tmp:/data" "$OCI_IMAGE" sleep 600 >/dev/null \
  || fail "podman run"
read -r -a instance <<<"$(instance_of one)"

out=$(oci_exec one $S/losetup -f --show /data/disk.img) \
  || fail "losetup -f --show: $out"
assert_eq "losetup -f --show" /dev/loop0 "$out"
assert_eq "bound in the container's instance on the host" /data/disk.img \
  "$(status_field "$(instance_dir one)/loop0" file_name)"
out=$(oci_exec one $S/losetup -l -n -O NAME,BACK-FILE) || fail "losetup -l: $out"
assert_eq "losetup -l" "/dev/loop0 /data/disk.img" "$(tr -s ' ' <<<"$out")"
out=$(oci_exec one $S/losetup -j /data/disk.img) || fail "losetup -j: $out"
grep -q '^/dev/loop0: .*(/data/disk.img)$' <<<"$out" || fail "losetup -j: $out"

# fuse2fs in the foreground, waited for: it writes its superblock as
# it exits, after the unmount.
out=$(oci_exec one sh -c "
  $S/mkfs.ext4 -q /dev/loop0 2>&1 | grep -v 'device geometry' || true
  mkdir -p /mnt/fs
  $S/fuse2fs -f /dev/loop0 /mnt/fs & pid=\$!
  for i in \$(seq 100); do grep -q ' /mnt/fs ' /proc/mounts && break; sleep 0.1; done
  echo 'written in a container' > /mnt/fs/hello && umount /mnt/fs \
    && wait \$pid && echo fuse2fs ok") || fail "mkfs.ext4, fuse2fs: $out"
grep -qx 'fuse2fs ok' <<<"$out" || fail "fuse2fs: $out"

# What the container sees of devices.
out=$(oci_exec one sh -c '
  stat -L -c "loop0 %F %t:%T" /dev/loop0
  stat -c "loop-control %F %t:%T" /dev/loop-control
  echo "sys/block: $(ls /sys/block | tr "\n" " ")"
  echo "sys/dev/block: $(ls /sys/dev/block | tr "\n" " ")"
  mknod /tmp/node b 7 1 2>&1 && echo "mknod b 7 1 worked"
  mknod /tmp/fifo p && echo "mknod p worked"') || true
echo "$out"
grep -qx 'loop0 block special file 7:0' <<<"$out" || fail "stat loop0: $out"
grep -qx 'loop-control character special file a:ed' <<<"$out" \
  || fail "stat loop-control: $out"
grep -qx 'sys/block: loop0 ' <<<"$out" || fail "/sys/block: $out"
grep -qx 'sys/dev/block: 7:0 ' <<<"$out" || fail "/sys/dev/block: $out"
grep -q 'Operation not permitted' <<<"$out" || fail "mknod b: $out"
grep -qx 'mknod p worked' <<<"$out" || fail "mknod of a fifo refused: $out"

out=$(oci_exec one $S/losetup -d /dev/loop0) || fail "losetup -d: $out"
out=$(oci_exec one $S/losetup -l -n) || fail "losetup -l: $out"
assert_eq "losetup -l after -d" "" "$out"

# The data is in the image on the host, a clean file system.
e2fsck -fn "$tmp/disk.img" >/dev/null 2>&1 || fail "e2fsck of the image"
assert_eq "file written through fuse2fs" "written in a container" \
  "$(debugfs -R 'cat /hello' "$tmp/disk.img" 2>/dev/null)"
no_host_loops_on "host loop devices untouched" "$tmp"

echo "checks done in ${SECONDS}s"
podman stop -t 0 "$(ctr_name one)" >/dev/null || fail "podman stop"
echo "stopped at ${SECONDS}s"
check_gone "--rm at exit" "${instance[@]}"
echo "all gone at ${SECONDS}s"
