/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The guest workload of the huge-page guest_memfd tests
 * (guest_memfd_hugetlb_test, guest_memfd_thp_test): every 4K page of
 * [gpa, gpa + size) gets a word, written in one pass, then read back in
 * each later pass, which reports how many pages read zero (punched) and
 * the last of them.
 */
#ifndef SELFTEST_KVM_GUEST_MEMFD_PAGES_H
#define SELFTEST_KVM_GUEST_MEMFD_PAGES_H

#include "kvm_util.h"
#include "ucall_common.h"

static void guest_code(uint64_t gpa, uint64_t size, uint64_t seed)
{
	uint64_t off;

	for (off = 0; off < size; off += 4096)
		WRITE_ONCE(*(uint64_t *)(gpa + off), seed ^ off);
	GUEST_SYNC1(0);
	for (;;) {
		uint64_t zeros = 0, last_zero = 0;

		for (off = 0; off < size; off += 4096) {
			uint64_t v = READ_ONCE(*(uint64_t *)(gpa + off));

			/* A punched page reads as zero. */
			GUEST_ASSERT(v == (seed ^ off) || v == 0);
			if (!v) {
				zeros++;
				last_zero = off;
			}
		}
		GUEST_SYNC3(1, zeros, last_zero);
	}
}

/* Runs the guest to its next report; returns the zero pages it saw. */
static uint64_t run_guest(struct kvm_vcpu *vcpu, uint64_t stage, uint64_t *last_zero)
{
	struct ucall uc;

	vcpu_run(vcpu);
	TEST_ASSERT_KVM_EXIT_REASON(vcpu, KVM_EXIT_IO);
	switch (get_ucall(vcpu, &uc)) {
	case UCALL_SYNC:
		TEST_ASSERT_EQ(uc.args[0], stage);
		if (last_zero)
			*last_zero = uc.args[2];
		return uc.args[1];
	case UCALL_ABORT:
		REPORT_GUEST_ASSERT(uc);
	default:
		TEST_FAIL("unexpected ucall %lu", uc.cmd);
	}
	return 0;
}

#endif /* SELFTEST_KVM_GUEST_MEMFD_PAGES_H */
