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
 *
 * An aggregate alone that comes after a node with an epilogue over the
 * same aggregate (grad.c's n.acc, which a derivative of n's epilogue
 * reads) moves just before that node, so that the node reads it by the
 * rule above: relu(sum[k](X[i, k] * W[k, j])) and its gradient's
 * sum[k](X[i, k] * W[k, j]) are one GEMM, not two.
 *
 * Aggregates of maps. A node whose join is, up to index names, the whole
 * expression of a map that the graph stores anyway reads that map
 * instead of computing it again: in a softmax written with exp(A[i, j] -
 * m[i]) twice, once summed and once hoisted into a map E (hoist.c), the
 * sum becomes sum[j](E[i, j]). Joins are compared with every index
 * numbered where the canonical walk first meets it, so a map's output
 * index matches the aggregate's reduced one. The map may come after the
 * aggregate (hoisting puts a node just before the statement it came
 * from, after the statement's split-off reductions): it then moves to
 * just before the aggregate, which its operands already precede.
 */
#include "tra.h"

#include <string.h>

/* Canonical forms by node id, in the Cse's form array, and a hash table
 * over the ids whose forms it holds. */
typedef struct CseTable {
	int *start, *len;  /* node id's form is form[start[id] .. start[id] + len[id]) */
	uint64_t *hash;    /* hash[id]: the hash of node id's form */
	int *table;        /* open addressing over node ids; -1 empty */
} CseTable;

/* The pass's state. */
typedef struct Cse {
	TraGraph *g;
	Arena *scratch;
	int *rep;          /* rep[id]: the node that computes node id's tensor */
	uint64_t *h;       /* h[e]: the hash of expression e, reduced indices anonymous */
	bool *row;         /* row[e]: expression e reads the node's first output index */
	uint64_t *free;    /* free[e]: form_free_hash of expression e */
	TraForm form;      /* the canonical forms of every node so far, back to back;
	                      form.canon numbers the indices of the node written (its
	                      output ones 0 to rank - 1, the others as met) */
	CseTable nodes;    /* whole nodes' forms */
	int tabsize;       /* entries of a CseTable's table: a power of two, at least twice the nodes */
} Cse;

/* The joins of maps, for the aggregates that may read them. */
typedef struct CseJoins {
	CseTable forms;    /* the joins' forms; the table holds maps */
	int **canon;       /* canon[id][d]: the number the join form gave index d */
	int *table;        /* open addressing over maps; -1 empty */
	int *moveto;       /* moveto[m]: the aggregate map m must precede, or -1 */
} CseJoins;

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
	uint64_t h = form_mix(0, (uint64_t)x->op);
	uint64_t bits;
	bool row = false;
	switch (x->op) {
	case TRA_OP_CONST:
		memcpy(&bits, &x->value, sizeof bits);
		h = form_mix(h, bits);
		break;
	case TRA_OP_OPERAND:
		h = form_mix(h, (uint64_t)n->ops[x->arg].node);
		for (int d = 0; d < n->ops[x->arg].rank; d++) {
			h = form_mix(h, cse_anon_index(n, n->ops[x->arg].idx[d]));
			row |= n->rank > 0 && n->ops[x->arg].idx[d] == 0;
		}
		break;
	case TRA_OP_INDEX:
		h = form_mix(h, cse_anon_index(n, x->arg));
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
		h = form_mix(h, c->h[x->kid[i]]);
	c->row[e] = row;
	return c->h[e] = h;
}

/* Ends node id's form in t, begun at t->start[id]: its length and hash. */
static void cse_form_end(Cse *c, CseTable *t, int id)
{
	t->len[id] = c->form.n - t->start[id];
	t->hash[id] = form_hash(&c->form, t->start[id]);
}

/* Appends node id's canonical form to c->form and records where; with
 * epi false, the form of its aggregate alone (as if it had no epilogue). */
static void cse_form(Cse *c, int id, bool epi)
{
	const TraNode *n = &c->g->nodes[id];
	c->nodes.start[id] = c->form.n;
	for (int d = 0; d < n->nidx; d++)
		c->form.canon[d] = d < n->rank ? d : -1;
	c->form.next = n->rank;
	form_push(&c->form, n->type);
	form_push(&c->form, n->agg);
	form_push(&c->form, n->rank);
	form_push(&c->form, n->nidx);
	for (int d = 0; d < n->rank; d++)
		form_push(&c->form, n->idx[d].size);
	cse_hash(c, n, n->join);
	form_write(&c->form, c->g, n, n->join, NULL);
	form_push(&c->form, -1);
	if (epi && n->epilogue >= 0) {
		cse_hash(c, n, n->epilogue);
		form_write(&c->form, c->g, n, n->epilogue, NULL);
	}
	int64_t *size = arena_alloc(c->scratch, (size_t)n->nidx * sizeof *size);
	for (int d = n->rank; d < n->nidx; d++)
		size[form_index(&c->form, d)] = n->idx[d].size;
	for (int d = n->rank; d < n->nidx; d++)
		form_push(&c->form, size[d]);
	cse_form_end(c, &c->nodes, id);
}

static bool cse_same(const Cse *c, const CseTable *t, int a, int b)
{
	return t->hash[a] == t->hash[b] && t->len[a] == t->len[b] &&
	       memcmp(c->form.v + t->start[a], c->form.v + t->start[b], (size_t)t->len[a] * sizeof *c->form.v) == 0;
}

/* The node t holds with id's form, or -1 (after entering id if enter). */
static int cse_find(const Cse *c, CseTable *t, int id, bool enter)
{
	unsigned mask = (unsigned)c->tabsize - 1, i = (unsigned)t->hash[id] & mask;
	for (; t->table[i] >= 0; i = (i + 1) & mask)
		if (cse_same(c, t, t->table[i], id))
			return t->table[i];
	if (enter)
		t->table[i] = id;
	return -1;
}

/* Room for a form per node, and an empty table of c->tabsize entries. */
static void cse_table_init(Cse *c, CseTable *t)
{
	size_t n = (size_t)c->g->nnodes + 1;
	t->start = arena_alloc(c->scratch, n * sizeof *t->start);
	t->len = arena_alloc(c->scratch, n * sizeof *t->len);
	t->hash = arena_alloc(c->scratch, n * sizeof *t->hash);
	t->table = arena_alloc(c->scratch, (size_t)c->tabsize * sizeof *t->table);
	memset(t->table, -1, (size_t)c->tabsize * sizeof *t->table);
}

/* Appends to n's operands a read of node at idx; returns its number. */
static int cse_add_operand(TraGraph *g, TraNode *n, int node, int rank, int *idx)
{
	TraOperand *ops = arena_alloc(g->arena, (size_t)(n->nops + 1) * sizeof *ops);
	memcpy(ops, n->ops, (size_t)n->nops * sizeof *ops);
	ops[n->nops] = (TraOperand){.node = node, .rank = rank, .idx = idx};
	n->ops = ops;
	return n->nops++;
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
	int *idx = arena_alloc(g->arena, (size_t)(n->rank + 1) * sizeof *idx);
	for (int d = 0; d < n->rank; d++)
		idx[d] = d;
	cse_acc_to_operand(g, n->epilogue, cse_add_operand(g, n, m, n->rank, idx));
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
	int m = cse_find(c, &c->nodes, id, false);
	c->form.n = c->nodes.start[id]; /* the aggregate's form is not kept */
	if (m >= 0)
		cse_read_aggregate(c->g, n, m);
}

/* ---- aggregates of maps ----------------------------------------------------- */

/* Appends node id's join, every index numbered where first met, then the
 * sizes in that numbering; records where, its hash and the numbering. */
static void cse_join_form(Cse *c, CseJoins *j, int id)
{
	const TraNode *n = &c->g->nodes[id];
	j->forms.start[id] = c->form.n;
	for (int d = 0; d < n->nidx; d++)
		c->form.canon[d] = -1;
	c->form.next = 0;
	form_push(&c->form, n->type);
	form_free_hash(c->g, n, n->join, c->free);
	form_write(&c->form, c->g, n, n->join, c->free);
	int64_t *size = arena_alloc(c->scratch, (size_t)n->nidx * sizeof *size);
	j->canon[id] = arena_alloc(c->scratch, (size_t)n->nidx * sizeof **j->canon);
	for (int d = 0; d < n->nidx; d++) {
		j->canon[id][d] = c->form.canon[d];
		if (c->form.canon[d] >= 0)
			size[c->form.canon[d]] = n->idx[d].size;
	}
	for (int q = 0; q < c->form.next; q++)
		form_push(&c->form, size[q]);
	cse_form_end(c, &j->forms, id);
}

/* Flops per element from which an aggregate reads a map rather than
 * computing its expression again. Fusion might otherwise have inlined
 * the map into its one reader; read twice it is stored, a store and a
 * load per element, which the saved evaluation pays for from an exp or
 * a tanh on (not x * 2 + 1). */
#define CSE_MAP_MIN_FLOPS 3

/* A map whose join an aggregate might compute again: an einsum with no
 * aggregation or epilogue that costs CSE_MAP_MIN_FLOPS per element. */
static bool cse_shareable_map(const TraNode *n)
{
	return n->kind == TRA_NODE_EINSUM && !tra_node_is_opaque(n) && n->agg == TRA_AGG_NONE &&
	       n->epilogue < 0 && n->nops > 0 &&
	       n->flops >= CSE_MAP_MIN_FLOPS * tra_node_join_points(n);
}

/* Aggregate n's join becomes a read of map m, whose index d is the
 * index of n that the join forms numbered alike. */
static void cse_read_map(TraGraph *g, const CseJoins *j, int id, int m)
{
	TraNode *n = &g->nodes[id];
	const TraNode *mp = &g->nodes[m];
	int *idx = arena_alloc(g->arena, (size_t)(mp->rank + 1) * sizeof *idx);
	for (int d = 0; d < mp->rank; d++)
		for (int e = 0; e < n->nidx; e++)
			if (j->canon[id][e] == j->canon[m][d])
				idx[d] = e;
	n->join = tra_expr_new(g, TRA_OP_OPERAND, cse_add_operand(g, n, m, mp->rank, idx), 0, -1, -1, -1);
	tra_node_compact_operands(g, n);
	tra_node_cost(g, n);
}

/* Whether every operand of node m comes before node id. */
static bool cse_reads_before(const TraGraph *g, int m, int id)
{
	for (int k = 0; k < g->nodes[m].nops; k++)
		if (g->nodes[m].ops[k].node >= id)
			return false;
	return true;
}

/* Puts every node m with moveto[m] >= 0 (a map, or an aggregate alone)
 * just before that node, keeping the order otherwise, and renumbers
 * operands and outputs. */
static void cse_move_maps(TraGraph *g, const int *moveto, Arena *scratch)
{
	int n = g->nnodes;
	int *order = arena_alloc(scratch, (size_t)n * sizeof *order), k = 0;
	int *first = arena_alloc(scratch, (size_t)n * sizeof *first); /* maps moved before id, chained */
	int *next = arena_alloc(scratch, (size_t)n * sizeof *next);
	for (int id = 0; id < n; id++)
		first[id] = next[id] = -1;
	for (int m = n - 1; m >= 0; m--)
		if (moveto[m] >= 0) {
			next[m] = first[moveto[m]];
			first[moveto[m]] = m;
		}
	for (int id = 0; id < n; id++) {
		for (int m = first[id]; m >= 0; m = next[m])
			order[k++] = m;
		if (moveto[id] < 0)
			order[k++] = id;
	}
	int *map = arena_alloc(scratch, (size_t)n * sizeof *map);
	TraNode *nodes = arena_alloc(g->arena, (size_t)n * sizeof *nodes);
	for (int i = 0; i < n; i++) {
		map[order[i]] = i;
		nodes[i] = g->nodes[order[i]];
	}
	for (int i = 0; i < n; i++)
		for (int op = 0; op < nodes[i].nops; op++)
			nodes[i].ops[op].node = map[nodes[i].ops[op].node];
	for (int i = 0; i < g->noutputs; i++)
		g->outputs[i] = map[g->outputs[i]];
	memcpy(g->nodes, nodes, (size_t)n * sizeof *nodes);
}

/* Every aggregate whose join a stored map computes reads the map; a map
 * that comes later moves before its first such reader. */
static void cse_aggregates_read_maps(Cse *c)
{
	TraGraph *g = c->g;
	size_t n = (size_t)g->nnodes + 1;
	CseJoins j = {.canon = arena_alloc(c->scratch, n * sizeof *j.canon),
	              .moveto = arena_alloc(c->scratch, n * sizeof *j.moveto)};
	cse_table_init(c, &j.forms);
	bool *live = arena_alloc(c->scratch, n * sizeof *live);
	tra_live_nodes(g, live);
	for (int id = 0; id < g->nnodes; id++) {
		j.moveto[id] = -1;
		if (live[id] && g->nodes[id].nidx <= 64 && cse_shareable_map(&g->nodes[id])) {
			cse_join_form(c, &j, id);
			cse_find(c, &j.forms, id, true);
		}
	}
	bool moved = false;
	for (int id = 0; id < g->nnodes; id++) {
		const TraNode *a = &g->nodes[id];
		if (!live[id] || a->kind != TRA_NODE_EINSUM || a->agg == TRA_AGG_NONE || tra_node_is_opaque(a) ||
		    a->nidx > 64)
			continue;
		int save = c->form.n;
		cse_join_form(c, &j, id);
		int m = cse_find(c, &j.forms, id, false);
		c->form.n = save;
		if (m < 0 || (m > id && (j.moveto[m] >= 0 || !cse_reads_before(g, m, id))))
			continue;
		if (m > id) {
			j.moveto[m] = id;
			moved = true;
		}
		cse_read_map(g, &j, id, m);
	}
	if (moved)
		cse_move_maps(g, j.moveto, c->scratch);
}

/* Moves every aggregate alone (no epilogue) that an earlier node with
 * an epilogue also computes to just before that node (see the top). */
static void cse_move_aggregates(Cse *c)
{
	TraGraph *g = c->g;
	CseTable t;
	cse_table_init(c, &t);
	int *moveto = arena_alloc(c->scratch, ((size_t)g->nnodes + 1) * sizeof *moveto);
	bool *taken = arena_alloc(c->scratch, ((size_t)g->nnodes + 1) * sizeof *taken);
	bool moved = false;
	for (int id = 0; id < g->nnodes; id++) {
		const TraNode *n = &g->nodes[id];
		moveto[id] = -1;
		if (n->kind != TRA_NODE_EINSUM || tra_node_is_opaque(n) || n->agg == TRA_AGG_NONE)
			continue;
		cse_form(c, id, false);
		t.start[id] = c->nodes.start[id];
		t.len[id] = c->nodes.len[id];
		t.hash[id] = c->nodes.hash[id];
		if (n->epilogue >= 0) {
			cse_find(c, &t, id, true);
			continue;
		}
		int m = cse_find(c, &t, id, false);
		if (m >= 0 && !taken[m] && cse_reads_before(g, id, m)) {
			moveto[id] = m; /* one per node: the main loop merges later ones into it */
			taken[m] = moved = true;
		}
	}
	c->form.n = 0; /* the forms of the old numbering */
	if (moved)
		cse_move_maps(g, moveto, c->scratch);
}

static void cse_init(Cse *c, TraGraph *g, Arena *scratch)
{
	size_t n = (size_t)g->nnodes + 1;
	int maxidx = 1;
	for (int id = 0; id < g->nnodes; id++)
		maxidx = g->nodes[id].nidx > maxidx ? g->nodes[id].nidx : maxidx;
	*c = (Cse){.g = g, .scratch = scratch};
	c->rep = arena_alloc(scratch, n * sizeof *c->rep);
	c->form = (TraForm){.arena = scratch, .canon = arena_alloc(scratch, (size_t)maxidx * sizeof *c->form.canon)};
	c->h = arena_alloc(scratch, ((size_t)g->nex + 1) * sizeof *c->h); /* cse_read_map adds expressions, never hashed */
	c->row = arena_alloc(scratch, ((size_t)g->nex + 1) * sizeof *c->row);
	c->free = arena_alloc(scratch, ((size_t)g->nex + 1) * sizeof *c->free);
	for (c->tabsize = 16; (size_t)c->tabsize < 2 * n; c->tabsize *= 2)
		;
	cse_table_init(c, &c->nodes);
}

void cse_merge(TraGraph *g)
{
	Arena scratch = {0};
	Cse c;
	cse_init(&c, g, &scratch);
	cse_move_aggregates(&c);
	for (int id = 0; id < g->nnodes; id++) {
		TraNode *n = &g->nodes[id];
		c.rep[id] = id;
		if (n->kind != TRA_NODE_EINSUM)
			continue;
		for (int k = 0; k < n->nops; k++)
			n->ops[k].node = c.rep[n->ops[k].node];
		if (tra_node_is_opaque(n))
			continue; /* its read is affine: forms do not describe it */
		tra_node_compact_operands(g, n);
		tra_node_cost(g, n);
		cse_share_aggregate(&c, id);
		cse_form(&c, id, true);
		int r = cse_find(&c, &c.nodes, id, true);
		if (r >= 0 && !tra_node_kept(n))
			c.rep[id] = r;
	}
	cse_aggregates_read_maps(&c);
	arena_free(&scratch);
}
