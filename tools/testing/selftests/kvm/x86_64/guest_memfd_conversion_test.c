// SPDX-License-Identifier: GPL-2.0
/*
 * In-place private/shared conversion of guest_memfd memory with
 * KVM_SET_MEMORY_ATTRIBUTES2: what each content mode does to the bytes,
 * every invalid request refused with nothing changed, EAGAIN with the
 * exact error_offset for a pinned page, and a guest of a software-protected
 * VM that reads and writes, as private memory, what the host wrote into the
 * same pages while they were shared, and one whose memslot maps other
 * memory at userspace_addr, whose shared memory KVM still takes from the
 * file.
 * Last, memory failure (MADV_HWPOISON) on a shared page while punch hole
 * runs on it again and again: memory failure tells guest_memfd holding
 * the page locked, punch hole locks it holding invalidate_lock, and
 * neither may wait for the other.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/uio.h>

#include "guest_memfd.h"
#include "kvm_test_harness.h"
#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "ucall_common.h"

#define NR_PAGES	8
#define GMEM_GPA	BIT_ULL(32)
#define GMEM_SLOT	10

static size_t page_size;

static void convert(int fd, uint64_t page, uint64_t nr, bool private, uint64_t flags)
{
	gmem_set_memory_attributes2(fd, page * page_size, nr * page_size,
				    private ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0, flags);
}

static bool host_can_fault(char *mem, uint64_t page)
{
	return gmem_host_can_fault(mem + page * page_size, page_size, MADV_POPULATE_READ);
}

static char pattern(uint64_t page, uint64_t i)
{
	return (char)(page * 31 + i + 1);
}

static void fill(char *mem, uint64_t page)
{
	uint64_t i;

	for (i = 0; i < page_size; i++)
		mem[page * page_size + i] = pattern(page, i);
}

static void check(char *mem, uint64_t page, bool zeroed)
{
	uint64_t i;

	for (i = 0; i < page_size; i++)
		TEST_ASSERT(mem[page * page_size + i] == (zeroed ? 0 : pattern(page, i)),
			    "page %lu byte %lu: 0x%x", page, i, mem[page * page_size + i]);
}

/* The state and the bytes of every page are as @private and fill() left them. */
static void check_all(char *mem, const bool *private)
{
	uint64_t page;

	for (page = 0; page < NR_PAGES; page++) {
		TEST_ASSERT_EQ(host_can_fault(mem, page), !private[page]);
		if (!private[page])
			check(mem, page, false);
	}
}

