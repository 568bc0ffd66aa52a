/* needs: a verified TraGraph. gives: no two einsums compute the same tensor (up to index names and operand order of + and *). */
/* cse.c: common subexpressions, node by node.
 *
 * Two einsums that compute the same tensor are merged: the later one's
 * readers read the earlier one instead, and the later one is left dead
 * for dce.c. A softmax that writes max[c2](Y[i, c2]) twice, or the same
 * contraction split off by two statements, is computed once. Inputs are
 * never merged (each is a file), nor is an output into another node (its
 * name is the file it is written to); an output may absorb a later
 * non-output duplicate.
 *
 * Equal means equal up to
 *   - index renaming: a node is written in terms of positions, its output
 *     indices by their place in the result, its reduced indices numbered
 *     in the order the canonical walk below first meets them, so that
 *     sum[k](A[i, k] * B[k, j]) and sum[m](A[i, m] * B[m, j]) agree;
 *   - commutativity of + and *: the operands of each + and * are put in
 *     a canonical order, in place (so equal nodes also read the same):
 *     first the one that reads the first output index, then by a hash
 *     that ignores which reduced index is which (the order cannot depend
 *     on the numbering it decides). B[k, j] * A[i, k] becomes
 *     A[i, k] * B[k, j], the GEMM's row operand first; b[j] + acc becomes
 *     acc + b[j]. Not associativity: (a + b) + c and a + (b + c) round
 *     differently;
 *   - operand numbering: an operand is written as its producer (after
 *     merging) and its subscripts, never as its number.
 * The canonical form is a string of integers: element type, aggregation,
 * output sizes, the join's and the epilogue's trees in prefix order, and
 * the reduced indices' sizes in canonical order. Nodes are visited in
 * topological order, each looked up in a hash table of the forms seen so
 * far, so readers see their operands already merged: one pass finds every
 * duplicate, in time linear in the size of the graph. Equal hashes are
 * confirmed by comparing the forms, so a collision never merges anything.
 * Each node's operand list is also rebuilt (tra_node_compact_operands):
 * two operands that became equal by merging are one.
 *
 * Shared aggregates. A node whose aggregate (its join and aggregation,
 * without the epilogue) is what an earlier node computes in full reads
 * that node instead: it becomes a map, its epilogue over the earlier
 * tensor where it read acc. So sum[k](X[k, j] * v[k]) written as a
 * statement of its own and again at the top of another statement, as in
 * sigmoid(sum[k](X[k, i] * v[k]) + T[i]) with T = the same sum, is one
 * GEMV. (Sema splits nested reductions off before their statement, so
 * the statement's own aggregate is the one that comes later.)
 */
#include "tra.h"

#include <string.h>

/* The pass's state. */
typedef struct Cse {
	TraGraph *g;
	Arena *scratch;
	int *rep;          /* rep[id]: the node that computes node id's tensor */
	uint64_t *h;       /* h[e]: the hash of expression e, reduced indices anonymous */
	bool *row;         /* row[e]: expression e reads the node's first output index */
	int64_t *form;     /* the canonical forms of every node so far, back to back */
	int nform, formcap;
	int *start, *len;  /* node id's form is form[start[id] .. start[id] + len[id]) */
	uint64_t *nhash;   /* nhash[id]: the hash of node id's form */
	int *table;        /* open addressing over node ids; -1 empty */
	int tabsize;       /* a power of two, at least twice the nodes */
	int *canon;        /* canon[d]: canonical number of the node's index d, or -1 */
	int next;          /* the next canonical number of a reduced index */
} Cse;

static uint64_t cse_mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15u + (h << 6) + (h >> 2);
	return h * 0xff51afd7ed558ccdu;
}

static bool cse_commutes(TraOp op)
{
	return op == TRA_OP_ADD || op == TRA_OP_MUL;
}

/* Index d of n as the anonymous hash sees it: its place if an output
 * index, its size if a reduced one. */
static uint64_t cse_anon_index(const TraNode *n, int d)
{
	return d < n->rank ? (uint64_t)d : ((uint64_t)1 << 62) ^ (uint64_t)n->idx[d].size;
}

/* Whether a sorts after b among the operands of + and *: an operand that
 * reads the first output index goes first (the row operand of a GEMM, acc
 * in an epilogue, X[i] in X[i] * 2), then the smaller hash. Both depend
 * on the sub-trees alone, never on the order they were written in. */
static bool cse_after(const Cse *c, int a, int b)
{
	if (c->row[a] != c->row[b])
		return c->row[b];
	return c->h[b] < c->h[a];
}

/* Fills c->h and c->row for the tree at e, bottom up, and puts the
 * operands of each + and * in canonical order (cse_after), in place. */
