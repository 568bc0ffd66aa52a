/* strassen.c: large GEMMs in fewer multiplications (Strassen-Winograd).
 *
 * trart_sgemm and trart_dgemm compute what cblas_sgemm and cblas_dgemm
 * do, with the same arguments: C = alpha op(A) op(B) + beta C. Kernels
 * whose plan says so (GemmPlan.strassen, kplan.c's) call them instead of
 * BLAS. A call whose M, N and K are all at least TRART_STRASSEN_MIN is
 * cut into 2 x 2 quadrants and computed by Winograd's form of
 * Strassen's algorithm: 7 products of quadrants instead of 8, and 15
 * additions of quadrants; each product is such a call again, so a call
 * of 2 * TRART_STRASSEN_MIN or more runs two levels (49 products of a
 * sixteenth). Odd rows, columns and terms are left out of the quadrants
 * and added by plain BLAS calls (a row, a column, a rank-1 update).
 *
 * Why: on large products OpenBLAS runs at the machine's peak, and the
 * only way left to be faster is to multiply less. One level does 7/8 of
 * the flops; the additions stream quadrants that fit in cache. One
 * thread, OPENBLAS_CORETYPE=Haswell: 2048 x 1024 x 1024 f32, 39.3 ms by
 * sgemm, 35.2 in one level (0.92 of the time); 512^3, 0.95.
 *
 * Numerics: the quadrant sums round, so errors grow by a small constant
 * factor per level (norm-wise, as Higham's analysis of Strassen's
 * algorithm bounds them), well inside LANGUAGE.md's 1e-4 for f32 at any
 * size trac runs. An element much smaller than its row and column's
 * norms may have a larger relative error than BLAS gives it, and an
 * infinity among the operands can turn into NaN in elements BLAS would
 * make infinite (a quadrant's difference inf - inf): trac --no-strassen
 * keeps plain BLAS calls.
 *
 * The quadrant sums live in the block pool (pool.c): a program run with
 * --repeat asks for the same sizes every time, and fresh memory's page
 * faults made a W2 run's first GEMMs 1.4-2.6x slower; --stats counts
 * them.
 *
 * The additions are vector loops (GCC's vector types) compiled for
 * AVX-512, AVX2 and plain x86-64, chosen when the program loads
 * (target_clones): the library is built for any x86-64, and at SSE2's
 * width the additions ate most of the saving (0.97 of sgemm's time).
 *
 * OpenBLAS's entry points are declared here, as in exec.c.
 */
#include "trart.h"

#include <stddef.h>
#include <string.h>

void cblas_sgemm(int, int, int, int, int, int, float, const float *, int, const float *, int, float, float *,
                 int);
void cblas_dgemm(int, int, int, int, int, int, double, const double *, int, const double *, int, double,
                 double *, int);

enum { STRASSEN_ROW_MAJOR = 101, STRASSEN_COL_MAJOR = 102, STRASSEN_NO_TRANS = 111 };

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define STRASSEN_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define STRASSEN_CLONES
#endif

/* Vectors of 64 bytes, loaded and stored at any element's alignment. */
typedef float StrassenVf __attribute__((vector_size(64), aligned(4), may_alias));
typedef double StrassenVd __attribute__((vector_size(64), aligned(8), may_alias));

/* d = beta d + x + sy y over a rows x cols box (y may be NULL: d = beta d
 * + x); beta 0 does not read d, as BLAS's beta 0 does not read C. d may
 * be x or y. One definition for both element types (Strassen.combine's
 * untyped signature): T the element, V its vector of 64 bytes, L the
 * vector's lanes; a row's whole vectors, then the elements left over. */
