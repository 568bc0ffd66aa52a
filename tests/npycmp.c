/* npycmp.c: compares a run's .npy outputs with the interpreter's, as the
 * tests' compare (tests/programs.sh) needs it thousands of times a run:
 * a C process starts in a millisecond where Python with NumPy took 0.2 s,
 * most of what tests/compile.sh spent.
 *
 *   npycmp GOT_DIR WANT_DIR [GOT_DIR...]
 *
 * For each GOT_DIR and each file of WANT_DIR (in name order), the file of
 * the same name in GOT_DIR must have the same dtype and shape, and a
 * relative error max|got - want| / max(max|want|, 1e-30) of at most
 * tra(5)'s tolerance: 1e-4 when want is f32, else 1e-10 (integers: equal,
 * as far as a double holds them). Both maxima propagate NaN, so a NaN in
 * either array fails, as NumPy's np.max makes the Python check it
 * replaces fail. A mismatch prints
 *
 *   GOT_DIR/y.npy: dtype float32/float32 shape (5, 3)/(5, 3) relative error 0.5
 *
 * and the exit status is 1; 0 when everything matches, 2 on bad usage.
 * tests/npycmp.sh checks it against NumPy on random arrays. */
#include "../runtime/exec.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int npycmp_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names of dir's files, sorted, into *names; *n gets how many, -1
 * when dir cannot be read. */
static char **npycmp_list(const char *dir, int *n)
{
	DIR *d = opendir(dir);
	char **names = NULL;
	struct dirent *e;
	int cap = 0;
	*n = d ? 0 : -1;
	if (!d)
		return NULL;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (*n == cap) {
			cap = cap ? 2 * cap : 16;
			names = realloc(names, (size_t)cap * sizeof *names);
			if (!names)
				abort();
		}
		names[(*n)++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, (size_t)*n, sizeof *names, npycmp_cmp);
	return names;
}

static double npycmp_value(const void *data, TrartDtype t, size_t i)
{
	switch (t) {
	case TRART_F32: return ((const float *)data)[i];
	case TRART_F64: return ((const double *)data)[i];
	case TRART_I32: return ((const int32_t *)data)[i];
	case TRART_I64: return (double)((const int64_t *)data)[i];
	}
	return NAN;
}

static const char *npycmp_numpy_name(TrartDtype t)
{
	static const char *const names[] = {"float32", "float64", "int32", "int64"};
	return names[t];
}

/* max|got - want| / max(max|want|, 1e-30), NaN if either holds a NaN. */
static double npycmp_error(const void *got, const void *want, TrartDtype t, size_t n)
{
	double diff = 0, big = 0;
	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		double w = npycmp_value(want, t, i), d = fabs(npycmp_value(got, t, i) - w);
		if (isnan(d) || isnan(w))
			return NAN;
		diff = d > diff ? d : diff;
		big = fabs(w) > big ? fabs(w) : big;
	}
	return diff / (big > 1e-30 ? big : 1e-30);
}

/* Compares got_dir/name with want_dir/name; prints what differs. */
static int npycmp_file(const char *got_dir, const char *want_dir, const char *name)
{
	char gpath[4096], wpath[4096], err[TRART_ERRLEN], gs[256], ws[256];
	TrartDtype gt, wt;
	int grank, wrank;
	int64_t gshape[TRART_MAX_RANK], wshape[TRART_MAX_RANK];
	void *g = NULL, *w = NULL;
	snprintf(gpath, sizeof gpath, "%s/%s", got_dir, name);
	snprintf(wpath, sizeof wpath, "%s/%s", want_dir, name);
	if (trart_npy_header(wpath, "want", &wt, &wrank, wshape, err, sizeof err) < 0 ||
	    trart_npy_header(gpath, "got", &gt, &grank, gshape, err, sizeof err) < 0) {
		printf("  %s\n", err);
		return 1;
	}
	if (gt != wt || grank != wrank || memcmp(gshape, wshape, (size_t)wrank * sizeof *wshape) != 0) {
		printf("  %s: dtype %s/%s shape %s/%s\n", gpath, npycmp_numpy_name(gt), npycmp_numpy_name(wt),
		       trart_npy_shape_text(gs, sizeof gs, grank, gshape), trart_npy_shape_text(ws, sizeof ws, wrank, wshape));
		return 1;
	}
	size_t n = 1;
	for (int d = 0; d < wrank; d++)
		n *= (size_t)wshape[d];
	if (trart_npy_read(wpath, "want", wt, wrank, wshape, &w, err, sizeof err) < 0 ||
	    trart_npy_read(gpath, "got", gt, grank, gshape, &g, err, sizeof err) < 0) {
		printf("  %s\n", err);
		free(w);
		return 1;
	}
	double e = npycmp_error(g, w, wt, n), tol = wt == TRART_F32 ? 1e-4 : 1e-10;
	free(g);
	free(w);
	if (e <= tol)
		return 0;
	printf("  %s: dtype %s/%s shape %s/%s relative error %.3g\n", gpath, npycmp_numpy_name(gt),
	       npycmp_numpy_name(wt), trart_npy_shape_text(gs, sizeof gs, grank, gshape),
	       trart_npy_shape_text(ws, sizeof ws, wrank, wshape), e);
	return 1;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: npycmp GOT_DIR WANT_DIR [GOT_DIR...]\n");
		return 2;
	}
	int n, bad = 0;
	char **names = npycmp_list(argv[2], &n);
	if (n < 0) {
		printf("  %s: cannot read the directory\n", argv[2]);
		return 1;
	}
	for (int a = 1; a < argc; a++) {
		if (a == 2)
			continue;
		for (int i = 0; i < n; i++)
			bad |= npycmp_file(argv[a], argv[2], names[i]);
	}
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return bad;
}
