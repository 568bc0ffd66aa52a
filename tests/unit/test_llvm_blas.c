/* test_llvm_blas.c: the LLVM back end's BLAS kernels (codegen/llvm_blas.c),
 * built only where configure found LLVM.
 *
 * The corpus is the .tra files of tests/gemm, the GEMM layout cases the C back end is
 * tested on (transposed and permuted operands, batch indices anywhere,
 * grouped and looped K, gemv shapes, f64, epilogues, panels). Each
 * program goes through the passes that shape its nodes (order, fuse,
 * dce) and is planned three ways: whole-node kernels; block kernels of
 * the partition decomp picks for 4 devices; and block kernels with every
 * index of each GEMM node cut in two, which splits its reduction. Every
 * KPLAN_BLAS kernel of a plan is built into a module of its own, which
 * must verify, and then run: the optimised object is linked with the
 * runtime (libtrart) and OpenBLAS into a shared library, loaded with
 * dlopen (LLVM must have vectorised every loop the kernel tagged), and
 * called on the interpreter's values of the node's operands,
 * converted to the node's type; every block task of the node runs (a
 * split node's partial blocks, which the kernel leaves in its partial
 * buffers (KPLAN_PARTIAL), are summed here, as its aggregation would),
 * and the output must equal
 * the interpreter's within the type's rounding.
 */
#include "llvm_prog.h"

#include "paths.h"
#include "unit.h"
#include "llvm_unit.h"

#include <check.h>
#include <dirent.h>
#include <dlfcn.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- a program and its plan -------------------------------------------------------- */

/* How a program is planned. */
typedef enum TestMode {
	TEST_WHOLE,  /* whole-node kernels */
	TEST_DECOMP, /* blocks: decomp's partition for 4 devices */
	TEST_HALVES, /* blocks: every index of every GEMM node cut in two */
} TestMode;

/* One planned program. */
typedef struct TestProg {
	UnitRun *u;
	IaGraph ia;
	KplanProgram kp;
	CgCOptions opt;
} TestProg;

/* The text of file path, malloc'ed. */
static char *test_read(const char *path)
{
	FILE *f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	int c;
	while ((c = fgetc(f)) != EOF)
		fputc(c, m);
	fclose(f);
	fclose(m);
	return buf;
}

/* Whether node v of g is an einsum that BLAS can compute as a whole node
 * (its indices are worth cutting in TEST_HALVES). */
static bool test_is_gemm(const TraGraph *g, int v)
{
	GemmPlan p;
	return g->nodes[v].kind == TRA_NODE_EINSUM && gemm_plan(g, &g->nodes[v], GEMM_NODE, &p);
}

/* Partitions g for mode: decomp's choice, with every index of each GEMM
 * node cut in two for TEST_HALVES (indices of one element stay whole),
 * and the manual partition spec ("NODE:i=2", or NULL) fixed. */
static void test_partition(UnitRun *u, TestMode mode, const char *spec)
{
	TraGraph *g = &u->g;
	int **fixed = arena_alloc(&u->arena, (size_t)g->nnodes * sizeof *fixed);
	if (spec) {
		int node, *part = arena_alloc(&u->arena, TRA_MAX_STMT_INDICES * sizeof *part);
		char err[200];
		ck_assert_msg(decomp_parse_manual(g, spec, &node, part, err, sizeof err), "%s", err);
		fixed[node] = part;
	}
	for (int v = 0; v < g->nnodes && mode == TEST_HALVES; v++) {
		if (!test_is_gemm(g, v))
			continue;
		fixed[v] = arena_alloc(&u->arena, (size_t)g->nodes[v].nidx * sizeof *fixed[v]);
		for (int x = 0; x < g->nodes[v].nidx; x++)
			fixed[v][x] = g->nodes[v].idx[x].size > 1 ? 2 : 1;
	}
	DecompOptions o = {.devices = 4, .fixed = fixed};
	decomp_run(g, &o);
}

