/* test_util.c: the compiler's shared helpers (compiler/util.c): edit
 * distance and the "did you mean" choice built on it, and the id heap. */
#include "tra.h"

#include <check.h>
#include <stdlib.h>

START_TEST(edit_distance_basics)
{
	ck_assert_uint_eq(util_edit_distance("", ""), 0);
	ck_assert_uint_eq(util_edit_distance("abc", ""), 3);
	ck_assert_uint_eq(util_edit_distance("", "ab"), 2);
	ck_assert_uint_eq(util_edit_distance("kitten", "sitting"), 3);
	ck_assert_uint_eq(util_edit_distance("flaw", "lawn"), 2);
	ck_assert_uint_eq(util_edit_distance("W1", "W2"), 1);
	ck_assert_uint_eq(util_edit_distance("sigmoid", "sigmiod"), 1);
	ck_assert_uint_eq(util_edit_distance("btach", "batch"), 1);
	ck_assert_uint_eq(util_edit_distance("ca", "abc"), 3);
}
END_TEST

START_TEST(suggest_closest_or_none)
{
	const char *const names[] = {"N", "D", "H", "batch", "hidden", "sigmoid"};
	ck_assert_str_eq(util_suggest("n", names, 6), "N");       /* case only */
	ck_assert_str_eq(util_suggest("btach", names, 6), "batch");
	ck_assert_str_eq(util_suggest("hiden", names, 6), "hidden");
	ck_assert_str_eq(util_suggest("sigmod", names, 6), "sigmoid");
	ck_assert_ptr_null(util_suggest("zzzzzz", names, 6));
	ck_assert_ptr_null(util_suggest("N", names, 6));          /* itself is no hint */
	ck_assert_ptr_null(util_suggest("relu", names, 6));
	const char *const weights[] = {"W1", "b1"};
	ck_assert_str_eq(util_suggest("W2", weights, 2), "W1");
	ck_assert_ptr_null(util_suggest("Q", weights, 2));
	ck_assert_ptr_null(util_suggest("x", names, 0));
}
END_TEST

/* Ids by a key, ties the lower id, as the simulators order them. */
static bool key_before(const void *ctx, int a, int b)
{
	const int *key = ctx;
	return key[a] < key[b] || (key[a] == key[b] && a < b);
}

START_TEST(id_heap_order)
{
	enum { N = 1000 };
	static int key[N];
	unsigned st = 12345;
	IdHeap h = {.before = key_before, .ctx = key};
	for (int round = 0; round < 3; round++) {
		/* pushes interleaved with pops, as a run releases and starts tasks */
		int last = -1, out = 0;
		for (int i = 0; i < N; i++) {
			st = st * 1103515245u + 12345u;
			key[i] = (int)(st >> 16) % 50; /* many ties */
			id_heap_push(&h, i);
			if (i % 3 == 2)
				id_heap_pop(&h);
		}
		ck_assert_int_eq(h.n, N - N / 3);
		while (h.n) {
			int x = id_heap_pop(&h);
			ck_assert(last < 0 || key_before(key, last, x));
			last = x;
			out++;
		}
		ck_assert_int_eq(out, N - N / 3);
	}
	id_heap_free(&h);
	ck_assert_ptr_null(h.id);
}
END_TEST

static Suite *util_suite(void)
{
	Suite *s = suite_create("util");
	TCase *tc = tcase_create("suggest");
	tcase_add_test(tc, edit_distance_basics);
	tcase_add_test(tc, suggest_closest_or_none);
	tcase_add_test(tc, id_heap_order);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(util_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
