// SPDX-License-Identifier: GPL-2.0-only
#include <malloc.h>

#include "bench_heap.h"

size_t bench_heap_in_use(void)
{
	return mallinfo2().uordblks;
}
