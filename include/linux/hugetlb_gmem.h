/* SPDX-License-Identifier: GPL-2.0 */
/*
 * HugeTLB folios for KVM's guest_memfd (mm/hugetlb_gmem.c).
 */
#ifndef _LINUX_HUGETLB_GMEM_H
#define _LINUX_HUGETLB_GMEM_H

#include <linux/err.h>
#include <linux/fs.h>
#include <linux/hugetlb.h>
#include <linux/mm_types.h>
#include <linux/page-flags.h>
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
	/* HVO was undone ahead of the commit. */
	bool restored;
};

/* A merge of a split huge page, prepared: see hugetlb_gmem_merge_prepare(). */
struct hugetlb_gmem_merge {
	pgoff_t index;
	/* The huge entry's store, with the node it may need. */
	struct xa_state xas;
};

/*
 * Without CONFIG_HUGETLB_GMEM there are no page sizes to offer and no
 * reservation, so the rest is never called: callers that test for a
 * reservation with IS_ENABLED(CONFIG_HUGETLB_GMEM) let the compiler drop it.
 */
#ifdef CONFIG_HUGETLB_GMEM
bool hugetlb_gmem_page_is_piece(struct page *page);
unsigned long hugetlb_gmem_page_sizes(void);
struct hugetlb_gmem *hugetlb_gmem_reserve(unsigned int page_shift, loff_t size);
void hugetlb_gmem_unreserve(struct hugetlb_gmem *hg);
#else
static inline bool hugetlb_gmem_page_is_piece(struct page *page)
{
	return false;
}

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
struct folio *hugetlb_gmem_split_prepare_shared(struct hugetlb_gmem *hg,
						struct address_space *mapping,
						pgoff_t index,
						struct hugetlb_gmem_split *sp);
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

/*
 * Whether @page, of a guest_memfd folio, is poisoned: writing to it would
 * machine-check.  A hugetlb folio lists its poisoned pages, and its first
 * page's mark is the folio's; the other pages may carry marks of their own
 * (a merge keeps them).  May sleep, and takes the lock that holds memory
 * failure off: never call it with that held.
 */
static inline bool gmem_page_hwpoison(struct page *page)
{
#ifdef CONFIG_HUGETLB_GMEM
	struct folio *folio = page_folio(page);

	if (folio_test_hugetlb(folio)) {
		if (!folio_test_hwpoison(folio))
			return false;
		return (page != &folio->page && PageHWPoison(page)) ||
		       is_raw_hwpoison_page_in_hugepage(page);
	}
#endif
	return PageHWPoison(page);
}

#endif /* _LINUX_HUGETLB_GMEM_H */
