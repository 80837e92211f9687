// SPDX-License-Identifier: GPL-2.0
/*
 * HugeTLB folios for KVM's guest_memfd.
 *
 * A guest_memfd file backed by a hugetlb pool reserves all its huge pages
 * when it is created (HugePages_Rsvd, and the hugetlb cgroup's reservation
 * counter, show it), so that faults never find the pool empty.  The first
 * use of a huge range takes one reserved folio, zeroed, into the file's page
 * cache at 4K indices, as hugetlbfs does.  A folio freed by the page cache
 * goes back to the file's subpool and reservation; the subpool, and what is
 * left of the reservation, go when the file and its last folio are gone.
 *
 * KVM maps a huge folio huge, private or shared.  The host cannot map a
 * hugetlb folio outside a hugetlb VMA, but can map a 2M page cache folio
 * with a PMD.  So a huge page splits into "pieces": converting part of it
 * splits what holds both states into 4K pieces, and the host's first fault
 * in a shared one splits it into 2M pieces (hugetlb_gmem_split_for_host()).
 * A 1G page splits in two levels: into 512 2M folios, its 2M pieces, and
 * only those that hold both states on into 4K pieces; the others stay 2M
 * folios, which KVM maps 2M, or 1G while all 512 are whole.  A 2M page
 * becomes one 2M piece in place, which KVM maps 2M as before.  4K pieces
 * merge back into a 2M piece, or a 2M page, when all of it is private
 * again; a 1G page's 2M pieces merge into it when it is punched out or
 * the file goes away.  Splits and
 * merges come as a prepare step that does all that can fail, a commit step
 * that cannot fail and allocates nothing, and an abort step, so that KVM
 * can prepare before its point of no return (kvm_gmem_invalidate_begin())
 * and commit after it.
 *
 * A split huge page stays in the pool and in use: it keeps its place in
 * HugePages_Total and in the file's subpool, and each piece is a page cache
 * folio with the page cache's references (one per page).  Like hugetlb
 * folios, the pieces are pool memory, not counted in NR_FILE_PAGES
 * (meminfo's Cached) nor, 2M ones, in NR_FILE_THPS until they leave the
 * pool.  Pieces are never freed one by one while the page is in the pool:
 * a piece whose refcount reached zero would go to the page allocator.
 * A split page stays charged to its hugetlb cgroup (hugetlb.<size>.current):
 * the charge is detached from the folio on split, kept in the file's
 * split_charges, and attached to the folio again on merge, so that
 * splitting neither frees room under the cgroup's limit nor makes a merge
 * depend on it.
 *
 * The caller (KVM) serialises truncation, splits and merges against
 * allocation and lookups with the mapping's invalidate_lock, as for any
 * guest_memfd.
 */
#include <linux/delay.h>
#include <linux/hugetlb.h>
#include <linux/hugetlb_cgroup.h>
#include <linux/hugetlb_gmem.h>
#include <linux/highmem.h>
#include <linux/pagemap.h>
#include <linux/sched.h>
#include <linux/swap.h>
#include <linux/slab.h>
#include <linux/vmstat.h>

#include "internal.h"
#include "gmem_pages.h"
#include "hugetlb_vmemmap.h"

#define CREATE_TRACE_POINTS
#include <trace/events/hugetlb_gmem.h>

struct hugetlb_gmem {
	struct hstate *h;
	struct hugepage_subpool *spool;
	/* Charged for the whole reservation, uncharged with it. */
	struct hugetlb_cgroup *rsvd_cg;
	long nr_huge_pages;
	/* Huge page number -> the hugetlb cgroup charge of a split page. */
	struct xarray split_charges;
};

/*
 * A split huge page keeps HVO for its 2M pieces that stay whole (of a 1G
 * page): each has one vmemmap page of its own, as a 2M HugeTLB page does,
 * which its other 7 alias, read-only.  So a split of a 1G page to 2M
 * takes 511 vmemmap pages, not the 4095 that restoring all of its vmemmap
 * would, and a piece that splits on into 4K pieces restores its own, 7,
 * and optimizes it again when it merges back.  Memory failure restores the
 * piece of a page it is to mark (hugetlb_gmem_restore_piece()).
 *
 * A 1G page stays in pieces once split, 2 MiB of vmemmap as for 2M
 * pages, until it leaves the file: so its next conversions take no
 * vmemmap but the 7 pages of each piece that goes to 4K, and none remaps
 * 4095 vmemmap PTEs.  The 1G folio its pieces merge back into then keeps
 * that vmemmap until it is optimized at 1G, with the pages it has
 * (hugetlb_gmem_join_vmemmap()): the pool knows no other layout.
 */
struct hugetlb_gmem_pieces {
	/* The page's vmemmap was optimized when it first split. */
	bool hvo;
	/* Split now; else a whole folio whose vmemmap is still per piece. */
	bool split;
	/* The 2M pieces (bit n for the n-th) whose vmemmap is optimized. */
	DECLARE_BITMAP(optimized, HUGETLB_GMEM_MAX_PIECES);
	/*
	 * While split: the 2M pieces that are whole folios holding no
	 * poisoned page (hugetlb_gmem_max_order()).  Changed with memory
	 * failure held off.
	 */
	DECLARE_BITMAP(whole, HUGETLB_GMEM_MAX_PIECES);
};

/*
 * The split huge pages of all files, per hstate, by their first pfn's
 * number in huge pages, each with its struct hugetlb_gmem_pieces (and the
 * whole ones whose vmemmap is still per piece): memory
 * failure looks a 4K page up here to know it for a piece
 * (hugetlb_gmem_page_is_piece()), a page cache page that is off the LRU,
 * which it could not tell from pages it must not take.  Updated with
 * memory failure held off (memory_failure_lock()), which reads it.
 */
static struct xarray hugetlb_gmem_split_pages[HUGE_MAX_HSTATE];

static int __init hugetlb_gmem_init(void)
{
	int i;

	for (i = 0; i < HUGE_MAX_HSTATE; i++)
		xa_init(&hugetlb_gmem_split_pages[i]);
	return 0;
}
core_initcall(hugetlb_gmem_init);

static struct xarray *hugetlb_gmem_split_xa(const struct hugetlb_gmem *hg)
{
	return &hugetlb_gmem_split_pages[hstate_index(hg->h)];
}

static unsigned long hugetlb_gmem_split_key(const struct hugetlb_gmem *hg,
					    struct page *head)
{
	return page_to_pfn(head) >> huge_page_order(hg->h);
}

/*
 * The split huge page that holds @page, with what is kept of it, and the
 * number of @page's 2M piece in it; %NULL when @page is not a piece.  The
 * caller keeps the page split: it holds memory failure off, or the file's
 * invalidate_lock (a piece's bit then only clears meanwhile, if memory
 * failure restores it).
 */
static struct hugetlb_gmem_pieces *hugetlb_gmem_pieces_of(struct page *page,
							  unsigned int *n)
{
	unsigned long pfn = page_to_pfn(page);
	struct hugetlb_gmem_pieces *pieces;
	struct hstate *h;

	for_each_hstate(h) {
		pieces = xa_load(&hugetlb_gmem_split_pages[hstate_index(h)],
				 pfn >> huge_page_order(h));
		if (pieces && pieces->split) {
			*n = (pfn & (pages_per_huge_page(h) - 1)) >> PMD_ORDER;
			return pieces;
		}
	}
	return NULL;
}

/**
 * hugetlb_gmem_page_is_piece - whether a page is a 4K page of a split page
 * @page:	any page.
 *
 * For memory failure, which takes a reference to the page only if so.  It
 * asks holding mf_mutex, which merges hold too (memory_failure_trylock()):
 * a piece stays one until memory failure is done with it.  (A dissolve
 * makes it plain page cache, which memory failure then only marks.)
 */
bool hugetlb_gmem_page_is_piece(struct page *page)
{
	unsigned int n;

	memory_failure_assert_held();
	return hugetlb_gmem_pieces_of(page, &n);
}

/*
 * What is kept of the pieces of @folio, a whole hugetlb folio of the file
 * that merged from them, whose vmemmap is still per 2M piece; %NULL if
 * it never split, or its vmemmap is no longer optimized per piece.  The
 * caller holds memory failure off, or the file's invalidate_lock.
 */
static struct hugetlb_gmem_pieces *hugetlb_gmem_whole_pieces(const struct hugetlb_gmem *hg,
							     struct folio *folio)
{
	struct hugetlb_gmem_pieces *pieces;

	if (!folio_test_hugetlb(folio))
		return NULL;
	pieces = xa_load(hugetlb_gmem_split_xa(hg),
			 hugetlb_gmem_split_key(hg, &folio->page));
	VM_WARN_ON_ONCE_FOLIO(pieces && (pieces->split || !pieces->hvo ||
					 folio_test_hugetlb_vmemmap_optimized(folio)),
			      folio);
	return pieces;
}

/*
 * Restore the vmemmap of the 2M piece @head, of a split page whose
 * @pieces say it is optimized, with @pages from
 * hugetlb_vmemmap_restore_piece_prepare().  Cannot fail.
 */
static void hugetlb_gmem_restore_piece_commit(struct hugetlb_gmem_pieces *pieces,
					      unsigned int n, struct page *head,
					      struct list_head *pages)
{
	memory_failure_assert_held();
	VM_WARN_ON_ONCE_PAGE(!test_bit(n, pieces->optimized), head);
	hugetlb_vmemmap_restore_piece_commit(head, PMD_ORDER, pages);
	__clear_bit(n, pieces->optimized);
	count_vm_event(HUGETLB_GMEM_VMEMMAP_RESTORE_PIECE);
}

/*
 * Restore the vmemmap of an optimized 2M piece that something must write
 * every struct page of, and that cannot fail: memory failure, which must
 * mark a poisoned page, or the piece leaving the pool.  7 pages.
 */
static void hugetlb_gmem_restore_piece_nofail(struct hugetlb_gmem_pieces *pieces,
					      unsigned int n, struct page *head)
{
	LIST_HEAD(pages);

	hugetlb_vmemmap_restore_piece_prepare(head, PMD_ORDER, 1,
					      GFP_KERNEL | __GFP_NOFAIL, &pages);
	hugetlb_gmem_restore_piece_commit(pieces, n, head, &pages);
}

/**
 * hugetlb_gmem_restore_piece - give a page of a 2M piece a struct page of its own
 * @page:	a page that memory failure is to mark, under its lock.
 *
 * The struct pages of a 2M piece whose vmemmap is optimized alias one
 * another, read-only: restore the piece's vmemmap first.  It takes 7
 * pages, and must not fail: a poisoned page that stays unmarked is handed
 * out again.
 */
void hugetlb_gmem_restore_piece(struct page *page)
{
	struct hugetlb_gmem_pieces *pieces;
	unsigned int n;

	pieces = hugetlb_gmem_pieces_of(page, &n);
	if (!pieces)
		return;
	/* It is to hold a poisoned page. */
	__clear_bit(n, pieces->whole);
	if (!test_bit(n, pieces->optimized))
		return;
	hugetlb_gmem_restore_piece_nofail(pieces, n,
					  pfn_to_page(ALIGN_DOWN(page_to_pfn(page),
								 1UL << PMD_ORDER)));
}

/**
 * hugetlb_gmem_page_sizes - the huge page sizes this host has pools for
 *
 * Return: a bitmask, bit N set for a 2^N-byte huge page size.
 */
unsigned long hugetlb_gmem_page_sizes(void)
{
	unsigned long sizes = 0;
	struct hstate *h;

	for_each_hstate(h)
		sizes |= huge_page_size(h);
	return sizes;
}
EXPORT_SYMBOL_GPL(hugetlb_gmem_page_sizes);

/**
 * hugetlb_gmem_order - the order of a file's huge pages
 * @hg:	the file's reservation.
 */
unsigned int hugetlb_gmem_order(const struct hugetlb_gmem *hg)
{
	return huge_page_order(hg->h);
}
EXPORT_SYMBOL_GPL(hugetlb_gmem_order);

/**
 * hugetlb_gmem_init_mapping - let a new file's page cache hold 2M pieces
 * @mapping:	the file's page cache, before any folio is added.
 *
 * The 2M pieces of a split huge page are large folios of the page cache,
 * which counts them as file THPs when they leave it as page cache folios
 * (hugetlb_gmem_dissolve()).
 */
void hugetlb_gmem_init_mapping(struct address_space *mapping)
{
	mapping_set_folio_order_range(mapping, 0, PMD_ORDER);
}
EXPORT_SYMBOL_GPL(hugetlb_gmem_init_mapping);

/* The number of the huge page that holds 4K index @index. */
static unsigned long hugetlb_gmem_nr(const struct hugetlb_gmem *hg,
				     pgoff_t index)
{
	return index >> huge_page_order(hg->h);
}

