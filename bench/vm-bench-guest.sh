#!/bin/bash
# vm-bench-guest.sh - the guest half of bench/run-vm-bench: inside the
# test VM, bind one image both as a loopfs device (whose kernel
# /dev/nbdX fio drives) and on the guest kernel's own loop driver, run
# the same fio rows on both and print the table between marker lines
# for run-vm-bench to pick out of the console log.
#
# Runs inside the VM only (it binds a device of the guest's real loop
# driver, which on the host would be the machine's):
#   tests/vm/run-vm bench/vm-bench-guest.sh [BUILDDIR]
# loopfsd and loop-helper are $LOOPFSD and $LOOP_HELPER, else under
# BUILDDIR.  Settings come from the environment (run-vm -e):
#   BENCH_RUNTIME  seconds per fio row and column (default 5)
#   BENCH_SIZE     image size in bytes (default 256 MiB)
#   BENCH_ROWS     comma-separated rows to run (default all)
#
# This is a benchmark, not a test: it prints figures and never judges
# them.  It exits 1 when setting up or a measurement fails (the figures
# measured so far are still printed) and 77 when run outside the VM.
set -euo pipefail
# shellcheck source=../tests/functions.sh
source "$(dirname "$0")/../tests/functions.sh"
# shellcheck source=../tests/vm/nbd-functions.sh
source "$(dirname "$0")/../tests/vm/nbd-functions.sh"

# Rows in the order they are printed, what each runs, and which side of
# fio's JSON report holds its figures.
ROWS=(seqread seqwrite randread1 randread32 randwrite32)
declare -A ROW_TITLE=(
  [seqread]="seq read 1M QD8"
  [seqwrite]="seq write 1M QD8"
  [randread1]="rand read 4k QD1"
  [randread32]="rand read 4k QD32"
  [randwrite32]="rand write 4k QD32"
)
declare -A ROW_FIO=(
  [seqread]="--rw=read --bs=1M --iodepth=8"
  [seqwrite]="--rw=write --bs=1M --iodepth=8"
  [randread1]="--rw=randread --bs=4k --iodepth=1"
  [randread32]="--rw=randread --bs=4k --iodepth=32"
  [randwrite32]="--rw=randwrite --bs=4k --iodepth=32"
)
declare -A ROW_DIR=(
  [seqread]=read [seqwrite]=write
  [randread1]=read [randread32]=read [randwrite32]=write
)
# Reads run before writes, as in bench/run-bench.
RUN_ORDER=(seqread randread1 randread32 seqwrite randwrite32)
COLUMNS=(nbd loop)
declare -A COLUMN_TITLE=([nbd]="loopfs nbdX" [loop]="kernel loop")

# The markers run-vm-bench looks for in the console log.
MARK_TEXT_BEGIN="=== loopfs-vm-bench table begin ==="
MARK_TEXT_END="=== loopfs-vm-bench table end ==="
MARK_MD_BEGIN="=== loopfs-vm-bench markdown begin ==="
MARK_MD_END="=== loopfs-vm-bench markdown end ==="

RUNTIME=${BENCH_RUNTIME:-5}
SIZE_BYTES=${BENCH_SIZE:-$((256 * 1048576))}
declare -A WANT_ROW=()
# NBD connections loopfsd opens per device (its default, said out loud
# in the output); the kernel device gets as many when nbdkit allows
# multi-conn, spread over at most one hardware queue per CPU.
CONNECTIONS=4

# Results: BW[row,col] in KiB/s and IOPS[row,col]; FAILED[row,col] set
# when that measurement failed; the work directory, the image and the
# devices measured.
declare -A BW=() IOPS=() FAILED=()
ANY_FAILED=0
TABLE_PRINTED=0
TMP_DIR=
IMAGE=
NBD_DEV=
LOOP_DEV=

# Print a progress message on stderr (the console).
msg ()
{
  printf 'vm-bench: %s\n' "$*" >&2
}

# Check that this runs in the VM as root, find the binaries and load the
# drivers both columns need.
setup_guest ()
{
  if [ -z "${LOOPFS_VM:-}" ]; then
    echo "SKIP: runs in the test VM only: bench/run-vm-bench" >&2
    exit 77
  fi
  requires_root
  vm_find_binaries "$@"
  command -v fio >/dev/null || fail "fio not found"
  command -v jq >/dev/null || fail "jq not found"
  [[ $RUNTIME =~ ^[1-9][0-9]*$ ]] || fail "BENCH_RUNTIME must be whole seconds"
  [[ $SIZE_BYTES =~ ^[1-9][0-9]*$ ]] || fail "BENCH_SIZE must be a size in bytes"
  modprobe nbd || fail "modprobe nbd"
  # The loop driver is built in on Debian's kernel; a module elsewhere.
  [ -c /dev/loop-control ] || modprobe loop || fail "modprobe loop"
  [ -c /dev/loop-control ] || fail "no /dev/loop-control after modprobe loop"
  # in_sandbox makes one link per device, an exec each under TCG: the
  # instance uses loop0 only.
  LOOPFS_SANDBOX_DEVICES=4
}

