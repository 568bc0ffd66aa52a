/* test_interp.c: Check tests for the reference interpreter (compiler/interp.c).
 *
 * The interpreter is the oracle every back end is compared with, so its
 * own tests compare it with values computed here by hand or by naive
 * loops written out in the test: each test compiles a program, fills the
 * input nodes' values (malloc'ed arrays of doubles, which
 * interp_values_free releases with the rest), runs interp_run and checks
 * the outputs. Small integer-valued inputs make most results exact, so
 * most comparisons are exact too; those through exp, log and friends
 * allow a few ulps.
 */
#include "unit.h"

#include <stdint.h>

/* A compiled program and its values. */
typedef struct Run {
	UnitRun *u;
	InterpValues v;
} Run;

static Run run_open(const char *src)
{
	Run r = {.u = unit_compile_ok(src)};
	interp_values_init(&r.v, &r.u->g);
	ck_assert_int_eq(r.v.nnodes, r.u->g.nnodes);
	return r;
}

static void run_close(Run *r)
{
	interp_values_free(&r->v);
	ck_assert_ptr_null(r->v.data);
	unit_free(r->u);
}

/* Sets input name to the n values given (n must be its element count). */
static void set_input(Run *r, const char *name, const double *vals, size_t n)
{
	int id = unit_node_id(&r->u->g, name);
	ck_assert_msg(id >= 0, "no input '%s'", name);
	ck_assert_int_eq(r->u->g.nodes[id].kind, TRA_NODE_INPUT);
	ck_assert_int_eq(tra_node_elements(&r->u->g.nodes[id]), (int64_t)n);
	double *d = malloc(n * sizeof *d);
	ck_assert_ptr_nonnull(d);
	memcpy(d, vals, n * sizeof *d);
	free(r->v.data[id]);
	r->v.data[id] = d;
}

#define SET(r, name, ...)                                                     \
	do {                                                                  \
		static const double vals_[] = {__VA_ARGS__};                  \
		set_input((r), (name), vals_, sizeof vals_ / sizeof vals_[0]); \
	} while (0)

/* The values of node name after a run. */
static const double *value(const Run *r, const char *name)
{
	int id = unit_node_id(&r->u->g, name);
	ck_assert_msg(id >= 0, "no node '%s'", name);
	ck_assert_ptr_nonnull(r->v.data[id]);
	return r->v.data[id];
}

/* Asserts n values of name exactly. */
static void assert_values(const Run *r, const char *name, const double *want, size_t n)
{
	const double *got = value(r, name);
	ck_assert_int_eq(tra_node_elements(unit_node(&r->u->g, name)), (int64_t)n);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(got[i] == want[i] || (isnan(got[i]) && isnan(want[i])),
		              "%s[%zu] = %.17g, expected %.17g", name, i, got[i], want[i]);
}

#define EXPECT(r, name, ...)                                                  \
	do {                                                                  \
		static const double want_[] = {__VA_ARGS__};                  \
		assert_values((r), (name), want_, sizeof want_ / sizeof want_[0]); \
	} while (0)

/* Whether a and b agree to a relative 1e-13 (or both are NaN, or equal). */
static bool close_to(double a, double b)
{
	if (a == b || (isnan(a) && isnan(b)))
		return true;
	return fabs(a - b) <= 1e-13 * fmax(fabs(a), fabs(b));
}

static void assert_close(const Run *r, const char *name, const double *want, size_t n)
{
	const double *got = value(r, name);
	ck_assert_int_eq(tra_node_elements(unit_node(&r->u->g, name)), (int64_t)n);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(close_to(got[i], want[i]), "%s[%zu] = %.17g, expected %.17g", name, i,
		              got[i], want[i]);
}

/* Deterministic values in [-1, 1) for larger inputs. */
static double lcg(uint64_t *state)
{
	*state = *state * 6364136223846793005u + 1442695040888963407u;
	return (double)(*state >> 11) / (double)(1ull << 53) * 2 - 1;
}

/* ---- contractions -------------------------------------------------------------- */

START_TEST(matmul)
{
	Run r = run_open("size M = 2, K = 3, N = 2\ninput A[M, K] f64, B[K, N] f64\n"
	                 "C[i, j] = sum[k](A[i, k] * B[k, j])\noutput C\n");
	SET(&r, "A", 1, 2, 3,
	             4, 5, 6);
	SET(&r, "B", 7, 8,
	             9, 10,
	             11, 12);
	interp_run(&r.u->g, &r.v);
	EXPECT(&r, "C", 1 * 7 + 2 * 9 + 3 * 11, 1 * 8 + 2 * 10 + 3 * 12,
	                4 * 7 + 5 * 9 + 6 * 11, 4 * 8 + 5 * 10 + 6 * 12);
	/* the inputs are left as they were */
	EXPECT(&r, "A", 1, 2, 3, 4, 5, 6);
	run_close(&r);
}
END_TEST

START_TEST(transpose)
{
	Run r = run_open("size M = 2, N = 3\ninput A[M, N]\nT[j, i] = A[i, j]\noutput T\n");
	SET(&r, "A", 1, 2, 3,
	             4, 5, 6);
	interp_run(&r.u->g, &r.v);
	EXPECT(&r, "T", 1, 4,
	                2, 5,
	                3, 6);
	run_close(&r);
}
END_TEST

START_TEST(matmul_with_epilogue)
{
	/* relu(A B + b): a contraction and its epilogue in one node */
	Run r = run_open("size M = 2, K = 2, N = 3\ninput A[M, K], B[K, N], b[N]\n"
	                 "H[i, j] = relu(sum[k](A[i, k] * B[k, j]) + b[j])\noutput H\n");
	SET(&r, "A", 1, -1,
	             2, 0.5);
	SET(&r, "B", 1, 2, 3,
	             4, 5, 6);
	SET(&r, "b", 0, 10, -1);
	interp_run(&r.u->g, &r.v);
	/* A B = [[-3, -3, -3], [4, 6.5, 9]] */
	EXPECT(&r, "H", 0, 7, 0,
	                4, 16.5, 8);
	run_close(&r);
}
END_TEST

