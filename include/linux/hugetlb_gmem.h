/* SPDX-License-Identifier: GPL-2.0 */
/*
 * HugeTLB folios for KVM's guest_memfd (mm/hugetlb_gmem.c).
 */
#ifndef _LINUX_HUGETLB_GMEM_H
#define _LINUX_HUGETLB_GMEM_H

#include <linux/err.h>
#include <linux/fs.h>
#include <linux/mm_types.h>
#include <linux/xarray.h>

struct hugetlb_gmem;
struct hugetlb_cgroup_detached;

/* A split of a huge folio, prepared: see hugetlb_gmem_split_prepare(). */
struct hugetlb_gmem_split {
	struct hugetlb_gmem *hg;
	struct folio *folio;
	int refs;
	/* Holds the folio's hugetlb cgroup charge while it is split. */
	struct hugetlb_cgroup_detached *charge;
	/* Holds the xarray nodes for the 4K entries. */
	struct xa_state xas;
	/* The vmemmap pages that undoing HVO maps. */
	struct list_head vmemmap_pages;
};

/* A merge of a split huge page, prepared: see hugetlb_gmem_merge_prepare(). */
struct hugetlb_gmem_merge {
	pgoff_t index;
	struct hugetlb_cgroup_detached *charge;
	/* The huge entry's store, with the node it may need. */
	struct xa_state xas;
};

/*
 * Without CONFIG_HUGETLB_GMEM there are no page sizes to offer and no
 * reservation, so the rest is never called: callers that test for a
 * reservation with IS_ENABLED(CONFIG_HUGETLB_GMEM) let the compiler drop it.
 */
#ifdef CONFIG_HUGETLB_GMEM
unsigned long hugetlb_gmem_page_sizes(void);
struct hugetlb_gmem *hugetlb_gmem_reserve(unsigned int page_shift, loff_t size);
void hugetlb_gmem_unreserve(struct hugetlb_gmem *hg);
#else
static inline unsigned long hugetlb_gmem_page_sizes(void)
{
	return 0;
}

static inline struct hugetlb_gmem *hugetlb_gmem_reserve(unsigned int page_shift,
							loff_t size)
{
	return ERR_PTR(-EINVAL);
}

static inline void hugetlb_gmem_unreserve(struct hugetlb_gmem *hg)
{
}
#endif

unsigned int hugetlb_gmem_order(const struct hugetlb_gmem *hg);
struct folio *hugetlb_gmem_get_folio(struct hugetlb_gmem *hg,
				     struct address_space *mapping,
				     pgoff_t index, bool split);
void hugetlb_gmem_truncate(struct hugetlb_gmem *hg,
			   struct address_space *mapping,
			   pgoff_t start, pgoff_t end);
void hugetlb_gmem_evict(struct hugetlb_gmem *hg, struct address_space *mapping);
int hugetlb_gmem_split_prepare(struct hugetlb_gmem *hg, struct folio *folio,
			       int refs, struct hugetlb_gmem_split *sp);
void hugetlb_gmem_split_commit(struct hugetlb_gmem *hg,
			       struct hugetlb_gmem_split *sp, int nr);
void hugetlb_gmem_split_abort(struct hugetlb_gmem_split *sp);
int hugetlb_gmem_merge_prepare(struct hugetlb_gmem *hg,
			       struct address_space *mapping, pgoff_t index,
			       struct hugetlb_gmem_merge *mg, pgoff_t *err_index);
void hugetlb_gmem_merge_abort(struct hugetlb_gmem *hg,
			      struct hugetlb_gmem_merge *mg);
void hugetlb_gmem_merge_commit(struct hugetlb_gmem *hg,
			       struct address_space *mapping,
			       struct hugetlb_gmem_merge *mg);
void hugetlb_gmem_merge_finish(struct hugetlb_gmem *hg,
			       struct address_space *mapping,
			       struct hugetlb_gmem_merge *mg, int nr);

#endif /* _LINUX_HUGETLB_GMEM_H */
