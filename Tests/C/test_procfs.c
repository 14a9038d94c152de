// SPDX-License-Identifier: GPL-2.0-only
/*
 * memtable scan's C helper (Sources/CProcfs) where Swift's tests cannot reach it:
 * procfs_heap_hugepages() works on the main thread's heap, and swift-testing runs
 * no test there.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "procfs.h"

/* The largest mapping of /proc/self/smaps whose VmFlags carry @flag. */
static uint64_t largest_with_flag(const char *flag)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	uint64_t start = 0, end = 0, largest = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long s, e;

		if (sscanf(line, "%llx-%llx ", &s, &e) == 2 && strchr(line, ' ')) {
			start = s;
			end = e;
		} else if (!strncmp(line, "VmFlags:", 8)) {
			char *t = strtok(line + 8, " \n");

			for (; t; t = strtok(NULL, " \n"))
				if (!strcmp(t, flag) && end - start > largest)
					largest = end - start;
		}
	}
	fclose(f);
	return largest;
}

/*
 * Where transparent huge pages are not off, the heap grows at once and 62 MiB or
 * more of it is advised for them; allocations, small and large, work as before.
 */
static void check_heap_hugepages(void)
{
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	char mode[128] = "";
	char *small[512];
	void *large;
	int r;

	if (f) {
		if (!fgets(mode, sizeof(mode), f))
			mode[0] = 0;
		fclose(f);
	}
	r = procfs_heap_hugepages(64 << 20);
	if (!f || strstr(mode, "[never]")) {
		printf("transparent huge pages off (%s): procfs_heap_hugepages() says %d\n", mode, r);
		return;
	}
	CHECK(r == 0);
	CHECK(largest_with_flag("hg") >= 62 << 20);
	for (int i = 0; i < 512; i++) {
		small[i] = calloc(1, 4096 + 64);
		CHECK(small[i] != NULL);
		if (small[i])
			memset(small[i], i, 4096);
	}
	large = malloc(8 << 20);
	CHECK(large != NULL);
	if (large)
		memset(large, 1, 8 << 20);
	free(large);
	for (int i = 0; i < 512; i++)
		free(small[i]);
}

int main(void)
{
	check_heap_hugepages();
	printf("%lu passed, %lu failed\n", checks_passed, checks_run - checks_passed);
	return checks_passed == checks_run ? 0 : 1;
}
