// SPDX-License-Identifier: GPL-2.0
/*
 * Conversions of a guest_memfd racing everything that touches its memory:
 * one thread converts random ranges between private and shared (PRESERVE
 * or 0, which keep the bytes) a few thousand times, while vCPUs write and
 * read back every page (private pages as private, shared ones through the
 * guest_memfd mapping) and host threads fault, write and read back the
 * shared ones.
 *
 * In place, private and shared are the same bytes, so nobody may ever
 * read back anything but what it wrote last: each writer owns an 8-byte
 * slot in every page.  A vCPU fault that loses a race with a conversion
 * must be retried inside KVM: KVM_RUN may not fail, nor exit to userspace.
 * At the end every page must hold every writer's last value, and the whole
 * file must convert to private at the first try (nothing left a reference
 * behind).
 *
 * A vCPU that does not run calls KVM_PRE_FAULT_MEMORY over the whole file
 * meanwhile.  Each call decides per page whether it maps it private or
 * shared, so conversions race it; it may fail on a page that changed
 * (EFAULT), but it must end: once the conversions stop, an unfinished call
 * has nothing left to wait for.
 *
 * Both scenarios run on every guest_memfd backing ("-s NAME" picks one):
 * on guest_memfd the file is 64 4K pages.  On guest_memfd_hugetlb_2mb it
 * is two 2M HugeTLB pages, so conversions split them and, when a huge page
 * becomes all private (one conversion in four asks for that), merge them,
 * while the vCPUs and host threads keep going.  On guest_memfd_hugetlb_1gb
 * it is one 1G page, of which the test uses the first 1024 4K pages; the
 * rest is made private once, at the start.  The page splits into 2M
 * pieces at its first conversion and stays so; its two pieces split into
 * 4K pages and merge back.  On guest_memfd_thp it is two 2M transparent
 * huge pages (the system's THP setting must not be "never").
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <linux/sizes.h>

#include "guest_memfd.h"
#include "hugepage_util.h"
#include "kvm_test_harness.h"
#include "kvm_util.h"
#include "processor.h"
#include "test_util.h"
#include "ucall_common.h"

/* 4K pages used: 64, or 1024 on huge pages (two 2M pages, or of one 1G page). */
#define MAX_PAGES	1024
#define HUGE_PAGES	512
#define NR_VCPUS	2
#define NR_HOST_THREADS	2
#define NR_CONVERSIONS	4000
#define GMEM_GPA	BIT_ULL(32)
#define GMEM_SLOT	10
/* Slots of the writers in each page, as 8-byte words. */
#define VCPU_SLOT(id)	(id)
#define HOST_SLOT(id)	(256 + (id))

static size_t page_size;
static uint64_t nr_pages = 64;
static uint64_t *mem;
static int gmem_fd;
static enum vm_mem_backing_src_type backing;
static bool done;
/* Set in the guest's copy once the conversions are over. */
static bool stop;

static void guest_code(uint64_t id)
{
	uint64_t pass, page, *p;

	for (pass = 1; !READ_ONCE(stop); pass++) {
		for (page = 0; page < nr_pages; page++) {
			p = (uint64_t *)(GMEM_GPA + page * PAGE_SIZE);
			WRITE_ONCE(p[VCPU_SLOT(id)], pass);
		}
		for (page = 0; page < nr_pages; page++) {
			p = (uint64_t *)(GMEM_GPA + page * PAGE_SIZE);
			GUEST_ASSERT_EQ(READ_ONCE(p[VCPU_SLOT(id)]), pass);
		}
	}
	GUEST_SYNC(pass - 1);
}

struct vcpu_thread {
	pthread_t thread;
	struct kvm_vcpu *vcpu;
	uint64_t passes;	/* the last value written into each page */
};

