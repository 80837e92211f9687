#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the qemu-system-x86_64 that the TCG runs use: Debian's own QEMU
# source, the version of the installed qemu-system-x86 package, plus the
# fixes in this directory (*.patch, in name order). Debian's QEMU 7.2
# now and then delivers an interrupt of a nested guest twice, or loses
# one (see the patches), which hangs the guests that `make test` boots.
#
# The source comes through apt, from the deb-src twins of the system's own
# Debian sources, so apt checks it against the signed archive. Only the
# x86_64 system emulator is built, with TCG and no optional features, nor
# debug info (it slows a new machine's build); it finds its firmware where
# Debian's packages put it.
#
# It builds in OUT_DIR.new and replaces OUT_DIR only when it succeeded, so
# a failed fetch (the archive moved on: upgrade qemu-system-x86) keeps the
# last good build.
#
# usage: build-qemu.sh OUT_DIR     (prints nothing when OUT_DIR is current)
set -euo pipefail

out=$(realpath -m "$1")
here=$(dirname "$(realpath "$0")")
die() { echo "build-qemu: $*" >&2; exit 1; }

version=$(dpkg-query -W -f='${source:Version}' qemu-system-x86 2>/dev/null) ||
	die "qemu-system-x86 is not installed (tools/testing/gmem/install-deps.sh)"
stamp="$version $(cat "$0" "$here"/*.patch | sha1sum | cut -d' ' -f1)"
[ -x "$out/qemu-system-x86_64" ] && [ "$(cat "$out/.stamp" 2>/dev/null)" = "$stamp" ] &&
	exit 0

echo "  QEMU    Debian qemu $version + $(ls "$here"/*.patch | wc -l) fix(es) -> $out"
final=$out
out=$final.new
rm -rf "$out"
mkdir -p "$out/apt/sources.list.d" "$out/apt/lists/partial" "$out/apt/cache/archives/partial"

# deb-src entries for the suites the system already uses.
for f in /etc/apt/sources.list.d/*.sources; do
	[ -e "$f" ] && sed 's/^Types:.*/Types: deb-src/' "$f" > "$out/apt/sources.list.d/${f##*/}"
done
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
	[ -e "$f" ] && sed -n 's/^deb\( \|\t\)/deb-src\1/p' "$f" > "$out/apt/sources.list.d/${f##*/}.list"
done
apt=(apt-get -qq -o Dir::Etc::SourceList=/dev/null
     -o Dir::Etc::SourceParts="$out/apt/sources.list.d"
     -o Dir::State::Lists="$out/apt/lists" -o Dir::Cache="$out/apt/cache")
# apt's download user cannot write into a root-owned build directory.
[ "$(id -u)" -ne 0 ] || apt+=(-o APT::Sandbox::User=root)
"${apt[@]}" update || die "apt-get update of the deb-src indexes failed"
(cd "$out" && "${apt[@]}" source --download-only "qemu=$version") ||
	die "apt-get source qemu=$version failed (is qemu-system-x86 older than the archive's? upgrade it)"

upstream=${version#*:}
upstream=${upstream%-*}
mkdir -p "$out/src"
tar -C "$out/src" --strip-components=1 -xf "$out"/qemu_"$upstream".orig.tar.xz
tar -C "$out/src" -xf "$out"/qemu_"${version#*:}".debian.tar.xz
# Debian's own patches, in the order of their quilt series (no quilt
# needed: a series line is a patch name and, at most, its -pN).
while read -r name level _; do
	case $name in ''|'#'*) continue ;; esac
	patch -d "$out/src" -s -f "${level:--p1}" < "$out/src/debian/patches/$name" ||
		die "Debian's patch $name does not apply"
done < "$out/src/debian/patches/series"
for p in "$here"/*.patch; do
	patch -d "$out/src" -p1 -s < "$p" || die "${p##*/} does not apply to qemu $version"
done
# The Debian source has no firmware blobs: do not unpack the EDK2 ones.
grep -q 'unpack_edk2_blobs = bzip2.found()' "$out/src/meson.build" ||
	die "meson.build no longer unpacks the EDK2 blobs the way this script expects"
sed -i 's/unpack_edk2_blobs = bzip2.found()/unpack_edk2_blobs = false/' "$out/src/meson.build"

mkdir -p "$out/build"
(cd "$out/build" && ../src/configure --target-list=x86_64-softmmu \
	--without-default-features --enable-tcg --enable-fdt=system \
	--disable-docs --disable-werror --disable-install-blobs --disable-debug-info \
	--firmwarepath=/usr/share/qemu:/usr/share/seabios:/usr/lib/ipxe/qemu \
	--cc="ccache gcc" > "$out/configure.log" 2>&1) ||
	{ tail -n 20 "$out/configure.log" >&2; die "configure failed ($out/configure.log)"; }
ninja -C "$out/build" qemu-system-x86_64 > "$out/build.log" 2>&1 ||
	{ tail -n 20 "$out/build.log" >&2; die "build failed ($out/build.log)"; }
cp "$out/build/qemu-system-x86_64" "$out/qemu-system-x86_64"
echo "$stamp" > "$out/.stamp"
rm -rf "$final"
mv "$out" "$final"
