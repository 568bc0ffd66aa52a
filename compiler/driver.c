/* driver.c: the trac command line and the pipeline.
 *
 *   read -> parse -> sema -> verify -> (emit | check | interpret)
 *
 * Usage errors (exit 2) are found before the program is read, except
 * those that need the program (-D of a size it lacks, --input of a
 * tensor it lacks). Whatever is emitted is first built in memory and
 * written only when the whole run succeeded, so an error never leaves a
 * partial output file behind; files are written to a temporary name and
 * renamed into place.
 */
#define _XOPEN_SOURCE 700 /* realpath */
#include "tra.h"

#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

/* What trac was asked to do. */
typedef enum DriverMode {
	MODE_COMPILE,   /* the default: a native executable, or an object with -c */
	MODE_CHECK,     /* --check: diagnostics only */
	MODE_EMIT,      /* --emit=STAGE */
	MODE_INTERPRET, /* --interpret */
} DriverMode;

/* A NAME=FILE pair from --input or --output. */
typedef struct NamedPath {
	const char *name;
	const char *path;
	bool used;
} NamedPath;

/* The parsed command line. */
typedef struct DriverOpts {
	const char *file;      /* the .tra program */
	const char *out;       /* -o */
	DriverMode mode;
	bool mode_set;
	const char *emit;      /* --emit's stage */
	SizeOverride *defs;    /* -D */
	int ndefs;
	NamedPath *inputs;     /* --input */
	int ninputs;
	NamedPath *outputs;    /* --output */
	int noutputs;
	const char *output_dir;
	bool random;
	uint64_t seed;
	bool object;           /* -c */
	const char *name;      /* --name */
	int opt_level;         /* -O */
	bool opt_set;
	const char *cc;        /* --cc */
	bool portable;         /* --portable */
	bool keep_temps;       /* --keep-temps */
	bool node_kernels;     /* --node-kernels: one multithreaded kernel per node */
	bool verbose;          /* -v */
	int devices;           /* --devices, or 0: the online cores */
	const char *pmode;     /* --partition=auto or none, or NULL */
	bool decompose;        /* --devices or --partition given: --emit=tra shows partitions */
	const char **manual;   /* --partition=NODE:INDEX=COUNT,... */
	int nmanual;
	PlaceKind placer;      /* --placer (default greedy) */
	SimModel sim;          /* the simulator's device model, after --sim */
} DriverOpts;

enum { OPT_EMIT = 256, OPT_CHECK, OPT_INTERPRET, OPT_INPUT, OPT_OUTPUT, OPT_OUTPUT_DIR,
       OPT_RANDOM, OPT_HELP, OPT_VERSION, OPT_NAME, OPT_CC, OPT_PORTABLE, OPT_KEEP_TEMPS, OPT_NODE_KERNELS,
       OPT_DEVICES, OPT_PARTITION, OPT_PLACER, OPT_SIM, OPT_SIM_FLOPS, OPT_SIM_BANDWIDTH };

static const struct option driver_longopts[] = {
	{"emit", required_argument, NULL, OPT_EMIT},
	{"check", no_argument, NULL, OPT_CHECK},
	{"interpret", no_argument, NULL, OPT_INTERPRET},
	{"input", required_argument, NULL, OPT_INPUT},
	{"output", required_argument, NULL, OPT_OUTPUT},
	{"output-dir", required_argument, NULL, OPT_OUTPUT_DIR},
	{"random", optional_argument, NULL, OPT_RANDOM},
	{"help", no_argument, NULL, OPT_HELP},
	{"version", no_argument, NULL, OPT_VERSION},
	{"name", required_argument, NULL, OPT_NAME},
	{"cc", required_argument, NULL, OPT_CC},
	{"portable", no_argument, NULL, OPT_PORTABLE},
	{"keep-temps", no_argument, NULL, OPT_KEEP_TEMPS},
	{"node-kernels", no_argument, NULL, OPT_NODE_KERNELS},
	{"devices", required_argument, NULL, OPT_DEVICES},
	{"partition", required_argument, NULL, OPT_PARTITION},
	{"placer", required_argument, NULL, OPT_PLACER},
	{"sim", required_argument, NULL, OPT_SIM},
	{"sim-flops", required_argument, NULL, OPT_SIM_FLOPS},
	{"sim-bandwidth", required_argument, NULL, OPT_SIM_BANDWIDTH},
	{NULL, 0, NULL, 0},
};

