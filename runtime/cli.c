/* cli.c: the command line of every program trac generates.
 *
 *   ./prog [--input NAME=FILE.npy]... [--output NAME=FILE.npy]...
 *          [--output-dir DIR] [--random[=SEED]] [--threads N] [--repeat N]
 *          [--steps N] [--log-every K]
 *          [--time] [--trace FILE.json] [--stats] [--no-steal]
 *          [--spill-dir DIR] [--help] [--version]
 *
 * A generated program's main is one call, trart_main(&program, argc,
 * argv), so every program behaves alike and exactly like
 * `trac --interpret` on the same options (compiler/options.c and
 * driver.c): the same messages, the same exit statuses, the same files.
 * A run is
 *
 *   parse -> check files -> size (map files out of core) and allocate
 *         -> read inputs
 *         -> execute (--repeat times, or --steps) -> report (--time, --stats)
 *         -> write outputs and trace
 *
 * and an error at any step stops it there. Usage errors (exit 2) are all
 * found before anything is read or created: the program is known up
 * front, so an --input naming a tensor that is not an input is caught
 * with the rest, and so are two files of the run that are one file
 * (--output X=y.npy --output Y=./y.npy; trart_files_distinct). Errors in
 * data or I/O (exit 1) are one line naming the tensor and what was
 * expected; trart_npy_read's messages already read that way and are
 * passed through.
 *
 * A failed run changes no file. The run's files, outputs and trace, are
 * one transaction (files.c, which trac --interpret shares): each is
 * written to a fresh name beside its destination, and only when all of
 * them are written are they renamed into place; on any failure the
 * staged files are removed, and so are the directories --output-dir
 * created, and every destination is as it was.
 *
 * Every tensor gets one buffer from the runtime, 64-byte aligned and
 * padded to a multiple of 64 bytes so kernels may use aligned vector
 * loads and stores up to the padded end, and zeroed, so that a kernel
 * that accumulates into its output, and the padding, start from known
 * bytes. Inputs are read by trart_npy_read into its own buffer and
 * copied into theirs, so all buffers look alike to the kernels. Before
 * any buffer is allocated, their sum (with the largest tensor a task
 * graph pools) is compared with the machine's physical memory: a run
 * that cannot fit fails at once, naming the tensor whose allocation
 * would run out, instead of being killed by the kernel while it zeroes
 * pages it was promised by overcommit. Running out later (a failed
 * allocation here, or the block pool's mid-run) says the same, naming
 * the program and the tensor.
 *
 * Inputs and outputs out of core. A program whose plan reads input
 * blocks (READ memory tasks, spill.c) maps each --input file instead of
 * reading it, and one whose plan writes output blocks (WRITE) stages
 * each output file before it computes, mapped, so that the kernels
 * write the file's pages in place (files.c's trart_files_map): the
 * memory tasks then bring blocks in and write them back, and the tensor
 * never has to fit in memory. An input is mapped only where the mapping
 * is its data as the kernels want it: a regular file, the tensor's
 * exact little-endian dtype in C order (anything else is an error, the
 * same as trart_npy_read's), on a little-endian host, with its data at
 * a multiple of 64 bytes from the file's start (NumPy's headers are
 * padded so) so that the buffer is aligned. Else it is read whole, as
 * always, and so is an input that is also an output (the kernels write
 * it), and one filled by --random. An output goes the old way when its
 * destination is not a regular file (/dev/null: a rename would replace
 * it). The mapped files are not the program's memory: they are not
 * counted in the peak --stats prints, nor checked against the machine's
 * memory. A staged output exists during the whole run, so the run's
 * files are staged then, the output directory made, and the set guarded
 * (trart_files_guard): an error mid-run (trart_fatal) or SIGINT, SIGTERM
 * or SIGHUP removes the staged files before the program ends.
 *
 * A block-task program whose memory the compiler planned keeps the
 * intermediate tensors it offloads in a spill file (spill.c), in
 * --spill-dir's directory, else $TMPDIR, else /tmp; the file has no name
 * once created, so nothing is left behind whatever happens to the run.
 *
 * Training (--steps N): a program whose statements feed inputs of the
 * next step (trac's NEXT -> X; TrartProgram.feeds) runs N steps, and
 * between one step and the next copies each feeding output's buffer into
 * its input's: the state stays in memory, no file is read or written
 * between steps, and the outputs written are the last step's. A fed
 * input is read whole, never mapped (the copy writes it). On MPI ranks,
 * rank 0 copies and broadcasts each fed input to the others (cli_feed).
 * --log-every K prints the scalar outputs after every K-th step and the
 * last, to standard output, one line per step.
 *
 * --time keeps constant memory however large --repeat is: count,
 * minimum, mean, maximum, and a reservoir of CLI_SAMPLES run times for
 * the median (CliTimes).
 *
 * trart_main is a library function inside the user's process: it never
 * calls exit, frees everything it allocated on every path, and calls
 * trart_shutdown to stop the worker threads before it returns.
 */
#define _POSIX_C_SOURCE 200809L

#include "trart.h"
#include "exec.h"
#include "gpu.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
#define CLI_HUGE_MIN ((size_t)4 << 20) /* the size from which a buffer asks for huge pages */
#define CLI_MAX_REPEAT 1000000000L   /* --repeat's bound, and --steps's, --log-every's */
#define CLI_SAMPLES 1024             /* run times --time keeps for its median */

