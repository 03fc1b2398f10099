#!/bin/bash
# Security properties: a backing file opened read-only always gives a
# read-only device (also for root); as backing, another instance's loopN
# is an ordinary file and the instance's own loopN is stacked on, both
# without the daemon ever reading through its own mount; loop-control
# nodes are refused, the device itself with EBADF; nbdkit runs with no
# capabilities, no_new_privs, as the backing file's owner, and with
# none of the daemon's environment.
set -euo pipefail
# shellcheck source=../functions.sh
source "$(dirname "$0")/../functions.sh"

requires_root
isolate_mounts "$@"
requires losetup --version

tmp=$(make_tmpdir)
a=$tmp/a
b=$tmp/b
mkdir "$a" "$b" "$tmp/ro"
head -c 4M /dev/urandom > "$tmp/disk.img"
head -c 4M /dev/urandom > "$tmp/ro/disk.img"
head -c 4096 /dev/urandom > "$tmp/pat"
# A secret in the daemon's environment, which nbdkit must not get.
LOOPFS_TEST_SECRET=hunter2 start_loopfsd_log "$tmp/loopfsd-a.log" "$a"
pid_a=$LOOPFSD_PID
grep -qz '^LOOPFS_TEST_SECRET=hunter2$' "/proc/$pid_a/environ" \
  || fail "loopfsd did not get the test's environment"
start_loopfsd_log "$tmp/loopfsd-b.log" "$b"

# Check that DEV is read-only and refuses a write; WHAT names the case.
check_read_only ()
{
  local what=$1 dev=$2 img=$3
  assert_eq "$what: flags" 1 "$(status_field "$dev" flags)"
  assert_eq "$what: BLKROGET" 1 "$(status_field "$dev" ro)"
  expect_errno EPERM sh -c "'$LOOP_HELPER' pwrite '$dev' 0 4096 < '$tmp/pat'"
  cmp -s "$dev" "$img" || fail "$what: the device does not read the image"
}

# Detach DEV.
detach ()
{
  local out
  out=$("$LOOP_HELPER" clr "$1") || fail "clr $1: $out"
}

# --- Read-only backing descriptors -------------------------------------------
cp "$tmp/disk.img" "$tmp/orig.img"
out=$(in_sandbox "$a" losetup -f --show -r "$tmp/disk.img") || fail "losetup -r: $out"
assert_eq "losetup -r" /dev/loop0 "$out"
check_read_only "losetup -r" "$a/loop0" "$tmp/disk.img"
detach "$a/loop0"

out=$("$LOOP_HELPER" set-fd "$a/loop0" "$tmp/disk.img" ro) || fail "set-fd ro: $out"
check_read_only "LOOP_SET_FD with an O_RDONLY fd" "$a/loop0" "$tmp/disk.img"
detach "$a/loop0"

# A file root cannot open for writing (read-only mount): losetup falls
# back to O_RDONLY by itself, and the device must follow.
mount --bind "$tmp/ro" "$tmp/ro"
cleanup_fn umount -l "$tmp/ro"
mount -o remount,bind,ro "$tmp/ro"
out=$(in_sandbox "$a" losetup -f --show "$tmp/ro/disk.img" 2>/dev/null) \
  || fail "losetup of a file on a read-only mount: $out"
assert_eq "losetup on a read-only mount" /dev/loop0 "$out"
check_read_only "losetup on a read-only mount" "$a/loop0" "$tmp/ro/disk.img"
detach "$a/loop0"
cmp -s "$tmp/disk.img" "$tmp/orig.img" || fail "a read-only device changed its file"