START_TEST(batched_permuted_contraction)
{
	/* a 4-d contraction whose operands read the indices in other orders */
	enum { B = 2, H = 3, S = 4, T = 5, D = 3 };
	Run r = run_open("size B = 2, H = 3, S = 4, T = 5, D = 3\n"
	                 "input Q[H, B, D, S] f64, K[T, D, B, H] f64\n"
	                 "O[b, s, h, t] = sum[d](Q[h, b, d, s] * K[t, d, b, h])\n"
	                 "output O\n");
	double q[H][B][D][S], k[T][D][B][H], want[B][S][H][T];
	uint64_t st = 42;
	for (int i = 0; i < H * B * D * S; i++)
		(&q[0][0][0][0])[i] = lcg(&st);
	for (int i = 0; i < T * D * B * H; i++)
		(&k[0][0][0][0])[i] = lcg(&st);
	for (int b = 0; b < B; b++)
		for (int s = 0; s < S; s++)
			for (int h = 0; h < H; h++)
				for (int t = 0; t < T; t++) {
					double acc = 0;
					for (int d = 0; d < D; d++)
						acc += q[h][b][d][s] * k[t][d][b][h];
					want[b][s][h][t] = acc;
				}
	set_input(&r, "Q", &q[0][0][0][0], H * B * D * S);
	set_input(&r, "K", &k[0][0][0][0], T * D * B * H);
	interp_run(&r.u->g, &r.v);
	/* the same additions in the same order: exact */
	assert_values(&r, "O", &want[0][0][0][0], B * S * H * T);
	run_close(&r);
}
END_TEST

START_TEST(attention)
{
	/* softmax(Q K^T / sqrt(D)) V, against loops */
	enum { S = 3, D = 2 };
	Run r = run_open("size S = 3, D = 2\ninput Q[S, D] f64, K[S, D] f64, V[S, D] f64\n"
	                 "A[s, t] = sum[d](Q[s, d] * K[t, d]) / sqrt(D)\n"
	                 "E[s, t] = exp(A[s, t] - max[u](A[s, u]))\n"
	                 "O[s, d] = sum[t](E[s, t] * V[t, d]) / sum[t](E[s, t])\n"
	                 "output O\n");
	double q[S][D], k[S][D], v[S][D], want[S][D];
	uint64_t st = 7;
	for (int i = 0; i < S * D; i++) {
		(&q[0][0])[i] = 3 * lcg(&st);
		(&k[0][0])[i] = 3 * lcg(&st);
		(&v[0][0])[i] = lcg(&st);
	}
	for (int s = 0; s < S; s++) {
		double a[S], m = -INFINITY, z = 0;
		for (int t = 0; t < S; t++) {
			a[t] = (q[s][0] * k[t][0] + q[s][1] * k[t][1]) / sqrt(D);
			m = fmax(m, a[t]);
		}
		for (int t = 0; t < S; t++)
			z += exp(a[t] - m);
		for (int d = 0; d < D; d++) {
			double acc = 0;
			for (int t = 0; t < S; t++)
				acc += exp(a[t] - m) * v[t][d];
			want[s][d] = acc / z;
		}
	}
	set_input(&r, "Q", &q[0][0], S * D);
	set_input(&r, "K", &k[0][0], S * D);
	set_input(&r, "V", &v[0][0], S * D);
	interp_run(&r.u->g, &r.v);
	assert_close(&r, "O", &want[0][0], S * D);
	run_close(&r);
}
END_TEST

/* ---- reductions ------------------------------------------------------------------ */

START_TEST(row_softmax)
{
	Run r = run_open("size N = 2, C = 3\ninput Y[N, C] f64\n"
	                 "M[i]    = max[c](Y[i, c])\n"
	                 "E[i, c] = exp(Y[i, c] - M[i])\n"
	                 "P[i, c] = E[i, c] / sum[c2](E[i, c2])\n"
	                 "output P, M\n");
	SET(&r, "Y", 1, 2, 3,
	             -1, 0, 1000);
	interp_run(&r.u->g, &r.v);
	EXPECT(&r, "M", 3, 1000);
	double z0 = exp(-2) + exp(-1) + 1;
	double z1 = exp(-1001) + exp(-1000) + 1;
	double want[] = {exp(-2) / z0, exp(-1) / z0, 1 / z0, exp(-1001) / z1, exp(-1000) / z1, 1 / z1};
	assert_close(&r, "P", want, 6);
	const double *p = value(&r, "P");
	ck_assert_double_eq_tol(p[0] + p[1] + p[2], 1.0, 1e-15);
	run_close(&r);
}
END_TEST

START_TEST(max_min_reductions)
{
	Run r = run_open("size N = 3, C = 4\ninput X[N, C] f64\n"
	                 "Mx[i] = max[c](X[i, c])\n"
	                 "Mn[i] = min[c](X[i, c])\n"
	                 "All = max[i, c](X[i, c])\n"
	                 "output Mx, Mn, All\n");
	SET(&r, "X", 1, -5, 3, 2,
	             -INFINITY, -INFINITY, -INFINITY, -INFINITY,
	             -0.5, INFINITY, 7, -2);
	interp_run(&r.u->g, &r.v);
	EXPECT(&r, "Mx", 3, -INFINITY, INFINITY);
	EXPECT(&r, "Mn", -5, -INFINITY, -2);
	EXPECT(&r, "All", INFINITY);
	run_close(&r);
}
END_TEST

