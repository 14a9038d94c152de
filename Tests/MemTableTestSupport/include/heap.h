/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef MEMTABLE_TEST_HEAP_H
#define MEMTABLE_TEST_HEAP_H
#include <stddef.h>

/* Bytes of the heap in use (mallinfo2's uordblks). */
size_t memtable_test_heap_in_use(void);

#endif
