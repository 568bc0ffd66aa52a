/* cuda.c: CUDA GPUs (trac --backend=cuda): gpu.h's device operations
 * over CUDA's runtime and cuBLAS, in libtrart_cuda, the only runtime
 * file that includes CUDA's headers. gpu.c's executor decides what runs
 * where and when (memory domains, copies, streams, events); this file
 * only carries each operation out, as gpu_sim.c does on the CPU.
 *
 *  - A GPU of the program (a logical GPU, 0 to want - 1) is CUDA device
 *    q. TRART_CUDA_SHARE=1 lets a program built for more GPUs than the
 *    machine has run logical GPU q on device q mod count (each with its
 *    own arena and streams: tests run two on one GPU); without it, too
 *    few devices is an error, as no device at all always is.
 *  - Memory: cudaMalloc for a GPU's arena, cudaHostAlloc (portable, not
 *    write-combined: the host reads offloaded bytes back) for its pinned
 *    host tier; the caller's inputs and outputs are pinned for the run
 *    (cudaHostRegister, read-only for a mapped input file), so that
 *    their copies are asynchronous too.
 *  - A stream is a non-blocking CUDA stream; a mark is an event recorded
 *    on it, polled with cudaEventQuery, which never waits. Marks of a
 *    stream are passed in the order they were recorded, so the events
 *    of a stream are a queue, reused once passed.
 *  - A kernel is the task's launcher from the generated CUDA file
 *    (trart_cuda.h), called with the task's stream and a cuBLAS handle
 *    bound to it (made the first time a stream launches; TF32 math only
 *    when the program was built with --tf32). CUDA kernels index every
 *    tensor whole, so a task that views blocks (a budget's tensors kept
 *    block by block) gets trart_task_bufs's array, as a C kernel makes
 *    for itself: the launcher copies the pointers into the kernels'
 *    arguments before it returns, so one array serves every launch.
 *  - A copy of a piece (a box of a buffer) is one cudaMemcpy2DAsync per
 *    position of its outer dimensions: trailing dimensions the box
 *    covers whole merge into one contiguous row, the next is the 2-D
 *    copy's height. cudaMemcpyDefault lets unified addressing tell host
 *    from device and one GPU from another (peer access is enabled
 *    between the devices used, where the hardware has it; else CUDA
 *    copies through the host).
 * Each launch is timed by a pair of events around it, which --stats
 * reads once the run is done ("gpu kernels": the GPUs' time in kernels
 * alone). An error names the CUDA call and CUDA's words for it; gpu.c
 * adds the GPU and the task and ends the program (exit 1).
 */
#define _POSIX_C_SOURCE 200809L

#include "gpu.h"
#include "trart_cuda.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One stream of a GPU, and its marks' events. */
typedef struct CudaStream {
	int device;              /* the CUDA device */
	cudaStream_t s;
	cublasHandle_t blas;     /* for launches (made by the first), or NULL */
	cudaEvent_t *ev;         /* marks first .. first + n - 1, a ring from head */
	size_t head, n, cap;
	uint64_t first;          /* the oldest mark not known to be passed */
	cudaEvent_t *spare;      /* passed marks' events, to record again */
	size_t nspare;
} CudaStream;

/* A launch's kernels, between two timing events. */
typedef struct CudaTimed {
	int device;
	cudaEvent_t start, stop;
} CudaTimed;

typedef struct CudaCtx {
	const TrartCudaKernels *k;
	CudaTimed *timed;        /* the launches since kernel_time last read them */
	size_t ntimed, captimed;
	int ndevices;            /* the machine's */
	int want;                /* the program's GPUs */
	void **local;            /* a launch's buffers with its views (trart_task_bufs) */
	int nlocal;
	char err[TRART_ERRLEN];  /* the last failure, for gpu.c's message */
} CudaCtx;

static CudaCtx cuda_ctx;

static double cuda_kernel_time(void *ctx);

/* NULL when e is success, else "what: CUDA's words" (in the context). */
static const char *
cuda_failed(CudaCtx *c, cudaError_t e, const char *what)
{
	if (e == cudaSuccess)
		return NULL;
	snprintf(c->err, sizeof c->err, "%s: %s", what, cudaGetErrorString(e));
	return c->err;
}

