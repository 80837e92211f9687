// SPDX-License-Identifier: GPL-2.0
/*
 * Cost of converting guest_memfd memory between private and shared in place
 * (KVM_SET_MEMORY_ATTRIBUTES2, PRESERVE), per range size, both ways, on 4K
 * pages, on 2M and 1G HugeTLB pages and on 2M transparent huge pages.
 *
 * For each backing and size a software-protected VM gets a guest_memfd
 * (MMAP, private at creation) bound to a memslot, allocated whole with
 * fallocate() (timed: "populate").  Then, several times, a range is
 * converted to shared (timed), written by the host (untimed), and
 * converted back to private (timed), which unmaps it from the host again,
 * as after a VMM wrote guest memory.  On huge pages the conversion to
 * shared splits every huge page the range touches (undoing HVO on HugeTLB
 * pages), and the one back merges them (redoing HVO).  No vCPU runs: the
 * guest has no stage-2 mappings to zap.
 *
 * Output: a table, and "csv," lines (backing,size_bytes,what,reps,median_ns,
 * min_ns).  Times are CLOCK_MONOTONIC: under QEMU with -icount shift=0 they
 * are instruction counts (1 ns per instruction), not wall-clock time.
 *
 * On HugeTLB pages, "hvo_*" lines give the cost of undoing and redoing HVO
 * alone, from hugetlb_gmem's tracepoints (begin and end events of each
 * step, in a trace instance of the benchmark's own): the mean per huge
 * page of allocating its vmemmap pages before the point of no return
 * (hvo_restore_prepare), remapping the vmemmap after it
 * (hvo_restore_commit), and optimizing it again after a merge (hvo_redo);
 * reps is the number of huge pages, and both time columns hold the mean.
 *
 * Each conversion figure has a "_rcu_waits" line beside it: how many RCU
 * grace periods its conversions waited for, counted by the function
 * tracer in the same instance (synchronize_rcu() and its kin, entered by
 * this process during a timed conversion); reps, then the total and the
 * most one conversion waited for, in place of the two times.
 *
 * Without arguments, also two patterns over a 1 GiB file: random 4K pages
 * ("rand_to_shared", "rand_to_private") and consecutive 2M steps from its
 * start ("seq_..."), 64 of each (8 on 1G pages); and "fault_wait", a vCPU
 * fault (KVM_PRE_FAULT_MEMORY of a private page) repeated beside 64 round
 * trips of 4K pages in another huge page of its file (8 on 1G pages): how
 * many times a fault waited for the invalidate_lock and the longest wait,
 * in place of reps and the median, then the median fault with no
 * conversion running, and two more columns: how many faults overlapped a
 * conversion, and the longest of them.  On 1G pages, with one 4K page of a
 * 1G page shared: "vmemmap_kib", the KiB of struct pages the page takes,
 * and "stage2_4k", "stage2_2m", "stage2_1g", KVM's mappings of it of each
 * size once all of it is faulted in (each once, the figure in both
 * columns).
 *
 * Without arguments, last, on each huge-page backing, the longest section
 * with interrupts off on the converting CPU while one conversion runs,
 * from the irqsoff tracer (the bench kernel has it): "irqsoff_split" for one 4K
 * page of a huge page to shared (of its 38th 2M piece on 1G pages),
 * "irqsoff_merge" for it back to private, "irqsoff_split_all" and
 * "irqsoff_merge_all" for the whole huge page; reps 1, the figure in both
 * columns (the tracer counts microseconds), and a comment line with where
 * the section started and ended.
 *
 * usage: gmem_convert_bench [SIZE...]   (default: 4K 64K 2M 32M 1G; suffix K, M, G)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/falloc.h>
#include <linux/kvm.h>
#include <linux/membarrier.h>

#include "bench_util.h"
#include "rcu_waits.h"

const char *bench_prog = "gmem_convert_bench";

#define GPA		0x100000000ULL
#define PAGE		4096ULL
#define MAX_REPS	256
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

static uint64_t parse_size(const char *s)
{
	char *end;
	uint64_t v = strtoull(s, &end, 0);

	if (*end == 'G') {
		v <<= 30;
	} else if (*end == 'M') {
		v <<= 20;
	} else if (*end == 'K') {
		v <<= 10;
	} else if (*end) {
		fprintf(stderr, "bad size '%s'\n", s);
		exit(2);
	}
	if (!v || v % PAGE) {
		fprintf(stderr, "size '%s' is not a multiple of 4K\n", s);
		exit(2);
	}
	return v;
}

static void convert(int fd, uint64_t offset, uint64_t size, int private)
{
	struct kvm_memory_attributes2 attr = {
		.offset = offset,
		.size = size,
		.attributes = private ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0,
		.flags = KVM_SET_MEMORY_ATTRIBUTES2_PRESERVE,
	};

	if (ioctl(fd, KVM_SET_MEMORY_ATTRIBUTES2, &attr))
		die_errno("KVM_SET_MEMORY_ATTRIBUTES2");
}

/* Write every page, so that it is allocated and mapped. */
static void touch(char *p, uint64_t size)
{
	uint64_t i;

	for (i = 0; i < size; i += PAGE)
		__atomic_fetch_add(&p[i], 1, __ATOMIC_RELAXED);
}

