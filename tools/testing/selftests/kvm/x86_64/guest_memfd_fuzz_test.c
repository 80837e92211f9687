// SPDX-License-Identifier: GPL-2.0
/*
 * Invalid-input fuzzing of the guest_memfd uAPI this series adds, seeded:
 *
 *  - KVM_CREATE_GUEST_MEMFD with sizes, flags, huge_page_size_log2, pad
 *    and reserved fields drawn from valid and invalid values: EINVAL
 *    exactly where Documentation/virt/kvm/api.rst says, else a file (or
 *    ENOMEM, for a HugeTLB pool that cannot reserve it all), which is
 *    closed at once.  The HugeTLB pools must not move.
 *  - KVM_SET_MEMORY_ATTRIBUTES2 with offsets, sizes, attributes, flags and
 *    reserved fields drawn likewise, on a 4K, a HugeTLB 2M and a THP file:
 *    EINVAL exactly where the rules say, with nothing changed; success
 *    otherwise.  A model of every page's state is checked through the host
 *    mapping (a private page cannot be faulted in) after every call.
 *  - Wrong files: KVM_SET_MEMORY_ATTRIBUTES2 on a VM, a vCPU, /dev/null, a
 *    memfd (ENOTTY or EINVAL: not a guest_memfd), a closed fd (EBADF), and
 *    a guest_memfd without GUEST_MEMFD_FLAG_MMAP (EINVAL); mmap() of such
 *    a file (ENODEV), a MAP_PRIVATE mapping (EINVAL); a memslot on another
 *    VM's guest_memfd (EINVAL).
 *  - A memslot on the file added and deleted over and over by one thread
 *    while another converts the file: every conversion succeeds.
 *
 * Each of those is a scenario of its own, a TAP result, in a child process
 * (the conversion fuzzing and the memslot race once per file); the HugeTLB
 * pools must be as they were at the end of each.  Every run prints its
 * seed; "-r SEED" replays it (each scenario draws from a generator seeded
 * with it and the scenario's number), "-n N" sets the number of calls of
 * each kind.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <linux/sizes.h>

#include "guest_memfd.h"
#include "hugepage_util.h"
#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"

#define FILE_SIZE	(4 * SZ_2M)
#define FILE_PAGES	(FILE_SIZE / 4096)
#define SLOT		10
#define SLOT_GPA	BIT_ULL(32)

static uint64_t rng_state;

static uint64_t rnd64(void)
{
	/* xorshift64*: the same sequence for the same seed, everywhere. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static uint64_t rnd(uint64_t n)
{
	return rnd64() % n;
}

static uint64_t pick(const uint64_t *values, size_t n)
{
	/* One in eight: any 64-bit value at all. */
	return rnd(8) ? values[rnd(n)] : rnd64();
}

static uint64_t supported_flags, hugetlb_sizes, thp_sizes;

/* free and reserved 2M pages: must not move. */
static void read_pool(uint64_t *free, uint64_t *rsvd)
{
	struct hugetlb_pool p;

	hugetlb_pool_read(SZ_2M, &p);
	*free = p.free;
	*rsvd = p.resv;
}

/* What api.rst says KVM_CREATE_GUEST_MEMFD does with @args: valid or not. */
static bool create_valid(const struct kvm_create_guest_memfd *args)
{
	uint8_t log2 = args->huge_page_size_log2;
	int i;

	for (i = 0; i < ARRAY_SIZE(args->pad); i++)
		if (args->pad[i])
			return false;
	for (i = 0; i < ARRAY_SIZE(args->reserved); i++)
		if (args->reserved[i])
			return false;
	if (args->flags & ~supported_flags)
		return false;
	if (!args->size || (int64_t)args->size < 0 || args->size % 4096)
		return false;
	if (args->flags & GUEST_MEMFD_FLAG_HUGETLB)
		return log2 && log2 < 64 && (hugetlb_sizes & (1ULL << log2)) &&
		       !(args->size % (1ULL << log2));
	return !log2 || (log2 < 64 && (thp_sizes & (1ULL << log2)));
}

