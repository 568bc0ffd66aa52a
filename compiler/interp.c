/* interp.c: the reference interpreter, the oracle for every back end.
 * needs: a verified TraGraph and its inputs' values. gives: every node's value.
 *
 * It is meant to be obviously right, not fast: each einsum node is
 * evaluated by walking its output elements in C order and, for each,
 * every point of its reduced indices, evaluating the join expression tree
 * recursively in double precision and folding it into the aggregate, then
 * applying the epilogue. Operands are addressed through their producers'
 * C-order strides; a view's affine read (tra.h's TraAffine) is the same
 * arithmetic written out, with its padding value outside. NaN propagates through max and min as in NumPy's
 * maximum and max.
 */
#include "tra.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Advances point[from..to) like an odometer (last index fastest), over
 * n's loops (a scatter-add's scattered indices are none: tra_node_is_loop);
 * returns false after the last point. */
static bool interp_next(const TraNode *n, int64_t *point, int from, int to)
{
	for (int d = to - 1; d >= from; d--) {
		if (!tra_node_is_loop(n, d))
			continue;
		if (++point[d] < n->idx[d].size)
			return true;
		point[d] = 0;
	}
	return false;
}

static double interp_operand(const TraGraph *g, const TraNode *n, int k,
                             const InterpValues *v, const int64_t *point);

/* A gather's index out of range, unpadded: the run's error (no output
 * is written: the driver writes them after the run). */
static _Noreturn void interp_gather_fail(const TraGraph *g, const TraNode *n, int k, int d,
                                         const int64_t *point, double value)
{
	const TraOperand *ix = &n->ops[n->ops[k].aff->gather[d]];
	const TraNode *t = &g->nodes[n->ops[k].node];
	fprintf(stderr, "trac: error: %s", g->nodes[ix->node].name);
	for (int e = 0; e < ix->rank; e++)
		fprintf(stderr, "%s%lld", e ? ", " : "[", (long long)point[ix->idx[e]]);
	fprintf(stderr, "%s is %.17g, outside dimension %d of %s (0..%lld)\n", ix->rank ? "]" : "",
	        value, d + 1, t->name, (long long)t->idx[d].size - 1);
	exit(TRAC_EXIT_ERROR);
}

/* The element of operand k at the join point. */
static double interp_operand(const TraGraph *g, const TraNode *n, int k,
                             const InterpValues *v, const int64_t *point)
{
	const TraOperand *op = &n->ops[k];
	const TraNode *p = &g->nodes[op->node];
	int64_t off = 0;
	for (int d = 0; d < op->rank; d++) {
		int64_t at = op->aff ? op->aff->off[d] : point[op->idx[d]];
		for (int x = 0; op->aff && x < n->nidx; x++)
			at += op->aff->coef[d * n->nidx + x] * point[x];
		double gv = 0;
		bool gather = op->aff && op->aff->gather && op->aff->gather[d] >= 0;
		if (gather) {
			gv = interp_operand(g, n, op->aff->gather[d], v, point);
			at = gv >= 0 && gv < (double)p->idx[d].size ? (int64_t)gv : -1;
		}
		if (at < 0 || at >= p->idx[d].size) {
			if (gather && !op->aff->padded)
				interp_gather_fail(g, n, k, d, point, gv);
			TRAC_ASSERT(op->aff && op->aff->padded);
			return op->aff->pad;
		}
		off = off * p->idx[d].size + at;
	}
	return v->data[op->node][off];
}

static double interp_max(double a, double b)
{
	return isnan(a) || a > b ? a : b;
}

static double interp_min(double a, double b)
{
	return isnan(a) || a < b ? a : b;
}

double interp_apply(TraOp op, double a, double b)
{
	switch (op) {
	case TRA_OP_NEG: return -a;
	case TRA_OP_ADD: return a + b;
	case TRA_OP_SUB: return a - b;
	case TRA_OP_MUL: return a * b;
	case TRA_OP_DIV: return a / b;
	case TRA_OP_EXP: return exp(a);
	case TRA_OP_LOG: return log(a);
	case TRA_OP_SQRT: return sqrt(a);
	case TRA_OP_TANH: return tanh(a);
	case TRA_OP_SIGMOID: return 1.0 / (1.0 + exp(-a));
	case TRA_OP_RELU: return a < 0 ? 0.0 : a;
	case TRA_OP_ABS: return fabs(a);
	case TRA_OP_POW: return pow(a, b);
	case TRA_OP_FLOOR: return floor(a);
	case TRA_OP_CEIL: return ceil(a);
	case TRA_OP_ROUND: return nearbyint(a); /* ties to even, as NumPy's round */
	case TRA_OP_SIGN: return a > 0 ? 1.0 : a < 0 ? -1.0 : a;
	case TRA_OP_RSQRT: return 1.0 / sqrt(a);
	case TRA_OP_EXP2: return exp2(a);
	case TRA_OP_LOG2: return log2(a);
	case TRA_OP_EXPM1: return expm1(a);
	case TRA_OP_ERF: return erf(a);
	case TRA_OP_LOG1P: return log1p(a);
	/* beyond TRART_TRIG_LIMIT the kernels' reduction is not exact: NaN
	 * there too (tra(5)) */
	case TRA_OP_SIN: return fabs(a) < TRART_TRIG_LIMIT ? sin(a) : NAN;
	case TRA_OP_COS: return fabs(a) < TRART_TRIG_LIMIT ? cos(a) : NAN;
	case TRA_OP_MAX: return isnan(b) ? b : interp_max(a, b);
	case TRA_OP_MIN: return isnan(b) ? b : interp_min(a, b);
	case TRA_OP_LT: return a < b;
	case TRA_OP_LE: return a <= b;
	case TRA_OP_GT: return a > b;
	case TRA_OP_GE: return a >= b;
	case TRA_OP_EQ: return a == b;
	case TRA_OP_NE: return a != b;
	default: TRAC_BUG("interp_apply: op %s", tra_op_name[op]);
	}
}

