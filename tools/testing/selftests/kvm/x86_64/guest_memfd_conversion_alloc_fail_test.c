// SPDX-License-Identifier: GPL-2.0
/*
 * Allocation failures in guest_memfd conversions, with the kernel's fault
 * injection (failslab, fail_page_alloc; the test sets them up and puts them
 * back):
 *
 * - Before the point of no return, failing each allocation of a conversion
 *   in turn (/proc/thread-self/fail-nth) gives ENOMEM, and the state and the
 *   bytes of every page are as before.
 *
 * - After it, CONFIG_KVM_GMEM_FAIL_AFTER_PONR marks the converting task for
 *   fault injection: every allocation it tried there would fail.  Conversions
 *   of every kind succeed anyway, and the injection counters show that no
 *   slab or page allocation was even tried.
 *
 * Each runs on every guest_memfd backing ("-s NAME" picks one): on
 * guest_memfd, a file of 16 4K pages.  On guest_memfd_hugetlb_2mb the file
 * is one 2M HugeTLB page, so the conversions also split it (xarray nodes,
 * vmemmap pages) and merge it back.  On guest_memfd_hugetlb_1gb it is one
 * 1G page, of which the test uses the first 1024 4K pages, two 2M pieces
 * (what it calls the whole file); the rest is made private once, at the
 * start.  The page splits into 2M pieces at its first conversion, and
 * stays so: a piece merges when its 512 pages are all private.  A page
 * of the second piece to shared and back, while the first holds shared
 * pages, splits and merges that piece only.  A 1G split takes about 590
 * allocations, each failed in turn: the first vmemmap page of each 2M
 * piece that keeps HVO (511), those of the piece that goes on into 4K
 * pages (8), the xarray nodes (65 for the 2M pieces, 8 for the 4K ones).
 * On
 * guest_memfd_thp it is one 2M transparent huge page (the system's THP
 * setting must not be "never").  Last, a punch of the whole file, which
 * zaps in the same window (and on huge backings merges a split page after
 * it).  On the huge backings, also a file of two
 * huge pages: the merge of the first after the second was punched whole,
 * which must allocate nothing after the point of no return either.
 *
 * Fault injection is saved and armed before each scenario and put back by
 * the harness's parent, whatever becomes of the scenario.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "fault_inject.h"
#include "guest_memfd.h"
#include "hugepage_util.h"
#include "kvm_test_harness.h"
#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "ucall_common.h"

/* 4K pages the test uses: 16, 512 on 2M pages, 1024 on 1G pages. */
#define MAX_PAGES	1024
#define GMEM_GPA	BIT_ULL(32)
#define GMEM_SLOT	10

static size_t page_size;
static uint64_t nr_pages = 16;
/* 4K pages of the file; log2 of its huge page size, or 0. */
static uint64_t file_pages = 16;
static unsigned int huge_shift;
static enum vm_mem_backing_src_type backing;
static char *mem;
static int gmem_fd;
/*
 * What each page should be, and hold: zeroes, or bytes derived from its
 * seed.  The guest gets a copy before each run, to check private pages.
 */
struct page_state {
	bool private;
	bool zeroed;
	uint8_t seed;
};

static struct page_state state[MAX_PAGES];

static long times_left(const char *attr)
{
	return fault_inject_read(attr, "times");
}

static uint8_t expected_byte(uint64_t page, uint64_t i)
{
	return state[page].zeroed ? 0 : (uint8_t)(state[page].seed + page * 7 + i);
}

static bool host_can_fault(uint64_t page)
{
	return gmem_host_can_fault(mem + page * page_size, page_size, MADV_POPULATE_READ);
}

/* Every page is private or shared as expected, and shared ones hold their bytes. */
static void check_host_view(const char *what)
{
	uint64_t page, i;

	for (page = 0; page < nr_pages; page++) {
		TEST_ASSERT(host_can_fault(page) == !state[page].private,
			    "%s: page %lu should be %s", what, page,
			    state[page].private ? "private" : "shared");
		if (state[page].private)
			continue;
		for (i = 0; i < page_size; i++)
			TEST_ASSERT(mem[page * page_size + i] == (char)expected_byte(page, i),
				    "%s: page %lu byte %lu is 0x%x", what, page, i,
				    (uint8_t)mem[page * page_size + i]);
	}
}

