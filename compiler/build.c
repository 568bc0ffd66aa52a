/* build.c: from the TRA graph to a native executable or an object file.
 * needs: a verified, optimised TraGraph. gives: the file(s) at opt->out.
 *
 * The C back end writes NAME.c into a fresh temporary directory; the C
 * compiler configure found (or CC, or --cc) compiles it there with the
 * runtime's header and links libtrart and OpenBLAS; the result is then
 * renamed onto the output path, so a failure never leaves a partial file.
 * A failing compile is trac's fault, not the user's: it is reported as an
 * internal error showing the command, and the temporary directory is kept
 * for inspection.
 *
 * The runtime is found next to the trac binary when it runs from its
 * build tree (tests, `make demo`), else where `make install` put it.
 */
#include "tra.h"

#include <errno.h>
#include <limits.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Where the runtime's header and library are. */
typedef struct BuildPaths {
	const char *include;
	const char *lib;
} BuildPaths;

static BuildPaths build_runtime_paths(void)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n > 0) {
		self[n] = '\0';
		char *slash = strrchr(self, '/');
		if (slash)
			*slash = '\0';
		if (strcmp(self, TRAC_BUILD_BINDIR) == 0)
			return (BuildPaths){TRAC_BUILD_INCLUDEDIR, TRAC_BUILD_LIBDIR};
	}
	return (BuildPaths){TRAC_INCLUDEDIR, TRAC_LIBDIR};
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

/* Runs the command; returns true on exit status 0. */
static bool build_run(const Argv *av, const BuildOptions *opt)
{
	if (opt->verbose)
		build_print_command(av);
	pid_t pid;
	int err = posix_spawnp(&pid, av->v[0], NULL, NULL, av->v, environ);
	if (err != 0) {
		fprintf(stderr, "trac: internal error: cannot run the C compiler '%s': %s\n",
		        av->v[0], strerror(err));
		return false;
	}
	int status;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return true;
	fprintf(stderr, "trac: internal error: the C compiler failed on the code trac generated "
	        "(this is a bug in trac); the command was:\n  ");
	build_print_command(av);
	return false;
}

static void build_compile_command(Arena *a, Argv *av, const BuildOptions *opt, const char *c_file,
                                  const char *out_file, bool object)
{
	BuildPaths paths = build_runtime_paths();
	const char *cc = opt->cc ? opt->cc : getenv("CC");
	build_words(a, av, cc && *cc ? cc : TRAC_CC);
	build_arg(a, av, "-std=c11");
	build_arg(a, av, arena_printf(a, "-O%d", opt->opt_level));
	if (!opt->portable)
		build_arg(a, av, "-march=native");
	/* reductions may be reassociated (tra(5)): lets loops vectorise */
	build_words(a, av, "-fno-math-errno -fno-trapping-math -fno-signed-zeros -fassociative-math "
	            "-fopenmp-simd");
	build_words(a, av, TRAC_SAN_FLAGS);
	build_arg(a, av, arena_printf(a, "-I%s", paths.include));
	build_arg(a, av, object ? "-c" : "-pthread");
	build_arg(a, av, c_file);
	build_arg(a, av, "-o");
	build_arg(a, av, out_file);
	if (!object) {
		build_arg(a, av, arena_printf(a, "%s/libtrart.a", paths.lib));
		build_words(a, av, TRAC_BLAS_LIBS);
		build_arg(a, av, "-lm");
	}
}

/* Writes library mode's header where the C file includes it from. */
static bool build_write_header(const TraGraph *g, const BuildOptions *opt, const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "trac: error: cannot write '%s': %s\n", path, strerror(errno));
		return false;
	}
	CgCOptions cg = {opt->name, opt->source, true, opt->header_name, opt->ia};
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
	CgCOptions cg = {opt->name, opt->source, opt->object, opt->header_name, opt->ia};
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
static void build_cleanup(const char *dir, const char *c_file, const char *tmp_out,
                          const char *tmp_header, bool keep)
{
	if (keep) {
		fprintf(stderr, "trac: kept the intermediate files in %s\n", dir);
		return;
	}
	unlink(c_file);
	unlink(tmp_out);
	unlink(tmp_header);
	rmdir(dir);
}

/* The runtime must be there before trac blames itself for a failed link. */
static bool build_check_runtime(Arena *a, bool object)
{
	BuildPaths paths = build_runtime_paths();
	const char *need[2] = {arena_printf(a, "%s/trart.h", paths.include),
	                       arena_printf(a, "%s/libtrart.a", paths.lib)};
	for (int i = 0; i < (object ? 1 : 2); i++)
		if (access(need[i], R_OK) != 0) {
			fprintf(stderr, "trac: error: the runtime library is missing: cannot read '%s' "
			        "(is trac installed? run 'make install')\n", need[i]);
			return false;
		}
	return true;
}

int build_program(const TraGraph *g, const BuildOptions *opt)
{
	Arena a = {0};
	if (!build_check_runtime(&a, opt->object)) {
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
	char *c_file = arena_printf(&a, "%s/%s.c", dir, opt->name);
	char *tmp_out = arena_printf(&a, "%s/%s.out", dir, opt->name);
	char *tmp_header = arena_printf(&a, "%s/%s", dir, opt->object ? opt->header_name : "none.h");
	Argv av = {0};
	bool ok = build_write_sources(g, opt, c_file) &&
	          (!opt->object || build_write_header(g, opt, tmp_header));
	build_compile_command(&a, &av, opt, c_file, tmp_out, opt->object);
	bool compiled = ok && build_run(&av, opt);
	int rc = !ok ? TRAC_EXIT_ERROR : !compiled ? TRAC_EXIT_INTERNAL : TRAC_EXIT_OK;
	if (compiled && opt->object && !build_move(tmp_header, opt->header_out))
		rc = TRAC_EXIT_ERROR;
	if (rc == TRAC_EXIT_OK && !build_move(tmp_out, opt->out)) {
		rc = TRAC_EXIT_ERROR;
		if (opt->object)
			unlink(opt->header_out);
	}
	build_cleanup(dir, c_file, tmp_out, tmp_header, opt->keep_temps || (ok && !compiled));
	arena_free(&a);
	return rc;
}