/**
 * hugetlb_gmem_reserve - reserve the huge pages of a file from their pool
 * @page_shift:	log2 of the huge page size.
 * @size:	the file's size, a nonzero multiple of the huge page size.
 *
 * Return: the reservation, ERR_PTR(-EINVAL) for a size or page size that
 * does not fit, or ERR_PTR(-ENOMEM) when the pool or the hugetlb cgroup
 * cannot reserve them all (then nothing is reserved).
 */
struct hugetlb_gmem *hugetlb_gmem_reserve(unsigned int page_shift, loff_t size)
{
	struct hugetlb_gmem *hg;
	struct hstate *h;
	long nr;

	if (page_shift >= BITS_PER_LONG)
		return ERR_PTR(-EINVAL);
	h = size_to_hstate(1UL << page_shift);
	if (!h || size <= 0 || !IS_ALIGNED(size, huge_page_size(h)))
		return ERR_PTR(-EINVAL);
	nr = size >> huge_page_shift(h);

	hg = kzalloc(sizeof(*hg), GFP_KERNEL);
	if (!hg)
		return ERR_PTR(-ENOMEM);
	hg->h = h;
	hg->nr_huge_pages = nr;
	xa_init(&hg->split_charges);

	if (hugetlb_cgroup_charge_cgroup_rsvd(hstate_index(h),
					      nr * pages_per_huge_page(h),
					      &hg->rsvd_cg))
		goto out_free;

	/* min == max: the whole file is reserved now, and can use no more. */
	hg->spool = hugepage_new_subpool(h, nr, nr);
	if (!hg->spool)
		goto out_uncharge;
	return hg;

out_uncharge:
	hugetlb_cgroup_uncharge_cgroup_rsvd(hstate_index(h),
					    nr * pages_per_huge_page(h),
					    hg->rsvd_cg);
out_free:
	kfree(hg);
	return ERR_PTR(-ENOMEM);
}
EXPORT_SYMBOL_GPL(hugetlb_gmem_reserve);

/**
 * hugetlb_gmem_unreserve - give back what hugetlb_gmem_reserve() took
 * @hg:	the reservation.
 *
 * Folios still in use keep the subpool until the last of them is freed;
 * only then does the rest of the reservation go back to the pool.
 */
void hugetlb_gmem_unreserve(struct hugetlb_gmem *hg)
{
	struct hstate *h = hg->h;

	hugetlb_cgroup_uncharge_cgroup_rsvd(hstate_index(h),
					    hg->nr_huge_pages * pages_per_huge_page(h),
					    hg->rsvd_cg);
	hugepage_put_subpool(hg->spool);
	/* hugetlb_gmem_evict() merged or dissolved every split page. */
	WARN_ON_ONCE(!xa_empty(&hg->split_charges));
	xa_destroy(&hg->split_charges);
	kfree(hg);
}
EXPORT_SYMBOL_GPL(hugetlb_gmem_unreserve);

/* One reserved folio, charged to the hugetlb cgroup, zeroed. */
static struct folio *hugetlb_gmem_alloc_folio(struct hugetlb_gmem *hg)
{
	struct hugetlb_cgroup *h_cg = NULL;
	struct hstate *h = hg->h;
	int idx = hstate_index(h);
	struct folio *folio;
	long gbl;

	/*
	 * Within the reservation: 0, "the pool already counts it".  A range
	 * whose page memory failure took out of the pool has lost its
	 * reservation with it (hugetlb_gmem_remove()): 1, a page nobody
	 * reserved, if the pool has one.
	 */
	gbl = hugepage_subpool_get_pages(hg->spool, 1);
	if (gbl < 0)
		return ERR_PTR(-ENOMEM);
	if (hugetlb_acct_memory(h, gbl)) {
		/* Gives back no reservation: it took none. */
		hugepage_subpool_put_pages(hg->spool, 1);
		return ERR_PTR(-ENOMEM);
	}
	if (hugetlb_cgroup_charge_cgroup(idx, pages_per_huge_page(h), &h_cg))
		goto out_subpool;
	folio = alloc_hugetlb_folio_reserve(h, numa_mem_id(), NULL,
					    htlb_alloc_mask(h));
	if (!folio)
		goto out_cgroup;

	spin_lock_irq(&hugetlb_lock);
	hugetlb_cgroup_commit_charge(idx, pages_per_huge_page(h), h_cg, folio);
	spin_unlock_irq(&hugetlb_lock);
	/* Freed, it goes back to the subpool and its reservation. */
	hugetlb_set_folio_subpool(folio, hg->spool);

	/* Before anyone can see it: the page cache does not have it yet. */
	folio_zero_user(folio, 0);
	folio_mark_uptodate(folio);
	return folio;

out_cgroup:
	hugetlb_cgroup_uncharge_cgroup(idx, pages_per_huge_page(h), h_cg);
out_subpool:
	hugetlb_acct_memory(h, -hugepage_subpool_put_pages(hg->spool, 1));
	return ERR_PTR(-ENOMEM);
}

static void hugetlb_gmem_sub_blocks(struct hugetlb_gmem *hg, struct inode *inode)
{
	spin_lock(&inode->i_lock);
	inode->i_blocks -= blocks_per_huge_page(hg->h);
	spin_unlock(&inode->i_lock);
}

/*
 * A 1G page splits in two levels: into 2M folios, its "2M pieces", and only
 * those that must (they hold shared pages, or a punch or memory error split
 * them) on into 4K pieces; the others stay 2M folios, which KVM maps huge.
 * Its 2M pieces are plain large folios of the page cache, as THPs are;
 * only the 1G page as a whole belongs to the pool.  A 2M page splits into
 * 4K pieces directly, or becomes one 2M piece, which may split on into 4K.
 */
static unsigned int hugetlb_gmem_piece_order(const struct hugetlb_gmem *hg)
{
	return min_t(unsigned int, huge_page_order(hg->h), PMD_ORDER);
}

/* Whether @folio, of the file, is a 2M piece of a split huge page. */
static bool hugetlb_gmem_folio_is_piece(const struct hugetlb_gmem *hg,
					struct folio *folio)
{
	return !folio_test_hugetlb(folio) && folio_test_large(folio);
}

/*
 * The page cache splits a multi-index entry one level of its xarray at a
 * time: the entry's order down to the next multiple of XA_CHUNK_SHIFT, or
 * to the order of the new folios if that is larger, then each of those
 * entries down a level more (2M to 4K: 9 -> 6 -> 0; 1G to 2M: 18 -> 12 ->
 * 9).  Each split takes a new node, but for 2M's first (9 -> 6, in place):
 * 8 nodes for 2M to 4K, 1 + 64 for 1G to 2M.  Those of the last level hold
 * the new folios already, so the commit stores no entry of its own.
 */
static unsigned int hugetlb_gmem_split_order(unsigned int order,
					     unsigned int to)
{
	return max(rounddown(order - 1, XA_CHUNK_SHIFT), to);
}

/*
 * Allocate the nodes that splitting the entry of @order at @index, whose
 * pages start at @head, into folios of order @to takes.  They go on @xas's
 * list, which hugetlb_gmem_split_entries() takes from the last one
 * allocated: a caller that allocates for several splits does so in the
 * reverse order of their commit.
 */
static int hugetlb_gmem_split_alloc(struct xa_state *xas, struct page *head,
				    pgoff_t index, unsigned int order,
				    unsigned int to)
{
	unsigned int froms[BITS_PER_LONG / XA_CHUNK_SHIFT + 1];
	unsigned int from, next, nr = 0;
	void *entries[XA_CHUNK_SIZE];
	unsigned long i, j;

	for (from = order; from > to; from = hugetlb_gmem_split_order(from, to)) {
		if (WARN_ON_ONCE(nr == ARRAY_SIZE(froms)))
			return -EINVAL;
		froms[nr++] = from;
	}
	while (nr--) {
		from = froms[nr];
		next = hugetlb_gmem_split_order(from, to);
		for (i = 1UL << (order - from); i--; ) {
			pgoff_t first = i << from;

			xas_set_order(xas, index + first, next);
			if (next > to) {
				xas_split_alloc(xas, head, from, GFP_KERNEL);
			} else {
				for (j = 0; j < 1UL << (from - to); j++)
					entries[j] = nth_page(head, first + (j << to));
				xas_split_alloc_entries(xas, entries, from,
							GFP_KERNEL);
			}
			if (xas_error(xas))
				return xas_error(xas);
			cond_resched();
		}
	}
	return 0;
}

/*
 * With the nodes hugetlb_gmem_split_alloc() put on @nodes' list, split the
 * entry of @order at @index into folios of order @to (which the struct
 * pages may say already).  Lookups that find @head meanwhile retry: it is
 * frozen, as are the new folios until the caller unfreezes them.  So the
 * xarray is consistent between two node splits, and each takes the lock
 * on its own: interrupts stay off for one node's 64 slots at most, not
 * for the 65 nodes of a 1G page's split to 2M (or 4161 to 4K).
 */
static void hugetlb_gmem_split_entries(struct xa_state *nodes,
				       struct page *head, pgoff_t index,
				       unsigned int order, unsigned int to)
{
	unsigned int from, next;
	unsigned long i;

	for (from = order; from > to; from = next) {
		next = hugetlb_gmem_split_order(from, to);
		for (i = 0; i < 1UL << (order - from); i++) {
			pgoff_t first = index + (i << from);
			XA_STATE_ORDER(xas, nodes->xa, first, next);

			xas.xa_alloc = nodes->xa_alloc;
			xas_lock_irq(&xas);
			xas_split(&xas, head, from);
			xas_unlock_irq(&xas);
			nodes->xa_alloc = xas.xa_alloc;
		}
	}
}

/*
 * A huge folio, or a 2M piece, splits with the mapping's invalidate_lock
 * held for write, or shared and the huge range's fault mutex held: a new
 * folio, in hugetlb_gmem_get_folio(), or at the host's first fault,
 * hugetlb_gmem_split_for_host().  Its split is prepared under either too.
 */
static void hugetlb_gmem_assert_split_locked(struct hugetlb_gmem *hg,
					     struct folio *folio)
{
#ifdef CONFIG_LOCKDEP
	struct address_space *mapping = folio->mapping;
	u32 hash = hugetlb_fault_mutex_hash(mapping, folio->index >>
						     huge_page_order(hg->h));

	lockdep_assert(lockdep_is_held_type(&mapping->invalidate_lock, 0) ||
		       (lockdep_is_held(&mapping->invalidate_lock) &&
			lockdep_is_held(&hugetlb_fault_mutex_table[hash])));
#endif
}

/* The first page of the @n-th 2M piece of the huge folio of @sp. */
static struct page *hugetlb_gmem_split_piece(struct hugetlb_gmem_split *sp,
					     unsigned int n)
{
	return folio_page(sp->folio, n << hugetlb_gmem_piece_order(sp->hg));
}

/*
 * The nodes of a split, in the reverse order of hugetlb_gmem_split_one():
 * the 2M pieces that go on to 4K, last first, then the huge folio's.
 */
static int hugetlb_gmem_split_alloc_all(struct hugetlb_gmem_split *sp)
{
	unsigned int porder = hugetlb_gmem_piece_order(sp->hg);
	struct folio *folio = sp->folio;
	unsigned int n, below;
	int err;

	if (!folio_test_hugetlb(folio))
		return hugetlb_gmem_split_alloc(&sp->xas, &folio->page,
						folio->index, porder, 0);
	/* A 2M piece takes the huge folio's entry as it is. */
	if (sp->to_piece)
		return 0;
	/* find_last_bit() returns @below when no bit below it is set. */
	for (below = HUGETLB_GMEM_MAX_PIECES;
	     (n = find_last_bit(sp->to_4k, below)) < below; below = n) {
		err = hugetlb_gmem_split_alloc(&sp->xas,
					       hugetlb_gmem_split_piece(sp, n),
					       folio->index + (n << porder),
					       porder, 0);
		if (err)
			return err;
	}
	return hugetlb_gmem_split_alloc(&sp->xas, &folio->page, folio->index,
					folio_order(folio),
					folio_order(folio) > porder ? porder : 0);
}

/* The 2M pieces of a split 1G folio whose vmemmap the split restores. */
static void hugetlb_gmem_split_restores(struct hugetlb_gmem_split *sp,
					unsigned long *restore)
{
	if (sp->restore_all)
		bitmap_fill(restore, HUGETLB_GMEM_MAX_PIECES);
	else
		bitmap_copy(restore, sp->to_4k, HUGETLB_GMEM_MAX_PIECES);
}

/*
 * A 2M piece of a split 1G page splits into 4K pieces: the nodes, and the
 * 7 vmemmap pages that restoring its vmemmap takes if it is optimized.
 */
