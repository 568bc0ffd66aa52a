/* sched_stress.c: the task executor (runtime/sched.c) against random
 * graphs, run by tests/sched.sh.
 *
 * Each graph is a seeded random DAG whose task indices are shuffled (so
 * no order of the array is a topological one): chains, wide layers,
 * random fan-in and fan-out up to 8, and a mix of all three with 10,000+
 * tasks. Every task's block kernel checks, while the graph runs, that it
 * runs once, that all its predecessors completed before it started, and
 * that it is on a worker in range; it stamps its completion order, and
 * writes into its own slot a checksum of its predecessors' slots, so a
 * predecessor whose writes were not visible shows up as a wrong sum. Each
 * graph runs many times on 1, 2, 3 and 8 workers, with and without
 * stealing, with fresh random placements every run: without stealing
 * every task must have run on worker device % threads; on one worker the
 * whole order must be the priority order (highest ready task first,
 * ties by index), computed here independently. Some tasks call
 * trart_parallel_for, which must run inline on their worker. A profiled
 * run checks the recorder: one event per task on its worker's track.
 * Pooled runs give every task a buffer of its own that the executor
 * allocates from its pool (TrartTaskGraph.pooled; sizes from 8 bytes to
 * 776): the task fills it, and its successors compute their checksums
 * from their predecessors' buffers instead of the slots, so a buffer
 * freed too early, or not yet made, shows up as a wrong sum (or, under
 * valgrind and TSan, as an error); after every run no pool byte is left
 * in use. A profiled pooled run checks the bytes copied between workers
 * against a count made here from where the tasks ran.
 *
 *   sched_stress [--size N] [--reps R]   the checks; prints "P passed, F failed"
 *   sched_stress --cycle | --bad-npred   a malformed graph: must abort
 *
 * Not a Check program: a plain main, so it also runs under valgrind and
 * as a ThreadSanitizer build of the runtime's sources.
 */
#include "trart.h"
#include "exec.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FAN 8

/* A test graph: the tasks, and what the checks need about them. */
typedef struct Graph {
	const char *name;
	int n;
	TrartTask *tasks;
	int *succ;        /* the tasks' succ lists, end to end */
	int *pred;        /* predecessors, end to end ... */
	int *predoff;     /* ... task i's at pred[predoff[i] .. predoff[i + 1]) */
	int *topo;        /* the tasks in a topological order */
	int64_t *idx;     /* idx[i] = i: task i's lo, so fn knows its index */
	uint64_t *want;   /* the checksum each slot must end with */
	int *uses;        /* the tasks' use lists (itself, then its
	                     predecessors), end to end */
	size_t *pooled;   /* per task: the bytes of its pooled buffer */
} Graph;

/* Edges of a graph being built, between ids in topological order. */
typedef struct Edges {
	int n, cap, *from, *to, *out, *in; /* out/in: degree per id */
} Edges;

/* What the tasks write while a graph runs. */
static const Graph *cur;        /* the graph running */
static int cur_threads;         /* its worker count */
static atomic_int *runs;        /* per task: times it started */
static atomic_int *finished;    /* per task: 1 once it completed */
static int *order;              /* per task: its completion stamp */
static int *worker;             /* per task: the worker it ran on */
static uint64_t *slot;          /* per task: its checksum */
static atomic_int stamp;        /* completion stamps handed out */
static atomic_int errors;       /* violations seen inside tasks */
static atomic_int inline_errors;

static int passed, failed;

static void
check(int ok, const char *what, const Graph *g, int threads, int steal)
{
	if (ok) {
		passed++;
		return;
	}
	failed++;
	printf("FAIL %s: graph %s, %d threads, %s\n", what, g ? g->name : "-",
	       threads, steal ? "stealing" : "no stealing");
}

/* ---- randomness ---- */

static uint64_t rng = 1;

static uint64_t
mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static int
rnd(int n)
{
	rng += 0x9e3779b97f4a7c15ull;
	return (int)(mix64(rng) % (uint64_t)n);
}

/* ---- building graphs ---- */

static void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (!p) {
		fprintf(stderr, "sched_stress: out of memory\n");
		exit(99);
	}
	return p;
}

