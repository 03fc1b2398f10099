#!/bin/bash
# Stacking inside `loopfsctl exec`, with the stock losetup: a device
# bound on another (`losetup -f --show /dev/loopN`) reads and writes
# through both levels; `losetup -d` of the lower device is deferred
# until the upper one is detached, as the kernel defers it; and a race:
# LOOP_CHANGE_FD of the read-only lower device between two copies of the
# image, for LOOPFS_STACK_RACE_SECONDS (30), while an upper device is
# attached, read whole and detached in a loop.  Every read must match
# and every command succeed; loopfsd must not log an error.
set -euo pipefail
# shellcheck source=../functions.sh
source "$(dirname "$0")/../functions.sh"

requires_root
isolate_mounts "$@"
requires losetup --version

tmp=$(make_tmpdir)
seconds=${LOOPFS_STACK_RACE_SECONDS:-30}
head -c 4M /dev/urandom > "$tmp/a.img"
head -c 8192 /dev/urandom > "$tmp/pat"

rc=0
timeout -k 5 $((seconds + 90)) "$LOOPFSCTL" exec -- bash -euo pipefail -c '
  tmp=$1 helper=$2 seconds=$3
  lower=$(losetup -f --show "$tmp/a.img")
  upper=$(losetup -f --show "$lower")
  [ "$upper" != "$lower" ] || { echo "the same device twice"; exit 1; }
  losetup -n -O BACK-FILE "$upper" | grep -qx "$lower" \
    || { echo "losetup -l does not show $lower under $upper"; exit 1; }
  cmp "$upper" "$tmp/a.img" || { echo "reading through two levels"; exit 1; }
  dd if="$tmp/pat" of="$upper" bs=4096 seek=10 conv=notrunc,fsync status=none
  cmp -n 8192 -i 40960:0 "$tmp/a.img" "$tmp/pat" \
    || { echo "a write through two levels did not reach the file"; exit 1; }
  cmp -n 8192 -i 40960:0 "$lower" "$tmp/pat" \
    || { echo "the lower device does not read the write"; exit 1; }
  # Deferred: the upper device still holds the lower one.
  losetup -d "$lower"
  cmp "$upper" "$tmp/a.img" || { echo "reading after losetup -d of the lower device"; exit 1; }
  losetup -d "$upper"
  for _ in $(seq 50); do
    losetup "$lower" >/dev/null 2>&1 || break
    sleep 0.1
  done
  if losetup "$lower" >/dev/null 2>&1; then
    echo "$lower still bound after its upper device was detached"; exit 1
  fi
  echo "deferred detach: ok"

  cp "$tmp/a.img" "$tmp/b.img"
  lower=$(losetup -f --show -r "$tmp/a.img")
  end=$((SECONDS + seconds))
  (
    n=0
    while [ $SECONDS -lt $end ]; do
      "$helper" change-fd "$lower" "$tmp/b.img" >/dev/null || exit 1
      "$helper" change-fd "$lower" "$tmp/a.img" >/dev/null || exit 1
      n=$((n + 2))
    done
    echo "LOOP_CHANGE_FD of the lower device: $n"
  ) &
  racer=$!
  m=0
  while [ $SECONDS -lt $end ]; do
    upper=$(losetup -f --show -r "$lower")
    cmp "$upper" "$tmp/a.img" || { echo "round $m: $upper read wrong"; exit 1; }
    losetup -d "$upper"
    m=$((m + 1))
  done
  wait "$racer" || { echo "LOOP_CHANGE_FD failed during the race"; exit 1; }
  echo "upper attach/read/detach rounds: $m"
  losetup -d "$lower"
' _ "$tmp" "$LOOP_HELPER" "$seconds" || rc=$?
[ "$rc" -eq 0 ] || fail "stacking in the sandbox failed ($rc)"
echo "PASS"
