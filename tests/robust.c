/* robust.c: trac must never crash, hang or trip a sanitizer on any input.
 *
 *   robust TRAC SAMPLE.tra... [--mutations N] [--prefixes P] [--seed S]
 *
 * Runs `TRAC --check` (and every fourth time `--emit=tra`) on every
 * prefix of every sample (of a sample longer than P bytes, evenly spaced
 * ones, P of them, and the whole: with two dozen samples, every byte's
 * prefix took most of CI's time), and on N seeded random mutations of them
 * (byte deletions, insertions of bytes and of language fragments, line
 * duplications, swaps), and requires each run to exit with status 0 or 1
 * within 10 seconds with no sanitizer report or internal error on
 * stderr. The first failing input is kept as robust-failure.tra.
 */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#define ROBUST_PREFIXES 600 /* prefixes per sample at most (plus the whole), by default */

typedef struct Buf {
	char *p;
	size_t n, cap;
} Buf;

static uint64_t rng_state;

static uint64_t rng(void)
{
	/* splitmix64: deterministic across machines */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static size_t rng_below(size_t n)
{
	return n ? (size_t)(rng() % n) : 0;
}

static void buf_reserve(Buf *b, size_t extra)
{
	if (b->n + extra + 1 <= b->cap)
		return;
	b->cap = 2 * (b->n + extra + 1);
	b->p = realloc(b->p, b->cap);
	if (!b->p) {
		perror("robust");
		exit(99);
	}
}

static void buf_insert(Buf *b, size_t at, const char *s, size_t n)
{
	buf_reserve(b, n);
	memmove(b->p + at + n, b->p + at, b->n - at);
	memcpy(b->p + at, s, n);
	b->n += n;
}

static void buf_delete(Buf *b, size_t at, size_t n)
{
	if (at + n > b->n)
		n = b->n - at;
	memmove(b->p + at, b->p + at + n, b->n - at - n);
	b->n -= n;
}

static Buf read_file(const char *path)
{
	Buf b = {0};
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		exit(99);
	}
	char chunk[4096];
	size_t got;
	while ((got = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_insert(&b, b.n, chunk, got);
	fclose(f);
	return b;
}

static const char *const fragments[] = {
	"[", "]", "(", ")", ",", ";", "\n", "=", "+", "-", "*", "/", "<", "<=", "==",
	"sum[k]", "max[", "min(", "mean[", "prod[", "select(", "inf", "-inf", "1e999",
	"0", "2.5", "99999999999999999999", "9223372036854775807", "size ", "input ",
	"output ", "f64", "f32", "i", "j", "k", "X", "N", "#", "exp(", "pow(", "@",
	"\t", "\r", "\xff", "sum[i,j,k,l,m,n,o,p,q,r,s,t,u,v,w,x,y](", ".5", "1.",
	"size Q = 1 / 0\n", "size Q = 7 / 2\n", "input Z[N, N, N, N, N, N, N, N, N, N, N, N, N, N, N, N, N]\n",
	/* index arithmetic: affine subscripts, written ranges, padding */
	":", "i:N", "k:3", ", pad=0", "pad=-inf", " + 1", " - 1", "2 * ", " + r", "N - 1",
	"sum[r:3](", "X[i + 1]", "X[2 * i + 1, pad=0]", "9223372036854775807 * i", "i:0",
};

/* One random edit. */
static void mutate(Buf *b)
{
	size_t at = rng_below(b->n + 1);
	switch (rng_below(6)) {
	case 0: buf_delete(b, at, 1 + rng_below(8)); break;
	case 1: {
		char c = (char)rng_below(256);
		buf_insert(b, at, &c, 1);
		break;
	}
	case 2: {
		const char *f = fragments[rng_below(sizeof fragments / sizeof fragments[0])];
		buf_insert(b, at, f, strlen(f));
		break;
	}
	case 3: { /* duplicate the line holding `at` at the end */
		size_t lo = at, hi = at;
		while (lo > 0 && b->p[lo - 1] != '\n')
			lo--;
		while (hi < b->n && b->p[hi] != '\n')
			hi++;
		char *line = malloc(hi - lo + 1); /* not strndup: the line may hold NULs */
		if (!line)
			exit(99);
		memcpy(line, b->p + lo, hi - lo);
		buf_insert(b, b->n, "\n", 1);
		buf_insert(b, b->n, line, hi - lo);
		free(line);
		break;
	}
	case 4:
		if (b->n >= 2) {
			size_t x = rng_below(b->n), y = rng_below(b->n);
			char t = b->p[x];
			b->p[x] = b->p[y];
			b->p[y] = t;
		}
		break;
	default:
		if (at < b->n)
			b->p[at] = (char)rng_below(128);
		break;
	}
}

static void write_file(const char *path, const char *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
		perror(path);
		exit(99);
	}
}

/* Runs trac on path; returns NULL if all is well, else why not. */
static const char *run_trac(const char *trac, const char *path, const char *mode)
{
	static char why[256];
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(99);
	}
	if (pid == 0) {
		int fd = open("robust-stderr.tmp", O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int null = open("/dev/null", O_WRONLY);
		dup2(null, 1);
		dup2(fd, 2);
		alarm(10);
		if (strcmp(mode, "--check") == 0)
			execl(trac, trac, path, mode, (char *)NULL);
		else
			execl(trac, trac, path, mode, "-o", "/dev/null", (char *)NULL);
		_exit(98);
	}
	int status;
	waitpid(pid, &status, 0);
	if (WIFSIGNALED(status)) {
		snprintf(why, sizeof why, "killed by signal %d%s", WTERMSIG(status),
		         WTERMSIG(status) == SIGALRM ? " (hang)" : "");
		return why;
	}
	int rc = WEXITSTATUS(status);
	if (rc != 0 && rc != 1) {
		snprintf(why, sizeof why, "exit status %d", rc);
		return why;
	}
	Buf err = read_file("robust-stderr.tmp");
	buf_reserve(&err, 1);
	err.p[err.n] = '\0';
	const char *bad = strstr(err.p, "Sanitizer") ? "sanitizer report" :
	                  strstr(err.p, "runtime error") ? "UBSan report" :
	                  strstr(err.p, "internal error") ? "internal error" : NULL;
	free(err.p);
	return bad;
}

static int nfail, nrun;

static void check(const char *trac, const char *what, const char *p, size_t n)
{
	write_file("robust-case.tmp", p, n);
	const char *mode = nrun % 4 == 3 ? "--emit=tra" : "--check";
	const char *why = run_trac(trac, "robust-case.tmp", mode);
	nrun++;
	if (!why)
		return;
	if (nfail++ == 0)
		write_file("robust-failure.tra", p, n);
	fprintf(stderr, "FAIL %s (%s): %s\n", what, mode, why);
}

int main(int argc, char **argv)
{
	long mutations = 3000;
	size_t prefixes = ROBUST_PREFIXES;
	rng_state = 1;
	if (argc < 3) {
		fprintf(stderr, "usage: robust TRAC SAMPLE.tra... [--mutations N] [--prefixes P] [--seed S]\n");
		return 2;
	}
	const char *trac = argv[1];
	Buf samples[64];
	int ns = 0;
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--mutations") == 0 && i + 1 < argc)
			mutations = atol(argv[++i]);
		else if (strcmp(argv[i], "--prefixes") == 0 && i + 1 < argc && atol(argv[i + 1]) > 0)
			prefixes = (size_t)atol(argv[++i]);
		else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
			rng_state = strtoull(argv[++i], NULL, 10);
		else if (ns < 64)
			samples[ns++] = read_file(argv[i]);
	}
	char what[64];
	for (int s = 0; s < ns; s++) {
		size_t len = samples[s].n, step = (len + prefixes - 1) / prefixes;
		for (size_t n = 0; n <= len; n += step ? step : 1) {
			snprintf(what, sizeof what, "sample %d prefix %zu", s, n);
			check(trac, what, samples[s].p, n);
			if (n < len && n + step > len) /* the whole sample too */
				n = len - step;
		}
	}
	for (long m = 0; m < mutations && ns > 0; m++) {
		Buf b = {0};
		const Buf *src = &samples[rng_below((size_t)ns)];
		buf_insert(&b, 0, src->p, src->n);
		for (size_t k = 1 + rng_below(4); k > 0; k--)
			mutate(&b);
		snprintf(what, sizeof what, "mutation %ld", m);
		check(trac, what, b.p ? b.p : "", b.n);
		free(b.p);
	}
	unlink("robust-case.tmp");
	unlink("robust-stderr.tmp");
	printf("robust: %d passed, %d failed\n", nrun - nfail, nfail);
	for (int s = 0; s < ns; s++)
		free(samples[s].p);
	return nfail ? 1 : 0;
}
