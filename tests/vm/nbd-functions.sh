# shellcheck shell=bash disable=SC2034
# (Variables set here are for the sourcing test.)
#
# Helpers for the VM tests of the kernel nbd path (tests/vm/test-nbd-*.sh),
# sourced after ../functions.sh and ../integration/leftovers.sh.
#
# A bound loopN of an instance with nbd on names its kernel device in
# the extended attribute user.loopfs.nbd ("/dev/nbdX").  The kernel
# shows a connected device as /sys/block/nbdX/backend (our identifier,
# "loopfs:<pidns>:<pid>:<start>:<instance>:loop<N>") and a non-zero
# /sys/block/nbdX/size; after a disconnect, once nobody has the device
# open, the backend file is gone and the size is 0.

# Find loopfsd and loop-helper: $LOOPFSD and $LOOP_HELPER, else under
# BUILDDIR, the first argument.
vm_find_binaries ()
{
  if [ "$LOOPFSD" = loopfsd ]; then
    [ $# -ge 1 ] || fail "give BUILDDIR or set LOOPFSD"
    LOOPFSD=$1/fused/loopfsd
  fi
  if [ "$LOOP_HELPER" = loop-helper ]; then
    [ $# -ge 1 ] || fail "give BUILDDIR or set LOOP_HELPER"
    LOOP_HELPER=$1/tests/integration/loop-helper
  fi
  [ -x "$LOOPFSD" ] || fail "no loopfsd at $LOOPFSD"
  [ -x "$LOOP_HELPER" ] || fail "no loop-helper at $LOOP_HELPER"
}

# Check that the test runs in the VM as root, find loopfsd and
# loop-helper ($LOOPFSD and $LOOP_HELPER, else under BUILDDIR, the
# test's first argument) and load the nbd and ext4 modules.
nbd_test_setup ()
{
  if [ -z "${LOOPFS_VM:-}" ]; then
    echo "SKIP: runs in the test VM: tests/vm/run-vm $0 BUILDDIR" >&2
    exit 77
  fi
  requires_root
  vm_find_binaries "$@"
  requires losetup --version
  modprobe nbd || fail "modprobe nbd"
  modprobe ext4 || fail "modprobe ext4"
  [ -b /dev/nbd0 ] || fail "/dev/nbd0 is not a block device after modprobe nbd"
  # Each symbolic link in_sandbox makes costs an exec, tens of
  # milliseconds under TCG: the tests use the first few devices only.
  LOOPFS_SANDBOX_DEVICES=4
  # Nothing is connected before the test starts, so that every check
  # of "no nbd device connected" is about what the test did.
  [ -z "$(connected_nbds)" ] \
    || fail "nbd devices connected before the test: $(connected_nbds)"
}

# Print the nbd device (/dev/nbdX) that loopfs node FILE is attached to,
# as its user.loopfs.nbd says; fail if it has none or names no block
# device.
nbd_of ()
{
  local file=$1 out
  out=$("$LOOP_HELPER" xattr "$file" user.loopfs.nbd) \
    || fail "user.loopfs.nbd of $file: $out"
  [[ $out =~ ^/dev/nbd[0-9]+$ ]] \
    || fail "user.loopfs.nbd of $file: expected /dev/nbdN, got '$out'"
  [ -b "$out" ] || fail "$out (user.loopfs.nbd of $file) is not a block device"
  echo "$out"
}

# Fail unless loopfs node FILE has no user.loopfs.nbd (ENODATA).
assert_no_nbd ()
{
  expect_errno ENODATA "$LOOP_HELPER" xattr "$1" user.loopfs.nbd
}

# The sysfs directory of block device DEV (/dev/nbdX).
nbd_sysfs ()
{
  echo "/sys/block/${1#/dev/}"
}

# Print the backend identifier of DEV, nothing when it has none.
nbd_backend ()
{
  cat "$(nbd_sysfs "$1")/backend" 2>/dev/null || true
}

# Print the size in bytes of DEV as sysfs shows it (512-byte sectors).
nbd_size ()
{
  local sectors
  read -r sectors < "$(nbd_sysfs "$1")/size" || fail "no size for $1 in sysfs"
  echo $((sectors * 512))
}

# Print the connected nbd devices (/dev/nbdX, one a line): those with a
# backend file.
connected_nbds ()
{
  local f
  for f in /sys/block/nbd*/backend; do
    [ -e "$f" ] || continue
    f=${f%/backend}
    echo "/dev/${f##*/}"
  done
}

# Fail unless DEV is connected with a loopfs backend identifier and,
# when SIZE is given, has SIZE bytes in sysfs and for BLKGETSIZE64.
# WHAT names the case.
assert_nbd_connected ()
{
  local what=$1 dev=$2 size=${3:-} id
  id=$(nbd_backend "$dev")
  [[ $id == loopfs:* ]] \
    || fail "$what: backend of $dev: expected loopfs:..., got '$id'"
  [ "$(nbd_size "$dev")" -gt 0 ] || fail "$what: $dev has size 0"
  if [ -n "$size" ]; then
    assert_eq "$what: sysfs size of $dev" "$size" "$(nbd_size "$dev")"
    assert_eq "$what: BLKGETSIZE64 of $dev" "$size" \
      "$(blockdev --getsize64 "$dev")"
  fi
}

# Is DEV disconnected: no backend file and size 0?
nbd_disconnected ()
{
  [ ! -e "$(nbd_sysfs "$1")/backend" ] && [ "$(nbd_size "$1")" = 0 ]
}

# Wait up to 5 s for DEV to be disconnected; fail if it is not.  WHAT
# names the case.  Prints how long it took.
wait_nbd_disconnected ()
{
  local what=$1 dev=$2 i
  for ((i = 0; i < 50; i++)); do
    if nbd_disconnected "$dev"; then
      echo "$what: $dev disconnected after $((i * 100)) ms"
      return 0
    fi
    sleep 0.1
  done
  fail "$what: $dev still connected 5 s later" \
    "(backend '$(nbd_backend "$dev")', size $(nbd_size "$dev"))"
}

# Fail if some nbd device is still connected.  WHAT names the case.
assert_no_nbd_connected ()
{
  local left
  left=$(connected_nbds | tr '\n' ' ')
  [ -z "$left" ] || fail "$1: nbd devices still connected: $left"
}

# Print the sha256 of LEN bytes at byte OFF (both multiples of 1 MiB)
# of FILE, read with O_DIRECT when the last argument is "direct", so
# that no page cache answers instead of the device.
region_sum ()
{
  local file=$1 off=$2 len=$3 flag=
  [ "${4:-}" != direct ] || flag=iflag=direct
  dd if="$file" bs=1M skip=$((off >> 20)) count=$((len >> 20)) $flag \
    status=none | sha256sum | cut -d' ' -f1
}

# Bind IMG in instance MNT with `losetup -f --show OPTIONS... IMG` run in
# the sandbox; fail unless it prints /dev/loopN for the expected N.
losetup_bind ()
{
  local mnt=$1 want=$2 out
  shift 2
  out=$(in_sandbox "$mnt" losetup -f --show "$@") \
    || fail "losetup -f --show $* in $mnt failed: $out"
  assert_eq "losetup -f --show $*" "$want" "$out"
}

# Unmount DIR if it is mounted (a cleanup, for a mount the test
# normally unmounts itself).
unmount_if_mounted ()
{
  ! is_mounted "$1" || umount "$1"
}

# Unbind loopfs node DEV with LOOP_CLR_FD and check it is unbound.
loop_clr ()
{
  local out
  out=$("$LOOP_HELPER" clr "$1") || fail "clr $1: $out"
  expect_errno ENXIO "$LOOP_HELPER" status "$1"
}

# Print how many lines the kernel log has, for kernel_log_since.
kernel_log_mark ()
{
  dmesg | wc -l
}

# Fail if the kernel logged, after line MARK, that an nbd connection
# broke under a connected device: the receive side read an error or
# end of file without a disconnect having been asked first, or the
# server refused requests (ESHUTDOWN from an nbdkit told to end) before
# the kernel began to disconnect the device, which is what happens when
# nbdkit ends before the device is disconnected.  A refusal after the
# kernel's "NBD_DISCONNECT" (until the device is connected again) is
# nbdkit 1.32 answering a request it held when it read NBD_CMD_DISC:
# the kernel fails such requests with EIO at a disconnect anyway.  WHAT
# names the case.
assert_clean_disconnects_since ()
{
  local mark=$1 what=$2 line dev bad=
  local -A disconnecting=()
  while IFS= read -r line; do
    [[ $line =~ (nbd[0-9]+):\ (.*)$ ]] || continue
    dev=${BASH_REMATCH[1]}
    case ${BASH_REMATCH[2]} in
      NBD_DISCONNECT*) disconnecting[$dev]=1 ;;
      "detected capacity change from 0 to "*) unset "disconnecting[$dev]" ;;
      "Other side returned error"*)
        [ -n "${disconnecting[$dev]:-}" ] || bad+="$line"$'\n' ;;
      "Receive control failed"*|"Dead connection"*) bad+="$line"$'\n' ;;
    esac
  done <<<"$(dmesg | tail -n +$((mark + 1)))"
  [ -z "$bad" ] || fail "$what: the kernel saw nbd connections break: $bad"
}

