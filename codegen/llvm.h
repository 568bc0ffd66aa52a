/* codegen/llvm.h: the LLVM back end's foundation (codegen/llvm.c), for
 * code built with HAVE_LLVM only (configure --with-llvm).
 *
 * A CgLlvm is one module being built for the host: LLVM's context,
 * module and IR builder, and a target machine for the host's triple, CPU
 * and features at O3. On it, kernels are built from a few helpers:
 * functions over pointers and 64-bit integers, element loads and stores,
 * counted loops whose carried values make reductions, and the
 * branch-free exp, log, tanh and sigmoid of trart.h
 * (TRART_KERNEL_MATH) as IR. Then the module is verified, optimised by
 * the new pass manager at O3, printed, or written as an object file.
 *
 * The handle types below are LLVM's own (the structs behind llvm-c's
 * LLVMValueRef, LLVMTypeRef, LLVMBasicBlockRef) under trac's names, so
 * that only codegen/llvm.c includes the llvm-c headers. llvm_prog.h builds
 * whole programs on it (trac --backend=llvm).
 */
#ifndef TRAC_CG_LLVM_H
#define TRAC_CG_LLVM_H

#include "tra.h"

typedef struct LLVMOpaqueValue *CgLlvmValue;      /* an IR value */
typedef struct LLVMOpaqueType *CgLlvmType;        /* an IR type */
typedef struct LLVMOpaqueBasicBlock *CgLlvmBlock; /* a basic block */

/* A module under construction, with its target (see llvm.c). */
typedef struct CgLlvm CgLlvm;

/* The most values one loop carries (accumulators). */
#define CG_LLVM_MAX_CARRY 8

/* A counted loop `for (iv = lo; iv < hi; iv++)` under construction:
 * cg_llvm_loop_begin opens its body, cg_llvm_loop_end closes it. */
typedef struct CgLlvmLoop {
	CgLlvmValue iv;      /* the induction variable (i64), in the body */
	CgLlvmValue lo, hi;  /* the bounds (i64) */
	bool vectorize;      /* tagged llvm.loop.vectorize.enable */
	bool no_unroll;      /* tagged llvm.loop.unroll.disable (set after begin) */
	bool unroll_vectorised; /* ... only until vectorised: then LLVM may unroll the vector
	                        loop (set after begin: a reduction's, cg_llvm_sum_rolled) */
	bool scalar;         /* tagged llvm.loop.vectorize.width 1: not vectorised, where the
	                        vectoriser would gather (set after begin) */
	int width;           /* > 0: tagged llvm.loop.vectorize.width, the vector's lanes ... */
	bool predicate;      /* ... and llvm.loop.vectorize.predicate.enable: the last vector's
	                        lanes past the end masked, no scalar remainder (both set after
	                        begin: a map's short rows, cg_llvm_short_rows) */
	int interleave;      /* > 0: tagged llvm.loop.interleave.count, the vectors each pass
	                        of the vector loop runs (set after begin: a map's rows of a
	                        few vectors, cg_llvm_few_vectors) */
	CgLlvmBlock guard;   /* the block before: skips an empty loop */
	CgLlvmBlock body;    /* the first block of the body */
	int ncarry;
	CgLlvmValue init[CG_LLVM_MAX_CARRY]; /* a carried value before the loop */
	CgLlvmValue cur[CG_LLVM_MAX_CARRY];  /* ... in the body (a phi) */
	CgLlvmValue next[CG_LLVM_MAX_CARRY]; /* ... at the end of the body */
	CgLlvmValue out[CG_LLVM_MAX_CARRY];  /* ... after the loop (after end) */
} CgLlvmLoop;

/* A module named name for the host, or NULL with a message in err. */
CgLlvm *cg_llvm_new(const char *name, char *err, size_t errlen);
void cg_llvm_free(CgLlvm *m);
/* What LLVM reported of the host, as the target machine uses it. */
const char *cg_llvm_triple(const CgLlvm *m);
const char *cg_llvm_cpu(const CgLlvm *m);      /* "generic" where LLVM 14 knows it not */
const char *cg_llvm_features(const CgLlvm *m); /* "+avx2,+fma,-avx512f,..." */
/* The bytes of the widest vector the kernels use: 64 with AVX-512, 32
 * with AVX, else 16. */
