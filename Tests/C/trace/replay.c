// SPDX-License-Identifier: GPL-2.0-only
/*
 * memtable-replay: run an operation trace through the C library (or, with
 * --model, through the red-black-tree model) and print the transcript.
 * Built with the counting allocator (Tests/C/check.c), --fail-each first
 * runs every operation with each of its allocations failing in turn.
 *
 * Usage: memtable-replay [--model | --fail-each] [TRACE]   (stdin without TRACE)
 */
#include <err.h>
#include <stdio.h>
#include <string.h>

#include "trace.h"

#ifdef TRACE_FAULTS
#include "check.h"

static long live(void)
{
	return alloc_live;
}

static struct trace_faults faults = { alloc_fail_after, live, 0, 0 };
#endif

int main(int argc, char **argv)
{
	const struct engine *e = &engine_lib;
	FILE *in = stdin;
	int i, rc;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--model"))
			e = &engine_model;
#ifdef TRACE_FAULTS
		else if (!strcmp(argv[i], "--fail-each"))
			trace_faults = &faults;
#endif
		else if (argv[i][0] == '-')
			errx(2, "usage: memtable-replay [--model | --fail-each] [TRACE]");
		else if (!(in = fopen(argv[i], "r")))
			err(2, "%s", argv[i]);
	}
	rc = trace_replay(e, in, stdout);
	if (in != stdin)
		fclose(in);
#ifdef TRACE_FAULTS
	if (trace_faults) {
		fprintf(stderr, "fault injection: %lu allocation failures injected, %lu changed the table, %ld allocations left\n",
			faults.injected, faults.violations, alloc_live);
		if (faults.violations || alloc_live)
			rc = 1;
	}
#endif
	return rc;
}
