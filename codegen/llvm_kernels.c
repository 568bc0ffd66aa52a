/* codegen/llvm_kernels.c: loop kernels as LLVM IR.
 * needs: kernel plans (kplan.h) of a verified TraGraph, and a module under
 * construction (llvm_prog.h's CgLlvmProg). gives: cg_llvm_expr, the scalar
 * code of every TraExpr, and cg_llvm_loops_kernel, the loop nests, row
 * groups and aggregations of split blocks, and scatter-adds.
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
 *
 * Where C writes `restrict`, LLVM has noalias only on parameters: so a
 * loop nest is an internal function of the buffers (noalias) and bounds
 * ("b<node>.join", "<kernel>.rows<node>", "k<node>.body"), and the
 * kernel the task table or kernel table names loads the buffers from
 * bufs and calls it; O3 inlines it and keeps the noalias as scopes, so
 * the vector loops need no runtime alias checks. Block kernels take the
 * task as an i8* and read lo and hi at offsetof(TrartTask, ...), every
 * bound once, where the function starts (cg_llvm_task_block), so that no
 * store inside a loop makes LLVM reload them.
 *
 * Loops tagged for vectorisation are those C marks `omp simd` (the
 * innermost reduced loop, the column tile loops) and the innermost loop
 * of a map. A max or min reduction vectorises in LLVM 14 only where the
 * whole function has no NaNs, which would also let the code generator
 * drop the NaN tests; so the vector loop carries the values' order keys
 * (integers, cg_llvm_order_key), whose max and min vectorise, beside the
 * NaN flag C keeps: the same result but for the sign of a zero, which
 * the language does not have.
 *
 * A scatter-add (KPLAN_SCATTER) zeros its output, then adds the join at
 * each point's position in kplan_scatter_nest's loops ("b<node>.scatter"
 * for its one block; "k<node>.scatter" whole-node, split across threads
 * by the outermost unscattered output index, so that no two threads add
 * to one element). A position is loaded where the plan says
 * (scatter_at), and one outside its dimension skips the loops inside (an
 * if), as interp_scatter adds nothing there.
 */
#include "llvm_prog.h"
#include "memgraph.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ---- expressions ------------------------------------------------------------ */

/* Dimension d of src at x[idx[d]] (x[d] where idx is NULL), C order
 * (cg_c_offset, cg_c_out_offset): dimensions of size 1 add nothing. */
CgLlvmValue cg_llvm_element_offset(CgLlvm *m, const TraNode *src, const int *idx, const CgLlvmValue *x)
{
	CgLlvmValue off = NULL;
	for (int d = 0; d < src->rank; d++) {
		if (src->idx[d].size == 1)
			continue;
		CgLlvmValue v = x[idx ? idx[d] : d];
		if (!v)
			TRAC_BUG("dimension %d of %s at an unbound index", d, src->name);
		int64_t s = tra_node_stride(src, d);
		if (s != 1)
			v = cg_llvm_imul(m, v, cg_llvm_const_i64(m, s));
		off = off ? cg_llvm_iadd(m, off, v) : v;
	}
	return off ? off : cg_llvm_const_i64(m, 0);
}

static CgLlvmValue cg_llvm_offset(CgLlvmProg *p, const CgLlvmEnv *env, int k);

/* A gather's position in dimension d of operand op (cg_c_gather_position):
 * the index operand's value, checked unless the read is padded. */
static CgLlvmValue cg_llvm_gather_position(CgLlvmProg *p, const CgLlvmEnv *env, const TraOperand *op, int d)
{
	CgLlvm *m = p->m;
	int k = op->aff->gather[d];
	const TraNode *ix = &p->g->nodes[env->n->ops[k].node], *t = &p->g->nodes[op->node];
	CgLlvmValue at = cg_llvm_offset(p, env, k);
	CgLlvmValue v = cg_llvm_load(m, ix->type, env->in[k], at);
	if (ix->type == TRART_I32)
		v = cg_llvm_sext(m, v, cg_llvm_i64(m));
	if (op->aff->padded)
		return v;
	int64_t shape[TRA_MAX_RANK];
	for (int e = 0; e < ix->rank; e++)
		shape[e] = ix->idx[e].size;
	return cg_llvm_gather_check(m, v, t->idx[d].size, ix->name, ix->rank, shape, at, t->name, d);
}

/* Position d of env's affine operand op: off + sum of coef * x. */
static CgLlvmValue cg_llvm_affine_position(CgLlvmProg *p, const CgLlvmEnv *env, const TraOperand *op, int d)
{
	CgLlvm *m = p->m;
	const TraNode *n = env->n;
	if (op->aff->gather && op->aff->gather[d] >= 0)
		return cg_llvm_gather_position(p, env, op, d);
	CgLlvmValue pos = cg_llvm_const_i64(m, op->aff->off[d]);
	for (int x = 0; x < n->nidx; x++) {
		int64_t c = op->aff->coef[d * n->nidx + x];
		if (c == 0 || (!env->x[x] && n->idx[x].size == 1))
			continue;
		if (!env->x[x])
			TRAC_BUG("index %d of %s is not bound", x, n->name);
		CgLlvmValue v = c == 1 ? env->x[x] : cg_llvm_imul(m, env->x[x], cg_llvm_const_i64(m, c));
		pos = cg_llvm_iadd(m, pos, v);
	}
	return pos;
}

/* An if without else: cg_llvm_if_end continues after it. */
static CgLlvmBlock cg_llvm_if_begin(CgLlvm *m, CgLlvmValue c)
{
	CgLlvmBlock then = cg_llvm_block(m, "then"), after = cg_llvm_block(m, "endif");
	cg_llvm_br_if(m, c, then, after);
	cg_llvm_position(m, then);
	return after;
}

static void cg_llvm_if_end(CgLlvm *m, CgLlvmBlock after)
{
	cg_llvm_br(m, after);
	cg_llvm_position(m, after);
}

/* Whether an affine operand reads through a gather in some dimension. */
static bool cg_llvm_affine_gathers(const TraOperand *op)
{
	for (int d = 0; op->aff->gather && d < op->rank; d++)
		if (op->aff->gather[d] >= 0)
			return true;
	return false;
}

/* An affine operand's element (cg_c_offset and cg_c_affine_inside): a
 * padded one loads only where every position is inside the tensor, in
 * a branch, else takes the padding value. The branch's load is at
 * consecutive addresses along a vector loop, which LLVM's vectoriser
 * makes one masked load; clamped into the tensor, as the C back end
 * does, they were gathers: a 9-tap 'same' convolution over 4M points
 * took 8.2-8.6 ms, 3.0-3.2 now (gcc: 3.2-3.5). A padded gather
 * (positions that are loaded values) is clamped, since the branch would
 * gain nothing. */
static CgLlvmValue cg_llvm_affine_load(CgLlvmProg *p, const CgLlvmEnv *env, int k)
{
	CgLlvm *m = p->m;
	const TraOperand *op = &env->n->ops[k];
	const TraNode *src = &p->g->nodes[op->node];
	CgLlvmValue off = cg_llvm_const_i64(m, 0), inside = NULL;
	bool branch = op->aff->padded && !cg_llvm_affine_gathers(op);
	for (int d = 0; d < op->rank; d++) {
		CgLlvmValue pos = cg_llvm_affine_position(p, env, op, d);
		if (op->aff->padded) {
			CgLlvmValue zero = cg_llvm_const_i64(m, 0), last = cg_llvm_const_i64(m, src->idx[d].size - 1);
			CgLlvmValue below = cg_llvm_icmp(m, TRA_OP_LT, pos, zero);
			CgLlvmValue above = cg_llvm_icmp(m, TRA_OP_GT, pos, last);
			CgLlvmValue out = cg_llvm_ior(m, below, above);
			CgLlvmValue in = cg_llvm_icmp(m, TRA_OP_EQ, out, cg_llvm_const_null(cg_llvm_type_of(out)));
			inside = inside ? cg_llvm_iand(m, inside, in) : in;
			if (!branch)
				pos = cg_llvm_select(m, below, zero, cg_llvm_select(m, above, last, pos));
		}
		off = cg_llvm_iadd(m, off, cg_llvm_imul(m, pos, cg_llvm_const_i64(m, tra_node_stride(src, d))));
	}
	CgLlvmValue v, pad = cg_llvm_const(m, src->type, op->aff->pad);
	if (branch) {
		CgLlvmBlock before = cg_llvm_insert_block(m), after = cg_llvm_if_begin(m, inside);
		CgLlvmValue in = cg_llvm_load(m, src->type, env->in[k], off);
		CgLlvmBlock then = cg_llvm_insert_block(m);
		cg_llvm_if_end(m, after);
		v = cg_llvm_phi2(m, pad, before, in, then);
	} else {
		v = cg_llvm_load(m, src->type, env->in[k], off);
		if (inside)
			v = cg_llvm_select(m, inside, v, pad);
	}
	return cg_llvm_convert(m, v, src->type, env->n->type); /* a view may convert */
}

