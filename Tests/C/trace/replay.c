// SPDX-License-Identifier: GPL-2.0-only
/*
 * memtable-replay: run an operation trace through the C library (or, with
 * --model, through the red-black-tree model) and print the transcript.
 * --refuse-each first runs every operation with each of its consumer op
 * calls (ops->split, ->merge, ->clone) refusing in turn. Built with the
 * counting allocator (Tests/C/check.c), --fail-each first runs every
 * operation with each of its allocations failing in turn, and both check
 * that a failed run keeps no allocation.
 *
 * Usage: memtable-replay [--model | --fail-each | --refuse-each] [TRACE]
 * (standard input without TRACE)
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

static struct trace_faults faults = { alloc_fail_after, NULL, NULL, live, 0, 0, 0 };
static struct trace_faults refusals = { NULL, engine_lib_refuse_after, engine_lib_refused,
					live, 0, 0, 0 };
#else
static struct trace_faults refusals = { NULL, engine_lib_refuse_after, engine_lib_refused,
					NULL, 0, 0, 0 };
#endif

#define USAGE "usage: memtable-replay [--model | --fail-each | --refuse-each] [TRACE]"

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
		else if (!strcmp(argv[i], "--refuse-each"))
			trace_faults = &refusals;
		else if (argv[i][0] == '-')
			errx(2, USAGE);
		else if (!(in = fopen(argv[i], "r")))
			err(2, "%s", argv[i]);
	}
	if (trace_faults && e != &engine_lib)
		errx(2, "the model neither allocates through the library nor refuses");
	rc = trace_replay(e, in, stdout);
	if (in != stdin)
		fclose(in);
	if (trace_faults == &refusals) {
		fprintf(stderr, "refusal injection: %lu consumer op refusals injected, %lu changed the table\n",
			refusals.refusals, refusals.violations);
		if (refusals.violations)
			rc = 1;
	}
#ifdef TRACE_FAULTS
	if (trace_faults == &faults) {
		fprintf(stderr, "fault injection: %lu allocation failures injected, %lu changed the table, %ld allocations left\n",
			faults.injected, faults.violations, alloc_live);
		if (faults.violations || alloc_live)
			rc = 1;
	}
#endif
	return rc;
}
