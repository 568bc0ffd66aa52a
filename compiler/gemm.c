/* needs: a verified TraGraph (for block tasks, with its partitions). gives: GemmPlan, how BLAS computes a node. */
/* gemm.c: which contractions BLAS computes, and how.
 *
 * A node that is a sum over the product of two operands (and constant
 * factors) is a contraction. Its indices fall into groups: batch (in
 * both operands and the output), M (first operand and output), N
 * (second operand and output) and K (both operands, reduced); an index
 * in one operand only, or a diagonal, is no matrix product, and the node
 * stays a loop nest. The plan decides the BLAS calls; kplan.c makes it
 * a kernel's plan, the back ends (codegen/c.c) only render it, and ia.c
 * marks the GEMM-shaped block tasks from the same plan, so that the two
 * never disagree.
 *
 * A call multiplies matrices whose rows and columns are each one run of
 * adjacent dimensions (a group "merged") with one of the two at stride 1
 * (BLAS's leading dimension steps over the other). A group that is not
 * one run in both matrices that hold it can be had three ways:
 *
 *   - loops around the calls: the group keeps its longest run of inner
 *     indices that is adjacent in both matrices (in either one's order),
 *     and its other indices are looped: an M or N index like a batch one
 *     (it only moves the origins of the matrices that hold it: a weight
 *     shared across a batch is read at the same origin by every call),
 *     a K index accumulating (BLAS's beta is 1 after the first call);
 *     a batch of calls with constant steps is what a strided batched
 *     GEMM is, and OpenBLAS has none, so it is a loop;
 *   - a permuting copy: an operand that does not fit is first copied
 *     into scratch with its groups adjacent; a result that does not fit
 *     is computed in scratch and stored by the epilogue pass;
 *   - the product written transposed: C^T = B^T A^T, when the result's
 *     columns are not at stride 1 but its rows are.
 *
 * The rule. Every combination of these (per group: the whole group, or
 * its longest run shared by both holders in either's order; the result
 * as is or transposed) is costed, and the cheapest taken:
 *
 *   cost = calls * (GEMM_CALL + max(2mnk / (GEMM_FLOPS * e(m) e(n) e(k)),
 *                                   (mk + kn + mn) * bytes / GEMM_BW))
 *        + bytes of every copied matrix, twice (read, write) / GEMM_BW
 *
 * where calls is the product of the looped extents and e(d) = d / (d +
 * GEMM_HALF) is how far a dimension of d is from BLAS's peak (1 when d
 * is 1: a matrix-vector product is priced by its bytes). A group kept
 * in part must keep at least GEMM_MIN_KEPT rows (columns, terms): below
 * that the calls are too small to be worth it against a copy, or the
 * loop nest. Ties go to the first combination tried: whole groups,
 * untransposed.
 *
 * BLAS or loops. Each call pays GEMM_CALL before any work, so a
 * contraction of many tiny products (3 x 3 rotations of a million
 * points, a batch of 4 x 4 products) is faster as the loop nest that
 * kplan.c would make of it. The best plan is taken only if it costs less
 * than the nest, priced as every join point's multiply and add at
 * GEMM_LOOP_FLOPS. That rate is not a loop's speed but where the two
 * cross over, measured on batched products of S x S x S (2^24
 * multiply-adds each; LLVM back end, 2 threads, under load; ms, BLAS /
 * loops): S = 4, 31-38 / 11-18 (NumPy's matmul, 44); S = 8, 5-10 /
 * 12-13; S = 16, 1.5-1.9 / 3.4-5.3; and Y[n, i] = sum[j](R[n, i, j] *
 * P[n, j]) over 2^20 points of 3, 2^20 gemv calls, 39-54 / 12 (NumPy's
 * matmul, 33). The loops must win below S = 8 (GEMM_LOOP_FLOPS above
 * 1.1e8) and lose from S = 8 on (below 8e8). Only a plan of at least
 * GEMM_LOOP_MIN_CALLS calls is so weighed: the calls' fixed cost, about
 * 0.1 us each, is then worth saving; with fewer, the two differ by too
 * little to matter, and BLAS stays, so that a program's products are
 * the same kernels at small sizes (its tests') as at large ones.
 * Otherwise a whole-node kernel (GEMM_NODE) always has a plan, copies
 * being always possible: every contraction reaches BLAS where BLAS is
 * faster.
 *
 * Block tasks (GEMM_BLOCKS) run the plan on a block of the join space:
 * an operand's copy is of the block (into room for the largest block);
 * the result is never copied (a layout that would need that is a loop
 * nest); a kept run of several indices only where the partition leaves
 * all but its outer index uncut (a cut one would break the run in a
 * block: decomp.c breaks ties between partitions with gemm_runs_cut to
 * avoid that); the block's columns the output's last index (the partial
 * block of a split reduction is C order in the block); and the costs
 * are a block's (extents size / parts).
 *
 * The constants are a rough core of today's x86 servers; only their
 * ratios matter, and only between the plans of one node and its loop
 * nest.
 */
