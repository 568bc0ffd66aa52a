/* codegen/cuda.c: the CUDA back end's kernels (--emit=cuda).
 * needs: a verified TraGraph and its placed task graph (block tasks),
 * whose kernels it plans with kplan_build. gives: a CUDA C file with a
 * launcher per block kernel and a table of them per task, for the GPU
 * runtime to call.
 *
 * What each block runs was decided in compiler/kplan.c and gemm.c; this
 * file renders those plans for a GPU, and prints each element's scalar
 * code with the C back end's functions (codegen/c.h), so that the two
 * back ends compute the same element the same way:
 *
 *   - Loops (a join, a map, a reduction): a grid-stride kernel, one
 *     thread per element of the block's output (or of its partial block,
 *     in the same C order as the C back end's), the thread running the
 *     plan's reduction loops over the block's ranges; a long sum in
 *     blocks summed pairwise, as on the CPU, so that f32 sums are as
 *     accurate. Consecutive threads take consecutive last indices, so a
 *     column reduction's reads coalesce.
 *   - BLAS: cuBLAS calls, one per outer K element and looped batch
 *     element but the innermost batch index's, which is one
 *     cublas?gemmStridedBatched call (gemv: a call each), on the
 *     operands in place or on copies of their blocks in the plan's
 *     layout (a copy kernel into memory taken from the stream's pool),
 *     then the epilogue kernel. cuBLAS is column major: a row-major
 *     C = op(A) op(B) is the column-major C^T = op(B)^T op(A)^T, so A and
 *     B, M and N swap places. TF32 only with --tf32 (the runtime sets
 *     the handle's math mode).
 *   - A split reduction's aggregation: a kernel per partial block, in the
 *     task's order, folding it into the output; the last applies the
 *     epilogue.
 *   - A row group: one kernel, a CUDA block per row of the task's rows,
 *     running the members in turn over its row, a __syncthreads()
 *     between them; a member's reduction along a row a warp's per
 *     element, or the whole block's where the row has one. A row of an
 *     input that several members read is staged in shared memory first
 *     (CgCudaStage), so global memory is read once.
 *
 * The interface a launcher offers the runtime is runtime/trart_cuda.h's
 * TrartCudaCall and TrartCudaFn, which the file includes: the buffers'
 * device addresses by buffer id (tensors by node id, then partial
 * blocks by task), the task's block, its stream and cuBLAS handle; it
 * returns NULL, or the name of the CUDA or cuBLAS call that failed. The
 * table trac_cuda_tasks holds them as const void * (C's main declares
 * it too, codegen/c.c's cg_c_cuda_main); runtime/cuda.c calls them.
 */
#include "c.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Threads per block of every element kernel. */
#define CG_CUDA_THREADS 256

/* ---- the prelude ------------------------------------------------------------ */

/* The head of the CUDA file: gathered positions, and the
 * element functions that trart.h's TRART_KERNEL_MATH gives the CPU, as
 * CUDA's own (accurate to a few ulp, as the CPU's are; sigmoid and sign
 * in trart.h's forms); codegen/c.c's helpers follow it (cg_c_helpers_text,
 * as device functions), then the launchers' interface. */
static const char cg_cuda_prelude_text[] =
	"#include <math.h>\n"
	"#include <stdint.h>\n"
	"#include <stdio.h>\n"
	"#include <cuda_runtime.h>\n"
	"#include <trart_cuda.h> /* TrartCudaCall: what the runtime gives a launcher */\n"
	"\n"
	"#define TRAC_D __device__ __forceinline__\n"
	"#define TRAC_FN TRAC_D /* codegen/c.c's helpers, on the device */\n"
	"#define TRAC_UNUSED __attribute__((unused)) /* a buffer or index some element does not use */\n"
	"/* a gather's position, checked: out of range ends the kernel */\n"
	"TRAC_D int64_t trac_gather(int64_t v, int64_t size, const char *index, int rank, const int64_t *shape,\n"
	"                           int64_t at, const char *table, int dim)\n"
	"{\n"
	"\t(void)rank; (void)shape;\n"
	"\tif ((uint64_t)v >= (uint64_t)size) {\n"
	"\t\tprintf(\"error: %s[%lld] = %lld is outside %s's dimension %d (0 to %lld)\\n\", index,\n"
	"\t\t       (long long)at, (long long)v, table, dim, (long long)size - 1);\n"
	"\t\t__trap();\n"
	"\t}\n"
	"\treturn v;\n"
	"}\n"
	"#define TRAC_MATH(T, S)                                                            \\\n"
	"TRAC_D T trart_exp_##T(T x) { return exp##S(x); }                                 \\\n"
	"TRAC_D T trart_log_##T(T x) { return log##S(x); }                                 \\\n"
	"TRAC_D T trart_tanh_##T(T x) { return tanh##S(x); }                               \\\n"
	"TRAC_D T trart_pow_##T(T x, T y) { return pow##S(x, y); }                         \\\n"
	"TRAC_D T trart_sigmoid_##T(T x) { T e = exp##S(-fabs##S(x)); return (x < 0 ? e : (T)1) / ((T)1 + e); } \\\n"
	"TRAC_D T trart_sin_##T(T x) { return sin##S(x); }                                 \\\n"
	"TRAC_D T trart_cos_##T(T x) { return cos##S(x); }                                 \\\n"
	"TRAC_D T trart_exp2_##T(T x) { return exp2##S(x); }                               \\\n"
	"TRAC_D T trart_log2_##T(T x) { return log2##S(x); }                               \\\n"
	"TRAC_D T trart_expm1_##T(T x) { return expm1##S(x); }                             \\\n"
	"TRAC_D T trart_log1p_##T(T x) { return log1p##S(x); }                             \\\n"
	"TRAC_D T trart_rsqrt_##T(T x) { return (T)1 / sqrt##S(x); }                       \\\n"
	"TRAC_D T trart_erf_##T(T x) { return erf##S(x); }                                 \\\n"
	"TRAC_D T trart_sign_##T(T x) { return x > 0 ? (T)1 : x < 0 ? (T)-1 : x; }\n"
	"TRAC_MATH(float, f)\n"
	"TRAC_MATH(double, )\n"
	"\n"
	"/* a launch's or an enqueued call's error, named */\n"
	"inline const char *trac_launched(const char *what)\n"
	"{\n"
	"\treturn cudaGetLastError() == cudaSuccess ? NULL : what;\n"
	"}\n"
	"\n";

/* The box type kernels get their block in, by value: lo and hi for
 * every index of the program's largest join space. */
