/* tra.c: the TRA graph's constructors, cost model, dump and verifier.
 *
 * The dump (--emit=tra) prints one node per paragraph:
 *
 *   Hd[i, j] f32 = relu(acc + b1[j])
 *       acc = sum[k] X[i, k] * W1[k, j]
 *       i: N=64  j: H=48  k: D=32   flops 2.0e+05  bytes 2.2e+04
 *       partition i:4 j:1 k:2
 *
 * (the last line only once decomp.c has partitioned the graph)
 * so a reader sees the einsum's join, aggregation and epilogue. The cost
 * model counts per join point the join's operations (ops.def's weights)
 * plus one to aggregate, and per output element the epilogue's.
 */
#include "tra.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const tra_op_name[TRA_OP_COUNT] = {
#define OP(name, spelling, arity, flops) spelling,
#include "ops.def"
#undef OP
};

const int tra_op_arity[TRA_OP_COUNT] = {
#define OP(name, spelling, arity, flops) arity,
#include "ops.def"
#undef OP
};

const int tra_op_flops[TRA_OP_COUNT] = {
#define OP(name, spelling, arity, flops) flops,
#include "ops.def"
#undef OP
};

double tra_agg_identity(TraAgg agg, TrartDtype t)
{
	double most = t == TRART_I32 ? 0x1p31 - 1 : t == TRART_I64 ? 0x1p63 : INFINITY;
	double least = t == TRART_I32 ? -0x1p31 : t == TRART_I64 ? -0x1p63 : -INFINITY;
	switch (agg) {
	case TRA_AGG_PROD: return 1;
	case TRA_AGG_MAX: return least;
	case TRA_AGG_MIN: return most;
	default: return 0;
	}
}

const char *tra_agg_name(TraAgg agg)
{
	static const char *const names[] = {"none", "sum", "prod", "max", "min", "mean", "argmax", "argmin"};
	return names[agg];
}

int tra_node_new(TraGraph *g, const TraNode *proto)
{
	ARENA_RESERVE(g->arena, g->nodes, g->nnodes, g->nodecap);
	g->nodes[g->nnodes] = *proto;
	return g->nnodes++;
}

int tra_expr_new(TraGraph *g, TraOp op, int arg, double value, int a, int b, int c)
{
	ARENA_RESERVE(g->arena, g->ex, g->nex, g->excap);
	g->ex[g->nex] = (TraExpr){.op = op, .arg = arg, .value = value, .kid = {a, b, c}};
	return g->nex++;
}

int tra_operand_add(Arena *a, TraOperandList *l, int node, int rank, const int *idx)
{
	for (int k = 0; k < l->n; k++)
		if (l->ops[k].node == node && l->ops[k].rank == rank &&
		    memcmp(l->ops[k].idx, idx, (size_t)rank * sizeof *idx) == 0)
			return k;
	ARENA_RESERVE(a, l->ops, l->n, l->cap);
	TraOperand *op = &l->ops[l->n];
	op->node = node;
	op->rank = rank;
	op->idx = arena_alloc(a, (size_t)(rank + 1) * sizeof *op->idx);
	memcpy(op->idx, idx, (size_t)rank * sizeof *idx);
	return l->n++;
}

int64_t tra_node_elements(const TraNode *n)
{
	int64_t e = 1;
	for (int d = 0; d < n->rank; d++)
		e *= n->idx[d].size;
	return e;
}

/* C order: the last dimension is contiguous. */
int64_t tra_node_stride(const TraNode *n, int d)
{
	int64_t s = 1;
	for (int e = d + 1; e < n->rank; e++)
		s *= n->idx[e].size;
	return s;
}

/* An operand may read one index in several dimensions (a diagonal,
 * S[j, j]): one step of it moves along each of them. */
int64_t tra_operand_stride(const TraGraph *g, const TraNode *n, int k, int x)
{
	const TraOperand *op = &n->ops[k];
	int64_t s = 0;
	for (int d = 0; d < op->rank; d++)
		if (op->aff)
			s += op->aff->coef[d * n->nidx + x] * tra_node_stride(&g->nodes[op->node], d);
		else if (op->idx[d] == x)
			s += tra_node_stride(&g->nodes[op->node], d);
	return s;
}

