/* test_llvm_kernels.c: the LLVM back end's loop kernels and scalar code
 * (codegen/llvm_kernels.c, and the pieces of codegen/llvm.c it uses),
 * built only where configure found LLVM.
 *
 * Programs are compiled from text as the other unit tests do; their
 * nodes' expressions and kernel plans are built into a module, which must
 * verify; the module is optimised, written as an object, linked into a
 * shared library by the C compiler ($CC) and loaded with dlopen (as
 * test_llvm.c does), and its functions are run on buffers filled here.
 * Results are compared with the interpreter (interp.c), and the kernel
 * math with trart.h's C, which the C back end runs: pow must equal
 * trart_pow_float and _double bit for bit on a grid with the special
 * values. Block kernels run task by task from the test (the task table
 * filled through dlsym, the library linked with libtrart for the pool);
 * whole-node kernels need trart_parallel_for's threads and are checked
 * end to end (tests/compile.sh, tests/reduce_nan.sh).
 */
#define TRART_KERNEL_MATH /* trart.h's kernel math, to compare with */
#include "llvm_prog.h"
#include "paths.h"

#include "unit.h"
#include "llvm_unit.h"

#include <dlfcn.h>
#include <float.h>
#include <unistd.h>

/* ---- pow ------------------------------------------------------------------------ */

/* void name(const T *x, const T *y, T *z, int64_t n): z[i] = pow(x[i], y[i]). */
static void test_build_pow(CgLlvm *m, const char *name, TrartDtype t)
{
	CgLlvmType pt = cg_llvm_ptr(m, cg_llvm_type(m, t));
	CgLlvmType params[4] = {pt, pt, pt, cg_llvm_i64(m)};
	cg_llvm_function(m, name, params, 4);
	CgLlvmLoop l;
	cg_llvm_loop_begin(m, &l, cg_llvm_const_i64(m, 0), cg_llvm_param(m, 3), true);
	CgLlvmValue x = cg_llvm_load(m, t, cg_llvm_param(m, 0), l.iv);
	CgLlvmValue y = cg_llvm_load(m, t, cg_llvm_param(m, 1), l.iv);
	cg_llvm_store(m, t, cg_llvm_param(m, 2), l.iv, cg_llvm_pow(m, t, x, y));
	cg_llvm_loop_end(m, &l);
	cg_llvm_return(m);
}

/* Every pair of a sweep and the special values, as x and y. */
static int test_pow_pairs(double **xs, double **ys)
{
	static const double special[] = {0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 3.0, -3.0, 2.5, -2.5,
	                                  INFINITY, -INFINITY, NAN, 1e-40, -1e-40, 1e-310, 1e30, -1e30,
	                                  1e300, -1e300, FLT_MAX, FLT_MIN, 100.0, -100.0, 1000.0, 0.1,
	                                  7.0, -7.0, 1.5, 127.0, -127.0, 1024.5, -1075.0};
	int ns = (int)(sizeof special / sizeof *special), nsweep = 81;
	double vals[200];
	int nv = 0;
	for (int i = 0; i < nsweep; i++)
		vals[nv++] = -10.0 + i * 0.25 + 0.013 * (i % 7);
	for (int i = 0; i < ns; i++)
		vals[nv++] = special[i];
	double *x = malloc((size_t)(nv * nv) * sizeof *x), *y = malloc((size_t)(nv * nv) * sizeof *y);
	ck_assert(x && y);
	for (int i = 0; i < nv; i++)
		for (int j = 0; j < nv; j++) {
			x[i * nv + j] = vals[i];
			y[i * nv + j] = vals[j];
		}
	*xs = x;
	*ys = y;
	return nv * nv;
}