# Fill WANT_ROW from BENCH_ROWS (all rows when unset).
choose_rows ()
{
  local -a names
  local name row ok
  if [ -n "${BENCH_ROWS:-}" ]; then
    IFS=, read -ra names <<<"$BENCH_ROWS"
  else
    names=("${ROWS[@]}")
  fi
  for name in "${names[@]}"; do
    ok=0
    for row in "${ROWS[@]}"; do
      [ "$name" = "$row" ] && ok=1
    done
    (( ok )) || fail "unknown row '$name' (valid: ${ROWS[*]})"
    WANT_ROW[$name]=1
  done
}

# Run fio row $1 on block device $2 and store the figures for column $3.
run_fio_row ()
{
  local row=$1 target=$2 col=$3 json err dir
  local -a args
  read -ra args <<<"${ROW_FIO[$row]}"
  dir=${ROW_DIR[$row]}
  err=$(mktemp "$TMP_DIR/fio.XXXXXX")
  msg "  ${COLUMN_TITLE[$col]} ($target): ${ROW_TITLE[$row]} (${RUNTIME}s)"
  if json=$(fio --name="$row" --filename="$target" --ioengine=libaio --direct=1 \
              "${args[@]}" --numjobs=1 --time_based --runtime="$RUNTIME" \
              --output-format=json 2>"$err") &&
     BW[$row,$col]=$(jq -er ".jobs[0].$dir.bw" <<<"$json") &&
     IOPS[$row,$col]=$(jq -er ".jobs[0].$dir.iops" <<<"$json") &&
     [ "$(jq -r '.jobs[0].error' <<<"$json")" = 0 ]; then
    :
  else
    msg "  fio failed on $target for $row:"
    sed 's/^/    /' "$err" >&2
    FAILED[$row,$col]=1
    ANY_FAILED=1
  fi
  rm -f "$err"
}

# Print the cell of row $1 in column $2: "MiB/s, IOPS", or why not.
fio_cell ()
{
  local row=$1 col=$2
  if [ -n "${FAILED[$row,$col]:-}" ]; then
    echo "failed"
  elif [ -n "${IOPS[$row,$col]:-}" ]; then
    awk -v bw="${BW[$row,$col]}" -v iops="${IOPS[$row,$col]}" \
      'BEGIN { printf "%.1f MiB/s, %.0f IOPS\n", bw / 1024, iops }'
  else
    echo "-"
  fi
}

# Print the nbdX/loop ratio of row $1: of IOPS, which for the fixed
# block size of a row is also the ratio of MiB/s.
ratio_cell ()
{
  local row=$1
  if [ -n "${IOPS[$row,nbd]:-}" ] && [ -n "${IOPS[$row,loop]:-}" ]; then
    awk -v a="${IOPS[$row,nbd]}" -v b="${IOPS[$row,loop]}" \
      'BEGIN { if (b > 0) printf "%.2f\n", a / b; else print "-" }'
  else
    echo "-"
  fi
}

# Print the selected rows, one a line, fields separated by tabs: title,
# nbd cell, loop cell, ratio.
table_cells ()
{
  local row
  for row in "${ROWS[@]}"; do
    [ -n "${WANT_ROW[$row]:-}" ] || continue
    printf '%s\t%s\t%s\t%s\n' "${ROW_TITLE[$row]}" "$(fio_cell "$row" nbd)" \
      "$(fio_cell "$row" loop)" "$(ratio_cell "$row")"
  done
}

