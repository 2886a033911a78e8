#!/bin/sh
# musl-sysroot.sh DIR: the headers and archive that building ocirun with
# musl-gcc needs beyond musl's own: libseccomp's (the archive is Debian's,
# built for glibc; libcontainer/seccomp/libc_compat.c fills the one gap) and
# the kernel's uapi headers that seccomp.h includes. musl-gcc searches only
# musl's directories, so these are linked into DIR, not the glibc tree.
set -eu
dir=$1
lib=$(gcc -print-multiarch)
rm -rf "$dir" && mkdir -p "$dir/include" "$dir/lib"
for h in seccomp.h seccomp-syscalls.h; do cp "/usr/include/$h" "$dir/include/"; done
ln -s /usr/include/linux "$dir/include/linux"
ln -s /usr/include/asm-generic "$dir/include/asm-generic"
ln -s "/usr/include/$lib/asm" "$dir/include/asm"
cp "/usr/lib/$lib/libseccomp.a" "$dir/lib/"
