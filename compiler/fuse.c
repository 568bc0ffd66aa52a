/* needs: a verified TraGraph. gives: single-use maps inlined into their reader, and single-use aggregations taken in by their map reader as its aggregation (dead: dce.c drops them). */
/* fuse.c: element-wise fusion.
 *
 * Sema gives every statement a node of its own, so a chain of maps
 *
 *   A[i] = X[i] * 2;  B[i] = exp(A[i]);  C[i] = B[i] + 1
 *
 * would store A and B in full only to read each element back once. This
 * pass inlines such a producer's expression into its reader, giving one
 * node C[i] = exp(X[i] * 2) + 1 computed in one pass over memory.
 *
 * When. A producer P is inlined into a consumer C when
 *   - P is a map (an einsum with aggregation NONE) and not an output;
 *   - exactly one live node reads P, that node is C, through exactly one
 *     operand, which occurs in C's join or in its epilogue, not both:
 *     once, or several times (T[i, j] * T[i, j]), where each reading gets
 *     a copy of P's expression and share.c, the last pass, computes the
 *     copies once per point (one value in a register beats a stored
 *     tensor read back twice); in both expressions the copies would be
 *     computed once per join point and again per output element;
 *   - that operand's subscripts cover every index of the expression
 *     reading it (the whole join space for the join, the output indices
 *     for the epilogue). Then each point where C evaluates it reads a
 *     different element of P, and no element of P is computed twice:
 *     P[i] read in a join over (i, j) would be recomputed for every j;
 *   - it is not read in the join of a plain contraction (a SUM whose join
 *     is exactly OPERAND * OPERAND): the back end turns those into GEMM
 *     calls, which beat any fused loop nest even with the map stored. Its
 *     epilogue (bias, activation) is fair game. Nor is a product inlined
 *     into a sum's product where that makes more than two factors: the
 *     contraction order pass chose those steps, and this would undo it.
 *
 * How. C's operand reads P at subscripts at[0..rank): P's index p is C's
 * index at[p]. A copy of P's join replaces the OPERAND leaf in C, with
 * P's INDEX p becoming C's INDEX at[p], and P's operand k, which reads
 * node Q at P's indices q[d], becoming an operand of C reading Q at C's
 * indices at[q[d]] (one already there is reused). C's other operands keep
 * their order; the one that read P goes. Both trees are edited in place
 * (P's is taken over, since P dies), so a chain of n maps inlines in time
 * linear in its expressions per step and with no memory per step; this
 * relies on no tree being shared between nodes, which holds for every
 * pass.
 *
 * Cost rule: a fused node computes at most FUSE_MAX_OPS expression
 * nodes (join and epilogue) per point. Past that the node is bound by
 * arithmetic, and the one store and load per element that inlining one
 * more producer would save cost well under 1% of it; while C compilers
 * take time and stack that grow with an expression's size and depth (a
 * chain of 20,000 maps made one 40,000-deep expression that gcc could
 * not compile). So a chain of maps fuses into nodes of about
 * FUSE_MAX_OPS operations each, and, since depth is at most size, no
 * fused tree is deeper than FUSE_MAX_OPS: below TRA_MAX_EXPR_DEPTH, the
 * bound tra_verify checks and every recursive walk over expressions
 * (here, tra.c, interp.c, codegen) relies on.
 *
 * Order. Inlining one producer may make another inlinable (C reads what
 * P read), so candidates wait in a queue: every node once, in id order,
 * and again each producer of P's operands when P is inlined (its reader
 * is now C, perhaps its only one). Reader counts are kept up to date at
 * each inlining rather than recounted, so the pass takes time linear in
 * the graph plus, per inlining, the two trees it edits (at most
 * FUSE_MAX_OPS nodes): a chain of 20,000 maps fuses in a fraction of a
 * second. Counts include live nodes only. The inlined producers are left
 * dead (computing 0 from nothing); dce.c, the next pass, drops them.
 *
 * Hoisting (hoist.c) and fusion never undo each other: hoisting makes
 * a node of an expression that depends on a strict subset of its
 * reader's indices and reads it there, and the subscripts of such a
 * read never cover the reader's indices, so this pass never inlines a
 * hoisted node back (nor into a GEMM-shaped join, whatever it reads).
 *
 * Absorbing. A map is the other way round when what it reads is an
 * aggregation: in
 *
 *   Z[i, c] = sum[k](X[i, k] * W[k, c]);  A[i, c] = relu(Z[i, c] + b[c])
 *
 * Z cannot be inlined into A (a sum is no map), yet A only transforms
 * each element of Z once it is made. So A takes Z in: A becomes Z's
 * aggregation, with its own expression as the epilogue (Z's epilogue,
 * or acc, where it read Z): A[i, c] = sum[k](X[i, k] * W[k, c]) then
 * relu(acc + b[c]), one GEMM whose epilogue the back end applies to
 * each block (as it does for the same statement written as one), and Z
 * is neither stored nor read back. The aggregation P qualifies when it
 * is not an output, not a view, scatter or argmax, its one live reader
 * is a map C that reads it through one operand at exactly C's indices in
 * order (so each element of C reads its own element of P: a P[i] read
 * in a map over (i, j) would be recomputed for every j, and a transposed
 * read would change the order the aggregation writes), both have the
 * same type, and C stays within FUSE_MAX_OPS. It runs after all
 * inlining, in id order: a map that has taken in an aggregation is no
 * longer a map, so it would not be inlined into its own reader, and
 * inlining first lets the whole chain of maps above a sum become its
 * epilogue.
 *
 * The walks over expressions here recurse; their depth is bounded by
 * TRA_MAX_EXPR_DEPTH (parser limit for sema's trees, the cost rule for
 * fused ones).
 */
