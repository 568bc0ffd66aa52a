/* grad.c: reverse-mode differentiation of the TRA graph: grad(L, W).
 * needs: sema's graph up to the scalar node L. gives: the backward pass,
 * einsum nodes appended after everything sema built so far, that later
 * statements may read and the passes treat like any other node.
 *
 * For the first grad(L, ...) of a program, grad_pass sweeps L's cone once
 * from L down (nodes are in a topological order, so every reader of a
 * node T has a larger id and has given its share of dL/dT before T is
 * reached) and builds, for every floating-point node T that L depends
 * on, the node dL/dT: the sum of one contribution per operand that reads
 * T. Later grad(L, ...) statements find their adjoint there; dead code
 * removes the adjoints that nothing reads.
 *
 * The contribution of operand k of node n = epi(AGG over R of join) to
 * its producer P, with G = dL/dn read at n's output indices I:
 *
 *   - through the epilogue: Ga = G * d epi/d acc is dL/d acc (a node
 *     "dL/dn.agg"), and each operand the epilogue reads gets
 *     sum over I not in k of G * d epi/d op_k;
 *   - through the join, summed over n's indices that operand k does not
 *     read (its contribution node's reduced indices), of Ga times
 *       sum:      d join/d op_k (a contraction stays a contraction: the
 *                 derivative of a product is the product of the others);
 *       max, min: [join == acc] / ties * d join/d op_k, where ties
 *                 ("dL/dn.ties") counts the points that reach the
 *                 extremum: the gradient is split evenly between ties,
 *                 as PyTorch's amax and JAX's max split it;
 *       prod:     the product of the other factors, computed without
 *                 dividing by a zero: with z zeros among the factors
 *                 ("dL/dn.zeros") and q the product of the nonzero ones
 *                 ("dL/dn.nzprod"), q / join where z == 0, q at the one
 *                 zero where z == 1, else 0.
 *   A diagonal read (X[i, i]) writes the diagonal only: its contribution
 *   is masked by index equality. The aggregate (acc) itself, where a
 *   derivative needs it and the node has an epilogue, is a node "n.acc"
 *   of its own (CSE lets n read it).
 * A view V of P (an affine read, a conversion) scatters dL/dV back: each
 * dimension of P is solved for one index of V that only it reads with
 * coefficient +-1 (a shift, a slice, a transposition, a padding, the h
 * of h + r), so that dL/dP is a sum, over V's other indices, of a padded
 * view of dL/dV; a dimension without such an index is matched by a mask.
 * A gather's table (an embedding E[tok[t], d]) gets a scatter-add
 * (grad_gather), O(rows read), where a one-hot product would cost a
 * factor of the table's rows more.
 * Integer tensors have no gradient, and neither do comparisons, floor,
 * ceil, round, sign and index values.
 *
 * Scalar derivatives (gx_diff) are built symbolically from copies of the
 * forward expressions (no two expressions share a subtree: fuse.c edits
 * trees in place); an exact zero is -1 and is folded away, so that an
 * operand that only a select's condition reads contributes nothing.
 * relu's derivative at 0 is 0, abs's is sign (0 at 0), and the
 * element-wise max and min route to the larger (smaller) argument and
 * split a tie in halves, as PyTorch and JAX do.
 */
#include "tra.h"

#include <math.h>
#include <string.h>

#define GRAD_LN2 0.69314718055994530942
#define GRAD_2_SQRTPI 1.12837916709551257390 /* 2 / sqrt(pi) */

struct GradPass {
	TraGraph *g;
	int loss;
	int nfwd;            /* nodes 0 .. nfwd-1 are the forward graph (loss's id + 1) */
	int *adj;            /* adj[T]: the node of dL/dT, GRAD_ONE or GRAD_NONE */
	const char **broken; /* broken[T]: why dL/dT cannot be built, or NULL */
	int **contrib;       /* contrib[T]: the contributions to dL/dT so far */
	int *ncontrib, *capcontrib;
	int *acc;            /* acc[n]: node of n's aggregate alone (n.acc), or -1 */
};

/* A node under construction, whose expressions copy and differentiate
 * those of the forward node fwd: xmap[x] is this node's index for fwd's
 * index x (-1: none). */
typedef struct GradNode {
	GradPass *p;
	int fwd;
	int xmap[TRA_MAX_STMT_INDICES];
	TraIndex idx[TRA_MAX_STMT_INDICES];
	int nidx, rank;
	TraOperandList ops;
	int mask[TRA_MAX_RANK][2]; /* a diagonal: index mask[i][0] equals mask[i][1] */
	int nmask;
} GradNode;

static TraNode *grad_node(const GradPass *p, int id)
{
	return &p->g->nodes[id];
}

static const char *grad_name(const GradPass *p, const char *what, int t)
{
	return arena_printf(p->g->arena, "d%s/d%s%s", grad_node(p, p->loss)->name, grad_node(p, t)->name,
	                    what);
}

/* ---- expressions: builders that fold exact zeros (-1) and ones --------- */

static int gx_const(GradPass *p, double v)
{
	return tra_expr_new(p->g, TRA_OP_CONST, 0, v, -1, -1, -1);
}

static bool gx_is_const(const GradPass *p, int e, double v)
{
	return e >= 0 && p->g->ex[e].op == TRA_OP_CONST && p->g->ex[e].value == v;
}

static int gx_op(GradPass *p, TraOp op, int a, int b)
{
	switch (op) {
	case TRA_OP_NEG:
		if (a < 0)
			return -1;
		if (p->g->ex[a].op == TRA_OP_CONST)
			return gx_const(p, -p->g->ex[a].value);
		break;
	case TRA_OP_ADD:
		if (a < 0 || b < 0)
			return a < 0 ? b : a;
		break;
	case TRA_OP_SUB:
		if (b < 0)
			return a;
		if (a < 0)
			return gx_op(p, TRA_OP_NEG, b, -1);
		break;
	case TRA_OP_MUL:
		if (a < 0 || b < 0)
			return -1;
		if (gx_is_const(p, a, 1))
			return b;
		if (gx_is_const(p, b, 1))
			return a;
		break;
	case TRA_OP_DIV:
		if (a < 0)
			return -1;
		break;
	default:
		break;
	}
	return tra_expr_new(p->g, op, 0, 0, a, b, -1);
}