#define STRASSEN_COMBINE(NAME, T, V, L)                                                                        \
	STRASSEN_CLONES                                                                                         \
	static void NAME(void *dv, int ldd, double beta_, const void *xv, int ldx, const void *yv, int ldy,        \
	                 double sy_, int rows, int cols)                                                        \
	{                                                                                                       \
		T *d = dv, beta = (T)beta_, sy = (T)sy_;                                                        \
		const T *x = xv, *y = yv;                                                                       \
		for (int r = 0; r < rows; r++) {                                                                \
			T *dr = d + (size_t)r * ldd;                                                            \
			const T *xr = x + (size_t)r * ldx, *yr = y ? y + (size_t)r * ldy : NULL;               \
			int c = 0;                                                                              \
			if (yr && beta == 0) {                                                                  \
				for (; c + L <= cols; c += L)                                                   \
					*(V *)(dr + c) = *(const V *)(xr + c) + sy * *(const V *)(yr + c);      \
				for (; c < cols; c++)                                                           \
					dr[c] = xr[c] + sy * yr[c];                                             \
			} else if (yr) {                                                                        \
				for (; c + L <= cols; c += L)                                                   \
					*(V *)(dr + c) = beta * *(V *)(dr + c) + *(const V *)(xr + c) +        \
					                 sy * *(const V *)(yr + c);                             \
				for (; c < cols; c++)                                                           \
					dr[c] = beta * dr[c] + xr[c] + sy * yr[c];                              \
			} else if (beta == 0) {                                                                 \
				memcpy(dr, xr, (size_t)cols * sizeof(T));                                      \
			} else {                                                                                \
				for (; c + L <= cols; c += L)                                                   \
					*(V *)(dr + c) = beta * *(V *)(dr + c) + *(const V *)(xr + c);         \
				for (; c < cols; c++)                                                           \
					dr[c] = beta * dr[c] + xr[c];                                           \
			}                                                                                       \
		}                                                                                               \
	}

STRASSEN_COMBINE(strassen_combine_f32, float, StrassenVf, 16)
STRASSEN_COMBINE(strassen_combine_f64, double, StrassenVd, 8)

/* One element type's calls: the algorithm below is written once, over
 * untyped pointers, and reaches the type only through these. */
typedef struct Strassen {
	size_t size; /* bytes per element */
	void (*blas)(int ta, int tb, int m, int n, int k, double alpha, const void *A, int lda, const void *B, int ldb,
	             double beta, void *C, int ldc);
	void (*combine)(void *d, int ldd, double beta, const void *x, int ldx, const void *y, int ldy, double sy,
	                int rows, int cols);
} Strassen;

static void strassen_blas_f32(int ta, int tb, int m, int n, int k, double alpha, const void *A, int lda,
                              const void *B, int ldb, double beta, void *C, int ldc)
{
	cblas_sgemm(STRASSEN_ROW_MAJOR, ta, tb, m, n, k, (float)alpha, A, lda, B, ldb, (float)beta, C, ldc);
}

