/* needs: a verified TraGraph. gives: no sum of a product reads more than two operands. */
/* order.c: the order of contractions in a sum of products.
 *
 * A statement such as
 *
 *   D[i, l] = sum[j, k](A[i, j] * B[j, k] * C[k, l])
 *
 * is one einsum node whose join multiplies three operands. Evaluated as
 * written, one loop nest over i, l, j, k, it costs |i||l||j||k| points,
 * where multiplying two operands at a time costs the sum of two much
 * smaller spaces; and which two come first matters just as much: with A
 * 4096x1024, B 1024x4096 and C 4096x1024, (A B) C takes four times the
 * flops of A (B C). This pass rewrites every such node into a sequence of
 * pairwise contractions in the cheapest order, as opt_einsum does, so that
 * each step is a plain two-operand einsum the back end can hand to GEMM.
 *
 * Which nodes. An einsum whose aggregation is SUM and whose join is a
 * tree of MUL over OPERAND leaves (three or more of them; the same
 * operand may occur twice) and CONST leaves. Anything else in the join
 * (exp, an INDEX, a subtraction) makes the products inseparable from it,
 * and the node is left alone; so is a node with a reduced index that no
 * operand reads (its sum would be a multiplication by the range).
 *
 * The cost of a step. Contracting tensors with index sets a and b into a
 * result that keeps the set k costs, as in opt_einsum, one operation per
 * point of a | b, two where something is summed (k != a | b): a multiply
 * and an add. A result keeps exactly the indices that are still needed:
 * the node's output indices (the epilogue may read only those), and
 * those of the factors not yet contracted. Every other index is summed
 * in the first step that covers all its readers, so an index read by a
 * single operand is summed in that operand's first contraction.
 *
 * The search. Up to ORDER_DP_MAX factors the search is exhaustive: a
 * dynamic program over subsets of the factors, where the best way to
 * compute a subset is the cheapest split into two disjoint subsets plus
 * their own best costs (3^8 splits at most). Ties go to the split with
 * smaller intermediates (elements stored), then to the order as written,
 * left to right, so that equal-cost chains read like the program. Beyond
 * that the search is greedy, cubic rather than exponential: of all pairs
 * of tensors still to contract, the cheapest step goes first (ties: the
 * smaller result, then the earlier pair). As in opt_einsum's greedy, a
 * pair that shares no index is considered only when no pair shares one:
 * an outer product is cheap to compute, but its result is large, and
 * taking it first leads the search astray.
 *
 * The rewrite. The search gives a binary tree whose leaves are the
 * factors. Each inner step but the root becomes a new node, named after
 * the original with .c1, .c2, ... in the order they are computed, placed
 * before it; its output indices are the kept ones in the order they first
 * occur in its left then its right input (B[j, k] C[k, l] gives [j, l]),
 * its reduced ones the summed ones. The root keeps the original's name,
 * output, epilogue and place, so its readers see no change. Constant
 * factors are multiplied together and become a scale on the aggregate in
 * the epilogue (acc * c): the last step stays a plain two-operand product
 * that the back end recognises as a GEMM. A step that sums nothing (an
 * outer or element-wise product) is a map, with the root's epilogue, if
 * any, applied to the product directly.
 *
 * Every node is rebuilt into a new array, in the old order with the new
 * steps inserted, and operand node ids and outputs are renumbered. The
 * search's tables live in a scratch arena that dies with the pass.
 */
#include "tra.h"

#include <string.h>

enum { ORDER_DP_MAX = 8 }; /* factors up to which the search is exhaustive */

typedef uint64_t IdxSet; /* indices of the node being split: bit d for index d */

/* The contraction tree of one node. Trees 0 .. nf-1 are the factors, the
 * operand leaves of the product in the order written; each later tree
 * contracts two earlier ones, and the last is the root. */
