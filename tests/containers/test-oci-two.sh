#!/bin/bash
# Two containers at once, each with its own instance: each sees only
# its own devices (a device bound in one is not in the other's
# /sys/block, losetup -l or /dev/loopfs), numbers start at 0 in both, a
# container without the annotation gets no instance, and the host's
# loop devices are invisible in all and untouched.  podman rm -f of one
# leaves the other's instance working.
set -euo pipefail
# shellcheck source=../functions.sh
source "$(dirname "$0")/../functions.sh"
# shellcheck source=oci-functions.sh
source "$(dirname "$0")/oci-functions.sh"

oci_requires
tmp=$(make_tmpdir)
truncate -s 8M "$tmp/a.img" "$tmp/b.img"

for c in a b; do
  oci_run "$c" -d -v "$tmp:/data" --annotation io.loopfs.max=4 \
    "$OCI_IMAGE" sleep 600 >/dev/null || fail "podman run $c"
done
oci_run plain -d --annotation io.loopfs.enable=false "$OCI_IMAGE" \
  sleep 600 >/dev/null || fail "podman run plain"

for c in a b; do
  out=$(oci_exec "$c" $S/losetup -f --show "/data/$c.img") \
    || fail "losetup in $c: $out"
  assert_eq "first device of $c" /dev/loop0 "$out"
done
out=$(oci_exec a $S/losetup -f --show /data/a.img) || fail "losetup: $out"
assert_eq "second device of a" /dev/loop1 "$out"

for c in a b; do
  out=$(oci_exec "$c" $S/losetup -l -n -O NAME,BACK-FILE) || fail "$c: $out"
  if [ "$c" = a ]; then
    want=$'/dev/loop0 /data/a.img\n/dev/loop1 /data/a.img'
  else
    want="/dev/loop0 /data/b.img"
  fi
  assert_eq "losetup -l in $c" "$want" "$(tr -s ' ' <<<"$out" | sort)"
  out=$(oci_exec "$c" sh -c 'ls /sys/block | tr "\n" " "; ls /dev/loopfs | tr "\n" " "')
  if [ "$c" = a ]; then
    assert_eq "devices seen in a" "loop0 loop1 loop-control loop0 loop1 " "$out"
  else
    assert_eq "devices seen in b" "loop0 loop-control loop0 " "$out"
  fi
  # io.loopfs.max=4: four /dev/loopN links, and no fifth device.
  assert_eq "links in $c" "/dev/loop0 /dev/loop1 /dev/loop2 /dev/loop3" \
    "$(oci_exec "$c" sh -c 'echo /dev/loop[0-9]*')"
done

# The container without the annotation: podman's container as ever,
# no loop node in its /dev (its /sys/block is the host's, as stock).
out=$(oci_exec plain ls /dev) || fail "ls /dev in plain: $out"
! grep -q 'loop' <<<"$out" || fail "a container without loopfs has: $out"

read -r -a inst_a <<<"$(instance_of a)"
read -r -a inst_b <<<"$(instance_of b)"

# Every podman exec hands the supervisor a listener, served by a thread
# of its own with descriptors of its own; those of processes gone are
# freed at the next exec, so the supervisor's descriptors do not grow.
before=$(ls "/proc/${inst_a[1]}/fd" | wc -l)
for i in 1 2 3 4 5 6; do
  oci_exec a true || fail "podman exec $i"
done
after=$(ls "/proc/${inst_a[1]}/fd" | wc -l)
[ "$after" -le "$before" ] \
  || fail "the supervisor's descriptors grew from $before to $after in 6 execs"
podman rm -f -t 0 "$(ctr_name a)" >/dev/null || fail "podman rm -f a"
check_gone "podman rm -f" "${inst_a[@]}"
# b is untouched.
kill -0 "${inst_b[1]}" "${inst_b[2]}" || fail "b's instance ended with a"
out=$(oci_exec b $S/losetup -l -n -O NAME,BACK-FILE) || fail "b: $out"
assert_eq "b after a's removal" "/dev/loop0 /data/b.img" "$(tr -s ' ' <<<"$out")"
out=$(oci_exec b $S/losetup -d /dev/loop0) || fail "losetup -d in b: $out"
no_host_loops_on "host loop devices untouched" "$tmp"
podman rm -f -t 0 "$(ctr_name b)" >/dev/null || fail "podman rm -f b"
check_gone "podman rm -f" "${inst_b[@]}"
