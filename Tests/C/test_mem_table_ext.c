// SPDX-License-Identifier: GPL-2.0-only
/*
 * Tests of the additions (mem_table_ext.c): geometry, value entries, store,
 * load, erase, large pages with split and merge, reservations, ranges,
 * walks, clones, counts and statistics, each a unit test. The random test
 * of all of them is the operation traces' (Tests/TRACES.md): generated
 * traces replayed through the library, the red-black-tree model of
 * Tests/C/trace/engine_model.c and the Swift API and model, with every
 * allocation failing and every consumer op refusing in turn.
 *
 * Every check_*() leaves no table behind and asserts that the library holds
 * no allocation and that every stored pointer was released exactly once.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem_table.h"
#include "check.h"
#include "rng.h"

#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define GiB (1ULL << 30)
#define V(x) mem_table_mk_value(x)

/* Consumer data: a leaf with a value; the ops count what they do. */
struct leaf {
	uint64_t value;
};

static unsigned long made, released, splits, merges, clones;
static bool split_fails;
static long split_refuse_at = -1; /* refuse the n-th ops->split call from now */

static struct leaf *leaf_new(uint64_t value)
{
	struct leaf *l = malloc(sizeof(*l));

	if (!l)
		abort();
	l->value = value;
	made++;
	return l;
}

static void leaf_free(void *buf)
{
	released++;
	free(buf);
}

static void *leaf_split(void *buf, unsigned int level)
{
	(void)level;
	splits++;
	if (split_fails || (split_refuse_at >= 0 && split_refuse_at-- == 0))
		return NULL;
	return leaf_new(((struct leaf *)buf)->value);
}

static void *leaf_merge(void *const *entries, unsigned int n, unsigned int level)
{
	unsigned int i;

	(void)level;
	merges++;
	for (i = 1; i < n; i++)
		if (((struct leaf *)entries[i])->value != ((struct leaf *)entries[0])->value)
			return NULL;
	return leaf_new(((struct leaf *)entries[0])->value);
}

static void *leaf_clone(void *buf)
{
	clones++;
	return leaf_new(((struct leaf *)buf)->value);
}

static struct mem_table_ops full_ops = {
	.free = leaf_free, .split = leaf_split, .merge = leaf_merge, .clone = leaf_clone,
};
static struct mem_table_ops free_only_ops = { .free = leaf_free };

static const struct mem_table_geometry *x86 = &mem_table_geometry_x86_64;

/* A macro, so that a failure names the check that left something behind. */
#define check_clean()                       \
	do {                                \
		CHECK(alloc_live == 0);     \
		CHECK(made == released);    \
	} while (0)

static uint64_t value_of(const void *e)
{
	return mem_table_is_value(e) ? mem_table_to_value(e) : ((const struct leaf *)e)->value;
}

/* ---------------------------------------------------------------- units */

static void check_geometries(void)
{
	static const struct {
		const struct mem_table_geometry *geo;
		unsigned int nlevels, top, bits;
	} want[] = {
		{ &mem_table_geometry_x86_64, 4, 128, 46 },
		{ &mem_table_geometry_x86_64_la57, 5, 16, 52 },
		{ &mem_table_geometry_arm64_4k, 4, 512, 48 },
		{ &mem_table_geometry_arm64_16k, 4, 2, 48 },
		{ &mem_table_geometry_arm64_64k, 3, 64, 48 },
	};
	struct mem_table *tables[5];
	struct mem_table_geometry g;
	unsigned int i;

	for (i = 0; i < 5; i++) {
		const struct mem_table_geometry *geo = want[i].geo;
		phys_addr_t last = (1ULL << want[i].bits) - 1;

		CHECK(geo->nlevels == want[i].nlevels);
		CHECK(geo->levels[geo->nlevels - 1].nentries == want[i].top);
		CHECK(mem_table_geometry_init(&g, geo->page_shift, geo->bits_per_level,
					      geo->phys_bits, PG_LEVEL_4K) == 0);
		CHECK(!memcmp(&g, geo, sizeof(g)));
		/* Tables of every geometry side by side. */
		tables[i] = mem_table_alloc_geometry(geo, &free_only_ops);
		CHECK(tables[i] && mem_table_get_geometry(tables[i]) == geo);
		CHECK(mem_table_store(tables[i], last, PG_LEVEL_4K, V(i), NULL) == 0);
		CHECK(mem_table_store(tables[i], last + 1, PG_LEVEL_4K, V(i), NULL) == -ERANGE);
	}
	for (i = 0; i < 5; i++) {
		unsigned int level = 0;

		CHECK(mem_table_load(tables[i], (1ULL << want[i].bits) - 1, &level) == V(i));
		CHECK(level == PG_LEVEL_4K);
		mem_table_free(tables[i]);
	}
	CHECK(mem_table_geometry_init(&g, 12, 9, 12, 1) == -EINVAL);
	CHECK(mem_table_geometry_init(&g, 12, 0, 46, 1) == -EINVAL);
	CHECK(mem_table_geometry_init(&g, 12, 1, 64, 1) == -EINVAL); /* 52 levels */
	CHECK(mem_table_geometry_init(NULL, 12, 9, 46, 1) == -EINVAL);
	memset(&g, 0, sizeof(g));
	CHECK(mem_table_alloc_geometry(&g, NULL) == NULL && errno == EINVAL);
	CHECK(mem_table_alloc_geometry(NULL, NULL) == NULL && errno == EINVAL);
	/* The globals, described. */
	CHECK(mem_table_get_geometry(NULL) == NULL);
	check_clean();
}

static void check_values(void)
{
	struct mem_table *t = mem_table_alloc_geometry(x86, &free_only_ops);
	struct mem_table_stats st;

	CHECK(mem_table_is_value(V(0)) && mem_table_is_value(V(MEM_TABLE_VALUE_MAX)));
	CHECK(mem_table_to_value(V(MEM_TABLE_VALUE_MAX)) == MEM_TABLE_VALUE_MAX);
	CHECK(IS_LEAF(V(7)));
	CHECK(!mem_table_is_value(&st) && !mem_table_is_value(NULL));
	/* Values need no allocation, and are never passed to ops->free. */
	CHECK(mem_table_store(t, 0x5000, PG_LEVEL_4K, V(42), NULL) == 0);
	CHECK(alloc_live == 4);
	CHECK(mem_table_store(t, 0x5000, PG_LEVEL_4K, V(43), NULL) == 0);
	CHECK(mem_table_load(t, 0x5fff, NULL) == V(43));
	/* The faithful find sees them too. */
	CHECK(*mem_table_find(t, 0x5000, NULL) == V(43));
	CHECK(mem_table_stats(t, &st) == 0 && st.values[0] == 1 && st.count == 1);
	mem_table_free(t);
	CHECK(released == made);
	check_clean();
}

/* The table of @level (0: pages) on the way to @pa, as the layout has it. */
static struct mem_table *table_at(struct mem_table *t, phys_addr_t pa, unsigned int level)
{
	while (t && t->level->number > level) {
		void *e = t->entries[(pa >> t->level->shift) & t->level->mask];

		t = e && !IS_LEAF(e) ? (struct mem_table *)((uintptr_t)e & ~(uintptr_t)MEM_TABLE) : NULL;
	}
	return t;
}

/*
 * A page store goes straight to the table of the last page stored: it must
 * still mark the path changed, and forget that table when it may be freed.
 */
