/* gpu.c: running a block task graph on GPUs, the device-independent part
 * (gpu.h's run interface; the device is a TrartGpuOps table).
 *
 * Memory domains. Each GPU is a memory of its own. A task placed on
 * device d runs on GPU d, over that GPU's copy of every buffer it uses
 * (TrartTask.use), where the memory plan puts it (below). Blocks move
 * as the ranks' messages do (sched.c), as pieces (trart.h's
 * TrartPiece, which the compiler emits for GPU graphs too):
 *  - a block a task writes goes to every other GPU that runs a reader
 *    of it, once the kernel is done, as a copy queued on the writing
 *    GPU's out stream (peer to peer); and a final block of an output
 *    goes to the host's buffer, the caller's, likewise;
 *  - an input's leaf task stands for a block of the input: when it is
 *    released, the block is copied from the host's buffer to every GPU
 *    that reads it, on each GPU's in stream. So an input is copied in
 *    block by block as the tasks that need it come up, not whole.
 * Which GPUs read a task's block is worked out before the run, as
 * sched_ranks_plan does: walking a topological order backwards, a task
 * that only orders (a repartition, a fused row) needs what its
 * successors need, and a task that writes is needed where its readers
 * run; the memory tasks' edges carry no data (compiler/kplan.c's
 * kplan_gpu_dest is the same rule, for the memory plan). A task counts as completed, and releases its successors, once
 * its kernel and every copy of its pieces are done: a reader on
 * another GPU starts after its block arrived. Copies into a GPU's
 * buffer never overlap what another task there reads or writes, since
 * blocks are written once and read after they are made.
 *
 * The memory plan. The compiler plans each GPU as a memory domain
 * (compiler/memgraph.c): GPU q's copy of buffer b is the memgraph's
 * buffer q * nbufs + b, at TrartTaskGraph.offset[q * nbufs + b] of the
 * GPU's arena (-1: none there), and the plan's memory tasks name those
 * buffers. With it each GPU allocates one arena (g->arena bytes) and
 * one stretch of pinned host memory for its offloads (g->spill bytes)
 * when the run begins, and nothing while it goes (a graph on GPUs
 * without the plan's arena is refused). Alloc and free only
 * order; an offload is a copy of the buffer to its slot of the host
 * memory on the GPU's out stream, a reload one back to its new offset
 * on the in stream, and the reload points the GPU's entry for the
 * buffer there when it is submitted (every earlier user of the buffer
 * is done: the reload waits for the offload, which waits for them).
 * Under a budget a tensor may be kept block by block (memgraph.c's
 * MG_BLOCK): each block a GPU holds is a buffer of its own, the same
 * block's buffer on every GPU, and a task that touches it has a view
 * (TrartView), through which its kernel indexes it and its pieces are
 * copied (gpu_base).
 *
 * Streams and events. Each GPU has GPU_COMPUTE_STREAMS compute streams,
 * kernels taking them in turn (a released task's kernel may start at
 * once: its inputs are there, so no stream order is needed, and two
 * streams let independent kernels overlap), and two copy streams, in
 * (host to GPU) and out (from the GPU to the host or a peer), so that
 * copies overlap kernels. After each kernel, and after each batch of
 * copies, a mark is recorded on the stream (an event); sched.c's event
 * loop polls the marks (trart_gpu_poll) and never waits on a device.
 */
#define _POSIX_C_SOURCE 200809L

#include "gpu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Kernels go to this many streams per GPU, in turn. */
#define GPU_COMPUTE_STREAMS 2

/* The most GPUs a graph may be placed on (a task's readers' GPUs are
 * the bits of a word). */
#define GPU_MAX 64

/* The device runs use (trart_gpu_set_device); NULL: simulated GPUs. */
static const TrartGpuOps *gpu_device;

void
trart_gpu_set_device(const TrartGpuOps *ops)
{
	gpu_device = ops;
}

/* One GPU of the run. */
typedef struct GpuDev {
	void **bufs;          /* per buffer: this GPU's copy, or NULL (unused here) */
	char *arena;          /* with a memory plan: the GPU's arena ... */
	char *host;           /* ... and its slower tier, pinned host memory (or NULL) */
	void *compute[GPU_COMPUTE_STREAMS];
	void *in, *out;       /* copy streams: to this GPU from the host;
	                         from it to the host or a peer */
	int next;             /* the compute stream the next kernel takes */
} GpuDev;