static int cg_cuda_box_indices(const TraGraph *g)
{
	int most = 1;
	for (int id = 0; id < g->nnodes; id++)
		if (g->nodes[id].nidx > most)
			most = g->nodes[id].nidx;
	return most;
}

static void cg_cuda_prelude(CgC *c)
{
	fputs(cg_cuda_prelude_text, c->out);
	fputs(cg_c_helpers_text, c->out);
	fprintf(c->out, "/* blocks for count elements, %d threads each (grid-stride loops\n"
	        "   cover the rest) */\n"
	        "inline unsigned trac_grid(int64_t count)\n{\n"
	        "\tint64_t b = (count + %d - 1) / %d;\n"
	        "\treturn b < 1 ? 1u : b > 65535 ? 65535u : (unsigned)b;\n}\n\n",
	        CG_CUDA_THREADS, CG_CUDA_THREADS, CG_CUDA_THREADS);
	int nx = cg_cuda_box_indices(c->g);
	fprintf(c->out, "typedef struct TracBox { int64_t lo[%d], hi[%d]; } TracBox;\n\n", nx, nx);
	fprintf(c->out, "/* a box from a task's lo and hi over n indices */\n"
	        "inline TracBox trac_box(const int64_t *lo, const int64_t *hi, int n)\n{\n"
	        "\tTracBox b;\n\tmemset(&b, 0, sizeof b);\n"
	        "\tfor (int i = 0; i < n; i++) {\n\t\tb.lo[i] = lo[i];\n\t\tb.hi[i] = hi[i];\n\t}\n"
	        "\treturn b;\n}\n\n");
}

/* ---- element kernels -------------------------------------------------------- */

/* The element's indices xs[0..m-1] (C order, the last fastest) from the
 * flat position e in the box, at depth 2 (an index of extent 1 in every
 * operand is in no offset: TRAC_UNUSED). */
static void cg_cuda_unflatten(CgC *c, const int *xs, int m)
{
	if (m == 0)
		return;
	fputs("\t\tint64_t r = e;\n", c->out);
	for (int j = m - 1; j > 0; j--) {
		int x = xs[j];
		fprintf(c->out, "\t\tint64_t x%d TRAC_UNUSED = lo[%d] + r %% (hi[%d] - lo[%d]);\n"
		        "\t\tr /= hi[%d] - lo[%d];\n", x, x, x, x, x, x);
	}
	fprintf(c->out, "\t\tint64_t x%d TRAC_UNUSED = lo[%d] + r;\n", xs[0], xs[0]);
}

/* count = the number of points of the box over xs[0..m-1], as C. */
static void cg_cuda_count(CgC *c, const char *lo, const char *hi, const int *xs, int m)
{
	fputs("1", c->out);
	for (int j = 0; j < m; j++)
		fprintf(c->out, " * (%s[%d] - %s[%d])", hi, xs[j], lo, xs[j]);
}

/* A kernel's body up to its element: the box, and the grid-stride loop
 * over the box's points along xs[0..m-1], each thread's x<i> set; with
 * lanes (CG_LANES), a warp's loop, the warp's lanes on one point. */
static void cg_cuda_grid_loop(CgC *c, const int *xs, int m, int lanes)
{
	fputs("\tconst int64_t *lo TRAC_UNUSED = box.lo, *hi TRAC_UNUSED = box.hi;\n\tint64_t count = ", c->out);
	cg_cuda_count(c, "lo", "hi", xs, m);
	if (lanes > 1)
		fprintf(c->out, ";\n\tconst int lane = threadIdx.x %% %d, nlanes TRAC_UNUSED = %d;\n"
		        "\tfor (int64_t e = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) / %d; e < count;\n"
		        "\t     e += (int64_t)gridDim.x * blockDim.x / %d) {\n", lanes, lanes, lanes, lanes);
	else
		fputs(";\n\tfor (int64_t e = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; e < count;\n"
		      "\t     e += (int64_t)gridDim.x * blockDim.x) {\n", c->out);
	cg_cuda_unflatten(c, xs, m);
}

/* CG_LANES where node n's loop kernel is a warp's per output element:
 * a reduction whose innermost reduced index is the last, contiguous,
 * dimension of every operand that has it, at least a warp long, so that
 * the warp's lanes read consecutive elements; else 1, a thread's (and a
 * column reduction's consecutive threads read consecutive elements). */
static int cg_cuda_lanes(const CgC *c, const TraNode *n)
{
	const KplanNest *L = cg_c_nest(c, n);
	if (L->reduce != KPLAN_RED_SIMD || L->nred == 0)
		return 1;
	int r = L->red[L->nred - 1];
	bool read = false;
	if (n->idx[r].size < CG_LANES)
		return 1;
	for (int k = 0; k < n->nops; k++) {
		const TraOperand *op = &n->ops[k];
		for (int d = 0; d < op->rank; d++) {
			if (op->idx[d] != r)
				continue;
			if (op->aff || d != op->rank - 1)
				return 1;
			read = true;
		}
	}
	return read ? CG_LANES : 1;
}

/* acc combined with v by node n's aggregation (max and min keeping a
 * NaN), a statement. */
static void cg_cuda_combine(CgC *c, const TraNode *n)
{
	const char *t = cg_c_type(n->type);
	switch (n->agg) {
	case TRA_AGG_SUM: fputs("acc += v;\n", c->out); break;
	case TRA_AGG_PROD: fputs("acc *= v;\n", c->out); break;
	case TRA_AGG_MAX: fprintf(c->out, "acc = trac_max_%s(acc, v);\n", t); break;
	case TRA_AGG_MIN: fprintf(c->out, "acc = trac_min_%s(acc, v);\n", t); break;
	default: TRAC_BUG("no lanes combine by %d", (int)n->agg);
	}
}

/* The lanes' accumulators combined into every lane's acc (a butterfly
 * of shuffles), at depth 2. */
static void cg_cuda_warp_combine(CgC *c, const TraNode *n)
{
	fprintf(c->out, "\t\tfor (int o = %d; o > 0; o /= 2) {\n"
	        "\t\t\t%s v = __shfl_xor_sync(0xffffffffu, acc, o);\n\t\t\t", CG_LANES / 2, cg_c_type(n->type));
	cg_cuda_combine(c, n);
	fputs("\t\t}\n", c->out);
}

