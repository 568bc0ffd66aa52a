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
 *     "b<node>"     a KPLAN_BLAS or KPLAN_LOOPS kernel with k->block
 *     "a<node>"     a KPLAN_AGG kernel
 *     "r<lead>"     a KPLAN_ROWS kernel
 *     "trac_nop"    KPLAN_NOP (input leaves, repartitions)
 *   whole-node kernels (ia NULL)  void (i8** bufs)
 *     "k<node>"     KPLAN_BLAS, KPLAN_ROWS (its leader), KPLAN_LOOPS of rank 0
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
	 *   partial  [ntasks x i8*], zeroed: a split join's partial block
	 *   nparts   [ntasks x i32]: the partial joins an aggregation combines
	 *   parts    [ntasks x i32*]: their task numbers */
	CgLlvmValue tasks, partial, nparts, parts;
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

/* Expression e of env->n, at the indices env binds. */
CgLlvmValue cg_llvm_expr(CgLlvmProg *p, const CgLlvmEnv *env, int e);
/* Builds kernel k (a KPLAN_LOOPS, KPLAN_ROWS, KPLAN_AGG or KPLAN_NOP
 * plan; whole-node or block as p->opt->ia says), under the names above.
 * A whole-node KPLAN_LOOPS member of a row group builds nothing: its
 * group's kernel runs it. */
void cg_llvm_loops_kernel(CgLlvmProg *p, const Kplan *k);

/* ---- llvm_blas.c ------------------------------------------------------------- */

/* Builds KPLAN_BLAS kernel k, whole-node or block. */
void cg_llvm_blas_kernel(CgLlvmProg *p, const Kplan *k);

#endif /* TRAC_CG_LLVM_PROG_H */