static int
cuda_device(const CudaCtx *c, int gpu)
{
	return gpu % c->ndevices;
}

/* Peer access between every two devices used, where there is any. */
static void
cuda_enable_peers(const CudaCtx *c)
{
	int n = c->want < c->ndevices ? c->want : c->ndevices;

	for (int a = 0; a < n; a++)
		for (int b = 0; b < n; b++) {
			int can = 0;
			if (a == b || cudaDeviceCanAccessPeer(&can, a, b) != cudaSuccess || !can)
				continue;
			if (cudaSetDevice(a) == cudaSuccess)
				cudaDeviceEnablePeerAccess(b, 0);
		}
	cudaGetLastError(); /* "already enabled" is no failure */
}

static const char *
cuda_open(void *ctx, int want, char *err, size_t errlen)
{
	CudaCtx *c = ctx;
	const char *share = getenv("TRART_CUDA_SHARE");
	cudaError_t e = cudaGetDeviceCount(&c->ndevices);

	if (!c->k)
		return "the CUDA device was not installed (a program trac --backend=cuda built calls trart_cuda_main)";
	if (e != cudaSuccess || c->ndevices < 1) {
		snprintf(err, errlen, "no CUDA GPU: cudaGetDeviceCount says '%s' (the program needs %d GPU%s, "
		         "a CUDA driver and the GPU; trac --backend=cuda-sim simulates them)",
		         e != cudaSuccess ? cudaGetErrorString(e) : "0 devices", want, want == 1 ? "" : "s");
		return err;
	}
	if (share && *share && strcmp(share, "0") != 0 && strcmp(share, "1") != 0) {
		snprintf(err, errlen, "TRART_CUDA_SHARE='%s': expected 1 (share GPUs) or 0", share);
		return err;
	}
	if (c->ndevices < want && !(share && strcmp(share, "1") == 0)) {
		snprintf(err, errlen, "the program was built for %d GPUs (trac --gpus=%d) and this machine has "
		         "%d CUDA GPU%s; TRART_CUDA_SHARE=1 runs several of them on one", want, want, c->ndevices,
		         c->ndevices == 1 ? "" : "s");
		return err;
	}
	c->want = want;
	cuda_enable_peers(c);
	return NULL;
}

static void
cuda_close(void *ctx)
{
	CudaCtx *c = ctx;

	cuda_kernel_time(c); /* the events of launches no run read (a failed one's) */
	free(c->timed);
	free(c->local);
	c->local = NULL;
	c->nlocal = 0;
	c->timed = NULL;
	c->captimed = 0;
}

static void *
cuda_alloc(void *ctx, int gpu, size_t bytes)
{
	void *p = NULL;

	if (cudaSetDevice(cuda_device(ctx, gpu)) != cudaSuccess || cudaMalloc(&p, bytes) != cudaSuccess) {
		cudaGetLastError(); /* out of memory is not sticky: clear it */
		return NULL;
	}
	return p;
}

static void
cuda_free(void *ctx, int gpu, void *p)
{
	if (cudaSetDevice(cuda_device(ctx, gpu)) == cudaSuccess)
		cudaFree(p);
}

static void *
cuda_host_alloc(void *ctx, size_t bytes)
{
	void *p = NULL;

	(void)ctx;
	if (cudaHostAlloc(&p, bytes, cudaHostAllocPortable) != cudaSuccess) {
		cudaGetLastError();
		return NULL;
	}
	return p;
}

static void
cuda_host_free(void *ctx, void *p)
{
	(void)ctx;
	cudaFreeHost(p);
}

/* Read-only memory (an input mapped from its file) pins read-only. */
static bool
cuda_pin(void *ctx, void *p, size_t bytes)
{
	(void)ctx;
	if (cudaHostRegister(p, bytes, cudaHostRegisterPortable) == cudaSuccess ||
	    cudaHostRegister(p, bytes, cudaHostRegisterPortable | cudaHostRegisterReadOnly) == cudaSuccess)
		return true;
	cudaGetLastError(); /* not pinned: copies are synchronous, no more */
	return false;
}

