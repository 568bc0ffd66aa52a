/* npy.c: reading and writing NumPy .npy files.
 *
 * A .npy file is a magic string, a version, a header length, a header
 * that is the text of a Python dict literal, and then the raw elements:
 *
 *   \x93NUMPY  major minor  HLEN  {'descr': '<f4', 'fortran_order': False,
 *                                  'shape': (3, 4), }   ...   \n   data
 *
 * Version 1.0 stores HLEN as a little-endian uint16; versions 2.0 and 3.0
 * as a uint32 (3.0 only adds that the header is UTF-8, which changes
 * nothing for the keys and values we accept).
 *
 * Reading.  Files come from users and, through trac's fuzz targets, from
 * anywhere, so the reader trusts nothing: every length is bounded before
 * it is used, every product of sizes is checked for overflow, and every
 * byte of the header is accounted for by a small recursive-descent parser
 * of the subset of Python literals that NumPy writes (a dict of string
 * keys to strings, True/False and tuples of integers, in any key order,
 * with any whitespace, either quote and optional trailing commas). We do
 * not evaluate anything: the parser points into the header text and
 * records what it saw. Only after the header is understood are the dtype,
 * the order and the shape compared with what the program declared, in
 * that order, so the first message a user sees names the most basic
 * mismatch, and a mismatch says what NumPy call fixes it. One leniency:
 * a scalar input also takes shape (1,), what np.save(np.array([x]))
 * writes: the same single element, and refusing it would only send the
 * user to add .reshape(()). The element count then fixes exactly how
 * many data bytes must follow; fewer is "truncated", more is "trailing
 * data".
 *
 * Writing copies NumPy's own format.py byte for byte: the dict with keys
 * in sorted order, a repr()-style shape, the spare spaces NumPy >= 1.23
 * leaves so the first axis can grow in place, and space padding so that
 * magic + length + header is a multiple of 64 bytes (a full 64 when it
 * already is), ending with '\n'. The file is one of a run's files
 * (files.c): written beside its destination and renamed over it, so a
 * reader never sees half a file and a failed write leaves nothing
 * behind; trart_npy_write is a set of one.
 *
 * A program that reads or writes out of core maps its files instead
 * (cli.c): trart_npy_locate checks a file as trart_npy_read would, with
 * the same messages, but says where its data starts rather than reading
 * it; trart_files_map_npy stages an output whose data the kernels write
 * in place, through a mapping of the staged file (files.c).
 *
 * Errors are one line, "NAME: PATH: what is wrong", where NAME is
 * whatever the caller passed (the executor passes "input X" or
 * "output Y"). Text copied from the file into a message is escaped, so a
 * hostile header cannot break the one-line promise.
 *
 * The library lives inside users' programs, so there is no global state,
 * every path closes what it opened and frees what it allocated, and the
 * umask is never touched.
 */
#define _POSIX_C_SOURCE 200809L

#include "trart.h"
#include "exec.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_ALIGN 64                  /* NumPy's ARRAY_ALIGN */
#define NPY_GROWTH_DIGITS 21          /* NumPy's GROWTH_AXIS_MAX_DIGITS */
#define NPY_MAX_HEADER (1u << 20)     /* a bound on hostile header lengths */
#define NPY_SHAPE_TEXT (TRART_MAX_RANK * 22 + 4) /* "(d, d, ..., d)" */

/* Where an operation is, for error messages. */
typedef struct NpyCtx {
	const char *name; /* the caller's decorated name, "input X" */
	const char *path; /* the file */
	char *err;        /* the caller's error buffer, may be NULL */
	size_t errlen;    /* its size */
} NpyCtx;

/* Keys of the header dict, as bits of NpyHeader.seen. */
enum {
	NPY_KEY_DESCR = 1,   /* 'descr' */
	NPY_KEY_FORTRAN = 2, /* 'fortran_order' */
	NPY_KEY_SHAPE = 4,   /* 'shape' */
};

/* What the header says, pointing into its text. */
typedef struct NpyHeader {
	const char *descr;              /* the 'descr' string, not terminated */
	size_t descrlen;                /* its length */
	int fortran;                    /* 'fortran_order' is True */
	int rank;                       /* entries of 'shape' */
	int64_t shape[TRART_MAX_RANK];  /* 'shape' */
	unsigned seen;                  /* NPY_KEY_* bits seen so far */
} NpyHeader;

