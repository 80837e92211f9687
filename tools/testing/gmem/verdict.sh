#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Read a console log written by run-vm.sh and decide. Fails (exit 1) when a
# test failed or was skipped, the VM did not finish, or the kernel printed a
# splat anywhere on the console. Ends with the line "N passed, N failed"
# (", N skipped" when any).
#
# usage: verdict.sh LOG [QEMU_EXIT_STATUS]
set -uo pipefail
log=$1
qemu_rc=${2:-0}

splat_re=$(cat "$(dirname "$(realpath "$0")")/splat.re")

tr -d '\r' < "$log" > "$log.clean"
pass=$(grep -Ec '^ok [0-9]+ [^#]*($|# [0-9]+s$)' "$log.clean")
skip=$(grep -Ec '^ok [0-9]+ .*# SKIP' "$log.clean")
fail=$(grep -Ec '^not ok [0-9]+ ' "$log.clean")
problems=()

if ! grep -q '^GMEM-HARNESS-DONE' "$log.clean"; then
	problems+=("the VM did not finish (qemu exit status $qemu_rc)")
	last=$(grep '^# running ' "$log.clean" | tail -n 1)
	[ -z "$last" ] || problems+=("it was ${last#\# }")
else
	# Every test of the plan reported once: a result line mangled by
	# kernel output on the same console, or a test that never reported,
	# fails the run.
	plan=$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' "$log.clean" | tail -n 1)
	if [ -z "$plan" ] || [ $((pass + skip + fail)) -ne "$plan" ]; then
		problems+=("TAP plan 1..${plan:-?} but $((pass + skip + fail)) results were read")
	fi
fi
# Kernel messages are the lines the harness did not prefix with "# ".
if grep -v '^# ' "$log.clean" | grep -Eq "$splat_re"; then
	problems+=("the kernel printed a splat on the console")
fi

echo
echo "# ---- verdict ($log)"
grep -E '^(not ok|ok [0-9]+ .*# SKIP)' "$log.clean" | sed 's/^/# /'
# What each failed test printed last (its assertion), so that the end of a
# run says why without the whole log.
for name in $(sed -n 's/^not ok [0-9]* \([A-Za-z0-9_.-]*\).*/\1/p' "$log.clean" | sort -u); do
	echo "# ---- the end of $name"
	sed -n "/^# running $name\$/,/^not ok [0-9]* $name /p" "$log.clean" |
		grep -v '^# running \|^not ok ' | tail -n 20 | sed 's/^/#   /'
done
for p in "${problems[@]}"; do
	echo "not ok - $p"
	fail=$((fail + 1))
done
if grep -v '^# ' "$log.clean" | grep -Eq "$splat_re"; then
	grep -v '^# ' "$log.clean" | grep -E -m 5 "$splat_re" | sed 's/^/#   /'
fi
rm -f "$log.clean"
if [ ${#problems[@]} -gt 0 ] && [ -s "$log.qemu-stderr" ]; then
	echo "# qemu said:"
	tail -n 5 "$log.qemu-stderr" | sed 's/^/#   /'
fi

line="$pass passed, $fail failed"
[ "$skip" -gt 0 ] && line="$line, $skip skipped"
echo "$line"
[ "$fail" -eq 0 ] && [ "$skip" -eq 0 ] && [ "$pass" -gt 0 ]
