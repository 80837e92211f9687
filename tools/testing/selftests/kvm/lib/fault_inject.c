// SPDX-License-Identifier: GPL-2.0
/*
 * Fault injection for tests: see include/fault_inject.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>

#include "fault_inject.h"
#include "test_util.h"

const char * const fault_inject_attrs[2] = { "failslab", "fail_page_alloc" };

const struct fault_inject_setting fault_inject_marked[9] = {
	{ NULL, "probability", "100" },
	{ NULL, "interval", "1" },
	{ NULL, "times", FAULT_INJECT_TIMES },
	{ NULL, "space", NULL },
	{ NULL, "verbose", "0" },
	{ NULL, "task-filter", "Y" },
	{ NULL, "ignore-gfp-wait", "N" },
	{ "fail_page_alloc", "ignore-gfp-highmem", "N" },
	{ "fail_page_alloc", "min-order", "0" },
};

/* Skips the test without fault injection; saves what is there. */
void fault_inject_save(struct fault_inject *fi, const struct fault_inject_setting *s,
		       int nr, const char *space)
{
	int i, a;

	fi->nr = 0;
	for (i = 0; i < nr; i++) {
		for (a = 0; a < ARRAY_SIZE(fault_inject_attrs); a++) {
			if (s[i].attr && strcmp(s[i].attr, fault_inject_attrs[a]))
				continue;
			TEST_ASSERT(fi->nr < FAULT_INJECT_MAX_KNOBS, "too many knobs");
			snprintf(fi->knobs[fi->nr].path, sizeof(fi->knobs[0].path),
				 FAULT_INJECT_DIR "/%s/%s", fault_inject_attrs[a], s[i].file);
			fi->knobs[fi->nr].value = s[i].value ?: space;
			TEST_REQUIRE(!access(fi->knobs[fi->nr].path, W_OK));
			read_file_str(fi->knobs[fi->nr].path, fi->knobs[fi->nr].saved,
				      sizeof(fi->knobs[0].saved));
			fi->nr++;
		}
	}
}

int fault_inject_arm(const struct fault_inject *fi)
{
	int i;

	/* Probability last: nothing fails before the filter is in place. */
	for (i = fi->nr - 1; i >= 0; i--)
		if (__write_file_str(fi->knobs[i].path, fi->knobs[i].value))
			return -1;
	return 0;
}

int fault_inject_restore(const struct fault_inject *fi)
{
	int i, bad = 0;

	for (i = 0; i < fi->nr; i++) {
		if (__write_file_str(fi->knobs[i].path, fi->knobs[i].saved)) {
			fprintf(stderr, "could not put '%s' back into %s\n", fi->knobs[i].saved,
				fi->knobs[i].path);
			bad = -1;
		}
	}
	return bad;
}

long fault_inject_read(const char *attr, const char *file)
{
	char path[128], buf[32];

	snprintf(path, sizeof(path), FAULT_INJECT_DIR "/%s/%s", attr, file);
	read_file_str(path, buf, sizeof(buf));
	return atol(buf);
}

/* Writes @value to @file of every attribute (failslab, fail_page_alloc). */
void fault_inject_set(const char *file, const char *value)
{
	char path[128];
	int a;

	for (a = 0; a < ARRAY_SIZE(fault_inject_attrs); a++) {
		snprintf(path, sizeof(path), FAULT_INJECT_DIR "/%s/%s",
			 fault_inject_attrs[a], file);
		write_file_str(path, value);
	}
}

/* Counts, without failing, the allocations tried: see the header. */
void fault_inject_set_space(const char *value)
{
	fault_inject_set("space", value);
}

/*
 * A marked task's own page faults fail too, and a user page fault that
 * fails is retried until the injection's budget is spent, so that the
 * allocation the test means to fail no longer does.  A test forked by the
 * harness shares its pages with its parent until it writes them
 * (copy-on-write), its stack included: any write in the marked window,
 * even to the caller's own frame, can fault.  Grow the stack well below
 * the caller's frame, then write every page of the stack, the heap (and
 * with it a static binary's TLS, errno) and the executable's data.
 */
static void __attribute__((noinline)) fault_inject_prefault_stack(void)
{
	volatile char buf[64 << 10];
	size_t i;

	for (i = 0; i < sizeof(buf); i += 4096)
		buf[i] = 0;
}

static void fault_inject_prefault(void)
{
	char line[512], path[256], exe[256] = "";
	unsigned long start, end, data_end = 0;
	int saved = errno;
	char perms[8];
	ssize_t n;
	FILE *f;

	fault_inject_prefault_stack();
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0)
		exe[n] = '\0';
	f = fopen("/proc/self/maps", "r");
	TEST_ASSERT(f, "open /proc/self/maps: %s", strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		path[0] = '\0';
		if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %255s", &start, &end,
			   perms, path) < 3 || strcmp(perms, "rw-p"))
			continue;
		/* The data, its bss right after it, the heap, the stack. */
		if (strcmp(path, exe) && strcmp(path, "[heap]") &&
		    strcmp(path, "[stack]") && (path[0] || start != data_end))
			continue;
		if (!strcmp(path, exe))
			data_end = end;
		TEST_ASSERT(!madvise((void *)start, end - start, MADV_POPULATE_WRITE),
			    "prefault %s: %s", line, strerror(errno));
	}
	fclose(f);
	errno = saved;
}

/*
 * Marks the calling thread for fault injection, or unmarks it.  The file
 * stays open: a marked thread could not open it again.
 */
void fault_inject_mark_task(bool on)
{
	static int fd = -1;

	if (on)
		fault_inject_prefault();

	if (fd < 0)
		fd = open("/proc/thread-self/make-it-fail", O_WRONLY);
	TEST_ASSERT(fd >= 0, "open /proc/thread-self/make-it-fail: %s", strerror(errno));
	TEST_ASSERT_EQ(write(fd, on ? "1" : "0", 1), 1);
}
