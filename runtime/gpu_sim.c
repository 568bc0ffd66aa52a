/* gpu_sim.c: simulated GPUs (trac --backend=cuda-sim): gpu.h's device
 * operations with every GPU call replaced by a CPU implementation, so
 * that the GPU executor (gpu.c and sched.c's GPU loop: memory domains,
 * streams, events, copies between GPUs and to and from the host) runs,
 * and is tested, on a machine without one.
 *
 * A GPU's memory is host memory (64-byte aligned, every byte SIM_POISON
 * at first), counted against the GPU's capacity. A stream is a thread that runs what is
 * queued on it in order: a kernel is the task's block kernel from the
 * C back end, run inline (trart_parallel_for does not fan out); a copy
 * is a memcpy of the piece's box, followed by a modelled delay, latency
 * plus bytes over the link's bandwidth (PCIe for host copies, NVLink
 * for peer copies). A mark is a count of the operations queued on the
 * stream; it is passed once the stream's thread has done that many
 * (an atomic counter the executor polls, with release and acquire
 * order, so the executor and the streams it next queues on see what
 * was written).
 *
 * TRART_GPU_SIM=KEY=VALUE,... tunes the model (tests use it):
 *   gpus=N       the machine's GPUs (default: as many as the program
 *                wants; fewer is an error, as on a real machine)
 *   memory=BYTES each GPU's memory (default: unbounded)
 *   h2d=GB/s     host to GPU and back (default 25)
 *   peer=GB/s    GPU to GPU (default 100)
 *   latency=US   per copy (default 2)
 *   jitter=SEED  a random delay of up to 200 us before each operation,
 *                drawn from SEED per stream, so that completions come
 *                in other orders (0: none, the default)
 */
#define _POSIX_C_SOURCE 200809L

#include "gpu.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SIM_JITTER_NS 200000

/* A GPU's memory starts as this byte everywhere, as cudaMalloc's is
 * whatever was there: NaN for floats, -1 for integers, so that a kernel
 * that reads what nobody wrote (or a copy that never came) shows. */
#define SIM_POISON 0xff

/* An operation queued on a stream. */
typedef struct SimOp {
	const TrartTask *task;   /* a kernel's task, or NULL: a copy */
	void *const *bufs;       /* the kernel's buffers */
	TrartGpuCopy kind;       /* a copy's */
	void *dst;
	const void *src;
	const TrartPiece *pc;    /* a box, or NULL: ... */
	size_t flat;             /* ... this many contiguous bytes */
} SimOp;

typedef struct SimCtx SimCtx;

typedef struct SimStream {
	SimCtx *sim;
	int gpu;
	pthread_t thread;
	pthread_mutex_t lock;    /* guards ops, n, head, queued, stop */
	pthread_cond_t wake;
	SimOp *ops;              /* ops[head .. n) are still to run */
	size_t n, head, cap;
	uint64_t queued;         /* operations queued so far */
	atomic_uint_fast64_t passed; /* operations done so far */
	bool stop;
	uint64_t rng;            /* jitter's state */
} SimStream;

struct SimCtx {
	int gpus;                /* the machine's (0: as many as wanted) */
	double memory;           /* per GPU (0: unbounded) */
	double h2d_bw, peer_bw;  /* bytes per second */
	double latency;          /* seconds */
	uint64_t jitter;         /* seed, 0: none */
	int nopen;               /* GPUs opened */
	double *used;            /* per GPU: bytes allocated */
	int nstreams;            /* streams made, for the jitter seeds */
	pthread_mutex_t lock;    /* guards used */
};

static SimCtx sim_ctx = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* TRART_GPU_SIM's settings into s; NULL, or what is wrong in err. */
static const char *
sim_configure(SimCtx *s, char *err, size_t errlen)
{
	const char *env = getenv("TRART_GPU_SIM"), *p = env;

	s->gpus = 0;
	s->memory = 0;
	s->h2d_bw = 25e9;
	s->peer_bw = 100e9;
	s->latency = 2e-6;
	s->jitter = 0;
	while (p && *p) {
		const char *eq = strchr(p, '='), *comma = strchr(p, ',');
		size_t klen = eq ? (size_t)(eq - p) : 0;
		char *end;
		double v;
		if (!eq || (comma && comma < eq))
			goto bad;
		errno = 0;
		v = strtod(eq + 1, &end);
		if (errno || end == eq + 1 || (*end && *end != ',') || v < 0)
			goto bad;
		if (klen == 4 && strncmp(p, "gpus", 4) == 0 && v >= 1 && v <= 64)
			s->gpus = (int)v;
		else if (klen == 6 && strncmp(p, "memory", 6) == 0)
			s->memory = v;
		else if (klen == 3 && strncmp(p, "h2d", 3) == 0 && v > 0)
			s->h2d_bw = v * 1e9;
		else if (klen == 4 && strncmp(p, "peer", 4) == 0 && v > 0)
			s->peer_bw = v * 1e9;
		else if (klen == 7 && strncmp(p, "latency", 7) == 0)
			s->latency = v * 1e-6;
		else if (klen == 6 && strncmp(p, "jitter", 6) == 0)
			s->jitter = (uint64_t)v;
		else
			goto bad;
		p = *end ? end + 1 : end;
	}
	return NULL;
bad:
	snprintf(err, errlen, "TRART_GPU_SIM='%s': expected KEY=VALUE,... with gpus (1 to 64), memory, "
	         "h2d, peer, latency or jitter", env);
	return err;
}

