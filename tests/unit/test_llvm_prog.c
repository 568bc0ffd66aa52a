/* test_llvm_prog.c: the LLVM back end's program builder (codegen/
 * llvm_prog.c), built only where configure found LLVM.
 *
 * The IR struct types must have the C compiler's layout of trart.h's
 * structs (cg_llvm_prog_layout). Small programs, whole-node and block
 * tasks, main() and library mode, go through cg_llvm_emit: the module
 * verifies, holds the kernels the plan names and the tables, and O3 runs.
 * Then library mode runs: the object is linked with the runtime and
 * OpenBLAS into a shared library, loaded with dlopen and called, and its
 * outputs compared with the interpreter's arithmetic done here in C (an
 * output that is an input is copied; whole-node mode mallocs the
 * intermediates, block tasks take them from the runtime's pool).
 */
#include "llvm_prog.h"
#include "paths.h"

#include "unit.h"
#include "llvm_unit.h"

#include <check.h>
#include <dlfcn.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* y = exp(x) * 2, a reduction and an output that is an input. */
static const char test_src[] =
	"size N = 3000\n"
	"input x[N]\n"
	"h[i] = exp(x[i])\n"
	"y[i] = h[i] * 2\n"
	"s = sum[i](h[i] * x[i])\n"
	"output y, s, x\n";

/* The program after the passes the driver runs; with blocks, decomposed
 * for two devices, lowered and placed, into *ia. */
static UnitRun *test_program(bool blocks, IaGraph *ia)
{
	UnitRun *u = llvm_unit_program(test_src, blocks ? 2 : 0, ia);
	if (blocks) {
		SimModel sim;
		sim_model_default(&sim);
		place_run(ia, &(Placer){.kind = PLACE_GREEDY}, 2, &sim);
	}
	return u;
}

START_TEST(struct_layouts_match_c)
{
	char err[512];
	CgLlvm *m = cg_llvm_new("layout", err, sizeof err);
	ck_assert_msg(m != NULL, "%s", err);
	ck_assert_msg(cg_llvm_prog_layout(m, err, sizeof err), "%s", err);
	cg_llvm_free(m);
}
END_TEST

/* The module of the program in each mode: verified IR before the passes,
 * with main or the library function, the kernels and the tables. */
START_TEST(modules_verify)
{
	for (int mode = 0; mode < 4; mode++) {
		bool blocks = mode & 1, library = mode & 2;
		IaGraph ia;
		UnitRun *u = test_program(blocks, &ia);
		CgCOptions opt = {"prog", "prog.tra", library, "prog.h", blocks ? &ia : NULL, NULL, NULL};
		UnitMem unopt, done;
		unit_mem_open(&unopt);
		unit_mem_open(&done);
		CgLlvmOutput out = {NULL, unopt.f, done.f, NULL, false};
		char err[2048];
		ck_assert_msg(cg_llvm_emit(&u->g, &opt, &out, err, sizeof err), "mode %d: %s", mode, err);
		const char *ir = unit_mem_text(&unopt);
		ck_assert_msg(strstr(ir, library ? "define i32 @prog(i8** " : "define i32 @main("), "mode %d", mode);
		if (library) {
			ck_assert_ptr_nonnull(strstr(ir, "@prog_inputs = constant [1 x %trac_tensor_info]"));
			ck_assert_ptr_nonnull(strstr(ir, "@prog_outputs = constant [3 x %trac_tensor_info]"));
		}
		ck_assert_ptr_nonnull(strstr(ir, "@trac_program = internal constant %TrartProgram"));
		ck_assert_ptr_nonnull(strstr(ir, "@trac_tensors = internal constant"));
		if (blocks) {
			ck_assert_ptr_nonnull(strstr(ir, "define internal void @trac_nop("));
			ck_assert_ptr_nonnull(strstr(ir, "@trac_graph = internal constant %TrartTaskGraph"));
			/* partial blocks are buffers the executor provides: no table of them */
			ck_assert_ptr_null(strstr(ir, "@trac_partial"));
		} else {
			ck_assert_ptr_nonnull(strstr(ir, "@trac_kernels = internal constant"));
			ck_assert_ptr_null(strstr(ir, "@trac_graph"));
		}
		ck_assert_ptr_nonnull(strstr(unit_mem_text(&done), "@trac_program"));
		unit_mem_close(&unopt);
		unit_mem_close(&done);
		unit_free(u);
	}
}
END_TEST

/* What a library mode object links with: the runtime and OpenBLAS. */
#define TEST_LIBS TRAC_BUILD_LIBDIR "/libtrart.a " TRAC_BLAS_LIBS " -lm -pthread"

typedef int (*TestProgFn)(const void *const *inputs, void *const *outputs, int threads);

/* Library mode, whole-node and blocks: prog(inputs, outputs, threads). */
START_TEST(library_runs)
{
	enum { N = 3000 };
	static float x[N], y[N], xo[N], s;
	for (int i = 0; i < N; i++)
		x[i] = (float)((i % 200) - 100) / 50.0f;
	for (int blocks = 0; blocks < 2; blocks++) {
		IaGraph ia;
		UnitRun *u = test_program(blocks, &ia);
		CgCOptions opt = {"prog", "prog.tra", true, "prog.h", blocks ? &ia : NULL, NULL, NULL};
		char dir[] = "/tmp/test_llvm_prog.XXXXXX", obj[256], err[2048];
		ck_assert_ptr_nonnull(mkdtemp(dir));
		snprintf(obj, sizeof obj, "%s/prog.o", dir);
		CgLlvmOutput out = {obj, NULL, NULL, NULL, false};
		ck_assert_msg(cg_llvm_emit(&u->g, &opt, &out, err, sizeof err), "%s", err);
		void *h = llvm_unit_link(obj, TEST_LIBS);
		unlink(obj);
		rmdir(dir);
		TestProgFn prog;
		*(void **)&prog = llvm_unit_sym(h, "prog");
		memset(y, 0, sizeof y);
		memset(xo, 0, sizeof xo);
		s = 0;
		const void *in[1] = {x};
		void *outs[3] = {y, &s, xo};
		ck_assert_int_eq(prog(in, outs, 2), 0);
		double want = 0;
		for (int i = 0; i < N; i++) {
			double e = exp((double)x[i]);
			want += e * x[i];
			ck_assert_msg(fabs(y[i] - 2 * e) <= 1e-6 * 2 * e, "blocks %d: y[%d] = %g, not %g", blocks, i,
			              y[i], 2 * e);
		}
		ck_assert_msg(fabs(s - want) <= 1e-4 * fabs(want), "blocks %d: s = %g, not %g", blocks, s, want);
		ck_assert_int_eq(memcmp(x, xo, sizeof x), 0);
		/* The runtime's workers outlive a run (a worker spins for the next
		 * one for a while): stop them before their code is unmapped. */
		((void (*)(void))llvm_unit_sym(h, "trart_shutdown"))();
		dlclose(h);
		unit_free(u);
	}
}
END_TEST

static Suite *llvm_prog_suite(void)
{
	Suite *s = suite_create("llvm_prog");
	TCase *tc = tcase_create("program");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, struct_layouts_match_c);
	tcase_add_test(tc, modules_verify);
	tcase_add_test(tc, library_runs);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(llvm_prog_suite)
