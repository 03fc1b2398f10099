#!/bin/bash
# A filesystem on a loopfs device: unmodified mkfs.ext4 formats
# /dev/loop0, fuse2fs mounts it, files written through it (one of them
# 20 MiB of random data) survive an unmount and remount byte for byte,
# and e2fsck finds the filesystem clean both through loopN and in the
# image file itself after the device is detached.
set -euo pipefail
# shellcheck source=../functions.sh
source "$(dirname "$0")/../functions.sh"

requires_root
isolate_mounts "$@"
requires losetup --version
requires mkfs.ext4 -V
requires e2fsck -V
requires debugfs -V
requires command -v fuse2fs

new_instance 128M
mkdir "$tmp/fs"
head -c 20M /dev/urandom > "$tmp/big"

# If the sandbox dies early, its fuse2fs would keep the mount (and the
# namespace holding loopfs' nodes) alive: end it by pid.
stop_fuse2fs ()
{
  local pid
  pid=$(cat "$tmp/fuse2fs.pid" 2>/dev/null) || return 0
  if [ -d "/proc/$pid" ] && [ "$(cat "/proc/$pid/comm")" = fuse2fs ]; then
    kill -TERM "$pid"
    wait_gone "$pid" || kill -KILL "$pid"
  fi
}
cleanup_fn stop_fuse2fs

in_sandbox "$mnt" /bin/bash -c '
  set -euo pipefail
  tmp=$1 img=$2
  fs=$tmp/fs
  fuse_pid=

  # Unmount fuse2fs and wait for it: it writes back after the unmount.
  unmount_fs ()
  {
    local pid=$fuse_pid
    [ -n "$pid" ] || return 0
    fuse_pid=
    umount "$fs"
    wait "$pid" || { echo "fuse2fs exited with $?" >&2; return 1; }
  }
  trap "unmount_fs || umount -l \"\$fs\"" EXIT

  # Mount /dev/loop0 with fuse2fs in the background and wait for it.
  mount_fs ()
  {
    local i
    fuse2fs -f /dev/loop0 "$fs" "$@" &
    fuse_pid=$!
    echo "$fuse_pid" > "$tmp/fuse2fs.pid"
    for ((i = 0; i < 100; i++)); do
      mountpoint -q "$fs" && return 0
      kill -0 "$fuse_pid" 2>/dev/null || break
      sleep 0.1
    done
    echo "fuse2fs did not mount /dev/loop0" >&2
    return 1
  }

  dev=$(losetup -f --show "$img")
  [ "$dev" = /dev/loop0 ] || { echo "losetup gave $dev" >&2; exit 1; }
  mkfs.ext4 -q -F "$dev"

  mount_fs
  echo "hello from a private loop device" > "$fs/hello.txt"
  cp "$tmp/big" "$fs/big"
  mkdir "$fs/dir"
  for i in $(seq 20); do head -c $((i * 1000)) /dev/urandom > "$fs/dir/f$i"; done
  ln -s hello.txt "$fs/link"
  (cd "$fs" && find . -type f | sort | xargs sha256sum) > "$tmp/sums"
  unmount_fs

  mount_fs
  (cd "$fs" && sha256sum --quiet -c "$tmp/sums") || { echo "checksums differ after remount" >&2; exit 1; }
  cmp "$fs/big" "$tmp/big"
  [ "$(readlink "$fs/link")" = hello.txt ]
  [ "$(find "$fs" -type f | wc -l)" -eq 22 ]
  unmount_fs

  e2fsck -fn /dev/loop0
' sandbox "$tmp" "$img" > "$tmp/sandbox.log" 2>&1 || {
  cat "$tmp/sandbox.log" >&2
  fail "mkfs / fuse2fs / e2fsck in the sandbox failed"
}

out=$("$LOOP_HELPER" clr "$mnt/loop0") || fail "clr: $out"
e2fsck -fn "$img" > "$tmp/e2fsck.log" 2>&1 || {
  cat "$tmp/e2fsck.log" >&2
  fail "e2fsck -fn on the image file found problems"
}
debugfs -R "dump /big $tmp/big.out" "$img" > /dev/null 2>&1
cmp -s "$tmp/big" "$tmp/big.out" \
  || fail "the 20 MiB file read from the image differs from what was written"
echo "PASS"