bool tra_node_is_view(const TraNode *n)
{
	return n->view;
}

TrartDtype tra_node_join_type(const TraNode *n)
{
	return TRA_AGG_IS_ARG(n->agg) ? n->arg_type : n->type;
}

int64_t tra_gather_bound(const TraGraph *g, int id)
{
	int64_t best = 0;
	for (int v = id + 1; v < g->nnodes; v++) {
		const TraNode *n = &g->nodes[v];
		if (!tra_node_is_view(n) || !n->ops[0].aff->gather)
			continue;
		for (int d = 0; d < n->ops[0].rank; d++) {
			int k = n->ops[0].aff->gather[d];
			int64_t size = g->nodes[n->ops[0].node].idx[d].size;
			if (k >= 0 && n->ops[k].node == id && (best == 0 || size < best))
				best = size;
		}
	}
	return best;
}

bool tra_node_is_scatter(const TraNode *n)
{
	return n->scatter != NULL;
}

bool tra_node_is_loop(const TraNode *n, int x)
{
	return !n->scatter || x >= n->rank || n->scatter[x] < 0;
}

bool tra_node_is_opaque(const TraNode *n)
{
	return tra_node_is_view(n) || tra_node_is_scatter(n) || TRA_AGG_IS_ARG(n->agg);
}

bool tra_node_kept(const TraNode *n)
{
	return n->is_output || n->pinned;
}

void tra_affine_span(const TraOperand *op, int nidx, int d, const int64_t *xlo, const int64_t *xhi,
                     int64_t *lo, int64_t *hi)
{
	*lo = *hi = op->aff->off[d];
	for (int x = 0; x < nidx; x++) {
		int64_t c = op->aff->coef[d * nidx + x];
		*lo += c * (c > 0 ? xlo[x] : xhi[x] - 1);
		*hi += c * (c > 0 ? xhi[x] - 1 : xlo[x]);
	}
}

void tra_live_nodes(const TraGraph *g, bool *live)
{
	memset(live, 0, (size_t)g->nnodes * sizeof *live);
	for (int i = 0; i < g->noutputs; i++)
		live[g->outputs[i]] = true;
	for (int id = g->nnodes - 1; id >= 0; id--)
		if (live[id])
			for (int k = 0; k < g->nodes[id].nops; k++)
				live[g->nodes[id].ops[k].node] = true;
}

/* Recursive; depth at most TRA_MAX_EXPR_DEPTH (tra_verify checks it). */
int tra_expr_size(const TraGraph *g, int e)
{
	if (e < 0)
		return 0;
	int n = 1;
	for (int k = 0; k < tra_op_arity[g->ex[e].op]; k++)
		n += tra_expr_size(g, g->ex[e].kid[k]);
	return n;
}

/* Recursive; depth at most TRA_MAX_EXPR_DEPTH (tra_verify checks it). */
int tra_expr_product_operands(const TraGraph *g, int e)
{
	const TraExpr *x = &g->ex[e];
	if (x->op == TRA_OP_OPERAND)
		return 1;
	if (x->op == TRA_OP_CONST)
		return 0;
	if (x->op != TRA_OP_MUL)
		return -1;
	int a = tra_expr_product_operands(g, x->kid[0]), b = tra_expr_product_operands(g, x->kid[1]);
	return a < 0 || b < 0 ? -1 : a + b;
}

/* In double, like the cost model's figures: a sum of these may pass 2^63. */
double tra_node_result_bytes(const TraNode *n)
{
	return (double)tra_node_elements(n) * (double)trart_dtype_size(n->type);
}

double tra_node_join_points(const TraNode *n)
{
	double e = 1; /* may exceed 2^63: only the outputs must fit in memory */
	for (int d = 0; d < n->nidx; d++)
		if (tra_node_is_loop(n, d))
			e *= (double)n->idx[d].size;
	return e;
}

