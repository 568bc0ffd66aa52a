/* rt_prog.c: a hand-written stand-in for a program trac generates, so
 * the runtime's command line, executor and worker pool can be tested
 * (by tests/runtime.sh) without the code generator. It is what trac
 * would make of
 *
 *   input X[5, 3], s
 *   input Z[4] f64
 *   T[i, j] = X[i, j] * s
 *   Y[i] = sum[j](T[i, j])
 *   output Y, Z
 *
 * with T a temporary, Z an input passed through as an output (an
 * INOUT), and both kernels splitting their rows with trart_parallel_for
 * so that every --threads count cuts the loops differently. Each result
 * element is computed by one thread, in a fixed order
 * ((T[i,0] + T[i,1]) + T[i,2]), so the output bytes are the same on any
 * number of threads and equal NumPy's float32 arithmetic done the same
 * way.
 *
 * With RT_PROGRAM=spill in the environment it is another program,
 * rt_spill: a block task graph whose memory is planned the way
 * compiler/memgraph.c plans it, an arena and a spill file, so that
 * sched.c's arena mode and spill.c's memory tasks can be tested without
 * the compiler. Per block k of four (RT_SPILL_N elements each):
 *
 *   B_k = X_k * 2 + 1      written at arena offset k * RT_SPILL_BYTES
 *   offload B_k            to slot k of the spill file
 *   free B_k, alloc C_k    (order only)
 *   C_k = -X_k - 7         written where B_k was (ordered after the offload)
 *   reload B_k             to offset RT_SPILL_REGION + k * RT_SPILL_BYTES
 *   Y_k = B_k, W_k = C_k   checking every element of B_k, and that B_k
 *                          is where the reload put it
 *
 * B and C are not tensors of the program: their buffers lie past the
 * caller's (TrartTaskGraph.ncaller), as a split reduction's partial
 * blocks do. After a run it prints, on stdout, what the memory tasks
 * moved against what the plan offloads in one run, and it fails (status
 * 1) if a consumer found B_k wrong.
 *
 * With RT_PROGRAM=outofcore it is rt_ooc: a planned graph that reads its
 * input X[4, RT_OOC_N] and writes its output Y out of core, a row block
 * at a time, as compiler/memgraph.c plans a tensor too large for memory.
 * Per row k:
 *
 *   read X_k      (I/O thread) its room at arena offset k * RT_OOC_BYTES
 *   claim Y_k     its room at RT_OOC_REGION + k * RT_OOC_BYTES
 *   Y_k = 3 X_k - 1
 *   drop X_k
 *   write Y_k     (I/O thread)
 *
 * A row is not a whole number of pages, so a drop lets go of pages the
 * next row's kernel may still read (they come back from the file). In
 * the environment, RT_OOC_SLEEP=MS makes each kernel sleep that long
 * first (a run to interrupt), and RT_OOC_FAIL makes row 2's kernel end
 * the program through trart_fatal, as an error mid-run would. After a
 * run it prints what the plan reads and writes in one run against what
 * the memory tasks did.
 */
#include "trart.h"
#include "exec.h" /* trart_spill_stats */

#define _POSIX_C_SOURCE 200809L /* nanosleep */

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The tensors, indexing the buffers the kernels get. */
enum {
	RT_X,        /* input X[5, 3] f32 */
	RT_S,        /* input s, a scalar f32 */
	RT_T,        /* temp T[5, 3] f32 = X * s */
	RT_Y,        /* output Y[5] f32 = row sums of T */
	RT_Z,        /* input and output Z[4] f64, passed through */
	RT_NTENSORS,
};

#define RT_ROWS 5
#define RT_COLS 3

static const int64_t rt_shape_x[] = {RT_ROWS, RT_COLS};
static const int64_t rt_shape_y[] = {RT_ROWS};
static const int64_t rt_shape_z[] = {4};

static const TrartTensor rt_tensors[RT_NTENSORS] = {
	[RT_X] = {"X", TRART_F32, 2, rt_shape_x, TRART_INPUT},
	[RT_S] = {"s", TRART_F32, 0, NULL, TRART_INPUT},
	[RT_T] = {"T", TRART_F32, 2, rt_shape_x, TRART_TEMP},
	[RT_Y] = {"Y", TRART_F32, 1, rt_shape_y, TRART_OUTPUT},
	[RT_Z] = {"Z", TRART_F64, 1, rt_shape_z, TRART_INOUT},
};

