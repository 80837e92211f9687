#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the initramfs of the guest that gmem_vmm boots: static busybox and
# gmem_vmm/guest/init; with --fio, also fio and the shared libraries it links.
#
# usage: mkguest-initramfs.sh [--fio] OUT.cpio
set -euo pipefail
fio=
if [ "${1:-}" = --fio ]; then
	fio=1
	shift
fi
out=$(realpath -m "$1")
here=$(dirname "$(realpath "$0")")

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,usr/bin,dev,proc,sys,tmp}
cp /bin/busybox "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
cp "$here/gmem_vmm/guest/init" "$root/init"

if [ -n "$fio" ]; then
	cp /usr/bin/fio "$root/usr/bin/fio"
	for lib in $(ldd /usr/bin/fio | grep -o '/[^ ]*'); do
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
fi

(cd "$root" && find . | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) > "$out.tmp"
mv "$out.tmp" "$out"
echo "  GUESTFS $out ($(du -h "$out" | cut -f1))"
