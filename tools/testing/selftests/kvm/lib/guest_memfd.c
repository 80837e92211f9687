// SPDX-License-Identifier: GPL-2.0
/*
 * guest_memfd backings: see include/guest_memfd.h.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "guest_memfd.h"

uint64_t backing_src_guest_memfd_flags(enum vm_mem_backing_src_type t)
{
	TEST_ASSERT(backing_src_is_guest_memfd(t), "%s is no guest_memfd backing",
		    vm_mem_backing_src_alias(t)->name);
	return backing_src_is_guest_memfd_hugetlb(t) ? GUEST_MEMFD_FLAG_HUGETLB : 0;
}

/* huge_page_size_log2 of the backing's files: 0 for 4K pages. */
uint8_t backing_src_guest_memfd_log2(enum vm_mem_backing_src_type t)
{
	TEST_ASSERT(backing_src_is_guest_memfd(t), "%s is no guest_memfd backing",
		    vm_mem_backing_src_alias(t)->name);
	return t == VM_MEM_SRC_GUEST_MEMFD ? 0 : __builtin_ctzl(get_backing_src_pagesz(t));
}

bool backing_src_is_guest_memfd_hugetlb(enum vm_mem_backing_src_type t)
{
	return t == VM_MEM_SRC_GUEST_MEMFD_HUGETLB_2MB || t == VM_MEM_SRC_GUEST_MEMFD_HUGETLB_1GB;
}

/* KVM offers the backing's page size (a pool may still be short). */
bool backing_src_guest_memfd_offered(enum vm_mem_backing_src_type t)
{
	if (!kvm_has_cap(KVM_CAP_GUEST_MEMFD))
		return false;
	if (backing_src_is_guest_memfd_hugetlb(t))
		return (kvm_check_cap(KVM_CAP_GUEST_MEMFD_FLAGS) & GUEST_MEMFD_FLAG_HUGETLB) &&
		       (kvm_check_cap(KVM_CAP_GUEST_MEMFD_HUGETLB_SIZES) &
			get_backing_src_pagesz(t));
	/* Without THP in the kernel, its page size cannot even be read. */
	if (t == VM_MEM_SRC_GUEST_MEMFD_THP)
		return thp_configured() &&
		       (kvm_check_cap(KVM_CAP_GUEST_MEMFD_THP_SIZES) & get_backing_src_pagesz(t));
	return t == VM_MEM_SRC_GUEST_MEMFD;
}

/* A file of the backing's pages, with @flags besides the backing's own. */
int __vm_create_guest_memfd_backing(struct kvm_vm *vm, enum vm_mem_backing_src_type t,
				    uint64_t size, uint64_t flags)
{
	struct kvm_create_guest_memfd args = {
		.size = size,
		.flags = flags | backing_src_guest_memfd_flags(t),
		.huge_page_size_log2 = backing_src_guest_memfd_log2(t),
	};

	return __vm_ioctl(vm, KVM_CREATE_GUEST_MEMFD, &args);
}

int vm_create_guest_memfd_backing(struct kvm_vm *vm, enum vm_mem_backing_src_type t,
				  uint64_t size, uint64_t flags)
{
	int fd = __vm_create_guest_memfd_backing(vm, t, size, flags);

	TEST_ASSERT(fd >= 0, KVM_IOCTL_ERROR(KVM_CREATE_GUEST_MEMFD, fd));
	return fd;
}

/*
 * A file of the backing's pages created with @flags | GUEST_MEMFD_FLAG_MMAP,
 * mapped MAP_SHARED at *@mem and bound at @gpa as memslot @slot with that
 * mapping as its shared side: private and shared convert in place.
 */
int vm_create_guest_memfd_backing_in_place(struct kvm_vm *vm, enum vm_mem_backing_src_type t,
					   uint32_t slot, uint64_t gpa, uint64_t size,
					   uint64_t flags, void **mem)
{
	int fd = vm_create_guest_memfd_backing(vm, t, size, flags | GUEST_MEMFD_FLAG_MMAP);

	*mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	TEST_ASSERT(*mem != MAP_FAILED, __KVM_SYSCALL_ERROR("mmap()", -1));
	vm_set_user_memory_region2(vm, slot, KVM_MEM_GUEST_MEMFD, gpa, size, *mem, fd, 0);
	return fd;
}

/*
 * A file of @file_pages 4K pages on the backing's pages, created shared and
 * in place, whose first @nr_pages the guest sees at virtual address @gpa as
 * well; the pages past them, there only to fill out a huge page, are made
 * private.
 */
