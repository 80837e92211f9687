#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Boot the test kernel with the test initramfs in QEMU and keep the serial
# console in a log. KVM acceleration when the host's /dev/kvm really runs a
# guest with nested virtualization (probed, not assumed); otherwise TCG with
# -cpu EPYC, whose emulated SVM with nested paging lets KVM run inside.
#
# usage: run-vm.sh BZIMAGE INITRAMFS LOG MODE [TIMEOUT_SECONDS] [EXTRA_CMDLINE]
# Environment: GMEM_ACCEL=kvm|tcg forces one; GMEM_ICOUNT=1 runs TCG under
# -icount; GMEM_TCG_QEMU names the QEMU for TCG; GMEM_MONITOR=unix:PATH,
# server,nowait opens QEMU's monitor there (to look at a hung VM).
set -uo pipefail

kernel=$1
initrd=$2
log=$3
mode=$4
limit=${5:-2400}
extra=${6:-}

# Returns 0 when KVM can run a guest here and the host exposes nested virt.
kvm_usable() {
	[ -r /dev/kvm ] && [ -w /dev/kvm ] || return 1
	grep -qsx 'Y\|1' /sys/module/kvm_amd/parameters/nested \
		/sys/module/kvm_intel/parameters/nested || return 1
	grep -qw 'svm\|vmx' /proc/cpuinfo || return 1
	# A boot sector that prints "K" on COM1 and writes 1 to isa-debug-exit
	# (QEMU then exits with status 3): mov dx,0x3f8; mov al,'K'; out dx,al;
	# mov dx,0xf4; mov al,1; out dx,al; hlt.
	probe=$(mktemp)
	{ printf '\xba\xf8\x03\xb0\x4b\xee\xba\xf4\x00\xb0\x01\xee\xf4'
	  head -c 497 /dev/zero; printf '\x55\xaa'; } > "$probe"
	out=$(timeout 20 qemu-system-x86_64 -accel kvm -cpu host -m 64M \
		-display none -no-reboot -serial stdio -monitor none \
		-device isa-debug-exit,iobase=0xf4,iosize=4 \
		-drive format=raw,file="$probe",if=floppy 2>/dev/null)
	rc=$?
	rm -f "$probe"
	[ $rc -eq 3 ] && [ "$out" = K ]
}

if [ -n "${GMEM_ACCEL:-}" ]; then
	accel=$GMEM_ACCEL
elif kvm_usable; then
	accel=kvm
else
	accel=tcg
fi
# TCG runs both vCPUs in one thread: with one thread per vCPU (MTTCG), QEMU
# 7.2 lets a vCPU run code another vCPU is live-patching (static keys), and
# the guest dies on a stray int3 in __schedule() now and then.
# Under TCG, the QEMU that qemu/build-qemu.sh built (GMEM_TCG_QEMU): Debian's
# with its fixes for nested guests (qemu/*.patch).
qemu=qemu-system-x86_64
if [ "$accel" = kvm ]; then
	cpu=(-accel kvm -cpu host)
else
	qemu=${GMEM_TCG_QEMU:-qemu-system-x86_64}
	[ -n "${GMEM_TCG_QEMU:-}" ] ||
		echo "# run-vm: GMEM_TCG_QEMU unset: the host's QEMU, without our fixes (make sets it)" >&2
	cpu=(-accel tcg,thread=single -cpu EPYC)
	# Guest time counts instructions (1 ns each) and repeats exactly.
	[ -n "${GMEM_ICOUNT:-}" ] && cpu+=(-icount shift=0,sleep=off)
fi

cmdline="console=ttyS0 loglevel=5 panic=-1 oops=panic panic_on_warn=0
	hugepagesz=1G hugepages=2 hugepagesz=2M hugepages=512
	hugetlb_free_vmemmap=on gmem.mode=$mode $extra"
cmdline=$(echo $cmdline)

echo "# qemu: accel=$accel${GMEM_ICOUNT:+ (icount where TCG)}, 2 vCPUs, 8 GiB; log: $log"
# What ran, for reports made from the log (bench/report.sh).
echo "QEMU $("$qemu" --version | sed -n '1s/.*version //p'), ${cpu[*]}" > "$log.machine"
echo "# cmdline: $cmdline"
# QEMU 7.2 and -cpu EPYC under TCG warns about features it cannot emulate.
timeout --foreground -k 10 "$limit" "$qemu" "${cpu[@]}" \
	-machine q35 -smp 2 -m 8G -nographic -vga none -nic none -no-reboot -monitor "${GMEM_MONITOR:-none}" \
	-serial stdio -kernel "$kernel" -initrd "$initrd" \
	-append "$cmdline" < /dev/null 2>"$log.qemu-stderr" | tee "$log" |
	sed -u 's/\x1b\[[0-9;?]*[a-zA-Z]//g; s/\x1bc//g; s/\r$//'
rc=${PIPESTATUS[0]}
[ $rc -eq 124 ] && echo "# qemu: killed after ${limit}s"
exit $rc
