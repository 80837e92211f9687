// SPDX-License-Identifier: GPL-2.0
/*
 * guest_memfd backed by the HugeTLB pools (GUEST_MEMFD_FLAG_HUGETLB), on
 * 2M and 1G pages (guest_memfd_hugetlb_2mb, guest_memfd_hugetlb_1gb: "-s
 * NAME" picks one; one that KVM does not offer, or whose pool has fewer
 * than 2 free pages, is skipped):
 *
 *  - creation: every invalid argument gets EINVAL, a file larger than the
 *    pool gets ENOMEM, and neither reserves anything;
 *  - the pool's counters through a file's life: the whole file reserved at
 *    creation, one page taken per huge range on first use, a partial punch
 *    keeping the page, a whole punch and close giving pages back;
 *  - the same in a hugetlb cgroup's counters, and ENOMEM when the cgroup
 *    may not reserve the whole file;
 *  - a guest writes and reads every 4K page: KVM maps the memory with 2M or
 *    1G stage-2 entries (pages_2m/pages_1g), zaps them on a punch, and maps
 *    4K only when the memslot's gfn and offset are not aligned alike.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <linux/sizes.h>

#include "guest_memfd.h"
#include "hugepage_util.h"
#include "kvm_test_harness.h"
#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "ucall_common.h"
#include "guest_memfd_pages.h"

#define CGROUP		CGROUP_ROOT "/guest_memfd_hugetlb_test"
#define GMEM_GPA	BIT_ULL(32)
#define GMEM_SLOT	10

static void read_pool(unsigned int shift, struct hugetlb_pool *p)
{
	hugetlb_pool_read(BIT_ULL(shift), p);
}

static void assert_pool(unsigned int shift, const struct hugetlb_pool *want, const char *when)
{
	hugetlb_pool_assert(BIT_ULL(shift), want, when);
}

static void assert_einval(struct kvm_create_guest_memfd *args, struct kvm_vm *vm,
			  const char *what)
{
	int fd = __vm_ioctl(vm, KVM_CREATE_GUEST_MEMFD, args);

	TEST_ASSERT(fd < 0 && errno == EINVAL, "%s: got %d (%s), want EINVAL",
		    what, fd, fd < 0 ? strerror(errno) : "a file");
}

static void test_invalid(struct kvm_vm *vm, unsigned int shift, unsigned long sizes)
{
	const uint64_t huge = BIT_ULL(shift);
	const uint8_t bad_shifts[] = { 0, 12, 13, 20, 22, 29, 31, 39, 63, 64, 200, 255 };
	struct kvm_create_guest_memfd args;
	struct hugetlb_pool before;
	unsigned int i;

	read_pool(shift, &before);

	args = (struct kvm_create_guest_memfd){ huge + 4096, GUEST_MEMFD_FLAG_HUGETLB, shift };
	assert_einval(&args, vm, "size not a multiple of the huge page size");
	args = (struct kvm_create_guest_memfd){ huge / 2, GUEST_MEMFD_FLAG_HUGETLB, shift };
	assert_einval(&args, vm, "size below the huge page size");
	args = (struct kvm_create_guest_memfd){ 0, GUEST_MEMFD_FLAG_HUGETLB, shift };
	assert_einval(&args, vm, "size 0");
	/* Without the flag, a size THP offers asks for THP (guest_memfd_thp_test). */
	if (!(kvm_check_cap(KVM_CAP_GUEST_MEMFD_THP_SIZES) & huge)) {
		args = (struct kvm_create_guest_memfd){ huge, 0, shift };
		assert_einval(&args, vm, "huge_page_size_log2 without GUEST_MEMFD_FLAG_HUGETLB");
	}
	for (i = 0; i < ARRAY_SIZE(bad_shifts); i++) {
		if (bad_shifts[i] < 64 && (sizes & BIT_ULL(bad_shifts[i])))
			continue;
		args = (struct kvm_create_guest_memfd){ huge, GUEST_MEMFD_FLAG_HUGETLB,
							bad_shifts[i] };
		assert_einval(&args, vm, "a page size the host has no pool for");
	}
	args = (struct kvm_create_guest_memfd){ huge, GUEST_MEMFD_FLAG_HUGETLB, shift };
	args.pad[6] = 1;
	assert_einval(&args, vm, "nonzero pad");
	args = (struct kvm_create_guest_memfd){ huge, GUEST_MEMFD_FLAG_HUGETLB, shift };
	args.reserved[4] = 1;
	assert_einval(&args, vm, "nonzero reserved");
	/* Valid: shared pages are 4K pieces of split huge pages. */
	close(vm_create_guest_memfd_hugetlb(vm, huge, GUEST_MEMFD_FLAG_MMAP, shift));

	assert_pool(shift, &before, "after invalid creations");
}

