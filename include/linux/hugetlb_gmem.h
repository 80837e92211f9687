/* SPDX-License-Identifier: GPL-2.0 */
/*
 * HugeTLB folios for KVM's guest_memfd (mm/hugetlb_gmem.c).
 */
#ifndef _LINUX_HUGETLB_GMEM_H
#define _LINUX_HUGETLB_GMEM_H

#include <linux/err.h>
#include <linux/fs.h>
#include <linux/mm_types.h>

struct hugetlb_gmem;

#ifdef CONFIG_HUGETLB_GMEM
unsigned long hugetlb_gmem_page_sizes(void);
struct hugetlb_gmem *hugetlb_gmem_reserve(unsigned int page_shift, loff_t size);
void hugetlb_gmem_unreserve(struct hugetlb_gmem *hg);
struct folio *hugetlb_gmem_get_folio(struct hugetlb_gmem *hg,
				     struct address_space *mapping,
				     pgoff_t index);
void hugetlb_gmem_truncate(struct hugetlb_gmem *hg,
			   struct address_space *mapping,
			   pgoff_t start, pgoff_t end);
#else
/* No hugetlb: no page sizes to offer, so none of the rest is called. */
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

static inline struct folio *hugetlb_gmem_get_folio(struct hugetlb_gmem *hg,
						   struct address_space *mapping,
						   pgoff_t index)
{
	return ERR_PTR(-EINVAL);
}

static inline void hugetlb_gmem_truncate(struct hugetlb_gmem *hg,
					 struct address_space *mapping,
					 pgoff_t start, pgoff_t end)
{
}
#endif

#endif /* _LINUX_HUGETLB_GMEM_H */
