/* codegen/llvm_prog.c: the LLVM back end's program builder.
 * needs: a verified TraGraph after the passes (and, for block tasks, its
 * placed IaGraph); llvm_kernels.c and llvm_blas.c for the kernels;
 * llvm.c for IR. gives: cg_llvm_emit (tra.h): the program as one LLVM
 * module (IR dumps before and after O3) and as an object file that,
 * linked with libtrart and OpenBLAS, is what codegen/c.c's C compiles to.
 *
 * The module holds what cg_c_emit prints, in the same order: the block
 * task tables the kernels read (declared before any kernel, filled after
 * them, since their initialisers name the kernels), every kernel of the
 * KplanProgram in plan order, then the constant tables of trart.h
 * (TrartTask rows with their lo/hi/succ/parts/use arrays and, on MPI
 * ranks, their TrartPiece lists, the pooled bytes, TrartTaskGraph, the
 * shapes, TrartTensor, TrartKernel, TrartProgram) and main() calling
 * trart_main (trart_mpi_main on ranks), or in library mode the exported
 * NAME(inputs, outputs, threads) with NAME_inputs and NAME_outputs.
 *
 * trart.h's structs are built as IR struct types field by field; the C
 * compiler that builds trac knows their real layout, so every field's
 * offset and every size is checked against offsetof and sizeof
 * (cg_llvm_prog_layout) before a module is built: a mismatch would make
 * the runtime read garbage, so it is trac's bug, reported, never
 * emitted. Function pointers in the tables are i8* (the same size and
 * alignment in C): kernels are cast to it, whatever type their builder
 * gave their task parameter.
 */
#include "llvm_prog.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "memgraph.h"

/* trart.h's types as IR, and the builder's state beside CgLlvmProg. */
typedef struct CgLlvmTypes {
	CgLlvmType i8p, i32, i64, f64, i32p, i64p, i8pp;
	CgLlvmType task, tensor, kernel, program, graph, info, memop, view, piece;
} CgLlvmTypes;

typedef struct CgLlvmBuild {
	CgLlvmProg p;
	CgLlvmTypes t;
	CgLlvmValue *names; /* per node: its name as a constant string, once made */
	CgLlvmValue *shapes; /* per node: its shape<id> global */
	CgLlvmValue program; /* trac_program */
} CgLlvmBuild;

/* ---- trart.h's structs ----------------------------------------------------- */

/* One struct: its IR fields, and the C compiler's size and offsets. */
typedef struct CgLlvmLayout {
	const char *name;
	size_t size;
	int nfields;
	size_t offset[20];
} CgLlvmLayout;

#define CG_OFF(s, f) offsetof(s, f)

static const CgLlvmLayout cg_llvm_layouts[] = {
	{"TrartTask", sizeof(TrartTask), 20,
	 {CG_OFF(TrartTask, fn), CG_OFF(TrartTask, lo), CG_OFF(TrartTask, hi), CG_OFF(TrartTask, ndim),
	  CG_OFF(TrartTask, name), CG_OFF(TrartTask, device), CG_OFF(TrartTask, priority),
	  CG_OFF(TrartTask, npred), CG_OFF(TrartTask, nsucc), CG_OFF(TrartTask, succ),
	  CG_OFF(TrartTask, flops), CG_OFF(TrartTask, bytes), CG_OFF(TrartTask, nuse),
	  CG_OFF(TrartTask, use), CG_OFF(TrartTask, out_bytes), CG_OFF(TrartTask, mem),
	  CG_OFF(TrartTask, nview), CG_OFF(TrartTask, view), CG_OFF(TrartTask, npiece),
	  CG_OFF(TrartTask, piece)}},
	{"TrartTensor", sizeof(TrartTensor), 6,
	 {CG_OFF(TrartTensor, name), CG_OFF(TrartTensor, dtype), CG_OFF(TrartTensor, rank),
	  CG_OFF(TrartTensor, shape), CG_OFF(TrartTensor, kind), CG_OFF(TrartTensor, random_below)}},
	{"TrartKernel", sizeof(TrartKernel), 5,
	 {CG_OFF(TrartKernel, name), CG_OFF(TrartKernel, fn), CG_OFF(TrartKernel, out),
	  CG_OFF(TrartKernel, flops), CG_OFF(TrartKernel, bytes)}},
	{"TrartProgram", sizeof(TrartProgram), 9,
	 {CG_OFF(TrartProgram, name), CG_OFF(TrartProgram, version), CG_OFF(TrartProgram, ntensors),
	  CG_OFF(TrartProgram, tensors), CG_OFF(TrartProgram, nkernels), CG_OFF(TrartProgram, kernels),
	  CG_OFF(TrartProgram, tasks), CG_OFF(TrartProgram, nfeeds), CG_OFF(TrartProgram, feeds)}},
	{"TrartTaskGraph", sizeof(TrartTaskGraph), 12,
	 {CG_OFF(TrartTaskGraph, ntasks), CG_OFF(TrartTaskGraph, tasks), CG_OFF(TrartTaskGraph, nbufs),
	  CG_OFF(TrartTaskGraph, pooled), CG_OFF(TrartTaskGraph, ncaller), CG_OFF(TrartTaskGraph, arena),
	  CG_OFF(TrartTaskGraph, offset), CG_OFF(TrartTaskGraph, spill), CG_OFF(TrartTaskGraph, nranks),
	  CG_OFF(TrartTaskGraph, rank_devices), CG_OFF(TrartTaskGraph, ngpus), CG_OFF(TrartTaskGraph, bytes)}},
	{"TrartMemOp", sizeof(TrartMemOp), 5,
	 {CG_OFF(TrartMemOp, kind), CG_OFF(TrartMemOp, buf), CG_OFF(TrartMemOp, offset), CG_OFF(TrartMemOp, bytes),
	  CG_OFF(TrartMemOp, spill)}},
	{"TrartView", sizeof(TrartView), 3,
	 {CG_OFF(TrartView, node), CG_OFF(TrartView, buf), CG_OFF(TrartView, begin)}},
	{"TrartPiece", sizeof(TrartPiece), 5,
	 {CG_OFF(TrartPiece, buf), CG_OFF(TrartPiece, elsize), CG_OFF(TrartPiece, ndim), CG_OFF(TrartPiece, host),
	  CG_OFF(TrartPiece, dims)}},
	/* library mode's trac_tensor_info (c.c's header): name, dtype, rank, shape */
	{"trac_tensor_info", CG_OFF(TrartTensor, kind), 4,
	 {CG_OFF(TrartTensor, name), CG_OFF(TrartTensor, dtype), CG_OFF(TrartTensor, rank),
	  CG_OFF(TrartTensor, shape)}},
};