/* Recursive; depth at most TRA_MAX_EXPR_DEPTH (tra_verify checks it). */
double tra_expr_flops(const TraGraph *g, int e)
{
	if (e < 0)
		return 0;
	const TraExpr *x = &g->ex[e];
	double f = tra_op_flops[x->op];
	for (int k = 0; k < tra_op_arity[x->op]; k++)
		f += tra_expr_flops(g, x->kid[k]);
	return f;
}

/* Recursive; depth at most TRA_MAX_EXPR_DEPTH (tra_verify checks it). */
bool tra_expr_uses(const TraGraph *g, int e, TraOp op)
{
	if (e < 0)
		return false;
	const TraExpr *x = &g->ex[e];
	if (x->op == op)
		return true;
	for (int k = 0; k < tra_op_arity[x->op]; k++)
		if (tra_expr_uses(g, x->kid[k], op))
			return true;
	return false;
}

void tra_node_cost(const TraGraph *g, TraNode *n)
{
	double esize = (double)trart_dtype_size(n->type);
	double points = tra_node_join_points(n);
	double elements = (double)tra_node_elements(n);
	if (n->kind == TRA_NODE_INPUT) {
		n->flops = 0;
		n->bytes = elements * esize;
		return;
	}
	double per_point = tra_expr_flops(g, n->join) + (n->agg != TRA_AGG_NONE);
	n->flops = points * per_point + elements * tra_expr_flops(g, n->epilogue);
	n->bytes = elements * esize;
	for (int k = 0; k < n->nops; k++)
		n->bytes += (double)tra_node_elements(&g->nodes[n->ops[k].node]) * esize;
}

/* ---- the dump -------------------------------------------------------------- */

/* Binding strength of an expression, for parenthesising. */
static int tra_prec(TraOp op)
{
	switch (op) {
	case TRA_OP_LT: case TRA_OP_LE: case TRA_OP_GT:
	case TRA_OP_GE: case TRA_OP_EQ: case TRA_OP_NE:
		return 1;
	case TRA_OP_ADD: case TRA_OP_SUB: return 2;
	case TRA_OP_MUL: case TRA_OP_DIV: return 3;
	case TRA_OP_NEG: return 4;
	default: return 5;
	}
}

static void tra_dump_operand(const TraGraph *g, const TraNode *n, int k, FILE *out);

/* Dimension d of an affine read as a subscript: "h + r - 1", "2 * i", "0". */
static void tra_dump_affine(const TraAffine *aff, const TraNode *n, int d, FILE *out)
{
	bool any = false;
	for (int x = 0; x < n->nidx; x++) {
		int64_t c = aff->coef[d * n->nidx + x];
		if (c == 0)
			continue;
		int64_t m = c < 0 ? -c : c;
		fputs(any ? (c < 0 ? " - " : " + ") : (c < 0 ? "-" : ""), out);
		if (m != 1)
			fprintf(out, "%" PRId64 " * ", m);
		fputs(n->idx[x].name, out);
		any = true;
	}
	int64_t o = aff->off[d];
	if (any && o)
		fprintf(out, " %c %" PRId64, o < 0 ? '-' : '+', o < 0 ? -o : o);
	else if (!any)
		fprintf(out, "%" PRId64, o);
}

static void tra_dump_operand(const TraGraph *g, const TraNode *n, int k, FILE *out)
{
	const TraOperand *op = &n->ops[k];
	fputs(g->nodes[op->node].name, out);
	if (op->rank == 0)
		return;
	fputc('[', out);
	for (int d = 0; d < op->rank; d++) {
		if (d)
			fputs(", ", out);
		if (op->aff && op->aff->gather && op->aff->gather[d] >= 0)
			tra_dump_operand(g, n, op->aff->gather[d], out);
		else if (op->aff)
			tra_dump_affine(op->aff, n, d, out);
		else
			fputs(n->idx[op->idx[d]].name, out);
	}
	if (op->aff && op->aff->padded) {
		if (isinf(op->aff->pad))
			fputs(op->aff->pad < 0 ? ", pad=-inf" : ", pad=inf", out);
		else
			fprintf(out, ", pad=%.9g", op->aff->pad);
	}
	fputc(']', out);
}