int vm_map_guest_memfd_backing(struct kvm_vm *vm, enum vm_mem_backing_src_type t,
			       uint32_t slot, uint64_t gpa, uint64_t nr_pages,
			       uint64_t file_pages, void **mem)
{
	uint64_t page_size = getpagesize();
	int fd;

	fd = vm_create_guest_memfd_backing_in_place(vm, t, slot, gpa, file_pages * page_size,
						    GUEST_MEMFD_FLAG_INIT_SHARED, mem);
	if (file_pages > nr_pages)
		gmem_set_memory_attributes2(fd, nr_pages * page_size,
					    (file_pages - nr_pages) * page_size,
					    KVM_MEMORY_ATTRIBUTE_PRIVATE, 0);
	virt_map(vm, gpa, gpa, nr_pages);
	return fd;
}

/*
 * @size bytes of address space at an @align-aligned address, inaccessible:
 * KVM maps huge only where userspace_addr is aligned like the gfn.
 * *@reserved is what gmem_munmap_aligned() takes.
 */
void *gmem_reserve_aligned(uint64_t size, uint64_t align, void **reserved)
{
	*reserved = mmap(NULL, size + align, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	TEST_ASSERT(*reserved != MAP_FAILED, "mmap: %s", strerror(errno));
	return (void *)align_up((uint64_t)*reserved, align);
}

/* The guest_memfd @fd mapped shared at an @align-aligned address. */
void *gmem_mmap_aligned(int fd, uint64_t size, uint64_t align, void **reserved)
{
	void *aligned = gmem_reserve_aligned(size, align, reserved);
	void *mem;

	mem = mmap(aligned, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
	TEST_ASSERT(mem == aligned, "mmap of the guest_memfd: %s", strerror(errno));
	return mem;
}

void gmem_munmap_aligned(void *reserved, uint64_t size, uint64_t align)
{
	munmap(reserved, size + align);
}

/*
 * Faults [@addr, @addr + @size) of a guest_memfd mapping in with @advice
 * (MADV_POPULATE_READ or _WRITE): 0, or the errno.  A private page raises
 * SIGBUS, which MADV_POPULATE_* report as EFAULT.
 */
int gmem_host_fault(void *addr, size_t size, int advice)
{
	return madvise(addr, size, advice) ? errno : 0;
}

/* Whether the host can fault the range in: false if private (EFAULT). */
bool gmem_host_can_fault(void *addr, size_t size, int advice)
{
	int err = gmem_host_fault(addr, size, advice);

	TEST_ASSERT(!err || err == EFAULT, "faulting %p+0x%lx in: %s", addr, size,
		    strerror(err));
	return !err;
}

/*
 * The one reader of hugetlb_gmem's and thp_gmem's vm events: the value of
 * hugetlb_gmem_@name or thp_gmem_@name in /proc/vmstat, asserted present.
 */
uint64_t gmem_huge_stat(enum vm_mem_backing_src_type t, const char *name)
{
	const bool thp = t == VM_MEM_SRC_GUEST_MEMFD_THP;
	char key[64];

	TEST_ASSERT(thp || backing_src_is_guest_memfd_hugetlb(t),
		    "%s has no huge page counters", vm_mem_backing_src_alias(t)->name);
	snprintf(key, sizeof(key), "%s_gmem_%s", thp ? "thp" : "hugetlb", name);
	return read_file_key_u64("/proc/vmstat", key);
}

void gmem_huge_stats_read(enum vm_mem_backing_src_type t, struct gmem_huge_stats *s)
{
	const bool thp = t == VM_MEM_SRC_GUEST_MEMFD_THP;
	const struct {
		const char *name;
		uint64_t *val;
		bool hugetlb, thp;
	} fields[] = {
		{ "split", &s->splits, true, true },
		{ "merge", &s->merges, true, true },
		{ "vmemmap_restore", &s->vmemmap_restores, true, false },
		{ "vmemmap_optimize", &s->vmemmap_optimizes, true, false },
		{ "dissolve", &s->dissolves, true, false },
		{ "split_poisoned", &s->poisoned_splits, true, false },
		{ "merge_poisoned", &s->poisoned_merges_skipped, true, true },
		{ "alloc", &s->allocs, false, true },
		{ "fallback", &s->fallbacks, false, true },
		{ "split_piece", &s->split_pieces, true, false },
		{ "merge_piece", &s->merge_pieces, true, false },
		{ "vmemmap_restore_piece", &s->vmemmap_piece_restores, true, false },
		{ "vmemmap_optimize_piece", &s->vmemmap_piece_optimizes, true, false },
	};
	int i;

	memset(s, 0, sizeof(*s));
	for (i = 0; i < ARRAY_SIZE(fields); i++)
		if (thp ? fields[i].thp : fields[i].hugetlb)
			*fields[i].val = gmem_huge_stat(t, fields[i].name);
}

/* KVM's VM statistic of stage-2 mappings of @page_size. */
const char *kvm_stage2_stat_name(uint64_t page_size)
{
	switch (page_size) {
	case 1ULL << 12:
		return "pages_4k";
	case 1ULL << 21:
		return "pages_2m";
	case 1ULL << 30:
		return "pages_1g";
	}
	TEST_FAIL("no stage-2 statistic for pages of 0x%lx bytes", page_size);
	return NULL;
}
