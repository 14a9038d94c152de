// SPDX-License-Identifier: GPL-2.0-only
/*
 * The concurrent-readers stress test (mem_table_alloc_rcu()): a reader
 * thread on every online CPU looks pages up and walks windows, with no
 * lock, while one writer does every operation: page and large stores of
 * pointer leaves and value entries, erase, split, merge, ranges,
 * reservations, clones.
 *
 * Each pointer leaf carries the range it was made for, a generation from a
 * counter that only grows, and a live mark that ops->free wipes before
 * freeing it. A reader checks, inside its read-side critical section, that
 * what it found is live and covers the address it asked for, that a page's
 * generation never goes backwards, and, after spinning a while, that the
 * leaf is still intact; a walk must see leaves in increasing order, each
 * once. A torn or freed read fails one of those (and AddressSanitizer sees
 * a freed one). Built with -DMEM_TABLE_RCU_BROKEN, the library frees at
 * once instead of after a grace period: make check-rcu shows that build
 * fail.
 *
 * Usage: test_mem_table_rcu [seed [writer operations]]
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mem_table.h"
#include "rng.h"

#define LIVE 0x4c49564520212121ULL
#define DEAD 0xdeaddeaddeaddeadULL

/* A pointer leaf: the range it was made for, when, and whether it lives. */
struct leaf {
	_Atomic uint64_t live;
	uint64_t start, size, gen;
};

static _Atomic long leaves_made, leaves_freed;
static _Atomic uint64_t generation;
static _Atomic int writer_done;
static _Atomic unsigned long failures;
static struct mem_table *table;
static const struct mem_table_geometry *geo;
static uint64_t limit;

static uint64_t span(unsigned int level)
{
	return 1ULL << geo->levels[level].shift;
}

static struct leaf *leaf_new(uint64_t start, uint64_t size, uint64_t gen)
{
	struct leaf *l = malloc(sizeof(*l));

	if (!l)
		abort();
	l->start = start;
	l->size = size;
	l->gen = gen;
	atomic_store_explicit(&l->live, LIVE, memory_order_relaxed);
	atomic_fetch_add(&leaves_made, 1);
	return l;
}

static void op_free(void *entry)
{
	struct leaf *l = entry;

	atomic_store_explicit(&l->live, DEAD, memory_order_relaxed);
	atomic_fetch_add(&leaves_freed, 1);
	free(l);
}

/* A split's children cover the parent's range: they keep it, and its generation. */
static void *op_split(void *entry, unsigned int level)
{
	struct leaf *l = entry;

	(void)level;
	return leaf_new(l->start, l->size, l->gen);
}

/* A merged leaf covers what its children covered, with the newest generation. */
static void *op_merge(void *const *entries, unsigned int n, unsigned int level)
{
	const struct leaf *l = entries[0];
	uint64_t gen = l->gen, lo = l->start, hi = l->start + l->size;
	unsigned int i;

	(void)level;
	for (i = 1; i < n; i++) {
		l = entries[i];
		gen = l->gen > gen ? l->gen : gen;
		lo = l->start < lo ? l->start : lo;
		hi = l->start + l->size > hi ? l->start + l->size : hi;
	}
	return leaf_new(lo, hi - lo, gen);
}

static void *op_clone(void *entry)
{
	struct leaf *l = entry;

	return leaf_new(l->start, l->size, l->gen);
}

static struct mem_table_ops ops = {
	.free = op_free, .split = op_split, .merge = op_merge, .clone = op_clone,
};

#define FAIL(...)                                   \
	do {                                        \
		fprintf(stderr, __VA_ARGS__);       \
		atomic_fetch_add(&failures, 1);     \
	} while (0)

/* Is @l a live leaf covering @pa? */
static bool intact(const struct leaf *l, uint64_t pa)
{
	return atomic_load_explicit(&l->live, memory_order_relaxed) == LIVE &&
	       pa - l->start < l->size;
}

struct reader {
	pthread_t thread;
	uint64_t seed;
	unsigned long lookups, pointers, walks, walked;
	uint64_t *seen; /* the last generation seen, by page */
};

struct walk_state {
	uint64_t last;
	bool any;
	unsigned long n;
};

static int walk_leaf(void *entry, phys_addr_t pa, unsigned int level, void *arg)
{
	struct walk_state *w = arg;

	(void)level;
	if (w->any && pa <= w->last)
		FAIL("walk: leaf at %#" PRIx64 " after %#" PRIx64 "\n", (uint64_t)pa, w->last);
	w->last = pa;
	w->any = true;
	w->n++;
	if (!mem_table_is_value(entry) && !intact(entry, pa))
		FAIL("walk: a torn or freed leaf at %#" PRIx64 "\n", (uint64_t)pa);
	return 0;
}

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	uint64_t state = r->seed;
	volatile unsigned int spin;

	while (!atomic_load(&writer_done)) {
		uint64_t pa = xorshift64s(&state) % limit & ~(span(0) - 1);
		unsigned int level;
		void *e;

		mem_table_rcu_read_lock();
		if (xorshift64s(&state) % 64 == 0) {
			struct walk_state w = { 0, false, 0 };

			mem_table_walk(table, pa, pa + span(geo->nlevels - 1) / 4, walk_leaf, &w);
			r->walks++;
			r->walked += w.n;
		} else if ((e = mem_table_load(table, pa, &level)) && !mem_table_is_value(e)) {
			struct leaf *l = e;
			uint64_t page = pa >> geo->levels[0].shift, gen = l->gen;

			if (!intact(l, pa))
				FAIL("load %#" PRIx64 ": a torn or freed leaf (live %#" PRIx64
				     ", start %#" PRIx64 ", size %#" PRIx64 ")\n",
				     pa, (uint64_t)l->live, l->start, l->size);
			if (gen < r->seen[page])
				FAIL("load %#" PRIx64 ": generation %" PRIu64 " after %" PRIu64 "\n",
				     pa, gen, r->seen[page]);
			r->seen[page] = gen;
			/* Use it a while: it must stay as it was until the unlock. */
			for (spin = 0; spin < 200; spin++)
				;
			if (!intact(l, pa) || l->gen != gen)
				FAIL("load %#" PRIx64 ": the leaf changed under the reader\n", pa);
			r->pointers++;
		}
		mem_table_rcu_read_unlock();
		r->lookups++;
	}
	return NULL;
}