/* The element offset of operand k at env's indices. */
static CgLlvmValue cg_llvm_offset(CgLlvmProg *p, const CgLlvmEnv *env, int k)
{
	const TraOperand *op = &env->n->ops[k];
	return cg_llvm_element_offset(p->m, &p->g->nodes[op->node], op->idx, env->x);
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
	case TRA_OP_SIGN:
		if (TRART_IS_INT(t)) { /* (a > 0) - (a < 0) */
			CgLlvmValue zero = cg_llvm_const(m, t, 0.0);
			return cg_llvm_arith(m, TRA_OP_SUB, cg_llvm_from_bool(m, t, cg_llvm_fcmp(m, TRA_OP_GT, a, zero)),
			                     cg_llvm_from_bool(m, t, cg_llvm_fcmp(m, TRA_OP_LT, a, zero)));
		}
		return cg_llvm_math(m, op, t, a);
	case TRA_OP_EXP: case TRA_OP_LOG: case TRA_OP_TANH: case TRA_OP_SIGMOID: case TRA_OP_SIN:
	case TRA_OP_COS: case TRA_OP_EXP2: case TRA_OP_LOG2: case TRA_OP_EXPM1: case TRA_OP_LOG1P:
	case TRA_OP_RSQRT: case TRA_OP_ERF:
		return cg_llvm_math(m, op, t, a);
	case TRA_OP_FLOOR: case TRA_OP_CEIL: case TRA_OP_ROUND: return cg_llvm_rounding(m, op, a);
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
	TrartDtype t = tra_node_join_type(env->n);
	switch (x->op) {
	case TRA_OP_CONST: return cg_llvm_const(m, t, x->value);
	case TRA_OP_OPERAND:
		if (env->n->ops[x->arg].aff)
			return cg_llvm_affine_load(p, env, x->arg);
		return cg_llvm_load(m, t, env->in[x->arg], cg_llvm_offset(p, env, x->arg));
	case TRA_OP_INDEX:
		if (!env->x[x->arg])
			TRAC_BUG("index %d of %s is not bound", x->arg, env->n->name);
		return cg_llvm_from_i64(m, t, env->x[x->arg]);
	case TRA_OP_ACC:
		if (!env->acc)
			TRAC_BUG("%s reads acc where there is none", env->n->name);
		return env->acc;
	case TRA_OP_LET: { /* the value once, as an SSA value its VARs use */
		CgLlvmEnv inner = *env;
		CgLlvmLet b = {.let = e, .value = cg_llvm_expr(p, env, x->kid[0]), .next = env->lets};
		inner.lets = &b;
		return cg_llvm_expr(p, &inner, x->kid[1]);
	}
	case TRA_OP_VAR:
		for (const CgLlvmLet *b = env->lets; b; b = b->next)
			if (b->let == x->arg)
				return b->value;
		TRAC_BUG("%s reads a let outside its scope", env->n->name);
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

/* ---- a kernel's state --------------------------------------------------------- */

/* One node's loop nest being built into the current function. */
typedef struct CgLlvmNestK {
	CgLlvmProg *p;
	CgLlvm *m;
	const TraNode *n;
	const KplanNest *L;
	TrartDtype t;
	CgLlvmValue out;  /* the output buffer (T*) */
	CgLlvmValue part; /* a split join's partial block (T*), or NULL */
	bool no_unroll;   /* its vector loops are not unrolled (a member of a group
	                     with a row reducer: cg_llvm_row says why) */
	/* A block's lo[x] and hi[x] (i64), loaded once where the function
	 * starts (cg_llvm_task_block says why), or NULL: the whole range. */
	CgLlvmValue blo[TRA_MAX_STMT_INDICES], bhi[TRA_MAX_STMT_INDICES];
	CgLlvmEnv env;    /* in[] and the bound indices */
	CgLlvmValue in[]; /* operand buffers (T*): env.in points here */
} CgLlvmNestK;

/* A nest for node id (its plan is nest), with room for its operands. */
static CgLlvmNestK *cg_llvm_nest_new(CgLlvmProg *p, int id, const KplanNest *L)
{
	const TraNode *n = &p->g->nodes[id];
	CgLlvmNestK *K = xcalloc(1, sizeof *K + (size_t)(n->nops + 1) * sizeof(CgLlvmValue));
	*K = (CgLlvmNestK){.p = p, .m = p->m, .n = n, .L = L, .t = n->type};
	K->env.n = n;
	K->env.in = K->in;
	return K;
}

static CgLlvmType cg_llvm_tptr(CgLlvm *m, TrartDtype t)
{
	return cg_llvm_ptr(m, cg_llvm_type(m, t));
}

static CgLlvmValue cg_llvm_i64c(CgLlvm *m, int64_t v)
{
	return cg_llvm_const_i64(m, v);
}

/* *(i64 *)&ptr[i], for an i64* ptr. */
static CgLlvmValue cg_llvm_load_i64(CgLlvm *m, CgLlvmValue ptr, int i)
{
	CgLlvmType i64 = cg_llvm_i64(m);
	return cg_llvm_load_ptr(m, i64, cg_llvm_gep(m, i64, ptr, cg_llvm_i64c(m, i)));
}

/* min(a, b) of i64s. */
static CgLlvmValue cg_llvm_imin(CgLlvm *m, CgLlvmValue a, CgLlvmValue b)
{
	return cg_llvm_select(m, cg_llvm_icmp(m, TRA_OP_LT, a, b), a, b);
}

/* The bounds of index x: the block's lo[x] and hi[x], or 0 and its size. */
static CgLlvmValue cg_llvm_bound_lo(CgLlvmNestK *K, int x)
{
	return K->blo[x] ? K->blo[x] : cg_llvm_i64c(K->m, 0);
}

static CgLlvmValue cg_llvm_bound_hi(CgLlvmNestK *K, int x)
{
	return K->bhi[x] ? K->bhi[x] : cg_llvm_i64c(K->m, K->n->idx[x].size);
}

/* lo[x] and hi[x] for x < count, from the i64* lo and hi, into blo and
 * bhi. */
static void cg_llvm_load_range(CgLlvm *m, CgLlvmValue lo, CgLlvmValue hi, int count, CgLlvmValue *blo,
                               CgLlvmValue *bhi)
{
	for (int x = 0; x < count; x++) {
		blo[x] = cg_llvm_load_i64(m, lo, x);
		bhi[x] = cg_llvm_load_i64(m, hi, x);
	}
}

/* Short rows. A map's vector loop along an index of fewer than 16
 * elements (a row of 10 classes) ran as a vector of 8 and a scalar
 * remainder, or all scalar under 8, each remainder lane a whole scalar
 * exp. It asks for vectors of the index's size rounded up to a power of
 * two instead, the lanes past the row masked where it is not one: no
 * remainder. Y[i, c] = exp(X[i, c] - m[i]) over 40M elements (LLVM, 2
 * threads, under load; ms, before / after): rows of 2, 270 / 175; of 3,
 * 271 / 133; of 4, 353 / 102; of 5, 281 / 104; of 8, 35 / 26; of 10,
 * 65 / 57; of 12, 85 / 47; of 16 (whole vectors), 17. Sums are left
 * alone: masked, a row sum of 10 took 49 ms, not 15. So are maps whose
 * element costs fewer than CG_LLVM_MASKED_MIN_FLOPS operations (ops.def's
 * flops): there the mask's making and the masked stores cost more than
 * LLVM's own loop saves; relu(X[i, d] + b[d]) over 48M f32 (idle, ms,
 * masked / LLVM's): rows of 12, 20 / 9.4-10.6; of 5, 20-24 / 18-20;
 * X[i, d] * s[i] + b[d] in rows of 12, 18 / 7.4-9.2. A square root (3)
 * stays masked: rows of 5, 19-20 / 33 (rows of 12, 18 / 14). A flat
 * map's loop is long (kplan.c's short rows). */
#define CG_LLVM_MASKED_MIN_FLOPS 3
static void cg_llvm_short_rows(CgLlvmNestK *K, CgLlvmLoop *l, int x)
{
	int64_t size = K->n->idx[x].size;
	if (K->L->reduce != KPLAN_RED_NONE || K->L->flat > 0 || size >= 16)
		return;
	if (tra_expr_flops(K->p->g, K->n->join) + tra_expr_flops(K->p->g, K->n->epilogue) < CG_LLVM_MASKED_MIN_FLOPS)
		return;
	l->width = 1;
	while (l->width < size)
		l->width *= 2;
	l->predicate = l->width != size;
}

/* The widest interleaved group of loads LLVM makes of a strided access
 * (cg_llvm_rows_scalar). */
#define CG_LLVM_INTERLEAVE_MAX 8

/* LLVM's O3 unrolls a loop whole where its count times its size stays
 * under 300 instructions; a sum's loop has at least two a term, so one
 * of this many terms or more is never unrolled whole (cg_llvm_sum_rolled). */
#define CG_LLVM_WHOLE_MAX 256

/* The elements a block's loop along index x runs: the index's size, or
 * where blocks cut it, the larger blocks'. */
static int64_t cg_llvm_block_extent(const CgLlvmNestK *K, int x)
{
	int64_t size = K->n->idx[x].size;
	int parts = K->n->part && x < K->n->rank ? K->n->part[x] : 1;
	return parts > 1 ? (size + parts - 1) / parts : size;
}

/* The lanes of one of the host's widest vectors of K's element type. */
static int64_t cg_llvm_nest_lanes(const CgLlvmNestK *K)
{
	return cg_llvm_vector_bytes(K->m) / (int64_t)trart_dtype_size(K->t);
}

/* Rows of a few vectors. LLVM's vectoriser runs VF x IC elements a pass
 * (IC vectors of VF lanes) and leaves the rest of the row to a scalar
 * loop; on a cheap body it picks IC = 4, so a row of fewer than 4 VF
 * elements never reaches the vector code: a 3x3 convolution's padded
 * windows (rows of 56 f32, a copy with a masked load) ran all scalar,
 * 4.2-4.7 ms a block against 1.5-1.9 with one vector a pass (8 x 64 x
 * 56 x 56 input, 2 threads, the C back end's gcc 1.4-2.0). So a map's
 * vector loop asks for the most vectors a pass, 4, 2 or 1, that leave
 * less than a vector to the scalar loop (rows of 56: 1; of 100: 2),
 * where 4 would leave more. It names no width: a width given turns off
 * LLVM's vectorised epilogue, and an exp over rows of 24 took 44 ms
 * instead of 12 with it. */
static void cg_llvm_few_vectors(CgLlvmNestK *K, CgLlvmLoop *l, int x)
{
	int64_t extent = cg_llvm_block_extent(K, x);
	int64_t lanes = cg_llvm_nest_lanes(K);
	if (K->L->reduce != KPLAN_RED_NONE || K->L->flat > 0 || extent < 16 || extent % (4 * lanes) < lanes)
		return;
	l->interleave = 2;
	if (extent % (2 * lanes) >= lanes)
		l->interleave = 1;
}

/* Whether n's loops outside its vector loop stay scalar: where the
 * vector loop sums along a reduced index (a row sum) of more than
 * CG_LLVM_INTERLEAVE_MAX terms. With a known, small count, LLVM unrolls
 * such a loop whole and then vectorises the loop outside it, across
 * rows. Up to 8 terms its loads are an interleaved group, whole vectors
 * and shuffles, and that is fast; from 9 they are gathers. A row group's
 * sum and max over 40M f32 (2 threads, ms, across rows / rows' loop
 * scalar): rows of 4, 5-7 / 13-14; of 8, 7-9 / 12-16; of 9, 37 / 13-18;
 * of 12, 30-39 / 12; of 24, 37 / 11-13; of 56, 42 / 8-9; of 100, not
 * unrolled, 6 either way. (From a vector's worth of terms, the loop is
 * no longer unrolled whole at all: cg_llvm_sum_rolled.) */
static bool cg_llvm_rows_scalar(const CgLlvmNestK *K)
{
	const KplanNest *L = K->L;
	if (L->reduce != KPLAN_RED_SIMD || L->vector < 0)
		return false;
	for (int r = 0; r < L->nred; r++)
		if (L->red[r] == L->vector)
			return K->n->idx[L->vector].size > CG_LLVM_INTERLEAVE_MAX;
	return false;
}

/* Whether a map's vector loop along x is kept from being unrolled until
 * it is vectorised (CgLlvmLoop.unroll_vectorised): where it runs more
 * than CG_LLVM_INTERLEAVE_MAX elements and fewer than CG_LLVM_WHOLE_MAX.
 * With a known count (a row group's member, a whole-node kernel) LLVM
 * unrolled such a loop whole and then vectorised the loop over rows
 * outside it, every load a gather, as it did row sums
 * (cg_llvm_rows_scalar); up to 8 elements the loads are an interleaved
 * group of whole vectors, which is fast. A row group of Y[i, c] =
 * X[i, c] / s[i] and its row maximum over 48M f32 (2 threads, ms,
 * before / after): rows of 12, 44-47 / 16 (gcc: 25-27); of 24, 52-61 /
 * 13; a softmax over rows of 24 (1M rows), 25-33 / 12-13. */
static bool cg_llvm_map_rolled(const CgLlvmNestK *K, int x)
{
	int64_t extent = cg_llvm_block_extent(K, x);
	return K->L->reduce == KPLAN_RED_NONE && extent > CG_LLVM_INTERLEAVE_MAX && extent < CG_LLVM_WHOLE_MAX;
}

/* Opens the loop over index x from lo to hi and binds x to it. */
static void cg_llvm_index_loop(CgLlvmNestK *K, CgLlvmLoop *l, int x, CgLlvmValue lo, CgLlvmValue hi,
                               bool vectorize)
{
	cg_llvm_loop_begin(K->m, l, lo, hi, vectorize);
	l->no_unroll = vectorize && K->no_unroll;
	if (vectorize) {
		cg_llvm_short_rows(K, l, x);
		cg_llvm_few_vectors(K, l, x);
		l->unroll_vectorised = cg_llvm_map_rolled(K, x);
	}
	K->env.x[x] = l->iv;
}

/* Opens the loop over output index x of a nest whose element comes
 * next (a map's join, or a reduction around it), scalar where
 * cg_llvm_rows_scalar says. */
static void cg_llvm_output_loop(CgLlvmNestK *K, CgLlvmLoop *l, int x, CgLlvmValue lo, CgLlvmValue hi,
                                bool vectorize)
{
	cg_llvm_index_loop(K, l, x, lo, hi, vectorize);
	l->scalar = cg_llvm_rows_scalar(K);
}

/* A stack slot of type ty holding v. */
static CgLlvmValue cg_llvm_slot(CgLlvm *m, CgLlvmType ty, CgLlvmValue v)
{
	CgLlvmValue s = cg_llvm_alloca(m, ty);
	cg_llvm_store_ptr(m, v, s);
	return s;
}

/* ++*slot == n, for an i64 slot (C's `++count == n`). */
static CgLlvmValue cg_llvm_bump_is(CgLlvm *m, CgLlvmValue slot, int64_t n)
{
	CgLlvmValue v = cg_llvm_iadd(m, cg_llvm_load_ptr(m, cg_llvm_i64(m), slot), cg_llvm_i64c(m, 1));
	cg_llvm_store_ptr(m, v, slot);
	return cg_llvm_icmp(m, TRA_OP_EQ, v, cg_llvm_i64c(m, n));
}

/* ---- reductions (cg_c_reduce, cg_c_combine, cg_c_blocked_sum) --------------------- */

/* An accumulator as a reduction loop carries it: the value itself, or
 * for max and min its order key (cg_llvm_order_key says why), with the
 * NaN flag (an i32) beside it. */
static bool cg_llvm_keyed(const CgLlvmNestK *K)
{
	return K->L->nan_flag;
}

static CgLlvmType cg_llvm_acc_type(CgLlvmNestK *K)
{
	return cg_llvm_keyed(K) ? cg_llvm_key_type(K->m, K->t) : cg_llvm_type(K->m, K->t);
}

static CgLlvmValue cg_llvm_acc_init(CgLlvmNestK *K)
{
	CgLlvmValue v = cg_llvm_const(K->m, K->t, K->L->init);
	return cg_llvm_keyed(K) ? cg_llvm_order_key(K->m, K->t, v) : v;
}

/* nan | (v != v), the flag as an i32. */
static CgLlvmValue cg_llvm_nan_or(CgLlvm *m, CgLlvmValue nan, CgLlvmValue v)
{
	CgLlvmValue is = cg_llvm_zext(m, cg_llvm_fcmp(m, TRA_OP_NE, v, v), cg_llvm_int(m, 32));
	return cg_llvm_ior(m, nan, is);
}

/* acc combined with one value v of the join (cg_c_combine); for max and
 * min, keyed says whether acc is a key, and *nan takes v's NaN. */
static CgLlvmValue cg_llvm_combine(CgLlvm *m, TrartDtype t, TraAgg agg, bool keyed, CgLlvmValue acc,
                                   CgLlvmValue *nan, CgLlvmValue v)
{
	switch (agg) {
	case TRA_AGG_SUM: return cg_llvm_arith(m, TRA_OP_ADD, acc, v);
	case TRA_AGG_PROD: return cg_llvm_arith(m, TRA_OP_MUL, acc, v);
	case TRA_AGG_MAX:
	case TRA_AGG_MIN: {
		TraOp wins = agg == TRA_AGG_MAX ? TRA_OP_GT : TRA_OP_LT;
		if (*nan) /* none for integers */
			*nan = cg_llvm_nan_or(m, *nan, v);
		if (!keyed) /* acc = v > acc ? v : acc */
			return cg_llvm_select(m, cg_llvm_fcmp(m, wins, v, acc), v, acc);
		CgLlvmValue k = cg_llvm_order_key(m, t, v);
		return cg_llvm_select(m, cg_llvm_icmp(m, wins, k, acc), k, acc);
	}
	default: break;
	}
	TRAC_BUG("combine without aggregation");
}

/* A max or min that saw a NaN is NaN (cg_c_nan_fixup). */
static CgLlvmValue cg_llvm_nan_fixup(CgLlvm *m, TrartDtype t, CgLlvmValue acc, CgLlvmValue nan)
{
	CgLlvmValue seen = cg_llvm_icmp(m, TRA_OP_NE, nan, cg_llvm_const_int(m, cg_llvm_int(m, 32), 0));
	return cg_llvm_select(m, seen, cg_llvm_const(m, t, NAN), acc);
}

/* Whether the vector loop of a reduction along x is kept from being
 * unrolled until it is vectorised (CgLlvmLoop.unroll_vectorised): where
 * it has a vector's worth of terms or more, and fewer than
 * CG_LLVM_WHOLE_MAX. LLVM may vectorise a reduction's loop only because
 * the loop says so (the hint allows reassociation, llvm.c), and a loop
 * it unrolls whole before the vectoriser sees it (a known count of a
 * few dozen terms, in a row group or a whole-node kernel) is gone: its
 * sum is a chain of scalar additions, one after the other. A row
 * group's sum and max over 40M f32 (2 threads, ms, before / after):
 * rows of 16, 12-14 / 6.8-7.1; of 32, 6.7-7.3 / 4.8-5.9; of 64, 6.8-7.5
 * / 5.0-5.1; of 100 to 200, the same; 20M f64 in rows of 8, 25-32 /
 * 7-9. Without the followup that lifts the tag from the vectorised
 * loops, rows of 80 to 128 lost 10-30%. Under a vector (rows of 12) the
 * unrolled scalar chain is no slower. Longer loops are left alone: with
 * the tag and its followup W4's rows of 8192 took 11.6-13 ms, against
 * 10-10.8 without. */
static bool cg_llvm_sum_rolled(const CgLlvmNestK *K, int x)
{
	int64_t lanes = cg_llvm_nest_lanes(K);
	int64_t extent = cg_llvm_block_extent(K, x);
	return extent >= lanes && extent < CG_LLVM_WHOLE_MAX;
}

/* The innermost reduced loop over x from lo to hi, a vector reduction
 * (C's omp simd reduction) of the join into the slots acc and nan. A
 * loop not unrolled (a member of a group with a row reducer: cg_llvm_row
 * says why) is not interleaved either unless it asks: its sum was one
 * chain of vector additions. It asks for CG_LLVM_SUM_INTERLEAVE vectors
 * a pass, as many chains: W5 (2 threads, interleaved medians of 21 runs)
 * took 8.3-9.4 ms against 8.8-10.2, faster in 8 rounds of 8 (4 vectors
 * measured the same). */
#define CG_LLVM_SUM_INTERLEAVE 2
static void cg_llvm_simd_reduce(CgLlvmNestK *K, int x, CgLlvmValue lo, CgLlvmValue hi, CgLlvmValue acc_slot,
                                CgLlvmValue nan_slot)
{
	CgLlvm *m = K->m;
	CgLlvmValue acc0 = cg_llvm_load_ptr(m, cg_llvm_acc_type(K), acc_slot);
	CgLlvmValue nan0 = nan_slot ? cg_llvm_load_ptr(m, cg_llvm_int(m, 32), nan_slot) : NULL;
	CgLlvmLoop l;
	cg_llvm_index_loop(K, &l, x, lo, hi, true);
	l.unroll_vectorised = cg_llvm_sum_rolled(K, x);
	if (K->no_unroll)
		l.interleave = CG_LLVM_SUM_INTERLEAVE;
	int a = cg_llvm_loop_carry(m, &l, acc0);
	int f = nan0 ? cg_llvm_loop_carry(m, &l, nan0) : -1;
	CgLlvmValue nan = f >= 0 ? l.cur[f] : NULL;
	CgLlvmValue v = cg_llvm_expr(K->p, &K->env, K->n->join);
	l.next[a] = cg_llvm_combine(m, K->t, K->n->agg, cg_llvm_keyed(K), l.cur[a], &nan, v);
	if (f >= 0)
		l.next[f] = nan;
	cg_llvm_loop_end(m, &l);
	cg_llvm_store_ptr(m, l.out[a], acc_slot);
	if (f >= 0)
		cg_llvm_store_ptr(m, l.out[f], nan_slot);
}

/* The pairwise sum of blocks (the prelude's trac_pairwise_T): lvl[i]
 * holds the sum of 2^i blocks while bit i of count is set. */
typedef struct CgLlvmPairwise {
	CgLlvmValue lvl;   /* [64 x T] */
	CgLlvmValue count; /* i64 */
} CgLlvmPairwise;

static CgLlvmValue cg_llvm_pw_level(CgLlvmNestK *K, const CgLlvmPairwise *pw, CgLlvmValue i)
{
	CgLlvmType tptr = cg_llvm_tptr(K->m, K->t);
	return cg_llvm_gep(K->m, cg_llvm_type(K->m, K->t), cg_llvm_bitcast(K->m, pw->lvl, tptr), i);
}

/* trac_pw_push_T(pw, s): s = lvl[i] + s for each set low bit i of
 * count (as many as it has trailing ones), lvl[i] = s, count + 1. */
static void cg_llvm_pw_push(CgLlvmNestK *K, const CgLlvmPairwise *pw, CgLlvmValue s)
{
	CgLlvm *m = K->m;
	CgLlvmType ty = cg_llvm_type(m, K->t);
	CgLlvmValue k = cg_llvm_load_ptr(m, cg_llvm_i64(m), pw->count);
	cg_llvm_store_ptr(m, cg_llvm_iadd(m, k, cg_llvm_i64c(m, 1)), pw->count);
	CgLlvmLoop l;
	cg_llvm_loop_begin(m, &l, cg_llvm_i64c(m, 0), cg_llvm_trailing_ones(m, k), false);
	int c = cg_llvm_loop_carry(m, &l, s);
	l.next[c] = cg_llvm_arith(m, TRA_OP_ADD, cg_llvm_load_ptr(m, ty, cg_llvm_pw_level(K, pw, l.iv)), l.cur[c]);
	cg_llvm_loop_end(m, &l);
	cg_llvm_store_ptr(m, l.out[c], cg_llvm_pw_level(K, pw, cg_llvm_trailing_ones(m, k)));
}

/* trac_pw_total_T(pw, s): s += lvl[i] for every set bit i of count
 * (only those: the other levels were never written), i up to count's
 * highest bit: a row of 1000 f32 has 4 blocks, and a loop over all 64
 * bits took a sixth of W5's row kernel (perf). */
static CgLlvmValue cg_llvm_pw_total(CgLlvmNestK *K, const CgLlvmPairwise *pw, CgLlvmValue s)
{
	CgLlvm *m = K->m;
	CgLlvmType ty = cg_llvm_type(m, K->t), i64 = cg_llvm_i64(m);
	CgLlvmValue sum = cg_llvm_slot(m, ty, s);
	CgLlvmValue count = cg_llvm_load_ptr(m, i64, pw->count);
	CgLlvmLoop l;
	cg_llvm_loop_begin(m, &l, cg_llvm_i64c(m, 0), cg_llvm_bit_length(m, count), false);
	CgLlvmBlock after = cg_llvm_if_begin(m, cg_llvm_bit_set(m, count, l.iv));
	CgLlvmValue v = cg_llvm_load_ptr(m, ty, cg_llvm_pw_level(K, pw, l.iv));
	cg_llvm_store_ptr(m, cg_llvm_arith(m, TRA_OP_ADD, cg_llvm_load_ptr(m, ty, sum), v), sum);
	cg_llvm_if_end(m, after);
	cg_llvm_loop_end(m, &l);
	return cg_llvm_load_ptr(m, ty, sum);
}

/* In a block [s0, s1) of a long sum over x, the same terms of the next
 * row of the operand the plan prefetches, a cache line at a time
 * (cg_c_prefetch). */
static void cg_llvm_prefetch_row(CgLlvmNestK *K, int x, CgLlvmValue s0, CgLlvmValue s1)
{
	CgLlvm *m = K->m;
	const KplanNest *L = K->L;
	if (L->prefetch < 0)
		return;
	const TraNode *n = K->n, *src = &K->p->g->nodes[n->ops[L->prefetch].node];
	CgLlvmValue next = cg_llvm_iadd(m, K->env.x[0], cg_llvm_i64c(m, 1));
	CgLlvmBlock after = cg_llvm_if_begin(m, cg_llvm_icmp_below(m, next, n->idx[0].size));
	CgLlvmValue at = K->env.x[x];
	K->env.x[x] = s0;
	CgLlvmValue off = cg_llvm_iadd(m, cg_llvm_offset(K->p, &K->env, L->prefetch), cg_llvm_i64c(m, L->prefetch_stride));
	K->env.x[x] = at;
	CgLlvmType i8 = cg_llvm_int(m, 8);
	CgLlvmValue row = cg_llvm_bitcast(m, cg_llvm_gep(m, cg_llvm_type(m, src->type), K->in[L->prefetch], off),
	                                  cg_llvm_ptr(m, i8));
	int64_t per_line = 64 / (int64_t)trart_dtype_size(src->type);
	CgLlvmValue lines = cg_llvm_idiv(m, cg_llvm_iadd(m, cg_llvm_isub(m, s1, s0), cg_llvm_i64c(m, per_line - 1)),
	                                 cg_llvm_i64c(m, per_line));
	CgLlvmLoop q;
	cg_llvm_loop_begin(m, &q, cg_llvm_i64c(m, 0), lines, false);
	cg_llvm_prefetch(m, cg_llvm_gep(m, i8, row, cg_llvm_imul(m, q.iv, cg_llvm_i64c(m, 64))));
	cg_llvm_loop_end(m, &q);
	cg_llvm_if_end(m, after);
}

/* The innermost loop of a long sum over x from a to b (cg_c_blocked_sum):
 * blocks of sum_block terms summed in a vector loop, each added to acc,
 * and acc pushed into the pairwise sum once it holds sum_block terms. */
static void cg_llvm_blocked_sum(CgLlvmNestK *K, int x, CgLlvmValue a, CgLlvmValue b, CgLlvmValue acc_slot,
                                const CgLlvmPairwise *pw, CgLlvmValue pw_n)
{
	CgLlvm *m = K->m;
	CgLlvmType ty = cg_llvm_type(m, K->t), i64 = cg_llvm_i64(m);
	int64_t sb = K->L->sum_block;
	/* for (s0 = a; s0 < b; s0 += sb), as a count of blocks */
	CgLlvmValue nblocks = cg_llvm_idiv(m, cg_llvm_iadd(m, cg_llvm_isub(m, b, a), cg_llvm_i64c(m, sb - 1)),
	                                   cg_llvm_i64c(m, sb));
	CgLlvmLoop q;
	cg_llvm_loop_begin(m, &q, cg_llvm_i64c(m, 0), nblocks, false);
	CgLlvmValue s0 = cg_llvm_iadd(m, a, cg_llvm_imul(m, q.iv, cg_llvm_i64c(m, sb)));
	CgLlvmValue s1 = cg_llvm_imin(m, b, cg_llvm_iadd(m, s0, cg_llvm_i64c(m, sb)));
	cg_llvm_prefetch_row(K, x, s0, s1);
	CgLlvmValue blk = cg_llvm_slot(m, ty, cg_llvm_const(m, K->t, 0.0));
	cg_llvm_simd_reduce(K, x, s0, s1, blk, NULL);
	CgLlvmValue acc = cg_llvm_arith(m, TRA_OP_ADD, cg_llvm_load_ptr(m, ty, acc_slot), cg_llvm_load_ptr(m, ty, blk));
	cg_llvm_store_ptr(m, acc, acc_slot);
	CgLlvmValue n = cg_llvm_iadd(m, cg_llvm_load_ptr(m, i64, pw_n), cg_llvm_isub(m, s1, s0));
	cg_llvm_store_ptr(m, n, pw_n);
	CgLlvmBlock after = cg_llvm_if_begin(m, cg_llvm_icmp(m, TRA_OP_GE, n, cg_llvm_i64c(m, sb)));
	cg_llvm_pw_push(K, pw, cg_llvm_load_ptr(m, ty, acc_slot));
	cg_llvm_store_ptr(m, cg_llvm_const(m, K->t, 0.0), acc_slot);
	cg_llvm_store_ptr(m, cg_llvm_i64c(m, 0), pw_n);
	cg_llvm_if_end(m, after);
	cg_llvm_loop_end(m, &q);
}

/* Whether v at position i takes over from best at position at in an
 * argmax or argmin (TRA_OP_GT or TRA_OP_LT better), where best comes
 * first: v is a NaN, or better, while best is no NaN. Combining lanes
 * (ties), also an equal v, or a NaN v where best is one, at a smaller
 * position. */
static CgLlvmValue cg_llvm_arg_takes(CgLlvm *m, TraOp better, CgLlvmValue v, CgLlvmValue best, CgLlvmValue i,
                                     CgLlvmValue at, bool ties)
{
	CgLlvmValue v_nan = cg_llvm_fcmp(m, TRA_OP_NE, v, v), best_ok = cg_llvm_fcmp(m, TRA_OP_EQ, best, best);
	CgLlvmValue wins = cg_llvm_ior(m, v_nan, cg_llvm_fcmp(m, better, v, best));
	if (!ties)
		return cg_llvm_iand(m, best_ok, wins);
	CgLlvmValue before = cg_llvm_icmp(m, TRA_OP_LT, i, at);
	wins = cg_llvm_ior(m, wins, cg_llvm_iand(m, cg_llvm_fcmp(m, TRA_OP_EQ, v, best), before));
	return cg_llvm_select(m, best_ok, wins, cg_llvm_iand(m, v_nan, before));
}

/* The join at terms first, first + 1, ... first + lanes - 1 of x, as a
 * vector: each lane's scalar code, which LLVM merges (a row's terms are
 * one vector load). */
static CgLlvmValue cg_llvm_arg_group(CgLlvmNestK *K, int x, CgLlvmValue first, int lanes)
{
	CgLlvm *m = K->m;
	CgLlvmValue v = cg_llvm_vec_undef(m, cg_llvm_type(m, tra_node_join_type(K->n)), lanes);
	for (int l = 0; l < lanes; l++) {
		K->env.x[x] = cg_llvm_iadd(m, first, cg_llvm_i64c(m, l));
		v = cg_llvm_vec_insert(m, v, cg_llvm_expr(K->p, &K->env, K->n->join), l);
	}
	return v;
}

/* The lanes' best values v and their groups (numbered in gt) combined
 * into *best and *pos, the first position of the best value (of the
 * first NaN, if any): their positions a + group * lanes + l, then
 * halves against halves, the better of each pair of lanes (on a tie,
 * the earlier), log2(lanes) vector steps. Which of (value, position)
 * is better is a total order, so any tree gives the one answer the
 * lanes' scalar loop in order gave. That loop, at the end of every row,
 * cost more than the row's groups on short rows: an argmax over 262144
 * rows of 100 f32 took 12-15 ms with it, 5.2-7.2 with the tree. */
static void cg_llvm_arg_combine(CgLlvm *m, TraOp better, CgLlvmValue v, CgLlvmValue group, TrartDtype gt,
                                CgLlvmValue a, int lanes, CgLlvmValue *best, CgLlvmValue *pos)
{
	CgLlvmType i64 = cg_llvm_i64(m);
	if (gt == TRART_I32)
		group = cg_llvm_sext(m, group, cg_llvm_vec_type(m, i64, lanes));
	CgLlvmValue lane = cg_llvm_vec_undef(m, i64, lanes);
	for (int l = 0; l < lanes; l++)
		lane = cg_llvm_vec_insert(m, lane, cg_llvm_i64c(m, l), l);
	CgLlvmValue first = cg_llvm_imul(m, group, cg_llvm_vec_splat(m, cg_llvm_i64c(m, lanes), lanes));
	CgLlvmValue p = cg_llvm_iadd(m, cg_llvm_vec_splat(m, a, lanes), cg_llvm_iadd(m, first, lane));
	for (int h = lanes / 2; h >= 1; h /= 2) {
		CgLlvmValue lo = cg_llvm_vec_lanes(m, v, 0, h), hi = cg_llvm_vec_lanes(m, v, h, h);
		CgLlvmValue plo = cg_llvm_vec_lanes(m, p, 0, h), phi = cg_llvm_vec_lanes(m, p, h, h);
		CgLlvmValue take = cg_llvm_arg_takes(m, better, hi, lo, phi, plo, true);
		v = cg_llvm_select(m, take, hi, lo);
		p = cg_llvm_select(m, take, phi, plo);
	}
	*best = cg_llvm_vec_extract(m, v, 0);
	*pos = cg_llvm_vec_extract(m, p, 0);
}

/* The lanes of an argmax or argmin over x (cg_c_arg_lanes), where
 * [a, b) holds at least a lane each: lane l's best value and the group
 * of lanes it was found in, two vectors that the loop over the groups
 * carries in registers, then combined into *best and *pos (position a +
 * group * lanes + l); returns the first term left. Built as a loop over
 * the lanes, LLVM kept them in memory (a store and a load a group) or,
 * unrolled, cut them into vectors of 2, 8, 4 and 2, each with its own
 * compares. The groups are numbered in 32 bits where they fit, so that
 * the lanes' groups are one vector register as their values are. The
 * combine is a tree (cg_llvm_arg_combine). */
static CgLlvmValue cg_llvm_arg_lanes(CgLlvmNestK *K, int x, CgLlvmValue a, CgLlvmValue b, CgLlvmValue *best,
                                     CgLlvmValue *pos)
{
	CgLlvm *m = K->m;
	TraOp better = K->n->agg == TRA_AGG_ARGMAX ? TRA_OP_GT : TRA_OP_LT;
	int lanes = K->L->arg_lanes;
	TrartDtype gt = K->n->idx[x].size / lanes <= INT32_MAX ? TRART_I32 : TRART_I64;
	CgLlvmType gty = cg_llvm_type(m, gt);
	CgLlvmValue nl = cg_llvm_i64c(m, lanes);
	CgLlvmValue groups = cg_llvm_idiv(m, cg_llvm_isub(m, b, a), nl);
	CgLlvmValue v0 = cg_llvm_arg_group(K, x, a, lanes);
	CgLlvmValue g0 = cg_llvm_vec_splat(m, cg_llvm_const_int(m, gty, 0), lanes);
	CgLlvmLoop g;
	cg_llvm_loop_begin(m, &g, cg_llvm_i64c(m, 1), groups, false);
	int cv = cg_llvm_loop_carry(m, &g, v0);
	int cg = cg_llvm_loop_carry(m, &g, g0);
	CgLlvmValue v = cg_llvm_arg_group(K, x, cg_llvm_iadd(m, a, cg_llvm_imul(m, g.iv, nl)), lanes);
	CgLlvmValue take = cg_llvm_arg_takes(m, better, v, g.cur[cv], NULL, NULL, false);
	CgLlvmValue gnum = cg_llvm_vec_splat(m, gt == TRART_I32 ? cg_llvm_trunc(m, g.iv, gty) : g.iv, lanes);
	g.next[cv] = cg_llvm_select(m, take, v, g.cur[cv]);
	g.next[cg] = cg_llvm_select(m, take, gnum, g.cur[cg]);
	cg_llvm_loop_end(m, &g);
	cg_llvm_arg_combine(m, better, g.out[cv], g.out[cg], gt, a, lanes, best, pos);
	return cg_llvm_iadd(m, a, cg_llvm_imul(m, groups, nl));
}

/* argmax, argmin (cg_c_reduce_arg): the first index of the best value of
 * the join along the one reduced index, a NaN winning: in lanes where
 * the plan says so and the range holds a lane each, then a scalar loop
 * over the terms left, carrying the best value, its index and whether
 * one was seen. */
static CgLlvmValue cg_llvm_reduce_arg(CgLlvmNestK *K)
{
	CgLlvm *m = K->m;
	TrartDtype jt = tra_node_join_type(K->n);
	int x = K->L->red[0];
	CgLlvmType i32 = cg_llvm_int(m, 32);
	CgLlvmValue a = cg_llvm_bound_lo(K, x), b = cg_llvm_bound_hi(K, x);
	CgLlvmValue from = a, best0 = cg_llvm_const(m, jt, 0.0), pos0 = cg_llvm_i64c(m, 0);
	CgLlvmValue seen0 = cg_llvm_const_int(m, i32, 1);
	if (K->L->arg_lanes > 1) {
		CgLlvmValue lbest, lpos, rest;
		CgLlvmBlock before = cg_llvm_insert_block(m);
		CgLlvmBlock after = cg_llvm_if_begin(m, cg_llvm_icmp(m, TRA_OP_GE, cg_llvm_isub(m, b, a),
		                                                     cg_llvm_i64c(m, K->L->arg_lanes)));
		rest = cg_llvm_arg_lanes(K, x, a, b, &lbest, &lpos);
		CgLlvmBlock lanes = cg_llvm_insert_block(m);
		cg_llvm_if_end(m, after);
		from = cg_llvm_phi2(m, a, before, rest, lanes);
		best0 = cg_llvm_phi2(m, best0, before, lbest, lanes);
		pos0 = cg_llvm_phi2(m, pos0, before, lpos, lanes);
		seen0 = cg_llvm_phi2(m, seen0, before, cg_llvm_const_int(m, i32, 0), lanes);
	}
	CgLlvmLoop l;
	cg_llvm_index_loop(K, &l, x, from, b, false);
	int bi = cg_llvm_loop_carry(m, &l, pos0);
	int bv = cg_llvm_loop_carry(m, &l, best0);
	int fi = cg_llvm_loop_carry(m, &l, seen0);
	CgLlvmValue v = cg_llvm_expr(K->p, &K->env, K->n->join), best = l.cur[bv];
	CgLlvmValue first = cg_llvm_icmp(m, TRA_OP_NE, l.cur[fi], cg_llvm_const_int(m, i32, 0));
	CgLlvmValue take = cg_llvm_ior(m, first, cg_llvm_arg_takes(m, K->n->agg == TRA_AGG_ARGMAX ? TRA_OP_GT : TRA_OP_LT,
	                                                            v, best, NULL, NULL, false));
	l.next[bv] = cg_llvm_select(m, take, v, best);
	l.next[bi] = cg_llvm_select(m, take, l.iv, l.cur[bi]);
	l.next[fi] = cg_llvm_const_int(m, i32, 0);
	cg_llvm_loop_end(m, &l);
	return l.out[bi];
}

/* The aggregate of the join over the reduced indices (cg_c_reduce), over
 * the block's ranges if the nest has them: loops over red in order, the
 * innermost a vector reduction (or a blocked sum); the NaN flag applied. */
static CgLlvmValue cg_llvm_reduce(CgLlvmNestK *K)
{
	CgLlvm *m = K->m;
	const KplanNest *L = K->L;
	if (L->reduce == KPLAN_RED_ARG)
		return cg_llvm_reduce_arg(K);
	CgLlvmType i64 = cg_llvm_i64(m), i32 = cg_llvm_int(m, 32);
	CgLlvmValue acc_slot = cg_llvm_slot(m, cg_llvm_acc_type(K), cg_llvm_acc_init(K));
	CgLlvmValue nan_slot = L->nan_flag ? cg_llvm_slot(m, i32, cg_llvm_const_int(m, i32, 0)) : NULL;
	CgLlvmPairwise pw = {0};
	CgLlvmValue pw_n = NULL;
	if (L->blocked) {
		pw.lvl = cg_llvm_alloca(m, cg_llvm_array(m, cg_llvm_type(m, K->t), 64));
		pw.count = cg_llvm_slot(m, i64, cg_llvm_i64c(m, 0));
		pw_n = cg_llvm_slot(m, i64, cg_llvm_i64c(m, 0));
	}
	int nred = L->nred;
	CgLlvmLoop loops[TRA_MAX_STMT_INDICES];
	for (int i = 0; i < nred - 1; i++)
		cg_llvm_index_loop(K, &loops[i], L->red[i], cg_llvm_bound_lo(K, L->red[i]),
		                   cg_llvm_bound_hi(K, L->red[i]), false);
	int x = L->red[nred - 1];
	CgLlvmValue a = cg_llvm_bound_lo(K, x), b = cg_llvm_bound_hi(K, x);
	if (L->blocked)
		cg_llvm_blocked_sum(K, x, a, b, acc_slot, &pw, pw_n);
	else
		cg_llvm_simd_reduce(K, x, a, b, acc_slot, nan_slot);
	for (int i = nred - 2; i >= 0; i--)
		cg_llvm_loop_end(m, &loops[i]);
	CgLlvmValue acc = cg_llvm_load_ptr(m, cg_llvm_acc_type(K), acc_slot);
	if (L->blocked)
		acc = cg_llvm_pw_total(K, &pw, acc);
	if (cg_llvm_keyed(K))
		acc = cg_llvm_order_value(m, K->t, acc);
	if (L->nan_flag)
		acc = cg_llvm_nan_fixup(m, K->t, acc, cg_llvm_load_ptr(m, i32, nan_slot));
	return acc;
}

/* ---- storing an element (cg_c_store, cg_c_out_offset) --------------------------------- */

/* The offset of the output element at the bound output indices. */
static CgLlvmValue cg_llvm_out_offset(CgLlvmNestK *K)
{
	return cg_llvm_element_offset(K->m, K->n, NULL, K->env.x);
}

/* The offset of the element in the block, in C order of the block's
 * extents: the e of the C back end's part[e++], which counts the
 * elements in that order. */
static CgLlvmValue cg_llvm_block_offset(CgLlvmNestK *K)
{
	CgLlvm *m = K->m;
	CgLlvmValue off = cg_llvm_i64c(m, 0);
	for (int d = 0; d < K->n->rank; d++) {
		CgLlvmValue lo = cg_llvm_bound_lo(K, d), ext = cg_llvm_isub(m, cg_llvm_bound_hi(K, d), lo);
		off = cg_llvm_iadd(m, cg_llvm_imul(m, off, ext), cg_llvm_isub(m, K->env.x[d], lo));
	}
	return off;
}

/* out[off] = acc, or its epilogue (where the node has one) unless raw;
 * off NULL: the element's at the bound indices. */
static void cg_llvm_store_epilogue(CgLlvmNestK *K, CgLlvmValue acc, CgLlvmValue off, bool raw)
{
	CgLlvmValue v = acc;
	if (K->n->epilogue >= 0 && !raw) {
		K->env.acc = acc;
		v = cg_llvm_expr(K->p, &K->env, K->n->epilogue);
		K->env.acc = NULL;
	}
	cg_llvm_store(K->m, K->t, K->out, off ? off : cg_llvm_out_offset(K), v);
}

/* The element's result from its aggregate acc: to the partial block if
 * the join is split, acc itself where the epilogue is deferred
 * (cg_llvm_deferred_epilogue applies it), else the epilogue of acc (or
 * acc) to the output. */
static void cg_llvm_store_acc(CgLlvmNestK *K, CgLlvmValue acc)
{
	if (K->part) {
		cg_llvm_store(K->m, K->t, K->part, cg_llvm_block_offset(K), acc);
		return;
	}
	cg_llvm_store_epilogue(K, acc, NULL, K->L->deferred);
}

/* A deferred epilogue (KplanNest.deferred; cg_c_deferred_epilogue):
 * after the sums of rows lo to hi - 1 of a rank-1 nest are stored, one
 * vector loop reads each back and stores its epilogue. */
static void cg_llvm_deferred_epilogue(CgLlvmNestK *K, CgLlvmValue lo, CgLlvmValue hi)
{
	if (!K->L->deferred)
		return;
	CgLlvm *m = K->m;
	CgLlvmLoop l;
	cg_llvm_loop_begin(m, &l, lo, hi, true);
	K->env.x[0] = l.iv;
	CgLlvmValue off = cg_llvm_out_offset(K);
	cg_llvm_store_epilogue(K, cg_llvm_load(m, K->t, K->out, off), off, false);
	cg_llvm_loop_end(m, &l);
}

/* One output element at the bound output indices (cg_c_element with
 * CG_ACC_REDUCE): a map's join, or the reduction and the store. */
static void cg_llvm_element(CgLlvmNestK *K)
{
	if (K->n->agg == TRA_AGG_NONE) {
		CgLlvmValue v = cg_llvm_expr(K->p, &K->env, K->n->join);
		cg_llvm_store(K->m, K->t, K->out, cg_llvm_out_offset(K), v);
		return;
	}
	cg_llvm_store_acc(K, cg_llvm_reduce(K));
}

/* ---- reductions along a strided index (cg_c_columns, cg_c_column_reduce) ------------ */

/* A column tile: column_tile partial results of the vector index v, for
 * v from t0 to t1 - 1, in stack arrays made once in the entry block. */
typedef struct CgLlvmTile {
	CgLlvmValue t0, t1;
	CgLlvmValue tile, mid, tot; /* T* (mid and tot when blocked) */
	CgLlvmValue nans;           /* i32* (max and min) */
} CgLlvmTile;

/* &a[v - t0] of a tile array of type ty at the tile loop's v. */
static CgLlvmValue cg_llvm_tile_at(CgLlvmNestK *K, const CgLlvmTile *T, CgLlvmType ty, CgLlvmValue a)
{
	CgLlvmValue v = K->env.x[K->L->vector];
	return cg_llvm_gep(K->m, ty, a, cg_llvm_isub(K->m, v, T->t0));
}

static CgLlvmValue cg_llvm_tile_array(CgLlvm *m, CgLlvmType ty, int64_t n)
{
	return cg_llvm_bitcast(m, cg_llvm_alloca(m, cg_llvm_array(m, ty, n)), cg_llvm_ptr(m, ty));
}

/* Opens the vector loop over the tile (cg_c_tile_loop). */
static void cg_llvm_tile_loop(CgLlvmNestK *K, const CgLlvmTile *T, CgLlvmLoop *l)
{
	cg_llvm_index_loop(K, l, K->L->vector, T->t0, T->t1, true);
}

/* to[v - t0] += from[v - t0]; from[v - t0] = 0, over the tile (the body of
 * cg_c_flush's vector loop). */
static void cg_llvm_tile_flush(CgLlvmNestK *K, const CgLlvmTile *T, CgLlvmValue to, CgLlvmValue from)
{
	CgLlvm *m = K->m;
	CgLlvmType ty = cg_llvm_type(m, K->t);
	CgLlvmLoop l;
	cg_llvm_tile_loop(K, T, &l);
	CgLlvmValue pt = cg_llvm_tile_at(K, T, ty, to), pf = cg_llvm_tile_at(K, T, ty, from);
	CgLlvmValue sum = cg_llvm_arith(m, TRA_OP_ADD, cg_llvm_load_ptr(m, ty, pt), cg_llvm_load_ptr(m, ty, pf));
	cg_llvm_store_ptr(m, sum, pt);
	cg_llvm_store_ptr(m, cg_llvm_const(m, K->t, 0.0), pf);
	cg_llvm_loop_end(m, &l);
}

/* The tile's starting values: init, and zeros in mid, tot and nans. */
static void cg_llvm_tile_clear(CgLlvmNestK *K, const CgLlvmTile *T)
{
	CgLlvm *m = K->m;
	CgLlvmType ty = cg_llvm_type(m, K->t), i32 = cg_llvm_int(m, 32);
	CgLlvmValue zero = cg_llvm_const(m, K->t, 0.0);
	CgLlvmLoop l;
	cg_llvm_tile_loop(K, T, &l);
	cg_llvm_store_ptr(m, cg_llvm_const(m, K->t, K->L->init), cg_llvm_tile_at(K, T, ty, T->tile));
	if (K->L->blocked) {
		cg_llvm_store_ptr(m, zero, cg_llvm_tile_at(K, T, ty, T->mid));
		cg_llvm_store_ptr(m, zero, cg_llvm_tile_at(K, T, ty, T->tot));
	}
	if (K->L->nan_flag)
		cg_llvm_store_ptr(m, cg_llvm_const_int(m, i32, 0), cg_llvm_tile_at(K, T, i32, T->nans));
	cg_llvm_loop_end(m, &l);
}

/* One reduced point into the whole tile: a vector loop over v combining
 * the join into tile (and nans). */
static void cg_llvm_tile_combine(CgLlvmNestK *K, const CgLlvmTile *T)
{
	CgLlvm *m = K->m;
	CgLlvmType ty = cg_llvm_type(m, K->t), i32 = cg_llvm_int(m, 32);
	CgLlvmLoop l;
	cg_llvm_tile_loop(K, T, &l);
	CgLlvmValue pa = cg_llvm_tile_at(K, T, ty, T->tile);
	CgLlvmValue pn = K->L->nan_flag ? cg_llvm_tile_at(K, T, i32, T->nans) : NULL;
	CgLlvmValue nan = pn ? cg_llvm_load_ptr(m, i32, pn) : NULL;
	CgLlvmValue acc = cg_llvm_load_ptr(m, ty, pa);
	CgLlvmValue v = cg_llvm_expr(K->p, &K->env, K->n->join);
	cg_llvm_store_ptr(m, cg_llvm_combine(m, K->t, K->n->agg, false, acc, &nan, v), pa);
	if (pn)
		cg_llvm_store_ptr(m, nan, pn);
	cg_llvm_loop_end(m, &l);
}

/* The reduction of every reduced index into the tile (cg_c_column_reduce):
 * a long sum adds tile into mid every column_block points, and mid into
 * tot every column_block of those. */
static void cg_llvm_column_reduce(CgLlvmNestK *K, const CgLlvmTile *T)
{
	CgLlvm *m = K->m;
	const KplanNest *L = K->L;
	CgLlvmType i64 = cg_llvm_i64(m);
	cg_llvm_tile_clear(K, T);
	CgLlvmValue pw_n = NULL, pw_m = NULL;
	if (L->blocked) {
		pw_n = cg_llvm_slot(m, i64, cg_llvm_i64c(m, 0));
		pw_m = cg_llvm_slot(m, i64, cg_llvm_i64c(m, 0));
	}
	CgLlvmLoop loops[TRA_MAX_STMT_INDICES];
	for (int i = 0; i < L->nred; i++)
		cg_llvm_index_loop(K, &loops[i], L->red[i], cg_llvm_bound_lo(K, L->red[i]),
		                   cg_llvm_bound_hi(K, L->red[i]), false);
	cg_llvm_tile_combine(K, T);
	if (L->blocked) {
		CgLlvmBlock after_n = cg_llvm_if_begin(m, cg_llvm_bump_is(m, pw_n, L->column_block));
		cg_llvm_store_ptr(m, cg_llvm_i64c(m, 0), pw_n);
		cg_llvm_tile_flush(K, T, T->mid, T->tile);
		CgLlvmBlock after_m = cg_llvm_if_begin(m, cg_llvm_bump_is(m, pw_m, L->column_block));
		cg_llvm_store_ptr(m, cg_llvm_i64c(m, 0), pw_m);
		cg_llvm_tile_flush(K, T, T->tot, T->mid);
		cg_llvm_if_end(m, after_m);
		cg_llvm_if_end(m, after_n);
	}
	for (int i = L->nred - 1; i >= 0; i--)
		cg_llvm_loop_end(m, &loops[i]);
}

/* for (start = lo; start < hi; start += tile), as a loop l over a count
 * of tiles: the tile's start in *start and its end, at most hi, in *end.
 * l ends with cg_llvm_loop_end. */
static void cg_llvm_tiles_of(CgLlvm *m, CgLlvmLoop *l, CgLlvmValue lo, CgLlvmValue hi, int64_t tile,
                             CgLlvmValue *start, CgLlvmValue *end)
{
	CgLlvmValue ntiles = cg_llvm_idiv(m, cg_llvm_iadd(m, cg_llvm_isub(m, hi, lo), cg_llvm_i64c(m, tile - 1)),
	                                  cg_llvm_i64c(m, tile));
	cg_llvm_loop_begin(m, l, cg_llvm_i64c(m, 0), ntiles, false);
	*start = cg_llvm_iadd(m, lo, cg_llvm_imul(m, l->iv, cg_llvm_i64c(m, tile)));
	*end = cg_llvm_imin(m, hi, cg_llvm_iadd(m, *start, cg_llvm_i64c(m, tile)));
}

/* The elements of the vector index from vlo to vhi - 1, the outer output
 * indices bound (cg_c_columns): tile by tile, each reduced, then stored
 * (to the partial block if split). */
static void cg_llvm_columns(CgLlvmNestK *K, CgLlvmValue vlo, CgLlvmValue vhi)
{
	CgLlvm *m = K->m;
	const KplanNest *L = K->L;
	CgLlvmType ty = cg_llvm_type(m, K->t), i32 = cg_llvm_int(m, 32);
	int64_t tile = L->column_tile;
	CgLlvmTile T = {.tile = cg_llvm_tile_array(m, ty, tile)};
	if (L->blocked) {
		T.mid = cg_llvm_tile_array(m, ty, tile);
		T.tot = cg_llvm_tile_array(m, ty, tile);
	}
	if (L->nan_flag)
		T.nans = cg_llvm_tile_array(m, i32, tile);
	CgLlvmLoop q;
	cg_llvm_tiles_of(m, &q, vlo, vhi, tile, &T.t0, &T.t1);
	cg_llvm_column_reduce(K, &T);
	CgLlvmLoop l; /* not a vector loop in C either: it stores through the epilogue */
	cg_llvm_index_loop(K, &l, L->vector, T.t0, T.t1, false);
	CgLlvmValue acc = cg_llvm_load_ptr(m, ty, cg_llvm_tile_at(K, &T, ty, T.tile));
	if (L->blocked) {
		CgLlvmValue mt = cg_llvm_arith(m, TRA_OP_ADD, cg_llvm_load_ptr(m, ty, cg_llvm_tile_at(K, &T, ty, T.mid)),
		                               cg_llvm_load_ptr(m, ty, cg_llvm_tile_at(K, &T, ty, T.tot)));
		acc = cg_llvm_arith(m, TRA_OP_ADD, acc, mt);
	}
	if (L->nan_flag)
		acc = cg_llvm_nan_fixup(m, K->t, acc, cg_llvm_load_ptr(m, i32, cg_llvm_tile_at(K, &T, i32, T.nans)));
	cg_llvm_store_acc(K, acc);
	cg_llvm_loop_end(m, &l);
	cg_llvm_loop_end(m, &q);
}

/* ---- functions, buffers and the runtime -------------------------------------------- */

/* Where a nest function gets its bounds. */
typedef enum CgLlvmBounds {
	CG_LLVM_WHOLE, /* every index over its whole range */
	CG_LLVM_ROWS,  /* (lo, hi) of the first output index (a scatter's split
	                  one, which its caller binds), the rest whole */
	CG_LLVM_BLOCK, /* every index over the block lo[] .. hi[] */
} CgLlvmBounds;

/* The parameters of a nest function for node n: (i64 lo, i64 hi) for
 * rows, then out and each operand's buffer, then (i64 *lo, i64 *hi) for
 * a block, and the partial block if split. Returns how many. */
static int cg_llvm_nest_params(CgLlvm *m, const TraGraph *g, const TraNode *n, CgLlvmBounds bounds,
                               bool split, CgLlvmType *params)
{
	int np = 0;
	CgLlvmType i64 = cg_llvm_i64(m), tp = cg_llvm_tptr(m, n->type);
	if (bounds == CG_LLVM_ROWS) {
		params[np++] = i64;
		params[np++] = i64;
	}
	params[np++] = tp;
	for (int k = 0; k < n->nops; k++) /* a view's operand may have another type */
		params[np++] = cg_llvm_tptr(m, g->nodes[n->ops[k].node].type);
	if (bounds == CG_LLVM_BLOCK) {
		params[np++] = cg_llvm_ptr(m, i64);
		params[np++] = cg_llvm_ptr(m, i64);
	}
	if (split)
		params[np++] = tp;
	return np;
}

/* Starts the internal function name of node id's nest with the
 * parameters above, every buffer noalias (the C back end's restrict:
 * a kernel's tensors are distinct, and LLVM keeps that when it inlines
 * the function into its caller). */
static CgLlvmNestK *cg_llvm_nest_fn(CgLlvmProg *p, const char *name, int id, const KplanNest *L,
                                    CgLlvmBounds bounds, bool split)
{
	CgLlvm *m = p->m;
	CgLlvmNestK *K = cg_llvm_nest_new(p, id, L);
	const TraNode *n = K->n;
	CgLlvmType *params = xcalloc((size_t)n->nops + 6, sizeof *params);
	int np = cg_llvm_nest_params(m, p->g, n, bounds, split, params);
	cg_llvm_internal(cg_llvm_function(m, name, params, np));
	free(params);
	int i = bounds == CG_LLVM_ROWS ? 2 : 0;
	for (int k = i; k < i + n->nops + 1; k++)
		cg_llvm_param_noalias(m, k);
	K->out = cg_llvm_param(m, i++);
	for (int k = 0; k < n->nops; k++)
		K->in[k] = cg_llvm_param(m, i++);
	if (bounds == CG_LLVM_BLOCK) {
		cg_llvm_load_range(m, cg_llvm_param(m, i), cg_llvm_param(m, i + 1), n->nidx, K->blo, K->bhi);
		i += 2;
	}
	if (split) {
		cg_llvm_param_noalias(m, i);
		K->part = cg_llvm_param(m, i++);
	}
	return K;
}

static CgLlvmType cg_llvm_i8p(CgLlvm *m)
{
	return cg_llvm_ptr(m, cg_llvm_int(m, 8));
}

/* bufs[id] as a pointer to node id's element type. */
static CgLlvmValue cg_llvm_buffer(CgLlvmProg *p, CgLlvmValue bufs, int id)
{
	CgLlvm *m = p->m;
	CgLlvmType i8p = cg_llvm_i8p(m);
	CgLlvmValue b = cg_llvm_load_ptr(m, i8p, cg_llvm_gep(m, i8p, bufs, cg_llvm_i64c(m, id)));
	return cg_llvm_bitcast(m, b, cg_llvm_tptr(m, p->g->nodes[id].type));
}

/* Calls node id's nest function name (made by cg_llvm_nest_fn) with
 * the arguments its parameters say: lo and hi (a row range's i64s, a
 * block's i64*s; none for CG_LLVM_WHOLE), the buffers of node id and of
 * its operands from bufs, and the partial block part (NULL: not split). */
static void cg_llvm_nest_call(CgLlvmProg *p, const char *name, int id, CgLlvmBounds bounds, CgLlvmValue bufs,
                              CgLlvmValue lo, CgLlvmValue hi, CgLlvmValue part)
{
	CgLlvm *m = p->m;
	const TraNode *n = &p->g->nodes[id];
	CgLlvmType *params = xcalloc((size_t)n->nops + 6, sizeof *params);
	CgLlvmValue *args = xcalloc((size_t)n->nops + 6, sizeof *args);
	int np = cg_llvm_nest_params(m, p->g, n, bounds, part != NULL, params), na = 0;
	if (bounds == CG_LLVM_ROWS) {
		args[na++] = lo;
		args[na++] = hi;
	}
	args[na++] = cg_llvm_buffer(p, bufs, id);
	for (int k = 0; k < n->nops; k++)
		args[na++] = cg_llvm_buffer(p, bufs, n->ops[k].node);
	if (bounds == CG_LLVM_BLOCK) {
		args[na++] = lo;
		args[na++] = hi;
	}
	if (part)
		args[na++] = part;
	if (na != np)
		TRAC_BUG("%d arguments for the %d parameters of %s", na, np, name);
	cg_llvm_call(m, cg_llvm_fn_type(m, cg_llvm_void(m), params, np), cg_llvm_named_function(m, name), args, np);
	free(params);
	free(args);
}

CgLlvmValue cg_llvm_extern_call(CgLlvm *m, const char *name, CgLlvmType ret, const CgLlvmType *params, int np,
                                const CgLlvmValue *args)
{
	CgLlvmType fnty = cg_llvm_fn_type(m, ret, params, np);
	CgLlvmValue fn = cg_llvm_bitcast(m, cg_llvm_declare(m, name, fnty), cg_llvm_ptr(m, fnty));
	return cg_llvm_call(m, fnty, fn, args, np);
}

/* Starts a block kernel `void name(i8** bufs, i8* task)` (the task
 * tables hold kernels as i8*, whatever their task parameter's type). */
static void cg_llvm_block_fn(CgLlvmProg *p, const char *name)
{
	CgLlvm *m = p->m;
	CgLlvmType params[2] = {cg_llvm_ptr(m, cg_llvm_i8p(m)), cg_llvm_i8p(m)};
	cg_llvm_internal(cg_llvm_function(m, name, params, 2));
}

/* task->lo or task->hi (an i64*), at the C compiler's offset. */
static CgLlvmValue cg_llvm_task_bounds(CgLlvm *m, CgLlvmValue task, size_t offset)
{
	CgLlvmType i64p = cg_llvm_ptr(m, cg_llvm_i64(m));
	CgLlvmValue at = cg_llvm_gep(m, cg_llvm_int(m, 8), task, cg_llvm_i64c(m, (int64_t)offset));
	return cg_llvm_load_ptr(m, i64p, cg_llvm_bitcast(m, at, cg_llvm_ptr(m, i64p)));
}

void cg_llvm_task_block(CgLlvm *m, CgLlvmValue task, int count, CgLlvmValue *lo, CgLlvmValue *hi)
{
	cg_llvm_load_range(m, cg_llvm_task_bounds(m, task, offsetof(TrartTask, lo)),
	                   cg_llvm_task_bounds(m, task, offsetof(TrartTask, hi)), count, lo, hi);
}

/* The task's number: (task - tasks) / sizeof(TrartTask). */
static CgLlvmValue cg_llvm_task_number(CgLlvmProg *p, CgLlvmValue task)
{
	CgLlvm *m = p->m;
	CgLlvmValue d = cg_llvm_isub(m, cg_llvm_ptr_to_i64(m, task), cg_llvm_ptr_to_i64(m, p->tasks));
	return cg_llvm_idiv(m, d, cg_llvm_i64c(m, (int64_t)sizeof(TrartTask)));
}

/* &table[i] of a global array with elements of type ty. */
static CgLlvmValue cg_llvm_table_at(CgLlvm *m, CgLlvmValue table, CgLlvmType ty, CgLlvmValue i)
{
	return cg_llvm_gep(m, ty, cg_llvm_bitcast(m, table, cg_llvm_ptr(m, ty)), i);
}

CgLlvmValue cg_llvm_partial_block(CgLlvmProg *p, CgLlvmValue bufs, CgLlvmValue task, TrartDtype t)
{
	CgLlvm *m = p->m;
	CgLlvmType i8p = cg_llvm_i8p(m);
	CgLlvmValue at = cg_llvm_iadd(m, cg_llvm_task_number(p, task), cg_llvm_i64c(m, p->g->nnodes));
	CgLlvmValue part = cg_llvm_load_ptr(m, i8p, cg_llvm_gep(m, i8p, bufs, at));
	return cg_llvm_bitcast(m, part, cg_llvm_tptr(m, t));
}

CgLlvmValue cg_llvm_task_bufs(CgLlvmProg *p, CgLlvmValue bufs, CgLlvmValue task)
{
	if (!p->opt->mg || !p->opt->mg->views)
		return bufs;
	CgLlvm *m = p->m;
	CgLlvmType i8p = cg_llvm_i8p(m), i8pp = cg_llvm_ptr(m, i8p), i32 = cg_llvm_int(m, 32);
	CgLlvmValue local = cg_llvm_alloca(m, cg_llvm_array(m, i8p, p->g->nnodes));
	CgLlvmType params[4] = {i8pp, i8p, i8pp, i32};
	CgLlvmValue args[4] = {bufs, task, cg_llvm_bitcast(m, local, i8pp), cg_llvm_const_int(m, i32, p->g->nnodes)};
	return cg_llvm_extern_call(m, "trart_task_bufs", i8pp, params, 4, args);
}

CgLlvmType cg_llvm_ctx_type(CgLlvm *m)
{
	CgLlvmType fields[3] = {cg_llvm_ptr(m, cg_llvm_i8p(m)), cg_llvm_i8p(m), cg_llvm_i64(m)};
	return cg_llvm_struct(m, "TracCtx", fields, 3);
}

CgLlvmValue cg_llvm_ctx(CgLlvm *m, CgLlvmValue bufs, CgLlvmValue acc, CgLlvmValue base)
{
	CgLlvmType ty = cg_llvm_ctx_type(m), i8p = cg_llvm_i8p(m);
	CgLlvmValue ctx = cg_llvm_alloca(m, ty);
	cg_llvm_store_ptr(m, bufs, cg_llvm_field(m, ty, ctx, 0));
	cg_llvm_store_ptr(m, acc ? acc : cg_llvm_const_null(i8p), cg_llvm_field(m, ty, ctx, 1));
	cg_llvm_store_ptr(m, base, cg_llvm_field(m, ty, ctx, 2));
	return cg_llvm_bitcast(m, ctx, i8p);
}

void cg_llvm_parallel_for(CgLlvm *m, CgLlvmValue count, CgLlvmValue body, CgLlvmValue ctx)
{
	CgLlvmType i8p = cg_llvm_i8p(m), params[3] = {cg_llvm_i64(m), i8p, i8p};
	CgLlvmValue args[3] = {count, cg_llvm_bitcast(m, body, i8p), ctx};
	cg_llvm_extern_call(m, "trart_parallel_for", cg_llvm_void(m), params, 3, args);
}

/* ---- block joins (cg_c_block_join) ------------------------------------------------- */

/* A transposing block map's body (cg_c_block_tiles): the output loops,
 * tile_index's and the vector loop's over tile starts, then the two
 * within a tile, innermost. */
static void cg_llvm_tiles_body(CgLlvmNestK *K)
{
	CgLlvm *m = K->m;
	const TraNode *n = K->n;
	int t = K->L->tile_index, v = n->rank - 1;
	int64_t tile = K->L->tile;
	CgLlvmLoop loops[TRA_MAX_RANK + 2];
	CgLlvmValue start[TRA_MAX_RANK], end[TRA_MAX_RANK];
	for (int d = 0; d < v; d++)
		if (d == t)
			cg_llvm_tiles_of(m, &loops[d], cg_llvm_bound_lo(K, d), cg_llvm_bound_hi(K, d), tile, &start[d],
			                 &end[d]);
		else
			cg_llvm_index_loop(K, &loops[d], d, cg_llvm_bound_lo(K, d), cg_llvm_bound_hi(K, d), false);
	cg_llvm_tiles_of(m, &loops[v], cg_llvm_bound_lo(K, v), cg_llvm_bound_hi(K, v), tile, &start[v], &end[v]);
	cg_llvm_index_loop(K, &loops[v + 1], t, start[t], end[t], false);
	cg_llvm_index_loop(K, &loops[v + 2], v, start[v], end[v], false);
	loops[v + 2].scalar = true; /* vectorised, its strided reads were gathers: 34 ms, not 21 */
	cg_llvm_element(K);
	for (int d = v + 2; d >= 0; d--)
		cg_llvm_loop_end(m, &loops[d]);
	cg_llvm_return(m);
}

/* A block map of short rows' body (cg_c_block_flat): the loops outside
 * the flat ones over the block, then one vector loop over the last
 * index through the block's flat range, the other flat indices at 0. */
static void cg_llvm_flat_body(CgLlvmNestK *K)
{
	CgLlvm *m = K->m;
	const TraNode *n = K->n;
	int v = n->rank - 1, f = v - K->L->flat;
	CgLlvmLoop loops[TRA_MAX_RANK];
	for (int d = 0; d < f; d++)
		cg_llvm_index_loop(K, &loops[d], d, cg_llvm_bound_lo(K, d), cg_llvm_bound_hi(K, d), false);
	for (int d = f; d < v; d++)
		K->env.x[d] = cg_llvm_i64c(m, 0);
	CgLlvmValue r = cg_llvm_i64c(m, kplan_flat_row(n, K->L));
	cg_llvm_index_loop(K, &loops[f], v, cg_llvm_imul(m, cg_llvm_bound_lo(K, f), r),
	                   cg_llvm_imul(m, cg_llvm_bound_hi(K, f), r), true);
	cg_llvm_element(K);
	for (int d = f; d >= 0; d--)
		cg_llvm_loop_end(m, &loops[d]);
	cg_llvm_return(m);
}

/* The body of b<id>: the output loops over the block, and per element
 * the reduction over the block's reduced ranges (or a map's join), or
 * the column tiles along the last output index; a transposing map's in
 * tiles. */
static void cg_llvm_join_body(CgLlvmNestK *K)
{
	CgLlvm *m = K->m;
	const TraNode *n = K->n;
	if (K->L->tile > 0) {
		cg_llvm_tiles_body(K);
		return;
	}
	if (K->L->flat > 0) {
		cg_llvm_flat_body(K);
		return;
	}
	bool columns = K->L->reduce == KPLAN_RED_COLUMNS;
	int nout = columns ? n->rank - 1 : n->rank;
	CgLlvmLoop loops[TRA_MAX_RANK];
	for (int d = 0; d < nout; d++) /* a map's innermost loop is a vector loop */
		cg_llvm_output_loop(K, &loops[d], d, cg_llvm_bound_lo(K, d), cg_llvm_bound_hi(K, d),
		                    n->agg == TRA_AGG_NONE && d == n->rank - 1);
	if (columns)
		cg_llvm_columns(K, cg_llvm_bound_lo(K, n->rank - 1), cg_llvm_bound_hi(K, n->rank - 1));
	else
		cg_llvm_element(K);
	for (int d = nout - 1; d >= 0; d--)
		cg_llvm_loop_end(m, &loops[d]);
	cg_llvm_deferred_epilogue(K, cg_llvm_bound_lo(K, 0), cg_llvm_bound_hi(K, 0)); /* rank 1 */
	cg_llvm_return(m);
}

/* b<id>(bufs, task): the task's bounds and buffers, for a split join
 * its partial block (KPLAN_PARTIAL), then the body, an inner function
 * whose buffers are noalias. */
/* b<id>(all, task): calls inner, the block's nest function, on the
 * task's buffers and bounds (and its partial block, split). */
static void cg_llvm_block_entry(CgLlvmProg *p, const Kplan *k, const char *inner)
{
	CgLlvm *m = p->m;
	char name[48];
	snprintf(name, sizeof name, "b%d", k->node);
	cg_llvm_block_fn(p, name);
	CgLlvmValue all = cg_llvm_param(m, 0), task = cg_llvm_param(m, 1);
	CgLlvmValue bufs = cg_llvm_task_bufs(p, all, task);
	CgLlvmValue lo = cg_llvm_task_bounds(m, task, offsetof(TrartTask, lo));
	CgLlvmValue hi = cg_llvm_task_bounds(m, task, offsetof(TrartTask, hi));
	CgLlvmValue part = k->split ? cg_llvm_partial_block(p, all, task, p->g->nodes[k->node].type) : NULL;
	cg_llvm_nest_call(p, inner, k->node, CG_LLVM_BLOCK, bufs, lo, hi, part);
	cg_llvm_return(m);
}

static void cg_llvm_block_join(CgLlvmProg *p, const Kplan *k)
{
	char inner[64];
	snprintf(inner, sizeof inner, "b%d.join", k->node);
	CgLlvmNestK *K = cg_llvm_nest_fn(p, inner, k->node, &k->nest, CG_LLVM_BLOCK, k->split);
	cg_llvm_join_body(K);
	free(K);
	cg_llvm_block_entry(p, k, inner);
}

/* ---- aggregations of split blocks (cg_c_block_agg) ------------------------------------ */

/* acc from the folded partial block p0 (cg_llvm_agg_fold) at the
 * element's offset e in the block, with the NaN flag applied. */
static CgLlvmValue cg_llvm_agg_element(CgLlvmNestK *K, const KplanNest *A, CgLlvmValue p0)
{
	CgLlvm *m = K->m;
	CgLlvmValue v = cg_llvm_load(m, K->t, p0, cg_llvm_block_offset(K));
	CgLlvmValue nan = cg_llvm_const_int(m, cg_llvm_int(m, 32), 0);
	CgLlvmValue acc = cg_llvm_combine(m, K->t, A->agg, false, cg_llvm_const(m, K->t, A->init), &nan, v);
	return A->nan_flag ? cg_llvm_nan_fixup(m, K->t, acc, nan) : acc;
}

/* A task's listed partial block q, bufs[nnodes + parts[q]] (its parts
 * list, the i32* parts), as a pointer to type t. */
static CgLlvmValue cg_llvm_listed_part(CgLlvmProg *p, CgLlvmValue bufs, CgLlvmValue parts, CgLlvmValue q,
                                       TrartDtype t)
{
	CgLlvm *m = p->m;
	CgLlvmType i32 = cg_llvm_int(m, 32), i8p = cg_llvm_i8p(m);
	CgLlvmValue b = cg_llvm_sext(m, cg_llvm_load_ptr(m, i32, cg_llvm_gep(m, i32, parts, q)), cg_llvm_i64(m));
	b = cg_llvm_iadd(m, b, cg_llvm_i64c(m, p->g->nnodes));
	return cg_llvm_bitcast(m, cg_llvm_load_ptr(m, i8p, cg_llvm_gep(m, i8p, bufs, b)), cg_llvm_tptr(m, t));
}

/* The aggregation's partial block q, as its node's type. */
static CgLlvmValue cg_llvm_agg_part(CgLlvmNestK *K, CgLlvmValue bufs, CgLlvmValue parts, CgLlvmValue q)
{
	return cg_llvm_listed_part(K->p, bufs, parts, q, K->t);
}

/* The task's partial blocks 1..np-1 combined into block 0, one flat
 * vector loop each (cg_c_block_agg_fold says why); block 0. */
static CgLlvmValue cg_llvm_agg_fold(CgLlvmNestK *K, const KplanNest *A, CgLlvmValue bufs, CgLlvmValue np,
                                    CgLlvmValue parts)
{
	CgLlvm *m = K->m;
	CgLlvmValue ne = cg_llvm_i64c(m, 1);
	for (int d = 0; d < K->n->rank; d++)
		ne = cg_llvm_imul(m, ne, cg_llvm_isub(m, cg_llvm_bound_hi(K, d), cg_llvm_bound_lo(K, d)));
	CgLlvmValue p0 = cg_llvm_agg_part(K, bufs, parts, cg_llvm_i64c(m, 0));
	CgLlvmLoop q, i;
	cg_llvm_loop_begin(m, &q, cg_llvm_i64c(m, 1), np, false);
	CgLlvmValue pq = cg_llvm_agg_part(K, bufs, parts, q.iv);
	cg_llvm_loop_begin(m, &i, cg_llvm_i64c(m, 0), ne, true);
	CgLlvmValue a = cg_llvm_load(m, K->t, p0, i.iv), v = cg_llvm_load(m, K->t, pq, i.iv);
	CgLlvmValue nan = NULL;
	CgLlvmValue r = cg_llvm_combine(m, K->t, A->agg, false, a, &nan, v);
	if (A->nan_flag) /* the NaN goes along */
		r = cg_llvm_select(m, cg_llvm_fcmp(m, TRA_OP_NE, v, v), v, r);
	cg_llvm_store(m, K->t, p0, i.iv, r);
	cg_llvm_loop_end(m, &i);
	cg_llvm_loop_end(m, &q);
	return p0;
}

/* a<id>(bufs, task): every element of the output block from the partial
 * blocks the task lists, through the epilogue (the executor frees them). */
static void cg_llvm_block_agg(CgLlvmProg *p, const Kplan *k)
{
	CgLlvm *m = p->m;
	const TraNode *n = &p->g->nodes[k->node];
	char name[48];
	snprintf(name, sizeof name, "a%d", k->node);
	cg_llvm_block_fn(p, name);
	CgLlvmNestK *K = cg_llvm_nest_new(p, k->node, &k->nest);
	CgLlvmValue all = cg_llvm_param(m, 0), task = cg_llvm_param(m, 1);
	CgLlvmValue bufs = cg_llvm_task_bufs(p, all, task);
	K->out = cg_llvm_buffer(p, bufs, k->node);
	for (int q = 0; q < n->nops; q++)
		K->in[q] = cg_llvm_buffer(p, bufs, n->ops[q].node);
	cg_llvm_task_block(m, task, n->rank, K->blo, K->bhi);
	CgLlvmType i32 = cg_llvm_int(m, 32), i32p = cg_llvm_ptr(m, i32), i64 = cg_llvm_i64(m);
	CgLlvmValue self = cg_llvm_task_number(p, task);
	CgLlvmValue np = cg_llvm_sext(m, cg_llvm_load_ptr(m, i32, cg_llvm_table_at(m, p->nparts, i32, self)), i64);
	CgLlvmValue parts = cg_llvm_load_ptr(m, i32p, cg_llvm_table_at(m, p->parts, i32p, self));
	CgLlvmValue p0 = cg_llvm_agg_fold(K, &k->nest, all, np, parts);
	CgLlvmLoop loops[TRA_MAX_RANK];
	for (int d = 0; d < n->rank; d++)
		cg_llvm_index_loop(K, &loops[d], d, cg_llvm_bound_lo(K, d), cg_llvm_bound_hi(K, d), false);
	cg_llvm_store_acc(K, cg_llvm_agg_element(K, &k->nest, p0));
	for (int d = n->rank - 1; d >= 0; d--)
		cg_llvm_loop_end(m, &loops[d]);
	free(K);
	cg_llvm_return(m);
}

/* ---- row groups (cg_c_row, cg_c_group_body, cg_c_block_rows, cg_c_group_kernel) ----- */

/* Starts "<kernel>.rows<id>", member id's function of a row group: a
 * CG_LLVM_ROWS nest, with a partial block for a reducer; no_unroll: its
 * vector loops are not unrolled (cg_llvm_row says why); not inlined into
 * the chunk loop where the plan calls it (kplan_member_called). */
static CgLlvmNestK *cg_llvm_row_fn(CgLlvmProg *p, const char *kernel, int id, bool reducer, bool no_unroll)
{
	char name[64];
	snprintf(name, sizeof name, "%s.rows%d", kernel, id);
	CgLlvmNestK *K = cg_llvm_nest_fn(p, name, id, &p->kp->kernels[p->kp->node_plan[id]].nest, CG_LLVM_ROWS, reducer);
	K->no_unroll = no_unroll;
	if (kplan_member_called(p->kp, id))
		cg_llvm_noinline(p->m);
	return K;
}

/* Row r's first rank indices into K's environment, the rows numbered in
 * C order over them (cg_c_row_indices). */
static void cg_llvm_row_indices(CgLlvmNestK *K, int rank, CgLlvmValue r)
{
	CgLlvm *m = K->m;
	for (int d = 0; d < rank; d++) {
		int64_t stride = ia_row_stride(K->n, rank, d);
		CgLlvmValue x = stride > 1 ? cg_llvm_idiv(m, r, cg_llvm_i64c(m, stride)) : r;
		if (d > 0) {
			CgLlvmValue size = cg_llvm_i64c(m, K->n->idx[d].size);
			x = cg_llvm_isub(m, x, cg_llvm_imul(m, cg_llvm_idiv(m, x, size), size));
		}
		K->env.x[d] = x;
	}
}

/* "<kernel>.rows<id>"(lo, hi, out, in...): every element of node id
 * whose first index is in [lo, hi), or whose first rank indices are the
 * points numbered lo to hi - 1 in C order (cg_c_row). In a group with a row
 * reducer (no_unroll), its vector loops are not unrolled: LLVM unrolled
 * W5's dot (blocks of 256 terms) and its row reducer's loop (1000
 * elements) whole, then kept w and the partial block in 64 vector
 * registers across the rows, spilled to the stack: 19-27 ms, against
 * 13.7-16.4 with either loop not unrolled (the C back end's gcc unrolls
 * neither). Elsewhere unrolling stays LLVM's choice: without it, a
 * convolution's short loops were left scalar. */
static void cg_llvm_row(CgLlvmProg *p, const char *kernel, int id, bool no_unroll, int rank)
{
	CgLlvm *m = p->m;
	const TraNode *n = &p->g->nodes[id];
	CgLlvmNestK *K = cg_llvm_row_fn(p, kernel, id, false, no_unroll);
	const KplanNest *L = K->L;
	CgLlvmValue lo = cg_llvm_param(m, 0), hi = cg_llvm_param(m, 1);
	bool columns = L->reduce == KPLAN_RED_COLUMNS, map = n->agg == TRA_AGG_NONE;
	if (columns && n->rank == 1) {
		cg_llvm_columns(K, lo, hi);
		cg_llvm_return(m);
		free(K);
		return;
	}
	int nout = columns ? n->rank - 1 : n->rank;
	CgLlvmLoop loops[TRA_MAX_RANK];
	if (rank == 1) {
		cg_llvm_output_loop(K, &loops[0], 0, lo, hi, map && n->rank == 1);
	} else { /* a row is a point of the first rank indices */
		cg_llvm_loop_begin(m, &loops[0], lo, hi, false);
		loops[0].scalar = cg_llvm_rows_scalar(K);
		cg_llvm_row_indices(K, rank, loops[0].iv);
	}
	for (int d = rank; d < nout; d++)
		cg_llvm_output_loop(K, &loops[d], d, cg_llvm_i64c(m, 0), cg_llvm_i64c(m, n->idx[d].size),
		                    map && d == n->rank - 1);
	if (columns)
		cg_llvm_columns(K, cg_llvm_i64c(m, 0), cg_llvm_i64c(m, n->idx[n->rank - 1].size));
	else
		cg_llvm_element(K);
	for (int d = nout - 1; d >= rank; d--)
		cg_llvm_loop_end(m, &loops[d]);
	cg_llvm_loop_end(m, &loops[0]);
	cg_llvm_deferred_epilogue(K, lo, hi); /* rank 1 */
	cg_llvm_return(m);
	free(K);
}

/* The join of row reducer K's node, at row r, added to acc: the vector
 * loops' element of the partial block, or that plus the rows before. */
static CgLlvmValue cg_llvm_row_reduce_add(CgLlvmProg *p, CgLlvmNestK *K, CgLlvmValue r, CgLlvmValue acc)
{
	K->env.x[K->n->rank] = r;
	return cg_llvm_arith(p->m, TRA_OP_ADD, acc, cg_llvm_expr(p, &K->env, K->n->join));
}

/* Opens row reducer K's loops over its output, the last the vector loop,
 * into loops[0..rank); returns the element's offset in the partial block. */
static CgLlvmValue cg_llvm_row_reduce_open(CgLlvmNestK *K, CgLlvmLoop *loops)
{
	for (int d = 0; d < K->n->rank; d++)
		cg_llvm_index_loop(K, &loops[d], d, cg_llvm_i64c(K->m, 0), cg_llvm_i64c(K->m, K->n->idx[d].size),
		                   d == K->n->rank - 1);
	return cg_llvm_out_offset(K);
}

static void cg_llvm_row_reduce_close(CgLlvmNestK *K, CgLlvmLoop *loops)
{
	for (int d = K->n->rank - 1; d >= 0; d--)
		cg_llvm_loop_end(K->m, &loops[d]);
}

/* "<kernel>.rows<id>"(lo, hi, out, in..., part) of a row reducer: the
 * join at rows [lo, hi) of its reduced index added into part, the
 * partial block of the task's row block (the output's layout), a vector
 * loop along the last output index; jam rows at a time, each element
 * loaded once, the rows added in order, stored once, and the rows left
 * over one at a time (cg_c_row_reduce). */
static void cg_llvm_row_reduce(CgLlvmProg *p, const char *kernel, int id, int jam)
{
	CgLlvm *m = p->m;
	const TraNode *n = &p->g->nodes[id];
	CgLlvmNestK *K = cg_llvm_row_fn(p, kernel, id, true, true);
	CgLlvmLoop loops[TRA_MAX_RANK + 1];
	CgLlvmValue lo = cg_llvm_param(m, 0), hi = cg_llvm_param(m, 1);
	if (jam > 1) {
		CgLlvmValue passes = cg_llvm_idiv(m, cg_llvm_isub(m, hi, lo), cg_llvm_i64c(m, jam));
		cg_llvm_loop_begin(m, &loops[n->rank], cg_llvm_i64c(m, 0), passes, false);
		CgLlvmValue first = cg_llvm_iadd(m, lo, cg_llvm_imul(m, loops[n->rank].iv, cg_llvm_i64c(m, jam)));
		CgLlvmValue off = cg_llvm_row_reduce_open(K, loops);
		CgLlvmValue acc = cg_llvm_load(m, K->t, K->part, off);
		for (int q = 0; q < jam; q++)
			acc = cg_llvm_row_reduce_add(p, K, cg_llvm_iadd(m, first, cg_llvm_i64c(m, q)), acc);
		cg_llvm_store(m, K->t, K->part, off, acc);
		cg_llvm_row_reduce_close(K, loops);
		cg_llvm_loop_end(m, &loops[n->rank]);
		lo = cg_llvm_iadd(m, lo, cg_llvm_imul(m, passes, cg_llvm_i64c(m, jam)));
	}
	cg_llvm_loop_begin(m, &loops[n->rank], lo, hi, false);
	CgLlvmValue r = loops[n->rank].iv;
	CgLlvmValue off = cg_llvm_row_reduce_open(K, loops);
	cg_llvm_store(m, K->t, K->part, off, cg_llvm_row_reduce_add(p, K, r, cg_llvm_load(m, K->t, K->part, off)));
	cg_llvm_row_reduce_close(K, loops);
	cg_llvm_loop_end(m, &loops[n->rank]);
	cg_llvm_return(m);
	free(K);
}

/* The rows [lo, hi) of every member, chunk of rows by chunk of rows
 * (cg_c_group_body), in the function being built; part is the row
 * reducer's partial block (NULL: none). */
static void cg_llvm_group_chunks(CgLlvmProg *p, const Kplan *k, const char *kernel, CgLlvmValue bufs,
                                 CgLlvmValue lo, CgLlvmValue hi, CgLlvmValue part)
{
	CgLlvm *m = p->m;
	CgLlvmValue nchunks = cg_llvm_idiv(m, cg_llvm_iadd(m, cg_llvm_isub(m, hi, lo), cg_llvm_i64c(m, k->chunk - 1)),
	                                   cg_llvm_i64c(m, k->chunk));
	CgLlvmLoop c;
	cg_llvm_loop_begin(m, &c, cg_llvm_i64c(m, 0), nchunks, false);
	CgLlvmValue r0 = cg_llvm_iadd(m, lo, cg_llvm_imul(m, c.iv, cg_llvm_i64c(m, k->chunk)));
	CgLlvmValue r1 = cg_llvm_imin(m, hi, cg_llvm_iadd(m, r0, cg_llvm_i64c(m, k->chunk)));
	char name[64];
	for (int i = 0; i < k->nmembers; i++) {
		int id = k->members[i];
		snprintf(name, sizeof name, "%s.rows%d", kernel, id);
		cg_llvm_nest_call(p, name, id, CG_LLVM_ROWS, bufs, r0, r1, id == k->reducer ? part : NULL);
	}
	cg_llvm_loop_end(m, &c);
}

/* The row reducer r's partial block of this task, all[nnodes +
 * parts[self][0]] (kplan_task_partial), zeroed. */
static CgLlvmValue cg_llvm_reducer_part(CgLlvmProg *p, CgLlvmValue all, CgLlvmValue task, int r)
{
	CgLlvm *m = p->m;
	const TraNode *n = &p->g->nodes[r];
	CgLlvmType i32p = cg_llvm_ptr(m, cg_llvm_int(m, 32));
	CgLlvmValue parts = cg_llvm_load_ptr(m, i32p, cg_llvm_table_at(m, p->parts, i32p, cg_llvm_task_number(p, task)));
	CgLlvmValue part = cg_llvm_listed_part(p, all, parts, cg_llvm_i64c(m, 0), n->type);
	CgLlvmLoop z;
	cg_llvm_loop_begin(m, &z, cg_llvm_i64c(m, 0), cg_llvm_i64c(m, tra_node_elements(n)), true);
	cg_llvm_store(m, n->type, part, z.iv, cg_llvm_const(m, n->type, 0.0));
	cg_llvm_loop_end(m, &z);
	return part;
}

/* The task's rows [lo, hi): its range of the first index, or, over
 * several (Kplan.row_rank), one range of rows numbered in C order
 * (ia_task_rows; cg_c_block_rows). */
static void cg_llvm_task_rows(CgLlvmProg *p, const Kplan *k, CgLlvmValue task, CgLlvmValue *lo, CgLlvmValue *hi)
{
	CgLlvm *m = p->m;
	CgLlvmValue blo[TRA_MAX_RANK], bhi[TRA_MAX_RANK];
	cg_llvm_task_block(m, task, k->row_rank, blo, bhi);
	if (k->row_rank == 1) {
		*lo = blo[0];
		*hi = bhi[0];
		return;
	}
	const TraNode *l = &p->g->nodes[k->node];
	CgLlvmValue first = cg_llvm_i64c(m, 0), count = cg_llvm_i64c(m, 1);
	for (int d = 0; d < k->row_rank; d++) {
		first = cg_llvm_iadd(m, first, cg_llvm_imul(m, blo[d], cg_llvm_i64c(m, ia_row_stride(l, k->row_rank, d))));
		count = cg_llvm_imul(m, count, cg_llvm_isub(m, bhi[d], blo[d]));
	}
	*lo = first;
	*hi = cg_llvm_iadd(m, first, count);
}

/* r<lead>(bufs, task): the task's rows of every member (cg_c_block_rows). */
static void cg_llvm_block_rows(CgLlvmProg *p, const Kplan *k)
{
	CgLlvm *m = p->m;
	char name[48];
	snprintf(name, sizeof name, "r%d", k->node);
	for (int i = 0; i < k->nmembers; i++)
		if (k->members[i] == k->reducer)
			cg_llvm_row_reduce(p, name, k->members[i], k->jam);
		else
			cg_llvm_row(p, name, k->members[i], k->reducer >= 0, k->row_rank);
	cg_llvm_block_fn(p, name);
	CgLlvmValue task = cg_llvm_param(m, 1);
	CgLlvmValue bufs = cg_llvm_task_bufs(p, cg_llvm_param(m, 0), task);
	CgLlvmValue lo, hi;
	cg_llvm_task_rows(p, k, task, &lo, &hi);
	CgLlvmValue part = k->reducer >= 0 ? cg_llvm_reducer_part(p, cg_llvm_param(m, 0), task, k->reducer) : NULL;
	cg_llvm_group_chunks(p, k, name, bufs, lo, hi, part);
	cg_llvm_return(m);
}

/* k<lead>(bufs): the group's rows split across threads by
 * trart_parallel_for, whose body k<lead>.body(lo, hi, ctx) runs them
 * chunk by chunk (cg_c_group_kernel). */
static void cg_llvm_group_kernel(CgLlvmProg *p, const Kplan *k)
{
	CgLlvm *m = p->m;
	char name[48], body[64];
	snprintf(name, sizeof name, "k%d", k->node);
	snprintf(body, sizeof body, "k%d.body", k->node);
	for (int i = 0; i < k->nmembers; i++)
		cg_llvm_row(p, name, k->members[i], false, 1);
	CgLlvmType i64 = cg_llvm_i64(m), i8p = cg_llvm_i8p(m), i8pp = cg_llvm_ptr(m, i8p);
	CgLlvmType bparams[3] = {i64, i64, i8p};
	CgLlvmValue fn = cg_llvm_function(m, body, bparams, 3);
	cg_llvm_internal(fn);
	CgLlvmValue ctx = cg_llvm_bitcast(m, cg_llvm_param(m, 2), cg_llvm_ptr(m, i8pp)); /* bufs comes first */
	cg_llvm_group_chunks(p, k, name, cg_llvm_load_ptr(m, i8pp, ctx), cg_llvm_param(m, 0), cg_llvm_param(m, 1),
	                     NULL);
	cg_llvm_return(m);

	cg_llvm_internal(cg_llvm_function(m, name, &i8pp, 1));
	CgLlvmValue whole = cg_llvm_ctx(m, cg_llvm_param(m, 0), NULL, cg_llvm_i64c(m, 0));
	cg_llvm_parallel_for(m, cg_llvm_i64c(m, p->g->nodes[k->node].idx[0].size), fn, whole);
	cg_llvm_return(m);
}

/* ---- scatter-adds (KPLAN_SCATTER) --------------------------------------------------- */

/* Zeros the output elements within the bounds: a block's (the whole
 * node), or a thread's range of the split index; unbinds the indices. */
static void cg_llvm_scatter_zero(CgLlvmNestK *K)
{
	CgLlvm *m = K->m;
	const TraNode *n = K->n;
	CgLlvmLoop loops[TRA_MAX_RANK];
	for (int d = 0; d < n->rank; d++)
		cg_llvm_index_loop(K, &loops[d], d, cg_llvm_bound_lo(K, d), cg_llvm_bound_hi(K, d), d == n->rank - 1);
	cg_llvm_store(m, K->t, K->out, cg_llvm_out_offset(K), cg_llvm_const(m, K->t, 0.0));
	for (int d = n->rank - 1; d >= 0; d--) {
		cg_llvm_loop_end(m, &loops[d]);
		K->env.x[d] = NULL; /* the zeroing's, not the nest's: unbound */
	}
}

/* The scattered positions the plan loads once level loops are open
 * (KplanNest.scatter_at), into pos: each its index operand's value, as
 * an i64 (as in cg_llvm_gather_position). Returns whether they all lie
 * in their dimensions (an i1; one unsigned compare each, so that a
 * negative position is outside too), or NULL if there are none. */
static CgLlvmValue cg_llvm_scatter_positions(CgLlvmNestK *K, CgLlvmValue *pos, int level)
{
	CgLlvm *m = K->m;
	const TraNode *n = K->n;
	CgLlvmValue inside = NULL;
	for (int d = 0; d < n->rank; d++) {
		int k = n->scatter[d];
		if (K->L->scatter_at[d] != level)
			continue;
		const TraNode *ix = &K->p->g->nodes[n->ops[k].node];
		pos[d] = cg_llvm_load(m, ix->type, K->in[k], cg_llvm_offset(K->p, &K->env, k));
		if (ix->type == TRART_I32)
			pos[d] = cg_llvm_sext(m, pos[d], cg_llvm_i64(m));
		CgLlvmValue in = cg_llvm_icmp_below(m, pos[d], n->idx[d].size);
		inside = inside ? cg_llvm_iand(m, inside, in) : in;
	}
	return inside;
}

/* The positions loaded at level (cg_llvm_scatter_positions), and an if
 * around what follows, skipping it where one is outside: returns the
 * block after the if, or NULL (nothing to check there). */
static CgLlvmBlock cg_llvm_scatter_guard(CgLlvmNestK *K, CgLlvmValue *pos, int level)
{
	CgLlvmValue inside = cg_llvm_scatter_positions(K, pos, level);
	return inside ? cg_llvm_if_begin(K->m, inside) : NULL;
}

/* out[pos] += join, at the bound loops and the scattered positions pos. */
static void cg_llvm_scatter_add(CgLlvmNestK *K, const CgLlvmValue *pos)
{
	CgLlvm *m = K->m;
	const TraNode *n = K->n;
	CgLlvmValue at[TRA_MAX_RANK];
	for (int d = 0; d < n->rank; d++)
		at[d] = n->scatter[d] >= 0 ? pos[d] : K->env.x[d];
	CgLlvmValue off = cg_llvm_element_offset(m, n, NULL, at);
	CgLlvmValue v = cg_llvm_expr(K->p, &K->env, n->join);
	cg_llvm_store(m, K->t, K->out, off, cg_llvm_arith(m, TRA_OP_ADD, cg_llvm_load(m, K->t, K->out, off), v));
}

/* A scatter's function body: zeros, then the nest (kplan_scatter_nest)
 * over the bounds, each position loaded and checked where the plan says
 * (scatter_at): after[i] ends the if opened inside the first i loops,
 * or is NULL. */
static void cg_llvm_scatter_body(CgLlvmNestK *K)
{
	CgLlvm *m = K->m;
	const KplanNest *L = K->L;
	CgLlvmValue pos[TRA_MAX_RANK] = {0};
	CgLlvmLoop loops[TRA_MAX_STMT_INDICES];
	CgLlvmBlock after[TRA_MAX_STMT_INDICES + 1];
	cg_llvm_scatter_zero(K);
	after[0] = cg_llvm_scatter_guard(K, pos, 0);
	for (int i = 0; i < L->norder; i++) {
		int x = L->order[i];
		cg_llvm_index_loop(K, &loops[i], x, cg_llvm_bound_lo(K, x), cg_llvm_bound_hi(K, x), x == L->vector);
		after[i + 1] = cg_llvm_scatter_guard(K, pos, i + 1);
	}
	cg_llvm_scatter_add(K, pos);
	for (int i = L->norder; i >= 0; i--) {
		if (after[i])
			cg_llvm_if_end(m, after[i]);
		if (i > 0)
			cg_llvm_loop_end(m, &loops[i - 1]);
	}
	cg_llvm_return(m);
}

/* b<id>(bufs, task): the task's block, which decomp makes the whole node
 * (two blocks could add to one element), through b<id>.scatter, whose
 * buffers are noalias. */
static void cg_llvm_block_scatter(CgLlvmProg *p, const Kplan *k)
{
	char inner[64];
	snprintf(inner, sizeof inner, "b%d.scatter", k->node);
	CgLlvmNestK *K = cg_llvm_nest_fn(p, inner, k->node, &k->nest, CG_LLVM_BLOCK, false);
	cg_llvm_scatter_body(K);
	free(K);
	cg_llvm_block_entry(p, k, inner);
}

/* k<id>(bufs) of a scatter with a split loop: trart_parallel_for over
 * that index, whose body k<id>.body(lo, hi, ctx) calls inner (a
 * CG_LLVM_ROWS nest) on [lo, hi). Each thread zeros and adds to only
 * the elements whose split index is in its range, which no other
 * thread writes. */
static void cg_llvm_scatter_split(CgLlvmProg *p, const Kplan *k, const char *inner)
{
	CgLlvm *m = p->m;
	char name[48], body[64];
	snprintf(name, sizeof name, "k%d", k->node);
	snprintf(body, sizeof body, "k%d.body", k->node);
	CgLlvmType i64 = cg_llvm_i64(m), i8p = cg_llvm_i8p(m), i8pp = cg_llvm_ptr(m, i8p);
	CgLlvmType bparams[3] = {i64, i64, i8p};
	CgLlvmValue fn = cg_llvm_function(m, body, bparams, 3);
	cg_llvm_internal(fn);
	CgLlvmValue ctx = cg_llvm_bitcast(m, cg_llvm_param(m, 2), cg_llvm_ptr(m, i8pp)); /* bufs comes first */
	cg_llvm_nest_call(p, inner, k->node, CG_LLVM_ROWS, cg_llvm_load_ptr(m, i8pp, ctx), cg_llvm_param(m, 0),
	                  cg_llvm_param(m, 1), NULL);
	cg_llvm_return(m);

	cg_llvm_internal(cg_llvm_function(m, name, &i8pp, 1));
	CgLlvmValue whole = cg_llvm_ctx(m, cg_llvm_param(m, 0), NULL, cg_llvm_i64c(m, 0));
	cg_llvm_parallel_for(m, cg_llvm_i64c(m, p->g->nodes[k->node].idx[k->nest.split].size), fn, whole);
	cg_llvm_return(m);
}

/* k<id>(bufs) of a scatter: k<id>.scatter, whose buffers are noalias,
 * split across threads (cg_llvm_scatter_split), or on the calling
 * thread where every output index is scattered (no split loop). */
static void cg_llvm_scatter_kernel(CgLlvmProg *p, const Kplan *k)
{
	CgLlvm *m = p->m;
	int split = k->nest.split;
	char name[48], inner[64];
	snprintf(name, sizeof name, "k%d", k->node);
	snprintf(inner, sizeof inner, "k%d.scatter", k->node);
	CgLlvmBounds bounds = split >= 0 ? CG_LLVM_ROWS : CG_LLVM_WHOLE;
	CgLlvmNestK *K = cg_llvm_nest_fn(p, inner, k->node, &k->nest, bounds, false);
	if (split >= 0) {
		K->blo[split] = cg_llvm_param(m, 0);
		K->bhi[split] = cg_llvm_param(m, 1);
	}
	cg_llvm_scatter_body(K);
	free(K);
	if (split >= 0) {
		cg_llvm_scatter_split(p, k, inner);
		return;
	}
	CgLlvmType i8pp = cg_llvm_ptr(m, cg_llvm_i8p(m));
	cg_llvm_internal(cg_llvm_function(m, name, &i8pp, 1));
	cg_llvm_nest_call(p, inner, k->node, CG_LLVM_WHOLE, cg_llvm_param(m, 0), NULL, NULL, NULL);
	cg_llvm_return(m);
}

/* ---- whole-node kernels of scalars, the no-op, the dispatch --------------------------- */

/* k<id>(bufs) of a scalar: its one element, through k<id>.body, whose
 * buffers are noalias (cg_c_loop_kernel of rank 0). */
static void cg_llvm_scalar_kernel(CgLlvmProg *p, const Kplan *k)
{
	CgLlvm *m = p->m;
	char name[48], inner[64];
	snprintf(name, sizeof name, "k%d", k->node);
	snprintf(inner, sizeof inner, "k%d.body", k->node);
	CgLlvmNestK *K = cg_llvm_nest_fn(p, inner, k->node, &k->nest, CG_LLVM_WHOLE, false);
	cg_llvm_element(K);
	cg_llvm_return(m);
	free(K);
	CgLlvmType i8pp = cg_llvm_ptr(m, cg_llvm_i8p(m));
	cg_llvm_internal(cg_llvm_function(m, name, &i8pp, 1));
	cg_llvm_nest_call(p, inner, k->node, CG_LLVM_WHOLE, cg_llvm_param(m, 0), NULL, NULL, NULL);
	cg_llvm_return(m);
}

/* trac_nop(bufs, task), once: input leaves and repartitions order tasks
 * and move nothing. */
static void cg_llvm_nop(CgLlvmProg *p)
{
	if (cg_llvm_named_function(p->m, "trac_nop"))
		return;
	cg_llvm_block_fn(p, "trac_nop");
	cg_llvm_return(p->m);
}

void cg_llvm_loops_kernel(CgLlvmProg *p, const Kplan *k)
{
	bool blocks = p->opt && p->opt->ia;
	switch (k->kind) {
	case KPLAN_NOP: cg_llvm_nop(p); return;
	case KPLAN_AGG: cg_llvm_block_agg(p, k); return;
	case KPLAN_ROWS:
		if (blocks)
			cg_llvm_block_rows(p, k);
		else
			cg_llvm_group_kernel(p, k);
		return;
	case KPLAN_LOOPS:
		if (blocks && k->block)
			cg_llvm_block_join(p, k);
		else if (!blocks && p->g->nodes[k->node].rank == 0)
			cg_llvm_scalar_kernel(p, k);
		/* else a member of a row group: its group's kernel runs it */
		return;
	case KPLAN_SCATTER:
		if (blocks)
			cg_llvm_block_scatter(p, k);
		else
			cg_llvm_scatter_kernel(p, k);
		return;
	case KPLAN_BLAS: break;
	}
	TRAC_BUG("cg_llvm_loops_kernel of a %s plan", kplan_kind_name(k->kind));
}
