/* codegen/llvm_kernels.c: loop kernels as LLVM IR.
 * needs: kernel plans (kplan.h) of a verified TraGraph, and a module under
 * construction (llvm_prog.h's CgLlvmProg). gives: cg_llvm_expr, the scalar
 * code of every TraExpr, and cg_llvm_loops_kernel, the loop nests, row
 * groups and aggregations of split blocks.
 *
 * This file renders what kplan.c decided and what codegen/c.c prints for
 * it, construct by construct (each function names its C counterpart):
 * the same loop bounds and order, the same accumulators, block sums and
 * tiles, so the two back ends compute the same values up to the order
 * in which vector reductions add.
 *
 * Scalar code follows cg_c_expr and the C prelude: arithmetic in the
 * node's element type, comparisons as 1 or 0, C's NaN rules for max and
 * min (a NaN on either side wins), exp, log, tanh, sigmoid and pow as
 * trart.h's branch-free functions (llvm.c builds them as IR), sqrt and
 * abs as intrinsics.
 */
#include "llvm_prog.h"

#include <string.h>

/* ---- expressions ------------------------------------------------------------ */

/* C-order stride of dimension d of node p (cg_c_stride). */
static int64_t cg_llvm_stride(const TraNode *p, int d)
{
	int64_t s = 1;
	for (int e = d + 1; e < p->rank; e++)
		s *= p->idx[e].size;
	return s;
}

/* The element offset of operand k at env's indices (cg_c_offset):
 * dimensions of size 1 add nothing. */
static CgLlvmValue cg_llvm_offset(CgLlvmProg *p, const CgLlvmEnv *env, int k)
{
	CgLlvm *m = p->m;
	const TraOperand *op = &env->n->ops[k];
	const TraNode *src = &p->g->nodes[op->node];
	CgLlvmValue off = NULL;
	for (int d = 0; d < op->rank; d++) {
		if (src->idx[d].size == 1)
			continue;
		CgLlvmValue x = env->x[op->idx[d]];
		if (!x)
			TRAC_BUG("operand %d of %s read at unbound index %d", k, env->n->name, op->idx[d]);
		int64_t s = cg_llvm_stride(src, d);
		if (s != 1)
			x = cg_llvm_imul(m, x, cg_llvm_const_i64(m, s));
		off = off ? cg_llvm_iadd(m, off, x) : x;
	}
	return off ? off : cg_llvm_const_i64(m, 0);
}

/* trac_max_T and trac_min_T of the C prelude:
 * b != b ? b : (a != a || a > b ? a : b), with < for min. */
static CgLlvmValue cg_llvm_maxmin(CgLlvm *m, TraOp op, CgLlvmValue a, CgLlvmValue b)
{
	CgLlvmValue a_nan = cg_llvm_fcmp(m, TRA_OP_NE, a, a);
	CgLlvmValue wins = cg_llvm_fcmp(m, op == TRA_OP_MAX ? TRA_OP_GT : TRA_OP_LT, a, b);
	CgLlvmValue pick = cg_llvm_select(m, a_nan, a, cg_llvm_select(m, wins, a, b));
	return cg_llvm_select(m, cg_llvm_fcmp(m, TRA_OP_NE, b, b), b, pick);
}

/* trac_relu_T: a < 0 ? 0 : a. */
static CgLlvmValue cg_llvm_relu(CgLlvm *m, TrartDtype t, CgLlvmValue a)
{
	CgLlvmValue zero = cg_llvm_const(m, t, 0.0);
	return cg_llvm_select(m, cg_llvm_fcmp(m, TRA_OP_LT, a, zero), zero, a);
}

/* An operation of one or two evaluated operands a, b. */
static CgLlvmValue cg_llvm_apply(CgLlvm *m, TrartDtype t, TraOp op, CgLlvmValue a, CgLlvmValue b)
{
	switch (op) {
	case TRA_OP_NEG: return cg_llvm_fneg(m, a);
	case TRA_OP_ADD: case TRA_OP_SUB: case TRA_OP_MUL: case TRA_OP_DIV:
		return cg_llvm_arith(m, op, a, b);
	case TRA_OP_LT: case TRA_OP_LE: case TRA_OP_GT: case TRA_OP_GE: case TRA_OP_EQ: case TRA_OP_NE:
		return cg_llvm_from_bool(m, t, cg_llvm_fcmp(m, op, a, b));
	case TRA_OP_EXP: case TRA_OP_LOG: case TRA_OP_TANH: case TRA_OP_SIGMOID:
		return cg_llvm_math(m, op, t, a);
	case TRA_OP_POW: return cg_llvm_pow(m, t, a, b);
	case TRA_OP_SQRT: return cg_llvm_sqrt(m, a);
	case TRA_OP_ABS: return cg_llvm_fabs(m, a);
	case TRA_OP_RELU: return cg_llvm_relu(m, t, a);
	case TRA_OP_MAX: case TRA_OP_MIN: return cg_llvm_maxmin(m, op, a, b);
	default: break;
	}
	TRAC_BUG("cg_llvm_apply of %s", tra_op_name[op]);
}

/* Recursive; depth at most TRA_MAX_EXPR_DEPTH (tra_verify checks it). */
CgLlvmValue cg_llvm_expr(CgLlvmProg *p, const CgLlvmEnv *env, int e)
{
	CgLlvm *m = p->m;
	const TraExpr *x = &p->g->ex[e];
	TrartDtype t = env->n->type;
	switch (x->op) {
	case TRA_OP_CONST: return cg_llvm_const(m, t, x->value);
	case TRA_OP_OPERAND: return cg_llvm_load(m, t, env->in[x->arg], cg_llvm_offset(p, env, x->arg));
	case TRA_OP_INDEX:
		if (!env->x[x->arg])
			TRAC_BUG("index %d of %s is not bound", x->arg, env->n->name);
		return cg_llvm_from_i64(m, t, env->x[x->arg]);
	case TRA_OP_ACC:
		if (!env->acc)
			TRAC_BUG("%s reads acc where there is none", env->n->name);
		return env->acc;
	case TRA_OP_SELECT: {
		CgLlvmValue c = cg_llvm_expr(p, env, x->kid[0]);
		CgLlvmValue a = cg_llvm_expr(p, env, x->kid[1]), b = cg_llvm_expr(p, env, x->kid[2]);
		return cg_llvm_select(m, cg_llvm_fcmp(m, TRA_OP_NE, c, cg_llvm_const(m, t, 0.0)), a, b);
	}
	default: break;
	}
	CgLlvmValue a = cg_llvm_expr(p, env, x->kid[0]);
	CgLlvmValue b = tra_op_arity[x->op] > 1 ? cg_llvm_expr(p, env, x->kid[1]) : NULL;
	return cg_llvm_apply(m, t, x->op, a, b);
}
