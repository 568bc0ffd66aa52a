/* needs: an IaGraph and a trace that its compiled program wrote (--trace). gives: a measured time per task. */
/* learn_trace.c: reading a run's trace back, so that the learned placer
 * fine-tunes on the times its tasks really took rather than the model's.
 *
 * The runtime's trace (runtime/trace.c) has one event per line; a block
 * task's is
 *
 *   {"name": "H", "cat": "task", "ph": "X", "ts": 12.345, "dur": 6.789,
 *    "pid": 1, "tid": 2, "args": {"task": 7, "flops": ..., ...}},
 *
 * on one line, where "task" is the task's index in the program's task
 * table, the IaTask id it was compiled from, and "dur" is microseconds.
 * Memory tasks of a memory budget follow the block tasks in that table
 * and are named by what they do ("offload H"); their time is the
 * simulator's business (memgraph_simulate), so they are skipped. A run
 * with --repeat traces every task once per run, and the median of those
 * is its time: one slow run (a page fault, another process) moves a mean
 * but not a median.
 *
 * A trace of another program, partition or --devices would silently
 * teach the placer nonsense, so every block task's name must be its
 * node's name here, and an index past the graph must be a memory task;
 * otherwise nothing is set and err says why. The file is read as text
 * we did not write: each line is scanned as a JSON object with bounds
 * checks and numbers go through strtod and strtoll on a bounded copy,
 * so a damaged file is an error (a task event) or ignored (any other
 * line), never a crash. Lines that are no task event (the document's
 * brackets, kernels, memory counters, metadata) are skipped; a task
 * event without "task" comes from an older trac and is skipped too,
 * which leaves a trace without any indices to be refused.
 */
#include "tra.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRACE_NUMBER_MAX 64 /* bytes of the longest number token read */
#define TRACE_SHOW_MAX 40   /* bytes of a name that a message shows */

/* A cursor over one line of the file: the bytes [p, end). */
typedef struct TraceLine {
	char *p;         /* the next byte to read; strings are decoded in place */
	const char *end; /* the line's end (its newline, or the file's end) */
} TraceLine;

/* What one line's event says, as far as reading times needs. */
typedef struct TraceEvent {
	char *name;        /* its "name", decoded in place; NULL if none */
	size_t namelen;    /* bytes of name (it may hold NUL bytes) */
	bool task;         /* "cat" is "task": a task event */
	bool indexed;      /* its args hold "task" */
	int index;         /* that index */
	bool timed;        /* it has "dur" */
	double dur;        /* that duration, microseconds */
	const char *bad;   /* why a number did not read, or NULL */
} TraceEvent;

/* One run of one task. */
typedef struct TraceRun {
	int task;        /* its IaTask id */
	double dur;      /* how long it ran, microseconds */
} TraceRun;

/* The reading of one file. */
typedef struct TraceRead {
	IaGraph *ia;       /* the graph whose tasks the trace must be of */
	const char *path;  /* the file, for messages */
	char *err;         /* where a message goes ... */
	size_t errlen;     /* ... and its size */
	long line;         /* the line being read, from 1 */
	TraceRun *runs;    /* the block tasks' runs read so far */
	size_t nruns, cap; /* entries used and allocated */
	size_t indexed;    /* task events with an index, memory tasks too */
} TraceRead;

/* ---- scanning one line as JSON ---- */

/* Skips blanks (a carriage return too: a file edited on Windows). */
static void trace_blank(TraceLine *l)
{
	while (l->p < l->end && (*l->p == ' ' || *l->p == '\t' || *l->p == '\r'))
		l->p++;
}

/* Consumes c after blanks; false (nothing consumed) if it is not there. */
static bool trace_lit(TraceLine *l, char c)
{
	trace_blank(l);
	if (l->p >= l->end || *l->p != c)
		return false;
	l->p++;
	return true;
}

/* The value of the hex digit c, or -1. */
static int trace_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes \uXXXX at l->p (past the "\u") into out as UTF-8 (at most 3
 * bytes, fewer than the 6 it read, so decoding stays in place); returns
 * the bytes written, or 0 if malformed. Surrogates are kept as they are:
 * trac writes only \u00XX, and a name it did not write mismatches anyway. */