static void tra_dump_expr(const TraGraph *g, const TraNode *n, int e, int prec, FILE *out);

static void tra_dump_infix(const TraGraph *g, const TraNode *n, const TraExpr *x, int prec, FILE *out)
{
	int p = tra_prec(x->op);
	if (p < prec)
		fputc('(', out);
	if (x->op == TRA_OP_NEG) {
		fputc('-', out);
		tra_dump_expr(g, n, x->kid[0], p, out);
	} else {
		/* left-associative: the right operand needs parens at equal strength */
		tra_dump_expr(g, n, x->kid[0], p, out);
		fprintf(out, " %s ", tra_op_name[x->op]);
		tra_dump_expr(g, n, x->kid[1], p + 1, out);
	}
	if (p < prec)
		fputc(')', out);
}

/* The name t<number> of the LET at e: the LETs from it down its chain
 * (itself included), so that the innermost is t1 and the name depends
 * on the expression alone, never on expression ids. */
static int tra_let_number(const TraGraph *g, int e)
{
	int k = 0;
	for (; g->ex[e].op == TRA_OP_LET; e = g->ex[e].kid[1])
		k++;
	return k;
}

/* Recursive; depth at most TRA_MAX_EXPR_DEPTH (tra_verify checks it). */
static void tra_dump_expr(const TraGraph *g, const TraNode *n, int e, int prec, FILE *out)
{
	const TraExpr *x = &g->ex[e];
	switch (x->op) {
	case TRA_OP_CONST:
		if (isinf(x->value))
			fputs(x->value < 0 ? "-inf" : "inf", out);
		else
			fprintf(out, x->value < 0 && prec > 2 ? "(%.9g)" : "%.9g", x->value);
		return;
	case TRA_OP_OPERAND: tra_dump_operand(g, n, x->arg, out); return;
	case TRA_OP_INDEX: fputs(n->idx[x->arg].name, out); return;
	case TRA_OP_ACC: fputs("acc", out); return;
	case TRA_OP_VAR: fprintf(out, "t%d", tra_let_number(g, x->arg)); return;
	case TRA_OP_LET:
		if (prec > 0)
			fputc('(', out);
		fprintf(out, "let t%d = ", tra_let_number(g, e));
		tra_dump_expr(g, n, x->kid[0], 0, out);
		fputs(" in ", out);
		tra_dump_expr(g, n, x->kid[1], 0, out);
		if (prec > 0)
			fputc(')', out);
		return;
	default: break;
	}
	if (tra_prec(x->op) < 5) {
		tra_dump_infix(g, n, x, prec, out);
		return;
	}
	fprintf(out, "%s(", tra_op_name[x->op]);
	for (int k = 0; k < tra_op_arity[x->op]; k++) {
		if (k)
			fputs(", ", out);
		tra_dump_expr(g, n, x->kid[k], 0, out);
	}
	fputc(')', out);
}

void tra_expr_dump(const TraGraph *g, const TraNode *n, int e, FILE *out)
{
	tra_dump_expr(g, n, e, 0, out);
}

static void tra_dump_indices(const TraNode *n, int from, int to, FILE *out)
{
	for (int d = from; d < to; d++)
		fprintf(out, "%s%s", d > from ? ", " : "", n->idx[d].name);
}

static void tra_dump_ranges(const TraNode *n, FILE *out)
{
	fputs("   ", out);
	for (int d = 0; d < n->nidx; d++) {
		fprintf(out, " %s: ", n->idx[d].name);
		if (n->idx[d].sname)
			fprintf(out, "%s=", n->idx[d].sname);
		fprintf(out, "%lld", (long long)n->idx[d].size);
	}
	fprintf(out, "   flops %.3g  bytes %.3g\n", n->flops, n->bytes);
}

/* "    partition i:4 j:1 k:2", once a partition is computed. */
static void tra_dump_partition(const TraNode *n, FILE *out)
{
	if (!n->part)
		return;
	fputs("    partition", out);
	for (int d = 0; d < n->nidx; d++)
		fprintf(out, " %s:%d", n->idx[d].name, n->part[d]);
	fputc('\n', out);
}

