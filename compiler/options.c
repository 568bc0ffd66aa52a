/* options.c: trac's command line, parsed into DriverOpts (options.h).
 * needs: argv. gives: the options, checked as far as they can be without
 * the program (driver.c checks -D, --input, --output and manual
 * partitions against it), or a usage error and exit 2.
 *
 * getopt_long reads argv; each option that takes a value has a setter
 * that checks it. The --emit stages, their "did you mean" and the stage
 * list of --help come from driver.c's table of stages, so a stage is
 * added there and nowhere here.
 */
#include "options.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#include <unistd.h>

enum { OPT_EMIT = 256, OPT_SHARED, OPT_RUNTIME_DIR, OPT_PRINT_RUNTIME_DIR, OPT_CFLAGS, OPT_MARCH, OPT_CHECK, OPT_INTERPRET, OPT_INPUT, OPT_OUTPUT, OPT_OUTPUT_DIR,
       OPT_RANDOM, OPT_HELP, OPT_VERSION, OPT_NAME, OPT_CC, OPT_PORTABLE, OPT_KEEP_TEMPS, OPT_NODE_KERNELS,
       OPT_DEVICES, OPT_MEMORY, OPT_REUSE, OPT_PARTITION, OPT_PLACER, OPT_SIM, OPT_SIM_FLOPS, OPT_SIM_BANDWIDTH, OPT_AFTER, OPT_BACKEND,
       OPT_SANITIZE, OPT_RANKS, OPT_GPUS, OPT_TF32, OPT_NO_STRASSEN, OPT_CUDA_ARCH, OPT_STEPS, OPT_LOG_EVERY,
       OPT_PLACER_WEIGHTS, OPT_SEARCH_CALLS, OPT_TRAIN_PLACER, OPT_TRAIN, OPT_TRAIN_DEVICES, OPT_TRAIN_SEED, OPT_MEASURED };

static const struct option options_longopts[] = {
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
	{"steps", required_argument, NULL, OPT_STEPS},
	{"log-every", required_argument, NULL, OPT_LOG_EVERY},
	{"help", no_argument, NULL, OPT_HELP},
	{"version", no_argument, NULL, OPT_VERSION},
	{"name", required_argument, NULL, OPT_NAME},
	{"cc", required_argument, NULL, OPT_CC},
	{"portable", no_argument, NULL, OPT_PORTABLE},
	{"keep-temps", no_argument, NULL, OPT_KEEP_TEMPS},
	{"node-kernels", no_argument, NULL, OPT_NODE_KERNELS},
	{"devices", required_argument, NULL, OPT_DEVICES},
	{"memory", required_argument, NULL, OPT_MEMORY},
	{"reuse", required_argument, NULL, OPT_REUSE},
	{"ranks", required_argument, NULL, OPT_RANKS},
	{"gpus", required_argument, NULL, OPT_GPUS},
	{"partition", required_argument, NULL, OPT_PARTITION},
	{"placer", required_argument, NULL, OPT_PLACER},
	{"placer-weights", required_argument, NULL, OPT_PLACER_WEIGHTS},
	{"search-calls", required_argument, NULL, OPT_SEARCH_CALLS},
	{"train-placer", required_argument, NULL, OPT_TRAIN_PLACER},
	{"train", required_argument, NULL, OPT_TRAIN},
	{"train-devices", required_argument, NULL, OPT_TRAIN_DEVICES},
	{"train-seed", required_argument, NULL, OPT_TRAIN_SEED},
	{"measured", required_argument, NULL, OPT_MEASURED},
	{"sim", required_argument, NULL, OPT_SIM},
	{"sim-flops", required_argument, NULL, OPT_SIM_FLOPS},
	{"sim-bandwidth", required_argument, NULL, OPT_SIM_BANDWIDTH},
	{"after", required_argument, NULL, OPT_AFTER},
	{"backend", required_argument, NULL, OPT_BACKEND},
	{"sanitize", required_argument, NULL, OPT_SANITIZE},
	{"tf32", no_argument, NULL, OPT_TF32},
	{"no-strassen", no_argument, NULL, OPT_NO_STRASSEN},
	{"cuda-arch", required_argument, NULL, OPT_CUDA_ARCH},
	{NULL, 0, NULL, 0},
};

#ifdef HAVE_LLVM
#define OPTIONS_DEFAULT_BACKEND "llvm"
#else
#define OPTIONS_DEFAULT_BACKEND "c"
#endif

/* --help: the text before the stages, the stages (from driver_stages),
 * the text after them. */
static const char options_usage_head[] =
	"usage: trac FILE.tra [options]      (FILE '-' reads the program from standard input)\n"
	"\n"
	"Modes (one at most; the default compiles a native executable):\n"
	"  -c                      compile to an object file and a C header (library mode)\n"
	"  --shared                compile to a shared library and a C header\n"
	"  -S                      write the generated C (same as --emit=c)\n"
	"  --check                 check the program and report errors; write nothing\n"
	"  --emit=STAGE[,STAGE..]  print intermediate forms (the stages below); several\n"
	"                          stages need -o DIR (one file per stage)\n"
	"  --after=PASS            with --emit=tra: the graph after PASS (sema, algebra, cse,\n"
	"                          hoist, hoist-cse, subexpr, order, order-cse, fuse, dce or\n"
	"                          share)\n"
	"  --interpret             run the program with the reference interpreter\n"
	"  --print-runtime-dir     print the runtime's header and library directories\n"
	"\n"
	"Stages of --emit, in pipeline order (under -o DIR, each goes to DIR/FILE):\n";

