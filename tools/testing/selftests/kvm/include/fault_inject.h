/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kernel's fault injection (failslab, fail_page_alloc), set for the
 * tasks marked for it.  A test saves the knobs it changes, arms them, and
 * a parent puts them back whatever became of it: those two steps assert
 * nothing.  Probability comes first in a table of settings: set last and
 * restored first, so that no other task ever sees failures meant for
 * marked ones.
 *
 * With a "space" budget, should_fail() takes the size of each allocation
 * tried from it and fails none until it runs out: what is left of it
 * counts the attempts.
 */
#ifndef SELFTEST_KVM_FAULT_INJECT_H
#define SELFTEST_KVM_FAULT_INJECT_H

#include <stdbool.h>

#define FAULT_INJECT_DIR	"/sys/kernel/debug"
/* Large enough never to run out, so that every failure shows in it. */
#define FAULT_INJECT_TIMES	"1000000"
/* A budget no test uses up: what is taken from it was tried. */
#define FAULT_INJECT_SPACE	"1000000000"
#define FAULT_INJECT_MAX_KNOBS	32

extern const char * const fault_inject_attrs[2];

struct fault_inject_setting {
	const char *attr;		/* NULL: every attr */
	const char *file, *value;	/* NULL value: the caller's "space" */
};

/*
 * Every allocation of a marked task fails, quietly, counted in "times":
 * kvm.gmem_fail_after_ponr marks conversions past their point of no return.
 */
extern const struct fault_inject_setting fault_inject_marked[9];

struct fault_inject {
	int nr;
	struct {
		char path[128];
		const char *value;
		char saved[32];
	} knobs[FAULT_INJECT_MAX_KNOBS];
};

void fault_inject_save(struct fault_inject *fi, const struct fault_inject_setting *s,
		       int nr, const char *space);
int fault_inject_arm(const struct fault_inject *fi);
int fault_inject_restore(const struct fault_inject *fi);
long fault_inject_read(const char *attr, const char *file);
void fault_inject_set(const char *file, const char *value);
void fault_inject_set_space(const char *value);
void fault_inject_mark_task(bool on);

#endif /* SELFTEST_KVM_FAULT_INJECT_H */
