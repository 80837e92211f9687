// SPDX-License-Identifier: GPL-2.0
/*
 * The pages of guest_memfd files: 4K pages, HugeTLB pages and THPs, each
 * behind one table of steps (struct kvm_gmem_huge_ops), and the splits and
 * merges a conversion makes of huge pages.  guest_memfd.c decides when each
 * step runs; mm/hugetlb_gmem.c and mm/thp_gmem.c do the work.
 */
#include <linux/hugetlb_gmem.h>
#include <linux/lockdep.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/slab.h>
#include <linux/thp_gmem.h>
#include <uapi/linux/kvm.h>

#include "guest_memfd.h"

/* --- 4K pages: the page cache's own folios ---------------------------- */

static struct folio *kvm_gmem_4k_get_folio(struct kvm_gmem_huge *gh,
					   struct address_space *mapping,
					   pgoff_t index,
					   const unsigned long *split, bool nowait)
{
	return filemap_grab_folio(mapping, index);
}

static void kvm_gmem_4k_punch(struct kvm_gmem_huge *gh,
			      struct address_space *mapping,
			      pgoff_t start, pgoff_t end)
{
	truncate_inode_pages_range(mapping, (loff_t)start << PAGE_SHIFT,
				   ((loff_t)end << PAGE_SHIFT) - 1);
}

static const struct kvm_gmem_huge_ops kvm_gmem_4k_ops = {
	.get_folio	= kvm_gmem_4k_get_folio,
	.punch		= kvm_gmem_4k_punch,
};

/*
 * A large folio that holds a poisoned page (a THP whose split memory
 * failure could not do, a 2M piece of a split 1G page) keeps it: no huge
 * mapping may cover it.  (A hugetlb folio's poison is the folio's.)
 */
static int __maybe_unused kvm_gmem_huge_max_order(struct kvm_gmem_huge *gh,
						  struct folio *folio)
{
	if (folio_test_large(folio) && !folio_test_hugetlb(folio) &&
	    folio_test_has_hwpoisoned(folio))
		return 0;
	return folio_order(folio);
}

/* --- HugeTLB pages, from the pools ------------------------------------ */

#ifdef CONFIG_HUGETLB_GMEM
static int kvm_gmem_hugetlb_init(struct kvm_gmem_huge *gh,
				 unsigned int page_shift, loff_t size)
{
	/* The whole file now, so that no fault finds the pool empty. */
	struct hugetlb_gmem *hg = hugetlb_gmem_reserve(page_shift, size);

	if (IS_ERR(hg))
		return PTR_ERR(hg);
	gh->priv = hg;
	gh->order = hugetlb_gmem_order(hg);
	return 0;
}

static void kvm_gmem_hugetlb_destroy(struct kvm_gmem_huge *gh)
{
	hugetlb_gmem_unreserve(gh->priv);
}

static void kvm_gmem_hugetlb_init_mapping(struct kvm_gmem_huge *gh,
					  struct address_space *mapping)
{
	hugetlb_gmem_init_mapping(mapping);
}

/*
 * With @split, the new huge page goes into the page cache whole and is
 * split there, under the range's fault mutex (hugetlb_gmem_get_folio()).
 */
static struct folio *kvm_gmem_hugetlb_get_folio(struct kvm_gmem_huge *gh,
						struct address_space *mapping,
						pgoff_t index,
						const unsigned long *split,
						bool nowait)
{
	return hugetlb_gmem_get_folio(gh->priv, mapping, index, split, nowait);
}

static void kvm_gmem_hugetlb_punch(struct kvm_gmem_huge *gh,
				   struct address_space *mapping,
				   pgoff_t start, pgoff_t end)
{
	hugetlb_gmem_truncate(gh->priv, mapping, start, end);
}

static void kvm_gmem_hugetlb_evict(struct kvm_gmem_huge *gh,
				   struct address_space *mapping)
{
	hugetlb_gmem_evict(gh->priv, mapping);
}

static int kvm_gmem_hugetlb_split_prepare(struct kvm_gmem_huge *gh,
					  struct folio *folio, pgoff_t start,
					  pgoff_t end, void *slot)
{
	return hugetlb_gmem_split_prepare(gh->priv, folio, 1, start, end, slot);
}