struct stat_line {
	uint64_t samples[MAX_REPS];
	/* When each conversion started, and the RCU waits it entered. */
	uint64_t starts[MAX_REPS];
	int waits[MAX_REPS];
	int n;
};

static void report_waits(const char *backing, uint64_t size, const char *what,
			 const struct stat_line *s)
{
	int i, total = 0, most = 0;

	for (i = 0; i < s->n; i++) {
		total += s->waits[i];
		most = s->waits[i] > most ? s->waits[i] : most;
	}
	printf("%-8s %10llu KiB  %-19s %5d  %14d  %14d  %10s\n", backing,
	       (unsigned long long)size >> 10, "  RCU waits", s->n, total, most, "");
	printf("csv,%s,%llu,%s_rcu_waits,%d,%d,%d\n", backing,
	       (unsigned long long)size, what, s->n, total, most);
}

/* The median and least time; then the RCU waits, if they were counted. */
static void report(const char *backing, uint64_t size, const char *what,
		   struct stat_line *s, bool waits)
{
	if (waits)
		report_waits(backing, size, what, s);
	qsort(s->samples, s->n, sizeof(s->samples[0]), cmp_u64);
	printf("%-8s %10llu KiB  %-19s %5d  %14.1f  %14.1f  %10.1f\n", backing,
	       (unsigned long long)size >> 10, what, s->n,
	       s->samples[s->n / 2] / 1000.0, s->samples[0] / 1000.0,
	       s->samples[s->n / 2] / (double)(size / PAGE));
	printf("csv,%s,%llu,%s,%d,%llu,%llu\n", backing, (unsigned long long)size,
	       what, s->n, (unsigned long long)s->samples[s->n / 2],
	       (unsigned long long)s->samples[0]);
}

/*
 * The HVO work of hugetlb_gmem, from its tracepoints, and the RCU waits, from
 * the function tracer, in a trace instance of our own: the raw format gives
 * each entry's time in ns (trace_clock mono, comparable across CPUs, and
 * with now_ns()), then an event's type, which the events' ids name, or a
 * traced function's address.
 */
#define TRACING		"/sys/kernel/tracing"
#define INSTANCE	TRACING "/instances/gmem_convert_bench"

enum hvo_event {
	RESTORE_PREPARE_BEGIN, RESTORE_PREPARE_END,
	RESTORE_BEGIN, RESTORE_END,
	OPTIMIZE_BEGIN, OPTIMIZE_END, NR_HVO_EVENTS
};

static const char * const hvo_event_names[NR_HVO_EVENTS] = {
	"hugetlb_gmem_vmemmap_restore_prepare_begin",
	"hugetlb_gmem_vmemmap_restore_prepare_end",
	"hugetlb_gmem_vmemmap_restore_begin",
	"hugetlb_gmem_vmemmap_restore_end",
	"hugetlb_gmem_vmemmap_optimize_begin",
	"hugetlb_gmem_vmemmap_optimize_end",
};

/* As rcu_waits.h's selftests count them; a nested wait counts twice here. */
static const char * const rcu_wait_functions[] = { RCU_WAIT_FUNCTIONS };

static int hvo_event_ids[NR_HVO_EVENTS];

/* Time spent in each HVO step, and how many pages each step covered. */
struct hvo_stats {
	long long restores, optimizes, prepare_ns, commit_ns, optimize_ns;
};

static void write_str(const char *path, const char *val)
{
	int r = write_file(path, val, O_TRUNC);

	if (r)
		die("%s: %s", path, strerror(-r));
}

static long long read_vmstat(const char *key)
{
	FILE *f = fopen("/proc/vmstat", "r");
	long long v, found = 0;
	char name[64];

	if (!f)
		die_errno("/proc/vmstat");
	while (fscanf(f, "%63s %lld", name, &v) == 2)
		if (!strcmp(name, key))
			found = v;
	fclose(f);
	return found;
}

static bool hvo_traced;
static void rcu_waits_check(void);

/*
 * The function tracer for this process and the wait functions only; the
 * filter goes first, as an empty one would trace every function.
 */
