// SPDX-License-Identifier: GPL-2.0
/*
 * In-place conversion of a guest_memfd backed by HugeTLB pages
 * (guest_memfd_hugetlb_2mb, guest_memfd_hugetlb_1gb) or by transparent
 * huge pages (guest_memfd_thp), with a guest running on it; "-s NAME" picks
 * one, the harness's "-t NAME" one scenario:
 *
 *  - the conversion matrix: a whole huge page, one 4K page at its start,
 *    middle and end, and a range straddling two huge pages, each to shared
 *    and back.  At every step the data is checked through the host mapping
 *    (shared pages) and by the guest (all pages); the split, the merge and
 *    the vmemmap restore and re-optimization really happened (hugetlb_gmem's
 *    vm events); the pool's counters do not move; KVM maps the huge
 *    page with a 2M stage-2 entry before the split and after the merge, and
 *    never while it is split;
 *  - the matrix's round trips again, with the function tracer watching the
 *    converting thread (rcu_waits.h): none waits for an RCU grace period;
 *  - a file created shared: the first fault allocates a huge page and
 *    splits it at once (HugeTLB); converting it all to private merges it;
 *  - a 4K page held by the host (vmsplice) stops the merge: EAGAIN with its
 *    offset, nothing changed; once let go, the merge happens;
 *  - O_DIRECT out of and into shared huge pages (a RAM disk's block layer
 *    pins them): no split, the data intact, and the file converts after;
 *  - a punch over a split huge page zeroes part of it, or merges it and
 *    gives it back to the pool;
 *  - a split page's 4K pages are not counted in meminfo's Cached: they are
 *    pool memory still;
 *  - a split page stays charged to its hugetlb cgroup: a tenant at its
 *    limit gets no second huge page by splitting one, a merge at the limit
 *    works, and removing the cgroup while a page is split moves the charge
 *    to its parent;
 *  - punch hole, and close, racing conversions that split and merge the
 *    same huge page: no error but EAGAIN (a page the host is faulting in),
 *    and the pool's counters exact once the file is gone;
 *  - two first faults on a shared huge page, the second while the first
 *    splits it: one split, and the page merges at the first try;
 *  - memory failure (hwpoison's corrupt-pfn) on a private huge page that
 *    the guest maps: the guest loses all of it (an EHWPOISON exit), until
 *    a conversion splits it and only the poisoned 4K page stays lost; on
 *    one that conversions split and merge meanwhile, which must neither
 *    deadlock nor lose the poison; and on one that is punched out of its
 *    file, which leaves the pool with one page of the file's reservation
 *    (the pool never reserves more than it has free).  2M only, as the
 *    test gives the pool its page back.
 *  - a file closed while a 4K page of a split huge page is still held: the
 *    huge page leaves the pool (its pieces go to the page allocator when
 *    let go), and everything else goes back.  2M only: the test grows the
 *    pool back afterwards, which 1G pages cannot be counted on for.
 *
 * On guest_memfd_thp, the same on transparent huge pages, where it applies,
 * with FileHugePages standing in for the pool; but a THP is split only
 * while it holds both private and shared pages: one converted whole stays
 * whole, and KVM maps it 2M while it is shared too; the file created
 * shared gets its 2M pages whole at their first fault, and converting one
 * to private merges nothing; a page held in one shared whole fails the
 * conversion with the THP's first page in error_offset.  And a punch over
 * a split THP, after which its range no longer merges.
 *
 * On 1G pages, which split into 2M pieces first:
 *  - one 4K page made shared splits only its 2M piece into 4K pages, and
 *    KVM maps the other 511 pieces 2M; a second page in another piece
 *    splits that piece only; each piece merges back when it is all private
 *    again, and the 1G page, all private, stays in pieces that KVM maps
 *    1G again; a whole 2M piece made shared stays whole (mapped 2M); a
 *    range straddling two pieces splits both; a punch of a piece still
 *    whole zeroes it, and one of the whole page merges every level and
 *    gives the page back to the pool;
 *  - at each of those steps, the vmemmap the 1G page takes (nr_memmap_pages):
 *    a 2M piece that stays whole keeps HVO, with one vmemmap page of its
 *    own, a piece of 4K pages has all 8 and gets HVO back when it merges;
 *    2 (HVO at 1G) once the punch gives it back to the pool.
 *
 * With 1G pages (262144 4K pages each) the host and the guest use a fixed
 * sample of the pages: the first 112 of each huge page (where the ranges
 * converted start and end), the middle and last few, the first and last
 * of each 2M piece.
 *
 * The harness's parent puts back what a scenario changes, whatever becomes
 * of it: the THP setting, the cgroups, the size of the pool.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <linux/sizes.h>

#include "guest_memfd.h"
#include "hugepage_util.h"
#include "kvm_test_harness.h"
#include "kvm_util.h"
#include "processor.h"
#include "rcu_waits.h"
#include "test_util.h"
#include "ucall_common.h"

#define NR_HUGE		2
#define MAX_PAGES	(NR_HUGE * (SZ_1G / 4096))
#define GMEM_GPA	BIT_ULL(32)
#define GMEM_SLOT	10
#define SEEDS_GPA	BIT_ULL(34)
#define SEEDS_SLOT	11
#define CGROUP		CGROUP_ROOT "/guest_memfd_hugetlb_conversion_test"
#define CGROUP_CREATOR	CGROUP "/creator"
#define CGROUP_CHILD	CGROUP "/child"

static enum vm_mem_backing_src_type backing;
static unsigned int huge_shift;
/* Transparent huge pages instead of HugeTLB pages. */
static bool thp;
static uint64_t huge, pages_per_huge, nr_pages;
/* hugetlb.<size>, pages_<size> */
static const char *cg_size, *level_stat;

enum { OP_WRITE = 1, OP_CHECK, OP_CHECK_ZERO };

/* What the guest does next; synced to it before each run. */
static struct {
	uint64_t op, first, nr;
	/* For checked(): 4K pages per huge page. */
	uint64_t pages_per_huge;
} cmd;
/*
 * The seed each page's words were last written with.  The guest reads a
 * copy in memory of its own at SEEDS_GPA: as a global it would be part of
 * the program image, which must fit the VM's first memslot.
 */
static uint8_t *seeds;

static uint64_t word(uint8_t seed, uint64_t page)
{
	return (seed * 0x9e3779b97f4a7c15ull) ^ page;
}

/* Every page of a 2M page; a sample of a 1G page (see the top). */
static bool checked(uint64_t page)
{
	uint64_t n = cmd.pages_per_huge, off = page % n;

	return n <= 512 || off < 112 || off >= n - 8 ||
	       (off >= n / 2 - 8 && off < n / 2 + 8) || !(off % 512) ||
	       off % 512 == 511;
}

static void guest_code(void)
{
	const uint8_t *seeds = (const uint8_t *)SEEDS_GPA;

	for (;;) {
		uint64_t page;

		for (page = cmd.first; page < cmd.first + cmd.nr; page++) {
			uint64_t *p = (uint64_t *)(GMEM_GPA + page * 4096);

			if (!checked(page))
				continue;

			if (cmd.op == OP_WRITE) {
				WRITE_ONCE(p[0], word(seeds[page], page));
				WRITE_ONCE(p[511], ~word(seeds[page], page));
			} else if (cmd.op == OP_CHECK_ZERO) {
				GUEST_ASSERT_EQ(READ_ONCE(p[0]), 0);
				GUEST_ASSERT_EQ(READ_ONCE(p[511]), 0);
			} else {
				GUEST_ASSERT_EQ(READ_ONCE(p[0]), word(seeds[page], page));
				GUEST_ASSERT_EQ(READ_ONCE(p[511]), ~word(seeds[page], page));
			}
		}
		GUEST_SYNC(cmd.op);
	}
}

struct test {
	struct kvm_vm *vm;
	struct kvm_vcpu *vcpu;
	int fd;
	char *mem;
	void *reserved;
};

/* Expected, per page, for the test in progress (host only: allocated). */
static bool *shared;

/*
 * Of the test file's huge pages, those in 2M pieces: a 1G page once split
 * (until a punch or close), a 2M page that the host's first fault made one
 * 2M piece (until a conversion of part of it splits the piece into 4K
 * pages, which merge into the page).
 */
static bool in_pieces[NR_HUGE];

static void guest_do(struct test *t, uint64_t op, uint64_t first, uint64_t nr)
{
	struct ucall uc;

	cmd.op = op;
	cmd.first = first;
	cmd.nr = nr;
	cmd.pages_per_huge = pages_per_huge;
	sync_global_to_guest(t->vm, cmd);
	memcpy(addr_gpa2hva(t->vm, SEEDS_GPA), seeds, MAX_PAGES);
	vcpu_run(t->vcpu);
	TEST_ASSERT_KVM_EXIT_REASON(t->vcpu, KVM_EXIT_IO);
	switch (get_ucall(t->vcpu, &uc)) {
	case UCALL_SYNC:
		TEST_ASSERT_EQ(uc.args[1], op);
		break;
	case UCALL_ABORT:
		REPORT_GUEST_ASSERT(uc);
		break;
	default:
		TEST_FAIL("unexpected ucall %lu", uc.cmd);
	}
}

static void read_stats(struct gmem_huge_stats *s)
{
	gmem_huge_stats_read(backing, s);
}

/*
 * The host's first fault in a 2M HugeTLB page shared whole makes it one 2M
 * piece in place, which keeps its vmemmap, and stays whole when made
 * private; it splits on into 4K pages as the page would, counted as a
 * piece's split.
 */
static bool pieces_in_place(void)
{
	return !thp && huge_shift == 21;
}

/*
 * @splits of which @in_place made 2M pieces in place (restoring no
 * vmemmap), and @merges.
 */
static void assert_stats_in_place(const struct gmem_huge_stats *before, uint64_t splits,
				  uint64_t in_place, uint64_t merges, const char *when)
{
	uint64_t nr_splits, restores;
	struct gmem_huge_stats s;

	read_stats(&s);
	/*
	 * The pools are optimized (HVO on): each split restores, each merge
	 * redoes.  THPs have no HVO.
	 */
	if (thp) {
		TEST_ASSERT(s.splits - before->splits == splits &&
			    s.merges - before->merges == merges,
			    "%s: splits %lu merges %lu, want %lu %lu", when,
			    s.splits - before->splits, s.merges - before->merges,
			    splits, merges);
		return;
	}
	nr_splits = s.splits - before->splits;
	restores = s.vmemmap_restores - before->vmemmap_restores;
	if (pieces_in_place()) {
		nr_splits += s.split_pieces - before->split_pieces;
		restores += s.vmemmap_piece_restores - before->vmemmap_piece_restores;
	}
	TEST_ASSERT(nr_splits == splits && restores == splits - in_place &&
		    s.merges - before->merges == merges &&
		    s.vmemmap_optimizes - before->vmemmap_optimizes == merges,
		    "%s: splits %lu restores %lu merges %lu optimizes %lu, want %lu %lu %lu %lu",
		    when, nr_splits, restores, s.merges - before->merges,
		    s.vmemmap_optimizes - before->vmemmap_optimizes,
		    splits, splits - in_place, merges, merges);
}