/* The parsed command line. */
typedef struct CliOpts {
	const char **in_path;   /* per tensor: --input's file, or NULL */
	const char **out_path;  /* per tensor: --output's file, or NULL */
	const char *output_dir; /* --output-dir, or NULL for "." */
	bool random;            /* --random given */
	uint64_t seed;          /* its seed (0 by default) */
	int threads;            /* --threads; 0: the online cores */
	long repeat;            /* --repeat, >= 1 */
	long steps;             /* --steps, >= 1 */
	long log_every;         /* --log-every, or 0: no log */
	bool time;              /* --time */
	bool stats;             /* --stats */
	const char *trace;      /* --trace's file, or NULL */
	const char *spill_dir;  /* --spill-dir, or NULL: $TMPDIR, else /tmp */
} CliOpts;

/* How many times the computation runs: --repeat's, or --steps's. */
static long
cli_runs(const CliOpts *o)
{
	return o->repeat * o->steps;
}

/* --time's statistics over every run, in constant memory: exact count,
 * minimum, mean and maximum, and the median of a uniform sample of at
 * most CLI_SAMPLES run times (reservoir sampling, Vitter's Algorithm R,
 * with a fixed seed), which is the exact median up to CLI_SAMPLES runs. */
typedef struct CliTimes {
	long n;                       /* runs timed */
	int64_t min, max;             /* their extremes, in ns */
	double sum;                   /* their sum, in ns, for the mean */
	int64_t sample[CLI_SAMPLES];  /* the reservoir: min(n, CLI_SAMPLES) */
	uint64_t rng;                 /* its random state (splitmix64) */
} CliTimes;

/* A run's buffers and measurements. */
typedef struct CliRun {
	void **bufs;         /* per tensor: its buffer */
	bool *mapped;        /* per tensor: its buffer is a file mapping's
	                        data (an input's or a staged output's), not
	                        allocated */
	void **maps;         /* per tensor: an input's mapping, or NULL */
	TrartFiles *fs;      /* the run's files, staged before it computes
	                        when it writes out of core; else NULL */
	size_t *bytes;       /* per tensor: its elements' bytes, unpadded */
	double tensor_bytes; /* the sum of bytes */
	CliTimes *times;     /* for --time, or NULL */
	bool profiling;      /* prof is set up and attached */
	TrartProfile prof;   /* per-kernel times, for --stats and --trace */
} CliRun;

enum { OPT_INPUT = 256, OPT_OUTPUT, OPT_OUTPUT_DIR, OPT_RANDOM, OPT_THREADS,
       OPT_REPEAT, OPT_TIME, OPT_TRACE, OPT_STATS, OPT_HELP, OPT_VERSION, OPT_NO_STEAL,
       OPT_SPILL_DIR, OPT_STEPS, OPT_LOG_EVERY };

static const struct option cli_longopts[] = {
	{"input", required_argument, NULL, OPT_INPUT},
	{"output", required_argument, NULL, OPT_OUTPUT},
	{"output-dir", required_argument, NULL, OPT_OUTPUT_DIR},
	{"random", optional_argument, NULL, OPT_RANDOM},
	{"threads", required_argument, NULL, OPT_THREADS},
	{"repeat", required_argument, NULL, OPT_REPEAT},
	{"steps", required_argument, NULL, OPT_STEPS},
	{"log-every", required_argument, NULL, OPT_LOG_EVERY},
	{"time", no_argument, NULL, OPT_TIME},
	{"trace", required_argument, NULL, OPT_TRACE},
	{"stats", no_argument, NULL, OPT_STATS},
	{"no-steal", no_argument, NULL, OPT_NO_STEAL},
	{"spill-dir", required_argument, NULL, OPT_SPILL_DIR},
	{"help", no_argument, NULL, OPT_HELP},
	{"version", no_argument, NULL, OPT_VERSION},
	{NULL, 0, NULL, 0},
};

/* --help's options: the head, then the lines that differ between a
 * block-task program and one of whole-node kernels, then the tail. */
static const char cli_options_head[] =
	"Options:\n"
	"  --input NAME=FILE.npy   read input NAME from a .npy file\n"
	"  --output NAME=FILE.npy  write output NAME to a .npy file\n"
	"  --output-dir DIR        write the other outputs to DIR/NAME.npy (default: .)\n"
	"  --random[=SEED]         fill inputs not given with uniform values in [-1, 1)\n"
	"                          (integers in [-64, 64)) drawn from SEED (default 0)\n"
	"  --threads N             run on N threads (default: the %d online cores)\n"
	"  --repeat N              run the computation N times (default 1)\n"
	"  --steps N               run N training steps, each output that feeds an input\n"
	"                          (NEXT -> X) copied into it between steps (default 1)\n"
	"  --log-every K           print the scalar outputs every K steps and after the\n"
	"                          last, as 'step S: NAME=VALUE ...', to stdout\n"
	"  --time                  print 'time: runs=N median_ms=X min_ms=Y mean_ms=Z\n"
	"                          max_ms=W' for the computation to stderr\n"
	"  --spill-dir DIR         put the spill file (tensors offloaded from memory) in\n"
	"                          DIR; none is left behind (default: $TMPDIR, else /tmp)\n";

