// SPDX-License-Identifier: GPL-2.0-only
/*
 * Memory table feature - where the library's memory comes from (an
 * addition): mem_table_set_allocator()'s allocator, or calloc() and free().
 * mem_table_internal.h maps the calloc() and free() calls of the other
 * sources here; this file alone calls the C library's (in the C tests, the
 * counting allocator of Tests/C/check.c, which the tests' -Dcalloc= and
 * -Dfree= name).
 *
 * Copyright © 2026 the memtable authors.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "mem_table.h"

void *_mem_table_calloc(size_t nmemb, size_t size);
void _mem_table_free_block(void *block);

/* Null functions: calloc() and free(). */
static struct mem_table_allocator allocator;
/* Blocks of the allocator in use not yet back (atomic: call_rcu frees too). */
static long blocks_out;

void *_mem_table_calloc(size_t nmemb, size_t size)
{
	void *block;

	if (!allocator.zalloc)
		block = calloc(nmemb, size);
	else if (size && nmemb > SIZE_MAX / size)
		block = NULL;
	else
		block = allocator.zalloc(nmemb * size);
	if (!block) {
		errno = ENOMEM;
		return NULL;
	}
	__atomic_add_fetch(&blocks_out, 1, __ATOMIC_RELAXED);
	return block;
}

void _mem_table_free_block(void *block)
{
	if (!block)
		return;
	__atomic_sub_fetch(&blocks_out, 1, __ATOMIC_RELEASE);
	if (allocator.release)
		allocator.release(block);
	else
		free(block);
}

int mem_table_set_allocator(const struct mem_table_allocator *a)
{
	if (a && (!a->zalloc || !a->release))
		return -EINVAL;
	if (__atomic_load_n(&blocks_out, __ATOMIC_ACQUIRE))
		return -EBUSY;
	if (a)
		allocator = *a;
	else
		allocator = (struct mem_table_allocator){ 0 };
	return 0;
}