static void check_store_hint(void)
{
	struct mem_table *t = mem_table_alloc_geometry(x86, NULL), *c;
	unsigned int l;

	CHECK(mem_table_store(t, 0x1000, PG_LEVEL_4K, V(1), NULL) == 0);
	for (l = 0; l < 4; l++)
		table_at(t, 0x1000, l)->changed = false;
	CHECK(mem_table_store(t, 0x2000, PG_LEVEL_4K, V(2), NULL) == 0);
	for (l = 0; l < 4; l++)
		CHECK(table_at(t, 0x2000, l)->changed);
	/* Its table freed by an erase, a merge, a range: a new one each time. */
	CHECK(mem_table_erase(t, 0x1000, NULL) == V(1) && mem_table_erase(t, 0x2000, NULL) == V(2));
	CHECK(!table_at(t, 0x1000, 0) && mem_table_count(t) == 0);
	CHECK(mem_table_store(t, 0x3000, PG_LEVEL_4K, V(3), NULL) == 0);
	CHECK(mem_table_load(t, 0x3000, NULL) == V(3) && mem_table_count(t) == 1);
	CHECK(mem_table_store_range(t, 0, 2 * MiB, V(4)) == 0 && !table_at(t, 0, 0));
	CHECK(mem_table_store(t, 0x5000, PG_LEVEL_4K, V(5), NULL) == 0);
	CHECK(mem_table_load(t, 0x5000, NULL) == V(5) && mem_table_load(t, 0x6000, NULL) == V(4));
	CHECK(mem_table_store(t, 0x5000, PG_LEVEL_4K, V(4), NULL) == 0);
	CHECK(mem_table_merge(t, 0, PG_LEVEL_2M) == 0 && !table_at(t, 0, 0));
	CHECK(mem_table_store(t, 0x7000, PG_LEVEL_4K, V(7), NULL) == 0); /* a split */
	CHECK(mem_table_store(t, 0x9000, PG_LEVEL_4K, V(7), NULL) == 0); /* the hint again */
	CHECK(mem_table_load(t, 0x7000, NULL) == V(7) && mem_table_count(t) == 512);
	CHECK(mem_table_erase_range(t, 0, 2 * MiB) == 512 && !table_at(t, 0, 0));
	CHECK(mem_table_store(t, 0x8000, PG_LEVEL_4K, V(8), NULL) == 0 && mem_table_count(t) == 1);
	/* A clone has its own tables: storing into it leaves the original alone. */
	c = mem_table_clone(t);
	CHECK(c && mem_table_store(c, 0x9000, PG_LEVEL_4K, V(9), NULL) == 0);
	CHECK(mem_table_load(t, 0x9000, NULL) == NULL && mem_table_load(c, 0x9000, NULL) == V(9));
	CHECK(mem_table_store(t, 0xa000, PG_LEVEL_4K, V(10), NULL) == 0);
	CHECK(mem_table_load(c, 0xa000, NULL) == NULL && mem_table_count(t) == 2);
	mem_table_free(c);
	mem_table_free(t);
	check_clean();
}

static void check_store_load_erase(void)
{
	struct mem_table *t = mem_table_alloc_geometry(x86, &full_ops);
	void *old = V(1);
	unsigned int level = 0;
	struct leaf *a = leaf_new(1), *b = leaf_new(2);

	CHECK(mem_table_store(t, 0x1000, PG_LEVEL_4K, a, &old) == 0 && old == NULL);
	CHECK(mem_table_store(t, 0x1000, PG_LEVEL_4K, b, &old) == 0 && old == a);
	leaf_free(old);
	CHECK(mem_table_load(t, 0x1000, &level) == b && level == PG_LEVEL_4K);
	CHECK(mem_table_count(t) == 1);

	/* Bad input changes nothing. */
	CHECK(mem_table_store(NULL, 0, PG_LEVEL_4K, V(1), NULL) == -EINVAL);
	CHECK(mem_table_store(t, 0, PG_LEVEL_4K, NULL, NULL) == -EINVAL);
	CHECK(mem_table_store(t, 0, PG_LEVEL_4K, (void *)0x1001, NULL) == -EINVAL);
	CHECK(mem_table_store(t, 0, PG_LEVEL_NONE, V(1), NULL) == -EINVAL);
	CHECK(mem_table_store(t, 0, PG_LEVEL_256T, V(1), NULL) == -EINVAL);
	CHECK(mem_table_store(t, 4 * KiB, PG_LEVEL_2M, V(1), NULL) == -EINVAL);
	CHECK(mem_table_store(t, 1ULL << 46, PG_LEVEL_4K, V(1), NULL) == -ERANGE);
	CHECK(mem_table_count(t) == 1 && alloc_live == 4);

	/* Erase hands the leaf back and frees the tables it empties; it never allocates. */
	alloc_fail_after(0);
	CHECK(mem_table_erase(t, 0x1fff, &level) == b && level == PG_LEVEL_4K);
	alloc_fail_after(-1);
	CHECK(alloc_live == 1 && mem_table_count(t) == 0);
	CHECK(mem_table_erase(t, 0x1000, NULL) == NULL);
	CHECK(mem_table_erase(t, 1ULL << 46, NULL) == NULL);
	leaf_free(b);
	mem_table_free(t);
	check_clean();
}

static void check_large(void)
{
	struct mem_table *t = mem_table_alloc_geometry(x86, &full_ops);
	struct mem_table *plain = mem_table_alloc_geometry(x86, &free_only_ops);
	unsigned int level = 0;
	void *slot;
	phys_addr_t pa;

	/* A 2 MiB leaf answers for its whole range, and only there. */
	CHECK(mem_table_store(t, 2 * MiB, PG_LEVEL_2M, leaf_new(5), NULL) == 0);
	CHECK(alloc_live == 4); /* two roots, a 1 GiB and a 2 MiB table */
	for (pa = 2 * MiB; pa < 4 * MiB; pa += 256 * KiB) {
		void **found = mem_table_find(t, pa + 123, &level);

		CHECK(found && value_of(*found) == 5 && level == PG_LEVEL_2M);
	}
	CHECK(mem_table_find(t, 4 * MiB, NULL) == NULL);
	CHECK(mem_table_find(t, 2 * MiB - 1, NULL) == NULL);
	/* A 1 GiB leaf. */
	CHECK(mem_table_store(t, 3 * GiB, PG_LEVEL_1G, V(9), NULL) == 0);
	CHECK(mem_table_load(t, 4 * GiB - 1, &level) == V(9) && level == PG_LEVEL_1G);

	/* The faithful create refuses to go through a large leaf. */
	CHECK(mem_table_create(t, 2 * MiB + 4 * KiB) == NULL && errno == EEXIST);

	/* A 4 KiB store inside the 2 MiB leaf splits it: 512 children. */
	splits = 0;
	CHECK(mem_table_store(t, 3 * MiB, PG_LEVEL_4K, leaf_new(6), NULL) == 0);
	CHECK(splits == 512);
	CHECK(value_of(mem_table_load(t, 3 * MiB, &level)) == 6 && level == PG_LEVEL_4K);
	CHECK(value_of(mem_table_load(t, 2 * MiB, &level)) == 5 && level == PG_LEVEL_4K);
	CHECK(mem_table_count(t) == 513);

	/* Merging needs equal leaves; make them so, then merge. */
	merges = 0;
	CHECK(mem_table_merge(t, 2 * MiB, PG_LEVEL_2M) == -EBUSY && merges == 1);
	CHECK(mem_table_store(t, 3 * MiB, PG_LEVEL_4K, leaf_new(5), NULL) == 0);
	alloc_fail_after(0); /* merging never allocates */
	CHECK(mem_table_merge(t, 2 * MiB, PG_LEVEL_2M) == 0);
	alloc_fail_after(-1);
	CHECK(value_of(mem_table_load(t, 3 * MiB, &level)) == 5 && level == PG_LEVEL_2M);
	CHECK(mem_table_count(t) == 2 && alloc_live == 4);
	CHECK(mem_table_merge(t, 2 * MiB, PG_LEVEL_2M) == -ENOENT);
	CHECK(mem_table_merge(t, 2 * MiB, PG_LEVEL_4K) == -EINVAL);

	/* Splitting a 1 GiB value entry down to 4 KiB: values need no op. */
	CHECK(mem_table_split(t, 3 * GiB + 5 * MiB, PG_LEVEL_4K) == 0);
	CHECK(mem_table_load(t, 3 * GiB + 5 * MiB, &level) == V(9) && level == PG_LEVEL_4K);
	CHECK(mem_table_load(t, 3 * GiB, &level) == V(9) && level == PG_LEVEL_2M);
	CHECK(mem_table_count(t) == 2 + 511 + 511);
	CHECK(mem_table_split(t, 3 * GiB, PG_LEVEL_2M) == 0); /* already there */
	CHECK(mem_table_split(t, 7 * GiB, PG_LEVEL_4K) == -ENOENT);
	/* And back: 4 KiB -> 2 MiB -> 1 GiB. */
	CHECK(mem_table_merge(t, 3 * GiB + 5 * MiB, PG_LEVEL_2M) == 0);
	CHECK(mem_table_merge(t, 3 * GiB, PG_LEVEL_1G) == 0);
	CHECK(mem_table_load(t, 3 * GiB + 5 * MiB, &level) == V(9) && level == PG_LEVEL_1G);
	CHECK(mem_table_count(t) == 2 && alloc_live == 4);

	/* A store over smaller leaves would lose them: refused. */
	CHECK(mem_table_store(t, 0, PG_LEVEL_1G, V(1), NULL) == -EEXIST);
	/* Over an empty subtree it is fine. */
	CHECK(mem_table_create(t, 8 * GiB) != NULL);
	CHECK(mem_table_store(t, 8 * GiB, PG_LEVEL_1G, V(8), NULL) == 0);
	CHECK(mem_table_load(t, 8 * GiB + 4096, &level) == V(8) && level == PG_LEVEL_1G);
	CHECK(mem_table_count(t) == 3);

	/* Without ops->split, a pointer leaf is not split. */
	CHECK(mem_table_store(plain, 0, PG_LEVEL_2M, leaf_new(1), NULL) == 0);
	CHECK(mem_table_store(plain, 4096, PG_LEVEL_4K, V(1), NULL) == -EEXIST);
	CHECK(mem_table_split(plain, 4096, PG_LEVEL_4K) == -EEXIST);
	CHECK(mem_table_merge(plain, 0, PG_LEVEL_1G) == -ENOENT);
	CHECK(alloc_live == 4 + 2);

	/* Erasing a large leaf removes its whole range and hands it back. */
	slot = mem_table_erase(plain, 1 * MiB, &level);
	CHECK(slot && value_of(slot) == 1 && level == PG_LEVEL_2M);
	CHECK(mem_table_load(plain, 0, NULL) == NULL && alloc_live == 3 + 1);
	leaf_free(slot);
	mem_table_free(plain);
	mem_table_free(t);
	check_clean();
}

