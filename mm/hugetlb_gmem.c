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
 * The caller (KVM) serialises truncation against allocation and lookups
 * with the mapping's invalidate_lock, as for any guest_memfd.
 */
#include <linux/hugetlb.h>
#include <linux/hugetlb_cgroup.h>
#include <linux/hugetlb_gmem.h>
#include <linux/highmem.h>
#include <linux/pagemap.h>
#include <linux/sched.h>
#include <linux/slab.h>

#include "internal.h"

struct hugetlb_gmem {
	struct hstate *h;
	struct hugepage_subpool *spool;
	/* Charged for the whole reservation, uncharged with it. */
	struct hugetlb_cgroup *rsvd_cg;
	long nr_huge_pages;
};

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

	/* Within the reservation: 0, "the pool already counts it". */
	if (hugepage_subpool_get_pages(hg->spool, 1))
		return ERR_PTR(-ENOMEM);
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
	return folio;

out_cgroup:
	hugetlb_cgroup_uncharge_cgroup(idx, pages_per_huge_page(h), h_cg);
out_subpool:
	hugepage_subpool_put_pages(hg->spool, 1);
	return ERR_PTR(-ENOMEM);
}

/**
 * hugetlb_gmem_get_folio - the folio of a huge range, allocated on first use
 * @hg:		the file's reservation.
 * @mapping:	the file's page cache.
 * @index:	a 4K index in the range.
 *
 * Allocation is serialised per huge range, so racing callers take one
 * folio between them and none sees a spurious failure.
 *
 * Return: the folio, locked and with a reference, or an ERR_PTR.
 */
struct folio *hugetlb_gmem_get_folio(struct hugetlb_gmem *hg,
				     struct address_space *mapping,
				     pgoff_t index)
{
	struct hstate *h = hg->h;
	struct folio *folio;
	struct inode *inode = mapping->host;
	u32 hash;
	int err;

	index = round_down(index, pages_per_huge_page(h));
	hash = hugetlb_fault_mutex_hash(mapping, index >> huge_page_order(h));
	mutex_lock(&hugetlb_fault_mutex_table[hash]);

	folio = filemap_lock_folio(mapping, index);
	if (!IS_ERR(folio))
		goto out;

	folio = hugetlb_gmem_alloc_folio(hg);
	if (IS_ERR(folio))
		goto out;

	__folio_set_locked(folio);
	err = __filemap_add_folio(mapping, folio, index, GFP_KERNEL, NULL);
	if (err) {
		__folio_clear_locked(folio);
		/* Back to the subpool, the reservation and the cgroup. */
		folio_put(folio);
		folio = ERR_PTR(err);
		goto out;
	}

	spin_lock(&inode->i_lock);
	inode->i_blocks += blocks_per_huge_page(h);
	spin_unlock(&inode->i_lock);
out:
	mutex_unlock(&hugetlb_fault_mutex_table[hash]);
	return folio;
}
EXPORT_SYMBOL_GPL(hugetlb_gmem_get_folio);

static void hugetlb_gmem_sub_blocks(struct hugetlb_gmem *hg, struct inode *inode)
{
	spin_lock(&inode->i_lock);
	inode->i_blocks -= blocks_per_huge_page(hg->h);
	spin_unlock(&inode->i_lock);
}

/*
 * Zero [first, last) of @folio, which the range covers only partly: a
 * huge page cannot be given back in part.
 */
static void hugetlb_gmem_zero_part(struct folio *folio, pgoff_t first,
				   pgoff_t last)
{
	for (; first < last; first++) {
		struct page *page = folio_file_page(folio, first);

		/* Writing to poisoned memory would machine-check. */
		if (!PageHWPoison(page))
			clear_highpage(page);
		cond_resched();
	}
}

/**
 * hugetlb_gmem_truncate - punch [start, end) out of a file's page cache
 * @hg:		the file's reservation.
 * @mapping:	the file's page cache.
 * @start:	first 4K index.
 * @end:	4K index past the range.
 *
 * Whole huge pages go back to the file's reservation (and are counted in
 * HugePages_Rsvd again); of a huge page the range covers in part, that
 * part is zeroed.  The caller holds the mapping's invalidate_lock for
 * write and has unmapped the range.
 */
void hugetlb_gmem_truncate(struct hugetlb_gmem *hg,
			   struct address_space *mapping,
			   pgoff_t start, pgoff_t end)
{
	unsigned long nr = pages_per_huge_page(hg->h);
	pgoff_t index;

	for (index = round_down(start, nr); index < end; index += nr) {
		pgoff_t first = max(index, start);
		pgoff_t last = min(index + nr, end);
		struct folio *folio;

		folio = filemap_lock_folio(mapping, index);
		if (IS_ERR(folio))
			continue;

		if (first != index || last != index + nr) {
			hugetlb_gmem_zero_part(folio, first, last);
		} else {
			folio_clear_dirty(folio);
			folio_clear_uptodate(folio);
			filemap_remove_folio(folio);
			hugetlb_gmem_sub_blocks(hg, mapping->host);
		}
		folio_unlock(folio);
		/* The last reference: back to the subpool and reservation. */
		folio_put(folio);
		cond_resched();
	}
}
EXPORT_SYMBOL_GPL(hugetlb_gmem_truncate);
