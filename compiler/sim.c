/* needs: a placed IaGraph (a device and a priority per task). gives: makespan, busy time, bytes moved, peak memory. */
/* sim.c: the cost-model simulator.
 *
 * A discrete-event run of the task graph under the runtime's semantics:
 * work-conserving, a task starts as soon as every input has arrived on
 * its device and the device is free, the ready task of highest priority
 * first (ties: the lower id). Each device runs one task at a time (one
 * CPU worker, one GPU stream).
 *
 * The device model (SimModel), every device alike:
 *   - a task takes max(FLOPs / rate, bytes / memory bandwidth), a
 *     roofline; the rate is gemm_flops for GEMM-shaped blocks and
 *     elt_flops for the rest;
 *   - a block read on another device than the one that made it is moved
 *     once per destination device, arriving latency + bytes / link_bw
 *     after its producer ends; links are not shared (no contention);
 *   - memory: a block is resident on its device from its task's start
 *     until every reader of it has ended (outputs' final blocks stay), a
 *     moved copy from its first reader's start on the destination until
 *     the last reader there has ended.
 * The defaults describe one core of the machine trac was written for,
 * float32: 120 GFLOP/s for GEMM (AVX-512 FMA), 8 GFLOP/s element-wise,
 * 40 GB/s of memory bandwidth per core, and transfers between CPU workers
 * that are memory copies: 20 GB/s (read plus write of 40 GB/s) after
 * 2 microseconds. Offloads and reloads of the memory plan
 * (memgraph_simulate) move spill-file bytes at 0.7 GB/s, what dd wrote
 * to this machine's disk with fdatasync (a spill file's writes may stay
 * in the page cache, and then they are faster). On ranks (trac --ranks)
 * a block read on another rank is a message: 0.5 us and 2.5 GB/s, what
 * a ping-pong of MPI_Send and MPI_Recv measured between two ranks of
 * Open MPI 4.1's shared-memory transport on this 2-core machine (0.53 us
 * one way for 8 bytes, 2.44 GB/s for 1 MiB, 2.52 for 16 MiB; mpirun
 * --mca btl self,vader). --sim=KEY=VALUE,... overrides them.
 */
#include "tra.h"

#include <stddef.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>

void sim_model_default(SimModel *m)
{
	*m = (SimModel){.gemm_flops = 120e9, .elt_flops = 8e9, .mem_bw = 40e9, .link_bw = 20e9,
	                .latency = 2e-6, .spill_bw = 0.7e9, .rank_bw = 2.5e9, .rank_latency = 0.5e-6};
}

/* A positive number with an optional k, M, G or T suffix; -1 if none. */
static double sim_number(const char *s, const char *end)
{
	char *e;
	double v = strtod(s, &e);
	if (e == s)
		return -1;
	if (e < end) {
		const char *suf = strchr("kMGT", *e);
		if (!suf || !*e)
			return -1;
		for (const char *p = "kMGT"; p <= suf; p++)
			v *= 1e3;
		e++;
	}
	/* inf, nan and 1e999 are no device: a plan would show "inf" times */
	return e == end && v > 0 && isfinite(v) && v < 1e30 ? v : -1;
}

/* The field of m that key names, or NULL. */
static double *sim_field(SimModel *m, const char *key, size_t n)
{
	static const struct { const char *name; size_t off; } keys[] = {
		{"gemm-flops", offsetof(SimModel, gemm_flops)},
		{"elt-flops", offsetof(SimModel, elt_flops)},
		{"bandwidth", offsetof(SimModel, mem_bw)},
		{"link-bandwidth", offsetof(SimModel, link_bw)},
		{"latency", offsetof(SimModel, latency)},
		{"spill-bandwidth", offsetof(SimModel, spill_bw)},
		{"rank-bandwidth", offsetof(SimModel, rank_bw)},
		{"rank-latency", offsetof(SimModel, rank_latency)},
	};
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if (strlen(keys[i].name) == n && strncmp(keys[i].name, key, n) == 0)
			return (double *)((char *)m + keys[i].off);
	return NULL;
}

