/* codegen/llvm.c: the LLVM back end's foundation, through LLVM 14's C API.
 * needs: LLVM 14 (configure's HAVE_LLVM); the only file that includes
 * llvm-c headers. gives: codegen/llvm.h's modules for the host, the helpers
 * that build kernels as IR, O3, IR dumps and object files.
 *
 * The target. LLVMGetDefaultTargetTriple, LLVMGetHostCPUName and
 * LLVMGetHostCPUFeatures describe the host; the target machine (O3,
 * position-independent, so objects also go into shared libraries) gets
 * all three. LLVM 14 names CPUs it does not know "generic": the feature
 * string is what enables AVX2 or AVX-512, and with it the vector width
 * the loop vectoriser picks. Except that LLVM's tuning for Intel's
 * AVX-512 CPUs prefers 256-bit vectors (older ones slowed their clock
 * for 512-bit work), so on a host with AVX-512 every function asks for
 * 512 ("prefer-vector-width"), as gcc's -march=native did there: on an
 * Emerald Rapids Xeon (which LLVM 14 calls icelake-client), W4's log-sum-
 * exp took 30-38 ms against 39-46 with 256-bit vectors and a 2048x2048
 * tanh 1.6-2.5 ms against 2.6-3.4 (3 runs each, 2 threads); W5 and a
 * column sum, bound by memory, kept their times.
 *
 * Loops are built in rotated form, as the vectoriser wants them: a guard
 * that skips an empty loop, one body whose phis carry the induction
 * variable and any accumulators, and a latch branch back to the body.
 * Floating-point reductions vectorise only if their additions may be
 * reordered. LLVM 14's C API cannot set fast-math flags on instructions,
 * and the function attributes "unsafe-fp-math" and the like do not make
 * the vectoriser reorder a reduction (it reads the flags of the adds).
 * What works is the loop hint llvm.loop.vectorize.enable: a loop that
 * asks for vectorisation allows reordering (LoopVectorizeHints::
 * allowReordering). So kernels tag their innermost loops, and the
 * language's rule that reductions may be reassociated (tra(5)) is kept
 * per loop, not per function; the vector accumulator's lanes are then
 * added as halves, not in order (cg_llvm_tree_reductions, after O3).
 * Nothing else is reassociated: kernel
 * functions carry "no-signed-zeros-fp-math" and "no-trapping-math",
 * as the C back end's -fno-signed-zeros -fno-trapping-math.
 *
 * Stack arrays (a column sum's tile and its pairwise levels, the
 * blocked sums' levels, lists of partial blocks) are aligned to
 * CG_LLVM_ARRAY_ALIGN, 64 bytes: a cache line and one AVX-512 vector.
 * LLVM gives an alloca its element's alignment, 4 for floats, and then
 * every <16 x float> load and store of a tile straddles two cache lines:
 * the 8192x1024 column sum, whose inner loop loads and stores the tile
 * once per row, took 1.04-1.15 ms on one thread with 4-byte tiles and
 * 0.75 ms with 64-byte ones (the C back end's, whose compiler aligns
 * large stack arrays itself: 0.70-0.75 ms).
 *
 * Kernel math. exp, log, tanh, sigmoid, sin, cos, erf, exp2, log2, expm1,
 * log1p, rsqrt and sign are trart.h's branch-free
 * TRART_KERNEL_MATH functions built as IR, operation for operation (the
 * same constants, rounded to float by the C compiler as there, the same
 * order, fma through llvm.fma), as internal always-inlined functions
 * trac.exp.f32 and so on, made the first time a kernel calls them. Both
 * back ends therefore compute the same values.
 */
#include "llvm.h"

#include <llvm-c/Analysis.h>
#include <llvm-c/Error.h>
#include <llvm-c/Core.h>
#include <llvm-c/DebugInfo.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CG_LLVM_ARRAY_ALIGN 64 /* bytes: stack arrays (see the opening comment) */

struct CgLlvm {
	LLVMContextRef ctx;
	LLVMModuleRef mod;
	LLVMBuilderRef b;
	LLVMTargetMachineRef tm;
	char *triple, *cpu, *features; /* LLVM's strings (LLVMDisposeMessage) */
	bool wide512; /* the host has AVX-512: kernels prefer 512-bit vectors */
	LLVMValueRef fn;               /* the function being built */
	LLVMValueRef math[TRA_OP_COUNT][2]; /* kernel math made so far, by op and type */
	unsigned loop_md;              /* the "llvm.loop" metadata kind */
	int nwarnings;                 /* LLVM's warnings and errors so far ... */
	char *first_warning;           /* ... and the first one's text (malloc'ed) */
};

/* ---- the target -------------------------------------------------------- */

/* Copies an LLVM message into err and disposes of it. */
static void cg_llvm_error(char *err, size_t errlen, const char *what, char *msg)
{
	snprintf(err, errlen, "%s%s%s", what, msg ? ": " : "", msg ? msg : "");
	if (msg)
		LLVMDisposeMessage(msg);
}

/* The host's target machine at O3, or NULL with a message. */
static bool cg_llvm_target(CgLlvm *m, char *err, size_t errlen)
{
	if (LLVMInitializeNativeTarget() || LLVMInitializeNativeAsmPrinter()) {
		snprintf(err, errlen, "LLVM has no back end for this host");
		return false;
	}
	m->triple = LLVMGetDefaultTargetTriple();
	m->cpu = LLVMGetHostCPUName();
	m->features = LLVMGetHostCPUFeatures();
	m->wide512 = strstr(m->features, "+avx512f") != NULL;
	LLVMTargetRef target;
	char *msg = NULL;
	if (LLVMGetTargetFromTriple(m->triple, &target, &msg)) {
		cg_llvm_error(err, errlen, "no LLVM target for the host", msg);
		return false;
	}
	m->tm = LLVMCreateTargetMachine(target, m->triple, m->cpu, m->features,
	                                LLVMCodeGenLevelAggressive, LLVMRelocPIC, LLVMCodeModelDefault);
	if (!m->tm) {
		snprintf(err, errlen, "LLVM made no target machine for %s", m->triple);
		return false;
	}
	return true;
}

/* LLVM's diagnostics, which it would print on stderr: remarks (why a
 * loop was not vectorised, without a tag asking for it) are dropped,
 * warnings and errors (a tagged loop that stayed scalar) counted and the
 * first one kept, for cg_llvm_warnings. */
static void cg_llvm_diagnostic(LLVMDiagnosticInfoRef d, void *arg)
{
	CgLlvm *m = arg;
	LLVMDiagnosticSeverity s = LLVMGetDiagInfoSeverity(d);
	if (s != LLVMDSError && s != LLVMDSWarning)
		return;
	if (m->nwarnings++ == 0) {
		char *text = LLVMGetDiagInfoDescription(d);
		m->first_warning = strdup(text);
		LLVMDisposeMessage(text);
	}
}

CgLlvm *cg_llvm_new(const char *name, char *err, size_t errlen)
{
	CgLlvm *m = calloc(1, sizeof *m);
	if (!m) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (!cg_llvm_target(m, err, errlen)) {
		cg_llvm_free(m);
		return NULL;
	}
	m->ctx = LLVMContextCreate();
	LLVMContextSetDiagnosticHandler(m->ctx, cg_llvm_diagnostic, m);
	m->mod = LLVMModuleCreateWithNameInContext(name, m->ctx);
	m->b = LLVMCreateBuilderInContext(m->ctx);
	LLVMSetTarget(m->mod, m->triple);
	LLVMTargetDataRef layout = LLVMCreateTargetDataLayout(m->tm);
	LLVMSetModuleDataLayout(m->mod, layout);
	LLVMDisposeTargetData(layout);
	m->loop_md = LLVMGetMDKindIDInContext(m->ctx, "llvm.loop", 9);
	return m;
}

void cg_llvm_free(CgLlvm *m)
{
	if (!m)
		return;
	if (m->b)
		LLVMDisposeBuilder(m->b);
	if (m->mod)
		LLVMDisposeModule(m->mod);
	if (m->ctx)
		LLVMContextDispose(m->ctx);
	if (m->tm)
		LLVMDisposeTargetMachine(m->tm);
	LLVMDisposeMessage(m->triple);
	LLVMDisposeMessage(m->cpu);
	LLVMDisposeMessage(m->features);
	free(m->first_warning);
	free(m);
}

const char *cg_llvm_triple(const CgLlvm *m) { return m->triple; }
const char *cg_llvm_cpu(const CgLlvm *m) { return m->cpu; }
const char *cg_llvm_features(const CgLlvm *m) { return m->features; }

/* Whether the host's feature string ("+avx2,+fma,-avx512f,...") has
 * +name. */
static bool cg_llvm_has_feature(const CgLlvm *m, const char *name)
{
	size_t len = strlen(name);
	for (const char *f = m->features; (f = strstr(f, name)) != NULL; f += len)
		if (f > m->features && f[-1] == '+' && (f[len] == ',' || f[len] == '\0'))
			return true;
	return false;
}

int cg_llvm_vector_bytes(const CgLlvm *m)
{
	return m->wide512 ? 64 : cg_llvm_has_feature(m, "avx") ? 32 : 16;
}

int cg_llvm_warnings(const CgLlvm *m, const char **first)
{
	if (first)
		*first = m->first_warning;
	return m->nwarnings;
}

/* ---- types, functions, values -------------------------------------------- */

CgLlvmType cg_llvm_type(CgLlvm *m, TrartDtype t)
{
	switch (t) {
	case TRART_F32: return LLVMFloatTypeInContext(m->ctx);
	case TRART_F64: return LLVMDoubleTypeInContext(m->ctx);
	case TRART_I32: return LLVMInt32TypeInContext(m->ctx);
	case TRART_I64: return LLVMInt64TypeInContext(m->ctx);
	}
	TRAC_BUG("no LLVM type for dtype %d", t);
}

/* Whether v is an integer (or a vector of them): the arithmetic below
 * serves both kinds of element type (tra(5), TYPES, for integers). */
static bool cg_llvm_is_int(LLVMValueRef v)
{
	LLVMTypeRef ty = LLVMTypeOf(v);
	if (LLVMGetTypeKind(ty) == LLVMVectorTypeKind)
		ty = LLVMGetElementType(ty);
	return LLVMGetTypeKind(ty) == LLVMIntegerTypeKind;
}

CgLlvmType cg_llvm_i64(CgLlvm *m)
{
	return LLVMInt64TypeInContext(m->ctx);
}

CgLlvmType cg_llvm_ptr(CgLlvm *m, CgLlvmType elem)
{
	return LLVMPointerType(elem, 0);
}

/* Adds the string attribute key=value to function fn. */
static void cg_llvm_fn_attr(CgLlvm *m, LLVMValueRef fn, const char *key, const char *value)
{
	LLVMAttributeRef a = LLVMCreateStringAttribute(m->ctx, key, (unsigned)strlen(key),
	                                               value, (unsigned)strlen(value));
	LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, a);
}

/* Adds the enum attribute name (nounwind, noalias, ...) at index i. */
static void cg_llvm_enum_attr(CgLlvm *m, LLVMValueRef fn, LLVMAttributeIndex i, const char *name)
{
	unsigned kind = LLVMGetEnumAttributeKindForName(name, strlen(name));
	LLVMAddAttributeAtIndex(fn, i, LLVMCreateEnumAttribute(m->ctx, kind, 0));
}

/* A function of type ty with the attributes every function here has;
 * the builder goes to the end of its new entry block. */
