/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Host-wide huge page settings that tests read and change: the HugeTLB
 * pools, hugetlb cgroups and the THP setting.  The __ versions return 0 or
 * -errno and assert nothing, for parents that put things back whatever
 * became of a test.
 */
#ifndef SELFTEST_KVM_HUGEPAGE_UTIL_H
#define SELFTEST_KVM_HUGEPAGE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CGROUP_ROOT	"/sys/fs/cgroup"

struct hugetlb_pool {
	uint64_t total, free, resv;
};

bool hugetlb_pool_exists(uint64_t page_size);
void hugetlb_pool_read(uint64_t page_size, struct hugetlb_pool *p);
void hugetlb_pool_assert(uint64_t page_size, const struct hugetlb_pool *want,
			 const char *when);
uint64_t hugetlb_pool_unreserved(uint64_t page_size);
int __hugetlb_pool_resize(uint64_t page_size, uint64_t nr);
void hugetlb_pool_resize(uint64_t page_size, uint64_t nr);
bool hugetlb_vmemmap_optimized(void);

const char *hugetlb_cgroup_size_name(uint64_t page_size);
void cgroup_create_hugetlb(const char *cg);
void cgroup_move_self(const char *cg);
int __cgroup_remove(const char *cg);
uint64_t hugetlb_cgroup_read(const char *cg, uint64_t page_size, const char *file);
void hugetlb_cgroup_write(const char *cg, uint64_t page_size, const char *file,
			  const char *val);
void hugetlb_cgroup_assert(const char *cg, uint64_t page_size, uint64_t current,
			   uint64_t rsvd, const char *when);
void cgroup_wait_no_dying_descendants(const char *cg, const char *when);

int __thp_enabled_get(char *mode, size_t len);
void thp_enabled_set(const char *mode);
int __thp_enabled_set(const char *mode);

#endif /* SELFTEST_KVM_HUGEPAGE_UTIL_H */
