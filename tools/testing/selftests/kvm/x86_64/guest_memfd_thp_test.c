// SPDX-License-Identifier: GPL-2.0
/*
 * guest_memfd backed by transparent huge pages (huge_page_size_log2 = 21
 * without GUEST_MEMFD_FLAG_HUGETLB):
 *
 *  - creation: KVM_CAP_GUEST_MEMFD_THP_SIZES offers 2M; every other size
 *    gets EINVAL; GUEST_MEMFD_FLAG_MMAP is allowed;
 *  - a guest writes and reads every 4K page of a 64 MiB file plus one 4K
 *    page: with THP on ("madvise" is enough: the file asked), each whole
 *    2M range is one 2M page (thp_gmem's allocs, FileHugePages) that KVM
 *    maps with one 2M stage-2 entry, and the 4K tail is 4K;
 *  - fallback: with THP "never", and with every 2M allocation failing (the
 *    page allocator's fault injection, for orders of 9 and up, as when no
 *    2M page is free), the file gets 4K pages, counted as fallbacks
 *    (thp_gmem's and thp_file_fallback), and the guest's data holds;
 *  - a punch of one 4K page zeroes only that page and keeps the 2M page;
 *    a punch of a whole 2M page gives it back and the guest reads zeros;
 *  - closing the file gives the memory back: FileHugePages exactly, and
 *    MemFree (with what the per-CPU free lists hold) within 4 MiB, what the
 *    VM's own allocations and RCU-deferred frees may leave out.
 *
 * The THP setting and fault injection are put back by the harness's
 * parent, whatever becomes of a scenario.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <linux/sizes.h>

#include "fault_inject.h"
#include "guest_memfd.h"
#include "hugepage_util.h"
#include "kvm_test_harness.h"
#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "ucall_common.h"
#include "guest_memfd_pages.h"

#define GMEM_GPA	BIT_ULL(32)
#define GMEM_SLOT	10
#define NR_THP		32
/* 32 2M pages and a 4K page that no 2M page covers. */
#define FILE_SIZE	(NR_THP * SZ_2M + SZ_4K)

struct counts {
	uint64_t allocs, fallbacks, vm_allocs, vm_fallbacks, file_huge_kb, free_kb;
};

/*
 * MemFree plus the pages the per-CPU free lists hold (/proc/zoneinfo's
 * "count:" lines), which MemFree leaves out: freed 2M pages may sit there.
 */
static uint64_t free_kb(void)
{
	FILE *f = fopen("/proc/zoneinfo", "r");
	uint64_t pcp = 0, n;
	char line[256];

	TEST_ASSERT(f, "open /proc/zoneinfo");
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, " count: %lu", &n) == 1)
			pcp += n;
	fclose(f);
	return read_file_key_u64("/proc/meminfo", "MemFree") + pcp * 4;
}

static void read_counts(struct counts *c)
{
	struct gmem_huge_stats s;

	gmem_huge_stats_read(VM_MEM_SRC_GUEST_MEMFD_THP, &s);
	c->allocs = s.allocs;
	c->fallbacks = s.fallbacks;
	c->vm_allocs = read_file_key_u64("/proc/vmstat", "thp_file_alloc");
	c->vm_fallbacks = read_file_key_u64("/proc/vmstat", "thp_file_fallback");
	c->file_huge_kb = read_file_key_u64("/proc/meminfo", "FileHugePages");
	c->free_kb = free_kb();
}

/* Of any size: the invalid ones must fail. */
static int create_thp(struct kvm_vm *vm, uint64_t size, uint64_t flags, uint8_t shift)
{
	struct kvm_create_guest_memfd args = {
		.size = size,
		.flags = flags,
		.huge_page_size_log2 = shift,
	};

	return __vm_ioctl(vm, KVM_CREATE_GUEST_MEMFD, &args);
}

static void test_invalid(struct kvm_vm *vm)
{
	const uint8_t bad_shifts[] = { 1, 12, 13, 20, 22, 30, 39, 63, 64, 255 };
	unsigned int i;
	int fd;

	for (i = 0; i < ARRAY_SIZE(bad_shifts); i++) {
		fd = create_thp(vm, SZ_2M, 0, bad_shifts[i]);
		TEST_ASSERT(fd < 0 && errno == EINVAL, "THP of 2^%u bytes: %d (%s)",
			    bad_shifts[i], fd, fd < 0 ? strerror(errno) : "a file");
	}
	/* Conversions split THPs (guest_memfd_hugetlb_conversion_test -s guest_memfd_thp). */
	fd = create_thp(vm, SZ_2M, GUEST_MEMFD_FLAG_MMAP, 21);
	TEST_ASSERT(fd >= 0, "THP with GUEST_MEMFD_FLAG_MMAP: %s", strerror(errno));
	close(fd);
	/* Any size: the tail that no 2M page covers gets 4K pages. */
	fd = create_thp(vm, SZ_2M + SZ_4K, GUEST_MEMFD_FLAG_INIT_SHARED, 21);
	TEST_ASSERT(fd >= 0, "THP file of 2M + 4K: %s", strerror(errno));
	close(fd);
}

