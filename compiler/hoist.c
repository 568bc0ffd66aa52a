/* needs: a verified TraGraph. gives: no join or epilogue recomputes a costly value that depends on fewer indices than it runs over, where storing it pays, or has more than TRA_NODE_MAX_OPS nodes, where its tensors allow. */
/* hoist.c: loop-invariant sub-expressions become nodes of their own.
 *
 * A node's join runs once per point of its join space; a sub-expression
 * that depends on only some of those indices gives the same value at
 * every point that differs in the others. In
 *
 *   g[j] = sum[i](X[i, j] * (sigmoid(z[i]) - y[i]))
 *
 * sigmoid(z[i]) - y[i] depends on i alone but is evaluated for every
 * (j, i); and because the join is not a plain product, the back end
 * cannot hand the node to BLAS. Hoisting makes it a node over exactly the
 * indices it reads, g.h1[i] = sigmoid(z[i]) - y[i], computed once per i,
 * and the join becomes X[i, j] * g.h1[i]: a GEMV. Likewise
 * sum[k](relu(H[i, k]) * W[k, c]) becomes Z.h1[i, k] = relu(H[i, k]) and
 * a GEMM. The epilogue is treated the same way over the output indices
 * (acc reads all of them).
 *
 * What is hoisted. The walk goes top down and takes the largest
 * sub-expressions: one that qualifies is hoisted whole, otherwise its
 * operands are tried. A tree of * is taken as a flat list of factors,
 * and only whole factors are tried, never a partial product: (A * B) of
 * A[i, j] * B[j, k] * C[k, l] depends on fewer indices than the join,
 * but making it a node would store an outer product; contraction order
 * (order.c) decides how products split. Leaves (operands, constants,
 * index values) are never hoisted: reading a tensor costs what reading
 * the hoisted copy would. Outside the join of an aggregation (where the
 * factors are contraction order's), a sub-product written as one, that
 * computes more than a product of tensors (v[j] * (v[j] + s) in
 * A[i, j] = B[i, j] * (v[j] * (v[j] + s))), is tried whole first, by
 * rule (b): one node over its indices beats its factors one by one.
 *
 * The cost rule. A sub-expression e of f flops that depends on the index
 * set D, in a space of P points of which D spans p, costs f P as written
 * and f p + p + P hoisted (computing it once per point of D, writing it,
 * and reading it back at every point). It is hoisted when
 *
 *   (a) it is a factor of a sum of products whose every other factor is
 *       an operand or a constant, or is hoisted too, and which then has
 *       two or more operands: the join becomes a plain product that the
 *       back end runs as GEMM (or contraction order splits into GEMMs),
 *       which outruns any loop nest by far more than the copy costs; or
 *   (b) f (P - p) > P + p: the evaluations saved outweigh the copy.
 * Either way the new tensor must have at most TRA_MAX_RANK dimensions and
 * no more elements than the largest tensor the node already reads or
 * writes, or HOIST_SMALL (2^20) elements: so hoisting never makes a
 * program need more memory than its largest tensor, or a few MiB per
 * node. (Without the allowance, a 175-element tensor written as a
 * statement, once inlined into a reader of 25-element tensors, was
 * recomputed at every point of a six-index sum: 200 times the work.)
 *
 * Fusion follows the same rule (fuse.c): it inlines a map only where its
 * reader reads it at every one of its own indices, which a hoisted node,
 * read at a strict subset, never is; and never into a GEMM-shaped join.
 * So fusion never undoes a hoist, and whatever rule (b) rejected stays
 * fused.
 *
 * Rule (c), size. A join or epilogue of more than TRA_NODE_MAX_OPS
 * expression nodes (a statement written as 2,000 nested calls; fusion
 * never makes one) is split: bottom up, each sub-expression that has
 * reached HOIST_PIECE_OPS nodes, counting a piece already made as one,
 * becomes a node over the indices it reads (often all of the space),
 * under the memory bound below. The pieces are maps read once at every
 * one of their indices, so fusion may merge them again, but only up to
 * its own bound of TRA_NODE_MAX_OPS (fuse.c); kernel planning runs such
 * a chain as one row group, its pieces in cache-sized chunks (kplan.c).
 * The store and load a piece costs are under 1% of its arithmetic, while
 * compile time stays linear: LLVM took 17 s for 1,990 nested exp in one
 * loop body, quadratic in its size past about 500.
 *
 * The new node, named T.h1, T.h2, ... after the node T it came from, has
 * T's element type, the indices D in the order the sub-expression first
 * reads them (so relu(H[i, k]) is stored as H is), and T's operands that
 * the sub-expression read; it is placed just before T (after hoisting
 * what it contains in turn: its own space is smaller, so this ends).
 * Every node is rebuilt into a new array and ids are renumbered, as
 * order.c does. Linear in the size of the expressions, times the depth
 * of nesting of hoisted nodes (at most the number of indices).
 */