static LLVMValueRef cg_llvm_define(CgLlvm *m, const char *name, LLVMTypeRef ty)
{
	LLVMValueRef fn = LLVMAddFunction(m->mod, name, ty);
	cg_llvm_enum_attr(m, fn, LLVMAttributeFunctionIndex, "nounwind");
	cg_llvm_fn_attr(m, fn, "no-signed-zeros-fp-math", "true");
	cg_llvm_fn_attr(m, fn, "no-trapping-math", "true");
	if (m->wide512)
		cg_llvm_fn_attr(m, fn, "prefer-vector-width", "512");
	LLVMPositionBuilderAtEnd(m->b, LLVMAppendBasicBlockInContext(m->ctx, fn, "entry"));
	return fn;
}

CgLlvmValue cg_llvm_function(CgLlvm *m, const char *name, const CgLlvmType *params, int nparams)
{
	LLVMTypeRef ty = LLVMFunctionType(LLVMVoidTypeInContext(m->ctx), (LLVMTypeRef *)params,
	                                  (unsigned)nparams, 0);
	m->fn = cg_llvm_define(m, name, ty);
	return m->fn;
}

CgLlvmValue cg_llvm_param(CgLlvm *m, int i)
{
	return LLVMGetParam(m->fn, (unsigned)i);
}

void cg_llvm_param_noalias(CgLlvm *m, int i)
{
	cg_llvm_enum_attr(m, m->fn, (LLVMAttributeIndex)i + 1, "noalias");
}

void cg_llvm_return(CgLlvm *m)
{
	LLVMBuildRetVoid(m->b);
	m->fn = NULL;
}

CgLlvmValue cg_llvm_const(CgLlvm *m, TrartDtype t, double v)
{
	if (TRART_IS_INT(t)) /* integral; 2^63 stands for the i64 maximum (tra_agg_identity) */
		return LLVMConstInt(cg_llvm_type(m, t), (unsigned long long)(v >= 0x1p63 ? INT64_MAX :
		                                                                  (int64_t)v), 1);
	return LLVMConstReal(cg_llvm_type(m, t), v);
}

CgLlvmValue cg_llvm_const_i64(CgLlvm *m, int64_t v)
{
	return LLVMConstInt(cg_llvm_i64(m), (unsigned long long)v, 1);
}

CgLlvmValue cg_llvm_iadd(CgLlvm *m, CgLlvmValue a, CgLlvmValue b)
{
	return LLVMBuildNSWAdd(m->b, a, b, "");
}

CgLlvmValue cg_llvm_imul(CgLlvm *m, CgLlvmValue a, CgLlvmValue b)
{
	return LLVMBuildNSWMul(m->b, a, b, "");
}

/* Integer floor division, as trac_div_T: by 0 gives 0, by -1 wraps. */
static LLVMValueRef cg_llvm_floor_div(CgLlvm *m, LLVMValueRef a, LLVMValueRef b)
{
	LLVMTypeRef ty = LLVMTypeOf(a);
	LLVMValueRef zero = LLVMConstNull(ty), one = LLVMConstInt(ty, 1, 1), mone = LLVMConstAllOnes(ty);
	LLVMValueRef by0 = LLVMBuildICmp(m->b, LLVMIntEQ, b, zero, "");
	LLVMValueRef bym1 = LLVMBuildICmp(m->b, LLVMIntEQ, b, mone, "");
	LLVMValueRef safe = LLVMBuildSelect(m->b, LLVMBuildOr(m->b, by0, bym1, ""), one, b, "");
	LLVMValueRef q = LLVMBuildSDiv(m->b, a, safe, ""), r = LLVMBuildSRem(m->b, a, safe, "");
	LLVMValueRef inexact = LLVMBuildICmp(m->b, LLVMIntNE, r, zero, "");
	LLVMValueRef neg = LLVMBuildICmp(m->b, LLVMIntSLT, LLVMBuildXor(m->b, a, b, ""), zero, "");
	LLVMValueRef down = LLVMBuildZExt(m->b, LLVMBuildAnd(m->b, inexact, neg, ""), ty, "");
	q = LLVMBuildSub(m->b, q, down, "");
	q = LLVMBuildSelect(m->b, bym1, LLVMBuildSub(m->b, zero, a, ""), q, "");
	return LLVMBuildSelect(m->b, by0, zero, q, "");
}

CgLlvmValue cg_llvm_arith(CgLlvm *m, TraOp op, CgLlvmValue a, CgLlvmValue b)
{
	if (cg_llvm_is_int(a))
		switch (op) { /* wrapping: no nsw */
		case TRA_OP_ADD: return LLVMBuildAdd(m->b, a, b, "");
		case TRA_OP_SUB: return LLVMBuildSub(m->b, a, b, "");
		case TRA_OP_MUL: return LLVMBuildMul(m->b, a, b, "");
		case TRA_OP_DIV: return cg_llvm_floor_div(m, a, b);
		default: break;
		}
	switch (op) {
	case TRA_OP_ADD: return LLVMBuildFAdd(m->b, a, b, "");
	case TRA_OP_SUB: return LLVMBuildFSub(m->b, a, b, "");
	case TRA_OP_MUL: return LLVMBuildFMul(m->b, a, b, "");
	case TRA_OP_DIV: return LLVMBuildFDiv(m->b, a, b, "");
	default: break;
	}
	TRAC_BUG("cg_llvm_arith of %s", tra_op_name[op]);
}

/* &base[index], in bounds. */
static LLVMValueRef cg_llvm_elem(CgLlvm *m, TrartDtype t, LLVMValueRef base, LLVMValueRef index)
{
	return LLVMBuildInBoundsGEP2(m->b, cg_llvm_type(m, t), base, &index, 1, "");
}

CgLlvmValue cg_llvm_load(CgLlvm *m, TrartDtype t, CgLlvmValue base, CgLlvmValue index)
{
	LLVMValueRef v = LLVMBuildLoad2(m->b, cg_llvm_type(m, t), cg_llvm_elem(m, t, base, index), "");
	LLVMSetAlignment(v, (unsigned)trart_dtype_size(t));
	return v;
}

void cg_llvm_store(CgLlvm *m, TrartDtype t, CgLlvmValue base, CgLlvmValue index, CgLlvmValue v)
{
	LLVMValueRef s = LLVMBuildStore(m->b, v, cg_llvm_elem(m, t, base, index));
	LLVMSetAlignment(s, (unsigned)trart_dtype_size(t));
}

/* ---- counted loops --------------------------------------------------------- */

/* The loop ID of l: !{self, !{"llvm.loop.vectorize.enable", i1 true}}
 * if it vectorises, with !{"llvm.loop.vectorize.width", i32 w} if it
 * asks for a width (1 if scalar), !{"llvm.loop.vectorize.predicate.
 * enable", i1 true} if predicated, !{"llvm.loop.interleave.count", i32
 * c} if it asks for c vectors a pass, and !{"llvm.loop.unroll.disable"}
 * if no_unroll or unroll_vectorised; with the latter,
 * !{"llvm.loop.vectorize.followup_all", !{"llvm.loop.isvectorized", i32
 * 1}} gives the loops vectorisation makes (the vector loop and its
 * remainder) attributes without it, so LLVM's unrolling, off before
 * the vectoriser, is back after it. The self-reference goes through a
 * temporary node; replacing it makes the node distinct, as a loop ID
 * must be. */
static LLVMValueRef cg_llvm_loop_md(CgLlvm *m, const CgLlvmLoop *l)
{
	LLVMTypeRef i1 = LLVMInt1TypeInContext(m->ctx), i32 = LLVMInt32TypeInContext(m->ctx);
	LLVMMetadataRef hint[2] = {
		LLVMMDStringInContext2(m->ctx, "llvm.loop.vectorize.enable", 26),
		LLVMValueAsMetadata(LLVMConstInt(i1, 1, 0)),
	};
	LLVMMetadataRef width[2] = {
		LLVMMDStringInContext2(m->ctx, "llvm.loop.vectorize.width", 25),
		LLVMValueAsMetadata(LLVMConstInt(i32, l->scalar ? 1 : (unsigned long long)l->width, 0)),
	};
	LLVMMetadataRef pred[2] = {
		LLVMMDStringInContext2(m->ctx, "llvm.loop.vectorize.predicate.enable", 36),
		LLVMValueAsMetadata(LLVMConstInt(i1, 1, 0)),
	};
	LLVMMetadataRef interleave[2] = {
		LLVMMDStringInContext2(m->ctx, "llvm.loop.interleave.count", 26),
		LLVMValueAsMetadata(LLVMConstInt(i32, (unsigned long long)l->interleave, 0)),
	};
	LLVMMetadataRef off = LLVMMDStringInContext2(m->ctx, "llvm.loop.unroll.disable", 24);
	LLVMMetadataRef done[2] = {
		LLVMMDStringInContext2(m->ctx, "llvm.loop.isvectorized", 22),
		LLVMValueAsMetadata(LLVMConstInt(i32, 1, 0)),
	};
	LLVMMetadataRef followup[2] = {
		LLVMMDStringInContext2(m->ctx, "llvm.loop.vectorize.followup_all", 32),
		LLVMMDNodeInContext2(m->ctx, done, 2),
	};
	LLVMMetadataRef ops[7] = {LLVMTemporaryMDNode(m->ctx, NULL, 0)};
	int n = 1;
	if (l->vectorize)
		ops[n++] = LLVMMDNodeInContext2(m->ctx, hint, 2);
	if (l->scalar || l->width > 0)
		ops[n++] = LLVMMDNodeInContext2(m->ctx, width, 2);
	if (l->predicate)
		ops[n++] = LLVMMDNodeInContext2(m->ctx, pred, 2);
	if (l->interleave > 0)
		ops[n++] = LLVMMDNodeInContext2(m->ctx, interleave, 2);
	if (l->no_unroll || l->unroll_vectorised)
		ops[n++] = LLVMMDNodeInContext2(m->ctx, &off, 1);
	if (l->unroll_vectorised && !l->no_unroll)
		ops[n++] = LLVMMDNodeInContext2(m->ctx, followup, 2);
	LLVMMetadataRef id = LLVMMDNodeInContext2(m->ctx, ops, (size_t)n);
	LLVMMetadataReplaceAllUsesWith(ops[0], id);
	return LLVMMetadataAsValue(m->ctx, id);
}

void cg_llvm_loop_begin(CgLlvm *m, CgLlvmLoop *l, CgLlvmValue lo, CgLlvmValue hi, bool vectorize)
{
	memset(l, 0, sizeof *l);
	l->lo = lo;
	l->hi = hi;
	l->vectorize = vectorize;
	/* the guard's branch waits for the exit block, made at the end so
	 * that blocks follow the source order */
	l->guard = LLVMGetInsertBlock(m->b);
	l->body = LLVMAppendBasicBlockInContext(m->ctx, m->fn, "loop");
	LLVMPositionBuilderAtEnd(m->b, l->body);
	l->iv = LLVMBuildPhi(m->b, cg_llvm_i64(m), "i");
}

int cg_llvm_loop_carry(CgLlvm *m, CgLlvmLoop *l, CgLlvmValue init)
{
	if (l->ncarry == CG_LLVM_MAX_CARRY)
		TRAC_BUG("more than %d values carried by a loop", CG_LLVM_MAX_CARRY);
	/* phis lead their block: put it after the induction variable's */
	LLVMBasicBlockRef at = LLVMGetInsertBlock(m->b);
	LLVMValueRef after = LLVMGetNextInstruction(l->iv);
	if (after)
		LLVMPositionBuilderBefore(m->b, after);
	else
		LLVMPositionBuilderAtEnd(m->b, l->body);
	int k = l->ncarry++;
	l->init[k] = init;
	l->cur[k] = LLVMBuildPhi(m->b, LLVMTypeOf(init), "acc");
	l->next[k] = NULL;
	LLVMPositionBuilderAtEnd(m->b, at);
	return k;
}