static const char driver_usage[] =
	"usage: trac FILE.tra [options]\n"
	"\n"
	"Modes (one at most; the default compiles a native executable):\n"
	"  -c                      compile to an object file and a C header (library mode)\n"
	"  -S                      write the generated C (same as --emit=c)\n"
	"  --check                 check the program and report errors; write nothing\n"
	"  --emit=STAGE            print an intermediate form: tokens, ast, tra, ia,\n"
	"                          taskgraph, plan, dot or c\n"
	"  --interpret             run the program with the reference interpreter\n"
	"\n"
	"Options:\n"
	"  -o FILE                 the output (default: the program's name, NAME.o with -c,\n"
	"                          standard output with --emit)\n"
	"  -D NAME=VALUE           override the program's size NAME (repeatable)\n"
	"  -O0 .. -O3              the C compiler's optimisation level (default -O3)\n"
	"  --name NAME             the C name of the program (default: from the file name)\n"
	"  --cc CC                 the C compiler (default: $CC, else the one configure found)\n"
	"  --portable              do not compile for this machine's CPU (-march=native)\n"
	"  --keep-temps            keep the generated C and say where\n"
	"  --node-kernels          one multithreaded kernel per node instead of block tasks\n"
	"  -v                      print the commands trac runs\n"
	"  --input NAME=FILE.npy   read input NAME from a .npy file (--interpret)\n"
	"  --output NAME=FILE.npy  write output NAME to a .npy file (--interpret)\n"
	"  --output-dir DIR        write other outputs to DIR/NAME.npy (default: .)\n"
	"  --random[=SEED]         fill inputs not given with uniform values in [-1, 1)\n"
	"\n"
	"Decomposition (shown by --emit=tra when asked for):\n"
	"  --devices=N             decompose for N devices (default: the online cores)\n"
	"  --partition=auto|none   search partitions (EinDecomp; the default) or one block\n"
	"  --partition=NODE:I=N,.. fix node NODE's block counts, per index (repeatable)\n"
	"  --placer=NAME           roundrobin, greedy (default), lshs or critical-path\n"
	"  --sim=KEY=VALUE,...     the simulator's device model: gemm-flops, elt-flops,\n"
	"                          bandwidth, link-bandwidth, latency (e.g. 120G, 2e-6)\n"
	"  --sim-flops=F           same as --sim=gemm-flops=F\n"
	"  --sim-bandwidth=B       same as --sim=bandwidth=B\n"
	"  --help                  print this help and exit\n"
	"  --version               print the version and exit\n"
	"\n"
	"Exit status: 0 success, 1 errors in the program or its data, 2 usage errors,\n"
	"3 the C compiler failed on the generated code (a bug in trac).\n"
	"See trac(1) and tra(5).\n";

/* A usage error: message, a hint, exit 2. */
static _Noreturn void driver_usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static void driver_usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("trac: error: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputs("\ntry 'trac --help'\n", stderr);
	va_end(ap);
	exit(TRAC_EXIT_USAGE);
}

