#!/bin/bash
# Guest test: every way a binding ends disconnects its nbd device, and
# before its nbdkit ends (the kernel logs no broken connection, also
# with a reader busy on the device while the instance ends):
# AUTOCLEAR at the last close (set with LOOP_SET_STATUS64, and armed by
# LOOP_CLR_FD while another descriptor holds the device), umount of the
# instance and SIGTERM of loopfsd (every device of the instance; the
# daemon then exits).  LOOP_SET_CAPACITY after the image grew gives the
# same nbd device the new size in place, under busy readers.
#
# Runs inside the VM only: tests/vm/run-vm tests/vm/test-nbd-lifecycle.sh
# [BUILDDIR].
set -euo pipefail
# shellcheck source=../functions.sh
source "$(dirname "$0")/../functions.sh"
# shellcheck source=../integration/leftovers.sh
source "$(dirname "$0")/../integration/leftovers.sh"
# shellcheck source=nbd-functions.sh
source "$(dirname "$0")/nbd-functions.sh"

nbd_test_setup "$@"
requires python3 --version
requires fio --version

MiB=1048576
size=$((16 * MiB))
tmp=$(make_tmpdir)
mnt=$tmp/mnt
mkdir "$mnt"
truncate -s $size "$tmp/a.img" "$tmp/b.img"
head -c 4096 /dev/urandom > "$tmp/pat"
mark=$(kernel_log_mark)

# Set LO_FLAGS_AUTOCLEAR on loopfs node DEV with LOOP_GET_STATUS64 /
# LOOP_SET_STATUS64 (losetup cannot), closing it afterwards.
set_autoclear ()
{
  python3 - "$1" <<'EOF'
import fcntl, os, struct, sys
LOOP_SET_STATUS64, LOOP_GET_STATUS64 = 0x4C04, 0x4C05
LO_FLAGS_AUTOCLEAR = 4
FLAGS_OFFSET = 52  # lo_flags in struct loop_info64 (232 bytes)
fd = os.open(sys.argv[1], os.O_RDWR)
info = bytearray(232)
fcntl.ioctl(fd, LOOP_GET_STATUS64, info)
flags, = struct.unpack_from("I", info, FLAGS_OFFSET)
struct.pack_into("I", info, FLAGS_OFFSET, flags | LO_FLAGS_AUTOCLEAR)
fcntl.ioctl(fd, LOOP_SET_STATUS64, bytes(info))
os.close(fd)
EOF
}

# Bind a.img and b.img as loop0 and loop1 of the instance; sets NBD_A and
# NBD_B to their nbd devices and NBDKITS to the daemon's nbdkit pids.
bind_two ()
{
  losetup_bind "$mnt" /dev/loop0 "$tmp/a.img"
  losetup_bind "$mnt" /dev/loop1 "$tmp/b.img"
  NBD_A=$(nbd_of "$mnt/loop0")
  NBD_B=$(nbd_of "$mnt/loop1")
  [ "$NBD_A" != "$NBD_B" ] || fail "loop0 and loop1 share $NBD_A"
  assert_nbd_connected "loop0" "$NBD_A" $size
  assert_nbd_connected "loop1" "$NBD_B" $size
  NBDKITS=$(children_nbdkit "$LOOPFSD_PID" | tr '\n' ' ')
  assert_eq "number of nbdkit children" 2 "$(wc -w <<<"$NBDKITS")"
}

# Start reading loop0's nbd device over and over in the background
# (READER), so that requests are under way when the instance ends.
start_reader ()
{
  rm -f "$tmp/reader.end"
  { read_until_error "$NBD_A" "$tmp/reader.err" || now_ms > "$tmp/reader.end"; } &
  READER=$!
  cleanup_fn kill_if_alive "$READER"
  sleep 0.5
  process_alive "$READER" || fail "the reader of $NBD_A ended: $(cat "$tmp/reader.err")"
}