/* A cursor over the header text, for the parser. */
typedef struct NpyLex {
	const char *p;     /* next unread character */
	const char *end;   /* one past the header */
	const char *start; /* the header's first byte, for offsets */
	size_t base;       /* file offset of start */
} NpyLex;

#ifdef __GNUC__
#define NPY_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define NPY_PRINTF(f, a)
#endif

/* Formats "NAME: PATH: message" into the caller's buffer; returns -1 so
 * that error paths read `return npy_fail(...)`. */
static int NPY_PRINTF(2, 3)
npy_fail(const NpyCtx *c, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!c->err || c->errlen == 0)
		return -1;
	n = snprintf(c->err, c->errlen, "%s: %s: ", c->name ? c->name : "?",
	             c->path ? c->path : "?");
	if (n < 0 || (size_t)n >= c->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

size_t
trart_dtype_size(TrartDtype t)
{
	return t == TRART_F64 || t == TRART_I64 ? 8 : 4;
}

const char *
trart_dtype_name(TrartDtype t)
{
	static const char *const names[] = {"f32", "f64", "i32", "i64"};
	return names[t];
}

/* The NumPy descr of a dtype: how its header spells it. */
static const char *
npy_descr(TrartDtype t)
{
	static const char *const descr[] = {"<f4", "<f8", "<i4", "<i8"};
	return descr[t];
}

/* Copies len bytes of s into buf (size >= 8) as printable text: other
 * bytes become \xNN and an overlong string ends in "...". Used for text
 * taken from the file, which may hold newlines or worse. */
static const char *
npy_escape(char *buf, size_t size, const char *s, size_t len)
{
	size_t i, o = 0;

	for (i = 0; i < len && o + 8 < size; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch >= 0x20 && ch < 0x7f && ch != '\\')
			buf[o++] = (char)ch;
		else
			o += (size_t)snprintf(buf + o, size - o, "\\x%02x", ch);
	}
	if (i < len)
		o += (size_t)snprintf(buf + o, size - o, "...");
	buf[o] = '\0';
	return buf;
}

const char *
trart_npy_shape_text(char *buf, size_t size, int rank, const int64_t *shape)
{
	size_t o = 0;
	int i;

	o += (size_t)snprintf(buf, size, "(");
	for (i = 0; i < rank && o < size; i++)
		o += (size_t)snprintf(buf + o, size - o, "%s%" PRId64,
		                      i ? ", " : "", shape[i]);
	if (o < size)
		snprintf(buf + o, size - o, rank == 1 ? ",)" : ")");
	return buf;
}

/* Sets *bytes to the data size of a shape, or fails on a negative
 * dimension or a product that does not fit size_t. */
static int
npy_data_bytes(const NpyCtx *c, int rank, const int64_t *shape, size_t elsize,
               size_t *bytes)
{
	char text[NPY_SHAPE_TEXT];
	size_t total = elsize;
	int i;

	for (i = 0; i < rank; i++) {
		if (shape[i] < 0)
			return npy_fail(c, "shape %s has a negative dimension",
			                trart_npy_shape_text(text, sizeof text, rank, shape));
		if (shape[i] && total > SIZE_MAX / (uint64_t)shape[i])
			return npy_fail(c, "shape %s is too large",
			                trart_npy_shape_text(text, sizeof text, rank, shape));
		total *= (size_t)shape[i];
	}
	*bytes = total;
	return 0;
}

/* Swaps each elsize-byte element of p in place: the format is little-
 * endian, and this is how a big-endian host gets there and back. */
static void
npy_swap(unsigned char *p, size_t bytes, size_t elsize)
{
	size_t i, j;

	for (i = 0; i + elsize <= bytes; i += elsize)
		for (j = 0; j < elsize / 2; j++) {
			unsigned char t = p[i + j];
			p[i + j] = p[i + elsize - 1 - j];
			p[i + elsize - 1 - j] = t;
		}
}

static int
npy_host_is_le(void)
{
	const uint16_t one = 1;
	unsigned char b;

	memcpy(&b, &one, 1);
	return b == 1;
}

/* ---- The header parser ----
 *
 *   header := ws '{' ws [ item ws { ',' ws item ws } [ ',' ws ] ] '}' ws
 *   item   := string ws ':' ws value
 *   value  := string | 'True' | 'False' | tuple
 *   tuple  := '(' ws [ int ws { ',' ws int ws } [ ',' ws ] ] ')'
 *   int    := digit { digit } [ 'L' ]       (Python 2 wrote 3L)
 *   string := "'" { not "'" } "'" | '"' { not '"' } '"'
 *
 * which key takes which kind of value is checked as each item is read.
 */

