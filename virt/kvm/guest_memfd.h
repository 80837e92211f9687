/* SPDX-License-Identifier: GPL-2.0 */
#ifndef __KVM_GUEST_MEMFD_H__
#define __KVM_GUEST_MEMFD_H__

#include <linux/fs.h>
#include <linux/mm_types.h>
#include <linux/types.h>

struct kvm_gmem_huge;

/*
 * The pages a guest_memfd file is made of: 4K pages, HugeTLB pages or THPs.
 * guest_memfd.c owns the order of the steps (above all, that nothing fails
 * after kvm_gmem_invalidate_begin()); a backing implements the steps, in
 * virt/kvm/guest_memfd_huge.c, on what mm exports for it.
 *
 * "IL" below is the mapping's invalidate_lock: "W" held for write, "R" held
 * at least for read.
 */
struct kvm_gmem_huge_ops {
	/*
	 * Before the inode exists: take the file's pages (HugeTLB: reserve)
	 * and set the order.  Optional.
	 */
	int (*init)(struct kvm_gmem_huge *gh, unsigned int page_shift,
		    loff_t size);
	/* After evict, or when creating the file failed.  Optional. */
	void (*destroy)(struct kvm_gmem_huge *gh);
	/* Once the mapping exists, before any folio.  Optional. */
	void (*init_mapping)(struct kvm_gmem_huge *gh,
			     struct address_space *mapping);
	/*
	 * R.  The folio holding @index, locked, allocated if absent; ERR_PTR
	 * on failure.  @split: %NULL if the huge range may be one folio (it
	 * is wholly private or, with shared_huge, in one state); else a new
	 * huge folio must be split, and its 2M units whose bit is set (those
	 * that may not be one folio) must be 4K.  @nowait: the caller holds
	 * an mmap_lock (the host's fault): -EAGAIN rather than wait for
	 * memory failure, which may wait for it.
	 */
	struct folio *(*get_folio)(struct kvm_gmem_huge *gh,
				   struct address_space *mapping,
				   pgoff_t index, const unsigned long *split,
				   bool nowait);
	/* W.  Free [start, end) of the file; zero what stays of a page. */
	void (*punch)(struct kvm_gmem_huge *gh, struct address_space *mapping,
		      pgoff_t start, pgoff_t end);
	/* W.  The file is released: free every page.  Optional. */
	void (*evict)(struct kvm_gmem_huge *gh, struct address_space *mapping);
	/*
	 * The largest order KVM may map @folio with.  Optional: its order.
	 * One above the folio's (HugeTLB: a 2M piece of a 1G page) only if
	 * the huge page's range is in one state, and any zap of part of it
	 * holds faults off in all of it.
	 */
	int (*max_order)(struct kvm_gmem_huge *gh, struct folio *folio);
	/*
	 * get_folio(@split) adds a huge folio to the page cache and splits it
	 * there, so a lookup meanwhile can find it in a range that is not
	 * wholly private.
	 */
	bool splits_in_cache;
	/*
	 * A huge folio may be shared: a range is split only while it holds
	 * both private and shared pages, and KVM maps a shared huge folio
	 * huge.  Else shared pages are 4K folios.
	 */
	bool shared_huge;
	/*
	 * R, at the host's fault @vmf, with shared_huge, where the host
	 * cannot map every huge folio as it is: make the faulting page one
	 * the host can map as finish_fault() will (with a PMD, or a PTE).
	 * Waits for no reference: 0; -EAGAIN, when someone holds the folio
	 * for now (the caller faults again); -ENOMEM.  Optional: the host
	 * maps huge folios as they are.
	 */
	int (*split_for_host)(struct kvm_gmem_huge *gh, struct vm_fault *vmf);

	/*
	 * Conversions of huge pages, W unless said otherwise.  A conversion
	 * to shared splits every huge folio in its range so that its pages
	 * are 4K folios (without shared_huge, shared pages are); a backing
	 * may split a folio into large ones first, which stay whole outside
	 * the range (HugeTLB's 1G pages into 2M pieces).  With shared_huge, a
	 * folio that the run of equal state [first, last] covers whole stays
	 * whole instead.  One
	 * to private merges what becomes wholly private, inside [first,
	 * last]: as much of each huge page as the backing can; with
	 * shared_huge, it splits a whole shared folio that it makes mixed,
	 * and one to shared merges a huge page it makes wholly shared (one
	 * whose shared pages the host holds stays split; none where the
	 * host's fault would split it again, split_for_host).
	 * Each huge folio's work, or huge page's, is one slot of split_size
	 * or merge_size bytes.
	 *
	 * prepare: before the point of no return; allocates what commit
	 *	needs.  0: the slot is filled; < 0: the conversion fails
	 *	(-EAGAIN: someone holds a page, at *err_index for a merge),
	 *	except that a merge's -ENOENT (nothing to merge) and
	 *	-EHWPOISON (a poisoned piece) leave the page as it is.  A
	 *	merge that checked only part of the huge page returns
	 *	KVM_GMEM_MERGE_PART, and the slot is filled.  A split slot
	 *	takes over the caller's reference to @folio; on failure the
	 *	caller keeps it.
	 * commit: after the point of no return; allocates nothing, cannot
	 *	fail.  Split leaves the reference on the folio that holds
	 *	the first page and drops it.
	 * abort: undoes prepare.  Optional where prepare leaves nothing to
	 *	free.
	 * finish: after the no-fail window, best effort (HVO), with IL held
	 *	at least shared and no conversion or punch meanwhile.  Optional.
	 * split_prepare_shared: split_prepare of the huge folio holding
	 *	@index with IL held only shared, beside faults; it holds off
	 *	those that would add or split a folio there while it looks the
	 *	folio up.  Returns the folio, with a reference that @slot takes
	 *	over; NULL if there is no huge folio there; an ERR_PTR on
	 *	failure, -EAGAIN when the folio is busy.  Optional: without
	 *	it, splits are prepared under W.
	 */
	size_t split_size, merge_size;
	int (*split_prepare)(struct kvm_gmem_huge *gh, struct folio *folio,
			     pgoff_t start, pgoff_t end, void *slot);
	struct folio *(*split_prepare_shared)(struct kvm_gmem_huge *gh,
					      struct address_space *mapping,
					      pgoff_t index, pgoff_t start,
					      pgoff_t end, void *slot);
	void (*split_commit)(struct kvm_gmem_huge *gh, void *slots, int nr);
	void (*split_abort)(struct kvm_gmem_huge *gh, void *slots, int nr);
	int (*merge_prepare)(struct kvm_gmem_huge *gh,
			     struct address_space *mapping, pgoff_t index,
			     pgoff_t first, pgoff_t last, void *slot,
			     pgoff_t *err_index);
	void (*merge_commit)(struct kvm_gmem_huge *gh,
			     struct address_space *mapping, void *slots, int nr);
	void (*merge_abort)(struct kvm_gmem_huge *gh, void *slots, int nr);
	void (*merge_finish)(struct kvm_gmem_huge *gh,
			     struct address_space *mapping, void *slots, int nr);
};

