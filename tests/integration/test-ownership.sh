#!/bin/bash
# Who may use an instance that root mounted.  The nodes are 0600 and
# belong to root; loopfs always mounts with default_permissions.
#
# - Default (no allow_other): FUSE refuses every user but the mounter
#   before any mode is looked at, so user 65534 gets EACCES on the
#   directory itself (ls, stat), on loop-control and on loopN.
# - -o allow_other: other users get in and the modes decide: ls and stat
#   work, opening the 0600 loop-control or loopN is still EACCES.
# In both cases root, the mounter, uses loop-control and loopN.
# Descriptors root opened and passed on: reads work for user 65534 in
# both cases; ioctls only with allow_other (FUSE refuses ioctls from
# processes it does not admit, also on passed descriptors).
set -euo pipefail
# shellcheck source=../functions.sh
source "$(dirname "$0")/../functions.sh"

requires_root
isolate_mounts "$@"
requires setpriv --version

tmp=$(make_tmpdir)
# Other users must reach the mountpoint: only loopfs should refuse them.
chmod 0755 "$tmp"
mnt=$tmp/mnt
mkdir "$mnt"
head -c 1M /dev/urandom > "$tmp/disk.img"
echo visible > "$tmp/sibling"
chmod 0644 "$tmp/sibling"

# Run CMD... as user and group 65534 without supplementary groups or
# capabilities.
as_nobody ()
{
  setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"
}

# The system's python3 (the one user 65534 can run), for ioctls on
# passed descriptors.
python=$(PATH=/usr/local/bin:/usr/bin:/bin command -v python3) \
  || { echo "SKIP: missing: python3" >&2; exit 77; }

# As user 65534, LOOP_CTL_GET_FREE on descriptor 3, which the caller
# opened; prints the number or the errno name.
nobody_get_free_fd3 ()
{
  as_nobody "$python" -c '
import errno, fcntl, sys
try:
    print (fcntl.ioctl (3, 0x4C82))
except OSError as e:
    print (errno.errorcode[e.errno])
    sys.exit (1)'
}

# Run CMD... as user 65534; it must fail with "Permission denied".
expect_denied ()
{
  local out
  if out=$(as_nobody "$@" 2>&1); then
    fail "$* as uid 65534 succeeded: $out"
  fi
  grep -q "Permission denied" <<<"$out" \
    || fail "$* as uid 65534: expected EACCES, got: $out"
}

# Root, the mounter, allocates a device, binds it, reads it, detaches
# and removes it.  WHAT names the case.
check_root_uses ()
{
  local what=$1 n out
  n=$("$LOOP_HELPER" get-free "$mnt/loop-control") || fail "$what: get-free: $n"
  assert_eq "$what: GET_FREE as root" 0 "$n"
  out=$("$LOOP_HELPER" set-fd "$mnt/loop0" "$tmp/disk.img" rw) \
    || fail "$what: set-fd as root: $out"
  cmp -s "$mnt/loop0" "$tmp/disk.img" || fail "$what: root reads wrong data"
  out=$("$LOOP_HELPER" clr "$mnt/loop0") || fail "$what: clr as root: $out"
}

# Check what user 65534 gets from the instance at $mnt, which holds
# loop-control and an unbound loop0; ALLOW_OTHER (yes or no) says
# whether it was mounted with allow_other.  WHAT names the case.
check_nobody ()
{
  local what=$1 allow_other=$2 out st
  # The control case: the path up to the mountpoint is open to them.
  out=$(as_nobody cat "$tmp/sibling") \
    || fail "$what: uid 65534 cannot read $tmp"
  assert_eq "$what: a file next to the mount" visible "$out"

  if [ "$allow_other" = yes ]; then
    out=$(as_nobody ls -A "$mnt") || fail "$what: ls as uid 65534: $out"
    assert_eq "$what: ls as uid 65534" "loop-control loop0" \
      "$(tr '\n' ' ' <<<"$out" | sed 's/ $//')"
    st=$(as_nobody stat -c '%a %u:%g' "$mnt/loop-control" "$mnt/loop0") \
      || fail "$what: stat as uid 65534: $st"
    assert_eq "$what: modes and owners seen by uid 65534" \
      "600 0:0 600 0:0" "$(tr '\n' ' ' <<<"$st" | sed 's/ $//')"
  else
    expect_denied ls -A "$mnt"
    expect_denied stat "$mnt/loop-control"
  fi
  expect_errno EACCES as_nobody "$LOOP_HELPER" get-free "$mnt/loop-control"
  expect_errno EACCES as_nobody "$LOOP_HELPER" add "$mnt/loop-control" 3
  expect_errno EACCES as_nobody "$LOOP_HELPER" status "$mnt/loop0"
  expect_errno EACCES as_nobody "$LOOP_HELPER" set-fd "$mnt/loop0" \
    "$tmp/sibling" ro
  expect_denied dd if="$mnt/loop0" of=/dev/null bs=4k count=1 status=none
  expect_denied dd if=/dev/zero of="$mnt/loop0" bs=4k count=1 status=none \
    conv=notrunc
  [ ! -e "$mnt/loop3" ] || fail "$what: uid 65534 added loop3"

  # Descriptors opened by root and passed on.
  out=$("$LOOP_HELPER" set-fd "$mnt/loop0" "$tmp/disk.img" rw) \
    || fail "$what: set-fd as root: $out"
  as_nobody dd bs=4096 count=1 status=none < "$mnt/loop0" > "$tmp/read" \
    || fail "$what: uid 65534 cannot read a loop0 descriptor root opened"
  cmp -s -n 4096 "$tmp/read" "$tmp/disk.img" \
    || fail "$what: uid 65534 read wrong data through a passed descriptor"
  if [ "$allow_other" = yes ]; then
    out=$(nobody_get_free_fd3 3<>"$mnt/loop-control") \
      || fail "$what: GET_FREE on a passed descriptor: $out"
    assert_eq "$what: GET_FREE on a passed descriptor" 1 "$out"
    out=$("$LOOP_HELPER" remove "$mnt/loop-control" 1) || fail "remove: $out"
  else
    expect_errno EACCES nobody_get_free_fd3 3<>"$mnt/loop-control"
  fi
  out=$("$LOOP_HELPER" clr "$mnt/loop0") || fail "$what: clr as root: $out"
}

# --- Default: only the mounter gets in -------------------------------------
start_loopfsd_log "$tmp/loopfsd.log" "$mnt"
assert_eq "owner and mode of the root" "755 0:0" "$(stat -c '%a %u:%g' "$mnt")"
n=$("$LOOP_HELPER" get-free "$mnt/loop-control") || fail "get-free: $n"
assert_eq "owner and mode of loop0" "600 0:0" \
  "$(stat -c '%a %u:%g' "$mnt/loop0")"
check_nobody "default" no
check_root_uses "default"
umount "$mnt"
wait_gone "$LOOPFSD_PID" || fail "loopfsd did not exit after umount"

# --- allow_other: the modes decide -----------------------------------------
start_loopfsd_log "$tmp/loopfsd-allow-other.log" "$mnt" -o allow_other
grep -F " $mnt " /proc/self/mountinfo | grep -q allow_other \
  || fail "allow_other is not in the mount options"
n=$("$LOOP_HELPER" get-free "$mnt/loop-control") || fail "get-free: $n"
check_nobody "allow_other" yes
check_root_uses "allow_other"

echo "PASS"