static const char options_usage_tail[] =
	"\n"
	"Options:\n"
	"  -o FILE                 the output (default: the program's name, NAME.o with -c,\n"
	"                          NAME.so with --shared, standard output with --emit or -o -)\n"
	"  -D NAME=VALUE           override the program's size NAME (repeatable)\n"
	"  --backend=c|llvm        compile through C and the C compiler, or through LLVM\n"
	"                          (default: " OPTIONS_DEFAULT_BACKEND "; see --version)\n"
	"  --backend=cuda          run on CUDA GPUs (--gpus): CUDA kernels and cuBLAS,\n"
	"                          compiled by nvcc\n"
	"  --backend=cuda-sim      run on simulated GPUs (--gpus): the GPU executor with\n"
	"                          the C back end's kernels on CPU threads\n"
	"  --cuda-arch=ARCH[,..]   the GPUs nvcc compiles for: sm_90 (the default), or a\n"
	"                          list for a fat binary (--backend=cuda)\n"
	"  --tf32                  let cuBLAS compute f32 GEMMs in TF32 on tensor cores\n"
	"                          (faster, less accurate; --backend=cuda)\n"
	"  --no-strassen           large GEMMs as plain BLAS calls, not Strassen-Winograd\n"
	"                          levels (slower, BLAS's rounding)\n"
	"  -O0 .. -O3              the C compiler's optimisation level (default -O3; the\n"
	"                          llvm back end always optimises at O3)\n"
	"  --name NAME             the C name of the program (default: from the file name)\n"
	"  --cc CC                 the C compiler (default: $CC, else the one configure found)\n"
	"  -Xcc FLAG               pass FLAG to the C compiler (repeatable)\n"
	"  --cflags=FLAGS          pass the space-separated FLAGS to the C compiler\n"
	"  --march=CPU             compile for CPU (-march=CPU) instead of this machine's\n"
	"                          (the c back end; llvm compiles for this machine's CPU)\n"
	"  --portable              do not compile for this machine's CPU (-march=native;\n"
	"                          the c back end)\n"
	"  --runtime-dir=DIR       the runtime to link (DIR/include, DIR/lib; default:\n"
	"                          $TRAC_RUNTIME_DIR, else next to trac)\n"
	"  -MD                     also write a make dependency file (the output with .d)\n"
	"  -MF FILE                write the make dependency file to FILE (implies -MD)\n"
	"  --keep-temps            keep the generated C and say where\n"
	"  --sanitize=thread       build the program with ThreadSanitizer (both back ends)\n"
	"  --node-kernels          one multithreaded kernel per node instead of block tasks\n"
	"  -v                      print the commands trac runs\n"
	"  -w                      print no warnings\n"
	"  -Werror                 make every warning an error\n"
	"  -W[no-]NAME             turn warning NAME on or off: unused, division-by-zero,\n"
	"                          trivial-reduction, zero-gradient, or all\n"
	"  --input NAME=FILE.npy   read input NAME from a .npy file (--interpret)\n"
	"  --output NAME=FILE.npy  write output NAME to a .npy file (--interpret)\n"
	"  --output-dir DIR        write other outputs to DIR/NAME.npy (default: .)\n"
	"  --random[=SEED]         fill inputs not given with uniform values in [-1, 1)\n"
	"                          (integers in [-64, 64))\n"
	"  --steps N               run N training steps, each output that feeds an input\n"
	"                          (NEXT -> X) copied into it between steps (--interpret)\n"
	"  --log-every K           print the scalar outputs every K steps and after the\n"
	"                          last (--interpret)\n"
	"\n"
	"Decomposition (shown by --emit=tra when asked for):\n"
	"  --devices=N             decompose for N devices (default: the online cores);\n"
	"                          with --ranks, N per rank\n"
	"  --ranks=R               place the program on R MPI ranks (mpirun -np R ./prog)\n"
	"  --gpus=N                place the program on N GPUs (--backend=cuda or cuda-sim)\n"
	"  --partition=auto|none   search partitions (EinDecomp; the default) or one block\n"
	"  --partition=NODE:I=N,.. fix node NODE's block counts, per index (repeatable)\n"
	"  --placer=NAME           roundrobin, greedy (default), lshs, critical-path,\n"
	"                          search or learned\n"
	"  --placer-weights=FILE   the learned placer's weights (default: the ones\n"
	"                          installed with trac)\n"
	"  --search-calls=N        simulator calls of --placer=search (default 2000)\n"
	"  --memory=SIZE           the memory budget of the intermediates (bytes, or with\n"
	"                          K, M, G or T: powers of 1024); what does not fit is\n"
	"                          offloaded to a spill file and reloaded (default: none)\n"
	"  --reuse=auto|none|MIN,BLOCK  reuse chains (see trac(1)): found for tensors of\n"
	"                          MIN bytes or more, cut into blocks near BLOCK bytes\n"
	"                          (auto, the default: 32M,2M), or none\n"
	"  --sim=KEY=VALUE,...     the simulator's device model: gemm-flops, elt-flops,\n"
	"                          bandwidth, link-bandwidth, latency, spill-bandwidth,\n"
	"                          rank-bandwidth, rank-latency\n"
	"                          (e.g. 120G, 2e-6)\n"
	"  --sim-flops=F           same as --sim=gemm-flops=F\n"
	"  --sim-bandwidth=B       same as --sim=bandwidth=B\n"
	"\n"
	"Training the learned placer (trac --train-placer=OUT [options] FILE.tra...):\n"
	"  --train-placer=OUT      train on the programs' task graphs, write weights to OUT\n"
	"  --train=STAGE:N,...     episodes per stage: imitate (1000), reinforce (2000),\n"
	"                          finetune (500, with --measured)\n"
	"  --train-devices=N,...   the device counts to train for (default 2,4,8)\n"
	"  --train-seed=S          the seed of the weights, the graphs' order, the samples\n"
	"  --measured=TRACE.json   a trace (--trace) of a program compiled from the k-th\n"
	"                          graph: fine-tune on its measured task times (repeatable)\n"
	"  --help                  print this help and exit\n"
	"  --version               print the version and exit\n"
	"\n"
	"Exit status: 0 success; 1 errors in the program or its data, or in the\n"
	"environment (no C compiler, a failed link, I/O); 2 usage errors; 3 the C\n"
	"compiler failed on the generated code (a bug in trac).\n"
	"See trac(1) and tra(5).\n";

