/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The C tests' harness, after lib/test_xarray.c: CHECK() counts every
 * assertion, a failure prints where and what, and the runner ends with
 * "N passed, N failed".
 *
 * The library object the tests link is built with -Dcalloc=mt_test_calloc
 * -Dfree=mt_test_free, so every table allocation goes through the counting,
 * failure-injecting allocator below; the tests' own memory does not.
 */
#ifndef MEM_TABLE_CHECK_H
#define MEM_TABLE_CHECK_H

#include <stdio.h>
#include <stdlib.h>

extern unsigned long checks_run, checks_passed;

#define CHECK(cond)                                                        \
	do {                                                               \
		checks_run++;                                              \
		if (cond)                                                  \
			checks_passed++;                                   \
		else                                                       \
			fprintf(stderr, "%s:%d: %s: check failed: %s\n",  \
				__FILE__, __LINE__, __func__, #cond);      \
	} while (0)

/* The allocator the library calls (see above). */
void *mt_test_calloc(size_t nmemb, size_t size);
void mt_test_free(void *ptr);

/* Allocations made by the library and not yet freed. */
extern long alloc_live;
/* Successful allocations so far. */
extern long alloc_count;
/*
 * Make the library's n-th allocation from now fail (0: the next one), with
 * errno ENOMEM; a negative n stops injecting.
 */
void alloc_fail_after(long n);

#endif