/* A failing ops->split, or calloc failing at each step, changes nothing. */
static void check_split_failures(void)
{
	struct mem_table *t = mem_table_alloc_geometry(x86, &full_ops);
	unsigned long m, r;
	long live, step;
	int err = -1;

	CHECK(mem_table_store(t, GiB, PG_LEVEL_1G, leaf_new(3), NULL) == 0);
	split_fails = true;
	m = made, r = released, live = alloc_live;
	CHECK(mem_table_store(t, GiB + 4096, PG_LEVEL_4K, V(1), NULL) == -ENOMEM);
	CHECK(made == m && released == r && alloc_live == live);
	split_fails = false;
	for (step = 0;; step++) {
		m = made, r = released, live = alloc_live;
		alloc_fail_after(step);
		err = mem_table_split(t, GiB + 3 * MiB, PG_LEVEL_4K);
		alloc_fail_after(-1);
		if (!err)
			break;
		CHECK(err == -ENOMEM);
		CHECK(alloc_live == live);
		CHECK(made - m == released - r); /* children made were released */
		CHECK(mem_table_count(t) == 1);
	}
	/* Two allocations: the table of 2 MiB leaves, the table of 4 KiB ones. */
	CHECK(step == 2);
	CHECK(mem_table_count(t) == 1023);
	mem_table_free(t);
	check_clean();
}

static void check_reserve(void)
{
	struct mem_table *t = mem_table_alloc_geometry(x86, &full_ops);
	long live;

	CHECK(mem_table_reserve(t, 0x10000, PG_LEVEL_4K) == 0);
	CHECK(alloc_live == 4 && mem_table_load(t, 0x10000, NULL) == NULL);
	CHECK(mem_table_find(t, 0x10000, NULL) == NULL);
	CHECK(mem_table_count(t) == 0);
	/* A neighbour's erase does not free the reserved path. */
	CHECK(mem_table_store(t, 0x11000, PG_LEVEL_4K, V(1), NULL) == 0);
	CHECK(mem_table_erase(t, 0x11000, NULL) == V(1));
	CHECK(alloc_live == 4);
	/* The store cannot fail now. */
	live = alloc_live;
	alloc_fail_after(0);
	CHECK(mem_table_store(t, 0x10000, PG_LEVEL_4K, V(2), NULL) == 0);
	alloc_fail_after(-1);
	CHECK(alloc_live == live && mem_table_count(t) == 1);
	/* Reserve, then the faithful create hands out the slot, empty. */
	CHECK(mem_table_reserve(t, 0x12000, PG_LEVEL_4K) == 0);
	CHECK(*mem_table_create(t, 0x12000) == NULL);
	/* Erasing a reservation drops it and frees what it held up. */
	CHECK(mem_table_reserve(t, 5 * GiB, PG_LEVEL_2M) == 0);
	CHECK(alloc_live == 5);
	CHECK(mem_table_erase(t, 5 * GiB, NULL) == NULL);
	CHECK(alloc_live == 4);
	/* Over smaller leaves there is nothing to reserve. */
	CHECK(mem_table_reserve(t, 0, PG_LEVEL_2M) == -EEXIST);
	CHECK(mem_table_reserve(t, 0, PG_LEVEL_1G) == -EEXIST);
	mem_table_free(t);
	check_clean();
}

static int collect(void *entry, phys_addr_t pa, unsigned int level, void *arg)
{
	char *out = arg;
	size_t n = strlen(out);

	snprintf(out + n, 512 - n, "%" PRIx64 "/%u=%" PRIu64 " ", pa, level, value_of(entry));
	return value_of(entry) == 99 ? 7 : 0;
}

static void check_walk_next(void)
{
	struct mem_table *t = mem_table_alloc_geometry(x86, &full_ops);
	char out[512] = "";
	phys_addr_t pa;
	unsigned int level;
	void **slot;

	CHECK(mem_table_store(t, 600 * GiB, PG_LEVEL_4K, V(3), NULL) == 0);
	CHECK(mem_table_store(t, 2 * MiB, PG_LEVEL_2M, leaf_new(2), NULL) == 0);
	CHECK(mem_table_store(t, 4096, PG_LEVEL_4K, V(1), NULL) == 0);
	CHECK(mem_table_store(t, 2 * GiB, PG_LEVEL_1G, V(99), NULL) == 0);
	CHECK(mem_table_store(t, 64 * GiB - 4096, PG_LEVEL_4K, V(4), NULL) == 0);
	CHECK(mem_table_walk(t, 0, 1ULL << 46, collect, out) == 7);
	CHECK(!strcmp(out, "1000/1=1 200000/2=2 80000000/3=99 "));
	out[0] = 0;
	/* A leaf meeting the range is visited whole; the range is [start, end). */
	CHECK(mem_table_walk(t, 3 * MiB, 64 * GiB, collect, out) == 7);
	CHECK(!strcmp(out, "200000/2=2 80000000/3=99 "));
	out[0] = 0;
	CHECK(mem_table_walk(t, 3 * GiB, UINT64_MAX, collect, out) == 0);
	CHECK(!strcmp(out, "ffffff000/1=4 9600000000/1=3 "));
	out[0] = 0;
	CHECK(mem_table_walk(t, 4096, 4096, collect, out) == 0 && !out[0]);
	CHECK(mem_table_walk(t, 1ULL << 46, UINT64_MAX, collect, out) == 0 && !out[0]);
	CHECK(mem_table_walk(NULL, 0, 1, collect, out) == -EINVAL);

	/* next: the covering leaf, or the first after. */
	pa = 0;
	CHECK((slot = mem_table_next(t, &pa, &level)) && pa == 4096 && level == PG_LEVEL_4K);
	pa = 3 * MiB;
	CHECK((slot = mem_table_next(t, &pa, &level)) && pa == 2 * MiB && level == PG_LEVEL_2M);
	pa = 4 * MiB;
	CHECK((slot = mem_table_next(t, &pa, &level)) && pa == 2 * GiB && *slot == V(99));
	pa = 600 * GiB + 1;
	CHECK((slot = mem_table_next(t, &pa, NULL)) && pa == 600 * GiB);
	pa = 600 * GiB + 4096;
	CHECK(mem_table_next(t, &pa, NULL) == NULL && pa == 600 * GiB + 4096);

	/* next_run: from the covering leaf to its table's end or a table. */
	{
		struct mem_table_run run;

		CHECK(mem_table_next_run(t, 0, &run) == 1 && run.pa == 4096 && run.count == 511 &&
		      run.shift == 12 && run.level == PG_LEVEL_4K && run.slots[0] == V(1));
		/* The table of 2 MiB entries: from the leaf at 2 MiB to its end. */
		CHECK(mem_table_next_run(t, 3 * MiB, &run) == 1 && run.pa == 2 * MiB &&
		      run.level == PG_LEVEL_2M && run.count == 511 && run.shift == 21);
		/* The table of 1 GiB entries: from 2 GiB on, the table of 63 GiB in it. */
		CHECK(mem_table_next_run(t, 4 * MiB, &run) == 1 && run.pa == 2 * GiB &&
		      run.level == PG_LEVEL_1G && run.count == 510 && run.slots[0] == V(99) &&
		      !run.slots[1] && run.slots[61] && !IS_LEAF(run.slots[61]));
		CHECK(mem_table_next_run(t, 600 * GiB + 4096, &run) == 0);
		CHECK(mem_table_next_run(t, 1ULL << 46, &run) == -ERANGE);
		CHECK(mem_table_next_run(NULL, 0, &run) == -EINVAL);
		CHECK(mem_table_next_run(t, 0, NULL) == -EINVAL);
		CHECK(mem_table_reserve(t, 3 * GiB, PG_LEVEL_1G) == 0);
		CHECK(mem_table_next_run(t, 2 * GiB, &run) == 1 && run.count == 510 &&
		      run.slots[1] == (void *)MEM_TABLE && !IS_LEAF(run.slots[1]));
	}
	mem_table_free(t);
	check_clean();
}