typedef struct Plan {
	const TraNode *n; /* the node being split, operands already renumbered */
	int nf;           /* factors */
	int opcap;        /* allocated entries of op */
	int *op;          /* op[t]: the operand factor t reads */
	double scale;     /* the product of the constant factors */
	int nconst;       /* constant factors */
	IdxSet out;       /* the node's output indices */
	int ntree;        /* factors plus steps so far */
	int (*kid)[2];    /* kid[t]: the two trees step t contracts; -1 for factors */
	IdxSet *set;      /* set[t]: the indices of tree t's result */
	int **order;      /* order[t]: set[t] in the result's dimension order */
	int *node;        /* node[t]: the graph node computing step t */
} Plan;

/* Operands of a node under construction, each added once. */
static int order_count(IdxSet s)
{
	return __builtin_popcountll(s);
}

/* Elements in the space of the indices s of n. */
static double order_size(const TraNode *n, IdxSet s)
{
	double z = 1;
	for (int d = 0; d < n->nidx; d++)
		if ((s >> d) & 1)
			z *= (double)n->idx[d].size;
	return z;
}

/* Whether an intermediate over the indices s can exist: at most
 * TRA_MAX_RANK dimensions, and a byte count far from overflowing (a
 * product whose every order needs a larger one is left unsplit). */
static bool order_fits(const TraNode *n, IdxSet s)
{
	return order_count(s) <= TRA_MAX_RANK && order_size(n, s) * 8 < 0x1p62;
}

/* opt_einsum's cost of contracting index sets a and b into keep. */
static double order_step_flops(const TraNode *n, IdxSet a, IdxSet b, IdxSet keep)
{
	IdxSet u = a | b;
	return order_size(n, u) * (u != keep ? 2 : 1);
}

/* Gathers the factors of join expression e; false if e is not a product
 * of operands and constants. */
/* Recursive; depth at most TRA_MAX_EXPR_DEPTH (tra_verify checks it). */
static bool order_collect(const TraGraph *g, int e, Plan *p, Arena *a)
{
	const TraExpr *x = &g->ex[e];
	switch (x->op) {
	case TRA_OP_MUL:
		return order_collect(g, x->kid[0], p, a) && order_collect(g, x->kid[1], p, a);
	case TRA_OP_OPERAND:
		ARENA_RESERVE(a, p->op, p->nf, p->opcap);
		p->op[p->nf++] = x->arg;
		return true;
	case TRA_OP_CONST:
		p->scale *= x->value;
		p->nconst++;
		return true;
	default:
		return false;
	}
}

/* Room for the whole tree, and the factors as its first trees. */
static void order_plan_init(Plan *p, Arena *a)
{
	int nt = 2 * p->nf - 1;
	p->kid = arena_alloc(a, (size_t)nt * sizeof *p->kid);
	p->set = arena_alloc(a, (size_t)nt * sizeof *p->set);
	p->order = arena_alloc(a, (size_t)nt * sizeof *p->order);
	p->node = arena_alloc(a, (size_t)nt * sizeof *p->node);
	for (int d = 0; d < p->n->rank; d++)
		p->out |= (IdxSet)1 << d;
	for (int t = 0; t < p->nf; t++) {
		const TraOperand *op = &p->n->ops[p->op[t]];
		p->kid[t][0] = p->kid[t][1] = -1;
		p->order[t] = arena_alloc(a, (size_t)(op->rank + 1) * sizeof **p->order);
		int k = 0;
		for (int d = 0; d < op->rank; d++)
			if (!((p->set[t] >> op->idx[d]) & 1)) {
				p->set[t] |= (IdxSet)1 << op->idx[d];
				p->order[t][k++] = op->idx[d];
			}
	}
	p->ntree = p->nf;
}

/* Whether n is a sum of a product of three or more operands whose
 * reduced indices are all read by some operand; fills p's factors. */
static bool order_candidate(const TraGraph *g, const TraNode *n, Plan *p, Arena *a)
{
	if (n->kind != TRA_NODE_EINSUM || n->agg != TRA_AGG_SUM)
		return false;
	if (!order_collect(g, n->join, p, a) || p->nf < 3)
		return false;
	order_plan_init(p, a);
	IdxSet read = 0;
	for (int t = 0; t < p->nf; t++)
		read |= p->set[t];
	for (int d = n->rank; d < n->nidx; d++)
		if (!((read >> d) & 1))
			return false;
	return true;
}