#include "tra.h"

#include <math.h>
#include <string.h>

/* The simple cost's machine, one core: GEMM FLOP/s at f32 (half at
 * f64), seconds per call, memory bytes/s, the dimension at which BLAS
 * runs at half its peak, the fewest rows a split group keeps. */
#define GEMM_FLOPS 1e11
#define GEMM_CALL 1e-6
#define GEMM_BW 1e10
#define GEMM_HALF 16.0
#define GEMM_MIN_KEPT 16
/* The loop nest's rate against that machine's (the top says why) */
#define GEMM_LOOP_FLOPS 3e8
#define GEMM_LOOP_MIN_CALLS 1024 /* ... for plans of at least this many calls */

int64_t gemm_group_size(const TraNode *n, const GemmGroup *g)
{
	int64_t s = 1;
	for (int i = 0; i < g->n; i++)
		s *= n->idx[g->x[i]].size;
	return s;
}

/* How many elements of index x one call (or block) sees: its size, or
 * in block mode the size of its larger blocks. */
static double gemm_extent(const TraNode *n, GemmMode mode, int x)
{
	int parts = mode == GEMM_BLOCKS && n->part ? n->part[x] : 1;
	return (double)((n->idx[x].size + parts - 1) / parts);
}

double gemm_group_extent(const TraNode *n, GemmMode mode, const GemmGroup *g)
{
	double e = 1;
	for (int i = 0; i < g->n; i++)
		e *= gemm_extent(n, mode, g->x[i]);
	return e;
}

/* Whether the group is one run of adjacent dimensions in the given
 * order; *out is then the run's innermost stride. */
static bool gemm_merged(const TraNode *n, const GemmGroup *g, const int64_t *stride, int64_t *out)
{
	if (g->n == 0) {
		*out = 1;
		return true;
	}
	for (int i = 0; i + 1 < g->n; i++)
		if (stride[g->x[i]] != stride[g->x[i + 1]] * n->idx[g->x[i + 1]].size)
			return false;
	*out = stride[g->x[g->n - 1]];
	return true;
}

/* Fits matrix M as rows x cols (row-major, or transposed); false if it
 * cannot be seen that way without a copy. A block's copy holds only the
 * block: its rows and columns are the block's extents. */
static bool gemm_fit(const TraNode *n, GemmMode mode, GemmMatrix *M, const GemmGroup *rows,
                     const GemmGroup *cols)
{
	int64_t sr, sc, nr = gemm_group_size(n, rows), nc = gemm_group_size(n, cols);
	if (M->scratch) {
		nr = (int64_t)gemm_group_extent(n, mode, rows);
		nc = (int64_t)gemm_group_extent(n, mode, cols);
	}
	if (!gemm_merged(n, rows, M->stride, &sr) || !gemm_merged(n, cols, M->stride, &sc))
		return false;
	if (nc == 1 || sc == 1) {
		M->trans = false;
		M->ld = nr == 1 ? (nc > 1 ? nc : 1) : sr;
		return M->ld >= nc;
	}
	if (nr == 1 || sr == 1) {
		M->trans = true;
		M->ld = nc == 1 ? (nr > 1 ? nr : 1) : sc;
		return M->ld >= nr;
	}
	return false;
}

/* The scratch layout of a copied matrix: the looped indices it holds,
 * then its rows, then its columns, C order; a block's copy has room for
 * the largest block (gemm_extent). */
