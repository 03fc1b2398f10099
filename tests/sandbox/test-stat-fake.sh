#!/bin/bash
# The sandbox's stat fake answers as the kernel would for a real block
# device: the same stat-probe cases run once on a node of a real kernel
# block device (outside the sandbox) and once on the instance's loop0
# bound to the same places inside the sandbox, and every answer must
# agree.  The cases: lookups that leave a chroot by "../.." or through
# an absolute symlink (ENOENT), a directory the caller may not search
# (EACCES), and the magic links /proc/self/fd/N and /dev/fd/N of an
# open node (block device) or of an open directory with the node in it
# (a block device, or EACCES when the caller may not search it),
# besides lstat of them and plain stat/fstat.
set -euo pipefail
# shellcheck source=../functions.sh
source "$(dirname "$0")/../functions.sh"

requires_root
isolate_mounts "$@"
[ -x "${STAT_PROBE:-}" ] || fail "STAT_PROBE is not set"

tmp=$(make_tmpdir)
chmod 0755 "$tmp"
mnt=$tmp/mnt
mkdir "$mnt"
# allow_other: uid 65534 must reach the instance as it reaches /dev.
start_loopfsd_log "$tmp/loopfsd.log" "$mnt" -o allow_other
out=$("$LOOP_HELPER" add "$mnt/loop-control" 0) || fail "add loop0: $out"
# A program uid 65534 can run.
cp "$STAT_PROBE" "$tmp/stat-probe"
chmod 0755 "$tmp/stat-probe"

# The scenario, run in both places: scenario.sh PROBE DIR HOW puts the
# device at DIR/open/node and DIR/closed/node (closed is 0700): HOW is
# "mknod MAJOR MINOR" or "bind NODE" (a bind mount of NODE),
# makes DIR/jail with an absolute symlink to DIR/open/node, and prints
# the probes' answers with DIR written as "D".
cat > "$tmp/scenario.sh" <<'SCRIPT'
set -eu
probe=$1 d=$2 how=$3
shift 3
make_node ()
{
  if [ "$how" = mknod ]; then
    mknod "$1" b "$2" "$3"
  else
    touch "$1"
    mount --bind "$2" "$1"
  fi
}
mkdir -p "$d/open" "$d/closed" "$d/jail"
chmod 0755 "$d" "$d/open" "$d/jail"
chmod 0700 "$d/closed"
make_node "$d/open/node" "$@"
make_node "$d/closed/node" "$@"
ln -s "$d/open/node" "$d/jail/abs-link"
up=../../../../../../../../..
{
  "$probe" "$d/open/node" "l:$d/open/node"
  "$probe" --uid 65534 "$d/open/node" "$d/closed/node"
  "$probe" --chroot "$d/jail" "$up$d/open/node" abs-link /abs-link
  "$probe" --chroot "$d/jail" --cd / "$up$d/open/node" abs-link
  "$probe" --open "5=$d/open/node" fd:5 /proc/self/fd/5 /dev/fd/5 \
    /proc/thread-self/fd/5 l:/proc/self/fd/5 l:/dev/fd/5
  "$probe" --open "5=$d/open/node" --uid 65534 /proc/self/fd/5 /dev/fd/5
  "$probe" --open "6=$d/open" --open "7=$d/closed" --uid 65534 \
    /proc/self/fd/6/node /dev/fd/6/node /proc/self/fd/7/node
  cd "$d/open" && "$probe" node ../closed/node
} | sed "s|$d|D|g"
SCRIPT

# The kernel's answers, for a node of a real block device (a node made
# with its numbers; stat never opens it).
blk=$(ls /sys/dev/block | head -n 1)
[ -n "$blk" ] || fail "no block device on this machine"
kernel=$(bash "$tmp/scenario.sh" "$tmp/stat-probe" "$tmp/kernel" \
           mknod "${blk%:*}" "${blk#*:}" 2>&1) || fail "kernel scenario: $kernel"
grep -q 'blk' <<<"$kernel" || fail "no block device in the kernel's answers: $kernel"

# The sandbox's answers, for the instance's loop0 bound to the same
# places (inside the sandbox's mount namespace).
fake=$("$LOOPFSCTL" exec --instance "$mnt" -- \
         bash "$tmp/scenario.sh" "$tmp/stat-probe" "$tmp/sandbox" \
         bind /dev/loopfs/loop0 2>&1) || fail "sandbox scenario: $fake"

echo "$kernel"
if [ "$kernel" != "$fake" ]; then
  diff <(echo "$kernel") <(echo "$fake") >&2 || true
  fail "the stat fake's answers differ from the kernel's (< kernel, > sandbox)"
fi
echo "PASS"
