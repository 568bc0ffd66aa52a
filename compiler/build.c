/* build.c: from the TRA graph to a native executable or an object file.
 * needs: a verified, optimised TraGraph. gives: the file(s) at opt->out.
 *
 * The C back end writes NAME.c into a fresh temporary directory; the C
 * compiler configure found (or CC, or --cc) compiles it there with the
 * runtime's header, then links it with libtrart and OpenBLAS (an
 * executable, or a shared library with --shared; -c stops at the object);
 * the result is renamed onto the output path, so a failure never leaves a
 * partial file, and the temporary directory is removed on every path,
 * signals included, unless --keep-temps asks to keep it.
 *
 * With --backend=llvm there is no C: cg_llvm_emit writes NAME.o into the
 * temporary directory itself (and NAME.ll, the optimised IR, with
 * --keep-temps), and the C compiler only links it, the same way; -c
 * renames the object onto the output. LLVM failing (its verifier, its
 * passes, writing the object) is trac's bug: exit 3.
 *
 * Who is to blame decides the exit status. A compiler that is not there
 * (not on PATH, a CC naming nothing) or a link that fails (a missing or
 * broken OpenBLAS) is the environment's: exit 1 with a hint. A compile of
 * the generated C that fails is trac's own bug (exit 3), unless the user
 * added flags (-Xcc, --cflags, --march), which may be the cause (exit 1).
 *
 * The runtime (trart.h, libtrart.a) is found, in order: where --runtime-dir
 * or TRAC_RUNTIME_DIR says; next to the trac binary when it runs from its
 * build tree (tests, `make demo`); relative to the binary as the install
 * laid them out (bindir to includedir and libdir), so a moved install
 * works; and last where `make install` put it.
 *
 * An executable for MPI ranks (--ranks) also links libtrart_mpi.a, from
 * the same directory as libtrart.a and before it (it calls libtrart),
 * then MPI's libraries as configure's mpicc named them; only a trac
 * configured with MPI builds one. An object (-c) or a shared library
 * links neither: whoever links it into a program adds them.
 *
 * An executable for CUDA GPUs (--backend=cuda) has two sources: the C
 * (the host's tables and main) and NAME.cu (cg_cuda_emit's kernels and
 * launchers), which configure's nvcc compiles for --cuda-arch's GPUs
 * (one -gencode each, the last also as PTX, so that newer GPUs can JIT
 * it) with the runtime's include directory (trart_cuda.h). The link
 * adds NAME.cu's object, libtrart_cuda.a before libtrart.a, and cuBLAS
 * and cudart as configure found them. nvcc failing on the generated
 * CUDA is trac's bug (exit 3).
 */
#define _XOPEN_SOURCE 700 /* realpath */
#include "tra.h"
#include "paths.h"

#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Where the runtime's header and library are; strings in an arena. */
typedef struct BuildPaths {
	const char *include;
	const char *lib;
} BuildPaths;

static bool build_is_file(const char *dir, const char *file)
{
	char path[PATH_MAX];
	return snprintf(path, sizeof path, "%s/%s", dir, file) < (int)sizeof path && access(path, R_OK) == 0;
}

/* The directory of the running trac, or false. */
static bool build_self_dir(char *dir, size_t n)
{
	ssize_t got = readlink("/proc/self/exe", dir, n - 1);
	if (got <= 0)
		return false;
	dir[got] = '\0';
	char *slash = strrchr(dir, '/');
	if (!slash)
		return false;
	*slash = '\0';
	return true;
}

/* The next component of a path at *p ("" at the end); advances *p. */
static size_t build_component(const char **p)
{
	while (**p == '/')
		(*p)++;
	return strcspn(*p, "/");
}

/* The relative path from directory from to directory to, both absolute
 * ("/usr/local/bin", "/usr/local/include" -> "../include"). */
static char *build_relative(Arena *a, const char *from, const char *to)
{
	size_t nf = build_component(&from), nt = build_component(&to);
	while (nf && nf == nt && strncmp(from, to, nf) == 0) {
		from += nf;
		to += nt;
		nf = build_component(&from);
		nt = build_component(&to);
	}
	char *r = arena_printf(a, "%s", "");
	for (; nf; from += nf, nf = build_component(&from))
		r = arena_printf(a, "%s../", r);
	return arena_printf(a, "%s%s", r, *to ? to : ".");
}

