// SPDX-License-Identifier: GPL-2.0-only
/* The C tests' counters and the counting, failure-injecting allocator. */
#include <errno.h>
#include <stdlib.h>

#include "check.h"

unsigned long checks_run, checks_passed;
long alloc_live, alloc_count;
static long alloc_countdown = -1;

void alloc_fail_after(long n)
{
	alloc_countdown = n;
}

void *mt_test_calloc(size_t nmemb, size_t size)
{
	void *p;

	if (alloc_countdown >= 0 && alloc_countdown-- == 0) {
		errno = ENOMEM;
		return NULL;
	}
	p = calloc(nmemb, size);
	if (p) {
		alloc_live++;
		alloc_count++;
	}
	return p;
}

void mt_test_free(void *ptr)
{
	if (ptr)
		alloc_live--;
	free(ptr);
}
