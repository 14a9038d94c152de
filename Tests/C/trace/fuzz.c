// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer harness: the input is a trace (text, as Tests/TRACES.md says;
 * the seed corpus is Tests/traces/). It is replayed through the library and
 * through the red-black-tree model, and the two transcripts must be the same
 * line for line: after each operation, the table agrees with the model.
 * Built with -fsanitize=fuzzer,address,undefined (make fuzz, make check-fuzz).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *transcript(const struct engine *e, const uint8_t *data, size_t size, size_t *len)
{
	FILE *in = fmemopen((void *)(uintptr_t)data, size, "r");
	char *buf = NULL;
	FILE *out = open_memstream(&buf, len);

	if (!in || !out)
		abort();
	trace_replay(e, in, out);
	fclose(in);
	fclose(out);
	return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t la, lb;
	char *a, *b;

	if (!size)
		return 0;
	a = transcript(&engine_lib, data, size, &la);
	b = transcript(&engine_model, data, size, &lb);
	if (la != lb || memcmp(a, b, la)) {
		fprintf(stderr, "library and model differ:\n--- library\n%s--- model\n%s", a, b);
		abort();
	}
	free(a);
	free(b);
	return 0;
}
