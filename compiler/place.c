/* needs: an IaGraph and a device model. gives: a device and a priority per task. */
/* place.c: placing block tasks on devices, behind one interface.
 *
 * Every placer first sets the priorities: a task's b-level, the longest
 * path from its start to the end of the graph, each task on it counted at
 * sim_task_time (transfers left out: they depend on the placement). The
 * runtime and the simulator run the ready task of highest priority first.
 * Then, by --placer:
 *
 *   roundrobin     the baseline: the k-th task of each TRA node on
 *                  device k mod n, so a node's blocks spread evenly.
 *   greedy         in task order, each on the device that minimises the
 *                  heaviest device's load after it, a load being compute
 *                  time plus the time to bring in inputs from elsewhere
 *                  (EinDecomp's locate step, in seconds rather than its
 *                  bytes * 1000 + flops); ties to the lighter device.
 *   lshs           NumS's load-balancing heuristic: per resource (memory
 *                  held, bytes in, bytes out) the maximum over devices,
 *                  summed over the three; each task in order on the
 *                  device that minimises it, then sweeps of local search
 *                  that move single tasks while that lowers it. All devices
 *                  are workers of one machine, so bytes in and out weigh
 *                  0.1, as NumS's intra-node moves. Ties to the device
 *                  with less compute.
 *   critical-path  list scheduling (Doppler's baseline): of the ready
 *                  tasks, the one of highest priority goes to the device
 *                  where it can start earliest, given when its inputs end
 *                  and the transfers they need.
 *   search         random local search from critical path's plan: moves
 *                  one random task to a random other device and keeps
 *                  the move when the simulated makespan does not grow,
 *                  --search-calls times (a baseline for learned: as many
 *                  simulator calls as its training used).
 *   learned        Doppler's two policies (learn.c), with weights that
 *                  learn_train.c trained; its selection order replaces
 *                  the b-levels as priorities.
 */
#include "tra.h"

#include <stdlib.h>
#include <string.h>

#define PLACE_LSHS_NET_WEIGHT 0.1 /* bytes in and out, against memory */
#define PLACE_LSHS_SWEEPS 4       /* local search passes at most */

static const char *const place_names[] = {"roundrobin", "greedy", "lshs", "critical-path", "search", "learned"};

bool place_parse(const char *name, PlaceKind *k)
{
	for (int i = 0; i < (int)(sizeof place_names / sizeof place_names[0]); i++)
		if (strcmp(name, place_names[i]) == 0) {
			*k = (PlaceKind)i;
			return true;
		}
	return false;
}

const char *place_name(PlaceKind k)
{
	return place_names[k];
}

/* B-levels, readers first: in reverse topological order, not reverse id
 * order (after row fusion the leaves a group's leader reads come after
 * it, and took their b-level from the leader's priority before it was
 * computed). */
void place_priorities(IaGraph *ia, const SimModel *m)
{
	int *order = ia_topo_order(ia);
	for (int i = ia->ntasks - 1; i >= 0; i--) {
		int t = order[i];
		double longest = 0;
		for (int c = 0; c < ia->ncons[t]; c++)
			if (ia->tasks[ia->cons[t][c]].priority > longest)
				longest = ia->tasks[ia->cons[t][c]].priority;
		ia->tasks[t].priority = sim_task_time(&ia->tasks[t], m) + longest;
	}
	free(order);
}

static void place_roundrobin(IaGraph *ia)
{
	int *next = xcalloc((size_t)ia->g->nnodes + 1, sizeof *next);
	for (int t = 0; t < ia->ntasks; t++) {
		int *k = &next[ia->tasks[t].node];
		ia->tasks[t].device = (*k)++ % ia->ndevices;
	}
	free(next);
}

/* Seconds to bring task t's inputs that are not on device d. */
static double place_fetch_time(const IaGraph *ia, int t, int d, const SimModel *m)
{
	double s = 0;
	for (int i = 0; i < ia->tasks[t].nin; i++) {
		const IaTask *u = &ia->tasks[ia->tasks[t].in[i]];
		s += sim_link_time(u->out_bytes, u->device, d, m);
	}
	return s;
}

