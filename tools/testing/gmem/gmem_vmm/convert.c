// SPDX-License-Identifier: GPL-2.0
/*
 * -x: conversions under a running guest, from a thread of their own while
 * the vCPU runs (struct converter says why), and how long the vCPU's faults
 * waited for them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "gmem_vmm.h"

/*
 * A conversion holds its file's invalidate_lock for write while it changes
 * the file, and a vCPU fault takes it shared (kvm_gmem_get_pfn()): the
 * fault waits meanwhile.  The lock:contention_begin/end tracepoints, in a
 * trace instance of our own, see every wait of the vCPU thread for a
 * reader-writer semaphore taken shared (flags READ), with a stack trace
 * that tells a fault's wait in kvm_gmem_get_pfn() from others.  Times are
 * trace_clock mono, printed in us.
 */
#define TRACING		"/sys/kernel/tracing"
#define LCB_F_READ	2	/* include/trace/events/lock.h */

static int trace_write(struct fault_waits *fw, const char *file, const char *val)
{
	char path[160];

	snprintf(path, sizeof(path), "%s/%s", fw->instance, file);
	return write_file(path, val, O_TRUNC);
}

/* From the vCPU thread; without tracefs or the events, no figure. */
static void fault_waits_start(struct fault_waits *fw)
{
	char tid[32], filter[32];

	if (access(TRACING "/instances", F_OK) &&
	    mount("nodev", TRACING, "tracefs", 0, NULL))
		goto untraced;
	snprintf(fw->instance, sizeof(fw->instance), TRACING "/instances/gmem_vmm.%d",
		 getpid());
	if (mkdir(fw->instance, 0755))
		goto untraced;
	snprintf(tid, sizeof(tid), "%ld", syscall(SYS_gettid));
	snprintf(filter, sizeof(filter), "flags == %d", LCB_F_READ);
	/* Off until the conversions start. */
	if (trace_write(fw, "tracing_on", "0") ||
	    trace_write(fw, "trace_clock", "mono") ||
	    trace_write(fw, "set_event_pid", tid) ||
	    trace_write(fw, "events/lock/contention_begin/filter", filter) ||
	    trace_write(fw, "events/lock/contention_begin/trigger", "stacktrace") ||
	    trace_write(fw, "events/lock/contention_begin/enable", "1") ||
	    trace_write(fw, "events/lock/contention_end/enable", "1")) {
		rmdir(fw->instance);
		goto untraced;
	}
	fw->traced = true;
	return;
untraced:
	fprintf(stderr, "%s: no lock contention tracepoints (%s): vCPU fault waits not measured\n",
		bench_prog, strerror(errno));
}

/* The time of a trace line, "... 123.456789: event: ...", in ns. */
static unsigned long long trace_line_ns(const char *line, const char *event)
{
	const char *p = strstr(line, event);
	unsigned long long s, us;

	while (p > line && p[-1] != ' ')
		p--;
	if (!p || sscanf(p, "%llu.%llu:", &s, &us) != 2)
		return 0;
	return s * 1000000000ULL + us * 1000;
}

/* Each READ wait: from its begin to the vCPU thread's next end event. */
static void fault_waits_stop(struct fault_waits *fw)
{
	unsigned long long ns, begin = 0;
	char path[160], line[512];
	bool in_gmem = false;
	FILE *f;

	if (!fw->traced)
		return;
	trace_write(fw, "tracing_on", "0");
	snprintf(path, sizeof(path), "%s/trace", fw->instance);
	f = fopen(path, "r");
	if (!f)
		die_errno(path);
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, ": contention_begin: ")) {
			begin = trace_line_ns(line, ": contention_begin: ");
			in_gmem = false;
		} else if (begin && strstr(line, " => kvm_gmem_get_pfn")) {
			in_gmem = true;
		} else if (begin && strstr(line, ": contention_end: ")) {
			struct wait_stats *w = in_gmem ? &fw->gmem : &fw->other;

			ns = trace_line_ns(line, ": contention_end: ");
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
	trace_write(fw, "events/lock/contention_begin/enable", "0");
	trace_write(fw, "events/lock/contention_end/enable", "0");
	trace_write(fw, "events/lock/contention_begin/trigger", "!stacktrace");
	rmdir(fw->instance);
}

static void *converter_thread(void *arg)
{
	struct converter *cv = arg;
	uint64_t seed = 1, gpa, shared, private;
	struct counters before, after;
	struct round_trips *rt;

	while (!__atomic_load_n(&cv->m->verify_started, __ATOMIC_ACQUIRE)) {
		if (__atomic_load_n(&cv->stop, __ATOMIC_ACQUIRE))
			return NULL;
		usleep(1000);
	}
	/* Only the waits from here on count. */
	if (cv->waits.traced && (trace_write(&cv->waits, "trace", "") ||
				 trace_write(&cv->waits, "tracing_on", "1")))
		die("starting the trace of vCPU fault waits failed");
	while (cv->done < cv->want && !__atomic_load_n(&cv->stop, __ATOMIC_ACQUIRE)) {
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		gpa = ((seed >> 33) % (cv->vm->ram / PAGE)) * PAGE;
		read_counters(&before);
		shared = set_private(cv->vm, gpa, PAGE, false);
		private = set_private(cv->vm, gpa, PAGE, true);
		read_counters(&after);
		rt = after.splits != before.splits ? &cv->split : &cv->no_split;
		rt->to_shared[rt->n] = shared;
		rt->to_private[rt->n++] = private;
		cv->done++;
		usleep(1000);
	}
	if (cv->waits.traced)
		trace_write(&cv->waits, "tracing_on", "0");
	if (cv->done < cv->want)
		return NULL;
	__atomic_store_n(&cv->finished, true, __ATOMIC_RELEASE);
	/* The vCPU may run without exits for long: make it look. */
	while (!__atomic_load_n(&cv->m->sent_q, __ATOMIC_ACQUIRE) &&
	       !__atomic_load_n(&cv->stop, __ATOMIC_ACQUIRE)) {
		pthread_kill(cv->vcpu_thread, SIGUSR1);
		usleep(10000);
	}
	return NULL;
}

/* Called from the vCPU thread, which the converter kicks when it is done. */
void converter_start(struct converter *cv)
{
	sigset_t block, old;

	if (!cv->want)
		return;
	cv->m->done_converting = &cv->finished;
	cv->vcpu_thread = pthread_self();
	fault_waits_start(&cv->waits);
	/* SIGALRM and the kicks are for the vCPU thread only. */
	sigemptyset(&block);
	sigaddset(&block, SIGALRM);
	sigaddset(&block, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	if (pthread_create(&cv->thread, NULL, converter_thread, cv))
		die("pthread_create failed");
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void converter_stop(struct converter *cv)
{
	if (!cv->want)
		return;
	__atomic_store_n(&cv->stop, true, __ATOMIC_RELEASE);
	pthread_join(cv->thread, NULL);
	fault_waits_stop(&cv->waits);
}