/* A new step contracting trees l and r into the indices keep; its
 * dimensions follow their first occurrence in l, then in r. */
static int order_step(Plan *p, Arena *a, int l, int r, IdxSet keep)
{
	int t = p->ntree++;
	p->kid[t][0] = l;
	p->kid[t][1] = r;
	p->set[t] = keep;
	p->order[t] = arena_alloc(a, (size_t)(order_count(keep) + 1) * sizeof **p->order);
	IdxSet placed = 0;
	int k = 0;
	for (int side = 0; side < 2; side++) {
		int s = p->kid[t][side];
		for (int i = 0; i < order_count(p->set[s]); i++) {
			IdxSet bit = (IdxSet)1 << p->order[s][i];
			if ((keep & bit) && !(placed & bit)) {
				placed |= bit;
				p->order[t][k++] = p->order[s][i];
			}
		}
	}
	return t;
}

/* ---- the exhaustive search ------------------------------------------------ */

/* The best way found to compute one subset of the factors. */
typedef struct DpCell {
	double flops;  /* of all its steps */
	double stored; /* elements of its intermediates, the root's excepted */
	unsigned left; /* the split: the part holding the lowest factor; 0 unset */
} DpCell;

/* How much a split l | r reads as written: a prefix of the subset and
 * the rest (A B | C) is better than any other, a longer prefix better. */
static int order_dp_rank(unsigned l, unsigned r)
{
	bool prefix = 32 - __builtin_clz(l) <= __builtin_ctz(r);
	return prefix ? __builtin_popcount(l) : 0;
}

/* Whether the split l | r, at the given cost, beats the cell's. */
static bool order_dp_better(const DpCell *c, double flops, double stored, unsigned l, unsigned r,
                            unsigned s)
{
	if (c->left == 0 || flops != c->flops)
		return c->left == 0 || flops < c->flops;
	if (stored != c->stored)
		return stored < c->stored;
	return order_dp_rank(l, r) > order_dp_rank(c->left, s ^ c->left);
}

/* The indices each subset's result keeps: a single factor's own, or
 * those of its factors still needed outside it. */
static IdxSet *order_dp_sets(const Plan *p, Arena *a)
{
	unsigned full = (1u << p->nf) - 1;
	IdxSet *uni = arena_alloc(a, (size_t)(full + 1) * sizeof *uni);
	IdxSet *keep = arena_alloc(a, (size_t)(full + 1) * sizeof *keep);
	for (unsigned s = 1; s <= full; s++)
		uni[s] = uni[s & (s - 1)] | p->set[__builtin_ctz(s)];
	for (unsigned s = 1; s <= full; s++)
		keep[s] = (s & (s - 1)) ? uni[s] & (p->out | uni[full ^ s]) : uni[s];
	return keep;
}

/* Whether subset s has no way to be computed (a single factor has one). */
static bool order_dp_unset(const DpCell *best, unsigned s)
{
	return (s & (s - 1)) && best[s].left == 0;
}

/* Fills cell s from the cells of its subsets. */
static void order_dp_cell(const Plan *p, DpCell *best, const IdxSet *keep, unsigned s, unsigned full)
{
	unsigned low = s & -s;
	if (s != full && !order_fits(p->n, keep[s]))
		return; /* no intermediate: the cell stays unset */
	for (unsigned l = (s - 1) & s; l; l = (l - 1) & s) {
		unsigned r = s ^ l;
		if (!(l & low) || order_dp_unset(best, l) || order_dp_unset(best, r))
			continue;
		double flops = best[l].flops + best[r].flops +
		               order_step_flops(p->n, keep[l], keep[r], keep[s]);
		double stored = best[l].stored + best[r].stored + (s != full ? order_size(p->n, keep[s]) : 0);
		if (order_dp_better(&best[s], flops, stored, l, r, s))
			best[s] = (DpCell){flops, stored, l};
	}
}

