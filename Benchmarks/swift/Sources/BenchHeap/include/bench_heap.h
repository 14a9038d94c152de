/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef BENCH_HEAP_H
#define BENCH_HEAP_H
#include <stddef.h>
/* Bytes of the heap in use (mallinfo2's uordblks). */
size_t bench_heap_in_use(void);
#endif
