/* diag.c: printing diagnostics (see diag.h).
 *
 * The caret line copies the tabs of the source line before the range so
 * the marks stay aligned however the terminal expands tabs. A range that
 * runs past the end of its first line is underlined to the end of that
 * line. Notes after an error that was suppressed by max_errors are
 * suppressed too.
 *
 * The source line is printed one character at a time: what a terminal
 * would swallow or garble (control characters, bytes that are not UTF-8,
 * zero-width and bidirectional characters, spaces that are not ASCII)
 * is shown as an escape such as \x01 or <U+200B>, and the caret line
 * advances by the escape's width, so the marks stay under their text and
 * a user can see the character that the message is about.
 */
#include "diag.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>

void diag_init(Diag *d, const Source *src, FILE *out)
{
	memset(d, 0, sizeof *d);
	d->src = src;
	d->out = out;
	d->max_errors = 50;
}

/* ---- characters ------------------------------------------------------------ */

uint32_t diag_bom_len(const Source *src)
{
	return src->len >= 3 && memcmp(src->text, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
}

/* Whether a line ends at byte i: an LF, or a CR that does not start a
 * CRLF (whose LF ends the line; its CR is the last byte of the line). */
static bool diag_line_break(const Source *src, uint32_t i)
{
	char c = src->text[i];
	return c == '\n' || (c == '\r' && (i + 1 >= src->len || src->text[i + 1] != '\n'));
}

uint32_t diag_text_end(const Source *src)
{
	uint32_t end = (uint32_t)src->len;
	if (end > 0 && src->text[end - 1] == '\n')
		end--;
	else if (end > 0 && src->text[end - 1] == '\r')
		return end - 1;
	if (end > 0 && src->text[end - 1] == '\r')
		end--; /* CRLF */
	return end;
}

/* A byte that is not UTF-8 and the continuation bytes after it: one run,
 * reported once. */
static int diag_bad_run(const unsigned char *u, size_t n)
{
	int k = 1;
	while (k < 4 && (size_t)k < n && (u[k] & 0xC0) == 0x80)
		k++;
	return k;
}

int diag_utf8(const char *s, size_t n, uint32_t *cp)
{
	static const uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000}; /* else overlong */
	const unsigned char *u = (const unsigned char *)s;
	int len;
	if (u[0] < 0x80) {
		*cp = u[0];
		return 1;
	}
	if (u[0] >= 0xC2 && u[0] <= 0xDF)
		len = 2;
	else if (u[0] >= 0xE0 && u[0] <= 0xEF)
		len = 3;
	else if (u[0] >= 0xF0 && u[0] <= 0xF4)
		len = 4;
	else
		return -diag_bad_run(u, n);
	*cp = u[0] & (0x7Fu >> len);
	int i = 1;
	for (; i < len && (size_t)i < n && (u[i] & 0xC0) == 0x80; i++)
		*cp = *cp << 6 | (u[i] & 0x3F);
	/* truncated, overlong, a surrogate or past U+10FFFF */
	if (i < len || *cp < least[len] || *cp > 0x10FFFF || (*cp >= 0xD800 && *cp <= 0xDFFF))
		return -i;
	return len;
}

/* Characters that show as nothing, or as a plain space, in most fonts:
 * a program that holds one looks right and fails, so each is named. */