static void
edges_init(Edges *e, int nodes)
{
	memset(e, 0, sizeof *e);
	e->cap = 16;
	e->from = xcalloc((size_t)e->cap, sizeof (int));
	e->to = xcalloc((size_t)e->cap, sizeof (int));
	e->out = xcalloc((size_t)nodes, sizeof (int));
	e->in = xcalloc((size_t)nodes, sizeof (int));
}

/* Adds a -> b (a < b) if both still have room for another edge. */
static void
edge(Edges *e, int a, int b)
{
	if (a >= b || e->out[a] >= MAX_FAN || e->in[b] >= MAX_FAN)
		return;
	if (e->n == e->cap) {
		e->cap *= 2;
		e->from = realloc(e->from, (size_t)e->cap * sizeof (int));
		e->to = realloc(e->to, (size_t)e->cap * sizeof (int));
		if (!e->from || !e->to)
			exit(99);
	}
	e->from[e->n] = a;
	e->to[e->n++] = b;
	e->out[a]++;
	e->in[b]++;
}

/* Ids [base, base + n): each picks up to 8 predecessors among the 64
 * ids before it (far apart enough for parallelism, near enough for long
 * paths). */
static void
gen_random(Edges *e, int base, int n)
{
	int j, k, fan;

	for (j = 1; j < n; j++) {
		fan = rnd(MAX_FAN + 1);
		for (k = 0; k < fan; k++)
			edge(e, base + j - 1 - rnd(j < 64 ? j : 64), base + j);
	}
}

/* Ids [base, base + c * len): c chains of len. */
static void
gen_chains(Edges *e, int base, int c, int len)
{
	int i, j;

	for (i = 0; i < c; i++)
		for (j = 1; j < len; j++)
			edge(e, base + i * len + j - 1, base + i * len + j);
}

/* Ids [base, base + layers * width): each task depends on 1 to 8 of the
 * layer before. */
static void
gen_layers(Edges *e, int base, int layers, int width)
{
	int l, j, k, fan;

	for (l = 1; l < layers; l++)
		for (j = 0; j < width; j++) {
			fan = 1 + rnd(MAX_FAN);
			for (k = 0; k < fan; k++)
				edge(e, base + (l - 1) * width + rnd(width),
				     base + l * width + j);
		}
}

/* Random edges between earlier and later ids anywhere. */
static void
gen_cross(Edges *e, int nodes, int count)
{
	int i, a, b;

	for (i = 0; i < count; i++) {
		a = rnd(nodes);
		b = rnd(nodes);
		edge(e, a < b ? a : b, a < b ? b : a);
	}
}

static void task_fn(void *const *bufs, const TrartTask *t);

/* The b-level of every id: its cost (1 to 4) plus its successors'
 * longest, so priorities tie often and the tie-break is exercised. Ids
 * are in topological order, so one backward sweep over the edges sorted
 * by source does it. */
static double *
blevels(const Edges *e, int nodes)
{
	double *b = xcalloc((size_t)nodes, sizeof *b);
	int *off = xcalloc((size_t)nodes + 1, sizeof (int));
	int *fill = xcalloc((size_t)nodes, sizeof (int));
	int *to = xcalloc((size_t)e->n, sizeof (int)), i, k;

	for (i = 0; i < nodes; i++)
		off[i + 1] = off[i] + e->out[i];
	for (k = 0; k < e->n; k++)
		to[off[e->from[k]] + fill[e->from[k]]++] = e->to[k];
	for (i = nodes - 1; i >= 0; i--) {
		double best = 0;
		for (k = off[i]; k < off[i + 1]; k++)
			if (b[to[k]] > best)
				best = b[to[k]];
		b[i] = best + 1 + rnd(4);
	}
	free(off);
	free(fill);
	free(to);
	return b;
}

/* The successor and predecessor lists of g from the edges, ids mapped
 * through perm. */
