// SPDX-License-Identifier: GPL-2.0-only
/* PAGEMAP_SCAN, memfd_create and the collector of memtable scan. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "procfs.h"

/* <linux/fs.h> of Linux 6.7 (Debian 12's headers predate it). */
struct pm_scan_arg {
	uint64_t size;
	uint64_t flags;
	uint64_t start;
	uint64_t end;
	uint64_t walk_end;
	uint64_t vec;
	uint64_t vec_len;
	uint64_t max_pages;
	uint64_t category_inverted;
	uint64_t category_mask;
	uint64_t category_anyof_mask;
	uint64_t return_mask;
};

#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#define PAGE_IS_PRESENT (1 << 3)
#define PAGE_IS_SWAPPED (1 << 4)

long procfs_present_regions(int fd, uint64_t start, uint64_t end, struct procfs_region *out,
			    size_t n, uint64_t *walk_end)
{
	struct pm_scan_arg arg = {
		.size = sizeof(arg),
		.start = start,
		.end = end,
		.vec = (uint64_t)(uintptr_t)out,
		.vec_len = n,
		.category_anyof_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
		.return_mask = PAGE_IS_PRESENT | PAGE_IS_SWAPPED,
	};
	long r = ioctl(fd, PAGEMAP_SCAN, &arg);

	if (r < 0)
		return -errno;
	*walk_end = arg.walk_end;
	return r;
}

int procfs_memfd(const char *name)
{
	return (int)syscall(SYS_memfd_create, name, 0);
}

/* ------------------------------------------------------------ collector --- */

#define PM_PRESENT	(1ULL << 63)
#define PM_SWAPPED	(1ULL << 62)
#define PM_FILE		(1ULL << 61)	/* a file page or shared anonymous memory */
#define PM_EXCLUSIVE	(1ULL << 56)	/* mapped by this mapping only */
#define PM_PFN		((1ULL << 55) - 1)

#define BUFFER_PAGES	8192		/* 64 KiB of pagemap a read: 32 MiB of addresses */
#define RUN_PAGES	512		/* the most pages a run holds: 9 bits */
#define PAGE_LIMIT	(1ULL << 52)	/* pages a key can name (keys are page << 12) */
#define HELPER_PAGES	(4 * BUFFER_PAGES)	/* a mapping this large is read by two threads */
#define SCRATCH_KEPT	(128 << 10)	/* procfs_sort() keeps a smaller second buffer (malloc()'s own) */

/* A run's first page (its key's page number); procfs.h has the rest of it. */
#define run_page(key)	((key) >> 12)

static void helper_free(struct procfs_helper *h);

struct procfs_collector *procfs_collector_new(void)
{
	struct procfs_collector *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->buffer = malloc(BUFFER_PAGES * sizeof(*c->buffer));
	if (!c->buffer) {
		procfs_collector_free(c);
		return NULL;
	}
	return c;
}

void procfs_collector_free(struct procfs_collector *c)
{
	if (!c)
		return;
	free(c->maps_text);
	free(c->mappings);
	free(c->runs);
	free(c->scratch);
	free(c->active);
	free(c->buffer);
	if (c->helper)
		helper_free(c->helper);
	free(c);
}

/* Grow *@p to hold at least @need items of @size bytes; 0 or -ENOMEM. */
static int grow(void *p, size_t *capacity, size_t need, size_t size)
{
	size_t n = *capacity ? *capacity : 64;
	void *q;

	if (need <= *capacity)
		return 0;
	while (n < need)
		n *= 2;
	q = realloc(*(void **)p, n * size);
	if (!q)
		return -ENOMEM;
	*(void **)p = q;
	*capacity = n;
	return 0;
}

