/* cli.c: the command line of every program trac generates.
 *
 *   ./prog [--input NAME=FILE.npy]... [--output NAME=FILE.npy]...
 *          [--output-dir DIR] [--random[=SEED]] [--threads N] [--repeat N]
 *          [--time] [--trace FILE.json] [--stats] [--help] [--version]
 *
 * A generated program's main is one call, trart_main(&program, argc,
 * argv), so every program behaves alike and exactly like
 * `trac --interpret` on the same options (compiler/driver.c): the same
 * messages, the same exit statuses, the same files. A run is
 *
 *   parse -> allocate -> read inputs -> execute (--repeat times)
 *         -> report (--time, --stats) -> write outputs and trace
 *
 * and an error at any step stops it there. Usage errors (exit 2) are all
 * found while parsing, before anything is read or created: the program
 * is known up front, so an --input naming a tensor that is not an input
 * is caught with the rest. Errors in data or I/O (exit 1) are one line
 * naming the tensor and what was expected; trart_npy_read's messages
 * already read that way and are passed through.
 *
 * A failed run changes no file. The run's files, outputs and trace, are
 * one transaction: each is written to a fresh name beside its
 * destination, and only when all of them are written are they renamed
 * into place; on any failure the staged files are removed and every
 * destination is as it was. (Removing outputs already written, as
 * trac --interpret does, would delete the user's file when an output
 * overwrites the file an input was read from.) A destination that is
 * not a regular file (/dev/null, a FIFO) is written in place, since a
 * rename would replace it.
 *
 * Every tensor gets one buffer from the runtime, 64-byte aligned and
 * padded to a multiple of 64 bytes so kernels may use aligned vector
 * loads and stores up to the padded end, and zeroed, so that a kernel
 * that accumulates into its output, and the padding, start from known
 * bytes. Inputs are read by trart_npy_read into its own buffer and
 * copied into theirs, so all buffers look alike to the kernels.
 *
 * trart_main is a library function inside the user's process: it never
 * calls exit, frees everything it allocated on every path, and calls
 * trart_shutdown to stop the worker threads before it returns.
 */
#define _POSIX_C_SOURCE 200809L
#define _XOPEN_SOURCE 700 /* realpath */

#include "trart.h"
#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef __GNUC__
#define CLI_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CLI_PRINTF(f, a)
#endif

/* What trart_main returns; CLI_DONE only travels inside this file. */
enum {
	CLI_OK = 0,    /* success */
	CLI_ERROR = 1, /* an error in data or I/O */
	CLI_USAGE = 2, /* a usage error */
	CLI_DONE = 3,  /* --help or --version answered: stop, successfully */
};

#define CLI_ALIGN 64                 /* buffer alignment and padding */
#define CLI_MAX_REPEAT 1000000000L   /* --repeat's bound */

/* The parsed command line. */
typedef struct CliOpts {
	const char **in_path;   /* per tensor: --input's file, or NULL */
	const char **out_path;  /* per tensor: --output's file, or NULL */
	const char *output_dir; /* --output-dir, or NULL for "." */
	bool random;            /* --random given */
	uint64_t seed;          /* its seed (0 by default) */
	int threads;            /* --threads; 0: the online cores */
	long repeat;            /* --repeat, >= 1 */
	bool time;              /* --time */
	bool stats;             /* --stats */
	const char *trace;      /* --trace's file, or NULL */
} CliOpts;

/* A run's buffers and measurements. */
typedef struct CliRun {
	void **bufs;         /* per tensor: its buffer */
	size_t *bytes;       /* per tensor: its elements' bytes, unpadded */
	double tensor_bytes; /* the sum of bytes */
	int64_t *times;      /* per run: trart_execute's time, for --time */
	bool profiling;      /* prof is set up and attached */
	TrartProfile prof;   /* per-kernel times, for --stats and --trace */
} CliRun;

enum { OPT_INPUT = 256, OPT_OUTPUT, OPT_OUTPUT_DIR, OPT_RANDOM, OPT_THREADS,
       OPT_REPEAT, OPT_TIME, OPT_TRACE, OPT_STATS, OPT_HELP, OPT_VERSION, OPT_NO_STEAL };