static void
npy_skip_ws(NpyLex *l)
{
	while (l->p < l->end && (*l->p == ' ' || (*l->p >= '\t' && *l->p <= '\r')))
		l->p++;
}

/* Can ch continue a Python identifier (ASCII, locale-independent)? */
static int
npy_is_ident(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') || ch == '_';
}

/* Fails with "malformed header: expected WHAT at byte N". */
static int
npy_expected(const NpyCtx *c, const NpyLex *l, const char *what)
{
	return npy_fail(c, "malformed header: expected %s at byte %zu", what,
	                l->base + (size_t)(l->p - l->start));
}

/* Consumes ch if it is next. */
static int
npy_accept(NpyLex *l, char ch)
{
	if (l->p < l->end && *l->p == ch) {
		l->p++;
		return 1;
	}
	return 0;
}

/* string := quoted text, either quote; sets s and len to its contents. */
static int
npy_string(const NpyCtx *c, NpyLex *l, const char **s, size_t *len)
{
	const char *q;
	char quote;

	if (l->p >= l->end || (*l->p != '\'' && *l->p != '"'))
		return npy_expected(c, l, "a quoted string");
	quote = *l->p++;
	q = memchr(l->p, quote, (size_t)(l->end - l->p));
	if (!q)
		return npy_expected(c, l, "the end of a string");
	*s = l->p;
	*len = (size_t)(q - l->p);
	l->p = q + 1;
	return 0;
}

/* Consumes the word w if it is next and not the start of a longer word. */
static int
npy_word(NpyLex *l, const char *w)
{
	size_t n = strlen(w);

	size_t left = (size_t)(l->end - l->p);

	if (left < n || memcmp(l->p, w, n) != 0)
		return 0;
	if (left > n && npy_is_ident(l->p[n]))
		return 0; /* "Falsehood" is not False */
	l->p += n;
	return 1;
}

/* int := digits ['L'], at most INT64_MAX. */
static int
npy_int(const NpyCtx *c, NpyLex *l, int64_t *v)
{
	int64_t x = 0;

	if (l->p >= l->end || *l->p < '0' || *l->p > '9')
		return npy_expected(c, l, "a dimension");
	while (l->p < l->end && *l->p >= '0' && *l->p <= '9') {
		int d = *l->p - '0';
		if (x > (INT64_MAX - d) / 10)
			return npy_fail(c, "malformed header: dimension too large "
			                "at byte %zu",
			                l->base + (size_t)(l->p - l->start));
		x = x * 10 + d;
		l->p++;
	}
	npy_accept(l, 'L');
	*v = x;
	return 0;
}

/* tuple := '(' [ int { ',' int } [','] ] ')', into h->shape. */
static int
npy_tuple(const NpyCtx *c, NpyLex *l, NpyHeader *h)
{
	if (!npy_accept(l, '('))
		return npy_expected(c, l, "a tuple for 'shape'");
	npy_skip_ws(l);
	h->rank = 0;
	while (!npy_accept(l, ')')) {
		if (h->rank == TRART_MAX_RANK)
			return npy_fail(c, "shape has more than %d dimensions",
			                TRART_MAX_RANK);
		if (npy_int(c, l, &h->shape[h->rank++]) < 0)
			return -1;
		npy_skip_ws(l);
		if (npy_accept(l, ','))
			npy_skip_ws(l);
		else if (l->p >= l->end || *l->p != ')')
			return npy_expected(c, l, "',' or ')' in 'shape'");
	}
	return 0;
}

/* value := 'True' | 'False', for 'fortran_order'. */
static int
npy_bool(const NpyCtx *c, NpyLex *l, int *v)
{
	if (npy_word(l, "True"))
		*v = 1;
	else if (npy_word(l, "False"))
		*v = 0;
	else
		return npy_expected(c, l, "True or False for 'fortran_order'");
	return 0;
}

/* Which NPY_KEY_* bit a key names, or 0. */
static unsigned
npy_key(const char *s, size_t len)
{
	if (len == 5 && memcmp(s, "descr", 5) == 0)
		return NPY_KEY_DESCR;
	if (len == 13 && memcmp(s, "fortran_order", 13) == 0)
		return NPY_KEY_FORTRAN;
	if (len == 5 && memcmp(s, "shape", 5) == 0)
		return NPY_KEY_SHAPE;
	return 0;
}

