/* test_llvm.c: the LLVM back end's foundation (codegen/llvm.c), built
 * only where configure found LLVM.
 *
 * Kernels are built with llvm.h's helpers, as the back end will build
 * them: rowsum(x, y, n, m) (y[i] = the sum of row i of an n x m matrix, a
 * reduction loop) and maps y[i] = f(x[i]) of exp, log, tanh, sigmoid,
 * sin, cos, erf, exp2, log2, expm1, log1p, rsqrt and sign in f32 and f64. The tests check that the module verifies, that after O3
 * the loops are vector loops of the width the host's features give, and
 * that the code computes the right values: the object file that
 * cg_llvm_emit_object writes is linked into a shared library by the C
 * compiler ($CC, as configure found it) and loaded with dlopen (no JIT),
 * then compared with C: exp within 2 ulp of the C library's expf, every
 * kernel math function equal to trart.h's (the C back end's) on a sweep
 * with the special values, rowsum within 1e-6 of a double-precision sum.
 */
#define TRART_KERNEL_MATH /* trart.h's kernel math, to compare with */
#include "llvm.h"

#include "unit.h"
#include "llvm_unit.h"

#include <check.h>
#include <dlfcn.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- building the kernels ---------------------------------------------------- */

/* void rowsum(const float *x, float *y, int64_t n, int64_t m) */
static void test_build_rowsum(CgLlvm *m)
{
	CgLlvmType f = cg_llvm_type(m, TRART_F32), i64 = cg_llvm_i64(m);
	CgLlvmType params[4] = {cg_llvm_ptr(m, f), cg_llvm_ptr(m, f), i64, i64};
	cg_llvm_function(m, "rowsum", params, 4);
	cg_llvm_param_noalias(m, 0);
	cg_llvm_param_noalias(m, 1);
	CgLlvmValue x = cg_llvm_param(m, 0), y = cg_llvm_param(m, 1);
	CgLlvmValue n = cg_llvm_param(m, 2), cols = cg_llvm_param(m, 3);
	CgLlvmValue zero = cg_llvm_const_i64(m, 0);
	CgLlvmLoop row, col;
	cg_llvm_loop_begin(m, &row, zero, n, false);
	CgLlvmValue start = cg_llvm_imul(m, row.iv, cols);
	cg_llvm_loop_begin(m, &col, zero, cols, true);
	int acc = cg_llvm_loop_carry(m, &col, cg_llvm_const(m, TRART_F32, 0.0));
	CgLlvmValue v = cg_llvm_load(m, TRART_F32, x, cg_llvm_iadd(m, start, col.iv));
	col.next[acc] = cg_llvm_arith(m, TRA_OP_ADD, col.cur[acc], v);
	cg_llvm_loop_end(m, &col);
	cg_llvm_store(m, TRART_F32, y, row.iv, col.out[acc]);
	cg_llvm_loop_end(m, &row);
	cg_llvm_return(m);
}

/* void name(const T *x, T *y, int64_t n): y[i] = op(x[i]). */
static void test_build_map(CgLlvm *m, const char *name, TraOp op, TrartDtype t)
{
	CgLlvmType params[3] = {cg_llvm_ptr(m, cg_llvm_type(m, t)), cg_llvm_ptr(m, cg_llvm_type(m, t)),
	                        cg_llvm_i64(m)};
	cg_llvm_function(m, name, params, 3);
	cg_llvm_param_noalias(m, 0);
	cg_llvm_param_noalias(m, 1);
	CgLlvmLoop l;
	cg_llvm_loop_begin(m, &l, cg_llvm_const_i64(m, 0), cg_llvm_param(m, 2), true);
	CgLlvmValue v = cg_llvm_load(m, t, cg_llvm_param(m, 0), l.iv);
	cg_llvm_store(m, t, cg_llvm_param(m, 1), l.iv, cg_llvm_math(m, op, t, v));
	cg_llvm_loop_end(m, &l);
	cg_llvm_return(m);
}