void cg_llvm_loop_end(CgLlvm *m, CgLlvmLoop *l)
{
	LLVMBasicBlockRef latch = LLVMGetInsertBlock(m->b);
	LLVMBasicBlockRef exit = LLVMAppendBasicBlockInContext(m->ctx, m->fn, "done");
	LLVMValueRef next = cg_llvm_iadd(m, l->iv, cg_llvm_const_i64(m, 1));
	LLVMValueRef more = LLVMBuildICmp(m->b, LLVMIntSLT, next, l->hi, "");
	LLVMValueRef br = LLVMBuildCondBr(m->b, more, l->body, exit);
	if (l->vectorize || l->no_unroll || l->scalar || l->unroll_vectorised)
		LLVMSetMetadata(br, m->loop_md, cg_llvm_loop_md(m, l));
	LLVMPositionBuilderAtEnd(m->b, l->guard);
	LLVMBuildCondBr(m->b, LLVMBuildICmp(m->b, LLVMIntSLT, l->lo, l->hi, ""), l->body, exit);

	LLVMValueRef vals[2] = {l->lo, next};
	LLVMBasicBlockRef from[2] = {l->guard, latch};
	LLVMAddIncoming(l->iv, vals, from, 2);
	LLVMPositionBuilderAtEnd(m->b, exit);
	for (int k = 0; k < l->ncarry; k++) {
		if (!l->next[k])
			TRAC_BUG("carried value %d has no next value", k);
		LLVMValueRef in[2] = {l->init[k], l->next[k]};
		LLVMAddIncoming(l->cur[k], in, from, 2);
		l->out[k] = LLVMBuildPhi(m->b, LLVMTypeOf(l->init[k]), "");
		LLVMAddIncoming(l->out[k], in, from, 2);
	}
}

/* ---- kernel math: trart.h's TRART_KERNEL_MATH as IR ------------------------- */

/* The operations below mirror trart.h line by line; C's `a < b ? c : d`
 * is an ordered compare and a select, `x != x` an unordered one. */

static LLVMValueRef cg_llvm_c32(CgLlvm *m, float v)
{
	return LLVMConstReal(LLVMFloatTypeInContext(m->ctx), v);
}

static LLVMValueRef cg_llvm_c64(CgLlvm *m, double v)
{
	return LLVMConstReal(LLVMDoubleTypeInContext(m->ctx), v);
}

/* A call of the overloaded intrinsic name at type ty. */
static LLVMValueRef cg_llvm_intrinsic(CgLlvm *m, const char *name, LLVMTypeRef ty,
                                      LLVMValueRef *args, unsigned n)
{
	unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
	LLVMValueRef fn = LLVMGetIntrinsicDeclaration(m->mod, id, &ty, 1);
	return LLVMBuildCall2(m->b, LLVMIntrinsicGetType(m->ctx, id, &ty, 1), fn, args, n, "");
}

void cg_llvm_prefetch(CgLlvm *m, CgLlvmValue p)
{
	LLVMTypeRef i8p = LLVMPointerType(LLVMInt8TypeInContext(m->ctx), 0);
	LLVMTypeRef i32 = LLVMInt32TypeInContext(m->ctx);
	/* a read, kept in every cache level (3), of data (1) */
	LLVMValueRef args[4] = {LLVMBuildBitCast(m->b, p, i8p, ""), LLVMConstInt(i32, 0, 0), LLVMConstInt(i32, 3, 0),
	                        LLVMConstInt(i32, 1, 0)};
	cg_llvm_intrinsic(m, "llvm.prefetch", i8p, args, 4);
}

static LLVMValueRef cg_llvm_fma(CgLlvm *m, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c)
{
	LLVMValueRef args[3] = {a, b, c};
	return cg_llvm_intrinsic(m, "llvm.fma", LLVMTypeOf(a), args, 3);
}

static LLVMValueRef cg_llvm_unary(CgLlvm *m, const char *intrinsic, LLVMValueRef x)
{
	return cg_llvm_intrinsic(m, intrinsic, LLVMTypeOf(x), &x, 1);
}

static LLVMValueRef cg_llvm_copysign(CgLlvm *m, LLVMValueRef mag, LLVMValueRef sign)
{
	LLVMValueRef args[2] = {mag, sign};
	return cg_llvm_intrinsic(m, "llvm.copysign", LLVMTypeOf(mag), args, 2);
}

/* c ? a : b for the compare `x pred y`. */
static LLVMValueRef cg_llvm_sel(CgLlvm *m, LLVMRealPredicate pred, LLVMValueRef x, LLVMValueRef y,
                                LLVMValueRef a, LLVMValueRef b)
{
	return LLVMBuildSelect(m->b, LLVMBuildFCmp(m->b, pred, x, y, ""), a, b, "");
}

#define ADD(u_, v_) LLVMBuildFAdd(m->b, (u_), (v_), "")
#define SUB(u_, v_) LLVMBuildFSub(m->b, (u_), (v_), "")
#define MUL(u_, v_) LLVMBuildFMul(m->b, (u_), (v_), "")
#define DIV(u_, v_) LLVMBuildFDiv(m->b, (u_), (v_), "")
#define F(v) cg_llvm_c32(m, (v))
#define D(v) cg_llvm_c64(m, (v))

/* trart_ldexp_float / _double: y 2^k through k's bits in k + 1.5 2^p. */
static LLVMValueRef cg_llvm_ldexp(CgLlvm *m, TrartDtype t, LLVMValueRef y, LLVMValueRef k)
{
	bool f = t == TRART_F32;
	LLVMTypeRef ty = cg_llvm_type(m, t);
	LLVMTypeRef ity = f ? LLVMInt32TypeInContext(m->ctx) : LLVMInt64TypeInContext(m->ctx);
	LLVMValueRef magic = f ? F(12582912.0f) : D(6755399441055744.0);
	LLVMValueRef kb = LLVMBuildBitCast(m->b, ADD(k, magic), ity, "");
	LLVMValueRef tb = LLVMConstInt(ity, f ? 0x4B400000u : 0x4338000000000000ull, 0);
	LLVMValueRef shift = LLVMConstInt(ity, f ? 23 : 52, 0);
	LLVMValueRef e = LLVMBuildShl(m->b, LLVMBuildSub(m->b, kb, tb, ""), shift, "");
	LLVMValueRef yb = LLVMBuildAdd(m->b, LLVMBuildBitCast(m->b, y, ity, ""), e, "");
	return LLVMBuildBitCast(m->b, yb, ty, "");
}

/* trart_exp_float. */
static LLVMValueRef cg_llvm_exp_f32(CgLlvm *m, LLVMValueRef x)
{
	LLVMValueRef xc = cg_llvm_sel(m, LLVMRealOLT, x, F(-104.0f), F(-104.0f), x);
	xc = cg_llvm_sel(m, LLVMRealOGT, xc, F(88.72283f), F(88.72283f), xc);
	LLVMValueRef k = cg_llvm_unary(m, "llvm.floor", ADD(MUL(xc, F(1.44269504088896341f)), F(0.5f)));
	LLVMValueRef nk = LLVMBuildFNeg(m->b, k, "");
	LLVMValueRef r = cg_llvm_fma(m, k, F(2.12194440e-4f), cg_llvm_fma(m, nk, F(0.693359375f), xc));
	static const float c[] = {1.3981999507e-3f, 8.3334519073e-3f, 4.1665795894e-2f,
	                          1.6666665459e-1f, 5.0000001201e-1f};
	LLVMValueRef p = F(1.9875691500e-4f);
	for (size_t i = 0; i < sizeof c / sizeof *c; i++)
		p = cg_llvm_fma(m, p, r, F(c[i]));
	p = ADD(cg_llvm_fma(m, MUL(p, r), r, r), F(1.0f));
	LLVMValueRef sub = cg_llvm_sel(m, LLVMRealOLT, k, F(-120.0f), F(32.0f), F(0.0f));
	LLVMValueRef y = cg_llvm_ldexp(m, TRART_F32, p, ADD(k, sub));
	y = cg_llvm_sel(m, LLVMRealOLT, k, F(-120.0f), MUL(y, F(2.3283064365386963e-10f)), y);
	y = cg_llvm_sel(m, LLVMRealOGT, x, F(88.72283f), F(INFINITY), y);
	return cg_llvm_sel(m, LLVMRealUNE, x, x, x, y);
}

/* trart_exp_reduce_double: k, and r in *r. */
static LLVMValueRef cg_llvm_exp_reduce_f64(CgLlvm *m, LLVMValueRef x, LLVMValueRef *r)
{
	LLVMValueRef k = cg_llvm_unary(m, "llvm.floor", ADD(MUL(x, D(1.4426950408889634)), D(0.5)));
	k = cg_llvm_sel(m, LLVMRealOEQ, k, k, k, D(0.0));
	LLVMValueRef nk = LLVMBuildFNeg(m->b, k, "");
	*r = cg_llvm_fma(m, nk, D(1.9082149292705877e-10), cg_llvm_fma(m, nk, D(6.9314718036912382e-01), x));
	return k;
}

/* trart_expm1_poly_double: Taylor to r^13. */
static LLVMValueRef cg_llvm_expm1_poly_f64(CgLlvm *m, LLVMValueRef r)
{
	static const double c[] = {
		1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0, 1.0 / 362880.0,
		1.0 / 40320.0, 1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5,
	};
	LLVMValueRef p = D(1.0 / 6227020800.0);
	for (size_t i = 0; i < sizeof c / sizeof *c; i++)
		p = cg_llvm_fma(m, p, r, D(c[i]));
	return cg_llvm_fma(m, MUL(p, r), r, r);
}

/* trart_exp_double. */
static LLVMValueRef cg_llvm_exp_f64(CgLlvm *m, LLVMValueRef x)
{
	LLVMValueRef xc = cg_llvm_sel(m, LLVMRealOLT, x, D(-746.0), D(-746.0), x);
	xc = cg_llvm_sel(m, LLVMRealOGT, xc, D(709.782712893384), D(709.782712893384), xc);
	LLVMValueRef r, k = cg_llvm_exp_reduce_f64(m, xc, &r);
	LLVMValueRef sub = cg_llvm_sel(m, LLVMRealOLT, k, D(-1000.0), ADD(k, D(64.0)), k);
	LLVMValueRef y = cg_llvm_ldexp(m, TRART_F64, ADD(D(1.0), cg_llvm_expm1_poly_f64(m, r)), sub);
	y = cg_llvm_sel(m, LLVMRealOLT, k, D(-1000.0), MUL(y, D(5.4210108624275222e-20)), y);
	return cg_llvm_sel(m, LLVMRealOGT, x, D(709.782712893384), D(INFINITY), y);
}

/* trart_expm1_double. */
static LLVMValueRef cg_llvm_expm1_f64(CgLlvm *m, LLVMValueRef x)
{
	LLVMValueRef r, k = cg_llvm_exp_reduce_f64(m, x, &r);
	LLVMValueRef s = cg_llvm_ldexp(m, TRART_F64, D(1.0), k);
	return cg_llvm_fma(m, s, cg_llvm_expm1_poly_f64(m, r), SUB(s, D(1.0)));
}