/* The indices a GEMM matrix M has (extent above 1), into xs; how many. */
static int cg_cuda_matrix_indices(const TraNode *n, const GemmMatrix *M, int *xs)
{
	int m = 0;
	for (int x = 0; x < n->nidx; x++)
		if (M->stride[x] && n->idx[x].size > 1)
			xs[m++] = x;
	return m;
}

/* `__global__ void FN<id>(out, the operands EXTRA, TracBox box) {` */
static void cg_cuda_signature(CgC *c, const TraNode *n, const char *fn, int id, const char *extra)
{
	fprintf(c->out, "__global__ void %s%d(%s *__restrict__ out", fn, id, cg_c_type(n->type));
	for (int k = 0; k < n->nops; k++)
		fprintf(c->out, ", const %s *__restrict__ in%d", cg_c_in_type(c, n, k), k);
	fprintf(c->out, "%s, TracBox box)\n{\n", extra);
}

/* A kernel's opening: its signature (out, the operands, extra), the box,
 * and the grid-stride loop over the points of the output indices (a
 * warp's per point with lanes). */
static void cg_cuda_open_kernel(CgC *c, const TraNode *n, const char *fn, int id, const char *extra, int lanes)
{
	cg_cuda_signature(c, n, fn, id, extra);
	int xs[TRA_MAX_STMT_INDICES];
	for (int d = 0; d < n->rank; d++)
		xs[d] = d;
	cg_cuda_grid_loop(c, xs, n->rank, lanes);
}

static void cg_cuda_close_kernel(CgC *c)
{
	fputs("\t}\n}\n\n", c->out);
}

/* A map's element: out[here] = the join, at depth 2. */
static void cg_cuda_map_element(CgC *c, const TraNode *n)
{
	fputs("\t\tout[", c->out);
	cg_c_out_offset(c, n);
	fputs("] = ", c->out);
	cg_c_expr(c, n, n->join);
	fputs(";\n", c->out);
}

/* k<id>: node n's loop nest over one block (or one row block of a row
 * group's member), one thread per output element (or a warp, lanes
 * taking turns along the innermost reduced index: cg_cuda_lanes): a
 * map's element, or the plan's reduction over the block's ranges into
 * acc, stored with the epilogue, or to part[e] (a split join's partial
 * block). */
static void cg_cuda_loop_kernel(CgC *c, const TraNode *n, int id, bool split)
{
	const char *t = cg_c_type(n->type);
	char extra[64] = "";
	int lanes = cg_cuda_lanes(c, n);
	if (split)
		snprintf(extra, sizeof extra, ", %s *__restrict__ part", t);
	cg_cuda_open_kernel(c, n, "k", id, extra, lanes);
	if (lanes > 1) {
		c->lanes = true;
		cg_c_reduce(c, n, 2, true);
		c->lanes = false;
		cg_cuda_warp_combine(c, n);
		fputs("\t\tif (lane == 0)\n\t\t\t", c->out);
		if (split)
			fputs("part[e] = acc;\n", c->out);
		else
			cg_c_store(c, n);
	} else if (n->agg == TRA_AGG_NONE) {
		cg_cuda_map_element(c, n);
	} else {
		cg_c_reduce(c, n, 2, true);
		cg_c_indent(c, 2);
		if (split)
			fputs("part[e] = acc;\n", c->out);
		else
			cg_c_store(c, n);
	}
	cg_cuda_close_kernel(c);
}

/* p<id>: a GEMM's epilogue over its block, from the result in out. */
static void cg_cuda_epilogue_kernel(CgC *c, const TraNode *n, int id)
{
	cg_cuda_open_kernel(c, n, "p", id, "", 1);
	fprintf(c->out, "\t\t%s acc = out[", cg_c_type(n->type));
	cg_c_out_offset(c, n);
	fputs("];\n\t\t", c->out);
	cg_c_store(c, n);
	cg_cuda_close_kernel(c);
}

/* f<id>: folds one partial block into the output: the first is copied,
 * the later ones combined (max and min through trac_max and trac_min,
 * which keep a NaN as the CPU's flag does), and the last gets the
 * epilogue. */
static void cg_cuda_fold_kernel(CgC *c, const Kplan *k)
{
	const TraNode *n = &c->g->nodes[k->node];
	const char *t = cg_c_type(n->type);
	char extra[96];
	snprintf(extra, sizeof extra, ", const %s *__restrict__ part, int first, int last", t);
	cg_cuda_open_kernel(c, n, "f", k->node, extra, 1);
	fprintf(c->out, "\t\t%s v = part[e], acc = v;\n\t\tif (!first) {\n\t\t\tacc = out[", t);
	cg_c_out_offset(c, n);
	fputs("];\n\t\t\t", c->out);
	switch (k->nest.agg) {
	case TRA_AGG_SUM: fputs("acc += v;\n", c->out); break;
	case TRA_AGG_PROD: fputs("acc *= v;\n", c->out); break;
	case TRA_AGG_MAX: fprintf(c->out, "acc = trac_max_%s(acc, v);\n", t); break;
	case TRA_AGG_MIN: fprintf(c->out, "acc = trac_min_%s(acc, v);\n", t); break;
	default: TRAC_BUG("no split reduction combines by %d", (int)k->nest.agg);
	}
	fputs("\t\t}\n\t\tif (last) {\n\t\t\t", c->out);
	cg_c_store(c, n);
	fputs("\t\t} else {\n\t\t\tout[", c->out);
	cg_c_out_offset(c, n);
	fputs("] = acc;\n\t\t}\n", c->out);
	cg_cuda_close_kernel(c);
}

/* c<id>A, c<id>B: copies operand k's block into the GEMM plan's layout
 * of M (gemm.c's scratch), one thread per element. */
static void cg_cuda_copy_kernel(CgC *c, const TraNode *n, const GemmMatrix *M, int k, const char *name)
{
	int xs[TRA_MAX_STMT_INDICES], m = cg_cuda_matrix_indices(n, M, xs);
	const char *t = cg_c_type(n->type);
	fprintf(c->out, "__global__ void c%d%s(%s *__restrict__ to", (int)(n - c->g->nodes), name, t);
	for (int q = 0; q < n->nops; q++)
		fprintf(c->out, ", const %s *__restrict__ in%d", cg_c_in_type(c, n, q), q);
	fputs(", TracBox box)\n{\n", c->out);
	cg_cuda_grid_loop(c, xs, m, 1);
	fputs("\t\tto[0", c->out);
	for (int j = 0; j < m; j++)
		fprintf(c->out, " + (x%d - lo[%d]) * %" PRId64, xs[j], xs[j], M->stride[xs[j]]);
	fprintf(c->out, "] = in%d[", k);
	cg_c_offset(c, n, k);
	fputs("];\n", c->out);
	cg_cuda_close_kernel(c);
}