/* --runtime-dir or TRAC_RUNTIME_DIR: DIR/include and DIR/lib (an install
 * prefix), or DIR itself holding both files. */
static bool build_runtime_override(Arena *a, const char *dir, BuildPaths *p)
{
	const char *inc = arena_printf(a, "%s/include", dir), *lib = arena_printf(a, "%s/lib", dir);
	if (build_is_file(inc, "trart.h")) {
		*p = (BuildPaths){inc, lib};
		return true;
	}
	if (build_is_file(dir, "trart.h")) {
		*p = (BuildPaths){dir, dir};
		return true;
	}
	fprintf(stderr, "trac: error: the runtime directory '%s' holds no trart.h (nor include/trart.h); "
	        "it should be an install prefix of trac\n", dir);
	return false;
}

/* Finds the runtime (see the top of the file); false after a message. */
static bool build_runtime_paths(Arena *a, const char *override, BuildPaths *p)
{
	if (!override || !*override)
		override = getenv("TRAC_RUNTIME_DIR");
	if (override && *override)
		return build_runtime_override(a, override, p);
	char self[PATH_MAX];
	if (!build_self_dir(self, sizeof self)) {
		*p = (BuildPaths){TRAC_INCLUDEDIR, TRAC_LIBDIR};
		return true;
	}
	if (strcmp(self, TRAC_BUILD_BINDIR) == 0) {
		*p = (BuildPaths){TRAC_BUILD_INCLUDEDIR, TRAC_BUILD_LIBDIR};
		return true;
	}
	const char *inc = arena_printf(a, "%s/%s", self, build_relative(a, TRAC_BINDIR, TRAC_INCLUDEDIR));
	const char *lib = arena_printf(a, "%s/%s", self, build_relative(a, TRAC_BINDIR, TRAC_LIBDIR));
	if (build_is_file(inc, "trart.h"))
		*p = (BuildPaths){inc, lib};
	else
		*p = (BuildPaths){TRAC_INCLUDEDIR, TRAC_LIBDIR};
	return true;
}

bool build_find_runtime(Arena *a, const char *runtime_dir, const char **include, const char **lib)
{
	BuildPaths p;
	if (!build_runtime_paths(a, runtime_dir, &p))
		return false;
	*include = p.include;
	*lib = p.lib;
	return true;
}

/* Where installed file name is, in a: in build_dir when this trac runs
 * from the build tree, else in installed_dir where it is from bindir (an
 * install moved whole), else in the configured installed_dir. */
static const char *build_installed_file(Arena *a, const char *build_dir, const char *installed_dir,
                                        const char *name)
{
	char self[PATH_MAX];
	const char *dir = installed_dir;
	if (build_self_dir(self, sizeof self)) {
		const char *moved = arena_printf(a, "%s/%s", self, build_relative(a, TRAC_BINDIR, installed_dir));
		if (strcmp(self, TRAC_BUILD_BINDIR) == 0)
			dir = build_dir;
		else if (build_is_file(moved, name))
			dir = moved;
	}
	return arena_printf(a, "%s/%s", dir, name);
}

const char *build_data_file(const char *name)
{
	static char path[PATH_MAX + 256];
	Arena a = {0};
	snprintf(path, sizeof path, "%s", build_installed_file(&a, TRAC_BUILD_DATADIR, TRAC_PKGDATADIR, name));
	arena_free(&a);
	return path;
}

#ifdef HAVE_LLVM
typedef bool BuildLlvmEmit(const TraGraph *g, const CgCOptions *opt, const CgLlvmOutput *out, char *err,
                           size_t errlen);

/* The module's cg_llvm_emit, loaded once; NULL after a message. The back
 * end is a module so that a run that renders no LLVM never loads
 * libLLVM (0.1 s of start-up: most of a `trac --check`). */
static BuildLlvmEmit *build_llvm_module(void)
{
	static BuildLlvmEmit *emit;
	if (emit)
		return emit;
	Arena a = {0};
	const char *path = build_installed_file(&a, TRAC_BUILD_PKGLIBDIR, TRAC_PKGLIBDIR, "trac-llvm.so");
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (h)
		*(void **)&emit = dlsym(h, "cg_llvm_emit");
	if (!emit) {
		const char *why = dlerror();
		fprintf(stderr, "trac: error: cannot load the LLVM back end: %s; trac's installation is incomplete "
		        "(--backend=c compiles without it)\n", why ? why : path);
	}
	arena_free(&a);
	return emit;
}

