/* util.h: process-level helpers shared by every compiler module:
 * checked allocation, fatal and internal errors, the named exit codes. */
#ifndef TRAC_UTIL_H
#define TRAC_UTIL_H

#include <stdbool.h>
#include <stddef.h>

/* Exit statuses of trac, documented in trac(1). */
enum {
	TRAC_EXIT_OK = 0,    /* success */
	TRAC_EXIT_ERROR = 1, /* errors in the program, its inputs, or I/O */
	TRAC_EXIT_USAGE = 2, /* a bad command line */
	TRAC_EXIT_INTERNAL = 3, /* the C compiler failed on generated code: a trac bug */
};

void *xmalloc(size_t n);           /* malloc or die cleanly */
void *xcalloc(size_t n, size_t m); /* calloc or die cleanly */
void *xrealloc(void *p, size_t n); /* realloc or die cleanly */

/* Prints "trac: fatal error: ..." and exits with TRAC_EXIT_ERROR. */
_Noreturn void trac_fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/* A bug in trac: prints "trac: internal error at FILE:LINE: ..." and aborts. */
_Noreturn void trac_internal_error(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Edit distance between two strings (bytes; case matters): insertions,
 * deletions, substitutions and swaps of neighbours each count one. */
size_t util_edit_distance(const char *a, const char *b);

/* The candidate closest to word for a "did you mean" hint, or NULL when
 * none is close: at most (length + 1) / 3 edits away (none for a
 * one-letter word, one for "W2" -> "W1"), or equal but for case. Ties go
 * to the earlier candidate. */
const char *util_suggest(const char *word, const char *const *candidates, int n);

/* A binary heap of ids (tasks, nodes) in the caller's order: before(ctx,
 * a, b) says whether a comes out before b, and must not change while
 * either is in the heap. Zero-initialise, then set before and ctx. */
typedef struct IdHeap {
	int *id;      /* id[0] is the first */
	int n, cap;
	bool (*before)(const void *ctx, int a, int b);
	const void *ctx;
} IdHeap;

void id_heap_push(IdHeap *h, int id);
int id_heap_pop(IdHeap *h); /* the first id, removed; h is not empty */
void id_heap_free(IdHeap *h);

#define TRAC_BUG(...) trac_internal_error(__FILE__, __LINE__, __VA_ARGS__)
#define TRAC_ASSERT(cond)                                                     \
	do {                                                                  \
		if (!(cond))                                                  \
			TRAC_BUG("assertion failed: %s", #cond);              \
	} while (0)

#endif /* TRAC_UTIL_H */
