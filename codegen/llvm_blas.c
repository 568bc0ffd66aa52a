/* codegen/llvm_blas.c: KPLAN_BLAS kernels as LLVM IR.
 * needs: a KPLAN_BLAS plan (kplan.h) of the program llvm_prog.c builds,
 * llvm.c's IR helpers, llvm_kernels.c's cg_llvm_expr for epilogues.
 * gives: cg_llvm_blas_kernel (llvm_prog.h).
 *
 * A kernel here is what codegen/c.c prints for the same plan (its GEMM
 * part: cg_c_gemm_kernel for whole nodes, cg_c_block_gemm for blocks),
 * built as IR instead of printed: the same loops over batch and outer K
 * indices, the same cblas_?gemm and cblas_?gemv calls with the same
 * arguments (int for the enums: 101 row major, 111 no-trans, 112 trans),
 * the same operand copies into trart_scratch buffers, and the same
 * epilogue loops. Nothing is re-decided: gemm.c chose the groups,
 * transposes, copies and leading dimensions, kplan.c the panels and the
 * gemv form.
 *
 * Block kernels b<node>(i8** bufs, i8* task) read the block's lo and hi
 * from the task once, where they start (cg_llvm_task_block: the task
 * tables llvm_prog.c fills cast every kernel to i8*, so the task's
 * pointer type is ours to choose). A split block writes its partial result, C order in the block,
 * into its partial block, bufs[nnodes + task number] (KPLAN_PARTIAL),
 * which the node's aggregation (llvm_kernels.c) reads. Whole-node kernels k<node>(i8** bufs) run their epilogue
 * through trart_parallel_for over a body k<node>.epilogue(i64 lo, i64 hi,
 * i8* ctx) whose ctx is c.c's TracCtx {bufs, acc, base}: a struct both
 * its writer and its reader build here, so its layout is LLVM's.
 */
#include "llvm_prog.h"

#include <stddef.h>
#include <stdlib.h>

/* The BLAS enums as the C back end passes them (cblas.h's values). */
enum { CG_BLAS_ROW_MAJOR = 101, CG_BLAS_NO_TRANS = 111, CG_BLAS_TRANS = 112 };

/* One kernel under construction. */
typedef struct CgBlas {
	CgLlvmProg *p;
	CgLlvm *m;
	const TraNode *n;
	const Kplan *k;
	const GemmPlan *g;
	TrartDtype t;
	CgLlvmType ty, tp, i8p, i32, i64; /* T, T*, i8*, i32, i64 */
	CgLlvmValue bufs;                 /* i8**: every tensor's buffer */
	CgLlvmValue all;                  /* i8**: a block kernel's own parameter, where its
	                                     partial block is (bufs: cg_llvm_task_bufs's) */
	/* The block's lo[x] and hi[x] (i64), loaded where a block kernel
	 * starts: its BLAS calls could write anywhere, as far as LLVM knows,
	 * so loads inside their loops would be repeated after every call. */
	CgLlvmValue blo[TRA_MAX_STMT_INDICES], bhi[TRA_MAX_STMT_INDICES];
	CgLlvmValue x[TRA_MAX_STMT_INDICES]; /* the current value of each looped index */
	CgLlvmValue A, B, C;              /* T*: the matrices the calls read and write */
	CgLlvmValue As, Bs;               /* i8*: their scratch copies, or NULL */
} CgBlas;

static void cg_blas_init(CgBlas *b, CgLlvmProg *p, const Kplan *k)
{
	*b = (CgBlas){.p = p, .m = p->m, .n = &p->g->nodes[k->node], .k = k, .g = &k->gemm};
	b->t = b->n->type;
	b->ty = cg_llvm_type(b->m, b->t);
	b->tp = cg_llvm_ptr(b->m, b->ty);
	b->i32 = cg_llvm_int(b->m, 32);
	b->i64 = cg_llvm_i64(b->m);
	b->i8p = cg_llvm_ptr(b->m, cg_llvm_int(b->m, 8));
}

/* ---- values ------------------------------------------------------------------- */

static CgLlvmValue cg_blas_i64(CgBlas *b, int64_t v)
{
	return cg_llvm_const_i64(b->m, v);
}

/* An i64 as the int a cblas argument is. */
static CgLlvmValue cg_blas_int(CgBlas *b, CgLlvmValue v)
{
	return cg_llvm_trunc(b->m, v, b->i32);
}

static CgLlvmValue cg_blas_intc(CgBlas *b, int64_t v)
{
	return cg_llvm_const_int(b->m, b->i32, v);
}

