#!/bin/bash
# Teardown with devices bound: after `umount MNT`, and after SIGTERM,
# loopfsd exits, every nbdkit it started is gone and the mount is gone.
# A loopN file still held open across SIGTERM keeps working (the
# unmount is lazy), and the daemon exits only once it is closed.
set -euo pipefail
# shellcheck source=../functions.sh
source "$(dirname "$0")/../functions.sh"

requires_root
isolate_mounts "$@"
requires losetup --version

tmp=$(make_tmpdir)
mnt=$tmp/mnt
mkdir "$mnt"
truncate -s 8M "$tmp/a.img" "$tmp/b.img"
head -c 1M /dev/urandom > "$tmp/pat"
dd if="$tmp/pat" of="$tmp/a.img" conv=notrunc status=none

# Start an instance with log LOG and bind a.img and b.img to it; sets
# NBDKIT_PIDS to the backends' pids, checked against the xattr, and
# LOOP0_NBDKIT to loop0's.
start_bound ()
{
  local log=$1 n out pid
  start_loopfsd_log "$log" "$mnt"
  for n in 0 1; do
    out=$(in_sandbox "$mnt" losetup -f --show "$tmp/$([ $n = 0 ] && echo a || echo b).img") \
      || fail "losetup: $out"
    assert_eq "attached device" "/dev/loop$n" "$out"
  done
  NBDKIT_PIDS=$(children_nbdkit "$LOOPFSD_PID" | sort -n | tr '\n' ' ')
  assert_eq "number of nbdkit children" 2 "$(wc -w <<<"$NBDKIT_PIDS")"
  for n in 0 1; do
    pid=$("$LOOP_HELPER" xattr "$mnt/loop$n" user.loopfs.nbdkit-pid) \
      || fail "xattr of loop$n: $pid"
    grep -qw "$pid" <<<"$NBDKIT_PIDS" \
      || fail "loop$n's nbdkit $pid is not a child of loopfsd ($NBDKIT_PIDS)"
    if [ $n = 0 ]; then LOOP0_NBDKIT=$pid; fi
  done
}

# Is PID a live (not zombie) process?
alive ()
{
  [ -d "/proc/$1" ] && [ "$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null)" != Z ]
}

# After loopfsd exited: no nbdkit of NBDKIT_PIDS and no mount remain.
check_gone ()
{
  local what=$1 pid
  wait_gone "$LOOPFSD_PID" || fail "$what: loopfsd $LOOPFSD_PID did not exit"
  for pid in $NBDKIT_PIDS; do
    ! alive "$pid" || fail "$what: nbdkit $pid outlived loopfsd"
  done
  ! is_mounted "$mnt" || fail "$what: $mnt still mounted"
}

# --- umount ----------------------------------------------------------
start_bound "$tmp/loopfsd-umount.log"
umount "$mnt"
check_gone "after umount"

# --- SIGTERM -------------------------------------------------------------
start_bound "$tmp/loopfsd-term.log"
kill -TERM "$LOOPFSD_PID"
check_gone "after SIGTERM"

# --- SIGTERM while loop0 is held open ----------------------------------------
start_bound "$tmp/loopfsd-held.log"
exec {held}<"$mnt/loop0"
cleanup_fn eval "exec $held<&-"
kill -TERM "$LOOPFSD_PID"
for ((i = 0; i < 50; i++)); do
  is_mounted "$mnt" || break
  sleep 0.1
done
! is_mounted "$mnt" || fail "SIGTERM did not detach the mount"
sleep 1
alive "$LOOPFSD_PID" || fail "loopfsd exited while loop0 was still open"
dd bs=64k count=16 status=none <&$held > "$tmp/read" \
  || fail "reading the held loop0 after SIGTERM failed"
cmp -s "$tmp/read" "$tmp/pat" || fail "the held loop0 read wrong data after SIGTERM"
alive "$LOOP0_NBDKIT" || fail "loop0's nbdkit ended while loop0 was still open"
alive "$LOOPFSD_PID" || fail "loopfsd exited while loop0 was still open"
exec {held}<&-
check_gone "after the holder closed loop0"

echo "PASS"