START_TEST(nan_propagation)
{
	/* a NaN anywhere in a max or min's operands is the result, as in
	 * NumPy's max and maximum; sum and prod propagate it too */
	Run r = run_open("size N = 4, C = 3\ninput X[N, C] f64, x[N] f64, y[N] f64\n"
	                 "Mx[i] = max[c](X[i, c])\n"
	                 "Mn[i] = min[c](X[i, c])\n"
	                 "S[i] = sum[c](X[i, c])\n"
	                 "Pr[i] = prod[c](X[i, c])\n"
	                 "A[i] = max(x[i], y[i])\n"
	                 "B[i] = max(y[i], x[i])\n"
	                 "Cn[i] = min(x[i], y[i])\n"
	                 "D[i] = min(y[i], x[i])\n"
	                 "output Mx, Mn, S, Pr, A, B, Cn, D\n");
	SET(&r, "X", NAN, 1, 2,
	             1, NAN, 2,
	             1, 2, NAN,
	             1, 2, 3);
	SET(&r, "x", NAN, 1, NAN, 1);
	SET(&r, "y", 0, NAN, NAN, 5);
	interp_run(&r.u->g, &r.v);
	EXPECT(&r, "Mx", NAN, NAN, NAN, 3);
	EXPECT(&r, "Mn", NAN, NAN, NAN, 1);
	EXPECT(&r, "S", NAN, NAN, NAN, 6);
	EXPECT(&r, "Pr", NAN, NAN, NAN, 6);
	EXPECT(&r, "A", NAN, NAN, NAN, 5);
	EXPECT(&r, "B", NAN, NAN, NAN, 5);
	EXPECT(&r, "Cn", NAN, NAN, NAN, 1);
	EXPECT(&r, "D", NAN, NAN, NAN, 1);
	run_close(&r);
}
END_TEST

START_TEST(prod_reduction)
{
	Run r = run_open("size N = 2, C = 4\ninput X[N, C] f64\n"
	                 "P[i] = prod[c](X[i, c])\n"
	                 "Q = prod[i, c](X[i, c] / 2)\n"
	                 "output P, Q\n");
	SET(&r, "X", 1, 2, 3, 4,
	             -1, 0.5, -2, 8);
	interp_run(&r.u->g, &r.v);
	EXPECT(&r, "P", 24, 8);
	EXPECT(&r, "Q", 24.0 / 16 * 8 / 16);
	run_close(&r);
}
END_TEST

START_TEST(mean_reduction)
{
	Run r = run_open("size N = 2, C = 4\ninput X[N, C] f64\n"
	                 "m[i] = mean[c](X[i, c])\n"
	                 "g = mean[i, c](X[i, c])\n"
	                 "Z[i, c] = X[i, c] - mean[k](X[i, k])\n"
	                 "output m, g, Z\n");
	SET(&r, "X", 1, 2, 3, 6,
	             -4, 0, 0, 0);
	interp_run(&r.u->g, &r.v);
	EXPECT(&r, "m", 3, -1);
	EXPECT(&r, "g", 1);
	EXPECT(&r, "Z", -2, -1, 0, 3,
	                -3, 1, 1, 1);
	run_close(&r);
}
END_TEST

START_TEST(nested_reduction)
{
	/* log-sum-exp with the max subtracted, as in LANGUAGE.md */
	Run r = run_open("size N = 2, K = 3\ninput X[N, K] f64\n"
	                 "Y[i] = sum[j](exp(X[i, j] - max[k](X[i, k])))\n"
	                 "L[i] = log(sum[j](exp(X[i, j])))\n"
	                 "output Y, L\n");
	SET(&r, "X", 0, 1, 2,
	             5, 5, 5);
	interp_run(&r.u->g, &r.v);
	double want_y[] = {exp(-2) + exp(-1) + 1, 3};
	assert_close(&r, "Y", want_y, 2);
	double want_l[] = {log(1 + exp(1) + exp(2)), 5 + log(3)};
	assert_close(&r, "L", want_l, 2);
	run_close(&r);
}
END_TEST

START_TEST(partial_and_nested_reductions)
{
	/* two partial reductions over different indices of the left-hand
	 * side, and a reduction of a reduction */
	Run r = run_open("size N = 2, K = 3\ninput X[N, K] f64\n"
	                 "Y[i, j] = sum[k](X[i, k]) - 10 * sum[k](X[j, k])\n"
	                 "Z = sum[j](max[k](X[j, k]))\n"
	                 "W[k] = min[j](X[j, k]) * max[i, l](X[i, l])\n"
	                 "output Y, Z, W\n");
	SET(&r, "X", 1, 2, 3,
	             -4, 0.5, 2);
	interp_run(&r.u->g, &r.v);
	/* row sums 6 and -1.5 */
	EXPECT(&r, "Y", 6 - 60, 6 + 15,
	                -1.5 - 60, -1.5 + 15);
	EXPECT(&r, "Z", 3 + 2);
	EXPECT(&r, "W", -4 * 3, 0.5 * 3, 2 * 3);
	run_close(&r);
}
END_TEST

START_TEST(layernorm)
{
	enum { N = 2, D = 4 };
	Run r = run_open("size N = 2, D = 4\ninput x[N, D] f64, g[D] f64, b[D] f64\n"
	                 "mu[n] = mean[d](x[n, d])\n"
	                 "var[n] = mean[d](pow(x[n, d] - mu[n], 2))\n"
	                 "y[n, d] = (x[n, d] - mu[n]) / sqrt(var[n] + 1e-5) * g[d] + b[d]\n"
	                 "output y\n");
	static const double x[N][D] = {{1, 2, 3, 4}, {-1, 0.5, 0.25, 8}};
	static const double g[D] = {1, 2, 0.5, -1}, b[D] = {0, 1, -1, 0.5};
	double want[N][D];
	for (int n = 0; n < N; n++) {
		double mu = 0, var = 0;
		for (int d = 0; d < D; d++)
			mu += x[n][d];
		mu /= D;
		for (int d = 0; d < D; d++)
			var += pow(x[n][d] - mu, 2);
		var /= D;
		for (int d = 0; d < D; d++)
			want[n][d] = (x[n][d] - mu) / sqrt(var + 1e-5) * g[d] + b[d];
	}
	set_input(&r, "x", &x[0][0], N * D);
	set_input(&r, "g", g, D);
	set_input(&r, "b", b, D);
	interp_run(&r.u->g, &r.v);
	assert_close(&r, "y", &want[0][0], N * D);
	run_close(&r);
}
END_TEST

/* ---- element-wise ------------------------------------------------------------------ */

