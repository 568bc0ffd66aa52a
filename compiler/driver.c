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
	bool shared;           /* --shared */
	const char *name;      /* --name */
	int opt_level;         /* -O */
	bool opt_set;
	const char *cc;        /* --cc */
	const char **xcc;      /* -Xcc FLAG and the words of --cflags, in order */
	int nxcc;
	const char *march;     /* --march=CPU */
	const char *runtime_dir; /* --runtime-dir */
	bool print_runtime_dir;  /* --print-runtime-dir */
	const char *depfile;   /* -MD (NULL: the output with .d) or -MF FILE */
	bool deps;             /* -MD or -MF: write a make dependency file */
	unsigned emits;        /* --emit: a bit per DriverStage */
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

enum { OPT_EMIT = 256, OPT_SHARED, OPT_RUNTIME_DIR, OPT_PRINT_RUNTIME_DIR, OPT_CFLAGS, OPT_MARCH, OPT_CHECK, OPT_INTERPRET, OPT_INPUT, OPT_OUTPUT, OPT_OUTPUT_DIR,
       OPT_RANDOM, OPT_HELP, OPT_VERSION, OPT_NAME, OPT_CC, OPT_PORTABLE, OPT_KEEP_TEMPS, OPT_NODE_KERNELS,
       OPT_DEVICES, OPT_PARTITION, OPT_PLACER, OPT_SIM, OPT_SIM_FLOPS, OPT_SIM_BANDWIDTH };

