// SPDX-License-Identifier: GPL-2.0-only
/*
 * The model as a trace engine: leaf intervals in libbsd's red-black tree,
 * written from the documented behaviour of the library, not from its code.
 * Tables are not modelled as objects: a table below the root exists exactly
 * where some leaf or reservation lies under its range, which is what the
 * library keeps. Reservations are a short list beside the tree.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "trace.h"

/* libbsd leaves __unused undefined (Debian #522773); tree.h needs it. */
#define __unused __attribute__((__unused__))
#include <bsd/sys/tree.h>

struct interval {
	RB_ENTRY(interval) link;
	uint64_t start;
	unsigned int level;
	uint64_t value;
	bool pointer;
};

/* A reserved slot: its first address and level. */
struct mark {
	uint64_t start;
	unsigned int level;
};

static int cmp(struct interval *a, struct interval *b)
{
	return a->start < b->start ? -1 : a->start > b->start;
}

RB_HEAD(model, interval);
RB_GENERATE_STATIC(model, interval, link, cmp)

static struct model tables[TRACE_MAX_TABLES];
static size_t sizes[TRACE_MAX_TABLES];
static struct mark *marks[TRACE_MAX_TABLES];
static size_t nmarks[TRACE_MAX_TABLES], capmarks[TRACE_MAX_TABLES];
static unsigned int nlevels, shifts[TRACE_MAX_LEVELS], bits[TRACE_MAX_LEVELS];
static unsigned int phys_bits;

static uint64_t span(unsigned int level)
{
	return 1ULL << shifts[level];
}

static uint64_t limit(void)
{
	return phys_bits >= 64 ? UINT64_MAX : 1ULL << phys_bits;
}

static bool in_range(uint64_t pa)
{
	return phys_bits >= 64 || pa < limit();
}

static struct interval *first_from(int t, uint64_t pa)
{
	struct interval key = { .start = pa };

	return RB_NFIND(model, &tables[t], &key);
}

static struct interval *cover(int t, uint64_t pa)
{
	struct interval *n = first_from(t, pa);

	if (n && n->start == pa)
		return n;
	n = n ? RB_PREV(model, &tables[t], n) : RB_MAX(model, &tables[t]);
	return n && pa - n->start < span(n->level) ? n : NULL;
}

static void add(int t, uint64_t start, unsigned int level, uint64_t value, bool pointer)
{
	struct interval *n = malloc(sizeof(*n));

	if (!n)
		abort();
	n->start = start, n->level = level, n->value = value, n->pointer = pointer;
	RB_INSERT(model, &tables[t], n);
	sizes[t]++;
}

static void del(int t, struct interval *n)
{
	RB_REMOVE(model, &tables[t], n);
	free(n);
	sizes[t]--;
}

/* Split the leaf @n down to @level along @pa. */
static void split_to(int t, struct interval *n, uint64_t pa, unsigned int level)
{
	while (n && n->level > level) {
		unsigned int l = n->level - 1, i;
		uint64_t start = n->start, value = n->value;
		bool pointer = n->pointer;

		del(t, n);
		for (i = 0; i < 1U << bits[l]; i++)
			add(t, start + i * span(l), l, value, pointer);
		n = cover(t, pa);
	}
}

static void leaf_out(const struct interval *n, struct trace_leaf *leaf)
{
	leaf->start = n->start;
	leaf->level = n->level;
	leaf->value = n->value;
	leaf->pointer = n->pointer;
}

/* The last address of the entry of @level at @start. */
static uint64_t last_of(uint64_t start, unsigned int level)
{
	return start + (span(level) - 1);
}

static void mark_add(int t, uint64_t start, unsigned int level)
{
	if (nmarks[t] == capmarks[t]) {
		capmarks[t] = capmarks[t] * 2 + 16;
		marks[t] = realloc(marks[t], capmarks[t] * sizeof(*marks[t]));
		if (!marks[t])
			abort();
	}
	marks[t][nmarks[t]].start = start;
	marks[t][nmarks[t]++].level = level;
}