static const char cli_options_tasks[] =
	"  --trace FILE.json       write a Chrome/Perfetto trace of the task runs,\n"
	"                          one track per worker thread\n"
	"  --stats                 print each worker's tasks, steals, busy time and\n"
	"                          GFLOP/s, and the memory held, to stderr\n"
	"  --no-steal              run each block task on the worker its placement names\n";

static const char cli_options_kernels[] =
	"  --trace FILE.json       write a Chrome/Perfetto trace of the kernel runs\n"
	"  --stats                 print each kernel's calls, time and GFLOP/s to stderr\n"
	"  --no-steal              accepted; no effect (this program runs whole-node\n"
	"                          kernels, not block tasks)\n";

static const char cli_options_tail[] =
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

/* On ranks, the errors found before the run are held until every rank
 * has looked (cli_agree), and then only the lowest rank with the worst
 * status says what it found: every rank reads the same command line and
 * the same files, so the message comes once, not once per rank. */
static struct {
	bool on;              /* hold messages rather than print them */
	char text[2 * TRART_ERRLEN]; /* what is held */
} cli_held;

/* Prints "PROG: error: " fmt and tail, or holds them (above). */
static void
cli_say(const TrartProgram *p, const char *tail, const char *fmt, va_list ap)
{
	char line[2 * TRART_ERRLEN];
	int n = snprintf(line, sizeof line, "%s: error: ", cli_name(p));

	if (n >= 0 && (size_t)n < sizeof line)
		vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	if (!cli_held.on) {
		fprintf(stderr, "%s%s", line, tail);
		return;
	}
	if (!cli_held.text[0]) /* the first error is what stopped this rank */
		snprintf(cli_held.text, sizeof cli_held.text, "%s%s", line, tail);
}

/* A usage error: "PROG: error: ...", a hint; returns CLI_USAGE. */
static int CLI_PRINTF(2, 3)
cli_usage_error(const TrartProgram *p, const char *fmt, ...)
{
	char tail[TRART_ERRLEN];
	va_list ap;

	snprintf(tail, sizeof tail, "\ntry '%s --help'\n", cli_name(p));
	va_start(ap, fmt);
	cli_say(p, tail, fmt, ap);
	va_end(ap);
	return CLI_USAGE;
}

/* An error in data or I/O: one line; returns CLI_ERROR. */
static int CLI_PRINTF(2, 3)
cli_error(const TrartProgram *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_say(p, "\n", fmt, ap);
	va_end(ap);
	return CLI_ERROR;
}

/* Whether this process is one of several ranks (trart_mpi_main). */
static const TrartComm *
cli_ranks(void)
{
	const TrartComm *c = trart_comm();

	return c && c->nranks > 1 ? c : NULL;
}

/* On ranks, a collective at the same point on every rank: the worst
 * status of all, whose message (held since the last such point) the
 * lowest rank that has it prints. One process: rc itself. */
static int
cli_agree(int rc)
{
	const TrartComm *c = cli_ranks();
	int first = 0, worst;

	if (!c)
		return rc;
	worst = c->agree(c->ctx, rc, &first);
	if (worst != CLI_OK && first == c->rank && cli_held.text[0])
		fputs(cli_held.text, stderr);
	cli_held.text[0] = '\0';
	return worst;
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
	printf("A tensor program generated by trac %s; it runs %s.\n\n",
	       p->version ? p->version : "?",
	       p->tasks ? "block tasks on worker threads" : "one kernel per node");
	printf("Inputs (--input NAME=FILE.npy, or --random):\n");
	cli_help_tensors(p, cli_is_input, " (also an output)");
	printf("Outputs (--output NAME=FILE.npy, or DIR/NAME.npy):\n");
	cli_help_tensors(p, cli_is_output, " (also an input)");
	printf("\n");
	printf(cli_options_head, cores > 0 ? (int)cores : 1);
	fputs(p->tasks ? cli_options_tasks : cli_options_kernels, stdout);
	fputs(cli_options_tail, stdout);
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
	case OPT_STEPS: return cli_count(p, "--steps", optarg, CLI_MAX_REPEAT, &o->steps);
	case OPT_LOG_EVERY: return cli_count(p, "--log-every", optarg, CLI_MAX_REPEAT, &o->log_every);
	case OPT_TIME: o->time = true; return CLI_OK;
	case OPT_TRACE: return cli_path(p, "--trace", optarg, &o->trace);
	case OPT_STATS: o->stats = true; return CLI_OK;
	case OPT_NO_STEAL: trart_set_steal(false); return CLI_OK;
	case OPT_SPILL_DIR: return cli_path(p, "--spill-dir", optarg, &o->spill_dir);
	case OPT_HELP: cli_help(p); return CLI_DONE;
	case OPT_VERSION:
		printf("%s (trac %s)\n", cli_name(p), p->version ? p->version : "?");
		return CLI_DONE;
	default: return cli_bad_option(p, c, argv);
	}
}

/* Whether tensor i is a scalar output, which --log-every prints. */
static bool
cli_logged(const TrartProgram *p, int i)
{
	return cli_is_output(p->tensors[i].kind) && p->tensors[i].rank == 0;
}

/* --steps and --log-every: for a program with training state, and not
 * with --repeat (which times one computation). */
