// SPDX-License-Identifier: GPL-2.0
/*
 * Transparent huge pages for KVM's guest_memfd.
 *
 * A guest_memfd file that asks for 2M pages without a HugeTLB pool gets
 * its memory from the page allocator: the first use of a 2M-aligned range
 * of the file tries a PMD-order folio for the whole range, and falls back
 * to 4K folios when the system's THP setting is "never", when no 2M page
 * is free (the allocation neither retries hard nor warns, as for THP
 * faults), or when part of the range is in the page cache already.  The
 * page cache accounts the folios as file THPs (FileHugePages), and they
 * go back to the page allocator when the file lets them go.
 *
 * Fallbacks count in the THP_FILE_FALLBACK event (thp_file_fallback in
 * /proc/vmstat, shared with other file systems) and in THP_GMEM_FALLBACK;
 * allocations, splits and merges are thp_gmem_* events and tracepoints.
 *
 * A 2M folio is split into 4K folios only while its range holds both
 * private and shared pages: converting part of it splits it, converting
 * all of it does not (the host maps a shared 2M folio as it is, with a PMD
 * where its mapping is aligned); and a conversion to private that leaves
 * all of a split range private merges it again in place, when it is still
 * the 2M page the split left.  Both come in two steps, as guest_memfd's
 * conversions need: a prepare that allocates and checks and may fail, and
 * a commit that cannot.  A range that is in both states when first used
 * gets a 2M page as 4K folios from the start.
 *
 * guest_memfd has no memory policy of its own in this kernel: the folios
 * follow the allocating task's policy.
 */
#include <linux/highmem.h>
#include <linux/memcontrol.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/swap.h>
#include <linux/thp_gmem.h>
#include <linux/vmstat.h>

#include "gmem_pages.h"
#include "internal.h"

#define CREATE_TRACE_POINTS
#include <trace/events/thp_gmem.h>

/**
 * thp_gmem_page_sizes - the huge page sizes guest_memfd can have as THPs
 *
 * Return: a bitmask, bit N set for a 2^N-byte page size: the PMD size
 * where the CPU has PMD mappings, else none.
 */
unsigned long thp_gmem_page_sizes(void)
{
	return has_transparent_hugepage() ? HPAGE_PMD_SIZE : 0;
}
EXPORT_SYMBOL_GPL(thp_gmem_page_sizes);

/**
 * thp_gmem_init_mapping - let a new file's page cache hold PMD-order folios
 * @mapping:	the file's page cache, before any folio is added.
 */
void thp_gmem_init_mapping(struct address_space *mapping)
{
	mapping_set_folio_order_range(mapping, 0, HPAGE_PMD_ORDER);
}
EXPORT_SYMBOL_GPL(thp_gmem_init_mapping);

static void thp_gmem_fallback(pgoff_t index)
{
	count_vm_event(THP_FILE_FALLBACK);
	count_vm_event(THP_GMEM_FALLBACK);
	trace_thp_gmem_fallback(index);
}

/*
 * A 2M page for a range that is part private, part shared, as 4K folios.
 * They can merge into a 2M folio once the range is all private.  The
 * first stays locked until all are in, so that racing callers wait for
 * them (thp_gmem_wait()).  Those added before an error stay; the rest go
 * back.
 */
static struct folio *thp_gmem_add_pieces(struct address_space *mapping,
					 pgoff_t start, pgoff_t index, gfp_t gfp)
{
	struct folio *first = NULL, *folio = NULL;
	struct page *page;
	long i;

	page = alloc_pages(gfp | __GFP_NORETRY | __GFP_NOWARN, HPAGE_PMD_ORDER);
	if (!page) {
		thp_gmem_fallback(start);
		return NULL;
	}
	split_page(page, HPAGE_PMD_ORDER);
	for (i = 0; i < HPAGE_PMD_NR; i++) {
		struct folio *piece = page_folio(nth_page(page, i));

		if (filemap_add_folio(mapping, piece, start + i, gfp))
			break;
		if (start + i == index)
			folio = piece;
		if (!i)
			first = piece;
		if (piece != folio && piece != first) {
			folio_unlock(piece);
			folio_put(piece);
		}
	}
	for (; i < HPAGE_PMD_NR; i++)
		__free_page(nth_page(page, i));
	if (first && first != folio) {
		folio_unlock(first);
		folio_put(first);
	}
	if (first) {
		count_vm_event(THP_GMEM_ALLOC);
		trace_thp_gmem_alloc_pieces(page_to_pfn(page), start);
	}
	return folio;
}