START_TEST(select_mask)
{
	/* a lower-triangular mask, and a causal softmax built on it */
	Run r = run_open("size N = 3\ninput A[N, N] f64\n"
	                 "L[i, j] = select(j <= i, A[i, j], 0)\n"
	                 "U[i, j] = select(i < j, A[i, j], -inf)\n"
	                 "Q[i, j] = select(i == j, 1, select(i != j, 2, 3)) + select(i > j, 10, 0) "
	                 "+ select(i >= j, 100, 0) + A[i, j] * 0\n"
	                 "M[i] = max[j](select(j <= i, A[i, j], -inf))\n"
	                 "output L, U, Q, M\n");
	SET(&r, "A", 1, 2, 3,
	             4, 5, 6,
	             7, 8, 9);
	interp_run(&r.u->g, &r.v);
	EXPECT(&r, "L", 1, 0, 0,
	                4, 5, 0,
	                7, 8, 9);
	EXPECT(&r, "U", -INFINITY, 2, 3,
	                -INFINITY, -INFINITY, 6,
	                -INFINITY, -INFINITY, -INFINITY);
	EXPECT(&r, "Q", 101, 2, 2,
	                112, 101, 2,
	                112, 112, 101);
	EXPECT(&r, "M", 1, 5, 9);
	run_close(&r);
}
END_TEST

START_TEST(select_nan_condition)
{
	/* a comparison with NaN is false, except != */
	Run r = run_open("size N = 2\ninput x[N] f64\n"
	                 "a[i] = select(x[i] < 1, 1, 0)\n"
	                 "b[i] = select(x[i] >= 1, 1, 0)\n"
	                 "c[i] = select(x[i] != x[i], 1, 0)\n"
	                 "d[i] = select(x[i] == x[i], 1, 0)\n"
	                 "output a, b, c, d\n");
	SET(&r, "x", NAN, 0);
	interp_run(&r.u->g, &r.v);
	EXPECT(&r, "a", 0, 1);
	EXPECT(&r, "b", 0, 0);
	EXPECT(&r, "c", 1, 0);
	EXPECT(&r, "d", 0, 1);
	run_close(&r);
}
END_TEST

START_TEST(functions)
{
	enum { N = 6 };
	static const double x[N] = {-2, -0.5, 0, 0.25, 1, 3};
	Run r = run_open("size N = 6\ninput x[N] f64\n"
	                 "Pw[i] = pow(x[i], 3) + pow(2, x[i])\n"
	                 "Ab[i] = abs(x[i])\n"
	                 "Sq[i] = sqrt(abs(x[i]))\n"
	                 "Sg[i] = sigmoid(x[i])\n"
	                 "Th[i] = tanh(x[i])\n"
	                 "Re[i] = relu(x[i])\n"
	                 "Lg[i] = log(abs(x[i]))\n"
	                 "Ex[i] = exp(x[i])\n"
	                 "Ng[i] = -x[i] - -1\n"
	                 "Mx[i] = max(x[i], 0.25) + min(x[i], 0)\n"
	                 "output Pw, Ab, Sq, Sg, Th, Re, Lg, Ex, Ng, Mx\n");
	set_input(&r, "x", x, N);
	interp_run(&r.u->g, &r.v);
	double want[N];
	for (int i = 0; i < N; i++)
		want[i] = pow(x[i], 3) + pow(2, x[i]);
	assert_close(&r, "Pw", want, N);
	EXPECT(&r, "Ab", 2, 0.5, 0, 0.25, 1, 3);
	for (int i = 0; i < N; i++)
		want[i] = sqrt(fabs(x[i]));
	assert_close(&r, "Sq", want, N);
	for (int i = 0; i < N; i++)
		want[i] = 1 / (1 + exp(-x[i]));
	assert_close(&r, "Sg", want, N);
	ck_assert_double_eq(value(&r, "Sg")[2], 0.5);
	for (int i = 0; i < N; i++)
		want[i] = tanh(x[i]);
	assert_close(&r, "Th", want, N);
	EXPECT(&r, "Re", 0, 0, 0, 0.25, 1, 3);
	for (int i = 0; i < N; i++)
		want[i] = log(fabs(x[i]));
	assert_close(&r, "Lg", want, N);
	ck_assert(isinf(value(&r, "Lg")[2]) && value(&r, "Lg")[2] < 0);
	for (int i = 0; i < N; i++)
		want[i] = exp(x[i]);
	assert_close(&r, "Ex", want, N);
	EXPECT(&r, "Ng", 3, 1.5, 1, 0.75, 0, -2);
	EXPECT(&r, "Mx", 0.25 - 2, 0.25 - 0.5, 0.25, 0.25, 1, 3);
	run_close(&r);
}
END_TEST

START_TEST(domain_errors)
{
	/* outside a function's domain the result is what C's libm gives */
	Run r = run_open("size N = 3\ninput x[N] f64\n"
	                 "L[i] = log(x[i])\nS[i] = sqrt(x[i])\nD[i] = 1 / x[i]\n"
	                 "output L, S, D\n");
	SET(&r, "x", -1, 0, 4);
	interp_run(&r.u->g, &r.v);
	const double *l = value(&r, "L"), *s = value(&r, "S"), *d = value(&r, "D");
	ck_assert(isnan(l[0]));
	ck_assert(isinf(l[1]) && l[1] < 0);
	ck_assert(isnan(s[0]));
	ck_assert_double_eq(s[2], 2);
	ck_assert(isinf(d[1]) && d[1] > 0);
	ck_assert_double_eq(d[2], 0.25);
	run_close(&r);
}
END_TEST

/* ---- names as values --------------------------------------------------------------- */

START_TEST(scalars)
{
	Run r = run_open("size N = 4\ninput x[N] f64, alpha f64\n"
	                 "s = sum[i](x[i])\n"
	                 "y[i] = alpha * x[i] / s\n"
	                 "c = 2.5 * alpha\n"
	                 "output s, y, c\n");
	SET(&r, "x", 1, 2, 3, 4);
	SET(&r, "alpha", 5);
	interp_run(&r.u->g, &r.v);
	EXPECT(&r, "s", 10);
	EXPECT(&r, "y", 0.5, 1, 1.5, 2);
	EXPECT(&r, "c", 12.5);
	run_close(&r);
}
END_TEST

