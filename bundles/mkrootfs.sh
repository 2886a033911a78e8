#!/bin/sh
# mkrootfs.sh DIR: build a busybox root filesystem in DIR from Debian's
# busybox-static (installed with apt-get when missing). Idempotent.
set -eu
dir=${1:?usage: mkrootfs.sh DIR}
if [ -x "$dir/bin/busybox" ] && [ -e "$dir/bin/sh" ]; then
	exit 0
fi
# busybox-static's binary needs no libraries inside the container.
bb=/bin/busybox
if ! dpkg -s busybox-static >/dev/null 2>&1; then
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null
fi
mkdir -p "$dir/bin" "$dir/etc" "$dir/proc" "$dir/sys" "$dir/dev" "$dir/tmp" "$dir/root" "$dir/home/user"
chmod 1777 "$dir/tmp"
cp "$bb" "$dir/bin/busybox"
for applet in $("$dir/bin/busybox" --list); do
	[ -e "$dir/bin/$applet" ] || ln -s busybox "$dir/bin/$applet"
done
cat > "$dir/etc/passwd" <<'PW'
root:x:0:0:root:/root:/bin/sh
user:x:1000:1000:user:/home/user:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PW
cat > "$dir/etc/group" <<'GR'
root:x:0:
tty:x:5:
user:x:1000:
nogroup:x:65534:
GR
chown 1000:1000 "$dir/home/user"
