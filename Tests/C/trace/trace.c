// SPDX-License-Identifier: GPL-2.0-only
/*
 * Trace parsing and replay: the transcript format lives here, once, for
 * every C engine. Tests/TRACES.md documents it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trace.h"

static const struct trace_geometry geometries[] = {
	{ "x86_64", 12, 9, 46 },   { "x86_64_la57", 12, 9, 52 }, { "arm64_4k", 12, 9, 48 },
	{ "arm64_16k", 14, 11, 48 }, { "arm64_64k", 16, 13, 48 }, { "small", 12, 3, 23 },
	{ "tiny", 12, 2, 22 },
};

const struct trace_geometry *trace_geometry(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(geometries) / sizeof(geometries[0]); i++)
		if (!strcmp(geometries[i].name, name))
			return &geometries[i];
	return NULL;
}

static const struct {
	const char *name;
	enum trace_op op;
	int args; /* bit 0 a, bit 1 b, bit 2 level, bit 3 value, bit 4 name, bit 5 *value */
} ops[] = {
	{ "geometry", OP_GEOMETRY, 16 }, { "store", OP_STORE, 1 | 4 | 8 | 32 },
	{ "create", OP_CREATE, 1 | 8 | 32 }, { "find", OP_FIND, 1 },
	{ "load", OP_LOAD, 1 },           { "erase", OP_ERASE, 1 },
	{ "split", OP_SPLIT, 1 | 4 },     { "merge", OP_MERGE, 1 | 4 },
	{ "store_range", OP_STORE_RANGE, 1 | 2 | 8 },
	{ "erase_range", OP_ERASE_RANGE, 1 | 2 },
	{ "walk", OP_WALK, 1 | 2 },       { "next", OP_NEXT, 1 },
	{ "count", OP_COUNT, 0 },         { "stats", OP_STATS, 0 },
	{ "clone", OP_CLONE, 0 },         { "use", OP_USE, 8 },
	{ "free", OP_FREE, 8 },           { "reserve", OP_RESERVE, 1 | 4 },
};

static bool number(const char **p, uint64_t *out)
{
	char *end;

	while (**p == ' ' || **p == '\t')
		(*p)++;
	if (**p < '0' || **p > '9')
		return false;
	errno = 0;
	*out = strtoull(*p, &end, 0);
	if (errno || (*end && *end != ' ' && *end != '\t' && *end != '\n' && *end != '\r' &&
		      *end != '#'))
		return false;
	*p = end;
	return true;
}

bool trace_parse(const char *line, struct trace_line *out, char *err, size_t errlen)
{
	const char *p = line;
	char word[32];
	size_t n = 0, i;

	memset(out, 0, sizeof(*out));
	out->op = OP_NONE;
	while (*p == ' ' || *p == '\t')
		p++;
	if (!*p || *p == '#' || *p == '\n' || *p == '\r')
		return true;
	while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' && n < sizeof(word) - 1)
		word[n++] = *p++;
	word[n] = 0;
	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (!strcmp(ops[i].name, word))
			break;
	if (i == sizeof(ops) / sizeof(ops[0])) {
		snprintf(err, errlen, "unknown operation '%s'", word);
		return false;
	}
	out->op = ops[i].op;
	if (ops[i].args & 16) {
		while (*p == ' ' || *p == '\t')
			p++;
		for (n = 0; *p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' &&
			    n < sizeof(out->name) - 1;)
			out->name[n++] = *p++;
		if (!trace_geometry(out->name)) {
			snprintf(err, errlen, "unknown geometry '%s'", out->name);
			return false;
		}
	}
	if (((ops[i].args & 1) && !number(&p, &out->a)) ||
	    ((ops[i].args & 2) && !number(&p, &out->b)) ||
	    ((ops[i].args & 4) && !number(&p, &out->level))) {
		snprintf(err, errlen, "%s: bad or missing number", word);
		return false;
	}
	if (ops[i].args & 8) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '*' && (ops[i].args & 32) && p[1] >= '0' && p[1] <= '9') {
			out->pointer = true;
			p++;
		}
	}
	if ((ops[i].args & 8) && !number(&p, &out->value)) {
		snprintf(err, errlen, "%s: bad or missing number", word);
		return false;
	}
	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	if (*p && *p != '#') {
		snprintf(err, errlen, "%s: unexpected '%s'", word, p);
		return false;
	}
	if (out->level >= TRACE_MAX_LEVELS + 2 || out->value > 1000000 ||
	    ((out->op == OP_USE || out->op == OP_FREE) && out->value >= TRACE_MAX_TABLES)) {
		snprintf(err, errlen, "%s: number out of range", word);
		return false;
	}
	return true;
}