/* A mark the loop waits for: task t's kernel, or a batch of its copies. */
typedef struct GpuWait {
	int t;
	void *stream;
	uint64_t mark;
	bool kernel;
} GpuWait;

struct TrartGpuRun {
	const TrartGpuOps *ops;
	const TrartTaskGraph *g;
	void *const *host;    /* the caller's buffers */
	int ngpus;
	GpuDev *dev;
	uint64_t *dest;       /* per task with pieces: the GPUs they go to */
	int *left;            /* per task: marks not yet passed */
	bool *pinned;         /* per caller's buffer: pinned for the run */
	void **caller;        /* the caller's buffers the run was set up for */
	GpuWait *wait;        /* the marks in flight */
	int nwait, capwait;
	int inflight;         /* tasks submitted, not completed */
	TrartGpuStats st;
};

static int
gpu_of(const TrartGpuRun *r, int t)
{
	return r->g->tasks[t].device % r->ngpus;
}

static bool
gpu_is_input(const TrartTask *task)
{
	return task->npiece > 0 && task->piece[0].host == TRART_PIECE_INPUT;
}

static void *
gpu_alloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (!p)
		trart_out_of_memory((double)n * (double)size, "the GPU executor's tables");
	return p;
}

/* A call the device refused ends the program, naming the call and what
 * it was for. */
static void
gpu_check(const TrartGpuRun *r, const char *failed, int gpu, const char *what,
          const TrartTask *task)
{
	if (!failed)
		return;
	trart_fatal("%s %d: %s failed (%s%s%s)", r->ops->name, gpu, failed, what,
	            task ? " of task " : "", task && task->name ? task->name : "");
}

/* dest: where each task's pieces go (the opening comment). */
static void
gpu_plan(TrartGpuRun *r)
{
	const TrartTaskGraph *g = r->g;
	int n = g->ntasks;
	uint64_t *need = gpu_alloc((size_t)n, sizeof *need);
	int *order = trart_topo_order(g->tasks, n);

	for (int j = n - 1; j >= 0; j--) { /* readers first */
		int t = order[j];
		const TrartTask *k = &g->tasks[t];
		if (k->mem) /* a memory task's edges order, they carry no data */
			continue;
		for (int i = 0; i < k->nsucc; i++)
			need[t] |= need[k->succ[i]];
		if (k->npiece == 0)
			continue;
		uint64_t own = (uint64_t)1 << gpu_of(r, t);
		r->dest[t] = gpu_is_input(k) ? need[t] : need[t] & ~own;
		need[t] = gpu_is_input(k) ? 0 : own;
	}
	free(need);
	free(order);
}

/* Every GPU's arena and slower tier, and its buffers' first places in
 * the arena. */
static void
gpu_arenas(TrartGpuRun *r)
{
	const TrartTaskGraph *g = r->g;
	char size[32];

	for (int q = 0; q < r->ngpus; q++) {
		GpuDev *d = &r->dev[q];
		if (!(d->arena = r->ops->alloc(r->ops->ctx, q, (size_t)g->arena)))
			trart_fatal("%s %d: out of memory allocating the arena of %s the program's memory plan needs "
			            "(trac --memory sets the budget per GPU)", r->ops->name, q,
			            trart_size_text(size, sizeof size, (double)g->arena));
		if (g->spill > 0 && !(d->host = r->ops->host_alloc(r->ops->ctx, (size_t)g->spill)))
			trart_out_of_memory((double)g->spill, "GPU %d's offloads (pinned host memory)", q);
		r->st.memory += (double)g->arena;
	}
}

/* Every GPU's buffers at their first places in its arena (a run's
 * reloads move them). */
static void
gpu_place(TrartGpuRun *r)
{
	const TrartTaskGraph *g = r->g;

	for (int q = 0; q < r->ngpus; q++) {
		GpuDev *d = &r->dev[q];
		for (int b = 0; b < g->nbufs; b++) {
			int64_t off = g->offset[q * g->nbufs + b];
			if (off >= 0 && off > g->arena - g->bytes[b])
				trart_fatal("task graph: buffer %d of GPU %d lies outside its arena", b, q);
			d->bufs[b] = off < 0 ? NULL : d->arena + off;
		}
	}
}

/* How many of g's buffers are the caller's (pinned, and compared when a
 * parked run is reused). */
