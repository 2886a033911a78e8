#!/bin/bash
# tests/vm/run.sh: run ocirun's cgroup v2 tests inside a small VM.
#
# This host's (and CI's) resource controllers are on cgroup v1, so cgroup v2
# is tested in a guest: Debian's kernel (the one linux-image-amd64 points
# to), an initramfs of busybox-static and the kernel modules the guest
# needs, cgroup2 at /sys/fs/cgroup with cpuset, cpu, io, memory and pids
# enabled. The checkout is shared read-only over 9p, and so is the host's
# /usr so that the cgo-built binaries run unchanged. The test binary and
# ocirun are built on the host; the guest copies them (and the busybox
# rootfs) to a tmpfs first, since code pages on 9p get evicted under a tight
# memory.max. Exit status: the guest tests'.
#
# Usage: tests/vm/run.sh [go test -run regexp]   (as root)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${OCIRUN_VM_CACHE:-$repo/.cache/vm}
run=${1:-'TestCgroup|TestRunHelloBundle|TestExec$|TestExecInC|TestRelaysEverySignal|TestLifecycle|TestSeccompNotify|TestCheckpointPreDump|TestParentBuil'}
export PATH=$PATH:/usr/local/go/bin
mkdir -p "$cache"

need=""
command -v qemu-system-x86_64 >/dev/null || need="$need qemu-system-x86"
dpkg -s busybox-static >/dev/null 2>&1 || need="$need busybox-static"
command -v cpio >/dev/null || need="$need cpio"
if [ -n "$need" ]; then
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
fi

# 1. The kernel and its modules, unpacked once.
if ! [ -f "$cache/kernel.ok" ]; then
	pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
	[ -n "$pkg" ] || { apt-get update -qq; pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}'); }
	rm -rf "$cache/kernel" && mkdir -p "$cache/kernel"
	(cd "$cache" && rm -f linux-image-*.deb && apt-get download "$pkg" 2>/dev/null)
	dpkg-deb -x "$cache"/linux-image-*.deb "$cache/kernel"
	rm -f "$cache"/linux-image-*.deb
	# The package leaves modules.dep to its postinst; busybox's depmod makes it.
	busybox depmod -b "$cache/kernel" "$(ls "$cache/kernel/lib/modules" | head -1)"
	touch "$cache/kernel.ok"
fi
kver=$(ls "$cache/kernel/lib/modules" | head -1)
moddir=$cache/kernel/lib/modules/$kver

# 2. The initramfs: busybox, the modules in dependency order, /init.
initrd=$cache/initrd.cpio.gz
if ! [ -f "$initrd" ] || [ "$here/run.sh" -nt "$initrd" ] || [ "$here/init.sh" -nt "$initrd" ]; then
	root=$(mktemp -d)
	mkdir -p "$root"/{bin,proc,sys,dev,tmp,mnt/repo,mnt/out,usr,modules}
	cp /bin/busybox "$root/bin/busybox"
	for a in $("$root/bin/busybox" --list); do [ "$a" = busybox ] || ln -sf busybox "$root/bin/$a"; done
	ln -s usr/lib "$root/lib"; ln -s usr/lib64 "$root/lib64"; ln -s bin "$root/sbin"
	declare -A done_mods=()
	order=()
	add_mod() { # add a module after its dependencies (modules.dep)
		local name=$1 path deps d
		path=$(grep -E "(^|/)$name\.ko:" "$moddir/modules.dep" | head -1 | cut -d: -f1) || true
		[ -n "$path" ] || { echo "vm: module $name not found (built in?)" >&2; return 0; }
		[ -z "${done_mods[$path]:-}" ] || return 0
		deps=$(grep -E "^$path:" "$moddir/modules.dep" | cut -d: -f2)
		for d in $deps; do add_mod "$(basename "$d" .ko)"; done
		done_mods[$path]=1
		order+=("$path")
	}
	# netfilter for CRIU's network lock (iptables-nft: nf_tables, nft_compat, xt_mark;
	# libcrc32c needs a crc32c implementation loaded first), and the socket diag modules and tun that
	# CRIU inspects a process tree with
	for m in virtio_pci 9pnet 9pnet_virtio netfs fscache 9p overlay veth llc stp bridge loop \
		crc32c_generic nf_tables nft_compat xt_mark unix_diag inet_diag tcp_diag udp_diag netlink_diag af_packet_diag raw_diag tun; do
		add_mod "$m"
	done
	: > "$root/modules/order"
	for p in "${order[@]}"; do
		cp "$moddir/$p" "$root/modules/"
		echo "$(basename "$p")" >> "$root/modules/order"
	done
	cp "$here/init.sh" "$root/init"
	chmod +x "$root/init"
	(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$initrd"
	rm -rf "$root"
fi

# 3. What the guest runs, built here.
(cd "$repo" && GOEXPERIMENT=$(make -s --no-print-directory goexperiment) go build -o "$cache/ocirun" . && go test -c -o "$cache/tests.test" ./tests)
"$repo/bundles/mkrootfs.sh" "$repo/bundles/rootfs"
gcc -static -O2 -o "$cache/probe" "$repo/tests/helpers/probe.c"
out=$(mktemp -d)
echo "$run" > "$out/run"
# CRIU for the checkpoint tests: its private prefix is patched to its own
# absolute path, so the guest copies it to the same path. The guest's kernel
# (Debian's 6.1) tracks dirty memory, which this host's does not: pre-dumps
# are tested there.
if criu=$("$here/../criu/setup.sh" 2>/dev/null); then
	echo "$criu" > "$out/criu"
	case $criu in "$repo"/*) echo "${criu#"$repo"/}" > "$out/criu-in-repo" ;; esac
fi

# 4. Boot. KVM where it is an ordinary one; this host's /dev/kvm is nested PVM,
#    which boots only PVM-built guest kernels, so TCG there.
accel=tcg
if [ -w /dev/kvm ] && ! [ -d /sys/module/kvm_pvm ]; then accel=kvm; fi
echo "vm: kernel $kver, accel $accel, running: $run"
timeout 1500 qemu-system-x86_64 -accel "$accel" -m 2048 -smp 2 -nographic -no-reboot \
	-kernel "$cache/kernel/boot/vmlinuz-$kver" -initrd "$initrd" \
	-append "console=ttyS0 quiet panic=-1 loglevel=3" \
	-virtfs "local,path=$repo,mount_tag=repo,security_model=none,readonly=on" \
	-virtfs "local,path=/usr,mount_tag=usr,security_model=none,readonly=on" \
	-virtfs "local,path=$cache,mount_tag=cache,security_model=none,readonly=on" \
	-virtfs "local,path=$out,mount_tag=out,security_model=none" </dev/null
status=$(cat "$out/status" 2>/dev/null || echo "no status: the guest did not finish")
cp "$out/log" "$cache/last.log" 2>/dev/null || true
if [ "$status" != 0 ]; then
	echo "vm: the guest's log is in $cache/last.log; its failures:"
	grep -B1 -A6 -E '^\s+\w+_test.go' "$cache/last.log" | head -60 || true
fi
rm -rf "$out"
echo "vm: guest tests exit status: $status"
[ "$status" = 0 ]
