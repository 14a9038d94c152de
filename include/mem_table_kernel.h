/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Memory table feature - the kernel stand-ins.
 *
 * kernel/mem_table.c was written against <linux/...> headers. This small shim
 * supplies what it used, the way the kernel's tools/testing/radix-tree/linux/
 * headers do for the XArray, so that the faithful code reads like the RFC.
 *
 * The public part is what <mem_table.h> needs for its prototypes, and only
 * that: phys_addr_t, and the page levels under names of the library's own
 * (MEM_TABLE_BIT(), enum mem_table_pg_level), so that a program's own BIT(),
 * PAGE_SIZE, PAGE_SHIFT or PTRS_PER_* stay its own, before or after the
 * include. The kernel's spelling of the levels (enum pg_level, PG_LEVEL_4K...)
 * is there too, for programs written against the RFC, unless the program has
 * its own: it defines MEM_TABLE_NO_KERNEL_NAMES before the include (the
 * kernel's <asm/pgtable_types.h> is recognised). The part under
 * MEM_TABLE_KERNEL_SHIM (BIT, the paging constants, ilog2, struct_size,
 * __init...) is for the library's own sources and its tests only.
 *
 * Copyright © 2026 the memtable authors.
 */

#ifndef __MEM_TABLE_KERNEL_H__
#define __MEM_TABLE_KERNEL_H__

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* <linux/types.h>: physical addresses are 64 bits (CONFIG_PHYS_ADDR_T_64BIT). */
typedef uint64_t phys_addr_t;

/* CONFIG_PGTABLE_LEVELS, the size of mem_table_levels[], under the library's name. */
#define MEM_TABLE_PGTABLE_LEVELS 4

/* <linux/bits.h>'s BIT(), under the library's name. */
#define MEM_TABLE_BIT(nr) (1UL << (nr))

/*
 * arch/x86/include/asm/pgtable_types.h: the page sizes a leaf can describe.
 * mem_table_init(PG_LEVEL_4K) makes mem_table_find() report a 4 KiB leaf as
 * PG_LEVEL_4K, a 2 MiB leaf as PG_LEVEL_2M, and so on.
 */
enum mem_table_pg_level {
	MEM_TABLE_PG_LEVEL_NONE,
	MEM_TABLE_PG_LEVEL_4K,
	MEM_TABLE_PG_LEVEL_2M,
	MEM_TABLE_PG_LEVEL_1G,
	MEM_TABLE_PG_LEVEL_512G,
	MEM_TABLE_PG_LEVEL_256T,
	MEM_TABLE_PG_LEVEL_NUM
};

#if !defined(MEM_TABLE_NO_KERNEL_NAMES) && !defined(_ASM_X86_PGTABLE_DEFS_H)
enum pg_level {
	PG_LEVEL_NONE = MEM_TABLE_PG_LEVEL_NONE,
	PG_LEVEL_4K = MEM_TABLE_PG_LEVEL_4K,
	PG_LEVEL_2M = MEM_TABLE_PG_LEVEL_2M,
	PG_LEVEL_1G = MEM_TABLE_PG_LEVEL_1G,
	PG_LEVEL_512G = MEM_TABLE_PG_LEVEL_512G,
	PG_LEVEL_256T = MEM_TABLE_PG_LEVEL_256T,
	PG_LEVEL_NUM = MEM_TABLE_PG_LEVEL_NUM
};
#endif

#ifdef MEM_TABLE_KERNEL_SHIM
/* <linux/bits.h> */
#ifndef BIT
#define BIT(nr) MEM_TABLE_BIT(nr)
#endif

/*
 * x86-64 with 4-level paging (CONFIG_X86_5LEVEL=n): 4 KiB pages, 512 entries
 * per table, the P4D folded into the PGD, 46 physical address bits.
 * A test build may override the fan-out (MEM_TABLE_PTRS_SHIFT) and the address
 * width (MAX_PHYSMEM_BITS) to make deep trees out of few pages.
 */
#ifndef PAGE_SHIFT
#define PAGE_SHIFT 12
#endif
#ifndef PAGE_SIZE
#define PAGE_SIZE (1UL << PAGE_SHIFT)
#endif
#ifndef MEM_TABLE_PTRS_SHIFT
#define MEM_TABLE_PTRS_SHIFT 9
#endif
#ifndef PTRS_PER_PTE
#define PTRS_PER_PTE (1 << MEM_TABLE_PTRS_SHIFT)
#endif
#ifndef PTRS_PER_PMD
#define PTRS_PER_PMD (1 << MEM_TABLE_PTRS_SHIFT)
#endif
#ifndef PTRS_PER_PUD
#define PTRS_PER_PUD (1 << MEM_TABLE_PTRS_SHIFT)
#endif
#ifndef PTRS_PER_P4D
#define PTRS_PER_P4D 1
#endif
#ifndef PTRS_PER_PGD
#define PTRS_PER_PGD (1 << MEM_TABLE_PTRS_SHIFT)
#endif
#ifndef CONFIG_PGTABLE_LEVELS
#define CONFIG_PGTABLE_LEVELS MEM_TABLE_PGTABLE_LEVELS
#endif
#ifndef MAX_PHYSMEM_BITS
#define MAX_PHYSMEM_BITS 46
#endif

/* <linux/log2.h>, for the non-zero powers of two the geometry uses. */
#define ilog2(n) ((unsigned int)(63 - __builtin_clzll((unsigned long long)(n))))

/* <linux/overflow.h>, without the saturation (sizes here are small). */
#define struct_size(p, member, count) \
	(sizeof(*(p)) + (size_t)(count) * sizeof(*(p)->member))

/* <linux/container_of.h> */
#define container_of(ptr, type, member) \
	((type *)((uintptr_t)(ptr) - offsetof(type, member)))

/* <asm/cache.h> on x86, <linux/prefetch.h> */
#ifndef L1_CACHE_BYTES
#define L1_CACHE_BYTES 64
#endif
#define prefetch(x) __builtin_prefetch(x)

/* <linux/init.h>, <linux/cache.h>: no sections in userspace. */
#define __init
#define __ro_after_init

/*
 * <linux/export.h>: symbols are exported by MEM_TABLE_API on their prototypes
 * (the library is built with -fvisibility=hidden). The redeclaration keeps
 * the RFC's "EXPORT_SYMBOL_GPL(f);" lines valid C.
 */
#define EXPORT_SYMBOL_GPL(sym) extern __typeof__(sym) sym
#endif /* MEM_TABLE_KERNEL_SHIM */

#endif /* __MEM_TABLE_KERNEL_H__ */
