#!/bin/bash
# tools/loopfs-private: a private instance visible nowhere but in the
# program's own mount namespace, cleaned up when the program ends, even
# by SIGKILL.
#
# 1. With a command: the command writes through $LOOPFS_DEVICE and sees
#    the instance in its mount table; the program exits with the
#    command's status, and afterwards the data is in the image and no
#    loopfsd, nbdkit, mount or temporary directory is left.
# 2. Waiting for a signal: the instance is in no mount table but the
#    program's namespace's (the test's own, and every other namespace's,
#    are checked), its path leads nowhere outside, the device works
#    from inside the namespace; SIGKILL of the program: within 1 s no
#    loopfsd, no nbdkit, no mount of the instance and no process of the
#    namespace remain anywhere, and what was written is in the image.
#    Left: the empty temporary directory.
# 3. SIGTERM: a clean teardown, exit status 0, nothing left.
set -euo pipefail
# shellcheck source=../functions.sh
source "$(dirname "$0")/../functions.sh"
# shellcheck source=leftovers.sh
source "$(dirname "$0")/leftovers.sh"

: "${LOOPFS_PRIVATE:=loopfs-private}"

requires_root
isolate_mounts "$@"
requires "$LOOPFS_PRIVATE" --help
requires flock --version
requires nsenter --version

tmp=$(make_tmpdir)
mkdir "$tmp/priv"
head -c 8M /dev/urandom > "$tmp/disk.img"
head -c 64k /dev/urandom > "$tmp/pat1"
head -c 64k /dev/urandom > "$tmp/pat2"

# Run loopfs-private with ARGS, its temporary directory under
# $tmp/priv, in the background; its output goes to OUT.  Sets PROG.
start_private ()
{
  local out=$1
  shift
  TMPDIR=$tmp/priv LOOPFSD=$LOOPFSD "$LOOPFS_PRIVATE" "$@" > "$out" \
    2> "$out.err" &
  PROG=$!
  cleanup_fn kill_if_alive "$PROG"
}

# Kill PID with SIGKILL unless it is gone (a cleanup).
kill_if_alive ()
{
  if process_alive "$1"; then
    kill -KILL "$1" 2>/dev/null
    wait_gone "$1"
  fi
  return 0
}

# Wait until the program PROG printed its device and daemon (in OUT);
# sets DEV, DAEMON, NBDKITS and NS (the program's mount namespace).
wait_ready ()
{
  local out=$1 i
  for ((i = 0; i < 100; i++)); do
    grep -q '^LOOPFSD_PID=' "$out" && break
    process_alive "$PROG" \
      || fail "loopfs-private exited early: $(cat "$out" "$out.err")"
    sleep 0.1
  done
  DEV=$(sed -n 's/^LOOPFS_DEVICE=//p' "$out")
  DAEMON=$(sed -n 's/^LOOPFSD_PID=//p' "$out")
  [ -n "$DEV" ] && [ -n "$DAEMON" ] \
    || fail "loopfs-private did not print its device: $(cat "$out" "$out.err")"
  cleanup_fn remove_daemon_leftovers "$DAEMON"
  cleanup_fn kill_if_alive "$DAEMON"
  assert_eq "loopfsd's parent" "$PROG" \
    "$(awk '/^PPid:/ {print $2}' "/proc/$DAEMON/status")"
  NBDKITS=$(children_nbdkit "$DAEMON" | tr '\n' ' ')
  assert_eq "number of nbdkit children" 1 "$(wc -w <<<"$NBDKITS")"
  NS=$(readlink "/proc/$PROG/ns/mnt")
  [ "$NS" != "$(readlink /proc/self/ns/mnt)" ] \
    || fail "loopfs-private did not make a mount namespace"
}

# Fail unless the only temporary directory of loopfs-private left is
# empty and mounted nowhere, then remove it; WHAT names the case.
check_tmpdir_left_empty ()
{
  local what=$1 dir
  dir=$(compgen -G "$tmp/priv/loopfs-private.*") \
    || fail "$what: no temporary directory left"
  assert_eq "$what: temporary directory's entries" "" "$(ls -A "$dir")"
  assert_eq "$what: mounts on the temporary directory" "" \
    "$(grep -F " $dir" /proc/[0-9]*/mountinfo 2>/dev/null || true)"
  rmdir "$dir"
}

