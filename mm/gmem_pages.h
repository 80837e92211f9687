/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What mm/hugetlb_gmem.c and mm/thp_gmem.c share: merging the 4K pages of
 * a split huge page back into one folio, in place.
 */
#ifndef _MM_GMEM_PAGES_H
#define _MM_GMEM_PAGES_H

#include <linux/mm.h>
#include <linux/page-flags.h>
#include <linux/page_ref.h>

/*
 * Freeze the @nr pages from @head, each held by the page cache only, all
 * or none: lookups spin on a frozen page, so nothing may sleep while some
 * are frozen.  Transient references are waited for with none frozen.
 * Memory failure marks a 4K page poisoned before it tries to take it: a
 * page marked since the caller checked the pages is seen in the same pass,
 * and leaves none frozen.  (A mark that lands after the pass froze its
 * page stays on that page of the merged folio; only memory failure's own
 * mutex could close that window.)
 *
 * Return: true when all are frozen; false, none frozen, when one is poisoned.
 */
static inline bool gmem_freeze_pages(struct page *head, long nr)
{
	for (;;) {
		bool poisoned = false;
		long i;

		for (i = 0; i < nr; i++) {
			struct page *page = nth_page(head, i);

			if (!page_ref_freeze(page, 1))
				break;
			if (PageHWPoison(page)) {
				poisoned = true;
				i++;
				break;
			}
		}
		if (i == nr && !poisoned)
			return true;
		while (i--)
			page_ref_unfreeze(nth_page(head, i), 1);
		if (poisoned)
			return false;
		cond_resched();
	}
}

#endif /* _MM_GMEM_PAGES_H */
