/* SPDX-License-Identifier: GPL-2.0 */
/*
 * guest_memfd backings (VM_MEM_SRC_GUEST_MEMFD*): the flags and page size
 * of each, whether KVM offers it, files created and mapped on it, the
 * host's view of their pages, and the huge page counters of the HugeTLB
 * and THP backings.
 */
#ifndef SELFTEST_KVM_GUEST_MEMFD_H
#define SELFTEST_KVM_GUEST_MEMFD_H

#include "kvm_util.h"
#include "test_util.h"

uint64_t backing_src_guest_memfd_flags(enum vm_mem_backing_src_type t);
uint8_t backing_src_guest_memfd_log2(enum vm_mem_backing_src_type t);
bool backing_src_is_guest_memfd_hugetlb(enum vm_mem_backing_src_type t);
bool backing_src_guest_memfd_offered(enum vm_mem_backing_src_type t);

int __vm_create_guest_memfd_backing(struct kvm_vm *vm, enum vm_mem_backing_src_type t,
				    uint64_t size, uint64_t flags);
int vm_create_guest_memfd_backing(struct kvm_vm *vm, enum vm_mem_backing_src_type t,
				  uint64_t size, uint64_t flags);
int vm_create_guest_memfd_backing_in_place(struct kvm_vm *vm, enum vm_mem_backing_src_type t,
					   uint32_t slot, uint64_t gpa, uint64_t size,
					   uint64_t flags, void **mem);
int vm_map_guest_memfd_backing(struct kvm_vm *vm, enum vm_mem_backing_src_type t,
			       uint32_t slot, uint64_t gpa, uint64_t nr_pages,
			       uint64_t file_pages, void **mem);

void *gmem_mmap_aligned(int fd, uint64_t size, uint64_t align, void **reserved);
void *gmem_reserve_aligned(uint64_t size, uint64_t align, void **reserved);
void gmem_munmap_aligned(void *reserved, uint64_t size, uint64_t align);

int gmem_host_fault(void *addr, size_t size, int advice);
bool gmem_host_can_fault(void *addr, size_t size, int advice);

/*
 * Vm events of hugetlb_gmem (HugeTLB backings) or thp_gmem (THP) in
 * /proc/vmstat; those a backing does not count read 0.
 */
struct gmem_huge_stats {
	uint64_t splits, merges, vmemmap_restores, vmemmap_optimizes, dissolves;
	uint64_t poisoned_splits, poisoned_merges_skipped, allocs, fallbacks;
	/* The 2M pieces of 1G pages split into 4K pages, and merged back. */
	uint64_t split_pieces, merge_pieces;
	/* The 2M pieces whose optimized vmemmap was restored, and redone. */
	uint64_t vmemmap_piece_restores, vmemmap_piece_optimizes;
};

uint64_t gmem_huge_stat(enum vm_mem_backing_src_type t, const char *name);
void gmem_huge_stats_read(enum vm_mem_backing_src_type t, struct gmem_huge_stats *s);

const char *kvm_stage2_stat_name(uint64_t page_size);

#endif /* SELFTEST_KVM_GUEST_MEMFD_H */
