/* codegen/c.h: the C renderer's parts that codegen/cuda.c shares.
 *
 * CUDA C is C within a kernel: the CUDA back end prints a block's scalar
 * code (expressions, operand offsets, the reduction loops over the
 * block's ranges, the store) with the same functions as the C back end,
 * so that the two never disagree on what an element is. What differs,
 * the grid, the launches and cuBLAS, is cuda.c's own.
 */
#ifndef TRAC_CODEGEN_C_H
#define TRAC_CODEGEN_C_H

#include "tra.h"
#include "kplan.h"

#include <stdio.h>

/* The emitter's state. */
typedef struct CgC {
	const TraGraph *g;
	FILE *out;
	const CgCOptions *opt;
	const KplanProgram *kp; /* what every kernel runs (kplan.c decided) */
	const int *leader;      /* kp->leader: per node, the first node of its row group */
	const char *all;        /* what block kernels read partial blocks from: "bufs", or
	                           "all" where some task views a tensor's block (its
	                           kernel indexes tensors in trart_task_bufs's array) */
	bool gpu;               /* cuda.c prints: a thread's loops, no OpenMP pragmas */
	bool lanes;             /* cuda.c's warp and block reductions: the innermost
	                           reduced loop is shared by nlanes threads (lane,
	                           lane + nlanes, ...), each with its own acc */
} CgC;

/* A warp's lanes (cuda.c). */
#define CG_LANES 32

/* Where a loop kernel's aggregate comes from. */
typedef enum CgAcc {
	CG_ACC_REDUCE,  /* reduction loops over the join (or the join itself for a map) */
	CG_ACC_OUTPUT,  /* the output buffer already holds it (a GEMM's result) */
	CG_ACC_SCRATCH, /* ctx->acc holds it in C order of the output indices */
} CgAcc;

/* The generated file's helpers (max, min, relu, pairwise sums, integer
 * division, abs and sign, conversions), each declared TRAC_FN, which the
 * file defines first: static inline in C, a device function in CUDA;
 * and trac_clamp, a padded read's position. */
extern const char cg_c_helpers_text[];

/* The C type of a dtype: float, double, int32_t, int64_t. */
const char *cg_c_type(TrartDtype t);
/* The type of operand k's producer: a view's may differ from n's. */
const char *cg_c_in_type(const CgC *c, const TraNode *n, int k);
/* Expression e of node n, as C over in<k>[...], x<i> and acc. */
void cg_c_expr(CgC *c, const TraNode *n, int e);
/* The element offset of operand k at the loop variables x0, x1, ... */
void cg_c_offset(CgC *c, const TraNode *n, int k);
/* The offset of the output element at x0 .. x(rank-1). */
void cg_c_out_offset(CgC *c, const TraNode *n);
void cg_c_indent(CgC *c, int depth);
/* Closes the loops opened at depths to .. from - 1. */
void cg_c_close_loops(CgC *c, int from, int to);
/* An accumulator's initial value (an aggregation's identity), as C. */
const char *cg_c_init(double v);
/* Node n's loop nest, as its kernel plan says. */
const KplanNest *cg_c_nest(const CgC *c, const TraNode *n);
/* acc = combine(acc, join) for one join point, at depth. */
void cg_c_combine(CgC *c, const TraNode *n, int depth);
/* out[this element] = the epilogue of acc (or acc itself). */
void cg_c_store(CgC *c, const TraNode *n);
/* A max or min that saw a NaN is NaN (the flag cg_c_combine keeps). */
void cg_c_nan_fixup(CgC *c, int depth);
/* Declares acc and aggregates the join into it over the reduced indices
 * (over the block's ranges lo[] and hi[] if block), at depth. */
void cg_c_reduce(CgC *c, const TraNode *n, int depth, bool block);
/* BLAS's beta in a block, its extent of a group, a sub-matrix's offset,
 * and the largest block of an index (what a block's copy has room for). */
void cg_c_block_beta(CgC *c, const GemmPlan *p);
void cg_c_block_extent(CgC *c, const GemmGroup *g);
void cg_c_block_offset(CgC *c, const TraNode *n, const GemmPlan *p, const GemmMatrix *M);
int64_t cg_c_block_room(const TraNode *n, int x);
/* `for (int64_t xX = lo[X]; xX < hi[X]; xX++) {` at depth: index x over
 * the block's range. */
void cg_c_block_loop(CgC *c, int x, int depth);
/* A scatter-add's nest (KPLAN_SCATTER), out[position] += join, at
 * depth: over the block's ranges if block, else its split loop over
 * [lo, hi); out, in<k> (and lo, hi) declared by the caller. */
void cg_c_scatter_nest(CgC *c, const TraNode *n, const KplanNest *L, bool block, int depth);
/* ls[]: the local strides of n's block (a partial block's layout). */
void cg_c_block_local_strides(CgC *c, const TraNode *n);
/* Where a block's BLAS call writes: "part + (..." (split) or "out + (...",
 * the closing parenthesis left to the caller. */
void cg_c_block_target(CgC *c, const TraNode *n, const GemmPlan *p, bool split);

#endif /* TRAC_CODEGEN_C_H */