static int hugetlb_gmem_split_prepare_piece(struct hugetlb_gmem_split *sp)
{
	struct hugetlb_gmem_pieces *pieces;
	struct folio *folio = sp->folio;
	unsigned int n;
	int err;

	err = hugetlb_gmem_split_alloc_all(sp);
	if (err)
		goto out;
	pieces = hugetlb_gmem_pieces_of(&folio->page, &n);
	if (WARN_ON_ONCE(!pieces) || !test_bit(n, pieces->optimized))
		return 0;
	err = hugetlb_vmemmap_restore_piece_prepare(&folio->page,
						    folio_order(folio), 1,
						    GFP_KERNEL | __GFP_RETRY_MAYFAIL,
						    &sp->vmemmap_pages);
out:
	/* The nodes taken so far. */
	if (err)
		xas_destroy(&sp->xas);
	return err;
}

/* The record of a split's pieces, unless the folio came with it. */
static void hugetlb_gmem_split_free_pieces(struct hugetlb_gmem_split *sp)
{
	if (!sp->whole_pieces)
		kfree(sp->pieces);
}

/*
 * hugetlb_gmem_split_prepare() with @to_4k, of a hugetlb folio, the bitmap
 * of the 2M pieces that go on into 4K pieces (bit n for the n-th; of a 2M
 * folio, bit 0 clear makes it one 2M piece).
 */
static int __hugetlb_gmem_split_prepare(struct hugetlb_gmem *hg,
					struct folio *folio, int refs,
					const unsigned long *to_4k,
					struct hugetlb_gmem_split *sp)
{
	unsigned int porder = hugetlb_gmem_piece_order(hg);
	struct address_space *mapping = folio->mapping;
	bool piece = hugetlb_gmem_folio_is_piece(hg, folio);
	int err;

	hugetlb_gmem_assert_split_locked(hg, folio);
	VM_WARN_ON_ONCE_FOLIO(piece ? folio_order(folio) != porder :
			      !folio_test_hugetlb(folio) ||
			      folio_order(folio) != huge_page_order(hg->h) ||
			      !folio_test_hugetlb_guest_memfd(folio), folio);
	if (folio_ref_count(folio) != folio_nr_pages(folio) + refs)
		return -EAGAIN;

	*sp = (struct hugetlb_gmem_split) {
		.hg = hg,
		.folio = folio,
		.refs = refs,
		.xas = __XA_STATE(&mapping->i_pages, folio->index, 0, 0),
		.vmemmap_pages = LIST_HEAD_INIT(sp->vmemmap_pages),
	};
	if (piece)
		return hugetlb_gmem_split_prepare_piece(sp);

	if (folio_order(folio) > porder)
		bitmap_copy(sp->to_4k, to_4k, folio_nr_pages(folio) >> porder);
	else
		sp->to_piece = !test_bit(0, to_4k);
	sp->charge = kmalloc(sizeof(*sp->charge), GFP_KERNEL);
	/* A 1G folio that split before may have its record still. */
	sp->pieces = hugetlb_gmem_whole_pieces(hg, folio);
	sp->whole_pieces = sp->pieces;
	if (!sp->pieces)
		sp->pieces = kzalloc(sizeof(*sp->pieces), GFP_KERNEL);
	if (!sp->charge || !sp->pieces) {
		hugetlb_gmem_split_free_pieces(sp);
		kfree(sp->charge);
		return -ENOMEM;
	}
	/*
	 * Their slots, so that storing the charge and the pieces allocates
	 * nothing (the pieces' may hold them already: then nothing to do).
	 */
	err = xa_reserve(&hg->split_charges, hugetlb_gmem_nr(hg, folio->index),
			 GFP_KERNEL);
	if (err) {
		hugetlb_gmem_split_free_pieces(sp);
		kfree(sp->charge);
		return err;
	}
	err = xa_reserve(hugetlb_gmem_split_xa(hg),
			 hugetlb_gmem_split_key(hg, &folio->page), GFP_KERNEL);
	if (err) {
		xa_release(&hg->split_charges, hugetlb_gmem_nr(hg, folio->index));
		hugetlb_gmem_split_free_pieces(sp);
		kfree(sp->charge);
		return err;
	}
	err = hugetlb_gmem_split_alloc_all(sp);
	if (err) {
		hugetlb_gmem_split_abort(sp);
		return err;
	}

	if (folio_order(folio) > porder) {
		DECLARE_BITMAP(restore, HUGETLB_GMEM_MAX_PIECES);
		unsigned long n;

		/*
		 * Memory failure marks the pages of a poisoned folio when it
		 * splits: all of them must have struct pages of their own.
		 * One that it poisons after this loses a whole 2M piece
		 * (folio_split_hugetlb_hwpoison()).
		 */
		sp->restore_all = folio_test_hwpoison(folio);
		hugetlb_gmem_split_restores(sp, restore);
		trace_hugetlb_gmem_vmemmap_restore_prepare_begin(folio);
		if (sp->whole_pieces) {
			/* The pieces that go to 4K and are optimized. */
			bitmap_and(restore, restore, sp->pieces->optimized,
				   HUGETLB_GMEM_MAX_PIECES);
			n = bitmap_weight(restore, HUGETLB_GMEM_MAX_PIECES);
			err = hugetlb_vmemmap_restore_piece_prepare(&folio->page,
								    porder, n,
								    GFP_KERNEL |
								    __GFP_RETRY_MAYFAIL,
								    &sp->vmemmap_pages);
		} else {
			err = hugetlb_vmemmap_split_prepare(hg->h, folio, porder,
							    restore,
							    &sp->vmemmap_pages);
		}
		trace_hugetlb_gmem_vmemmap_restore_prepare_end(folio);
	} else if (!sp->to_piece) {
		trace_hugetlb_gmem_vmemmap_restore_prepare_begin(folio);
		err = hugetlb_vmemmap_restore_prepare(hg->h, folio,
						      &sp->vmemmap_pages);
		trace_hugetlb_gmem_vmemmap_restore_prepare_end(folio);
	}
	if (err)
		hugetlb_gmem_split_abort(sp);
	return err;
}

/**
 * hugetlb_gmem_split_prepare - allocate what splitting a huge folio takes
 * @hg:		the file's reservation.
 * @folio:	a huge folio of the file, in its page cache: a hugetlb folio,
 *		or a 2M piece of a split huge page.
 * @refs:	the references to @folio the caller holds.
 * @start:	the first 4K index of the range that a conversion changes.
 * @end:	the 4K index past it.
 * @sp:		gets what the commit needs.
 *
 * A huge folio's range is in one state: the conversion of [@start, @end)
 * leaves both states only in the 2M units it covers in part.  A 1G folio
 * splits into 2M pieces, and those on into 4K pieces; the others stay
 * whole, in one state.  A 2M folio that [@start, @end) covers in part
 * splits into 4K pieces; one it does not becomes one 2M piece, in place:
 * the host can map that with a PMD (see hugetlb_gmem_split_for_host()),
 * and it keeps its vmemmap, its page cache entry and its pfns, so KVM's
 * mappings stay.  The prepare takes the page cache xarray nodes for the new entries (8 for 2M
 * to 4K, 65 for 1G to 2M, none for a 2M piece), and the vmemmap pages
 * that undoing HVO maps (7 for 2M to 4K; for 1G, 511 for its pieces' first
 * vmemmap pages, and 7 for each piece that goes to 4K).
 * The caller holds the mapping's invalidate_lock for write, or shared and
 * the huge range's fault mutex (a new folio: hugetlb_gmem_get_folio(),
 * hugetlb_gmem_split_for_host(); or hugetlb_gmem_split_prepare_shared()).
 *
 * A folio that memory failure poisoned splits like any other: its
 * poisoned pages stay poisoned, in 4K pieces or in a 2M piece that says it
 * holds one (folio_test_has_hwpoisoned()), and the rest can be used again.
 *
 * Return: %0; -EAGAIN when someone else holds @folio (memory failure does,
 * for a moment); -ENOMEM.  Nothing is kept on error.
 */
int hugetlb_gmem_split_prepare(struct hugetlb_gmem *hg, struct folio *folio,
			       int refs, pgoff_t start, pgoff_t end,
			       struct hugetlb_gmem_split *sp)
{
	DECLARE_BITMAP(to_4k, HUGETLB_GMEM_MAX_PIECES) = { };
	unsigned int porder = hugetlb_gmem_piece_order(hg);

	if (folio_test_hugetlb(folio)) {
		pgoff_t unit = 1UL << porder;

		start = clamp(start, folio->index, folio_next_index(folio));
		end = clamp(end, folio->index, folio_next_index(folio));
		if (start < end && !IS_ALIGNED(start, unit))
			__set_bit((start - folio->index) >> porder, to_4k);
		if (start < end && !IS_ALIGNED(end, unit))
			__set_bit((end - 1 - folio->index) >> porder, to_4k);
		/*
		 * A poisoned 2M page goes to 4K pieces, so that only its
		 * poisoned pages are lost (a 2M piece would lose all).
		 */
		if (folio_order(folio) == porder && folio_test_hwpoison(folio))
			__set_bit(0, to_4k);
	}
	return __hugetlb_gmem_split_prepare(hg, folio, refs, to_4k, sp);
}
EXPORT_SYMBOL_GPL(hugetlb_gmem_split_prepare);

static void hugetlb_gmem_optimize(struct hugetlb_gmem *hg,
				  struct folio **folios, int nr, int refs);
static void hugetlb_gmem_split_and_unlock(struct hugetlb_gmem *hg,
					  struct hugetlb_gmem_split *sp);

/*
 * Undo HVO on a folio whose split is prepared, ahead of the commit: a
 * restore needs no fault held off (see hugetlb_vmemmap_sync(): a reader
 * of a tail finds a fake head it refuses, or a refcount of 0, through the
 * old mapping or the new one, and compound_head() the same folio), and the
 * folio stays a huge folio, one that HVO does not cover.
 */
static void hugetlb_gmem_split_restore(struct hugetlb_gmem *hg,
				       struct hugetlb_gmem_split *sp)
{
	/* A 1G folio's pieces keep theirs: split in the commit. */
	if (!folio_test_hugetlb(sp->folio) ||
	    folio_order(sp->folio) > hugetlb_gmem_piece_order(hg) ||
	    sp->to_piece || !folio_test_hugetlb_vmemmap_optimized(sp->folio))
		return;
	trace_hugetlb_gmem_vmemmap_restore_begin(1);
	hugetlb_vmemmap_restore_commit(hg->h, sp->folio, &sp->vmemmap_pages);
	/* The page the remap unmapped, and flushed. */
	hugetlb_vmemmap_restore_finish(&sp->vmemmap_pages);
	count_vm_event(HUGETLB_GMEM_VMEMMAP_RESTORE);
	trace_hugetlb_gmem_vmemmap_restore_end(1);
	sp->restored = true;
}

/**
 * hugetlb_gmem_split_prepare_shared - prepare a split beside faults
 * @hg:		the file's reservation.
 * @mapping:	the file's page cache.
 * @index:	a 4K index of the file.
 * @start:	as for hugetlb_gmem_split_prepare().
 * @end:	as for hugetlb_gmem_split_prepare().
 * @sp:		gets what the commit needs.
 *
 * hugetlb_gmem_split_prepare() of the huge folio (or 2M piece) at @index,
 * for a caller that holds the mapping's invalidate_lock shared, so that
 * faults elsewhere in the file go on meanwhile: the huge range's fault
 * mutex, taken here, holds off those that would add or split a folio
 * there.  HVO is undone now too, which is what takes longest after the
 * allocations; should the split be aborted, hugetlb_gmem_split_abort()
 * redoes it.
 *
 * Return: the folio, with a reference that @sp holds; NULL when @index
 * has no huge folio (absent, or a 4K piece); or an ERR_PTR as
 * hugetlb_gmem_split_prepare() returns.  Nothing is kept on error.
 */
struct folio *hugetlb_gmem_split_prepare_shared(struct hugetlb_gmem *hg,
						struct address_space *mapping,
						pgoff_t index, pgoff_t start,
						pgoff_t end,
						struct hugetlb_gmem_split *sp)
{
	u32 hash = hugetlb_fault_mutex_hash(mapping, hugetlb_gmem_nr(hg, index));
	struct folio *folio;
	int err;