int build_llvm_emit(const TraGraph *g, const CgCOptions *opt, const CgLlvmOutput *out)
{
	BuildLlvmEmit *emit = build_llvm_module();
	if (!emit)
		return TRAC_EXIT_ERROR;
	char err[1024];
	if (emit(g, opt, out, err, sizeof err))
		return TRAC_EXIT_OK;
	fprintf(stderr, "trac: internal error: the LLVM back end failed (this is a bug in trac): %s\n", err);
	return TRAC_EXIT_INTERNAL;
}
#endif

/* A directory without "dir/.." detours, for people to read. */
static const char *build_tidy_dir(Arena *a, const char *dir)
{
	char *real = realpath(dir, NULL);
	if (!real)
		return dir;
	const char *r = arena_printf(a, "%s", real);
	free(real);
	return r;
}

int build_print_runtime_dir(const char *override)
{
	Arena a = {0};
	BuildPaths p;
	bool ok = build_runtime_paths(&a, override, &p);
	if (ok)
		printf("%s\n%s\n", build_tidy_dir(&a, p.include), build_tidy_dir(&a, p.lib));
	arena_free(&a);
	return ok ? TRAC_EXIT_OK : TRAC_EXIT_ERROR;
}

/* argv under construction. */
typedef struct Argv {
	char *v[64];
	int n;
} Argv;

static void build_arg(Arena *a, Argv *av, const char *s)
{
	TRAC_ASSERT(av->n < 63);
	av->v[av->n++] = arena_strndup(a, s, strlen(s));
	av->v[av->n] = NULL;
}

/* Splits a space-separated word list (CC may be "gcc -m64") into av. */
static void build_words(Arena *a, Argv *av, const char *s)
{
	while (*s) {
		size_t n = strcspn(s, " \t");
		if (n) {
			char *w = arena_strndup(a, s, n);
			build_arg(a, av, w);
		}
		s += n;
		s += strspn(s, " \t");
	}
}

static void build_print_command(const Argv *av)
{
	for (int i = 0; i < av->n; i++)
		fprintf(stderr, "%s%s", i ? " " : "", av->v[i]);
	fputc('\n', stderr);
}

/* ---- cleaning up on every path, signals included --------------------------------- */

/* The temporary files of the build under way, and the compiler running,
 * for the signal handler; set before the handler is installed. */
static const char *volatile build_temps[8];
static volatile pid_t build_child;

static void build_remove_temps(void)
{
	for (int i = 0; i < 8; i++)
		if (build_temps[i] && i < 7)
			unlink(build_temps[i]);
	if (build_temps[7])
		rmdir(build_temps[7]); /* the directory, last */
}

/* SIGINT, SIGTERM, SIGHUP: stop the compiler, remove the temporaries,
 * then die of the same signal. Only async-signal-safe calls. */
