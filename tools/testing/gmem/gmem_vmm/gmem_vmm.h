/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What gmem_vmm's files share: the VM, the machine around its vCPU, the
 * converter that runs beside it, and what each file offers the others.
 * main.c says what the program does.
 */
#ifndef GMEM_VMM_H
#define GMEM_VMM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/kvm.h>

#include "bench_util.h"

#define PAGE		4096ULL
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))
#define MIB		0x100000ULL

/* --- ram.c: guest memory and its backings -------------------------------- */

struct backing {
	const char *name;
	bool gmem;
	unsigned int page_shift;	/* 12, 21 or 30 */
	const char *what;
	bool thp;			/* THP, not HugeTLB, pages */
	/*
	 * GUEST_MEMFD_FLAG_INIT_SHARED and no conversions: RAM all shared,
	 * as a non-confidential VM uses guest_memfd.
	 */
	bool shared;
};

/* What -m offers, in the order usage() lists it. */
extern const struct backing backings[];
extern const size_t nr_backings;

struct vm {
	const struct backing *b;
	uint64_t ram;
	int kvm, fd, gmem;
	char *mem;
	/* Loaded ranges, converted to shared and back on guest_memfd. */
	struct { uint64_t gpa, size; } ranges[8];
	int nr_ranges;
	uint64_t convert_ns, conversions;
};

const struct backing *find_backing(const char *name);
void check_pool(const struct backing *b, uint64_t ram);
uint64_t set_private(struct vm *vm, uint64_t gpa, uint64_t size, bool private);
void create_ram(struct vm *vm);
void *load_range(struct vm *vm, uint64_t gpa, uint64_t size);
void seal_ranges(struct vm *vm);

/* --- boot.c: boot image, page tables and ACPI ---------------------------- */

struct boot {
	uint64_t entry, zeropage;
};

void load_linux(struct vm *vm, const char *kernel_path,
		const char *initrd_path, const char *cmdline,
		struct boot *boot);

/* --- devices.c: COM1, the CMOS clock, the ACPI PM registers ------------- */

struct uart {
	uint8_t ier, lcr, mcr, scr, fcr, dll, dlm;
	bool thr_empty_irq, irq_level;
	bool rx_ready;		/* one byte to receive, in rx */
	uint8_t rx;
};

struct machine {
	struct vm *vm;
	struct uart com1;
	uint64_t start_ns, userspace_ns;
	const char *marker;
	size_t marker_seen;
	uint8_t rtc_index;
	bool quiet, powered_off, reset;
	/* -x: once *done_converting, the guest receives 'q' on COM1, once. */
	const bool *done_converting;
	bool sent_q;
	bool verify_started;	/* the guest printed VERIFY_STARTED */
	uint64_t nr_exits, last_exit_ns;	/* for dump_vcpu() */
	char line[160];
	size_t line_len;
	/* The guest's "gmem-guest: result ..." lines, for the report. */
	char results[8][160];
	int nr_results;
};

void handle_io(struct machine *m, struct kvm_run *run);
void send_q(struct machine *m);

/* --- vcpu.c: the vCPU and its run loop ----------------------------------- */

int create_vcpu(struct vm *vm, const struct boot *boot, struct kvm_run **run);
void run(struct machine *m, int vcpu, struct kvm_run *run, unsigned int limit);

/* --- convert.c: conversions under a running guest (-x) ------------------- */

#define MAX_ROUND_TRIPS 256

/*
 * What a VMM does when its guest shares a page with it and takes it back
 * again: once the guest's gmem_guest.verify workload has started, random
 * 4K pages of its RAM go to shared and straight back to private (PRESERVE)
 * while the vCPU runs.  A software-protected guest that touches such a
 * page meanwhile sees the same bytes; KVM zaps the page's stage-2 mapping
 * both times, and on HugeTLB pages a round trip that hits a huge page the
 * guest has used splits it, or the 2M piece of it that holds the page, and
 * merges that again (a 1G page stays in 2M pieces once split).
 */
struct converter {
	struct vm *vm;
	struct machine *m;
	pthread_t thread, vcpu_thread;
	int want, done;
	bool stop;		/* set by main, read by the thread */
	bool finished;		/* set by the thread after @want round trips */
	/* The round trips that split a huge page, and the others. */
	struct round_trips {
		uint64_t to_shared[MAX_ROUND_TRIPS], to_private[MAX_ROUND_TRIPS];
		int n;
	} split, no_split;
	/* The vCPU thread's. */
	struct lock_waits waits;
};

void converter_start(struct converter *cv);
void converter_stop(struct converter *cv);

/* --- report.c: counters, the report and the -c checks -------------------- */

/* hugetlb_gmem, thp_gmem and vmstat counters. */
struct counters {
	long long splits, merges, restores, optimizes, memmap_pages;
};

/*
 * What the report compares: the counters at the start, once loaded, once
 * sealed and at the end, when loading ended, and KVM's pages_4k/2m/1g.
 */
struct samples {
	struct counters c0, c1, c2, c3;
	uint64_t t_loaded, pages[3];
};

void read_counters(struct counters *c);
void print_report(const struct vm *vm, const struct machine *m,
		  struct converter *cv, const struct samples *s);
int check_run(const struct vm *vm, const struct machine *m,
	      const struct converter *cv, const struct samples *s);

#endif
