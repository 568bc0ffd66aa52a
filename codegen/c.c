/* codegen/c.c: the C back end.
 * needs: a verified TraGraph (after the TRA passes), whose kernels it
 * plans with kplan_build. gives: a C file that, linked with libtrart and
 * OpenBLAS, is the program.
 *
 * Every einsum node becomes one kernel function `static void k_ID(void
 * *const *bufs)`, where bufs holds every tensor's buffer by node id; the
 * tensors and kernels become static tables (a TrartProgram) that the
 * runtime's trart_main or trart_execute runs.
 *
 * What each kernel runs is decided in compiler/kplan.c (the rules are
 * stated there): a KplanProgram says which nodes are BLAS calls (and
 * gemm.c's GemmPlan how), and for loop nests the loop order, the loop
 * split across threads, the vector loop, the reduction strategy (simd,
 * a columnwise tile, blocked pairwise) and its accumulator, row groups
 * and their rows per chunk, split reductions and their aggregations.
 * This file only prints those plans as C:
 *
 *   - BLAS: cblas_sgemm/dgemm (or gemv) calls inside loops over the
 *     batch and outer K indices, on the operands in place or their
 *     permuted scratch copies, then the epilogue pass (or, in panels,
 *     each panel's epilogue right after it).
 *   - Loops: output indices outside (the first split across threads by
 *     trart_parallel_for, or by the block tasks' ranges); a contiguous
 *     reduction as an OpenMP simd reduction; a columnwise one as a tile
 *     of partial results updated by vector loops; a long sum in blocks
 *     pushed into a pairwise sum (trac_pw_push); a row group as
 *     g<lead>_body, chunk of rows by chunk of rows.
 *   - Element functions: exp, log, tanh, sigmoid, pow, sin, cos, erf,
 *     exp2, log2, expm1, log1p, rsqrt and sign call trart.h's branch-free
 *     versions (TRART_KERNEL_MATH); sqrt, abs, floor, ceil and round
 *     (rint) are instructions, so every map and join vectorises; glibc's
 *     would not without -ffast-math.
 *
 * Scalar code is written in the node's element type, with helpers that
 * give max, min and the aggregations the interpreter's NaN semantics.
 * cblas is declared here with int arguments (its enums' ABI) so the
 * generated file needs no BLAS header.
 */
#include "c.h"
#include "memgraph.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"


const char *cg_c_type(TrartDtype t)
{
	static const char *const names[] = {"float", "double", "int32_t", "int64_t"};
	return names[t];
}

/* How trart.h spells a dtype: TRART_F32 ... */
static const char *cg_c_dtype(TrartDtype t)
{
	static const char *const names[] = {"TRART_F32", "TRART_F64", "TRART_I32", "TRART_I64"};
	return names[t];
}

/* The type of operand k's producer: a view's may differ from n's. */
const char *cg_c_in_type(const CgC *c, const TraNode *n, int k)
{
	return cg_c_type(c->g->nodes[n->ops[k].node].type);
}

/* The suffix of math.h functions for a type: expf or exp. */
static const char *cg_c_fsuffix(TrartDtype t)
{
	return t == TRART_F32 ? "f" : "";
}

/* ---- expressions ---------------------------------------------------------- */

/* A gather's position in dimension d of operand op: the value of the
 * index operand, checked (trac_gather) unless the read is padded. */
static void cg_c_gather_position(CgC *c, const TraNode *n, const TraOperand *op, int d)
{
	int k = op->aff->gather[d];
	const TraNode *ix = &c->g->nodes[n->ops[k].node], *t = &c->g->nodes[op->node];
	if (!op->aff->padded)
		fputs("trac_gather(", c->out);
	fprintf(c->out, "(int64_t)in%d[", k);
	cg_c_offset(c, n, k);
	fputc(']', c->out);
	if (op->aff->padded)
		return;
	fprintf(c->out, ", %" PRId64 ", \"%s\", %d, (const int64_t[]){", t->idx[d].size, ix->name, ix->rank);
	for (int e = 0; e < ix->rank; e++)
		fprintf(c->out, "%s%" PRId64, e ? ", " : "", ix->idx[e].size);
	fprintf(c->out, "%s}, ", ix->rank ? "" : "0");
	cg_c_offset(c, n, k);
	fprintf(c->out, ", \"%s\", %d)", t->name, d);
}

/* Position d of affine operand op, "(x2 + x4 - 1)", clamped into
 * [0, size) when clamp (its padded read then loads a valid element,
 * so the select around it vectorises). */
static void cg_c_affine_position(CgC *c, const TraNode *n, const TraOperand *op, int d, bool clamp)
{
	int64_t size = c->g->nodes[op->node].idx[d].size;
	if (clamp)
		fputs("trac_clamp(", c->out);
	if (op->aff->gather && op->aff->gather[d] >= 0) {
		cg_c_gather_position(c, n, op, d);
		if (clamp)
			fprintf(c->out, ", %" PRId64 ")", size - 1);
		return;
	}
	fprintf(c->out, "(%" PRId64, op->aff->off[d]);
	for (int x = 0; x < n->nidx; x++) {
		int64_t k = op->aff->coef[d * n->nidx + x];
		if (k)
			fprintf(c->out, " + %" PRId64 " * x%d", k, x);
	}
	fputc(')', c->out);
	if (clamp)
		fprintf(c->out, ", %" PRId64 ")", size - 1);
}

/* A padded affine operand's condition: every position within its dimension. */
static void cg_c_affine_inside(CgC *c, const TraNode *n, const TraOperand *op)
{
	for (int d = 0; d < op->rank; d++) {
		fprintf(c->out, "%s(uint64_t)", d ? " && " : "");
		cg_c_affine_position(c, n, op, d, false);
		fprintf(c->out, " < %" PRId64 "u", c->g->nodes[op->node].idx[d].size);
	}
	if (op->rank == 0)
		fputc('1', c->out);
}

/* The element offset of operand k at the current loop variables x0, x1, ... */
void cg_c_offset(CgC *c, const TraNode *n, int k)
{
	const TraOperand *op = &n->ops[k];
	const TraNode *p = &c->g->nodes[op->node];
	bool any = false;
	if (op->aff) {
		for (int d = 0; d < op->rank; d++) {
			fputs(any ? " + " : "", c->out);
			cg_c_affine_position(c, n, op, d, op->aff->padded);
			fprintf(c->out, " * %" PRId64, tra_node_stride(p, d));
			any = true;
		}
		if (!any)
			fputc('0', c->out);
		return;
	}
	for (int d = 0; d < op->rank; d++) {
		if (p->idx[d].size == 1)
			continue;
		int64_t s = tra_node_stride(p, d);
		fprintf(c->out, "%sx%d", any ? " + " : "", op->idx[d]);
		if (s != 1)
			fprintf(c->out, " * %" PRId64, s);
		any = true;
	}
	if (!any)
		fputc('0', c->out);
}

static void cg_c_const(CgC *c, TrartDtype t, double v)
{
	if (TRART_IS_INT(t)) {
		/* integral (sema); -2^63 cannot be written as a literal */
		if (v <= -0x1p63)
			fputs("INT64_MIN", c->out);
		else if (v >= 0x1p63)
			fputs("INT64_MAX", c->out);
		else
			fprintf(c->out, t == TRART_I64 ? "INT64_C(%" PRId64 ")" : "(%" PRId64 ")", (int64_t)v);
		return;
	}
	if (isinf(v)) {
		fprintf(c->out, "(%sINFINITY)", v < 0 ? "-" : "");
		return;
	}
	char buf[40];
	snprintf(buf, sizeof buf, t == TRART_F32 ? "%.9g" : "%.17g", v);
	/* %g may print an integer, and 2f is not C: 2.0f is */
	bool integral = strpbrk(buf, ".e") == NULL;
	fprintf(c->out, "%s%s%s%s", v < 0 ? "(" : "", buf, integral ? ".0" : "",
	        t == TRART_F32 ? "f" : "");
	if (v < 0)
		fputc(')', c->out);
}

static void cg_c_call(CgC *c, const TraNode *n, const char *fn, const TraExpr *x)
{
	fprintf(c->out, "%s(", fn);
	for (int k = 0; k < tra_op_arity[x->op]; k++) {
		if (k)
			fputs(", ", c->out);
		cg_c_expr(c, n, x->kid[k]);
	}
	fputc(')', c->out);
}

static void cg_c_binary(CgC *c, const TraNode *n, const char *op, const TraExpr *x, bool as_number)
{
	if (as_number)
		fprintf(c->out, "(%s)", cg_c_type(tra_node_join_type(n)));
	fputc('(', c->out);
	cg_c_expr(c, n, x->kid[0]);
	fprintf(c->out, " %s ", op);
	cg_c_expr(c, n, x->kid[1]);
	fputc(')', c->out);
}

/* Expression e of node n, as C over in<k>[...], x<i> and acc. */
/* Recursive; depth at most TRA_MAX_EXPR_DEPTH (tra_verify checks it). */
void cg_c_expr(CgC *c, const TraNode *n, int e)
{
	const TraExpr *x = &c->g->ex[e];
	char fn[32];
	switch (x->op) {
	case TRA_OP_CONST: cg_c_const(c, tra_node_join_type(n), x->value); return;
	case TRA_OP_OPERAND:
		if (n->ops[x->arg].aff && n->ops[x->arg].aff->padded) {
			fputc('(', c->out);
			cg_c_affine_inside(c, n, &n->ops[x->arg]);
			fputs(" ? ", c->out);
		}
		TrartDtype from = c->g->nodes[n->ops[x->arg].node].type;
		if (from != tra_node_join_type(n)) /* a view that converts */
			fprintf(c->out, "trac_%s_to_%s(", cg_c_type(from), cg_c_type(tra_node_join_type(n)));
		fprintf(c->out, "in%d[", x->arg);
		cg_c_offset(c, n, x->arg);
		fputc(']', c->out);
		if (from != tra_node_join_type(n))
			fputc(')', c->out);
		if (n->ops[x->arg].aff && n->ops[x->arg].aff->padded) {
			fputs(" : ", c->out);
			cg_c_const(c, tra_node_join_type(n), n->ops[x->arg].aff->pad);
			fputc(')', c->out);
		}
		return;
	case TRA_OP_INDEX: fprintf(c->out, "(%s)x%d", cg_c_type(tra_node_join_type(n)), x->arg); return;
	case TRA_OP_ACC: fputs("acc", c->out); return;
	/* C has no let expression: a VAR is its value written again, which
	 * the C compiler evaluates once (the value is pure: trart.h's
	 * functions are static inline) from -O1 on; LLVM binds it. */
	case TRA_OP_LET: cg_c_expr(c, n, x->kid[1]); return;
	case TRA_OP_VAR: cg_c_expr(c, n, c->g->ex[x->arg].kid[0]); return;
	case TRA_OP_NEG: fputs("(-", c->out); cg_c_expr(c, n, x->kid[0]); fputc(')', c->out); return;
	case TRA_OP_ADD: cg_c_binary(c, n, "+", x, false); return;
	case TRA_OP_SUB: cg_c_binary(c, n, "-", x, false); return;
	case TRA_OP_MUL: cg_c_binary(c, n, "*", x, false); return;
	case TRA_OP_DIV:
		if (TRART_IS_INT(tra_node_join_type(n))) { /* floor division (trac_div_T) */
			snprintf(fn, sizeof fn, "trac_div_%s", cg_c_type(tra_node_join_type(n)));
			cg_c_call(c, n, fn, x);
			return;
		}
		cg_c_binary(c, n, "/", x, false);
		return;
	case TRA_OP_LT: cg_c_binary(c, n, "<", x, true); return;
	case TRA_OP_LE: cg_c_binary(c, n, "<=", x, true); return;
	case TRA_OP_GT: cg_c_binary(c, n, ">", x, true); return;
	case TRA_OP_GE: cg_c_binary(c, n, ">=", x, true); return;
	case TRA_OP_EQ: cg_c_binary(c, n, "==", x, true); return;
	case TRA_OP_NE: cg_c_binary(c, n, "!=", x, true); return;
	case TRA_OP_SELECT:
		fputs("(", c->out);
		cg_c_expr(c, n, x->kid[0]);
		fputs(" != 0 ? ", c->out);
		cg_c_expr(c, n, x->kid[1]);
		fputs(" : ", c->out);
		cg_c_expr(c, n, x->kid[2]);
		fputc(')', c->out);
		return;
	case TRA_OP_EXP: case TRA_OP_LOG: case TRA_OP_TANH: case TRA_OP_POW: case TRA_OP_SIGMOID:
	case TRA_OP_SIN: case TRA_OP_COS: case TRA_OP_EXP2: case TRA_OP_LOG2: case TRA_OP_EXPM1:
	case TRA_OP_LOG1P: case TRA_OP_RSQRT: case TRA_OP_SIGN: case TRA_OP_ERF:
		/* trart.h's branch-free versions, which vectorise; the prelude's
		 * trac_sign_T for integers */
		snprintf(fn, sizeof fn, "%s_%s_%s", TRART_IS_INT(tra_node_join_type(n)) ? "trac" : "trart",
		         tra_op_name[x->op], cg_c_type(tra_node_join_type(n)));
		cg_c_call(c, n, fn, x);
		return;
	case TRA_OP_SQRT: /* a vector instruction under -fno-math-errno */
		snprintf(fn, sizeof fn, "sqrt%s", cg_c_fsuffix(tra_node_join_type(n)));
		cg_c_call(c, n, fn, x);
		return;
	case TRA_OP_ABS:
		if (TRART_IS_INT(tra_node_join_type(n)))
			snprintf(fn, sizeof fn, "trac_abs_%s", cg_c_type(tra_node_join_type(n)));
		else
			snprintf(fn, sizeof fn, "fabs%s", cg_c_fsuffix(tra_node_join_type(n)));
		cg_c_call(c, n, fn, x);
		return;
	case TRA_OP_FLOOR: case TRA_OP_CEIL: case TRA_OP_ROUND: /* vector instructions too */
		snprintf(fn, sizeof fn, "%s%s", x->op == TRA_OP_ROUND ? "rint" : tra_op_name[x->op],
		         cg_c_fsuffix(tra_node_join_type(n)));
		cg_c_call(c, n, fn, x);
		return;
	default: /* relu max min: helpers in the prelude */
		snprintf(fn, sizeof fn, "trac_%s_%s", tra_op_name[x->op], cg_c_type(tra_node_join_type(n)));
		cg_c_call(c, n, fn, x);
		return;
	}
}

/* ---- the prelude: helpers every generated file has ----------------------- */

/* The C file's head: headers, cblas, gathered positions. */
static const char cg_c_prelude_text[] =
	"#include <math.h>\n"
	"#include <stdint.h>\n"
	"#include <stdlib.h>\n"
	"#include <string.h>\n"
	"#define TRART_KERNEL_MATH /* trart.h's vectorisable exp, log, tanh, pow */\n"
	"#include \"trart.h\"\n"
	"\n"
	"void cblas_sgemm(int, int, int, int, int, int, float, const float *, int,\n"
	"                 const float *, int, float, float *, int);\n"
	"void cblas_dgemm(int, int, int, int, int, int, double, const double *, int,\n"
	"                 const double *, int, double, double *, int);\n"
	"void cblas_sgemv(int, int, int, int, float, const float *, int, const float *, int,\n"
	"                 float, float *, int);\n"
	"void cblas_dgemv(int, int, int, int, double, const double *, int, const double *, int,\n"
	"                 double, double *, int);\n"
	"enum { TRAC_ROW_MAJOR = 101, TRAC_NO_TRANS = 111, TRAC_TRANS = 112 };\n"
	"/* a gather's position, checked: out of range ends the run (trart_gather_fail) */\n"
	"static inline int64_t trac_gather(int64_t v, int64_t size, const char *index, int rank,\n"
	"                                  const int64_t *shape, int64_t at, const char *table, int dim)\n"
	"{\n"
	"\tif ((uint64_t)v >= (uint64_t)size)\n"
	"\t\ttrart_gather_fail(index, rank, shape, at, v, table, dim, size);\n"
	"\treturn v;\n"
	"}\n"
	"\n"
	"#define TRAC_FN static inline\n";

/* The helpers' semantics, shared with codegen/cuda.c (whose TRAC_FN makes
 * them device functions): padded reads' positions; max and min
 * propagating a NaN from either side (the interpreter's semantics; the
 * aggregations too, through a flag: cg_c_combine); pairwise sums of
 * blocks; integer arithmetic that wraps, with floor division; saturating
 * conversions. */