static int trace_unicode(TraceLine *l, char *out)
{
	unsigned v = 0;
	if (l->end - l->p < 4)
		return 0;
	for (int i = 0; i < 4; i++) {
		int h = trace_hex(*l->p++);
		if (h < 0)
			return 0;
		v = v * 16 + (unsigned)h;
	}
	if (v < 0x80) {
		out[0] = (char)v;
		return 1;
	}
	if (v < 0x800) {
		out[0] = (char)(0xc0 | v >> 6);
		out[1] = (char)(0x80 | (v & 0x3f));
		return 2;
	}
	out[0] = (char)(0xe0 | v >> 12);
	out[1] = (char)(0x80 | (v >> 6 & 0x3f));
	out[2] = (char)(0x80 | (v & 0x3f));
	return 3;
}

/* One escape's byte(s), after the backslash, into out; returns how
 * many, or 0 if malformed. */
static int trace_escape(TraceLine *l, char *out)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	if (l->p >= l->end)
		return 0;
	char c = *l->p++;
	if (c == 'u')
		return trace_unicode(l, out);
	const char *at = c ? strchr(from, c) : NULL;
	if (!at)
		return 0;
	*out = to[at - from];
	return 1;
}

/* A JSON string after blanks, decoded in place: *s and *len (either may
 * be NULL) say where. False if there is none or it is malformed (an
 * unescaped control byte, a bad escape, no closing quote on the line). */
static bool trace_string(TraceLine *l, char **s, size_t *len)
{
	if (!trace_lit(l, '"'))
		return false;
	char *start = l->p, *out = l->p;
	while (l->p < l->end && *l->p != '"') {
		unsigned char c = (unsigned char)*l->p++;
		int n = 1;
		if (c < 0x20)
			return false;
		if (c == '\\')
			n = trace_escape(l, out);
		else
			*out = (char)c;
		if (n == 0)
			return false;
		out += n;
	}
	if (l->p >= l->end)
		return false;
	l->p++; /* the closing quote */
	if (s)
		*s = start;
	if (len)
		*len = (size_t)(out - start);
	return true;
}

/* Whether the decoded string s[0..len) is word. */
static bool trace_is(const char *s, size_t len, const char *word)
{
	return len == strlen(word) && memcmp(s, word, len) == 0;
}

/* A number's token after blanks, copied NUL-terminated into buf
 * (TRACE_NUMBER_MAX bytes); false if there is none or it is too long. */
static bool trace_token(TraceLine *l, char *buf)
{
	size_t n = 0;
	trace_blank(l);
	while (l->p < l->end && *l->p && strchr("+-0123456789.eE", *l->p)) {
		if (n + 1 >= TRACE_NUMBER_MAX)
			return false;
		buf[n++] = *l->p++;
	}
	buf[n] = '\0';
	return n > 0;
}

/* A finite number that is not negative (a time, microseconds). */
static bool trace_duration(TraceLine *l, double *v)
{
	char buf[TRACE_NUMBER_MAX], *end;
	if (!trace_token(l, buf))
		return false;
	*v = strtod(buf, &end);
	return *end == '\0' && isfinite(*v) && *v >= 0;
}

/* An integer in [0, INT_MAX] (a task's index). */
static bool trace_count(TraceLine *l, int *v)
{
	char buf[TRACE_NUMBER_MAX], *end;
	if (!trace_token(l, buf))
		return false;
	errno = 0;
	long long n = strtoll(buf, &end, 10);
	if (*end != '\0' || errno == ERANGE || n < 0 || n > INT_MAX)
		return false;
	*v = (int)n;
	return true;
}

/* Skips one JSON value of any kind: a string, or a run of the bytes
 * that numbers and literals are made of, or a bracketed object or array
 * (counted, not recursed into, so nesting depth cannot exhaust the
 * stack). False if there is no value or it is malformed. */
static bool trace_skip(TraceLine *l)
{
	long depth = 0;
	trace_blank(l);
	do {
		if (l->p >= l->end)
			return false;
		char c = *l->p;
		if (c == '"') {
			if (!trace_string(l, NULL, NULL))
				return false;
		} else if (c == '{' || c == '[') {
			depth++, l->p++;
		} else if (c == '}' || c == ']') {
			if (depth == 0)
				return false; /* the enclosing object's end: no value */
			depth--, l->p++;
		} else if (depth > 0 && (c == ',' || c == ':' || c == ' ' || c == '\t' || c == '\r')) {
			l->p++;
		} else {
			const char *start = l->p;
			while (l->p < l->end && *l->p && strchr("+-0123456789.eEabcdfilnrstu", *l->p))
				l->p++;
			if (l->p == start)
				return false;
		}
	} while (depth > 0);
	return true;
}