#undef CG_OFF

/* The struct types, in the order of cg_llvm_layouts. Pointers to
 * structs are i8* where a field's pointee never matters to the IR (the
 * runtime reads them). */
static void cg_llvm_prog_types(CgLlvm *m, CgLlvmTypes *t)
{
	t->i32 = cg_llvm_int(m, 32);
	t->i64 = cg_llvm_i64(m);
	t->f64 = cg_llvm_type(m, TRART_F64);
	t->i8p = cg_llvm_ptr(m, cg_llvm_int(m, 8));
	t->i8pp = cg_llvm_ptr(m, t->i8p);
	t->i32p = cg_llvm_ptr(m, t->i32);
	t->i64p = cg_llvm_ptr(m, t->i64);
	CgLlvmType task[] = {t->i8p, t->i64p, t->i64p, t->i32, t->i8p, t->i32, t->f64, t->i32, t->i32,
	                     t->i32p, t->f64, t->f64, t->i32, t->i32p, t->f64, t->i8p, t->i32, t->i8p,
	                     t->i32, t->i8p};
	t->task = cg_llvm_struct(m, "TrartTask", task, 20);
	CgLlvmType tensor[] = {t->i8p, t->i32, t->i32, t->i64p, t->i32, t->i64};
	t->tensor = cg_llvm_struct(m, "TrartTensor", tensor, 6);
	CgLlvmType kernel[] = {t->i8p, t->i8p, t->i32, t->f64, t->f64};
	t->kernel = cg_llvm_struct(m, "TrartKernel", kernel, 5);
	CgLlvmType program[] = {t->i8p, t->i8p, t->i32, cg_llvm_ptr(m, t->tensor), t->i32,
	                        cg_llvm_ptr(m, t->kernel), t->i8p, t->i32, t->i32p};
	t->program = cg_llvm_struct(m, "TrartProgram", program, 9);
	CgLlvmType graph[] = {t->i32, cg_llvm_ptr(m, t->task), t->i32, t->i64p, t->i32, t->i64, t->i64p, t->i64,
	                      t->i32, t->i32, t->i32, t->i64p};
	t->graph = cg_llvm_struct(m, "TrartTaskGraph", graph, 12);
	CgLlvmType memop[] = {t->i32, t->i32, t->i64, t->i64, t->i64};
	t->memop = cg_llvm_struct(m, "TrartMemOp", memop, 5);
	CgLlvmType view[] = {t->i32, t->i32, t->i64};
	t->view = cg_llvm_struct(m, "TrartView", view, 3);
	CgLlvmType piece[] = {t->i32, t->i32, t->i32, t->i32, t->i64p};
	t->piece = cg_llvm_struct(m, "TrartPiece", piece, 5);
	CgLlvmType info[] = {t->i8p, t->i32, t->i32, t->i64p};
	t->info = cg_llvm_struct(m, "trac_tensor_info", info, 4);
}

/* Whether IR struct type ty has layout l; false with a message if not. */
static bool cg_llvm_prog_check(CgLlvm *m, CgLlvmType ty, const CgLlvmLayout *l, char *err, size_t errlen)
{
	if (cg_llvm_abi_size(m, ty) != l->size) {
		snprintf(err, errlen, "the IR type %s has %llu bytes, the C compiler's struct %zu", l->name,
		         (unsigned long long)cg_llvm_abi_size(m, ty), l->size);
		return false;
	}
	for (int f = 0; f < l->nfields; f++)
		if (cg_llvm_abi_offset(m, ty, f) != l->offset[f]) {
			snprintf(err, errlen, "field %d of the IR type %s is at byte %llu, in C at %zu", f, l->name,
			         (unsigned long long)cg_llvm_abi_offset(m, ty, f), l->offset[f]);
			return false;
		}
	return true;
}

/* Whether every struct of t has the C compiler's layout. */
static bool cg_llvm_prog_check_all(CgLlvm *m, const CgLlvmTypes *t, char *err, size_t errlen)
{
	CgLlvmType types[] = {t->task, t->tensor, t->kernel, t->program, t->graph,
	                      t->memop, t->view, t->piece, t->info};
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
		if (!cg_llvm_prog_check(m, types[i], &cg_llvm_layouts[i], err, errlen))
			return false;
	return true;
}

bool cg_llvm_prog_layout(CgLlvm *m, char *err, size_t errlen)
{
	CgLlvmTypes t;
	cg_llvm_prog_types(m, &t);
	return cg_llvm_prog_check_all(m, &t, err, errlen);
}

/* ---- constants ---------------------------------------------------------------- */

static CgLlvmValue cg_llvm_i32c(CgLlvmBuild *b, int64_t v)
{
	return cg_llvm_const_int(b->p.m, b->t.i32, v);
}

static CgLlvmValue cg_llvm_f64c(CgLlvmBuild *b, double v)
{
	return cg_llvm_const(b->p.m, TRART_F64, v);
}

/* An internal constant global array "name" of n (at least one: an empty
 * list is one zero, as C's "{0}") integers of type ty; returns a pointer
 * to its first element. */
static CgLlvmValue cg_llvm_int_array(CgLlvmBuild *b, const char *name, CgLlvmType ty, const int64_t *v,
                                     int n)
{
	CgLlvm *m = b->p.m;
	int len = n > 0 ? n : 1;
	CgLlvmValue *c = xcalloc((size_t)len, sizeof *c);
	for (int i = 0; i < len; i++)
		c[i] = cg_llvm_const_int(m, ty, i < n ? v[i] : 0);
	CgLlvmValue g = cg_llvm_global(m, name, cg_llvm_array(m, ty, len), false, true);
	cg_llvm_global_init(g, cg_llvm_const_array(m, ty, c, len));
	free(c);
	return cg_llvm_const_elem(m, g, 0);
}