static void
cuda_unpin(void *ctx, void *p)
{
	(void)ctx;
	cudaHostUnregister(p);
}

static void *
cuda_stream(void *ctx, int gpu)
{
	CudaStream *st = calloc(1, sizeof *st);

	if (!st)
		return NULL;
	st->device = cuda_device(ctx, gpu);
	if (cudaSetDevice(st->device) != cudaSuccess ||
	    cudaStreamCreateWithFlags(&st->s, cudaStreamNonBlocking) != cudaSuccess) {
		free(st);
		return NULL;
	}
	return st;
}

static void
cuda_stream_free(void *ctx, void *stream)
{
	CudaStream *st = stream;

	(void)ctx;
	cudaSetDevice(st->device);
	cudaStreamSynchronize(st->s);
	for (size_t i = 0; i < st->n; i++)
		cudaEventDestroy(st->ev[(st->head + i) % st->cap]);
	for (size_t i = 0; i < st->nspare; i++)
		cudaEventDestroy(st->spare[i]);
	if (st->blas)
		cublasDestroy(st->blas);
	cudaStreamDestroy(st->s);
	free(st->ev);
	free(st->spare);
	free(st);
}

/* The stream's cuBLAS handle, made on first use. */
static const char *
cuda_blas(CudaCtx *c, CudaStream *st)
{
	if (st->blas)
		return NULL;
	if (cublasCreate(&st->blas) != CUBLAS_STATUS_SUCCESS) {
		st->blas = NULL;
		return "cublasCreate";
	}
	if (cublasSetStream(st->blas, st->s) != CUBLAS_STATUS_SUCCESS ||
	    cublasSetMathMode(st->blas, c->k->tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH) !=
	            CUBLAS_STATUS_SUCCESS)
		return "cublasSetStream";
	return NULL;
}

/* A launch's timing events, the first recorded on st; NULL after a
 * message in c->err. */
static CudaTimed *
cuda_timed(CudaCtx *c, CudaStream *st)
{
	if (c->ntimed == c->captimed) {
		size_t cap = c->captimed ? 2 * c->captimed : 64;
		CudaTimed *tm = realloc(c->timed, cap * sizeof *tm);
		if (!tm) {
			snprintf(c->err, sizeof c->err, "malloc (the kernels' timing events)");
			return NULL;
		}
		c->timed = tm;
		c->captimed = cap;
	}
	CudaTimed *tm = &c->timed[c->ntimed];
	tm->device = st->device;
	if (cuda_failed(c, cudaEventCreate(&tm->start), "cudaEventCreate"))
		return NULL;
	if (cuda_failed(c, cudaEventCreate(&tm->stop), "cudaEventCreate")) {
		cudaEventDestroy(tm->start);
		return NULL;
	}
	c->ntimed++;
	if (cuda_failed(c, cudaEventRecord(tm->start, st->s), "cudaEventRecord"))
		return NULL;
	return tm;
}

/* The launches' kernel time, from their events (done: gpu.c asks once
 * the run's marks are all passed). */
static double
cuda_kernel_time(void *ctx)
{
	CudaCtx *c = ctx;
	double s = 0;

	for (size_t i = 0; i < c->ntimed; i++) {
		CudaTimed *tm = &c->timed[i];
		float ms = 0;
		cudaSetDevice(tm->device);
		if (s >= 0 && cudaEventElapsedTime(&ms, tm->start, tm->stop) == cudaSuccess)
			s += ms * 1e-3;
		else
			s = -1;
		cudaEventDestroy(tm->start);
		cudaEventDestroy(tm->stop);
	}
	cudaGetLastError();
	c->ntimed = 0;
	return s;
}

/* The buffers task's kernel indexes, its views applied (ctx's array,
 * as large as the largest buffer the task uses or views), or NULL. */