/* The kernel math under test, and trart.h's C for each. */
static const struct {
	const char *name;
	TraOp op;
	TrartDtype t;
	float (*cf)(float);
	double (*cd)(double);
} test_maths[] = {
	{"map_exp_f32", TRA_OP_EXP, TRART_F32, trart_exp_float, NULL},
	{"map_log_f32", TRA_OP_LOG, TRART_F32, trart_log_float, NULL},
	{"map_tanh_f32", TRA_OP_TANH, TRART_F32, trart_tanh_float, NULL},
	{"map_sigmoid_f32", TRA_OP_SIGMOID, TRART_F32, trart_sigmoid_float, NULL},
	{"map_exp_f64", TRA_OP_EXP, TRART_F64, NULL, trart_exp_double},
	{"map_log_f64", TRA_OP_LOG, TRART_F64, NULL, trart_log_double},
	{"map_tanh_f64", TRA_OP_TANH, TRART_F64, NULL, trart_tanh_double},
	{"map_sigmoid_f64", TRA_OP_SIGMOID, TRART_F64, NULL, trart_sigmoid_double},
	{"map_sin_f32", TRA_OP_SIN, TRART_F32, trart_sin_float, NULL},
	{"map_cos_f32", TRA_OP_COS, TRART_F32, trart_cos_float, NULL},
	{"map_exp2_f32", TRA_OP_EXP2, TRART_F32, trart_exp2_float, NULL},
	{"map_log2_f32", TRA_OP_LOG2, TRART_F32, trart_log2_float, NULL},
	{"map_expm1_f32", TRA_OP_EXPM1, TRART_F32, trart_expm1_float, NULL},
	{"map_log1p_f32", TRA_OP_LOG1P, TRART_F32, trart_log1p_float, NULL},
	{"map_rsqrt_f32", TRA_OP_RSQRT, TRART_F32, trart_rsqrt_float, NULL},
	{"map_sign_f32", TRA_OP_SIGN, TRART_F32, trart_sign_float, NULL},
	{"map_sin_f64", TRA_OP_SIN, TRART_F64, NULL, trart_sin_double},
	{"map_cos_f64", TRA_OP_COS, TRART_F64, NULL, trart_cos_double},
	{"map_exp2_f64", TRA_OP_EXP2, TRART_F64, NULL, trart_exp2_double},
	{"map_log2_f64", TRA_OP_LOG2, TRART_F64, NULL, trart_log2_double},
	{"map_expm1_f64", TRA_OP_EXPM1, TRART_F64, NULL, trart_expm1_double},
	{"map_log1p_f64", TRA_OP_LOG1P, TRART_F64, NULL, trart_log1p_double},
	{"map_rsqrt_f64", TRA_OP_RSQRT, TRART_F64, NULL, trart_rsqrt_double},
	{"map_sign_f64", TRA_OP_SIGN, TRART_F64, NULL, trart_sign_double},
	{"map_erf_f32", TRA_OP_ERF, TRART_F32, trart_erf_float, NULL},
	{"map_erf_f64", TRA_OP_ERF, TRART_F64, NULL, trart_erf_double},
};
#define TEST_NMATHS ((int)(sizeof test_maths / sizeof *test_maths))

/* rowsum, mapexp and the test_maths maps, verified. */
static CgLlvm *test_kernels(void)
{
	CgLlvm *m = llvm_unit_module();
	test_build_rowsum(m);
	test_build_map(m, "mapexp", TRA_OP_EXP, TRART_F32);
	for (int i = 0; i < TEST_NMATHS; i++)
		test_build_map(m, test_maths[i].name, test_maths[i].op, test_maths[i].t);
	llvm_unit_verify(m);
	return m;
}

/* ---- the target --------------------------------------------------------------- */