static void assert_stats(const struct gmem_huge_stats *before, uint64_t splits, uint64_t merges,
			 const char *when)
{
	assert_stats_in_place(before, splits, 0, merges, when);
}

/* The kB of @key in /proc/meminfo. */
static uint64_t meminfo_kb(const char *key)
{
	return read_file_key_u64("/proc/meminfo", key);
}

/* With THP, "the pool" is what the page cache holds as THPs, in kB. */
static void read_pool(struct hugetlb_pool *p)
{
	if (thp) {
		*p = (struct hugetlb_pool){ .total = meminfo_kb("FileHugePages") };
		return;
	}
	hugetlb_pool_read(huge, p);
}

static void assert_pool(const struct hugetlb_pool *want, const char *when)
{
	struct hugetlb_pool p;

	read_pool(&p);
	TEST_ASSERT(p.total == want->total && p.free == want->free && p.resv == want->resv,
		    "%s pool %s: total/free/rsvd %lu/%lu/%lu, want %lu/%lu/%lu", cg_size, when,
		    p.total, p.free, p.resv, want->total, want->free, want->resv);
}

/* 0 if the host can fault @page in, else the errno (EFAULT: private). */
static int host_fault(struct test *t, uint64_t page)
{
	return gmem_host_fault(t->mem + page * 4096, 4096, MADV_POPULATE_READ);
}

static bool host_can_fault(struct test *t, uint64_t page)
{
	return gmem_host_can_fault(t->mem + page * 4096, 4096, MADV_POPULATE_READ);
}

/* Every page as expected: through the host mapping if shared, and by the guest. */
static void check_all(struct test *t, const char *when)
{
	uint64_t page;

	for (page = 0; page < nr_pages; page++) {
		uint64_t *p = (uint64_t *)(t->mem + page * 4096);

		if (!checked(page))
			continue;
		TEST_ASSERT(host_can_fault(t, page) == shared[page],
			    "%s: page %lu should be %s", when, page,
			    shared[page] ? "shared" : "private");
		if (shared[page])
			TEST_ASSERT(p[0] == word(seeds[page], page) &&
				    p[511] == ~word(seeds[page], page),
				    "%s: page %lu holds 0x%lx", when, page, p[0]);
	}
	guest_do(t, OP_CHECK, 0, nr_pages);
}

static void convert(struct test *t, uint64_t first, uint64_t nr, bool to_shared)
{
	uint64_t page;

	gmem_set_memory_attributes2(t->fd, first * 4096, nr * 4096,
				    to_shared ? 0 : KVM_MEMORY_ATTRIBUTE_PRIVATE,
				    KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE);
	for (page = first; page < first + nr; page++)
		shared[page] = to_shared;
}

/* The host writes new words into shared pages. */
static void host_write(struct test *t, uint64_t first, uint64_t nr, uint8_t seed)
{
	uint64_t page;

	for (page = first; page < first + nr; page++) {
		uint64_t *p = (uint64_t *)(t->mem + page * 4096);

		if (!checked(page))
			continue;
		seeds[page] = seed;
		p[0] = word(seed, page);
		p[511] = ~word(seed, page);
	}
}

/*
 * A VM whose memslot is the whole file, bound at a 2M-aligned gfn with a
 * 2M-aligned mapping of the file as its shared side.
 */
static void test_create(struct test *t, uint64_t flags)
{
	const struct vm_shape shape = {
		.mode = VM_MODE_DEFAULT,
		.type = KVM_X86_SW_PROTECTED_VM,
	};

	memset(t, 0, sizeof(*t));
	memset(seeds, 0, MAX_PAGES);
	memset(shared, 0, MAX_PAGES);
	memset(in_pieces, 0, sizeof(in_pieces));
	t->vm = vm_create_shape_with_one_vcpu(shape, &t->vcpu, guest_code);
	vm_userspace_mem_region_add(t->vm, VM_MEM_SRC_ANONYMOUS, SEEDS_GPA, SEEDS_SLOT,
				    MAX_PAGES / 4096, 0);
	virt_map(t->vm, SEEDS_GPA, SEEDS_GPA, MAX_PAGES / 4096);
	t->fd = vm_create_guest_memfd_backing(t->vm, backing, NR_HUGE * huge,
					      GUEST_MEMFD_FLAG_MMAP | flags);
	t->mem = gmem_mmap_aligned(t->fd, NR_HUGE * huge, huge, &t->reserved);
	vm_set_user_memory_region2(t->vm, GMEM_SLOT, KVM_MEM_GUEST_MEMFD, GMEM_GPA,
				   NR_HUGE * huge, t->mem, t->fd, 0);
	virt_map_level(t->vm, GMEM_GPA, GMEM_GPA, NR_HUGE * huge, PG_LEVEL_2M);
	if (flags & GUEST_MEMFD_FLAG_INIT_SHARED)
		memset(shared, true, MAX_PAGES);
}

static void test_destroy(struct test *t)
{
	kvm_vm_free(t->vm);
	gmem_munmap_aligned(t->reserved, NR_HUGE * huge, huge);
	close(t->fd);
}

/*
 * Splits that the host's first use of @n huge pages all shared counts: a
 * HugeTLB page is allocated whole, and the host's first fault splits it
 * into 2M pieces (the host maps those only; a 2M page becomes one, in
 * place); a THP stays whole (the host maps it as it is).
 */
static uint64_t first_use_splits(uint64_t n)
{
	return thp ? 0 : n;
}

/*
 * Of those, the 2M pages made 2M pieces in place.  Made private, the
 * pieces stay as they are (a 2M piece, or the 2M pieces of a 1G page,
 * which KVM maps 1G): no merge.
 */
static uint64_t first_use_in_place(uint64_t n)
{
	return pieces_in_place() ? n : 0;
}

/* HugeTLB 1G pages, whose 2M pieces stay until a punch or close. */
static bool pieces_stay(void)
{
	return !thp && huge_shift == 30;
}

/* Huge pages that [first, first + nr) touches. */
static uint64_t huge_pages(uint64_t first, uint64_t nr)
{
	return (first + nr - 1) / pages_per_huge - first / pages_per_huge + 1;
}

/*
 * Huge pages that converting [first, first + nr) splits: those it covers
 * only in part (one all shared or all private stays whole).
 */
static uint64_t split_pages(uint64_t first, uint64_t nr)
{
	uint64_t whole_first = (first + pages_per_huge - 1) / pages_per_huge;
	uint64_t whole_end = (first + nr) / pages_per_huge;

	if (whole_end <= whole_first)
		return huge_pages(first, nr);
	return huge_pages(first, nr) - (whole_end - whole_first);
}

/*
 * Splits that converting [first, first + nr) to shared counts: the huge
 * pages it covers only in part, but for 1G pages in pieces already, of
 * which a piece splits only (a 2M page's piece splitting counts as the
 * page's: see assert_stats_in_place()).
 */
static uint64_t conversion_splits(uint64_t first, uint64_t nr)
{
	uint64_t h, n = 0;

	for (h = first / pages_per_huge; h <= (first + nr - 1) / pages_per_huge; h++) {
		if (first <= h * pages_per_huge && first + nr >= (h + 1) * pages_per_huge)
			continue;
		if (pieces_stay() && in_pieces[h])
			continue;
		n++;
		in_pieces[h] = pieces_stay();
	}
	return n;
}

/* Merges that converting the range back counts: 1G pages' pieces stay. */
static uint64_t conversion_merges(uint64_t splits)
{
	return pieces_stay() ? 0 : splits;
}

/*
 * Huge pages that the host then splits when it reads [first, first + nr)
 * made shared: the HugeTLB pages the conversion left whole and that are
 * not in pieces already.
 */
static uint64_t host_splits(uint64_t first, uint64_t nr)
{
	uint64_t h, n = 0;

	for (h = first / pages_per_huge; h <= (first + nr - 1) / pages_per_huge; h++) {
		if (thp || in_pieces[h] || first > h * pages_per_huge ||
		    first + nr < (h + 1) * pages_per_huge)
			continue;
		n++;
		in_pieces[h] = true;
	}
	return n;
}

/* The ranges of the matrix, each converted to shared and back. */
struct matrix_case {
	uint64_t first, nr;
	const char *what;
};

#define MATRIX_CASES {								\
	{ 0, pages_per_huge, "a whole huge page" },				\
	{ 0, 1, "its first 4K page" },						\
	{ pages_per_huge / 2, 1, "a 4K page in its middle" },			\
	{ pages_per_huge - 1, 1, "its last 4K page" },				\
	{ pages_per_huge - 2, 4, "4 pages straddling two huge pages" },		\
	{ pages_per_huge + 7, 100, "100 pages inside the second huge page" },	\
}

