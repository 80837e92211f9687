// SPDX-License-Identifier: GPL-2.0
/*
 * A seeded, model-based random stress test of guest_memfd in-place
 * conversion, on four files at once, all created shared and mmap()ed:
 * 4K pages (8M), two 2M HugeTLB pages, one 1G HugeTLB page, and two 2M
 * transparent huge pages (left out, with a note, when KVM does not offer
 * them).  Each is a memslot of one KVM_X86_SW_PROTECTED_VM whose vCPU
 * reaches every page at GVA == GPA.
 *
 * The test models every page it uses: private or shared, and its
 * contents, zeroes or a 64-bit tag in its first and last 8 bytes.  Each
 * operation picks a file and a range, biased towards huge page edges (a
 * boundary, +-1 page), single 4K pages inside huge pages, whole huge
 * pages and whole files, and:
 *  - converts it to private or shared, with PRESERVE, ZERO or neither;
 *  - tries an invalid conversion: EINVAL, and nothing changed;
 *  - punches a hole (zeroes, state kept) or fallocate()s (nothing changed);
 *  - writes or reads shared pages from the host, and tries private ones:
 *    EFAULT from MADV_POPULATE_READ/WRITE, SIGBUS from a read;
 *  - pins a shared page with vmsplice() and converts a range holding it to
 *    private: EAGAIN with the page's offset (in a THP shared whole, that
 *    of its first page in the range), nothing changed; once the pipe
 *    lets go of it, the conversion succeeds;
 *  - has the guest write or check pages, private and shared alike.
 * Then it checks the pages the operation touched against the model (shared
 * ones through the host mapping, private ones by the guest), and every 200
 * operations all of them.
 *
 * Of the 1G page only a sample of 4K pages is used: the first 256, 64
 * around the middle and the last 64.  A range covering all of it, which
 * splits or merges the huge page (about 0.1s under emulation), comes in 1
 * of 50 picks on that file.
 *
 * Fault injection is set up (failslab, fail_page_alloc) for the tasks
 * that kvm.gmem_fail_after_ponr marks, conversions past their point of no
 * return, with a large "space" budget: each allocation tried there would
 * eat into it without failing.  It must never move.  A parent process sets
 * fault injection up (and the THP setting, if "never") and puts it back
 * whatever becomes of the test, which runs in its child.
 *
 * The child runs in a hugetlb cgroup of its own.  Once it has exited, with
 * every file gone, the parent checks that the cgroup holds no charge and
 * that /proc/meminfo's HugeTLB and file-THP counters are back where they
 * started.
 *
 * Every run prints its seed.  "-r SEED" replays a run: the same operations
 * as long as the kernel behaves the same; "-n OPS" stops it after
 * operation OPS (with a "-t" long enough to get there).  Two TAP results:
 * the run, and the parent's check that everything was released.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <linux/sizes.h>

#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "ucall_common.h"
#include "fault_inject.h"
#include "guest_memfd.h"
#include "hugepage_util.h"

#define NR_FILES	4
#define FIRST_SLOT	10
#define CHECK_ALL_EVERY	200
#define GUEST_BATCH	256
/* A range covering all of the 1G page: 1 pick in this many on that file. */
#define WHOLE_1G_ODDS	50
#define CGROUP		CGROUP_ROOT "/guest_memfd_stress_test"

struct page_model {
	bool private;
	/* 0: the page reads as zeroes. */
	uint64_t tag;
};

struct gmem_file {
	const char *name;
	/* GUEST_MEMFD_FLAG_HUGETLB, and huge_page_size_log2 (0 for 4K pages). */
	uint64_t flags;
	uint8_t shift;
	uint64_t size;
	/*
	 * The huge page, where ranges are biased to start and end; for the
	 * 4K file, the 2M pages the guest maps it with.
	 */
	uint64_t huge;
	uint64_t gpa;
	/* Only a sample of the pages is used (see the top). */
	bool sampled;

	int fd;
	char *mem;
	void *reserved;
	uint64_t nr_pages, pages_per_huge;
	/* The pages used, in order, and their model. */
	uint64_t nr_used;
	uint64_t *used;
	struct page_model *model;
};

/* The GPAs are aligned to the page sizes, and as low as that allows. */
static struct gmem_file files[NR_FILES] = {
	{ .name = "4K", .size = SZ_8M, .huge = SZ_2M, .gpa = SZ_4G },
	{ .name = "HugeTLB 2M", .flags = GUEST_MEMFD_FLAG_HUGETLB, .shift = 21,
	  .size = 2ull * SZ_2M, .huge = SZ_2M, .gpa = SZ_4G + SZ_1G },
	{ .name = "HugeTLB 1G", .flags = GUEST_MEMFD_FLAG_HUGETLB, .shift = 30,
	  .size = SZ_1G, .huge = SZ_1G, .gpa = 2 * SZ_4G, .sampled = true },
	/* Last: left out when KVM does not offer it. */
	{ .name = "THP 2M", .shift = 21, .size = 2ull * SZ_2M, .huge = SZ_2M,
	  .gpa = SZ_4G + 2ull * SZ_1G },
};

static int nr_files = NR_FILES;

static uint64_t seed, op_nr;
static const char *op_name = "setup";
static struct kvm_vm *vm;
static struct kvm_vcpu *vcpu;

