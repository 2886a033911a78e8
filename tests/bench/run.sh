#!/bin/bash
# tests/bench/run.sh: `make bench`. Installs runc, crun and busybox-static
# from Debian, builds ocirun and the rootfs, and runs the benchmark. crun
# refuses hybrid cgroup hosts (like this one: a cgroup2 mount holding
# hugetlb), so all three runtimes run in one private mount namespace where
# /sys/fs/cgroup/unified is unmounted: the same view for each.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
export PATH=$PATH:/usr/local/go/bin
need=""
for p in runc crun busybox-static time; do dpkg -s "$p" >/dev/null 2>&1 || need="$need $p"; done
if [ -n "$need" ]; then
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
fi
cd "$repo"
make -s build
./bundles/mkrootfs.sh "$repo/bundles/rootfs"
go build -o .cache/bench ./tests/bench
# Each binary's pages as exec reads them, not as the build or dpkg left them
# in the page cache (a file written through mmap can sit in large folios that
# inflate the RSS of whoever maps it).
sync
for b in ./ocirun "$(command -v runc)" "$(command -v crun)"; do dd if="$b" iflag=nocache count=0 status=none || true; done
echo "machine: $(nproc) cores, $(uname -r); $(runc --version | head -1); $(crun --version | head -1); ocirun $(./ocirun --version | head -1 | awk '{print $3}'); $(date -u +%F)"
unshare -m --propagation private sh -c '
	mountpoint -q /sys/fs/cgroup/unified && umount /sys/fs/cgroup/unified
	exec "$0" "$@"' "$repo/.cache/bench" -ocirun "$repo/ocirun" -rootfs "$repo/bundles/rootfs" "$@" || true