static void test_matrix(void)
{
	const struct matrix_case cases[] = MATRIX_CASES;
	uint64_t pages_2m, n, splits, host;
	struct gmem_huge_stats stats;
	struct hugetlb_pool pool;
	struct test t;
	int i;

	test_create(&t, 0);

	/* All private: the guest writes everything, KVM maps it 2M. */
	memset(seeds, 1, MAX_PAGES);
	pages_2m = vm_get_stat(t.vm, level_stat);
	guest_do(&t, OP_WRITE, 0, nr_pages);
	TEST_ASSERT_EQ(vm_get_stat(t.vm, level_stat) - pages_2m, NR_HUGE);
	pages_2m = vm_get_stat(t.vm, level_stat);
	check_all(&t, "at the start");
	read_pool(&pool);

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		uint64_t first = cases[i].first, nr = cases[i].nr;
		char when[128];

		n = split_pages(first, nr);
		splits = conversion_splits(first, nr);
		read_stats(&stats);

		convert(&t, first, nr, true);
		snprintf(when, sizeof(when), "%s made shared", cases[i].what);
		assert_stats(&stats, splits, 0, when);
		/*
		 * Split: what the guest touches again is mapped 4K.  A huge
		 * page shared whole stays mapped huge.
		 */
		guest_do(&t, OP_CHECK, 0, nr_pages);
		TEST_ASSERT(pages_2m - vm_get_stat(t.vm, level_stat) == n,
			    "%s: pages_2m %lu, want %lu", when,
			    vm_get_stat(t.vm, level_stat), pages_2m - n);
		/* The host's reads split a HugeTLB page shared whole. */
		check_all(&t, when);
		host = host_splits(first, nr);
		snprintf(when, sizeof(when), "%s read by the host", cases[i].what);
		assert_stats_in_place(&stats, splits + host, first_use_in_place(host), 0, when);

		host_write(&t, first, nr, 2 + i);
		snprintf(when, sizeof(when), "%s written by the host", cases[i].what);
		check_all(&t, when);

		convert(&t, first, nr, false);
		snprintf(when, sizeof(when), "%s made private again", cases[i].what);
		assert_stats_in_place(&stats, splits + host, first_use_in_place(host),
				      conversion_merges(splits), when);
		/* The guest's first fault in the range maps the merged page 2M again. */
		guest_do(&t, OP_CHECK, first, nr);
		check_all(&t, when);
		TEST_ASSERT(vm_get_stat(t.vm, level_stat) == pages_2m,
			    "%s: pages_2m %lu, want %lu", when,
			    vm_get_stat(t.vm, level_stat), pages_2m);
		assert_pool(&pool, when);
	}

	/* The guest writes to a converted page, the host reads it. */
	read_stats(&stats);
	seeds[3] = 0x77;
	guest_do(&t, OP_WRITE, 3, 1);
	splits = conversion_splits(3, 1);
	convert(&t, 3, 1, true);
	check_all(&t, "after the guest wrote page 3 and it was made shared");
	convert(&t, 3, 1, false);
	assert_stats(&stats, splits, conversion_merges(splits), "page 3 round trip");

	test_destroy(&t);
}

/*
 * The matrix's round trips, with the function tracer watching the
 * conversions for RCU grace periods (rcu_waits.h): a split, a merge, and
 * on HugeTLB undoing and redoing HVO, wait for none.
 */
static void test_rcu_waits(void)
{
	const struct matrix_case cases[] = MATRIX_CASES;
	uint64_t splits = 0, merges = 0, n;
	struct gmem_huge_stats stats;
	char first[512];
	struct test t;
	long waits;
	int i;

	TEST_REQUIRE(rcu_waits_offered());
	test_create(&t, 0);
	memset(seeds, 1, MAX_PAGES);
	guest_do(&t, OP_WRITE, 0, nr_pages);
	read_stats(&stats);

	rcu_waits_start();
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		rcu_waits_watch(true);
		convert(&t, cases[i].first, cases[i].nr, true);
		convert(&t, cases[i].first, cases[i].nr, false);
		rcu_waits_watch(false);
		n = conversion_splits(cases[i].first, cases[i].nr);
		splits += n;
		merges += conversion_merges(n);
	}
	waits = rcu_waits_stop(first, sizeof(first));
	/*
	 * They did split and merge, and undo and redo HVO (on 1G pages, the
	 * pages' splits, and their pieces' splits and merges).
	 */
	assert_stats(&stats, splits, merges, "the round trips");
	TEST_ASSERT(!waits, "%ld RCU waits in %zu round trips; the first:\n%s",
		    waits, ARRAY_SIZE(cases), first);
	check_all(&t, "after the round trips");
	test_destroy(&t);
}

/*
 * Shared at creation: the host's first fault splits a HugeTLB page into
 * 2M pieces; made all private, the pieces stay, and KVM maps them huge.
 */
static void test_init_shared(void)
{
	struct gmem_huge_stats stats;
	uint64_t pages_2m;
	struct test t;

	test_create(&t, GUEST_MEMFD_FLAG_INIT_SHARED);
	read_stats(&stats);
	host_write(&t, 0, 1, 9);
	assert_stats_in_place(&stats, first_use_splits(1), first_use_in_place(1), 0,
			      "after the host wrote a shared page");
	host_write(&t, 0, nr_pages, 9);
	assert_stats_in_place(&stats, first_use_splits(NR_HUGE), first_use_in_place(NR_HUGE), 0,
			      "after the host wrote the shared file");
	check_all(&t, "after the host wrote the shared file");

	convert(&t, 0, pages_per_huge, false);
	assert_stats_in_place(&stats, first_use_splits(NR_HUGE), first_use_in_place(NR_HUGE),
			      0, "after a huge page was made private");
	pages_2m = vm_get_stat(t.vm, level_stat);
	check_all(&t, "after the huge page was made private");
	TEST_ASSERT_EQ(vm_get_stat(t.vm, level_stat) - pages_2m, 1);

	test_destroy(&t);
}

/* FilePmdMapped of the mapping at @addr, in kB (/proc/self/smaps). */
static uint64_t pmd_mapped_kb(void *addr)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	unsigned long start, end;
	uint64_t kb = 0;
	bool in = false;
	char line[256];

	TEST_ASSERT(f, "open /proc/self/smaps");
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2) {
			in = start <= (unsigned long)addr && (unsigned long)addr < end;
			continue;
		}
		if (in && sscanf(line, "FilePmdMapped: %lu kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb;
}

/*
 * THP only: a 2M page is split only while it holds both private and
 * shared pages.  A file created shared gets whole THPs, which the host maps
 * with PMDs and KVM with 2M stage-2 entries; a 4K page of one made private
 * splits it (in a conversion to private), its shared pages still the
 * host's; made shared again, it merges, unless the host holds one of its
 * pages; a new mapping of the file maps it with a PMD again.  The whole
 * file made private then needs neither split nor merge.
 */
static void test_shared_huge(void)
{
	const uint64_t page = pages_per_huge + 3;
	struct gmem_huge_stats stats;
	uint64_t pages_2m;
	struct iovec iov;
	int pipefd[2], i;
	struct test t;
	char *other;

	test_create(&t, GUEST_MEMFD_FLAG_INIT_SHARED);
	read_stats(&stats);
	host_write(&t, 0, nr_pages, 5);
	assert_stats(&stats, 0, 0, "after the host wrote the shared file");
	TEST_ASSERT(pmd_mapped_kb(t.mem) == NR_HUGE * (huge >> 10),
		    "the host maps %lu kB of the shared THPs with PMDs, want %lu",
		    pmd_mapped_kb(t.mem), NR_HUGE * (huge >> 10));
	pages_2m = vm_get_stat(t.vm, level_stat);
	check_all(&t, "after the host wrote the shared file");
	TEST_ASSERT(vm_get_stat(t.vm, level_stat) - pages_2m == NR_HUGE,
		    "KVM maps %lu shared THPs 2M, want %d",
		    vm_get_stat(t.vm, level_stat) - pages_2m, NR_HUGE);

	convert(&t, page, 1, false);
	assert_stats(&stats, 1, 0, "after a 4K page of a shared THP was made private");
	check_all(&t, "after a 4K page of a shared THP was made private");
	TEST_ASSERT_EQ(host_fault(&t, page), EFAULT);
	host_write(&t, pages_per_huge, page - pages_per_huge, 6);
	host_write(&t, page + 1, 2 * pages_per_huge - page - 1, 6);
	check_all(&t, "after the host wrote the split THP's shared pages");

	/* Held by the host: stays split, and the conversion succeeds. */
	iov.iov_base = t.mem + (page + 1) * 4096;
	iov.iov_len = 4096;
	TEST_ASSERT(!pipe(pipefd), "pipe");
	TEST_ASSERT_EQ(vmsplice(pipefd[1], &iov, 1, 0), 4096);
	convert(&t, page, 1, true);
	assert_stats(&stats, 1, 0, "after that page was made shared, a page held");
	check_all(&t, "after that page was made shared, a page held");
	close(pipefd[0]);
	close(pipefd[1]);
	convert(&t, page, 1, false);
	assert_stats(&stats, 1, 0, "after that page was made private again");

	convert(&t, page, 1, true);
	assert_stats(&stats, 1, 1, "after that page was made shared again");
	check_all(&t, "after that page was made shared again");
	other = mmap(NULL, NR_HUGE * huge, PROT_READ | PROT_WRITE, MAP_SHARED,
		     t.fd, 0);
	TEST_ASSERT(other != MAP_FAILED, "mmap the file again");
	for (i = 0; i < NR_HUGE; i++) {
		uint64_t *p = (uint64_t *)(other + i * huge + 3 * 4096);

		TEST_ASSERT_EQ(p[0], word(seeds[i * pages_per_huge + 3],
					  i * pages_per_huge + 3));
	}
	TEST_ASSERT(pmd_mapped_kb(other) == NR_HUGE * (huge >> 10),
		    "a new mapping maps %lu kB of the merged THPs with PMDs, want %lu",
		    pmd_mapped_kb(other), NR_HUGE * (huge >> 10));
	munmap(other, NR_HUGE * huge);

	convert(&t, 0, nr_pages, false);
	assert_stats(&stats, 1, 1, "after the whole file was made private");
	pages_2m = vm_get_stat(t.vm, level_stat);
	check_all(&t, "after the whole file was made private");
	TEST_ASSERT_EQ(vm_get_stat(t.vm, level_stat) - pages_2m, NR_HUGE);
	test_destroy(&t);
}

/* A held 4K page stops the merge before anything changes. */
static void test_held_page(void)
{
	const uint64_t held = pages_per_huge + 5;
	struct iovec iov;
	uint64_t error_offset = 0;
	struct gmem_huge_stats stats;
	size_t total;
	char buf[64];
	int pipefd[2];
	struct test t;
	ssize_t n;
	int r;

	test_create(&t, 0);
	memset(seeds, 3, MAX_PAGES);
	guest_do(&t, OP_WRITE, 0, nr_pages);
	convert(&t, pages_per_huge, pages_per_huge, true);

	iov.iov_base = t.mem + held * 4096;
	iov.iov_len = 4096;
	TEST_ASSERT(!pipe(pipefd), "pipe");
	n = vmsplice(pipefd[1], &iov, 1, 0);
	TEST_ASSERT_EQ(n, 4096);

	read_stats(&stats);
	r = __gmem_set_memory_attributes2(t.fd, 0, nr_pages * 4096,
					  KVM_MEMORY_ATTRIBUTE_PRIVATE,
					  KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE, &error_offset);
	TEST_ASSERT(r == -1 && errno == EAGAIN, "held page: want EAGAIN, got %d (%s)",
		    r, strerror(errno));
	/*
	 * A THP shared whole, or a 2M piece of a HugeTLB page that the host
	 * maps with a PMD, is held as a whole: its first page.
	 */
	TEST_ASSERT_EQ(error_offset, pages_per_huge * 4096);
	assert_stats(&stats, 0, 0, "after EAGAIN");
	check_all(&t, "after EAGAIN");

	for (total = 0; total < 4096; total += n) {
		n = read(pipefd[0], buf, sizeof(buf));
		TEST_ASSERT(n > 0, "read from pipe");
	}
	close(pipefd[0]);
	close(pipefd[1]);
	convert(&t, 0, nr_pages, false);
	assert_stats(&stats, 0, 0, "once the page was let go");
	check_all(&t, "once the page was let go");

	test_destroy(&t);
}

/*
 * O_DIRECT through a RAM disk (brd), whose block layer pins the user
 * pages it reads from or writes into: out of the first shared huge page,
 * back into the second.  The pins take nothing apart (THPs and 2M pieces:
 * GUP of pages the host maps with PMDs), and go with the I/O: the file
 * then converts.
 */
static void test_direct_io(void)
{
	const size_t len = 1 << 20;
	struct gmem_huge_stats stats;
	struct test t;
	int fd;

	test_create(&t, GUEST_MEMFD_FLAG_INIT_SHARED);
	host_write(&t, 0, nr_pages, 4);
	read_stats(&stats);

	fd = open("/dev/ram0", O_RDWR | O_DIRECT);
	TEST_ASSERT(fd >= 0, "open /dev/ram0 with O_DIRECT (CONFIG_BLK_DEV_RAM): %s",
		    strerror(errno));
	TEST_ASSERT_EQ(pwrite(fd, t.mem, len, 0), len);
	TEST_ASSERT_EQ(pread(fd, t.mem + huge, len, 0), len);
	close(fd);
	TEST_ASSERT(!memcmp(t.mem, t.mem + huge, len),
		    "O_DIRECT read back other data than it wrote");
	assert_stats(&stats, 0, 0, "after O_DIRECT");
	/* THPs, and the 2M pieces of HugeTLB pages, the host maps with PMDs. */
	TEST_ASSERT(pmd_mapped_kb(t.mem) == NR_HUGE * (huge >> 10),
		    "the host maps %lu kB with PMDs after O_DIRECT, want %lu",
		    pmd_mapped_kb(t.mem), NR_HUGE * (huge >> 10));

	/* The pages read back hold the first page's words: write them anew. */
	host_write(&t, pages_per_huge, len / 4096, 4);
	check_all(&t, "after O_DIRECT");
	convert(&t, 0, nr_pages, false);
	check_all(&t, "after O_DIRECT and a conversion to private");
	test_destroy(&t);
}

/*
 * Punching a split huge page: in part zeroes.  Whole, a HugeTLB page
 * merges and goes back to the pool.  A THP's 4K pages punched out go back
 * to the page allocator, so its range no longer merges.
 */
static void test_punch(void)
{
	struct gmem_huge_stats stats;
	struct hugetlb_pool pool;
	struct test t;

	test_create(&t, 0);
	memset(seeds, 4, MAX_PAGES);
	guest_do(&t, OP_WRITE, 0, nr_pages);
	convert(&t, 10, 1, true);
	read_pool(&pool);
	read_stats(&stats);

	/* Pages 8-11, of which 10 is shared: zeroed, the huge page kept. */
	TEST_ASSERT(!fallocate(t.fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE,
			       8 * 4096, 4 * 4096), "punch part");
	assert_pool(&pool, "after a partial punch of a split page");
	assert_stats(&stats, 0, 0, "after a partial punch of a split page");
	TEST_ASSERT_EQ(((uint64_t *)t.mem)[10 * 512], 0);
	guest_do(&t, OP_CHECK_ZERO, 8, 4);
	guest_do(&t, OP_WRITE, 8, 4);
	check_all(&t, "after a partial punch of a split page");

	if (thp) {
		convert(&t, 0, nr_pages, false);
		assert_stats(&stats, 0, 0, "after a punched THP range was made private");
		assert_pool(&pool, "after a punched THP range was made private");
		check_all(&t, "after a punched THP range was made private");
		test_destroy(&t);
		return;
	}
	TEST_ASSERT(!fallocate(t.fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE,
			       0, huge), "punch whole");
	pool.free++;
	pool.resv++;
	assert_pool(&pool, "after punching a split page whole");
	assert_stats(&stats, 0, 1, "after punching a split page whole");
	TEST_ASSERT_EQ(fd_st_blocks(t.fd), huge / 512);
	/* The guest's words there are gone: the page comes back zeroed, split. */
	TEST_ASSERT_EQ(((uint64_t *)t.mem)[10 * 512], 0);
	assert_stats(&stats, 1, 1, "after the host faulted the punched page in again");
	pool.free--;
	pool.resv--;
	assert_pool(&pool, "after the host faulted the punched page in again");

	test_destroy(&t);
}

static void assert_cg(const char *cg, uint64_t current, uint64_t rsvd, const char *when)
{
	hugetlb_cgroup_assert(cg, huge, current, rsvd, when);
}

static void write_cg(const char *cg, const char *file, const char *val)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", cg, file);
	write_file_str(path, val);
}

