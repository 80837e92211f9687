/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Transparent huge pages for KVM's guest_memfd (mm/thp_gmem.c).
 */
#ifndef _LINUX_THP_GMEM_H
#define _LINUX_THP_GMEM_H

#include <linux/err.h>
#include <linux/fs.h>
#include <linux/mm_types.h>

#ifdef CONFIG_THP_GMEM
unsigned long thp_gmem_page_sizes(void);
void thp_gmem_init_mapping(struct address_space *mapping);
struct folio *thp_gmem_get_folio(struct address_space *mapping, pgoff_t index);
#else
static inline unsigned long thp_gmem_page_sizes(void)
{
	return 0;
}

static inline void thp_gmem_init_mapping(struct address_space *mapping)
{
}

static inline struct folio *thp_gmem_get_folio(struct address_space *mapping,
					       pgoff_t index)
{
	return NULL;
}
#endif

#endif /* _LINUX_THP_GMEM_H */