/* Compiles src and plans its kernels as mode (and spec, for blocks) say. */
static void test_plan(TestProg *tp, const char *src, TestMode mode, const char *spec)
{
	memset(tp, 0, sizeof *tp);
	tp->u = unit_compile_ok(src);
	TraGraph *g = &tp->u->g;
	order_contractions(g);
	tra_verify(g);
	fuse_elementwise(g);
	dce_remove(g);
	tra_verify(g);
	tp->opt.name = "test";
	if (mode != TEST_WHOLE) {
		test_partition(tp->u, mode, spec);
		ia_lower(g, &tp->u->arena, &tp->ia);
		tp->opt.ia = &tp->ia;
	}
	kplan_build(g, tp->opt.ia, tp->opt.plans, &tp->kp);
}

static void test_unplan(TestProg *tp)
{
	kplan_free(&tp->kp);
	unit_free(tp->u);
}

/* ---- one kernel as a module ------------------------------------------------------------ */

/* Kernel k of tp in a module of its own, with the table a block kernel
 * addresses made external (trac_tasks, a byte array of the TrartTask
 * rows) so that the test can fill it, and an external
 * test_kernel(bufs, task) calling the internal
 * kernel. Verified; the module's IR in *ir (malloc'ed) if ir is set. */
static CgLlvm *test_build(const TestProg *tp, const Kplan *k, char **ir)
{
	CgLlvm *m = llvm_unit_module();
	CgLlvmProg p = {.m = m, .g = &tp->u->g, .kp = &tp->kp, .opt = &tp->opt};
	CgLlvmType i8p = cg_llvm_ptr(m, cg_llvm_int(m, 8));
	if (k->block) {
		int nt = tp->ia.ntasks;
		p.tasks = cg_llvm_global(m, "trac_tasks", cg_llvm_array(m, cg_llvm_int(m, 8), nt * (int64_t)sizeof(TrartTask)),
		                         true, false);
	}
	cg_llvm_blas_kernel(&p, k);
	char name[32];
	snprintf(name, sizeof name, "%c%d", k->block ? 'b' : 'k', k->node);
	CgLlvmValue fn = cg_llvm_named_function(m, name);
	ck_assert_msg(fn != NULL, "no function %s", name);
	CgLlvmType params[2] = {cg_llvm_ptr(m, i8p), i8p};
	int nparams = k->block ? 2 : 1;
	cg_llvm_function(m, "test_kernel", params, 2);
	CgLlvmValue args[2] = {cg_llvm_param(m, 0), cg_llvm_param(m, 1)};
	cg_llvm_call(m, cg_llvm_fn_type(m, cg_llvm_void(m), params, nparams), fn, args, nparams);
	cg_llvm_return(m);
	if (ir)
		*ir = llvm_unit_ir(m);
	char err[4096];
	ck_assert_msg(cg_llvm_verify(m, err, sizeof err), "%s: %s", name, err);
	return m;
}

/* ---- running it ----------------------------------------------------------------------------- */

/* Buffers for every node: the interpreter's values of node v's operands
 * in its type, and its own buffer (NaN-filled: every element must be
 * written); then the partial blocks of split joins (kp's nbufs in all). */
static void **test_buffers(const TestProg *tp, const InterpValues *iv, int v)
{
	const TraGraph *g = &tp->u->g;
	const TraNode *n = &g->nodes[v];
	size_t es = trart_dtype_size(n->type);
	int nbufs = tp->kp.nbufs > g->nnodes ? tp->kp.nbufs : g->nnodes;
	void **bufs = calloc((size_t)nbufs, sizeof *bufs);
	for (int b = g->nnodes; b < tp->kp.nbufs; b++)
		bufs[b] = tp->kp.pooled[b] > 0 ? malloc((size_t)tp->kp.pooled[b]) : NULL;
	for (int k = 0; k < n->nops; k++) {
		int src = n->ops[k].node;
		if (bufs[src])
			continue;
		int64_t count = tra_node_elements(&g->nodes[src]);
		bufs[src] = malloc((size_t)count * es + es);
		for (int64_t i = 0; i < count; i++)
			if (n->type == TRART_F32)
				((float *)bufs[src])[i] = (float)iv->data[src][i];
			else
				((double *)bufs[src])[i] = iv->data[src][i];
	}
	int64_t count = tra_node_elements(n);
	bufs[v] = malloc((size_t)count * es + es);
	for (int64_t i = 0; i < count; i++)
		if (n->type == TRART_F32)
			((float *)bufs[v])[i] = NAN;
		else
			((double *)bufs[v])[i] = NAN;
	return bufs;
}