static const struct option driver_longopts[] = {
	{"emit", required_argument, NULL, OPT_EMIT},
	{"shared", no_argument, NULL, OPT_SHARED},
	{"runtime-dir", required_argument, NULL, OPT_RUNTIME_DIR},
	{"print-runtime-dir", no_argument, NULL, OPT_PRINT_RUNTIME_DIR},
	{"cflags", required_argument, NULL, OPT_CFLAGS},
	{"march", required_argument, NULL, OPT_MARCH},
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
	"usage: trac FILE.tra [options]      (FILE '-' reads the program from standard input)\n"
	"\n"
	"Modes (one at most; the default compiles a native executable):\n"
	"  -c                      compile to an object file and a C header (library mode)\n"
	"  --shared                compile to a shared library and a C header\n"
	"  -S                      write the generated C (same as --emit=c)\n"
	"  --check                 check the program and report errors; write nothing\n"
	"  --emit=STAGE[,STAGE..]  print intermediate forms: tokens, ast, tra, ia, taskgraph,\n"
	"                          plan, plan-json, signature-json, dot or c; several\n"
	"                          stages need -o DIR (one file per stage)\n"
	"  --interpret             run the program with the reference interpreter\n"
	"  --print-runtime-dir     print the runtime's header and library directories\n"
	"\n"
	"Options:\n"
	"  -o FILE                 the output (default: the program's name, NAME.o with -c,\n"
	"                          NAME.so with --shared, standard output with --emit or -o -)\n"
	"  -D NAME=VALUE           override the program's size NAME (repeatable)\n"
	"  -O0 .. -O3              the C compiler's optimisation level (default -O3)\n"
	"  --name NAME             the C name of the program (default: from the file name)\n"
	"  --cc CC                 the C compiler (default: $CC, else the one configure found)\n"
	"  -Xcc FLAG               pass FLAG to the C compiler (repeatable)\n"
	"  --cflags=FLAGS          pass the space-separated FLAGS to the C compiler\n"
	"  --march=CPU             compile for CPU (-march=CPU) instead of this machine's\n"
	"  --portable              do not compile for this machine's CPU (-march=native)\n"
	"  --runtime-dir=DIR       the runtime to link (DIR/include, DIR/lib; default:\n"
	"                          $TRAC_RUNTIME_DIR, else next to trac)\n"
	"  -MD                     also write a make dependency file (the output with .d)\n"
	"  -MF FILE                write the make dependency file to FILE (implies -MD)\n"
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
	"Exit status: 0 success; 1 errors in the program or its data, or in the\n"
	"environment (no C compiler, a failed link, I/O); 2 usage errors; 3 the C\n"
	"compiler failed on the generated code (a bug in trac).\n"
	"See trac(1) and tra(5).\n";

/* The --emit stages, in pipeline order, and the file each gets under -o DIR. */
typedef enum DriverStage {
	STAGE_TOKENS, STAGE_AST, STAGE_TRA, STAGE_IA, STAGE_TASKGRAPH, STAGE_PLAN, STAGE_PLAN_JSON,
	STAGE_SIGNATURE_JSON, STAGE_DOT, STAGE_C, STAGE_COUNT
} DriverStage;

static const struct {
	const char *name;
	const char *ext; /* DIR/NAME.ext; tra's is not .tra, the source's */
} driver_stages[STAGE_COUNT] = {
	{"tokens", ".tokens"}, {"ast", ".ast"}, {"tra", ".tra.txt"}, {"ia", ".ia"},
	{"taskgraph", ".taskgraph"}, {"plan", ".plan"}, {"plan-json", ".plan.json"},
	{"signature-json", ".signature.json"}, {"dot", ".dot"}, {"c", ".c"},
};

static bool driver_wants(const DriverOpts *o, DriverStage st)
{
	return o->mode == MODE_EMIT && (o->emits & (1u << st));
}

static int driver_count_emits(const DriverOpts *o)
{
	int n = 0;
	for (int st = 0; st < STAGE_COUNT; st++)
		n += driver_wants(o, (DriverStage)st);
	return n;
}

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
	if (v < 0 && strspn(value, "0123456789") == strlen(value) && strspn(value, "0") < strlen(value))
		driver_usage_error("-D %s: the value %s is too large (the largest is %" PRId64 ")", name, value,
		                   INT64_MAX);
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

/* --emit=STAGE[,STAGE...] (repeatable; the stages accumulate). */
static void driver_set_emit(DriverOpts *o, const char *list)
{
	driver_set_mode(o, MODE_EMIT, "--emit");
	const char *s = list;
	do {
		size_t n = strcspn(s, ",");
		int st = 0;
		while (st < STAGE_COUNT && !(strlen(driver_stages[st].name) == n &&
		                             strncmp(s, driver_stages[st].name, n) == 0))
			st++;
		if (st == STAGE_COUNT)
			driver_usage_error("unknown --emit stage '%.*s'; the stages are tokens, ast, tra, ia, "
			                   "taskgraph, plan, plan-json, signature-json, dot, c", (int)n, s);
		o->emits |= 1u << st;
		s += n;
	} while (*s++ == ',');
}

/* Adds the first n bytes of flag to the C compiler's extra flags. */
static void driver_add_xcc(DriverOpts *o, const char *flag, size_t n)
{
	char *copy = strndup(flag, n);
	if (!copy)
		trac_fatal("out of memory");
	o->xcc = xrealloc(o->xcc, (size_t)(o->nxcc + 1) * sizeof *o->xcc);
	o->xcc[o->nxcc++] = copy;
}

/* --cflags="-O2 -g": each word is a flag (no shell quoting). */
static void driver_add_cflags(DriverOpts *o, const char *flags)
{
	for (const char *s = flags + strspn(flags, " \t"); *s; s += strspn(s, " \t")) {
		size_t n = strcspn(s, " \t");
		driver_add_xcc(o, s, n);
		s += n;
	}
}

/* --march=CPU: a word the compiler can take as -march= (no spaces, no '-'
 * in front, as gcc's names: native, x86-64-v3, skylake-avx512 ...). */
static void driver_set_march(DriverOpts *o, const char *cpu)
{
	if (!*cpu || cpu[0] == '-' || strpbrk(cpu, " \t\n"))
		driver_usage_error("--march=%s: expected a CPU name such as x86-64-v3 or skylake", cpu);
	o->march = cpu;
}

/* -Xcc FLAG: getopt saw -X with "cc"; FLAG is the next argument. */
static void driver_short_x(DriverOpts *o, int argc, char **argv, const char *arg)
{
	if (strcmp(arg, "cc") != 0)
		driver_usage_error("unknown option '-X%s'; to pass a flag to the C compiler, use -Xcc FLAG", arg);
	if (optind >= argc)
		driver_usage_error("-Xcc needs a flag for the C compiler after it");
	driver_add_xcc(o, argv[optind], strlen(argv[optind]));
	optind++;
}

/* -MD, -MF FILE or -MFFILE (gcc's spellings). */
static void driver_short_m(DriverOpts *o, int argc, char **argv, const char *arg)
{
	o->deps = true;
	if (strcmp(arg, "D") == 0)
		return;
	if (arg[0] != 'F')
		driver_usage_error("unknown option '-M%s'; trac writes dependencies with -MD and -MF FILE", arg);
	if (arg[1])
		o->depfile = arg + 1;
	else if (optind < argc)
		o->depfile = argv[optind++];
	else
		driver_usage_error("-MF needs a file name after it");
	if (o->depfile[0] == '-' && o->depfile[1])
		driver_usage_error("-MF %s: expected a file name, not an option", o->depfile);
}

static char **driver_written(const DriverOpts *o, int *n);
static void driver_free_list(char **files);
static char *driver_program_name(const DriverOpts *o);
static char *driver_replace_ext(const char *path, const char *ext);

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
	if (o->object && o->shared)
		driver_usage_error("-c and --shared cannot be combined: one makes an object, the other a library");
	if ((o->object || o->shared) && o->mode != MODE_COMPILE)
		driver_usage_error("%s cannot be combined with --check, --emit or --interpret",
		                   o->object ? "-c" : "--shared");
	if (o->name && !driver_is_name(o->name, strlen(o->name)))
		driver_usage_error("--name %s: the name must be a C identifier", o->name);
	if (o->mode == MODE_COMPILE && o->out && strcmp(o->out, "-") == 0)
		driver_usage_error("-o -: a compiled program cannot go to standard output; "
		                   "print a stage with --emit or -S");
	if (o->mode == MODE_EMIT && driver_count_emits(o) > 1 && (!o->out || strcmp(o->out, "-") == 0))
		driver_usage_error("several --emit stages need -o DIR: each is written to DIR/NAME.STAGE");
	if (o->deps && (o->mode == MODE_CHECK || o->mode == MODE_INTERPRET ||
	                (o->mode == MODE_EMIT && (!o->out || strcmp(o->out, "-") == 0))))
		driver_usage_error("-MD and -MF describe an output file: use them when compiling, or with "
		                   "--emit and -o FILE");
	if (strcmp(o->file, "-") == 0 && o->mode == MODE_COMPILE && !o->out && !o->name)
		driver_usage_error("the program is read from standard input: name the output with -o "
		                   "(or the program with --name)");
}

