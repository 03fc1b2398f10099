#!/bin/bash
# A container with a user namespace (podman --uidmap/--gidmap): the
# instance's nodes belong to the container's root (host uid 100000 by
# the mapping, uid 0 as the container's stat shows them), so that root
# attaches, formats and detaches as in a container without one.
set -euo pipefail
# shellcheck source=../functions.sh
source "$(dirname "$0")/../functions.sh"
# shellcheck source=oci-functions.sh
source "$(dirname "$0")/oci-functions.sh"

oci_requires
tmp=$(make_tmpdir)
truncate -s 16M "$tmp/disk.img"
chown 100000:100000 "$tmp/disk.img"
# The container's root is no one on the host: the volume must be open.
chmod 0755 "$tmp"

oci_run userns -d --uidmap 0:100000:65536 --gidmap 0:100000:65536 \
  -v "$tmp:/data" "$OCI_IMAGE" sleep 600 >/dev/null || fail "podman run"
read -r -a instance <<<"$(instance_of userns)"
dir=$(instance_dir userns)
assert_eq "owner of loop-control on the host" 100000:100000 \
  "$(stat -c %u:%g "$dir/loop-control")"
assert_eq "owner of loop-control in the container" "0 0" \
  "$(oci_exec userns stat -c '%u %g' /dev/loop-control)"
assert_eq "owner of the /dev/loop0 link in the container" "0 0" \
  "$(oci_exec userns stat -c '%u %g' /dev/loop0)"

out=$(oci_exec userns $S/losetup -f --show /data/disk.img) || fail "losetup: $out"
assert_eq "losetup -f --show" /dev/loop0 "$out"
out=$(oci_exec userns $S/losetup -l -n -O NAME,RO,BACK-FILE) || fail "losetup -l: $out"
assert_eq "losetup -l (read-write)" "/dev/loop0 0 /data/disk.img" "$(tr -s ' ' <<<"$out")"
assert_eq "owner of loop0 on the host" 100000:100000 "$(stat -c %u:%g "$dir/loop0")"
out=$(oci_exec userns sh -c "$S/mkfs.ext4 -q /dev/loop0 2>&1 | grep -v 'device geometry'; $S/losetup -d /dev/loop0") \
  || fail "mkfs.ext4, losetup -d: $out"
blkid -p "$tmp/disk.img" | grep -q 'TYPE="ext4"' || fail "no ext4 in the image"

# podman 4.3 itself fails "rm -f" of a running --uidmap container now
# and then with "unlinkat .../userdata/shm: device or resource busy",
# with plain runc too (3 of 6 tries on the test machine), after the
# container is gone.  What loopfs-oci owns is checked: the container
# and everything of its instance are gone.
podman rm -f -t 0 "$(ctr_name userns)" >/dev/null 2>"$tmp/rm.err" \
  || grep -q 'userdata/shm: device or resource busy' "$tmp/rm.err" \
  || fail "podman rm -f: $(cat "$tmp/rm.err")"
! podman container exists "$(ctr_name userns)" \
  || fail "the container is still there after podman rm -f"
check_gone "podman rm -f" "${instance[@]}"