/* item := string ':' value, the value's kind chosen by the key. */
static int
npy_item(const NpyCtx *c, NpyLex *l, NpyHeader *h)
{
	char text[64];
	const char *s;
	size_t len = 0;
	unsigned key;

	if (npy_string(c, l, &s, &len) < 0)
		return -1;
	key = npy_key(s, len);
	if (!key)
		return npy_fail(c, "malformed header: unexpected key '%s'",
		                npy_escape(text, sizeof text, s, len));
	if (h->seen & key)
		return npy_fail(c, "malformed header: key '%s' appears twice",
		                npy_escape(text, sizeof text, s, len));
	h->seen |= key;
	npy_skip_ws(l);
	if (!npy_accept(l, ':'))
		return npy_expected(c, l, "':' after a key");
	npy_skip_ws(l);
	if (key == NPY_KEY_DESCR)
		return npy_string(c, l, &h->descr, &h->descrlen);
	if (key == NPY_KEY_FORTRAN)
		return npy_bool(c, l, &h->fortran);
	return npy_tuple(c, l, h);
}

/* Fails naming the first of the three keys the header lacks. */
static int
npy_check_keys(const NpyCtx *c, const NpyHeader *h)
{
	if (!(h->seen & NPY_KEY_DESCR))
		return npy_fail(c, "malformed header: no 'descr' key");
	if (!(h->seen & NPY_KEY_FORTRAN))
		return npy_fail(c, "malformed header: no 'fortran_order' key");
	if (!(h->seen & NPY_KEY_SHAPE))
		return npy_fail(c, "malformed header: no 'shape' key");
	return 0;
}

/* header := '{' [ item { ',' item } [','] ] '}', then only whitespace. */
static int
npy_parse(const NpyCtx *c, NpyLex *l, NpyHeader *h)
{
	memset(h, 0, sizeof *h);
	npy_skip_ws(l);
	if (!npy_accept(l, '{'))
		return npy_expected(c, l, "'{'");
	npy_skip_ws(l);
	while (!npy_accept(l, '}')) {
		if (npy_item(c, l, h) < 0)
			return -1;
		npy_skip_ws(l);
		if (npy_accept(l, ','))
			npy_skip_ws(l);
		else if (l->p >= l->end || *l->p != '}')
			return npy_expected(c, l, "',' or '}'");
	}
	npy_skip_ws(l);
	if (l->p != l->end)
		return npy_expected(c, l, "the end of the header");
	return npy_check_keys(c, h);
}

/* ---- Reading ---- */

/* Reads exactly n bytes or fails: a read error with its reason, or the
 * file ending early, reported as `what` with the offset it ended at. */
static int
npy_read_exact(const NpyCtx *c, FILE *f, void *buf, size_t n, size_t *off,
               const char *what)
{
	size_t got = fread(buf, 1, n, f);

	if (got == n) {
		*off += n;
		return 0;
	}
	if (ferror(f))
		return npy_fail(c, "read error: %s", strerror(errno));
	return npy_fail(c, "%s: the file ends after %zu bytes", what, *off + got);
}

/* Reads the magic string and version; sets *lenbytes to the width of the
 * header length that follows (2 for 1.0, 4 for 2.0 and 3.0). */
static int
npy_read_preamble(const NpyCtx *c, FILE *f, size_t *off, size_t *lenbytes)
{
	unsigned char b[NPY_MAGIC_LEN + 2];
	size_t got = fread(b, 1, sizeof b, f);

	if (got < sizeof b && ferror(f))
		return npy_fail(c, "read error: %s", strerror(errno));
	if (got < NPY_MAGIC_LEN || memcmp(b, NPY_MAGIC, NPY_MAGIC_LEN) != 0)
		return npy_fail(c, "not a .npy file (no \\x93NUMPY magic string)");
	if (got < sizeof b)
		return npy_fail(c, "truncated header: the file ends after %zu bytes",
		                got);
	*off = sizeof b;
	if (b[6] == 1 && b[7] == 0)
		*lenbytes = 2;
	else if ((b[6] == 2 || b[6] == 3) && b[7] == 0)
		*lenbytes = 4;
	else
		return npy_fail(c, "unsupported .npy version %u.%u "
		                "(expected 1.0, 2.0 or 3.0)", b[6], b[7]);
	return 0;
}