/* The range's fault mutex holds off faults' allocations and splits there. */
static struct folio *kvm_gmem_hugetlb_split_prepare_shared(struct kvm_gmem_huge *gh,
							   struct address_space *mapping,
							   pgoff_t index, pgoff_t start,
							   pgoff_t end, void *slot)
{
	return hugetlb_gmem_split_prepare_shared(gh->priv, mapping, index,
						 start, end, slot);
}

/*
 * A 2M piece of a 1G page whose pieces are all whole may be mapped 1G (see
 * hugetlb_gmem_max_order()); kvm_gmem_max_order() checks the range.
 */
static int kvm_gmem_hugetlb_max_order(struct kvm_gmem_huge *gh,
				      struct folio *folio)
{
	int order = kvm_gmem_huge_max_order(gh, folio);

	return order ? hugetlb_gmem_max_order(gh->priv, folio) : 0;
}

/* The host maps pieces only: see hugetlb_gmem_split_for_host(). */
static int kvm_gmem_hugetlb_split_for_host(struct kvm_gmem_huge *gh,
					   struct vm_fault *vmf)
{
	return hugetlb_gmem_split_for_host(gh->priv, vmf);
}

/* One commit for all: the vmemmap of all of them is restored at once. */
static void kvm_gmem_hugetlb_split_commit(struct kvm_gmem_huge *gh,
					  void *slots, int nr)
{
	struct hugetlb_gmem_split *sp = slots;
	int i;

	hugetlb_gmem_split_commit(gh->priv, sp, nr);
	for (i = 0; i < nr; i++)
		folio_put(sp[i].folio);
}

static void kvm_gmem_hugetlb_split_abort(struct kvm_gmem_huge *gh,
					 void *slots, int nr)
{
	struct hugetlb_gmem_split *sp = slots;
	int i;

	for (i = 0; i < nr; i++) {
		hugetlb_gmem_split_abort(&sp[i]);
		folio_put(sp[i].folio);
	}
}

static int kvm_gmem_hugetlb_merge_prepare(struct kvm_gmem_huge *gh,
					  struct address_space *mapping,
					  pgoff_t index, pgoff_t first,
					  pgoff_t last, void *slot,
					  pgoff_t *err_index)
{
	struct hugetlb_gmem_merge *mg = slot;
	int r = hugetlb_gmem_merge_prepare(gh->priv, mapping, index, first,
					   last, mg, err_index);

	return r ?: mg->whole ? 0 : KVM_GMEM_MERGE_PART;
}

static void kvm_gmem_hugetlb_merge_commit(struct kvm_gmem_huge *gh,
					  struct address_space *mapping,
					  void *slots, int nr)
{
	struct hugetlb_gmem_merge *mg = slots;
	int i;

	for (i = 0; i < nr; i++)
		hugetlb_gmem_merge_commit(gh->priv, mapping, &mg[i]);
}

static void kvm_gmem_hugetlb_merge_abort(struct kvm_gmem_huge *gh,
					 void *slots, int nr)
{
	struct hugetlb_gmem_merge *mg = slots;
	int i;

	for (i = 0; i < nr; i++)
		hugetlb_gmem_merge_abort(gh->priv, &mg[i]);
}

/* HVO again, for all of them at once. */
static void kvm_gmem_hugetlb_merge_finish(struct kvm_gmem_huge *gh,
					  struct address_space *mapping,
					  void *slots, int nr)
{
	hugetlb_gmem_merge_finish(gh->priv, mapping, slots, nr);
}

static const struct kvm_gmem_huge_ops kvm_gmem_hugetlb_ops = {
	.init		= kvm_gmem_hugetlb_init,
	.destroy	= kvm_gmem_hugetlb_destroy,
	.init_mapping	= kvm_gmem_hugetlb_init_mapping,
	.get_folio	= kvm_gmem_hugetlb_get_folio,
	.punch		= kvm_gmem_hugetlb_punch,
	.evict		= kvm_gmem_hugetlb_evict,
	.max_order	= kvm_gmem_hugetlb_max_order,
	.splits_in_cache = true,
	.shared_huge	= true,
	.split_for_host	= kvm_gmem_hugetlb_split_for_host,
	.split_size	= sizeof(struct hugetlb_gmem_split),
	.split_prepare	= kvm_gmem_hugetlb_split_prepare,
	.split_prepare_shared = kvm_gmem_hugetlb_split_prepare_shared,
	.split_commit	= kvm_gmem_hugetlb_split_commit,
	.split_abort	= kvm_gmem_hugetlb_split_abort,
	.merge_size	= sizeof(struct hugetlb_gmem_merge),
	.merge_prepare	= kvm_gmem_hugetlb_merge_prepare,
	.merge_commit	= kvm_gmem_hugetlb_merge_commit,
	.merge_abort	= kvm_gmem_hugetlb_merge_abort,
	.merge_finish	= kvm_gmem_hugetlb_merge_finish,
};
#endif /* CONFIG_HUGETLB_GMEM */

