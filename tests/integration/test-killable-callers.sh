#!/bin/bash
# No caller of an instance can be left unkillable by a daemon that does
# not answer:
# - a process holding a node open is killed at once while the daemon is
#   stopped (close(2) does not wait for a FLUSH the daemon would answer);
# - a cycle of devices through another FUSE filesystem (stallfs hands
#   down no extended attribute, so loopfsd cannot see the cycle, as the
#   kernel cannot see one through FUSE) hangs its reader, which can
#   still be killed, and SIGKILL of loopfsd ends everything: no loopfsd,
#   nbdkit or task in D state is left, and the other filesystems answer
#   again.
set -euo pipefail
# shellcheck source=../functions.sh
source "$(dirname "$0")/../functions.sh"
# shellcheck source=stallfs.sh
source "$(dirname "$0")/stallfs.sh"

requires_root
isolate_mounts "$@"

new_instance -
mkdir "$tmp/s1" "$tmp/s2"
head -c 1M /dev/urandom > "$tmp/a.img"
daemon=$LOOPFSD_PID
# Last in, first out: the daemon runs again before anything waits on it.
cleanup_fn kill -CONT "$daemon"

# Run loop-helper ARGS..., failing the test with its output if it fails.
helper ()
{
  local out
  out=$(timeout 20 "$LOOP_HELPER" "$@") || fail "loop-helper $*: $out"
}

# Fail unless process PID is gone within 3 s; WHAT names it.
gone_soon ()
{
  local pid=$1 what=$2 i
  for ((i = 0; i < 30; i++)); do
    [ -d "/proc/$pid" ] || return 0
    [ "$(awk '/^State:/ {print $2}' "/proc/$pid/status" 2>/dev/null)" = Z ] && return 0
    sleep 0.1
  done
  fail "$what is still there 3 s after SIGKILL (state $(awk '/^State:/ {print $2}' "/proc/$pid/status"))"
}

helper add "$mnt/loop-control" 0
helper add "$mnt/loop-control" 1
helper set-fd "$mnt/loop0" "$tmp/a.img" ro
# Any close tells the kernel that this daemon takes no FLUSH.
cmp -s "$mnt/loop0" "$tmp/a.img" || fail "loop0 does not read its image"

# --- A holder of a node dies while the daemon is stopped ---------------------
sleep 1000 3<"$mnt/loop0" &
holder=$!
kill -STOP "$daemon"
kill -KILL "$holder"
gone_soon "$holder" "a process holding loop0 open, killed while loopfsd is stopped"
wait "$holder" 2>/dev/null || true
kill -CONT "$daemon"

# --- A cycle through another FUSE filesystem ---------------------------------
# loop1 <- s1/disk.img (= loop0), then loop0 <- s2/disk.img (= loop1).
start_stallfs "$mnt/loop0" "$tmp/s1"
s1=$STALLFS_PID
helper set-fd "$mnt/loop1" "$tmp/s1/disk.img" ro
start_stallfs "$mnt/loop1" "$tmp/s2"
s2=$STALLFS_PID
helper change-fd "$mnt/loop0" "$tmp/s2/disk.img"

timeout -s KILL 60 dd if="$mnt/loop1" of=/dev/null bs=4096 count=1 \
  iflag=direct 2>/dev/null &
reader=$!
sleep 1
[ -d "/proc/$reader" ] || fail "a read around the cycle did not wait"
reader_pid=$(children_named "$reader" dd)
[ -n "$reader_pid" ] || fail "no reader process"
kill -KILL "$reader_pid"
gone_soon "$reader_pid" "the reader of a device in a cycle"
wait "$reader" 2>/dev/null || true

nbdkits=$(children_nbdkit "$daemon")
[ -n "$nbdkits" ] || fail "no nbdkit serves the devices"
kill -KILL "$daemon"
gone_soon "$daemon" "loopfsd"
for pid in $nbdkits; do
  gone_soon "$pid" "nbdkit $pid of the killed loopfsd"
done
# The other filesystems answer again (their files of the dead instance
# now fail): a stat returns, whatever it says.
for s in s1 s2; do
  rc=0
  timeout -s KILL 10 stat "$tmp/$s/disk.img" >/dev/null 2>&1 || rc=$?
  [ "$rc" -ne 137 ] || fail "stallfs $s still does not answer"
done
for pid in "$s1" "$s2"; do
  state=$(awk '/^State:/ {print $2}' "/proc/$pid/status")
  [ "$state" != D ] || fail "stallfs $pid is in D state"
done
echo "PASS"