bool sim_model_set(SimModel *m, const char *spec, char *err, size_t errlen)
{
	if (!*spec || spec[strlen(spec) - 1] == ',') {
		snprintf(err, errlen, "'%s': expected KEY=VALUE[,KEY=VALUE...], with nothing after the last", spec);
		return false;
	}
	for (const char *s = spec; *s;) {
		const char *comma = strchr(s, ',');
		if (!comma)
			comma = s + strlen(s);
		const char *eq = memchr(s, '=', (size_t)(comma - s));
		double *f = eq ? sim_field(m, s, (size_t)(eq - s)) : NULL;
		if (!f) {
			snprintf(err, errlen, "'%.*s': the keys are gemm-flops, elt-flops, bandwidth, "
			         "link-bandwidth, latency and spill-bandwidth", (int)(comma - s), s);
			return false;
		}
		double v = sim_number(eq + 1, comma);
		if (v <= 0) {
			snprintf(err, errlen, "'%.*s': the value must be a finite positive number below 1e30 "
			         "(suffixes k M G T)",
			         (int)(comma - s), s);
			return false;
		}
		*f = v;
		s = *comma ? comma + 1 : comma;
	}
	return true;
}

double sim_task_time(const IaTask *t, const SimModel *m)
{
	if (t->measured > 0) /* a run's time (learn_read_trace) corrects the model */
		return t->measured;
	double compute = t->flops / (t->gemm ? m->gemm_flops : m->elt_flops);
	double memory = t->bytes / m->mem_bw;
	return compute > memory ? compute : memory;
}

double sim_transfer_time(double bytes, const SimModel *m)
{
	return m->latency + bytes / m->link_bw;
}

int sim_rank(const SimModel *m, int d)
{
	return m->rank_devices > 0 ? d / m->rank_devices : 0;
}

double sim_link_time(double bytes, int from, int to, const SimModel *m)
{
	if (from == to)
		return 0;
	if (sim_rank(m, from) != sim_rank(m, to))
		return m->rank_latency + bytes / m->rank_bw;
	return sim_transfer_time(bytes, m);
}

/* ---- the event loop ------------------------------------------------------------ */

/* A task's end, or a device's wake-up when an input arrives. */
typedef struct SimEvent {
	double time;
	int task;   /* the task that ends, or -1 */
	int device; /* the device to wake, or -1 */
} SimEvent;

/* Each device has two queues of task ids (IdHeap): released tasks wait
 * by when their inputs arrive, then are ready by priority. With a list
 * scanned at each dispatch, a 20,000-statement chain took 2.2 s to
 * simulate. */

/* The run's state. */
typedef struct Sim {
	const IaGraph *ia; /* the placed task graph */
	const SimModel *m; /* the device model */
	SimResult *r;      /* what the run gives */
	int n;            /* devices */
	SimEvent *heap;   /* pending events, a binary min-heap on time */
	int nheap, heapcap; /* events pending, allocated */
	int *left;        /* left[t]: inputs not yet ended */
	double *avail;    /* avail[t]: when its last input arrives */
	double *end;      /* end[t]: when it ends */
	IdHeap *wait;     /* wait[d]: released tasks whose inputs are still on their way, by avail */
	IdHeap *ready;    /* ready[d]: tasks whose inputs are all there, by priority */
	bool *busy;       /* busy[d]: running a task */
	double *arrive;   /* arrive[u * n + d]: when u's block reaches d; 0 if not sent */
	int *users;       /* users[u * n + d]: u's readers on d not yet ended */
	double *mem;      /* mem[d]: bytes resident now */
	double *wake;     /* wake[d]: the wake-up last asked for */
} Sim;