static double test_get(const TraNode *n, const void *buf, int64_t i)
{
	return n->type == TRART_F32 ? ((const float *)buf)[i] : ((const double *)buf)[i];
}

static void test_set(const TraNode *n, void *buf, int64_t i, double x)
{
	if (n->type == TRART_F32)
		((float *)buf)[i] = (float)x;
	else
		((double *)buf)[i] = x;
}

/* Aggregation task t of node n: the sum of its parts' partial blocks
 * (C order in the block) into the output, as a<node> would combine them
 * (n has no epilogue). */
static void test_combine(const TestProg *tp, void **bufs, const TraNode *n, int t, void *out)
{
	void **partial = bufs + tp->u->g.nnodes;
	const IaTask *a = &tp->ia.tasks[t];
	const KplanTask *kt = &tp->kp.tasks[t];
	int64_t count = 1;
	for (int d = 0; d < n->rank; d++)
		count *= a->hi[d] - a->lo[d];
	for (int64_t e = 0; e < count; e++) {
		/* the output offset of block element e */
		int64_t off = 0, rest = e, s = 1;
		for (int d = n->rank - 1; d >= 0; d--) {
			int64_t ext = a->hi[d] - a->lo[d];
			off += (a->lo[d] + rest % ext) * s;
			rest /= ext;
			s *= n->idx[d].size;
		}
		double sum = 0;
		for (int q = 0; q < kt->nparts; q++)
			sum += test_get(n, partial[kt->parts[q]], e);
		test_set(n, out, off, sum);
	}
}

/* Runs block kernel k: each of its node's join tasks, then the sums of
 * split blocks. Returns false (nothing to compare) for a split node with
 * an epilogue, which only its aggregation kernel could finish. */
static bool test_run_blocks(const TestProg *tp, const Kplan *k, void *h, void **bufs)
{
	const TraNode *n = &tp->u->g.nodes[k->node];
	TrartTask *tasks = llvm_unit_sym(h, "trac_tasks");
	void (*kernel)(void **, TrartTask *) = (void (*)(void **, TrartTask *))llvm_unit_sym(h, "test_kernel");
	for (int t = 0; t < tp->ia.ntasks; t++) {
		const IaTask *x = &tp->ia.tasks[t];
		tasks[t] = (TrartTask){.lo = x->lo, .hi = x->hi, .ndim = x->ndim};
		if (x->kind == IA_JOIN && x->node == k->node)
			kernel(bufs, &tasks[t]);
	}
	bool finished = !k->split || n->epilogue < 0;
	for (int t = 0; t < tp->ia.ntasks && k->split && finished; t++)
		if (tp->ia.tasks[t].kind == IA_AGG && tp->ia.tasks[t].node == k->node)
			test_combine(tp, bufs, n, t, bufs[k->node]);
	return finished;
}

/* How far the kernel's output is from the interpreter's values: the
 * largest difference over 1 + |value|, with a NaN (an element never
 * written) as infinity. */
static double test_error(const TraNode *n, const void *out, const double *want)
{
	double worst = 0;
	for (int64_t i = 0; i < tra_node_elements(n); i++) {
		double got = test_get(n, out, i), d = fabs(got - want[i]) / (1 + fabs(want[i]));
		if (isnan(got) != isnan(want[i]) || (!isnan(got) && d > worst))
			worst = isnan(got) || isnan(want[i]) ? INFINITY : d;
	}
	return worst;
}

/* Random inputs (the interpreter's, rounded to their type), and every
 * node's value. */
static void test_values(const TraGraph *g, InterpValues *iv)
{
	interp_values_init(iv, g);
	uint32_t seed = 2026;
	for (int v = 0; v < g->nnodes; v++) {
		if (g->nodes[v].kind != TRA_NODE_INPUT)
			continue;
		iv->data[v] = xcalloc((size_t)tra_node_elements(&g->nodes[v]), sizeof *iv->data[v]);
		for (int64_t i = 0; i < tra_node_elements(&g->nodes[v]); i++) {
			seed = seed * 1664525u + 1013904223u;
			double x = (double)(seed >> 8) / 16777216.0 * 2.0 - 1.0;
			iv->data[v][i] = g->nodes[v].type == TRART_F32 ? (double)(float)x : x;
		}
	}
	interp_run(g, iv);
}