static uint64_t parse_hex(const char **s, const char *end)
{
	uint64_t v = 0;

	for (; *s < end; (*s)++) {
		unsigned char ch = (unsigned char)**s;
		unsigned int d;

		if (ch >= '0' && ch <= '9')
			d = ch - '0';
		else if (ch >= 'a' && ch <= 'f')
			d = ch - 'a' + 10;
		else
			break;
		v = v << 4 | d;
	}
	return v;
}

/* Skip the field at *@s and the blanks after it. */
static void skip_field(const char **s, const char *end)
{
	while (*s < end && **s != ' ')
		(*s)++;
	while (*s < end && **s == ' ')
		(*s)++;
}

/*
 * One line of maps: "start-end perms offset dev inode   path". A line that does not
 * parse is skipped, as the Swift parser did.
 */
static int parse_line(struct procfs_collector *c, const char *line, const char *end)
{
	const char *s = line, *perms;
	struct procfs_mapping m = { 0 };

	m.start = parse_hex(&s, end);
	if (s == line || s == end || *s != '-')
		return 0;
	s++;
	perms = s;
	m.end = parse_hex(&s, end);
	if (s == perms || s == end || *s != ' ')
		return 0;
	s++;
	perms = s;
	if (end - perms < 4 || (perms + 4 < end && perms[4] != ' '))
		return 0;
	m.permissions = (perms[0] == 'r' ? PROCFS_READ : 0) | (perms[1] == 'w' ? PROCFS_WRITE : 0) |
			(perms[2] == 'x' ? PROCFS_EXECUTE : 0);
	m.shared = perms[3] == 's';
	skip_field(&s, end);	/* perms */
	skip_field(&s, end);	/* offset */
	skip_field(&s, end);	/* dev */
	skip_field(&s, end);	/* inode */
	m.path_offset = (uint32_t)(s - c->maps_text);
	m.path_length = (uint32_t)(end - s);
	m.vsyscall = m.path_length == 10 && !memcmp(s, "[vsyscall]", 10);
	if (grow(&c->mappings, &c->mappings_capacity, c->nr_mappings + 1, sizeof(m)))
		return -ENOMEM;
	c->mappings[c->nr_mappings++] = m;
	return 0;
}

long procfs_read_maps(struct procfs_collector *c, int pid)
{
	char path[64];
	const char *line, *end;
	int fd, err = 0;

	c->maps_length = 0;
	c->nr_mappings = 0;
	c->ahead_n = 0;
	c->nr_runs = 0;
	c->nr_active = 0;
	c->next_run = 0;
	c->present = c->swapped = c->hidden = 0;
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t got;

		if (grow(&c->maps_text, &c->maps_capacity, c->maps_length + 65536, 1)) {
			err = -ENOMEM;
			break;
		}
		got = read(fd, c->maps_text + c->maps_length, c->maps_capacity - c->maps_length);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			err = -errno;
		if (got <= 0)
			break;
		c->maps_length += (size_t)got;
	}
	close(fd);
	if (err)
		return err;
	end = c->maps_text + c->maps_length;
	for (line = c->maps_text; line < end;) {
		const char *eol = memchr(line, '\n', (size_t)(end - line));

		if (!eol)
			eol = end;
		if (parse_line(c, line, eol))
			return -ENOMEM;
		line = eol + 1;
	}
	return (long)c->nr_mappings;
}

/* The run under way in procfs_collect(). */
struct run {
	uint64_t page, next;
	uint32_t pages, permissions;
};

/*
 * What one thread of procfs_collect() reads into: a pagemap buffer, runs, counts. The
 * calling thread's part is the collector's own fields; the helper thread has one of
 * its own, added to the collector's when the mapping is done.
 */
struct part {
	uint64_t *buffer;
	struct procfs_region region;
	uint64_t *runs;
	size_t nr_runs, capacity;
	uint64_t present, swapped, hidden;
};

/*
 * A mapping being read: its pages are handed out a buffer at a time (@next, atomic) to
 * whichever thread asks, until they run out or a thread fails (@error, atomic: the
 * first error).
 */