enum mode { THP_ON, THP_NEVER, NO_FREE_2M };

static const char * const mode_names[] = { "THP on", "THP never", "no free 2M page" };

/* Every allocation of order 9 or more by a marked task fails. */
static const struct fault_inject_setting fail_huge_allocations[] = {
	{ "fail_page_alloc", "probability", "100" },
	{ "fail_page_alloc", "interval", "1" },
	{ "fail_page_alloc", "times", "-1" },
	{ "fail_page_alloc", "verbose", "0" },
	{ "fail_page_alloc", "task-filter", "Y" },
	{ "fail_page_alloc", "ignore-gfp-wait", "N" },
	{ "fail_page_alloc", "ignore-gfp-highmem", "N" },
	{ "fail_page_alloc", "min-order", "9" },
};

static void test_guest(enum mode mode, struct fault_inject *fi)
{
	const struct vm_shape shape = {
		.mode = VM_MODE_DEFAULT,
		.type = KVM_X86_SW_PROTECTED_VM,
	};
	const uint64_t huge = mode == THP_ON ? NR_THP : 0;
	const uint64_t single = 5 * SZ_2M + 7 * SZ_4K, whole = 9 * SZ_2M;
	uint64_t zeros, last_zero, pages_2m;
	struct counts before, now, gone;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	void *uaddr, *reserved;
	int fd;

	ksft_print_msg("%s\n", mode_names[mode]);
	thp_enabled_set(mode == THP_NEVER ? "never" : "madvise");
	read_counts(&before);

	vm = vm_create_shape_with_one_vcpu(shape, &vcpu, guest_code);
	fd = create_thp(vm, FILE_SIZE, 0, 21);
	TEST_ASSERT(fd >= 0, "create: %s", strerror(errno));
	uaddr = gmem_reserve_aligned(FILE_SIZE, SZ_2M, &reserved);
	vm_set_user_memory_region2(vm, GMEM_SLOT, KVM_MEM_GUEST_MEMFD, GMEM_GPA, FILE_SIZE,
				   uaddr, fd, 0);
	vm_mem_set_private(vm, GMEM_GPA, FILE_SIZE);
	virt_map_level(vm, GMEM_GPA, GMEM_GPA, NR_THP * SZ_2M, PG_LEVEL_2M);
	virt_map(vm, GMEM_GPA + NR_THP * SZ_2M, GMEM_GPA + NR_THP * SZ_2M, 1);
	vcpu_args_set(vcpu, 3, GMEM_GPA, FILE_SIZE, 0x5eed7000ull + mode);

	if (mode == NO_FREE_2M) {
		fault_inject_save(fi, fail_huge_allocations, ARRAY_SIZE(fail_huge_allocations),
				  NULL);
		TEST_ASSERT(!fault_inject_arm(fi), "arming fault injection");
		fault_inject_mark_task(true);
	}
	run_guest(vcpu, 0, NULL);
	if (mode == NO_FREE_2M) {
		fault_inject_mark_task(false);
		TEST_ASSERT(!fault_inject_restore(fi), "putting fault injection back");
	}

	read_counts(&now);
	pages_2m = vm_get_stat(vm, "pages_2m");
	TEST_ASSERT(now.allocs - before.allocs == huge &&
		    now.vm_allocs - before.vm_allocs == huge &&
		    now.file_huge_kb - before.file_huge_kb == huge * 2048,
		    "%s: %lu 2M pages, thp_file_alloc +%lu, FileHugePages +%lu kB; want %lu",
		    mode_names[mode], now.allocs - before.allocs,
		    now.vm_allocs - before.vm_allocs,
		    now.file_huge_kb - before.file_huge_kb, huge);
	TEST_ASSERT(now.fallbacks - before.fallbacks == NR_THP - huge &&
		    now.vm_fallbacks - before.vm_fallbacks == NR_THP - huge,
		    "%s: %lu fallbacks, thp_file_fallback +%lu, want %lu", mode_names[mode],
		    now.fallbacks - before.fallbacks, now.vm_fallbacks - before.vm_fallbacks,
		    NR_THP - huge);
	TEST_ASSERT(pages_2m == huge, "%s: pages_2m %lu, want %lu",
		    mode_names[mode], pages_2m, huge);
	TEST_ASSERT(now.free_kb + (FILE_SIZE >> 10) <= before.free_kb + SZ_4M / 1024,
		    "%s: MemFree dropped by %ld kB for a %u kB file", mode_names[mode],
		    (int64_t)(before.free_kb - now.free_kb), FILE_SIZE >> 10);
	TEST_ASSERT_EQ(run_guest(vcpu, 1, NULL), 0);

	/* One 4K page: zeroed, its 2M page kept. */
	TEST_ASSERT(!fallocate(fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE, single, SZ_4K),
		    "punch 4K");
	zeros = run_guest(vcpu, 1, &last_zero);
	TEST_ASSERT(zeros == 1 && last_zero == single,
		    "%s: after a 4K punch at 0x%lx the guest saw %lu zero pages (last 0x%lx)",
		    mode_names[mode], single, zeros, last_zero);
	read_counts(&gone);
	TEST_ASSERT_EQ(gone.file_huge_kb, now.file_huge_kb);

	/* A whole 2M page: given back; the guest's reads fault in a zeroed one. */
	TEST_ASSERT(!fallocate(fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE, whole, SZ_2M),
		    "punch 2M");
	read_counts(&gone);
	TEST_ASSERT_EQ(now.file_huge_kb - gone.file_huge_kb, huge ? 2048 : 0);
	zeros = run_guest(vcpu, 1, &last_zero);
	TEST_ASSERT(zeros == 1 + 512 && last_zero == whole + SZ_2M - SZ_4K,
		    "%s: after a 2M punch the guest saw %lu zero pages (last 0x%lx)",
		    mode_names[mode], zeros, last_zero);

	kvm_vm_free(vm);
	close(fd);
	gmem_munmap_aligned(reserved, FILE_SIZE, SZ_2M);
	read_counts(&gone);
	TEST_ASSERT_EQ(gone.file_huge_kb, before.file_huge_kb);
	pr_info("%s: %lu 2M pages, %lu fallbacks, pages_2m %lu; free memory -%ld kB populated, %+ld kB after close\n",
		mode_names[mode], now.allocs - before.allocs, now.fallbacks - before.fallbacks,
		pages_2m, (int64_t)(before.free_kb - now.free_kb),
		(int64_t)(gone.free_kb - before.free_kb));
	TEST_ASSERT(gone.free_kb + SZ_4M / 1024 >= before.free_kb,
		    "%s: MemFree %lu kB after close, %lu kB before", mode_names[mode],
		    gone.free_kb, before.free_kb);
}

