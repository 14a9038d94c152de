// SPDX-License-Identifier: GPL-2.0-only
/*
 * make bench-concurrent: lookups per second from 1 and 2 reader threads in a
 * table of 2^20 pages (value entries, x86_64 geometry), each lookup a random
 * page:
 *   (a) rcu, read-only: mem_table_load() in an RCU read-side section
 *   (b) rcu, with one writer storing and erasing pages continuously
 *   (c) a plain table behind a pthread_rwlock_t, the same writer (write lock;
 *       the writer-preferring kind, so that the writer is active: glibc's
 *       default lets two readers starve it)
 *   (d) a plain table behind a pthread_mutex_t, the same writer
 * Each figure is the median of RUNS runs of SECONDS each (default 5 x 1 s);
 * the ratios are of medians. Timing only: nothing here is a test.
 *
 * Usage: bench-concurrent [pages [runs [seconds]]]
 */
#define _GNU_SOURCE /* pthread_rwlockattr_setkind_np */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mem_table.h"

enum mode { RCU_READ_ONLY, RCU_WRITER, RWLOCK, MUTEX, MODES };

static const char *const names[MODES] = {
	"(a) rcu, read-only", "(b) rcu, one writer", "(c) rwlock, one writer",
	"(d) mutex, one writer",
};

static struct mem_table *table;
static uint64_t pages;
static enum mode mode;
static pthread_rwlock_t rwlock;
static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int stop;
static _Atomic unsigned long writes;
static double writes_per_s; /* the writer's, in the last run */

static uint64_t next_random(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void *reader(void *arg)
{
	uint64_t s = (uint64_t)(uintptr_t)arg * 0x9E3779B97F4A7C15ULL + 1, sum = 0;
	unsigned long n = 0;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		unsigned int i;

		for (i = 0; i < 256; i++) {
			phys_addr_t pa = (next_random(&s) % pages) << 12;
			void *e;

			switch (mode) {
			case RCU_READ_ONLY:
			case RCU_WRITER:
				mem_table_rcu_read_lock();
				e = mem_table_load(table, pa, NULL);
				mem_table_rcu_read_unlock();
				break;
			case RWLOCK:
				pthread_rwlock_rdlock(&rwlock);
				e = mem_table_load(table, pa, NULL);
				pthread_rwlock_unlock(&rwlock);
				break;
			default:
				pthread_mutex_lock(&mutex);
				e = mem_table_load(table, pa, NULL);
				pthread_mutex_unlock(&mutex);
				break;
			}
			sum += (uintptr_t)e;
		}
		n += 256;
	}
	/* Keep the loads. */
	if (sum == 42)
		fputc(' ', stderr);
	return (void *)(uintptr_t)n;
}

/* Store a page and erase another, without end: the table stays half full. */
static void *writer(void *arg)
{
	uint64_t s = 0x1234567 + (uint64_t)(uintptr_t)arg;
	unsigned long n = 0;

	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		phys_addr_t a = (next_random(&s) % pages) << 12, b = (next_random(&s) % pages) << 12;

		if (mode == RWLOCK)
			pthread_rwlock_wrlock(&rwlock);
		else if (mode == MUTEX)
			pthread_mutex_lock(&mutex);
		mem_table_store(table, a, PG_LEVEL_4K, mem_table_mk_value(n), NULL);
		mem_table_erase(table, b, NULL);
		if (mode == RWLOCK)
			pthread_rwlock_unlock(&rwlock);
		else if (mode == MUTEX)
			pthread_mutex_unlock(&mutex);
		n++;
	}
	atomic_fetch_add(&writes, n);
	return NULL;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Lookups per second over @seconds with @nreaders readers. */
static double run(int nreaders, double seconds)
{
	pthread_t r[8], w;
	unsigned long total = 0;
	double t0, t1;
	void *ret;
	int i;

	atomic_store(&stop, 0);
	unsigned long w0 = atomic_load(&writes);
	t0 = now();
	for (i = 0; i < nreaders; i++)
		pthread_create(&r[i], NULL, reader, (void *)(uintptr_t)(i + 1));
	if (mode != RCU_READ_ONLY)
		pthread_create(&w, NULL, writer, NULL);
	while (now() - t0 < seconds) {
		struct timespec ts = { 0, 10000000 };

		nanosleep(&ts, NULL);
	}
	atomic_store(&stop, 1);
	for (i = 0; i < nreaders; i++) {
		pthread_join(r[i], &ret);
		total += (unsigned long)(uintptr_t)ret;
	}
	t1 = now();
	if (mode != RCU_READ_ONLY)
		pthread_join(w, NULL);
	writes_per_s = (double)(atomic_load(&writes) - w0) / (t1 - t0);
	return (double)total / (t1 - t0);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	int runs = argc > 2 ? atoi(argv[2]) : 5, nreaders, m, k;
	double seconds = argc > 3 ? atof(argv[3]) : 1.0, med[MODES][3], v[64], wv[64];
	pthread_rwlockattr_t attr;
	uint64_t p;

	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&rwlock, &attr);

	pages = argc > 1 ? strtoull(argv[1], NULL, 0) : 1 << 20;
	if (runs < 1 || runs > 64)
		runs = 5;
	printf("bench-concurrent: %" PRIu64 " pages, half of them stored; lookups of random pages, "
	       "median of %d runs of %.1f s\n", pages, runs, seconds);
	for (m = 0; m < MODES; m++) {
		mode = (enum mode)m;
		table = m <= RCU_WRITER ? mem_table_alloc_rcu(&mem_table_geometry_x86_64, NULL)
					: mem_table_alloc_geometry(&mem_table_geometry_x86_64, NULL);
		if (!table)
			return 1;
		for (p = 0; p < pages; p += 2)
			mem_table_store(table, p << 12, PG_LEVEL_4K, mem_table_mk_value(p), NULL);
		for (nreaders = 1; nreaders <= 2; nreaders++) {
			for (k = 0; k < runs; k++) {
				v[k] = run(nreaders, seconds);
				wv[k] = writes_per_s;
			}
			qsort(v, (size_t)runs, sizeof(v[0]), cmp_double);
			qsort(wv, (size_t)runs, sizeof(wv[0]), cmp_double);
			med[m][nreaders] = v[runs / 2];
			printf("  %-24s %d reader%s %8.2f M lookups/s  (writer: %6.2f M store+erase/s)\n",
			       names[m], nreaders, nreaders > 1 ? "s" : " ", med[m][nreaders] / 1e6,
			       wv[runs / 2] / 1e6);
		}
		mem_table_free(table);
		mem_table_rcu_barrier();
	}
	for (nreaders = 1; nreaders <= 2; nreaders++)
		printf("  %d reader%s: (b)/(a) %.2fx, (b)/(c) %.2fx, (b)/(d) %.2fx\n", nreaders,
		       nreaders > 1 ? "s" : " ", med[RCU_WRITER][nreaders] / med[RCU_READ_ONLY][nreaders],
		       med[RCU_WRITER][nreaders] / med[RWLOCK][nreaders],
		       med[RCU_WRITER][nreaders] / med[MUTEX][nreaders]);
	printf("  (writer operations in all: %lu)\n", (unsigned long)writes);
	return 0;
}