/* v wrapped into integer type t (two's complement, as the kernels). */
static double interp_wrap(int64_t v, TrartDtype t)
{
	return t == TRART_I32 ? (double)(int32_t)(uint32_t)(uint64_t)v : (double)v;
}

double interp_apply_int(TraOp op, double da, double db, TrartDtype t)
{
	int64_t a = (int64_t)da, b = (int64_t)db;
	uint64_t ua = (uint64_t)a, ub = (uint64_t)b;
	switch (op) {
	case TRA_OP_NEG: return interp_wrap((int64_t)(0 - ua), t);
	case TRA_OP_ADD: return interp_wrap((int64_t)(ua + ub), t);
	case TRA_OP_SUB: return interp_wrap((int64_t)(ua - ub), t);
	case TRA_OP_MUL: return interp_wrap((int64_t)(ua * ub), t);
	case TRA_OP_DIV: {
		/* floor division, as NumPy's //; by zero 0, as NumPy gives */
		if (b == 0)
			return 0;
		if (b == -1)
			return interp_wrap((int64_t)(0 - ua), t);
		int64_t q = a / b;
		return interp_wrap(q - (a % b != 0 && (a < 0) != (b < 0)), t);
	}
	case TRA_OP_ABS: return interp_wrap(a < 0 ? (int64_t)(0 - ua) : a, t);
	case TRA_OP_SIGN: return (double)((a > 0) - (a < 0));
	case TRA_OP_RELU: return a < 0 ? 0 : da;
	case TRA_OP_MAX: return a > b ? da : db;
	case TRA_OP_MIN: return a < b ? da : db;
	case TRA_OP_LT: case TRA_OP_LE: case TRA_OP_GT: case TRA_OP_GE: case TRA_OP_EQ: case TRA_OP_NE:
		return interp_apply(op, da, db);
	default: TRAC_BUG("interp_apply_int: op %s", tra_op_name[op]);
	}
}

double interp_convert(double v, TrartDtype from, TrartDtype to)
{
	if (from == TRART_F32)
		v = (double)(float)v;
	switch (to) {
	case TRART_F32: return (double)(float)v;
	case TRART_F64: return v;
	case TRART_I32: case TRART_I64: {
		if (TRART_IS_INT(from))
			return interp_wrap((int64_t)v, to);
		/* toward zero, NaN 0, saturating at the type's limits */
		double lo = to == TRART_I32 ? -0x1p31 : -0x1p63, hi = -lo;
		if (isnan(v))
			return 0;
		if (v <= lo)
			return lo;
		if (v >= hi)
			return to == TRART_I32 ? 0x1p31 - 1 : (double)INT64_MAX;
		return trunc(v);
	}
	}
	TRAC_BUG("interp_convert to %d", to);
}

/* Recursive; depth at most TRA_MAX_EXPR_DEPTH (tra_verify checks it). */
double interp_eval(const TraGraph *g, const TraNode *n, int e,
                   const InterpValues *v, const int64_t *point, double acc)
{
	const TraExpr *x = &g->ex[e];
	switch (x->op) {
	case TRA_OP_CONST: return x->value;
	case TRA_OP_OPERAND: {
		double a = interp_operand(g, n, x->arg, v, point);
		TrartDtype from = g->nodes[n->ops[x->arg].node].type;
		TrartDtype to = tra_node_join_type(n);
		return from == to ? a : interp_convert(a, from, to); /* a view's */
	}
	case TRA_OP_INDEX: return (double)point[x->arg];
	case TRA_OP_ACC: return acc;
	/* a shared value is evaluated again where it is read: the same
	 * operations on the same values, so the same result (the reference
	 * need not be fast) */
	case TRA_OP_LET: return interp_eval(g, n, x->kid[1], v, point, acc);
	case TRA_OP_VAR: return interp_eval(g, n, g->ex[x->arg].kid[0], v, point, acc);
	case TRA_OP_SELECT:
		return interp_eval(g, n, x->kid[0], v, point, acc) != 0
		       ? interp_eval(g, n, x->kid[1], v, point, acc)
		       : interp_eval(g, n, x->kid[2], v, point, acc);
	default: break;
	}
	double a = interp_eval(g, n, x->kid[0], v, point, acc);
	double b = tra_op_arity[x->op] > 1 ? interp_eval(g, n, x->kid[1], v, point, acc) : 0;
	TrartDtype t = tra_node_join_type(n);
	return TRART_IS_INT(t) ? interp_apply_int(x->op, a, b, t) : interp_apply(x->op, a, b);
}