static void tra_dump_node(const TraGraph *g, int id, FILE *out)
{
	const TraNode *n = &g->nodes[id];
	if (n->note)
		fprintf(out, "# %s: %s\n", n->name, n->note);
	fprintf(out, "%%%d %s%s", id, n->kind == TRA_NODE_INPUT ? "input " : "", n->name);
	if (n->rank && n->kind == TRA_NODE_INPUT) {
		fputc('[', out);
		for (int d = 0; d < n->rank; d++)
			fprintf(out, "%s%s", d ? ", " : "", n->idx[d].sname ? n->idx[d].sname : "_");
		fputc(']', out);
	} else if (n->rank) {
		fputc('[', out);
		tra_dump_indices(n, 0, n->rank, out);
		fputc(']', out);
	}
	fprintf(out, " %s%s", trart_dtype_name(n->type), n->is_output ? " output" : "");
	if (n->kind == TRA_NODE_INPUT) {
		fputs("\n   ", out);
		for (int d = 0; d < n->rank; d++)
			fprintf(out, " %s%s%lld", n->idx[d].sname ? n->idx[d].sname : "",
			        n->idx[d].sname ? "=" : "", (long long)n->idx[d].size);
		fprintf(out, "%sbytes %.3g\n", n->rank ? "   " : " ", n->bytes);
		return;
	}
	fputs(" = ", out);
	if (n->agg == TRA_AGG_NONE) {
		tra_dump_expr(g, n, n->join, 0, out);
		fputc('\n', out);
	} else {
		if (n->epilogue >= 0)
			tra_dump_expr(g, n, n->epilogue, 0, out);
		else
			fputs("acc", out);
		fprintf(out, "\n    acc = %s[", tra_agg_name(n->agg));
		tra_dump_indices(n, n->rank, n->nidx, out);
		fputs("] ", out);
		tra_dump_expr(g, n, n->join, 0, out);
		fputc('\n', out);
	}
	for (int d = 0; n->scatter && d < n->rank; d++)
		if (n->scatter[d] >= 0) {
			fprintf(out, "    scatter %s = ", n->idx[d].name);
			tra_dump_operand(g, n, n->scatter[d], out);
			fputc('\n', out);
		}
	tra_dump_ranges(n, out);
	tra_dump_partition(n, out);
}

void tra_dump(const TraGraph *g, FILE *out)
{
	fprintf(out, "# TRA graph: %d nodes\n# sizes:", g->nnodes);
	for (int i = 0; i < g->nsizes; i++)
		fprintf(out, " %s=%lld%s", g->sizes[i].name, (long long)g->sizes[i].value,
		        g->sizes[i].overridden ? " (-D)" : "");
	fputs("\n# outputs:", out);
	for (int i = 0; i < g->noutputs; i++)
		fprintf(out, " %s", g->nodes[g->outputs[i]].name);
	fputc('\n', out);
	if (g->nfeeds) {
		fputs("# feeds (the next step's inputs):", out);
		for (int i = 0; i < g->nfeeds; i++)
			fprintf(out, " %s -> %s", g->feeds[i].from, g->feeds[i].to);
		fputc('\n', out);
	}
	for (int i = 0; i < g->nnodes; i++)
		tra_dump_node(g, i, out);
}

/* ---- the verifier ------------------------------------------------------------ */

