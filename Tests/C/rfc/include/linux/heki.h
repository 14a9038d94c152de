/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Stand-in for <linux/heki.h> so that kernel/mem_table.c, the RFC's code as
 * posted (byte for byte), builds in userspace against the project's shim.
 * Only the regression check (make check-rfc) builds it: every test in
 * Tests/C/test_rfc_fixes.c must fail on it.
 */
#ifndef __RFC_HEKI_H__
#define __RFC_HEKI_H__

#define MEM_TABLE_KERNEL_SHIM
#include <stdlib.h>
#include "mem_table_kernel.h"

#define GFP_KERNEL 0
#define kzalloc(size, gfp) calloc(1, (size))
#define kfree(p) free(p)

#endif