/* --- THP: 2M folios from the page allocator, where it has them -------- */

#ifdef CONFIG_THP_GMEM
static int kvm_gmem_thp_init(struct kvm_gmem_huge *gh, unsigned int page_shift,
			     loff_t size)
{
	if (page_shift != PMD_SHIFT)
		return -EINVAL;
	gh->order = PMD_SHIFT - PAGE_SHIFT;
	return 0;
}

static void kvm_gmem_thp_init_mapping(struct kvm_gmem_huge *gh,
				      struct address_space *mapping)
{
	thp_gmem_init_mapping(mapping);
}

static struct folio *kvm_gmem_thp_get_folio(struct kvm_gmem_huge *gh,
					    struct address_space *mapping,
					    pgoff_t index,
					    const unsigned long *split, bool nowait)
{
	struct folio *folio = thp_gmem_get_folio(mapping, index, !!split);

	/* No 2M page for this range: 4K pages. */
	return folio ?: filemap_grab_folio(mapping, index);
}

/*
 * Zero the part of [*start, *end) that the large folio holding @index
 * covers, if it covers more than that, and shrink the range past it.
 */
static void kvm_gmem_thp_zero_part(struct address_space *mapping,
				   pgoff_t index, pgoff_t *start, pgoff_t *end)
{
	struct folio *folio = filemap_lock_folio(mapping, index);
	pgoff_t first, last;

	if (IS_ERR(folio))
		return;
	first = max(folio->index, *start);
	last = min(folio_next_index(folio), *end);
	if (folio_test_large(folio) &&
	    (folio->index < *start || folio_next_index(folio) > *end)) {
		folio_zero_range(folio, (first - folio->index) << PAGE_SHIFT,
				 (last - first) << PAGE_SHIFT);
		if (first == *start)
			*start = last;
		else
			*end = first;
	}
	folio_unlock(folio);
	folio_put(folio);
}

/*
 * A THP the range covers in part keeps its memory, that part zeroed, as a
 * HugeTLB page does: the page cache would split it, and drop it whole, data
 * and all, when it cannot.
 */
static void kvm_gmem_thp_punch(struct kvm_gmem_huge *gh,
			       struct address_space *mapping,
			       pgoff_t start, pgoff_t end)
{
	kvm_gmem_thp_zero_part(mapping, start, &start, &end);
	if (start < end)
		kvm_gmem_thp_zero_part(mapping, end - 1, &start, &end);
	if (start < end)
		kvm_gmem_4k_punch(gh, mapping, start, end);
}

static int kvm_gmem_thp_split_prepare(struct kvm_gmem_huge *gh,
				      struct folio *folio, pgoff_t start,
				      pgoff_t end, void *slot)
{
	return thp_gmem_split_prepare(folio, slot);
}

static void kvm_gmem_thp_split_commit(struct kvm_gmem_huge *gh, void *slots,
				      int nr)
{
	struct thp_gmem_split *sp = slots;
	int i;

	for (i = 0; i < nr; i++) {
		thp_gmem_split_commit(&sp[i]);
		folio_put(sp[i].folio);
	}
}

static void kvm_gmem_thp_split_abort(struct kvm_gmem_huge *gh, void *slots,
				     int nr)
{
	struct thp_gmem_split *sp = slots;
	int i;

	for (i = 0; i < nr; i++) {
		thp_gmem_split_abort(&sp[i]);
		folio_put(sp[i].folio);
	}
}