# --- loopfs nodes as backing --------------------------------------------------
# (With a time limit: a daemon that waits on its own mount would hang.)
out=$("$LOOP_HELPER" add "$b/loop-control" 0) || fail "add in B: $out"
out=$("$LOOP_HELPER" set-fd "$b/loop0" "$tmp/disk.img" rw) || fail "set-fd in B: $out"
out=$("$LOOP_HELPER" add "$a/loop-control" 1) || fail "add in A: $out"
out=$("$LOOP_HELPER" set-fd "$a/loop1" "$tmp/disk.img" rw) || fail "set-fd loop1: $out"
for mode in rw ro; do
  out=$(timeout 10 "$LOOP_HELPER" set-fd "$a/loop0" "$b/loop0" "$mode") \
    || fail "another instance's loop0 as backing ($mode): $out"
  timeout 10 cmp -s "$a/loop0" "$tmp/disk.img" \
    || fail "reading A's loop0 through B's loop0 ($mode)"
  detach "$a/loop0"
done
expect_errno EINVAL timeout 10 "$LOOP_HELPER" set-fd "$a/loop0" "$b/loop-control" rw
expect_errno EINVAL timeout 10 "$LOOP_HELPER" set-fd "$a/loop0" "$a/loop-control" rw
out=$(timeout 10 "$LOOP_HELPER" set-fd "$a/loop0" "$a/loop1" rw) \
  || fail "stacking A's loop0 on loop1: $out"
timeout 10 cmp -s "$a/loop0" "$tmp/disk.img" || fail "reading through a stacked device"
detach "$a/loop0"
expect_errno EBADF timeout 10 "$LOOP_HELPER" set-fd "$a/loop0" "$a/loop0" rw
expect_errno ENXIO "$LOOP_HELPER" status "$a/loop0"
detach "$a/loop1"
detach "$b/loop0"

# --- nbdkit's credentials ---------------------------------------------------------
# Print the fields of /proc/PID/status that matter, one "Name: value" a line.
creds ()
{
  awk '/^(Uid|Gid|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs):/ {
         $1 = $1; print }' "/proc/$1/status"
}

# Bind IMG to A's loop0 and check its nbdkit's credentials: uid/gid OWNER.
check_nbdkit ()
{
  local img=$1 owner=$2 pid st out
  out=$("$LOOP_HELPER" set-fd "$a/loop0" "$img" rw) || fail "set-fd $img: $out"
  pid=$("$LOOP_HELPER" xattr "$a/loop0" user.loopfs.nbdkit-pid) || fail "xattr: $pid"
  grep -qw "$pid" <<<"$(children_nbdkit "$pid_a")" \
    || fail "nbdkit $pid is not a child of loopfsd $pid_a"
  st=$(creds "$pid")
  for f in CapInh CapPrm CapEff CapBnd CapAmb; do
    grep -qx "$f: 0000000000000000" <<<"$st" \
      || fail "nbdkit of a $owner-owned image: $f not empty: $(grep "^$f" <<<"$st")"
  done
  grep -qx "NoNewPrivs: 1" <<<"$st" || fail "nbdkit without no_new_privs: $st"
  # Its environment is socket activation's two variables and a fixed
  # PATH, whatever the daemon's holds (the owner can read it).
  assert_eq "nbdkit's environment" \
    "LISTEN_FDS=1 LISTEN_PID=$pid PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    "$(tr '\0' '\n' < "/proc/$pid/environ" | sort | paste -sd ' ')"
  grep -qx "Uid: $owner $owner $owner $owner" <<<"$st" \
    || fail "nbdkit does not run as uid $owner: $(grep ^Uid <<<"$st")"
  grep -qx "Gid: $owner $owner $owner $owner" <<<"$st" \
    || fail "nbdkit does not run as gid $owner: $(grep ^Gid <<<"$st")"
  dd if="$tmp/pat" of="$a/loop0" bs=4096 seek=1 conv=notrunc,fsync status=none \
    || fail "writing through nbdkit running as $owner failed"
  cmp -s -n 4096 -i 4096:0 "$img" "$tmp/pat" || fail "write as $owner did not arrive"
  cmp -s "$a/loop0" "$img" || fail "reading through nbdkit running as $owner"
  detach "$a/loop0"
}

check_nbdkit "$tmp/disk.img" 0
chown 65534:65534 "$tmp/disk.img"
check_nbdkit "$tmp/disk.img" 65534

echo "PASS"
