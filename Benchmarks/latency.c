// SPDX-License-Identifier: GPL-2.0-only
/*
 * memtable's latency floor: how much of a dependent lookup's time is the
 * walk above the leaf, and what shorter walks would give. Each probe needs
 * the last one's answer (every key stores the next key of one random cycle),
 * as in bench.c's latency column; each chain is timed after a pass of
 * independent lookups over the same structure, the variants interleaved,
 * medians of RUNS.
 *
 *   flat array      values[i], the floor: one load, the cache miss
 *   mem_table       mem_table_lookup(): three upper levels, then the leaf
 *   GiB cache       a direct-mapped cache of 2 MiB-level tables keyed by a
 *                   hash of the GiB (a CPU's paging-structure cache): two
 *                   levels skipped on a hit
 *   2-level         an array of leaf tables indexed by the 2 MiB region:
 *                   one load, then the leaf; no tag, no hash, every probe a
 *                   hit (the most any cache in front of the leaves can do)
 *
 * The last two are built from the finished table for this measurement
 * only; they are not in the library (Benchmarks/README.md says why).
 *
 * Usage: bench-latency [N [RUNS]]   (make bench-latency)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench.h"
#include "mem_table.h"

#define GIB_CACHE 1024 /* entries: 16 KiB */

struct gib_cache {
	uint64_t gib;
	void *const *slots; /* the 2 MiB-level table's entries */
};

static size_t n;
static uint64_t *keys, *perm, *next_of, *flat;
static struct mem_table *table;
static struct gib_cache gib_cache[GIB_CACHE];
static void *const **two_level; /* by 2 MiB region: the leaf table's entries */
static uint64_t region_base;
static volatile uint64_t sink;

static unsigned int gib_hash(uint64_t gib)
{
	return (unsigned int)((gib * 0x9E3779B97F4A7C15ULL) >> 54);
}

/* The entries of the table a slot holds (it must hold one). */
static void *const *child(void *entry)
{
	return (void *const *)((struct mem_table *)((char *)entry - MEM_TABLE))->entries;
}

/* The entries of the 2 MiB-level table above @pa's page (4-level x86_64). */
static void *const *pmd_of(uint64_t pa)
{
	return child(child(table->entries[(pa >> 39) & 127])[(pa >> 30) & 511]);
}

static void *lookup_gib_cache(uint64_t pa)
{
	const struct gib_cache *c = &gib_cache[gib_hash(pa >> 30)];
	void *e;

	if (c->gib != pa >> 30)
		return mem_table_lookup(table, pa);
	e = c->slots[(pa >> 21) & 511];
	if (!((uintptr_t)e & MEM_TABLE))
		return e;
	return child(e)[(pa >> 12) & 511];
}

static void *lookup_two_level(uint64_t pa)
{
	return two_level[(pa >> 21) - region_base][(pa >> 12) & 511];
}

/* Keys of a pattern, a random cycle through them, the table and the rest. */
static void build(int slots)
{
	uint64_t lo = UINT64_MAX, hi = 0, base = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (slots && i % 16384 == 0)
			base = slot_base(i / 16384 % 64);
		keys[i] = slots ? base + i % 16384 : i;
		perm[i] = i;
	}
	for (i = n - 1; i > 0; i--) {
		size_t j = rng() % (i + 1);
		uint64_t t = perm[i];

		perm[i] = perm[j];
		perm[j] = t;
	}
	for (i = 0; i < n; i++)
		next_of[perm[i]] = perm[(i + 1) % n];
	table = mem_table_alloc_geometry(&mem_table_geometry_x86_64, NULL);
	for (i = 0; i < n; i++) {
		if (mem_table_store(table, keys[i] << 12, PG_LEVEL_4K,
				    mem_table_mk_value(keys[next_of[i]]), NULL))
			abort();
		flat[i] = next_of[i];
	}
	for (i = 0; i < n; i++) {
		uint64_t pa = keys[i] << 12;

		/* The last GiB stored wins a slot that two GiBs hash to. */
		gib_cache[gib_hash(pa >> 30)] = (struct gib_cache){ pa >> 30, pmd_of(pa) };
		lo = pa >> 21 < lo ? pa >> 21 : lo;
		hi = pa >> 21 > hi ? pa >> 21 : hi;
	}
	region_base = lo;
	two_level = calloc(hi - lo + 1, sizeof(*two_level));
	if (!two_level)
		abort();
	for (i = 0; i < n; i++) {
		uint64_t pa = keys[i] << 12;

		two_level[(pa >> 21) - lo] = child(pmd_of(pa)[(pa >> 21) & 511]);
	}
}

enum { FLAT, MEM_TABLE_LOOKUP, GIB_CACHED, TWO_LEVEL, NVARIANTS };
static const char *const names[] = { "flat array", "mem_table_lookup", "GiB cache", "2-level" };

/* One variant: independent lookups over everything, then the chain. */
static double run(int v)
{
	uint64_t sum = 0, j;
	double t0;
	size_t i;

	for (i = 0; i < n; i++) {
		uint64_t pa = keys[perm[i]] << 12;

		sum += v == FLAT ? flat[perm[i]] :
		       v == MEM_TABLE_LOOKUP ? (uint64_t)mem_table_lookup(table, pa) :
		       v == GIB_CACHED ? (uint64_t)lookup_gib_cache(pa) :
		       (uint64_t)lookup_two_level(pa);
	}
	j = v == FLAT ? 0 : keys[0];
	t0 = now();
	switch (v) {
	case FLAT:
		for (i = 0; i < n; i++)
			j = flat[j];
		break;
	case MEM_TABLE_LOOKUP:
		for (i = 0; i < n; i++)
			j = mem_table_to_value(mem_table_lookup(table, j << 12));
		break;
	case GIB_CACHED:
		for (i = 0; i < n; i++)
			j = mem_table_to_value(lookup_gib_cache(j << 12));
		break;
	default:
		for (i = 0; i < n; i++)
			j = mem_table_to_value(lookup_two_level(j << 12));
	}
	t0 = (now() - t0) / n;
	sink = sum + j;
	return t0;
}

int main(int argc, char **argv)
{
	int runs = argc > 2 ? atoi(argv[2]) : 9, slots, r, v;

	n = argc > 1 ? strtoull(argv[1], NULL, 0) : 1 << 20;
	if (runs < 1)
		runs = 1;
	keys = malloc(n * sizeof(*keys));
	perm = malloc(n * sizeof(*perm));
	next_of = malloc(n * sizeof(*next_of));
	flat = malloc(n * sizeof(*flat));
	if (!keys || !perm || !next_of || !flat)
		return 1;
	printf("memtable latency floor: N = %zu pages, medians of %d interleaved runs,\n"
	       "ns per dependent lookup, and the ratio to the flat array\n", n, runs);
	for (slots = 0; slots < 2; slots++) {
		double res[NVARIANTS][runs], med[NVARIANTS];

		build(slots);
		for (r = 0; r < runs; r++)
			for (v = 0; v < NVARIANTS; v++)
				res[v][r] = run(v);
		printf("\n%s\n", slots ? "64 slots of 16384 pages in 1 TiB" : "dense (pages 0..N)");
		for (v = 0; v < NVARIANTS; v++) {
			med[v] = median(res[v], runs);
			printf("  %-18s %7.1f  %5.2fx\n", names[v], med[v], med[v] / med[FLAT]);
		}
		mem_table_free(table);
		free(two_level);
	}
	return 0;
}
