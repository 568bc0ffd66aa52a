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
 * Which nodes. An einsum whose join is a tree of MUL over OPERAND leaves
 * (the same operand may occur twice) and CONST leaves, and whose
 * aggregation is SUM (two or more operands) or none (a map of three or
 * more). Anything else in the join (exp, an INDEX, a subtraction) makes
 * the products inseparable from it, and the node is left alone; so is a
 * node with a reduced index that no operand reads (its sum would be a
 * multiplication by the range).
 *
 * The cost, counted as opt_einsum's flop_count does: a step over the
 * index space U with t operands costs |U| * (max(1, t - 1) + 1 if it
 * sums something, else + 0). So contracting two tensors with index sets a
 * and b into a result that keeps k costs |a | b| (an outer or element-wise
 * product, nothing summed) or 2 |a | b| (a multiply and an add); summing
 * one tensor over some of its indices costs 2 |a|; and the node as
 * written, with n factors, |all| * (n - 1), plus |all| if it sums.
 *
 * What a step keeps. A result keeps exactly the indices still needed: the
 * node's output indices (the epilogue may read only those), and those of
 * the factors not yet contracted. Every other index is summed in the
 * first step that covers all its readers. An index read by one factor
 * only may also be summed out of that factor alone, before it joins
 * anything (a single-operand reduction, as opt_einsum's dp does first):
 * the search does so exactly where it pays, which is where the factor's
 * first contraction would cost more than the reduction saves (an index of
 * size 1 never pays). Likewise an outer product (a pair sharing no index)
 * is one split like any other, taken where it is cheapest; a map of
 * three or more factors is split only where the steps cost less than the
 * one loop as written (A[i] * B[i] * C[i] stays one loop; a * b * c over
 * distinct indices becomes (a b) c).
 *
 * The search. Up to ORDER_DP_MAX factors it is exhaustive: a dynamic
 * program over subsets of the factors (opt_einsum's dp optimizer with
 * outer products allowed), where the best way to compute a subset is the
 * cheapest split into two disjoint subsets plus their own best costs; a
 * part that is a single factor joins raw or reduced, whichever is
 * cheaper. A split whose parts already cost more than the subset's best
 * is skipped before its step is costed; 3^16/2 splits at most. Ties go to
 * the split that sums more of its factors' elements alone (flop_count
 * charges a one-operand sum 2 |a|, the kernel adds |a|: order_saved),
 * then to smaller intermediates (elements stored), then to the order as
 * written, left to right, so that equal-cost chains read like the
 * program whatever the operands' order. Beyond ORDER_DP_MAX the search is greedy, then improved
 * locally. The greedy search is quadratic on the products programs
 * have, cubic at worst, rather than exponential: of all
 * pairs of tensors still to contract, the cheapest step goes first (ties:
 * the smaller result, then the earlier pair). As in opt_einsum's greedy,
 * a pair that shares no index is considered only when no pair shares
 * one: an outer product is cheap to compute, but its result is large,
 * and taking it first leads the search astray. The local improvement
 * then takes every step of the greedy tree as the top of a window: the
 * subtrees found by opening up to ORDER_WINDOW inputs below it, breadth
 * first, which the dynamic program re-solves exactly with the window's
 * result fixed; a window that costs less re-solved replaces the old one.
 * Sweeps repeat while something improves (ORDER_SWEEPS at most). Only
 * strict improvements are taken, so the result is never worse than the
 * greedy tree.
 *
 * Limits. No intermediate has more than TRA_MAX_RANK dimensions or a
 * byte count near overflow (order_fits): the searches never build one,
 * and a product that no order fits stays unsplit.
 *
 * The rewrite. The search gives a binary tree whose leaves are the
 * factors. Each inner step but the root becomes a new node, named after
 * the original with .c1, .c2, ... in the order they are computed, placed
 * before it; its output indices are the kept ones in the order they first
 * occur in its left then its right input (B[j, k] C[k, l] gives [j, l]),
 * its reduced ones the summed ones. A single-operand reduction is such a
 * node too, with one operand (T.c1[b] = sum[a] A[a, b]). The root keeps
 * the original's name, output, epilogue and place, so its readers see no
 * change. Constant factors are multiplied together and become a scale on
 * the aggregate in the epilogue (acc * c): the last step stays a plain
 * two-operand product that the back end recognises as a GEMM. A step that
 * sums nothing (an outer or element-wise product) is a map, with the
 * root's epilogue, if any, applied to the product directly.
 *
 * Every node is rebuilt into a new array, in the old order with the new
 * steps inserted, and operand node ids and outputs are renumbered. The
 * search's tables live in a scratch arena that dies with the pass; the
 * searches recurse no deeper than ORDER_DP_MAX, and the tree is emitted
 * with an explicit stack.
 */