static void check_clone(void)
{
	struct mem_table *t = mem_table_alloc_geometry(x86, &full_ops), *c;
	struct mem_table *borrowed = mem_table_alloc(NULL), *bc;
	struct mem_table_stats s1, s2;
	static struct leaf shared = { 77 };
	long step;

	CHECK(mem_table_store(t, 0, PG_LEVEL_4K, leaf_new(1), NULL) == 0);
	CHECK(mem_table_store(t, 2 * MiB, PG_LEVEL_2M, leaf_new(2), NULL) == 0);
	CHECK(mem_table_store(t, 700 * GiB, PG_LEVEL_4K, V(3), NULL) == 0);
	CHECK(mem_table_reserve(t, 800 * GiB, PG_LEVEL_1G) == 0);
	/* calloc or ops->clone failing at each step: nothing leaks. */
	for (step = 0;; step++) {
		long live = alloc_live;
		unsigned long m = made, r = released;

		alloc_fail_after(step);
		c = mem_table_clone(t);
		alloc_fail_after(-1);
		if (c)
			break;
		CHECK(errno == ENOMEM && alloc_live == live && made - m == released - r);
	}
	CHECK(step == 7); /* the root and six tables */
	CHECK(mem_table_stats(t, &s1) == 0 && mem_table_stats(c, &s2) == 0);
	CHECK(!memcmp(&s1, &s2, sizeof(s1)));
	/* Independent: change one, the other keeps its leaves. */
	CHECK(mem_table_store(c, 0, PG_LEVEL_4K, leaf_new(10), NULL) == 0);
	CHECK(value_of(mem_table_load(t, 0, NULL)) == 1);
	CHECK(value_of(mem_table_load(c, 0, NULL)) == 10);
	CHECK(mem_table_load(c, 2 * MiB, NULL) != mem_table_load(t, 2 * MiB, NULL));
	mem_table_free(c);
	mem_table_free(t);
	/* A table that owns nothing shares its pointers. */
	mem_table_init(PG_LEVEL_4K);
	*mem_table_create(borrowed, 4096) = &shared;
	bc = mem_table_clone(borrowed);
	CHECK(bc && *mem_table_find(bc, 4096, NULL) == &shared);
	mem_table_free(bc);
	mem_table_free(borrowed);
	/* Pointers with ops->free but no ops->clone cannot be copied. */
	t = mem_table_alloc_geometry(x86, &free_only_ops);
	c = mem_table_clone(t);
	CHECK(c != NULL);
	mem_table_free(c);
	CHECK(mem_table_store(t, 0, PG_LEVEL_4K, leaf_new(1), NULL) == 0);
	CHECK(mem_table_clone(t) == NULL && errno == EINVAL);
	mem_table_free(t);
	CHECK(mem_table_clone(NULL) == NULL);
	check_clean();
}

static void check_count_stats(void)
{
	struct mem_table *t = mem_table_alloc_geometry(x86, &full_ops);
	struct mem_table_stats st;

	CHECK(mem_table_count(t) == 0 && mem_table_count(NULL) == 0);
	/* Slots filled behind the table's back are counted too. */
	*mem_table_create(t, 4096) = V(1);
	*mem_table_create(t, 8192) = leaf_new(2);
	CHECK(mem_table_count(t) == 2);
	CHECK(mem_table_store(t, 4 * MiB, PG_LEVEL_2M, V(3), NULL) == 0);
	CHECK(mem_table_store(t, GiB, PG_LEVEL_1G, V(4), NULL) == 0);
	CHECK(mem_table_count(t) == 4);
	CHECK(mem_table_stats(t, &st) == 0);
	CHECK(st.nlevels == 4 && st.count == 4);
	CHECK(st.leaves[0] == 2 && st.leaves[1] == 1 && st.leaves[2] == 1 && st.leaves[3] == 0);
	CHECK(st.values[0] == 1 && st.values[1] == 1 && st.values[2] == 1);
	CHECK(st.tables[3] == 1 && st.tables[2] == 1 && st.tables[1] == 1 && st.tables[0] == 1);
	CHECK(st.pages == 2 + 512 + 512 * 512);
	CHECK(st.bytes > 3 * 4096 + 128 * 8);
	CHECK(mem_table_stats(NULL, &st) == -EINVAL && mem_table_stats(t, NULL) == -EINVAL);
	mem_table_free(t);
	check_clean();
}

static void check_ranges(void)
{
	struct mem_table *t = mem_table_alloc_geometry(x86, &full_ops);
	struct mem_table_stats st;
	unsigned int level;
	size_t count;
	void **slot;
	long step;
	int err = -1;

	/* [4 KiB, 2 GiB + 8 KiB): 4 KiB pieces, 2 MiB pieces, one 1 GiB. */
	CHECK(mem_table_store_range(t, 4096, 2 * GiB + 8192, V(5)) == 0);
	CHECK(mem_table_stats(t, &st) == 0);
	CHECK(st.leaves[0] == 511 + 2 && st.leaves[1] == 511 && st.leaves[2] == 1);
	CHECK(st.pages == (2 * GiB + 4096) / 4096);
	CHECK(mem_table_load(t, 0, NULL) == NULL);
	CHECK(mem_table_load(t, 1 * GiB + 5, &level) == V(5) && level == PG_LEVEL_1G);
	CHECK(mem_table_load(t, 2 * GiB + 8192, NULL) == NULL);
	CHECK(mem_table_count(t) == st.count);

	/* Erase the middle: the 1 GiB leaf across the edge is split. */
	CHECK(mem_table_erase_range(t, GiB + 4096, GiB + 8192) == 1);
	CHECK(mem_table_load(t, GiB, &level) == V(5) && level == PG_LEVEL_4K);
	CHECK(mem_table_load(t, GiB + 4096, NULL) == NULL);
	CHECK(mem_table_load(t, GiB + 2 * MiB, &level) == V(5) && level == PG_LEVEL_2M);
	CHECK(mem_table_count(t) == st.count + 511 + 511 - 1);

	/* Bad ranges. */
	CHECK(mem_table_store_range(t, 4096, 4096, V(1)) == -EINVAL);
	CHECK(mem_table_store_range(t, 4097, 8192, V(1)) == -EINVAL);
	CHECK(mem_table_store_range(t, 0, (1ULL << 46) + 4096, V(1)) == -ERANGE);
	slot = (void **)leaf_new(1);
	CHECK(mem_table_store_range(t, 0, 4096, slot) == -EINVAL);
	leaf_free(slot);

	/* A store over everything replaces it all, atomically under failure. */
	for (step = 0; err; step++) {
		long live = alloc_live;

		count = mem_table_count(t);

		alloc_fail_after(step);
		err = mem_table_store_range(t, 4096 * 3, 3 * GiB, V(6));
		alloc_fail_after(-1);
		if (err) {
			CHECK(err == -ENOMEM);
			CHECK(alloc_live == live && mem_table_count(t) == count);
		}
	}
	CHECK(mem_table_load(t, GiB + 4096, NULL) == V(6));
	CHECK(mem_table_load(t, 8192, NULL) == V(5));
	count = mem_table_count(t);
	CHECK(mem_table_erase_range(t, 0, 1ULL << 46) == (long)count);
	CHECK(mem_table_count(t) == 0 && alloc_live == 1);
	mem_table_free(t);
	check_clean();
}

/*
 * A range inside one page table is stored as pages through the page store's
 * table: over pointer leaves (each released once), a reservation, a 2 MiB
 * leaf (split by the general path), with the path marked changed; all of a
 * page table is still one 2 MiB leaf, and a failed allocation changes nothing.
 */