static int
gpu_ncaller(const TrartTaskGraph *g)
{
	return g->ncaller < g->nbufs ? g->ncaller : g->nbufs;
}

/* The caller's buffers, pinned where the device can, so that copies of
 * inputs in and outputs out do not wait for the device. */
static void
gpu_pin(TrartGpuRun *r)
{
	const TrartTaskGraph *g = r->g;
	int n = gpu_ncaller(g);

	r->pinned = gpu_alloc((size_t)n, sizeof *r->pinned);
	r->caller = gpu_alloc((size_t)n, sizeof *r->caller);
	for (int b = 0; b < n; b++) {
		r->caller[b] = r->host[b];
		if (r->host[b] && g->bytes[b] > 0)
			r->pinned[b] = r->ops->pin(r->ops->ctx, r->host[b], (size_t)g->bytes[b]);
	}
}

static void
gpu_streams(TrartGpuRun *r)
{
	for (int q = 0; q < r->ngpus; q++) {
		GpuDev *d = &r->dev[q];
		for (int i = 0; i < GPU_COMPUTE_STREAMS; i++)
			if (!(d->compute[i] = r->ops->stream(r->ops->ctx, q)))
				gpu_check(r, "creating a stream", q, "a compute stream", NULL);
		if (!(d->in = r->ops->stream(r->ops->ctx, q)) || !(d->out = r->ops->stream(r->ops->ctx, q)))
			gpu_check(r, "creating a stream", q, "a copy stream", NULL);
	}
}

/* The last run's GPUs, set up, kept for the next run (trart_gpu_end),
 * or NULL. */
static TrartGpuRun *gpu_parked;

/* Whether the parked run r can run g over host: the same graph, device
 * and caller's buffers. */
static bool
gpu_same(const TrartGpuRun *r, const TrartTaskGraph *g, void *const *host)
{
	if (r->g != g || r->ops != (gpu_device ? gpu_device : trart_gpu_sim_ops()))
		return false;
	for (int b = 0; b < gpu_ncaller(g); b++)
		if (r->caller[b] != host[b])
			return false;
	return true;
}

static void gpu_free(TrartGpuRun *r);

TrartGpuRun *
trart_gpu_begin(const TrartTaskGraph *g, void *const *host)
{
	TrartGpuRun *r = gpu_parked;
	char err[TRART_ERRLEN];
	const char *why;

	gpu_parked = NULL;
	if (r && gpu_same(r, g, host)) { /* --repeat: set up already */
		double memory = r->st.memory;
		memset(r->left, 0, (size_t)g->ntasks * sizeof *r->left);
		r->nwait = r->inflight = 0;
		memset(&r->st, 0, sizeof r->st);
		r->st.memory = memory;
		r->host = host;
		gpu_place(r);
		return r;
	}
	if (r)
		gpu_free(r);
	r = gpu_alloc(1, sizeof *r);
	if (g->ngpus > GPU_MAX || !g->bytes || g->arena <= 0 || !g->offset || g->spill < 0)
		trart_fatal("task graph: placed on %d GPUs (at most %d, with the buffers' sizes and the "
		            "memory plan's arena and offsets)", g->ngpus, GPU_MAX);
	r->ops = gpu_device ? gpu_device : trart_gpu_sim_ops();
	r->g = g;
	r->host = host;
	r->ngpus = g->ngpus;
	if ((why = r->ops->open(r->ops->ctx, g->ngpus, err, sizeof err)))
		trart_fatal("%s", why);
	r->dev = gpu_alloc((size_t)r->ngpus, sizeof *r->dev);
	for (int q = 0; q < r->ngpus; q++)
		r->dev[q].bufs = gpu_alloc((size_t)g->nbufs, sizeof *r->dev[q].bufs);
	r->dest = gpu_alloc((size_t)g->ntasks, sizeof *r->dest);
	r->left = gpu_alloc((size_t)g->ntasks, sizeof *r->left);
	r->capwait = 64;
	r->wait = gpu_alloc((size_t)r->capwait, sizeof *r->wait);
	gpu_plan(r);
	gpu_arenas(r);
	gpu_place(r);
	gpu_pin(r);
	gpu_streams(r);
	return r;
}

