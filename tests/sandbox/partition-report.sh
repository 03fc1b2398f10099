#!/bin/bash
# partition-report.sh DEV: what stock util-linux prints of loop device
# DEV and its partitions (1, 2 and 4, a GPT with a hole at 3 and a FAT
# labelled PARTONE on 1), for test-partitions to compare a loopfs
# device in loopfsctl exec with a kernel loop device.  Columns that
# come from queue/ attributes the sysfs view does not have or has as a
# constant (discard limits, read-ahead, scheduler, request queue size,
# rotational: the kernel's follows the backing file's disk) or from the
# udev database (filesystem and partition-entry fields) are left out.
dev=$1
cols=NAME,KNAME,PATH,MAJ:MIN,RM,SIZE,RO,TYPE,START,PKNAME,LOG-SEC,PHY-SEC
cols=$cols,MIN-IO,OPT-IO,ALIGNMENT,DISC-ALN,DAX,ZONED,HOTPLUG
echo "== lsblk"; lsblk "$dev"
echo "== lsblk -o"; lsblk -o "$cols" "$dev"
echo "== lsblk -J -b"; lsblk -J -b -o NAME,MAJ:MIN,SIZE,TYPE,START,PKNAME "$dev"
echo "== lsblk p2"; lsblk "${dev}p2"
echo "== blkid"; blkid "${dev}p1" "${dev}p2" "${dev}p4"
echo "== blkid -p p1"; blkid -p "${dev}p1"
echo "== blkid -p disk"; blkid -p "$dev"
echo "== blkid -o export"; blkid -o export "${dev}p1"
echo "== partx --show"; partx --show "$dev"
echo "== partx --show p2"; partx --show "${dev}p2"
echo "== partx -g -o"; partx -g -o NR,START,END,SECTORS,SIZE,TYPE,UUID "$dev"
echo "== findfs LABEL"; findfs LABEL=PARTONE
echo "== blkid -L"; blkid -L PARTONE
echo "== losetup -l"; losetup -l -n -O NAME,BACK-FILE,PARTSCAN,RO "$dev"