/*
 * A split huge page stays charged to its cgroup: splitting frees no room
 * under hugetlb.<size>.max (a tenant at its limit gets no second huge
 * page), and a merge at the limit takes none.  The file's reservation is
 * charged to one child of a cgroup, its pages to another, which is removed
 * while a page is split: it must still go (its offlining moves the charge
 * to the parent, as a huge page's), and the charge leaves with the file.
 */
static void test_cgroup(void)
{
	char max[32], max_file[32];
	struct gmem_huge_stats stats;
	struct test t;

	cgroup_create_hugetlb(CGROUP);
	cgroup_create_hugetlb(CGROUP_CREATOR);
	cgroup_create_hugetlb(CGROUP_CHILD);
	cgroup_move_self(CGROUP_CREATOR);
	test_create(&t, 0);
	cgroup_move_self(CGROUP_CHILD);

	TEST_ASSERT(!fallocate(t.fd, FALLOC_FL_KEEP_SIZE, 0, huge), "fallocate");
	assert_cg(CGROUP, huge, NR_HUGE * huge, "with one huge page allocated");
	assert_cg(CGROUP_CHILD, huge, 0, "with one huge page allocated");
	read_stats(&stats);
	convert(&t, 1, 1, true);
	assert_cg(CGROUP_CHILD, huge, 0, "with that huge page split");

	snprintf(max_file, sizeof(max_file), "hugetlb.%s.max", cg_size);
	snprintf(max, sizeof(max), "%lu", huge);
	write_cg(CGROUP_CHILD, max_file, max);
	TEST_ASSERT(fallocate(t.fd, FALLOC_FL_KEEP_SIZE, huge, huge) == -1 && errno == ENOMEM,
		    "a second huge page past hugetlb.%s.max: want ENOMEM, got %s", cg_size,
		    strerror(errno));
	convert(&t, 1, 1, false);
	/* On 1G pages, the merge of the piece; the page stays in pieces. */
	assert_stats(&stats, 1, conversion_merges(1),
		     "after a split and a merge at the cgroup's limit");
	assert_cg(CGROUP_CHILD, huge, 0, "after the merge, at its limit");

	write_cg(CGROUP_CHILD, max_file, "max");
	TEST_ASSERT(!fallocate(t.fd, FALLOC_FL_KEEP_SIZE, huge, huge), "fallocate");
	assert_cg(CGROUP_CHILD, NR_HUGE * huge, 0, "with the file allocated");
	convert(&t, 1, 1, true);

	cgroup_move_self(CGROUP_CREATOR);
	TEST_ASSERT(!rmdir(CGROUP_CHILD), "rmdir " CGROUP_CHILD);
	cgroup_wait_no_dying_descendants(CGROUP, "a huge page split");
	assert_cg(CGROUP, NR_HUGE * huge, NR_HUGE * huge, "with its child removed");
	convert(&t, 1, 1, false);
	assert_cg(CGROUP, NR_HUGE * huge, NR_HUGE * huge, "after the merge");
	test_destroy(&t);
	assert_cg(CGROUP, 0, 0, "after close");

	cgroup_move_self(CGROUP_ROOT);
	TEST_ASSERT(!rmdir(CGROUP_CREATOR), "rmdir " CGROUP_CREATOR);
	TEST_ASSERT(!rmdir(CGROUP), "rmdir " CGROUP);
}

struct racer {
	int fd;
	char *mem;
	bool stop;
	uint64_t conversions, eagain;
};

/* Converts pages 0-3, or all of huge page 0, back and forth; until EBADF. */
static void *convert_loop(void *arg)
{
	struct racer *r = arg;
	unsigned int seed = 1;

	while (!READ_ONCE(r->stop)) {
		bool whole = !(rand_r(&seed) & 3);
		uint64_t size = whole ? huge : 4 * 4096;
		int ret;

		ret = __gmem_set_memory_attributes2(r->fd, 0, size,
						    rand_r(&seed) & 1 ?
						    KVM_MEMORY_ATTRIBUTE_PRIVATE : 0,
						    KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE, NULL);
		if (ret && errno == EBADF)
			break;
		TEST_ASSERT(!ret || errno == EAGAIN, "conversion: %s", strerror(errno));
		r->eagain += !!ret;
		r->conversions += !ret;
	}
	return NULL;
}

/*
 * Punches (in part, and whole huge pages) and host faults race the
 * conversions of the same huge page; then the file is closed while they
 * still run.
 */
static void test_punch_close_race(void)
{
	struct racer r = {};
	struct hugetlb_pool pool;
	pthread_t thread;
	unsigned int seed = 2;
	struct test t;
	int i;

	read_pool(&pool);
	test_create(&t, GUEST_MEMFD_FLAG_INIT_SHARED);
	r.fd = t.fd;
	r.mem = t.mem;
	pthread_create(&thread, NULL, convert_loop, &r);

	for (i = 0; i < 200; i++) {
		uint64_t page = rand_r(&seed) % 8;

		if (rand_r(&seed) & 1)
			TEST_ASSERT(!fallocate(t.fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE,
					       rand_r(&seed) & 1 ? 0 : page * 4096,
					       rand_r(&seed) & 1 ? huge : 4096), "punch");
		/* Private pages fault with EFAULT (SIGBUS). */
		if (madvise(t.mem + page * 4096, 4096, MADV_POPULATE_WRITE))
			TEST_ASSERT_EQ(errno, EFAULT);
	}

	/* Closed under the converting thread. */
	kvm_vm_free(t.vm);
	gmem_munmap_aligned(t.reserved, NR_HUGE * huge, huge);
	close(t.fd);
	WRITE_ONCE(r.stop, true);
	pthread_join(thread, NULL);
	pr_info("punch race: %lu conversions, %lu EAGAIN\n", r.conversions, r.eagain);
	TEST_ASSERT(r.conversions, "no conversion ran");
	assert_pool(&pool, "after the punch and close race");
}

struct first_fault {
	struct test *t;
	uint64_t page;
	pthread_barrier_t *go;
};