static void check_range_in_page_table(void)
{
	struct mem_table *t = mem_table_alloc_geometry(x86, &full_ops);
	struct mem_table_stats st;
	unsigned int l, level;
	phys_addr_t pa;
	long step;
	int err = -1;

	/* Every allocation failing in turn: a new path, then the pages. */
	for (step = 0; err; step++) {
		alloc_fail_after(step);
		err = mem_table_store_range(t, GiB + 8 * 4096, GiB + 12 * 4096, V(1));
		alloc_fail_after(-1);
		if (err) {
			CHECK(err == -ENOMEM);
			CHECK(alloc_live == 1 && mem_table_count(t) == 0 && !t->entries[0] && !t->changed);
		}
	}
	CHECK(step == 4 && mem_table_count(t) == 4 && alloc_live == 4);
	for (pa = GiB; pa < GiB + 16 * 4096; pa += 4096)
		CHECK(mem_table_load(t, pa, &level) == (pa >= GiB + 8 * 4096 && pa < GiB + 12 * 4096 ? V(1) : NULL));
	CHECK(mem_table_load(t, GiB + 8 * 4096, &level) == V(1) && level == PG_LEVEL_4K);

	/* Over pointer leaves and a reservation, in the hinted table: each leaf released once. */
	CHECK(mem_table_store(t, GiB + 9 * 4096, PG_LEVEL_4K, leaf_new(2), NULL) == 0);
	CHECK(mem_table_store(t, GiB + 20 * 4096, PG_LEVEL_4K, leaf_new(3), NULL) == 0);
	CHECK(mem_table_reserve(t, GiB + 21 * 4096, PG_LEVEL_4K) == 0);
	CHECK(mem_table_count(t) == 5);
	for (l = 0; l < 4; l++)
		table_at(t, GiB, l)->changed = false;
	CHECK(mem_table_store_range(t, GiB + 9 * 4096, GiB + 30 * 4096, V(4)) == 0);
	for (l = 0; l < 4; l++)
		CHECK(table_at(t, GiB, l)->changed);
	CHECK(released == made && mem_table_count(t) == 1 + 21);
	CHECK(mem_table_load(t, GiB + 8 * 4096, NULL) == V(1) && mem_table_load(t, GiB + 21 * 4096, NULL) == V(4));
	CHECK(mem_table_load(t, GiB + 30 * 4096, NULL) == NULL && alloc_live == 4);

	/* In another page table than the hint's, and the last pages of one. */
	CHECK(mem_table_store_range(t, 3 * GiB - 2 * 4096, 3 * GiB, V(5)) == 0);
	CHECK(mem_table_load(t, 3 * GiB - 4096, &level) == V(5) && level == PG_LEVEL_4K);
	CHECK(mem_table_load(t, 3 * GiB, NULL) == NULL && mem_table_count(t) == 24);

	/* 511 pages are pages; a whole page table's 512 are one 2 MiB leaf. */
	CHECK(mem_table_store_range(t, 4 * GiB + 4096, 4 * GiB + 2 * MiB, V(6)) == 0);
	CHECK(mem_table_load(t, 4 * GiB + 4096, &level) == V(6) && level == PG_LEVEL_4K);
	CHECK(mem_table_store_range(t, 5 * GiB, 5 * GiB + 2 * MiB, V(7)) == 0);
	CHECK(mem_table_load(t, 5 * GiB + 4096, &level) == V(7) && level == PG_LEVEL_2M);
	CHECK(mem_table_count(t) == 24 + 511 + 1);

	/* Inside a 2 MiB leaf: the general path splits it, the rest keeps its value. */
	CHECK(mem_table_store_range(t, 5 * GiB + 4096, 5 * GiB + 3 * 4096, V(8)) == 0);
	CHECK(mem_table_load(t, 5 * GiB, &level) == V(7) && level == PG_LEVEL_4K);
	CHECK(mem_table_load(t, 5 * GiB + 2 * 4096, NULL) == V(8));
	CHECK(mem_table_load(t, 5 * GiB + 3 * 4096, NULL) == V(7));
	CHECK(mem_table_stats(t, &st) == 0 && st.count == mem_table_count(t) && st.count == 24 + 511 + 512);
	mem_table_free(t);
	check_clean();
}

/*
 * A range's pages of one page table are stored after one walk to it, and its
 * last piece found without visiting each: ranges from inside one page table to
 * inside, or to the end of, another, over 2 MiB leaves of another value. Every
 * page is checked, and the allocations are the tables the result holds (the
 * last piece mistaken for a page would make a page table, then drop it).
 */
static void check_range_walk(void)
{
	static const struct { phys_addr_t start, end; unsigned int tables; long allocs; } cases[] = {
		/* from page 100 of region 1 to page 7 of region 4: 2 page tables */
		{ 2 * MiB + 100 * 4096, 8 * MiB + 7 * 4096, 2, 2 },
		/* to the end of region 4: its 2 MiB piece, 1 page table */
		{ 2 * MiB + 100 * 4096, 10 * MiB, 1, 1 },
		/*
		 * within one leaf, to its last page: both edges count a table to
		 * split it, and the second goes back to the allocator unused
		 */
		{ 6 * MiB + 4096, 8 * MiB, 1, 2 },
	};

	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct mem_table *t = mem_table_alloc_geometry(x86, NULL);
		struct mem_table_stats st;
		long allocs;
		phys_addr_t pa;

		/* 2 MiB leaves of 1 over [0, 12 MiB), and the path to them. */
		CHECK(mem_table_store_range(t, 0, 12 * MiB, V(1)) == 0);
		allocs = alloc_count;
		CHECK(mem_table_store_range(t, cases[k].start, cases[k].end, V(2)) == 0);
		CHECK(mem_table_stats(t, &st) == 0);
		CHECK(st.tables[0] == cases[k].tables);
		CHECK(alloc_count - allocs == cases[k].allocs);
		for (pa = 0; pa < 12 * MiB; pa += 4096) {
			void *want = pa >= cases[k].start && pa < cases[k].end ? V(2) : V(1);

			if (mem_table_load(t, pa, NULL) != want) {
				CHECK(!"every page holds what the stores left");
				break;
			}
		}
		/* The range's pieces, and the split leaves' pages outside it. */
		CHECK(st.pages == 12 * MiB / 4096);
		CHECK(st.leaves[0] == cases[k].tables * 512 && st.leaves[1] == 6 - cases[k].tables);
		mem_table_free(t);
		check_clean();
	}
}

/*
 * Everything a failed call must leave as it was, in one number: every
 * table's level, changed flag and slots (kind and value of each leaf, in
 * order), the count, the statistics, the allocations live.
 */
static uint64_t fnv(uint64_t h, uint64_t v)
{
	unsigned int i;

	for (i = 0; i < 8; i++, v >>= 8)
		h = (h ^ (v & 0xff)) * 0x100000001b3ULL;
	return h;
}

static uint64_t table_hash(const struct mem_table *t, uint64_t h)
{
	unsigned int i;

	h = fnv(h, t->level->number);
	h = fnv(h, t->changed);
	for (i = 0; i < t->level->nentries; i++) {
		void *e = t->entries[i];

		if (!e)
			continue;
		h = fnv(h, i);
		if (mem_table_is_table(e))
			h = table_hash((const struct mem_table *)((uintptr_t)e & ~MEM_TABLE), h);
		else
			h = fnv(fnv(h, mem_table_is_reserved(e) ? 1 : mem_table_is_value(e) ? 2 : 3),
				mem_table_is_reserved(e) ? 0 : value_of(e));
	}
	return fnv(h, ~0ULL);
}

static uint64_t snapshot(struct mem_table *t)
{
	struct mem_table_stats st;
	uint64_t h = table_hash(t, 0xcbf29ce484222325ULL);
	unsigned int l;

	mem_table_stats(t, &st);
	h = fnv(fnv(fnv(h, mem_table_count(t)), st.count), st.bytes);
	for (l = 0; l < st.nlevels; l++)
		h = fnv(fnv(fnv(h, st.leaves[l]), st.values[l]), st.tables[l]);
	return fnv(h, (uint64_t)alloc_live);
}

static void clear_changed(struct mem_table *t)
{
	unsigned int i;

	t->changed = false;
	for (i = 0; i < t->level->nentries; i++)
		if (mem_table_is_table(t->entries[i]))
			clear_changed((struct mem_table *)((uintptr_t)t->entries[i] & ~MEM_TABLE));
}

/*
 * Run @op with the n-th ops->split call refused, for every n until it
 * succeeds: each refusal must leave the table as it was (the same
 * snapshot, the children made released) and report -ENOMEM. Returns how
 * many refusals were tried.
 */
#define REFUSE_EACH_SPLIT(t, call)                                            \
	({                                                                    \
		long _n;                                                      \
		int _err;                                                     \
		for (_n = 0;; _n++) {                                         \
			uint64_t _before;                                     \
			unsigned long _m, _r;                                 \
			clear_changed(t);                                     \
			_before = snapshot(t);                                \
			_m = made, _r = released;                             \
			split_refuse_at = _n;                                 \
			_err = (call);                                        \
			split_refuse_at = -1;                                 \
			if (_err >= 0)                                        \
				break;                                        \
			CHECK(_err == -ENOMEM);                               \
			CHECK(snapshot(t) == _before);                        \
			CHECK(made - _m == released - _r);                    \
		}                                                             \
		_n;                                                           \
	})