static void fuzz_create(struct kvm_vm *vm, int n)
{
	static const uint64_t sizes[] = {
		0, 1, 4095, 4096, 8192, SZ_2M - 4096, SZ_2M, SZ_2M + 4096, 4 * SZ_2M,
		1ULL << 30, (1ULL << 30) + SZ_2M, 1ULL << 40, 1ULL << 63, ~0ULL,
	};
	static const uint64_t logs[] = { 0, 0, 12, 20, 21, 21, 22, 30, 30, 31, 63, 64, 255 };
	static const uint64_t flag_bits[] = {
		0, GUEST_MEMFD_FLAG_MMAP, GUEST_MEMFD_FLAG_INIT_SHARED, 1ULL << 2,
		GUEST_MEMFD_FLAG_HUGETLB, 1ULL << 4, 1ULL << 63,
	};
	uint64_t free0, rsvd0, free1, rsvd1, made = 0, einval = 0, enomem = 0;
	int i, j, fd;

	read_pool(&free0, &rsvd0);
	for (i = 0; i < n; i++) {
		struct kvm_create_guest_memfd args = {
			.size = pick(sizes, ARRAY_SIZE(sizes)),
			.huge_page_size_log2 = pick(logs, ARRAY_SIZE(logs)),
		};
		bool valid;

		for (j = rnd(4); j > 0; j--)
			args.flags |= pick(flag_bits, ARRAY_SIZE(flag_bits));
		if (!rnd(16))
			args.pad[rnd(ARRAY_SIZE(args.pad))] = 1 + rnd(255);
		if (!rnd(16))
			args.reserved[rnd(ARRAY_SIZE(args.reserved))] = rnd64() | 1;
		valid = create_valid(&args);

		fd = __vm_ioctl(vm, KVM_CREATE_GUEST_MEMFD, &args);
		if (fd >= 0) {
			TEST_ASSERT(valid,
				    "create #%d: size 0x%llx flags 0x%llx log2 %u: a file, not EINVAL",
				    i, args.size, args.flags, args.huge_page_size_log2);
			close(fd);
			made++;
			continue;
		}
		if (errno == ENOMEM && valid && (args.flags & GUEST_MEMFD_FLAG_HUGETLB)) {
			enomem++;
			continue;
		}
		TEST_ASSERT(errno == EINVAL && !valid,
			    "create #%d: size 0x%llx flags 0x%llx log2 %u: %s, want %s",
			    i, args.size, args.flags, args.huge_page_size_log2, strerror(errno),
			    valid ? "a file" : "EINVAL");
		einval++;
	}
	read_pool(&free1, &rsvd1);
	TEST_ASSERT(free0 == free1 && rsvd0 == rsvd1,
		    "2M pool free/rsvd %lu/%lu, was %lu/%lu", free1, rsvd1, free0, rsvd0);
	pr_info("create: %lu files, %lu EINVAL, %lu ENOMEM\n", made, einval, enomem);
}

struct gmem_file {
	const char *name;
	int fd;
	char *mem;
	bool private[FILE_PAGES];
};

static void open_file(struct gmem_file *f, struct kvm_vm *vm, enum vm_mem_backing_src_type t)
{
	f->name = vm_mem_backing_src_alias(t)->name;
	f->fd = vm_create_guest_memfd_backing(vm, t, FILE_SIZE, GUEST_MEMFD_FLAG_MMAP |
					      GUEST_MEMFD_FLAG_INIT_SHARED);
	f->mem = mmap(NULL, FILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd, 0);
	TEST_ASSERT(f->mem != MAP_FAILED, "mmap %s", f->name);
	memset(f->private, 0, sizeof(f->private));
}

static void close_file(struct gmem_file *f)
{
	munmap(f->mem, FILE_SIZE);
	close(f->fd);
}

/* The host can fault a page in exactly where it is shared. */
static void check_page(struct gmem_file *f, uint64_t page, const char *when)
{
	int r = gmem_host_fault(f->mem + page * 4096, 4096, MADV_POPULATE_READ);

	TEST_ASSERT(!r == !f->private[page] && (!r || r == EFAULT),
		    "%s page %lu %s: want %s, fault-in %s", f->name, page, when,
		    f->private[page] ? "private" : "shared", r ? strerror(r) : "worked");
}

/* The first and last page of the range, and a few in between. */
static void check_pages(struct gmem_file *f, const char *when)
{
	int k;

	check_page(f, 0, when);
	check_page(f, FILE_PAGES - 1, when);
	for (k = 0; k < 6; k++)
		check_page(f, rnd(FILE_PAGES), when);
}

static bool convert_valid(const struct kvm_memory_attributes2 *a)
{
	const uint64_t content = KVM_SET_MEMORY_ATTRIBUTES2_ZERO |
				 KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE;
	int i;

	for (i = 0; i < ARRAY_SIZE(a->reserved); i++)
		if (a->reserved[i])
			return false;
	if (!a->size || a->offset % 4096 || a->size % 4096)
		return false;
	if (a->offset + a->size < a->offset || a->offset + a->size > FILE_SIZE)
		return false;
	if (a->attributes & ~KVM_MEMORY_ATTRIBUTE_PRIVATE)
		return false;
	return !(a->flags & ~content) && (a->flags & content) != content;
}

