// SPDX-License-Identifier: GPL-2.0-only
/*
 * Runs a command, its output to /dev/null, and prints its wall time (ns), its
 * maximum resident set (KiB) and its CPU time, user and system, of all its threads
 * (ns) on stdout: "NS KIB CPU_NS".
 *
 *   runner COMMAND [ARG]...
 *
 * For `make bench-scan`. A process's maximum RSS starts at its parent's at the fork
 * (the kernel keeps the high-water mark across exec), so a benchmark run from a
 * Python process would charge every command Python's own 14 MiB: this small
 * launcher forks instead, and its fork is a megabyte.
 */
#define _GNU_SOURCE
#include <err.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct timespec t0, t1;
	struct rusage usage;
	int status, null;
	pid_t pid;

	if (argc < 2)
		errx(2, "usage: runner COMMAND [ARG]...");
	null = open("/dev/null", O_WRONLY);
	if (null < 0)
		err(1, "/dev/null");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid = fork();
	if (pid < 0)
		err(1, "fork");
	if (pid == 0) {
		dup2(null, 1);
		dup2(null, 2);
		execvp(argv[1], argv + 1);
		_exit(127);
	}
	if (wait4(pid, &status, 0, &usage) < 0)
		err(1, "wait4");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		errx(1, "%s failed (status %d)", argv[1], status);
	printf("%lld %ld %lld\n", (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec),
	       usage.ru_maxrss,
	       (long long)(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1000000000LL +
		       (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1000LL);
	return 0;
}