static void build_on_signal(int sig)
{
	if (build_child > 0)
		kill(build_child, SIGTERM);
	build_remove_temps();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void build_catch_signals(bool on)
{
	static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		signal(sigs[i], on ? build_on_signal : SIG_DFL);
}

/* ---- running the C compiler ------------------------------------------------------------ */

/* How a command ended. */
typedef enum BuildRun {
	BUILD_RUN_OK,       /* exit status 0 */
	BUILD_RUN_FAILED,   /* a non-zero exit status */
	BUILD_RUN_BROKEN,   /* could not start, exit 126/127 of a wrapper, or a signal */
} BuildRun;

static BuildRun build_run(const Argv *av, const BuildOptions *opt)
{
	if (opt->verbose)
		build_print_command(av);
	pid_t pid;
	int err = posix_spawnp(&pid, av->v[0], NULL, NULL, av->v, environ);
	if (err != 0) {
		fprintf(stderr, "trac: error: cannot run '%s': %s\n", av->v[0], strerror(err));
		return BUILD_RUN_BROKEN;
	}
	build_child = pid;
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	build_child = 0;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return BUILD_RUN_OK;
	if (WIFSIGNALED(status)) {
		fprintf(stderr, "trac: error: '%s' was killed by signal %d%s\n", av->v[0], WTERMSIG(status),
		        WTERMSIG(status) == SIGKILL ? " (out of memory?)" : "");
		return BUILD_RUN_BROKEN;
	}
	if (WEXITSTATUS(status) == 126 || WEXITSTATUS(status) == 127) {
		fprintf(stderr, "trac: error: '%s' could not run a program it needs (exit status %d)\n",
		        av->v[0], WEXITSTATUS(status));
		return BUILD_RUN_BROKEN;
	}
	return BUILD_RUN_FAILED;
}

/* Whether program (a path, or a name looked up on PATH) can be run. */
static bool build_have_program(const char *program)
{
	if (strchr(program, '/'))
		return access(program, X_OK) == 0;
	const char *path = getenv("PATH");
	if (!path)
		path = "/usr/local/bin:/bin:/usr/bin";
	while (*path) {
		size_t n = strcspn(path, ":");
		char full[PATH_MAX];
		if (snprintf(full, sizeof full, "%.*s/%s", (int)n, n ? path : ".", program) < (int)sizeof full &&
		    access(full, X_OK) == 0)
			return true;
		path += n + (path[n] == ':');
	}
	return false;
}

/* The C compiler's words and where they came from, for messages. */
static const char *build_cc(const BuildOptions *opt, const char **from)
{
	const char *env = getenv("CC");
	if (opt->cc) {
		*from = "--cc";
		return opt->cc;
	}
	if (env && *env) {
		*from = "the environment variable CC";
		return env;
	}
	*from = "the one configure found";
	return TRAC_CC;
}

/* The compiler must exist before trac can blame itself for a failure. */
static bool build_check_cc(Arena *a, const BuildOptions *opt)
{
	const char *from, *cc = build_cc(opt, &from);
	Argv av = {0};
	build_words(a, &av, cc);
	if (av.n == 0) {
		fprintf(stderr, "trac: error: the C compiler named by %s is empty; name one with --cc or CC\n", from);
		return false;
	}
	if (build_have_program(av.v[0]))
		return true;
	fprintf(stderr, "trac: error: cannot find the C compiler '%s' (%s)%s; install a C compiler "
	        "(apt-get install gcc) or name one with --cc or CC\n", av.v[0], from,
	        strchr(av.v[0], '/') ? "" : " on PATH");
	return false;
}

/* Whether the user added flags that may explain a failed compile. */
static bool build_user_flags(const BuildOptions *opt)
{
	return opt->nxcc > 0 || opt->march;
}

/* The flags every step shares, after the compiler's words: the user's
 * last, so they override. */
static void build_shared_flags(Arena *a, Argv *av, const BuildOptions *opt)
{
	/* ThreadSanitizer does not mix with a sanitizer build's ASan */
	if (opt->sanitize_thread)
		build_arg(a, av, "-fsanitize=thread");
	else
		build_words(a, av, TRAC_SAN_FLAGS);
	if (opt->object || opt->shared)
		build_arg(a, av, "-fPIC"); /* so the object can go into a shared library */
	for (int i = 0; i < opt->nxcc; i++)
		build_arg(a, av, opt->xcc[i]);
}

/* -march=native, and on x86-64 512-bit vectors where the CPU has
 * AVX-512: gcc's and clang's tuning for Intel's AVX-512 CPUs prefers 256
 * (codegen/llvm.c, which does the same, has the numbers); elsewhere the
 * flag changes nothing. */
static void build_native_flags(Arena *a, Argv *av)
{
	build_arg(a, av, "-march=native");
#if defined(__x86_64__)
	build_arg(a, av, "-mprefer-vector-width=512");
#endif
}

static void build_compile_command(Arena *a, Argv *av, const BuildOptions *opt, const BuildPaths *paths,
                                  const char *c_file, const char *obj)
{
	const char *from;
	build_words(a, av, build_cc(opt, &from));
	build_arg(a, av, "-std=c11");
	build_arg(a, av, arena_printf(a, "-O%d", opt->opt_level));
	if (opt->march)
		build_arg(a, av, arena_printf(a, "-march=%s", opt->march));
	else if (!opt->portable)
		build_native_flags(a, av);
	/* reductions may be reassociated (tra(5)): lets loops vectorise */
	build_words(a, av, "-fno-math-errno -fno-trapping-math -fno-signed-zeros -fassociative-math "
	            "-fopenmp-simd");
	/* integer arithmetic wraps (tra(5), TYPES) */
	build_arg(a, av, "-fwrapv");
	build_arg(a, av, arena_printf(a, "-I%s", paths->include));
	build_shared_flags(a, av, opt);
	build_words(a, av, "-c -o");
	build_arg(a, av, obj);
	build_arg(a, av, c_file);
}

/* Whether the link adds libtrart_cuda, cuBLAS and cudart (the options
 * refuse -c and --shared with GPUs). */
static bool build_links_cuda(const BuildOptions *opt)
{
	return opt->cuda && !opt->object && !opt->shared;
}

/* --backend=cuda: where nvcc puts NAME.cu's object, beside the C's. */
static const char *build_cu_obj(Arena *a, const char *obj)
{
	return arena_printf(a, "%s.cu.o", obj);
}

/* Whether the link adds libtrart_mpi and MPI: an executable for ranks. */
static bool build_links_mpi(const BuildOptions *opt)
{
	return opt->ranks > 1 && !opt->object && !opt->shared;
}

/* An executable, or with --shared a shared library, from the object. */
static void build_link_command(Arena *a, Argv *av, const BuildOptions *opt, const BuildPaths *paths,
                               const char *obj, const char *out)
{
	const char *from;
	const char *cc = build_cc(opt, &from);
	build_words(a, av, cc);
	/* the configured compiler's faster linker (configure's TRAC_LINK_FLAGS):
	 * another compiler may not take the flag */
	if (strcmp(cc, TRAC_CC) == 0)
		build_words(a, av, TRAC_LINK_FLAGS);
	build_shared_flags(a, av, opt);
	if (opt->shared)
		build_arg(a, av, "-shared");
	build_arg(a, av, "-pthread");
	build_arg(a, av, "-o");
	build_arg(a, av, out);
	build_arg(a, av, obj);
	if (build_links_cuda(opt)) {
		build_arg(a, av, build_cu_obj(a, obj));
		build_arg(a, av, arena_printf(a, "%s/libtrart_cuda.a", paths->lib));
	}
	if (build_links_mpi(opt))
		build_arg(a, av, arena_printf(a, "%s/libtrart_mpi.a", paths->lib));
	build_arg(a, av, arena_printf(a, "%s/libtrart.a", paths->lib));
	if (build_links_mpi(opt))
		build_words(a, av, TRAC_MPI_LIBS);
	if (build_links_cuda(opt)) {
		build_words(a, av, TRAC_CUDA_LIBS);
		build_arg(a, av, "-lstdc++"); /* nvcc's host code */
	}
	build_words(a, av, TRAC_BLAS_LIBS);
	build_arg(a, av, "-lm");
}

/* nvcc on NAME.cu: one -gencode per --cuda-arch entry, the last with
 * its PTX too. */
static void build_nvcc_command(Arena *a, Argv *av, const BuildOptions *opt, const BuildPaths *paths,
                               const char *cu_file, const char *cu_obj)
{
	build_arg(a, av, TRAC_NVCC);
	build_arg(a, av, arena_printf(a, "-O%d", opt->opt_level));
	for (const char *p = opt->cuda_arch; *p;) {
		size_t n = strcspn(p, ",");
		const char *arch = arena_printf(a, "%.*s", (int)n, p);
		bool last = p[n] == '\0';
		build_arg(a, av, "-gencode");
		build_arg(a, av, arena_printf(a, "arch=compute_%s,code=%s%s%s%s", arch + 3, last ? "[" : "", arch,
		                              last ? ",compute_" : "", last ? arena_printf(a, "%s]", arch + 3) : ""));
		p += n + (p[n] == ',');
	}
	build_arg(a, av, "-I");
	build_arg(a, av, paths->include);
	build_arg(a, av, "-c");
	build_arg(a, av, "-o");
	build_arg(a, av, cu_obj);
	build_arg(a, av, cu_file);
}

/* Writes and compiles NAME.cu (--backend=cuda); returns an exit status. */
static int build_cuda(Arena *a, const TraGraph *g, const BuildOptions *opt, const BuildPaths *paths,
                      const char *cu_file, const char *cu_obj)
{
	FILE *f = fopen(cu_file, "w");
	if (!f) {
		fprintf(stderr, "trac: error: cannot write '%s': %s\n", cu_file, strerror(errno));
		return TRAC_EXIT_ERROR;
	}
	CgCOptions cg = {opt->name, opt->source, false, NULL, opt->ia, opt->mg, NULL, opt->plans};
	cg_cuda_emit(g, &cg, f);
	if (fclose(f) != 0) {
		fprintf(stderr, "trac: error: cannot write '%s': %s\n", cu_file, strerror(errno));
		return TRAC_EXIT_ERROR;
	}
	Argv av = {0};
	build_nvcc_command(a, &av, opt, paths, cu_file, cu_obj);
	BuildRun r = build_run(&av, opt);
	if (r == BUILD_RUN_OK)
		return TRAC_EXIT_OK;
	fprintf(stderr, r == BUILD_RUN_FAILED ? "trac: internal error: nvcc failed on the CUDA trac generated (this "
	        "is a bug in trac; rerun with --keep-temps to keep it); the command was:\n  " :
	        "trac: error: cannot run nvcc; the command was:\n  ");
	build_print_command(&av);
	return r == BUILD_RUN_FAILED ? TRAC_EXIT_INTERNAL : TRAC_EXIT_ERROR;
}

/* Compiles the generated C; returns an exit status, blaming the right party. */
static int build_compile(Arena *a, const BuildOptions *opt, const BuildPaths *paths, const char *c_file,
                         const char *obj)
{
	Argv av = {0};
	build_compile_command(a, &av, opt, paths, c_file, obj);
	BuildRun r = build_run(&av, opt);
	if (r == BUILD_RUN_OK)
		return TRAC_EXIT_OK;
	if (r == BUILD_RUN_FAILED && !build_user_flags(opt)) {
		fprintf(stderr, "trac: internal error: the C compiler failed on the code trac generated "
		        "(this is a bug in trac; rerun with --keep-temps to keep the C); the command was:\n  ");
		build_print_command(&av);
		return TRAC_EXIT_INTERNAL;
	}
	fprintf(stderr, "trac: error: the C compiler failed%s; the command was:\n  ",
	        r == BUILD_RUN_FAILED ? " (the flags given with -Xcc, --cflags or --march may be the cause)" : "");
	build_print_command(&av);
	return TRAC_EXIT_ERROR;
}

static int build_link(Arena *a, const BuildOptions *opt, const BuildPaths *paths, const char *obj,
                      const char *out)
{
	Argv av = {0};
	build_link_command(a, &av, opt, paths, obj, out);
	if (build_run(&av, opt) == BUILD_RUN_OK)
		return TRAC_EXIT_OK;
	fprintf(stderr, "trac: error: linking failed: the runtime in %s or OpenBLAS (%s)%s%s is missing or "
	        "does not fit this compiler; the command was:\n  ", paths->lib, TRAC_BLAS_LIBS,
	        build_links_mpi(opt) ? " or MPI " : build_links_cuda(opt) ? " or CUDA " : "",
	        build_links_mpi(opt) ? TRAC_MPI_LIBS : build_links_cuda(opt) ? TRAC_CUDA_LIBS : "");
	build_print_command(&av);
	return TRAC_EXIT_ERROR;
}

/* Writes library mode's header where the C file includes it from. */
static bool build_write_header(const TraGraph *g, const BuildOptions *opt, const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "trac: error: cannot write '%s': %s\n", path, strerror(errno));
		return false;
	}
	CgCOptions cg = {opt->name, opt->source, true, opt->header_name, opt->ia, opt->mg, NULL, opt->plans};
	cg_c_emit_header(g, &cg, f);
	if (fclose(f) != 0) {
		fprintf(stderr, "trac: error: cannot write '%s': %s\n", path, strerror(errno));
		return false;
	}
	return true;
}