static void gemm_canonical(const TraNode *n, GemmMode mode, GemmMatrix *M, const GemmGroup *batch,
                           const GemmGroup *kloop, const GemmGroup *rows, const GemmGroup *cols)
{
	const GemmGroup *gs[4] = {cols, rows, kloop, batch};
	int64_t s = 1, had[TRA_MAX_STMT_INDICES];
	memcpy(had, M->stride, sizeof had);
	memset(M->stride, 0, sizeof M->stride);
	for (int i = 0; i < 4; i++)
		for (int j = gs[i]->n - 1; j >= 0; j--) {
			int x = gs[i]->x[j];
			if (!had[x] && i >= 2)
				continue; /* a looped index this matrix does not hold */
			M->stride[x] = s;
			s *= (int64_t)gemm_extent(n, mode, x);
		}
	M->scratch = true;
}

/* Sorts group indices by decreasing stride in the given table. */
static void gemm_sort_group(GemmGroup *g, const int64_t *stride)
{
	for (int i = 1; i < g->n; i++)
		for (int j = i; j > 0 && stride[g->x[j - 1]] < stride[g->x[j]]; j--) {
			int t = g->x[j];
			g->x[j] = g->x[j - 1];
			g->x[j - 1] = t;
		}
}

/* ---- classification ------------------------------------------------------------ */

/* Flattens a product of operands, constants and negations: its operand
 * reads (at most two) and its constant factor; false if it is not one. */
static bool gemm_product(const TraGraph *g, int e, int *ops, int *nops, double *scale)
{
	const TraExpr *x = &g->ex[e];
	switch (x->op) {
	case TRA_OP_MUL:
		return gemm_product(g, x->kid[0], ops, nops, scale) &&
		       gemm_product(g, x->kid[1], ops, nops, scale);
	case TRA_OP_NEG:
		*scale = -*scale;
		return gemm_product(g, x->kid[0], ops, nops, scale);
	case TRA_OP_CONST:
		*scale *= x->value;
		return isfinite(x->value);
	case TRA_OP_OPERAND:
		if (*nops == 2)
			return false;
		ops[(*nops)++] = x->arg;
		return true;
	default:
		return false;
	}
}

/* Whether operand k reads some index twice (a diagonal: no matrix). */
static bool gemm_diagonal(const TraNode *n, int k)
{
	const TraOperand *op = &n->ops[k];
	for (int d = 0; d < op->rank; d++)
		for (int e = d + 1; e < op->rank; e++)
			if (op->idx[d] == op->idx[e])
				return true;
	return false;
}

/* Sorts n's indices into batch/M/N/K groups (M and N in output order,
 * K in the first operand's) with every matrix's strides; false if n is
 * not a sum of a product of two operands with such groups. */
static bool gemm_classify(const TraGraph *g, const TraNode *n, GemmPlan *p)
{
	int ops[2], nops = 0;
	double scale = 1;
	if (n->agg != TRA_AGG_SUM || !gemm_product(g, n->join, ops, &nops, &scale) || nops != 2)
		return false;
	memset(p, 0, sizeof *p);
	p->a = ops[0];
	p->b = ops[1];
	p->scale = scale;
	for (int x = 0; x < n->nidx; x++) {
		int64_t sa = tra_operand_stride(g, n, p->a, x), sb = tra_operand_stride(g, n, p->b, x);
		p->A.stride[x] = sa;
		p->B.stride[x] = sb;
		p->C.stride[x] = x < n->rank ? tra_node_stride(n, x) : 0;
		bool out = x < n->rank;
		if (n->idx[x].size == 1)
			continue; /* any group would do; none is simplest */
		GemmGroup *gr = out && sa && sb ? &p->batch : out && sa ? &p->m : out && sb ? &p->nn
		              : !out && sa && sb ? &p->k : NULL;
		if (!gr)
			return false;
		gr->x[gr->n++] = x;
	}
	if (gemm_diagonal(n, p->a) || gemm_diagonal(n, p->b))
		return false;
	gemm_sort_group(&p->k, p->A.stride);
	return true;
}

bool gemm_is_gemv(const TraNode *n, const GemmPlan *p)
{
	return (gemm_group_size(n, &p->nn) == 1 || gemm_group_size(n, &p->m) == 1) &&
	       gemm_group_size(n, &p->k) > 1;
}

/* ---- the ways to keep a group ------------------------------------------------- */

