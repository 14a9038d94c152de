// SPDX-License-Identifier: GPL-2.0-only
/*
 * memtable's C benchmark: the RFC's faithful create/find and the library's
 * own paths against JudyL, libbsd's red-black tree and a flat array, on four
 * patterns of N pages. Every cell is the median of BENCH_RUNS interleaved
 * runs; ratios are of medians in the same run.
 *
 * Every structure stores, for each key, the next key of one random cycle
 * through all keys: the latency test follows that chain (each probe needs
 * the last one's answer), the lookup test probes a random permutation
 * (independent probes). The flat array is the floor: values indexed by
 * the key's position, one load per probe.
 *
 * Usage: bench [N [RUNS]]   (make bench BENCH_N=... BENCH_RUNS=...)
 */
#include <Judy.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"
#include "mem_table.h"

#define __unused __attribute__((__unused__))
#include <bsd/sys/tree.h>

/* ------------------------------------------------------------------ setup */

static size_t n;          /* keys */
static uint64_t *keys;    /* page numbers, distinct, in insertion order */
static uint64_t *probe;   /* a permutation of key indexes: independent probes */
static uint64_t *next_of; /* next_of[i]: the key index after i in one random cycle */
/*
 * What each structure reads, in order, so that the harness costs all of
 * them the same (one sequential read): the key of each probe, the value
 * to store with each key (the next key of the cycle).
 */
static uint64_t *probe_key; /* keys[probe[i]] */
static uint64_t *value_of;  /* keys[next_of[i]] */
static volatile uint64_t sink;

enum { INSERT, LOOKUP, LATENCY, WALK, ERASE, NMETRICS };
static const char *const metric_names[] = { "insert", "lookup", "latency", "walk", "erase" };