/*
 * The guest reads every page, private and shared, so that KVM maps them,
 * and checks its bytes.
 */
static void guest_code(void)
{
	uint64_t page, i;
	uint8_t *p;

	for (;;) {
		for (page = 0; page < nr_pages; page++) {
			p = (uint8_t *)(GMEM_GPA + page * PAGE_SIZE);
			for (i = 0; i < PAGE_SIZE; i++)
				GUEST_ASSERT_EQ(p[i], expected_byte(page, i));
		}
		GUEST_SYNC(0);
	}
}

static void check_guest_view(struct kvm_vcpu *vcpu)
{
	struct ucall uc;

	sync_global_to_guest(vcpu->vm, state);

	vcpu_run(vcpu);
	TEST_ASSERT_KVM_EXIT_REASON(vcpu, KVM_EXIT_IO);
	switch (get_ucall(vcpu, &uc)) {
	case UCALL_SYNC:
		break;
	case UCALL_ABORT:
		REPORT_GUEST_ASSERT(uc);
		break;
	default:
		TEST_FAIL("unexpected ucall %lu", uc.cmd);
	}
}

static void fill_shared(void)
{
	uint64_t page, i;

	for (page = 0; page < nr_pages; page++) {
		if (state[page].private)
			continue;
		state[page].seed++;
		state[page].zeroed = false;
		for (i = 0; i < page_size; i++)
			mem[page * page_size + i] = expected_byte(page, i);
	}
}

/* Make every page private or shared, with its bytes, as @saved says. */
static void restore(const struct page_state *saved)
{
	uint64_t page, i;

	gmem_set_memory_attributes2(gmem_fd, 0, nr_pages * page_size, 0,
				    KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE);
	memcpy(state, saved, sizeof(state));
	for (page = 0; page < nr_pages; page++) {
		for (i = 0; i < page_size; i++)
			mem[page * page_size + i] = expected_byte(page, i);
	}
	for (page = 0; page < nr_pages; page++) {
		if (state[page].private)
			gmem_set_memory_attributes2(gmem_fd, page * page_size, page_size,
						    KVM_MEMORY_ATTRIBUTE_PRIVATE,
						    KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE);
	}
}

/* A conversion, and what the host expects of each page once it is done. */
struct conversion {
	const char *what;
	uint64_t first, nr;
	bool to_private;
	uint64_t flags;
};

static int __do_convert(const struct conversion *c)
{
	return __gmem_set_memory_attributes2(gmem_fd, c->first * page_size,
					     c->nr * page_size,
					     c->to_private ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0,
					     c->flags, NULL);
}

/*
 * Convert, with the @nth allocation failing if @nth_fd is /proc's fail-nth
 * (*@left is then what it had left: 0 when the nth was failed).  EAGAIN,
 * with nothing changed, is retried for 50 ms as a VMM would: something may
 * hold a page for a moment (compaction on another CPU; api.rst).
 */
static int do_convert(const struct conversion *c, int nth_fd, int nth, int *left)
{
	char buf[32];
	int r, tries;

	for (tries = 0; ; tries++) {
		if (nth_fd >= 0) {
			snprintf(buf, sizeof(buf), "%d", nth);
			TEST_ASSERT_EQ(pwrite(nth_fd, buf, strlen(buf), 0), strlen(buf));
		}
		r = __do_convert(c);
		if (nth_fd >= 0) {
			memset(buf, 0, sizeof(buf));
			TEST_ASSERT(pread(nth_fd, buf, sizeof(buf) - 1, 0) > 0, "read fail-nth");
			*left = atoi(buf);
			TEST_ASSERT_EQ(pwrite(nth_fd, "0", 1, 0), 1);
		}
		if (!r || errno != EAGAIN || tries == 50)
			return r;
		pr_info("%s: EAGAIN, retry %d\n", c->what, tries + 1);
		check_host_view(c->what);
		usleep(1000);
	}
}

static void converted(const struct conversion *c)
{
	uint64_t page;

	for (page = c->first; page < c->first + c->nr; page++) {
		state[page].private = c->to_private;
		if (c->flags & KVM_SET_MEMORY_ATTRIBUTES2_ZERO)
			state[page].zeroed = true;
	}
}

