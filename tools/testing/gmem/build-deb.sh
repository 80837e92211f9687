#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Debian packages of the patched kernel, for a host with hardware KVM:
# linux-image-VERSION and linux-headers-VERSION (and linux-libc-dev, the
# uAPI headers), made by the kernel's own `make bindeb-pkg` in OBJ_DIR and
# moved to OUT_DIR.  dpkg-buildpackage writes them beside OBJ_DIR: its
# parent folder is this script's alone.  The release is 6.12.117-gmem;
# the package version counts the repository's commits, so that a newer
# build upgrades an older.
#
# usage: build-deb.sh REPO SRC_DIR OBJ_DIR OUT_DIR KMAKE...
set -euo pipefail
repo=$(realpath "$1")
src=$(realpath "$2")
obj=$(realpath -m "$3")
out=$(realpath -m "$4")
shift 4

n=$(git -C "$repo" rev-list --count HEAD 2>/dev/null || echo 0)
version=$(make -s -C "$src" kernelversion)-gmem.$n
pkgs=$(dirname "$obj")
log=$pkgs/bindeb-pkg.log
# No packages of an older build are left to be taken for this one's.
rm -f "$pkgs"/*.deb "$pkgs"/*.buildinfo "$pkgs"/*.changes "$out"/*.deb
mkdir -p "$obj" "$out"
echo "  DEB     $version (make bindeb-pkg, log: $log)"
# The kernel's debian/rules lists its packages with debhelper's
# dh_listpackages: the one build dependency the test builds do not have.
"$(dirname "$(realpath "$0")")/install-deps.sh" debhelper
# -d: dpkg-buildpackage would check every Build-Depends (e.g. a
# cross-compiler's name), which the binary packages do not need.
# LOCALVERSION set (empty): no "+" for a tree that is not at a tag.
"$@" O="$obj" LOCALVERSION= KDEB_PKGVERSION="$version" DPKG_FLAGS=-d bindeb-pkg > "$log" 2>&1 ||
	{ tail -n 40 "$log"; echo "build-deb: make bindeb-pkg failed: $log" >&2; exit 1; }
mv "$pkgs"/*.deb "$out/"
for d in "$out"/*.deb; do
	echo "  DEB     $d ($(du -h "$d" | cut -f1))"
done
