/* diag.c: printing diagnostics (see diag.h).
 *
 * The caret line copies the tabs of the source line before the range so
 * the marks stay aligned however the terminal expands tabs. A range that
 * runs past the end of its first line is underlined to the end of that
 * line. Notes after an error that was suppressed by max_errors are
 * suppressed too.
 */
#include "diag.h"

#include <stdarg.h>
#include <string.h>

void diag_init(Diag *d, const Source *src, FILE *out)
{
	memset(d, 0, sizeof *d);
	d->src = src;
	d->out = out;
	d->max_errors = 50;
}

void diag_line_col(const Source *src, uint32_t offset, int *line, int *col)
{
	int l = 1;
	uint32_t start = 0;
	if (offset > src->len)
		offset = (uint32_t)src->len;
	for (uint32_t i = 0; i < offset; i++)
		if (src->text[i] == '\n') {
			l++;
			start = i + 1;
		}
	*line = l;
	*col = (int)(offset - start) + 1;
}

/* Prints the source line holding span.lo and a caret line under span. */
static void diag_show_range(const Diag *d, Span span)
{
	const char *text = d->src->text;
	uint32_t len = (uint32_t)d->src->len;
	uint32_t lo = span.lo > len ? len : span.lo;
	uint32_t start = lo, end = lo;
	while (start > 0 && text[start - 1] != '\n')
		start--;
	while (end < len && text[end] != '\n')
		end++;
	if (end > start && text[end - 1] == '\r')
		end--; /* a CRLF line */
	fprintf(d->out, "%.*s\n", (int)(end - start), text + start);
	for (uint32_t i = start; i < lo; i++)
		fputc(text[i] == '\t' ? '\t' : ' ', d->out);
	fputc('^', d->out);
	uint32_t hi = span.hi > end ? end : span.hi;
	for (uint32_t i = lo + 1; i < hi; i++)
		fputc('~', d->out);
	fputc('\n', d->out);
}

static void diag_vreport(Diag *d, Span at, const char *kind, const char *fmt, va_list ap)
{
	int line, col;
	diag_line_col(d->src, at.lo, &line, &col);
	fprintf(d->out, "%s:%d:%d: %s: ", d->src->path, line, col, kind);
	vfprintf(d->out, fmt, ap);
	fputc('\n', d->out);
	diag_show_range(d, at);
}

/* Whether the current error and its notes are past the printing limit. */
static int diag_suppressed(const Diag *d)
{
	return d->max_errors > 0 && d->nerrors > d->max_errors;
}

void diag_error(Diag *d, Span at, const char *fmt, ...)
{
	d->nerrors++;
	if (diag_suppressed(d))
		return;
	va_list ap;
	va_start(ap, fmt);
	diag_vreport(d, at, "error", fmt, ap);
	va_end(ap);
	if (d->max_errors > 0 && d->nerrors == d->max_errors)
		fprintf(d->out, "%s: note: too many errors; stopping after %d\n",
		        d->src->path, d->max_errors);
}

void diag_warning(Diag *d, Span at, const char *fmt, ...)
{
	d->nwarnings++;
	if (diag_suppressed(d))
		return;
	va_list ap;
	va_start(ap, fmt);
	diag_vreport(d, at, "warning", fmt, ap);
	va_end(ap);
}

void diag_note(Diag *d, Span at, const char *fmt, ...)
{
	if (diag_suppressed(d))
		return;
	va_list ap;
	va_start(ap, fmt);
	diag_vreport(d, at, "note", fmt, ap);
	va_end(ap);
}

void diag_error_noloc(Diag *d, const char *fmt, ...)
{
	d->nerrors++;
	va_list ap;
	va_start(ap, fmt);
	fprintf(d->out, "trac: error: ");
	vfprintf(d->out, fmt, ap);
	fputc('\n', d->out);
	va_end(ap);
}
