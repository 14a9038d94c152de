// SPDX-License-Identifier: GPL-2.0-only
/*
 * Memory table feature - additions past the RFC.
 *
 * The RFC says where it was going: "Information can be stored for large
 * pages" and "We will support large page entries in mem_table in a future
 * version thanks to extra mem_table_ops's merge() and split() operations".
 * This file does that, and adds what real users need: erase, ordered walks,
 * clones, counts and statistics, value entries, ranges, reservations and
 * per-table geometry. It only adds: mem_table.c keeps the RFC's code.
 *
 * Conventions, as in mem_table.c: @table is a root, @pa a physical address,
 * the caller serialises access. Inside this file a level is a struct
 * mem_table_level (number 0 = smallest page); the API takes and reports
 * base-relative level numbers (PG_LEVEL_4K...), converted at the edge.
 * Every operation either succeeds or leaves the table exactly as it was: all
 * allocation (and every ops->split call) happens before the first change.
 *
 * Copyright © 2026 the memtable authors.
 */
#include <assert.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>
#include <urcu/urcu-memb.h>

#include "mem_table_internal.h"

/*
 * A table's slots start at its size: the Swift layer's inline walk finds
 * them there (what it sees of struct mem_table is its size).
 */
_Static_assert(offsetof(struct mem_table, entries) == sizeof(struct mem_table),
	       "struct mem_table's entries start at its size");

/* ---------------------------------------------------------------- geometry */

/* A level of a geometry whose levels below the root are all 2^bits wide. */
#define GEO_BITS(ps, b, pb, n) \
	((int)(pb) - (int)(ps) - (int)(n) * (int)(b) <= 0 ? 0 : \
	 (int)(pb) - (int)(ps) - (int)(n) * (int)(b) < (int)(b) ? \
	 (int)(pb) - (int)(ps) - (int)(n) * (int)(b) : (int)(b))
#define GEO_LEVEL(ps, b, pb, n)                                          \
	{ .number = GEO_BITS(ps, b, pb, n) ? (n) : 0,                    \
	  .nentries = GEO_BITS(ps, b, pb, n) ? 1U << GEO_BITS(ps, b, pb, n) : 0, \
	  .shift = GEO_BITS(ps, b, pb, n) ? (ps) + (n) * (b) : 0,        \
	  .mask = GEO_BITS(ps, b, pb, n) ? (1U << GEO_BITS(ps, b, pb, n)) - 1 : 0 }
#define GEOMETRY(ps, b, pb)                                                \
	{ .levels = { GEO_LEVEL(ps, b, pb, 0), GEO_LEVEL(ps, b, pb, 1),    \
		      GEO_LEVEL(ps, b, pb, 2), GEO_LEVEL(ps, b, pb, 3),    \
		      GEO_LEVEL(ps, b, pb, 4), GEO_LEVEL(ps, b, pb, 5) },  \
	  .nlevels = ((pb) - (ps) + (b) - 1) / (b),                        \
	  .base_level = PG_LEVEL_4K,                                       \
	  .page_shift = (ps),                                              \
	  .bits_per_level = (b),                                           \
	  .phys_bits = (pb) }

const struct mem_table_geometry mem_table_geometry_x86_64 = GEOMETRY(12, 9, 46);
const struct mem_table_geometry mem_table_geometry_x86_64_la57 = GEOMETRY(12, 9, 52);
const struct mem_table_geometry mem_table_geometry_arm64_4k = GEOMETRY(12, 9, 48);
const struct mem_table_geometry mem_table_geometry_arm64_16k = GEOMETRY(14, 11, 48);
const struct mem_table_geometry mem_table_geometry_arm64_64k = GEOMETRY(16, 13, 48);

int mem_table_geometry_init(struct mem_table_geometry *geo, unsigned int page_shift,
			    unsigned int bits_per_level, unsigned int phys_bits,
			    unsigned int base_level)
{
	struct mem_table_geometry g = { 0 };
	unsigned int n, shift = page_shift;

	if (!geo || page_shift < 8 || page_shift > 30 || !bits_per_level ||
	    bits_per_level > 16 || phys_bits <= page_shift || phys_bits > 64)
		return -EINVAL;
	for (n = 0; shift < phys_bits; n++) {
		unsigned int bits = phys_bits - shift < bits_per_level ?
					    phys_bits - shift : bits_per_level;

		if (n == MEM_TABLE_MAX_LEVELS)
			return -EINVAL;
		g.levels[n].number = n;
		g.levels[n].nentries = 1U << bits;
		g.levels[n].shift = shift;
		g.levels[n].mask = (1U << bits) - 1;
		shift += bits;
	}
	g.nlevels = n;
	g.base_level = base_level;
	g.page_shift = page_shift;
	g.bits_per_level = bits_per_level;
	g.phys_bits = phys_bits;
	*geo = g;
	return 0;
}

/* A geometry is well formed if its levels chain up to phys_bits. */
static bool _mem_table_geometry_ok(const struct mem_table_geometry *geo)
{
	unsigned int n, shift;

	if (!geo || geo->nlevels < 1 || geo->nlevels > MEM_TABLE_MAX_LEVELS)
		return false;
	shift = geo->levels[0].shift;
	for (n = 0; n < geo->nlevels; n++) {
		const struct mem_table_level *l = &geo->levels[n];

		if (l->number != n || l->shift != shift || l->nentries < 2 ||
		    l->nentries & l->mask || l->mask != l->nentries - 1)
			return false;
		shift += ilog2(l->nentries);
	}
	return shift <= 64 && shift >= geo->phys_bits;
}

struct mem_table *mem_table_alloc_geometry(const struct mem_table_geometry *geo,
					   struct mem_table_ops *ops)
{
	if (!_mem_table_geometry_ok(geo)) {
		errno = EINVAL;
		return NULL;
	}
	/* Tables never write their levels: the cast drops no promise. */
	return _mem_table_alloc_root((struct mem_table_level *)(uintptr_t)&geo->levels[geo->nlevels - 1],
				     ops);
}

struct mem_table *mem_table_alloc_rcu(const struct mem_table_geometry *geo,
				      struct mem_table_ops *ops)
{
	struct mem_table_geometry *own;
	struct mem_table *table;

	if (!_mem_table_geometry_ok(geo)) {
		errno = EINVAL;
		return NULL;
	}
	/* The tables' own copy, flagged: freed after the last of them. */
	own = calloc(1, sizeof(*own));
	if (!own) {
		errno = ENOMEM;
		return NULL;
	}
	*own = *geo;
	own->flags |= MEM_TABLE_GEO_RCU;
	table = _mem_table_alloc_root(&own->levels[own->nlevels - 1], ops);
	if (!table) {
		free(own);
		errno = ENOMEM;
	}
	return table;
}

bool mem_table_is_rcu(const struct mem_table *table)
{
	return table && _mem_table_is_rcu(table);
}

const struct mem_table_geometry *mem_table_get_geometry(const struct mem_table *table)
{
	return table ? _mem_table_geometry(table->level) : NULL;
}

const struct mem_table_geometry *mem_table_init_geometry(void)
{
	return mem_table_global_geometry.nlevels ? &mem_table_global_geometry : NULL;
}

/* ------------------------------------------------------------------ helpers */

static unsigned long _mem_table_index(const struct mem_table_level *level, phys_addr_t pa)
{
	return (pa >> level->shift) & level->mask;
}

/* The bytes an entry of @level covers (at most 2^63 for any sane geometry). */
static phys_addr_t _mem_table_span(const struct mem_table_level *level)
{
	return (phys_addr_t)1 << level->shift;
}

/*
 * Tables allocated ahead of a range operation, so that it cannot fail half
 * way. Every level below the root has tables of one size.
 */
struct pool {
	unsigned int n;
	struct mem_table *tables[4 * MEM_TABLE_MAX_LEVELS];
};

static struct mem_table *_mem_table_new(struct mem_table_level *level, struct mem_table_ops *ops,
				    struct pool *pool)
{
	struct mem_table *next = pool && pool->n ? pool->tables[--pool->n] :
						  calloc(1, _mem_table_size(level));