const char *trace_errname(long err)
{
	switch (-err) {
	case EINVAL: return "EINVAL";
	case ERANGE: return "ERANGE";
	case EEXIST: return "EEXIST";
	case ENOENT: return "ENOENT";
	case EBUSY: return "EBUSY";
	case ENOMEM: return "ENOMEM";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	default: return "E?";
	}
}

/* FNV-1a over leaves: the digest of a walk or of a table. */
struct digest {
	uint64_t fnv;
	size_t n;
	FILE *out;      /* print the first few leaves there, or NULL */
};

static int digest_leaf(const struct trace_leaf *leaf, void *arg)
{
	struct digest *d = arg;
	uint64_t words[3] = { leaf->start, leaf->level,
			      leaf->value | (uint64_t)leaf->pointer << 63 };
	const unsigned char *b = (const unsigned char *)words;
	size_t i;

	for (i = 0; i < sizeof(words); i++)
		d->fnv = (d->fnv ^ b[i]) * 0x100000001b3ULL;
	if (d->out && d->n < 4)
		fprintf(d->out, " 0x%" PRIx64 "@%u=%s%" PRIu64, leaf->start, leaf->level,
			leaf->pointer ? "*" : "", leaf->value);
	d->n++;
	return 0;
}

static void print_leaf(FILE *out, const struct trace_leaf *l)
{
	fprintf(out, "0x%" PRIx64 "@%u=%s%" PRIu64, l->start, l->level, l->pointer ? "*" : "",
		l->value);
}

static void print_sizes(FILE *out, const char *what, const size_t *v, unsigned int n)
{
	unsigned int i;

	fprintf(out, " %s", what);
	for (i = 0; i < n; i++)
		fprintf(out, "%c%zu", i ? ',' : ' ', v[i]);
}

struct trace_faults *trace_faults;