START_TEST(pow_equals_trart)
{
	CgLlvm *m = llvm_unit_module();
	test_build_pow(m, "pow_f32", TRART_F32);
	test_build_pow(m, "pow_f64", TRART_F64);
	llvm_unit_verify(m);
	void *h = llvm_unit_load(m, LLVM_UNIT_RUNTIME, false);
	double *x, *y;
	int n = test_pow_pairs(&x, &y);
	double *z = malloc((size_t)n * sizeof *z);
	float *xf = malloc((size_t)n * sizeof *xf), *yf = malloc((size_t)n * sizeof *yf);
	float *zf = malloc((size_t)n * sizeof *zf);
	for (int i = 0; i < n; i++) {
		xf[i] = (float)x[i];
		yf[i] = (float)y[i];
	}
	((void (*)(const double *, const double *, double *, int64_t))llvm_unit_sym(h, "pow_f64"))(x, y, z, n);
	((void (*)(const float *, const float *, float *, int64_t))llvm_unit_sym(h, "pow_f32"))(xf, yf, zf, n);
	int bad = 0;
	for (int i = 0; i < n; i++) {
		double want = trart_pow_double(x[i], y[i]);
		float wantf = trart_pow_float(xf[i], yf[i]);
		if (!llvm_unit_same(z[i], want) && bad++ < 5)
			printf("pow_f64(%a, %a) = %a, trart %a\n", x[i], y[i], z[i], want);
		if (!llvm_unit_same(zf[i], wantf) && bad++ < 5)
			printf("pow_f32(%a, %a) = %a, trart %a\n", (double)xf[i], (double)yf[i], (double)zf[i],
			       (double)wantf);
	}
	printf("llvm pow: %d pairs per type, %d differ from trart.h\n", n, bad);
	ck_assert_msg(bad == 0, "pow differs from trart.h on %d of %d pairs", bad, 2 * n);
	free(x);
	free(y);
	free(z);
	free(xf);
	free(yf);
	free(zf);
	dlclose(h);
	cg_llvm_free(m);
}
END_TEST

/* ---- expressions ------------------------------------------------------------------ */

/* Builds `void name(T *out, const T *in0, ...)` computing map node n
 * (no reduction) at every output element through cg_llvm_expr. */
static void test_build_map_node(CgLlvmProg *p, const TraNode *n, const char *name)
{
	CgLlvm *m = p->m;
	CgLlvmType pt = cg_llvm_ptr(m, cg_llvm_type(m, n->type)), params[1 + TRA_MAX_STMT_INDICES];
	for (int k = 0; k <= n->nops; k++)
		params[k] = pt;
	cg_llvm_function(m, name, params, 1 + n->nops);
	CgLlvmValue in[TRA_MAX_STMT_INDICES];
	for (int k = 0; k < n->nops; k++)
		in[k] = cg_llvm_param(m, 1 + k);
	CgLlvmEnv env = {.n = n, .in = in};
	CgLlvmLoop loops[TRA_MAX_RANK];
	CgLlvmValue off = cg_llvm_const_i64(m, 0);
	for (int d = 0; d < n->rank; d++) {
		cg_llvm_loop_begin(m, &loops[d], cg_llvm_const_i64(m, 0), cg_llvm_const_i64(m, n->idx[d].size),
		                   d == n->rank - 1);
		env.x[d] = loops[d].iv;
		off = cg_llvm_iadd(m, cg_llvm_imul(m, off, cg_llvm_const_i64(m, n->idx[d].size)), loops[d].iv);
	}
	cg_llvm_store(m, n->type, cg_llvm_param(m, 0), off, cg_llvm_expr(p, &env, n->join));
	for (int d = n->rank - 1; d >= 0; d--)
		cg_llvm_loop_end(m, &loops[d]);
	cg_llvm_return(m);
}

/* Fills the inputs of u's graph with values from a fixed generator in
 * [-3, 3), with a few special values among them if special. */
static void test_fill_inputs(UnitRun *u, InterpValues *v, bool specials)
{
	static const double special[] = {0.0, 1.0, -1.0, 2.0, INFINITY, -INFINITY, NAN, 0.5};
	uint32_t seed = 2026;
	for (int id = 0; id < u->g.nnodes; id++) {
		if (u->g.nodes[id].kind != TRA_NODE_INPUT)
			continue;
		int64_t n = tra_node_elements(&u->g.nodes[id]);
		free(v->data[id]);
		v->data[id] = malloc((size_t)n * sizeof **v->data);
		ck_assert_ptr_nonnull(v->data[id]);
		for (int64_t i = 0; i < n; i++) {
			seed = seed * 1664525u + 1013904223u;
			double r = (double)(seed >> 8) / 16777216.0 * 6.0 - 3.0;
			v->data[id][i] = specials && seed % 11 == 0 ? special[(seed >> 4) % 8] : r;
			if (u->g.nodes[id].type == TRART_F32)
				v->data[id][i] = (float)v->data[id][i];
		}
	}
}