static uint64_t cse_hash(Cse *c, const TraNode *n, int e)
{
	TraExpr *x = &c->g->ex[e];
	uint64_t h = cse_mix(0, (uint64_t)x->op);
	uint64_t bits;
	bool row = false;
	switch (x->op) {
	case TRA_OP_CONST:
		memcpy(&bits, &x->value, sizeof bits);
		h = cse_mix(h, bits);
		break;
	case TRA_OP_OPERAND:
		h = cse_mix(h, (uint64_t)n->ops[x->arg].node);
		for (int d = 0; d < n->ops[x->arg].rank; d++) {
			h = cse_mix(h, cse_anon_index(n, n->ops[x->arg].idx[d]));
			row |= n->rank > 0 && n->ops[x->arg].idx[d] == 0;
		}
		break;
	case TRA_OP_INDEX:
		h = cse_mix(h, cse_anon_index(n, x->arg));
		row = n->rank > 0 && x->arg == 0;
		break;
	case TRA_OP_ACC: row = n->rank > 0; break;
	default: break;
	}
	for (int i = 0; i < tra_op_arity[x->op]; i++) {
		cse_hash(c, n, x->kid[i]);
		row |= c->row[x->kid[i]];
	}
	if (cse_commutes(x->op) && cse_after(c, x->kid[0], x->kid[1])) {
		int t = x->kid[0];
		x->kid[0] = x->kid[1];
		x->kid[1] = t;
	}
	for (int i = 0; i < tra_op_arity[x->op]; i++)
		h = cse_mix(h, c->h[x->kid[i]]);
	c->row[e] = row;
	return c->h[e] = h;
}

static void cse_push(Cse *c, int64_t v)
{
	ARENA_RESERVE(c->scratch, c->form, c->nform, c->formcap);
	c->form[c->nform++] = v;
}

/* Index d of n in the canonical form; numbers a reduced one when first met. */
static int64_t cse_index(Cse *c, const TraNode *n, int d)
{
	if (c->canon[d] < 0)
		c->canon[d] = c->next++;
	return c->canon[d];
}

/* Appends the tree at e in prefix order, + and * operands by hash. */
static void cse_write(Cse *c, const TraNode *n, int e)
{
	const TraExpr *x = &c->g->ex[e];
	cse_push(c, x->op);
	if (x->op == TRA_OP_CONST) {
		int64_t bits;
		memcpy(&bits, &x->value, sizeof bits);
		cse_push(c, bits);
	} else if (x->op == TRA_OP_OPERAND) {
		const TraOperand *op = &n->ops[x->arg];
		cse_push(c, op->node);
		for (int d = 0; d < op->rank; d++)
			cse_push(c, cse_index(c, n, op->idx[d]));
	} else if (x->op == TRA_OP_INDEX)
		cse_push(c, cse_index(c, n, x->arg));
	for (int i = 0; i < tra_op_arity[x->op]; i++)
		cse_write(c, n, x->kid[i]);
}

/* Appends node id's canonical form to c->form and records where; with
 * epi false, the form of its aggregate alone (as if it had no epilogue). */
static void cse_form(Cse *c, int id, bool epi)
{
	const TraNode *n = &c->g->nodes[id];
	c->start[id] = c->nform;
	for (int d = 0; d < n->nidx; d++)
		c->canon[d] = d < n->rank ? d : -1;
	c->next = n->rank;
	cse_push(c, n->type);
	cse_push(c, n->agg);
	cse_push(c, n->rank);
	cse_push(c, n->nidx);
	for (int d = 0; d < n->rank; d++)
		cse_push(c, n->idx[d].size);
	cse_hash(c, n, n->join);
	cse_write(c, n, n->join);
	cse_push(c, -1);
	if (epi && n->epilogue >= 0) {
		cse_hash(c, n, n->epilogue);
		cse_write(c, n, n->epilogue);
	}
	int64_t *size = arena_alloc(c->scratch, (size_t)n->nidx * sizeof *size);
	for (int d = n->rank; d < n->nidx; d++)
		size[cse_index(c, n, d)] = n->idx[d].size;
	for (int d = n->rank; d < n->nidx; d++)
		cse_push(c, size[d]);
	c->len[id] = c->nform - c->start[id];
	uint64_t h = 0;
	for (int i = c->start[id]; i < c->nform; i++)
		h = cse_mix(h, (uint64_t)c->form[i]);
	c->nhash[id] = h;
}

static bool cse_same(const Cse *c, int a, int b)
{
	return c->nhash[a] == c->nhash[b] && c->len[a] == c->len[b] &&
	       memcmp(c->form + c->start[a], c->form + c->start[b], (size_t)c->len[a] * sizeof *c->form) == 0;
}

