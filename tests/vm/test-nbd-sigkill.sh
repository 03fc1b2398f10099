#!/bin/bash
# Guest test: SIGKILL of loopfsd with a bound device attached to
# /dev/nbdX, while a reader has requests in flight on it, in three ways
# at once:
#
#  - "daemon": loopfsd alone.  Its reaper disconnects the daemon's nbd
#    device while nbdkit still answers, then kills nbdkit.
#  - "nbdkit": loopfsd and its nbdkit.  The reaper disconnects a device
#    whose server is gone.
#  - "cgroup": loopfsd, its reaper and its nbdkit, as a kill of the
#    daemon's whole cgroup does.  Nobody is left to disconnect: requests
#    already sent wait for the request timeout and then the
#    dead-connection timeout, then fail; the device stays configured
#    until the next loopfsd started on the machine disconnects it.
#
# In every case nothing hangs: each reader fails with EIO (or finds the
# device disconnected), new I/O fails or meets a disconnected device,
# and afterwards no task is stuck in D state.  With the reaper alive
# (daemon, nbdkit) the device is disconnected and the reader has ended
# within the dead-connection timeout and a margin, without any restart;
# nbdkit and the reaper are gone.  Another instance's nbd device keeps
# working all along.  The next loopfsd disconnects the "cgroup"
# daemon's device (its owner is gone) and leaves the live instance's
# alone.
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
# With the reaper alive: the dead-connection timeout (5 s) and a margin.
REAPED_DEADLINE=10
KILLED="daemon nbdkit cgroup"
MiB=1048576
size=$((16 * MiB))
tmp=$(make_tmpdir)
mkdir "$tmp/live" "$tmp/next"
for name in live $KILLED; do
  mkdir -p "$tmp/$name"
  head -c $size /dev/urandom > "$tmp/$name.img"
done

# Cleanup: have a loopfsd disconnect what killed daemons left
# connected, as the test itself does when it gets that far.
sweep_stale_devices ()
{
  local pid
  [ -n "$(connected_nbds)" ] || return 0
  mkdir -p "$tmp/sweep"
  "$LOOPFSD" "$tmp/sweep" || return 1
  pid=$(loopfsd_pid "$tmp/sweep")
  umount "$tmp/sweep"
  wait_gone "$pid"
}
cleanup_fn sweep_stale_devices

# The sha256 of FILE.
file_sum ()
{
  sha256sum < "$1" | cut -d' ' -f1
}

# The instance that stays alive, and its device.
start_loopfsd_log "$tmp/live.log" "$tmp/live"
losetup_bind "$tmp/live" /dev/loop0 "$tmp/live.img"
live_nbd=$(nbd_of "$tmp/live/loop0")
live_sum=$(file_sum "$tmp/live.img")

# Start instance NAME (mounted at $tmp/NAME), bind NAME.img and check
# its nbd device.  Sets DAEMON[NAME], NBD[NAME], NBDKITS[NAME],
# REAPER[NAME] and BACKEND[NAME].
declare -A DAEMON NBD NBDKITS REAPER BACKEND READER
start_killed_instance ()
{
  local name=$1 dev
  start_loopfsd_log "$tmp/$name.log" "$tmp/$name"
  DAEMON[$name]=$LOOPFSD_PID
  cleanup_fn remove_daemon_leftovers "$LOOPFSD_PID"
  losetup_bind "$tmp/$name" /dev/loop0 "$tmp/$name.img"
  dev=$(nbd_of "$tmp/$name/loop0")
  NBD[$name]=$dev
  assert_nbd_connected "$name: before SIGKILL" "$dev" $size
  BACKEND[$name]=$(nbd_backend "$dev")
  assert_eq "$name: $dev before SIGKILL" "$(file_sum "$tmp/$name.img")" \
    "$(region_sum "$dev" 0 $size direct)"
  NBDKITS[$name]=$(children_nbdkit "$LOOPFSD_PID" | tr '\n' ' ')
  [ -n "${NBDKITS[$name]}" ] || fail "$name: the instance has no nbdkit"
  REAPER[$name]=$(children_named "$LOOPFSD_PID" loopfsd-reaper)
  [ "$(wc -w <<<"${REAPER[$name]}")" = 1 ] \
    || fail "$name: expected one loopfsd-reaper, found '${REAPER[$name]}'"
  cleanup_fn kill_if_alive "${REAPER[$name]}"
}