static int gx_select(GradPass *p, int c, int a, int b)
{
	if (a < 0 && b < 0)
		return -1;
	return tra_expr_new(p->g, TRA_OP_SELECT, 0, 0, c, a < 0 ? gx_const(p, 0) : a,
	                    b < 0 ? gx_const(p, 0) : b);
}

/* ---- reading tensors in the node under construction -------------------- */

static int gn_read(GradNode *gn, int node, const int *idx)
{
	GradPass *p = gn->p;
	int k = tra_operand_add(p->g->arena, &gn->ops, node, grad_node(p, node)->rank, idx);
	return tra_expr_new(p->g, TRA_OP_OPERAND, k, 0, -1, -1, -1);
}

/* node (whose dimensions are fwd's output indices) at those indices. */
static int gn_read_out(GradNode *gn, int node)
{
	int idx[TRA_MAX_RANK];
	for (int d = 0; d < grad_node(gn->p, node)->rank; d++)
		idx[d] = gn->xmap[d];
	return gn_read(gn, node, idx);
}

/* The adjoint a (a node over fwd's output indices, or GRAD_ONE). */
static int gn_read_adj(GradNode *gn, int a)
{
	return a == GRAD_ONE ? gx_const(gn->p, 1) : gn_read_out(gn, a);
}

static int gn_index(GradNode *gn, int x)
{
	return tra_expr_new(gn->p->g, TRA_OP_INDEX, gn->xmap[x], 0, -1, -1, -1);
}

static int grad_acc_node(GradPass *p, int n);

/* A copy of fwd's expression e in gn. Recursive; depth at most
 * TRA_MAX_EXPR_DEPTH. */
static int gx_copy(GradNode *gn, int e)
{
	GradPass *p = gn->p;
	TraExpr x = p->g->ex[e];
	switch (x.op) {
	case TRA_OP_OPERAND: {
		const TraOperand *op = &grad_node(p, gn->fwd)->ops[x.arg];
		int idx[TRA_MAX_RANK];
		for (int d = 0; d < op->rank; d++)
			idx[d] = gn->xmap[op->idx[d]];
		return gn_read(gn, op->node, idx);
	}
	case TRA_OP_INDEX: return gn_index(gn, x.arg);
	case TRA_OP_ACC: return gn_read_out(gn, grad_acc_node(p, gn->fwd));
	case TRA_OP_CONST: return gx_const(p, x.value);
	default: break;
	}
	int kid[3] = {-1, -1, -1};
	for (int i = 0; i < tra_op_arity[x.op]; i++)
		kid[i] = gx_copy(gn, x.kid[i]);
	return tra_expr_new(p->g, x.op, 0, 0, kid[0], kid[1], kid[2]);
}

#define GX_ACC (-1) /* gx_diff's variable: the epilogue's ACC */

static int gx_diff(GradNode *gn, int e, int k);

/* d f(a)/d v = f'(a) * d a/d v, for the unary functions. */
static int gx_diff_unary(GradNode *gn, int e, int k)
{
	GradPass *p = gn->p;
	TraOp op = p->g->ex[e].op;
	int a = p->g->ex[e].kid[0], f;
	int da = gx_diff(gn, a, k);
	if (da < 0)
		return -1;
#define A() gx_copy(gn, a)
	switch (op) {
	case TRA_OP_NEG: return gx_op(p, TRA_OP_NEG, da, -1);
	case TRA_OP_EXP: f = gx_copy(gn, e); break;
	case TRA_OP_EXPM1: f = gx_op(p, TRA_OP_EXP, A(), -1); break;
	case TRA_OP_EXP2:
		f = gx_op(p, TRA_OP_MUL, gx_op(p, TRA_OP_EXP2, A(), -1), gx_const(p, GRAD_LN2));
		break;
	case TRA_OP_LOG: return gx_op(p, TRA_OP_DIV, da, A());
	case TRA_OP_LOG2:
		return gx_op(p, TRA_OP_DIV, da, gx_op(p, TRA_OP_MUL, A(), gx_const(p, GRAD_LN2)));
	case TRA_OP_LOG1P:
		return gx_op(p, TRA_OP_DIV, da, gx_op(p, TRA_OP_ADD, gx_const(p, 1), A()));
	case TRA_OP_SQRT: /* 0.5 / sqrt(a) */
		f = gx_op(p, TRA_OP_DIV, gx_const(p, 0.5), gx_op(p, TRA_OP_SQRT, A(), -1));
		break;
	case TRA_OP_RSQRT: /* -0.5 * rsqrt(a) / a */
		f = gx_op(p, TRA_OP_DIV, gx_op(p, TRA_OP_MUL, gx_const(p, -0.5), gx_op(p, TRA_OP_RSQRT, A(), -1)),
		          A());
		break;
	case TRA_OP_TANH: { /* 1 - tanh(a)^2 */
		int t = gx_op(p, TRA_OP_TANH, A(), -1);
		f = gx_op(p, TRA_OP_SUB, gx_const(p, 1), gx_op(p, TRA_OP_MUL, t, gx_op(p, TRA_OP_TANH, A(), -1)));
		break;
	}
	case TRA_OP_SIGMOID: { /* s * (1 - s) */
		int s = gx_op(p, TRA_OP_SIGMOID, A(), -1);
		f = gx_op(p, TRA_OP_MUL, s,
		          gx_op(p, TRA_OP_SUB, gx_const(p, 1), gx_op(p, TRA_OP_SIGMOID, A(), -1)));
		break;
	}
	case TRA_OP_RELU: /* 0 at 0 */
		return gx_select(p, gx_op(p, TRA_OP_GT, A(), gx_const(p, 0)), da, -1);
	case TRA_OP_ABS: f = gx_op(p, TRA_OP_SIGN, A(), -1); break;
	case TRA_OP_SIN: f = gx_op(p, TRA_OP_COS, A(), -1); break;
	case TRA_OP_COS: f = gx_op(p, TRA_OP_NEG, gx_op(p, TRA_OP_SIN, A(), -1), -1); break;
	case TRA_OP_ERF: /* 2 / sqrt(pi) * exp(-a * a) */
		f = gx_op(p, TRA_OP_MUL, gx_const(p, GRAD_2_SQRTPI),
		          gx_op(p, TRA_OP_EXP, gx_op(p, TRA_OP_NEG, gx_op(p, TRA_OP_MUL, A(), A()), -1), -1));
		break;
	default: /* floor, ceil, round, sign: piecewise constant */
		return -1;
	}
#undef A
	return gx_op(p, TRA_OP_MUL, f, da);
}