/* T[i, j] = X[i, j] * s for the rows [lo, hi). */
static void
rt_scale_rows(int64_t lo, int64_t hi, void *ctx)
{
	void *const *bufs = ctx;
	const float *x = bufs[RT_X];
	float s = *(const float *)bufs[RT_S], *t = bufs[RT_T];
	int64_t k;

	for (k = lo * RT_COLS; k < hi * RT_COLS; k++)
		t[k] = x[k] * s;
}

/* Y[i] = (T[i, 0] + T[i, 1]) + T[i, 2] for the rows [lo, hi). */
static void
rt_sum_rows(int64_t lo, int64_t hi, void *ctx)
{
	void *const *bufs = ctx;
	const float *t = bufs[RT_T];
	float *y = bufs[RT_Y];
	int64_t i;

	for (i = lo; i < hi; i++)
		y[i] = (t[i * RT_COLS] + t[i * RT_COLS + 1]) + t[i * RT_COLS + 2];
}

static void
rt_kernel_t(void *const *bufs)
{
	trart_parallel_for(RT_ROWS, rt_scale_rows, (void *)bufs);
}

static void
rt_kernel_y(void *const *bufs)
{
	trart_parallel_for(RT_ROWS, rt_sum_rows, (void *)bufs);
}

static const TrartKernel rt_kernels[] = {
	/* 15 products; reads X and s, writes T */
	{"T", rt_kernel_t, RT_T, 15, (15 + 1 + 15) * 4},
	/* 10 additions; reads T, writes Y */
	{"Y", rt_kernel_y, RT_Y, 10, (15 + 5) * 4},
};

static const TrartProgram rt_program = {
	"rt_prog", "test", RT_NTENSORS, rt_tensors,
	(int)(sizeof rt_kernels / sizeof rt_kernels[0]), rt_kernels, NULL,
};

/* ---- rt_spill: a planned graph, an arena and a spill file ---- */

#define RT_SPILL_BLOCKS 4
#define RT_SPILL_N 65536                  /* elements of a block */
#define RT_SPILL_BYTES (RT_SPILL_N * 4)   /* bytes of a block */
#define RT_SPILL_REGION (RT_SPILL_BLOCKS * RT_SPILL_BYTES) /* where reloads go */
#define RT_SPILL_TASKS 7                  /* tasks per block */

/* The buffers: the program's tensors first, then B_k and C_k. */
enum {
	RS_X,        /* input X[4 * RT_SPILL_N] f32 */
	RS_Y,        /* output Y[4 * RT_SPILL_N] f32: B as its consumers found it */
	RS_W,        /* output W[4 * RT_SPILL_N] f32: C */
	RS_NTENSORS,
	RS_B = RS_NTENSORS,                /* B_k: RS_B + k */
	RS_C = RS_B + RT_SPILL_BLOCKS,     /* C_k: RS_C + k */
	RS_NBUFS = RS_C + RT_SPILL_BLOCKS,
};

/* A block's tasks, at 7 k + these. */
enum { RS_MAKE_B, RS_OFFLOAD, RS_FREE, RS_ALLOC, RS_MAKE_C, RS_RELOAD, RS_USE };

static const int64_t rs_shape[] = {RT_SPILL_BLOCKS * RT_SPILL_N};

static const TrartTensor rs_tensors[RS_NTENSORS] = {
	[RS_X] = {"X", TRART_F32, 1, rs_shape, TRART_INPUT},
	[RS_Y] = {"Y", TRART_F32, 1, rs_shape, TRART_OUTPUT},
	[RS_W] = {"W", TRART_F32, 1, rs_shape, TRART_OUTPUT},
};

/* Elements of B a consumer found wrong, and blocks not where the reload
 * put them. */
static atomic_int rs_bad_values, rs_bad_places;

/* The block a task is of (its lo is the block's first element). */
static int
rs_block(const TrartTask *t)
{
	return (int)(t->lo[0] / RT_SPILL_N);
}

static void
rs_make_b(void *const *bufs, const TrartTask *t)
{
	int k = rs_block(t), i;
	const float *x = (const float *)bufs[RS_X] + k * RT_SPILL_N;
	float *b = bufs[RS_B + k];

	for (i = 0; i < RT_SPILL_N; i++)
		b[i] = x[i] * 2.0f + 1.0f; /* x * 2 is exact: fused or not, alike */
}

static void
rs_make_c(void *const *bufs, const TrartTask *t)
{
	int k = rs_block(t), i;
	const float *x = (const float *)bufs[RS_X] + k * RT_SPILL_N;
	float *c = bufs[RS_C + k];

	for (i = 0; i < RT_SPILL_N; i++)
		c[i] = -x[i] - 7.0f;
}