/* The same for a list of ints. */
static CgLlvmValue cg_llvm_i32_array(CgLlvmBuild *b, const char *name, const int *v, int n)
{
	int64_t *w = xcalloc((size_t)(n > 0 ? n : 1), sizeof *w);
	for (int i = 0; i < n; i++)
		w[i] = v[i];
	CgLlvmValue r = cg_llvm_int_array(b, name, b->t.i32, w, n);
	free(w);
	return r;
}

/* Node id's name as a constant string, made once. */
static CgLlvmValue cg_llvm_node_name(CgLlvmBuild *b, int id)
{
	if (!b->names[id])
		b->names[id] = cg_llvm_const_string(b->p.m, b->p.g->nodes[id].name);
	return b->names[id];
}

/* The kernel function named name, as an i8* for a table; NULL (after a
 * message) when no builder made it. */
static CgLlvmValue cg_llvm_kernel_ref(CgLlvmBuild *b, const char *name, char *err, size_t errlen)
{
	CgLlvmValue fn = cg_llvm_named_function(b->p.m, name);
	if (!fn) {
		snprintf(err, errlen, "the plan names a kernel %s that no kernel builder made", name);
		return NULL;
	}
	return cg_llvm_const_cast(fn, b->t.i8p);
}

/* ---- the block task tables (cg_c_task_tables) --------------------------------------- */

/* The three tables kernels address (llvm_prog.h), before any kernel. */
static void cg_llvm_declare_tables(CgLlvmBuild *b)
{
	CgLlvm *m = b->p.m;
	int nt = b->p.opt->ia->ntasks, rows = nt + (b->p.opt->mg ? b->p.opt->mg->nops : 0);
	b->p.tasks = cg_llvm_global(m, "trac_tasks", cg_llvm_array(m, b->t.task, rows), false, true);
	b->p.nparts = cg_llvm_global(m, "trac_nparts", cg_llvm_array(m, b->t.i32, nt), false, true);
	b->p.parts = cg_llvm_global(m, "trac_parts", cg_llvm_array(m, b->t.i32p, nt), false, true);
}

/* The function a task runs (cg_c_task_fn): b, a or r and the node, or
 * trac_nop. */
static void cg_llvm_task_fn_name(const Kplan *k, char *name, size_t n)
{
	switch (k->kind) {
	case KPLAN_ROWS: snprintf(name, n, "r%d", k->node); return;
	case KPLAN_BLAS:
	case KPLAN_LOOPS:
	case KPLAN_SCATTER: snprintf(name, n, "b%d", k->node); return;
	case KPLAN_AGG: snprintf(name, n, "a%d", k->node); return;
	default: snprintf(name, n, "trac_nop"); return;
	}
}

/* trac_view<t>: task t's views (cg_c_task_arrays), as an i8*. */
static CgLlvmValue cg_llvm_view_array(CgLlvmBuild *b, int t)
{
	CgLlvm *m = b->p.m;
	const Memgraph *mg = b->p.opt->mg;
	int n = mg->nviews[t];
	CgLlvmValue *rows = xcalloc((size_t)n, sizeof *rows);
	for (int i = 0; i < n; i++) {
		CgLlvmValue f[3] = {cg_llvm_i32c(b, mg->views[t][i].node), cg_llvm_i32c(b, mg->views[t][i].buf),
		                    cg_llvm_const_int(m, b->t.i64, mg->views[t][i].begin)};
		rows[i] = cg_llvm_const_struct(m, b->t.view, f, 3);
	}
	char name[64];
	snprintf(name, sizeof name, "trac_view%d", t);
	CgLlvmValue g = cg_llvm_global(m, name, cg_llvm_array(m, b->t.view, n), false, true);
	cg_llvm_global_init(g, cg_llvm_const_array(m, b->t.view, rows, n));
	free(rows);
	return cg_llvm_const_cast(cg_llvm_const_elem(m, g, 0), b->t.i8p);
}

/* trac_pdims<t>_<i>: piece i's shape, first index and size, one after
 * the other; returns a pointer to its first entry. */
static CgLlvmValue cg_llvm_piece_dims(CgLlvmBuild *b, int t, int i, const KplanPiece *pc)
{
	int64_t dims[3 * TRA_MAX_RANK];
	for (int d = 0; d < pc->ndim; d++) {
		dims[d] = pc->shape[d];
		dims[pc->ndim + d] = pc->start[d];
		dims[2 * pc->ndim + d] = pc->size[d];
	}
	char name[64];
	snprintf(name, sizeof name, "trac_pdims%d_%d", t, i);
	return cg_llvm_int_array(b, name, b->t.i64, dims, 3 * pc->ndim);
}

/* On ranks, trac_piece<t>: what task t writes (kplan_task_pieces,
 * cg_c_task_pieces), as an i8*; *n gets how many (0: NULL). */
static CgLlvmValue cg_llvm_piece_array(CgLlvmBuild *b, int t, int *n)
{
	CgLlvm *m = b->p.m;
	KplanPiece *pc = xcalloc((size_t)b->p.opt->ia->ncons[t] + 1, sizeof *pc);
	*n = kplan_task_pieces(b->p.kp, t, pc);
	CgLlvmValue r = cg_llvm_const_null(b->t.i8p);
	if (*n > 0) {
		CgLlvmValue *rows = xcalloc((size_t)*n, sizeof *rows);
		for (int i = 0; i < *n; i++) {
			CgLlvmValue f[5] = {cg_llvm_i32c(b, pc[i].buf), cg_llvm_i32c(b, pc[i].elsize),
			                    cg_llvm_i32c(b, pc[i].ndim), cg_llvm_i32c(b, pc[i].host),
			                    cg_llvm_piece_dims(b, t, i, &pc[i])};
			rows[i] = cg_llvm_const_struct(m, b->t.piece, f, 5);
		}
		char name[64];
		snprintf(name, sizeof name, "trac_piece%d", t);
		CgLlvmValue g = cg_llvm_global(m, name, cg_llvm_array(m, b->t.piece, *n), false, true);
		cg_llvm_global_init(g, cg_llvm_const_array(m, b->t.piece, rows, *n));
		free(rows);
		r = cg_llvm_const_cast(cg_llvm_const_elem(m, g, 0), b->t.i8p);
	}
	free(pc);
	return r;
}

/* Task t's row of trac_tasks, with its lo, hi, succ and use arrays, its
 * views or, on ranks, its pieces (and its parts list, which *parts
 * gets: NULL but for aggregations). */
