#!/bin/bash
# Guest test of -o nbd=: with nbd=off a binding works through the FUSE
# path alone (no user.loopfs.nbd, no nbd device connected) even though
# the kernel has nbd; nbd=on attaches like the default; a bad value is
# refused at mount time.  A rootless daemon (in a user namespace, so
# without CAP_SYS_ADMIN over the kernel's nbd) with the default
# nbd=auto binds silently without nbd, and with nbd=on its binds fail
# with an errno and leave nothing behind.  (nbd=on on a kernel without
# nbd cannot be had in this VM.)
#
# Runs inside the VM only: tests/vm/run-vm tests/vm/test-nbd-off.sh
# [BUILDDIR].
set -euo pipefail
# shellcheck source=../functions.sh
source "$(dirname "$0")/../functions.sh"
# shellcheck source=../integration/leftovers.sh
source "$(dirname "$0")/../integration/leftovers.sh"
# shellcheck source=nbd-functions.sh
source "$(dirname "$0")/nbd-functions.sh"

nbd_test_setup "$@"

MiB=1048576
size=$((16 * MiB))
tmp=$(make_tmpdir)
chmod 0755 "$tmp"
mnt=$tmp/mnt
img=$tmp/disk.img
mkdir "$mnt"
head -c $size /dev/urandom > "$img"
head -c $MiB /dev/urandom > "$tmp/pat"

# --- nbd=off ------------------------------------------------------------------------
start_loopfsd_log "$tmp/off.log" "$mnt" -o nbd=off
losetup_bind "$mnt" /dev/loop0 "$img"
assert_no_nbd "$mnt/loop0"
assert_no_nbd_connected "nbd=off, bound"
[ -n "$(children_nbdkit "$LOOPFSD_PID")" ] || fail "nbd=off: loop0 has no nbdkit"
# The FUSE path works on its own.
dd if="$tmp/pat" of="$mnt/loop0" bs=1M seek=2 conv=notrunc,fsync status=none \
  || fail "nbd=off: write through loop0"
cmp -s <(dd if="$img" bs=1M skip=2 count=1 status=none) "$tmp/pat" \
  || fail "nbd=off: the write through loop0 is not in the image"
cmp -s "$mnt/loop0" "$img" || fail "nbd=off: loop0 does not read the image"
losetup_bind "$mnt" /dev/loop1 -r "$img"
assert_no_nbd "$mnt/loop1"
assert_no_nbd_connected "nbd=off, two bound"
loop_clr "$mnt/loop1"
loop_clr "$mnt/loop0"
umount "$mnt"
wait_gone "$LOOPFSD_PID" || fail "nbd=off: loopfsd did not exit after umount"
echo "nbd=off: bound and served loop0 and loop1 without an nbd device"

# --- nbd=on -------------------------------------------------------------------------
start_loopfsd_log "$tmp/on.log" "$mnt" -o nbd=on
losetup_bind "$mnt" /dev/loop0 "$img"
nbd=$(nbd_of "$mnt/loop0")
assert_nbd_connected "nbd=on" "$nbd" $size
cmp -s <(dd if="$nbd" bs=1M skip=2 count=1 iflag=direct status=none) "$tmp/pat" \
  || fail "nbd=on: $nbd does not read the image"
loop_clr "$mnt/loop0"
wait_nbd_disconnected "nbd=on, after LOOP_CLR_FD" "$nbd"
umount "$mnt"
wait_gone "$LOOPFSD_PID" || fail "nbd=on: loopfsd did not exit after umount"
echo "nbd=on: loop0 was attached to $nbd"

# --- A bad value --------------------------------------------------------------------
if out=$("$LOOPFSD" -o nbd=maybe,log="$tmp/bad.log" "$mnt" 2>&1); then
  pid=$(loopfsd_pid "$mnt") || pid=
  cleanup_fn _stop_loopfsd "$mnt" "$pid"
  fail "-o nbd=maybe was accepted"
fi
! is_mounted "$mnt" || fail "-o nbd=maybe left $mnt mounted"
grep -q "nbd" <<<"$out$(cat "$tmp/bad.log" 2>/dev/null)" \
  || fail "-o nbd=maybe: the error does not name the option: $out"