/* What a run of the corpus found. */
typedef struct TestTally {
	int kernels, blocks, split, compared, gemv, epilogues, panels, copies;
	double worst32, worst64;
} TestTally;

/* Builds, runs and checks kernel k of tp. */
static void test_kernel(const TestProg *tp, const Kplan *k, const InterpValues *iv, const char *what,
                        TestTally *tally)
{
	const TraGraph *g = &tp->u->g;
	const TraNode *n = &g->nodes[k->node];
	CgLlvm *m = test_build(tp, k, NULL);
	void *h = llvm_unit_load(m, LLVM_UNIT_RUNTIME " " TRAC_BLAS_LIBS, true);
	void **bufs = test_buffers(tp, iv, k->node);
	bool compare = true;
	if (k->block)
		compare = test_run_blocks(tp, k, h, bufs);
	else
		((void (*)(void **))llvm_unit_sym(h, "test_kernel"))(bufs);
	tally->kernels++;
	tally->blocks += k->block;
	tally->split += k->split;
	tally->gemv += k->gemv;
	tally->epilogues += k->gemm.epilogue && !k->split;
	tally->panels += k->panels;
	tally->copies += k->gemm.A.scratch || k->gemm.B.scratch || k->gemm.C.scratch;
	if (compare) {
		double err = test_error(n, bufs[k->node], iv->data[k->node]);
		/* f32: K terms each rounded; f64: far below */
		double tol = n->type == TRART_F32 ? 2e-5 * (1 + sqrt((double)n->idx[n->nidx - 1].size)) * 8 : 1e-12;
		ck_assert_msg(err <= tol, "%s: %s %c%d differs from the interpreter by %g (tolerance %g)", what,
		              n->name, k->block ? 'b' : 'k', k->node, err, tol);
		double *worst = n->type == TRART_F32 ? &tally->worst32 : &tally->worst64;
		*worst = err > *worst ? err : *worst;
		tally->compared++;
	}
	for (int v = 0; v < (tp->kp.nbufs > g->nnodes ? tp->kp.nbufs : g->nnodes); v++)
		free(bufs[v]);
	free(bufs);
	/* the runtime's worker threads end before their code is unloaded */
	((void (*)(void))llvm_unit_sym(h, "trart_shutdown"))();
	dlclose(h);
	cg_llvm_free(m);
}

/* Every BLAS kernel of program path under mode. */
static void test_program(const char *path, TestMode mode, TestTally *tally)
{
	char *src = test_read(path);
	TestProg tp;
	test_plan(&tp, src, mode, NULL);
	InterpValues iv;
	test_values(&tp.u->g, &iv);
	for (int i = 0; i < tp.kp.nkernels; i++)
		if (tp.kp.kernels[i].kind == KPLAN_BLAS)
			test_kernel(&tp, &tp.kp.kernels[i], &iv, path, tally);
	interp_values_free(&iv);
	test_unplan(&tp);
	free(src);
}

/* Every program of tests/gemm under mode. */
static void test_corpus(TestMode mode, TestTally *tally)
{
	const char *srcdir = getenv("srcdir");
	char dir[1024];
	snprintf(dir, sizeof dir, "%s/tests/gemm", srcdir && *srcdir ? srcdir : ".");
	DIR *d = opendir(dir);
	ck_assert_msg(d != NULL, "cannot open %s", dir);
	struct dirent *e;
	int programs = 0;
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		if (len < 5 || strcmp(e->d_name + len - 4, ".tra") != 0)
			continue;
		char path[2048];
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		test_program(path, mode, tally);
		programs++;
	}
	closedir(d);
	ck_assert_int_ge(programs, 30);
	printf("llvm blas, %s: %d programs, %d kernels (%d block, %d split, %d gemv, %d epilogues, %d panels, "
	       "%d with copies), %d compared: worst f32 %.3g, f64 %.3g\n",
	       mode == TEST_WHOLE ? "whole nodes" : mode == TEST_DECOMP ? "decomp blocks" : "halved blocks",
	       programs, tally->kernels, tally->blocks, tally->split, tally->gemv, tally->epilogues, tally->panels,
	       tally->copies, tally->compared, tally->worst32, tally->worst64);
}