/* pow(a, b): b * pow(a, b - 1) * da + pow(a, b) * log(a) * db, the
 * second term 0 where a == 0 and b >= 0 (as PyTorch). */
static int gx_diff_pow(GradNode *gn, TraExpr x, int k)
{
	GradPass *p = gn->p;
	int a = x.kid[0], b = x.kid[1];
	int da = gx_diff(gn, a, k), db = gx_diff(gn, b, k);
	int ta = -1, tb = -1;
	if (da >= 0) {
		int pw = gx_op(p, TRA_OP_POW, gx_copy(gn, a), gx_op(p, TRA_OP_SUB, gx_copy(gn, b), gx_const(p, 1)));
		ta = gx_op(p, TRA_OP_MUL, gx_op(p, TRA_OP_MUL, gx_copy(gn, b), pw), da);
	}
	if (db >= 0) {
		int v = gx_op(p, TRA_OP_MUL, gx_op(p, TRA_OP_POW, gx_copy(gn, a), gx_copy(gn, b)),
		              gx_op(p, TRA_OP_LOG, gx_copy(gn, a), -1));
		int zero = gx_op(p, TRA_OP_EQ, gx_copy(gn, a), gx_const(p, 0));
		tb = gx_op(p, TRA_OP_MUL, gx_select(p, zero, -1, v), db);
	}
	return gx_op(p, TRA_OP_ADD, ta, tb);
}

/* max(a, b), min(a, b): the chosen argument's derivative, half of each at a tie. */
static int gx_diff_extremum(GradNode *gn, TraExpr x, int k)
{
	GradPass *p = gn->p;
	int da = gx_diff(gn, x.kid[0], k), db = gx_diff(gn, x.kid[1], k);
	if (da < 0 && db < 0)
		return -1;
	TraOp wins = x.op == TRA_OP_MAX ? TRA_OP_GT : TRA_OP_LT;
	int half = gx_op(p, TRA_OP_MUL, gx_const(p, 0.5),
	                 gx_op(p, TRA_OP_ADD, da < 0 ? -1 : tra_expr_copy(p->g, da),
	                       db < 0 ? -1 : tra_expr_copy(p->g, db)));
	int a_wins = gx_op(p, wins, gx_copy(gn, x.kid[0]), gx_copy(gn, x.kid[1]));
	int b_wins = gx_op(p, wins, gx_copy(gn, x.kid[1]), gx_copy(gn, x.kid[0]));
	return gx_select(p, a_wins, da, gx_select(p, b_wins, db, half));
}

/* The derivative of fwd's expression e with respect to its operand k
 * (or ACC, GX_ACC), in gn; -1 when it is exactly 0. Recursive; depth at
 * most TRA_MAX_EXPR_DEPTH. */
static int gx_diff(GradNode *gn, int e, int k)
{
	GradPass *p = gn->p;
	TraExpr x = p->g->ex[e]; /* by value: the calls below grow g->ex */
	switch (x.op) {
	case TRA_OP_OPERAND: return x.arg == k ? gx_const(p, 1) : -1;
	case TRA_OP_ACC: return k == GX_ACC ? gx_const(p, 1) : -1;
	case TRA_OP_CONST:
	case TRA_OP_INDEX:
		return -1;
	case TRA_OP_ADD:
	case TRA_OP_SUB: {
		int a = gx_diff(gn, x.kid[0], k);
		return gx_op(p, x.op, a, gx_diff(gn, x.kid[1], k));
	}
	case TRA_OP_MUL: {
		int a = x.kid[0], b = x.kid[1];
		int da = gx_diff(gn, a, k), db = gx_diff(gn, b, k);
		int ta = da < 0 ? -1 : gx_op(p, TRA_OP_MUL, da, gx_copy(gn, b));
		int tb = db < 0 ? -1 : gx_op(p, TRA_OP_MUL, gx_copy(gn, a), db);
		return gx_op(p, TRA_OP_ADD, ta, tb);
	}
	case TRA_OP_DIV: { /* (da - a / b * db) / b */
		int a = x.kid[0], b = x.kid[1];
		int da = gx_diff(gn, a, k), db = gx_diff(gn, b, k);
		int tb = db < 0 ? -1 :
		                  gx_op(p, TRA_OP_MUL, gx_op(p, TRA_OP_DIV, gx_copy(gn, a), gx_copy(gn, b)), db);
		int num = gx_op(p, TRA_OP_SUB, da, tb);
		return num < 0 ? -1 : gx_op(p, TRA_OP_DIV, num, gx_copy(gn, b));
	}
	case TRA_OP_POW: return gx_diff_pow(gn, x, k);
	case TRA_OP_MAX:
	case TRA_OP_MIN:
		return gx_diff_extremum(gn, x, k);
	case TRA_OP_SELECT: {
		int c = x.kid[0], a = x.kid[1], b = x.kid[2];
		int da = gx_diff(gn, a, k), db = gx_diff(gn, b, k);
		return da < 0 && db < 0 ? -1 : gx_select(p, gx_copy(gn, c), da, db);
	}
	case TRA_OP_LT: case TRA_OP_LE: case TRA_OP_GT: case TRA_OP_GE: case TRA_OP_EQ: case TRA_OP_NE:
		return -1;
	case TRA_OP_LET:
	case TRA_OP_VAR:
		TRAC_BUG("grad: a LET before share.c");
	default:
		return tra_op_arity[x.op] == 1 ? gx_diff_unary(gn, e, k) : -1;
	}
}

/* Whether expression e reads fwd's operand k (GX_ACC: ACC). */
static bool gx_reads(const GradPass *p, int e, int k)
{
	const TraExpr *x = &p->g->ex[e];
	if (x->op == TRA_OP_OPERAND)
		return x->arg == k;
	if (x->op == TRA_OP_ACC)
		return k == GX_ACC;
	for (int i = 0; i < tra_op_arity[x->op]; i++)
		if (gx_reads(p, x->kid[i], k))
			return true;
	return false;
}