int cg_llvm_vector_bytes(const CgLlvm *m);

/* Types. */
CgLlvmType cg_llvm_type(CgLlvm *m, TrartDtype t); /* float or double */
CgLlvmType cg_llvm_i64(CgLlvm *m);
CgLlvmType cg_llvm_ptr(CgLlvm *m, CgLlvmType elem);

/* Starts an external function `void name(params...)` and puts the
 * builder in its entry block; its floating point may be reassociated
 * only where loops say so (see llvm.c). */
CgLlvmValue cg_llvm_function(CgLlvm *m, const char *name, const CgLlvmType *params, int nparams);
/* Parameter i of the function being built. */
CgLlvmValue cg_llvm_param(CgLlvm *m, int i);
/* Marks pointer parameter i noalias: nothing else it is given reaches
 * the same memory (a kernel's distinct tensors). */
void cg_llvm_param_noalias(CgLlvm *m, int i);
/* Ends the function being built with `ret void`. */
void cg_llvm_return(CgLlvm *m);

/* Values. */
CgLlvmValue cg_llvm_const(CgLlvm *m, TrartDtype t, double v);
CgLlvmValue cg_llvm_const_i64(CgLlvm *m, int64_t v);
CgLlvmValue cg_llvm_iadd(CgLlvm *m, CgLlvmValue a, CgLlvmValue b); /* i64, no wrap */
CgLlvmValue cg_llvm_imul(CgLlvm *m, CgLlvmValue a, CgLlvmValue b);
/* a op b for op ADD, SUB, MUL or DIV, on floating-point values. */
CgLlvmValue cg_llvm_arith(CgLlvm *m, TraOp op, CgLlvmValue a, CgLlvmValue b);
/* base[index] for a pointer to t and an i64 index; the store writes v. */
CgLlvmValue cg_llvm_load(CgLlvm *m, TrartDtype t, CgLlvmValue base, CgLlvmValue index);
void cg_llvm_store(CgLlvm *m, TrartDtype t, CgLlvmValue base, CgLlvmValue index, CgLlvmValue v);
/* op (EXP, LOG, TANH or SIGMOID) of x in t: a call of the module's
 * internal, always-inlined function with trart.h's branch-free code. */
CgLlvmValue cg_llvm_math(CgLlvm *m, TraOp op, TrartDtype t, CgLlvmValue x);

/* Counted loops. vectorize tags the loop llvm.loop.vectorize.enable,
 * which also lets the vectoriser reorder its floating-point reductions
 * (LLVM 14's C API sets no fast-math flags); tag innermost loops only:
 * a tagged loop that stays scalar is a warning (cg_llvm_warnings). */
void cg_llvm_loop_begin(CgLlvm *m, CgLlvmLoop *l, CgLlvmValue lo, CgLlvmValue hi, bool vectorize);
/* A value carried around the loop from init: returns its number k, and
 * l->cur[k] is its value in the body; set l->next[k] before the end. */
int cg_llvm_loop_carry(CgLlvm *m, CgLlvmLoop *l, CgLlvmValue init);
/* Closes the body; the builder continues after the loop, where l->out[k]
 * is each carried value (init when the loop ran no iteration). */
void cg_llvm_loop_end(CgLlvm *m, CgLlvmLoop *l);

/* The module as a whole. Each returns false with a message in err. */
bool cg_llvm_verify(CgLlvm *m, char *err, size_t errlen);
bool cg_llvm_optimize(CgLlvm *m, char *err, size_t errlen);  /* default<O3> */
/* Every defined function gets sanitize_thread, then ThreadSanitizer's
 * passes instrument them: what clang -fsanitize=thread runs after its
 * optimisations. The program must link with -fsanitize=thread. */
bool cg_llvm_instrument_tsan(CgLlvm *m, char *err, size_t errlen);
bool cg_llvm_emit_object(CgLlvm *m, const char *path, char *err, size_t errlen);
/* The warnings LLVM gave so far (a loop tagged for vectorisation that
 * stayed scalar, say) instead of printing them: how many, and in *first
 * (if first is not NULL) the first one's text, or NULL. */
