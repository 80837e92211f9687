// SPDX-License-Identifier: GPL-2.0
/*
 * The function tracer, limited to the functions that wait for an RCU grace
 * period, records while a watch is open (tracing_on); when it closes, the
 * entries of the thread that called rcu_waits_start() are counted, and
 * the buffer emptied (turning tracing_on on again would empty it too, with
 * the function tracer).  A function the kernel does not have,
 * or cannot trace (inlined), is left out; synchronize_rcu() must be there.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/membarrier.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "rcu_waits.h"
#include "test_util.h"

#define TRACING	"/sys/kernel/tracing"

/* An entry whose caller is one of these is not counted again. */
static const char * const rcu_wait_functions[] = { RCU_WAIT_FUNCTIONS };

static int tracing_on_fd = -1;
static pid_t watched;
static long waits;
static char first_wait[512];

static int __write_tracing(const char *file, const char *val, int flags)
{
	char path[128];
	int fd, r = 0;

	snprintf(path, sizeof(path), TRACING "/%s", file);
	fd = open(path, O_WRONLY | flags);
	if (fd < 0)
		return -errno;
	if (write(fd, val, strlen(val)) != (ssize_t)strlen(val))
		r = -errno;
	close(fd);
	return r;
}

static void write_tracing(const char *file, const char *val)
{
	int r = __write_tracing(file, val, O_TRUNC);

	TEST_ASSERT(!r, "writing '%s' to " TRACING "/%s: %s", val, file,
		    strerror(-r));
}

static bool tracing_mounted(void)
{
	if (!access(TRACING "/available_tracers", F_OK))
		return true;
	return !mount("nodev", TRACING, "tracefs", 0, NULL);
}

/*
 * tracefs, the function tracer, a traceable synchronize_rcu(), and two
 * CPUs, which rcu_waits_start()'s check of the counter needs.
 */
bool rcu_waits_offered(void)
{
	char line[256];
	bool found = false;
	FILE *f;

	if (sysconf(_SC_NPROCESSORS_ONLN) < 2 || !tracing_mounted())
		return false;
	f = fopen(TRACING "/available_tracers", "r");
	if (!f)
		return false;
	while (fscanf(f, "%255s", line) == 1)
		found |= !strcmp(line, "function");
	fclose(f);
	if (!found)
		return false;

	found = false;
	f = fopen(TRACING "/available_filter_functions", "r");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = !strcmp(line, "synchronize_rcu\n");
	fclose(f);
	return found;
}

static bool filter_has_synchronize_rcu(void)
{
	char line[256];
	bool found = false;
	FILE *f = fopen(TRACING "/set_ftrace_filter", "r");

	TEST_ASSERT(f, "opening " TRACING "/set_ftrace_filter");
	while (!found && fgets(line, sizeof(line), f))
		found = !strcmp(line, "synchronize_rcu\n");
	fclose(f);
	return found;
}

/*
 * Trace the wait functions, with no watch open, for the calling thread,
 * after checking that the counter sees a known wait.
 * The filter is set before the tracer: with an empty filter the function
 * tracer would trace every function.
 */
void rcu_waits_start(void)
{
	int i, r;

	TEST_ASSERT(rcu_waits_offered(), "no function tracer to count RCU waits");
	write_tracing("tracing_on", "0");
	write_tracing("current_tracer", "nop");
	write_tracing("trace", "");
	write_tracing("set_ftrace_filter", "synchronize_rcu");
	for (i = 1; i < ARRAY_SIZE(rcu_wait_functions); i++) {
		r = __write_tracing("set_ftrace_filter", rcu_wait_functions[i],
				    O_APPEND);
		TEST_ASSERT(!r || r == -EINVAL, "adding %s to set_ftrace_filter: %s",
			    rcu_wait_functions[i], strerror(-r));
	}
	/* Names are applied as the file closes: see that one was. */
	TEST_ASSERT(filter_has_synchronize_rcu(), "synchronize_rcu not in set_ftrace_filter");
	watched = gettid();
	waits = 0;
	write_tracing("current_tracer", "function");
	tracing_on_fd = open(TRACING "/tracing_on", O_WRONLY);
	TEST_ASSERT(tracing_on_fd >= 0, "opening " TRACING "/tracing_on");

	/*
	 * A count of 0 proves nothing unless the counter sees a wait: watch
	 * one first.  membarrier(MEMBARRIER_CMD_GLOBAL) calls synchronize_rcu()
	 * when more than one CPU is online.
	 */
	rcu_waits_watch(true);
	TEST_ASSERT(!syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0),
		    "membarrier(MEMBARRIER_CMD_GLOBAL)");
	rcu_waits_watch(false);
	TEST_ASSERT(waits == 1, "%ld RCU waits counted in membarrier(MEMBARRIER_CMD_GLOBAL), not 1",
		    waits);
	waits = 0;
	snprintf(first_wait, sizeof(first_wait), "none");
}

/* Whether a trace line's caller ("<-name") is one of the wait functions. */
static bool nested_wait(const char *line)
{
	const char *caller = strstr(line, "<-");
	size_t i, n;

	if (!caller)
		return false;
	caller += 2;
	n = strcspn(caller, "+\n");
	for (i = 0; i < ARRAY_SIZE(rcu_wait_functions); i++)
		if (strlen(rcu_wait_functions[i]) == n &&
		    !strncmp(caller, rcu_wait_functions[i], n))
			return true;
	return false;
}

/* The entries of the watched thread: a line starts with "comm-tid [cpu]". */
static void count_waits(void)
{
	char line[512], task[32];
	char *cpu, *me;
	FILE *f;

	f = fopen(TRACING "/trace", "r");
	TEST_ASSERT(f, "opening " TRACING "/trace");
	snprintf(task, sizeof(task), "-%d ", watched);
	while (fgets(line, sizeof(line), f)) {
		cpu = strstr(line, " [");
		me = strstr(line, task);
		if (line[0] == '#' || !cpu || !me || me > cpu || nested_wait(line))
			continue;
		if (!waits++)
			snprintf(first_wait, sizeof(first_wait), "%s", line);
	}
	fclose(f);
	write_tracing("trace", "");
}

/* Open or close the watch: only what it brackets is counted. */
void rcu_waits_watch(bool on)
{
	TEST_ASSERT(pwrite(tracing_on_fd, on ? "1" : "0", 1, 0) == 1,
		    "writing " TRACING "/tracing_on");
	if (!on)
		count_waits();
}

/*
 * Put the tracer back; return how many waits the thread entered while
 * watched, and the trace line of the first in @first.
 */
long rcu_waits_stop(char *first, size_t len)
{
	close(tracing_on_fd);
	tracing_on_fd = -1;
	snprintf(first, len, "%s", first_wait);
	write_tracing("current_tracer", "nop");
	write_tracing("set_ftrace_filter", "");
	write_tracing("trace", "");
	write_tracing("tracing_on", "1");
	return waits;
}
