#!/bin/bash
# Callers that once confused or hung loopfsd (issue 10):
# - an ioctl argument inside a MAP_PRIVATE mapping of a bound device of
#   the same instance: copying it needs a read the daemon itself serves,
#   so the copy must not stop the loop; every struct-taking ioctl gives
#   the same answer as with a heap copy, and the instance still answers;
# - a refused LOOP_SET_FD changes nothing, not even the owner whose
#   credentials the device's next nbdkit gets;
# - LOOP_SET_FD takes the descriptor from the calling thread's own table;
# - a backing descriptor not open for reading (EBADF) or with O_APPEND
#   (EPERM) is refused;
# - any bytes in lo_file_name (a newline followed by "backing_file=",
#   a line without '=') come back as they were and change nothing else
#   in loopfsctl list, its JSON, the sandbox's sysfs view and losetup -l;
# - a node reached through an overlay mount on the instance is the node
#   itself: stacked on when bound, and a cycle through it (LOOP_CHANGE_FD)
#   refused with EBADF, as the kernel's loop_validate_file refuses one;
#   loop-control through the overlay stays refused (EINVAL).
set -euo pipefail
# shellcheck source=../functions.sh
source "$(dirname "$0")/../functions.sh"

requires_root
isolate_mounts "$@"

new_instance -
truncate -s 1M "$tmp/zero.img"
head -c 4M /dev/urandom > "$tmp/disk.img"

# Run loop-helper ARGS..., failing the test with its output if it fails.
helper ()
{
  local out
  out=$(timeout 20 "$LOOP_HELPER" "$@") || fail "loop-helper $*: $out"
  printf '%s\n' "$out"
}

# The uid nbdkit runs as for device DEV.
nbdkit_uid ()
{
  local pid
  pid=$(helper xattr "$1" user.loopfs.nbdkit-pid)
  awk '/^Uid:/ { print $2 }' "/proc/$pid/status"
}

helper add "$mnt/loop-control" 0 >/dev/null
helper add "$mnt/loop-control" 1 >/dev/null
helper set-fd "$mnt/loop0" "$tmp/zero.img" rw >/dev/null
helper set-fd "$mnt/loop1" "$tmp/disk.img" rw >/dev/null

# --- Arguments in a mapping the daemon serves ---------------------------------
out=$(timeout -s KILL 30 "$HOSTILE_CALLER" mmap-arg "$mnt/loop1" "$mnt/loop0") \
  || fail "ioctls with arguments in a mapping of loop0 did not finish: $out"
echo "$out"
[ "$(grep -c ' same$' <<<"$out")" -eq 11 ] \
  || fail "an ioctl answered differently for a mapped argument: $out"
# The instance still answers, and the calls changed nothing they must not.
assert_eq "loop1 size after the calls" 4194304 "$(status_field "$mnt/loop1" size)"
cmp -s "$mnt/loop1" "$tmp/disk.img" || fail "loop1 no longer reads its image"

# --- A refused bind changes nothing --------------------------------------------
cp "$tmp/disk.img" "$tmp/other.img"
chown 65534:65534 "$tmp/other.img"
assert_eq "nbdkit of loop1 before" 0 "$(nbdkit_uid "$mnt/loop1")"
expect_errno EBUSY "$LOOP_HELPER" set-fd "$mnt/loop1" "$tmp/other.img" rw
truncate -s 8M "$tmp/disk.img"
helper capacity "$mnt/loop1" rw >/dev/null
assert_eq "loop1 size after LOOP_SET_CAPACITY" 8388608 "$(status_field "$mnt/loop1" size)"
assert_eq "nbdkit of loop1 after a refused bind and a resize" 0 \
  "$(nbdkit_uid "$mnt/loop1")"

# --- The calling thread's descriptor table -------------------------------------
helper add "$mnt/loop-control" 2 >/dev/null
out=$(timeout 20 "$HOSTILE_CALLER" thread-fd "$mnt/loop2" "$tmp/zero.img" \
        "$tmp/other.img") || fail "thread-fd: $out"
