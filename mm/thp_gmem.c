// SPDX-License-Identifier: GPL-2.0
/*
 * Transparent huge pages for KVM's guest_memfd.
 *
 * A guest_memfd file that asks for 2M pages without a HugeTLB pool gets
 * its memory from the page allocator: the first use of a 2M-aligned range
 * of the file tries a PMD-order folio for the whole range, and falls back
 * to 4K folios when the system's THP setting is "never", when no 2M page
 * is free (the allocation neither retries hard nor warns, as for THP
 * faults), or when part of the range is in the page cache already.  The
 * page cache accounts the folios as file THPs (FileHugePages), and they
 * go back to the page allocator when the file lets them go.
 *
 * Fallbacks count in the THP_FILE_FALLBACK event (thp_file_fallback in
 * /proc/vmstat, shared with other file systems) and in this file's own
 * counter, /sys/kernel/debug/thp_gmem/stats.
 *
 * guest_memfd has no memory policy of its own in this kernel: the folios
 * follow the allocating task's policy.
 */
#include <linux/debugfs.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/seq_file.h>
#include <linux/thp_gmem.h>
#include <linux/vmstat.h>

static struct {
	atomic_long_t allocs, fallbacks;
} thp_gmem_stats;

static int thp_gmem_stats_show(struct seq_file *m, void *v)
{
	seq_printf(m, "allocs %ld\n", atomic_long_read(&thp_gmem_stats.allocs));
	seq_printf(m, "fallbacks %ld\n",
		   atomic_long_read(&thp_gmem_stats.fallbacks));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(thp_gmem_stats);

static int __init thp_gmem_debugfs_init(void)
{
	struct dentry *dir = debugfs_create_dir("thp_gmem", NULL);

	debugfs_create_file("stats", 0444, dir, NULL, &thp_gmem_stats_fops);
	return 0;
}
late_initcall(thp_gmem_debugfs_init);

/**
 * thp_gmem_page_sizes - the huge page sizes guest_memfd can have as THPs
 *
 * Return: a bitmask, bit N set for a 2^N-byte page size: the PMD size
 * where the CPU has PMD mappings, else none.
 */
unsigned long thp_gmem_page_sizes(void)
{
	return has_transparent_hugepage() ? HPAGE_PMD_SIZE : 0;
}
EXPORT_SYMBOL_GPL(thp_gmem_page_sizes);

/**
 * thp_gmem_init_mapping - let a new file's page cache hold PMD-order folios
 * @mapping:	the file's page cache, before any folio is added.
 */
void thp_gmem_init_mapping(struct address_space *mapping)
{
	mapping_set_folio_order_range(mapping, 0, HPAGE_PMD_ORDER);
}
EXPORT_SYMBOL_GPL(thp_gmem_init_mapping);

static void thp_gmem_fallback(void)
{
	count_vm_event(THP_FILE_FALLBACK);
	atomic_long_inc(&thp_gmem_stats.fallbacks);
}

/**
 * thp_gmem_get_folio - the folio of a 4K page, a new 2M one if it can be
 * @mapping:	the file's page cache.
 * @index:	the 4K index.
 *
 * The caller serialises this against truncation (guest_memfd holds the
 * mapping's invalidate_lock).  Racing callers on the same range may both
 * allocate; one adds its folio and the other finds it.
 *
 * Return: the folio holding @index, locked and with a reference: one
 * already there (2M or 4K), or a new 2M folio, not zeroed; NULL when the
 * caller should allocate a 4K folio instead.
 */
struct folio *thp_gmem_get_folio(struct address_space *mapping, pgoff_t index)
{
	pgoff_t start = round_down(index, HPAGE_PMD_NR);
	gfp_t gfp = mapping_gfp_mask(mapping);
	struct folio *folio;

	folio = filemap_lock_folio(mapping, index);
	if (!IS_ERR(folio))
		return folio;

	/*
	 * A range the file does not cover whole stays on 4K pages, as does
	 * one that fell back before (counted once).
	 */
	if ((loff_t)(start + HPAGE_PMD_NR) << PAGE_SHIFT >
	    i_size_read(mapping->host) ||
	    filemap_range_has_page(mapping, (loff_t)start << PAGE_SHIFT,
				   ((loff_t)(start + HPAGE_PMD_NR) << PAGE_SHIFT) - 1))
		return NULL;
	if (!hugepage_global_enabled()) {
		thp_gmem_fallback();
		return NULL;
	}

	folio = folio_alloc(gfp | __GFP_NORETRY | __GFP_NOWARN, HPAGE_PMD_ORDER);
	if (!folio) {
		thp_gmem_fallback();
		return NULL;
	}
	/*
	 * -EEXIST: part of the range is in the page cache already (4K folios
	 * of an earlier fallback, or a racing caller's 2M folio), which the
	 * caller finds.  Anything else, a memcg over its limit, is better
	 * retried with 4K too.
	 */
	if (filemap_add_folio(mapping, folio, start, gfp)) {
		folio_put(folio);
		return NULL;
	}
	count_vm_event(THP_FILE_ALLOC);
	atomic_long_inc(&thp_gmem_stats.allocs);
	return folio;
}
EXPORT_SYMBOL_GPL(thp_gmem_get_folio);
