#!/bin/bash
# Guest test: two instances, each with its loop0 bound, attach different
# nbd devices.  Each instance's user.loopfs.nbd names its own device,
# whose backend identifier names its own daemon (pid) and loop0, so the
# two identifiers differ; each device serves its own image.  A node of
# the other instance is an ordinary file for a daemon, as a loop device
# is for the kernel: A's loop1 bound on B's loop0 reads B's image, and
# clearing it leaves B's device alone.  Unbinding or unmounting in one
# leaves the other's device connected and working.
#
# Runs inside the VM only:
# tests/vm/run-vm tests/vm/test-nbd-two-instances.sh [BUILDDIR].
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
a=$tmp/a
b=$tmp/b
mkdir "$a" "$b"
head -c $size /dev/urandom > "$tmp/a.img"
head -c $size /dev/urandom > "$tmp/b.img"
head -c 4096 /dev/urandom > "$tmp/pat"

# The sha256 of FILE.
file_sum ()
{
  sha256sum < "$1" | cut -d' ' -f1
}

# Fail unless the backend identifier of DEV names the daemon with pid
# PID and device loopN.  WHAT names the case.
check_identifier ()
{
  local what=$1 dev=$2 pid=$3 loop=$4 id tag pidns owner start instance device
  id=$(nbd_backend "$dev")
  IFS=: read -r tag pidns owner start instance device <<<"$id"
  assert_eq "$what: identifier tag ($id)" loopfs "$tag"
  assert_eq "$what: identifier pid ($id)" "$pid" "$owner"
  assert_eq "$what: identifier device ($id)" "$loop" "$device"
  if [ -z "$pidns" ] || [ -z "$start" ] || [ -z "$instance" ]; then
    fail "$what: identifier $id has empty fields"
  fi
}

start_loopfsd_log "$tmp/a.log" "$a"
pid_a=$LOOPFSD_PID
start_loopfsd_log "$tmp/b.log" "$b"
pid_b=$LOOPFSD_PID

# --- Each instance binds its loop0 ------------------------------------------------
losetup_bind "$a" /dev/loop0 "$tmp/a.img"
losetup_bind "$b" /dev/loop0 "$tmp/b.img"
nbd_a=$(nbd_of "$a/loop0")
nbd_b=$(nbd_of "$b/loop0")
echo "A's loop0 is attached to $nbd_a ($(nbd_backend "$nbd_a"))"
echo "B's loop0 is attached to $nbd_b ($(nbd_backend "$nbd_b"))"
[ "$nbd_a" != "$nbd_b" ] || fail "both instances attached $nbd_a"
assert_nbd_connected "A's device" "$nbd_a" $size
assert_nbd_connected "B's device" "$nbd_b" $size
[ "$(nbd_backend "$nbd_a")" != "$(nbd_backend "$nbd_b")" ] \
  || fail "both devices have the backend identifier $(nbd_backend "$nbd_a")"
check_identifier "A's device" "$nbd_a" "$pid_a" loop0
check_identifier "B's device" "$nbd_b" "$pid_b" loop0
assert_eq "A's $nbd_a" "$(file_sum "$tmp/a.img")" "$(region_sum "$nbd_a" 0 $size direct)"
assert_eq "B's $nbd_b" "$(file_sum "$tmp/b.img")" "$(region_sum "$nbd_b" 0 $size direct)"

# A write through A's device lands in A's image only.
sum_b=$(file_sum "$tmp/b.img")
out=$("$LOOP_HELPER" pwrite "$nbd_a" 0 4096 direct < "$tmp/pat") \
  || fail "pwrite to $nbd_a: $out"
head -c 4096 "$tmp/a.img" | cmp -s - "$tmp/pat" \
  || fail "the write to A's $nbd_a is not in a.img"
assert_eq "b.img after a write to A's device" "$sum_b" "$(file_sum "$tmp/b.img")"
sum_a=$(file_sum "$tmp/a.img")

# --- A device on the other instance's node -------------------------------------------
out=$("$LOOP_HELPER" add "$a/loop-control" 1) || fail "LOOP_CTL_ADD 1 in A: $out"
out=$("$LOOP_HELPER" add "$b/loop-control" 1) || fail "LOOP_CTL_ADD 1 in B: $out"
out=$(timeout 10 "$LOOP_HELPER" set-fd "$a/loop1" "$b/loop0" ro) \
  || fail "A's loop1 on B's loop0: $out"
cmp -s -n 65536 "$a/loop1" "$tmp/b.img" \
  || fail "A's loop1 on B's loop0 does not read b.img"
nbd_x=$(nbd_of "$a/loop1")
assert_eq "$nbd_x (A's loop1 on B's loop0)" "$(head -c 65536 "$tmp/b.img" | sha256sum)" \
  "$(head -c 65536 "$nbd_x" | sha256sum)"
loop_clr "$a/loop1"
wait_nbd_disconnected "A's loop1 after LOOP_CLR_FD" "$nbd_x"
assert_nbd_connected "B's device after A's loop1 let go of it" "$nbd_b" $size
expect_errno ENXIO "$LOOP_HELPER" status "$b/loop1"
assert_no_nbd "$a/loop1"
assert_no_nbd "$b/loop1"
assert_eq "connected nbd devices after A's loop1 was cleared" \
  "$(printf '%s\n' "$nbd_a" "$nbd_b" | sort | tr '\n' ' ')" \
  "$(connected_nbds | sort | tr '\n' ' ')"

# --- Unbinding in A leaves B's device alone ---------------------------------------
loop_clr "$a/loop0"
wait_nbd_disconnected "A's device after LOOP_CLR_FD in A" "$nbd_a"
assert_nbd_connected "B's device after LOOP_CLR_FD in A" "$nbd_b" $size
assert_eq "user.loopfs.nbd of B's loop0" "$nbd_b" "$(nbd_of "$b/loop0")"
assert_eq "B's $nbd_b after LOOP_CLR_FD in A" "$sum_b" \
  "$(region_sum "$nbd_b" 0 $size direct)"

# A binds again: a device other than B's.
losetup_bind "$a" /dev/loop0 "$tmp/a.img"
nbd_a=$(nbd_of "$a/loop0")
[ "$nbd_a" != "$nbd_b" ] || fail "A's new binding attached B's $nbd_b"
assert_nbd_connected "A's device bound again" "$nbd_a" $size
check_identifier "A's device bound again" "$nbd_a" "$pid_a" loop0
assert_eq "A's $nbd_a bound again" "$sum_a" "$(region_sum "$nbd_a" 0 $size direct)"

# --- Unmounting A leaves B's device alone ---------------------------------------------
umount "$a"
wait_gone "$pid_a" || fail "loopfsd A ($pid_a) did not exit after umount"
wait_nbd_disconnected "A's device after umount of A" "$nbd_a"
assert_nbd_connected "B's device after umount of A" "$nbd_b" $size
assert_eq "B's $nbd_b after umount of A" "$sum_b" \
  "$(region_sum "$nbd_b" 0 $size direct)"

umount "$b"
wait_gone "$pid_b" || fail "loopfsd B ($pid_b) did not exit after umount"
wait_nbd_disconnected "B's device after umount of B" "$nbd_b"
assert_no_nbd_connected "at the end"
echo "PASS"