static CgLlvmValue cg_llvm_task_row(CgLlvmBuild *b, int t, CgLlvmValue *parts, char *err, size_t errlen)
{
	const IaTask *k = &b->p.opt->ia->tasks[t];
	const KplanTask *kt = &b->p.kp->tasks[t];
	const Kplan *kernel = &b->p.kp->kernels[kt->kernel];
	char name[64];
	cg_llvm_task_fn_name(kernel, name, sizeof name);
	CgLlvmValue fn = cg_llvm_kernel_ref(b, name, err, errlen);
	if (!fn)
		return NULL;
	bool nop = kernel->kind == KPLAN_NOP;
	snprintf(name, sizeof name, "trac_lo%d", t);
	CgLlvmValue lo = cg_llvm_int_array(b, name, b->t.i64, k->lo, k->ndim);
	snprintf(name, sizeof name, "trac_hi%d", t);
	CgLlvmValue hi = cg_llvm_int_array(b, name, b->t.i64, k->hi, k->ndim);
	const Memgraph *mg = b->p.opt->mg;
	snprintf(name, sizeof name, "trac_succ%d", t);
	CgLlvmValue succ = mg ? cg_llvm_i32_array(b, name, mg->succ[t], mg->nsucc[t])
	                      : cg_llvm_i32_array(b, name, kt->succ, kt->nsucc);
	*parts = cg_llvm_const_null(b->t.i32p);
	if (kt->nparts > 0) {
		snprintf(name, sizeof name, "trac_parts%d", t);
		*parts = cg_llvm_i32_array(b, name, kt->parts, kt->nparts);
	}
	CgLlvmValue use = cg_llvm_const_null(b->t.i32p);
	if (!nop && (k->kind == IA_JOIN || k->kind == IA_AGG)) {
		snprintf(name, sizeof name, "trac_use%d", t);
		use = cg_llvm_i32_array(b, name, kt->use, kt->nuse);
	}
	int nview = mg && mg->nviews ? mg->nviews[t] : 0, npiece = 0;
	CgLlvmValue piece = cg_llvm_const_null(b->t.i8p);
	if (!nview && b->p.opt->ia->nranks > 1 && !nop)
		piece = cg_llvm_piece_array(b, t, &npiece);
	CgLlvmValue f[20] = {
		fn, lo, hi, cg_llvm_i32c(b, k->ndim), cg_llvm_node_name(b, k->node),
		cg_llvm_i32c(b, k->device < 0 ? 0 : k->device), cg_llvm_f64c(b, k->priority),
		cg_llvm_i32c(b, mg ? mg->npred[t] : kt->npred), cg_llvm_i32c(b, mg ? mg->nsucc[t] : kt->nsucc), succ,
		cg_llvm_f64c(b, k->flops), cg_llvm_f64c(b, k->bytes), cg_llvm_i32c(b, nop ? 0 : kt->nuse), use,
		cg_llvm_f64c(b, k->out_bytes), cg_llvm_const_null(b->t.i8p), cg_llvm_i32c(b, nview),
		nview ? cg_llvm_view_array(b, t) : cg_llvm_const_null(b->t.i8p), cg_llvm_i32c(b, npiece), piece,
	};
	return cg_llvm_const_struct(b->p.m, b->t.task, f, 20);
}

/* Memory node v's row (cg_c_mem_rows): trart_mem_task on trac_mem[i]. */
static CgLlvmValue cg_llvm_mem_row(CgLlvmBuild *b, int v, CgLlvmValue fn, CgLlvmValue mem)
{
	const Memgraph *mg = b->p.opt->mg;
	const MgOp *op = &mg->ops[v - mg->ntasks];
	int node = kplan_buffer_node(b->p.kp, op->buf);
	char name[64];
	snprintf(name, sizeof name, "trac_succ%d", v);
	CgLlvmValue succ = cg_llvm_i32_array(b, name, mg->succ[v], mg->nsucc[v]);
	CgLlvmValue moved = cg_llvm_f64c(b, memgraph_moves(op->kind) ? (double)op->bytes : 0);
	CgLlvmValue f[20] = {
		fn, cg_llvm_const_null(b->t.i64p), cg_llvm_const_null(b->t.i64p), cg_llvm_i32c(b, 0),
		cg_llvm_node_name(b, node), cg_llvm_i32c(b, mg->device[v]), cg_llvm_f64c(b, mg->priority[v]),
		cg_llvm_i32c(b, mg->npred[v]), cg_llvm_i32c(b, mg->nsucc[v]), succ, cg_llvm_f64c(b, 0), moved,
		cg_llvm_i32c(b, 0), cg_llvm_const_null(b->t.i32p), cg_llvm_f64c(b, 0), cg_llvm_const_cast(mem, b->t.i8p),
		cg_llvm_i32c(b, 0), cg_llvm_const_null(b->t.i8p), cg_llvm_i32c(b, 0), cg_llvm_const_null(b->t.i8p),
	};
	return cg_llvm_const_struct(b->p.m, b->t.task, f, 20);
}

/* trac_mem: what each memory task does; returns the global. */
static CgLlvmValue cg_llvm_mem_table(CgLlvmBuild *b)
{
	CgLlvm *m = b->p.m;
	const Memgraph *mg = b->p.opt->mg;
	int n = mg->nops > 0 ? mg->nops : 1;
	CgLlvmValue *rows = xcalloc((size_t)n, sizeof *rows);
	for (int i = 0; i < n; i++) {
		const MgOp *op = i < mg->nops ? &mg->ops[i] : NULL;
		CgLlvmValue f[5] = {cg_llvm_i32c(b, op ? (int)op->kind : 0),
		                    cg_llvm_i32c(b, op ? memgraph_op_buffer(mg, b->p.kp, op) : 0),
		                    cg_llvm_const_int(m, b->t.i64, op ? op->offset : 0),
		                    cg_llvm_const_int(m, b->t.i64, op ? op->bytes : 0),
		                    cg_llvm_const_int(m, b->t.i64, op ? op->spill : 0)};
		rows[i] = cg_llvm_const_struct(m, b->t.memop, f, 5);
	}
	CgLlvmValue g = cg_llvm_global(m, "trac_mem", cg_llvm_array(m, b->t.memop, n), false, true);
	cg_llvm_global_init(g, cg_llvm_const_array(m, b->t.memop, rows, n));
	free(rows);
	return g;
}