static void *const *
cuda_views(CudaCtx *c, const TrartTask *task, void *const *bufs)
{
	int n = 0;

	for (int i = 0; i < task->nuse; i++)
		n = task->use[i] >= n ? task->use[i] + 1 : n;
	for (int i = 0; i < task->nview; i++)
		n = task->view[i].node >= n ? task->view[i].node + 1 : n;
	if (n > c->nlocal) {
		void **grown = realloc(c->local, (size_t)n * sizeof *grown);
		if (!grown) {
			snprintf(c->err, sizeof c->err, "a launch (out of memory for its buffers)");
			return NULL;
		}
		c->local = grown;
		c->nlocal = n;
	}
	return trart_task_bufs(bufs, task, c->local, c->nlocal);
}

static const char *
cuda_launch(void *ctx, void *stream, int t, const TrartTask *task, void *const *bufs)
{
	CudaCtx *c = ctx;
	CudaStream *st = stream;
	const char *bad;
	TrartCudaFn fn;

	if (t < 0 || t >= c->k->ntasks) {
		snprintf(c->err, sizeof c->err, "a launch (task %d of a table of %d: the CUDA file is another "
		         "program's)", t, c->k->ntasks);
		return c->err;
	}
	if (!c->k->launch[t])
		return NULL; /* a row group's member: its group's launcher runs it */
	if ((bad = cuda_failed(c, cudaSetDevice(st->device), "cudaSetDevice")) || (bad = cuda_blas(c, st)))
		return bad;
	/* a function pointer stored as an object pointer (trart.h's table) */
	memcpy(&fn, &c->k->launch[t], sizeof fn);
	if (task->nview > 0 && !(bufs = cuda_views(c, task, bufs)))
		return c->err;
	TrartCudaCall call = {bufs, task->lo, task->hi, t, st->s, st->blas};
	CudaTimed *tm = cuda_timed(c, st);
	if (!tm)
		return c->err;
	bad = fn(&call);
	if (!bad && (bad = cuda_failed(c, cudaEventRecord(tm->stop, st->s), "cudaEventRecord")))
		return bad;
	if (!bad)
		return NULL;
	/* a CUDA call's error has CUDA's words; a cuBLAS call's is its name */
	cudaError_t e = cudaGetLastError();
	if (e != cudaSuccess)
		return cuda_failed(c, e, bad);
	snprintf(c->err, sizeof c->err, "%s", bad);
	return c->err;
}

static const char *
cuda_copy(void *ctx, void *stream, TrartGpuCopy kind, void *dst, const void *src, const TrartPiece *pc)
{
	CudaCtx *c = ctx;
	CudaStream *st = stream;
	int nd = pc->ndim, k = nd - 1;
	const int64_t *shape = pc->dims, *first = pc->dims + nd, *size = pc->dims + 2 * nd;
	int64_t idx[TRART_MAX_RANK] = {0}, width = size[k], pitch = shape[k], outer = 1;
	size_t es = (size_t)pc->elsize;
	const char *bad;

	(void)kind; /* cudaMemcpyDefault: unified addresses say which way */
	if (trart_piece_bytes(pc) == 0)
		return NULL;
	/* trailing dimensions the box covers whole are one row */
	while (k > 0 && size[k] == shape[k]) {
		k--;
		width *= size[k];
		pitch *= shape[k];
	}
	/* k is the row's outermost dimension; k - 1 the copy's height */
	int64_t height = k > 0 ? size[k - 1] : 1;
	for (int d = 0; d < k - 1; d++)
		outer *= size[d];
	if ((bad = cuda_failed(c, cudaSetDevice(st->device), "cudaSetDevice")))
		return bad;
	for (int64_t o = 0; o < outer; o++) {
		int64_t off = 0;
		for (int d = 0; d < nd; d++)
			off = off * shape[d] + first[d] + (d < k - 1 ? idx[d] : 0);
		char *to = (char *)dst + (size_t)off * es;
		const char *from = (const char *)src + (size_t)off * es;
		if (height == 1)
			bad = cuda_failed(c, cudaMemcpyAsync(to, from, (size_t)width * es, cudaMemcpyDefault, st->s),
			                  "cudaMemcpyAsync");
		else
			bad = cuda_failed(c, cudaMemcpy2DAsync(to, (size_t)pitch * es, from, (size_t)pitch * es,
			                                       (size_t)width * es, (size_t)height, cudaMemcpyDefault,
			                                       st->s), "cudaMemcpy2DAsync");
		if (bad)
			return bad;
		for (int d = k - 2; d >= 0 && ++idx[d] == size[d]; d--)
			idx[d] = 0;
	}
	return NULL;
}