/* Whether x and the next index y are adjacent in both stride tables. */
static bool gemm_adjacent(const TraNode *n, int x, int y, const int64_t *s1, const int64_t *s2)
{
	return s1[x] == s1[y] * n->idx[y].size && s2[x] == s2[y] * n->idx[y].size;
}

/* The longest run of g's inner indices, in the order of s1, that is
 * adjacent in both s1 and s2 (and, for blocks, cut only at its outer
 * index). */
static void gemm_kept_run(const TraNode *n, GemmMode mode, const GemmGroup *g, const int64_t *s1,
                          const int64_t *s2, GemmGroup *run)
{
	GemmGroup s = *g;
	gemm_sort_group(&s, s1);
	int first = s.n - 1;
	while (first > 0 && gemm_adjacent(n, s.x[first - 1], s.x[first], s1, s2) &&
	       (mode == GEMM_NODE || !n->part || n->part[s.x[first]] == 1))
		first--;
	run->n = s.n - first;
	memmove(run->x, s.x + first, (size_t)run->n * sizeof *run->x);
}

/* Whether a block can keep the whole group as a run: every index but
 * its outer one uncut. */
static bool gemm_block_whole(const TraNode *n, GemmMode mode, const GemmGroup *g)
{
	for (int i = 1; i < g->n && mode == GEMM_BLOCKS && n->part; i++)
		if (n->part[g->x[i]] != 1)
			return false;
	return true;
}

static bool gemm_same_group(const GemmGroup *a, const GemmGroup *b)
{
	return a->n == b->n && memcmp(a->x, b->x, (size_t)a->n * sizeof *a->x) == 0;
}

/* The kept runs tried for group g held by the matrices of strides s1
 * and s2: the whole group, then its longest shared run in each one's
 * order; returns how many (at most 3) are in opts. */
static int gemm_options(const TraNode *n, GemmMode mode, const GemmGroup *g, const int64_t *s1,
                        const int64_t *s2, GemmGroup *opts)
{
	int m = 0;
	if (g->n == 0 || gemm_block_whole(n, mode, g))
		opts[m++] = *g;
	if (g->n == 0)
		return m;
	GemmGroup r[2];
	gemm_kept_run(n, mode, g, s1, s2, &r[0]);
	gemm_kept_run(n, mode, g, s2, s1, &r[1]);
	for (int i = 0; i < 2; i++) {
		bool dup = false;
		for (int j = 0; j < m; j++)
			dup |= gemm_same_group(&opts[j], &r[i]);
		if (!dup)
			opts[m++] = r[i];
	}
	return m;
}

/* ---- one combination ---------------------------------------------------------------- */

/* Moves the indices of g that kept lacks to looped; g becomes kept. */
static void gemm_keep(GemmGroup *g, const GemmGroup *kept, GemmGroup *looped)
{
	for (int i = 0; i < g->n; i++) {
		bool in = false;
		for (int j = 0; j < kept->n; j++)
			in |= kept->x[j] == g->x[i];
		if (!in)
			looped->x[looped->n++] = g->x[i];
	}
	*g = *kept;
}

/* Fits matrix M as rows x cols, or copies it; a block's result is
 * never copied (false). */
static bool gemm_fit_or_copy(const TraNode *n, GemmMode mode, GemmPlan *p, GemmMatrix *M,
                             const GemmGroup *rows, const GemmGroup *cols, bool gemv_ok)
{
	if (gemm_fit(n, mode, M, rows, cols) && (!M->trans || gemv_ok))
		return true;
	if (mode == GEMM_BLOCKS && M == &p->C)
		return false;
	gemm_canonical(n, mode, M, &p->batch, &p->kloop, rows, cols);
	gemm_fit(n, mode, M, rows, cols);
	return true;
}

/* Elements of a matrix as laid out (its strides' indices), in a block
 * in block mode. */
static double gemm_matrix_elements(const TraNode *n, GemmMode mode, const GemmMatrix *M)
{
	double e = 1;
	for (int x = 0; x < n->nidx; x++)
		if (M->stride[x])
			e *= gemm_extent(n, mode, x);
	return e;
}

/* How far a dimension of d is from BLAS's peak (see the top). */
static double gemm_efficiency(double d)
{
	return d > 1 ? d / (d + GEMM_HALF) : 1;
}