static bool trace_members(TraceLine *l, TraceEvent *e, bool args);

/* The value of an event's member key[0..len): the few that reading
 * times needs are read into e (args: members of its "args"); the rest
 * are skipped. */
static bool trace_value(TraceLine *l, TraceEvent *e, const char *key, size_t len, bool args)
{
	if (args && trace_is(key, len, "task")) {
		e->indexed = trace_count(l, &e->index);
		e->bad = e->indexed ? e->bad : "its \"task\" is not an index";
		return e->indexed;
	}
	if (args)
		return trace_skip(l);
	if (trace_is(key, len, "name"))
		return trace_string(l, &e->name, &e->namelen);
	if (trace_is(key, len, "cat")) {
		char *cat;
		size_t catlen;
		if (!trace_string(l, &cat, &catlen))
			return false;
		e->task = trace_is(cat, catlen, "task");
		return true;
	}
	if (trace_is(key, len, "dur")) {
		e->timed = trace_duration(l, &e->dur);
		e->bad = e->timed ? e->bad : "its \"dur\" is not a duration";
		return e->timed;
	}
	if (trace_is(key, len, "args"))
		return trace_members(l, e, true);
	return trace_skip(l);
}

/* An object: { "key": value, ... } (args: the event's "args"). */
static bool trace_members(TraceLine *l, TraceEvent *e, bool args)
{
	if (!trace_lit(l, '{'))
		return false;
	if (trace_lit(l, '}'))
		return true;
	do {
		char *key;
		size_t len;
		if (!trace_string(l, &key, &len) || !trace_lit(l, ':') ||
		    !trace_value(l, e, key, len, args))
			return false;
	} while (trace_lit(l, ','));
	return trace_lit(l, '}');
}

/* One line as an event: an object, then at most a comma (trace.c ends
 * every event but the last with one). */
static bool trace_event(TraceLine *l, TraceEvent *e)
{
	memset(e, 0, sizeof *e);
	if (!trace_members(l, e, false))
		return false;
	trace_lit(l, ',');
	trace_blank(l);
	return l->p == l->end;
}

/* ---- checking events against the graph ---- */

