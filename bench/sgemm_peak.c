/* sgemm_peak.c: the machine's practical f32 matrix-multiply peak.
 *
 * Times cblas_sgemm (OpenBLAS) on C = A B with square N x N matrices
 * (N = 4096 by default): one warm-up call, then RUNS timed calls, and
 * prints one line
 *
 *   sgemm_peak: n=4096 runs=5 threads=2 core=Haswell best_ms=... median_ms=... gflops=... gflops_median=...
 *
 * where gflops = 2 N^3 / best time. The thread count is OpenBLAS's own:
 * set OPENBLAS_NUM_THREADS before running it (bench.py does). core= is the
 * kernel set OpenBLAS picked, which OPENBLAS_CORETYPE overrides (see
 * bench/README for why that matters).
 *
 * usage: sgemm_peak [N [RUNS]]
 */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "peak.h"

/* OpenBLAS extras, weak so that the program also links with another CBLAS */
int openblas_get_num_threads(void);
char *openblas_get_corename(void);
#pragma weak openblas_get_num_threads
#pragma weak openblas_get_corename

static float *alloc_fill(size_t count, unsigned long long seed)
{
	float *p = NULL;
	if (posix_memalign((void **)&p, 64, count * sizeof *p) != 0)
		return NULL;
	for (size_t i = 0; i < count; i++) {
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		p[i] = (float)((seed >> 40) * 0x1p-23 - 1.0); /* [-1, 1) */
	}
	return p;
}

#define SGEMM_PEAK_USAGE "sgemm_peak [N [RUNS]]"

int main(int argc, char **argv)
{
	if (argc > 3) {
		fprintf(stderr, "usage: %s\n", SGEMM_PEAK_USAGE);
		return 2;
	}
	int n = argc > 1 ? (int)peak_arg("sgemm_peak", SGEMM_PEAK_USAGE, argv[1], "N", 65536) : 4096;
	int runs = argc > 2 ? (int)peak_arg("sgemm_peak", SGEMM_PEAK_USAGE, argv[2], "RUNS", 65536) : 5;
	size_t nn = (size_t)n * (size_t)n;
	float *a = alloc_fill(nn, 1), *b = alloc_fill(nn, 2), *c = alloc_fill(nn, 3);
	double *ms = malloc((size_t)runs * sizeof *ms);
	if (!a || !b || !c || !ms) {
		fprintf(stderr, "sgemm_peak: out of memory for n=%d\n", n);
		return 1;
	}

	/* warm-up: starts OpenBLAS's threads and faults the pages in */
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n,
		    1.0f, a, n, b, n, 0.0f, c, n);
	for (int r = 0; r < runs; r++) {
		double t0 = now_ms();
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n,
			    1.0f, a, n, b, n, 0.0f, c, n);
		ms[r] = now_ms() - t0;
	}
	double median = sorted_median(ms, runs);
	double best = ms[0];
	double flop = 2.0 * n * (double)n * n;
	/* a use of c, so that no compiler drops the calls */
	volatile float sink = c[nn / 2];
	(void)sink;

	printf("sgemm_peak: n=%d runs=%d threads=%d core=%s best_ms=%.3f median_ms=%.3f "
	       "gflops=%.1f gflops_median=%.1f\n",
	       n, runs, openblas_get_num_threads ? openblas_get_num_threads() : -1,
	       openblas_get_corename ? openblas_get_corename() : "unknown",
	       best, median, flop / best * 1e-6, flop / median * 1e-6);
	free(a);
	free(b);
	free(c);
	free(ms);
	return 0;
}
