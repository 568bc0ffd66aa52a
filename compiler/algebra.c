/* needs: a verified TraGraph. gives: constants folded, identities applied, invariant factors out of sums. */
/* algebra.c: algebraic normalisation, within tra(5)'s numeric contract.
 *
 * Programs that say the same thing in different words should reach the
 * same graph, and the other passes should see the simplest form of
 * each expression. Every einsum's join and epilogue are rewritten bottom
 * up, in place (no tree is shared between nodes, nor within one):
 *
 *   - Constant folding: an operation whose operands are all constants is
 *     computed with the interpreter's own arithmetic (interp_apply), so a
 *     folded program gives the oracle's values; select with a constant
 *     condition becomes the branch it picks.
 *   - Identities that are exact in IEEE arithmetic: x * 1, 1 * x, x / 1,
 *     x - 0 -> x; x * -1, -1 * x, 0 - x -> -x; --x -> x; x + -y, -y + x
 *     -> x - y; x - -y -> x + y. Also x + 0, 0 + x -> x, which differs only in the
 *     sign of a zero result (-0 + 0 is +0), a difference no comparison
 *     and no tolerance sees. Not x * 0 -> 0: inf * 0 and NaN * 0 are NaN,
 *     and tra(5) says NaN propagates.
 *   - Division by a constant c becomes multiplication by 1/c only when
 *     1/c is exact: c a power of two whose reciprocal is a normal number
 *     in both element types (x / 8 -> x * 0.125). Then the two are the
 *     same IEEE operation, bit for bit. Other constants keep their
 *     division: x * (1/3) may differ from x / 3 in the last bit, and the
 *     contract promises element-wise results rounded as written.
 *   - Factors out of sums. In a SUM whose join is a product, the factors
 *     that read no reduced index (a[i] in sum[k](a[i] * B[i, k]), a scalar
 *     input s) move to the epilogue: acc becomes acc * a[i]. This is
 *     distributivity, which the contract allows as it allows reassociating
 *     a sum (tra(5), NUMERICS: the result agrees within the stated
 *     tolerance on finite, well-scaled data); it saves a multiply per join
 *     point and leaves the join a plain product, which contraction order
 *     and the GEMM kernels want. Constant factors stay in the join: the
 *     back end folds them into GEMM's alpha for free. A factor moves only
 *     while some factor that reads a reduced index stays, and only if the
 *     factors that read a reduced index read every output index it reads
 *     (else the sum would be recomputed along that index; the order pass
 *     splits such products better). The rule looks at index sets only, so
 *     the order the factors are written in does not change the graph.
 *
 *   - Copies forwarded. A node that only copies another tensor, maybe
 *     with its dimensions permuted (T[j, i] = X[i, j]), and is not an
 *     output, computes nothing a reader could not read itself: its readers
 *     read the copied tensor at the subscripts the copy's subscripts map
 *     theirs to (T[a, b] becomes X[b, a]), so the layout of every tensor
 *     is the back end's choice (gemm.c transposes or copies where a GEMM
 *     wants it). The copy is left unread, for dce.c.
 *
 * Linear in the size of the expressions; nodes with more than 64 indices
 * keep their factors (their index sets do not fit tra_expr_indices).
 */
#include "tra.h"

#include <float.h>
#include <math.h>

static bool algebra_is_const(const TraGraph *g, int e, double v)
{
	return g->ex[e].op == TRA_OP_CONST && g->ex[e].value == v;
}

static int algebra_new(TraGraph *g, TraOp op, int a, int b)
{
	return tra_expr_new(g, op, 0, 0, a, b, -1);
}

/* e, all of whose operands are constants, as one constant (in place). */
static int algebra_fold(TraGraph *g, int e)
{
	TraExpr *x = &g->ex[e];
	if (x->op == TRA_OP_SELECT)
		return g->ex[x->kid[0]].value != 0 ? x->kid[1] : x->kid[2];
	double a = g->ex[x->kid[0]].value;
	double b = tra_op_arity[x->op] > 1 ? g->ex[x->kid[1]].value : 0;
	*x = (TraExpr){.op = TRA_OP_CONST, .value = interp_apply(x->op, a, b), .kid = {-1, -1, -1}};
	return e;
}

/* Whether e can be folded: an operation whose operands (the condition,
 * for select) are constants. */
static bool algebra_foldable(const TraGraph *g, int e)
{
	const TraExpr *x = &g->ex[e];
	int n = tra_op_arity[x->op];
	if (n == 0)
		return false;
	if (x->op == TRA_OP_SELECT)
		return g->ex[x->kid[0]].op == TRA_OP_CONST;
	for (int k = 0; k < n; k++)
		if (g->ex[x->kid[k]].op != TRA_OP_CONST)
			return false;
	return true;
}