static bool driver_is_name(const char *s, size_t n)
{
	if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(s[i] == '_' || (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9')))
			return false;
	return true;
}

/* Splits NAME=VALUE; the name must be an identifier, the value non-empty. */
static void driver_split(const char *opt, const char *arg, const char **name, const char **value)
{
	const char *eq = strchr(arg, '=');
	if (!eq || !driver_is_name(arg, (size_t)(eq - arg)) || eq[1] == '\0')
		driver_usage_error("%s expects NAME=VALUE, not '%s'", opt, arg);
	*name = strndup(arg, (size_t)(eq - arg));
	if (!*name)
		trac_fatal("out of memory");
	*value = eq + 1;
}

/* A positive decimal integer that fits in 63 bits, or -1. */
static int64_t driver_positive(const char *s)
{
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	char *end;
	long long v = strtoll(s, &end, 10);
	if (errno || *end || v < 1)
		return -1;
	return v;
}

static void driver_add_def(DriverOpts *o, const char *arg)
{
	const char *name, *value;
	driver_split("-D", arg, &name, &value);
	int64_t v = driver_positive(value);
	if (v < 0)
		driver_usage_error("-D %s: the value must be a positive integer, not '%s'", name, value);
	for (int i = 0; i < o->ndefs; i++)
		if (strcmp(o->defs[i].name, name) == 0)
			driver_usage_error("-D %s is given twice", name);
	o->defs = xrealloc(o->defs, (size_t)(o->ndefs + 1) * sizeof *o->defs);
	o->defs[o->ndefs++] = (SizeOverride){name, v, false};
}

static void driver_add_path(NamedPath **list, int *n, const char *opt, const char *arg)
{
	const char *name, *path;
	driver_split(opt, arg, &name, &path);
	for (int i = 0; i < *n; i++)
		if (strcmp((*list)[i].name, name) == 0)
			driver_usage_error("%s %s is given twice", opt, name);
	*list = xrealloc(*list, (size_t)(*n + 1) * sizeof **list);
	(*list)[(*n)++] = (NamedPath){name, path, false};
}

static void driver_set_mode(DriverOpts *o, DriverMode m, const char *opt)
{
	if (o->mode_set && o->mode != m)
		driver_usage_error("%s cannot be combined with another of --check, --emit, --interpret", opt);
	o->mode = m;
	o->mode_set = true;
}

static void driver_set_random(DriverOpts *o, const char *arg)
{
	o->random = true;
	if (!arg)
		return;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(arg, &end, 10);
	if (errno || *end || !*arg || arg[0] == '-')
		driver_usage_error("--random=SEED needs a non-negative integer seed, not '%s'", arg);
	o->seed = v;
}

static void driver_set_devices(DriverOpts *o, const char *arg)
{
	int64_t v = driver_positive(arg);
	if (v < 1 || v > 4096)
		driver_usage_error("--devices=N needs a count from 1 to 4096, not '%s'", arg);
	o->devices = (int)v;
	o->decompose = true;
}

/* --partition=auto, none, or NODE:INDEX=COUNT,... (checked against the
 * graph once it is built). */
static void driver_add_partition(DriverOpts *o, const char *arg)
{
	o->decompose = true;
	if (strcmp(arg, "auto") == 0 || strcmp(arg, "none") == 0) {
		if (o->pmode && strcmp(o->pmode, arg) != 0)
			driver_usage_error("--partition=auto and --partition=none cannot be combined");
		o->pmode = arg;
		return;
	}
	if (!strchr(arg, ':'))
		driver_usage_error("--partition expects auto, none or NODE:INDEX=COUNT,..., not '%s'", arg);
	o->manual = xrealloc(o->manual, (size_t)(o->nmanual + 1) * sizeof *o->manual);
	o->manual[o->nmanual++] = arg;
}

static void driver_set_placer(DriverOpts *o, const char *arg)
{
	if (!place_parse(arg, &o->placer))
		driver_usage_error("unknown --placer '%s'; the placers are roundrobin, greedy, lshs, critical-path", arg);
}

/* --sim=KEY=VALUE,...; prefix is the key that --sim-flops and the like imply. */
static void driver_set_sim(DriverOpts *o, const char *opt, const char *prefix, const char *arg)
{
	char err[300], spec[300];
	snprintf(spec, sizeof spec, "%s%s", prefix, arg);
	if (!sim_model_set(&o->sim, spec, err, sizeof err))
		driver_usage_error("%s: %s", opt, err);
}

static void driver_set_emit(DriverOpts *o, const char *stage)
{
	static const char *const stages[] = {"tokens", "ast", "tra", "ia", "taskgraph", "plan", "dot", "c"};
	for (size_t i = 0; i < sizeof stages / sizeof stages[0]; i++)
		if (strcmp(stage, stages[i]) == 0) {
			driver_set_mode(o, MODE_EMIT, "--emit");
			o->emit = stages[i];
			return;
		}
	driver_usage_error("unknown --emit stage '%s'; the stages are tokens, ast, tra, ia, taskgraph, plan, dot, c",
	                   stage);
}

/* Checks combinations getopt cannot see. */
static void driver_check_opts(const DriverOpts *o)
{
	bool interp = o->mode == MODE_INTERPRET;
	if (!interp && (o->ninputs || o->noutputs || o->output_dir || o->random))
		driver_usage_error("--input, --output, --output-dir and --random need --interpret");
	if (interp && o->out)
		driver_usage_error("-o is not used with --interpret; name outputs with --output or --output-dir");
	if (o->mode == MODE_CHECK && o->out)
		driver_usage_error("--check writes nothing; drop -o");
	if (o->object && o->mode != MODE_COMPILE)
		driver_usage_error("-c cannot be combined with --check, --emit or --interpret");
	if (o->name && !driver_is_name(o->name, strlen(o->name)))
		driver_usage_error("--name %s: the name must be a C identifier", o->name);
}

static void driver_set_opt_level(DriverOpts *o, const char *arg)
{
	if (strlen(arg) != 1 || arg[0] < '0' || arg[0] > '3')
		driver_usage_error("-O%s: the optimisation levels are -O0, -O1, -O2 and -O3", arg);
	o->opt_level = arg[0] - '0';
	o->opt_set = true;
}

static void driver_parse_args(DriverOpts *o, int argc, char **argv)
{
	int c;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":o:D:O:cSv", driver_longopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			if (o->out)
				driver_usage_error("-o is given twice");
			o->out = optarg;
			break;
		case 'D': driver_add_def(o, optarg); break;
		case 'O': driver_set_opt_level(o, optarg); break;
		case 'c': o->object = true; break;
		case 'S': driver_set_emit(o, "c"); break;
		case 'v': o->verbose = true; break;
		case OPT_NAME: o->name = optarg; break;
		case OPT_CC: o->cc = optarg; break;
		case OPT_PORTABLE: o->portable = true; break;
		case OPT_KEEP_TEMPS: o->keep_temps = true; break;
		case OPT_NODE_KERNELS: o->node_kernels = true; break;
		case OPT_EMIT: driver_set_emit(o, optarg); break;
		case OPT_DEVICES: driver_set_devices(o, optarg); break;
		case OPT_PARTITION: driver_add_partition(o, optarg); break;
		case OPT_PLACER: driver_set_placer(o, optarg); break;
		case OPT_SIM: driver_set_sim(o, "--sim", "", optarg); break;
		case OPT_SIM_FLOPS: driver_set_sim(o, "--sim-flops", "gemm-flops=", optarg); break;
		case OPT_SIM_BANDWIDTH: driver_set_sim(o, "--sim-bandwidth", "bandwidth=", optarg); break;
		case OPT_CHECK: driver_set_mode(o, MODE_CHECK, "--check"); break;
		case OPT_INTERPRET: driver_set_mode(o, MODE_INTERPRET, "--interpret"); break;
		case OPT_INPUT: driver_add_path(&o->inputs, &o->ninputs, "--input", optarg); break;
		case OPT_OUTPUT: driver_add_path(&o->outputs, &o->noutputs, "--output", optarg); break;
		case OPT_OUTPUT_DIR: o->output_dir = optarg; break;
		case OPT_RANDOM: driver_set_random(o, optarg); break;
		case OPT_HELP: fputs(driver_usage, stdout); exit(TRAC_EXIT_OK);
		case OPT_VERSION: printf("trac %s\n", PACKAGE_VERSION); exit(TRAC_EXIT_OK);
		case ':': driver_usage_error("option '%s' needs a value", argv[optind - 1]);
		default: driver_usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		driver_usage_error("no input file");
	if (optind + 1 < argc)
		driver_usage_error("one program at a time, but '%s' and '%s' are given", argv[optind], argv[optind + 1]);
	o->file = argv[optind];
	driver_check_opts(o);
}

/* ---- reading the program ------------------------------------------------------ */

/* Reads the whole file into src; exits 1 with a message if it cannot. */
static void driver_read_source(const char *path, Source *src)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "trac: error: cannot open '%s': %s\n", path, strerror(errno));
		exit(TRAC_EXIT_ERROR);
	}
	size_t cap = 4096, len = 0;
	char *text = xmalloc(cap);
	size_t got;
	while ((got = fread(text + len, 1, cap - len - 1, f)) > 0) {
		len += got;
		if (len + 1 == cap)
			text = xrealloc(text, cap *= 2);
		if (len > UINT32_MAX / 2) {
			fprintf(stderr, "trac: error: '%s' is too large for a program\n", path);
			exit(TRAC_EXIT_ERROR);
		}
	}
	if (ferror(f)) {
		fprintf(stderr, "trac: error: cannot read '%s': %s\n", path, strerror(errno));
		exit(TRAC_EXIT_ERROR);
	}
	fclose(f);
	text[len] = '\0';
	*src = (Source){path, text, len};
}