/* Faults @page in as soon as the huge page is in the page cache. */
static void *first_fault_thread(void *arg)
{
	struct first_fault *f = arg;
	void *addr = f->t->mem + f->page * 4096;
	unsigned char resident;

	pthread_barrier_wait(f->go);
	/*
	 * A THP is not up to date (so not resident to mincore()) until used:
	 * there, just race the first.
	 */
	do {
		TEST_ASSERT(!mincore(addr, 4096, &resident), "mincore");
	} while (!(resident & 1) && !thp);
	TEST_ASSERT(!madvise(addr, 4096, MADV_POPULATE_WRITE),
		    "faulting in shared page %lu: %s", f->page, strerror(errno));
	return NULL;
}

/*
 * The first fault on a shared huge page allocates it and, on HugeTLB,
 * splits it at once (a THP stays whole).  A second fault that finds the
 * huge folio in the page cache
 * meanwhile (mincore() tells the moment it is there) must wait for the
 * pieces: mapping the huge folio would map all of it, and its reference
 * would stall the split for ever.
 */
static void test_first_fault_race(void)
{
	const int rounds = huge_shift == 21 ? 8 : 2;
	struct first_fault f;
	pthread_barrier_t go;
	struct gmem_huge_stats stats;
	pthread_t thread;
	struct hugetlb_pool pool;
	struct test t;
	int i;

	read_pool(&pool);
	pthread_barrier_init(&go, NULL, 2);
	for (i = 0; i < rounds; i++) {
		test_create(&t, GUEST_MEMFD_FLAG_INIT_SHARED);
		read_stats(&stats);
		f = (struct first_fault){ .t = &t, .page = 100 + i, .go = &go };
		pthread_create(&thread, NULL, first_fault_thread, &f);
		pthread_barrier_wait(&go);
		host_write(&t, i, 1, 3);
		pthread_join(thread, NULL);
		assert_stats_in_place(&stats, first_use_splits(1), first_use_in_place(1), 0,
				      "after two first faults on a huge page");
		/* All of it, as check_all() wants: the other huge page splits too. */
		host_write(&t, 0, nr_pages, 4);
		check_all(&t, "after two first faults on a huge page");

		/* Nothing kept a reference: it merges at the first try. */
		convert(&t, 0, pages_per_huge, false);
		assert_stats_in_place(&stats, first_use_splits(NR_HUGE),
				      first_use_in_place(NR_HUGE), 0,
				      "after the huge page was made private");
		check_all(&t, "after the huge page was made private");
		test_destroy(&t);
	}
	pthread_barrier_destroy(&go);
	assert_pool(&pool, "after the first fault race");
}

/* The pfn of a page the host can map (/proc/self/pagemap). */
static uint64_t host_pfn(struct test *t, uint64_t page)
{
	int fd = open("/proc/self/pagemap", O_RDONLY);
	uint64_t entry;

	TEST_ASSERT(fd >= 0, "open /proc/self/pagemap");
	TEST_ASSERT(host_can_fault(t, page), "page %lu is not shared", page);
	TEST_ASSERT_EQ(pread(fd, &entry, sizeof(entry),
			     ((uint64_t)t->mem / 4096 + page) * sizeof(entry)),
		       sizeof(entry));
	close(fd);
	TEST_ASSERT(entry & BIT_ULL(63), "page %lu not present", page);
	return entry & GENMASK_ULL(54, 0);
}

/*
 * Memory failure on @pfn, as a hardware error would.  On a guest_memfd
 * page it only marks the page (hugetlb folios that cannot migrate, and
 * pieces that are not on the LRU, are not theirs to handle) and reports
 * that it failed (EBUSY or EIO): the guest decides.
 */
static void poison_pfn(uint64_t pfn)
{
	const char *path = "/sys/kernel/debug/hwpoison/corrupt-pfn";
	char buf[32];
	int fd, n;

	fd = open(path, O_WRONLY);
	TEST_ASSERT(fd >= 0, "open %s", path);
	n = snprintf(buf, sizeof(buf), "%lu", pfn);
	TEST_ASSERT(write(fd, buf, n) == n || errno == EBUSY || errno == EIO,
		    "%s %lu: %s", path, pfn, strerror(errno));
	close(fd);
}

/*
 * A poisoned huge page leaves the pool with its file (never to be used
 * again; a split one gives its healthy 4K pages to the page allocator):
 * grow the pool back.
 */
static void restore_pool(const struct hugetlb_pool *pool)
{
	struct hugetlb_pool want = *pool;

	want.total--;
	want.free--;
	assert_pool(&want, "after a poisoned huge page was closed");
	hugetlb_pool_resize(huge, pool->total);
	assert_pool(pool, "after the pool was grown back");
}

/*
 * A file created shared whose second huge page is made private, whole, and
 * is a HugeTLB page: the host's use of a 2M page made it one 2M piece, so
 * one of its pages goes to shared and back, which splits the piece into 4K
 * pages and merges those into the HugeTLB page.  Saves the pool first.
 * Returns the pfn of its page @victim.
 */
static uint64_t private_huge_page(struct test *t, struct hugetlb_pool *pool, uint64_t victim)
{
	struct gmem_huge_stats stats;
	uint64_t pfn;

	read_pool(pool);
	test_create(t, GUEST_MEMFD_FLAG_INIT_SHARED);
	host_write(t, 0, nr_pages, 7);
	pfn = host_pfn(t, victim);
	convert(t, pages_per_huge, pages_per_huge, false);
	if (pieces_in_place()) {
		read_stats(&stats);
		convert(t, pages_per_huge, 1, true);
		convert(t, pages_per_huge, 1, false);
		assert_stats(&stats, 1, 1, "after a 2M piece made a HugeTLB page again");
	}
	return pfn;
}

/*
 * The guest touches @page, which memory failure poisoned: KVM exits to
 * userspace (KVM_EXIT_MEMORY_FAULT, EHWPOISON), and the vCPU can go no
 * further.
 */
static void guest_touch_poisoned(struct test *t, uint64_t page)
{
	int r;

	cmd.op = OP_CHECK;
	cmd.first = page;
	cmd.nr = 1;
	cmd.pages_per_huge = pages_per_huge;
	sync_global_to_guest(t->vm, cmd);
	r = __vcpu_run(t->vcpu);
	TEST_ASSERT(r == -1 && errno == EHWPOISON,
		    "guest touching poisoned page %lu: KVM_RUN %d, %s, exit %s", page, r,
		    strerror(errno), exit_reason_str(t->vcpu->run->exit_reason));
	TEST_ASSERT_EQ(t->vcpu->run->exit_reason, KVM_EXIT_MEMORY_FAULT);
	TEST_ASSERT_EQ(t->vcpu->run->memory_fault.gpa, GMEM_GPA + page * 4096);
}

/*
 * Memory failure on a private huge page that the guest has mapped unmaps
 * all of it from the guest.  Converting part of it to shared still splits
 * it: the poisoned 4K page stays poisoned (the host gets EHWPOISON, the
 * guest an exit), and every other page is usable again, with its data.
 */
static void test_poison(void)
{
	const uint64_t victim = pages_per_huge + 7, other = pages_per_huge + 100;
	struct gmem_huge_stats stats, s;
	struct hugetlb_pool pool;
	struct test t;
	uint64_t pfn;

	pfn = private_huge_page(&t, &pool, victim);
	/* The guest maps the huge page (2M stage-2 entry). */
	guest_do(&t, OP_CHECK, pages_per_huge, pages_per_huge);
	read_stats(&stats);

	poison_pfn(pfn);
	/* Before the fix, the guest still read it through its old mapping. */
	guest_touch_poisoned(&t, other);

	convert(&t, other, 1, true);
	assert_stats(&stats, 1, 0, "after the split of a poisoned huge page");
	read_stats(&s);
	TEST_ASSERT_EQ(s.poisoned_splits, stats.poisoned_splits + 1);
	TEST_ASSERT_EQ(*(uint64_t *)(t.mem + other * 4096), word(7, other));
	TEST_ASSERT_EQ(host_fault(&t, victim), EFAULT);
	convert(&t, victim, 1, true);
	TEST_ASSERT_EQ(host_fault(&t, victim), EHWPOISON);
	/* The poisoned page keeps the huge page split. */
	convert(&t, pages_per_huge, pages_per_huge, false);
	assert_stats(&stats, 1, 0, "after converting the poisoned huge page back");
	guest_do(&t, OP_CHECK, pages_per_huge, victim - pages_per_huge);
	guest_do(&t, OP_CHECK, victim + 1, 2 * pages_per_huge - victim - 1);

	/* The other huge page, which the host split, or made a 2M piece. */
	convert(&t, 3, 1, false);
	convert(&t, 3, 1, true);
	host_write(&t, 0, pages_per_huge, 8);
	assert_stats(&stats, 1 + pieces_in_place(), 0,
		     "after converting pages of the other huge page");

	guest_touch_poisoned(&t, victim);
	test_destroy(&t);
	restore_pool(&pool);
}

/*
 * Memory failure on 4K pages of a split huge page: on a private one, the
 * guest loses it (an EHWPOISON exit at its next touch); on a shared one,
 * the host loses its mapping.  Memory failure keeps a reference to each,
 * which does not stop a conversion.  The rest carries on; the page stays
 * split, and leaves the pool with the file.
 */
static void test_poison_piece(void)
{
	const uint64_t victim = pages_per_huge + 9, other = pages_per_huge + 100;
	struct gmem_huge_stats stats;
	struct hugetlb_pool pool;
	struct test t;
	uint64_t pfn;

	pfn = private_huge_page(&t, &pool, victim);
	convert(&t, other, 1, true);
	/* The guest maps the 4K pages, the poisoned one among them. */
	guest_do(&t, OP_CHECK, pages_per_huge, other - pages_per_huge);
	read_stats(&stats);

	poison_pfn(pfn);
	poison_pfn(host_pfn(&t, other));
	/* Before the fix, the host still read it through its mapping. */
	TEST_ASSERT_EQ(host_fault(&t, other), EHWPOISON);
	/* Before the fix, memory failure's reference made this EAGAIN. */
	convert(&t, pages_per_huge, pages_per_huge, false);
	assert_stats(&stats, 0, 0, "after converting a split page with poisoned pages");
	guest_do(&t, OP_CHECK, pages_per_huge, victim - pages_per_huge);
	guest_do(&t, OP_CHECK, victim + 1, other - victim - 1);
	guest_do(&t, OP_CHECK, other + 1, 2 * pages_per_huge - other - 1);
	/* Before the fix, the guest still read it through its old mapping. */
	guest_touch_poisoned(&t, victim);

	test_destroy(&t);
	restore_pool(&pool);
}

