// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests of the faithful API, and a seeded random test against an
 * independent model (libbsd's red-black tree keyed by page number).
 *
 * Every check_*() leaves no table behind and asserts that the library holds
 * no allocation and that every stored pointer was released exactly once.
 * Built twice: with the default geometry, and with 3 bits per level and 23
 * address bits (make test's "small" build), which makes deep trees cheap.
 *
 * Usage: test_mem_table [seed [operations]]
 */
/* The paging constants of the kernel shim: these tests check the faithful geometry. */
#define MEM_TABLE_KERNEL_SHIM
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mem_table.h"
#include "rng.h"
#include "check.h"

/*
 * libbsd leaves __unused undefined (Debian #522773) but tree.h needs it; it
 * comes after every system header, as the bug asks.
 */
#define __unused __attribute__((__unused__))
#include <bsd/sys/tree.h>

#define NLEVELS mem_table_nlevels
#define LEVEL(n) (&mem_table_levels[(n)])
#define TOP LEVEL(NLEVELS - 1)
#define PHYS_LIMIT (1ULL << MAX_PHYSMEM_BITS)
#define LEVEL_SIZE(n) (1ULL << LEVEL(n)->shift)

/* Consumer data: a leaf knows its page and how often it was released. */
struct leaf {
	uint64_t page;
	unsigned long serial;
};

static unsigned long leaves_made, leaves_released;

static struct leaf *leaf_new(uint64_t page)
{
	struct leaf *l = malloc(sizeof(*l));

	if (!l)
		abort();
	l->page = page;
	l->serial = ++leaves_made;
	return l;
}

static void leaf_free(void *buf)
{
	leaves_released++;
	free(buf);
}

static struct mem_table_ops leaf_ops = { .free = leaf_free };

/* Every check ends with nothing allocated and every leaf released once. */
static void check_clean(void)
{
	CHECK(alloc_live == 0);
	CHECK(leaves_released == leaves_made);
}

static void check_geometry(void)
{
	unsigned int n, bits = PAGE_SHIFT;

	CHECK(NLEVELS >= 2 && NLEVELS <= CONFIG_PGTABLE_LEVELS);
	for (n = 0; n < NLEVELS; n++) {
		CHECK(LEVEL(n)->number == n);
		CHECK(LEVEL(n)->shift == bits);
		CHECK(LEVEL(n)->nentries >= 2);
		CHECK((LEVEL(n)->nentries & LEVEL(n)->mask) == 0);
		CHECK(LEVEL(n)->mask == LEVEL(n)->nentries - 1);
		if (n + 1 < NLEVELS)
			CHECK(LEVEL(n)->nentries == (1U << MEM_TABLE_PTRS_SHIFT));
		bits += __builtin_ctz(LEVEL(n)->nentries);
	}
	CHECK(bits == MAX_PHYSMEM_BITS);
	CHECK(mem_table_base_level == PG_LEVEL_4K);
#if MEM_TABLE_PTRS_SHIFT == 9 && MAX_PHYSMEM_BITS == 46
	/* x86-64, 4-level paging: 4 KiB, 2 MiB, 1 GiB, 512 GiB per entry. */
	CHECK(NLEVELS == 4);
	CHECK(LEVEL(0)->shift == 12 && LEVEL(1)->shift == 21);
	CHECK(LEVEL(2)->shift == 30 && LEVEL(3)->shift == 39);
	CHECK(TOP->nentries == 128);
#endif
}

static void check_alloc_free(void)
{
	struct mem_table *table = mem_table_alloc(&leaf_ops);

	CHECK(table != NULL);
	CHECK(table->level == TOP);
	CHECK(table->ops == &leaf_ops);
	CHECK(!table->changed);
	CHECK(alloc_live == 1);
	mem_table_free(table);
	check_clean();
}

static void check_create_find(void)
{
	struct mem_table *table = mem_table_alloc(&leaf_ops);
	phys_addr_t pa = 3 * LEVEL_SIZE(1) + 5 * PAGE_SIZE;
	unsigned int level = 0;
	void **slot, **again;
	struct leaf *l;

	CHECK(mem_table_find(table, pa, &level) == NULL);
	CHECK(level == NLEVELS - 1 + PG_LEVEL_4K);

	slot = mem_table_create(table, pa);
	CHECK(slot && *slot == NULL);
	CHECK(alloc_live == NLEVELS);
	/* A created slot that is still empty is not found. */
	CHECK(mem_table_find(table, pa, &level) == NULL);
	CHECK(level == PG_LEVEL_4K);

	l = leaf_new(pa >> PAGE_SHIFT);
	*slot = l;
	level = 0;
	CHECK(mem_table_find(table, pa, &level) == slot);
	CHECK(level == PG_LEVEL_4K);
	/* Any byte of the page reaches the slot; the next page does not. */
	CHECK(mem_table_find(table, pa + PAGE_SIZE - 1, NULL) == slot);
	CHECK(mem_table_find(table, pa + PAGE_SIZE, NULL) == NULL);
	CHECK(mem_table_find(table, pa - 1, NULL) == NULL);

	/* Creating again returns the same populated slot, allocating nothing. */
	again = mem_table_create(table, pa + 1);
	CHECK(again == slot && *again == l);
	CHECK(alloc_live == NLEVELS);

	/* A neighbour shares every table. */
	*mem_table_create(table, pa + PAGE_SIZE) = leaf_new(0);
	CHECK(alloc_live == NLEVELS);

	mem_table_free(table);
	CHECK(leaves_released == leaves_made);
	check_clean();
}

/* The first and last page of every level's entries, and the ends of the range. */
static void check_boundaries(void)
{
	struct mem_table *table = mem_table_alloc(&leaf_ops);
	phys_addr_t pas[4 * CONFIG_PGTABLE_LEVELS + 2];
	unsigned int n, i, count = 0;

	pas[count++] = 0;
	pas[count++] = PHYS_LIMIT - PAGE_SIZE;
	for (n = 1; n < NLEVELS; n++) {
		pas[count++] = LEVEL_SIZE(n) - PAGE_SIZE;
		pas[count++] = LEVEL_SIZE(n);
		pas[count++] = PHYS_LIMIT - LEVEL_SIZE(n);
		pas[count++] = PHYS_LIMIT - LEVEL_SIZE(n) - PAGE_SIZE;
	}
	for (i = 0; i < count; i++) {
		void **slot = mem_table_create(table, pas[i]);

		CHECK(slot != NULL);
		if (slot && !*slot)
			*slot = leaf_new(pas[i] >> PAGE_SHIFT);
	}
	for (i = 0; i < count; i++) {
		void **slot = mem_table_find(table, pas[i] + PAGE_SIZE / 2, NULL);

		CHECK(slot && ((struct leaf *)*slot)->page == pas[i] >> PAGE_SHIFT);
	}
	/* One past the end, and far past it, are rejected. */
	CHECK(mem_table_find(table, PHYS_LIMIT, NULL) == NULL);
	CHECK(mem_table_create(table, PHYS_LIMIT) == NULL && errno == ERANGE);
	CHECK(mem_table_create(table, PHYS_LIMIT | (PHYS_LIMIT - PAGE_SIZE)) == NULL);
	mem_table_free(table);
	check_clean();
}

/* The table records that it changed, on every table of the path. */
static void check_changed(void)
{
	struct mem_table *table = mem_table_alloc(&leaf_ops);
	phys_addr_t pa = PHYS_LIMIT - PAGE_SIZE;
	struct mem_table *t = table;

	CHECK(!table->changed);
	mem_table_create(table, pa);
	while (t) {
		unsigned long i = (pa >> t->level->shift) & t->level->mask;

		CHECK(t->changed);
		if (!t->level->number)
			break;
		t = (struct mem_table *)((uintptr_t)t->entries[i] & ~MEM_TABLE);
	}
	mem_table_free(table);
	check_clean();
}

/*
 * Every allocation a create needs fails in turn: each failure leaves the
 * allocation count, the flags and every stored pointer as they were.
 */
static void check_create_alloc_failure(void)
{
	struct mem_table *table = mem_table_alloc(&leaf_ops);
	phys_addr_t pas[] = { PHYS_LIMIT - PAGE_SIZE, LEVEL_SIZE(1), LEVEL_SIZE(NLEVELS - 1) };
	unsigned int i, j;

	*mem_table_create(table, 0) = leaf_new(0);
	for (i = 0; i < sizeof(pas) / sizeof(pas[0]); i++) {
		void **slot = NULL;
		long step;

		for (step = 0; !slot; step++) {
			long live = alloc_live;

			alloc_fail_after(step);
			errno = 0;
			slot = mem_table_create(table, pas[i]);
			alloc_fail_after(-1);
			if (slot)
				break;
			CHECK(errno == ENOMEM);
			CHECK(alloc_live == live);
			for (j = 0; j < i; j++)
				CHECK(((struct leaf *)*mem_table_find(table, pas[j], NULL))->page ==
				      pas[j] >> PAGE_SHIFT);
			CHECK(mem_table_find(table, pas[i], NULL) == NULL);
		}
		CHECK(step <= NLEVELS - 1);
		*slot = leaf_new(pas[i] >> PAGE_SHIFT);
	}
	mem_table_free(table);
	check_clean();
}

/* Tables without a free operation own nothing. */
static void check_null_ops(void)
{
	struct mem_table *table = mem_table_alloc(NULL);
	struct leaf *l = leaf_new(1);

	*mem_table_create(table, PAGE_SIZE) = l;
	mem_table_free(table);
	CHECK(leaves_released == leaves_made - 1);
	leaf_free(l);
	check_clean();
}

/* The model: a red-black tree of (page, leaf). */
struct model_node {
	RB_ENTRY(model_node) link;
	uint64_t page;
	struct leaf *leaf;
};

static int model_cmp(struct model_node *a, struct model_node *b)
{
	return a->page < b->page ? -1 : a->page > b->page;
}

RB_HEAD(model, model_node);
RB_GENERATE_STATIC(model, model_node, link, model_cmp)

static struct model_node *model_find(struct model *m, uint64_t page)
{
	struct model_node key = { .page = page };

	return RB_FIND(model, m, &key);
}

/* xorshift64*: small, seedable, the same everywhere. */
static uint64_t rng_state;

static uint64_t rng(void)
{
	return xorshift64s(&rng_state);
}

/*
 * Addresses that find bugs: clustered in a few places, on both sides of
 * every level's boundaries, uniform, and out of range.
 */
static phys_addr_t random_pa(const phys_addr_t *bases, unsigned int nbases)
{
	unsigned int n;

	switch (rng() % 8) {
	case 0:
	case 1:
	case 2:
		return bases[rng() % nbases] + (rng() % 64) * PAGE_SIZE + rng() % PAGE_SIZE;
	case 3:
	case 4:
		n = 1 + rng() % (NLEVELS - 1);
		return ((rng() % (PHYS_LIMIT >> LEVEL(n)->shift)) << LEVEL(n)->shift) +
		       (rng() % 2 ? 0 : -(phys_addr_t)PAGE_SIZE) + rng() % PAGE_SIZE;
	case 5:
	case 6:
		return rng() % PHYS_LIMIT;
	default:
		return rng() % 4 ? PHYS_LIMIT + rng() % PHYS_LIMIT : rng();
	}
}

#define DIVERGE(...)                                                            \
	do {                                                                    \
		fprintf(stderr, "random model: seed %" PRIu64 " operation %lu: ", \
			seed, op);                                               \
		fprintf(stderr, __VA_ARGS__);                                   \
		CHECK(0);                                                       \
		goto out;                                                       \
	} while (0)

static void check_random_model(uint64_t seed, unsigned long ops)
{
	struct mem_table *table = mem_table_alloc(&leaf_ops);
	struct model m = RB_INITIALIZER(&m);
	struct model_node *node, *tmp;
	phys_addr_t bases[8];
	unsigned long op, size = 0;
	unsigned int i;

	rng_state = seed ? seed : 1;
	for (i = 0; i < 8; i++)
		bases[i] = (rng() % PHYS_LIMIT) & ~(PAGE_SIZE - 1);

	for (op = 0; op < ops; op++) {
		phys_addr_t pa = random_pa(bases, 8);
		uint64_t page = pa >> PAGE_SHIFT;
		bool in_range = pa < PHYS_LIMIT;
		unsigned int level = 0;
		uint64_t what = rng() % 10;
		long live = alloc_live;
		void **slot;

		node = in_range ? model_find(&m, page) : NULL;
		if (what < 4) {
			/* Find. */
			slot = mem_table_find(table, pa, &level);
			if (!node && slot)
				DIVERGE("find(%#" PRIx64 ") found a leaf the model lacks\n", pa);
			if (node && (!slot || *slot != node->leaf || level != PG_LEVEL_4K))
				DIVERGE("find(%#" PRIx64 ") = %p, level %u; model %p\n", pa,
					slot ? *slot : NULL, level, (void *)node->leaf);
			continue;
		}
		/* Create and store, sometimes with an allocation failing. */
		if (what == 9)
			alloc_fail_after(rng() % NLEVELS);
		errno = 0;
		slot = mem_table_create(table, pa);
		alloc_fail_after(-1);
		if (!in_range) {
			if (slot || errno != ERANGE || alloc_live != live)
				DIVERGE("create(%#" PRIx64 ") out of range: %p, errno %d\n", pa,
					(void *)slot, errno);
			continue;
		}
		if (!slot) {
			if (what != 9 || errno != ENOMEM || alloc_live != live)
				DIVERGE("create(%#" PRIx64 ") failed: errno %d, live %ld -> %ld\n",
					pa, errno, live, alloc_live);
			continue;
		}
		if ((node ? (void *)node->leaf : NULL) != *slot)
			DIVERGE("create(%#" PRIx64 ") slot holds %p; model %p\n", pa, *slot,
				node ? (void *)node->leaf : NULL);
		if (!node) {
			node = calloc(1, sizeof(*node));
			node->page = page;
			RB_INSERT(model, &m, node);
			size++;
		} else {
			leaf_free(node->leaf);
		}
		node->leaf = leaf_new(page);
		*slot = node->leaf;
	}
	/* Every page of the model is in the table, and freeing releases each. */
	RB_FOREACH(node, model, &m) {
		void **slot = mem_table_find(table, node->page << PAGE_SHIFT, NULL);

		if (!slot || *slot != node->leaf)
			DIVERGE("final: page %#" PRIx64 " lost\n", node->page);
	}
out:
	mem_table_free(table);
	RB_FOREACH_SAFE(node, model, &m, tmp) {
		RB_REMOVE(model, &m, node);
		free(node);
	}
	printf("random model: seed %" PRIu64 ", %lu operations, %lu pages\n", seed, op, size);
	check_clean();
}

int main(int argc, char **argv)
{
	uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 0) : (uint64_t)time(NULL);
	unsigned long ops = argc > 2 ? strtoul(argv[2], NULL, 0) : 200000;

	/* The faithful API refuses to work before it knows its geometry. */
	CHECK(mem_table_alloc(&leaf_ops) == NULL && errno == EINVAL);
	mem_table_init(PG_LEVEL_4K);

	check_geometry();
	check_alloc_free();
	check_create_find();
	check_boundaries();
	check_changed();
	check_create_alloc_failure();
	check_null_ops();
	check_random_model(seed, ops);

	printf("%lu passed, %lu failed\n", checks_passed, checks_run - checks_passed);
	return checks_passed == checks_run ? 0 : 1;
}