/* Writes the generated C into dir. */
static bool build_write_sources(const TraGraph *g, const BuildOptions *opt, const char *c_file)
{
	FILE *f = fopen(c_file, "w");
	if (!f) {
		fprintf(stderr, "trac: error: cannot write '%s': %s\n", c_file, strerror(errno));
		return false;
	}
	CgCCuda cuda = {opt->tf32};
	CgCOptions cg = {opt->name, opt->source, opt->object || opt->shared, opt->header_name, opt->ia, opt->mg,
	                 opt->cuda ? &cuda : NULL, opt->plans};
	cg_c_emit(g, &cg, f);
	if (fclose(f) != 0) {
		fprintf(stderr, "trac: error: cannot write '%s': %s\n", c_file, strerror(errno));
		return false;
	}
	return true;
}

/* Copies src to a temporary next to dst and renames it into place (a
 * rename across file systems fails with EXDEV); keeps src's mode. */
static bool build_copy(const char *src, const char *dst)
{
	struct stat st;
	FILE *in = fopen(src, "rb");
	if (!in || fstat(fileno(in), &st) != 0) {
		if (in)
			fclose(in);
		return false;
	}
	size_t n = strlen(dst) + 16;
	char *tmp = xmalloc(n);
	snprintf(tmp, n, "%s.tmpXXXXXX", dst);
	int fd = mkstemp(tmp);
	FILE *out = fd >= 0 ? fdopen(fd, "wb") : NULL;
	bool ok = out != NULL;
	char buf[1 << 16];
	size_t got;
	while (ok && (got = fread(buf, 1, sizeof buf, in)) > 0)
		ok = fwrite(buf, 1, got, out) == got;
	ok = ok && !ferror(in);
	if (out && fclose(out) != 0)
		ok = false;
	else if (!out && fd >= 0)
		close(fd);
	fclose(in);
	ok = ok && chmod(tmp, st.st_mode & 0777) == 0 && rename(tmp, dst) == 0;
	if (!ok && fd >= 0)
		unlink(tmp);
	free(tmp);
	return ok;
}

