/* test_learn_trace.c: Check tests for reading measured task times back
 * from a program's --trace (compiler/learn_trace.c).
 *
 * The traces are written by hand, line for line in the text that
 * runtime/trace.c writes (task_event below is its task event, with the
 * "task" index), for the task graph of a small program, into files of a
 * temporary directory. A good trace sets each task's median over three
 * runs, in seconds, and leaves a task it lacks at 0; memory tasks,
 * kernels, counters and metadata are skipped. A trace of another graph
 * (a name that differs, an index past the graph), one without indices,
 * a missing file and malformed numbers are refused with the path in the
 * message and the graph untouched. Random bytes and every prefix of a
 * good trace are read without crashing.
 */
#define _POSIX_C_SOURCE 200809L

#include "unit.h"

#include <dirent.h>
#include <errno.h>
#include <unistd.h>

static char test_dir[] = "/tmp/trac-learn-trace-XXXXXX";

static void setup(void)
{
	strcpy(test_dir + strlen(test_dir) - 6, "XXXXXX");
	ck_assert_msg(mkdtemp(test_dir) != NULL, "mkdtemp: %s", strerror(errno));
}

/* Removes the directory and the files the test wrote into it. */
static void teardown(void)
{
	DIR *d = opendir(test_dir);
	ck_assert_ptr_nonnull(d);
	for (struct dirent *e; (e = readdir(d));) {
		char path[sizeof test_dir + 256];
		snprintf(path, sizeof path, "%s/%s", test_dir, e->d_name);
		if (e->d_name[0] != '.')
			ck_assert_int_eq(unlink(path), 0);
	}
	closedir(d);
	ck_assert_int_eq(rmdir(test_dir), 0);
}

/* A file of the temporary directory, in a static buffer. */
static const char *temp_path(const char *name)
{
	static char path[sizeof test_dir + 64];
	snprintf(path, sizeof path, "%s/%s", test_dir, name);
	return path;
}

