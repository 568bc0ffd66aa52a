/* trace.c: what --trace and --stats report about a run.
 *
 * While a recorder is attached (exec.h), the executor times every kernel
 * run with the monotonic clock and hands the interval here. Two views are
 * kept. Per kernel, a call count and a total time, always: they are what
 * --stats prints, and they cost two additions however long the run. The
 * individual runs, for --trace, only when asked and into an array sized
 * up front from the kernel count and --repeat, so the timed loop never
 * allocates (an allocation there would show in the very numbers being
 * measured) and a run too long to record fails before it starts, not
 * after.
 *
 * --trace writes the Chrome trace-event format, which chrome://tracing,
 * Perfetto and speedscope all read: a JSON object whose "traceEvents"
 * holds one complete event ("ph": "X") per kernel run, with ts and dur in
 * microseconds from the start of the recording, all on pid 1, tid 1 (the
 * kernels run one after another; their inner parallelism is not traced),
 * and the kernel's flop and byte counts as args. A metadata event names
 * the process after the program. Tasks of a block task graph (sched.c)
 * run side by side, one per worker: each task is an event ("cat":
 * "task") on the track of the worker that ran it, tid worker + 1, with
 * its index in the task table ("task": 7, first of its args), its
 * block's ranges ("block": "[0:512, 0:256]") besides its flops and
 * bytes, and metadata events name those tracks, so a viewer shows one
 * row per worker, the calling thread (worker 0) on the kernels' row;
 * the offloads and reloads of a planned graph's spill file have a track
 * of their own ("spill I/O", tid TRART_IO_TRACK), the I/O thread's,
 * which also runs the reads and writes of blocks out of core.
 * The index is the compiler's task id (memory tasks follow the block
 * tasks), so a trace tells trac how long each task of the graph it
 * compiled took (learn_read_trace reads it back to train the placer on
 * measured times); names alone would not, since a node has many blocks.
 * After each task a counter event ("ph": "C", "memory") gives the
 * mebibytes the runtime held once the task and the pool buffers its end
 * freed were done, which a viewer draws as a memory graph over time.
 * Each event is on a line of its own, so the file also reads well in a
 * pager and with grep. Like every file the runtime writes, it appears
 * whole or not at all.
 *
 * --stats prints one row per kernel name (kernels that share a name, if
 * a back end ever splits one node into several, are added together), in
 * program order, then the totals. Rates are flops (bytes) over the
 * kernels' own time, so they say how well each kernel runs, not how much
 * of the wall clock the I/O took. After a task graph it adds one row per
 * worker: tasks run, how many were stolen, busy time, and the busy share
 * of the time spent in trart_run_tasks, which shows idle workers and an
 * unbalanced placement at a glance, then GFLOP/s while busy, the bytes
 * of blocks its tasks read that another worker made (sched.c counts them
 * after the run, as the simulator counts bytes moved), and the peak of
 * the pool buffers its tasks allocated (pool.c). A graph whose memory
 * the compiler planned (an arena, spill.c) adds one line: the arena's
 * size, the bytes and blocks its memory tasks offloaded to the spill
 * file and reloaded, and the time tasks spent ready but for a reload
 * (sched.c); and, when it reads or writes inputs and outputs out of
 * core, the bytes and blocks read from their files and written to them.
 */
#define _POSIX_C_SOURCE 200809L

#include "exec.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t
trart_clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- recording ---- */

int
trart_profile_init(TrartProfile *prof, const TrartProgram *p,
                   size_t max_events)
{
	size_t n = p->nkernels > 0 ? (size_t)p->nkernels : 1;

	memset(prof, 0, sizeof *prof);
	prof->p = p;
	prof->calls = calloc(n, sizeof *prof->calls);
	prof->total_ns = calloc(n, sizeof *prof->total_ns);
	if (!prof->calls || !prof->total_ns)
		return -1;
	if (max_events > 0) {
		if (max_events > SIZE_MAX / sizeof *prof->events)
			return -1;
		prof->events = malloc(max_events * sizeof *prof->events);
		if (!prof->events)
			return -1;
		prof->cap = max_events;
	}
	prof->origin_ns = trart_clock_ns();
	return 0;
}