/* The slot is the first 4K index of the range, which [first, last] covers. */
static int kvm_gmem_thp_merge_prepare(struct kvm_gmem_huge *gh,
				      struct address_space *mapping,
				      pgoff_t index, pgoff_t first,
				      pgoff_t last, void *slot,
				      pgoff_t *err_index)
{
	int r;

	if (index < first || index + (1UL << gh->order) - 1 > last)
		return -ENOENT;
	r = thp_gmem_merge_prepare(mapping, index, err_index);

	if (!r)
		*(pgoff_t *)slot = index;
	return r;
}

static void kvm_gmem_thp_merge_commit(struct kvm_gmem_huge *gh,
				      struct address_space *mapping,
				      void *slots, int nr)
{
	pgoff_t *index = slots;
	int i;

	for (i = 0; i < nr; i++)
		thp_gmem_merge_commit(mapping, index[i]);
}

static const struct kvm_gmem_huge_ops kvm_gmem_thp_ops = {
	.init		= kvm_gmem_thp_init,
	.init_mapping	= kvm_gmem_thp_init_mapping,
	.get_folio	= kvm_gmem_thp_get_folio,
	.punch		= kvm_gmem_thp_punch,
	.max_order	= kvm_gmem_huge_max_order,
	.shared_huge	= true,
	.split_size	= sizeof(struct thp_gmem_split),
	.split_prepare	= kvm_gmem_thp_split_prepare,
	.split_commit	= kvm_gmem_thp_split_commit,
	.split_abort	= kvm_gmem_thp_split_abort,
	.merge_size	= sizeof(pgoff_t),
	.merge_prepare	= kvm_gmem_thp_merge_prepare,
	.merge_commit	= kvm_gmem_thp_merge_commit,
};
#endif /* CONFIG_THP_GMEM */

/* The page sizes of the backing that @flags ask for (bit N: 2^N bytes). */
unsigned long kvm_gmem_huge_page_sizes(u64 flags)
{
	if (flags & GUEST_MEMFD_FLAG_HUGETLB)
		return hugetlb_gmem_page_sizes();
	return thp_gmem_page_sizes();
}

/*
 * Choose a new file's backing, and take its pages.  The caller checked
 * @flags and @page_shift against what kvm_gmem_huge_page_sizes() offers
 * (HugeTLB's own init checks its size).
 */
int kvm_gmem_huge_init(struct kvm_gmem_huge *gh, u64 flags,
		       unsigned int page_shift, loff_t size)
{
	mutex_init(&gh->convert_lock);
	gh->ops = &kvm_gmem_4k_ops;
#ifdef CONFIG_HUGETLB_GMEM
	if (flags & GUEST_MEMFD_FLAG_HUGETLB)
		gh->ops = &kvm_gmem_hugetlb_ops;
#endif
#ifdef CONFIG_THP_GMEM
	if (!(flags & GUEST_MEMFD_FLAG_HUGETLB) && page_shift)
		gh->ops = &kvm_gmem_thp_ops;
#endif
	return gh->ops->init ? gh->ops->init(gh, page_shift, size) : 0;
}

/* Whether a memory error hit @page, whatever folio holds it. */
bool kvm_gmem_page_hwpoison(struct page *page)
{
	return gmem_page_hwpoison(page);
}

/*
 * W, or any lock while nothing is prepared yet.  Undo the prepares of @w:
 * nothing is left prepared.
 */
void kvm_gmem_huge_abort(struct kvm_gmem_huge *gh,
			 struct kvm_gmem_huge_work *w)
{
	const struct kvm_gmem_huge_ops *ops = gh->ops;

	if (w->nr_merges && ops->merge_abort)
		ops->merge_abort(gh, w->merges, w->nr_merges);
	if (w->nr_splits)
		ops->split_abort(gh, w->splits, w->nr_splits);
	kvfree(w->splits);
	kvfree(w->merges);
	kvfree(w->folios);
	kvfree(w->checked);
	w->splits = NULL;
	w->merges = NULL;
	w->folios = NULL;
	w->checked = NULL;
	w->nr_splits = 0;
	w->nr_merges = 0;
	w->nr_checked = 0;
	w->shared_err = 0;
}

/*
 * The huge folio (a huge page, or a 2M piece of a split 1G page) holding
 * @index, to split, with a reference; NULL if there is none.
 */
static struct folio *kvm_gmem_huge_folio(struct address_space *mapping,
					 pgoff_t index)
{
	struct folio *folio = filemap_get_folio(mapping, index);

	if (IS_ERR(folio))
		return NULL;
	/* Split already: a 4K folio. */
	if (!folio_test_large(folio)) {
		folio_put(folio);
		return NULL;
	}
	return folio;
}