static void *vcpu_thread(void *arg)
{
	struct vcpu_thread *t = arg;
	struct kvm_vcpu *vcpu = t->vcpu;
	struct ucall uc;

	for (;;) {
		vcpu_run(vcpu);
		TEST_ASSERT_KVM_EXIT_REASON(vcpu, KVM_EXIT_IO);
		switch (get_ucall(vcpu, &uc)) {
		case UCALL_SYNC:
			t->passes = uc.args[1];
			pr_info("vCPU %u: %lu passes\n", vcpu->id, t->passes);
			return NULL;
		case UCALL_ABORT:
			REPORT_GUEST_ASSERT(uc);
			break;
		default:
			TEST_FAIL("unexpected ucall %lu", uc.cmd);
		}
	}
}

/* Only host threads expect SIGBUS, and only around their accesses. */
static __thread sigjmp_buf sigbus_jmp;
static __thread bool sigbus_expected;

static void sigbus_handler(int sig)
{
	static const char msg[] = "unexpected SIGBUS\n";

	if (!READ_ONCE(sigbus_expected)) {
		write(STDERR_FILENO, msg, sizeof(msg) - 1);
		abort();
	}
	siglongjmp(sigbus_jmp, 1);
}

struct host_thread {
	pthread_t thread;
	unsigned int id;
	uint64_t last[MAX_PAGES];	/* last value written into each page */
	uint64_t written, sigbus;
	uint64_t value, read;		/* in memory: siglongjmp() keeps them */
};

struct prefault_thread {
	pthread_t thread;
	struct kvm_vcpu *vcpu;
	uint64_t gpa, size;
	uint64_t calls, efault;
	bool interrupted;
};

static bool prefault_stop;

static void sigusr1_handler(int sig)
{
}

static void *prefault_thread(void *arg)
{
	struct prefault_thread *t = arg;

	while (!READ_ONCE(prefault_stop)) {
		struct kvm_pre_fault_memory range = {
			.gpa = t->gpa,
			.size = t->size,
		};
		int r = __vcpu_ioctl(t->vcpu, KVM_PRE_FAULT_MEMORY, &range);

		/* Only the main thread's signal interrupts it: see there. */
		if (r && errno == EINTR) {
			t->interrupted = true;
			break;
		}
		TEST_ASSERT(!r || errno == EFAULT || errno == EAGAIN,
			    "KVM_PRE_FAULT_MEMORY: %s", strerror(errno));
		t->efault += r && errno == EFAULT;
		WRITE_ONCE(t->calls, t->calls + 1);
	}
	return NULL;
}

static void start_prefault_thread(struct prefault_thread *t, struct kvm_vcpu *vcpu,
				  uint64_t gpa, uint64_t size)
{
	*t = (struct prefault_thread){ .vcpu = vcpu, .gpa = gpa, .size = size };
	WRITE_ONCE(prefault_stop, false);
	pthread_create(&t->thread, NULL, prefault_thread, t);
}

/*
 * The conversions are over: the pre-faulting thread must finish its call
 * on its own.  If it does not within 10 s, it spins in the kernel on a
 * page that will never change again; a signal ends it, and the test fails.
 */
static void stop_prefault_thread(struct prefault_thread *t)
{
	struct timespec deadline;

	WRITE_ONCE(prefault_stop, true);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 10;
	if (pthread_timedjoin_np(t->thread, NULL, &deadline)) {
		pthread_kill(t->thread, SIGUSR1);
		pthread_join(t->thread, NULL);
	}
	pr_info("KVM_PRE_FAULT_MEMORY: %lu calls, %lu EFAULT\n", t->calls, t->efault);
	TEST_ASSERT(!t->interrupted,
		    "KVM_PRE_FAULT_MEMORY still running 10 s after the conversions stopped");
	TEST_ASSERT(t->calls, "KVM_PRE_FAULT_MEMORY made no call while converting");
}

/*
 * The same on one page, flipped between private and shared one conversion
 * at a time, while the thread pre-faults just that page: after each flip
 * its call in flight must end.  One that decided private or shared before
 * the flip used to retry until a signal, so a few hundred flips catch it.
 */