	if (next) {
		next->level = level;
		next->ops = ops;
		next->changed = true;
	}
	return next;
}

/*
 * Mark a table changed. A table's header shares a cache line with what
 * every lookup reads (its level, its first slots): it is written only if the
 * mark is not set already, so that a writer does not take that line from
 * concurrent readers on every store.
 */
static inline void _mem_table_mark(struct mem_table *table)
{
	if (!table->changed)
		table->changed = true;
}

/* Hand a leaf back to its owner: ops->free, unless it is a value. */
static void _mem_table_release(struct mem_table_ops *ops, void *entry)
{
	if (entry && ops && ops->free && !mem_table_is_value(entry))
		ops->free(entry);
}

static size_t _mem_table_destroy(struct mem_table *table);
static size_t _mem_table_count_leaves(const struct mem_table *table);

/* -------------------------------------------------------------- reclaim */

/*
 * What a writer unlinks from a table that readers may be in (a concurrent
 * table, mem_table_alloc_rcu()) is freed after a grace period: a leaf
 * (ops->free), an emptied table, a subtree with its leaves, the whole
 * table. Elsewhere, at once. A node records each; if there is no memory
 * for one, the writer waits for the grace period itself.
 */
enum _mem_table_retired_kind { RETIRED_LEAF, RETIRED_TABLE, RETIRED_TREE, RETIRED_ROOT };

struct _mem_table_retired {
	struct rcu_head head;
	enum _mem_table_retired_kind kind;
	void *object;
	struct mem_table_ops *ops;
};

static pthread_key_t _mem_table_rcu_key;
static pthread_once_t _mem_table_rcu_once = PTHREAD_ONCE_INIT;
static __thread bool _mem_table_rcu_registered;

static void _mem_table_rcu_thread_exit(void *arg)
{
	(void)arg;
	urcu_memb_unregister_thread();
}

static void _mem_table_rcu_key_init(void)
{
	if (pthread_key_create(&_mem_table_rcu_key, _mem_table_rcu_thread_exit))
		abort();
}

/* liburcu wants readers, and callers of call_rcu(), registered. */
static void _mem_table_rcu_register(void)
{
	if (__builtin_expect(_mem_table_rcu_registered, 1))
		return;
	pthread_once(&_mem_table_rcu_once, _mem_table_rcu_key_init);
	urcu_memb_register_thread();
	/* A non-NULL value, so that the destructor runs at thread exit. */
	pthread_setspecific(_mem_table_rcu_key, &_mem_table_rcu_registered);
	_mem_table_rcu_registered = true;
}

static void _mem_table_reclaim_now(enum _mem_table_retired_kind kind, void *object,
				   struct mem_table_ops *ops)
{
	const struct mem_table_geometry *geo;

	switch (kind) {
	case RETIRED_LEAF:
		ops->free(object);
		break;
	case RETIRED_TABLE:
		free(object);
		break;
	case RETIRED_TREE:
		_mem_table_destroy(object);
		break;
	case RETIRED_ROOT:
		/* The geometry copy goes last: every table of the tree points into it. */
		geo = _mem_table_geometry(((struct mem_table *)object)->level);
		_mem_table_free_now(object);
		free((void *)(uintptr_t)geo);
		break;
	}
}

static void _mem_table_reclaim(struct rcu_head *head)
{
	struct _mem_table_retired *r = caa_container_of(head, struct _mem_table_retired, head);

	_mem_table_reclaim_now(r->kind, r->object, r->ops);
	free(r);
}

static void _mem_table_retire(enum _mem_table_retired_kind kind, void *object,
			      struct mem_table_ops *ops)
{
	struct _mem_table_retired *r;

#ifdef MEM_TABLE_RCU_BROKEN
	/* The deliberately broken build of the stress test: no grace period. */
	_mem_table_reclaim_now(kind, object, ops);
	return;
#endif
	_mem_table_rcu_register();
	r = calloc(1, sizeof(*r));
	if (!r) {
		urcu_memb_synchronize_rcu();
		_mem_table_reclaim_now(kind, object, ops);
		return;
	}
	r->kind = kind;
	r->object = object;
	r->ops = ops;
	urcu_memb_call_rcu(&r->head, _mem_table_reclaim);
}

/* A leaf @table no longer holds (it was published): ops->free, maybe later. */
static void _mem_table_retire_leaf(struct mem_table *table, void *entry)
{
	if (!entry || mem_table_is_value(entry) || !table->ops || !table->ops->free)
		return;
	if (_mem_table_is_rcu(table))
		_mem_table_retire(RETIRED_LEAF, entry, table->ops);
	else
		table->ops->free(entry);
}

/* A table unlinked from @table's tree, its slots cleared or handed on. */
static void _mem_table_retire_table(struct mem_table *table, struct mem_table *gone)
{
	if (_mem_table_is_rcu(table))
		_mem_table_retire(RETIRED_TABLE, gone, NULL);
	else
		free(gone);
}

/* A subtree unlinked from @table's tree, with its leaves; returns its leaves. */
static size_t _mem_table_retire_tree(struct mem_table *table, struct mem_table *gone)
{
	size_t n;

	if (!_mem_table_is_rcu(table))
		return _mem_table_destroy(gone);
	n = _mem_table_count_leaves(gone);
	_mem_table_retire(RETIRED_TREE, gone, NULL);
	return n;
}

void _mem_table_retire_root(struct mem_table *table)
{
	_mem_table_retire(RETIRED_ROOT, table, NULL);
}

void mem_table_rcu_read_lock(void)
{
	_mem_table_rcu_register();
	urcu_memb_read_lock();
}

void mem_table_rcu_read_unlock(void)
{
	urcu_memb_read_unlock();
}

void mem_table_rcu_free_leaf(struct mem_table *table, void *entry)
{
	if (table)
		_mem_table_retire_leaf(table, entry);
}

void mem_table_rcu_barrier(void)
{
	_mem_table_rcu_register();
	urcu_memb_barrier();
}

static bool _mem_table_empty(const struct mem_table *table)
{
	unsigned int i;

	for (i = 0; i < table->level->nentries; i++)
		if (table->entries[i])
			return false;
	return true;
}

/*
 * Does the subtree hold a leaf (a pointer leaf, with @pointers)?
 * Reservations do not count.
 */
static bool _mem_table_has_leaf(const struct mem_table *table, bool pointers)
{
	unsigned int i;

	for (i = 0; i < table->level->nentries; i++) {
		void *e = table->entries[i];

		if (!e || mem_table_is_reserved(e) || (pointers && mem_table_is_value(e)))
			continue;
		if (IS_LEAF(e) || _mem_table_has_leaf(TABLE(e), pointers))
			return true;
	}
	return false;
}

/* Leaves in a subtree, for a recount. */
static size_t _mem_table_count_leaves(const struct mem_table *table)
{
	size_t n = 0;
	unsigned int i;

	for (i = 0; i < table->level->nentries; i++) {
		void *e = table->entries[i];

		if (!e || mem_table_is_reserved(e))
			continue;
		n += IS_LEAF(e) ? 1 : _mem_table_count_leaves(TABLE(e));
	}
	return n;
}

/* Release every leaf of a subtree and free its tables; returns the leaves. */
static size_t _mem_table_destroy(struct mem_table *table)
{
	size_t n = 0;
	unsigned int i;

	for (i = 0; i < table->level->nentries; i++) {
		void *e = table->entries[i];

		if (!e || mem_table_is_reserved(e))
			continue;
		if (IS_LEAF(e)) {
			_mem_table_release(table->ops, e);
			n++;
		} else {
			n += _mem_table_destroy(TABLE(e));
		}
	}
	free(table);
	return n;
}

static struct mem_table_root *_mem_table_root(struct mem_table *table)
{
	return ROOT_INFO(table);
}

/* Before anything that may free a table: the hint may point into it. */
static void _mem_table_hint_forget(struct mem_table *table)
{
	_mem_table_root(table)->hint = NULL;
}