/*
 * On huge pages, "the whole file to private" merges, "page 1 to shared"
 * splits; on THP, which stay whole while all shared, "one shared page to
 * private" splits the file's THP too.
 */
static struct conversion conversions[12];

static void set_conversions(void)
{
	const struct conversion c[] = {
		{ "one shared page to private", 5, 1, true, KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE },
		{ "pages around it to private", 3, 5, true, 0 },
		{ "one private page to shared", 4, 1, false, KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE },
		{ "a page of the last 2M to shared", nr_pages - 5, 1, false,
		  KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE },
		{ "that page to private again", nr_pages - 5, 1, true,
		  KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE },
		{ "a mixed range to private, zeroed", 2, 8, true, KVM_SET_MEMORY_ATTRIBUTES2_ZERO },
		{ "the last page to private", nr_pages - 1, 1, true,
		  KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE },
		{ "the whole file to shared", 0, nr_pages, false,
		  KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE },
		{ "the whole file to private, zeroed", 0, nr_pages, true,
		  KVM_SET_MEMORY_ATTRIBUTES2_ZERO },
		{ "page 1 to shared", 1, 1, false, 0 },
		{ "the first half to shared, zeroed", 0, nr_pages / 2, false,
		  KVM_SET_MEMORY_ATTRIBUTES2_ZERO },
		{ "the whole file to shared", 0, nr_pages, false, 0 },
	};

	TEST_ASSERT_EQ(ARRAY_SIZE(c), ARRAY_SIZE(conversions));
	memcpy(conversions, c, sizeof(c));
}

/*
 * Fail the 1st, 2nd, ... allocation of each conversion until it needs no
 * more.  A conversion may do without an allocation that is only an
 * optimisation (unmapping batches TLB flushes in pages it allocates), and
 * then it must succeed as if nothing failed; otherwise it must fail with
 * ENOMEM and leave everything as it was.
 */
static void test_fail_each_allocation(struct kvm_vcpu *vcpu)
{
	int nth_fd = open("/proc/thread-self/fail-nth", O_RDWR);
	/* With user-copy injection, fail-nth can fail reading the argument. */
	bool usercopy = !access(FAULT_INJECT_DIR "/fail_usercopy", F_OK);
	int c, n, r, left, failed = 0, optional;
	struct page_state saved[MAX_PAGES];

	TEST_REQUIRE(nth_fd >= 0);

	for (c = 0; c < ARRAY_SIZE(conversions); c++) {
		fill_shared();
		check_guest_view(vcpu);
		memcpy(saved, state, sizeof(state));
		optional = 0;

		for (n = 1; ; n++) {
			r = do_convert(&conversions[c], nth_fd, n, &left);

			if (r) {
				TEST_ASSERT(errno == ENOMEM || (usercopy && errno == EFAULT),
					    "%s, allocation %d failed: want ENOMEM, got %s",
					    conversions[c].what, n, strerror(errno));
				check_host_view(conversions[c].what);
				check_guest_view(vcpu);
				failed++;
				continue;
			}

			converted(&conversions[c]);
			check_host_view(conversions[c].what);
			check_guest_view(vcpu);
			/* Not reached: the conversion tried fewer than n allocations. */
			if (left > 0)
				break;
			/*
			 * Failed, and done without.  That would pass after the
			 * point of no return too: the next test catches those.
			 */
			optional++;
			restore(saved);
		}
		pr_info("%s: %d allocation(s) before the point of no return, %d of them optional\n",
			conversions[c].what, n - left, optional);
	}
	/* The maple tree needs nodes to split a range: some must have failed. */
	TEST_ASSERT(failed > 0, "no conversion allocated anything");
	close(nth_fd);
}

/*
 * The same conversions with fault injection armed for the converting task
 * after the point of no return.
 */