int cg_llvm_warnings(const CgLlvm *m, const char **first);
/* The module's IR as text. */
void cg_llvm_dump(CgLlvm *m, FILE *out);

/* ---- for llvm_prog.c ---- */

/* The program's tables and entry points: integer, struct and array
 * types, globals with constant initialisers, functions that return a
 * value, calls, allocas and branches. */

CgLlvmType cg_llvm_int(CgLlvm *m, int bits);      /* i1, i8, i32, i64 */
CgLlvmType cg_llvm_void(CgLlvm *m);
/* A named struct type with the C ABI layout of its fields (the data
 * layout's alignment; no packing), as the C compiler lays out a struct
 * of the same members. */
CgLlvmType cg_llvm_struct(CgLlvm *m, const char *name, const CgLlvmType *fields, int nfields);
CgLlvmType cg_llvm_array(CgLlvm *m, CgLlvmType elem, int64_t n);
CgLlvmType cg_llvm_fn_type(CgLlvm *m, CgLlvmType ret, const CgLlvmType *params, int nparams);
/* A value's type. */
CgLlvmType cg_llvm_type_of(CgLlvmValue v);
/* The ABI size of ty and the offset of field i of struct type ty, in bytes,
 * as the module's data layout (the host's) has them. */
uint64_t cg_llvm_abi_size(CgLlvm *m, CgLlvmType ty);
uint64_t cg_llvm_abi_offset(CgLlvm *m, CgLlvmType ty, int field);

/* Constants. */
CgLlvmValue cg_llvm_const_int(CgLlvm *m, CgLlvmType ty, int64_t v);
CgLlvmValue cg_llvm_const_null(CgLlvmType ty);     /* zero of any type, a null pointer */
CgLlvmValue cg_llvm_const_array(CgLlvm *m, CgLlvmType elem, const CgLlvmValue *v, int n);
CgLlvmValue cg_llvm_const_struct(CgLlvm *m, CgLlvmType ty, const CgLlvmValue *v, int n);
/* A pointer (i8*) to a private constant NUL-terminated copy of s. */
CgLlvmValue cg_llvm_const_string(CgLlvm *m, const char *s);
/* &global[0][i]: a constant pointer to element i of a global array. */
CgLlvmValue cg_llvm_const_elem(CgLlvm *m, CgLlvmValue global, int64_t i);
/* A constant v seen as pointer type ty (a function as a table's field). */
CgLlvmValue cg_llvm_const_cast(CgLlvmValue v, CgLlvmType ty);

/* A global named name of type ty: internal, or external (visible to the
 * linker) if external; constant if constant; zero until its initialiser
 * is set. */
CgLlvmValue cg_llvm_global(CgLlvm *m, const char *name, CgLlvmType ty, bool external, bool constant);
void cg_llvm_global_init(CgLlvmValue global, CgLlvmValue init);
/* The function named name in the module, or NULL. */
CgLlvmValue cg_llvm_named_function(CgLlvm *m, const char *name);
/* Declares the external function name of type fnty (or returns it). */
CgLlvmValue cg_llvm_declare(CgLlvm *m, const char *name, CgLlvmType fnty);
/* Gives function or global v internal linkage. */
void cg_llvm_internal(CgLlvmValue v);
/* Keeps the function being built out of its callers (noinline). */
void cg_llvm_noinline(CgLlvm *m);

/* Starts an external function `ret name(params...)` (cg_llvm_function
 * for one that returns a value); cg_llvm_return_value ends it. */
CgLlvmValue cg_llvm_function_ret(CgLlvm *m, const char *name, CgLlvmType ret, const CgLlvmType *params,
                                 int nparams);
void cg_llvm_return_value(CgLlvm *m, CgLlvmValue v);
/* fn(args...), fn of function type fnty. */
CgLlvmValue cg_llvm_call(CgLlvm *m, CgLlvmType fnty, CgLlvmValue fn, const CgLlvmValue *args, int n);
/* A stack slot of type ty in the function's entry block. */
CgLlvmValue cg_llvm_alloca(CgLlvm *m, CgLlvmType ty);
/* &base[i] for a pointer base to elem, and a load or store through a
 * pointer p of type ty. */