#include "tra.h"

#include <stdlib.h>

/* Elements a hoisted node may have whatever the tensors of the node it
 * comes from (the cost rule's memory bound): 2^20, 4 or 8 MiB. */
#define HOIST_SMALL 1048576.0

/* Rule (c): the fewest expression nodes a piece of an oversized join or
 * epilogue has. A quarter of the bound, so that a piece, whose operands
 * (at most three) are each under this, stays under the bound. */
#define HOIST_PIECE_OPS (TRA_NODE_MAX_OPS / 4)
_Static_assert(3 * HOIST_PIECE_OPS < TRA_NODE_MAX_OPS, "a piece is not split again");

/* Index sets and costs of expressions, by expression id. */
typedef struct Hoist {
	TraGraph *g;
	uint64_t *deps;  /* deps[e]: the indices expression e reads */
	double *flops;   /* flops[e]: what one evaluation of e costs */
	size_t cap;      /* entries of deps and flops */
} Hoist;

/* Where the walk is: an expression of node n over the space all. */
typedef struct HoistSite {
	TraNode *n;         /* the node being rebuilt (its operands may grow) */
	uint64_t all;       /* the space: all indices (join) or the outputs (epilogue) */
	double points;      /* points in the space */
	double limit;       /* the most elements a hoisted node may have */
	bool gemm;          /* rule (a) holds for the join's factors */
	bool reduces;       /* the join of an aggregation */
	const char *base;   /* the name of the node the walk started at */
	int *serial;        /* the last T.hN used for base */
} HoistSite;

static int hoist_count(uint64_t s)
{
	return __builtin_popcountll(s);
}

/* Fills deps and flops for the tree at e, bottom up, for node n. */
static void hoist_measure(Hoist *h, const TraNode *n, int e)
{
	if ((size_t)h->g->nex > h->cap) {
		h->cap = 2 * (size_t)h->g->nex;
		h->deps = xrealloc(h->deps, h->cap * sizeof *h->deps);
		h->flops = xrealloc(h->flops, h->cap * sizeof *h->flops);
	}
	const TraExpr *x = &h->g->ex[e];
	uint64_t d = 0;
	double f = tra_op_flops[x->op];
	for (int k = 0; k < tra_op_arity[x->op]; k++) {
		hoist_measure(h, n, x->kid[k]);
		d |= h->deps[x->kid[k]];
		f += h->flops[x->kid[k]];
	}
	if (tra_op_arity[x->op] == 0)
		d = tra_expr_indices(h->g, n, e);
	h->deps[e] = d;
	h->flops[e] = f;
}

/* Points of the index set d of node n. */
static double hoist_points(const TraNode *n, uint64_t d)
{
	double p = 1;
	for (int i = 0; i < n->nidx; i++)
		if (d >> i & 1)
			p *= (double)n->idx[i].size;
	return p;
}

/* A leaf, or a negated one: what the back end reads as it reads a leaf
 * (GEMM takes the sign into its alpha). */
static bool hoist_trivial(const TraGraph *g, int e)
{
	while (g->ex[e].op == TRA_OP_NEG)
		e = g->ex[e].kid[0];
	return tra_op_arity[g->ex[e].op] == 0;
}