/* Count leaves coming and going (after a mem_table_create(), counts walk). */
static void _mem_table_count_add(struct mem_table *table, long delta)
{
	_mem_table_root(table)->leaves += delta;
}

/*
 * Check what every entry point is given. Converts a base-relative @level to
 * the table's level struct in *@out (when @out is not NULL).
 */
static inline int _mem_table_check(struct mem_table *table, phys_addr_t pa, unsigned int level,
			 struct mem_table_level **out)
{
	const struct mem_table_geometry *geo;
	unsigned int n;

	if (!table || !_mem_table_is_root(table))
		return -EINVAL;
	if (!_mem_table_in_range(table, pa))
		return -ERANGE;
	if (!out)
		return 0;
	geo = _mem_table_geometry(table->level);
	n = level - geo->base_level;
	if (level < geo->base_level || n >= geo->nlevels)
		return -EINVAL;
	*out = table->level - (table->level->number - n);
	return 0;
}

/* ------------------------------------------------------------------- split */

/*
 * Build in *@out the table that replaces the large leaf @buf (at
 * level->number + 1), its children at @level, split further along @pa down
 * to @target. @buf stays the caller's: it is released only once the caller
 * has linked the result. Returns 0; or, having changed and leaked nothing,
 * -ENOMEM if an allocation failed or ops->split refused, -EEXIST if there is
 * no ops->split.
 */
static int _mem_table_split_leaf(struct mem_table_ops *ops, void *buf,
				 struct mem_table_level *level, phys_addr_t pa,
				 const struct mem_table_level *target, struct pool *pool,
				 struct mem_table **out)
{
	unsigned int number = _mem_table_level_number(level);
	bool value = mem_table_is_value(buf);
	struct mem_table *next, *sub;
	unsigned long i, j;
	void *child;
	int err;

	if (!value && !(ops && ops->split))
		return -EEXIST;
	next = _mem_table_new(level, ops, pool);
	if (!next)
		return -ENOMEM;
	for (j = 0; j < level->nentries; j++) {
		child = value ? buf : ops->split(buf, number);
		if (!child || !IS_LEAF(child)) {
			/* A child that is not a leaf was the consumer's bug, refused. */
			_mem_table_destroy(next);
			return -ENOMEM;
		}
		next->entries[j] = child;
	}
	if (level > target) {
		i = _mem_table_index(level, pa);
		err = _mem_table_split_leaf(ops, next->entries[i], level - 1, pa, target, pool, &sub);
		if (err) {
			_mem_table_destroy(next);
			return err;
		}
		child = next->entries[i];
		next->entries[i] = ENTRY(sub);
		_mem_table_release(ops, child);
	}
	*out = next;
	return 0;
}

/*
 * The slot of @target's level covering @pa, in *@out, making the tables on
 * the way and splitting a larger leaf in the way. Returns 0, or a negative
 * errno with the table exactly as it was: only the level that made a table
 * undoes it.
 */
static int _mem_table_slot(struct mem_table *table, phys_addr_t pa,
			   const struct mem_table_level *target, struct pool *pool, long *added,
			   void ***out)
{
	struct mem_table_level *level = table->level;
	void **entries = table->entries;
	unsigned long i = _mem_table_index(level, pa);
	struct mem_table *next = NULL;
	void *old = entries[i];
	int err;

	if (level == target) {
		/* The caller changes this slot: its table changed, as on the path. */
		_mem_table_mark(table);
		*out = &entries[i];
		return 0;
	}
	if (!old || mem_table_is_reserved(old)) {
		next = _mem_table_new(level - 1, table->ops, pool);
		if (!next)
			return -ENOMEM;
		MEM_TABLE_PUBLISH(&entries[i], ENTRY(next));
	} else if (IS_LEAF(old)) {
		/* Nothing can fail after the split: its path reaches @target. */
		err = _mem_table_split_leaf(table->ops, old, level - 1, pa, target, pool, &next);
		if (err)
			return err;
		MEM_TABLE_PUBLISH(&entries[i], ENTRY(next));
		_mem_table_retire_leaf(table, old);
		_mem_table_mark(table);
		/* One leaf became a table of them, at each level split. */
		for (level--; level >= target; level--)
			*added += (long)level->nentries - 1;
		return _mem_table_slot(next, pa, target, pool, added, out);
	}
	err = _mem_table_slot(TABLE(entries[i]), pa, target, pool, added, out);
	if (err && next) {
		/* Readers may have seen it (empty): it goes as an unlinked table does. */
		MEM_TABLE_PUBLISH(&entries[i], old);
		_mem_table_retire_table(table, next);
	}
	if (!err)
		_mem_table_mark(table);
	return err;
}

/* Mark changed the tables from the root down to the one holding @target's slot. */
static void _mem_table_mark_path(struct mem_table *table, phys_addr_t pa,
				 const struct mem_table_level *target)
{
	for (;;) {
		void *e;

		_mem_table_mark(table);
		if (table->level == target)
			return;
		e = table->entries[_mem_table_index(table->level, pa)];
		if (!mem_table_is_table(e))
			return;
		table = TABLE(e);
	}
}

/* The slot of @target's level covering @pa if the path exists, else NULL. */
static void **_mem_table_path_slot(struct mem_table *table, phys_addr_t pa,
			   const struct mem_table_level *target)
{
	while (table->level != target) {
		void *e = table->entries[_mem_table_index(table->level, pa)];

		if (!e || !mem_table_is_table(e))
			return NULL;
		table = TABLE(e);
	}
	return &table->entries[_mem_table_index(table->level, pa)];
}

/* The slot of the leaf covering @pa, and its level, or NULL. */
static void **_mem_table_leaf_slot(struct mem_table *table, phys_addr_t pa,
			 struct mem_table_level **level)
{
	for (;;) {
		void **slot = &table->entries[_mem_table_index(table->level, pa)];
		void *e = MEM_TABLE_READ(slot);

		if (!e || mem_table_is_reserved(e))
			return NULL;
		if (IS_LEAF(e)) {
			*level = table->level;
			return slot;
		}
		table = TABLE(e);
	}
}

/* ------------------------------------------------------------ store, load */

static bool _mem_table_aligned(const struct mem_table_level *level, phys_addr_t pa)
{
	return !level->number || !(pa & (_mem_table_span(level) - 1));
}

/*
 * The walk of _mem_table_store_page() when the hint does not hold @pa's page: a loop
 * down the levels, making the tables that are missing, then the hint set to
 * the page's table. Returns that table; NULL with *@ret = 1 if a large leaf
 * is on the way (the store takes the general path), or -ENOMEM if a table
 * could not be made (what this call made is unmade). Out of line, so that
 * the hinted store stays small.
 */
static __attribute__((noinline)) struct mem_table *
_mem_table_store_page_walk(struct mem_table *table, phys_addr_t pa, int *ret)
{
	void **made[MEM_TABLE_MAX_LEVELS], *was[MEM_TABLE_MAX_LEVELS];
	struct mem_table *t = table, *next, *path[MEM_TABLE_MAX_LEVELS];
	struct mem_table_level *level = table->level, *page = level - level->number;
	struct mem_table_root *root = _mem_table_root(table);
	unsigned int n = 0, depth = 0, i;
	void **slot;

	/* A child is one level down: the level is known before the child is. */
	for (; level->number; level--) {
		path[depth++] = t;
		slot = &t->entries[_mem_table_index(level, pa)];
		if (mem_table_is_table(*slot)) {
			t = TABLE(*slot);
			continue;
		}
		if (*slot && !mem_table_is_reserved(*slot)) {
			*ret = 1;
			goto undo;
		}
		next = _mem_table_new(level - 1, t->ops, NULL);
		if (!next) {
			*ret = -ENOMEM;
			goto undo;
		}
		made[n] = slot;
		was[n++] = *slot;
		MEM_TABLE_PUBLISH(slot, ENTRY(next));
		t = next;
	}
	/* The next page store in this table starts here. */
	root->hint = t;
	root->hint_base = pa & ~(((phys_addr_t)page->nentries << page->shift) - 1);
	root->hint_depth = depth ? depth - 1 : 0;
	for (i = 1; i < depth; i++)
		root->hint_path[i - 1] = path[i];
	return t;
undo:
	while (n--) {
		struct mem_table *gone = TABLE(*made[n]);

		MEM_TABLE_PUBLISH(made[n], was[n]);
		_mem_table_retire_table(table, gone);
	}
	return NULL;
}

