/* util.c: checked allocation and fatal errors (see util.h). */
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static _Noreturn void util_out_of_memory(size_t n)
{
	fprintf(stderr, "trac: fatal error: out of memory (allocating %zu bytes)\n", n);
	exit(TRAC_EXIT_ERROR);
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		util_out_of_memory(n);
	return p;
}

void *xcalloc(size_t n, size_t m)
{
	void *p = calloc(n ? n : 1, m ? m : 1);
	if (!p)
		util_out_of_memory(n * m);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		util_out_of_memory(n);
	return q;
}

void trac_fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("trac: fatal error: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(TRAC_EXIT_ERROR);
}

void trac_internal_error(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "trac: internal error at %s:%d: ", file, line);
	vfprintf(stderr, fmt, ap);
	fputs("\n(this is a bug in trac; please report it with the program)\n", stderr);
	va_end(ap);
	abort();
}

size_t util_edit_distance(const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);
	size_t *row = xmalloc((nb + 1) * sizeof *row);
	for (size_t j = 0; j <= nb; j++)
		row[j] = j;
	for (size_t i = 1; i <= na; i++) {
		size_t diag = row[0]; /* row[i-1][j-1] */
		row[0] = i;
		for (size_t j = 1; j <= nb; j++) {
			size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			diag = up;
			row[j] = best;
		}
	}
	size_t d = row[nb];
	free(row);
	return d;
}

const char *util_suggest(const char *word, const char *const *candidates, int n)
{
	size_t limit = strlen(word) / 3 > 1 ? strlen(word) / 3 : 1;
	const char *best = NULL;
	size_t best_d = limit + 1;
	for (int i = 0; i < n; i++) {
		if (strcmp(word, candidates[i]) == 0)
			continue;
		/* a difference of case alone counts as one edit */
		size_t d = strcasecmp(word, candidates[i]) == 0 ? 1 : util_edit_distance(word, candidates[i]);
		if (d < best_d) {
			best = candidates[i];
			best_d = d;
		}
	}
	return best;
}