/* ---- writing results atomically ------------------------------------------------ */

/* Writes to something that is not a regular file (/dev/null, a FIFO,
 * /dev/stdout) directly: renaming a temporary onto it would replace it. */
static bool driver_write_special(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	bool ok = f && fwrite(data, 1, len, f) == len;
	if (f && fclose(f) != 0)
		ok = false;
	if (!ok)
		fprintf(stderr, "trac: error: cannot write '%s': %s\n", path, strerror(errno));
	return ok;
}

/* Writes len bytes to path through a temporary file renamed into place;
 * on failure reports it and leaves no file at path. */
static bool driver_write_file(const char *path, const char *data, size_t len)
{
	struct stat st;
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode))
		return driver_write_special(path, data, len);
	size_t n = strlen(path);
	char *tmp = xmalloc(n + 16);
	snprintf(tmp, n + 16, "%s.tmpXXXXXX", path);
	int fd = mkstemp(tmp);
	bool ok = fd >= 0;
	FILE *f = ok ? fdopen(fd, "wb") : NULL;
	if (ok && !f)
		close(fd);
	ok = f && fwrite(data, 1, len, f) == len;
	if (f && fclose(f) != 0)
		ok = false;
	if (ok) {
		mode_t mask = umask(0);
		umask(mask);
		chmod(tmp, 0666 & ~mask);
		ok = rename(tmp, path) == 0;
	}
	if (!ok) {
		fprintf(stderr, "trac: error: cannot write '%s': %s\n", path, strerror(errno));
		if (fd >= 0)
			unlink(tmp);
	}
	free(tmp);
	return ok;
}

/* Sends an in-memory result to -o FILE or stdout. */
static int driver_deliver(const DriverOpts *o, char *buf, size_t len)
{
	if (o->out)
		return driver_write_file(o->out, buf, len) ? TRAC_EXIT_OK : TRAC_EXIT_ERROR;
	if (fwrite(buf, 1, len, stdout) != len || fflush(stdout) != 0) {
		fprintf(stderr, "trac: error: cannot write to standard output: %s\n", strerror(errno));
		return TRAC_EXIT_ERROR;
	}
	return TRAC_EXIT_OK;
}

