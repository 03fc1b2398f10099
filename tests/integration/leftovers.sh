# Checks for what a dead instance may leave behind, sourced after
# functions.sh by the tests that kill daemons or let namespaces die
# (test-sigkill, test-namespace-death, test-detached-instance).
#
# "Anywhere" means every mount namespace on the machine: the tests read
# /proc/PID/mountinfo of one process per namespace, because a mount the
# test cannot see in its own table may still be alive in another one.

# Milliseconds since the epoch.
now_ms ()
{
  echo $(($(date +%s%N) / 1000000))
}

# Is PID a live process (not a zombie, which has exited)?
process_alive ()
{
  [ -d "/proc/$1" ] \
    && [ "$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null)" != Z ]
}

# Wait up to MS milliseconds until none of the processes PIDS... is
# alive.  Prints the milliseconds it took; fails (listing the survivors
# on stderr) if some are still alive at the deadline.
wait_all_gone ()
{
  local ms=$1 start now pid left
  shift
  start=$(now_ms)
  while :; do
    left=
    for pid in "$@"; do
      process_alive "$pid" && left="$left $pid"
    done
    now=$(now_ms)
    if [ -z "$left" ]; then
      echo $((now - start))
      return 0
    fi
    if [ $((now - start)) -ge "$ms" ]; then
      echo "still alive after $((now - start)) ms:$left" >&2
      return 1
    fi
    sleep 0.02
  done
}

# Print "PID MNTNS" for one process of every mount namespace.
_one_process_per_namespace ()
{
  local p ns
  declare -A seen=()
  for p in /proc/[0-9]*; do
    ns=$(readlink "$p/ns/mnt" 2>/dev/null) || continue
    [ -z "${seen[$ns]:-}" ] || continue
    seen[$ns]=1
    echo "${p#/proc/} $ns"
  done
}

# Print the loopfs mounts (type fuse.loopfs) on mount point DIR in every
# mount namespace of the machine, one "MNTNS PID MOUNTINFO-LINE" a line.
loopfs_mounts_anywhere ()
{
  local dir=$1 pid ns
  _one_process_per_namespace | while read -r pid ns; do
    awk -v m="$dir" -v prefix="$ns $pid " '
      { for (i = 7; $i != "-"; i++) ; }
      $(i + 1) == "fuse.loopfs" && $5 == m { print prefix $0 }
    ' "/proc/$pid/mountinfo" 2>/dev/null || true
  done
}

# Print the time since boot in clock ticks, rounded up: processes
# started before this call have a smaller start time (stat field 22).
boot_ticks_now ()
{
  local hz
  hz=$(getconf CLK_TCK)
  awk -v hz="$hz" '{ t = $1 * hz; printf "%d\n", (t == int (t) ? t : int (t) + 1) + 1 }' /proc/uptime
}

# Print the pids of the processes in mount namespace NS (as readlink
# shows it, e.g. "mnt:[4026532]") started before BEFORE (boot_ticks_now,
# taken while NS was alive).  The kernel reuses a dead namespace's inode
# number, so a process another job starts later in a new namespace can
# show the same name; it cannot have started while NS was still alive.
processes_in_namespace ()
{
  local ns=$1 before=$2 p start
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/ns/mnt" 2>/dev/null)" = "$ns" ] || continue
    start=$(awk '{ sub (/^.*\) /, ""); print $20 }' "$p/stat" 2>/dev/null) \
      || continue
    [ -n "$start" ] && (( start < before )) || continue
    process_alive "${p#/proc/}" && echo "${p#/proc/}"
  done
  return 0
}

# The files a loopfsd with pid PID keeps on the host while it runs: its
# runtime directory (backend sockets) and its per-user limit slots.
_daemon_files ()
{
  local pid=$1
  compgen -G "/run/loopfsd/loopfsd-$pid-*" || true
  compgen -G "/run/loopfs/users/*/dev-$pid-*" || true
}

# After loopfsd PID died: fail if one of its per-user limit slots is
# still locked (it would still count against the user), then remove
# what it left (the next loopfsd would sweep it too), saying what it
# was.  WHAT names the case.
check_daemon_leftovers ()
{
  local what=$1 pid=$2 f
  ! process_alive "$pid" || fail "$what: loopfsd $pid is still running"
  for f in $(compgen -G "/run/loopfs/users/*/dev-$pid-*" || true); do
    flock -n -x "$f" true \
      || fail "$what: limit slot $f of the dead loopfsd $pid is still locked"
  done
  remove_daemon_leftovers "$pid" "$what"
}

# Remove the files of loopfsd PID once it is dead (a cleanup: a live
# daemon's files are left alone).  With WHAT, say what was removed.
remove_daemon_leftovers ()
{
  local pid=$1 what=${2:-} f
  process_alive "$pid" && return 0
  for f in $(_daemon_files "$pid"); do
    [ -z "$what" ] || echo "$what: removing what the dead loopfsd left: $f"
    rm -rf --one-file-system "$f"
  done
  return 0
}