/* A copy of node id's values in its element type (malloc'ed). */
static void *test_typed(const UnitRun *u, const InterpValues *v, int id)
{
	int64_t n = tra_node_elements(&u->g.nodes[id]);
	bool f = u->g.nodes[id].type == TRART_F32;
	void *buf = malloc((size_t)(n + 1) * (f ? 4 : 8));
	ck_assert_ptr_nonnull(buf);
	for (int64_t i = 0; i < n; i++)
		if (f)
			((float *)buf)[i] = (float)v->data[id][i];
		else
			((double *)buf)[i] = v->data[id][i];
	return buf;
}

/* The relative difference of a and b, 0 where they agree exactly (both
 * infinite of one sign, or both NaN). */
static double test_rel(double a, double b)
{
	if (llvm_unit_same(a, b))
		return 0;
	if (isnan(a) || isnan(b) || isinf(a) || isinf(b))
		return INFINITY;
	return fabs(a - b) / fmax(fabs(b), 1e-30);
}

/* Every einsum node of src, a map each (no passes run), built through
 * cg_llvm_expr and run on its operands' interpreted values: the result
 * is within tol of the interpreter's (relative; 1e-30 absolute near 0).
 * Returns how many results were NaN. */
static int64_t test_maps(const char *src, double tol)
{
	int64_t nans = 0;
	UnitRun *u = unit_compile_ok(src);
	InterpValues v;
	interp_values_init(&v, &u->g);
	test_fill_inputs(u, &v, true);
	interp_run(&u->g, &v);
	CgLlvm *m = llvm_unit_module();
	CgLlvmProg p = {.m = m, .g = &u->g};
	char name[32];
	for (int id = 0; id < u->g.nnodes; id++)
		if (u->g.nodes[id].kind == TRA_NODE_EINSUM) {
			ck_assert_int_eq(u->g.nodes[id].agg, TRA_AGG_NONE);
			snprintf(name, sizeof name, "map%d", id);
			test_build_map_node(&p, &u->g.nodes[id], name);
		}
	llvm_unit_verify(m);
	void *h = llvm_unit_load(m, LLVM_UNIT_RUNTIME, false);
	for (int id = 0; id < u->g.nnodes; id++) {
		const TraNode *n = &u->g.nodes[id];
		if (n->kind != TRA_NODE_EINSUM)
			continue;
		void *bufs[1 + TRA_MAX_STMT_INDICES];
		int64_t count = tra_node_elements(n);
		bufs[0] = test_typed(u, &v, id);
		for (int k = 0; k < n->nops; k++)
			bufs[1 + k] = test_typed(u, &v, n->ops[k].node);
		snprintf(name, sizeof name, "map%d", id);
		void *fn = llvm_unit_sym(h, name);
		/* at most four operands in these tests */
		ck_assert_int_le(n->nops, 4);
		((void (*)(void *, void *, void *, void *, void *))fn)(bufs[0], bufs[1], bufs[2], bufs[3], bufs[4]);
		double worst = 0;
		for (int64_t i = 0; i < count; i++) {
			double got = n->type == TRART_F32 ? ((float *)bufs[0])[i] : ((double *)bufs[0])[i];
			double want = v.data[id][i];
			if (n->type == TRART_F32)
				want = (float)want;
			double d = test_rel(got, want);
			nans += isnan(got);
			ck_assert_msg(d <= tol, "%s[%lld] = %.9g, the interpreter %.9g (%s)", n->name, (long long)i,
			              got, want, src);
			worst = fmax(worst, d);
		}
		printf("llvm expr %s: %lld elements, worst relative difference %.3g\n", n->name,
		       (long long)count, worst);
		for (int k = 0; k <= n->nops; k++)
			free(bufs[k]);
	}
	dlclose(h);
	cg_llvm_free(m);
	interp_values_free(&v);
	unit_free(u);
	return nans;
}