/* The memgraph's rows after the block tasks' (rows has room), and the
 * graph's fields ncaller, arena, offset and spill into f[4..7]. */
static void cg_llvm_mem_tables(CgLlvmBuild *b, CgLlvmValue *rows, CgLlvmValue *f)
{
	CgLlvm *m = b->p.m;
	const Memgraph *mg = b->p.opt->mg;
	f[4] = cg_llvm_i32c(b, b->p.g->nnodes);
	if (!mg) {
		f[5] = cg_llvm_const_int(m, b->t.i64, 0);
		f[6] = cg_llvm_const_null(b->t.i64p);
		f[7] = cg_llvm_const_int(m, b->t.i64, 0);
		return;
	}
	CgLlvmType i8p = b->t.i8p, params[2] = {cg_llvm_ptr(m, i8p), i8p};
	CgLlvmValue fn = cg_llvm_const_cast(cg_llvm_declare(m, "trart_mem_task", cg_llvm_fn_type(m, cg_llvm_void(m),
	                                                                                         params, 2)), i8p);
	CgLlvmValue table = cg_llvm_mem_table(b);
	for (int i = 0; i < mg->nops; i++)
		rows[mg->ntasks + i] = cg_llvm_mem_row(b, mg->ntasks + i, fn, cg_llvm_const_elem(m, table, i));
	int64_t *offset = xcalloc((size_t)mg->nbufs + 1, sizeof *offset);
	for (int v = 0; v < mg->nbufs; v++)
		offset[v] = memgraph_arena_offset(mg, v);
	f[5] = cg_llvm_const_int(m, b->t.i64, mg->domains[0].arena);
	f[6] = cg_llvm_int_array(b, "trac_offset", b->t.i64, offset, mg->nbufs);
	f[7] = cg_llvm_const_int(m, b->t.i64, mg->domains[0].spill);
	free(offset);
}

/* Fills trac_tasks, trac_nparts and trac_parts, then makes trac_pooled
 * and trac_graph; returns trac_graph (an i8*), or NULL after a message. */
static CgLlvmValue cg_llvm_task_tables(CgLlvmBuild *b, char *err, size_t errlen)
{
	CgLlvm *m = b->p.m;
	int nt = b->p.opt->ia->ntasks, nn = b->p.kp->nbufs;
	int nrows = nt + (b->p.opt->mg ? b->p.opt->mg->nops : 0);
	CgLlvmValue *rows = xcalloc((size_t)nrows, sizeof *rows), *parts = xcalloc((size_t)nt, sizeof *parts);
	CgLlvmValue *np = xcalloc((size_t)nt, sizeof *np);
	bool ok = true;
	for (int t = 0; t < nt && ok; t++) {
		rows[t] = cg_llvm_task_row(b, t, &parts[t], err, errlen);
		np[t] = cg_llvm_i32c(b, b->p.kp->tasks[t].nparts);
		ok = rows[t] != NULL;
	}
	CgLlvmValue graph = NULL;
	if (ok) {
		CgLlvmValue f[12];
		cg_llvm_mem_tables(b, rows, f);
		cg_llvm_global_init(b->p.tasks, cg_llvm_const_array(m, b->t.task, rows, nrows));
		cg_llvm_global_init(b->p.nparts, cg_llvm_const_array(m, b->t.i32, np, nt));
		cg_llvm_global_init(b->p.parts, cg_llvm_const_array(m, b->t.i32p, parts, nt));
		const Memgraph *mg = b->p.opt->mg;
		int64_t *bytes = xcalloc((size_t)nn + 1, sizeof *bytes);
		for (int v = 0; v < nn; v++)
			bytes[v] = mg ? memgraph_arena_bytes(mg, v) : b->p.kp->pooled[v];
		CgLlvmValue pooled = cg_llvm_int_array(b, "trac_pooled", b->t.i64, bytes, nn);
		free(bytes);
		f[0] = cg_llvm_i32c(b, nrows);
		f[1] = cg_llvm_const_elem(m, b->p.tasks, 0);
		f[2] = cg_llvm_i32c(b, nn);
		f[3] = pooled;
		/* as cg_c_task_tables: a memgraph's graph leaves the ranks 0 */
		f[8] = cg_llvm_i32c(b, mg ? 0 : b->p.opt->ia->nranks);
		f[9] = cg_llvm_i32c(b, mg ? 0 : b->p.opt->ia->rank_devices);
		/* GPUs (ngpus, bytes) are the C back end's (--backend=cuda-sim) */
		f[10] = cg_llvm_i32c(b, 0);
		f[11] = cg_llvm_const_null(b->t.i64p);
		graph = cg_llvm_global(m, "trac_graph", b->t.graph, false, true);
		cg_llvm_global_init(graph, cg_llvm_const_struct(m, b->t.graph, f, 12));
		graph = cg_llvm_const_cast(graph, b->t.i8p);
	}
	free(rows);
	free(parts);
	free(np);
	return graph;
}

/* ---- the program's tables (cg_c_tables) ------------------------------------------- */

static int cg_llvm_kind(const TraNode *n)
{
	if (n->kind == TRA_NODE_INPUT)
		return n->is_output ? TRART_INOUT : TRART_INPUT;
	return n->is_output ? TRART_OUTPUT : TRART_TEMP;
}

/* shape<id> per node, and trac_tensors; returns a pointer to its first row. */
static CgLlvmValue cg_llvm_tensors(CgLlvmBuild *b)
{
	CgLlvm *m = b->p.m;
	const TraGraph *g = b->p.g;
	CgLlvmValue *rows = xcalloc((size_t)g->nnodes, sizeof *rows);
	for (int id = 0; id < g->nnodes; id++) {
		const TraNode *n = &g->nodes[id];
		int64_t shape[TRA_MAX_STMT_INDICES];
		for (int d = 0; d < n->rank; d++)
			shape[d] = n->idx[d].size;
		char name[32];
		snprintf(name, sizeof name, "shape%d", id);
		b->shapes[id] = cg_llvm_int_array(b, name, b->t.i64, shape, n->rank);
		int64_t below = n->kind == TRA_NODE_INPUT && TRART_IS_INT(n->type) ? tra_gather_bound(g, id) : 0;
		CgLlvmValue f[6] = {cg_llvm_node_name(b, id), cg_llvm_i32c(b, n->type), cg_llvm_i32c(b, n->rank),
		                    b->shapes[id], cg_llvm_i32c(b, cg_llvm_kind(n)),
		                    cg_llvm_const_int(m, b->t.i64, below)};
		rows[id] = cg_llvm_const_struct(m, b->t.tensor, f, 6);
	}
	CgLlvmValue t = cg_llvm_global(m, "trac_tensors", cg_llvm_array(m, b->t.tensor, g->nnodes), false, true);
	cg_llvm_global_init(t, cg_llvm_const_array(m, b->t.tensor, rows, g->nnodes));
	free(rows);
	return cg_llvm_const_elem(m, t, 0);
}

