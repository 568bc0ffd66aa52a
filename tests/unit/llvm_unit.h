/* llvm_unit.h: what the Check programs of the LLVM back end share
 * (test_llvm, test_llvm_prog, test_llvm_kernels, test_llvm_blas): a new
 * module, verified; a program after the driver's passes, decomposed into
 * block tasks if asked; a module's IR as text, one function's definition
 * in it; the vector width the host gives; and the optimised module (or
 * an object file) as a loaded shared library (no JIT: the object
 * cg_llvm_emit_object writes, linked by the C compiler, dlopen'ed).
 * Static functions only, like unit.h, which it includes.
 */
#ifndef TRAC_TESTS_LLVM_UNIT_H
#define TRAC_TESTS_LLVM_UNIT_H

#include "kplan.h"
#include "llvm.h"
#include "unit.h"

#include <check.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* An empty module for the host. */
static inline CgLlvm *llvm_unit_module(void)
{
	char err[512];
	CgLlvm *m = cg_llvm_new("test", err, sizeof err);
	ck_assert_msg(m != NULL, "cg_llvm_new: %s", err);
	return m;
}

static inline void llvm_unit_verify(CgLlvm *m)
{
	char err[8192];
	ck_assert_msg(cg_llvm_verify(m, err, sizeof err), "%s", err);
}

/* Program src after the passes the driver runs; with devices > 0,
 * decomposed for that many devices, lowered into *ia and its row groups
 * fused, as the driver does before it plans kernels. */
static inline UnitRun *llvm_unit_program(const char *src, int devices, IaGraph *ia)
{
	UnitRun *u = unit_compile_ok(src);
	TraGraph *g = &u->g;
	for (int i = 0; i < driver_npasses; i++) {
		driver_passes[i].run(g);
		tra_verify(g);
	}
	if (devices <= 0)
		return u;
	DecompOptions d = {.devices = devices};
	decomp_run(g, &d);
	ia_lower(g, g->arena, ia);
	kplan_fuse_rows(g, ia);
	return u;
}

/* Whether two results agree: equal (a zero of either sign, as the
 * language has no signed zeros) or both NaN. */
static inline bool llvm_unit_same(double a, double b)
{
	return a == b || (isnan(a) && isnan(b));
}

/* The float vector width the host's features give: 16 with AVX-512, 8
 * with AVX, 4 with SSE or NEON. */
static inline int llvm_unit_width(const CgLlvm *m)
{
	const char *f = cg_llvm_features(m);
	if (strstr(f, "+avx512f"))
		return 16;
	if (strstr(f, "+avx,") || strstr(f, "+avx2"))
		return 8;
	return 4;
}

/* The module's IR, malloc'ed. */
static inline char *llvm_unit_ir(CgLlvm *m)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	ck_assert_ptr_nonnull(f);
	cg_llvm_dump(m, f);
	fclose(f);
	return buf;
}

/* The text of function name's definition in ir, malloc'ed. */
static inline char *llvm_unit_function_ir(const char *ir, const char *name)
{
	char head[128];
	snprintf(head, sizeof head, "@%s(", name);
	const char *p = strstr(ir, head);
	ck_assert_msg(p != NULL, "no function %s in the IR", name);
	while (p > ir && strncmp(p, "define ", 7) != 0)
		p--;
	const char *end = strstr(p, "\n}\n");
	ck_assert_ptr_nonnull(end);
	return strndup(p, (size_t)(end - p) + 2);
}

/* Object file obj linked with libs (the C compiler's flags: the runtime,
 * OpenBLAS) into a shared library and loaded (dlclose it); the library's
 * file goes at once. */
static inline void *llvm_unit_link(const char *obj, const char *libs)
{
	char so[4096 + 8], cmd[16384];
	snprintf(so, sizeof so, "%s.so", obj);
	const char *cc = getenv("CC");
	snprintf(cmd, sizeof cmd, "%s -shared -o %s %s %s", cc && *cc ? cc : "cc", so, obj, libs);
	ck_assert_msg(system(cmd) == 0, "failed: %s", cmd);
	void *h = dlopen(so, RTLD_NOW | RTLD_LOCAL);
	ck_assert_msg(h != NULL, "dlopen: %s", dlerror());
	unlink(so);
	return h;
}

/* The module, optimised at O3, as a shared library linked with libs and
 * loaded (llvm_unit_link); its files go at once. When quiet, LLVM must
 * have given no warning: every loop tagged for vectorisation was
 * vectorised. */
static inline void *llvm_unit_load(CgLlvm *m, const char *libs, bool quiet)
{
	char err[4096], dir[] = "/tmp/test_llvm.XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char obj[64];
	snprintf(obj, sizeof obj, "%s/k.o", dir);
	ck_assert_msg(cg_llvm_optimize(m, err, sizeof err), "%s", err);
	const char *why;
	ck_assert_msg(!quiet || cg_llvm_warnings(m, &why) == 0, "LLVM warned: %s", why);
	ck_assert_msg(cg_llvm_emit_object(m, obj, err, sizeof err), "%s", err);
	void *h = llvm_unit_link(obj, libs);
	unlink(obj);
	rmdir(dir);
	return h;
}

/* The runtime as built here, for llvm_unit_load's libs. */
#define LLVM_UNIT_RUNTIME "-Wl,--no-as-needed -L" TRAC_BUILD_LIBDIR " -ltrart -Wl,-rpath," TRAC_BUILD_LIBDIR

/* A function of the library; POSIX lets a data pointer hold a function's. */
static inline void *llvm_unit_sym(void *h, const char *name)
{
	void *p = dlsym(h, name);
	ck_assert_msg(p != NULL, "no symbol %s", name);
	return p;
}

#endif /* TRAC_TESTS_LLVM_UNIT_H */