static void test_prefault_flips(struct kvm_vcpu *vcpu)
{
	struct prefault_thread t;
	struct timespec start, now;
	uint64_t calls;
	int i;

	start_prefault_thread(&t, vcpu, GMEM_GPA, page_size);
	for (i = 0; i < 300; i++) {
		int r;

		/* EAGAIN: the pre-fault holds the page that moment. */
		do {
			r = __gmem_set_memory_attributes2(gmem_fd, 0, page_size,
							  i & 1 ? 0 : KVM_MEMORY_ATTRIBUTE_PRIVATE,
							  0, NULL);
		} while (r && errno == EAGAIN);
		TEST_ASSERT(!r, "flip %d: %s", i, strerror(errno));
		calls = READ_ONCE(t.calls);
		clock_gettime(CLOCK_MONOTONIC, &start);
		do {
			usleep(100);
			clock_gettime(CLOCK_MONOTONIC, &now);
		} while (READ_ONCE(t.calls) == calls && now.tv_sec < start.tv_sec + 10);
		if (READ_ONCE(t.calls) == calls)
			break;
	}
	stop_prefault_thread(&t);
	/* 300 flips leave the page shared, as it started. */
	pr_info("KVM_PRE_FAULT_MEMORY on a page flipped %d times\n", i);
}

static void *host_thread(void *arg)
{
	struct host_thread *t = arg;
	unsigned int seed = t->id;
	uint64_t page, *slot;

	while (!READ_ONCE(done)) {
		page = rand_r(&seed) % nr_pages;
		slot = &mem[page * page_size / 8 + HOST_SLOT(t->id)];

		if (!gmem_host_can_fault(mem + page * page_size / 8, page_size,
					 MADV_POPULATE_WRITE))
			continue;
		/* It may turn private again under this write or read. */
		if (sigsetjmp(sigbus_jmp, 1)) {
			WRITE_ONCE(sigbus_expected, false);
			t->sigbus++;
			continue;
		}
		WRITE_ONCE(sigbus_expected, true);
		WRITE_ONCE(*slot, ++t->value);
		t->last[page] = t->value;
		t->written++;
		t->read = READ_ONCE(*slot);
		WRITE_ONCE(sigbus_expected, false);
		TEST_ASSERT(t->read == t->value,
			    "host thread %u, page %lu: read 0x%lx, wrote 0x%lx",
			    t->id, page, t->read, t->value);
	}
	return NULL;
}

static const struct vm_shape shape = {
	.mode = VM_MODE_DEFAULT,
	.type = KVM_X86_SW_PROTECTED_VM,
};

static struct host_thread hosts[NR_HOST_THREADS];

static void start_host_threads(void)
{
	int i;

	for (i = 0; i < NR_HOST_THREADS; i++) {
		hosts[i].id = i;
		pthread_create(&hosts[i].thread, NULL, host_thread, &hosts[i]);
	}
}

static void stop_host_threads(void)
{
	int i;

	WRITE_ONCE(done, true);
	for (i = 0; i < NR_HOST_THREADS; i++)
		pthread_join(hosts[i].thread, NULL);
	for (i = 0; i < NR_HOST_THREADS; i++)
		pr_info("host thread %d: %lu writes, %lu SIGBUS\n", i,
			hosts[i].written, hosts[i].sigbus);
}