/* trart_tanh_float (it calls the module's exp). */
static LLVMValueRef cg_llvm_tanh_f32(CgLlvm *m, LLVMValueRef x)
{
	LLVMValueRef a = cg_llvm_unary(m, "llvm.fabs", x), z = MUL(a, a);
	static const float c[] = {2.06390887954e-2f, -5.37397155531e-2f, 1.33314422036e-1f,
	                          -3.33332819422e-1f};
	LLVMValueRef p = F(-5.70498872745e-3f);
	for (size_t i = 0; i < sizeof c / sizeof *c; i++)
		p = cg_llvm_fma(m, p, z, F(c[i]));
	LLVMValueRef small = cg_llvm_fma(m, MUL(p, z), a, a);
	LLVMValueRef e = cg_llvm_math(m, TRA_OP_EXP, TRART_F32, MUL(F(2.0f), a));
	LLVMValueRef big = SUB(F(1.0f), DIV(F(2.0f), ADD(e, F(1.0f))));
	return cg_llvm_copysign(m, cg_llvm_sel(m, LLVMRealOLT, a, F(0.625f), small, big), x);
}

/* trart_tanh_double. */
static LLVMValueRef cg_llvm_tanh_f64(CgLlvm *m, LLVMValueRef x)
{
	LLVMValueRef a = cg_llvm_unary(m, "llvm.fabs", x);
	a = cg_llvm_sel(m, LLVMRealOGT, a, D(20.0), D(20.0), a);
	LLVMValueRef e = cg_llvm_expm1_f64(m, MUL(D(2.0), a));
	return cg_llvm_copysign(m, DIV(e, ADD(e, D(2.0))), x);
}

/* The parts of x = 2^e m, m in [sqrt(1/2), sqrt(2)), as trart_log_float
 * and _double find them: e in *e, m returned. */
static LLVMValueRef cg_llvm_log_split(CgLlvm *m, TrartDtype t, LLVMValueRef x, LLVMValueRef *e)
{
	bool f = t == TRART_F32;
	LLVMTypeRef ty = cg_llvm_type(m, t);
	LLVMTypeRef ity = f ? LLVMInt32TypeInContext(m->ctx) : LLVMInt64TypeInContext(m->ctx);
	LLVMValueRef tiny = f ? F(1.17549435e-38f) : D(2.2250738585072014e-308);
	LLVMValueRef xs = cg_llvm_sel(m, LLVMRealOLT, x, tiny, MUL(x, f ? F(8388608.0f) : D(18014398509481984.0)), x);
	LLVMValueRef e0 = cg_llvm_sel(m, LLVMRealOLT, x, tiny, f ? F(-23.0f) : D(-54.0), f ? F(0.0f) : D(0.0));
	LLVMValueRef b = LLVMBuildBitCast(m->b, xs, ity, "");
	LLVMValueRef biased = LLVMBuildLShr(m->b, b, LLVMConstInt(ity, f ? 23 : 52, 0), "");
	LLVMValueRef ex = LLVMBuildSub(m->b, biased, LLVMConstInt(ity, f ? 127 : 1023, 0), "");
	*e = ADD(LLVMBuildSIToFP(m->b, ex, ty, ""), e0);
	LLVMValueRef mant = LLVMBuildAnd(m->b, b, LLVMConstInt(ity, f ? 0x007fffffu : 0x000fffffffffffffull, 0), "");
	mant = LLVMBuildOr(m->b, mant, LLVMConstInt(ity, f ? 0x3f800000u : 0x3ff0000000000000ull, 0), "");
	LLVMValueRef mm = LLVMBuildBitCast(m->b, mant, ty, "");
	LLVMValueRef sqrt2 = f ? F(1.41421356f) : D(1.4142135623730951);
	*e = cg_llvm_sel(m, LLVMRealOGT, mm, sqrt2, ADD(*e, f ? F(1.0f) : D(1.0)), *e);
	return cg_llvm_sel(m, LLVMRealOGT, mm, sqrt2, MUL(mm, f ? F(0.5f) : D(0.5)), mm);
}

/* The special cases that end trart_log_float and _double. */
static LLVMValueRef cg_llvm_log_special(CgLlvm *m, TrartDtype t, LLVMValueRef x, LLVMValueRef y)
{
	LLVMValueRef zero = cg_llvm_const(m, t, 0.0), inf = cg_llvm_const(m, t, INFINITY);
	y = cg_llvm_sel(m, LLVMRealOEQ, x, zero, cg_llvm_const(m, t, -INFINITY), y);
	y = cg_llvm_sel(m, LLVMRealOLT, x, zero, cg_llvm_const(m, t, NAN), y);
	y = cg_llvm_sel(m, LLVMRealOEQ, x, inf, x, y);
	return cg_llvm_sel(m, LLVMRealUNE, x, x, x, y);
}

/* trart_log_float. */
static LLVMValueRef cg_llvm_log_f32(CgLlvm *m, LLVMValueRef x)
{
	LLVMValueRef e, mm = cg_llvm_log_split(m, TRART_F32, x, &e);
	LLVMValueRef f = SUB(mm, F(1.0f)), s = DIV(f, ADD(F(2.0f), f)), z = MUL(s, s);
	LLVMValueRef h = MUL(MUL(F(0.5f), f), f);
	LLVMValueRef R = ADD(F(2.0f / 7), MUL(z, F(2.0f / 9)));
	R = ADD(F(2.0f / 5), MUL(z, R));
	R = MUL(z, ADD(F(2.0f / 3), MUL(z, R)));
	LLVMValueRef in = cg_llvm_fma(m, s, ADD(h, R), MUL(e, F(-2.12194440e-4f)));
	LLVMValueRef y = cg_llvm_fma(m, e, F(0.693359375f), SUB(f, SUB(h, in)));
	return cg_llvm_log_special(m, TRART_F32, x, y);
}

/* trart_log_series_double: R(z). */
static LLVMValueRef cg_llvm_log_series_f64(CgLlvm *m, LLVMValueRef z)
{
	LLVMValueRef R = D(2.0 / 23);
	for (int i = 21; i >= 3; i -= 2)
		R = ADD(MUL(R, z), D(2.0 / i));
	R = MUL(R, z);
	return R;
}

/* trart_log_double: the series to s^22. */
static LLVMValueRef cg_llvm_log_f64(CgLlvm *m, LLVMValueRef x)
{
	LLVMValueRef e, mm = cg_llvm_log_split(m, TRART_F64, x, &e);
	LLVMValueRef f = SUB(mm, D(1.0)), s = DIV(f, ADD(D(2.0), f)), z = MUL(s, s);
	LLVMValueRef h = MUL(MUL(D(0.5), f), f), R = cg_llvm_log_series_f64(m, z);
	LLVMValueRef in = cg_llvm_fma(m, s, ADD(h, R), MUL(e, D(1.90821492927058770002e-10)));
	LLVMValueRef y = cg_llvm_fma(m, e, D(6.93147180369123816490e-01), SUB(f, SUB(h, in)));
	return cg_llvm_log_special(m, TRART_F64, x, y);
}

/* trart_sigmoid_float and _double. */
static LLVMValueRef cg_llvm_sigmoid(CgLlvm *m, TrartDtype t, LLVMValueRef x)
{
	LLVMValueRef ax = cg_llvm_unary(m, "llvm.fabs", x);
	LLVMValueRef e = cg_llvm_math(m, TRA_OP_EXP, t, LLVMBuildFNeg(m->b, ax, ""));
	LLVMValueRef one = cg_llvm_const(m, t, 1.0);
	LLVMValueRef num = cg_llvm_sel(m, LLVMRealOLT, x, cg_llvm_const(m, t, 0.0), e, one);
	return DIV(num, ADD(one, e));
}

/* trart_trig_double: sin (shift 0) or cos (shift 1). */
static LLVMValueRef cg_llvm_trig_f64(CgLlvm *m, LLVMValueRef x, double shift)
{
	static const double pio2[] = {TRART_PIO2_PARTS}, sc[] = {TRART_SIN_TAYLOR}, cc[] = {TRART_COS_TAYLOR};
	LLVMValueRef k = cg_llvm_unary(m, "llvm.floor", ADD(MUL(x, D(0.6366197723675814)), D(0.5)));
	LLVMValueRef nk = LLVMBuildFNeg(m->b, k, ""), r = x;
	for (int i = 0; i < 3; i++)
		r = cg_llvm_fma(m, nk, D(pio2[i]), r);
	LLVMValueRef z = MUL(r, r), s = D(sc[0]), c = D(cc[0]);
	for (int i = 1; i < 8; i++) {
		s = cg_llvm_fma(m, s, z, D(sc[i]));
		c = cg_llvm_fma(m, c, z, D(cc[i]));
	}
	s = cg_llvm_fma(m, MUL(s, z), r, r);
	c = cg_llvm_fma(m, MUL(c, z), z, cg_llvm_fma(m, D(-0.5), z, D(1.0)));
	LLVMValueRef q = ADD(k, D(shift));
	q = SUB(q, MUL(D(4.0), cg_llvm_unary(m, "llvm.floor", MUL(q, D(0.25)))));
	LLVMValueRef even = LLVMBuildOr(m->b, LLVMBuildFCmp(m->b, LLVMRealOEQ, q, D(0.0), ""),
	                                LLVMBuildFCmp(m->b, LLVMRealOEQ, q, D(2.0), ""), "");
	LLVMValueRef y = LLVMBuildSelect(m->b, even, s, c, "");
	y = cg_llvm_sel(m, LLVMRealOGE, q, D(2.0), LLVMBuildFNeg(m->b, y, ""), y);
	return cg_llvm_sel(m, LLVMRealOLT, cg_llvm_unary(m, "llvm.fabs", x), D(TRART_TRIG_LIMIT), y, D(NAN));
}

/* trart_exp2_double. */
static LLVMValueRef cg_llvm_exp2_f64(CgLlvm *m, LLVMValueRef x)
{
	LLVMValueRef xc = cg_llvm_sel(m, LLVMRealOLT, x, D(-1080.0), D(-1080.0), x);
	xc = cg_llvm_sel(m, LLVMRealOGT, xc, D(1024.0), D(1024.0), xc);
	LLVMValueRef k = cg_llvm_unary(m, "llvm.floor", ADD(xc, D(0.5)));
	LLVMValueRef e = cg_llvm_math(m, TRA_OP_EXP, TRART_F64, MUL(SUB(xc, k), D(0.6931471805599453)));
	LLVMValueRef sub = cg_llvm_sel(m, LLVMRealOLT, k, D(-1000.0), ADD(k, D(64.0)), k);
	LLVMValueRef y = cg_llvm_ldexp(m, TRART_F64, e, sub);
	y = cg_llvm_sel(m, LLVMRealOLT, k, D(-1000.0), MUL(y, D(5.4210108624275222e-20)), y);
	y = cg_llvm_sel(m, LLVMRealOGE, x, D(1024.0), D(INFINITY), y);
	return cg_llvm_sel(m, LLVMRealUNE, x, x, x, y);
}

/* trart_log_core_double: log(1 + f). */
static LLVMValueRef cg_llvm_log_core_f64(CgLlvm *m, LLVMValueRef f)
{
	LLVMValueRef s = DIV(f, ADD(D(2.0), f)), h = MUL(MUL(D(0.5), f), f);
	return SUB(f, SUB(h, MUL(s, ADD(h, cg_llvm_log_series_f64(m, MUL(s, s))))));
}

/* trart_log2_double. */
static LLVMValueRef cg_llvm_log2_f64(CgLlvm *m, LLVMValueRef x)
{
	LLVMValueRef e, mm = cg_llvm_log_split(m, TRART_F64, x, &e);
	LLVMValueRef l = cg_llvm_log_core_f64(m, SUB(mm, D(1.0)));
	return cg_llvm_log_special(m, TRART_F64, x, cg_llvm_fma(m, l, D(1.4426950408889634), e));
}