/* Y_k = B_k and W_k = C_k, checking B_k against X_k, and that the
 * reload moved it RT_SPILL_REGION past C_k (which sits where B_k was). */
static void
rs_use(void *const *bufs, const TrartTask *t)
{
	int k = rs_block(t), i, bad = 0;
	const float *x = (const float *)bufs[RS_X] + k * RT_SPILL_N;
	const float *b = bufs[RS_B + k], *c = bufs[RS_C + k];
	float *y = (float *)bufs[RS_Y] + k * RT_SPILL_N;
	float *w = (float *)bufs[RS_W] + k * RT_SPILL_N;

	if ((const char *)b - (const char *)c != RT_SPILL_REGION)
		atomic_fetch_add(&rs_bad_places, 1);
	for (i = 0; i < RT_SPILL_N; i++) {
		bad += b[i] != x[i] * 2.0f + 1.0f;
		y[i] = b[i];
		w[i] = c[i];
	}
	atomic_fetch_add(&rs_bad_values, bad);
}

/* The graph's tables, filled in by rs_graph. */
static TrartTask rs_tasks[RT_SPILL_BLOCKS * RT_SPILL_TASKS];
static TrartMemOp rs_ops[RT_SPILL_BLOCKS][4];
static int rs_succ[RT_SPILL_BLOCKS][RT_SPILL_TASKS][2];
static int rs_use_of[RT_SPILL_BLOCKS][RT_SPILL_TASKS][4];
static int64_t rs_lo[RT_SPILL_BLOCKS], rs_hi[RT_SPILL_BLOCKS];
static size_t rs_pooled[RS_NBUFS];
static int64_t rs_offset[RS_NBUFS];

static const TrartTaskGraph rs_graph_tables = {
	RT_SPILL_BLOCKS * RT_SPILL_TASKS, rs_tasks, RS_NBUFS, rs_pooled,
	RS_NTENSORS, 2 * RT_SPILL_REGION, rs_offset, RT_SPILL_REGION,
};

static const TrartProgram rs_program = {
	"rt_spill", "test", RS_NTENSORS, rs_tensors, 0, NULL, &rs_graph_tables,
};

/* Task j of block k: fn (or a memory operation), its successors within
 * the block, its buffers, where it runs and its priority (its b-level). */
static void
rs_task(int k, int j, TrartTaskFn fn, const TrartMemOp *op, int npred,
        const int *succ, int nsucc, const int *use, int nuse, const char *name)
{
	static const double level[] = {6, 5, 4, 3, 2, 2, 1};
	TrartTask *t = &rs_tasks[k * RT_SPILL_TASKS + j];
	int i;

	for (i = 0; i < nsucc; i++)
		rs_succ[k][j][i] = k * RT_SPILL_TASKS + succ[i];
	memcpy(rs_use_of[k][j], use, (size_t)nuse * sizeof *use);
	*t = (TrartTask){
		.fn = op ? trart_mem_task : fn, .lo = &rs_lo[k], .hi = &rs_hi[k],
		.ndim = 1, .name = name, .device = k + j, .priority = level[j],
		.npred = npred, .nsucc = nsucc, .succ = rs_succ[k][j],
		.flops = op ? 0 : RT_SPILL_N, .bytes = 2 * RT_SPILL_BYTES,
		.nuse = nuse, .use = rs_use_of[k][j], .out_bytes = RT_SPILL_BYTES,
		.mem = op,
	};
}

