// SPDX-License-Identifier: GPL-2.0
/*
 * Guest memory: one memslot of RAM at guest physical 0, on guest_memfd or on
 * anonymous memory, and the conversions through which the loader writes it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "gmem_vmm.h"

#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB	(21 << MAP_HUGE_SHIFT)
#define MAP_HUGE_1GB	(30 << MAP_HUGE_SHIFT)
#endif

const struct backing backings[] = {
	{ "gmem-4k", true,  12, "guest_memfd, 4K pages", false },
	{ "gmem-2m", true,  21, "guest_memfd, HugeTLB 2M pages", false },
	{ "gmem-1g", true,  30, "guest_memfd, HugeTLB 1G pages", false },
	{ "gmem-thp", true, 21, "guest_memfd, transparent huge pages (2M)", true },
	{ "gmem-4k-shared", true, 12, "guest_memfd all shared, 4K pages", false, true },
	{ "gmem-2m-shared", true, 21, "guest_memfd all shared, HugeTLB 2M pages", false, true },
	{ "gmem-1g-shared", true, 30, "guest_memfd all shared, HugeTLB 1G pages", false, true },
	{ "gmem-thp-shared", true, 21, "guest_memfd all shared, transparent huge pages",
	  true, true },
	{ "anon",    false, 12, "anonymous memory, 4K pages", false },
	{ "anon-2m", false, 21, "anonymous memory, HugeTLB 2M pages", false },
	{ "anon-1g", false, 30, "anonymous memory, HugeTLB 1G pages", false },
};

const size_t nr_backings = ARRAY_SIZE(backings);

const struct backing *find_backing(const char *name)
{
	size_t i;

	for (i = 0; i < nr_backings; i++)
		if (!strcmp(name, backings[i].name))
			return &backings[i];
	return NULL;
}

/* Free pages of the pool with pages of 1 << @shift, or -1 if none. */
static long pool_free(unsigned int shift)
{
	char path[128];
	long n = -1;
	FILE *f;

	snprintf(path, sizeof(path),
		 "/sys/kernel/mm/hugepages/hugepages-%llukB/free_hugepages",
		 (1ULL << shift) >> 10);
	f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%ld", &n) != 1)
			n = -1;
		fclose(f);
	}
	return n;
}

void check_pool(const struct backing *b, uint64_t ram)
{
	long need = ram >> b->page_shift, have;

	if (b->page_shift == 12 || b->thp)
		return;
	have = pool_free(b->page_shift);
	if (have < 0)
		die("backing %s: the host has no %lluM HugeTLB pool (boot with hugepagesz=%s hugepages=N, or hugeadm --pool-pages-min)",
		    b->name, (1ULL << b->page_shift) / MIB,
		    b->page_shift == 30 ? "1G" : "2M");
	if (have < need)
		die("backing %s: the %lluM HugeTLB pool has %ld free pages, the guest's %llu MiB need %ld (hugeadm --pool-pages-min %s:+%ld)",
		    b->name, (1ULL << b->page_shift) / MIB, have,
		    (unsigned long long)(ram / MIB), need,
		    b->page_shift == 30 ? "1G" : "2M", need - have);
}

/*
 * Convert in place, keeping the contents; returns the time it took.  EAGAIN
 * (a page held for a moment, as by a vCPU's fault on it) is retried for up
 * to 10 s.
 */
uint64_t set_private(struct vm *vm, uint64_t gpa, uint64_t size, bool private)
{
	struct kvm_memory_attributes2 attr = {
		.offset = gpa,
		.size = size,
		.attributes = private ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0,
		.flags = KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE,
	};
	uint64_t t = now_ns();

	while (ioctl(vm->gmem, KVM_SET_MEMORY_ATTRIBUTES2, &attr)) {
		if (errno == EAGAIN && now_ns() - t < 10000000000ULL) {
			usleep(100);
			continue;
		}
		die("KVM_SET_MEMORY_ATTRIBUTES2 [%#llx, +%#llx) to %s: %s (error_offset %#llx)",
		    (unsigned long long)gpa, (unsigned long long)size,
		    private ? "private" : "shared", strerror(errno),
		    (unsigned long long)attr.error_offset);
	}
	return now_ns() - t;
}

