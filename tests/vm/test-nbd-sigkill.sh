#!/bin/bash
# Guest test: SIGKILL of loopfsd with a bound device attached to
# /dev/nbdX, while a reader has requests in flight on it.  Nothing
# hangs: the reader fails with EIO within the kernel's timeouts (request
# timeout plus dead-connection timeout), new I/O fails with EIO too, and
# afterwards no task is stuck in D state.  Another instance's nbd device
# keeps working all along.  The next loopfsd started on the machine
# disconnects the dead daemon's device (its owner is gone) and leaves
# the live instance's alone.
#
# Runs inside the VM only: tests/vm/run-vm tests/vm/test-nbd-sigkill.sh
# [BUILDDIR].
set -euo pipefail
# shellcheck source=../functions.sh
source "$(dirname "$0")/../functions.sh"
# shellcheck source=../integration/leftovers.sh
source "$(dirname "$0")/../integration/leftovers.sh"
# shellcheck source=nbd-functions.sh
source "$(dirname "$0")/nbd-functions.sh"

nbd_test_setup "$@"

# Requests already sent wait for the request timeout (30 s) and then
# for the dead-connection timeout (5 s); a minute means hung.
DEADLINE=60
MiB=1048576
size=$((16 * MiB))
tmp=$(make_tmpdir)
mkdir "$tmp/live" "$tmp/killed" "$tmp/next"
head -c $size /dev/urandom > "$tmp/live.img"
head -c $size /dev/urandom > "$tmp/killed.img"

# The instance that stays alive, and its device.
start_loopfsd_log "$tmp/live.log" "$tmp/live"
losetup_bind "$tmp/live" /dev/loop0 "$tmp/live.img"
live_nbd=$(nbd_of "$tmp/live/loop0")
live_sum=$(sha256sum < "$tmp/live.img" | cut -d' ' -f1)

# The instance that is killed, and its device.
start_loopfsd_log "$tmp/killed.log" "$tmp/killed"
daemon=$LOOPFSD_PID
cleanup_fn remove_daemon_leftovers "$daemon"
losetup_bind "$tmp/killed" /dev/loop0 "$tmp/killed.img"
nbd=$(nbd_of "$tmp/killed/loop0")
[ "$nbd" != "$live_nbd" ] || fail "both instances attached $nbd"
assert_nbd_connected "before SIGKILL" "$nbd" $size
backend=$(nbd_backend "$nbd")
assert_eq "$nbd before SIGKILL" "$(sha256sum < "$tmp/killed.img" | cut -d' ' -f1)" \
  "$(region_sum "$nbd" 0 $size direct)"
nbdkits=$(children_nbdkit "$daemon" | tr '\n' ' ')
[ -n "$nbdkits" ] || fail "the killed instance has no nbdkit"

# Read the device over and over (O_DIRECT, so every read reaches the
# kernel's nbd queue) until a read fails; the error goes to FILE.
read_until_error ()
{
  local dev=$1 file=$2
  while dd if="$dev" of=/dev/null bs=64k iflag=direct status=none 2>"$file"; do
    :
  done
  return 1
}

read_until_error "$nbd" "$tmp/reader.err" &
reader=$!
cleanup_fn kill_if_alive "$reader"
sleep 1
process_alive "$reader" || fail "the reader ended before SIGKILL: $(cat "$tmp/reader.err")"

killed_at=$(now_ms)
kill -KILL "$daemon"
wait_gone "$daemon" || fail "loopfsd $daemon survived SIGKILL"
wait_all_gone 5000 $nbdkits >/dev/null \
  || fail "nbdkit ($nbdkits) still running 5 s after SIGKILL of loopfsd"

# --- The reader in flight fails, and does not hang ---------------------------------
while process_alive "$reader"; do
  if [ $(($(now_ms) - killed_at)) -ge $((DEADLINE * 1000)) ]; then
    fail "the reader of $nbd still runs $DEADLINE s after SIGKILL" \
      "($(task_state "$reader"))"
  fi
  sleep 0.1
done
wait "$reader" 2>/dev/null || true
echo "the reader in flight ended $(($(now_ms) - killed_at)) ms after SIGKILL:" \
  "$(cat "$tmp/reader.err")"
grep -q "Input/output error" "$tmp/reader.err" \
  || fail "the reader in flight: expected EIO, got: $(cat "$tmp/reader.err")"

# --- New I/O fails with EIO --------------------------------------------------------
run_with_deadline $DEADLINE sh -c \
  "dd if='$nbd' of=/dev/null bs=4k count=1 iflag=direct status=none 2>'$tmp/read.err'"
echo "a new read of $nbd failed after $RUN_MS ms: $(cat "$tmp/read.err")"
[ "$RUN_STATUS" -ne 0 ] || fail "a read of $nbd succeeded after SIGKILL"
grep -q "Input/output error" "$tmp/read.err" \
  || fail "a new read of $nbd: expected EIO, got: $(cat "$tmp/read.err")"
run_with_deadline $DEADLINE sh -c \
  "dd if=/dev/zero of='$nbd' bs=4k count=1 oflag=direct conv=notrunc status=none 2>'$tmp/write.err'"
echo "a new write to $nbd failed after $RUN_MS ms: $(cat "$tmp/write.err")"
[ "$RUN_STATUS" -ne 0 ] || fail "a write to $nbd succeeded after SIGKILL"
grep -q "Input/output error" "$tmp/write.err" \
  || fail "a new write to $nbd: expected EIO, got: $(cat "$tmp/write.err")"

wait_no_d_state "after SIGKILL" 10
! dmesg | grep -q "blocked for more than" \
  || fail "the kernel reported hung tasks: $(dmesg | grep -A3 'blocked for more than')"
echo "after SIGKILL: no task in D state; $nbd backend now '$(nbd_backend "$nbd")'"

# The other instance's device is untouched.
assert_nbd_connected "the live instance's device after SIGKILL" "$live_nbd" $size
assert_eq "the live instance's $live_nbd after SIGKILL" "$live_sum" \
  "$(region_sum "$live_nbd" 0 $size direct)"

# The killed instance's mount is dead; unmount it.
umount "$tmp/killed" || fail "umount of the killed instance's mount"
remove_daemon_leftovers "$daemon"

# --- The next loopfsd disconnects the stale device ---------------------------------
start_loopfsd_log "$tmp/next.log" "$tmp/next"
wait_nbd_disconnected "after the next loopfsd started (stale $backend)" "$nbd"
assert_nbd_connected "the live instance's device after the next loopfsd" \
  "$live_nbd" $size
assert_eq "the live instance's $live_nbd after the next loopfsd" "$live_sum" \
  "$(region_sum "$live_nbd" 0 $size direct)"
assert_eq "user.loopfs.nbd of the live instance" "$live_nbd" \
  "$(nbd_of "$tmp/live/loop0")"

# The next instance binds and attaches as usual.
losetup_bind "$tmp/next" /dev/loop0 "$tmp/killed.img"
next_nbd=$(nbd_of "$tmp/next/loop0")
assert_nbd_connected "the next instance's device" "$next_nbd" $size
assert_eq "the next instance's $next_nbd" \
  "$(sha256sum < "$tmp/killed.img" | cut -d' ' -f1)" \
  "$(region_sum "$next_nbd" 0 $size direct)"
umount "$tmp/next"
umount "$tmp/live"
wait_nbd_disconnected "after umount of the next instance" "$next_nbd"
wait_nbd_disconnected "after umount of the live instance" "$live_nbd"
assert_no_nbd_connected "at the end"
echo "PASS"
