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
	/* optimal string alignment: insertions, deletions, substitutions and
	 * transpositions of neighbours ("btach" is one edit from "batch") */
	size_t na = strlen(a), nb = strlen(b), w = nb + 1;
	size_t *d = xmalloc((na + 1) * w * sizeof *d);
	for (size_t i = 0; i <= na; i++)
		for (size_t j = 0; j <= nb; j++) {
			if (i == 0 || j == 0) {
				d[i * w + j] = i + j;
				continue;
			}
			size_t best = d[(i - 1) * w + j - 1] + (a[i - 1] != b[j - 1]);
			if (d[(i - 1) * w + j] + 1 < best)
				best = d[(i - 1) * w + j] + 1;
			if (d[i * w + j - 1] + 1 < best)
				best = d[i * w + j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[(i - 2) * w + j - 2] + 1 < best)
				best = d[(i - 2) * w + j - 2] + 1;
			d[i * w + j] = best;
		}
	size_t r = d[na * w + nb];
	free(d);
	return r;
}

const char *util_suggest(const char *word, const char *const *candidates, int n)
{
	size_t limit = (strlen(word) + 1) / 3;
	const char *best = NULL;
	size_t best_d = limit + 1;
	for (int i = 0; i < n; i++) {
		if (strcmp(word, candidates[i]) == 0)
			continue;
		/* a difference of case alone always qualifies */
		size_t d = strcasecmp(word, candidates[i]) == 0 ? 0 : util_edit_distance(word, candidates[i]);
		if (d <= limit && d < best_d) {
			best = candidates[i];
			best_d = d;
		}
	}
	return best;
}

void id_heap_push(IdHeap *h, int id)
{
	if (h->n == h->cap)
		h->id = xrealloc(h->id, (size_t)(h->cap = h->cap ? 2 * h->cap : 16) * sizeof *h->id);
	int i = h->n++;
	while (i > 0 && h->before(h->ctx, id, h->id[(i - 1) / 2])) {
		h->id[i] = h->id[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h->id[i] = id;
}

int id_heap_pop(IdHeap *h)
{
	int top = h->id[0], last = h->id[--h->n], i = 0;
	for (;;) {
		int c = 2 * i + 1;
		if (c >= h->n)
			break;
		if (c + 1 < h->n && h->before(h->ctx, h->id[c + 1], h->id[c]))
			c++;
		if (!h->before(h->ctx, h->id[c], last))
			break;
		h->id[i] = h->id[c];
		i = c;
	}
	if (h->n)
		h->id[i] = last;
	return top;
}

void id_heap_free(IdHeap *h)
{
	free(h->id);
	h->id = NULL;
	h->n = h->cap = 0;
}