/* off + v * s (s a constant). */
static CgLlvmValue cg_blas_term(CgBlas *b, CgLlvmValue off, CgLlvmValue v, int64_t s)
{
	return cg_llvm_iadd(b->m, off, s == 1 ? v : cg_llvm_imul(b->m, v, cg_blas_i64(b, s)));
}

/* The buffer of node id, as a T*. */
static CgLlvmValue cg_blas_buffer(CgBlas *b, int id)
{
	CgLlvmValue at = cg_llvm_gep(b->m, b->i8p, b->bufs, cg_blas_i64(b, id));
	return cg_llvm_bitcast(b->m, cg_llvm_load_ptr(b->m, b->i8p, at), b->tp);
}

/* lo[x] and hi[x] of the block. */
static CgLlvmValue cg_blas_lo(CgBlas *b, int x)
{
	if (!b->blo[x])
		TRAC_BUG("block bound lo[%d] of %s read outside a block kernel", x, b->n->name);
	return b->blo[x];
}

static CgLlvmValue cg_blas_hi(CgBlas *b, int x)
{
	if (!b->bhi[x])
		TRAC_BUG("block bound hi[%d] of %s read outside a block kernel", x, b->n->name);
	return b->bhi[x];
}

/* trart_scratch(n elements of T), as i8*. */
static CgLlvmValue cg_blas_scratch(CgBlas *b, CgLlvmValue count)
{
	CgLlvmValue bytes = cg_llvm_imul(b->m, count, cg_blas_i64(b, (int64_t)trart_dtype_size(b->t)));
	return cg_llvm_extern_call(b->m, "trart_scratch", b->i8p, &b->i64, 1, &bytes);
}

/* trart_scratch_free(p) for a scratch copy p (i8*), if any. */
static void cg_blas_scratch_free(CgBlas *b, CgLlvmValue p)
{
	if (!p)
		return;
	cg_llvm_extern_call(b->m, "trart_scratch_free", cg_llvm_void(b->m), &b->i8p, 1, &p);
}

/* ---- the calls ------------------------------------------------------------------ */

static int cg_blas_trans(bool t)
{
	return t ? CG_BLAS_TRANS : CG_BLAS_NO_TRANS;
}

/* cblas_?gemm(101, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc),
 * the sizes i64 values, the matrices T* values. */
static void cg_blas_gemm(CgBlas *b, bool ta, bool tb, const CgLlvmValue mnk[3], double alpha,
                         CgLlvmValue A, int64_t lda, CgLlvmValue B, int64_t ldb, CgLlvmValue beta,
                         CgLlvmValue C, CgLlvmValue ldc)
{
	CgLlvmType i = b->i32, params[14] = {i, i, i, i, i, i, b->ty, b->tp, i, b->tp, i, b->ty, b->tp, i};
	CgLlvmValue args[14] = {
		cg_blas_intc(b, CG_BLAS_ROW_MAJOR), cg_blas_intc(b, cg_blas_trans(ta)), cg_blas_intc(b, cg_blas_trans(tb)),
		cg_blas_int(b, mnk[0]), cg_blas_int(b, mnk[1]), cg_blas_int(b, mnk[2]),
		cg_llvm_const(b->m, b->t, alpha), A, cg_blas_intc(b, lda), B, cg_blas_intc(b, ldb), beta,
		C, cg_blas_int(b, ldc),
	};
	const char *name = b->t == TRART_F32 ? "cblas_sgemm" : "cblas_dgemm";
	if (b->g->strassen) /* kplan.c's choice: the runtime's Strassen-Winograd */
		name = b->t == TRART_F32 ? "trart_sgemm" : "trart_dgemm";
	cg_llvm_extern_call(b->m, name, cg_llvm_void(b->m), params, 14, args);
}

/* cblas_?gemv(101, trans, rows, cols, alpha, A, lda, x, incx, beta, y, incy). */
static void cg_blas_gemv(CgBlas *b, bool trans, CgLlvmValue rows, CgLlvmValue cols, double alpha,
                         CgLlvmValue A, int64_t lda, CgLlvmValue x, int64_t incx, CgLlvmValue beta,
                         CgLlvmValue y, int64_t incy)
{
	CgLlvmType i = b->i32, params[12] = {i, i, i, i, b->ty, b->tp, i, b->tp, i, b->ty, b->tp, i};
	CgLlvmValue args[12] = {
		cg_blas_intc(b, CG_BLAS_ROW_MAJOR), cg_blas_intc(b, cg_blas_trans(trans)), cg_blas_int(b, rows),
		cg_blas_int(b, cols), cg_llvm_const(b->m, b->t, alpha), A, cg_blas_intc(b, lda), x,
		cg_blas_intc(b, incx), beta, y, cg_blas_intc(b, incy),
	};
	const char *name = b->t == TRART_F32 ? "cblas_sgemv" : "cblas_dgemv";
	cg_llvm_extern_call(b->m, name, cg_llvm_void(b->m), params, 12, args);
}