	lockdep_assert_held_read(&mapping->invalidate_lock);
	mutex_lock(&hugetlb_fault_mutex_table[hash]);
	folio = filemap_get_folio(mapping, index);
	if (IS_ERR(folio)) {
		folio = NULL;
	} else if (!folio_test_large(folio)) {
		folio_put(folio);
		folio = NULL;
	} else {
		err = hugetlb_gmem_split_prepare(hg, folio, 1, start, end, sp);
		if (err) {
			folio_put(folio);
			folio = ERR_PTR(err);
		} else {
			hugetlb_gmem_split_restore(hg, sp);
		}
	}
	mutex_unlock(&hugetlb_fault_mutex_table[hash]);
	return folio;
}
EXPORT_SYMBOL_GPL(hugetlb_gmem_split_prepare_shared);

/*
 * Restore the vmemmap of the 2M piece @piece, which the host is to map
 * with PTEs: each of its pages needs a struct page of its own.  Unlike
 * memory failure's, this restore may fail.
 */
static int hugetlb_gmem_restore_piece_for_host(struct folio *piece)
{
	struct hugetlb_gmem_pieces *pieces;
	LIST_HEAD(pages);
	unsigned int n;
	int err;

	pieces = hugetlb_gmem_pieces_of(&piece->page, &n);
	if (!pieces || !test_bit(n, pieces->optimized))
		return 0;
	err = hugetlb_vmemmap_restore_piece_prepare(&piece->page, PMD_ORDER, 1,
						    GFP_KERNEL, &pages);
	if (err)
		return err;
	/*
	 * Memory failure restores pieces too (it waits for no file lock).
	 * The fault holds mmap_lock, which memory failure may take holding
	 * its mutex (kill_accessing_process()): never wait for that here.
	 */
	if (!memory_failure_trylock()) {
		hugetlb_vmemmap_restore_finish(&pages);
		return -EAGAIN;
	}
	if (test_bit(n, pieces->optimized))
		hugetlb_gmem_restore_piece_commit(pieces, n, &piece->page,
						  &pages);
	memory_failure_unlock();
	hugetlb_vmemmap_restore_finish(&pages);
	return 0;
}

/*
 * Whether finish_fault() will map the 2M folio that holds the fault's page
 * with a PMD (do_set_pmd(), whose tests these are but for the folio's),
 * rather than the page with a PTE.  The fault holds mmap_lock (->fault()
 * of a VMA without ->map_pages() is not called under the VMA lock alone:
 * vmf_can_call_fault()), so the VMA's and the mm's THP settings stay.  A
 * PMD that another fault sets meanwhile makes finish_fault() give up
 * (VM_FAULT_NOPAGE); only faults here, which would map a PMD too, set one
 * in an empty slot.  One that another fault set already, since this one
 * found the slot empty, maps the piece: nothing to map with PTEs.
 */
static bool hugetlb_gmem_fault_maps_pmd(struct vm_fault *vmf)
{
#ifdef CONFIG_TRANSPARENT_HUGEPAGE
	struct vm_area_struct *vma = vmf->vma;
	pmd_t pmd = pmdp_get_lockless(vmf->pmd);

	mmap_assert_locked(vma->vm_mm);
	if (pmd_trans_huge(pmd))
		return true;
	return pmd_none(pmd) && !thp_disabled_by_hw() &&
	       !vma_thp_disabled(vma, vma->vm_flags) &&
	       thp_vma_suitable_order(vma, vmf->address & HPAGE_PMD_MASK,
				      PMD_ORDER);
#else
	return false;
#endif
}

/**
 * hugetlb_gmem_max_order - the largest order KVM may map a folio's pages with
 * @hg:		the file's reservation.
 * @folio:	a folio of the file.
 *
 * The folio's order; but a 2M piece of a split 1G page all of whose 2M
 * pieces are whole and hold no poisoned page can be mapped with the 1G
 * page's order: its pages are contiguous, and stay where they are while
 * the file holds the page (a punch of part of it zeroes).  That is how the
 * host's first fault leaves a 1G page shared whole (split into 2M pieces
 * for the host to map with PMDs), and how a 1G page stays in 2M pieces
 * once it has split (see hugetlb_gmem_merge_prepare()).  The caller holds
 * the mapping's invalidate_lock; it checks the page's range is in one
 * state, and holds faults off over all of the 1G page whenever it zaps
 * part of it (memory failure clears a piece's bit before it calls the
 * file).
 */
int hugetlb_gmem_max_order(struct hugetlb_gmem *hg, struct folio *folio)
{
	struct hugetlb_gmem_pieces *pieces;
	unsigned int n;

	if (folio_test_hugetlb(folio) ||
	    folio_order(folio) != hugetlb_gmem_piece_order(hg) ||
	    huge_page_order(hg->h) == hugetlb_gmem_piece_order(hg))
		return folio_order(folio);
	pieces = hugetlb_gmem_pieces_of(&folio->page, &n);
	if (!pieces ||
	    !bitmap_full(pieces->whole, pages_per_huge_page(hg->h) >>
					hugetlb_gmem_piece_order(hg)))
		return folio_order(folio);
	return huge_page_order(hg->h);
}
EXPORT_SYMBOL_GPL(hugetlb_gmem_max_order);

/**
 * hugetlb_gmem_split_for_host - make a shared huge page mappable by the host
 * @hg:		the file's reservation.
 * @vmf:	the host's fault on a shared page of the file, in its
 *		->fault() handler.
 *
 * A huge range that is all shared stays one folio, which KVM maps huge;
 * but the host cannot map a hugetlb folio outside a hugetlb VMA (the rmap
 * takes none, and nothing can map a refcounted folio with a PUD), nor map
 * a page of an optimized 2M piece with a PTE (its tail struct pages are
 * HVO's read-only aliases).  It can map a 2M piece with a PMD, which
 * touches only the piece's first struct pages.  So the host's first fault
 * in the range splits its folio into 2M pieces: a 1G page into 512, a 2M
 * page into one, in place, which takes nothing (a 2M page that holds a
 * poisoned page goes to 4K pieces instead).  A 2M piece that the host is
 * to map with PTEs (no PMD can map it there) gets its vmemmap restored
 * rather than a split: another mapping may hold it whole.  KVM's mappings
 * stay: the pages do not move, and each piece is as large as KVM maps it.
 *
 * The caller holds the mapping's invalidate_lock shared; the fault mutex,
 * taken here, holds off allocations and other splits of the range.
 * Nothing is waited for: only lookups, which let go soon, can hold a
 * shared folio that the host does not map.
 *
 * Return: %0, also when there is nothing to do; -EAGAIN when someone else
 * holds the folio, or memory failure is at work, for now (the caller
 * faults again); -ENOMEM.
 */
int hugetlb_gmem_split_for_host(struct hugetlb_gmem *hg, struct vm_fault *vmf)
{
	struct address_space *mapping = vmf->vma->vm_file->f_mapping;
	bool pmd = hugetlb_gmem_fault_maps_pmd(vmf);
	pgoff_t index = vmf->pgoff;
	u32 hash = hugetlb_fault_mutex_hash(mapping, hugetlb_gmem_nr(hg, index));
	struct hugetlb_gmem_split sp;
	struct folio *folio;
	int err = 0;

	lockdep_assert_held_read(&mapping->invalidate_lock);
	mutex_lock(&hugetlb_fault_mutex_table[hash]);
	folio = filemap_get_folio(mapping, index);
	if (IS_ERR(folio))
		goto unlock;
	if (folio_test_hugetlb(folio)) {
		/* Into 2M pieces, or one (a poisoned 2M page: 4K pieces). */
		err = hugetlb_gmem_split_prepare(hg, folio, 1, 0, 0, &sp);
		/* As for the restore below: no waiting for memory failure. */
		if (!err && !memory_failure_trylock()) {
			hugetlb_gmem_split_abort(&sp);
			err = -EAGAIN;
		} else if (!err && sp.to_piece && folio_test_hwpoison(folio)) {
			/* Poisoned since the prepare: 4K pieces, next time. */
			memory_failure_unlock();
			hugetlb_gmem_split_abort(&sp);
			err = -EAGAIN;
		} else if (!err) {
			hugetlb_gmem_split_restore(hg, &sp);
			hugetlb_gmem_split_and_unlock(hg, &sp);
			count_vm_event(HUGETLB_GMEM_SPLIT_FOR_HOST);
		}
		/* Split: on what holds the first page now. */
		folio_put(folio);
		folio = err ? NULL : filemap_get_folio(mapping, index);
		if (IS_ERR_OR_NULL(folio))
			goto unlock;
	}
	/* do_set_pmd() maps no piece that holds a poisoned page. */
	if (folio_test_large(folio) &&
	    (!pmd || folio_test_has_hwpoisoned(folio)))
		err = hugetlb_gmem_restore_piece_for_host(folio);
	folio_put(folio);
unlock:
	mutex_unlock(&hugetlb_fault_mutex_table[hash]);
	return err;
}
EXPORT_SYMBOL_GPL(hugetlb_gmem_split_for_host);

/**
 * hugetlb_gmem_split_abort - free what hugetlb_gmem_split_prepare() took
 * @sp:	the prepared split; the caller still holds its references.
 *
 * Redoes HVO, best effort, on a folio whose split
 * hugetlb_gmem_split_prepare_shared() prepared: that allocates, and waits
 * for transient references.
 */
void hugetlb_gmem_split_abort(struct hugetlb_gmem_split *sp)
{
	struct hugetlb_gmem *hg = sp->hg;

	hugetlb_gmem_assert_split_locked(hg, sp->folio);
	/* Best effort, as after a merge. */
	if (sp->restored)
		hugetlb_gmem_optimize(hg, &sp->folio, 1, sp->refs);
	hugetlb_vmemmap_restore_finish(&sp->vmemmap_pages);
	xas_destroy(&sp->xas);
	if (!sp->charge)
		return;
	xa_release(&hg->split_charges, hugetlb_gmem_nr(hg, sp->folio->index));
	/* Nothing to release if it holds the pieces' record. */
	xa_release(hugetlb_gmem_split_xa(hg),
		   hugetlb_gmem_split_key(hg, &sp->folio->page));
	hugetlb_gmem_split_free_pieces(sp);
	kfree(sp->charge);
}
EXPORT_SYMBOL_GPL(hugetlb_gmem_split_abort);

/*
 * Split the vmemmap of @sp's folio as its split needs, with memory failure
 * held off: restore a 2M piece's, or split a 1G folio's into its 2M
 * pieces', some restored, the others optimized.  Returns the pieces whose
 * vmemmap stays optimized, or %NULL.
 */
static const unsigned long *hugetlb_gmem_split_vmemmap(struct hugetlb_gmem *hg,
						       struct hugetlb_gmem_split *sp)
{
	unsigned int porder = hugetlb_gmem_piece_order(hg);
	DECLARE_BITMAP(restore, HUGETLB_GMEM_MAX_PIECES);
	unsigned long nr = folio_nr_pages(sp->folio) >> porder;
	struct hugetlb_gmem_pieces *pieces;
	struct folio *folio = sp->folio;
	unsigned long optimized;
	unsigned int n;

	memory_failure_assert_held();
	if (!folio_test_hugetlb(folio)) {
		pieces = hugetlb_gmem_pieces_of(&folio->page, &n);
		/* Unless memory failure restored it since the prepare. */
		if (pieces && test_bit(n, pieces->optimized))
			hugetlb_gmem_restore_piece_commit(pieces, n,
							  &folio->page,
							  &sp->vmemmap_pages);
		return NULL;
	}
	if (folio_order(folio) == porder) {
		/* A 2M piece keeps the vmemmap that HVO gave the 2M page. */
		if (!sp->to_piece || !folio_test_hugetlb_vmemmap_optimized(folio))
			return NULL;
		sp->pieces->hvo = true;
		__set_bit(0, sp->pieces->optimized);
		return sp->pieces->optimized;
	}
	hugetlb_gmem_split_restores(sp, restore);
	if (sp->whole_pieces) {
		/*
		 * Its vmemmap is per piece already: restore those that go to
		 * 4K.  Counted as a restore of the page's, as the split of
		 * one optimized at 1G is, which restores the same.
		 */
		trace_hugetlb_gmem_vmemmap_restore_begin(1);
		bitmap_and(restore, restore, sp->pieces->optimized,
			   HUGETLB_GMEM_MAX_PIECES);
		hugetlb_vmemmap_restore_pieces_commit(&folio->page, porder,
						      restore, nr, true,
						      &sp->vmemmap_pages);
		bitmap_andnot(sp->pieces->optimized, sp->pieces->optimized,
			      restore, nr);
		count_vm_events(HUGETLB_GMEM_VMEMMAP_RESTORE_PIECE,
				bitmap_weight(restore, nr));
		count_vm_event(HUGETLB_GMEM_VMEMMAP_RESTORE);
		trace_hugetlb_gmem_vmemmap_restore_end(1);
		return bitmap_empty(sp->pieces->optimized,
				    HUGETLB_GMEM_MAX_PIECES) ?
		       NULL : sp->pieces->optimized;
	}
	if (!folio_test_hugetlb_vmemmap_optimized(folio))
		return NULL;

