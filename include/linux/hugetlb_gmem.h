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
struct hugetlb_gmem_pieces;
struct hugetlb_cgroup_detached;

/* The 2M pieces of the largest huge page that splits in two levels (1G). */
#define HUGETLB_GMEM_MAX_PIECES	(1U << (PUD_SHIFT - PMD_SHIFT))

/* A split of a huge folio, prepared: see hugetlb_gmem_split_prepare(). */
struct hugetlb_gmem_split {
	struct hugetlb_gmem *hg;
	/* A hugetlb folio, or a 2M piece of a split 1G page. */
	struct folio *folio;
	int refs;
	/*
	 * Holds a hugetlb folio's cgroup charge while it is split; %NULL
	 * for a 2M piece.
	 */
	struct hugetlb_cgroup_detached *charge;
	/* Holds the xarray nodes for the new entries. */
	struct xa_state xas;
	/*
	 * Of a hugetlb folio: which of its 2M pieces keep their vmemmap
	 * optimized while it is split, for memory failure and the merge.
	 */
	struct hugetlb_gmem_pieces *pieces;
	/*
	 * Of a 1G folio that merged from pieces: @pieces was its, and its
	 * vmemmap is per 2M piece already.
	 */
	bool whole_pieces;
	/* The vmemmap pages that undoing HVO maps. */
	struct list_head vmemmap_pages;
	/* HVO was undone ahead of the commit. */
	bool restored;
	/* Of a 1G folio: every 2M piece's vmemmap is restored (poisoned). */
	bool restore_all;
	/* Of a 1G folio: the 2M pieces that go on into 4K pieces. */
	DECLARE_BITMAP(to_4k, HUGETLB_GMEM_MAX_PIECES);
	/*
	 * Of a 2M folio: it becomes one 2M piece, its vmemmap as it is,
	 * rather than 4K pieces.
	 */
	bool to_piece;
};

/* A merge of split pieces, prepared: see hugetlb_gmem_merge_prepare(). */
struct hugetlb_gmem_merge {
	pgoff_t index;
	/* Of a split 1G page: the 2M units whose 4K pieces merge. */
	DECLARE_BITMAP(units, HUGETLB_GMEM_MAX_PIECES);
	/* The pieces merge into the huge folio. */
	bool whole;
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
void hugetlb_gmem_restore_piece(struct page *page);
unsigned long hugetlb_gmem_page_sizes(void);
struct hugetlb_gmem *hugetlb_gmem_reserve(unsigned int page_shift, loff_t size);
void hugetlb_gmem_unreserve(struct hugetlb_gmem *hg);
#else
static inline bool hugetlb_gmem_page_is_piece(struct page *page)
{
	return false;
}

static inline void hugetlb_gmem_restore_piece(struct page *page)
{
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
				     pgoff_t index, const unsigned long *split,
				     bool nowait);
void hugetlb_gmem_truncate(struct hugetlb_gmem *hg,
			   struct address_space *mapping,
			   pgoff_t start, pgoff_t end);
void hugetlb_gmem_evict(struct hugetlb_gmem *hg, struct address_space *mapping);
int hugetlb_gmem_split_prepare(struct hugetlb_gmem *hg, struct folio *folio,
			       int refs, pgoff_t start, pgoff_t end,
			       struct hugetlb_gmem_split *sp);
struct folio *hugetlb_gmem_split_prepare_shared(struct hugetlb_gmem *hg,
						struct address_space *mapping,
						pgoff_t index, pgoff_t start,
						pgoff_t end,
						struct hugetlb_gmem_split *sp);
int hugetlb_gmem_max_order(struct hugetlb_gmem *hg, struct folio *folio);
int hugetlb_gmem_split_for_host(struct hugetlb_gmem *hg, struct vm_fault *vmf);
void hugetlb_gmem_init_mapping(struct address_space *mapping);
void hugetlb_gmem_split_commit(struct hugetlb_gmem *hg,
			       struct hugetlb_gmem_split *sp, int nr);
void hugetlb_gmem_split_abort(struct hugetlb_gmem_split *sp);
int hugetlb_gmem_merge_prepare(struct hugetlb_gmem *hg,
			       struct address_space *mapping, pgoff_t index,
			       pgoff_t first, pgoff_t last,
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