/* BLAS's beta: 0, or with a looped K, 0 for the first call into each
 * result (every K loop at its start: 0, or lo in a block) and 1 after. */
static CgLlvmValue cg_blas_beta(CgBlas *b)
{
	const GemmPlan *g = b->g;
	CgLlvmValue zero = cg_llvm_const(b->m, b->t, 0.0);
	if (g->kloop.n == 0)
		return zero;
	CgLlvmValue first = NULL;
	for (int i = 0; i < g->kloop.n; i++) {
		int x = g->kloop.x[i];
		CgLlvmValue start = b->k->block ? cg_blas_lo(b, x) : cg_blas_i64(b, 0);
		CgLlvmValue at = cg_llvm_icmp(b->m, TRA_OP_EQ, b->x[x], start);
		first = first ? cg_llvm_iand(b->m, first, at) : at;
	}
	return cg_llvm_select(b->m, first, zero, cg_llvm_const(b->m, b->t, 1.0));
}

/* Whether index x is looped around the calls (batch or outer K). */
static bool cg_blas_looped(const GemmPlan *g, int x)
{
	bool looped = false;
	for (int i = 0; i < g->batch.n; i++)
		looped |= g->batch.x[i] == x;
	for (int i = 0; i < g->kloop.n; i++)
		looped |= g->kloop.x[i] == x;
	return looped;
}

/* The offset of operand k of n at the current index values. */
static CgLlvmValue cg_blas_operand_offset(CgBlas *b, int k)
{
	const TraOperand *op = &b->n->ops[k];
	return cg_llvm_element_offset(b->m, &b->p->g->nodes[op->node], op->idx, b->x);
}

/* The offset of output element x0 .. x(rank-1). */
static CgLlvmValue cg_blas_out_offset(CgBlas *b)
{
	return cg_llvm_element_offset(b->m, b->n, NULL, b->x);
}

/* M + offset, for a T* M. */
static CgLlvmValue cg_blas_at(CgBlas *b, CgLlvmValue M, CgLlvmValue off)
{
	return cg_llvm_gep(b->m, b->ty, M, off);
}

/* ---- loops ------------------------------------------------------------------------ */

/* Loops over indices xs[0 .. nx): over the block (lo[x] to hi[x]) if
 * block, else over the whole index; each loop's variable goes to b->x.
 * The innermost is tagged for vectorisation if vectorize. */
static void cg_blas_open(CgBlas *b, CgLlvmLoop *l, const int *xs, int nx, bool block, bool vectorize)
{
	for (int i = 0; i < nx; i++) {
		int x = xs[i];
		CgLlvmValue lo = block ? cg_blas_lo(b, x) : cg_blas_i64(b, 0);
		CgLlvmValue hi = block ? cg_blas_hi(b, x) : cg_blas_i64(b, b->n->idx[x].size);
		cg_llvm_loop_begin(b->m, &l[i], lo, hi, vectorize && i == nx - 1);
		b->x[x] = l[i].iv;
	}
}

static void cg_blas_close(CgBlas *b, CgLlvmLoop *l, int nx)
{
	for (int i = nx - 1; i >= 0; i--)
		cg_llvm_loop_end(b->m, &l[i]);
}

/* The looped indices, batch then outer K, into xs; returns how many. */
static int cg_blas_looped_indices(const GemmPlan *g, int *xs)
{
	int n = 0;
	for (int i = 0; i < g->batch.n; i++)
		xs[n++] = g->batch.x[i];
	for (int i = 0; i < g->kloop.n; i++)
		xs[n++] = g->kloop.x[i];
	return n;
}

/* ---- the epilogue ---------------------------------------------------------------- */

/* The operands' buffers, for an epilogue (malloc'ed): loaded before its
 * loops, where no store to the output could be taken to change them. */
static CgLlvmValue *cg_blas_inputs(CgBlas *b)
{
	CgLlvmValue *in = xcalloc((size_t)b->n->nops + 1, sizeof *in);
	for (int k = 0; k < b->n->nops; k++)
		in[k] = cg_blas_buffer(b, b->n->ops[k].node);
	return in;
}