/*
 * A split huge page is still pool memory, counted in HugePages_Total: its
 * 4K pages are no page cache that the kernel could reclaim, and meminfo's
 * Cached must not count them a second time.
 */
static void test_cached(void)
{
	uint64_t before, split;
	struct test t;

	test_create(&t, 0);
	TEST_ASSERT(!fallocate(t.fd, FALLOC_FL_KEEP_SIZE, 0, NR_HUGE * huge), "fallocate: %s",
		    strerror(errno));
	before = meminfo_kb("Cached");
	convert(&t, 5, 1, true);
	convert(&t, pages_per_huge + 5, 1, true);
	split = meminfo_kb("Cached");
	TEST_ASSERT(split < before + (huge >> 10) / 2,
		    "Cached grew from %lu to %lu kB with the split of %d %lu kB pages",
		    before, split, NR_HUGE, huge >> 10);
	convert(&t, 5, 1, false);
	convert(&t, pages_per_huge + 5, 1, false);
	test_destroy(&t);
}

/*
 * A poisoned private huge page punched out of its file leaves the pool,
 * and so must the page of the file's reservation that stood for it: a
 * pool that reserves more pages than it has free fails another file's
 * reserved page.  A second file reserves all that the pool has to spare,
 * so any over-commit shows; the punched range then comes back only from
 * pages nobody reserved (ENOMEM while there are none).
 */
static void test_poison_punch(void)
{
	const uint64_t victim = pages_per_huge + 7;
	struct hugetlb_pool pool, p;
	struct test t;
	uint64_t pfn;
	int other;

	pfn = private_huge_page(&t, &pool, victim);
	poison_pfn(pfn);

	read_pool(&p);
	TEST_ASSERT(p.free > p.resv, "no spare page in the %s pool", cg_size);
	other = vm_create_guest_memfd_hugetlb(t.vm, (p.free - p.resv) * huge, 0, huge_shift);
	TEST_ASSERT(!fallocate(t.fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE, huge, huge),
		    "punching the poisoned huge page: %s", strerror(errno));
	read_pool(&p);
	TEST_ASSERT(p.total == pool.total - 1 && p.resv == p.free,
		    "%s pool, poisoned page punched: total/free/rsvd %lu/%lu/%lu, want %lu/N/N",
		    cg_size, p.total, p.free, p.resv, pool.total - 1);
	TEST_ASSERT(fallocate(t.fd, FALLOC_FL_KEEP_SIZE, huge, huge) == -1 && errno == ENOMEM,
		    "refilling the punched range with no spare page: want ENOMEM, got %s",
		    strerror(errno));
	close(other);
	TEST_ASSERT(!fallocate(t.fd, FALLOC_FL_KEEP_SIZE, huge, huge),
		    "refilling the punched range: %s", strerror(errno));

	test_destroy(&t);
	restore_pool(&pool);
}

struct poison_racer {
	int fd;
	bool stop;
	uint64_t rounds, eagain;
};

/* Merges the second huge page and splits it again, over and over. */
static void *poison_convert_loop(void *arg)
{
	struct poison_racer *r = arg;
	uint64_t ranges[2][2] = {
		{ pages_per_huge, pages_per_huge },	/* to private: merge */
		{ pages_per_huge + 100, 1 },		/* to shared: split */
	};
	int i, ret;

	while (!READ_ONCE(r->stop)) {
		for (i = 0; i < 2; i++) {
			ret = __gmem_set_memory_attributes2(r->fd, ranges[i][0] * 4096,
							    ranges[i][1] * 4096,
							    i ? 0 : KVM_MEMORY_ATTRIBUTE_PRIVATE,
							    KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE,
							    NULL);
			if (!ret)
				continue;
			/* Memory failure holds the folio for a moment. */
			TEST_ASSERT(errno == EAGAIN, "converting: %s", strerror(errno));
			r->eagain++;
		}
		r->rounds++;
	}
	return NULL;
}

/*
 * Memory failure on a page of a huge page that is being split or merged:
 * it holds the folio (locked, referenced) while it tells guest_memfd, and
 * the conversion, past its point of no return, holds invalidate_lock and
 * waits for the reference to go.  Neither may wait for the other; the
 * split carries the poison over to the 4K page, the merge leaves a
 * poisoned piece split.
 */
static void test_poison_race(void)
{
	const uint64_t victim = pages_per_huge + 7;
	struct gmem_huge_stats before, after;
	uint64_t pfn, page, start;
	unsigned int seed = 3;
	struct poison_racer r;
	pthread_t thread;
	struct hugetlb_pool pool;
	struct test t;
	int i;

	read_pool(&pool);
	read_stats(&before);
	for (i = 0; i < 4; i++) {
		test_create(&t, GUEST_MEMFD_FLAG_INIT_SHARED);
		host_write(&t, 0, nr_pages, 9);
		pfn = host_pfn(&t, victim);
		r = (struct poison_racer){ .fd = t.fd };
		pthread_create(&thread, NULL, poison_convert_loop, &r);

		usleep(rand_r(&seed) % 20000);
		start = READ_ONCE(r.rounds);
		poison_pfn(pfn);
		while (READ_ONCE(r.rounds) < start + 4)
			usleep(1000);
		WRITE_ONCE(r.stop, true);
		pthread_join(thread, NULL);
		pr_info("poison race %d: %lu rounds, %lu EAGAIN\n", i, r.rounds, r.eagain);

		/*
		 * The poison stuck, on the victim alone: a split page that
		 * stays split, all private or not, or a poisoned huge folio
		 * that this splits.
		 */
		convert(&t, pages_per_huge, pages_per_huge, false);
		convert(&t, victim, 2, true);
		TEST_ASSERT_EQ(host_fault(&t, victim), EHWPOISON);
		TEST_ASSERT_EQ(*(uint64_t *)(t.mem + (victim + 1) * 4096), word(9, victim + 1));

		/* The first huge page is untouched. */
		for (page = 0; page < pages_per_huge; page++)
			TEST_ASSERT_EQ(*(uint64_t *)(t.mem + page * 4096), word(9, page));
		test_destroy(&t);
		restore_pool(&pool);
	}
	read_stats(&after);
	pr_info("poison race: %lu poisoned splits, %lu merges left split\n",
		after.poisoned_splits - before.poisoned_splits,
		after.poisoned_merges_skipped - before.poisoned_merges_skipped);
}

/* Closed while a piece is held: that huge page leaves the pool. */
static void test_close_held(void)
{
	struct iovec iov;
	struct hugetlb_pool pool, want;
	int pipefd[2];
	struct test t;

	read_pool(&pool);
	test_create(&t, 0);
	memset(seeds, 5, MAX_PAGES);
	guest_do(&t, OP_WRITE, 0, nr_pages);
	convert(&t, 3, 1, true);

	iov.iov_base = t.mem + 3 * 4096;
	iov.iov_len = 4096;
	TEST_ASSERT(!pipe(pipefd), "pipe");
	TEST_ASSERT_EQ(vmsplice(pipefd[1], &iov, 1, 0), 4096);

	test_destroy(&t);
	want = pool;
	want.total--;
	want.free--;
	assert_pool(&want, "after closing a file with a held 4K page");

	/* The piece goes to the page allocator with the pipe. */
	close(pipefd[0]);
	close(pipefd[1]);

	/* Give the pool its page back, as an admin would. */
	hugetlb_pool_resize(huge, pool.total);
	assert_pool(&pool, "after the pool was grown back");
}

/* The split and merge counts of both levels of 1G pages since @before. */
static void assert_levels(const struct gmem_huge_stats *before, uint64_t splits,
			  uint64_t split_pieces, uint64_t merge_pieces, uint64_t merges,
			  const char *when)
{
	struct gmem_huge_stats s;

	read_stats(&s);
	TEST_ASSERT(s.splits - before->splits == splits &&
		    s.split_pieces - before->split_pieces == split_pieces &&
		    s.merge_pieces - before->merge_pieces == merge_pieces &&
		    s.merges - before->merges == merges &&
		    s.vmemmap_restores - before->vmemmap_restores == splits &&
		    s.vmemmap_optimizes - before->vmemmap_optimizes == merges,
		    "%s: 1G->2M %lu, 2M->4K %lu, 4K->2M %lu, 2M->1G %lu, restores %lu, optimizes %lu; want %lu %lu %lu %lu %lu %lu",
		    when, s.splits - before->splits, s.split_pieces - before->split_pieces,
		    s.merge_pieces - before->merge_pieces, s.merges - before->merges,
		    s.vmemmap_restores - before->vmemmap_restores,
		    s.vmemmap_optimizes - before->vmemmap_optimizes,
		    splits, split_pieces, merge_pieces, merges, splits, merges);
	if (!hugetlb_vmemmap_optimized())
		return;
	/*
	 * A piece that goes to 4K restores its vmemmap, but in the first
	 * split of the page, from the pool, which restores it with the rest;
	 * each that merges back is optimized again.
	 */
	TEST_ASSERT(s.vmemmap_piece_restores - before->vmemmap_piece_restores ==
		    split_pieces - !!splits &&
		    s.vmemmap_piece_optimizes - before->vmemmap_piece_optimizes ==
		    merge_pieces,
		    "%s: %lu pieces restored, %lu optimized; want %lu %lu", when,
		    s.vmemmap_piece_restores - before->vmemmap_piece_restores,
		    s.vmemmap_piece_optimizes - before->vmemmap_piece_optimizes,
		    split_pieces - !!splits, merge_pieces);
}

/* 1G: splits into 2M pieces and merges back since @before; none to 4K. */
static void assert_pieces_only(const struct gmem_huge_stats *before,
			       uint64_t splits, uint64_t merges,
			       uint64_t piece_restores, const char *when)
{
	struct gmem_huge_stats s;

	read_stats(&s);
	TEST_ASSERT(s.splits - before->splits == splits &&
		    s.merges - before->merges == merges &&
		    s.split_pieces == before->split_pieces &&
		    s.merge_pieces == before->merge_pieces,
		    "%s: 1G->2M %lu, 2M->1G %lu, 2M->4K %lu, 4K->2M %lu; want %lu %lu 0 0",
		    when, s.splits - before->splits, s.merges - before->merges,
		    s.split_pieces - before->split_pieces,
		    s.merge_pieces - before->merge_pieces, splits, merges);
	if (hugetlb_vmemmap_optimized())
		TEST_ASSERT(s.vmemmap_piece_restores - before->vmemmap_piece_restores ==
			    piece_restores,
			    "%s: %lu pieces' vmemmap restored, want %lu", when,
			    s.vmemmap_piece_restores - before->vmemmap_piece_restores,
			    piece_restores);
}

/*
 * After the guest has touched every piece (checked() samples each): KVM
 * maps @pages_1g more 1G pages and @pages_2m more 2M pieces than at @t0.
 */