struct job {
	int fd;
	const struct procfs_mapping *m;
	unsigned int flags;
	uint64_t base;
	uint64_t next;
	int error;
	int *cannot_scan;
};

/* The second thread: it reads pagemaps beside the caller, a buffer at a time. */
enum { HELPER_IDLE, HELPER_WORK, HELPER_DONE, HELPER_EXIT };

struct procfs_helper {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake, done;
	int state;
	struct job *job;
	struct part part;
	cpu_set_t allowed;	/* the CPUs this process may run on */
	int away_from;		/* the caller's CPU when the helper was last placed */
};

/*
 * Keep the helper off the CPU the caller runs on: both read at once only on two
 * CPUs. Left to itself, the scheduler now and then starts or wakes the helper on
 * the caller's CPU and leaves it there for milliseconds, while the caller waits
 * for it (a 1 GiB process: 4 ms of 10). Checked at each job, as the caller may
 * have moved; where it cannot be placed, the scheduler places it.
 */
static void place_helper(struct procfs_helper *h)
{
	cpu_set_t others = h->allowed;
	int cpu = sched_getcpu();

	if (cpu < 0 || cpu == h->away_from || !CPU_ISSET(cpu, &others))
		return;
	CPU_CLR(cpu, &others);
	if (!pthread_setaffinity_np(h->thread, sizeof(others), &others))
		h->away_from = cpu;
}

static int flush_run(struct part *p, struct run *r)
{
	if (!r->pages)
		return 0;
	if (grow(&p->runs, &p->capacity, p->nr_runs + 1, sizeof(*p->runs)))
		return -ENOMEM;
	p->runs[p->nr_runs++] = r->page << 12 | (uint64_t)(r->pages - 1) << 3 | r->permissions;
	r->pages = 0;
	return 0;
}

/*
 * The entries of @n pages from @va in @p's buffer: present pages into runs. Returns
 * whether any page was present or swapped, or -ENOMEM.
 *
 * The run and the counts live in locals while the loop goes: as fields behind pointers
 * they might alias the buffer's entries (all uint64_t), and would be loaded and stored
 * again for every entry. What made the loop cheap is the inner one for huge pages.
 */
static int add_entries(struct part *p, const struct job *j, uint64_t va, size_t n, struct run *r)
{
	const uint64_t *entries = p->buffer;
	const uint32_t declared = j->m->permissions;
	/* A private writable mapping: write counts where a write lands in the frame. */
	const int check_write = (declared & PROCFS_WRITE) && !j->m->shared && !(j->flags & PROCFS_DECLARED);
	const int virtual = j->flags & PROCFS_VIRTUAL;
	const uint64_t base = j->base;
	uint64_t present = 0, swapped = 0, hidden = 0;
	struct run run = *r;
	int ret = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t e = entries[i], page;
		uint32_t perms = declared;

		if (!(e & PM_PRESENT)) {
			swapped += (e & PM_SWAPPED) != 0;
			continue;
		}
		present++;
		if (virtual) {
			page = (base | (va + (i << 12))) >> 12;
		} else {
			page = e & PM_PFN;
			if (!page || page >= PAGE_LIMIT) {
				hidden++;
				continue;
			}
		}
		if (check_write && !((e & PM_EXCLUSIVE) && !(e & PM_FILE)))
			perms &= ~PROCFS_WRITE;
		if (page == run.next && perms == run.permissions && run.pages < RUN_PAGES) {
			run.pages++;
			run.next++;
		} else {
			if (flush_run(p, &run)) {
				ret = -ENOMEM;
				break;
			}
			run.page = page;
			run.next = page + 1;
			run.pages = 1;
			run.permissions = perms;
		}
		/*
		 * The entries that follow with the next frames and the same flags (a huge
		 * page's 512) extend the run as they are: one compare each.
		 */
		if (!virtual && page + RUN_PAGES < PAGE_LIMIT) {
			size_t k = i + 1, stop = k + (RUN_PAGES - run.pages < n - k ? RUN_PAGES - run.pages : n - k);
			uint64_t want = e + 1;

			/* Eight at a time while all eight follow (a huge page's do). */
			while (k + 8 <= stop &&
			       !((entries[k] ^ want) | (entries[k + 1] ^ (want + 1)) |
				 (entries[k + 2] ^ (want + 2)) | (entries[k + 3] ^ (want + 3)) |
				 (entries[k + 4] ^ (want + 4)) | (entries[k + 5] ^ (want + 5)) |
				 (entries[k + 6] ^ (want + 6)) | (entries[k + 7] ^ (want + 7)))) {
				want += 8;
				k += 8;
			}
			while (k < stop && entries[k] == want) {
				want++;
				k++;
			}
			present += k - (i + 1);
			run.pages += (uint32_t)(k - (i + 1));
			run.next += k - (i + 1);
			i = k - 1;
		}
	}
	*r = run;
	p->present += present;
	p->swapped += swapped;
	p->hidden += hidden;
	return ret ? ret : present + swapped > 0;
}

