/* SPDX-License-Identifier: GPL-2.0 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM hugetlb_gmem

#if !defined(_TRACE_HUGETLB_GMEM_H) || defined(TRACE_HEADER_MULTI_READ)
#define _TRACE_HUGETLB_GMEM_H

#include <linux/mm.h>
#include <linux/tracepoint.h>

/*
 * What guest_memfd's HugeTLB pages go through (mm/hugetlb_gmem.c).  The
 * counts are vm events too (hugetlb_gmem_* in /proc/vmstat); the events
 * add which page, and when: the _begin/_end pairs time undoing HVO before
 * a split and redoing it after a merge, which a conversion's own time
 * cannot tell apart from the rest of its work.
 */
DECLARE_EVENT_CLASS(hugetlb_gmem_page,
	TP_PROTO(unsigned long pfn, pgoff_t index, unsigned int order),
	TP_ARGS(pfn, index, order),

	TP_STRUCT__entry(
		__field(unsigned long, pfn)
		__field(pgoff_t, index)
		__field(unsigned int, order)
	),

	TP_fast_assign(
		__entry->pfn = pfn;
		__entry->index = index;
		__entry->order = order;
	),

	TP_printk("pfn=0x%lx index=%lu order=%u",
		  __entry->pfn, __entry->index, __entry->order)
);

/*
 * A huge folio became 4K folios (2M) or 2M pieces (1G); its poisoned pages
 * stay out of use.
 */
DEFINE_EVENT(hugetlb_gmem_page, hugetlb_gmem_split,
	TP_PROTO(unsigned long pfn, pgoff_t index, unsigned int order),
	TP_ARGS(pfn, index, order));

/* The pieces of a split page became its huge folio again. */
DEFINE_EVENT(hugetlb_gmem_page, hugetlb_gmem_merge,
	TP_PROTO(unsigned long pfn, pgoff_t index, unsigned int order),
	TP_ARGS(pfn, index, order));

/* A 2M piece of a split 1G page became 4K folios. */
DEFINE_EVENT(hugetlb_gmem_page, hugetlb_gmem_split_piece,
	TP_PROTO(unsigned long pfn, pgoff_t index, unsigned int order),
	TP_ARGS(pfn, index, order));

/* The 4K folios of a 2M piece of a split 1G page became one again. */
DEFINE_EVENT(hugetlb_gmem_page, hugetlb_gmem_merge_piece,
	TP_PROTO(unsigned long pfn, pgoff_t index, unsigned int order),
	TP_ARGS(pfn, index, order));

/* A split page with a poisoned piece stays split. */
DEFINE_EVENT(hugetlb_gmem_page, hugetlb_gmem_merge_poisoned,
	TP_PROTO(unsigned long pfn, pgoff_t index, unsigned int order),
	TP_ARGS(pfn, index, order));

/* A split page left the pool: punched or released while split, poisoned. */
DEFINE_EVENT(hugetlb_gmem_page, hugetlb_gmem_dissolve,
	TP_PROTO(unsigned long pfn, pgoff_t index, unsigned int order),
	TP_ARGS(pfn, index, order));

DECLARE_EVENT_CLASS(hugetlb_gmem_folio,
	TP_PROTO(struct folio *folio),
	TP_ARGS(folio),

	TP_STRUCT__entry(
		__field(unsigned long, pfn)
		__field(pgoff_t, index)
		__field(unsigned int, order)
	),

	TP_fast_assign(
		__entry->pfn = folio_pfn(folio);
		__entry->index = folio->index;
		__entry->order = folio_order(folio);
	),

	TP_printk("pfn=0x%lx index=%lu order=%u",
		  __entry->pfn, __entry->index, __entry->order)
);

/* Allocating the vmemmap pages a split of an HVO page needs. */
DEFINE_EVENT(hugetlb_gmem_folio, hugetlb_gmem_vmemmap_restore_prepare_begin,
	TP_PROTO(struct folio *folio),
	TP_ARGS(folio));

DEFINE_EVENT(hugetlb_gmem_folio, hugetlb_gmem_vmemmap_restore_prepare_end,
	TP_PROTO(struct folio *folio),
	TP_ARGS(folio));

DECLARE_EVENT_CLASS(hugetlb_gmem_batch,
	TP_PROTO(int nr),
	TP_ARGS(nr),

	TP_STRUCT__entry(
		__field(int, nr)
	),

	TP_fast_assign(
		__entry->nr = nr;
	),

	TP_printk("nr=%d", __entry->nr)
);

/* A conversion's splits restore the vmemmap of @nr HVO pages at once. */
DEFINE_EVENT(hugetlb_gmem_batch, hugetlb_gmem_vmemmap_restore_begin,
	TP_PROTO(int nr),
	TP_ARGS(nr));

DEFINE_EVENT(hugetlb_gmem_batch, hugetlb_gmem_vmemmap_restore_end,
	TP_PROTO(int nr),
	TP_ARGS(nr));

/* HVO redone on a conversion's @nr merged pages; _end: how many it did. */
DEFINE_EVENT(hugetlb_gmem_batch, hugetlb_gmem_vmemmap_optimize_begin,
	TP_PROTO(int nr),
	TP_ARGS(nr));

DEFINE_EVENT(hugetlb_gmem_batch, hugetlb_gmem_vmemmap_optimize_end,
	TP_PROTO(int nr),
	TP_ARGS(nr));

#endif /* _TRACE_HUGETLB_GMEM_H */

/* This part must be outside protection */
#include <trace/define_trace.h>
