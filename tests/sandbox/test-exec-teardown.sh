#!/bin/bash
# loopfsctl exec leaves nothing behind however COMMAND ends: normal
# exit, non-zero exit (passed through), SIGTERM to loopfsctl (passed on
# to COMMAND), SIGKILL of COMMAND, SIGKILL of loopfsctl.  Afterwards
# loopfsd, its nbdkit, the sandbox's init, COMMAND and COMMAND's
# background child are gone, no mount of the sandbox is left in any
# mount namespace, loopfsd's per-user slots are unlocked, and the host's
# loop devices are as before.
set -euo pipefail
# shellcheck source=../functions.sh
source "$(dirname "$0")/../functions.sh"
# shellcheck source=../integration/leftovers.sh
source "$(dirname "$0")/../integration/leftovers.sh"

requires_root
isolate_mounts "$@"
requires losetup --version

tmp=$(make_tmpdir)
img=$tmp/disk.img
truncate -s 16M "$img"
host_loops=$(ls /sys/block | grep '^loop' || true)

# The pids of the children of PID whose command name is COMM.
children ()
{
  ps -o pid=,comm= --ppid "$1" | awk -v c="$2" '$2 == c { print $1 }'
}

# Start loopfsctl exec with a COMMAND that attaches IMG, leaves a
# background child, says it is ready and waits for $tmp/go; it then
# exits with status EXIT.  Sets PID (loopfsctl) and the pids of
# everything it made: DAEMON, NBDKIT, INIT, CMD, BG.
start_sandbox ()
{
  local exit=$1 i
  rm -f "$tmp/ready" "$tmp/go"
  "$LOOPFSCTL" exec -- bash -c '
    losetup -f "$1" || exit 99
    sleep 1000 &
    touch "$2/ready"
    while [ ! -e "$2/go" ]; do sleep 0.02; done
    exit "$3"' cmd "$img" "$tmp" "$exit" &
  PID=$!
  cleanup_fn kill -KILL "$PID"
  for ((i = 0; i < 500; i++)); do
    [ -e "$tmp/ready" ] && break
    sleep 0.02
  done
  [ -e "$tmp/ready" ] || fail "the sandbox did not start"
  DAEMON=$(children "$PID" loopfsd)
  INIT=$(children "$PID" loopfsctl)
  [ -n "$DAEMON" ] && [ -n "$INIT" ] || fail "no loopfsd or init under $PID"
  NBDKIT=$(children_nbdkit "$DAEMON")
  [ -n "$NBDKIT" ] || fail "no nbdkit under loopfsd $DAEMON"
  CMD=$(children "$INIT" bash)
  BG=$(pgrep -P "$CMD" -xf 'sleep 1000' || true)
  [ -n "$CMD" ] && [ -n "$BG" ] || fail "no COMMAND or background child"
}

# Wait for loopfsctl and check that nothing of the sandbox is left;
# WANT is the exit status loopfsctl must have.
check_gone ()
{
  local what=$1 want=$2 rc=0
  wait "$PID" || rc=$?
  assert_eq "$what: exit status" "$want" "$rc"
  wait_all_gone 10000 "$DAEMON" $NBDKIT "$INIT" "$CMD" "$BG" >/dev/null \
    || fail "$what: processes left"
  [ -z "$(loopfs_mounts_anywhere /dev/loopfs)" ] \
    || fail "$what: instance mount left: $(loopfs_mounts_anywhere /dev/loopfs)"
  ! grep -qs loopfs-sysfs /proc/[0-9]*/mountinfo \
    || fail "$what: sysfs view still mounted somewhere"
  check_daemon_leftovers "$what" "$DAEMON"
  assert_eq "$what: host loop devices" "$host_loops" \
    "$(ls /sys/block | grep '^loop' || true)"
}

start_sandbox 0
touch "$tmp/go"
check_gone "normal exit" 0

start_sandbox 7
touch "$tmp/go"
check_gone "non-zero exit" 7

start_sandbox 0
kill -TERM "$PID"
check_gone "SIGTERM to loopfsctl" 143

start_sandbox 0
kill -KILL "$CMD"
check_gone "SIGKILL of COMMAND" 137

start_sandbox 0
kill -KILL "$PID"
check_gone "SIGKILL of loopfsctl" 137

# Statuses for commands that cannot run, and for a failed set-up.
rc=0; "$LOOPFSCTL" exec -- /nonexistent 2>/dev/null || rc=$?
assert_eq "command not found" 127 "$rc"
rc=0; "$LOOPFSCTL" exec -- "$img" 2>/dev/null || rc=$?
assert_eq "command not executable" 126 "$rc"
rc=0; "$LOOPFSCTL" exec --instance "$tmp" -- true 2>/dev/null || rc=$?
assert_eq "--instance of a non-instance" 125 "$rc"