static const struct option cli_longopts[] = {
	{"input", required_argument, NULL, OPT_INPUT},
	{"output", required_argument, NULL, OPT_OUTPUT},
	{"output-dir", required_argument, NULL, OPT_OUTPUT_DIR},
	{"random", optional_argument, NULL, OPT_RANDOM},
	{"threads", required_argument, NULL, OPT_THREADS},
	{"repeat", required_argument, NULL, OPT_REPEAT},
	{"time", no_argument, NULL, OPT_TIME},
	{"trace", required_argument, NULL, OPT_TRACE},
	{"stats", no_argument, NULL, OPT_STATS},
	{"no-steal", no_argument, NULL, OPT_NO_STEAL},
	{"help", no_argument, NULL, OPT_HELP},
	{"version", no_argument, NULL, OPT_VERSION},
	{NULL, 0, NULL, 0},
};

static const char cli_options_help[] =
	"Options:\n"
	"  --input NAME=FILE.npy   read input NAME from a .npy file\n"
	"  --output NAME=FILE.npy  write output NAME to a .npy file\n"
	"  --output-dir DIR        write the other outputs to DIR/NAME.npy (default: .)\n"
	"  --random[=SEED]         fill inputs not given with uniform values in [-1, 1)\n"
	"                          drawn from SEED (default 0)\n"
	"  --threads N             run on N threads (default: the %d online cores)\n"
	"  --repeat N              run the computation N times (default 1)\n"
	"  --time                  print 'time: runs=N median_ms=X min_ms=Y' to stderr\n"
	"  --trace FILE.json       write a Chrome/Perfetto trace of the kernel runs\n"
	"  --stats                 print each kernel's calls, time and GFLOP/s to stderr\n"
	"  --no-steal              run each block task on the worker its placement names\n"
	"  --help                  print this help and exit\n"
	"  --version               print the version and exit\n"
	"\n"
	"Exit status: 0 success, 1 errors in the data or I/O, 2 usage errors.\n";

/* ---- messages ---- */

static const char *
cli_name(const TrartProgram *p)
{
	return p->name ? p->name : "program";
}

/* A usage error: "PROG: error: ...", a hint; returns CLI_USAGE. */
static int CLI_PRINTF(2, 3)
cli_usage_error(const TrartProgram *p, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: error: ", cli_name(p));
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\ntry '%s --help'\n", cli_name(p));
	return CLI_USAGE;
}

/* An error in data or I/O: one line; returns CLI_ERROR. */
static int CLI_PRINTF(2, 3)
cli_error(const TrartProgram *p, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: error: ", cli_name(p));
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	putc('\n', stderr);
	return CLI_ERROR;
}

/* ---- the program's tensors ---- */

static bool
cli_is_input(TrartTensorKind k)
{
	return k == TRART_INPUT || k == TRART_INOUT;
}

static bool
cli_is_output(TrartTensorKind k)
{
	return k == TRART_OUTPUT || k == TRART_INOUT;
}

/* The tensor called name (len bytes), or -1. */
static int
cli_find(const TrartProgram *p, const char *name, size_t len)
{
	int i;

	for (i = 0; i < p->ntensors; i++)
		if (strlen(p->tensors[i].name) == len &&
		    memcmp(p->tensors[i].name, name, len) == 0)
			return i;
	return -1;
}

/* A tensor's shape as the language writes it: "[5, 3]", "" for a scalar. */
static const char *
cli_shape(char *buf, size_t size, const TrartTensor *t)
{
	size_t n = 0;
	int d;

	buf[0] = '\0';
	for (d = 0; d < t->rank && n < size; d++)
		n += (size_t)snprintf(buf + n, size - n, "%s%" PRId64,
		                      d ? ", " : "[", t->shape[d]);
	if (t->rank > 0 && n < size)
		snprintf(buf + n, size - n, "]");
	return buf;
}

