/* peak.h: what the programs that measure the machine's peaks
 * (sgemm_peak.c, mem_peak.c) share: their clock, median and arguments. */
#ifndef TRAC_BENCH_PEAK_H
#define TRAC_BENCH_PEAK_H

#include <stdio.h>
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

/* The positive count s (what names it, at most max), or exit status 2
 * after a message naming prog and its usage. */
static long peak_arg(const char *prog, const char *usage, const char *s, const char *what, long max)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v < 1 || v > max) {
		fprintf(stderr, "%s: bad %s '%s'\nusage: %s\n", prog, what, s, usage);
		exit(2);
	}
	return v;
}

#endif
