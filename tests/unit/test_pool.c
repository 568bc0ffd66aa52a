/* test_pool.c: Check tests for the runtime's block pool (runtime/pool.c).
 *
 * What generated programs and the executor rely on: every buffer is
 * 64-byte aligned and holds the bytes asked for; a freed buffer is
 * handed out again for a request of its class (and only of its class);
 * the accounting rises by a buffer's class size while it is live and
 * falls back when it is freed, with the peak kept; buffers allocated and
 * freed by many threads at once keep their contents to themselves. The
 * class sizes are checked through reuse: a request reuses a freed buffer
 * exactly when the two round up to the same class (four per power of
 * two above 64 bytes).
 *
 * Linked statically with libtrart, for the internal accounting calls of
 * exec.h. Each test runs in its own process (Check's fork mode), so the
 * pool starts empty in each.
 */
#define _POSIX_C_SOURCE 200809L

#include "trart.h"
#include "exec.h"

#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The class size the pool documents for a request of n bytes. */
static size_t class_size(size_t n)
{
	size_t top = 64;

	if (n <= 64)
		return 64;
	while (top < n)
		top *= 2;
	/* (top/2, top] in quarters of top/2 */
	size_t step = top / 8;
	return (n + step - 1) / step * step;
}

START_TEST(aligned_and_writable)
{
	static const size_t sizes[] = {0, 1, 63, 64, 65, 100, 4096, 5000, 1 << 20};
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		unsigned char *p = trart_pool_alloc(sizes[i]);
		ck_assert_ptr_nonnull(p);
		ck_assert_uint_eq((uintptr_t)p % 64, 0);
		memset(p, 0x5a, sizes[i]);
		trart_pool_free(p);
	}
	trart_pool_free(NULL); /* nothing */
	trart_pool_trim();
}
END_TEST

START_TEST(reuse_within_class_only)
{
	/* pairs (a, b): b reuses a's freed buffer iff their classes agree */
	static const size_t pairs[][2] = {
		{1, 64}, {64, 65}, {65, 80}, {80, 81}, {81, 96}, {128, 129},
		{129, 160}, {160, 161}, {4097, 5120}, {5120, 5121}, {1000, 1024},
	};
	for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
		size_t a = pairs[i][0], b = pairs[i][1];
		void *p = trart_pool_alloc(a);
		trart_pool_free(p);
		void *q = trart_pool_alloc(b);
		if (class_size(a) == class_size(b))
			ck_assert_msg(q == p, "%zu and %zu share a class: reused", a, b);
		else
			ck_assert_msg(q != p, "%zu and %zu differ in class: not reused", a, b);
		trart_pool_free(q);
		trart_pool_trim();
	}
}
END_TEST

START_TEST(accounting)
{
	double live = trart_mem_live(), peak = trart_mem_peak();
	void *a = trart_pool_alloc(100);   /* class 112 */
	void *b = trart_pool_alloc(3000);  /* class 3072 */
	ck_assert(trart_mem_live() == live + 112 + 3072);
	ck_assert(trart_mem_peak() >= live + 112 + 3072 && trart_mem_peak() >= peak);
	trart_pool_free(a);
	ck_assert(trart_mem_live() == live + 3072);
	trart_pool_free(b);
	ck_assert(trart_mem_live() == live);
	ck_assert(trart_mem_peak() >= live + 112 + 3072); /* the peak stays */
	/* outside a task graph no worker is charged */
	ck_assert(trart_mem_worker_peak(0) == 0);
	trart_mem_account(1000);
	ck_assert(trart_mem_live() == live + 1000);
	trart_mem_account(-1000);
	ck_assert(trart_mem_live() == live);
	trart_pool_trim();
}
END_TEST

/* Many threads allocating, filling, checking and freeing at once. */
static void *churn(void *arg)
{
	uintptr_t id = (uintptr_t)arg;
	unsigned char *held[16] = {0};
	size_t sizes[16] = {0};
	uint64_t r = 0x9e3779b97f4a7c15ull * (id + 1);
	long bad = 0;

	for (int i = 0; i < 20000; i++) {
		r ^= r << 13, r ^= r >> 7, r ^= r << 17;
		int s = (int)(r % 16);
		if (held[s]) {
			for (size_t k = 0; k < sizes[s]; k++)
				bad += held[s][k] != (unsigned char)(id + s);
			trart_pool_free(held[s]);
			held[s] = NULL;
		} else {
			sizes[s] = 1 + (size_t)(r >> 20) % 2000;
			held[s] = trart_pool_alloc(sizes[s]);
			memset(held[s], (int)(id + s), sizes[s]);
		}
	}
	for (int s = 0; s < 16; s++)
		trart_pool_free(held[s]);
	return (void *)bad;
}

START_TEST(threads)
{
	pthread_t t[8];
	double live = trart_mem_live();
	for (uintptr_t i = 0; i < 8; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, churn, (void *)i), 0);
	for (int i = 0; i < 8; i++) {
		void *bad;
		pthread_join(t[i], &bad);
		ck_assert_ptr_null(bad);
	}
	ck_assert(trart_mem_live() == live);
	trart_pool_trim();
}
END_TEST

static Suite *pool_suite(void)
{
	Suite *s = suite_create("pool");
	TCase *tc = tcase_create("pool");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, aligned_and_writable);
	tcase_add_test(tc, reuse_within_class_only);
	tcase_add_test(tc, accounting);
	tcase_add_test(tc, threads);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(pool_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