/*
 * After a hole of a whole buffer ending at @from, with more than a buffer to go: let
 * PAGEMAP_SCAN find the next page present or swapped and hand out pages from there, so
 * that a sparse reservation of terabytes costs a walk of its page tables, not a read
 * of its whole pagemap.
 */
static void skip_hole(struct job *j, struct part *p, uint64_t from)
{
	uint64_t walk_end = 0, to, next;
	long k = procfs_present_regions(j->fd, from, j->m->end, &p->region, 1, &walk_end);

	if (k == -ENOTTY || k == -EINVAL || k == -EOPNOTSUPP) {
		__atomic_store_n(j->cannot_scan, 1, __ATOMIC_RELAXED);
		return;
	}
	if (k < 0)
		return;		/* the reads say what went wrong */
	to = k > 0 ? p->region.start & ~4095ULL : walk_end;
	next = __atomic_load_n(&j->next, __ATOMIC_RELAXED);
	while (next < to && !__atomic_compare_exchange_n(&j->next, &next, to, 0, __ATOMIC_RELAXED,
							 __ATOMIC_RELAXED))
		;
}

/*
 * Read buffers of the job's pages until they run out or a thread fails, or (@chunks
 * not 0) after that many.
 */
static void read_pages(struct job *j, struct part *p, unsigned int chunks)
{
	const uint64_t end = j->m->end, chunk = (uint64_t)BUFFER_PAGES << 12;

	for (unsigned int done = 0; !chunks || done < chunks; done++) {
		uint64_t va = __atomic_fetch_add(&j->next, chunk, __ATOMIC_RELAXED), stop;
		struct run r = { 0 };
		int any = 0, err = 0, zero = 0;

		if (va >= end || __atomic_load_n(&j->error, __ATOMIC_RELAXED))
			return;
		stop = end - va > chunk ? va + chunk : end;
		while (va < stop && !err) {
			size_t n = (stop - va) >> 12;
			ssize_t got = pread(j->fd, p->buffer, n * 8, (off_t)((va >> 12) * 8));

			if (got < 0 && errno == EINTR)
				continue;
			if (got < 0) {
				err = -errno;
			} else if (got < 8) {
				/* The pagemap covers the whole address space: nothing to read
				 * inside a mapping means the process's memory is gone. */
				err = -ESRCH;
			} else {
				int added;

				n = (size_t)got / 8;
				added = add_entries(p, j, va, n, &r);
				if (added < 0)
					err = added;
				any |= added > 0;
				va += (uint64_t)n << 12;
			}
		}
		if (!err)
			err = flush_run(p, &r);
		if (err) {
			__atomic_compare_exchange_n(&j->error, &zero, err, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
			__atomic_store_n(&j->next, end, __ATOMIC_RELAXED);
			return;
		}
		if (!any && (end - stop) >> 12 > BUFFER_PAGES && !__atomic_load_n(j->cannot_scan, __ATOMIC_RELAXED))
			skip_hole(j, p, stop);
	}
}

static void *helper_main(void *arg)
{
	struct procfs_helper *h = arg;

	pthread_mutex_lock(&h->lock);
	for (;;) {
		while (h->state == HELPER_IDLE || h->state == HELPER_DONE)
			pthread_cond_wait(&h->wake, &h->lock);
		if (h->state == HELPER_EXIT)
			break;
		pthread_mutex_unlock(&h->lock);
		read_pages(h->job, &h->part, 0);
		pthread_mutex_lock(&h->lock);
		h->state = HELPER_DONE;
		pthread_cond_signal(&h->done);
	}
	pthread_mutex_unlock(&h->lock);
	return NULL;
}

/* The helper thread, started the first time a large mapping comes; NULL if it cannot be. */
static struct procfs_helper *helper(struct procfs_collector *c)
{
	struct procfs_helper *h;
	sigset_t all, old;
	int err;

	if (c->helper || c->no_helper)
		return c->helper;
	c->no_helper = 1;
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	/* On one CPU, a second thread would only take turns with the first. */
	if (sched_getaffinity(0, sizeof(h->allowed), &h->allowed) || CPU_COUNT(&h->allowed) < 2) {
		free(h);
		return NULL;
	}
	h->away_from = -1;
	h->part.buffer = malloc(BUFFER_PAGES * sizeof(*h->part.buffer));
	if (!h->part.buffer) {
		free(h);
		return NULL;
	}
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->wake, NULL);
	pthread_cond_init(&h->done, NULL);
	/* Signals are the main thread's (memtable watch's Ctrl-C). */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&h->thread, NULL, helper_main, h);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		pthread_mutex_destroy(&h->lock);
		pthread_cond_destroy(&h->wake);
		pthread_cond_destroy(&h->done);
		free(h->part.buffer);
		free(h);
		return NULL;
	}
	c->helper = h;
	return h;
}

