/* driver.c: the pipeline that trac's command line (options.c) asks for.
 *
 *   read -> parse -> sema -> verify -> passes -> partition -> lower, place
 *        -> (emit | check | interpret | compile)
 *
 * The passes are one table (driver_passes), the stages of --emit another
 * (driver_stages): each stage names the point of the pipeline it needs
 * and the function that dumps it, and the pipeline dumps the stages asked
 * for as it reaches each point, going only as far as they need.
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
#include "options.h"
#include "kplan.h"
#include "memgraph.h"

#include <errno.h>
#include <stdlib.h>

#include "config.h"
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The TRA passes, in order, as --after names them; every one leaves a
 * graph tra_verify accepts. Algebra first, so that the others see one
 * spelling of each expression; hoisting before contraction order, so
 * that order sees the plain products hoisting leaves (and never a
 * hoisted factor as an inseparable part of a join); CSE after every pass
 * that makes nodes (sema, hoisting, order), so that the copies they make
 * of one value become one; fusion late, since it hides products from
 * order and sub-expressions from CSE; dead code after it; and share
 * last, since the let-bound values it makes inside an expression are
 * invisible to every pass above. */
const DriverPass driver_passes[] = {
	{"algebra", algebra_normalise, "constants folded, exact identities, invariant factors out of sums, copies read through"},
	{"cse", cse_merge, "no two einsums compute the same tensor, aggregate or stored map"},
	{"hoist", hoist_invariants, "costly sub-expressions over fewer indices than their node are nodes, and so are pieces of a join or epilogue over TRA_NODE_MAX_OPS nodes"},
	{"hoist-cse", cse_merge, "what hoisting made twice is made once"},
	{"subexpr", subexpr_share, "costly sub-expressions that several nodes compute are nodes they read"},
	{"order", order_contractions, "no sum of a product reads more than two operands"},
	{"order-cse", cse_merge, "contractions that order split out twice are done once"},
	{"fuse", fuse_elementwise, "single-use maps inlined into their reader; a map reading a single-use aggregation at its own indices is that aggregation, with the map as its epilogue"},
	{"views", views_fold, "loop kernels read the slices, shifts and windows of views in place"},
	{"dce", dce_remove, "every einsum is an output or read"},
	{"share", share_values, "no join or epilogue computes one sub-expression twice per point"},
};
const int driver_npasses = (int)(sizeof driver_passes / sizeof driver_passes[0]);

static char **driver_written(const DriverOpts *o, int *n);
static void driver_free_list(char **files);
static char *driver_program_name(const DriverOpts *o);
static char *driver_replace_ext(const char *path, const char *ext);

/* ---- the stages of --emit ------------------------------------------------------------ */

/* One run of the pipeline, as far as it has got: what a stage's dump reads. */
struct DriverRun {
	const DriverOpts *o;
	const Source *src;
	Diag *diag;
	const AstProgram *prog; /* from POINT_AST */
	const TraGraph *g;      /* from POINT_PASSES (and --after's pass) */
	const IaGraph *ia;      /* from POINT_TASKS; at POINT_CODE, NULL for whole-node kernels */
	IaGraph tasks;          /* what ia points to */
	Memgraph mem;           /* with tasks: the memory plan (POINT_TASKS on) */
	KplanOptions plans;     /* what the kernel plans may choose (driver_kplan_options) */
};

static bool driver_dump_tokens(const DriverRun *r, FILE *out)
{
	return lex_dump_tokens(r->src, r->diag, out) <= 0;
}

static bool driver_dump_ast(const DriverRun *r, FILE *out)
{
	ast_dump(r->prog, r->src, out);
	return true;
}

static bool driver_dump_tra(const DriverRun *r, FILE *out)
{
	tra_dump(r->g, out);
	return true;
}

static bool driver_dump_ia(const DriverRun *r, FILE *out)
{
	ia_dump(r->ia, out);
	return true;
}

static bool driver_dump_taskgraph(const DriverRun *r, FILE *out)
{
	ia_dump_taskgraph(r->ia, out);
	return true;
}

/* What the kernel plans may choose: Strassen-Winograd GEMMs unless
 * --no-strassen, or a --memory budget that their scratch would break
 * (kplan_strassen). */
static KplanOptions driver_kplan_options(const DriverOpts *o)
{
	return (KplanOptions){.strassen = !o->no_strassen && o->memory == 0};
}

/* The memory plan the back ends render: none on ranks (each rank holds
 * every tensor whole, from the pool), else the memgraph (on GPUs, one
 * domain per GPU). */
static const Memgraph *driver_mg(const DriverRun *r)
{
	return r->ia && r->ia->nranks <= 1 ? &r->mem : NULL;
}

static bool driver_dump_plan(const DriverRun *r, FILE *out)
{
	plan_dump(r->ia, &r->o->sim, r->o->placer, out);
	if (driver_mg(r))
		memgraph_plan_lines(&r->mem, r->ia, &r->o->sim, out);
	else
		plan_dump_ranks(r->g, r->ia, &r->o->sim, out);
	return true;
}

static bool driver_dump_memgraph(const DriverRun *r, FILE *out)
{
	KplanProgram kp;
	kplan_build(r->g, r->ia, &r->plans, &kp);
	memgraph_dump(&r->mem, &kp, out);
	kplan_free(&kp);
	return true;
}

