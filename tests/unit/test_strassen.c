/* test_strassen.c: Check tests for the runtime's Strassen-Winograd GEMM
 * (runtime/strassen.c).
 *
 * trart_sgemm and trart_dgemm promise cblas_?gemm's result, C = alpha
 * op(A) op(B) + beta C, within a small factor of BLAS's rounding, for
 * every argument BLAS takes: both transposes of both operands, leading
 * dimensions wider than the matrices, beta 0 (C not read: NaNs in it do
 * not show), other betas, column-major order, and sizes whose halves
 * leave a row, a column or a term over (the rims). Each result is
 * compared with a double-precision loop over the same arguments; the
 * elements of C outside the m x n box must keep what they held. Below
 * TRART_STRASSEN_MIN a call is BLAS's call (bit for bit); above it the
 * quadrants change the rounding somewhere, which shows that the levels
 * ran.
 */
#include "trart.h"

#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void cblas_sgemm(int, int, int, int, int, int, float, const float *, int, const float *, int, float, float *,
                 int);

enum { ROW = 101, COL = 102, NT = 111, TR = 112 };

/* Seeded values in [-1, 1). */
static double next_value(uint64_t *s)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return (double)(*s >> 11) / (double)(1ULL << 53) * 2 - 1;
}

/* Element (r, c) of op(X) for a row-major (or, with col, column-major)
 * X with leading dimension ld. */
static size_t op_at(int order, int trans, int ld, int r, int c)
{
	bool stored_rows = (order == ROW) == (trans == NT);
	return stored_rows ? (size_t)r * ld + c : (size_t)c * ld + r;
}

/* One call's arguments and buffers, both types. */
typedef struct Case {
	int order, ta, tb, m, n, k, lda, ldb, ldc;
	double alpha, beta;
	double *A, *B, *C, *ref; /* C as it was, then the reference */
	size_t na, nb, nc;
} Case;

static void case_init(Case *t, int order, int ta, int tb, int m, int n, int k, double alpha, double beta,
                      uint64_t seed)
{
	*t = (Case){order, ta, tb, m, n, k, 0, 0, 0, alpha, beta, NULL, NULL, NULL, NULL, 0, 0, 0};
	bool row = order == ROW;
	/* stored rows x columns of each matrix, then 3 more per leading dimension */
	int ar = (row == (ta == NT)) ? m : k, ac = (row == (ta == NT)) ? k : m;
	int br = (row == (tb == NT)) ? k : n, bc = (row == (tb == NT)) ? n : k;
	int cr = row ? m : n, cc = row ? n : m;
	t->lda = ac + 3, t->ldb = bc + 3, t->ldc = cc + 3;
	t->na = (size_t)ar * t->lda, t->nb = (size_t)br * t->ldb, t->nc = (size_t)cr * t->ldc;
	t->A = malloc(t->na * sizeof(double));
	t->B = malloc(t->nb * sizeof(double));
	t->C = malloc(t->nc * sizeof(double));
	t->ref = malloc(t->nc * sizeof(double));
	for (size_t i = 0; i < t->na; i++)
		t->A[i] = next_value(&seed);
	for (size_t i = 0; i < t->nb; i++)
		t->B[i] = next_value(&seed);
	for (size_t i = 0; i < t->nc; i++)
		t->C[i] = next_value(&seed);
	/* the reference, in double, from the same (float-rounded by the
	   caller where it tests f32) values */
}

/* ref = alpha op(A) op(B) + beta C over the m x n box; the rest of C as it is. */
static void case_reference(Case *t)
{
	memcpy(t->ref, t->C, t->nc * sizeof(double));
	for (int i = 0; i < t->m; i++)
		for (int j = 0; j < t->n; j++) {
			double s = 0;
			for (int p = 0; p < t->k; p++)
				s += t->A[op_at(t->order, t->ta, t->lda, i, p)] * t->B[op_at(t->order, t->tb, t->ldb, p, j)];
			size_t c = op_at(t->order, NT, t->ldc, i, j);
			t->ref[c] = t->alpha * s + (t->beta != 0 ? t->beta * t->C[c] : 0);
		}
}

static void case_free(Case *t)
{
	free(t->A);
	free(t->B);
	free(t->C);
	free(t->ref);
}

/* The Frobenius-norm relative error of got against ref; the padding
 * outside the box must be ref's (what C held) exactly. */
static double case_error(const Case *t, const double *got)
{
	double num = 0, den = 0;
	for (size_t i = 0; i < t->nc; i++) {
		int col = (int)(i % (size_t)t->ldc);
		bool inside = col < (t->order == ROW ? t->n : t->m);
		if (!inside) {
			ck_assert_msg(got[i] == t->ref[i], "element %zu outside the box was written", i);
			continue;
		}
		num += (got[i] - t->ref[i]) * (got[i] - t->ref[i]);
		den += t->ref[i] * t->ref[i];
	}
	return sqrt(num / den);
}

/* trart_sgemm on the case, its values rounded to float first (the
 * reference uses the rounded values too); the relative error. */
static double run_f32(Case *t, bool nan_c)
{
	float *A = malloc(t->na * sizeof *A), *B = malloc(t->nb * sizeof *B), *C = malloc(t->nc * sizeof *C);
	for (size_t i = 0; i < t->na; i++)
		A[i] = (float)t->A[i], t->A[i] = A[i];
	for (size_t i = 0; i < t->nb; i++)
		B[i] = (float)t->B[i], t->B[i] = B[i];
	for (size_t i = 0; i < t->nc; i++)
		C[i] = (float)t->C[i], t->C[i] = C[i];
	case_reference(t);
	if (nan_c) /* beta 0: C's box is not read, its NaNs must not show */
		for (int i = 0; i < t->m; i++)
			for (int j = 0; j < t->n; j++)
				C[op_at(t->order, NT, t->ldc, i, j)] = NAN;
	trart_sgemm(t->order, t->ta, t->tb, t->m, t->n, t->k, (float)t->alpha, A, t->lda, B, t->ldb, (float)t->beta, C,
	            t->ldc);
	double *got = malloc(t->nc * sizeof *got);
	for (size_t i = 0; i < t->nc; i++)
		got[i] = C[i];
	double e = case_error(t, got);
	free(got);
	free(A);
	free(B);
	free(C);
	return e;
}

