// SPDX-License-Identifier: GPL-2.0-only
/* What the Swift tests need of the C library that Glibc's module lacks. */
#include <malloc.h>

#include "heap.h"

size_t memtable_test_heap_in_use(void)
{
	return mallinfo2().uordblks;
}