/* ---- launchers ---------------------------------------------------------------- */

/* Node n's buffers in a launcher, at depth: out, and in<k> per operand. */
static void cg_cuda_buffers(CgC *c, const TraNode *n, int depth)
{
	const char *t = cg_c_type(n->type);
	cg_c_indent(c, depth);
	fprintf(c->out, "%s *out TRAC_UNUSED = (%s *)call->bufs[%d];\n", t, t, (int)(n - c->g->nodes));
	for (int k = 0; k < n->nops; k++) {
		cg_c_indent(c, depth);
		fprintf(c->out, "const %s *in%d TRAC_UNUSED = (const %s *)call->bufs[%d];\n", cg_c_in_type(c, n, k), k,
		        cg_c_in_type(c, n, k), n->ops[k].node);
	}
}

/* A launcher's opening: the block, the buffers its kernels take. */
static void cg_cuda_open_launcher(CgC *c, const TraNode *n, const char *fn, int id)
{
	fprintf(c->out, "extern \"C\" const char *trac_cuda_%s%d(const TrartCudaCall *call)\n{\n"
	        "\tconst int64_t *lo TRAC_UNUSED = call->lo, *hi TRAC_UNUSED = call->hi;\n", fn, id);
	cg_cuda_buffers(c, n, 1);
}

/* The arguments after out of node n's kernels: its operands. */
static void cg_cuda_operands(CgC *c, const TraNode *n)
{
	for (int k = 0; k < n->nops; k++)
		fprintf(c->out, ", in%d", k);
}

/* `FN<<<grid, threads, 0, stream>>>(out, operands EXTRA, box);` over the
 * output points of box BOX (each a warp's for the loop kernel k<id> of
 * a warp: cg_cuda_lanes), at depth. */
static void cg_cuda_launch(CgC *c, const TraNode *n, const char *fn, int id, const char *extra,
                           const char *box, int depth)
{
	int lanes = strcmp(fn, "k") == 0 ? cg_cuda_lanes(c, n) : 1;
	int xs[TRA_MAX_STMT_INDICES];
	for (int d = 0; d < n->rank; d++)
		xs[d] = d;
	char lo[48], hi[48];
	snprintf(lo, sizeof lo, "%s.lo", box);
	snprintf(hi, sizeof hi, "%s.hi", box);
	cg_c_indent(c, depth);
	fprintf(c->out, "%s%d<<<trac_grid(", fn, id);
	if (lanes > 1)
		fprintf(c->out, "%d * ", lanes);
	cg_cuda_count(c, lo, hi, xs, n->rank);
	fprintf(c->out, "), %d, 0, call->stream>>>(out", CG_CUDA_THREADS);
	cg_cuda_operands(c, n);
	fprintf(c->out, "%s, %s);\n", extra, box);
}

/* trac_cuda_b<id> for a loop nest's block. */
static void cg_cuda_block_loops(CgC *c, const Kplan *k)
{
	const TraNode *n = &c->g->nodes[k->node];
	cg_cuda_loop_kernel(c, n, k->node, k->split);
	cg_cuda_open_launcher(c, n, "b", k->node);
	fprintf(c->out, "\tTracBox box = trac_box(lo, hi, %d);\n", n->nidx);
	if (k->split)
		fprintf(c->out, "\t%s *part = (%s *)call->bufs[%d + call->self];\n", cg_c_type(n->type),
		        cg_c_type(n->type), c->g->nnodes);
	cg_cuda_launch(c, n, "k", k->node, k->split ? ", part" : "", "box", 1);
	fprintf(c->out, "\treturn trac_launched(\"the kernel of %s\");\n}\n\n", n->name);
}

/* s<id>: a scatter-add's nest, one thread per point of its output loops
 * (so that no two threads write one element, and the sums come out in
 * the same order every run), each running the reduced loops over the
 * block (all of the node: decomp never cuts one). */
static void cg_cuda_scatter_kernel(CgC *c, const TraNode *n, const KplanNest *L)
{
	cg_cuda_signature(c, n, "s", (int)(n - c->g->nodes), "");
	/* the thread's loops: the reduced ones, the plan's outermost (its
	 * output loops are the grid's, bound before them, so a position the
	 * plan loads inside one is loaded inside the last reduced loop) */
	KplanNest red = *L;
	int xs[TRA_MAX_STMT_INDICES], m = 0;
	red.norder = L->nred;
	red.vector = -1;
	for (int d = 0; d < n->rank; d++)
		if (red.scatter_at[d] > L->nred)
			red.scatter_at[d] = L->nred;
	for (int i = L->nred; i < L->norder; i++)
		xs[m++] = L->order[i];
	cg_cuda_grid_loop(c, xs, m, 1);
	cg_c_scatter_nest(c, n, &red, true, 2);
	cg_cuda_close_kernel(c);
}

/* trac_cuda_b<id> for a scatter-add: zeros, then s<id>. */
static void cg_cuda_block_scatter(CgC *c, const Kplan *k)
{
	const TraNode *n = &c->g->nodes[k->node];
	const KplanNest *L = &k->nest;
	cg_cuda_scatter_kernel(c, n, L);
	cg_cuda_open_launcher(c, n, "b", k->node);
	fprintf(c->out, "\tTracBox box = trac_box(lo, hi, %d);\n"
	        "\tif (cudaMemsetAsync(out, 0, %" PRId64 ", call->stream) != cudaSuccess)\n"
	        "\t\treturn \"cudaMemsetAsync (%s)\";\n\ts%d<<<trac_grid(", n->nidx,
	        tra_node_elements(n) * (int64_t)trart_dtype_size(n->type), n->name, k->node);
	cg_cuda_count(c, "box.lo", "box.hi", L->order + L->nred, L->norder - L->nred);
	fprintf(c->out, "), %d, 0, call->stream>>>(out", CG_CUDA_THREADS);
	cg_cuda_operands(c, n);
	fprintf(c->out, ", box);\n\treturn trac_launched(\"the scatter-add of %s\");\n}\n\n", n->name);
}

/* One operand of a GEMM: the tensor in place, or its block copied into
 * the plan's layout in memory from the stream's pool. */