#include "tra.h"

#include <string.h>

enum {
	ORDER_DP_MAX = 16, /* factors up to which the search is exhaustive */
	ORDER_WINDOW = 8,  /* inputs of a window the local improvement re-solves */
	ORDER_SWEEPS = 4,  /* most sweeps of the local improvement */
};

typedef uint64_t IdxSet; /* indices of the node being split: bit d for index d */

/* Elements of an index set by table: the product of one entry per byte
 * of the set, so that the search costs a step in eight lookups. */
typedef struct OrderSizes {
	double byte[8][256]; /* byte[b][v]: the sizes of indices 8b + bits of v */
} OrderSizes;

/* The contraction tree of one node, as emitted. Trees 0 .. nf-1 are the
 * factors, the operand leaves of the product in the order written; each
 * later tree sums one factor over its own indices or contracts two
 * earlier trees, and the last is the root. */
typedef struct Plan {
	const TraNode *n; /* the node being split, operands already renumbered */
	const OrderSizes *sz; /* its index sizes */
	int nf;           /* factors */
	int opcap;        /* allocated entries of op */
	int *op;          /* op[t]: the operand factor t reads */
	double scale;     /* the product of the constant factors */
	int nconst;       /* constant factors */
	IdxSet out;       /* the node's output indices */
	IdxSet *red;      /* red[t]: what factor t keeps summed alone (== set[t]
	                     when it reads no index that only it needs) */
	int ntree;        /* factors plus steps so far */
	int (*kid)[2];    /* kid[t]: the trees step t reads; -1 for none */
	IdxSet *set;      /* set[t]: the indices of tree t's result */
	int **order;      /* order[t]: set[t] in the result's dimension order */
	int *node;        /* node[t]: the graph node computing step t */
} Plan;

/* A binary tree over the factors, as the searches build it: trees
 * 0 .. nf-1 are the factors, nf .. 2nf-2 the steps (in no particular
 * order: the local improvement reuses them); leaves join raw or reduced,
 * whichever is cheaper (order_join), which is decided where emitted. */
typedef struct Shape {
	int (*kid)[2];    /* kid[t]: a step's two inputs */
	IdxSet *set;      /* set[t]: the indices of tree t's result */
	int root;
} Shape;

/* An input of a step: its indices and, for a factor, the indices it
 * keeps when summed alone first, and what that costs. */
typedef struct OrderIn {
	IdxSet set, red;
	double rflops;
} OrderIn;

static int order_count(IdxSet s)
{
	return __builtin_popcountll(s);
}

static void order_sizes_init(OrderSizes *z, const TraNode *n)
{
	for (int b = 0; b < 8; b++) {
		z->byte[b][0] = 1;
		for (int v = 1; v < 256; v++) {
			int d = 8 * b + __builtin_ctz((unsigned)v);
			double s = d < n->nidx ? (double)n->idx[d].size : 1;
			z->byte[b][v] = z->byte[b][v & (v - 1)] * s;
		}
	}
}

/* Elements in the space of the indices s. */
static double order_size(const Plan *p, IdxSet s)
{
	double z = 1;
	for (int b = 0; s; b++, s >>= 8)
		z *= p->sz->byte[b][s & 0xff];
	return z;
}

/* Whether an intermediate over the indices s can exist: at most
 * TRA_MAX_RANK dimensions, and a byte count far from overflowing (a
 * product whose every order needs a larger one is left unsplit). */
static bool order_fits(const Plan *p, IdxSet s)
{
	return order_count(s) <= TRA_MAX_RANK && order_size(p, s) * 8 < 0x1p62;
}