#define TRA_CHECK(cond, ...)                                                  \
	do {                                                                  \
		if (!(cond))                                                  \
			TRAC_BUG("TRA node %d (%s): %s", id, n->name, #cond); \
	} while (0)

/* Whether the LET at let is on the chain of LETs from root down to
 * (excluding) below: the VARs under below may read it. */
static bool tra_let_in_scope(const TraGraph *g, int root, int below, int let)
{
	for (int e = root; e != below && g->ex[e].op == TRA_OP_LET; e = g->ex[e].kid[1])
		if (e == let)
			return true;
	return false;
}

/* Checks expression e of node id, at depth levels below the root: kids
 * exist, leaves are in range, an epilogue reads only output indices, a
 * VAR reads a LET of the chain at the root above it (root; scope: the
 * chain's part above e), LETs occur on that chain only, and the tree is
 * at most TRA_MAX_EXPR_DEPTH deep (which bounds this walk and every
 * other). */
static void tra_verify_expr(const TraGraph *g, int id, int root, int scope, int e, bool epilogue, int depth)
{
	const TraNode *n = &g->nodes[id];
	TRA_CHECK(depth < TRA_MAX_EXPR_DEPTH);
	TRA_CHECK(e >= 0 && e < g->nex);
	const TraExpr *x = &g->ex[e];
	int limit = epilogue ? n->rank : n->nidx;
	switch (x->op) {
	case TRA_OP_OPERAND:
		TRA_CHECK(x->arg >= 0 && x->arg < n->nops);
		/* an affine operand in an epilogue reads output indices only */
		for (int y = n->rank; n->ops[x->arg].aff && epilogue && y < n->nidx; y++)
			for (int d = 0; d < n->ops[x->arg].rank; d++)
				TRA_CHECK(n->ops[x->arg].aff->coef[d * n->nidx + y] == 0);
		for (int d = 0; d < n->ops[x->arg].rank; d++)
			TRA_CHECK(n->ops[x->arg].idx[d] < limit);
		break;
	case TRA_OP_INDEX:
		TRA_CHECK(x->arg >= 0 && x->arg < limit);
		break;
	case TRA_OP_ACC:
		TRA_CHECK(epilogue && n->agg != TRA_AGG_NONE);
		break;
	case TRA_OP_VAR:
		TRA_CHECK(x->arg >= 0 && x->arg < g->nex && tra_let_in_scope(g, root, scope, x->arg));
		break;
	case TRA_OP_LET:
		TRA_CHECK(scope == e); /* on the root's chain: its parent is a LET's body, or none */
		tra_verify_expr(g, id, root, e, x->kid[0], epilogue, depth + 1);
		tra_verify_expr(g, id, root, x->kid[1], x->kid[1], epilogue, depth + 1);
		return;
	default:
		break;
	}
	for (int k = 0; k < tra_op_arity[x->op]; k++)
		tra_verify_expr(g, id, root, scope, x->kid[k], epilogue, depth + 1);
}

static void tra_verify_operand(const TraGraph *g, int id, const TraOperand *op)
{
	const TraNode *n = &g->nodes[id];
	TRA_CHECK(op->node >= 0 && op->node < id);
	const TraNode *p = &g->nodes[op->node];
	TRA_CHECK(op->rank == p->rank);
	/* a view may convert; a gather's positions come from integers */
	TRA_CHECK(p->type == tra_node_join_type(n) || op->aff ||
	          ((tra_node_is_view(n) || tra_node_is_scatter(n)) && op != n->ops && TRART_IS_INT(p->type)));
	if (op->aff) {
		/* a view's first operand, or one that the views pass folded into a
		 * loop kernel; read in bounds unless padded */
		TRA_CHECK(!tra_node_is_view(n) || (op == n->ops && n->agg == TRA_AGG_NONE && n->epilogue < 0));
		int64_t xlo[TRA_MAX_STMT_INDICES] = {0}, xhi[TRA_MAX_STMT_INDICES];
		for (int x = 0; x < n->nidx; x++)
			xhi[x] = n->idx[x].size;
		for (int d = 0; d < op->rank; d++) {
			int64_t lo, hi;
			tra_affine_span(op, n->nidx, d, xlo, xhi, &lo, &hi);
			bool gather = op->aff->gather && op->aff->gather[d] >= 0;
			TRA_CHECK(!gather || (op->aff->gather[d] < n->nops && lo == 0 && hi == 0));
			TRA_CHECK(op->aff->padded || gather || (lo >= 0 && hi < p->idx[d].size));
			TRA_CHECK(op->idx[d] >= -1 && op->idx[d] < n->nidx);
		}
		return;
	}
	for (int d = 0; d < op->rank; d++) {
		TRA_CHECK(op->idx[d] >= 0 && op->idx[d] < n->nidx);
		TRA_CHECK(n->idx[op->idx[d]].size == p->idx[d].size);
	}
}

void tra_feed_nodes(const TraGraph *g, int i, int *from, int *to)
{
	*from = *to = -1;
	for (int id = 0; id < g->nnodes; id++) {
		const TraNode *n = &g->nodes[id];
		if (n->is_output && strcmp(n->name, g->feeds[i].from) == 0)
			*from = id;
		if (n->kind == TRA_NODE_INPUT && strcmp(n->name, g->feeds[i].to) == 0)
			*to = id;
	}
	if (*from < 0 || *to < 0)
		TRAC_BUG("feed %s -> %s: no such output or input", g->feeds[i].from, g->feeds[i].to);
}

/* A scatter-add's shape (tra_node_is_scatter): operands read plainly at
 * loop indices, the first the values, the others integer positions. */
static void tra_verify_scatter(const TraGraph *g, int id)
{
	const TraNode *n = &g->nodes[id];
	TRA_CHECK(n->agg == TRA_AGG_SUM && n->epilogue < 0 && n->nops >= 2);
	TRA_CHECK(g->ex[n->join].op == TRA_OP_OPERAND && g->ex[n->join].arg == 0);
	for (int k = 0; k < n->nops; k++) {
		const TraOperand *op = &n->ops[k];
		TRA_CHECK(!op->aff && (k == 0) != TRART_IS_INT(g->nodes[op->node].type));
		for (int d = 0; d < op->rank; d++)
			TRA_CHECK(tra_node_is_loop(n, op->idx[d]));
	}
	for (int d = 0; d < n->rank; d++)
		TRA_CHECK(n->scatter[d] < 0 || (n->scatter[d] >= 1 && n->scatter[d] < n->nops));
}

void tra_verify(const TraGraph *g)
{
	for (int id = 0; id < g->nnodes; id++) {
		const TraNode *n = &g->nodes[id];
		TRA_CHECK(n->rank >= 0 && n->rank <= n->nidx && n->rank <= TRA_MAX_RANK);
		for (int d = 0; d < n->nidx; d++)
			TRA_CHECK(n->idx[d].size >= 1);
		if (n->kind == TRA_NODE_INPUT) {
			TRA_CHECK(n->nops == 0 && n->nidx == n->rank);
			continue;
		}
		TRA_CHECK((n->agg == TRA_AGG_NONE) == (n->nidx == n->rank) || tra_node_is_scatter(n));
		TRA_CHECK(n->agg != TRA_AGG_MEAN);
		if (tra_node_is_scatter(n))
			tra_verify_scatter(g, id);
		TRA_CHECK(!TRA_AGG_IS_ARG(n->agg) ||
		          (n->nidx == n->rank + 1 && n->epilogue < 0 && n->type == TRART_I64));
		for (int k = 0; k < n->nops; k++)
			tra_verify_operand(g, id, &n->ops[k]);
		tra_verify_expr(g, id, n->join, n->join, n->join, false, 0);
		if (n->epilogue >= 0)
			tra_verify_expr(g, id, n->epilogue, n->epilogue, n->epilogue, true, 0);
	}
	for (int i = 0; i < g->noutputs; i++)
		TRAC_ASSERT(g->outputs[i] >= 0 && g->outputs[i] < g->nnodes && g->nodes[g->outputs[i]].is_output);
	for (int i = 0, from, to; i < g->nfeeds; i++)
		tra_feed_nodes(g, i, &from, &to);
}

/* ---- helpers the passes share ------------------------------------------------- */

uint64_t tra_index_mask(int n)
{
	return n >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << n) - 1;
}