/* Whatever fails names what to replay, and where. */
#define STRESS_ASSERT(cond, fmt, ...)						\
	TEST_ASSERT(cond, "seed %lu, operation %lu (%s): " fmt, seed, op_nr, op_name,	\
		    ##__VA_ARGS__)

#define STRESS_FAIL(fmt, ...)								\
	TEST_FAIL("seed %lu, operation %lu (%s): " fmt, seed, op_nr, op_name, ##__VA_ARGS__)

/* splitmix64: the whole run follows from the seed. */
static uint64_t rng;

static uint64_t rnd64(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t rnd(uint64_t n)
{
	return rnd64() % n;
}

/* Counts for the summary. */
static uint64_t nr_sigbus, nr_eagain, nr_whole_1g, nr_eopnotsupp, nr_full_checks;
static uint64_t nr_transient;

enum { GUEST_CHECK = 1, GUEST_WRITE };

/* What the guest does next: check or write each page (GPA == GVA) with its tag. */
static struct {
	uint64_t op, nr;
	struct {
		uint64_t gpa, tag;
	} pages[GUEST_BATCH];
} cmd;

static void guest_code(void)
{
	for (;;) {
		uint64_t i, bad = -1ull, w0 = 0, w1 = 0;

		for (i = 0; i < cmd.nr; i++) {
			uint64_t *p = (uint64_t *)cmd.pages[i].gpa;
			uint64_t tag = cmd.pages[i].tag;

			if (cmd.op == GUEST_WRITE) {
				WRITE_ONCE(p[0], tag);
				WRITE_ONCE(p[511], tag);
				continue;
			}
			w0 = READ_ONCE(p[0]);
			w1 = READ_ONCE(p[511]);
			if (w0 != tag || w1 != tag) {
				bad = i;
				break;
			}
		}
		/* Not GUEST_ASSERT: the host names the file, page and seed. */
		GUEST_SYNC_ARGS(cmd.op, bad, w0, w1, 0);
	}
}

/* The file and page of each entry of cmd. */
static struct {
	struct gmem_file *f;
	uint64_t page;
} batch[GUEST_BATCH];

static void guest_flush(void)
{
	struct ucall uc;
	uint64_t bad;
	int r;

	if (!cmd.nr)
		return;
	sync_global_to_guest(vm, cmd);
	r = _vcpu_run(vcpu);
	STRESS_ASSERT(!r, "KVM_RUN: %s", strerror(errno));
	STRESS_ASSERT(vcpu->run->exit_reason == KVM_EXIT_IO, "guest exit %s, at file %s page %lu",
		      exit_reason_str(vcpu->run->exit_reason), batch[0].f->name, batch[0].page);
	switch (get_ucall(vcpu, &uc)) {
	case UCALL_SYNC:
		break;
	case UCALL_ABORT:
		REPORT_GUEST_ASSERT(uc);
		break;
	default:
		STRESS_FAIL("unexpected ucall %lu", uc.cmd);
	}
	STRESS_ASSERT(uc.args[1] == cmd.op, "guest did %lu, not %lu", uc.args[1], cmd.op);
	bad = uc.args[2];
	if (bad != -1ull)
		STRESS_FAIL("guest read of file %s page %lu: want 0x%lx, got 0x%lx/0x%lx",
			    batch[bad].f->name, batch[bad].page, cmd.pages[bad].tag,
			    uc.args[3], uc.args[4]);
	cmd.nr = 0;
}

static void guest_add(uint64_t op, struct gmem_file *f, uint64_t page, uint64_t tag)
{
	if (cmd.nr && cmd.op != op)
		guest_flush();
	cmd.op = op;
	cmd.pages[cmd.nr].gpa = f->gpa + page * PAGE_SIZE;
	cmd.pages[cmd.nr].tag = tag;
	batch[cmd.nr].f = f;
	batch[cmd.nr].page = page;
	if (++cmd.nr == GUEST_BATCH)
		guest_flush();
}

/* Unique, and says who wrote it: the operation, the file and the page. */
static uint64_t new_tag(struct gmem_file *f, uint64_t page)
{
	return op_nr << 24 | BIT_ULL(23) | (uint64_t)(f - files) << 20 | page;
}

static uint64_t *page_ptr(struct gmem_file *f, uint64_t page)
{
	return (uint64_t *)(f->mem + page * PAGE_SIZE);
}

/* The index in f->used of the first used page at or after @page. */
static uint64_t first_used(struct gmem_file *f, uint64_t page)
{
	uint64_t lo = 0, hi = f->nr_used, mid;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (f->used[mid] < page)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* A fault on a private page raises SIGBUS, which MADV_POPULATE_* report as EFAULT. */
static bool host_can_fault(struct gmem_file *f, uint64_t page, int advice)
{
	int err = gmem_host_fault(f->mem + page * PAGE_SIZE, PAGE_SIZE, advice);

	STRESS_ASSERT(!err || err == EFAULT, "file %s page %lu: MADV_POPULATE_%s: %s", f->name,
		      page, advice == MADV_POPULATE_READ ? "READ" : "WRITE", strerror(err));
	return !err;
}

static sigjmp_buf sigbus_jmp;
static bool sigbus_expected;

static void sigbus_handler(int sig, siginfo_t *info, void *ctx)
{
	if (READ_ONCE(sigbus_expected))
		siglongjmp(sigbus_jmp, 1);
	/* A page the model has shared: the test checks that first, so a bug. */
	STRESS_FAIL("unexpected SIGBUS at %p", info->si_addr);
}

static bool host_read_sigbus(const uint64_t *p)
{
	if (sigsetjmp(sigbus_jmp, 1)) {
		WRITE_ONCE(sigbus_expected, false);
		return true;
	}
	WRITE_ONCE(sigbus_expected, true);
	(void)READ_ONCE(*p);
	WRITE_ONCE(sigbus_expected, false);
	return false;
}

/* A shared page's tag, as the host reads it through the mapping. */
static void host_check_tag(struct gmem_file *f, uint64_t page, uint64_t tag)
{
	const uint64_t *p = page_ptr(f, page);
	uint64_t w0 = READ_ONCE(p[0]), w1 = READ_ONCE(p[511]);

	STRESS_ASSERT(w0 == tag && w1 == tag,
		      "host read of file %s page %lu: want 0x%lx, got 0x%lx/0x%lx",
		      f->name, page, tag, w0, w1);
}

/* Private pages go to the guest, which checks them at the next guest_flush(). */
static void check_page(struct gmem_file *f, uint64_t i)
{
	const struct page_model *m = &f->model[i];
	uint64_t page = f->used[i];

	STRESS_ASSERT(host_can_fault(f, page, MADV_POPULATE_READ) == !m->private,
		      "file %s page %lu: want %s, got %s", f->name, page,
		      m->private ? "private" : "shared", m->private ? "shared" : "private");
	if (m->private) {
		guest_add(GUEST_CHECK, f, page, m->tag);
		return;
	}
	host_check_tag(f, page, m->tag);
}

static void check_range(struct gmem_file *f, uint64_t first, uint64_t nr)
{
	uint64_t i, end = first_used(f, first + nr);

	for (i = first_used(f, first); i < end; i++)
		check_page(f, i);
	guest_flush();
}

/* For operations that must change nothing: some of the range. */
static void spot_check(struct gmem_file *f, uint64_t first, uint64_t nr)
{
	uint64_t lo = first_used(f, first), hi = first_used(f, first + nr), k;

	if (hi - lo <= 32) {
		check_range(f, first, nr);
		return;
	}
	check_page(f, lo);
	check_page(f, hi - 1);
	for (k = 0; k < 30; k++)
		check_page(f, lo + rnd(hi - lo));
	guest_flush();
}

static void check_all(void)
{
	int i;

	for (i = 0; i < nr_files; i++)
		check_range(&files[i], 0, files[i].nr_pages);
	nr_full_checks++;
}

static long space0[ARRAY_SIZE(fault_inject_attrs)], times0[ARRAY_SIZE(fault_inject_attrs)];

static void read_fault_counts(long *space, long *times)
{
	int a;

	for (a = 0; a < ARRAY_SIZE(fault_inject_attrs); a++) {
		space[a] = fault_inject_read(fault_inject_attrs[a], "space");
		times[a] = fault_inject_read(fault_inject_attrs[a], "times");
	}
}

/* After every conversion, to name the one that allocated. */
static void check_no_alloc_after_ponr(void)
{
	long space[ARRAY_SIZE(fault_inject_attrs)], times[ARRAY_SIZE(fault_inject_attrs)];
	int a, err = errno;

	read_fault_counts(space, times);
	for (a = 0; a < ARRAY_SIZE(fault_inject_attrs); a++)
		STRESS_ASSERT(space[a] == space0[a] && times[a] == times0[a],
			      "%s space %ld times %ld, were %ld %ld: allocation after the point of no return",
			      fault_inject_attrs[a], space[a], times[a], space0[a], times0[a]);
	errno = err;
}

static char thp_saved[32];
static struct fault_inject fault_inject;

static const uint64_t contents[] = {
	KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE, KVM_SET_MEMORY_ATTRIBUTES2_ZERO, 0,
};

/*
 * EAGAIN on a page before @pinned (a byte offset; -1 when nothing is
 * pinned) is a transient reference, as api.rst says (compaction on another
 * CPU may hold a 4K folio for a moment): retried, for 50 ms at most.
 */
static int convert(struct gmem_file *f, uint64_t first, uint64_t nr, bool to_private,
		   uint64_t content, uint64_t *error_offset, uint64_t pinned)
{
	int r, tries = 0;

	for (;;) {
		r = __gmem_set_memory_attributes2(f->fd, first * PAGE_SIZE, nr * PAGE_SIZE,
						  to_private ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0,
						  content, error_offset);
		check_no_alloc_after_ponr();
		if (!r || errno != EAGAIN || !error_offset || *error_offset >= pinned ||
		    ++tries == 50)
			return r;
		nr_transient++;
		usleep(1000);
	}
}

static void converted(struct gmem_file *f, uint64_t first, uint64_t nr, bool to_private,
		      uint64_t content)
{
	uint64_t i, end = first_used(f, first + nr);

	for (i = first_used(f, first); i < end; i++) {
		f->model[i].private = to_private;
		if (content & KVM_SET_MEMORY_ATTRIBUTES2_ZERO)
			f->model[i].tag = 0;
	}
}

/* [start, end) (or [end, start)), made a range of at least a page inside the file. */
static void set_range(struct gmem_file *f, int64_t start, int64_t end, uint64_t *first,
		      uint64_t *nr)
{
	int64_t n = f->nr_pages, t;

	if (start > end) {
		t = start;
		start = end;
		end = t;
	}
	start = max_t(int64_t, 0, min_t(int64_t, start, n - 1));
	end = min_t(int64_t, end, n);
	if (end <= start)
		end = start + 1;
	*first = start;
	*nr = end - start;
}

/* A used page: any, or at the start, middle or end of a huge page. */
static uint64_t one_page(struct gmem_file *f)
{
	uint64_t h = f->pages_per_huge;
	const uint64_t offsets[] = { 0, 1, h / 2, h - 2, h - 1 };

	if (rnd(2))
		return f->used[rnd(f->nr_used)];
	return rnd(f->nr_pages / h) * h + offsets[rnd(ARRAY_SIZE(offsets))];
}

/* A huge page boundary (the file's ends included), +-1 page. */
static int64_t edge(struct gmem_file *f)
{
	return (int64_t)(rnd(f->nr_pages / f->pages_per_huge + 1) * f->pages_per_huge) +
	       (int64_t)rnd(3) - 1;
}

/*
 * Of the 1G page: the whole of it, rarely, or a range around a sample
 * window: from its start (into the second 2M or not), in the middle, up
 * to its end.
 */
static void pick_sampled(struct gmem_file *f, bool may_be_whole, uint64_t *first,
			 uint64_t *nr)
{
	int64_t n = f->nr_pages, start, end;

	if (may_be_whole && !rnd(WHOLE_1G_ODDS)) {
		nr_whole_1g++;
		*first = 0;
		*nr = n;
		return;
	}
	switch (rnd(4)) {
	case 0:
		start = one_page(f);
		end = start + 1;
		break;
	case 1:
		start = rnd(3);
		end = start + 1 + rnd(600);
		break;
	case 2:
		start = n / 2 - 48 + rnd(96);
		end = start + 1 + rnd(64);
		break;
	default:
		end = n - rnd(3);
		start = end - 1 - rnd(96);
		break;
	}
	set_range(f, start, end, first, nr);
}

static void pick_range(struct gmem_file *f, uint64_t *first, uint64_t *nr)
{
	int64_t n = f->nr_pages, h = f->pages_per_huge, start, end, d;

	if (f->sampled) {
		pick_sampled(f, true, first, nr);
		return;
	}
	switch (rnd(8)) {
	case 0:
	case 1:
		start = one_page(f);
		end = start + 1;
		break;
	case 2:
		start = rnd(n / h) * h;
		end = start + h;
		break;
	case 3:
		start = 0;
		end = n;
		break;
	case 4:
	case 5:
		start = edge(f);
		end = edge(f);
		break;
	case 6:
		start = edge(f);
		d = 1 + rnd(16);
		end = rnd(2) ? start + d : start - d;
		break;
	default:
		start = rnd(n);
		end = start + 1 + rnd(64);
		break;
	}
	set_range(f, start, end, first, nr);
}

/* Part of one huge page: from or to one of its edges, or inside. */
static void pick_part(struct gmem_file *f, uint64_t *first, uint64_t *nr)
{
	int64_t h = f->pages_per_huge, base, start, end;

	if (f->sampled) {
		pick_sampled(f, false, first, nr);
		return;
	}
	base = rnd(f->nr_pages / h) * h;
	start = base + (rnd(2) ? rnd(2) : rnd(h));
	end = rnd(2) ? base + h - rnd(2) : start + 1 + rnd(32);
	end = min_t(int64_t, end, base + h);
	if (start == base && end == base + h)
		end--;
	set_range(f, start, end, first, nr);
}

static void pick_huge(struct gmem_file *f, uint64_t *first, uint64_t *nr)
{
	if (f->sampled) {
		pick_sampled(f, true, first, nr);
		return;
	}
	*first = rnd(f->nr_pages / f->pages_per_huge) * f->pages_per_huge;
	*nr = f->pages_per_huge;
}

static void op_convert(struct gmem_file *f)
{
	uint64_t content = contents[rnd(ARRAY_SIZE(contents))], first, nr, err = 0;
	bool to_private = rnd(2);

	pick_range(f, &first, &nr);
	STRESS_ASSERT(!convert(f, first, nr, to_private, content, &err, -1),
		      "converting file %s pages %lu+%lu to %s (flags 0x%lx): %s, error_offset 0x%lx",
		      f->name, first, nr, to_private ? "private" : "shared", content,
		      strerror(errno), err);
	converted(f, first, nr, to_private, content);
	check_range(f, first, nr);
}

static void op_invalid(struct gmem_file *f)
{
	struct kvm_memory_attributes2 a = {};
	uint64_t first, nr, bit;
	const char *what;
	int r;

	pick_range(f, &first, &nr);
	a.offset = first * PAGE_SIZE;
	a.size = nr * PAGE_SIZE;
	a.attributes = rnd(2) ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0;
	a.flags = contents[rnd(ARRAY_SIZE(contents))];
	switch (rnd(10)) {
	case 0:
		what = "unaligned offset";
		a.offset += 1 + rnd(PAGE_SIZE - 1);
		break;
	case 1:
		what = "unaligned size";
		a.size = rnd(2) ? a.size + 1 + rnd(PAGE_SIZE - 1) : 1 + rnd(PAGE_SIZE - 1);
		break;
	case 2:
		what = "size 0";
		a.size = 0;
		break;
	case 3:
		what = "range past the end";
		a.size = (f->nr_pages - first + 1 + rnd(16)) * PAGE_SIZE;
		break;
	case 4:
		what = "offset at or past the end";
		a.offset = (f->nr_pages + rnd(16)) * PAGE_SIZE;
		a.size = (1 + rnd(4)) * PAGE_SIZE;
		break;
	case 5:
		what = "offset + size overflowing";
		if (rnd(2)) {
			/* offset + size wraps past 2^64 to below offset. */
			a.offset = (2 + rnd(f->nr_pages - 2)) * PAGE_SIZE;
			a.size = -a.offset + (1 + rnd(a.offset / PAGE_SIZE - 1)) * PAGE_SIZE;
		} else {
			a.offset = -(1 + rnd(4)) * PAGE_SIZE;
			a.size = (1 + rnd(8)) * PAGE_SIZE;
		}
		break;
	case 6:
		what = "unknown attribute";
		do {
			bit = BIT_ULL(rnd(64));
		} while (bit == KVM_MEMORY_ATTRIBUTE_PRIVATE);
		a.attributes |= bit;
		break;
	case 7:
		what = "unknown flag";
		a.flags |= BIT_ULL(2 + rnd(62));
		break;
	case 8:
		what = "ZERO and PRESERVE";
		a.flags = KVM_SET_MEMORY_ATTRIBUTES2_ZERO | KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE;
		break;
	default:
		what = "nonzero reserved";
		a.reserved[rnd(ARRAY_SIZE(a.reserved))] = rnd64() | 1;
		break;
	}
	r = ioctl(f->fd, KVM_SET_MEMORY_ATTRIBUTES2, &a);
	STRESS_ASSERT(r == -1 && errno == EINVAL,
		      "%s, file %s offset 0x%lx size 0x%lx attributes 0x%lx flags 0x%lx: want EINVAL, got %d (%s)",
		      what, f->name, (uint64_t)a.offset, (uint64_t)a.size,
		      (uint64_t)a.attributes, (uint64_t)a.flags, r, strerror(errno));
	check_no_alloc_after_ponr();
	spot_check(f, first, nr);
}

static void op_punch(struct gmem_file *f)
{
	uint64_t first, nr, i, end;

	switch (rnd(4)) {
	case 0:
		first = one_page(f);
		nr = 1;
		break;
	case 1:
		pick_part(f, &first, &nr);
		break;
	case 2:
		pick_huge(f, &first, &nr);
		break;
	default:
		pick_range(f, &first, &nr);
		break;
	}
	STRESS_ASSERT(!fallocate(f->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				 first * PAGE_SIZE, nr * PAGE_SIZE),
		      "punching file %s pages %lu+%lu: %s", f->name, first, nr, strerror(errno));
	end = first_used(f, first + nr);
	for (i = first_used(f, first); i < end; i++)
		f->model[i].tag = 0;
	check_range(f, first, nr);
}

static void op_allocate(struct gmem_file *f)
{
	uint64_t first, nr;
	int r;

	pick_range(f, &first, &nr);
	/* guest_memfd cannot grow: fallocate() without KEEP_SIZE is refused. */
	if (!rnd(8)) {
		r = fallocate(f->fd, 0, first * PAGE_SIZE, nr * PAGE_SIZE);
		STRESS_ASSERT(r == -1 && errno == EOPNOTSUPP,
			      "fallocate(0) of file %s: want EOPNOTSUPP, got %d (%s)",
			      f->name, r, strerror(errno));
		nr_eopnotsupp++;
	}
	STRESS_ASSERT(!fallocate(f->fd, FALLOC_FL_KEEP_SIZE, first * PAGE_SIZE, nr * PAGE_SIZE),
		      "fallocate of file %s pages %lu+%lu: %s", f->name, first, nr,
		      strerror(errno));
	check_range(f, first, nr);
}

static void host_access(struct gmem_file *f, uint64_t i)
{
	struct page_model *m = &f->model[i];
	uint64_t page = f->used[i], *p = page_ptr(f, page);

	if (m->private) {
		switch (rnd(4)) {
		case 0:
			STRESS_ASSERT(host_read_sigbus(p),
				      "host read of private file %s page %lu: no SIGBUS",
				      f->name, page);
			nr_sigbus++;
			break;
		case 1:
			STRESS_ASSERT(!host_can_fault(f, page, MADV_POPULATE_WRITE),
				      "file %s page %lu: want private, host can write it",
				      f->name, page);
			break;
		default:
			STRESS_ASSERT(!host_can_fault(f, page, MADV_POPULATE_READ),
				      "file %s page %lu: want private, host can read it",
				      f->name, page);
			break;
		}
		return;
	}
	/* Before touching it: a SIGBUS would not say which page. */
	STRESS_ASSERT(host_can_fault(f, page, MADV_POPULATE_WRITE),
		      "file %s page %lu: want shared, host cannot write it", f->name, page);
	if (rnd(2)) {
		m->tag = new_tag(f, page);
		WRITE_ONCE(p[0], m->tag);
		WRITE_ONCE(p[511], m->tag);
		return;
	}
	host_check_tag(f, page, m->tag);
}

static void op_host(struct gmem_file *f)
{
	uint64_t i = first_used(f, one_page(f)), n = 1 + rnd(4), k;

	for (k = 0; k < n; k++)
		host_access(f, (i + k) % f->nr_used);
	for (k = 0; k < n; k++)
		check_page(f, (i + k) % f->nr_used);
	guest_flush();
}

/* A range holding @page: just it, some pages around it, its huge page, the file. */
static void pick_pin_range(struct gmem_file *f, uint64_t page, uint64_t *first, uint64_t *nr)
{
	int64_t h = f->pages_per_huge, base = page / h * h, start, end;
	int kind = rnd(4);

	if (f->sampled && kind >= 2 && rnd(WHOLE_1G_ODDS))
		kind = 1;
	switch (kind) {
	case 0:
		start = page;
		end = page + 1;
		break;
	case 1:
		start = (int64_t)page - (int64_t)rnd(64);
		end = page + 1 + rnd(64);
		break;
	case 2:
		start = base;
		end = base + h;
		break;
	default:
		start = 0;
		end = f->nr_pages;
		break;
	}
	if (f->sampled && kind >= 2)
		nr_whole_1g++;
	set_range(f, start, end, first, nr);
}

static void op_pin(struct gmem_file *f)
{
	uint64_t i = first_used(f, one_page(f)), k, page, first, nr, content, err = 0;
	uint64_t whole;
	uint64_t buf[PAGE_SIZE / sizeof(uint64_t)];
	int pipefd[2], r;
	struct iovec iov;
	size_t got;
	ssize_t n;

	for (k = 0; k < f->nr_used && f->model[(i + k) % f->nr_used].private; k++)
		;
	/* All private: vmsplice() needs a shared page. */
	if (k == f->nr_used) {
		STRESS_ASSERT(!convert(f, f->used[i], 1, false, KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE,
				       NULL, -1),
			      "converting file %s page %lu to shared: %s", f->name, f->used[i],
			      strerror(errno));
		converted(f, f->used[i], 1, false, KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE);
		k = 0;
	}
	i = (i + k) % f->nr_used;
	page = f->used[i];

	/* The pipe holds a reference on the page until it is read. */
	TEST_ASSERT(!pipe(pipefd), "pipe");
	iov.iov_base = page_ptr(f, page);
	iov.iov_len = PAGE_SIZE;
	n = vmsplice(pipefd[1], &iov, 1, 0);
	STRESS_ASSERT(n == PAGE_SIZE, "vmsplice of file %s page %lu: %zd (%s)", f->name, page, n,
		      strerror(errno));

	pick_pin_range(f, page, &first, &nr);
	content = contents[rnd(ARRAY_SIZE(contents))];
	r = convert(f, first, nr, true, content, &err, page * PAGE_SIZE);
	/*
	 * The pinned page; or, in a THP shared whole or a 2M piece of a
	 * HugeTLB page (which the model does not tell from split ones), which
	 * the pin holds as a whole, its first page in the range.
	 */
	whole = f->shift ? 512 : 1;
	whole = max(page / whole * whole, first);
	STRESS_ASSERT(r == -1 && errno == EAGAIN &&
		      (err == page * PAGE_SIZE || err == whole * PAGE_SIZE),
		      "converting file %s pages %lu+%lu to private with page %lu pinned: want EAGAIN at 0x%lx, got %d (%s) at 0x%lx",
		      f->name, first, nr, page, (uint64_t)(page * PAGE_SIZE), r, strerror(errno),
		      err);
	nr_eagain++;
	spot_check(f, first, nr);
	check_page(f, i);
	guest_flush();

	for (got = 0; got < PAGE_SIZE; got += n) {
		n = read(pipefd[0], (char *)buf + got, PAGE_SIZE - got);
		STRESS_ASSERT(n > 0, "read from the pipe: %s", strerror(errno));
	}
	STRESS_ASSERT(buf[0] == f->model[i].tag && buf[511] == f->model[i].tag,
		      "file %s page %lu through the pipe: want 0x%lx, got 0x%lx/0x%lx",
		      f->name, page, f->model[i].tag, buf[0], buf[511]);
	close(pipefd[0]);
	close(pipefd[1]);

	STRESS_ASSERT(!convert(f, first, nr, true, content, &err, -1),
		      "converting file %s pages %lu+%lu to private once unpinned: %s, error_offset 0x%lx",
		      f->name, first, nr, strerror(errno), err);
	converted(f, first, nr, true, content);
	check_range(f, first, nr);
}

/* Private and shared alike: a SW-protected VM reaches each as the file says. */
static void op_guest(struct gmem_file *f)
{
	uint64_t i = first_used(f, one_page(f)), n = 1 + rnd(8), k, page;
	bool write = rnd(2);
	struct page_model *m;

	for (k = 0; k < n; k++) {
		m = &f->model[(i + k) % f->nr_used];
		page = f->used[(i + k) % f->nr_used];
		if (write)
			m->tag = new_tag(f, page);
		guest_add(write ? GUEST_WRITE : GUEST_CHECK, f, page, m->tag);
	}
	guest_flush();
	for (k = 0; k < n; k++)
		check_page(f, (i + k) % f->nr_used);
	guest_flush();
}

static const struct {
	const char *name;
	void (*run)(struct gmem_file *f);
	int weight;
} ops[] = {
	{ "convert", op_convert, 30 },
	{ "invalid conversion", op_invalid, 8 },
	{ "punch hole", op_punch, 8 },
	{ "fallocate", op_allocate, 6 },
	{ "host access", op_host, 20 },
	{ "vmsplice pin", op_pin, 5 },
	{ "guest access", op_guest, 23 },
};

static bool sampled_page(struct gmem_file *f, uint64_t page)
{
	uint64_t n = f->nr_pages;

	return !f->sampled || page < 256 || page >= n - 64 ||
	       (page >= n / 2 - 32 && page < n / 2 + 32);
}

/* Mapped at an address aligned like its pages, so that KVM can map them huge. */
static void file_create(struct gmem_file *f, uint32_t slot)
{
	struct kvm_create_guest_memfd args = {
		.size = f->size,
		.flags = GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED | f->flags,
		.huge_page_size_log2 = f->shift,
	};
	uint64_t page;

	f->fd = __vm_ioctl(vm, KVM_CREATE_GUEST_MEMFD, &args);
	TEST_ASSERT(f->fd >= 0, KVM_IOCTL_ERROR(KVM_CREATE_GUEST_MEMFD, f->fd));
	f->mem = gmem_mmap_aligned(f->fd, f->size, f->huge, &f->reserved);
	vm_set_user_memory_region2(vm, slot, KVM_MEM_GUEST_MEMFD, f->gpa, f->size, f->mem,
				   f->fd, 0);
	virt_map_level(vm, f->gpa, f->gpa, f->size, PG_LEVEL_2M);

	f->nr_pages = f->size / PAGE_SIZE;
	f->pages_per_huge = f->huge / PAGE_SIZE;
	for (page = 0; page < f->nr_pages; page++)
		f->nr_used += sampled_page(f, page);
	f->used = calloc(f->nr_used, sizeof(*f->used));
	/* Shared and zero: GUEST_MEMFD_FLAG_INIT_SHARED. */
	f->model = calloc(f->nr_used, sizeof(*f->model));
	TEST_ASSERT(f->used && f->model, "calloc");
	f->nr_used = 0;
	for (page = 0; page < f->nr_pages; page++)
		if (sampled_page(f, page))
			f->used[f->nr_used++] = page;
}

static void file_destroy(struct gmem_file *f)
{
	gmem_munmap_aligned(f->reserved, f->size, f->huge);
	close(f->fd);
	free(f->used);
	free(f->model);
}

static uint64_t seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* Exact once the files are gone: nothing else in the VM uses these. */
static const char * const meminfo_keys[] = {
	"HugePages_Total", "HugePages_Free", "HugePages_Rsvd", "HugePages_Surp",
	"Hugetlb", "FileHugePages", "FilePmdMapped",
};

static const char * const cgroup_files[] = {
	"hugetlb.2MB.current", "hugetlb.2MB.rsvd.current",
	"hugetlb.1GB.current", "hugetlb.1GB.rsvd.current",
};

static void meminfo_read(long *values)
{
	int k;

	for (k = 0; k < ARRAY_SIZE(meminfo_keys); k++)
		values[k] = read_file_key_u64("/proc/meminfo", meminfo_keys[k]);
}

/* Returns how many counters differ; reports them when @report. */
static int released_check(const long *meminfo0, bool report)
{
	long meminfo[ARRAY_SIZE(meminfo_keys)], val;
	char path[128];
	int k, bad = 0;

	meminfo_read(meminfo);
	for (k = 0; k < ARRAY_SIZE(meminfo_keys); k++) {
		if (meminfo[k] == meminfo0[k])
			continue;
		bad++;
		if (report)
			fprintf(stderr, "seed %lu: meminfo %s: %ld at the start, %ld at the end\n",
				seed, meminfo_keys[k], meminfo0[k], meminfo[k]);
	}
	for (k = 0; k < ARRAY_SIZE(cgroup_files); k++) {
		snprintf(path, sizeof(path), CGROUP "/%s", cgroup_files[k]);
		val = read_file_u64(path);
		if (!val)
			continue;
		bad++;
		if (report)
			fprintf(stderr, "seed %lu: %s is %ld with every file gone\n",
				seed, path, val);
	}
	return bad;
}

/*
 * Freed HugeTLB pages may reach the pool through a worker: give them 10 s.
 * Then the cgroup goes.
 */
static int released_wait(const long *meminfo0)
{
	int i, bad;

	for (i = 0; i < 100 && released_check(meminfo0, false); i++)
		usleep(100 * 1000);
	bad = released_check(meminfo0, true);
	if (rmdir(CGROUP)) {
		fprintf(stderr, "rmdir(" CGROUP "): %s\n", strerror(errno));
		bad++;
	}
	return bad;
}

static int run_test(uint64_t run_time, uint64_t max_ops)
{
	const struct vm_shape shape = {
		.mode = VM_MODE_DEFAULT,
		.type = KVM_X86_SW_PROTECTED_VM,
	};
	struct sigaction sa = { .sa_sigaction = sigbus_handler, .sa_flags = SA_SIGINFO };
	uint64_t counts[ARRAY_SIZE(ops)] = {}, start, total = 0;
	struct gmem_file *f;
	int i, k, w;

	pr_info("seed %lu\n", seed);
	write_file_str(CGROUP "/cgroup.procs", "0");
	rng = seed;
	TEST_ASSERT(!sigaction(SIGBUS, &sa, NULL), "sigaction(SIGBUS)");
	read_fault_counts(space0, times0);

	vm = vm_create_shape_with_one_vcpu(shape, &vcpu, guest_code);
	for (i = 0; i < nr_files; i++)
		file_create(&files[i], FIRST_SLOT + i);

	for (k = 0; k < ARRAY_SIZE(ops); k++)
		total += ops[k].weight;
	start = seconds();
	for (op_nr = 1; !max_ops || op_nr <= max_ops; op_nr++) {
		if (seconds() - start >= run_time)
			break;
		f = &files[rnd(nr_files)];
		w = rnd(total);
		for (k = 0; w >= ops[k].weight; k++)
			w -= ops[k].weight;
		op_name = ops[k].name;
		ops[k].run(f);
		counts[k]++;
		if (!(op_nr % CHECK_ALL_EVERY)) {
			op_name = "check of every page";
			check_all();
		}
	}
	op_nr--;
	op_name = "final check of every page";
	check_all();
	check_no_alloc_after_ponr();

	for (k = 0; k < ARRAY_SIZE(ops); k++)
		pr_info("%-20s %lu\n", ops[k].name, counts[k]);
	pr_info("%lu operations: %lu SIGBUS reads, %lu EAGAIN pins, %lu fallocate(0) EOPNOTSUPP, %lu whole 1G ranges, %lu checks of every page, %lu transient EAGAIN retried\n",
		op_nr, nr_sigbus, nr_eagain, nr_eopnotsupp, nr_whole_1g, nr_full_checks,
		nr_transient);
	pr_info("seed %lu\n", seed);

	kvm_vm_free(vm);
	for (i = 0; i < nr_files; i++)
		file_destroy(&files[i]);
	return 0;
}

static pid_t child;

/* The harness's or the user's stop goes to the child: the parent restores. */
static void forward_signal(int sig)
{
	if (child > 0)
		kill(child, sig);
}

/*
 * Runs the test in a child, and reports how it ended as the first TAP
 * result; returns nonzero if it could not wait for it.
 */
static int run_child(uint64_t run_time, uint64_t max_ops)
{
	struct sigaction sa = { .sa_handler = forward_signal, .sa_flags = SA_RESTART };
	int status = 0, bad = 0;
	char name[64];

	child = fork();
	if (!child)
		exit(run_test(run_time, max_ops));
	if (child > 0) {
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGHUP, &sa, NULL);
		while (waitpid(child, &status, 0) < 0) {
			if (errno != EINTR) {
				bad = 1;
				break;
			}
		}
	}
	snprintf(name, sizeof(name), "stress.run seed %lu", seed);
	if (WIFSIGNALED(status))
		ksft_test_result_fail("%s: killed by signal %d\n", name, WTERMSIG(status));
	else
		ksft_test_result_code(child > 0 && !bad && WIFEXITED(status) ?
				      WEXITSTATUS(status) : KSFT_FAIL, name, NULL);
	return bad;
}

int main(int argc, char *argv[])
{
	long meminfo0[ARRAY_SIZE(meminfo_keys)];
	uint64_t run_time = 90, max_ops = 0;
	bool cgroup_made = false;
	bool thp_changed = false;
	bool seed_given = false;
	struct timespec ts;
	int opt, bad;

	while ((opt = getopt(argc, argv, "r:t:n:")) != -1) {
		switch (opt) {
		case 'r':
			seed = strtoull(optarg, NULL, 10);
			seed_given = true;
			break;
		case 't':
			run_time = strtoull(optarg, NULL, 0);
			break;
		case 'n':
			max_ops = strtoull(optarg, NULL, 0);
			break;
		default:
			printf("usage: %s [-r SEED] [-t SECONDS] [-n OPS]\n"
			       "  -r: seed of the run, to replay it (default: from the time)\n"
			       "  -t: run time in seconds (default: 90)\n"
			       "  -n: stop after OPS operations\n", argv[0]);
			exit(KSFT_FAIL);
		}
	}
	if (!seed_given) {
		clock_gettime(CLOCK_REALTIME, &ts);
		seed = ts.tv_sec * 1000000000ull + ts.tv_nsec;
	}

	TEST_REQUIRE(kvm_check_cap(KVM_CAP_VM_TYPES) & BIT(KVM_X86_SW_PROTECTED_VM));
	TEST_REQUIRE(kvm_check_cap(KVM_CAP_MEMORY_ATTRIBUTES2) & KVM_MEMORY_ATTRIBUTE_PRIVATE);
	TEST_REQUIRE((kvm_check_cap(KVM_CAP_GUEST_MEMFD_HUGETLB_SIZES) & (SZ_2M | SZ_1G)) ==
		     (SZ_2M | SZ_1G));
	TEST_REQUIRE(get_kvm_param_bool("gmem_fail_after_ponr"));
	TEST_ASSERT_EQ(getpagesize(), PAGE_SIZE);
	TEST_REQUIRE(!access(CGROUP_ROOT "/cgroup.subtree_control", W_OK));
	if (!(kvm_check_cap(KVM_CAP_GUEST_MEMFD_THP_SIZES) & SZ_2M)) {
		pr_info("2M transparent huge pages not offered (KVM_CAP_GUEST_MEMFD_THP_SIZES): no THP file\n");
		nr_files--;
	}

	/*
	 * The child runs the test; the parent puts fault injection and the
	 * THP setting back however the child ends (assertions exit, crashes
	 * are signals).
	 */
	fault_inject_save(&fault_inject, fault_inject_marked, ARRAY_SIZE(fault_inject_marked),
			  FAULT_INJECT_SPACE);
	if (nr_files == NR_FILES)
		TEST_ASSERT(!__thp_enabled_get(thp_saved, sizeof(thp_saved)),
			    "reading the THP setting");
	ksft_print_header();
	ksft_set_plan(2);
	bad = fault_inject_arm(&fault_inject);
	if (!bad)
		bad = __write_file_str(CGROUP_ROOT "/cgroup.subtree_control", "+hugetlb");
	if (!bad) {
		/* Left by a run that was killed: it holds no process. */
		rmdir(CGROUP);
		bad = mkdir(CGROUP, 0755);
		if (bad)
			fprintf(stderr, "mkdir(" CGROUP "): %s\n", strerror(errno));
		cgroup_made = !bad;
	}
	if (!bad)
		meminfo_read(meminfo0);
	if (!bad && nr_files == NR_FILES && !strcmp(thp_saved, "never")) {
		thp_changed = true;
		bad = __thp_enabled_set("madvise");
	}
	if (!bad)
		bad = run_child(run_time, max_ops);
	if (cgroup_made)
		bad |= released_wait(meminfo0);
	bad |= fault_inject_restore(&fault_inject);
	if (thp_changed)
		bad |= __thp_enabled_set(thp_saved);
	ksft_test_result(!bad, "stress.released\n");
	ksft_finished();
}