void
trart_profile_free(TrartProfile *prof)
{
	free(prof->calls);
	free(prof->total_ns);
	free(prof->events);
	free(prof->workers);
	memset(prof, 0, sizeof *prof);
}

/* Keeps e for the trace if there is room (start_ns still absolute). */
static void
trace_record(TrartProfile *prof, TrartEvent e)
{
	e.start_ns -= prof->origin_ns;
	if (prof->nevents < prof->cap)
		prof->events[prof->nevents++] = e;
	else if (prof->cap > 0)
		prof->dropped++;
}

void
trart_profile_add(TrartProfile *prof, int k, int64_t start_ns, int64_t end_ns)
{
	int64_t dur = end_ns - start_ns;

	prof->calls[k]++;
	prof->total_ns[k] += dur;
	trace_record(prof, (TrartEvent){.kernel = k, .tid = 1, .index = -1,
	                                .start_ns = start_ns, .dur_ns = dur});
}

int
trart_profile_workers(TrartProfile *prof, int n)
{
	TrartWorkerStats *w;

	if (n <= prof->nworkers)
		return 0;
	w = realloc(prof->workers, (size_t)n * sizeof *w);
	if (!w)
		return -1;
	memset(w + prof->nworkers, 0, (size_t)(n - prof->nworkers) * sizeof *w);
	prof->workers = w;
	prof->nworkers = n;
	return 0;
}

void
trart_profile_task(TrartProfile *prof, const TrartTask *tasks, int i, int w,
                   int64_t start_ns, int64_t end_ns, double mem)
{
	const TrartTask *t = &tasks[i];

	if (w >= 0) {
		TrartWorkerStats *ws = &prof->workers[w];
		ws->tasks++;
		ws->busy_ns += end_ns - start_ns;
		ws->flops += t->flops;
	} else {
		prof->io_ran = true;
	}
	trace_record(prof, (TrartEvent){.kernel = -1,
	                                .tid = w >= 0 ? w + 1 : TRART_IO_TRACK, .task = t,
	                                .index = i, .start_ns = start_ns,
	                                .dur_ns = end_ns - start_ns, .mem = mem});
}

/* ---- the trace file ---- */

/* s as a JSON string: quotes, backslashes and control bytes escaped;
 * other bytes (UTF-8) as they are. */
static void
trace_string(FILE *f, const char *s)
{
	putc('"', f);
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			putc(c, f);
	}
	putc('"', f);
}

/* A JSON number; JSON has no infinities, so those become null. */
static void
trace_number(FILE *f, double v)
{
	if (isfinite(v))
		fprintf(f, "%.15g", v);
	else
		fputs("null", f);
}

/* Nanoseconds as microseconds, exactly: "1234.567". */
static void
trace_micros(FILE *f, int64_t ns)
{
	if (ns < 0) {
		putc('-', f);
		ns = -ns;
	}
	fprintf(f, "%" PRId64 ".%03d", ns / 1000, (int)(ns % 1000));
}

/* A task's block key as an argument: "block": "[lo:hi, ...]", the
 * ranges of its node's join space (or of the block it moves). */
static void
trace_block(FILE *f, const TrartTask *t)
{
	int d;

	if (!t->lo || !t->hi || t->ndim <= 0)
		return;
	fputs(", \"block\": \"[", f);
	for (d = 0; d < t->ndim; d++)
		fprintf(f, "%s%" PRId64 ":%" PRId64, d ? ", " : "", t->lo[d], t->hi[d]);
	fputs("]\"", f);
}

