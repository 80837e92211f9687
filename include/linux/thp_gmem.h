/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Transparent huge pages for KVM's guest_memfd (mm/thp_gmem.c).
 */
#ifndef _LINUX_THP_GMEM_H
#define _LINUX_THP_GMEM_H

#include <linux/err.h>
#include <linux/fs.h>
#include <linux/mm_types.h>
#include <linux/xarray.h>

/* A split of a 2M folio, prepared: see thp_gmem_split_prepare(). */
struct thp_gmem_split {
	struct folio *folio;
	/* Holds the xarray nodes for the 4K entries. */
	struct xa_state xas;
};

#ifdef CONFIG_THP_GMEM
unsigned long thp_gmem_page_sizes(void);
void thp_gmem_init_mapping(struct address_space *mapping);
struct folio *thp_gmem_get_folio(struct address_space *mapping, pgoff_t index,
				 bool split);
int thp_gmem_split_prepare(struct folio *folio, struct thp_gmem_split *sp);
void thp_gmem_split_abort(struct thp_gmem_split *sp);
void thp_gmem_split_commit(struct thp_gmem_split *sp);
int thp_gmem_merge_prepare(struct address_space *mapping, pgoff_t index,
			   pgoff_t *err_index);
void thp_gmem_merge_commit(struct address_space *mapping, pgoff_t index);
#else
/*
 * Without CONFIG_THP_GMEM there are no page sizes to offer, so no file
 * has THPs and the rest is never called.
 */
static inline unsigned long thp_gmem_page_sizes(void)
{
	return 0;
}

static inline void thp_gmem_init_mapping(struct address_space *mapping)
{
}

static inline struct folio *thp_gmem_get_folio(struct address_space *mapping,
					       pgoff_t index, bool split)
{
	return NULL;
}

static inline int thp_gmem_split_prepare(struct folio *folio,
					 struct thp_gmem_split *sp)
{
	return -EINVAL;
}

static inline void thp_gmem_split_abort(struct thp_gmem_split *sp)
{
}

static inline void thp_gmem_split_commit(struct thp_gmem_split *sp)
{
}

static inline int thp_gmem_merge_prepare(struct address_space *mapping,
					 pgoff_t index, pgoff_t *err_index)
{
	return -ENOENT;
}

static inline void thp_gmem_merge_commit(struct address_space *mapping,
					 pgoff_t index)
{
}
#endif

#endif /* _LINUX_THP_GMEM_H */
