// SPDX-License-Identifier: GPL-2.0-only
/* What the Swift tests need of the C library that Glibc's module lacks. */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <sched.h>

#include "heap.h"

size_t memtable_test_heap_in_use(void)
{
	return mallinfo2().uordblks;
}

static cpu_set_t saved;

int memtable_test_pin_thread(void)
{
	int cpu = sched_getcpu();
	cpu_set_t one;

	if (cpu < 0 || sched_getaffinity(0, sizeof(saved), &saved))
		return -1;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	return sched_setaffinity(0, sizeof(one), &one);
}

int memtable_test_unpin_thread(void)
{
	return sched_setaffinity(0, sizeof(saved), &saved);
}