START_TEST(host_target_and_features)
{
	CgLlvm *m = llvm_unit_module();
	const char *feat = cg_llvm_features(m);
	printf("llvm host: triple %s, cpu %s\nllvm host features: %s\n", cg_llvm_triple(m),
	       cg_llvm_cpu(m), feat);
	ck_assert_msg(strlen(cg_llvm_triple(m)) > 0 && strlen(cg_llvm_cpu(m)) > 0, "no triple or CPU");
	/* a comma-separated list of +name and -name */
	ck_assert_msg(strlen(feat) > 0, "no features");
	for (const char *p = feat; *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : p + strlen(p))
		ck_assert_msg(*p == '+' || *p == '-', "feature list '%s' is malformed", feat);
	cg_llvm_free(m);
}
END_TEST

/* ---- the IR -------------------------------------------------------------------- */

START_TEST(kernels_verify_with_loop_hints)
{
	CgLlvm *m = test_kernels();
	char *ir = llvm_unit_ir(m);
	char *rowsum = llvm_unit_function_ir(ir, "rowsum");
	ck_assert_msg(strstr(rowsum, "float* noalias") != NULL, "%s", rowsum);
	/* the inner loop alone asks for vectorisation */
	ck_assert_int_eq(unit_count(rowsum, "!llvm.loop"), 1);
	ck_assert_msg(strstr(ir, "!\"llvm.loop.vectorize.enable\", i1 true") != NULL, "%s", ir);
	ck_assert_msg(strstr(ir, "define internal float @trac.exp.f32(float") != NULL, "%s", ir);
	ck_assert_msg(strstr(ir, "@llvm.fma.f32") != NULL && strstr(ir, "@llvm.fma.f64") != NULL, "%s", ir);
	free(rowsum);
	free(ir);
	cg_llvm_free(m);
}
END_TEST

/* A loop that is not to be unrolled but not asked to vectorise carries
 * llvm.loop.unroll.disable alone (an argmax's lanes combine so). */
/* A module of one function name(in, out, n): out[i] = in[i * stride]
 * for i < n, its loop not asked to vectorise, marked as hints says. */
static CgLlvm *copy_loop_module(const char *name, int64_t stride, CgLlvmLoop hints)
{
	CgLlvm *m = llvm_unit_module();
	CgLlvmType fp = cg_llvm_ptr(m, cg_llvm_type(m, TRART_F32));
	CgLlvmType params[3] = {fp, fp, cg_llvm_i64(m)};
	cg_llvm_function(m, name, params, 3);
	CgLlvmLoop l;
	cg_llvm_loop_begin(m, &l, cg_llvm_const_i64(m, 0), cg_llvm_param(m, 2), false);
	l.no_unroll = hints.no_unroll;
	l.scalar = hints.scalar;
	CgLlvmValue at = stride == 1 ? l.iv : cg_llvm_imul(m, l.iv, cg_llvm_const_i64(m, stride));
	cg_llvm_store(m, TRART_F32, cg_llvm_param(m, 1), l.iv, cg_llvm_load(m, TRART_F32, cg_llvm_param(m, 0), at));
	cg_llvm_loop_end(m, &l);
	cg_llvm_return(m);
	return m;
}

START_TEST(loop_hint_unroll_alone)
{
	CgLlvm *m = copy_loop_module("copy", 1, (CgLlvmLoop){.no_unroll = true});
	char *ir = llvm_unit_ir(m);
	char *fn = llvm_unit_function_ir(ir, "copy");
	ck_assert_int_eq(unit_count(fn, "!llvm.loop"), 1);
	ck_assert_msg(strstr(ir, "!\"llvm.loop.unroll.disable\"") != NULL, "%s", ir);
	ck_assert_msg(strstr(ir, "llvm.loop.vectorize.enable") == NULL, "%s", ir);
	free(fn);
	free(ir);
	cg_llvm_free(m);
}
END_TEST

/* A loop marked scalar (CgLlvmLoop.scalar) asks for vectorisation width
 * 1, and O3 leaves its strided copy scalar: no gather, no vector type. */