/* Two names for one existing file (a hard link, ./x and x, ...). */
static bool driver_same_file(const char *a, const char *b)
{
	struct stat sa, sb;
	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* Refuses, as gcc does, outputs that would overwrite the program or each
 * other (-c -o x.h: the object and its header). */
static void driver_check_written(const DriverOpts *o)
{
	int n;
	char **files = driver_written(o, &n);
	if (o->deps)
		files[n++] = o->depfile ? strdup(o->depfile) : driver_replace_ext(files[0], ".d");
	for (int i = 0; i < n; i++) {
		if (strcmp(o->file, "-") != 0 && driver_same_file(files[i], o->file))
			driver_usage_error("the output '%s' is the program '%s' itself; refusing to overwrite it",
			                   files[i], o->file);
		/* (the interpreter's outputs are checked with its other outputs) */
		for (int j = 0; j < i && o->mode != MODE_INTERPRET; j++)
			if (strcmp(files[i], files[j]) == 0 || driver_same_file(files[i], files[j]))
				driver_usage_error("'%s' would be written twice (%s); name the output with -o FILE.%s",
				                   files[i], i == 1 && files[1] && o->mode == MODE_COMPILE &&
				                   (o->object || o->shared) ? "the output and its header" : "two outputs",
				                   o->object ? "o" : o->shared ? "so" : "out");
	}
	driver_free_list(files);
}

/* -c and --shared make the program's name a C symbol: it must be free. */
static void driver_check_symbol(const DriverOpts *o)
{
	if (!o->object && !o->shared)
		return;
	char *name = driver_program_name(o);
	const char *why = cg_c_name_problem(name);
	if (why) {
		if (o->name)
			driver_usage_error("--name %s: %s; choose another name", name, why);
		driver_usage_error("the program name '%s' (from '%s') %s; choose another with --name NAME",
		                   name, o->file, why);
	}
	free(name);
}

static void driver_set_opt_level(DriverOpts *o, const char *arg)
{
	if (strlen(arg) != 1 || arg[0] < '0' || arg[0] > '3')
		driver_usage_error("-O%s: the optimisation levels are -O0, -O1, -O2 and -O3", arg);
	o->opt_level = arg[0] - '0';
	o->opt_set = true;
}

/* The argument getopt stopped at: a long option is argv[optind - 1]; a
 * short one sits inside a cluster ("-Wall" fails at 'W'), which is
 * argv[optind] while getopt is still inside it, else argv[optind - 1]. */
static _Noreturn void driver_bad_option(int argc, char **argv, const char *why)
{
	const char *arg = argv[optind - 1];
	if (optopt && optind < argc && argv[optind][0] == '-' && argv[optind][1] != '-' &&
	    strchr(argv[optind] + 1, optopt) && !(arg[0] == '-' && arg[1] && strchr(arg + 1, optopt)))
		arg = argv[optind];
	if (optopt && why)
		driver_usage_error("option '-%c' needs a value", optopt);
	if (why)
		driver_usage_error("option '%s' needs a value", arg);
	if (optopt && strlen(arg) > 2)
		driver_usage_error("unknown option '-%c' in '%s'%s", optopt, arg,
		                   optopt == 'W' || optopt == 'f' || optopt == 'g' || optopt == 'm'
		                           ? "; pass C compiler flags with -Xcc FLAG" : "");
	if (optopt)
		driver_usage_error("unknown option '-%c'", optopt);
	driver_usage_error("unknown option '%s'", arg);
}

static void driver_parse_args(DriverOpts *o, int argc, char **argv)
{
	int c;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":o:D:O:cSvX:M:", driver_longopts, NULL)) != -1) {
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
		case 'X': driver_short_x(o, argc, argv, optarg); break;
		case 'M': driver_short_m(o, argc, argv, optarg); break;
		case OPT_SHARED: o->shared = true; break;
		case OPT_RUNTIME_DIR: o->runtime_dir = optarg; break;
		case OPT_PRINT_RUNTIME_DIR: o->print_runtime_dir = true; break;
		case OPT_CFLAGS: driver_add_cflags(o, optarg); break;
		case OPT_MARCH: driver_set_march(o, optarg); break;
		case ':': driver_bad_option(argc, argv, "needs a value");
		default: driver_bad_option(argc, argv, NULL);
		}
	}
	if (o->print_runtime_dir && optind == argc)
		return; /* it needs no program */
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
	bool in = strcmp(path, "-") == 0;
	FILE *f = in ? stdin : fopen(path, "rb");
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
	if (!in)
		fclose(f);
	text[len] = '\0';
	*src = (Source){in ? "<stdin>" : path, text, len};
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
	if (o->out && strcmp(o->out, "-") != 0)
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