#include "tra.h"

#include <string.h>

/* Most expression nodes a fused node's join and epilogue may have. */
#define FUSE_MAX_OPS TRA_NODE_MAX_OPS

typedef uint64_t IdxSet; /* indices of a node: bit d for index d */
_Static_assert(TRA_MAX_STMT_INDICES <= 64, "IdxSet holds a node's indices");
_Static_assert(FUSE_MAX_OPS < TRA_MAX_EXPR_DEPTH, "fused trees stay below the depth bound");

/* Who reads whom, among live nodes, and the queue of candidates. */
typedef struct FuseUses {
	bool *live;    /* live[id]: an output, or read by a live node */
	int *nreaders; /* nreaders[id]: live einsums that read id */
	int *reader;   /* reader[id]: the last of them */
	int *size;     /* size[id]: expression nodes of its join and epilogue */
	int *queue;    /* producers to look at, a ring of nnodes entries */
	bool *queued;  /* queued[id]: id is in the queue */
	int head, count;
} FuseUses;

/* An inlining of producer p into consumer c's operand k. */
typedef struct Inline {
	const TraNode *p;
	int k;          /* c's operand that read p */
	const int *at;  /* at[d]: c's index for p's index d */
	const int *cmap;/* cmap[j]: the new number of c's operand j */
	const int *pmap;/* pmap[j]: the number in c of p's operand j */
} Inline;

/* Whether operand k of n is the first to read its producer. */
static bool fuse_first_read(const TraNode *n, int k)
{
	for (int j = 0; j < k; j++)
		if (n->ops[j].node == n->ops[k].node)
			return false;
	return true;
}

static void fuse_count(const TraGraph *g, FuseUses *u)
{
	tra_live_nodes(g, u->live);
	memset(u->nreaders, 0, (size_t)g->nnodes * sizeof *u->nreaders);
	for (int id = 0; id < g->nnodes; id++) {
		const TraNode *n = &g->nodes[id];
		if (!u->live[id])
			continue;
		for (int k = 0; k < n->nops; k++)
			if (fuse_first_read(n, k)) {
				u->nreaders[n->ops[k].node]++;
				u->reader[n->ops[k].node] = id;
			}
	}
}

