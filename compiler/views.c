/* views.c: views read in place (the `views` pass).
 * needs: a verified TraGraph after fusion. gives: the same graph where
 * every loop kernel that read a view reads the viewed tensor through the
 * view's affine map instead; views no reader needs any more are left dead
 * for dce_remove.
 *
 * Sema makes a view of every tensor element with index arithmetic, a
 * slice or padding (tra.h, TraAffine), so that the passes before this
 * one see plain operands only. A view is a copy, which a reader that runs
 * as a loop nest does not need: the kernels address an affine operand
 * (with its padding) as cheaply as a plain one. So here, last before dce,
 * a reader's plain operand V[idx] of view V = X[A x + b] becomes the
 * affine operand X[A' y + b], A' the columns of A moved to the reader's
 * indices (two view dimensions the reader reads at one index add up).
 *
 * Kept as copies: views that convert their element type, gathers (their
 * index operands would have to move too), and views that a reader needs
 * dense: a GEMM (the im2col of a convolution is what lets BLAS compute
 * it) or any reader of which gemm_plan would make one, but for a
 * matrix-vector product whose matrix is the view (views_read_in_place: a
 * convolution with one filter), which then runs as a loop nest; and
 * views that are outputs. Nothing after this pass adds nodes, and decomposition,
 * lowering, the kernel plans and both back ends read affine operands of
 * any node (ia.c boxes them with their halo).
 */
#include "tra.h"

#include <string.h>

/* Whether view v may be read in place by its readers. */
static bool views_foldable(const TraGraph *g, const TraNode *v)
{
	if (!tra_node_is_view(v) || v->nops != 1)
		return false;
	const TraOperand *op = &v->ops[0];
	return !op->aff->gather && g->nodes[op->node].type == v->type && !tra_node_kept(v);
}

/* Whether reader n reads its views in place: it runs as a loop nest
 * whatever its operands (never as BLAS calls, whole or in blocks), or it
 * is a matrix-vector product (gemm.c) whose matrix is a view that may be
 * read in place. Each element of a GEMV's matrix is read once, so a copy
 * gains BLAS nothing: it writes and reads again what the loop nest reads
 * once (a 1-D convolution's 9-tap im2col is 9 times its input), and the
 * loop nest re-reads the viewed tensor's overlapping windows from cache. */
static bool views_read_in_place(const TraGraph *g, const TraNode *n)
{
	GemmPlan p;
	if (n->kind != TRA_NODE_EINSUM || tra_node_is_opaque(n))
		return false;
	if (!gemm_plan(g, n, GEMM_NODE, &p))
		return !gemm_plan(g, n, GEMM_BLOCKS, &p);
	int matrix = gemm_group_size(n, &p.m) == 1 ? p.b : p.a;
	return gemm_is_gemv(n, &p) && views_foldable(g, &g->nodes[n->ops[matrix].node]);
}

/* The affine map of n's operand r, a read of view v, composed with v's.
 * (Read in an epilogue, r reads output indices only, and so does the
 * composition.) */
static TraAffine *views_compose(const TraGraph *g, const TraNode *n, const TraOperand *r, const TraNode *v)
{
	const TraAffine *va = v->ops[0].aff;
	int rank = v->ops[0].rank;
	TraAffine *aff = arena_alloc(g->arena, sizeof *aff);
	aff->coef = arena_alloc(g->arena, ((size_t)rank * (size_t)n->nidx + 1) * sizeof *aff->coef);
	aff->off = arena_alloc(g->arena, (size_t)(rank + 1) * sizeof *aff->off);
	aff->padded = va->padded;
	aff->pad = va->pad;
	for (int d = 0; d < rank; d++) {
		aff->off[d] = va->off[d];
		for (int p = 0; p < v->nidx; p++)
			aff->coef[d * n->nidx + r->idx[p]] += va->coef[d * v->nidx + p];
	}
	return aff;
}

/* Operand k of n, a read of view v, becomes a read of what v views. */
static void views_fold_operand(TraGraph *g, TraNode *n, int k, const TraNode *v)
{
	TraOperand *r = &n->ops[k];
	TraAffine *aff = views_compose(g, n, r, v);
	int rank = v->ops[0].rank;
	int *idx = arena_alloc(g->arena, (size_t)(rank + 1) * sizeof *idx);
	for (int d = 0; d < rank; d++) {
		idx[d] = -1;
		for (int x = 0; x < n->nidx && idx[d] < 0; x++)
			if (aff->coef[d * n->nidx + x] != 0)
				idx[d] = x;
	}
	*r = (TraOperand){.node = v->ops[0].node, .rank = rank, .idx = idx, .aff = aff};
}

void views_fold(TraGraph *g)
{
	for (int id = 0; id < g->nnodes; id++) {
		TraNode *n = &g->nodes[id];
		if (!views_read_in_place(g, n))
			continue;
		for (int k = 0; k < n->nops; k++) {
			const TraNode *v = &g->nodes[n->ops[k].node];
			if (!n->ops[k].aff && views_foldable(g, v))
				views_fold_operand(g, n, k, v);
		}
		tra_node_cost(g, n);
	}
}