static int
cli_check_steps(const TrartProgram *p, const CliOpts *o)
{
	int i, logged = 0;

	for (i = 0; i < p->ntensors; i++)
		logged += cli_logged(p, i);
	if ((o->steps > 1 || o->log_every) && p->nfeeds == 0)
		return cli_usage_error(p, "%s: this program has no training state (a "
		                       "statement 'NEXT -> X' that feeds input X); "
		                       "--repeat runs it again", o->steps > 1 ? "--steps" : "--log-every");
	if (o->steps > 1 && o->repeat > 1)
		return cli_usage_error(p, "--steps and --repeat: --repeat times one step; "
		                       "--time times every step of --steps");
	if (o->log_every && logged == 0)
		return cli_usage_error(p, "--log-every: this program has no scalar output to print");
	return CLI_OK;
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
	if (rc == CLI_OK)
		rc = cli_check_steps(p, o);
	return rc;
}

/* ---- buffers ---- */

/* Bytes a buffer of bytes takes: padded to CLI_ALIGN, at least one
 * CLI_ALIGN; 0 when that overflows. */
static size_t
cli_padded(size_t bytes)
{
	size_t size = (bytes + CLI_ALIGN - 1) / CLI_ALIGN * CLI_ALIGN;

	return bytes == 0 ? CLI_ALIGN : size < bytes ? 0 : size;
}

/* A zeroed buffer of bytes, aligned and padded to CLI_ALIGN. One of
 * CLI_HUGE_MIN bytes or more is aligned to a huge page and asks for
 * transparent huge pages before its first touch (this kernel's default
 * is "madvise", and NumPy asks the same for its arrays from 4 MiB): a
 * stream over it then crosses a page every 2 MiB, not every 4 KiB.
 * W5's one pass over its 400 MB X was faster in 8 of 10 interleaved
 * rounds (medians of 41 runs, 2 threads: 7.54-9.16 ms against
 * 8.19-9.19), and a plain two-thread sum over the same 400 MB took
 * 7.35-7.80 ms against 7.48-8.14. */
static void *
cli_buffer(size_t bytes)
{
	size_t size = cli_padded(bytes);
	size_t align = size >= CLI_HUGE_MIN ? TRART_HUGE_PAGE : CLI_ALIGN;
	void *buf;

	if (size == 0 || !(buf = trart_memalign(align, size)))
		return NULL;
	memset(buf, 0, size);
	trart_mem_account((double)size);
	return buf;
}

/* Whether tensor i's buffer is the task graph's to allocate, from its
 * pool, only while the tensor is in flight (a block-task program's
 * intermediates). An intermediate the memory plan keeps block by block
 * has no buffer of its own (pooled 0): its blocks are buffers of the
 * arena, and a kernel finds them through its task's views. */
static bool
cli_pooled(const TrartProgram *p, int i)
{
	const TrartTaskGraph *g = p->tasks;

	return g && g->pooled && i < g->nbufs &&
	       (g->pooled[i] > 0 || p->tensors[i].kind == TRART_TEMP);
}

/* "100000 x 100000 f32", "scalar f64": a tensor's size for messages. */
static const char *
cli_dims(char *buf, size_t size, const TrartTensor *t)
{
	size_t n = 0;
	int d;

	buf[0] = '\0';
	if (t->rank == 0)
		n = (size_t)snprintf(buf, size, "scalar ");
	for (d = 0; d < t->rank && n < size; d++)
		n += (size_t)snprintf(buf + n, size - n, "%" PRId64 "%s",
		                      t->shape[d], d + 1 < t->rank ? " x " : " ");
	if (n < size)
		snprintf(buf + n, size - n, "%s", trart_dtype_name(t->dtype));
	return buf;
}

/* "out of memory allocating 12.0 GB for tensor H (N x D f32)", and why
 * when known; returns CLI_ERROR. */
static int
cli_no_memory(const TrartProgram *p, int i, double bytes, const char *why)
{
	char size[32], dims[TRART_MAX_RANK * 22 + 16];

	return cli_error(p, "out of memory allocating %s for tensor %s (%s)%s",
	                 trart_size_text(size, sizeof size, bytes),
	                 p->tensors[i].name,
	                 cli_dims(dims, sizeof dims, &p->tensors[i]), why);
}

/* The machine's physical memory in bytes, or 0 when unknown. */
static double
cli_memory(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);

	return pages > 0 && page > 0 ? (double)pages * (double)page : 0;
}

/* Fails the run before anything is allocated when its tensors cannot
 * fit in the machine's physical memory at all: the buffers allocated up
 * front, and the largest pooled tensor (a lower bound on what the run
 * needs at once), or, when the graph's memory is planned, its arena.
 * Names the tensor whose allocation would run out, or the arena. */
