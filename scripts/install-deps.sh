#!/bin/sh
# install-deps.sh: what building and testing ocirun needs on Debian/Ubuntu,
# installed with apt-get only when missing. Idempotent; run as root.
set -eu
need=""
for pkg in gcc libc6-dev musl-tools make busybox-static pkg-config libseccomp-dev bsdutils procps; do
	dpkg -s "$pkg" >/dev/null 2>&1 || need="$need $pkg"
done
if ! command -v go >/dev/null 2>&1 && ! [ -x /usr/local/go/bin/go ]; then
	need="$need golang-go"
fi
if [ -n "$need" ]; then
	echo "installing:$need"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
fi