/* Whether e may become a node at all (rule (c)'s pieces): more than a
 * leaf, a tensor of allowed rank and size over the indices it reads. */
static bool hoist_piece_fits(const Hoist *h, const HoistSite *s, int e)
{
	uint64_t d = h->deps[e];
	return !hoist_trivial(h->g, e) && (d & s->all) == d && hoist_count(d) <= TRA_MAX_RANK &&
	       hoist_points(s->n, d) <= s->limit;
}

/* Whether e may be hoisted (rules (a), (b)): a piece over a strict subset
 * of the space. */
static bool hoist_fits(const Hoist *h, const HoistSite *s, int e)
{
	return hoist_piece_fits(h, s, e) && h->deps[e] != s->all;
}

/* Rule (b) of the opening comment. */
static bool hoist_saves(const Hoist *h, const HoistSite *s, int e)
{
	double p = hoist_points(s->n, h->deps[e]);
	return h->flops[e] * (s->points - p) > s->points + p;
}

static int hoist_node(Hoist *h, TraNode *n, const char *base, int *serial);

/* Renumbers the moved tree e into the new node: operands of s->n become
 * operands of l, index d becomes pos[d]. */
static void hoist_move(Hoist *h, const HoistSite *s, int e, const int *pos, TraOperandList *l)
{
	TraExpr *x = &h->g->ex[e];
	if (x->op == TRA_OP_OPERAND) {
		const TraOperand *op = &s->n->ops[x->arg];
		int idx[TRA_MAX_RANK];
		for (int d = 0; d < op->rank; d++)
			idx[d] = pos[op->idx[d]];
		x->arg = tra_operand_add(h->g->arena, l, op->node, op->rank, idx);
	} else if (x->op == TRA_OP_INDEX)
		x->arg = pos[x->arg];
	for (int k = 0; k < tra_op_arity[h->g->ex[e].op]; k++)
		hoist_move(h, s, h->g->ex[e].kid[k], pos, l);
}

/* The indices of n that e reads, in the order they first occur in
 * operand subscripts (left to right), then those it reads only as
 * values (values): relu(H[i, k]) gives [i, k] and abs(W[k, c]) [k, c]
 * whatever n's own order, so a hoisted tensor is laid out as the one it
 * is computed from, and one sub-expression gives one node wherever it
 * is hoisted from. A mask's comparison comes first in the walk, but
 * select(k <= i, exp(S[i, k]), 0) is laid out [i, k] as S is. */
static void hoist_index_order(const TraGraph *g, const TraNode *n, int e, bool values, int *at, int *r)
{
	const TraExpr *x = &g->ex[e];
	int idx[TRA_MAX_RANK + 1], ni = 0;
	if (x->op == TRA_OP_OPERAND && !values)
		for (int d = 0; d < n->ops[x->arg].rank; d++)
			idx[ni++] = n->ops[x->arg].idx[d];
	else if (x->op == TRA_OP_INDEX && values)
		idx[ni++] = x->arg;
	for (int i = 0; i < ni; i++) {
		int j = 0;
		while (j < *r && at[j] != idx[i])
			j++;
		if (j == *r)
			at[(*r)++] = idx[i];
	}
	for (int k = 0; k < tra_op_arity[x->op]; k++)
		hoist_index_order(g, n, x->kid[k], values, at, r);
}