static void rcu_waits_trace_init(void)
{
	char pid[32], line[256];
	bool found = false;
	size_t i;
	FILE *f;
	int r;

	write_str(INSTANCE "/set_ftrace_filter", rcu_wait_functions[0]);
	for (i = 1; i < ARRAY_SIZE(rcu_wait_functions); i++) {
		r = write_file(INSTANCE "/set_ftrace_filter", rcu_wait_functions[i],
			       O_APPEND);
		if (r && r != -EINVAL)
			die("adding %s to set_ftrace_filter: %s",
			    rcu_wait_functions[i], strerror(-r));
	}
	/* Names are applied as the file closes: see that one was. */
	f = fopen(INSTANCE "/set_ftrace_filter", "r");
	if (!f)
		die_errno(INSTANCE "/set_ftrace_filter");
	while (!found && fgets(line, sizeof(line), f))
		found = !strcmp(line, "synchronize_rcu\n");
	fclose(f);
	if (!found)
		die("synchronize_rcu is not in set_ftrace_filter: RCU waits cannot be counted");
	snprintf(pid, sizeof(pid), "%d", getpid());
	write_str(INSTANCE "/set_ftrace_pid", pid);
	write_str(INSTANCE "/current_tracer", "function");
}

/*
 * A trace instance with the HVO events, off until hvo_trace_start().
 * Without tracefs or the events (a kernel without event tracing), the
 * benchmark runs without the hvo_* lines.
 */
static void hvo_trace_init(void)
{
	char path[256];
	FILE *f;
	int i;

	if (access(TRACING "/instances", F_OK) &&
	    mount("nodev", TRACING, "tracefs", 0, NULL))
		goto untraced;
	if (mkdir(INSTANCE, 0755) && errno != EEXIST)
		goto untraced;
	for (i = 0; i < NR_HVO_EVENTS; i++) {
		snprintf(path, sizeof(path), INSTANCE "/events/hugetlb_gmem/%s/id",
			 hvo_event_names[i]);
		f = fopen(path, "r");
		if (!f)
			goto untraced;
		if (fscanf(f, "%d", &hvo_event_ids[i]) != 1)
			die_errno(path);
		fclose(f);
	}
	write_str(INSTANCE "/tracing_on", "0");
	write_str(INSTANCE "/trace_clock", "mono");
	write_str(INSTANCE "/buffer_size_kb", "8192");
	write_str(INSTANCE "/options/raw", "1");
	for (i = 0; i < NR_HVO_EVENTS; i++) {
		snprintf(path, sizeof(path), INSTANCE "/events/hugetlb_gmem/%s/enable",
			 hvo_event_names[i]);
		write_str(path, "1");
	}
	rcu_waits_trace_init();
	hvo_traced = true;
	rcu_waits_check();
	return;
untraced:
	fprintf(stderr, "gmem_convert_bench: no hugetlb_gmem tracepoints (%s): no hvo_* lines\n",
		strerror(errno));
	rmdir(INSTANCE);
}

static void hvo_trace_exit(void)
{
	if (!hvo_traced)
		return;
	write_str(INSTANCE "/current_tracer", "nop");
	rmdir(INSTANCE);
}

static void hvo_trace_start(struct hvo_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (!hvo_traced)
		return;
	st->restores = -read_vmstat("hugetlb_gmem_vmemmap_restore");
	st->optimizes = -read_vmstat("hugetlb_gmem_vmemmap_optimize");
	write_str(INSTANCE "/trace", "");
	write_str(INSTANCE "/tracing_on", "1");
}

/* The conversion of @lines that was running at @ts counts an RCU wait. */
static void count_wait(struct stat_line **lines, int nr, uint64_t ts)
{
	int i, j;

	for (i = 0; i < nr; i++)
		for (j = 0; j < lines[i]->n; j++)
			if (ts >= lines[i]->starts[j] &&
			    ts - lines[i]->starts[j] < lines[i]->samples[j]) {
				lines[i]->waits[j]++;
				return;
			}
}

/*
 * Sums the time from each begin event to the next event of its step, of
 * this process's conversions only; a begin is used once.  Gives each
 * conversion of @lines the RCU waits entered while it ran.
 */
static void hvo_trace_stop(struct hvo_stats *st, struct stat_line **lines, int nr)
{
	static const enum hvo_event begin_of[NR_HVO_EVENTS] = {
		[RESTORE_PREPARE_END] = RESTORE_PREPARE_BEGIN,
		[RESTORE_END] = RESTORE_BEGIN,
		[OPTIMIZE_END] = OPTIMIZE_BEGIN,
	};
	long long *sum_of[NR_HVO_EVENTS] = {
		[RESTORE_PREPARE_END] = &st->prepare_ns,
		[RESTORE_END] = &st->commit_ns,
		[OPTIMIZE_END] = &st->optimize_ns,
	};
	unsigned long long ts, ip, last[NR_HVO_EVENTS] = {};
	int pid, type, i, me = getpid();
	char line[256];
	FILE *f;

	if (!hvo_traced)
		return;
	write_str(INSTANCE "/tracing_on", "0");
	st->restores += read_vmstat("hugetlb_gmem_vmemmap_restore");
	st->optimizes += read_vmstat("hugetlb_gmem_vmemmap_optimize");
	f = fopen(INSTANCE "/trace", "r");
	if (!f)
		die_errno(INSTANCE "/trace");
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%d %*d %llu %llx %*x", &pid, &ts, &ip) == 3) {
			if (pid == me)
				count_wait(lines, nr, ts);
			continue;
		}
		if (sscanf(line, "%d %*d %llu type: %d", &pid, &ts, &type) != 3 ||
		    pid != me)
			continue;
		for (i = 0; i < NR_HVO_EVENTS && hvo_event_ids[i] != type; i++)
			;
		if (i == NR_HVO_EVENTS)
			continue;
		last[i] = ts;
		if (sum_of[i] && last[begin_of[i]]) {
			*sum_of[i] += ts - last[begin_of[i]];
			last[begin_of[i]] = 0;
		}
	}
	fclose(f);
}

