/* needs: a verified TraGraph (after every other pass). gives: no join or epilogue evaluates one sub-expression twice per point. */
/* share.c: common sub-expressions within one expression.
 *
 * cse.c merges whole nodes, and hoist.c makes a node of a sub-expression
 * over fewer indices than its node (where two are equal, cse.c then
 * merges their nodes). What is left is a sub-expression that depends on
 * every index of the space it runs in and occurs twice or more in one
 * join or one epilogue: tanh(X[i, j] + b[j]) * tanh(X[i, j] + b[j]), or a
 * map that the program wrote once and read twice, inlined into its
 * reader twice. Storing it would cost a tensor as large as the node's
 * space and a pass over memory; this pass computes it once per point
 * instead, as a value bound in the expression itself:
 *
 *   let t1 = tanh(X[i, j] + b[j]) in t1 * t1
 *
 * (TRA_OP_LET's kid[0] is the value, kid[1] the body, in which each
 * TRA_OP_VAR whose arg is the LET's expression id reads it.)
 *
 * The rule. Equal means the same operations on the same leaves (an
 * operand is its producer and subscripts, so two operand numbers that
 * read the same element are equal), up to the order of the operands of
 * + and * (each is commutative in IEEE arithmetic: no result changes).
 * Every class of equal non-leaf sub-expressions that occurs twice or
 * more is bound once, largest first: an occurrence inside another
 * occurrence of a larger shared class that is not that class's first
 * occurrence (the one kept as its value) no longer counts, since it is
 * no longer evaluated. So exp(a) * exp(a) + exp(a) * exp(a) binds
 * exp(a) * exp(a) once, then exp(a) inside it (once there, so not bound
 * unless it occurs elsewhere too). Leaves are never bound: a VAR costs
 * what reading them costs.
 *
 * Where. The LETs form a chain at the root of the join or epilogue, the
 * smallest outermost (a larger value may read a smaller one's VAR, never
 * the reverse), so every value is computed once per point whatever
 * branch of a select reads it: the values are pure, and IEEE arithmetic
 * does not trap, so computing one a branch does not read changes no
 * result. tra_verify checks that LETs occur only on such a chain and
 * that each VAR reads a LET above it.
 *
 * Why last. No other pass has to know LETs: every pass that rewrites
 * expressions (algebra, cse, hoist, order, fuse) runs before this one,
 * and the back ends (cg_llvm_expr binds the value; the C back end writes
 * it again for the C compiler to merge), the interpreter and the cost
 * model (which counts a value once) read them.
 *
 * Time: per expression, linear in its size plus a sort of its shared
 * classes by size; equal hashes are confirmed by comparing the trees.
 */
#include "tra.h"

#include <stdlib.h>
#include <stdint.h>
#include <string.h>

/* One expression being shared: its tree's nodes by pre-order position. */
typedef struct Share {
	TraGraph *g;
	const TraNode *n;
	int *pre;        /* pre[i]: the expression id at pre-order position i */
	int npre, precap;
	uint64_t *hash;  /* by position: equal trees have equal hashes */
	int *size;       /* by position: nodes in the subtree */
	int *cls;        /* by position: the class (the position of its first occurrence), -1 for a leaf */
	int *count;      /* by class: occurrences still evaluated */
	bool *dead;      /* by position: inside an occurrence that becomes a VAR */
	int *pos;        /* by expression id, for the tree's ids: the position */
	int *table;      /* open addressing over positions of first occurrences; -1 empty */
	int tabsize;
} Share;

/* The hash of a leaf: what it reads. */
static uint64_t share_leaf_hash(const Share *s, const TraExpr *x)
{
	uint64_t h = form_mix(0, (uint64_t)x->op), bits;
	switch (x->op) {
	case TRA_OP_CONST:
		memcpy(&bits, &x->value, sizeof bits);
		return form_mix(h, bits);
	case TRA_OP_OPERAND: {
		const TraOperand *op = &s->n->ops[x->arg];
		h = form_mix(h, (uint64_t)op->node);
		if (op->aff) /* an affine read (views.c) is itself alone: see share_equal */
			return form_mix(h, (uint64_t)(uintptr_t)op->aff);
		for (int d = 0; d < op->rank; d++)
			h = form_mix(h, (uint64_t)op->idx[d]);
		return h;
	}
	default:
		return form_mix(h, (uint64_t)x->arg);
	}
}