START_TEST(expr_every_op_f32)
{
	test_maps("size N = 5, M = 37\n"
	          "input X[N, M], Y[M], Z[N]\n"
	          "A[i, j] = select(X[i, j] < Y[j], X[i, j] + Y[j], X[i, j] - Z[i] * 2) / (abs(Z[i]) + 1)\n"
	          "B[i, j] = select(X[i, j] <= Y[j], 1, 0) + select(X[i, j] >= Y[j], 2, 0)"
	          " + select(X[i, j] > 0.5, 4, 0) + select(X[i, j] == Y[j], 8, 0) + select(X[i, j] != Z[i], 16, 0)\n"
	          "C[i, j] = max(X[i, j], Y[j]) + min(X[i, j], Z[i]) * -1 + relu(X[i, j] - 1)\n"
	          "D[i, j] = exp(X[i, j]) + log(abs(Y[j])) + tanh(Z[i]) + sigmoid(X[i, j]) + sqrt(abs(X[i, j]))\n"
	          "E[i, j] = pow(abs(X[i, j]), Y[j]) + pow(X[i, j], 2) + pow(Z[i], 3)\n"
	          "F[i, j] = i * 10 + j - 2.5 + 0 * X[i, j]\n"
	          "output A, B, C, D, E, F\n",
	          2e-6);
}
END_TEST

START_TEST(expr_every_op_f64)
{
	test_maps("size N = 3, M = 19\n"
	          "input X[N, M] f64, Y[M] f64, Z[N] f64\n"
	          "A[i, j] = select(X[i, j] < Y[j], X[i, j] + Y[j], X[i, j] - Z[i] * 2) / (abs(Z[i]) + 1)\n"
	          "C[i, j] = max(X[i, j], Y[j]) + min(X[i, j], Z[i]) * -1 + relu(X[i, j] - 1)\n"
	          "D[i, j] = exp(X[i, j]) + log(abs(Y[j])) + tanh(Z[i]) + sigmoid(X[i, j]) + sqrt(abs(X[i, j]))\n"
	          "E[i, j] = pow(abs(X[i, j]), Y[j]) + pow(X[i, j], 2) + pow(Z[i], 3)\n"
	          "F[i, j] = select(i < j, -j, i) + 0 * X[i, j]\n"
	          "output A, C, D, E, F\n",
	          1e-12);
}
END_TEST

/* max and min with a NaN on either side are NaN (the prelude's rule),
 * and so is their result in every element that reads one. */
START_TEST(expr_maxmin_nan)
{
	int64_t nans = test_maps("size N = 400\ninput X[N], Y[N]\n"
	                         "A[i] = max(X[i], Y[i])\nB[i] = min(X[i], Y[i])\nC[i] = max(Y[i], X[i])\n"
	                         "output A, B, C\n",
	                         0);
	ck_assert_int_gt(nans, 0); /* the inputs had NaNs in them */
}
END_TEST

/* ---- kernels of programs ------------------------------------------------------------ */

/* A program's kernels built into a module: the graph after the passes,
 * its plans (block kernels of a partition for `devices` when devices > 0,
 * else whole-node kernels), and the module with the task tables the
 * block kernels read, as llvm_prog.c declares them. */
typedef struct TestProg {
	UnitRun *u;
	IaGraph ia;
	KplanProgram kp;
	CgCOptions opt;
	CgLlvmProg p;
	int nloops; /* kernels built here (BLAS ones are llvm_blas.c's) */
} TestProg;

/* Keeps every kernel through O3 (nothing calls them here, and internal
 * functions nobody calls are deleted): test_kernels[k], an external
 * table, is kernel k's function (NULL for those built elsewhere), as the
 * program's tables hold them. */
