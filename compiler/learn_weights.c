/* needs: a LearnNet, or a weights file. gives: the other. */
/* learn_weights.c: the learned placer's weights file.
 *
 * Text, so that a diff shows what training changed and a person can read
 * it; every number printed with 17 significant digits, so that a file
 * read back places exactly as the weights it was written from:
 *
 *   trac-placer-weights 1
 *   hidden 16 rounds 2 task-features 5 device-features 5
 *   tensor embed 16 5
 *   <16 lines of 5 numbers>
 *   tensor embed_bias 16 1
 *   ...
 *   end
 *
 * The tensors come in learn_tensors' order, each with its name and
 * shape, and the header's sizes must be this trac's: a file from a
 * build with other sizes is an error that says so, not a misread. Lines
 * starting with '#' and blank lines are comments. Every value must be a
 * finite number.
 */
#include "tra.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LEARN_WEIGHTS_MAGIC "trac-placer-weights"
#define LEARN_WEIGHTS_VERSION 1

/* A weights file being read: its lines, one at a time. */
typedef struct LearnReader {
	const char *path;
	FILE *f;
	char *line;      /* the current line (getline's buffer) */
	size_t cap;
	int lineno;
	char *err;
	size_t errlen;
} LearnReader;

static bool learn_fail(LearnReader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool learn_fail(LearnReader *r, const char *fmt, ...)
{
	int n = snprintf(r->err, r->errlen, "%s:%d: ", r->path, r->lineno ? r->lineno : 1);
	va_list ap;
	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < r->errlen)
		vsnprintf(r->err + n, r->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return false;
}

/* The next line that is not a comment, without its newline: 1; 0 at
 * the end of the file; -1 after an error. */
static int learn_next_line(LearnReader *r)
{
	ssize_t n;
	while ((n = getline(&r->line, &r->cap, r->f)) >= 0) {
		r->lineno++;
		if ((size_t)n != strlen(r->line))
			return learn_fail(r, "a NUL byte: this is not a weights file") ? 1 : -1;
		while (n > 0 && (r->line[n - 1] == '\n' || r->line[n - 1] == '\r'))
			r->line[--n] = '\0';
		const char *p = r->line + strspn(r->line, " \t");
		if (*p && *p != '#')
			return 1;
	}
	if (ferror(r->f))
		return learn_fail(r, "cannot read: %s", strerror(errno)) ? 1 : -1;
	return 0;
}

/* The next line, which must be there: false after an error saying what was expected. */
static bool learn_expect_line(LearnReader *r, const char *what)
{
	int k = learn_next_line(r);
	if (k == 0)
		learn_fail(r, "the file ends where %s was expected", what);
	return k > 0;
}

static bool learn_read_header(LearnReader *r)
{
	int version, hidden, rounds, tf, df;
	char tail;
	if (!learn_expect_line(r, "'" LEARN_WEIGHTS_MAGIC " 1'"))
		return false;
	if (sscanf(r->line, " " LEARN_WEIGHTS_MAGIC " %d %c", &version, &tail) != 1)
		return learn_fail(r, "expected '" LEARN_WEIGHTS_MAGIC " %d': this is not a trac placer weights file",
		                  LEARN_WEIGHTS_VERSION);
	if (version != LEARN_WEIGHTS_VERSION)
		return learn_fail(r, "weights file version %d; this trac reads version %d", version,
		                  LEARN_WEIGHTS_VERSION);
	if (!learn_expect_line(r, "the sizes"))
		return false;
	if (sscanf(r->line, " hidden %d rounds %d task-features %d device-features %d %c", &hidden, &rounds, &tf,
	           &df, &tail) != 4)
		return learn_fail(r, "expected 'hidden H rounds R task-features F device-features G'");
	if (hidden != LEARN_HIDDEN || rounds != LEARN_ROUNDS || tf != LEARN_TASK_FEATURES ||
	    df != LEARN_DEVICE_FEATURES)
		return learn_fail(r, "the weights are for hidden %d rounds %d task-features %d device-features %d; "
		                  "this trac's networks have %d, %d, %d and %d: train them again with "
		                  "trac --train-placer", hidden, rounds, tf, df, LEARN_HIDDEN, LEARN_ROUNDS,
		                  LEARN_TASK_FEATURES, LEARN_DEVICE_FEATURES);
	return true;
}

/* One row of cols finite numbers into w. */
static bool learn_read_row(LearnReader *r, const LearnTensor *t, int row, double *w)
{
	char what[120];
	snprintf(what, sizeof what, "row %d of %s", row + 1, t->name);
	if (!learn_expect_line(r, what))
		return false;
	char *p = r->line;
	for (int c = 0; c < t->cols; c++) {
		char *e;
		p += strspn(p, " \t");
		errno = 0;
		double v = strtod(p, &e);
		if (e == p)
			return learn_fail(r, "%s: expected %d numbers, found %d", what, t->cols, c);
		if (!isfinite(v) || errno == ERANGE)
			return learn_fail(r, "%s: '%.*s' is not a finite number", what, (int)(e - p), p);
		w[c] = v;
		p = e;
	}
	p += strspn(p, " \t");
	if (*p)
		return learn_fail(r, "%s: more than %d numbers", what, t->cols);
	return true;
}

static bool learn_read_tensor(LearnReader *r, const LearnTensor *t, double *w)
{
	char name[64], tail;
	int rows, cols;
	char what[100];
	snprintf(what, sizeof what, "'tensor %s %d %d'", t->name, t->rows, t->cols);
	if (!learn_expect_line(r, what))
		return false;
	if (sscanf(r->line, " tensor %63s %d %d %c", name, &rows, &cols, &tail) != 3)
		return learn_fail(r, "expected %s", what);
	if (strcmp(name, t->name) != 0 || rows != t->rows || cols != t->cols)
		return learn_fail(r, "expected %s, found 'tensor %s %d %d'", what, name, rows, cols);
	for (int i = 0; i < t->rows; i++)
		if (!learn_read_row(r, t, i, w + (size_t)i * (size_t)t->cols))
			return false;
	return true;
}

bool learn_load(LearnNet *net, const char *path, char *err, size_t errlen)
{
	LearnReader r = {.path = path, .err = err, .errlen = errlen};
	err[0] = '\0';
	r.f = fopen(path, "r");
	if (!r.f) {
		snprintf(err, errlen, "cannot open the placer weights '%s': %s", path, strerror(errno));
		return false;
	}
	net->w = xcalloc((size_t)learn_nweights, sizeof *net->w);
	bool ok = learn_read_header(&r);
	for (int k = 0; ok && k < learn_ntensors; k++)
		ok = learn_read_tensor(&r, &learn_tensors[k], net->w + learn_tensors[k].offset);
	if (ok && learn_expect_line(&r, "'end'")) {
		char word[8], tail;
		if (sscanf(r.line, " %7s %c", word, &tail) != 1 || strcmp(word, "end") != 0)
			ok = learn_fail(&r, "expected 'end' after the last tensor");
		else if (learn_next_line(&r) != 0)
			ok = r.err[0] ? false : learn_fail(&r, "something after 'end'");
	} else {
		ok = false;
	}
	fclose(r.f);
	free(r.line);
	if (!ok)
		learn_net_free(net);
	return ok;
}

static void learn_write(const LearnNet *net, FILE *f)
{
	fprintf(f, "# trac's learned placer (trac --placer=learned; trac(1), --train-placer)\n");
	fprintf(f, "%s %d\n", LEARN_WEIGHTS_MAGIC, LEARN_WEIGHTS_VERSION);
	fprintf(f, "hidden %d rounds %d task-features %d device-features %d\n", LEARN_HIDDEN, LEARN_ROUNDS,
	        LEARN_TASK_FEATURES, LEARN_DEVICE_FEATURES);
	for (int k = 0; k < learn_ntensors; k++) {
		const LearnTensor *t = &learn_tensors[k];
		fprintf(f, "tensor %s %d %d\n", t->name, t->rows, t->cols);
		for (int i = 0; i < t->rows; i++)
			for (int c = 0; c < t->cols; c++)
				fprintf(f, "%.17g%c", net->w[t->offset + i * t->cols + c], c + 1 < t->cols ? ' ' : '\n');
	}
	fprintf(f, "end\n");
}

bool learn_save(const LearnNet *net, const char *path, char *err, size_t errlen)
{
	size_t n = strlen(path) + 16;
	char *tmp = xmalloc(n);
	snprintf(tmp, n, "%s.tmpXXXXXX", path);
	int fd = mkstemp(tmp);
	mode_t mask = umask(0);
	umask(mask);
	if (fd >= 0)
		fchmod(fd, 0666 & ~mask); /* as fopen would make it, not mkstemp's 0600 */
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		snprintf(err, errlen, "cannot write '%s': %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		free(tmp);
		return false;
	}
	learn_write(net, f);
	bool ok = !ferror(f);
	ok = fclose(f) == 0 && ok;
	if (ok && rename(tmp, path) != 0)
		ok = false;
	if (!ok) {
		snprintf(err, errlen, "cannot write '%s': %s", path, strerror(errno));
		unlink(tmp);
	}
	free(tmp);
	return ok;
}

const char *learn_default_weights(void)
{
	return build_data_file("placer.weights");
}
