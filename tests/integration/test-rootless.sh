#!/bin/bash
# Rootless: an unprivileged user runs loopfsd inside "unshare -Urm"
# (user and mount namespace, no host root) and uses the instance with
# unmodified losetup, mkfs.ext4, fuse2fs and e2fsck; nbdkit runs there
# too, as that user, with no capabilities; umount leaves nothing behind.
# The test makes /dev/fuse usable by everyone (Debian's default mode
# 0666) only inside its own mount namespace.
set -euo pipefail
# shellcheck source=../functions.sh
source "$(dirname "$0")/../functions.sh"

requires_root
isolate_mounts "$@"
requires losetup --version
requires mkfs.ext4 -V
requires command -v fuse2fs

user=65534
as_user () { setpriv --reuid=$user --regid=$user --clear-groups -- "$@"; }
as_user unshare -Urm true 2>/dev/null \
  || { echo "SKIP: unprivileged user namespaces are disabled" >&2; exit 77; }
as_user test -x "$LOOPFSD" \
  || { echo "SKIP: $LOOPFSD is not executable by uid $user" >&2; exit 77; }

tmp=$(make_tmpdir)
chmod 0755 "$tmp"
work=$tmp/work
mkdir "$work" "$tmp/dev"
chown $user:$user "$work"

mount -t tmpfs -o mode=0755 loopfs-test-dev "$tmp/dev"
cleanup_fn umount -l "$tmp/dev"
mknod -m 0666 "$tmp/dev/fuse" c 10 229
mount --bind "$tmp/dev/fuse" /dev/fuse
cleanup_fn umount -l /dev/fuse

# Everything below runs as the unprivileged user in its own user and
# mount namespace; it prints the pids it saw for the checks that follow.
# XDG_RUNTIME_DIR inside the test's directory: the daemon's sockets and
# the per-user device count go there, and go with it.
mkdir "$work/run"
chown $user:$user "$work/run"
as_user env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$work" \
  XDG_RUNTIME_DIR="$work/run" \
  LOOPFSD="$LOOPFSD" FUNCTIONS="$(dirname "$0")/../functions.sh" \
  WORK="$work" unshare -Urm /bin/bash -euo pipefail -c '
  source "$FUNCTIONS"
  trap - EXIT
  mkdir "$WORK/mnt" "$WORK/fs"
  truncate -s 64M "$WORK/disk.img"
  "$LOOPFSD" -o "log=$WORK/loopfsd.log" "$WORK/mnt"
  [ "$(stat -c %u:%g "$WORK/mnt/loop-control")" = 0:0 ] \
    || { echo "nodes not owned by root of the namespace" >&2; exit 1; }
  in_sandbox "$WORK/mnt" /bin/bash -euo pipefail -c "
    dev=\$(losetup -f --show $WORK/disk.img)
    [ \"\$dev\" = /dev/loop0 ]
    mkfs.ext4 -q \$dev
    fuse2fs -f \$dev $WORK/fs -o fakeroot 2>/dev/null &
    fuse=\$!
    for i in \$(seq 50); do mountpoint -q $WORK/fs && break; sleep 0.1; done
    echo rootless > $WORK/fs/hello
    umount $WORK/fs
    wait \$fuse
    e2fsck -fn \$dev >/dev/null
  "
  # Only the processes of this instance: others may run on the host.
  daemon=$(loopfsd_pid "$WORK/mnt")
  for p in $(children_nbdkit "$daemon"); do
    echo "nbdkit $p $(awk '"'"'/^(CapEff|NoNewPrivs):/ {printf "%s ", $2}'"'"' /proc/$p/status)"
  done > "$WORK/pids"
  echo "loopfsd $daemon" >> "$WORK/pids"
  umount "$WORK/mnt"
' || { cat "$work/loopfsd.log" >&2 2>/dev/null; fail "rootless flow failed"; }

read -r _ nbdkit capeff nnp < <(grep '^nbdkit' "$work/pids") \
  || fail "no nbdkit was running"
assert_eq "nbdkit CapEff" 0000000000000000 "$capeff"
assert_eq "nbdkit NoNewPrivs" 1 "$nnp"
read -r _ daemon < <(grep '^loopfsd' "$work/pids") || fail "no loopfsd was running"
wait_gone "$daemon" || fail "loopfsd $daemon still running after umount"
wait_gone "$nbdkit" || fail "nbdkit $nbdkit still running after umount"
debugfs -R "cat /hello" "$work/disk.img" 2>/dev/null | grep -qx rootless \
  || fail "the file written through fuse2fs is not in the image"
echo ok
