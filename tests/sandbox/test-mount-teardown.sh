#!/bin/bash
# loopfsctl exec ends the mounts it took over however COMMAND ends:
# normal exit, non-zero exit and SIGKILL of COMMAND unmount cleanly
# (the data COMMAND wrote, never synced, is in the image and the
# filesystem is clean); after SIGKILL of loopfsctl nothing is left
# either.  In every case no FUSE driver, no mount in any namespace and
# no loopfsd of the sandbox remain.
set -euo pipefail
# shellcheck source=../functions.sh
source "$(dirname "$0")/../functions.sh"
# shellcheck source=../integration/leftovers.sh
source "$(dirname "$0")/../integration/leftovers.sh"
# (The sandbox's own instance mount goes with its loopfsd and its mount
# namespace, checked by the processes; other sandboxes on the machine
# may have one at the same path.)

requires_root
isolate_mounts "$@"
for tool in mount fuse2fs debugfs; do
  requires command -v "$tool"
done

tmp=$(make_tmpdir)
img=$tmp/ext.img
mkdir "$tmp/m"
head -c 3M /dev/urandom > "$tmp/data"
data_sum=$(sha256sum < "$tmp/data")

# Start loopfsctl exec with a COMMAND that mounts a fresh ext4 image,
# writes $tmp/data into it, says it is ready and waits for $tmp/go;
# it then exits with status EXIT.  Sets PID (loopfsctl), DRIVER
# (fuse2fs), DAEMON (loopfsd) and CMD.
start_sandbox ()
{
  local exit=$1 i
  rm -f "$tmp/ready" "$tmp/go" "$img"
  truncate -s 64M "$img"
  mkfs.ext4 -q -F "$img"
  "$LOOPFSCTL" exec -- bash -c '
    mount -o loop "$1" "$2/m" || exit 99
    cp "$2/data" "$2/m/data" || exit 98
    touch "$2/ready"
    while [ ! -e "$2/go" ]; do sleep 0.02; done
    exit "$3"' cmd "$img" "$tmp" "$exit" 2>"$tmp/log" &
  PID=$!
  cleanup_fn kill -KILL "$PID"
  for ((i = 0; i < 1000; i++)); do
    [ -e "$tmp/ready" ] && break
    sleep 0.02
  done
  [ -e "$tmp/ready" ] || fail "the sandbox did not start: $(cat "$tmp/log")"
  # loopfsctl's short-lived helpers (forked, not executed) are named
  # loopfsctl too: the init is the one with COMMAND under it.
  for ((i = 0; i < 100; i++)); do
    DRIVER=$(children_named "$PID" fuse2fs)
    DAEMON=$(children_named "$PID" loopfsd)
    CMD=
    for INIT in $(children_named "$PID" loopfsctl); do
      CMD=$(children_named "$INIT" bash)
      [ -n "$CMD" ] && break
    done
    [ -n "$DRIVER" ] && [ -n "$DAEMON" ] && [ -n "$CMD" ] && break
    sleep 0.02
  done
  [ -n "$DRIVER" ] || fail "no fuse2fs under $PID"
  [ -n "$DAEMON" ] || fail "no loopfsd under $PID"
  [ -n "$CMD" ] || fail "no COMMAND under the init of $PID"
}

# Wait for loopfsctl and check that nothing is left; WANT is its exit
# status; with FLUSHED, the data must be in a clean filesystem.
check_gone ()
{
  local what=$1 want=$2 flushed=$3 rc=0
  wait "$PID" || rc=$?
  assert_eq "$what: exit status" "$want" "$rc"
  wait_all_gone 10000 "$DRIVER" "$DAEMON" "$CMD" >/dev/null \
    || fail "$what: processes left"
  ! grep -qs " $tmp/m " /proc/[0-9]*/mountinfo \
    || fail "$what: the mount is left somewhere"
  if [ "$flushed" = flushed ]; then
    e2fsck -fn "$img" >"$tmp/fsck" 2>&1 \
      || fail "$what: not clean: $(cat "$tmp/fsck")"
    assert_eq "$what: the data" "$data_sum" \
      "$(debugfs -R "cat /data" "$img" 2>/dev/null | sha256sum)"
  fi
  ! grep -q 'killing it' "$tmp/log" \
    || fail "$what: a driver had to be killed: $(cat "$tmp/log")"
}

start_sandbox 0
touch "$tmp/go"
check_gone "normal exit" 0 flushed

start_sandbox 7
touch "$tmp/go"
check_gone "non-zero exit" 7 flushed

start_sandbox 0
kill -KILL "$CMD"
check_gone "SIGKILL of COMMAND" 137 flushed

start_sandbox 0
kill -KILL "$PID"
check_gone "SIGKILL of loopfsctl" 137 -