# Start a reader on instance NAME's nbd device; sets READER[NAME].  The
# readers start only once every instance is checked: readers spinning
# on two devices while a third is read whole once kept a request of the
# third unanswered past the 30 s request timeout in a loaded TCG guest.
start_reader ()
{
  local name=$1 dev=${NBD[$1]}
  { read_until_error "$dev" "$tmp/$name.reader.err" || now_ms > "$tmp/$name.reader.end"; } &
  READER[$name]=$!
  cleanup_fn kill_if_alive "${READER[$name]}"
}

# After the kill at KILLED_AT: wait up to SECS seconds for the reader of
# instance NAME to end because its device went away (fail if it still
# runs then: hung), then check that new reads and writes fail, or meet a
# disconnected device, without hanging either.
check_io_fails ()
{
  local name=$1 secs=$2 dev=${NBD[$1]} reader=${READER[$1]}
  while process_alive "$reader"; do
    if [ $(($(now_ms) - KILLED_AT)) -ge $((secs * 1000)) ]; then
      fail "$name: the reader of $dev still runs $secs s after SIGKILL" \
        "($(task_state "$reader"))"
    fi
    sleep 0.05
  done
  wait "$reader" 2>/dev/null || true
  echo "$name: the reader in flight on $dev ended" \
    "$(($(cat "$tmp/$name.reader.end") - KILLED_AT)) ms after SIGKILL:" \
    "$(cat "$tmp/$name.reader.err")"
  reader_saw_device_end "$tmp/$name.reader.err" \
    || fail "$name: the reader in flight on $dev: expected EIO, got:" \
         "$(cat "$tmp/$name.reader.err")"

  # New I/O must not hang: it fails with EIO while the device is still
  # connected, or meets a disconnected device (size 0: a read gets no
  # data, a write fails).
  run_with_deadline $DEADLINE sh -c "dd if='$dev' bs=4k count=1 \
    iflag=direct status=none 2>'$tmp/$name.read.err' | wc -c >'$tmp/$name.read.n'"
  echo "$name: a new read of $dev ended after $RUN_MS ms:" \
    "$(cat "$tmp/$name.read.err") ($(cat "$tmp/$name.read.n") bytes)"
  if grep -q "Input/output error" "$tmp/$name.read.err"; then
    :
  elif nbd_disconnected "$dev"; then
    assert_eq "$name: bytes read from disconnected $dev" 0 \
      "$(cat "$tmp/$name.read.n")"
  else
    fail "$name: a new read of connected $dev: expected EIO, got:" \
      "$(cat "$tmp/$name.read.err")"
  fi
  run_with_deadline $DEADLINE sh -c "dd if=/dev/zero of='$dev' bs=4k count=1 \
    oflag=direct conv=notrunc status=none 2>'$tmp/$name.write.err'"
  echo "$name: a new write to $dev failed after $RUN_MS ms:" \
    "$(cat "$tmp/$name.write.err")"
  [ "$RUN_STATUS" -ne 0 ] || fail "$name: a write to $dev succeeded after SIGKILL"
}

# Instance NAME's reaper was alive at the kill: its device must be
# disconnected, and its reaper and nbdkit gone, within REAPED_DEADLINE
# of the kill, with no new loopfsd started.
check_reaped ()
{
  local name=$1 dev=${NBD[$1]} ms
  ms=$(wait_nbd_disconnected_since "$name: the reaper's disconnect" "$dev" \
         "$KILLED_AT" $((REAPED_DEADLINE * 1000)))
  echo "$name: $dev disconnected $ms ms after SIGKILL (no restart)"
  # shellcheck disable=SC2086 # a list of pids
  wait_all_gone 5000 ${NBDKITS[$name]} "${REAPER[$name]}" >/dev/null \
    || fail "$name: nbdkit (${NBDKITS[$name]}) or the reaper" \
         "(${REAPER[$name]}) still running after the disconnect"
  grep -q "reaper: loopfsd died; disconnected $dev" "$tmp/$name.log" \
    || fail "$name: the reaper did not say it disconnected $dev"
}

for name in $KILLED; do
  start_killed_instance "$name"
done
[ "$(printf '%s\n' "$live_nbd" "${NBD[@]}" | sort -u | wc -l)" = 4 ] \
  || fail "the instances share nbd devices: $live_nbd ${NBD[*]}"
for name in $KILLED; do
  start_reader "$name"
