#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The verdict must fail on every kind of bad run, not only on a failed test:
# feed verdict.sh small console logs and check its decision. Runs on the
# host in a second, before the VM is booted.
set -uo pipefail
here=$(dirname "$(realpath "$0")")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

good='TAP version 13
ok 1 boot_clean
ok 2 guest_memfd_test # 3s
1..2
GMEM-HARNESS-DONE mode=test'

n=0 bad=0
expect() {	# expect pass|fail NAME LOG
	n=$((n + 1))
	printf '%s\n' "$3" > "$tmp/log"
	if "$here/verdict.sh" "$tmp/log" > "$tmp/out" 2>&1; then got=pass; else got=fail; fi
	if [ "$got" = "$1" ]; then
		echo "ok $n verdict: $2"
	else
		echo "not ok $n verdict: $2 (expected $1, got $got)"
		sed 's/^/# /' "$tmp/out"
		bad=$((bad + 1))
	fi
}

expect pass "clean run" "$good"
expect pass "clean run with CRLF line ends" "$(printf '%s\n' "$good" | sed 's/$/\r/')"
expect fail "failed test" "${good/ok 2 guest_memfd_test # 3s/not ok 2 guest_memfd_test # exit status 1}"
expect fail "skipped test" "${good/ok 2 guest_memfd_test # 3s/ok 2 guest_memfd_test # SKIP}"
expect fail "VM did not finish" "${good/GMEM-HARNESS-DONE mode=test/}"
expect fail "WARN on the console" "$good
[   12.3] WARNING: CPU: 1 PID: 88 at virt/kvm/guest_memfd.c:42 kvm_gmem_get_pfn+0x1/0x2"
expect fail "lockdep on the console" "$good
[   12.3] ======================================================
[   12.3] WARNING: possible circular locking dependency detected"
expect fail "BUG on the console" "$good
[   12.3] BUG: sleeping function called from invalid context at mm/slub.c:1"
expect fail "KASAN on the console" "$good
[   12.3] BUG: KASAN: use-after-free in kvm_gmem_free_folio+0x1/0x2"
expect fail "kmemleak report on the console" "$good
[  600.1] kmemleak: unreferenced object 0xffff888104c2a000 (size 64):
[  600.1] kmemleak:   comm \"guest_memfd_stress\", pid 212, jiffies 4294937296"
expect fail "oops on the console" "$good
[   12.3] Oops: general protection fault, probably for non-canonical address"
expect fail "no test ran" 'TAP version 13
1..0
GMEM-HARNESS-DONE mode=test'
expect fail "a result line mangled by kernel output" 'TAP version 13
ok 1 boot_clean
o[   3.1] random: crng initk 2 guest_memfd_test # 3s
1..2
GMEM-HARNESS-DONE mode=test'
expect fail "no plan line" 'TAP version 13
ok 1 boot_clean
GMEM-HARNESS-DONE mode=test'
expect pass "splat text quoted in a diagnostic line" "# [   1.0] BUG: quoted by a test
$good"
expect pass "boot-time SRSO advice is not a WARN" "$good
[    0.8] Speculative Return Stack Overflow: WARNING: See https://kernel.org/doc/html/latest/admin-guide/hw-vuln/srso.html"
expect fail "hung task on the console" "$good
[  200.1] INFO: task guest_memfd_tes:88 blocked for more than 120 seconds."

# The verdict ends with what a failed test printed last (CI shows only
# the end of a run).
n=$((n + 1))
printf '%s\n' 'TAP version 13' 'ok 1 boot_clean' '# running guest_memfd_test' \
	'# ==== Test Assertion Failure ====' '#   want ENOMEM, got EAGAIN' \
	'not ok 2 guest_memfd_test # exit status 1' '1..2' 'GMEM-HARNESS-DONE mode=test' > "$tmp/log"
"$here/verdict.sh" "$tmp/log" > "$tmp/out" 2>&1
if tail -n 3 "$tmp/out" | grep -q 'want ENOMEM, got EAGAIN'; then
	echo "ok $n verdict: ends with a failed test's assertion"
else
	echo "not ok $n verdict: ends with a failed test's assertion"
	sed 's/^/# /' "$tmp/out"
	bad=$((bad + 1))
fi

echo "# harness self-check: $((n - bad)) passed, $bad failed"
[ $bad -eq 0 ]
