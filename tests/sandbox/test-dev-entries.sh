#!/bin/bash
# A /dev entry for every device (issue 13): in loopfsctl exec,
# /dev/loopN exists for any N the instance allows as soon as the call
# that made device N returns (LOOP_CTL_ADD 5936, then open
# /dev/loop5936), and is gone as soon as the call that removed it
# returns (LOOP_CTL_REMOVE, unlink), also for devices made by another
# process of a shared instance.  A sandbox that loopfsd dropped (it was
# stopped) registers again and catches up.  Node watchers that are dead,
# stalled or hostile delay an answer by NODE_WATCH_TIMEOUT_MS at most,
# once, and never stop the instance.  Prints the start-up time of the
# sandbox.
set -euo pipefail
# shellcheck source=../functions.sh
source "$(dirname "$0")/../functions.sh"

requires_root
isolate_mounts "$@"
requires losetup --version

# End process PID if it still runs.
stop_pid ()
{
  kill "$1" 2>/dev/null || true
}

new_instance 16M
ctl=$mnt/loop-control

# A fresh sandbox: no entry before any device exists; each one appears
# with its LOOP_CTL_ADD, whatever the number, and can be opened at once.
out=$("$LOOPFSCTL" exec -- bash -c '
  set -u
  echo "entries at start: $(ls /dev | grep -c "^loop[0-9]" || true)"
  dev=$(losetup -f --show "$1")
  echo "losetup: $dev $([ -b "$dev" ] && echo block)"
  losetup -d "$dev"
  "$LOOP_HELPER" remove /dev/loop-control "${dev#/dev/loop}"
  [ -e "$dev" ] || echo "$dev gone"
  for n in 5936 1048575 3 200000; do
    "$LOOP_HELPER" add /dev/loop-control $n >/dev/null || echo "add $n failed"
    if exec 3<>/dev/loop$n; then
      echo "open loop$n: ok $(stat -L -c "%F %t:%T" /dev/loop$n)"
      exec 3<&-
    fi
  done
  "$LOOP_HELPER" add /dev/loop-control 1048576 || true
  [ -e /dev/loop1048576 ] && echo "entry for a refused number"
  "$LOOP_HELPER" remove /dev/loop-control 5936
  [ -e /dev/loop5936 ] || [ -L /dev/loop5936 ] || echo "loop5936 gone"
  rm /dev/loopfs/loop3
  [ -e /dev/loop3 ] || echo "loop3 gone after unlink"
  # 200 devices added and removed one after another: each entry is
  # there when its call returns and gone when its removal returns.
  bad=0
  for ((n = 1000; n < 1200; n++)); do
    "$LOOP_HELPER" add /dev/loop-control $n >/dev/null || echo "add $n failed"
    [ -b /dev/loop$n ] || bad=$((bad + 1))
  done
  for ((n = 1000; n < 1200; n++)); do
    "$LOOP_HELPER" remove /dev/loop-control $n >/dev/null || echo "remove $n failed"
    [ -b /dev/loop$n ] && bad=$((bad + 1))
  done
  echo "missed entries: $bad"
  ls /dev | grep "^loop[0-9]" | tr "\n" " "; echo
' sandbox "$img" 2>&1) || fail "sandbox: $out"
echo "$out"
grep -qx 'entries at start: 0' <<<"$out" || fail "entries at start: $out"
for n in 5936 1048575 3 200000; do
  grep -qx "open loop$n: ok block special file $(printf '7:%x' "$n")" \
    <<<"$out" || fail "loop$n: $out"
done
grep -qx EINVAL <<<"$out" || fail "LOOP_CTL_ADD 1048576: $out"
! grep -q 'failed\|refused number' <<<"$out" || fail "$out"
grep -qx 'loop5936 gone' <<<"$out" || fail "LOOP_CTL_REMOVE: $out"
grep -qx 'loop3 gone after unlink' <<<"$out" || fail "unlink: $out"
grep -qx 'losetup: /dev/loop0 block' <<<"$out" || fail "losetup: $out"
grep -qx '/dev/loop0 gone' <<<"$out" || fail "losetup: $out"
grep -qx 'missed entries: 0' <<<"$out" || fail "200 devices: $out"
grep -qx 'loop1048575 loop200000 ' <<<"$out" || fail "final entries: $out"

# A shared instance: devices that exist before the sandbox starts have
# entries, and one another process makes while it runs has its entry
# when that process's LOOP_CTL_ADD has returned.
"$LOOP_HELPER" add "$ctl" 4 >/dev/null
fifo=$tmp/fifo
mkfifo "$fifo.ready" "$fifo.go"
"$LOOPFSCTL" exec --instance "$mnt" -- bash -c '
  ls /dev | grep "^loop[0-9]" | tr "\n" " "; echo
  echo ready > "$1.ready"; read -r _ < "$1.go"
  [ -b /dev/loop77 ] && echo "loop77 there"
  echo ready > "$1.ready"; read -r _ < "$1.go"
  [ -b /dev/loop77 ] || echo "loop77 gone"
' shared "$fifo" > "$tmp/shared.out" 2>&1 &
shared=$!
cleanup_fn stop_pid "$shared"
read -r _ < "$fifo.ready"
"$LOOP_HELPER" add "$ctl" 77 >/dev/null
echo go > "$fifo.go"
read -r _ < "$fifo.ready"
"$LOOP_HELPER" remove "$ctl" 77 >/dev/null
echo go > "$fifo.go"
wait "$shared" || fail "shared sandbox: $(cat "$tmp/shared.out")"
cat "$tmp/shared.out"
grep -qx 'loop4 ' "$tmp/shared.out" || fail "existing devices: $(cat "$tmp/shared.out")"
grep -qx 'loop77 there' "$tmp/shared.out" || fail "made outside: $(cat "$tmp/shared.out")"
grep -qx 'loop77 gone' "$tmp/shared.out" || fail "removed outside: $(cat "$tmp/shared.out")"
"$LOOP_HELPER" remove "$ctl" 4 >/dev/null

# loopfsctl's own watcher dropped (loopfsctl stopped for longer than
# loopfsd waits): once it runs again it registers again and catches up,
# also with what happened while it was not registered.
mkfifo "$fifo.ready2" "$fifo.go2"
"$LOOPFSCTL" exec --instance "$mnt" -- bash -c '
  echo ready > "$1.ready2"; read -r _ < "$1.go2"
  for i in $(seq 50); do
    [ -b /dev/loop43 ] && [ ! -e /dev/loop42 ] && break
    sleep 0.1
  done
  [ -b /dev/loop43 ] && echo "loop43 there"
  [ -e /dev/loop42 ] || echo "loop42 gone"
' dropped "$fifo" > "$tmp/dropped.out" 2>&1 &
dropped=$!
cleanup_fn stop_pid "$dropped"
read -r _ < "$fifo.ready2"
kill -STOP "$dropped"
cleanup_fn kill -CONT "$dropped"
start=$(date +%s%N)
"$LOOP_HELPER" add "$ctl" 42 >/dev/null
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "LOOP_CTL_ADD with the sandbox stopped: $ms ms"
[ "$ms" -ge 1800 ] || fail "LOOP_CTL_ADD did not wait for the stopped sandbox ($ms ms)"
"$LOOP_HELPER" add "$ctl" 43 >/dev/null
"$LOOP_HELPER" remove "$ctl" 42 >/dev/null
kill -CONT "$dropped"
echo go > "$fifo.go2"
wait "$dropped" || fail "sandbox after being dropped: $(cat "$tmp/dropped.out")"
cat "$tmp/dropped.out"
grep -qx 'loop43 there' "$tmp/dropped.out" \
  || fail "no entry for a device made while dropped: $(cat "$tmp/dropped.out")"
grep -qx 'loop42 gone' "$tmp/dropped.out" \
  || fail "an entry left for a device removed while dropped: $(cat "$tmp/dropped.out")"
grep -q 'registered again' "$tmp/dropped.out" \
  || fail "loopfsctl did not say it registered again: $(cat "$tmp/dropped.out")"
"$LOOP_HELPER" remove "$ctl" 43 >/dev/null

# Watchers, well-behaved and hostile, on the instance itself.
"$NODE_WATCHER" "$ctl" follow > "$tmp/follow.out" &
follower=$!
cleanup_fn stop_pid "$follower"
for i in $(seq 50); do
  grep -q registered "$tmp/follow.out" && break
  sleep 0.1
done
"$LOOP_HELPER" add "$ctl" 9 >/dev/null
"$LOOP_HELPER" remove "$ctl" 9 >/dev/null
kill "$follower"; wait "$follower" 2>/dev/null || true
grep -Eq '^[0-9]+ add loop9$' "$tmp/follow.out" || fail "follow: $(cat "$tmp/follow.out")"
grep -Eq '^[0-9]+ remove loop9$' "$tmp/follow.out" || fail "follow: $(cat "$tmp/follow.out")"

for kind in file stream closed; do
  want=EINVAL; [ $kind = closed ] && want=EBADF
  expect_errno $want "$NODE_WATCHER" "$ctl" bad $kind
done

# A watcher that hung up costs nothing.
"$NODE_WATCHER" "$ctl" hang-up
start=$(date +%s%N)
"$LOOP_HELPER" add "$ctl" 10 >/dev/null
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "LOOP_CTL_ADD with a watcher that hung up: $ms ms"
[ "$ms" -lt 1500 ] || fail "a dead watcher delayed LOOP_CTL_ADD by $ms ms"

# A stalled watcher delays one answer by the bound (2 s), while the
# instance keeps answering everything else; then it is dropped.
"$NODE_WATCHER" "$ctl" stall > "$tmp/stall.out" &
staller=$!
cleanup_fn stop_pid "$staller"
for i in $(seq 50); do
  grep -q registered "$tmp/stall.out" && break
  sleep 0.1
done
start=$(date +%s%N)
"$LOOP_HELPER" add "$ctl" 11 > "$tmp/add11.out" &
adder=$!
sleep 0.3
[ -d "/proc/$adder" ] || fail "LOOP_CTL_ADD did not wait for the watcher"
ls "$mnt" >/dev/null || fail "instance unusable during a stall"
"$LOOP_HELPER" xattr "$mnt/loop10" user.loopfs.status >/dev/null \
  || fail "status during a stall"
wait "$adder" || fail "LOOP_CTL_ADD with a stalled watcher: $(cat "$tmp/add11.out")"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "LOOP_CTL_ADD with a stalled watcher: $ms ms"
[ "$ms" -ge 1800 ] || fail "the answer did not wait for the bound ($ms ms)"
[ "$ms" -lt 10000 ] || fail "the answer waited $ms ms"
start=$(date +%s%N)
"$LOOP_HELPER" add "$ctl" 12 >/dev/null
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "next LOOP_CTL_ADD: $ms ms"
[ "$ms" -lt 1500 ] || fail "the stalled watcher was not dropped ($ms ms)"
kill "$staller"
grep -q 'node watcher(s) dropped: no answer' "$tmp/loopfsd.log" \
  || fail "no message in the log"

# At most NODE_WATCH_MAX watchers; the places of those that hung up are
# free again.
"$NODE_WATCHER" "$ctl" fill > "$tmp/fill.out" &
filler=$!
cleanup_fn stop_pid "$filler"
for i in $(seq 50); do
  [ -s "$tmp/fill.out" ] && break
  sleep 0.1
done
assert_eq "watchers taken" "64 ENOSPC" "$(cat "$tmp/fill.out")"
kill "$filler"; wait "$filler" 2>/dev/null || true
"$NODE_WATCHER" "$ctl" hang-up || fail "a watcher after the others hung up"
for n in 10 11 12; do "$LOOP_HELPER" remove "$ctl" $n >/dev/null; done

# Start-up cost: no /dev/loopN is made ahead any more (before: 255, one
# per number the per-user limit allowed).
start=$(date +%s%N)
for i in $(seq 20); do "$LOOPFSCTL" exec -- true; done
echo "start-up: $(( ($(date +%s%N) - start) / 20000 )) us per loopfsctl exec -- true (mean of 20)"