static void fuzz_convert(struct gmem_file *f, int n)
{
	static const uint64_t offsets[] = {
		0, 4096, 1, 4095, SZ_2M - 4096, SZ_2M, SZ_2M + 4096, FILE_SIZE - 4096,
		FILE_SIZE, FILE_SIZE + 4096, 1ULL << 63, ~0ULL - 4095,
	};
	static const uint64_t sizes[] = {
		0, 1, 4096, 8192, 4097, SZ_2M, SZ_2M - 4096, 2 * SZ_2M, FILE_SIZE,
		FILE_SIZE + 4096, ~0ULL - 4095, 1ULL << 63,
	};
	static const uint64_t attrs[] = { 0, KVM_MEMORY_ATTRIBUTE_PRIVATE, 1, 1ULL << 63 };
	static const uint64_t flags[] = {
		0, KVM_SET_MEMORY_ATTRIBUTES2_ZERO, KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE,
		KVM_SET_MEMORY_ATTRIBUTES2_ZERO | KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE,
		1ULL << 2, 1ULL << 63,
	};
	uint64_t ok = 0, einval = 0, page;
	int i, r;

	for (i = 0; i < n; i++) {
		struct kvm_memory_attributes2 a = {
			.offset = pick(offsets, ARRAY_SIZE(offsets)),
			.size = pick(sizes, ARRAY_SIZE(sizes)),
			.attributes = pick(attrs, ARRAY_SIZE(attrs)),
			.flags = pick(flags, ARRAY_SIZE(flags)),
			.error_offset = rnd64(),
		};
		bool valid;

		/* Mostly small ranges that convert: the rest is invalid anyway. */
		if (rnd(2)) {
			a.offset = rnd(FILE_PAGES) * 4096;
			a.size = (1 + rnd(FILE_PAGES - a.offset / 4096)) * 4096;
		}
		if (!rnd(16))
			a.reserved[rnd(ARRAY_SIZE(a.reserved))] = rnd64() | 1;
		valid = convert_valid(&a);

		r = ioctl(f->fd, KVM_SET_MEMORY_ATTRIBUTES2, &a);
		if (!r) {
			TEST_ASSERT(valid,
				    "%s convert #%d: 0x%llx+0x%llx attrs 0x%llx flags 0x%llx: worked",
				    f->name, i, a.offset, a.size, a.attributes, a.flags);
			for (page = a.offset / 4096; page < (a.offset + a.size) / 4096; page++)
				f->private[page] = a.attributes;
			ok++;
		} else {
			TEST_ASSERT(errno == EINVAL && !valid,
				    "%s convert #%d: offset 0x%llx size 0x%llx attributes 0x%llx flags 0x%llx: %s, want %s",
				    f->name, i, a.offset, a.size, a.attributes, a.flags,
				    strerror(errno), valid ? "success" : "EINVAL");
			einval++;
		}
		check_pages(f, r ? "after a refused conversion" : "after a conversion");
	}
	pr_info("convert %s: %lu done, %lu EINVAL\n", f->name, ok, einval);
}

static void expect_errno(int r, int want, int also, const char *what)
{
	TEST_ASSERT(r == -1 && (errno == want || errno == also), "%s: %d, %s", what, r,
		    r ? strerror(errno) : "worked");
}