const char cg_c_helpers_text[] =
	"/* a padded read's position, kept within its dimension */\n"
	"TRAC_FN int64_t trac_clamp(int64_t p, int64_t last) { return p < 0 ? 0 : p > last ? last : p; }\n"
	"#define TRAC_HELPERS(T, S)                                                    \\\n"
	"TRAC_FN T trac_max_##T(T a, T b) { return b != b ? b : (a != a || a > b ? a : b); } \\\n"
	"TRAC_FN T trac_min_##T(T a, T b) { return b != b ? b : (a != a || a < b ? a : b); } \\\n"
	"TRAC_FN T trac_relu_##T(T a) { return a < 0 ? (T)0 : a; }           \\\n"
	"/* pairwise summation of blocks: lvl[i] holds the sum of 2^i blocks \\\n"
	"   while bit i of count is set (a binary counter) */                  \\\n"
	"typedef struct trac_pairwise_##T { T lvl[64]; int64_t count; } trac_pairwise_##T; \\\n"
	"TRAC_FN void trac_pw_push_##T(trac_pairwise_##T *p, T s)          \\\n"
	"{                                                                     \\\n"
	"\tint i = 0;                                                          \\\n"
	"\tfor (int64_t k = p->count++; k & 1; k >>= 1)                         \\\n"
	"\t\ts = p->lvl[i++] + s;                                             \\\n"
	"\tp->lvl[i] = s;                                                      \\\n"
	"}                                                                     \\\n"
	"TRAC_FN T trac_pw_total_##T(const trac_pairwise_##T *p, T s)     \\\n"
	"{                                                                     \\\n"
	"\tfor (int i = 0; p->count >> i; i++) /* to count's highest bit */  \\\n"
	"\t\tif (p->count >> i & 1)                                            \\\n"
	"\t\t\ts += p->lvl[i];                                                \\\n"
	"\treturn s;                                                           \\\n"
	"}\n"
	"TRAC_HELPERS(float, f)\n"
	"TRAC_HELPERS(double, )\n"
	"TRAC_HELPERS(int32_t, )\n"
	"TRAC_HELPERS(int64_t, )\n"
	"/* integer arithmetic (tra(5), TYPES): + - * wrap (the file is compiled\n"
	"   with -fwrapv), / is floor division with x / 0 = 0, abs(MIN) = MIN */\n"
	"#define TRAC_INT_HELPERS(T, U)                                                 \\\n"
	"TRAC_FN T trac_div_##T(T a, T b)                                        \\\n"
	"{                                                                              \\\n"
	"\tif (b == 0 || b == -1)                                                       \\\n"
	"\t\treturn (T)((U)0 - (U)a * (U)(b == -1));                                     \\\n"
	"\tT q = a / b;                                                                 \\\n"
	"\treturn q - (T)((a % b != 0) & ((a < 0) != (b < 0)));                           \\\n"
	"}                                                                              \\\n"
	"TRAC_FN T trac_abs_##T(T a) { return a < 0 ? (T)((U)0 - (U)a) : a; }     \\\n"
	"TRAC_FN T trac_sign_##T(T a) { return (T)((a > 0) - (a < 0)); }\n"
	"TRAC_INT_HELPERS(int32_t, uint32_t)\n"
	"TRAC_INT_HELPERS(int64_t, uint64_t)\n"
	"/* conversions: to an integer, toward zero, NaN 0, saturating; between\n"
	"   integers, wrapping; to a float, the nearest */\n"
	"#define TRAC_TO_INT(F, T, LO, HI)                                              \\\n"
	"TRAC_FN T trac_##F##_to_##T(F v)                                        \\\n"
	"{ return v != v ? 0 : v <= (F)(LO) ? (T)(LO) : v >= (F)(HI) ? (T)(HI) : (T)v; }\n"
	"TRAC_TO_INT(float, int32_t, -0x1p31, 0x1p31 - 1)\n"
	"TRAC_TO_INT(double, int32_t, -0x1p31, 0x1p31 - 1)\n"
	"TRAC_TO_INT(float, int64_t, INT64_MIN, INT64_MAX)\n"
	"TRAC_TO_INT(double, int64_t, INT64_MIN, INT64_MAX)\n"
	"#define TRAC_CAST(F, T) TRAC_FN T trac_##F##_to_##T(F v) { return (T)v; }\n"
	"TRAC_CAST(float, double) TRAC_CAST(double, float) TRAC_CAST(int32_t, float)\n"
	"TRAC_CAST(int32_t, double) TRAC_CAST(int64_t, float) TRAC_CAST(int64_t, double)\n"
	"TRAC_CAST(int32_t, int64_t)\n"
	"TRAC_FN int32_t trac_int64_t_to_int32_t(int64_t v) { return (int32_t)(uint32_t)(uint64_t)v; }\n";

/* What a kernel's parallel loop bodies see (the C back end's alone). */
static const char cg_c_ctx_text[] =
	"\n"
	"/* what a kernel's parallel loop bodies see */\n"
	"typedef struct TracCtx {\n"
	"\tvoid *const *bufs;\n"
	"\tvoid *acc; /* where it accumulates: a GEMM's result when it is not the output\n"
	"\t             itself, or a row reducer's partial block */\n"
	"\tint64_t base; /* the first index of the GEMM panel an epilogue runs on */\n"
	"} TracCtx;\n"
	"\n";

/* ---- loop nests ------------------------------------------------------------ */


void cg_c_indent(CgC *c, int depth)
{
	for (int i = 0; i < depth; i++)
		fputc('\t', c->out);
}

static void cg_c_open_loop(CgC *c, int x, int64_t size, int depth, bool split)
{
	cg_c_indent(c, depth);
	if (split)
		fprintf(c->out, "for (int64_t x%d = lo; x%d < hi; x%d++) {\n", x, x, x);
	else
		fprintf(c->out, "for (int64_t x%d = 0; x%d < %" PRId64 "; x%d++) {\n", x, x, size, x);
}

void cg_c_close_loops(CgC *c, int from, int to)
{
	for (int d = from - 1; d >= to; d--) {
		cg_c_indent(c, d);
		fputs("}\n", c->out);
	}
}

/* The offset of the output element at x0 .. x(rank-1). */
void cg_c_out_offset(CgC *c, const TraNode *n)
{
	bool any = false;
	for (int d = 0; d < n->rank; d++) {
		if (n->idx[d].size == 1)
			continue;
		int64_t s = tra_node_stride(n, d);
		fprintf(c->out, "%sx%d", any ? " + " : "", d);
		if (s != 1)
			fprintf(c->out, " * %" PRId64, s);
		any = true;
	}
	if (!any)
		fputc('0', c->out);
}

/* An accumulator's initial value (an aggregation's identity), as C. */
const char *cg_c_init(double v)
{
	if (isinf(v))
		return v < 0 ? "(-INFINITY)" : "INFINITY";
	if (v == 1)
		return "1";
	if (v == 0)
		return "0";
	if (v == -0x1p31 || v == 0x1p31 - 1) /* an integer type's limits (tra_agg_identity) */
		return v < 0 ? "INT32_MIN" : "INT32_MAX";
	if (v == -0x1p63 || v == 0x1p63)
		return v < 0 ? "INT64_MIN" : "INT64_MAX";
	TRAC_BUG("no aggregation starts from %g", v);
}

/* Node n's loop nest, as its kernel plan says. */
const KplanNest *cg_c_nest(const CgC *c, const TraNode *n)
{
	int k = c->kp->node_plan[n - c->g->nodes];
	if (k < 0 || c->kp->kernels[k].kind != KPLAN_LOOPS)
		TRAC_BUG("node %s has no loop nest", n->name);
	return &c->kp->kernels[k].nest;
}

/* acc = combine(acc, join) for one join point. max and min keep a NaN
 * seen in a flag beside a plain comparison, which vectorises. */
void cg_c_combine(CgC *c, const TraNode *n, int depth)
{
	cg_c_indent(c, depth);
	switch (n->agg) {
	case TRA_AGG_SUM: fputs("acc += ", c->out); break;
	case TRA_AGG_PROD: fputs("acc *= ", c->out); break;
	case TRA_AGG_MAX:
	case TRA_AGG_MIN:
		fprintf(c->out, "%s v = ", cg_c_type(n->type));
		cg_c_expr(c, n, n->join);
		fprintf(c->out, ";\n");
		cg_c_indent(c, depth);
		fprintf(c->out, "acc = v %s acc ? v : acc;\n", n->agg == TRA_AGG_MAX ? ">" : "<");
		if (cg_c_nest(c, n)->nan_flag) {
			cg_c_indent(c, depth);
			fputs("nan |= v != v;\n", c->out);
		}
		return;
	default: TRAC_BUG("combine without aggregation");
	}
	cg_c_expr(c, n, n->join);
	fputs(";\n", c->out);
}

/* The OpenMP SIMD reduction clause of the innermost reduced loop: the
 * language lets reductions be reassociated, so they may vectorise. Not
 * on a loop of fewer than CG_C_SIMD_MIN_TERMS terms: gcc then builds a
 * vector reduction for a few lanes, its setup and horizontal combine
 * each time round the outer loops; left to itself, it unrolls the loop.
 * Row sums over 4M rows of 10 took 59-60 ms with the clause, 9.3
 * without (LLVM, 10); of 4 terms, 140-155 against 28; row max of 12,
 * 61-73 against 19-22; 3 x 3 rotations of 2^20 points (a loop nest:
 * gemm.c's BLAS or loops), 44-48 against 6.4-7.5. From 16 terms the
 * clause wins: row max of 16, 7.7-9.2 with it against 17. */
#define CG_C_SIMD_MIN_TERMS 16
static void cg_c_simd_reduction(CgC *c, const TraNode *n, int depth)
{
	if (c->gpu)
		return; /* a GPU thread's loop: its parallelism is the grid's */
	static const char *const ops[] = {"", "+", "*", "max", "min"};
	cg_c_indent(c, depth);
	fprintf(c->out, "#pragma omp simd reduction(%s:acc)%s\n", ops[n->agg],
	        cg_c_nest(c, n)->nan_flag ? " reduction(|:nan)" : "");
}

/* out[this element] = acc, or its epilogue unless raw. */
static void cg_c_store_as(CgC *c, const TraNode *n, bool raw)
{
	fputs("out[", c->out);
	cg_c_out_offset(c, n);
	fputs("] = ", c->out);
	if (n->epilogue >= 0 && !raw)
		cg_c_expr(c, n, n->epilogue);
	else
		fputs("acc", c->out);
	fputs(";\n", c->out);
}

/* out[this element] = the epilogue of acc (or acc itself). */
void cg_c_store(CgC *c, const TraNode *n)
{
	cg_c_store_as(c, n, false);
}

/* The store after a reduction: acc itself where the epilogue is deferred
 * (KplanNest.deferred: cg_c_deferred_epilogue applies it later), else
 * cg_c_store's. */
static void cg_c_store_reduced(CgC *c, const TraNode *n)
{
	cg_c_store_as(c, n, cg_c_nest(c, n)->deferred);
}

/* A max or min that saw a NaN is NaN (the flag cg_c_combine keeps). */
void cg_c_nan_fixup(CgC *c, int depth)
{
	cg_c_indent(c, depth);
	fputs("if (nan)\n", c->out);
	cg_c_indent(c, depth + 1);
	fputs("acc = NAN;\n", c->out);
}

/* One line at depth: a statement, or a pragma before a vector loop. */
static void cg_c_tile_line(CgC *c, int depth, const char *line)
{
	cg_c_indent(c, depth);
	fputs(line, c->out);
	fputc('\n', c->out);
}

void cg_c_block_loop(CgC *c, int x, int depth)
{
	cg_c_indent(c, depth);
	fprintf(c->out, "for (int64_t x%d = lo[%d]; x%d < hi[%d]; x%d++) {\n", x, x, x, x, x);
}

/* The loop over reduced index x, at depth: over the block's range if
 * block, else over the whole index. */
static void cg_c_reduced_loop(CgC *c, const TraNode *n, int x, int depth, bool block)
{
	if (block && c->lanes && x == cg_c_nest(c, n)->red[cg_c_nest(c, n)->nred - 1]) {
		/* several loads in flight per lane: a lane's one at a time leaves
		   the memory idle */
		cg_c_indent(c, depth);
		fputs("#pragma unroll 4\n", c->out);
		cg_c_indent(c, depth);
		fprintf(c->out, "for (int64_t x%d = lo[%d] + lane; x%d < hi[%d]; x%d += nlanes) {\n", x, x, x, x, x);
		return;
	}
	if (block)
		cg_c_block_loop(c, x, depth);
	else
		cg_c_open_loop(c, x, n->idx[x].size, depth, false);
}

/* A vector's worth of terms: 64 bytes (an AVX-512 vector, two AVX2
 * ones) of type t. */
static int64_t cg_c_simd_lanes(TrartDtype t)
{
	return 64 / (int64_t)trart_dtype_size(t);
}

/* Whether the innermost reduced loop over x, a SIMD reduction, runs as
 * two loops: its whole vectors with the clause, then the terms left
 * over without. gcc's vectorised remainder of a short SIMD reduction
 * cost more than the vectors: a row sum and max of 24 terms over 40M
 * f32 (a row group, 2 threads) took 55-64 ms, 24-26 split; a block
 * kernel's row sum of 24 (runtime bounds), 12.6 ms, 3.7-4.2 split (LLVM
 * 3.7); rows of 40 to 100, 1.3-2.5x faster. Not on a GPU thread's loop
 * (no clause), nor where a known count is whole vectors (nothing left
 * over), nor from CG_C_SPLIT_MAX terms: a block's row sums of 200 and
 * 1000 took 2.4-3.2 ms whole, 3.1-4.8 split. */
#define CG_C_SPLIT_MAX 128
static bool cg_c_simd_split(CgC *c, const TraNode *n, int x, bool block)
{
	int64_t size = n->idx[x].size;
	return !c->gpu && !c->lanes && size < CG_C_SPLIT_MAX && (block || size % cg_c_simd_lanes(n->type) != 0);
}

/* The split loops of cg_c_simd_split over x at depth, each with its
 * combine, closed: [lo, cut) with the clause, then [cut, hi), where cut
 * is lo plus the whole vectors of the range (from the block's bounds if
 * block, else a constant). */
static void cg_c_simd_halves(CgC *c, const TraNode *n, int x, int depth, bool block)
{
	int64_t lanes = cg_c_simd_lanes(n->type), size = n->idx[x].size;
	char lo[48], hi[48], cut[128];
	if (block) {
		snprintf(lo, sizeof lo, "lo[%d]", x);
		snprintf(hi, sizeof hi, "hi[%d]", x);
		snprintf(cut, sizeof cut, "lo[%d] + ((hi[%d] - lo[%d]) & ~(int64_t)%" PRId64 ")", x, x, x,
		         lanes - 1);
	} else {
		snprintf(lo, sizeof lo, "0");
		snprintf(hi, sizeof hi, "%" PRId64, size);
		snprintf(cut, sizeof cut, "%" PRId64, size - size % lanes);
	}
	cg_c_simd_reduction(c, n, depth);
	cg_c_indent(c, depth);
	fprintf(c->out, "for (int64_t x%d = %s; x%d < %s; x%d++) {\n", x, lo, x, cut, x);
	cg_c_combine(c, n, depth + 1);
	cg_c_close_loops(c, depth + 1, depth);
	cg_c_indent(c, depth);
	fprintf(c->out, "for (int64_t x%d = %s; x%d < %s; x%d++) {\n", x, cut, x, hi, x);
	cg_c_combine(c, n, depth + 1);
	cg_c_close_loops(c, depth + 1, depth);
}

/* In a block [s0, s1) of a long sum over x, at depth: the same terms
 * of the next row of the operand the plan prefetches (KplanNest.prefetch,
 * kplan.c's row groups), a cache line at a time; the next row of a
 * group's rows is x0 + 1. */
static void cg_c_prefetch(CgC *c, const TraNode *n, int x, int depth)
{
	const KplanNest *L = cg_c_nest(c, n);
	if (L->prefetch < 0)
		return;
	const char *t = cg_c_type(c->g->nodes[n->ops[L->prefetch].node].type);
	cg_c_indent(c, depth);
	fprintf(c->out, "if (x0 + 1 < %" PRId64 ") { /* the next row, while this one is in cache */\n",
	        n->idx[0].size);
	cg_c_indent(c, depth + 1);
	fprintf(c->out, "int64_t x%d = s0;\n", x);
	cg_c_indent(c, depth + 1);
	fprintf(c->out, "const char *pf = (const char *)&in%d[", L->prefetch);
	cg_c_offset(c, n, L->prefetch);
	fprintf(c->out, " + %" PRId64 "];\n", L->prefetch_stride);
	cg_c_indent(c, depth + 1);
	fprintf(c->out, "for (int64_t q = 0; q < (s1 - s0) * (int64_t)sizeof(%s); q += 64)\n", t);
	cg_c_indent(c, depth + 2);
	fputs("__builtin_prefetch(pf + q, 0, 3);\n", c->out);
	cg_c_indent(c, depth);
	fputs("}\n", c->out);
}

/* The innermost loop of a long sum, over x at depth: blocks of
 * sum_block terms summed in a vector loop into acc, and acc pushed into
 * the pairwise sum pw once it holds sum_block terms (which may take
 * several short inner loops). */