static void test_invalid(int fd, char *mem, int fd_no_mmap)
{
	const uint64_t total = NR_PAGES * page_size;
	const struct {
		uint64_t offset, size, attributes, flags;
		const char *what;
	} cases[] = {
		{ 1, page_size, KVM_MEMORY_ATTRIBUTE_PRIVATE, 0, "unaligned offset" },
		{ 0, page_size + 1, KVM_MEMORY_ATTRIBUTE_PRIVATE, 0, "unaligned size" },
		{ 0, 0, KVM_MEMORY_ATTRIBUTE_PRIVATE, 0, "size 0" },
		{ -page_size, 2 * page_size, KVM_MEMORY_ATTRIBUTE_PRIVATE, 0, "overflow" },
		{ total, page_size, KVM_MEMORY_ATTRIBUTE_PRIVATE, 0, "past the end" },
		{ 0, total + page_size, KVM_MEMORY_ATTRIBUTE_PRIVATE, 0, "beyond the end" },
		{ 0, page_size, BIT_ULL(0), 0, "unknown attribute" },
		{ 0, page_size, KVM_MEMORY_ATTRIBUTE_PRIVATE | BIT_ULL(4), 0, "extra attribute" },
		{ 0, page_size, KVM_MEMORY_ATTRIBUTE_PRIVATE, BIT_ULL(2), "unknown flag" },
		{ 0, page_size, KVM_MEMORY_ATTRIBUTE_PRIVATE,
		  KVM_SET_MEMORY_ATTRIBUTES2_ZERO | KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE,
		  "ZERO and PRESERVE" },
	};
	bool private[NR_PAGES] = {};
	struct kvm_memory_attributes2 attrs;
	uint64_t page;
	int i, r;

	for (page = 0; page < NR_PAGES; page++)
		fill(mem, page);

	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		r = __gmem_set_memory_attributes2(fd, cases[i].offset, cases[i].size,
						  cases[i].attributes, cases[i].flags,
						  NULL);
		TEST_ASSERT(r == -1 && errno == EINVAL, "%s: want EINVAL, got %d (%s)",
			    cases[i].what, r, strerror(errno));
		check_all(mem, private);
	}

	for (i = 0; i < ARRAY_SIZE(attrs.reserved); i++) {
		memset(&attrs, 0, sizeof(attrs));
		attrs.size = page_size;
		attrs.attributes = KVM_MEMORY_ATTRIBUTE_PRIVATE;
		attrs.reserved[i] = 1;
		r = ioctl(fd, KVM_SET_MEMORY_ATTRIBUTES2, &attrs);
		TEST_ASSERT(r == -1 && errno == EINVAL, "reserved[%d]: want EINVAL", i);
		check_all(mem, private);
	}

	r = ioctl(fd, KVM_SET_MEMORY_ATTRIBUTES2, (void *)1);
	TEST_ASSERT(r == -1 && errno == EFAULT, "bad pointer: want EFAULT");
	check_all(mem, private);

	r = __gmem_set_memory_attributes2(fd_no_mmap, 0, page_size,
					  KVM_MEMORY_ATTRIBUTE_PRIVATE, 0, NULL);
	TEST_ASSERT(r == -1 && errno == EINVAL, "file without MMAP: want EINVAL");
}

static void test_content_modes(int fd, char *mem)
{
	uint64_t page;

	for (page = 0; page < NR_PAGES; page++)
		fill(mem, page);

	/* PRESERVE both ways, and 0 (documented to preserve here too). */
	convert(fd, 1, 1, true, KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE);
	TEST_ASSERT(!host_can_fault(mem, 1), "private page 1 must not fault in");
	TEST_ASSERT(host_can_fault(mem, 0) && host_can_fault(mem, 2), "neighbours stay shared");
	convert(fd, 1, 1, false, KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE);
	check(mem, 1, false);

	convert(fd, 2, 1, true, 0);
	convert(fd, 2, 1, false, 0);
	check(mem, 2, false);

	/* ZERO to private, or to shared: the bytes are gone either way. */
	convert(fd, 3, 1, true, KVM_SET_MEMORY_ATTRIBUTES2_ZERO);
	convert(fd, 3, 1, false, KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE);
	check(mem, 3, true);

	convert(fd, 4, 1, true, KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE);
	convert(fd, 4, 1, false, KVM_SET_MEMORY_ATTRIBUTES2_ZERO);
	check(mem, 4, true);

	/* Whole file, both ways; already-shared pages stay as they were. */
	convert(fd, 0, NR_PAGES, true, KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE);
	for (page = 0; page < NR_PAGES; page++)
		TEST_ASSERT(!host_can_fault(mem, page), "page %lu must be private", page);
	convert(fd, 0, NR_PAGES, false, KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE);
	for (page = 0; page < NR_PAGES; page++)
		check(mem, page, page == 3 || page == 4);
}