/* Builds the steps for subset s, subsets first; returns its tree. */
/* Recursive; depth at most the operands of an exhaustive search (8). */
static int order_dp_tree(Plan *p, Arena *a, const DpCell *best, const IdxSet *keep, unsigned s)
{
	if (!(s & (s - 1)))
		return __builtin_ctz(s);
	int l = order_dp_tree(p, a, best, keep, best[s].left);
	int r = order_dp_tree(p, a, best, keep, s ^ best[s].left);
	return order_step(p, a, l, r, keep[s]);
}

/* False when no order has intermediates that fit (order_fits). */
static bool order_dp(Plan *p, Arena *a)
{
	unsigned full = (1u << p->nf) - 1;
	IdxSet *keep = order_dp_sets(p, a);
	DpCell *best = arena_alloc(a, (size_t)(full + 1) * sizeof *best);
	for (unsigned s = 1; s <= full; s++)
		if (s & (s - 1))
			order_dp_cell(p, best, keep, s, full);
	if (order_dp_unset(best, full))
		return false;
	order_dp_tree(p, a, best, keep, full);
	return true;
}

/* ---- the greedy search ------------------------------------------------------ */

/* The indices that one, two, three or more of the trees left use; what a
 * pair keeps follows from them in constant time, so a step of the search
 * costs O(n^2) rather than O(n^3). */
typedef struct GreedyUse {
	IdxSet ge2; /* indices at least two of the trees left use */
	IdxSet ge3; /* indices at least three use */
} GreedyUse;

static GreedyUse order_greedy_use(const Plan *p, const int *act, int n)
{
	IdxSet ge1 = 0, ge2 = 0, ge3 = 0;
	for (int c = 0; c < n; c++) {
		IdxSet s = p->set[act[c]];
		ge3 |= ge2 & s;
		ge2 |= ge1 & s;
		ge1 |= s;
	}
	return (GreedyUse){ge2, ge3};
}

/* The indices the result of contracting trees a and b keeps: the output
 * ones, and those another tree left still reads (an index in one of the
 * two is read elsewhere when two trees use it, one in both when three do). */
static IdxSet order_greedy_keep(const Plan *p, const GreedyUse *u, IdxSet a, IdxSet b)
{
	IdxSet need = p->out | (u->ge2 & (a ^ b)) | (u->ge3 & a & b);
	return (a | b) & need;
}

/* A candidate step of the greedy search, and what makes it cheap. */
typedef struct GreedyStep {
	int i, j;      /* positions in the list of trees left */
	bool outer;    /* the two share no index */
	double flops;
	double size;   /* elements of the result */
	IdxSet keep;
} GreedyStep;

/* Whether step s is cheaper than step t: a contraction before any outer
 * product, then fewer flops, then a smaller result. */
static bool order_greedy_better(const GreedyStep *s, const GreedyStep *t)
{
	if (s->outer != t->outer)
		return !s->outer;
	if (s->flops != t->flops)
		return s->flops < t->flops;
	return s->size < t->size;
}

/* The cheapest step among the n trees left in act (the earliest pair on a tie). */
static GreedyStep order_greedy_pick(const Plan *p, const int *act, int n)
{
	GreedyStep best = {.i = -1};
	GreedyUse u = order_greedy_use(p, act, n);
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++) {
			IdxSet a = p->set[act[i]], b = p->set[act[j]];
			GreedyStep s = {i, j, !(a & b), 0, 0, order_greedy_keep(p, &u, a, b)};
			if (n > 2 && !order_fits(p->n, s.keep))
				continue;
			s.flops = order_step_flops(p->n, a, b, s.keep);
			s.size = order_size(p->n, s.keep);
			if (best.i < 0 || order_greedy_better(&s, &best))
				best = s;
		}
	return best;
}

/* False when it gets stuck: no step has an intermediate that fits. */
static bool order_greedy(Plan *p, Arena *a)
{
	int n = p->nf;
	int *act = arena_alloc(a, (size_t)n * sizeof *act); /* trees left to contract */
	for (int i = 0; i < n; i++)
		act[i] = i;
	for (; n > 1; n--) {
		GreedyStep s = order_greedy_pick(p, act, n);
		if (s.i < 0)
			return false;
		act[s.i] = order_step(p, a, act[s.i], act[s.j], s.keep);
		memmove(&act[s.j], &act[s.j + 1], (size_t)(n - s.j - 1) * sizeof *act);
	}
	return true;
}

