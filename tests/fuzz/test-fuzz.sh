#!/bin/bash
# A short run of the ioctl fuzzer (loopfs-fuzz) against a live instance
# A: random ioctls, structs, descriptors (A's nodes, the same nodes
# through an overlay mounted over A, the nodes of a second instance B
# with a bound device, sockets, pipes, directories, closed numbers) and
# hostile pointers, with concurrent open/close, I/O, LOOP_CTL_ADD/REMOVE
# storms and unlinks from several threads and processes.  It fails when
# the fuzzer finds something: a call over 5 s, A's daemon dead, a
# sanitizer report in A's log, a change to B's device.
# LOOPFS_FUZZ_SECONDS sets the length (default 40).
set -euo pipefail
# shellcheck source=../functions.sh
source "$(dirname "$0")/../functions.sh"

requires_root
isolate_mounts "$@"
[ -x "${LOOPFS_FUZZ:-}" ] || fail "LOOPFS_FUZZ is not set"

tmp=$(make_tmpdir)
a=$tmp/a
b=$tmp/b
ov=$tmp/overlay
mkdir "$a" "$b" "$ov" "$tmp/empty"
truncate -s 4M "$tmp/backing.img" "$tmp/b.img"
start_loopfsd_log "$tmp/loopfsd-a.log" "$a"
pid_a=$LOOPFSD_PID
start_loopfsd_log "$tmp/loopfsd-b.log" "$b"
out=$("$LOOP_HELPER" add "$b/loop-control" 0) || fail "add in B: $out"
out=$("$LOOP_HELPER" set-fd "$b/loop0" "$tmp/b.img" rw) || fail "set-fd in B: $out"
cleanup_fn "$LOOP_HELPER" clr "$b/loop0"
# A read-only overlay (two lower layers, no upper) over A: its nodes
# reach A's through overlayfs.
mount -t overlay loopfs-fuzz -o "lowerdir=$a:$tmp/empty" "$ov"
cleanup_fn umount -l "$ov"

rc=0
"$LOOPFS_FUZZ" --instance "$a" --pid "$pid_a" --other "$b" --overlay "$ov" \
  --log "$tmp/loopfsd-a.log" --backing "$tmp/backing.img" \
  --seconds "${LOOPFS_FUZZ_SECONDS:-40}" --threads 3 --processes 2 || rc=$?
[ "$rc" -eq 0 ] || fail "the fuzzer found something (exit status $rc)"
# A still answers after the run.
out=$("$LOOP_HELPER" get-free "$a/loop-control") || fail "A no longer answers: $out"
echo "PASS"