/* flop_count of contracting index sets a and b into keep. */
static double order_step_flops(const Plan *p, IdxSet a, IdxSet b, IdxSet keep)
{
	IdxSet u = a | b;
	return order_size(p, u) * (u != keep ? 2 : 1);
}

/* Tree t of s as a step's input; only a factor can be reduced alone. */
static OrderIn order_in(const Plan *p, const Shape *s, int t)
{
	if (t >= p->nf || p->red[t] == s->set[t])
		return (OrderIn){s->set[t], s->set[t], 0};
	return (OrderIn){s->set[t], p->red[t], 2 * order_size(p, s->set[t])};
}

/* What summing an input alone saves against flop_count's charge: it
 * counts 2 |a| (t = 1 operand, plus 1 for the sum) where the kernel adds
 * once per element, so of two orders equal by flop_count the one that
 * sums larger inputs alone does less work. Only ties consult it. */
static double order_saved(OrderIn a)
{
	return a.rflops / 2;
}

/* The cheapest way to contract a and b into keep, each summed alone
 * first or not: bit 0 of *how says a is, bit 1 that b is. Ties go to
 * the way that saves the most (order_saved), then raw (one node fewer);
 * *saved says what the way taken saves. */
static double order_join(const Plan *p, OrderIn a, OrderIn b, IdxSet keep, int *how, double *saved)
{
	double best = 0;
	*how = -1;
	*saved = 0;
	for (int f = 0; f < 4; f++) {
		if (((f & 1) && a.red == a.set) || ((f & 2) && b.red == b.set))
			continue;
		IdxSet x = f & 1 ? a.red : a.set, y = f & 2 ? b.red : b.set;
		double c = order_step_flops(p, x, y, keep) + (f & 1 ? a.rflops : 0) + (f & 2 ? b.rflops : 0);
		double v = (f & 1 ? order_saved(a) : 0) + (f & 2 ? order_saved(b) : 0);
		if (*how < 0 || c < best || (c == best && v > *saved)) {
			best = c;
			*how = f;
			*saved = v;
		}
	}
	return best;
}

/* The cost of step t of s, with its factors joined the cheaper way. */
static double order_shape_step(const Plan *p, const Shape *s, int t, int *how)
{
	double saved;
	return order_join(p, order_in(p, s, s->kid[t][0]), order_in(p, s, s->kid[t][1]), s->set[t], how,
	                  &saved);
}

/* The cost of the whole tree s. */
static double order_shape_flops(const Plan *p, const Shape *s)
{
	double f = 0;
	int how;
	for (int t = p->nf; t < 2 * p->nf - 1; t++)
		f += order_shape_step(p, s, t, &how);
	return f;
}

