/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Memory table feature - Definitions.
 *
 * Copyright © 2023 Microsoft Corporation.
 *
 * Userspace port (memtable): the RFC's definitions, unchanged in names, types
 * and layouts, plus export markers and C++ guards. Differences from the RFC
 * are listed in README.md and marked in kernel/mem_table.c's port,
 * Sources/CMemTable/mem_table.c.
 */

#ifndef __MEM_TABLE_H__
#define __MEM_TABLE_H__

#include "mem_table_kernel.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifndef MEM_TABLE_API
#define MEM_TABLE_API __attribute__((visibility("default")))
#endif

/* clang-format off */

/*
 * The MEM_TABLE bit is set on entries that point to an intermediate table.
 * So, this bit is reserved. This means that pointers to consumer data must
 * be at least two-byte aligned (so the MEM_TABLE bit is 0).
 */
#define MEM_TABLE BIT(0)
#define IS_LEAF(entry) (!((uintptr_t)(entry) & MEM_TABLE))

/* clang-format on */

/*
 * A memory table is arranged exactly like a page table. The memory table
 * configuration reflects the hardware page table configuration.
 */

/* Parameters at each level of the memory table hierarchy. */
struct mem_table_level {
	unsigned int number;
	unsigned int nentries;
	unsigned int shift;
	unsigned int mask;
};

struct mem_table {
	struct mem_table_level *level;
	struct mem_table_ops *ops;
	bool changed;
	void *entries[];
};

/* Operations that need to be supplied by a consumer of memory tables. */
struct mem_table_ops {
	void (*free)(void *buf);
};

/*
 * The geometry computed by mem_table_init(): level 0 holds the pages,
 * mem_table_levels[mem_table_nlevels - 1] is the root. Read-only for users.
 */
MEM_TABLE_API extern unsigned int mem_table_base_level;
MEM_TABLE_API extern unsigned int mem_table_nlevels;
MEM_TABLE_API extern struct mem_table_level mem_table_levels[CONFIG_PGTABLE_LEVELS];

/**
 * mem_table_init() - Compute the geometry of memory tables.
 * @base_level: The number mem_table_find() reports for a leaf at level 0,
 *              PG_LEVEL_4K on x86.
 *
 * Fills mem_table_levels[] from the paging constants (PTRS_PER_*, PAGE_SHIFT,
 * MAX_PHYSMEM_BITS): with the defaults, four levels of 512 entries, the root
 * trimmed to 128 entries so that it reaches exactly 2^46 bytes. A folded
 * level (one entry) is skipped.
 *
 * Context: Call once, before the first mem_table_alloc() and while no table
 * exists; it writes globals and does not lock. Does not allocate.
 */
MEM_TABLE_API void mem_table_init(unsigned int base_level);

/**
 * mem_table_alloc() - Allocate an empty memory table.
 * @ops: The consumer's operations, or NULL. The table keeps the pointer, so
 *       @ops must outlive the table. With NULL ops, or a NULL @ops->free,
 *       the table owns nothing and mem_table_free() releases no leaf.
 *
 * Context: Allocates the root table (calloc).
 * Return: The table, or NULL with errno set: EINVAL if mem_table_init() has
 * not been called, ENOMEM if the allocation failed.
 */
MEM_TABLE_API struct mem_table *mem_table_alloc(struct mem_table_ops *ops);

/**
 * mem_table_free() - Free a memory table and everything in it.
 * @table: The table, or NULL (then nothing happens).
 *
 * Every leaf is passed to @table->ops->free (when there is one): the table
 * owns its leaves and releases each exactly once. Then every table is freed.
 *
 * Context: Frees memory; the caller must hold off every other user.
 */
MEM_TABLE_API void mem_table_free(struct mem_table *table);

/**
 * mem_table_create() - Make the page slot for a physical address exist.
 * @table: The table.
 * @pa: Any physical address inside the page.
 *
 * Allocates the intermediate tables on the way to the level-0 slot of @pa and
 * returns that slot, for the consumer to read or populate. A pointer stored
 * there must be at least two-byte aligned (bit 0, MEM_TABLE, is reserved);
 * from then on the table owns it and releases it with ops->free. A slot that
 * already holds a pointer is returned as it is: overwriting it is the
 * consumer's business (release the old pointer first).
 *
 * Context: May allocate. The caller serialises all access to the table.
 * Return: The slot, or NULL with errno set and the table exactly as it was:
 * EINVAL for a NULL table, ERANGE for @pa at or above 2^MAX_PHYSMEM_BITS,
 * ENOMEM if an allocation failed, EEXIST if a large leaf covers @pa.
 */
MEM_TABLE_API void **mem_table_create(struct mem_table *table, phys_addr_t pa);

/**
 * mem_table_find() - Find the leaf slot that covers a physical address.
 * @table: The table.
 * @pa: Any physical address.
 * @level_num: Where to store the level of the slot found (or of the level at
 *             which the walk stopped), counted from mem_table_base_level: a
 *             4 KiB leaf reports PG_LEVEL_4K. May be NULL.
 *
 * Context: Does not allocate. The caller serialises writers.
 * Return: The slot holding the leaf that covers @pa, or NULL if there is none
 * (a slot from mem_table_create() that is still NULL counts as none). NULL,
 * with @level_num untouched, for a NULL table or an out-of-range @pa.
 */
MEM_TABLE_API void **mem_table_find(struct mem_table *table, phys_addr_t pa,
				    unsigned int *level_num);

#ifdef __cplusplus
}
#endif

#endif /* __MEM_TABLE_H__ */
