// SPDX-License-Identifier: GPL-2.0-only
/*
 * A process with SIZE MiB of anonymous memory touched (transparent huge
 * pages with "thp"), for `make bench-scan` to scan: prints its pid, then
 * waits to be killed.
 *
 *   toucher SIZE_MIB [thp]
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	size_t size = (argc > 1 ? strtoull(argv[1], NULL, 0) : 1024) << 20;
	int thp = argc > 2 && !strcmp(argv[2], "thp");
	char *p = mmap(NULL, size + (2 << 20), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	size_t i;

	if (p == MAP_FAILED)
		return 1;
	p = (char *)(((unsigned long)p + (2 << 20) - 1) & ~((2UL << 20) - 1));
	madvise(p, size, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	for (i = 0; i < size; i += 4096)
		p[i] = (char)i;
	printf("%d\n", getpid());
	fflush(stdout);
	for (;;)
		pause();
}