START_TEST(sizes_and_indices_as_values)
{
	Run r = run_open("size N = 3, M = 2, L = N * M\ninput X[N, M] f64\n"
	                 "I[i, j] = i * M + j + X[i, j] * 0\n"
	                 "S[i, j] = X[i, j] / L + N\n"
	                 "T = sum[i, j](i * j + X[i, j] * 0)\n"
	                 "output I, S, T\n");
	SET(&r, "X", 6, 12, 18, 24, 30, 36);
	interp_run(&r.u->g, &r.v);
	EXPECT(&r, "I", 0, 1, 2, 3, 4, 5);
	EXPECT(&r, "S", 4, 5, 6, 7, 8, 9);
	/* sum of i*j over i < 3, j < 2: 0 + 1 + 2 */
	EXPECT(&r, "T", 3);
	run_close(&r);
}
END_TEST

START_TEST(infinite_literals)
{
	Run r = run_open("size N = 3\ninput x[N] f64\n"
	                 "a[i] = max(x[i], -inf)\n"
	                 "b[i] = min(x[i], inf)\n"
	                 "c = max[i](select(i < 0, x[i], -inf))\n"
	                 "d[i] = x[i] * 0 - inf\n"
	                 "output a, b, c, d\n");
	SET(&r, "x", -1e308, 0, 1e308);
	interp_run(&r.u->g, &r.v);
	EXPECT(&r, "a", -1e308, 0, 1e308);
	EXPECT(&r, "b", -1e308, 0, 1e308);
	/* every element masked: the identity of max */
	EXPECT(&r, "c", -INFINITY);
	EXPECT(&r, "d", -INFINITY, -INFINITY, -INFINITY);
	run_close(&r);
}
END_TEST

START_TEST(f32_literals)
{
	/* the interpreter computes in double, with literals rounded as the
	 * statement's type has them */
	Run r = run_open("size N = 2\ninput x[N], d[N] f64\n"
	                 "y[i] = x[i] * 0.1\nz[i] = d[i] * 0.1\noutput y, z\n");
	SET(&r, "x", 1, 3);
	SET(&r, "d", 1, 3);
	interp_run(&r.u->g, &r.v);
	EXPECT(&r, "y", (double)(float)0.1, 3 * (double)(float)0.1);
	EXPECT(&r, "z", 0.1, 3 * 0.1);
	run_close(&r);
}
END_TEST

/* ---- the interface ---------------------------------------------------------------- */

START_TEST(eval_at_point)
{
	Run r = run_open("size N = 2, C = 3\ninput Y[N, C] f64, b[C] f64\n"
	                 "E[i, c] = exp(Y[i, c]) * i + b[c]\n"
	                 "S[i] = sum[c](Y[i, c] * c) + 1\n"
	                 "output E, S\n");
	SET(&r, "Y", 0, 1, 2, 3, 4, 5);
	SET(&r, "b", 10, 20, 30);
	const TraNode *e = unit_node(&r.u->g, "E");
	int64_t point[2] = {1, 2};
	double got = interp_eval(&r.u->g, e, e->join, &r.v, point, 0);
	ck_assert(close_to(got, exp(5) + 30));
	/* an epilogue reads acc */
	const TraNode *s = unit_node(&r.u->g, "S");
	int64_t p2[2] = {0, 0};
	ck_assert_double_eq(interp_eval(&r.u->g, s, s->epilogue, &r.v, p2, 41), 42);
	int64_t p3[2] = {1, 2};
	ck_assert_double_eq(interp_eval(&r.u->g, s, s->join, &r.v, p3, 0), 10);
	run_close(&r);
}
END_TEST

START_TEST(run_twice)
{
	/* a second run with new inputs replaces every einsum's values */
	Run r = run_open("size N = 3\ninput x[N] f64\ny[i] = x[i] * 2\ns = sum[i](y[i])\noutput s, x\n");
	SET(&r, "x", 1, 2, 3);
	interp_run(&r.u->g, &r.v);
	EXPECT(&r, "s", 12);
	SET(&r, "x", -1, 0, 0.5);
	interp_run(&r.u->g, &r.v);
	EXPECT(&r, "y", -2, 0, 1);
	EXPECT(&r, "s", -1);
	EXPECT(&r, "x", -1, 0, 0.5);
	run_close(&r);
}
END_TEST

START_TEST(larger_sizes)
{
	/* enough elements that a wrong stride would show: rows of different
	 * lengths and a reduction over the leading index */
	enum { N = 7, M = 13 };
	Run r = run_open("size N = 7, M = 13\ninput X[N, M] f64\n"
	                 "C[j] = sum[i](X[i, j] * (i + 1))\n"
	                 "R[i] = max[j](X[i, j] - j)\n"
	                 "output C, R\n");
	double x[N][M], wc[M], wr[N];
	uint64_t st = 99;
	for (int i = 0; i < N * M; i++)
		(&x[0][0])[i] = lcg(&st);
	for (int j = 0; j < M; j++) {
		wc[j] = 0;
		for (int i = 0; i < N; i++)
			wc[j] += x[i][j] * (i + 1);
	}
	for (int i = 0; i < N; i++) {
		wr[i] = -INFINITY;
		for (int j = 0; j < M; j++)
			wr[i] = fmax(wr[i], x[i][j] - j);
	}
	set_input(&r, "X", &x[0][0], N * M);
	interp_run(&r.u->g, &r.v);
	assert_values(&r, "C", wc, M);
	assert_values(&r, "R", wr, N);
	run_close(&r);
}
END_TEST

/* ---- random programs against a direct evaluation of their AST ----------------- */

/* Sema lowers a statement to several nodes (split reductions, mean as a
 * sum, a main reduction with an epilogue); the interpreter runs the
 * nodes. Here random definitions over fixed inputs are run both ways:
 * through the graph, and by evaluating the statement's AST directly, with
 * each reduction a loop. The two must agree on every element. */

