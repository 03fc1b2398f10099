# Starting stallfs (stallfs.c) for the integration tests, sourced after
# functions.sh.

# Start stallfs serving FILE's data as DIR/disk.img, wait until it
# answers, and register its end: first an abort of its FUSE connection
# (a stallfs stuck in a request can be neither killed nor unmounted),
# then a kill and a lazy unmount.  Sets STALLFS_PID.
start_stallfs ()
{
  local file=$1 dir=$2 i
  "$STALLFS" "$file" "$dir" &
  STALLFS_PID=$!
  cleanup_fn sh -c "kill -KILL $STALLFS_PID 2>/dev/null; umount -l '$dir' 2>/dev/null; true"
  for ((i = 0; i < 50; i++)); do
    [ -e "$dir/disk.img" ] && break
    sleep 0.1
  done
  [ -e "$dir/disk.img" ] || fail "stallfs on $dir did not come up"
  cleanup_fn _abort_fuse_connection "$(fuse_connection "$dir")"
}
