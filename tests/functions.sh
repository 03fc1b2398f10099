# loopfs test helpers, sourced by the shell tests.
#
# A test calls `cleanup_fn CMD...` for everything it creates, so one
# EXIT trap undoes it all in reverse order, also when the test fails.
# `start_loopfsd DIR` mounts an instance and registers its teardown;
# `new_instance SIZE` does so in a fresh directory with an image;
# `in_sandbox DIR CMD...` runs CMD where /dev/loop-control and
# /dev/loopN are the instance's, so unmodified losetup, mkfs and
# fuse2fs use it as they would use the host's devices.

set -u

# Tests compare tool messages and sorted listings.
export LC_ALL=C

: "${LOOPFSD:=loopfsd}"
: "${LOOPFS_SANDBOX_DEVICES:=64}"
: "${LOOP_HELPER:=loop-helper}"

_cleanups=()

# Register a command to run at exit (last registered runs first).
cleanup_fn ()
{
  _cleanups+=("$(printf '%q ' "$@")")
}

# The exit status of the test while cleanups run; a cleanup may set it
# to 1 (e.g. on a sanitizer report in a daemon log).
TEST_STATUS=0

_run_cleanups ()
{
  TEST_STATUS=$?
  local i
  set +e
  for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do
    eval "${_cleanups[$i]}"
  done
  # make_tmpdir usually runs in $(...), whose cleanup_fn is lost with
  # the subshell; its directories carry this shell's pid instead.
  rm -rf --one-file-system "${TMPDIR:-/tmp}/loopfs-test.$$."*
  exit "$TEST_STATUS"
}
trap _run_cleanups EXIT

# Fail the test with a message.
fail ()
{
  echo "FAIL: $*" >&2
  exit 1
}

# Skip the test (exit 77, meson's skip code) unless a command exists.
requires ()
{
  "$@" >/dev/null 2>&1 || { echo "SKIP: missing: $*" >&2; exit 77; }
}