/* Output built in memory, delivered only if the run succeeds. */
typedef struct Emit {
	char *buf;
	size_t len;
	FILE *f; /* write the output here */
} Emit;

static FILE *driver_emit_open(Emit *e)
{
	e->buf = NULL;
	e->len = 0;
	e->f = open_memstream(&e->buf, &e->len);
	if (!e->f)
		trac_fatal("out of memory");
	return e->f;
}

/* Delivers the output if ok; returns the exit status. */
static int driver_emit_close(const DriverOpts *o, Emit *e, bool ok)
{
	fclose(e->f);
	int rc = ok ? driver_deliver(o, e->buf, e->len) : TRAC_EXIT_ERROR;
	free(e->buf);
	return rc;
}

/* ---- the interpreter's inputs and outputs --------------------------------------- */

static NamedPath *driver_find(NamedPath *list, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(list[i].name, name) == 0)
			return &list[i];
	return NULL;
}

static void driver_shape(const TraNode *n, int64_t *shape)
{
	for (int d = 0; d < n->rank; d++)
		shape[d] = n->idx[d].size;
}

/* Converts a buffer of t to doubles (in place into a new array). */
static double *driver_to_double(const void *data, TrartDtype t, size_t count)
{
	double *d = xmalloc((count ? count : 1) * sizeof *d);
	for (size_t i = 0; i < count; i++)
		d[i] = t == TRART_F32 ? (double)((const float *)data)[i] : ((const double *)data)[i];
	return d;
}

/* The value of input node n: from --input, or --random; NULL after an error. */
static double *driver_load_input(DriverOpts *o, const TraNode *n)
{
	size_t count = (size_t)tra_node_elements(n);
	NamedPath *np = driver_find(o->inputs, o->ninputs, n->name);
	void *raw = NULL;
	if (np) {
		np->used = true;
		int64_t shape[TRA_MAX_RANK];
		char err[TRART_ERRLEN], who[300];
		driver_shape(n, shape);
		snprintf(who, sizeof who, "input %s", n->name);
		if (trart_npy_read(np->path, who, n->type, n->rank, shape, &raw, err, sizeof err) != 0) {
			fprintf(stderr, "trac: error: %s\n", err);
			return NULL;
		}
	} else if (o->random) {
		raw = xmalloc((count ? count : 1) * trart_dtype_size(n->type));
		trart_random_fill(raw, n->type, count, o->seed, n->name);
	} else {
		fprintf(stderr, "trac: error: input %s is missing: give --input %s=FILE.npy or --random\n",
		        n->name, n->name);
		return NULL;
	}
	double *d = driver_to_double(raw, n->type, count);
	free(raw);
	return d;
}

/* Every --input and --output must name an input and an output. */
static void driver_check_names(const DriverOpts *o, const TraGraph *g)
{
	for (int i = 0; i < o->ninputs; i++) {
		bool found = false;
		for (int id = 0; id < g->nnodes; id++)
			found |= g->nodes[id].kind == TRA_NODE_INPUT && strcmp(g->nodes[id].name, o->inputs[i].name) == 0;
		if (!found)
			driver_usage_error("--input %s: the program has no input named '%s'",
			                   o->inputs[i].name, o->inputs[i].name);
	}
	for (int i = 0; i < o->noutputs; i++) {
		bool found = false;
		for (int k = 0; k < g->noutputs; k++)
			found |= strcmp(g->nodes[g->outputs[k]].name, o->outputs[i].name) == 0;
		if (!found)
			driver_usage_error("--output %s: the program has no output named '%s'",
			                   o->outputs[i].name, o->outputs[i].name);
	}
}

/* The file output n goes to (the caller frees it). */
static char *driver_output_path(const DriverOpts *o, const TraNode *n)
{
	NamedPath *np = driver_find(o->outputs, o->noutputs, n->name);
	const char *dir = o->output_dir ? o->output_dir : ".";
	size_t len = np ? strlen(np->path) + 1 : strlen(dir) + strlen(n->name) + 8;
	char *path = xmalloc(len);
	if (np)
		memcpy(path, np->path, len);
	else
		snprintf(path, len, "%s/%s.npy", dir, n->name);
	return path;
}

/* "output NAME", for messages (the caller frees it). */
static char *driver_output_label(const TraNode *n)
{
	size_t len = strlen(n->name) + 8;
	char *label = xmalloc(len);
	snprintf(label, len, "output %s", n->name);
	return label;
}

/* The outputs in node order, which is the generated program's tensor
 * order, so both name them in the same order; returns how many. */
static int driver_output_nodes(const TraGraph *g, int *ids)
{
	for (int k = 0; k < g->noutputs; k++) {
		int j = k;
		for (; j > 0 && ids[j - 1] > g->outputs[k]; j--)
			ids[j] = ids[j - 1];
		ids[j] = g->outputs[k];
	}
	return g->noutputs;
}