/* The element count of t, and its bytes; -1 if they overflow size_t. */
static int
cli_tensor_bytes(const TrartTensor *t, size_t *count, size_t *bytes)
{
	size_t n = 1, el = trart_dtype_size(t->dtype);
	int d;

	for (d = 0; d < t->rank; d++) {
		if (t->shape[d] < 0 || (t->shape[d] > 0 &&
		    n > SIZE_MAX / el / (uint64_t)t->shape[d]))
			return -1;
		n *= (size_t)t->shape[d];
	}
	*count = n;
	*bytes = n * el;
	return 0;
}

/* ---- --help and --version ---- */

/* The lines of --help that list the tensors of one role. */
static void
cli_help_tensors(const TrartProgram *p, bool (*role)(TrartTensorKind),
                 const char *also)
{
	char shape[TRART_MAX_RANK * 22 + 4];
	int i;

	for (i = 0; i < p->ntensors; i++) {
		const TrartTensor *t = &p->tensors[i];
		if (!role(t->kind))
			continue;
		printf("  %s%s %s%s%s\n", t->name, cli_shape(shape, sizeof shape, t),
		       trart_dtype_name(t->dtype), t->rank ? "" : " (scalar)",
		       t->kind == TRART_INOUT ? also : "");
	}
}

static void
cli_help(const TrartProgram *p)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);

	printf("usage: %s [options]\n\n", cli_name(p));
	printf("A tensor program generated by trac %s.\n\n",
	       p->version ? p->version : "?");
	printf("Inputs (--input NAME=FILE.npy, or --random):\n");
	cli_help_tensors(p, cli_is_input, " (also an output)");
	printf("Outputs (--output NAME=FILE.npy, or DIR/NAME.npy):\n");
	cli_help_tensors(p, cli_is_output, " (also an input)");
	printf("\n");
	printf(cli_options_help, cores > 0 ? (int)cores : 1);
}

/* ---- parsing ---- */

/* The names of the tensors of a role, "X, s, Z", for messages. */
static void
cli_role_names(const TrartProgram *p, bool (*role)(TrartTensorKind),
               char *buf, size_t size)
{
	size_t n = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i < p->ntensors && n < size; i++)
		if (role(p->tensors[i].kind))
			n += (size_t)snprintf(buf + n, size - n, "%s%s", n ? ", " : "",
			                      p->tensors[i].name);
}

/* --input/--output NAME=FILE.npy: the tensor must have the role, and be
 * named once. */
static int
cli_named(const TrartProgram *p, const char **paths, const char *opt,
          const char *arg, bool (*role)(TrartTensorKind), const char *what)
{
	const char *eq = strchr(arg, '=');
	char names[TRART_ERRLEN];
	int i, len;

	if (!eq || eq == arg || eq[1] == '\0')
		return cli_usage_error(p, "%s expects NAME=FILE.npy, not '%s'", opt, arg);
	len = (int)(eq - arg);
	i = cli_find(p, arg, (size_t)len);
	if (i < 0 || !role(p->tensors[i].kind)) {
		cli_role_names(p, role, names, sizeof names);
		return cli_usage_error(p, "%s %.*s: the program has no %s named "
		                       "'%.*s' (its %ss: %s)", opt, len, arg, what,
		                       len, arg, what, names);
	}
	if (paths[i])
		return cli_usage_error(p, "%s %.*s is given twice", opt, len, arg);
	paths[i] = eq + 1;
	return CLI_OK;
}

/* A whole number in [1, max] for opt, into *v. */
static int
cli_count(const TrartProgram *p, const char *opt, const char *arg, long max,
          long *v)
{
	char *end;

	errno = 0;
	*v = arg[0] >= '0' && arg[0] <= '9' ? strtol(arg, &end, 10) : 0;
	if (*v < 1 || *v > max || errno || *end)
		return cli_usage_error(p, "%s needs a whole number from 1 to %ld, "
		                       "not '%s'", opt, max, arg);
	return CLI_OK;
}

