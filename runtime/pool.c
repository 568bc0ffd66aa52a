/* pool.c: block buffers, and the runtime's memory accounting.
 *
 * A task graph's intermediate tensors and partial blocks live only from
 * their first writer to their last reader (sched.c frees them then), and
 * a program run with --repeat, or a library function called in a loop,
 * asks for the same sizes over and over. So block memory comes from a
 * pool: sizes are rounded up to a class (four per power of two, so at
 * most a quarter is wasted), and a freed buffer goes on its class's free
 * list, from which the next request of that class is served without
 * touching malloc, and without the page faults of fresh memory, which
 * for large blocks cost more than the kernel writing them. Freed buffers
 * stay in the pool until trart_shutdown (trart_pool_trim): what it holds
 * is bounded by the most of each class that was live at once.
 *
 * Each buffer has a 64-byte header in front of it (which keeps the
 * buffer itself 64-byte aligned) holding its class and the worker whose
 * task allocated it, so that a buffer freed by another worker is taken
 * off the right worker's count. The counts: the bytes live now and at
 * most, over the whole process (the command line's own tensors are
 * counted too, through trart_mem_account) and per worker of
 * trart_run_tasks (only buffers its tasks allocated), for --stats. A
 * worker's peak is written only by the thread that is that worker, and
 * runs are separated by thread creation and joining, so plain stores
 * suffice there; the live counts are atomics.
 *
 * Running out of memory mid-run ends the program with one line naming
 * it and what was being allocated,
 *
 *   prog: error: out of memory allocating 1.2 GB for a block of tensor H
 *
 * (trart_out_of_memory): the program's name comes from trart_main, the
 * tensor from the task or kernel the calling thread is running
 * (trart_mem_set_tensor, a thread-local set by sched.c and exec.c).
 * Other errors that strike mid-run (the spill file's, spill.c) end the
 * program the same way, through trart_fatal. Outputs written out of core
 * are staged files that exist during the run (files.c): a hook the
 * staging sets (trart_set_fatal_hook) removes them before the exit.
 * Sizes in messages are in powers of 1000 (trart_size_text).
 */
#define _DEFAULT_SOURCE /* madvise */
#define _POSIX_C_SOURCE 200809L

#include "exec.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define POOL_ALIGN 64      /* a cache line, what AVX-512 loads like */
#define POOL_MIN 64        /* the smallest class */
#define POOL_CLASSES 240   /* classes up to 2^63 bytes, four per octave */

/* What sits in front of every buffer (padded to POOL_ALIGN). */
typedef union PoolHead {
	struct {
		union PoolHead *next; /* on a free list: the next buffer */
		int cls;              /* its class */
		int owner;            /* the worker that allocated it, or -1 */
	} h;
	char pad[POOL_ALIGN];
} PoolHead;

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER; /* the lists */
static PoolHead *pool_free_list[POOL_CLASSES];

static const char *pool_progname;  /* messages' prefix (trart_set_progname) */
static void (*_Atomic pool_fatal_hook)(void); /* trart_set_fatal_hook's */
static _Thread_local const char *pool_tensor; /* what this thread computes */

static atomic_llong pool_live;  /* bytes live, the whole process */
static atomic_llong pool_peak;  /* ... and at most */
static atomic_llong pool_wlive[TRART_MAX_THREADS]; /* per worker */
static int64_t pool_wpeak[TRART_MAX_THREADS];

/* The class of a request of n bytes and that class's size. Above
 * POOL_MIN, n in (2^e, 2^(e+1)] is rounded up to a multiple of 2^(e-2). */
static size_t
pool_class(size_t n, int *cls)
{
	int e;
	size_t q;

	if (n <= POOL_MIN) {
		*cls = 0;
		return POOL_MIN;
	}
	e = 63 - __builtin_clzll((unsigned long long)(n - 1));
	q = (n - 1) >> (e - 2); /* 4 .. 7 */
	*cls = (e - 6) * 4 + (int)(q - 4) + 1;
	return (q + 1) << (e - 2);
}

/* The size of class cls (pool_class's inverse). */
static size_t
pool_class_size(int cls)
{
	int e;

	if (cls == 0)
		return POOL_MIN;
	e = (cls - 1) / 4 + 6;
	return ((size_t)(cls - 1) % 4 + 5) << (e - 2);
}

void *
trart_memalign(size_t align, size_t size)
{
	void *p;

	if (posix_memalign(&p, align, size) != 0)
		return NULL;
#ifdef MADV_HUGEPAGE
	if (align == TRART_HUGE_PAGE)
		(void)madvise(p, size, MADV_HUGEPAGE); /* advice: may be refused */
#endif
	return p;
}

/* ---- accounting ---- */

static void
pool_raise(atomic_llong *peak, long long now)
{
	long long old = atomic_load(peak);

	while (now > old && !atomic_compare_exchange_weak(peak, &old, now))
		;
}

void
trart_mem_account(double bytes)
{
	pool_raise(&pool_peak, atomic_fetch_add(&pool_live, (long long)bytes) +
	                       (long long)bytes);
}

double
trart_mem_live(void)
{
	return (double)atomic_load(&pool_live);
}

double
trart_mem_peak(void)
{
	return (double)atomic_load(&pool_peak);
}

double
trart_mem_worker_peak(int w)
{
	return w >= 0 && w < TRART_MAX_THREADS ? (double)pool_wpeak[w] : 0;
}