/* Prints --help: a line per stage, its file under -o DIR in brackets
 * (NAME is the program's, as the other lines of --help say). */
static void options_print_help(FILE *out)
{
	fputs(options_usage_head, out);
	for (int st = 0; st < driver_nstages; st++)
		fprintf(out, "  %-22s  %s (NAME%s)\n", driver_stages[st].name, driver_stages[st].what,
		        driver_stages[st].ext);
	fputs(options_usage_tail, out);
}

bool options_wants(const DriverOpts *o, int st)
{
	return o->mode == MODE_EMIT && (o->emits & (1u << st));
}

int options_count_emits(const DriverOpts *o)
{
	int n = 0;
	for (int st = 0; st < driver_nstages; st++)
		n += options_wants(o, st);
	return n;
}

void options_usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("trac: error: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputs("\ntry 'trac --help'\n", stderr);
	va_end(ap);
	exit(TRAC_EXIT_USAGE);
}

bool options_is_name(const char *s, size_t n)
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
static void options_split(const char *opt, const char *arg, const char **name, const char **value)
{
	const char *eq = strchr(arg, '=');
	if (!eq || !options_is_name(arg, (size_t)(eq - arg)) || eq[1] == '\0')
		options_usage_error("%s expects NAME=VALUE, not '%s'", opt, arg);
	*name = strndup(arg, (size_t)(eq - arg));
	if (!*name)
		trac_fatal("out of memory");
	*value = eq + 1;
}

/* A positive decimal integer that fits in 63 bits, or -1. */
static int64_t options_positive(const char *s)
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

/* --steps N, --log-every K: a positive count. */
static long options_count(const char *opt, const char *arg)
{
	int64_t v = options_positive(arg);
	if (v < 0 || v > 1000000000)
		options_usage_error("%s %s: expected a positive integer up to 1000000000", opt, arg);
	return (long)v;
}

static void options_add_def(DriverOpts *o, const char *arg)
{
	const char *name, *value;
	options_split("-D", arg, &name, &value);
	int64_t v = options_positive(value);
	if (v < 0 && strspn(value, "0123456789") == strlen(value) && strspn(value, "0") < strlen(value))
		options_usage_error("-D %s: the value %s is too large (the largest is %" PRId64 ")", name, value,
		                    INT64_MAX);
	if (v < 0)
		options_usage_error("-D %s: the value must be a positive integer, not '%s'", name, value);
	for (int i = 0; i < o->ndefs; i++)
		if (strcmp(o->defs[i].name, name) == 0)
			options_usage_error("-D %s is given twice", name);
	o->defs = xrealloc(o->defs, (size_t)(o->ndefs + 1) * sizeof *o->defs);
	o->defs[o->ndefs++] = (SizeOverride){name, v, false};
}

static void options_add_path(NamedPath **list, int *n, const char *opt, const char *arg)
{
	const char *name, *path;
	options_split(opt, arg, &name, &path);
	for (int i = 0; i < *n; i++)
		if (strcmp((*list)[i].name, name) == 0)
			options_usage_error("%s %s is given twice", opt, name);
	*list = xrealloc(*list, (size_t)(*n + 1) * sizeof **list);
	(*list)[(*n)++] = (NamedPath){name, path, false};
}

static void options_set_mode(DriverOpts *o, DriverMode m, const char *opt)
{
	if (o->mode_set && o->mode != m)
		options_usage_error("%s cannot be combined with another of --check, --emit, --interpret, "
		                    "--train-placer", opt);
	o->mode = m;
	o->mode_set = true;
}

static void options_set_random(DriverOpts *o, const char *arg)
{
	o->random = true;
	if (!arg)
		return;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(arg, &end, 10);
	if (errno || *end || !*arg || arg[0] == '-')
		options_usage_error("--random=SEED needs a non-negative integer seed, not '%s'", arg);
	o->seed = v;
}

static void options_set_devices(DriverOpts *o, const char *arg)
{
	int64_t v = options_positive(arg);
	if (v < 1 || v > 4096)
		options_usage_error("--devices=N needs a count from 1 to 4096, not '%s'", arg);
	o->devices = (int)v;
	o->decompose = true;
}

/* --ranks=R: the MPI ranks the program is placed on. */
static void options_set_ranks(DriverOpts *o, const char *arg)
{
	int64_t v = options_positive(arg);
	if (v < 1 || v > 64)
		options_usage_error("--ranks=R needs a count from 1 to 64, not '%s'", arg);
	o->ranks = (int)v;
	o->decompose = true;
}

/* --gpus=N: the GPUs the program is placed on (each a device). */
static void options_set_gpus(DriverOpts *o, const char *arg)
{
	int64_t v = options_positive(arg);
	if (v < 1 || v > 64)
		options_usage_error("--gpus=N needs a count from 1 to 64, not '%s'", arg);
	o->gpus = (int)v;
	o->decompose = true;
}

/* A positive byte count at arg, or one with K, M, G or T (powers of
 * 1024), ending at stop or at the string's end; 0 if there is none. */
static int64_t options_bytes(const char *arg, char stop)
{
	if (*arg < '0' || *arg > '9')
		return 0;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(arg, &end, 10);
	const char *units = "KMGT", *u = *end ? strchr(units, *end >= 'a' ? *end - 32 : *end) : NULL;
	int shift = u ? 10 * (int)(u - units + 1) : 0;
	end += u != NULL;
	if (errno || (*end && *end != stop) || v == 0 || v > (unsigned long long)(INT64_MAX >> shift))
		return 0;
	return (int64_t)(v << shift);
}

/* --memory=SIZE: a byte count, or one with K, M, G or T (powers of 1024). */
static void options_set_memory(DriverOpts *o, const char *arg)
{
	o->memory = options_bytes(arg, '\0');
	if (o->memory == 0)
		options_usage_error("--memory=SIZE needs a positive byte count such as 65536, 512M or 2G, "
		                    "not '%s'", arg);
}