/*
 * W: the huge folio holding @index, or NULL, without a reference, to look
 * at: nothing frees a folio of the page cache while the caller holds the
 * invalidate_lock for write, and nothing but memory failure splits one (a
 * THP), which makes it a 4K folio that a later lookup sees.  A lookup's
 * reference per huge page would take most of a conversion of many.
 */
static struct folio *kvm_gmem_huge_peek(struct address_space *mapping,
					pgoff_t index)
{
	struct folio *folio;

	lockdep_assert_held_write(&mapping->invalidate_lock);
	folio = xa_load(&mapping->i_pages, index);
	if (!folio || xa_is_value(folio) || !folio_test_large(folio))
		return NULL;
	return folio;
}

/* Past the huge folio @folio holds @index in, or past @index's 2M unit. */
static pgoff_t kvm_gmem_huge_next(struct kvm_gmem_huge *gh,
				  struct folio *folio, pgoff_t index)
{
	if (folio)
		return folio_next_index(folio);
	return round_down(index, kvm_gmem_huge_unit(gh)) + kvm_gmem_huge_unit(gh);
}

/*
 * Past the huge folio @folio holds @index in, for a conversion to shared
 * of a range that ends before @end.  Where huge folios may be shared,
 * every one inside the range stays whole (the run of shared pages it
 * joins holds it), and only those at its two ends can split: the walk
 * jumps from the first to the 2M unit of the last page.
 */
static pgoff_t kvm_gmem_huge_next_shared(struct kvm_gmem_huge *gh,
					 struct folio *folio, pgoff_t index,
					 pgoff_t end)
{
	pgoff_t next = kvm_gmem_huge_next(gh, folio, index);

	if (gh->ops->shared_huge)
		next = max(next, round_down(end - 1, kvm_gmem_huge_unit(gh)));
	return next;
}

/*
 * Whether the huge folio @folio stays whole through the conversion: it lies
 * inside [first, last], the run of equal state the range becomes part of,
 * and the backing lets a huge folio be shared.
 */
static bool kvm_gmem_huge_stays_whole(struct kvm_gmem_huge *gh,
				      struct folio *folio, pgoff_t first,
				      pgoff_t last)
{
	return gh->ops->shared_huge && folio->index >= first &&
	       folio_next_index(folio) - 1 <= last;
}

/*
 * With IL held shared, beside faults: prepare the splits of a conversion of
 * [start, end) to shared, the allocations that cost most (the vmemmap pages
 * and page cache nodes of each huge page), so that they wait for reclaim
 * without holding faults off.  kvm_gmem_huge_prepare(), under W, then keeps
 * them if the file still has the same huge folios there (a fault may have
 * added one meanwhile), and otherwise starts again.  An error is kept for
 * it to return; -EAGAIN (a folio is busy now) leaves the splits to it.
 */
void kvm_gmem_huge_prepare_shared(struct kvm_gmem_huge *gh,
				  struct address_space *mapping,
				  struct kvm_gmem_huge_work *w, pgoff_t start,
				  pgoff_t end, pgoff_t first, pgoff_t last)
{
	const struct kvm_gmem_huge_ops *ops = gh->ops;
	pgoff_t unit = kvm_gmem_huge_unit(gh);
	pgoff_t index, next, from = round_down(start, unit);
	/* Each huge folio is 2M at least. */
	unsigned long max = DIV_ROUND_UP(end - from, unit);
	struct folio *folio;
	bool whole;

	lockdep_assert_held(&gh->convert_lock);
	lockdep_assert_held_read(&mapping->invalidate_lock);
	if (!kvm_gmem_huge_prepares_shared(gh, w->to_private))
		return;

	w->splits = kvcalloc(max, ops->split_size, GFP_KERNEL);
	w->folios = kvcalloc(max, sizeof(*w->folios), GFP_KERNEL);
	if (!w->splits || !w->folios) {
		/* Nothing prepared yet: only frees. */
		kvm_gmem_huge_abort(gh, w);
		w->shared_err = -ENOMEM;
		return;
	}
	for (index = from; index < end; index = next) {
		/*
		 * Whole in the run of shared pages: stays as it is.  (What a
		 * fault does meanwhile, kvm_gmem_huge_unchanged() sees.)
		 */
		folio = kvm_gmem_huge_folio(mapping, index);
		next = kvm_gmem_huge_next_shared(gh, folio, index, end);
		whole = folio && kvm_gmem_huge_stays_whole(gh, folio, first, last);
		if (folio)
			folio_put(folio);
		if (whole)
			continue;

		folio = ops->split_prepare_shared(gh, mapping, index, start, end,
						  w->splits + w->nr_splits * ops->split_size);
		if (IS_ERR(folio)) {
			w->shared_err = PTR_ERR(folio);
			return;
		}
		if (folio) {
			next = kvm_gmem_huge_next_shared(gh, folio, index, end);
			w->folios[w->nr_splits++] = folio;
		}
	}
}