static void cg_cuda_gemm_operand(CgC *c, const TraNode *n, const GemmMatrix *M, int k, const char *name)
{
	const char *t = cg_c_type(n->type);
	if (!M->scratch) {
		fprintf(c->out, "\tconst %s *%s = in%d;\n", t, name, k);
		return;
	}
	int64_t size = 1;
	for (int x = 0; x < n->nidx; x++)
		if (M->stride[x])
			size *= cg_c_block_room(n, x);
	int xs[TRA_MAX_STMT_INDICES], m = cg_cuda_matrix_indices(n, M, xs);
	fprintf(c->out, "\t%s *%s_s = NULL;\n"
	        "\tif (cudaMallocAsync((void **)&%s_s, %" PRId64 " * sizeof(%s), call->stream) != cudaSuccess)\n"
	        "\t\treturn \"cudaMallocAsync (a copy of %s's operand)\";\n",
	        t, name, name, size, t, n->name);
	fprintf(c->out, "\tc%d%s<<<trac_grid(", (int)(n - c->g->nodes), name);
	cg_cuda_count(c, "box.lo", "box.hi", xs, m);
	fprintf(c->out, "), %d, 0, call->stream>>>(%s_s", CG_CUDA_THREADS, name);
	cg_cuda_operands(c, n);
	fprintf(c->out, ", box);\n\tconst %s *%s = %s_s;\n", t, name, name);
}

static const char *cg_cuda_op(bool trans)
{
	return trans ? "CUBLAS_OP_T" : "CUBLAS_OP_N";
}

/* One cuBLAS call of the plan at the current batch and outer K
 * elements, into the output or the partial block, at depth; with xb, a
 * batch index (else -1), one strided batched call over xb's range in the
 * block, from its first element (the batch's calls write disjoint parts
 * of the output, so they may run as one). */
static void cg_cuda_gemm_call(CgC *c, const TraNode *n, const Kplan *k, int depth, int xb)
{
	const GemmPlan *p = &k->gemm;
	char ty = n->type == TRART_F32 ? 'S' : 'D';
	const char *t = cg_c_type(n->type);
	cg_c_indent(c, depth);
	fprintf(c->out, "const %s alpha = %.17g, beta = ", t, k->split ? p->scale : p->alpha);
	cg_c_block_beta(c, p);
	fputs(";\n", c->out);
	cg_c_indent(c, depth);
	fprintf(c->out, "%s *to = ", t);
	cg_c_block_target(c, n, p, k->split);
	fputs(");\n", c->out);
	cg_c_indent(c, depth);
	if (k->gemv) {
		/* cblas's row-major gemv (B.trans ? no transpose : transpose) of a
		   rows x cols matrix is cuBLAS's column-major gemv of the cols x
		   rows matrix with the other transpose: cols first */
		int nx = p->nn.x[p->nn.n - 1];
		fprintf(c->out, "if (cublas%cgemv(call->blas, %s, (int)(", ty, cg_cuda_op(p->B.trans));
		cg_c_block_extent(c, p->B.trans ? &p->k : &p->nn);
		fputs("), (int)(", c->out);
		cg_c_block_extent(c, p->B.trans ? &p->nn : &p->k);
		fputs("), &alpha, B + (", c->out);
		cg_c_block_offset(c, n, p, &p->B);
		fprintf(c->out, "), %" PRId64 ", A + (", p->B.ld);
		cg_c_block_offset(c, n, p, &p->A);
		fprintf(c->out, "), %" PRId64 ", &beta, to, %" PRId64 ") != CUBLAS_STATUS_SUCCESS)\n",
		        p->A.trans ? p->A.ld : (int64_t)1, k->split ? (int64_t)1 : p->C.stride[nx]);
	} else {
		fprintf(c->out, "if (cublas%cgemm%s(call->blas, %s, %s, (int)(", ty, xb >= 0 ? "StridedBatched" : "",
		        cg_cuda_op(p->B.trans), cg_cuda_op(p->A.trans));
		cg_c_block_extent(c, &p->nn);
		fputs("), (int)(", c->out);
		cg_c_block_extent(c, &p->m);
		fputs("), (int)(", c->out);
		cg_c_block_extent(c, &p->k);
		fputs("), &alpha, B + (", c->out);
		cg_c_block_offset(c, n, p, &p->B);
		fprintf(c->out, "), %" PRId64, p->B.ld);
		if (xb >= 0)
			fprintf(c->out, ", %" PRId64, p->B.stride[xb]);
		fputs(", A + (", c->out);
		cg_c_block_offset(c, n, p, &p->A);
		fprintf(c->out, "), %" PRId64, p->A.ld);
		if (xb >= 0)
			fprintf(c->out, ", %" PRId64, p->A.stride[xb]);
		fputs(", &beta, to, ", c->out);
		if (k->split)
			fprintf(c->out, "(int)ls[%d]", p->m.x[p->m.n - 1]);
		else
			fprintf(c->out, "%" PRId64, p->C.ld);
		if (xb >= 0 && k->split)
			fprintf(c->out, ", ls[%d]", xb);
		else if (xb >= 0)
			fprintf(c->out, ", %" PRId64, p->C.stride[xb]);
		if (xb >= 0)
			fprintf(c->out, ", (int)(hi[%d] - lo[%d])", xb, xb);
		fputs(") != CUBLAS_STATUS_SUCCESS)\n", c->out);
	}
	cg_c_indent(c, depth + 1);
	fprintf(c->out, "return \"cublas%c%s (%s)\";\n", ty,
	        k->gemv ? "gemv" : xb >= 0 ? "gemmStridedBatched" : "gemm", n->name);
}

/* trac_cuda_b<id> for a GEMM's block: its copy and epilogue kernels,
 * then the launcher: the copies, the cuBLAS calls in host loops over
 * the batch and outer K elements, the epilogue. */