/* More than the pool has free: ENOMEM, and nothing reserved. */
static void test_exhaustion(struct kvm_vm *vm, unsigned int shift)
{
	const uint64_t huge = BIT_ULL(shift);
	struct hugetlb_pool before;
	int fd, fd2;

	read_pool(shift, &before);
	TEST_ASSERT(before.free > before.resv, "the %luK pool has no unreserved page",
		    huge >> 10);

	fd = __vm_create_guest_memfd_hugetlb(vm, (before.free - before.resv + 1) * huge, 0, shift);
	TEST_ASSERT(fd < 0 && errno == ENOMEM, "a file larger than the pool: %d (%s)",
		    fd, fd < 0 ? strerror(errno) : "created");
	assert_pool(shift, &before, "after ENOMEM");

	/* The whole pool reserved by one file: the next gets ENOMEM. */
	fd = __vm_create_guest_memfd_hugetlb(vm, (before.free - before.resv) * huge, 0, shift);
	TEST_ASSERT(fd >= 0, "a file of the whole pool: %s", strerror(errno));
	fd2 = __vm_create_guest_memfd_hugetlb(vm, huge, 0, shift);
	TEST_ASSERT(fd2 < 0 && errno == ENOMEM, "a file beyond a reserved pool: %d (%s)",
		    fd2, fd2 < 0 ? strerror(errno) : "created");
	close(fd);
	assert_pool(shift, &before, "after closing a file that reserved the pool");
}

/* The pool's counters and st_blocks through a file's life. */
static void test_accounting(struct kvm_vm *vm, unsigned int shift)
{
	const uint64_t huge = BIT_ULL(shift);
	const uint64_t nr = 2;
	struct hugetlb_pool before, want;
	int fd;

	read_pool(shift, &before);
	TEST_ASSERT(before.free - before.resv >= nr, "the %luK pool needs %lu free pages",
		    huge >> 10, nr);

	fd = __vm_create_guest_memfd_hugetlb(vm, nr * huge, 0, shift);
	TEST_ASSERT(fd >= 0, "create: %s", strerror(errno));
	want = before;
	want.resv += nr;
	assert_pool(shift, &want, "after creation");
	TEST_ASSERT_EQ(fd_st_blocks(fd), 0);

	/* A 4K allocation takes the whole huge page, once. */
	TEST_ASSERT(!fallocate(fd, FALLOC_FL_KEEP_SIZE, huge + 4096, 4096), "fallocate");
	TEST_ASSERT(!fallocate(fd, FALLOC_FL_KEEP_SIZE, huge, huge), "fallocate");
	want.free--;
	want.resv--;
	assert_pool(shift, &want, "after allocating one huge page");
	TEST_ASSERT_EQ(fd_st_blocks(fd), huge / 512);

	/* Part of a huge page: zeroed, not freed. */
	TEST_ASSERT(!fallocate(fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE,
			       huge + 8192, huge - 8192), "punch part");
	assert_pool(shift, &want, "after a partial punch");
	TEST_ASSERT_EQ(fd_st_blocks(fd), huge / 512);

	/* A punch over more than the page, and over a hole, frees the page. */
	TEST_ASSERT(!fallocate(fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE,
			       0, nr * huge), "punch all");
	want.free++;
	want.resv++;
	assert_pool(shift, &want, "after punching the whole file");
	TEST_ASSERT_EQ(fd_st_blocks(fd), 0);

	/* Allocated pages go back to the pool on close, and the rest of the reservation. */
	TEST_ASSERT(!fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, nr * huge), "fallocate all");
	want.free -= nr;
	want.resv -= nr;
	assert_pool(shift, &want, "after allocating the whole file");
	TEST_ASSERT_EQ(fd_st_blocks(fd), nr * huge / 512);
	close(fd);
	assert_pool(shift, &before, "after close");
}

