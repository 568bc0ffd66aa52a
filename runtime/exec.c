/* exec.c: running a program's kernels, and the worker threads they share.
 *
 * A generated program is a list of kernels run in order; the parallelism
 * is inside them. A kernel splits its outer loop with trart_parallel_for,
 * which cuts [0, n) into at most `threads` contiguous chunks of nearly
 * equal size (a static split: the chunks of one loop cost about the same,
 * and a fixed split makes every run touch memory the same way). The
 * calling thread runs chunk 0 itself and waits for the rest, so a loop
 * with T chunks needs only T - 1 helpers.
 *
 * Kernels call trart_parallel_for thousands of times a second, so the
 * helpers are a persistent pool rather than threads per call. It is made
 * lazily, by the first loop that has more than one chunk (a one-thread
 * run never starts a thread), and lives until the thread count changes
 * or trart_shutdown. Workers sleep on a condition variable between jobs
 * and do not spin: the runtime lives inside users' programs, and a
 * spinning pool would eat cores they need, or OpenBLAS needs, between
 * kernels. (The block task executor's workers, sched.c, do look for the
 * next run for a bounded 200 us, yielding the core at every look, as
 * OpenBLAS's threads do after a call: there a late worker costs a whole
 * run's half, measured in sched.c's opening comment.)
 *
 * One job at a time. A job is posted under the pool's lock by bumping
 * `job`; each worker remembers the last job it saw, so a spurious wakeup
 * or a broadcast for a job it has no chunk in costs nothing, and
 * `running` counts the workers still busy so the poster knows when the
 * loop is done. A second mutex, exec_owner, says who is posting: a call
 * that cannot take it (a nested loop inside a kernel's body, or another
 * thread of the user's program running a loop meanwhile) simply runs its
 * loop inline, which is correct and never deadlocks. The workers of
 * trart_run_tasks (sched.c) run every loop inline: there the tasks are
 * the parallelism, one per worker, and a loop that took this pool would
 * only queue the other workers' loops behind it.
 *
 * OpenBLAS has threads of its own. A whole-node program's kernels use
 * them, as many as trart_set_threads says, so --threads bounds both;
 * block tasks call OpenBLAS on one thread each (sched.c). Both set the
 * count only around their runs, through trart_exec_blas_threads, which
 * touches OpenBLAS only when the count changes: raising it starts the
 * missing threads, setting it at all restarts threads that were stopped
 * (OpenBLAS re-initialises lazily, as after a fork), and a new OpenBLAS
 * thread spins, yielding, for about 0.1 s before it sleeps. OpenBLAS
 * starts its threads when it loads, too, so a standalone program whose
 * kernels are block tasks stops them before its first run
 * (trart_exec_idle_blas, from cli.c): on 2 cores a spinning one took a
 * third of both workers' time, and W1's first run took 110-150 ms
 * against the 84 ms of later runs (perf: 26% of the samples in
 * sched_yield). A library caller's own OpenBLAS calls may be using
 * them, so the library leaves them alone.
 *
 * OpenBLAS also picks its kernels when it loads, from the CPU's family
 * and model, and on a CPU newer than the library it falls back to its
 * oldest, SSE3 kernels (its "Prescott"): Debian 12's OpenBLAS 0.3.21 on
 * an Emerald Rapids Xeon (model 207) ran sgemm on 2 cores at 39 GFLOP/s,
 * against 303 with its AVX-512 kernels. Only OPENBLAS_CORETYPE changes
 * the choice, and only before OpenBLAS loads: a variable set at run time
 * is too late, and one set from .preinit_array is lost, because libc
 * sets its environment after. So a standalone program that finds the
 * fallback on a CPU with AVX2 sets the variable from the CPU's features
 * and executes itself again, before anything else
 * (trart_exec_blas_kernels); a variable the user set is theirs. Not under
 * valgrind, whose default is to run an executed program outside itself.
 *
 * OpenBLAS's entry points are
 * declared here rather than through cblas.h so that no other file of
 * the runtime depends on OpenBLAS.
 */
#define _POSIX_C_SOURCE 200809L

#include "exec.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* libopenblas's: how many threads its own routines use. */
void openblas_set_num_threads(int);
int openblas_get_num_threads(void);
/* libopenblas's too, exported for its fork handler: stops its threads,
 * which its next threaded call starts again. Weak, so that a BLAS
 * without it links: then the call is skipped. */