/* Numbers the tree at e in pre-order: a subtree at position p takes
 * positions p .. p + size - 1. */
/* Recursive; depth at most TRA_MAX_EXPR_DEPTH (tra_verify checks it). */
static void share_walk(Share *s, Arena *a, int e)
{
	ARENA_RESERVE(a, s->pre, s->npre, s->precap);
	s->pre[s->npre++] = e;
	const TraExpr *x = &s->g->ex[e];
	for (int k = 0; k < tra_op_arity[x->op]; k++)
		share_walk(s, a, s->g->ex[e].kid[k]);
}

/* Hashes and sizes, by position, from the last position back (kids come
 * after their parent in pre-order). */
static void share_measure(Share *s)
{
	for (int i = s->npre - 1; i >= 0; i--) {
		const TraExpr *x = &s->g->ex[s->pre[i]];
		int arity = tra_op_arity[x->op];
		if (arity == 0) {
			s->hash[i] = share_leaf_hash(s, x);
			s->size[i] = 1;
			continue;
		}
		uint64_t h = form_mix(0, (uint64_t)x->op), k[3] = {0, 0, 0};
		int size = 1;
		for (int j = 0; j < arity; j++) {
			int p = s->pos[x->kid[j]];
			k[j] = s->hash[p];
			size += s->size[p];
		}
		if (x->op == TRA_OP_ADD || x->op == TRA_OP_MUL)
			h = form_mix(h, (k[0] < k[1] ? k[0] : k[1]) ^ form_mix(k[0] < k[1] ? k[1] : k[0], 1));
		else
			for (int j = 0; j < arity; j++)
				h = form_mix(h, k[j]);
		s->hash[i] = h;
		s->size[i] = size;
	}
}

/* Whether the trees at positions a and b are equal (see the opening comment). */
/* Recursive; depth at most TRA_MAX_EXPR_DEPTH (tra_verify checks it). */
static bool share_equal(const Share *s, int a, int b)
{
	if (s->hash[a] != s->hash[b] || s->size[a] != s->size[b])
		return false;
	const TraExpr *x = &s->g->ex[s->pre[a]], *y = &s->g->ex[s->pre[b]];
	if (x->op != y->op)
		return false;
	int arity = tra_op_arity[x->op];
	if (arity == 0) {
		if (x->op == TRA_OP_CONST)
			return memcmp(&x->value, &y->value, sizeof x->value) == 0;
		if (x->op != TRA_OP_OPERAND)
			return x->arg == y->arg;
		const TraOperand *p = &s->n->ops[x->arg], *q = &s->n->ops[y->arg];
		/* X[i - 1, pad=0] and X[i] have one idx: the affine map tells them apart */
		if (p->aff || q->aff)
			return p->aff == q->aff && p->node == q->node;
		return p->node == q->node && memcmp(p->idx, q->idx, (size_t)p->rank * sizeof *p->idx) == 0;
	}
	int ka[3], kb[3];
	for (int j = 0; j < arity; j++) {
		ka[j] = s->pos[x->kid[j]];
		kb[j] = s->pos[y->kid[j]];
	}
	bool same = true;
	for (int j = 0; j < arity && same; j++)
		same = share_equal(s, ka[j], kb[j]);
	if (!same && (x->op == TRA_OP_ADD || x->op == TRA_OP_MUL))
		same = share_equal(s, ka[0], kb[1]) && share_equal(s, ka[1], kb[0]);
	return same;
}

/* Gives every non-leaf position its class (the first equal position)
 * and counts the occurrences of each class. */
static void share_classify(Share *s)
{
	unsigned mask = (unsigned)s->tabsize - 1;
	for (int i = 0; i < s->npre; i++) {
		s->cls[i] = -1;
		if (tra_op_arity[s->g->ex[s->pre[i]].op] == 0)
			continue;
		unsigned h = (unsigned)s->hash[i] & mask;
		for (; s->table[h] >= 0; h = (h + 1) & mask)
			if (share_equal(s, s->table[h], i))
				break;
		if (s->table[h] < 0)
			s->table[h] = i;
		s->cls[i] = s->table[h];
		s->count[s->cls[i]]++;
	}
}