static void assert_cg(unsigned int shift, uint64_t current, uint64_t rsvd, const char *when)
{
	hugetlb_cgroup_assert(CGROUP, BIT_ULL(shift), current, rsvd, when);
}

/*
 * A file is charged to the hugetlb cgroup of its creator: the whole file to
 * the reservation counter at creation, each huge page to the usage counter
 * when it is allocated; all of it goes with the file.  A cgroup that may not
 * reserve the whole file gets ENOMEM.
 */
static void test_cgroup(struct kvm_vm *vm, unsigned int shift)
{
	const uint64_t huge = BIT_ULL(shift);
	struct hugetlb_pool before;
	char max[32];
	int fd;

	read_pool(shift, &before);
	cgroup_create_hugetlb(CGROUP);
	cgroup_move_self(CGROUP);
	assert_cg(shift, 0, 0, "before");

	fd = __vm_create_guest_memfd_hugetlb(vm, 2 * huge, 0, shift);
	TEST_ASSERT(fd >= 0, "create: %s", strerror(errno));
	assert_cg(shift, 0, 2 * huge, "after creation");
	TEST_ASSERT(!fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 4096), "fallocate");
	assert_cg(shift, huge, 2 * huge, "after allocating one huge page");
	TEST_ASSERT(!fallocate(fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE, 0, huge),
		    "punch");
	assert_cg(shift, 0, 2 * huge, "after punching it");
	TEST_ASSERT(!fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 2 * huge), "fallocate");
	assert_cg(shift, 2 * huge, 2 * huge, "after allocating the file");
	close(fd);
	assert_cg(shift, 0, 0, "after close");

	/* Room for one page only. */
	snprintf(max, sizeof(max), "%lu", huge);
	hugetlb_cgroup_write(CGROUP, huge, "rsvd.max", max);
	fd = __vm_create_guest_memfd_hugetlb(vm, 2 * huge, 0, shift);
	TEST_ASSERT(fd < 0 && errno == ENOMEM, "a file over the cgroup's rsvd.max: %d (%s)",
		    fd, fd < 0 ? strerror(errno) : "created");
	assert_cg(shift, 0, 0, "after ENOMEM");
	assert_pool(shift, &before, "after the cgroup's ENOMEM");
	hugetlb_cgroup_write(CGROUP, huge, "rsvd.max", "max");

	cgroup_move_self(CGROUP_ROOT);
	TEST_ASSERT(!rmdir(CGROUP), "rmdir " CGROUP);
}

/*
 * A guest on one huge page of the file, bound at a gfn aligned like the
 * file offset, or misaligned by 4K when !@aligned.  Stage-2 levels are
 * checked as changes, so that other memory's mappings do not count.
 */
