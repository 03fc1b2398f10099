#!/bin/bash
# Mounting the usual ways: "mount -t fuse.loopfs" and an /etc/fstab line
# run mount.fuse.loopfs (loopfsd under the helper's name) and return
# with the instance usable, options reach loopfsd (a bad one fails with
# its message and mounts nothing), umount ends the daemon; and
# loopfs@.service's command line sends READY=1 once the mount answers
# and unmounts on SIGTERM, as systemd would run it.
set -euo pipefail
# shellcheck source=../functions.sh
source "$(dirname "$0")/../functions.sh"

requires_root
isolate_mounts "$@"
requires python3 --version
requires jq --version

ctl=$LOOPFSCTL
tmp=$(make_tmpdir)
mnt=$tmp/mnt
mkdir "$mnt" "$tmp/helper" "$tmp/merged"

# mount(8) looks for helpers in /sbin only: lay the build's helper over
# /usr/sbin (/sbin on Debian 12) in this test's mount namespace.
ln -s "$LOOPFSD" "$tmp/helper/mount.fuse.loopfs"
mount -t overlay overlay -o "lowerdir=$tmp/helper:/usr/sbin" /usr/sbin
cleanup_fn umount -l /usr/sbin

# Check that the instance at $mnt answers with limit MAX (WHAT says how
# it was mounted), then unmount it and check that its daemon exits.
check_and_unmount ()
{
  local what=$1 max=$2 status pid dev
  is_mounted "$mnt" || fail "$what: $mnt is not mounted"
  status=$("$ctl" status --json "$mnt") || fail "$what: status failed"
  assert_eq "$what: max" "$max" "$(jq -r .max <<<"$status")"
  pid=$(jq -r '."loopfsd-pid"' <<<"$status")
  assert_eq "$what: daemon name" loopfsd "$(cat "/proc/$pid/comm")"
  cleanup_fn kill_if_running "$pid"
  dev=$("$ctl" attach "$mnt" "$tmp/disk.img") || fail "$what: attach"
  assert_eq "$what: attach" "$mnt/loop0" "$dev"
  "$ctl" detach "$dev"
  umount "$mnt" || fail "$what: umount"
  wait_gone "$pid" || fail "$what: loopfsd $pid still runs after umount"
}

# Send SIGKILL to PID if it still runs (a cleanup).
kill_if_running ()
{
  [ ! -d "/proc/$1" ] || kill -KILL "$1" 2>/dev/null || true
}

truncate -s 4M "$tmp/disk.img"

# --- mount -t fuse.loopfs ----------------------------------------------------------
mount -t fuse.loopfs loopfs "$mnt" -o max=2,nodev,nosuid \
  || fail "mount -t fuse.loopfs failed"
check_and_unmount "mount -t fuse.loopfs" 2

# A bad option: mount fails with loopfsd's message, nothing is mounted.
if mount -t fuse.loopfs loopfs "$mnt" -o max=2,bogus 2>"$tmp/err"; then
  umount "$mnt"
  fail "mount -t fuse.loopfs with a bad option succeeded"
fi
grep -q "unknown mount option 'bogus'" "$tmp/err" \
  || fail "bad option: expected loopfsd's message, got: $(cat "$tmp/err")"
! is_mounted "$mnt" || fail "a failed mount left $mnt mounted"

# --- an /etc/fstab line -----------------------------------------------------------
cp /etc/fstab "$tmp/fstab" 2>/dev/null || : >"$tmp/fstab"
echo "loopfs $mnt fuse.loopfs max=3,noauto,nofail,x-test=1 0 0" >>"$tmp/fstab"
mount --bind "$tmp/fstab" /etc/fstab
cleanup_fn umount -l /etc/fstab
mount "$mnt" || fail "mount $mnt (fstab) failed"
check_and_unmount "fstab" 3

# --- loopfs@.service ------------------------------------------------------------
# The unit as systemd checks it, with ExecStart pointing at this build.
sbindir=$(sed -n 's|^ExecStart=\(.*\)/loopfsd .*|\1|p' "$LOOPFS_UNIT")
[ -n "$sbindir" ] || fail "no ExecStart=.../loopfsd in $LOOPFS_UNIT"
sed "s|$sbindir/loopfsd|$LOOPFSD|" "$LOOPFS_UNIT" >"$tmp/loopfs@.service"
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify --man=no "$tmp/loopfs@.service" >"$tmp/verify" 2>&1 \
    || fail "systemd-analyze verify: $(cat "$tmp/verify")"
  [ ! -s "$tmp/verify" ] || fail "systemd-analyze verify: $(cat "$tmp/verify")"
else
  echo "systemd-analyze not installed: the unit file is not verified" >&2
fi

# Run ExecStart as systemd would for instance path $mnt with
# LOOPFS_OPTIONS="-o max=5", with a notify socket of our own: READY=1
# must come, and only once the instance answers.
exec_start=$(sed -n 's|^ExecStart=||p' "$tmp/loopfs@.service")
exec_start=${exec_start//%f/$mnt}
exec_start=${exec_start//\$LOOPFS_OPTIONS/-o max=5}
python3 - "$tmp/notify" "$mnt" "$tmp/ready" <<'PY' &
import os, socket, sys
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(sys.argv[1])
sock.settimeout(20)
msg = sock.recv(4096).decode()
# What a service manager would see at READY=1: is the instance there?
answered = os.path.exists(os.path.join(sys.argv[2], "loop-control"))
with open(sys.argv[3], "w") as f:
    f.write(msg.replace("\n", " ") + (" answered" if answered else " not-answering") + "\n")
PY
listener=$!
cleanup_fn kill_if_running "$listener"
for ((i = 0; i < 50; i++)); do
  [ -S "$tmp/notify" ] && break
  sleep 0.1
done
# shellcheck disable=SC2086 # split the command line as systemd does
NOTIFY_SOCKET=$tmp/notify $exec_start 2>"$tmp/unit.log" &
unit_pid=$!
cleanup_fn kill_if_running "$unit_pid"
wait "$listener" || fail "no notification from loopfsd: $(cat "$tmp/unit.log")"
grep -q "READY=1" "$tmp/ready" || fail "notification without READY=1: $(cat "$tmp/ready")"
grep -q "MAINPID=$unit_pid " "$tmp/ready" || fail "MAINPID is not loopfsd's: $(cat "$tmp/ready")"
grep -q " answered" "$tmp/ready" || fail "READY=1 before the mount answered"
assert_eq "loopfs@.service: max" 5 "$("$ctl" status --json "$mnt" | jq -r .max)"
# systemctl stop: SIGTERM to loopfsd (KillMode=mixed).
kill -TERM "$unit_pid"
wait "$unit_pid" || fail "loopfsd exited with $? on SIGTERM: $(cat "$tmp/unit.log")"
! is_mounted "$mnt" || fail "loopfs@.service: $mnt still mounted after SIGTERM"
echo "PASS"