/*
 * The table of pages that holds @pa, for a store: the table of the last page
 * stored, or the walk down the levels (which makes what is missing), its path
 * marked changed as the RFC's create does. NULL with *@ret = 1 if a large leaf
 * is on the way, -ENOMEM if a table could not be made (nothing changed).
 */
static inline struct mem_table *_mem_table_hinted(struct mem_table *table, phys_addr_t pa, int *ret)
{
	struct mem_table_level *page = table->level - table->level->number;
	struct mem_table_root *root = _mem_table_root(table);
	struct mem_table *t = root->hint;
	unsigned int i;

	if (!t || pa - root->hint_base >= (phys_addr_t)page->nentries << page->shift) {
		t = _mem_table_store_page_walk(table, pa, ret);
		if (!t)
			return NULL;
	}
	_mem_table_mark(table);
	for (i = 0; i < root->hint_depth; i++)
		_mem_table_mark(root->hint_path[i]);
	_mem_table_mark(t);
	return t;
}

/*
 * The fast path of mem_table_store() for a page: straight to the slot in
 * the table of the last page stored, or the walk down the levels. A large
 * leaf on the way sends the store to the general path (1); a failed
 * allocation changes nothing (-ENOMEM).
 */
static inline int _mem_table_store_page(struct mem_table *table, phys_addr_t pa, void *entry, void **old)
{
	struct mem_table_level *page = table->level - table->level->number;
	struct mem_table_root *root = _mem_table_root(table);
	struct mem_table *t;
	void **slot, *prev;
	int ret;

	t = _mem_table_hinted(table, pa, &ret);
	if (!t)
		return ret;
	slot = &t->entries[_mem_table_index(page, pa)];
	prev = mem_table_is_reserved(*slot) ? NULL : *slot;
	MEM_TABLE_PUBLISH(slot, entry);
	root->leaves += !prev;
	if (old)
		*old = prev;
	else
		_mem_table_retire_leaf(table, prev);
	return 0;
}

int mem_table_store(struct mem_table *table, phys_addr_t pa, unsigned int level,
		    void *entry, void **old)
{
	struct mem_table_level *target;
	void **slot, *prev;
	long added = 0;
	int err = _mem_table_check(table, pa, level, &target);

	if (err)
		return err;
	if (!entry || !IS_LEAF(entry) || !_mem_table_aligned(target, pa))
		return -EINVAL;
	if (!target->number) {
		err = _mem_table_store_page(table, pa, entry, old);
		if (err <= 0)
			return err;
	}
	_mem_table_hint_forget(table);
	/* Smaller leaves under the range would be lost: refuse, change nothing. */
	slot = _mem_table_path_slot(table, pa, target);
	if (slot && mem_table_is_table(*slot) && _mem_table_has_leaf(TABLE(*slot), false))
		return -EEXIST;

	err = _mem_table_slot(table, pa, target, NULL, &added, &slot);
	if (err)
		return err;
	prev = *slot;
	MEM_TABLE_PUBLISH(slot, entry);
	if (mem_table_is_reserved(prev)) {
		prev = NULL;
	} else if (prev && !IS_LEAF(prev)) {
		_mem_table_retire_tree(table, TABLE(prev)); /* no leaves: only tables */
		prev = NULL;
	}
	_mem_table_count_add(table, added + (prev ? 0 : 1));
	if (old)
		*old = prev;
	else
		_mem_table_retire_leaf(table, prev);
	return 0;
}

void *mem_table_load(struct mem_table *table, phys_addr_t pa, unsigned int *level)
{
	struct mem_table_level *l;

	if (_mem_table_check(table, pa, 0, NULL))
		return NULL;
	/* Each slot read once: a concurrent writer may change it behind us. */
	for (l = table->level;; l--) {
		void *e = MEM_TABLE_READ(&table->entries[_mem_table_index(l, pa)]);

		if (!e || mem_table_is_reserved(e))
			return NULL;
		if (IS_LEAF(e)) {
			if (level)
				*level = _mem_table_level_number(l);
			return e;
		}
		table = TABLE(e);
	}
}

int mem_table_reserve(struct mem_table *table, phys_addr_t pa, unsigned int level)
{
	struct mem_table_level *target;
	long added = 0;
	void **slot;
	int err = _mem_table_check(table, pa, level, &target);

	if (err)
		return err;
	if (!_mem_table_aligned(target, pa))
		return -EINVAL;
	slot = _mem_table_path_slot(table, pa, target);
	if (slot && *slot)
		return mem_table_is_table(*slot) && _mem_table_has_leaf(TABLE(*slot), false) ? -EEXIST : 0;
	err = _mem_table_slot(table, pa, target, NULL, &added, &slot);
	if (err)
		return err;
	_mem_table_count_add(table, added);
	if (!*slot)
		MEM_TABLE_PUBLISH(slot, MEM_TABLE_RESERVED);
	return 0;
}

/* ------------------------------------------------------------------- erase */

/*
 * Remove the leaf covering @pa below @table; free the tables it leaves
 * empty. Returns the leaf (NULL if none) and its level in *@level; sets
 * *@emptied if @table itself is empty afterwards. Only a table that lost an
 * entry is scanned for emptiness, so sparse upper tables cost nothing.
 */
static void *_mem_table_erase(struct mem_table *table, phys_addr_t pa, unsigned int *level,
		    bool *emptied)
{
	void **slot = &table->entries[_mem_table_index(table->level, pa)];
	void *e = *slot, *leaf;
	bool child_emptied = false;

	if (!e)
		return NULL;
	if (mem_table_is_reserved(e) || IS_LEAF(e)) {
		MEM_TABLE_PUBLISH(slot, NULL);
		*level = table->level->number;
		*emptied = _mem_table_empty(table);
		if (!mem_table_is_reserved(e) && !*emptied)
			_mem_table_mark(table);
		return mem_table_is_reserved(e) ? NULL : e;
	}
	leaf = _mem_table_erase(TABLE(e), pa, level, &child_emptied);
	if (child_emptied) {
		MEM_TABLE_PUBLISH(slot, NULL);
		_mem_table_retire_table(table, TABLE(e));
		*emptied = _mem_table_empty(table);
	}
	/* The tables that stay on the path changed (mem_table_walk_changed()). */
	if (leaf && !*emptied)
		_mem_table_mark(table);
	return leaf;
}

void *mem_table_erase(struct mem_table *table, phys_addr_t pa, unsigned int *level)
{
	unsigned int number;
	bool emptied = false; /* the root stays, empty or not */
	void *leaf;

	if (_mem_table_check(table, pa, 0, NULL))
		return NULL;
	_mem_table_hint_forget(table);
	leaf = _mem_table_erase(table, pa, &number, &emptied);
	if (!leaf)
		return NULL;
	_mem_table_mark(table);
	_mem_table_count_add(table, -1);
	if (level)
		*level = _mem_table_level_number(table->level - (table->level->number - number));
	return leaf;
}

/* ------------------------------------------------------------ split, merge */

int mem_table_split(struct mem_table *table, phys_addr_t pa, unsigned int level)
{
	struct mem_table_level *target, *at;
	long added = 0;
	void **slot;
	int err = _mem_table_check(table, pa, level, &target);

	if (err)
		return err;
	slot = _mem_table_leaf_slot(table, pa, &at);
	if (!slot)
		return -ENOENT;
	if (at <= target)
		return 0;
	err = _mem_table_slot(table, pa, target, NULL, &added, &slot);
	if (err)
		return err;
	_mem_table_count_add(table, added);
	return 0;
}