START_TEST(loop_hint_scalar)
{
	CgLlvm *m = copy_loop_module("gather", 4096, (CgLlvmLoop){.scalar = true});
	char *ir = llvm_unit_ir(m);
	ck_assert_msg(strstr(ir, "!\"llvm.loop.vectorize.width\", i32 1}") != NULL, "%s", ir);
	free(ir);
	char err[4096];
	ck_assert_msg(cg_llvm_optimize(m, err, sizeof err), "%s", err);
	ir = llvm_unit_ir(m);
	char *fn = llvm_unit_function_ir(ir, "gather");
	ck_assert_msg(strstr(fn, "masked.gather") == NULL && strstr(fn, "x float>") == NULL,
	              "the scalar loop was vectorised:\n%.3000s", fn);
	free(fn);
	free(ir);
	cg_llvm_free(m);
}
END_TEST

START_TEST(o3_vectorises_reduction_and_map)
{
	CgLlvm *m = test_kernels();
	char err[4096];
	ck_assert_msg(cg_llvm_optimize(m, err, sizeof err), "%s", err);
	llvm_unit_verify(m);
	char *ir = llvm_unit_ir(m);
	int w = llvm_unit_width(m);
	char vadd[64], vstore[64];
	snprintf(vadd, sizeof vadd, "fadd <%d x float>", w);
	snprintf(vstore, sizeof vstore, "store <%d x float>", w);
	char *rowsum = llvm_unit_function_ir(ir, "rowsum"), *mapexp = llvm_unit_function_ir(ir, "mapexp");
	printf("llvm vector width: %d floats; rowsum has %d '%s', mapexp %d '%s'\n", w,
	       unit_count(rowsum, vadd), vadd, unit_count(mapexp, vstore), vstore);
	ck_assert_msg(strstr(rowsum, vadd) != NULL, "rowsum has no '%s' after O3:\n%s", vadd, rowsum);
	ck_assert_msg(strstr(mapexp, vstore) != NULL, "mapexp has no '%s' after O3:\n%s", vstore, mapexp);
	/* exp was inlined: no call remains in the vector loop */
	ck_assert_msg(strstr(mapexp, "call float @trac.exp") == NULL, "%s", mapexp);
	/* the sum's lanes are added as halves (cg_llvm_tree_reductions), not
	 * by the ordered llvm.vector.reduce.fadd */
	ck_assert_msg(strstr(rowsum, "@llvm.vector.reduce.fadd") == NULL,
	              "rowsum still adds its lanes in order (llvm.vector.reduce.fadd)");
	ck_assert_msg(w < 2 || strstr(rowsum, "shufflevector") != NULL, "rowsum has no shufflevector");
	/* and every loop tagged for vectorisation (the maps' too) was */
	const char *why;
	ck_assert_msg(cg_llvm_warnings(m, &why) == 0, "LLVM warned: %s", why);
	free(rowsum);
	free(mapexp);
	free(ir);
	cg_llvm_free(m);
}
END_TEST

/* A loop tagged for vectorisation that cannot be: y[i] = y[i-1] * x[i],
 * a recurrence through memory. LLVM's warning is kept, not printed. */
START_TEST(scalar_tagged_loop_warns)
{
	CgLlvm *m = llvm_unit_module();
	CgLlvmType f = cg_llvm_type(m, TRART_F32);
	CgLlvmType params[3] = {cg_llvm_ptr(m, f), cg_llvm_ptr(m, f), cg_llvm_i64(m)};
	cg_llvm_function(m, "scan", params, 3);
	CgLlvmValue x = cg_llvm_param(m, 0), y = cg_llvm_param(m, 1);
	CgLlvmLoop l;
	cg_llvm_loop_begin(m, &l, cg_llvm_const_i64(m, 1), cg_llvm_param(m, 2), true);
	CgLlvmValue prev = cg_llvm_load(m, TRART_F32, y, cg_llvm_iadd(m, l.iv, cg_llvm_const_i64(m, -1)));
	CgLlvmValue v = cg_llvm_arith(m, TRA_OP_MUL, prev, cg_llvm_load(m, TRART_F32, x, l.iv));
	cg_llvm_store(m, TRART_F32, y, l.iv, v);
	cg_llvm_loop_end(m, &l);
	cg_llvm_return(m);
	char err[4096];
	llvm_unit_verify(m);
	ck_assert_int_eq(cg_llvm_warnings(m, NULL), 0);
	ck_assert_msg(cg_llvm_optimize(m, err, sizeof err), "%s", err);
	const char *why;
	ck_assert_int_ge(cg_llvm_warnings(m, &why), 1);
	ck_assert_msg(why && strstr(why, "loop not vectorized"), "LLVM warned: %s", why ? why : "(null)");
	cg_llvm_free(m);
}
END_TEST