/* trart_expm1_double (for every x; cg_llvm_expm1_f64 is the core). */
static LLVMValueRef cg_llvm_expm1_all_f64(CgLlvm *m, LLVMValueRef x)
{
	LLVMValueRef xc = cg_llvm_sel(m, LLVMRealOLT, x, D(-60.0), D(-60.0), x);
	xc = cg_llvm_sel(m, LLVMRealOGT, xc, D(700.0), D(700.0), xc);
	LLVMValueRef y = cg_llvm_expm1_f64(m, xc);
	y = cg_llvm_sel(m, LLVMRealOGT, x, D(700.0), cg_llvm_math(m, TRA_OP_EXP, TRART_F64, x), y);
	return cg_llvm_sel(m, LLVMRealUNE, x, x, x, y);
}

/* trart_log1p_double. */
static LLVMValueRef cg_llvm_log1p_f64(CgLlvm *m, LLVMValueRef x)
{
	LLVMValueRef y = cg_llvm_log_core_f64(m, x);
	LLVMValueRef in = LLVMBuildAnd(m->b, LLVMBuildFCmp(m->b, LLVMRealOGT, x, D(-0.2928932188134524), ""),
	                               LLVMBuildFCmp(m->b, LLVMRealOLT, x, D(0.41421356237309503), ""), "");
	return LLVMBuildSelect(m->b, in, y, cg_llvm_math(m, TRA_OP_LOG, TRART_F64, ADD(D(1.0), x)), "");
}

/* trart_erf_double. */
static LLVMValueRef cg_llvm_erf_f64(CgLlvm *m, LLVMValueRef x)
{
	static const double tc[] = {TRART_ERF_TAYLOR};
	LLVMValueRef a = cg_llvm_unary(m, "llvm.fabs", x), z = MUL(a, a), p = D(tc[0]);
	for (size_t n = 1; n < sizeof tc / sizeof *tc; n++)
		p = cg_llvm_fma(m, p, z, D(tc[n]));
	LLVMValueRef small = MUL(MUL(p, a), D(1.1283791670955126));
	LLVMValueRef ac = cg_llvm_sel(m, LLVMRealOLT, a, D(TRART_ERF_SPLIT), D(TRART_ERF_SPLIT), a);
	ac = cg_llvm_sel(m, LLVMRealOGT, ac, D(6.0), D(6.0), ac);
	LLVMValueRef A0 = D(1.0), A1 = ac, B0 = D(0.0), B1 = D(1.0);
	for (int k = 1; k <= TRART_ERF_CF; k++) {
		LLVMValueRef A2 = cg_llvm_fma(m, ac, A1, MUL(D(0.5 * k), A0));
		LLVMValueRef B2 = cg_llvm_fma(m, ac, B1, MUL(D(0.5 * k), B0));
		A0 = A1, A1 = A2, B0 = B1, B1 = B2;
	}
	LLVMValueRef e = cg_llvm_math(m, TRA_OP_EXP, TRART_F64, MUL(LLVMBuildFNeg(m->b, ac, ""), ac));
	LLVMValueRef big = SUB(D(1.0), MUL(MUL(e, D(0.5641895835477563)), DIV(B1, A1)));
	return cg_llvm_copysign(m, cg_llvm_sel(m, LLVMRealOLT, a, D(TRART_ERF_SPLIT), small, big), x);
}

/* trart_sign_float and _double. */
static LLVMValueRef cg_llvm_sign(CgLlvm *m, TrartDtype t, LLVMValueRef x)
{
	LLVMValueRef zero = cg_llvm_const(m, t, 0.0);
	LLVMValueRef y = cg_llvm_sel(m, LLVMRealOLT, x, zero, cg_llvm_const(m, t, -1.0), x);
	return cg_llvm_sel(m, LLVMRealOGT, x, zero, cg_llvm_const(m, t, 1.0), y);
}

/* The f64 functions whose f32 versions are them on the widened argument,
 * rounded once (trart_sin_float and the like). */
static LLVMValueRef cg_llvm_math_f64(CgLlvm *m, TraOp op, LLVMValueRef x)
{
	switch (op) {
	case TRA_OP_SIN: return cg_llvm_trig_f64(m, x, 0.0);
	case TRA_OP_COS: return cg_llvm_trig_f64(m, x, 1.0);
	case TRA_OP_EXP2: return cg_llvm_exp2_f64(m, x);
	case TRA_OP_LOG2: return cg_llvm_log2_f64(m, x);
	case TRA_OP_EXPM1: return cg_llvm_expm1_all_f64(m, x);
	case TRA_OP_LOG1P: return cg_llvm_log1p_f64(m, x);
	case TRA_OP_ERF: return cg_llvm_erf_f64(m, x);
	default: break;
	}
	TRAC_BUG("no f64 kernel math for %s", tra_op_name[op]);
}

#undef ADD
#undef SUB
#undef MUL
#undef DIV
#undef F
#undef D

/* The body of math function op in t, of its argument x. */
static LLVMValueRef cg_llvm_math_body(CgLlvm *m, TraOp op, TrartDtype t, LLVMValueRef x)
{
	bool f = t == TRART_F32;
	switch (op) {
	case TRA_OP_EXP: return f ? cg_llvm_exp_f32(m, x) : cg_llvm_exp_f64(m, x);
	case TRA_OP_LOG: return f ? cg_llvm_log_f32(m, x) : cg_llvm_log_f64(m, x);
	case TRA_OP_TANH: return f ? cg_llvm_tanh_f32(m, x) : cg_llvm_tanh_f64(m, x);
	case TRA_OP_SIGMOID: return cg_llvm_sigmoid(m, t, x);
	case TRA_OP_SIN: case TRA_OP_COS: case TRA_OP_EXP2: case TRA_OP_LOG2: case TRA_OP_EXPM1:
	case TRA_OP_LOG1P: case TRA_OP_ERF:
		if (f) {
			LLVMTypeRef dty = LLVMDoubleTypeInContext(m->ctx);
			LLVMValueRef y = cg_llvm_math(m, op, TRART_F64, LLVMBuildFPExt(m->b, x, dty, ""));
			return LLVMBuildFPTrunc(m->b, y, cg_llvm_type(m, t), "");
		}
		return cg_llvm_math_f64(m, op, x);
	case TRA_OP_RSQRT: return LLVMBuildFDiv(m->b, cg_llvm_const(m, t, 1.0), cg_llvm_sqrt(m, x), "");
	case TRA_OP_SIGN: return cg_llvm_sign(m, t, x);
	default: break;
	}
	TRAC_BUG("no kernel math for %s", tra_op_name[op]);
}

/* The internal function trac.OP.f32 (or f64), built on first use while
 * the builder is elsewhere: its position is saved and restored. */
static LLVMValueRef cg_llvm_math_fn(CgLlvm *m, TraOp op, TrartDtype t)
{
	LLVMValueRef *slot = &m->math[op][t == TRART_F32 ? 0 : 1];
	if (*slot)
		return *slot;
	char name[32];
	snprintf(name, sizeof name, "trac.%s.%s", tra_op_name[op], t == TRART_F32 ? "f32" : "f64");
	LLVMTypeRef ty = cg_llvm_type(m, t);
	LLVMBasicBlockRef at = LLVMGetInsertBlock(m->b);
	*slot = cg_llvm_define(m, name, LLVMFunctionType(ty, &ty, 1, 0));
	LLVMSetLinkage(*slot, LLVMInternalLinkage);
	cg_llvm_enum_attr(m, *slot, LLVMAttributeFunctionIndex, "alwaysinline");
	cg_llvm_enum_attr(m, *slot, LLVMAttributeFunctionIndex, "readnone");
	LLVMBuildRet(m->b, cg_llvm_math_body(m, op, t, LLVMGetParam(*slot, 0)));
	if (at)
		LLVMPositionBuilderAtEnd(m->b, at);
	return *slot;
}

CgLlvmValue cg_llvm_math(CgLlvm *m, TraOp op, TrartDtype t, CgLlvmValue x)
{
	LLVMValueRef fn = cg_llvm_math_fn(m, op, t);
	LLVMTypeRef ty = cg_llvm_type(m, t);
	return LLVMBuildCall2(m->b, LLVMFunctionType(ty, &ty, 1, 0), fn, &x, 1, "");
}

/* ---- the module as a whole ------------------------------------------------- */

bool cg_llvm_verify(CgLlvm *m, char *err, size_t errlen)
{
	char *msg = NULL;
	if (LLVMVerifyModule(m->mod, LLVMReturnStatusAction, &msg)) {
		cg_llvm_error(err, errlen, "LLVM's verifier rejects the module", msg);
		return false;
	}
	LLVMDisposeMessage(msg);
	return true;
}

/* Runs the new pass manager's pipeline on the module and disposes of
 * opts; false with "LLVM's WHAT failed: ..." in err. */
static bool cg_llvm_run_passes(CgLlvm *m, const char *pipeline, LLVMPassBuilderOptionsRef opts,
                               const char *what, char *err, size_t errlen)
{
	LLVMErrorRef e = LLVMRunPasses(m->mod, pipeline, m->tm, opts);
	LLVMDisposePassBuilderOptions(opts);
	if (e) {
		char *msg = LLVMGetErrorMessage(e);
		snprintf(err, errlen, "LLVM's %s failed: %s", what, msg);
		LLVMDisposeErrorMessage(msg);
		return false;
	}
	return true;
}

/* Whether call is one of llvm.vector.reduce.fadd.* (want "fadd") or
 * llvm.vector.reduce.fmul.* ("fmul"). */
static bool cg_llvm_is_vector_reduce(LLVMValueRef call, const char *want)
{
	static const char prefix[] = "llvm.vector.reduce.";
	LLVMValueRef callee = LLVMGetCalledValue(call);
	if (!callee || LLVMGetValueKind(callee) != LLVMFunctionValueKind)
		return false;
	size_t len;
	const char *name = LLVMGetValueName2(callee, &len);
	size_t n = sizeof prefix - 1, w = strlen(want);
	return len > n + w && strncmp(name, prefix, n) == 0 && strncmp(name + n, want, w) == 0 &&
	       name[n + w] == '.';
}

/* v's lanes [from, from + n) as a vector of n lanes. */
static LLVMValueRef cg_llvm_lanes(LLVMBuilderRef b, LLVMValueRef v, unsigned from, unsigned n)
{
	LLVMTypeRef i32 = LLVMInt32TypeInContext(LLVMGetTypeContext(LLVMTypeOf(v)));
	LLVMValueRef mask[64];
	for (unsigned i = 0; i < n; i++)
		mask[i] = LLVMConstInt(i32, from + i, false);
	return LLVMBuildShuffleVector(b, v, LLVMGetUndef(LLVMTypeOf(v)), LLVMConstVector(mask, n), "");
}

CgLlvmValue cg_llvm_vec_lanes(CgLlvm *m, CgLlvmValue v, int from, int n)
{
	return cg_llvm_lanes(m->b, v, (unsigned)from, (unsigned)n);
}

CgLlvmValue cg_llvm_vec_extract(CgLlvm *m, CgLlvmValue v, int i)
{
	LLVMValueRef at = LLVMConstInt(LLVMInt32TypeInContext(m->ctx), (unsigned)i, false);
	return LLVMBuildExtractElement(m->b, v, at, "");
}

/* Replaces the ordered reduction call (start, v) with halves combined
 * pairwise, log2(lanes) vector operations, then start. */