bound=${out%% *}
assert_eq "LOOP_SET_FD from a thread with its own table binds" \
  "bound=$(stat -c %i "$tmp/other.img")" "$bound"
helper clr "$mnt/loop2" >/dev/null

# --- Write-only and append-only backing descriptors ---------------------------
expect_errno EBADF "$LOOP_HELPER" set-fd "$mnt/loop2" "$tmp/other.img" wo
expect_errno EPERM "$LOOP_HELPER" set-fd "$mnt/loop2" "$tmp/other.img" append
helper set-fd "$mnt/loop2" "$tmp/other.img" rw >/dev/null
helper clr "$mnt/loop2" >/dev/null

# --- Hostile lo_file_name bytes ---------------------------------------------
for name in $'x\nbacking_file=/etc/shadow' $'no equals sign\nat all' \
            $'tab\there\\x0a\\'; do
  helper set-name "$mnt/loop1" "$name" >/dev/null
  list=$(timeout 20 "$LOOPFSCTL" list "$mnt") || fail "loopfsctl list: $list"
  ! grep -q /etc/shadow <<<"$list" || fail "the name changed the list: $list"
  grep -q "^$mnt/loop1 .*$tmp/disk.img" <<<"$list" \
    || fail "loop1 is not listed with its backing file: $list"
  json=$(timeout 20 "$LOOPFSCTL" list --json "$mnt") || fail "list --json: $json"
  assert_eq "lo_file_name in the JSON" "$name" \
    "$(jq -r ".devices[] | select(.name == \"$mnt/loop1\") | .\"file-name\"" <<<"$json")"
  assert_eq "back-file in the JSON" "$tmp/disk.img" \
    "$(jq -r ".devices[] | select(.name == \"$mnt/loop1\") | .\"back-file\"" <<<"$json")"
  out=$(timeout 30 "$LOOPFSCTL" exec --instance "$mnt" -- sh -c '
          cat /sys/block/loop1/loop/backing_file
          losetup -l -n -O NAME,BACK-FILE /dev/loop1') \
    || fail "the sandbox's view: $out"
  assert_eq "sysfs backing_file and losetup -l in the sandbox" \
    "$tmp/disk.img
/dev/loop1 $tmp/disk.img" "$(sed 's/  */ /g' <<<"$out")"
done

# --- Cycles through an overlay mount on the instance -------------------------
# loop2 and loop3 read-only, so that LOOP_CHANGE_FD is allowed.
helper add "$mnt/loop-control" 3 >/dev/null
helper add "$mnt/loop-control" 4 >/dev/null
helper set-fd "$mnt/loop2" "$tmp/zero.img" ro >/dev/null
helper set-fd "$mnt/loop3" "$tmp/zero.img" ro >/dev/null
mkdir "$tmp/ov" "$tmp/empty"
mount -t overlay overlay -o "lowerdir=$mnt:$tmp/empty" "$tmp/ov" \
  || fail "cannot mount an overlay on the instance"
cleanup_fn umount -l "$tmp/ov"
# A bound node seen through the overlay is recognised by its nbdkit pid:
# stacked on as the node itself would be, and a cycle through it is
# refused as the kernel refuses one (EBADF where the chain comes back).
out=$(timeout 10 "$LOOP_HELPER" set-fd "$mnt/loop4" "$tmp/ov/loop2" ro) \
  || fail "stacking loop4 on loop2 through the overlay: $out"
timeout 10 cmp -s "$mnt/loop4" "$tmp/zero.img" || fail "reading loop4 stacked on loop2"
expect_errno EBADF timeout 10 "$LOOP_HELPER" change-fd "$mnt/loop2" "$tmp/ov/loop4"
expect_errno EBADF timeout 10 "$LOOP_HELPER" change-fd "$mnt/loop2" "$tmp/ov/loop2"
helper clr "$mnt/loop4" >/dev/null
expect_errno EINVAL "$LOOP_HELPER" set-fd "$mnt/loop4" "$tmp/ov/loop-control" ro
umount "$tmp/ov"
echo "PASS"