/* Range operations whose ops->split refuses midway change nothing. */
static void check_refusing_split(void)
{
	struct mem_table *t = mem_table_alloc_geometry(x86, &full_ops);
	struct mem_table_stats st;
	long tried;

	/* Pointer leaves at both edges: 1 GiB at 1 GiB and at 3 GiB. */
	CHECK(mem_table_store(t, GiB, PG_LEVEL_1G, leaf_new(1), NULL) == 0);
	CHECK(mem_table_store(t, 3 * GiB, PG_LEVEL_1G, leaf_new(3), NULL) == 0);
	tried = REFUSE_EACH_SPLIT(t, mem_table_store_range(t, GiB + 4096, 3 * GiB + 8192, V(7)));
	/* 512 + 512 children per edge, each refused in turn. */
	CHECK(tried == 2048);
	CHECK(mem_table_load(t, GiB, NULL) && value_of(mem_table_load(t, GiB, NULL)) == 1);
	CHECK(mem_table_load(t, GiB + 4096, NULL) == V(7));
	CHECK(mem_table_load(t, 3 * GiB + 4096, NULL) == V(7));
	CHECK(value_of(mem_table_load(t, 3 * GiB + 8192, NULL)) == 3);

	/* Both edges inside one leaf: the second split is made in the first's. */
	CHECK(mem_table_store(t, 5 * GiB, PG_LEVEL_1G, leaf_new(5), NULL) == 0);
	tried = REFUSE_EACH_SPLIT(t, mem_table_erase_range(t, 5 * GiB + 4096, 5 * GiB + 3 * MiB));
	CHECK(tried == 512 + 512 + 512);
	CHECK(mem_table_load(t, 5 * GiB + 4096, NULL) == NULL);
	CHECK(value_of(mem_table_load(t, 5 * GiB + 3 * MiB, NULL)) == 5);
	CHECK(value_of(mem_table_load(t, 5 * GiB, NULL)) == 5);

	/* One pointer edge, new tables needed at the other: none stays linked. */
	CHECK(mem_table_store(t, 9 * GiB, PG_LEVEL_1G, leaf_new(9), NULL) == 0);
	tried = REFUSE_EACH_SPLIT(t, mem_table_store_range(t, 7 * GiB + 4096, 9 * GiB + 4096, V(8)));
	CHECK(tried == 1024);
	CHECK(mem_table_erase_range(t, 0, 1ULL << 46) > 0);
	CHECK(mem_table_stats(t, &st) == 0 && st.count == 0 && st.tables[2] == 0);

	/* The single-leaf operations: split, store and reserve inside a leaf. */
	CHECK(mem_table_store(t, GiB, PG_LEVEL_1G, leaf_new(1), NULL) == 0);
	CHECK(REFUSE_EACH_SPLIT(t, mem_table_reserve(t, GiB + 4096, PG_LEVEL_4K)) == 1024);
	CHECK(mem_table_load(t, GiB + 4096, NULL) && mem_table_count(t) == 1023);
	CHECK(mem_table_store(t, 3 * GiB, PG_LEVEL_1G, leaf_new(3), NULL) == 0);
	CHECK(REFUSE_EACH_SPLIT(t, mem_table_split(t, 3 * GiB + 4096, PG_LEVEL_4K)) == 1024);
	CHECK(mem_table_store(t, 5 * GiB, PG_LEVEL_1G, leaf_new(5), NULL) == 0);
	CHECK(REFUSE_EACH_SPLIT(t, mem_table_store(t, 5 * GiB, PG_LEVEL_2M, V(1), NULL)) == 512);
	mem_table_free(t);
	check_clean();
}

/* mem_table_prev() finds what mem_table_next() finds, backwards. */
static void check_prev(void)
{
	struct mem_table *t = mem_table_alloc_geometry(x86, &full_ops);
	phys_addr_t pa, starts[8], back[8];
	unsigned int level, n = 0, m = 0;

	pa = 5 * GiB;
	CHECK(mem_table_prev(t, &pa, NULL) == NULL && pa == 5 * GiB);
	CHECK(mem_table_store(t, 0, PG_LEVEL_4K, V(1), NULL) == 0);
	CHECK(mem_table_store(t, 2 * MiB, PG_LEVEL_2M, V(2), NULL) == 0);
	CHECK(mem_table_store(t, 3 * GiB, PG_LEVEL_1G, V(3), NULL) == 0);
	CHECK(mem_table_store(t, (1ULL << 46) - 4096, PG_LEVEL_4K, V(4), NULL) == 0);
	CHECK(mem_table_reserve(t, 5 * GiB, PG_LEVEL_4K) == 0);
	for (pa = 0; mem_table_next(t, &pa, &level); pa += 1ULL << (12 + 9 * (level - 1)))
		starts[n++] = pa;
	for (pa = (1ULL << 46) - 1; mem_table_prev(t, &pa, &level); pa--) {
		back[m++] = pa;
		if (!pa)
			break;
	}
	CHECK(n == 4 && m == 4);
	for (level = 0; level < n && level < m; level++)
		CHECK(starts[level] == back[m - 1 - level]);
	/* Inside a large leaf: that leaf. */
	pa = 3 * GiB + 12345;
	CHECK(mem_table_prev(t, &pa, &level) && pa == 3 * GiB && level == PG_LEVEL_1G);
	pa = 3 * GiB - 1;
	CHECK(*mem_table_prev(t, &pa, &level) == V(2) && pa == 2 * MiB && level == PG_LEVEL_2M);
	pa = 1ULL << 46;
	CHECK(mem_table_prev(t, &pa, NULL) == NULL && pa == 1ULL << 46);
	mem_table_free(t);
	check_clean();
}

static int count_leaf(void *entry, phys_addr_t pa, unsigned int level, void *arg)
{
	(void)entry, (void)pa, (void)level;
	return ++*(long *)arg > 0 && *(long *)arg == LONG_MAX; /* count; never stop */
}

static int stop_at_first(void *entry, phys_addr_t pa, unsigned int level, void *arg)
{
	(void)entry, (void)pa, (void)level, (void)arg;
	return 7;
}

/* The changed walk visits the leaves of the marked tables only. */
static void check_walk_changed(void)
{
	struct mem_table *t = mem_table_alloc_geometry(x86, &full_ops);
	phys_addr_t pa;
	long n = 0;

	for (pa = 0; pa < 4 * 2 * MiB; pa += 4096)
		CHECK(mem_table_store(t, pa, PG_LEVEL_4K, V(1), NULL) == 0);
	CHECK(mem_table_walk_changed(t, count_leaf, &n) == 0 && n == 2048);
	n = 0;
	CHECK(mem_table_walk_changed(t, count_leaf, &n) == 0 && n == 0);
	/* One page of the third leaf table: that table's 512 leaves. */
	CHECK(mem_table_store(t, 2 * 2 * MiB + 5 * 4096, PG_LEVEL_4K, V(2), NULL) == 0);
	CHECK(mem_table_walk_changed(t, count_leaf, &n) == 0 && n == 512);
	/* An erase marks the tables left on its path: 511 leaves. */
	CHECK(mem_table_erase(t, 3 * 2 * MiB, NULL) == V(1));
	n = 0;
	CHECK(mem_table_walk_changed(t, count_leaf, &n) == 0 && n == 511);
	/* A walk that stops keeps the marks. */
	CHECK(mem_table_store(t, 4096, PG_LEVEL_4K, V(3), NULL) == 0);
	CHECK(mem_table_walk_changed(t, stop_at_first, NULL) == 7);
	n = 0;
	CHECK(mem_table_walk_changed(t, count_leaf, &n) == 0 && n == 512);
	/* A merge marks its path: the 2 MiB leaf beside three tables. */
	CHECK(mem_table_store_range(t, 0, 2 * MiB, V(4)) == 0);
	n = 0;
	CHECK(mem_table_walk_changed(t, count_leaf, &n) == 0 && n == 1);
	CHECK(mem_table_split(t, 0, PG_LEVEL_4K) == 0);
	n = 0;
	CHECK(mem_table_walk_changed(t, count_leaf, &n) == 0 && n == 512);
	CHECK(mem_table_merge(t, 0, PG_LEVEL_2M) == 0);
	n = 0;
	CHECK(mem_table_walk_changed(t, count_leaf, &n) == 0 && n == 1);
	/* An erased range: the tables it leaves, nothing else (510 pages, and
	 * the 2 MiB leaf beside them in the marked table above). */
	CHECK(mem_table_erase_range(t, 2 * MiB, 2 * MiB + 8192) == 2);
	n = 0;
	CHECK(mem_table_walk_changed(t, count_leaf, &n) == 0 && n == 511);
	CHECK(mem_table_walk_changed(NULL, count_leaf, &n) == -EINVAL);
	mem_table_free(t);
	check_clean();
}