static void test_prog_keep(TestProg *t)
{
	CgLlvm *m = t->p.m;
	CgLlvmType i8p = cg_llvm_ptr(m, cg_llvm_int(m, 8));
	int nk = t->kp.nkernels, found = 0;
	CgLlvmValue *fns = calloc((size_t)nk + 1, sizeof *fns);
	char name[48];
	for (int k = 0; k < nk; k++) {
		const Kplan *K = &t->kp.kernels[k];
		static const char prefix[] = {[KPLAN_LOOPS] = 'b', [KPLAN_ROWS] = 'r', [KPLAN_AGG] = 'a'};
		if (K->kind == KPLAN_NOP)
			snprintf(name, sizeof name, "trac_nop");
		else
			snprintf(name, sizeof name, "%c%d", t->opt.ia ? prefix[K->kind] : 'k', K->node);
		CgLlvmValue fn = cg_llvm_named_function(m, name);
		fns[k] = fn ? cg_llvm_const_cast(fn, i8p) : cg_llvm_const_null(i8p);
		found += fn != NULL;
	}
	ck_assert_int_gt(found, 0);
	CgLlvmValue table = cg_llvm_global(m, "test_kernels", cg_llvm_array(m, i8p, nk), true, true);
	cg_llvm_global_init(table, cg_llvm_const_array(m, i8p, fns, nk));
	free(fns);
}

static void test_prog_open(TestProg *t, const char *src, int devices)
{
	memset(t, 0, sizeof *t);
	t->u = llvm_unit_program(src, devices, &t->ia);
	TraGraph *g = &t->u->g;
	t->opt = (CgCOptions){"test", "test.tra", false, NULL, devices > 0 ? &t->ia : NULL, NULL};
	kplan_build(g, t->opt.ia, t->opt.plans, &t->kp);
	CgLlvm *m = llvm_unit_module();
	t->p = (CgLlvmProg){.m = m, .g = g, .kp = &t->kp, .opt = &t->opt};
	if (devices > 0) {
		CgLlvmType i32 = cg_llvm_int(m, 32);
		int nt = t->ia.ntasks;
		/* external, zero, writable: test_run_blocks fills them through dlsym */
		t->p.tasks = cg_llvm_global(m, "trac_tasks", cg_llvm_array(m, cg_llvm_int(m, 8),
		                            (int64_t)(nt * sizeof(TrartTask))), true, false);
		t->p.nparts = cg_llvm_global(m, "trac_nparts", cg_llvm_array(m, i32, nt), true, false);
		t->p.parts = cg_llvm_global(m, "trac_parts", cg_llvm_array(m, cg_llvm_ptr(m, i32), nt), true, false);
		cg_llvm_global_init(t->p.tasks, cg_llvm_const_null(cg_llvm_array(m, cg_llvm_int(m, 8),
		                                                   (int64_t)(nt * sizeof(TrartTask)))));
		cg_llvm_global_init(t->p.nparts, cg_llvm_const_null(cg_llvm_array(m, i32, nt)));
		cg_llvm_global_init(t->p.parts, cg_llvm_const_null(cg_llvm_array(m, cg_llvm_ptr(m, i32), nt)));
	}
	for (int k = 0; k < t->kp.nkernels; k++)
		if (t->kp.kernels[k].kind != KPLAN_BLAS) {
			cg_llvm_loops_kernel(&t->p, &t->kp.kernels[k]);
			t->nloops++;
		}
	test_prog_keep(t);
}

static void test_prog_close(TestProg *t)
{
	cg_llvm_free(t->p.m);
	kplan_free(&t->kp);
	unit_free(t->u);
}

/* Programs whose kernels are loops, for every kind of plan: maps, row
 * groups, SIMD and blocked sums, columns with and without blocks, max
 * and min with NaN flags, products, scalars, f64, split reductions. */