/* Reads the header text into a fresh buffer *text of *len bytes. */
static int
npy_read_header_text(const NpyCtx *c, FILE *f, size_t *off, char **text,
                     size_t *len)
{
	unsigned char b[4];
	size_t lenbytes = 0, i, n = 0;

	if (npy_read_preamble(c, f, off, &lenbytes) < 0 ||
	    npy_read_exact(c, f, b, lenbytes, off, "truncated header") < 0)
		return -1;
	for (i = lenbytes; i-- > 0;)
		n = n << 8 | b[i];
	if (n > NPY_MAX_HEADER)
		return npy_fail(c, "header length %zu is implausibly large", n);
	*text = malloc(n ? n : 1);
	if (!*text)
		return npy_fail(c, "out of memory reading the header");
	*len = n;
	if (npy_read_exact(c, f, *text, n, off, "truncated header") < 0) {
		free(*text);
		*text = NULL;
		return -1;
	}
	return 0;
}

/* Reads and parses the header, leaving f at the first data byte. */
static int
npy_read_header(const NpyCtx *c, FILE *f, size_t *off, NpyHeader *h,
                char **text)
{
	NpyLex l;
	size_t len = 0;

	if (npy_read_header_text(c, f, off, text, &len) < 0)
		return -1;
	l.start = l.p = *text;
	l.end = *text + len;
	l.base = *off - len;
	return npy_parse(c, &l, h);
}

/* How NumPy spells the conversion to a dtype: "np.float32". */
static const char *
npy_numpy_type(TrartDtype t)
{
	static const char *const numpy[] = {"np.float32", "np.float64", "np.int32", "np.int64"};
	return numpy[t];
}

/* Compares the header's descr with the dtype the program wants; a
 * mismatch says how to convert the array. */
static int
npy_check_descr(const NpyCtx *c, const NpyHeader *h, TrartDtype want)
{
	const char *d = npy_descr(want);
	char text[64];

	if (h->descrlen == 3 && memcmp(h->descr, d, 3) == 0)
		return 0;
	npy_escape(text, sizeof text, h->descr, h->descrlen);
	if (h->descrlen == 3 && memcmp(h->descr + 1, d + 1, 2) == 0)
		return npy_fail(c, "dtype '%s' has the wrong byte order; "
		                "expected little-endian '%s' (convert the array "
		                "with .astype('%s'))", text, d, d);
	return npy_fail(c, "dtype '%s' does not match the declared '%s' (%s); "
	                "convert the array with .astype(%s)", text, d,
	                trart_dtype_name(want), npy_numpy_type(want));
}

/* Whether a file of shape (rank, shape) fits the declared (want,
 * wshape): the same shape, or, for a scalar, the one-element (1,) that
 * np.save(np.array([x])) writes, which holds the same bytes. */
static bool
npy_shape_fits(const NpyHeader *h, int want, const int64_t *wshape)
{
	if (want == 0 && h->rank == 1 && h->shape[0] == 1)
		return true;
	return h->rank == want && (want == 0 ||
	       memcmp(h->shape, wshape, (size_t)want * sizeof *wshape) == 0);
}

/* Compares order and shape with what the program declared. */
static int
npy_check_layout(const NpyCtx *c, const NpyHeader *h, int rank,
                 const int64_t *shape)
{
	char found[NPY_SHAPE_TEXT], declared[NPY_SHAPE_TEXT];

	if (h->fortran)
		return npy_fail(c, "array is in Fortran order; expected C order "
		                "(save np.ascontiguousarray(a) instead)");
	if (npy_shape_fits(h, rank, shape))
		return 0;
	return npy_fail(c, "shape %s does not match the declared %s%s",
	                trart_npy_shape_text(found, sizeof found, h->rank, h->shape),
	                trart_npy_shape_text(declared, sizeof declared, rank, shape),
	                rank == 0 ? " (a scalar: shape () or (1,))" : "");
}

/* After the data, the file must end. Says how much data there is when
 * the file is regular and its size can be asked cheaply (not a pipe);
 * start is the file offset of the data. */