/* Ranges that reach the top of a 64-bit geometry, by their last address. */
static void check_ranges_top(void)
{
	struct mem_table_geometry g64;
	struct mem_table *t;
	unsigned int level;

	CHECK(mem_table_geometry_init(&g64, 12, 9, 64, PG_LEVEL_4K) == 0);
	t = mem_table_alloc_geometry(&g64, &full_ops);
	CHECK(mem_table_store_range_incl(t, UINT64_MAX - 3 * 4096 + 1, UINT64_MAX, V(1)) == 0);
	CHECK(mem_table_count(t) == 3);
	CHECK(mem_table_load(t, UINT64_MAX, &level) == V(1) && level == PG_LEVEL_4K);
	CHECK(mem_table_store_range_incl(t, 0xFFFFFFFFFFE00000ULL, UINT64_MAX, V(2)) == 0);
	CHECK(mem_table_load(t, UINT64_MAX, &level) == V(2) && level == PG_LEVEL_2M);
	CHECK(mem_table_count(t) == 1);
	/* A pointer leaf at the top, split at the edge and erased up to 2^64. */
	CHECK(mem_table_store(t, 0xFFFFFFFFFFE00000ULL, PG_LEVEL_2M, leaf_new(4), NULL) == 0);
	CHECK(mem_table_erase_range_incl(t, UINT64_MAX - 4095, UINT64_MAX) == 1);
	CHECK(mem_table_count(t) == 511 && mem_table_load(t, UINT64_MAX, NULL) == NULL);
	CHECK(value_of(mem_table_load(t, UINT64_MAX - 4096, NULL)) == 4);
	/* Bad inclusive ranges. */
	CHECK(mem_table_store_range_incl(t, 4096, 4095, V(1)) == -EINVAL);
	CHECK(mem_table_store_range_incl(t, 4096, 8192, V(1)) == -EINVAL);
	CHECK(mem_table_erase_range_incl(t, 1, 4095) == -EINVAL);
	CHECK(mem_table_erase_range_incl(t, 0, UINT64_MAX) == 511);
	CHECK(mem_table_count(t) == 0);
	mem_table_free(t);
	/* In a 46-bit geometry, the last page is below 2^46. */
	t = mem_table_alloc_geometry(x86, &full_ops);
	CHECK(mem_table_store_range_incl(t, 0, (1ULL << 46), V(1)) == -EINVAL);
	CHECK(mem_table_store_range_incl(t, 0, (1ULL << 46) + 4095, V(1)) == -ERANGE);
	CHECK(mem_table_store_range_incl(t, (1ULL << 46) - 4096, (1ULL << 46) - 1, V(1)) == 0);
	CHECK(mem_table_count(t) == 1);
	mem_table_free(t);
	check_clean();
}

/* A mem_table_create() slot is counted once filled, whenever count is called. */
static void check_count_create(void)
{
	struct mem_table *t = mem_table_alloc_geometry(x86, &full_ops);
	void **slot;

	slot = mem_table_create(t, 4096);
	CHECK(mem_table_count(t) == 0);
	*slot = V(1);
	CHECK(mem_table_count(t) == 1);
	CHECK(mem_table_store(t, 8192, PG_LEVEL_4K, V(2), NULL) == 0);
	CHECK(mem_table_count(t) == 2);
	*mem_table_create(t, 8192) = V(3); /* a leaf overwritten: still 2 */
	CHECK(mem_table_count(t) == 2);
	CHECK(mem_table_erase(t, 4096, NULL) == V(1));
	CHECK(mem_table_count(t) == 1);
	mem_table_free(t);
	check_clean();
}

/*
 * Statistics and mem_table_next() over tables of scattered pages (the walks
 * skip empty slots eight at a time): leaves per level as a walk counts them,
 * and every leaf found by next, in order, with the pages placed here; the
 * same statistics from mem_table_stats_walk(), with every leaf on the way.
 */
static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int count_level(void *entry, phys_addr_t pa, unsigned int level, void *arg)
{
	(void)entry;
	(void)pa;
	((size_t *)arg)[level - PG_LEVEL_4K]++;
	return 0;
}

/*
 * mem_table_stats_walk()'s visitor: the leaves of each run come as placed[], in
 * order, with no table among the slots; it stops with 77 after a run that
 * takes it past stop_at leaves.
 */
struct stats_visit {
	const uint64_t *placed;
	size_t n, seen, stop_at, runs;
	bool in_order;
};

/* Whether @run's occupied bits are exactly its groups of slots with a leaf. */
static bool occupied_exact(const struct mem_table_run *run)
{
	uint64_t want = 0;

	if ((run->count - 1) >> run->group_shift >= 64)
		return false;
	for (unsigned long i = 0; i < run->count; i++) {
		void *e = run->slots[i];

		if (e && !mem_table_is_reserved(e))
			want |= 1ULL << (i >> run->group_shift);
	}
	return run->occupied == want;
}

static int stats_visit(const struct mem_table_run *run, void *arg)
{
	struct stats_visit *v = arg;

	if (v->runs++ == 0)
		v->in_order = true;
	v->in_order = v->in_order && run->count >= 1 && run->slots[0] && run->slots[run->count - 1];
	/* 512 slots a table: a group is 8 slots, a cache line. */
	v->in_order = v->in_order && run->group_shift == 3 && occupied_exact(run);
	for (unsigned long i = 0; i < run->count; i++) {
		void *e = run->slots[i];
		phys_addr_t pa = run->pa + ((phys_addr_t)i << run->shift);

		if (!e || mem_table_is_reserved(e))
			continue;
		/* check_sparse_stats_next() puts 2 MiB leaves from 64 MiB up, pages below. */
		v->in_order = v->in_order && !mem_table_is_table(e) && v->seen < v->n &&
			      v->placed[v->seen] == pa && run->level == (pa >= 64 * MiB ? PG_LEVEL_2M : PG_LEVEL_4K);
		v->seen++;
	}
	return v->seen > v->stop_at ? 77 : 0;
}

/*
 * mem_table_run.occupied and .group_shift, for tables of 2 to 65,536 slots: the
 * stats walk's runs say exactly which groups hold a leaf (reservations are not
 * leaves), a group is the fewest slots that fit a table in 64 bits, and
 * mem_table_next_run() gives every group of its run.
 */
struct groups_visit {
	const struct mem_table_geometry *geo;
	size_t runs, leaves;
	bool ok;
};

static int groups_visit(const struct mem_table_run *run, void *arg)
{
	struct groups_visit *v = arg;
	unsigned int n = v->geo->levels[run->level - PG_LEVEL_4K].nentries, gs = run->group_shift;

	v->runs++;
	v->ok = v->ok && occupied_exact(run) && (n - 1) >> gs < 64 && (!gs || (n - 1) >> (gs - 1) >= 64);
	for (unsigned long i = 0; i < run->count; i++)
		v->leaves += run->slots[i] && !mem_table_is_reserved(run->slots[i]);
	return 0;
}