/* --reuse=auto, none, or MIN,BLOCK: byte counts as --memory's. */
static void options_set_reuse(DriverOpts *o, const char *arg)
{
	o->no_reuse = strcmp(arg, "none") == 0;
	o->reuse = (ReuseSizes){0, 0};
	if (o->no_reuse || strcmp(arg, "auto") == 0)
		return;
	const char *comma = strchr(arg, ',');
	if (comma) {
		o->reuse.min_bytes = options_bytes(arg, ',');
		o->reuse.block_bytes = options_bytes(comma + 1, '\0');
	}
	if (o->reuse.min_bytes == 0 || o->reuse.block_bytes == 0)
		options_usage_error("--reuse needs auto, none, or MIN,BLOCK: two positive byte counts "
		                    "such as 32M,2M, not '%s'", arg);
}

/* --partition=auto, none, or NODE:INDEX=COUNT,... (checked against the
 * graph once it is built). */
static void options_add_partition(DriverOpts *o, const char *arg)
{
	o->decompose = true;
	if (strcmp(arg, "auto") == 0 || strcmp(arg, "none") == 0) {
		if (o->pmode && strcmp(o->pmode, arg) != 0)
			options_usage_error("--partition=auto and --partition=none cannot be combined");
		o->pmode = arg;
		return;
	}
	if (!strchr(arg, ':'))
		options_usage_error("--partition expects auto, none or NODE:INDEX=COUNT,..., not '%s'", arg);
	o->manual = xrealloc(o->manual, (size_t)(o->nmanual + 1) * sizeof *o->manual);
	o->manual[o->nmanual++] = arg;
}

static void options_set_placer(DriverOpts *o, const char *arg)
{
	if (!place_parse(arg, &o->placer))
		options_usage_error("unknown --placer '%s'; the placers are roundrobin, greedy, lshs, critical-path, "
		                    "search, learned", arg);
}

/* --train=imitate:N,reinforce:N,finetune:N (any of them, once each). */
static void options_set_train(DriverOpts *o, const char *arg)
{
	static const char *const stages[] = {"imitate", "reinforce", "finetune"};
	for (const char *s = arg; *s;) {
		size_t n = strcspn(s, ","), name = strcspn(s, ":");
		int k = 0;
		while (k < 3 && !(name < n && strlen(stages[k]) == name && strncmp(s, stages[k], name) == 0))
			k++;
		char num[24];
		size_t len = name < n ? n - name - 1 : 0;
		snprintf(num, sizeof num, "%.*s", (int)(len < sizeof num ? len : sizeof num - 1), s + name + 1);
		int64_t v = strcmp(num, "0") == 0 ? 0 : options_positive(num);
		if (k == 3 || len >= sizeof num || v < 0 || v > 10000000)
			options_usage_error("--train=%s: expected STAGE:EPISODES,... with the stages imitate, reinforce "
			                    "and finetune, each at most 10000000 episodes", arg);
		if (o->train_stage[k] >= 0)
			options_usage_error("--train: the stage %s is given twice", stages[k]);
		o->train_stage[k] = (long)v;
		s += n + (s[n] == ',');
		if (s[-1] == ',' && !*s)
			options_usage_error("--train=%s: nothing after the last ','", arg);
	}
}

/* --train-devices=N,...: device counts from 1 to 4096. */
static void options_set_train_devices(DriverOpts *o, const char *arg)
{
	o->ntrain_devices = 0;
	for (const char *s = arg;;) {
		char num[16];
		size_t n = strcspn(s, ",");
		snprintf(num, sizeof num, "%.*s", (int)(n < sizeof num ? n : sizeof num - 1), s);
		int64_t v = n < sizeof num ? options_positive(num) : -1;
		if (v < 1 || v > 4096)
			options_usage_error("--train-devices=%s: expected device counts from 1 to 4096, comma-separated",
			                    arg);
		o->train_devices = xrealloc(o->train_devices, (size_t)(o->ntrain_devices + 1) * sizeof *o->train_devices);
		o->train_devices[o->ntrain_devices++] = (int)v;
		if (!s[n])
			break;
		s += n + 1;
	}
}

static void options_set_train_seed(DriverOpts *o, const char *arg)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(arg, &end, 10);
	if (!*arg || *arg == '-' || *end || errno)
		options_usage_error("--train-seed=%s: expected a non-negative integer below 2^64", arg);
	o->train_seed = v;
}

/* --sim=KEY=VALUE,...; prefix is the key that --sim-flops and the like imply. */
static void options_set_sim(DriverOpts *o, const char *opt, const char *prefix, const char *arg)
{
	char err[300], spec[300];
	snprintf(spec, sizeof spec, "%s%s", prefix, arg);
	if (!sim_model_set(&o->sim, spec, err, sizeof err))
		options_usage_error("%s: %s", opt, err);
}

/* names[0..n) as "a, b, c" in buf. */
static void options_join(const char *const *names, int n, char *buf, size_t size)
{
	buf[0] = '\0';
	for (int i = 0; i < n; i++) {
		size_t len = strlen(buf);
		snprintf(buf + len, size - len, "%s%s", i ? ", " : "", names[i]);
	}
}

/* A word of --emit that names no stage: the nearest stage, or all. */
static _Noreturn void options_unknown_stage(const char *s, size_t n)
{
	const char *names[DRIVER_MAX_STAGES];
	char word[64], list[512];
	for (int st = 0; st < driver_nstages; st++)
		names[st] = driver_stages[st].name;
	/* a word too long to keep is too long to be near a stage's name */
	snprintf(word, sizeof word, "%.*s", (int)n, s);
	const char *near = util_suggest(word, names, driver_nstages);
	if (near)
		options_usage_error("unknown --emit stage '%.*s'; did you mean '%s'?", (int)n, s, near);
	options_join(names, driver_nstages, list, sizeof list);
	options_usage_error("unknown --emit stage '%.*s'; the stages are %s", (int)n, s, list);
}

