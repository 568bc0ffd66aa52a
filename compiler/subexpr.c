/* needs: a verified TraGraph, after hoisting and cse. gives: a costly sub-expression that several nodes compute over the same tensor's points is a node that they read. */
/* subexpr.c: common sub-expressions across nodes.
 *
 * cse.c merges nodes that compute the same tensor, and share.c (the last
 * pass) computes a sub-expression repeated within one expression once.
 * Between the two: a softmax written once and read by two statements,
 * then inlined into both (or written out twice), leaves
 * exp(X[i] - m) / s inside two different nodes, each computing it at
 * every i. This pass makes such a sub-expression a node of its own,
 * M[i] = exp(X[i] - m) / s, and both nodes read it: the program as if
 * the softmax had been written as a statement.
 *
 * Equal means equal up to index names and the order of the operands of
 * + and * (as in cse.c): a sub-expression is written as form.c's
 * canonical form, its indices numbered where the walk first meets them,
 * the operands of + and * in the order of their order-free hashes; the
 * indices' sizes follow.
 * Leaves, and sub-expressions that read acc (one node's aggregate), are
 * never taken.
 *
 * The cost rule. A class of k occurrences, each of f flops, evaluated
 * at P_o points (its node's join space, or its output for an epilogue),
 * over an index set of p points, costs f * sum P_o as written and
 * f p + p + sum P_o as a node (computing it once per point, writing it,
 * reading it at every occurrence's point). It becomes a node when
 * that is less, and when it occurs in two nodes or more (within one,
 * share.c does better: no memory); like hoist.c, the node has at most
 * TRA_MAX_RANK dimensions. Classes are taken largest first, and an
 * occurrence inside one taken is no longer one.
 *
 * The node, named T.s1, T.s2, ... after its first reader T, has T's
 * element type and is placed just before its first reader (its operands
 * precede every reader, so that one too). Sub-expressions larger than
 * SUBEXPR_MAX_SIZE expression nodes are not compared (time linear in the
 * expressions' size times that bound).
 */
#include "tra.h"

#include <stdlib.h>
#include <string.h>

#define SUBEXPR_MAX_SIZE 64

/* One occurrence: expression e of node id (in its join or epilogue). */
typedef struct SubOcc {
	int node, e;
	bool epi;
	int start, len;  /* its canonical form in Sub.form.v */
	uint64_t hash;
	int size;        /* expression nodes */
	double flops;    /* one evaluation */
	double points;   /* where it is evaluated: join points or output elements */
	int cls;         /* the first occurrence equal to it */
	bool dead;       /* inside an occurrence taken */
	int at[TRA_MAX_RANK + 1]; /* at[c]: the node's index numbered c by the form */
	int rank;        /* indices the form numbered */
} SubOcc;

typedef struct Sub {
	TraGraph *g;
	Arena *a;
	SubOcc *occ;
	int nocc, occcap;
	TraForm form;   /* every occurrence's form, back to back (form.c) */
	uint64_t *free; /* by expression id: the order-free hash (form_free_hash) */
} Sub;

/* The size of the tree at e (expression nodes), its flops, and whether
 * it reads acc. */
/* Recursive; depth at most TRA_MAX_EXPR_DEPTH (tra_verify checks it). */
static void sub_measure(const TraGraph *g, int e, int *size, double *flops, bool *acc)
{
	const TraExpr *x = &g->ex[e];
	*size = 1;
	*flops = tra_op_flops[x->op];
	*acc = x->op == TRA_OP_ACC;
	for (int i = 0; i < tra_op_arity[x->op]; i++) {
		int ks;
		double kf;
		bool ka;
		sub_measure(g, x->kid[i], &ks, &kf, &ka);
		*size += ks;
		*flops += kf;
		*acc |= ka;
	}
}