static void cg_c_blocked_sum(CgC *c, const TraNode *n, int x, int depth, bool block)
{
	const char *t = cg_c_type(n->type);
	int64_t sb = cg_c_nest(c, n)->sum_block;
	char a[40], b[40];
	if (block) {
		snprintf(a, sizeof a, "lo[%d]", x);
		snprintf(b, sizeof b, "hi[%d]", x);
	} else {
		snprintf(a, sizeof a, "0");
		snprintf(b, sizeof b, "%" PRId64, n->idx[x].size);
	}
	/* lanes take a stretch of sb terms each, in turn */
	char step[48];
	snprintf(step, sizeof step, c->lanes ? "%" PRId64 " * nlanes" : "%" PRId64, sb);
	cg_c_indent(c, depth);
	fprintf(c->out, "for (int64_t s0 = %s; s0 < %s; s0 += %s) {\n", a, b, step);
	cg_c_indent(c, depth + 1);
	fprintf(c->out, "int64_t s1 = %s - s0 < %s ? %s : s0 + %s;\n", b, step, b, step);
	if (!c->lanes)
		cg_c_prefetch(c, n, x, depth + 1);
	cg_c_indent(c, depth + 1);
	fprintf(c->out, "%s blk;\n", t);
	cg_c_indent(c, depth + 1);
	fprintf(c->out, "{\n");
	cg_c_indent(c, depth + 2);
	fprintf(c->out, "%s acc = 0;\n", t);
	cg_c_simd_reduction(c, n, depth + 2);
	cg_c_indent(c, depth + 2);
	if (c->lanes) {
		fputs("#pragma unroll 4\n", c->out);
		cg_c_indent(c, depth + 2);
		fprintf(c->out, "for (int64_t x%d = s0 + lane; x%d < s1; x%d += nlanes) {\n", x, x, x);
	}
	else
		fprintf(c->out, "for (int64_t x%d = s0; x%d < s1; x%d++) {\n", x, x, x);
	cg_c_combine(c, n, depth + 3);
	cg_c_close_loops(c, depth + 3, depth + 2);
	cg_c_indent(c, depth + 2);
	fputs("blk = acc;\n", c->out);
	cg_c_close_loops(c, depth + 2, depth + 1);
	cg_c_indent(c, depth + 1);
	fprintf(c->out, "acc += blk;\n");
	cg_c_indent(c, depth + 1);
	fprintf(c->out, "pw_n += s1 - s0;\n");
	cg_c_indent(c, depth + 1);
	fprintf(c->out, "if (pw_n >= %" PRId64 ") {\n", sb);
	cg_c_indent(c, depth + 2);
	fprintf(c->out, "trac_pw_push_%s(&pw, acc);\n", t);
	cg_c_indent(c, depth + 2);
	fputs("acc = 0;\n", c->out);
	cg_c_indent(c, depth + 2);
	fputs("pw_n = 0;\n", c->out);
	cg_c_close_loops(c, depth + 2, depth);
}

/* Declares acc and aggregates the join into it over the reduced indices
 * (over the block's ranges, lo[] and hi[], if block), at depth. A long
 * sum goes through cg_c_blocked_sum: its error grows with the log of
 * the number of blocks instead of with the number of terms. */
/* Opens the vector loop over the lanes of an argmax or argmin over x, at
 * depth, and evaluates the join at x = base + l into lhs. */
static void cg_c_lane_loop(CgC *c, const TraNode *n, int x, int lanes, const char *base, const char *lhs,
                           int depth)
{
	cg_c_tile_line(c, depth, "#pragma omp simd");
	cg_c_indent(c, depth);
	fprintf(c->out, "for (int64_t l = 0; l < %d; l++) {\n", lanes);
	cg_c_indent(c, depth + 1);
	fprintf(c->out, "const int64_t x%d = %s + l;\n", x, base);
	cg_c_indent(c, depth + 1);
	fprintf(c->out, "%s = ", lhs);
	cg_c_expr(c, n, n->join);
	fputs(";\n", c->out);
}

/* The lanes of an argmax or argmin over x (KplanNest.arg_lanes, kplan.c's
 * arg reductions), at depth, where its range is at least a lane each:
 * lane l's best value and position in lbest[l] and lpos[l], from the
 * first group of lanes through every whole group after it (a vector
 * loop), then combined into best and acc; anext, the first term left. */
static void cg_c_arg_lanes(CgC *c, const TraNode *n, int x, int lanes, int depth)
{
	const char *t = cg_c_type(tra_node_join_type(n));
	const char *better = n->agg == TRA_AGG_ARGMAX ? ">" : "<";
	cg_c_indent(c, depth);
	fprintf(c->out, "if (ahi - alo >= %d) {\n", lanes);
	cg_c_indent(c, depth + 1);
	fprintf(c->out, "%s lbest[%d];\n", t, lanes);
	cg_c_indent(c, depth + 1);
	fprintf(c->out, "int64_t lpos[%d];\n", lanes);
	cg_c_lane_loop(c, n, x, lanes, "alo", "lbest[l]", depth + 1);
	cg_c_indent(c, depth + 2);
	fprintf(c->out, "lpos[l] = x%d;\n", x);
	cg_c_close_loops(c, depth + 2, depth + 1);
	cg_c_indent(c, depth + 1);
	fprintf(c->out, "for (anext = alo + %d; anext + %d <= ahi; anext += %d) {\n", lanes, lanes, lanes);
	char v[32];
	snprintf(v, sizeof v, "%s v", t);
	cg_c_lane_loop(c, n, x, lanes, "anext", v, depth + 2);
	cg_c_indent(c, depth + 3);
	fprintf(c->out, "int take = (lbest[l] == lbest[l]) & ((v != v) | (v %s lbest[l]));\n", better);
	cg_c_indent(c, depth + 3);
	fputs("lbest[l] = take ? v : lbest[l];\n", c->out);
	cg_c_indent(c, depth + 3);
	fprintf(c->out, "lpos[l] = take ? x%d : lpos[l];\n", x);
	cg_c_close_loops(c, depth + 3, depth + 1);
	/* the combine, a tree (cg_llvm_arg_combine says why), a loop a level
	   with its count written out: gcc made one loop over the levels
	   slower than the lanes in order */
	for (int h = lanes / 2; h >= 1; h /= 2) {
		cg_c_indent(c, depth + 1);
		fputs("#pragma omp simd\n", c->out);
		cg_c_indent(c, depth + 1);
		fprintf(c->out, "for (int l = 0; l < %d; l++) {\n", h);
		cg_c_indent(c, depth + 2);
		fprintf(c->out, "%s v = lbest[l + %d], b = lbest[l];\n", t, h);
		cg_c_indent(c, depth + 2);
		fprintf(c->out, "int64_t p = lpos[l + %d], q = lpos[l];\n", h);
		cg_c_indent(c, depth + 2);
		fprintf(c->out, "int take = ((b == b) & ((v != v) | (v %s b) | ((v == b) & (p < q)))) | "
		        "((b != b) & (v != v) & (p < q));\n", better);
		cg_c_indent(c, depth + 2);
		fputs("lbest[l] = take ? v : b;\n", c->out);
		cg_c_indent(c, depth + 2);
		fputs("lpos[l] = take ? p : q;\n", c->out);
		cg_c_close_loops(c, depth + 2, depth + 1);
	}
	cg_c_indent(c, depth + 1);
	fputs("best = lbest[0];\n", c->out);
	cg_c_indent(c, depth + 1);
	fputs("acc = lpos[0];\n", c->out);
	cg_c_close_loops(c, depth + 1, depth);
}

/* argmax, argmin: acc is the first index of the best value of the join,
 * a NaN winning as in NumPy (kplan: KPLAN_RED_ARG): in lanes where the
 * plan says so, then a scalar loop over the terms left. */
static void cg_c_reduce_arg(CgC *c, const TraNode *n, int depth, bool block)
{
	const KplanNest *L = cg_c_nest(c, n);
	int x = L->red[0];
	cg_c_indent(c, depth);
	fprintf(c->out, "int64_t acc = 0;\n");
	cg_c_indent(c, depth);
	fprintf(c->out, "%s best = 0;\n", cg_c_type(tra_node_join_type(n)));
	cg_c_indent(c, depth);
	if (block)
		fprintf(c->out, "int64_t alo = lo[%d], ahi = hi[%d], anext = alo;\n", x, x);
	else
		fprintf(c->out, "int64_t alo = 0, ahi = %" PRId64 ", anext = alo;\n", n->idx[x].size);
	if (L->arg_lanes > 1)
		cg_c_arg_lanes(c, n, x, L->arg_lanes, depth);
	cg_c_indent(c, depth);
	fputs("int first = anext == alo;\n", c->out);
	cg_c_indent(c, depth);
	fprintf(c->out, "for (int64_t x%d = anext; x%d < ahi; x%d++) {\n", x, x, x);
	cg_c_indent(c, depth + 1);
	fprintf(c->out, "%s v = ", cg_c_type(tra_node_join_type(n)));
	cg_c_expr(c, n, n->join);
	fputs(";\n", c->out);
	cg_c_indent(c, depth + 1);
	fprintf(c->out, "if (first || (best == best && (v != v || v %s best))) {\n",
	        n->agg == TRA_AGG_ARGMAX ? ">" : "<");
	cg_c_indent(c, depth + 2);
	fprintf(c->out, "best = v;\n");
	cg_c_indent(c, depth + 2);
	fprintf(c->out, "acc = x%d;\n", x);
	cg_c_indent(c, depth + 2);
	fputs("first = 0;\n", c->out);
	cg_c_close_loops(c, depth + 2, depth);
}

void cg_c_reduce(CgC *c, const TraNode *n, int depth, bool block)
{
	const KplanNest *L = cg_c_nest(c, n);
	if (L->reduce == KPLAN_RED_ARG) {
		cg_c_reduce_arg(c, n, depth, block);
		return;
	}
	bool minmax = L->nan_flag;
	bool blocked = L->blocked;
	const char *t = cg_c_type(n->type);
	cg_c_indent(c, depth);
	fprintf(c->out, "%s acc = %s;\n", t, cg_c_init(L->init));
	if (minmax) {
		cg_c_indent(c, depth);
		fputs("int nan = 0;\n", c->out);
	}
	if (blocked) {
		cg_c_indent(c, depth);
		fprintf(c->out, "trac_pairwise_%s pw;\n", t);
		cg_c_indent(c, depth);
		fputs("pw.count = 0;\n", c->out);
		cg_c_indent(c, depth);
		fputs("int64_t pw_n = 0;\n", c->out);
	}
	const int *order = L->red;
	int m = L->nred;
	bool simd = !blocked && n->idx[order[m - 1]].size >= CG_C_SIMD_MIN_TERMS;
	bool halves = simd && cg_c_simd_split(c, n, order[m - 1], block);
	for (int i = 0; i < m - blocked - halves; i++) {
		if (i == m - 1 && simd)
			cg_c_simd_reduction(c, n, depth + i);
		cg_c_reduced_loop(c, n, order[i], depth + i, block);
	}
	if (blocked)
		cg_c_blocked_sum(c, n, order[m - 1], depth + m - 1, block);
	else if (halves)
		cg_c_simd_halves(c, n, order[m - 1], depth + m - 1, block);
	else
		cg_c_combine(c, n, depth + m);
	cg_c_close_loops(c, depth + m - blocked - halves, depth);
	if (blocked) {
		cg_c_indent(c, depth);
		fprintf(c->out, "acc = trac_pw_total_%s(&pw, acc);\n", t);
	}
	if (minmax) {
		cg_c_nan_fixup(c, depth);
	}
}

/* ---- reductions along a strided index ------------------------------------- */

/* Opens `for (xv = t0; xv < t1; xv++) {` at depth, as a vector loop. */
static void cg_c_tile_loop(CgC *c, int v, int depth)
{
	cg_c_tile_line(c, depth, "#pragma omp simd");
	cg_c_indent(c, depth);
	fprintf(c->out, "for (int64_t x%d = t0; x%d < t1; x%d++) {\n", v, v, v);
}

/* Opens `if (++count == blocks)` at depth, which adds tile `from` into
 * tile `to` and clears `from`; the caller closes it. */
static void cg_c_flush(CgC *c, int v, int depth, int64_t blocks, const char *count, const char *to,
                       const char *from)
{
	cg_c_indent(c, depth);
	fprintf(c->out, "if (++%s == %" PRId64 ") {\n", count, blocks);
	cg_c_indent(c, depth + 1);
	fprintf(c->out, "%s = 0;\n", count);
	cg_c_tile_loop(c, v, depth + 1);
	cg_c_indent(c, depth + 2);
	fprintf(c->out, "%s[x%d - t0] += %s[x%d - t0];\n", to, v, from, v);
	cg_c_indent(c, depth + 2);
	fprintf(c->out, "%s[x%d - t0] = 0;\n", from, v);
	cg_c_close_loops(c, depth + 2, depth + 1);
}

/* The reduction over every reduced index for one tile of the last
 * output index v (t0 to t1 - 1): each reduced point updates the tile's
 * partial results in a vector loop over v, so the largest operand is
 * read row by row. A long sum adds the tile into mid every column_block
 * terms, and mid into tot every column_block of those (blocked
 * summation: the error grows with 2 column_block + terms /
 * column_block^2, not with the number of terms). */
static void cg_c_column_reduce(CgC *c, const TraNode *n, int depth, bool block)
{
	const char *t = cg_c_type(n->type);
	const KplanNest *L = cg_c_nest(c, n);
	bool minmax = L->nan_flag;
	bool blocked = L->blocked;
	int v = L->vector;
	const int *order = L->red;
	int m = L->nred;
	cg_c_tile_loop(c, v, depth);
	cg_c_indent(c, depth + 1);
	fprintf(c->out, "tile[x%d - t0] = %s;\n", v, cg_c_init(L->init));
	if (blocked) {
		cg_c_indent(c, depth + 1);
		fprintf(c->out, "mid[x%d - t0] = 0;\n", v);
		cg_c_indent(c, depth + 1);
		fprintf(c->out, "tot[x%d - t0] = 0;\n", v);
	}
	if (minmax) {
		cg_c_indent(c, depth + 1);
		fprintf(c->out, "nans[x%d - t0] = 0;\n", v);
	}
	cg_c_close_loops(c, depth + 1, depth);
	if (blocked)
		cg_c_tile_line(c, depth, "int64_t pw_n = 0, pw_m = 0;");
	for (int i = 0; i < m; i++)
		cg_c_reduced_loop(c, n, order[i], depth + i, block);
	int d = depth + m;
	cg_c_tile_loop(c, v, d);
	cg_c_indent(c, d + 1);
	fprintf(c->out, "%s acc = tile[x%d - t0];\n", t, v);
	if (minmax) {
		cg_c_indent(c, d + 1);
		fprintf(c->out, "int nan = nans[x%d - t0];\n", v);
	}
	cg_c_combine(c, n, d + 1);
	cg_c_indent(c, d + 1);
	fprintf(c->out, "tile[x%d - t0] = acc;\n", v);
	if (minmax) {
		cg_c_indent(c, d + 1);
		fprintf(c->out, "nans[x%d - t0] = nan;\n", v);
	}
	cg_c_close_loops(c, d + 1, d);
	if (blocked) {
		cg_c_flush(c, v, d, L->column_block, "pw_n", "mid", "tile");
		cg_c_indent(c, d + 1);
		fprintf(c->out, "if (++pw_m == %" PRId64 ") {\n", L->column_block);
		cg_c_tile_line(c, d + 2, "pw_m = 0;");
		cg_c_tile_loop(c, v, d + 2);
		cg_c_indent(c, d + 3);
		fprintf(c->out, "tot[x%d - t0] += mid[x%d - t0];\n", v, v);
		cg_c_indent(c, d + 3);
		fprintf(c->out, "mid[x%d - t0] = 0;\n", v);
		cg_c_close_loops(c, d + 3, d);
	}
	cg_c_close_loops(c, d, depth);
}

/* The elements of the vector loop's index v (the last output index)
 * from vlo to vhi - 1 (C expressions), the outer output indices fixed,
 * at depth: in tiles of column_tile, each reduced by cg_c_column_reduce
 * and then stored (to part[e++], the split block's partial results, if
 * split). */
static void cg_c_columns(CgC *c, const TraNode *n, int depth, const char *vlo, const char *vhi,
                         bool block, bool split)
{
	const char *t = cg_c_type(n->type);
	const KplanNest *L = cg_c_nest(c, n);
	int v = L->vector;
	int64_t tile = L->column_tile;
	cg_c_indent(c, depth);
	fprintf(c->out, "for (int64_t t0 = %s; t0 < %s; t0 += %" PRId64 ") {\n", vlo, vhi, tile);
	cg_c_indent(c, depth + 1);
	fprintf(c->out, "int64_t t1 = %s - t0 < %" PRId64 " ? %s : t0 + %" PRId64 ";\n", vhi, tile, vhi, tile);
	cg_c_indent(c, depth + 1);
	fprintf(c->out, "%s tile[%" PRId64 "];\n", t, tile);
	if (L->blocked) {
		cg_c_indent(c, depth + 1);
		fprintf(c->out, "%s mid[%" PRId64 "], tot[%" PRId64 "];\n", t, tile, tile);
	}
	if (L->nan_flag) {
		cg_c_indent(c, depth + 1);
		fprintf(c->out, "int nans[%" PRId64 "];\n", tile);
	}
	cg_c_column_reduce(c, n, depth + 1, block);
	cg_c_indent(c, depth + 1);
	fprintf(c->out, "for (int64_t x%d = t0; x%d < t1; x%d++) {\n", v, v, v);
	cg_c_indent(c, depth + 2);
	fprintf(c->out, "%s acc = tile[x%d - t0]", t, v);
	if (L->blocked)
		fprintf(c->out, " + (mid[x%d - t0] + tot[x%d - t0])", v, v);
	fputs(";\n", c->out);
	if (L->nan_flag) {
		cg_c_indent(c, depth + 2);
		fprintf(c->out, "int nan = nans[x%d - t0];\n", v);
		cg_c_nan_fixup(c, depth + 2);
	}
	cg_c_indent(c, depth + 2);
	if (split)
		fputs("part[e++] = acc;\n", c->out);
	else
		cg_c_store(c, n);
	cg_c_close_loops(c, depth + 2, depth);
}

