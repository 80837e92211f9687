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

# checkpatch exits 0 (clean) or 1 (findings); anything else, or exit 1
# without a finding, means it did not check the file.
check() {	# check PATH [checkpatch args...]
	local path=$1 raw rc
	shift
	raw=$($cp "$@" 2>&1)
	rc=$?
	if [ $rc -gt 1 ] || { [ $rc -eq 1 ] && ! grep -qE '^(ERROR|WARNING|CHECK):' <<< "$raw"; }; then
		report "$path" "checkpatch failed (exit $rc): $raw"
		return
	fi
	report "$path" "$(filter "$path" <<< "$raw")"
}

cd "$src" || exit 1
# patches/series: a patch per line; its new files follow, indented (they
# are checked below, whole).
while read -r p _; do
	check "patches/$p" "$repo/patches/$p"
done < <(grep -v '^[[:space:]#]\|^$' "$repo/patches/series")

for f in $(cd "$repo" && find mm virt arch include tools/testing/selftests bench \
		tools/testing/gmem/gmem_vmm \
		-type f \( -name '*.[ch]' -o -name Kconfig -o -name Makefile \) 2>/dev/null | sort); do
	check "$f" --no-tree -f "$repo/$f"
done

if [ $bad -ne 0 ]; then
	echo "checkpatch: findings above (explain one in $exceptions, or fix it)"
	exit 1
fi
echo "  CHECK   checkpatch --strict clean: $n file(s) and patch(es)"