static bool driver_dump_plan_json(const DriverRun *r, FILE *out)
{
	plan_dump_json(r->ia, &r->o->sim, r->o->placer, &r->mem, out);
	return true;
}

static bool driver_dump_signature_json(const DriverRun *r, FILE *out)
{
	char *name = driver_program_name(r->o);
	plan_dump_signature_json(r->g, name, out);
	free(name);
	return true;
}

static bool driver_dump_dot(const DriverRun *r, FILE *out)
{
	plan_dump_dot(r->g, r->ia, out);
	return true;
}

/* -S: the C of block tasks, or of whole-node kernels (ia NULL). */
static bool driver_dump_c(const DriverRun *r, FILE *out)
{
	char *name = driver_program_name(r->o);
	CgCCuda cuda = {r->o->tf32};
	bool on_cuda = r->o->backend == DRIVER_BACKEND_CUDA;
	CgCOptions cg = {name, r->o->file, false, NULL, r->ia, driver_mg(r), on_cuda ? &cuda : NULL,
	                 &r->plans};
	cg_c_emit(r->g, &cg, out);
	free(name);
	return true;
}

/* --emit=cuda: the CUDA kernels of block tasks (there are no whole-node
 * ones: a stage of blocks only, which options.c refuses with
 * --node-kernels). */
static bool driver_dump_cuda(const DriverRun *r, FILE *out)
{
	char *name = driver_program_name(r->o);
	CgCOptions cg = {name, r->o->file, false, NULL, r->ia, NULL, NULL, NULL}; /* cuBLAS */
	cg_cuda_emit(r->g, &cg, out);
	free(name);
	return true;
}

/* --emit=kernels: the kernel plans of block tasks, or of whole-node
 * kernels (ia NULL), as the back ends render them. */
static bool driver_dump_kernels(const DriverRun *r, FILE *out)
{
	KplanProgram kp;
	kplan_build(r->g, r->ia, &r->plans, &kp);
	kplan_dump(&kp, out);
	kplan_free(&kp);
	return true;
}

#ifdef HAVE_LLVM
/* --emit=llvm-unopt and --emit=llvm: the LLVM module of block tasks, or
 * of whole-node kernels, as built or after O3. LLVM failing on it is a
 * bug in trac: exit 3 at once (nothing of --emit is written yet); exit 1
 * when the back end's module cannot be loaded. */
static bool driver_dump_llvm_module(const DriverRun *r, FILE *out, bool optimised)
{
	char *name = driver_program_name(r->o);
	CgCOptions cg = {name, r->o->file, false, NULL, r->ia, driver_mg(r), NULL, &r->plans};
	CgLlvmOutput lo = {NULL, optimised ? NULL : out, optimised ? out : NULL, r->o->verbose ? stderr : NULL,
	                   r->o->sanitize_thread};
	int rc = build_llvm_emit(r->g, &cg, &lo);
	free(name);
	if (rc != TRAC_EXIT_OK)
		exit(rc);
	return true;
}

static bool driver_dump_llvm_unopt(const DriverRun *r, FILE *out)
{
	return driver_dump_llvm_module(r, out, false);
}

static bool driver_dump_llvm(const DriverRun *r, FILE *out)
{
	return driver_dump_llvm_module(r, out, true);
}
#endif

/* The stages, in pipeline order (the order of --help and of the files
 * under -o DIR). A stage is dumped once the pipeline reaches what it
 * needs; tra's file is .tra.txt so that it never names a program. */
const DriverStage driver_stages[] = {
	/* name, file under -o DIR, needs, moved by --after, for --help, dump */
	{"tokens", ".tokens", POINT_SOURCE, false, "one line per token", driver_dump_tokens, false},
	{"ast", ".ast", POINT_AST, false, "the syntax tree", driver_dump_ast, false},
	{"tra", ".tra.txt", POINT_PARTS, true, "the TRA graph after the passes", driver_dump_tra, false},
	{"ia", ".ia", POINT_TASKS, false, "the placed block tasks, by TRA node", driver_dump_ia, false},
	{"taskgraph", ".taskgraph", POINT_TASKS, false, "the same tasks, one line each, for tools",
	 driver_dump_taskgraph, false},
	{"plan", ".plan", POINT_TASKS, false, "partitions, placement and simulated run", driver_dump_plan, false},
	{"plan-json", ".plan.json", POINT_TASKS, false, "the plan as JSON", driver_dump_plan_json, false},
	{"memgraph", ".memgraph", POINT_TASKS, false, "the memory plan: offsets, frees, offloads, reloads",
	 driver_dump_memgraph, false},
	{"signature-json", ".signature.json", POINT_PASSES, false, "the program's interface as JSON",
	 driver_dump_signature_json, false},
	{"dot", ".dot", POINT_TASKS, false, "the TRA graph for Graphviz", driver_dump_dot, false},
	{"kernels", ".kernels", POINT_CODE, false, "what each kernel runs: BLAS calls or loop nests",
	 driver_dump_kernels, false},
	{"c", ".c", POINT_CODE, false, "the C program of --backend=c", driver_dump_c, false},
	{"cuda", ".cu", POINT_CODE, false, "the CUDA kernels of the block tasks, a launcher each",
	 driver_dump_cuda, true},
#ifdef HAVE_LLVM
	/* only where the LLVM back end is built (options.c says why not) */
	{"llvm-unopt", ".unopt.ll", POINT_CODE, false, "the LLVM IR of --backend=llvm, before its passes",
	 driver_dump_llvm_unopt, false},
	{"llvm", ".ll", POINT_CODE, false, "the same after O3, as compiled", driver_dump_llvm, false},
#endif
};
const int driver_nstages = (int)(sizeof driver_stages / sizeof driver_stages[0]);
_Static_assert(sizeof driver_stages / sizeof driver_stages[0] <= DRIVER_MAX_STAGES,
               "DriverOpts.emits has a bit per stage");

