// SPDX-License-Identifier: GPL-2.0-only
/*
 * One test per defect of the RFC's code that this port fixes, using only the
 * RFC's own API and struct layouts. Each runs in a child process, so a crash
 * is a failure like any other.
 *
 * Built against the library (make test), every test must pass. Built against
 * the RFC's code as posted (make check-rfc, Tests/C/rfc/), every test must
 * fail: run with --rfc, the program succeeds only if all of them do.
 */
/* The paging constants of the kernel shim: these tests check the faithful geometry. */
#define MEM_TABLE_KERNEL_SHIM
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mem_table_kernel.h"
#include "mem_table.h"
#include "check.h"

/* The RFC exports these without declaring them. */
extern unsigned int mem_table_base_level;
extern unsigned int mem_table_nlevels;
extern struct mem_table_level mem_table_levels[];

#define GiB (1ULL << 30)
#define PHYS_LIMIT (1ULL << MAX_PHYSMEM_BITS)

static unsigned long released;

static void count_free(void *buf)
{
	released++;
	free(buf);
}

static struct mem_table_ops counting_ops = { .free = count_free };

static void *leaf(void)
{
	return malloc(16);
}

static struct mem_table *new_table(void)
{
	mem_table_init(PG_LEVEL_4K);
	return mem_table_alloc(&counting_ops);
}

/* mem_table_find() added the base level to the pointer, not to the level. */
static void fix_find_reports_base_level(void)
{
	struct mem_table *table = new_table();
	unsigned int level = 0;
	void **slot = mem_table_create(table, 0x1234000);

	*slot = leaf();
	CHECK(mem_table_find(table, 0x1234000, &level) == slot);
	CHECK(level == PG_LEVEL_4K);
	mem_table_free(table);
}

/* A folded P4D became a one-entry top level: addresses aliased mod 512 GiB. */
static void fix_no_alias_modulo_512g(void)
{
	struct mem_table *table = new_table();
	phys_addr_t pa = 0x40000000, far = pa + 512 * GiB;
	unsigned int level;
	void *a = leaf(), *b = leaf();

	*mem_table_create(table, pa) = a;
	CHECK(mem_table_find(table, far, &level) == NULL);
	*mem_table_create(table, far) = b;
	CHECK(*mem_table_find(table, pa, &level) == a);
	CHECK(*mem_table_find(table, far, &level) == b);

	/* The root reaches MAX_PHYSMEM_BITS. */
	struct mem_table_level *top = &mem_table_levels[mem_table_nlevels - 1];
	CHECK(top->shift + __builtin_ctz(top->nentries) >= MAX_PHYSMEM_BITS);
	mem_table_free(table);
}

/* Addresses at or above 2^MAX_PHYSMEM_BITS were truncated by the mask. */
static void fix_bounds(void)
{
	struct mem_table *table = new_table();
	unsigned int level;
	long live;

	*mem_table_create(table, 0) = leaf();
	*mem_table_create(table, PHYS_LIMIT - PAGE_SIZE) = leaf();
	live = alloc_live;
	errno = 0;
	CHECK(mem_table_create(table, PHYS_LIMIT) == NULL);
	CHECK(errno == ERANGE);
	CHECK(mem_table_create(table, UINT64_MAX) == NULL);
	CHECK(mem_table_find(table, PHYS_LIMIT, &level) == NULL);
	CHECK(mem_table_find(table, PHYS_LIMIT + (PHYS_LIMIT - PAGE_SIZE), &level) == NULL);
	CHECK(alloc_live == live);
	mem_table_free(table);
}

/* A failed create kept the tables it had made and set "changed". */
static void fix_create_failure_leaves_table_as_it_was(void)
{
	struct mem_table *table = new_table();
	void *a = leaf();
	void **slot = NULL;
	unsigned int level;
	long step, live;

	*mem_table_create(table, 0) = a;
	table->changed = false;
	for (step = 0; !slot; step++) {
		live = alloc_live;
		alloc_fail_after(step);
		errno = 0;
		slot = mem_table_create(table, 600 * GiB);
		alloc_fail_after(-1);
		if (slot)
			break;
		CHECK(errno == ENOMEM);
		CHECK(alloc_live == live);
		CHECK(!table->changed);
		CHECK(*mem_table_find(table, 0, &level) == a);
		CHECK(mem_table_find(table, 600 * GiB, &level) == NULL);
	}
	CHECK(step == mem_table_nlevels - 1);
	CHECK(table->changed);
	mem_table_free(table);
}

/* mem_table_alloc() before mem_table_init() read mem_table_levels[-1]. */
static void fix_alloc_before_init(void)
{
	errno = 0;
	CHECK(mem_table_alloc(&counting_ops) == NULL);
	CHECK(errno == EINVAL);
}

