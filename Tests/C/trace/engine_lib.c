// SPDX-License-Identifier: GPL-2.0-only
/*
 * The library as a trace engine, through the C API: value entries, and
 * pointer leaves (a struct leaf the engine allocates) with consumer ops that
 * split, merge, clone and free them, and refuse on request.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem_table.h"
#include "trace.h"

static struct mem_table *tables[TRACE_MAX_TABLES];
static struct mem_table_geometry geometry;

/* ------------------------------------------------------- the consumer ops */

struct leaf {
	uint64_t value;
};

static long leaves_live; /* struct leaf made and not freed */
static long refuse_countdown = -1;
static bool refused;

void engine_lib_refuse_after(long n)
{
	refuse_countdown = n;
	refused = false;
}

bool engine_lib_refused(void)
{
	return refused;
}

/* Is this consumer op call the one to refuse? */
static bool refuse(void)
{
	if (refuse_countdown < 0 || refuse_countdown-- != 0)
		return false;
	refused = true;
	return true;
}

static struct leaf *leaf_new(uint64_t value)
{
	struct leaf *l = malloc(sizeof(*l));

	if (!l)
		abort();
	l->value = value;
	leaves_live++;
	return l;
}

static void op_free(void *entry)
{
	leaves_live--;
	free(entry);
}

static void *op_split(void *entry, unsigned int level)
{
	(void)level;
	return refuse() ? NULL : leaf_new(((struct leaf *)entry)->value);
}

/* Equal leaves merge into one; unequal ones, or a refusal, say NULL. */
static void *op_merge(void *const *entries, unsigned int n, unsigned int level)
{
	uint64_t value = ((struct leaf *)entries[0])->value;
	unsigned int i;

	(void)level;
	for (i = 1; i < n; i++)
		if (((struct leaf *)entries[i])->value != value)
			return NULL;
	return refuse() ? NULL : leaf_new(value);
}

static void *op_clone(void *entry)
{
	return refuse() ? NULL : leaf_new(((struct leaf *)entry)->value);
}

static struct mem_table_ops ops = {
	.free = op_free, .split = op_split, .merge = op_merge, .clone = op_clone,
};

/* The slot entry for a trace value. */
static void *entry_of(uint64_t value, bool pointer)
{
	return pointer ? (void *)leaf_new(value) : mem_table_mk_value(value);
}

/* Hand back a leaf the library returned to the engine. */
static void release(void *entry)
{
	if (entry && !mem_table_is_value(entry))
		op_free(entry);
}

static uint64_t span(unsigned int level)
{
	return 1ULL << geometry.levels[level].shift;
}

static uint64_t value_of(const void *entry)
{
	return mem_table_is_value(entry) ? mem_table_to_value(entry)
					  : ((const struct leaf *)entry)->value;
}

static void leaf_of(void *entry, uint64_t pa, unsigned int level, struct trace_leaf *leaf)
{
	leaf->level = level - geometry.base_level;
	leaf->start = pa & ~(span(leaf->level) - 1);
	leaf->value = value_of(entry);
	leaf->pointer = !mem_table_is_value(entry);
}

/* ----------------------------------------------------------- the engine */