/*
 * A count of 0 proves nothing unless the counter sees a wait: count one
 * first.  membarrier(MEMBARRIER_CMD_GLOBAL) calls synchronize_rcu() when
 * more than one CPU is online.
 */
static void rcu_waits_check(void)
{
	struct stat_line probe = { .n = 1 };
	struct stat_line *lines[] = { &probe };
	struct hvo_stats st;

	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		die("counting RCU waits needs two CPUs (its check uses membarrier())");
	hvo_trace_start(&st);
	probe.starts[0] = now_ns();
	if (syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0))
		die_errno("membarrier(MEMBARRIER_CMD_GLOBAL)");
	probe.samples[0] = now_ns() - probe.starts[0];
	hvo_trace_stop(&st, lines, 1);
	if (probe.waits[0] != 1)
		die("%d RCU waits counted in membarrier(MEMBARRIER_CMD_GLOBAL), not 1",
		    probe.waits[0]);
}

static void report_mean(const char *backing, uint64_t size, const char *what,
			long long n, long long total_ns)
{
	double mean = n ? (double)total_ns / n : 0;

	if (!n)
		return;
	printf("%-8s %10llu KiB  %-19s %5lld  %14.1f  %14s  %10s\n", backing,
	       (unsigned long long)size >> 10, what, n, mean / 1000.0, "(mean)", "");
	printf("csv,%s,%llu,%s,%lld,%.0f,%.0f\n", backing, (unsigned long long)size,
	       what, n, mean, mean);
}

/* What undoing and redoing HVO alone cost, per huge page. */
static void report_hvo(const char *backing, uint64_t size,
		       const struct hvo_stats *st)
{
	report_mean(backing, size, "hvo_restore_prepare", st->restores, st->prepare_ns);
	report_mean(backing, size, "hvo_restore_commit", st->restores, st->commit_ns);
	report_mean(backing, size, "hvo_redo", st->optimizes, st->optimize_ns);
}

/* What the guest_memfd is made of: "2m" and "1g" are HugeTLB pages. */
struct backing {
	const char *name;
	unsigned int huge_shift;	/* 0 for 4K pages */
	bool hugetlb;
};

static const struct backing backings[] = {
	{ "4k", 0, false },
	{ "2m", 21, true },
	{ "1g", 30, true },
	{ "thp", 21, false },
};

/* A software-protected VM and its guest_memfd, bound to a memslot. */
struct vm_file {
	int vm, fd;
	char *mem;
};

static void open_file(int kvm, struct vm_file *f, uint64_t file_size,
		      const struct backing *b)
{
	struct kvm_create_guest_memfd gmem = {
		.size = file_size,
		.flags = GUEST_MEMFD_FLAG_MMAP |
			 (b->hugetlb ? GUEST_MEMFD_FLAG_HUGETLB : 0),
		.huge_page_size_log2 = b->huge_shift,
	};
	struct kvm_userspace_memory_region2 region = {
		.slot = 0,
		.flags = KVM_MEM_GUEST_MEMFD,
		.guest_phys_addr = GPA,
		.memory_size = file_size,
		.guest_memfd_offset = 0,
	};

	f->vm = ioctl(kvm, KVM_CREATE_VM, KVM_X86_SW_PROTECTED_VM);
	if (f->vm < 0)
		die_errno("KVM_CREATE_VM(KVM_X86_SW_PROTECTED_VM)");
	f->fd = ioctl(f->vm, KVM_CREATE_GUEST_MEMFD, &gmem);
	if (f->fd < 0)
		die_errno("KVM_CREATE_GUEST_MEMFD");
	f->mem = mmap(NULL, file_size, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd, 0);
	if (f->mem == MAP_FAILED)
		die_errno("mmap(guest_memfd)");
	region.userspace_addr = (uintptr_t)f->mem;
	region.guest_memfd = f->fd;
	if (ioctl(f->vm, KVM_SET_USER_MEMORY_REGION2, &region))
		die_errno("KVM_SET_USER_MEMORY_REGION2");
}

