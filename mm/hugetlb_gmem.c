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
 * Shared pages must be 4K folios, because the host maps them with PTEs;
 * private huge ranges want one folio, because KVM maps them huge.  So a huge
 * folio stands only for a range that is wholly private.  Converting part of
 * it to shared splits it into 4K folios, its "pieces"; converting all of it
 * back merges them.  Both come as a prepare step that does all that can
 * fail, a commit step that cannot fail and allocates nothing, and an abort
 * step, so that KVM can prepare before its point of no return
 * (kvm_gmem_invalidate_begin()) and commit after it.
 *
 * A split huge page stays in the pool and in use: it keeps its place in
 * HugePages_Total and in the file's subpool, and each piece is a page cache
 * page with one reference from the page cache.  Like hugetlb folios, the
 * pieces are pool memory, not counted in NR_FILE_PAGES (meminfo's Cached)
 * until they leave the pool.  Pieces are never freed one by one while the
 * page is in the pool: a piece whose refcount reached zero would go to the
 * page allocator.
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
 * The split huge pages of all files, per hstate, by their first pfn's
 * number in huge pages: memory failure looks a 4K page up here to know it
 * for a piece (hugetlb_gmem_page_is_piece()), a page cache page that is
 * off the LRU, which it could not tell from pages it must not take.
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
	unsigned long pfn = page_to_pfn(page);
	struct hstate *h;

	memory_failure_assert_held();
	for_each_hstate(h) {
		if (xa_load(&hugetlb_gmem_split_pages[hstate_index(h)],
			    pfn >> huge_page_order(h)))
			return true;
	}
	return false;
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
 * The page cache splits a multi-index entry one level of its xarray at a
 * time: the entry's order down to the next multiple of XA_CHUNK_SHIFT, then
 * each of those entries down a level more, until order 0 (2M: 9 -> 6 -> 0;
 * 1G: 18 -> 12 -> 6 -> 0).  Each split of an entry of order @order into
 * entries of order hugetlb_gmem_split_order(@order) takes a new node, but
 * for 2M's first (9 -> 6, in place): 8 nodes for 2M, 1 + 64 + 4096 for
 * 1G, all allocated up front on one list.  Those of the last level hold
 * the folio's pieces already, so the commit stores no entry of its own.
 */
static unsigned int hugetlb_gmem_split_order(unsigned int order)
{
	return rounddown(order - 1, XA_CHUNK_SHIFT);
}

static int hugetlb_gmem_split_alloc(struct xa_state *xas, struct folio *folio)
{
	unsigned int order = folio_order(folio), from, to, nr = 0;
	unsigned int froms[BITS_PER_LONG / XA_CHUNK_SHIFT + 1];
	void *pieces[XA_CHUNK_SIZE];
	unsigned long i, j;

	for (from = order; from; from = hugetlb_gmem_split_order(from)) {
		if (WARN_ON_ONCE(nr == ARRAY_SIZE(froms)))
			return -EINVAL;
		froms[nr++] = from;
	}
	/* Orders of x86 HugeTLB pages: the last level splits XA_CHUNK_SHIFT. */
	if (WARN_ON_ONCE(froms[nr - 1] != XA_CHUNK_SHIFT))
		return -EINVAL;
	/*
	 * hugetlb_gmem_split_entries() splits from the top level down, first
	 * index first, and takes the nodes from the last one allocated:
	 * allocate them the other way round.
	 */
	while (nr--) {
		from = froms[nr];
		to = hugetlb_gmem_split_order(from);
		for (i = 1UL << (order - from); i--; ) {
			xas_set_order(xas, folio->index + (i << from), to);
			if (to) {
				xas_split_alloc(xas, folio, from, GFP_KERNEL);
			} else {
				for (j = 0; j < XA_CHUNK_SIZE; j++)
					pieces[j] = folio_page(folio,
							       (i << from) + j);
				xas_split_alloc_entries(xas, pieces, from,
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
 * With the nodes hugetlb_gmem_split_alloc() put on @nodes' list, for the
 * @order entry of @folio (which its struct pages may no longer say).
 */
static void hugetlb_gmem_split_entries(struct xa_state *nodes,
				       struct folio *folio, unsigned int order)
{
	struct address_space *mapping = folio->mapping;
	unsigned int from, to;
	unsigned long i;

	for (from = order; from; from = to) {
		to = hugetlb_gmem_split_order(from);
		for (i = 0; i < 1UL << (order - from); i++) {
			pgoff_t index = folio->index + (i << from);
			XA_STATE_ORDER(xas, &mapping->i_pages, index, to);

			xas.xa_alloc = nodes->xa_alloc;
			xas_split(&xas, folio, from);
			nodes->xa_alloc = xas.xa_alloc;
		}
	}
}

/*
 * A huge folio splits with the mapping's invalidate_lock held for write,
 * or shared and the huge range's fault mutex held: a new folio, in
 * hugetlb_gmem_get_folio().  Its split is prepared under either too.
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

/**
 * hugetlb_gmem_split_prepare - allocate what splitting a huge folio takes
 * @hg:		the file's reservation.
 * @folio:	a huge folio of the file, in its page cache.
 * @refs:	the references to @folio the caller holds.
 * @sp:		gets what the commit needs.
 *
 * The page cache xarray nodes for 4K entries (8 for 2M, 4161 for 1G), and
 * the vmemmap pages that undoing HVO maps (7 for 2M, 4095 for 1G).  The
 * caller holds the mapping's invalidate_lock for write, or shared and the
 * huge range's fault mutex (a new folio: hugetlb_gmem_get_folio(); or
 * hugetlb_gmem_split_prepare_shared()).
 *
 * A folio that memory failure poisoned splits like any other: its
 * poisoned pages stay poisoned 4K pages, and the rest can be used again.
 *
 * Return: %0; -EAGAIN when someone else holds @folio (memory failure does,
 * for a moment); -ENOMEM.  Nothing is kept on error.
 */
int hugetlb_gmem_split_prepare(struct hugetlb_gmem *hg, struct folio *folio,
			       int refs, struct hugetlb_gmem_split *sp)
{
	struct address_space *mapping = folio->mapping;
	int err;

	hugetlb_gmem_assert_split_locked(hg, folio);
	VM_WARN_ON_ONCE_FOLIO(!folio_test_hugetlb(folio) ||
			      folio_order(folio) != huge_page_order(hg->h) ||
			      !folio_test_hugetlb_guest_memfd(folio), folio);
	if (folio_ref_count(folio) != folio_nr_pages(folio) + refs)
		return -EAGAIN;

	sp->hg = hg;
	sp->folio = folio;
	sp->refs = refs;
	sp->restored = false;
	INIT_LIST_HEAD(&sp->vmemmap_pages);
	sp->charge = kmalloc(sizeof(*sp->charge), GFP_KERNEL);
	if (!sp->charge)
		return -ENOMEM;
	/* Its slot, so that storing the charge allocates nothing. */
	err = xa_reserve(&hg->split_charges, hugetlb_gmem_nr(hg, folio->index),
			 GFP_KERNEL);
	if (err) {
		kfree(sp->charge);
		return err;
	}
	err = xa_reserve(hugetlb_gmem_split_xa(hg),
			 hugetlb_gmem_split_key(hg, &folio->page), GFP_KERNEL);
	if (err) {
		xa_release(&hg->split_charges, hugetlb_gmem_nr(hg, folio->index));
		kfree(sp->charge);
		return err;
	}
	sp->xas = (struct xa_state)__XA_STATE(&mapping->i_pages, folio->index, 0, 0);
	err = hugetlb_gmem_split_alloc(&sp->xas, folio);
	if (err) {
		hugetlb_gmem_split_abort(sp);
		return err;
	}

	trace_hugetlb_gmem_vmemmap_restore_prepare_begin(folio);
	err = hugetlb_vmemmap_restore_prepare(hg->h, folio, &sp->vmemmap_pages);
	trace_hugetlb_gmem_vmemmap_restore_prepare_end(folio);
	if (err)
		hugetlb_gmem_split_abort(sp);
	return err;
}
EXPORT_SYMBOL_GPL(hugetlb_gmem_split_prepare);

static void hugetlb_gmem_optimize(struct hugetlb_gmem *hg,
				  struct folio **folios, int nr, int refs);

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
	if (!folio_test_hugetlb_vmemmap_optimized(sp->folio))
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
 * @index:	the first 4K index of a huge page of the file.
 * @sp:		gets what the commit needs.
 *
 * hugetlb_gmem_split_prepare() of the huge folio at @index, for a caller
 * that holds the mapping's invalidate_lock shared, so that faults elsewhere
 * in the file go on meanwhile: the huge range's fault mutex, taken here,
 * holds off those that would add or split a folio there.  HVO is undone
 * now too, which is what takes longest after the allocations; should the
 * split be aborted, hugetlb_gmem_split_abort() redoes it.
 *
 * Return: the folio, with a reference that @sp holds; NULL when the huge
 * page has no huge folio (absent, or split); or an ERR_PTR as
 * hugetlb_gmem_split_prepare() returns.  Nothing is kept on error.
 */
struct folio *hugetlb_gmem_split_prepare_shared(struct hugetlb_gmem *hg,
						struct address_space *mapping,
						pgoff_t index,
						struct hugetlb_gmem_split *sp)
{
	u32 hash = hugetlb_fault_mutex_hash(mapping,
					    index >> huge_page_order(hg->h));
	struct folio *folio;
	int err;

	lockdep_assert_held_read(&mapping->invalidate_lock);
	VM_WARN_ON_ONCE(!IS_ALIGNED(index, pages_per_huge_page(hg->h)));
	mutex_lock(&hugetlb_fault_mutex_table[hash]);
	folio = filemap_get_folio(mapping, index);
	if (IS_ERR(folio)) {
		folio = NULL;
	} else if (!folio_test_large(folio)) {
		folio_put(folio);
		folio = NULL;
	} else {
		err = hugetlb_gmem_split_prepare(hg, folio, 1, sp);
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
	hugetlb_gmem_assert_split_locked(sp->hg, sp->folio);
	/* Best effort, as after a merge. */
	if (sp->restored)
		hugetlb_gmem_optimize(sp->hg, &sp->folio, 1, sp->refs);
	hugetlb_vmemmap_restore_finish(&sp->vmemmap_pages);
	xas_destroy(&sp->xas);
	xa_release(&sp->hg->split_charges,
		   hugetlb_gmem_nr(sp->hg, sp->folio->index));
	xa_release(hugetlb_gmem_split_xa(sp->hg),
		   hugetlb_gmem_split_key(sp->hg, &sp->folio->page));
	kfree(sp->charge);
}
EXPORT_SYMBOL_GPL(hugetlb_gmem_split_abort);

/* Split one folio whose vmemmap is restored; frozen, so nothing sleeps. */
static void hugetlb_gmem_split_one(struct hugetlb_gmem *hg,
				   struct hugetlb_gmem_split *sp)
{
	struct folio *folio = sp->folio;
	struct address_space *mapping = folio->mapping;
	long nr = folio_nr_pages(folio);
	pgoff_t index = folio->index;
	bool poisoned;
	XA_STATE(xas, &mapping->i_pages, index);
	struct hstate *h = hg->h;
	unsigned long tries = 0;

	/*
	 * Not frozen yet: transient references may take their time.  Memory
	 * failure's is one: it lets go once guest_memfd's handler has run,
	 * which does not wait for the invalidate_lock that the caller holds.
	 */
	while (!folio_ref_freeze(folio, nr + sp->refs))
		gmem_wait_transient_refs(&tries);

	/*
	 * Lookups spin on the frozen head until its index holds a piece, so
	 * nothing sleeps from here to the unfreeze (for 1G, 262144 pieces).
	 * The struct pages need no lock: only the xarray's splits take its
	 * lock, with interrupts off, and link the prepared nodes, which hold
	 * the pieces: a node for 64 of them at a time.
	 */
	poisoned = hugetlb_folio_split_to_pages(h, folio, sp->charge);

	xas_lock_irq(&xas);
	hugetlb_gmem_split_entries(&sp->xas, folio, huge_page_order(h));
	xas_unlock_irq(&xas);
	/* All pieces in place, in order, with all the prepared nodes. */
	VM_WARN_ON_ONCE_FOLIO(folio_test_large(folio) || folio_ref_count(folio) ||
			      xa_load(&mapping->i_pages, index + nr - 1) !=
			      folio_page(folio, nr - 1) || sp->xas.xa_alloc,
			      folio);

	/* Into the slots that the prepare reserved: allocates nothing. */
	WARN_ON_ONCE(xa_is_err(xa_store(&hg->split_charges,
					hugetlb_gmem_nr(hg, index), sp->charge,
					GFP_NOWAIT)));
	WARN_ON_ONCE(xa_is_err(xa_store(hugetlb_gmem_split_xa(hg),
					hugetlb_gmem_split_key(hg, &folio->page),
					hg, GFP_NOWAIT)));
	count_vm_event(HUGETLB_GMEM_SPLIT);
	if (poisoned)
		count_vm_event(HUGETLB_GMEM_SPLIT_POISONED);
	trace_hugetlb_gmem_split(folio_pfn(folio), index, huge_page_order(h));
	/* The page cache's, and the caller's. */
	folio_ref_unfreeze(folio, 1 + sp->refs);
}

/**
 * hugetlb_gmem_split_commit - split huge folios into 4K folios
 * @hg:	the file's reservation.
 * @sp:	the prepared splits; consumed.
 * @nr:	how many.
 *
 * Cannot fail and allocates nothing.  The caller still holds the mapping's
 * invalidate_lock for write and its references, which end up on each first
 * 4K folio, and has unmapped the folios from KVM.  References taken since
 * the prepare can only be transient (speculative lookups), and are waited
 * for.  Waits for no RCU grace period (see hugetlb_vmemmap_sync()).
 */
void hugetlb_gmem_split_commit(struct hugetlb_gmem *hg,
			       struct hugetlb_gmem_split *sp, int nr)
{
	int i, restores = 0;

	for (i = 0; i < nr; i++) {
		hugetlb_gmem_assert_split_locked(hg, sp[i].folio);
		VM_WARN_ON_ONCE_FOLIO(!folio_test_hugetlb(sp[i].folio) ||
				      folio_mapped(sp[i].folio), sp[i].folio);
	}
	for (i = 0; i < nr; i++)
		restores += folio_test_hugetlb_vmemmap_optimized(sp[i].folio);
	if (restores)
		trace_hugetlb_gmem_vmemmap_restore_begin(restores);
	for (i = 0; i < nr; i++) {
		hugetlb_vmemmap_restore_commit(hg->h, sp[i].folio,
					       &sp[i].vmemmap_pages);
		/* A page the commit unmapped, and flushed. */
		hugetlb_vmemmap_restore_finish(&sp[i].vmemmap_pages);
	}
	if (restores) {
		count_vm_events(HUGETLB_GMEM_VMEMMAP_RESTORE, restores);
		trace_hugetlb_gmem_vmemmap_restore_end(restores);
	}
	for (i = 0; i < nr; i++)
		hugetlb_gmem_split_one(hg, &sp[i]);
}
EXPORT_SYMBOL_GPL(hugetlb_gmem_split_commit);

/*
 * Whether the pieces of the huge page at @index can be merged: all there,
 * all held by the page cache only, none poisoned.
 *
 * Return: %0; -ENOENT if the huge page is not split (or not there);
 * -EAGAIN, with *@err_index the first piece held by someone else;
 * -EHWPOISON.
 */
static int hugetlb_gmem_check_pieces(struct hugetlb_gmem *hg,
				     struct address_space *mapping,
				     pgoff_t index, pgoff_t *err_index)
{
	long i, nr = pages_per_huge_page(hg->h);
	XA_STATE(xas, &mapping->i_pages, index);
	struct page *head = NULL;
	int err = 0;

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
 * Merge the pieces back into a hugetlb folio, with @xas, at their first
 * index with the huge page's order, from hugetlb_gmem_merge_xas().  The
 * folio takes back the hugetlb cgroup charge the split kept.  Cannot fail
 * and allocates nothing.  A piece that memory failure poisoned since the
 * pieces were checked leaves them as they are (a hugetlb folio records its
 * poisoned pages on a list, which would take an allocation), as does
 * memory failure at work unless @may_wait: returns NULL then.
 */
static struct folio *__hugetlb_gmem_merge(struct hugetlb_gmem *hg,
					  struct xa_state *xas, bool may_wait)
{
	unsigned long huge_nr = hugetlb_gmem_nr(hg, xas->xa_index);
	struct hugetlb_cgroup_detached *charge;
	unsigned int order = huge_page_order(hg->h);
	long nr = pages_per_huge_page(hg->h);
	struct hstate *h = hg->h;
	struct folio *folio = NULL;
	struct page *head;

	/*
	 * Memory failure looks at a page, and marks it, without holding it:
	 * it must not find the pieces half made into a hugetlb folio, where it
	 * could take a tail for a 4K page, or a mark be lost.  Past the point
	 * of no return the merge does not wait for it: the pieces stay split.
	 */
	if (may_wait)
		memory_failure_lock();
	else if (!memory_failure_trylock())
		return NULL;

	/* Only invalidate_lock holders add or remove pieces: no reference. */
	head = xa_load(xas->xa, xas->xa_index);
	if (!gmem_freeze_pages(head, nr)) {
		count_vm_event(HUGETLB_GMEM_MERGE_POISONED);
		trace_hugetlb_gmem_merge_poisoned(page_to_pfn(head),
						  xas->xa_index, order);
		goto out;
	}
	/* Lookups that find the frozen pages retry until they are a folio. */
	if (!gmem_merge_store(xas, head)) {
		gmem_unfreeze_pages(head, nr);
		goto out;
	}
	charge = xa_erase(&hg->split_charges, huge_nr);
	xa_erase(hugetlb_gmem_split_xa(hg), hugetlb_gmem_split_key(hg, head));

	folio = hugetlb_folio_merge_pages(h, head, hg->spool, charge);
	/* Outside hugetlb_lock: memory failure, its reader, is held off. */
	folio_set_hugetlb_guest_memfd(folio);
	VM_WARN_ON_ONCE_FOLIO(folio_order(folio) != order ||
			      folio_ref_count(folio), folio);
	kfree(charge);

	count_vm_event(HUGETLB_GMEM_MERGE);
	trace_hugetlb_gmem_merge(folio_pfn(folio), xas->xa_index, order);
	/* The page cache's references. */
	folio_ref_unfreeze(folio, nr);
out:
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
 * hugetlb_gmem_merge_prepare - check that a split huge page can be merged
 * @hg:		the file's reservation.
 * @mapping:	the file's page cache.
 * @index:	the first 4K index of the huge page.
 * @mg:		gets what the commit needs.
 * @err_index:	on -EAGAIN, the first 4K page held by someone else.
 *
 * What can stop a merge is a reference (only the page cache may hold the
 * pieces) or a poisoned piece; what it may need is one xarray node, taken
 * now.  The caller holds the mapping's invalidate_lock for write and has
 * unmapped the range from the host.
 *
 * Return: %0; -ENOENT if the huge page is not split; -EAGAIN; -EHWPOISON;
 * -ENOMEM.
 */
int hugetlb_gmem_merge_prepare(struct hugetlb_gmem *hg,
			       struct address_space *mapping, pgoff_t index,
			       struct hugetlb_gmem_merge *mg, pgoff_t *err_index)
{
	int err;

	lockdep_assert_held_write(&mapping->invalidate_lock);
	VM_WARN_ON_ONCE(!IS_ALIGNED(index, pages_per_huge_page(hg->h)));
	err = hugetlb_gmem_check_pieces(hg, mapping, index, err_index);
	if (err)
		return err;
	mg->index = index;
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
	struct address_space *mapping = container_of(mg->xas.xa,
						     struct address_space, i_pages);

	lockdep_assert_held_write(&mapping->invalidate_lock);
	xas_destroy(&mg->xas);
}
EXPORT_SYMBOL_GPL(hugetlb_gmem_merge_abort);

/**
 * hugetlb_gmem_merge_commit - merge a split huge page back into one folio
 * @hg:		the file's reservation.
 * @mapping:	the file's page cache.
 * @mg:		the prepared merge.
 *
 * Cannot fail and allocates nothing; references taken since the prepare
 * can only be transient, and are waited for.  HVO is redone later, by
 * hugetlb_gmem_merge_finish().  A piece poisoned since the prepare, or
 * memory failure at work meanwhile, leaves the huge page split.
 */
void hugetlb_gmem_merge_commit(struct hugetlb_gmem *hg,
			       struct address_space *mapping,
			       struct hugetlb_gmem_merge *mg)
{
	lockdep_assert_held_write(&mapping->invalidate_lock);
	__hugetlb_gmem_merge(hg, &mg->xas, false);
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
	 * one, as in hugetlb_gmem_remove_batch().
	 */
	for (i = 0; i < nr; i++) {
		struct folio *folio = xa_load(&mapping->i_pages, mg[i].index);

		if (folio_test_hugetlb(folio) && !folio_test_hwpoison(folio))
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
static void hugetlb_gmem_remove(struct hugetlb_gmem *hg, struct folio *folio)
{
	struct inode *inode = folio->mapping->host;

	memory_failure_lock();
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
	memory_failure_unlock();
}

/**
 * hugetlb_gmem_get_folio - the folio of a 4K page, allocated on first use
 * @hg:		the file's reservation.
 * @mapping:	the file's page cache.
 * @index:	the 4K index.
 * @split:	when the huge page has to be allocated, split it at once (the
 *		range is not wholly private).
 *
 * Allocation is serialised per huge range, so racing callers take one
 * folio between them and none sees a spurious failure.  The caller holds
 * the mapping's invalidate_lock, at least shared.
 *
 * Return: the folio (huge, or the 4K piece of a split one), locked and
 * with a reference, or an ERR_PTR.
 */
struct folio *hugetlb_gmem_get_folio(struct hugetlb_gmem *hg,
				     struct address_space *mapping,
				     pgoff_t index, bool split)
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

	folio = hugetlb_gmem_alloc_folio(hg);
	if (IS_ERR(folio))
		goto out;

	__folio_set_locked(folio);
	err = __filemap_add_folio(mapping, folio, huge_index, GFP_KERNEL, NULL);
	if (err) {
		__folio_clear_locked(folio);
		/* Back to the subpool, the reservation and the cgroup. */
		folio_put(folio);
		folio = ERR_PTR(err);
		goto out;
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
	while ((err = hugetlb_gmem_split_prepare(hg, folio, 1, &sp)) == -EAGAIN)
		gmem_wait_transient_refs(&tries);
	if (err) {
		hugetlb_gmem_remove(hg, folio);
		folio = ERR_PTR(err);
		goto out;
	}
	hugetlb_gmem_split_commit(hg, &sp, 1);
	/* Our reference is on the first piece now. */
	folio_put(folio);
	folio = filemap_lock_folio(mapping, index);
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
 * allocator one by one, when their last holders let them go.
 */
static void hugetlb_gmem_dissolve(struct hugetlb_gmem *hg,
				  struct address_space *mapping, pgoff_t index)
{
	long nr = pages_per_huge_page(hg->h);
	struct page *head = xa_load(&mapping->i_pages, index);
	unsigned long pfn = page_to_pfn(head);
	struct hugetlb_cgroup_detached *charge;

	charge = xa_erase(&hg->split_charges, hugetlb_gmem_nr(hg, index));
	if (charge)
		hugetlb_cgroup_uncharge_detached(charge);
	kfree(charge);
	/* Out of the pool: memory failure leaves the pieces alone now. */
	xa_erase(hugetlb_gmem_split_xa(hg), hugetlb_gmem_split_key(hg, head));
	/* As for a poisoned page: see hugetlb_gmem_remove(). */
	hugepage_subpool_put_lost_page(hg->spool);
	hugetlb_remove_lost_page(hg->h, page_to_nid(head));
	/* Page cache pages now, which their removal below uncounts. */
	mod_node_page_state(page_pgdat(head), NR_FILE_PAGES, nr);

	truncate_inode_pages_range(mapping, (loff_t)index << PAGE_SHIFT,
				   ((loff_t)(index + nr) << PAGE_SHIFT) - 1);
	hugetlb_gmem_sub_blocks(hg, mapping->host);
	count_vm_event(HUGETLB_GMEM_DISSOLVE);
	trace_hugetlb_gmem_dissolve(pfn, index, huge_page_order(hg->h));
}

/*
 * hugetlb_gmem_check_pieces() for a truncation, which has no caller to
 * report EAGAIN to: references that go away soon (per-CPU LRU and mlock
 * batches, a lookup, a vCPU that just faulted a page in) are waited for,
 * for about 10 ms when the file goes away, before a piece counts as held.
 */
static int hugetlb_gmem_check_held_pieces(struct hugetlb_gmem *hg,
					  struct address_space *mapping,
					  pgoff_t index, bool evict)
{
	int err, tries = evict ? 10 : 1;
	pgoff_t unused;

	while ((err = hugetlb_gmem_check_pieces(hg, mapping, index,
						&unused)) == -EAGAIN && tries--) {
		lru_add_drain_all();
		if (tries)
			usleep_range(1000, 2000);
	}
	return err;
}

#define HUGETLB_GMEM_REMOVE_BATCH	16

/*
 * Give whole huge folios, each with a reference of ours, back to the file's
 * reservation: optimized first (merged ones are not).  Not a poisoned one:
 * it leaves the pool, which restores its vmemmap again, and should that
 * fail, it would stay.
 */
static void hugetlb_gmem_remove_batch(struct hugetlb_gmem *hg,
				      struct folio **folios, int nr)
{
	struct folio *healthy[HUGETLB_GMEM_REMOVE_BATCH];
	int i, n = 0;

	for (i = 0; i < nr; i++)
		if (!folio_test_hwpoison(folios[i]))
			healthy[n++] = folios[i];
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
		int err;

		folio = xa_load(&mapping->i_pages, index);
		if (!folio)
			continue;

		if (!folio_test_hugetlb(folio) && whole) {
			err = hugetlb_gmem_check_held_pieces(hg, mapping, index,
							     evict);
			if (!err) {
				XA_STATE(xas, NULL, 0);
				struct folio *merged = NULL;

				/*
				 * One small node, at most, lest a huge page
				 * leave the pool when the file is closed by
				 * a task that may not allocate any more.
				 */
				err = hugetlb_gmem_merge_xas(hg, mapping, index,
							     &xas, GFP_KERNEL |
							     __GFP_NOFAIL);
				if (!err)
					merged = __hugetlb_gmem_merge(hg, &xas, true);
				xas_destroy(&xas);
				if (merged)
					folio = merged;
				else if (!err)
					err = -EHWPOISON;
			}
			if (err && evict) {
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