static int
cli_check_memory(const TrartProgram *p, const CliRun *r)
{
	double have = cli_memory(), need = 0, pooled = 0, bytes = 0;
	/* (a graph on GPUs has its arenas there, not here) */
	double arena = p->tasks && p->tasks->arena > 0 && p->tasks->ngpus == 0 ? (double)p->tasks->arena : 0;
	char a[32], b[32], why[128];
	int i, culprit = -1, largest = -1;

	for (i = 0; i < p->ntensors; i++) {
		if (r->mapped[i])
			continue; /* a file's pages, not the program's memory */
		if (cli_pooled(p, i)) {
			if ((double)p->tasks->pooled[i] > pooled) {
				pooled = (double)p->tasks->pooled[i];
				largest = i;
			}
			continue;
		}
		need += (double)cli_padded(r->bytes[i]);
		if (culprit < 0 && need > have) {
			culprit = i;
			bytes = (double)r->bytes[i];
		}
	}
	need += arena > 0 ? arena : pooled;
	if (have <= 0 || need <= have)
		return CLI_OK;
	snprintf(why, sizeof why, ": the program's tensors need %s, more than "
	         "this machine's %s of memory",
	         trart_size_text(a, sizeof a, need),
	         trart_size_text(b, sizeof b, have));
	if (culprit >= 0)
		return cli_no_memory(p, culprit, bytes, why);
	if (arena > 0)
		return cli_error(p, "out of memory allocating %s for the arena of "
		                 "the intermediate tensors%s",
		                 trart_size_text(b, sizeof b, arena), why);
	return cli_no_memory(p, largest, pooled, why);
}

/* Sizes every tensor. */
static int
cli_size(const TrartProgram *p, CliRun *r)
{
	size_t n = (size_t)p->ntensors + 1, count;
	int i;

	r->bufs = calloc(n, sizeof *r->bufs);
	r->bytes = calloc(n, sizeof *r->bytes);
	r->mapped = calloc(n, sizeof *r->mapped);
	r->maps = calloc(n, sizeof *r->maps);
	if (!r->bufs || !r->bytes || !r->mapped || !r->maps)
		return cli_error(p, "out of memory");
	for (i = 0; i < p->ntensors; i++) {
		const TrartTensor *t = &p->tensors[i];
		if (cli_tensor_bytes(t, &count, &r->bytes[i]) < 0 ||
		    cli_padded(r->bytes[i]) == 0)
			return cli_error(p, "tensor %s is too large for this machine", t->name);
		r->tensor_bytes += (double)r->bytes[i];
	}
	return CLI_OK;
}

/* Checks that the tensors can fit, and allocates every buffer the run
 * needs up front (a mapped one is its file's). */
static int
cli_alloc(const TrartProgram *p, CliRun *r)
{
	int i, rc;

	if ((rc = cli_check_memory(p, r)) != CLI_OK)
		return rc;
	for (i = 0; i < p->ntensors; i++)
		if (!cli_pooled(p, i) && !r->mapped[i] &&
		    !(r->bufs[i] = cli_buffer(r->bytes[i])))
			return cli_no_memory(p, i, (double)r->bytes[i], "");
	return CLI_OK;
}

static void
cli_free_run(const TrartProgram *p, CliRun *r)
{
	int i;

	for (i = 0; r->bufs && i < p->ntensors; i++)
		if (!r->mapped[i])
			free(r->bufs[i]);
	for (i = 0; r->maps && i < p->ntensors; i++)
		if (r->maps[i])
			trart_unmap_file(r->maps[i]);
	trart_files_free(r->fs); /* staged outputs' mappings with it */
	free(r->bufs);
	free(r->mapped);
	free(r->maps);
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
	if (t->random_below > 0)
		trart_random_index(r->bufs[i], t->dtype, r->bytes[i] / trart_dtype_size(t->dtype),
		                   o->seed, t->name, t->random_below);
	else
		trart_random_fill(r->bufs[i], t->dtype,
		                  r->bytes[i] / trart_dtype_size(t->dtype), o->seed, t->name);
	return CLI_OK;
}

static int
cli_load_inputs(const TrartProgram *p, const CliOpts *o, CliRun *r)
{
	int i, rc = CLI_OK;

	for (i = 0; i < p->ntensors && rc == CLI_OK; i++)
		if (cli_is_input(p->tensors[i].kind) && !r->mapped[i])
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

	if (o->time && !(r->times = calloc(1, sizeof *r->times)))
		return cli_error(p, "--time: out of memory");
	if (!o->stats && !o->trace)
		return CLI_OK;
	size_t runs = (size_t)p->nkernels + (p->tasks ? (size_t)p->tasks->ntasks : 0);
	if (o->trace && runs > SIZE_MAX / (size_t)cli_runs(o))
		return cli_error(p, "--trace: too many kernel runs to record");
	if (o->trace)
		events = runs * (size_t)cli_runs(o);
	if (trart_profile_init(&r->prof, p, events) != 0)
		return cli_error(p, "%s: cannot record %zu kernel runs: out of memory",
		                 o->trace ? "--trace" : "--stats", events);
	trart_exec_profile(&r->prof);
	r->profiling = true;
	return CLI_OK;
}