/* No two outputs may be one file, however spelled: a usage error, found
 * before anything is read, worded as the generated program words it
 * (trart_files_distinct). */
static void driver_check_files(const DriverOpts *o, const TraGraph *g)
{
	int *ids = xcalloc((size_t)g->noutputs + 1, sizeof *ids), n = driver_output_nodes(g, ids);
	char **paths = xcalloc((size_t)n + 1, sizeof *paths), **labels = xcalloc((size_t)n + 1, sizeof *labels);
	for (int k = 0; k < n; k++) {
		paths[k] = driver_output_path(o, &g->nodes[ids[k]]);
		labels[k] = driver_output_label(&g->nodes[ids[k]]);
	}
	char err[TRART_ERRLEN];
	bool ok = trart_files_distinct(n, (const char *const *)labels, (const char *const *)paths, err,
	                               sizeof err) == 0;
	for (int k = 0; k < n; k++) {
		free(paths[k]);
		free(labels[k]);
	}
	free(paths);
	free(labels);
	free(ids);
	if (!ok)
		driver_usage_error("%s", err);
}

/* Stages output n in fs, in its element type; 0, or -1 with err. */
static int driver_write_output(TrartFiles *fs, const DriverOpts *o, const TraNode *n, const double *v,
                               char *err, size_t errlen)
{
	size_t count = (size_t)tra_node_elements(n);
	void *raw = xmalloc((count ? count : 1) * trart_dtype_size(n->type));
	for (size_t i = 0; i < count; i++) {
		if (n->type == TRART_F32)
			((float *)raw)[i] = (float)v[i];
		else
			((double *)raw)[i] = v[i];
	}
	int64_t shape[TRA_MAX_RANK];
	driver_shape(n, shape);
	char *path = driver_output_path(o, n), *label = driver_output_label(n);
	int rc = trart_files_npy(fs, path, label, n->type, n->rank, shape, raw, err, errlen);
	free(label);
	free(path);
	free(raw);
	return rc;
}

/* Writes every output, or none: the runtime's file set (trart_files_*,
 * as the generated program writes them) stages each beside its
 * destination and renames them all into place only once all are
 * written; a failure removes what was staged and any directory
 * --output-dir created, so it changes no file (not even an input also
 * named as an output). */
static bool driver_write_outputs(const DriverOpts *o, const TraGraph *g, const InterpValues *v)
{
	TrartFiles *fs = trart_files_new();
	if (!fs)
		trac_fatal("out of memory");
	int *ids = xcalloc((size_t)g->noutputs + 1, sizeof *ids), n = driver_output_nodes(g, ids);
	char err[TRART_ERRLEN];
	int rc = o->output_dir ? trart_files_make_dir(fs, o->output_dir, err, sizeof err) : 0;
	for (int k = 0; k < n && rc == 0; k++)
		rc = driver_write_output(fs, o, &g->nodes[ids[k]], v->data[ids[k]], err, sizeof err);
	if (rc == 0)
		rc = trart_files_commit(fs, err, sizeof err);
	trart_files_free(fs);
	free(ids);
	if (rc != 0)
		fprintf(stderr, "trac: error: %s\n", err);
	return rc == 0;
}

static int driver_interpret(DriverOpts *o, const TraGraph *g)
{
	driver_check_names(o, g);
	driver_check_files(o, g);
	InterpValues v;
	interp_values_init(&v, g);
	bool ok = true;
	for (int id = 0; id < g->nnodes && ok; id++)
		if (g->nodes[id].kind == TRA_NODE_INPUT)
			ok = (v.data[id] = driver_load_input(o, &g->nodes[id])) != NULL;
	if (ok) {
		interp_run(g, &v);
		ok = driver_write_outputs(o, g, &v);
	}
	interp_values_free(&v);
	return ok ? TRAC_EXIT_OK : TRAC_EXIT_ERROR;
}

/* ---- the pipeline ------------------------------------------------------------------ */

/* Every -D must name a size of the program. */
static int driver_check_defs(const DriverOpts *o)
{
	for (int i = 0; i < o->ndefs; i++)
		if (!o->defs[i].used) {
			fprintf(stderr, "trac: error: -D %s: the program defines no size '%s'\n",
			        o->defs[i].name, o->defs[i].name);
			return TRAC_EXIT_USAGE;
		}
	return TRAC_EXIT_OK;
}

/* Runs the front end into g; returns an exit status. */
static int driver_front_end(DriverOpts *o, const Source *src, Diag *diag, TraGraph *g)
{
	AstProgram prog;
	if (parse_program(src, g->arena, diag, &prog) > 0)
		return TRAC_EXIT_ERROR;
	if (o->mode == MODE_EMIT && strcmp(o->emit, "ast") == 0) {
		Emit e;
		ast_dump(&prog, src, driver_emit_open(&e));
		return driver_emit_close(o, &e, true);
	}
	if (sema_build(&prog, o->defs, o->ndefs, diag, g) > 0)
		return TRAC_EXIT_ERROR;
	int rc = driver_check_defs(o);
	if (rc == TRAC_EXIT_OK)
		tra_verify(g);
	return rc;
}