/* out[this element] = the epilogue of acc (or acc itself), the output
 * indices bound in b->x, the operands in in (cg_c_store). */
static void cg_blas_store(CgBlas *b, CgLlvmValue out, CgLlvmValue *in, CgLlvmValue acc)
{
	const TraNode *n = b->n;
	CgLlvmValue v = acc;
	if (n->epilogue >= 0) {
		CgLlvmEnv env = {.n = n, .in = in, .acc = acc};
		for (int d = 0; d < n->rank; d++)
			env.x[d] = b->x[d];
		v = cg_llvm_expr(b->p, &env, n->epilogue);
	}
	cg_llvm_store(b->m, b->t, out, cg_blas_out_offset(b), v);
}

/* The epilogue over a final block, while it is in cache
 * (cg_c_block_gemm_epilogue): acc is the output element. */
static void cg_blas_block_epilogue(CgBlas *b)
{
	const TraNode *n = b->n;
	if (b->k->split || !b->g->epilogue)
		return;
	CgLlvmLoop l[TRA_MAX_STMT_INDICES];
	int xs[TRA_MAX_STMT_INDICES];
	for (int d = 0; d < n->rank; d++)
		xs[d] = d;
	CgLlvmValue out = cg_blas_buffer(b, b->k->node), *in = cg_blas_inputs(b);
	cg_blas_open(b, l, xs, n->rank, true, true);
	cg_blas_store(b, out, in, cg_llvm_load(b->m, b->t, out, cg_blas_out_offset(b)));
	cg_blas_close(b, l, n->rank);
	free(in);
}

/* ---- operand copies ------------------------------------------------------------------ */

/* The largest block of index x: what a block's copy has room for
 * (cg_c_block_room). */
static int64_t cg_blas_room(const TraNode *n, int x)
{
	int parts = n->part ? n->part[x] : 1;
	return (n->idx[x].size + parts - 1) / parts;
}

/* A or B: operand k in place, or a copy in the plan's scratch layout
 * (*scratch gets it): of the block, starting at its corner, with room
 * for the largest block (cg_c_block_operand), or of the whole tensor
 * (cg_c_gemm_operand, cg_c_permute). */
static CgLlvmValue cg_blas_operand(CgBlas *b, const GemmMatrix *M, int k, bool block, CgLlvmValue *scratch)
{
	const TraNode *n = b->n;
	CgLlvmValue in = cg_blas_buffer(b, n->ops[k].node);
	if (!M->scratch)
		return in;
	int64_t size = 1;
	int xs[TRA_MAX_STMT_INDICES] = {0}, nx = 0;
	for (int x = 0; x < n->nidx; x++)
		if (M->stride[x]) {
			size *= block ? cg_blas_room(n, x) : n->idx[x].size;
			if (n->idx[x].size > 1)
				xs[nx++] = x;
		}
	*scratch = cg_blas_scratch(b, cg_blas_i64(b, size));
	CgLlvmValue copy = cg_llvm_bitcast(b->m, *scratch, b->tp);
	CgLlvmLoop l[TRA_MAX_STMT_INDICES];
	cg_blas_open(b, l, xs, nx, block, false);
	CgLlvmValue to = cg_blas_i64(b, 0);
	for (int i = 0; i < nx; i++) {
		CgLlvmValue at = block ? cg_llvm_isub(b->m, b->x[xs[i]], cg_blas_lo(b, xs[i])) : b->x[xs[i]];
		to = cg_blas_term(b, to, at, M->stride[xs[i]]);
	}
	cg_llvm_store(b->m, b->t, copy, to, cg_llvm_load(b->m, b->t, in, cg_blas_operand_offset(b, k)));
	cg_blas_close(b, l, nx);
	return copy;
}

/* ---- block kernels ------------------------------------------------------------------ */

/* The offset of a block's sub-matrix (cg_c_block_offset): lo for M, N,
 * K indices, x for looped ones; in a copy, which starts at the block,
 * x - lo for looped ones only. */
static CgLlvmValue cg_blas_block_offset(CgBlas *b, const GemmMatrix *M)
{
	const TraNode *n = b->n;
	CgLlvmValue off = cg_blas_i64(b, 0);
	for (int x = 0; x < n->nidx; x++) {
		if (!M->stride[x] || n->idx[x].size == 1)
			continue;
		bool looped = cg_blas_looped(b->g, x);
		if (M->scratch && looped)
			off = cg_blas_term(b, off, cg_llvm_isub(b->m, b->x[x], cg_blas_lo(b, x)), M->stride[x]);
		else if (!M->scratch)
			off = cg_blas_term(b, off, looped ? b->x[x] : cg_blas_lo(b, x), M->stride[x]);
	}
	return off;
}

