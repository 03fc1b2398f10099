#!/bin/bash
# Privileged loop operations (here LOOP_SET_CAPACITY through a read-only
# descriptor) need CAP_SYS_ADMIN over the instance's user namespace, as
# the loopfs patch's ns_capable() check asks, judged on the calling
# process's credentials: root of the namespace the instance was mounted
# in may, root of a child user namespace (a container) may not, nor may
# a root process without CAP_SYS_ADMIN; a writable descriptor needs no
# capability.
set -euo pipefail
# shellcheck source=../functions.sh
source "$(dirname "$0")/../functions.sh"

requires_root
isolate_mounts "$@"
requires setpriv --version
unshare -Ur true 2>/dev/null \
  || { echo "SKIP: user namespaces are disabled" >&2; exit 77; }

new_instance 4M
assert_eq "get-free" 0 "$("$LOOP_HELPER" get-free "$mnt/loop-control")"
"$LOOP_HELPER" set-fd "$mnt/loop0" "$tmp/disk.img" rw >/dev/null

# Root of the instance's namespace: allowed through a read-only fd.
"$LOOP_HELPER" capacity "$mnt/loop0" ro >/dev/null \
  || fail "root of the instance's namespace was refused"

# Root of a child user namespace: refused read-only, allowed read-write.
expect_errno EPERM unshare -Ur "$LOOP_HELPER" capacity "$mnt/loop0" ro
unshare -Ur "$LOOP_HELPER" capacity "$mnt/loop0" rw >/dev/null \
  || fail "a writable descriptor needed a capability"

# Root without CAP_SYS_ADMIN in the instance's namespace: refused.
expect_errno EPERM setpriv --bounding-set=-sys_admin --inh-caps=-all -- \
  "$LOOP_HELPER" capacity "$mnt/loop0" ro

# The same rule holds after the size really changes.
truncate -s 8M "$tmp/disk.img"
"$LOOP_HELPER" capacity "$mnt/loop0" ro >/dev/null
assert_eq "size after LOOP_SET_CAPACITY" 8388608 "$(status_field "$mnt/loop0" size)"
"$LOOP_HELPER" clr "$mnt/loop0" >/dev/null
echo ok