/*
 * W.  Whether [from, to) of the file has the huge folios, and only those,
 * that kvm_gmem_huge_prepare_shared() prepared: it found them in index
 * order.  Conversions and punches, which alone split or free a folio that
 * is in the page cache whole, do not run meanwhile, and the references the
 * slots hold keep the folios from being freed and reused; what a fault may
 * have done since is add a folio, which shows here.  No lasting reference
 * can come to a private huge folio meanwhile (the host cannot map it), so
 * the check of its references that the prepare made still holds; the
 * commit waits for transient ones.
 */
static bool kvm_gmem_huge_unchanged(struct kvm_gmem_huge *gh,
				    struct address_space *mapping,
				    struct kvm_gmem_huge_work *w, pgoff_t from,
				    pgoff_t to, pgoff_t first, pgoff_t last)
{
	struct folio *folio;
	pgoff_t index;
	int i = 0;

	for (index = from; index < to;
	     index = kvm_gmem_huge_next_shared(gh, folio, index, to)) {
		folio = kvm_gmem_huge_peek(mapping, index);
		if (!folio)
			continue;
		if (kvm_gmem_huge_stays_whole(gh, folio, first, last))
			continue;
		if (i == w->nr_splits || w->folios[i] != folio)
			return false;
		i++;
	}
	return i == w->nr_splits;
}

/* Prepare the split of @folio, whose reference @w takes over on success. */
static int kvm_gmem_huge_prepare_split(struct kvm_gmem_huge *gh,
				       struct kvm_gmem_huge_work *w,
				       struct folio *folio, pgoff_t start,
				       pgoff_t end, pgoff_t *err_index)
{
	const struct kvm_gmem_huge_ops *ops = gh->ops;
	int r = ops->split_prepare(gh, folio, start, end,
				   w->splits + w->nr_splits * ops->split_size);

	if (r == -EAGAIN)
		*err_index = max(folio->index, start);
	if (r) {
		folio_put(folio);
		return r;
	}
	w->nr_splits++;
	return 0;
}

/* Note that a prepare checked the references of all pages of [start, end). */
static void kvm_gmem_huge_checked(struct kvm_gmem_huge_work *w, pgoff_t start,
				  pgoff_t end)
{
	w->checked[w->nr_checked++] = (struct kvm_gmem_checked){ start, end };
}

/*
 * To private, where huge folios may be shared: prepare the split of each
 * shared huge folio of the huge page at @index that [start, end) leaves
 * mixed.  Only the folios at either end of the range can be: the huge
 * page's own, or the 2M pieces of a split 1G page there.  Returns 1 when
 * the huge page is one folio (it has nothing to merge), 0, or an error.
 */
static int kvm_gmem_huge_split_mixed(struct kvm_gmem_huge *gh,
				     struct address_space *mapping,
				     struct kvm_gmem_huge_work *w, pgoff_t index,
				     pgoff_t start, pgoff_t end, pgoff_t first,
				     pgoff_t last, pgoff_t *err_index)
{
	pgoff_t nr = 1UL << gh->order;
	pgoff_t at[2] = { max(index, start), min(index + nr, end) - 1 };
	pgoff_t folio_start, folio_end = at[0];
	struct folio *folio;
	bool whole;
	int i, r;

	for (i = 0; i < 2; i++) {
		/* The first end's folio holds the second too. */
		if (at[i] < folio_end)
			break;
		folio_end = at[i] + 1;
		folio = kvm_gmem_huge_peek(mapping, at[i]);
		if (!folio)
			continue;
		whole = folio_nr_pages(folio) == nr;
		folio_start = folio->index;
		folio_end = folio_next_index(folio);
		if (kvm_gmem_huge_stays_whole(gh, folio, first, last)) {
			if (whole)
				return 1;
			continue;
		}
		/*
		 * To split: with a reference, which the split takes over.  The
		 * same folio, or one that memory failure split meanwhile (a
		 * THP, now 4K pages: nothing to split).
		 */
		folio = kvm_gmem_huge_folio(mapping, at[i]);
		if (!folio)
			continue;
		r = kvm_gmem_huge_prepare_split(gh, w, folio, start, end,
						err_index);
		if (r)
			return r;
		kvm_gmem_huge_checked(w, folio_start, folio_end);
		if (whole)
			return 1;
	}
	return 0;
}