static const struct {
	uint32_t lo, hi;
	const char *name;
	bool space; /* looks like an ASCII space */
} diag_invisibles[] = {
	{0x00A0, 0x00A0, "no-break space", true},
	{0x00AD, 0x00AD, "soft hyphen", false},
	{0x034F, 0x034F, "combining grapheme joiner", false},
	{0x061C, 0x061C, "arabic letter mark", false},
	{0x115F, 0x1160, "hangul filler", false},
	{0x1680, 0x1680, "ogham space mark", true},
	{0x180E, 0x180E, "mongolian vowel separator", false},
	{0x2000, 0x2000, "en quad", true},
	{0x2001, 0x2001, "em quad", true},
	{0x2002, 0x2002, "en space", true},
	{0x2003, 0x2003, "em space", true},
	{0x2004, 0x2004, "three-per-em space", true},
	{0x2005, 0x2005, "four-per-em space", true},
	{0x2006, 0x2006, "six-per-em space", true},
	{0x2007, 0x2007, "figure space", true},
	{0x2008, 0x2008, "punctuation space", true},
	{0x2009, 0x2009, "thin space", true},
	{0x200A, 0x200A, "hair space", true},
	{0x200B, 0x200B, "zero width space", false},
	{0x200C, 0x200C, "zero width non-joiner", false},
	{0x200D, 0x200D, "zero width joiner", false},
	{0x200E, 0x200E, "left-to-right mark", false},
	{0x200F, 0x200F, "right-to-left mark", false},
	{0x2028, 0x2028, "line separator", false},
	{0x2029, 0x2029, "paragraph separator", false},
	{0x202A, 0x202A, "left-to-right embedding", false},
	{0x202B, 0x202B, "right-to-left embedding", false},
	{0x202C, 0x202C, "pop directional formatting", false},
	{0x202D, 0x202D, "left-to-right override", false},
	{0x202E, 0x202E, "right-to-left override", false},
	{0x202F, 0x202F, "narrow no-break space", true},
	{0x205F, 0x205F, "medium mathematical space", true},
	{0x2060, 0x2060, "word joiner", false},
	{0x2061, 0x2061, "function application", false},
	{0x2062, 0x2062, "invisible times", false},
	{0x2063, 0x2063, "invisible separator", false},
	{0x2064, 0x2064, "invisible plus", false},
	{0x2066, 0x2066, "left-to-right isolate", false},
	{0x2067, 0x2067, "right-to-left isolate", false},
	{0x2068, 0x2068, "first strong isolate", false},
	{0x2069, 0x2069, "pop directional isolate", false},
	{0x206A, 0x206F, "deprecated format character", false},
	{0x3000, 0x3000, "ideographic space", true},
	{0x3164, 0x3164, "hangul filler", false},
	{0xFE00, 0xFE0F, "variation selector", false},
	{0xFEFF, 0xFEFF, "zero width no-break space", false},
	{0xFFA0, 0xFFA0, "halfwidth hangul filler", false},
	{0xFFF9, 0xFFFB, "interlinear annotation character", false},
	{0xE0000, 0xE007F, "tag character", false},
	{0xE0100, 0xE01EF, "variation selector", false},
};

const char *diag_invisible_name(uint32_t cp, int *space)
{
	for (size_t i = 0; i < sizeof diag_invisibles / sizeof diag_invisibles[0]; i++)
		if (cp >= diag_invisibles[i].lo && cp <= diag_invisibles[i].hi) {
			*space = diag_invisibles[i].space;
			return diag_invisibles[i].name;
		}
	return NULL;
}

void diag_escape_bytes(const char *s, size_t n, char *out, size_t size)
{
	size_t o = 0;
	out[0] = '\0';
	for (size_t i = 0; i < n && o + 5 <= size; i++, o += 4)
		snprintf(out + o, size - o, "\\x%02X", (unsigned char)s[i]);
}

/* How the character at s (n >= 1 bytes before the line's end) shows in
 * the source line under a message: writes that to out and returns the
 * bytes it covers, with the columns it takes in *width (-1 for a tab,
 * which the caret line copies). */
static int diag_glyph(const char *s, size_t n, char out[32], int *width)
{
	uint32_t cp;
	int space, len = diag_utf8(s, n, &cp);
	if (len < 0) {
		len = -len;
		diag_escape_bytes(s, (size_t)len, out, 32);
	} else if (cp == '\t') {
		strcpy(out, "\t");
		*width = -1;
		return 1;
	} else if (cp < 0x20 || cp == 0x7F)
		diag_escape_bytes(s, 1, out, 32);
	else if ((cp >= 0x80 && cp < 0xA0) || diag_invisible_name(cp, &space))
		snprintf(out, 32, "<U+%04" PRIX32 ">", cp);
	else {
		memcpy(out, s, (size_t)len);
		out[len] = '\0';
		*width = 1;
		return len;
	}
	*width = (int)strlen(out);
	return len;
}

/* Characters in s[0..n): a bad byte counts as one, like a character. */
static int diag_count_chars(const char *s, uint32_t n)
{
	int count = 0;
	for (uint32_t i = 0; i < n; count++) {
		uint32_t cp;
		int len = diag_utf8(s + i, n - i, &cp);
		i += len > 0 ? (uint32_t)len : 1;
	}
	return count;
}

void diag_line_col(const Source *src, uint32_t offset, int *line, int *col)
{
	int l = 1;
	uint32_t start = diag_bom_len(src);
	if (offset > src->len)
		offset = (uint32_t)src->len;
	if (start > offset)
		start = offset;
	for (uint32_t i = start; i < offset; i++)
		if (diag_line_break(src, i)) {
			l++;
			start = i + 1;
		}
	*line = l;
	*col = diag_count_chars(src->text + start, offset - start) + 1;
}

void diag_cursor_init(DiagCursor *c, const Source *src)
{
	*c = (DiagCursor){diag_bom_len(src), 1, 1};
}

/* Steps c over the character at its offset, unless it would pass
 * offset (a character cut by it); false then. */
static bool diag_cursor_step(DiagCursor *c, const Source *src, uint32_t offset)
{
	if (diag_line_break(src, c->offset)) {
		c->offset++;
		c->line++;
		c->col = 1;
		return true;
	}
	uint32_t cp;
	int len = diag_utf8(src->text + c->offset, src->len - c->offset, &cp);
	uint32_t step = len > 0 ? (uint32_t)len : 1; /* as diag_count_chars counts */
	if (c->offset + step > offset)
		return false;
	c->offset += step;
	c->col++;
	return true;
}