static void helper_free(struct procfs_helper *h)
{
	pthread_mutex_lock(&h->lock);
	h->state = HELPER_EXIT;
	pthread_cond_signal(&h->wake);
	pthread_mutex_unlock(&h->lock);
	pthread_join(h->thread, NULL);
	pthread_mutex_destroy(&h->lock);
	pthread_cond_destroy(&h->wake);
	pthread_cond_destroy(&h->done);
	free(h->part.buffer);
	free(h->part.runs);
	free(h);
}

/*
 * The pages of a mapping of one buffer or less, @j's: its entries, with those of the
 * mappings right after it without a hole between them, as many as the buffer holds, in
 * one read. A process's libraries and their data are dozens of mappings side by side
 * (a whole machine here: 286 mappings in 23 such stretches), and each read of the
 * pagemap is a system call and a walk set up, whatever its length. What the read
 * brought along waits in c->buffer for the calls of those mappings.
 */
static void read_small(struct procfs_collector *c, struct job *j, struct part *p)
{
	const struct procfs_mapping *m = j->m, *last = c->mappings + c->nr_mappings;
	size_t n = (m->end - m->start) >> 12, want = n;
	struct run r = { 0 };
	int err;

	if (c->ahead_n < n || c->ahead_va != m->start || c->ahead_fd != j->fd) {
		ssize_t got;

		c->ahead_n = 0;
		if (m >= c->mappings && m < last) {
			for (const struct procfs_mapping *next = m + 1; next < last && next->start == next[-1].end &&
			     !next->vsyscall && want + ((next->end - next->start) >> 12) <= BUFFER_PAGES; next++)
				want += (next->end - next->start) >> 12;
		}
		do
			got = pread(j->fd, c->buffer, want * 8, (off_t)((m->start >> 12) * 8));
		while (got < 0 && errno == EINTR);
		if (got < (ssize_t)(n * 8)) {
			/* Gone, or short: the general loop reads it and says which. */
			read_pages(j, p, 0);
			return;
		}
		c->ahead_va = m->start;
		c->ahead_at = 0;
		c->ahead_n = (size_t)got / 8;
		c->ahead_fd = j->fd;
	}
	p->buffer = c->buffer + c->ahead_at;
	err = add_entries(p, j, m->start, n, &r);
	if (err >= 0)
		err = flush_run(p, &r);
	if (err < 0)
		j->error = err;
	c->ahead_at += n;
	c->ahead_n -= n;
	c->ahead_va = m->end;
}