static int
npy_check_end(const NpyCtx *c, FILE *f, size_t start, size_t bytes)
{
	struct stat st;

	if (fgetc(f) == EOF)
		return ferror(f) ? npy_fail(c, "read error: %s", strerror(errno)) : 0;
	if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) &&
	    (uintmax_t)st.st_size > start + bytes)
		return npy_fail(c, "trailing data: expected %zu bytes of data, "
		                "found %ju", bytes, (uintmax_t)st.st_size - start);
	return npy_fail(c, "trailing data: expected %zu bytes of data, "
	                "found more", bytes);
}

/* Reads the data, which starts at file offset start, into a fresh
 * buffer. */
static int
npy_read_data(const NpyCtx *c, FILE *f, size_t start, size_t bytes,
              size_t elsize, void **data)
{
	unsigned char *buf = malloc(bytes ? bytes : 1);
	size_t got;

	if (!buf)
		return npy_fail(c, "out of memory reading %zu bytes of data", bytes);
	got = fread(buf, 1, bytes, f);
	if (got < bytes) {
		free(buf);
		if (ferror(f))
			return npy_fail(c, "read error: %s", strerror(errno));
		return npy_fail(c, "truncated: expected %zu bytes of data, "
		                "found %zu", bytes, got);
	}
	if (npy_check_end(c, f, start, bytes) < 0) {
		free(buf);
		return -1;
	}
	if (!npy_host_is_le())
		npy_swap(buf, bytes, elsize);
	*data = buf;
	return 0;
}

/* Reads f's header and checks it against the declared dtype and shape:
 * *off gets where the data starts, *bytes how long it must be. What
 * trart_npy_read and trart_npy_locate both check first. */
static int
npy_check_file(const NpyCtx *c, FILE *f, TrartDtype want, int rank,
               const int64_t *shape, size_t *off, size_t *bytes)
{
	NpyHeader h;
	char *text = NULL;
	int rc;

	rc = npy_read_header(c, f, off, &h, &text);
	if (rc == 0)
		rc = npy_check_descr(c, &h, want);
	if (rc == 0)
		rc = npy_check_layout(c, &h, rank, shape);
	free(text); /* h.descr points into it: used only above */
	if (rc == 0)
		rc = npy_data_bytes(c, rank, shape, trart_dtype_size(want), bytes);
	return rc;
}

/* The body of trart_npy_read once f is open; the caller closes f. */
static int
npy_read_file(const NpyCtx *c, FILE *f, TrartDtype want, int rank,
              const int64_t *shape, void **data)
{
	size_t off = 0, bytes = 0;
	int rc = npy_check_file(c, f, want, rank, shape, &off, &bytes);

	if (rc == 0)
		rc = npy_read_data(c, f, off, bytes, trart_dtype_size(want), data);
	return rc;
}

int
trart_npy_read(const char *path, const char *name, TrartDtype want,
               int rank, const int64_t *shape, void **data,
               char *err, size_t errlen)
{
	NpyCtx c = {name, path, err, errlen};
	FILE *f;
	int rc;

	*data = NULL;
	if (rank < 0 || rank > TRART_MAX_RANK || (rank > 0 && !shape))
		return npy_fail(&c, "invalid declared rank %d", rank);
	f = fopen(path, "rb");
	if (!f)
		return npy_fail(&c, "cannot open: %s", strerror(errno));
	rc = npy_read_file(&c, f, want, rank, shape, data);
	fclose(f); /* read-only: a close error loses nothing */
	return rc;
}

int
trart_npy_header(const char *path, const char *name, TrartDtype *dtype,
                 int *rank, int64_t *shape, char *err, size_t errlen)
{
	NpyCtx c = {name, path, err, errlen};
	NpyHeader h;
	char *text = NULL, found[64];
	size_t off = 0;
	FILE *f = fopen(path, "rb");
	int rc, t;

	if (!f)
		return npy_fail(&c, "cannot open: %s", strerror(errno));
	rc = npy_read_header(&c, f, &off, &h, &text);
	fclose(f);
	for (t = TRART_F32; rc == 0 && t <= TRART_I64; t++)
		if (h.descrlen == 3 && memcmp(h.descr, npy_descr((TrartDtype)t), 3) == 0)
			break;
	if (rc == 0 && t > TRART_I64)
		rc = npy_fail(&c, "dtype '%s' is none of '<f4', '<f8', '<i4', '<i8'",
		              npy_escape(found, sizeof found, h.descr, h.descrlen));
	if (rc == 0 && h.fortran)
		rc = npy_fail(&c, "array is in Fortran order; expected C order");
	free(text); /* h.descr points into it */
	if (rc < 0)
		return -1;
	*dtype = (TrartDtype)t;
	*rank = h.rank;
	memcpy(shape, h.shape, (size_t)h.rank * sizeof *shape);
	return 0;
}