int mem_table_merge(struct mem_table *table, phys_addr_t pa, unsigned int level)
{
	struct mem_table_level *target;
	struct mem_table *child;
	unsigned int i, n;
	void **slot, *merged;
	int err = _mem_table_check(table, pa, level, &target);

	if (err)
		return err;
	if (!target->number)
		return -EINVAL;
	_mem_table_hint_forget(table);
	slot = _mem_table_path_slot(table, pa, target);
	if (!slot || !*slot || !mem_table_is_table(*slot))
		return -ENOENT;
	child = TABLE(*slot);
	n = child->level->nentries;
	for (i = 0; i < n; i++)
		if (!child->entries[i] || !IS_LEAF(child->entries[i]))
			return -ENOENT;

	if (mem_table_is_value(child->entries[0])) {
		for (i = 1; i < n; i++)
			if (child->entries[i] != child->entries[0])
				return -EBUSY;
		merged = child->entries[0];
	} else {
		for (i = 1; i < n; i++)
			if (mem_table_is_value(child->entries[i]))
				return -EBUSY;
		if (!table->ops || !table->ops->merge)
			return -EOPNOTSUPP;
		merged = table->ops->merge(child->entries, n, _mem_table_level_number(target));
		if (!merged)
			return -EBUSY;
		if (!IS_LEAF(merged))
			return -EINVAL;
	}
	MEM_TABLE_PUBLISH(slot, merged);
	/* The children go with their table (ops->free for pointers). */
	_mem_table_retire_tree(table, child);
	_mem_table_mark_path(table, pa, target);
	_mem_table_count_add(table, 1 - (long)n);
	return 0;
}

/* ------------------------------------------------------------------ ranges */

/*
 * A range operation first splits the leaves that cross its edges, and (to
 * store) makes the tables of its edge pieces; nothing else needs a table:
 * the pieces in the middle are large. The tables those steps need are
 * counted by a dry run and allocated into a pool before anything changes.
 */

/* The largest level whose entries @pa is aligned to. */
static struct mem_table_level *_mem_table_aligned_level(struct mem_table *table, phys_addr_t pa)
{
	struct mem_table_level *level = table->level;

	while (level->number && (pa & (_mem_table_span(level) - 1)))
		level--;
	return level;
}

/*
 * The level of the largest aligned piece starting at @pa and ending by
 * @last (inclusive, so that a range may end at 2^64).
 */
static struct mem_table_level *_mem_table_piece(struct mem_table *table, phys_addr_t pa, phys_addr_t last)
{
	struct mem_table_level *level = _mem_table_aligned_level(table, pa);

	while (level->number && last - pa < _mem_table_span(level) - 1)
		level--;
	return level;
}

/*
 * The tables that _mem_table_slot(table, @pa, @target) would make (@store) or that
 * splitting the leaf above @target would (!@store); sets *@nosplit if a
 * pointer leaf is in the way and there is no ops->split.
 */
static unsigned int _mem_table_tables_needed(struct mem_table *table, phys_addr_t pa,
				   const struct mem_table_level *target, bool store,
				   bool *nosplit)
{
	while (table->level != target) {
		void *e = table->entries[_mem_table_index(table->level, pa)];

		if (mem_table_is_table(e)) {
			table = TABLE(e);
			continue;
		}
		if (mem_table_is_pointer(e) && !(table->ops && table->ops->split))
			*nosplit = true;
		if (!store && (!e || mem_table_is_reserved(e)))
			return 0;
		return table->level->number - target->number;
	}
	return 0;
}

static void _mem_table_pool_drain(struct pool *pool)
{
	while (pool->n)
		free(pool->tables[--pool->n]);
}

static int _mem_table_pool_fill(struct pool *pool, struct mem_table *table, unsigned int n)
{
	size_t size = _mem_table_size(table->level - 1);

	/* Two edges, each at most one table per level below the root. */
	assert(n <= sizeof(pool->tables) / sizeof(pool->tables[0]));
	pool->n = 0;
	while (pool->n < n) {
		struct mem_table *t = calloc(1, size);

		if (!t) {
			_mem_table_pool_drain(pool);
			return -ENOMEM;
		}
		pool->tables[pool->n++] = t;
	}
	return 0;
}

/* Check a range's arguments: [@start, @last], whole pages. */
static int _mem_table_check_range(struct mem_table *table, phys_addr_t start, phys_addr_t last)
{
	phys_addr_t page;
	int err = _mem_table_check(table, start, 0, NULL);

	if (err)
		return err;
	page = (phys_addr_t)1 << _mem_table_geometry(table->level)->levels[0].shift;
	if (last < start || start & (page - 1) || (last & (page - 1)) != page - 1)
		return -EINVAL;
	if (!_mem_table_in_range(table, last))
		return -ERANGE;
	return 0;
}

/*
 * Split, inside a table made by _mem_table_split_leaf() and not linked yet, the leaf on
 * the way to @pa down to @target; the leaf it replaces was made by
 * ops->split, so it is released at once. The table stays whole on failure.
 */
static int _mem_table_split_inside(struct mem_table *sub, phys_addr_t pa,
			 const struct mem_table_level *target, struct pool *pool)
{
	for (;;) {
		void **slot = &sub->entries[_mem_table_index(sub->level, pa)];
		struct mem_table *next;
		void *old = *slot;
		int err;

		if (mem_table_is_table(old)) {
			sub = TABLE(old);
			continue;
		}
		if (sub->level <= target)
			return 0;
		err = _mem_table_split_leaf(sub->ops, old, sub->level - 1, pa, target, pool, &next);
		if (err)
			return err;
		*slot = ENTRY(next);
		_mem_table_release(sub->ops, old);
		return 0;
	}
}

/*
 * Get [@start, @last] ready for a range operation: split the leaves across
 * its two edges down to the edge pieces' levels and, to @store, make the
 * slots of the edge pieces. All or nothing: the tables come from a pool
 * filled first, and every ops->split call is made while building the new
 * tables off to the side (two edges in one leaf: the second split inside
 * the first's tables), so that a refusal finds the table as it was. Only
 * then are the split tables linked, the old leaves released, and the edge
 * paths made and marked changed; none of that can fail.
 */
static int _mem_table_prepare_range(struct mem_table *table, phys_addr_t start, phys_addr_t last,
			  bool store)
{
	struct mem_table_level *edge_level[2], *at;
	struct mem_table *sub[2] = { NULL, NULL };
	void **leaf[2] = { NULL, NULL };
	bool split[2] = { false, false };
	phys_addr_t pa, edge[2];
	unsigned int k, n = 0;
	bool nosplit = false;
	struct pool pool;
	long added = 0;
	int err = 0;

	if (!table->level->number)
		return 0;
	/* The first and the last piece. */
	edge[0] = start;
	edge_level[0] = _mem_table_piece(table, start, last);
	for (pa = start;; pa += _mem_table_span(edge_level[1])) {
		struct mem_table_level *l = _mem_table_piece(table, pa, last);
		phys_addr_t span = _mem_table_span(l);
		/* Whole pieces of this size after this one, and slots after it in its table. */
		phys_addr_t fit = (last - pa - (span - 1)) / span;
		phys_addr_t more = l->nentries - 1 - _mem_table_index(l, pa);

		/* Those in the same table are pieces of this level too: skip to the last. */
		pa += (fit < more ? fit : more) * span;
		edge[1] = pa;
		edge_level[1] = l;
		if (last - pa == span - 1)
			break;
	}
	for (k = 0; k < 2; k++)
		n += _mem_table_tables_needed(table, edge[k], edge_level[k], store, &nosplit);
	if (nosplit)
		return -EEXIST;
	if (_mem_table_pool_fill(&pool, table, n))
		return -ENOMEM;

	/* Every split off to the side: the table does not change. */
	for (k = 0; k < 2 && !err; k++) {
		void **slot = _mem_table_leaf_slot(table, edge[k], &at);

		if (!slot || at <= edge_level[k])
			continue;
		split[k] = true;
		if (k == 1 && slot == leaf[0]) {
			err = _mem_table_split_inside(sub[0], edge[1], edge_level[1], &pool);
			continue;
		}
		err = _mem_table_split_leaf(table->ops, *slot, at - 1, edge[k], edge_level[k], &pool,
					    &sub[k]);
		if (err)
			sub[k] = NULL;
		leaf[k] = slot;
	}
	if (err) {
		for (k = 0; k < 2; k++)
			if (sub[k])
				_mem_table_destroy(sub[k]);
		_mem_table_pool_drain(&pool);
		return err;
	}

	/* Link, release, make the paths: nothing fails from here on. */
	for (k = 0; k < 2; k++) {
		void *old;

		if (!sub[k])
			continue;
		old = *leaf[k];
		MEM_TABLE_PUBLISH(leaf[k], ENTRY(sub[k]));
		_mem_table_retire_leaf(table, old);
		added += (long)_mem_table_count_leaves(sub[k]) - 1;
	}
	for (k = 0; k < 2; k++) {
		void **slot;

		if ((store || split[k]) &&
		    _mem_table_slot(table, edge[k], edge_level[k], &pool, &added, &slot))
			abort(); /* the pool was counted short: a bug, not a state to leave */
	}
	_mem_table_pool_drain(&pool);
	_mem_table_count_add(table, added);
	return 0;
}

