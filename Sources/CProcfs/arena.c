// SPDX-License-Identifier: GPL-2.0-only
/*
 * The scan's memory tables from 2 MiB transparent huge pages: procfs.h says why.
 *
 * Spans of address space, 2 MiB aligned and advised MADV_HUGEPAGE, are handed out from
 * the bottom up, so the memory touched is dense and only the last huge page is partly
 * used. A block carries its size in a 16-byte header; a freed block waits on the list of
 * its size (a scan's tables are one or two sizes) for the next block of that size.
 *
 * The first EARLY bytes come from calloc() instead: a huge page is 2 MiB for the kernel
 * to clear at its first touch, 60-200 us, and a small table (a process of huge pages
 * needs a few tables) is better off without one. procfs_arena_expect() raises that to
 * SMALL when the tables coming fit in it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <mem_table.h>

#include "procfs.h"

#define HUGE_PAGE	(2ul << 20)
#define SPAN		(64ul << 20)	/* address space reserved at a time */
#define MAX_SPANS	64		/* 4 GiB of tables; then calloc() */
#define MAX_BLOCK	(64ul << 10)	/* larger blocks come from calloc() */
#define HEADER		16		/* keeps the block 16-byte aligned, as malloc()'s */
#define SIZES		8		/* sizes with a list of freed blocks */
#define EARLY		(64ul << 10)	/* the first bytes, from calloc() */
#define SMALL		(256ul << 10)	/* ... where procfs_arena_expect() says that is all */

struct free_block {
	struct free_block *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned int nspans;
static char *next, *end;		/* what the last span has left */
static size_t sizes[SIZES];
static struct free_block *freed[SIZES];
static struct procfs_arena_usage usage;
static size_t early;			/* bytes handed out from calloc() before the first span */
static size_t early_limit = EARLY;	/* and how many may be */
static bool installed;			/* the library's allocator (procfs_table_arena()) */

/* A new span, 2 MiB aligned: map 2 MiB more and give back the ends. */
static bool grow(void)
{
	char *map, *start;
	size_t head;

	if (nspans == MAX_SPANS)
		return false;
	map = mmap(NULL, SPAN + HUGE_PAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (map == MAP_FAILED)
		return false;
	start = (char *)(((uintptr_t)map + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1));
	head = (size_t)(start - map);
	if (head)
		munmap(map, head);
	munmap(start + SPAN, HUGE_PAGE - head);
	/* Refused where THP is not built in: the span works with small pages. */
	madvise(start, SPAN, MADV_HUGEPAGE);
	nspans++;
	if (!usage.first)
		usage.first = (uintptr_t)start;
	usage.reserved += SPAN;
	next = start;
	end = start + SPAN;
	return true;
}

/* A block from calloc(), with a header of 0: not the arena's. */
static void *from_calloc(size_t size)
{
	/* Past PTRDIFF_MAX no object fits (malloc() refuses it too). */
	char *block = size <= PTRDIFF_MAX - HEADER ? calloc(1, size + HEADER) : NULL;

	if (!block)
		return NULL;
	pthread_mutex_lock(&lock);
	usage.blocks++;
	pthread_mutex_unlock(&lock);
	return block + HEADER;
}

void *procfs_arena_zalloc(size_t size)
{
	size_t need = ((size + HEADER - 1) & ~(size_t)(HEADER - 1)) + HEADER;
	char *block = NULL;
	unsigned int k;

	if (size > MAX_BLOCK)
		return from_calloc(size);
	pthread_mutex_lock(&lock);
	if (!nspans && early < early_limit) {
		early += need;
		pthread_mutex_unlock(&lock);
		return from_calloc(size);
	}
	for (k = 0; k < SIZES && sizes[k] && sizes[k] != need; k++)
		;
	if (k < SIZES && sizes[k] == need && freed[k]) {
		block = (char *)freed[k] - HEADER;
		freed[k] = freed[k]->next;
		memset(block + HEADER, 0, need - HEADER);
	} else if ((next && need <= (size_t)(end - next)) || grow()) {
		if (k < SIZES && !sizes[k])
			sizes[k] = need;
		block = next;	/* fresh: zero */
		next += need;
		usage.used += need;
		*(size_t *)block = need;
	}
	if (block)
		usage.blocks++;
	pthread_mutex_unlock(&lock);
	/* No address space left: calloc(). */
	return block ? block + HEADER : from_calloc(size);
}

void procfs_arena_release(void *p)
{
	char *block = (char *)p - HEADER;
	size_t need;
	unsigned int k;

	if (!p)
		return;
	pthread_mutex_lock(&lock);
	usage.blocks--;
	need = *(size_t *)block;
	if (!need) {
		pthread_mutex_unlock(&lock);
		free(block);
		return;
	}
	for (k = 0; k < SIZES && sizes[k] != need; k++)
		;
	/* A size without a list stays where it is (there are more sizes than lists). */
	if (k < SIZES) {
		((struct free_block *)p)->next = freed[k];
		freed[k] = p;
	}
	pthread_mutex_unlock(&lock);
}

size_t procfs_arena_expect(size_t tables)
{
	size_t limit;

	pthread_mutex_lock(&lock);
	/* A table of pages is 4 KiB and its header; the tables above it are few. */
	if (!nspans && tables <= SMALL / (4096 + 64))
		early_limit = SMALL;
	limit = nspans ? early : early_limit;
	pthread_mutex_unlock(&lock);
	return limit;
}

void procfs_arena_usage(struct procfs_arena_usage *out)
{
	pthread_mutex_lock(&lock);
	*out = usage;
	pthread_mutex_unlock(&lock);
}

bool procfs_arena_installed(void)
{
	bool yes;

	pthread_mutex_lock(&lock);
	yes = installed;
	pthread_mutex_unlock(&lock);
	return yes;
}

int procfs_table_arena(void)
{
	static const struct mem_table_allocator arena = {
		.zalloc = procfs_arena_zalloc,
		.release = procfs_arena_release,
	};
	int ret = mem_table_set_allocator(&arena);

	if (!ret) {
		pthread_mutex_lock(&lock);
		installed = true;
		pthread_mutex_unlock(&lock);
	}
	return ret;
}
