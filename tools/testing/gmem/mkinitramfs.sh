#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the test initramfs: static busybox, hugeadm (with the libraries it
# links), our /init, the test lists, the static selftest binaries, and in
# /guest the kernel and initramfs that gmem_vmm boots.
#
# With --tree, the same files in the folder OUT_DIR instead: the bundle
# of tests that `make deb` makes for a host, whose `run` is our /init.
#
# usage: mkinitramfs.sh [--tree] OUT KVM_TEST_DIR MM_TEST_DIR BENCH_DIR GUEST_BZIMAGE GUEST_CPIO
set -euo pipefail
tree=
if [ "$1" = --tree ]; then
	tree=1
	shift
fi
out=$(realpath -m "$1")
kvm=$(realpath "$2")
mm=$(realpath "$3")
bench=$(realpath "$4")
guest_kernel=$(realpath "$5")
guest_initramfs=$(realpath "$6")
here=$(dirname "$(realpath "$0")")

if [ -n "$tree" ]; then
	root=$out
	rm -rf "$root"
	mkdir -p "$root"
else
	root=$(mktemp -d)
	trap 'rm -rf "$root"' EXIT
fi
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,tests/kvm,tests/mm,tests/bench,guest}
cp "$guest_kernel" "$root/guest/bzImage"
cp "$guest_initramfs" "$root/guest/initramfs.cpio"

cp /bin/busybox "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
file -b /bin/busybox | grep -q 'statically linked' ||
	{ echo "mkinitramfs: /bin/busybox is not static (install busybox-static)" >&2; exit 1; }

# hugeadm and the shared libraries it needs, at the same paths.
hugeadm=$(command -v hugeadm || echo /usr/bin/hugeadm)
cp "$hugeadm" "$root/usr/bin/hugeadm"
for lib in $(ldd "$hugeadm" | grep -o '/[^ ]*'); do
	mkdir -p "$root$(dirname "$lib")"
	cp -L "$lib" "$root$lib"
done

cp "$here/init" "$root/init"
[ -z "$tree" ] || ln -s init "$root/run"
cp "$here/boot-check" "$root/usr/bin/boot-check"
cp "$here/tests.list" "$here/demo.list" "$here/bench.list" "$here/soak.list" "$here/splat.re" \
	"$root/"

# Every binary a list names must be there: a missing one is a build error,
# not a test that silently disappears.
for name in $(awk '!/^#/ && NF >= 3 {print $3}' "$here/tests.list" "$here/demo.list" \
		"$here/bench.list" | sort -u); do
	found=
	for d in "$kvm" "$kvm/x86_64" "$mm" "$bench"; do
		if [ -x "$d/$name" ]; then
			case "$d" in "$mm") dst=mm ;; "$bench") dst=bench ;; *) dst=kvm ;; esac
			cp "$d/$name" "$root/tests/$dst/$name"
			found=1
			break
		fi
	done
	[ -n "$found" ] || { echo "mkinitramfs: test binary '$name' was not built" >&2; exit 1; }
done

if [ -n "$tree" ]; then
	echo "  TESTS   $out ($(du -sh "$out" | cut -f1))"
	exit 0
fi
(cd "$root" && find . | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) > "$out.tmp"
mv "$out.tmp" "$out"
echo "  INITRAMFS $out ($(du -h "$out" | cut -f1))"