	trace_hugetlb_gmem_vmemmap_restore_begin(1);
	optimized = hugetlb_vmemmap_split_commit(hg->h, folio, porder, restore,
						 &sp->vmemmap_pages);
	count_vm_event(HUGETLB_GMEM_VMEMMAP_RESTORE);
	trace_hugetlb_gmem_vmemmap_restore_end(1);
	sp->pieces->hvo = true;
	bitmap_complement(sp->pieces->optimized, restore,
			  folio_nr_pages(folio) >> porder);
	return optimized ? sp->pieces->optimized : NULL;
}

/*
 * Split one folio; frozen, so nothing sleeps.  Lookups spin on the frozen
 * folio until its index holds a piece, and on the frozen pieces until they
 * are unfrozen, so nothing sleeps from the freeze to the unfreeze.  The
 * struct pages need no lock: only the xarray's splits take its lock, with
 * interrupts off, and link the prepared nodes, which hold the pieces
 * already.
 */
static void hugetlb_gmem_split_one(struct hugetlb_gmem *hg,
				   struct hugetlb_gmem_split *sp)
{
	unsigned long keep = BIT(PG_uptodate) | BIT(PG_dirty);
	unsigned int porder = hugetlb_gmem_piece_order(hg);
	struct folio *folio = sp->folio;
	unsigned int order = folio_order(folio), to, n;
	long nr = folio_nr_pages(folio);
	pgoff_t index = folio->index;
	bool poisoned = false, direct;
	const unsigned long *hvo;
	unsigned long tries = 0;

	memory_failure_assert_held();
	/* Not frozen yet: the remap takes init_mm's mmap_lock. */
	hvo = hugetlb_gmem_split_vmemmap(hg, sp);
	while (!folio_ref_freeze(folio, nr + sp->refs))
		gmem_wait_transient_refs(&tries);

	to = order > porder || sp->to_piece ? porder : 0;
	/*
	 * Every 2M piece on into 4K: the struct pages go there in one pass.
	 * The page cache goes through 2M entries all the same, which hold the
	 * frozen first page of each piece until its 4K entries replace them.
	 */
	direct = to && bitmap_full(sp->to_4k, nr >> porder);
	if (sp->charge)
		poisoned = hugetlb_folio_split(hg->h, folio, direct ? 0 : to,
					       direct ? NULL : hvo, sp->charge);
	else
		split_folio_in_place(folio, 0, keep, NULL);
	if (!direct)
		for_each_set_bit(n, sp->to_4k, HUGETLB_GMEM_MAX_PIECES)
			split_folio_in_place(page_folio(hugetlb_gmem_split_piece(sp, n)),
					     0, keep, NULL);
	/*
	 * The one pass gave each piece's first page the page cache's
	 * reference, as it gives every 4K page but the folio's first; but
	 * the 2M entries will name it for the whole piece: freeze it again,
	 * before any entry names it, lest a lookup of another index of the
	 * piece take it.  Only transient references can be there meanwhile.
	 */
	for (n = 1; direct && n < nr >> porder; n++)
		while (!page_ref_freeze(hugetlb_gmem_split_piece(sp, n), 1))
			gmem_wait_transient_refs(&tries);

	hugetlb_gmem_split_entries(&sp->xas, &folio->page, index, order, to);
	for_each_set_bit(n, sp->to_4k, HUGETLB_GMEM_MAX_PIECES) {
		/* What the 2M entry names until the 4K entries replace it. */
		VM_WARN_ON_ONCE_PAGE(page_ref_count(hugetlb_gmem_split_piece(sp, n)),
				     hugetlb_gmem_split_piece(sp, n));
		hugetlb_gmem_split_entries(&sp->xas,
					   hugetlb_gmem_split_piece(sp, n),
					   index + (n << porder), porder, 0);
	}
	/* All the prepared nodes in place. */
	VM_WARN_ON_ONCE_FOLIO(sp->xas.xa_alloc, folio);

	if (sp->charge) {
		/* Into the slots the prepare reserved: allocates nothing. */
		WARN_ON_ONCE(xa_is_err(xa_store(&hg->split_charges,
						hugetlb_gmem_nr(hg, index),
						sp->charge, GFP_NOWAIT)));
		sp->pieces->split = true;
		WARN_ON_ONCE(xa_is_err(xa_store(hugetlb_gmem_split_xa(hg),
						hugetlb_gmem_split_key(hg, &folio->page),
						sp->pieces, GFP_NOWAIT)));
		count_vm_event(HUGETLB_GMEM_SPLIT);
		if (poisoned)
			count_vm_event(HUGETLB_GMEM_SPLIT_POISONED);
		trace_hugetlb_gmem_split(folio_pfn(folio), index, order);
	}
	if (!to) {
		/* A 2M page, or a 2M piece, into 4K pieces. */
		if (!sp->charge) {
			struct hugetlb_gmem_pieces *pieces;

			pieces = hugetlb_gmem_pieces_of(&folio->page, &n);
			if (pieces)
				__clear_bit(n, pieces->whole);
			count_vm_event(HUGETLB_GMEM_SPLIT_PIECE);
			trace_hugetlb_gmem_split_piece(folio_pfn(folio), index,
						       order);
		}
		/* The first, which the split left frozen. */
		page_ref_unfreeze(&folio->page, 1);
	} else {
		/*
		 * A 1G page into 2M pieces, some of them on into 4K; or a 2M
		 * page into one 2M piece.
		 */
		bitmap_zero(sp->pieces->whole, HUGETLB_GMEM_MAX_PIECES);
		for (n = 0; n < nr >> porder; n++) {
			struct page *head = hugetlb_gmem_split_piece(sp, n);

			if (!test_bit(n, sp->to_4k)) {
				if (!folio_test_has_hwpoisoned(page_folio(head)))
					__set_bit(n, sp->pieces->whole);
				folio_ref_unfreeze(page_folio(head),
						   1 << porder);
				continue;
			}
			count_vm_event(HUGETLB_GMEM_SPLIT_PIECE);
			trace_hugetlb_gmem_split_piece(page_to_pfn(head),
						       index + (n << porder),
						       porder);
			/* Its first page, frozen until now. */
			page_ref_unfreeze(head, 1);
		}
	}
	/* The caller's references, on what holds the folio's first page. */
	folio_ref_add(page_folio(&folio->page), sp->refs);
}

/*
 * Split one folio, with memory failure held off (memory_failure_lock()),
 * which this lets go: it marks pages without holding them, and must find
 * the folio or its pieces, not pages half way, as for a merge.  It does
 * not wait for the invalidate_lock that the caller holds
 * (kvm_gmem_error_folio()), and holds no reference of its own outside its
 * lock, but on poisoned 4K pieces.  Transient references may take their
 * time.
 */
static void hugetlb_gmem_split_and_unlock(struct hugetlb_gmem *hg,
					  struct hugetlb_gmem_split *sp)
{
	hugetlb_gmem_split_one(hg, sp);
	memory_failure_unlock();
	/* What the vmemmap split unmapped (flushed), or did not use. */
	hugetlb_vmemmap_restore_finish(&sp->vmemmap_pages);
}

/**
 * hugetlb_gmem_split_commit - split huge folios
 * @hg:	the file's reservation.
 * @sp:	the prepared splits; consumed.
 * @nr:	how many.
 *
 * Cannot fail and allocates nothing.  The caller still holds the mapping's
 * invalidate_lock for write and its references, which end up on what
 * holds each folio's first page, and has unmapped the folios from KVM.
 * References taken since the prepare can only be transient (speculative
 * lookups), and are waited for.  Waits for no RCU grace period (see
 * hugetlb_vmemmap_sync()).
 */
void hugetlb_gmem_split_commit(struct hugetlb_gmem *hg,
			       struct hugetlb_gmem_split *sp, int nr)
{
	unsigned int porder = hugetlb_gmem_piece_order(hg);
	int i, restores = 0;

	/*
	 * The vmemmap of 2M folios is restored whole, here, all at once; a 1G
	 * folio's is split among its pieces with the folio.
	 */
	for (i = 0; i < nr; i++) {
		hugetlb_gmem_assert_split_locked(hg, sp[i].folio);
		VM_WARN_ON_ONCE_FOLIO(!folio_test_large(sp[i].folio) ||
				      folio_mapped(sp[i].folio), sp[i].folio);
		restores += folio_test_hugetlb(sp[i].folio) &&
			    folio_order(sp[i].folio) == porder &&
			    !sp[i].to_piece &&
			    folio_test_hugetlb_vmemmap_optimized(sp[i].folio);
	}
	if (restores)
		trace_hugetlb_gmem_vmemmap_restore_begin(restores);
	for (i = 0; i < nr; i++) {
		if (!folio_test_hugetlb(sp[i].folio) ||
		    folio_order(sp[i].folio) > porder || sp[i].to_piece)
			continue;
		hugetlb_vmemmap_restore_commit(hg->h, sp[i].folio,
					       &sp[i].vmemmap_pages);
		/* A page the commit unmapped, and flushed. */
		hugetlb_vmemmap_restore_finish(&sp[i].vmemmap_pages);
	}
	if (restores) {
		count_vm_events(HUGETLB_GMEM_VMEMMAP_RESTORE, restores);
		trace_hugetlb_gmem_vmemmap_restore_end(restores);
	}
	for (i = 0; i < nr; i++) {
		memory_failure_lock();
		hugetlb_gmem_split_and_unlock(hg, &sp[i]);
	}
}
EXPORT_SYMBOL_GPL(hugetlb_gmem_split_commit);

/*
 * Whether the @nr 4K pieces from @index can be merged: all there, in pfn
 * order, held by the page cache only, none poisoned.
 *
 * Return: %0; -ENOENT if they are not 4K pieces (a huge folio, or a 2M
 * piece, or nothing); -EAGAIN, with *@err_index the first piece held by
 * someone else; -EHWPOISON.
 */
static int hugetlb_gmem_check_pieces(struct address_space *mapping,
				     pgoff_t index, long nr,
				     pgoff_t *err_index)
{
	XA_STATE(xas, &mapping->i_pages, index);
	struct page *head = NULL;
	int err = 0;
	long i;

	rcu_read_lock();
	for (i = 0; i < nr; i++, xas_next(&xas)) {
		struct folio *piece = xas_load(&xas);

		if (!piece || xa_is_value(piece) || folio_test_large(piece) ||
		    (head && &piece->page != nth_page(head, i))) {
			err = -ENOENT;
			break;
		}
		head = head ?: &piece->page;
		if (PageHWPoison(&piece->page)) {
			err = -EHWPOISON;
			break;
		}
		if (folio_ref_count(piece) != 1) {
			*err_index = index + i;
			err = -EAGAIN;
			break;
		}
	}
	rcu_read_unlock();
	return err;
}

/*
 * Whether the 2M piece at @index can be merged into its 1G page: held by
 * the page cache only, not poisoned.  Return as hugetlb_gmem_check_pieces().
 */
static int hugetlb_gmem_check_piece(struct hugetlb_gmem *hg,
				    struct folio *piece, pgoff_t *err_index)
{
	if (folio_test_has_hwpoisoned(piece))
		return -EHWPOISON;
	if (folio_ref_count(piece) != folio_nr_pages(piece)) {
		*err_index = piece->index;
		return -EAGAIN;
	}
	return 0;
}

/*
 * The 2M piece at @i of the split page at @index, whose first page is
 * @base (%NULL: not known yet), or %NULL if @i holds no 2M piece.  The pieces
 * of a split page are its pages, at their indices, as long as the caller
 * holds the invalidate_lock: the struct pages say what is there, without
 * the xarray walk per piece (511 of a 1G page) that would take most of a
 * merge's check.
 */
static struct folio *hugetlb_gmem_unit_piece(struct address_space *mapping,
					     struct page *base, pgoff_t index,
					     pgoff_t i)
{
	struct folio *folio;

	lockdep_assert_held(&mapping->invalidate_lock);
	if (!base)
		return NULL;
	folio = page_folio(nth_page(base, i - index));
	if (!folio_test_large(folio) || folio_test_hugetlb(folio) ||
	    folio->mapping != mapping || folio->index != i)
		return NULL;
	return folio;
}

/*
 * Of the split 1G page at @mg->index, check the 2M units in [@first,
 * @last] (4K indices, the run of private memory a conversion leaves): those
 * of 4K pieces merge into 2M pieces, and, @to_huge, if the run covers the
 * whole page and every unit can merge, the 2M pieces into the 1G folio.
 * For a 2M page, the run must cover it.
 *
 * Return: %0 with @mg set; -ENOENT when nothing merges; -EAGAIN, with
 * *@err_index; -EHWPOISON when a poisoned page keeps the range from
 * merging.
 */