/* The stages of the LLVM back end, in a trac built without it. */
static void options_no_llvm_stage(const char *s, size_t n)
{
#ifndef HAVE_LLVM
	if ((n == 4 && strncmp(s, "llvm", 4) == 0) || (n == 10 && strncmp(s, "llvm-unopt", 10) == 0))
		options_usage_error("--emit=%.*s needs the LLVM back end, which this trac was built without "
		                    "(configure --with-llvm, with LLVM 14, builds it)", (int)n, s);
#else
	(void)s;
	(void)n;
#endif
}

/* --backend=c, llvm, cuda or cuda-sim. */
static void options_set_backend(DriverOpts *o, const char *arg)
{
	if (strcmp(arg, "c") == 0) {
		o->backend = DRIVER_BACKEND_C;
		return;
	}
	if (strcmp(arg, "cuda-sim") == 0) {
		o->backend = DRIVER_BACKEND_CUDA_SIM;
		return;
	}
	if (strcmp(arg, "cuda") == 0) {
		o->backend = DRIVER_BACKEND_CUDA;
#ifndef TRAC_HAVE_CUDA
		options_usage_error("--backend=cuda: this trac was built without the CUDA toolkit (configure "
		                    "finds nvcc, cuBLAS and cudart under /usr/local/cuda, or --with-cuda=PATH); "
		                    "--backend=cuda-sim runs on simulated GPUs");
#endif
		return;
	}
	if (strcmp(arg, "llvm") != 0)
		options_usage_error("unknown --backend '%s'; the back ends are c, llvm, cuda and cuda-sim", arg);
#ifdef HAVE_LLVM
	o->backend = DRIVER_BACKEND_LLVM;
#else
	options_usage_error("--backend=llvm: this trac was built without the LLVM back end "
	                    "(configure --with-llvm, with LLVM 14, builds it); use --backend=c");
#endif
}

/* --version: the version and the back ends built. */
static void options_print_version(void)
{
	printf("trac %s\n", PACKAGE_VERSION);
#ifdef TRAC_HAVE_CUDA
	const char *cuda = ", cuda (CUDA GPUs)";
#else
	const char *cuda = "";
#endif
#ifdef HAVE_LLVM
	printf("back ends: c, llvm (LLVM %s)%s, cuda-sim (simulated GPUs); default llvm\n", TRAC_LLVM_VERSION, cuda);
#else
	printf("back ends: c%s, cuda-sim (simulated GPUs); default c (configure --with-llvm adds llvm)\n", cuda);
#endif
}

/* --emit=STAGE[,STAGE...] (repeatable; the stages accumulate). */
static void options_set_emit(DriverOpts *o, const char *list)
{
	options_set_mode(o, MODE_EMIT, "--emit");
	const char *s = list;
	do {
		size_t n = strcspn(s, ",");
		int st = 0;
		while (st < driver_nstages && !(strlen(driver_stages[st].name) == n &&
		                                strncmp(s, driver_stages[st].name, n) == 0))
			st++;
		if (st == driver_nstages)
			options_no_llvm_stage(s, n);
		if (st == driver_nstages)
			options_unknown_stage(s, n);
		o->emits |= 1u << st;
		s += n;
	} while (*s++ == ',');
}

/* --after=PASS: sema or a name from driver_passes. */
static void options_set_after(DriverOpts *o, const char *pass)
{
	const char **names = xcalloc((size_t)driver_npasses + 1, sizeof *names);
	names[0] = "sema";
	for (int i = 0; i < driver_npasses; i++)
		names[i + 1] = driver_passes[i].name;
	for (int i = 0; i <= driver_npasses; i++)
		if (strcmp(pass, names[i]) == 0) {
			o->after = names[i];
			free(names);
			return;
		}
	const char *near = util_suggest(pass, names, driver_npasses + 1);
	if (near)
		options_usage_error("--after=%s: no such pass; did you mean '%s'?", pass, near);
	char list[512];
	options_join(names, driver_npasses + 1, list, sizeof list);
	options_usage_error("--after=%s: no such pass; the passes are %s", pass, list);
}

/* Adds the first n bytes of flag to the C compiler's extra flags. */
static void options_add_xcc(DriverOpts *o, const char *flag, size_t n)
{
	char *copy = strndup(flag, n);
	if (!copy)
		trac_fatal("out of memory");
	o->xcc = xrealloc(o->xcc, (size_t)(o->nxcc + 1) * sizeof *o->xcc);
	o->xcc[o->nxcc++] = copy;
}

/* --cflags="-O2 -g": each word is a flag (no shell quoting). */
static void options_add_cflags(DriverOpts *o, const char *flags)
{
	for (const char *s = flags + strspn(flags, " \t"); *s; s += strspn(s, " \t")) {
		size_t n = strcspn(s, " \t");
		options_add_xcc(o, s, n);
		s += n;
	}
}

/* -WNAME, -Wno-NAME, -Werror, -Wno-error, -Wall (every warning on). */
static void options_set_warning(DriverOpts *o, const char *arg)
{
	bool off = strncmp(arg, "no-", 3) == 0;
	const char *name = off ? arg + 3 : arg;
	if (strcmp(name, "error") == 0) {
		o->warn.as_errors = !off;
		return;
	}
	if (strcmp(name, "all") == 0 && !off) {
		o->warn.disabled = 0;
		return;
	}
	int w = diag_warning_find(name);
	if (w < 0) {
		const char *names[DIAG_W_COUNT + 2] = {"error", "all"};
		for (int i = 0; i < DIAG_W_COUNT; i++)
			names[i + 2] = diag_warning_names[i];
		const char *near = util_suggest(name, names, DIAG_W_COUNT + 2);
		char hint[128] = "";
		if (near)
			snprintf(hint, sizeof hint, "; did you mean '-W%s%s'?", off ? "no-" : "", near);
		options_usage_error("unknown warning '-W%s'%s (the warnings are unused, division-by-zero and "
		                    "trivial-reduction; to pass a flag to the C compiler, use -Xcc FLAG)", arg, hint);
	}
	if (off)
		o->warn.disabled |= 1u << w;
	else
		o->warn.disabled &= ~(1u << w);
}