/* The extent of group g in this block (cg_c_block_extent). */
static CgLlvmValue cg_blas_block_extent(CgBlas *b, const GemmGroup *g)
{
	CgLlvmValue e = cg_blas_i64(b, 1);
	for (int i = 0; i < g->n; i++)
		e = cg_llvm_imul(b->m, e, cg_llvm_isub(b->m, cg_blas_hi(b, g->x[i]), cg_blas_lo(b, g->x[i])));
	return e;
}

/* A split block's partial result: ls[d], the local strides of the
 * output block (C order in the block), and the memory
 * (cg_llvm_partial_block). */
static CgLlvmValue cg_blas_partial(CgBlas *b, CgLlvmValue task, CgLlvmValue *ls)
{
	const TraNode *n = b->n;
	CgLlvmValue size = cg_blas_i64(b, 1);
	for (int d = n->rank - 1; d >= 0; d--) {
		ls[d] = size;
		size = cg_llvm_imul(b->m, size, cg_llvm_isub(b->m, cg_blas_hi(b, d), cg_blas_lo(b, d)));
	}
	return cg_llvm_partial_block(b->p, b->all, task, b->t);
}

/* Where a call writes: the partial block at the current batch element,
 * or the output's sub-matrix. */
static CgLlvmValue cg_blas_block_result(CgBlas *b, CgLlvmValue part, const CgLlvmValue *ls)
{
	const GemmPlan *g = b->g;
	if (!part)
		return cg_blas_at(b, b->C, cg_blas_block_offset(b, &g->C));
	CgLlvmValue off = cg_blas_i64(b, 0);
	for (int i = 0; i < g->batch.n; i++) {
		int x = g->batch.x[i];
		CgLlvmValue rel = cg_llvm_isub(b->m, b->x[x], cg_blas_lo(b, x));
		off = cg_llvm_iadd(b->m, off, cg_llvm_imul(b->m, rel, ls[x]));
	}
	return cg_blas_at(b, part, off);
}

/* A block with M = 1 (a row vector times a matrix): y = B^T x at the
 * current batch element (cg_c_block_gemv). */
static void cg_blas_block_gemv(CgBlas *b, CgLlvmValue part, const CgLlvmValue *ls)
{
	const GemmPlan *g = b->g;
	CgLlvmValue kk = cg_blas_block_extent(b, &g->k), nn = cg_blas_block_extent(b, &g->nn);
	CgLlvmValue Bm = cg_blas_at(b, b->B, cg_blas_block_offset(b, &g->B));
	CgLlvmValue Am = cg_blas_at(b, b->A, cg_blas_block_offset(b, &g->A));
	/* A is [1, K]: stored as a row its step is 1, as a column its ld */
	int64_t incx = g->A.trans ? g->A.ld : 1;
	int64_t incy = part ? 1 : g->C.stride[g->nn.x[g->nn.n - 1]];
	cg_blas_gemv(b, !g->B.trans, g->B.trans ? nn : kk, g->B.trans ? kk : nn, part ? g->scale : g->alpha,
	             Bm, g->B.ld, Am, incx, cg_blas_beta(b), cg_blas_block_result(b, part, ls), incy);
}

/* One gemm call of a block (cg_c_block_gemm's call). */
static void cg_blas_block_call(CgBlas *b, CgLlvmValue part, const CgLlvmValue *ls)
{
	const GemmPlan *g = b->g;
	CgLlvmValue mnk[3] = {cg_blas_block_extent(b, &g->m), cg_blas_block_extent(b, &g->nn),
	                      cg_blas_block_extent(b, &g->k)};
	CgLlvmValue ldc = part ? ls[g->m.x[g->m.n - 1]] : cg_blas_i64(b, g->C.ld);
	cg_blas_gemm(b, g->A.trans, g->B.trans, mnk, part ? g->scale : g->alpha,
	             cg_blas_at(b, b->A, cg_blas_block_offset(b, &g->A)), g->A.ld,
	             cg_blas_at(b, b->B, cg_blas_block_offset(b, &g->B)), g->B.ld, cg_blas_beta(b),
	             cg_blas_block_result(b, part, ls), ldc);
}

/* b<node>: one call per looped element of the block, on the tensors in
 * place or the plan's copies of their blocks, into the output (or the
 * partial block), then the epilogue over the block. */