/* One complete event, on its own line. */
static void
trace_event(FILE *f, const TrartProgram *p, const TrartEvent *e)
{
	static const char *const mem_kinds[] = {"alloc", "free", "offload", "reload",
	                                        "read", "drop", "claim", "write"};
	const TrartKernel *k = e->task ? NULL : &p->kernels[e->kernel];
	char label[256];

	fputs(",\n{\"name\": ", f);
	if (!k && e->task->mem && e->task->mem->kind >= TRART_MEM_ALLOC &&
	    e->task->mem->kind <= TRART_MEM_WRITE) {
		/* a memory task is named by its tensor: "offload H" */
		snprintf(label, sizeof label, "%s %s", mem_kinds[e->task->mem->kind],
		         e->task->name ? e->task->name : "?");
		trace_string(f, label);
	} else {
		trace_string(f, k ? k->name : e->task->name);
	}
	fprintf(f, ", \"cat\": \"%s\", \"ph\": \"X\", \"ts\": ",
	        k ? "kernel" : "task");
	trace_micros(f, e->start_ns);
	fputs(", \"dur\": ", f);
	trace_micros(f, e->dur_ns);
	fprintf(f, ", \"pid\": 1, \"tid\": %d, \"args\": {", e->tid);
	if (!k)
		fprintf(f, "\"task\": %d, ", e->index);
	fputs("\"flops\": ", f);
	trace_number(f, k ? k->flops : e->task->flops);
	fputs(", \"bytes\": ", f);
	trace_number(f, k ? k->bytes : e->task->bytes);
	if (k) {
		fputs("}}", f);
		return;
	}
	trace_block(f, e->task);
	fputs("}}", f);
	/* the memory counter track, as this task left it */
	fputs(",\n{\"name\": \"memory\", \"ph\": \"C\", \"ts\": ", f);
	trace_micros(f, e->start_ns + e->dur_ns);
	fputs(", \"pid\": 1, \"args\": {\"MiB\": ", f);
	trace_number(f, e->mem / 1048576.0);
	fputs("}}", f);
}

/* Names the workers' tracks, when task graphs ran. */
static void
trace_tracks(FILE *f, const TrartProfile *prof)
{
	int w;

	for (w = 0; w < prof->nworkers; w++)
		fprintf(f, ",\n{\"name\": \"thread_name\", \"ph\": \"M\", "
		        "\"pid\": 1, \"tid\": %d, \"args\": {\"name\": "
		        "\"worker %d\"}}", w + 1, w);
	if (prof->io_ran)
		fprintf(f, ",\n{\"name\": \"thread_name\", \"ph\": \"M\", "
		        "\"pid\": 1, \"tid\": %d, \"args\": {\"name\": "
		        "\"spill I/O\"}}", TRART_IO_TRACK);
}

/* The whole trace document. */
static void
trace_document(FILE *f, const TrartProfile *prof)
{
	const TrartProgram *p = prof->p;
	size_t i;

	fputs("{\"traceEvents\": [\n{\"name\": \"process_name\", \"ph\": \"M\", "
	      "\"pid\": 1, \"tid\": 1, \"args\": {\"name\": ", f);
	trace_string(f, p->name);
	fputs("}}", f);
	trace_tracks(f, prof);
	for (i = 0; i < prof->nevents; i++)
		trace_event(f, p, &prof->events[i]);
	fputs("\n],\n\"displayTimeUnit\": \"ms\",\n\"otherData\": {\"program\": ", f);
	trace_string(f, p->name);
	fputs(", \"trac\": ", f);
	trace_string(f, p->version);
	fprintf(f, ", \"dropped_events\": %zu}\n}\n", prof->dropped);
}

/* Writes the trace of prof (ctx) to f: trart_files_add's writer. */
static int
trace_fill(FILE *f, const void *ctx)
{
	trace_document(f, ctx);
	return ferror(f) ? -1 : 0;
}

int
trart_files_trace(TrartFiles *fs, const TrartProfile *prof, const char *path,
                  char *err, size_t errlen)
{
	return trart_files_add(fs, path, "trace", trace_fill, prof, err, errlen);
}

int
trart_trace_write(const TrartProfile *prof, const char *path, char *err,
                  size_t errlen)
{
	TrartFiles *fs = trart_files_new();
	int rc = -1;

	if (!fs)
		snprintf(err, err ? errlen : 0, "trace: %s: out of memory", path);
	else
		rc = trart_files_trace(fs, prof, path, err, errlen);
	if (rc == 0)
		rc = trart_files_commit(fs, err, errlen);
	trart_files_free(fs);
	return rc;
}

/* ---- the --stats table ---- */

/* A row's sums. */
typedef struct StatsRow {
	int64_t calls;    /* kernel runs */
	int64_t ns;       /* their time */
	double flops;     /* their floating-point operations */
	double bytes;     /* their bytes moved */
} StatsRow;