/* --sanitize=thread: the only sanitizer both back ends can instrument for
 * (LLVM 14's C API runs the ThreadSanitizer passes by name) */
static void options_set_sanitize(DriverOpts *o, const char *what)
{
	if (strcmp(what, "thread") != 0)
		options_usage_error("--sanitize=%s: expected 'thread'", what);
	o->sanitize_thread = true;
}

/* --cuda-arch=sm_NN[,sm_NN...]: each an nvcc -arch name (sm_90, sm_90a). */
static void options_set_cuda_arch(DriverOpts *o, const char *list)
{
	for (const char *p = list;; p++) {
		size_t n = strspn(p + (strncmp(p, "sm_", 3) == 0 ? 3 : 0), "0123456789");
		if (strncmp(p, "sm_", 3) != 0 || n < 2)
			options_usage_error("--cuda-arch=%s: expected GPU architectures such as sm_90 or sm_80,sm_90", list);
		p += 3 + n;
		if (*p >= 'a' && *p <= 'z')
			p++;
		if (*p == '\0')
			break;
		if (*p != ',')
			options_usage_error("--cuda-arch=%s: expected GPU architectures such as sm_90 or sm_80,sm_90", list);
	}
	o->cuda_arch = list;
}

/* --march=CPU: a word the compiler can take as -march= (no spaces, no '-'
 * in front, as gcc's names: native, x86-64-v3, skylake-avx512 ...). */
static void options_set_march(DriverOpts *o, const char *cpu)
{
	if (!*cpu || cpu[0] == '-' || strpbrk(cpu, " \t\n"))
		options_usage_error("--march=%s: expected a CPU name such as x86-64-v3 or skylake", cpu);
	o->march = cpu;
}

/* -Xcc FLAG: getopt saw -X with "cc"; FLAG is the next argument. */
static void options_short_x(DriverOpts *o, int argc, char **argv, const char *arg)
{
	if (strcmp(arg, "cc") != 0)
		options_usage_error("unknown option '-X%s'; to pass a flag to the C compiler, use -Xcc FLAG", arg);
	if (optind >= argc)
		options_usage_error("-Xcc needs a flag for the C compiler after it");
	options_add_xcc(o, argv[optind], strlen(argv[optind]));
	optind++;
}

/* -MD, -MF FILE or -MFFILE (gcc's spellings). */
static void options_short_m(DriverOpts *o, int argc, char **argv, const char *arg)
{
	o->deps = true;
	if (strcmp(arg, "D") == 0)
		return;
	if (arg[0] != 'F')
		options_usage_error("unknown option '-M%s'; trac writes dependencies with -MD and -MF FILE", arg);
	if (arg[1])
		o->depfile = arg + 1;
	else if (optind < argc)
		o->depfile = argv[optind++];
	else
		options_usage_error("-MF needs a file name after it");
	if (o->depfile[0] == '-' && o->depfile[1])
		options_usage_error("-MF %s: expected a file name, not an option", o->depfile);
}

/* The stage whose dump --after moves. */
static int options_after_stage(void)
{
	for (int st = 0; st < driver_nstages; st++)
		if (driver_stages[st].after)
			return st;
	TRAC_BUG("no --emit stage takes --after");
}

/* --gpus and --backend=cuda or cuda-sim: one asks for the other (the
 * back end alone is one GPU); what GPUs cannot do yet is refused. */
static void options_check_gpus(DriverOpts *o)
{
	bool cuda = o->backend == DRIVER_BACKEND_CUDA, gpu = cuda || o->backend == DRIVER_BACKEND_CUDA_SIM;
	if ((o->tf32 || o->cuda_arch) && !cuda)
		options_usage_error("%s: add --backend=cuda (it tells nvcc and cuBLAS)", o->tf32 ? "--tf32" : "--cuda-arch");
	if (gpu && o->gpus == 0)
		o->gpus = 1;
	if (o->gpus == 0)
		return;
	if (!gpu)
		options_usage_error("--gpus=%d places on GPUs: add --backend=cuda (CUDA GPUs) or --backend=cuda-sim "
		                    "(simulated GPUs)", o->gpus);
	if (cuda && o->sanitize_thread)
		options_usage_error("--sanitize=thread cannot instrument CUDA: use --backend=cuda-sim");
	if (o->devices && o->devices != o->gpus)
		options_usage_error("--gpus=%d and --devices=%d disagree: on GPUs every device is a GPU",
		                    o->gpus, o->devices);
	o->devices = o->gpus;
	if (o->ranks > 1)
		options_usage_error("--gpus and --ranks cannot be combined yet");
	if (o->node_kernels)
		options_usage_error("--gpus places block tasks: drop --node-kernels");
	if (o->mode == MODE_COMPILE && (o->object || o->shared))
		options_usage_error("--gpus makes an executable: drop %s", o->object ? "-c" : "--shared");
}

/* --train-placer's options, which make sense with it alone. */
static void options_check_train(DriverOpts *o)
{
	bool train = o->mode == MODE_TRAIN;
	if (!train && (o->train_stage[0] >= 0 || o->train_stage[1] >= 0 || o->train_stage[2] >= 0 ||
	               o->ntrain_devices || o->nmeasured || o->train_seed))
		options_usage_error("--train, --train-devices, --train-seed and --measured need --train-placer");
	if (!train && o->placer_weights && o->placer != PLACE_LEARNED)
		options_usage_error("--placer-weights is for --placer=learned (or --train-placer)");
	if (!train)
		return;
	if (o->out || o->emits || o->devices || o->ranks || o->gpus || o->memory || o->nmanual)
		options_usage_error("--train-placer writes only the weights, for the device counts of "
		                    "--train-devices: drop -o, --emit, --devices, --ranks, --gpus, --memory "
		                    "and --partition");
	if (o->train_stage[2] > 0 && !o->nmeasured)
		options_usage_error("--train=finetune:%ld needs the measured times of a run: --measured=TRACE.json",
		                    o->train_stage[2]);
	for (int k = 0; k < 3; k++) /* the defaults: the first two stages, or fine-tuning */
		if (o->train_stage[k] < 0)
			o->train_stage[k] = o->nmeasured ? (k == 2 ? 500 : 0) : (k == 0 ? 1000 : k == 1 ? 2000 : 0);
	if (!o->ntrain_devices) {
		static const int counts[] = {2, 4, 8};
		o->train_devices = xmalloc(sizeof counts);
		memcpy(o->train_devices, counts, sizeof counts);
		o->ntrain_devices = 3;
	}
	if (o->nmeasured && o->nmeasured != o->nfiles * o->ntrain_devices)
		options_usage_error("--measured: %d traces for %d graphs (%d programs on %d device counts); give one "
		                    "per graph, programs in order, each on every count", o->nmeasured,
		                    o->nfiles * o->ntrain_devices, o->nfiles, o->ntrain_devices);
}

