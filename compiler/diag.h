/* diag.h: diagnostics in the clang style.
 *
 *   prog.tra:3:14: error: index 'k' has range N=8 here but D=4 elsewhere
 *       Y[i] = X[i, k] * W[k]
 *                   ^
 *   prog.tra:3:21: note: 'k' ranges over D=4 here
 *
 * Locations are byte ranges (Span) recorded by the lexer; line and column
 * are computed only when a message is printed. Errors are counted so that
 * the driver can go on to the end of a phase and then stop.
 *
 * Source text is UTF-8. A column counts characters, not bytes, and a
 * byte order mark at the start of the file takes no column. Lines end
 * at LF, CRLF or a lone CR (old Mac files). The source line under a
 * message shows what a terminal would not (control characters, invisible
 * characters, bytes that are not UTF-8) as escapes, and the caret line
 * follows them.
 */
#ifndef TRAC_DIAG_H
#define TRAC_DIAG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* A byte range [lo, hi) in the source text. */
typedef struct Span {
	uint32_t lo; /* first byte */
	uint32_t hi; /* one past the last byte; hi == lo for a point */
} Span;

/* A source file held in memory. */
typedef struct Source {
	const char *path; /* as the user named it, for messages */
	const char *text; /* the contents, NUL-terminated */
	size_t len;       /* bytes in text, excluding the NUL */
} Source;

/* The warnings, each with the name -W and -Wno- take; a warning prints
 * its name ("[-Wunused]") so that the user knows how to silence it. */
typedef enum DiagWarning {
	DIAG_W_UNUSED,           /* an input, definition or size nothing uses */
	DIAG_W_DIVISION_BY_ZERO, /* x / 0 with a literal zero */
	DIAG_W_TRIVIAL_REDUCTION,/* a reduction whose body does not depend on its index */
	DIAG_W_ZERO_GRADIENT,    /* grad(L, W) of an L that does not depend on W */
	DIAG_W_COUNT
} DiagWarning;

extern const char *const diag_warning_names[DIAG_W_COUNT];

/* Which warnings print, and how: gcc's -w, -Werror, -Wno-NAME. */
typedef struct DiagWarnings {
	unsigned disabled; /* bit w: warning w is off */
	bool none;         /* -w: every warning is off */
	bool as_errors;    /* -Werror: a warning is an error */
} DiagWarnings;

/* Where diagnostics go, and how many errors so far. */
typedef struct Diag {
	const Source *src; /* the file spans refer to */
	FILE *out;         /* normally stderr */
	int nerrors;       /* errors reported */
	int nwarnings;     /* warnings reported */
	int max_errors;    /* stop printing after this many (0: no limit) */
	DiagWarnings warn; /* which warnings print (all, by default) */
	bool hide_notes;   /* the last warning was not shown: nor are its notes */
} Diag;

static inline Span span_make(uint32_t lo, uint32_t hi) { return (Span){lo, hi}; }
static inline Span span_join(Span a, Span b)
{
	return (Span){a.lo < b.lo ? a.lo : b.lo, a.hi > b.hi ? a.hi : b.hi};
}

void diag_init(Diag *d, const Source *src, FILE *out);
void diag_error(Diag *d, Span at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A warning, unless d->warn turns it off; with -Werror, an error. The
 * exit status is the caller's business: warnings alone do not change it. */
void diag_warning(Diag *d, DiagWarning w, Span at, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* The warning named NAME (as in -Wno-NAME), or -1. */
int diag_warning_find(const char *name);
/* A note attached to the last error or warning, at a related place. */
void diag_note(Diag *d, Span at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* An error with no place in the source ("trac: error: ..."). */
void diag_error_noloc(Diag *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* 1-based line and column (in characters) of a byte offset. */
void diag_line_col(const Source *src, uint32_t offset, int *line, int *col);

/* A place in a source that moves forward, for callers that need the
 * line and column of many offsets in order (the token dump): moving it
 * costs the bytes it passes, where diag_line_col scans from the start of
 * the file each time (quadratic over a whole file). */
typedef struct DiagCursor {
	uint32_t offset; /* where it is */
	int line, col;   /* what diag_line_col gives for offset */
} DiagCursor;
void diag_cursor_init(DiagCursor *c, const Source *src);
/* Moves c to offset and sets *line and *col as diag_line_col would. */
void diag_cursor_line_col(DiagCursor *c, const Source *src, uint32_t offset, int *line, int *col);
/* Bytes of the UTF-8 byte order mark that src starts with: 3 or 0. */
uint32_t diag_bom_len(const Source *src);

/* The offset at the end of the last line, before a final line end: where
 * "end of file" messages point, rather than at an empty line after it. */
uint32_t diag_text_end(const Source *src);

/* The character at s, with n >= 1 bytes available: returns its length in
 * bytes (1 to 4) and sets *cp to its code point. For bytes that are not
 * UTF-8 it returns minus the length of the bad run (the first byte and the
 * continuation bytes after it, at most 4), and *cp is undefined. */
int diag_utf8(const char *s, size_t n, uint32_t *cp);

/* The name of a code point that is invisible or looks like a plain space
 * ("zero width space", "no-break space"), or NULL. *space is set when it
 * looks like a space. */
const char *diag_invisible_name(uint32_t cp, int *space);

/* Writes n bytes to out as \xHH escapes (upper-case hex), NUL-terminated
 * and truncated to size. Used for everything that is not printable text,
 * so that a message never copies raw bytes to the terminal. */
void diag_escape_bytes(const char *s, size_t n, char *out, size_t size);

#endif /* TRAC_DIAG_H */
