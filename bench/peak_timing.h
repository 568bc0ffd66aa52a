/* peak_timing.h: the clock and the order statistics that the machine's
 * peak measurements (sgemm_peak.c, mem_peak.c) share. */
#ifndef TRAC_BENCH_PEAK_TIMING_H
#define TRAC_BENCH_PEAK_TIMING_H

#include <stdlib.h>
#include <time.h>

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Sorts the n > 0 times ms and returns their median. */
static double sorted_median(double *ms, int n)
{
	qsort(ms, (size_t)n, sizeof *ms, cmp_double);
	return n % 2 ? ms[n / 2] : 0.5 * (ms[n / 2 - 1] + ms[n / 2]);
}

#endif