/* The statements computing one output element, at depth. */
static void cg_c_element(CgC *c, const TraNode *n, CgAcc from, const int64_t *acc_stride, int depth)
{
	const char *t = cg_c_type(n->type);
	if (from != CG_ACC_REDUCE || n->agg == TRA_AGG_NONE)
		cg_c_indent(c, depth);
	if (from == CG_ACC_REDUCE && n->agg == TRA_AGG_NONE) {
		fputs("out[", c->out);
		cg_c_out_offset(c, n);
		fputs("] = ", c->out);
		cg_c_expr(c, n, n->join);
		fputs(";\n", c->out);
		return;
	}
	if (from == CG_ACC_REDUCE) {
		cg_c_reduce(c, n, depth, false);
		cg_c_indent(c, depth);
		cg_c_store_reduced(c, n);
		return;
	}
	if (from == CG_ACC_OUTPUT) {
		fprintf(c->out, "%s acc = out[", t);
		cg_c_out_offset(c, n);
		fputs("];\n", c->out);
		cg_c_indent(c, depth);
	} else {
		fprintf(c->out, "%s acc = accbuf[", t);
		fputc('0', c->out);
		for (int d = 0; d < n->rank; d++)
			if (acc_stride[d] && n->idx[d].size > 1)
				fprintf(c->out, " + x%d * %" PRId64, d, acc_stride[d]);
		fputs("];\n", c->out);
		cg_c_indent(c, depth);
	}
	cg_c_store(c, n);
}

/* A deferred epilogue (KplanNest.deferred): after the sums of rows lo
 * to hi - 1 are stored, one vector loop applies the epilogue to them. */
static void cg_c_deferred_epilogue(CgC *c, const TraNode *n, const char *lo, const char *hi)
{
	if (!cg_c_nest(c, n)->deferred)
		return;
	fputs("\t#pragma omp simd\n", c->out);
	fprintf(c->out, "\tfor (int64_t x0 = %s; x0 < %s; x0++) {\n", lo, hi);
	cg_c_element(c, n, CG_ACC_OUTPUT, NULL, 2);
	fputs("\t}\n", c->out);
}

/* Declarations of out, in<k> (and accbuf) inside a body function. */
static void cg_c_buffers(CgC *c, const TraNode *n, int id, CgAcc from)
{
	const char *t = cg_c_type(n->type);
	if (from != CG_ACC_REDUCE || n->rank == 0)
		fprintf(c->out, "\tconst TracCtx *ctx = vctx;\n");
	fprintf(c->out, "\t%s *restrict out = ctx->bufs[%d];\n", t, id);
	for (int k = 0; k < n->nops; k++)
		fprintf(c->out, "\tconst %s *restrict in%d = ctx->bufs[%d];\n", cg_c_in_type(c, n, k), k,
		        n->ops[k].node);
	if (from == CG_ACC_SCRATCH)
		fprintf(c->out, "\tconst %s *restrict accbuf = ctx->acc;\n", t);
	fprintf(c->out, "\t(void)out;\n");
}

/* A body function over [lo, hi) of the first output index (the whole
 * output for a scalar), named k<id>_<suffix>; acc_stride gives the
 * scratch layout for CG_ACC_SCRATCH. */
static void cg_c_body(CgC *c, const TraNode *n, int id, CgAcc from, const int64_t *acc_stride,
                      const char *suffix)
{
	fprintf(c->out, "static void k%d_%s(int64_t lo, int64_t hi, void *vctx)\n{\n", id, suffix);
	cg_c_buffers(c, n, id, from);
	if (n->rank == 0)
		fputs("\t(void)lo; (void)hi;\n", c->out);
	else
		fputs("\tfor (int64_t x0 = ctx->base + lo; x0 < ctx->base + hi; x0++) {\n", c->out);
	for (int d = 1; d < n->rank; d++)
		cg_c_open_loop(c, d, n->idx[d].size, 1 + d, false);
	cg_c_element(c, n, from, acc_stride, 1 + n->rank);
	cg_c_close_loops(c, 1 + n->rank, 1);
	fputs("}\n\n", c->out);
}

/* Runs body k<id>_<suffix> over the output, split across threads. */
static void cg_c_run_body(CgC *c, const TraNode *n, int id, const char *suffix, const char *acc)
{
	fprintf(c->out, "\t{\n\t\tTracCtx ctx = {bufs, %s};\n", acc);
	if (n->rank == 0)
		fprintf(c->out, "\t\tk%d_%s(0, 1, &ctx);\n", id, suffix);
	else
		fprintf(c->out, "\t\ttrart_parallel_for(%" PRId64 ", k%d_%s, &ctx);\n",
		        n->idx[0].size, id, suffix);
	fputs("\t}\n", c->out);
}

/* "int64_t x<d> = ...;" for the first rank indices of row r, the rows
 * numbered in C order over them (Kplan.row_rank), at depth. */
static void cg_c_row_indices(CgC *c, const TraNode *n, int rank, int depth)
{
	for (int d = 0; d < rank; d++) {
		int64_t stride = ia_row_stride(n, rank, d);
		cg_c_indent(c, depth);
		fprintf(c->out, "int64_t x%d = r", d);
		if (stride > 1)
			fprintf(c->out, " / %" PRId64, stride);
		if (d > 0)
			fprintf(c->out, " %% %" PRId64, n->idx[d].size);
		fputs(";\n", c->out);
	}
}

/* The head of node id's row function k<id>_rows(lo, hi, ctx): inline
 * into its group's chunk loop, or called from it (kplan_member_called). */
static void cg_c_row_head(CgC *c, int id)
{
	fprintf(c->out, "static %s void k%d_rows(int64_t lo, int64_t hi, const TracCtx *ctx)\n{\n",
	        kplan_member_called(c->kp, id) ? "__attribute__((noinline))" : "inline", id);
}

/* Rows lo to hi - 1 of the first output index (of the first rank output
 * indices, numbered in C order, where rank > 1): k<id>_rows(lo, hi, ctx)
 * computes every element of n in those rows. */
static void cg_c_row(CgC *c, const TraNode *n, int id, int rank)
{
	cg_c_row_head(c, id);
	cg_c_buffers(c, n, id, CG_ACC_REDUCE);
	bool columns = cg_c_nest(c, n)->reduce == KPLAN_RED_COLUMNS; /* rank 1 (kplan_member_rank) */
	if (columns && n->rank == 1) {
		cg_c_columns(c, n, 1, "lo", "hi", false, false);
		fputs("}\n\n", c->out);
		return;
	}
	if (rank == 1) {
		fputs("\tfor (int64_t x0 = lo; x0 < hi; x0++) {\n", c->out);
	} else { /* a row is a point of the first rank indices */
		fputs("\tfor (int64_t r = lo; r < hi; r++) {\n", c->out);
		cg_c_row_indices(c, n, rank, 2);
	}
	if (columns) {
		char size[32];
		snprintf(size, sizeof size, "%" PRId64, n->idx[n->rank - 1].size);
		for (int d = 1; d < n->rank - 1; d++)
			cg_c_open_loop(c, d, n->idx[d].size, 1 + d, false);
		cg_c_columns(c, n, n->rank, "0", size, false, false);
		cg_c_close_loops(c, n->rank, 1);
		fputs("}\n\n", c->out);
		return;
	}
	/* loop d opens at depth 2 + d - rank: 1 + d below x0's loop */
	for (int d = rank; d < n->rank; d++)
		cg_c_open_loop(c, d, n->idx[d].size, 2 + d - rank, false);
	cg_c_element(c, n, CG_ACC_REDUCE, NULL, 2 + n->rank - rank);
	cg_c_close_loops(c, 2 + n->rank - rank, 1);
	cg_c_deferred_epilogue(c, n, "lo", "hi"); /* rank 1 */
	fputs("}\n\n", c->out);
}

/* Rows lo to hi - 1 of a row reducer (kplan.c's row groups), whose
 * reduced index is the group's rows: k<id>_rows(lo, hi, ctx) adds the
 * join at those rows into ctx->acc, the partial block of the task's row
 * block (the whole output, in its layout), a vector loop along the last
 * output index; the group's kernel zeros it first, and the aggregation
 * applies the epilogue. jam rows at a time (Kplan.jam), each element
 * loaded once, the rows added to it in order, and stored once; the rows
 * left over one at a time. */
/* Opens row reducer n's loops over its output, at depth 2 on, the last
 * the vector loop; its body goes at depth 2 + rank. */
static void cg_c_row_reduce_open(CgC *c, const TraNode *n)
{
	for (int d = 0; d < n->rank - 1; d++)
		cg_c_open_loop(c, d, n->idx[d].size, 2 + d, false);
	cg_c_tile_line(c, 1 + n->rank, "#pragma omp simd");
	cg_c_open_loop(c, n->rank - 1, n->idx[n->rank - 1].size, 1 + n->rank, false);
}

static void cg_c_row_reduce(CgC *c, const TraNode *n, int id, int jam)
{
	cg_c_row_head(c, id);
	cg_c_buffers(c, n, id, CG_ACC_REDUCE);
	const char *t = cg_c_type(n->type);
	int r = n->rank, depth = 1 + r;
	fprintf(c->out, "\t%s *restrict part = ctx->acc;\n\tint64_t xj = lo;\n", t);
	if (jam > 1) {
		fprintf(c->out, "\tfor (; xj + %d <= hi; xj += %d) {\n", jam, jam);
		cg_c_row_reduce_open(c, n);
		cg_c_indent(c, depth + 1);
		fprintf(c->out, "%s acc = part[", t);
		cg_c_out_offset(c, n);
		fputs("];\n", c->out);
		for (int q = 0; q < jam; q++) {
			cg_c_indent(c, depth + 1);
			fprintf(c->out, "{ const int64_t x%d = xj + %d; acc += ", r, q);
			cg_c_expr(c, n, n->join);
			fputs("; }\n", c->out);
		}
		cg_c_indent(c, depth + 1);
		fputs("part[", c->out);
		cg_c_out_offset(c, n);
		fputs("] = acc;\n", c->out);
		cg_c_close_loops(c, depth + 1, 1);
	}
	fprintf(c->out, "\tfor (int64_t x%d = xj; x%d < hi; x%d++) {\n", r, r, r);
	cg_c_row_reduce_open(c, n);
	cg_c_indent(c, depth + 1);
	fputs("part[", c->out);
	cg_c_out_offset(c, n);
	fputs("] += ", c->out);
	cg_c_expr(c, n, n->join);
	fputs(";\n", c->out);
	cg_c_close_loops(c, depth + 1, 1);
	fputs("}\n\n", c->out);
}

/* A group of loop kernels that share their first output index runs as
 * one: for each chunk of rows, every member's rows in turn, so a
 * producer's rows are still in cache when its consumer reads them (a row
 * maximum and the sum of exponentials that subtracts it read X's row
 * twice from cache, not twice from memory). */
static void cg_c_group_body(CgC *c, const Kplan *k)
{
	int lead = k->node;
	fprintf(c->out, "static void g%d_body(int64_t lo, int64_t hi, void *vctx)\n{\n"
	        "\tconst TracCtx *ctx = vctx;\n"
	        "\tfor (int64_t r0 = lo; r0 < hi; r0 += %" PRId64 ") {\n"
	        "\t\tint64_t r1 = hi - r0 < %" PRId64 " ? hi : r0 + %" PRId64 ";\n",
	        lead, k->chunk, k->chunk, k->chunk);
	for (int m = 0; m < k->nmembers; m++)
		fprintf(c->out, "\t\tk%d_rows(r0, r1, ctx);\n", k->members[m]);
	fputs("\t}\n}\n\n", c->out);
}

/* A whole-node row group: its rows split across threads. */
static void cg_c_group_kernel(CgC *c, const Kplan *k)
{
	cg_c_group_body(c, k);
	fprintf(c->out, "static void k%d(void *const *bufs)\n{\n"
	        "\tTracCtx ctx = {bufs, NULL};\n\ttrart_parallel_for(%" PRId64 ", g%d_body, &ctx);\n}\n\n",
	        k->node, c->g->nodes[k->node].idx[0].size, k->node);
}

static void cg_c_loop_kernel(CgC *c, const TraNode *n, int id)
{
	if (n->rank > 0) {
		cg_c_row(c, n, id, 1);
		return;
	}
	cg_c_body(c, n, id, CG_ACC_REDUCE, NULL, "body");
	fprintf(c->out, "static void k%d(void *const *bufs)\n{\n", id);
	cg_c_run_body(c, n, id, "body", "NULL");
	fputs("}\n\n", c->out);
}

/* ---- scatter-adds --------------------------------------------------------------
 *
 * kplan_scatter_nest's loops, out[position] += the join at each point:
 * each scattered position is read where the plan says (scatter_at), and
 * a point outside its dimension skipped.
 */

/* "int64_t p<d> = position; if (inside) {" for each scattered dimension
 * the plan loads once level loops are open (KplanNest.scatter_at);
 * returns the blocks opened. */
static int cg_c_scatter_positions(CgC *c, const TraNode *n, const KplanNest *L, int level, int depth)
{
	int opened = 0;
	for (int d = 0; d < n->rank; d++) {
		int k = n->scatter[d];
		if (L->scatter_at[d] != level)
			continue;
		cg_c_indent(c, depth + opened);
		fprintf(c->out, "int64_t p%d = (int64_t)in%d[", d, k);
		cg_c_offset(c, n, k);
		fputs("];\n", c->out);
		cg_c_indent(c, depth + opened);
		fprintf(c->out, "if ((uint64_t)p%d < %" PRId64 "u) {\n", d, n->idx[d].size);
		opened++;
	}
	return opened;
}

/* The nest over the block's ranges (block) or with its split loop over
 * [lo, hi), from depth; the caller has declared out, in<k>, lo, hi. */
void cg_c_scatter_nest(CgC *c, const TraNode *n, const KplanNest *L, bool block, int depth)
{
	int top = depth;
	depth += cg_c_scatter_positions(c, n, L, 0, depth);
	for (int i = 0; i < L->norder; i++) {
		int x = L->order[i];
		if (x == L->vector && !c->gpu) {
			/* distinct iterations write distinct elements */
			cg_c_indent(c, depth);
			fputs("#pragma omp simd\n", c->out);
		}
		if (block)
			cg_c_block_loop(c, x, depth);
		else
			cg_c_open_loop(c, x, n->idx[x].size, depth, x == L->split);
		depth++;
		depth += cg_c_scatter_positions(c, n, L, i + 1, depth);
	}
	cg_c_indent(c, depth);
	fputs("out[", c->out);
	const char *sep = "";
	for (int d = 0; d < n->rank; d++) {
		if (n->idx[d].size == 1)
			continue;
		fprintf(c->out, "%s%c%d", sep, n->scatter[d] >= 0 ? 'p' : 'x', d);
		if (tra_node_stride(n, d) != 1)
			fprintf(c->out, " * %" PRId64, tra_node_stride(n, d));
		sep = " + ";
	}
	fprintf(c->out, "%s] += ", *sep ? "" : "0");
	cg_c_expr(c, n, n->join);
	fputs(";\n", c->out);
	cg_c_close_loops(c, depth, top);
}

/* out[] = 0 over the whole node (decomp never cuts a scatter-add). */
static void cg_c_scatter_zero(CgC *c, const TraNode *n)
{
	fprintf(c->out, "\tfor (int64_t e = 0; e < %" PRId64 "; e++)\n\t\tout[e] = 0;\n", tra_node_elements(n));
}

/* k<id>: zeros, then the nest's split loop across threads (none: one). */
static void cg_c_scatter_kernel(CgC *c, const Kplan *k)
{
	const TraNode *n = &c->g->nodes[k->node];
	int id = k->node;
	fprintf(c->out, "/* %s: scatter-add */\n", n->name);
	fprintf(c->out, "static void k%d_body(int64_t lo, int64_t hi, void *vctx)\n{\n", id);
	cg_c_buffers(c, n, id, CG_ACC_OUTPUT);
	fputs("\t(void)lo; (void)hi;\n", c->out);
	cg_c_scatter_nest(c, n, &k->nest, false, 1);
	fputs("}\n\n", c->out);
	fprintf(c->out, "static void k%d(void *const *bufs)\n{\n\t%s *restrict out = bufs[%d];\n", id,
	        cg_c_type(n->type), id);
	cg_c_scatter_zero(c, n);
	fputs("\tTracCtx ctx = {bufs, NULL};\n", c->out);
	if (k->nest.split >= 0)
		fprintf(c->out, "\ttrart_parallel_for(%" PRId64 ", k%d_body, &ctx);\n", n->idx[k->nest.split].size, id);
	else
		fprintf(c->out, "\tk%d_body(0, 1, &ctx);\n", id);
	fputs("}\n\n", c->out);
}

/* ---- GEMM ----------------------------------------------------------------------
 *
 * gemm.c decides (gemm_plan: groups, loops around the calls, transposes,
 * copies, by its cost rule); this part only prints the plan.
 */

/* Sum of x<i> * stride over the indices of g (the batch offset). */
static void cg_c_group_offset(CgC *c, const GemmGroup *g, const int64_t *stride)
{
	fputc('0', c->out);
	for (int i = 0; i < g->n; i++)
		if (stride[g->x[i]])
			fprintf(c->out, " + x%d * %" PRId64, g->x[i], stride[g->x[i]]);
}

/* The origin of one call's matrix: its offset at the looped indices
 * (batch and outer K). */
static void cg_c_looped_offset(CgC *c, const GemmPlan *p, const int64_t *stride)
{
	cg_c_group_offset(c, &p->batch, stride);
	for (int i = 0; i < p->kloop.n; i++)
		if (stride[p->kloop.x[i]])
			fprintf(c->out, " + x%d * %" PRId64, p->kloop.x[i], stride[p->kloop.x[i]]);
}

/* BLAS's beta in a whole-node kernel: 0, or with a looped K, 0 for the
 * first call into each result and 1 for the later ones. */
static void cg_c_beta(CgC *c, const GemmPlan *p)
{
	if (p->kloop.n == 0) {
		fputc('0', c->out);
		return;
	}
	fputc('(', c->out);
	for (int i = 0; i < p->kloop.n; i++)
		fprintf(c->out, "%sx%d == 0", i ? " && " : "", p->kloop.x[i]);
	fputs(") ? 0 : 1", c->out);
}