/* Checks combinations getopt cannot see. */
static void options_check_opts(const DriverOpts *o)
{
	bool interp = o->mode == MODE_INTERPRET;
	if (!interp && (o->ninputs || o->noutputs || o->output_dir || o->random))
		options_usage_error("--input, --output, --output-dir and --random need --interpret");
	if (!interp && (o->steps > 1 || o->log_every))
		options_usage_error("%s needs --interpret; the program trac builds takes it too",
		                    o->log_every ? "--log-every" : "--steps");
	if (interp && o->out)
		options_usage_error("-o is not used with --interpret; name outputs with --output or --output-dir");
	if (o->mode == MODE_CHECK && o->out)
		options_usage_error("--check writes nothing; drop -o");
	if (o->object && o->shared)
		options_usage_error("-c and --shared cannot be combined: one makes an object, the other a library");
	if ((o->object || o->shared) && o->mode != MODE_COMPILE)
		options_usage_error("%s cannot be combined with --check, --emit or --interpret",
		                    o->object ? "-c" : "--shared");
	if (o->name && !options_is_name(o->name, strlen(o->name)))
		options_usage_error("--name %s: the name must be a C identifier", o->name);
	if (o->mode == MODE_COMPILE && o->out && strcmp(o->out, "-") == 0)
		options_usage_error("-o -: a compiled program cannot go to standard output; "
		                    "print a stage with --emit or -S");
	int after = options_after_stage();
	if (o->after && !options_wants(o, after))
		options_usage_error("--after=%s chooses when --emit=%s shows the graph: use it with --emit=%s",
		                    o->after, driver_stages[after].name, driver_stages[after].name);
	if (o->mode == MODE_EMIT && options_count_emits(o) > 1 && (!o->out || strcmp(o->out, "-") == 0))
		options_usage_error("several --emit stages need -o DIR: each is written to DIR/NAME.STAGE");
	if (o->deps && (o->mode == MODE_CHECK || o->mode == MODE_INTERPRET ||
	                (o->mode == MODE_EMIT && (!o->out || strcmp(o->out, "-") == 0))))
		options_usage_error("-MD and -MF describe an output file: use them when compiling, or with "
		                    "--emit and -o FILE");
	if (o->ranks > 1 && o->memory > 0)
		options_usage_error("--ranks and --memory cannot be combined yet: a program on ranks holds "
		                    "every tensor whole on every rank");
	for (int st = 0; st < driver_nstages; st++)
		if (options_wants(o, st) && o->node_kernels && driver_stages[st].blocks)
			options_usage_error("--emit=%s renders block tasks: drop --node-kernels", driver_stages[st].name);
	if (o->ranks > 1 && o->node_kernels)
		options_usage_error("--ranks places block tasks: drop --node-kernels");
	if (o->ranks > 1 && o->mode == MODE_COMPILE && (o->object || o->shared))
		options_usage_error("--ranks makes a program that mpirun starts: drop %s",
		                    o->object ? "-c" : "--shared");
#ifndef TRAC_HAVE_MPI
	if (o->ranks > 1 && o->mode == MODE_COMPILE)
		options_usage_error("--ranks: this trac was built without MPI (configure found no mpicc; "
		                    "install libopenmpi-dev and reconfigure); --emit works without it");
#endif
	if (strcmp(o->file, "-") == 0 && o->mode == MODE_COMPILE && !o->out && !o->name)
		options_usage_error("the program is read from standard input: name the output with -o "
		                    "(or the program with --name)");
}

static void options_set_opt_level(DriverOpts *o, const char *arg)
{
	if (strlen(arg) != 1 || arg[0] < '0' || arg[0] > '3')
		options_usage_error("-O%s: the optimisation levels are -O0, -O1, -O2 and -O3", arg);
	o->opt_level = arg[0] - '0';
	o->opt_set = true;
}

/* The argument getopt stopped at: a long option is argv[optind - 1]; a
 * short one sits inside a cluster ("-Wall" fails at 'W'), which is
 * argv[optind] while getopt is still inside it, else argv[optind - 1]. */
static _Noreturn void options_bad_option(int argc, char **argv, const char *why)
{
	const char *arg = argv[optind - 1];
	if (optopt && optind < argc && argv[optind][0] == '-' && argv[optind][1] != '-' &&
	    strchr(argv[optind] + 1, optopt) && !(arg[0] == '-' && arg[1] && strchr(arg + 1, optopt)))
		arg = argv[optind];
	if (optopt && why)
		options_usage_error("option '-%c' needs a value", optopt);
	if (why)
		options_usage_error("option '%s' needs a value", arg);
	if (optopt && strlen(arg) > 2)
		options_usage_error("unknown option '-%c' in '%s'%s", optopt, arg,
		                    optopt == 'f' || optopt == 'g' || optopt == 'm'
		                            ? "; pass C compiler flags with -Xcc FLAG" : "");
	if (optopt)
		options_usage_error("unknown option '-%c'", optopt);
	options_usage_error("unknown option '%s'", arg);
}