static const char *
cuda_copy_flat(void *ctx, void *stream, TrartGpuCopy kind, void *dst, const void *src, size_t bytes)
{
	CudaCtx *c = ctx;
	CudaStream *st = stream;
	const char *bad;

	(void)kind;
	if ((bad = cuda_failed(c, cudaSetDevice(st->device), "cudaSetDevice")))
		return bad;
	return cuda_failed(c, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, st->s), "cudaMemcpyAsync");
}

/* Room for one more mark in the stream's ring. */
static bool
cuda_grow(CudaStream *st)
{
	if (st->n < st->cap)
		return true;
	size_t cap = st->cap ? 2 * st->cap : 16;
	cudaEvent_t *ev = malloc(cap * sizeof *ev);
	cudaEvent_t *spare = realloc(st->spare, cap * sizeof *spare);
	if (!ev || !spare) {
		free(ev);
		if (spare)
			st->spare = spare;
		return false;
	}
	for (size_t i = 0; i < st->n; i++)
		ev[i] = st->ev[(st->head + i) % st->cap];
	free(st->ev);
	st->ev = ev;
	st->spare = spare;
	st->head = 0;
	st->cap = cap;
	return true;
}

static const char *
cuda_record(void *ctx, void *stream, uint64_t *mark)
{
	CudaCtx *c = ctx;
	CudaStream *st = stream;
	cudaEvent_t e;
	const char *bad;

	if (!cuda_grow(st))
		return "malloc (the events of a stream)";
	if ((bad = cuda_failed(c, cudaSetDevice(st->device), "cudaSetDevice")))
		return bad;
	if (st->nspare > 0)
		e = st->spare[--st->nspare];
	else if ((bad = cuda_failed(c, cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreate")))
		return bad;
	if ((bad = cuda_failed(c, cudaEventRecord(e, st->s), "cudaEventRecord"))) {
		cudaEventDestroy(e);
		return bad;
	}
	st->ev[(st->head + st->n) % st->cap] = e;
	*mark = st->first + st->n++;
	return NULL;
}

static int
cuda_reached(void *ctx, void *stream, uint64_t mark, const char **failed)
{
	CudaCtx *c = ctx;
	CudaStream *st = stream;

	if (mark < st->first)
		return 1;
	if (mark >= st->first + st->n)
		return 0; /* not recorded: never asked by gpu.c */
	cudaError_t e = cudaEventQuery(st->ev[(st->head + (size_t)(mark - st->first)) % st->cap]);
	if (e == cudaErrorNotReady)
		return 0;
	if (e != cudaSuccess) {
		*failed = cuda_failed(c, e, "a kernel or copy (cudaEventQuery)");
		return -1;
	}
	/* this mark and every earlier one of the stream are passed */
	while (st->first <= mark) {
		st->spare[st->nspare++] = st->ev[st->head];
		st->head = (st->head + 1) % st->cap;
		st->n--;
		st->first++;
	}
	return 1;
}

static const TrartGpuOps cuda_ops = {
	"CUDA GPU", cuda_open, cuda_close, cuda_alloc, cuda_free, cuda_host_alloc, cuda_host_free, cuda_pin,
	cuda_unpin, cuda_stream, cuda_stream_free, cuda_launch, cuda_copy, cuda_copy_flat, cuda_record, cuda_reached,
	cuda_kernel_time, &cuda_ctx,
};

int
trart_cuda_main(const TrartProgram *p, const TrartCudaKernels *k, int argc, char **argv)
{
	cuda_ctx.k = k;
	trart_gpu_set_device(&cuda_ops);
	return trart_main(p, argc, argv);
}