/* splitmix64: the reservoir's random numbers. */
static uint64_t
cli_next_random(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* Adds one run's time to the statistics, in constant time and memory. */
static void
cli_add_time(CliTimes *t, int64_t ns)
{
	uint64_t j;

	if (t->n == 0 || ns < t->min)
		t->min = ns;
	if (t->n == 0 || ns > t->max)
		t->max = ns;
	t->sum += (double)ns;
	if (t->n < CLI_SAMPLES) {
		t->sample[t->n] = ns;
	} else {
		j = cli_next_random(&t->rng) % (uint64_t)(t->n + 1);
		if (j < CLI_SAMPLES)
			t->sample[j] = ns;
	}
	t->n++;
}

/* --log-every's line for step: "step 100: loss=0.693147 acc=0.5". */
static void
cli_log_step(const TrartProgram *p, const CliRun *r, long step)
{
	int i;

	printf("step %ld:", step);
	for (i = 0; i < p->ntensors; i++) {
		const void *v = r->bufs[i];
		if (!cli_logged(p, i))
			continue;
		printf(" %s=", p->tensors[i].name);
		switch (p->tensors[i].dtype) {
		case TRART_F32: printf("%.9g", (double)*(const float *)v); break;
		case TRART_F64: printf("%.17g", *(const double *)v); break;
		case TRART_I32: printf("%" PRId32, *(const int32_t *)v); break;
		case TRART_I64: printf("%" PRId64, *(const int64_t *)v); break;
		}
	}
	putchar('\n');
}

/* The state of the next step: every feeding output into its input. On
 * ranks, rank 0 alone has the whole output (it is sent every final
 * block), so it copies, and every rank then takes the input from it:
 * each rank reads its inputs' blocks from its own memory. */
static void
cli_feed(const TrartProgram *p, const CliRun *r)
{
	const TrartComm *c = cli_ranks();
	int k;

	for (k = 0; k < p->nfeeds; k++) {
		int from = p->feeds[2 * k], to = p->feeds[2 * k + 1];

		if (!c || c->rank == 0)
			memcpy(r->bufs[to], r->bufs[from], r->bytes[to]);
		if (c)
			c->bcast(c->ctx, r->bufs[to], r->bytes[to], 0);
	}
}

/* Runs the kernels --repeat times, or --steps steps feeding the state
 * from one to the next, timing each run. */
static void
cli_compute(const TrartProgram *p, const CliOpts *o, CliRun *r)
{
	int threads;
	long i;

	trart_set_threads(o->threads);
	threads = trart_threads();
	if (p->tasks)
		trart_exec_idle_blas();
	for (i = 0; i < cli_runs(o); i++) {
		int64_t start;
		cli_agree(CLI_OK); /* on ranks, every run starts together */
		start = trart_clock_ns();
		trart_execute(p, r->bufs, threads);
		if (r->times)
			cli_add_time(r->times, trart_clock_ns() - start);
		if (o->log_every && ((i + 1) % o->log_every == 0 || i + 1 == o->steps))
			cli_log_step(p, r, i + 1);
		if (i + 1 < o->steps)
			cli_feed(p, r);
	}
	trart_gpu_release(); /* the runs' GPUs, kept set up from run to run */
}

static int
cli_cmp_time(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* The --time line: the median (of the sample), minimum, mean, maximum. */
static void
cli_print_time(FILE *f, CliTimes *t)
{
	size_t n = t->n < CLI_SAMPLES ? (size_t)t->n : CLI_SAMPLES;
	double median;

	qsort(t->sample, n, sizeof *t->sample, cli_cmp_time);
	median = n % 2 ? (double)t->sample[n / 2]
	               : ((double)t->sample[n / 2 - 1] + (double)t->sample[n / 2]) / 2;
	fprintf(f, "time: runs=%ld median_ms=%.6f min_ms=%.6f mean_ms=%.6f "
	        "max_ms=%.6f\n", t->n, median / 1e6, (double)t->min / 1e6,
	        t->sum / (double)t->n / 1e6, (double)t->max / 1e6);
}

/* --time's line and --stats's table. On ranks each rank's goes out in
 * one write, so that the ranks' reports, which mpirun passes on as they
 * come, do not cut into each other's lines. */
static void
cli_report(const CliOpts *o, CliRun *r)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = cli_ranks() ? open_memstream(&text, &len) : NULL;

	if (!f)
		f = stderr;
	if (o->time)
		cli_print_time(f, r->times);
	if (o->stats) {
		trart_stats_print(&r->prof, f, (int)cli_runs(o), trart_threads(),
		                  r->tensor_bytes, trart_mem_peak());
		trart_exec_blas_describe(f);
	}
	if (f != stderr && fclose(f) == 0)
		(void)!write(STDERR_FILENO, text, len);
	free(text);
}

/* ---- outputs ---- */

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

/* "output NAME", malloc'ed, for messages; NULL when out of memory. */
static char *
cli_output_label(const TrartProgram *p, int i)
{
	size_t len = strlen(p->tensors[i].name) + 8;
	char *label = malloc(len);

	if (label)
		snprintf(label, len, "output %s", p->tensors[i].name);
	return label;
}

/* Lists the run's files, every output's then the trace's, into paths
 * and labels (room for ntensors + 1 each); returns how many, or -1 when
 * out of memory (what was listed is still the caller's to free). */
static int
cli_list_files(const TrartProgram *p, const CliOpts *o, char **paths,
               char **labels)
{
	int i, n = 0;

	for (i = 0; i < p->ntensors; i++) {
		if (!cli_is_output(p->tensors[i].kind))
			continue;
		paths[n] = cli_output_path(p, o, i);
		labels[n] = cli_output_label(p, i);
		if (!paths[n++] || !labels[n - 1])
			return -1;
	}
	if (o->trace) {
		paths[n] = strdup(o->trace);
		labels[n] = strdup("trace");
		if (!paths[n++] || !labels[n - 1])
			return -1;
	}
	return n;
}

/* A usage error unless every file the run writes is a file of its own
 * (two outputs, or an output and the trace, may not meet in one file,
 * however spelled). Checked while parsing, before anything runs. */
static int
cli_check_files(const TrartProgram *p, const CliOpts *o)
{
	char **paths = calloc((size_t)p->ntensors + 1, sizeof *paths);
	char **labels = calloc((size_t)p->ntensors + 1, sizeof *labels);
	char err[TRART_ERRLEN];
	int i, n = paths && labels ? cli_list_files(p, o, paths, labels) : -1;
	int rc = CLI_OK;

	if (n < 0)
		rc = cli_error(p, "out of memory");
	else if (trart_files_distinct(n, (const char *const *)labels,
	                              (const char *const *)paths, err,
	                              sizeof err) != 0)
		rc = cli_usage_error(p, "%s", err);
	for (i = 0; i <= p->ntensors && paths && labels; i++) {
		free(paths[i]);
		free(labels[i]);
	}
	free(paths);
	free(labels);
	return rc;
}

/* Stages output i in fs. */
static int
cli_write_output(const TrartProgram *p, const CliOpts *o, const CliRun *r,
                 int i, TrartFiles *fs, char *err, size_t errlen)
{
	const TrartTensor *t = &p->tensors[i];
	char *path = cli_output_path(p, o, i), *label = cli_output_label(p, i);
	int rc = -1;

	if (!path || !label)
		snprintf(err, errlen, "out of memory");
	else
		rc = trart_files_npy(fs, path, label, t->dtype, t->rank, t->shape,
		                     r->bufs[i], err, errlen);
	free(path);
	free(label);
	return rc;
}

/* Where --trace's file goes: PATH itself, or on ranks one file per
 * rank, ".rankN" before the name's ".json" (or after it, when it has
 * none). NULL when out of memory; the caller frees it. */
static char *
cli_trace_path(const char *path)
{
	const TrartComm *c = cli_ranks();
	size_t n = strlen(path), cut = n;
	char *out;

	if (!c)
		return strdup(path);
	if (n > 5 && strcmp(path + n - 5, ".json") == 0)
		cut = n - 5;
	if (!(out = malloc(n + 32)))
		return NULL;
	snprintf(out, n + 32, "%.*s.rank%d%s", (int)cut, path, c->rank, path + cut);
	return out;
}

/* Writes every output and the trace, or none of them, as one set
 * (files.c): a failure leaves no staged file, no directory the run
 * created, and every destination as it was. */
static int
cli_write_all(const TrartProgram *p, const CliOpts *o, CliRun *r)
{
	bool staged = r->fs != NULL; /* the directory made, outputs mapped */
	TrartFiles *fs = staged ? r->fs : trart_files_new();
	char err[TRART_ERRLEN];
	int i, rc = fs ? 0 : -1;

	r->fs = NULL; /* freed here */
	if (!fs)
		snprintf(err, sizeof err, "out of memory");
	bool writes = !cli_ranks() || cli_ranks()->rank == 0;
	char *trace = o->trace ? cli_trace_path(o->trace) : NULL;

	if (o->trace && !trace) {
		snprintf(err, sizeof err, "out of memory");
		rc = -1;
	}
	if (rc == 0 && o->output_dir && !staged && writes)
		rc = trart_files_make_dir(fs, o->output_dir, err, sizeof err);
	for (i = 0; i < p->ntensors && rc == 0 && writes; i++)
		if (cli_is_output(p->tensors[i].kind) && !r->mapped[i])
			rc = cli_write_output(p, o, r, i, fs, err, sizeof err);
	if (rc == 0 && o->trace)
		rc = trart_files_trace(fs, &r->prof, trace, err, sizeof err);
	free(trace);
	if (rc == 0)
		rc = trart_files_commit(fs, err, sizeof err);
	trart_files_free(fs);
	return rc == 0 ? CLI_OK : cli_error(p, "%s", err);
}

/* ---- out of core ---- */

/* Whether p's task graph has a memory task of kind: a READ means it
 * reads inputs out of core, a WRITE that it writes outputs so. */
static bool
cli_has_mem(const TrartProgram *p, TrartMemKind kind)
{
	int i;

	for (i = 0; p->tasks && i < p->tasks->ntasks; i++)
		if (p->tasks->tasks[i].mem && p->tasks->tasks[i].mem->kind == (int)kind)
			return true;
	return false;
}

/* Maps input i's file, when that is its data as the kernels want it
 * (see the top); else leaves it for cli_read. A file that trart_npy_read
 * would refuse fails with its message. */
static int
cli_map_input(const TrartProgram *p, CliRun *r, int i, const char *path)
{
	const TrartTensor *t = &p->tensors[i];
	char who[TRART_ERRLEN], err[TRART_ERRLEN], *base = NULL;
	size_t offset = 0, bytes = 0;
	int fd, rc;

	snprintf(who, sizeof who, "input %s", t->name);
	rc = trart_npy_locate(path, who, t->dtype, t->rank, t->shape, &offset,
	                      &bytes, err, sizeof err);
	if (rc < 0)
		return cli_error(p, "%s", err);
	if (rc > 0 || offset % CLI_ALIGN != 0 || offset > SIZE_MAX - bytes)
		return CLI_OK;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		base = trart_map_file(fd, offset + bytes, false, path);
		close(fd);
	}
	if (base) { /* else read it whole: that says what is wrong, if anything */
		r->maps[i] = base;
		r->bufs[i] = base + offset;
		r->mapped[i] = true;
	}
	return CLI_OK;
}