static const char *const test_programs[] = {
	"size N = 37, D = 300\ninput X[N, D]\n"
	"M[i] = max[j](X[i, j])\nE[i, j] = exp(X[i, j] - M[i])\nZ[i] = sum[j](E[i, j])\n"
	"P[i, j] = E[i, j] / Z[i]\nL[i] = M[i] + log(Z[i])\noutput P, L\n",
	"size N = 5000, D = 40, K = 3\ninput X[N, D], Y[K, N]\n"
	"C[j] = sum[i](X[i, j])\nA[j] = max[i](X[i, j])\nB[k, j] = min[i](X[i, j] * Y[k, i])\n"
	"output C, A, B\n",
	"size N = 1000, D = 64\ninput X[N, D] f64\n"
	"s = sum[i, j](X[i, j] * X[i, j])\np = prod[i, j](X[i, j] * 0.001 + 1)\nm = min[i, j](X[i, j])\n"
	"R[i] = sqrt(sum[j](pow(X[i, j], 2)))\noutput s, p, m, R\n",
	"size N = 300, D = 1024\ninput X[N, D], gamma[D], beta[D]\n"
	"mu[i] = mean[j](X[i, j])\nvar[i] = mean[j]((X[i, j] - mu[i]) * (X[i, j] - mu[i]))\n"
	"Y[i, j] = (X[i, j] - mu[i]) / sqrt(var[i] + 1e-5) * gamma[j] + beta[j]\noutput Y\n",
	"size B = 4, N = 33, D = 17\ninput X[B, N, D]\n"
	"T[b, d] = max[n](X[b, n, d])\nU[b, n] = sum[d](relu(X[b, n, d]) - T[b, d])\n"
	"V[b, n, d] = select(X[b, n, d] > 0, tanh(X[b, n, d]), sigmoid(X[b, n, d]))\noutput U, V\n",
};
#define TEST_NPROGRAMS ((int)(sizeof test_programs / sizeof *test_programs))

/* Every program, as whole-node and as block kernels for 1 to 4 devices:
 * the module verifies, O3 runs, and every loop tagged for vectorisation
 * was vectorised (LLVM warns of one that was not). */
START_TEST(kernels_verify_and_vectorise)
{
	static const int devices[] = {0, 1, 2, 4};
	for (int i = 0; i < TEST_NPROGRAMS; i++)
		for (size_t d = 0; d < sizeof devices / sizeof *devices; d++) {
			TestProg t;
			test_prog_open(&t, test_programs[i], devices[d]);
			ck_assert_int_gt(t.nloops, 0);
			char err[8192];
			ck_assert_msg(cg_llvm_verify(t.p.m, err, sizeof err), "program %d, %d devices: %s", i,
			              devices[d], err);
			ck_assert_msg(cg_llvm_optimize(t.p.m, err, sizeof err), "%s", err);
			const char *why;
			int nw = cg_llvm_warnings(t.p.m, &why);
			ck_assert_msg(nw == 0, "program %d, %d devices: %d warnings, first: %s", i, devices[d], nw, why);
			test_prog_close(&t);
		}
}
END_TEST

/* Issue 10's test: after O3, a row sum's kernel adds vectors and an
 * element-wise map's stores them, at the machine's width; so do the
 * block kernels; and a row max (order keys) reduces vectors too. */
static void test_vector_kernel(const char *src, int devices, const char *fn, const char *op)
{
	TestProg t;
	test_prog_open(&t, src, devices);
	char err[4096];
	llvm_unit_verify(t.p.m);
	ck_assert_msg(cg_llvm_optimize(t.p.m, err, sizeof err), "%s", err);
	char want[64], *ir = llvm_unit_ir(t.p.m), *body = llvm_unit_function_ir(ir, fn);
	snprintf(want, sizeof want, op, llvm_unit_width(t.p.m));
	printf("llvm kernel %s (%d devices): %d '%s'\n", fn, devices, unit_count(body, want), want);
	ck_assert_msg(strstr(body, want) != NULL, "%s has no '%s' after O3:\n%s", fn, want, body);
	free(body);
	free(ir);
	test_prog_close(&t);
}