/* Records the occurrence e of node id if it may be taken. */
static void sub_record(Sub *s, int id, int e, bool epi, int size, double flops)
{
	const TraNode *n = &s->g->nodes[id];
	TraForm *f = &s->form;
	SubOcc o = {.node = id, .e = e, .epi = epi, .size = size, .flops = flops, .start = f->n,
	            .points = epi ? (double)tra_node_elements(n) : tra_node_join_points(n)};
	for (int d = 0; d < n->nidx; d++)
		f->canon[d] = -1;
	f->next = 0;
	form_push(f, n->type);
	form_write(f, s->g, n, e, s->free);
	if (f->next > TRA_MAX_RANK) {
		f->n = o.start;
		return;
	}
	for (int d = 0; d < n->nidx; d++)
		if (f->canon[d] >= 0)
			o.at[f->canon[d]] = d;
	o.rank = f->next;
	for (int c = 0; c < o.rank; c++)
		form_push(f, n->idx[o.at[c]].size);
	o.len = f->n - o.start;
	o.hash = form_hash(f, o.start);
	ARENA_RESERVE(s->a, s->occ, s->nocc, s->occcap);
	s->occ[s->nocc++] = o;
}

/* Walks the tree at e of node id, recording every sub-expression that
 * may be taken. */
/* Recursive; depth at most TRA_MAX_EXPR_DEPTH (tra_verify checks it). */
static void sub_collect(Sub *s, int id, int e, bool epi)
{
	const TraNode *n = &s->g->nodes[id];
	const TraExpr *x = &s->g->ex[e];
	if (tra_op_arity[x->op] == 0)
		return;
	int size;
	double flops;
	bool acc;
	sub_measure(s->g, e, &size, &flops, &acc);
	form_free_hash(s->g, n, e, s->free);
	if (!acc && size <= SUBEXPR_MAX_SIZE)
		sub_record(s, id, e, epi, size, flops);
	for (int i = 0; i < tra_op_arity[x->op]; i++)
		sub_collect(s, id, s->g->ex[e].kid[i], epi);
}

static bool sub_same(const Sub *s, const SubOcc *a, const SubOcc *b)
{
	return a->hash == b->hash && a->len == b->len &&
	       memcmp(s->form.v + a->start, s->form.v + b->start, (size_t)a->len * sizeof *s->form.v) == 0;
}

/* Whether expression e lies inside the tree at root. */
/* Recursive; depth at most TRA_MAX_EXPR_DEPTH (tra_verify checks it). */
static bool sub_inside(const TraGraph *g, int root, int e)
{
	if (root == e)
		return true;
	for (int i = 0; i < tra_op_arity[g->ex[root].op]; i++)
		if (sub_inside(g, g->ex[root].kid[i], e))
			return true;
	return false;
}

/* Occurrences by decreasing size, then hash, then where found (node
 * order): equal ones are adjacent, in node order. */
static int sub_cmp_hash(const void *pa, const void *pb)
{
	const SubOcc *a = pa, *b = pb;
	if (a->size != b->size)
		return b->size - a->size;
	if (a->hash != b->hash)
		return a->hash < b->hash ? -1 : 1;
	return a->start - b->start;
}

/* Moves the tree at e of node n (a copy) into the new node m: operands
 * into l, index d to pos[d]. */
/* Recursive; depth at most TRA_MAX_EXPR_DEPTH (tra_verify checks it). */
static void sub_move(TraGraph *g, const TraNode *n, int e, const int *pos, TraOperandList *l)
{
	TraExpr *x = &g->ex[e];
	if (x->op == TRA_OP_OPERAND) {
		const TraOperand *op = &n->ops[x->arg];
		int idx[TRA_MAX_RANK];
		for (int d = 0; d < op->rank; d++)
			idx[d] = pos[op->idx[d]];
		x->arg = tra_operand_add(g->arena, l, op->node, op->rank, idx);
	} else if (x->op == TRA_OP_INDEX)
		x->arg = pos[x->arg];
	for (int k = 0; k < tra_op_arity[g->ex[e].op]; k++)
		sub_move(g, n, g->ex[e].kid[k], pos, l);
}

/* The operand of n with the most elements read in the tree at e, or
 * -1. Recursive; depth at most TRA_MAX_EXPR_DEPTH. */
static int sub_largest_operand(const TraGraph *g, const TraNode *n, int e, int best)
{
	const TraExpr *x = &g->ex[e];
	if (x->op == TRA_OP_OPERAND && (best < 0 || tra_node_elements(&g->nodes[n->ops[x->arg].node]) >
	                                                tra_node_elements(&g->nodes[n->ops[best].node])))
		best = x->arg;
	for (int k = 0; k < tra_op_arity[x->op]; k++)
		best = sub_largest_operand(g, n, x->kid[k], best);
	return best;
}