/*
 * To private: each huge page merges what becomes wholly private of it,
 * inside [first, last]; a huge folio that was shared (shared_huge
 * backings) and is not wholly inside it splits, so that its shared pages
 * stay shared.  The ranges whose prepare checked every page's references
 * go in @w->checked.
 */
static int kvm_gmem_huge_prepare_private(struct kvm_gmem_huge *gh,
					 struct address_space *mapping,
					 struct kvm_gmem_huge_work *w,
					 pgoff_t start, pgoff_t end,
					 pgoff_t first, pgoff_t last,
					 pgoff_t *err_index)
{
	const struct kvm_gmem_huge_ops *ops = gh->ops;
	pgoff_t nr = 1UL << gh->order, from = round_down(start, nr);
	/* A merge or a split per huge page, and a split of a piece at each end. */
	unsigned long max = DIV_ROUND_UP(end - from, nr) + 2;
	pgoff_t index;
	int r;

	w->merges = kvcalloc(max, ops->merge_size, GFP_KERNEL);
	w->checked = kvcalloc(max, sizeof(*w->checked), GFP_KERNEL);
	if (ops->shared_huge)
		w->splits = kvcalloc(max, ops->split_size, GFP_KERNEL);
	if (!w->merges || !w->checked || (ops->shared_huge && !w->splits))
		return -ENOMEM;

	for (index = from; index < end; index += nr) {
		if (ops->shared_huge) {
			r = kvm_gmem_huge_split_mixed(gh, mapping, w, index,
						      start, end, first, last,
						      err_index);
			if (r < 0)
				return r;
			if (r)
				continue;
		}

		r = ops->merge_prepare(gh, mapping, index, first, last,
				       w->merges + w->nr_merges * ops->merge_size,
				       err_index);
		/* Nothing to merge, or poisoned: stays as it is. */
		if (r == -ENOENT || r == -EHWPOISON)
			continue;
		if (r < 0)
			return r;
		if (!r)
			kvm_gmem_huge_checked(w, index, index + nr);
		w->nr_merges++;
	}
	return 0;
}

/*
 * To shared, where huge folios may be shared: merge each split huge page
 * that becomes wholly shared, inside [first, last].  Its pages outside
 * [start, end) were shared already, so the host may map them (unmapped
 * here, for the merge to check their references) or hold them: then the
 * page stays split, and the conversion goes on.
 */
static int kvm_gmem_huge_prepare_shared_merges(struct kvm_gmem_huge *gh,
					       struct address_space *mapping,
					       struct kvm_gmem_huge_work *w,
					       pgoff_t start, pgoff_t end,
					       pgoff_t first, pgoff_t last)
{
	const struct kvm_gmem_huge_ops *ops = gh->ops;
	pgoff_t nr = 1UL << gh->order, from = round_down(start, nr);
	pgoff_t index, err_index;
	struct folio *folio;
	int r;

	lockdep_assert_held_write(&mapping->invalidate_lock);
	w->merges = kvcalloc(DIV_ROUND_UP(end - from, nr), ops->merge_size,
			     GFP_KERNEL);
	if (!w->merges)
		return -ENOMEM;

	for (index = max(from, round_up(first, nr));
	     index < end && index + nr - 1 <= last; index += nr) {
		/* Whole already. */
		folio = kvm_gmem_huge_peek(mapping, index);
		if (folio && folio_nr_pages(folio) == nr)
			continue;
		unmap_mapping_pages(mapping, index, nr, false);
		r = ops->merge_prepare(gh, mapping, index, first, last,
				       w->merges + w->nr_merges * ops->merge_size,
				       &err_index);
		/* Nothing to merge, poisoned, or held: stays split. */
		if (r == -ENOENT || r == -EHWPOISON || r == -EAGAIN)
			continue;
		if (r < 0)
			return r;
		w->nr_merges++;
	}
	return 0;
}