/*
 * Remove what lies in [@start, @last] under @table (whose first address is
 * @base); the edges were split first. Returns the leaves removed.
 */
static size_t _mem_table_erase_in(struct mem_table *table, phys_addr_t base, phys_addr_t start,
			   phys_addr_t last)
{
	const struct mem_table_level *level = table->level;
	phys_addr_t span = _mem_table_span(level);
	unsigned long i = start > base ? (start - base) >> level->shift : 0;
	size_t n = 0;

	for (; i < level->nentries; i++) {
		phys_addr_t lo = base + i * span, hi = lo + (span - 1);
		void *e = table->entries[i];

		if (lo > last)
			break;
		if (!e)
			continue;
		if (start <= lo && hi <= last) {
			MEM_TABLE_PUBLISH(&table->entries[i], NULL);
			if (mem_table_is_reserved(e)) {
				/* nothing to release */
			} else if (IS_LEAF(e)) {
				_mem_table_retire_leaf(table, e);
				n++;
			} else {
				n += _mem_table_retire_tree(table, TABLE(e));
			}
		} else if (mem_table_is_table(e)) {
			n += _mem_table_erase_in(TABLE(e), lo, start, last);
			if (_mem_table_empty(TABLE(e))) {
				MEM_TABLE_PUBLISH(&table->entries[i], NULL);
				_mem_table_retire_table(table, TABLE(e));
			}
		}
	}
	if (n)
		_mem_table_mark(table);
	return n;
}

static long _mem_table_erase_range_last(struct mem_table *table, phys_addr_t start, phys_addr_t last)
{
	size_t n;
	int err = _mem_table_check_range(table, start, last);

	if (err)
		return err;
	_mem_table_hint_forget(table);
	err = _mem_table_prepare_range(table, start, last, false);
	if (err)
		return err;
	n = _mem_table_erase_in(table, 0, start, last);
	_mem_table_count_add(table, -(long)n);
	return (long)n;
}

long mem_table_erase_range(struct mem_table *table, phys_addr_t start, phys_addr_t end)
{
	int err = _mem_table_check(table, start, 0, NULL);

	if (err)
		return err;
	if (end <= start)
		return -EINVAL;
	return _mem_table_erase_range_last(table, start, end - 1);
}

long mem_table_erase_range_incl(struct mem_table *table, phys_addr_t first, phys_addr_t last)
{
	return _mem_table_erase_range_last(table, first, last);
}

/*
 * Whether [@start, @last] lies in one table of pages and is not all of it (all of
 * it is one entry of the level above).
 */
static inline bool _mem_table_within_page_table(struct mem_table *table, phys_addr_t start,
						phys_addr_t last)
{
	const struct mem_table_level *page = table->level - table->level->number;
	phys_addr_t span = (phys_addr_t)page->nentries << page->shift;

	return (start ^ last) < span && last - start < span - ((phys_addr_t)1 << page->shift);
}

/*
 * A range store inside one table of pages (a scan's runs of frames are mostly
 * short): the table as for one page, through the hint, then its slots, rather
 * than the general path's edge pieces and pool, which cost more than a short
 * range's stores. 1 where a large leaf covers the range (the general path
 * splits it); -ENOMEM changes nothing.
 */
static int _mem_table_store_pages(struct mem_table *table, phys_addr_t start, phys_addr_t last,
				  void *entry)
{
	struct mem_table_level *page = table->level - table->level->number;
	unsigned int i = _mem_table_index(page, start), end = _mem_table_index(page, last);
	struct mem_table *t;
	long added = 0;
	int ret;

	t = _mem_table_hinted(table, start, &ret);
	if (!t)
		return ret;
	for (; i <= end; i++) {
		void *prev = t->entries[i];

		MEM_TABLE_PUBLISH(&t->entries[i], entry);
		if (prev && !mem_table_is_reserved(prev))
			_mem_table_retire_leaf(table, prev);
		else
			added++;
	}
	_mem_table_count_add(table, added);
	return 0;
}

static int _mem_table_store_range_last(struct mem_table *table, phys_addr_t start, phys_addr_t last,
				  void *entry)
{
	long delta = 0;
	phys_addr_t pa;
	int err = _mem_table_check_range(table, start, last);

	if (err)
		return err;
	if (!entry || !IS_LEAF(entry) ||
	    (!mem_table_is_value(entry) && table->ops && table->ops->free))
		return -EINVAL;
	if (_mem_table_within_page_table(table, start, last)) {
		err = _mem_table_store_pages(table, start, last, entry);
		if (err <= 0)
			return err;
	}
	_mem_table_hint_forget(table);
	err = _mem_table_prepare_range(table, start, last, true);
	if (err)
		return err;
	/*
	 * Every piece's path exists now: _mem_table_slot() allocates nothing. It walks
	 * from the root to a piece's slot (marking the path changed); the pieces of the
	 * same level that follow in that table are the slots after it (a range of pages
	 * costs a walk per page table, not per page).
	 */
	for (pa = start;;) {
		struct mem_table_level *level = _mem_table_piece(table, pa, last);
		void **slot, *prev;

		_mem_table_slot(table, pa, level, NULL, &delta, &slot);
		for (;;) {
			prev = *slot;
			MEM_TABLE_PUBLISH(slot, entry);
			if (prev && !mem_table_is_reserved(prev)) {
				if (IS_LEAF(prev)) {
					_mem_table_retire_leaf(table, prev);
					delta--;
				} else {
					delta -= (long)_mem_table_retire_tree(table, TABLE(prev));
				}
			}
			delta++;
			if (last - pa == _mem_table_span(level) - 1)
				goto done;
			pa += _mem_table_span(level);
			/*
			 * Within the table (pa not aligned to the level above), the next
			 * piece is of this level if it fits.
			 */
			if (!_mem_table_index(level, pa) || last - pa < _mem_table_span(level) - 1)
				break;
			slot++;
		}
	}
done:
	_mem_table_mark(table);
	_mem_table_count_add(table, delta);
	return 0;
}

int mem_table_store_range(struct mem_table *table, phys_addr_t start, phys_addr_t end,
			  void *entry)
{
	int err = _mem_table_check(table, start, 0, NULL);

	if (err)
		return err;
	if (end <= start)
		return -EINVAL;
	return _mem_table_store_range_last(table, start, end - 1, entry);
}

int mem_table_store_range_incl(struct mem_table *table, phys_addr_t first, phys_addr_t last,
			       void *entry)
{
	return _mem_table_store_range_last(table, first, last, entry);
}

/* ------------------------------------------------------------- walk, next */