static int lib_alloc(int t, const struct trace_geometry *g)
{
	int err = mem_table_geometry_init(&geometry, g->page_shift, g->bits, g->phys_bits,
					  PG_LEVEL_4K);

	if (err)
		return err;
	tables[t] = mem_table_alloc_geometry(&geometry, &ops);
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

static int lib_store(int t, uint64_t pa, unsigned int level, uint64_t value, bool pointer,
		     bool *had, struct trace_leaf *old)
{
	void *prev = NULL, *entry = entry_of(value, pointer);
	int err = mem_table_store(tables[t], pa, level + geometry.base_level, entry, &prev);

	if (err)
		release(entry);
	*had = !err && prev;
	if (*had)
		leaf_of(prev, pa, level + geometry.base_level, old);
	release(prev);
	return err;
}

static int lib_create(int t, uint64_t pa, uint64_t value, bool pointer, bool *had,
		      struct trace_leaf *old)
{
	void **slot = mem_table_create(tables[t], pa);

	if (!slot)
		return -errno;
	*had = *slot != NULL;
	if (*had)
		leaf_of(*slot, pa, geometry.base_level, old);
	release(*slot);
	*slot = entry_of(value, pointer);
	return 0;
}

static int lib_reserve(int t, uint64_t pa, unsigned int level)
{
	return mem_table_reserve(tables[t], pa, level + geometry.base_level);
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
	release(e);
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

/*
 * The leaves meeting [@pa, @end) as mem_table_next_run() hands them out,
 * one after the other into *@leaves; returns how many (at most @max).
 */
static size_t runs(struct mem_table *table, uint64_t pa, uint64_t end, struct trace_leaf *leaves,
		   size_t max)
{
	struct mem_table_run run;
	size_t n = 0;
	unsigned long i;

	while (pa < end && mem_table_next_run(table, pa, &run) == 1) {
		for (i = 0; i < run.count; i++) {
			uint64_t lo = run.pa + ((uint64_t)i << run.shift);
			void *e = run.slots[i];

			if (lo >= end)
				return n;
			if (mem_table_is_table(e))
				break; /* its leaves are the next run's */
			if (!e || mem_table_is_reserved(e))
				continue;
			if (n == max)
				return n;
			leaf_of(e, lo, run.level, &leaves[n++]);
		}
		if (i < run.count) {
			pa = run.pa + ((uint64_t)i << run.shift);
			continue;
		}
		if (run.pa + ((uint64_t)run.count << run.shift) <= pa)
			return n; /* the top of a 64-bit space */
		pa = run.pa + ((uint64_t)run.count << run.shift);
	}
	return n;
}

struct compare_arg {
	struct trace_leaf *leaves;
	size_t n, i;
	bool differ;
};

static int compare_leaf(const struct trace_leaf *leaf, void *arg)
{
	struct compare_arg *c = arg;

	if (c->i < c->n) {
		const struct trace_leaf *r = &c->leaves[c->i];

		if (r->start != leaf->start || r->level != leaf->level || r->value != leaf->value ||
		    r->pointer != leaf->pointer)
			c->differ = true;
	} else if (c->n < 64) {
		c->differ = true; /* the walk has more */
	}
	c->i++;
	return 0;
}

/*
 * mem_table_walk(); its first 64 leaves must be those mem_table_next_run()
 * hands out from the walk's start (where the start is in range), or the
 * replay stops here.
 */
static void lib_walk(int t, uint64_t start, uint64_t end, trace_leaf_fn fn, void *arg)
{
	struct walk_arg w = { fn, arg };
	struct trace_leaf leaves[64];
	struct compare_arg c = { leaves, 0, 0, false };

	mem_table_walk(tables[t], start, end, walk_leaf, &w);
	if (start >= end || (geometry.phys_bits < 64 && start >> geometry.phys_bits))
		return;
	c.n = runs(tables[t], start, end, leaves, 64);
	w.fn = compare_leaf;
	w.arg = &c;
	mem_table_walk(tables[t], start, end, walk_leaf, &w);
	if (c.differ || c.i < c.n) {
		fprintf(stderr, "memtable-replay: mem_table_next_run() and mem_table_walk() differ "
				"over [0x%" PRIx64 ", 0x%" PRIx64 ")\n", start, end);
		exit(3);
	}
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

/* ------------------------------------------------- for fault injection */

static void clear_changed(struct mem_table *table)
{
	unsigned int i;

	table->changed = false;
	for (i = 0; i < table->level->nentries; i++)
		if (mem_table_is_table(table->entries[i]))
			clear_changed((void *)((uintptr_t)table->entries[i] & ~MEM_TABLE));
}

static void lib_settle(int t)
{
	clear_changed(tables[t]);
}

/* One word into the hash: a multiply and a rotate (a fingerprint, not a digest). */
static uint64_t mix(uint64_t h, uint64_t v)
{
	h = (h ^ v) * 0x9E3779B97F4A7C15ULL;
	return h ^ (h >> 29);
}

/* Every table's level and changed flag, every slot's kind and value. */
static uint64_t table_hash(const struct mem_table *table, uint64_t h)
{
	unsigned int i;

	h = mix(mix(h, table->level->number), table->changed);
	for (i = 0; i < table->level->nentries; i++) {
		void *e = table->entries[i];

		if (!e)
			continue;
		h = mix(h, i);
		if (mem_table_is_table(e))
			h = table_hash((void *)((uintptr_t)e & ~MEM_TABLE), h);
		else if (mem_table_is_reserved(e))
			h = mix(h, 1);
		else
			h = mix(mix(h, mem_table_is_value(e) ? 2 : 3), value_of(e));
	}
	return mix(h, ~0ULL);
}

static uint64_t lib_fingerprint(int t)
{
	struct mem_table_stats st;
	uint64_t h = table_hash(tables[t], 0xcbf29ce484222325ULL);
	unsigned int l;

	mem_table_stats(tables[t], &st);
	h = mix(mix(mix(mix(h, mem_table_count(tables[t])), st.count), st.bytes), st.pages);
	for (l = 0; l < st.nlevels; l++)
		h = mix(mix(mix(h, st.leaves[l]), st.values[l]), st.tables[l]);
	return mix(h, (uint64_t)leaves_live);
}

const struct engine engine_lib = {
	"library", lib_alloc, lib_free, lib_clone, lib_store, lib_create, lib_reserve, lib_load,
	lib_find, lib_erase, lib_split, lib_merge, lib_store_range, lib_erase_range, lib_walk,
	lib_next, lib_count, lib_stats, lib_settle, lib_fingerprint,
};
