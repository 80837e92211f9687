/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What mm/hugetlb_gmem.c and mm/thp_gmem.c share around a split or merge
 * of a huge page in place: waiting for transient references, freezing the
 * pieces, and storing the merged folio in the page cache.
 */
#ifndef _MM_GMEM_PAGES_H
#define _MM_GMEM_PAGES_H

#include <linux/mm.h>
#include <linux/page-flags.h>
#include <linux/page_ref.h>
#include <linux/swap.h>
#include <linux/xarray.h>

#include "internal.h"

/*
 * After the point of no return, a split or merge waits for references that
 * others took since its checks.  They can only be transient: a speculative
 * lookup (folio_try_get() under RCU) lets go at once, and a per-CPU LRU
 * batch (a THP's page put back after a failed isolation, as by memory
 * offline) when its CPU drains it, which an idle CPU may never do.  So
 * drain them all now and then (which allocates nothing); the wait then
 * ends when the lookups let go.  One more try of @tries.
 */
static inline void gmem_wait_transient_refs(unsigned long *tries)
{
	++*tries;
	if (*tries == 64 || !(*tries % 4096))
		lru_add_drain_all();
	else
		cond_resched();
	WARN_ONCE(*tries == 1UL << 22, "guest_memfd: a folio stays referenced");
}

/* Whether memory failure poisoned a page of the folio @page heads. */
static inline bool gmem_head_hwpoison(struct page *page, unsigned int order)
{
	return order ? folio_test_has_hwpoisoned(page_folio(page)) :
		       PageHWPoison(page);
}

/*
 * Freeze the folios of @order in the @nr pages from @head, each held by the
 * page cache only (one reference per page), all or none: lookups spin on a
 * frozen folio, so nothing may sleep while some are frozen.  Transient
 * references are waited for with none frozen.  (See
 * gmem_wait_transient_refs() for why the wait ends.)
 * Memory failure marks a page poisoned before it tries to take it, and
 * keeps the reference it took: a page marked since the caller checked the
 * pages is seen in the same pass, frozen or not, and leaves none frozen.
 * No mark lands after the pass: merges hold memory failure off
 * (memory_failure_trylock()).
 *
 * Return: true when all are frozen; false, none frozen, when one is poisoned.
 */
static inline bool gmem_freeze_pages(struct page *head, long nr,
				     unsigned int order)
{
	long step = 1L << order;
	unsigned long tries = 0;

	memory_failure_assert_held();
	for (;;) {
		bool poisoned = false;
		long i;

		for (i = 0; i < nr; i += step) {
			struct page *page = nth_page(head, i);

			/*
			 * Memory failure marks a page before it takes it, and
			 * keeps its reference: never wait for that one.
			 */
			if (!page_ref_freeze(page, step)) {
				poisoned = gmem_head_hwpoison(page, order);
				break;
			}
			if (gmem_head_hwpoison(page, order)) {
				poisoned = true;
				i += step;
				break;
			}
		}
		if (i >= nr && !poisoned)
			return true;
		while ((i -= step) >= 0)
			page_ref_unfreeze(nth_page(head, i), step);
		if (poisoned)
			return false;
		gmem_wait_transient_refs(&tries);
	}
}

static inline void gmem_unfreeze_pages(struct page *head, long nr,
				       unsigned int order)
{
	long i, step = 1L << order;

	for (i = 0; i < nr; i += step)
		page_ref_unfreeze(nth_page(head, i), step);
}

/*
 * Storing the huge entry of a merge over the 4K entries of a split page
 * frees their nodes, and needs at most one new node: when the page cache's
 * tree has shrunk to the split page's own subtree (the file's other huge
 * pages were punched), an entry whose order is a multiple of XA_CHUNK_SHIFT
 * (1G) takes a slot one level above that subtree's root, which the store
 * must add (xas_expand()).  For other orders (2M) the split page's node at
 * that level is the parent of its 4K entries' nodes, and stays.
 *
 * Take that node before the point of no return, as xas_nomem() does after a
 * store that failed; the store uses it, xas_destroy() frees it otherwise.
 */
static inline int gmem_merge_prealloc(struct xa_state *xas, gfp_t gfp)
{
	/* xas_set_order() keeps the shift a multiple: the rest is siblings. */
	if (xas->xa_sibs)
		return 0;
	xas_set_err(xas, -ENOMEM);
	return xas_nomem(xas, gfp) ? 0 : -ENOMEM;
}

/*
 * Point every index of the split page at @head with @xas's one entry,
 * before the caller makes its frozen pages one folio (lookups that find
 * them retry until they are unfrozen).  The store cannot fail, by the
 * argument above; should it, it has changed no entry, and the caller
 * leaves the pages split.
 */
static inline bool gmem_merge_store(struct xa_state *xas, struct page *head)
{
	xas_lock_irq(xas);
	xas_store(xas, head);
	xas_unlock_irq(xas);
	return !WARN_ON_ONCE(xas_error(xas));
}

#endif /* _MM_GMEM_PAGES_H */