/* Run one operation on table @cur; 3 or 4 for a malformed clone, use or free. */
static int run_op(const struct engine *e, const struct trace_line *t, int cur, bool *live,
		  FILE *out)
{
	struct trace_leaf leaf;
	struct trace_stats st;
	bool had;
	int i, r;

	switch (t->op) {
	case OP_STORE:
	case OP_CREATE:
		if (t->op == OP_STORE) {
			fprintf(out, "store 0x%" PRIx64 " %" PRIu64 " %s%" PRIu64 ":", t->a, t->level,
				t->pointer ? "*" : "", t->value);
			r = e->store(cur, t->a, (unsigned int)t->level, t->value, t->pointer, &had,
				     &leaf);
		} else {
			fprintf(out, "create 0x%" PRIx64 " %s%" PRIu64 ":", t->a, t->pointer ? "*" : "",
				t->value);
			r = e->create(cur, t->a, t->value, t->pointer, &had, &leaf);
		}
		if (r) {
			fprintf(out, " error %s\n", trace_errname(r));
		} else if (had) {
			fprintf(out, " ok, was ");
			print_leaf(out, &leaf);
			fputc('\n', out);
		} else {
			fprintf(out, " ok\n");
		}
		break;
	case OP_FIND:
	case OP_LOAD:
	case OP_ERASE:
	case OP_NEXT:
		fprintf(out, "%s 0x%" PRIx64 ": ",
			t->op == OP_FIND ? "find" : t->op == OP_LOAD ? "load" :
			t->op == OP_ERASE ? "erase" : "next", t->a);
		had = t->op == OP_ERASE ? e->erase(cur, t->a, &leaf) :
		      t->op == OP_NEXT ? e->next(cur, t->a, &leaf) :
		      t->op == OP_FIND ? e->find(cur, t->a, &leaf) : e->load(cur, t->a, &leaf);
		if (had)
			print_leaf(out, &leaf);
		else
			fprintf(out, "none");
		fputc('\n', out);
		break;
	case OP_SPLIT:
	case OP_MERGE:
		fprintf(out, "%s 0x%" PRIx64 " %" PRIu64 ": ", t->op == OP_SPLIT ? "split" : "merge",
			t->a, t->level);
		r = t->op == OP_SPLIT ? e->split(cur, t->a, (unsigned int)t->level) :
				       e->merge(cur, t->a, (unsigned int)t->level);
		if (t->op == OP_MERGE && (r == -ENOENT || r == -EBUSY))
			fprintf(out, "no\n");
		else if (r)
			fprintf(out, "error %s\n", trace_errname(r));
		else
			fprintf(out, "ok\n");
		break;
	case OP_RESERVE:
		fprintf(out, "reserve 0x%" PRIx64 " %" PRIu64 ": ", t->a, t->level);
		r = e->reserve(cur, t->a, (unsigned int)t->level);
		if (r)
			fprintf(out, "error %s\n", trace_errname(r));
		else
			fprintf(out, "ok\n");
		break;
	case OP_STORE_RANGE:
		fprintf(out, "store_range 0x%" PRIx64 " 0x%" PRIx64 " %" PRIu64 ": ", t->a, t->b, t->value);
		r = e->store_range(cur, t->a, t->b, t->value);
		if (r)
			fprintf(out, "error %s\n", trace_errname(r));
		else
			fprintf(out, "ok\n");
		break;
	case OP_ERASE_RANGE: {
		long n;

		fprintf(out, "erase_range 0x%" PRIx64 " 0x%" PRIx64 ": ", t->a, t->b);
		n = e->erase_range(cur, t->a, t->b);
		if (n < 0)
			fprintf(out, "error %s\n", trace_errname(n));
		else
			fprintf(out, "%ld erased\n", n);
		break;
	}
	case OP_WALK: {
		struct digest d = { 0xcbf29ce484222325ULL, 0, out };

		fprintf(out, "walk 0x%" PRIx64 " 0x%" PRIx64 ":", t->a, t->b);
		e->walk(cur, t->a, t->b, digest_leaf, &d);
		fprintf(out, "%s%zu leaves, fnv 0x%016" PRIx64 "\n", d.n ? "; " : " ", d.n, d.fnv);
		break;
	}
	case OP_COUNT:
		fprintf(out, "count: %zu\n", e->count(cur));
		break;
	case OP_STATS:
		e->stats(cur, &st);
		fprintf(out, "stats: count %zu pages %zu", st.count, st.pages);
		print_sizes(out, "leaves", st.leaves, st.nlevels);
		print_sizes(out, "tables", st.tables, st.nlevels);
		fprintf(out, " bytes %zu\n", st.bytes);
		break;
	case OP_CLONE:
		for (i = 0; i < TRACE_MAX_TABLES && live[i]; i++)
			;
		if (i == TRACE_MAX_TABLES || !live[cur])
			return 3;
		r = e->clone(i, cur);
		if (r) {
			fprintf(out, "clone: error %s\n", trace_errname(r));
			break;
		}
		live[i] = true;
		fprintf(out, "clone: table %d\n", i);
		break;
	case OP_USE:
		if (!live[t->value])
			return 4;
		cur = (int)t->value;
		fprintf(out, "use %d\n", cur);
		break;
	case OP_FREE:
		if (!live[t->value])
			return 4;
		e->free((int)t->value);
		live[t->value] = false;
		fprintf(out, "free %" PRIu64 "\n", t->value);
		break;
	default:
		break;
	}
	return 0;
}

/* The digest of table @t, or the engine's fingerprint of all its state. */
static uint64_t table_digest(const struct engine *e, int t)
{
	struct digest d = { 0xcbf29ce484222325ULL, 0, NULL };

	if (e->fingerprint)
		return e->fingerprint(t);
	e->walk(t, 0, UINT64_MAX, digest_leaf, &d);
	return d.fnv ^ e->count(t);
}

/*
 * Run one operation, first with each of its allocations failing in turn
 * (trace_faults->fail_after), or each of its consumer op calls refusing
 * (->refuse_after): every failed run must report its error and leave the
 * table as it was; the successful run's transcript is kept.
 */