/* Loops over every index of a matrix, copying operand k into the
 * scratch layout. */
static void cg_c_permute(CgC *c, const TraNode *n, const GemmMatrix *M, int k, const char *scratch)
{
	int depth = 1, xs[TRA_MAX_STMT_INDICES], m = 0;
	for (int x = 0; x < n->nidx; x++)
		if (M->stride[x] && n->idx[x].size > 1)
			xs[m++] = x;
	for (int i = 0; i < m; i++)
		cg_c_open_loop(c, xs[i], n->idx[xs[i]].size, depth + i, false);
	cg_c_indent(c, depth + m);
	GemmGroup all = {.n = m};
	memcpy(all.x, xs, sizeof xs);
	fprintf(c->out, "%s[", scratch);
	cg_c_group_offset(c, &all, M->stride);
	fprintf(c->out, "] = in%d[", k);
	cg_c_offset(c, n, k);
	fputs("];\n", c->out);
	cg_c_close_loops(c, depth + m, depth);
}

static const char *cg_c_trans(bool t)
{
	return t ? "TRAC_TRANS" : "TRAC_NO_TRANS";
}

/* A matrix-vector product when N (or M) is 1 (the plan's gemv):
 * cblas_?gemv streams the matrix once, which is what a memory-bound
 * product needs. */
static void cg_c_gemv_call(CgC *c, const TraNode *n, const GemmPlan *p, int depth)
{
	int64_t m = gemm_group_size(n, &p->m), nn = gemm_group_size(n, &p->nn), k = gemm_group_size(n, &p->k);
	char ty = n->type == TRART_F32 ? 's' : 'd';
	/* the matrix, its rows and columns as stored, and the vectors' steps */
	bool on_a = nn == 1;
	const GemmMatrix *mat = on_a ? &p->A : &p->B, *vec = on_a ? &p->B : &p->A;
	const char *mname = on_a ? "A" : "B", *vname = on_a ? "B" : "A";
	bool trans = on_a ? mat->trans : !mat->trans;
	int64_t rows = on_a ? (mat->trans ? k : m) : (mat->trans ? nn : k);
	int64_t cols = on_a ? (mat->trans ? m : k) : (mat->trans ? k : nn);
	/* a K-vector stored as a row has step 1, as a column its ld */
	int64_t incx = on_a ? (vec->trans ? 1 : vec->ld) : (vec->trans ? vec->ld : 1);
	/* the result vector: a column of C [M, 1] or a row of C [1, N] */
	int64_t incy = on_a ? (p->C.trans ? 1 : p->C.ld) : (p->C.trans ? p->C.ld : 1);
	cg_c_indent(c, depth);
	fprintf(c->out, "cblas_%cgemv(TRAC_ROW_MAJOR, %s, %" PRId64 ", %" PRId64 ", %.17g, %s + (", ty,
	        cg_c_trans(trans), rows, cols, p->alpha, mname);
	cg_c_looped_offset(c, p, mat->stride);
	fprintf(c->out, "), %" PRId64 ", %s + (", mat->ld, vname);
	cg_c_looped_offset(c, p, vec->stride);
	fprintf(c->out, "), %" PRId64 ", ", incx);
	cg_c_beta(c, p);
	fputs(", Cm + (", c->out);
	cg_c_looped_offset(c, p, p->C.stride);
	fprintf(c->out, "), %" PRId64 ");\n", incy);
}

/* The GEMM function a plan's calls use: BLAS's, or the runtime's
 * Strassen-Winograd (GemmPlan.strassen, which kplan.c decides). */
static const char *cg_c_gemm_name(const TraNode *n, const GemmPlan *p)
{
	if (p->strassen)
		return n->type == TRART_F32 ? "trart_sgemm" : "trart_dgemm";
	return n->type == TRART_F32 ? "cblas_sgemm" : "cblas_dgemm";
}

/* The GEMM panel by panel, each panel's epilogue right after it. */
static void cg_c_gemm_panels(CgC *c, const TraNode *n, int id, const GemmPlan *p)
{
	fprintf(c->out, "\tfor (int64_t p0 = 0; p0 < %" PRId64 "; p0 += %d) {\n"
	        "\t\tint64_t pm = %" PRId64 " - p0 < %d ? %" PRId64 " - p0 : %d;\n",
	        n->idx[0].size, KPLAN_PANEL, n->idx[0].size, KPLAN_PANEL, n->idx[0].size, KPLAN_PANEL);
	fprintf(c->out, "\t\tcblas_%cgemm(TRAC_ROW_MAJOR, %s, %s, pm, %" PRId64 ", %" PRId64 ",\n",
	        n->type == TRART_F32 ? 's' : 'd', cg_c_trans(p->A.trans), cg_c_trans(p->B.trans),
	        gemm_group_size(n, &p->nn), gemm_group_size(n, &p->k));
	fprintf(c->out, "\t\t\t%.17g, A + p0 * %" PRId64 ", %" PRId64 ", B, %" PRId64 ", 0, Cm + p0 * %" PRId64
	        ", %" PRId64 ");\n", p->alpha, p->A.stride[0], p->A.ld, p->B.ld, p->C.ld, p->C.ld);
	fprintf(c->out, "\t\tTracCtx ctx = {bufs, NULL, p0};\n"
	        "\t\ttrart_parallel_for(pm, k%d_epilogue, &ctx);\n\t}\n", id);
}

/* The cblas calls inside the loops over batch and outer K indices. */
static void cg_c_gemm_call(CgC *c, const TraNode *n, const GemmPlan *p, bool gemv)
{
	int depth = 1;
	for (int i = 0; i < p->batch.n; i++)
		cg_c_open_loop(c, p->batch.x[i], n->idx[p->batch.x[i]].size, depth++, false);
	for (int i = 0; i < p->kloop.n; i++)
		cg_c_open_loop(c, p->kloop.x[i], n->idx[p->kloop.x[i]].size, depth++, false);
	if (gemv) {
		cg_c_gemv_call(c, n, p, depth);
		cg_c_close_loops(c, depth, 1);
		return;
	}
	cg_c_indent(c, depth);
	fprintf(c->out, "%s(TRAC_ROW_MAJOR, %s, %s, %" PRId64 ", %" PRId64 ", %" PRId64 ",\n",
	        cg_c_gemm_name(n, p), cg_c_trans(p->A.trans), cg_c_trans(p->B.trans),
	        gemm_group_size(n, &p->m), gemm_group_size(n, &p->nn), gemm_group_size(n, &p->k));
	cg_c_indent(c, depth + 1);
	fprintf(c->out, "%.17g, A + (", p->alpha);
	cg_c_looped_offset(c, p, p->A.stride);
	fprintf(c->out, "), %" PRId64 ", B + (", p->A.ld);
	cg_c_looped_offset(c, p, p->B.stride);
	fprintf(c->out, "), %" PRId64 ", ", p->B.ld);
	cg_c_beta(c, p);
	fputs(", Cm + (", c->out);
	cg_c_looped_offset(c, p, p->C.stride);
	fprintf(c->out, "), %" PRId64 ");\n", p->C.ld);
	cg_c_close_loops(c, depth, 1);
}

/* Declares A or B: the operand itself or its permuted scratch copy. */
static void cg_c_gemm_operand(CgC *c, const TraNode *n, const GemmMatrix *M, int k, const char *name)
{
	const char *t = cg_c_type(n->type);
	if (!M->scratch) {
		fprintf(c->out, "\tconst %s *%s = bufs[%d];\n", t, name, n->ops[k].node);
		return;
	}
	int64_t size = 1;
	for (int x = 0; x < n->nidx; x++)
		if (M->stride[x])
			size *= n->idx[x].size;
	fprintf(c->out, "\t%s *%s_s = trart_scratch(%" PRId64 " * sizeof(%s));\n", t, name, size, t);
	fprintf(c->out, "\tconst %s *in%d = bufs[%d];\n", cg_c_in_type(c, n, k), k, n->ops[k].node);
	char scratch[16];
	snprintf(scratch, sizeof scratch, "%s_s", name);
	cg_c_permute(c, n, M, k, scratch);
	fprintf(c->out, "\tconst %s *%s = %s_s;\n", t, name, name);
}

static void cg_c_gemm_kernel(CgC *c, const Kplan *k)
{
	const TraNode *n = &c->g->nodes[k->node];
	const GemmPlan *p = &k->gemm;
	int id = k->node;
	bool scratch_c = p->C.scratch, epi = p->epilogue;
	if (scratch_c || epi)
		cg_c_body(c, n, id, scratch_c ? CG_ACC_SCRATCH : CG_ACC_OUTPUT, p->C.stride, "epilogue");
	const char *t = cg_c_type(n->type);
	fprintf(c->out, "/* %s: GEMM, batch %d, M %" PRId64 ", N %" PRId64 ", K %" PRId64, n->name,
	        p->batch.n, gemm_group_size(n, &p->m), gemm_group_size(n, &p->nn), gemm_group_size(n, &p->k));
	if (p->kloop.n)
		fprintf(c->out, ", K loops %d", p->kloop.n);
	fputs(" */\n", c->out);
	fprintf(c->out, "static void k%d(void *const *bufs)\n{\n", id);
	cg_c_gemm_operand(c, n, &p->A, p->a, "A");
	cg_c_gemm_operand(c, n, &p->B, p->b, "B");
	if (scratch_c)
		fprintf(c->out, "\t%s *Cm = trart_scratch(%" PRId64 " * sizeof(%s));\n", t,
		        tra_node_elements(n), t);
	else
		fprintf(c->out, "\t%s *Cm = bufs[%d];\n", t, id);
	if (k->panels) {
		cg_c_gemm_panels(c, n, id, p);
	} else {
		cg_c_gemm_call(c, n, p, k->gemv);
		if (scratch_c || epi)
			cg_c_run_body(c, n, id, "epilogue", scratch_c ? "Cm" : "NULL");
	}
	if (p->A.scratch)
		fputs("\ttrart_scratch_free(A_s);\n", c->out);
	if (p->B.scratch)
		fputs("\ttrart_scratch_free(B_s);\n", c->out);
	if (scratch_c)
		fputs("\ttrart_scratch_free(Cm);\n", c->out);
	fputs("}\n\n", c->out);
}

/* ---- block tasks ---------------------------------------------------------------
 *
 * With a placed task graph (trac --devices/--partition), every einsum
 * node gets block kernels instead: b<id>(bufs, task) computes the join
 * over the block [task->lo, task->hi) of the node's join space, and, when
 * the node's reduced indices are split, a<id> aggregates the partial
 * blocks of one output block and applies the epilogue. CPU workers share
 * memory, so a block is written straight into its tensor's buffer: input
 * leaves and repartitions move nothing and are tasks only for the order
 * they impose. A split join's partial block is a buffer of its own,
 * bufs[nnodes + task] (KPLAN_PARTIAL), which the aggregation reads.
 * Intermediate tensors and partial blocks are the executor's: the task
 * table tells it which buffers each task uses, and the graph which
 * buffers it places (TrartTaskGraph.pooled), so a buffer takes memory
 * only from its first writer to its last reader. Under a budget, an
 * intermediate may be kept block by block (memgraph.h, MG_BLOCK): a task
 * that touches such a block has a view of it (trac_view<t>), and its
 * kernel indexes its tensors in trart_task_bufs's array, where the
 * tensor's buffer is the block's address less the block's first byte,
 * so the kernel's code is the same either way.
 */

/* A block kernel's signature, and where some task views a tensor's
 * block (memgraph.h, MG_BLOCK), the array its tensors are indexed in. */
static void cg_c_block_head(CgC *c, const char *fn, int id)
{
	if (strcmp(c->all, "bufs") == 0) {
		fprintf(c->out, "static void %s%d(void *const *bufs, const TrartTask *task)\n{\n", fn, id);
		return;
	}
	fprintf(c->out, "static void %s%d(void *const *all, const TrartTask *task)\n{\n", fn, id);
	fprintf(c->out, "\tvoid *local[%d];\n\tvoid *const *bufs = trart_task_bufs(all, task, local, %d);\n",
	        c->g->nnodes, c->g->nnodes);
}

/* The declarations every block kernel starts with. */
static void cg_c_block_prologue(CgC *c, const TraNode *n, int id, const char *fn)
{
	const char *t = cg_c_type(n->type);
	cg_c_block_head(c, fn, id);
	fprintf(c->out, "\tconst int64_t *lo = task->lo, *hi = task->hi;\n");
	fprintf(c->out, "\t%s *restrict out = bufs[%d];\n", t, id);
	for (int k = 0; k < n->nops; k++)
		fprintf(c->out, "\tconst %s *restrict in%d = bufs[%d];\n", cg_c_in_type(c, n, k), k,
		        n->ops[k].node);
	fprintf(c->out, "\t(void)out; (void)lo; (void)hi;\n");
}

/* BLAS's beta in a block: 0 for the first call into the output (or
 * partial block), 1 for the later ones of a looped K. */
void cg_c_block_beta(CgC *c, const GemmPlan *p)
{
	if (p->kloop.n == 0) {
		fputc('0', c->out);
		return;
	}
	fputc('(', c->out);
	for (int i = 0; i < p->kloop.n; i++)
		fprintf(c->out, "%sx%d == lo[%d]", i ? " && " : "", p->kloop.x[i], p->kloop.x[i]);
	fputs(") ? 0 : 1", c->out);
}

/* Extent of group g in this block, as C (gemm_plan keeps a group of
 * several indices only where the block cuts none but the outer one). */
void cg_c_block_extent(CgC *c, const GemmGroup *g)
{
	if (g->n == 0)
		fputc('1', c->out);
	for (int i = 0; i < g->n; i++)
		fprintf(c->out, "%s(hi[%d] - lo[%d])", i ? " * " : "", g->x[i], g->x[i]);
}

/* The offset of a sub-matrix: lo for M, N, K indices, x for looped ones
 * (batch, and outer K); in a block's copy, which starts at the block,
 * x - lo for looped ones only. */
void cg_c_block_offset(CgC *c, const TraNode *n, const GemmPlan *p, const GemmMatrix *M)
{
	fputc('0', c->out);
	for (int x = 0; x < n->nidx; x++) {
		if (!M->stride[x] || n->idx[x].size == 1)
			continue;
		bool looped = false;
		for (int i = 0; i < p->batch.n; i++)
			looped |= p->batch.x[i] == x;
		for (int i = 0; i < p->kloop.n; i++)
			looped |= p->kloop.x[i] == x;
		if (M->scratch && looped)
			fprintf(c->out, " + (x%d - lo[%d]) * %" PRId64, x, x, M->stride[x]);
		else if (!M->scratch)
			fprintf(c->out, looped ? " + x%d * %" PRId64 : " + lo[%d] * %" PRId64, x, M->stride[x]);
	}
}

/* The largest block of index x: what a block's copy has room for (as
 * gemm.c's layout of the copy assumes). */
int64_t cg_c_block_room(const TraNode *n, int x)
{
	int parts = n->part ? n->part[x] : 1;
	return (n->idx[x].size + parts - 1) / parts;
}

/* Declares A or B of a block: the operand in place, or a copy of its
 * block in the plan's scratch layout (freed by cg_c_block_free). */
static void cg_c_block_operand(CgC *c, const TraNode *n, const GemmMatrix *M, int k, const char *name)
{
	const char *t = cg_c_type(n->type);
	if (!M->scratch) {
		fprintf(c->out, "\tconst %s *%s = bufs[%d];\n", t, name, n->ops[k].node);
		return;
	}
	int64_t size = 1;
	for (int x = 0; x < n->nidx; x++)
		if (M->stride[x])
			size *= cg_c_block_room(n, x);
	fprintf(c->out, "\t%s *%s_s = trart_scratch(%" PRId64 " * sizeof(%s));\n", t, name, size, t);
	int depth = 1;
	for (int x = 0; x < n->nidx; x++)
		if (M->stride[x] && n->idx[x].size > 1)
			cg_c_block_loop(c, x, depth++);
	cg_c_indent(c, depth);
	fprintf(c->out, "%s_s[0", name);
	for (int x = 0; x < n->nidx; x++)
		if (M->stride[x] && n->idx[x].size > 1)
			fprintf(c->out, " + (x%d - lo[%d]) * %" PRId64, x, x, M->stride[x]);
	fprintf(c->out, "] = in%d[", k);
	cg_c_offset(c, n, k);
	fputs("];\n", c->out);
	cg_c_close_loops(c, depth, 1);
	fprintf(c->out, "\tconst %s *%s = %s_s;\n", t, name, name);
}

/* Frees a block's copies. */
static void cg_c_block_free(CgC *c, const GemmPlan *p)
{
	if (p->A.scratch)
		fputs("\ttrart_scratch_free(A_s);\n", c->out);
	if (p->B.scratch)
		fputs("\ttrart_scratch_free(B_s);\n", c->out);
}

/* The epilogue over a final block, while it is in cache; closes b<id>. */
static void cg_c_block_gemm_epilogue(CgC *c, const TraNode *n, const GemmPlan *p, bool split)
{
	if (!split && p->epilogue) {
		for (int d = 0; d < n->rank; d++)
			cg_c_block_loop(c, d, 1 + d);
		cg_c_element(c, n, CG_ACC_OUTPUT, NULL, 1 + n->rank);
		cg_c_close_loops(c, 1 + n->rank, 1);
	}
	fputs("}\n\n", c->out);
}

/* ls[]: the local strides of n's block (C order in the block: a partial
 * block's layout), from the task's lo and hi. */