/* Adds kernel k's runs to row. */
static void
stats_add(StatsRow *row, const TrartProfile *prof, int k)
{
	const TrartKernel *kern = &prof->p->kernels[k];

	row->calls += prof->calls[k];
	row->ns += prof->total_ns[k];
	row->flops += kern->flops * (double)prof->calls[k];
	row->bytes += kern->bytes * (double)prof->calls[k];
}

/* A rate per nanosecond is a rate in G per second; "-" without time. */
static void
stats_rate(FILE *f, double amount, int64_t ns)
{
	if (ns > 0)
		fprintf(f, " %10.3f", amount / (double)ns);
	else
		fprintf(f, " %10s", "-");
}

static void
stats_row(FILE *f, int width, const char *name, const StatsRow *row)
{
	fprintf(f, "%-*s %10" PRId64 " %12.3f", width, name, row->calls,
	        (double)row->ns / 1e6);
	stats_rate(f, row->flops, row->ns);
	stats_rate(f, row->bytes, row->ns);
	putc('\n', f);
}

/* Whether an earlier kernel than k has k's name (its row is printed). */
static int
stats_seen(const TrartProgram *p, int k)
{
	int j;

	for (j = 0; j < k; j++)
		if (strcmp(p->kernels[j].name, p->kernels[k].name) == 0)
			return 1;
	return 0;
}

/* The width of the name column. */
static int
stats_width(const TrartProgram *p)
{
	int k, w = 6; /* "kernel" */

	for (k = 0; k < p->nkernels; k++)
		if ((int)strlen(p->kernels[k].name) > w)
			w = (int)strlen(p->kernels[k].name);
	return w;
}

/* The per-worker rows, after a task graph ran. */
static void
stats_workers(const TrartProfile *prof, FILE *f)
{
	int w;

	fprintf(f, "%-6s %10s %10s %12s %7s %10s %12s %12s\n", "worker", "tasks",
	        "steals", "busy ms", "busy %", "GFLOP/s", "copied MB", "peak MiB");
	for (w = 0; w < prof->nworkers; w++) {
		const TrartWorkerStats *ws = &prof->workers[w];
		fprintf(f, "%-6d %10" PRId64 " %10" PRId64 " %12.3f", w, ws->tasks,
		        ws->steals, (double)ws->busy_ns / 1e6);
		if (prof->graph_ns > 0)
			fprintf(f, " %7.1f", 100.0 * (double)ws->busy_ns /
			                     (double)prof->graph_ns);
		else
			fprintf(f, " %7s", "-");
		stats_rate(f, ws->flops, ws->busy_ns);
		fprintf(f, " %12.3f %12.3f\n", ws->copied / 1e6,
		        trart_mem_worker_peak(w) / 1048576.0);
	}
}

/* "5 blocks", "1 block". */
static const char *
stats_blocks(char *buf, size_t size, int64_t n)
{
	snprintf(buf, size, "%" PRId64 " block%s", n, n == 1 ? "" : "s");
	return buf;
}

/* The end of the line below for a graph that reads or writes out of
 * core: what its READ and WRITE tasks moved, when they moved anything
 * (only a file the runtime mapped is read or written; spill.c). */
static void
stats_files(FILE *f, const TrartSpillStats *st)
{
	char size[32], blocks[32];

	if (st->reads > 0)
		fprintf(f, ", read %s = %" PRId64 " bytes in %s from input files",
		        trart_size_text(size, sizeof size, (double)st->read), st->read,
		        stats_blocks(blocks, sizeof blocks, st->reads));
	if (st->writes > 0)
		fprintf(f, ", written %s = %" PRId64 " bytes in %s to output files",
		        trart_size_text(size, sizeof size, (double)st->written), st->written,
		        stats_blocks(blocks, sizeof blocks, st->writes));
}