static int hugetlb_gmem_check_units(struct hugetlb_gmem *hg,
				    struct address_space *mapping,
				    struct hugetlb_gmem_merge *mg,
				    pgoff_t first, pgoff_t last, bool to_huge,
				    pgoff_t *err_index)
{
	unsigned int porder = hugetlb_gmem_piece_order(hg);
	long nr = pages_per_huge_page(hg->h), unit = 1L << porder;
	pgoff_t index = mg->index, from, to, i;
	struct page *base = NULL;
	bool poisoned = false;
	int err;

	from = max_t(pgoff_t, index, round_up(first, unit));
	to = min_t(pgoff_t, index + nr, round_down(last + 1, unit));
	if (from >= to)
		return -ENOENT;
	mg->whole = (to_huge || unit == nr) && from == index && to == index + nr;
	bitmap_zero(mg->units, HUGETLB_GMEM_MAX_PIECES);
	for (i = from; i < to; i += unit) {
		struct folio *folio = hugetlb_gmem_unit_piece(mapping, base,
							      index, i);

		if (!folio) {
			folio = xa_load(&mapping->i_pages, i);
			if (folio && !xa_is_value(folio))
				base = pfn_to_page(folio_pfn(folio) -
						   (folio->index - index));
		}
		if (folio && !xa_is_value(folio) && folio_test_large(folio)) {
			/* Whole already: the page, or a 2M piece of it. */
			if (folio_test_hugetlb(folio))
				return -ENOENT;
			/* A piece merges only into its 1G page, @to_huge. */
			if (!mg->whole)
				continue;
			err = hugetlb_gmem_check_piece(hg, folio, err_index);
		} else {
			err = hugetlb_gmem_check_pieces(mapping, i, unit,
							err_index);
			if (!err)
				__set_bit((i - index) >> porder, mg->units);
		}
		if (err == -EAGAIN)
			return err;
		if (err) {
			poisoned |= err == -EHWPOISON;
			mg->whole = false;
		}
	}
	/* A 2M page merges only whole. */
	if (unit == nr)
		bitmap_zero(mg->units, HUGETLB_GMEM_MAX_PIECES);
	if (mg->whole || !bitmap_empty(mg->units, HUGETLB_GMEM_MAX_PIECES))
		return 0;
	return poisoned ? -EHWPOISON : -ENOENT;
}

/*
 * A 2M piece that merged from 4K pieces, of a page that was optimized when
 * it split, is optimized again at once, with its own first vmemmap page,
 * as it was before it split: so the 1G page's vmemmap is one page per 2M
 * piece again.  Allocates nothing, cannot fail.  The piece may be in use.
 */
static void hugetlb_gmem_optimize_piece(struct folio *piece)
{
	struct hugetlb_gmem_pieces *pieces;
	unsigned int n;
	LIST_HEAD(freed);

	pieces = hugetlb_gmem_pieces_of(&piece->page, &n);
	if (WARN_ON_ONCE(!pieces) || !pieces->hvo)
		return;
	VM_WARN_ON_ONCE_FOLIO(test_bit(n, pieces->optimized), piece);
	trace_hugetlb_gmem_vmemmap_optimize_begin(1);
	if (hugetlb_vmemmap_optimize_piece_commit(&piece->page,
						  folio_order(piece), &freed)) {
		/* Flushed. */
		hugetlb_vmemmap_restore_finish(&freed);
		__set_bit(n, pieces->optimized);
		count_vm_event(HUGETLB_GMEM_VMEMMAP_OPTIMIZE_PIECE);
	}
	trace_hugetlb_gmem_vmemmap_optimize_end(1);
}

/*
 * Merge the 4K pieces of a 2M unit of a split 1G page at @index into a 2M
 * piece, with memory failure held off.  Cannot fail and allocates nothing:
 * the entry of the piece takes the slots of a node the split left.  A
 * piece that memory failure poisoned since the pieces were checked leaves
 * them as they are: returns false then.
 */
static bool hugetlb_gmem_merge_unit(struct hugetlb_gmem *hg,
				    struct address_space *mapping,
				    pgoff_t index)
{
	unsigned int porder = hugetlb_gmem_piece_order(hg);
	XA_STATE_ORDER(xas, &mapping->i_pages, index, porder);
	struct page *head = xa_load(&mapping->i_pages, index);
	struct hugetlb_gmem_pieces *pieces;
	struct folio *piece;
	unsigned int n;

	memory_failure_assert_held();
	if (!gmem_freeze_pages(head, 1L << porder, 0)) {
		count_vm_event(HUGETLB_GMEM_MERGE_POISONED);
		trace_hugetlb_gmem_merge_poisoned(page_to_pfn(head), index,
						  porder);
		return false;
	}
	/* Lookups that find the frozen pages retry until they are a folio. */
	if (!gmem_merge_store(&xas, head)) {
		gmem_unfreeze_pages(head, 1L << porder, 0);
		return false;
	}
	merge_pages_to_folio(head, porder, 0, BIT(PG_uptodate) | BIT(PG_dirty),
			     NULL);
	piece = page_folio(head);
	VM_WARN_ON_ONCE_FOLIO(folio_order(piece) != porder ||
			      folio_ref_count(piece), piece);
	count_vm_event(HUGETLB_GMEM_MERGE_PIECE);
	trace_hugetlb_gmem_merge_piece(page_to_pfn(head), index, porder);
	/* None of its pages poisoned: gmem_freeze_pages() checked. */
	pieces = hugetlb_gmem_pieces_of(head, &n);
	if (pieces)
		__set_bit(n, pieces->whole);
	/* The page cache's references. */
	folio_ref_unfreeze(piece, 1L << porder);
	/* Not frozen: the remap takes init_mm's mmap_lock. */
	hugetlb_gmem_optimize_piece(piece);
	return true;
}

/*
 * The inverse of hugetlb_gmem_split_entries(): point the entries of the
 * 2M pieces (order @from) of a 1G page at @head, whose page the prepared
 * @xas stores an entry of @order for, a node at a time, each under the
 * lock on its own, so that interrupts stay off for one node's 64 slots,
 * not for the 4160 of the page's 65 nodes (no longer than a 2M page's
 * merge from 4K pages, which stores in one go).  First an entry for each
 * node of the level above the pieces' (64 of order 12), over a slot of a
 * node that stays, which takes no node; then @xas's.  Lookups that find
 * @head meanwhile retry: it is frozen.  Returns false, with nothing
 * changed, if a single store fails; once the first of several is done
 * the merge must go on (see gmem_merge_store() for why no store fails).
 */
static bool hugetlb_gmem_merge_entries(struct xa_state *xas, struct page *head,
				       unsigned int order, unsigned int from)
{
	unsigned int level = round_up(from + 1, XA_CHUNK_SHIFT);
	unsigned long i;

	if (!from || level >= order)
		return gmem_merge_store(xas, head);
	for (; level < order; level += XA_CHUNK_SHIFT) {
		for (i = 0; i < 1UL << (order - level); i++) {
			pgoff_t index = xas->xa_index + (i << level);
			XA_STATE_ORDER(node, xas->xa, index, level);

			xas_lock_irq(&node);
			xas_store(&node, head);
			xas_unlock_irq(&node);
			WARN_ON_ONCE(xas_error(&node));
		}
	}
	/*
	 * Past the first store there is no way back: should the last one
	 * ever fail for want of its node (taken before the point of no
	 * return, gmem_merge_prealloc()), take it now rather than leave the
	 * entries of the levels below under a 1G folio.
	 */
	while (!gmem_merge_store(xas, head) &&
	       xas_nomem(xas, GFP_KERNEL | __GFP_NOFAIL))
		;
	return true;
}

/*
 * Merge the pieces (4K pieces of a 2M page, 2M pieces of a 1G page) back
 * into a hugetlb folio, with @xas, at their first index with the huge
 * page's order, from hugetlb_gmem_merge_xas().  The folio takes back the
 * hugetlb cgroup charge the split kept.  Cannot fail and allocates
 * nothing.  A piece that memory failure poisoned since the pieces were
 * checked leaves them as they are (a hugetlb folio records its poisoned
 * pages on a list, which would take an allocation).  The caller holds
 * memory failure off.  Returns NULL when the pieces stay.
 */
static struct folio *__hugetlb_gmem_merge(struct hugetlb_gmem *hg,
					  struct xa_state *xas)
{
	unsigned long huge_nr = hugetlb_gmem_nr(hg, xas->xa_index);
	unsigned int porder = hugetlb_gmem_piece_order(hg);
	struct hugetlb_cgroup_detached *charge;
	unsigned int order = huge_page_order(hg->h);
	long nr = pages_per_huge_page(hg->h);
	struct hugetlb_gmem_pieces *pieces;
	const unsigned long *hvo = NULL;
	struct hstate *h = hg->h;
	struct folio *folio;
	unsigned int from;
	struct page *head;

	/*
	 * Memory failure looks at a page, and marks it, without holding it:
	 * it must not find the pieces half made into a hugetlb folio, where it
	 * could take a tail for a 4K page, or a mark be lost.
	 */
	memory_failure_assert_held();

	/* Only invalidate_lock holders add or remove pieces: no reference. */
	head = xa_load(xas->xa, xas->xa_index);
	/* 2M pieces, of a 1G page or a 2M page's one; or 4K pieces. */
	from = folio_test_large(page_folio(head)) ? porder : 0;
	if (!gmem_freeze_pages(head, nr, from)) {
		count_vm_event(HUGETLB_GMEM_MERGE_POISONED);
		trace_hugetlb_gmem_merge_poisoned(page_to_pfn(head),
						  xas->xa_index, order);
		return NULL;
	}
	/* Lookups that find the frozen pieces retry until they are a folio. */
	if (!hugetlb_gmem_merge_entries(xas, head, order, from)) {
		gmem_unfreeze_pages(head, nr, from);
		return NULL;
	}
	charge = xa_erase(&hg->split_charges, huge_nr);
	pieces = xa_load(hugetlb_gmem_split_xa(hg),
			 hugetlb_gmem_split_key(hg, head));
	if (pieces->hvo && !bitmap_empty(pieces->optimized, nr >> porder))
		hvo = pieces->optimized;

	folio = hugetlb_folio_merge(h, head, from, hvo, hg->spool, charge);
	/* Outside hugetlb_lock: memory failure, its reader, is held off. */
	folio_set_hugetlb_guest_memfd(folio);
	VM_WARN_ON_ONCE_FOLIO(folio_order(folio) != order ||
			      folio_ref_count(folio), folio);
	kfree(charge);

	/*
	 * Its vmemmap stays as the pieces had it, one page per 2M piece, as
	 * long as the file holds it (see struct hugetlb_gmem_pieces): their
	 * record stays for it.
	 */
	if (hvo && order > porder) {
		pieces->split = false;
		/* Optimized as it merges: its pieces were as they merged. */
		count_vm_event(HUGETLB_GMEM_VMEMMAP_OPTIMIZE);
	} else {
		/* A 2M piece's vmemmap is a 2M page's, as HVO left it. */
		if (hvo)
			folio_set_hugetlb_vmemmap_optimized(folio);
		xa_erase(hugetlb_gmem_split_xa(hg),
			 hugetlb_gmem_split_key(hg, head));
		kfree(pieces);
	}

	count_vm_event(HUGETLB_GMEM_MERGE);
	trace_hugetlb_gmem_merge(folio_pfn(folio), xas->xa_index, order);
	/* The page cache's references. */
	folio_ref_unfreeze(folio, nr);
	return folio;
}

/*
 * Merge what @mg says: the 2M units of 4K pieces, then, if it is whole, the
 * huge page.  Memory failure at work meanwhile leaves all as it is unless
 * @may_wait.  Returns the huge folio, or NULL when it stays split.
 */
static struct folio *hugetlb_gmem_merge_units(struct hugetlb_gmem *hg,
					      struct address_space *mapping,
					      struct hugetlb_gmem_merge *mg,
					      bool may_wait)
{
	unsigned int porder = hugetlb_gmem_piece_order(hg);
	struct folio *folio = NULL;
	bool whole = mg->whole;
	unsigned int n;

	/* Past the point of no return the merge does not wait for it. */
	if (may_wait)
		memory_failure_lock();
	else if (!memory_failure_trylock())
		return NULL;
	for_each_set_bit(n, mg->units, HUGETLB_GMEM_MAX_PIECES)
		if (!hugetlb_gmem_merge_unit(hg, mapping,
					     mg->index + ((pgoff_t)n << porder)))
			whole = false;
	if (whole)
		folio = __hugetlb_gmem_merge(hg, &mg->xas);
	memory_failure_unlock();
	return folio;
}