static void
sim_sleep(double seconds)
{
	struct timespec ts;

	if (seconds <= 0)
		return;
	ts.tv_sec = (time_t)seconds;
	ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* The box of pc from src to dst: contiguous runs of its last dimension. */
static void
sim_box_copy(void *dst, const void *src, const TrartPiece *pc)
{
	int nd = pc->ndim;
	const int64_t *shape = pc->dims, *first = pc->dims + nd, *size = pc->dims + 2 * nd;
	int64_t idx[TRART_MAX_RANK] = {0}, rows = 1;
	size_t run = (size_t)size[nd - 1] * (size_t)pc->elsize;

	for (int d = 0; d < nd - 1; d++)
		rows *= size[d];
	for (int64_t r = 0; r < rows && run > 0; r++) {
		int64_t off = 0;
		for (int d = 0; d < nd; d++)
			off = off * shape[d] + first[d] + (d < nd - 1 ? idx[d] : 0);
		memcpy((char *)dst + off * pc->elsize, (const char *)src + off * pc->elsize, run);
		for (int d = nd - 2; d >= 0 && ++idx[d] == size[d]; d--)
			idx[d] = 0;
	}
}

static void
sim_run(SimStream *st, const SimOp *op)
{
	SimCtx *s = st->sim;

	if (s->jitter) {
		st->rng ^= st->rng << 13;
		st->rng ^= st->rng >> 7;
		st->rng ^= st->rng << 17;
		sim_sleep((double)(st->rng % SIM_JITTER_NS) * 1e-9);
	}
	if (op->task) {
		trart_mem_set_tensor(op->task->name);
		op->task->fn(op->bufs, op->task);
		trart_mem_set_tensor(NULL);
		return;
	}
	if (op->pc)
		sim_box_copy(op->dst, op->src, op->pc);
	else
		memcpy(op->dst, op->src, op->flat);
	sim_sleep(s->latency + (op->pc ? trart_piece_bytes(op->pc) : (double)op->flat) /
	          (op->kind == TRART_GPU_D2D ? s->peer_bw : s->h2d_bw));
}

/* A stream's thread: runs what is queued, in order, until stopped. */
static void *
sim_stream_thread(void *arg)
{
	SimStream *st = arg;

	trart_exec_set_inline(true);
	pthread_mutex_lock(&st->lock);
	for (;;) {
		SimOp op;
		while (st->head == st->n && !st->stop)
			pthread_cond_wait(&st->wake, &st->lock);
		if (st->head == st->n)
			break;
		op = st->ops[st->head++];
		if (st->head == st->n)
			st->head = st->n = 0;
		pthread_mutex_unlock(&st->lock);
		sim_run(st, &op);
		atomic_fetch_add_explicit(&st->passed, 1, memory_order_release);
		pthread_mutex_lock(&st->lock);
	}
	pthread_mutex_unlock(&st->lock);
	return NULL;
}

static const char *
sim_open(void *ctx, int want, char *err, size_t errlen)
{
	SimCtx *s = ctx;
	const char *bad = sim_configure(s, err, errlen);

	if (bad)
		return bad;
	if (s->gpus && s->gpus < want) {
		snprintf(err, errlen, "the program was compiled for %d GPUs, and this (simulated) machine has %d "
		         "(TRART_GPU_SIM gpus=%d)", want, s->gpus, s->gpus);
		return err;
	}
	s->nopen = want;
	s->nstreams = 0;
	s->used = calloc((size_t)want, sizeof *s->used);
	return s->used ? NULL : "out of memory opening the simulated GPUs";
}

static void
sim_close(void *ctx)
{
	SimCtx *s = ctx;

	free(s->used);
	s->used = NULL;
}

static void *
sim_alloc(void *ctx, int gpu, size_t bytes)
{
	SimCtx *s = ctx;
	void *p = NULL;
	bool room;

	pthread_mutex_lock(&s->lock);
	room = !s->memory || s->used[gpu] + (double)bytes <= s->memory;
	if (room)
		s->used[gpu] += (double)bytes;
	pthread_mutex_unlock(&s->lock);
	if (!room || posix_memalign(&p, 64, bytes) != 0)
		return NULL;
	memset(p, SIM_POISON, bytes);
	return p;
}

static void
sim_free(void *ctx, int gpu, void *p)
{
	(void)ctx;
	(void)gpu;
	free(p);
}

static void *
sim_host_alloc(void *ctx, size_t bytes)
{
	void *p = NULL;

	(void)ctx;
	return posix_memalign(&p, 64, bytes ? bytes : 1) == 0 ? p : NULL;
}

static void
sim_host_free(void *ctx, void *p)
{
	(void)ctx;
	free(p);
}

static void *
sim_stream(void *ctx, int gpu)
{
	SimCtx *s = ctx;
	SimStream *st = calloc(1, sizeof *st);
	sigset_t block, old;
	bool ok;

	if (!st)
		return NULL;
	st->sim = s;
	st->gpu = gpu;
	st->rng = s->jitter * 0x9e3779b97f4a7c15u + (uint64_t)++s->nstreams;
	atomic_init(&st->passed, 0);
	pthread_mutex_init(&st->lock, NULL);
	pthread_cond_init(&st->wake, NULL);
	/* the user's signal handlers stay on the user's threads */
	sigfillset(&block);
	pthread_sigmask(SIG_SETMASK, &block, &old);
	ok = pthread_create(&st->thread, NULL, sim_stream_thread, st) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!ok) {
		pthread_mutex_destroy(&st->lock);
		pthread_cond_destroy(&st->wake);
		free(st);
		return NULL;
	}
	return st;
}