static void test_nothing_allocated_after_ponr(struct kvm_vcpu *vcpu)
{
	const struct conversion split = {
		"one shared page to private", 5, 1, true, KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE
	};
	long slab, page;
	int c, r;

	/*
	 * First show that the injection reaches this task: marked as a whole,
	 * the conversion fails in its preallocation, and the failure is counted.
	 */
	slab = times_left("failslab");
	fault_inject_mark_task(true);
	r = __do_convert(&split);
	fault_inject_mark_task(false);
	TEST_ASSERT(r == -1 && errno == ENOMEM,
		    "conversion with every allocation failing: want ENOMEM");
	TEST_ASSERT(times_left("failslab") < slab, "failslab did not count the failure");
	check_host_view("marked task");

	/*
	 * And page allocations: a hole refilled by a marked host fault.  A
	 * huge page is freed by a punch of all of it only, and comes back
	 * from the pool: what fails is the page cache's node, or the split.
	 */
	page = times_left("fail_page_alloc");
	slab = times_left("failslab");
	if (huge_shift) {
		TEST_ASSERT(!fallocate(gmem_fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE,
				       0, file_pages * page_size), "punch hole");
		for (c = 0; c < nr_pages; c++)
			state[c].zeroed = true;
	} else {
		TEST_ASSERT(!fallocate(gmem_fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE,
				       split.first * page_size, page_size), "punch hole");
		state[split.first].zeroed = true;
	}
	fault_inject_mark_task(true);
	r = gmem_host_fault(mem + split.first * page_size, page_size, MADV_POPULATE_WRITE);
	fault_inject_mark_task(false);
	TEST_ASSERT(r == ENOMEM, "fault with every allocation failing: want ENOMEM, got %s",
		    strerror(r));
	if (huge_shift)
		TEST_ASSERT(times_left("fail_page_alloc") < page || times_left("failslab") < slab,
			    "fault injection did not count the failure");
	else
		TEST_ASSERT(times_left("fail_page_alloc") < page,
			    "fail_page_alloc did not count the failure");
	check_host_view("hole");

	/*
	 * Should anything be tried after the point of no return, the kernel
	 * logs its stack (a splat that fails the run on its own too).
	 */
	fault_inject_set("verbose", "2");
	slab = times_left("failslab");
	page = times_left("fail_page_alloc");
	for (c = 0; c < ARRAY_SIZE(conversions); c++) {
		fill_shared();
		check_guest_view(vcpu);
		TEST_ASSERT(!do_convert(&conversions[c], -1, 0, NULL), "%s: %s",
			    conversions[c].what, strerror(errno));
		converted(&conversions[c]);
		check_host_view(conversions[c].what);
		check_guest_view(vcpu);
		TEST_ASSERT(times_left("failslab") == slab && times_left("fail_page_alloc") == page,
			    "%s: %ld slab and %ld page allocation(s) after the point of no return (their stacks are in the kernel log)",
			    conversions[c].what, slab - times_left("failslab"),
			    page - times_left("fail_page_alloc"));
	}

	/*
	 * A punch zaps in the same window.  Of a huge page split by one
	 * private page among shared ones, it merges the pieces and redoes
	 * HVO, which allocate: after the window.
	 */
	gmem_set_memory_attributes2(gmem_fd, page_size, page_size,
				    KVM_MEMORY_ATTRIBUTE_PRIVATE, 0);
	state[1].private = true;
	TEST_ASSERT(!fallocate(gmem_fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE, 0,
			       file_pages * page_size), "punch hole: %s", strerror(errno));
	for (c = 0; c < nr_pages; c++)
		state[c].zeroed = true;
	check_host_view("punched");
	check_guest_view(vcpu);
	TEST_ASSERT(times_left("failslab") == slab && times_left("fail_page_alloc") == page,
		    "punch: %ld slab and %ld page allocation(s) after the point of no return (their stacks are in the kernel log)",
		    slab - times_left("failslab"), page - times_left("fail_page_alloc"));
	fault_inject_set("verbose", "0");
}

/*
 * A merge after the file's other huge page was punched whole: the page
 * cache's tree shrinks to the split page's own subtree, so storing the
 * huge entry again must add a level above it.  The node for it must come
 * from before the point of no return like the rest (a review found that
 * the 1G merge allocated it after, with GFP_NOWAIT, and spun forever in
 * lookups when that failed).  Counted with a "space" budget, in a VM of
 * its own: on 1G pages the file takes two pages, the whole test pool.  Only
 * a 1G entry can need the node; on 2M pages (HugeTLB or THP) the split
 * page's node at that level stays, and the same merge must need nothing.
 * A conversion no longer merges a 1G page (its 2M pieces stay: a punch or
 * close merges them), only the 4K pages of a piece, whose entry takes the
 * slots of a node the split left: that must need nothing either.
 */
