#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Write bench/results/README.md's tables from the CSV that `make bench`
# writes, so that the committed tables are exactly what the committed CSV
# says.  The prose around them explains how the figures were made and
# names no figure itself.
#
# usage: report.sh RESULTS.csv KERNEL-RELEASE PATCHES MACHINE COMMIT > README.md
set -euo pipefail
csv=$1
release=$2
patches=$3
machine=$4
commit=$5

cat <<EOF
# Latest \`make bench\` results

- Command: \`make bench\`, on commit $commit. \`make bench\` wrote this file
  (\`bench/report.sh\`) and the two beside it to \`build/bench/\`.
- Kernel: Debian linux-source-6.12 $release with this repository's
  $patches patches, built without the debug options (\`build/kernel-bench\`);
  the booted guests run the same kernel.
- Machine: $machine, 2 vCPUs, 8 GiB; under TCG, the QEMU is Debian's
  source with our fixes for its nested guests
  (\`tools/testing/gmem/qemu/\`). Under \`-icount shift=0,sleep=off\`
  **all times are instruction time**: 1 ns is one emulated instruction;
  caches and TLBs are not modelled, so huge pages cannot show their TLB
  gains here, only what they cost. Waits for the timer tick (RCU grace
  periods) count the instructions until the tick, not work.
- Repeatability: \`make bench\` ends by saying how many figures match this
  directory's \`results.csv\` to 3 significant digits. Two runs of one
  build agree on most figures to 3 digits and on the rest within about
  2%, except where a figure depends on how many random pages hit memory
  the guest had used (and, in runs before conversions stopped waiting for
  RCU grace periods, on where those started between two ticks).
- Files: \`results.csv\` (every figure), \`results.png\` (latency against
  range size), this file.

EOF

awk -F, '
function t(ns,  v, u) {
	if (ns == "")
		return "?"
	if (ns < 1000) return sprintf("%d ns", ns)
	if (ns < 1e6) { v = ns / 1e3; u = "us" }
	else if (ns < 1e9) { v = ns / 1e6; u = "ms" }
	else { v = ns / 1e9; u = "s" }
	return sprintf(v >= 100 ? "%.0f %s" : v >= 10 ? "%.1f %s" : "%.2f %s", v, u)
}
function size(b) {
	if (b >= 1073741824) return (b / 1073741824) " GiB"
	if (b >= 1048576) return (b / 1048576) " MiB"
	return (b / 1024) " KiB"
}
function pair(a, b) { return (a == "" && b == "") ? "-" : t(a) " / " t(b) }
# The RCU grace periods per conversion of @what1 and @what2, if counted.
function waits(b, s, what1, what2,  w1, w2) {
	w1 = what1 "_rcu_waits"; w2 = what2 "_rcu_waits"
	if (!((b, s, w1) in reps) || !((b, s, w2) in reps))
		return ""
	return sprintf(" (RCU waits %g, %g)", med[b, s, w1] / reps[b, s, w1],
		       med[b, s, w2] / reps[b, s, w2])
}
# The heading of a table: @first, then one column per backing.
function heading(first, column,  h, sep, i) {
	h = "| " first " |"; sep = "| --- |"
	for (i = 1; i <= n["backing"]; i++) {
		h = h " " item["backing", i] column " |"
		sep = sep " --- |"
	}
	print h; print sep
}
# A row: @label, then per backing the figures @what1 / @what2 of size @s,
# or @what1 alone when @what2 is empty.
function row(label, s, what1, what2,  line, i, b, v) {
	line = "| " label " |"
	for (i = 1; i <= n["backing"]; i++) {
		b = item["backing", i]
		v = med[b, s, what1]
		if (what2 != "")
			v = pair(v, med[b, s, what2]) waits(b, s, what1, what2)
		else
			v = v == "" ? "-" : t(v)
		line = line " " v " |"
	}
	print line
}
function add(list, x) {
	if (!((list, x) in seen)) {
		seen[list, x] = 1
		n[list]++
		item[list, n[list]] = x
	}
}
$1 != "csv" { next }
$2 == "running" {
	add("running", $3)
	run[$3, $4] = $5 ": " pair($6, $7)
	next
}
$2 == "fault_wait" {
	fault_wait[$3] = $4 ": " t($5) " / " t($6)
	next
}
$2 == "guest" {
	mode = $4
	if (mode != "verify") {
		add("boot", $3)
		fio[$3, $5] = sprintf("%.0f", $6 / 1024)
	} else {
		stage2_running[$3] = $6 " / " $7 " / " $8
	}
	next
}
$2 == "boot" {
	if (mode == "verify")
		next
	boot[$3] = sprintf("| %s | %.3f s | %.3f s | %s | %s | %s / %s / %s | %s KiB |", $3,
			   $5 / 1e9, $6 / 1e9,
			   $8 ? t($7) " (" $8 " conversions)" : "-",
			   $8 || $9 || $10 ? $9 " / " $10 : "-", $11, $12, $13, $14)
	next
}
{
	add("backing", $2)
	if ($4 ~ /^(to_shared|to_private)$/)
		add("range", $3)
	if ($4 ~ /^hvo_/)
		add("hvo", $2 SUBSEP $3)
	if ($4 == "populate")
		add("populate", $3)
	if ($4 == "fault_wait") {
		add("fault_wait", $2)
		fw_faults[$2] = $8
		fw_longest[$2] = $9
	}
	# Of an _rcu_waits line: the total, where others have the median.
	med[$2, $3, $4] = $6
	minv[$2, $3, $4] = $7
	reps[$2, $3, $4] = $5
}
END {
	print "## Conversion latency (`gmem_convert_bench`)\n"
	print "KVM_SET_MEMORY_ATTRIBUTES2 with PRESERVE on a software-protected VM'"'"'s"
	print "guest_memfd. Each round converts a range to shared, the host writes every"
	print "page of it, and it goes back to private; no vCPU runs. Medians. On huge"
	print "pages (2m and 1g: HugeTLB; thp: transparent huge pages), to shared splits"
	print "the huge pages the range covers in part (a 1G page into 2M pieces, and"
	print "the pieces it covers in part into 4K pages), and to private merges what"
	print "it makes all private back into 2M pages or pieces; one it covers whole"
	print "stays whole. The host maps a THP as it is, but its first write to a"
	print "HugeTLB page shared whole splits it into 2M pieces (untimed: a 2M page"
	print "into one, in place; a 1G page into 512), which stay: KVM maps them huge."
	print "HugeTLB pages also undo HVO before a split and redo it after a merge. In"
	print "brackets: the RCU grace periods each conversion waited for, on average"
	print "(the function tracer on synchronize_rcu() and its kin).\n"
	heading("range", " pages: to shared / to private")
	for (r = 1; r <= n["range"]; r++)
		row(size(item["range", r]), item["range", r], "to_shared", "to_private")

	print "\nPatterns over a 1 GiB file, one range at a time (medians; the number of"
	print "rounds is in the CSV):\n"
	heading("pattern", " pages")
	np = split("rand 4096 random_4K_pages seq 2097152 consecutive_2M_steps", p, " ")
	for (k = 1; k <= np; k += 3) {
		name = p[k + 2]; gsub("_", " ", name)
		row(name ": to shared / to private", p[k + 1], p[k] "_to_shared",
		    p[k] "_to_private")
	}

	print "\nA vCPU fault beside conversions elsewhere in its file: one thread maps"
	print "the first 4K page of a file of two huge pages again and again with"
	print "KVM_PRE_FAULT_MEMORY (a private page: through kvm_gmem_get_pfn(), which"
	print "takes the file'"'"'s invalidate_lock shared) while 4K pages of the second"
	print "huge page go to shared and back. Its waits for the invalidate_lock come"
	print "from the lock:contention_begin/end tracepoints on that thread; the"
	print "longest fault that overlapped a conversion adds what else slowed it (a"
	print "retry after an invalidation, interrupts).\n"
	print "| backing | waits for the invalidate_lock: how many, the longest | faults beside a conversion: how many, the longest | a fault alone (median) |"
	print "| --- | --- | --- | --- |"
	for (r = 1; r <= n["fault_wait"]; r++) {
		b = item["fault_wait", r]
		printf "| %s | %s, %s | %s, %s | %s |\n", b, reps[b, 4096, "fault_wait"],
		       t(med[b, 4096, "fault_wait"]), fw_faults[b], t(fw_longest[b]),
		       t(minv[b, 4096, "fault_wait"])
	}

	print "\nOne 4K page of a 1G HugeTLB page made shared (one in its 38th 2M piece),"
	print "then every page of it faulted in by a vCPU (KVM_PRE_FAULT_MEMORY): the"
	print "struct pages (vmemmap) the 1G page takes meanwhile, its head vmemmap page"
	print "and the pages the split added (a first vmemmap page for each 2M piece that"
	print "keeps HVO, all 8 for the piece that goes to 4K pages); and KVM'"'"'s stage-2"
	print "mappings of it, by size.\n"
	print "| backing | vmemmap | stage-2: 4K / 2M / 1G mappings |"
	print "| --- | --- | --- |"
	for (r = 1; r <= n["backing"]; r++) {
		b = item["backing", r]
		if ((b, 4096, "vmemmap_kib") in med)
			printf "| %s | %s KiB | %s / %s / %s |\n", b,
			       med[b, 4096, "vmemmap_kib"], med[b, 4096, "stage2_4k"],
			       med[b, 4096, "stage2_2m"], med[b, 4096, "stage2_1g"]
	}

	irqsoff = 0
	for (r = 1; r <= n["backing"]; r++)
		if ((item["backing", r], 4096, "irqsoff_split") in med)
			irqsoff = 1
	if (irqsoff) {
		print "\nThe longest section with interrupts off on the converting CPU while one"
		print "conversion of a single huge page runs (the irqsoff tracer of the bench"
		print "kernel, in microseconds): one 4K page to shared (its 2M piece'"'"'s split on"
		print "1G pages) and back, then the whole huge page to shared and back. The"
		print "functions where each section started and ended are in the log.\n"
		print "| backing | one 4K page: split / merge | the whole page: split / merge |"
		print "| --- | --- | --- |"
		for (r = 1; r <= n["backing"]; r++) {
			b = item["backing", r]
			if ((b, 4096, "irqsoff_split") in med) {
				all = b == "1g" ? 1073741824 : 2097152
				printf "| %s | %s / %s | %s / %s |\n", b,
				       t(med[b, 4096, "irqsoff_split"]), t(med[b, 4096, "irqsoff_merge"]),
				       t(med[b, all, "irqsoff_split_all"]),
				       t(med[b, all, "irqsoff_merge_all"])
			}
		}
	}

	print "\nPopulating (fallocate): HugeTLB pages are zeroed then; 4K pages and THPs"
	print "are zeroed at their first use instead, so theirs is the allocation alone:\n"
	heading("range", " pages")
	for (r = 1; r <= n["populate"]; r++)
		row(size(item["populate", r]), item["populate", r], "populate", "")

	print "\n## HVO alone\n"
	print "hugetlb_gmem'"'"'s begin and end tracepoints of each step, traced"
	print "around the rounds above; means per huge page. Undoing HVO before a split"
	print "is in two steps, with no RCU grace period between them: allocating the"
	print "vmemmap pages (prepare) and remapping the vmemmap (commit), both before"
	print "the point of no return with the invalidate_lock held shared (a split"
	print "prepared under the write lock remaps after the point of no return)."
	print "Redoing HVO after a merge is one step, outside the no-fail window, with"
	print "the lock held shared. A 1G page is different: its 2M pieces keep HVO at"
	print "2M, so the prepare allocates a first vmemmap page for each piece that"
	print "stays whole and all 8 for one that goes on into 4K pages, the commit"
	print "splits the vmemmap among the pieces with the page, after the point of no"
	print "return (it allocates nothing), and the merge of the pieces optimizes the"
	print "1G page again in its commit, with the pages they had.\n"
	print "| backing, range | huge pages | vmemmap pages allocated (prepare) | vmemmap remapped (commit) | HVO redone after the merge |"
	print "| --- | --- | --- | --- | --- |"
	for (r = 1; r <= n["hvo"]; r++) {
		split(item["hvo", r], hk, SUBSEP)
		b = hk[1]; s = hk[2]
		printf "| %s, %s | %s | %s | %s | %s |\n", b, size(s),
		       reps[b, s, "hvo_restore_prepare"], t(med[b, s, "hvo_restore_prepare"]),
		       t(med[b, s, "hvo_restore_commit"]), t(med[b, s, "hvo_redo"])
	}

	print "\n## Conversions with a guest running (`gmem_vmm -x`)\n"
	print "A guest writes 16 MiB of random data into its tmpfs and copies and"
	print "checks it round after round while `gmem_vmm` converts random 4K pages of"
	print "its 1 GiB of RAM to shared and straight back (PRESERVE), each one as soon"
	print "as the last ended plus 1 ms; it checks once more after the last one (a"
	print "change in the data fails the run). Medians, split by whether the round"
	print "trip split a huge page (a page the guest had used) or not; the count"
	print "before the colon is how many round trips were of that kind. The waits of"
	print "vCPU faults for the file invalidate_lock, which a conversion holds"
	print "for write while it changes the file, come from the lock:contention_begin"
	print "and _end tracepoints on the vCPU thread (a wait with kvm_gmem_get_pfn() on"
	print "its stack): how many, the longest, and all of them together.\n"
	print "| backing | round trips that split: to shared / to private | the others: to shared / to private | vCPU fault waits: longest / in all | stage-2 at the end (4K / 2M / 1G) |"
	print "| --- | --- | --- | --- | --- |"
	for (i = 1; i <= n["running"]; i++) {
		b = item["running", i]
		printf "| %s | %s | %s | %s | %s |\n", b,
		       (b, "split") in run ? run[b, "split"] : "-",
		       (b, "no_split") in run ? run[b, "no_split"] : "-",
		       b in fault_wait ? fault_wait[b] : "-", stage2_running[b]
	}

	print "\n## Booting a guest (`gmem_vmm`)\n"
	print "One vCPU, 1 GiB of RAM, the benchmarks'"'"' kernel and an initramfs of busybox"
	print "and fio; then fio'"'"'s mmap engine over 64 MiB of the guest'"'"'s tmpfs, 4K"
	print "blocks: sequential and random writes, then reads. \"Loading\" is from the"
	print "VMM'"'"'s start until the vCPU is created: creating the VM, touching (and"
	print "so allocating and zeroing) the pages written, writing the kernel and"
	print "initramfs, and the conversions. The -shared backings create the file"
	print "shared and never convert it, as a non-confidential VM uses guest_memfd:"
	print "huge pages stay whole there, but what the loader writes of HugeTLB pages"
	print "(2M pages split to 4K; a 1G page into 2M pieces, which KVM maps 1G)."
	print "\"vmemmap for the RAM\": the struct pages of the guest'"'"'s RAM at the end:"
	print "with HVO, one page per huge page plus the vmemmap pages that splits took"
	print "and kept (the host'"'"'s nr_memmap_pages, from the start to the end; a 1G"
	print "page keeps its 2M pieces'"'"' 2 MiB after it merged, while its file holds it).\n"
	print "| backing | first userspace line | of which loading | converting | splits / merges | stage-2 at the end (4K / 2M / 1G) | vmemmap for the RAM | fio write / randwrite / read / randread (MiB/s) |"
	print "| --- | --- | --- | --- | --- | --- | --- | --- |"
	for (i = 1; i <= n["boot"]; i++) {
		b = item["boot", i]
		printf "%s %s / %s / %s / %s |\n", boot[b], fio[b, "write"], fio[b, "randwrite"],
		       fio[b, "read"], fio[b, "randread"]
	}
}' "$csv"