/* --random[=SEED]: the seed is a non-negative integer. */
static int
cli_seed(const TrartProgram *p, CliOpts *o, const char *arg)
{
	char *end;

	o->random = true;
	if (!arg)
		return CLI_OK;
	errno = 0;
	o->seed = arg[0] >= '0' && arg[0] <= '9' ? strtoull(arg, &end, 10) : 0;
	if (arg[0] < '0' || arg[0] > '9' || errno || *end)
		return cli_usage_error(p, "--random=SEED needs a non-negative "
		                       "integer seed, not '%s'", arg);
	return CLI_OK;
}

/* A file or directory name that must not be empty. */
static int
cli_path(const TrartProgram *p, const char *opt, const char *arg,
         const char **dst)
{
	if (arg[0] == '\0')
		return cli_usage_error(p, "%s needs a non-empty path", opt);
	*dst = arg;
	return CLI_OK;
}

/* How many long options the name in arg ("--t=1": "t") abbreviates;
 * 1 when it is one exactly ("--output" is not ambiguous). */
static int
cli_matches(const char *arg)
{
	size_t len = strcspn(arg + 2, "=");
	int i, n = 0;

	for (i = 0; cli_longopts[i].name; i++) {
		if (strncmp(cli_longopts[i].name, arg + 2, len) != 0)
			continue;
		if (cli_longopts[i].name[len] == '\0')
			return 1;
		n++;
	}
	return n;
}

/* What getopt_long could not parse. */
static int
cli_bad_option(const TrartProgram *p, int c, char **argv)
{
	const char *arg = argv[optind - 1];

	if (strncmp(arg, "--", 2) == 0 && cli_matches(arg) > 1)
		return cli_usage_error(p, "option '%s' is ambiguous: spell it out", arg);
	if (c == ':')
		return cli_usage_error(p, "option '%s' needs a value", arg);
	if (optopt >= OPT_INPUT)
		return cli_usage_error(p, "option '%s' takes no value", arg);
	if (optopt > 0)
		return cli_usage_error(p, "unknown option '-%c'", optopt);
	return cli_usage_error(p, "unknown option '%s'", arg);
}

/* One option; returns CLI_OK to go on. */
static int
cli_option(const TrartProgram *p, CliOpts *o, int c, char **argv)
{
	long v = 0;
	int rc;

	switch (c) {
	case OPT_INPUT:
		return cli_named(p, o->in_path, "--input", optarg, cli_is_input, "input");
	case OPT_OUTPUT:
		return cli_named(p, o->out_path, "--output", optarg, cli_is_output, "output");
	case OPT_OUTPUT_DIR: return cli_path(p, "--output-dir", optarg, &o->output_dir);
	case OPT_RANDOM: return cli_seed(p, o, optarg);
	case OPT_THREADS:
		rc = cli_count(p, "--threads", optarg, TRART_MAX_THREADS, &v);
		o->threads = (int)v;
		return rc;
	case OPT_REPEAT: return cli_count(p, "--repeat", optarg, CLI_MAX_REPEAT, &o->repeat);
	case OPT_TIME: o->time = true; return CLI_OK;
	case OPT_TRACE: return cli_path(p, "--trace", optarg, &o->trace);
	case OPT_STATS: o->stats = true; return CLI_OK;
	case OPT_NO_STEAL: trart_set_steal(false); return CLI_OK;
	case OPT_HELP: cli_help(p); return CLI_DONE;
	case OPT_VERSION:
		printf("%s (trac %s)\n", cli_name(p), p->version ? p->version : "?");
		return CLI_DONE;
	default: return cli_bad_option(p, c, argv);
	}
}

/* Parses argv into o; CLI_OK to run, or what trart_main returns. */
static int
cli_parse(const TrartProgram *p, CliOpts *o, int argc, char **argv)
{
	int c, rc = CLI_OK;

	opterr = 0;
	optind = 0; /* a full reset, should trart_main run twice */
	while (rc == CLI_OK &&
	       (c = getopt_long(argc, argv, ":", cli_longopts, NULL)) != -1)
		rc = cli_option(p, o, c, argv);
	if (rc == CLI_OK && optind < argc)
		rc = cli_usage_error(p, "unexpected argument '%s' (a seed is given "
		                     "as --random=SEED)", argv[optind]);
	return rc;
}

