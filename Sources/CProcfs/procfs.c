// SPDX-License-Identifier: GPL-2.0-only
/* PAGEMAP_SCAN and memfd_create for memtable scan. */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "procfs.h"

/* <linux/fs.h> of Linux 6.7 (Debian 12's headers predate it). */
struct pm_scan_arg {
	uint64_t size;
	uint64_t flags;
	uint64_t start;
	uint64_t end;
	uint64_t walk_end;
	uint64_t vec;
	uint64_t vec_len;
	uint64_t max_pages;
	uint64_t category_inverted;
	uint64_t category_mask;
	uint64_t category_anyof_mask;
	uint64_t return_mask;
};

#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#define PAGE_IS_PRESENT (1 << 3)
#define PAGE_IS_SWAPPED (1 << 4)

long procfs_present_regions(int fd, uint64_t start, uint64_t end, struct procfs_region *out,
			    size_t n, uint64_t *walk_end)
{
	struct pm_scan_arg arg = {
		.size = sizeof(arg),
		.start = start,
		.end = end,
		.vec = (uint64_t)(uintptr_t)out,
		.vec_len = n,
		.category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
		.return_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
	};
	long r = ioctl(fd, PAGEMAP_SCAN, &arg);

	if (r < 0)
		return -errno;
	*walk_end = arg.walk_end;
	return r;
}

int procfs_memfd(const char *name)
{
	return (int)syscall(SYS_memfd_create, name, 0);
}