static void cg_cuda_block_gemm(CgC *c, const Kplan *k)
{
	const TraNode *n = &c->g->nodes[k->node];
	const GemmPlan *p = &k->gemm;
	const char *t = cg_c_type(n->type);
	if (p->A.scratch)
		cg_cuda_copy_kernel(c, n, &p->A, p->a, "A");
	if (p->B.scratch)
		cg_cuda_copy_kernel(c, n, &p->B, p->b, "B");
	bool epilogue = !k->split && p->epilogue;
	if (epilogue)
		cg_cuda_epilogue_kernel(c, n, k->node);
	cg_cuda_open_launcher(c, n, "b", k->node);
	fprintf(c->out, "\tTracBox box = trac_box(lo, hi, %d);\n", n->nidx);
	cg_cuda_gemm_operand(c, n, &p->A, p->a, "A");
	cg_cuda_gemm_operand(c, n, &p->B, p->b, "B");
	if (k->split) {
		cg_c_block_local_strides(c, n);
		fprintf(c->out, "\t%s *part = (%s *)call->bufs[%d + call->self];\n", t, t, c->g->nnodes);
	}
	/* the innermost batch index: one strided batched call over it */
	int depth = 1, xb = !k->gemv && p->batch.n > 0 ? p->batch.x[p->batch.n - 1] : -1;
	for (int i = 0; i < p->batch.n - (xb >= 0); i++)
		cg_c_block_loop(c, p->batch.x[i], depth++);
	if (xb >= 0) {
		cg_c_indent(c, depth);
		fprintf(c->out, "const int64_t x%d TRAC_UNUSED = lo[%d]; /* the batch's first */\n", xb, xb);
	}
	for (int i = 0; i < p->kloop.n; i++)
		cg_c_block_loop(c, p->kloop.x[i], depth++);
	cg_cuda_gemm_call(c, n, k, depth, xb);
	cg_c_close_loops(c, depth, 1);
	if (p->A.scratch)
		fputs("\tcudaFreeAsync(A_s, call->stream);\n", c->out);
	if (p->B.scratch)
		fputs("\tcudaFreeAsync(B_s, call->stream);\n", c->out);
	if (epilogue)
		cg_cuda_launch(c, n, "p", k->node, "", "box", 1);
	fprintf(c->out, "\treturn trac_launched(\"the kernels of %s\");\n}\n\n", n->name);
}

/* trac_cuda_a<id>: a split reduction's aggregation, a fold per partial
 * block in the order the task lists them. */
static void cg_cuda_block_agg(CgC *c, const Kplan *k)
{
	const TraNode *n = &c->g->nodes[k->node];
	const char *t = cg_c_type(n->type);
	cg_cuda_fold_kernel(c, k);
	cg_cuda_open_launcher(c, n, "a", k->node);
	fprintf(c->out, "\tTracBox box = trac_box(lo, hi, %d);\n"
	        "\tint np = trac_cuda_nparts[call->self];\n\tconst int *parts = trac_cuda_parts[call->self];\n"
	        "\tfor (int q = 0; q < np; q++) {\n"
	        "\t\tconst %s *part = (const %s *)call->bufs[%d + parts[q]];\n",
	        n->nidx, t, t, c->g->nnodes);
	cg_cuda_launch(c, n, "f", k->node, ", part, q == 0, q == np - 1", "box", 2);
	fprintf(c->out, "\t}\n\treturn trac_launched(\"the aggregation of %s\");\n}\n\n", n->name);
}

/* Member m of a row group (node n) in g<lead>, inside its loop over the
 * block's rows: its elements of row `row` (the other indices whole),
 * the block's threads taking turns; a reduction along a contiguous
 * index (cg_cuda_lanes) a warp's per element, or, where the row has one
 * element, the whole block's: each warp's lanes combined by shuffles,
 * the warps' through shared memory. The block syncs after each member,
 * whose row the next ones read (a block's global writes before
 * __syncthreads are visible to its threads after). */
static int64_t cg_cuda_row_count(const TraNode *n)
{
	int64_t count = 1;
	for (int d = 1; d < n->rank; d++)
		count *= n->idx[d].size;
	return count;
}

/* Whether member n's reduction takes the whole block (its row has one
 * element). */
static bool cg_cuda_row_whole(const CgC *c, const TraNode *n)
{
	return cg_cuda_lanes(c, n) > 1 && cg_cuda_row_count(n) == 1;
}

/* At most this many bytes of a row group's rows staged in shared
 * memory per CUDA block (of the 48 KiB a kernel has without opting in). */
#define CG_CUDA_STAGE_BYTES 40960

/* The rows of a row group's inputs staged in shared memory: a tensor
 * from outside the group that two or more of its members read along the
 * row (W4's X, read for the max and again for the sum) is read from
 * global memory once per row, into shared memory, where the members
 * read it (a second pass over global memory was served from L2 at best). */
#define CG_CUDA_STAGE_MAX 4
typedef struct CgCudaStage {
	int n;
	int node[CG_CUDA_STAGE_MAX];      /* the tensors ... */
	int64_t bytes[CG_CUDA_STAGE_MAX]; /* ... their rows' bytes (a multiple of 16) ... */
	int member[CG_CUDA_STAGE_MAX];    /* ... and the first member reading each, as its */
	int op[CG_CUDA_STAGE_MAX];        /* operand op: the kernel's parameter i<member>_<op> */
} CgCudaStage;

/* Whether member n's operand q reads one whole row of its tensor: the
 * tensor's first dimension the row index, the others indices of their
 * own (a row of a C-order tensor is one stretch). */
static bool cg_cuda_reads_row(const TraNode *n, int q)
{
	const TraOperand *op = &n->ops[q];
	if (op->aff || op->rank < 1 || op->idx[0] != 0)
		return false;
	for (int d = 1; d < op->rank; d++)
		if (op->idx[d] <= 0)
			return false;
	return true;
}

/* Which rows group k stages (CgCudaStage), within CG_CUDA_STAGE_BYTES. */
static void cg_cuda_stage_plan(const CgC *c, const Kplan *k, CgCudaStage *st)
{
	const TraGraph *g = c->g;
	st->n = 0;
	int64_t total = 0;
	for (int v = 0; v < g->nnodes && st->n < CG_CUDA_STAGE_MAX; v++) {
		const TraNode *x = &g->nodes[v];
		int reads = 0, first_m = -1, first_q = -1;
		bool ok = true;
		for (int m = 0; m < k->nmembers; m++) {
			const TraNode *n = &g->nodes[k->members[m]];
			ok &= k->members[m] != v;
			for (int q = 0; q < n->nops; q++)
				if (n->ops[q].node == v) {
					ok &= cg_cuda_reads_row(n, q);
					if (reads++ == 0)
						first_m = m, first_q = q;
				}
		}
		int64_t bytes = (int64_t)trart_dtype_size(x->type);
		for (int d = 1; d < x->rank; d++)
			bytes *= x->idx[d].size;
		if (!ok || reads < 2 || bytes % 16 != 0 || total + bytes > CG_CUDA_STAGE_BYTES)
			continue;
		st->node[st->n] = v;
		st->member[st->n] = first_m;
		st->op[st->n] = first_q;
		st->bytes[st->n++] = bytes;
		total += bytes;
	}
}