/* ---- the rewrite ---------------------------------------------------------------- */

/* The operand reading tree t's result in a node whose index for the
 * original index d is pos[d]. */
static int order_tree_operand(TraGraph *g, const Plan *p, int t, const int *pos, TraOperandList *l)
{
	int idx[TRA_MAX_RANK];
	if (t < p->nf) {
		const TraOperand *op = &p->n->ops[p->op[t]];
		for (int d = 0; d < op->rank; d++)
			idx[d] = pos[op->idx[d]];
		return tra_operand_add(g->arena, l, op->node, op->rank, idx);
	}
	int rank = order_count(p->set[t]);
	for (int d = 0; d < rank; d++)
		idx[d] = pos[p->order[t][d]];
	return tra_operand_add(g->arena, l, p->node[t], rank, idx);
}

/* Gives m the index space of step t: the indices res[0..nres) (original
 * numbers), then those t sums, in the original order; pos maps back. */
static void order_space(TraGraph *g, const Plan *p, int t, const int *res, int nres,
                        TraNode *m, int *pos)
{
	IdxSet summed = (p->set[p->kid[t][0]] | p->set[p->kid[t][1]]) & ~p->set[t];
	int vars[TRA_MAX_STMT_INDICES], nv = 0;
	for (int i = 0; i < nres; i++)
		vars[nv++] = res[i];
	for (int d = 0; d < p->n->nidx; d++)
		if ((summed >> d) & 1)
			vars[nv++] = d;
	m->rank = nres;
	m->nidx = nv;
	m->agg = summed ? TRA_AGG_SUM : TRA_AGG_NONE;
	m->idx = arena_alloc(g->arena, (size_t)(nv + 1) * sizeof *m->idx);
	for (int i = 0; i < nv; i++) {
		m->idx[i] = p->n->idx[vars[i]];
		pos[vars[i]] = i;
	}
}

/* The product of step t's two inputs, with their operands added to l. */
static int order_product(TraGraph *g, const Plan *p, int t, const int *pos, TraOperandList *l)
{
	int a = order_tree_operand(g, p, p->kid[t][0], pos, l);
	int b = order_tree_operand(g, p, p->kid[t][1], pos, l);
	int ea = tra_expr_new(g, TRA_OP_OPERAND, a, 0, -1, -1, -1);
	int eb = tra_expr_new(g, TRA_OP_OPERAND, b, 0, -1, -1, -1);
	return tra_expr_new(g, TRA_OP_MUL, 0, 0, ea, eb, -1);
}

static int order_append(TraGraph *g, const TraNode *m)
{
	int id = tra_node_new(g, m);
	tra_node_cost(g, &g->nodes[id]);
	return id;
}

/* A new node for step t, which is not the root: name.cN. */
static int order_emit_step(TraGraph *g, const Plan *p, int t, int serial)
{
	TraNode m = {.kind = TRA_NODE_EINSUM, .span = p->n->span, .type = p->n->type, .epilogue = -1};
	m.name = arena_printf(g->arena, "%s.c%d", p->n->name, serial);
	int pos[TRA_MAX_STMT_INDICES];
	order_space(g, p, t, p->order[t], order_count(p->set[t]), &m, pos);
	TraOperandList l = {0};
	m.join = order_product(g, p, t, pos, &l);
	m.ops = l.ops;
	m.nops = l.n;
	return order_append(g, &m);
}

/* What the root's epilogue reads as acc. */
typedef struct OrderAcc {
	int a, b;      /* the root's two product operands, if it is a map */
	bool map;      /* the root sums nothing: acc is the product itself */
	bool scaled;   /* there were constant factors */
	double scale;  /* their product */
} OrderAcc;

