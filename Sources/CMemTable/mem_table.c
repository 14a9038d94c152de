// SPDX-License-Identifier: GPL-2.0-only
/*
 * Memory table feature.
 *
 * This feature can be used by a consumer to associate any arbitrary pointer
 * with a physical page. The feature implements a page table format that
 * mirrors the hardware page table. A leaf entry in the table points to
 * consumer data for that page.
 *
 * The page table format has these advantages:
 *
 * - The format allows for a sparse representation. This is useful since
 *   the physical address space can be large and is typically sparsely
 *   populated in a system.
 *
 * - A consumer of this feature can choose to populate data just for
 *   the pages he is interested in.
 *
 * - Information can be stored for large pages, if a consumer wishes.
 *
 * For instance, for Heki, the guest kernel uses this to create permissions
 * counters for each guest physical page. The permissions counters reflects the
 * collective permissions for a guest physical page across all mappings to that
 * page. This allows the guest to request the hypervisor to set only the
 * necessary permissions for a guest physical page in the EPT (instead of RWX).
 *
 * Copyright © 2023 Microsoft Corporation.
 *
 * Userspace port (memtable), from "[RFC PATCH v2 12/19] x86: Implement the
 * Memory Table feature to store arbitrary per-page data" by Madhavan T.
 * Venkataraman: the RFC's code line for line, kzalloc() replaced by calloc()
 * and kfree() by free(). Every departure from it is marked "Difference from
 * the RFC" and listed in README.md, each pinned by Tests/C/test_rfc_fixes.c.
 *
 * Conventions: @table is a root table from mem_table_alloc(); @pa is a
 * physical address, any byte of the page it names; a level number is 0 for
 * the leaves of the smallest pages. The table owns the consumer pointers
 * stored in it and releases them with ops->free. Errors are NULL returns with
 * errno set, and leave the table exactly as it was.
 */

/*
 * Memory table functions use recursion for simplicity. The recursion is bounded
 * by the number of hardware page table levels.
 *
 * Locking is left to the caller of these functions.
 */
#include "mem_table_internal.h"

/*
 * TABLE() and ENTRY() are in mem_table_internal.h, shared with the
 * additions (mem_table_ext.c), parenthesised.
 */

/*
 * Within this feature, the table levels start from 0. On X86, the base level
 * is not 0.
 */
unsigned int mem_table_base_level __ro_after_init;
unsigned int mem_table_nlevels __ro_after_init;
struct mem_table_level mem_table_levels[CONFIG_PGTABLE_LEVELS] __ro_after_init;

/* Addition: the same, as a geometry (mem_table_get_geometry()). */
struct mem_table_geometry mem_table_global_geometry;