/* Whether --emit asked for a stage that needs point. */
static bool driver_wants_point(const DriverOpts *o, DriverPoint point)
{
	for (int st = 0; st < driver_nstages; st++)
		if (options_wants(o, st) && driver_stages[st].needs == point)
			return true;
	return false;
}

/* How far the pipeline must go: to the last point a stage asked for
 * needs, or to the end for the other modes. */
static DriverPoint driver_last_point(const DriverOpts *o)
{
	if (o->mode != MODE_EMIT)
		return POINT_CODE;
	DriverPoint last = POINT_SOURCE;
	for (int st = 0; st < driver_nstages; st++)
		if (options_wants(o, st) && driver_stages[st].needs > last)
			last = driver_stages[st].needs;
	return last;
}

/* ---- checks of the command line that need the output's names ------------------------ */

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
			options_usage_error("the output '%s' is the program '%s' itself; refusing to overwrite it",
			                    files[i], o->file);
		/* (the interpreter's outputs are checked with its other outputs) */
		for (int j = 0; j < i && o->mode != MODE_INTERPRET; j++)
			if (strcmp(files[i], files[j]) == 0 || driver_same_file(files[i], files[j]))
				options_usage_error("'%s' would be written twice (%s); name the output with -o FILE.%s",
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
			options_usage_error("--name %s: %s; choose another name", name, why);
		options_usage_error("the program name '%s' (from '%s') %s; choose another with --name NAME",
		                    name, o->file, why);
	}
	free(name);
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
/* The interpreter holds every value in a double: i64 exactly below 2^53
 * (tra(5), NUMERICS). */
static double *driver_to_double(const void *data, TrartDtype t, size_t count)
{
	double *d = xmalloc((count ? count : 1) * sizeof *d);
	for (size_t i = 0; i < count; i++)
		switch (t) {
		case TRART_F32: d[i] = (double)((const float *)data)[i]; break;
		case TRART_F64: d[i] = ((const double *)data)[i]; break;
		case TRART_I32: d[i] = (double)((const int32_t *)data)[i]; break;
		case TRART_I64: d[i] = (double)((const int64_t *)data)[i]; break;
		}
	return d;
}