uint64_t tra_expr_indices(const TraGraph *g, const TraNode *n, int e)
{
	const TraExpr *x = &g->ex[e];
	uint64_t s = 0;
	switch (x->op) {
	case TRA_OP_OPERAND: {
		const TraOperand *op = &n->ops[x->arg];
		for (int d = 0; d < op->rank; d++)
			if (!op->aff)
				s |= (uint64_t)1 << (op->idx[d] & 63);
			else
				for (int y = 0; y < n->nidx; y++)
					if (op->aff->coef[d * n->nidx + y] != 0)
						s |= (uint64_t)1 << (y & 63);
		return s;
	}
	case TRA_OP_INDEX: return (uint64_t)1 << (x->arg & 63);
	case TRA_OP_ACC: return tra_index_mask(n->rank);
	case TRA_OP_VAR: return tra_expr_indices(g, n, g->ex[x->arg].kid[0]);
	default: break;
	}
	for (int k = 0; k < tra_op_arity[x->op]; k++)
		s |= tra_expr_indices(g, n, x->kid[k]);
	return s;
}

/* Copies e; a VAR of one of the n LETs from[i] reads its copy to[i]. */
static int tra_copy(TraGraph *g, int e, const int *from, const int *to, int n)
{
	TraExpr x = g->ex[e];
	if (x.op == TRA_OP_VAR)
		for (int i = 0; i < n; i++)
			if (from[i] == x.arg)
				x.arg = to[i];
	for (int k = 0; k < tra_op_arity[x.op]; k++)
		x.kid[k] = tra_copy(g, x.kid[k], from, to, n);
	return tra_expr_new(g, x.op, x.arg, x.value, x.kid[0], x.kid[1], x.kid[2]);
}

