#!/bin/bash
# The instance ends with the mount namespace that holds its only mount,
# and with an aborted FUSE connection:
#
# 1. loopfsd mounts in the test's namespace; a private namespace made by
#    `unshare -m --propagation private` copies the mount and holds loop1
#    open; the test unmounts its own copy, so the namespace's copy is the
#    only one and keeps the daemon serving.  When the namespace's only
#    process ends, the namespace and its mount go, the daemon sees its
#    FUSE connection end, stops every nbdkit and exits within 1 s, and
#    no mount of the instance is left in any namespace.
# 2. `loopfsd -f` is the namespace's process tree (unshare execs it):
#    killing it ends the namespace; its nbdkit, the namespace and the
#    mount are gone within 1 s.
# 3. `echo 1 > /sys/fs/fuse/connections/N/abort` with devices bound and
#    one held open: the daemon stops every nbdkit and exits within 1 s;
#    the mount that stays is dead (ENOTCONN) and is unmounted lazily.
set -euo pipefail
# shellcheck source=../functions.sh
source "$(dirname "$0")/../functions.sh"
# shellcheck source=leftovers.sh
source "$(dirname "$0")/leftovers.sh"

requires_root
isolate_mounts "$@"
requires losetup --version
requires flock --version
requires nsenter --version

tmp=$(make_tmpdir)
mnt=$tmp/mnt
mkdir "$mnt"
truncate -s 8M "$tmp/a.img" "$tmp/b.img"
head -c 64k /dev/urandom > "$tmp/pat"
dd if="$tmp/pat" of="$tmp/b.img" conv=notrunc status=none

# Kill PID with SIGKILL unless it is gone (a cleanup).
kill_if_alive ()
{
  if process_alive "$1"; then
    kill -KILL "$1" 2>/dev/null
    wait_gone "$1"
  fi
  return 0
}

# Start an instance with log LOG and bind a.img as loop0 and b.img as
# loop1; sets DAEMON and NBDKITS.
start_bound ()
{
  local log=$1 n out img
  start_loopfsd_log "$log" "$mnt"
  DAEMON=$LOOPFSD_PID
  cleanup_fn remove_daemon_leftovers "$DAEMON"
  for n in 0 1; do
    img=$tmp/$([ $n = 0 ] && echo a || echo b).img
    out=$(in_sandbox "$mnt" losetup -f --show "$img") || fail "losetup: $out"
    assert_eq "attached device" "/dev/loop$n" "$out"
  done
  NBDKITS=$(children_nbdkit "$DAEMON" | tr '\n' ' ')
  assert_eq "number of nbdkit children" 2 "$(wc -w <<<"$NBDKITS")"
}

# Fail if a loopfs mount on MNT is left in any namespace; WHAT names
# the case.
check_unmounted_everywhere ()
{
  local what=$1 left
  left=$(loopfs_mounts_anywhere "$mnt")
  [ -z "$left" ] || fail "$what: the instance is still mounted: $left"
}

# --- 1. The namespace holding the only mount dies -----------------------
start_bound "$tmp/loopfsd-ns.log"
mkfifo "$tmp/go"
unshare -m --propagation private -- /bin/bash -c '
  exec 3<"$1/loop1"
  cmp -s -n 65536 "$1/loop1" "$2" || { echo "loop1 reads wrong data"; exit 1; }
  read -r _ < "$3"
' namespace "$mnt" "$tmp/pat" "$tmp/go" &
ns_pid=$!
cleanup_fn kill_if_alive "$ns_pid"
for ((i = 0; i < 100; i++)); do
  [ "$(readlink "/proc/$ns_pid/fd/3" 2>/dev/null)" = "$mnt/loop1" ] && break
  process_alive "$ns_pid" || fail "the namespace's process exited early"
  sleep 0.05
done
[ "$(readlink "/proc/$ns_pid/fd/3")" = "$mnt/loop1" ] \
  || fail "the namespace's process did not open loop1"
ns=$(readlink "/proc/$ns_pid/ns/mnt")
[ "$ns" != "$(readlink /proc/self/ns/mnt)" ] || fail "unshare made no namespace"

umount "$mnt" || fail "umount in the test's namespace failed"
! is_mounted "$mnt" || fail "$mnt still mounted here after umount"
mounts=$(loopfs_mounts_anywhere "$mnt")
assert_eq "namespaces holding the instance" "$ns" \
  "$(awk '{print $1}' <<<"$mounts" | sort -u)"
sleep 0.3
process_alive "$DAEMON" \
  || fail "loopfsd exited while another namespace still held its mount"