static void
sim_stream_free(void *ctx, void *stream)
{
	SimStream *st = stream;

	(void)ctx;
	pthread_mutex_lock(&st->lock);
	st->stop = true;
	pthread_cond_signal(&st->wake);
	pthread_mutex_unlock(&st->lock);
	pthread_join(st->thread, NULL);
	pthread_mutex_destroy(&st->lock);
	pthread_cond_destroy(&st->wake);
	free(st->ops);
	free(st);
}

static const char *
sim_queue(SimStream *st, const SimOp *op)
{
	const char *failed = NULL;

	pthread_mutex_lock(&st->lock);
	if (st->n == st->cap) {
		size_t cap = st->cap ? 2 * st->cap : 16;
		SimOp *ops = realloc(st->ops, cap * sizeof *ops);
		if (ops) {
			st->ops = ops;
			st->cap = cap;
		} else {
			failed = "queueing on a stream (out of memory)";
		}
	}
	if (!failed) {
		st->ops[st->n++] = *op;
		st->queued++;
		pthread_cond_signal(&st->wake);
	}
	pthread_mutex_unlock(&st->lock);
	return failed;
}

/* Host memory is the simulated GPUs' own: nothing to pin. */
static bool
sim_pin(void *ctx, void *p, size_t bytes)
{
	(void)ctx;
	(void)p;
	(void)bytes;
	return false;
}

static void
sim_unpin(void *ctx, void *p)
{
	(void)ctx;
	(void)p;
}

static const char *
sim_launch(void *ctx, void *stream, int t, const TrartTask *task, void *const *bufs)
{
	SimOp op = {.task = task, .bufs = bufs};

	(void)ctx;
	(void)t;
	return sim_queue(stream, &op);
}

static const char *
sim_copy(void *ctx, void *stream, TrartGpuCopy kind, void *dst, const void *src,
         const TrartPiece *pc)
{
	SimOp op = {.kind = kind, .dst = dst, .src = src, .pc = pc};

	(void)ctx;
	return sim_queue(stream, &op);
}

static const char *
sim_copy_flat(void *ctx, void *stream, TrartGpuCopy kind, void *dst, const void *src, size_t bytes)
{
	SimOp op = {.kind = kind, .dst = dst, .src = src, .flat = bytes};

	(void)ctx;
	return sim_queue(stream, &op);
}

static const char *
sim_record(void *ctx, void *stream, uint64_t *mark)
{
	SimStream *st = stream;

	(void)ctx;
	pthread_mutex_lock(&st->lock);
	*mark = st->queued;
	pthread_mutex_unlock(&st->lock);
	return NULL;
}

static int
sim_reached(void *ctx, void *stream, uint64_t mark, const char **failed)
{
	SimStream *st = stream;

	(void)ctx;
	(void)failed; /* a simulated kernel or copy cannot fail */
	return atomic_load_explicit(&st->passed, memory_order_acquire) >= mark;
}

/* A simulated kernel's time is the CPU's: not the GPU's to report. */
static double
sim_kernel_time(void *ctx)
{
	(void)ctx;
	return -1;
}

static const TrartGpuOps sim_ops = {
	"simulated GPU", sim_open, sim_close, sim_alloc, sim_free, sim_host_alloc, sim_host_free, sim_pin,
	sim_unpin, sim_stream, sim_stream_free, sim_launch, sim_copy, sim_copy_flat, sim_record, sim_reached, sim_kernel_time,
	&sim_ctx,
};

const TrartGpuOps *
trart_gpu_sim_ops(void)
{
	return &sim_ops;
}
