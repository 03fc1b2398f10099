#!/bin/bash
# Guest test: SIGKILL of loopfsd with a bound device attached to
# /dev/nbdX, while a reader has requests in flight on it, in two ways
# at once: the daemon alone (its nbdkit must follow it), and the daemon
# together with its nbdkit (as a kill of its whole cgroup does), where
# the kernel sees the server vanish and requests already sent wait for
# the request timeout and then the dead-connection timeout.  Nothing
# hangs: each reader fails with EIO within a minute, new I/O fails with
# EIO too, and afterwards no task is stuck in D state.  Another
# instance's nbd device keeps working all along.  The next loopfsd
# started on the machine disconnects the dead daemons' devices (their
# owners are gone) and leaves the live instance's alone.
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
mkdir "$tmp/live" "$tmp/daemon" "$tmp/cgroup" "$tmp/next"
for name in live daemon cgroup; do
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

# Start instance NAME (mounted at $tmp/NAME), bind NAME.img, check its
# nbd device and start a reader on it.  Sets DAEMON[NAME], NBD[NAME],
# NBDKITS[NAME], BACKEND[NAME] and READER[NAME].
declare -A DAEMON NBD NBDKITS BACKEND READER
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
  read_until_error "$dev" "$tmp/$name.reader.err" &
  READER[$name]=$!
  cleanup_fn kill_if_alive "${READER[$name]}"
}

# After the kill at KILLED_AT: wait for the reader of instance NAME to
# fail with EIO (fail if it still runs at the deadline: hung), then
# check that new reads and writes fail with EIO too.
check_io_fails ()
{
  local name=$1 dev=${NBD[$1]} reader=${READER[$1]}
  while process_alive "$reader"; do
    if [ $(($(now_ms) - KILLED_AT)) -ge $((DEADLINE * 1000)) ]; then
      fail "$name: the reader of $dev still runs $DEADLINE s after SIGKILL" \
        "($(task_state "$reader"))"
    fi
    sleep 0.1
  done
  wait "$reader" 2>/dev/null || true
  echo "$name: the reader in flight on $dev ended $(($(now_ms) - KILLED_AT)) ms" \
    "after SIGKILL: $(cat "$tmp/$name.reader.err")"
  grep -q "Input/output error" "$tmp/$name.reader.err" \
    || fail "$name: the reader in flight on $dev: expected EIO, got:" \
         "$(cat "$tmp/$name.reader.err")"

  # New I/O must not hang: it fails with EIO while the device is still
  # connected, or meets a device the killed daemon's reaper has since
  # disconnected (size 0: a read gets no data, a write fails).
  run_with_deadline $DEADLINE sh -c "dd if='$dev' bs=4k count=1 \
    iflag=direct status=none 2>'$tmp/$name.read.err' | wc -c >'$tmp/$name.read.n'"
  echo "$name: a new read of $dev ended after $RUN_MS ms:" \
    "$(cat "$tmp/$name.read.err") ($(cat "$tmp/$name.read.n") bytes)"
  if grep -q "Input/output error" "$tmp/$name.read.err"; then
    :
  elif [ ! -e "/sys/block/${dev#/dev/}/backend" ]; then
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

# "daemon": loopfsd alone is killed.  "cgroup": loopfsd and its nbdkit.
start_killed_instance daemon
start_killed_instance cgroup
[ "$(printf '%s\n' "$live_nbd" "${NBD[daemon]}" "${NBD[cgroup]}" | sort -u | wc -l)" = 3 ] \
  || fail "the instances share nbd devices: $live_nbd ${NBD[daemon]} ${NBD[cgroup]}"
sleep 1
for name in daemon cgroup; do
  process_alive "${READER[$name]}" \
    || fail "$name: the reader ended before SIGKILL: $(cat "$tmp/$name.reader.err")"
done

mark=$(kernel_log_mark)
KILLED_AT=$(now_ms)
# shellcheck disable=SC2086 # lists of pids
kill -KILL "${DAEMON[daemon]}" "${DAEMON[cgroup]}" ${NBDKITS[cgroup]}
for name in daemon cgroup; do
  wait_gone "${DAEMON[$name]}" || fail "$name: loopfsd ${DAEMON[$name]} survived SIGKILL"
done
# nbdkit must not outlive the daemon (its parent-death signal), also
# with the kernel as its client.  Checked here, failed at the end, so
# that the rest is tested either way.
lingering=
# shellcheck disable=SC2086 # a list of pids
if ! wait_all_gone 5000 ${NBDKITS[daemon]} >/dev/null; then
  lingering="nbdkit (${NBDKITS[daemon]}) still running 5 s after SIGKILL of loopfsd"
  for pid in ${NBDKITS[daemon]}; do
    lingering="$lingering; $pid: $(task_state "$pid")"
  done
  echo "FAIL (reported at the end): $lingering" >&2
fi

# --- Readers in flight fail, new I/O fails, nothing hangs ------------------------
check_io_fails daemon
check_io_fails cgroup
wait_no_d_state "after SIGKILL" 10
! dmesg | grep -q "blocked for more than" \
  || fail "the kernel reported hung tasks: $(dmesg | grep -A3 'blocked for more than')"
echo "after SIGKILL: no task in D state; the kernel's nbd messages since:"
dmesg | tail -n +$((mark + 1)) | grep -v -e 'I/O error' -e 'Buffer I/O' || true

# The other instance's device is untouched.
assert_nbd_connected "the live instance's device after SIGKILL" "$live_nbd" $size
assert_eq "the live instance's $live_nbd after SIGKILL" "$live_sum" \
  "$(region_sum "$live_nbd" 0 $size direct)"

# The killed instances' mounts are dead; unmount them.
for name in daemon cgroup; do
  umount "$tmp/$name" || fail "$name: umount of the killed instance's mount"
  remove_daemon_leftovers "${DAEMON[$name]}"
done

# --- The stale devices get disconnected: by the killed daemon's reaper after
# --- the dead-connection timeout, or else by the next loopfsd ----------------------
start_loopfsd_log "$tmp/next.log" "$tmp/next"
for name in daemon cgroup; do
  wait_nbd_disconnected "$name: after the next loopfsd started (stale ${BACKEND[$name]})" \
    "${NBD[$name]}"
done
# shellcheck disable=SC2086 # a list of pids
wait_all_gone 5000 ${NBDKITS[daemon]} >/dev/null \
  || fail "nbdkit (${NBDKITS[daemon]}) of the killed loopfsd still running after" \
       "the next loopfsd disconnected its device"
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
[ -z "$lingering" ] || fail "$lingering"
echo "PASS"