void diag_cursor_line_col(DiagCursor *c, const Source *src, uint32_t offset, int *line, int *col)
{
	if (offset > src->len)
		offset = (uint32_t)src->len;
	while (offset >= c->offset && c->offset < offset)
		if (!diag_cursor_step(c, src, offset))
			break;
	if (c->offset != offset) { /* behind it, or inside a character: count afresh */
		diag_line_col(src, offset, line, col);
		return;
	}
	*line = c->line;
	*col = c->col;
}

/* ---- printing ---------------------------------------------------------------- */

/* The source line text[start..end), escaped as diag_glyph shows it. */
static void diag_print_line(FILE *out, const char *text, uint32_t start, uint32_t end)
{
	char g[32];
	int w;
	for (uint32_t i = start; i < end;) {
		i += (uint32_t)diag_glyph(text + i, end - i, g, &w);
		fputs(g, out);
	}
	fputc('\n', out);
}

/* The caret line: blanks up to lo, then ^~~~ under [lo, hi). */
static void diag_print_caret(FILE *out, const char *text, uint32_t start, uint32_t end,
                             uint32_t lo, uint32_t hi)
{
	char g[32];
	int w;
	uint32_t i = start;
	while (i < lo && i < end) {
		i += (uint32_t)diag_glyph(text + i, end - i, g, &w);
		for (int k = 0; k < (w < 0 ? 1 : w); k++)
			fputc(w < 0 ? '\t' : ' ', out);
	}
	fputc('^', out);
	for (bool first = true; i < hi; first = false) {
		i += (uint32_t)diag_glyph(text + i, end - i, g, &w);
		for (int k = first; k < (w < 1 ? 1 : w); k++)
			fputc('~', out);
	}
	fputc('\n', out);
}

/* Prints the source line holding span.lo and a caret line under span. */
static void diag_show_range(const Diag *d, Span span)
{
	const Source *src = d->src;
	uint32_t len = (uint32_t)src->len, bom = diag_bom_len(src);
	uint32_t lo = span.lo > len ? len : span.lo;
	if (lo < bom)
		lo = bom;
	uint32_t start = lo, end = lo;
	while (start > bom && !diag_line_break(src, start - 1))
		start--;
	while (end < len && !diag_line_break(src, end))
		end++;
	if (end > start && src->text[end - 1] == '\r')
		end--; /* a CRLF line */
	if (lo > end)
		lo = end; /* a span on a line end */
	uint32_t hi = span.hi > end ? end : span.hi;
	diag_print_line(d->out, src->text, start, end);
	diag_print_caret(d->out, src->text, start, end, lo, hi);
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

static void diag_report(Diag *d, Span at, const char *kind, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void diag_report(Diag *d, Span at, const char *kind, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	diag_vreport(d, at, kind, fmt, ap);
	va_end(ap);
}

/* Whether the current error and its notes are past the printing limit. */
static int diag_suppressed(const Diag *d)
{
	return d->max_errors > 0 && d->nerrors > d->max_errors;
}

void diag_error(Diag *d, Span at, const char *fmt, ...)
{
	d->nerrors++;
	d->hide_notes = false;
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

const char *const diag_warning_names[DIAG_W_COUNT] = {
	[DIAG_W_UNUSED] = "unused",
	[DIAG_W_DIVISION_BY_ZERO] = "division-by-zero",
	[DIAG_W_TRIVIAL_REDUCTION] = "trivial-reduction",
	[DIAG_W_ZERO_GRADIENT] = "zero-gradient",
};

int diag_warning_find(const char *name)
{
	for (int w = 0; w < DIAG_W_COUNT; w++)
		if (strcmp(name, diag_warning_names[w]) == 0)
			return w;
	return -1;
}

static bool diag_warning_on(const Diag *d, DiagWarning w)
{
	return !d->warn.none && !((d->warn.disabled >> w) & 1u);
}

void diag_warning(Diag *d, DiagWarning w, Span at, const char *fmt, ...)
{
	d->hide_notes = !diag_warning_on(d, w);
	if (d->hide_notes)
		return;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (d->warn.as_errors) {
		diag_error(d, at, "%s [-Werror,-W%s]", msg, diag_warning_names[w]);
		return;
	}
	d->nwarnings++;
	if (diag_suppressed(d)) {
		d->hide_notes = true;
		return;
	}
	diag_report(d, at, "warning", "%s [-W%s]", msg, diag_warning_names[w]);
}

void diag_note(Diag *d, Span at, const char *fmt, ...)
{
	if (d->hide_notes || diag_suppressed(d))
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