/* The writer: every operation, at random, over the whole table. */
static void writer(uint64_t seed, unsigned long ops_count, unsigned long *done)
{
	uint64_t state = seed;
	unsigned long i;

	for (i = 0; i < ops_count; i++) {
		unsigned int level = xorshift64s(&state) % geo->nlevels;
		uint64_t pa = xorshift64s(&state) % limit & ~(span(level) - 1);
		uint64_t gen = atomic_fetch_add(&generation, 1) + 1;
		unsigned int r = xorshift64s(&state) % 100, base = geo->base_level;
		void *old = NULL, *e;
		int err;

		if (r < 40) { /* store: a page mostly, a pointer mostly */
			if (xorshift64s(&state) % 4)
				level = 0, pa = xorshift64s(&state) % limit & ~(span(0) - 1);
			e = xorshift64s(&state) % 4 ? (void *)leaf_new(pa, span(level), gen)
						    : mem_table_mk_value(gen);
			err = mem_table_store(table, pa, level + base, e, &old);
			if (err) {
				if (!mem_table_is_value(e))
					op_free(e); /* never published */
			} else {
				mem_table_rcu_free_leaf(table, old);
			}
		} else if (r < 55) {
			mem_table_rcu_free_leaf(table, mem_table_erase(table, pa, NULL));
		} else if (r < 65) {
			mem_table_split(table, pa, (level ? level - 1 : 0) + base);
		} else if (r < 80) {
			mem_table_merge(table, pa, (level ? level : 1) + base);
		} else if (r < 87) {
			uint64_t end = pa + (xorshift64s(&state) % 3 + 1) * span(level);

			mem_table_store_range(table, pa, end > limit ? limit : end, mem_table_mk_value(gen));
		} else if (r < 95) {
			uint64_t end = pa + (xorshift64s(&state) % 3 + 1) * span(level);

			mem_table_erase_range(table, pa, end > limit ? limit : end);
		} else if (r < 99) {
			mem_table_reserve(table, pa, level + base);
		} else {
			struct mem_table *copy = mem_table_clone(table);

			if (!copy || mem_table_count(copy) != mem_table_count(table))
				FAIL("clone: %s\n", copy ? "a different count" : strerror(errno));
			mem_table_free(copy);
		}
	}
	*done = i;
}

int main(int argc, char **argv)
{
	uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 0) : (uint64_t)time(NULL);
	unsigned long writes = argc > 2 ? strtoul(argv[2], NULL, 0) : 200000, done = 0;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN), i, nreaders = ncpu > 1 ? ncpu : 2;
	struct mem_table_geometry small;
	struct reader *readers = calloc((size_t)nreaders, sizeof(*readers));
	unsigned long lookups = 0, pointers = 0, walks = 0, walked = 0;

	/* 4 KiB pages, 8 slots a table, 1 GiB: deep trees that change shape often. */
	mem_table_geometry_init(&small, 12, 3, 30, 1);
	geo = &small;
	limit = 1ULL << 30;
	table = mem_table_alloc_rcu(geo, &ops);
	if (!table || !readers || !mem_table_is_rcu(table)) {
		fprintf(stderr, "cannot allocate\n");
		return 1;
	}
	/* The table has its own geometry: the one given may go. */
	geo = mem_table_get_geometry(table);
	for (i = 0; i < nreaders; i++) {
		readers[i].seed = seed * 0x9E3779B97F4A7C15ULL + (uint64_t)i + 1;
		readers[i].seen = calloc(limit >> 12, sizeof(uint64_t));
		if (!readers[i].seen || pthread_create(&readers[i].thread, NULL, reader_main, &readers[i]))
			return 1;
	}
	writer(seed, writes, &done);
	atomic_store(&writer_done, 1);
	for (i = 0; i < nreaders; i++) {
		pthread_join(readers[i].thread, NULL);
		lookups += readers[i].lookups;
		pointers += readers[i].pointers;
		walks += readers[i].walks;
		walked += readers[i].walked;
		free(readers[i].seen);
	}
	if (mem_table_create(table, 0) || errno != EOPNOTSUPP)
		FAIL("mem_table_create() on a concurrent table: not refused\n");
	mem_table_free(table);
	mem_table_rcu_barrier();
	if (leaves_made != leaves_freed)
		FAIL("%ld leaves made, %ld freed\n", (long)leaves_made, (long)leaves_freed);
	free(readers);
	printf("rcu stress: seed %" PRIu64 ", %ld readers, %lu writer operations, %lu lookups "
	       "(%lu pointer leaves checked), %lu walks (%lu leaves), %ld leaves made and freed: %s\n",
	       seed, nreaders, done, lookups, pointers, walks, walked, (long)leaves_made,
	       failures ? "FAILED" : "ok");
	return failures ? 1 : 0;
}