static void cg_llvm_tree_reduce(LLVMBuilderRef b, LLVMValueRef call, bool mul)
{
	LLVMValueRef start = LLVMGetOperand(call, 0), v = LLVMGetOperand(call, 1);
	unsigned n = LLVMGetVectorSize(LLVMTypeOf(v));
	LLVMPositionBuilderBefore(b, call);
	for (; n > 1; n /= 2) {
		LLVMValueRef lo = cg_llvm_lanes(b, v, 0, n / 2), hi = cg_llvm_lanes(b, v, n / 2, n / 2);
		v = mul ? LLVMBuildFMul(b, lo, hi, "") : LLVMBuildFAdd(b, lo, hi, "");
	}
	LLVMValueRef lane0 = LLVMBuildExtractElement(b, v, LLVMConstInt(LLVMInt32TypeInContext(
	                                                 LLVMGetTypeContext(LLVMTypeOf(v))), 0, false), "");
	LLVMValueRef r = mul ? LLVMBuildFMul(b, start, lane0, "") : LLVMBuildFAdd(b, start, lane0, "");
	LLVMReplaceAllUsesWith(call, r);
	LLVMInstructionEraseFromParent(call);
}

/* The loop vectoriser ends a vectorised sum with llvm.vector.reduce.fadd
 * of its vector accumulator. Without the reassoc flag on that call (the
 * loop hint that let the vectoriser reorder the sum does not give it
 * one, and LLVM 14's C API cannot set it) the target adds the lanes one
 * after the other: on W5's row dot, 16 dependent scalar adds after each
 * block of 256 terms, where gcc's build of the same C adds halves in 4
 * vector steps. The reductions of a kernel may be reassociated (tra(5)),
 * and on x86 the vectoriser makes no in-order reductions inside loops
 * (the target does not enable them), so every such call left after O3
 * ends a reduction and becomes the same halving tree. Lanes must be a
 * power of two, as the vectoriser's factors are; others are left. */
static void cg_llvm_tree_reductions(CgLlvm *m)
{
	LLVMBuilderRef b = LLVMCreateBuilderInContext(LLVMGetModuleContext(m->mod));
	for (LLVMValueRef f = LLVMGetFirstFunction(m->mod); f; f = LLVMGetNextFunction(f))
		for (LLVMBasicBlockRef bb = LLVMGetFirstBasicBlock(f); bb; bb = LLVMGetNextBasicBlock(bb))
			for (LLVMValueRef i = LLVMGetFirstInstruction(bb), next; i; i = next) {
				next = LLVMGetNextInstruction(i);
				if (LLVMGetInstructionOpcode(i) != LLVMCall)
					continue;
				bool add = cg_llvm_is_vector_reduce(i, "fadd"), mul = cg_llvm_is_vector_reduce(i, "fmul");
				unsigned lanes = add || mul ? LLVMGetVectorSize(LLVMTypeOf(LLVMGetOperand(i, 1))) : 0;
				if (lanes >= 2 && lanes <= 64 && (lanes & (lanes - 1)) == 0)
					cg_llvm_tree_reduce(b, i, mul);
			}
	LLVMDisposeBuilder(b);
}

bool cg_llvm_optimize(CgLlvm *m, char *err, size_t errlen)
{
	LLVMPassBuilderOptionsRef opts = LLVMCreatePassBuilderOptions();
	LLVMPassBuilderOptionsSetLoopVectorization(opts, 1);
	LLVMPassBuilderOptionsSetSLPVectorization(opts, 1);
	LLVMPassBuilderOptionsSetLoopInterleaving(opts, 1);
	LLVMPassBuilderOptionsSetLoopUnrolling(opts, 1);
	if (!cg_llvm_run_passes(m, "default<O3>", opts, "O3 pipeline", err, errlen))
		return false;
	cg_llvm_tree_reductions(m);
	return true;
}

bool cg_llvm_instrument_tsan(CgLlvm *m, char *err, size_t errlen)
{
	static const char name[] = "sanitize_thread";
	unsigned kind = LLVMGetEnumAttributeKindForName(name, sizeof name - 1);
	LLVMAttributeRef attr = LLVMCreateEnumAttribute(LLVMGetModuleContext(m->mod), kind, 0);
	for (LLVMValueRef f = LLVMGetFirstFunction(m->mod); f; f = LLVMGetNextFunction(f))
		if (LLVMCountBasicBlocks(f) > 0)
			LLVMAddAttributeAtIndex(f, LLVMAttributeFunctionIndex, attr);
	return cg_llvm_run_passes(m, "tsan-module,function(tsan)", LLVMCreatePassBuilderOptions(),
	                          "ThreadSanitizer passes", err, errlen);
}

bool cg_llvm_emit_object(CgLlvm *m, const char *path, char *err, size_t errlen)
{
	char *msg = NULL;
	/* the C API takes the file name as char *, and does not write it */
	if (LLVMTargetMachineEmitToFile(m->tm, m->mod, (char *)path, LLVMObjectFile, &msg)) {
		cg_llvm_error(err, errlen, path, msg);
		return false;
	}
	return true;
}

void cg_llvm_dump(CgLlvm *m, FILE *out)
{
	char *s = LLVMPrintModuleToString(m->mod);
	fputs(s, out);
	LLVMDisposeMessage(s);
}

/* ---- for llvm_prog.c ---- */

CgLlvmType cg_llvm_int(CgLlvm *m, int bits)
{
	return LLVMIntTypeInContext(m->ctx, (unsigned)bits);
}

CgLlvmType cg_llvm_void(CgLlvm *m)
{
	return LLVMVoidTypeInContext(m->ctx);
}

CgLlvmType cg_llvm_struct(CgLlvm *m, const char *name, const CgLlvmType *fields, int nfields)
{
	LLVMTypeRef ty = LLVMStructCreateNamed(m->ctx, name);
	LLVMStructSetBody(ty, (LLVMTypeRef *)fields, (unsigned)nfields, 0);
	return ty;
}

CgLlvmType cg_llvm_array(CgLlvm *m, CgLlvmType elem, int64_t n)
{
	(void)m;
	return LLVMArrayType(elem, (unsigned)n);
}

CgLlvmType cg_llvm_fn_type(CgLlvm *m, CgLlvmType ret, const CgLlvmType *params, int nparams)
{
	(void)m;
	return LLVMFunctionType(ret, (LLVMTypeRef *)params, (unsigned)nparams, 0);
}

CgLlvmType cg_llvm_type_of(CgLlvmValue v)
{
	return LLVMTypeOf(v);
}

uint64_t cg_llvm_abi_size(CgLlvm *m, CgLlvmType ty)
{
	return LLVMABISizeOfType(LLVMGetModuleDataLayout(m->mod), ty);
}

uint64_t cg_llvm_abi_offset(CgLlvm *m, CgLlvmType ty, int field)
{
	return LLVMOffsetOfElement(LLVMGetModuleDataLayout(m->mod), ty, (unsigned)field);
}

CgLlvmValue cg_llvm_const_int(CgLlvm *m, CgLlvmType ty, int64_t v)
{
	(void)m;
	return LLVMConstInt(ty, (unsigned long long)v, 1);
}

CgLlvmValue cg_llvm_const_null(CgLlvmType ty)
{
	return LLVMConstNull(ty);
}

CgLlvmValue cg_llvm_const_array(CgLlvm *m, CgLlvmType elem, const CgLlvmValue *v, int n)
{
	(void)m;
	return LLVMConstArray(elem, (LLVMValueRef *)v, (unsigned)n);
}

CgLlvmValue cg_llvm_const_struct(CgLlvm *m, CgLlvmType ty, const CgLlvmValue *v, int n)
{
	(void)m;
	return LLVMConstNamedStruct(ty, (LLVMValueRef *)v, (unsigned)n);
}

CgLlvmValue cg_llvm_const_string(CgLlvm *m, const char *s)
{
	LLVMValueRef init = LLVMConstStringInContext(m->ctx, s, (unsigned)strlen(s), 0);
	LLVMValueRef g = LLVMAddGlobal(m->mod, LLVMTypeOf(init), ".str");
	LLVMSetInitializer(g, init);
	LLVMSetGlobalConstant(g, 1);
	LLVMSetLinkage(g, LLVMPrivateLinkage);
	LLVMSetUnnamedAddress(g, LLVMGlobalUnnamedAddr);
	return cg_llvm_const_elem(m, g, 0);
}

CgLlvmValue cg_llvm_const_elem(CgLlvm *m, CgLlvmValue global, int64_t i)
{
	LLVMValueRef idx[2] = {LLVMConstInt(LLVMInt64TypeInContext(m->ctx), 0, 0),
	                       LLVMConstInt(LLVMInt64TypeInContext(m->ctx), (unsigned long long)i, 0)};
	return LLVMConstInBoundsGEP2(LLVMGlobalGetValueType(global), global, idx, 2);
}

CgLlvmValue cg_llvm_const_cast(CgLlvmValue v, CgLlvmType ty)
{
	return LLVMConstBitCast(v, ty);
}

CgLlvmValue cg_llvm_global(CgLlvm *m, const char *name, CgLlvmType ty, bool external, bool constant)
{
	LLVMValueRef g = LLVMAddGlobal(m->mod, ty, name);
	LLVMSetInitializer(g, LLVMConstNull(ty));
	LLVMSetGlobalConstant(g, constant);
	if (!external)
		LLVMSetLinkage(g, LLVMInternalLinkage);
	return g;
}

void cg_llvm_global_init(CgLlvmValue global, CgLlvmValue init)
{
	LLVMSetInitializer(global, init);
}

CgLlvmValue cg_llvm_named_function(CgLlvm *m, const char *name)
{
	return LLVMGetNamedFunction(m->mod, name);
}

CgLlvmValue cg_llvm_declare(CgLlvm *m, const char *name, CgLlvmType fnty)
{
	LLVMValueRef fn = LLVMGetNamedFunction(m->mod, name);
	return fn ? fn : LLVMAddFunction(m->mod, name, fnty);
}

void cg_llvm_internal(CgLlvmValue v)
{
	LLVMSetLinkage(v, LLVMInternalLinkage);
}

void cg_llvm_noinline(CgLlvm *m)
{
	cg_llvm_enum_attr(m, m->fn, LLVMAttributeFunctionIndex, "noinline");
}

CgLlvmValue cg_llvm_function_ret(CgLlvm *m, const char *name, CgLlvmType ret, const CgLlvmType *params,
                                 int nparams)
{
	m->fn = cg_llvm_define(m, name, LLVMFunctionType(ret, (LLVMTypeRef *)params, (unsigned)nparams, 0));
	return m->fn;
}

void cg_llvm_return_value(CgLlvm *m, CgLlvmValue v)
{
	LLVMBuildRet(m->b, v);
	m->fn = NULL;
}

CgLlvmValue cg_llvm_call(CgLlvm *m, CgLlvmType fnty, CgLlvmValue fn, const CgLlvmValue *args, int n)
{
	return LLVMBuildCall2(m->b, fnty, fn, (LLVMValueRef *)args, (unsigned)n, "");
}

/* In the entry block, so that mem2reg and SROA see it. An array is
 * CG_LLVM_ARRAY_ALIGN-aligned (see the opening comment): LLVM's data
 * layout would give [1024 x float] its element's 4 bytes. */
CgLlvmValue cg_llvm_alloca(CgLlvm *m, CgLlvmType ty)
{
	LLVMBasicBlockRef at = LLVMGetInsertBlock(m->b);
	LLVMBasicBlockRef entry = LLVMGetEntryBasicBlock(m->fn);
	LLVMValueRef first = LLVMGetFirstInstruction(entry);
	if (first)
		LLVMPositionBuilderBefore(m->b, first);
	else
		LLVMPositionBuilderAtEnd(m->b, entry);
	LLVMValueRef slot = LLVMBuildAlloca(m->b, ty, "");
	if (LLVMGetTypeKind(ty) == LLVMArrayTypeKind)
		LLVMSetAlignment(slot, CG_LLVM_ARRAY_ALIGN);
	LLVMPositionBuilderAtEnd(m->b, at);
	return slot;
}