static int _mem_table_walk(struct mem_table *table, phys_addr_t base, phys_addr_t start,
		 phys_addr_t last, unsigned int base_level, mem_table_walk_fn fn, void *arg)
{
	const struct mem_table_level *level = table->level;
	phys_addr_t span = _mem_table_span(level);
	unsigned long i = start > base ? (start - base) >> level->shift : 0;
	int ret;

	for (; i < level->nentries; i++) {
		phys_addr_t lo = base + i * span;
		void *e = MEM_TABLE_READ(&table->entries[i]);

		if (lo > last)
			break;
		if (!e || mem_table_is_reserved(e))
			continue;
		if (IS_LEAF(e))
			ret = fn(e, lo, base_level + level->number, arg);
		else
			ret = _mem_table_walk(TABLE(e), lo, start, last, base_level, fn, arg);
		if (ret)
			return ret;
	}
	return 0;
}

int mem_table_walk(struct mem_table *table, phys_addr_t start, phys_addr_t end,
		   mem_table_walk_fn fn, void *arg)
{
	if (!table || !fn || !_mem_table_is_root(table))
		return -EINVAL;
	if (end <= start || !_mem_table_in_range(table, start))
		return 0;
	return _mem_table_walk(table, 0, start, end - 1, _mem_table_geometry(table->level)->base_level,
		     fn, arg);
}

/*
 * Whether any of the eight slots from @slots holds something: the walks skip empty
 * slots eight at a time, since scattered pages leave a table mostly empty. Written
 * out: GCC at -O2 does not unroll a loop over them (Clang does).
 */
static inline bool _mem_table_any8(void *const *slots)
{
#define S(k) ((uintptr_t)slots[k])
	return ((S(0) | S(1)) | (S(2) | S(3)) | ((S(4) | S(5)) | (S(6) | S(7)))) != 0;
#undef S
}

/*
 * The leaves of @table (first address @base), which is marked changed, and
 * of its changed subtables; @table's mark is cleared once all of that was
 * visited, so a walk that @fn stops leaves it set.
 */
static int _mem_table_walk_changed(struct mem_table *table, phys_addr_t base,
				   unsigned int base_level, mem_table_walk_fn fn, void *arg)
{
	const struct mem_table_level *level = table->level;
	phys_addr_t span = _mem_table_span(level);
	unsigned int i;
	int ret = 0;

	for (i = 0; i < level->nentries && !ret; i++) {
		void *e = table->entries[i];

		if (!e || mem_table_is_reserved(e))
			continue;
		if (IS_LEAF(e))
			ret = fn(e, base + i * span, base_level + level->number, arg);
		else if (((struct mem_table *)TABLE(e))->changed)
			ret = _mem_table_walk_changed(TABLE(e), base + i * span, base_level, fn, arg);
	}
	if (!ret)
		table->changed = false;
	return ret;
}

int mem_table_walk_changed(struct mem_table *table, mem_table_walk_fn fn, void *arg)
{
	if (!table || !fn || !_mem_table_is_root(table))
		return -EINVAL;
	if (!table->changed)
		return 0;
	return _mem_table_walk_changed(table, 0, _mem_table_geometry(table->level)->base_level,
				       fn, arg);
}

static void **_mem_table_next(struct mem_table *table, phys_addr_t base, phys_addr_t from,
		    phys_addr_t *pa, struct mem_table_level **level)
{
	phys_addr_t span = _mem_table_span(table->level);
	unsigned long i = from > base ? (from - base) >> table->level->shift : 0;

	for (; i < table->level->nentries; i++) {
		phys_addr_t lo = base + i * span;
		void **slot = &table->entries[i];

		if (!*slot) {
			while (i + 8 < table->level->nentries && !_mem_table_any8(table->entries + i + 1))
				i += 8;
			continue;
		}
		if (mem_table_is_reserved(*slot))
			continue;
		if (IS_LEAF(*slot)) {
			*pa = lo;
			*level = table->level;
			return slot;
		}
		slot = _mem_table_next(TABLE(*slot), lo, from, pa, level);
		if (slot)
			return slot;
	}
	return NULL;
}

void **mem_table_next(struct mem_table *table, phys_addr_t *pa, unsigned int *level)
{
	struct mem_table_level *l;
	phys_addr_t found;
	void **slot;

	if (!pa || _mem_table_check(table, *pa, 0, NULL))
		return NULL;
	slot = _mem_table_next(table, 0, *pa, &found, &l);
	if (!slot)
		return NULL;
	*pa = found;
	if (level)
		*level = _mem_table_level_number(l);
	return slot;
}

/*
 * The last leaf under @table (first address @base) that starts at or before
 * @from, which lies in @table's range.
 */
static void **_mem_table_prev(struct mem_table *table, phys_addr_t base, phys_addr_t from,
		    phys_addr_t *pa, struct mem_table_level **level)
{
	phys_addr_t span = _mem_table_span(table->level);
	unsigned long i = (from - base) >> table->level->shift;

	for (;; i--) {
		phys_addr_t lo = base + i * span, hi = lo + (span - 1);
		void **slot = &table->entries[i];

		if (mem_table_is_table(*slot)) {
			slot = _mem_table_prev(TABLE(*slot), lo, from < hi ? from : hi, pa, level);
			if (slot)
				return slot;
		} else if (*slot && !mem_table_is_reserved(*slot)) {
			*pa = lo;
			*level = table->level;
			return slot;
		}
		if (!i)
			return NULL;
	}
}

void **mem_table_prev(struct mem_table *table, phys_addr_t *pa, unsigned int *level)
{
	struct mem_table_level *l;
	phys_addr_t found;
	void **slot;

	if (!pa || _mem_table_check(table, *pa, 0, NULL))
		return NULL;
	slot = _mem_table_prev(table, 0, *pa, &found, &l);
	if (!slot)
		return NULL;
	*pa = found;
	if (level)
		*level = _mem_table_level_number(l);
	return slot;
}

int mem_table_next_run(struct mem_table *table, phys_addr_t pa, struct mem_table_run *run)
{
	struct mem_table_level *l;
	phys_addr_t found;
	void **slot;
	int err = run ? _mem_table_check(table, pa, 0, NULL) : -EINVAL;

	if (err)
		return err;
	slot = _mem_table_next(table, 0, pa, &found, &l);
	if (!slot)
		return 0;
	run->slots = slot;
	run->count = l->nentries - _mem_table_index(l, found);
	run->pa = found;
	run->shift = l->shift;
	run->level = _mem_table_level_number(l);
	run->group_shift = _mem_table_group_shift(l);
	run->occupied = _mem_table_groups(run->count, run->group_shift);
	return 1;
}

/* ------------------------------------------------------------------- clone */

/* Copy @src's entries into @dst; on failure @dst holds what was copied. */
static int _mem_table_clone(struct mem_table *dst, const struct mem_table *src)
{
	struct mem_table_ops *ops = src->ops;
	unsigned int i;

	for (i = 0; i < src->level->nentries; i++) {
		void *e = src->entries[i], *copy;

		if (!e || mem_table_is_reserved(e) || mem_table_is_value(e)) {
			copy = e;
		} else if (IS_LEAF(e)) {
			copy = ops && ops->free ? ops->clone(e) : e;
			if (!copy || !IS_LEAF(copy))
				return -ENOMEM;
		} else {
			struct mem_table *sub = _mem_table_new(dst->level - 1, ops, NULL);

			if (!sub)
				return -ENOMEM;
			memcpy(sub, TABLE(e), sizeof(*sub));
			sub->level = dst->level - 1; /* the copy's geometry (a concurrent table's own) */
			dst->entries[i] = ENTRY(sub);
			if (_mem_table_clone(sub, TABLE(e)))
				return -ENOMEM;
			continue;
		}
		dst->entries[i] = copy;
	}
	return 0;
}

struct mem_table *mem_table_clone(struct mem_table *table)
{
	struct mem_table *copy;