done
sleep 1
for name in $KILLED; do
  process_alive "${READER[$name]}" \
    || fail "$name: the reader ended before SIGKILL: $(cat "$tmp/$name.reader.err")"
done

mark=$(kernel_log_mark)
KILLED_AT=$(now_ms)
# shellcheck disable=SC2086 # lists of pids
# kill(1) signals one pid after the other: the "cgroup" instance's
# reaper goes first, or it can see its daemon die and disconnect before
# its own SIGKILL lands.
kill -KILL "${REAPER[cgroup]}" ${NBDKITS[cgroup]} "${DAEMON[cgroup]}" \
  "${DAEMON[daemon]}" \
  "${DAEMON[nbdkit]}" ${NBDKITS[nbdkit]}
for name in $KILLED; do
  wait_gone "${DAEMON[$name]}" || fail "$name: loopfsd ${DAEMON[$name]} survived SIGKILL"
done

# --- With the reaper alive: disconnected at once, readers fail, nothing hangs ----
check_reaped daemon
check_reaped nbdkit
check_io_fails daemon $REAPED_DEADLINE
check_io_fails nbdkit $REAPED_DEADLINE
for name in daemon nbdkit; do
  nbd_disconnected "${NBD[$name]}" \
    || fail "$name: ${NBD[$name]} connected again after the reader ended"
done

# --- Without it: readers in flight fail after the timeouts, nothing hangs --------
check_io_fails cgroup $DEADLINE
assert_nbd_connected "cgroup: the device nobody disconnected" "${NBD[cgroup]}"
wait_no_d_state "after SIGKILL" 10
! dmesg | grep -q "blocked for more than" \
  || fail "the kernel reported hung tasks: $(dmesg | grep -A3 'blocked for more than')"
echo "after SIGKILL: no task in D state; the kernel's nbd messages since:"
dmesg | tail -n +$((mark + 1)) | grep -v -e 'I/O error' -e 'Buffer I/O' || true

# The other instance's device is untouched.
assert_nbd_connected "the live instance's device after SIGKILL" "$live_nbd" $size
assert_eq "the live instance's $live_nbd after SIGKILL" "$live_sum" \
  "$(region_sum "$live_nbd" 0 $size direct)"

# The killed instances' mounts are dead; unmount them.  Then nothing of
# theirs is left but the "cgroup" daemon's device.
for name in $KILLED; do
  umount "$tmp/$name" || fail "$name: umount of the killed instance's mount"
  remove_daemon_leftovers "${DAEMON[$name]}"
  ! is_mounted "$tmp/$name" || fail "$name: $tmp/$name still mounted"
done
# shellcheck disable=SC2086 # a list of pids
wait_all_gone 5000 ${NBDKITS[cgroup]} >/dev/null \
  || fail "cgroup: nbdkit (${NBDKITS[cgroup]}) survived SIGKILL"
assert_eq "connected nbd devices before the next loopfsd" \
  "$(printf '%s\n' "$live_nbd" "${NBD[cgroup]}" | sort)" \
  "$(connected_nbds | sort)"

# --- The next loopfsd disconnects the stale device -------------------------------
start_loopfsd_log "$tmp/next.log" "$tmp/next"
wait_nbd_disconnected "cgroup: after the next loopfsd started (stale ${BACKEND[cgroup]})" \
  "${NBD[cgroup]}"
assert_nbd_connected "the live instance's device after the next loopfsd" \
  "$live_nbd" $size
assert_eq "the live instance's $live_nbd after the next loopfsd" "$live_sum" \
  "$(region_sum "$live_nbd" 0 $size direct)"
assert_eq "user.loopfs.nbd of the live instance" "$live_nbd" \
  "$(nbd_of "$tmp/live/loop0")"

# The next instance binds and attaches as usual.
losetup_bind "$tmp/next" /dev/loop0 "$tmp/daemon.img"
next_nbd=$(nbd_of "$tmp/next/loop0")
assert_nbd_connected "the next instance's device" "$next_nbd" $size
assert_eq "the next instance's $next_nbd" "$(file_sum "$tmp/daemon.img")" \
  "$(region_sum "$next_nbd" 0 $size direct)"
umount "$tmp/next"
umount "$tmp/live"
wait_nbd_disconnected "after umount of the next instance" "$next_nbd"
wait_nbd_disconnected "after umount of the live instance" "$live_nbd"
assert_no_nbd_connected "at the end"
echo "PASS"