/* Occurrences of operand k in expression e. */
static int fuse_reads(const TraGraph *g, int e, int k)
{
	if (e < 0)
		return 0;
	const TraExpr *x = &g->ex[e];
	int n = x->op == TRA_OP_OPERAND && x->arg == k;
	for (int i = 0; i < tra_op_arity[x->op]; i++)
		n += fuse_reads(g, x->kid[i], k);
	return n;
}

/* Whether op's subscripts name every one of the indices 0 .. limit-1. */
static bool fuse_covers(const TraOperand *op, int limit)
{
	IdxSet seen = 0;
	for (int d = 0; d < op->rank; d++)
		seen |= (IdxSet)1 << op->idx[d];
	return seen == (limit >= 64 ? ~(IdxSet)0 : ((IdxSet)1 << limit) - 1);
}

/* A sum of exactly two operands multiplied: a GEMM for the back end. */
static bool fuse_is_gemm(const TraGraph *g, const TraNode *c)
{
	const TraExpr *x = &g->ex[c->join];
	return c->agg == TRA_AGG_SUM && x->op == TRA_OP_MUL &&
	       g->ex[x->kid[0]].op == TRA_OP_OPERAND && g->ex[x->kid[1]].op == TRA_OP_OPERAND;
}

/* Whether inlining producer p into the join of sum c would make c a sum
 * of a product of more than two operands: the contraction order pass
 * has already split such products the cheapest way, and this would
 * undo it. */
static bool fuse_lengthens_product(const TraGraph *g, const TraNode *c, const TraNode *p)
{
	if (c->agg != TRA_AGG_SUM)
		return false;
	int nc = tra_expr_product_operands(g, c->join), np = tra_expr_product_operands(g, p->join);
	return nc >= 0 && np >= 0 && nc - 1 + np > 2;
}

/* Whether node pid may be inlined into its readers at all. */
static bool fuse_producer(const TraGraph *g, const FuseUses *u, int pid)
{
	const TraNode *p = &g->nodes[pid];
	return p->kind == TRA_NODE_EINSUM && !tra_node_is_opaque(p) && p->agg == TRA_AGG_NONE &&
	       p->epilogue < 0 &&
	       !tra_node_kept(p) && u->live[pid] && u->nreaders[pid] == 1;
}

/* The one operand of c that reads node pid; -1 if none does or several do. */
static int fuse_only_operand(const TraNode *c, int pid)
{
	int k = -1;
	for (int j = 0; j < c->nops; j++)
		if (c->ops[j].node == pid) {
			if (k >= 0)
				return -1;
			k = j;
		}
	return k;
}

/* The operand through which consumer cid reads producer pid, if pid may
 * be inlined there; -1 if not. */
static int fuse_site(const TraGraph *g, int pid, int cid)
{
	const TraNode *c = &g->nodes[cid];
	if (tra_node_is_opaque(c))
		return -1; /* its read is affine */
	int k = fuse_only_operand(c, pid);
	if (k < 0)
		return -1;
	int in_join = fuse_reads(g, c->join, k), in_epi = fuse_reads(g, c->epilogue, k);
	if ((in_join > 0) == (in_epi > 0)) /* read in one of the two, once or more */
		return -1;
	if (!fuse_covers(&c->ops[k], in_join ? c->nidx : c->rank))
		return -1;
	if (in_join && (fuse_is_gemm(g, c) || fuse_lengthens_product(g, c, &g->nodes[pid])))
		return -1;
	return k;
}

/* ---- inlining ---------------------------------------------------------------- */

/* Moves the producer's expression e into the consumer's index space, in
 * place: the producer dies with this inlining (its one reader was the
 * consumer), so its tree is taken over rather than copied. */