# After loopfsd was told to end (WHAT): the reader fails with EIO (the
# device is gone under it), and neither hangs nor meets an nbdkit that
# was already ending; loopfsd exits, its nbdkits end, the mount goes
# and both nbd devices are disconnected.
check_instance_gone ()
{
  local what=$1 i
  # 60 s: the dead-connection and request timeouts bound it; under
  # ASan in TCG the daemon's teardown alone has taken over 10 s.
  for ((i = 0; i < 600; i++)); do
    process_alive "$READER" || break
    sleep 0.1
  done
  ! process_alive "$READER" \
    || fail "$what: the reader of $NBD_A still runs 60 s later ($(task_state "$READER"))"
  wait "$READER" 2>/dev/null || true
  echo "$what: the reader of $NBD_A ended $(($(cat "$tmp/reader.end") - ENDED_AT))" \
    "ms after the instance was told to end: $(cat "$tmp/reader.err")"
  reader_saw_device_end "$tmp/reader.err" \
    || fail "$what: the reader of $NBD_A: expected EIO, got: $(cat "$tmp/reader.err")"
  wait_gone "$LOOPFSD_PID" || fail "$what: loopfsd $LOOPFSD_PID did not exit"
  wait_all_gone 5000 $NBDKITS >/dev/null \
    || fail "$what: nbdkit ($NBDKITS) still running 5 s after loopfsd exited"
  ! is_mounted "$mnt" || fail "$what: $mnt still mounted"
  wait_nbd_disconnected "$what" "$NBD_A"
  wait_nbd_disconnected "$what" "$NBD_B"
  assert_no_nbd_connected "$what"
}

start_loopfsd_log "$tmp/loopfsd.log" "$mnt"

# --- LO_FLAGS_AUTOCLEAR set, then the last close ------------------------------------
losetup_bind "$mnt" /dev/loop0 "$tmp/a.img"
nbd=$(nbd_of "$mnt/loop0")
assert_nbd_connected "before AUTOCLEAR" "$nbd" $size
set_autoclear "$mnt/loop0" || fail "LOOP_SET_STATUS64 with LO_FLAGS_AUTOCLEAR"
# set_autoclear's close was the last one.
wait_nbd_disconnected "AUTOCLEAR, last close" "$nbd"
expect_errno ENXIO "$LOOP_HELPER" status "$mnt/loop0"
assert_no_nbd "$mnt/loop0"

# --- LOOP_CLR_FD while held open arms AUTOCLEAR ------------------------------------
losetup_bind "$mnt" /dev/loop0 "$tmp/a.img"
nbd=$(nbd_of "$mnt/loop0")
exec {held}<"$mnt/loop0"
cleanup_fn eval "exec $held<&- 2>/dev/null"
out=$("$LOOP_HELPER" clr "$mnt/loop0") || fail "clr while held: $out"
assert_eq "flags after LOOP_CLR_FD while held (LO_FLAGS_AUTOCLEAR)" 4 \
  "$(status_field "$mnt/loop0" flags)"
sleep 0.5
assert_nbd_connected "held after LOOP_CLR_FD" "$nbd" $size
assert_eq "user.loopfs.nbd while held" "$nbd" "$(nbd_of "$mnt/loop0")"
exec {held}<&-
wait_nbd_disconnected "LOOP_CLR_FD, then the last close" "$nbd"
expect_errno ENXIO "$LOOP_HELPER" status "$mnt/loop0"

# --- LOOP_SET_CAPACITY: the nbd device grows in place ----------------------------
# NBD_CMD_RECONFIGURE changes the size of the same /dev/nbdX, with new
# connections to the new nbdkit in place of the old ones, while two
# readers keep the device busy, one request at a time (dd) and sixteen
# at a time (fio): none of their requests fails.
grown=$((24 * MiB))
losetup_bind "$mnt" /dev/loop0 "$tmp/a.img"
nbd=$(nbd_of "$mnt/loop0")
assert_nbd_connected "before LOOP_SET_CAPACITY" "$nbd" $size
read_until_error "$nbd" "$tmp/resize-reader.err" &
resize_reader=$!
cleanup_fn kill_if_alive "$resize_reader"
fio --name=resize --filename="$nbd" --rw=randread --bs=4k --iodepth=16 \
  --ioengine=libaio --direct=1 --size=$size --time_based --runtime=10 \
  --output-format=json --output="$tmp/fio.json" >"$tmp/fio.out" 2>&1 &
resize_fio=$!
cleanup_fn kill_if_alive "$resize_fio"
sleep 0.5
process_alive "$resize_reader" \
  || fail "the reader of $nbd ended: $(cat "$tmp/resize-reader.err")"