/* Every -D must name a size of the program; a near miss is suggested. */
static int driver_check_defs(const DriverOpts *o, const TraGraph *g)
{
	const char **names = xcalloc((size_t)g->nsizes + 1, sizeof *names);
	char list[400] = "";
	for (int k = 0; k < g->nsizes; k++) {
		names[k] = g->sizes[k].name;
		size_t len = strlen(list);
		snprintf(list + len, sizeof list - len, "%s%s", k ? ", " : "", names[k]);
	}
	int rc = TRAC_EXIT_OK;
	for (int i = 0; i < o->ndefs && rc == TRAC_EXIT_OK; i++) {
		if (o->defs[i].used)
			continue;
		const char *near = util_suggest(o->defs[i].name, names, g->nsizes);
		fprintf(stderr, "trac: error: -D %s: the program defines no size '%s'", o->defs[i].name,
		        o->defs[i].name);
		if (near)
			fprintf(stderr, "; did you mean '%s'?", near);
		fprintf(stderr, "\n%s%s\n", g->nsizes ? "note: its sizes are " : "note: it defines no sizes",
		        list);
		rc = TRAC_EXIT_USAGE;
	}
	free(names);
	return rc;
}

/* What --emit collects: a buffer per stage asked for, delivered at the end. */
typedef struct DriverEmits {
	Emit e[STAGE_COUNT];
	bool open[STAGE_COUNT];
} DriverEmits;