/* open_file(), with all of the file allocated (untimed). */
static void open_populated(int kvm, struct vm_file *f, uint64_t file_size,
			   const struct backing *b)
{
	open_file(kvm, f, file_size, b);
	if (fallocate(f->fd, FALLOC_FL_KEEP_SIZE, 0, file_size))
		die_errno("fallocate");
}

static void close_file(struct vm_file *f, uint64_t file_size)
{
	munmap(f->mem, file_size);
	close(f->fd);
	close(f->vm);
}

/* To shared (timed), host write, back to private (timed). */
static void round_trip(struct vm_file *f, uint64_t offset, uint64_t size,
		       struct stat_line *to_shared, struct stat_line *to_private)
{
	uint64_t t = now_ns();

	convert(f->fd, offset, size, 0);
	to_shared->starts[to_shared->n] = t;
	to_shared->samples[to_shared->n++] = now_ns() - t;

	touch(f->mem + offset, size);

	t = now_ns();
	convert(f->fd, offset, size, 1);
	to_private->starts[to_private->n] = t;
	to_private->samples[to_private->n++] = now_ns() - t;
}

static void bench_size(int kvm, uint64_t size, const struct backing *b)
{
	unsigned int huge_shift = b->huge_shift;
	/* Enough work to measure: many small conversions, few big ones. */
	int reps = huge_shift == 30 ? (size < (1ULL << 30) ? 8 : 3) :
		   size <= PAGE ? (huge_shift ? 64 : 256) : size <= (2ULL << 20) ? 32 : 3;
	/* Small ranges live in a file of one huge page (2M for 4K pages). */
	uint64_t min_file = huge_shift ? 1ULL << huge_shift : 2ULL << 20;
	uint64_t file_size = size < min_file ? min_file : size;
	const char *backing = b->name;
	struct stat_line populate = {}, to_private = {}, to_shared = {};
	struct stat_line *lines[] = { &to_shared, &to_private };
	struct hvo_stats hvo;
	uint64_t t, offset;
	struct vm_file f;
	int i;

	open_file(kvm, &f, file_size, b);
	t = now_ns();
	if (fallocate(f.fd, FALLOC_FL_KEEP_SIZE, 0, file_size))
		die_errno("fallocate");
	populate.samples[populate.n++] = now_ns() - t;

	hvo_trace_start(&hvo);
	for (i = 0; i < reps; i++) {
		offset = (i * 9 * size) % file_size;

		round_trip(&f, offset, size, &to_shared, &to_private);
	}
	hvo_trace_stop(&hvo, lines, 2);

	if (size == file_size)
		report(backing, file_size, "populate", &populate, false);
	report(backing, size, "to_shared", &to_shared, hvo_traced);
	report(backing, size, "to_private", &to_private, hvo_traced);
	if (b->hugetlb)
		report_hvo(backing, size, &hvo);

	close_file(&f, file_size);
}

/*
 * Patterns over a 1 GiB file: @step-sized conversions at @n offsets, random
 * 4K pages (@random) or consecutive @step steps from the start; each to
 * shared, host write, back to private, as above.
 */
static void bench_pattern(int kvm, const struct backing *b, bool random,
			  uint64_t step, int n)
{
	const char *backing = b->name;
	struct stat_line to_private = {}, to_shared = {};
	struct stat_line *lines[] = { &to_shared, &to_private };
	uint64_t file_size = 1ULL << 30, seed = 1, offset;
	struct hvo_stats hvo;
	struct vm_file f;
	int i;

	open_populated(kvm, &f, file_size, b);
	hvo_trace_start(&hvo);
	for (i = 0; i < n; i++) {
		if (random) {
			seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
			offset = ((seed >> 33) % (file_size / step)) * step;
		} else {
			offset = i * step;
		}
		round_trip(&f, offset, step, &to_shared, &to_private);
	}
	hvo_trace_stop(&hvo, lines, 2);
	report(backing, step, random ? "rand_to_shared" : "seq_to_shared", &to_shared,
	       hvo_traced);
	report(backing, step, random ? "rand_to_private" : "seq_to_private", &to_private,
	       hvo_traced);
	close_file(&f, file_size);
}

/*
 * A vCPU fault beside conversions of another huge page of its file: one
 * thread maps the first 4K page of the file again and again with
 * KVM_PRE_FAULT_MEMORY (a private page: through kvm_gmem_get_pfn(), which
 * takes the file's invalidate_lock shared), while the main thread converts
 * 4K pages of the second huge page to shared and back, @n times.  How long
 * the faults waited for the invalidate_lock (struct lock_waits) is how
 * long the conversions held them off; the longest fault that overlapped a
 * conversion, against the median fault that overlapped none, adds what
 * else slowed it (a retry after an invalidation, interrupts).
 */
struct prefault {
	int vcpu;
	long tid;
	bool converting, stop;
	uint64_t longest, baseline[4096];
	int n_baseline, n_during;
};

