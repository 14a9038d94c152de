/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Memory table feature - what mem_table.c (the RFC's code) and
 * mem_table_ext.c (the additions) share, and nobody else sees.
 *
 * Copyright © 2026 the memtable authors.
 */
#ifndef __MEM_TABLE_INTERNAL_H__
#define __MEM_TABLE_INTERNAL_H__

#define MEM_TABLE_KERNEL_SHIM
#include <errno.h>
#include <stdlib.h>

/*
 * The library's calloc() and free() (the RFC's kzalloc() and kfree()) go to
 * mem_table_set_allocator()'s allocator (mem_table_alloc.c). Object-like, and
 * defined before <mem_table.h>, as the C tests' -Dcalloc= and -Dfree= are:
 * struct mem_table_ops's member free is renamed alike in these sources (its
 * place is the same), so ops->free() stays the consumer's. Sources that
 * include this header include their system headers first.
 */
void *_mem_table_calloc(size_t nmemb, size_t size);
void _mem_table_free_block(void *block);
#undef calloc
#undef free
#define calloc _mem_table_calloc
#define free _mem_table_free_block

#include "mem_table.h"

#define TABLE(entry) ((void *)((uintptr_t)(entry) & ~MEM_TABLE))
#define ENTRY(table) ((void *)((uintptr_t)(table) | MEM_TABLE))

/*
 * The slot kinds are <mem_table.h>'s (the table at its top). A reserved slot
 * (mem_table_reserve()), MEM_TABLE_RESERVED, is not a leaf, so it is not
 * found, walked or released, and not NULL, so erasing its neighbours does not
 * free the table that holds it.
 */

/*
 * Every root carries this after its entries (the struct mem_table layout is
 * the RFC's): the leaf count, exact unless the table has handed out a
 * mem_table_create() slot, which may be filled behind its back at any time
 * (then every count walks); and the table of the last page
 * stored, with the tables above it, so that the next page store in it goes
 * straight to its slot (stores come in runs of neighbouring pages). The
 * hint is forgotten by every operation that may free a table.
 */
struct mem_table_root {
	size_t leaves;
	bool created;		/* a mem_table_create() slot was handed out */
	unsigned int hint_depth;	/* how many tables hint_path holds */
	phys_addr_t hint_base;		/* the first address hint covers */
	struct mem_table *hint;		/* a table of pages, or NULL */
	struct mem_table *hint_path[MEM_TABLE_MAX_LEVELS - 1]; /* below the root, above hint */
};

#define ROOT_INFO(table) \
	((struct mem_table_root *)(void *)((char *)(table) + _mem_table_size((table)->level)))

/* The globals of mem_table_init(), as a geometry. */
extern struct mem_table_geometry mem_table_global_geometry;

/* The geometry a table's levels belong to. */
static inline const struct mem_table_geometry *
_mem_table_geometry(const struct mem_table_level *level)
{
	const struct mem_table_level *first = level - level->number;

	if (first == mem_table_levels)
		return &mem_table_global_geometry;
	return container_of(first, const struct mem_table_geometry, levels);
}

/* The number the API reports for a level: base-relative (PG_LEVEL_4K...). */
static inline unsigned int _mem_table_level_number(const struct mem_table_level *level)
{
	return level->number + _mem_table_geometry(level)->base_level;
}

static inline bool _mem_table_is_root(const struct mem_table *table)
{
	return table->level->number == _mem_table_geometry(table->level)->nlevels - 1;
}

static inline bool _mem_table_in_range(const struct mem_table *table, phys_addr_t pa)
{
	const struct mem_table_level *top = table->level;
	unsigned int bits = top->shift + ilog2(top->nentries);

	return bits >= 64 || !(pa >> bits);
}

/*
 * The slots a bit of mem_table_run.occupied covers, log2: the fewest that fit any run of
 * a table of @level in 64 bits.
 */
static inline unsigned int _mem_table_group_shift(const struct mem_table_level *level)
{
	unsigned int shift = 0;

	while ((level->nentries - 1) >> shift >= 64)
		shift++;
	return shift;
}

/* Every group of a run of @count slots. */
static inline uint64_t _mem_table_groups(unsigned long count, unsigned int group_shift)
{
	unsigned long groups = ((count - 1) >> group_shift) + 1;

	return groups >= 64 ? ~0ULL : (1ULL << groups) - 1;
}

static inline size_t _mem_table_size(const struct mem_table_level *level)
{
	struct mem_table *table;

	return struct_size(table, entries, level->nentries);
}

struct mem_table *_mem_table_alloc_root(struct mem_table_level *level,
					struct mem_table_ops *ops);

/*
 * Concurrent readers (mem_table_alloc_rcu()): the table's geometry is the
 * library's own copy, flagged, so that any table of the tree knows.
 */
#define MEM_TABLE_GEO_RCU 1U

static inline bool _mem_table_is_rcu(const struct mem_table *table)
{
	return _mem_table_geometry(table->level)->flags & MEM_TABLE_GEO_RCU;
}

/*
 * A slot a reader may see is written with a release store, so that what it
 * points to (a new table, a consumer's leaf) is complete before it can be
 * found; and read with an acquire load. Both are plain moves on x86-64 and
 * single instructions on arm64 (stlr, ldar).
 */
#ifndef MEM_TABLE_RCU_BROKEN_PUBLISH
#define MEM_TABLE_PUBLISH(slot, value) __atomic_store_n((slot), (value), __ATOMIC_RELEASE)
#else /* the deliberately broken build of the stress test: a plain store */
#define MEM_TABLE_PUBLISH(slot, value) (*(slot) = (value))
#endif
#define MEM_TABLE_READ(slot) __atomic_load_n((slot), __ATOMIC_ACQUIRE)

/* mem_table.c's teardown of a whole table, for mem_table_free() and after a grace period. */
void _mem_table_free_now(struct mem_table *table);
/* mem_table_free() of a table made for concurrent readers (mem_table_ext.c). */
void _mem_table_retire_root(struct mem_table *table);

#endif /* __MEM_TABLE_INTERNAL_H__ */