/* The new node's dimensions, as the class's index numbers (perm[j]: the
 * number at dimension j): the indices of its largest operand in that
 * operand's order, then the rest as the walk met them. Numbered as met,
 * a causal softmax's exp(S[i, k] - m[i]) behind select(k <= i, ...)
 * was laid out [k, i]: its row sum became a column sum and the division
 * a transposed read. */
static void sub_layout(const TraGraph *g, const TraNode *n, const SubOcc *o, const int *pos, int *perm)
{
	bool used[TRA_MAX_RANK + 1] = {false};
	int j = 0, big = sub_largest_operand(g, n, o->e, -1);
	const TraOperand *op = big >= 0 ? &n->ops[big] : NULL;
	for (int d = 0; op && !op->aff && d < op->rank; d++) {
		int c = pos[op->idx[d]];
		if (c >= 0 && !used[c]) {
			used[c] = true;
			perm[j++] = c;
		}
	}
	for (int c = 0; c < o->rank; c++)
		if (!used[c])
			perm[j++] = c;
}

/* Makes the live members of a class read a new node, appended to the
 * graph (sub_place puts it in order); marks their nodes touched. */
static void sub_take(Sub *s, SubOcc **live, int nlive, int *serial, bool *touched)
{
	TraGraph *g = s->g;
	const SubOcc *o = live[0];
	const TraNode *n = &g->nodes[o->node];
	int pos[64], perm[TRA_MAX_RANK + 1];
	for (int x = 0; x < n->nidx; x++) /* n->nidx <= 64 (subexpr_share) */
		pos[x] = -1;
	for (int c = 0; c < o->rank; c++)
		pos[o->at[c]] = c;
	sub_layout(g, n, o, pos, perm);
	for (int j = 0; j < o->rank; j++) /* index at[perm[j]] of n is dimension j of the node */
		pos[o->at[perm[j]]] = j;
	TraNode m = {.kind = TRA_NODE_EINSUM, .span = n->span, .type = n->type, .rank = o->rank,
	             .nidx = o->rank, .agg = TRA_AGG_NONE, .epilogue = -1};
	m.name = arena_printf(g->arena, "%s.s%d", n->name, ++*serial);
	m.idx = arena_alloc(g->arena, (size_t)(o->rank + 1) * sizeof *m.idx);
	for (int j = 0; j < o->rank; j++)
		m.idx[j] = n->idx[o->at[perm[j]]];
	m.join = tra_expr_copy(g, o->e);
	TraOperandList l = {0};
	sub_move(g, n, m.join, pos, &l);
	m.ops = l.ops;
	m.nops = l.n;
	tra_node_cost(g, &m);
	int id = tra_node_new(g, &m);
	for (int k = 0; k < nlive; k++) {
		TraNode *r = &g->nodes[live[k]->node];
		TraOperandList rl = {.ops = r->ops, .n = r->nops, .cap = r->nops};
		int at[TRA_MAX_RANK + 1];
		for (int j = 0; j < o->rank; j++)
			at[j] = live[k]->at[perm[j]];
		int op = tra_operand_add(g->arena, &rl, id, o->rank, at);
		r->ops = rl.ops;
		r->nops = rl.n;
		g->ex[live[k]->e] = (TraExpr){.op = TRA_OP_OPERAND, .arg = op, .kid = {-1, -1, -1}};
		touched[live[k]->node] = true;
	}
}

/* Puts each new node (ids nold ..) just before its first reader, and
 * renumbers the graph. */
static void sub_place(TraGraph *g, int nold, const int *before)
{
	int n = g->nnodes;
	TraNode *old = g->nodes;
	int *map = xcalloc((size_t)n + 1, sizeof *map);
	TraNode *nodes = xcalloc((size_t)n + 1, sizeof *nodes);
	int k = 0;
	for (int id = 0; id < nold; id++) {
		for (int m = nold; m < n; m++)
			if (before[m - nold] == id) {
				map[m] = k;
				nodes[k++] = old[m];
			}
		map[id] = k;
		nodes[k++] = old[id];
	}
	for (int id = 0; id < n; id++)
		for (int j = 0; j < nodes[id].nops; j++)
			nodes[id].ops[j].node = map[nodes[id].ops[j].node];
	for (int i = 0; i < g->noutputs; i++)
		g->outputs[i] = map[g->outputs[i]];
	memcpy(g->nodes, nodes, (size_t)n * sizeof *nodes);
	free(nodes);
	free(map);
}