/* --emit=tokens works on the source alone. */
static int driver_emit_tokens(const DriverOpts *o, const Source *src, Diag *diag)
{
	Emit e;
	int errors = lex_dump_tokens(src, diag, driver_emit_open(&e));
	return driver_emit_close(o, &e, errors == 0);
}

/* ---- the optimising passes and the back end --------------------------------------- */

/* The TRA passes, in order; every one leaves a graph tra_verify accepts.
 * Contraction order goes first: fusing a map into a product of three
 * operands would hide the product from it. */
static const struct {
	const char *name;
	void (*run)(TraGraph *g);
} driver_passes[] = {
	{"order", order_contractions},
	{"fuse", fuse_elementwise},
};

static void driver_optimise(TraGraph *g)
{
	for (size_t i = 0; i < sizeof driver_passes / sizeof driver_passes[0]; i++) {
		driver_passes[i].run(g);
		tra_verify(g);
	}
}

/* ---- decomposition, lowering, placement ------------------------------------------ */

/* Whether a compiled program, or the C that -S shows of it, runs as
 * block tasks (the default), rather than one multithreaded kernel per
 * node (--node-kernels). */
static bool driver_block_tasks(const DriverOpts *o)
{
	if (o->node_kernels)
		return false;
	return o->mode == MODE_COMPILE || (o->mode == MODE_EMIT && strcmp(o->emit, "c") == 0);
}

/* Whether the --emit stage asked for needs the graph partitioned. */

static bool driver_needs_decomp(const DriverOpts *o)
{
	if (driver_block_tasks(o))
		return true;
	if (o->mode != MODE_EMIT)
		return false;
	return (strcmp(o->emit, "tra") == 0 && o->decompose) || strcmp(o->emit, "ia") == 0 ||
	       strcmp(o->emit, "taskgraph") == 0 || strcmp(o->emit, "plan") == 0 ||
	       strcmp(o->emit, "dot") == 0;
}

static int driver_devices(const DriverOpts *o)
{
	if (o->devices)
		return o->devices;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > 4096 ? 4096 : (int)n;
}

/* Partitions g as --devices and --partition say; a manual partition that
 * does not fit the program is a usage error. */
static void driver_decompose(const DriverOpts *o, TraGraph *g)
{
	DecompOptions d = {.devices = driver_devices(o), .none = o->pmode && strcmp(o->pmode, "none") == 0};
	if (o->nmanual)
		d.fixed = arena_alloc(g->arena, (size_t)g->nnodes * sizeof *d.fixed);
	int maxidx = 1;
	for (int id = 0; id < g->nnodes; id++)
		maxidx = g->nodes[id].nidx > maxidx ? g->nodes[id].nidx : maxidx;
	for (int i = 0; i < o->nmanual; i++) {
		char err[300];
		int node, *part = arena_alloc(g->arena, (size_t)maxidx * sizeof *part);
		if (!decomp_parse_manual(g, o->manual[i], &node, part, err, sizeof err))
			driver_usage_error("--partition=%s: %s", o->manual[i], err);
		if (d.fixed[node])
			driver_usage_error("--partition: node %s is given twice", g->nodes[node].name);
		d.fixed[node] = part;
	}
	decomp_run(g, &d);
}

/* The program's C name: the file's base name without .tra, with every
 * character that cannot be in a C identifier replaced by '_'. */
static char *driver_program_name(const DriverOpts *o)
{
	if (o->name)
		return strdup(o->name);
	const char *base = strrchr(o->file, '/');
	base = base ? base + 1 : o->file;
	size_t n = strlen(base);
	if (n > 4 && strcmp(base + n - 4, ".tra") == 0)
		n -= 4;
	char *name = xmalloc(n + 2);
	size_t k = 0;
	if (n == 0 || (base[0] >= '0' && base[0] <= '9'))
		name[k++] = '_';
	for (size_t i = 0; i < n; i++)
		name[k++] = driver_is_name(base + i, 1) || (base[i] >= '0' && base[i] <= '9') ? base[i] : '_';
	name[k] = '\0';
	return name;
}

/* PATH with its extension (after the last '.' of the base name) replaced. */
static char *driver_replace_ext(const char *path, const char *ext)
{
	const char *slash = strrchr(path, '/');
	const char *dot = strrchr(slash ? slash : path, '.');
	size_t n = dot && dot != (slash ? slash + 1 : path) ? (size_t)(dot - path) : strlen(path);
	char *r = xmalloc(n + strlen(ext) + 1);
	memcpy(r, path, n);
	strcpy(r + n, ext);
	return r;
}

