// SPDX-License-Identifier: GPL-2.0-only
/*
 * The changed walk (mem_table_walk_changed) against a walk of the whole
 * table, with 1% of 2^20 dense pages changed since the last walk: the cost
 * of finding what changed, as Heki would to tell the hypervisor, and as
 * `memtable watch` does each round. Two patterns: the changed pages at
 * random (nearly every 512-page table gets one, so the walk visits nearly
 * everything: marks are per table) and in runs of 512 (a mapping's pages:
 * 1% of the tables). Timing lives here, never in the tests.
 *
 *   build/bench-changed [PAGES] [RUNS] [PERCENT]
 */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "mem_table.h"

static int sum_leaf(void *entry, phys_addr_t pa, unsigned int level, void *arg)
{
	(void)pa, (void)level;
	*(uint64_t *)arg += mem_table_to_value(entry);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 0) : 1UL << 20;
	int runs = argc > 2 ? atoi(argv[2]) : 9;
	double percent = argc > 3 ? atof(argv[3]) : 1.0;
	unsigned long changes = (unsigned long)(n * percent / 100), i;
	double *full = calloc(runs, sizeof(double)), *changed = calloc(runs, sizeof(double));
	struct mem_table *t = mem_table_alloc_geometry(&mem_table_geometry_x86_64, NULL);
	uint64_t sum = 0;
	int r;

	if (!t || !full || !changed)
		return 1;
	for (i = 0; i < n; i++)
		mem_table_store(t, (phys_addr_t)i << 12, PG_LEVEL_4K, mem_table_mk_value(i), NULL);
	mem_table_walk_changed(t, sum_leaf, &sum);
	for (int clustered = 0; clustered < 2; clustered++) {
		for (r = 0; r < runs; r++) {
			double t0;

			unsigned long base = 0;

			for (i = 0; i < changes; i++) {
				unsigned long page;

				if (clustered && i % 512 == 0)
					base = (rng() % (n / 512)) * 512;
				page = clustered ? base + i % 512 : rng() % n;
				mem_table_store(t, (phys_addr_t)page << 12, PG_LEVEL_4K,
						mem_table_mk_value(page + r), NULL);
			}
			t0 = now();
			mem_table_walk_changed(t, sum_leaf, &sum);
			changed[r] = now() - t0;
			t0 = now();
			mem_table_walk(t, 0, UINT64_MAX, sum_leaf, &sum);
			full[r] = now() - t0;
		}
		printf("changed walk: %lu pages, %lu changed (%.1f%%) %s between walks, medians of %d runs\n",
		       n, changes, percent, clustered ? "in runs of 512" : "at random", runs);
		printf("  mem_table_walk_changed  %10.0f us\n", median(changed, runs) / 1e3);
		printf("  mem_table_walk (all)    %10.0f us\n", median(full, runs) / 1e3);
		printf("  changed / all           %10.3f\n", median(changed, runs) / median(full, runs));
	}
	printf("(checksum %llu)\n", (unsigned long long)sum % 1000);
	mem_table_free(t);
	return 0;
}