static void cg_blas_block_kernel(CgBlas *b)
{
	CgLlvm *m = b->m;
	const GemmPlan *g = b->g;
	char name[32];
	snprintf(name, sizeof name, "b%d", b->k->node);
	CgLlvmType params[2] = {cg_llvm_ptr(m, b->i8p), b->i8p};
	cg_llvm_internal(cg_llvm_function(m, name, params, 2));
	b->all = cg_llvm_param(m, 0);
	CgLlvmValue task = cg_llvm_param(m, 1);
	b->bufs = cg_llvm_task_bufs(b->p, b->all, task);
	cg_llvm_task_block(m, task, b->n->nidx, b->blo, b->bhi);
	b->A = cg_blas_operand(b, &g->A, g->a, true, &b->As);
	b->B = cg_blas_operand(b, &g->B, g->b, true, &b->Bs);
	b->C = cg_blas_buffer(b, b->k->node);
	CgLlvmValue ls[TRA_MAX_STMT_INDICES], part = NULL;
	if (b->k->split)
		part = cg_blas_partial(b, task, ls);
	int xs[2 * TRA_MAX_STMT_INDICES], nx = cg_blas_looped_indices(g, xs);
	CgLlvmLoop l[2 * TRA_MAX_STMT_INDICES];
	cg_blas_open(b, l, xs, nx, true, false);
	if (b->k->gemv)
		cg_blas_block_gemv(b, part, ls);
	else
		cg_blas_block_call(b, part, ls);
	cg_blas_close(b, l, nx);
	cg_blas_scratch_free(b, b->As);
	cg_blas_scratch_free(b, b->Bs);
	cg_blas_block_epilogue(b);
	cg_llvm_return(m);
}

/* ---- whole-node kernels ---------------------------------------------------------------- */

/* k<node>.epilogue(lo, hi, ctx): the epilogue of output rows base + lo
 * to base + hi (all of a scalar), acc from the output itself or, with
 * C in scratch, from ctx->acc in the plan's layout of C (cg_c_body). */
static void cg_blas_body(CgBlas *b, const char *name)
{
	CgLlvm *m = b->m;
	CgLlvmType ctxty = cg_llvm_ctx_type(m);
	const TraNode *n = b->n;
	CgLlvmType params[3] = {b->i64, b->i64, b->i8p};
	cg_llvm_internal(cg_llvm_function(m, name, params, 3));
	CgLlvmValue ctx = cg_llvm_bitcast(m, cg_llvm_param(m, 2), cg_llvm_ptr(m, ctxty));
	b->bufs = cg_llvm_load_ptr(m, cg_llvm_ptr(m, b->i8p), cg_llvm_field(m, ctxty, ctx, 0));
	CgLlvmValue accbuf = cg_llvm_bitcast(m, cg_llvm_load_ptr(m, b->i8p, cg_llvm_field(m, ctxty, ctx, 1)), b->tp);
	CgLlvmValue base = cg_llvm_load_ptr(m, b->i64, cg_llvm_field(m, ctxty, ctx, 2));
	CgLlvmValue out = cg_blas_buffer(b, b->k->node), *in = cg_blas_inputs(b);
	CgLlvmLoop l[TRA_MAX_STMT_INDICES];
	if (n->rank > 0) {
		CgLlvmValue lo = cg_llvm_iadd(m, base, cg_llvm_param(m, 0)), hi = cg_llvm_iadd(m, base, cg_llvm_param(m, 1));
		cg_llvm_loop_begin(m, &l[0], lo, hi, n->rank == 1);
		b->x[0] = l[0].iv;
	}
	int xs[TRA_MAX_STMT_INDICES];
	for (int d = 1; d < n->rank; d++)
		xs[d - 1] = d;
	if (n->rank > 1)
		cg_blas_open(b, l + 1, xs, n->rank - 1, false, true);
	CgLlvmValue acc;
	if (b->g->C.scratch) {
		CgLlvmValue off = cg_blas_i64(b, 0);
		for (int d = 0; d < n->rank; d++)
			if (b->g->C.stride[d] && n->idx[d].size > 1)
				off = cg_blas_term(b, off, b->x[d], b->g->C.stride[d]);
		acc = cg_llvm_load(m, b->t, accbuf, off);
	} else {
		acc = cg_llvm_load(m, b->t, out, cg_blas_out_offset(b));
	}
	cg_blas_store(b, out, in, acc);
	cg_blas_close(b, l, n->rank);
	free(in);
	cg_llvm_return(m);
}

