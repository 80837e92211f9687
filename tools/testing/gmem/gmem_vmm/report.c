// SPDX-License-Identifier: GPL-2.0
/*
 * What a run measured and what it says of it: the host's huge page and
 * vmemmap counters, KVM's stage-2 page counts, the report, its "csv," lines
 * (bench/report.sh and bench/plot.sh read them: keep their fields as they
 * are), and the -c checks that make a run a test.
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include "gmem_vmm.h"

/*
 * Splits and merges of both kinds of huge page (a VM uses one), and of the
 * 2M pieces of split HugeTLB pages, HVO undone and redone, and the
 * vmemmap's size: vm events and counters in /proc/vmstat.
 */
void read_counters(struct counters *c)
{
	static const struct {
		const char *name;
		size_t offset;
	} keys[] = {
		{ "hugetlb_gmem_split", offsetof(struct counters, splits) },
		{ "thp_gmem_split", offsetof(struct counters, splits) },
		{ "hugetlb_gmem_split_piece", offsetof(struct counters, splits) },
		{ "hugetlb_gmem_merge", offsetof(struct counters, merges) },
		{ "thp_gmem_merge", offsetof(struct counters, merges) },
		{ "hugetlb_gmem_merge_piece", offsetof(struct counters, merges) },
		{ "hugetlb_gmem_vmemmap_restore", offsetof(struct counters, restores) },
		{ "hugetlb_gmem_vmemmap_restore_piece", offsetof(struct counters, restores) },
		{ "hugetlb_gmem_vmemmap_optimize", offsetof(struct counters, optimizes) },
		{ "hugetlb_gmem_vmemmap_optimize_piece", offsetof(struct counters, optimizes) },
		{ "nr_memmap_pages", offsetof(struct counters, memmap_pages) },
		{ "nr_memmap_boot_pages", offsetof(struct counters, memmap_pages) },
	};
	char name[64];
	long long v;
	size_t i;
	FILE *f;

	memset(c, 0, sizeof(*c));
	f = fopen("/proc/vmstat", "r");
	if (!f)
		return;
	while (fscanf(f, "%63s %lld", name, &v) == 2)
		for (i = 0; i < ARRAY_SIZE(keys); i++)
			if (!strcmp(name, keys[i].name))
				*(long long *)((char *)c + keys[i].offset) += v;
	fclose(f);
}

static uint64_t median(uint64_t *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	return v[n / 2];
}

/* Medians; a "csv,running," line: backing,kind,n,to_shared_ns,to_private_ns. */
static void report_round_trips(const char *backing, const char *kind,
			       struct round_trips *rt)
{
	uint64_t shared, private;

	if (!rt->n)
		return;
	shared = median(rt->to_shared, rt->n);
	private = median(rt->to_private, rt->n);
	printf("#     %-8s %3d of them, medians: to shared %.3f ms, to private %.3f ms\n",
	       kind, rt->n, shared / 1e6, private / 1e6);
	printf("csv,running,%s,%s,%d,%llu,%llu\n", backing, kind, rt->n,
	       (unsigned long long)shared, (unsigned long long)private);
}

/*
 * How long the vCPU's faults waited for the invalidate_lock that the
 * conversions held; a "csv,fault_wait," line:
 * backing,waits,longest_ns,total_ns,other_waits,other_longest_ns.
 */
static void report_fault_waits(const char *backing, const struct lock_waits *fw)
{
	if (!fw->traced)
		return;
	printf("#     vCPU faults waited %lld times for the invalidate_lock, longest %.3f ms, in all %.3f ms (other rwsem waits %lld, longest %.3f ms)\n",
	       fw->gmem.n, fw->gmem.max_ns / 1e6, fw->gmem.total_ns / 1e6,
	       fw->other.n, fw->other.max_ns / 1e6);
	printf("csv,fault_wait,%s,%lld,%llu,%llu,%lld,%llu\n", backing, fw->gmem.n,
	       fw->gmem.max_ns, fw->gmem.total_ns, fw->other.n, fw->other.max_ns);
}

