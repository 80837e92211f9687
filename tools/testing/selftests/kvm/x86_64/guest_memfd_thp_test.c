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
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <linux/sizes.h>

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
#define THP_ENABLED	"/sys/kernel/mm/transparent_hugepage/enabled"
#define FAIL_DIR	"/sys/kernel/debug/fail_page_alloc/"

static void write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);

	TEST_ASSERT(fd >= 0, "open %s", path);
	TEST_ASSERT(write(fd, val, strlen(val)) == strlen(val), "write %s to %s", val, path);
	close(fd);
}

/* The value of @key in a "key value" file (/proc/vmstat, /proc/meminfo). */
static uint64_t read_key(const char *path, const char *key)
{
	FILE *f = fopen(path, "r");
	char name[64];
	uint64_t val;

	TEST_ASSERT(f, "open %s", path);
	while (fscanf(f, "%63s %lu%*[^\n]", name, &val) == 2) {
		if (!strcmp(name, key)) {
			fclose(f);
			return val;
		}
	}
	TEST_FAIL("no %s in %s", key, path);
	return 0;
}

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
	return read_key("/proc/meminfo", "MemFree:") + pcp * 4;
}

static void read_counts(struct counts *c)
{
	c->allocs = read_key("/proc/vmstat", "thp_gmem_alloc");
	c->fallbacks = read_key("/proc/vmstat", "thp_gmem_fallback");
	c->vm_allocs = read_key("/proc/vmstat", "thp_file_alloc");
	c->vm_fallbacks = read_key("/proc/vmstat", "thp_file_fallback");
	c->file_huge_kb = read_key("/proc/meminfo", "FileHugePages:");
	c->free_kb = free_kb();
}

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
	/* In-place conversion splits THPs (guest_memfd_hugetlb_conversion_test -t). */
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

/* Every allocation of order 9 or more by this task fails. */
static void fail_huge_allocations(bool on)
{
	char path[64];

	if (on) {
		write_file(FAIL_DIR "min-order", "9");
		write_file(FAIL_DIR "verbose", "0");
		write_file(FAIL_DIR "ignore-gfp-wait", "N");
		write_file(FAIL_DIR "ignore-gfp-highmem", "N");
		write_file(FAIL_DIR "task-filter", "Y");
		write_file(FAIL_DIR "interval", "1");
		write_file(FAIL_DIR "times", "-1");
		write_file(FAIL_DIR "probability", "100");
	} else {
		write_file(FAIL_DIR "probability", "0");
		write_file(FAIL_DIR "min-order", "1");
	}
	snprintf(path, sizeof(path), "/proc/%d/make-it-fail", getpid());
	write_file(path, on ? "1" : "0");
}

static void test_guest(enum mode mode)
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
	void *uaddr;
	int fd;

	ksft_print_msg("%s\n", mode_names[mode]);
	write_file(THP_ENABLED, mode == THP_NEVER ? "never" : "madvise");
	read_counts(&before);

	vm = vm_create_shape_with_one_vcpu(shape, &vcpu, guest_code);
	fd = create_thp(vm, FILE_SIZE, 0, 21);
	TEST_ASSERT(fd >= 0, "create: %s", strerror(errno));
	/* KVM maps huge only where userspace_addr is aligned like the gfn. */
	uaddr = mmap(NULL, FILE_SIZE + SZ_2M, PROT_NONE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	TEST_ASSERT(uaddr != MAP_FAILED, "mmap");
	vm_set_user_memory_region2(vm, GMEM_SLOT, KVM_MEM_GUEST_MEMFD, GMEM_GPA, FILE_SIZE,
				   (void *)align_up((uint64_t)uaddr, SZ_2M), fd, 0);
	vm_mem_set_private(vm, GMEM_GPA, FILE_SIZE);
	virt_map_level(vm, GMEM_GPA, GMEM_GPA, NR_THP * SZ_2M, PG_LEVEL_2M);
	virt_map(vm, GMEM_GPA + NR_THP * SZ_2M, GMEM_GPA + NR_THP * SZ_2M, 1);
	vcpu_args_set(vcpu, 3, GMEM_GPA, FILE_SIZE, 0x5eed7000ull + mode);

	if (mode == NO_FREE_2M)
		fail_huge_allocations(true);
	run_guest(vcpu, 0, NULL);
	if (mode == NO_FREE_2M)
		fail_huge_allocations(false);

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
	munmap(uaddr, FILE_SIZE + SZ_2M);
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

int main(int argc, char *argv[])
{
	char enabled[64] = "", *l, *r;
	struct kvm_vm *vm;
	unsigned long sizes;
	FILE *f;

	TEST_REQUIRE(kvm_check_cap(KVM_CAP_VM_TYPES) & BIT(KVM_X86_SW_PROTECTED_VM));
	sizes = kvm_check_cap(KVM_CAP_GUEST_MEMFD_THP_SIZES);
	TEST_ASSERT_EQ(sizes, BIT(21));

	vm = vm_create_barebones_type(KVM_X86_SW_PROTECTED_VM);
	TEST_ASSERT_EQ(vm_check_cap(vm, KVM_CAP_GUEST_MEMFD_THP_SIZES), sizes);
	test_invalid(vm);
	kvm_vm_free(vm);

	/* The setting as it was: the bracketed word of "always [madvise] never". */
	f = fopen(THP_ENABLED, "r");
	TEST_ASSERT(f && fgets(enabled, sizeof(enabled), f), "read %s", THP_ENABLED);
	fclose(f);
	l = strchr(enabled, '[');
	r = l ? strchr(l, ']') : NULL;
	TEST_ASSERT(r, "%s reads %s", THP_ENABLED, enabled);
	*r = 0;

	test_guest(THP_ON);
	test_guest(THP_NEVER);
	test_guest(NO_FREE_2M);

	write_file(THP_ENABLED, l + 1);
	return 0;
}