/* No write was lost, and nothing holds a page any more (it would be EAGAIN). */
static void check_no_write_lost(const struct vcpu_thread *vcpu_threads)
{
	uint64_t page;
	int i, r, tries;

	gmem_set_memory_attributes2(gmem_fd, 0, nr_pages * page_size, 0,
				    KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE);
	for (page = 0; page < nr_pages; page++) {
		uint64_t *p = &mem[page * page_size / 8];

		for (i = 0; i < NR_VCPUS; i++)
			TEST_ASSERT(p[VCPU_SLOT(i)] == vcpu_threads[i].passes,
				    "page %lu, vCPU %d: 0x%lx, last wrote 0x%lx",
				    page, i, p[VCPU_SLOT(i)], vcpu_threads[i].passes);
		for (i = 0; i < NR_HOST_THREADS; i++)
			TEST_ASSERT(p[HOST_SLOT(i)] == hosts[i].last[page],
				    "page %lu, host thread %d: 0x%lx, last wrote 0x%lx",
				    page, i, p[HOST_SLOT(i)], hosts[i].last[page]);
	}
	/* A moment's reference (compaction) is retried, a lasting one is not. */
	for (tries = 0; ; tries++) {
		r = __gmem_set_memory_attributes2(gmem_fd, 0, nr_pages * page_size,
						  KVM_MEMORY_ATTRIBUTE_PRIVATE,
						  KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE, &page);
		if (!r || errno != EAGAIN || tries == 50)
			break;
		usleep(1000);
	}
	TEST_ASSERT(!r, "to private at the end: %s (error_offset 0x%lx)",
		    strerror(errno), page);
}

/* Random conversions, a whole huge page to private one time in four. */
static void convert_randomly(uint64_t nr_conversions)
{
	const unsigned int huge_shift = backing_src_guest_memfd_log2(backing);
	uint64_t conversions[2] = {}, eagain = 0, first, nr;
	unsigned int seed = 1;
	int r;

	while (conversions[0] + conversions[1] < nr_conversions) {
		bool to_private = rand_r(&seed) & 1;

		first = rand_r(&seed) % nr_pages;
		nr = 1 + rand_r(&seed) % (nr_pages - first);
		/* A whole huge page (all of the pages used, for 1G) to private: merged. */
		if (huge_shift && !(rand_r(&seed) & 3)) {
			to_private = true;
			first = huge_shift == 21 && rand_r(&seed) & 1 ? HUGE_PAGES : 0;
			nr = huge_shift == 21 ? HUGE_PAGES : nr_pages;
		}
		r = __gmem_set_memory_attributes2(gmem_fd, first * page_size, nr * page_size,
						  to_private ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0,
						  rand_r(&seed) & 1 ?
						  KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE : 0, NULL);
		if (r && errno == EAGAIN)
			eagain++;
		else
			TEST_ASSERT(!r, "converting pages %lu+%lu: %s", first, nr, strerror(errno));
		conversions[to_private] += !r;
	}
	pr_info("%lu to private, %lu to shared, %lu EAGAIN\n",
		conversions[1], conversions[0], eagain);
}

FIXTURE(race) {
	struct kvm_vcpu *vcpus[NR_VCPUS + 1];
	struct kvm_vm *vm;
	uint64_t file_pages, nr_conversions;
};

FIXTURE_VARIANT(race) {
	enum vm_mem_backing_src_type backing;
};

FIXTURE_VARIANT_ADD(race, guest_memfd) {
	.backing = VM_MEM_SRC_GUEST_MEMFD,
};

FIXTURE_VARIANT_ADD(race, guest_memfd_hugetlb_2mb) {
	.backing = VM_MEM_SRC_GUEST_MEMFD_HUGETLB_2MB,
};

FIXTURE_VARIANT_ADD(race, guest_memfd_hugetlb_1gb) {
	.backing = VM_MEM_SRC_GUEST_MEMFD_HUGETLB_1GB,
};

FIXTURE_VARIANT_ADD(race, guest_memfd_thp) {
	.backing = VM_MEM_SRC_GUEST_MEMFD_THP,
};