static void assert_stage2(struct test *t, const uint64_t *t0, int64_t pages_1g,
			  int64_t pages_2m, const char *when)
{
	int64_t d1g, d2m;

	guest_do(t, OP_CHECK, 0, nr_pages);
	d1g = vm_get_stat(t->vm, "pages_1g") - t0[0];
	d2m = vm_get_stat(t->vm, "pages_2m") - t0[1];
	TEST_ASSERT(d1g == pages_1g && d2m == pages_2m,
		    "%s: %ld more 1G mappings and %ld more 2M ones, want %ld and %ld",
		    when, d1g, d2m, pages_1g, pages_2m);
}

/*
 * 1G only: the host's first access to a 1G page shared whole splits it
 * into 2M pieces and nothing more, and maps the piece with a PMD (the
 * mapping is 2M-aligned); KVM maps the page 1G all the same, its pieces
 * being whole.  A mapping that cannot use PMDs (MADV_NOHUGEPAGE) maps a
 * piece with PTEs, its vmemmap restored first; the PMD mapping of it goes
 * on.  madvise(MADV_COLD, MADV_PAGEOUT) over part of a piece splits
 * nothing.  Made private, the pieces stay, and KVM maps them 1G still.
 */
static void test_host_pieces(void)
{
	/* The first page of piece 1: one that host_write() writes. */
	const uint64_t pages_2m = 512, page = pages_2m;
	struct gmem_huge_stats stats;
	uint64_t *p, *q, t0[2];
	struct test t;
	char *other;

	test_create(&t, GUEST_MEMFD_FLAG_INIT_SHARED);
	read_stats(&stats);
	host_write(&t, 0, 2 * pages_2m, 8);
	assert_pieces_only(&stats, 1, 0, 0, "after the host wrote two pieces");
	TEST_ASSERT(pmd_mapped_kb(t.mem) == 2 * 2048,
		    "the host maps %lu kB of the pieces with PMDs, want 4096",
		    pmd_mapped_kb(t.mem));
	/*
	 * Core mm leaves pieces to guest_memfd: madvise() over part of one
	 * the host maps splits nothing (split_folio() would have written
	 * the struct pages HVO maps read-only).
	 */
	TEST_ASSERT(!madvise(t.mem + 4096, 4096, MADV_COLD), "MADV_COLD");
	TEST_ASSERT(!madvise(t.mem + 4096, 4096, MADV_PAGEOUT), "MADV_PAGEOUT");
	assert_pieces_only(&stats, 1, 0, 0, "after madvise() over part of a piece");
	TEST_ASSERT(pmd_mapped_kb(t.mem) == 2 * 2048,
		    "the host maps %lu kB with PMDs after madvise(), want 4096",
		    pmd_mapped_kb(t.mem));
	host_write(&t, 0, nr_pages, 8);
	assert_pieces_only(&stats, NR_HUGE, 0, 0, "after the host wrote the file");
	/* Their pieces all whole: KVM maps the 1G pages 1G all the same. */
	t0[0] = vm_get_stat(t.vm, "pages_1g");
	t0[1] = vm_get_stat(t.vm, "pages_2m");
	assert_stage2(&t, t0, NR_HUGE, 0, "after the host split the file");

	other = mmap(NULL, huge, PROT_READ | PROT_WRITE, MAP_SHARED, t.fd, 0);
	TEST_ASSERT(other != MAP_FAILED, "mmap the file again");
	TEST_ASSERT(!madvise(other, huge, MADV_NOHUGEPAGE), "MADV_NOHUGEPAGE");
	p = (uint64_t *)(other + page * 4096);
	TEST_ASSERT_EQ(p[0], word(seeds[page], page));
	TEST_ASSERT_EQ(pmd_mapped_kb(other), 0);
	assert_pieces_only(&stats, NR_HUGE, 0, 1, "after a mapping read a piece with PTEs");
	p[511] = 0x1234;
	q = (uint64_t *)(t.mem + page * 4096);
	TEST_ASSERT_EQ(q[511], 0x1234);
	q[511] = ~word(seeds[page], page);
	TEST_ASSERT_EQ(p[511], ~word(seeds[page], page));
	munmap(other, huge);

	check_all(&t, "after the host mapped pieces with PMDs and PTEs");
	assert_pieces_only(&stats, NR_HUGE, 0, 1, "after the host read the file");
	convert(&t, 0, nr_pages, false);
	assert_pieces_only(&stats, NR_HUGE, 0, 1, "after the file was made private");
	check_all(&t, "after the file was made private");
	assert_stage2(&t, t0, NR_HUGE, 0, "after the file was made private");
	test_destroy(&t);
}

/* The first 4K page of the @n-th 2M piece. */
#define PIECE(n)	((n) * 512ull)

/* The pages that hold struct pages (vmemmap), allocated or from boot. */
static uint64_t memmap_pages(void)
{
	return read_file_key_u64("/proc/vmstat", "nr_memmap_pages") +
	       read_file_key_u64("/proc/vmstat", "nr_memmap_boot_pages");
}

/*
 * The vmemmap pages in use for the 1G page, against @m0.  Each 2M piece
 * that stays whole keeps HVO at 2M (one vmemmap page of its own: the first
 * piece's is the 1G page's head vmemmap page), each piece of 4K pages has
 * all 8, and a 1G page merged from pieces keeps theirs; one in the pool
 * has its head vmemmap page, and a page of tails if it was optimized in
 * use (given back after a split).
 */
static void assert_vmemmap(uint64_t m0, int64_t pages, const char *when)
{
	int64_t d = memmap_pages() - m0;

	if (!hugetlb_vmemmap_optimized())
		return;
	TEST_ASSERT(d == pages, "%s: %ld more vmemmap pages, want %ld", when, d, pages);
}

/*
 * 1G pages split in two levels: only the 2M pieces that hold shared pages
 * go to 4K, and each level merges back on its own (see the top).
 */
static void test_pieces(void)
{
	struct gmem_huge_stats stats;
	struct hugetlb_pool pool;
	uint64_t t0[2], m0;
	struct test t;

	test_create(&t, 0);
	memset(seeds, 6, MAX_PAGES);
	guest_do(&t, OP_WRITE, 0, nr_pages);
	t0[0] = vm_get_stat(t.vm, "pages_1g");
	t0[1] = vm_get_stat(t.vm, "pages_2m");
	read_pool(&pool);
	read_stats(&stats);
	m0 = memmap_pages();

	convert(&t, PIECE(37), 1, true);
	assert_levels(&stats, 1, 1, 0, 0, "the first 4K page of piece 37 made shared");
	check_all(&t, "the first 4K page of piece 37 made shared");
	assert_stage2(&t, t0, -1, 511, "the first 4K page of piece 37 made shared");
	/*
	 * 510 pieces' first vmemmap pages, and all 8 of piece 37's; less the
	 * page of tails of a 1G page that an earlier test merged, which the
	 * pool gives out as it is.
	 */
	if (hugetlb_vmemmap_optimized() && memmap_pages() - m0 == 510 + 8 - 1)
		m0--;
	assert_vmemmap(m0, 510 + 8, "the first 4K page of piece 37 made shared");

	host_write(&t, PIECE(37), 1, 7);
	convert(&t, PIECE(300) + 511, 1, true);
	assert_levels(&stats, 1, 2, 0, 0, "the last 4K page of piece 300 made shared too");
	check_all(&t, "the last 4K page of piece 300 made shared too");
	assert_stage2(&t, t0, -1, 510, "the last 4K page of piece 300 made shared too");
	assert_vmemmap(m0, 510 + 8 + 7, "the last 4K page of piece 300 made shared too");

	convert(&t, PIECE(37), 1, false);
	assert_levels(&stats, 1, 2, 1, 0, "piece 37 all private again");
	check_all(&t, "piece 37 all private again");
	assert_stage2(&t, t0, -1, 511, "piece 37 all private again");
	/* Optimized again as it merged. */
	assert_vmemmap(m0, 510 + 8, "piece 37 all private again");

	/*
	 * All private again: the pieces stay, all whole, and KVM maps them
	 * with the 1G page's entry.
	 */
	convert(&t, PIECE(300) + 511, 1, false);
	assert_levels(&stats, 1, 2, 2, 0, "the 1G page all private again");
	check_all(&t, "the 1G page all private again");
	assert_stage2(&t, t0, 0, 0, "the 1G page all private again");
	assert_pool(&pool, "after the first round trips");
	/* Each piece keeps its vmemmap page while the file holds the page. */
	assert_vmemmap(m0, 511, "the 1G page all private again");

	/*
	 * A whole 2M piece made shared stays whole: KVM maps it 2M, the
	 * host with a PMD, and its vmemmap stays as it is.
	 */
	convert(&t, PIECE(100), 512, true);
	host_write(&t, PIECE(100), 512, 8);
	assert_levels(&stats, 1, 2, 2, 0, "a whole piece made shared");
	check_all(&t, "a whole piece made shared");
	assert_stage2(&t, t0, -1, 512, "a whole piece made shared");
	assert_vmemmap(m0, 511, "a whole piece made shared");
	convert(&t, PIECE(100), 512, false);
	assert_levels(&stats, 1, 2, 2, 0, "a whole piece made private again");
	check_all(&t, "a whole piece made private again");
	assert_stage2(&t, t0, 0, 0, "a whole piece made private again");
	assert_vmemmap(m0, 511, "a whole piece made private again");

	/* Pages 510-513, straddling pieces 0 and 1. */
	convert(&t, 510, 4, true);
	host_write(&t, 510, 4, 9);
	assert_levels(&stats, 1, 4, 2, 0, "4 pages straddling two pieces made shared");
	check_all(&t, "4 pages straddling two pieces made shared");
	assert_stage2(&t, t0, -1, 510, "4 pages straddling two pieces made shared");
	convert(&t, 510, 4, false);
	assert_levels(&stats, 1, 4, 4, 0, "4 pages straddling two pieces made private again");
	check_all(&t, "4 pages straddling two pieces made private again");
	assert_stage2(&t, t0, 0, 0, "4 pages straddling two pieces made private again");
	assert_pool(&pool, "after the round trips");

	/* A punch of a piece still whole in a split page zeroes it only. */
	convert(&t, PIECE(37), 1, true);
	TEST_ASSERT(!fallocate(t.fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE,
			       PIECE(200) * 4096, SZ_2M), "punch a piece");
	assert_levels(&stats, 1, 5, 4, 0, "after a punch of a whole piece");
	assert_pool(&pool, "after a punch of a whole piece");
	guest_do(&t, OP_CHECK_ZERO, PIECE(200), 512);
	guest_do(&t, OP_WRITE, PIECE(200), 512);
	check_all(&t, "after a punch of a whole piece");

	/* A punch of the whole page merges both levels, and frees it. */
	TEST_ASSERT(!fallocate(t.fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE,
			       0, huge), "punch the 1G page");
	assert_levels(&stats, 1, 5, 5, 1, "after a punch of the split 1G page");
	pool.free++;
	pool.resv++;
	assert_pool(&pool, "after a punch of the split 1G page");
	/* Optimized at 1G as it left, with the pieces' pages: head and tails. */
	assert_vmemmap(m0, 1, "after a punch of the split 1G page");

	test_destroy(&t);
}