static void sim_push(Sim *s, SimEvent e)
{
	if (s->nheap == s->heapcap)
		s->heap = xrealloc(s->heap, (size_t)(s->heapcap = s->heapcap ? 2 * s->heapcap : 64) * sizeof *s->heap);
	int i = s->nheap++;
	while (i > 0 && s->heap[(i - 1) / 2].time > e.time) {
		s->heap[i] = s->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	s->heap[i] = e;
}

static SimEvent sim_pop(Sim *s)
{
	SimEvent top = s->heap[0], last = s->heap[--s->nheap];
	int i = 0;
	for (;;) {
		int c = 2 * i + 1;
		if (c >= s->nheap)
			break;
		if (c + 1 < s->nheap && s->heap[c + 1].time < s->heap[c].time)
			c++;
		if (s->heap[c].time >= last.time)
			break;
		s->heap[i] = s->heap[c];
		i = c;
	}
	if (s->nheap)
		s->heap[i] = last;
	return top;
}

static void sim_mem(Sim *s, int d, double bytes)
{
	s->mem[d] += bytes;
	if (s->mem[d] > s->r->peak_mem[d])
		s->r->peak_mem[d] = s->mem[d];
}

/* Starts task t on device d at time now. */
static void sim_start(Sim *s, int t, int d, double now)
{
	const IaTask *x = &s->ia->tasks[t];
	double dur = sim_task_time(x, s->m);
	s->busy[d] = true;
	s->end[t] = now + dur;
	s->r->busy[d] += dur;
	sim_mem(s, d, x->out_bytes);
	for (int i = 0; i < x->nin; i++) {
		int u = x->in[i];
		if (s->ia->tasks[u].device != d && s->users[(size_t)u * (size_t)s->n + (size_t)d] < 0) {
			s->users[(size_t)u * (size_t)s->n + (size_t)d] *= -1; /* first reader here: the copy lands */
			sim_mem(s, d, s->ia->tasks[u].out_bytes);
		}
	}
	sim_push(s, (SimEvent){s->end[t], t, -1});
}

/* Whether task a leaves the wait queue before task b: the earlier avail,
 * ties the lower id. */
static bool sim_before_avail(const void *ctx, int a, int b)
{
	const Sim *s = ctx;
	return s->avail[a] < s->avail[b] || (s->avail[a] == s->avail[b] && a < b);
}

/* Whether task a leaves the ready queue before task b: the higher
 * priority, ties the lower id. */
static bool sim_before_priority(const void *ctx, int a, int b)
{
	const IaTask *t = ((const Sim *)ctx)->ia->tasks;
	return t[a].priority > t[b].priority || (t[a].priority == t[b].priority && a < b);
}

/* If device d is free, starts its best task that is ready by now, or
 * asks to be woken when the first one will be. */
static void sim_dispatch(Sim *s, int d, double now)
{
	IdHeap *wait = &s->wait[d], *ready = &s->ready[d];
	while (wait->n && s->avail[wait->id[0]] <= now)
		id_heap_push(ready, id_heap_pop(wait));
	if (s->busy[d])
		return;
	if (ready->n) {
		sim_start(s, id_heap_pop(ready), d, now);
		return;
	}
	if (wait->n) {
		double first = s->avail[wait->id[0]];
		if (s->wake[d] != first)
			sim_push(s, (SimEvent){first, -1, d});
		s->wake[d] = first;
	}
}

static void sim_release(Sim *s, int t)
{
	int d = s->ia->tasks[t].device;
	id_heap_push(&s->wait[d], t);
}

/* A reader of u on device d has ended: frees u's block there when it was the last. */
static void sim_unuse(Sim *s, int u, int d)
{
	int *users = &s->users[(size_t)u * (size_t)s->n + (size_t)d];
	const IaTask *x = &s->ia->tasks[u];
	bool kept = x->final && s->ia->g->nodes[x->node].is_output && d == x->device;
	if (--*users == 0 && !kept)
		s->mem[d] -= x->out_bytes;
}

/* Task t has ended at time now: its readers' inputs arrive. */
static void sim_finish(Sim *s, int t, double now)
{
	const IaTask *x = &s->ia->tasks[t];
	int d = x->device;
	s->busy[d] = false;
	for (int i = 0; i < x->nin; i++) {
		int u = x->in[i], du = s->ia->tasks[u].device;
		sim_unuse(s, u, d);
		if (du != d)
			sim_unuse(s, u, du); /* the original, held until every reader ends */
	}
	for (int i = 0; i < s->ia->ncons[t]; i++) {
		int w = s->ia->cons[t][i], dw = s->ia->tasks[w].device;
		double at = now;
		if (dw != d) {
			double *arr = &s->arrive[(size_t)t * (size_t)s->n + (size_t)dw];
			if (*arr == 0) {
				*arr = now + sim_link_time(x->out_bytes, d, dw, s->m);
				s->r->bytes_moved += x->out_bytes;
				s->r->transfers++;
			}
			at = *arr;
		}
		if (at > s->avail[w])
			s->avail[w] = at;
		if (--s->left[w] == 0)
			sim_release(s, w);
	}
}

/* Counts each block's readers: the original's are all of them, a copy's
 * those on its device, negative until the first of them starts (sim_start). */
static void sim_count_users(Sim *s)
{
	const IaGraph *ia = s->ia;
	for (int u = 0; u < ia->ntasks; u++) {
		int du = ia->tasks[u].device;
		for (int i = 0; i < ia->ncons[u]; i++) {
			int d = ia->tasks[ia->cons[u][i]].device;
			s->users[(size_t)u * (size_t)s->n + (size_t)du]++;
			if (d != du)
				s->users[(size_t)u * (size_t)s->n + (size_t)d]--;
		}
	}
}

static void sim_init(Sim *s, const IaGraph *ia, const SimModel *m, SimResult *r)
{
	int n = ia->ndevices, nt = ia->ntasks;
	Arena *a = ia->arena;
	*r = (SimResult){.ndevices = n};
	r->busy = arena_alloc(a, (size_t)n * sizeof *r->busy);
	r->peak_mem = arena_alloc(a, (size_t)n * sizeof *r->peak_mem);
	*s = (Sim){.ia = ia, .m = m, .r = r, .n = n};
	s->left = xcalloc((size_t)nt + 1, sizeof *s->left);
	s->avail = xcalloc((size_t)nt + 1, sizeof *s->avail);
	s->end = xcalloc((size_t)nt + 1, sizeof *s->end);
	s->arrive = xcalloc((size_t)nt * (size_t)n + 1, sizeof *s->arrive);
	s->users = xcalloc((size_t)nt * (size_t)n + 1, sizeof *s->users);
	s->wait = xcalloc((size_t)n, sizeof *s->wait);
	s->ready = xcalloc((size_t)n, sizeof *s->ready);
	s->busy = xcalloc((size_t)n, sizeof *s->busy);
	s->mem = xcalloc((size_t)n, sizeof *s->mem);
	s->wake = xcalloc((size_t)n, sizeof *s->wake);
	for (int d = 0; d < n; d++) {
		s->wait[d] = (IdHeap){.before = sim_before_avail, .ctx = s};
		s->ready[d] = (IdHeap){.before = sim_before_priority, .ctx = s};
	}
	sim_count_users(s);
}

static void sim_free(Sim *s)
{
	for (int d = 0; d < s->n; d++) {
		id_heap_free(&s->wait[d]);
		id_heap_free(&s->ready[d]);
	}
	free(s->wait);
	free(s->ready);
	free(s->busy);
	free(s->mem);
	free(s->wake);
	free(s->left);
	free(s->avail);
	free(s->end);
	free(s->arrive);
	free(s->users);
	free(s->heap);
}

void sim_run(const IaGraph *ia, const SimModel *m, SimResult *r)
{
	Sim s;
	TRAC_ASSERT(ia->ndevices >= 1);
	sim_init(&s, ia, m, r);
	for (int t = 0; t < ia->ntasks; t++) {
		TRAC_ASSERT(ia->tasks[t].device >= 0 && ia->tasks[t].device < s.n);
		if ((s.left[t] = ia->tasks[t].nin) == 0)
			sim_release(&s, t);
	}
	for (int d = 0; d < s.n; d++)
		sim_dispatch(&s, d, 0);
	while (s.nheap) {
		double now = s.heap[0].time;
		while (s.nheap && s.heap[0].time <= now) {
			SimEvent e = sim_pop(&s);
			if (e.task >= 0)
				sim_finish(&s, e.task, now);
		}
		if (now > r->makespan)
			r->makespan = now;
		for (int d = 0; d < s.n; d++)
			sim_dispatch(&s, d, now);
	}
	sim_free(&s);
}

double sim_makespan(const IaGraph *ia, const SimModel *m)
{
	SimResult r;
	sim_run(ia, m, &r);
	return r.makespan;
}