void __init mem_table_init(unsigned int base_level)
{
	struct mem_table_level *level;
	unsigned long shift, delta_shift;
	unsigned int nentries = 0;
	int physmem_bits;
	int i, n, max_levels;

	/*
	 * Compute the actual number of levels present. Compute the parameters
	 * for each level.
	 */
	shift = ilog2(PAGE_SIZE);
	physmem_bits = PAGE_SHIFT;
	max_levels = CONFIG_PGTABLE_LEVELS;

	/*
	 * Difference from the RFC: i walks the five hardware levels and n
	 * counts the memory table levels, which skip folded hardware levels.
	 * The RFC made a folded P4D (PTRS_PER_P4D == 1) its top level: one
	 * entry, mask 0, so every address aliased modulo 512 GiB.
	 */
	for (i = 0, n = 0; i < 5 && n < max_levels && physmem_bits < MAX_PHYSMEM_BITS;
	     i++) {
		switch (i) {
		case 0:
			nentries = PTRS_PER_PTE;
			break;
		case 1:
			nentries = PTRS_PER_PMD;
			break;
		case 2:
			nentries = PTRS_PER_PUD;
			break;
		case 3:
			nentries = PTRS_PER_P4D;
			break;
		case 4:
			nentries = PTRS_PER_PGD;
			break;
		}
		if (nentries <= 1)
			continue;

		delta_shift = ilog2(nentries);
		/*
		 * Difference from the RFC: the top level reaches exactly
		 * MAX_PHYSMEM_BITS, so the root has no slot that no address
		 * can use and the range check reads off the root's level.
		 */
		if (physmem_bits + delta_shift > MAX_PHYSMEM_BITS) {
			delta_shift = MAX_PHYSMEM_BITS - physmem_bits;
			nentries = 1U << delta_shift;
		}

		level = &mem_table_levels[n];
		level->nentries = nentries;
		level->number = n;
		level->shift = shift;
		level->mask = level->nentries - 1;

		shift += delta_shift;
		physmem_bits += delta_shift;
		n++;
	}
	/* A geometry that cannot reach MAX_PHYSMEM_BITS gives no table. */
	mem_table_nlevels = physmem_bits < MAX_PHYSMEM_BITS ? 0 : n;
	mem_table_base_level = base_level;

	/* Addition: describe the globals as a geometry. */
	for (i = 0; i < n; i++)
		mem_table_global_geometry.levels[i] = mem_table_levels[i];
	mem_table_global_geometry.nlevels = mem_table_nlevels;
	mem_table_global_geometry.base_level = base_level;
	mem_table_global_geometry.page_shift = PAGE_SHIFT;
	mem_table_global_geometry.bits_per_level = n ? ilog2(mem_table_levels[0].nentries) : 0;
	mem_table_global_geometry.phys_bits = MAX_PHYSMEM_BITS;
}

/*
 * Addition: a root carries struct mem_table_root after its entries. Shared
 * with mem_table_alloc_geometry().
 */
struct mem_table *_mem_table_alloc_root(struct mem_table_level *level,
					struct mem_table_ops *ops)
{
	struct mem_table *table;

	table = calloc(1, struct_size(table, entries, level->nentries) +
				  sizeof(struct mem_table_root));
	if (table) {
		table->level = level;
		table->ops = ops;
		return table;
	}
	return NULL;
}

struct mem_table *mem_table_alloc(struct mem_table_ops *ops)
{
	struct mem_table_level *level;
	struct mem_table *table;

	/* Difference from the RFC: it read mem_table_levels[-1] here. */
	if (!mem_table_nlevels) {
		errno = EINVAL;
		return NULL;
	}
	level = &mem_table_levels[mem_table_nlevels - 1];

	table = _mem_table_alloc_root(level, ops);
	if (table)
		return table;
	return NULL;
}
EXPORT_SYMBOL_GPL(mem_table_alloc);

static void _mem_table_free(struct mem_table *table)
{
	struct mem_table_level *level = table->level;
	void **entries = table->entries;
	struct mem_table_ops *ops = table->ops;
	unsigned int i;

	for (i = 0; i < level->nentries; i++) {
		if (!entries[i])
			continue;
		if (IS_LEAF(entries[i])) {
			/*
			 * The consumer frees the pointer. Difference from the
			 * RFC: no ops, or no ops->free, means the table owns
			 * nothing (the RFC called through NULL). Addition:
			 * value entries are not pointers.
			 */
			if (ops && ops->free && !mem_table_is_value(entries[i]))
				ops->free(entries[i]);
			continue;
		}
		/* Addition: a reservation points nowhere. */
		if (!mem_table_is_reserved(entries[i]))
			_mem_table_free(TABLE(entries[i]));
	}
	free(table);
}

void _mem_table_free_now(struct mem_table *table)
{
	_mem_table_free(table);
}

void mem_table_free(struct mem_table *table)
{
	/* Addition: readers may still be in a concurrent table (mem_table_ext.c). */
	if (table && _mem_table_is_rcu(table))
		_mem_table_retire_root(table);
	else if (table)
		_mem_table_free(table);
}
EXPORT_SYMBOL_GPL(mem_table_free);