echo "-o nbd=maybe refused: $out"

# --- Rootless: auto is off, on fails the bind ----------------------------------------
user=65534
as_user () { setpriv --reuid=$user --regid=$user --clear-groups -- "$@"; }
if ! as_user unshare -Urm true 2>/dev/null; then
  echo "rootless part skipped: unprivileged user namespaces are disabled"
  assert_no_nbd_connected "at the end"
  echo "PASS"
  exit 0
fi
# The guest's /dev has no udev to make /dev/fuse usable by everyone.
fuse_mode=$(stat -c %a /dev/fuse)
chmod 0666 /dev/fuse
cleanup_fn chmod "$fuse_mode" /dev/fuse
work=$tmp/work
mkdir "$work"
cp "$img" "$work/disk.img"
chown -R $user:$user "$work"

# Run loopfsd -o nbd=MODE as the unprivileged user in its own user and
# mount namespace, bind disk.img to loop0 and print what happened as
# KEY=VALUE lines, then unmount.
rootless_bind ()
{
  local mode=$1
  as_user env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$work" \
    LOOPFSD="$LOOPFSD" LOOP_HELPER="$LOOP_HELPER" \
    FUNCTIONS="$(dirname "$0")/../functions.sh" WORK="$work" MODE="$mode" \
    unshare -Urm /bin/bash -euo pipefail -c '
    source "$FUNCTIONS"
    trap - EXIT
    mnt=$WORK/mnt-$MODE
    mkdir "$mnt"
    "$LOOPFSD" -o "nbd=$MODE,log=$WORK/loopfsd-$MODE.log" "$mnt"
    echo "pid=$(loopfsd_pid "$mnt")"
    "$LOOP_HELPER" get-free "$mnt/loop-control" >/dev/null
    if out=$("$LOOP_HELPER" set-fd "$mnt/loop0" "$WORK/disk.img" rw); then
      echo "bind=ok"
      echo "xattr=$("$LOOP_HELPER" xattr "$mnt/loop0" user.loopfs.nbd)"
      cmp -s "$mnt/loop0" "$WORK/disk.img" && echo "data=ok"
    else
      echo "bind=$out"
      echo "status=$("$LOOP_HELPER" status "$mnt/loop0")"
    fi
    echo "nbdkits=$(children_nbdkit "$(loopfsd_pid "$mnt")" | wc -l)"
    umount "$mnt"
  ' > "$work/result-$mode" 2>&1 || true
  RESULT=$(cat "$work/result-$mode")
  RESULT_PID=$(sed -n 's/^pid=//p' <<<"$RESULT")
  [ -n "$RESULT_PID" ] \
    || fail "rootless nbd=$mode: loopfsd did not start: $RESULT" \
         "$(cat "$work/loopfsd-$mode.log" 2>/dev/null)"
  wait_gone "$RESULT_PID" \
    || fail "rootless nbd=$mode: loopfsd $RESULT_PID did not exit after umount"
}

# The value of KEY in RESULT.
result () { sed -n "s/^$1=//p" <<<"$RESULT"; }

rootless_bind auto
echo "rootless nbd=auto: $(tr '\n' ' ' <<<"$RESULT")"
assert_eq "rootless nbd=auto: bind" ok "$(result bind)"
assert_eq "rootless nbd=auto: user.loopfs.nbd" ENODATA "$(result xattr)"
assert_eq "rootless nbd=auto: data through loop0" ok "$(result data)"
assert_no_nbd_connected "rootless nbd=auto"

rootless_bind on
echo "rootless nbd=on: $(tr '\n' ' ' <<<"$RESULT")"
[ "$(result bind)" != ok ] || fail "rootless nbd=on: the bind succeeded"
[[ $(result bind) =~ ^E[A-Z]+$ ]] \
  || fail "rootless nbd=on: expected an errno, got: $(result bind)"
assert_eq "rootless nbd=on: loop0 after the failed bind" ENXIO "$(result status)"
assert_eq "rootless nbd=on: nbdkits after the failed bind" 0 "$(result nbdkits)"
assert_no_nbd_connected "rootless nbd=on"

assert_no_nbd_connected "at the end"
echo "PASS"