enum { GEN_SIZES = 3, GEN_IDX = 6, GEN_TENSORS = 5, GEN_BUF = 4096 };
static const char *const gen_size_name[GEN_SIZES] = {"N", "M", "K"};
static const int gen_size_value[GEN_SIZES] = {2, 3, 4};
static const char *const gen_idx_name[GEN_IDX] = {"n", "m", "k", "n2", "m2", "k2"};
static const int gen_idx_dim[GEN_IDX] = {0, 1, 2, 0, 1, 2}; /* which size */
static const struct {
	const char *name;
	int rank;
	int dim[2];
} gen_tensor[GEN_TENSORS] = {
	{"A", 2, {0, 1}}, {"B", 2, {1, 2}}, {"C", 2, {2, 0}}, {"v", 1, {1, 0}}, {"s", 0, {0, 0}},
};
static const char gen_decls[] = "size N = 2, M = 3, K = 4\n"
                                "input A[N, M] f64, B[M, K] f64, C[K, N] f64, v[M] f64, s f64\n";

/* A generator: a string being built and the random state. */
typedef struct Gen {
	char buf[GEN_BUF];
	size_t len;
	uint64_t state;
} Gen;

static unsigned gen_rand(Gen *g, unsigned n)
{
	g->state = g->state * 6364136223846793005u + 1442695040888963407u;
	return (unsigned)(g->state >> 33) % n;
}

static void gen_put(Gen *g, const char *s)
{
	size_t n = strlen(s);
	if (g->len + n < GEN_BUF) {
		memcpy(g->buf + g->len, s, n + 1);
		g->len += n;
	}
}

/* A bound index (bit set in mask) ranging over size dim, or -1. */
static int gen_pick_index(Gen *g, unsigned mask, int dim)
{
	int cand[GEN_IDX], n = 0;
	for (int i = 0; i < GEN_IDX; i++)
		if (((mask >> i) & 1) && gen_idx_dim[i] == dim)
			cand[n++] = i;
	return n ? cand[gen_rand(g, (unsigned)n)] : -1;
}

/* A tensor element subscripted by bound indices, using index `must` if
 * it is not -1; a number if no tensor fits. */
static void gen_access(Gen *g, unsigned mask, int must)
{
	for (int tries = 0; tries < 8; tries++) {
		int t = (int)gen_rand(g, GEN_TENSORS - 1); /* not the scalar s */
		int sub[2], placed = must < 0;
		bool ok = true;
		for (int d = 0; d < gen_tensor[t].rank && ok; d++) {
			if (!placed && gen_tensor[t].dim[d] == gen_idx_dim[must]) {
				sub[d] = must;
				placed = 1;
			} else {
				sub[d] = gen_pick_index(g, mask, gen_tensor[t].dim[d]);
				ok = sub[d] >= 0;
			}
		}
		if (!ok || !placed)
			continue;
		gen_put(g, gen_tensor[t].name);
		gen_put(g, "[");
		for (int d = 0; d < gen_tensor[t].rank; d++) {
			gen_put(g, d ? ", " : "");
			gen_put(g, gen_idx_name[sub[d]]);
		}
		gen_put(g, "]");
		return;
	}
	gen_put(g, "0.5");
}

static void gen_expr(Gen *g, unsigned mask, int depth);

/* agg[fresh...](access * expr), over one or two unbound indices. */
static void gen_reduce(Gen *g, unsigned mask, int depth)
{
	static const char *const aggs[] = {"sum", "prod", "max", "min", "mean"};
	int fresh[2], nf = 0;
	for (int tries = 0; tries < 6 && nf < 2; tries++) {
		int i = (int)gen_rand(g, GEN_IDX);
		if (!((mask >> i) & 1) && (nf == 0 || fresh[0] != i))
			fresh[nf++] = i;
		if (nf == 1 && gen_rand(g, 2))
			break;
	}
	if (nf == 0) {
		gen_access(g, mask, -1);
		return;
	}
	unsigned inner = mask;
	gen_put(g, aggs[gen_rand(g, 5)]);
	gen_put(g, "[");
	for (int i = 0; i < nf; i++) {
		gen_put(g, i ? ", " : "");
		gen_put(g, gen_idx_name[fresh[i]]);
		inner |= 1u << fresh[i];
	}
	gen_put(g, "](");
	for (int i = 0; i < nf; i++) {
		gen_access(g, inner, fresh[i]);
		gen_put(g, " * ");
	}
	gen_expr(g, inner, depth + 1);
	gen_put(g, ")");
}

static void gen_leaf(Gen *g, unsigned mask)
{
	static const char *const nums[] = {"0.5", "2", "3", "0.25", "1"};
	switch (gen_rand(g, 6)) {
	case 0: gen_put(g, nums[gen_rand(g, 5)]); break;
	case 1: gen_put(g, "s"); break;
	case 2: gen_put(g, gen_size_name[gen_rand(g, GEN_SIZES)]); break;
	case 3: {
		int i = gen_pick_index(g, mask, (int)gen_rand(g, GEN_SIZES));
		gen_put(g, i >= 0 ? gen_idx_name[i] : "1");
		break;
	}
	default: gen_access(g, mask, -1); break;
	}
}

static void gen_expr(Gen *g, unsigned mask, int depth)
{
	static const char *const ops[] = {" + ", " - ", " * ", " / "};
	static const char *const fns[] = {"tanh(", "sigmoid(", "abs(", "relu(", "exp(", "sin(", "cos(",
	                                  "floor(", "ceil(", "round(", "sign(", "expm1(", "exp2(", "erf(",
	                                  "sqrt(abs(", "log1p(abs(", "log2(abs(", "rsqrt(abs("};
	enum { GEN_NFNS = sizeof fns / sizeof *fns, GEN_FIRST_ABS = 14 }; /* fns[14..]: two parentheses */
	static const char *const cmps[] = {" < ", " <= ", " > ", " >= ", " == ", " != "};
	unsigned r = depth >= 3 ? 0 : gen_rand(g, 9);
	switch (r) {
	case 0: case 1: gen_leaf(g, mask); break;
	case 2: case 3:
		gen_put(g, "(");
		gen_expr(g, mask, depth + 1);
		gen_put(g, ops[gen_rand(g, 4)]);
		gen_expr(g, mask, depth + 1);
		gen_put(g, ")");
		break;
	case 4: {
		unsigned f = gen_rand(g, GEN_NFNS);
		gen_put(g, fns[f]);
		gen_expr(g, mask, depth + 1);
		gen_put(g, f >= GEN_FIRST_ABS ? "))" : ")");
		break;
	}
	case 5:
		gen_put(g, gen_rand(g, 2) ? "max(" : gen_rand(g, 2) ? "min(" : "pow(");
		gen_expr(g, mask, depth + 1);
		gen_put(g, ", ");
		gen_expr(g, mask, depth + 1);
		gen_put(g, ")");
		break;
	case 6:
		gen_put(g, "select(");
		gen_expr(g, mask, depth + 1);
		gen_put(g, cmps[gen_rand(g, 6)]);
		gen_expr(g, mask, depth + 1);
		gen_put(g, ", ");
		gen_expr(g, mask, depth + 1);
		gen_put(g, ", ");
		gen_expr(g, mask, depth + 1);
		gen_put(g, ")");
		break;
	case 7:
		gen_put(g, "-");
		gen_leaf(g, mask);
		break;
	default: gen_reduce(g, mask, depth); break;
	}
}

