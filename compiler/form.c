/* needs: a TraGraph's expressions. gives: canonical forms and hashes that the passes compare expressions by. */
/* form.c: expressions written as canonical forms, for the passes that
 * find equal ones (cse.c whole nodes and joins, subexpr.c
 * sub-expressions across nodes, share.c within one).
 *
 * A form is a run of integers: the expression in prefix order, each
 * operation's code, a constant's bits, an operand's producer and the
 * numbers of its subscripts, an index's number. Indices are numbered by
 * the caller's TraForm.canon, and an index met first is given the next
 * number, so that equal expressions written with other index names give
 * one form. The operands of + and * are written in place (cse.c orders
 * them first) or in the order of their order-free hashes
 * (form_free_hash), which depend on the sub-trees alone.
 */
#include "tra.h"

#include <string.h>

uint64_t form_mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15u + (h << 6) + (h >> 2);
	return h * 0xff51afd7ed558ccdu;
}

void form_push(TraForm *f, int64_t v)
{
	ARENA_RESERVE(f->arena, f->v, f->n, f->cap);
	f->v[f->n++] = v;
}

int64_t form_index(TraForm *f, int d)
{
	if (f->canon[d] < 0)
		f->canon[d] = f->next++;
	return f->canon[d];
}

static bool form_commutes(TraOp op)
{
	return op == TRA_OP_ADD || op == TRA_OP_MUL;
}

/* An affine operand's map (a view folded into its reader by views.c):
 * X[i - 1, pad=0] and X[i] differ there alone. Mixed into h, and
 * written to f when f is not NULL (its indices by their numbers). */
static uint64_t form_affine(TraForm *f, const TraNode *n, const TraOperand *op, uint64_t h)
{
	const TraAffine *a = op->aff;
	for (int d = 0; d < op->rank; d++) {
		int64_t v[3] = {a->off[d], a->gather ? a->gather[d] : -1, -1};
		for (int i = 0; i < 2; i++) {
			h = form_mix(h, (uint64_t)v[i]);
			if (f)
				form_push(f, v[i]);
		}
		for (int x = 0; x < n->nidx; x++) {
			int64_t c = a->coef[d * n->nidx + x];
			if (c == 0)
				continue;
			h = form_mix(form_mix(h, (uint64_t)c), (uint64_t)n->idx[x].size);
			if (f) {
				form_push(f, c);
				form_push(f, form_index(f, x));
			}
		}
		h = form_mix(h, (uint64_t)v[2]);
		if (f)
			form_push(f, v[2]);
	}
	uint64_t pad;
	memcpy(&pad, &a->pad, sizeof pad);
	h = form_mix(form_mix(h, a->padded), a->padded ? pad : 0);
	if (f) {
		form_push(f, a->padded);
		form_push(f, a->padded ? (int64_t)pad : 0);
	}
	return h;
}

/* Recursive; depth at most TRA_MAX_EXPR_DEPTH (tra_verify checks it). */
uint64_t form_free_hash(const TraGraph *g, const TraNode *n, int e, uint64_t *free)
{
	const TraExpr *x = &g->ex[e];
	uint64_t h = form_mix(0, (uint64_t)x->op), bits, k[3] = {0, 0, 0};
	if (x->op == TRA_OP_CONST) {
		memcpy(&bits, &x->value, sizeof bits);
		h = form_mix(h, bits);
	} else if (x->op == TRA_OP_OPERAND) {
		const TraOperand *op = &n->ops[x->arg];
		h = form_mix(h, (uint64_t)op->node);
		if (op->aff)
			h = form_affine(NULL, n, op, h);
		else
			for (int d = 0; d < op->rank; d++)
				h = form_mix(h, (uint64_t)n->idx[op->idx[d]].size);
	} else if (x->op == TRA_OP_INDEX)
		h = form_mix(h, (uint64_t)n->idx[x->arg].size);
	for (int i = 0; i < tra_op_arity[x->op]; i++)
		k[i] = form_free_hash(g, n, x->kid[i], free);
	if (form_commutes(x->op))
		h = form_mix(h, (k[0] < k[1] ? k[0] : k[1]) ^ form_mix(k[0] < k[1] ? k[1] : k[0], 1));
	else
		for (int i = 0; i < tra_op_arity[x->op]; i++)
			h = form_mix(h, k[i]);
	return free[e] = h;
}

/* Recursive; depth at most TRA_MAX_EXPR_DEPTH (tra_verify checks it). */
void form_write(TraForm *f, const TraGraph *g, const TraNode *n, int e, const uint64_t *free)
{
	const TraExpr *x = &g->ex[e];
	form_push(f, x->op);
	if (x->op == TRA_OP_CONST) {
		int64_t bits;
		memcpy(&bits, &x->value, sizeof bits);
		form_push(f, bits);
	} else if (x->op == TRA_OP_OPERAND) {
		const TraOperand *op = &n->ops[x->arg];
		form_push(f, op->node);
		if (op->aff)
			form_affine(f, n, op, 0);
		else
			for (int d = 0; d < op->rank; d++)
				form_push(f, form_index(f, op->idx[d]));
	} else if (x->op == TRA_OP_INDEX)
		form_push(f, form_index(f, x->arg));
	bool swap = free && form_commutes(x->op) && free[x->kid[1]] < free[x->kid[0]];
	for (int i = 0; i < tra_op_arity[x->op]; i++)
		form_write(f, g, n, x->kid[swap ? 1 - i : i], free);
}

uint64_t form_hash(const TraForm *f, int start)
{
	uint64_t h = 0;
	for (int i = start; i < f->n; i++)
		h = form_mix(h, (uint64_t)f->v[i]);
	return h;
}