static void fuse_move_producer(TraGraph *g, int e, const Inline *in)
{
	TraExpr *x = &g->ex[e];
	if (x->op == TRA_OP_OPERAND)
		x->arg = in->pmap[x->arg];
	else if (x->op == TRA_OP_INDEX)
		x->arg = in->at[x->arg];
	for (int k = 0; k < tra_op_arity[x->op]; k++)
		fuse_move_producer(g, x->kid[k], in);
}

/* Renumbers the consumer's operands in expression e, in place, and puts
 * the producer's root where operand k was read: the tree itself at the
 * first reading (*placed false), a copy at each further one (no tree is
 * shared; share.c later computes the copies once). */
static void fuse_edit_consumer(TraGraph *g, int e, const Inline *in, int root, bool *placed)
{
	if (g->ex[e].op == TRA_OP_OPERAND && g->ex[e].arg == in->k) {
		int from = *placed ? tra_expr_copy(g, root) : root; /* may move g->ex */
		*placed = true;
		g->ex[e] = g->ex[from];
		return;
	}
	if (g->ex[e].op == TRA_OP_OPERAND)
		g->ex[e].arg = in->cmap[g->ex[e].arg];
	for (int k = 0; k < tra_op_arity[g->ex[e].op]; k++)
		fuse_edit_consumer(g, g->ex[e].kid[k], in, root, placed);
}

/* The producer pid, inlined, is dead and its tree is the consumer's now:
 * it is left computing 0 from nothing, so that the graph still verifies
 * until dce_remove drops it. */
static void fuse_empty(TraGraph *g, int pid)
{
	TraNode *p = &g->nodes[pid];
	p->join = tra_expr_new(g, TRA_OP_CONST, 0, 0, -1, -1, -1);
	p->nops = 0;
	tra_node_cost(g, p);
}

/* Inlines node pid into node cid, which reads it through operand k. Both
 * trees are edited in place, never copied, so inlining a chain of n maps
 * allocates nothing per step: each node's expressions are its own (sema
 * and the other passes never share a subtree between two nodes). */
static void fuse_inline(TraGraph *g, int pid, int cid, int k, Arena *scratch)
{
	TraNode *c = &g->nodes[cid];
	const TraNode *p = &g->nodes[pid];
	int *cmap = arena_alloc(scratch, (size_t)(c->nops + 1) * sizeof *cmap);
	int *pmap = arena_alloc(scratch, (size_t)(p->nops + 1) * sizeof *pmap);
	Inline in = {.p = p, .k = k, .at = c->ops[k].idx, .cmap = cmap, .pmap = pmap};
	TraOperandList l = {0};
	for (int j = 0; j < c->nops; j++)
		if (j != k)
			cmap[j] = tra_operand_add(g->arena, &l, c->ops[j].node, c->ops[j].rank, c->ops[j].idx);
	for (int j = 0; j < p->nops; j++) {
		int idx[TRA_MAX_RANK];
		for (int d = 0; d < p->ops[j].rank; d++)
			idx[d] = in.at[p->ops[j].idx[d]];
		pmap[j] = tra_operand_add(g->arena, &l, p->ops[j].node, p->ops[j].rank, idx);
	}
	fuse_move_producer(g, p->join, &in);
	bool placed = false;
	fuse_edit_consumer(g, c->join, &in, p->join, &placed);
	if (c->epilogue >= 0)
		fuse_edit_consumer(g, c->epilogue, &in, p->join, &placed);
	c->ops = l.ops;
	c->nops = l.n;
	tra_node_cost(g, c);
	fuse_empty(g, pid);
}

static void fuse_push(FuseUses *u, int nnodes, int id)
{
	if (u->queued[id])
		return;
	u->queued[id] = true;
	u->queue[(u->head + u->count++) % nnodes] = id;
}

static int fuse_pop(FuseUses *u, int nnodes)
{
	int id = u->queue[u->head];
	u->head = (u->head + 1) % nnodes;
	u->count--;
	u->queued[id] = false;
	return id;
}