CgLlvmValue cg_llvm_gep(CgLlvm *m, CgLlvmType elem, CgLlvmValue base, CgLlvmValue i)
{
	return LLVMBuildInBoundsGEP2(m->b, elem, base, &i, 1, "");
}

CgLlvmValue cg_llvm_load_ptr(CgLlvm *m, CgLlvmType ty, CgLlvmValue p)
{
	return LLVMBuildLoad2(m->b, ty, p, "");
}

void cg_llvm_store_ptr(CgLlvm *m, CgLlvmValue v, CgLlvmValue p)
{
	LLVMBuildStore(m->b, v, p);
}

CgLlvmValue cg_llvm_bitcast(CgLlvm *m, CgLlvmValue v, CgLlvmType ty)
{
	return LLVMBuildBitCast(m->b, v, ty, "");
}

CgLlvmType cg_llvm_vec_type(CgLlvm *m, CgLlvmType elem, int n)
{
	(void)m;
	return LLVMVectorType(elem, (unsigned)n);
}

CgLlvmValue cg_llvm_vec_undef(CgLlvm *m, CgLlvmType elem, int n)
{
	return LLVMGetUndef(cg_llvm_vec_type(m, elem, n));
}

CgLlvmValue cg_llvm_vec_insert(CgLlvm *m, CgLlvmValue v, CgLlvmValue x, int i)
{
	return LLVMBuildInsertElement(m->b, v, x, LLVMConstInt(LLVMInt32TypeInContext(m->ctx), (unsigned)i, 0), "");
}

CgLlvmValue cg_llvm_vec_splat(CgLlvm *m, CgLlvmValue x, int n)
{
	CgLlvmValue v = cg_llvm_vec_undef(m, LLVMTypeOf(x), n);
	for (int i = 0; i < n; i++)
		v = cg_llvm_vec_insert(m, v, x, i);
	return v;
}

CgLlvmBlock cg_llvm_block(CgLlvm *m, const char *name)
{
	return LLVMAppendBasicBlockInContext(m->ctx, m->fn, name);
}

void cg_llvm_position(CgLlvm *m, CgLlvmBlock b)
{
	LLVMPositionBuilderAtEnd(m->b, b);
}

CgLlvmBlock cg_llvm_insert_block(CgLlvm *m)
{
	return LLVMGetInsertBlock(m->b);
}

CgLlvmValue cg_llvm_phi2(CgLlvm *m, CgLlvmValue a, CgLlvmBlock x, CgLlvmValue b, CgLlvmBlock y)
{
	LLVMValueRef phi = LLVMBuildPhi(m->b, LLVMTypeOf(a), "");
	LLVMValueRef vals[2] = {a, b};
	LLVMBasicBlockRef from[2] = {x, y};
	LLVMAddIncoming(phi, vals, from, 2);
	return phi;
}

void cg_llvm_br(CgLlvm *m, CgLlvmBlock to)
{
	LLVMBuildBr(m->b, to);
}

void cg_llvm_br_null(CgLlvm *m, CgLlvmValue p, CgLlvmBlock yes, CgLlvmBlock no)
{
	LLVMBuildCondBr(m->b, LLVMBuildIsNull(m->b, p, ""), yes, no);
}

/* ---- for llvm_kernels.c ---- */

CgLlvmValue cg_llvm_fneg(CgLlvm *m, CgLlvmValue x)
{
	if (cg_llvm_is_int(x))
		return LLVMBuildSub(m->b, LLVMConstNull(LLVMTypeOf(x)), x, "");
	return LLVMBuildFNeg(m->b, x, "");
}

CgLlvmValue cg_llvm_fcmp(CgLlvm *m, TraOp op, CgLlvmValue a, CgLlvmValue b)
{
	if (cg_llvm_is_int(a))
		return cg_llvm_icmp(m, op, a, b);
	LLVMRealPredicate pred;
	switch (op) {
	case TRA_OP_LT: pred = LLVMRealOLT; break;
	case TRA_OP_LE: pred = LLVMRealOLE; break;
	case TRA_OP_GT: pred = LLVMRealOGT; break;
	case TRA_OP_GE: pred = LLVMRealOGE; break;
	case TRA_OP_EQ: pred = LLVMRealOEQ; break;
	case TRA_OP_NE: pred = LLVMRealUNE; break; /* C's != is true for a NaN */
	default: TRAC_BUG("cg_llvm_fcmp of %s", tra_op_name[op]);
	}
	return LLVMBuildFCmp(m->b, pred, a, b, "");
}

CgLlvmValue cg_llvm_select(CgLlvm *m, CgLlvmValue c, CgLlvmValue a, CgLlvmValue b)
{
	return LLVMBuildSelect(m->b, c, a, b, "");
}

CgLlvmValue cg_llvm_from_bool(CgLlvm *m, TrartDtype t, CgLlvmValue c)
{
	if (TRART_IS_INT(t))
		return LLVMBuildZExt(m->b, c, cg_llvm_type(m, t), "");
	return LLVMBuildUIToFP(m->b, c, cg_llvm_type(m, t), "");
}

CgLlvmValue cg_llvm_from_i64(CgLlvm *m, TrartDtype t, CgLlvmValue i)
{
	if (t == TRART_I64)
		return i;
	if (t == TRART_I32)
		return LLVMBuildTrunc(m->b, i, cg_llvm_type(m, t), "");
	return LLVMBuildSIToFP(m->b, i, cg_llvm_type(m, t), "");
}

CgLlvmValue cg_llvm_gather_check(CgLlvm *m, CgLlvmValue v, int64_t size, const char *index, int rank,
                                 const int64_t *shape, CgLlvmValue at, const char *table, int dim)
{
	LLVMTypeRef i8p = LLVMPointerType(LLVMInt8TypeInContext(m->ctx), 0), i32 = LLVMInt32TypeInContext(m->ctx);
	LLVMTypeRef i64 = cg_llvm_i64(m), i64p = LLVMPointerType(i64, 0);
	LLVMTypeRef params[8] = {i8p, i32, i64p, i64, i64, i8p, i32, i64};
	LLVMTypeRef fnty = LLVMFunctionType(LLVMVoidTypeInContext(m->ctx), params, 8, 0);
	LLVMValueRef fn = LLVMGetNamedFunction(m->mod, "trart_gather_fail");
	if (!fn)
		fn = LLVMAddFunction(m->mod, "trart_gather_fail", fnty);
	LLVMValueRef here = LLVMGetBasicBlockParent(LLVMGetInsertBlock(m->b));
	LLVMBasicBlockRef fail = LLVMAppendBasicBlockInContext(m->ctx, here, "gather.fail");
	LLVMBasicBlockRef ok = LLVMAppendBasicBlockInContext(m->ctx, here, "gather.ok");
	LLVMValueRef bad = LLVMBuildICmp(m->b, LLVMIntUGE, v, LLVMConstInt(i64, (unsigned long long)size, 0), "");
	LLVMBuildCondBr(m->b, bad, fail, ok);
	LLVMPositionBuilderAtEnd(m->b, fail);
	LLVMValueRef dims[TRART_MAX_RANK + 1];
	for (int e = 0; e < rank; e++)
		dims[e] = LLVMConstInt(i64, (unsigned long long)shape[e], 0);
	dims[rank] = LLVMConstInt(i64, 0, 0); /* a scalar's shape is empty: one slot all the same */
	LLVMTypeRef arr = LLVMArrayType(i64, (unsigned)rank + 1);
	LLVMValueRef g = LLVMAddGlobal(m->mod, arr, "gather.shape");
	LLVMSetInitializer(g, LLVMConstArray(i64, dims, (unsigned)rank + 1));
	LLVMSetGlobalConstant(g, 1);
	LLVMSetLinkage(g, LLVMPrivateLinkage);
	LLVMValueRef args[8] = {LLVMBuildGlobalStringPtr(m->b, index, ""), LLVMConstInt(i32, (unsigned)rank, 0),
	                        LLVMBuildBitCast(m->b, g, i64p, ""), at, v,
	                        LLVMBuildGlobalStringPtr(m->b, table, ""), LLVMConstInt(i32, (unsigned)dim, 0),
	                        LLVMConstInt(i64, (unsigned long long)size, 0)};
	LLVMBuildCall2(m->b, fnty, fn, args, 8, "");
	LLVMBuildUnreachable(m->b);
	LLVMPositionBuilderAtEnd(m->b, ok);
	return v;
}

CgLlvmValue cg_llvm_convert(CgLlvm *m, CgLlvmValue v, TrartDtype from, TrartDtype to)
{
	LLVMTypeRef ty = cg_llvm_type(m, to);
	if (from == to)
		return v;
	if (TRART_IS_INT(from) && TRART_IS_INT(to)) /* wraps, or widens */
		return to == TRART_I32 ? LLVMBuildTrunc(m->b, v, ty, "") : LLVMBuildSExt(m->b, v, ty, "");
	if (TRART_IS_INT(from))
		return LLVMBuildSIToFP(m->b, v, ty, "");
	if (!TRART_IS_INT(to))
		return to == TRART_F32 ? LLVMBuildFPTrunc(m->b, v, ty, "") : LLVMBuildFPExt(m->b, v, ty, "");
	/* toward zero, NaN 0, saturating: exactly LLVM's fptosi.sat */
	char name[40];
	snprintf(name, sizeof name, "llvm.fptosi.sat.%s.%s", to == TRART_I32 ? "i32" : "i64",
	         from == TRART_F32 ? "f32" : "f64");
	LLVMTypeRef arg = cg_llvm_type(m, from), fnty = LLVMFunctionType(ty, &arg, 1, 0);
	LLVMValueRef fn = LLVMGetNamedFunction(m->mod, name);
	if (!fn)
		fn = LLVMAddFunction(m->mod, name, fnty);
	return LLVMBuildCall2(m->b, fnty, fn, &v, 1, "");
}

CgLlvmValue cg_llvm_sqrt(CgLlvm *m, CgLlvmValue x)
{
	return cg_llvm_unary(m, "llvm.sqrt", x);
}

CgLlvmValue cg_llvm_fabs(CgLlvm *m, CgLlvmValue x)
{
	if (cg_llvm_is_int(x)) /* abs(MIN) wraps to MIN */
		return LLVMBuildSelect(m->b, LLVMBuildICmp(m->b, LLVMIntSLT, x, LLVMConstNull(LLVMTypeOf(x)), ""),
		                       LLVMBuildSub(m->b, LLVMConstNull(LLVMTypeOf(x)), x, ""), x, "");
	return cg_llvm_unary(m, "llvm.fabs", x);
}

CgLlvmValue cg_llvm_rounding(CgLlvm *m, TraOp op, CgLlvmValue x)
{
	return cg_llvm_unary(m, op == TRA_OP_FLOOR ? "llvm.floor" : op == TRA_OP_CEIL ? "llvm.ceil" : "llvm.rint", x);
}

/* The i1s a && b and a || b (C's, on values without side effects). */
static LLVMValueRef cg_llvm_and(CgLlvm *m, LLVMValueRef a, LLVMValueRef b)
{
	return LLVMBuildAnd(m->b, a, b, "");
}

static LLVMValueRef cg_llvm_or(CgLlvm *m, LLVMValueRef a, LLVMValueRef b)
{
	return LLVMBuildOr(m->b, a, b, "");
}