# Print the state and kernel wait channel of process PID.
task_state ()
{
  echo "state $(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null)," \
    "wchan $(cat "/proc/$1/wchan" 2>/dev/null)"
}

# Read the device over and over (O_DIRECT, so every read reaches the
# kernel's nbd queue) until a read fails; the error goes to FILE.  A
# disconnect that falls between two reads is not an error for the next
# one: opening a disconnected nbd device succeeds and it reads as empty
# (size 0), so that case ends the loop too, saying so in FILE.
read_until_error ()
{
  local dev=$1 file=$2
  while dd if="$dev" of=/dev/null bs=64k iflag=direct status=none 2>"$file"; do
    if [ "$(cat "/sys/block/${dev#/dev/}/size")" = 0 ]; then
      echo "$dev: disconnected between two reads" >"$file"
      break
    fi
  done
  return 1
}

# Did the reader that wrote FILE end because its device went away: a
# read failed with EIO, or the device was found disconnected?
reader_saw_device_end ()
{
  grep -qE "Input/output error|disconnected between two reads" "$1"
}

# Kill process PID if it still runs (a cleanup).
kill_if_alive ()
{
  ! process_alive "$1" || kill -KILL "$1"
}

# Run CMD... in the background and wait up to SECS seconds for it to
# end; sets RUN_STATUS to its exit status and RUN_MS to how long it
# ran.  Fails, saying in which state it is, if it is still running at
# the deadline: a task stuck on a dead nbd device would be in D state
# forever, which `timeout` cannot end.
run_with_deadline ()
{
  local secs=$1 start pid
  shift
  start=$(now_ms)
  "$@" &
  pid=$!
  while process_alive "$pid"; do
    if [ $(($(now_ms) - start)) -ge $((secs * 1000)) ]; then
      local state
      state=$(task_state "$pid")
      kill -KILL "$pid" 2>/dev/null || true
      fail "$* still running after $secs s ($state)"
    fi
    sleep 0.1
  done
  RUN_STATUS=0
  wait "$pid" || RUN_STATUS=$?
  RUN_MS=$(($(now_ms) - start))
}

# Print "PID/TID D COMM WCHAN" for every task (threads included) in
# uninterruptible sleep (D).
d_state_tasks ()
{
  local t stat rest comm
  for t in /proc/[0-9]*/task/[0-9]*; do
    read -r stat < "$t/stat" 2>/dev/null || continue
    rest=${stat##*) }
    [ "${rest%% *}" = D ] || continue
    comm=${stat#*(}
    comm=${comm%)*}
    t=${t#/proc/}
    echo "${t%%/*}/${t##*/} D $comm $(cat "/proc/$t/wchan" 2>/dev/null)"
  done
}

# Wait up to SECS seconds for a moment when no task is in D state (one
# may pass through it briefly); fail listing them if there is none.
# WHAT names the case.
wait_no_d_state ()
{
  local what=$1 secs=$2 i tasks
  for ((i = 0; i < secs * 10; i++)); do
    tasks=$(d_state_tasks)
    [ -n "$tasks" ] || return 0
    sleep 0.1
  done
  fail "$what: tasks stuck in D state for $secs s: $tasks"
}

# Wait up to MS milliseconds for DEV to be disconnected (no backend
# file, size 0), counting from START_MS (now_ms); prints how long after
# START_MS it was.  Fails if it is still connected then.  WHAT names the
# case.
wait_nbd_disconnected_since ()
{
  local what=$1 dev=$2 start=$3 ms=$4 now
  while :; do
    now=$(now_ms)
    if nbd_disconnected "$dev"; then
      echo $((now - start))
      return 0
    fi
    [ $((now - start)) -lt "$ms" ] \
      || fail "$what: $dev still connected $((now - start)) ms later" \
           "(backend '$(nbd_backend "$dev")', size $(nbd_size "$dev"))"
    sleep 0.05
  done
}