requires_root ()
{
  [ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root" >&2; exit 77; }
}

# Re-run the test script (with ARGS) in a mount namespace of its own, so
# that its loopfs mounts never appear where another process's unshare(1)
# could copy them: such a copy keeps the FUSE connection, and with it the
# daemon, alive after the test's umount.  Copies of other FUSE mounts are
# detached in the new namespace for the same reason in reverse.
isolate_mounts ()
{
  local m
  if [ -z "${LOOPFS_TEST_ISOLATED:-}" ]; then
    exec unshare -m --propagation private -- \
      env LOOPFS_TEST_ISOLATED=1 /bin/bash "$0" "$@"
  fi
  awk '{ for (i = 7; $i != "-"; i++) ; if ($(i + 1) ~ /^fuse/) print $5 }' \
    /proc/self/mountinfo | tac | while read -r m; do
    umount -l "$(printf '%b' "$m")" 2>/dev/null || true
  done
}

# Make a private temporary directory removed at exit (also when called
# as $(make_tmpdir): $$ is the test shell's pid in subshells too).
make_tmpdir ()
{
  local d
  d=$(mktemp -d "${TMPDIR:-/tmp}/loopfs-test.$$.XXXXXX") || fail "mktemp"
  cleanup_fn rm -rf "$d"
  echo "$d"
}

# Wait until the process PID has exited (up to 10 s).
wait_gone ()
{
  local pid=$1 i
  for ((i = 0; i < 100; i++)); do
    [ -d "/proc/$pid" ] || return 0
    # A zombie has exited; its parent reaps it.
    [ "$(awk '/^State:/ {print $2}' "/proc/$pid/status" 2>/dev/null)" = Z ] && return 0
    sleep 0.1
  done
  return 1
}

# Is DIR a mount point?  Read from mountinfo: stat(2) fails on the mount
# of a daemon that died (ENOTCONN), so mountpoint(1) cannot tell.
is_mounted ()
{
  awk -v m="$1" '$5 == m { found = 1 } END { exit !found }' /proc/self/mountinfo
}

# The FUSE connection number of the mount at DIR (the minor of its st_dev,
# read from mountinfo so that a stuck daemon is not asked).
fuse_connection ()
{
  awk -v m="$1" '$5 == m { split($3, d, ":"); print d[2] }' /proc/self/mountinfo
}

# Abort FUSE connection CONN through fusectl (mounted in a throwaway
# namespace): the only way out for a daemon stuck waiting on itself.
_abort_fuse_connection ()
{
  unshare -m --propagation private -- /bin/sh -c '
    mount -t fusectl fusectl /sys/fs/fuse/connections 2>/dev/null
    echo 1 > "/sys/fs/fuse/connections/$1/abort"' abort "$1"
}

# Unmount DIR (lazily as a last resort) and wait for daemon PID to exit;
# kill it if it does not, and if even that does not end it, abort its
# FUSE connection CONN (when given).  Every step has a time limit, so a
# deadlocked daemon cannot hang the test's cleanup.
_stop_loopfsd ()
{
  local dir=$1 pid=$2 conn=${3:-}
  if is_mounted "$dir"; then
    timeout -k 2 10 umount "$dir" 2>/dev/null \
      || timeout -k 2 5 umount -l "$dir"
  fi
  wait_gone "$pid" && return 0
  echo "loopfsd $pid did not exit; killing it" >&2
  kill -KILL "$pid" 2>/dev/null
  wait_gone "$pid" && return 0
  [ -n "$conn" ] || return 1
  echo "loopfsd $pid is stuck; aborting FUSE connection $conn" >&2
  _abort_fuse_connection "$conn"
  wait_gone "$pid"
  if is_mounted "$dir"; then
    umount -l "$dir"
  fi
}

# The pid of the loopfsd serving mount DIR.
loopfsd_pid ()
{
  local dir=$1 p comm arg
  # Shell builtins only: this runs over every process, and starting a
  # program per process is slow (seconds in the test VM).
  for p in /proc/[0-9]*; do
    read -r comm 2>/dev/null < "$p/comm" || continue
    [ "$comm" = loopfsd ] || continue
    while IFS= read -r -d '' arg; do
      if [ "$arg" = "$dir" ]; then
        echo "${p#/proc/}"
        return 0
      fi
    done 2>/dev/null < "$p/cmdline"
  done
  return 1
}

# Mount an instance at DIR with extra arguments; sets LOOPFSD_PID.
start_loopfsd ()
{
  local dir=$1
  shift
  "$LOOPFSD" "$@" "$dir" || fail "loopfsd $* $dir"
  LOOPFSD_PID=$(loopfsd_pid "$dir") || fail "no loopfsd process for $dir"
  cleanup_fn _stop_loopfsd "$dir" "$LOOPFSD_PID" "$(fuse_connection "$dir")"
}

# Print daemon log LOG when the test failed, and fail the test when LOG
# holds a sanitizer report (ASan, UBSan, LSan) even if it passed.
_check_loopfsd_log ()
{
  local log=$1
  if [ -s "$log" ] && grep -qE 'Sanitizer|runtime error:' "$log"; then
    echo "FAIL: sanitizer report in $log" >&2
    TEST_STATUS=1
  fi
  if [ "$TEST_STATUS" -ne 0 ] && [ "$TEST_STATUS" -ne 77 ] && [ -s "$log" ]; then
    echo "--- $log ---" >&2
    cat "$log" >&2
  fi
}

# start_loopfsd with its messages going to LOG (-o log=LOG), which is
# printed at exit if the test fails.
start_loopfsd_log ()
{
  local log=$1 dir=$2
  shift 2
  cleanup_fn _check_loopfsd_log "$log"
  start_loopfsd "$dir" -o "log=$log" "$@"
}

# A fresh instance, the common start of a test: sets tmp (a private
# temporary directory, removed at exit), mnt ($tmp/mnt, where the
# instance is mounted with its messages in $tmp/loopfsd.log, checked at
# exit like start_loopfsd_log's) and img ($tmp/disk.img, made as a
# sparse file of SIZE bytes unless SIZE is "-"); LOOPFSD_PID is the
# daemon's.  LOOPFSD-ARGS... go to loopfsd (e.g. -o max=4).
new_instance ()
{
  local size=$1
  shift
  tmp=$(make_tmpdir)
  mnt=$tmp/mnt
  img=$tmp/disk.img
  mkdir "$mnt"
  [ "$size" = - ] || truncate -s "$size" "$img"
  start_loopfsd_log "$tmp/loopfsd.log" "$mnt" "$@"
}

# Run CMD..., which must fail printing ERRNO (as loop-helper does).
expect_errno ()
{
  local want=$1 out rc=0
  shift
  out=$("$@" 2>&1) || rc=$?
  [ "$rc" -ne 0 ] || fail "$* succeeded, expected $want"
  [ "$rc" -ne 124 ] || fail "$*: timed out (hung), expected $want"
  [ "$(tail -n 1 <<<"$out")" = "$want" ] || fail "$*: expected $want, got: $out"
}

# Print field KEY of `loop-helper status DEV`.
status_field ()
{
  local dev=$1 key=$2 out
  out=$("$LOOP_HELPER" status "$dev") || fail "status $dev: $out"
  sed -n "s/^$key=//p" <<<"$out"
}

# Fail unless GOT equals WANT; WHAT names the value.
assert_eq ()
{
  [ "$3" = "$2" ] || fail "$1: expected '$2', got '$3'"
}

# Print the pids of the children of process PARENT whose command name
# is COMM, one a line (shell builtins only: this looks at every
# process).
children_named ()
{
  local parent=$1 want=$2 p comm key value
  for p in /proc/[0-9]*; do
    # (2>/dev/null first: it must cover the redirection of a process
    # that has just gone.)
    read -r comm 2>/dev/null < "$p/comm" || continue
    [ "$comm" = "$want" ] || continue
    while read -r key value; do
      if [ "$key" = PPid: ]; then
        [ "$value" = "$parent" ] && echo "${p#/proc/}"
        break
      fi
    done 2>/dev/null < "$p/status"
  done
  return 0
}

# The pids of nbdkit processes whose parent is PID.
children_nbdkit ()
{
  children_named "$1" nbdkit
}

# Run CMD in a private mount namespace where /dev is a small tmpfs with
# the usual character devices, /dev/loop-control is the instance's and
# /dev/loopN leads to DIR/loopN for every N (dangling until allocated,
# like a missing node).  The instance stays mounted at DIR.
in_sandbox ()
{
  local dir=$1
  shift
  unshare -m --propagation private -- /bin/bash -c '
    set -e
    dir=$1; n=$2; shift 2
    dev=$(mktemp -d /tmp/loopfs-dev.XXXXXX)
    mount -t tmpfs -o mode=0755,size=64k loopfs-dev "$dev"
    for c in null zero full random urandom tty fuse; do
      touch "$dev/$c"
      mount --bind "/dev/$c" "$dev/$c"
    done
    ln -s /proc/self/fd "$dev/fd"
    ln -s /proc/self/fd/0 "$dev/stdin"
    ln -s /proc/self/fd/1 "$dev/stdout"
    ln -s /proc/self/fd/2 "$dev/stderr"
    mkdir "$dev/shm" "$dev/pts"
    touch "$dev/loop-control"
    mount --bind "$dir/loop-control" "$dev/loop-control"
    links=()
    for ((i = 0; i < n; i++)); do links+=("$dir/loop$i"); done
    ln -s "${links[@]}" "$dev/"
    # A bind, not a move: a user namespace may not move mounts it did
    # not make, and a rootless sandbox is such a namespace.
    mount --rbind "$dev" /dev
    umount -l "$dev"
    rmdir "$dev"
    set +e
    "$@"
  ' in_sandbox "$dir" "$LOOPFS_SANDBOX_DEVICES" "$@"
}