# --- 1. With a command ---------------------------------------------------
rc=0
out=$(TMPDIR=$tmp/priv LOOPFSD=$LOOPFSD "$LOOPFS_PRIVATE" "$tmp/disk.img" -- \
  /bin/bash -c '
    set -e
    dd if="$1" of="$LOOPFS_DEVICE" bs=64k seek=16 conv=notrunc,fsync status=none
    cmp -s -n 65536 -i 0:1048576 "$1" "$LOOPFS_DEVICE"
    awk -v m="${LOOPFS_DEVICE%/*}" \
      '\''$5 == m { print "mounted", $(NF - 2) }'\'' /proc/self/mountinfo
    exit 7
  ' command "$tmp/pat1" 2> "$tmp/err1") || rc=$?
[ "$rc" -eq 7 ] || fail "loopfs-private with a command: exit status $rc," \
  "expected 7: $out $(cat "$tmp/err1")"
dev=$(sed -n 's/^LOOPFS_DEVICE=//p' <<<"$out")
daemon=$(sed -n 's/^LOOPFSD_PID=//p' <<<"$out")
[ -n "$daemon" ] || fail "no LOOPFSD_PID in the output: $out"
cleanup_fn remove_daemon_leftovers "$daemon"
[[ "$dev" == "$tmp"/priv/loopfs-private.*/loop0 ]] \
  || fail "unexpected device path: $dev"
grep -qx "mounted fuse.loopfs" <<<"$out" \
  || fail "the command did not see the instance in its mount table: $out"
! process_alive "$daemon" || fail "loopfsd $daemon outlived loopfs-private"
assert_eq "the program's temporary directories" "" "$(ls -A "$tmp/priv")"
assert_eq "mounts of the instance" "" "$(loopfs_mounts_anywhere "${dev%/*}")"
assert_eq "files of the daemon" "" "$(_daemon_files "$daemon")"
cmp -s -n 65536 -i 0:1048576 "$tmp/pat1" "$tmp/disk.img" \
  || fail "the command's write is not in the image"

# --- 2. SIGKILL ------------------------------------------------------------
start_private "$tmp/out2" "$tmp/disk.img"
disown "$PROG"            # killed on purpose below: no job report
wait_ready "$tmp/out2"
inst=${DEV%/*}

! grep -qF " $inst " /proc/self/mountinfo \
  || fail "the instance is in the test's mount table"
[ ! -e "$DEV" ] || fail "$DEV exists outside the program's namespace"
assert_eq "the temporary directory seen from outside" "" \
  "$(ls -A "${inst%/*}")"
mounts=$(loopfs_mounts_anywhere "$inst")
[ -n "$mounts" ] \
  || fail "the instance is mounted nowhere, not even in its namespace"
assert_eq "namespaces holding the instance" "$NS" \
  "$(awk '{print $1}' <<<"$mounts" | sort -u)"

# The device works from inside the namespace.
nsenter -t "$PROG" -m -- \
  dd if="$tmp/pat2" of="$DEV" bs=64k seek=32 conv=notrunc,fsync status=none \
  || fail "writing through the device in the program's namespace"
cmp -s -n 65536 -i 0:2097152 "$tmp/pat2" "/proc/$PROG/root$DEV" \
  || fail "the device does not read back what was written"

alive=$(boot_ticks_now)
kill -KILL "$PROG"
ms=$(wait_all_gone 1000 "$PROG" "$DAEMON" $NBDKITS) \
  || fail "loopfs-private, loopfsd or nbdkit still running 1 s after SIGKILL"
echo "SIGKILL: the program, loopfsd and nbdkit gone after $ms ms"
assert_eq "mounts of the instance after SIGKILL" "" \
  "$(loopfs_mounts_anywhere "$inst")"
assert_eq "processes left in the namespace" "" \
  "$(processes_in_namespace "$NS" "$alive")"
check_daemon_leftovers "after SIGKILL" "$DAEMON"
check_tmpdir_left_empty "after SIGKILL"
cmp -s -n 65536 -i 0:2097152 "$tmp/pat2" "$tmp/disk.img" \
  || fail "what was written before SIGKILL is not in the image"

# --- 3. SIGTERM ---------------------------------------------------------
start_private "$tmp/out3" "$tmp/disk.img"
wait_ready "$tmp/out3"
kill -TERM "$PROG"
rc=0
timeout 10 tail --pid="$PROG" -f /dev/null \
  || fail "loopfs-private did not exit after SIGTERM"
wait "$PROG" || rc=$?
assert_eq "loopfs-private's exit status after SIGTERM" 0 "$rc"
ms=$(wait_all_gone 1000 "$DAEMON" $NBDKITS) \
  || fail "loopfsd or nbdkit still running after loopfs-private exited"
assert_eq "loopfs-private's messages after SIGTERM" "" "$(cat "$tmp/out3.err")"
assert_eq "the program's temporary directories after SIGTERM" "" \
  "$(ls -A "$tmp/priv")"
assert_eq "mounts of the instance after SIGTERM" "" \
  "$(loopfs_mounts_anywhere "${DEV%/*}")"
assert_eq "files of the daemon after SIGTERM" "" "$(_daemon_files "$DAEMON")"

echo "PASS"