static void options_parse_args(DriverOpts *o, int argc, char **argv)
{
	int c;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":o:D:O:cSvwW:X:M:", options_longopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			if (o->out)
				options_usage_error("-o is given twice");
			o->out = optarg;
			break;
		case 'D': options_add_def(o, optarg); break;
		case 'O': options_set_opt_level(o, optarg); break;
		case 'c': o->object = true; break;
		case 'S': options_set_emit(o, "c"); break;
		case 'v': o->verbose = true; break;
		case 'w': o->warn.none = true; break;
		case 'W': options_set_warning(o, optarg); break;
		case OPT_NAME: o->name = optarg; break;
		case OPT_CC: o->cc = optarg; break;
		case OPT_PORTABLE: o->portable = true; break;
		case OPT_KEEP_TEMPS: o->keep_temps = true; break;
		case OPT_NODE_KERNELS: o->node_kernels = true; break;
		case OPT_EMIT: options_set_emit(o, optarg); break;
		case OPT_AFTER: options_set_after(o, optarg); break;
		case OPT_DEVICES: options_set_devices(o, optarg); break;
		case OPT_MEMORY: options_set_memory(o, optarg); break;
		case OPT_REUSE: options_set_reuse(o, optarg); break;
		case OPT_RANKS: options_set_ranks(o, optarg); break;
		case OPT_GPUS: options_set_gpus(o, optarg); break;
		case OPT_PARTITION: options_add_partition(o, optarg); break;
		case OPT_PLACER: options_set_placer(o, optarg); break;
		case OPT_PLACER_WEIGHTS: o->placer_weights = optarg; break;
		case OPT_SEARCH_CALLS: o->search_calls = options_count("--search-calls", optarg); break;
		case OPT_TRAIN_PLACER: o->train_out = optarg; options_set_mode(o, MODE_TRAIN, "--train-placer"); break;
		case OPT_TRAIN: options_set_train(o, optarg); break;
		case OPT_TRAIN_DEVICES: options_set_train_devices(o, optarg); break;
		case OPT_TRAIN_SEED: options_set_train_seed(o, optarg); break;
		case OPT_MEASURED:
			o->measured = xrealloc(o->measured, (size_t)(o->nmeasured + 1) * sizeof *o->measured);
			o->measured[o->nmeasured++] = optarg;
			break;
		case OPT_SIM: options_set_sim(o, "--sim", "", optarg); break;
		case OPT_SIM_FLOPS: options_set_sim(o, "--sim-flops", "gemm-flops=", optarg); break;
		case OPT_SIM_BANDWIDTH: options_set_sim(o, "--sim-bandwidth", "bandwidth=", optarg); break;
		case OPT_CHECK: options_set_mode(o, MODE_CHECK, "--check"); break;
		case OPT_INTERPRET: options_set_mode(o, MODE_INTERPRET, "--interpret"); break;
		case OPT_INPUT: options_add_path(&o->inputs, &o->ninputs, "--input", optarg); break;
		case OPT_OUTPUT: options_add_path(&o->outputs, &o->noutputs, "--output", optarg); break;
		case OPT_OUTPUT_DIR: o->output_dir = optarg; break;
		case OPT_RANDOM: options_set_random(o, optarg); break;
		case OPT_STEPS: o->steps = options_count("--steps", optarg); break;
		case OPT_LOG_EVERY: o->log_every = options_count("--log-every", optarg); break;
		case OPT_HELP: options_print_help(stdout); exit(TRAC_EXIT_OK);
		case OPT_VERSION: options_print_version(); exit(TRAC_EXIT_OK);
		case OPT_BACKEND: options_set_backend(o, optarg); break;
		case OPT_SANITIZE: options_set_sanitize(o, optarg); break;
		case 'X': options_short_x(o, argc, argv, optarg); break;
		case 'M': options_short_m(o, argc, argv, optarg); break;
		case OPT_SHARED: o->shared = true; break;
		case OPT_RUNTIME_DIR: o->runtime_dir = optarg; break;
		case OPT_PRINT_RUNTIME_DIR: o->print_runtime_dir = true; break;
		case OPT_CFLAGS: options_add_cflags(o, optarg); break;
		case OPT_MARCH: options_set_march(o, optarg); break;
		case OPT_TF32: o->tf32 = true; break;
		case OPT_NO_STRASSEN: o->no_strassen = true; break;
		case OPT_CUDA_ARCH: options_set_cuda_arch(o, optarg); break;
		case ':': options_bad_option(argc, argv, "needs a value");
		default: options_bad_option(argc, argv, NULL);
		}
	}
	if (o->print_runtime_dir && optind == argc)
		return; /* it needs no program */
	if (optind >= argc)
		options_usage_error("no input file");
	o->files = (const char **)argv + optind;
	o->nfiles = argc - optind;
	if (optind + 1 < argc && o->mode != MODE_TRAIN)
		options_usage_error("one program at a time, but '%s' and '%s' are given", argv[optind], argv[optind + 1]);
	o->file = argv[optind];
	options_check_train(o);
	options_check_gpus(o);
	options_check_opts(o);
}

void options_parse(DriverOpts *o, int argc, char **argv)
{
#ifdef HAVE_LLVM
	*o = (DriverOpts){.placer = PLACE_GREEDY, .backend = DRIVER_BACKEND_LLVM};
#else
	*o = (DriverOpts){.placer = PLACE_GREEDY, .backend = DRIVER_BACKEND_C};
#endif
	o->search_calls = PLACE_SEARCH_CALLS;
	o->train_stage[0] = o->train_stage[1] = o->train_stage[2] = -1;
	sim_model_default(&o->sim);
	options_parse_args(o, argc, argv);
	if (o->ranks > 1)
		o->sim.rank_devices = options_rank_devices(o);
}

int options_rank_devices(const DriverOpts *o)
{
	if (o->devices)
		return o->devices;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > 4096 ? 4096 : (int)n;
}

void options_free(DriverOpts *o)
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
	free(o->train_devices);
	free(o->measured);
	for (int i = 0; i < o->nxcc; i++)
		free((char *)o->xcc[i]);
	free(o->xcc);
}
