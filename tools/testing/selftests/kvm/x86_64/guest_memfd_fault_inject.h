/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Fault injection for the guest_memfd conversion tests.  failslab and
 * fail_page_alloc are set to fail every allocation of the tasks marked
 * for them (kvm.gmem_fail_after_ponr marks conversions past their point
 * of no return), quietly, and to count the failures in "times".  With a
 * "space" budget, should_fail() takes the size of each allocation tried
 * from it and fails none until it runs out: what is left of it counts the
 * attempts.
 *
 * A parent process finds and saves the settings, arms them, and puts
 * them back whatever becomes of the test in its child: those two steps
 * assert nothing.  Probability comes first in the table: set last and
 * restored first, so that no other task ever sees failures meant for
 * marked ones.
 */
#ifndef SELFTEST_KVM_GUEST_MEMFD_FAULT_INJECT_H
#define SELFTEST_KVM_GUEST_MEMFD_FAULT_INJECT_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_util.h"

#define DEBUGFS		"/sys/kernel/debug"
/* Large enough never to run out, so that every failure shows in it. */
#define FAULT_TIMES	"1000000"
/* A budget no test uses up: what is taken from it was tried. */
#define FAULT_SPACE	"1000000000"

static const char * const fault_attrs[] = { "failslab", "fail_page_alloc" };

static const struct {
	const char *attr;	/* NULL: both */
	const char *file, *value;	/* NULL value: the "space" asked for */
} fault_settings[] = {
	{ NULL, "probability", "100" },
	{ NULL, "interval", "1" },
	{ NULL, "times", FAULT_TIMES },
	{ NULL, "space", NULL },
	{ NULL, "verbose", "0" },
	{ NULL, "task-filter", "Y" },
	{ NULL, "ignore-gfp-wait", "N" },
	{ "fail_page_alloc", "ignore-gfp-highmem", "N" },
	{ "fail_page_alloc", "min-order", "0" },
};

static struct {
	char path[128];
	const char *value;
	char saved[32];
} fault_knobs[ARRAY_SIZE(fault_settings) * ARRAY_SIZE(fault_attrs)];
static int nr_fault_knobs;

static void read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	TEST_ASSERT(fd >= 0, "open(%s): %s", path, strerror(errno));
	n = read(fd, buf, len - 1);
	TEST_ASSERT(n >= 0, "read(%s): %s", path, strerror(errno));
	buf[n] = '\0';
	close(fd);
}

/* No asserts: the parent uses it to put things back. */
static int write_file(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0) {
		fprintf(stderr, "open(%s): %s\n", path, strerror(errno));
		return -1;
	}
	n = write(fd, value, strlen(value));
	close(fd);
	if (n != strlen(value)) {
		fprintf(stderr, "could not write %s to %s\n", value, path);
		return -1;
	}
	return 0;
}

/* Skips the test without fault injection; saves what is there. */
static void fault_inject_find(const char *space)
{
	int i, a;

	for (i = 0; i < ARRAY_SIZE(fault_settings); i++) {
		for (a = 0; a < ARRAY_SIZE(fault_attrs); a++) {
			const char *only = fault_settings[i].attr;

			if (only && strcmp(only, fault_attrs[a]))
				continue;
			snprintf(fault_knobs[nr_fault_knobs].path, sizeof(fault_knobs[0].path),
				 DEBUGFS "/%s/%s", fault_attrs[a], fault_settings[i].file);
			fault_knobs[nr_fault_knobs].value = fault_settings[i].value ?: space;
			TEST_REQUIRE(!access(fault_knobs[nr_fault_knobs].path, W_OK));
			nr_fault_knobs++;
		}
	}
	for (i = 0; i < nr_fault_knobs; i++) {
		read_file(fault_knobs[i].path, fault_knobs[i].saved, sizeof(fault_knobs[i].saved));
		fault_knobs[i].saved[strcspn(fault_knobs[i].saved, "\n")] = '\0';
	}
}

static int fault_inject_arm(void)
{
	int i;

	/* Probability last: nothing fails before the filter is in place. */
	for (i = nr_fault_knobs - 1; i >= 0; i--)
		if (write_file(fault_knobs[i].path, fault_knobs[i].value))
			return -1;
	return 0;
}

static int fault_inject_restore(void)
{
	int i, bad = 0;

	for (i = 0; i < nr_fault_knobs; i++)
		bad |= write_file(fault_knobs[i].path, fault_knobs[i].saved);
	return bad;
}

static long fault_inject_read(const char *attr, const char *file)
{
	char path[128], buf[32];

	snprintf(path, sizeof(path), DEBUGFS "/%s/%s", attr, file);
	read_file(path, buf, sizeof(buf));
	return atol(buf);
}

#endif /* SELFTEST_KVM_GUEST_MEMFD_FAULT_INJECT_H */