static void *prefault_thread(void *arg)
{
	struct prefault *pf = arg;
	struct kvm_pre_fault_memory range;
	uint64_t t, dt;
	bool before;

	__atomic_store_n(&pf->tid, syscall(SYS_gettid), __ATOMIC_RELEASE);
	while (!__atomic_load_n(&pf->stop, __ATOMIC_ACQUIRE)) {
		range = (struct kvm_pre_fault_memory){ .gpa = GPA, .size = PAGE };
		before = __atomic_load_n(&pf->converting, __ATOMIC_ACQUIRE);
		t = now_ns();
		while (ioctl(pf->vcpu, KVM_PRE_FAULT_MEMORY, &range))
			if (errno != EINTR && errno != EAGAIN)
				die_errno("KVM_PRE_FAULT_MEMORY");
		dt = now_ns() - t;
		if (before || __atomic_load_n(&pf->converting, __ATOMIC_ACQUIRE)) {
			pf->n_during++;
			pf->longest = dt > pf->longest ? dt : pf->longest;
		} else if (pf->n_baseline < (int)ARRAY_SIZE(pf->baseline)) {
			/* The main thread waits for the first ones. */
			pf->baseline[pf->n_baseline] = dt;
			__atomic_store_n(&pf->n_baseline, pf->n_baseline + 1,
					 __ATOMIC_RELEASE);
		}
	}
	return NULL;
}

static void bench_fault_wait(int kvm, const struct backing *b, int n)
{
	uint64_t huge = b->huge_shift ? 1ULL << b->huge_shift : 2ULL << 20;
	uint64_t file_size = 2 * huge, offset;
	struct stat_line to_private = {}, to_shared = {};
	struct prefault pf = {};
	struct lock_waits lw;
	pthread_t thread;
	struct vm_file f;
	int i;

	open_populated(kvm, &f, file_size, b);
	pf.vcpu = ioctl(f.vm, KVM_CREATE_VCPU, 0);
	if (pf.vcpu < 0)
		die_errno("KVM_CREATE_VCPU");
	if (pthread_create(&thread, NULL, prefault_thread, &pf))
		die("pthread_create failed");
	/* Faults alone first, for the baseline; then beside conversions. */
	while (__atomic_load_n(&pf.n_baseline, __ATOMIC_ACQUIRE) < 64)
		usleep(1000);
	lock_waits_init(&lw, __atomic_load_n(&pf.tid, __ATOMIC_ACQUIRE));
	lock_waits_on(&lw, true);
	for (i = 0; i < n; i++) {
		offset = huge + (i * 9 * PAGE) % huge;
		__atomic_store_n(&pf.converting, true, __ATOMIC_RELEASE);
		round_trip(&f, offset, PAGE, &to_shared, &to_private);
		__atomic_store_n(&pf.converting, false, __ATOMIC_RELEASE);
		usleep(1000);
	}
	__atomic_store_n(&pf.stop, true, __ATOMIC_RELEASE);
	pthread_join(thread, NULL);
	lock_waits_read(&lw);
	if (!pf.n_during)
		die("no fault ran beside a conversion");
	/*
	 * No wait is a figure, not a failure: conversions prepare their
	 * splits with the lock held shared, and hold it for write only
	 * briefly, so 4K round trips rarely overlap a fault.
	 */
	if (!lw.traced)
		printf("# fault_wait: no lock:contention tracepoints, no wait figure\n");
	qsort(pf.baseline, pf.n_baseline, sizeof(pf.baseline[0]), cmp_u64);
	printf("%-8s %10llu KiB  %-19s %5lld  %14.1f  %14.1f  %10s\n", b->name,
	       PAGE >> 10, "fault_wait", lw.gmem.n, lw.gmem.max_ns / 1000.0,
	       pf.baseline[pf.n_baseline / 2] / 1000.0, "");
	printf("csv,%s,%llu,fault_wait,%lld,%llu,%llu,%d,%llu\n", b->name, PAGE,
	       lw.gmem.n, lw.gmem.max_ns,
	       (unsigned long long)pf.baseline[pf.n_baseline / 2], pf.n_during,
	       (unsigned long long)pf.longest);
	close(pf.vcpu);
	close_file(&f, file_size);
}

/*
 * One 4K page of a 1G page made shared, as a guest shares a virtio ring or
 * a bounce buffer: the vmemmap (struct pages) the 1G page takes meanwhile,
 * and KVM's stage-2 mappings of it once a vCPU has faulted all of it in
 * (KVM_PRE_FAULT_MEMORY: private pages mapped as large as their folios
 * allow, the shared page through the host's mapping).  The page is in the
 * 38th 2M piece, away from the first.  The vmemmap figure is the 1G page's
 * head vmemmap page (all that HVO leaves it) and the pages the split gave
 * it (nr_memmap_pages and nr_memmap_boot_pages in /proc/vmstat).
 */