static void test_pinned_page(int fd, char *mem)
{
	bool private[NR_PAGES] = {};
	uint64_t error_offset = 0, page;
	struct iovec iov = { .iov_base = mem + 5 * page_size, .iov_len = page_size };
	size_t total;
	char buf[64];
	int pipefd[2];
	ssize_t n;
	int r;

	for (page = 0; page < NR_PAGES; page++)
		fill(mem, page);

	/* vmsplice() keeps a reference on page 5 while it sits in the pipe. */
	TEST_ASSERT(!pipe(pipefd), "pipe");
	n = vmsplice(pipefd[1], &iov, 1, 0);
	TEST_ASSERT_EQ(n, page_size);

	r = __gmem_set_memory_attributes2(fd, 0, NR_PAGES * page_size,
					  KVM_MEMORY_ATTRIBUTE_PRIVATE,
					  KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE,
					  &error_offset);
	TEST_ASSERT(r == -1 && errno == EAGAIN, "pinned page: want EAGAIN, got %d (%s)",
		    r, strerror(errno));
	TEST_ASSERT_EQ(error_offset, 5 * page_size);
	check_all(mem, private);

	/* Once the pipe lets go of it, the same conversion succeeds. */
	for (total = 0; total < page_size; total += n) {
		n = read(pipefd[0], buf, sizeof(buf));
		TEST_ASSERT(n > 0, "read from pipe");
	}
	close(pipefd[0]);
	close(pipefd[1]);
	convert(fd, 0, NR_PAGES, true, KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE);
	convert(fd, 0, NR_PAGES, false, KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE);
	check(mem, 5, false);
}

static void guest_code(void)
{
	uint64_t *p = (uint64_t *)GMEM_GPA;

	/* The host wrote 0x11..., page 0 is private now: read it, overwrite it. */
	GUEST_ASSERT_EQ(READ_ONCE(p[0]), 0x1111111111111111ull);
	WRITE_ONCE(p[0], 0x2222222222222222ull);
	GUEST_SYNC(1);

	/* Shared again, then private with ZERO. */
	GUEST_ASSERT_EQ(READ_ONCE(p[0]), 0);
	GUEST_DONE();
}

static void run_until(struct kvm_vcpu *vcpu, uint64_t ucall)
{
	struct ucall uc;

	vcpu_run(vcpu);
	TEST_ASSERT_KVM_EXIT_REASON(vcpu, KVM_EXIT_IO);
	switch (get_ucall(vcpu, &uc)) {
	case UCALL_ABORT:
		REPORT_GUEST_ASSERT(uc);
		break;
	case UCALL_SYNC:
	case UCALL_DONE:
		TEST_ASSERT_EQ(uc.cmd, ucall);
		break;
	default:
		TEST_FAIL("unexpected ucall %lu", uc.cmd);
	}
}

/* The memslot's shared side is the guest_memfd mapping itself. */
static void test_guest(struct kvm_vm *vm, struct kvm_vcpu *vcpu, int fd, char *mem)
{
	uint64_t *p = (uint64_t *)mem;

	virt_map(vm, GMEM_GPA, GMEM_GPA, NR_PAGES);

	p[0] = 0x1111111111111111ull;
	convert(fd, 0, 1, true, KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE);
	run_until(vcpu, UCALL_SYNC);

	convert(fd, 0, 1, false, KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE);
	TEST_ASSERT_EQ(p[0], 0x2222222222222222ull);

	convert(fd, 0, 1, true, KVM_SET_MEMORY_ATTRIBUTES2_ZERO);
	run_until(vcpu, UCALL_DONE);
}

static void guest_code_shared_from_file(void)
{
	uint64_t *p = (uint64_t *)GMEM_GPA;

	/* Shared: the file's page, not the memslot's userspace memory. */
	GUEST_ASSERT_EQ(READ_ONCE(p[0]), 0x5555555555555555ull);
	WRITE_ONCE(p[0], 0x7777777777777777ull);
	GUEST_SYNC(1);

	/* Private: the same page, in place. */
	GUEST_ASSERT_EQ(READ_ONCE(p[0]), 0x7777777777777777ull);
	WRITE_ONCE(p[0], 0xaaaaaaaaaaaaaaaaull);
	GUEST_SYNC(2);

	/* Shared again: mapped from the file, then punched out. */
	GUEST_ASSERT_EQ(READ_ONCE(p[0]), 0xaaaaaaaaaaaaaaaaull);
	GUEST_SYNC(3);
	GUEST_ASSERT_EQ(READ_ONCE(p[0]), 0);
	WRITE_ONCE(p[0], 0xbbbbbbbbbbbbbbbbull);
	GUEST_SYNC(4);

	/* Private with ZERO. */
	GUEST_ASSERT_EQ(READ_ONCE(p[0]), 0);
	GUEST_DONE();
}