/* The index of node v's staged rows in st, or -1. */
static int cg_cuda_staged(const CgCudaStage *st, int v)
{
	for (int i = 0; i < st->n; i++)
		if (st->node[i] == v)
			return i;
	return -1;
}

/* At the top of the loop over rows: each staged tensor's row copied to
 * shared memory, 16 bytes a thread at a time where the row is aligned
 * so (bytes otherwise), then a __syncthreads. */
static void cg_cuda_stage_rows(CgC *c, const CgCudaStage *st)
{
	for (int i = 0; i < st->n; i++) {
		fprintf(c->out, "\t\t{ /* %s's row */\n"
		        "\t\tconst char *src = (const char *)i%d_%d + row * %" PRId64 ";\n"
		        "\t\tif (((uintptr_t)src & 15) == 0)\n"
		        "\t\t\tfor (int e = threadIdx.x; e < %" PRId64 "; e += %d)\n"
		        "\t\t\t\ttrac_row%d[e] = __ldg((const uint4 *)src + e);\n"
		        "\t\telse\n"
		        "\t\t\tfor (int e = threadIdx.x; e < %" PRId64 "; e += %d)\n"
		        "\t\t\t\t((char *)trac_row%d)[e] = src[e];\n\t\t}\n",
		        c->g->nodes[st->node[i]].name, st->member[i], st->op[i], st->bytes[i], st->bytes[i] / 16,
		        CG_CUDA_THREADS, i,
		        st->bytes[i], CG_CUDA_THREADS, i);
	}
	if (st->n > 0)
		fputs("\t\t__syncthreads();\n", c->out);
}

static void cg_cuda_row_member(CgC *c, const TraNode *n, int m, const CgCudaStage *st)
{
	const char *t = cg_c_type(n->type);
	int64_t count = cg_cuda_row_count(n);
	int lanes = cg_cuda_lanes(c, n), xs[TRA_MAX_STMT_INDICES];
	bool whole = cg_cuda_row_whole(c, n);
	for (int d = 0; d < n->rank; d++)
		xs[d] = d;
	fprintf(c->out, "\t\t{ /* %s */\n\t\t%s *out TRAC_UNUSED = o%d;\n", n->name, t, m);
	for (int k = 0; k < n->nops; k++) {
		const char *it = cg_c_in_type(c, n, k);
		int s = cg_cuda_staged(st, n->ops[k].node);
		/* a staged row: the shared copy, shifted back to where the
		   tensor's first element would be, so the indexing is the same */
		if (s >= 0)
			fprintf(c->out, "\t\tconst %s *in%d TRAC_UNUSED = (const %s *)((const char *)trac_row%d - row * %" PRId64
			        ");\n", it, k, it, s, st->bytes[s]);
		else
			fprintf(c->out, "\t\tconst %s *in%d TRAC_UNUSED = i%d_%d;\n", it, k, m, k);
	}
	fputs("\t\tTracBox box;\n\t\tmemset(&box, 0, sizeof box);\n\t\tbox.lo[0] = row;\n\t\tbox.hi[0] = row + 1;\n",
	      c->out);
	for (int x = 1; x < n->nidx; x++)
		fprintf(c->out, "\t\tbox.hi[%d] = %" PRId64 ";\n", x, n->idx[x].size);
	fputs("\t\tconst int64_t *lo TRAC_UNUSED = box.lo, *hi TRAC_UNUSED = box.hi;\n", c->out);
	/* the block's threads, CG_CUDA_THREADS (the launcher's), as constants
	   the compiler unrolls by */
	if (whole)
		fprintf(c->out, "\t\t{\n\t\tconst int64_t e = 0;\n\t\tconst int lane = threadIdx.x, nlanes = %d;\n",
		        CG_CUDA_THREADS);
	else if (lanes > 1)
		fprintf(c->out, "\t\tfor (int64_t e = threadIdx.x / %d; e < %" PRId64 "; e += %d) {\n"
		        "\t\tconst int lane = threadIdx.x %% %d, nlanes TRAC_UNUSED = %d;\n",
		        lanes, count, CG_CUDA_THREADS / lanes, lanes, lanes);
	else
		fprintf(c->out, "\t\tfor (int64_t e = threadIdx.x; e < %" PRId64 "; e += %d) {\n", count,
		        CG_CUDA_THREADS);
	cg_cuda_unflatten(c, xs, n->rank);
	if (n->agg == TRA_AGG_NONE) {
		cg_cuda_map_element(c, n);
	} else {
		c->lanes = lanes > 1;
		cg_c_reduce(c, n, 2, true);
		c->lanes = false;
		if (lanes > 1)
			cg_cuda_warp_combine(c, n);
		if (whole) {
			fprintf(c->out, "\t\tif (lane %% %d == 0)\n\t\t\t((%s *)trac_sh)[lane / %d] = acc;\n"
			        "\t\t__syncthreads();\n\t\tif (lane == 0) {\n"
			        "\t\t\tfor (int w = 1; w < %d; w++) {\n"
			        "\t\t\t\t%s v = ((%s *)trac_sh)[w];\n\t\t\t\t",
			        CG_LANES, t, CG_LANES, CG_CUDA_THREADS / CG_LANES, t, t);
			cg_cuda_combine(c, n);
			fputs("\t\t\t}\n\t\t\t", c->out);
		} else {
			fputs(lanes > 1 ? "\t\tif (lane == 0)\n\t\t\t" : "\t\t", c->out);
		}
		cg_c_store(c, n);
		if (whole)
			fputs("\t\t}\n", c->out);
	}
	fputs("\t\t}\n\t\t}\n\t\t__syncthreads();\n", c->out);
}

/* g<lead> and trac_cuda_r<lead>: a row group's row block as one kernel,
 * a CUDA block per row (grid-stride over the task's rows), running the
 * members in turn over its row (cg_cuda_row_member). */