/* Recursive; depth at most the tree's. */
static int gx_depth(const GradPass *p, int e)
{
	const TraExpr *x = &p->g->ex[e];
	int d = 0;
	for (int i = 0; i < tra_op_arity[x->op]; i++) {
		int k = gx_depth(p, x->kid[i]);
		d = k > d ? k : d;
	}
	return d + 1;
}

/* ---- nodes ---------------------------------------------------------------- */

static void gn_start(GradNode *gn, GradPass *p, int fwd)
{
	memset(gn, 0, sizeof *gn);
	gn->p = p;
	gn->fwd = fwd;
	for (int x = 0; x < TRA_MAX_STMT_INDICES; x++)
		gn->xmap[x] = -1;
}

/* Appends gn's node: its indices 0 .. rank-1 are the result's, the rest
 * summed (or a map when there are none; agg overrides). Returns its id,
 * or -1 (with *why set) when the join is too deep to compile. */
static int gn_finish(GradNode *gn, const char *name, const char *note, TrartDtype type, TraAgg agg, int join,
                     const char **why)
{
	GradPass *p = gn->p;
	if (join < 0)
		join = gx_const(p, 0);
	if (gx_depth(p, join) >= TRA_MAX_EXPR_DEPTH - 2) {
		*why = "its derivative is nested too deeply; split the expression into several statements";
		return -1;
	}
	const TraNode *f = grad_node(p, gn->fwd);
	TraNode n = {.kind = TRA_NODE_EINSUM, .name = name, .span = f->span, .type = type, .rank = gn->rank,
	             .nidx = gn->nidx, .nops = gn->ops.n, .ops = gn->ops.ops, .join = join, .epilogue = -1,
	             .note = note};
	n.agg = gn->nidx == gn->rank ? TRA_AGG_NONE : agg == TRA_AGG_NONE ? TRA_AGG_SUM : agg;
	n.idx = arena_alloc(p->g->arena, (size_t)(gn->nidx + 1) * sizeof *n.idx);
	memcpy(n.idx, gn->idx, (size_t)gn->nidx * sizeof *n.idx);
	int id = tra_node_new(p->g, &n);
	tra_node_cost(p->g, &p->g->nodes[id]);
	return id;
}

/* gn's space is fwd's first nidx indices, as they are: its output ones
 * (nidx = rank), or its whole join space. */
static void gn_identity_space(GradNode *gn, int nidx)
{
	const TraNode *f = grad_node(gn->p, gn->fwd);
	for (int x = 0; x < nidx; x++) {
		gn->xmap[x] = x;
		gn->idx[x] = f->idx[x];
	}
	gn->rank = f->rank;
	gn->nidx = nidx;
}

/* n's aggregate alone (no epilogue), a node of the forward graph's kind. */
static int grad_acc_node(GradPass *p, int n)
{
	const TraNode *f = grad_node(p, n);
	if (f->epilogue < 0)
		return n;
	if (p->acc[n] >= 0)
		return p->acc[n];
	TraNode a = *f;
	a.name = arena_printf(p->g->arena, "%s.acc", f->name);
	a.note = arena_printf(p->g->arena, "%s's aggregate, for the gradient", f->name);
	a.epilogue = -1;
	a.is_output = false;
	a.join = tra_expr_copy(p->g, f->join);
	a.ops = arena_alloc(p->g->arena, (size_t)(f->nops + 1) * sizeof *a.ops);
	memcpy(a.ops, f->ops, (size_t)f->nops * sizeof *a.ops);
	int id = tra_node_new(p->g, &a);
	tra_node_compact_operands(p->g, &p->g->nodes[id]);
	tra_node_cost(p->g, &p->g->nodes[id]);
	p->acc[n] = id;
	return id;
}

/* The space of a contribution to operand k of fwd: the result is the
 * producer's dimensions; the reduced indices are those of fwd's first
 * nspace indices (all of them, or the output ones) that operand k does
 * not read. A dimension that repeats an index (a diagonal, X[i, i])
 * gets an index of its own, masked to equal the first (gn->mask). False
 * when the space has too many indices. */
static bool gn_contrib_space(GradNode *gn, int k, int nspace)
{
	GradPass *p = gn->p;
	const TraNode *f = grad_node(p, gn->fwd);
	const TraOperand *op = &f->ops[k];
	gn->rank = op->rank;
	for (int d = 0; d < op->rank; d++) {
		int x = op->idx[d];
		gn->idx[d] = f->idx[x];
		if (gn->xmap[x] < 0) {
			gn->xmap[x] = d;
			continue;
		}
		gn->idx[d].name = arena_printf(p->g->arena, "%s'", f->idx[x].name);
		gn->mask[gn->nmask][0] = d;
		gn->mask[gn->nmask++][1] = gn->xmap[x];
	}
	gn->nidx = gn->rank;
	for (int x = 0; x < nspace; x++) {
		if (gn->xmap[x] >= 0)
			continue;
		if (gn->nidx == TRA_MAX_STMT_INDICES)
			return false;
		gn->xmap[x] = gn->nidx;
		gn->idx[gn->nidx++] = f->idx[x];
	}
	return true;
}

/* body where every diagonal mask of gn holds, else 0. */
static int gn_masked(GradNode *gn, int body)
{
	GradPass *p = gn->p;
	for (int i = 0; i < gn->nmask && body >= 0; i++) {
		int a = tra_expr_new(p->g, TRA_OP_INDEX, gn->mask[i][0], 0, -1, -1, -1);
		int b = tra_expr_new(p->g, TRA_OP_INDEX, gn->mask[i][1], 0, -1, -1, -1);
		body = gx_select(p, gx_op(p, TRA_OP_EQ, a, b), body, -1);
	}
	return body;
}

static void grad_add(GradPass *p, int t, int c)
{
	ARENA_RESERVE(p->g->arena, p->contrib[t], p->ncontrib[t], p->capcontrib[t]);
	p->contrib[t][p->ncontrib[t]++] = c;
}

static void grad_break(GradPass *p, int t, const char *why)
{
	if (!p->broken[t])
		p->broken[t] = why;
}