static void bench_pieces(int kvm, const struct backing *b)
{
	uint64_t huge = 1ULL << b->huge_shift, offset = 37 * (2ULL << 20);
	struct kvm_pre_fault_memory range = { .gpa = GPA, .size = huge };
	uint64_t pages[3];
	long long memmap;
	struct vm_file f;
	int vcpu;

	open_populated(kvm, &f, huge, b);
	vcpu = ioctl(f.vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		die_errno("KVM_CREATE_VCPU");

	memmap = -read_vmstat("nr_memmap_pages") - read_vmstat("nr_memmap_boot_pages");
	convert(f.fd, offset, PAGE, 0);
	memmap += read_vmstat("nr_memmap_pages") + read_vmstat("nr_memmap_boot_pages");
	touch(f.mem + offset, PAGE);
	while (range.size)
		if (ioctl(vcpu, KVM_PRE_FAULT_MEMORY, &range) &&
		    errno != EINTR && errno != EAGAIN)
			die_errno("KVM_PRE_FAULT_MEMORY");
	read_vm_stats(f.vm, pages);

	printf("%-8s %10llu KiB  %-19s %5d  %14lld  %14s  %10s\n", b->name,
	       PAGE >> 10, "vmemmap_kib", 1, 4 + memmap * 4, "", "");
	printf("csv,%s,%llu,vmemmap_kib,1,%lld,%lld\n", b->name, PAGE,
	       4 + memmap * 4, 4 + memmap * 4);
	printf("csv,%s,%llu,stage2_4k,1,%llu,%llu\n", b->name, PAGE,
	       (unsigned long long)pages[0], (unsigned long long)pages[0]);
	printf("csv,%s,%llu,stage2_2m,1,%llu,%llu\n", b->name, PAGE,
	       (unsigned long long)pages[1], (unsigned long long)pages[1]);
	printf("csv,%s,%llu,stage2_1g,1,%llu,%llu\n", b->name, PAGE,
	       (unsigned long long)pages[2], (unsigned long long)pages[2]);

	convert(f.fd, offset, PAGE, 1);
	close(vcpu);
	close_file(&f, huge);
}

/*
 * One conversion with the irqsoff tracer armed: the longest section with
 * interrupts off meanwhile, and where it started and ended.
 */
static void irqsoff_convert(const struct backing *b, struct vm_file *f,
			    uint64_t offset, uint64_t size, int private,
			    const char *what)
{
	char line[256], started[128] = "?", ended[128] = "?";
	long long us;
	FILE *tf;

	write_str(TRACING "/tracing_max_latency", "0");
	write_str(TRACING "/tracing_on", "1");
	convert(f->fd, offset, size, private);
	write_str(TRACING "/tracing_on", "0");

	tf = fopen(TRACING "/tracing_max_latency", "r");
	if (!tf || fscanf(tf, "%lld", &us) != 1)
		die_errno(TRACING "/tracing_max_latency");
	fclose(tf);
	tf = fopen(TRACING "/trace", "r");
	if (!tf)
		die_errno(TRACING "/trace");
	/* The header says "started at", then "ended at". */
	while (fgets(line, sizeof(line), tf) && line[0] == '#') {
		if (sscanf(line, "# => started at: %127s", started) == 1)
			continue;
		if (sscanf(line, "# => ended at: %127s", ended) == 1)
			break;
	}
	fclose(tf);

	printf("%-8s %10llu KiB  %-19s %5d  %14.3f  %14s  %10s\n", b->name,
	       (unsigned long long)size >> 10, what, 1, us / 1.0, "", "");
	printf("# %s %s: interrupts off %lld us, from %s to %s\n", b->name,
	       what, us, started, ended);
	printf("csv,%s,%llu,%s,1,%lld,%lld\n", b->name,
	       (unsigned long long)size, what, us * 1000, us * 1000);
}

/*
 * The longest section with interrupts off during the splits and merges of
 * one huge page: one 4K page's (the 38th 2M piece's on 1G pages), then
 * the whole page's.  Nothing is reported when the kernel has no irqsoff
 * tracer.
 */
static void bench_irqsoff(int kvm, const struct backing *b)
{
	uint64_t huge = 1ULL << b->huge_shift;
	uint64_t offset = b->huge_shift == 30 ? 37 * (2ULL << 20) : 0;
	char mask[32], all[256] = "";
	cpu_set_t cpus, one;
	struct vm_file f;
	FILE *mf;
	int cpu;

	if (write_file(TRACING "/current_tracer", "irqsoff", O_TRUNC)) {
		printf("# %s: no irqsoff tracer in this kernel\n", b->name);
		return;
	}
	/*
	 * The converting CPU only: TCG runs one vCPU at a time, so a section
	 * of another CPU's may stretch over a whole slice of this one's.
	 */
	if (sched_getaffinity(0, sizeof(cpus), &cpus))
		die_errno("sched_getaffinity");
	cpu = sched_getcpu();
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	if (sched_setaffinity(0, sizeof(one), &one))
		die_errno("sched_setaffinity");
	mf = fopen(TRACING "/tracing_cpumask", "r");
	if (!mf || !fgets(all, sizeof(all), mf))
		die_errno(TRACING "/tracing_cpumask");
	fclose(mf);
	snprintf(mask, sizeof(mask), "%llx", 1ULL << cpu);
	write_str(TRACING "/tracing_cpumask", mask);
	/* Sections only, not every function they call. */
	write_file(TRACING "/options/function-trace", "0", O_TRUNC);
	write_str(TRACING "/tracing_on", "0");

	open_populated(kvm, &f, huge, b);
	irqsoff_convert(b, &f, offset, PAGE, 0, "irqsoff_split");
	touch(f.mem + offset, PAGE);
	irqsoff_convert(b, &f, offset, PAGE, 1, "irqsoff_merge");
	irqsoff_convert(b, &f, 0, huge, 0, "irqsoff_split_all");
	touch(f.mem, huge);
	irqsoff_convert(b, &f, 0, huge, 1, "irqsoff_merge_all");
	close_file(&f, huge);

	write_str(TRACING "/current_tracer", "nop");
	write_file(TRACING "/options/function-trace", "1", O_TRUNC);
	write_str(TRACING "/tracing_cpumask", all);
	write_str(TRACING "/tracing_on", "1");
	if (sched_setaffinity(0, sizeof(cpus), &cpus))
		die_errno("sched_setaffinity");
}

/* Whether the host offers @b: HugeTLB pages where it has pools. */
static bool offered(int kvm, const struct backing *b)
{
	const char *only = getenv("GMEM_BENCH_ONLY");
	size_t len = strlen(b->name);
	long long sizes;

	/* GMEM_BENCH_ONLY=2m,thp: only those backings (for profiling). */
	for (; only; only = strchr(only, ',') ? strchr(only, ',') + 1 : NULL)
		if (!strncmp(only, b->name, len) &&
		    (only[len] == ',' || !only[len]))
			break;
	if (getenv("GMEM_BENCH_ONLY") && !only)
		return false;
	if (!b->huge_shift)
		return true;
	sizes = ioctl(kvm, KVM_CHECK_EXTENSION, b->hugetlb ?
		      KVM_CAP_GUEST_MEMFD_HUGETLB_SIZES : KVM_CAP_GUEST_MEMFD_THP_SIZES);
	return sizes > 0 && (sizes & (1LL << b->huge_shift));
}

int main(int argc, char *argv[])
{
	static const char * const defaults[] = { "4K", "64K", "2M", "32M", "1G" };
	const struct backing *b;
	int kvm, i;

	kvm = open("/dev/kvm", O_RDWR);
	if (kvm < 0)
		die_errno("/dev/kvm");
	if (!(ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_MEMORY_ATTRIBUTES2) &
	      KVM_MEMORY_ATTRIBUTE_PRIVATE)) {
		fprintf(stderr, "gmem_convert_bench: no KVM_SET_MEMORY_ATTRIBUTES2\n");
		return 1;
	}
	hvo_trace_init();

	printf("%-8s %14s  %-19s %5s  %14s  %14s  %10s\n", "backing", "size",
	       "what", "reps", "median_us", "min_us", "ns/4K");
	for (b = backings; b < backings + ARRAY_SIZE(backings); b++) {
		if (!offered(kvm, b))
			continue;
		for (i = 1; i < argc; i++)
			bench_size(kvm, parse_size(argv[i]), b);
		if (argc == 1)
			for (i = 0; i < (int)ARRAY_SIZE(defaults); i++)
				bench_size(kvm, parse_size(defaults[i]), b);
	}
	/* Patterns across 1 GiB: random 4K pages, consecutive 2M steps. */
	for (b = backings; argc == 1 && b < backings + ARRAY_SIZE(backings); b++) {
		if (!offered(kvm, b))
			continue;
		bench_pattern(kvm, b, true, PAGE, b->huge_shift == 30 ? 8 : 64);
		bench_pattern(kvm, b, false, 2ULL << 20, b->huge_shift == 30 ? 8 : 64);
	}
	/* One 4K page of a 1G page shared: its vmemmap and stage-2 mappings. */
	for (b = backings; argc == 1 && b < backings + ARRAY_SIZE(backings); b++)
		if (offered(kvm, b) && b->huge_shift == 30)
			bench_pieces(kvm, b);
	/* A vCPU fault beside conversions elsewhere in its file. */
	for (b = backings; argc == 1 && b < backings + ARRAY_SIZE(backings); b++)
		if (offered(kvm, b))
			bench_fault_wait(kvm, b, b->huge_shift == 30 ? 8 : 64);
	/* Last: it takes the top-level tracer. */
	for (b = backings; argc == 1 && b < backings + ARRAY_SIZE(backings); b++)
		if (offered(kvm, b) && b->huge_shift)
			bench_irqsoff(kvm, b);
	hvo_trace_exit();
	return 0;
}
