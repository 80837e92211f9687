#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Turn Debian's linux-source-6.12 tarball plus this repo into the patched
# tree that the builds use, SRC_DIR, a git tree:
#   1. extract the tarball (again when the package version changed) and
#      commit it as the base, tagged gmem-base;
#   2. make the series' commits on it from the repo (series.sh commits):
#      refs/heads/gmem-series;
#   3. check that series out.  git rewrites only the files that differ, so
#      builds stay incremental; edits in SRC_DIR that no commit holds, or
#      commits made there and not exported to the repo, are never thrown
#      away: it stops and says what to do.
#
# usage: prepare-source.sh REPO_DIR SRC_DIR TARBALL
set -euo pipefail

repo=$(realpath "$1")
src=$(realpath -m "$2")
tarball=$3
here=$(dirname "$(realpath "$0")")

die() { echo "prepare-source: $*" >&2; exit 1; }
g() { git -C "$src" "$@"; }

[ -f "$tarball" ] || die "no kernel tarball at $tarball"
version=$(dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null || echo unknown)

# --- the base ------------------------------------------------------------
if [ ! -d "$src/.git" ] || [ "$(cat "$src/.git/gmem-version" 2>/dev/null)" != "$version" ]; then
	echo "  EXTRACT $tarball ($version) -> $src"
	rm -rf "$src" "$src.tmp"
	mkdir -p "$src.tmp"
	tar -C "$src.tmp" --strip-components=1 -xf "$tarball"
	git -C "$src.tmp" init -q
	# The kernel's .gitignore files name some files the tarball has.
	git -C "$src.tmp" add -f -A .
	# The same base commit on every machine: fixed identity, and the
	# date of the tarball's Makefile.
	date="$(stat -c %Y "$src.tmp/Makefile") +0000"
	GIT_AUTHOR_NAME="Debian linux-source-6.12" GIT_AUTHOR_EMAIL="debian-kernel@lists.debian.org" \
	GIT_COMMITTER_NAME="Debian linux-source-6.12" GIT_COMMITTER_EMAIL="debian-kernel@lists.debian.org" \
	GIT_AUTHOR_DATE=$date GIT_COMMITTER_DATE=$date \
		git -C "$src.tmp" commit -q -m "Linux $(make -s -C "$src.tmp" kernelversion) (Debian linux-source-6.12 $version)"
	git -C "$src.tmp" tag gmem-base
	echo "$version" > "$src.tmp/.git/gmem-version"
	mv "$src.tmp" "$src"
fi

# --- the series ----------------------------------------------------------
"$here/series.sh" commits "$repo" "$src"

[ -z "$(g status --porcelain --untracked-files=no)" ] ||
	die "$src has edits that no commit holds: commit them and 'make export' (see the README), or drop them with 'git -C $src checkout -- .'"
head=$(g rev-parse HEAD)
applied=$(g rev-parse -q --verify refs/gmem/applied || echo "$head")
[ "$head" = "$applied" ] ||
	die "$src has commits that the repo does not hold: 'make export' writes them to the repo, 'git -C $src checkout --detach refs/gmem/applied' drops them"
if [ "$(g rev-parse HEAD^{tree})" != "$(g rev-parse gmem-series^{tree})" ]; then
	echo "  SERIES  $(g rev-list --count gmem-base..gmem-series) patches"
fi
g checkout -q --detach gmem-series
g update-ref refs/gmem/applied HEAD
