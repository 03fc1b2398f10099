#!/bin/bash
# Differential conformance test: loopfs against the kernel's loop driver.
#
# Runs loop-scenarios once against the machine's loop driver (kernel.out),
# then starts loopfsd on a scratch mountpoint and runs the same binary in a
# private mount namespace whose /dev is a small tmpfs view: /dev/loop-control
# and /dev/loopN (N = 0..1023) are links into the loopfs mount, and the few
# real character devices a program needs are bind-mounted in (loopfs.out).
# The outputs must be equal after applying the named differences below
# (each explained in DIFFERENCES.md); on a mismatch a unified diff is
# printed and the exit status is 1.
#
# Environment:
#   LOOP_SCENARIOS  path of the loop-scenarios binary (required)
#   LOOP_SCENARIOS_32  the same program built for i386 (-m32), optional:
#                   when set, both halves run it too (kernel32.out,
#                   loopfs32.out), so 32-bit callers meet the compat paths
#   LOOPFSD         path of loopfsd (default: fused/loopfsd under the build dir)
#   KEEP_OUTPUT     directory to copy kernel.out, loopfs.out and the logs to
#   CONFORMANCE_TIMEOUT  seconds before the run gives up and cleans up
#                   (default 240, below the meson test timeout, so that the
#                   cleanup runs before meson kills the process group)
#
# Usage: run-conformance.sh [--kernel-only] [--only SCENARIO]
#   --kernel-only   run only the kernel half (no loopfsd needed)
#   --only NAME     run one scenario (as loop-scenarios --only)
#
# Needs root (loop devices, mounts).  Cleans up the mount, the daemon and
# its temporary files on every exit path.

set -euo pipefail

kernel_only=false
only_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --kernel-only) kernel_only=true ;;
    --only) only_args=(--only "$2"); shift ;;
    *) echo "usage: $0 [--kernel-only] [--only SCENARIO]" >&2; exit 2 ;;
  esac
  shift
done

scenarios=${LOOP_SCENARIOS:?set LOOP_SCENARIOS to the loop-scenarios binary}
scenarios32=${LOOP_SCENARIOS_32:-}
if [ -n "$scenarios32" ] && ! "$scenarios32" --list >/dev/null 2>&1; then
  echo "run-conformance: $scenarios32 does not run here (no 32-bit support); skipping it" >&2
  scenarios32=
fi
# The builds to run: "TAG BINARY" (TAG names the output files).
builds=("|$scenarios")
[ -n "$scenarios32" ] && builds+=("32|$scenarios32")
loopfsd=${LOOPFSD:-fused/loopfsd}

if [ "$(id -u)" -ne 0 ]; then
  echo "run-conformance: needs root (loop devices and mounts); skipping" >&2
  exit 77
fi
if [ ! -c /dev/loop-control ]; then
  echo "run-conformance: no kernel loop driver (/dev/loop-control); skipping" >&2
  exit 77
fi

work=$(mktemp -d /tmp/loopfs-conformance.XXXXXX)
mnt=$work/mnt
view=$work/dev
# loop-scenarios keeps its backing files under $TMPDIR: inside $work they
# go away with it even when a run is stopped before it removes them.
export TMPDIR=$work
# A small tmpfs for the scenario zero_tmpfs: a filesystem without zero
# ranges.  Mounted here, it is seen by both halves and by loopfsd.
export LOOP_SCENARIOS_TMPFS=$work/tmpfs
mkdir "$LOOP_SCENARIOS_TMPFS"
mount -t tmpfs -o size=4m,mode=0700 loopfs-conformance "$LOOP_SCENARIOS_TMPFS"
daemon_pid=
run_pid=
watchdog_pid=

# Is MNT a mount point?  Read from mountinfo: stat(2) fails on the mount
# of a daemon that died (ENOTCONN), so mountpoint(1) cannot tell.
mounted ()
{
  awk -v m="$mnt" '$5 == m { found = 1 } END { exit !found }' /proc/self/mountinfo
}