/* ---- buffers ---- */

/* A zeroed buffer of bytes, aligned and padded to CLI_ALIGN. */
static void *
cli_buffer(size_t bytes)
{
	size_t size = (bytes + CLI_ALIGN - 1) / CLI_ALIGN * CLI_ALIGN;
	void *buf;

	if (size == 0)
		size = CLI_ALIGN;
	if (size < bytes || posix_memalign(&buf, CLI_ALIGN, size) != 0)
		return NULL;
	memset(buf, 0, size);
	trart_mem_account((double)size);
	return buf;
}

/* Whether tensor i's buffer is the task graph's to allocate, from its
 * pool, only while the tensor is in flight (a block-task program's
 * intermediates). */
static bool
cli_pooled(const TrartProgram *p, int i)
{
	const TrartTaskGraph *g = p->tasks;

	return g && g->pooled && i < g->nbufs && g->pooled[i] > 0;
}

/* Allocates every tensor's buffer that the run needs up front. */
static int
cli_alloc(const TrartProgram *p, CliRun *r)
{
	size_t count;
	int i;

	r->bufs = calloc((size_t)p->ntensors + 1, sizeof *r->bufs);
	r->bytes = calloc((size_t)p->ntensors + 1, sizeof *r->bytes);
	if (!r->bufs || !r->bytes)
		return cli_error(p, "out of memory");
	for (i = 0; i < p->ntensors; i++) {
		const TrartTensor *t = &p->tensors[i];
		if (cli_tensor_bytes(t, &count, &r->bytes[i]) < 0)
			return cli_error(p, "tensor %s is too large for this machine", t->name);
		r->tensor_bytes += (double)r->bytes[i];
		if (cli_pooled(p, i))
			continue;
		r->bufs[i] = cli_buffer(r->bytes[i]);
		if (!r->bufs[i])
			return cli_error(p, "tensor %s: cannot allocate %zu bytes",
			                 t->name, r->bytes[i]);
	}
	return CLI_OK;
}

static void
cli_free_run(const TrartProgram *p, CliRun *r)
{
	int i;

	for (i = 0; r->bufs && i < p->ntensors; i++)
		free(r->bufs[i]);
	free(r->bufs);
	free(r->bytes);
	free(r->times);
	if (r->profiling)
		trart_exec_profile(NULL);
	trart_profile_free(&r->prof);
}

/* ---- inputs ---- */

/* Reads input i from path into its buffer. */
static int
cli_read(const TrartProgram *p, CliRun *r, int i, const char *path)
{
	const TrartTensor *t = &p->tensors[i];
	char who[TRART_ERRLEN], err[TRART_ERRLEN];
	void *raw;

	snprintf(who, sizeof who, "input %s", t->name);
	if (trart_npy_read(path, who, t->dtype, t->rank, t->shape, &raw, err,
	                   sizeof err) != 0)
		return cli_error(p, "%s", err);
	trart_mem_account((double)r->bytes[i]); /* the reader's own copy */
	memcpy(r->bufs[i], raw, r->bytes[i]);
	free(raw);
	trart_mem_account(-(double)r->bytes[i]);
	return CLI_OK;
}

/* Fills input i from --input or --random, or says it is missing. */
static int
cli_load(const TrartProgram *p, const CliOpts *o, CliRun *r, int i)
{
	const TrartTensor *t = &p->tensors[i];

	if (o->in_path[i])
		return cli_read(p, r, i, o->in_path[i]);
	if (!o->random)
		return cli_error(p, "input %s is missing: give --input %s=FILE.npy "
		                 "or --random", t->name, t->name);
	trart_random_fill(r->bufs[i], t->dtype,
	                  r->bytes[i] / trart_dtype_size(t->dtype), o->seed, t->name);
	return CLI_OK;
}

static int
cli_load_inputs(const TrartProgram *p, const CliOpts *o, CliRun *r)
{
	int i, rc = CLI_OK;

	for (i = 0; i < p->ntensors && rc == CLI_OK; i++)
		if (cli_is_input(p->tensors[i].kind))
			rc = cli_load(p, o, r, i);
	return rc;
}