/* Whole-node mode's row of trac_kernels for the group led by id (a
 * group is one kernel: its members' names joined by '+'), or NULL after
 * a message. */
static CgLlvmValue cg_llvm_kernel_row(CgLlvmBuild *b, int id, char *err, size_t errlen)
{
	const TraGraph *g = b->p.g;
	char fn_name[32];
	snprintf(fn_name, sizeof fn_name, "k%d", id);
	CgLlvmValue fn = cg_llvm_kernel_ref(b, fn_name, err, errlen);
	if (!fn)
		return NULL;
	double flops = 0, bytes = 0;
	int last = id;
	size_t len = 1;
	for (int k = id; k < g->nnodes; k++)
		if (b->p.kp->leader[k] == id)
			len += strlen(g->nodes[k].name) + 1;
	char *name = xcalloc(len, 1);
	for (int k = id; k < g->nnodes; k++)
		if (b->p.kp->leader[k] == id) {
			if (k != id)
				strcat(name, "+");
			strcat(name, g->nodes[k].name);
			flops += g->nodes[k].flops;
			bytes += g->nodes[k].bytes;
			last = k;
		}
	CgLlvmValue f[5] = {cg_llvm_const_string(b->p.m, name), fn, cg_llvm_i32c(b, last), cg_llvm_f64c(b, flops),
	                    cg_llvm_f64c(b, bytes)};
	free(name);
	return cg_llvm_const_struct(b->p.m, b->t.kernel, f, 5);
}

/* trac_kernels (whole-node mode; one zero row otherwise, as C has no
 * empty arrays); *nk gets the kernels' count. NULL after a message. */
static CgLlvmValue cg_llvm_kernels(CgLlvmBuild *b, int *nk, char *err, size_t errlen)
{
	CgLlvm *m = b->p.m;
	const TraGraph *g = b->p.g;
	CgLlvmValue *rows = xcalloc((size_t)g->nnodes + 1, sizeof *rows);
	*nk = 0;
	for (int id = 0; id < g->nnodes && !b->p.opt->ia; id++) {
		if (g->nodes[id].kind == TRA_NODE_INPUT || b->p.kp->leader[id] != id)
			continue;
		if (!(rows[(*nk)++] = cg_llvm_kernel_row(b, id, err, errlen))) {
			free(rows);
			return NULL;
		}
	}
	int len = *nk > 0 ? *nk : 1;
	if (*nk == 0)
		rows[0] = cg_llvm_const_null(b->t.kernel);
	CgLlvmValue t = cg_llvm_global(m, "trac_kernels", cg_llvm_array(m, b->t.kernel, len), false, true);
	cg_llvm_global_init(t, cg_llvm_const_array(m, b->t.kernel, rows, len));
	free(rows);
	return cg_llvm_const_elem(m, t, 0);
}

/* Every table after the kernels, ending with trac_program; false after
 * a message. */
static bool cg_llvm_tables(CgLlvmBuild *b, char *err, size_t errlen)
{
	CgLlvm *m = b->p.m;
	CgLlvmValue graph = cg_llvm_const_null(b->t.i8p);
	if (b->p.opt->ia && !(graph = cg_llvm_task_tables(b, err, errlen)))
		return false;
	CgLlvmValue tensors = cg_llvm_tensors(b);
	int nk;
	CgLlvmValue kernels = cg_llvm_kernels(b, &nk, err, errlen);
	if (!kernels)
		return false;
	const TraGraph *g = b->p.g;
	int *feeds = xcalloc((size_t)(2 * g->nfeeds + 1), sizeof *feeds);
	for (int i = 0; i < g->nfeeds; i++)
		tra_feed_nodes(g, i, &feeds[2 * i], &feeds[2 * i + 1]);
	CgLlvmValue fed = cg_llvm_i32_array(b, "trac_feeds", feeds, 2 * g->nfeeds);
	free(feeds);
	CgLlvmValue f[9] = {cg_llvm_const_string(m, b->p.opt->name), cg_llvm_const_string(m, PACKAGE_VERSION),
	                    cg_llvm_i32c(b, g->nnodes), tensors, cg_llvm_i32c(b, nk), kernels, graph,
	                    cg_llvm_i32c(b, g->nfeeds), fed};
	b->program = cg_llvm_global(m, "trac_program", b->t.program, false, true);
	cg_llvm_global_init(b->program, cg_llvm_const_struct(m, b->t.program, f, 9));
	return true;
}

/* ---- main, or library mode's NAME (cg_c_library) ------------------------------------ */

/* int main(int argc, char **argv) { return trart_main(&trac_program, argc, argv); },
 * or trart_mpi_main on ranks (cg_c_emit). */
static void cg_llvm_main(CgLlvmBuild *b)
{
	CgLlvm *m = b->p.m;
	CgLlvmType params[2] = {b->t.i32, b->t.i8pp};
	cg_llvm_function_ret(m, "main", b->t.i32, params, 2);
	CgLlvmType tp[3] = {cg_llvm_ptr(m, b->t.program), b->t.i32, b->t.i8pp};
	CgLlvmType ty = cg_llvm_fn_type(m, b->t.i32, tp, 3);
	CgLlvmValue args[3] = {b->program, cg_llvm_param(m, 0), cg_llvm_param(m, 1)};
	const IaGraph *ia = b->p.opt->ia;
	const char *run = ia && ia->nranks > 1 ? "trart_mpi_main" : "trart_main";
	CgLlvmValue rc = cg_llvm_call(m, ty, cg_llvm_declare(m, run, ty), args, 3);
	cg_llvm_return_value(m, rc);
}

