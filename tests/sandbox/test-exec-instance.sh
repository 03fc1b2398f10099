#!/bin/bash
# loopfsctl exec --instance DIR uses an existing instance: devices made
# inside stay in it afterwards.  And nothing of the host's loop devices
# is reachable from inside: no host loop node in /dev, only the
# instance's loop devices in /sys/block and /sys/dev/block (beside the
# host's other disks), and mknod of a block device or of the host's
# loop-control (c 10 237) refused even
# for root, while other character nodes can still be made.
set -euo pipefail
# shellcheck source=../functions.sh
source "$(dirname "$0")/../functions.sh"

requires_root
isolate_mounts "$@"
requires losetup --version

new_instance 16M
cleanup_fn "$LOOP_HELPER" clr "$mnt/loop0"

out=$("$LOOPFSCTL" exec --instance "$mnt" -- losetup -f --show "$img") \
  || fail "losetup in the sandbox: $out"
assert_eq "device made in the sandbox" /dev/loop0 "$out"
assert_eq "loop0 bound in the instance" "$img" \
  "$(status_field "$mnt/loop0" file_name)"

# A second run sees the same device, in sysfs and through losetup.
out=$("$LOOPFSCTL" exec --instance "$mnt" -- losetup -l -n -O NAME,BACK-FILE) \
  || fail "losetup -l: $out"
assert_eq "losetup -l in a second sandbox" "/dev/loop0 $img" \
  "$(tr -s ' ' <<<"$out")"

# Isolation.  Host loop nodes: the only block devices of major 7 are
# the instance's (whose faked stat says so), none elsewhere in /dev.
out=$("$LOOPFSCTL" exec --instance "$mnt" -- bash -c '
  find /dev -path /dev/loopfs -prune -o -type b -printf "%p %D %Hr\n" \
    | awk "\$3 == 7 { print \"host loop node: \" \$1 }"
  for n in /dev/loop[0-9]*; do
    [ "$(stat -c %d "$n")" = "$(stat -c %d /dev/loopfs)" ] \
      || echo "not the instance'"'"'s: $n"
  done
  # The host'"'"'s other disks are there too (test-sysfs-host), its loop
  # devices are not.
  echo "sys/block: $(ls /sys/block | grep "^loop" | tr "\n" " ")"
  echo "sys/dev/block: $(ls /sys/dev/block | grep "^7:" | tr "\n" " ")"
  for spec in "b 7 0" "c 10 237"; do
    if err=$(mknod /tmp/loopfs-test-node.$$ $spec 2>&1); then
      rm -f /tmp/loopfs-test-node.$$
      echo "mknod $spec worked"
    else
      echo "mknod $spec refused: $err"
    fi
  done
  mknod /tmp/loopfs-test-node.$$ c 1 3 && echo "mknod c 1 3 made" \
    && rm -f /tmp/loopfs-test-node.$$
  stat -L -c "loop0 %F %t:%T" /dev/loop0
  stat -L -c "loop-control %F %t:%T" /dev/loop-control
') || fail "isolation checks: $out"
echo "$out"
! grep -q "^host loop node\\|^not the instance's\\|worked\$" <<<"$out" \
  || fail "host loop devices reachable: $out"
grep -qx 'sys/block: loop0 ' <<<"$out" || fail "/sys/block: $out"
grep -qx 'sys/dev/block: 7:0 ' <<<"$out" || fail "/sys/dev/block: $out"
grep -q '^mknod b 7 0 refused: .*Operation not permitted' <<<"$out" \
  || fail "mknod b 7 0: $out"
grep -q '^mknod c 10 237 refused: .*Operation not permitted' <<<"$out" \
  || fail "mknod c 10 237: $out"
grep -qx 'mknod c 1 3 made' <<<"$out" || fail "mknod c 1 3: $out"
grep -qx 'loop0 block special file 7:0' <<<"$out" || fail "stat loop0: $out"
grep -qx 'loop-control character special file a:ed' <<<"$out" \
  || fail "stat loop-control: $out"