static void
graph_edges(Graph *g, const Edges *e, const int *perm)
{
	int *soff = xcalloc((size_t)g->n + 1, sizeof (int));
	int *sfill = xcalloc((size_t)g->n, sizeof (int));
	int *pfill = xcalloc((size_t)g->n, sizeof (int));
	int k, i;

	g->succ = xcalloc((size_t)e->n, sizeof (int));
	g->pred = xcalloc((size_t)e->n, sizeof (int));
	g->predoff = xcalloc((size_t)g->n + 1, sizeof (int));
	for (k = 0; k < e->n; k++) {
		g->tasks[perm[e->from[k]]].nsucc++;
		g->tasks[perm[e->to[k]]].npred++;
	}
	for (i = 0; i < g->n; i++) {
		soff[i + 1] = soff[i] + g->tasks[i].nsucc;
		g->predoff[i + 1] = g->predoff[i] + g->tasks[i].npred;
		g->tasks[i].succ = g->succ + soff[i];
	}
	for (k = 0; k < e->n; k++) {
		int a = perm[e->from[k]], b = perm[e->to[k]];
		g->succ[soff[a] + sfill[a]++] = b;
		g->pred[g->predoff[b] + pfill[b]++] = a;
	}
	free(soff);
	free(sfill);
	free(pfill);
}

/* One pooled buffer per task: task i writes buffer i and uses it and
 * its predecessors' buffers. */
static void
graph_buffers(Graph *g)
{
	int i, k, off = 0;

	g->uses = xcalloc((size_t)g->n + (size_t)g->predoff[g->n], sizeof (int));
	g->pooled = xcalloc((size_t)g->n, sizeof (size_t));
	for (i = 0; i < g->n; i++) {
		TrartTask *t = &g->tasks[i];
		t->use = g->uses + off;
		g->uses[off++] = i;
		for (k = g->predoff[i]; k < g->predoff[i + 1]; k++)
			g->uses[off++] = g->pred[k];
		t->nuse = off - (int)(t->use - g->uses);
		t->out_bytes = 1 + i % 3;
		g->pooled[i] = 8 * (size_t)(1 + i % 97);
	}
}

/* What task i's slot must hold: a mix of its index and its
 * predecessors' slots, or, given bufs (a pooled run), of the values at
 * the start of their buffers (fn computes the same from the real ones). */
static uint64_t
checksum(const Graph *g, int i, const uint64_t *slots, void *const *bufs)
{
	uint64_t h = mix64((uint64_t)i + 1);
	int k;

	for (k = g->predoff[i]; k < g->predoff[i + 1]; k++) {
		int p = g->pred[k];
		h = mix64(h ^ (bufs ? *(const uint64_t *)bufs[p] : slots[p]));
	}
	return h;
}