static int run_op_faults(const struct engine *e, const struct trace_line *t, int cur,
			 bool *live, FILE *out, unsigned long lineno)
{
	bool refusing = !trace_faults->fail_after;
	long live_before = trace_faults->live ? trace_faults->live() : 0;
	uint64_t before;
	long n;

	/* Failed runs must leave the table as it is now: one fingerprint for all. */
	if (e->settle)
		e->settle(cur);
	before = table_digest(e, cur);
	for (n = 0;; n++) {
		char *buf = NULL;
		size_t len = 0;
		FILE *mem = open_memstream(&buf, &len);
		bool failed, reported;
		int r;

		if (refusing)
			trace_faults->refuse_after(n);
		else
			trace_faults->fail_after(n);
		r = run_op(e, t, cur, live, mem);
		if (refusing) {
			failed = trace_faults->refused();
			trace_faults->refuse_after(-1);
		} else {
			trace_faults->fail_after(-1);
		}
		fclose(mem);
		/* A refused merge is a merge that cannot happen: "no". */
		reported = strstr(buf, "error ENOMEM") ||
			   (refusing && t->op == OP_MERGE && strstr(buf, ": no"));
		if (!refusing)
			failed = reported;
		if (r || !failed) {
			fputs(buf, out);
			free(buf);
			return r;
		}
		if (refusing)
			trace_faults->refusals++;
		else
			trace_faults->injected++;
		if (!reported || table_digest(e, cur) != before ||
		    (trace_faults->live && trace_faults->live() != live_before)) {
			trace_faults->violations++;
			fprintf(stderr, "line %lu: %s %ld %s changed the table or kept memory: %s",
				lineno, refusing ? "consumer op" : "allocation", n,
				refusing ? "refusing" : "failing", buf);
		}
		free(buf);
	}
}

int trace_replay(const struct engine *e, FILE *in, FILE *out)
{
	const struct trace_geometry *geo = trace_geometry("x86_64");
	bool live[TRACE_MAX_TABLES] = { false };
	char line[512], err[128];
	unsigned long lineno = 0;
	struct trace_line t;
	int cur = 0, i, r;
	bool started = false;

	while (fgets(line, sizeof(line), in)) {
		lineno++;
		if (!strchr(line, '\n') && !feof(in)) {
			fprintf(stderr, "line %lu: longer than %zu characters\n", lineno, sizeof(line) - 2);
			goto bad;
		}
		if (!trace_parse(line, &t, err, sizeof(err))) {
			fprintf(stderr, "line %lu: %s\n", lineno, err);
			goto bad;
		}
		if (t.op == OP_NONE)
			continue;
		if (t.op == OP_GEOMETRY) {
			if (started) {
				fprintf(stderr, "line %lu: geometry must come first\n", lineno);
				goto bad;
			}
			geo = trace_geometry(t.name);
			fprintf(out, "geometry %s\n", geo->name);
			continue;
		}
		if (!started) {
			started = true;
			if (e->alloc(0, geo)) {
				fprintf(stderr, "line %lu: cannot allocate a table\n", lineno);
				goto bad;
			}
			live[0] = true;
		}
		if (!live[cur] && t.op != OP_USE && t.op != OP_CLONE) {
			fprintf(stderr, "line %lu: table %d was freed\n", lineno, cur);
			goto bad;
		}
		r = trace_faults && t.op != OP_USE && t.op != OP_FREE ?
			run_op_faults(e, &t, cur, live, out, lineno) : run_op(e, &t, cur, live, out);
		if (r == 3) {
			fprintf(stderr, "line %lu: no table to clone, or no room\n", lineno);
			goto bad;
		}
		if (r == 4) {
			fprintf(stderr, "line %lu: no table %" PRIu64 "\n", lineno, t.value);
			goto bad;
		}
		if (t.op == OP_USE)
			cur = (int)t.value;
	}
	/* The digest of every table left. */
	for (i = 0; i < TRACE_MAX_TABLES; i++) {
		struct digest d = { 0xcbf29ce484222325ULL, 0, NULL };

		if (!live[i])
			continue;
		e->walk(i, 0, UINT64_MAX, digest_leaf, &d);
		fprintf(out, "digest %d: %zu leaves, count %zu, fnv 0x%016" PRIx64 "\n", i, d.n,
			e->count(i), d.fnv);
		e->free(i);
	}
	return 0;
bad:
	for (i = 0; i < TRACE_MAX_TABLES; i++)
		if (live[i])
			e->free(i);
	return 2;
}
