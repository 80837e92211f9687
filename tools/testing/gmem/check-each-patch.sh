#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the kernel after each patch of the series in turn (bisectability),
# in its own object directory, then leave the tree with the whole series
# applied again.
#
# usage: check-each-patch.sh REPO_DIR SRC_DIR OBJ_DIR KMAKE...
set -uo pipefail
repo=$(realpath "$1")
src=$(realpath "$2")
obj=$(realpath -m "$3")
shift 3
export QUILTRC=$repo/.quiltrc QUILT_PATCHES=patches

restore() {
	(cd "$src" && quilt push -a -q > /dev/null 2>&1)
	# quilt's pops and pushes left older contents under newer objects of
	# the main build: make every file the series touches newer still.
	(cd "$src" && quilt files -a 2>/dev/null | xargs -r touch)
}
trap restore EXIT

cd "$src" || exit 1
quilt pop -a -q > /dev/null 2>&1
n=0
for p in $(quilt series); do
	n=$((n + 1))
	quilt push -q > /dev/null || { echo "check-each-patch: $p does not apply"; exit 1; }
	echo "  BUILD   [$n] ${p#patches/}"
	if ! "$@" O="$obj" bzImage modules; then
		echo "check-each-patch: the kernel does not build after ${p#patches/}"
		exit 1
	fi
done
echo "  OK      all $n patches build one by one"