/* Counts a buffer of `size` bytes as allocated by worker w (or none). */
static void
pool_count(int w, long long size)
{
	trart_mem_account((double)size);
	if (w >= 0 && w < TRART_MAX_THREADS) {
		long long now = atomic_fetch_add(&pool_wlive[w], size) + size;
		if (now > pool_wpeak[w])
			pool_wpeak[w] = now;
	}
}

/* Counts it as freed. */
static void
pool_uncount(int w, long long size)
{
	atomic_fetch_sub(&pool_live, size);
	if (w >= 0 && w < TRART_MAX_THREADS)
		atomic_fetch_sub(&pool_wlive[w], size);
}

/* ---- running out ---- */

void
trart_set_progname(const char *name)
{
	pool_progname = name;
}

void
trart_set_fatal_hook(void (*hook)(void))
{
	atomic_store(&pool_fatal_hook, hook);
}

void
trart_mem_set_tensor(const char *tensor)
{
	pool_tensor = tensor;
}

const char *
trart_mem_tensor(void)
{
	return pool_tensor;
}

const char *
trart_size_text(char *buf, size_t size, double bytes)
{
	static const char *const units[] = {"KB", "MB", "GB", "TB", "PB", "EB"};
	int u = -1;

	if (bytes < 1000) {
		snprintf(buf, size, "%.0f bytes", bytes);
		return buf;
	}
	for (; bytes >= 999.95 && u < 5; u++)
		bytes /= 1000;
	snprintf(buf, size, "%.1f %s", bytes, units[u]);
	return buf;
}

/* Ends the program after its message is out: status 1. */
static _Noreturn void
pool_exit(void)
{
	void (*hook)(void) = atomic_load(&pool_fatal_hook);

	if (hook)
		hook();
	fflush(NULL);
	/* _exit, not exit: other workers may be mid-task, and OpenBLAS's
	 * exit handler joins its threads, which can wait forever for one
	 * that is itself failing to allocate. No file is half written: a
	 * run's files are written after the computation. */
	_exit(1);
}

void
trart_out_of_memory(double bytes, const char *fmt, ...)
{
	char size[32];
	va_list ap;

	fprintf(stderr, "%s: error: out of memory allocating %s for ",
	        pool_progname ? pool_progname : "trart",
	        trart_size_text(size, sizeof size, bytes));
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	putc('\n', stderr);
	pool_exit();
}

void
trart_fatal(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: error: ", pool_progname ? pool_progname : "trart");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	putc('\n', stderr);
	pool_exit();
}

void trart_gather_fail(const char *index, int rank, const int64_t *shape, int64_t position,
                       int64_t value, const char *table, int dim, int64_t size)
{
	int64_t at[TRART_MAX_RANK];
	for (int d = rank - 1; d >= 0; d--) {
		at[d] = shape[d] ? position % shape[d] : 0;
		position = shape[d] ? position / shape[d] : 0;
	}
	fprintf(stderr, "%s: error: %s", pool_progname ? pool_progname : "trart", index);
	for (int d = 0; d < rank; d++)
		fprintf(stderr, "%s%lld", d ? ", " : "[", (long long)at[d]);
	fprintf(stderr, "%s is %lld, outside dimension %d of %s (0..%lld)\n", rank ? "]" : "",
	        (long long)value, dim + 1, table, (long long)size - 1);
	pool_exit(); /* as trart_out_of_memory: no output is half written */
}

/* ---- the pool ---- */

void *
trart_pool_try(size_t bytes)
{
	int cls;
	size_t size = pool_class(bytes, &cls);
	PoolHead *head;
	void *p;

	if (size < bytes || size > SIZE_MAX - POOL_ALIGN)
		return NULL;
	pthread_mutex_lock(&pool_lock);
	head = pool_free_list[cls];
	if (head)
		pool_free_list[cls] = head->h.next;
	pthread_mutex_unlock(&pool_lock);
	if (!head) {
		if (posix_memalign(&p, POOL_ALIGN, POOL_ALIGN + size) != 0)
			return NULL;
		head = p;
		head->h.cls = cls;
	}
	head->h.next = NULL;
	head->h.owner = trart_worker_id();
	pool_count(head->h.owner, (long long)size);
	return head + 1;
}

void *
trart_pool_alloc(size_t bytes)
{
	void *p = trart_pool_try(bytes);

	if (!p && pool_tensor)
		trart_out_of_memory((double)bytes, "a block of tensor %s",
		                    pool_tensor);
	if (!p)
		trart_out_of_memory((double)bytes, "a block");
	return p;
}

void
trart_pool_free(void *p)
{
	PoolHead *head;

	if (!p)
		return;
	head = (PoolHead *)p - 1;
	pool_uncount(head->h.owner, (long long)pool_class_size(head->h.cls));
	pthread_mutex_lock(&pool_lock);
	head->h.next = pool_free_list[head->h.cls];
	pool_free_list[head->h.cls] = head;
	pthread_mutex_unlock(&pool_lock);
}

void
trart_pool_trim(void)
{
	int c;

	pthread_mutex_lock(&pool_lock);
	for (c = 0; c < POOL_CLASSES; c++)
		while (pool_free_list[c]) {
			PoolHead *next = pool_free_list[c]->h.next;
			free(pool_free_list[c]);
			pool_free_list[c] = next;
		}
	pthread_mutex_unlock(&pool_lock);
}