# Print the lines that describe this run, the warning about absolute
# figures first.
describe_setup ()
{
  local nbd=${NBD_DEV#/dev/} loop=${LOOP_DEV#/dev/} queues
  echo "qemu TCG (software CPU emulation): absolute figures are meaningless, compare the ratio nbdX/loop only"
  echo "guest: kernel $(uname -r), $(nproc) CPUs; $(fio --version), libaio, direct=1, ${RUNTIME}s per row"
  echo "image: $(numfmt --to=iec-i --suffix=B "$SIZE_BYTES") of random data on a guest tmpfs, bound on both devices at once"
  if [ -n "$nbd" ]; then
    queues=$(find "/sys/block/$nbd/mq" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
    echo "loopfs nbdX: $NBD_DEV (user.loopfs.nbd of loop0, bound with losetup -f --show through loopfsd -o nbd=on,connections=$CONNECTIONS; $queues hardware queue(s), scheduler $(sed 's/.*\[\(.*\)\].*/\1/' "/sys/block/$nbd/queue/scheduler"))"
  fi
  if [ -n "$loop" ]; then
    echo "kernel loop: $LOOP_DEV (losetup -f --show defaults: buffered backing file, 512-byte sectors; scheduler $(sed 's/.*\[\(.*\)\].*/\1/' "/sys/block/$loop/queue/scheduler"))"
  fi
}

# Align the tab-separated fields read on stdin into columns.
align_columns ()
{
  awk -F'\t' '
    { for (i = 1; i <= NF; i++) {
        cell[NR, i] = $i
        if (length($i) > width[i]) width[i] = length($i)
      }
      if (NF > nf) nf = NF
    }
    END {
      for (r = 1; r <= NR; r++) {
        line = ""
        for (i = 1; i <= nf; i++)
          line = line sprintf("%-" (i < nf ? width[i] + 2 : 0) "s", cell[r, i])
        print line
      }
    }'
}

# Print the table as text and as markdown on stdout, each between its
# markers.
print_tables ()
{
  echo "$MARK_TEXT_BEGIN"
  describe_setup
  echo
  {
    printf 'row\t%s\t%s\tnbdX/loop\n' "${COLUMN_TITLE[nbd]}" "${COLUMN_TITLE[loop]}"
    table_cells
  } | align_columns
  echo "$MARK_TEXT_END"
  echo "$MARK_MD_BEGIN"
  describe_setup | sed 's/^/- /'
  echo
  echo "| row | ${COLUMN_TITLE[nbd]} | ${COLUMN_TITLE[loop]} | nbdX/loop |"
  echo "| --- | ---: | ---: | ---: |"
  table_cells | awk -F'\t' '{ printf "| %s | %s | %s | %s |\n", $1, $2, $3, $4 }'
  echo "$MARK_MD_END"
  TABLE_PRINTED=1
}

# Print what was measured when the script stops before the end
# (registered last, so it runs first of the cleanups, while the devices
# are still there to describe).
print_tables_if_stopped ()
{
  if (( ! TABLE_PRINTED && ${#IOPS[@]} > 0 )); then
    msg "stopped early; the figures measured so far:"
    print_tables
  fi
}

# Unbind loopfs node $1 if it is bound (which disconnects its nbdX).
unbind_loopfs ()
{
  "$LOOP_HELPER" status "$1" >/dev/null 2>&1 || return 0
  "$LOOP_HELPER" clr "$1" >/dev/null
}

# Make the image: random data, so that no path can take a shortcut over
# holes or zero pages, on a tmpfs of its own sized to fit.
make_image ()
{
  local fs=$TMP_DIR/fs
  mkdir "$fs"
  mount -t tmpfs -o size=$((SIZE_BYTES + 4 * 1048576)),mode=0700 loopfs-bench "$fs" ||
    fail "cannot mount a tmpfs for the image"
  cleanup_fn umount "$fs"
  IMAGE=$fs/image.raw
  msg "creating a $(numfmt --to=iec-i --suffix=B "$SIZE_BYTES") image of random data"
  head -c "$SIZE_BYTES" /dev/urandom > "$IMAGE" || fail "cannot write the image"
}

# Bind the image in a loopfs instance and on the guest's loop driver.
bind_devices ()
{
  local mnt=$TMP_DIR/mnt out
  mkdir "$mnt"
  # nbd=on: a bind whose kernel attach fails fails, rather than leaving
  # an nbdX column with nothing to measure.
  start_loopfsd_log "$TMP_DIR/loopfsd.log" "$mnt" -o nbd=on,connections=$CONNECTIONS
  out=$(in_sandbox "$mnt" losetup -f --show "$IMAGE") ||
    fail "losetup -f --show through loopfsd failed: $out"
  [ "$out" = /dev/loop0 ] || fail "losetup -f --show in the instance printed '$out'"
  cleanup_fn unbind_loopfs "$mnt/loop0"
  NBD_DEV=$("$LOOP_HELPER" xattr "$mnt/loop0" user.loopfs.nbd) ||
    fail "user.loopfs.nbd of $mnt/loop0: $NBD_DEV"
  if ! [[ $NBD_DEV =~ ^/dev/nbd[0-9]+$ ]] || ! [ -b "$NBD_DEV" ]; then
    fail "user.loopfs.nbd of $mnt/loop0 names no nbd device: '$NBD_DEV'"
  fi
  msg "loopfs loop0 is attached to $NBD_DEV"

  LOOP_DEV=$(losetup -f --show "$IMAGE") || fail "losetup -f --show $IMAGE failed"
  cleanup_fn losetup -d "$LOOP_DEV"
  msg "kernel loop device: $LOOP_DEV"
}

# Set up, measure every selected row on both devices in turn, print.
main ()
{
  local row col
  setup_guest "$@"
  choose_rows
  TMP_DIR=$(make_tmpdir)
  make_image
  bind_devices
  cleanup_fn print_tables_if_stopped
  # Row by row, both columns, so that a slow spell of the emulator
  # (another process on the host) hits both columns of a row alike.
  for row in "${RUN_ORDER[@]}"; do
    [ -n "${WANT_ROW[$row]:-}" ] || continue
    for col in "${COLUMNS[@]}"; do
      if [ "$col" = nbd ]; then
        run_fio_row "$row" "$NBD_DEV" nbd
      else
        run_fio_row "$row" "$LOOP_DEV" loop
      fi
    done
  done
  print_tables
  if (( ANY_FAILED )); then
    msg "some measurements failed (see above)"
    exit 1
  fi
}

main "$@"
