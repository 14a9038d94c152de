// SPDX-License-Identifier: GPL-2.0-only
/*
 * The baseline of `make bench-scan`: just reading what memtable scan reads,
 * /proc/PID/maps and /proc/PID/pagemap of every mapping, in chunks, and
 * counting the present pages; nothing kept.
 *
 *   reader [PID]...        (all processes without arguments)
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint64_t buf[8192];

static unsigned long read_process(int pid)
{
	char path[64], line[4096];
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

		if (sscanf(line, "%" SCNx64 "-%" SCNx64, &start, &end) != 2 || strstr(line, "[vsyscall]"))
			continue;
		for (va = start; va < end;) {
			size_t n = (end - va) >> 12;
			ssize_t got;

			if (n > 8192)
				n = 8192;
			got = pread(fd, buf, n * 8, (off_t)(va >> 12) * 8);
			if (got <= 0)
				break;
			for (size_t i = 0; i < (size_t)got / 8; i++)
				present += buf[i] >> 63;
			va += (uint64_t)got / 8 << 12;
		}
	}
	if (fd >= 0)
		close(fd);
	fclose(maps);
	return present;
}

int main(int argc, char **argv)
{
	unsigned long present = 0;
	int i;

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
	printf("%lu present pages\n", present);
	return 0;
}