/* The loader's conversions, counted for the report. */
static void convert(struct vm *vm, uint64_t gpa, uint64_t size, bool private)
{
	vm->convert_ns += set_private(vm, gpa, size, private);
	vm->conversions++;
}

/*
 * An address for the RAM aligned to its page size: KVM maps a huge page
 * only where guest and host addresses are aligned alike.
 */
static void *aligned_hole(uint64_t size, unsigned int shift)
{
	uint64_t align = 1ULL << shift;
	char *p = mmap(NULL, size + align, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	uintptr_t start;

	if (p == MAP_FAILED)
		die_errno("mmap of an address range for guest RAM");
	start = ((uintptr_t)p + align - 1) & ~(align - 1);
	if (start > (uintptr_t)p)
		munmap(p, start - (uintptr_t)p);
	munmap((void *)(start + size), (uintptr_t)p + align - start);
	return (void *)start;
}

void create_ram(struct vm *vm)
{
	const struct backing *b = vm->b;
	struct kvm_userspace_memory_region2 region = {
		.slot = 0,
		.guest_phys_addr = 0,
		.memory_size = vm->ram,
	};

	if (b->gmem) {
		struct kvm_create_guest_memfd gmem = {
			.size = vm->ram,
			.flags = GUEST_MEMFD_FLAG_MMAP,
		};

		if (b->page_shift != 12) {
			if (!b->thp)
				gmem.flags |= GUEST_MEMFD_FLAG_HUGETLB;
			gmem.huge_page_size_log2 = b->page_shift;
		}
		if (b->shared)
			gmem.flags |= GUEST_MEMFD_FLAG_INIT_SHARED;
		vm->gmem = ioctl(vm->fd, KVM_CREATE_GUEST_MEMFD, &gmem);
		if (vm->gmem < 0)
			die_errno("KVM_CREATE_GUEST_MEMFD");
		vm->mem = mmap(aligned_hole(vm->ram, b->page_shift), vm->ram,
			       PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
			       vm->gmem, 0);
		region.flags = KVM_MEM_GUEST_MEMFD;
		region.guest_memfd = vm->gmem;
	} else {
		int flags = MAP_PRIVATE | MAP_ANONYMOUS;

		if (b->page_shift == 21)
			flags |= MAP_HUGETLB | MAP_HUGE_2MB;
		else if (b->page_shift == 30)
			flags |= MAP_HUGETLB | MAP_HUGE_1GB;
		vm->gmem = -1;
		vm->mem = mmap(aligned_hole(vm->ram, b->page_shift), vm->ram,
			       PROT_READ | PROT_WRITE, flags | MAP_FIXED, -1, 0);
	}
	if (vm->mem == MAP_FAILED)
		die_errno("mmap of guest RAM");
	region.userspace_addr = (uintptr_t)vm->mem;
	if (ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION2, &region))
		die_errno("KVM_SET_USER_MEMORY_REGION2");
}

/*
 * Make [gpa, gpa + size) writable by the loader: shared, on guest_memfd
 * whose RAM starts private.
 */
void *load_range(struct vm *vm, uint64_t gpa, uint64_t size)
{
	uint64_t start = gpa & ~(PAGE - 1);
	uint64_t end = (gpa + size + PAGE - 1) & ~(PAGE - 1);

	if (end > vm->ram)
		die("the image does not fit: [%#llx, %#llx) is past the guest's %llu MiB of RAM (-s)",
		    (unsigned long long)gpa, (unsigned long long)(gpa + size),
		    (unsigned long long)(vm->ram / MIB));
	if (vm->nr_ranges == (int)ARRAY_SIZE(vm->ranges))
		die("too many load ranges");
	vm->ranges[vm->nr_ranges].gpa = start;
	vm->ranges[vm->nr_ranges].size = end - start;
	vm->nr_ranges++;
	if (vm->b->gmem && !vm->b->shared)
		convert(vm, start, end - start, false);
	return vm->mem + gpa;
}

/* Back to private, PRESERVE: on HugeTLB pages the last one merges. */
void seal_ranges(struct vm *vm)
{
	int i;

	if (!vm->b->gmem || vm->b->shared)
		return;
	for (i = 0; i < vm->nr_ranges; i++)
		convert(vm, vm->ranges[i].gpa, vm->ranges[i].size, true);
}