truncate -s $grown "$tmp/a.img"
assert_eq "loop0 before LOOP_SET_CAPACITY" $size "$(status_field "$mnt/loop0" size)"
old_kits=$(children_nbdkit "$LOOPFSD_PID" | tr '\n' ' ')
resize_mark=$(kernel_log_mark)
start=$(now_ms)
out=$("$LOOP_HELPER" capacity "$mnt/loop0" rw) || fail "LOOP_SET_CAPACITY: $out"
took=$(($(now_ms) - start))
assert_eq "loop0 after LOOP_SET_CAPACITY" $grown "$(status_field "$mnt/loop0" size)"
assert_eq "user.loopfs.nbd after LOOP_SET_CAPACITY (same device)" "$nbd" \
  "$(nbd_of "$mnt/loop0")"
assert_nbd_connected "after LOOP_SET_CAPACITY" "$nbd" $grown
echo "LOOP_SET_CAPACITY: $nbd has $(nbd_size "$nbd") bytes in place;" \
  "the ioctl took $took ms"
sleep 1
process_alive "$resize_reader" \
  || fail "the reader of $nbd ended during the resize: $(cat "$tmp/resize-reader.err")"
kill -KILL "$resize_reader"
wait "$resize_reader" 2>/dev/null || true
wait "$resize_fio" || fail "fio on $nbd during the resize: $(cat "$tmp/fio.out")"
fio_result=$(python3 - "$tmp/fio.json" <<'EOF'
import json, sys
job = json.load(open(sys.argv[1]))["jobs"][0]
print(job["error"], job["read"]["total_ios"],
      "%.0f" % (job["read"]["clat_ns"]["max"] / 1e6))
EOF
) || fail "fio's report: $(cat "$tmp/fio.json")"
read -r fio_error fio_ios fio_max_ms <<<"$fio_result"
assert_eq "fio's error during the resize" 0 "$fio_error"
echo "LOOP_SET_CAPACITY: fio (16 requests at a time) read $fio_ios times," \
  "the slowest read took $fio_max_ms ms"
echo "LOOP_SET_CAPACITY: the kernel's nbd messages:"
dmesg | tail -n +$((resize_mark + 1)) | grep nbd || true
bad=$(dmesg | tail -n +$((resize_mark + 1)) |
        grep -E "nbd[0-9]+: Other side returned error|I/O error, dev ${nbd#/dev/}" ||
        true)
[ -z "$bad" ] || fail "LOOP_SET_CAPACITY: requests to $nbd failed: $bad"
# The grown part works through the nbd device.
out=$("$LOOP_HELPER" pwrite "$nbd" $((grown - 4096)) 4096 direct < "$tmp/pat") \
  || fail "pwrite at the end of the grown $nbd: $out"
tail -c 4096 "$tmp/a.img" | cmp -s - "$tmp/pat" \
  || fail "the write at the end of the grown $nbd is not in the image"
# The old nbdkit is stopped; one nbdkit serves loop0.
# shellcheck disable=SC2086 # a list of pids
wait_all_gone 5000 $old_kits >/dev/null \
  || fail "the nbdkit ($old_kits) replaced at LOOP_SET_CAPACITY still runs"
assert_eq "nbdkit children after LOOP_SET_CAPACITY" 1 \
  "$(children_nbdkit "$LOOPFSD_PID" | wc -l)"
loop_clr "$mnt/loop0"
wait_nbd_disconnected "after LOOP_SET_CAPACITY and LOOP_CLR_FD" "$nbd"
truncate -s $size "$tmp/a.img"
assert_no_nbd_connected "before umount"
# The resize ended the old connections under the device on purpose:
# the checks of clean disconnects below look at what comes after.
mark=$(kernel_log_mark)

# --- umount of the instance ------------------------------------------------------
bind_two
start_reader
ENDED_AT=$(now_ms)
umount "$mnt"
check_instance_gone "after umount"
assert_clean_disconnects_since "$mark" "after umount"

# --- SIGTERM of loopfsd ------------------------------------------------------------
start_loopfsd_log "$tmp/loopfsd-term.log" "$mnt"
bind_two
start_reader
ENDED_AT=$(now_ms)
kill -TERM "$LOOPFSD_PID"
check_instance_gone "after SIGTERM"

assert_clean_disconnects_since "$mark" "all along"
echo "PASS"