/* 1/c when it is exact: c a power of two with a normal f32 reciprocal. */
static bool algebra_exact_reciprocal(double c, double *r)
{
	int ex;
	if (!isfinite(c) || c == 0 || fabs(frexp(c, &ex)) != 0.5)
		return false;
	*r = 1 / c;
	return fabs(*r) >= FLT_MIN && fabs(*r) <= FLT_MAX;
}

/* The identities of the opening comment, at e (whose kids are done). */
static int algebra_identity(TraGraph *g, int e)
{
	TraExpr x = g->ex[e];
	int a = x.kid[0], b = x.kid[1];
	double r;
	switch (x.op) {
	case TRA_OP_NEG:
		return g->ex[a].op == TRA_OP_NEG ? g->ex[a].kid[0] : e;
	case TRA_OP_MUL:
		if (algebra_is_const(g, a, 1) || algebra_is_const(g, b, 1))
			return algebra_is_const(g, a, 1) ? b : a;
		if (algebra_is_const(g, a, -1) || algebra_is_const(g, b, -1))
			return algebra_new(g, TRA_OP_NEG, algebra_is_const(g, a, -1) ? b : a, -1);
		return e;
	case TRA_OP_DIV:
		if (algebra_is_const(g, b, 1))
			return a;
		if (g->ex[b].op == TRA_OP_CONST && algebra_exact_reciprocal(g->ex[b].value, &r)) {
			g->ex[b].value = r;
			g->ex[e].op = TRA_OP_MUL;
		}
		return e;
	case TRA_OP_ADD:
		if (algebra_is_const(g, a, 0) || algebra_is_const(g, b, 0))
			return algebra_is_const(g, a, 0) ? b : a;
		if (g->ex[b].op == TRA_OP_NEG) {
			g->ex[e].op = TRA_OP_SUB;
			g->ex[e].kid[1] = g->ex[b].kid[0];
		} else if (g->ex[a].op == TRA_OP_NEG) { /* -x + y is y - x: + commutes exactly */
			g->ex[e].op = TRA_OP_SUB;
			g->ex[e].kid[0] = b;
			g->ex[e].kid[1] = g->ex[a].kid[0];
		}
		return e;
	case TRA_OP_SUB:
		if (algebra_is_const(g, b, 0))
			return a;
		if (algebra_is_const(g, a, 0))
			return algebra_new(g, TRA_OP_NEG, b, -1);
		if (g->ex[b].op == TRA_OP_NEG) {
			g->ex[e].op = TRA_OP_ADD;
			g->ex[e].kid[1] = g->ex[b].kid[0];
		}
		return e;
	default:
		return e;
	}
}

/* Normalises the tree at e; returns its new root. */
static int algebra_expr(TraGraph *g, int e)
{
	for (int k = 0; k < tra_op_arity[g->ex[e].op]; k++) {
		int r = algebra_expr(g, g->ex[e].kid[k]);
		g->ex[e].kid[k] = r;
	}
	if (algebra_foldable(g, e))
		return algebra_fold(g, e);
	return algebra_identity(g, e);
}

/* ---- factors out of sums ------------------------------------------------------- */

/* The factors of a product, in the order written. */
typedef struct AlgebraFactors {
	int *e;
	int n, cap;
} AlgebraFactors;

static void algebra_factors(TraGraph *g, int e, AlgebraFactors *f, Arena *a)
{
	if (g->ex[e].op == TRA_OP_MUL) {
		algebra_factors(g, g->ex[e].kid[0], f, a);
		algebra_factors(g, g->ex[e].kid[1], f, a);
		return;
	}
	ARENA_RESERVE(a, f->e, f->n, f->cap);
	f->e[f->n++] = e;
}

/* The product of the factors f->e[i] with take[i] == want, left to right. */
static int algebra_product(TraGraph *g, const AlgebraFactors *f, const bool *take, bool want)
{
	int p = -1;
	for (int i = 0; i < f->n; i++)
		if (take[i] == want)
			p = p < 0 ? f->e[i] : algebra_new(g, TRA_OP_MUL, p, f->e[i]);
	return p;
}

/* Puts acc * F wherever e reads acc (a copy of F after the first). */
static int algebra_scale_acc(TraGraph *g, int e, int factor, bool *used)
{
	if (g->ex[e].op == TRA_OP_ACC) {
		int f = *used ? tra_expr_copy(g, factor) : factor;
		*used = true;
		return algebra_new(g, TRA_OP_MUL, e, f);
	}
	for (int k = 0; k < tra_op_arity[g->ex[e].op]; k++) {
		int r = algebra_scale_acc(g, g->ex[e].kid[k], factor, used);
		g->ex[e].kid[k] = r;
	}
	return e;
}

/* A factor stays in the join if it reads an output index that no staying
 * factor reads: moved out, it would leave the join independent of that
 * index, so the sum would be computed again for each of its values (in
 * sum[k](B[j, k] * a[i]) over (i, j, k) it would be |i| times the work).
 * The indices missing are those that the factors reading a reduced index
 * leave unread, and every factor that reads one of them stays: one
 * round, decided by index sets alone, so the written order of the
 * factors does not matter (keeping the first such factor and looking
 * again made a * b and b * a different graphs: props.py, seed 7). */
