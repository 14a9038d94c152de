// SPDX-License-Identifier: GPL-2.0-only
/*
 * mem_table_stats_walk() with a callback per run, the walk under memtable
 * scan's summary and MemTable.forEachStretch, over tables of pages shaped as
 * a scan meets them: a whole machine's few pages per table of pages (1,400
 * tables of 1 to 7 pages, at random in 24 GiB of frames), 1 GiB of a process's
 * scattered pages (1,750 tables of about 150), and every slot full. Medians of
 * RUNS walks, and per table of pages. Timing lives here, never in the tests.
 *
 *   build/bench-stats [RUNS]
 */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "mem_table.h"

#define FRAMES_24G	(24ULL << 18)	/* 4 KiB frames in 24 GiB */

static int count_run(const struct mem_table_run *run, void *arg)
{
	*(unsigned long *)arg += run->count;
	return 0;
}

/* @ntables tables of pages at random in 24 GiB, each with 1 to 2 * @per - 1 pages. */
static struct mem_table *make(unsigned int ntables, unsigned int per)
{
	struct mem_table *t = mem_table_alloc_geometry(&mem_table_geometry_x86_64, NULL);

	for (unsigned int i = 0; t && i < ntables; i++) {
		uint64_t base = rng() % (FRAMES_24G / 512) * 512;
		unsigned int k = per >= 512 ? 512 : 1 + rng() % (2 * per - 1);

		for (unsigned int j = 0; j < k; j++) {
			uint64_t pfn = base + (per >= 512 ? j : rng() % 512);

			mem_table_store(t, pfn << 12, PG_LEVEL_4K, mem_table_mk_value(pfn), NULL);
		}
	}
	return t;
}

int main(int argc, char **argv)
{
	static const struct { const char *name; unsigned int tables, per; } shapes[] = {
		{ "whole machine: ~4 pages a table", 1400, 4 },
		{ "1 GiB scattered: ~150 a table", 1750, 150 },
		{ "every slot: 512 a table", 1750, 512 },
	};
	int runs = argc > 1 ? atoi(argv[1]) : 31;
	double *t = calloc(runs > 0 ? runs : 1, sizeof(double));

	if (!t || runs < 1)
		return 1;
	printf("mem_table_stats_walk(), a callback per run: medians of %d walks\n", runs);
	printf("%-34s %8s %8s %10s %10s\n", "table", "tables", "pages", "walk us", "ns/table");
	for (unsigned int s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
		struct mem_table *table = make(shapes[s].tables, shapes[s].per);
		struct mem_table_stats stats;
		unsigned long slots = 0;
		double m;

		if (!table)
			return 1;
		for (int r = 0; r < runs; r++) {
			double t0 = now();

			if (mem_table_stats_walk(table, &stats, count_run, &slots) < 0)
				return 1;
			t[r] = now() - t0;
		}
		m = median(t, runs);
		printf("%-34s %8zu %8zu %10.1f %10.1f\n", shapes[s].name, stats.tables[0], stats.pages,
		       m / 1e3, m / (double)stats.tables[0]);
		mem_table_free(table);
	}
	free(t);
	return 0;
}
