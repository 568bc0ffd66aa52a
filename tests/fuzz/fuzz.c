/* fuzz.c: a libFuzzer target for trac's front end, passes and back end.
 * needs: libFuzzer (clang -fsanitize=fuzzer), ideally with ASan and UBSan.
 * gives: LLVMFuzzerTestOneInput, built by `make fuzz` (tests/fuzz.sh).
 *
 * Each input is a .tra program, as bytes. It goes through what `trac`
 * does with a file, in the same order: the token dump, the parser and
 * the AST dump, sema and tra_verify, the reference interpreter (when the
 * program is small enough to run in a moment), the optimising passes of
 * driver.c's table (driver_passes, so new passes are fuzzed as they
 * join it), the TRA dump, then decomposition for one to four devices
 * (from the input's length), lowering, row fusion, placement and every
 * dump of the task graph, the memory plan (unbounded, then under half
 * of that arena, which may be refused) with its dumps, and the C back
 * end three ways: block tasks, node kernels and library mode with its
 * header. Everything is written
 * to /dev/null. Errors in the program are fine; a crash, a sanitizer
 * report, an internal error (trac_internal_error aborts) or a run past
 * libFuzzer's -timeout is a bug.
 */
#include "tra.h"
#include "kplan.h"
#include "memgraph.h"

#include <stdlib.h>
#include <string.h>

/* Runs the interpreter only when the program's every node has at most
 * this many join points, so that one input takes milliseconds. */
#define FUZZ_MAX_POINTS 4096.0

static FILE *fuzz_null(void)
{
	static FILE *null;
	if (!null && !(null = fopen("/dev/null", "w")))
		abort();
	return null;
}

/* Whether every node of g is cheap to interpret. */
static bool fuzz_small(const TraGraph *g)
{
	for (int id = 0; id < g->nnodes; id++)
		if (tra_node_join_points(&g->nodes[id]) > FUZZ_MAX_POINTS)
			return false;
	return true;
}

/* The interpreter on inputs 0.5, 0.75, 1, ...: it must not crash. */
static void fuzz_interpret(const TraGraph *g)
{
	InterpValues v;
	interp_values_init(&v, g);
	for (int id = 0; id < g->nnodes; id++) {
		if (g->nodes[id].kind != TRA_NODE_INPUT)
			continue;
		int64_t n = tra_node_elements(&g->nodes[id]);
		v.data[id] = xmalloc((size_t)n * sizeof(double));
		for (int64_t i = 0; i < n; i++)
			v.data[id][i] = 0.5 + 0.25 * (double)(i % 7);
	}
	interp_run(g, &v);
	interp_values_free(&v);
}

/* Decomposition, lowering, placement and their dumps, then C of block
 * tasks. */
static void fuzz_tasks(TraGraph *g, int devices)
{
	DecompOptions d = {.devices = devices};
	decomp_run(g, &d);
	tra_dump(g, fuzz_null());
	IaGraph ia;
	ia_lower(g, g->arena, &ia);
	kplan_fuse_rows(g, &ia);
	SimModel m;
	sim_model_default(&m);
	place_run(&ia, &(Placer){.kind = PLACE_GREEDY}, devices, &m);
	ia_dump(&ia, fuzz_null());
	ia_dump_taskgraph(&ia, fuzz_null());
	plan_dump(&ia, &m, PLACE_GREEDY, fuzz_null());
	plan_dump_dot(g, &ia, fuzz_null());
	KplanProgram kp;
	kplan_build(g, &ia, &(KplanOptions){.strassen = true}, &kp);
	kplan_dump(&kp, fuzz_null());
	Memgraph mg, tight;
	char err[512];
	if (!memgraph_build(&kp, 0, &mg, err, sizeof err))
		abort(); /* an unbounded budget always works */
	memgraph_dump(&mg, &kp, fuzz_null());
	memgraph_plan_lines(&mg, &ia, &m, fuzz_null());
	plan_dump_json(&ia, &m, PLACE_GREEDY, &mg, fuzz_null());
	if (mg.domains[0].arena > 1 && memgraph_build(&kp, mg.domains[0].arena / 2, &tight, err, sizeof err)) {
		memgraph_dump(&tight, &kp, fuzz_null());
		memgraph_free(&tight);
	}
	kplan_free(&kp);
	CgCOptions cg = {"fuzz", "fuzz.tra", false, NULL, &ia, &mg, NULL};
	cg_c_emit(g, &cg, fuzz_null());
	memgraph_free(&mg);
}

/* Everything after a clean sema, as the driver orders it. */
static void fuzz_back_end(TraGraph *g, size_t size)
{
	tra_verify(g);
	if (fuzz_small(g))
		fuzz_interpret(g);
	for (int i = 0; i < driver_npasses; i++) {
		driver_passes[i].run(g);
		tra_verify(g);
	}
	tra_dump(g, fuzz_null());
	plan_dump_signature_json(g, "fuzz", fuzz_null());
	KplanProgram kp;
	kplan_build(g, NULL, &(KplanOptions){.strassen = true}, &kp);
	kplan_dump(&kp, fuzz_null());
	kplan_free(&kp);
	CgCOptions kernels = {"fuzz", "fuzz.tra", false, NULL, NULL, NULL, NULL};
	cg_c_emit(g, &kernels, fuzz_null());
	CgCOptions lib = {"fuzz", "fuzz.tra", true, "fuzz.h", NULL, NULL, NULL};
	cg_c_emit(g, &lib, fuzz_null());
	cg_c_emit_header(g, &lib, fuzz_null());
	fuzz_tasks(g, 1 + (int)(size % 4));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = xmalloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	Source src = {"fuzz.tra", text, size};
	Diag diag;
	diag_init(&diag, &src, fuzz_null());
	lex_dump_tokens(&src, &diag, fuzz_null());
	diag_init(&diag, &src, fuzz_null());
	Arena arena = {0};
	TraGraph g = {.arena = &arena};
	AstProgram prog;
	if (parse_program(&src, &arena, &diag, &prog) == 0) {
		ast_dump(&prog, &src, fuzz_null());
		if (sema_build(&prog, NULL, 0, &diag, &g) == 0)
			fuzz_back_end(&g, size);
	}
	arena_free(&arena);
	free(text);
	return 0;
}