/* How many BLAS calls plan p makes (of a block, in block mode). */
static double gemm_calls(const TraNode *n, GemmMode mode, const GemmPlan *p)
{
	return gemm_group_extent(n, mode, &p->batch) * gemm_group_extent(n, mode, &p->kloop);
}

/* The simple cost of plan p, in seconds (see the top). */
static double gemm_cost(const TraNode *n, GemmMode mode, const GemmPlan *p)
{
	double es = trart_dtype_size(n->type);
	double m = gemm_group_extent(n, mode, &p->m), nn = gemm_group_extent(n, mode, &p->nn);
	double k = gemm_group_extent(n, mode, &p->k);
	double calls = gemm_calls(n, mode, p);
	double rate = GEMM_FLOPS * 4 / es * gemm_efficiency(m) * gemm_efficiency(nn) * gemm_efficiency(k);
	double call = GEMM_CALL + fmax(2 * m * nn * k / rate, (m * k + k * nn + m * nn) * es / GEMM_BW);
	double copies = 0;
	const GemmMatrix *ms[3] = {&p->A, &p->B, &p->C};
	for (int i = 0; i < 3; i++)
		if (ms[i]->scratch)
			copies += 2 * gemm_matrix_elements(n, mode, ms[i]) * es / GEMM_BW;
	return calls * call + copies;
}

/* Whether a group split into kept and looped indices keeps enough. */
static bool gemm_enough(const TraNode *n, GemmMode mode, const GemmGroup *whole, const GemmGroup *kept)
{
	return kept->n == whole->n || gemm_group_extent(n, mode, kept) >= GEMM_MIN_KEPT;
}

/* The loop nest's cost, the alternative to any plan: a multiply and an
 * add per join point (of a block, in block mode), at GEMM_LOOP_FLOPS (at
 * f32; half at f64, as BLAS). */
static double gemm_loop_cost(const TraNode *n, GemmMode mode)
{
	double points = 1;
	for (int x = 0; x < n->nidx; x++)
		points *= gemm_extent(n, mode, x);
	return 2 * points / (GEMM_LOOP_FLOPS * 4 / trart_dtype_size(n->type));
}

/* What block tasks need of the result: written in place, untransposed,
 * its columns ending at the output's last index. */
static bool gemm_block_result(const TraNode *n, const GemmPlan *p)
{
	return !p->C.trans && p->nn.n > 0 && p->nn.x[p->nn.n - 1] == n->rank - 1;
}

/* The plan that keeps km, kn, kk of base's M, N and K groups, with the
 * result transposed if swap; false if there is none (block mode). */
static bool gemm_try(const TraNode *n, GemmMode mode, const GemmPlan *base, const GemmGroup *km,
                     const GemmGroup *kn, const GemmGroup *kk, bool swap, GemmPlan *p)
{
	*p = *base;
	if (!gemm_enough(n, mode, &base->m, km) || !gemm_enough(n, mode, &base->nn, kn) ||
	    !gemm_enough(n, mode, &base->k, kk))
		return false;
	gemm_keep(&p->m, km, &p->batch);
	gemm_keep(&p->nn, kn, &p->batch);
	gemm_keep(&p->k, kk, &p->kloop);
	if (swap) {
		int t = p->a;
		p->a = p->b;
		p->b = t;
		GemmGroup g = p->m;
		p->m = p->nn;
		p->nn = g;
		GemmMatrix M = p->A;
		p->A = p->B;
		p->B = M;
	}
	/* gemv writes a vector with any step, so a "transposed" one fits */
	bool gemv = gemm_is_gemv(n, p);
	if (!gemm_fit_or_copy(n, mode, p, &p->C, &p->m, &p->nn, gemv) ||
	    !gemm_fit_or_copy(n, mode, p, &p->A, &p->m, &p->k, true) ||
	    !gemm_fit_or_copy(n, mode, p, &p->B, &p->k, &p->nn, true))
		return false;
	if (mode == GEMM_BLOCKS && !gemm_block_result(n, p))
		return false;
	p->cost = gemm_cost(n, mode, p);
	return true;
}

/* An epilogue acc * c, c * acc, acc / c or -acc becomes BLAS's alpha
 * instead of a pass over the output (when the result is the output). */