static void wrong_files(struct kvm_vm *vm, struct kvm_vcpu *vcpu, struct gmem_file *f)
{
	struct kvm_memory_attributes2 a = {
		.size = 4096,
		.attributes = KVM_MEMORY_ATTRIBUTE_PRIVATE,
	};
	struct kvm_vm *other = vm_create_barebones_type(KVM_X86_SW_PROTECTED_VM);
	int null = open("/dev/null", O_RDWR), mfd = memfd_create("fuzz", 0);
	int closed = dup(null), plain, foreign;
	void *p;

	TEST_ASSERT(null >= 0 && mfd >= 0 && closed >= 0, "open");
	close(closed);
	expect_errno(ioctl(vm->fd, KVM_SET_MEMORY_ATTRIBUTES2, &a), ENOTTY, EINVAL, "on a VM");
	expect_errno(ioctl(vcpu->fd, KVM_SET_MEMORY_ATTRIBUTES2, &a), ENOTTY, EINVAL,
		     "on a vCPU");
	expect_errno(ioctl(null, KVM_SET_MEMORY_ATTRIBUTES2, &a), ENOTTY, EINVAL, "on /dev/null");
	expect_errno(ioctl(mfd, KVM_SET_MEMORY_ATTRIBUTES2, &a), ENOTTY, EINVAL, "on a memfd");
	expect_errno(ioctl(closed, KVM_SET_MEMORY_ATTRIBUTES2, &a), EBADF, EBADF,
		     "on a closed fd");

	plain = vm_create_guest_memfd(vm, FILE_SIZE, 0);
	expect_errno(ioctl(plain, KVM_SET_MEMORY_ATTRIBUTES2, &a), EINVAL, EINVAL,
		     "on a guest_memfd without GUEST_MEMFD_FLAG_MMAP");
	p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, plain, 0);
	TEST_ASSERT(p == MAP_FAILED && errno == ENODEV,
		    "mmap of a guest_memfd without GUEST_MEMFD_FLAG_MMAP: %s",
		    p == MAP_FAILED ? strerror(errno) : "worked");
	p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, f->fd, 0);
	TEST_ASSERT(p == MAP_FAILED && errno == EINVAL, "MAP_PRIVATE mmap: %s",
		    p == MAP_FAILED ? strerror(errno) : "worked");

	/* Another VM's file. */
	foreign = vm_create_guest_memfd(other, FILE_SIZE, GUEST_MEMFD_FLAG_MMAP);
	expect_errno(__vm_set_user_memory_region2(vm, SLOT + 1, KVM_MEM_GUEST_MEMFD, SLOT_GPA,
						  4096, NULL, foreign, 0),
		     EINVAL, EINVAL, "a memslot on another VM's guest_memfd");
	expect_errno(__vm_set_user_memory_region2(vm, SLOT + 1, KVM_MEM_GUEST_MEMFD, SLOT_GPA,
						  4096, NULL, null, 0),
		     EINVAL, EINVAL, "a memslot on /dev/null as guest_memfd");
	/* Nothing changed on the file those were tried on. */
	check_pages(f, "after calls on other files");

	close(foreign);
	close(plain);
	close(mfd);
	close(null);
	kvm_vm_free(other);
}

struct slot_racer {
	struct kvm_vm *vm;
	int fd;
	bool stop;
	uint64_t rounds;
};

static void *slot_loop(void *arg)
{
	struct slot_racer *r = arg;

	while (!READ_ONCE(r->stop)) {
		vm_set_user_memory_region2(r->vm, SLOT, KVM_MEM_GUEST_MEMFD, SLOT_GPA,
					   FILE_SIZE, NULL, r->fd, 0);
		vm_set_user_memory_region2(r->vm, SLOT, KVM_MEM_GUEST_MEMFD, SLOT_GPA, 0,
					   NULL, r->fd, 0);
		r->rounds++;
	}
	return NULL;
}

/* Conversions while a memslot on the file comes and goes. */
static void slot_race(struct kvm_vm *vm, struct gmem_file *f, int n)
{
	struct slot_racer r = { .vm = vm, .fd = f->fd };
	pthread_t thread;
	int i;

	pthread_create(&thread, NULL, slot_loop, &r);
	for (i = 0; i < n; i++) {
		uint64_t first = rnd(FILE_PAGES), nr = 1 + rnd(FILE_PAGES - first), page;
		bool to_private = rnd(2);

		gmem_set_memory_attributes2(f->fd, first * 4096, nr * 4096,
					    to_private ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0, 0);
		for (page = first; page < first + nr; page++)
			f->private[page] = to_private;
	}
	WRITE_ONCE(r.stop, true);
	pthread_join(thread, NULL);
	check_pages(f, "after the memslot race");
	pr_info("memslot race on %s: %d conversions, %lu slot add/delete rounds\n",
		f->name, n, r.rounds);
}

enum scenario_kind { CREATE, CONVERT, WRONG_FILES, SLOT_RACE };

struct scenario {
	enum scenario_kind kind;
	enum vm_mem_backing_src_type backing;
	uint64_t seed;
	int n;
};