int tra_expr_copy(TraGraph *g, int e)
{
	int n = 0;
	for (int l = e; g->ex[l].op == TRA_OP_LET; l = g->ex[l].kid[1])
		n++;
	if (n == 0)
		return tra_copy(g, e, NULL, NULL, 0);
	/* the chain first, so that the VARs below can be mapped to it */
	int *from = xcalloc((size_t)n, sizeof *from), *to = xcalloc((size_t)n, sizeof *to), i = 0;
	for (int l = e; g->ex[l].op == TRA_OP_LET; l = g->ex[l].kid[1], i++) {
		from[i] = l;
		to[i] = tra_expr_new(g, TRA_OP_LET, 0, 0, -1, -1, -1);
	}
	for (i = 0; i < n; i++) {
		int v = tra_copy(g, g->ex[from[i]].kid[0], from, to, n);
		g->ex[to[i]].kid[0] = v;
	}
	int body = tra_copy(g, g->ex[from[n - 1]].kid[1], from, to, n);
	for (i = 0; i < n; i++)
		g->ex[to[i]].kid[1] = i + 1 < n ? to[i + 1] : body;
	int root = to[0];
	free(from);
	free(to);
	return root;
}

/* Renumbers the OPERAND leaves of e into l, in the order they are met. */
static void tra_renumber_operands(TraGraph *g, const TraNode *n, int e, TraOperandList *l)
{
	TraExpr *x = &g->ex[e];
	if (x->op == TRA_OP_OPERAND) {
		const TraOperand *op = &n->ops[x->arg];
		if (op->aff) { /* affine reads are merged only with themselves */
			int k = 0;
			while (k < l->n && l->ops[k].aff != op->aff)
				k++;
			if (k == l->n) {
				ARENA_RESERVE(g->arena, l->ops, l->n, l->cap);
				l->ops[l->n++] = *op;
			}
			x->arg = k;
			return;
		}
		x->arg = tra_operand_add(g->arena, l, op->node, op->rank, op->idx);
		return;
	}
	for (int k = 0; k < tra_op_arity[x->op]; k++)
		tra_renumber_operands(g, n, g->ex[e].kid[k], l);
}

void tra_node_compact_operands(TraGraph *g, TraNode *n)
{
	if (n->kind != TRA_NODE_EINSUM || tra_node_is_view(n) || tra_node_is_scatter(n))
		return;
	TraOperandList l = {0};
	tra_renumber_operands(g, n, n->join, &l);
	if (n->epilogue >= 0)
		tra_renumber_operands(g, n, n->epilogue, &l);
	n->ops = l.ops;
	n->nops = l.n;
}