/* Makes e a node of its own; returns the leaf that reads it in its place. */
static int hoist_make(Hoist *h, HoistSite *s, int e)
{
	TraGraph *g = h->g;
	const TraNode *n = s->n;
	uint64_t d = h->deps[e];
	int rank = hoist_count(d), pos[64], at[TRA_MAX_RANK + 1];
	TraNode m = {.kind = TRA_NODE_EINSUM, .span = n->span, .type = n->type, .rank = rank,
	             .nidx = rank, .agg = TRA_AGG_NONE, .epilogue = -1, .join = e};
	m.name = arena_printf(g->arena, "%s.h%d", s->base, ++*s->serial);
	m.idx = arena_alloc(g->arena, (size_t)(rank + 1) * sizeof *m.idx);
	int r = 0;
	hoist_index_order(h->g, n, e, false, at, &r);
	hoist_index_order(h->g, n, e, true, at, &r);
	for (int i = 0; i < rank; i++) {
		pos[at[i]] = i;
		m.idx[i] = n->idx[at[i]];
	}
	TraOperandList l = {0};
	hoist_move(h, s, e, pos, &l);
	m.ops = l.ops;
	m.nops = l.n;
	int id = hoist_node(h, &m, s->base, s->serial);
	TraOperandList mine = {.ops = s->n->ops, .n = s->n->nops, .cap = s->n->nops};
	int k = tra_operand_add(g->arena, &mine, id, rank, at);
	s->n->ops = mine.ops;
	s->n->nops = mine.n;
	return tra_expr_new(g, TRA_OP_OPERAND, k, 0, -1, -1, -1);
}

static int hoist_expr(Hoist *h, HoistSite *s, int e);

/* A factor of a product: hoisted whole, or searched inside. */
static int hoist_factor(Hoist *h, HoistSite *s, int e, bool top)
{
	if (hoist_fits(h, s, e) && ((top && s->gemm) || hoist_saves(h, s, e)))
		return hoist_make(h, s, e);
	return hoist_expr(h, s, e);
}

/* The factors of the product at e, one by one; top: the join's own product. */
static int hoist_chain(Hoist *h, HoistSite *s, int e, bool top)
{
	for (int k = 0; k < 2; k++) {
		int kid = h->g->ex[e].kid[k], r;
		if (h->g->ex[kid].op != TRA_OP_MUL)
			r = hoist_factor(h, s, kid, top);
		else if (!s->reduces && tra_expr_product_operands(h->g, kid) < 0 && hoist_fits(h, s, kid) &&
		         hoist_saves(h, s, kid))
			r = hoist_make(h, s, kid); /* a costly sub-product, whole: see the opening comment */
		else
			r = hoist_chain(h, s, kid, top);
		h->g->ex[e].kid[k] = r;
	}
	return e;
}

/* The largest sub-expressions of e that qualify, hoisted; returns e's new root. */
static int hoist_expr(Hoist *h, HoistSite *s, int e)
{
	if (hoist_fits(h, s, e) && hoist_saves(h, s, e))
		return hoist_make(h, s, e);
	if (h->g->ex[e].op == TRA_OP_MUL)
		return hoist_chain(h, s, e, false);
	for (int k = 0; k < tra_op_arity[h->g->ex[e].op]; k++) {
		int r = hoist_expr(h, s, h->g->ex[e].kid[k]);
		h->g->ex[e].kid[k] = r;
	}
	return e;
}

/* Rule (c), bottom up over the tree at e: each sub-tree (not the root)
 * that has reached HOIST_PIECE_OPS nodes becomes a node; *ops gets the
 * nodes left in e's tree. Returns e's new root. Every sub-tree it looks
 * at was measured (hoist_measure): the leaves hoisting made are never
 * pieces. */
static int hoist_split(Hoist *h, HoistSite *s, int e, bool root, int *ops)
{
	int total = 1;
	for (int k = 0; k < tra_op_arity[h->g->ex[e].op]; k++) {
		int kops, r = hoist_split(h, s, h->g->ex[e].kid[k], false, &kops);
		h->g->ex[e].kid[k] = r;
		total += kops;
	}
	if (!root && total >= HOIST_PIECE_OPS && hoist_piece_fits(h, s, e)) {
		*ops = 1;
		return hoist_make(h, s, e);
	}
	*ops = total;
	return e;
}

/* The tree at e, split by rule (c) where it is over the bound. */
static int hoist_split_large(Hoist *h, HoistSite *s, int e)
{
	int ops;
	if (tra_expr_size(h->g, e) <= TRA_NODE_MAX_OPS)
		return e;
	return hoist_split(h, s, e, true, &ops);
}

/* Rule (a): n sums a product whose factors are operands, constants and
 * factors that may be hoisted, at least one of those, two or more in all. */