/* Whether node c reads node q through an operand other than k. */
static bool fuse_reads_node(const TraNode *c, int k, int q)
{
	for (int j = 0; j < c->nops; j++)
		if (j != k && c->ops[j].node == q)
			return true;
	return false;
}

/* The counts after p (dying) is inlined into c, or absorbed by it: each
 * node p read is now read by c instead, so it has one reader fewer if c
 * read it already, and c is its reader (its only one, should the count
 * be 1: readers leave only by being inlined); after an inlining
 * (requeue) it is a candidate again. */
static void fuse_hand_over(const TraGraph *g, FuseUses *u, int pid, int cid, int k, bool requeue)
{
	const TraNode *p = &g->nodes[pid], *c = &g->nodes[cid];
	for (int j = 0; j < p->nops; j++) {
		int q = p->ops[j].node;
		if (!fuse_first_read(p, j))
			continue;
		if (fuse_reads_node(c, k, q))
			u->nreaders[q]--;
		u->reader[q] = cid;
		if (requeue)
			fuse_push(u, g->nnodes, q);
	}
	u->live[pid] = false;
	u->nreaders[pid] = 0;
}

/* Inlines pid into its reader if it qualifies and the result (a copy
 * per reading) stays within FUSE_MAX_OPS. */
static void fuse_try(TraGraph *g, FuseUses *u, int pid, Arena *scratch)
{
	if (!fuse_producer(g, u, pid))
		return;
	int cid = u->reader[pid];
	int k = fuse_site(g, pid, cid);
	if (k < 0)
		return;
	const TraNode *c = &g->nodes[cid];
	int reads = fuse_reads(g, c->join, k) + fuse_reads(g, c->epilogue, k);
	if (u->size[cid] + reads * (u->size[pid] - 1) > FUSE_MAX_OPS)
		return;
	fuse_hand_over(g, u, pid, cid, k, true);
	u->size[cid] += reads * (u->size[pid] - 1);
	fuse_inline(g, pid, cid, k, scratch);
}

/* ---- absorbing an aggregation ------------------------------------------------- */

/* The operand through which the one reader of aggregation pid, a map,
 * reads it at exactly the map's own indices in order, if the map may
 * take it in (see the opening comment, Absorbing); -1 if not. */
static int fuse_absorb_site(const TraGraph *g, const FuseUses *u, int pid)
{
	const TraNode *p = &g->nodes[pid];
	if (p->kind != TRA_NODE_EINSUM || tra_node_is_opaque(p) || p->agg == TRA_AGG_NONE || tra_node_kept(p) ||
	    !u->live[pid] || u->nreaders[pid] != 1 || tra_node_join_type(p) != p->type)
		return -1;
	int cid = u->reader[pid];
	const TraNode *c = &g->nodes[cid];
	if (c->kind != TRA_NODE_EINSUM || tra_node_is_opaque(c) || c->agg != TRA_AGG_NONE || c->epilogue >= 0 ||
	    c->type != p->type || c->rank != p->rank)
		return -1;
	int k = fuse_only_operand(c, pid);
	if (k < 0 || c->ops[k].rank != c->rank || c->ops[k].aff)
		return -1;
	for (int d = 0; d < c->rank; d++)
		if (c->ops[k].idx[d] != d)
			return -1;
	int reads = fuse_reads(g, c->join, k), epi = p->epilogue >= 0 ? tra_expr_size(g, p->epilogue) : 1;
	if (u->size[cid] + reads * (epi - 1) + tra_expr_size(g, p->join) > FUSE_MAX_OPS)
		return -1;
	return k;
}

/* Map cid takes in aggregation pid, which it reads through operand k:
 * it becomes pid's aggregation, with its own expression, pid's epilogue
 * (or acc) where it read pid, as its epilogue. pid's operands come first
 * and keep their numbers; the map's others follow, their subscripts
 * unchanged (its index d is pid's output index d). pid is left dead. */