/* ---- running the object ---------------------------------------------------------- */

/* The distance in ulps between two floats (inf is one past FLT_MAX). */
static int64_t test_ulps(float a, float b)
{
	int32_t ia, ib;
	memcpy(&ia, &a, sizeof ia);
	memcpy(&ib, &b, sizeof ib);
	int64_t oa = ia < 0 ? (int64_t)INT32_MIN - ia : ia, ob = ib < 0 ? (int64_t)INT32_MIN - ib : ib;
	return oa > ob ? oa - ob : ob - oa;
}

/* Inputs for the math: a fine sweep over [lo, hi] and the special values. */
static double *test_inputs(double lo, double hi, double step, int *n)
{
	static const double special[] = {0.0, -0.0, INFINITY, -INFINITY, NAN, -NAN, 1e-40, -1e-40,
	                                  1e-310, FLT_MAX, -FLT_MAX, 1e30, -1e30, 1e300, -1e300,
	                                  FLT_MIN, DBL_MIN, 88.72283, 88.7228394, 89.0, -87.3,
	                                  -103.97, -104.0, -110.0, 709.78, 710.0, -745.0, -750.0,
	                                  0.625, -0.625, 20.0, 0.5, 1.0, 2.0};
	int ns = (int)(sizeof special / sizeof *special), count = (int)((hi - lo) / step) + 1;
	double *x = malloc((size_t)(count + ns) * sizeof *x);
	ck_assert_ptr_nonnull(x);
	for (int i = 0; i < count; i++)
		x[i] = lo + i * step;
	memcpy(x + count, special, sizeof special);
	*n = count + ns;
	return x;
}

START_TEST(mapexp_within_2ulp_of_expf)
{
	CgLlvm *m = test_kernels();
	void *h = llvm_unit_load(m, "", false);
	void (*mapexp)(const float *, float *, int64_t) = (void (*)(const float *, float *, int64_t))llvm_unit_sym(h, "mapexp");
	int n;
	double *xd = test_inputs(-104.0, 89.0, 1e-3, &n);
	float *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
	for (int i = 0; i < n; i++)
		x[i] = (float)xd[i];
	mapexp(x, y, n);
	int64_t worst = 0;
	for (int i = 0; i < n; i++) {
		float want = expf(x[i]);
		if (isnan(want)) {
			ck_assert_msg(isnan(y[i]), "exp(%a) = %a, not NaN", (double)x[i], (double)y[i]);
			continue;
		}
		int64_t d = test_ulps(y[i], want);
		ck_assert_msg(d <= 2, "exp(%.9g) = %.9g, expf %.9g: %lld ulp", (double)x[i], (double)y[i],
		              (double)want, (long long)d);
		worst = d > worst ? d : worst;
	}
	printf("llvm mapexp: %d inputs, at most %lld ulp from expf\n", n, (long long)worst);
	free(x);
	free(y);
	free(xd);
	dlclose(h);
	cg_llvm_free(m);
}
END_TEST