/* Makes the graph of the edges over `nodes` ids, shuffled. */
static Graph *
graph_make(const char *name, Edges *e, int nodes)
{
	Graph *g = xcalloc(1, sizeof *g);
	int *perm = xcalloc((size_t)nodes, sizeof (int)), i;
	double *b = blevels(e, nodes);

	g->name = name;
	g->n = nodes;
	g->tasks = xcalloc((size_t)nodes, sizeof *g->tasks);
	g->topo = xcalloc((size_t)nodes, sizeof (int));
	g->idx = xcalloc((size_t)nodes, sizeof (int64_t));
	g->want = xcalloc((size_t)nodes, sizeof (uint64_t));
	for (i = 0; i < nodes; i++)
		perm[i] = i;
	for (i = nodes - 1; i > 0; i--) {
		int j = rnd(i + 1), t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
	for (i = 0; i < nodes; i++) {
		TrartTask *t = &g->tasks[perm[i]];
		g->idx[perm[i]] = perm[i];
		g->topo[i] = perm[i];
		t->fn = task_fn;
		t->lo = &g->idx[perm[i]];
		t->hi = t->lo;
		t->ndim = 1;
		t->name = name;
		t->priority = b[i];
		t->flops = 1;
	}
	graph_edges(g, e, perm);
	graph_buffers(g);
	for (i = 0; i < nodes; i++)
		g->want[g->topo[i]] = checksum(g, g->topo[i], g->want, NULL);
	free(perm);
	free(b);
	free(e->from);
	free(e->to);
	free(e->out);
	free(e->in);
	return g;
}

static void
graph_free(Graph *g)
{
	free(g->tasks);
	free(g->succ);
	free(g->pred);
	free(g->predoff);
	free(g->topo);
	free(g->idx);
	free(g->want);
	free(g->uses);
	free(g->pooled);
	free(g);
}

/* ---- the block kernel ---- */

/* A loop body that must run inline: one call, the whole range, here. */
typedef struct InlineCheck {
	pthread_t self;
	int calls;
} InlineCheck;

static void
inline_body(int64_t lo, int64_t hi, void *ctx)
{
	InlineCheck *c = ctx;

	c->calls++;
	if (lo != 0 || hi != 16 || !pthread_equal(c->self, pthread_self()))
		atomic_fetch_add(&inline_errors, 1);
}

static void
task_fn(void *const *bufs, const TrartTask *t)
{
	int i = (int)*t->lo, k, w = trart_worker_id();
	volatile int spin = 0;

	if (atomic_fetch_add(&runs[i], 1) != 0)
		atomic_fetch_add(&errors, 1);
	for (k = cur->predoff[i]; k < cur->predoff[i + 1]; k++)
		if (!atomic_load(&finished[cur->pred[k]]))
			atomic_fetch_add(&errors, 1);
	if (w < 0 || w >= cur_threads)
		atomic_fetch_add(&errors, 1);
	worker[i] = w;
	for (k = 0; k < (i * 37) % 200; k++)
		spin += k;
	if (i % 7 == 0) {
		InlineCheck c = {pthread_self(), 0};
		trart_parallel_for(16, inline_body, &c);
		if (c.calls != 1)
			atomic_fetch_add(&inline_errors, 1);
	}
	slot[i] = checksum(cur, i, slot, bufs);
	if (bufs) { /* pooled: fill the buffer, the checksum first */
		memset(bufs[i], 0xa5, cur->pooled[i]);
		memcpy(bufs[i], &slot[i], sizeof slot[i]);
	}
	order[i] = atomic_fetch_add(&stamp, 1);
	atomic_store(&finished[i], 1);
}

/* ---- running and checking ---- */

static void
state_alloc(int n)
{
	runs = xcalloc((size_t)n, sizeof *runs);
	finished = xcalloc((size_t)n, sizeof *finished);
	order = xcalloc((size_t)n, sizeof *order);
	worker = xcalloc((size_t)n, sizeof *worker);
	slot = xcalloc((size_t)n, sizeof *slot);
}

static void
state_free(void)
{
	free(runs);
	free(finished);
	free(order);
	free(worker);
	free(slot);
}

static void
state_reset(int n)
{
	int i;

	for (i = 0; i < n; i++) {
		atomic_store(&runs[i], 0);
		atomic_store(&finished[i], 0);
		slot[i] = 0;
	}
	atomic_store(&stamp, 0);
	atomic_store(&errors, 0);
}

/* Whether every task ran exactly once, after its predecessors, with the
 * right sum, and (without stealing) where its placement says. */
static int
run_ok(const Graph *g, int threads, int steal)
{
	int i, k;

	if (atomic_load(&errors) != 0 || atomic_load(&stamp) != g->n)
		return 0;
	for (i = 0; i < g->n; i++) {
		if (atomic_load(&runs[i]) != 1 || slot[i] != g->want[i])
			return 0;
		if (!steal && worker[i] != g->tasks[i].device % threads)
			return 0;
		for (k = g->predoff[i]; k < g->predoff[i + 1]; k++)
			if (order[g->pred[k]] >= order[i])
				return 0;
	}
	return 1;
}

/* The one-worker order: always the best ready task (priority, then
 * index), found here by a plain scan of a ready list. */
static int *
expected_order(const Graph *g)
{
	int *pending = xcalloc((size_t)g->n, sizeof (int));
	int *ready = xcalloc((size_t)g->n, sizeof (int));
	int *want = xcalloc((size_t)g->n, sizeof (int));
	int nready = 0, i, k, step;

	for (i = 0; i < g->n; i++)
		if ((pending[i] = g->tasks[i].npred) == 0)
			ready[nready++] = i;
	for (step = 0; step < g->n; step++) {
		int best = 0, t;
		for (k = 1; k < nready; k++) {
			const TrartTask *a = &g->tasks[ready[k]], *b = &g->tasks[ready[best]];
			if (a->priority > b->priority ||
			    (a->priority == b->priority && ready[k] < ready[best]))
				best = k;
		}
		t = ready[best];
		ready[best] = ready[--nready];
		want[t] = step;
		for (k = 0; k < g->tasks[t].nsucc; k++)
			if (--pending[g->tasks[t].succ[k]] == 0)
				ready[nready++] = g->tasks[t].succ[k];
	}
	free(pending);
	free(ready);
	return want;
}

/* Runs g reps times on threads workers, fresh placements each time;
 * pooled: with a pool buffer per task. */
static void
run_graph(const Graph *g, int threads, int steal, int reps, const int *want1,
          int pooled)
{
	TrartTaskGraph tg = {g->n, g->tasks, g->n, pooled ? g->pooled : NULL};
	double live = trart_mem_live();
	int r, i, ok = 1, prio = 1, freed = 1;

	cur = g;
	cur_threads = threads;
	for (r = 0; r < reps; r++) {
		for (i = 0; i < g->n; i++)
			g->tasks[i].device = rnd(16);
		state_reset(g->n);
		trart_run_tasks(&tg, NULL, threads, steal);
		ok = ok && run_ok(g, threads, steal);
		freed = freed && trart_mem_live() == live;
		if (threads == 1)
			for (i = 0; i < g->n; i++)
				prio = prio && order[i] == want1[i];
	}
	check(ok, pooled ? "pooled: every task once, after its predecessors, "
	      "where placed" : "every task once, after its predecessors, where "
	      "placed", g, threads, steal);
	check(freed, "every pooled buffer is freed by the end of its run", g,
	      threads, steal);
	if (threads == 1)
		check(prio, "one worker runs the best ready task first", g, 1, steal);
}

/* The bytes copied between workers in the last run, from where its
 * tasks ran: each task's out_bytes once per other worker that ran one of
 * its successors. */
static double
copies_expected(const Graph *g)
{
	double sum = 0;
	int i, k, j;

	for (i = 0; i < g->n; i++)
		for (k = 0; k < g->tasks[i].nsucc; k++) {
			int to = worker[g->tasks[i].succ[k]], dup = to == worker[i];
			for (j = 0; j < k && !dup; j++)
				dup = worker[g->tasks[i].succ[j]] == to;
			if (!dup)
				sum += g->tasks[i].out_bytes;
		}
	return sum;
}

/* A profiled run: one event per task on its worker's track, the
 * workers' counts adding up, and a trace and table that say so;
 * pooled, the bytes copied too. */
static void
run_profiled(const Graph *g, int pooled)
{
	static const TrartProgram p = {"sched_stress", "test", 0, NULL, 0, NULL, NULL};
	TrartTaskGraph tg = {g->n, g->tasks, g->n, pooled ? g->pooled : NULL};
	TrartProfile prof;
	int64_t tasks = 0, steals = 0;
	double copied = 0;
	size_t i;
	int w, ok;

	cur = g;
	cur_threads = 3;
	if (trart_profile_init(&prof, &p, (size_t)g->n) < 0)
		exit(99);
	trart_exec_profile(&prof);
	state_reset(g->n);
	trart_run_tasks(&tg, NULL, 3, true);
	trart_exec_profile(NULL);
	ok = run_ok(g, 3, 1) && prof.nevents == (size_t)g->n && prof.nworkers == 3;
	for (i = 0; i < prof.nevents; i++)
		ok = ok && prof.events[i].task == &g->tasks[*prof.events[i].task->lo] &&
		     prof.events[i].tid == worker[*prof.events[i].task->lo] + 1 &&
		     (i == 0 || prof.events[i].start_ns >= prof.events[i - 1].start_ns);
	for (w = 0; w < prof.nworkers; w++) {
		tasks += prof.workers[w].tasks;
		steals += prof.workers[w].steals;
		copied += prof.workers[w].copied;
	}
	ok = ok && tasks == g->n && steals <= g->n && prof.graph_ns > 0;
	check(copied == copies_expected(g), "the bytes copied between workers "
	      "are the blocks read on another worker than made them", g, 3, 1);
	check(ok, "a profiled run records every task on its worker's track", g, 3, 1);
	check(trart_trace_write(&prof, "/dev/null", NULL, 0) == 0,
	      "the trace of a task graph can be written", g, 3, 1);
	trart_profile_free(&prof);
}

/* Independent tasks on one worker run highest priority first. */
static void
run_priorities(void)
{
	Edges e;
	Graph *g;
	int *want;

	edges_init(&e, 1000);
	g = graph_make("independent", &e, 1000);
	want = expected_order(g);
	state_alloc(g->n);
	run_graph(g, 1, 0, 3, want, 0);
	run_graph(g, 8, 1, 3, want, 0);
	state_free();
	free(want);
	graph_free(g);
}

/* Every graph, every worker count, with and without stealing. */
static void
run_all(Graph *g, int reps)
{
	static const int threads[] = {1, 2, 3, 8};
	int *want1 = expected_order(g);
	size_t t;

	state_alloc(g->n);
	for (t = 0; t < sizeof threads / sizeof threads[0]; t++) {
		run_graph(g, threads[t], 0, reps, want1, 0);
		run_graph(g, threads[t], 1, reps, want1, 0);
		run_graph(g, threads[t], 1, reps / 5 + 1, want1, 1);
	}
	run_profiled(g, 0);
	run_profiled(g, 1);
	state_free();
	free(want1);
	graph_free(g);
}

/* ---- malformed graphs: these must end the program, not hang ---- */

static void
run_malformed(int cycle)
{
	Edges e;
	Graph *g;
	TrartTaskGraph tg;

	edges_init(&e, 64);
	gen_random(&e, 0, 64);
	g = graph_make("malformed", &e, 64);
	state_alloc(g->n);
	cur = g;
	cur_threads = 3;
	if (cycle) {
		/* the last task (a sink) waits for itself: a cycle that
		 * npred agrees with */
		static int self[1];
		TrartTask *t = &g->tasks[g->topo[g->n - 1]];
		self[0] = g->topo[g->n - 1];
		t->npred++;
		t->nsucc = 1;
		t->succ = self;
	} else {
		g->tasks[g->topo[10]].npred++;
	}
	tg = (TrartTaskGraph){g->n, g->tasks, 0, NULL};
	trart_run_tasks(&tg, NULL, 3, true);
	printf("the malformed graph ran to the end\n");
	exit(1);
}

int
main(int argc, char **argv)
{
	int size = 12000, reps = 50, i;
	Edges e;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--cycle") || !strcmp(argv[i], "--bad-npred"))
			run_malformed(!strcmp(argv[i], "--cycle"));
		else if (!strcmp(argv[i], "--size") && i + 1 < argc)
			size = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
			reps = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: sched_stress [--size N] [--reps R] | --cycle | --bad-npred\n");
			return 2;
		}
	}
	if (size < 100)
		size = 100;
	trart_set_threads(4); /* so that an inline loop is a choice, not a given */
	check(trart_worker_id() == -1, "no worker id outside a run", NULL, 0, 0);
	run_priorities();

	edges_init(&e, size);
	gen_chains(&e, 0, 4, size / 4);
	run_all(graph_make("chains", &e, size / 4 * 4), reps);

	edges_init(&e, size);
	gen_layers(&e, 0, 10, size / 10);
	run_all(graph_make("layers", &e, size / 10 * 10), reps);

	edges_init(&e, size);
	gen_random(&e, 0, size / 2);
	gen_layers(&e, size / 2, 10, size / 40);
	gen_chains(&e, size / 2 + size / 40 * 10, 4, size / 16);
	gen_cross(&e, size, size / 8);
	run_all(graph_make("mixed", &e, size), reps);

	check(trart_worker_id() == -1, "no worker id after a run", NULL, 0, 0);
	trart_shutdown();
	printf("%d passed, %d failed\n", passed, failed);
	return failed > 0;
}