/* The backward's helpers over n's output indices, aggregating over its
 * join: the points that reach the extremum (ties), the zero factors
 * (zeros), the product of the others (nzprod). */
typedef enum GradHelper { GRAD_TIES, GRAD_ZEROS, GRAD_NZPROD } GradHelper;

static int grad_helper(GradPass *p, int n, GradHelper h, const char **why)
{
	static const char *const what[] = {".ties", ".zeros", ".nzprod"};
	static const char *const note[] = {"the points of %s's join that reach its extremum",
	                                   "the zero factors of %s's product",
	                                   "the product of %s's nonzero factors"};
	GradNode gn;
	gn_start(&gn, p, n);
	gn_identity_space(&gn, grad_node(p, n)->nidx);
	const TraNode *f = grad_node(p, n);
	int acc = h == GRAD_TIES ? grad_acc_node(p, n) : -1;
	f = grad_node(p, n);
	int join = gx_copy(&gn, f->join), cmp, body;
	if (h == GRAD_TIES)
		cmp = gx_op(p, TRA_OP_EQ, join, gn_read_out(&gn, acc));
	else
		cmp = gx_op(p, TRA_OP_EQ, join, gx_const(p, 0));
	if (h == GRAD_NZPROD)
		body = gx_select(p, cmp, gx_const(p, 1), gx_copy(&gn, grad_node(p, n)->join));
	else
		body = gx_select(p, cmp, gx_const(p, 1), -1);
	f = grad_node(p, n);
	return gn_finish(&gn, grad_name(p, what[h], n), arena_printf(p->g->arena, note[h], f->name), f->type,
	                 h == GRAD_NZPROD ? TRA_AGG_PROD : TRA_AGG_SUM, body, why);
}

/* How a contribution through n's join weighs d join/d op_k at a point:
 * Ga times the rule of n's aggregation (the opening comment). */
typedef struct GradJoinRule {
	int ga;            /* dL/d acc: a node over n's output indices, or GRAD_ONE */
	int ties;          /* max, min: the ties node */
	int zeros, nzprod; /* prod */
} GradJoinRule;

static int grad_join_weight(GradNode *gn, const GradJoinRule *r, int dk)
{
	GradPass *p = gn->p;
	TraAgg agg = grad_node(p, gn->fwd)->agg;
	int join = grad_node(p, gn->fwd)->join;
	int w = gx_op(p, TRA_OP_MUL, gn_read_adj(gn, r->ga), dk);
	switch (agg) {
	case TRA_AGG_MAX:
	case TRA_AGG_MIN: {
		int acc = grad_acc_node(p, gn->fwd);
		int hit = gx_op(p, TRA_OP_EQ, gx_copy(gn, join), gn_read_out(gn, acc));
		return gx_select(p, hit, gx_op(p, TRA_OP_DIV, w, gn_read_out(gn, r->ties)), -1);
	}
	case TRA_AGG_PROD: {
		int zero = gx_op(p, TRA_OP_EQ, gx_copy(gn, join), gx_const(p, 0));
		int one_zero = gx_op(p, TRA_OP_EQ, gn_read_out(gn, r->zeros), gx_const(p, 1));
		int no_zero = gx_op(p, TRA_OP_EQ, gn_read_out(gn, r->zeros), gx_const(p, 0));
		int others = gx_select(p, zero, gx_select(p, one_zero, gn_read_out(gn, r->nzprod), -1),
		                       gx_select(p, no_zero, gx_op(p, TRA_OP_DIV, gn_read_out(gn, r->nzprod),
		                                                   gx_copy(gn, join)), -1));
		return gx_op(p, TRA_OP_MUL, others, w);
	}
	default:
		return w;
	}
}

/* The contribution of operand k of n to its producer: through the join
 * when r is given, else through the epilogue (weighted by dL/dn). */
static void grad_contrib(GradPass *p, int n, int k, const GradJoinRule *r)
{
	const TraNode *f = grad_node(p, n);
	int prod = f->ops[k].node;
	int e = r ? f->join : f->epilogue;
	if (!gx_reads(p, e, k))
		return;
	GradNode gn;
	gn_start(&gn, p, n);
	const char *why = NULL;
	if (!gn_contrib_space(&gn, k, r ? f->nidx : f->rank)) {
		grad_break(p, prod, "its gradient would need more than 64 indices in one statement");
		return;
	}
	int dk = gx_diff(&gn, e, k);
	if (dk < 0)
		return;
	int body = r ? grad_join_weight(&gn, r, dk) : gx_op(p, TRA_OP_MUL, gn_read_adj(&gn, p->adj[n]), dk);
	body = gn_masked(&gn, body);
	if (body < 0)
		return;
	f = grad_node(p, n);
	const char *name = grad_name(p, arena_printf(p->g->arena, ".c%d", p->ncontrib[prod] + 1), prod);
	const char *note = arena_printf(p->g->arena, "the part of d%s/d%s through %s", grad_node(p, p->loss)->name,
	                                grad_node(p, prod)->name, f->name);
	int c = gn_finish(&gn, name, note, f->type, TRA_AGG_SUM, body, &why);
	if (c < 0)
		grad_break(p, prod, why);
	else
		grad_add(p, prod, c);
}

/* dL/d acc of n, which has an epilogue: GRAD_NONE when the epilogue does
 * not depend on it, dL/dn itself when it is acc plus terms. */
static int grad_agg_adjoint(GradPass *p, int n, const char **why)
{
	GradNode gn;
	gn_start(&gn, p, n);
	gn_identity_space(&gn, grad_node(p, n)->rank);
	int d = gx_diff(&gn, grad_node(p, n)->epilogue, GX_ACC);
	if (d < 0)
		return GRAD_NONE;
	if (gx_is_const(p, d, 1))
		return p->adj[n];
	int body = gx_op(p, TRA_OP_MUL, gn_read_adj(&gn, p->adj[n]), d);
	const TraNode *f = grad_node(p, n);
	return gn_finish(&gn, grad_name(p, ".agg", n),
	                 arena_printf(p->g->arena, "the gradient of %s's aggregate", f->name), f->type, TRA_AGG_NONE,
	                 body, why);
}

