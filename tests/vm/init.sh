#!/bin/sh
# The guest's init: mount what the tests need, run them, report, power off.
export PATH=/bin:/usr/bin:/usr/sbin
# pivot_root cannot leave the initramfs: move to a tmpfs root first.
if ! [ -e /.stage2 ]; then
	mkdir /newroot && mount -t tmpfs -o size=1500m tmpfs /newroot
	cp -a /bin /sbin /lib /lib64 /init /modules /newroot/
	mkdir -p /newroot/proc /newroot/sys /newroot/dev /newroot/tmp /newroot/usr /newroot/mnt/repo /newroot/mnt/out
	touch /newroot/.stage2
	exec switch_root /newroot /init
fi
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm && mount -t devpts devpts /dev/pts && mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs -o size=1g tmpfs /tmp
mkdir -p /run
for m in $(cat /modules/order); do insmod /modules/$m 2>/dev/null; done
mount -t 9p -o trans=virtio,version=9p2000.L,ro usr /usr
mount -t 9p -o trans=virtio,version=9p2000.L,ro repo /mnt/repo
mkdir -p /mnt/cache && mount -t 9p -o trans=virtio,version=9p2000.L,ro cache /mnt/cache
mount -t 9p -o trans=virtio,version=9p2000.L out /mnt/out
mount -t cgroup2 cgroup2 /sys/fs/cgroup
echo "+cpuset +cpu +io +memory +pids" > /sys/fs/cgroup/cgroup.subtree_control
hostname ocirun-vm
# /usr is the host's, /etc is ours: the alternatives that name iptables-nft (CRIU's network lock).
mkdir -p /etc/alternatives
for t in iptables iptables-restore iptables-save ip6tables ip6tables-restore ip6tables-save; do
	[ -e "/usr/sbin/${t%%-*}-nft${t#${t%%-*}}" ] && ln -sf "/usr/sbin/${t%%-*}-nft${t#${t%%-*}}" "/etc/alternatives/$t"
done
ip link set lo up

# Everything the tests execute, on tmpfs.
mkdir -p /tmp/w/tests/helpers /tmp/w/bundles
cp /mnt/cache/ocirun /mnt/cache/tests.test /mnt/cache/probe /tmp/w/
cp /mnt/repo/bundles/mkrootfs.sh /tmp/w/bundles/
cp -a /mnt/repo/bundles/rootfs /tmp/w/bundles/rootfs
cp -a /mnt/repo/bundles/hello /tmp/w/bundles/hello
# CRIU's private prefix, at the absolute path its loader and rpath name.
criu=""
if [ -f /mnt/out/criu-in-repo ]; then
	criu=$(cat /mnt/out/criu)
	prefix=${criu%/usr/sbin/criu}
	mkdir -p "$prefix" && cp -a "/mnt/repo/$(cat /mnt/out/criu-in-repo | sed 's|/usr/sbin/criu$||')/." "$prefix/"
elif [ -f /mnt/out/criu ]; then
	criu=$(cat /mnt/out/criu)
fi
cd /tmp/w/tests
echo "guest: $(uname -r), cgroup2 controllers: $(cat /sys/fs/cgroup/cgroup.subtree_control)"
{
	# GNU tar and iproute2 (the host's /usr/bin; /usr/sbin/ip links to /bin/ip, busybox here)
	# before busybox: CRIU runs tar for tmpfs contents and ip for the network namespace.
	PATH=/usr/bin:/usr/sbin:/sbin:/bin OCIRUN_BINARY=/tmp/w/ocirun OCIRUN_PROBE=/tmp/w/probe OCIRUN_CRIU=$criu /tmp/w/tests.test -test.v -test.timeout 20m -test.run "$(cat /mnt/out/run)"
	echo $? > /mnt/out/status
} 2>&1 | tee /mnt/out/log | grep -E '^(--- |ok|FAIL|PASS|panic)|_test.go'
sync
poweroff -f
