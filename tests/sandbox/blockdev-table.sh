#!/bin/bash
# Print what the stock blockdev(8) says about loop device $1, bound to a
# writable 16 MiB file: the report, every --getX, and every --setX with
# its effect (read-only writes, read-ahead, soft block size), the
# device's name replaced by DEV.  test-blockdev.sh runs this against a
# kernel loop device and inside `loopfsctl exec`, and compares.
set -uo pipefail

dev=$1

# Run blockdev with ARGS on the device and print its output and status.
run ()
{
  local out rc
  out=$(blockdev "$@" "$dev" 2>&1)
  rc=$?
  echo "\$ blockdev $* -> $rc"
  [ -z "$out" ] || echo "${out//"$dev"/DEV}"
}

# Write one block at the start of the device, as a program would.
write_block ()
{
  local out rc
  out=$(dd if=/dev/zero of="$dev" bs=4096 count=1 conv=notrunc,fsync status=none 2>&1)
  rc=$?
  echo "\$ dd of=DEV -> $rc"
  [ -z "$out" ] || echo "${out//"$dev"/DEV}"
}

run --report
for get in --getsz --getro --getdiscardzeroes --getss --getpbsz --getiomin \
           --getioopt --getalignoff --getmaxsect --getbsz --getsize \
           --getsize64 --getra --getfra; do
  run "$get"
done
run --setra 1024 --getra --getfra
run --setfra 100 --getfra --getra
run --getra
run --setbsz 1024 --getbsz
run --setbsz 1000
run --setbsz 131072
run --getbsz
run --flushbufs
run --rereadpt
run --setro --getro
echo "sysfs ro: $(cat "/sys/block/${dev#/dev/}/ro")"
run --report
write_block
run --setrw --getro
echo "sysfs ro: $(cat "/sys/block/${dev#/dev/}/ro")"
write_block
run --report