/*
 * Drop the reservations that meet [@lo, @last] (@inside: only those wholly
 * inside it).
 */
static void marks_drop(int t, uint64_t lo, uint64_t last, bool inside)
{
	size_t i, k = 0;

	for (i = 0; i < nmarks[t]; i++) {
		struct mark *m = &marks[t][i];
		uint64_t end = last_of(m->start, m->level);
		bool drop = inside ? lo <= m->start && end <= last : m->start <= last && lo <= end;

		if (!drop)
			marks[t][k++] = *m;
	}
	nmarks[t] = k;
}

/* The reservation at (@start, @level), one of a smaller level inside it, or NULL. */
static struct mark *mark_find(int t, uint64_t start, unsigned int level, bool smaller)
{
	size_t i;

	for (i = 0; i < nmarks[t]; i++) {
		struct mark *m = &marks[t][i];

		if (smaller ? m->level < level && m->start - start <= span(level) - 1 &&
				      m->start >= start
			    : m->start == start && m->level == level)
			return m;
	}
	return NULL;
}

static int m_alloc(int t, const struct trace_geometry *g)
{
	unsigned int l, shift = g->page_shift;

	for (l = 0; shift < g->phys_bits; l++) {
		shifts[l] = shift;
		bits[l] = g->phys_bits - shift < g->bits ? g->phys_bits - shift : g->bits;
		shift += bits[l];
	}
	nlevels = l;
	phys_bits = g->phys_bits;
	RB_INIT(&tables[t]);
	sizes[t] = 0;
	nmarks[t] = 0;
	return 0;
}

static void m_free(int t)
{
	struct interval *n, *tmp;

	RB_FOREACH_SAFE(n, model, &tables[t], tmp)
		del(t, n);
	free(marks[t]);
	marks[t] = NULL;
	nmarks[t] = capmarks[t] = 0;
}

static int m_clone(int dst, int src)
{
	struct interval *n;
	size_t i;

	RB_INIT(&tables[dst]);
	sizes[dst] = 0;
	RB_FOREACH(n, model, &tables[src])
		add(dst, n->start, n->level, n->value, n->pointer);
	nmarks[dst] = 0;
	for (i = 0; i < nmarks[src]; i++)
		mark_add(dst, marks[src][i].start, marks[src][i].level);
	return 0;
}

/*
 * The slot of (@pa, @level) for a store or a reservation: its first address
 * in *@lo, or the error: out of range, a bad level or alignment, smaller
 * leaves under it.
 */
static int slot_check(int t, uint64_t pa, unsigned int level, uint64_t *lo)
{
	struct interval *n;

	if (!in_range(pa))
		return -ERANGE;
	if (level >= nlevels || (level && (pa & (span(level) - 1))))
		return -EINVAL;
	*lo = pa & ~(span(level) - 1);
	n = first_from(t, *lo);
	if (n && n->start - *lo < span(level) && n->level < level)
		return -EEXIST;
	return 0;
}

/*
 * A store ends every reservation it meets: the one in its slot, those
 * below it (their tables are freed) and one above (a table replaces it).
 */
static int m_store(int t, uint64_t pa, unsigned int level, uint64_t value, bool pointer,
		   bool *had, struct trace_leaf *old)
{
	uint64_t lo;
	struct interval *n;
	int err = slot_check(t, pa, level, &lo);

	*had = false;
	if (err)
		return err;
	marks_drop(t, lo, last_of(lo, level), false);
	n = cover(t, lo);
	if (n && n->level > level)
		split_to(t, n, lo, level);
	n = cover(t, lo);
	if (n) {
		*had = true;
		leaf_out(n, old);
		del(t, n);
	}
	add(t, lo, level, value, pointer);
	return 0;
}

static int m_create(int t, uint64_t pa, uint64_t value, bool pointer, bool *had,
		    struct trace_leaf *old)
{
	struct interval *n;