/*
 * Before the point of no return: prepare the huge pages that converting
 * [start, end) splits (to shared: a huge folio that becomes mixed, or any,
 * where shared pages must be 4K) or merges (each huge page that becomes
 * wholly private; where huge folios may be shared, also each that becomes
 * wholly shared).  [first, last] is the run of equal state the
 * range becomes part of.  On failure nothing is left prepared; on -EAGAIN,
 * *err_index is a page someone else holds.
 */
int kvm_gmem_huge_prepare(struct kvm_gmem_huge *gh,
			  struct address_space *mapping,
			  struct kvm_gmem_huge_work *w, pgoff_t start,
			  pgoff_t end, pgoff_t first, pgoff_t last,
			  pgoff_t *err_index)
{
	const struct kvm_gmem_huge_ops *ops = gh->ops;
	pgoff_t unit = kvm_gmem_huge_unit(gh);
	pgoff_t index, next, from = round_down(start, unit);
	struct folio *folio;
	int r = 0;

	lockdep_assert_held(&gh->convert_lock);
	lockdep_assert_held_write(&mapping->invalidate_lock);

	if (w->folios || w->shared_err) {
		r = w->shared_err;
		if (!r && kvm_gmem_huge_unchanged(gh, mapping, w, from, end,
						  first, last))
			return 0;
		kvm_gmem_huge_abort(gh, w);
		if (r && r != -EAGAIN)
			return r;
		r = 0;
	}
	if (!gh->order)
		return 0;

	if (w->to_private) {
		r = kvm_gmem_huge_prepare_private(gh, mapping, w, start, end,
						  first, last, err_index);
		goto out;
	}

	/* Splits go by huge folio, each 2M at least. */
	w->splits = kvcalloc(DIV_ROUND_UP(end - from, unit), ops->split_size,
			     GFP_KERNEL);
	if (!w->splits) {
		r = -ENOMEM;
		goto out;
	}
	for (index = from; index < end; index = next) {
		folio = kvm_gmem_huge_folio(mapping, index);
		next = kvm_gmem_huge_next_shared(gh, folio, index, end);
		if (!folio)
			continue;
		if (kvm_gmem_huge_stays_whole(gh, folio, first, last)) {
			folio_put(folio);
			continue;
		}
		r = kvm_gmem_huge_prepare_split(gh, w, folio, start, end,
						err_index);
		if (r)
			break;
	}
	/* Where the host's fault would split them again: no. */
	if (!r && ops->shared_huge && !ops->split_for_host)
		r = kvm_gmem_huge_prepare_shared_merges(gh, mapping, w, start,
							end, first, last);
out:
	if (r < 0)
		kvm_gmem_huge_abort(gh, w);
	return r;
}

/* After the point of no return: cannot fail, allocates nothing. */
void kvm_gmem_huge_commit(struct kvm_gmem_huge *gh,
			  struct address_space *mapping,
			  struct kvm_gmem_huge_work *w)
{
	lockdep_assert_held_write(&mapping->invalidate_lock);

	/* They touch different huge pages. */
	if (w->nr_splits)
		gh->ops->split_commit(gh, w->splits, w->nr_splits);
	if (w->nr_merges)
		gh->ops->merge_commit(gh, mapping, w->merges, w->nr_merges);
}

/*
 * After the no-fail window, with IL held at least shared and no conversion
 * or punch meanwhile: best effort (HVO on merged pages).
 */
void kvm_gmem_huge_finish(struct kvm_gmem_huge *gh,
			  struct address_space *mapping,
			  struct kvm_gmem_huge_work *w)
{
	lockdep_assert_held(&gh->convert_lock);
	lockdep_assert_held(&mapping->invalidate_lock);

	if (w->nr_merges && gh->ops->merge_finish)
		gh->ops->merge_finish(gh, mapping, w->merges, w->nr_merges);
	kvfree(w->splits);
	kvfree(w->merges);
	kvfree(w->folios);
	kvfree(w->checked);
}