/* The contributions of einsum n (not a view) to its operands. */
static void grad_einsum(GradPass *p, int n)
{
	const TraNode *f = grad_node(p, n);
	const char *why = NULL;
	GradJoinRule r = {.ga = p->adj[n], .ties = -1, .zeros = -1, .nzprod = -1};
	int nops = f->nops;
	if (f->epilogue >= 0) {
		for (int k = 0; k < nops; k++)
			grad_contrib(p, n, k, NULL);
		r.ga = grad_agg_adjoint(p, n, &why);
	}
	f = grad_node(p, n);
	if (!why && (f->agg == TRA_AGG_MAX || f->agg == TRA_AGG_MIN) && r.ga != GRAD_NONE)
		r.ties = grad_helper(p, n, GRAD_TIES, &why);
	if (!why && f->agg == TRA_AGG_PROD && r.ga != GRAD_NONE) {
		r.zeros = grad_helper(p, n, GRAD_ZEROS, &why);
		if (!why)
			r.nzprod = grad_helper(p, n, GRAD_NZPROD, &why);
	}
	for (int k = 0; k < nops; k++) {
		if (why)
			grad_break(p, grad_node(p, n)->ops[k].node, why);
		else if (r.ga != GRAD_NONE)
			grad_contrib(p, n, k, &r);
	}
}

/* ---- views ---------------------------------------------------------------- */

/* Index x of view v is dimension d's pivot: read there alone, with
 * coefficient +-1, so that the position of d gives x. */
static bool grad_pivot(const TraNode *v, int d, int x, const bool *taken)
{
	const TraOperand *op = &v->ops[0];
	int64_t c = op->aff->coef[d * v->nidx + x];
	if (taken[x] || (c != 1 && c != -1))
		return false;
	for (int e = 0; e < op->rank; e++)
		if (e != d && op->aff->coef[e * v->nidx + x] != 0)
			return false;
	return true;
}

/* The contribution of view v (no gather) to the tensor it reads, P:
 * dP[q] = sum over v's points that read q of dL/dv there. Each dimension
 * d of P with a pivot x solves x = c * (q_d - off_d - sum of the other
 * terms); the other indices of v are summed (F) and a dimension without
 * a pivot is a mask. A padded view of dL/dv over (q, F) gives the values
 * (0 where the solved x is outside v), and a node sums it over F. */
static void grad_view(GradPass *p, int v)
{
	const TraNode *f = grad_node(p, v);
	const TraOperand *op = &f->ops[0];
	int prod = op->node, rank = op->rank, nv = f->nidx;
	const TraNode *pn = grad_node(p, prod);
	bool taken[TRA_MAX_STMT_INDICES] = {false};
	int pivot[TRA_MAX_RANK];
	for (int d = 0; d < rank; d++) {
		pivot[d] = -1;
		for (int x = 0; x < nv && pivot[d] < 0; x++)
			if (grad_pivot(f, d, x, taken)) {
				pivot[d] = x;
				taken[x] = true;
			}
	}
	/* the space: P's dimensions, then v's free indices */
	int pos[TRA_MAX_STMT_INDICES]; /* v's free index x: its index in the space */
	TraIndex idx[TRA_MAX_STMT_INDICES];
	int nidx = rank;
	for (int d = 0; d < rank; d++) {
		idx[d] = pn->idx[d];
		idx[d].name = pivot[d] >= 0 ? f->idx[pivot[d]].name : arena_printf(p->g->arena, "q%d", d);
	}
	for (int x = 0; x < nv; x++) {
		pos[x] = -1;
		if (taken[x])
			continue;
		if (nidx == TRA_MAX_STMT_INDICES) {
			grad_break(p, prod, "its gradient would need more than 64 indices in one statement");
			return;
		}
		pos[x] = nidx;
		idx[nidx++] = f->idx[x];
	}
	/* the view of dL/dv over the space */
	Arena *a = p->g->arena;
	TraAffine *aff = arena_alloc(a, sizeof *aff);
	aff->coef = arena_alloc(a, ((size_t)nv * (size_t)nidx + 1) * sizeof *aff->coef);
	aff->off = arena_alloc(a, (size_t)(nv + 1) * sizeof *aff->off);
	TraOperand *vop = arena_alloc(a, 2 * sizeof *vop);
	*vop = (TraOperand){.node = p->adj[v], .rank = nv, .aff = aff};
	vop->idx = arena_alloc(a, (size_t)(nv + 1) * sizeof *vop->idx);
	for (int x = 0; x < nv; x++) {
		int64_t *row = aff->coef + (size_t)x * (size_t)nidx;
		if (pos[x] >= 0) {
			row[pos[x]] = 1;
			continue;
		}
		int d = 0;
		while (pivot[d] != x)
			d++;
		int64_t c = op->aff->coef[d * nv + x];
		row[d] = c;
		aff->off[x] = -c * op->aff->off[d];
		for (int y = 0; y < nv; y++)
			if (y != x && op->aff->coef[d * nv + y] != 0)
				row[pos[y]] = -c * op->aff->coef[d * nv + y];
	}
	int64_t xlo[TRA_MAX_STMT_INDICES] = {0}, xhi[TRA_MAX_STMT_INDICES];
	for (int y = 0; y < nidx; y++)
		xhi[y] = idx[y].size;
	for (int x = 0; x < nv; x++) {
		vop->idx[x] = -1;
		for (int y = 0; y < nidx && vop->idx[x] < 0; y++)
			if (aff->coef[(size_t)x * (size_t)nidx + y] != 0)
				vop->idx[x] = y;
		int64_t lo, hi;
		tra_affine_span(vop, nidx, x, xlo, xhi, &lo, &hi);
		aff->padded |= lo < 0 || hi >= f->idx[x].size;
	}
	TraNode w = {.kind = TRA_NODE_EINSUM, .span = f->span, .type = pn->type, .view = true, .rank = nidx,
	             .nidx = nidx, .agg = TRA_AGG_NONE, .nops = 1, .ops = vop, .epilogue = -1};
	w.name = grad_name(p, arena_printf(a, ".v%d", p->ncontrib[prod] + 1), prod);
	w.note = arena_printf(a, "d%s/d%s scattered back to %s", grad_node(p, p->loss)->name, f->name, pn->name);
	w.join = tra_expr_new(p->g, TRA_OP_OPERAND, 0, 0, -1, -1, -1);
	w.idx = arena_alloc(a, (size_t)(nidx + 1) * sizeof *w.idx);
	memcpy(w.idx, idx, (size_t)nidx * sizeof *idx);
	int wid = tra_node_new(p->g, &w);
	tra_node_cost(p->g, &p->g->nodes[wid]);
	bool masked = false;
	for (int d = 0; d < rank; d++)
		masked |= pivot[d] < 0;
	if (nidx == rank && !masked) {
		grad_add(p, prod, wid);
		return;
	}
	/* the sum over F, under the masks of the dimensions without a pivot */
	GradNode gn;
	gn_start(&gn, p, v);
	memcpy(gn.idx, idx, (size_t)nidx * sizeof *idx);
	gn.rank = rank;
	gn.nidx = nidx;
	int all[TRA_MAX_STMT_INDICES];
	for (int y = 0; y < nidx; y++)
		all[y] = y;
	int body = gn_read(&gn, wid, all);
	f = grad_node(p, v);
	op = &f->ops[0];
	for (int d = 0; d < rank; d++) {
		if (pivot[d] >= 0)
			continue;
		int at = gx_const(p, (double)op->aff->off[d]);
		for (int x = 0; x < nv; x++) {
			int64_t c = op->aff->coef[d * nv + x];
			if (c != 0)
				at = gx_op(p, TRA_OP_ADD, at,
				           gx_op(p, TRA_OP_MUL, gx_const(p, (double)c),
				                 tra_expr_new(p->g, TRA_OP_INDEX, pos[x], 0, -1, -1, -1)));
		}
		int q = tra_expr_new(p->g, TRA_OP_INDEX, d, 0, -1, -1, -1);
		body = gx_select(p, gx_op(p, TRA_OP_EQ, q, at), body, -1);
	}
	const char *why = NULL;
	const char *name = grad_name(p, arena_printf(a, ".c%d", p->ncontrib[prod] + 1), prod);
	const char *note = arena_printf(a, "the part of d%s/d%s through %s", grad_node(p, p->loss)->name,
	                                grad_node(p, prod)->name, f->name);
	int c = gn_finish(&gn, name, note, grad_node(p, prod)->type, TRA_AGG_SUM, body, &why);
	if (c < 0)
		grad_break(p, prod, why);
	else
		grad_add(p, prod, c);
}

