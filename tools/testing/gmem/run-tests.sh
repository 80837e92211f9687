#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# `make test`: the test list in N VMs at once, each running every N-th test
# (gmem.shard=I/N on its command line; /init picks). TCG runs a VM in one
# host thread, so one VM leaves every other core idle: two VMs on two cores
# take about half the time of one. Each VM is a whole run of its own: boot
# checks, its tests, the kernel-log and kmemleak checks at the end, pool
# counters back; verdict.sh judges each console log, and the run passes
# only when every VM's does.
#
# With N = 1 the log is LOG itself, and the console goes to the terminal as
# before; with N > 1 the logs are LOG with .I before .log, and the terminal
# gets each VM's test results, prefixed with its number.
#
# usage: run-tests.sh N BZIMAGE INITRAMFS LOG TIMEOUT_SECONDS [EXTRA_CMDLINE]
set -uo pipefail

[ $# -ge 5 ] && [[ $1 =~ ^[1-9][0-9]?$ ]] ||
	{ echo "usage: run-tests.sh N(1-99) BZIMAGE INITRAMFS LOG TIMEOUT [EXTRA_CMDLINE]" >&2; exit 2; }
vms=$1 kernel=$2 initrd=$3 log=$4 limit=$5 extra=${6:-}
here=$(dirname "$(realpath "$0")")

if [ "$vms" -eq 1 ]; then
	rc=0
	"$here/run-vm.sh" "$kernel" "$initrd" "$log" test "$limit" "$extra" || rc=$?
	exec "$here/verdict.sh" "$log" "$rc"
fi

# Interrupted: take the VMs (8 GiB each) down too.
trap 'trap - INT TERM; kill 0' INT TERM

logs=() pids=()
for ((i = 0; i < vms; i++)); do
	logs[i]=${log%.log}.$i.log
	rm -f "${logs[i]}.rc"
	( rc=0
	  "$here/run-vm.sh" "$kernel" "$initrd" "${logs[i]}" test "$limit" \
		"$extra gmem.shard=$i/$vms" 2>&1 |
		sed -nu "s/\r$//; /^\(ok\|not ok\|Bail out\|# qemu\)/s/^/vm$i| /p"
	  rc=${PIPESTATUS[0]}
	  echo "$rc" > "${logs[i]}.rc" ) &
	pids[i]=$!
done
wait "${pids[@]}"

status=0 pass=0 fail=0 skip=0
for ((i = 0; i < vms; i++)); do
	out=$("$here/verdict.sh" "${logs[i]}" "$(cat "${logs[i]}.rc" 2>/dev/null || echo 1)") ||
		status=1
	rm -f "${logs[i]}.rc"
	printf '%s\n' "$out"
	# verdict.sh's last line: "P passed, F failed[, S skipped]".
	last=$(printf '%s\n' "$out" | tail -n 1)
	[[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed(,\ ([0-9]+)\ skipped)?$ ]] ||
		{ status=1; continue; }
	pass=$((pass + BASH_REMATCH[1])) fail=$((fail + BASH_REMATCH[2]))
	skip=$((skip + ${BASH_REMATCH[4]:-0}))
done
line="# all $vms VMs: $pass passed, $fail failed"
[ "$skip" -gt 0 ] && line="$line, $skip skipped"
echo "$line"
[ "$pass" -gt 0 ] || status=1
exit $status
