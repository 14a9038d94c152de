/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef MEMTABLE_TEST_HEAP_H
#define MEMTABLE_TEST_HEAP_H
#include <stddef.h>

/* Bytes of the heap in use (mallinfo2's uordblks). */
size_t memtable_test_heap_in_use(void);

/*
 * Allow the calling thread the CPU it runs on only, and back: 0, or -1 with
 * errno. The mask put back is the one saved by the first (one at a time).
 */
int memtable_test_pin_thread(void);
int memtable_test_unpin_thread(void);

#endif