static void cg_cuda_block_rows(CgC *c, const Kplan *k)
{
	const TraGraph *g = c->g;
	fprintf(c->out, "__global__ void g%d(", k->node);
	for (int m = 0; m < k->nmembers; m++) {
		const TraNode *n = &g->nodes[k->members[m]];
		fprintf(c->out, "%s%s *__restrict__ o%d", m ? ", " : "", cg_c_type(n->type), m);
		for (int q = 0; q < n->nops; q++)
			fprintf(c->out, ", const %s *__restrict__ i%d_%d", cg_c_in_type(c, n, q), m, q);
	}
	fputs(", int64_t lo0, int64_t hi0)\n{\n", c->out);
	bool whole = false;
	for (int m = 0; m < k->nmembers; m++)
		whole |= cg_cuda_row_whole(c, &g->nodes[k->members[m]]);
	if (whole)
		fprintf(c->out, "\t__shared__ unsigned long long trac_sh[%d]; /* a block reduction's warps' */\n",
		        CG_CUDA_THREADS / CG_LANES);
	CgCudaStage st;
	cg_cuda_stage_plan(c, k, &st);
	for (int i = 0; i < st.n; i++)
		fprintf(c->out, "\t__shared__ uint4 trac_row%d[%" PRId64 "]; /* %s's row */\n", i, st.bytes[i] / 16,
		        g->nodes[st.node[i]].name);
	fputs("\tfor (int64_t row = lo0 + blockIdx.x; row < hi0; row += gridDim.x) {\n", c->out);
	cg_cuda_stage_rows(c, &st);
	for (int m = 0; m < k->nmembers; m++)
		cg_cuda_row_member(c, &g->nodes[k->members[m]], m, &st);
	fputs("\t}\n}\n\n", c->out);
	fprintf(c->out, "extern \"C\" const char *trac_cuda_r%d(const TrartCudaCall *call)\n{\n"
	        "\tint64_t rows = call->hi[0] - call->lo[0];\n"
	        "\tg%d<<<rows < 1 ? 1u : rows > 65535 ? 65535u : (unsigned)rows, %d, 0, call->stream>>>(",
	        k->node, k->node, CG_CUDA_THREADS);
	for (int m = 0; m < k->nmembers; m++) {
		const TraNode *n = &g->nodes[k->members[m]];
		const char *t = cg_c_type(n->type);
		fprintf(c->out, "%s(%s *)call->bufs[%d]", m ? ", " : "", t, k->members[m]);
		for (int q = 0; q < n->nops; q++)
			fprintf(c->out, ", (const %s *)call->bufs[%d]", cg_c_in_type(c, n, q), n->ops[q].node);
	}
	fprintf(c->out, ", call->lo[0], call->hi[0]);\n"
	        "\treturn trac_launched(\"the row group of %s\");\n}\n\n", g->nodes[k->node].name);
}

/* ---- tables ------------------------------------------------------------------- */

/* Per task, the tasks whose partial blocks its aggregation folds (when
 * some task aggregates). */
static void cg_cuda_parts(CgC *c)
{
	int nt = c->opt->ia->ntasks, any = 0;
	for (int t = 0; t < nt; t++)
		any |= c->kp->tasks[t].nparts > 0;
	if (!any)
		return; /* no aggregation: no launcher reads them */
	for (int t = 0; t < nt; t++) {
		const KplanTask *kt = &c->kp->tasks[t];
		if (kt->nparts == 0)
			continue;
		fprintf(c->out, "static const int trac_cuda_parts%d[] = {", t);
		for (int q = 0; q < kt->nparts; q++)
			fprintf(c->out, "%s%d", q ? ", " : "", kt->parts[q]);
		fputs("};\n", c->out);
	}
	fprintf(c->out, "static const int trac_cuda_nparts[%d] = {", nt);
	for (int t = 0; t < nt; t++)
		fprintf(c->out, "%s%d", t ? ", " : "", c->kp->tasks[t].nparts);
	fprintf(c->out, "};\nstatic const int *const trac_cuda_parts[%d] = {", nt);
	for (int t = 0; t < nt; t++)
		if (c->kp->tasks[t].nparts)
			fprintf(c->out, "%strac_cuda_parts%d", t ? ", " : "", t);
		else
			fprintf(c->out, "%sNULL", t ? ", " : "");
	fputs("};\n\n", c->out);
}

/* The launcher of each task (NULL: an input leaf, a repartition or a row
 * group's member, which only order). */
static void cg_cuda_task_table(CgC *c)
{
	int nt = c->opt->ia->ntasks;
	fprintf(c->out, "extern \"C\" const void *const trac_cuda_tasks[%d] = {\n", nt);
	for (int t = 0; t < nt; t++) {
		const Kplan *k = &c->kp->kernels[c->kp->tasks[t].kernel];
		switch (k->kind) {
		case KPLAN_NOP: fputs("\tNULL,\n", c->out); break;
		case KPLAN_ROWS: fprintf(c->out, "\t(const void *)trac_cuda_r%d,\n", k->node); break;
		case KPLAN_AGG: fprintf(c->out, "\t(const void *)trac_cuda_a%d,\n", k->node); break;
		case KPLAN_BLAS:
		case KPLAN_LOOPS:
		case KPLAN_SCATTER: fprintf(c->out, "\t(const void *)trac_cuda_b%d,\n", k->node); break;
		}
	}
	fputs("};\n", c->out);
}

/* A block kernel, as planned (a row group's members are printed by the
 * group). */
static void cg_cuda_kernel(CgC *c, const Kplan *k)
{
	switch (k->kind) {
	case KPLAN_NOP: return;
	case KPLAN_ROWS: cg_cuda_block_rows(c, k); return;
	case KPLAN_AGG: cg_cuda_block_agg(c, k); return;
	case KPLAN_SCATTER:
		fprintf(c->out, "/* %s: scatter-add, one block */\n", c->g->nodes[k->node].name);
		cg_cuda_block_scatter(c, k);
		return;
	case KPLAN_BLAS:
	case KPLAN_LOOPS:
		if (!k->block)
			return; /* a member of a row group */
		fprintf(c->out, "/* %s: blocks%s */\n", c->g->nodes[k->node].name, k->split ? ", split reduction" : "");
		if (k->kind == KPLAN_BLAS)
			cg_cuda_block_gemm(c, k);
		else
			cg_cuda_block_loops(c, k);
		return;
	}
}

void cg_cuda_emit(const TraGraph *g, const CgCOptions *opt, FILE *out)
{
	if (!opt->ia)
		TRAC_BUG("the CUDA back end renders block tasks: no task graph");
	KplanProgram kp;
	kplan_build(g, opt->ia, NULL, &kp); /* cuBLAS: no Strassen */
	CgC c = {g, out, opt, &kp, kp.leader, "bufs", true, false};
	fprintf(out, "/* %s: the CUDA kernels of %s, generated by trac (--emit=cuda) */\n", opt->name,
	        opt->source ? opt->source : "a program");
	cg_cuda_prelude(&c);
	cg_cuda_parts(&c);
	for (int i = 0; i < kp.nkernels; i++)
		cg_cuda_kernel(&c, &kp.kernels[i]);
	cg_cuda_task_table(&c);
	kplan_free(&kp);
}
