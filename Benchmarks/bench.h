/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What the C benchmarks share: the seeded generator, the clock, medians,
 * and where the slot pattern puts its slots.
 */
#ifndef MEMTABLE_BENCH_H
#define MEMTABLE_BENCH_H

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

/* xorshift64*: the same sequence on every run. */
static inline uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}

static inline double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static inline int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The median of @runs values (sorts them). */
static inline double median(double *v, int runs)
{
	qsort(v, runs, sizeof(*v), cmp_double);
	return runs % 2 ? v[runs / 2] : (v[runs / 2 - 1] + v[runs / 2]) / 2;
}

/*
 * The first page of slot @i (of 64, 16,384 pages each, in 1 TiB): one per
 * 16 GiB, at a random 2 MiB boundary in it.
 */
static inline uint64_t slot_base(unsigned int i)
{
	return ((uint64_t)i << 22) + ((rng() % ((1 << 22) - 16384)) & ~511ULL);
}

#endif /* MEMTABLE_BENCH_H */