FIXTURE_SETUP(race)
{
	struct sigaction usr1 = { .sa_handler = sigusr1_handler };
	struct sigaction sa = { .sa_handler = sigbus_handler };
	uint64_t huge;

	TEST_REQUIRE(kvm_check_cap(KVM_CAP_VM_TYPES) & BIT(KVM_X86_SW_PROTECTED_VM));
	TEST_REQUIRE(kvm_check_cap(KVM_CAP_MEMORY_ATTRIBUTES2) & KVM_MEMORY_ATTRIBUTE_PRIVATE);
	TEST_REQUIRE(backing_src_guest_memfd_offered(variant->backing));
	huge = get_backing_src_pagesz(variant->backing);
	page_size = getpagesize();
	TEST_ASSERT_EQ(page_size, PAGE_SIZE);
	backing = variant->backing;
	self->file_pages = nr_pages;
	self->nr_conversions = NR_CONVERSIONS;
	if (backing != VM_MEM_SRC_GUEST_MEMFD) {
		nr_pages = MAX_PAGES;
		self->file_pages = max_t(uint64_t, nr_pages, (huge / PAGE_SIZE));
		/* Each split and merge moves a huge page's struct pages. */
		self->nr_conversions = NR_CONVERSIONS / (huge == SZ_1G ? 16 : 8);
	}
	if (backing_src_is_guest_memfd_hugetlb(backing))
		TEST_REQUIRE(hugetlb_pool_unreserved(huge) >= self->file_pages * PAGE_SIZE / huge);
	TEST_ASSERT(!sigaction(SIGBUS, &sa, NULL), "sigaction(SIGBUS)");
	/* No SA_RESTART: the ioctl returns EINTR. */
	TEST_ASSERT(!sigaction(SIGUSR1, &usr1, NULL), "sigaction(SIGUSR1)");

	/* The last vCPU only pre-faults. */
	self->vm = __vm_create_with_vcpus(shape, NR_VCPUS + 1, 0, guest_code, self->vcpus);
	/* Pages past those used stay private: see the top. */
	gmem_fd = vm_map_guest_memfd_backing(self->vm, backing, GMEM_SLOT, GMEM_GPA, nr_pages,
					     self->file_pages, (void **)&mem);
	sync_global_to_guest(self->vm, nr_pages);
}

FIXTURE_TEARDOWN(race)
{
	kvm_vm_free(self->vm);
	munmap(mem, self->file_pages * page_size);
	close(gmem_fd);
}

/* Host threads write and read meanwhile, as in the scenario below. */
TEST_F_TIMEOUT(race, prefault_flips, 300)
{
	start_host_threads();
	test_prefault_flips(self->vcpus[NR_VCPUS]);
	stop_host_threads();
}

TEST_F_TIMEOUT(race, convert_race, 900)
{
	struct vcpu_thread vcpu_threads[NR_VCPUS] = {};
	struct prefault_thread prefault = {};
	struct gmem_huge_stats before, after;
	bool huge = backing != VM_MEM_SRC_GUEST_MEMFD;
	int i;

	if (huge)
		gmem_huge_stats_read(backing, &before);
	start_host_threads();
	start_prefault_thread(&prefault, self->vcpus[NR_VCPUS], GMEM_GPA, nr_pages * page_size);
	for (i = 0; i < NR_VCPUS; i++) {
		vcpu_args_set(self->vcpus[i], 1, i);
		vcpu_threads[i].vcpu = self->vcpus[i];
		pthread_create(&vcpu_threads[i].thread, NULL, vcpu_thread, &vcpu_threads[i]);
	}

	convert_randomly(self->nr_conversions);
	stop_prefault_thread(&prefault);
	stop = true;
	sync_global_to_guest(self->vm, stop);
	for (i = 0; i < NR_VCPUS; i++)
		pthread_join(vcpu_threads[i].thread, NULL);
	stop_host_threads();

	if (huge) {
		/* A 1G page's 2M pieces split and merge; the page stays split. */
		gmem_huge_stats_read(backing, &after);
		after.splits += after.split_pieces - before.split_pieces;
		after.merges += after.merge_pieces - before.merge_pieces;
		pr_info("%lu huge page and piece splits, %lu merges\n",
			after.splits - before.splits, after.merges - before.merges);
		TEST_ASSERT(after.splits > before.splits && after.merges > before.merges,
			    "the conversions split or merged nothing");
	}
	for (i = 0; i < NR_VCPUS; i++)
		TEST_ASSERT(vcpu_threads[i].passes, "vCPU %d made no pass while converting", i);
	check_no_write_lost(vcpu_threads);
}

KVM_BACKING_HARNESS_MAIN