/* Writes len bytes of text to the file name; returns its path. */
static const char *write_file(const char *name, const char *text, size_t len)
{
	const char *path = temp_path(name);
	FILE *f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fwrite(text, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
	return path;
}

/* The program: two nodes cut into blocks for two devices. */
static const char prog_src[] =
	"size N = 64, D = 16\ninput X[N, D]\ninput W[D, D]\n"
	"H[i, j] = relu(sum[k](X[i, k] * W[k, j]))\n"
	"Y[i, j] = H[i, j] * 2 + 1\noutput Y\n";

/* prog_src's task graph for two devices, in the run's arena. */
static UnitRun *lowered(IaGraph *ia)
{
	UnitRun *u = unit_compile_ok(prog_src);
	int **fixed = arena_alloc(&u->arena, (size_t)u->g.nnodes * sizeof *fixed);
	DecompOptions o = {.devices = 2, .fixed = fixed};
	decomp_run(&u->g, &o);
	ia_lower(&u->g, &u->arena, ia);
	ck_assert_int_ge(ia->ntasks, 3);
	return u;
}

static const char *task_name(const IaGraph *ia, int t)
{
	return ia->g->nodes[ia->tasks[t].node].name;
}

/* ---- the text runtime/trace.c writes ---- */

static void trace_head(FILE *f)
{
	fputs("{\"traceEvents\": [\n{\"name\": \"process_name\", \"ph\": \"M\", \"pid\": 1, \"tid\": 1, "
	      "\"args\": {\"name\": \"prog\"}},\n"
	      "{\"name\": \"thread_name\", \"ph\": \"M\", \"pid\": 1, \"tid\": 1, \"args\": {\"name\": "
	      "\"worker 0\"}},\n"
	      "{\"name\": \"thread_name\", \"ph\": \"M\", \"pid\": 1, \"tid\": 2, \"args\": {\"name\": "
	      "\"worker 1\"}}", f);
}

static void trace_tail(FILE *f)
{
	fputs("\n],\n\"displayTimeUnit\": \"ms\",\n\"otherData\": {\"program\": \"prog\", \"trac\": \"0.1\", "
	      "\"dropped_events\": 0}\n}\n", f);
}

/* A task event (index >= 0; < 0: one of an older trac, without "task")
 * and the memory counter after it, dur as trace.c prints it. */
static void task_event(FILE *f, const char *name, int index, const char *dur)
{
	fprintf(f, ",\n{\"name\": \"%s\", \"cat\": \"task\", \"ph\": \"X\", \"ts\": 10.250, \"dur\": %s, "
	        "\"pid\": 1, \"tid\": 2, \"args\": {", name, dur);
	if (index >= 0)
		fprintf(f, "\"task\": %d, ", index);
	fputs("\"flops\": 8192, \"bytes\": 4096, \"block\": \"[0:32, 0:16]\"}}", f);
	fputs(",\n{\"name\": \"memory\", \"ph\": \"C\", \"ts\": 12.500, \"pid\": 1, \"args\": {\"MiB\": 0.25}}", f);
}

/* A kernel event, which the reader skips. */
static void kernel_event(FILE *f)
{
	fputs(",\n{\"name\": \"H\", \"cat\": \"kernel\", \"ph\": \"X\", \"ts\": 1.000, \"dur\": 5.000, "
	      "\"pid\": 1, \"tid\": 1, \"args\": {\"flops\": 1, \"bytes\": null}}", f);
}

/* Microseconds as trace.c prints them: "1234.567". */
static const char *micros(char *buf, double us)
{
	snprintf(buf, 32, "%.3f", us);
	return buf;
}

/* A trace of three runs of every task of ia but the last: task t takes
 * (t + 1) * 3, then 1, then 2 microseconds (median 2 (t + 1)); and an
 * offload past the graph's tasks, as a memory budget adds. */
static char *good_trace(const IaGraph *ia, size_t *len)
{
	char *text, buf[32];
	FILE *f = open_memstream(&text, len);
	trace_head(f);
	kernel_event(f);
	for (int run = 0; run < 3; run++) {
		static const double scale[] = {3, 1, 2};
		for (int t = 0; t < ia->ntasks - 1; t++)
			task_event(f, task_name(ia, t), t, micros(buf, (t + 1) * scale[run]));
		task_event(f, "offload H", ia->ntasks, "7.000");
	}
	trace_tail(f);
	fclose(f);
	return text;
}

/* splitmix64: the next number of the stream s. */
static uint64_t next_random(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15u);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* ---- reading ---- */

START_TEST(medians)
{
	IaGraph ia;
	UnitRun *u = lowered(&ia);
	size_t len;
	char *text = good_trace(&ia, &len), err[512];
	const char *path = write_file("good.json", text, len);
	ia.tasks[ia.ntasks - 1].measured = 5; /* not in the trace: back to the model */
	ck_assert_msg(learn_read_trace(&ia, path, err, sizeof err), "%s", err);
	for (int t = 0; t < ia.ntasks - 1; t++)
		ck_assert_double_eq_tol(ia.tasks[t].measured, 2e-6 * (t + 1), 1e-15);
	ck_assert_double_eq(ia.tasks[ia.ntasks - 1].measured, 0);
	SimModel m;
	sim_model_default(&m);
	ck_assert_double_eq_tol(sim_task_time(&ia.tasks[0], &m), 2e-6, 1e-15);
	free(text);
	unit_free(u);
}
END_TEST

START_TEST(even_runs)
{
	/* two runs: the mean of the two */
	IaGraph ia;
	UnitRun *u = lowered(&ia);
	char *text, err[512];
	size_t len;
	FILE *f = open_memstream(&text, &len);
	trace_head(f);
	task_event(f, task_name(&ia, 1), 1, "4.000");
	task_event(f, task_name(&ia, 1), 1, "1.000");
	trace_tail(f);
	fclose(f);
	ck_assert_msg(learn_read_trace(&ia, write_file("even.json", text, len), err, sizeof err), "%s", err);
	ck_assert_double_eq_tol(ia.tasks[1].measured, 2.5e-6, 1e-15);
	ck_assert_double_eq(ia.tasks[0].measured, 0);
	free(text);
	unit_free(u);
}
END_TEST

/* Asserts that reading the trace of one task event refuses it, with the
 * path and phrase in the message, and leaves the graph as it was. */
static void refused(const char *name, int index, const char *dur, const char *phrase)
{
	IaGraph ia;
	UnitRun *u = lowered(&ia);
	char *text, err[512];
	size_t len;
	FILE *f = open_memstream(&text, &len);
	trace_head(f);
	task_event(f, task_name(&ia, 0), 0, "1.000"); /* a good one first */
	task_event(f, name ? name : task_name(&ia, 0), index, dur);
	trace_tail(f);
	fclose(f);
	const char *path = write_file("bad.json", text, len);
	ia.tasks[0].measured = 3;
	ck_assert(!learn_read_trace(&ia, path, err, sizeof err));
	ck_assert_msg(strncmp(err, path, strlen(path)) == 0 && strncmp(err + strlen(path), ": ", 2) == 0,
	              "no path in: %s", err);
	ck_assert_msg(strstr(err, phrase), "no \"%s\" in: %s", phrase, err);
	ck_assert_double_eq(ia.tasks[0].measured, 3);
	free(text);
	unit_free(u);
}

START_TEST(other_graph)
{
	refused("Elsewhere", 1, "1.000", "another program, partition or --devices");
	refused(NULL, 1 << 20, "1.000", "another program, partition or --devices");
	refused("offload H", 0, "1.000", "another program"); /* a memory task where a block is */
}
END_TEST

START_TEST(bad_numbers)
{
	refused(NULL, 0, "NaN", "\"dur\"");
	refused(NULL, 0, "1e999", "\"dur\"");
	refused(NULL, 0, "-2.000", "\"dur\"");
	refused(NULL, 0, "1.2.3", "\"dur\"");
	refused(NULL, 0, "123456789012345678901234567890123456789012345678901234567890123456789", "\"dur\"");
	refused(NULL, 0, "", "malformed");
	static const char *indices[] = {"-1", "1.5", "99999999999999999999", "2147483648", "0x10", "null"};
	for (size_t i = 0; i < sizeof indices / sizeof *indices; i++) {
		IaGraph ia;
		UnitRun *u = lowered(&ia);
		char line[512], err[512];
		int n = snprintf(line, sizeof line, "{\"name\": \"%s\", \"cat\": \"task\", \"ph\": \"X\", \"ts\": 1.000, "
		                 "\"dur\": 1.000, \"pid\": 1, \"tid\": 2, \"args\": {\"task\": %s, \"flops\": 1}}\n",
		                 task_name(&ia, 0), indices[i]);
		ck_assert_msg(!learn_read_trace(&ia, write_file("index.json", line, (size_t)n), err, sizeof err),
		              "accepted \"task\": %s", indices[i]);
		ck_assert_msg(strstr(err, "\"task\"") || strstr(err, "malformed"), "%s", err);
		unit_free(u);
	}
}
END_TEST

START_TEST(no_indices)
{
	/* a trace from an older trac: task events without "task" */
	IaGraph ia;
	UnitRun *u = lowered(&ia);
	char *text, err[512];
	size_t len;
	FILE *f = open_memstream(&text, &len);
	trace_head(f);
	kernel_event(f);
	task_event(f, task_name(&ia, 0), -1, "1.000");
	trace_tail(f);
	fclose(f);
	const char *path = write_file("old.json", text, len);
	ck_assert(!learn_read_trace(&ia, path, err, sizeof err));
	ck_assert_msg(strstr(err, path) && strstr(err, "--trace") && strstr(err, "compiled by this trac"), "%s", err);
	ck_assert(!learn_read_trace(&ia, write_file("empty.json", "", 0), err, sizeof err));
	ck_assert_msg(strstr(err, "--trace"), "%s", err);
	free(text);
	unit_free(u);
}
END_TEST

START_TEST(missing_file)
{
	IaGraph ia;
	UnitRun *u = lowered(&ia);
	char err[512];
	const char *path = temp_path("nothing-here.json");
	ck_assert(!learn_read_trace(&ia, path, err, sizeof err));
	ck_assert_msg(strstr(err, path) && strstr(err, "cannot open"), "%s", err);
	ck_assert(!learn_read_trace(&ia, test_dir, err, sizeof err)); /* a directory: cannot be read */
	ck_assert_msg(strstr(err, test_dir), "%s", err);
	unit_free(u);
}
END_TEST

START_TEST(garbage)
{
	/* random bytes, and every prefix of a good trace: any answer but a crash */
	IaGraph ia;
	UnitRun *u = lowered(&ia);
	char err[512], *bytes = malloc(4096);
	uint64_t s = 12345;
	for (int i = 0; i < 200; i++) {
		size_t n = next_random(&s) % 4096;
		for (size_t j = 0; j < n; j++) {
			/* mostly the bytes a trace is made of, so lines get far */
			static const char alphabet[] = "{}[]\":, \n\\u0123456789.eE-+task\"dur\"name\"cat\"args";
			uint64_t r = next_random(&s);
			bytes[j] = r % 4 ? alphabet[r / 4 % (sizeof alphabet - 1)] : (char)(r >> 8);
		}
		learn_read_trace(&ia, write_file("random.json", bytes, n), err, sizeof err);
	}
	size_t len;
	char *text = good_trace(&ia, &len);
	int accepted = 0;
	for (size_t n = 0; n <= len; n++)
		accepted += learn_read_trace(&ia, write_file("prefix.json", text, n), err, sizeof err);
	ck_assert_int_gt(accepted, 0);
	ck_assert(learn_read_trace(&ia, write_file("whole.json", text, len), err, sizeof err));
	free(text);
	free(bytes);
	unit_free(u);
}
END_TEST

static Suite *learn_trace_suite(void)
{
	Suite *s = suite_create("learn_trace");
	TCase *tc = tcase_create("read");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, medians);
	tcase_add_test(tc, even_runs);
	tcase_add_test(tc, other_graph);
	tcase_add_test(tc, bad_numbers);
	tcase_add_test(tc, no_indices);
	tcase_add_test(tc, missing_file);
	tcase_add_test(tc, garbage);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(learn_trace_suite)