/*
 * The host's struct pages for the guest's RAM: 64 bytes per 4K page,
 * except huge pages whose vmemmap is optimized (HVO), which keep one
 * vmemmap page, plus the vmemmap pages their splits took and did not
 * give back (nr_memmap_pages, from the start to the end: a 1G page split
 * into 2M pieces takes 511, a 2M page or piece split into 4K pages 7).
 * In KiB; *hvo_off_kib is what it would be without HVO.
 */
static long long vmemmap_kib(const struct vm *vm, const struct samples *s,
			     long long *hvo_off_kib)
{
	uint64_t huge = vm->ram >> vm->b->page_shift;
	long long taken;
	int hvo = 0;
	FILE *f;

	*hvo_off_kib = (vm->ram / PAGE) * 64 / 1024;
	if (vm->b->page_shift == 12 || vm->b->thp ||
	    access("/proc/sys/vm/hugetlb_optimize_vmemmap", R_OK) != 0)
		return *hvo_off_kib;
	f = fopen("/proc/sys/vm/hugetlb_optimize_vmemmap", "r");
	if (f) {
		if (fscanf(f, "%d", &hvo) != 1)
			hvo = 0;
		fclose(f);
	}
	if (!hvo)
		return *hvo_off_kib;
	taken = s->c3.memmap_pages - s->c0.memmap_pages;
	if (taken < 0)
		taken = 0;
	return (huge * PAGE + taken * PAGE) / 1024;
}

/*
 * After the guest's console: the report, then its "csv," lines.  The
 * medians sort @cv's round trips in place.
 */
void print_report(const struct vm *vm, const struct machine *m,
		  struct converter *cv, const struct samples *s)
{
	const struct counters *c0 = &s->c0, *c1 = &s->c1, *c2 = &s->c2, *c3 = &s->c3;
	const uint64_t *pages = s->pages;
	long long vmemmap, hvo_off;
	size_t i;

	vmemmap = vmemmap_kib(vm, s, &hvo_off);
	fflush(stdout);
	printf("\n# gmem_vmm report: %s (%s), %llu MiB, 1 vCPU, %s VM\n", vm->b->name,
	       vm->b->what, (unsigned long long)(vm->ram / MIB),
	       vm->b->gmem ? "KVM_X86_SW_PROTECTED_VM" : "KVM_X86_DEFAULT_VM");
	printf("#   first userspace line   %10.3f s after start (loading took %.3f s)\n",
	       (m->userspace_ns - m->start_ns) / 1e9, (s->t_loaded - m->start_ns) / 1e9);
	if (vm->b->shared)
		printf("#   converting             none: the RAM is all shared\n");
	else if (vm->b->gmem)
		printf("#   converting             %10.3f ms in %llu conversions (%d ranges to shared, then back to private)\n",
		       vm->convert_ns / 1e6, (unsigned long long)vm->conversions, vm->nr_ranges);
	if (cv->want) {
		printf("#   converting while running %d of %d round trips of a random 4K page; %lld splits, %lld merges\n",
		       cv->done, cv->want, c3->splits - c2->splits, c3->merges - c2->merges);
		report_round_trips(vm->b->name, "split", &cv->split);
		report_round_trips(vm->b->name, "no_split", &cv->no_split);
		report_fault_waits(vm->b->name, &cv->waits);
	}
	printf("#   huge pages             splits %lld, merges %lld, vmemmap restores %lld, optimizes %lld\n",
	       c3->splits - c0->splits, c3->merges - c0->merges,
	       c3->restores - c0->restores, c3->optimizes - c0->optimizes);
	printf("#   stage-2 at the end     pages_4k %llu, pages_2m %llu, pages_1g %llu\n",
	       (unsigned long long)pages[0], (unsigned long long)pages[1],
	       (unsigned long long)pages[2]);
	printf("#   vmemmap for guest RAM  %lld KiB (%lld KiB without HVO); host nr_memmap pages %+lld while loaded, %+lld at the end\n",
	       vmemmap, hvo_off, c1->memmap_pages - c0->memmap_pages,
	       c3->memmap_pages - c0->memmap_pages);
	for (i = 0; i < (size_t)m->nr_results; i++) {
		printf("#   guest                  %s\n", m->results[i]);
		printf("csv,guest,%s,%s,%llu,%llu,%llu\n", vm->b->name, m->results[i],
		       (unsigned long long)pages[0], (unsigned long long)pages[1],
		       (unsigned long long)pages[2]);
	}
	printf("csv,boot,%s,%llu,%llu,%llu,%llu,%llu,%lld,%lld,%llu,%llu,%llu,%lld\n",
	       vm->b->name, (unsigned long long)(vm->ram / MIB),
	       (unsigned long long)(m->userspace_ns - m->start_ns),
	       (unsigned long long)(s->t_loaded - m->start_ns),
	       (unsigned long long)vm->convert_ns, (unsigned long long)vm->conversions,
	       c3->splits - c0->splits, c3->merges - c0->merges,
	       (unsigned long long)pages[0], (unsigned long long)pages[1],
	       (unsigned long long)pages[2], vmemmap);
}