/* Waits for the mark now at the end of stream, for task t. */
static void
gpu_mark(TrartGpuRun *r, int t, void *stream, bool kernel, int gpu)
{
	uint64_t mark;

	gpu_check(r, r->ops->record(r->ops->ctx, stream, &mark), gpu, "recording an event",
	          &r->g->tasks[t]);
	if (r->nwait == r->capwait) {
		r->capwait *= 2;
		r->wait = realloc(r->wait, (size_t)r->capwait * sizeof *r->wait);
		if (!r->wait)
			trart_out_of_memory((double)r->capwait * sizeof *r->wait, "the GPU executor's events");
	}
	r->wait[r->nwait++] = (GpuWait){t, stream, mark, kernel};
	r->left[t]++;
}

static void
gpu_copy(TrartGpuRun *r, void *stream, TrartGpuCopy kind, void *dst, const void *src,
         const TrartPiece *pc, int gpu, const TrartTask *task)
{
	double bytes = trart_piece_bytes(pc);

	gpu_check(r, r->ops->copy(r->ops->ctx, stream, kind, dst, src, pc), gpu, "a copy", task);
	r->st.copies++;
	if (kind == TRART_GPU_H2D)
		r->st.h2d += bytes;
	else if (kind == TRART_GPU_D2H)
		r->st.d2h += bytes;
	else
		r->st.d2d += bytes;
}

/* Where buffer b's tensor starts on GPU q, as task k indexes it: q's
 * copy of b, or where a tensor kept block by block would start, for the
 * block k touches (k's view of b: the block's buffer less the block's
 * first byte, the same block's buffer on every GPU). */
static char *
gpu_base(const TrartGpuRun *r, int q, const TrartTask *k, int b)
{
	for (int i = 0; i < k->nview; i++)
		if (k->view[i].node == b)
			return (char *)r->dev[q].bufs[k->view[i].buf] - k->view[i].begin;
	return r->dev[q].bufs[b];
}

/* An input leaf: its block to every GPU that reads it. */
static void
gpu_copy_in(TrartGpuRun *r, int t)
{
	const TrartTask *k = &r->g->tasks[t];

	for (int q = 0; q < r->ngpus; q++) {
		if (!(r->dest[t] >> q & 1))
			continue;
		for (int i = 0; i < k->npiece; i++) {
			int b = k->piece[i].buf;
			gpu_copy(r, r->dev[q].in, TRART_GPU_H2D, gpu_base(r, q, k, b), r->host[b], &k->piece[i], q, k);
		}
		gpu_mark(r, t, r->dev[q].in, false, q);
	}
}

/* A kernel done: its pieces to the GPUs that read them, and the host's
 * share of an output. */
static void
gpu_copy_out(TrartGpuRun *r, int t)
{
	const TrartTask *k = &r->g->tasks[t];
	int gpu = gpu_of(r, t);
	GpuDev *d = &r->dev[gpu];
	bool any = false;

	for (int i = 0; i < k->npiece; i++) {
		const TrartPiece *pc = &k->piece[i];
		char *src = gpu_base(r, gpu, k, pc->buf);
		for (int q = 0; q < r->ngpus; q++)
			if (r->dest[t] >> q & 1) {
				gpu_copy(r, d->out, TRART_GPU_D2D, gpu_base(r, q, k, pc->buf), src, pc, gpu, k);
				any = true;
			}
		if (pc->host == TRART_PIECE_OUTPUT) {
			gpu_copy(r, d->out, TRART_GPU_D2H, r->host[pc->buf], src, pc, gpu, k);
			any = true;
		}
	}
	if (any)
		gpu_mark(r, t, d->out, false, gpu);
}

/* A memory task of the plan: alloc and free only order; an offload or a
 * reload is a copy to or from the GPU's pinned host memory. */