/* A fresh expression for acc: the aggregate (or the product), scaled. */
static int order_acc(TraGraph *g, const OrderAcc *c)
{
	int e;
	if (c->map) {
		int ea = tra_expr_new(g, TRA_OP_OPERAND, c->a, 0, -1, -1, -1);
		int eb = tra_expr_new(g, TRA_OP_OPERAND, c->b, 0, -1, -1, -1);
		e = tra_expr_new(g, TRA_OP_MUL, 0, 0, ea, eb, -1);
	} else
		e = tra_expr_new(g, TRA_OP_ACC, 0, 0, -1, -1, -1);
	if (!c->scaled)
		return e;
	int k = tra_expr_new(g, TRA_OP_CONST, 0, c->scale, -1, -1, -1);
	return tra_expr_new(g, TRA_OP_MUL, 0, 0, e, k, -1);
}

/* A copy of the original epilogue e, its operands added to l (they read
 * output indices only, which keep their numbers) and acc replaced. */
/* Recursive; depth at most TRA_MAX_EXPR_DEPTH (tra_verify checks it). */
static int order_epilogue(TraGraph *g, const Plan *p, int e, TraOperandList *l, const OrderAcc *c)
{
	TraExpr x = g->ex[e];
	if (x.op == TRA_OP_ACC)
		return order_acc(g, c);
	if (x.op == TRA_OP_OPERAND) {
		const TraOperand *op = &p->n->ops[x.arg];
		x.arg = tra_operand_add(g->arena, l, op->node, op->rank, op->idx);
	}
	for (int k = 0; k < tra_op_arity[x.op]; k++)
		x.kid[k] = order_epilogue(g, p, x.kid[k], l, c);
	return tra_expr_new(g, x.op, x.arg, x.value, x.kid[0], x.kid[1], x.kid[2]);
}

/* The root step t: the original node, with its name, output indices,
 * epilogue and place, now contracting two trees. */
static int order_emit_root(TraGraph *g, const Plan *p, int t)
{
	TraNode m = *p->n;
	int res[TRA_MAX_RANK], pos[TRA_MAX_STMT_INDICES];
	for (int d = 0; d < m.rank; d++)
		res[d] = d;
	order_space(g, p, t, res, p->n->rank, &m, pos);
	TraOperandList l = {0};
	int product = order_product(g, p, t, pos, &l);
	const TraExpr *px = &g->ex[product];
	OrderAcc c = {.a = g->ex[px->kid[0]].arg, .b = g->ex[px->kid[1]].arg,
	              .map = m.agg == TRA_AGG_NONE, .scaled = p->nconst > 0 && p->scale != 1,
	              .scale = p->scale};
	int value = p->n->epilogue >= 0 ? order_epilogue(g, p, p->n->epilogue, &l, &c)
	            : c.map || c.scaled ? order_acc(g, &c) : -1;
	m.join = c.map ? value : product;
	m.epilogue = c.map ? -1 : value;
	m.ops = l.ops;
	m.nops = l.n;
	return order_append(g, &m);
}

/* Appends node n, split into pairwise contractions if it is a candidate;
 * returns the id of the node that now computes n. */
static int order_node(TraGraph *g, const TraNode *n, Arena *scratch)
{
	Plan p = {.n = n, .scale = 1};
	if (!order_candidate(g, n, &p, scratch))
		return order_append(g, n);
	bool planned = p.nf <= ORDER_DP_MAX ? order_dp(&p, scratch) : order_greedy(&p, scratch);
	if (!planned)
		return order_append(g, n);
	for (int t = p.nf; t < p.ntree - 1; t++)
		p.node[t] = order_emit_step(g, &p, t, t - p.nf + 1);
	return order_emit_root(g, &p, p.ntree - 1);
}

void order_contractions(TraGraph *g)
{
	Arena scratch = {0};
	int nold = g->nnodes;
	TraNode *old = g->nodes;
	int *map = arena_alloc(&scratch, (size_t)(nold + 1) * sizeof *map);
	g->nodes = NULL;
	g->nnodes = g->nodecap = 0;
	for (int id = 0; id < nold; id++) {
		TraNode n = old[id];
		for (int k = 0; k < n.nops; k++)
			n.ops[k].node = map[n.ops[k].node];
		map[id] = order_node(g, &n, &scratch);
	}
	for (int i = 0; i < g->noutputs; i++)
		g->outputs[i] = map[g->outputs[i]];
	arena_free(&scratch);
}