static bool hoist_gemm_factors(const Hoist *h, const HoistSite *s, int e, int *tensors, int *hoisted)
{
	const TraExpr *x = &h->g->ex[e];
	if (x->op == TRA_OP_MUL)
		return hoist_gemm_factors(h, s, x->kid[0], tensors, hoisted) &&
		       hoist_gemm_factors(h, s, x->kid[1], tensors, hoisted);
	if (x->op == TRA_OP_NEG)
		return hoist_gemm_factors(h, s, x->kid[0], tensors, hoisted);
	if (x->op == TRA_OP_CONST)
		return true;
	*tensors += 1;
	*hoisted += x->op != TRA_OP_OPERAND;
	return x->op == TRA_OP_OPERAND || hoist_fits(h, s, e);
}

static bool hoist_gemm(const Hoist *h, const HoistSite *s)
{
	int tensors = 0, hoisted = 0;
	const TraNode *n = s->n;
	return n->agg == TRA_AGG_SUM && h->g->ex[n->join].op == TRA_OP_MUL &&
	       hoist_gemm_factors(h, s, n->join, &tensors, &hoisted) && hoisted > 0 && tensors >= 2;
}

/* The most elements a node hoisted out of n may have: as many as the
 * largest tensor n reads or writes, or HOIST_SMALL. */
static double hoist_limit(const TraGraph *g, const TraNode *n)
{
	double m = HOIST_SMALL > (double)tra_node_elements(n) ? HOIST_SMALL : (double)tra_node_elements(n);
	for (int k = 0; k < n->nops; k++) {
		double e = (double)tra_node_elements(&g->nodes[n->ops[k].node]);
		m = e > m ? e : m;
	}
	return m;
}

/* Appends n to the graph, after the nodes hoisted out of it; returns its id. */
static int hoist_node(Hoist *h, TraNode *n, const char *base, int *serial)
{
	TraGraph *g = h->g;
	if (n->kind != TRA_NODE_EINSUM || tra_node_is_opaque(n) || n->nidx > 64)
		return tra_node_new(g, n);
	int before = g->nnodes;
	HoistSite s = {.n = n, .all = tra_index_mask(n->nidx), .points = tra_node_join_points(n),
	               .limit = hoist_limit(g, n), .base = base, .serial = serial};
	hoist_measure(h, n, n->join);
	s.gemm = hoist_gemm(h, &s);
	s.reduces = n->agg != TRA_AGG_NONE;
	n->join = g->ex[n->join].op == TRA_OP_MUL ? hoist_chain(h, &s, n->join, true)
	                                          : hoist_expr(h, &s, n->join);
	n->join = hoist_split_large(h, &s, n->join);
	if (n->epilogue >= 0) {
		HoistSite t = s;
		t.reduces = false;
		t.all = tra_index_mask(n->rank);
		t.points = (double)tra_node_elements(n);
		hoist_measure(h, n, n->epilogue);
		n->epilogue = hoist_expr(h, &t, n->epilogue);
		n->epilogue = hoist_split_large(h, &t, n->epilogue);
	}
	if (g->nnodes > before)
		tra_node_compact_operands(g, n);
	tra_node_cost(g, n);
	return tra_node_new(g, n);
}

void hoist_invariants(TraGraph *g)
{
	Hoist h = {.g = g};
	int nold = g->nnodes;
	TraNode *old = g->nodes;
	int *map = xcalloc((size_t)nold + 1, sizeof *map);
	g->nodes = NULL;
	g->nnodes = g->nodecap = 0;
	for (int id = 0; id < nold; id++) {
		TraNode n = old[id];
		int serial = 0;
		for (int k = 0; k < n.nops; k++)
			n.ops[k].node = map[n.ops[k].node];
		map[id] = hoist_node(&h, &n, n.name, &serial);
	}
	for (int i = 0; i < g->noutputs; i++)
		g->outputs[i] = map[g->outputs[i]];
	free(map);
	free(h.deps);
	free(h.flops);
}
