/* mem_peak.c: the machine's practical memory read bandwidth.
 *
 * THREADS threads each sum their share of one MIB-MiB buffer, as 64-bit
 * integers (an integer sum vectorises without reassociating anything, so
 * the loop runs at the speed memory delivers it). The buffer is written
 * first, so its pages are in place; then one warm-up pass, then RUNS
 * timed passes, and one line
 *
 *   mem_peak: mib=1024 runs=5 threads=2 best_ms=... median_ms=... gbs=... gbs_median=...
 *
 * where gbs = bytes / best time, in 1e9 bytes per second. It is the
 * limit of a workload that must read its inputs from memory: bench.py
 * sets a memory-bound workload's least traffic against it.
 *
 * usage: mem_peak [MIB [RUNS [THREADS]]]
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "peak.h"

#define MEM_PEAK_MAX_THREADS 256

/* One thread's share: [begin, end) of the buffer, and its sum (kept, so
 * that the compiler cannot drop the loop). */
typedef struct Share {
	const uint64_t *begin, *end;
	uint64_t sum;
} Share;

static void *sum_share(void *arg)
{
	Share *s = arg;
	uint64_t sum = 0;
	for (const uint64_t *p = s->begin; p < s->end; p++)
		sum += *p;
	s->sum = sum;
	return NULL;
}

/* One pass over the buffer on every thread; its milliseconds. */
static double pass(Share *shares, pthread_t *tids, int threads)
{
	double t0 = now_ms();
	for (int i = 1; i < threads; i++)
		if (pthread_create(&tids[i], NULL, sum_share, &shares[i]) != 0) {
			fprintf(stderr, "mem_peak: cannot start a thread\n");
			exit(1);
		}
	sum_share(&shares[0]);
	for (int i = 1; i < threads; i++)
		pthread_join(tids[i], NULL);
	return now_ms() - t0;
}

#define MEM_PEAK_USAGE "mem_peak [MIB [RUNS [THREADS]]]"

int main(int argc, char **argv)
{
	if (argc > 4) {
		fprintf(stderr, "usage: %s\n", MEM_PEAK_USAGE);
		return 2;
	}
	long mib = argc > 1 ? peak_arg("mem_peak", MEM_PEAK_USAGE, argv[1], "MIB", 1 << 20) : 1024;
	int runs = argc > 2 ? (int)peak_arg("mem_peak", MEM_PEAK_USAGE, argv[2], "RUNS", 1000) : 5;
	int threads = argc > 3 ? (int)peak_arg("mem_peak", MEM_PEAK_USAGE, argv[3], "THREADS", MEM_PEAK_MAX_THREADS) : 1;
	size_t words = (size_t)mib * 1024 * 1024 / sizeof(uint64_t);
	uint64_t *buf = NULL;
	double *ms = malloc((size_t)runs * sizeof *ms);
	Share shares[MEM_PEAK_MAX_THREADS];
	pthread_t tids[MEM_PEAK_MAX_THREADS];
	if (posix_memalign((void **)&buf, 64, words * sizeof *buf) != 0 || !ms) {
		fprintf(stderr, "mem_peak: out of memory for %ld MiB\n", mib);
		return 1;
	}
	for (size_t i = 0; i < words; i++)
		buf[i] = i * 0x9e3779b97f4a7c15ULL;
	for (int i = 0; i < threads; i++)
		shares[i] = (Share){buf + words * (size_t)i / (size_t)threads,
		                    buf + words * (size_t)(i + 1) / (size_t)threads, 0};
	pass(shares, tids, threads); /* warm-up */
	for (int r = 0; r < runs; r++)
		ms[r] = pass(shares, tids, threads);
	uint64_t check = 0;
	for (int i = 0; i < threads; i++)
		check += shares[i].sum;
	double median = sorted_median(ms, runs);
	double bytes = (double)words * sizeof *buf;
	printf("mem_peak: mib=%ld runs=%d threads=%d best_ms=%.3f median_ms=%.3f gbs=%.2f "
	       "gbs_median=%.2f check=%llx\n", mib, runs, threads, ms[0], median, bytes / ms[0] / 1e6,
	       bytes / median / 1e6, (unsigned long long)check);
	free(buf);
	free(ms);
	return 0;
}