/* Whether input i is fed by an output between steps (its buffer is
 * written, so never a file's mapping). */
static bool
cli_fed(const TrartProgram *p, int i)
{
	int k;

	for (k = 0; k < p->nfeeds; k++)
		if (p->feeds[2 * k + 1] == i)
			return true;
	return false;
}

static int
cli_map_inputs(const TrartProgram *p, const CliOpts *o, CliRun *r)
{
	int i, rc = CLI_OK;

	for (i = 0; i < p->ntensors && rc == CLI_OK; i++)
		if (p->tensors[i].kind == TRART_INPUT && o->in_path[i] && !cli_fed(p, i))
			rc = cli_map_input(p, r, i, o->in_path[i]);
	return rc;
}

/* Stages output i in r->fs, mapped, when its destination is a regular
 * file (else it is written after the run, from a buffer). */
static int
cli_map_output(const TrartProgram *p, const CliOpts *o, CliRun *r, int i,
               char *err, size_t errlen)
{
	const TrartTensor *t = &p->tensors[i];
	char *path = cli_output_path(p, o, i), *label = cli_output_label(p, i);
	void *data = NULL;
	int rc = -1;

	if (!path || !label)
		snprintf(err, errlen, "out of memory");
	else
		rc = trart_files_map_npy(r->fs, path, label, t->dtype, t->rank,
		                         t->shape, &data, err, errlen);
	if (rc == 0) {
		r->bufs[i] = data;
		r->mapped[i] = true;
	}
	free(path);
	free(label);
	return rc < 0 ? -1 : 0;
}