/*
 * KVM faults the shared memory of a memslot bound to a file with mmap()
 * from the file, as private memory (as upstream's guest_memfd-only memslots
 * do), even when the memslot's userspace_addr maps other memory: the guest
 * sees the file's bytes on both sides, and the other memory is never
 * touched.  A punch of a shared page takes KVM's mapping of it too.
 */
static void test_shared_from_file(const struct vm_shape shape)
{
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	uint64_t *shared, *gmem;
	int fd;

	vm = vm_create_shape_with_one_vcpu(shape, &vcpu, guest_code_shared_from_file);
	fd = vm_create_guest_memfd(vm, NR_PAGES * page_size,
				   GUEST_MEMFD_FLAG_MMAP | GUEST_MEMFD_FLAG_INIT_SHARED);
	gmem = mmap(NULL, NR_PAGES * page_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	shared = mmap(NULL, NR_PAGES * page_size, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	TEST_ASSERT(gmem != MAP_FAILED && shared != MAP_FAILED, "mmap()");
	vm_set_user_memory_region2(vm, GMEM_SLOT, KVM_MEM_GUEST_MEMFD, GMEM_GPA,
				   NR_PAGES * page_size, shared, fd, 0);
	virt_map(vm, GMEM_GPA, GMEM_GPA, NR_PAGES);
	gmem[0] = 0x5555555555555555ull;
	shared[0] = 0x3333333333333333ull;

	/* Before KVM faulted shared memory from the file, the guest read 0x33... */
	run_until(vcpu, UCALL_SYNC);
	TEST_ASSERT_EQ(gmem[0], 0x7777777777777777ull);

	convert(fd, 0, 1, true, KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE);
	run_until(vcpu, UCALL_SYNC);

	convert(fd, 0, 1, false, KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE);
	TEST_ASSERT_EQ(gmem[0], 0xaaaaaaaaaaaaaaaaull);
	run_until(vcpu, UCALL_SYNC);

	/* KVM's shared mapping of the page must go with it: the guest reads 0. */
	TEST_ASSERT(!fallocate(fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE, 0, page_size),
		    "punch: %s", strerror(errno));
	run_until(vcpu, UCALL_SYNC);
	TEST_ASSERT_EQ(gmem[0], 0xbbbbbbbbbbbbbbbbull);

	convert(fd, 0, 1, true, KVM_SET_MEMORY_ATTRIBUTES2_ZERO);
	run_until(vcpu, UCALL_DONE);
	TEST_ASSERT_EQ(shared[0], 0x3333333333333333ull);

	kvm_vm_free(vm);
	munmap(shared, NR_PAGES * page_size);
	munmap(gmem, NR_PAGES * page_size);
	close(fd);
}

struct puncher {
	int fd;
	bool stop;
	uint64_t punches;
};

static void *punch_loop(void *arg)
{
	struct puncher *p = arg;

	while (!READ_ONCE(p->stop)) {
		TEST_ASSERT(!fallocate(p->fd, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE,
				       0, page_size), "punch hole: %s", strerror(errno));
		WRITE_ONCE(p->punches, p->punches + 1);
	}
	return NULL;
}

static int mceerr_signals;

/* Memory failure kills the poisoner (BUS_MCEERR_AR): it lives on here. */
static void sigbus_handler(int sig, siginfo_t *info, void *ucontext)
{
	TEST_ASSERT(info->si_code == BUS_MCEERR_AR || info->si_code == BUS_MCEERR_AO,
		    "SIGBUS code %d", info->si_code);
	WRITE_ONCE(mceerr_signals, mceerr_signals + 1);
}

static void test_poison_punch_race(struct kvm_vm *vm)
{
	struct sigaction sa = { .sa_sigaction = sigbus_handler, .sa_flags = SA_SIGINFO };
	struct sigaction old;
	struct puncher p;
	pthread_t thread;
	uint64_t punches;
	char *mem;
	int i, r;

	TEST_ASSERT(!sigaction(SIGBUS, &sa, &old), "sigaction");
	for (i = 0; i < 16; i++) {
		p = (struct puncher){
			.fd = vm_create_guest_memfd(vm, page_size, GUEST_MEMFD_FLAG_MMAP |
							       GUEST_MEMFD_FLAG_INIT_SHARED),
		};
		mem = mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_SHARED, p.fd, 0);
		TEST_ASSERT(mem != MAP_FAILED, "mmap");
		pthread_create(&thread, NULL, punch_loop, &p);
		for (punches = READ_ONCE(p.punches); READ_ONCE(p.punches) < punches + i;)
			;

		/* Fails (EBUSY) as guest_memfd keeps the page: the guest decides. */
		r = madvise(mem, page_size, MADV_HWPOISON);
		TEST_ASSERT(!r || errno == EBUSY || errno == EHWPOISON,
			    "MADV_HWPOISON: %s", strerror(errno));

		punches = READ_ONCE(p.punches);
		while (READ_ONCE(p.punches) < punches + 2)
			;
		WRITE_ONCE(p.stop, true);
		pthread_join(thread, NULL);
		munmap(mem, page_size);
		close(p.fd);
	}
	TEST_ASSERT(!sigaction(SIGBUS, &old, NULL), "sigaction");
	pr_info("poison and punch race: %d rounds, %d SIGBUS\n", i, READ_ONCE(mceerr_signals));
}

static const struct vm_shape shape = {
	.mode = VM_MODE_DEFAULT,
	.type = KVM_X86_SW_PROTECTED_VM,
};

/*
 * A VM with a file bound to a memslot throughout, so that every conversion
 * has KVM mappings to zap, and a file without GUEST_MEMFD_FLAG_MMAP.
 */
FIXTURE(conversion) {
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	int fd, fd_no_mmap;
	char *mem;
};

FIXTURE_VARIANT(conversion) {
	enum vm_mem_backing_src_type backing;
};

FIXTURE_VARIANT_ADD(conversion, guest_memfd) {
	.backing = VM_MEM_SRC_GUEST_MEMFD,
};

FIXTURE_SETUP(conversion)
{
	TEST_REQUIRE(kvm_check_cap(KVM_CAP_VM_TYPES) & BIT(KVM_X86_SW_PROTECTED_VM));
	page_size = get_backing_src_pagesz(variant->backing);

	self->vm = vm_create_shape_with_one_vcpu(shape, &self->vcpu, guest_code);
	TEST_ASSERT_EQ(vm_check_cap(self->vm, KVM_CAP_MEMORY_ATTRIBUTES2),
		       KVM_MEMORY_ATTRIBUTE_PRIVATE);
	self->fd = vm_create_guest_memfd_in_place(self->vm, GMEM_SLOT, GMEM_GPA,
						  NR_PAGES * page_size,
						  GUEST_MEMFD_FLAG_INIT_SHARED,
						  (void **)&self->mem);
	self->fd_no_mmap = vm_create_guest_memfd(self->vm, NR_PAGES * page_size, 0);
}

FIXTURE_TEARDOWN(conversion)
{
	kvm_vm_free(self->vm);
	munmap(self->mem, NR_PAGES * page_size);
	close(self->fd_no_mmap);
	close(self->fd);
}

TEST_F_TIMEOUT(conversion, invalid_requests, 120)
{
	test_invalid(self->fd, self->mem, self->fd_no_mmap);
}

TEST_F_TIMEOUT(conversion, content_modes, 120)
{
	test_content_modes(self->fd, self->mem);
}

TEST_F_TIMEOUT(conversion, pinned_page_eagain, 120)
{
	test_pinned_page(self->fd, self->mem);
}

TEST_F_TIMEOUT(conversion, guest_in_place, 120)
{
	test_guest(self->vm, self->vcpu, self->fd, self->mem);
}

TEST_F_TIMEOUT(conversion, shared_from_file, 120)
{
	test_shared_from_file(shape);
}

TEST_F_TIMEOUT(conversion, poison_punch_race, 120)
{
	test_poison_punch_race(self->vm);
}

KVM_BACKING_HARNESS_MAIN