	if (!table || !_mem_table_is_root(table) ||
	    (table->ops && table->ops->free && !table->ops->clone && _mem_table_has_leaf(table, true))) {
		errno = EINVAL;
		return NULL;
	}
	/* A concurrent table's copy is one too, with a geometry of its own. */
	copy = _mem_table_is_rcu(table) ?
		       mem_table_alloc_rcu(_mem_table_geometry(table->level), table->ops) :
		       _mem_table_alloc_root(table->level, table->ops);
	if (!copy)
		return NULL;
	copy->changed = table->changed;
	*ROOT_INFO(copy) = *ROOT_INFO(table);
	_mem_table_hint_forget(copy); /* it points into @table */
	if (_mem_table_clone(copy, table)) {
		mem_table_free(copy);
		errno = ENOMEM;
		return NULL;
	}
	return copy;
}

/* -------------------------------------------------------------- statistics */

size_t mem_table_count(struct mem_table *table)
{
	if (!table || !_mem_table_is_root(table))
		return 0;
	/* A mem_table_create() slot may be filled at any time: count them all. */
	if (_mem_table_root(table)->created)
		return _mem_table_count_leaves(table);
	return _mem_table_root(table)->leaves;
}

/*
 * Ask for a table's slots ahead of the walk: a table of scattered pages is 4 KiB, most
 * of it empty, that the kernel cleared past the cache and the walk reads whole; line by
 * line, each table would wait for memory again. @size is the table's (its header is
 * not read for it).
 */
static inline void _mem_table_prefetch(const struct mem_table *table, size_t size)
{
	const char *p = (const char *)table;

	for (size_t k = 0; k < size; k += L1_CACHE_BYTES)
		prefetch(p + k);
}

/*
 * Hand @fn the slots @first to @last of @table: leaves, empty slots and reservations;
 * @occupied, the groups of them with a leaf.
 */
static int _mem_table_stats_run(struct mem_table *table, unsigned int first, unsigned int last,
				uint64_t occupied, phys_addr_t base, unsigned int base_level,
				mem_table_run_fn fn, void *arg)
{
	const struct mem_table_level *level = table->level;
	struct mem_table_run run = {
		.slots = table->entries + first,
		.count = last - first + 1,
		.pa = base + ((phys_addr_t)first << level->shift),
		.shift = level->shift,
		.level = base_level + level->number,
		.occupied = occupied,
		.group_shift = _mem_table_group_shift(level),
	};

	return fn(&run, arg);
}

/*
 * A table of the smallest entries, for _mem_table_stats(): leaves only, so a loop
 * that calls nothing and keeps its counts in registers (the general one spills
 * them around its calls), and one run for @fn, from the first leaf to the last.
 */
static int _mem_table_stats_ptes(struct mem_table *table, phys_addr_t base, unsigned int base_level,
				 struct mem_table_stats *stats, mem_table_run_fn fn, void *arg)
{
	const struct mem_table_level *level = table->level;
	const unsigned int group_shift = _mem_table_group_shift(level), n = level->nentries;
	unsigned long leaves = 0, values = 0;
	unsigned int i = 0, first = n, last = 0;
	uint64_t occupied = 0;	/* from the first leaf on */

	/*
	 * Eight slots at a time, without a branch on each: a table of pages that a process
	 * scattered over its frames holds a leaf in one slot of four or five, and a branch
	 * a slot mispredicts at every turn. Eight slots reach two groups at most where a
	 * group is eight slots or more (tables of 512 and more); smaller tables go slot
	 * by slot below. The leaves are counted slot by slot, not by a popcount of @leaf:
	 * x86-64's baseline lacks POPCNT, and GCC calls libgcc's __popcountdi2 there.
	 */
	for (; group_shift >= 3 && i + 8 <= n; i += 8) {
		void *const *slot = table->entries + i;
		unsigned int leaf = 0, nleaf = 0, nvalue = 0, lo, hi;

		if (!_mem_table_any8(slot))
			continue;
		for (unsigned int k = 0; k < 8; k++) {
			unsigned int is = slot[k] && !mem_table_is_reserved(slot[k]);

			leaf |= is << k;
			nleaf += is;
			nvalue += is & mem_table_is_value(slot[k]);
		}
		if (!leaf)
			continue;
		lo = i + __builtin_ctz(leaf);
		hi = i + 31 - __builtin_clz(leaf);
		if (first == n)
			first = lo;
		last = hi;
		occupied |= 1ULL << ((lo - first) >> group_shift) | 1ULL << ((hi - first) >> group_shift);
		leaves += nleaf;
		values += nvalue;
	}
	for (; i < n; i++) {
		void *e = table->entries[i];

		if (!e) {
			while (i + 8 < n && !_mem_table_any8(table->entries + i + 1))
				i += 8;
			continue;
		}
		if (mem_table_is_reserved(e))
			continue;
		if (first == n)
			first = i;
		last = i;
		occupied |= 1ULL << ((i - first) >> group_shift);
		leaves++;
		values += mem_table_is_value(e);
	}
	stats->leaves[0] += leaves;
	stats->values[0] += values;
	stats->count += leaves;
	stats->pages += leaves;
	if (fn && leaves)
		return _mem_table_stats_run(table, first, last, occupied, base, base_level, fn, arg);
	return 0;
}

static int _mem_table_stats(struct mem_table *table, phys_addr_t base, unsigned int base_level,
			    struct mem_table_stats *stats, mem_table_run_fn fn, void *arg)
{
	const struct mem_table_level *level = table->level;
	const unsigned int group_shift = _mem_table_group_shift(level);
	size_t leaves = 0, values = 0;
	unsigned int i, first = 0, last = 0;
	bool run = false;	/* leaves since the last table: first to last */
	uint64_t occupied = 0;	/* the run's groups with a leaf */
	int ret = 0;

	stats->tables[level->number]++;
	stats->bytes += _mem_table_size(level);
	if (!level->number) {
		_mem_table_prefetch(table, _mem_table_size(level));
		return _mem_table_stats_ptes(table, base, base_level, stats, fn, arg);
	}
	/* Counted in locals, added once: a table of pages is 512 slots. */
	for (i = 0; i < level->nentries; i++) {
		void *e = table->entries[i];

		if (!e) {
			while (i + 8 < level->nentries && !_mem_table_any8(table->entries + i + 1))
				i += 8;
			continue;
		}
		if (mem_table_is_reserved(e))
			continue;
		if (!IS_LEAF(e)) {
			/* The leaves before it come first. */
			if (fn && run) {
				run = false;
				ret = _mem_table_stats_run(table, first, last, occupied, base, base_level,
							   fn, arg);
				if (ret)
					break;
			}
			/* The next table below while this one is walked. */
			for (unsigned int j = i + 1; j < level->nentries; j++) {
				void *n = table->entries[j];

				if (n && !mem_table_is_reserved(n) && !IS_LEAF(n)) {
					_mem_table_prefetch(TABLE(n), _mem_table_size(level - 1));
					break;
				}
			}
			ret = _mem_table_stats(TABLE(e), base + ((phys_addr_t)i << level->shift), base_level,
					       stats, fn, arg);
			if (ret)
				break;
			continue;
		}
		if (!run) {
			first = i;
			occupied = 0;
		}
		run = true;
		last = i;
		occupied |= 1ULL << ((i - first) >> group_shift);
		leaves++;
		values += mem_table_is_value(e);
	}
	if (fn && run && !ret)
		ret = _mem_table_stats_run(table, first, last, occupied, base, base_level, fn, arg);
	stats->leaves[level->number] += leaves;
	stats->values[level->number] += values;
	stats->count += leaves;
	stats->pages += leaves << (level->shift - (level - level->number)->shift);
	return ret;
}

int mem_table_stats_walk(struct mem_table *table, struct mem_table_stats *stats,
			 mem_table_run_fn fn, void *arg)
{
	if (!table || !stats || !_mem_table_is_root(table))
		return -EINVAL;
	memset(stats, 0, sizeof(*stats));
	stats->nlevels = _mem_table_geometry(table->level)->nlevels;
	stats->bytes += sizeof(struct mem_table_root);
	return _mem_table_stats(table, 0, _mem_table_geometry(table->level)->base_level, stats, fn, arg);
}

int mem_table_stats(struct mem_table *table, struct mem_table_stats *stats)
{
	return mem_table_stats_walk(table, stats, NULL, NULL);
}
