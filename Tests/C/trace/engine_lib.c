// SPDX-License-Identifier: GPL-2.0-only
/* The library as a trace engine: value entries, through the C API. */
#include <errno.h>
#include <string.h>

#include "mem_table.h"
#include "trace.h"

static struct mem_table *tables[TRACE_MAX_TABLES];
static struct mem_table_geometry geometry;

static uint64_t span(unsigned int level)
{
	return 1ULL << geometry.levels[level].shift;
}

static void leaf_of(void *entry, uint64_t pa, unsigned int level, struct trace_leaf *leaf)
{
	leaf->level = level - geometry.base_level;
	leaf->start = pa & ~(span(leaf->level) - 1);
	leaf->value = mem_table_to_value(entry);
}

static int lib_alloc(int t, const struct trace_geometry *g)
{
	int err = mem_table_geometry_init(&geometry, g->page_shift, g->bits, g->phys_bits,
					  PG_LEVEL_4K);

	if (err)
		return err;
	tables[t] = mem_table_alloc_geometry(&geometry, NULL);
	return tables[t] ? 0 : -errno;
}

static void lib_free(int t)
{
	mem_table_free(tables[t]);
	tables[t] = NULL;
}

static int lib_clone(int dst, int src)
{
	tables[dst] = mem_table_clone(tables[src]);
	return tables[dst] ? 0 : -errno;
}

static int lib_store(int t, uint64_t pa, unsigned int level, uint64_t value, bool *had,
		     struct trace_leaf *old)
{
	void *prev = NULL;
	int err = mem_table_store(tables[t], pa, level + geometry.base_level,
				  mem_table_mk_value(value), &prev);

	*had = !err && prev;
	if (*had)
		leaf_of(prev, pa, level + geometry.base_level, old);
	return err;
}

static int lib_create(int t, uint64_t pa, uint64_t value, bool *had, struct trace_leaf *old)
{
	void **slot = mem_table_create(tables[t], pa);

	if (!slot)
		return -errno;
	*had = *slot != NULL;
	if (*had)
		leaf_of(*slot, pa, geometry.base_level, old);
	*slot = mem_table_mk_value(value);
	return 0;
}

static bool lib_load(int t, uint64_t pa, struct trace_leaf *leaf)
{
	unsigned int level;
	void *e = mem_table_load(tables[t], pa, &level);

	if (e)
		leaf_of(e, pa, level, leaf);
	return e != NULL;
}

static bool lib_find(int t, uint64_t pa, struct trace_leaf *leaf)
{
	unsigned int level;
	void **slot = mem_table_find(tables[t], pa, &level);

	if (slot)
		leaf_of(*slot, pa, level, leaf);
	return slot != NULL;
}

static bool lib_erase(int t, uint64_t pa, struct trace_leaf *leaf)
{
	unsigned int level;
	void *e = mem_table_erase(tables[t], pa, &level);

	if (e)
		leaf_of(e, pa, level, leaf);
	return e != NULL;
}

static int lib_split(int t, uint64_t pa, unsigned int level)
{
	return mem_table_split(tables[t], pa, level + geometry.base_level);
}

static int lib_merge(int t, uint64_t pa, unsigned int level)
{
	return mem_table_merge(tables[t], pa, level + geometry.base_level);
}

static int lib_store_range(int t, uint64_t start, uint64_t end, uint64_t value)
{
	return mem_table_store_range(tables[t], start, end, mem_table_mk_value(value));
}

static long lib_erase_range(int t, uint64_t start, uint64_t end)
{
	return mem_table_erase_range(tables[t], start, end);
}

struct walk_arg {
	trace_leaf_fn fn;
	void *arg;
};

static int walk_leaf(void *entry, phys_addr_t pa, unsigned int level, void *arg)
{
	struct walk_arg *w = arg;
	struct trace_leaf leaf;

	leaf_of(entry, pa, level, &leaf);
	return w->fn(&leaf, w->arg);
}

static void lib_walk(int t, uint64_t start, uint64_t end, trace_leaf_fn fn, void *arg)
{
	struct walk_arg w = { fn, arg };

	mem_table_walk(tables[t], start, end, walk_leaf, &w);
}

static bool lib_next(int t, uint64_t pa, struct trace_leaf *leaf)
{
	unsigned int level;
	void **slot = mem_table_next(tables[t], &pa, &level);

	if (slot)
		leaf_of(*slot, pa, level, leaf);
	return slot != NULL;
}

static size_t lib_count(int t)
{
	return mem_table_count(tables[t]);
}

static void lib_stats(int t, struct trace_stats *st)
{
	struct mem_table_stats s;
	unsigned int i;

	mem_table_stats(tables[t], &s);
	memset(st, 0, sizeof(*st));
	st->nlevels = s.nlevels;
	st->count = s.count;
	st->pages = s.pages;
	st->bytes = s.bytes;
	for (i = 0; i < s.nlevels; i++) {
		st->leaves[i] = s.leaves[i];
		st->tables[i] = s.tables[i];
	}
}

const struct engine engine_lib = {
	"library", lib_alloc, lib_free, lib_clone, lib_store, lib_create, lib_load, lib_find,
	lib_erase, lib_split, lib_merge, lib_store_range, lib_erase_range, lib_walk, lib_next,
	lib_count, lib_stats,
};