static void order_shape_init(const Plan *p, Shape *s, Arena *a)
{
	int nt = 2 * p->nf - 1;
	s->kid = arena_alloc(a, (size_t)nt * sizeof *s->kid);
	s->set = arena_alloc(a, (size_t)nt * sizeof *s->set);
	for (int t = 0; t < p->nf; t++) {
		s->kid[t][0] = s->kid[t][1] = -1;
		s->set[t] = p->set[t];
	}
	s->root = nt - 1;
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

/* What each factor keeps summed alone: the indices that the output or
 * another factor reads. */
static void order_plan_reduced(Plan *p, Arena *a)
{
	IdxSet ge1 = 0, ge2 = 0;
	for (int t = 0; t < p->nf; t++) {
		ge2 |= ge1 & p->set[t];
		ge1 |= p->set[t];
	}
	p->red = arena_alloc(a, (size_t)p->nf * sizeof *p->red);
	for (int t = 0; t < p->nf; t++)
		p->red[t] = p->set[t] & (p->out | ge2);
}

/* Room for the whole tree (factors, a reduction of each, and the
 * steps), and the factors as its first trees. */
static void order_plan_init(Plan *p, Arena *a)
{
	int nt = 3 * p->nf - 1;
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
	order_plan_reduced(p, a);
}

/* Whether n is a sum of a product of two or more operands whose reduced
 * indices are all read by some operand, or a map of a product of three
 * or more, over at most 64 indices (an IdxSet); fills p's factors. */
static bool order_candidate(const TraGraph *g, const TraNode *n, Plan *p, Arena *a)
{
	if (n->kind != TRA_NODE_EINSUM || tra_node_is_opaque(n) || (n->agg != TRA_AGG_SUM && n->agg != TRA_AGG_NONE) ||
	    n->nidx > 64)
		return false;
	if (!order_collect(g, n->join, p, a) || p->nf < (n->agg == TRA_AGG_SUM ? 2 : 3))
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

/* A new tree of the plan reading trees l and r (r -1: l summed alone)
 * into the indices keep; its dimensions follow their first occurrence
 * in l, then in r. */
static int order_step(Plan *p, Arena *a, int l, int r, IdxSet keep)
{
	int t = p->ntree++;
	p->kid[t][0] = l;
	p->kid[t][1] = r;
	p->set[t] = keep;
	p->order[t] = arena_alloc(a, (size_t)(order_count(keep) + 1) * sizeof **p->order);
	IdxSet placed = 0;
	int k = 0;
	for (int side = 0; side < 2 && p->kid[t][side] >= 0; side++) {
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

/* The best way found to compute one subset of a search's inputs. */
typedef struct DpCell {
	double flops;  /* of all its steps */
	double saved;  /* what its inputs summed alone save (order_saved) */
	double stored; /* elements of its intermediates, the top's excepted */
	unsigned left; /* the split: the part holding the lowest input; 0 unset */
} DpCell;

/* One exhaustive search: the best tree over n inputs (factors, or the
 * subtrees of a window) whose top keeps the indices out. */
typedef struct Dp {
	const Plan *p;
	int n;
	OrderIn *in;  /* in[i]: input i */
	IdxSet *uni;  /* uni[s]: the indices the inputs in subset s read */
	IdxSet *keep; /* keep[s]: those that subset s's result keeps */
	DpCell *best; /* best[s]: how to compute subset s */
} Dp;

/* Tables for searches of up to maxn inputs. */
static void order_dp_alloc(Dp *q, const Plan *p, int maxn, Arena *a)
{
	size_t cells = (size_t)1 << maxn;
	q->p = p;
	q->in = arena_alloc(a, (size_t)maxn * sizeof *q->in);
	q->uni = arena_alloc(a, cells * sizeof *q->uni);
	q->keep = arena_alloc(a, cells * sizeof *q->keep);
	q->best = arena_alloc(a, cells * sizeof *q->best);
}

/* How much a split l | r reads as written: a prefix of the subset and
 * the rest (A B | C) is better than any other, a longer prefix better. */
static int order_dp_rank(unsigned l, unsigned r)
{
	bool prefix = 32 - __builtin_clz(l) <= __builtin_ctz(r);
	return prefix ? __builtin_popcount(l) : 0;
}

/* Whether the split l | r, at the given cost, beats the cell's: fewer
 * flops, then more saved, then less stored, then as written. */
static bool order_dp_better(const DpCell *c, const DpCell *x, unsigned l, unsigned r, unsigned s)
{
	double flops = x->flops, stored = x->stored;
	if (c->left == 0 || flops != c->flops)
		return c->left == 0 || flops < c->flops;
	if (x->saved != c->saved)
		return x->saved > c->saved;
	if (stored != c->stored)
		return stored < c->stored;
	return order_dp_rank(l, r) > order_dp_rank(c->left, s ^ c->left);
}

/* The indices each subset's result keeps: a single input's own, or
 * those of its inputs still needed outside it; and no cell set yet. */
static void order_dp_sets(Dp *q, IdxSet out)
{
	unsigned full = (1u << q->n) - 1;
	q->uni[0] = 0;
	for (unsigned s = 1; s <= full; s++)
		q->uni[s] = q->uni[s & (s - 1)] | q->in[__builtin_ctz(s)].set;
	for (unsigned s = 1; s <= full; s++)
		q->keep[s] = (s & (s - 1)) ? q->uni[s] & (out | q->uni[full ^ s]) : q->uni[s];
	memset(q->best, 0, ((size_t)full + 1) * sizeof *q->best);
}

/* Whether subset s has no way to be computed (a single input has one). */
static bool order_dp_unset(const DpCell *best, unsigned s)
{
	return (s & (s - 1)) && best[s].left == 0;
}

/* Subset s as a step's input: an input of the search, which may be a
 * factor that can be summed alone, or an intermediate. */
static OrderIn order_dp_in(const Dp *q, unsigned s)
{
	if (!(s & (s - 1)))
		return q->in[__builtin_ctz(s)];
	return (OrderIn){q->keep[s], q->keep[s], 0};
}

/* Costs the split l | r of subset s into its cell, if it is better. */
static void order_dp_split(Dp *q, unsigned l, unsigned r, unsigned s, bool top)
{
	DpCell *c = &q->best[s];
	double base = q->best[l].flops + q->best[r].flops;
	if (c->left && base >= c->flops)
		return; /* the step costs more than nothing: no better (a tie
		           needs an index of size 0, and only orders the nodes) */
	OrderIn a = order_dp_in(q, l), b = order_dp_in(q, r);
	int how;
	double saved;
	double flops = base + order_join(q->p, a, b, q->keep[s], &how, &saved);
	double stored = q->best[l].stored + q->best[r].stored +
	                (top ? 0 : order_size(q->p, q->keep[s])) +
	                (how & 1 ? order_size(q->p, a.red) : 0) + (how & 2 ? order_size(q->p, b.red) : 0);
	DpCell x = {flops, q->best[l].saved + q->best[r].saved + saved, stored, l};
	if (order_dp_better(c, &x, l, r, s))
		*c = x;
}

/* Fills cell s from the cells of its subsets: every split whose left
 * part holds the lowest input, in decreasing order of the left part. */
static void order_dp_cell(Dp *q, unsigned s, unsigned full)
{
	if (s != full && !order_fits(q->p, q->keep[s]))
		return; /* no intermediate: the cell stays unset */
	unsigned low = s & -s, rest = s ^ low;
	for (unsigned m = rest;; m = (m - 1) & rest) {
		unsigned l = m | low, r = s ^ l;
		if (r && !order_dp_unset(q->best, l) && !order_dp_unset(q->best, r))
			order_dp_split(q, l, r, s, s == full);
		if (!m)
			break;
	}
}

/* Solves the search over q->in[0..n) with a top keeping out; false when
 * no tree has intermediates that fit (order_fits). */
static bool order_dp_solve(Dp *q, int n, IdxSet out)
{
	unsigned full = (1u << n) - 1;
	q->n = n;
	order_dp_sets(q, out);
	for (unsigned s = 1; s <= full; s++)
		if (s & (s - 1))
			order_dp_cell(q, s, full);
	return !order_dp_unset(q->best, full);
}

/* Writes the solution for subset s into sh: input i is tree ids[i], the
 * steps take the trees slots[*used], ... in order, subsets first, so the
 * top takes the last. Returns the tree of s. */
static int order_dp_build(const Dp *q, unsigned s, Shape *sh, const int *ids, const int *slots,
                          int *used)
{
	if (!(s & (s - 1)))
		return ids[__builtin_ctz(s)];
	int l = order_dp_build(q, q->best[s].left, sh, ids, slots, used);
	int r = order_dp_build(q, s ^ q->best[s].left, sh, ids, slots, used);
	int t = slots[(*used)++];
	sh->kid[t][0] = l;
	sh->kid[t][1] = r;
	sh->set[t] = q->keep[s];
	return t;
}

/* The optimal tree over all the factors; false when none fits. */
static bool order_exhaustive(const Plan *p, Shape *sh, Arena *a)
{
	Dp q;
	int ids[ORDER_DP_MAX], slots[ORDER_DP_MAX], used = 0;
	order_dp_alloc(&q, p, p->nf, a);
	for (int i = 0; i < p->nf; i++) {
		q.in[i] = order_in(p, sh, i);
		ids[i] = i;
		slots[i] = p->nf + i;
	}
	if (!order_dp_solve(&q, p->nf, p->out))
		return false;
	order_dp_build(&q, (1u << p->nf) - 1, sh, ids, slots, &used);
	return true;
}

/* ---- the greedy search ------------------------------------------------------ */

/* The indices that two or three or more of the trees left use; what a
 * pair keeps follows from them in constant time. */
typedef struct GreedyUse {
	IdxSet ge2; /* indices at least two of the trees left use */
	IdxSet ge3; /* indices at least three use */
} GreedyUse;

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
	double flops;  /* with factors summed alone where that is cheaper */
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

/* The greedy search's state. Trees left sit in slots, in the order of the
 * product as written; a step puts its result in its first input's slot
 * and empties the second's, so the slots keep the order the pairs are
 * ranked in. Each slot keeps its cheapest step with a later slot; a step
 * changes only the slots it touches, those that hold an index whose use
 * count crossed two or three (what a pair keeps depends on those), and
 * those whose best partner was one of them, so the search costs O(n^2)
 * steps on the products programs have, not O(n^3) (a 2,000-factor
 * product: 15 s). */
typedef struct Greedy {
	const Plan *p;
	const Shape *sh;
	int nf, n;          /* slots; trees left */
	int *tree;          /* per slot: its tree, or -1 once contracted */
	GreedyStep *best;   /* per slot: its cheapest step with a later slot (.i < 0: none) */
	bool *touched;      /* per slot: its pairs' steps changed in the last step ... */
	int *list, nlist;   /* ... and those slots in order */
	int cnt[64];        /* per index: the trees left that use it */
	GreedyUse u;
} Greedy;

static GreedyUse order_greedy_counted(const int *cnt)
{
	GreedyUse u = {0, 0};
	for (int d = 0; d < 64; d++) {
		u.ge2 |= (IdxSet)(cnt[d] >= 2) << d;
		u.ge3 |= (IdxSet)(cnt[d] >= 3) << d;
	}
	return u;
}

/* The step contracting the trees in slots i < j; .i < 0 where its result
 * cannot exist (unless it is the last step, which has no choice). */
static GreedyStep order_greedy_step(const Greedy *G, int i, int j)
{
	const Plan *p = G->p;
	IdxSet a = G->sh->set[G->tree[i]], b = G->sh->set[G->tree[j]];
	GreedyStep s = {i, j, !(a & b), 0, 0, order_greedy_keep(p, &G->u, a, b)};
	if (G->n > 2 && !order_fits(p, s.keep))
		return (GreedyStep){.i = -1};
	int how;
	double saved;
	s.flops = order_join(p, order_in(p, G->sh, G->tree[i]), order_in(p, G->sh, G->tree[j]), s.keep, &how, &saved);
	s.size = order_size(p, s.keep);
	return s;
}

/* Slot i's best step, with slot j's as a candidate: on a tie the earlier j. */
static void order_greedy_consider(Greedy *G, int i, int j)
{
	GreedyStep s = order_greedy_step(G, i, j), *b = &G->best[i];
	if (s.i >= 0 && (b->i < 0 || order_greedy_better(&s, b) || (!order_greedy_better(b, &s) && j < b->j)))
		*b = s;
}

static void order_greedy_row(Greedy *G, int i)
{
	G->best[i].i = -1;
	for (int j = i + 1; j < G->nf; j++)
		if (G->tree[j] >= 0)
			order_greedy_consider(G, i, j);
}

/* The cheapest step of all: the first slot's on a tie, so the earliest
 * pair in the order written. */
static GreedyStep order_greedy_pick(const Greedy *G)
{
	GreedyStep best = {.i = -1};
	for (int i = 0; i < G->nf; i++) {
		const GreedyStep *s = &G->best[i];
		if (G->tree[i] >= 0 && s->i >= 0 && (best.i < 0 || order_greedy_better(s, &best)))
			best = *s;
	}
	return best;
}

/* Step s is taken into tree t: the use counts, then every slot's best
 * step that it may have changed. */
static void order_greedy_take(Greedy *G, const GreedyStep *s, int t)
{
	IdxSet x = G->sh->set[G->tree[s->i]], y = G->sh->set[G->tree[s->j]];
	GreedyUse old = G->u;
	for (int d = 0; d < 64; d++)
		G->cnt[d] += (int)(s->keep >> d & 1) - (int)(x >> d & 1) - (int)(y >> d & 1);
	G->u = order_greedy_counted(G->cnt);
	IdxSet crossed = (old.ge2 ^ G->u.ge2) | (old.ge3 ^ G->u.ge3);
	G->tree[s->i] = t;
	G->tree[s->j] = -1;
	G->n--;
	G->nlist = 0;
	for (int c = 0; c < G->nf; c++) {
		G->touched[c] = G->tree[c] >= 0 && (c == s->i || (G->sh->set[G->tree[c]] & crossed));
		if (G->touched[c])
			G->list[G->nlist++] = c;
	}
	for (int i = 0; i < G->nf; i++) {
		const GreedyStep *b = &G->best[i];
		if (G->tree[i] < 0)
			continue;
		if (G->n == 2 || G->touched[i] || (b->i >= 0 && (b->j == s->j || G->touched[b->j]))) {
			order_greedy_row(G, i); /* its best may have got dearer */
			continue;
		}
		for (int k = 0; k < G->nlist; k++)
			if (G->list[k] > i)
				order_greedy_consider(G, i, G->list[k]);
	}
}

/* The greedy tree; false when it gets stuck: no step has an
 * intermediate that fits. */
static bool order_greedy(const Plan *p, Shape *sh, Arena *a)
{
	Greedy G = {.p = p, .sh = sh, .nf = p->nf, .n = p->nf};
	G.tree = arena_alloc(a, (size_t)G.nf * sizeof *G.tree);
	G.best = arena_alloc(a, (size_t)G.nf * sizeof *G.best);
	G.touched = arena_alloc(a, (size_t)G.nf * sizeof *G.touched);
	G.list = arena_alloc(a, (size_t)G.nf * sizeof *G.list);
	for (int i = 0; i < G.nf; i++) {
		G.tree[i] = i;
		for (int d = 0; d < 64; d++)
			G.cnt[d] += (int)(sh->set[i] >> d & 1);
	}
	G.u = order_greedy_counted(G.cnt);
	for (int i = 0; i < G.nf; i++)
		order_greedy_row(&G, i);
	for (int next = p->nf; G.n > 1; next++) {
		GreedyStep s = order_greedy_pick(&G);
		if (s.i < 0)
			return false;
		sh->kid[next][0] = G.tree[s.i];
		sh->kid[next][1] = G.tree[s.j];
		sh->set[next] = s.keep;
		order_greedy_take(&G, &s, next);
	}
	return true;
}

/* ---- the local improvement ---------------------------------------------------- */

/* A window of a tree: the inputs found by opening the steps below a top,
 * level by level, and the steps opened, the top last. */
typedef struct Window {
	int in[ORDER_WINDOW], nin;
	int step[ORDER_WINDOW], nstep;
} Window;

static void order_window_open(const Plan *p, const Shape *sh, int top, Window *w)
{
	w->nin = w->nstep = 0;
	w->in[w->nin++] = sh->kid[top][0];
	w->in[w->nin++] = sh->kid[top][1];
	bool opened = true;
	while (opened && w->nin < ORDER_WINDOW) {
		opened = false;
		for (int i = 0, m = w->nin; i < m && w->nin < ORDER_WINDOW; i++) {
			int t = w->in[i];
			if (t < p->nf)
				continue;
			w->step[w->nstep++] = t;
			w->in[i] = sh->kid[t][0];
			w->in[w->nin++] = sh->kid[t][1];
			opened = true;
		}
	}
	w->step[w->nstep++] = top;
}

/* Re-solves the window below top exactly; true if it now costs less. */
static bool order_window(const Plan *p, Shape *sh, int top, Dp *q)
{
	Window w;
	order_window_open(p, sh, top, &w);
	if (w.nin < 3)
		return false;
	double now = 0;
	int how, used = 0;
	for (int i = 0; i < w.nstep; i++)
		now += order_shape_step(p, sh, w.step[i], &how);
	for (int i = 0; i < w.nin; i++)
		q->in[i] = order_in(p, sh, w.in[i]);
	unsigned full = (1u << w.nin) - 1;
	/* a relative margin: the same cost summed in another order is no gain */
	if (!order_dp_solve(q, w.nin, sh->set[top]) || !(q->best[full].flops < now * (1 - 1e-12)))
		return false;
	order_dp_build(q, full, sh, w.in, w.step, &used);
	return true;
}

/* Sweeps of windows over every step of the tree, while one improves. */
static void order_improve(const Plan *p, Shape *sh, Arena *a)
{
	Dp q;
	order_dp_alloc(&q, p, ORDER_WINDOW, a);
	bool better = true;
	for (int sweep = 0; sweep < ORDER_SWEEPS && better; sweep++) {
		better = false;
		for (int t = p->nf; t < 2 * p->nf - 1; t++)
			better |= order_window(p, sh, t, &q);
	}
}

/* ---- choosing the tree ------------------------------------------------------- */

/* The best tree the search finds; false when none fits. */
static bool order_search(const Plan *p, Shape *sh, Arena *a)
{
	order_shape_init(p, sh, a);
	if (p->nf <= ORDER_DP_MAX)
		return order_exhaustive(p, sh, a);
	if (!order_greedy(p, sh, a))
		return false;
	order_improve(p, sh, a);
	return true;
}

/* Whether to rewrite the node as the steps of sh: always a sum of three
 * or more factors (the pass promises two-operand sums, and pairs are what
 * GEMM takes), otherwise only where the steps cost less than the node as
 * written. */
static bool order_worth(const Plan *p, const Shape *sh)
{
	bool sums = p->n->agg == TRA_AGG_SUM;
	if (sums && p->nf >= 3)
		return true;
	IdxSet all = p->n->nidx == 64 ? ~(IdxSet)0 : ((IdxSet)1 << p->n->nidx) - 1;
	double as_written = order_size(p, all) * ((p->nf > 2 ? p->nf - 1 : 1) + sums);
	return order_shape_flops(p, sh) < as_written;
}

/* Emits the tree sh into the plan, each step after its inputs, left
 * first, and each factor summed alone just before the step it joins,
 * where that is cheaper. An explicit stack: the tree may be as deep as
 * the product is long. */
static void order_emit_plan(Plan *p, const Shape *sh, Arena *a)
{
	int nt = 2 * p->nf - 1, top = 0;
	int *tree = arena_alloc(a, (size_t)nt * sizeof *tree); /* the plan's tree, or -1 */
	int *stack = arena_alloc(a, (size_t)nt * sizeof *stack);
	for (int t = 0; t < nt; t++)
		tree[t] = t < p->nf ? t : -1;
	stack[top++] = sh->root;
	while (top) {
		int t = stack[top - 1], l = sh->kid[t][0], r = sh->kid[t][1];
		if (tree[l] < 0 || tree[r] < 0) {
			stack[top++] = tree[l] < 0 ? l : r;
			continue;
		}
		top--;
		int how;
		order_shape_step(p, sh, t, &how);
		int pl = how & 1 ? order_step(p, a, tree[l], -1, p->red[l]) : tree[l];
		int pr = how & 2 ? order_step(p, a, tree[r], -1, p->red[r]) : tree[r];
		tree[t] = order_step(p, a, pl, pr, sh->set[t]);
	}
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
	int r = p->kid[t][1];
	IdxSet summed = (p->set[p->kid[t][0]] | (r >= 0 ? p->set[r] : 0)) & ~p->set[t];
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

/* The product of step t's two inputs (or its one input, for a factor
 * summed alone), with their operands added to l. */
static int order_product(TraGraph *g, const Plan *p, int t, const int *pos, TraOperandList *l)
{
	int a = order_tree_operand(g, p, p->kid[t][0], pos, l);
	int ea = tra_expr_new(g, TRA_OP_OPERAND, a, 0, -1, -1, -1);
	if (p->kid[t][1] < 0)
		return ea;
	int b = order_tree_operand(g, p, p->kid[t][1], pos, l);
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

/* Appends node n, split into pairwise contractions if it is a candidate
 * and the split pays; returns the id of the node that now computes n. */
static int order_node(TraGraph *g, const TraNode *n, Arena *scratch)
{
	Plan p = {.n = n, .scale = 1};
	Shape sh;
	if (!order_candidate(g, n, &p, scratch))
		return order_append(g, n);
	OrderSizes *sz = arena_alloc(scratch, sizeof *sz);
	order_sizes_init(sz, n);
	p.sz = sz;
	if (!order_search(&p, &sh, scratch) || !order_worth(&p, &sh))
		return order_append(g, n);
	order_emit_plan(&p, &sh, scratch);
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