/* A new 2M folio for the range at @start. */
static struct folio *thp_gmem_add_folio(struct address_space *mapping,
					pgoff_t start, gfp_t gfp)
{
	struct folio *folio;

	folio = folio_alloc(gfp | __GFP_NORETRY | __GFP_NOWARN, HPAGE_PMD_ORDER);
	if (!folio) {
		thp_gmem_fallback(start);
		return NULL;
	}
	/*
	 * -EEXIST: part of the range is in the page cache already (a racing
	 * caller's folios), which the caller finds.  Anything else, a memcg
	 * over its limit, is better retried with 4K too.
	 */
	if (filemap_add_folio(mapping, folio, start, gfp)) {
		folio_put(folio);
		return NULL;
	}
	count_vm_event(THP_FILE_ALLOC);
	count_vm_event(THP_GMEM_ALLOC);
	trace_thp_gmem_alloc(folio_pfn(folio), start);
	return folio;
}

/*
 * The folio at @index, once a racing caller that adds a 2M page as 4K
 * folios is done (it holds the first one locked until then): a 4K page
 * taken meanwhile in the middle of its range would stop it half way.
 */
static struct folio *thp_gmem_wait(struct address_space *mapping,
				   pgoff_t start, pgoff_t index)
{
	struct folio *folio = filemap_lock_folio(mapping, start);

	if (!IS_ERR(folio)) {
		if (folio_contains(folio, index))
			return folio;
		folio_unlock(folio);
		folio_put(folio);
	}
	folio = filemap_lock_folio(mapping, index);
	return IS_ERR(folio) ? NULL : folio;
}

/**
 * thp_gmem_get_folio - the folio of a 4K page, a new 2M one if it can be
 * @mapping:	the file's page cache.
 * @index:	the 4K index.
 * @split:	the 2M range is part private, part shared: a new 2M page
 *		comes as 4K folios.
 *
 * The caller serialises this against truncation, splits and merges
 * (guest_memfd holds the mapping's invalidate_lock).  Racing callers on
 * the same range may both allocate; one adds its page and the other finds
 * it.
 *
 * Return: the folio holding @index, locked and with a reference: one
 * already there (2M or 4K), or a new one, not zeroed; NULL when the
 * caller should allocate a 4K folio instead.
 */
struct folio *thp_gmem_get_folio(struct address_space *mapping, pgoff_t index,
				 bool split)
{
	pgoff_t start = round_down(index, HPAGE_PMD_NR);
	gfp_t gfp = mapping_gfp_mask(mapping);
	struct folio *folio;

	lockdep_assert_held(&mapping->invalidate_lock);
	folio = filemap_lock_folio(mapping, index);
	if (!IS_ERR(folio))
		return folio;

	/* A range the file does not cover whole stays on 4K pages. */
	if ((loff_t)(start + HPAGE_PMD_NR) << PAGE_SHIFT >
	    i_size_read(mapping->host))
		return NULL;
	/* As does one that fell back before (counted once). */
	if (!filemap_range_has_page(mapping, (loff_t)start << PAGE_SHIFT,
				    ((loff_t)(start + HPAGE_PMD_NR) << PAGE_SHIFT) - 1)) {
		if (!hugepage_global_enabled()) {
			thp_gmem_fallback(start);
			return NULL;
		}
		folio = split ? thp_gmem_add_pieces(mapping, start, index, gfp) :
				thp_gmem_add_folio(mapping, start, gfp);
		if (folio)
			return folio;
	}
	return thp_gmem_wait(mapping, start, index);
}
EXPORT_SYMBOL_GPL(thp_gmem_get_folio);