static double interp_combine(TraAgg agg, TrartDtype t, double acc, double x)
{
	if (TRART_IS_INT(t) && (agg == TRA_AGG_SUM || agg == TRA_AGG_PROD))
		return interp_apply_int(agg == TRA_AGG_SUM ? TRA_OP_ADD : TRA_OP_MUL, acc, x, t);
	switch (agg) {
	case TRA_AGG_SUM: return acc + x;
	case TRA_AGG_PROD: return acc * x;
	case TRA_AGG_MAX: return isnan(acc) ? acc : interp_max(x, acc);
	case TRA_AGG_MIN: return isnan(acc) ? acc : interp_min(x, acc);
	default: TRAC_BUG("interp_combine: aggregation %d", agg);
	}
}

/* argmax, argmin: the first index of the largest (smallest) value, or of
 * the first NaN, as NumPy's argmax and argmin. */
static double interp_arg(const TraGraph *g, const TraNode *n, const InterpValues *v, int64_t *point)
{
	int64_t best = 0;
	double bv = 0;
	for (point[n->rank] = 0; point[n->rank] < n->idx[n->rank].size; point[n->rank]++) {
		double x = interp_eval(g, n, n->join, v, point, 0);
		if (point[n->rank] == 0 || (!isnan(bv) && (isnan(x) || (n->agg == TRA_AGG_ARGMAX ? x > bv : x < bv)))) {
			bv = x;
			best = point[n->rank];
		}
	}
	return (double)best;
}

/* One output element of n, at point[0..rank) (reduced part scratch). */
static double interp_element(const TraGraph *g, const TraNode *n, const InterpValues *v, int64_t *point)
{
	if (n->agg == TRA_AGG_NONE)
		return interp_eval(g, n, n->join, v, point, 0);
	if (TRA_AGG_IS_ARG(n->agg))
		return interp_arg(g, n, v, point);
	double acc = tra_agg_identity(n->agg, n->type);
	for (int d = n->rank; d < n->nidx; d++)
		point[d] = 0;
	do
		acc = interp_combine(n->agg, n->type, acc, interp_eval(g, n, n->join, v, point, 0));
	while (interp_next(n, point, n->rank, n->nidx));
	return n->epilogue >= 0 ? interp_eval(g, n, n->epilogue, v, point, acc) : acc;
}

/* A scatter-add (tra_node_is_scatter): zeros, then the join added at
 * each loop point's position; a position outside its dimension adds
 * nothing. */
static void interp_scatter(const TraGraph *g, int id, InterpValues *v)
{
	const TraNode *n = &g->nodes[id];
	int64_t point[TRA_MAX_STMT_INDICES] = {0};
	double *out = v->data[id];
	for (int64_t i = 0; i < tra_node_elements(n); i++)
		out[i] = 0;
	do {
		int64_t off = 0;
		bool inside = true;
		for (int d = 0; d < n->rank; d++) {
			double at = (double)point[d];
			if (n->scatter[d] >= 0)
				at = interp_operand(g, n, n->scatter[d], v, point);
			inside = inside && at >= 0 && at < (double)n->idx[d].size;
			off = off * n->idx[d].size + (inside ? (int64_t)at : 0);
		}
		if (inside)
			out[off] += interp_eval(g, n, n->join, v, point, 0);
	} while (interp_next(n, point, 0, n->nidx));
}

static void interp_node(const TraGraph *g, int id, InterpValues *v)
{
	if (tra_node_is_scatter(&g->nodes[id])) {
		interp_scatter(g, id, v);
		return;
	}
	const TraNode *n = &g->nodes[id];
	int64_t point[TRA_MAX_STMT_INDICES] = {0};
	double *out = v->data[id];
	int64_t i = 0;
	do
		out[i++] = interp_element(g, n, v, point);
	while (interp_next(n, point, 0, n->rank));
}

void interp_values_init(InterpValues *v, const TraGraph *g)
{
	v->nnodes = g->nnodes;
	v->data = xcalloc((size_t)g->nnodes, sizeof *v->data);
}

void interp_values_free(InterpValues *v)
{
	for (int i = 0; i < v->nnodes; i++)
		free(v->data[i]);
	free(v->data);
	v->data = NULL;
	v->nnodes = 0;
}

void interp_run(const TraGraph *g, InterpValues *v)
{
	for (int id = 0; id < g->nnodes; id++) {
		const TraNode *n = &g->nodes[id];
		if (n->kind == TRA_NODE_INPUT) {
			TRAC_ASSERT(v->data[id]);
			continue;
		}
		free(v->data[id]);
		v->data[id] = xmalloc((size_t)tra_node_elements(n) * sizeof(double));
		interp_node(g, id, v);
	}
}
