// SPDX-License-Identifier: GPL-2.0-only
/*
 * The table of `make bench-scan`: what reader.c reads, kept in a memory table as
 * a plain C program would keep it, and walked once. Per present page, its
 * frame's counters (mappings that grant read, write, execute, in one value
 * entry) are found and bumped, or stored; a 2 MiB aligned run of 512 consecutive
 * frames (a transparent huge page) is one 2 MiB entry. The tables come from the
 * scan's own huge-page arena (Sources/CProcfs/arena.c), and the table is walked
 * once by mem_table_stats_walk(), as the scan's summary walks it.
 *
 * Nothing of the scan's semantics (each process once, effective writes, swapped
 * pages) and no report. Against the reader: what keeping the counters in the
 * RFC's table costs a C program. The scan against it: what the rest of memtable
 * scan costs. Its stores are a page at a time (no ranges) and it reads with one
 * thread, so on the scattered pages of a large process the scan is faster.
 *
 *   table [PID]...        (all processes without arguments)
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mem_table.h>
#include <mem_table_kernel.h>
#include <procfs.h>

#define PFN_MASK	((UINT64_C(1) << 55) - 1)
#define PMD_PAGES	512

static uint64_t buf[8192];
static struct mem_table *table;

/* Counters, 16 bits each: read, write, execute. */
static uintptr_t bump(unsigned int perm)
{
	return (uintptr_t)(perm & 1) | (uintptr_t)(perm >> 1 & 1) << 16 | (uintptr_t)(perm >> 2 & 1) << 32;
}

/* @level: 0 for a page, 1 for 2 MiB (mem_table_lookup_slot()'s numbers). */
static void add(uint64_t pfn, unsigned int level, unsigned int perm)
{
	phys_addr_t pa = (phys_addr_t)pfn << 12;
	unsigned int at;
	void **slot = mem_table_lookup_slot(table, pa, &at);

	if (slot && at == level) {
		*slot = mem_table_mk_value(mem_table_to_value(*slot) + bump(perm));
		return;
	}
	if (slot && at > level && mem_table_split(table, pa, PG_LEVEL_4K + level) == 0) {
		add(pfn, level, perm);
		return;
	}
	if (!slot && mem_table_store(table, pa, PG_LEVEL_4K + level, mem_table_mk_value(bump(perm)), NULL) == 0)
		return;
	if (level > 0)	/* pages of the range are in the table already */
		for (unsigned int i = 0; i < PMD_PAGES; i++)
			add(pfn + i, 0, perm);
}

/* reader.c's read_process(), line for line, with the permissions and the stores. */
static unsigned long read_process(int pid)
{
	char path[64], line[4096], perms[5];
	unsigned long present = 0;
	FILE *maps;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	maps = fopen(path, "r");
	if (!maps)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	fd = open(path, O_RDONLY);
	while (fd >= 0 && fgets(line, sizeof(line), maps)) {
		uint64_t start, end, va;
		unsigned int perm;

		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %4s", &start, &end, perms) != 3 ||
		    strstr(line, "[vsyscall]"))
			continue;
		perm = (perms[0] == 'r') | (perms[1] == 'w') << 1 | (perms[2] == 'x') << 2;
		for (va = start; va < end;) {
			size_t n = (end - va) >> 12, i, got;
			ssize_t bytes;

			if (n > 8192)
				n = 8192;
			bytes = pread(fd, buf, n * 8, (off_t)(va >> 12) * 8);
			if (bytes <= 0)
				break;
			got = (size_t)bytes / 8;
			for (i = 0; i < got; i++) {
				uint64_t pfn = buf[i] & PFN_MASK, k;

				if (!(buf[i] >> 63))
					continue;
				present++;
				/* A huge page: 512 frames in a row from a 2 MiB boundary, here and there. */
				if (((va >> 12) + i) % PMD_PAGES == 0 && pfn % PMD_PAGES == 0 && i + PMD_PAGES <= got) {
					for (k = 1; k < PMD_PAGES && buf[i + k] >> 63 &&
						    (buf[i + k] & PFN_MASK) == pfn + k; k++)
						;
					if (k == PMD_PAGES) {
						add(pfn, 1, perm);
						present += PMD_PAGES - 1;
						i += PMD_PAGES - 1;
						continue;
					}
				}
				add(pfn, 0, perm);
			}
			va += (uint64_t)got << 12;
		}
	}
	if (fd >= 0)
		close(fd);
	fclose(maps);
	return present;
}

static int count_run(const struct mem_table_run *run, void *arg)
{
	*(unsigned long *)arg += run->count;
	return 0;
}

int main(int argc, char **argv)
{
	struct mem_table_stats stats;
	unsigned long present = 0, slots = 0;
	int i;

	if (procfs_table_arena() < 0)
		return 1;
	table = mem_table_alloc_geometry(&mem_table_geometry_x86_64, NULL);
	if (!table)
		return 1;
	if (argc > 1) {
		for (i = 1; i < argc; i++)
			present += read_process(atoi(argv[i]));
	} else {
		DIR *d = opendir("/proc");
		struct dirent *e;

		while (d && (e = readdir(d)))
			if (e->d_name[0] >= '1' && e->d_name[0] <= '9' && atoi(e->d_name) != getpid())
				present += read_process(atoi(e->d_name));
		if (d)
			closedir(d);
	}
	if (mem_table_stats_walk(table, &stats, count_run, &slots) < 0)
		return 1;
	printf("%lu present pages, %zu frames, %zu tables of pages\n", present, stats.pages, stats.tables[0]);
	return 0;
}