static void strassen_blas_f64(int ta, int tb, int m, int n, int k, double alpha, const void *A, int lda,
                              const void *B, int ldb, double beta, void *C, int ldc)
{
	cblas_dgemm(STRASSEN_ROW_MAJOR, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}

static const Strassen strassen_f32 = {sizeof(float), strassen_blas_f32, strassen_combine_f32};
static const Strassen strassen_f64 = {sizeof(double), strassen_blas_f64, strassen_combine_f64};

/* An operand as the algorithm sees it: op(X), its rows and columns in the
 * product's sense, trans when X is stored transposed. */
typedef struct StrassenMat {
	char *p;
	int ld;
	int trans; /* cblas's 111 or 112 */
} StrassenMat;

/* The element (r, c) of op(X). */
static char *strassen_at(const Strassen *s, StrassenMat X, int r, int c)
{
	size_t off = X.trans == STRASSEN_NO_TRANS ? (size_t)r * X.ld + c : (size_t)c * X.ld + r;
	return X.p + off * s->size;
}

/* The (i, j) quadrant of op(X), whose quadrants are rows x cols. */
static StrassenMat strassen_quad(const Strassen *s, StrassenMat X, int i, int j, int rows, int cols)
{
	return (StrassenMat){strassen_at(s, X, i * rows, j * cols), X.ld, X.trans};
}

/* d = x + sy y over quadrants of rows x cols (in op's sense), all three
 * stored the same way round. */
static void strassen_add(const Strassen *s, StrassenMat d, StrassenMat x, StrassenMat y, double sy, int rows,
                         int cols)
{
	if (d.trans == STRASSEN_NO_TRANS)
		s->combine(d.p, d.ld, 0, x.p, x.ld, y.p, y.ld, sy, rows, cols);
	else
		s->combine(d.p, d.ld, 0, x.p, x.ld, y.p, y.ld, sy, cols, rows);
}

static void strassen_gemm(const Strassen *s, int m, int n, int k, double alpha, StrassenMat A, StrassenMat B,
                          double beta, StrassenMat C);

/* One level on the even part: C = alpha op(A) op(B) + beta C where op(A)
 * is 2h x 2q and op(B) 2q x 2w, in Winograd's schedule:
 *   S1 = A21 + A22, S2 = S1 - A11, S3 = A11 - A21, S4 = A12 - S2,
 *   T1 = B12 - B11, T2 = B22 - T1, T3 = B22 - B12, T4 = T2 - B21,
 *   C11 = M1 + M2, C12 = M1 + M6 + M5 + M3, C21 = M1 + M6 + M7 - M4,
 *   C22 = M1 + M6 + M7 + M5, with M1 = A11 B11, M2 = A12 B21, M3 = S4 B22,
 *   M4 = A22 T4, M5 = S1 T1, M6 = S2 T2, M7 = S3 T3.
 * P accumulates M1 + M6 (+ M7); with beta 0 it is C21 itself. */
static void strassen_level(const Strassen *s, int h, int w, int q, double alpha, StrassenMat A, StrassenMat B,
                           double beta, StrassenMat C)
{
	StrassenMat A11 = strassen_quad(s, A, 0, 0, h, q), A12 = strassen_quad(s, A, 0, 1, h, q);
	StrassenMat A21 = strassen_quad(s, A, 1, 0, h, q), A22 = strassen_quad(s, A, 1, 1, h, q);
	StrassenMat B11 = strassen_quad(s, B, 0, 0, q, w), B12 = strassen_quad(s, B, 0, 1, q, w);
	StrassenMat B21 = strassen_quad(s, B, 1, 0, q, w), B22 = strassen_quad(s, B, 1, 1, q, w);
	StrassenMat C11 = strassen_quad(s, C, 0, 0, h, w), C12 = strassen_quad(s, C, 0, 1, h, w);
	StrassenMat C21 = strassen_quad(s, C, 1, 0, h, w), C22 = strassen_quad(s, C, 1, 1, h, w);
	size_t hq = (size_t)h * q, qw = (size_t)q * w, hw = (size_t)h * w;
	char *ws = trart_pool_alloc((hq + 2 * qw + (beta != 0 ? 2 : 1) * hw) * s->size);
	StrassenMat S = {ws, A.trans == STRASSEN_NO_TRANS ? q : h, A.trans};
	StrassenMat T = {ws + hq * s->size, B.trans == STRASSEN_NO_TRANS ? w : q, B.trans};
	StrassenMat V = {T.p + qw * s->size, T.ld, T.trans};
	StrassenMat Q = {V.p + qw * s->size, w, STRASSEN_NO_TRANS};
	StrassenMat P = beta != 0 ? (StrassenMat){Q.p + hw * s->size, w, STRASSEN_NO_TRANS} : C21;

	strassen_add(s, S, A21, A22, 1, h, q);                /* S1 */
	strassen_add(s, T, B12, B11, -1, q, w);               /* T1 */
	strassen_gemm(s, h, w, q, alpha, S, T, 0, Q);         /* Q = M5 */
	strassen_gemm(s, h, w, q, alpha, A11, B11, 0, P);     /* P = M1 */
	strassen_gemm(s, h, w, q, alpha, A12, B21, beta, C11);
	s->combine(C11.p, C11.ld, 1, P.p, P.ld, NULL, 0, 0, h, w); /* C11 = M1 + M2 */
	strassen_add(s, S, S, A11, -1, h, q);                 /* S2 */
	strassen_add(s, T, B22, T, -1, q, w);                 /* T2 */
	strassen_gemm(s, h, w, q, alpha, S, T, 1, P);         /* P = M1 + M6 */
	s->combine(C12.p, C12.ld, beta, P.p, P.ld, Q.p, Q.ld, 1, h, w);
	strassen_add(s, S, A12, S, -1, h, q);                 /* S4 */
	strassen_gemm(s, h, w, q, alpha, S, B22, 1, C12);     /* C12 = P + M5 + M3 */
	strassen_add(s, V, T, B21, -1, q, w);                 /* T4 */
	strassen_add(s, T, B22, B12, -1, q, w);               /* T3 */
	strassen_add(s, S, A11, A21, -1, h, q);               /* S3 */
	strassen_gemm(s, h, w, q, alpha, S, T, 1, P);         /* P = M1 + M6 + M7 */
	s->combine(C22.p, C22.ld, beta, P.p, P.ld, Q.p, Q.ld, 1, h, w); /* C22 = P + M5 */
	if (P.p != C21.p)
		s->combine(C21.p, C21.ld, beta, P.p, P.ld, NULL, 0, 0, h, w);
	strassen_gemm(s, h, w, q, -alpha, A22, V, 1, C21);    /* C21 = P - M4 */
	trart_pool_free(ws);
}

/* C = alpha op(A) op(B) + beta C, op(A) m x k: a level while the call is
 * large enough, then BLAS. */
static void strassen_gemm(const Strassen *s, int m, int n, int k, double alpha, StrassenMat A, StrassenMat B,
                          double beta, StrassenMat C)
{
	if (m < TRART_STRASSEN_MIN || n < TRART_STRASSEN_MIN || k < TRART_STRASSEN_MIN) {
		s->blas(A.trans, B.trans, m, n, k, alpha, A.p, A.ld, B.p, B.ld, beta, C.p, C.ld);
		return;
	}
	int h = m / 2, w = n / 2, q = k / 2;
	strassen_level(s, h, w, q, alpha, A, B, beta, C);
	/* what the quadrants left out: the last term (rank 1), then the last
	   column and the last row, each over all of K */
	if (k > 2 * q)
		s->blas(A.trans, B.trans, 2 * h, 2 * w, 1, alpha, strassen_at(s, A, 0, 2 * q), A.ld,
		        strassen_at(s, B, 2 * q, 0), B.ld, 1, C.p, C.ld);
	if (n > 2 * w)
		s->blas(A.trans, B.trans, 2 * h, 1, k, alpha, A.p, A.ld, strassen_at(s, B, 0, 2 * w), B.ld, beta,
		        strassen_at(s, C, 0, 2 * w), C.ld);
	if (m > 2 * h)
		s->blas(A.trans, B.trans, 1, n, k, alpha, strassen_at(s, A, 2 * h, 0), A.ld, B.p, B.ld, beta,
		        strassen_at(s, C, 2 * h, 0), C.ld);
}

/* A column-major call is the row-major one of the transposed product:
 * C^T = op(B)^T op(A)^T. */
static void strassen_call(const Strassen *s, int order, int ta, int tb, int m, int n, int k, double alpha,
                          const void *A, int lda, const void *B, int ldb, double beta, void *C, int ldc)
{
	StrassenMat a = {(char *)A, lda, ta}, b = {(char *)B, ldb, tb}, c = {C, ldc, STRASSEN_NO_TRANS};
	if (order == STRASSEN_COL_MAJOR)
		strassen_gemm(s, n, m, k, alpha, b, a, beta, c);
	else
		strassen_gemm(s, m, n, k, alpha, a, b, beta, c);
}

void trart_sgemm(int order, int transa, int transb, int m, int n, int k, float alpha, const float *A, int lda,
                 const float *B, int ldb, float beta, float *C, int ldc)
{
	strassen_call(&strassen_f32, order, transa, transb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}

void trart_dgemm(int order, int transa, int transb, int m, int n, int k, double alpha, const double *A, int lda,
                 const double *B, int ldb, double beta, double *C, int ldc)
{
	strassen_call(&strassen_f64, order, transa, transb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}
