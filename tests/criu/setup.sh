#!/bin/bash
# tests/criu/setup.sh: print the path of a CRIU that works on this kernel.
#
# The host's own criu is used when `criu check` passes. Otherwise (Debian 12's
# criu 3.17 fails on kernels >= 6.13: "vdso: Unexpected rt vDSO area bounds",
# fixed in CRIU 4.1) a newer Debian's criu and its libraries, glibc included,
# are unpacked into a private prefix under .cache/criu, with apt pointed at a
# private source list and state directory: the system's apt sources, package
# database and libc are never touched. The binary gets the prefix's dynamic
# loader as its interpreter and the prefix's library directory as DT_RPATH
# (not RUNPATH: the libraries' own dependencies must resolve there too). No
# LD_LIBRARY_PATH: criu runs host programs (tar, iptables) that must keep the
# host's libc. Idempotent: a prefix whose criu passes `criu check` is reused.
# Progress goes to stderr; the one line on stdout is the path to pass to
# ocirun --criu.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${CRIU_CACHE:-$(cd "$here/../.." && pwd)/.cache/criu}
# Debian testing (forky) first: its CRIU 4.2 dumps TCP sockets on this 6.18
# kernel, where trixie's 4.1.1 fails on every one ("sockets: Can't get 1:34
# opt: Operation not supported": getsockopt(SO_PASSSEC) on a TCP socket).
# Debian 13 (trixie) is the fallback. CRIU_SUITE picks one.
suites=(${CRIU_SUITE:-forky trixie})
log() { echo "criu setup: $*" >&2; }

works() { "$1" check >/dev/null 2>&1; }

if [ -x /usr/sbin/criu ] && works /usr/sbin/criu; then
	echo /usr/sbin/criu
	exit 0
fi
command -v patchelf >/dev/null || { log "installing patchelf"; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq patchelf >&2; }
# CRIU locks the network during a dump with iptables-restore, a host program.
command -v iptables-restore >/dev/null || { log "installing iptables"; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iptables >&2; }

# unpack SUITE: criu and everything it needs from SUITE into $cache/SUITE.
unpack() {
	local suite=$1
	local prefix=$cache/$suite/prefix
	local criu=$prefix/usr/sbin/criu
	if [ -x "$criu" ] && works "$criu"; then
		echo "$criu"
		return 0
	fi
	local apt=$cache/$suite/apt
	mkdir -p "$apt/etc/preferences.d" "$apt/state/lists/partial" "$apt/cache/archives/partial" "$apt/debs"
	echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main" >"$apt/etc/sources.list"
	aptopts=(
		-o "Dir::Etc::SourceList=$apt/etc/sources.list"
		-o "Dir::Etc::SourceParts=/nonexistent"
		-o "Dir::Etc::Preferences=/dev/null"
		-o "Dir::Etc::PreferencesParts=$apt/etc/preferences.d"
		-o "Dir::State=$apt/state"
		-o "Dir::State::status=/dev/null"
		-o "Dir::Cache=$apt/cache"
		-o "APT::Architecture=amd64"
		-o "APT::Architectures=amd64"
		-o "Debug::NoLocking=1"
		-o "APT::Sandbox::User=root"
	)
	log "fetching the $suite package lists into $apt"
	apt-get "${aptopts[@]}" -qq update >&2
	# Every package criu needs, down to libc6, but nothing merely recommended.
	local pkgs real
	mapfile -t pkgs < <(apt-cache "${aptopts[@]}" depends --recurse --no-recommends --no-suggests \
		--no-conflicts --no-breaks --no-replaces --no-enhances --no-pre-depends criu libcompel1 |
		grep -E '^[a-z0-9]' | sort -u)
	# Virtual packages have no archive; debconf and friends carry no libraries criu uses.
	real=()
	for p in "${pkgs[@]}"; do
		case $p in debconf | debconf-2.0 | cdebconf | perl-base | dpkg | tar | install-info) continue ;; esac
		if apt-cache "${aptopts[@]}" show "$p" >/dev/null 2>&1; then real+=("$p"); fi
	done
	log "downloading ${#real[@]} packages: ${real[*]}"
	rm -f "$apt"/debs/*.deb
	(cd "$apt/debs" && apt-get "${aptopts[@]}" -qq download "${real[@]}" >&2)
	rm -rf "$prefix.new" && mkdir -p "$prefix.new"
	for deb in "$apt"/debs/*.deb; do dpkg-deb -x "$deb" "$prefix.new"; done
	local lib=$prefix/usr/lib/x86_64-linux-gnu
	patchelf --set-interpreter "$lib/ld-linux-x86-64.so.2" --force-rpath --set-rpath "$lib" "$prefix.new/usr/sbin/criu"
	rm -rf "$prefix" && mv "$prefix.new" "$prefix"
	if ! "$criu" check >&2; then
		log "$suite: $criu check failed"
		return 1
	fi
	echo "$criu"
}

for suite in "${suites[@]}"; do
	if unpack "$suite"; then
		exit 0
	fi
done
log "no working CRIU from ${suites[*]}"
exit 1
