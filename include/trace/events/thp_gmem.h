/* SPDX-License-Identifier: GPL-2.0 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM thp_gmem

#if !defined(_TRACE_THP_GMEM_H) || defined(TRACE_HEADER_MULTI_READ)
#define _TRACE_THP_GMEM_H

#include <linux/types.h>
#include <linux/tracepoint.h>

/*
 * What guest_memfd's transparent huge pages go through (mm/thp_gmem.c).
 * The counts are vm events too (thp_gmem_* in /proc/vmstat).
 */
DECLARE_EVENT_CLASS(thp_gmem_page,
	TP_PROTO(unsigned long pfn, pgoff_t index),
	TP_ARGS(pfn, index),

	TP_STRUCT__entry(
		__field(unsigned long, pfn)
		__field(pgoff_t, index)
	),

	TP_fast_assign(
		__entry->pfn = pfn;
		__entry->index = index;
	),

	TP_printk("pfn=0x%lx index=%lu", __entry->pfn, __entry->index)
);

/* A 2M page for the range at @index: a 2M folio, or 4K ones (_pieces). */
DEFINE_EVENT(thp_gmem_page, thp_gmem_alloc,
	TP_PROTO(unsigned long pfn, pgoff_t index),
	TP_ARGS(pfn, index));

DEFINE_EVENT(thp_gmem_page, thp_gmem_alloc_pieces,
	TP_PROTO(unsigned long pfn, pgoff_t index),
	TP_ARGS(pfn, index));

/* A 2M folio became 4K folios. */
DEFINE_EVENT(thp_gmem_page, thp_gmem_split,
	TP_PROTO(unsigned long pfn, pgoff_t index),
	TP_ARGS(pfn, index));

/* The 4K folios of a 2M page became its 2M folio again. */
DEFINE_EVENT(thp_gmem_page, thp_gmem_merge,
	TP_PROTO(unsigned long pfn, pgoff_t index),
	TP_ARGS(pfn, index));

/* A 2M page with a poisoned piece stays split. */
DEFINE_EVENT(thp_gmem_page, thp_gmem_merge_poisoned,
	TP_PROTO(unsigned long pfn, pgoff_t index),
	TP_ARGS(pfn, index));

TRACE_EVENT(thp_gmem_fallback,
	TP_PROTO(pgoff_t index),
	TP_ARGS(index),

	TP_STRUCT__entry(
		__field(pgoff_t, index)
	),

	TP_fast_assign(
		__entry->index = index;
	),

	TP_printk("index=%lu", __entry->index)
);

#endif /* _TRACE_THP_GMEM_H */

/* This part must be outside protection */
#include <trace/define_trace.h>
