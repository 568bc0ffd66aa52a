/* codegen/llvm_prog.h: the LLVM back end's program builder, for code
 * built with HAVE_LLVM only. Three files share it, none of which
 * includes llvm-c (codegen/llvm.c wraps LLVM's C API, llvm.h):
 *
 *   codegen/llvm_prog.c     the module: the tables block kernels read
 *                           (declared first, filled last), every kernel of
 *                           the KplanProgram in plan order, the program's
 *                           tables (TrartTask, TrartTensor, TrartKernel,
 *                           TrartProgram), main() or library mode's NAME();
 *                           verification, O3, IR dumps, the object file.
 *   codegen/llvm_kernels.c  loop nests, row groups, aggregations of split
 *                           blocks, and the scalar code of every TraExpr.
 *   codegen/llvm_blas.c     kernels that are cblas_?gemm/?gemv calls, their
 *                           operand copies and their epilogues.
 *
 * A back end renders plans (kplan.h): nothing here re-decides what a
 * Kplan says. The IR computes what codegen/c.c's C computes, kernel for
 * kernel, so the two back ends agree to rounding.
 *
 * Names in the module (every kernel and table has internal linkage; only
 * main, or NAME, NAME_inputs and NAME_outputs in library mode, are
 * visible):
 *   block kernels   void (i8** bufs, TrartTask* task)
 *     "b<node>"     a KPLAN_BLAS, KPLAN_LOOPS or KPLAN_SCATTER kernel with k->block
 *     "a<node>"     a KPLAN_AGG kernel
 *     "r<lead>"     a KPLAN_ROWS kernel
 *     "trac_nop"    KPLAN_NOP (input leaves, repartitions)
 *   whole-node kernels (ia NULL)  void (i8** bufs)
 *     "k<node>"     KPLAN_BLAS, KPLAN_ROWS (its leader), KPLAN_LOOPS of rank 0,
 *                   KPLAN_SCATTER
 * Helper functions a kernel makes for itself (parallel-for bodies, row
 * functions) are named "<kernel>.<what>".
 */
#ifndef TRAC_CG_LLVM_PROG_H
#define TRAC_CG_LLVM_PROG_H

#include "kplan.h"
#include "llvm.h"

/* A program's module under construction. */
typedef struct CgLlvmProg {
	CgLlvm *m;
	const TraGraph *g;
	const KplanProgram *kp;
	const CgCOptions *opt; /* name, library mode, ia (NULL: whole-node kernels) */
	/* The block task tables (ia only; NULL otherwise), declared by
	 * llvm_prog.c before any kernel is built, as in the C back end:
	 *   tasks    [ntasks x TrartTask]: a task's number is
	 *            (task - tasks) / sizeof(TrartTask)
	 *   nparts   [ntasks x i32]: the partial joins an aggregation combines
	 *   parts    [ntasks x i32*]: their task numbers */
	CgLlvmValue tasks, nparts, parts;
} CgLlvmProg;

/* ---- llvm_prog.c ------------------------------------------------------------- */

/* trart.h's structs are IR struct types named as in C ("TrartTask",
 * "TrartTensor", "TrartKernel", "TrartProgram", "TrartTaskGraph", and
 * "trac_tensor_info"), made before any kernel: a kernel that needs one
 * finds it by name in the module's context. Whether the IR types have
 * the C compiler's sizes and field offsets (module m gets the types):
 * false with the first difference in err. cg_llvm_emit (tra.h) checks
 * it before it builds a program. */
bool cg_llvm_prog_layout(CgLlvm *m, char *err, size_t errlen);

/* ---- llvm_kernels.c --------------------------------------------------------- */

/* A LET's value, bound while its body is built (innermost first). */
typedef struct CgLlvmLet {
	int let;                      /* the LET's expression id, as its VARs name it */
	CgLlvmValue value;
	const struct CgLlvmLet *next; /* the LETs around it */
} CgLlvmLet;