void cg_c_block_local_strides(CgC *c, const TraNode *n)
{
	fprintf(c->out, "\tint64_t ls[%d];\n\tls[%d] = 1;\n", n->rank + 1, n->rank > 0 ? n->rank - 1 : 0);
	fprintf(c->out, "\tfor (int d = %d; d > 0; d--)\n\t\tls[d - 1] = ls[d] * (hi[d] - lo[d]);\n", n->rank - 1);
}

/* Where a block's BLAS call writes, "part + (..." or "out + (...", the
 * closing parenthesis left to the caller: the partial block at the
 * batch element (C order in the block, local strides ls) if split, else
 * the output at C's offset. */
void cg_c_block_target(CgC *c, const TraNode *n, const GemmPlan *p, bool split)
{
	if (split) {
		fputs("part + (0", c->out);
		for (int i = 0; i < p->batch.n; i++)
			fprintf(c->out, " + (x%d - lo[%d]) * ls[%d]", p->batch.x[i], p->batch.x[i], p->batch.x[i]);
		return;
	}
	fputs("out + (", c->out);
	cg_c_block_offset(c, n, p, &p->C);
}

/* A block with M = 1 (a row vector times a matrix): cblas_?gemv on the
 * matrix block, y = B^T x, at the current batch element. */
static void cg_c_block_gemv(CgC *c, const TraNode *n, const GemmPlan *p, bool split)
{
	int nx = p->nn.x[p->nn.n - 1];
	fprintf(c->out, "cblas_%cgemv(TRAC_ROW_MAJOR, %s, ", n->type == TRART_F32 ? 's' : 'd',
	        p->B.trans ? "TRAC_NO_TRANS" : "TRAC_TRANS");
	if (p->B.trans) {
		cg_c_block_extent(c, &p->nn);
		fputs(", ", c->out);
	}
	cg_c_block_extent(c, &p->k);
	if (!p->B.trans) {
		fputs(", ", c->out);
		cg_c_block_extent(c, &p->nn);
	}
	fprintf(c->out, ", %.17g, B + (", split ? p->scale : p->alpha);
	cg_c_block_offset(c, n, p, &p->B);
	fprintf(c->out, "), %" PRId64 ", A + (", p->B.ld);
	cg_c_block_offset(c, n, p, &p->A);
	/* A is [1, K]: stored as a row its step is 1, as a column its ld */
	fprintf(c->out, "), %" PRId64 ", ", p->A.trans ? p->A.ld : (int64_t)1);
	cg_c_block_beta(c, p);
	fputs(", ", c->out);
	cg_c_block_target(c, n, p, split);
	fprintf(c->out, "), %" PRId64 ");\n", split ? (int64_t)1 : p->C.stride[nx]);
}

/* b<id> as GEMM calls: one per looped element of the block, on the
 * tensors in place or the plan's copies of their blocks, into the output
 * (or the partial block, C order in the block). */
static void cg_c_block_gemm(CgC *c, const Kplan *k)
{
	const TraNode *n = &c->g->nodes[k->node];
	const GemmPlan *p = &k->gemm;
	int id = k->node;
	bool split = k->split;
	const char *t = cg_c_type(n->type);
	cg_c_block_head(c, "b", id);
	fprintf(c->out, "\tconst int64_t *lo = task->lo, *hi = task->hi;\n");
	fprintf(c->out, "\t%s *out = bufs[%d];\n", t, id);
	for (int q = 0; q < n->nops; q++)
		fprintf(c->out, "\tconst %s *restrict in%d = bufs[%d];\n\t(void)in%d;\n", cg_c_in_type(c, n, q),
		        q, n->ops[q].node, q);
	cg_c_block_operand(c, n, &p->A, p->a, "A");
	cg_c_block_operand(c, n, &p->B, p->b, "B");
	/* local strides of the output block (the partial block's layout) */
	cg_c_block_local_strides(c, n);
	if (split)
		fprintf(c->out, "\t%s *part = %s[%d + (task - trac_tasks)]; /* its partial block */\n", t, c->all,
		        c->g->nnodes);
	fputs("\t(void)out; (void)ls;\n", c->out);
	int depth = 1;
	for (int i = 0; i < p->batch.n; i++)
		cg_c_block_loop(c, p->batch.x[i], depth + i);
	depth += p->batch.n;
	for (int i = 0; i < p->kloop.n; i++)
		cg_c_block_loop(c, p->kloop.x[i], depth + i);
	depth += p->kloop.n;
	cg_c_indent(c, depth);
	if (k->gemv) {
		cg_c_block_gemv(c, n, p, split);
		cg_c_close_loops(c, depth, 1);
		cg_c_block_free(c, p);
		cg_c_block_gemm_epilogue(c, n, p, split);
		return;
	}
	fprintf(c->out, "%s(TRAC_ROW_MAJOR, %s, %s, ", cg_c_gemm_name(n, p), cg_c_trans(p->A.trans),
	        cg_c_trans(p->B.trans));
	cg_c_block_extent(c, &p->m);
	fputs(", ", c->out);
	cg_c_block_extent(c, &p->nn);
	fputs(", ", c->out);
	cg_c_block_extent(c, &p->k);
	fprintf(c->out, ", %.17g,\n", split ? p->scale : p->alpha);
	cg_c_indent(c, depth + 1);
	fputs("A + (", c->out);
	cg_c_block_offset(c, n, p, &p->A);
	fprintf(c->out, "), %" PRId64 ", B + (", p->A.ld);
	cg_c_block_offset(c, n, p, &p->B);
	fprintf(c->out, "), %" PRId64 ", ", p->B.ld);
	cg_c_block_beta(c, p);
	fputs(", ", c->out);
	cg_c_block_target(c, n, p, split);
	if (split)
		fprintf(c->out, "), ls[%d]);\n", p->m.x[p->m.n - 1]);
	else
		fprintf(c->out, "), %" PRId64 ");\n", p->C.ld);
	cg_c_close_loops(c, depth, 1);
	cg_c_block_free(c, p);
	cg_c_block_gemm_epilogue(c, n, p, split);
}

/* The loop over tile starts y<x> of index x, at depth. */
static void cg_c_tile_starts(CgC *c, int x, int64_t tile, int depth)
{
	cg_c_indent(c, depth);
	fprintf(c->out, "for (int64_t y%d = lo[%d]; y%d < hi[%d]; y%d += %" PRId64 ") {\n", x, x, x, x, x, tile);
}

/* The loop over x within the tile at y<x>, at depth. */
static void cg_c_tile_inner(CgC *c, int x, int64_t tile, int depth)
{
	cg_c_indent(c, depth);
	fprintf(c->out, "for (int64_t x%d = y%d; x%d < (hi[%d] - y%d < %" PRId64 " ? hi[%d] : y%d + %" PRId64
	        "); x%d++) {\n", x, x, x, x, x, tile, x, x, tile, x);
}

/* A transposing block map (kplan.c's transposes), the rest of b<id>:
 * the output loops over the block, tile_index's and the vector loop's
 * in tiles (their starts where each loop was, the two loops within a
 * tile innermost). */
static void cg_c_block_tiles(CgC *c, const TraNode *n, const KplanNest *L)
{
	int t = L->tile_index, v = n->rank - 1, depth = 1;
	for (int d = 0; d < v; d++)
		if (d == t)
			cg_c_tile_starts(c, d, L->tile, depth++);
		else
			cg_c_block_loop(c, d, depth++);
	cg_c_tile_starts(c, v, L->tile, depth++);
	cg_c_tile_inner(c, t, L->tile, depth++);
	cg_c_tile_inner(c, v, L->tile, depth++);
	cg_c_element(c, n, CG_ACC_REDUCE, NULL, depth);
	cg_c_close_loops(c, depth, 1);
	fputs("}\n\n", c->out);
}

/* A block map of short rows (kplan.c's short rows), the rest of b<id>:
 * the loops outside the flat ones over the block, then one loop over
 * the last index through the block's flat range, the other flat indices
 * at 0: every offset is then the flat position's (kplan_merges). */
static void cg_c_block_flat(CgC *c, const TraNode *n, const KplanNest *L)
{
	int v = n->rank - 1, f = v - L->flat, depth = 1;
	int64_t row = kplan_flat_row(n, L);
	for (int d = 0; d < f; d++)
		cg_c_block_loop(c, d, depth++);
	for (int d = f; d < v; d++) {
		cg_c_indent(c, depth);
		fprintf(c->out, "const int64_t x%d = 0; (void)x%d;\n", d, d);
	}
	cg_c_indent(c, depth);
	fprintf(c->out, "for (int64_t x%d = lo[%d] * %" PRId64 "; x%d < hi[%d] * %" PRId64 "; x%d++) {\n", v, f, row, v,
	        f, row, v);
	cg_c_element(c, n, CG_ACC_REDUCE, NULL, depth + 1);
	cg_c_close_loops(c, depth + 1, 1);
	fputs("}\n\n", c->out);
}

/* b<id>: the join over one block; partial results to scratch if split. */
static void cg_c_block_join(CgC *c, const Kplan *k)
{
	const TraNode *n = &c->g->nodes[k->node];
	int id = k->node;
	bool split = k->split;
	const char *t = cg_c_type(n->type);
	cg_c_block_prologue(c, n, id, "b");
	if (split) {
		fprintf(c->out, "\tint64_t count = 1, e = 0;\n");
		for (int d = 0; d < n->rank; d++)
			fprintf(c->out, "\tcount *= hi[%d] - lo[%d];\n", d, d);
		fprintf(c->out, "\t%s *part = %s[%d + (task - trac_tasks)]; /* its partial block */\n", t, c->all,
		        c->g->nnodes);
	}
	if (k->nest.reduce == KPLAN_RED_COLUMNS) {
		char vlo[32], vhi[32];
		snprintf(vlo, sizeof vlo, "lo[%d]", n->rank - 1);
		snprintf(vhi, sizeof vhi, "hi[%d]", n->rank - 1);
		for (int d = 0; d < n->rank - 1; d++)
			cg_c_block_loop(c, d, 1 + d);
		cg_c_columns(c, n, n->rank, vlo, vhi, true, split);
		cg_c_close_loops(c, n->rank, 1);
		fputs("}\n\n", c->out);
		return;
	}
	if (k->nest.tile > 0) {
		cg_c_block_tiles(c, n, &k->nest);
		return;
	}
	if (k->nest.flat > 0) {
		cg_c_block_flat(c, n, &k->nest);
		return;
	}
	for (int d = 0; d < n->rank; d++)
		cg_c_block_loop(c, d, 1 + d);
	int depth = 1 + n->rank;
	if (n->agg == TRA_AGG_NONE) {
		cg_c_element(c, n, CG_ACC_REDUCE, NULL, depth);
	} else {
		cg_c_reduce(c, n, depth, true);
		cg_c_indent(c, depth);
		if (split) {
			fputs("part[e++] = acc;\n", c->out);
		} else {
			cg_c_store_reduced(c, n);
		}
	}
	cg_c_close_loops(c, depth, 1);
	cg_c_deferred_epilogue(c, n, "lo[0]", "hi[0]"); /* rank 1 */
	fputs("}\n\n", c->out);
}

/* b<id> of a scatter-add: its one task zeros the node and runs the nest. */
static void cg_c_block_scatter(CgC *c, const Kplan *k)
{
	const TraNode *n = &c->g->nodes[k->node];
	fprintf(c->out, "/* %s: scatter-add, one block */\n", n->name);
	cg_c_block_prologue(c, n, k->node, "b");
	cg_c_scatter_zero(c, n);
	cg_c_scatter_nest(c, n, &k->nest, true, 1);
	fputs("}\n\n", c->out);
}

/* Combines the task's partial blocks 1..np-1 into block 0 in one flat
 * vector loop each, then leaves np 1: each partial block holds the
 * output block's elements in C order, and only this task reads it. The
 * element loop after it, which applies the epilogue, then reads one
 * block, where it read np in a loop per element that did not vectorise
 * (W1's 1024x1024 aggregate: 1.9 ms on one worker). A max or min takes
 * a NaN along, so the element loop still sees it. Sums and products add
 * in the same order as before (q ascending). An aggregation task lists
 * one partial block at least. */
static void cg_c_block_agg_fold(CgC *c, const TraNode *n, const Kplan *k)
{
	const char *t = cg_c_type(n->type);
	fprintf(c->out, "\t%s *restrict p0 = %s[%d + parts[0]];\n\tint64_t ne = 1;\n", t, c->all, c->g->nnodes);
	fprintf(c->out, "\tfor (int d = 0; d < %d; d++)\n\t\tne *= hi[d] - lo[d];\n", n->rank);
	fprintf(c->out, "\tfor (int q = 1; q < np; q++) {\n\t\tconst %s *restrict pq = %s[%d + parts[q]];\n", t,
	        c->all, c->g->nnodes);
	fputs("#pragma omp simd\n\t\tfor (int64_t i = 0; i < ne; i++)\n\t\t\tp0[i] = ", c->out);
	switch (k->nest.agg) {
	case TRA_AGG_SUM: fputs("p0[i] + pq[i];\n", c->out); break;
	case TRA_AGG_PROD: fputs("p0[i] * pq[i];\n", c->out); break;
	default:
		fprintf(c->out, "pq[i] %s p0[i]%s ? pq[i] : p0[i];\n", k->nest.agg == TRA_AGG_MAX ? ">" : "<",
		        k->nest.nan_flag ? " || pq[i] != pq[i]" : "");
	}
	fputs("\t}\n", c->out);
}

/* a<id>: combines the partial blocks listed for the task, then the epilogue. */
static void cg_c_block_agg(CgC *c, const Kplan *k)
{
	const TraNode *n = &c->g->nodes[k->node];
	int id = k->node;
	const char *t = cg_c_type(n->type);
	bool minmax = k->nest.nan_flag;
	cg_c_block_prologue(c, n, id, "a");
	fprintf(c->out, "\tint self = (int)(task - trac_tasks), np = trac_nparts[self];\n"
	        "\tconst int *parts = trac_parts[self];\n\tint64_t e = 0;\n");
	cg_c_block_agg_fold(c, n, k);
	for (int d = 0; d < n->rank; d++)
		cg_c_block_loop(c, d, 1 + d);
	int depth = 1 + n->rank;
	cg_c_indent(c, depth);
	fprintf(c->out, "%s acc = %s;\n", t, cg_c_init(k->nest.init));
	if (minmax) {
		cg_c_indent(c, depth);
		fputs("int nan = 0;\n", c->out);
	}
	cg_c_indent(c, depth);
	fprintf(c->out, "%s v = p0[e];\n", t);
	cg_c_indent(c, depth);
	switch (k->nest.agg) {
	case TRA_AGG_SUM: fputs("acc += v;\n", c->out); break;
	case TRA_AGG_PROD: fputs("acc *= v;\n", c->out); break;
	default:
		fprintf(c->out, "acc = v %s acc ? v : acc;\n", k->nest.agg == TRA_AGG_MAX ? ">" : "<");
		if (minmax) {
			cg_c_indent(c, depth);
			fputs("nan |= v != v;\n", c->out);
		}
	}
	if (minmax) {
		cg_c_nan_fixup(c, depth);
	}
	cg_c_indent(c, depth);
	fputs("e++;\n", c->out);
	cg_c_indent(c, depth);
	cg_c_store(c, n);
	cg_c_close_loops(c, depth, 1);
	fputs("}\n\n", c->out);
}

/* "{a, b, c}" or "{0}" (C has no empty initialiser) for n ints. */
static void cg_c_int_list(CgC *c, const int *xs, int n)
{
	fputc('{', c->out);
	for (int i = 0; i < n; i++)
		fprintf(c->out, "%s%d", i ? ", " : "", xs[i]);
	fprintf(c->out, "%s}", n ? "" : "0");
}

/* Per tensor: the bytes the executor allocates from its pool (the
 * intermediates), or 0 (inputs and outputs: the caller's). */
static void cg_c_pooled(CgC *c)
{
	/* (on GPUs the memgraph plans the GPUs' copies: the host's buffers
	 * are kplan's) */
	const Memgraph *mg = c->opt->ia->ngpus > 0 ? NULL : c->opt->mg;
	fprintf(c->out, "static const size_t trac_pooled[%d] = {", c->kp->nbufs);
	for (int id = 0; id < c->kp->nbufs; id++)
		fprintf(c->out, "%s%" PRId64, id ? ", " : "", mg ? memgraph_arena_bytes(mg, id) : c->kp->pooled[id]);
	fputs("};\n\n", c->out);
}

/* The block function a task's kernel is: b, a or r and its node, or
 * trac_nop; NULL for the no-op. */
static const char *cg_c_task_fn(const Kplan *k)
{
	switch (k->kind) {
	case KPLAN_ROWS: return "r";
	case KPLAN_BLAS:
	case KPLAN_LOOPS:
	case KPLAN_SCATTER: return "b";
	case KPLAN_AGG: return "a";
	default: return NULL;
	}
}

/* The rows of the task table: the block tasks, then the memgraph's
 * memory tasks. */
static int cg_c_ntasks(const CgC *c)
{
	return c->opt->ia->ntasks + (c->opt->mg ? c->opt->mg->nops : 0);
}

/* The memory tasks' rows (trac_tasks continues): what each does
 * (trac_mem), what it waits for and wakes. Named by their buffer's
 * tensor (a trace says "offload H", a spill error "tensor H"). */
