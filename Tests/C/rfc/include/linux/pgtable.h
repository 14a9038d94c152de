/* SPDX-License-Identifier: GPL-2.0-only */
/* Stand-in for <linux/pgtable.h>: the paging constants are in mem_table_kernel.h. */