START_TEST(rowsum_and_map_vectorise)
{
	const char *rowsum = "size N = 64, D = 200\ninput X[N, D]\nZ[i] = sum[j](X[i, j])\noutput Z\n";
	const char *map = "size N = 64, D = 200\ninput X[N, D]\nE[i, j] = exp(X[i, j]) * 2\noutput E\n";
	const char *rowmax = "size N = 64, D = 200\ninput X[N, D]\nM[i] = max[j](X[i, j])\noutput M\n";
	test_vector_kernel(rowsum, 0, "k1.body", "fadd <%d x float>");
	test_vector_kernel(map, 0, "k1.body", "store <%d x float>");
	test_vector_kernel(rowsum, 2, "b1", "fadd <%d x float>");
	test_vector_kernel(map, 2, "b1", "store <%d x float>");
	test_vector_kernel(rowmax, 0, "k1.body", "<%d x i32>");
}
END_TEST

/* Stack arrays are cache-line aligned (llvm.c's CG_LLVM_ARRAY_ALIGN):
 * with LLVM's default, a float's 4 bytes, every vector access to a
 * column sum's tile straddles two lines. In every program's kernels,
 * whole-node and in blocks, each array alloca says align 64, before O3
 * and after it; the column sums have some. */
static int test_aligned_arrays(const char *ir, const char *what, int i, int devices)
{
	int arrays = 0;
	for (const char *p = strstr(ir, "alloca ["); p; p = strstr(p + 1, "alloca [")) {
		const char *eol = strchr(p, '\n'), *align = strstr(p, ", align 64");
		int len = eol ? (int)(eol - p) : (int)strlen(p);
		ck_assert_msg(align && align < p + len,
		              "program %d, %d devices, %s: '%.*s'", i, devices, what, len, p);
		arrays++;
	}
	return arrays;
}

START_TEST(stack_arrays_cache_line_aligned)
{
	int arrays = 0;
	for (int i = 0; i < TEST_NPROGRAMS; i++)
		for (int devices = 0; devices <= 2; devices += 2) {
			TestProg t;
			test_prog_open(&t, test_programs[i], devices);
			char err[4096], *ir = llvm_unit_ir(t.p.m);
			int before = test_aligned_arrays(ir, "before O3", i, devices);
			free(ir);
			ck_assert_msg(cg_llvm_optimize(t.p.m, err, sizeof err), "%s", err);
			ir = llvm_unit_ir(t.p.m);
			test_aligned_arrays(ir, "after O3", i, devices);
			free(ir);
			if (i == 1)
				ck_assert_msg(before >= 3, "column sums, %d devices: %d arrays", devices, before);
			arrays += before;
			test_prog_close(&t);
		}
	printf("llvm stack arrays: %d, all 64-byte aligned\n", arrays);
}
END_TEST

/* ---- running block kernels ------------------------------------------------------------ */

/* Runs every task of t's block kernels, each after its predecessors, on
 * buffers holding v's inputs, through the
 * shared library's functions and task tables; then every output equals
 * the interpreter's within tra(5)'s tolerance (the largest error relative
 * to the largest magnitude, as tests/programs.sh compares). */
