#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Say how many figures of the tables that report.sh makes from a new
# `make bench` CSV are the same as those it makes from the committed CSV
# (the tables round to 3 significant digits), and which differ.
#
# usage: compare.sh COMMITTED.csv NEW.csv
set -euo pipefail
[ -f "$1" ] || { echo "  COMPARE no $1"; exit 0; }
here=$(dirname "$0")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# One figure per line, named by its table row and column.
figures() {
	"$here/report.sh" "$1" - - - - | awk '
		/^\| --- / { next }
		/^\| / { row = substr($0, 3, length($0) - 4)
			 nc = split(row, c, / [|] /)
			 if (!body) { for (i = 1; i <= nc; i++) head[i] = c[i]; body = 1; next }
			 for (i = 2; i <= nc; i++) {
				 n = split(c[i], v, " / ")
				 for (j = 1; j <= n; j++)
					 printf "%s; %s (%d): %s\n", c[1], head[i], j, v[j]
			 }
			 next }
		{ body = 0 }'
}
figures "$1" > "$tmp/old"
figures "$2" > "$tmp/new"
if ! cut -d: -f1 "$tmp/old" | cmp -s - <(cut -d: -f1 "$tmp/new"); then
	echo "  COMPARE the tables' rows differ from bench/results/"
	exit 0
fi
total=$(wc -l < "$tmp/old")
same=$(paste -d'\n' "$tmp/old" "$tmp/new" | awk 'NR % 2 { a = $0; next } a == $0' | wc -l)
echo "  COMPARE $same of $total table figures are those of bench/results/ (3 significant digits)"
paste -d'~' "$tmp/old" "$tmp/new" | awk -F'~' '$1 != $2 { sub(/.*: /, "", $2); print "          " $1 " -> " $2 }' \
	> "$tmp/diff"
head -20 "$tmp/diff"
[ "$(wc -l < "$tmp/diff")" -le 20 ] || echo "          ... and $(($(wc -l < "$tmp/diff") - 20)) more"