static void test_merge_after_tree_shrank(struct vm_shape shape)
{
	const char *merge = backing_src_is_guest_memfd_hugetlb(backing) && huge_shift == 30 ?
			    "merge_piece" : "merge";
	uint64_t huge = 1ULL << huge_shift, merges;
	long slab, page, slab_used, page_used;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	void *m;
	int fd;

	vm = vm_create_shape_with_one_vcpu(shape, &vcpu, guest_code);
	fd = vm_create_guest_memfd_backing_in_place(vm, backing, GMEM_SLOT, GMEM_GPA, 2 * huge,
						    0, &m);
	/* All private: both huge pages allocated whole. */
	TEST_ASSERT(!fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 2 * huge), "fallocate: %s",
		    strerror(errno));
	/* Split the first, punch the second whole. */
	gmem_set_memory_attributes2(fd, 0, page_size, 0, 0);
	TEST_ASSERT(!fallocate(fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE, huge, huge),
		    "punch hole: %s", strerror(errno));

	merges = gmem_huge_stat(backing, merge);
	fault_inject_set_space(FAULT_INJECT_SPACE);
	slab = fault_inject_read("failslab", "space");
	page = fault_inject_read("fail_page_alloc", "space");
	gmem_set_memory_attributes2(fd, 0, page_size, KVM_MEMORY_ATTRIBUTE_PRIVATE, 0);
	slab_used = slab - fault_inject_read("failslab", "space");
	page_used = page - fault_inject_read("fail_page_alloc", "space");
	fault_inject_set_space("0");
	TEST_ASSERT_EQ(gmem_huge_stat(backing, merge), merges + 1);
	TEST_ASSERT(!slab_used && !page_used,
		    "merge after a punch, past the point of no return: %ld slab bytes, %ld pages",
		    slab_used, page_used);
	pr_info("merge after the tree shrank: nothing allocated after the point of no return\n");

	kvm_vm_free(vm);
	munmap(m, 2 * huge);
	close(fd);
}

/*
 * The host's read of @addr with the 1st, 2nd, ... allocation failing, until
 * one is left over: how many reads failed.
 */
static int host_read_failures(int nth_fd, char *addr)
{
	char buf[32];
	int n, r, left, failed = 0;

	for (n = 1; ; n++) {
		snprintf(buf, sizeof(buf), "%d", n);
		TEST_ASSERT_EQ(pwrite(nth_fd, buf, strlen(buf), 0), strlen(buf));
		r = madvise(addr, page_size, MADV_POPULATE_READ);
		memset(buf, 0, sizeof(buf));
		TEST_ASSERT(pread(nth_fd, buf, sizeof(buf) - 1, 0) > 0, "read fail-nth");
		left = atoi(buf);
		TEST_ASSERT_EQ(pwrite(nth_fd, "0", 1, 0), 1);
		failed += !!r;
		if (!r && left > 0)
			return failed;
	}
}

/*
 * The host's first access to a huge page shared whole, the 1st, 2nd, ...
 * allocation of it failing: on HugeTLB that access splits the page into 2M
 * pieces (the host maps those only), outside any conversion.  An access
 * that fails gets ENOMEM (MADV_POPULATE_READ, as get_user_pages()); the
 * split either did not happen or is whole, and nothing leaks (the pool's
 * counters, kmemleak at the end of the run).  More accesses fail, leaving
 * the page whole, than in a new mapping of the split page, which only
 * takes page tables.  A THP is mapped as it is: no split.
 */
