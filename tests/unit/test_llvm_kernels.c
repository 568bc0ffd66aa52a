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
 * values.
 */
#define TRART_KERNEL_MATH /* trart.h's kernel math, to compare with */
#include "llvm_prog.h"

#include "unit.h"

#include <dlfcn.h>
#include <float.h>
#include <unistd.h>

/* ---- modules and shared libraries ------------------------------------------- */

static CgLlvm *test_module(void)
{
	char err[512];
	CgLlvm *m = cg_llvm_new("test", err, sizeof err);
	ck_assert_msg(m != NULL, "cg_llvm_new: %s", err);
	return m;
}

static void test_verify(CgLlvm *m)
{
	char err[8192];
	ck_assert_msg(cg_llvm_verify(m, err, sizeof err), "%s", err);
}

/* The optimised module as a loaded shared library (dlclose it); the
 * files go at once. */
static void *test_load(CgLlvm *m)
{
	char err[4096], dir[] = "/tmp/test_llvm_kernels.XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char obj[64], so[64], cmd[512];
	snprintf(obj, sizeof obj, "%s/k.o", dir);
	snprintf(so, sizeof so, "%s/k.so", dir);
	test_verify(m);
	ck_assert_msg(cg_llvm_optimize(m, err, sizeof err), "%s", err);
	ck_assert_msg(cg_llvm_emit_object(m, obj, err, sizeof err), "%s", err);
	const char *cc = getenv("CC");
	snprintf(cmd, sizeof cmd, "%s -shared -o %s %s", cc && *cc ? cc : "cc", so, obj);
	ck_assert_msg(system(cmd) == 0, "failed: %s", cmd);
	void *h = dlopen(so, RTLD_NOW | RTLD_LOCAL);
	ck_assert_msg(h != NULL, "dlopen: %s", dlerror());
	unlink(obj);
	unlink(so);
	rmdir(dir);
	return h;
}

/* A function of the library; POSIX lets a data pointer hold a function's. */
static void *test_sym(void *h, const char *name)
{
	void *p = dlsym(h, name);
	ck_assert_msg(p != NULL, "no symbol %s", name);
	return p;
}

/* Whether two results agree: equal (a zero of either sign, as the
 * language has no signed zeros) or both NaN. */
static bool test_same(double a, double b)
{
	return a == b || (isnan(a) && isnan(b));
}

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
	CgLlvm *m = test_module();
	test_build_pow(m, "pow_f32", TRART_F32);
	test_build_pow(m, "pow_f64", TRART_F64);
	test_verify(m);
	void *h = test_load(m);
	double *x, *y;
	int n = test_pow_pairs(&x, &y);
	double *z = malloc((size_t)n * sizeof *z);
	float *xf = malloc((size_t)n * sizeof *xf), *yf = malloc((size_t)n * sizeof *yf);
	float *zf = malloc((size_t)n * sizeof *zf);
	for (int i = 0; i < n; i++) {
		xf[i] = (float)x[i];
		yf[i] = (float)y[i];
	}
	((void (*)(const double *, const double *, double *, int64_t))test_sym(h, "pow_f64"))(x, y, z, n);
	((void (*)(const float *, const float *, float *, int64_t))test_sym(h, "pow_f32"))(xf, yf, zf, n);
	int bad = 0;
	for (int i = 0; i < n; i++) {
		double want = trart_pow_double(x[i], y[i]);
		float wantf = trart_pow_float(xf[i], yf[i]);
		if (!test_same(z[i], want) && bad++ < 5)
			printf("pow_f64(%a, %a) = %a, trart %a\n", x[i], y[i], z[i], want);
		if (!test_same(zf[i], wantf) && bad++ < 5)
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
 * [-3, 3), with a few special values among them. */
static void test_fill_inputs(UnitRun *u, InterpValues *v)
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
			v->data[id][i] = seed % 11 == 0 ? special[(seed >> 4) % 8] : r;
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
	if (test_same(a, b))
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
	test_fill_inputs(u, &v);
	interp_run(&u->g, &v);
	CgLlvm *m = test_module();
	CgLlvmProg p = {.m = m, .g = &u->g};
	char name[32];
	for (int id = 0; id < u->g.nnodes; id++)
		if (u->g.nodes[id].kind == TRA_NODE_EINSUM) {
			ck_assert_int_eq(u->g.nodes[id].agg, TRA_AGG_NONE);
			snprintf(name, sizeof name, "map%d", id);
			test_build_map_node(&p, &u->g.nodes[id], name);
		}
	void *h = test_load(m);
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
		void *fn = test_sym(h, name);
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

static Suite *llvm_kernels_suite(void)
{
	Suite *s = suite_create("llvm_kernels");
	TCase *tc = tcase_create("expr");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, pow_equals_trart);
	tcase_add_test(tc, expr_every_op_f32);
	tcase_add_test(tc, expr_every_op_f64);
	tcase_add_test(tc, expr_maxmin_nan);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(llvm_kernels_suite)