/* NAME_inputs or NAME_outputs: n rows (at least one) for the nodes ids. */
static void cg_llvm_infos(CgLlvmBuild *b, const char *name, const int *ids, int n)
{
	CgLlvm *m = b->p.m;
	int len = n > 0 ? n : 1;
	CgLlvmValue *rows = xcalloc((size_t)len, sizeof *rows);
	rows[0] = cg_llvm_const_null(b->t.info);
	for (int i = 0; i < n; i++) {
		const TraNode *nd = &b->p.g->nodes[ids[i]];
		CgLlvmValue f[4] = {cg_llvm_node_name(b, ids[i]), cg_llvm_i32c(b, nd->type), cg_llvm_i32c(b, nd->rank),
		                    b->shapes[ids[i]]};
		rows[i] = cg_llvm_const_struct(m, b->t.info, f, 4);
	}
	CgLlvmValue g = cg_llvm_global(m, name, cg_llvm_array(m, b->t.info, len), true, true);
	cg_llvm_global_init(g, cg_llvm_const_array(m, b->t.info, rows, len));
	free(rows);
}

/* bufs[id] = v, bufs an alloca'd [nnodes x i8*]. */
static void cg_llvm_set_buf(CgLlvmBuild *b, CgLlvmValue bufs, int id, CgLlvmValue v)
{
	CgLlvm *m = b->p.m;
	cg_llvm_store_ptr(m, v, cg_llvm_gep(m, b->t.i8p, bufs, cg_llvm_const_i64(m, id)));
}

/* p[k] for an i8** parameter p. */
static CgLlvmValue cg_llvm_arg_buf(CgLlvmBuild *b, CgLlvmValue p, int k)
{
	CgLlvm *m = b->p.m;
	return cg_llvm_load_ptr(m, b->t.i8p, cg_llvm_gep(m, b->t.i8p, p, cg_llvm_const_i64(m, k)));
}

static bool cg_llvm_temp(const TraNode *n)
{
	return n->kind != TRA_NODE_INPUT && !n->is_output;
}

/* Whole-node mode's intermediates: malloc'd (all set to NULL first, so
 * that the failure path frees only what it got), each checked. */
static void cg_llvm_malloc_temps(CgLlvmBuild *b, CgLlvmValue bufs, CgLlvmBlock nomem)
{
	CgLlvm *m = b->p.m;
	const TraGraph *g = b->p.g;
	CgLlvmType i64 = b->t.i64;
	CgLlvmType malloc_ty = cg_llvm_fn_type(m, b->t.i8p, &i64, 1);
	CgLlvmValue fn = cg_llvm_declare(m, "malloc", malloc_ty);
	for (int id = 0; id < g->nnodes; id++)
		if (cg_llvm_temp(&g->nodes[id]))
			cg_llvm_set_buf(b, bufs, id, cg_llvm_const_null(b->t.i8p));
	for (int id = 0; id < g->nnodes; id++) {
		const TraNode *n = &g->nodes[id];
		if (!cg_llvm_temp(n))
			continue;
		int64_t bytes = tra_node_elements(n) * (int64_t)trart_dtype_size(n->type);
		CgLlvmValue size = cg_llvm_const_i64(m, bytes);
		CgLlvmValue p = cg_llvm_call(m, malloc_ty, fn, &size, 1);
		cg_llvm_set_buf(b, bufs, id, p);
		CgLlvmBlock next = cg_llvm_block(m, "got");
		cg_llvm_br_null(m, p, nomem, next);
		cg_llvm_position(m, next);
	}
}

/* free(bufs[id]) for every intermediate. */
static void cg_llvm_free_temps(CgLlvmBuild *b, CgLlvmValue bufs)
{
	CgLlvm *m = b->p.m;
	const TraGraph *g = b->p.g;
	CgLlvmType i8p = b->t.i8p;
	CgLlvmType free_ty = cg_llvm_fn_type(m, cg_llvm_void(m), &i8p, 1);
	CgLlvmValue fn = cg_llvm_declare(m, "free", free_ty);
	for (int id = 0; id < g->nnodes; id++)
		if (cg_llvm_temp(&g->nodes[id])) {
			CgLlvmValue p = cg_llvm_load_ptr(m, i8p, cg_llvm_gep(m, i8p, bufs, cg_llvm_const_i64(m, id)));
			cg_llvm_call(m, free_ty, fn, &p, 1);
		}
}

/* Outputs that are inputs: memcpy(outputs[k], inputs[i], bytes). */
static void cg_llvm_copy_inouts(CgLlvmBuild *b, CgLlvmValue inputs, CgLlvmValue outputs, const int *ordinal)
{
	CgLlvm *m = b->p.m;
	const TraGraph *g = b->p.g;
	CgLlvmType params[3] = {b->t.i8p, b->t.i8p, b->t.i64};
	CgLlvmType ty = cg_llvm_fn_type(m, b->t.i8p, params, 3);
	for (int k = 0; k < g->noutputs; k++) {
		const TraNode *n = &g->nodes[g->outputs[k]];
		if (n->kind != TRA_NODE_INPUT)
			continue;
		int64_t bytes = tra_node_elements(n) * (int64_t)trart_dtype_size(n->type);
		CgLlvmValue args[3] = {cg_llvm_arg_buf(b, outputs, k), cg_llvm_arg_buf(b, inputs, ordinal[g->outputs[k]]),
		                       cg_llvm_const_i64(m, bytes)};
		cg_llvm_call(m, ty, cg_llvm_declare(m, "memcpy", ty), args, 3);
	}
}

/* The body of NAME: bufs from the caller's pointers, intermediates
 * (pooled: NULL, the executor allocates them; else malloc'd), run,
 * outputs that are inputs copied, intermediates freed; 0, or 1 when
 * malloc failed. */