/* Rounds the guest's gmem_guest.verify reported ("verify,<rounds>"), or 0. */
static int verify_rounds(const struct machine *m)
{
	int i, rounds;

	for (i = 0; i < m->nr_results; i++)
		if (sscanf(m->results[i], "verify,%d", &rounds) == 1)
			return rounds;
	return 0;
}

/* -c: what a boot on this backing must have done; 1 if it did not. */
static int check_report(const struct vm *vm, const struct counters *before,
			const struct counters *after, const uint64_t pages[3])
{
	unsigned int level = vm->b->page_shift == 30 ? 2 : vm->b->page_shift == 21;
	int bad = 0;

	/*
	 * Shared RAM is never converted, and its huge pages stay whole:
	 * KVM maps them huge.  (The host's writes split a HugeTLB page into
	 * 2M pieces, a 2M page into one, which KVM maps as before.)
	 * A THP range written first by the host comes as 4K pages: no split.
	 */
	if (vm->b->gmem && !vm->b->shared && level &&
	    ((!vm->b->thp && after->splits == before->splits) ||
	     after->merges == before->merges)) {
		fprintf(stderr, "%s: check: loading did not split and merge a huge page\n",
			bench_prog);
		bad = 1;
	}
	if (level && !pages[level]) {
		fprintf(stderr, "%s: check: no %s stage-2 mapping at the end\n", bench_prog,
			level == 2 ? "1G" : "2M");
		bad = 1;
	}
	return bad;
}

/* -c: what a run on this backing must have done; 1 if it did not. */
int check_run(const struct vm *vm, const struct machine *m,
	      const struct converter *cv, const struct samples *s)
{
	const struct counters *c2 = &s->c2, *c3 = &s->c3;

	if (cv->done < cv->want) {
		fprintf(stderr, "%s: check: the guest powered off after %d of %d round trips\n",
			bench_prog, cv->done, cv->want);
		return 1;
	}
	/* The guest's check must have run during and after the round trips. */
	if (cv->want && verify_rounds(m) < 2) {
		fprintf(stderr, "%s: check: the guest's data check ran %d rounds, fewer than 2\n",
			bench_prog, verify_rounds(m));
		return 1;
	}
	/* Each split while the guest ran must have been merged again. */
	if (cv->want && vm->b->page_shift != 12 &&
	    (c3->splits == c2->splits || c3->merges - c2->merges != c3->splits - c2->splits)) {
		fprintf(stderr, "%s: check: %lld splits and %lld merges while the guest ran\n",
			bench_prog, c3->splits - c2->splits, c3->merges - c2->merges);
		return 1;
	}
	return check_report(vm, &s->c0, &s->c3, s->pages);
}
