/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What memtable scan needs of Linux that Swift's Glibc module lacks, and its hot path:
 *
 * - PAGEMAP_SCAN (Linux 6.7), to find the present and swapped pages of a mapping without
 *   reading its whole pagemap, and memfd_create for the tests;
 * - a collector: one process's /proc/PID/maps parsed and its pagemap read a buffer at a
 *   time into runs (consecutive pages, consecutive frames, one permission set), then
 *   sorted and swept into segments of pages with the same per-process counters, so that
 *   the Swift side sees each page of a process once, with what its mappings grant.
 */
#ifndef MEMTABLE_PROCFS_H
#define MEMTABLE_PROCFS_H

#include <stdbool.h>
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

/*
 * The tables of every memory table made from now on from an arena of 2 MiB transparent
 * huge pages (mem_table_set_allocator()), where the system allows them. A scan's table
 * is thousands of 4 KiB page tables when frames are scattered, and a first touch costs a
 * page fault each, about 1.1 us on a VM, where a huge page's 2 MiB cost 60-200 us: 1 GiB
 * of scattered pages is 1,750 tables, 2 ms of faults. The price is the arena's last huge
 * page, partly used (at most 2 MiB of RSS). The first 64 KiB of blocks, and blocks
 * above 64 KiB, come from calloc() (a table of a few tables touches no huge page);
 * freed blocks are kept for blocks of their size. Thread-safe. Call before the library
 * allocates. Returns 0, or -EBUSY (tables are out; calloc() stays), -ENOMEM.
 */
int procfs_table_arena(void);

/*
 * A hint before the tables are made: about @tables tables of pages are coming (a
 * process of huge pages needs a few dozen, 1 GiB of scattered pages 1,750). If they
 * fit in 256 KiB, that much comes from calloc() rather than the first 64 KiB: a small
 * page's first touch costs about 1.5 us on a VM, a huge page cleared 60-200 us. No
 * effect once a span of huge pages is out. Returns the bytes of blocks that come from
 * calloc() before the first span (all of them, once it is out).
 */
size_t procfs_arena_expect(size_t tables);

/* Whether procfs_table_arena() made the arena the library's allocator. */
bool procfs_arena_installed(void);

/* The arena's allocator itself, and what it holds, for tests. */
void *procfs_arena_zalloc(size_t size);
void procfs_arena_release(void *block);
struct procfs_arena_usage {
	size_t blocks;		/* out now (calloc()'s included) */
	size_t used;		/* bytes of the arena ever handed out, headers included */
	size_t reserved;	/* bytes of address space reserved, in 2 MiB aligned spans */
	uintptr_t first;	/* the first span's address, 0 before the first */
};
void procfs_arena_usage(struct procfs_arena_usage *usage);

/* Permission bits, as MemTableScan's Permissions. */
#define PROCFS_READ	1u
#define PROCFS_WRITE	2u
#define PROCFS_EXECUTE	4u

/* A line of /proc/PID/maps, without its path (which is @path_offset in the maps text). */
struct procfs_mapping {
	uint64_t start;
	uint64_t end;
	uint32_t permissions;	/* PROCFS_READ | PROCFS_WRITE | PROCFS_EXECUTE */
	uint32_t shared;	/* 's' rather than 'p' */
	uint32_t vsyscall;	/* [vsyscall]: not in the pagemap */
	uint32_t path_offset;	/* where the path starts in procfs_collector.maps_text */
	uint32_t path_length;
};

/* Pages of a process that its mappings reach alike: [start, start + pages pages). */
struct procfs_segment {
	uint64_t start;		/* the first page's key (an address, page aligned) */
	uint64_t pages;
	uint16_t r, w, x;	/* mappings that grant read, write, execute (saturating) */
};

/* How procfs_collect() keys and counts pages. */
#define PROCFS_VIRTUAL	1u	/* key pages by @base | virtual address, not by frame */
#define PROCFS_DECLARED	2u	/* count write wherever a mapping declares it */

