/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Operation traces: one operation a line, replayed through an engine (the
 * library, or a model of it) into a transcript. The format is documented in
 * Tests/TRACES.md; the Swift replay (memtable-trace) prints the same
 * transcript through the Swift API.
 */
#ifndef MEM_TABLE_TRACE_H
#define MEM_TABLE_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define TRACE_MAX_TABLES 8
#define TRACE_MAX_LEVELS 6

enum trace_op {
	OP_GEOMETRY, OP_STORE, OP_CREATE, OP_FIND, OP_LOAD, OP_ERASE, OP_SPLIT,
	OP_MERGE, OP_STORE_RANGE, OP_ERASE_RANGE, OP_WALK, OP_NEXT, OP_COUNT,
	OP_STATS, OP_CLONE, OP_USE, OP_FREE, OP_RESERVE, OP_NONE
};

struct trace_line {
	enum trace_op op;
	uint64_t a, b;     /* address, or start and end */
	uint64_t level;
	uint64_t value;
	bool pointer;      /* the value was written *N: a pointer leaf */
	char name[32];     /* geometry name */
};

/* A geometry by name: page shift, bits per level, address bits. */
struct trace_geometry {
	const char *name;
	unsigned int page_shift, bits, phys_bits;
};

const struct trace_geometry *trace_geometry(const char *name);

/*
 * Parse one line; OP_NONE for a blank or comment line. On error returns
 * false with a message in @err.
 */
bool trace_parse(const char *line, struct trace_line *out, char *err, size_t errlen);

/*
 * A leaf as engines report it: first address, level (0-based), value, and
 * whether it is a pointer leaf (the consumer's object, split, merged,
 * cloned and freed through the table's ops) rather than a value entry.
 */
struct trace_leaf {
	uint64_t start;
	unsigned int level;
	uint64_t value;
	bool pointer;
};

struct trace_stats {
	unsigned int nlevels;
	size_t count, pages, bytes;
	size_t leaves[TRACE_MAX_LEVELS], tables[TRACE_MAX_LEVELS];
};

typedef int (*trace_leaf_fn)(const struct trace_leaf *leaf, void *arg);

/*
 * An engine: the library (engine_lib.c) or the model (engine_model.c).
 * Errors are negative errno values, as the library returns them.
 */
struct engine {
	const char *name;
	/* Make table @t empty with geometry @g (0 or -errno). */
	int (*alloc)(int t, const struct trace_geometry *g);
	void (*free)(int t);
	int (*clone)(int dst, int src);
	/* store: 0 and *@old (was there one?), or -errno. */
	int (*store)(int t, uint64_t pa, unsigned int level, uint64_t value, bool pointer,
		     bool *had_old, struct trace_leaf *old);
	/* The faithful create and a store into the slot. */
	int (*create)(int t, uint64_t pa, uint64_t value, bool pointer, bool *had_old,
		      struct trace_leaf *old);
	int (*reserve)(int t, uint64_t pa, unsigned int level);
	bool (*load)(int t, uint64_t pa, struct trace_leaf *leaf);
	/* The faithful find: the same answer as load. */
	bool (*find)(int t, uint64_t pa, struct trace_leaf *leaf);
	bool (*erase)(int t, uint64_t pa, struct trace_leaf *leaf);
	int (*split)(int t, uint64_t pa, unsigned int level);
	int (*merge)(int t, uint64_t pa, unsigned int level);
	int (*store_range)(int t, uint64_t start, uint64_t end, uint64_t value);
	long (*erase_range)(int t, uint64_t start, uint64_t end);
	/* Leaves meeting [start, end), in order. */
	void (*walk)(int t, uint64_t start, uint64_t end, trace_leaf_fn fn, void *arg);
	bool (*next)(int t, uint64_t pa, struct trace_leaf *leaf);
	size_t (*count)(int t);
	void (*stats)(int t, struct trace_stats *st);
	/*
	 * For fault injection, or NULL: clear what a failed operation must
	 * not set (the library's changed flags), and a hash of all the state
	 * a failed operation must leave alone (every table, slot and flag,
	 * the count, the statistics, the consumer's objects alive).
	 */
	void (*settle)(int t);
	uint64_t (*fingerprint)(int t);
};

extern const struct engine engine_lib, engine_model;

/* The library engine's consumer ops: refuse the n-th call from now (-1: none). */
void engine_lib_refuse_after(long n);
bool engine_lib_refused(void);

/* The name of a negative errno, as transcripts print it. */
const char *trace_errname(long err);

/*
 * Replay a whole trace through @e, writing the transcript to @out. Returns
 * 0, or 2 with a message on stderr for malformed input (line number given).
 */
int trace_replay(const struct engine *e, FILE *in, FILE *out);

/*
 * Fault injection (replay --fail-each, --refuse-each): when set, every
 * operation is first run with the n-th allocation failing (@fail_after,
 * built with Tests/C/check.c's counting allocator), or the n-th call of a
 * consumer op (ops->split, ->merge, ->clone) refusing (@refuse_after), for
 * n = 0, 1, ... until the operation gets through; each failed run must
 * report its error (ENOMEM; a refused merge is "no") and leave the table's
 * fingerprint and the live allocation count as they were. The transcript
 * is that of the final, successful runs.
 */
struct trace_faults {
	void (*fail_after)(long n);   /* NULL: no allocation failures */
	void (*refuse_after)(long n); /* NULL: no refusals */
	bool (*refused)(void);        /* did the last run refuse? */
	long (*live)(void);
	unsigned long injected, refusals, violations;
};

extern struct trace_faults *trace_faults;

#endif