for pid in $NBDKITS; do
  process_alive "$pid" \
    || fail "nbdkit $pid ended while the instance was mounted"
done

alive=$(boot_ticks_now)
echo > "$tmp/go"
rc=0
wait "$ns_pid" || rc=$?
assert_eq "exit status of the namespace's process" 0 "$rc"
ms=$(wait_all_gone 1000 "$DAEMON" $NBDKITS) \
  || fail "loopfsd or nbdkit still running 1 s after the namespace ended"
echo "namespace death: loopfsd and every nbdkit gone after $ms ms"
check_unmounted_everywhere "after the namespace ended"
assert_eq "processes left in the namespace" "" \
  "$(processes_in_namespace "$ns" "$alive")"
check_daemon_leftovers "after the namespace ended" "$DAEMON"

# --- 2. loopfsd -f is the namespace's process tree -------------------------
cleanup_fn _check_loopfsd_log "$tmp/loopfsd-f.log"
unshare -m --propagation private -- \
  "$LOOPFSD" -f -o "log=$tmp/loopfsd-f.log" "$mnt" &
fg_pid=$!
disown "$fg_pid"        # killed on purpose below: no job report
cleanup_fn kill_if_alive "$fg_pid"
cleanup_fn remove_daemon_leftovers "$fg_pid"
for ((i = 0; i < 100; i++)); do
  [ -e "/proc/$fg_pid/root$mnt/loop-control" ] && break
  process_alive "$fg_pid" || fail "loopfsd -f in its namespace exited early"
  sleep 0.05
done
[ -e "/proc/$fg_pid/root$mnt/loop-control" ] || fail "loopfsd -f did not mount"
assert_eq "comm of the namespace's process" loopfsd \
  "$(cat "/proc/$fg_pid/comm")"
! is_mounted "$mnt" || fail "the namespace's mount propagated to the test's"
out=$(nsenter -t "$fg_pid" -m -- "$LOOP_HELPER" get-free "$mnt/loop-control") \
  || fail "get-free: $out"
out=$(nsenter -t "$fg_pid" -m -- "$LOOP_HELPER" set-fd "$mnt/loop$out" \
        "$tmp/b.img" rw) || fail "set-fd: $out"
cmp -s -n 65536 "/proc/$fg_pid/root$mnt/loop0" "$tmp/pat" \
  || fail "loop0 in the namespace reads wrong data"
nbdkits=$(children_nbdkit "$fg_pid" | tr '\n' ' ')
assert_eq "number of nbdkit children" 1 "$(wc -w <<<"$nbdkits")"
ns=$(readlink "/proc/$fg_pid/ns/mnt")
assert_eq "namespaces holding the instance" "$ns" \
  "$(loopfs_mounts_anywhere "$mnt" | awk '{print $1}' | sort -u)"

alive=$(boot_ticks_now)
kill -KILL "$fg_pid"
ms=$(wait_all_gone 1000 "$fg_pid" $nbdkits) \
  || fail "loopfsd -f or its nbdkit still running 1 s after SIGKILL"
echo "namespace of loopfsd -f: loopfsd and nbdkit gone after $ms ms"
check_unmounted_everywhere "after the namespace's loopfsd -f was killed"
assert_eq "processes left in the namespace" "" \
  "$(processes_in_namespace "$ns" "$alive")"
check_daemon_leftovers "after the namespace's loopfsd -f was killed" "$fg_pid"

# --- 3. Connection abort through fusectl --------------------------------------
start_bound "$tmp/loopfsd-abort.log"
exec {held}<"$mnt/loop0"
cleanup_fn eval "exec $held<&-"
conn=$(fuse_connection "$mnt")
[ -n "$conn" ] || fail "no FUSE connection number for $mnt"
_abort_fuse_connection "$conn" || fail "writing to fusectl's abort failed"
ms=$(wait_all_gone 1000 "$DAEMON" $NBDKITS) \
  || fail "loopfsd or nbdkit still running 1 s after the connection abort"
echo "connection abort: loopfsd and every nbdkit gone after $ms ms"
check_daemon_leftovers "after the connection abort" "$DAEMON"
if is_mounted "$mnt"; then
  out=$(stat "$mnt" 2>&1) && fail "stat of the aborted mount succeeded: $out"
  grep -qE "not connected|connection abort" <<<"$out" \
    || fail "stat of the aborted mount: expected ENOTCONN, got: $out"
  umount -l "$mnt" || fail "lazy unmount of the aborted mount failed"
  echo "left after the abort: a dead mount, removed with umount -l"
fi
exec {held}<&-
check_unmounted_everywhere "after the connection abort"

echo "PASS"