/* One scenario, in a child of its own: see kvm_fork_subtest(). */
static void run_scenario(void *arg)
{
	const struct vm_shape shape = {
		.mode = VM_MODE_DEFAULT,
		.type = KVM_X86_SW_PROTECTED_VM,
	};
	const struct scenario *sc = arg;
	uint64_t free0, rsvd0, free1, rsvd1;
	struct gmem_file file;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;

	rng_state = sc->seed ?: 1;
	if (sc->kind != CREATE)
		TEST_REQUIRE(backing_src_guest_memfd_offered(sc->backing));
	read_pool(&free0, &rsvd0);
	vm = vm_create_shape_with_one_vcpu(shape, &vcpu, NULL);
	supported_flags = vm_check_cap(vm, KVM_CAP_GUEST_MEMFD_FLAGS);
	TEST_ASSERT(supported_flags & GUEST_MEMFD_FLAG_MMAP, "no GUEST_MEMFD_FLAG_MMAP");
	if (sc->kind != CREATE)
		open_file(&file, vm, sc->backing);

	switch (sc->kind) {
	case CREATE:
		fuzz_create(vm, sc->n);
		break;
	case CONVERT:
		fuzz_convert(&file, sc->n);
		break;
	case WRONG_FILES:
		wrong_files(vm, vcpu, &file);
		break;
	case SLOT_RACE:
		slot_race(vm, &file, sc->n / 10);
		break;
	}
	if (sc->kind != CREATE)
		close_file(&file);
	kvm_vm_free(vm);

	read_pool(&free1, &rsvd1);
	TEST_ASSERT(free0 == free1 && rsvd0 == rsvd1,
		    "2M pool free/rsvd %lu/%lu at the end, was %lu/%lu",
		    free1, rsvd1, free0, rsvd0);
}

int main(int argc, char *argv[])
{
	static const enum vm_mem_backing_src_type backings[] = {
		VM_MEM_SRC_GUEST_MEMFD, VM_MEM_SRC_GUEST_MEMFD_HUGETLB_2MB,
		VM_MEM_SRC_GUEST_MEMFD_THP,
	};
	static const char * const kind_names[] = { "create", "convert", "wrong_files",
						   "slot_race" };
	uint64_t seed = time(NULL) ^ ((uint64_t)getpid() << 32);
	struct scenario scenarios[8];
	int n = 2000, nr = 0, i, opt;
	char name[128];

	while ((opt = getopt(argc, argv, "r:n:")) != -1) {
		switch (opt) {
		case 'r':
			seed = strtoull(optarg, NULL, 0);
			break;
		case 'n':
			n = atoi(optarg);
			break;
		default:
			printf("usage: %s [-r SEED] [-n CALLS]\n", argv[0]);
			exit(KSFT_FAIL);
		}
	}

	TEST_REQUIRE(kvm_check_cap(KVM_CAP_VM_TYPES) & BIT(KVM_X86_SW_PROTECTED_VM));
	TEST_REQUIRE(kvm_check_cap(KVM_CAP_MEMORY_ATTRIBUTES2) & KVM_MEMORY_ATTRIBUTE_PRIVATE);
	hugetlb_sizes = kvm_check_cap(KVM_CAP_GUEST_MEMFD_HUGETLB_SIZES);
	thp_sizes = kvm_check_cap(KVM_CAP_GUEST_MEMFD_THP_SIZES);
	pr_info("seed %lu; HugeTLB sizes 0x%lx, THP sizes 0x%lx\n", seed, hugetlb_sizes,
		thp_sizes);

	scenarios[nr++] = (struct scenario){ CREATE };
	for (i = 0; i < ARRAY_SIZE(backings); i++)
		scenarios[nr++] = (struct scenario){ CONVERT, backings[i] };
	scenarios[nr++] = (struct scenario){ WRONG_FILES, VM_MEM_SRC_GUEST_MEMFD };
	for (i = 0; i < ARRAY_SIZE(backings); i++)
		scenarios[nr++] = (struct scenario){ SLOT_RACE, backings[i] };

	ksft_print_header();
	ksft_set_plan(nr);
	for (i = 0; i < nr; i++) {
		scenarios[i].seed = seed ^ ((i + 1) * 0x9e3779b97f4a7c15ull);
		scenarios[i].n = n;
		if (scenarios[i].kind == CREATE || scenarios[i].kind == WRONG_FILES)
			snprintf(name, sizeof(name), "fuzz.%s", kind_names[scenarios[i].kind]);
		else
			snprintf(name, sizeof(name), "fuzz.%s.%s", kind_names[scenarios[i].kind],
				 vm_mem_backing_src_alias(scenarios[i].backing)->name);
		ksft_test_result_code(kvm_fork_subtest(run_scenario, &scenarios[i]), name, NULL);
	}
	pr_info("seed %lu: done\n", seed);
	ksft_finished();
}