/* NULL ops, or ops without free, crashed mem_table_free(). */
static void fix_null_ops(void)
{
	static struct mem_table_ops no_free = { .free = NULL };
	static char a[2] __attribute__((aligned(2))), b[2] __attribute__((aligned(2)));
	struct mem_table *t1, *t2;

	mem_table_init(PG_LEVEL_4K);
	t1 = mem_table_alloc(NULL);
	t2 = mem_table_alloc(&no_free);
	*mem_table_create(t1, 0x5000) = a;
	*mem_table_create(t2, 0x5000) = b;
	mem_table_free(t1);
	mem_table_free(t2);
	CHECK(alloc_live == 0);
}

/* IS_LEAF() did not parenthesise its argument. */
static void fix_is_leaf_parenthesised(void)
{
	uintptr_t table_entry = 3;

	CHECK(IS_LEAF(table_entry ^ 1));
	CHECK(!IS_LEAF(table_entry));
}

/* A create through a large leaf replaced it with a table and leaked it. */
static void fix_large_leaf_not_overwritten(void)
{
	struct mem_table *table = new_table();
	struct mem_table_level *top = table->level;
	void *big = leaf();

	/* A leaf in the root covers 2^(top->shift) bytes at address 0. */
	table->entries[0] = big;
	errno = 0;
	CHECK(mem_table_create(table, 0x3000) == NULL);
	CHECK(errno == EEXIST);
	CHECK(table->entries[0] == big);
	CHECK(alloc_live == 1);
	(void)top;
	mem_table_free(table);
	CHECK(released == 1);
}

/* Like free(), mem_table_free(NULL) does nothing; the RFC dereferenced it. */
static void fix_free_null(void)
{
	mem_table_free(NULL);
	CHECK(1);
}

/* mem_table_find() with no level wanted dereferenced NULL. */
static void fix_find_level_optional(void)
{
	struct mem_table *table = new_table();
	void *a = leaf();

	*mem_table_create(table, 0x7000) = a;
	CHECK(*mem_table_find(table, 0x7000, NULL) == a);
	mem_table_free(table);
}

/* A NULL table is an error, not a crash. */
static void fix_null_table(void)
{
	unsigned int level = 77;

	mem_table_init(PG_LEVEL_4K);
	errno = 0;
	CHECK(mem_table_create(NULL, 0) == NULL);
	CHECK(errno == EINVAL);
	CHECK(mem_table_find(NULL, 0, &level) == NULL);
	CHECK(level == 77);
}

static const struct {
	const char *name;
	void (*fn)(void);
} fixes[] = {
	{ "find reports the base-relative level", fix_find_reports_base_level },
	{ "no aliasing modulo 512 GiB (folded P4D)", fix_no_alias_modulo_512g },
	{ "addresses beyond MAX_PHYSMEM_BITS rejected", fix_bounds },
	{ "failed create leaves the table as it was", fix_create_failure_leaves_table_as_it_was },
	{ "alloc before init fails with EINVAL", fix_alloc_before_init },
	{ "NULL ops or NULL ops->free own nothing", fix_null_ops },
	{ "IS_LEAF parenthesises its argument", fix_is_leaf_parenthesised },
	{ "create does not overwrite a large leaf", fix_large_leaf_not_overwritten },
	{ "mem_table_free(NULL) is a no-op", fix_free_null },
	{ "find takes a NULL level pointer", fix_find_level_optional },
	{ "create/find on a NULL table fail cleanly", fix_null_table },
};

int main(int argc, char **argv)
{
	int rfc = argc > 1 && !strcmp(argv[1], "--rfc");
	unsigned int i, n = sizeof(fixes) / sizeof(fixes[0]), passed = 0;

	for (i = 0; i < n; i++) {
		int status;
		pid_t pid;

		fflush(NULL);
		pid = fork();
		if (pid < 0) {
			perror("fork");
			return 2;
		}
		if (!pid) {
			/* The child: a fresh, uninitialised library each time. */
			fixes[i].fn();
			_exit(checks_passed == checks_run && alloc_live == 0 ? 0 : 1);
		}
		waitpid(pid, &status, 0);
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			passed++;
			printf("  ok    %s\n", fixes[i].name);
		} else if (WIFSIGNALED(status)) {
			printf("  FAIL  %s (signal %d)\n", fixes[i].name, WTERMSIG(status));
		} else {
			printf("  FAIL  %s\n", fixes[i].name);
		}
	}
	if (rfc) {
		printf("RFC build: %u of %u pinned defects reproduce%s\n", n - passed, n,
		       passed ? " (each must)" : "");
		return passed ? 1 : 0;
	}
	printf("rfc fixes: %u passed, %u failed\n", passed, n - passed);
	return passed == n ? 0 : 1;
}