CgLlvmValue cg_llvm_gep(CgLlvm *m, CgLlvmType elem, CgLlvmValue base, CgLlvmValue i);
CgLlvmValue cg_llvm_load_ptr(CgLlvm *m, CgLlvmType ty, CgLlvmValue p);
void cg_llvm_store_ptr(CgLlvm *m, CgLlvmValue v, CgLlvmValue p);
/* v as pointer type ty. */
CgLlvmValue cg_llvm_bitcast(CgLlvm *m, CgLlvmValue v, CgLlvmType ty);
/* Vectors of n lanes of elem: the type, all lanes undefined, v with lane i
 * replaced by x, and x in every lane. */
CgLlvmType cg_llvm_vec_type(CgLlvm *m, CgLlvmType elem, int n);
CgLlvmValue cg_llvm_vec_undef(CgLlvm *m, CgLlvmType elem, int n);
CgLlvmValue cg_llvm_vec_insert(CgLlvm *m, CgLlvmValue v, CgLlvmValue x, int i);
CgLlvmValue cg_llvm_vec_splat(CgLlvm *m, CgLlvmValue x, int n);
/* v's lanes [from, from + n), as a vector of n lanes; v's lane i. */
CgLlvmValue cg_llvm_vec_lanes(CgLlvm *m, CgLlvmValue v, int from, int n);
CgLlvmValue cg_llvm_vec_extract(CgLlvm *m, CgLlvmValue v, int i);
/* Prefetches the cache line at pointer p for reading (llvm.prefetch). */
void cg_llvm_prefetch(CgLlvm *m, CgLlvmValue p);
/* Blocks and branches in the function being built. */
CgLlvmBlock cg_llvm_block(CgLlvm *m, const char *name);
void cg_llvm_position(CgLlvm *m, CgLlvmBlock b);
/* The block the builder adds to. */
CgLlvmBlock cg_llvm_insert_block(CgLlvm *m);
/* Where the builder is, at the start of a block that x and y branch to:
 * a from x, b from y. */
CgLlvmValue cg_llvm_phi2(CgLlvm *m, CgLlvmValue a, CgLlvmBlock x, CgLlvmValue b, CgLlvmBlock y);
void cg_llvm_br(CgLlvm *m, CgLlvmBlock to);
/* if p is a null pointer go to yes, else to no. */
void cg_llvm_br_null(CgLlvm *m, CgLlvmValue p, CgLlvmBlock yes, CgLlvmBlock no);

/* ---- for llvm_kernels.c ---- */

/* The scalar operations of TRA expressions, as codegen/c.c's C computes
 * them (the element type's arithmetic, C's comparisons). */
CgLlvmValue cg_llvm_fneg(CgLlvm *m, CgLlvmValue x);
/* a op b for a comparison op (LT, LE, GT, GE, EQ, NE) as C's operator on
 * floating point: false where either is NaN, but for != (true): an i1. */
CgLlvmValue cg_llvm_fcmp(CgLlvm *m, TraOp op, CgLlvmValue a, CgLlvmValue b);
/* c ? a : b for an i1 c. */
CgLlvmValue cg_llvm_select(CgLlvm *m, CgLlvmValue c, CgLlvmValue a, CgLlvmValue b);
/* An i1 as 0 or 1 in t (C's (T)(a < b)); an i64 as t (C's (T)x). */
CgLlvmValue cg_llvm_from_bool(CgLlvm *m, TrartDtype t, CgLlvmValue c);
CgLlvmValue cg_llvm_from_i64(CgLlvm *m, TrartDtype t, CgLlvmValue i);
/* A gather's position v (i64), checked: at or beyond size, the program
 * calls trart_gather_fail (naming index, its element at, table and dim)
 * and never returns; else it goes on with v. */
CgLlvmValue cg_llvm_gather_check(CgLlvm *m, CgLlvmValue v, int64_t size, const char *index, int rank,
                                 const int64_t *shape, CgLlvmValue at, const char *table, int dim);