/* The store of a merge at @index, with the node it may need: may sleep. */
static int hugetlb_gmem_merge_xas(struct hugetlb_gmem *hg,
				  struct address_space *mapping, pgoff_t index,
				  struct xa_state *xas, gfp_t gfp)
{
	*xas = (struct xa_state)__XA_STATE(&mapping->i_pages, index, 0, 0);
	xas_set_order(xas, index, huge_page_order(hg->h));
	return gmem_merge_prealloc(xas, gfp);
}

/*
 * Redo HVO on merged folios, each held by the page cache and @refs more;
 * best effort, in HVO's steps, with no grace period.  Allocates: not in
 * KVM's no-fail window.
 */
static void hugetlb_gmem_optimize(struct hugetlb_gmem *hg,
				  struct folio **folios, int nr, int refs)
{
	long held = pages_per_huge_page(hg->h) + refs;
	unsigned long deadline;
	int i, optimized = 0;
	LIST_HEAD(heads);
	LIST_HEAD(freed);

	trace_hugetlb_gmem_vmemmap_optimize_begin(nr);
	for (i = 0; i < nr; i++)
		if (hugetlb_vmemmap_optimize_prepare_live(hg->h, folios[i],
							  &heads))
			break;
	if (!list_empty(&heads)) {
		/* A second for transient references, to all of them. */
		deadline = jiffies + HZ;
		for (i = 0; i < nr; i++)
			optimized += hugetlb_vmemmap_optimize_commit_live(hg->h,
									  folios[i],
									  &heads,
									  held,
									  deadline,
									  &freed);
		hugetlb_vmemmap_optimize_finish(&heads, &freed);
	}
	count_vm_events(HUGETLB_GMEM_VMEMMAP_OPTIMIZE, optimized);
	trace_hugetlb_gmem_vmemmap_optimize_end(optimized);
}

/**
 * hugetlb_gmem_merge_prepare - check that split pieces can be merged
 * @hg:		the file's reservation.
 * @mapping:	the file's page cache.
 * @index:	the first 4K index of a huge page of the file.
 * @first:	the first 4K index of the run of private memory that the
 *		conversion leaves around the huge page.
 * @last:	the last 4K index of that run.
 * @mg:		gets what the commit needs.
 * @err_index:	on -EAGAIN, the first 4K page held by someone else.
 *
 * A 2M page merges when the run covers it.  Of a 1G page, the 2M units of
 * 4K pieces that the run covers merge into 2M pieces; the 2M pieces stay
 * (KVM maps them 1G while all are whole: hugetlb_gmem_max_order()), so
 * that converting all of a 1G page merges nothing, and converting part of
 * it again splits one piece, not the page.  A punch or the file's close
 * merges them into the 1G page.  What can stop a merge is a reference
 * (only the page cache may hold the pieces) or a poisoned piece; what it
 * may need is one xarray node, for a 2M folio, taken now.  The caller
 * holds the mapping's invalidate_lock for write and has unmapped the range
 * from the host.
 *
 * Return: %0; -ENOENT if nothing merges; -EAGAIN; -EHWPOISON (nothing
 * merges, for a poisoned piece); -ENOMEM.
 */
int hugetlb_gmem_merge_prepare(struct hugetlb_gmem *hg,
			       struct address_space *mapping, pgoff_t index,
			       pgoff_t first, pgoff_t last,
			       struct hugetlb_gmem_merge *mg, pgoff_t *err_index)
{
	int err;

	lockdep_assert_held_write(&mapping->invalidate_lock);
	VM_WARN_ON_ONCE(!IS_ALIGNED(index, pages_per_huge_page(hg->h)));
	mg->index = index;
	err = hugetlb_gmem_check_units(hg, mapping, mg, first, last, false,
				       err_index);
	if (err)
		return err;
	if (!mg->whole) {
		mg->xas = (struct xa_state)__XA_STATE(NULL, 0, 0, 0);
		return 0;
	}
	return hugetlb_gmem_merge_xas(hg, mapping, index, &mg->xas, GFP_KERNEL);
}
EXPORT_SYMBOL_GPL(hugetlb_gmem_merge_prepare);

/**
 * hugetlb_gmem_merge_abort - undo hugetlb_gmem_merge_prepare()
 * @hg:	the file's reservation.
 * @mg:	the prepared merge.
 */
void hugetlb_gmem_merge_abort(struct hugetlb_gmem *hg,
			      struct hugetlb_gmem_merge *mg)
{
	xas_destroy(&mg->xas);
}
EXPORT_SYMBOL_GPL(hugetlb_gmem_merge_abort);

/**
 * hugetlb_gmem_merge_commit - merge split pieces
 * @hg:		the file's reservation.
 * @mapping:	the file's page cache.
 * @mg:		the prepared merge.
 *
 * Cannot fail and allocates nothing; references taken since the prepare
 * can only be transient, and are waited for.  A 2M piece of a 1G page
 * optimized when it split is optimized again as it merges; a 2M page is
 * optimized by hugetlb_gmem_merge_finish().  A piece poisoned since the
 * prepare, or memory failure at work meanwhile, leaves the pieces split.
 */
void hugetlb_gmem_merge_commit(struct hugetlb_gmem *hg,
			       struct address_space *mapping,
			       struct hugetlb_gmem_merge *mg)
{
	lockdep_assert_held_write(&mapping->invalidate_lock);
	hugetlb_gmem_merge_units(hg, mapping, mg, false);
	/* Frees the node if the store did not need it. */
	xas_destroy(&mg->xas);
}
EXPORT_SYMBOL_GPL(hugetlb_gmem_merge_commit);

/**
 * hugetlb_gmem_merge_finish - redo HVO on merged folios
 * @hg:		the file's reservation.
 * @mapping:	the file's page cache.
 * @mg:		the committed merges.
 * @nr:		how many.
 *
 * Allocates, so it comes after KVM's no-fail window, with the mapping's
 * invalidate_lock held, shared will do: the caller keeps splits and
 * truncation away meanwhile.  Faults may map the folios meanwhile; their
 * references are transient.  Best effort: a folio stays as it is when
 * memory is short.
 */
void hugetlb_gmem_merge_finish(struct hugetlb_gmem *hg,
			       struct address_space *mapping,
			       struct hugetlb_gmem_merge *mg, int nr)
{
	struct folio **folios;
	int i, n = 0;

	lockdep_assert_held(&mapping->invalidate_lock);
	folios = kvmalloc_array(nr, sizeof(*folios), GFP_KERNEL);
	if (!folios)
		return;
	/*
	 * Those left split are not huge folios; nor does HVO take a poisoned
	 * one, as in hugetlb_gmem_remove_batch(); a 1G folio whose vmemmap
	 * is per piece is optimized.
	 */
	for (i = 0; i < nr; i++) {
		struct folio *folio = xa_load(&mapping->i_pages, mg[i].index);

		if (folio_test_hugetlb(folio) && !folio_test_hwpoison(folio) &&
		    !hugetlb_gmem_whole_pieces(hg, folio))
			folios[n++] = folio;
	}
	hugetlb_gmem_optimize(hg, folios, n, 0);
	kvfree(folios);
}
EXPORT_SYMBOL_GPL(hugetlb_gmem_merge_finish);

/*
 * A whole folio that is leaving the page cache, locked: memory failure
 * takes no more references to it (HPG_guest_memfd).  One that took one
 * already has handed the folio to guest_memfd and let go (it held the
 * lock meanwhile), or finds it removed and frees it itself.  hugetlb keeps
 * the flag in a freed folio: it must go.
 *
 * Return: whether the folio is poisoned.
 */
static bool hugetlb_gmem_disown(struct folio *folio)
{
	bool poisoned;

	VM_WARN_ON_ONCE_FOLIO(!folio_test_locked(folio), folio);
	spin_lock_irq(&hugetlb_lock);
	folio_clear_hugetlb_guest_memfd(folio);
	poisoned = folio_test_hwpoison(folio);
	spin_unlock_irq(&hugetlb_lock);
	return poisoned;
}

/*
 * Give a whole huge folio back to the file's reservation, with the caller's
 * reference, which should be the last.  A poisoned one leaves the pool
 * when it is freed (in the pool it would count as free and never be used),
 * and is never used again.
 * The file's reservation loses that page too: the pool has one page
 * fewer, and must not go on reserving it (HugePages_Rsvd would exceed
 * HugePages_Free, and another file's reserved page could fail to come).
 * The range gets a page nobody reserved at its next use, if there is one.
 * Memory failure is held off from the check to the free, lest a poison in
 * between only mark the folio, which would join the free lists poisoned,
 * counted free.  (A speculative lookup's reference that outlives ours
 * leaves that window open.)
 */
static void __hugetlb_gmem_remove(struct hugetlb_gmem *hg, struct folio *folio)
{
	struct inode *inode = folio->mapping->host;

	folio_lock(folio);
	if (hugetlb_gmem_disown(folio)) {
		/*
		 * Freed without a subpool, it restores no reservation.  Freed
		 * to the page allocator, it would go in one block, whose
		 * poisoned pages the allocator would hand out again: hugetlb
		 * keeps it instead, as when it lost track of them.  (A
		 * conversion that splits it first loses its 4K pages only.)
		 */
		hugetlb_set_folio_subpool(folio, NULL);
		hugepage_subpool_put_lost_page(hg->spool);
		spin_lock_irq(&hugetlb_lock);
		folio_set_hugetlb_temporary(folio);
		folio_retire_hugetlb_hwpoison(folio);
		spin_unlock_irq(&hugetlb_lock);
		count_vm_event(HUGETLB_GMEM_DISSOLVE);
		trace_hugetlb_gmem_dissolve(folio_pfn(folio), folio->index,
					    folio_order(folio));
	}
	folio_clear_dirty(folio);
	folio_clear_uptodate(folio);
	filemap_remove_folio(folio);
	hugetlb_gmem_sub_blocks(hg, inode);
	folio_unlock(folio);
	/* Back to the subpool and reservation. */
	folio_put(folio);
}

static void hugetlb_gmem_remove(struct hugetlb_gmem *hg, struct folio *folio)
{
	memory_failure_lock();
	__hugetlb_gmem_remove(hg, folio);
	memory_failure_unlock();
}

/**
 * hugetlb_gmem_get_folio - the folio of a 4K page, allocated on first use
 * @hg:		the file's reservation.
 * @mapping:	the file's page cache.
 * @index:	the 4K index.
 * @split:	%NULL, or when the huge page has to be allocated, split it at
 *		once (the range is not wholly private): for a 1G page, into
 *		2M pieces, and those of this bitmap (bit n for the n-th) on
 *		into 4K pieces.
 * @nowait:	the caller holds an mmap_lock (the host's fault), which
 *		memory failure may wait for while it holds its mutex: a
 *		split does not wait for that mutex.
 *
 * Allocation is serialised per huge range, so racing callers take one
 * folio between them and none sees a spurious failure.  The caller holds
 * the mapping's invalidate_lock, at least shared.
 *
 * Return: the folio (huge, or the 4K piece of a split one), locked and
 * with a reference, or an ERR_PTR: -EAGAIN with @nowait when memory
 * failure is at work (nothing is allocated then; the caller tries again).
 */
