#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Make OBJ/.config = x86_64_defconfig (or GMEM_BASE_CONFIG, e.g. a
# distribution's config) + our fragments (the last fragment winning), and
# fail if any option a fragment asks for did not survive olddefconfig: a
# missing dependency would otherwise silently drop it.
# The config is made aside and OBJ/.config replaced only when it differs,
# so running this before every build keeps builds incremental.
#
# usage: configure-kernel.sh SRC_DIR OBJ_DIR FRAGMENT...
set -euo pipefail
src=$(realpath "$1")
obj=$(realpath -m "$2")
shift 2
frags=()
# The fragments are the harness's (configs/ beside this script), not the
# series': they configure the test and bench kernels.
configs=$(dirname "$(realpath "$0")")/configs
for f in "$@"; do frags+=("$(realpath "$configs/$f")"); done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
base=x86_64_defconfig
if [ -n "${GMEM_BASE_CONFIG:-}" ]; then
	cp "$GMEM_BASE_CONFIG" "$tmp/.config"
	base=$GMEM_BASE_CONFIG
else
	make -s -C "$src" O="$tmp" x86_64_defconfig
fi
"$src/scripts/kconfig/merge_config.sh" -m -O "$tmp" "$tmp/.config" "${frags[@]}" >/dev/null
make -s -C "$src" O="$tmp" olddefconfig

# What the fragments ask for, the later fragment winning, as in merge_config.
declare -A want from
for frag in "${frags[@]}"; do
	while IFS= read -r line; do
		case "$line" in
		CONFIG_*=*|"# CONFIG_"*" is not set") ;;
		*) continue ;;
		esac
		opt=${line#\# }
		opt=${opt%%[= ]*}
		want[$opt]=$line
		from[$opt]=$(basename "$frag")
	done < "$frag"
done

bad=0
for opt in "${!want[@]}"; do
	got=$(grep -E "^(# )?$opt[= ]" "$tmp/.config" || echo "# $opt is not set")
	if [ "$got" != "${want[$opt]}" ]; then
		echo "configure-kernel: ${from[$opt]}: wanted '${want[$opt]}', got '$got'" >&2
		bad=1
	fi
done
[ $bad -eq 0 ] || exit 1

mkdir -p "$obj"
if ! cmp -s "$tmp/.config" "$obj/.config"; then
	echo "  CONFIG  $obj = $base + $*"
	cp "$tmp/.config" "$obj/.config"
fi