	*had = false;
	if (!in_range(pa))
		return -ERANGE;
	n = cover(t, pa);
	if (n && n->level > 0)
		return -EEXIST;
	marks_drop(t, pa & ~(span(0) - 1), pa | (span(0) - 1), false);
	if (n) {
		*had = true;
		leaf_out(n, old);
		del(t, n);
	}
	add(t, pa & ~(span(0) - 1), 0, value, pointer);
	return 0;
}

/*
 * A reservation goes in an empty slot; a larger leaf is split down to it
 * instead; a slot with a leaf, a reservation, or only reservations below is
 * left as it is; one with smaller leaves is refused.
 */
static int m_reserve(int t, uint64_t pa, unsigned int level)
{
	struct interval *n;
	uint64_t lo;
	int err = slot_check(t, pa, level, &lo);

	if (err)
		return err;
	n = cover(t, lo);
	if (n) {
		split_to(t, n, lo, level);
		return 0;
	}
	if (mark_find(t, lo, level, false) || mark_find(t, lo, level, true))
		return 0;
	marks_drop(t, lo, lo, false); /* one above: a table replaces it */
	mark_add(t, lo, level);
	return 0;
}

static bool m_load(int t, uint64_t pa, struct trace_leaf *leaf)
{
	struct interval *n = in_range(pa) ? cover(t, pa) : NULL;

	if (n)
		leaf_out(n, leaf);
	return n != NULL;
}

/* An erase ends the reservation on its way, if there is one. */
static bool m_erase(int t, uint64_t pa, struct trace_leaf *leaf)
{
	struct interval *n = in_range(pa) ? cover(t, pa) : NULL;

	if (n) {
		leaf_out(n, leaf);
		del(t, n);
	} else if (in_range(pa)) {
		marks_drop(t, pa, pa, false);
	}
	return n != NULL;
}

static int m_split(int t, uint64_t pa, unsigned int level)
{
	struct interval *n;

	if (!in_range(pa))
		return -ERANGE;
	if (level >= nlevels)
		return -EINVAL;
	n = cover(t, pa);
	if (!n)
		return -ENOENT;
	split_to(t, n, pa, level);
	return 0;
}

static int m_merge(int t, uint64_t pa, unsigned int level)
{
	uint64_t lo, count = 0;
	struct interval *n, *first;
	bool pointer;

	if (!in_range(pa))
		return -ERANGE;
	if (level >= nlevels || !level)
		return -EINVAL;
	lo = pa & ~(span(level) - 1);
	first = first_from(t, lo);
	for (n = first; n && n->start - lo < span(level); n = RB_NEXT(model, &tables[t], n)) {
		if (n->level != level - 1)
			return -ENOENT;
		count++;
	}
	if (count != 1ULL << bits[level - 1])
		return -ENOENT;
	for (n = first; n && n->start - lo < span(level); n = RB_NEXT(model, &tables[t], n))
		if (n->value != first->value || n->pointer != first->pointer)
			return -EBUSY;
	count = first->value;
	pointer = first->pointer;
	while ((n = first_from(t, lo)) && n->start - lo < span(level))
		del(t, n);
	add(t, lo, level, count, pointer);
	return 0;
}

/* The level of the largest aligned piece of [pa, end) at pa. */
static unsigned int piece(uint64_t pa, uint64_t end)
{
	unsigned int l = nlevels - 1;

	while (l && ((pa & (span(l) - 1)) || end - pa < span(l)))
		l--;
	return l;
}

static int check_range(uint64_t start, uint64_t end)
{
	if (!in_range(start))
		return -ERANGE;
	if (end <= start || ((start | end) & (span(0) - 1)))
		return -EINVAL;
	if (!in_range(end - 1))
		return -ERANGE;
	return 0;
}

/*
 * Split what crosses the edges, then drop what is inside; returns the
 * leaves dropped. Reservations wholly inside go too.
 */
