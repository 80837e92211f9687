#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Install the Debian packages the build, the tests and the benchmarks need,
# when they are missing. linux-source-6.12 is pinned to the version the
# series is written against; when the archive no longer has it, the newest
# is taken with a warning.
set -euo pipefail

pin=${KERNEL_DEB_VERSION:-6.12.117-1~deb12u1}
pkgs=(make gcc libc6-dev flex bison bc libelf-dev libssl-dev cpio xz-utils
      kmod file rsync ccache quilt perl python3 qemu-system-x86
      busybox-static libhugetlbfs-bin)

sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
have_src=$(dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null || true)

[ "$have_src" = "$pin" ] || missing+=(linux-source-6.12)
[ ${#missing[@]} -gt 0 ] || exit 0

echo "  DEPS    installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
for i in "${!missing[@]}"; do
	[ "${missing[$i]}" = linux-source-6.12 ] || continue
	if apt-cache madison linux-source-6.12 | awk '{print $3}' | grep -qxF "$pin"; then
		missing[$i]="linux-source-6.12=$pin"
	else
		echo "WARNING: linux-source-6.12 $pin is not in the archive; taking the newest" \
		     "($(apt-cache policy linux-source-6.12 | awk '/Candidate/ {print $2}'))." >&2
		echo "WARNING: the series is tested against $pin; a patch may not apply." >&2
		[ -z "$have_src" ] || unset 'missing[i]'
	fi
done
[ ${#missing[@]} -gt 0 ] || exit 0
$sudo apt-get install -y -qq --no-install-recommends --allow-downgrades \
	"${missing[@]}" > /dev/null