/**
 * thp_gmem_split_prepare - check and allocate what splitting a THP takes
 * @folio:	a 2M folio of the file, with the one reference the caller holds.
 * @sp:		gets what the commit needs.
 *
 * The caller holds the mapping's invalidate_lock for write, so nothing
 * else splits, merges or truncates the file's folios meanwhile, and has
 * unmapped the folio from the host (a shared one may be mapped).
 *
 * Return: %0; -EAGAIN when someone else holds @folio; -ENOMEM.  Nothing
 * is kept on error.
 */
int thp_gmem_split_prepare(struct folio *folio, struct thp_gmem_split *sp)
{
	long expected = folio_nr_pages(folio) + 1;

	lockdep_assert_held_write(&folio->mapping->invalidate_lock);
	/*
	 * Not mapped, but a host fault that looked the folio up before the
	 * caller unmapped it may map it meanwhile: the reference check sees
	 * its reference.
	 */
	VM_WARN_ON_ONCE_FOLIO(folio_order(folio) != HPAGE_PMD_ORDER, folio);
	/* A new folio's LRU batch holds one too: drain, once. */
	if (folio_ref_count(folio) != expected) {
		lru_add_drain_all();
		if (folio_ref_count(folio) != expected)
			return -EAGAIN;
	}
	sp->folio = folio;
	return split_file_folio_prepare(folio, &sp->xas);
}
EXPORT_SYMBOL_GPL(thp_gmem_split_prepare);

/**
 * thp_gmem_split_abort - free what thp_gmem_split_prepare() took
 * @sp:	the prepared split.
 */
void thp_gmem_split_abort(struct thp_gmem_split *sp)
{
	lockdep_assert_held_write(&sp->folio->mapping->invalidate_lock);
	split_file_folio_abort(&sp->xas);
}
EXPORT_SYMBOL_GPL(thp_gmem_split_abort);

/**
 * thp_gmem_split_commit - split a THP into 4K folios, as prepared
 * @sp:	the prepared split; consumed.
 *
 * Cannot fail and allocates nothing.  The caller's reference ends up on
 * the first 4K folio.
 */
void thp_gmem_split_commit(struct thp_gmem_split *sp)
{
	lockdep_assert_held_write(&sp->folio->mapping->invalidate_lock);
	split_file_folio_commit(sp->folio, &sp->xas);
	VM_WARN_ON_ONCE_FOLIO(folio_test_large(sp->folio), sp->folio);
	count_vm_event(THP_GMEM_SPLIT);
	trace_thp_gmem_split(folio_pfn(sp->folio), sp->folio->index);
}
EXPORT_SYMBOL_GPL(thp_gmem_split_commit);

/**
 * thp_gmem_merge_prepare - check that the 4K folios at @index can merge
 * @mapping:	the file's page cache.
 * @index:	the first 4K index of a 2M range.
 * @err_index:	on -EAGAIN, the first 4K page held by someone else.
 *
 * They merge back into a 2M folio when they are the pages of one split
 * (physically contiguous from a 2M-aligned page, in order), all on the
 * LRU with only the page cache holding them, charged to one memcg, and
 * none poisoned.  Pages the guest never used are zeroed now, as the
 * merged folio counts as used.  The caller holds the mapping's
 * invalidate_lock for write and has unmapped the range from the host.
 *
 * Return: %0; -ENOENT when they cannot merge (left as they are); -EAGAIN.
 */