/* ---- the oracle: the AST evaluated directly ---- */

typedef struct Oracle {
	const Run *r;
	int64_t idx_value[GEN_IDX]; /* current values of bound indices */
} Oracle;

static int oracle_index(const char *name)
{
	for (int i = 0; i < GEN_IDX; i++)
		if (strcmp(gen_idx_name[i], name) == 0)
			return i;
	return -1;
}

static double oracle_max(double a, double b) { return isnan(a) || isnan(b) ? NAN : fmax(a, b); }
static double oracle_min(double a, double b) { return isnan(a) || isnan(b) ? NAN : fmin(a, b); }

static double oracle_eval(Oracle *o, AstRef ref);

static double oracle_reduce(Oracle *o, const AstExpr *e, int k, double acc)
{
	if (k == e->red.nidx) {
		double x = oracle_eval(o, e->red.body);
		switch (e->red.agg) {
		case TRA_AGG_PROD: return acc * x;
		case TRA_AGG_MAX: return oracle_max(acc, x);
		case TRA_AGG_MIN: return oracle_min(acc, x);
		default: return acc + x;
		}
	}
	int i = oracle_index(o->r->u->prog.ex[e->red.idx[k]].ref.name);
	for (int64_t x = 0; x < gen_size_value[gen_idx_dim[i]]; x++) {
		o->idx_value[i] = x;
		acc = oracle_reduce(o, e, k + 1, acc);
	}
	return acc;
}

static double oracle_call(Oracle *o, const AstExpr *e)
{
	const char *f = e->ref.name;
	if (strcmp(f, "select") == 0)
		return oracle_eval(o, e->ref.args[0]) != 0 ? oracle_eval(o, e->ref.args[1])
		                                           : oracle_eval(o, e->ref.args[2]);
	double a = oracle_eval(o, e->ref.args[0]);
	double b = e->ref.nargs > 1 ? oracle_eval(o, e->ref.args[1]) : 0;
	if (strcmp(f, "tanh") == 0) return tanh(a);
	if (strcmp(f, "sigmoid") == 0) return 1 / (1 + exp(-a));
	if (strcmp(f, "abs") == 0) return fabs(a);
	if (strcmp(f, "relu") == 0) return a < 0 ? 0 : a;
	if (strcmp(f, "exp") == 0) return exp(a);
	if (strcmp(f, "sqrt") == 0) return sqrt(a);
	if (strcmp(f, "sin") == 0) return fabs(a) < TRART_TRIG_LIMIT ? sin(a) : NAN;
	if (strcmp(f, "cos") == 0) return fabs(a) < TRART_TRIG_LIMIT ? cos(a) : NAN;
	if (strcmp(f, "floor") == 0) return floor(a);
	if (strcmp(f, "ceil") == 0) return ceil(a);
	if (strcmp(f, "round") == 0) return nearbyint(a);
	if (strcmp(f, "sign") == 0) return a > 0 ? 1 : a < 0 ? -1 : a;
	if (strcmp(f, "expm1") == 0) return expm1(a);
	if (strcmp(f, "exp2") == 0) return exp2(a);
	if (strcmp(f, "erf") == 0) return erf(a);
	if (strcmp(f, "log1p") == 0) return log1p(a);
	if (strcmp(f, "log2") == 0) return log2(a);
	if (strcmp(f, "rsqrt") == 0) return 1 / sqrt(a);
	if (strcmp(f, "max") == 0) return oracle_max(a, b);
	if (strcmp(f, "min") == 0) return oracle_min(a, b);
	if (strcmp(f, "pow") == 0) return pow(a, b);
	ck_abort_msg("oracle: function %s", f);
	return 0;
}

static double oracle_binary(TraOp op, double a, double b)
{
	switch (op) {
	case TRA_OP_ADD: return a + b;
	case TRA_OP_SUB: return a - b;
	case TRA_OP_MUL: return a * b;
	case TRA_OP_DIV: return a / b;
	case TRA_OP_LT: return a < b;
	case TRA_OP_LE: return a <= b;
	case TRA_OP_GT: return a > b;
	case TRA_OP_GE: return a >= b;
	case TRA_OP_EQ: return a == b;
	case TRA_OP_NE: return a != b;
	default: ck_abort_msg("oracle: op %d", op); return 0;
	}
}

static double oracle_tensor(Oracle *o, const AstExpr *e)
{
	const TraNode *n = unit_node(&o->r->u->g, e->ref.name);
	int64_t off = 0;
	for (int d = 0; d < e->ref.nargs; d++) {
		int i = oracle_index(o->r->u->prog.ex[e->ref.args[d]].ref.name);
		off = off * n->idx[d].size + o->idx_value[i];
	}
	return value(o->r, e->ref.name)[off];
}