static void cg_c_mem_rows(CgC *c)
{
	const Memgraph *mg = c->opt->mg;
	for (int i = 0; i < mg->nops; i++) {
		int v = mg->ntasks + i;
		const MgOp *op = &mg->ops[i];
		int node = kplan_buffer_node(c->kp, op->buf % c->kp->nbufs); /* (on GPUs, a GPU's copy) */
		fprintf(c->out, "\t{trart_mem_task, NULL, NULL, 0, \"%s\", %d, %.17g, %d, %d, trac_succ%d, 0, %.17g, 0, "
		        "NULL, 0, &trac_mem[%d]},\n", c->g->nodes[node].name,
		        mg->device[v], mg->priority[v], mg->npred[v], mg->nsucc[v], v,
		        memgraph_moves(op->kind) ? (double)op->bytes : 0.0, i);
	}
}

/* The memory tasks' successors and what they do, before trac_tasks. */
static void cg_c_mem_arrays(CgC *c)
{
	static const char *const kinds[] = {"TRART_MEM_ALLOC", "TRART_MEM_FREE",  "TRART_MEM_OFFLOAD",
	                                    "TRART_MEM_RELOAD", "TRART_MEM_READ", "TRART_MEM_DROP",
	                                    "TRART_MEM_CLAIM",  "TRART_MEM_WRITE"};
	const Memgraph *mg = c->opt->mg;
	for (int i = 0; i < mg->nops; i++) {
		int v = mg->ntasks + i;
		fprintf(c->out, "static const int trac_succ%d[] = ", v);
		cg_c_int_list(c, mg->succ[v], mg->nsucc[v]);
		fputs(";\n", c->out);
	}
	fprintf(c->out, "static const TrartMemOp trac_mem[%d] = {\n", mg->nops ? mg->nops : 1);
	for (int i = 0; i < mg->nops; i++) {
		const MgOp *op = &mg->ops[i];
		fprintf(c->out, "\t{%s, %d, %" PRId64 ", %" PRId64 ", %" PRId64 "},\n", kinds[op->kind],
		        memgraph_op_buffer(mg, c->kp, op), op->offset, op->bytes, op->spill);
	}
	if (mg->nops == 0)
		fputs("\t{0, 0, 0, 0, 0},\n", c->out);
	fputs("};\n", c->out);
}

/* How many pieces task t writes (kplan_task_pieces). */
static int cg_c_npieces(const CgC *c, int t)
{
	KplanPiece *pc = xcalloc((size_t)c->opt->ia->ncons[t] + 1, sizeof *pc);
	int n = kplan_task_pieces(c->kp, t, pc);
	free(pc);
	return n;
}

/* On ranks, what task t writes (kplan_task_pieces): trac_piece<t>. */
static void cg_c_task_pieces(CgC *c, int t)
{
	KplanPiece *pc = xcalloc((size_t)c->opt->ia->ncons[t] + 1, sizeof *pc);
	int n = kplan_task_pieces(c->kp, t, pc);
	for (int i = 0; i < n; i++) {
		fprintf(c->out, "static const int64_t trac_pdims%d_%d[] = {", t, i);
		for (int d = 0; d < pc[i].ndim; d++)
			fprintf(c->out, "%s%" PRId64, d ? ", " : "", pc[i].shape[d]);
		for (int d = 0; d < pc[i].ndim; d++)
			fprintf(c->out, ", %" PRId64, pc[i].start[d]);
		for (int d = 0; d < pc[i].ndim; d++)
			fprintf(c->out, ", %" PRId64, pc[i].size[d]);
		fputs("};\n", c->out);
	}
	if (n > 0) {
		fprintf(c->out, "static const TrartPiece trac_piece%d[] = {", t);
		for (int i = 0; i < n; i++)
			fprintf(c->out, "%s{%d, %d, %d, %d, trac_pdims%d_%d}", i ? ", " : "", pc[i].buf,
			        pc[i].elsize, pc[i].ndim, pc[i].host, t, i);
		fputs("};\n", c->out);
	}
	free(pc);
}

/* One task's bounds, successors, partial list and buffers. */
static void cg_c_task_arrays(CgC *c, int t)
{
	const IaTask *k = &c->opt->ia->tasks[t];
	const KplanTask *kt = &c->kp->tasks[t];
	fprintf(c->out, "static const int64_t trac_lo%d[] = {", t);
	for (int d = 0; d < k->ndim; d++)
		fprintf(c->out, "%s%" PRId64, d ? ", " : "", k->lo[d]);
	fprintf(c->out, "%s}, trac_hi%d[] = {", k->ndim ? "" : "0", t);
	for (int d = 0; d < k->ndim; d++)
		fprintf(c->out, "%s%" PRId64, d ? ", " : "", k->hi[d]);
	fprintf(c->out, "%s};\n", k->ndim ? "" : "0");
	fprintf(c->out, "static const int trac_succ%d[] = ", t);
	if (c->opt->mg)
		cg_c_int_list(c, c->opt->mg->succ[t], c->opt->mg->nsucc[t]);
	else
		cg_c_int_list(c, kt->succ, kt->nsucc);
	fputs(";\n", c->out);
	if (kt->nparts > 0) {
		fprintf(c->out, "static const int trac_parts%d[] = ", t);
		cg_c_int_list(c, kt->parts, kt->nparts);
		fputs(";\n", c->out);
	}
	const Memgraph *mg = c->opt->mg;
	if (mg && mg->nviews && mg->nviews[t] > 0) {
		fprintf(c->out, "static const TrartView trac_view%d[] = {", t);
		for (int i = 0; i < mg->nviews[t]; i++)
			fprintf(c->out, "%s{%d, %d, %" PRId64 "}", i ? ", " : "", mg->views[t][i].node,
			        mg->views[t][i].buf, mg->views[t][i].begin);
		fputs("};\n", c->out);
	}
	if (c->opt->ia->nranks > 1 || c->opt->ia->ngpus > 0)
		cg_c_task_pieces(c, t);
	if (k->kind == IA_JOIN || k->kind == IA_AGG) {
		fprintf(c->out, "static const int trac_use%d[] = {", t);
		for (int i = 0; i < kt->nuse; i++)
			fprintf(c->out, "%s%d", i ? ", " : "", kt->use[i]);
		fputs("};\n", c->out);
	}
}

/* Buffer b's bytes on a GPU: kplan's, or where a budget keeps a tensor
 * block by block, its block's (in b, the block's final task's slot: the
 * same block on every GPU that holds it). */
static int64_t cg_c_gpu_bytes(const CgC *c, int b)
{
	const Memgraph *mg = c->opt->mg;
	int64_t bytes = kplan_buffer_bytes(c->kp, b);
	for (int q = 0; mg && bytes == 0 && q < mg->ndomains; q++)
		if (mg->bufs[q * c->kp->nbufs + b].io == MG_BLOCK)
			bytes = mg->bufs[q * c->kp->nbufs + b].bytes;
	return bytes;
}

/* On GPUs (runtime/gpu.c): every buffer's bytes, and the memgraph's
 * per-GPU offsets (GPU q's copy of buffer b at trac_offset[q * nbufs +
 * b], -1 where GPU q has none), each GPU's arena and slower tier as
 * large as the largest of them. */
static void cg_c_gpu_graph(CgC *c)
{
	const Memgraph *mg = c->opt->mg;
	int nb = c->kp->nbufs;
	int64_t arena = 0, spill = 0;
	fprintf(c->out, "static const int64_t trac_bytes[%d] = {", nb);
	for (int b = 0; b < nb; b++)
		fprintf(c->out, "%s%" PRId64, b ? ", " : "", cg_c_gpu_bytes(c, b));
	fputs("};\n", c->out);
	if (mg) {
		fprintf(c->out, "static const int64_t trac_offset[%d] = {", mg->nbufs);
		for (int b = 0; b < mg->nbufs; b++)
			fprintf(c->out, "%s%" PRId64, b ? ", " : "",
			        memgraph_arena_bytes(mg, b) > 0 ? memgraph_arena_offset(mg, b) : -1);
		fputs("};\n", c->out);
		for (int d = 0; d < mg->ndomains; d++) {
			arena = mg->domains[d].arena > arena ? mg->domains[d].arena : arena;
			spill = mg->domains[d].spill > spill ? mg->domains[d].spill : spill;
		}
	}
	fprintf(c->out, "\nstatic const TrartTaskGraph trac_graph = {%d, trac_tasks, %d, trac_pooled, %d, %" PRId64
	        ", %s, %" PRId64 ", 1, 0, %d, trac_bytes};\n\n", cg_c_ntasks(c), nb, c->g->nnodes, arena,
	        mg ? "trac_offset" : "NULL", spill, c->opt->ia->ngpus);
}

/* The tasks' arrays, then the table the executor runs (kp->tasks). */
static void cg_c_task_tables(CgC *c)
{
	const IaGraph *ia = c->opt->ia;
	int nt = ia->ntasks;
	for (int t = 0; t < nt; t++)
		cg_c_task_arrays(c, t);
	if (c->opt->mg)
		cg_c_mem_arrays(c);
	fprintf(c->out, "\nstatic const int trac_nparts[%d] = {", nt);
	for (int t = 0; t < nt; t++)
		fprintf(c->out, "%s%d", t ? ", " : "", c->kp->tasks[t].nparts);
	fprintf(c->out, "};\nstatic const int *const trac_parts[%d] = {", nt);
	for (int t = 0; t < nt; t++) {
		if (c->kp->tasks[t].nparts > 0)
			fprintf(c->out, "%strac_parts%d", t ? ", " : "", t);
		else
			fprintf(c->out, "%sNULL", t ? ", " : "");
	}
	fputs("};\n\nstatic const TrartTask trac_tasks[] = {\n", c->out);
	for (int t = 0; t < nt; t++) {
		const IaTask *k = &ia->tasks[t];
		const KplanTask *kt = &c->kp->tasks[t];
		const Kplan *kernel = &c->kp->kernels[kt->kernel];
		const char *fn = cg_c_task_fn(kernel);
		fprintf(c->out, "\t{");
		if (fn)
			fprintf(c->out, "%s%d", fn, kernel->node);
		else
			fputs("trac_nop", c->out);
		const Memgraph *mg = c->opt->mg;
		fprintf(c->out, ", trac_lo%d, trac_hi%d, %d, \"%s\", %d, %.17g, %d, %d, trac_succ%d, %.17g, %.17g, ",
		        t, t, k->ndim, c->g->nodes[k->node].name, k->device < 0 ? 0 : k->device, k->priority,
		        mg ? mg->npred[t] : kt->npred, mg ? mg->nsucc[t] : kt->nsucc, t, k->flops, k->bytes);
		if (fn)
			fprintf(c->out, "%d, trac_use%d", kt->nuse, t);
		else
			fputs("0, NULL", c->out);
		fprintf(c->out, ", %.17g", k->out_bytes);
		bool views = mg && mg->nviews && mg->nviews[t] > 0;
		int npieces = ia->nranks > 1 || ia->ngpus > 0 ? cg_c_npieces(c, t) : 0;
		if (views)
			fprintf(c->out, ", NULL, %d, trac_view%d", mg->nviews[t], t);
		else if (npieces > 0)
			fputs(", NULL, 0, NULL", c->out);
		if (npieces > 0) /* (on GPUs, with views: the pieces are copied through them) */
			fprintf(c->out, ", %d, trac_piece%d", npieces, t);
		fputs("},\n", c->out);
	}
	if (c->opt->mg)
		cg_c_mem_rows(c);
	fputs("};\n\n", c->out);
	cg_c_pooled(c);
	if (ia->ngpus > 0) {
		cg_c_gpu_graph(c);
		return;
	}
	if (!c->opt->mg) {
		fprintf(c->out, "static const TrartTaskGraph trac_graph = {%d, trac_tasks, %d, trac_pooled, %d, "
		        "0, NULL, 0, %d, %d};\n\n", nt, c->kp->nbufs, c->g->nnodes, ia->nranks, ia->rank_devices);
		return;
	}
	const Memgraph *mg = c->opt->mg;
	fprintf(c->out, "static const int64_t trac_offset[%d] = {", mg->nbufs);
	for (int b = 0; b < mg->nbufs; b++)
		fprintf(c->out, "%s%" PRId64, b ? ", " : "", memgraph_arena_offset(mg, b));
	fprintf(c->out, "};\n\nstatic const TrartTaskGraph trac_graph = {%d, trac_tasks, %d, trac_pooled, %d, "
	        "%" PRId64 ", trac_offset, %" PRId64 "};\n\n",
	        cg_c_ntasks(c), mg->nbufs, c->g->nnodes, mg->domains[0].arena, mg->domains[0].spill);
}

/* r<lead>: one row block of every node of the group lead leads, row by
 * row, as the whole-node group kernel does for all rows (the rows a
 * producer made are in cache when the next member reads them). */
static void cg_c_block_rows(CgC *c, const Kplan *k)
{
	const TraGraph *g = c->g;
	int lead = k->node;
	fputs("/* row group", c->out);
	for (int m = 0; m < k->nmembers; m++)
		fprintf(c->out, " %s", g->nodes[k->members[m]].name);
	fputs(": row blocks */\n", c->out);
	for (int m = 0; m < k->nmembers; m++)
		if (k->members[m] == k->reducer)
			cg_c_row_reduce(c, &g->nodes[k->members[m]], k->members[m], k->jam);
		else
			cg_c_row(c, &g->nodes[k->members[m]], k->members[m], k->row_rank);
	cg_c_group_body(c, k);
	cg_c_block_head(c, "r", lead);
	if (k->reducer < 0) {
		fprintf(c->out, "\tTracCtx ctx = {bufs, NULL, 0};\n");
	} else { /* the reducer's partial block: the task's parts[0] (kplan_task_partial) */
		const TraNode *r = &g->nodes[k->reducer];
		fprintf(c->out, "\t%s *part = %s[%d + trac_parts[task - trac_tasks][0]];\n", cg_c_type(r->type), c->all,
		        g->nnodes);
		fprintf(c->out, "\tmemset(part, 0, %" PRId64 " * sizeof *part);\n\tTracCtx ctx = {bufs, part, 0};\n",
		        tra_node_elements(r));
	}
	if (k->row_rank == 1) {
		fprintf(c->out, "\tg%d_body(task->lo[0], task->hi[0], &ctx);\n}\n\n", lead);
		return;
	}
	/* the task's rows are one range (ia_task_rows) */
	const TraNode *l = &g->nodes[lead];
	fputs("\tint64_t first = 0, count = 1;\n", c->out);
	for (int d = 0; d < k->row_rank; d++)
		fprintf(c->out, "\tfirst += task->lo[%d] * %" PRId64 ";\n\tcount *= task->hi[%d] - task->lo[%d];\n", d,
		        ia_row_stride(l, k->row_rank, d), d, d);
	fprintf(c->out, "\tg%d_body(first, first + count, &ctx);\n}\n\n", lead);
}

/* The block kernels, as planned: the no-op that input leaves and
 * repartitions share, then per einsum node its fused row group, or its
 * join (BLAS or loops) and the aggregation of a split one. A row group's
 * members are printed by the group (cg_c_block_rows). */
static void cg_c_block_kernel(CgC *c, const Kplan *k)
{
	const TraNode *n = k->node >= 0 ? &c->g->nodes[k->node] : NULL;
	int nt = c->opt->ia->ntasks;
	switch (k->kind) {
	case KPLAN_NOP:
		fprintf(c->out, "static const TrartTask trac_tasks[%d];\n"
		        "static const int trac_nparts[%d];\nstatic const int *const trac_parts[%d];\n\n"
		        "/* input leaves and repartitions: order only, the data is in place */\n"
		        "static void trac_nop(void *const *bufs, const TrartTask *task)\n"
		        "{\n\t(void)bufs; (void)task;\n}\n\n", cg_c_ntasks(c), nt, nt);
		return;
	case KPLAN_ROWS: cg_c_block_rows(c, k); return;
	case KPLAN_AGG: cg_c_block_agg(c, k); return;
	case KPLAN_SCATTER: cg_c_block_scatter(c, k); return;
	case KPLAN_BLAS:
	case KPLAN_LOOPS:
		if (!k->block)
			return; /* a member of a row group */
		fprintf(c->out, "/* %s: blocks%s */\n", n->name, k->split ? ", split reduction" : "");
		if (k->kind == KPLAN_BLAS)
			cg_c_block_gemm(c, k);
		else
			cg_c_block_join(c, k);
		return;
	}
}

/* ---- the program: tables, main, and library mode ------------------------------- */

static const char *cg_c_kind(const TraNode *n)
{
	if (n->kind == TRA_NODE_INPUT)
		return n->is_output ? "TRART_INOUT" : "TRART_INPUT";
	return n->is_output ? "TRART_OUTPUT" : "TRART_TEMP";
}

/* A whole-node kernel, as planned: BLAS calls, a loop nest (a row
 * group's member, or a scalar's kernel), or a row group's kernel after
 * its last member. */
static void cg_c_node_kernel(CgC *c, const Kplan *k)
{
	const TraNode *n = &c->g->nodes[k->node];
	switch (k->kind) {
	case KPLAN_BLAS: cg_c_gemm_kernel(c, k); return;
	case KPLAN_LOOPS:
		fprintf(c->out, "/* %s: loops */\n", n->name);
		cg_c_loop_kernel(c, n, k->node);
		return;
	case KPLAN_ROWS: cg_c_group_kernel(c, k); return;
	case KPLAN_SCATTER: cg_c_scatter_kernel(c, k); return;
	default: TRAC_BUG("no whole-node kernel is a %s", kplan_kind_name(k->kind));
	}
}

/* A C string literal for a tensor name (names are identifiers, but the
 * split-off ones hold a dot). */