/* Checks, without reading it, that the data after a header ending at
 * start is exactly bytes long, as npy_read_data and npy_check_end find
 * it, with their messages: f is a regular file. */
static int
npy_check_size(const NpyCtx *c, FILE *f, size_t start, size_t bytes)
{
	struct stat st;

	if (fstat(fileno(f), &st) != 0)
		return npy_fail(c, "read error: %s", strerror(errno));
	if ((uintmax_t)st.st_size < start + bytes)
		return npy_fail(c, "truncated: expected %zu bytes of data, "
		                "found %ju", bytes, (uintmax_t)st.st_size - start);
	if ((uintmax_t)st.st_size > start + bytes)
		return npy_fail(c, "trailing data: expected %zu bytes of data, "
		                "found %ju", bytes, (uintmax_t)st.st_size - start);
	return 0;
}

/* trart_npy_locate once f is open; the caller closes f. */
static int
npy_locate_file(const NpyCtx *c, FILE *f, TrartDtype want, int rank,
                const int64_t *shape, size_t *offset, size_t *bytes)
{
	size_t off = 0;
	int rc = npy_check_file(c, f, want, rank, shape, &off, bytes);

	if (rc == 0)
		rc = npy_check_size(c, f, off, *bytes);
	*offset = off;
	return rc;
}