static void test_host_split_fails(struct vm_shape shape)
{
	int nth_fd = open("/proc/thread-self/fail-nth", O_RDWR);
	bool hugetlb = backing_src_is_guest_memfd_hugetlb(backing);
	uint64_t huge = 1ULL << huge_shift, splits;
	int n, r, left, failed_whole = 0, optional = 0;
	struct hugetlb_pool pool;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	char buf[32];
	char *m;
	int fd;

	TEST_REQUIRE(nth_fd >= 0);
	vm = vm_create_shape_with_one_vcpu(shape, &vcpu, guest_code);
	fd = vm_create_guest_memfd_backing_in_place(vm, backing, GMEM_SLOT, GMEM_GPA, huge,
						    GUEST_MEMFD_FLAG_INIT_SHARED, (void **)&m);
	TEST_ASSERT(!fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, huge), "fallocate: %s",
		    strerror(errno));
	if (hugetlb)
		hugetlb_pool_read(huge, &pool);

	for (n = 1; ; n++) {
		splits = gmem_huge_stat(backing, "split");
		snprintf(buf, sizeof(buf), "%d", n);
		TEST_ASSERT_EQ(pwrite(nth_fd, buf, strlen(buf), 0), strlen(buf));
		r = madvise(m + 5 * page_size, page_size, MADV_POPULATE_READ);
		memset(buf, 0, sizeof(buf));
		TEST_ASSERT(pread(nth_fd, buf, sizeof(buf) - 1, 0) > 0, "read fail-nth");
		left = atoi(buf);
		TEST_ASSERT_EQ(pwrite(nth_fd, "0", 1, 0), 1);

		TEST_ASSERT(!r || errno == ENOMEM,
			    "host access, allocation %d failed: want ENOMEM, got %s", n,
			    strerror(errno));
		TEST_ASSERT(gmem_huge_stat(backing, "split") - splits <= hugetlb,
			    "host access, allocation %d failed: %lu splits", n,
			    gmem_huge_stat(backing, "split") - splits);
		if (r && gmem_huge_stat(backing, "split") == splits)
			failed_whole++;
		if (!r && left > 0)
			break;
		/* Split (done without the allocation, or failed after it): again. */
		if (gmem_huge_stat(backing, "split") != splits || !r) {
			optional += !r;
			TEST_ASSERT(!fallocate(fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE,
					       0, huge), "punch: %s", strerror(errno));
			TEST_ASSERT(!fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, huge),
				    "fallocate: %s", strerror(errno));
		}
	}
	TEST_ASSERT_EQ(gmem_huge_stat(backing, "split") - splits, hugetlb);
	TEST_ASSERT_EQ(m[5 * page_size], 0);
	if (hugetlb) {
		void *reserved;
		char *m2 = gmem_mmap_aligned(fd, huge, huge, &reserved);
		int tables = host_read_failures(nth_fd, m2 + 5 * page_size);

		/* More than the page tables the fault takes before the split. */
		TEST_ASSERT(failed_whole > tables,
			    "only %d failed allocations left the page whole, %d without a split",
			    failed_whole, tables);
		gmem_munmap_aligned(reserved, huge, huge);
		hugetlb_pool_assert(huge, &pool, "after the host split");
	}
	pr_info("host split: %d allocation(s), %d of them optional, %d failures left it whole\n",
		n - left, optional, failed_whole);

	kvm_vm_free(vm);
	munmap(m, huge);
	close(fd);
	close(nth_fd);
}

static const struct vm_shape shape = {
	.mode = VM_MODE_DEFAULT,
	.type = KVM_X86_SW_PROTECTED_VM,
};

/* Huge pages of the backing each scenario needs from its pool. */
static void setup(enum vm_mem_backing_src_type t, uint64_t nr_huge, struct fault_inject *fi)
{
	uint64_t size;

	TEST_REQUIRE(kvm_check_cap(KVM_CAP_VM_TYPES) & BIT(KVM_X86_SW_PROTECTED_VM));
	TEST_REQUIRE(kvm_check_cap(KVM_CAP_MEMORY_ATTRIBUTES2) & KVM_MEMORY_ATTRIBUTE_PRIVATE);
	TEST_REQUIRE(get_kvm_param_bool("gmem_fail_after_ponr"));
	TEST_REQUIRE(backing_src_guest_memfd_offered(t));
	size = get_backing_src_pagesz(t);
	if (backing_src_is_guest_memfd_hugetlb(t))
		TEST_REQUIRE(hugetlb_pool_unreserved(size) >= nr_huge);
	page_size = getpagesize();
	TEST_ASSERT_EQ(page_size, PAGE_SIZE);

	backing = t;
	huge_shift = backing_src_guest_memfd_log2(t);
	if (huge_shift) {
		nr_pages = min_t(uint64_t, MAX_PAGES, size / PAGE_SIZE);
		file_pages = size / PAGE_SIZE;
	}
	set_conversions();
	fault_inject_save(fi, fault_inject_marked, ARRAY_SIZE(fault_inject_marked), "0");
}

