// SPDX-License-Identifier: GPL-2.0-only
/*
 * memtable-replay: run an operation trace through the C library (or, with
 * --model, through the red-black-tree model) and print the transcript.
 *
 * Usage: memtable-replay [--model] [TRACE]   (standard input without TRACE)
 */
#include <err.h>
#include <stdio.h>
#include <string.h>

#include "trace.h"

int main(int argc, char **argv)
{
	const struct engine *e = &engine_lib;
	FILE *in = stdin;
	int i, rc;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--model"))
			e = &engine_model;
		else if (!strcmp(argv[i], "--help") || argv[i][0] == '-')
			errx(2, "usage: memtable-replay [--model] [TRACE]");
		else if (!(in = fopen(argv[i], "r")))
			err(2, "%s", argv[i]);
	}
	rc = trace_replay(e, in, stdout);
	if (in != stdin)
		fclose(in);
	return rc;
}