static void
gpu_memory_task(TrartGpuRun *r, int t)
{
	const TrartTaskGraph *g = r->g;
	const TrartMemOp *op = g->tasks[t].mem;
	int q = op->buf / g->nbufs, b = op->buf % g->nbufs;
	GpuDev *d;

	if (op->buf < 0 || q >= r->ngpus ||
	    op->kind > TRART_MEM_RELOAD || op->bytes < 0 || op->bytes > g->bytes[b])
		trart_fatal("task graph: memory task %d is not one of a GPU's alloc, free, offload or reload", t);
	if (op->kind != TRART_MEM_OFFLOAD && op->kind != TRART_MEM_RELOAD)
		return;
	d = &r->dev[q];
	if (op->spill < 0 || op->spill > g->spill - op->bytes || !d->bufs[b] ||
	    (op->kind == TRART_MEM_RELOAD && (op->offset < 0 || op->offset > g->arena - g->bytes[b])))
		trart_fatal("task graph: memory task %d moves bytes outside GPU %d's arena or host memory", t, q);
	if (op->kind == TRART_MEM_OFFLOAD) {
		gpu_check(r, r->ops->copy_flat(r->ops->ctx, d->out, TRART_GPU_D2H, d->host + op->spill, d->bufs[b],
		                               (size_t)op->bytes), q, "an offload", &g->tasks[t]);
		r->st.offloaded += (double)op->bytes;
		gpu_mark(r, t, d->out, false, q);
	} else {
		d->bufs[b] = d->arena + op->offset;
		gpu_check(r, r->ops->copy_flat(r->ops->ctx, d->in, TRART_GPU_H2D, d->bufs[b], d->host + op->spill,
		                               (size_t)op->bytes), q, "a reload", &g->tasks[t]);
		r->st.reloaded += (double)op->bytes;
		gpu_mark(r, t, d->in, false, q);
	}
}

bool
trart_gpu_submit(TrartGpuRun *r, int t)
{
	const TrartTask *k = &r->g->tasks[t];
	int gpu = gpu_of(r, t);
	GpuDev *d = &r->dev[gpu];

	if (k->mem)
		gpu_memory_task(r, t);
	else if (gpu_is_input(k))
		gpu_copy_in(r, t);
	else if (k->nuse > 0) {
		void *stream = d->compute[d->next];
		d->next = (d->next + 1) % GPU_COMPUTE_STREAMS;
		gpu_check(r, r->ops->launch(r->ops->ctx, stream, t, k, (void *const *)d->bufs), gpu,
		          "a kernel launch", k);
		r->st.kernels++;
		gpu_mark(r, t, stream, true, gpu);
	}
	if (r->left[t] == 0)
		return true;
	r->inflight++;
	return false;
}

int
trart_gpu_poll(TrartGpuRun *r, int *done)
{
	int n = 0;

	for (int i = 0; i < r->nwait;) {
		GpuWait w = r->wait[i];
		const char *failed = NULL;
		int got = r->ops->reached(r->ops->ctx, w.stream, w.mark, &failed);
		if (got < 0)
			gpu_check(r, failed ? failed : "a kernel or copy", gpu_of(r, w.t),
			          w.kernel ? "the kernel" : "its copies", &r->g->tasks[w.t]);
		if (got == 0) {
			i++;
			continue;
		}
		r->wait[i] = r->wait[--r->nwait];
		r->left[w.t]--;
		if (w.kernel)
			gpu_copy_out(r, w.t);
		if (r->left[w.t] == 0) {
			done[n++] = w.t;
			r->inflight--;
		}
	}
	return n;
}

int
trart_gpu_in_flight(const TrartGpuRun *r)
{
	return r->inflight;
}

void
trart_gpu_end(TrartGpuRun *r, TrartGpuStats *st)
{
	r->st.device = r->ops->name;
	r->st.ngpus = r->ngpus;
	r->st.kernel_s = r->ops->kernel_time(r->ops->ctx);
	if (st)
		*st = r->st;
	gpu_parked = r;
}

void
trart_gpu_release(void)
{
	if (gpu_parked)
		gpu_free(gpu_parked);
	gpu_parked = NULL;
}

/* Frees the GPUs' buffers and streams, unpins the caller's buffers and
 * closes the device layer. */
static void
gpu_free(TrartGpuRun *r)
{
	const TrartGpuOps *o = r->ops;

	for (int q = 0; q < r->ngpus; q++) {
		GpuDev *d = &r->dev[q];
		for (int i = 0; i < GPU_COMPUTE_STREAMS; i++)
			if (d->compute[i])
				o->stream_free(o->ctx, d->compute[i]);
		if (d->in)
			o->stream_free(o->ctx, d->in);
		if (d->out)
			o->stream_free(o->ctx, d->out);
		if (d->arena)
			o->free(o->ctx, q, d->arena);
		if (d->host)
			o->host_free(o->ctx, d->host);
		free(d->bufs);
	}
	for (int b = 0; b < gpu_ncaller(r->g); b++)
		if (r->pinned[b])
			o->unpin(o->ctx, r->caller[b]);
	o->close(o->ctx);
	free(r->dev);
	free(r->dest);
	free(r->left);
	free(r->pinned);
	free(r->caller);
	free(r->wait);
	free(r);
}
