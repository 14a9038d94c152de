// SPDX-License-Identifier: GPL-2.0-only
/*
 * libmemtable-failalloc.so: a calloc that fails on request, preloaded
 * (LD_PRELOAD) into a program that has the library linked in, such as the
 * Swift replay, which cannot be rebuilt with the counting allocator of
 * Tests/C/check.c. The C library allocates every table with calloc.
 *
 *   memtable_fault_arm(n)   the n-th calloc from now on fails (0: the next
 *                           one), and the callocs from now on are tracked
 *                           until freed: only those that the program makes
 *                           itself, from its own code, where the library is
 *                           linked in (the Swift runtime, in a shared
 *                           library, allocates its caches with calloc too)
 *   memtable_fault_disarm() no more failure, no more tracking
 *   memtable_fault_live()   the tracked callocs not yet freed
 *
 * The program finds these with dlsym(RTLD_DEFAULT, ...). Single-threaded
 * use only, as a replay is. Frees that glibc makes internally (not through
 * free) are not seen; the library makes none.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <link.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h> /* the prototypes of calloc() and free(), replaced here */

void *__libc_calloc(size_t nmemb, size_t size);
void __libc_free(void *p);

void memtable_fault_arm(long n);
void memtable_fault_disarm(void);
long memtable_fault_live(void);

#define TRACKED 65536

static long countdown = -1;
static int tracking;
static void *tracked[TRACKED];
static long ntracked, live;
static uintptr_t text_start, text_end;

/* The main program's executable segment: the first object listed. */
static int find_text(struct dl_phdr_info *info, size_t size, void *arg)
{
	int i;

	(void)size;
	(void)arg;
	for (i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
			text_start = info->dlpi_addr + ph->p_vaddr;
			text_end = text_start + ph->p_memsz;
		}
	}
	return 1;
}

void memtable_fault_arm(long n)
{
	if (!text_end)
		dl_iterate_phdr(find_text, NULL);
	countdown = n;
	tracking = 1;
	ntracked = 0;
	live = 0;
}

void memtable_fault_disarm(void)
{
	countdown = -1;
	tracking = 0;
}

long memtable_fault_live(void)
{
	return live;
}

void *calloc(size_t nmemb, size_t size)
{
	uintptr_t caller = (uintptr_t)__builtin_return_address(0);
	void *p;

	if (!tracking || caller < text_start || caller >= text_end)
		return __libc_calloc(nmemb, size);
	if (countdown >= 0 && countdown-- == 0) {
		errno = ENOMEM;
		return NULL;
	}
	p = __libc_calloc(nmemb, size);
	if (p) {
		/* More than TRACKED in one window: count it live forever. */
		if (ntracked < TRACKED)
			tracked[ntracked++] = p;
		live++;
	}
	return p;
}

void free(void *p)
{
	long i;

	if (p && tracking && live) {
		for (i = ntracked - 1; i >= 0; i--) {
			if (tracked[i] == p) {
				tracked[i] = tracked[--ntracked];
				live--;
				break;
			}
		}
	}
	__libc_free(p);
}