int procfs_collect(struct procfs_collector *c, int fd, const struct procfs_mapping *m,
		   unsigned int flags, uint64_t base)
{
	struct job j = {
		.fd = fd, .m = m, .flags = flags, .base = base, .next = m->start,
		.cannot_scan = &c->cannot_scan,
	};
	struct part p = {
		.buffer = c->buffer, .runs = c->runs, .nr_runs = c->nr_runs, .capacity = c->runs_capacity,
	};
	struct procfs_helper *h = NULL;

	if ((m->end - m->start) >> 12 <= BUFFER_PAGES) {
		read_small(c, &j, &p);
		goto out;
	}
	c->ahead_n = 0;
	/*
	 * A mapping of several buffers is read by two threads: the kernel's walk of the
	 * page tables is most of a scan's time, and this machine has cores for it. Not
	 * one of huge pages (its first buffer's pages in runs of 256 and more): the
	 * kernel hands out 512 entries a step there, and two threads only take turns
	 * at the lock of the page table above them.
	 */
	if ((m->end - m->start) >> 12 >= HELPER_PAGES) {
		size_t runs = p.nr_runs;
		uint64_t present = p.present;

		read_pages(&j, &p, 1);
		if (!j.error && (p.present - present) < 256 * (p.nr_runs - runs + 1))
			h = helper(c);
	}
	if (h) {
		place_helper(h);
		pthread_mutex_lock(&h->lock);
		h->job = &j;
		h->part.nr_runs = 0;
		h->part.present = h->part.swapped = h->part.hidden = 0;
		h->state = HELPER_WORK;
		pthread_cond_signal(&h->wake);
		pthread_mutex_unlock(&h->lock);
	}
	read_pages(&j, &p, 0);
	if (h) {
		pthread_mutex_lock(&h->lock);
		while (h->state != HELPER_DONE)
			pthread_cond_wait(&h->done, &h->lock);
		h->state = HELPER_IDLE;
		pthread_mutex_unlock(&h->lock);
		if (grow(&p.runs, &p.capacity, p.nr_runs + h->part.nr_runs, sizeof(*p.runs))) {
			j.error = j.error ? j.error : -ENOMEM;
		} else {
			memcpy(p.runs + p.nr_runs, h->part.runs, h->part.nr_runs * sizeof(*p.runs));
			p.nr_runs += h->part.nr_runs;
		}
		p.present += h->part.present;
		p.swapped += h->part.swapped;
		p.hidden += h->part.hidden;
	}
out:
	c->runs = p.runs;
	c->nr_runs = p.nr_runs;
	c->runs_capacity = p.capacity;
	c->present += p.present;
	c->swapped += p.swapped;
	c->hidden += p.hidden;
	return j.error;
}

/* Sort the runs by page: least significant digit first, 8 bits a pass, only over the
 * bits that differ. */