#define GRAD_GATHER_PLAIN "whose other subscripts are not each an index alone, as in E[tok[t], d]"

/* Why a gather v's table has no scatter-add, or NULL: every dimension
 * of the table must be gathered or read at one index of v's alone, as
 * it is (E[tok[b, s], d]), and the view must not convert. plain[d] is
 * that index, or -1 for a gathered dimension. */
static const char *grad_gather_shape(const GradPass *p, const TraNode *f, int *plain)
{
	const TraOperand *op = &f->ops[0];
	const TraNode *pn = grad_node(p, op->node);
	bool taken[TRA_MAX_STMT_INDICES] = {false};
	if (pn->type != f->type)
		return "that converts the elements' type (gather first, then convert)";
	for (int d = 0; d < op->rank; d++) {
		plain[d] = -1;
		if (op->aff->gather[d] >= 0)
			continue;
		for (int x = 0; x < f->nidx; x++) {
			int64_t c = op->aff->coef[d * f->nidx + x];
			if (c != 0 && (plain[d] >= 0 || c != 1 || taken[x]))
				return GRAD_GATHER_PLAIN;
			if (c != 0)
				plain[d] = x;
		}
		if (plain[d] < 0 || op->aff->off[d] != 0 || f->idx[plain[d]].size != pn->idx[d].size)
			return GRAD_GATHER_PLAIN;
		taken[plain[d]] = true;
	}
	return NULL;
}

/* The contribution of gather v to its table P, a scatter-add
 * (tra_node_is_scatter): dP[pos] += dL/dv at each point of v, O(points
 * of v), where a one-hot product over P would cost |P| times more. Its
 * output indices are P's, a gathered one named q<d>; the indices of v
 * that no plain dimension reads are summed. */
static void grad_gather(GradPass *p, int v)
{
	const TraNode *f = grad_node(p, v);
	const TraOperand *op = &f->ops[0];
	int prod = op->node, rank = op->rank;
	const TraNode *pn = grad_node(p, prod);
	int plain[TRA_MAX_RANK];
	const char *bad = grad_gather_shape(p, f, plain);
	if (bad) {
		grad_break(p, prod, arena_printf(p->g->arena, "it is read through a gather (%s) %s", f->name, bad));
		return;
	}
	Arena *a = p->g->arena;
	int pos[TRA_MAX_STMT_INDICES]; /* v's index x: the scatter's */
	TraIndex *idx = arena_alloc(a, (size_t)(rank + f->nidx + 1) * sizeof *idx);
	int *scatter = arena_alloc(a, (size_t)(rank + 1) * sizeof *scatter);
	for (int x = 0; x < f->nidx; x++)
		pos[x] = -1;
	for (int d = 0; d < rank; d++) {
		idx[d] = pn->idx[d];
		idx[d].name = plain[d] >= 0 ? f->idx[plain[d]].name : arena_printf(a, "q%d", d);
		scatter[d] = op->aff->gather[d];
		if (plain[d] >= 0)
			pos[plain[d]] = d;
	}
	int nidx = rank;
	for (int x = 0; x < f->nidx; x++)
		if (pos[x] < 0) {
			if (nidx == TRA_MAX_STMT_INDICES) {
				grad_break(p, prod, "its gradient would need more than 64 indices in one statement");
				return;
			}
			pos[x] = nidx;
			idx[nidx++] = f->idx[x];
		}
	/* operand 0 is dL/dv, read at v's indices; the gather's index
	 * operands keep their numbers (scatter[] names them) */
	TraOperand *ops = arena_alloc(a, (size_t)f->nops * sizeof *ops);
	int vidx[TRA_MAX_STMT_INDICES];
	for (int x = 0; x < f->nidx; x++)
		vidx[x] = x;
	for (int k = 0; k < f->nops; k++) {
		const int *at = k ? f->ops[k].idx : vidx;
		ops[k] = (TraOperand){.node = k ? f->ops[k].node : p->adj[v], .rank = k ? f->ops[k].rank : f->rank};
		ops[k].idx = arena_alloc(a, (size_t)(ops[k].rank + 1) * sizeof *ops[k].idx);
		for (int d = 0; d < ops[k].rank; d++)
			ops[k].idx[d] = pos[at[d]];
	}
	TraNode s = {.kind = TRA_NODE_EINSUM, .span = f->span, .type = pn->type, .rank = rank, .nidx = nidx,
	             .idx = idx, .agg = TRA_AGG_SUM, .nops = f->nops, .ops = ops, .epilogue = -1,
	             .scatter = scatter};
	s.name = grad_name(p, arena_printf(a, ".c%d", p->ncontrib[prod] + 1), prod);
	s.note = arena_printf(a, "the part of d%s/d%s through the gather %s, a scatter-add",
	                      grad_node(p, p->loss)->name, pn->name, f->name);
	s.join = tra_expr_new(p->g, TRA_OP_OPERAND, 0, 0, -1, -1, -1);
	int id = tra_node_new(p->g, &s);
	tra_node_cost(p->g, &p->g->nodes[id]);
	grad_add(p, prod, id);
}

