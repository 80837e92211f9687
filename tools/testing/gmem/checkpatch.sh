#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# checkpatch --strict over every patch of the series and every new kernel
# source file of the overlay. Fails on any error, and on any warning or check
# that checkpatch-exceptions does not explain.
#
# usage: checkpatch.sh REPO_DIR SRC_DIR
set -uo pipefail
repo=$(realpath "$1")
src=$(realpath "$2")
cp="$src/scripts/checkpatch.pl --strict --no-summary --color=never --show-types"
exceptions=$repo/tools/testing/gmem/checkpatch-exceptions

# Drop the findings an exception line ("PATH TYPE reason...") explains.
filter() {	# filter PATH < checkpatch output
	awk -v path="$1" -v exf="$exceptions" '
		BEGIN { while ((getline l < exf) > 0) {
			if (l ~ /^#/ || split(l, f, " ") < 3) continue
			if (f[1] == path) ok[f[2]] = 1 } }
		/^(ERROR|WARNING|CHECK):/ {
			split($0, t, ":"); keep = !(t[2] in ok) }
		/^$/ { keep = 0 }
		keep' 
}

bad=0
n=0
report() {	# report PATH OUTPUT
	n=$((n + 1))
	if [ -n "$2" ]; then
		echo "== $1"
		echo "$2"
		bad=1
	fi
}

cd "$src" || exit 1
while read -r p _; do
	case "$p" in ""|\#*) continue ;; esac
	out=$($cp "$repo/patches/$p" 2>&1 | filter "patches/$p")
	report "patches/$p" "$out"
done < "$repo/patches/series"

for f in $(cd "$repo" && git ls-files --cached --others --exclude-standard \
		'mm/*' 'virt/*' 'arch/*' 'include/*' 'tools/testing/selftests/*' |
		grep -E '\.(c|h)$|Kconfig|Makefile$'); do
	out=$($cp --no-tree -f "$repo/$f" 2>&1 | filter "$f")
	report "$f" "$out"
done

if [ $bad -ne 0 ]; then
	echo "checkpatch: findings above (explain one in $exceptions, or fix it)"
	exit 1
fi
echo "  CHECK   checkpatch --strict clean: $n file(s) and patch(es)"