int procfs_sort(struct procfs_collector *c)
{
	size_t n = c->nr_runs, i;
	uint64_t differ = 0, *from = c->runs, *to;
	int sorted = 1;

	c->next_run = 0;
	c->nr_active = 0;
	for (i = 1; i < n; i++) {
		differ |= run_page(c->runs[i]) ^ run_page(c->runs[0]);
		sorted &= run_page(c->runs[i - 1]) <= run_page(c->runs[i]);
	}
	if (sorted)
		return 0;
	if (c->scratch_capacity < n) {
		free(c->scratch);
		c->scratch = malloc(c->runs_capacity * sizeof(*c->scratch));
		c->scratch_capacity = c->scratch ? c->runs_capacity : 0;
		if (!c->scratch)
			return -ENOMEM;
	}
	to = c->scratch;
	for (unsigned int shift = 12; shift < 64 && (differ >> (shift - 12)); shift += 8) {
		size_t count[256] = { 0 }, at = 0;
		uint64_t *t;

		if (!((differ >> (shift - 12)) & 0xff))
			continue;
		for (i = 0; i < n; i++)
			count[(from[i] >> shift) & 0xff]++;
		for (unsigned int d = 0; d < 256; d++) {
			size_t k = count[d];

			count[d] = at;
			at += k;
		}
		for (i = 0; i < n; i++)
			to[count[(from[i] >> shift) & 0xff]++] = from[i];
		t = from;
		from = to;
		to = t;
	}
	if (from != c->runs) {
		size_t capacity = c->scratch_capacity;

		c->scratch = c->runs;
		c->scratch_capacity = c->runs_capacity;
		c->runs = from;
		c->runs_capacity = capacity;
	}
	/* A large second buffer goes back now: the table about to grow from the runs
	 * needs the memory more (a scan's peak RSS is the table and the runs). */
	if (c->scratch_capacity * sizeof(*c->scratch) >= SCRATCH_KEPT) {
		free(c->scratch);
		c->scratch = NULL;
		c->scratch_capacity = 0;
	}
	return 0;
}

long procfs_segments(struct procfs_collector *c, struct procfs_segment *out, size_t n)
{
	size_t k = 0;

	while (k < n) {
		uint64_t next = UINT64_MAX;
		uint32_t r = 0, w = 0, x = 0;
		size_t i;

		if (!c->nr_active) {
			if (c->next_run == c->nr_runs)
				break;
			c->position = run_page(c->runs[c->next_run]);
		}
		/* The runs that start here join those that cover it. */
		while (c->next_run < c->nr_runs && run_page(c->runs[c->next_run]) == c->position) {
			uint64_t key = c->runs[c->next_run];

			if (grow(&c->active, &c->active_capacity, c->nr_active + 1, sizeof(*c->active)))
				return k ? (long)k : -ENOMEM;
			c->active[c->nr_active].end = c->position + procfs_run_pages(key);
			c->active[c->nr_active].permissions = procfs_run_permissions(key);
			c->nr_active++;
			c->next_run++;
		}
		/* A segment ends where a run covering it ends or another starts. */
		for (i = 0; i < c->nr_active; i++) {
			uint32_t p = c->active[i].permissions;

			if (c->active[i].end < next)
				next = c->active[i].end;
			r += p & PROCFS_READ ? 1 : 0;
			w += p & PROCFS_WRITE ? 1 : 0;
			x += p & PROCFS_EXECUTE ? 1 : 0;
		}
		if (c->next_run < c->nr_runs && run_page(c->runs[c->next_run]) < next)
			next = run_page(c->runs[c->next_run]);
		out[k].start = c->position << 12;
		out[k].pages = next - c->position;
		out[k].r = r > UINT16_MAX ? UINT16_MAX : (uint16_t)r;
		out[k].w = w > UINT16_MAX ? UINT16_MAX : (uint16_t)w;
		out[k].x = x > UINT16_MAX ? UINT16_MAX : (uint16_t)x;
		k++;
		c->position = next;
		for (i = 0; i < c->nr_active;) {
			if (c->active[i].end == next)
				c->active[i] = c->active[--c->nr_active];
			else
				i++;
		}
	}
	return (long)k;
}