static FILE *driver_stage_out(DriverEmits *em, DriverStage st)
{
	em->open[st] = true;
	return driver_emit_open(&em->e[st]);
}

/* Parses and checks the program into g; returns an exit status. */
static int driver_front_end(DriverOpts *o, const Source *src, Diag *diag, TraGraph *g, DriverEmits *em)
{
	if (driver_wants(o, STAGE_TOKENS) && lex_dump_tokens(src, diag, driver_stage_out(em, STAGE_TOKENS)) > 0)
		return TRAC_EXIT_ERROR;
	if (o->mode == MODE_EMIT && (o->emits >> STAGE_AST) == 0)
		return TRAC_EXIT_OK;
	AstProgram prog;
	if (parse_program(src, g->arena, diag, &prog) > 0)
		return TRAC_EXIT_ERROR;
	if (driver_wants(o, STAGE_AST))
		ast_dump(&prog, src, driver_stage_out(em, STAGE_AST));
	if (o->mode == MODE_EMIT && (o->emits >> STAGE_TRA) == 0)
		return TRAC_EXIT_OK;
	if (sema_build(&prog, o->defs, o->ndefs, diag, g) > 0)
		return TRAC_EXIT_ERROR;
	int rc = driver_check_defs(o, g);
	if (rc == TRAC_EXIT_OK)
		tra_verify(g);
	return rc;
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

void driver_optimise(TraGraph *g)
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
	return o->mode == MODE_COMPILE || driver_wants(o, STAGE_C);
}

/* Whether what was asked for needs the placed task graph. */
static bool driver_needs_tasks(const DriverOpts *o)
{
	return driver_block_tasks(o) || driver_wants(o, STAGE_IA) || driver_wants(o, STAGE_TASKGRAPH) ||
	       driver_wants(o, STAGE_PLAN) || driver_wants(o, STAGE_PLAN_JSON) || driver_wants(o, STAGE_DOT);
}

/* Whether it needs the graph partitioned (--emit=tra shows partitions
 * when --devices or --partition asks for them). */