/* Moves a finished file onto its destination. */
static bool build_move(const char *src, const char *dst)
{
	struct stat st;
	bool special = stat(dst, &st) == 0 && !S_ISREG(st.st_mode);
	if ((special || rename(src, dst) != 0) && !build_copy(src, dst)) {
		fprintf(stderr, "trac: error: cannot write '%s': %s\n", dst, strerror(errno));
		return false;
	}
	return true;
}

/* Removes the temporary directory unless asked to keep it. */
static void build_cleanup(const char *dir, bool keep)
{
	build_catch_signals(false);
	if (keep)
		fprintf(stderr, "trac: kept the intermediate files in %s\n", dir);
	else
		build_remove_temps();
	for (int i = 0; i < 8; i++)
		build_temps[i] = NULL;
}

/* The runtime must be there before trac blames itself for a failed link. */
static bool build_check_runtime(Arena *a, const BuildOptions *opt, BuildPaths *paths)
{
	if (!build_runtime_paths(a, opt->runtime_dir, paths))
		return false;
	const char *need[4] = {arena_printf(a, "%s/trart.h", paths->include),
	                       arena_printf(a, "%s/libtrart.a", paths->lib),
	                       arena_printf(a, "%s/libtrart_mpi.a", paths->lib),
	                       arena_printf(a, "%s/libtrart_cuda.a", paths->lib)};
	if (build_links_cuda(opt))
		need[2] = arena_printf(a, "%s/trart_cuda.h", paths->include);
	for (int i = 0; i < (opt->object ? 1 : build_links_mpi(opt) ? 3 : build_links_cuda(opt) ? 4 : 2); i++)
		if (access(need[i], R_OK) != 0) {
			fprintf(stderr, "trac: error: the runtime library is missing: cannot read '%s' "
			        "(is trac installed? run 'make install', or name it with --runtime-dir)\n", need[i]);
			return false;
		}
	return true;
}