extern int blas_thread_shutdown_(void) __attribute__((weak));
/* libopenblas's: the name of the kernels it chose (weak, as above). */
extern char *openblas_get_corename(void) __attribute__((weak));

/* A loop body, as trart_parallel_for takes it. */
typedef void (*ExecBody)(int64_t lo, int64_t hi, void *ctx);

/* The helper threads and the job they share. */
typedef struct ExecPool {
	pthread_t *workers;   /* nworkers threads, worker i running chunk
	                         i + 1 (these two: under exec_owner) */
	int nworkers;         /* started (0: no pool) */
	pthread_mutex_t lock; /* guards every field below */
	pthread_cond_t wake;  /* a job was posted, or stop was set */
	pthread_cond_t idle;  /* the last worker finished the current job */
	unsigned long job;    /* bumped for every job posted */
	int running;          /* workers that have not finished the job */
	int stop;             /* set to make every worker return */
	int64_t n;            /* the job: the range [0, n) ... */
	int nchunks;          /* ... cut into this many chunks ... */
	ExecBody body;        /* ... each handed to body ... */
	void *ctx;            /* ... with this context */
} ExecPool;

static ExecPool exec_pool = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.wake = PTHREAD_COND_INITIALIZER,
	.idle = PTHREAD_COND_INITIALIZER,
};

/* Held by whoever posts jobs or changes the pool; see the top. */
static pthread_mutex_t exec_owner = PTHREAD_MUTEX_INITIALIZER;

/* The thread count in effect; 0 until set. Atomic so that a kernel may
 * ask trart_threads while a loop holds exec_owner. */
static atomic_int exec_nthreads;

/* The online cores, asked once (sysconf reads /sys, too slow to repeat
 * on every trart_execute); 0 until then. */
static atomic_int exec_online;

/* The recorder attached by trart_exec_profile, or NULL. */
static TrartProfile *exec_prof;

/* Set on a thread whose loops must run inline (trart_exec_set_inline). */
static _Thread_local bool exec_inline;

/* ---- the pool ---- */

/* Runs chunk c of k of [0, n): the first n % k chunks get one extra
 * iteration. Written without n * c, which could overflow. */
static void
exec_chunk(int64_t n, int k, int c, ExecBody body, void *ctx)
{
	int64_t q = n / k, r = n % k;
	int64_t lo = c * q + (c < r ? c : r);

	body(lo, lo + q + (c < r), ctx);
}

/* A worker's share of the posted job: entered and left with the lock
 * held, dropped while the body runs. */
static void
exec_work(ExecPool *pool, int w)
{
	int64_t n = pool->n;
	int k = pool->nchunks;
	ExecBody body = pool->body;
	void *ctx = pool->ctx;

	pthread_mutex_unlock(&pool->lock);
	exec_chunk(n, k, w, body, ctx);
	pthread_mutex_lock(&pool->lock);
	if (--pool->running == 0)
		pthread_cond_signal(&pool->idle);
}

/* A worker: sleeps until a job it has not seen, takes its chunk if the
 * job has one for it, and returns when told to stop. */