START_TEST(kernel_math_equals_trart)
{
	CgLlvm *m = test_kernels();
	void *h = llvm_unit_load(m, "", false);
	int n;
	double *x = test_inputs(-120.0, 120.0, 7e-4, &n);
	double *y = malloc((size_t)n * sizeof *y);
	float *xf = malloc((size_t)n * sizeof *xf), *yf = malloc((size_t)n * sizeof *yf);
	for (int i = 0; i < n; i++)
		xf[i] = (float)x[i];
	for (int k = 0; k < TEST_NMATHS; k++) {
		void *fn = llvm_unit_sym(h, test_maths[k].name);
		int bad = 0;
		if (test_maths[k].t == TRART_F32) {
			((void (*)(const float *, float *, int64_t))fn)(xf, yf, n);
			for (int i = 0; i < n; i++)
				if (!llvm_unit_same(yf[i], test_maths[k].cf(xf[i])) && bad++ < 3)
					printf("%s(%a) = %a, trart %a\n", test_maths[k].name, (double)xf[i],
					       (double)yf[i], (double)test_maths[k].cf(xf[i]));
		} else {
			((void (*)(const double *, double *, int64_t))fn)(x, y, n);
			for (int i = 0; i < n; i++)
				if (!llvm_unit_same(y[i], test_maths[k].cd(x[i])) && bad++ < 3)
					printf("%s(%a) = %a, trart %a\n", test_maths[k].name, x[i], y[i],
					       test_maths[k].cd(x[i]));
		}
		ck_assert_msg(bad == 0, "%s differs from trart.h on %d of %d inputs", test_maths[k].name, bad, n);
	}
	free(x);
	free(y);
	free(xf);
	free(yf);
	dlclose(h);
	cg_llvm_free(m);
}
END_TEST

START_TEST(rowsum_matches_double_sums)
{
	CgLlvm *m = test_kernels();
	void *h = llvm_unit_load(m, "", false);
	void (*rowsum)(const float *, float *, int64_t, int64_t) =
		(void (*)(const float *, float *, int64_t, int64_t))llvm_unit_sym(h, "rowsum");
	/* widths around the vector loop's: remainders, one element, none */
	static const int64_t shapes[][2] = {{7, 1013}, {3, 16}, {5, 1}, {2, 0}, {0, 5}, {1, 100000}, {64, 37}};
	for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
		int64_t rows = shapes[s][0], cols = shapes[s][1];
		float *x = malloc((size_t)(rows * cols + 1) * sizeof *x);
		float *y = malloc((size_t)(rows + 1) * sizeof *y);
		uint32_t seed = 12345;
		for (int64_t i = 0; i < rows * cols; i++) {
			seed = seed * 1664525u + 1013904223u;
			x[i] = (float)(seed >> 8) / 16777216.0f * 2.0f - 0.5f; /* mostly positive */
		}
		for (int64_t i = 0; i <= rows; i++)
			y[i] = -7.0f; /* y[rows] must stay */
		rowsum(x, y, rows, cols);
		for (int64_t i = 0; i < rows; i++) {
			double want = 0;
			for (int64_t j = 0; j < cols; j++)
				want += x[i * cols + j];
			ck_assert_msg(fabs(y[i] - want) <= 1e-6 * fabs(want),
			              "rowsum %lldx%lld row %lld: %.9g, want %.9g", (long long)rows,
			              (long long)cols, (long long)i, (double)y[i], want);
		}
		ck_assert_msg(y[rows] == -7.0f, "rowsum wrote past the end");
		free(x);
		free(y);
	}
	dlclose(h);
	cg_llvm_free(m);
}
END_TEST

static Suite *llvm_suite(void)
{
	Suite *s = suite_create("llvm");
	TCase *tc = tcase_create("kernels");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, host_target_and_features);
	tcase_add_test(tc, kernels_verify_with_loop_hints);
	tcase_add_test(tc, loop_hint_unroll_alone);
	tcase_add_test(tc, loop_hint_scalar);
	tcase_add_test(tc, o3_vectorises_reduction_and_map);
	tcase_add_test(tc, scalar_tagged_loop_warns);
	tcase_add_test(tc, mapexp_within_2ulp_of_expf);
	tcase_add_test(tc, kernel_math_equals_trart);
	tcase_add_test(tc, rowsum_matches_double_sums);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(llvm_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