static void place_greedy(IaGraph *ia, const SimModel *m)
{
	int n = ia->ndevices;
	double *load = xcalloc((size_t)n, sizeof *load);
	for (int t = 0; t < ia->ntasks; t++) {
		double heaviest = 0, best = -1, best_load = 0;
		for (int d = 0; d < n; d++)
			heaviest = load[d] > heaviest ? load[d] : heaviest;
		int bd = 0;
		for (int d = 0; d < n; d++) {
			double mine = load[d] + sim_task_time(&ia->tasks[t], m) + place_fetch_time(ia, t, d, m);
			double worst = mine > heaviest ? mine : heaviest;
			if (best < 0 || worst < best || (worst == best && mine < best_load)) {
				best = worst;
				best_load = mine;
				bd = d;
			}
		}
		ia->tasks[t].device = bd;
		load[bd] = best_load;
	}
	free(load);
}

/* ---- LSHS ------------------------------------------------------------------------ */

/* Per-device resources under the current placement. */
typedef struct Lshs {
	IaGraph *ia;            /* the tasks being placed */
	int n;                  /* devices */
	double *mem, *in, *out; /* bytes held, received, sent, per device */
	double *compute;        /* seconds of work, per device (ties only) */
} Lshs;

static double lshs_max(const double *v, int n)
{
	double m = 0;
	for (int d = 0; d < n; d++)
		m = v[d] > m ? v[d] : m;
	return m;
}

static double lshs_objective(const Lshs *l)
{
	return lshs_max(l->mem, l->n) +
	       PLACE_LSHS_NET_WEIGHT * (lshs_max(l->in, l->n) + lshs_max(l->out, l->n));
}

/* Adds (sign 1) or removes (sign -1) task t's share of the resources on
 * device d: its block, and the edges to placed neighbours elsewhere. */
static void lshs_account(Lshs *l, int t, int d, double sign, const SimModel *m)
{
	const IaGraph *ia = l->ia;
	const IaTask *x = &ia->tasks[t];
	l->mem[d] += sign * x->out_bytes;
	l->compute[d] += sign * sim_task_time(x, m);
	for (int i = 0; i < x->nin; i++) {
		const IaTask *u = &ia->tasks[x->in[i]];
		if (u->device >= 0 && u->device != d) {
			l->in[d] += sign * u->out_bytes;
			l->out[u->device] += sign * u->out_bytes;
		}
	}
	for (int i = 0; i < ia->ncons[t]; i++) {
		const IaTask *w = &ia->tasks[ia->cons[t][i]];
		if (w->device >= 0 && w->device != d) {
			l->out[d] += sign * x->out_bytes;
			l->in[w->device] += sign * x->out_bytes;
		}
	}
}

/* Puts task t on the device minimising the objective (it must be off every device). */
static int lshs_best_device(Lshs *l, int t, const SimModel *m)
{
	double best = -1, best_compute = 0;
	int bd = 0;
	for (int d = 0; d < l->n; d++) {
		lshs_account(l, t, d, 1, m);
		double obj = lshs_objective(l), c = l->compute[d];
		lshs_account(l, t, d, -1, m);
		if (best < 0 || obj < best - 1e-9 * best || (obj <= best + 1e-9 * best && c < best_compute)) {
			best = obj;
			best_compute = c;
			bd = d;
		}
	}
	return bd;
}

static void place_lshs(IaGraph *ia, const SimModel *m)
{
	int n = ia->ndevices;
	Lshs l = {.ia = ia, .n = n};
	l.mem = xcalloc((size_t)n, sizeof *l.mem);
	l.in = xcalloc((size_t)n, sizeof *l.in);
	l.out = xcalloc((size_t)n, sizeof *l.out);
	l.compute = xcalloc((size_t)n, sizeof *l.compute);
	for (int t = 0; t < ia->ntasks; t++)
		ia->tasks[t].device = -1;
	for (int t = 0; t < ia->ntasks; t++) {
		int d = lshs_best_device(&l, t, m);
		lshs_account(&l, t, d, 1, m);
		ia->tasks[t].device = d;
	}
	for (int sweep = 0, moved = 1; sweep < PLACE_LSHS_SWEEPS && moved; sweep++) {
		moved = 0;
		for (int t = 0; t < ia->ntasks; t++) {
			int was = ia->tasks[t].device;
			double before = lshs_objective(&l);
			lshs_account(&l, t, was, -1, m);
			ia->tasks[t].device = -1;
			int d = lshs_best_device(&l, t, m);
			lshs_account(&l, t, d, 1, m);
			if (d != was && lshs_objective(&l) >= before) { /* no gain: put it back */
				lshs_account(&l, t, d, -1, m);
				d = was;
				lshs_account(&l, t, d, 1, m);
			}
			ia->tasks[t].device = d;
			moved += d != was;
		}
	}
	free(l.mem);
	free(l.in);
	free(l.out);
	free(l.compute);
}