/* The cost rule of the opening comment for the live members. */
static bool sub_pays(const TraGraph *g, SubOcc **live, int nlive)
{
	const SubOcc *o = live[0];
	const TraNode *n = &g->nodes[o->node];
	double p = 1, sum = 0;
	for (int c = 0; c < o->rank; c++)
		p *= (double)n->idx[o->at[c]].size;
	bool two = false;
	for (int k = 0; k < nlive; k++) {
		sum += live[k]->points;
		two |= live[k]->node != o->node;
	}
	return two && o->flops * sum > o->flops * p + p + sum;
}

void subexpr_share(TraGraph *g)
{
	Arena a = {0};
	Sub s = {.g = g, .a = &a};
	int maxidx = 1;
	for (int id = 0; id < g->nnodes; id++)
		maxidx = g->nodes[id].nidx > maxidx ? g->nodes[id].nidx : maxidx;
	s.form = (TraForm){.arena = &a, .canon = arena_alloc(&a, (size_t)maxidx * sizeof *s.form.canon)};
	s.free = arena_alloc(&a, ((size_t)g->nex + 1) * sizeof *s.free);
	bool *live = arena_alloc(&a, ((size_t)g->nnodes + 1) * sizeof *live);
	bool *touched = arena_alloc(&a, ((size_t)g->nnodes + 1) * sizeof *touched);
	memset(touched, 0, ((size_t)g->nnodes + 1) * sizeof *touched);
	tra_live_nodes(g, live);
	for (int id = 0; id < g->nnodes; id++) {
		const TraNode *n = &g->nodes[id];
		if (n->kind != TRA_NODE_EINSUM || tra_node_is_opaque(n) || !live[id] || n->nidx > 64)
			continue;
		sub_collect(&s, id, n->join, false);
		if (n->epilogue >= 0)
			sub_collect(&s, id, n->epilogue, true);
	}
	if (s.nocc > 0) /* s.occ is NULL when nothing was collected: qsort's argument must not be */
		qsort(s.occ, (size_t)s.nocc, sizeof *s.occ, sub_cmp_hash);
	for (int i = 0; i < s.nocc; i++) {
		s.occ[i].cls = i;
		if (i > 0 && sub_same(&s, &s.occ[i - 1], &s.occ[i]))
			s.occ[i].cls = s.occ[i - 1].cls;
	}
	int nold = g->nnodes, nnew = 0, *serial = arena_alloc(&a, ((size_t)nold + 1) * sizeof *serial);
	int *before = arena_alloc(&a, ((size_t)s.nocc + 1) * sizeof *before);
	SubOcc **members = arena_alloc(&a, ((size_t)s.nocc + 1) * sizeof *members);
	memset(serial, 0, ((size_t)nold + 1) * sizeof *serial);
	for (int i = 0; i < s.nocc;) {
		int j = i, nlive = 0;
		while (j < s.nocc && s.occ[j].cls == s.occ[i].cls)
			j++;
		for (int k = i; k < j; k++)
			if (!s.occ[k].dead)
				members[nlive++] = &s.occ[k];
		/* sorted by where found, so members[0] is in the first reader */
		if (nlive >= 2 && sub_pays(g, members, nlive)) {
			/* what lies inside the taken occurrences is no longer evaluated there */
			for (int k = j; k < s.nocc; k++)
				for (int q = 0; q < nlive && !s.occ[k].dead; q++)
					s.occ[k].dead = s.occ[k].node == members[q]->node &&
					                s.occ[k].epi == members[q]->epi && sub_inside(g, members[q]->e, s.occ[k].e);
			before[nnew++] = members[0]->node;
			sub_take(&s, members, nlive, &serial[members[0]->node], touched);
		}
		i = j;
	}
	if (nnew > 0) {
		for (int id = 0; id < nold; id++)
			if (touched[id]) {
				tra_node_compact_operands(g, &g->nodes[id]);
				tra_node_cost(g, &g->nodes[id]);
			}
		sub_place(g, nold, before);
	}
	arena_free(&a);
}