static long clear_range(int t, uint64_t start, uint64_t end)
{
	uint64_t pa, last = start;
	struct interval *n;
	long removed = 0;

	n = cover(t, start);
	if (n && n->start < start)
		split_to(t, n, start, piece(start, end));
	for (pa = start; pa < end; pa += span(piece(pa, end)))
		last = pa;
	n = cover(t, end - 1);
	if (n && end - n->start < span(n->level))
		split_to(t, n, end - 1, piece(last, end));
	while ((n = first_from(t, start)) && n->start < end) {
		del(t, n);
		removed++;
	}
	marks_drop(t, start, end - 1, true);
	return removed;
}

static int m_store_range(int t, uint64_t start, uint64_t end, uint64_t value)
{
	uint64_t pa;
	int err = check_range(start, end);

	if (err)
		return err;
	clear_range(t, start, end);
	marks_drop(t, start, end - 1, false); /* and those it meets */
	for (pa = start; pa < end; pa += span(piece(pa, end)))
		add(t, pa, piece(pa, end), value, false);
	return 0;
}

static long m_erase_range(int t, uint64_t start, uint64_t end)
{
	int err = check_range(start, end);

	return err ? err : clear_range(t, start, end);
}

static void m_walk(int t, uint64_t start, uint64_t end, trace_leaf_fn fn, void *arg)
{
	struct interval *n;
	struct trace_leaf leaf;

	if (end <= start || !in_range(start))
		return;
	n = cover(t, start);
	if (!n)
		n = first_from(t, start);
	for (; n && n->start < end && n->start <= end - 1; n = RB_NEXT(model, &tables[t], n)) {
		leaf_out(n, &leaf);
		if (fn(&leaf, arg))
			return;
	}
}

static bool m_next(int t, uint64_t pa, struct trace_leaf *leaf)
{
	struct interval *n;

	if (!in_range(pa))
		return false;
	n = cover(t, pa);
	if (!n)
		n = first_from(t, pa);
	if (n)
		leaf_out(n, leaf);
	return n != NULL;
}

static size_t m_count(int t)
{
	return sizes[t];
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void m_stats(int t, struct trace_stats *st)
{
	uint64_t *regions;
	size_t n = 0, i, cap = (sizes[t] + nmarks[t]) * nlevels + 1;
	struct interval *leaf;
	unsigned int l;

	memset(st, 0, sizeof(*st));
	st->nlevels = nlevels;
	st->count = sizes[t];
	/*
	 * A table of level l (l below the root) for each region of level l + 1
	 * holding a leaf or a reservation.
	 */
	regions = malloc(cap * sizeof(*regions));
	if (!regions)
		abort();
	RB_FOREACH(leaf, model, &tables[t]) {
		st->leaves[leaf->level]++;
		st->pages += (size_t)1 << (shifts[leaf->level] - shifts[0]);
		for (l = leaf->level; l + 1 < nlevels; l++)
			regions[n++] = ((uint64_t)l << 58) | (leaf->start >> shifts[l + 1]);
	}
	for (i = 0; i < nmarks[t]; i++)
		for (l = marks[t][i].level; l + 1 < nlevels; l++)
			regions[n++] = ((uint64_t)l << 58) | (marks[t][i].start >> shifts[l + 1]);
	qsort(regions, n, sizeof(*regions), cmp_u64);
	for (i = 0; i < n; i++)
		if (!i || regions[i] != regions[i - 1])
			st->tables[regions[i] >> 58]++;
	free(regions);
	st->tables[nlevels - 1] = 1;
	/* struct mem_table is 24 bytes, an entry 8, the root's trailer 72 (mem_table_internal.h). */
	for (l = 0; l < nlevels; l++)
		st->bytes += st->tables[l] * (24 + ((size_t)8 << bits[l]));
	st->bytes += 72;
}

const struct engine engine_model = {
	"model", m_alloc, m_free, m_clone, m_store, m_create, m_reserve, m_load, m_load,
	m_erase, m_split, m_merge, m_store_range, m_erase_range, m_walk, m_next,
	m_count, m_stats, NULL, NULL,
};