static void check_stats_walk_groups(void)
{
	struct mem_table_geometry tiny, wide;
	const struct mem_table_geometry *geos[] = {
		x86, &mem_table_geometry_arm64_16k, &mem_table_geometry_arm64_64k, &tiny, &wide,
	};
	uint64_t seed = 0x5eed0002, state = seed;

	CHECK(mem_table_geometry_init(&tiny, 12, 1, 17, PG_LEVEL_4K) == 0);	/* 2 slots a table, 5 levels */
	CHECK(mem_table_geometry_init(&wide, 12, 16, 36, PG_LEVEL_4K) == 0);	/* 65,536 */
	for (unsigned int g = 0; g < sizeof(geos) / sizeof(geos[0]); g++) {
		const struct mem_table_geometry *geo = geos[g];
		struct mem_table *t = mem_table_alloc_geometry(geo, &full_ops);
		phys_addr_t limit = 1ULL << (geo->phys_bits < 40 ? geo->phys_bits : 40);
		struct groups_visit v = { .geo = geo, .ok = true };
		struct mem_table_stats st;
		struct mem_table_run run;
		size_t n = 0;

		for (int k = 0; k < 300; k++) {
			/* Pages in runs of 1 to 40, anywhere below 1 TiB; now and then a reservation. */
			phys_addr_t at = (xorshift64s(&state) % limit) & ~(((phys_addr_t)1 << geo->page_shift) - 1);
			unsigned int len = 1 + xorshift64s(&state) % 40;

			for (unsigned int j = 0; j < len && at < limit; j++, at += 1ULL << geo->page_shift) {
				if (mem_table_load(t, at, NULL))
					continue;
				if (k % 16 == 15)
					CHECK(mem_table_reserve(t, at, PG_LEVEL_4K) == 0);
				else if (mem_table_store(t, at, PG_LEVEL_4K, V(k), NULL) == 0)
					n++;
			}
		}
		CHECK(mem_table_stats_walk(t, &st, groups_visit, &v) == 0);
		/* A table of pages with a leaf is one run (one of reservations alone, none). */
		CHECK(v.ok && v.leaves == n && st.count == n && v.runs > 0 && v.runs <= st.tables[0]);
		CHECK(mem_table_next_run(t, 0, &run) == 1);
		CHECK(run.occupied == ((run.count - 1) >> run.group_shift >= 63 ? ~0ULL :
				       (1ULL << (((run.count - 1) >> run.group_shift) + 1)) - 1));
		if (!v.ok || v.leaves != n)
			printf("check_stats_walk_groups: geometry %u, seed %#" PRIx64 "\n", g, seed);
		mem_table_free(t);
	}
	check_clean();
}

static void check_sparse_stats_next(void)
{
	uint64_t seed = 0x5eed0001, state = seed;
	struct mem_table *t = mem_table_alloc_geometry(x86, &full_ops);
	static uint64_t placed[4096];
	size_t n = 0, walked[MEM_TABLE_MAX_LEVELS] = { 0 };
	struct mem_table_stats st;
	unsigned int l, level;
	phys_addr_t pa;
	void **slot;
	bool in_order = true;

	for (int k = 0; k < 3000; k++) {
		/* A page in one of a few page tables, at any slot; now and then a 2 MiB leaf. */
		uint64_t region = xorshift64s(&state) % 40, slot_no = xorshift64s(&state) % 512;
		phys_addr_t at = region * 2 * MiB + slot_no * 4096;

		if (region >= 32)
			at = region * 2 * MiB;
		if (mem_table_load(t, at, NULL))
			continue;
		if (mem_table_store(t, at, region >= 32 ? PG_LEVEL_2M : PG_LEVEL_4K, V(k), NULL) == 0)
			placed[n++] = at;
	}
	qsort(placed, n, sizeof(*placed), cmp_u64);
	CHECK(mem_table_stats(t, &st) == 0);
	CHECK(mem_table_walk(t, 0, UINT64_MAX, count_level, walked) == 0);
	for (l = 0; l < st.nlevels; l++)
		CHECK(st.leaves[l] == walked[l]);
	CHECK(st.count == n && mem_table_count(t) == n);
	pa = 0;
	for (size_t i = 0; i < n; i++) {
		slot = mem_table_next(t, &pa, &level);
		in_order = in_order && slot && pa == placed[i];
		if (!slot)
			break;
		pa += level == PG_LEVEL_4K ? 4096 : 2 * MiB;
	}
	CHECK(in_order);
	CHECK(!mem_table_next(t, &pa, &level));

	/* mem_table_stats_walk(): the same counts, and the leaves in order on the way. */
	struct stats_visit v = { .placed = placed, .n = n, .stop_at = SIZE_MAX };
	struct mem_table_stats both;

	CHECK(mem_table_stats_walk(t, &both, stats_visit, &v) == 0);
	CHECK(memcmp(&both, &st, sizeof(st)) == 0);
	CHECK(v.seen == n && v.in_order);
	CHECK(mem_table_stats_walk(t, &both, NULL, NULL) == 0 && memcmp(&both, &st, sizeof(st)) == 0);
	/* A table of pages is one run. */
	CHECK(v.runs == st.tables[0] + (st.leaves[1] ? st.tables[1] : 0));
	v = (struct stats_visit){ .placed = placed, .n = n, .stop_at = n / 2 };
	CHECK(mem_table_stats_walk(t, &both, stats_visit, &v) == 77 && v.seen > n / 2 && v.seen < n && v.in_order);
	CHECK(both.count <= st.count && both.bytes <= st.bytes);
	CHECK(mem_table_stats_walk(NULL, &both, NULL, NULL) == -EINVAL);
	CHECK(mem_table_stats_walk(t, NULL, stats_visit, &v) == -EINVAL);
	if (!in_order || st.count != n || !v.in_order)
		printf("check_sparse_stats_next: seed %#" PRIx64 "\n", seed);
	mem_table_free(t);
	check_clean();
}

/*
 * mem_table_set_allocator(): every block of the library from the caller's
 * allocator (the counting calloc() sees none) and back to it; its failures
 * fail cleanly; it does not change while its blocks are out.
 */
static long mine_live, mine_count, mine_fail_at = -1;

static void *mine_zalloc(size_t size)
{
	if (mine_fail_at >= 0 && mine_fail_at-- == 0)
		return NULL;
	mine_live++;
	mine_count++;
	return calloc(1, size);
}

static void mine_release(void *block)
{
	mine_live--;
	free(block);
}

static void check_allocator(void)
{
	const struct mem_table_allocator mine = { mine_zalloc, mine_release };
	const struct mem_table_allocator half = { mine_zalloc, NULL };
	long counted = alloc_count, live;
	struct mem_table_stats st;
	struct mem_table *t;
	unsigned int l;
	uint64_t i;
	size_t n;

	CHECK(mem_table_set_allocator(&half) == -EINVAL);
	CHECK(mem_table_set_allocator(&mine) == 0);
	t = mem_table_alloc_geometry(x86, &full_ops);
	/* Pages 2 MiB apart: a page table each; a large leaf split; a range. */
	for (i = 0; i < 64; i++)
		CHECK(mem_table_store(t, i * 2 * MiB + 4096, PG_LEVEL_4K, V(i), NULL) == 0);
	CHECK(mem_table_store(t, 256 * MiB, PG_LEVEL_2M, V(7), NULL) == 0);
	CHECK(mem_table_store(t, 256 * MiB + 4096, PG_LEVEL_4K, V(8), NULL) == 0);
	CHECK(mem_table_store_range(t, 3 * GiB, 3 * GiB + 8 * MiB + 4096, V(9)) == 0);
	CHECK(mem_table_stats(t, &st) == 0);
	for (l = 0, n = 0; l < st.nlevels; l++)
		n += st.tables[l];
	CHECK(mine_live == (long)n && mine_count >= mine_live);
	CHECK(alloc_count == counted);
	CHECK(mem_table_set_allocator(NULL) == -EBUSY && mem_table_set_allocator(&mine) == -EBUSY);

	/* The first or the second table of a store refused: ENOMEM, nothing changed. */
	live = mine_live;
	for (mine_fail_at = 0; mine_fail_at < 2; mine_fail_at = i + 1) {
		i = (uint64_t)mine_fail_at;
		errno = 0;
		CHECK(mem_table_store(t, 5 * GiB + 4096, PG_LEVEL_4K, V(1), NULL) == -ENOMEM);
		CHECK(mem_table_load(t, 5 * GiB + 4096, NULL) == NULL && mine_live == live);
		CHECK(mem_table_count(t) == 64 + 512 + 5);
	}
	mine_fail_at = -1;
	CHECK(mem_table_store(t, 5 * GiB + 4096, PG_LEVEL_4K, V(1), NULL) == 0 && mine_live == live + 2);

	mem_table_free(t);
	CHECK(mine_live == 0 && alloc_count == counted);
	CHECK(mem_table_set_allocator(NULL) == 0);
	t = mem_table_alloc_geometry(x86, &full_ops);
	CHECK(alloc_count == counted + 1 && mine_count > 0 && mine_live == 0);
	mem_table_free(t);
	check_clean();
}

int main(void)
{
	mem_table_init(PG_LEVEL_4K);
	check_geometries();
	check_values();
	check_store_load_erase();
	check_store_hint();
	check_large();
	check_split_failures();
	check_reserve();
	check_walk_next();
	check_clone();
	check_count_stats();
	check_ranges();
	check_range_in_page_table();
	check_range_walk();
	check_refusing_split();
	check_prev();
	check_walk_changed();
	check_ranges_top();
	check_count_create();
	check_sparse_stats_next();
	check_stats_walk_groups();
	check_allocator();

	printf("%lu passed, %lu failed\n", checks_passed, checks_run - checks_passed);
	return checks_passed == checks_run ? 0 : 1;
}
