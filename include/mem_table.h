/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Memory table feature - Definitions.
 *
 * Copyright © 2023 Microsoft Corporation.
 *
 * Userspace port (memtable): the RFC's definitions, unchanged in names, types
 * and layouts, plus export markers and C++ guards. Differences from the RFC
 * are listed in README.md and marked in kernel/mem_table.c's port,
 * Sources/CMemTable/mem_table.c. The additions follow the RFC's API, apart.
 *
 * What a slot holds, told apart by its two low bits (the RFC's MEM_TABLE bit
 * and the additions' value tag), each with its predicate:
 *
 *   slot          bits  predicate                 ops->free/split/merge/clone
 *   empty         NULL  !entry                    never
 *   pointer leaf  ..00  mem_table_is_pointer()    yes: the table owns it
 *   value entry   ..10  mem_table_is_value()      never: no allocation
 *   table         ..x1  mem_table_is_table()      never (the library's own)
 *   reserved      0..01 mem_table_is_reserved()   never (MEM_TABLE_RESERVED)
 *
 * IS_LEAF(), the RFC's, holds for an empty slot, a pointer leaf and a value
 * entry; a table and a reservation carry the MEM_TABLE bit. A reservation is
 * a table entry that points nowhere: it reads as empty but keeps its path.
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
 *
 * (Port: the RFC's BIT(0), spelled MEM_TABLE_BIT(0) so that a program's own
 * BIT() stays its own.)
 */
#define MEM_TABLE MEM_TABLE_BIT(0)
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

/* (Port: C++ has no flexible array member; GCC and Clang take the C99 one.) */
#ifdef __cplusplus
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"
#endif
struct mem_table {
	struct mem_table_level *level;
	struct mem_table_ops *ops;
	bool changed;
	void *entries[];
};
#ifdef __cplusplus
#pragma GCC diagnostic pop
#endif

/* Operations that need to be supplied by a consumer of memory tables. */
struct mem_table_ops {
	void (*free)(void *buf);

	/* Additions (memtable); each may be NULL. See "Large-page entries". */

	/*
	 * split() - Data for one child of a large leaf being split.
	 * @buf: The large leaf's pointer (still owned by the table).
	 * @level: The child's level (base-relative, e.g. PG_LEVEL_4K).
	 * Called once per child; returns a pointer the table then owns (a copy,
	 * or @buf with a reference taken), or NULL to refuse. After the split
	 * succeeds, @buf is released with free().
	 */
	void *(*split)(void *buf, unsigned int level);

	/*
	 * merge() - One leaf for a full table of leaves, or NULL.
	 * @entries: The table's leaves (pointers; value entries never reach it).
	 * @nentries: How many.
	 * @level: The level of the merged leaf (base-relative, e.g. PG_LEVEL_2M).
	 * Returns a pointer the table then owns (a new one, or one of @entries
	 * with a reference taken), or NULL if the entries are not equal. After
	 * the merge, every one of @entries is released with free().
	 */
	void *(*merge)(void *const *entries, unsigned int nentries, unsigned int level);

	/*
	 * clone() - A copy of a leaf for mem_table_clone(): a pointer the new
	 * table owns (a copy, or @buf with a reference taken), or NULL.
	 */
	void *(*clone)(void *buf);
};

/*
 * The geometry computed by mem_table_init(): level 0 holds the pages,
 * mem_table_levels[mem_table_nlevels - 1] is the root. Read-only for users,
 * written once by mem_table_init() (Swift imports them as nonisolated(unsafe);
 * mem_table_init_geometry() is the accessor for code that wants no global).
 */
#if defined(__has_attribute) && !defined(MEM_TABLE_SWIFT_NONISOLATED_UNSAFE)
#if __has_attribute(swift_attr)
#define MEM_TABLE_SWIFT_NONISOLATED_UNSAFE __attribute__((swift_attr("nonisolated(unsafe)")))
#endif
#endif
#ifndef MEM_TABLE_SWIFT_NONISOLATED_UNSAFE
#define MEM_TABLE_SWIFT_NONISOLATED_UNSAFE
#endif
MEM_TABLE_API MEM_TABLE_SWIFT_NONISOLATED_UNSAFE extern unsigned int mem_table_base_level;
MEM_TABLE_API MEM_TABLE_SWIFT_NONISOLATED_UNSAFE extern unsigned int mem_table_nlevels;
MEM_TABLE_API MEM_TABLE_SWIFT_NONISOLATED_UNSAFE extern struct mem_table_level mem_table_levels[MEM_TABLE_PGTABLE_LEVELS];

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

/* ------------------------------------------------------------------------
 * Additions (memtable): everything below goes past the RFC, leaving the API
 * above as it was. Conventions: @table is a root from mem_table_alloc() or
 * mem_table_alloc_geometry(); a @level is base-relative, as mem_table_find()
 * reports it (PG_LEVEL_4K, PG_LEVEL_2M, PG_LEVEL_1G... for x86-64); a level
 * of 0 in a struct mem_table_level is the smallest page. Functions that
 * return int (or long) return 0 (or a count) or a negative errno, and on
 * error leave the table exactly as it was: its leaves, its tables, every
 * table's changed flag, its count and statistics; whatever a failed call
 * allocated or got from the consumer's ops is released. The caller
 * serialises all access, as for the RFC's API.
 * ------------------------------------------------------------------------ */

/**
 * DOC: When the consumer's ops are called
 *
 * Every call that may fail is made before the table's first change, so that
 * an allocation failure or an op that refuses (returns NULL) leaves the table
 * as it was. Children that ops->split made before a refusal are handed to
 * ops->free; nothing else is released on failure.
 *
 *   function                  ops it may call, and when
 *   mem_table_store()         split (a larger leaf covers @pa): all children,
 *                             before any change; then free (the split leaf,
 *                             and the replaced leaf when @old is NULL)
 *   mem_table_split()         split, before any change; then free (the leaf)
 *   mem_table_reserve()       as mem_table_split() (a larger leaf covers @pa)
 *   mem_table_store_range()   split for both edges, before any change (two
 *   mem_table_erase_range()   edges in one leaf: the second split is made in
 *   and their _incl forms     the first's new tables); then free (the split
 *                             leaves, and every leaf the range replaces)
 *   mem_table_merge()         merge once, before any change; then free (each
 *                             merged leaf)
 *   mem_table_clone()         clone for every pointer leaf, into the copy
 *                             only; on failure, free for what was cloned
 *   mem_table_erase()         none (the leaf is handed back)
 *   mem_table_free()          free, for every pointer leaf
 *
 * Value entries and reservations never reach an op.
 */

/**
 * DOC: Value entries
 *
 * A value entry is a small integer stored in the slot itself, with no
 * allocation, in the spirit of the XArray's xa_mk_value(): bit 1 set and
 * bit 0 (MEM_TABLE) clear. It is a leaf (IS_LEAF() holds) and is never
 * passed to any ops callback. A table that mixes pointers and value entries
 * needs its pointers four-byte aligned (malloc()'s are).
 */
#define MEM_TABLE_VALUE_MAX (UINTPTR_MAX >> 2)

static inline void *mem_table_mk_value(uintptr_t v)
{
	return (void *)((v << 2) | 2);
}

static inline uintptr_t mem_table_to_value(const void *entry)
{
	return (uintptr_t)entry >> 2;
}

/* The slot kinds (the table at the top of this file). */

/* The reservation marker: the MEM_TABLE bit alone, a table entry to nowhere. */
#define MEM_TABLE_RESERVED ((void *)MEM_TABLE)

static inline bool mem_table_is_value(const void *entry)
{
	return ((uintptr_t)entry & 3) == 2;
}

static inline bool mem_table_is_pointer(const void *entry)
{
	return entry && !((uintptr_t)entry & 3);
}

static inline bool mem_table_is_table(const void *entry)
{
	return ((uintptr_t)entry & MEM_TABLE) && entry != MEM_TABLE_RESERVED;
}

static inline bool mem_table_is_reserved(const void *entry)
{
	return entry == MEM_TABLE_RESERVED;
}

/**
 * struct mem_table_allocator - Where the library's memory comes from.
 * @zalloc: Returns @size bytes, zeroed and aligned as malloc()'s, or NULL
 *	(the operation then fails with ENOMEM and changes nothing).
 * @release: Takes back a block @zalloc returned; never called with NULL.
 *
 * Tables are most of a table's memory: with 512 slots, 4 KiB and a header
 * each, and a table of scattered pages has thousands of them, each a page
 * fault on first use. An allocator of the caller's can take them from memory
 * of its own: huge pages, an arena freed at once, a NUMA node. Both functions
 * may be called from any thread that uses a table, and @release also from
 * liburcu's call_rcu thread (tables of mem_table_alloc_rcu()).
 */
struct mem_table_allocator {
	void *(*zalloc)(size_t size);
	void (*release)(void *block);
};

/**
 * mem_table_set_allocator() - Take the library's memory from an allocator.
 * @allocator: Its functions (the struct is copied), or NULL for calloc() and
 *	free() again.
 *
 * Every table, root, geometry and record the library allocates from then on
 * comes from @allocator, and goes back to it. Consumer pointers (leaves) are
 * the consumer's and go to ops->free as before.
 *
 * Context: Call before the library allocates, or once all of it is freed
 * (every table and geometry, and the grace periods of concurrent tables
 * over): a block goes back to the allocator it came from. Writes globals and
 * does not lock, like mem_table_init().
 * Return: 0; -EBUSY if blocks of the allocator in use are still out (nothing
 * changes), -EINVAL if @allocator lacks a function.
 */
MEM_TABLE_API int mem_table_set_allocator(const struct mem_table_allocator *allocator);

/**
 * DOC: Geometry
 *
 * A geometry describes one table format: page size, entries per level,
 * physical address bits. Every level below the root has 2^@bits_per_level
 * entries; the root has just enough to reach 2^@phys_bits. Tables of
 * different geometries live side by side; the faithful mem_table_init()
 * and mem_table_alloc() keep using the globals.
 */
#define MEM_TABLE_MAX_LEVELS 6

struct mem_table_geometry {
	struct mem_table_level levels[MEM_TABLE_MAX_LEVELS];
	unsigned int nlevels;
	unsigned int base_level;
	unsigned int page_shift;
	unsigned int bits_per_level;
	unsigned int phys_bits;
	unsigned int flags; /* the library's: 0 in every geometry a program makes */
};

/* x86-64, 4-level paging: 4 KiB pages, 9 bits per level, 46 bits. */
MEM_TABLE_API extern const struct mem_table_geometry mem_table_geometry_x86_64;
/* x86-64, 5-level paging (LA57): 4 KiB pages, 9 bits per level, 52 bits. */
MEM_TABLE_API extern const struct mem_table_geometry mem_table_geometry_x86_64_la57;
/* arm64, 4 KiB granule: 9 bits per level, 48 bits. */
MEM_TABLE_API extern const struct mem_table_geometry mem_table_geometry_arm64_4k;
/* arm64, 16 KiB granule: 11 bits per level, 48 bits. */
MEM_TABLE_API extern const struct mem_table_geometry mem_table_geometry_arm64_16k;
/* arm64, 64 KiB granule: 13 bits per level, 48 bits. */
MEM_TABLE_API extern const struct mem_table_geometry mem_table_geometry_arm64_64k;

/**
 * mem_table_geometry_init() - Describe a table format.
 * @geo: The geometry to fill.
 * @page_shift: log2 of the smallest page, 8 to 30.
 * @bits_per_level: log2 of the entries per table, 1 to 16.
 * @phys_bits: Physical address bits, above @page_shift, at most 64, and at
 *             most MEM_TABLE_MAX_LEVELS levels.
 * @base_level: The level number reported for a smallest-page leaf.
 *
 * Context: Does not allocate. @geo must outlive every table made with it.
 * Return: 0, or -EINVAL for parameters out of range (@geo untouched).
 */
MEM_TABLE_API int mem_table_geometry_init(struct mem_table_geometry *geo,
					  unsigned int page_shift,
					  unsigned int bits_per_level,
					  unsigned int phys_bits,
					  unsigned int base_level);

/**
 * mem_table_alloc_geometry() - Allocate an empty table of a given geometry.
 * @geo: The geometry; it must outlive the table.
 * @ops: As for mem_table_alloc().
 *
 * Context: Allocates the root.
 * Return: The table, or NULL with errno EINVAL (NULL or malformed @geo) or
 * ENOMEM.
 */
MEM_TABLE_API struct mem_table *mem_table_alloc_geometry(const struct mem_table_geometry *geo,
							 struct mem_table_ops *ops);

/**
 * mem_table_get_geometry() - The geometry of a table.
 * @table: The table.
 *
 * Return: Its geometry (for a table of mem_table_alloc(), a description of
 * the globals), or NULL for a NULL table.
 */
MEM_TABLE_API const struct mem_table_geometry *mem_table_get_geometry(const struct mem_table *table);

/**
 * mem_table_init_geometry() - The geometry mem_table_init() computed.
 *
 * The RFC's globals (mem_table_base_level, mem_table_nlevels,
 * mem_table_levels) as one geometry, read-only: for code that keeps no
 * global state of its own (a Swift 6 module, say), and for
 * mem_table_alloc_geometry().
 *
 * Context: Does not allocate. Valid after mem_table_init().
 * Return: The geometry, or NULL before mem_table_init() (or after one that
 * could compute none).
 */
MEM_TABLE_API const struct mem_table_geometry *mem_table_init_geometry(void);

/**
 * mem_table_store() - Store a leaf for the entry of @level covering @pa.
 * @table: The table.
 * @pa: A physical address; for a large level, aligned to its size (any
 *      byte of the page for the smallest level).
 * @level: The leaf's level: the base level for a page, base + 1 for the
 *         next size (PG_LEVEL_2M on x86-64), and so on up to the root's.
 * @entry: A pointer with bit 0 clear (the table owns it from now), or a
 *         value entry.
 * @old: Where to hand back the entry replaced (NULL if none), which the
 *       caller then owns; or NULL, to have it released with ops->free.
 *
 * A large leaf covers the whole aligned range. Storing inside a larger leaf
 * splits it first (ops->split for pointers; values are copied); storing over
 * a table that holds leaves fails, since the leaves would be lost.
 *
 * Context: May allocate (intermediate tables, splits). A page store in the
 * table of the last page stored goes straight to its slot (O(1)); others
 * walk the levels.
 * Return: 0; -EINVAL for a NULL table or @entry, @entry with bit 0 set, a
 * level the geometry lacks, or an unaligned large @pa; -ERANGE for @pa
 * beyond the geometry; -EEXIST if a larger leaf covers @pa and cannot be
 * split (no ops->split) or smaller leaves lie under the range; -ENOMEM if
 * an allocation or ops->split failed.
 */
MEM_TABLE_API int mem_table_store(struct mem_table *table, phys_addr_t pa,
				  unsigned int level, void *entry, void **old);

/**
 * mem_table_load() - The leaf covering @pa, at any level.
 * @table: The table.
 * @pa: A physical address.
 * @level: Where to store the leaf's level, or NULL.
 *
 * Context: Does not allocate.
 * Return: The entry (pointer or value entry), or NULL if none covers @pa or
 * @pa is out of range.
 */
MEM_TABLE_API void *mem_table_load(struct mem_table *table, phys_addr_t pa, unsigned int *level);

/**
 * mem_table_lookup() - The leaf covering @pa: the inline fast path.
 * @table: The table (not NULL).
 * @pa: A physical address.
 *
 * mem_table_load() without the level and the argument checks, as an inline
 * loop over the levels: the lookup of hot paths (a fault handler's, Heki's
 * counters). Never recursive.
 *
 * Context: Does not allocate. The caller serialises writers.
 * Return: The entry (pointer or value entry), or NULL if none covers @pa or
 * @pa is out of range.
 */
static inline void *mem_table_lookup(const struct mem_table *table, phys_addr_t pa)
{
	const struct mem_table_level *level = table->level;
	const char *entries = (const char *)table->entries;
	void *entry;

	/* The root reaches exactly the geometry's address bits. */
	if ((pa >> level->shift) > level->mask)
		return NULL;
	for (;;) {
		entry = *(void *const *)(entries + ((pa >> level->shift) & level->mask) * sizeof(void *));
		if (IS_LEAF(entry))
			return entry;
		if (mem_table_is_reserved(entry))
			return NULL;
		/*
		 * The child's entries straight from the tagged entry: the tag is
		 * folded into the load's offset, so that each level costs one
		 * dependent load. A table's levels are an array, and a child is
		 * one level down: the next level is known without waiting.
		 */
		entries = (const char *)entry - MEM_TABLE + offsetof(struct mem_table, entries);
		level--;
	}
}

/**
 * mem_table_lookup_slot() - The slot of the leaf covering @pa, inline.
 * @table: The table (not NULL).
 * @pa: A physical address.
 * @level: Where to store the slot's level number (0 for the smallest
 *         pages, as in struct mem_table_level), or NULL.
 *
 * mem_table_find() as an inline loop, for callers that change a leaf where
 * it lies (a counter in a value entry). Replacing the leaf by another leaf
 * is fine; to remove one, use mem_table_erase().
 *
 * Context: Does not allocate. The caller serialises writers.
 * Return: The slot, or NULL if no leaf covers @pa or @pa is out of range.
 */
static inline void **mem_table_lookup_slot(struct mem_table *table, phys_addr_t pa,
					   unsigned int *level)
{
	const struct mem_table_level *l = table->level;
	char *entries = (char *)table->entries;
	void **slot;

	if ((pa >> l->shift) > l->mask)
		return NULL;
	for (;;) {
		slot = (void **)(entries + ((pa >> l->shift) & l->mask) * sizeof(void *));
		if (IS_LEAF(*slot)) {
			if (!*slot)
				return NULL;
			if (level)
				*level = l->number;
			return slot;
		}
		if (mem_table_is_reserved(*slot))
			return NULL;
		/* As in mem_table_lookup(). */
		entries = (char *)*slot - MEM_TABLE + offsetof(struct mem_table, entries);
		l--;
	}
}

/**
 * mem_table_erase() - Remove the leaf covering @pa.
 * @table: The table.
 * @pa: A physical address.
 * @level: Where to store the removed leaf's level, or NULL.
 *
 * Removes the leaf (the whole range of a large one) and hands it back: the
 * caller owns it, nothing is released. Every table that becomes empty is
 * freed, up to but not including the root. Also drops a reservation.
 *
 * Context: Frees tables; never allocates, so never fails for memory.
 * Return: The entry removed, or NULL if there was none.
 */
MEM_TABLE_API void *mem_table_erase(struct mem_table *table, phys_addr_t pa, unsigned int *level);

/**
 * mem_table_split() - Split the large leaf covering @pa down to @level.
 * @table: The table.
 * @pa: A physical address inside the leaf.
 * @level: The level the leaf covering @pa must end at.
 *
 * Replaces the leaf by a table of children (ops->split gives each child's
 * data; value entries are copied), and again on the way to @level, so that
 * the leaf covering @pa is at @level. The large leaf is released after the
 * whole split succeeded.
 *
 * Context: Allocates one table per level split.
 * Return: 0 (also when the leaf covering @pa is at @level or below);
 * -ENOENT if no leaf covers @pa; -EEXIST without ops->split; -ENOMEM if an
 * allocation or ops->split failed; -EINVAL, -ERANGE for bad arguments.
 */
MEM_TABLE_API int mem_table_split(struct mem_table *table, phys_addr_t pa, unsigned int level);

/**
 * mem_table_merge() - Collapse a full table of leaves into one large leaf.
 * @table: The table.
 * @pa: A physical address inside the range to merge.
 * @level: The level of the large leaf to make (above the base level).
 *
 * The table under the entry of @level covering @pa must hold a leaf in
 * every slot. Value entries merge when all are equal; pointers when
 * ops->merge returns the merged leaf. The old leaves are released with
 * ops->free and the table is freed. Merge bottom-up, level by level, to
 * reach the largest size.
 *
 * Context: Frees; never allocates.
 * Return: 0; -ENOENT if there is no full table of leaves there; -EBUSY if
 * the leaves are not equal (values differ, or ops->merge said NULL);
 * -EOPNOTSUPP for pointers without ops->merge; -EINVAL, -ERANGE for bad
 * arguments.
 */
MEM_TABLE_API int mem_table_merge(struct mem_table *table, phys_addr_t pa, unsigned int level);

/**
 * mem_table_reserve() - Make a later store at (@pa, @level) unable to fail.
 * @table: The table.
 * @pa: As for mem_table_store().
 * @level: As for mem_table_store().
 *
 * Allocates the path to the slot and marks the slot reserved (as the
 * XArray's xa_reserve() does), so that erasing its neighbours does not free
 * it. A reserved slot reads as empty; a store, a mem_table_create() or an
 * erase there ends the reservation.
 *
 * Inside a larger leaf there is no empty slot to reserve, but a store there
 * would have to split: the larger leaf is split down to @level now (as
 * mem_table_split() does, ops->split for a pointer), so that the later store
 * only replaces a leaf of @level and cannot fail. The data stays the same.
 *
 * Context: May allocate.
 * Return: 0 (also if the slot holds a leaf already); errors as for
 * mem_table_store(): -EEXIST for a pointer leaf without ops->split, -ENOMEM
 * if an allocation failed or ops->split refused.
 */
MEM_TABLE_API int mem_table_reserve(struct mem_table *table, phys_addr_t pa, unsigned int level);

/**
 * mem_table_store_range() - Store one value over [@start, @end).
 * @table: The table.
 * @start: First address, page aligned.
 * @end: One past the last address, page aligned, above @start.
 * @entry: A value entry, or any pointer if the table owns nothing (no
 *         ops->free): it is stored in several leaves.
 *
 * Uses the largest aligned entries that fit: large leaves in the middle,
 * smaller ones at the edges. What the range covered before is released
 * (ops->free); larger leaves across an edge are split first. Costs a walk
 * from the root per table the range reaches, not per entry: the entries of
 * one table are its consecutive slots.
 *
 * Context: May allocate; every allocation and every ops->split call happens
 * before the table changes (see "When the consumer's ops are called").
 * Return: 0; -EINVAL, -ERANGE for bad arguments; -EEXIST if an edge leaf
 * cannot be split (no ops->split); -ENOMEM if an allocation failed or
 * ops->split refused; the table is then exactly as it was.
 */
MEM_TABLE_API int mem_table_store_range(struct mem_table *table, phys_addr_t start,
					phys_addr_t end, void *entry);

/**
 * mem_table_store_range_incl() - Store one value over [@first, @last].
 * @table: The table.
 * @first: First address, page aligned.
 * @last: Last address, inclusive: one below a page boundary, at or above
 *        @first. The form that reaches the top of a 64-bit geometry, where
 *        one past the last address would be 2^64.
 * @entry: As for mem_table_store_range().
 *
 * mem_table_store_range(@table, @first, @last + 1, @entry), as the XArray's
 * xa_store_range() takes its range.
 *
 * Context: As for mem_table_store_range().
 * Return: As for mem_table_store_range().
 */
MEM_TABLE_API int mem_table_store_range_incl(struct mem_table *table, phys_addr_t first,
					     phys_addr_t last, void *entry);

/**
 * mem_table_erase_range() - Remove everything in [@start, @end).
 * @table: The table.
 * @start: First address, page aligned.
 * @end: One past the last address, page aligned, above @start.
 *
 * Leaves inside the range are released (ops->free); larger leaves across an
 * edge are split first, keeping what lies outside. Empty tables are freed.
 *
 * Context: May allocate (edge splits); every allocation and ops->split call
 * happens before the table changes.
 * Return: The number of leaves removed (>= 0), or -EINVAL, -ERANGE, -EEXIST,
 * -ENOMEM as for mem_table_store_range(), the table then as it was.
 */
MEM_TABLE_API long mem_table_erase_range(struct mem_table *table, phys_addr_t start,
					 phys_addr_t end);

/**
 * mem_table_erase_range_incl() - Remove everything in [@first, @last].
 * @table: The table.
 * @first: First address, page aligned.
 * @last: Last address, inclusive, as for mem_table_store_range_incl().
 *
 * Context: As for mem_table_erase_range().
 * Return: As for mem_table_erase_range().
 */
MEM_TABLE_API long mem_table_erase_range_incl(struct mem_table *table, phys_addr_t first,
					      phys_addr_t last);

/**
 * typedef mem_table_walk_fn - Called by mem_table_walk() for each leaf.
 * @entry: The leaf (pointer or value entry).
 * @pa: The first address it covers.
 * @level: Its level (base-relative).
 * @arg: mem_table_walk()'s @arg.
 *
 * Return: 0 to go on, anything else to stop the walk with that value. It
 * must not modify the table.
 */
typedef int (*mem_table_walk_fn)(void *entry, phys_addr_t pa, unsigned int level, void *arg);

/**
 * mem_table_walk() - Visit the leaves meeting [@start, @end) in order.
 * @table: The table.
 * @start: First address.
 * @end: One past the last address (0 or anything <= @start: nothing).
 * @fn: Called for each leaf, in ascending address order.
 * @arg: Passed to @fn.
 *
 * Empty subtrees are skipped without being visited.
 *
 * Context: Does not allocate.
 * Return: 0, or the first non-zero value @fn returned; -EINVAL for a NULL
 * table or @fn.
 */
MEM_TABLE_API int mem_table_walk(struct mem_table *table, phys_addr_t start, phys_addr_t end,
				 mem_table_walk_fn fn, void *arg);

/**
 * mem_table_walk_changed() - Visit the leaves of the changed tables; clear the marks.
 * @table: The table.
 * @fn: Called for each leaf of a changed table, in ascending address order.
 * @arg: Passed to @fn.
 *
 * The RFC sets a table's @changed whenever a create touches it and never
 * reads it: it is there so that a consumer (Heki) sends the hypervisor only
 * what changed. Every operation here keeps it: a store, a replacement, an
 * erase, a split, a merge or a range marks every table on the path to what
 * it changed, and a table made new is marked. This walk goes down only into
 * marked tables, calls @fn for every leaf of each (a mark is per table: the
 * leaves beside the changed one are visited too), skips unmarked subtables
 * whole, and clears each table's mark once it has visited all of it.
 * Removed leaves are gone and are not visited: the consumer finds them by
 * what it knew of the table's range before (the Heki counters of `memtable
 * watch` do so by storing zeros and erasing them after the walk).
 *
 * Context: Does not allocate. The cost is proportional to the marked
 * tables (each scanned once), not to the table.
 * Return: 0, or the first non-zero value @fn returned (the marks of tables
 * not wholly visited stay set); -EINVAL for a NULL table or @fn.
 */
MEM_TABLE_API int mem_table_walk_changed(struct mem_table *table, mem_table_walk_fn fn, void *arg);

/**
 * mem_table_next() - The first leaf at or after an address.
 * @table: The table.
 * @pa: In: where to start. Out: the first address of the leaf found.
 * @level: Where to store the leaf's level, or NULL.
 *
 * The leaf found is the one covering *@pa, or the first one after it. To
 * iterate: start at 0, and after each leaf continue at its end.
 *
 * Context: Does not allocate.
 * Return: The leaf's slot, or NULL if there is none (*@pa untouched).
 */
MEM_TABLE_API void **mem_table_next(struct mem_table *table, phys_addr_t *pa, unsigned int *level);

/**
 * mem_table_prev() - The last leaf at or before an address.
 * @table: The table.
 * @pa: In: where to start. Out: the first address of the leaf found.
 * @level: Where to store the leaf's level, or NULL.
 *
 * The mirror of mem_table_next(): the leaf covering *@pa, or the last one
 * before it. To iterate down: start at the geometry's last address, and
 * after each leaf continue one below its first address (stop after 0).
 *
 * Context: Does not allocate.
 * Return: The leaf's slot, or NULL if there is none (*@pa untouched).
 */
MEM_TABLE_API void **mem_table_prev(struct mem_table *table, phys_addr_t *pa, unsigned int *level);

/**
 * struct mem_table_run - Consecutive slots of one table, for a scan.
 * @slots: The first slot: a leaf.
 * @count: How many slots the run has (at least 1).
 * @pa: The first address of the first slot's entry.
 * @shift: log2 of the bytes each slot covers: slot i starts at
 *         @pa + (i << @shift).
 * @level: The entries' level, as mem_table_load() reports it.
 * @occupied: The groups of slots that may hold a leaf: bit j covers slots
 *            j << @group_shift to ((j + 1) << @group_shift) - 1; a clear
 *            bit, slots without one. mem_table_stats_walk() sets exactly
 *            the groups with a leaf (a table of scattered pages is read
 *            once, by the walk); mem_table_next_run() sets every group.
 * @group_shift: log2 of the slots a bit of @occupied covers: the fewest
 *            that fit any run of the table in 64 bits (8, a cache line,
 *            for 512 slots of 8 bytes).
 */
struct mem_table_run {
	void **slots;
	unsigned long count;
	phys_addr_t pa;
	unsigned int shift;
	unsigned int level;
	uint64_t occupied;
	unsigned int group_shift;
};

/**
 * mem_table_next_run() - The slots from the first leaf at or after an address.
 * @table: The table.
 * @pa: Where to start; a leaf covering @pa is the first one.
 * @run: Where to describe the run.
 *
 * The run goes from that leaf to the end of its table. Each slot in it is
 * NULL, a leaf, a reservation (MEM_TABLE alone) or a table (IS_LEAF() is
 * false): the leaves under a table come from another mem_table_next_run()
 * at that slot's address. A caller scans a run in a tight loop and goes on
 * from the address after its last slot; this is how the Swift layer
 * iterates. The slots stay valid until the table is changed.
 *
 * Context: Does not allocate.
 * Return: 1 with @run filled, 0 if no leaf lies at or after @pa, -EINVAL
 * (NULL @table or @run) or -ERANGE (@pa beyond the table).
 */
MEM_TABLE_API int mem_table_next_run(struct mem_table *table, phys_addr_t pa,
				     struct mem_table_run *run);

/**
 * mem_table_clone() - Deep-copy a table.
 * @table: The table to copy; it is not modified.
 *
 * The copy has the same geometry and ops. Pointer leaves are copied with
 * ops->clone; a table that owns nothing (no ops->free) shares them; value
 * entries and reservations are copied as they are.
 *
 * Context: Allocates every table of the copy.
 * Return: The copy, or NULL with errno: EINVAL (NULL table, or pointer
 * leaves with ops->free but no ops->clone), ENOMEM (an allocation or
 * ops->clone failed; whatever was copied is released).
 */
MEM_TABLE_API struct mem_table *mem_table_clone(struct mem_table *table);

/**
 * mem_table_count() - The number of leaves in a table.
 * @table: The table, or NULL (0).
 *
 * Leaves stored through the additions are counted as they come and go. A
 * slot handed out by mem_table_create() may be filled behind the table's
 * back at any time, before or after a count: once a table has handed one
 * out, every count walks the table, so that a slot is counted as soon as it
 * is filled, whenever count is called.
 *
 * Context: O(1) for a table never given to mem_table_create(); O(tables)
 * after one.
 * Return: The number of leaves, large ones counting one each.
 */
MEM_TABLE_API size_t mem_table_count(struct mem_table *table);

/* What a table holds and costs: see mem_table_stats(). */
struct mem_table_stats {
	unsigned int nlevels;
	size_t leaves[MEM_TABLE_MAX_LEVELS];  /* by level, 0 = smallest pages */
	size_t values[MEM_TABLE_MAX_LEVELS];  /* how many of those are value entries */
	size_t tables[MEM_TABLE_MAX_LEVELS];  /* by level, the root included */
	size_t count;                         /* leaves in all */
	size_t pages;                         /* smallest pages covered by leaves */
	size_t bytes;                         /* bytes held by the tables */
};

/**
 * mem_table_stats() - Count what a table holds and what it costs.
 * @table: The table.
 * @stats: Filled in.
 *
 * Context: Walks every table; does not allocate.
 * Return: 0, or -EINVAL for NULL arguments.
 */
MEM_TABLE_API int mem_table_stats(struct mem_table *table, struct mem_table_stats *stats);

/**
 * typedef mem_table_run_fn - Called by mem_table_stats_walk() for each run of leaves.
 * @run: Consecutive slots of one table, from a leaf to a leaf, as
 *       mem_table_next_run() describes them, with no table among them: the
 *       other slots are NULL or reservations.
 * @arg: mem_table_stats_walk()'s @arg.
 *
 * Return: 0 to go on, anything else to stop the walk with that value. It
 * must not modify the table.
 */
typedef int (*mem_table_run_fn)(const struct mem_table_run *run, void *arg);

/**
 * mem_table_stats_walk() - Count what a table holds, handing out its leaves on the way.
 * @table: The table.
 * @stats: Filled in, as by mem_table_stats().
 * @fn: Called with the leaves in ascending address order, a run of slots
 *	at a time: a table of pages in one run, a table above in the runs
 *	between its tables; NULL for none.
 * @arg: Passed to @fn.
 *
 * One walk for a caller that wants a table's statistics and its leaves: a
 * table of scattered pages is mostly empty slots, and each walk reads them
 * all. The caller scans each run in a tight loop, as after
 * mem_table_next_run(); a run the size of a table is one call. Each run's
 * @occupied has exactly the groups of slots that hold a leaf: the caller
 * reads those, and a table of a few scattered pages a few cache lines of it,
 * not all of it again.
 *
 * Context: Does not allocate.
 * Return: 0; the first non-zero value @fn returned, which stops the walk
 * (@stats then counts what was walked); -EINVAL for a NULL table or @stats.
 */
MEM_TABLE_API int mem_table_stats_walk(struct mem_table *table, struct mem_table_stats *stats,
				       mem_table_run_fn fn, void *arg);


/*
 * Concurrent readers (userspace RCU, liburcu's memb flavour).
 *
 * A table made by mem_table_alloc_rcu() can be read by any number of
 * threads while one writer at a time changes it, as the kernel's XArray is
 * read under rcu_read_lock(): readers take no lock, see every entry either
 * as it was or as it is, and never a freed table or leaf.
 *
 * - Readers call mem_table_load() and mem_table_walk() between
 *   mem_table_rcu_read_lock() and mem_table_rcu_read_unlock() (or liburcu's
 *   urcu_memb_read_lock() in a thread registered with urcu_memb), and use
 *   what they read only there. mem_table_lookup() (plain loads), the
 *   faithful mem_table_find(), mem_table_next() and mem_table_count() are
 *   not for readers.
 * - Writers: the caller serialises them (one at a time, with its own
 *   lock), as the RFC leaves locking to the caller; every other function
 *   is a writer's. Every new table and entry is published with a release
 *   store; every table and leaf a writer unlinks is freed (ops->free for a
 *   pointer) only after a grace period, through call_rcu(). A leaf handed
 *   back to the caller (mem_table_store()'s @old, mem_table_erase()) may
 *   still be read: pass it to mem_table_rcu_free_leaf(), not to ops->free.
 *   mem_table_create() is refused (EOPNOTSUPP): its slot would be filled
 *   by a plain store.
 * - mem_table_free() defers the whole table; @ops must stay valid until
 *   mem_table_rcu_barrier() has returned after it.
 */

/**
 * mem_table_alloc_rcu() - Allocate an empty table for concurrent readers.
 * @geo: The geometry (copied: it need not outlive the table).
 * @ops: As for mem_table_alloc().
 *
 * Context: Allocates the root and a copy of @geo.
 * Return: The table, or NULL with errno EINVAL or ENOMEM.
 */
MEM_TABLE_API struct mem_table *mem_table_alloc_rcu(const struct mem_table_geometry *geo,
						    struct mem_table_ops *ops);

/**
 * mem_table_is_rcu() - Was @table made by mem_table_alloc_rcu()?
 * @table: The table.
 *
 * Context: Any.
 */
MEM_TABLE_API bool mem_table_is_rcu(const struct mem_table *table);

/**
 * mem_table_rcu_read_lock() - Begin a read-side critical section.
 *
 * The first call in a thread registers it with liburcu (urcu_memb), and the
 * thread is unregistered when it exits. Sections nest.
 *
 * Context: Any thread; never blocks, never allocates after the first call.
 */
MEM_TABLE_API void mem_table_rcu_read_lock(void);

/**
 * mem_table_rcu_read_unlock() - End a read-side critical section.
 *
 * Context: The thread of the matching mem_table_rcu_read_lock().
 */
MEM_TABLE_API void mem_table_rcu_read_unlock(void);

/**
 * mem_table_rcu_free_leaf() - Release a leaf after a grace period.
 * @table: The table the leaf was in (for its ops).
 * @entry: The leaf, handed back by mem_table_store() or mem_table_erase();
 *         a value entry or NULL is ignored.
 *
 * For a table not made for concurrent use, ops->free(@entry) at once.
 *
 * Context: A writer's; not inside a read-side critical section.
 */
MEM_TABLE_API void mem_table_rcu_free_leaf(struct mem_table *table, void *entry);

/**
 * mem_table_rcu_barrier() - Wait until every deferred free has been done.
 *
 * Context: Blocks for at least a grace period; not inside a read-side
 * critical section.
 */
MEM_TABLE_API void mem_table_rcu_barrier(void);

#ifdef __cplusplus
}
#endif

#endif /* __MEM_TABLE_H__ */