static void cg_llvm_library_fn(CgLlvmBuild *b, const int *ordinal)
{
	CgLlvm *m = b->p.m;
	const TraGraph *g = b->p.g;
	bool pooled = b->p.opt->ia != NULL;
	CgLlvmType params[3] = {b->t.i8pp, b->t.i8pp, b->t.i32};
	cg_llvm_function_ret(m, b->p.opt->name, b->t.i32, params, 3);
	CgLlvmValue inputs = cg_llvm_param(m, 0), outputs = cg_llvm_param(m, 1);
	CgLlvmValue bufs = cg_llvm_alloca(m, cg_llvm_array(m, b->t.i8p, g->nnodes));
	bufs = cg_llvm_bitcast(m, bufs, b->t.i8pp);
	for (int id = 0; id < g->nnodes; id++)
		if (g->nodes[id].kind == TRA_NODE_INPUT)
			cg_llvm_set_buf(b, bufs, id, cg_llvm_arg_buf(b, inputs, ordinal[id]));
	for (int k = 0; k < g->noutputs; k++)
		if (g->nodes[g->outputs[k]].kind != TRA_NODE_INPUT)
			cg_llvm_set_buf(b, bufs, g->outputs[k], cg_llvm_arg_buf(b, outputs, k));
	CgLlvmBlock nomem = pooled ? NULL : cg_llvm_block(m, "nomem");
	if (pooled) {
		for (int id = 0; id < g->nnodes; id++)
			if (cg_llvm_temp(&g->nodes[id]))
				cg_llvm_set_buf(b, bufs, id, cg_llvm_const_null(b->t.i8p));
	} else {
		cg_llvm_malloc_temps(b, bufs, nomem);
	}
	CgLlvmType ep[3] = {cg_llvm_ptr(m, b->t.program), b->t.i8pp, b->t.i32};
	CgLlvmType ety = cg_llvm_fn_type(m, cg_llvm_void(m), ep, 3);
	CgLlvmValue args[3] = {b->program, bufs, cg_llvm_param(m, 2)};
	cg_llvm_call(m, ety, cg_llvm_declare(m, "trart_execute", ety), args, 3);
	cg_llvm_copy_inouts(b, inputs, outputs, ordinal);
	if (pooled) { /* the executor gave the intermediates back to its pool */
		cg_llvm_return_value(m, cg_llvm_i32c(b, 0));
		return;
	}
	cg_llvm_free_temps(b, bufs);
	/* returning ends the function for the builder, not its blocks */
	cg_llvm_return_value(m, cg_llvm_i32c(b, 0));
	cg_llvm_position(m, nomem);
	cg_llvm_free_temps(b, bufs);
	cg_llvm_return_value(m, cg_llvm_i32c(b, 1));
}

/* NAME_inputs, NAME_outputs and NAME. */
static void cg_llvm_library(CgLlvmBuild *b)
{
	const TraGraph *g = b->p.g;
	int *ordinal = xcalloc((size_t)g->nnodes, sizeof *ordinal);
	int *inputs = xcalloc((size_t)g->nnodes, sizeof *inputs), ni = 0;
	for (int id = 0; id < g->nnodes; id++)
		if (g->nodes[id].kind == TRA_NODE_INPUT) {
			ordinal[id] = ni;
			inputs[ni++] = id;
		}
	size_t len = strlen(b->p.opt->name) + 16;
	char *name = xmalloc(len);
	snprintf(name, len, "%s_inputs", b->p.opt->name);
	cg_llvm_infos(b, name, inputs, ni);
	snprintf(name, len, "%s_outputs", b->p.opt->name);
	cg_llvm_infos(b, name, g->outputs, g->noutputs);
	cg_llvm_library_fn(b, ordinal);
	free(name);
	free(inputs);
	free(ordinal);
}

/* ---- the module ------------------------------------------------------------------- */

/* Every kernel, in plan order, by its builder. */
static void cg_llvm_prog_kernels(CgLlvmBuild *b)
{
	for (int k = 0; k < b->p.kp->nkernels; k++) {
		const Kplan *kp = &b->p.kp->kernels[k];
		if (kp->kind == KPLAN_BLAS)
			cg_llvm_blas_kernel(&b->p, kp);
		else
			cg_llvm_loops_kernel(&b->p, kp);
	}
}

/* Builds the program into b->p.m; false after a message. */
static bool cg_llvm_prog_build(CgLlvmBuild *b, char *err, size_t errlen)
{
	cg_llvm_prog_types(b->p.m, &b->t);
	if (!cg_llvm_prog_check_all(b->p.m, &b->t, err, errlen))
		return false;
	if (b->p.opt->ia)
		cg_llvm_declare_tables(b);
	cg_llvm_prog_kernels(b);
	if (!cg_llvm_tables(b, err, errlen))
		return false;
	if (b->p.opt->library)
		cg_llvm_library(b);
	else
		cg_llvm_main(b);
	return true;
}

/* Verify, IR before the passes, O3, IR after, the object. */
static bool cg_llvm_prog_finish(CgLlvm *m, const CgLlvmOutput *out, char *err, size_t errlen)
{
	if (!cg_llvm_verify(m, err, errlen))
		return false;
	if (out->unopt)
		cg_llvm_dump(m, out->unopt);
	bool compiled = out->opt || out->object;
	if (compiled && !cg_llvm_optimize(m, err, errlen))
		return false;
	if (compiled && out->tsan && !cg_llvm_instrument_tsan(m, err, errlen))
		return false;
	const char *first;
	int nwarn = cg_llvm_warnings(m, &first);
	if (out->warnings && nwarn > 0)
		fprintf(out->warnings, "trac: LLVM warned %d time%s after O3, first: %s\n", nwarn,
		        nwarn == 1 ? "" : "s", first);
	if (out->opt)
		cg_llvm_dump(m, out->opt);
	return !out->object || cg_llvm_emit_object(m, out->object, err, errlen);
}

bool cg_llvm_emit(const TraGraph *g, const CgCOptions *opt, const CgLlvmOutput *out, char *err, size_t errlen)
{
	CgLlvm *m = cg_llvm_new(opt->name, err, errlen);
	if (!m)
		return false;
	KplanProgram kp;
	kplan_build(g, opt->ia, opt->plans, &kp);
	CgLlvmBuild b = {.p = {.m = m, .g = g, .kp = &kp, .opt = opt}};
	b.names = xcalloc((size_t)g->nnodes + 1, sizeof *b.names);
	b.shapes = xcalloc((size_t)g->nnodes + 1, sizeof *b.shapes);
	bool ok = cg_llvm_prog_build(&b, err, errlen) && cg_llvm_prog_finish(m, out, err, errlen);
	free(b.names);
	free(b.shapes);
	kplan_free(&kp);
	cg_llvm_free(m);
	return ok;
}
