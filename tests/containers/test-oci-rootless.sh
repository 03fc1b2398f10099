#!/bin/bash
# Rootless podman: user $LOOPFS_ROOTLESS_USER (with /etc/subuid and
# /etc/subgid ranges) runs a container through loopfs-oci; the whole
# instance (supervisor, loopfsd, nbdkit) runs as that user inside
# podman's user namespace, the container's root owns the nodes and
# attaches, formats and detaches; nothing is left afterwards.
#
# Skipped without such a user.  /dev/fuse must be usable by the user:
# the test binds a 0666 node (Debian's default mode) over it in a mount
# namespace of its own, where podman's rootless namespace is made too
# (the user's podman pause process is stopped first and afterwards).
set -euo pipefail
# shellcheck source=../functions.sh
source "$(dirname "$0")/../functions.sh"
# shellcheck source=oci-functions.sh
source "$(dirname "$0")/oci-functions.sh"

user=${LOOPFS_ROOTLESS_USER:-}
[ -n "$user" ] || { echo "SKIP: set LOOPFS_ROOTLESS_USER to a user with subuid/subgid ranges" >&2; exit 77; }
grep -q "^$user:" /etc/subuid && grep -q "^$user:" /etc/subgid \
  || { echo "SKIP: $user has no /etc/subuid and /etc/subgid ranges" >&2; exit 77; }
requires_root
requires podman --version
uid=$(id -u "$user")
home=$(getent passwd "$user" | cut -d: -f6)
run=/run/user/$uid
if [ -z "${LOOPFS_TEST_ISOLATED:-}" ]; then
  exec unshare -m --propagation private -- \
    env LOOPFS_TEST_ISOLATED=1 /bin/bash "$0" "$@"
fi
tmp=$(make_tmpdir)
mount -t tmpfs -o mode=0755 loopfs-test-dev "$tmp"
mknod -m 0666 "$tmp/fuse" c 10 229
mount --bind "$tmp/fuse" /dev/fuse
umount -l "$tmp"
mkdir -p "$run" && chown "$user:" "$run" && chmod 0700 "$run"

as_user ()
{
  su - "$user" -s /bin/sh -c "export XDG_RUNTIME_DIR=$run PATH=/usr/sbin:/usr/bin:/sbin:/bin; $1"
}
# podman's rootless namespaces must be made in this mount namespace.
as_user "podman system migrate" >/dev/null 2>&1
cleanup_fn as_user "podman system migrate" >/dev/null 2>&1
as_user "$(dirname "$(realpath "$0")")/make-image $OCI_IMAGE" || fail "image"
work=$(as_user "mktemp -d")
cleanup_fn rm -rf "$work"
as_user "truncate -s 16M $work/disk.img"
name=loopfs-test-$$-rootless
cleanup_fn as_user "podman rm -f -t 0 $name" >/dev/null 2>&1

out=$(as_user "podman run --rm --name $name --runtime $LOOPFS_OCI \
  --annotation io.loopfs.enable=true --ulimit nofile=1024:1024 \
  --ulimit nproc=1024:1024 --network none -v $work:/data $OCI_IMAGE sh -c '
  stat -c \"owner %u:%g\" /dev/loop-control
  $S/losetup -f --show /data/disk.img
  $S/losetup -l -n -O NAME,RO,BACK-FILE
  $S/mkfs.ext4 -q /dev/loop0 2>&1 | grep -v \"device geometry\"
  $S/losetup -d /dev/loop0 && echo detached'" 2>&1) || fail "rootless run: $out"
echo "$out"
grep -qx 'owner 0:0' <<<"$out" || fail "owner of loop-control: $out"
grep -qx '/dev/loop0' <<<"$out" || fail "losetup -f --show: $out"
grep -q '^/dev/loop0 *0 /data/disk.img$' <<<"$out" || fail "losetup -l: $out"
grep -qx 'detached' <<<"$out" || fail "losetup -d: $out"
blkid -p "$work/disk.img" | grep -q 'TYPE="ext4"' || fail "no ext4 in the image"
# Nothing of the instance is left (--rm: delete ran).
for ((i = 0; i < 100; i++)); do
  [ -z "$(ls -A "$run/loopfs-oci" 2>/dev/null)" ] && break
  sleep 0.1
done
[ -z "$(ls -A "$run/loopfs-oci" 2>/dev/null)" ] \
  || fail "left in $run/loopfs-oci: $(ls -A "$run/loopfs-oci")"
[ -z "$(pgrep -u "$uid" -x loopfsd || true)" ] || fail "a loopfsd of $user is left"
[ -z "$(pgrep -u "$uid" -f 'loopfs-oci create' || true)" ] \
  || fail "a supervisor of $user is left"