static double oracle_eval(Oracle *o, AstRef ref)
{
	const AstExpr *e = &o->r->u->prog.ex[ref];
	switch (e->kind) {
	case AST_NUM: return e->num.value;
	case AST_INF: return INFINITY;
	case AST_NAME: {
		int i = oracle_index(e->ref.name);
		if (i >= 0)
			return (double)o->idx_value[i];
		for (int k = 0; k < GEN_SIZES; k++)
			if (strcmp(gen_size_name[k], e->ref.name) == 0)
				return gen_size_value[k];
		return oracle_tensor(o, e);
	}
	case AST_ACCESS: return oracle_tensor(o, e);
	case AST_CALL: return oracle_call(o, e);
	case AST_UNARY: return -oracle_eval(o, e->op.a);
	case AST_BINARY: return oracle_binary(e->op.op, oracle_eval(o, e->op.a), oracle_eval(o, e->op.b));
	case AST_REDUCE: {
		static const double identity[] = {0, 0, 1, -INFINITY, INFINITY, 0};
		double acc = oracle_reduce(o, e, 0, identity[e->red.agg]);
		if (e->red.agg == TRA_AGG_MEAN) {
			double count = 1;
			for (int k = 0; k < e->red.nidx; k++)
				count *= gen_size_value[gen_idx_dim[oracle_index(
					o->r->u->prog.ex[e->red.idx[k]].ref.name)]];
			acc /= count;
		}
		return acc;
	}
	}
	return NAN;
}

/* Compares every element of the last statement's tensor with the oracle. */
static void oracle_check(Run *r, const char *src)
{
	const AstStmt *st = &r->u->prog.st[r->u->prog.nst - 2]; /* before "output Y" */
	const TraNode *y = unit_node(&r->u->g, "Y");
	const double *got = value(r, "Y");
	Oracle o = {.r = r};
	int64_t n = tra_node_elements(y);
	for (int64_t e = 0; e < n; e++) {
		int64_t rest = e;
		for (int d = st->nidx - 1; d >= 0; d--) {
			int i = oracle_index(r->u->prog.ex[st->idx[d]].ref.name);
			o.idx_value[i] = rest % y->idx[d].size;
			rest /= y->idx[d].size;
		}
		double want = oracle_eval(&o, st->value);
		ck_assert_msg(close_to(got[e], want), "element %lld: interp %.17g, oracle %.17g, for:\n%s",
		              (long long)e, got[e], want, src);
	}
}

START_TEST(random_programs)
{
	Gen g = {.state = 2024};
	int valid = 0, split = 0;
	enum { PROGRAMS = 1000 };
	for (int p = 0; p < PROGRAMS; p++) {
		g.len = 0;
		g.buf[0] = '\0';
		gen_put(&g, gen_decls);
		/* the left-hand side: up to three distinct indices */
		int lhs[3], nl = (int)gen_rand(&g, 4);
		unsigned mask = 0;
		for (int i = 0; i < nl; i++) {
			do
				lhs[i] = (int)gen_rand(&g, GEN_IDX);
			while ((mask >> lhs[i]) & 1);
			mask |= 1u << lhs[i];
		}
		gen_put(&g, "Y");
		for (int i = 0; i < nl; i++) {
			gen_put(&g, i ? ", " : "[");
			gen_put(&g, gen_idx_name[lhs[i]]);
		}
		gen_put(&g, nl ? "] = " : " = ");
		gen_expr(&g, mask, 0);
		for (int i = 0; i < nl; i++) {
			gen_put(&g, i ? " * " : " + ");
			gen_access(&g, mask, lhs[i]);
		}
		gen_put(&g, "\noutput Y\n");

		UnitRun *u = unit_compile(g.buf);
		if (u->nerrors) {
			unit_free(u);
			continue;
		}
		unit_free(u);
		valid++;
		Run r = run_open(g.buf);
		uint64_t st = (uint64_t)p + 1;
		for (int id = 0; id < r.u->g.nnodes; id++) {
			const TraNode *n = &r.u->g.nodes[id];
			if (n->kind != TRA_NODE_INPUT)
				continue;
			size_t m = (size_t)tra_node_elements(n);
			double *d = malloc(m * sizeof *d);
			for (size_t k = 0; k < m; k++)
				d[k] = lcg(&st);
			r.v.data[id] = d;
		}
		interp_run(&r.u->g, &r.v);
		split += unit_node_id(&r.u->g, "Y.r1") >= 0;
		oracle_check(&r, g.buf);
		run_close(&r);
	}
	/* the generator must reach the interesting cases */
	ck_assert_msg(valid >= PROGRAMS / 4, "only %d valid programs", valid);
	ck_assert_msg(split >= valid / 10, "only %d programs with split reductions", split);
}
END_TEST

static Suite *interp_suite(void)
{
	Suite *s = suite_create("interp");
	TCase *tc = tcase_create("contractions");
	tcase_add_test(tc, matmul);
	tcase_add_test(tc, transpose);
	tcase_add_test(tc, matmul_with_epilogue);
	tcase_add_test(tc, batched_permuted_contraction);
	tcase_add_test(tc, attention);
	suite_add_tcase(s, tc);
	tc = tcase_create("reductions");
	tcase_add_test(tc, row_softmax);
	tcase_add_test(tc, max_min_reductions);
	tcase_add_test(tc, nan_propagation);
	tcase_add_test(tc, prod_reduction);
	tcase_add_test(tc, mean_reduction);
	tcase_add_test(tc, nested_reduction);
	tcase_add_test(tc, partial_and_nested_reductions);
	tcase_add_test(tc, layernorm);
	suite_add_tcase(s, tc);
	tc = tcase_create("element-wise");
	tcase_add_test(tc, select_mask);
	tcase_add_test(tc, select_nan_condition);
	tcase_add_test(tc, functions);
	tcase_add_test(tc, domain_errors);
	tcase_add_test(tc, scalars);
	tcase_add_test(tc, sizes_and_indices_as_values);
	tcase_add_test(tc, infinite_literals);
	tcase_add_test(tc, f32_literals);
	suite_add_tcase(s, tc);
	tc = tcase_create("interface");
	tcase_add_test(tc, eval_at_point);
	tcase_add_test(tc, run_twice);
	tcase_add_test(tc, larger_sizes);
	suite_add_tcase(s, tc);
	tc = tcase_create("differential");
	tcase_add_test(tc, random_programs);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(interp_suite)