/* Stages the run's outputs before it computes (see the top): the output
 * directory, then each output's file, mapped. The set is guarded before
 * anything of it is made, and each file and directory joins the guard
 * as it is made (files.c): a signal in the middle of staging, taken by
 * any thread (OpenBLAS's too, which block none), removes what is made
 * so far. An input that is also an output is written after the run,
 * from its buffer. */
static int
cli_map_outputs(const TrartProgram *p, const CliOpts *o, CliRun *r)
{
	char err[TRART_ERRLEN];
	int i, rc = (r->fs = trart_files_new()) ? 0 : -1;

	if (!r->fs)
		snprintf(err, sizeof err, "out of memory");
	else /* guarded where it can be: only one set at a time is (files.c) */
		trart_files_guard(r->fs);
	if (rc == 0 && o->output_dir)
		rc = trart_files_make_dir(r->fs, o->output_dir, err, sizeof err);
	for (i = 0; i < p->ntensors && rc == 0; i++)
		if (p->tensors[i].kind == TRART_OUTPUT)
			rc = cli_map_output(p, o, r, i, err, sizeof err);
	if (rc != 0)
		return cli_error(p, "%s", err);
	return CLI_OK;
}

/* Maps the inputs and stages the outputs of a program that reads or
 * writes out of core, before any buffer is allocated. On ranks the
 * inputs are mapped too: a rank's tasks then read from the files only
 * the pages of the blocks they touch. */
static int
cli_map_files(const TrartProgram *p, const CliOpts *o, CliRun *r)
{
	int rc = CLI_OK;

	if (cli_has_mem(p, TRART_MEM_WRITE))
		rc = cli_map_outputs(p, o, r);
	if (rc == CLI_OK && (cli_has_mem(p, TRART_MEM_READ) || cli_ranks()))
		rc = cli_map_inputs(p, o, r);
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
	rc = cli_size(p, &r);
	if (rc == CLI_OK)
		rc = cli_map_files(p, o, &r);
	if (rc == CLI_OK)
		rc = cli_alloc(p, &r);
	if (rc == CLI_OK)
		rc = cli_load_inputs(p, o, &r);
	if (rc == CLI_OK)
		rc = cli_prepare(p, o, &r);
	rc = cli_agree(rc);
	cli_held.on = false; /* errors from here on are this rank's own */
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

	trart_exec_blas_kernels(argv);
	memset(&o, 0, sizeof o);
	o.repeat = 1;
	o.steps = 1;
	cli_held.on = cli_ranks() != NULL;
	cli_held.text[0] = '\0';
	trart_set_progname(cli_name(p)); /* for out-of-memory messages */
	o.in_path = calloc((size_t)p->ntensors + 1, sizeof *o.in_path);
	o.out_path = calloc((size_t)p->ntensors + 1, sizeof *o.out_path);
	if (!o.in_path || !o.out_path)
		rc = cli_error(p, "out of memory");
	else
		rc = cli_parse(p, &o, argc, argv);
	if (rc == CLI_OK)
		rc = cli_check_files(p, &o);
	rc = cli_agree(rc);
	if (o.spill_dir)
		trart_set_spill_dir(o.spill_dir);
	if (rc == CLI_OK)
		rc = cli_run(p, &o);
	cli_held.on = false;
	free(o.in_path);
	free(o.out_path);
	trart_shutdown();
	trart_set_progname(NULL);
	if (o.spill_dir)
		trart_set_spill_dir(NULL);
	if (rc == CLI_DONE)
		rc = cli_flush(p);
	return rc;
}