/* Dissolved huge pages: close_held's one, none anywhere else. */
static void assert_dissolves(const struct gmem_huge_stats *before, uint64_t want)
{
	struct gmem_huge_stats s;

	read_stats(&s);
	TEST_ASSERT_EQ(s.dissolves - before->dissolves, want);
}

static void setup(enum vm_mem_backing_src_type t)
{
	TEST_REQUIRE(kvm_check_cap(KVM_CAP_VM_TYPES) & BIT(KVM_X86_SW_PROTECTED_VM));
	TEST_REQUIRE(backing_src_guest_memfd_offered(t));
	backing = t;
	thp = t == VM_MEM_SRC_GUEST_MEMFD_THP;
	huge = get_backing_src_pagesz(t);
	huge_shift = backing_src_guest_memfd_log2(t);
	/* A second file in poison_punch may take all the rest. */
	if (!thp)
		TEST_REQUIRE(hugetlb_pool_unreserved(huge) >= NR_HUGE);
	shared = calloc(MAX_PAGES, sizeof(*shared));
	seeds = calloc(MAX_PAGES, sizeof(*seeds));
	TEST_ASSERT(shared && seeds, "calloc");
	pages_per_huge = huge / 4096;
	/* checked() reads it before any guest_do(). */
	cmd.pages_per_huge = pages_per_huge;
	nr_pages = NR_HUGE * pages_per_huge;
	cg_size = thp ? "THP" : hugetlb_cgroup_size_name(huge);
	level_stat = kvm_stage2_stat_name(huge);
}

/*
 * What a failed scenario may leave changed, saved before it starts, and
 * what restore() needs to know: it runs in the harness's parent, which
 * has none of the globals that setup() set.
 */
struct saved {
	char thp_enabled[32];
	struct hugetlb_pool pool;
	uint64_t huge;
	bool thp;
};

static void save(struct saved *saved)
{
	saved->huge = huge;
	saved->thp = thp;
	if (!thp) {
		hugetlb_pool_read(huge, &saved->pool);
		return;
	}
	TEST_ASSERT(!__thp_enabled_get(saved->thp_enabled, sizeof(saved->thp_enabled)),
		    "reading the THP setting");
	/* THP "madvise" or "always" lets guest_memfd take 2M pages; not "never". */
	if (!strcmp(saved->thp_enabled, "never"))
		thp_enabled_set("madvise");
}

/* In the harness's parent, however the scenario ended: asserts nothing. */
static int restore(const struct saved *saved)
{
	int bad = saved->thp ? __thp_enabled_set(saved->thp_enabled) : 0;

	bad |= __cgroup_remove(CGROUP_CHILD);
	bad |= __cgroup_remove(CGROUP_CREATOR);
	bad |= __cgroup_remove(CGROUP);
	if (!saved->thp)
		bad |= __hugetlb_pool_resize(saved->huge, saved->pool.total);
	return bad;
}

/* The scenarios of every backing. */
FIXTURE(conversion) {
	struct saved saved;
	struct gmem_huge_stats before;
};

FIXTURE_VARIANT(conversion) {
	enum vm_mem_backing_src_type backing;
};

FIXTURE_VARIANT_ADD(conversion, guest_memfd_hugetlb_2mb) {
	.backing = VM_MEM_SRC_GUEST_MEMFD_HUGETLB_2MB,
};

FIXTURE_VARIANT_ADD(conversion, guest_memfd_hugetlb_1gb) {
	.backing = VM_MEM_SRC_GUEST_MEMFD_HUGETLB_1GB,
};

FIXTURE_VARIANT_ADD(conversion, guest_memfd_thp) {
	.backing = VM_MEM_SRC_GUEST_MEMFD_THP,
};

FIXTURE_SETUP(conversion)
{
	setup(variant->backing);
	/* What can fail first: the parent restores only after a whole setup. */
	read_stats(&self->before);
	save(&self->saved);
}

FIXTURE_TEARDOWN_PARENT(conversion)
{
	TEST_ASSERT(!restore(&self->saved), "putting settings back");
}

TEST_F_TIMEOUT(conversion, matrix, 900)
{
	test_matrix();
	assert_dissolves(&self->before, 0);
}

TEST_F_TIMEOUT(conversion, rcu_waits, 900)
{
	test_rcu_waits();
	assert_dissolves(&self->before, 0);
}

TEST_F_TIMEOUT(conversion, init_shared, 900)
{
	test_init_shared();
	assert_dissolves(&self->before, 0);
}

TEST_F_TIMEOUT(conversion, held_page, 900)
{
	test_held_page();
	assert_dissolves(&self->before, 0);
}

TEST_F_TIMEOUT(conversion, direct_io, 900)
{
	test_direct_io();
	assert_dissolves(&self->before, 0);
}

TEST_F_TIMEOUT(conversion, punch, 900)
{
	test_punch();
	assert_dissolves(&self->before, 0);
}

TEST_F_TIMEOUT(conversion, punch_close_race, 900)
{
	test_punch_close_race();
	assert_dissolves(&self->before, 0);
}

TEST_F_TIMEOUT(conversion, first_fault_race, 900)
{
	test_first_fault_race();
	assert_dissolves(&self->before, 0);
}

/* HugeTLB only: THPs are neither pool memory nor charged to hugetlb cgroups. */
FIXTURE(hugetlb) {
	struct saved saved;
	struct gmem_huge_stats before;
};

FIXTURE_VARIANT(hugetlb) {
	enum vm_mem_backing_src_type backing;
};

FIXTURE_VARIANT_ADD(hugetlb, guest_memfd_hugetlb_2mb) {
	.backing = VM_MEM_SRC_GUEST_MEMFD_HUGETLB_2MB,
};

FIXTURE_VARIANT_ADD(hugetlb, guest_memfd_hugetlb_1gb) {
	.backing = VM_MEM_SRC_GUEST_MEMFD_HUGETLB_1GB,
};

FIXTURE_SETUP(hugetlb)
{
	setup(variant->backing);
	/* What can fail first: the parent restores only after a whole setup. */
	read_stats(&self->before);
	save(&self->saved);
}

FIXTURE_TEARDOWN_PARENT(hugetlb)
{
	TEST_ASSERT(!restore(&self->saved), "putting settings back");
}

TEST_F_TIMEOUT(hugetlb, cached, 900)
{
	test_cached();
	assert_dissolves(&self->before, 0);
}

TEST_F_TIMEOUT(hugetlb, cgroup, 900)
{
	test_cgroup();
	assert_dissolves(&self->before, 0);
}

/*
 * 2M HugeTLB only: these take a page out of the pool and grow it back,
 * which 1G pages cannot be counted on for.
 */
FIXTURE(hugetlb_2mb) {
	struct saved saved;
	struct gmem_huge_stats before;
};

FIXTURE_VARIANT(hugetlb_2mb) {
	enum vm_mem_backing_src_type backing;
};

FIXTURE_VARIANT_ADD(hugetlb_2mb, guest_memfd_hugetlb_2mb) {
	.backing = VM_MEM_SRC_GUEST_MEMFD_HUGETLB_2MB,
};

FIXTURE_SETUP(hugetlb_2mb)
{
	setup(variant->backing);
	/* What can fail first: the parent restores only after a whole setup. */
	read_stats(&self->before);
	save(&self->saved);
}

FIXTURE_TEARDOWN_PARENT(hugetlb_2mb)
{
	TEST_ASSERT(!restore(&self->saved), "putting settings back");
}

TEST_F_TIMEOUT(hugetlb_2mb, close_held, 900)
{
	test_close_held();
	assert_dissolves(&self->before, 1);
}

TEST_F_TIMEOUT(hugetlb_2mb, poison, 900)
{
	test_poison();
}

TEST_F_TIMEOUT(hugetlb_2mb, poison_piece, 900)
{
	test_poison_piece();
}

TEST_F_TIMEOUT(hugetlb_2mb, poison_punch, 900)
{
	test_poison_punch();
}

TEST_F_TIMEOUT(hugetlb_2mb, poison_race, 900)
{
	test_poison_race();
}

/* 1G HugeTLB only: its two levels of split. */
FIXTURE(hugetlb_1gb) {
	struct saved saved;
	struct gmem_huge_stats before;
};

FIXTURE_VARIANT(hugetlb_1gb) {
	enum vm_mem_backing_src_type backing;
};

FIXTURE_VARIANT_ADD(hugetlb_1gb, guest_memfd_hugetlb_1gb) {
	.backing = VM_MEM_SRC_GUEST_MEMFD_HUGETLB_1GB,
};

FIXTURE_SETUP(hugetlb_1gb)
{
	setup(variant->backing);
	/* What can fail first: the parent restores only after a whole setup. */
	read_stats(&self->before);
	save(&self->saved);
}

FIXTURE_TEARDOWN_PARENT(hugetlb_1gb)
{
	TEST_ASSERT(!restore(&self->saved), "putting settings back");
}

TEST_F_TIMEOUT(hugetlb_1gb, pieces, 900)
{
	test_pieces();
	assert_dissolves(&self->before, 0);
}

TEST_F_TIMEOUT(hugetlb_1gb, host_pieces, 900)
{
	test_host_pieces();
	assert_dissolves(&self->before, 0);
}

/* THP only: HugeTLB's shared pages are 4K. */
FIXTURE(thp) {
	struct saved saved;
	struct gmem_huge_stats before;
};

FIXTURE_VARIANT(thp) {
	enum vm_mem_backing_src_type backing;
};

FIXTURE_VARIANT_ADD(thp, guest_memfd_thp) {
	.backing = VM_MEM_SRC_GUEST_MEMFD_THP,
};

FIXTURE_SETUP(thp)
{
	setup(variant->backing);
	read_stats(&self->before);
	save(&self->saved);
}

FIXTURE_TEARDOWN_PARENT(thp)
{
	TEST_ASSERT(!restore(&self->saved), "putting settings back");
}

TEST_F_TIMEOUT(thp, shared_huge, 900)
{
	test_shared_huge();
	assert_dissolves(&self->before, 0);
}

KVM_BACKING_HARNESS_MAIN