/* trart_pow_double, line by line: e^(y log|x|), then C99's cases. */
static LLVMValueRef cg_llvm_pow_f64(CgLlvm *m, LLVMValueRef x, LLVMValueRef y)
{
	LLVMValueRef one = cg_llvm_c64(m, 1.0), inf = cg_llvm_c64(m, INFINITY);
	LLVMValueRef ax = cg_llvm_fabs(m, x);
	LLVMValueRef l = cg_llvm_math(m, TRA_OP_LOG, TRART_F64, ax);
	LLVMValueRef r = cg_llvm_math(m, TRA_OP_EXP, TRART_F64, LLVMBuildFMul(m->b, y, l, ""));
	LLVMValueRef integral = LLVMBuildFCmp(m->b, LLVMRealOEQ, y, cg_llvm_unary(m, "llvm.floor", y), "");
	LLVMValueRef half = cg_llvm_unary(m, "llvm.floor", LLVMBuildFMul(m->b, y, cg_llvm_c64(m, 0.5), ""));
	LLVMValueRef twice = LLVMBuildFMul(m->b, half, cg_llvm_c64(m, 2.0), "");
	LLVMValueRef odd = cg_llvm_and(m, integral, LLVMBuildFCmp(m->b, LLVMRealUNE, twice, y, ""));
	/* the sign bit, as trart.h reads it: the top bit of x's bits */
	LLVMValueRef bits = LLVMBuildBitCast(m->b, x, LLVMInt64TypeInContext(m->ctx), "");
	LLVMValueRef sign = LLVMBuildICmp(m->b, LLVMIntSLT, bits, LLVMConstInt(LLVMTypeOf(bits), 0, 0), "");
	r = LLVMBuildSelect(m->b, cg_llvm_and(m, sign, odd), LLVMBuildFNeg(m->b, r, ""), r, "");
	LLVMValueRef negative = LLVMBuildFCmp(m->b, LLVMRealOLT, x, cg_llvm_c64(m, 0.0), "");
	LLVMValueRef nan = cg_llvm_and(m, cg_llvm_and(m, negative, LLVMBuildNot(m->b, integral, "")),
	                               LLVMBuildFCmp(m->b, LLVMRealUNE, x, cg_llvm_c64(m, -INFINITY), ""));
	r = LLVMBuildSelect(m->b, nan, cg_llvm_c64(m, NAN), r, "");
	LLVMValueRef yinf = cg_llvm_or(m, LLVMBuildFCmp(m->b, LLVMRealOEQ, y, inf, ""),
	                               LLVMBuildFCmp(m->b, LLVMRealOEQ, y, cg_llvm_c64(m, -INFINITY), ""));
	LLVMValueRef unit = cg_llvm_and(m, LLVMBuildFCmp(m->b, LLVMRealOEQ, ax, one, ""), yinf);
	r = LLVMBuildSelect(m->b, unit, one, r, "");
	LLVMValueRef trivial = cg_llvm_or(m, LLVMBuildFCmp(m->b, LLVMRealOEQ, y, cg_llvm_c64(m, 0.0), ""),
	                                  LLVMBuildFCmp(m->b, LLVMRealOEQ, x, one, ""));
	return LLVMBuildSelect(m->b, trivial, one, r, "");
}

/* trart_pow_float: the f64 function, rounded once. */
static LLVMValueRef cg_llvm_pow_f32(CgLlvm *m, LLVMValueRef x, LLVMValueRef y)
{
	LLVMTypeRef d = LLVMDoubleTypeInContext(m->ctx);
	LLVMValueRef r = cg_llvm_pow(m, TRART_F64, LLVMBuildFPExt(m->b, x, d, ""), LLVMBuildFPExt(m->b, y, d, ""));
	return LLVMBuildFPTrunc(m->b, r, LLVMFloatTypeInContext(m->ctx), "");
}

/* trac.pow.f32 (or f64), built on first use as cg_llvm_math_fn builds
 * the one-argument functions. */
static LLVMValueRef cg_llvm_pow_fn(CgLlvm *m, TrartDtype t)
{
	LLVMValueRef *slot = &m->math[TRA_OP_POW][t == TRART_F32 ? 0 : 1];
	if (*slot)
		return *slot;
	LLVMTypeRef ty = cg_llvm_type(m, t), params[2] = {ty, ty};
	LLVMBasicBlockRef at = LLVMGetInsertBlock(m->b);
	*slot = cg_llvm_define(m, t == TRART_F32 ? "trac.pow.f32" : "trac.pow.f64",
	                       LLVMFunctionType(ty, params, 2, 0));
	LLVMSetLinkage(*slot, LLVMInternalLinkage);
	cg_llvm_enum_attr(m, *slot, LLVMAttributeFunctionIndex, "alwaysinline");
	cg_llvm_enum_attr(m, *slot, LLVMAttributeFunctionIndex, "readnone");
	LLVMValueRef x = LLVMGetParam(*slot, 0), y = LLVMGetParam(*slot, 1);
	LLVMBuildRet(m->b, t == TRART_F32 ? cg_llvm_pow_f32(m, x, y) : cg_llvm_pow_f64(m, x, y));
	if (at)
		LLVMPositionBuilderAtEnd(m->b, at);
	return *slot;
}

CgLlvmValue cg_llvm_pow(CgLlvm *m, TrartDtype t, CgLlvmValue x, CgLlvmValue y)
{
	LLVMValueRef fn = cg_llvm_pow_fn(m, t);
	LLVMTypeRef ty = cg_llvm_type(m, t), params[2] = {ty, ty};
	LLVMValueRef args[2] = {x, y};
	return LLVMBuildCall2(m->b, LLVMFunctionType(ty, params, 2, 0), fn, args, 2, "");
}

static LLVMIntPredicate cg_llvm_ipred(TraOp op)
{
	switch (op) {
	case TRA_OP_LT: return LLVMIntSLT;
	case TRA_OP_LE: return LLVMIntSLE;
	case TRA_OP_GT: return LLVMIntSGT;
	case TRA_OP_GE: return LLVMIntSGE;
	case TRA_OP_EQ: return LLVMIntEQ;
	case TRA_OP_NE: return LLVMIntNE;
	default: TRAC_BUG("cg_llvm_icmp of %s", tra_op_name[op]);
	}
}

CgLlvmValue cg_llvm_icmp(CgLlvm *m, TraOp op, CgLlvmValue a, CgLlvmValue b)
{
	return LLVMBuildICmp(m->b, cg_llvm_ipred(op), a, b, "");
}

CgLlvmValue cg_llvm_icmp_below(CgLlvm *m, CgLlvmValue v, int64_t size)
{
	return LLVMBuildICmp(m->b, LLVMIntULT, v, cg_llvm_const_i64(m, size), "");
}

CgLlvmValue cg_llvm_isub(CgLlvm *m, CgLlvmValue a, CgLlvmValue b)
{
	return LLVMBuildNSWSub(m->b, a, b, "");
}

CgLlvmValue cg_llvm_idiv(CgLlvm *m, CgLlvmValue a, CgLlvmValue b)
{
	return LLVMBuildSDiv(m->b, a, b, "");
}

CgLlvmValue cg_llvm_ior(CgLlvm *m, CgLlvmValue a, CgLlvmValue b)
{
	return LLVMBuildOr(m->b, a, b, "");
}

CgLlvmValue cg_llvm_zext(CgLlvm *m, CgLlvmValue v, CgLlvmType ty)
{
	return LLVMBuildZExt(m->b, v, ty, "");
}

CgLlvmValue cg_llvm_ptr_to_i64(CgLlvm *m, CgLlvmValue p)
{
	return LLVMBuildPtrToInt(m->b, p, LLVMInt64TypeInContext(m->ctx), "");
}

/* cttz(~k), defined at k = -1 (64). */
CgLlvmValue cg_llvm_trailing_ones(CgLlvm *m, CgLlvmValue k)
{
	LLVMValueRef args[2] = {LLVMBuildNot(m->b, k, ""), LLVMConstInt(LLVMInt1TypeInContext(m->ctx), 0, 0)};
	return cg_llvm_intrinsic(m, "llvm.cttz", LLVMTypeOf(k), args, 2);
}

CgLlvmValue cg_llvm_bit_length(CgLlvm *m, CgLlvmValue k)
{
	LLVMValueRef args[2] = {k, LLVMConstInt(LLVMInt1TypeInContext(m->ctx), 0, 0)};
	LLVMTypeRef ty = LLVMTypeOf(k);
	LLVMValueRef width = LLVMConstInt(ty, LLVMGetIntTypeWidth(ty), 0);
	return LLVMBuildSub(m->b, width, cg_llvm_intrinsic(m, "llvm.ctlz", ty, args, 2), "");
}

void cg_llvm_br_if(CgLlvm *m, CgLlvmValue c, CgLlvmBlock yes, CgLlvmBlock no)
{
	LLVMBuildCondBr(m->b, c, yes, no);
}

CgLlvmType cg_llvm_key_type(CgLlvm *m, TrartDtype t)
{
	return t == TRART_F32 ? LLVMInt32TypeInContext(m->ctx) : LLVMInt64TypeInContext(m->ctx);
}

/* bits ^ ((bits >> (w-1)) & INT_MAX): a negative value's magnitude bits
 * are flipped, so that larger magnitudes order lower; the map is its own
 * inverse. */
static LLVMValueRef cg_llvm_key_flip(CgLlvm *m, TrartDtype t, LLVMValueRef bits)
{
	bool f = t == TRART_F32;
	LLVMTypeRef ity = cg_llvm_key_type(m, t);
	LLVMValueRef sign = LLVMBuildAShr(m->b, bits, LLVMConstInt(ity, f ? 31 : 63, 0), "");
	LLVMValueRef mask = LLVMBuildAnd(m->b, sign, LLVMConstInt(ity, f ? 0x7fffffffu : 0x7fffffffffffffffull, 0), "");
	return LLVMBuildXor(m->b, bits, mask, "");
}

CgLlvmValue cg_llvm_order_key(CgLlvm *m, TrartDtype t, CgLlvmValue v)
{
	return cg_llvm_key_flip(m, t, LLVMBuildBitCast(m->b, v, cg_llvm_key_type(m, t), ""));
}

CgLlvmValue cg_llvm_order_value(CgLlvm *m, TrartDtype t, CgLlvmValue key)
{
	return LLVMBuildBitCast(m->b, cg_llvm_key_flip(m, t, key), cg_llvm_type(m, t), "");
}

CgLlvmValue cg_llvm_bit_set(CgLlvm *m, CgLlvmValue v, CgLlvmValue i)
{
	LLVMValueRef bit = LLVMBuildAnd(m->b, LLVMBuildLShr(m->b, v, i, ""), LLVMConstInt(LLVMTypeOf(v), 1, 0), "");
	return LLVMBuildICmp(m->b, LLVMIntNE, bit, LLVMConstInt(LLVMTypeOf(v), 0, 0), "");
}

CgLlvmValue cg_llvm_sext(CgLlvm *m, CgLlvmValue v, CgLlvmType ty)
{
	return LLVMBuildSExt(m->b, v, ty, "");
}

/* ---- for llvm_blas.c ---- */

CgLlvmValue cg_llvm_iand(CgLlvm *m, CgLlvmValue a, CgLlvmValue b)
{
	return LLVMBuildAnd(m->b, a, b, "");
}

CgLlvmValue cg_llvm_trunc(CgLlvm *m, CgLlvmValue v, CgLlvmType ty)
{
	return LLVMBuildTrunc(m->b, v, ty, "");
}

CgLlvmValue cg_llvm_field(CgLlvm *m, CgLlvmType ty, CgLlvmValue p, int i)
{
	return LLVMBuildStructGEP2(m->b, ty, p, (unsigned)i, "");
}