/* Runs body over rows 0 .. count of the output, split across threads
 * (a scalar's body runs once, here). */
static void cg_blas_run(CgBlas *b, CgLlvmValue body, CgLlvmValue count, CgLlvmValue ctx)
{
	CgLlvm *m = b->m;
	if (b->n->rank == 0) {
		CgLlvmType params[3] = {b->i64, b->i64, b->i8p};
		CgLlvmValue args[3] = {cg_blas_i64(b, 0), cg_blas_i64(b, 1), ctx};
		cg_llvm_call(m, cg_llvm_fn_type(m, cg_llvm_void(m), params, 3), body, args, 3);
		return;
	}
	cg_llvm_parallel_for(m, count, body, ctx);
}

/* The origin of one call's matrix at the looped indices
 * (cg_c_looped_offset). */
static CgLlvmValue cg_blas_looped_offset(CgBlas *b, const int64_t *stride)
{
	const GemmPlan *g = b->g;
	CgLlvmValue off = cg_blas_i64(b, 0);
	for (int i = 0; i < g->batch.n; i++)
		if (stride[g->batch.x[i]])
			off = cg_blas_term(b, off, b->x[g->batch.x[i]], stride[g->batch.x[i]]);
	for (int i = 0; i < g->kloop.n; i++)
		if (stride[g->kloop.x[i]])
			off = cg_blas_term(b, off, b->x[g->kloop.x[i]], stride[g->kloop.x[i]]);
	return off;
}

/* A matrix-vector product when N (or M) is 1 (cg_c_gemv_call). */
static void cg_blas_node_gemv(CgBlas *b)
{
	const GemmPlan *g = b->g;
	const TraNode *n = b->n;
	int64_t m = gemm_group_size(n, &g->m), nn = gemm_group_size(n, &g->nn), k = gemm_group_size(n, &g->k);
	bool on_a = nn == 1;
	const GemmMatrix *mat = on_a ? &g->A : &g->B, *vec = on_a ? &g->B : &g->A;
	CgLlvmValue mp = on_a ? b->A : b->B, vp = on_a ? b->B : b->A;
	bool trans = on_a ? mat->trans : !mat->trans;
	int64_t rows = on_a ? (mat->trans ? k : m) : (mat->trans ? nn : k);
	int64_t cols = on_a ? (mat->trans ? m : k) : (mat->trans ? k : nn);
	/* a K-vector stored as a row has step 1, as a column its ld */
	int64_t incx = on_a ? (vec->trans ? 1 : vec->ld) : (vec->trans ? vec->ld : 1);
	/* the result vector: a column of C [M, 1] or a row of C [1, N] */
	int64_t incy = on_a ? (g->C.trans ? 1 : g->C.ld) : (g->C.trans ? g->C.ld : 1);
	cg_blas_gemv(b, trans, cg_blas_i64(b, rows), cg_blas_i64(b, cols), g->alpha,
	             cg_blas_at(b, mp, cg_blas_looped_offset(b, mat->stride)), mat->ld,
	             cg_blas_at(b, vp, cg_blas_looped_offset(b, vec->stride)), incx, cg_blas_beta(b),
	             cg_blas_at(b, b->C, cg_blas_looped_offset(b, g->C.stride)), incy);
}

/* The calls inside the loops over batch and outer K (cg_c_gemm_call). */
static void cg_blas_node_calls(CgBlas *b)
{
	const GemmPlan *g = b->g;
	int xs[2 * TRA_MAX_STMT_INDICES], nx = cg_blas_looped_indices(g, xs);
	CgLlvmLoop l[2 * TRA_MAX_STMT_INDICES];
	cg_blas_open(b, l, xs, nx, false, false);
	if (b->k->gemv) {
		cg_blas_node_gemv(b);
	} else {
		CgLlvmValue mnk[3] = {cg_blas_i64(b, gemm_group_size(b->n, &g->m)),
		                      cg_blas_i64(b, gemm_group_size(b->n, &g->nn)),
		                      cg_blas_i64(b, gemm_group_size(b->n, &g->k))};
		cg_blas_gemm(b, g->A.trans, g->B.trans, mnk, g->alpha,
		             cg_blas_at(b, b->A, cg_blas_looped_offset(b, g->A.stride)), g->A.ld,
		             cg_blas_at(b, b->B, cg_blas_looped_offset(b, g->B.stride)), g->B.ld, cg_blas_beta(b),
		             cg_blas_at(b, b->C, cg_blas_looped_offset(b, g->C.stride)), cg_blas_i64(b, g->C.ld));
	}
	cg_blas_close(b, l, nx);
}

