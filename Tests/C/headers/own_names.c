// SPDX-License-Identifier: GPL-2.0-only
/*
 * A program with kernel-style names of its own (BIT, PAGE_SIZE, PAGE_SHIFT,
 * PTRS_PER_*, enum pg_level), defined before <mem_table.h> (OWN_BEFORE) or
 * after it: the header must leave them all to the program. Built by
 * `make check-headers` as C99 and C++, -pedantic -Werror.
 */
#define MEM_TABLE_NO_KERNEL_NAMES /* the program has its own enum pg_level */

#ifdef OWN_BEFORE
#include "own_names.h"
#endif

#include <mem_table.h>

#ifndef OWN_BEFORE
#include "own_names.h"
#endif

int main(void)
{
	struct mem_table_geometry geo;
	struct mem_table *t;
	enum pg_level mine = PG_LEVEL_16K;
	int ok;

	/* The program's names mean what it says; the library's are namespaced. */
	if (PAGE_SIZE != 16384 || BIT(3) != 8 || PTRS_PER_PTE != 2048 || mine != 1)
		return 1;
	if (mem_table_geometry_init(&geo, PAGE_SHIFT, 11, 47, MEM_TABLE_PG_LEVEL_4K))
		return 1;
	t = mem_table_alloc_geometry(&geo, NULL);
	ok = t && !mem_table_store(t, 3 * PAGE_SIZE, MEM_TABLE_PG_LEVEL_4K, mem_table_mk_value(7), NULL) &&
	     mem_table_to_value(mem_table_lookup(t, 3 * PAGE_SIZE + 5)) == 7 && !(MEM_TABLE & 2);
	mem_table_free(t);
	return ok ? 0 : 1;
}