/* The earlier node with id's form, or id itself, after entering it if
 * enter. */
static int cse_lookup(Cse *c, int id, bool enter)
{
	unsigned mask = (unsigned)c->tabsize - 1, i = (unsigned)c->nhash[id] & mask;
	for (; c->table[i] >= 0; i = (i + 1) & mask)
		if (cse_same(c, c->table[i], id))
			return c->table[i];
	if (enter)
		c->table[i] = id;
	return id;
}

/* Turns every acc in the tree at e into a read of operand k, in place. */
/* Recursive; depth at most TRA_MAX_EXPR_DEPTH (tra_verify checks it). */
static void cse_acc_to_operand(TraGraph *g, int e, int k)
{
	TraExpr *x = &g->ex[e];
	if (x->op == TRA_OP_ACC) {
		x->op = TRA_OP_OPERAND;
		x->arg = k;
	}
	for (int i = 0; i < tra_op_arity[x->op]; i++)
		cse_acc_to_operand(g, x->kid[i], k);
}

/* Node n, whose aggregate node m computes in full (output index d of
 * both at the same place), becomes the map of its epilogue over m. */
static void cse_read_aggregate(TraGraph *g, TraNode *n, int m)
{
	TraOperand *ops = arena_alloc(g->arena, (size_t)(n->nops + 1) * sizeof *ops);
	memcpy(ops, n->ops, (size_t)n->nops * sizeof *ops);
	int *idx = arena_alloc(g->arena, (size_t)(n->rank + 1) * sizeof *idx);
	for (int d = 0; d < n->rank; d++)
		idx[d] = d;
	ops[n->nops] = (TraOperand){.node = m, .rank = n->rank, .idx = idx};
	n->ops = ops;
	cse_acc_to_operand(g, n->epilogue, n->nops++);
	n->join = n->epilogue;
	n->epilogue = -1;
	n->agg = TRA_AGG_NONE;
	n->nidx = n->rank;
	tra_node_compact_operands(g, n);
	tra_node_cost(g, n);
}

/* If an earlier node computes node id's aggregate, id reads it. */
static void cse_share_aggregate(Cse *c, int id)
{
	TraNode *n = &c->g->nodes[id];
	if (n->agg == TRA_AGG_NONE || n->epilogue < 0)
		return;
	cse_form(c, id, false);
	int m = cse_lookup(c, id, false);
	c->nform = c->start[id]; /* the aggregate's form is not kept */
	if (m != id)
		cse_read_aggregate(c->g, n, m);
}

static void cse_init(Cse *c, TraGraph *g, Arena *scratch)
{
	size_t n = (size_t)g->nnodes + 1;
	int maxidx = 1;
	for (int id = 0; id < g->nnodes; id++)
		maxidx = g->nodes[id].nidx > maxidx ? g->nodes[id].nidx : maxidx;
	*c = (Cse){.g = g, .scratch = scratch};
	c->rep = arena_alloc(scratch, n * sizeof *c->rep);
	c->start = arena_alloc(scratch, n * sizeof *c->start);
	c->len = arena_alloc(scratch, n * sizeof *c->len);
	c->nhash = arena_alloc(scratch, n * sizeof *c->nhash);
	c->canon = arena_alloc(scratch, (size_t)maxidx * sizeof *c->canon);
	c->h = arena_alloc(scratch, ((size_t)g->nex + 1) * sizeof *c->h); /* the pass adds no expressions */
	c->row = arena_alloc(scratch, ((size_t)g->nex + 1) * sizeof *c->row);
	for (c->tabsize = 16; (size_t)c->tabsize < 2 * n; c->tabsize *= 2)
		;
	c->table = arena_alloc(scratch, (size_t)c->tabsize * sizeof *c->table);
	memset(c->table, -1, (size_t)c->tabsize * sizeof *c->table);
}

void cse_merge(TraGraph *g)
{
	Arena scratch = {0};
	Cse c;
	cse_init(&c, g, &scratch);
	for (int id = 0; id < g->nnodes; id++) {
		TraNode *n = &g->nodes[id];
		c.rep[id] = id;
		if (n->kind != TRA_NODE_EINSUM)
			continue;
		for (int k = 0; k < n->nops; k++)
			n->ops[k].node = c.rep[n->ops[k].node];
		tra_node_compact_operands(g, n);
		tra_node_cost(g, n);
		cse_share_aggregate(&c, id);
		cse_form(&c, id, true);
		int r = cse_lookup(&c, id, true);
		if (r != id && !n->is_output)
			c.rep[id] = r;
	}
	arena_free(&scratch);
}
