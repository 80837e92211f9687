// SPDX-License-Identifier: GPL-2.0
/*
 * HugeTLB pools, hugetlb cgroups and the THP setting: see
 * include/hugepage_util.h.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hugepage_util.h"
#include "test_util.h"

#define THP_ENABLED	"/sys/kernel/mm/transparent_hugepage/enabled"

static void pool_path(char *path, size_t len, uint64_t page_size, const char *file)
{
	snprintf(path, len, "/sys/kernel/mm/hugepages/hugepages-%lukB/%s", page_size >> 10, file);
}

bool hugetlb_pool_exists(uint64_t page_size)
{
	char path[128];

	pool_path(path, sizeof(path), page_size, "");
	return !access(path, F_OK);
}

void hugetlb_pool_read(uint64_t page_size, struct hugetlb_pool *p)
{
	char path[128];

	pool_path(path, sizeof(path), page_size, "nr_hugepages");
	p->total = read_file_u64(path);
	pool_path(path, sizeof(path), page_size, "free_hugepages");
	p->free = read_file_u64(path);
	pool_path(path, sizeof(path), page_size, "resv_hugepages");
	p->resv = read_file_u64(path);
}

void hugetlb_pool_assert(uint64_t page_size, const struct hugetlb_pool *want,
			 const char *when)
{
	struct hugetlb_pool p;

	hugetlb_pool_read(page_size, &p);
	TEST_ASSERT(p.total == want->total && p.free == want->free && p.resv == want->resv,
		    "%luK pool %s: total/free/rsvd %lu/%lu/%lu, want %lu/%lu/%lu",
		    page_size >> 10, when, p.total, p.free, p.resv,
		    want->total, want->free, want->resv);
}

/* Free pages that no file has reserved; 0 without a pool. */
uint64_t hugetlb_pool_unreserved(uint64_t page_size)
{
	struct hugetlb_pool p;

	if (!hugetlb_pool_exists(page_size))
		return 0;
	hugetlb_pool_read(page_size, &p);
	return p.free > p.resv ? p.free - p.resv : 0;
}

int __hugetlb_pool_resize(uint64_t page_size, uint64_t nr)
{
	char path[128], buf[32];

	pool_path(path, sizeof(path), page_size, "nr_hugepages");
	snprintf(buf, sizeof(buf), "%lu", nr);
	return __write_file_str(path, buf);
}

/* As an admin would: the pool then has @nr pages, or the test fails. */
void hugetlb_pool_resize(uint64_t page_size, uint64_t nr)
{
	char path[128];

	pool_path(path, sizeof(path), page_size, "nr_hugepages");
	write_file_u64(path, nr);
	TEST_ASSERT_EQ(read_file_u64(path), nr);
}

/* HVO is on: split pages restore their vmemmap, merged ones optimize it. */
bool hugetlb_vmemmap_optimized(void)
{
	char buf[8];

	return !__read_file_str("/proc/sys/vm/hugetlb_optimize_vmemmap", buf, sizeof(buf)) &&
	       !strcmp(buf, "1");
}

/* The size in hugetlb cgroup file names: "2MB", "1GB". */
const char *hugetlb_cgroup_size_name(uint64_t page_size)
{
	switch (page_size) {
	case 1ULL << 21:
		return "2MB";
	case 1ULL << 30:
		return "1GB";
	}
	TEST_FAIL("no hugetlb cgroup name for pages of 0x%lx bytes", page_size);
	return NULL;
}

/* @cg (if new) with the hugetlb controller: its parent hands it down. */
void cgroup_create_hugetlb(const char *cg)
{
	char parent[128];

	snprintf(parent, sizeof(parent), "%s", cg);
	*strrchr(parent, '/') = '\0';
	strncat(parent, "/cgroup.subtree_control", sizeof(parent) - strlen(parent) - 1);
	write_file_str(parent, "+hugetlb");
	TEST_ASSERT(!mkdir(cg, 0755) || errno == EEXIST, "mkdir %s: %s", cg, strerror(errno));
}

void cgroup_move_self(const char *cg)
{
	char path[128], pid[32];

	snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
	snprintf(pid, sizeof(pid), "%d", getpid());
	write_file_str(path, pid);
}

/* Removes @cg if there; 0, or -errno. */
int __cgroup_remove(const char *cg)
{
	return rmdir(cg) && errno != ENOENT ? -errno : 0;
}

static void hugetlb_cgroup_path(char *path, size_t len, const char *cg, uint64_t page_size,
				const char *file)
{
	snprintf(path, len, "%s/hugetlb.%s.%s", cg, hugetlb_cgroup_size_name(page_size), file);
}

/* hugetlb.<size>.@file of @cg, e.g. "current", "rsvd.current". */
uint64_t hugetlb_cgroup_read(const char *cg, uint64_t page_size, const char *file)
{
	char path[128];

	hugetlb_cgroup_path(path, sizeof(path), cg, page_size, file);
	return read_file_u64(path);
}

void hugetlb_cgroup_write(const char *cg, uint64_t page_size, const char *file,
			  const char *val)
{
	char path[128];

	hugetlb_cgroup_path(path, sizeof(path), cg, page_size, file);
	write_file_str(path, val);
}

void hugetlb_cgroup_assert(const char *cg, uint64_t page_size, uint64_t current,
			   uint64_t rsvd, const char *when)
{
	uint64_t c = hugetlb_cgroup_read(cg, page_size, "current");
	uint64_t r = hugetlb_cgroup_read(cg, page_size, "rsvd.current");

	TEST_ASSERT(c == current && r == rsvd,
		    "hugetlb cgroup %s %s: current %lu rsvd.current %lu, want %lu and %lu",
		    cg, when, c, r, current, rsvd);
}

/* Waits for the removed cgroups below @cg to be gone: 10 s at most. */
void cgroup_wait_no_dying_descendants(const char *cg, const char *when)
{
	uint64_t dying = 0;
	char path[128];
	int i;

	snprintf(path, sizeof(path), "%s/cgroup.stat", cg);
	for (i = 0; i < 1000; i++) {
		dying = read_file_key_u64(path, "nr_dying_descendants");
		if (!dying)
			return;
		usleep(10000);
	}
	TEST_FAIL("%s: %lu removed cgroup(s) below %s still there after 10 s", when, dying, cg);
}

/* The THP setting: the bracketed word of "always [madvise] never". */
int __thp_enabled_get(char *mode, size_t len)
{
	char buf[64], *l, *r;
	int ret = __read_file_str(THP_ENABLED, buf, sizeof(buf));

	if (ret)
		return ret;
	l = strchr(buf, '[');
	r = l ? strchr(l, ']') : NULL;
	if (!r)
		return -EINVAL;
	*r = '\0';
	snprintf(mode, len, "%s", l + 1);
	return 0;
}

int __thp_enabled_set(const char *mode)
{
	return __write_file_str(THP_ENABLED, mode);
}

void thp_enabled_set(const char *mode)
{
	write_file_str(THP_ENABLED, mode);
}