/* ---- critical path ------------------------------------------------------------------ */

double place_earliest(const IaGraph *ia, int t, int d, const double *end, const double *free_at,
                             const SimModel *m)
{
	double at = free_at[d];
	for (int i = 0; i < ia->tasks[t].nin; i++) {
		int u = ia->tasks[t].in[i];
		double arrive = end[u] + sim_link_time(ia->tasks[u].out_bytes, ia->tasks[u].device, d, m);
		at = arrive > at ? arrive : at;
	}
	return at;
}

static void place_critical_path(IaGraph *ia, const SimModel *m)
{
	int nt = ia->ntasks, n = ia->ndevices, nready = 0;
	double *end = xcalloc((size_t)nt + 1, sizeof *end), *free_at = xcalloc((size_t)n, sizeof *free_at);
	int *left = xcalloc((size_t)nt + 1, sizeof *left), *ready = xmalloc(((size_t)nt + 1) * sizeof *ready);
	for (int t = 0; t < nt; t++)
		if ((left[t] = ia->tasks[t].nin) == 0)
			ready[nready++] = t;
	while (nready) {
		int bi = 0;
		for (int i = 1; i < nready; i++)
			if (ia->tasks[ready[i]].priority > ia->tasks[ready[bi]].priority ||
			    (ia->tasks[ready[i]].priority == ia->tasks[ready[bi]].priority && ready[i] < ready[bi]))
				bi = i;
		int t = ready[bi], bd = 0;
		ready[bi] = ready[--nready];
		double best = -1;
		for (int d = 0; d < n; d++) {
			double at = place_earliest(ia, t, d, end, free_at, m);
			if (best < 0 || at < best) {
				best = at;
				bd = d;
			}
		}
		ia->tasks[t].device = bd;
		end[t] = free_at[bd] = best + sim_task_time(&ia->tasks[t], m);
		for (int i = 0; i < ia->ncons[t]; i++)
			if (--left[ia->cons[t][i]] == 0)
				ready[nready++] = ia->cons[t][i];
	}
	free(end);
	free(free_at);
	free(left);
	free(ready);
}

/* ---- random local search ------------------------------------------------------------ */

void place_search(IaGraph *ia, const SimModel *m, long calls, uint64_t seed)
{
	place_critical_path(ia, m);
	if (ia->ndevices < 2 || ia->ntasks == 0)
		return;
	uint64_t rng = seed;
	double best = sim_makespan(ia, m);
	for (long c = 1; c < calls; c++) {
		int t = (int)(learn_rng_next(&rng) % (uint64_t)ia->ntasks), was = ia->tasks[t].device;
		int d = (was + 1 + (int)(learn_rng_next(&rng) % (uint64_t)(ia->ndevices - 1))) % ia->ndevices;
		ia->tasks[t].device = d;
		double now = sim_makespan(ia, m);
		if (now <= best)
			best = now;
		else
			ia->tasks[t].device = was;
	}
}

void place_run(IaGraph *ia, const Placer *p, int ndevices, const SimModel *m)
{
	TRAC_ASSERT(ndevices >= 1);
	ia->ndevices = ndevices;
	place_priorities(ia, m);
	switch (p->kind) {
	case PLACE_ROUNDROBIN: place_roundrobin(ia); break;
	case PLACE_GREEDY: place_greedy(ia, m); break;
	case PLACE_LSHS: place_lshs(ia, m); break;
	case PLACE_CRITICAL_PATH: place_critical_path(ia, m); break;
	case PLACE_SEARCH: place_search(ia, m, p->search_calls, p->seed); break;
	case PLACE_LEARNED: TRAC_ASSERT(p->net); learn_place(ia, p->net, m); break;
	}
	reuse_place(ia);
}
