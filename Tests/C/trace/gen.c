// SPDX-License-Identifier: GPL-2.0-only
/*
 * memtable-gen: a seeded random trace. Its addresses cluster: a few guest
 * RAM "slots" of contiguous pages, and the pages on both sides of large-page
 * boundaries, so that splits, merges and table frees happen often. (The
 * Swift generator mixes uniform and adversarial addresses instead.)
 *
 * Usage: memtable-gen SEED OPERATIONS [GEOMETRY]
 */
#include <bsd/stdlib.h>
#include <err.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "trace.h"
#include "rng.h"

static uint64_t state;

static uint64_t rng(void)
{
	return xorshift64s(&state);
}

/* Clone then diverge: the tables a replay has, as it will have them. */
static bool live[TRACE_MAX_TABLES] = { true };
static unsigned int cur;

static void table_op(uint64_t what)
{
	unsigned int i, n = 0;

	for (i = 0; i < TRACE_MAX_TABLES; i++)
		n += live[i];
	if (what == 0 && n < TRACE_MAX_TABLES) {
		for (i = 0; live[i]; i++)
			;
		live[i] = true;
		printf("clone\n");
	} else if (what == 1 || n == 1) {
		do
			i = rng() % TRACE_MAX_TABLES;
		while (!live[i]);
		cur = i;
		printf("use %u\n", i);
	} else {
		do
			i = rng() % TRACE_MAX_TABLES;
		while (!live[i] || i == cur);
		live[i] = false;
		printf("free %u\n", i);
	}
}

int main(int argc, char **argv)
{
	const char *errstr, *name = argc > 3 ? argv[3] : NULL;
	const struct trace_geometry *g;
	static const char *const names[] = { "small", "tiny", "x86_64", "small", "x86_64",
					     "tiny", "x86_64_la57", "small", "x86_64", "arm64_16k" };
	uint64_t slots[4], limit, ops, i, seed;
	unsigned int nlevels, n;

	if (argc < 3 || argc > 4)
		errx(2, "usage: memtable-gen SEED OPERATIONS [GEOMETRY]");
	seed = strtonum(argv[1], 0, INT64_MAX, &errstr);
	if (errstr)
		errx(2, "seed %s: %s", argv[1], errstr);
	ops = strtonum(argv[2], 0, 100000000, &errstr);
	if (errstr)
		errx(2, "operations %s: %s", argv[2], errstr);
	state = seed * 0x9E3779B97F4A7C15ULL + 1;
	if (!name)
		name = names[rng() % 10];
	g = trace_geometry(name);
	if (!g)
		errx(2, "unknown geometry %s", name);
	nlevels = (g->phys_bits - g->page_shift + g->bits - 1) / g->bits;
	limit = 1ULL << g->phys_bits;
	for (i = 0; i < 4; i++)
		slots[i] = (rng() % (limit >> 21)) << 21;

	printf("# memtable-gen %" PRIu64 " %" PRIu64 " %s\ngeometry %s\n", seed, ops, name, name);
	for (i = 0; i < ops; i++) {
		unsigned int level = rng() % nlevels, big = 1 + rng() % (nlevels - 1);
		uint64_t page = 1ULL << g->page_shift, span = 1ULL << (g->page_shift + big * g->bits);
		uint64_t pa, value = rng() % 4, r = rng() % 100;
		/* Half the stored leaves are pointers: split, merged, cloned, freed by ops. */
		const char *kind = rng() % 2 ? "*" : "";

		if (big * g->bits + g->page_shift >= g->phys_bits)
			span = limit / 2;
		/* In a slot, at a large boundary, or anywhere (and now and then out of range). */
		switch (rng() % 4) {
		case 0:
		case 1:
			pa = slots[rng() % 4] + (rng() % 64) * page;
			break;
		case 2:
			pa = (rng() % (limit / span)) * span + (rng() % 3 - 1) * page;
			break;
		default:
			pa = rng() % 50 ? (rng() % limit) & ~(page - 1) : limit + rng() % limit;
		}
		pa &= rng() % 8 ? ~(page - 1) : ~0ULL;
		if (level && rng() % 4)
			pa &= ~((1ULL << (g->page_shift + level * g->bits)) - 1);
		n = (unsigned int)(rng() % 3 + 1);
		if (r < 22)
			printf("store 0x%" PRIx64 " %u %s%" PRIu64 "\n", pa, level, kind, value);
		else if (r < 32)
			printf("create 0x%" PRIx64 " %s%" PRIu64 "\n", pa, kind, value);
		else if (r < 35)
			printf("reserve 0x%" PRIx64 " %u\n", pa, level);
		else if (r < 45)
			printf("load 0x%" PRIx64 "\n", pa);
		else if (r < 50)
			printf("find 0x%" PRIx64 "\n", pa);
		else if (r < 57)
			printf("erase 0x%" PRIx64 "\n", pa);
		else if (r < 63)
			printf("split 0x%" PRIx64 " %u\n", pa, level);
		else if (r < 71)
			printf("merge 0x%" PRIx64 " %u\n", pa, level ? level : 1);
		else if (r < 76)
			printf("store_range 0x%" PRIx64 " 0x%" PRIx64 " %" PRIu64 "\n", pa & ~(page - 1),
			       (uint64_t)((pa & ~(page - 1)) + n * (1ULL << (g->page_shift + level * g->bits))) -
				       (rng() % 2) * page, value);
		else if (r < 80)
			printf("erase_range 0x%" PRIx64 " 0x%" PRIx64 "\n", pa & ~(page - 1),
			       (uint64_t)((pa & ~(page - 1)) + n * (1ULL << (g->page_shift + level * g->bits))));
		else if (r < 86)
			printf("walk 0x%" PRIx64 " 0x%" PRIx64 "\n", pa, pa + n * span);
		else if (r < 91)
			printf("next 0x%" PRIx64 "\n", pa);
		else if (r < 94)
			printf("count\n");
		else if (r < 96)
			printf("stats\n");
		else if (r < 98)
			table_op(rng() % 3);
		else
			printf("# nothing\n");
	}
	return 0;
}