int thp_gmem_merge_prepare(struct address_space *mapping, pgoff_t index,
			   pgoff_t *err_index)
{
	XA_STATE(xas, &mapping->i_pages, index);
	struct mem_cgroup *memcg = NULL;
	struct page *head = NULL;
	bool drained = false;
	int err = 0;
	long i;

	lockdep_assert_held_write(&mapping->invalidate_lock);
	VM_WARN_ON_ONCE(!IS_ALIGNED(index, HPAGE_PMD_NR));
retry:
	rcu_read_lock();
	for (i = 0; i < HPAGE_PMD_NR; i++, xas_next(&xas)) {
		struct folio *piece = xas_load(&xas);

		if (!piece || xa_is_value(piece) || folio_test_large(piece) ||
		    (head && &piece->page != nth_page(head, i)) ||
		    (!head && !IS_ALIGNED(folio_pfn(piece), HPAGE_PMD_NR)) ||
		    (head && folio_memcg(piece) != memcg) ||
		    PageHWPoison(&piece->page)) {
			err = -ENOENT;
			break;
		}
		if (!head) {
			head = &piece->page;
			memcg = folio_memcg(piece);
		}
		if (folio_ref_count(piece) != 1 || !folio_test_lru(piece)) {
			*err_index = index + i;
			err = -EAGAIN;
			break;
		}
	}
	rcu_read_unlock();
	if (err == -EAGAIN && !drained) {
		lru_add_drain_all();
		drained = true;
		head = NULL;
		err = 0;
		xas_set(&xas, index);
		goto retry;
	}
	if (err)
		return err;

	/* Under invalidate_lock, the pages stay in the page cache. */
	for (i = 0; i < HPAGE_PMD_NR; i++) {
		struct folio *piece = page_folio(nth_page(head, i));

		if (folio_test_uptodate(piece))
			continue;
		folio_lock(piece);
		if (!folio_test_uptodate(piece)) {
			clear_highpage(&piece->page);
			folio_mark_uptodate(piece);
		}
		folio_unlock(piece);
		cond_resched();
	}
	return 0;
}
EXPORT_SYMBOL_GPL(thp_gmem_merge_prepare);

/**
 * thp_gmem_merge_commit - merge the 4K folios at @index into a 2M folio
 * @mapping:	the file's page cache.
 * @index:	a range thp_gmem_merge_prepare() accepted.
 *
 * Cannot fail and allocates nothing: storing the 2M entry frees the 4K
 * entries' nodes.  References taken since the prepare can only be
 * transient, and are waited for.  A page that memory failure poisoned
 * since leaves them as they are, as does memory failure at work (see
 * __hugetlb_gmem_merge()).
 */
void thp_gmem_merge_commit(struct address_space *mapping, pgoff_t index)
{
	XA_STATE_ORDER(xas, &mapping->i_pages, index, HPAGE_PMD_ORDER);
	struct page *head = xa_load(&mapping->i_pages, index);
	struct folio *folio;

	lockdep_assert_held_write(&mapping->invalidate_lock);
	if (!memory_failure_trylock())
		return;
	if (!gmem_freeze_pages(head, HPAGE_PMD_NR, 0)) {
		count_vm_event(THP_GMEM_MERGE_POISONED);
		trace_thp_gmem_merge_poisoned(page_to_pfn(head), index);
		goto out;
	}
	/*
	 * Needs no new node (see gmem_merge_prealloc()).  Lookups that find
	 * the frozen pages retry until they are a folio.
	 */
	if (!gmem_merge_store(&xas, head)) {
		gmem_unfreeze_pages(head, HPAGE_PMD_NR, 0);
		goto out;
	}

	/*
	 * The first page keeps its flags (on the unevictable LRU, up to
	 * date); the LRU counts pages, so its size stays as it is.
	 */
	merge_pages_to_folio(head, HPAGE_PMD_ORDER, 0, ~0UL, NULL);
	folio = page_folio(head);
	VM_WARN_ON_ONCE_FOLIO(folio_order(folio) != HPAGE_PMD_ORDER ||
			      folio_ref_count(folio), folio);
	folio_set_large_rmappable(folio);
	lruvec_stat_mod_folio(folio, NR_FILE_THPS, HPAGE_PMD_NR);

	count_vm_event(THP_GMEM_MERGE);
	trace_thp_gmem_merge(folio_pfn(folio), index);
	/* The page cache's references. */
	folio_ref_unfreeze(folio, HPAGE_PMD_NR);
out:
	memory_failure_unlock();
}
EXPORT_SYMBOL_GPL(thp_gmem_merge_commit);
