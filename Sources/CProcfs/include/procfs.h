/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What memtable scan needs of Linux that Swift's Glibc module lacks:
 * PAGEMAP_SCAN (Linux 6.7), to find the present and swapped pages of a mapping without
 * reading its whole pagemap, and memfd_create for the tests.
 */
#ifndef MEMTABLE_PROCFS_H
#define MEMTABLE_PROCFS_H

#include <stddef.h>
#include <stdint.h>

/* A run of present or swapped pages: [start, end), virtual addresses. */
struct procfs_region {
	uint64_t start;
	uint64_t end;
	uint64_t categories;
};

/*
 * Fill @out with up to @n runs of present or swapped pages of [@start, @end)
 * in the pagemap @fd; *@walk_end is where the walk stopped (@end when done).
 * Returns the number of runs, or -errno (-ENOTTY, -EINVAL: no PAGEMAP_SCAN).
 */
long procfs_present_regions(int fd, uint64_t start, uint64_t end, struct procfs_region *out,
			    size_t n, uint64_t *walk_end);

/* memfd_create(2), or -1 with errno. */
int procfs_memfd(const char *name);

#endif