/* v of type from as type to (interp_convert's rules). */
CgLlvmValue cg_llvm_convert(CgLlvm *m, CgLlvmValue v, TrartDtype from, TrartDtype to);
/* sqrt and fabs of x: the intrinsics, vector instructions. */
CgLlvmValue cg_llvm_sqrt(CgLlvm *m, CgLlvmValue x);
CgLlvmValue cg_llvm_fabs(CgLlvm *m, CgLlvmValue x);
/* floor, ceil or round (ties to even: llvm.rint, as C's rint) of x. */
CgLlvmValue cg_llvm_rounding(CgLlvm *m, TraOp op, CgLlvmValue x);
/* x^y in t: trart.h's trart_pow_float or _double as IR, operation for
 * operation (an internal always-inlined trac.pow.f32 or .f64). */
CgLlvmValue cg_llvm_pow(CgLlvm *m, TrartDtype t, CgLlvmValue x, CgLlvmValue y);

/* Integers, pointers and control flow for loop kernels. */
/* a op b for a comparison op (LT ... NE) on integers, signed: an i1. */
CgLlvmValue cg_llvm_icmp(CgLlvm *m, TraOp op, CgLlvmValue a, CgLlvmValue b);
/* 0 <= v < size for an i64 v, as one unsigned compare: an i1. */
CgLlvmValue cg_llvm_icmp_below(CgLlvm *m, CgLlvmValue v, int64_t size);
CgLlvmValue cg_llvm_isub(CgLlvm *m, CgLlvmValue a, CgLlvmValue b);  /* no wrap */
CgLlvmValue cg_llvm_idiv(CgLlvm *m, CgLlvmValue a, CgLlvmValue b);  /* signed, truncating */
CgLlvmValue cg_llvm_ior(CgLlvm *m, CgLlvmValue a, CgLlvmValue b);   /* bitwise or */
/* An integer widened to ty, signed. */
CgLlvmValue cg_llvm_sext(CgLlvm *m, CgLlvmValue v, CgLlvmType ty);
/* An i1 as 0 or 1 of integer type ty. */
CgLlvmValue cg_llvm_zext(CgLlvm *m, CgLlvmValue v, CgLlvmType ty);
/* A pointer as an i64 (its address), for pointer differences. */
CgLlvmValue cg_llvm_ptr_to_i64(CgLlvm *m, CgLlvmValue p);
/* The number of trailing one bits of the i64 k. */
CgLlvmValue cg_llvm_trailing_ones(CgLlvm *m, CgLlvmValue k);
/* The bits of the i64 k up to its highest one bit (64 - ctlz): 0 for 0. */
CgLlvmValue cg_llvm_bit_length(CgLlvm *m, CgLlvmValue k);
/* Whether bit i of the i64 v is set (v >> i & 1): an i1. */
CgLlvmValue cg_llvm_bit_set(CgLlvm *m, CgLlvmValue v, CgLlvmValue i);
/* if c (an i1) go to yes, else to no. */
void cg_llvm_br_if(CgLlvm *m, CgLlvmValue c, CgLlvmBlock yes, CgLlvmBlock no);
/* A float or double v as a signed integer of its width that orders as v
 * does (v < w exactly when key(v) < key(w), -0 below +0; NaNs beyond the
 * infinities), and back. LLVM 14 vectorises a max or min reduction of
 * floating point only where NaNs are ruled out for the whole function,
 * which would also let it fold away the NaN tests; a max or min of
 * integers vectorises as it is. */
CgLlvmValue cg_llvm_order_key(CgLlvm *m, TrartDtype t, CgLlvmValue v);
CgLlvmValue cg_llvm_order_value(CgLlvm *m, TrartDtype t, CgLlvmValue key);
/* The integer type of t's keys (i32 or i64). */
CgLlvmType cg_llvm_key_type(CgLlvm *m, TrartDtype t);

/* ---- for llvm_blas.c ---- */

/* The i1 a && b (or the bitwise and of two integers). */
CgLlvmValue cg_llvm_iand(CgLlvm *m, CgLlvmValue a, CgLlvmValue b);
/* An integer v cut to the narrower integer type ty (an i64 as a C int). */
CgLlvmValue cg_llvm_trunc(CgLlvm *m, CgLlvmValue v, CgLlvmType ty);
/* &p->field i, for a pointer p to struct type ty. */
CgLlvmValue cg_llvm_field(CgLlvm *m, CgLlvmType ty, CgLlvmValue p, int i);

#endif /* TRAC_CG_LLVM_H */