int
trart_npy_locate(const char *path, const char *name, TrartDtype want,
                 int rank, const int64_t *shape, size_t *offset,
                 size_t *bytes, char *err, size_t errlen)
{
	NpyCtx c = {name, path, err, errlen};
	struct stat st;
	FILE *f;
	int rc;

	if (rank < 0 || rank > TRART_MAX_RANK || (rank > 0 && !shape))
		return npy_fail(&c, "invalid declared rank %d", rank);
	if (!npy_host_is_le() || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return 1; /* trart_npy_read says what is wrong, or swaps */
	f = fopen(path, "rb");
	if (!f)
		return npy_fail(&c, "cannot open: %s", strerror(errno));
	rc = npy_locate_file(&c, f, want, rank, shape, offset, bytes);
	fclose(f);
	return rc;
}

/* ---- Writing ---- */

/* The dict text NumPy's _write_array_header makes: sorted keys, repr()
 * values, and spare spaces for the first axis to grow to 21 digits. */
static size_t
npy_dict_text(char *buf, size_t size, TrartDtype t, int rank,
              const int64_t *shape)
{
	char text[NPY_SHAPE_TEXT], lead[24];
	int grow = 0, n;

	if (rank > 0)
		grow = NPY_GROWTH_DIGITS - snprintf(lead, sizeof lead, "%" PRId64,
		                                    shape[0]);
	n = snprintf(buf, size, "{'descr': '%s', 'fortran_order': False, "
	             "'shape': %s, }%*s", npy_descr(t),
	             trart_npy_shape_text(text, sizeof text, rank, shape),
	             grow > 0 ? grow : 0, "");
	return n < 0 || (size_t)n >= size ? 0 : (size_t)n;
}

/* Total header size, magic to '\n', for a dict of dlen bytes after a
 * prefix (magic, version, length) of plen bytes: NumPy's _wrap_header
 * pads to a multiple of 64, by a full 64 when already aligned. */
static size_t
npy_wrapped_size(size_t plen, size_t dlen)
{
	return plen + dlen + 1 + NPY_ALIGN - (plen + dlen + 1) % NPY_ALIGN;
}

/* Builds the whole header into buf as NumPy would, version 1.0 unless
 * its 16-bit length cannot hold it; returns its size, or 0 if buf is too
 * small. */
static size_t
npy_build_header(unsigned char *buf, size_t size, TrartDtype t, int rank,
                 const int64_t *shape)
{
	char dict[NPY_SHAPE_TEXT + 128];
	size_t dlen, prefix = 10, total, i;

	dlen = npy_dict_text(dict, sizeof dict, t, rank, shape);
	total = npy_wrapped_size(prefix, dlen);
	if (total - prefix > 65535) {
		prefix = 12;
		total = npy_wrapped_size(prefix, dlen);
	}
	if (dlen == 0 || total > size)
		return 0;
	memcpy(buf, NPY_MAGIC, NPY_MAGIC_LEN);
	buf[6] = prefix == 10 ? 1 : 2;
	buf[7] = 0;
	for (i = 0; i < prefix - 8; i++)
		buf[8 + i] = (unsigned char)((total - prefix) >> (8 * i));
	memcpy(buf + prefix, dict, dlen);
	memset(buf + prefix + dlen, ' ', total - prefix - dlen - 1);
	buf[total - 1] = '\n';
	return total;
}

/* Writes the elements little-endian; a big-endian host swaps a chunk at
 * a time so the caller's array stays untouched. */
static int
npy_write_data(FILE *f, const void *data, size_t bytes, size_t elsize)
{
	unsigned char chunk[4096];
	const unsigned char *p = data;
	size_t n;

	if (bytes == 0)
		return 0;
	if (npy_host_is_le())
		return fwrite(data, 1, bytes, f) == bytes ? 0 : -1;
	for (; bytes > 0; p += n, bytes -= n) {
		n = bytes < sizeof chunk ? bytes : sizeof chunk;
		memcpy(chunk, p, n);
		npy_swap(chunk, n, elsize);
		if (fwrite(chunk, 1, n, f) != n)
			return -1;
	}
	return 0;
}

/* What npy_fill writes. */
typedef struct NpyOut {
	const unsigned char *header; /* the header, magic to '\n' */
	size_t hlen;                 /* its bytes */
	const void *data;            /* the elements */
	size_t bytes;                /* their bytes */
	size_t elsize;               /* bytes per element */
} NpyOut;

/* Writes header and data to f: trart_files_add's writer. */
static int
npy_fill(FILE *f, const void *ctx)
{
	const NpyOut *o = ctx;

	if (fwrite(o->header, 1, o->hlen, f) != o->hlen)
		return -1;
	return npy_write_data(f, o->data, o->bytes, o->elsize);
}

int
trart_files_npy(TrartFiles *fs, const char *path, const char *name,
                TrartDtype t, int rank, const int64_t *shape, const void *data,
                char *err, size_t errlen)
{
	NpyCtx c = {name, path, err, errlen};
	unsigned char header[NPY_SHAPE_TEXT + 256];
	NpyOut out = {header, 0, data, 0, trart_dtype_size(t)};

	if (rank < 0 || rank > TRART_MAX_RANK || (rank > 0 && !shape))
		return npy_fail(&c, "invalid rank %d", rank);
	if (npy_data_bytes(&c, rank, shape, out.elsize, &out.bytes) < 0)
		return -1;
	out.hlen = npy_build_header(header, sizeof header, t, rank, shape);
	if (out.hlen == 0)
		return npy_fail(&c, "header does not fit"); /* cannot happen */
	return trart_files_add(fs, path, name, npy_fill, &out, err, errlen);
}

int
trart_files_map_npy(TrartFiles *fs, const char *path, const char *name,
                    TrartDtype t, int rank, const int64_t *shape, void **data,
                    char *err, size_t errlen)
{
	NpyCtx c = {name, path, err, errlen};
	unsigned char header[NPY_SHAPE_TEXT + 256];
	size_t hlen, bytes;

	*data = NULL;
	if (rank < 0 || rank > TRART_MAX_RANK || (rank > 0 && !shape))
		return npy_fail(&c, "invalid rank %d", rank);
	if (!npy_host_is_le())
		return 1; /* the kernels' bytes are not the file's: write it after */
	if (npy_data_bytes(&c, rank, shape, trart_dtype_size(t), &bytes) < 0)
		return -1;
	hlen = npy_build_header(header, sizeof header, t, rank, shape);
	if (hlen == 0)
		return npy_fail(&c, "header does not fit"); /* cannot happen */
	return trart_files_map(fs, path, name, header, hlen, bytes, data, err,
	                       errlen);
}

int
trart_npy_write(const char *path, const char *name, TrartDtype t,
                int rank, const int64_t *shape, const void *data,
                char *err, size_t errlen)
{
	NpyCtx c = {name, path, err, errlen};
	TrartFiles *fs = trart_files_new();
	int rc;

	if (!fs)
		return npy_fail(&c, "out of memory");
	rc = trart_files_npy(fs, path, name, t, rank, shape, data, err, errlen);
	if (rc == 0)
		rc = trart_files_commit(fs, err, errlen);
	trart_files_free(fs);
	return rc;
}