struct folio *hugetlb_gmem_get_folio(struct hugetlb_gmem *hg,
				     struct address_space *mapping,
				     pgoff_t index, const unsigned long *split,
				     bool nowait)
{
	pgoff_t huge_index = round_down(index, pages_per_huge_page(hg->h));
	struct inode *inode = mapping->host;
	struct hugetlb_gmem_split sp;
	unsigned long tries = 0;
	struct folio *folio;
	u32 hash;
	int err;

	lockdep_assert_held(&mapping->invalidate_lock);
	hash = hugetlb_fault_mutex_hash(mapping,
					huge_index >> huge_page_order(hg->h));
	mutex_lock(&hugetlb_fault_mutex_table[hash]);

	folio = filemap_lock_folio(mapping, index);
	if (!IS_ERR(folio))
		goto out;

	/*
	 * The split of a new page, and its removal if the split cannot be
	 * prepared, hold memory failure off: with @nowait, try for that
	 * before anything is allocated, and keep it until the split is done.
	 */
	if (split) {
		if (!nowait) {
			memory_failure_lock();
		} else if (!memory_failure_trylock()) {
			folio = ERR_PTR(-EAGAIN);
			goto out;
		}
	}

	folio = hugetlb_gmem_alloc_folio(hg);
	if (IS_ERR(folio))
		goto unlock_mf;

	__folio_set_locked(folio);
	err = __filemap_add_folio(mapping, folio, huge_index, GFP_KERNEL, NULL);
	if (err) {
		__folio_clear_locked(folio);
		/* Back to the subpool, the reservation and the cgroup. */
		folio_put(folio);
		folio = ERR_PTR(err);
		goto unlock_mf;
	}
	spin_lock(&inode->i_lock);
	inode->i_blocks += blocks_per_huge_page(hg->h);
	spin_unlock(&inode->i_lock);
	/* Memory failure may take it now, and waits for its lock. */
	folio_set_hugetlb_guest_memfd(folio);

	if (!split)
		goto out;
	/*
	 * Unlocked: memory-failure locks a folio it holds.  Allocation and
	 * conversion are excluded by the fault mutex and invalidate_lock, so
	 * only lookups, which let go soon, can hold it meanwhile: KVM's let go
	 * of a huge folio in a range that is not wholly private and come here,
	 * to wait on the fault mutex for the pieces.
	 */
	folio_unlock(folio);
	while ((err = __hugetlb_gmem_split_prepare(hg, folio, 1, split,
						   &sp)) == -EAGAIN)
		gmem_wait_transient_refs(&tries);
	if (err) {
		__hugetlb_gmem_remove(hg, folio);
		folio = ERR_PTR(err);
		goto unlock_mf;
	}
	/* hugetlb_gmem_split_commit(), with memory failure held off already. */
	hugetlb_gmem_split_restore(hg, &sp);
	hugetlb_gmem_split_and_unlock(hg, &sp);
	/* Our reference is on what holds the first page now. */
	folio_put(folio);
	folio = filemap_lock_folio(mapping, index);
	goto out;
unlock_mf:
	if (split)
		memory_failure_unlock();
out:
	mutex_unlock(&hugetlb_fault_mutex_table[hash]);
	return folio;
}
EXPORT_SYMBOL_GPL(hugetlb_gmem_get_folio);

/*
 * Zero [first, last) of the huge page whose first page is @head, which the
 * range covers only partly: a huge page cannot be given back in part.
 */
static void hugetlb_gmem_zero_part(struct page *head, pgoff_t index,
				   pgoff_t first, pgoff_t last)
{
	for (; first < last; first++) {
		struct page *page = nth_page(head, first - index);

		if (!gmem_page_hwpoison(page))
			clear_highpage(page);
		cond_resched();
	}
}

/*
 * Take a split huge page out of the pool, for a file that goes away while
 * someone still holds one of its pieces (a pin): its pieces go to the page
 * allocator one by one, when their last holders let them go.  They are
 * page cache folios then, 2M pieces counted as file THPs.
 */
static void hugetlb_gmem_dissolve(struct hugetlb_gmem *hg,
				  struct address_space *mapping, pgoff_t index)
{
	unsigned int porder = hugetlb_gmem_piece_order(hg);
	long i, nr = pages_per_huge_page(hg->h);
	struct page *head = xa_load(&mapping->i_pages, index);
	unsigned long pfn = page_to_pfn(head);
	struct hugetlb_cgroup_detached *charge;
	struct hugetlb_gmem_pieces *pieces;

	charge = xa_erase(&hg->split_charges, hugetlb_gmem_nr(hg, index));
	if (charge)
		hugetlb_cgroup_uncharge_detached(charge);
	kfree(charge);
	/*
	 * Out of the pool: memory failure leaves the pieces alone now.  It
	 * must not find a 2M piece one, and then not one, midway: held off
	 * until they are page cache folios of their own.
	 */
	memory_failure_lock();
	pieces = xa_erase(hugetlb_gmem_split_xa(hg),
			  hugetlb_gmem_split_key(hg, head));
	/* As for a poisoned page: see hugetlb_gmem_remove(). */
	hugepage_subpool_put_lost_page(hg->spool);
	hugetlb_remove_lost_page(hg->h, page_to_nid(head));
	/* Page cache pages now, which their removal below uncounts. */
	mod_node_page_state(page_pgdat(head), NR_FILE_PAGES, nr);
	for (i = 0; i < nr; i += 1L << porder) {
		struct folio *piece = page_folio(nth_page(head, i));

		if (folio_test_pmd_mappable(piece))
			lruvec_stat_mod_folio(piece, NR_FILE_THPS,
					      folio_nr_pages(piece));
		/*
		 * The page allocator, and memory failure on a page cache
		 * folio, write every struct page of it: restore a piece's
		 * vmemmap first.
		 */
		if (test_bit(i >> porder, pieces->optimized))
			hugetlb_gmem_restore_piece_nofail(pieces, i >> porder,
							  &piece->page);
		/*
		 * The page allocator takes back a poisoned page only as an
		 * order-0 page: keep a 2M piece that holds one, as memory
		 * failure keeps a poisoned 4K piece.
		 */
		if (folio_test_large(piece) &&
		    folio_test_has_hwpoisoned(piece))
			folio_get(piece);
	}
	kfree(pieces);

	truncate_inode_pages_range(mapping, (loff_t)index << PAGE_SHIFT,
				   ((loff_t)(index + nr) << PAGE_SHIFT) - 1);
	memory_failure_unlock();
	hugetlb_gmem_sub_blocks(hg, mapping->host);
	count_vm_event(HUGETLB_GMEM_DISSOLVE);
	trace_hugetlb_gmem_dissolve(pfn, index, huge_page_order(hg->h));
}

/*
 * Merge a split huge page that a truncation covers whole, which has no
 * caller to report EAGAIN to: references that go away soon (per-CPU LRU
 * and mlock batches, a lookup, a vCPU that just faulted a page in) are
 * waited for, for about 10 ms when the file goes away, before a piece
 * counts as held.
 *
 * Return: the huge folio, or %NULL when its pieces stay split (held, or
 * poisoned).
 */
static struct folio *hugetlb_gmem_merge_whole(struct hugetlb_gmem *hg,
					      struct address_space *mapping,
					      pgoff_t index, bool evict)
{
	pgoff_t last = index + pages_per_huge_page(hg->h) - 1, unused;
	struct hugetlb_gmem_merge mg = { .index = index };
	int err, tries = evict ? 10 : 1;
	struct folio *folio;

	while ((err = hugetlb_gmem_check_units(hg, mapping, &mg, index, last,
					       true, &unused)) == -EAGAIN &&
	       tries--) {
		lru_add_drain_all();
		if (tries)
			usleep_range(1000, 2000);
	}
	if (err || !mg.whole)
		return NULL;
	/*
	 * One small node, at most, lest a huge page leave the pool when the
	 * file is closed by a task that may not allocate any more.
	 */
	hugetlb_gmem_merge_xas(hg, mapping, index, &mg.xas,
			       GFP_KERNEL | __GFP_NOFAIL);
	folio = hugetlb_gmem_merge_units(hg, mapping, &mg, true);
	xas_destroy(&mg.xas);
	return folio;
}

#define HUGETLB_GMEM_REMOVE_BATCH	16

/*
 * A whole 1G folio whose vmemmap is per 2M piece (since it merged) is
 * optimized at 1G before it leaves the file, for the pool, which knows no
 * other layout: with the pages its pieces have (the second piece's first
 * vmemmap page becomes its page of tails), so that nothing is allocated,
 * nothing can fail, and its other 510 vmemmap pages are freed.  A
 * poisoned one too: the pool restores it to dissolve it.  The folio may be
 * in use: see hugetlb_vmemmap_merge_commit().
 */
static void hugetlb_gmem_join_vmemmap(struct hugetlb_gmem *hg,
				      struct folio *folio)
{
	unsigned int porder = hugetlb_gmem_piece_order(hg);
	struct hugetlb_gmem_pieces *pieces;
	LIST_HEAD(freed);

	/* Memory failure reads the record. */
	memory_failure_lock();
	pieces = hugetlb_gmem_whole_pieces(hg, folio);
	if (pieces) {
		unsigned long nr = folio_nr_pages(folio) >> porder, n;

		/* Not counted: optimized it was, and stays. */
		if (!hugetlb_vmemmap_merge_commit(hg->h, folio, porder,
						  bitmap_weight(pieces->optimized, nr),
						  &freed)) {
			/*
			 * Warned about, never seen: rather than a layout the
			 * pool does not know, give it a folio not optimized.
			 */
			for_each_set_bit(n, pieces->optimized, nr)
				hugetlb_gmem_restore_piece_nofail(pieces, n,
								  folio_page(folio, n << porder));
		}
		xa_erase(hugetlb_gmem_split_xa(hg),
			 hugetlb_gmem_split_key(hg, &folio->page));
	}
	memory_failure_unlock();
	/* Flushed. */
	hugetlb_vmemmap_restore_finish(&freed);
	kfree(pieces);
}

/*
 * Give whole huge folios, each with a reference of ours, back to the file's
 * reservation: optimized first (merged 2M ones are not; 1G ones are per
 * piece).  Not a poisoned one: it leaves the pool, which restores its
 * vmemmap again, and should that fail, it would stay.
 */
static void hugetlb_gmem_remove_batch(struct hugetlb_gmem *hg,
				      struct folio **folios, int nr)
{
	struct folio *healthy[HUGETLB_GMEM_REMOVE_BATCH];
	int i, n = 0;

	for (i = 0; i < nr; i++) {
		hugetlb_gmem_join_vmemmap(hg, folios[i]);
		if (!folio_test_hwpoison(folios[i]))
			healthy[n++] = folios[i];
	}
	hugetlb_gmem_optimize(hg, healthy, n, 1);
	for (i = 0; i < nr; i++)
		hugetlb_gmem_remove(hg, folios[i]);
}

static void __hugetlb_gmem_truncate(struct hugetlb_gmem *hg,
				    struct address_space *mapping,
				    pgoff_t start, pgoff_t end, bool evict)
{
	struct folio *batch[HUGETLB_GMEM_REMOVE_BATCH];
	unsigned long nr = pages_per_huge_page(hg->h);
	pgoff_t index;
	int n = 0;

	/* Shared pieces may be mapped by the host. */
	unmap_mapping_pages(mapping, start, end - start, false);

	for (index = round_down(start, nr); index < end; index += nr) {
		pgoff_t first = max(index, start);
		pgoff_t last = min(index + nr, end);
		bool whole = first == index && last == index + nr;
		struct folio *folio;

		folio = xa_load(&mapping->i_pages, index);
		if (!folio)
			continue;

		if (!folio_test_hugetlb(folio) && whole) {
			struct folio *merged;

			merged = hugetlb_gmem_merge_whole(hg, mapping, index,
							  evict);
			if (merged) {
				folio = merged;
			} else if (evict) {
				hugetlb_gmem_dissolve(hg, mapping, index);
				continue;
			}
		}

		if (!whole || !folio_test_hugetlb(folio)) {
			/* Held pieces too: zeroed, given back with the file. */
			hugetlb_gmem_zero_part(&folio->page, index, first, last);
			continue;
		}

		folio_get(folio);
		batch[n++] = folio;
		if (n == ARRAY_SIZE(batch)) {
			hugetlb_gmem_remove_batch(hg, batch, n);
			n = 0;
			cond_resched();
		}
	}
	hugetlb_gmem_remove_batch(hg, batch, n);
}

/**
 * hugetlb_gmem_truncate - punch [start, end) out of a file's page cache
 * @hg:		the file's reservation.
 * @mapping:	the file's page cache.
 * @start:	first 4K index.
 * @end:	4K index past the range.
 *
 * Whole huge pages go back to the file's reservation (and are counted in
 * HugePages_Rsvd again), split ones merged first; of a huge page the range
 * covers in part, or whose pieces someone else still holds, that part is
 * zeroed.  The caller holds the mapping's invalidate_lock for write and has
 * unmapped the range from KVM.
 */
void hugetlb_gmem_truncate(struct hugetlb_gmem *hg,
			   struct address_space *mapping,
			   pgoff_t start, pgoff_t end)
{
	lockdep_assert_held_write(&mapping->invalidate_lock);
	__hugetlb_gmem_truncate(hg, mapping, start, end, false);
}
EXPORT_SYMBOL_GPL(hugetlb_gmem_truncate);

/**
 * hugetlb_gmem_evict - empty a file's page cache when the file goes away
 * @hg:		the file's reservation.
 * @mapping:	the file's page cache.
 *
 * As hugetlb_gmem_truncate() for the whole file, except for a split huge
 * page whose pieces someone still holds: that page leaves the pool
 * (HugePages_Total drops by one) and its pieces go to the page allocator
 * when they are let go.  Call hugetlb_gmem_unreserve() next.
 */
void hugetlb_gmem_evict(struct hugetlb_gmem *hg, struct address_space *mapping)
{
	lockdep_assert_held_write(&mapping->invalidate_lock);
	__hugetlb_gmem_truncate(hg, mapping, 0,
				hg->nr_huge_pages * pages_per_huge_page(hg->h),
				true);
}
EXPORT_SYMBOL_GPL(hugetlb_gmem_evict);
