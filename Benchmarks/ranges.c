// SPDX-License-Identifier: GPL-2.0-only
/*
 * mem_table_store_range() against storing the same pages one by one with
 * mem_table_store(), in the same run: ranges of 1 to 500 pages inside 2 MiB
 * regions whose page tables exist already (the stores are timed, not the
 * allocations), 4,096 regions. Medians of RUNS; the ratio is per page.
 * Timing lives here, never in the tests.
 *
 *   build/bench-ranges [RUNS]
 */
#include <stdio.h>
#include <stdlib.h>

#include "bench.h"
#include "mem_table.h"

#define REGIONS 4096

/* One table with a page in each region, so that every page table exists. */
static struct mem_table *table_of_regions(void)
{
	struct mem_table *t = mem_table_alloc_geometry(&mem_table_geometry_x86_64, NULL);

	for (unsigned long g = 0; t && g < REGIONS; g++)
		if (mem_table_store(t, (phys_addr_t)g << 21, PG_LEVEL_4K, mem_table_mk_value(1), NULL))
			exit(1);
	return t;
}

/* Ranges of @len pages from page 1 of each region, a page apart; ns a page. */
static double run(unsigned long len, int ranges)
{
	struct mem_table *t = table_of_regions();
	unsigned long pages = 0;
	double t0;

	if (!t)
		exit(1);
	t0 = now();
	for (unsigned long g = 0; g < REGIONS; g++) {
		for (unsigned long p = 1; p + len <= 512; p += len + 1, pages += len) {
			phys_addr_t pa = ((phys_addr_t)g << 21) + (p << 12);

			if (ranges) {
				if (mem_table_store_range(t, pa, pa + (len << 12), mem_table_mk_value(7)))
					exit(1);
				continue;
			}
			for (unsigned long k = 0; k < len; k++)
				if (mem_table_store(t, pa + (k << 12), PG_LEVEL_4K, mem_table_mk_value(7), NULL))
					exit(1);
		}
	}
	t0 = now() - t0;
	mem_table_free(t);
	return t0 / pages;
}

int main(int argc, char **argv)
{
	static const unsigned long lengths[] = { 1, 4, 26, 100, 500 };
	int runs = argc > 1 ? atoi(argv[1]) : 9;
	double *range = calloc(runs, sizeof(double)), *page = calloc(runs, sizeof(double));

	if (!range || !page || runs < 1)
		return 1;
	printf("store_range against a store per page, ns a page: medians of %d interleaved runs\n", runs);
	printf("%-14s %12s %12s %8s\n", "pages a range", "store_range", "per page", "ratio");
	for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
		double r, p;

		for (int k = 0; k < runs; k++) {
			range[k] = run(lengths[i], 1);
			page[k] = run(lengths[i], 0);
		}
		r = median(range, runs);
		p = median(page, runs);
		printf("%-14lu %12.2f %12.2f %7.2fx\n", lengths[i], r, p, r / p);
	}
	free(range);
	free(page);
	return 0;
}