static bool driver_needs_decomp(const DriverOpts *o)
{
	return driver_needs_tasks(o) || (driver_wants(o, STAGE_TRA) && o->decompose);
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

/* The program's C name: the base name of the file (or, for a program
 * read from standard input, of -o, else "stdin") without its .tra (or
 * other) extension, with every character that cannot be in a C
 * identifier replaced by '_'. */
static char *driver_program_name(const DriverOpts *o)
{
	if (o->name)
		return strdup(o->name);
	const char *file = o->file;
	if (strcmp(file, "-") == 0)
		file = o->out && strcmp(o->out, "-") != 0 && driver_count_emits(o) < 2 ? o->out : "stdin";
	const char *base = strrchr(file, '/');
	base = base ? base + 1 : file;
	size_t n = strlen(base);
	if (n > 4 && strcmp(base + n - 4, ".tra") == 0)
		n -= 4;
	else if (file != o->file && strrchr(base, '.') && strrchr(base, '.') != base)
		n = (size_t)(strrchr(base, '.') - base);
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

/* Where -c, --shared or an executable goes, and the header beside it. */
static void driver_outputs(const DriverOpts *o, char **out, char **header)
{
	char *name = driver_program_name(o);
	*out = o->out ? strdup(o->out) : driver_replace_ext(name, o->object ? ".o" : o->shared ? ".so" : "");
	*header = o->object || o->shared ? driver_replace_ext(*out, ".h") : NULL;
	free(name);
}

/* A program that cannot fit in this machine's memory is worth a warning
 * before it is built (it may be meant for a larger machine, so it is
 * not an error): its inputs and outputs live for the whole run, and the
 * largest intermediate at least for a while. */
static void driver_warn_memory(const TraGraph *g)
{
	double fixed = 0, largest = 0;
	int big = -1;
	for (int id = 0; id < g->nnodes; id++) {
		const TraNode *n = &g->nodes[id];
		double b = (double)tra_node_elements(n) * (double)trart_dtype_size(n->type);
		if (n->kind == TRA_NODE_INPUT || n->is_output)
			fixed += b;
		else if (b > largest)
			largest = b;
		if (big < 0 || b > (double)tra_node_elements(&g->nodes[big]) *
		                       (double)trart_dtype_size(g->nodes[big].type))
			big = id;
	}
	double phys = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
	if (phys <= 0 || fixed + largest <= phys || big < 0)
		return;
	const TraNode *n = &g->nodes[big];
	fprintf(stderr, "trac: warning: the program needs at least %.1f GB (its largest tensor, %s, "
	        "is %.1f GB), more than this machine's %.1f GB of memory; it will fail here with "
	        "an out-of-memory error\n", (fixed + largest) / 1e9, n->name,
	        (double)tra_node_elements(n) * (double)trart_dtype_size(n->type) / 1e9, phys / 1e9);
}

static int driver_compile(const DriverOpts *o, const TraGraph *g, const IaGraph *ia)
{
	driver_warn_memory(g);
	char *name = driver_program_name(o), *out, *header_out;
	driver_outputs(o, &out, &header_out);
	const char *slash = header_out ? strrchr(header_out, '/') : NULL;
	BuildOptions b = {
		.name = name, .source = o->file, .out = out, .object = o->object, .shared = o->shared,
		.header_name = slash ? slash + 1 : header_out, .header_out = header_out,
		.cc = o->cc, .xcc = o->xcc, .nxcc = o->nxcc, .march = o->march, .runtime_dir = o->runtime_dir,
		.opt_level = o->opt_set ? o->opt_level : 3, .portable = o->portable,
		.keep_temps = o->keep_temps, .verbose = o->verbose, .ia = ia,
	};
	int rc = build_program(g, &b);
	free(name);
	free(out);
	free(header_out);
	return rc;
}

/* The stages that need the placed task graph. */
static void driver_emit_tasks(const DriverOpts *o, const TraGraph *g, const IaGraph *ia, DriverEmits *em)
{
	if (driver_wants(o, STAGE_IA))
		ia_dump(ia, driver_stage_out(em, STAGE_IA));
	if (driver_wants(o, STAGE_TASKGRAPH))
		ia_dump_taskgraph(ia, driver_stage_out(em, STAGE_TASKGRAPH));
	if (driver_wants(o, STAGE_PLAN))
		plan_dump(ia, &o->sim, o->placer, driver_stage_out(em, STAGE_PLAN));
	if (driver_wants(o, STAGE_PLAN_JSON))
		plan_dump_json(ia, &o->sim, o->placer, driver_stage_out(em, STAGE_PLAN_JSON));
	if (driver_wants(o, STAGE_DOT))
		plan_dump_dot(g, ia, driver_stage_out(em, STAGE_DOT));
}

/* -S: the C of block tasks (ia), or of whole-node kernels (NULL). */
static void driver_emit_c(const DriverOpts *o, const TraGraph *g, const IaGraph *ia, DriverEmits *em)
{
	char *name = driver_program_name(o);
	CgCOptions cg = {name, o->file, false, NULL, ia};
	cg_c_emit(g, &cg, driver_stage_out(em, STAGE_C));
	free(name);
}

/* Everything after the front end: passes, decomposition, lowering, and
 * the stages or the build that use them. */
static int driver_back_end(const DriverOpts *o, TraGraph *g, DriverEmits *em)
{
	driver_optimise(g);
	if (driver_wants(o, STAGE_SIGNATURE_JSON)) {
		char *name = driver_program_name(o);
		plan_dump_signature_json(g, name, driver_stage_out(em, STAGE_SIGNATURE_JSON));
		free(name);
	}
	if (driver_wants(o, STAGE_TRA) && !o->decompose)
		tra_dump(g, driver_stage_out(em, STAGE_TRA));
	if (driver_needs_decomp(o))
		driver_decompose(o, g);
	if (driver_wants(o, STAGE_TRA) && o->decompose)
		tra_dump(g, driver_stage_out(em, STAGE_TRA));
	IaGraph ia;
	if (driver_needs_tasks(o)) {
		driver_lower(o, g, &ia);
		driver_emit_tasks(o, g, &ia, em);
	}
	if (driver_wants(o, STAGE_C))
		driver_emit_c(o, g, driver_block_tasks(o) ? &ia : NULL, em);
	if (o->mode == MODE_COMPILE)
		return driver_compile(o, g, driver_block_tasks(o) ? &ia : NULL);
	return TRAC_EXIT_OK;
}

/* ---- delivering --emit's stages ------------------------------------------------------ */

/* The file a stage goes to under -o DIR. */
static char *driver_stage_path(const DriverOpts *o, DriverStage st)
{
	char *name = driver_program_name(o);
	size_t n = strlen(o->out) + strlen(name) + strlen(driver_stages[st].ext) + 2;
	char *path = xmalloc(n);
	snprintf(path, n, "%s/%s%s", o->out, name, driver_stages[st].ext);
	free(name);
	return path;
}

/* One stage: to -o FILE, or standard output. Several: one file each in
 * -o DIR (created if need be), all written or none. */
static int driver_deliver_emits(const DriverOpts *o, DriverEmits *em)
{
	int rc = TRAC_EXIT_OK;
	for (int st = 0; st < STAGE_COUNT; st++)
		if (em->open[st])
			fclose(em->e[st].f);
	if (driver_count_emits(o) == 1) {
		for (int st = 0; st < STAGE_COUNT; st++)
			if (em->open[st])
				rc = driver_deliver(o, em->e[st].buf, em->e[st].len);
		return rc;
	}
	char err[TRART_ERRLEN];
	TrartFiles *fs = trart_files_new();
	if (!fs)
		trac_fatal("out of memory");
	if (trart_files_make_dir(fs, o->out, err, sizeof err) != 0) {
		fprintf(stderr, "trac: error: %s\n", err);
		rc = TRAC_EXIT_ERROR;
	}
	char *written[STAGE_COUNT] = {NULL};
	for (int st = 0; st < STAGE_COUNT && rc == TRAC_EXIT_OK; st++)
		if (em->open[st]) {
			written[st] = driver_stage_path(o, (DriverStage)st);
			if (!driver_write_file(written[st], em->e[st].buf, em->e[st].len))
				rc = TRAC_EXIT_ERROR;
		}
	/* all or nothing: a failure takes back the stages already written,
	 * and the set then removes the directories it made */
	for (int st = 0; st < STAGE_COUNT; st++) {
		if (rc != TRAC_EXIT_OK && written[st])
			unlink(written[st]);
		free(written[st]);
	}
	if (rc == TRAC_EXIT_OK && trart_files_commit(fs, err, sizeof err) != 0) {
		fprintf(stderr, "trac: error: %s\n", err);
		rc = TRAC_EXIT_ERROR;
	}
	trart_files_free(fs);
	return rc;
}

static void driver_free_emits(DriverEmits *em)
{
	for (int st = 0; st < STAGE_COUNT; st++)
		if (em->open[st])
			free(em->e[st].buf);
}

/* ---- make dependencies (-MD, -MF) ------------------------------------------------------ */

/* A path as make reads it in a rule: spaces, '#' and ':' escaped, '$' doubled. */
static void driver_make_word(FILE *f, const char *path)
{
	for (const char *p = path; *p; p++) {
		if (*p == '$')
			fputc('$', f);
		else if (*p == ' ' || *p == '#' || *p == ':' || *p == '\\')
			fputc('\\', f);
		fputc(*p, f);
	}
}

/* The files a change to which must remake the output: the program, the
 * trac binary itself and, for what is compiled, the runtime. */
static int driver_dep_prereqs(const DriverOpts *o, const char **files, Arena *a)
{
	int n = 0;
	if (strcmp(o->file, "-") != 0)
		files[n++] = o->file;
	char *self = realpath("/proc/self/exe", NULL);
	if (self) {
		files[n++] = arena_printf(a, "%s", self);
		free(self);
	}
	const char *inc, *lib;
	if (o->mode == MODE_COMPILE && build_find_runtime(a, o->runtime_dir, &inc, &lib)) {
		files[n++] = arena_printf(a, "%s/trart.h", inc);
		if (!o->object)
			files[n++] = arena_printf(a, "%s/libtrart.a", lib);
	}
	return n;
}

/* Writes "TARGETS: PREREQS" and, as gcc -MP does, an empty rule per
 * prerequisite but the program, so a moved trac does not break make. */
static int driver_write_deps(const DriverOpts *o, char *const *targets, int ntargets)
{
	Arena a = {0};
	const char *pre[4];
	int npre = driver_dep_prereqs(o, pre, &a);
	Emit e;
	FILE *f = driver_emit_open(&e);
	for (int i = 0; i < ntargets; i++) {
		driver_make_word(f, targets[i]);
		fputs(i + 1 < ntargets ? " " : ":", f);
	}
	for (int i = 0; i < npre; i++) {
		fputs(" \\\n ", f);
		driver_make_word(f, pre[i]);
	}
	fputc('\n', f);
	for (int i = strcmp(o->file, "-") != 0; i < npre; i++) {
		fputc('\n', f);
		driver_make_word(f, pre[i]);
		fputs(":\n", f);
	}
	fclose(f);
	char *path = o->depfile ? strdup(o->depfile) : driver_replace_ext(targets[0], ".d");
	int rc = driver_write_file(path, e.buf, e.len) ? TRAC_EXIT_OK : TRAC_EXIT_ERROR;
	free(path);
	free(e.buf);
	arena_free(&a);
	return rc;
}

/* The files this run writes (NULL-terminated, malloc'd); for the checks
 * against the source and for the dependency file's targets. */
static char **driver_written(const DriverOpts *o, int *n)
{
	char **files = xcalloc(STAGE_COUNT + 2, sizeof *files);
	*n = 0;
	if (o->mode == MODE_COMPILE) {
		driver_outputs(o, &files[0], &files[1]);
		*n = files[1] ? 2 : 1;
	} else if (o->mode == MODE_EMIT && driver_count_emits(o) > 1 && o->out) {
		for (int st = 0; st < STAGE_COUNT; st++)
			if (driver_wants(o, (DriverStage)st))
				files[(*n)++] = driver_stage_path(o, (DriverStage)st);
	} else if (o->mode == MODE_EMIT && o->out && strcmp(o->out, "-") != 0) {
		files[(*n)++] = strdup(o->out);
	} else if (o->mode == MODE_INTERPRET) {
		files = xrealloc(files, (size_t)(o->noutputs + 1) * sizeof *files);
		for (int i = 0; i < o->noutputs; i++)
			files[(*n)++] = strdup(o->outputs[i].path);
		files[*n] = NULL;
	}
	return files;
}

static void driver_free_list(char **files)
{
	for (char **p = files; *p; p++)
		free(*p);
	free(files);
}

static int driver_run(DriverOpts *o, const Source *src)
{
	Diag diag;
	diag_init(&diag, src, stderr);
	Arena arena = {0};
	TraGraph g = {.arena = &arena};
	DriverEmits em = {0};
	int rc = driver_front_end(o, src, &diag, &g, &em);
	bool more = rc == TRAC_EXIT_OK && (o->mode != MODE_EMIT || (o->emits >> STAGE_TRA) != 0);
	/* the interpreter runs the graph as written: it is the oracle */
	if (more && o->mode == MODE_INTERPRET)
		rc = driver_interpret(o, &g);
	else if (more && (o->mode == MODE_EMIT || o->mode == MODE_COMPILE))
		rc = driver_back_end(o, &g, &em);
	if (rc == TRAC_EXIT_OK && o->mode == MODE_EMIT)
		rc = driver_deliver_emits(o, &em);
	else
		for (int st = 0; st < STAGE_COUNT; st++)
			if (em.open[st])
				fclose(em.e[st].f);
	driver_free_emits(&em);
	int n;
	char **written = driver_written(o, &n);
	if (rc == TRAC_EXIT_OK && o->deps)
		rc = driver_write_deps(o, written, n);
	driver_free_list(written);
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
	for (int i = 0; i < o->nxcc; i++)
		free((char *)o->xcc[i]);
	free(o->xcc);
}

int driver_main(int argc, char **argv)
{
	DriverOpts o = {.placer = PLACE_GREEDY};
	sim_model_default(&o.sim);
	driver_parse_args(&o, argc, argv);
	if (o.print_runtime_dir) {
		int rc = build_print_runtime_dir(o.runtime_dir);
		driver_free_opts(&o);
		return rc;
	}
	driver_check_written(&o);
	driver_check_symbol(&o);
	Source src;
	driver_read_source(o.file, &src);
	int rc = driver_run(&o, &src);
	free((char *)src.text);
	driver_free_opts(&o);
	return rc;
}