static void **_mem_table_find(struct mem_table *table, phys_addr_t pa,
			      unsigned int *level_number)
{
	struct mem_table_level *level = table->level;
	void **entries = table->entries;
	unsigned long i;

	i = (pa >> level->shift) & level->mask;

	*level_number = level->number;
	/* Addition: a reservation reads as empty. */
	if (!entries[i] || mem_table_is_reserved(entries[i]))
		return NULL;

	if (IS_LEAF(entries[i]))
		return &entries[i];

	return _mem_table_find(TABLE(entries[i]), pa, level_number);
}

void **mem_table_find(struct mem_table *table, phys_addr_t pa,
		      unsigned int *level_number)
{
	unsigned int number;
	void **entry;

	if (!table || !_mem_table_in_range(table, pa))
		return NULL;

	entry = _mem_table_find(table, pa, &number);
	/*
	 * Difference from the RFC: "level_number += mem_table_base_level"
	 * moved the pointer; the caller got the 0-based level.
	 */
	if (level_number)
		*level_number = number + _mem_table_geometry(table->level)->base_level;

	return entry;
}
EXPORT_SYMBOL_GPL(mem_table_find);

static void **_mem_table_create(struct mem_table *table, phys_addr_t pa)
{
	struct mem_table_level *level = table->level;
	void **entries = table->entries;
	struct mem_table *next = NULL;
	unsigned long i;
	void **entry, *old;

	i = (pa >> level->shift) & level->mask;

	if (!level->number) {
		/*
		 * Reached the lowest level. Return a pointer to the entry
		 * so that the consumer can populate it.
		 */
		table->changed = true;
		/* Addition: handing out the slot ends a reservation. */
		if (mem_table_is_reserved(entries[i]))
			entries[i] = NULL;
		return &entries[i];
	}

	/*
	 * If the entry is NULL, then create a lower level table and make the
	 * entry point to it.
	 *
	 * Difference from the RFC: a leaf here is a large-page entry. The RFC
	 * replaced it with a new table, losing the consumer's pointer; it is
	 * left alone and the create fails with EEXIST.
	 */
	old = entries[i];
	if (!entries[i] || mem_table_is_reserved(entries[i])) {
		/* Create next level table. */
		level--;
		next = calloc(1, struct_size(table, entries, level->nentries));
		if (!next)
			return NULL;

		next->level = level;
		next->ops = table->ops;
		next->changed = true;
		entries[i] = ENTRY(next);
	} else if (IS_LEAF(entries[i])) {
		errno = EEXIST;
		return NULL;
	}

	entry = _mem_table_create(TABLE(entries[i]), pa);
	if (!entry) {
		/*
		 * Difference from the RFC: a failure further down unlinks and
		 * frees the table made here, so a failed create leaves the
		 * table exactly as it was (the RFC kept the tables and had
		 * set "changed" on the way down).
		 */
		if (next) {
			entries[i] = old;
			free(next);
		}
		return NULL;
	}
	table->changed = true;
	return entry;
}

void **mem_table_create(struct mem_table *table, phys_addr_t pa)
{
	void **entry;

	if (!table) {
		errno = EINVAL;
		return NULL;
	}
	/*
	 * Difference from the RFC: an address beyond MAX_PHYSMEM_BITS was
	 * truncated by the top level's mask and aliased a lower page.
	 */
	if (!_mem_table_in_range(table, pa)) {
		errno = ERANGE;
		return NULL;
	}
	/* Addition: readers of a concurrent table would race the consumer's store. */
	if (_mem_table_is_rcu(table)) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	entry = _mem_table_create(table, pa);
	/*
	 * Addition: the consumer may fill the slot behind the table's back,
	 * at any time, so mem_table_count() counts by walking from now on.
	 */
	if (entry)
		ROOT_INFO(table)->created = true;
	return entry;
}
EXPORT_SYMBOL_GPL(mem_table_create);