/* Sets err to "PATH: line N: " and the formatted message; returns false. */
__attribute__((format(printf, 2, 3)))
static bool trace_fail(TraceRead *r, const char *fmt, ...)
{
	int n = snprintf(r->err, r->errlen, "%s: line %ld: ", r->path, r->line);
	if (n >= 0 && (size_t)n < r->errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(r->err + n, r->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return false;
}

/* A name as a message shows it: at most TRACE_SHOW_MAX bytes, control
 * bytes as '?' (the file may hold anything). */
static const char *trace_show(char *buf, const char *s, size_t len)
{
	size_t n = len < TRACE_SHOW_MAX ? len : TRACE_SHOW_MAX;
	for (size_t i = 0; i < n; i++)
		buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	strcpy(buf + n, len > n ? "..." : "");
	return buf;
}

/* Whether name[0..len) is a memory task's ("offload H": trace.c names
 * them by their kind and tensor). */
static bool trace_memory_task(const char *name, size_t len)
{
	static const char *const kinds[] = {"alloc ", "free ", "offload ", "reload ",
	                                    "read ", "drop ", "claim ", "write "};
	for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
		size_t n = strlen(kinds[k]);
		if (len > n && memcmp(name, kinds[k], n) == 0)
			return true;
	}
	return false;
}

#define TRACE_OTHER "the trace is of another program, partition or --devices than the one being trained"

/* Keeps a task event's run when it is of this graph's block task e->index. */
static bool trace_take(TraceRead *r, const TraceEvent *e)
{
	char shown[TRACE_SHOW_MAX + 4];
	const IaGraph *ia = r->ia;
	r->indexed++;
	if (!e->name || !e->timed)
		return trace_fail(r, "a task event without a %s", e->name ? "\"dur\"" : "\"name\"");
	if (e->index >= ia->ntasks) {
		if (trace_memory_task(e->name, e->namelen))
			return true;
		return trace_fail(r, "task %d (\"%s\") is past this graph's %d block tasks: " TRACE_OTHER,
		                  e->index, trace_show(shown, e->name, e->namelen), ia->ntasks);
	}
	const char *want = ia->g->nodes[ia->tasks[e->index].node].name;
	if (!trace_is(e->name, e->namelen, want))
		return trace_fail(r, "task %d is a block of \"%s\" in the trace but of \"%s\" here: " TRACE_OTHER,
		                  e->index, trace_show(shown, e->name, e->namelen), want);
	if (r->nruns == r->cap) {
		r->cap = r->cap ? 2 * r->cap : 256;
		r->runs = xrealloc(r->runs, r->cap * sizeof *r->runs);
	}
	r->runs[r->nruns++] = (TraceRun){e->index, e->dur};
	return true;
}

/* Reads the line [p, end) (line r->line); false with err set when it is
 * a task event this graph cannot take. */
static bool trace_line(TraceRead *r, char *p, const char *end)
{
	TraceLine l = {p, end};
	TraceEvent e;
	if (!trace_event(&l, &e)) {
		if (!e.task) /* not a task event, as far as it read: not ours */
			return true;
		return trace_fail(r, "a malformed task event%s%s", e.bad ? ": " : "", e.bad ? e.bad : "");
	}
	if (!e.task || !e.indexed) /* kernels, counters, metadata; older traces */
		return true;
	return trace_take(r, &e);
}

/* ---- the file ---- */

/* The whole file, NUL-terminated, in a buffer the caller frees (its
 * size in *size); NULL with err set if it cannot be read. */
static char *trace_slurp(const char *path, size_t *size, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return NULL;
	}
	size_t n = 0, cap = 1 << 16;
	char *buf = xmalloc(cap);
	for (size_t got; (got = fread(buf + n, 1, cap - n - 1, f)) > 0;) {
		n += got;
		if (cap - n - 1 == 0)
			buf = xrealloc(buf, cap *= 2);
	}
	int bad = ferror(f), saved = errno;
	fclose(f);
	if (bad) {
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(saved));
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	*size = n;
	return buf;
}

/* Every line of buf[0..size); false at the first that fails. */
static bool trace_lines(TraceRead *r, char *buf, size_t size)
{
	char *p = buf, *end = buf + size;
	for (r->line = 1; p < end; r->line++) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *stop = nl ? nl : end;
		if (!trace_line(r, p, stop))
			return false;
		p = nl ? nl + 1 : end;
	}
	return true;
}

/* Runs by task, then by duration. */
static int trace_by_task(const void *a, const void *b)
{
	const TraceRun *x = a, *y = b;
	if (x->task != y->task)
		return x->task < y->task ? -1 : 1;
	return x->dur < y->dur ? -1 : x->dur > y->dur;
}

/* Sets every task's measured time: the median of its runs, in seconds
 * (the mean of the middle two of an even count), or 0 if it has none. */
static void trace_medians(IaGraph *ia, TraceRun *runs, size_t n)
{
	if (n > 0) /* (runs is NULL when only memory tasks ran) */
		qsort(runs, n, sizeof *runs, trace_by_task);
	for (int t = 0; t < ia->ntasks; t++)
		ia->tasks[t].measured = 0;
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i; j < n && runs[j].task == runs[i].task; j++)
			;
		double lo = runs[i + (j - i - 1) / 2].dur, hi = runs[i + (j - i) / 2].dur;
		ia->tasks[runs[i].task].measured = (lo + (hi - lo) / 2) * 1e-6;
	}
}

bool learn_read_trace(IaGraph *ia, const char *path, char *err, size_t errlen)
{
	size_t size;
	char *buf = trace_slurp(path, &size, err, errlen);
	if (!buf)
		return false;
	TraceRead r = {.ia = ia, .path = path, .err = err, .errlen = errlen};
	bool ok = trace_lines(&r, buf, size);
	if (ok && r.indexed == 0) {
		snprintf(err, errlen, "%s: no task events with a \"task\" index: the trace must come from a "
		         "program compiled by this trac and run with --trace", path);
		ok = false;
	}
	if (ok)
		trace_medians(ia, r.runs, r.nruns);
	free(r.runs);
	free(buf);
	return ok;
}