/* The line of what a planned graph's memory tasks did, all runs. */
static void
stats_spill(const TrartProfile *prof, FILE *f, const TrartSpillStats *st)
{
	char arena[32], out[32], in[32], nout[32], nin[32];

	/* readable sizes, and the exact bytes that --emit=memgraph's match */
	fprintf(f, "memory: arena %s = %" PRId64 " bytes, offloaded %s = %" PRId64 " bytes in %s, "
	        "reloaded %s = %" PRId64 " bytes in %s, reload wait %.2f ms",
	        trart_size_text(arena, sizeof arena, (double)st->arena), (int64_t)st->arena,
	        trart_size_text(out, sizeof out, (double)st->offloaded), (int64_t)st->offloaded,
	        stats_blocks(nout, sizeof nout, st->offloads),
	        trart_size_text(in, sizeof in, (double)st->reloaded), (int64_t)st->reloaded,
	        stats_blocks(nin, sizeof nin, st->reloads),
	        (double)prof->reload_wait_ns / 1e6);
	stats_files(f, st);
	putc('\n', f);
}

void
trart_stats_print(const TrartProfile *prof, FILE *f, int runs, int threads,
                  double tensor_bytes, double peak_bytes)
{
	const TrartProgram *p = prof->p;
	int width = stats_width(p), k, j;
	StatsRow total = {0};
	TrartSpillStats st;

	const TrartComm *comm = trart_comm();
	bool ranks = comm && comm->nranks > 1;

	char where[64] = "";

	if (ranks) /* one line at a time: the ranks' lines interleave */
		snprintf(where, sizeof where, ", rank %d of %d", comm->rank, comm->nranks);
	fprintf(f, "stats: %s, %d run%s, %d thread%s%s\n", p->name, runs,
	        runs == 1 ? "" : "s", threads, threads == 1 ? "" : "s", where);
	if (p->nkernels > 0)
		fprintf(f, "%-*s %10s %12s %10s %10s\n", width, "kernel", "calls",
		        "total ms", "GFLOP/s", "GB/s");
	for (k = 0; k < p->nkernels; k++) {
		StatsRow row = {0};
		if (stats_seen(p, k))
			continue;
		for (j = k; j < p->nkernels; j++)
			if (strcmp(p->kernels[j].name, p->kernels[k].name) == 0)
				stats_add(&row, prof, j);
		stats_row(f, width, p->kernels[k].name, &row);
		total.calls += row.calls;
		total.ns += row.ns;
		total.flops += row.flops;
		total.bytes += row.bytes;
	}
	if (p->nkernels > 0) /* a block-task program has only the worker table */
		stats_row(f, width, "total", &total);
	fprintf(f, "tensor bytes: %.0f (%.1f MiB)\n", tensor_bytes,
	        tensor_bytes / 1048576.0);
	fprintf(f, "peak memory: %.0f bytes (%.1f MiB)\n", peak_bytes,
	        peak_bytes / 1048576.0);
	if (prof->nworkers > 0)
		stats_workers(prof, f);
	trart_spill_stats(&st);
	if (p->tasks && (p->tasks->arena > 0 || st.reads > 0 || st.writes > 0))
		stats_spill(prof, f, &st);
	if (prof->gpu_device) /* per run, as the ranks' line */
		fprintf(f, "gpus: %d %s%s, %" PRId64 " kernels, %" PRId64 " copies: %.0f bytes host to GPU, "
		        "%.0f GPU to host, %.0f between GPUs; %.0f bytes of memory on the GPUs; offloaded %.0f "
		        "bytes, reloaded %.0f\n", prof->gpus, prof->gpu_device, prof->gpus == 1 ? "" : "s",
		        prof->gpu_kernels / runs, prof->gpu_copies / runs, prof->gpu_h2d / runs, prof->gpu_d2h / runs,
		        prof->gpu_d2d / runs, prof->gpu_memory / runs, prof->gpu_offloaded / runs,
		        prof->gpu_reloaded / runs);
	if (prof->gpu_timed > 0) /* the GPUs' own clocks: kernels alone, no copies */
		fprintf(f, "gpu kernels: runs=%d mean_ms=%.6f min_ms=%.6f\n", prof->gpu_timed,
		        prof->gpu_kernel_s * 1e3 / prof->gpu_timed, prof->gpu_kernel_min_s * 1e3);
	if (ranks) /* the exact bytes, which --emit=plan's per-rank lines match */
		fprintf(f, "rank %d: sent %.0f bytes in %" PRId64 " pieces, received %.0f bytes "
		        "in %" PRId64 " pieces\n", comm->rank, prof->rank_sent / runs,
		        prof->rank_nsent / runs, prof->rank_received / runs,
		        prof->rank_nreceived / runs);
}