/* --backend=llvm: the object (and with --keep-temps the IR at ll) from
 * cg_llvm_emit; returns an exit status. */
static int build_llvm_object(const TraGraph *g, const BuildOptions *opt, const char *obj, const char *ll)
{
#ifdef HAVE_LLVM
	FILE *ir = NULL;
	if (opt->keep_temps && !(ir = fopen(ll, "w"))) {
		fprintf(stderr, "trac: error: cannot write '%s': %s\n", ll, strerror(errno));
		return TRAC_EXIT_ERROR;
	}
	if (opt->verbose)
		fprintf(stderr, "trac: LLVM: %s at O3 for this machine's CPU%s%s\n", obj, ir ? ", IR in " : "",
		        ir ? ll : "");
	CgCOptions cg = {opt->name, opt->source, opt->object || opt->shared, opt->header_name, opt->ia, opt->mg, NULL,
	                 opt->plans};
	CgLlvmOutput out = {obj, NULL, ir, opt->verbose ? stderr : NULL, opt->sanitize_thread};
	int rc = build_llvm_emit(g, &cg, &out);
	if (ir && fclose(ir) != 0 && rc == TRAC_EXIT_OK) {
		fprintf(stderr, "trac: error: cannot write '%s': %s\n", ll, strerror(errno));
		return TRAC_EXIT_ERROR;
	}
	return rc;
#else
	(void)g;
	(void)obj;
	(void)ll;
	TRAC_BUG("--backend=llvm in %s, built without LLVM", opt->name);
#endif
}