/* A file's backing, in its struct kvm_gmem_inode. */
struct kvm_gmem_huge {
	const struct kvm_gmem_huge_ops *ops;
	/* Of a huge page; 0 for 4K pages. */
	unsigned int order;
	/* The backing's own (HugeTLB: struct hugetlb_gmem). */
	void *priv;
	/*
	 * Conversions and punches, one at a time, taken before the mapping's
	 * invalidate_lock.  A conversion prepares its splits with that lock
	 * held shared, beside faults, and takes it for write only to change
	 * the file; the huge folios it prepared must still be there then.
	 * It redoes HVO on merged folios with that lock held shared again.
	 */
	struct mutex convert_lock;
};

/* merge_prepare() filled the slot, but checked only part of the page. */
#define KVM_GMEM_MERGE_PART	1

/* The 2M units of the largest huge page (1G). */
#define KVM_GMEM_HUGE_MAX_UNITS	(1U << (PUD_SHIFT - PMD_SHIFT))

/*
 * The unit of a file's huge pages that a split may leave whole: 2M, which
 * a 1G HugeTLB page splits into first.
 */
static inline pgoff_t kvm_gmem_huge_unit(struct kvm_gmem_huge *gh)
{
	return 1UL << min_t(unsigned int, gh->order, PMD_SHIFT - PAGE_SHIFT);
}

/*
 * Whether a conversion (@to_private or not) prepares its splits with IL
 * held shared, beside faults: kvm_gmem_huge_prepare_shared().
 */
static inline bool kvm_gmem_huge_prepares_shared(struct kvm_gmem_huge *gh,
						 bool to_private)
{
	return gh->order && !to_private && gh->ops->split_prepare_shared;
}

/*
 * One conversion's splits and merges, between prepare and finish: one to
 * shared splits; one to private merges.  Where huge folios may be shared
 * (shared_huge), either splits what it leaves mixed and merges what it
 * leaves uniform.  Splits prepared with IL held shared keep
 * their folios in @folios, to see under W that the file still has those
 * huge folios, and no others.  @checked holds the ranges whose prepare
 * checked the references of all their pages (a huge page merged whole, a
 * huge folio split in a conversion to private), in order.
 */
struct kvm_gmem_checked {
	pgoff_t start, end;
};

struct kvm_gmem_huge_work {
	bool to_private;
	int nr_splits;
	void *splits;
	struct folio **folios;
	int nr_merges;
	void *merges;
	struct kvm_gmem_checked *checked;
	int nr_checked;
	int shared_err;
};

int kvm_gmem_huge_init(struct kvm_gmem_huge *gh, u64 flags,
		       unsigned int page_shift, loff_t size);
unsigned long kvm_gmem_huge_page_sizes(u64 flags);
bool kvm_gmem_page_hwpoison(struct page *page);

void kvm_gmem_huge_prepare_shared(struct kvm_gmem_huge *gh,
				  struct address_space *mapping,
				  struct kvm_gmem_huge_work *w, pgoff_t start,
				  pgoff_t end, pgoff_t first, pgoff_t last);
int kvm_gmem_huge_prepare(struct kvm_gmem_huge *gh,
			  struct address_space *mapping,
			  struct kvm_gmem_huge_work *w, pgoff_t start,
			  pgoff_t end, pgoff_t first, pgoff_t last,
			  pgoff_t *err_index);
void kvm_gmem_huge_abort(struct kvm_gmem_huge *gh,
			 struct kvm_gmem_huge_work *w);
void kvm_gmem_huge_commit(struct kvm_gmem_huge *gh,
			  struct address_space *mapping,
			  struct kvm_gmem_huge_work *w);
void kvm_gmem_huge_finish(struct kvm_gmem_huge *gh,
			  struct address_space *mapping,
			  struct kvm_gmem_huge_work *w);

#endif /* __KVM_GUEST_MEMFD_H__ */