static void fuse_absorb(TraGraph *g, FuseUses *u, int pid, int cid, int k, Arena *scratch)
{
	TraNode *c = &g->nodes[cid], *p = &g->nodes[pid];
	int reads = fuse_reads(g, c->join, k);
	int epi = p->epilogue >= 0 ? tra_expr_size(g, p->epilogue) : 1;
	u->size[cid] += reads * (epi - 1) + tra_expr_size(g, p->join);
	int *cmap = arena_alloc(scratch, (size_t)(c->nops + 1) * sizeof *cmap);
	int *pmap = arena_alloc(scratch, (size_t)(p->nops + 1) * sizeof *pmap);
	int *at = arena_alloc(scratch, (size_t)(p->nidx + 1) * sizeof *at);
	for (int d = 0; d < p->nidx; d++)
		at[d] = d;
	Inline in = {.p = p, .k = k, .at = at, .cmap = cmap, .pmap = pmap};
	TraOperandList l = {0};
	for (int j = 0; j < p->nops; j++)
		pmap[j] = tra_operand_add(g->arena, &l, p->ops[j].node, p->ops[j].rank, p->ops[j].idx);
	for (int j = 0; j < c->nops; j++)
		if (j != k)
			cmap[j] = tra_operand_add(g->arena, &l, c->ops[j].node, c->ops[j].rank, c->ops[j].idx);
	fuse_move_producer(g, p->join, &in);
	int root = p->epilogue;
	if (root >= 0)
		fuse_move_producer(g, root, &in);
	else
		root = tra_expr_new(g, TRA_OP_ACC, 0, 0, -1, -1, -1); /* may move g->ex, not the nodes */
	bool placed = false;
	fuse_edit_consumer(g, c->join, &in, root, &placed);
	c->epilogue = c->join;
	c->join = p->join;
	c->agg = p->agg;
	c->nidx = p->nidx;
	c->idx = arena_alloc(g->arena, (size_t)p->nidx * sizeof *c->idx);
	memcpy(c->idx, p->idx, (size_t)p->nidx * sizeof *c->idx);
	c->ops = l.ops;
	c->nops = l.n;
	tra_node_cost(g, c);
	p->agg = TRA_AGG_NONE;
	p->nidx = p->rank;
	p->epilogue = -1;
	fuse_empty(g, pid);
}

void fuse_elementwise(TraGraph *g)
{
	Arena scratch = {0};
	size_t n = (size_t)g->nnodes + 1;
	FuseUses u = {.live = arena_alloc(&scratch, n * sizeof *u.live),
	              .nreaders = arena_alloc(&scratch, n * sizeof *u.nreaders),
	              .reader = arena_alloc(&scratch, n * sizeof *u.reader),
	              .size = arena_alloc(&scratch, n * sizeof *u.size),
	              .queue = arena_alloc(&scratch, n * sizeof *u.queue),
	              .queued = arena_alloc(&scratch, n * sizeof *u.queued)};
	fuse_count(g, &u);
	for (int id = 0; id < g->nnodes; id++) {
		u.size[id] = tra_expr_size(g, g->nodes[id].join) + tra_expr_size(g, g->nodes[id].epilogue);
		fuse_push(&u, g->nnodes, id);
	}
	while (u.count > 0)
		fuse_try(g, &u, fuse_pop(&u, g->nnodes), &scratch);
	/* after all inlining, which a map that had taken in an aggregation
	 * would no longer get; in id order, so that a chain of them (a map
	 * of a map of a sum, where the first could not be inlined) folds
	 * from its start */
	for (int pid = 0; pid < g->nnodes; pid++) {
		int k = fuse_absorb_site(g, &u, pid);
		if (k < 0)
			continue;
		int cid = u.reader[pid];
		fuse_hand_over(g, &u, pid, cid, k, false);
		fuse_absorb(g, &u, pid, cid, k, &scratch);
	}
	arena_free(&scratch);
}