/* ---- the sweep -------------------------------------------------------------- */

static bool grad_float(const GradPass *p, int t)
{
	return !TRART_IS_INT(grad_node(p, t)->type);
}

/* dL/dt from its contributions: the one, or a node summing them (as a
 * balanced tree: a tensor read thousands of times stays shallow). */
static int grad_sum_tree(GradNode *gn, const int *c, int n, const int *all)
{
	if (n == 1)
		return gn_read(gn, c[0], all);
	int h = n / 2;
	int a = grad_sum_tree(gn, c, h, all);
	return gx_op(gn->p, TRA_OP_ADD, a, grad_sum_tree(gn, c + h, n - h, all));
}

static const char *grad_adjoint_note(const GradPass *p, int t)
{
	return arena_printf(p->g->arena, "the gradient of %s with respect to %s", grad_node(p, p->loss)->name,
	                    grad_node(p, t)->name);
}

static void grad_finish_adjoint(GradPass *p, int t)
{
	int n = p->ncontrib[t];
	if (n == 0 || p->broken[t])
		return;
	TraNode *tn = grad_node(p, t);
	if (n == 1) {
		int c = p->contrib[t][0];
		p->g->nodes[c].name = grad_name(p, "", t);
		p->g->nodes[c].note = grad_adjoint_note(p, t);
		p->adj[t] = c;
		return;
	}
	GradNode gn;
	gn_start(&gn, p, t);
	int all[TRA_MAX_RANK];
	for (int d = 0; d < tn->rank; d++) {
		all[d] = d;
		gn.idx[d] = tn->idx[d];
	}
	gn.nidx = gn.rank = tn->rank;
	int body = grad_sum_tree(&gn, p->contrib[t], n, all);
	const char *why = NULL;
	tn = grad_node(p, t);
	p->adj[t] = gn_finish(&gn, grad_name(p, "", t), grad_adjoint_note(p, t), tn->type, TRA_AGG_NONE, body,
	                      &why);
	if (p->adj[t] < 0)
		grad_break(p, t, why);
}

/* dL/dL, as a node: a view reads it as a tensor. */
static int grad_seed(GradPass *p)
{
	GradNode gn;
	gn_start(&gn, p, p->loss);
	const char *why = NULL;
	const TraNode *l = grad_node(p, p->loss);
	int id = gn_finish(&gn, grad_name(p, "", p->loss), arena_printf(p->g->arena, "d%s/d%s is 1", l->name,
	                   l->name), l->type, TRA_AGG_NONE, gx_const(p, 1), &why);
	if (id < 0)
		TRAC_BUG("grad: a constant too deep");
	return id;
}

/* Node t's contributions to the nodes it reads, once dL/dt is known. */
static void grad_backward(GradPass *p, int t)
{
	const TraNode *tn = grad_node(p, t);
	if (tn->kind != TRA_NODE_EINSUM || TRA_AGG_IS_ARG(tn->agg))
		return;
	if (p->broken[t]) {
		for (int k = 0; k < tn->nops; k++)
			if (grad_float(p, tn->ops[k].node))
				grad_break(p, tn->ops[k].node, p->broken[t]);
		return;
	}
	if (tra_node_is_view(tn)) {
		int prod = tn->ops[0].node;
		if (!grad_float(p, prod))
			return;
		if (p->adj[t] == GRAD_ONE)
			p->adj[t] = grad_seed(p);
		if (tn->ops[0].aff->gather)
			grad_gather(p, t);
		else
			grad_view(p, t);
		return;
	}
	grad_einsum(p, t);
}

GradPass *grad_pass(TraGraph *g, int loss)
{
	Arena *a = g->arena;
	GradPass *p = arena_alloc(a, sizeof *p);
	int n = g->nnodes;
	*p = (GradPass){.g = g, .loss = loss, .nfwd = loss + 1};
	p->adj = arena_alloc(a, (size_t)n * sizeof *p->adj);
	p->acc = arena_alloc(a, (size_t)n * sizeof *p->acc);
	p->broken = arena_alloc(a, (size_t)n * sizeof *p->broken);
	p->contrib = arena_alloc(a, (size_t)n * sizeof *p->contrib);
	p->ncontrib = arena_alloc(a, (size_t)n * sizeof *p->ncontrib);
	p->capcontrib = arena_alloc(a, (size_t)n * sizeof *p->capcontrib);
	for (int t = 0; t < n; t++)
		p->adj[t] = p->acc[t] = -1;
	p->adj[loss] = GRAD_ONE;
	for (int t = loss; t >= 0; t--) {
		if (t != loss)
			grad_finish_adjoint(p, t);
		if ((p->adj[t] != GRAD_NONE || p->broken[t]) && grad_float(p, t))
			grad_backward(p, t);
	}
	return p;
}

int grad_adjoint(const GradPass *p, int wrt, const char **why)
{
	*why = NULL;
	if (wrt >= p->nfwd)
		return GRAD_NONE;
	*why = p->broken[wrt];
	return p->adj[wrt];
}
