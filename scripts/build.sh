#!/bin/sh
# build.sh GOEXPERIMENT TAGS LDFLAGS: `make build`. Links ocirun statically
# with musl when musl-gcc is there (scripts/install-deps.sh installs it):
# glibc's static start-up probes the CPU with dozens of cpuid instructions,
# each a trap to the hypervisor in a VM, ~0.35 ms of every ocirun process here
# (the command, the init, the waiter), where musl probes nothing. Without
# musl-gcc, or if the musl build fails (a libseccomp.a needing more of glibc
# than libcontainer/seccomp/libc_compat.c gives), it links glibc: same code.
set -eu
exp=$1 tags=$2 ldflags=$3
build() {
	GOEXPERIMENT=$exp go build -trimpath -tags "$tags" -ldflags "$ldflags" -o ocirun .
}
if command -v musl-gcc >/dev/null 2>&1; then
	sysroot=$(pwd)/.cache/musl
	if ./scripts/musl-sysroot.sh "$sysroot" &&
		CC=musl-gcc CGO_CFLAGS="-O2 -g -I$sysroot/include" CGO_LDFLAGS="-L$sysroot/lib" build; then
		exit 0
	fi
	echo "build: the musl build failed (above), linking with glibc" >&2
else
	echo "build: no musl-gcc (apt-get install musl-tools), linking with glibc" >&2
fi
build