/* Generates, compiles and (unless -c) links in dir; the result is at
 * tmp_out (and the header at tmp_header). Returns an exit status. */
static int build_steps(Arena *a, const TraGraph *g, const BuildOptions *opt, const BuildPaths *paths,
                       const char *c_file, const char *obj, const char *tmp_out, const char *tmp_header)
{
	if (opt->header_out && !build_write_header(g, opt, tmp_header))
		return TRAC_EXIT_ERROR;
	int rc;
	if (opt->llvm)
		rc = build_llvm_object(g, opt, opt->object ? tmp_out : obj, c_file);
	else if (!build_write_sources(g, opt, c_file))
		rc = TRAC_EXIT_ERROR;
	else
		rc = build_compile(a, opt, paths, c_file, opt->object ? tmp_out : obj);
	if (rc == TRAC_EXIT_OK && build_links_cuda(opt))
		rc = build_cuda(a, g, opt, paths, build_temps[4], build_temps[5]);
	if (rc == TRAC_EXIT_OK && !opt->object)
		rc = build_link(a, opt, paths, obj, tmp_out);
	return rc;
}

int build_program(const TraGraph *g, const BuildOptions *opt)
{
#ifndef TRAC_HAVE_CUDA
	if (opt->cuda)
		TRAC_BUG("--backend=cuda in %s, built without CUDA", opt->name); /* the options refuse it */
#endif
#ifndef TRAC_HAVE_MPI
	/* the driver refuses --ranks first; this is the last word */
	if (opt->ranks > 1) {
		fprintf(stderr, "trac: error: --ranks=%d: trac was built without MPI (install libopenmpi-dev "
		        "and configure --with-mpi)\n", opt->ranks);
		return TRAC_EXIT_ERROR;
	}
#endif
	Arena a = {0};
	BuildPaths paths;
	/* an LLVM object (-c) needs no C compiler */
	bool cc = !(opt->llvm && opt->object);
	if (!build_check_runtime(&a, opt, &paths) || (cc && !build_check_cc(&a, opt))) {
		arena_free(&a);
		return TRAC_EXIT_ERROR;
	}
	const char *tmpdir = getenv("TMPDIR");
	char *dir = arena_printf(&a, "%s/trac-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
	if (!mkdtemp(dir)) {
		fprintf(stderr, "trac: error: cannot create a temporary directory '%s': %s\n", dir, strerror(errno));
		arena_free(&a);
		return TRAC_EXIT_ERROR;
	}
	/* the C, or with --backend=llvm the IR that --keep-temps keeps */
	char *c_file = arena_printf(&a, "%s/%s.%s", dir, opt->name, opt->llvm ? "ll" : "c");
	char *obj = arena_printf(&a, "%s/%s.o", dir, opt->name);
	char *tmp_out = arena_printf(&a, "%s/%s.out", dir, opt->name);
	char *tmp_header = arena_printf(&a, "%s/%s", dir, opt->header_out ? opt->header_name : "none.h");
	/* --backend=cuda: NAME.cu and its object */
	const char *cu = opt->cuda ? arena_printf(&a, "%s/%s.cu", dir, opt->name) : NULL;
	const char *cu_obj = opt->cuda ? build_cu_obj(&a, obj) : NULL;
	const char *temps[8] = {c_file, obj, tmp_out, tmp_header, cu, cu_obj, NULL, dir};
	for (int i = 0; i < 8; i++)
		build_temps[i] = temps[i];
	build_catch_signals(true);
	int rc = build_steps(&a, g, opt, &paths, c_file, obj, tmp_out, tmp_header);
	if (rc == TRAC_EXIT_OK && opt->header_out && !build_move(tmp_header, opt->header_out))
		rc = TRAC_EXIT_ERROR;
	if (rc == TRAC_EXIT_OK && !build_move(tmp_out, opt->out)) {
		rc = TRAC_EXIT_ERROR;
		if (opt->header_out)
			unlink(opt->header_out);
	}
	build_cleanup(dir, opt->keep_temps);
	arena_free(&a);
	return rc;
}