static double run_f64(Case *t)
{
	double *C = malloc(t->nc * sizeof *C);
	memcpy(C, t->C, t->nc * sizeof *C);
	case_reference(t);
	trart_dgemm(t->order, t->ta, t->tb, t->m, t->n, t->k, t->alpha, t->A, t->lda, t->B, t->ldb, t->beta, C, t->ldc);
	double e = case_error(t, C);
	free(C);
	return e;
}

/* f32 on random data in [-1, 1): BLAS's own error is about 1e-7 here;
 * the levels may multiply it by a small factor, not more. */
#define F32_TOL 2e-6
#define F64_TOL 4e-15

/* Every transpose, odd sizes on all three sides (one level and its rims). */
START_TEST(transposes_and_rims_f32)
{
	static const int tr[2] = {NT, TR};
	for (int a = 0; a < 2; a++)
		for (int b = 0; b < 2; b++) {
			Case t;
			case_init(&t, ROW, tr[a], tr[b], 397, 389, 401, 0.75, 0, 7 + a * 2 + b);
			double e = run_f32(&t, false);
			ck_assert_msg(e < F32_TOL, "ta %d tb %d: error %g", tr[a], tr[b], e);
			case_free(&t);
		}
}
END_TEST

START_TEST(betas_and_orders)
{
	static const double betas[] = {1, -0.5};
	for (int i = 0; i < 2; i++) {
		Case t;
		case_init(&t, ROW, NT, TR, 400, 390, 385, -1.25, betas[i], 21 + i);
		double e = run_f32(&t, false);
		ck_assert_msg(e < F32_TOL, "beta %g: error %g", betas[i], e);
		case_free(&t);
	}
	Case t;
	case_init(&t, COL, TR, NT, 391, 402, 388, 0.5, 1, 31);
	double e = run_f32(&t, false);
	ck_assert_msg(e < F32_TOL, "column major: error %g", e);
	case_free(&t);
}
END_TEST

START_TEST(beta_zero_reads_no_c)
{
	Case t;
	case_init(&t, ROW, NT, NT, 386, 388, 390, 1, 0, 41);
	double e = run_f32(&t, true);
	ck_assert_msg(e < F32_TOL, "error %g (NaN: C was read)", e);
	case_free(&t);
}
END_TEST

/* Two levels (every side at least twice TRART_STRASSEN_MIN), odd. */
START_TEST(two_levels)
{
	int s = 2 * TRART_STRASSEN_MIN + 1;
	Case t;
	case_init(&t, ROW, NT, NT, s, s + 2, s + 4, 1, 0, 51);
	double e = run_f32(&t, false);
	ck_assert_msg(e < F32_TOL, "f32: error %g", e);
	case_free(&t);
	case_init(&t, ROW, TR, NT, s, s, s + 1, 2, 0.5, 52);
	e = run_f64(&t);
	ck_assert_msg(e < F64_TOL, "f64: error %g", e);
	case_free(&t);
}
END_TEST

START_TEST(one_level_f64)
{
	Case t;
	case_init(&t, ROW, NT, TR, 385, 399, 387, -0.5, 1, 61);
	double e = run_f64(&t);
	ck_assert_msg(e < F64_TOL, "error %g", e);
	case_free(&t);
}
END_TEST

/* Below TRART_STRASSEN_MIN on one side the call is BLAS's, bit for bit;
 * at it the levels change some rounding. */
static bool same_as_blas(int m, int n, int k)
{
	uint64_t seed = 71;
	float *A = malloc(sizeof(float) * m * k), *B = malloc(sizeof(float) * k * n);
	float *C1 = calloc((size_t)m * n, sizeof(float)), *C2 = calloc((size_t)m * n, sizeof(float));
	for (int i = 0; i < m * k; i++)
		A[i] = (float)next_value(&seed);
	for (int i = 0; i < k * n; i++)
		B[i] = (float)next_value(&seed);
	cblas_sgemm(ROW, NT, NT, m, n, k, 1, A, k, B, n, 0, C1, n);
	trart_sgemm(ROW, NT, NT, m, n, k, 1, A, k, B, n, 0, C2, n);
	bool same = memcmp(C1, C2, sizeof(float) * m * n) == 0;
	free(A);
	free(B);
	free(C1);
	free(C2);
	return same;
}

START_TEST(levels_only_from_the_minimum)
{
	int s = TRART_STRASSEN_MIN;
	ck_assert(same_as_blas(s - 1, s, s));
	ck_assert(same_as_blas(s, s, s - 1));
	ck_assert(!same_as_blas(s, s, s));
}
END_TEST

static Suite *strassen_suite(void)
{
	Suite *s = suite_create("strassen");
	TCase *tc = tcase_create("strassen");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, transposes_and_rims_f32);
	tcase_add_test(tc, betas_and_orders);
	tcase_add_test(tc, beta_zero_reads_no_c);
	tcase_add_test(tc, two_levels);
	tcase_add_test(tc, one_level_f64);
	tcase_add_test(tc, levels_only_from_the_minimum);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(strassen_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