/* The GEMM panel by panel of KPLAN_PANEL rows, each panel's epilogue
 * right after it, while the panel is in cache (cg_c_gemm_panels). */
static void cg_blas_panels(CgBlas *b, CgLlvmValue body)
{
	CgLlvm *m = b->m;
	const GemmPlan *g = b->g;
	int64_t rows = b->n->idx[0].size;
	CgLlvmLoop l;
	cg_llvm_loop_begin(m, &l, cg_blas_i64(b, 0), cg_blas_i64(b, (rows + KPLAN_PANEL - 1) / KPLAN_PANEL), false);
	CgLlvmValue p0 = cg_llvm_imul(m, l.iv, cg_blas_i64(b, KPLAN_PANEL));
	CgLlvmValue rest = cg_llvm_isub(m, cg_blas_i64(b, rows), p0), full = cg_blas_i64(b, KPLAN_PANEL);
	CgLlvmValue pm = cg_llvm_select(m, cg_llvm_icmp(m, TRA_OP_LT, rest, full), rest, full);
	CgLlvmValue mnk[3] = {pm, cg_blas_i64(b, gemm_group_size(b->n, &g->nn)),
	                      cg_blas_i64(b, gemm_group_size(b->n, &g->k))};
	CgLlvmValue Ap = cg_blas_at(b, b->A, cg_llvm_imul(m, p0, cg_blas_i64(b, g->A.stride[0])));
	CgLlvmValue Cp = cg_blas_at(b, b->C, cg_llvm_imul(m, p0, cg_blas_i64(b, g->C.ld)));
	cg_blas_gemm(b, g->A.trans, g->B.trans, mnk, g->alpha, Ap, g->A.ld, b->B, g->B.ld,
	             cg_llvm_const(m, b->t, 0.0), Cp, cg_blas_i64(b, g->C.ld));
	cg_blas_run(b, body, pm, cg_llvm_ctx(m, b->bufs, NULL, p0));
	cg_llvm_loop_end(m, &l);
}

/* k<node>(bufs): the operands (or their copies), the calls into the
 * output (or C's scratch copy), the epilogue pass (cg_c_gemm_kernel). */
static void cg_blas_node_kernel(CgBlas *b)
{
	CgLlvm *m = b->m;
	const GemmPlan *g = b->g;
	bool scratch_c = g->C.scratch, epi = g->epilogue;
	char name[40];
	CgLlvmValue body = NULL;
	if (scratch_c || epi) {
		snprintf(name, sizeof name, "k%d.epilogue", b->k->node);
		cg_blas_body(b, name);
		body = cg_llvm_named_function(m, name);
	}
	snprintf(name, sizeof name, "k%d", b->k->node);
	CgLlvmType bufs = cg_llvm_ptr(m, b->i8p);
	cg_llvm_internal(cg_llvm_function(m, name, &bufs, 1));
	b->bufs = cg_llvm_param(m, 0);
	b->A = cg_blas_operand(b, &g->A, g->a, false, &b->As);
	b->B = cg_blas_operand(b, &g->B, g->b, false, &b->Bs);
	CgLlvmValue Cs = NULL;
	if (scratch_c) {
		Cs = cg_blas_scratch(b, cg_blas_i64(b, tra_node_elements(b->n)));
		b->C = cg_llvm_bitcast(m, Cs, b->tp);
	} else {
		b->C = cg_blas_buffer(b, b->k->node);
	}
	if (b->k->panels) {
		cg_blas_panels(b, body);
	} else {
		cg_blas_node_calls(b);
		if (body)
			cg_blas_run(b, body, cg_blas_i64(b, b->n->rank ? b->n->idx[0].size : 1),
			            cg_llvm_ctx(m, b->bufs, Cs, cg_blas_i64(b, 0)));
	}
	cg_blas_scratch_free(b, b->As);
	cg_blas_scratch_free(b, b->Bs);
	cg_blas_scratch_free(b, Cs);
	cg_llvm_return(m);
}

void cg_llvm_blas_kernel(CgLlvmProg *p, const Kplan *k)
{
	if (k->kind != KPLAN_BLAS)
		TRAC_BUG("cg_llvm_blas_kernel on a %s plan", kplan_kind_name(k->kind));
	CgBlas b;
	cg_blas_init(&b, p, k);
	if (k->block)
		cg_blas_block_kernel(&b);
	else
		cg_blas_node_kernel(&b);
}