struct procfs_helper;

/*
 * One process's pages on their way into the table. Reused from process to
 * process: procfs_read_maps() starts a process, procfs_collect() reads its
 * mappings, procfs_sort() and procfs_segments() hand out its pages.
 */
struct procfs_collector {
	/* The process's maps: its text and its lines (procfs_read_maps). */
	char *maps_text;
	size_t maps_length, maps_capacity;
	struct procfs_mapping *mappings;
	size_t nr_mappings, mappings_capacity;

	/* What procfs_collect() found since procfs_read_maps(). */
	uint64_t present, swapped, hidden;

	/* Runs: (first page's key) | (pages - 1) << 3 | permissions; at most 512 pages each. */
	uint64_t *runs, *scratch;	/* scratch: procfs_sort()'s second buffer */
	size_t nr_runs, runs_capacity, scratch_capacity;

	/* The sweep of procfs_segments(): the next run, the page, the runs that cover it. */
	size_t next_run;
	uint64_t position;
	struct { uint64_t end; uint32_t permissions; } *active;
	size_t nr_active, active_capacity;

	/* The pagemap buffer, and whether PAGEMAP_SCAN works here (Linux 6.7). */
	uint64_t *buffer;
	int cannot_scan;

	/*
	 * Entries that a read of a small mapping brought along for the mappings right
	 * after it: ahead_n of them, from ahead_va on, at buffer + ahead_at, of the
	 * pagemap ahead_fd (procfs_collect(); procfs_read_maps() forgets them).
	 */
	uint64_t ahead_va;
	size_t ahead_at, ahead_n;
	int ahead_fd;

	/* A second thread that reads large mappings beside the caller (or none). */
	struct procfs_helper *helper;
	int no_helper;
};

/* A collector, or NULL without memory. */
struct procfs_collector *procfs_collector_new(void);
void procfs_collector_free(struct procfs_collector *c);

/*
 * Start a process: read and parse /proc/@pid/maps, forget the last process's pages.
 * Returns the number of mappings, or -errno (-ENOENT, -ESRCH: gone; -EACCES; -ENOMEM).
 */
long procfs_read_maps(struct procfs_collector *c, int pid);

/*
 * Read the pagemap @fd of @m (one of c->mappings) and add its present pages as runs
 * (a mapping of 128 MiB or more with a second thread, started the first time; one of
 * 32 MiB or less in one read with the mappings right after it that fit the buffer,
 * whose own calls then read nothing);
 * count present, swapped and hidden (frame read as 0) pages. @flags: PROCFS_VIRTUAL
 * (keys are @base | address), PROCFS_DECLARED. Returns 0 or -errno: -ESRCH if the
 * process's memory is gone (its pagemap reads short), -ENOMEM.
 */
int procfs_collect(struct procfs_collector *c, int fd, const struct procfs_mapping *m,
		   unsigned int flags, uint64_t base);

/* Sort the runs collected, and start the sweep. Returns 0 or -ENOMEM. */
int procfs_sort(struct procfs_collector *c);

/*
 * The next segments of the sweep, ascending and disjoint, into @out (up to @n): each
 * page the process maps appears in exactly one, with the number of its mappings that
 * grant each permission. Returns how many; 0 at the end. -ENOMEM if a page is mapped
 * in more places than memory allows to track.
 */
long procfs_segments(struct procfs_collector *c, struct procfs_segment *out, size_t n);

/* Forget the runs collected (to read one mapping at a time). */
static inline void procfs_clear_runs(struct procfs_collector *c)
{
	c->nr_runs = 0;
}

/* A run's first page's key, its pages and its permissions. */
static inline uint64_t procfs_run_address(uint64_t run)
{
	return run & ~4095ULL;
}

static inline uint64_t procfs_run_pages(uint64_t run)
{
	return ((run >> 3) & 511) + 1;
}

static inline uint32_t procfs_run_permissions(uint64_t run)
{
	return (uint32_t)run & 7;
}

#endif
