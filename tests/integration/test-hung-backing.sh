#!/bin/bash
# A backing filesystem that stops answering hurts only its own devices:
# with four binds of files on a hung FUSE filesystem (stallfs, standing
# in for a hung NFS or sshfs) waiting, a healthy device of the same
# instance still serves 1 MiB reads (answered off the loop), a new bind
# and LOOP_SET_CAPACITY.  Once the filesystem answers again the waiting
# binds complete.
set -euo pipefail
# shellcheck source=../functions.sh
source "$(dirname "$0")/../functions.sh"
# shellcheck source=stallfs.sh
source "$(dirname "$0")/stallfs.sh"

requires_root
isolate_mounts "$@"

new_instance -
stall=$tmp/stall
mkdir "$stall"
head -c 4M /dev/urandom > "$tmp/stalled.img"
head -c 4M /dev/urandom > "$tmp/healthy.img"
head -c 4M /dev/urandom > "$tmp/healthy2.img"

start_stallfs "$tmp/stalled.img" "$stall"
stallfs_pid=$STALLFS_PID
# Last in, first out: stallfs answers again before the rest is undone.
cleanup_fn kill -USR2 "$stallfs_pid"

# Run loop-helper ARGS... within 10 s, failing the test otherwise.
helper ()
{
  local out
  out=$(timeout -s KILL 10 "$LOOP_HELPER" "$@") || fail "loop-helper $* (hung or failed): $out"
  printf '%s\n' "$out"
}

for n in 0 1 2 3 4 5 6; do
  helper add "$mnt/loop-control" "$n" >/dev/null
done
helper set-fd "$mnt/loop0" "$tmp/healthy.img" rw >/dev/null

kill -USR1 "$stallfs_pid"
waiting=()
for n in 1 2 3 4; do
  timeout -s KILL 60 "$LOOP_HELPER" set-fd "$mnt/loop$n" "$stall/disk.img" rw \
    > "$tmp/bind$n.out" 2>&1 &
  waiting+=($!)
done
# Let every bind reach the hung filesystem.
sleep 1
for pid in "${waiting[@]}"; do
  [ -d "/proc/$pid" ] || fail "a bind on the hung filesystem did not wait"
done

# The healthy device: large reads, a new bind, a resize.
timeout -s KILL 10 "$LOOP_HELPER" pread "$mnt/loop0" 0 1048576 direct \
  > "$tmp/read.out" || fail "1 MiB read of the healthy device hung or failed"
cmp -s "$tmp/read.out" <(head -c 1048576 "$tmp/healthy.img") \
  || fail "1 MiB read of the healthy device returned other data"
helper set-fd "$mnt/loop5" "$tmp/healthy2.img" rw >/dev/null
truncate -s 8M "$tmp/healthy.img"
helper capacity "$mnt/loop0" rw >/dev/null
assert_eq "healthy device size after LOOP_SET_CAPACITY" 8388608 \
  "$(status_field "$mnt/loop0" size)"

# The filesystem answers again: the waiting binds complete.
kill -USR2 "$stallfs_pid"
for pid in "${waiting[@]}"; do
  wait "$pid" || fail "a bind waiting on the hung filesystem failed: $(cat "$tmp"/bind*.out)"
done
assert_eq "a device of the once-hung filesystem" 4194304 \
  "$(status_field "$mnt/loop1" size)"
for n in 0 1 2 3 4 5; do
  helper clr "$mnt/loop$n" >/dev/null
done
echo "PASS"