static void *
exec_worker(void *arg)
{
	ExecPool *pool = &exec_pool;
	int w = (int)(intptr_t)arg;
	unsigned long seen = 0; /* the pool starts at job 0 */

	pthread_mutex_lock(&pool->lock);
	for (;;) {
		while (pool->job == seen && !pool->stop)
			pthread_cond_wait(&pool->wake, &pool->lock);
		if (pool->stop)
			break;
		seen = pool->job;
		if (w < pool->nchunks)
			exec_work(pool, w);
	}
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

/* Workers block the asynchronous signals, so the user's handlers keep
 * running on the user's threads; faults must stay deliverable. */
static void
exec_worker_sigmask(sigset_t *set)
{
	sigfillset(set);
	sigdelset(set, SIGSEGV);
	sigdelset(set, SIGBUS);
	sigdelset(set, SIGFPE);
	sigdelset(set, SIGILL);
	sigdelset(set, SIGTRAP);
	sigdelset(set, SIGABRT);
}

/* Starts up to want workers (exec_owner held, no pool). A thread that
 * cannot be created just makes the pool smaller: loops then use fewer
 * chunks, which is slower but not wrong. */
static void
exec_pool_start(int want)
{
	ExecPool *pool = &exec_pool;
	sigset_t block, old;
	int i;

	pool->workers = malloc((size_t)want * sizeof *pool->workers);
	if (!pool->workers)
		return;
	pthread_mutex_lock(&pool->lock);
	pool->job = 0;
	pool->stop = 0;
	pool->nchunks = 0;
	pthread_mutex_unlock(&pool->lock);
	exec_worker_sigmask(&block);
	pthread_sigmask(SIG_SETMASK, &block, &old);
	for (i = 0; i < want; i++)
		if (pthread_create(&pool->workers[i], NULL, exec_worker,
		                   (void *)(intptr_t)(i + 1)) != 0)
			break;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pool->nworkers = i;
	if (i == 0) {
		free(pool->workers);
		pool->workers = NULL;
	}
}

/* Stops and joins every worker (exec_owner held, no job running). */
static void
exec_pool_stop(void)
{
	ExecPool *pool = &exec_pool;
	int i;

	if (pool->nworkers == 0)
		return;
	pthread_mutex_lock(&pool->lock);
	pool->stop = 1;
	pthread_cond_broadcast(&pool->wake);
	pthread_mutex_unlock(&pool->lock);
	for (i = 0; i < pool->nworkers; i++)
		pthread_join(pool->workers[i], NULL);
	free(pool->workers);
	pool->workers = NULL;
	pool->nworkers = 0;
}

/* Posts a job of k chunks, runs chunk 0 here, and waits for the rest
 * (exec_owner held, k - 1 <= nworkers). */
static void
exec_pool_run(int64_t n, int k, ExecBody body, void *ctx)
{
	ExecPool *pool = &exec_pool;

	pthread_mutex_lock(&pool->lock);
	pool->n = n;
	pool->nchunks = k;
	pool->body = body;
	pool->ctx = ctx;
	pool->running = k - 1;
	pool->job++;
	pthread_cond_broadcast(&pool->wake);
	pthread_mutex_unlock(&pool->lock);
	exec_chunk(n, k, 0, body, ctx);
	pthread_mutex_lock(&pool->lock);
	while (pool->running > 0)
		pthread_cond_wait(&pool->idle, &pool->lock);
	pthread_mutex_unlock(&pool->lock);
}

/* ---- the public interface ---- */

/* The thread count a request means: 0 is every online core; anything is
 * clamped to [1, TRART_MAX_THREADS]. */
static int
exec_resolve(int threads)
{
	long n = threads > 0 ? threads : atomic_load(&exec_online);

	if (n <= 0) {
		n = sysconf(_SC_NPROCESSORS_ONLN);
		n = n < 1 ? 1 : n > TRART_MAX_THREADS ? TRART_MAX_THREADS : n;
		atomic_store(&exec_online, (int)n);
	}
	return n > TRART_MAX_THREADS ? TRART_MAX_THREADS : (int)n;
}

void
trart_set_threads(int threads)
{
	int want = exec_resolve(threads);

	if (atomic_load(&exec_nthreads) == want)
		return;
	pthread_mutex_lock(&exec_owner);
	exec_pool_stop(); /* the next loop starts one of the new size */
	atomic_store(&exec_nthreads, want);
	pthread_mutex_unlock(&exec_owner);
}

int
trart_threads(void)
{
	int n = atomic_load(&exec_nthreads);

	if (n == 0) {
		trart_set_threads(0);
		n = atomic_load(&exec_nthreads);
	}
	return n;
}

void
trart_parallel_for(int64_t n, void (*body)(int64_t lo, int64_t hi, void *ctx),
                   void *ctx)
{
	int threads = trart_threads(), k = threads;

	if (n <= 0)
		return;
	if (n < k)
		k = (int)n;
	if (k <= 1 || exec_inline || pthread_mutex_trylock(&exec_owner) != 0) {
		body(0, n, ctx);
		return;
	}
	if (exec_pool.nworkers == 0)
		exec_pool_start(threads - 1); /* sized for the widest loop */
	if (k > exec_pool.nworkers + 1)
		k = exec_pool.nworkers + 1;
	if (k <= 1)
		body(0, n, ctx);
	else
		exec_pool_run(n, k, body, ctx);
	pthread_mutex_unlock(&exec_owner);
}

void
trart_exec_profile(TrartProfile *prof)
{
	exec_prof = prof;
}

TrartProfile *
trart_exec_profiling(void)
{
	return exec_prof;
}

void
trart_exec_set_inline(bool on)
{
	exec_inline = on;
}

bool
trart_exec_inline(void)
{
	return exec_inline;
}

/* Runs kernel k, timed into the attached recorder. */
static void
exec_profiled(const TrartProgram *p, int k, void *const *bufs)
{
	int64_t start = trart_clock_ns();

	p->kernels[k].fn(bufs);
	trart_profile_add(exec_prof, k, start, trart_clock_ns());
}

/* Whether task graphs steal (trart_set_steal). */
static atomic_bool exec_steal = true;

void
trart_set_steal(bool steal)
{
	atomic_store(&exec_steal, steal);
}

void
trart_execute(const TrartProgram *p, void *const *bufs, int threads)
{
	int k, blas;

	if (p->tasks) {
		trart_run_tasks(p->tasks, bufs, threads, atomic_load(&exec_steal));
		return;
	}
	trart_set_threads(threads);
	blas = trart_exec_blas_threads(trart_threads());
	for (k = 0; k < p->nkernels; k++) {
		trart_mem_set_tensor(p->kernels[k].name); /* for messages */
		if (exec_prof)
			exec_profiled(p, k, bufs);
		else
			p->kernels[k].fn(bufs);
	}
	trart_mem_set_tensor(NULL);
	trart_exec_blas_threads(blas);
}

int
trart_exec_blas_threads(int n)
{
	int was = openblas_get_num_threads();

	if (was != n)
		openblas_set_num_threads(n);
	return was;
}

void
trart_exec_idle_blas(void)
{
	trart_exec_blas_threads(1); /* first: after the shutdown it would restart them */
	if (blas_thread_shutdown_)
		blas_thread_shutdown_();
}

/* The OpenBLAS kernels this CPU can run, by its features: AVX-512's
 * (SkylakeX), AVX2's (Haswell), or NULL where it has neither. */
static const char *
exec_blas_core_for_cpu(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
	    __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq"))
		return "SkylakeX";
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
		return "Haswell";
#endif
	return NULL;
}

/* Whether this process runs under valgrind (its preloaded core). */
static bool
exec_under_valgrind(void)
{
	const char *pre = getenv("LD_PRELOAD");

	return pre && strstr(pre, "vgpreload");
}

void
trart_exec_blas_kernels(char **argv)
{
	static bool checked;
	const char *fallback = getenv("TRART_BLAS_FALLBACK");
	const char *chose, *want;
	char self[4096];
	ssize_t len;

	if (checked)
		return;
	checked = true;
	if (!openblas_get_corename || getenv("OPENBLAS_CORETYPE") || exec_under_valgrind())
		return;
	chose = openblas_get_corename();
	if (!fallback || !*fallback)
		fallback = "Prescott";
	want = exec_blas_core_for_cpu();
	if (!chose || !want || strcasecmp(chose, fallback) != 0)
		return;
	/* by the file's own name, which the process takes as its name (ps,
	 * pkill): /proc/self/exe would name it "exe" */
	len = readlink("/proc/self/exe", self, sizeof self - 1);
	if (len <= 0 || (size_t)len >= sizeof self - 1)
		return;
	self[len] = '\0';
	if (setenv("TRART_BLAS_REPLACED", chose, 1) == 0 && setenv("OPENBLAS_CORETYPE", want, 1) == 0)
		execv(self, argv);
	unsetenv("OPENBLAS_CORETYPE"); /* it did not execute: run on as it is */
	unsetenv("TRART_BLAS_REPLACED");
}

void
trart_exec_blas_describe(FILE *f)
{
	const char *replaced = getenv("TRART_BLAS_REPLACED");
	const char *core = openblas_get_corename ? openblas_get_corename() : NULL;

	if (!core)
		return;
	fprintf(f, "blas: OpenBLAS, %s kernels", core);
	if (replaced && *replaced)
		fprintf(f, " (OPENBLAS_CORETYPE set by the program: OpenBLAS chose %s)", replaced);
	fprintf(f, "\n");
}

void
trart_shutdown(void)
{
	pthread_mutex_lock(&exec_owner);
	exec_pool_stop();
	trart_sched_stop();
	trart_pool_trim();
	atomic_store(&exec_nthreads, 0);
	exec_prof = NULL;
	pthread_mutex_unlock(&exec_owner);
}