static void test_run_blocks(TestProg *t, InterpValues *v)
{
	const TraGraph *g = &t->u->g;
	llvm_unit_verify(t->p.m);
	void *h = llvm_unit_load(t->p.m, LLVM_UNIT_RUNTIME, false);
	char *tasks = llvm_unit_sym(h, "trac_tasks");
	int32_t *nparts = llvm_unit_sym(h, "trac_nparts");
	const int **parts = llvm_unit_sym(h, "trac_parts");
	void *const *kernels = llvm_unit_sym(h, "test_kernels");
	void **bufs = calloc((size_t)t->kp.nbufs, sizeof *bufs);
	for (int id = 0; id < g->nnodes; id++)
		bufs[id] = test_typed(t->u, v, id); /* inputs; the rest is overwritten */
	for (int b = g->nnodes; b < t->kp.nbufs; b++) /* split joins' partial blocks */
		bufs[b] = t->kp.pooled[b] > 0 ? malloc((size_t)t->kp.pooled[b]) : NULL;
	for (int k = 0; k < t->ia.ntasks; k++) {
		const IaTask *it = &t->ia.tasks[k];
		TrartTask *row = (TrartTask *)(tasks + (size_t)k * sizeof(TrartTask));
		row->lo = it->lo;
		row->hi = it->hi;
		nparts[k] = t->kp.tasks[k].nparts;
		parts[k] = t->kp.tasks[k].parts;
	}
	/* in an order the task graph allows: a task once its npred
	 * predecessors ran (Kahn's algorithm on the succ lists) */
	int nt = t->ia.ntasks, *waits = calloc((size_t)nt, sizeof *waits), *ready = calloc((size_t)nt, sizeof *ready);
	int nready = 0, ran = 0;
	for (int k = 0; k < nt; k++)
		if ((waits[k] = t->kp.tasks[k].npred) == 0)
			ready[nready++] = k;
	while (nready > 0) {
		int k = ready[--nready];
		ran++;
		for (int i = 0; i < t->kp.tasks[k].nsucc; i++)
			if (--waits[t->kp.tasks[k].succ[i]] == 0)
				ready[nready++] = t->kp.tasks[k].succ[i];
		const Kplan *K = &t->kp.kernels[t->kp.tasks[k].kernel];
		if (K->kind == KPLAN_NOP)
			continue;
		void (*fn)(void **, const TrartTask *) = (void (*)(void **, const TrartTask *))
			kernels[t->kp.tasks[k].kernel];
		ck_assert_ptr_nonnull(fn);
		fn(bufs, (const TrartTask *)(tasks + (size_t)k * sizeof(TrartTask)));
	}
	ck_assert_int_eq(ran, nt);
	free(waits);
	free(ready);
	for (int o = 0; o < g->noutputs; o++) {
		int id = g->outputs[o];
		const TraNode *n = &g->nodes[id];
		double big = 1e-30, worst = 0;
		int64_t count = tra_node_elements(n);
		for (int64_t i = 0; i < count; i++)
			big = fmax(big, fabs(v->data[id][i]));
		for (int64_t i = 0; i < count; i++) {
			double got = n->type == TRART_F32 ? ((float *)bufs[id])[i] : ((double *)bufs[id])[i];
			double d = fabs(got - v->data[id][i]) / big;
			worst = d > worst || d != d ? d : worst; /* a NaN is the worst */
		}
		printf("llvm blocks %s: %lld elements, error %.3g of the largest magnitude\n", n->name,
		       (long long)count, worst);
		ck_assert_msg(big < INFINITY && worst <= (n->type == TRART_F32 ? 1e-4 : 1e-10), "%s: error %g", n->name,
		              worst);
	}
	for (int b = 0; b < t->kp.nbufs; b++)
		free(bufs[b]);
	free(bufs);
	dlclose(h);
}

/* Every program's block kernels for 1, 2 and 3 devices (split joins and
 * their aggregations among them), run task by task. */
START_TEST(block_kernels_compute)
{
	int splits = 0;
	for (int i = 0; i < TEST_NPROGRAMS; i++)
		for (int devices = 1; devices <= 3; devices++) {
			TestProg t;
			test_prog_open(&t, test_programs[i], devices);
			ck_assert_int_eq(t.nloops, t.kp.nkernels); /* no BLAS kernel among them */
			for (int k = 0; k < t.kp.nkernels; k++)
				splits += t.kp.kernels[k].split;
			InterpValues v;
			interp_values_init(&v, &t.u->g);
			test_fill_inputs(t.u, &v, false);
			interp_run(&t.u->g, &v);
			test_run_blocks(&t, &v);
			interp_values_free(&v);
			test_prog_close(&t);
		}
	printf("llvm blocks: %d split joins among the kernels\n", splits);
	ck_assert_int_gt(splits, 0);
}
END_TEST

static Suite *llvm_kernels_suite(void)
{
	Suite *s = suite_create("llvm_kernels");
	TCase *tc = tcase_create("expr");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, pow_equals_trart);
	tcase_add_test(tc, expr_every_op_f32);
	tcase_add_test(tc, expr_every_op_f64);
	tcase_add_test(tc, expr_maxmin_nan);
	tcase_add_test(tc, kernels_verify_and_vectorise);
	tcase_add_test(tc, rowsum_and_map_vectorise);
	tcase_add_test(tc, stack_arrays_cache_line_aligned);
	tcase_add_test(tc, block_kernels_compute);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(llvm_kernels_suite)
