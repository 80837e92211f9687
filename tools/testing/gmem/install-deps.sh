#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Install the Debian packages the build, the tests and the benchmarks need,
# when they are missing (meson and the -dev packages after it: for building
# QEMU, qemu/build-qemu.sh). linux-source-6.12 is pinned to the version the
# series is written against; when the archive no longer has it, the newest
# is taken with a warning.
set -euo pipefail

pin=${KERNEL_DEB_VERSION:-6.12.117-1~deb12u1}
pkgs=(make gcc libc6-dev flex bison bc libelf-dev libssl-dev cpio xz-utils
      kmod file rsync ccache perl git patch qemu-system-x86 busybox-static
      libhugetlbfs-bin fio gnuplot-nox libcap-dev
      meson ninja-build pkg-config dpkg-dev libglib2.0-dev libpixman-1-dev libfdt-dev)
# Arguments: packages one target needs beyond these (make deb: debhelper).
pkgs+=("$@")

sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
have_src=$(dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null || true)

pin_known() {
	apt-cache madison linux-source-6.12 2>/dev/null | awk '{print $3}' | grep -qxF "$pin"
}
warn_unpinned() {
	echo "WARNING: linux-source-6.12 $pin is not in the archive; using ${1}." >&2
	echo "WARNING: the series is tested against $pin; a patch may not apply." >&2
}

# Another version is installed and the archive (as last read) lacks ours:
# keep it, without reading the archive again on every run.
if [ -n "$have_src" ] && [ "$have_src" != "$pin" ] && ! pin_known; then
	warn_unpinned "$have_src"
	have_src=$pin
fi
[ "$have_src" = "$pin" ] || missing+=(linux-source-6.12)
[ ${#missing[@]} -gt 0 ] || exit 0

echo "  DEPS    installing: ${missing[*]}"
apt=($sudo env DEBIAN_FRONTEND=noninteractive apt-get)
"${apt[@]}" update -qq
for i in "${!missing[@]}"; do
	[ "${missing[$i]}" = linux-source-6.12 ] || continue
	if pin_known; then
		missing[$i]="linux-source-6.12=$pin"
	else
		warn_unpinned "the newest ($(apt-cache policy linux-source-6.12 | awk '/Candidate/ {print $2}'))"
	fi
done
"${apt[@]}" install -y -qq --no-install-recommends --allow-downgrades \
	"${missing[@]}" > /dev/null