static void shuffle(uint64_t *a, size_t count)
{
	size_t i;

	for (i = count - 1; i > 0; i--) {
		size_t j = rng() % (i + 1);
		uint64_t t = a[i];

		a[i] = a[j];
		a[j] = t;
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Distinct keys: sort, drop duplicates, top up. */
static void make_distinct(uint64_t (*gen)(size_t))
{
	size_t have = 0, i, j;

	while (have < n) {
		for (i = have; i < n; i++)
			keys[i] = gen(i);
		qsort(keys, n, sizeof(*keys), cmp_u64);
		for (i = j = 0; i < n; i++)
			if (!j || keys[i] != keys[j - 1])
				keys[j++] = keys[i];
		have = j;
	}
}

static uint64_t gen_dense(size_t i) { return i; }
static uint64_t gen_random(size_t i) { (void)i; return rng() % (64ULL << 18); }
static uint64_t gen_per_gib(size_t i) { return (uint64_t)i << 18; }
static uint64_t slot_bases[64];
static uint64_t gen_slots(size_t i) { return slot_bases[i / 16384 % 64] + i % 16384; }

struct pattern {
	const char *name;
	uint64_t (*gen)(size_t);
	const struct mem_table_geometry *geo;
	bool ordered; /* inserted in address order */
};

static const struct pattern patterns[] = {
	{ "dense (pages 0..N)", gen_dense, &mem_table_geometry_x86_64, true },
	{ "random pages in 64 GiB", gen_random, &mem_table_geometry_x86_64, false },
	{ "one page per GiB", gen_per_gib, &mem_table_geometry_x86_64_la57, true },
	{ "64 slots of 16384 pages in 1 TiB", gen_slots, &mem_table_geometry_x86_64, true },
};

static void setup(const struct pattern *p)
{
	size_t i;

	for (i = 0; i < 64; i++)
		slot_bases[i] = slot_base(i);
	make_distinct(p->gen);
	if (!p->ordered)
		shuffle(keys, n);
	for (i = 0; i < n; i++)
		probe[i] = i;
	shuffle(probe, n);
	/* One random cycle through every key: probe[i] -> probe[i + 1]. */
	for (i = 0; i < n; i++)
		next_of[probe[i]] = probe[(i + 1) % n];
	for (i = 0; i < n; i++) {
		probe_key[i] = keys[probe[i]];
		value_of[i] = keys[next_of[i]];
	}
}

/* -------------------------------------------------------------- structures */

struct structure {
	const char *name;
	void (*run)(const struct pattern *p, double *ns, double *bytes);
};

#define TIME(metric, body)                                      \
	do {                                                    \
		double t0 = now();                              \
		body;                                           \
		ns[metric] = (now() - t0) / n;                  \
	} while (0)

/* The floor: values[i] for the i-th key (a perfect direct index). */
static void run_flat(const struct pattern *p, double *ns, double *bytes)
{
	uint64_t *values = malloc(n * sizeof(*values)), sum = 0, j = 0;
	size_t i;

	(void)p;
	TIME(INSERT, for (i = 0; i < n; i++) values[i] = next_of[i]);
	TIME(LOOKUP, for (i = 0; i < n; i++) sum += values[probe[i]]);
	TIME(LATENCY, for (i = 0; i < n; i++) j = values[j]);
	TIME(WALK, for (i = 0; i < n; i++) sum += values[i]);
	TIME(ERASE, for (i = 0; i < n; i++) values[probe[i]] = 0);
	*bytes = sizeof(*values);
	sink = sum + j;
	free(values);
}

static void run_judy(const struct pattern *p, double *ns, double *bytes)
{
	Pvoid_t judy = NULL;
	Word_t *pv, index, sum = 0, j = 0;
	size_t i;
	int rc = 0;

	(void)p;
	TIME(INSERT, for (i = 0; i < n; i++) {
		JLI(pv, judy, keys[i]);
		*pv = value_of[i];
	});
	*bytes = (double)JudyLMemUsed(judy) / n;
	TIME(LOOKUP, for (i = 0; i < n; i++) {
		JLG(pv, judy, probe_key[i]);
		sum += *pv;
	});
	j = keys[0];
	TIME(LATENCY, for (i = 0; i < n; i++) {
		JLG(pv, judy, j);
		j = *pv;
	});
	TIME(WALK, index = 0; JLF(pv, judy, index); while (pv) {
		sum += *pv;
		JLN(pv, judy, index);
	});
	TIME(ERASE, for (i = 0; i < n; i++) JLD(rc, judy, probe_key[i]));
	sink = sum + j + (Word_t)rc;
	JLFA(index, judy);
}

struct node {
	RB_ENTRY(node) link;
	uint64_t key, value;
};

static int node_cmp(struct node *a, struct node *b)
{
	return a->key < b->key ? -1 : a->key > b->key;
}

RB_HEAD(tree, node);
RB_GENERATE_STATIC(tree, node, link, node_cmp)

static void run_rbtree(const struct pattern *p, double *ns, double *bytes)
{
	struct tree tree = RB_INITIALIZER(&tree);
	struct node key, *nd, *tmp;
	uint64_t sum = 0, j = 0;
	size_t i;

	(void)p;
	TIME(INSERT, for (i = 0; i < n; i++) {
		nd = malloc(sizeof(*nd));
		nd->key = keys[i];
		nd->value = value_of[i];
		RB_INSERT(tree, &tree, nd);
	});
	*bytes = sizeof(struct node) + 16; /* malloc's header and rounding */
	TIME(LOOKUP, for (i = 0; i < n; i++) {
		key.key = probe_key[i];
		sum += RB_FIND(tree, &tree, &key)->value;
	});
	j = keys[0];
	TIME(LATENCY, for (i = 0; i < n; i++) {
		key.key = j;
		j = RB_FIND(tree, &tree, &key)->value;
	});
	TIME(WALK, RB_FOREACH(nd, tree, &tree) sum += nd->value);
	TIME(ERASE, for (i = 0; i < n; i++) {
		key.key = probe_key[i];
		nd = RB_FIND(tree, &tree, &key);
		RB_REMOVE(tree, &tree, nd);
		free(nd);
	});
	RB_FOREACH_SAFE(nd, tree, &tree, tmp)
		free(nd);
	sink = sum + j;
}

#define PA(i) ((phys_addr_t)keys[i] << 12)
#define PK(i) ((phys_addr_t)probe_key[i] << 12)

/* The RFC as posted: create, store the value in the slot, find. */
static void run_rfc(const struct pattern *p, double *ns, double *bytes)
{
	struct mem_table *t = mem_table_alloc(NULL);
	struct mem_table_stats st;
	uint64_t sum = 0, j = 0;
	unsigned int level;
	size_t i;

	if (p->geo != &mem_table_geometry_x86_64) { /* beyond the globals' 46 bits */
		for (i = 0; i < NMETRICS; i++)
			ns[i] = -1;
		*bytes = -1;
		mem_table_free(t);
		return;
	}
	TIME(INSERT, for (i = 0; i < n; i++) *mem_table_create(t, PA(i)) = mem_table_mk_value(value_of[i]));
	mem_table_stats(t, &st);
	*bytes = (double)st.bytes / n;
	TIME(LOOKUP, for (i = 0; i < n; i++) sum += mem_table_to_value(*mem_table_find(t, PK(i), &level)));
	j = keys[0];
	TIME(LATENCY, for (i = 0; i < n; i++) j = mem_table_to_value(*mem_table_find(t, j << 12, &level)));
	ns[WALK] = -1;  /* the RFC has no walk */
	ns[ERASE] = -1; /* nor erase */
	mem_table_free(t);
	sink = sum + j;
}

static int walk_sum(void *entry, phys_addr_t pa, unsigned int level, void *arg)
{
	(void)pa, (void)level;
	*(uint64_t *)arg += mem_table_to_value(entry);
	return 0;
}

/* The library: store, the inline lookup, walk, erase. */
static void run_memtable(const struct pattern *p, double *ns, double *bytes)
{
	struct mem_table *t = mem_table_alloc_geometry(p->geo, NULL);
	struct mem_table_stats st;
	uint64_t sum = 0, j = 0;
	size_t i;

	TIME(INSERT, for (i = 0; i < n; i++)
		mem_table_store(t, PA(i), PG_LEVEL_4K, mem_table_mk_value(value_of[i]), NULL));
	mem_table_stats(t, &st);
	*bytes = (double)st.bytes / n;
	TIME(LOOKUP, for (i = 0; i < n; i++) sum += mem_table_to_value(mem_table_lookup(t, PK(i))));
	j = keys[0];
	TIME(LATENCY, for (i = 0; i < n; i++) j = mem_table_to_value(mem_table_lookup(t, j << 12)));
	TIME(WALK, mem_table_walk(t, 0, UINT64_MAX, walk_sum, &sum));
	TIME(ERASE, for (i = 0; i < n; i++) mem_table_erase(t, PK(i), NULL));
	mem_table_free(t);
	sink = sum + j;
}

/* The library's checked, out-of-line API: mem_table_load. */
static void run_memtable_load(const struct pattern *p, double *ns, double *bytes)
{
	struct mem_table *t = mem_table_alloc_geometry(p->geo, NULL);
	struct mem_table_stats st;
	uint64_t sum = 0, j = 0, pa;
	unsigned int level;
	size_t i;

	TIME(INSERT, for (i = 0; i < n; i++)
		mem_table_store(t, PA(i), PG_LEVEL_4K, mem_table_mk_value(value_of[i]), NULL));
	mem_table_stats(t, &st);
	*bytes = (double)st.bytes / n;
	TIME(LOOKUP, for (i = 0; i < n; i++) sum += mem_table_to_value(mem_table_load(t, PK(i), &level)));
	j = keys[0];
	TIME(LATENCY, for (i = 0; i < n; i++) j = mem_table_to_value(mem_table_load(t, j << 12, &level)));
	TIME(WALK, for (pa = 0; mem_table_next(t, &pa, &level); pa += 4096) sum += 1);
	TIME(ERASE, for (i = 0; i < n; i++) mem_table_erase(t, PK(i), NULL));
	mem_table_free(t);
	sink = sum + j;
}

static const struct structure structures[] = {
	{ "flat array", run_flat },
	{ "JudyL", run_judy },
	{ "rb-tree (libbsd)", run_rbtree },
	{ "RFC create/find", run_rfc },
	{ "memtable store/lookup", run_memtable },
	{ "memtable load/next", run_memtable_load },
};

#define NSTRUCT (sizeof(structures) / sizeof(structures[0]))

int main(int argc, char **argv)
{
	size_t want = argc > 1 ? strtoull(argv[1], NULL, 0) : 1 << 20;
	int runs = argc > 2 ? atoi(argv[2]) : 5, r, m;
	size_t pi, s;

	n = want;
	if (runs < 1)
		runs = 1;
	keys = malloc(n * sizeof(*keys));
	probe = malloc(n * sizeof(*probe));
	next_of = malloc(n * sizeof(*next_of));
	probe_key = malloc(n * sizeof(*probe_key));
	value_of = malloc(n * sizeof(*value_of));
	mem_table_init(PG_LEVEL_4K);
	printf("memtable C benchmark: N = %zu pages, medians of %d interleaved runs, ns per operation\n"
	       "(lookup: independent random probes; latency: each probe depends on the last;\n"
	       " walk: ordered, per entry; bytes: per entry stored)\n", n, runs);
	for (pi = 0; pi < sizeof(patterns) / sizeof(patterns[0]); pi++) {
		const struct pattern *p = &patterns[pi];
		double res[NSTRUCT][NMETRICS + 1][runs], med[NSTRUCT][NMETRICS + 1];

		setup(p);
		for (r = 0; r < runs; r++)
			for (s = 0; s < NSTRUCT; s++) {
				double ns[NMETRICS], bytes;

				structures[s].run(p, ns, &bytes);
				for (m = 0; m < NMETRICS; m++)
					res[s][m][r] = ns[m];
				res[s][NMETRICS][r] = bytes;
			}
		printf("\n%s\n%-31s", p->name, "");
		for (m = 0; m < NMETRICS; m++)
			printf("%9s", metric_names[m]);
		printf("%9s\n", "bytes");
		for (s = 0; s < NSTRUCT; s++) {
			printf("%-31s", structures[s].name);
			for (m = 0; m <= NMETRICS; m++) {
				med[s][m] = median(res[s][m], runs);
				if (med[s][m] < 0)
					printf("%9s", "-");
				else
					printf(m == NMETRICS ? "%9.2f" : "%9.1f", med[s][m]);
			}
			printf("\n");
		}
		for (s = 3; s < NSTRUCT; s++) {
			int base;

			for (base = 0; base < 2; base++) {
				printf("  %-22s", base ? "" : structures[s].name);
				printf(base ? "x JudyL" : "x flat ");
				for (m = 0; m <= NMETRICS; m++) {
					if (med[s][m] < 0)
						printf("%9s", "-");
					else
						printf("%9.2f", med[s][m] / med[base][m]);
				}
				printf("\n");
			}
		}
	}
	free(keys);
	free(probe);
	free(next_of);
	free(probe_key);
	free(value_of);
	return 0;
}