/* ---- the tests ------------------------------------------------------------------------------ */

START_TEST(whole_nodes_match_interpreter)
{
	TestTally t = {0};
	test_corpus(TEST_WHOLE, &t);
	/* the corpus reaches every form of whole-node kernel */
	ck_assert_int_ge(t.kernels, 30);
	ck_assert_int_gt(t.gemv, 0);
	ck_assert_int_gt(t.epilogues, 0);
	ck_assert_int_gt(t.panels, 0);
	ck_assert_int_gt(t.copies, 0);
	ck_assert_int_eq(t.compared, t.kernels);
}
END_TEST

START_TEST(decomp_blocks_match_interpreter)
{
	TestTally t = {0};
	test_corpus(TEST_DECOMP, &t);
	ck_assert_int_gt(t.blocks, 10);
	ck_assert_int_eq(t.blocks, t.kernels);
}
END_TEST

START_TEST(halved_blocks_match_interpreter)
{
	TestTally t = {0};
	test_corpus(TEST_HALVES, &t);
	ck_assert_int_gt(t.split, 5);
	ck_assert_int_gt(t.gemv, 0);
	ck_assert_int_gt(t.compared, t.kernels / 2);
}
END_TEST

/* The IR of a block kernel with a looped K (k_loop.tra with its
 * looped K index j cut in three): beta chosen per call, the task's lo and hi read from it
 * once, the partial block from the pool into trac_partial. */
START_TEST(block_ir_names_blas_no_alloc)
{
	const char *srcdir = getenv("srcdir");
	char path[1024];
	snprintf(path, sizeof path, "%s/tests/gemm/k_loop.tra", srcdir && *srcdir ? srcdir : ".");
	char *src = test_read(path);
	TestProg tp;
	test_plan(&tp, src, TEST_DECOMP, "C:j=3");
	const Kplan *k = NULL;
	for (int i = 0; i < tp.kp.nkernels; i++)
		if (tp.kp.kernels[i].kind == KPLAN_BLAS)
			k = &tp.kp.kernels[i];
	ck_assert_ptr_nonnull(k);
	ck_assert(k->block && k->split && k->gemm.kloop.n > 0);
	char *ir;
	CgLlvm *m = test_build(&tp, k, &ir);
	ck_assert_msg(strstr(ir, "define internal void @b") != NULL, "%s", ir);
	ck_assert_msg(strstr(ir, "declare void @cblas_sgemm(i32, i32, i32, i32, i32, i32, float, float*, i32, float*, i32, float, float*, i32)") != NULL, "%s", ir);
	/* its partial block is a buffer the executor provides: no allocation here */
	ck_assert_msg(strstr(ir, "@trart_pool_alloc") == NULL && strstr(ir, "@trac_partial") == NULL, "%s", ir);
	ck_assert_msg(strstr(ir, "select i1") != NULL, "no beta select: %s", ir);
	/* the block's bounds are loaded where the kernel starts, none inside
	 * its loops, where every cblas call would force a reload */
	char name[32];
	snprintf(name, sizeof name, "b%d", k->node);
	char *fn = llvm_unit_function_ir(ir, name), *loops = strstr(fn, "\nloop");
	ck_assert_msg(loops != NULL, "%s", fn);
	ck_assert_int_ge(unit_count(fn, "load i64, i64*"), 2 * tp.u->g.nodes[k->node].nidx);
	ck_assert_msg(strstr(loops, "load i64, i64*") == NULL, "a bound loaded in a loop: %s", fn);
	free(fn);
	free(ir);
	cg_llvm_free(m);
	test_unplan(&tp);
	free(src);
}
END_TEST

static Suite *llvm_blas_suite(void)
{
	Suite *s = suite_create("llvm_blas");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, whole_nodes_match_interpreter);
	tcase_add_test(tc, decomp_blocks_match_interpreter);
	tcase_add_test(tc, halved_blocks_match_interpreter);
	tcase_add_test(tc, block_ir_names_blas_no_alloc);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(llvm_blas_suite)