# Is process $1 still running (not gone, not a zombie)?
alive ()
{
  [ -n "$1" ] && [ -e "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

# Wait up to $2 tenths of a second for process $1 to end.
wait_gone ()
{
  local i
  for i in $(seq "$2"); do
    alive "$1" || return 0
    sleep 0.1
  done
  ! alive "$1"
}

# Abort the FUSE connection of MNT through fusectl (in a private mount
# namespace, so nothing is mounted on the machine): every request in
# flight fails, which frees a daemon or a scenario stuck in one.
abort_connection ()
{
  local conn
  conn=$(awk -v m="$mnt" '$5 == m { split($3, d, ":"); print d[2] }' /proc/self/mountinfo)
  [ -n "$conn" ] || return 0
  echo "run-conformance: aborting FUSE connection $conn of $mnt" >&2
  unshare -m --propagation private -- /bin/sh -c '
    mount -t fusectl fusectl /sys/fs/fuse/connections 2>/dev/null
    echo 1 >"/sys/fs/fuse/connections/$1/abort"' abort "$conn"
}

# Unmount, stop the daemon (by pid) and remove everything we made.  Never
# waits on the mount: a daemon that does not end on SIGTERM gets its
# connection aborted before anything else touches the mount.
cleanup ()
{
  local status=$?
  set +e
  if [ -n "${KEEP_OUTPUT:-}" ]; then
    mkdir -p "$KEEP_OUTPUT" && cp -f "$work"/*.out "$work"/*.log "$KEEP_OUTPUT"/ 2>/dev/null
  fi
  if alive "$daemon_pid"; then
    # loopfsd unmounts itself and ends its backends on SIGTERM.
    kill -TERM "$daemon_pid"
    if ! wait_gone "$daemon_pid" 100; then
      echo "run-conformance: loopfsd $daemon_pid did not exit on SIGTERM" >&2
      mounted && abort_connection
      kill -KILL "$daemon_pid"
      wait_gone "$daemon_pid" 100
    fi
  fi
  if mounted; then
    umount -l "$mnt" || echo "run-conformance: cannot unmount $mnt" >&2
  fi
  # With the daemon gone every FUSE request fails, so a scenario run that
  # was stuck in one ends by itself; stop it if it has not.
  if alive "$run_pid"; then
    kill -TERM "$run_pid"
    wait_gone "$run_pid" 50
  fi
  alive "$watchdog_pid" && kill -TERM "$watchdog_pid"
  umount "$LOOP_SCENARIOS_TMPFS" 2>/dev/null || umount -l "$LOOP_SCENARIOS_TMPFS"
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Say where a run that timed out was stuck: the last steps of each half,
# the daemon's log, and the state and kernel stack of every process of
# the run.
report_stuck ()
{
  local f pid
  for f in kernel.out kernel.log loopfs.out loopfs.log loopfsd.log; do
    [ -s "$work/$f" ] || continue
    echo "--- last lines of $f:"
    tail -n 5 "$work/$f"
  done
  for pid in $({ ps -o pid= --ppid $$; ps -o pid= -g "$(ps -o pgid= $$)"; } | sort -un); do
    [ -e "/proc/$pid" ] || continue
    echo "--- $pid $(tr '\0\n' '  ' <"/proc/$pid/cmdline" | cut -c1-160)" \
      "($(awk '/^State:/ {print $2}' "/proc/$pid/status"), wchan $(cat "/proc/$pid/wchan"))"
    cat "/proc/$pid/stack" 2>/dev/null
  done
} 2>/dev/null

# Give up (through the TERM trap, so the cleanup runs) after the deadline.
timeout_s=${CONFORMANCE_TIMEOUT:-240}
(
  trap 'kill "$sleep_pid" 2>/dev/null; wait "$sleep_pid"; exit 0' TERM
  sleep "$timeout_s" &
  sleep_pid=$!
  wait "$sleep_pid"
  echo "run-conformance: timed out after ${timeout_s}s; where it was:" >&2
  report_stuck >&2
  kill -TERM $$
) &
watchdog_pid=$!

# --- The named differences ---------------------------------------------
#
# One rule per step where loopfs cannot answer as the kernel does:
#   "SCENARIO.LABEL OPERATION|KERNEL RESULT|LOOPFS RESULT"
# The runner checks that the kernel really gave KERNEL RESULT (a rule that
# no longer matches is an error, so rules cannot go stale silently) and
# expects LOOPFS RESULT from loopfs instead.  Everything else must match
# exactly.  DIFFERENCES.md explains each group.
differences=(
  # D1: unknown ioctls on loop-control: FUSE turns ENOSYS into ENOTTY.
  "ctl_unknown.next_ctl 0x4C83|-1 ENOSYS|-1 ENOTTY"
  "ctl_unknown.below_ctl 0x4C7F|-1 ENOSYS|-1 ENOTTY"
  "ctl_unknown.foreign _IO('X',1)|-1 ENOSYS|-1 ENOTTY"
  "ctl_unknown.set_fd LOOP_SET_FD|-1 ENOSYS|-1 ENOTTY"
  "ctl_unknown.clr_fd LOOP_CLR_FD|-1 ENOSYS|-1 ENOTTY"
  "ctl_unknown.get_status64 LOOP_GET_STATUS64|-1 ENOSYS|-1 ENOTTY"
  "ctl_unknown.blkgetsize64 BLKGETSIZE64|-1 ENOSYS|-1 ENOTTY"
  "ctl_unknown.blkflsbuf BLKFLSBUF|-1 ENOSYS|-1 ENOTTY"
  # D3: a read of a device in rundown: the kernel answers from its page
  # cache what an earlier read brought in; loopfs keeps no cache.
  "set_fd.after_clr_read pread(0, 4096)|4096 match|-1 EIO"
  # D4: a backing descriptor not open for reading, or with O_APPEND:
  # the kernel takes both, loopfs refuses them (its devices are not
  # only root's).
  "backing_modes.write_only LOOP_SET_FD|0|-1 EBADF"
  "backing_modes.append LOOP_SET_FD|0|-1 EPERM"
  # D5: a NULL argument to an ioctl whose number encodes an input size:
  # FUSE copies the argument in (EFAULT) before loopfsd sees the call.
  "block_attrs.unbound_null BLKREPORTZONE|-1 ENOTTY|-1 EFAULT"
  "block_attrs.unbound_null BLKRESETZONE|-1 ENOTTY|-1 EFAULT"
  "block_attrs.unbound_null BLKBSZSET|-1 EINVAL|-1 EFAULT"
  "block_attrs.bound_null BLKREPORTZONE|-1 ENOTTY|-1 EFAULT"
  "block_attrs.bound_null BLKRESETZONE|-1 ENOTTY|-1 EFAULT"
  "block_attrs.bound_null BLKBSZSET|-1 EINVAL|-1 EFAULT"
)

# Print the rules as "KEY<TAB>KERNEL<TAB>LOOPFS" lines for awk.
rules ()
{
  local rule
  for rule in "${differences[@]}"; do
    IFS='|' read -r key kernel loopfs <<<"$rule"
    printf '%s\t%s\t%s\n' "$key" "$kernel" "$loopfs"
  done
}

# Rewrite the kernel output into what loopfs must print: every line named
# by a rule gets the rule's loopfs result.  Fails when a rule's step is
# missing or did not give the documented kernel result.
expected_loopfs ()
{
  awk -F'\t' -v only="${only_args[1]:-}" '
    FNR == NR { want[$1] = $2; subst[$1] = $3; next }
    {
      i = index($0, " -> ")
      key = substr($0, 1, i - 1)
      res = substr($0, i + 4)
      if (i > 0 && key in want) {
        seen[key] = 1
        if (res != want[key]) {
          printf "run-conformance: rule \"%s\": kernel gave \"%s\", rule says \"%s\"\n", key, res, want[key] > "/dev/stderr"
          bad = 1
        }
        print key " -> " subst[key]
        next
      }
      print
    }
    END {
      for (k in want) {
        split(k, parts, ".")
        if (!(k in seen) && (only == "" || parts[1] == only)) {
          printf "run-conformance: rule \"%s\" matched no kernel line\n", k > "/dev/stderr"
          bad = 1
        }
      }
      exit bad
    }' <(rules) "$1"
}

# --- Kernel half ------------------------------------------------------------

for build in "${builds[@]}"; do
  tag=${build%%|*} bin=${build#*|}
  echo "run-conformance: kernel loop driver${tag:+ ($tag-bit build)}"
  "$bin" "${only_args[@]}" >"$work/kernel$tag.out" 2>"$work/kernel$tag.log" || {
    echo "run-conformance: loop-scenarios$tag failed against the kernel:" >&2
    cat "$work/kernel$tag.log" >&2
    exit 1
  }
  echo "run-conformance: kernel$tag: $(wc -l <"$work/kernel$tag.out") steps"
  expected_loopfs "$work/kernel$tag.out" >"$work/expected$tag.out"
done

if $kernel_only; then
  echo "run-conformance: --kernel-only: kernel half done"
  exit 0
fi

# --- loopfs half ------------------------------------------------------------

if [ ! -x "$loopfsd" ]; then
  echo "run-conformance: loopfsd not found at $loopfsd" >&2
  exit 1
fi
mkdir "$mnt" "$view"
"$loopfsd" -f "$mnt" >"$work/loopfsd.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 100); do
  if mounted && [ -e "$mnt/loop-control" ]; then
    break
  fi
  if ! alive "$daemon_pid"; then
    echo "run-conformance: loopfsd exited early:" >&2
    cat "$work/loopfsd.log" >&2
    exit 1
  fi
  sleep 0.1
done
if ! mounted; then
  echo "run-conformance: loopfsd did not mount $mnt" >&2
  exit 1
fi

echo "run-conformance: loopfs at $mnt (loopfsd pid $daemon_pid)"
# The view: a tmpfs with links into the mount and the real character
# devices bind-mounted in, recursively bound over /dev.  Everything is
# private to the namespace and goes away with it.
for build in "${builds[@]}"; do
  tag=${build%%|*} bin=${build#*|}
  unshare -m --propagation private -- /bin/bash -euo pipefail -c '
    mnt=$1 view=$2 out=$3 log=$4; shift 4
    mount -t tmpfs -o mode=0755,size=1m loopfs-view "$view"
    ln -s "$mnt/loop-control" "$view/loop-control"
    for i in $(seq 0 1023); do ln -s "$mnt/loop$i" "$view/loop$i"; done
    for node in null zero full random urandom; do
      touch "$view/$node"
      mount --bind "/dev/$node" "$view/$node"
    done
    ln -s /proc/self/fd "$view/fd"
    mount --rbind "$view" /dev
    exec "$@" >"$out" 2>"$log"
  ' view "$mnt" "$view" "$work/loopfs$tag.out" "$work/loopfs$tag.log" \
    "$bin" "${only_args[@]}" &
  # Wait in the background so that INT/TERM (e.g. a test timeout) reach the
  # trap even while a scenario is stuck in a request loopfsd never answers.
  run_pid=$!
  wait "$run_pid" || {
    run_pid=
    echo "run-conformance: loop-scenarios$tag failed against loopfs:" >&2
    cat "$work/loopfs$tag.log" >&2
    exit 1
  }
  run_pid=
  echo "run-conformance: loopfs$tag: $(wc -l <"$work/loopfs$tag.out") steps"
  if ! alive "$daemon_pid"; then
    echo "run-conformance: loopfsd died during the run; its log:" >&2
    tail -n 20 "$work/loopfsd.log" >&2
  fi
done

failed=false
for build in "${builds[@]}"; do
  tag=${build%%|*}
  if ! diff -u --label "kernel$tag (with named differences applied)" \
       --label "loopfs$tag" "$work/expected$tag.out" "$work/loopfs$tag.out"; then
    echo "run-conformance: FAIL: loopfs differs from the kernel${tag:+ in the $tag-bit build} (see diff above)" >&2
    failed=true
  fi
done
$failed && exit 1
echo "run-conformance: PASS: loopfs matches the kernel in ${#builds[@]} build(s) (${#differences[@]} named differences)"
