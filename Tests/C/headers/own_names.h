/* SPDX-License-Identifier: GPL-2.0-only */
/* The kernel-style names of a program of its own, for own_names.c. */
#define BIT(n) (1u << (n))
#define PAGE_SHIFT 14
#define PAGE_SIZE (1u << PAGE_SHIFT)
#define PTRS_PER_PTE 2048
#define PTRS_PER_PMD 2048
enum pg_level { PG_LEVEL_NONE, PG_LEVEL_16K, PG_LEVEL_32M, PG_LEVEL_NUM };