FIXTURE(thp) {
	char thp_saved[32];
	struct fault_inject fi;
};

FIXTURE_VARIANT(thp) {
	enum vm_mem_backing_src_type backing;
};

FIXTURE_VARIANT_ADD(thp, guest_memfd_thp) {
	.backing = VM_MEM_SRC_GUEST_MEMFD_THP,
};

FIXTURE_SETUP(thp)
{
	struct kvm_vm *vm;

	TEST_REQUIRE(kvm_check_cap(KVM_CAP_VM_TYPES) & BIT(KVM_X86_SW_PROTECTED_VM));
	TEST_REQUIRE(backing_src_guest_memfd_offered(variant->backing));
	TEST_ASSERT_EQ(kvm_check_cap(KVM_CAP_GUEST_MEMFD_THP_SIZES), SZ_2M);
	vm = vm_create_barebones_type(KVM_X86_SW_PROTECTED_VM);
	TEST_ASSERT_EQ(vm_check_cap(vm, KVM_CAP_GUEST_MEMFD_THP_SIZES), SZ_2M);
	kvm_vm_free(vm);
	TEST_ASSERT(!__thp_enabled_get(self->thp_saved, sizeof(self->thp_saved)),
		    "reading the THP setting");
}

/* In the harness's parent: the THP setting and fault injection as they were. */
FIXTURE_TEARDOWN_PARENT(thp)
{
	int bad = fault_inject_restore(&self->fi);

	bad |= __thp_enabled_set(self->thp_saved);
	TEST_ASSERT(!bad, "putting THP's setting and fault injection back");
}

TEST_F_TIMEOUT(thp, invalid, 300)
{
	struct kvm_vm *vm = vm_create_barebones_type(KVM_X86_SW_PROTECTED_VM);

	test_invalid(vm);
	kvm_vm_free(vm);
}

TEST_F_TIMEOUT(thp, thp_on, 300)
{
	test_guest(THP_ON, &self->fi);
}

TEST_F_TIMEOUT(thp, thp_never, 300)
{
	test_guest(THP_NEVER, &self->fi);
}

TEST_F_TIMEOUT(thp, no_free_2m, 300)
{
	test_guest(NO_FREE_2M, &self->fi);
}

KVM_BACKING_HARNESS_MAIN
