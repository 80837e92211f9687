#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Turn Debian's linux-source-6.12 tarball plus this repo into a patched tree:
#   1. extract the tarball once into $SRC (quilt-managed from then on);
#   2. copy the repo's new kernel files (the overlay) over it, file by file,
#      only where they differ, so incremental builds stay incremental;
#   3. (re)apply patches/series with quilt when the series or a patch changed.
# Stops with the name of the first patch that does not apply.
#
# usage: prepare-source.sh REPO_DIR SRC_DIR TARBALL
set -euo pipefail

repo=$(realpath "$1")
src=$(realpath -m "$2")
tarball=$3

die() { echo "prepare-source: $*" >&2; exit 1; }

# The directories whose files are new kernel files, copied to the same path.
overlay_dirs="arch include mm virt tools/testing/selftests Documentation"

[ -f "$tarball" ] || die "no kernel tarball at $tarball"

if [ ! -f "$src/.gmem-extracted" ]; then
	echo "  EXTRACT $tarball -> $src"
	rm -rf "$src" "$src.tmp"
	mkdir -p "$src.tmp"
	tar -C "$src.tmp" --strip-components=1 -xf "$tarball"
	(cd "$src.tmp" && find . -type f | sed 's|^\./||' | sort) > "$src.tmp/.gmem-upstream-files"
	mv "$src.tmp" "$src"
	touch "$src/.gmem-extracted"
fi

export QUILT_PATCHES=patches
export QUILTRC=$repo/.quiltrc
ln -sfn "$repo/patches" "$src/patches"

# Files the series touches: they must be newer than any object built from
# another version of them, because quilt restores originals with old mtimes.
series_files() {
	(cd "$src" && quilt files -a 2>/dev/null | sort -u) || true
}

# --- patches -------------------------------------------------------------
series_hash=$(cd "$repo/patches" && cat series $(grep -v '^\s*#' series | awk 'NF {print $1}') 2>/dev/null | sha1sum | cut -d' ' -f1)
applied_hash=$(cat "$src/.gmem-series-hash" 2>/dev/null || true)
if [ "$series_hash" != "$applied_hash" ]; then
	before=$(series_files)
	if [ -d "$src/.pc" ]; then
		(cd "$src" && quilt pop -a -f -q >/dev/null) || die "quilt pop failed in $src"
	fi
	rm -f "$src/.gmem-series-hash"
	n=$(grep -cv '^\s*\(#\|$\)' "$repo/patches/series" || true)
	echo "  PATCH   applying $n patch(es) from patches/series"
	if [ "$n" -gt 0 ]; then
		if ! out=$(cd "$src" && quilt push -a 2>&1); then
			failed=$(cd "$src" && quilt next 2>/dev/null || true)
			echo "$out" | tail -n 20 >&2
			die "patch '${failed#patches/}' does not apply to linux-source $(cat "$src/.gmem-version" 2>/dev/null)"
		fi
	fi
	after=$(series_files)
	last=$(cat "$src/.gmem-series-files" 2>/dev/null || true)
	for f in $(printf '%s\n%s\n%s\n' "$last" "$before" "$after" | sort -u); do
		if [ -e "$src/$f" ]; then touch "$src/$f"; fi
	done
	echo "$after" > "$src/.gmem-series-files"
	echo "$series_hash" > "$src/.gmem-series-hash"
fi

# --- overlay -------------------------------------------------------------
list=$src/.gmem-overlay-files
old_list=$(cat "$list" 2>/dev/null || true)
new_list=$(cd "$repo" && for d in $overlay_dirs; do
	if [ -d "$d" ]; then find "$d" -type f ! -name '*.orig' ! -name '*.rej'; fi
done | sort)

# Overlay files must be new files: an upstream file is changed by a patch.
clash=$(echo "$new_list" | grep -Fxf - "$src/.gmem-upstream-files" || true)
[ -z "$clash" ] || die "upstream file(s) in the overlay, change them with a patch instead: $clash"

# Remove files the repo no longer has.
for f in $old_list; do
	echo "$new_list" | grep -qx "$f" || rm -f "$src/$f"
done
changed=0
for f in $new_list; do
	if ! cmp -s "$repo/$f" "$src/$f"; then
		mkdir -p "$(dirname "$src/$f")"
		cp "$repo/$f" "$src/$f"
		changed=$((changed + 1))
	fi
done
echo "$new_list" > "$list"
[ "$changed" -eq 0 ] || echo "  OVERLAY $changed file(s) updated"
exit 0