/* Where a kernel's scalar code gets its values. */
typedef struct CgLlvmEnv {
	const TraNode *n;
	CgLlvmValue x[TRA_MAX_STMT_INDICES]; /* each index of n's join space (i64), where bound */
	CgLlvmValue *in;                      /* operand k's buffer (a pointer to n's element type) */
	CgLlvmValue acc;                      /* TRA_OP_ACC: the aggregate, or NULL */
	const CgLlvmLet *lets;                /* TRA_OP_VAR: the LETs around it, or NULL */
} CgLlvmEnv;

/* The offset of an element of node src, its dimension d at index
 * value x[idx[d]] (an operand's subscripts), or x[d] where idx is NULL
 * (the node's own element): C-order strides (tra_node_stride). */
CgLlvmValue cg_llvm_element_offset(CgLlvm *m, const TraNode *src, const int *idx, const CgLlvmValue *x);
/* Loads task->lo[x] and task->hi[x] for x < count (the task's ndim)
 * into lo[x] and hi[x], where the builder is: a block kernel does this
 * once, where it starts, since inside a loop that stores to memory LLVM
 * cannot tell apart from the task (an output that is not a noalias
 * parameter, a BLAS call) the loads would be repeated after every
 * store. task is the kernel's i8* parameter (the C compiler's offsets
 * of TrartTask's fields). */
void cg_llvm_task_block(CgLlvm *m, CgLlvmValue task, int count, CgLlvmValue *lo, CgLlvmValue *hi);
/* A call of the external function name (the runtime's, cblas_*) of type
 * ret(params), however the module first declared it (a pointer cast
 * makes the types agree). */
CgLlvmValue cg_llvm_extern_call(CgLlvm *m, const char *name, CgLlvmType ret, const CgLlvmType *params, int np,
                                const CgLlvmValue *args);
/* A split join's partial block, bufs[nnodes + the task's number]
 * (KPLAN_PARTIAL), as a T*. */
CgLlvmValue cg_llvm_partial_block(CgLlvmProg *p, CgLlvmValue bufs, CgLlvmValue task, TrartDtype t);
/* What a block kernel indexes its tensors in (cg_c_block_head): bufs
 * itself, or where some task views a tensor's block (memgraph.h,
 * MG_BLOCK), trart_task_bufs's array on the kernel's stack. Partial
 * blocks are still read from bufs. */
CgLlvmValue cg_llvm_task_bufs(CgLlvmProg *p, CgLlvmValue bufs, CgLlvmValue task);
/* c.c's TracCtx {bufs, acc, base}, what a parallel-for body gets; one on
 * the stack (acc NULL: none), as an i8*; trart_parallel_for(count, body,
 * ctx), which runs body(lo, hi, ctx) over [0, count) across threads. */
CgLlvmType cg_llvm_ctx_type(CgLlvm *m);
CgLlvmValue cg_llvm_ctx(CgLlvm *m, CgLlvmValue bufs, CgLlvmValue acc, CgLlvmValue base);
void cg_llvm_parallel_for(CgLlvm *m, CgLlvmValue count, CgLlvmValue body, CgLlvmValue ctx);
/* Expression e of env->n, at the indices env binds. */
CgLlvmValue cg_llvm_expr(CgLlvmProg *p, const CgLlvmEnv *env, int e);
/* Builds kernel k (a KPLAN_LOOPS, KPLAN_ROWS, KPLAN_AGG, KPLAN_SCATTER or
 * KPLAN_NOP plan; whole-node or block as p->opt->ia says), under the names above.
 * A whole-node KPLAN_LOOPS member of a row group builds nothing: its
 * group's kernel runs it. */
void cg_llvm_loops_kernel(CgLlvmProg *p, const Kplan *k);

/* ---- llvm_blas.c ------------------------------------------------------------- */

/* Builds KPLAN_BLAS kernel k, whole-node or block. */
void cg_llvm_blas_kernel(CgLlvmProg *p, const Kplan *k);

#endif /* TRAC_CG_LLVM_PROG_H */