/* The value of a constant (or a negated one). */
static bool gemm_constant(const TraGraph *g, int e, double *v)
{
	const TraExpr *x = &g->ex[e];
	if (x->op == TRA_OP_NEG && gemm_constant(g, x->kid[0], v)) {
		*v = -*v;
		return true;
	}
	*v = x->value;
	return x->op == TRA_OP_CONST && isfinite(x->value);
}

/* How much an epilogue that only scales the aggregate multiplies it by:
 * acc * c, c * acc, acc / c, -acc; false for anything else. */
static bool gemm_epilogue_scale(const TraGraph *g, int e, double *v)
{
	const TraExpr *x = &g->ex[e];
	if (x->op == TRA_OP_NEG && gemm_epilogue_scale(g, x->kid[0], v)) {
		*v = -*v;
		return true;
	}
	if (x->op == TRA_OP_ACC) {
		*v = 1;
		return true;
	}
	if (x->op != TRA_OP_MUL && x->op != TRA_OP_DIV)
		return false;
	bool acc_left = g->ex[x->kid[0]].op == TRA_OP_ACC, acc_right = g->ex[x->kid[1]].op == TRA_OP_ACC;
	if (x->op == TRA_OP_MUL && acc_left)
		return gemm_constant(g, x->kid[1], v);
	if (x->op == TRA_OP_MUL && acc_right)
		return gemm_constant(g, x->kid[0], v);
	if (acc_left && gemm_constant(g, x->kid[1], v) && *v != 0) {
		*v = 1 / *v;
		return true;
	}
	return false;
}

/* BLAS's alpha: the join's constant factors, and an epilogue that only
 * scales instead of a pass over the output (when C is the output). */
static void gemm_alpha(const TraGraph *g, const TraNode *n, GemmPlan *p)
{
	double v;
	p->alpha = p->scale;
	p->epilogue = n->epilogue >= 0;
	if (p->epilogue && !p->C.scratch && gemm_epilogue_scale(g, n->epilogue, &v)) {
		p->alpha *= v;
		p->epilogue = false;
	}
}

bool gemm_plan(const TraGraph *g, const TraNode *n, GemmMode mode, GemmPlan *p)
{
	GemmPlan base, t;
	if (tra_node_is_scatter(n))
		return false; /* KPLAN_SCATTER's */
	for (int k = 0; k < n->nops; k++)
		if (n->ops[k].aff)
			return false; /* a view's read, or a loop kernel's (views.c) */
	if (TRART_IS_INT(n->type) || !gemm_classify(g, n, &base))
		return false; /* BLAS has no integer GEMM */
	GemmGroup om[3], on[3], ok[3];
	int nm = gemm_options(n, mode, &base.m, base.A.stride, base.C.stride, om);
	int nn = gemm_options(n, mode, &base.nn, base.B.stride, base.C.stride, on);
	int nk = gemm_options(n, mode, &base.k, base.A.stride, base.B.stride, ok);
	bool found = false;
	for (int swap = 0; swap < 2; swap++)
		for (int i = 0; i < nm; i++)
			for (int j = 0; j < nn; j++)
				for (int l = 0; l < nk; l++)
					if (gemm_try(n, mode, &base, &om[i], &on[j], &ok[l], swap, &t) &&
					    (!found || t.cost < p->cost)) {
						*p = t;
						found = true;
					}
	if (!found || (gemm_calls(n, mode, p) >= GEMM_LOOP_MIN_CALLS && gemm_loop_cost(n, mode) < p->cost))
		return false;
	gemm_alpha(g, n, p);
	return true;
}

/* The indices of the M, N and K groups from the first-th of each on
 * that partition part cuts. */
static int gemm_groups_cut(const GemmPlan *p, const int *part, int first)
{
	const GemmGroup *gs[3] = {&p->m, &p->nn, &p->k};
	int cut = 0;
	for (int i = 0; i < 3; i++)
		for (int j = first; j < gs[i]->n; j++)
			cut += part[gs[i]->x[j]] > 1;
	return cut;
}

int gemm_runs_cut(const GemmPlan *p, const int *part)
{
	return gemm_groups_cut(p, part, 1);
}

int gemm_dims_cut(const GemmPlan *p, const int *part)
{
	return gemm_groups_cut(p, part, 0);
}