/* Fills in the tables of block k. */
static void
rs_block_tasks(int k)
{
	const int b = RS_B + k, c = RS_C + k;
	TrartMemOp *op = rs_ops[k];

	rs_lo[k] = (int64_t)k * RT_SPILL_N;
	rs_hi[k] = rs_lo[k] + RT_SPILL_N;
	rs_pooled[b] = rs_pooled[c] = RT_SPILL_BYTES;
	rs_offset[b] = rs_offset[c] = (int64_t)k * RT_SPILL_BYTES;
	op[0] = (TrartMemOp){TRART_MEM_OFFLOAD, b, 0, RT_SPILL_BYTES, (int64_t)k * RT_SPILL_BYTES};
	op[1] = (TrartMemOp){TRART_MEM_FREE, b, 0, 0, 0};
	op[2] = (TrartMemOp){TRART_MEM_ALLOC, c, 0, 0, 0};
	op[3] = (TrartMemOp){TRART_MEM_RELOAD, b, RT_SPILL_REGION + (int64_t)k * RT_SPILL_BYTES,
	                     RT_SPILL_BYTES, (int64_t)k * RT_SPILL_BYTES};
	rs_task(k, RS_MAKE_B, rs_make_b, NULL, 0, (int[]){RS_OFFLOAD}, 1,
	        (int[]){RS_X, b}, 2, "B");
	rs_task(k, RS_OFFLOAD, NULL, &op[0], 1, (int[]){RS_FREE, RS_RELOAD}, 2,
	        (int[]){b}, 1, "B");
	rs_task(k, RS_FREE, NULL, &op[1], 1, (int[]){RS_ALLOC}, 1, NULL, 0, "B");
	rs_task(k, RS_ALLOC, NULL, &op[2], 1, (int[]){RS_MAKE_C}, 1, NULL, 0, "C");
	rs_task(k, RS_MAKE_C, rs_make_c, NULL, 1, (int[]){RS_USE}, 1,
	        (int[]){RS_X, c}, 2, "C");
	rs_task(k, RS_RELOAD, NULL, &op[3], 1, (int[]){RS_USE}, 1, (int[]){b}, 1, "B");
	rs_task(k, RS_USE, rs_use, NULL, 2, NULL, 0, (int[]){b, c, RS_Y, RS_W}, 4, "Y");
}

/* rt_spill's main: the run, then its checks and counts. */
static int
rs_main(int argc, char **argv)
{
	TrartSpillStats st;
	int k, rc;

	for (k = 0; k < RT_SPILL_BLOCKS; k++)
		rs_block_tasks(k);
	rc = trart_main(&rs_program, argc, argv);
	if (rc == 0 && (atomic_load(&rs_bad_values) || atomic_load(&rs_bad_places))) {
		fprintf(stderr, "rt_spill: B came back wrong: %d elements differ, "
		        "%d blocks misplaced\n", atomic_load(&rs_bad_values),
		        atomic_load(&rs_bad_places));
		rc = 1;
	}
	trart_spill_stats(&st);
	if (st.offloads > 0) /* not after --help, or a run that failed first */
		printf("spill: plan %d bytes a run; arena %lld; offloaded %lld bytes "
		       "in %lld blocks; reloaded %lld bytes in %lld blocks\n",
		       RT_SPILL_REGION, (long long)st.arena, (long long)st.offloaded,
		       (long long)st.offloads, (long long)st.reloaded,
		       (long long)st.reloads);
	return rc;
}

/* ---- rt_ooc: an input and an output out of core ---- */

#define RT_OOC_ROWS 4
#define RT_OOC_N 40000                        /* elements of a row */
#define RT_OOC_BYTES (RT_OOC_N * 4)           /* a row's bytes (a multiple of 64) */
#define RT_OOC_REGION (RT_OOC_ROWS * RT_OOC_BYTES) /* where Y's rooms start */
#define RT_OOC_TASKS 5                        /* tasks per row */

enum { RO_X, RO_Y, RO_NTENSORS };

/* A row's tasks, at 5 k + these. */
enum { RO_READ, RO_CLAIM, RO_COMPUTE, RO_DROP, RO_WRITE };

static const int64_t ro_shape[] = {RT_OOC_ROWS, RT_OOC_N};

static const TrartTensor ro_tensors[RO_NTENSORS] = {
	[RO_X] = {"X", TRART_F32, 2, ro_shape, TRART_INPUT},
	[RO_Y] = {"Y", TRART_F32, 2, ro_shape, TRART_OUTPUT},
};

static TrartTask ro_tasks[RT_OOC_ROWS * RT_OOC_TASKS];
static TrartMemOp ro_ops[RT_OOC_ROWS][4];
static int ro_succ[RT_OOC_ROWS][RT_OOC_TASKS][2];
static int64_t ro_lo[RT_OOC_ROWS][2], ro_hi[RT_OOC_ROWS][2];
static const size_t ro_pooled[RO_NTENSORS];  /* none: both are the caller's */
static const int64_t ro_offset[RO_NTENSORS];
static const int ro_use[] = {RO_X, RO_Y};
static long ro_sleep_ms;  /* RT_OOC_SLEEP */
static bool ro_fail;      /* RT_OOC_FAIL */

static const TrartTaskGraph ro_graph = {
	RT_OOC_ROWS * RT_OOC_TASKS, ro_tasks, RO_NTENSORS, ro_pooled,
	RO_NTENSORS, 2 * RT_OOC_REGION, ro_offset, 0,
};

static const TrartProgram ro_program = {
	"rt_ooc", "test", RO_NTENSORS, ro_tensors, 0, NULL, &ro_graph,
};