static void test_guest(unsigned int shift, bool aligned)
{
	const struct vm_shape shape = {
		.mode = VM_MODE_DEFAULT,
		.type = KVM_X86_SW_PROTECTED_VM,
	};
	const uint64_t huge = BIT_ULL(shift);
	/* Misaligned: the memslot starts 4K into the file. */
	const uint64_t offset = aligned ? 0 : 4096;
	const uint64_t size = huge - offset;
	const char *stat = kvm_stage2_stat_name(huge);
	const char *other = kvm_stage2_stat_name(shift >= 30 ? SZ_2M : SZ_1G);
	const uint64_t punch = align_down(size / 2, 4096);
	uint64_t mapped, mapped_other, last_zero, zeros;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	struct hugetlb_pool before, want;
	void *uaddr, *reserved;
	int fd;

	read_pool(shift, &before);
	vm = vm_create_shape_with_one_vcpu(shape, &vcpu, guest_code);

	fd = __vm_create_guest_memfd_hugetlb(vm, huge, 0, shift);
	TEST_ASSERT(fd >= 0, "create: %s", strerror(errno));

	/* userspace_addr is never touched (all private), but aligned like the gfn. */
	uaddr = gmem_reserve_aligned(huge, huge, &reserved);
	vm_set_user_memory_region2(vm, GMEM_SLOT, KVM_MEM_GUEST_MEMFD, GMEM_GPA, size,
				   uaddr, fd, offset);
	vm_mem_set_private(vm, GMEM_GPA, size);
	/* The guest's own page tables map 2M pages: fewer tables, same stage 2. */
	virt_map_level(vm, GMEM_GPA, GMEM_GPA, align_up(size, SZ_2M), PG_LEVEL_2M);
	vcpu_args_set(vcpu, 3, GMEM_GPA, size, 0x5eed0000ull + shift);

	run_guest(vcpu, 0, NULL);
	want = before;
	want.free--;
	assert_pool(shift, &want, "with the guest's memory allocated");
	zeros = run_guest(vcpu, 1, NULL);
	TEST_ASSERT_EQ(zeros, 0);

	/* A punch of one page zaps what maps it, and zeroes only that page. */
	mapped = vm_get_stat(vm, stat);
	mapped_other = vm_get_stat(vm, other);
	TEST_ASSERT(!fallocate(fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE,
			       offset + punch, 4096), "punch");
	TEST_ASSERT(mapped - vm_get_stat(vm, stat) == aligned,
		    "%s memslot: a punch took %s from %lu to %lu",
		    aligned ? "aligned" : "misaligned", stat, mapped, vm_get_stat(vm, stat));
	TEST_ASSERT_EQ(vm_get_stat(vm, other), mapped_other);
	assert_pool(shift, &want, "after punching one 4K page");

	zeros = run_guest(vcpu, 1, &last_zero);
	TEST_ASSERT(zeros == 1 && last_zero == punch,
		    "after punching page 0x%lx the guest saw %lu zero pages (last 0x%lx)",
		    punch, zeros, last_zero);
	TEST_ASSERT_EQ(vm_get_stat(vm, stat), mapped);

	kvm_vm_free(vm);
	close(fd);
	gmem_munmap_aligned(reserved, huge, huge);
	assert_pool(shift, &before, "after the VM and the file are gone");
}

FIXTURE(hugetlb) {
	struct kvm_vm *vm;
	unsigned long sizes;
	unsigned int shift;
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
	uint64_t huge = get_backing_src_pagesz(variant->backing);

	TEST_REQUIRE(kvm_check_cap(KVM_CAP_VM_TYPES) & BIT(KVM_X86_SW_PROTECTED_VM));
	TEST_REQUIRE(backing_src_guest_memfd_offered(variant->backing));
	TEST_REQUIRE(hugetlb_pool_unreserved(huge) >= 2);
	self->shift = backing_src_guest_memfd_log2(variant->backing);
	self->sizes = kvm_check_cap(KVM_CAP_GUEST_MEMFD_HUGETLB_SIZES);

	self->vm = vm_create_barebones_type(KVM_X86_SW_PROTECTED_VM);
	TEST_ASSERT(vm_check_cap(self->vm, KVM_CAP_GUEST_MEMFD_FLAGS) & GUEST_MEMFD_FLAG_HUGETLB,
		    "GUEST_MEMFD_FLAG_HUGETLB not offered");
	TEST_ASSERT_EQ(vm_check_cap(self->vm, KVM_CAP_GUEST_MEMFD_HUGETLB_SIZES), self->sizes);
}

/* In the harness's parent: the cgroup goes however the test ended. */
FIXTURE_TEARDOWN_PARENT(hugetlb)
{
	TEST_ASSERT(!__cgroup_remove(CGROUP), "rmdir " CGROUP);
}

TEST_F_TIMEOUT(hugetlb, invalid, 300)
{
	test_invalid(self->vm, self->shift, self->sizes);
}

TEST_F_TIMEOUT(hugetlb, exhaustion, 300)
{
	test_exhaustion(self->vm, self->shift);
}

TEST_F_TIMEOUT(hugetlb, accounting, 300)
{
	test_accounting(self->vm, self->shift);
}

TEST_F_TIMEOUT(hugetlb, cgroup, 300)
{
	test_cgroup(self->vm, self->shift);
}

TEST_F_TIMEOUT(hugetlb, guest_aligned, 300)
{
	test_guest(self->shift, true);
}

TEST_F_TIMEOUT(hugetlb, guest_misaligned, 300)
{
	test_guest(self->shift, false);
}

KVM_BACKING_HARNESS_MAIN