/*
 * Last in a fixture's setup: the harness puts fault injection back only
 * after a setup that completed.  Armed, it fails marked tasks only.
 */
static void arm(struct fault_inject *fi)
{
	TEST_ASSERT(!fault_inject_arm(fi), "arming fault injection");
}

/* Every scenario, on every backing. */
FIXTURE(alloc_fail) {
	struct fault_inject fi;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
};

FIXTURE_VARIANT(alloc_fail) {
	enum vm_mem_backing_src_type backing;
};

FIXTURE_VARIANT_ADD(alloc_fail, guest_memfd) {
	.backing = VM_MEM_SRC_GUEST_MEMFD,
};

FIXTURE_VARIANT_ADD(alloc_fail, guest_memfd_hugetlb_2mb) {
	.backing = VM_MEM_SRC_GUEST_MEMFD_HUGETLB_2MB,
};

FIXTURE_VARIANT_ADD(alloc_fail, guest_memfd_hugetlb_1gb) {
	.backing = VM_MEM_SRC_GUEST_MEMFD_HUGETLB_1GB,
};

FIXTURE_VARIANT_ADD(alloc_fail, guest_memfd_thp) {
	.backing = VM_MEM_SRC_GUEST_MEMFD_THP,
};

FIXTURE_SETUP(alloc_fail)
{
	setup(variant->backing, 1, &self->fi);

	self->vm = vm_create_shape_with_one_vcpu(shape, &self->vcpu, guest_code);
	/* Pages past those used stay private: see the top. */
	gmem_fd = vm_map_guest_memfd_backing(self->vm, backing, GMEM_SLOT, GMEM_GPA, nr_pages,
					     file_pages, (void **)&mem);
	sync_global_to_guest(self->vm, nr_pages);
	/* Every page shared, with bytes of its own. */
	fill_shared();
	arm(&self->fi);
}

/* In the harness's parent: puts fault injection back however the test ended. */
FIXTURE_TEARDOWN_PARENT(alloc_fail)
{
	TEST_ASSERT(!fault_inject_restore(&self->fi), "putting fault injection back");
}

TEST_F_TIMEOUT(alloc_fail, fail_each_allocation, 900)
{
	test_fail_each_allocation(self->vcpu);
}

TEST_F_TIMEOUT(alloc_fail, nothing_allocated_after_ponr, 900)
{
	test_nothing_allocated_after_ponr(self->vcpu);
}

/* The scenarios of huge pages only. */
FIXTURE(alloc_fail_huge) {
	struct fault_inject fi;
};

FIXTURE_VARIANT(alloc_fail_huge) {
	enum vm_mem_backing_src_type backing;
};

FIXTURE_VARIANT_ADD(alloc_fail_huge, guest_memfd_hugetlb_2mb) {
	.backing = VM_MEM_SRC_GUEST_MEMFD_HUGETLB_2MB,
};

FIXTURE_VARIANT_ADD(alloc_fail_huge, guest_memfd_hugetlb_1gb) {
	.backing = VM_MEM_SRC_GUEST_MEMFD_HUGETLB_1GB,
};

FIXTURE_VARIANT_ADD(alloc_fail_huge, guest_memfd_thp) {
	.backing = VM_MEM_SRC_GUEST_MEMFD_THP,
};

FIXTURE_SETUP(alloc_fail_huge)
{
	setup(variant->backing, 2, &self->fi);
	arm(&self->fi);
}

FIXTURE_TEARDOWN_PARENT(alloc_fail_huge)
{
	TEST_ASSERT(!fault_inject_restore(&self->fi), "putting fault injection back");
}

TEST_F_TIMEOUT(alloc_fail_huge, merge_after_tree_shrank, 900)
{
	test_merge_after_tree_shrank(shape);
}

TEST_F_TIMEOUT(alloc_fail_huge, host_split_fails, 900)
{
	test_host_split_fails(shape);
}

KVM_BACKING_HARNESS_MAIN
