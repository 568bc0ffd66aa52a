/* llvm_unit.h: what the Check programs of the LLVM back end share
 * (test_llvm, test_llvm_kernels, test_llvm_blas): a module's IR as text,
 * one function's definition in it, and the optimised module as a loaded
 * shared library (no JIT: the object cg_llvm_emit_object writes, linked
 * by the C compiler, dlopen'ed). Static functions only, like unit.h.
 */
#ifndef TRAC_TESTS_LLVM_UNIT_H
#define TRAC_TESTS_LLVM_UNIT_H

#include "llvm.h"

#include <check.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* The module, optimised at O3, as a shared library linked with libs (the
 * C compiler's flags: the runtime, OpenBLAS) and loaded (dlclose it);
 * its files go at once. When quiet, LLVM must have given no warning: every
 * loop tagged for vectorisation was vectorised. */
static inline void *llvm_unit_load(CgLlvm *m, const char *libs, bool quiet)
{
	char err[4096], dir[] = "/tmp/test_llvm.XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char obj[64], so[64], cmd[2048];
	snprintf(obj, sizeof obj, "%s/k.o", dir);
	snprintf(so, sizeof so, "%s/k.so", dir);
	ck_assert_msg(cg_llvm_optimize(m, err, sizeof err), "%s", err);
	const char *why;
	ck_assert_msg(!quiet || cg_llvm_warnings(m, &why) == 0, "LLVM warned: %s", why);
	ck_assert_msg(cg_llvm_emit_object(m, obj, err, sizeof err), "%s", err);
	const char *cc = getenv("CC");
	snprintf(cmd, sizeof cmd, "%s -shared -o %s %s %s", cc && *cc ? cc : "cc", so, obj, libs);
	ck_assert_msg(system(cmd) == 0, "failed: %s", cmd);
	void *h = dlopen(so, RTLD_NOW | RTLD_LOCAL);
	ck_assert_msg(h != NULL, "dlopen: %s", dlerror());
	unlink(obj);
	unlink(so);
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