/* Y_k = 3 X_k - 1 (3 x is exact for the test's values: fused or not). */
static void
ro_compute(void *const *bufs, const TrartTask *t)
{
	int64_t k = t->lo[0], i;
	const float *x = (const float *)bufs[RO_X] + k * RT_OOC_N;
	float *y = (float *)bufs[RO_Y] + k * RT_OOC_N;

	if (ro_sleep_ms > 0)
		nanosleep(&(struct timespec){ro_sleep_ms / 1000,
		                             ro_sleep_ms % 1000 * 1000000}, NULL);
	if (ro_fail && k == 2)
		trart_fatal("rt_ooc: row 2 fails, as RT_OOC_FAIL asks");
	for (i = 0; i < RT_OOC_N; i++)
		y[i] = x[i] * 3.0f - 1.0f;
}

/* Task j of row k: a kernel or a memory operation, its successors. */
static void
ro_task(int k, int j, const TrartMemOp *op, int npred, const int *succ,
        int nsucc, const char *name)
{
	static const double level[] = {3, 3, 2, 1, 1};
	TrartTask *t = &ro_tasks[k * RT_OOC_TASKS + j];
	int i;

	for (i = 0; i < nsucc; i++)
		ro_succ[k][j][i] = k * RT_OOC_TASKS + succ[i];
	*t = (TrartTask){
		.fn = op ? trart_mem_task : ro_compute, .lo = ro_lo[k],
		.hi = ro_hi[k], .ndim = 2, .name = name, .device = k,
		.priority = level[j], .npred = npred, .nsucc = nsucc,
		.succ = ro_succ[k][j], .flops = op ? 0 : 2 * RT_OOC_N,
		.bytes = 2 * RT_OOC_BYTES, .nuse = op ? 0 : 2, .use = ro_use,
		.out_bytes = RT_OOC_BYTES, .mem = op,
	};
}

static void
ro_row_tasks(int k)
{
	const int64_t at = (int64_t)k * RT_OOC_BYTES;
	TrartMemOp *op = ro_ops[k];

	ro_lo[k][0] = k;
	ro_hi[k][0] = k + 1;
	ro_hi[k][1] = RT_OOC_N;
	op[0] = (TrartMemOp){TRART_MEM_READ, RO_X, at, RT_OOC_BYTES, at};
	op[1] = (TrartMemOp){TRART_MEM_CLAIM, RO_Y, RT_OOC_REGION + at, RT_OOC_BYTES, at};
	op[2] = (TrartMemOp){TRART_MEM_DROP, RO_X, at, RT_OOC_BYTES, at};
	op[3] = (TrartMemOp){TRART_MEM_WRITE, RO_Y, RT_OOC_REGION + at, RT_OOC_BYTES, at};
	ro_task(k, RO_READ, &op[0], 0, (int[]){RO_COMPUTE}, 1, "X");
	ro_task(k, RO_CLAIM, &op[1], 0, (int[]){RO_COMPUTE}, 1, "Y");
	ro_task(k, RO_COMPUTE, NULL, 2, (int[]){RO_DROP, RO_WRITE}, 2, "Y");
	ro_task(k, RO_DROP, &op[2], 1, NULL, 0, "X");
	ro_task(k, RO_WRITE, &op[3], 1, NULL, 0, "Y");
}

/* rt_ooc's main: the run, then what the memory tasks read and wrote. */
static int
ro_main(int argc, char **argv)
{
	const char *sleep_ms = getenv("RT_OOC_SLEEP");
	TrartSpillStats st;
	int k, rc;

	ro_sleep_ms = sleep_ms ? atol(sleep_ms) : 0;
	ro_fail = getenv("RT_OOC_FAIL") != NULL;
	for (k = 0; k < RT_OOC_ROWS; k++)
		ro_row_tasks(k);
	rc = trart_main(&ro_program, argc, argv);
	trart_spill_stats(&st);
	if (st.arena > 0) /* it ran */
		printf("outofcore: plan %d bytes read and %d written a run; "
		       "read %lld bytes in %lld blocks; written %lld bytes in "
		       "%lld blocks\n", RT_OOC_REGION, RT_OOC_REGION,
		       (long long)st.read, (long long)st.reads,
		       (long long)st.written, (long long)st.writes);
	return rc;
}

int
main(int argc, char **argv)
{
	const char *which = getenv("RT_PROGRAM");

	if (which && strcmp(which, "spill") == 0)
		return rs_main(argc, argv);
	if (which && strcmp(which, "outofcore") == 0)
		return ro_main(argc, argv);
	return trart_main(&rt_program, argc, argv);
}
