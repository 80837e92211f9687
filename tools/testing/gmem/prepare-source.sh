#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Turn Debian's linux-source-6.12 tarball plus this repo into a patched tree:
#   1. extract the tarball into $SRC (again when the package version changed);
#   2. (re)apply patches/series with quilt when the series or a patch changed,
#      refusing to throw away edits in $SRC that no patch holds yet;
#   3. copy the repo's new kernel files (the overlay) over it, file by file,
#      only where they differ, so incremental builds stay incremental.
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
version=$(dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null || echo unknown)

if [ "$(cat "$src/.gmem-version" 2>/dev/null)" != "$version" ]; then
	echo "  EXTRACT $tarball ($version) -> $src"
	rm -rf "$src" "$src.tmp"
	mkdir -p "$src.tmp"
	tar -C "$src.tmp" --strip-components=1 -xf "$tarball"
	(cd "$src.tmp" && find . -type f | sed 's|^\./||' | sort) > "$src.tmp/.gmem-upstream-files"
	echo "$version" > "$src.tmp/.gmem-version"
	mv "$src.tmp" "$src"
fi

export QUILT_PATCHES=patches
export QUILTRC=$repo/.quiltrc
ln -sfn "$repo/patches" "$src/patches"
q() { (cd "$src" && quilt "$@"); }

# --- patches -------------------------------------------------------------
mapfile -t series < <(grep -v '^\s*\(#\|$\)' "$repo/patches/series" | awk '{print $1}')
for p in "${series[@]}"; do
	[ -f "$repo/patches/$p" ] || die "patches/series names $p, which is not in patches/"
done
series_hash=$( (cd "$repo/patches" && cat series "${series[@]}") | sha1sum | cut -d' ' -f1)
applied_hash=$(cat "$src/.gmem-series-hash" 2>/dev/null || true)
if [ ${#series[@]} -gt 0 ] && [ -n "$(q unapplied 2>/dev/null)" ]; then
	applied_hash=	# left part-way (quilt pop by hand, a failed push)
fi

if [ "$series_hash" != "$applied_hash" ]; then
	before=$(q files -a 2>/dev/null | sort -u || true)
	if top=$(q top 2>/dev/null); then
		# Edits made with quilt edit go to the top patch: keep them.
		[ -z "$(q diff -z 2>/dev/null)" ] ||
			die "$src has edits that ${top#patches/} does not hold yet: 'quilt refresh' them there (or rm -rf $src to drop them)"
		q pop -a -f -q > /dev/null || die "quilt pop failed in $src"
	elif [ -s "$src/.pc/applied-patches" ]; then
		# A patch was added or removed under the applied ones, and quilt
		# no longer follows the series: pop them in the order applied.
		cp "$src/.pc/applied-patches" "$src/.pc/applied-series"
		(cd "$src" && QUILT_SERIES=.pc/applied-series quilt pop -a -f -q) > /dev/null ||
			die "quilt pop failed in $src"
		rm -f "$src/.pc/applied-series"
	fi
	rm -f "$src/.gmem-series-hash"
	echo "  PATCH   applying ${#series[@]} patch(es) from patches/series"
	if [ ${#series[@]} -gt 0 ] && ! out=$(q push -a 2>&1); then
		failed=$(q next 2>/dev/null || true)
		echo "$out" | tail -n 20 >&2
		die "patch '${failed#patches/}' does not apply to linux-source $version"
	fi
	after=$(q files -a 2>/dev/null | sort -u || true)
	# quilt restores originals with their old mtimes: make every file the
	# series touches, or touched before, newer than any object built from
	# another version of it.
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