/* ---- running and reporting ---- */

/* Sets up what --time, --stats and --trace need, before the first run,
 * so that nothing is allocated while the clock runs. */
static int
cli_prepare(const TrartProgram *p, const CliOpts *o, CliRun *r)
{
	size_t events = 0;

	if (o->time && !(r->times = malloc((size_t)o->repeat * sizeof *r->times)))
		return cli_error(p, "--time: cannot keep %ld timings: out of memory",
		                 o->repeat);
	if (!o->stats && !o->trace)
		return CLI_OK;
	size_t runs = (size_t)p->nkernels + (p->tasks ? (size_t)p->tasks->ntasks : 0);
	if (o->trace && runs > SIZE_MAX / (size_t)o->repeat)
		return cli_error(p, "--trace: too many kernel runs to record");
	if (o->trace)
		events = runs * (size_t)o->repeat;
	if (trart_profile_init(&r->prof, p, events) != 0)
		return cli_error(p, "%s: cannot record %zu kernel runs: out of memory",
		                 o->trace ? "--trace" : "--stats", events);
	trart_exec_profile(&r->prof);
	r->profiling = true;
	return CLI_OK;
}

/* Runs the kernels --repeat times, timing each run. */
static void
cli_compute(const TrartProgram *p, const CliOpts *o, CliRun *r)
{
	int threads;
	long i;

	trart_set_threads(o->threads);
	threads = trart_threads();
	for (i = 0; i < o->repeat; i++) {
		int64_t start = trart_clock_ns();
		trart_execute(p, r->bufs, threads);
		if (r->times)
			r->times[i] = trart_clock_ns() - start;
	}
}

static int
cli_cmp_time(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* The --time line: median and minimum over the runs. */
static void
cli_print_time(const CliOpts *o, CliRun *r)
{
	size_t n = (size_t)o->repeat;
	double median;

	qsort(r->times, n, sizeof *r->times, cli_cmp_time);
	median = n % 2 ? (double)r->times[n / 2]
	               : ((double)r->times[n / 2 - 1] + (double)r->times[n / 2]) / 2;
	fprintf(stderr, "time: runs=%ld median_ms=%.6f min_ms=%.6f\n", o->repeat,
	        median / 1e6, (double)r->times[0] / 1e6);
}

static void
cli_report(const CliOpts *o, CliRun *r)
{
	if (o->time)
		cli_print_time(o, r);
	if (o->stats)
		trart_stats_print(&r->prof, stderr, (int)o->repeat, trart_threads(),
		                  r->tensor_bytes, trart_mem_peak());
}

/* ---- outputs ---- */

/* A file the run writes: staged beside its destination, and renamed onto
 * it only once every file of the run is written, so a failure leaves the
 * destinations as they were (even when one of them is an input's file). */
typedef struct CliFile {
	int tensor;  /* the output it holds, or -1 for the trace */
	char *path;  /* the destination as the user named it, for messages */
	char *dest;  /* where it goes: path, or the file a symlink names */
	char *stage; /* the staged copy; NULL when dest is written in place */
} CliFile;

/* All the files of a run. */
typedef struct CliFiles {
	CliFile *f; /* room for every output and the trace */
	int n;      /* staged so far */
} CliFiles;

/* mkdir -p DIR, as trac --interpret does. */
static int
cli_make_dir(const TrartProgram *p, const char *dir)
{
	char *path = strdup(dir), *s;
	struct stat st;
	bool ok = path != NULL;

	for (s = path ? path + 1 : NULL; ok; s++) {
		bool end = *s == '\0';
		if (*s != '/' && !end)
			continue;
		*s = '\0';
		ok = mkdir(path, 0777) == 0 || errno == EEXIST;
		if (end)
			break;
		*s = '/';
	}
	if (ok && (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))) {
		ok = false;
		errno = ENOTDIR;
	}
	free(path);
	if (!ok)
		return cli_error(p, "cannot create the output directory '%s': %s",
		                 dir, strerror(errno));
	return CLI_OK;
}