/* The partitioned graph as placed block tasks: lowered, each row group
 * cut into the same row blocks fused into one task per block (what the
 * generated code runs, so the plan shows it too), placed. */
static void driver_lower(const DriverOpts *o, const TraGraph *g, IaGraph *ia)
{
	int *leader = xcalloc((size_t)g->nnodes + 1, sizeof *leader);
	ia_lower(g, g->arena, ia);
	cg_c_row_groups(g, leader);
	ia_fuse_rows(ia, leader);
	free(leader);
	place_run(ia, o->placer, driver_devices(o), &o->sim);
}

static int driver_compile(const DriverOpts *o, const TraGraph *g)
{
	char *name = driver_program_name(o);
	char *out = o->out ? strdup(o->out) : driver_replace_ext(name, o->object ? ".o" : "");
	char *header_out = driver_replace_ext(out, ".h");
	const char *slash = strrchr(header_out, '/');
	BuildOptions b = {
		.name = name, .source = o->file, .out = out, .object = o->object,
		.header_name = slash ? slash + 1 : header_out, .header_out = header_out,
		.cc = o->cc, .opt_level = o->opt_set ? o->opt_level : 3, .portable = o->portable,
		.keep_temps = o->keep_temps, .verbose = o->verbose,
	};
	IaGraph ia;
	if (driver_block_tasks(o)) {
		driver_lower(o, g, &ia);
		b.ia = &ia;
	}
	int rc = build_program(g, &b);
	free(name);
	free(out);
	free(header_out);
	return rc;
}

/* --emit=ia, taskgraph, plan, dot: lowered and placed. */
static void driver_emit_tasks(const DriverOpts *o, const TraGraph *g, FILE *out)
{
	IaGraph ia;
	driver_lower(o, g, &ia);
	if (strcmp(o->emit, "ia") == 0)
		ia_dump(&ia, out);
	else if (strcmp(o->emit, "taskgraph") == 0)
		ia_dump_taskgraph(&ia, out);
	else if (strcmp(o->emit, "plan") == 0)
		plan_dump(&ia, &o->sim, o->placer, out);
	else
		plan_dump_dot(g, &ia, out);
}

static int driver_emit_graph(const DriverOpts *o, const TraGraph *g)
{
	Emit e;
	if (strcmp(o->emit, "tra") == 0) {
		tra_dump(g, driver_emit_open(&e));
	} else if (strcmp(o->emit, "c") != 0) {
		driver_emit_tasks(o, g, driver_emit_open(&e));
	} else {
		char *name = driver_program_name(o);
		CgCOptions cg = {name, o->file, false, NULL, NULL};
		IaGraph ia;
		if (driver_block_tasks(o)) {
			driver_lower(o, g, &ia);
			cg.ia = &ia;
		}
		cg_c_emit(g, &cg, driver_emit_open(&e));
		free(name);
	}
	return driver_emit_close(o, &e, true);
}

static int driver_run(DriverOpts *o, const Source *src)
{
	Diag diag;
	diag_init(&diag, src, stderr);
	if (o->mode == MODE_EMIT && strcmp(o->emit, "tokens") == 0)
		return driver_emit_tokens(o, src, &diag);
	Arena arena = {0};
	TraGraph g = {.arena = &arena};
	int rc = driver_front_end(o, src, &diag, &g);
	bool done = rc != TRAC_EXIT_OK || (o->mode == MODE_EMIT && strcmp(o->emit, "ast") == 0);
	/* the interpreter runs the graph as written: it is the oracle */
	if (!done && o->mode == MODE_INTERPRET)
		rc = driver_interpret(o, &g);
	else if (!done && (o->mode == MODE_EMIT || o->mode == MODE_COMPILE))
		driver_optimise(&g);
	if (!done && driver_needs_decomp(o))
		driver_decompose(o, &g);
	if (!done && o->mode == MODE_EMIT)
		rc = driver_emit_graph(o, &g);
	else if (!done && o->mode == MODE_COMPILE)
		rc = driver_compile(o, &g);
	arena_free(&arena);
	return rc;
}

static void driver_free_opts(DriverOpts *o)
{
	for (int i = 0; i < o->ndefs; i++)
		free((char *)o->defs[i].name);
	for (int i = 0; i < o->ninputs; i++)
		free((char *)o->inputs[i].name);
	for (int i = 0; i < o->noutputs; i++)
		free((char *)o->outputs[i].name);
	free(o->defs);
	free(o->inputs);
	free(o->outputs);
	free(o->manual);
}

int driver_main(int argc, char **argv)
{
	DriverOpts o = {.placer = PLACE_GREEDY};
	sim_model_default(&o.sim);
	driver_parse_args(&o, argc, argv);
	Source src;
	driver_read_source(o.file, &src);
	int rc = driver_run(&o, &src);
	free((char *)src.text);
	driver_free_opts(&o);
	return rc;
}