static void cg_c_tables(CgC *c)
{
	const TraGraph *g = c->g;
	for (int id = 0; id < g->nnodes; id++) {
		const TraNode *n = &g->nodes[id];
		fprintf(c->out, "static const int64_t shape%d[] = {", id);
		for (int d = 0; d < n->rank; d++)
			fprintf(c->out, "%s%" PRId64, d ? ", " : "", n->idx[d].size);
		fputs(n->rank ? "};\n" : "0};\n", c->out);
	}
	fputs("\nstatic const TrartTensor trac_tensors[] = {\n", c->out);
	for (int id = 0; id < g->nnodes; id++) {
		const TraNode *n = &g->nodes[id];
		int64_t below = n->kind == TRA_NODE_INPUT && TRART_IS_INT(n->type) ? tra_gather_bound(g, id) : 0;
		fprintf(c->out, "\t{\"%s\", %s, %d, shape%d, %s, %" PRId64 "},\n", n->name,
		        cg_c_dtype(n->type), n->rank, id, cg_c_kind(n), below);
	}
	fputs("};\n\nstatic const TrartKernel trac_kernels[] = {\n", c->out);
	int nk = 0;
	for (int id = 0; id < g->nnodes && !c->opt->ia; id++) {
		if (g->nodes[id].kind == TRA_NODE_INPUT || c->leader[id] != id)
			continue;
		/* a group is one kernel: its members' names joined by '+' */
		double flops = 0, bytes = 0;
		int last = id;
		fputs("\t{\"", c->out);
		for (int k = id; k < g->nnodes; k++)
			if (c->leader[k] == id) {
				fprintf(c->out, "%s%s", k == id ? "" : "+", g->nodes[k].name);
				flops += g->nodes[k].flops;
				bytes += g->nodes[k].bytes;
				last = k;
			}
		fprintf(c->out, "\", k%d, %d, %.17g, %.17g},\n", id, last, flops, bytes);
		nk++;
	}
	if (nk == 0)
		fputs("\t{NULL, NULL, 0, 0, 0},\n", c->out); /* C has no empty arrays */
	/* training state: output -> input pairs, as tensor ids */
	fputs("};\n\nstatic const int trac_feeds[] = {", c->out);
	for (int i = 0, from, to; i < g->nfeeds; i++) {
		tra_feed_nodes(g, i, &from, &to);
		fprintf(c->out, "%s%d, %d", i ? ", " : "", from, to);
	}
	fprintf(c->out, "%s};\n\nstatic const TrartProgram trac_program = {\n"
	        "\t\"%s\", \"%s\", %d, trac_tensors, %d, trac_kernels, %s, %d, trac_feeds,\n};\n\n",
	        g->nfeeds ? "" : "0", c->opt->name, PACKAGE_VERSION, g->nnodes, nk,
	        c->opt->ia ? "&trac_graph" : "NULL", g->nfeeds);
}

/* The position of input node id among the inputs. */
static int cg_c_input_ordinal(const TraGraph *g, int id)
{
	int k = 0;
	for (int i = 0; i < id; i++)
		k += g->nodes[i].kind == TRA_NODE_INPUT;
	return k;
}

/* main() on CUDA GPUs: the launchers of the CUDA file (cg_cuda_emit's
 * trac_cuda_tasks, a TrartCudaFn per task stored as a const void *, so
 * that C and CUDA C++ declare the same type) to trart_cuda_main. */
static void cg_c_cuda_main(const CgC *c)
{
	int nt = c->opt->ia->ntasks;
	fprintf(c->out, "extern const void *const trac_cuda_tasks[%d];\n"
	        "static const TrartCudaKernels trac_cuda = {trac_cuda_tasks, %d, %s};\n\n"
	        "int main(int argc, char **argv)\n{\n\treturn trart_cuda_main(&trac_program, &trac_cuda, argc, argv);\n}\n",
	        nt, nt, c->opt->cuda->tf32 ? "true" : "false");
}

/* Library mode: NAME(inputs, outputs, threads) over the caller's buffers. */
static void cg_c_library(CgC *c)
{
	const TraGraph *g = c->g;
	const char *name = c->opt->name;
	int ni = 0;
	for (int id = 0; id < g->nnodes; id++)
		ni += g->nodes[id].kind == TRA_NODE_INPUT;
	fprintf(c->out, "#include \"%s\"\n\n", c->opt->header);
	fprintf(c->out, "const trac_tensor_info %s_inputs[%d] = {\n", name, ni > 0 ? ni : 1);
	for (int id = 0; id < g->nnodes; id++)
		if (g->nodes[id].kind == TRA_NODE_INPUT)
			fprintf(c->out, "\t{\"%s\", %s, %d, shape%d},\n", g->nodes[id].name,
			        cg_c_dtype(g->nodes[id].type), g->nodes[id].rank, id);
	fprintf(c->out, "};\n\nconst trac_tensor_info %s_outputs[%d] = {\n", name, g->noutputs);
	for (int i = 0; i < g->noutputs; i++) {
		const TraNode *n = &g->nodes[g->outputs[i]];
		fprintf(c->out, "\t{\"%s\", %s, %d, shape%d},\n", n->name,
		        cg_c_dtype(n->type), n->rank, g->outputs[i]);
	}
	fprintf(c->out, "};\n\nint %s(const void *const *inputs, void *const *outputs, int threads)\n{\n"
	        "\tvoid *bufs[%d];\n\tint i = 0;\n", name, g->nnodes);
	for (int id = 0; id < g->nnodes; id++)
		if (g->nodes[id].kind == TRA_NODE_INPUT)
			fprintf(c->out, "\tbufs[%d] = (void *)inputs[i++];\n", id);
	fputs("\ti = 0;\n", c->out);
	for (int k = 0; k < g->noutputs; k++)
		if (g->nodes[g->outputs[k]].kind != TRA_NODE_INPUT)
			fprintf(c->out, "\tbufs[%d] = outputs[%d];\n", g->outputs[k], k);
	/* intermediates: the task graph's executor pools them (cg_c_pooled);
	 * else each is malloc'd, all NULL first so that the nomem path frees
	 * only what it got */
	bool pooled = c->opt->ia != NULL;
	for (int id = 0; id < g->nnodes; id++) {
		const TraNode *n = &g->nodes[id];
		if (n->kind != TRA_NODE_INPUT && !n->is_output)
			fprintf(c->out, "\tbufs[%d] = NULL;\n", id);
	}
	for (int id = 0; id < g->nnodes; id++) {
		const TraNode *n = &g->nodes[id];
		if (n->kind != TRA_NODE_INPUT && !n->is_output && !pooled)
			fprintf(c->out, "\tbufs[%d] = malloc(%" PRId64 " * sizeof(%s));\n"
			        "\tif (!bufs[%d])\n\t\tgoto nomem;\n", id, tra_node_elements(n),
			        cg_c_type(n->type), id);
	}
	fputs("\t(void)i;\n\ttrart_execute(&trac_program, bufs, threads);\n", c->out);
	for (int k = 0; k < g->noutputs; k++) {
		const TraNode *n = &g->nodes[g->outputs[k]];
		if (n->kind == TRA_NODE_INPUT)
			fprintf(c->out, "\tmemcpy(outputs[%d], inputs[%d], %" PRId64 " * sizeof(%s));\n",
			        k, cg_c_input_ordinal(g, g->outputs[k]), tra_node_elements(n), cg_c_type(n->type));
	}
	if (pooled) {
		fputs("\treturn 0;\n}\n", c->out);
		return;
	}
	fputs("\tint rc = 0;\n\tif (0) {\nnomem:\n\t\trc = 1;\n\t}\n", c->out);
	for (int id = 0; id < g->nnodes; id++) {
		const TraNode *n = &g->nodes[id];
		if (n->kind != TRA_NODE_INPUT && !n->is_output && !pooled)
			fprintf(c->out, "\tfree(bufs[%d]);\n", id);
	}
	fputs("\treturn rc;\n}\n", c->out);
}

void cg_c_emit(const TraGraph *g, const CgCOptions *opt, FILE *out)
{
	KplanProgram kp;
	kplan_build(g, opt->ia, opt->plans, &kp);
	CgC c = {g, out, opt, &kp, kp.leader, opt->mg && opt->mg->views ? "all" : "bufs", false, false};
	fprintf(out, "/* generated by trac %s from %s: do not edit */\n", PACKAGE_VERSION, opt->source);
	fputs(cg_c_prelude_text, out);
	fputs(cg_c_helpers_text, out);
	fputs(cg_c_ctx_text, out);
	for (int k = 0; k < kp.nkernels; k++)
		if (opt->ia)
			cg_c_block_kernel(&c, &kp.kernels[k]);
		else
			cg_c_node_kernel(&c, &kp.kernels[k]);
	if (opt->ia)
		cg_c_task_tables(&c);
	cg_c_tables(&c);
	if (opt->library)
		cg_c_library(&c);
	else if (opt->cuda)
		cg_c_cuda_main(&c);
	else
		fprintf(out, "int main(int argc, char **argv)\n{\n\treturn %s(&trac_program, argc, argv);\n}\n",
		        opt->ia && opt->ia->nranks > 1 ? "trart_mpi_main" : "trart_main");
	kplan_free(&kp);
}

/* The header's macros for one tensor: element type, rank, shape, count. */
static void cg_c_header_tensor(const char *name, const TraNode *n, FILE *out)
{
	fprintf(out, "#define %s_%s_DTYPE %s\n#define %s_%s_RANK %d\n", name, n->name,
	        cg_c_dtype(n->type), name, n->name, n->rank);
	if (n->rank) /* a scalar has no shape: C has no empty initialiser */
		fprintf(out, "#define %s_%s_SHAPE {", name, n->name);
	for (int d = 0; d < n->rank; d++)
		fprintf(out, "%s%" PRId64 "%s", d ? ", " : "", n->idx[d].size, d + 1 == n->rank ? "}\n" : "");
	fprintf(out, "#define %s_%s_ELEMENTS %" PRId64 "\n", name, n->name, tra_node_elements(n));
	fprintf(out, "typedef %s %s_%s_t;\n\n", cg_c_type(n->type), name, n->name);
}

/* The header of library mode: the function and its tensors. */
void cg_c_emit_header(const TraGraph *g, const CgCOptions *opt, FILE *out)
{
	const char *name = opt->name;
	int ni = 0;
	for (int id = 0; id < g->nnodes; id++)
		ni += g->nodes[id].kind == TRA_NODE_INPUT;
	fprintf(out, "/* %s: generated by trac %s from %s: do not edit */\n", opt->header, PACKAGE_VERSION,
	        opt->source);
	fprintf(out, "#ifndef TRAC_%s_H\n#define TRAC_%s_H\n\n#include <stdint.h>\n"
	        "#include <trart.h> /* TrartDtype (TRART_F32, TRART_F64), trart_shutdown() */\n\n"
	        "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n", name, name);
	fputs("#ifndef TRAC_TENSOR_INFO\n#define TRAC_TENSOR_INFO\n"
	      "/* A tensor of a trac program: name, element type and C-order shape. */\n"
	      "typedef struct trac_tensor_info {\n\tconst char *name;\n\tTrartDtype dtype;\n"
	      "\tint rank;\n\tconst int64_t *shape;\n} trac_tensor_info;\n#endif\n\n", out);
	fprintf(out, "#define %s_NUM_INPUTS %d\n#define %s_NUM_OUTPUTS %d\n\n", name, ni, name, g->noutputs);
	fprintf(out, "/* Per tensor: its element type, rank, shape (an initialiser) and element\n"
	        " * count, and its C element type: %s_T_t buf[%s_T_ELEMENTS]. */\n", name, name);
	for (int id = 0; id < g->nnodes; id++)
		if (g->nodes[id].kind == TRA_NODE_INPUT || g->nodes[id].is_output)
			cg_c_header_tensor(name, &g->nodes[id], out);
	fprintf(out, "/* The inputs, in the order %s() takes them:", name);
	for (int id = 0; id < g->nnodes; id++)
		if (g->nodes[id].kind == TRA_NODE_INPUT)
			fprintf(out, " %s", g->nodes[id].name);
	fprintf(out, " */\nextern const trac_tensor_info %s_inputs[%d];\n", name, ni > 0 ? ni : 1);
	fprintf(out, "/* The outputs, in the order %s() takes them:", name);
	for (int k = 0; k < g->noutputs; k++)
		fprintf(out, " %s", g->nodes[g->outputs[k]].name);
	fprintf(out, " */\nextern const trac_tensor_info %s_outputs[%d];\n\n", name, g->noutputs);
	fprintf(out, "/* Runs the program. inputs[i] points to the data of %s_inputs[i]\n"
	        " * (C order, its element type); outputs[i] to room for %s_outputs[i].\n"
	        " * threads: worker threads, 0 for one per online core. %s */\n"
	        "int %s(const void *const *inputs, void *const *outputs, int threads);\n\n"
	        "/* When done with every trac program, trart_shutdown() (trart.h) stops\n"
	        " * the runtime's worker threads and frees its state (before dlclose, if\n"
	        " * the library was loaded with dlopen). */\n\n"
	        "#ifdef __cplusplus\n}\n#endif\n\n#endif\n", name, name,
	        opt->ia ? "Returns 0; the\n * intermediates come from the runtime's block pool, and running out\n"
	                  " * of memory ends the process with a message. Calls from several\n"
	                  " * threads are safe: they run one after another."
	                : "Returns 0, or 1\n * when memory for the intermediates could not be allocated.",
	        name);
}

/* ---- names library mode's function may not have ------------------------------------ */

/* Keywords of C (C23 included) and of C++, which includes the header. */
static const char *const cg_c_keywords[] = {
	"auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum",
	"extern", "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return",
	"short", "signed", "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void",
	"volatile", "while", "bool", "true", "false", "alignas", "alignof", "static_assert", "thread_local",
	"nullptr", "constexpr", "typeof", "typeof_unqual", "asm", "class", "new", "delete", "template",
	"this", "namespace", "operator", "private", "public", "protected", "virtual", "friend", "try",
	"catch", "throw", "using", "typename", "explicit", "mutable", "export", "and", "or", "not", "xor",
	"bitand", "bitor", "compl", "and_eq", "or_eq", "xor_eq", "not_eq", "decltype", "noexcept",
	"char8_t", "char16_t", "char32_t", "wchar_t", "concept", "requires", "co_await", "co_return",
	"co_yield", "consteval", "constinit", "dynamic_cast", "static_cast", "const_cast",
	"reinterpret_cast", "typeid",
};

/* Names of the C library the generated code's headers declare, and main. */
static const char *const cg_c_libc[] = {
	"main", "exp", "expf", "exp2", "expm1", "log", "logf", "log2", "log10", "log1p", "sqrt", "sqrtf",
	"cbrt", "tanh", "tanhf", "sinh", "cosh", "sin", "sinf", "cos", "cosf", "tan", "asin", "acos", "atan",
	"atan2", "pow", "powf", "fabs", "fabsf", "fmax", "fmaxf", "fmin", "fminf", "fmod", "floor", "ceil",
	"round", "trunc", "rint", "lrint", "erf", "erfc", "tgamma", "lgamma", "hypot", "fma", "frexp",
	"ldexp", "modf", "copysign", "nan", "isnan", "isinf", "isfinite", "signbit", "abs", "labs", "div",
	"malloc", "calloc", "realloc", "free", "aligned_alloc", "abort", "exit", "atexit", "quick_exit",
	"getenv", "system", "rand", "srand", "qsort", "bsearch", "atoi", "atol", "atof", "strtol",
	"strtoul", "strtod", "strtof", "memcpy", "memset", "memmove", "memcmp", "memchr", "strlen",
	"strcpy", "strncpy", "strcat", "strncat", "strcmp", "strncmp", "strchr", "strrchr", "strstr",
	"strdup", "strndup", "strerror", "strtok", "printf", "fprintf", "sprintf", "snprintf", "vprintf",
	"vfprintf", "puts", "putchar", "fputs", "fputc", "fgets", "fgetc", "getchar", "fopen", "fclose",
	"fread", "fwrite", "fflush", "fseek", "ftell", "perror", "remove", "rename", "tmpfile", "stdin",
	"stdout", "stderr", "errno", "assert", "raise", "signal", "time", "clock", "setjmp", "longjmp",
	"offsetof", "NULL", "EOF", "alloca", "read", "write", "open", "close", "sleep", "usleep",
};

static bool cg_c_in(const char *name, const char *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(name, list[i]) == 0)
			return true;
	return false;
}

/* Whether name is one of the generated code's own file-scope names:
 * k<N>, k<N>_rows, g<N>_body, b<N>, r<N>, shape<N> and the like. */
static bool cg_c_generated_name(const char *name)
{
	static const char *const stems[] = {"shape", "k", "g", "b", "r"};
	for (size_t i = 0; i < sizeof stems / sizeof stems[0]; i++) {
		size_t n = strlen(stems[i]);
		if (strncmp(name, stems[i], n) == 0 && name[n] >= '0' && name[n] <= '9')
			return true;
	}
	return false;
}

const char *cg_c_name_problem(const char *name)
{
	static const char *const prefixes[] = {"trac_", "trart_", "cblas_", "pthread_", "__"};
	if (cg_c_in(name, cg_c_keywords, sizeof cg_c_keywords / sizeof cg_c_keywords[0]))
		return "is a C or C++ keyword";
	if (cg_c_in(name, cg_c_libc, sizeof cg_c_libc / sizeof cg_c_libc[0]))
		return "is a name of the C library, which the generated code uses";
	for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
		if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0)
			return "starts with a prefix reserved for trac, its runtime, BLAS or the C library";
	if (name[0] == '_' && name[1] >= 'A' && name[1] <= 'Z')
		return "is reserved by C (an underscore and a capital letter)";
	if (cg_c_generated_name(name))
		return "has the form of a name the generated code uses for its kernels and tables";
	return NULL;
}