static void algebra_keep_needed(TraGraph *g, const TraNode *n, const AlgebraFactors *f, bool *out)
{
	uint64_t kept = 0;
	for (int i = 0; i < f->n; i++)
		if (!out[i])
			kept |= tra_expr_indices(g, n, f->e[i]);
	for (int i = 0; i < f->n; i++)
		if (out[i] && (tra_expr_indices(g, n, f->e[i]) & ~kept))
			out[i] = false;
}

/* Moves the factors of n's sum that read no reduced index to its epilogue. */
static void algebra_factor_out(TraGraph *g, TraNode *n, Arena *scratch)
{
	if (n->agg != TRA_AGG_SUM || n->nidx > 64 || g->ex[n->join].op != TRA_OP_MUL)
		return;
	AlgebraFactors f = {0};
	algebra_factors(g, n->join, &f, scratch);
	bool *out = arena_alloc(scratch, (size_t)f.n * sizeof *out);
	uint64_t outer = tra_index_mask(n->rank);
	int nout = 0;
	for (int i = 0; i < f.n; i++) {
		out[i] = g->ex[f.e[i]].op != TRA_OP_CONST && !(tra_expr_indices(g, n, f.e[i]) & ~outer);
		nout += out[i];
	}
	algebra_keep_needed(g, n, &f, out);
	nout = 0;
	for (int i = 0; i < f.n; i++)
		nout += out[i];
	if (nout == 0)
		return;
	bool only_consts = true;
	for (int i = 0; i < f.n; i++)
		only_consts &= out[i] || g->ex[f.e[i]].op == TRA_OP_CONST;
	if (only_consts)
		return; /* no factor that reads a reduced index would stay */
	n->join = algebra_product(g, &f, out, false);
	int factor = algebra_product(g, &f, out, true);
	bool used = false;
	if (n->epilogue < 0)
		n->epilogue = algebra_new(g, TRA_OP_MUL, tra_expr_new(g, TRA_OP_ACC, 0, 0, -1, -1, -1), factor);
	else
		n->epilogue = algebra_scale_acc(g, n->epilogue, factor, &used);
}

/* Whether n only copies its one operand (permuted or not), where a
 * reader could read that operand instead. */
static bool algebra_is_copy(const TraGraph *g, const TraNode *n)
{
	return n->kind == TRA_NODE_EINSUM && !tra_node_is_opaque(n) && !tra_node_kept(n) && n->agg == TRA_AGG_NONE &&
	       n->epilogue < 0 && n->nops == 1 && g->ex[n->join].op == TRA_OP_OPERAND &&
	       g->nodes[n->ops[0].node].type == n->type;
}

/* n's operands that read a copy read what it copies: the copy's index d
 * is n's index at[d], and the copy reads its source at its indices q[e],
 * so n reads the source at at[q[e]]. Copies come before their readers
 * and are forwarded first, so a chain of copies resolves in one sweep. */
static void algebra_forward_copies(TraGraph *g, TraNode *n, const bool *copy)
{
	for (int k = 0; k < n->nops; k++) {
		const TraNode *c = &g->nodes[n->ops[k].node];
		if (!copy[n->ops[k].node])
			continue;
		const TraOperand *src = &c->ops[0];
		int *idx = arena_alloc(g->arena, (size_t)(src->rank ? src->rank : 1) * sizeof *idx);
		for (int e = 0; e < src->rank; e++)
			idx[e] = n->ops[k].idx[src->idx[e]];
		n->ops[k] = (TraOperand){.node = src->node, .rank = src->rank, .idx = idx};
	}
}

void algebra_normalise(TraGraph *g)
{
	Arena scratch = {0};
	bool *copy = arena_alloc(&scratch, (size_t)(g->nnodes + 1) * sizeof *copy);
	for (int id = 0; id < g->nnodes; id++) {
		TraNode *n = &g->nodes[id];
		/* a view's read is affine: a copy it reads stays; the identities
		 * here are those of real arithmetic, not all integer arithmetic's
		 * (x / 4 is no x * 0.25) */
		if (n->kind != TRA_NODE_EINSUM || tra_node_is_opaque(n) || TRART_IS_INT(n->type))
			continue;
		algebra_forward_copies(g, n, copy);
		n->join = algebra_expr(g, n->join);
		if (n->epilogue >= 0)
			n->epilogue = algebra_expr(g, n->epilogue);
		if (n->epilogue >= 0 && g->ex[n->epilogue].op == TRA_OP_ACC)
			n->epilogue = -1;
		algebra_factor_out(g, n, &scratch);
		tra_node_compact_operands(g, n);
		tra_node_cost(g, n);
		copy[id] = algebra_is_copy(g, n);
	}
	arena_free(&scratch);
}