/* The value of input node n of g: from --input, or --random; NULL after an error. */
static double *driver_load_input(DriverOpts *o, const TraGraph *g, const TraNode *n)
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
		int64_t below = TRART_IS_INT(n->type) ? tra_gather_bound(g, (int)(n - g->nodes)) : 0;
		if (below > 0)
			trart_random_index(raw, n->type, count, o->seed, n->name, below);
		else
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
			options_usage_error("--input %s: the program has no input named '%s'",
			                    o->inputs[i].name, o->inputs[i].name);
	}
	for (int i = 0; i < o->noutputs; i++) {
		bool found = false;
		for (int k = 0; k < g->noutputs; k++)
			found |= strcmp(g->nodes[g->outputs[k]].name, o->outputs[i].name) == 0;
		if (!found)
			options_usage_error("--output %s: the program has no output named '%s'",
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
		options_usage_error("%s", err);
}

/* Stages output n in fs, in its element type; 0, or -1 with err. */
static int driver_write_output(TrartFiles *fs, const DriverOpts *o, const TraNode *n, const double *v,
                               char *err, size_t errlen)
{
	size_t count = (size_t)tra_node_elements(n);
	void *raw = xmalloc((count ? count : 1) * trart_dtype_size(n->type));
	for (size_t i = 0; i < count; i++)
		switch (n->type) {
		case TRART_F32: ((float *)raw)[i] = (float)v[i]; break;
		case TRART_F64: ((double *)raw)[i] = v[i]; break;
		case TRART_I32: ((int32_t *)raw)[i] = (int32_t)v[i]; break;
		case TRART_I64: ((int64_t *)raw)[i] = (int64_t)v[i]; break;
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

/* --steps and --log-every, as the generated program checks them
 * (runtime/cli.c's cli_check_steps). */
static void driver_check_steps(const DriverOpts *o, const TraGraph *g)
{
	int logged = 0;
	for (int k = 0; k < g->noutputs; k++)
		logged += g->nodes[g->outputs[k]].rank == 0;
	if ((o->steps > 1 || o->log_every) && g->nfeeds == 0)
		options_usage_error("%s: this program has no training state (a statement 'NEXT -> X' that feeds "
		                    "input X)", o->steps > 1 ? "--steps" : "--log-every");
	if (o->log_every && logged == 0)
		options_usage_error("--log-every: this program has no scalar output to print");
}

/* --log-every's line, as the generated program prints it (in the
 * tensors' order: the nodes'). */
static void driver_log_step(const TraGraph *g, const InterpValues *v, long step)
{
	printf("step %ld:", step);
	for (int id = 0; id < g->nnodes; id++) {
		const TraNode *n = &g->nodes[id];
		if (!n->is_output || n->rank > 0)
			continue;
		double x = v->data[id][0];
		if (n->type == TRART_F32)
			printf(" %s=%.9g", n->name, (double)(float)x);
		else if (n->type == TRART_F64)
			printf(" %s=%.17g", n->name, x);
		else
			printf(" %s=%lld", n->name, (long long)x);
	}
	putchar('\n');
}

/* Runs --steps steps (one without it), feeding the state between them. */
static void driver_steps(const DriverOpts *o, const TraGraph *g, InterpValues *v)
{
	long steps = o->steps > 1 ? o->steps : 1;
	for (long s = 1; s <= steps; s++) {
		interp_run(g, v);
		if (o->log_every && (s % o->log_every == 0 || s == steps))
			driver_log_step(g, v, s);
		for (int i = 0, from, to; s < steps && i < g->nfeeds; i++) {
			tra_feed_nodes(g, i, &from, &to);
			memcpy(v->data[to], v->data[from], (size_t)tra_node_elements(&g->nodes[to]) * sizeof(double));
		}
	}
}

static int driver_interpret(DriverOpts *o, const TraGraph *g)
{
	driver_check_names(o, g);
	driver_check_files(o, g);
	driver_check_steps(o, g);
	InterpValues v;
	interp_values_init(&v, g);
	bool ok = true;
	for (int id = 0; id < g->nnodes && ok; id++)
		if (g->nodes[id].kind == TRA_NODE_INPUT)
			ok = (v.data[id] = driver_load_input(o, g, &g->nodes[id])) != NULL;
	if (ok) {
		driver_steps(o, g, &v);
		ok = driver_write_outputs(o, g, &v) && fflush(stdout) == 0 && !ferror(stdout);
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
	Emit e[DRIVER_MAX_STAGES];
	bool open[DRIVER_MAX_STAGES];
} DriverEmits;

/* Dumps stage st into its buffer; false when the program has errors. */
static bool driver_dump_stage(const DriverRun *r, DriverEmits *em, int st)
{
	em->open[st] = true;
	return driver_stages[st].dump(r, driver_emit_open(&em->e[st]));
}

/* Dumps the stages asked for that need point, but those --after moves. */
static bool driver_dump(const DriverRun *r, DriverEmits *em, DriverPoint point)
{
	bool ok = true;
	for (int st = 0; st < driver_nstages && ok; st++)
		if (options_wants(r->o, st) && driver_stages[st].needs == point &&
		    !(driver_stages[st].after && r->o->after))
			ok = driver_dump_stage(r, em, st);
	return ok;
}

/* --after=PASS, once PASS has run: the stages it moves. */
static bool driver_dump_after(const DriverRun *r, DriverEmits *em)
{
	bool ok = true;
	for (int st = 0; st < driver_nstages && ok; st++)
		if (options_wants(r->o, st) && driver_stages[st].after)
			ok = driver_dump_stage(r, em, st);
	return ok;
}

/* Parses and checks the program into g; returns an exit status. */
static int driver_front_end(DriverRun *r, AstProgram *prog, TraGraph *g, DriverEmits *em)
{
	const DriverOpts *o = r->o;
	if (!driver_dump(r, em, POINT_SOURCE))
		return TRAC_EXIT_ERROR;
	if (driver_last_point(o) < POINT_AST)
		return TRAC_EXIT_OK;
	if (parse_program(r->src, g->arena, r->diag, prog) > 0)
		return TRAC_EXIT_ERROR;
	r->prog = prog;
	if (!driver_dump(r, em, POINT_AST))
		return TRAC_EXIT_ERROR;
	if (driver_last_point(o) < POINT_PASSES)
		return TRAC_EXIT_OK;
	if (sema_build(prog, o->defs, o->ndefs, r->diag, g) > 0)
		return TRAC_EXIT_ERROR;
	int rc = driver_check_defs(o, g);
	if (rc == TRAC_EXIT_OK)
		tra_verify(g);
	return rc;
}

/* ---- the optimising passes and the back end --------------------------------------- */

/* Runs the passes in driver_passes' order, verifying the graph after
 * each, the statements --partition names pinned first; --after=PASS
 * dumps the stage it moves right after PASS (or before the first, for
 * sema). False when a dump fails. */
static bool driver_optimise(DriverRun *r, TraGraph *g, DriverEmits *em)
{
	const char *after = r->o->after;
	bool ok = true;
	r->g = g;
	for (int i = 0; i < r->o->nmanual; i++)
		decomp_pin_manual(g, r->o->manual[i]);
	if (after && strcmp(after, "sema") == 0)
		ok = driver_dump_after(r, em);
	for (int i = 0; i < driver_npasses; i++) {
		driver_passes[i].run(g);
		tra_verify(g);
		if (after && strcmp(after, driver_passes[i].name) == 0)
			ok = ok && driver_dump_after(r, em);
	}
	return ok;
}

/* ---- decomposition, lowering, placement ------------------------------------------ */

/* Whether a compiled program, or the C that -S shows of it, runs as
 * block tasks (the default), rather than one multithreaded kernel per
 * node (--node-kernels). */
static bool driver_block_tasks(const DriverOpts *o)
{
	if (o->node_kernels)
		return false;
	return o->mode == MODE_COMPILE || driver_wants_point(o, POINT_CODE);
}

/* Whether what was asked for needs the placed task graph. */
static bool driver_needs_tasks(const DriverOpts *o)
{
	return driver_block_tasks(o) || driver_wants_point(o, POINT_TASKS);
}

/* Whether it needs the graph partitioned (a stage that needs POINT_PARTS
 * shows partitions when --devices or --partition asks for them). */
static bool driver_needs_decomp(const DriverOpts *o)
{
	return driver_needs_tasks(o) || (driver_wants_point(o, POINT_PARTS) && o->decompose);
}

/* Every device: each rank's (--ranks) or the one process's. */
static int driver_devices(const DriverOpts *o)
{
	return options_rank_devices(o) * (o->ranks > 1 ? o->ranks : 1);
}

/* Partitions g as --devices and --partition say, for scale times as many
 * blocks as the devices want (stretches: DecompOptions's); a manual
 * partition that does not fit the program is a usage error. On CPU
 * workers without a budget, the reuse chains' members (reuse_find) are
 * fixed first, as manual partitions are, and the search goes around
 * them. */
static void driver_decompose(const DriverOpts *o, TraGraph *g, int scale, bool stretches)
{
	DecompOptions d = {.devices = driver_devices(o) * scale,
	                   .none = o->pmode && strcmp(o->pmode, "none") == 0,
	                   .stretches = stretches, .ranks = o->ranks > 1};
	if (o->nmanual)
		d.fixed = arena_alloc(g->arena, (size_t)g->nnodes * sizeof *d.fixed);
	int maxidx = 1;
	for (int id = 0; id < g->nnodes; id++)
		maxidx = g->nodes[id].nidx > maxidx ? g->nodes[id].nidx : maxidx;
	for (int i = 0; i < o->nmanual; i++) {
		char err[300];
		int node, *part = arena_alloc(g->arena, (size_t)maxidx * sizeof *part);
		if (!decomp_parse_manual(g, o->manual[i], &node, part, err, sizeof err))
			options_usage_error("--partition=%s: %s", o->manual[i], err);
		if (d.fixed[node])
			options_usage_error("--partition: node %s is given twice", g->nodes[node].name);
		d.fixed[node] = part;
	}
	if (!d.none && !o->no_reuse && o->memory == 0 && o->gpus == 0 &&
	    reuse_find(g, d.devices, d.fixed, &o->reuse) > 0) {
		if (!d.fixed)
			d.fixed = arena_alloc(g->arena, (size_t)g->nnodes * sizeof *d.fixed);
		for (int id = 0; id < g->nnodes; id++)
			if (g->reuse[id].chain)
				d.fixed[id] = reuse_partition(g, id);
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
		file = o->out && strcmp(o->out, "-") != 0 && options_count_emits(o) < 2 ? o->out : "stdin";
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
		name[k++] = options_is_name(base + i, 1) || (base[i] >= '0' && base[i] <= '9') ? base[i] : '_';
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
	ia_lower(g, g->arena, ia);
	ia->ngpus = o->gpus; /* (row fusion asks) */
	kplan_fuse_rows(g, ia);
	ia->nranks = o->ranks > 1 ? o->ranks : 1;
	ia->rank_devices = o->sim.rank_devices;
	Placer p = {.kind = o->placer, .net = o->net, .search_calls = o->search_calls, .seed = 1};
	place_run(ia, &p, driver_devices(o), &o->sim);
}

/* The most bytes one task of g's partition needs under a budget
 * (memgraph_largest_need); with fits, whether the memory plan under
 * --memory's budget works (memgraph_fits) into *fits. */
static int64_t driver_largest_need(const DriverOpts *o, TraGraph *g, bool *fits)
{
	IaGraph ia;
	KplanProgram kp;
	KplanOptions plans = driver_kplan_options(o);
	driver_lower(o, g, &ia);
	kplan_build(g, &ia, &plans, &kp);
	int64_t need = memgraph_largest_need(&kp);
	if (fits)
		*fits = need <= o->memory && memgraph_fits(&kp, o->memory);
	kplan_free(&kp);
	return need;
}

/* g partitioned for scale times the devices' blocks, EinDecomp's way or
 * in stretches (DecompOptions.stretches), whichever needs less memory
 * in its largest task (a tie: EinDecomp's, which moves least); returns
 * that need, and in *stretches which it was. */
static int64_t driver_fit_scale(const DriverOpts *o, TraGraph *g, int scale, bool *stretches)
{
	driver_decompose(o, g, scale, true);
	int64_t in_stretches = driver_largest_need(o, g, NULL);
	driver_decompose(o, g, scale, false);
	int64_t need = driver_largest_need(o, g, NULL);
	*stretches = in_stretches < need;
	if (!*stretches)
		return need;
	driver_decompose(o, g, scale, true);
	return in_stretches;
}

/* Under --memory, an automatic partition whose largest task needs more
 * than the budget is cut finer until no task's buffers take more than
 * half of it (DRIVER_BUDGET_SHARE): twice the blocks each time, up to
 * DRIVER_MAX_SCALE times the devices'. A task that needs more than the
 * budget cannot run at all, and an out-of-core input is larger than the
 * budget by definition, so only smaller blocks make it work; and a task
 * that needs most of the budget could neither run beside another nor
 * read its next block while it computes. At each scale the partition
 * is EinDecomp's or one in stretches, whichever needs less: EinDecomp
 * may cut a result into blocks of columns, which the memory plan cannot
 * keep block by block, so a task would hold the whole tensor (W2's Hd,
 * 128 MB, when cut i:4 j:2). A partition that fits is left alone: finer
 * blocks cost more tasks, and blocks that each reader reads whole (mlp's
 * W1, once per row block of X) are read again for each. (A manual
 * partition is the user's to size: --memory's error says so.) */
#define DRIVER_BUDGET_SHARE 2
#define DRIVER_MAX_SCALE 64
static void driver_fit_budget(const DriverOpts *o, TraGraph *g)
{
	int64_t last = -1;
	bool last_stretches = false;
	int fit_scale = 0; /* the finest scale whose plan worked, if none met the share */
	bool fit_stretches = false, stretches = false;
	int scale;
	for (scale = 1;; scale *= 2) {
		bool fits;
		int64_t need = driver_fit_scale(o, g, scale, &stretches);
		if (last >= 0 && need >= last) {
			/* finer blocks did not help (a tensor read whole, say): the
			 * last partition that did */
			scale /= 2;
			stretches = last_stretches;
			break;
		}
		driver_largest_need(o, g, &fits);
		/* (a plan can fail for fragmentation where the need fits) */
		if (fits && ((scale == 1 && need <= o->memory) || need <= o->memory / DRIVER_BUDGET_SHARE))
			return;
		if (fits) {
			fit_scale = scale;
			fit_stretches = stretches;
		}
		if (scale >= DRIVER_MAX_SCALE)
			break;
		last = need;
		last_stretches = stretches;
	}
	/* none met the share: the finest that works, else the least need
	 * (whose error names the smallest budget for it) */
	if (fit_scale > 0)
		driver_decompose(o, g, fit_scale, fit_stretches);
	else
		driver_decompose(o, g, scale, stretches);
}

/* The placed tasks' memory plan (memgraph.c), under --memory's budget:
 * false, after the error, when the budget cannot work. */
static bool driver_plan_memory(DriverRun *r)
{
	KplanProgram kp;
	char err[512];
	kplan_build(r->g, r->ia, &r->plans, &kp);
	bool ok = memgraph_build(&kp, r->o->memory, &r->mem, err, sizeof err);
	kplan_free(&kp);
	if (!ok)
		fprintf(stderr, "trac: error: %s\n", err);
	return ok;
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
	double fixed = 0, largest = 0, biggest = 0;
	int big = -1;
	for (int id = 0; id < g->nnodes; id++) {
		const TraNode *n = &g->nodes[id];
		double b = tra_node_result_bytes(n);
		if (n->kind == TRA_NODE_INPUT || n->is_output)
			fixed += b;
		else if (b > largest)
			largest = b;
		if (big < 0 || b > biggest) {
			big = id;
			biggest = b;
		}
	}
	double phys = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
	if (phys <= 0 || fixed + largest <= phys || big < 0)
		return;
	fprintf(stderr, "trac: warning: the program needs at least %.1f GB (its largest tensor, %s, "
	        "is %.1f GB), more than this machine's %.1f GB of memory; it will fail here with "
	        "an out-of-memory error\n", (fixed + largest) / 1e9, g->nodes[big].name,
	        biggest / 1e9, phys / 1e9);
}

static int driver_compile(const DriverOpts *o, const TraGraph *g, const IaGraph *ia, const Memgraph *mg)
{
	driver_warn_memory(g);
	char *name = driver_program_name(o), *out, *header_out;
	driver_outputs(o, &out, &header_out);
	const char *slash = header_out ? strrchr(header_out, '/') : NULL;
	KplanOptions plans = driver_kplan_options(o);
	BuildOptions b = {
		.name = name, .source = o->file, .out = out, .object = o->object, .shared = o->shared,
		.header_name = slash ? slash + 1 : header_out, .header_out = header_out,
		.cc = o->cc, .xcc = o->xcc, .nxcc = o->nxcc, .march = o->march, .runtime_dir = o->runtime_dir,
		.opt_level = o->opt_set ? o->opt_level : 3, .portable = o->portable,
		.keep_temps = o->keep_temps, .sanitize_thread = o->sanitize_thread, .verbose = o->verbose, .ia = ia, .mg = mg,
		.llvm = o->backend == DRIVER_BACKEND_LLVM, .cuda = o->backend == DRIVER_BACKEND_CUDA,
		.ranks = o->ranks, .tf32 = o->tf32, .plans = &plans, .cuda_arch = o->cuda_arch ? o->cuda_arch : "sm_90",
	};
	int rc = build_program(g, &b);
	free(name);
	free(out);
	free(header_out);
	return rc;
}

/* Everything after the front end: passes, decomposition, lowering, and
 * the stages or the build that use them, each point's stages dumped as
 * the pipeline reaches it. */
static int driver_back_end(DriverRun *r, TraGraph *g, DriverEmits *em)
{
	const DriverOpts *o = r->o;
	if (!driver_optimise(r, g, em) || !driver_dump(r, em, POINT_PASSES))
		return TRAC_EXIT_ERROR;
	/* unpartitioned, unless --devices or --partition asks */
	if (!o->decompose && !driver_dump(r, em, POINT_PARTS))
		return TRAC_EXIT_ERROR;
	if (driver_needs_decomp(o))
		driver_decompose(o, g, 1, false);
	if (driver_needs_decomp(o) && driver_needs_tasks(o) && o->memory > 0 && o->nmanual == 0 &&
	    !(o->pmode && strcmp(o->pmode, "none") == 0))
		driver_fit_budget(o, g);
	if (o->decompose && !driver_dump(r, em, POINT_PARTS))
		return TRAC_EXIT_ERROR;
	if (driver_needs_tasks(o)) {
		driver_lower(o, g, &r->tasks);
		r->ia = &r->tasks;
		if (!driver_plan_memory(r))
			return TRAC_EXIT_ERROR;
		if (!driver_dump(r, em, POINT_TASKS))
			return TRAC_EXIT_ERROR;
	}
	r->ia = driver_block_tasks(o) ? r->ia : NULL;
	if (!driver_dump(r, em, POINT_CODE))
		return TRAC_EXIT_ERROR;
	if (o->mode == MODE_COMPILE)
		return driver_compile(o, g, r->ia, driver_mg(r));
	return TRAC_EXIT_OK;
}

/* ---- delivering --emit's stages ------------------------------------------------------ */

/* The file a stage goes to under -o DIR. */
static char *driver_stage_path(const DriverOpts *o, int st)
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
	for (int st = 0; st < driver_nstages; st++)
		if (em->open[st])
			fclose(em->e[st].f);
	if (options_count_emits(o) == 1) {
		for (int st = 0; st < driver_nstages; st++)
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
	char *written[DRIVER_MAX_STAGES] = {NULL};
	for (int st = 0; st < driver_nstages && rc == TRAC_EXIT_OK; st++)
		if (em->open[st]) {
			written[st] = driver_stage_path(o, st);
			if (!driver_write_file(written[st], em->e[st].buf, em->e[st].len))
				rc = TRAC_EXIT_ERROR;
		}
	/* all or nothing: a failure takes back the stages already written,
	 * and the set then removes the directories it made */
	for (int st = 0; st < driver_nstages; st++) {
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
	for (int st = 0; st < driver_nstages; st++)
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
		if (!o->object && !o->shared && o->ranks > 1)
			files[n++] = arena_printf(a, "%s/libtrart_mpi.a", lib);
	}
	return n;
}

/* Writes "TARGETS: PREREQS" and, as gcc -MP does, an empty rule per
 * prerequisite but the program, so a moved trac does not break make. */
static int driver_write_deps(const DriverOpts *o, char *const *targets, int ntargets)
{
	Arena a = {0};
	const char *pre[5];
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
	char **files = xcalloc((size_t)driver_nstages + 2, sizeof *files);
	*n = 0;
	if (o->mode == MODE_COMPILE) {
		driver_outputs(o, &files[0], &files[1]);
		*n = files[1] ? 2 : 1;
	} else if (o->mode == MODE_EMIT && options_count_emits(o) > 1 && o->out) {
		for (int st = 0; st < driver_nstages; st++)
			if (options_wants(o, st))
				files[(*n)++] = driver_stage_path(o, st);
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
	diag.warn = o->warn;
	Arena arena = {0};
	TraGraph g = {.arena = &arena};
	DriverEmits em = {0};
	DriverRun r = {.o = o, .src = src, .diag = &diag, .plans = driver_kplan_options(o)};
	AstProgram prog;
	int rc = driver_front_end(&r, &prog, &g, &em);
	bool more = rc == TRAC_EXIT_OK && driver_last_point(o) >= POINT_PASSES;
	/* the interpreter runs the graph as written: it is the oracle */
	if (more && o->mode == MODE_INTERPRET)
		rc = driver_interpret(o, &g);
	else if (more && (o->mode == MODE_EMIT || o->mode == MODE_COMPILE))
		rc = driver_back_end(&r, &g, &em);
	if (rc == TRAC_EXIT_OK && o->mode == MODE_EMIT)
		rc = driver_deliver_emits(o, &em);
	else
		for (int st = 0; st < driver_nstages; st++)
			if (em.open[st])
				fclose(em.e[st].f);
	driver_free_emits(&em);
	int n;
	char **written = driver_written(o, &n);
	if (rc == TRAC_EXIT_OK && o->deps)
		rc = driver_write_deps(o, written, n);
	driver_free_list(written);
	memgraph_free(&r.mem);
	arena_free(&arena);
	return rc;
}

/* ---- training the learned placer (--train-placer) --------------------------------------- */

/* What one training graph keeps alive until the weights are written. */
typedef struct DriverTrainGraph {
	Source src;
	Arena arena;
	TraGraph g;
	IaGraph ia;
} DriverTrainGraph;

/* file's task graph for `devices` devices, as a compile would place it,
 * into t; false after the program's errors. */
static bool driver_train_graph(const DriverOpts *base, const char *file, int devices, DriverTrainGraph *t)
{
	DriverOpts o = *base;
	o.file = file;
	o.devices = devices;
	o.placer = PLACE_CRITICAL_PATH;
	driver_read_source(file, &t->src);
	Diag diag;
	diag_init(&diag, &t->src, stderr);
	diag.warn = o.warn;
	t->g = (TraGraph){.arena = &t->arena};
	AstProgram prog;
	if (parse_program(&t->src, &t->arena, &diag, &prog) > 0 || sema_build(&prog, o.defs, o.ndefs, &diag, &t->g) > 0)
		return false;
	tra_verify(&t->g);
	for (int i = 0; i < driver_npasses; i++) {
		driver_passes[i].run(&t->g);
		tra_verify(&t->g);
	}
	driver_decompose(&o, &t->g, 1, false);
	driver_lower(&o, &t->g, &t->ia);
	return true;
}

/* The weights training starts from: --placer-weights, else fresh ones. */
static bool driver_train_start(const DriverOpts *o, LearnNet *net)
{
	char err[512];
	if (!o->placer_weights) {
		learn_net_init(net, o->train_seed);
		return true;
	}
	if (learn_load(net, o->placer_weights, err, sizeof err))
		return true;
	fprintf(stderr, "trac: error: %s\n", err);
	return false;
}

/* Stage 3: the graphs' tasks take their measured times, and the rewards
 * are against critical path's plan under those times. */
static bool driver_train_measured(const DriverOpts *o, LearnGraph *lg, int n)
{
	char err[512];
	for (int i = 0; i < n; i++)
		if (!learn_read_trace(lg[i].ia, o->measured[i], err, sizeof err)) {
			fprintf(stderr, "trac: error: %s (graph %d: %s)\n", err, i + 1, lg[i].name);
			return false;
		}
	learn_references(lg, n, &o->sim);
	return true;
}

/* Trains the weights on the graphs: imitation and REINFORCE, then
 * fine-tuning on measured times if asked; prints what it did. False
 * after an error (a trace that does not fit). */
static bool driver_train_run(const DriverOpts *o, LearnNet *net, LearnGraph *lg, int n)
{
	LearnTrainOptions t = {.imitate = o->train_stage[0], .reinforce = o->train_stage[1], .imitate_rate = 3e-3,
	                       .reinforce_rate = 1e-3, .seed = o->train_seed, .log = o->verbose ? stderr : NULL};
	LearnTrainStats st = {0}, ft = {0};
	bool first = t.imitate + t.reinforce > 0;
	learn_references(lg, n, &o->sim);
	if (first)
		learn_train(net, lg, n, &o->sim, &t, &st);
	if (o->train_stage[2] > 0) {
		if (!driver_train_measured(o, lg, n))
			return false;
		t.imitate = 0;
		t.reinforce = o->train_stage[2];
		learn_train(net, lg, n, &o->sim, &t, &ft);
	}
	if (first)
		printf("trained on %d graphs: greedy makespan %.4f of critical path's (from %.4f), "
		       "%ld simulator calls\n", n, st.end, st.start, st.sim_calls);
	if (o->train_stage[2] > 0)
		printf("fine-tuned on measured times: greedy makespan %.4f of critical path's (from %.4f), "
		       "%ld simulator calls\n", ft.end, ft.start, ft.sim_calls);
	return true;
}

static int driver_train(const DriverOpts *o)
{
	int n = o->nfiles * o->ntrain_devices;
	DriverTrainGraph *tg = xcalloc((size_t)n, sizeof *tg);
	LearnGraph *lg = xcalloc((size_t)n, sizeof *lg);
	bool ok = true;
	for (int i = 0; i < n && ok; i++) {
		const char *file = o->files[i / o->ntrain_devices];
		int devices = o->train_devices[i % o->ntrain_devices];
		ok = driver_train_graph(o, file, devices, &tg[i]);
		lg[i] = (LearnGraph){.ia = &tg[i].ia, .name = arena_printf(&tg[i].arena, "%s on %d devices", file, devices)};
	}
	int rc = ok ? driver_check_defs(o, &tg[n - 1].g) : TRAC_EXIT_ERROR; /* a -D no program uses */
	ok = rc == TRAC_EXIT_OK;
	LearnNet net = {0};
	if (ok && (ok = driver_train_start(o, &net)) && (ok = driver_train_run(o, &net, lg, n))) {
		char err[512];
		if (!learn_save(&net, o->train_out, err, sizeof err)) {
			fprintf(stderr, "trac: error: %s\n", err);
			ok = false;
		}
	}
	learn_net_free(&net);
	for (int i = 0; i < n; i++) {
		arena_free(&tg[i].arena);
		free((char *)tg[i].src.text);
	}
	free(tg);
	free(lg);
	return ok ? TRAC_EXIT_OK : rc != TRAC_EXIT_OK ? rc : TRAC_EXIT_ERROR;
}

/* --placer=learned: the weights, from --placer-weights or the default file. */
static bool driver_load_placer(DriverOpts *o, LearnNet *net)
{
	if (o->placer != PLACE_LEARNED)
		return true;
	char err[512];
	const char *path = o->placer_weights ? o->placer_weights : learn_default_weights();
	if (!learn_load(net, path, err, sizeof err)) {
		fprintf(stderr, "trac: error: --placer=learned: %s\n", err);
		return false;
	}
	o->net = net;
	return true;
}

int driver_main(int argc, char **argv)
{
	DriverOpts o;
	options_parse(&o, argc, argv);
	if (o.print_runtime_dir) {
		int rc = build_print_runtime_dir(o.runtime_dir);
		options_free(&o);
		return rc;
	}
	if (o.mode == MODE_TRAIN) {
		int rc = driver_train(&o);
		options_free(&o);
		return rc;
	}
	driver_check_written(&o);
	driver_check_symbol(&o);
	LearnNet net = {0};
	if (!driver_load_placer(&o, &net)) {
		options_free(&o);
		return TRAC_EXIT_ERROR;
	}
	Source src;
	driver_read_source(o.file, &src);
	int rc = driver_run(&o, &src);
	free((char *)src.text);
	learn_net_free(&net);
	options_free(&o);
	return rc;
}