/* Marks the subtree at position p dead: its occurrences are no longer
 * evaluated (it becomes a VAR), so they no longer count. */
static void share_kill(Share *s, int p)
{
	for (int i = p; i < p + s->size[p]; i++) {
		if (!s->dead[i] && s->cls[i] >= 0)
			s->count[s->cls[i]]--;
		s->dead[i] = true;
	}
}

/* Binds class c: its first live occurrence becomes the value of a new
 * LET around *root, and every live occurrence a VAR of it (the others'
 * trees die; occurrences already dead are unreachable). */
static void share_bind(Share *s, int c, int *root, int *occ)
{
	TraGraph *g = s->g;
	int nocc = 0;
	for (int i = c; i < s->npre; i++)
		if (!s->dead[i] && s->cls[i] == c)
			occ[nocc++] = i;
	for (int k = 1; k < nocc; k++)
		share_kill(s, occ[k]);
	TraExpr v = g->ex[s->pre[occ[0]]];
	int value = tra_expr_new(g, v.op, v.arg, v.value, v.kid[0], v.kid[1], v.kid[2]);
	int let = tra_expr_new(g, TRA_OP_LET, 0, 0, value, *root, -1);
	for (int k = 0; k < nocc; k++)
		g->ex[s->pre[occ[k]]] = (TraExpr){.op = TRA_OP_VAR, .arg = let, .kid = {-1, -1, -1}};
	*root = let;
}

static int share_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* The classes (first positions) that occur twice or more, largest first,
 * then in pre-order: each as (largest size - size) * np + position. */
static int share_candidates(const Share *s, int64_t *cand, int64_t np)
{
	int n = 0;
	for (int i = 0; i < s->npre; i++)
		if (s->cls[i] == i && s->count[i] >= 2)
			cand[n++] = (int64_t)(s->size[0] - s->size[i]) * np + i;
	qsort(cand, (size_t)n, sizeof *cand, share_cmp);
	for (int k = 0; k < n; k++)
		cand[k] %= np;
	return n;
}

/* Shares the repeated sub-expressions of the tree at *root, of node n. */
static void share_expr(TraGraph *g, const TraNode *n, int *root)
{
	Arena a = {0};
	Share s = {.g = g, .n = n};
	share_walk(&s, &a, *root);
	size_t np = (size_t)s.npre + 1;
	s.hash = arena_alloc(&a, np * sizeof *s.hash);
	s.size = arena_alloc(&a, np * sizeof *s.size);
	s.pos = arena_alloc(&a, ((size_t)g->nex + 1) * sizeof *s.pos);
	for (int i = 0; i < s.npre; i++)
		s.pos[s.pre[i]] = i;
	share_measure(&s);
	for (s.tabsize = 16; (size_t)s.tabsize < 2 * np; s.tabsize *= 2)
		;
	s.table = arena_alloc(&a, (size_t)s.tabsize * sizeof *s.table);
	memset(s.table, -1, (size_t)s.tabsize * sizeof *s.table);
	s.cls = arena_alloc(&a, np * sizeof *s.cls);
	s.count = arena_alloc(&a, np * sizeof *s.count);
	s.dead = arena_alloc(&a, np * sizeof *s.dead);
	memset(s.count, 0, np * sizeof *s.count);
	memset(s.dead, 0, np * sizeof *s.dead);
	share_classify(&s);
	int64_t *cand = arena_alloc(&a, np * sizeof *cand);
	int *occ = arena_alloc(&a, np * sizeof *occ);
	int ncand = share_candidates(&s, cand, (int64_t)np);
	for (int k = 0; k < ncand; k++)
		if (s.count[cand[k]] >= 2)
			share_bind(&s, (int)cand[k], root, occ);
	arena_free(&a);
}

void share_values(TraGraph *g)
{
	for (int id = 0; id < g->nnodes; id++) {
		TraNode *n = &g->nodes[id];
		if (n->kind != TRA_NODE_EINSUM || tra_node_is_opaque(n))
			continue;
		share_expr(g, n, &n->join);
		if (n->epilogue >= 0)
			share_expr(g, n, &n->epilogue);
		tra_node_cost(g, n);
	}
}
