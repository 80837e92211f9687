#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# checkpatch --strict over every patch of the series, every new kernel
# source file, and the mails of make series (MAILS_DIR: the changelogs and
# the new files as reviewers get them). Fails on any error, and on any
# warning or check that checkpatch-exceptions does not explain.
#
# usage: checkpatch.sh REPO_DIR SRC_DIR [MAILS_DIR]
set -uo pipefail
repo=$(realpath "$1")
src=$(realpath "$2")
mails=${3:+$(realpath "$3")}
cp="$src/scripts/checkpatch.pl --strict --no-summary --color=never --show-types"
exceptions=$repo/tools/testing/gmem/checkpatch-exceptions

# Drop the findings an exception line ("PATH TYPE reason...") explains:
# one for KEY, or one for the file a finding is in (a mail's new file).
filter() {	# filter KEY < checkpatch output
	awk -v key="$1" -v exf="$exceptions" '
		BEGIN { while ((getline l < exf) > 0) {
			if (l ~ /^#/ || split(l, f, " ") < 3) continue
			ok[f[1] SUBSEP f[2]] = 1 } }
		function flush() {
			if (block != "" && !((key SUBSEP type) in ok) && !((file SUBSEP type) in ok))
				printf "%s", block
			block = ""; type = ""; file = ""
		}
		/^(ERROR|WARNING|CHECK):/ {
			flush(); split($0, t, ":"); type = t[2]; block = $0 "\n"; next }
		/^$/ { flush(); next }
		block != "" && /^#[0-9]+: FILE: / {
			file = $3; sub(/:[0-9]+:$/, "", file) }
		block != "" { block = block $0 "\n" }
		END { flush() }'
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

# A mail's findings are its patch's (the same exceptions), or the new
# file's they are in.
if [ -n "$mails" ]; then
	mapfile -t names < <(grep -v '^[[:space:]#]\|^$' "$repo/patches/series")
	i=0
	for m in "$mails"/[0-9][0-9][0-9][0-9]-*.patch; do
		case $m in */0000-cover-letter.patch) continue ;; esac
		check "patches/${names[i]}" "$m"
		i=$((i + 1))
	done
	[ "$i" -eq ${#names[@]} ] || report "$mails" "${#names[@]} patches but $i mails: run make series"
fi

if [ $bad -ne 0 ]; then
	echo "checkpatch: findings above (explain one in $exceptions, or fix it)"
	exit 1
fi
echo "  CHECK   checkpatch --strict clean: $n file(s) and patch(es)"