/* Where output i goes: --output's file, or DIR/NAME.npy; NULL when out
 * of memory. The caller frees it. */
static char *
cli_output_path(const TrartProgram *p, const CliOpts *o, int i)
{
	const char *dir = o->output_dir ? o->output_dir : ".";
	size_t len = strlen(dir) + strlen(p->tensors[i].name) + 6;
	char *path;

	if (o->out_path[i])
		return strdup(o->out_path[i]);
	path = malloc(len);
	if (path)
		snprintf(path, len, "%s/%s.npy", dir, p->tensors[i].name);
	return path;
}

/* The name a file's messages start with: "output Y" or "trace". */
static const char *
cli_label(const TrartProgram *p, const CliFile *f, char *buf, size_t size)
{
	if (f->tensor < 0)
		return "trace";
	snprintf(buf, size, "output %s", p->tensors[f->tensor].name);
	return buf;
}

/* Reserves a fresh name beside dest (an empty file, created exclusively
 * so that no one else's file is taken); NULL with errno on failure. */
static char *
cli_reserve(const char *dest)
{
	size_t size = strlen(dest) + 40;
	char *stage = malloc(size);
	unsigned attempt;
	int fd = -1;

	for (attempt = 0; stage && attempt < 100 && fd < 0; attempt++) {
		snprintf(stage, size, "%s.stage%ld.%u", dest, (long)getpid(), attempt);
		fd = open(stage, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	if (fd >= 0) {
		close(fd);
		return stage;
	}
	free(stage);
	return NULL;
}

/* Sets up f to write path (which it takes over): staged, or in place when
 * path is not a regular file (/dev/null, a FIFO), which a rename would
 * replace. A symbolic link is followed, as trart_npy_write does. */
static int
cli_stage(const TrartProgram *p, CliFile *f, int tensor, char *path)
{
	struct stat st;
	char who[TRART_ERRLEN];

	*f = (CliFile){tensor, path, NULL, NULL};
	if (!path)
		return cli_error(p, "out of memory");
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
		return (f->dest = strdup(path)) ? CLI_OK : cli_error(p, "out of memory");
	if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
		f->dest = realpath(path, NULL);
	if (!f->dest && !(f->dest = strdup(path)))
		return cli_error(p, "out of memory");
	if (!(f->stage = cli_reserve(f->dest)))
		return cli_error(p, "%s: %s: cannot create a file next to it: %s",
		                 cli_label(p, f, who, sizeof who), path, strerror(errno));
	return CLI_OK;
}

/* Reports a writer's error, naming the user's path, not the staged one. */
static int
cli_write_error(const TrartProgram *p, const CliFile *f, const char *err)
{
	char who[TRART_ERRLEN];
	const char *label = cli_label(p, f, who, sizeof who);
	size_t lead = strlen(label) + 2, slen = f->stage ? strlen(f->stage) : 0;

	if (f->stage && strlen(err) >= lead + slen + 2 &&
	    strncmp(err + lead, f->stage, slen) == 0 &&
	    strncmp(err + lead + slen, ": ", 2) == 0)
		return cli_error(p, "%s: %s%s", label, f->path, err + lead + slen);
	return cli_error(p, "%s", err);
}

/* Writes output i into its staged file. */
static int
cli_write_output(const TrartProgram *p, const CliOpts *o, const CliRun *r,
                 int i, CliFiles *files)
{
	const TrartTensor *t = &p->tensors[i];
	CliFile *f = &files->f[files->n++];
	char who[TRART_ERRLEN], err[TRART_ERRLEN];
	int rc = cli_stage(p, f, i, cli_output_path(p, o, i));

	snprintf(who, sizeof who, "output %s", t->name);
	if (rc == CLI_OK &&
	    trart_npy_write(f->stage ? f->stage : f->dest, who, t->dtype, t->rank,
	                    t->shape, r->bufs[i], err, sizeof err) != 0)
		rc = cli_write_error(p, f, err);
	return rc;
}

/* Writes the --trace file into its staged file. */
static int
cli_write_trace(const TrartProgram *p, const CliOpts *o, const CliRun *r,
                CliFiles *files)
{
	CliFile *f = &files->f[files->n++];
	char err[TRART_ERRLEN];
	int rc = cli_stage(p, f, -1, strdup(o->trace));

	if (rc == CLI_OK &&
	    trart_trace_write(&r->prof, f->stage ? f->stage : f->dest, err,
	                      sizeof err) != 0)
		rc = cli_write_error(p, f, err);
	return rc;
}

/* Renames every staged file onto its destination. */
static int
cli_commit(const TrartProgram *p, CliFiles *files)
{
	char who[TRART_ERRLEN];
	int i;

	for (i = 0; i < files->n; i++) {
		CliFile *f = &files->f[i];
		if (!f->stage)
			continue;
		if (rename(f->stage, f->dest) != 0)
			return cli_error(p, "%s: %s: cannot rename the written file "
			                 "onto it: %s", cli_label(p, f, who, sizeof who),
			                 f->path, strerror(errno));
		free(f->stage);
		f->stage = NULL;
	}
	return CLI_OK;
}

/* Removes what is still staged, and frees the list. */
static void
cli_discard(CliFiles *files)
{
	int i;

	for (i = 0; i < files->n; i++) {
		if (files->f[i].stage)
			unlink(files->f[i].stage);
		free(files->f[i].stage);
		free(files->f[i].dest);
		free(files->f[i].path);
	}
	free(files->f);
}

/* Writes every output and the trace, or none of them. */
static int
cli_write_all(const TrartProgram *p, const CliOpts *o, const CliRun *r)
{
	CliFiles files = {calloc((size_t)p->ntensors + 1, sizeof *files.f), 0};
	int i, rc = files.f ? CLI_OK : cli_error(p, "out of memory");

	if (rc == CLI_OK && o->output_dir)
		rc = cli_make_dir(p, o->output_dir);
	for (i = 0; i < p->ntensors && rc == CLI_OK; i++)
		if (cli_is_output(p->tensors[i].kind))
			rc = cli_write_output(p, o, r, i, &files);
	if (rc == CLI_OK && o->trace)
		rc = cli_write_trace(p, o, r, &files);
	if (rc == CLI_OK)
		rc = cli_commit(p, &files);
	cli_discard(&files);
	return rc;
}

/* ---- the whole ---- */

/* --help and --version printed to stdout: a full disk or a closed pipe
 * is an error too, not a silent success. */
static int
cli_flush(const TrartProgram *p)
{
	if (fflush(stdout) != 0 || ferror(stdout))
		return cli_error(p, "cannot write to standard output: %s",
		                 strerror(errno));
	return CLI_OK;
}

/* Everything after parsing. */
static int
cli_run(const TrartProgram *p, const CliOpts *o)
{
	CliRun r;
	int rc;

	memset(&r, 0, sizeof r);
	rc = cli_alloc(p, &r);
	if (rc == CLI_OK)
		rc = cli_load_inputs(p, o, &r);
	if (rc == CLI_OK)
		rc = cli_prepare(p, o, &r);
	if (rc == CLI_OK) {
		cli_compute(p, o, &r);
		cli_report(o, &r);
		rc = cli_write_all(p, o, &r);
	}
	cli_free_run(p, &r);
	return rc;
}

int
trart_main(const TrartProgram *p, int argc, char **argv)
{
	CliOpts o;
	int rc;

	memset(&o, 0, sizeof o);
	o.repeat = 1;
	o.in_path = calloc((size_t)p->ntensors + 1, sizeof *o.in_path);
	o.out_path = calloc((size_t)p->ntensors + 1, sizeof *o.out_path);
	if (!o.in_path || !o.out_path)
		rc = cli_error(p, "out of memory");
	else
		rc = cli_parse(p, &o, argc, argv);
	if (rc == CLI_OK)
		rc = cli_run(p, &o);
	free(o.in_path);
	free(o.out_path);
	trart_shutdown();
	if (rc == CLI_DONE)
		rc = cli_flush(p);
	return rc;
}
