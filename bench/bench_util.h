/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers the bench/ programs and gmem_vmm share. Each program defines
 * bench_prog, its name for its error messages, once: extern, so that a
 * program of several files has one name for all of them.
 */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <linux/kvm.h>

extern const char *bench_prog;

/* The kernel's names for these attributes: userspace has no compiler.h. */
#ifndef __noreturn
#define __noreturn	__attribute__((__noreturn__))
#endif
#ifndef __printf
#define __printf(a, b)	__attribute__((__format__(printf, a, b)))
#endif
#ifndef __maybe_unused
#define __maybe_unused	__attribute__((__unused__))
#endif

static inline __noreturn __printf(1, 2) void die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "%s: ", bench_prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static inline __noreturn void die_errno(const char *what)
{
	die("%s: %s", what, strerror(errno));
}

/* CLOCK_MONOTONIC: under QEMU -icount this is instruction time. */
static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/*
 * Write @val to the file at @path, opened with O_WRONLY | @flags (a tracefs
 * file: O_TRUNC sets it, O_APPEND adds to a list); 0 or -errno.
 */
static inline int write_file(const char *path, const char *val, int flags)
{
	int fd = open(path, O_WRONLY | flags), r = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) != (ssize_t)strlen(val))
		r = -errno;
	close(fd);
	return r;
}

/*
 * A thread's waits for a reader-writer semaphore taken shared, from the
 * lock:contention_begin/end tracepoints in a trace instance of our own,
 * with a stack trace that tells a fault's wait in kvm_gmem_get_pfn() (for
 * the file's invalidate_lock, which conversions hold for write) from
 * others.  Times are trace_clock mono, printed in us.
 */
struct lock_waits {
	bool traced;
	char instance[96];
	struct wait_stats {
		long long n;
		unsigned long long max_ns, total_ns;
	} gmem, other;
};

#define LOCK_WAITS_TRACING	"/sys/kernel/tracing"
#define LOCK_WAITS_READ		2	/* LCB_F_READ, include/trace/events/lock.h */

static inline int lock_waits_write(struct lock_waits *lw, const char *file,
				   const char *val)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/%s", lw->instance, file);
	return write_file(path, val, O_TRUNC);
}

/* Set up, off, for thread @tid; without tracefs or the events, no figure. */
static inline void lock_waits_init(struct lock_waits *lw, long tid)
{
	char val[32], filter[32];

	memset(lw, 0, sizeof(*lw));
	if (access(LOCK_WAITS_TRACING "/instances", F_OK) &&
	    mount("nodev", LOCK_WAITS_TRACING, "tracefs", 0, NULL))
		goto untraced;
	snprintf(lw->instance, sizeof(lw->instance),
		 LOCK_WAITS_TRACING "/instances/%s.%ld", bench_prog, tid);
	if (mkdir(lw->instance, 0755))
		goto untraced;
	snprintf(val, sizeof(val), "%ld", tid);
	snprintf(filter, sizeof(filter), "flags == %d", LOCK_WAITS_READ);
	if (lock_waits_write(lw, "tracing_on", "0") ||
	    lock_waits_write(lw, "trace_clock", "mono") ||
	    lock_waits_write(lw, "set_event_pid", val) ||
	    lock_waits_write(lw, "events/lock/contention_begin/filter", filter) ||
	    lock_waits_write(lw, "events/lock/contention_begin/trigger", "stacktrace") ||
	    lock_waits_write(lw, "events/lock/contention_begin/enable", "1") ||
	    lock_waits_write(lw, "events/lock/contention_end/enable", "1")) {
		rmdir(lw->instance);
		goto untraced;
	}
	lw->traced = true;
	return;
untraced:
	fprintf(stderr, "%s: no lock contention tracepoints (%s): lock waits not measured\n",
		bench_prog, strerror(errno));
}

/* Count the waits from now on, or stop counting them. */
static inline void lock_waits_on(struct lock_waits *lw, bool on)
{
	if (lw->traced && ((on && lock_waits_write(lw, "trace", "")) ||
			   lock_waits_write(lw, "tracing_on", on ? "1" : "0")))
		die("%s tracing of lock waits failed", on ? "starting" : "stopping");
}

/* The time of a trace line, "... 123.456789: event: ...", in ns. */
static inline unsigned long long lock_waits_ns(const char *line, const char *event)
{
	const char *p = strstr(line, event);
	unsigned long long s, us;

	while (p > line && p[-1] != ' ')
		p--;
	if (!p || sscanf(p, "%llu.%llu:", &s, &us) != 2)
		return 0;
	return s * 1000000000ULL + us * 1000;
}

/* Each wait, from its begin to the thread's next end event; then tidy up. */
static inline void lock_waits_read(struct lock_waits *lw)
{
	unsigned long long ns, begin = 0;
	char path[160], line[512];
	bool in_gmem = false;
	FILE *f;

	if (!lw->traced)
		return;
	lock_waits_on(lw, false);
	snprintf(path, sizeof(path), "%s/trace", lw->instance);
	f = fopen(path, "r");
	if (!f)
		die_errno(path);
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, ": contention_begin: ")) {
			begin = lock_waits_ns(line, ": contention_begin: ");
			in_gmem = false;
		} else if (begin && strstr(line, " => kvm_gmem_get_pfn")) {
			in_gmem = true;
		} else if (begin && strstr(line, ": contention_end: ")) {
			struct wait_stats *w = in_gmem ? &lw->gmem : &lw->other;

			ns = lock_waits_ns(line, ": contention_end: ");
			if (ns >= begin) {
				w->n++;
				w->total_ns += ns - begin;
				if (ns - begin > w->max_ns)
					w->max_ns = ns - begin;
			}
			begin = 0;
		}
	}
	fclose(f);
	lock_waits_write(lw, "events/lock/contention_begin/enable", "0");
	lock_waits_write(lw, "events/lock/contention_end/enable", "0");
	lock_waits_write(lw, "events/lock/contention_begin/trigger", "!stacktrace");
	rmdir(lw->instance);
}

/* KVM's binary statistics of the VM: pages_4k, pages_2m, pages_1g. */
static inline void read_vm_stats(int vm_fd, uint64_t pages[3])
{
	static const char * const names[3] = { "pages_4k", "pages_2m", "pages_1g" };
	struct kvm_stats_header hdr;
	struct kvm_stats_desc *desc;
	size_t desc_size;
	uint32_t i;
	int fd, j;

	memset(pages, 0, 3 * sizeof(pages[0]));
	fd = ioctl(vm_fd, KVM_GET_STATS_FD, NULL);
	if (fd < 0)
		die_errno("KVM_GET_STATS_FD");
	if (pread(fd, &hdr, sizeof(hdr), 0) != sizeof(hdr))
		die_errno("reading the VM's stats header");
	desc_size = sizeof(*desc) + hdr.name_size;
	desc = malloc(desc_size * hdr.num_desc);
	if (!desc || pread(fd, desc, desc_size * hdr.num_desc, hdr.desc_offset) !=
		     (ssize_t)(desc_size * hdr.num_desc))
		die_errno("reading the VM's stats descriptors");
	for (i = 0; i < hdr.num_desc; i++) {
		struct kvm_stats_desc *d = (void *)((char *)desc + i * desc_size);

		for (j = 0; j < 3; j++)
			if (!strcmp(d->name, names[j]) &&
			    pread(fd, &pages[j], sizeof(pages[j]),
				  hdr.data_offset + d->offset) != sizeof(pages[j]))
				die_errno("reading the VM's stats");
	}
	free(desc);
	close(fd);
}

/* For qsort() of uint64_t samples. */
static inline int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

#endif
