#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Draw the conversion benchmark's latency against range size, per backing
# and direction, from the CSV that `make bench` writes.
#
# usage: plot.sh RESULTS.csv OUT.png
set -euo pipefail
csv=$1
out=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# csv,<backing>,<size_bytes>,<what>,<reps>,<median_ns>,<min_ns>
for b in 4k 2m 1g; do
	for w in to_shared to_private; do
		awk -F, -v b=$b -v w=$w '$1 == "csv" && $2 == b && $4 == w {print $3, $6 / 1000}' \
			"$csv" | sort -n > "$tmp/$b-$w.dat"
	done
done

gnuplot <<PLOT
set terminal png size 960,640 noenhanced
set output '$out'
set title 'guest_memfd conversion latency (median; QEMU TCG -icount: instruction time)'
set logscale xy
set xlabel 'range converted (bytes)'
set ylabel 'latency (us)'
set key top left
set grid
plot for [b in '4k 2m 1g'] for [w in 'to_shared to_private'] \
	'$tmp/'.b.'-'.w.'.dat' using 1:2 with linespoints title b.' pages, '.w
PLOT
echo "  PLOT    $out"
