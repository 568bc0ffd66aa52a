/* util.c: checked allocation and fatal errors (see util.h). */
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

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
